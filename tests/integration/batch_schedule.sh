#!/usr/bin/env bash
# slow
# Batch scoring on a real pg_cron schedule, and a cancelled run.
#  1. A job scheduled with mlops.schedule_batch_score fires: the test waits
#     for its job_runs row and checks every scored row against predict().
#     pg_cron 1.4 (Debian 12) schedules by the minute; 1.5+ would also take
#     '5 seconds'.  So this waits up to 80 s.
#  2. A run cancelled halfway (pg_cancel_backend while it rewrites its target)
#     leaves the target exactly as it was, and its job_runs row says
#     "cancelled".
#  3. Two runs into the same target and slice at once take turns: the slice
#     ends with one run's rows, not both; also when the two name the table
#     differently ('it_overlap_scores' and 'public.it_overlap_scores').
#  4. A run whose backend is killed shows as failed in job_runs_overview at
#     once (not 'running' forever), and the next run records it so.
#  5. A role holding the advisory locks a run's key could be guessed from
#     (the next run ids) does not make batch jobs wait: keys are drawn at
#     random among those nobody holds.
# pg_cron runs in cron.database_name ('postgres' in the suite's cluster), so
# this test works there and cleans up after itself.
set -euo pipefail
export PGDATABASE=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
    q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'mlops:it-%'" >/dev/null 2>&1 || true
    q -c "DROP VIEW IF EXISTS it_slow_src, it_slowish_src" -c "DROP TABLE IF EXISTS it_src, it_scores, it_cancel_scores, it_overlap_scores, it_killed_scores" >/dev/null 2>&1 || true
    q -c "DROP EXTENSION IF EXISTS mlops CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

q -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "DROP EXTENSION IF EXISTS mlops CASCADE" -c "CREATE EXTENSION mlops" >/dev/null
q <<'SQL' >/dev/null
SELECT mlops.register_model_version('it_model', '{"format": "mlops.model/v1", "task": "binary", "classes": ["stay", "churn"],
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
  "model": {"type": "linear", "coef": [0.3, -0.2], "intercept": [0.1], "link": "logistic"}}');
SELECT mlops.set_model_alias('it_model', 'champion', 1);
CREATE TABLE it_src AS SELECT g AS id, ARRAY[g % 17, g % 5]::float8[] AS x FROM generate_series(1, 5000) g;
SQL

# ---- 1. a schedule really fires
q -c "SELECT mlops.schedule_batch_score('it-minutely', '* * * * *', 'it_model@champion', 'it_src', 'it_scores',
                                         features => 'x', outputs => ARRAY['prediction', 'class'])" >/dev/null
echo "scheduled: $(q -c "SELECT jobid || ' ' || schedule || ' ' || command FROM cron.job WHERE jobname = 'mlops:it-minutely'")"
status=""
for _ in $(seq 1 80); do
    status=$(q -c "SELECT status FROM mlops.job_runs WHERE job_name = 'it-minutely' AND status <> 'running' ORDER BY job_run_id LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
[ "$status" = succeeded ] || fail "the scheduled run did not succeed within 80 s (status '${status}'; cron says: $(q -c "SELECT status || ': ' || return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 1"))"
echo "fired: $(q -c "SELECT format('job run %s, %s rows scored with %s in %s', job_run_id, rows_scored, model_version, duration)
                        FROM mlops.job_runs WHERE job_name = 'it-minutely' ORDER BY job_run_id LIMIT 1")"
[ "$(q -c "SELECT count(*) FROM it_scores")" = 5000 ] || fail "expected 5000 scored rows"
[ "$(q -c "SELECT count(*) FROM it_scores t JOIN it_src s USING (id)
           WHERE t.prediction = mlops.predict('it_model:1', s.x) AND t.class = mlops.predict_class('it_model:1', s.x)
             AND t.model_version = 'it_model:1'")" = 5000 ] || fail "scored rows differ from predict()"
[ "$(q -c "SELECT last_status FROM mlops.schedules_overview WHERE name = 'it-minutely'")" = succeeded ] \
    || fail "schedules_overview does not show the run"
[ "$(q -c "SELECT state FROM mlops.schedules_overview WHERE name = 'it-minutely'")" = armed ] \
    || fail "schedules_overview does not say the schedule is armed"
q -c "SELECT mlops.pause_schedule('it-minutely')" >/dev/null
[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'mlops:it-minutely'")" = 0 ] || fail "pause did not reach pg_cron"
[ "$(q -c "SELECT mlops.schedule_state('it-minutely')")" = paused ] || fail "a paused schedule is not 'paused'"
q -c "SELECT mlops.resume_schedule('it-minutely')" >/dev/null
[ "$(q -c "SELECT active FROM cron.job WHERE jobname = 'mlops:it-minutely'")" = t ] || fail "resume did not reach pg_cron"
[ "$(q -c "SELECT mlops.schedule_state('it-minutely')")" = armed ] || fail "a resumed schedule is not 'armed'"
q -c "SELECT mlops.drop_schedule('it-minutely')" >/dev/null
[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'mlops:it-minutely'")" = 0 ] || fail "drop did not unschedule"
echo "schedule paused, resumed and dropped"

# ---- 2. a cancelled run leaves the target as it was
q -c "CALL mlops.batch_score('it_model', 'it_src', 'it_cancel_scores', features => 'x')" >/dev/null
before=$(q -c "SELECT count(*) || ' ' || sum(prediction) FROM it_cancel_scores")
# each pass over this source takes >= 20 s (20,000 rows, pg_sleep rounds 0.25 ms up to 1 ms)
q -c "CREATE VIEW it_slow_src AS
      SELECT s.id, s.x, pg_sleep(0.00025)::text AS pause FROM (SELECT * FROM it_src UNION ALL
      SELECT id + 5000, x FROM it_src UNION ALL SELECT id + 10000, x FROM it_src UNION ALL
      SELECT id + 15000, x FROM it_src) s" >/dev/null
( psql -X -q -v ON_ERROR_STOP=1 -c "CALL mlops.batch_score('it_model', 'it_slow_src', 'it_cancel_scores', features => 'x',
                                                             job_name => 'it-cancelled')" \
      >/tmp/it_cancel_$$.out 2>&1; echo "exit $?" >>/tmp/it_cancel_$$.out ) &
bg=$!
# wait until the counting pass is done and the rewrite has begun: the run
# then holds a RowExclusiveLock on its target (it has deleted the old slice)
for _ in $(seq 1 200); do
    sleep 0.5
    phase=$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                   WHERE c.relname = 'it_cancel_scores' AND l.mode = 'RowExclusiveLock' AND l.granted
                     AND l.pid <> pg_backend_pid()")
    [ "$phase" = 1 ] && break
done
[ "$phase" = 1 ] || fail "the run never started rewriting its target"
sleep 1
q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CALL mlops.batch_score(%it-cancelled%'" >/dev/null
wait $bg || true
cat /tmp/it_cancel_$$.out; rm -f /tmp/it_cancel_$$.out
after=$(q -c "SELECT count(*) || ' ' || sum(prediction) FROM it_cancel_scores")
[ "$before" = "$after" ] || fail "the target changed: before '$before', after '$after'"
run=$(q -c "SELECT status || ' / ' || coalesce(error, '') FROM mlops.job_runs WHERE job_name = 'it-cancelled'")
echo "cancelled run: $run; target unchanged ($after)"
[[ "$run" == cancelled* ]] || fail "job_runs says '$run'"

# ---- 3. two runs into the same target and slice at once take turns
# Without the lock each would delete the slice as it was before either
# wrote, and both would insert: 2 x 5,000 rows.  A's source takes >= 5 s
# (5,000 rows, pg_sleep rounds 0.25 ms up to 1 ms); B starts while A works.
q -c "CREATE VIEW it_slowish_src AS SELECT s.id, s.x, pg_sleep(0.00025)::text AS pause FROM it_src s" >/dev/null
q -c "CALL mlops.batch_score('it_model', 'it_src', 'it_overlap_scores', features => 'x', slice => 'today')" >/dev/null
( q -c "CALL mlops.batch_score('it_model', 'it_slowish_src', 'it_overlap_scores', features => 'x', slice => 'today',
                               job_name => 'it-overlap-a')" >/dev/null ) &
a=$!
for _ in $(seq 1 100); do
    sleep 0.2
    [ "$(q -c "SELECT count(*) FROM mlops.job_runs WHERE job_name = 'it-overlap-a' AND status = 'running'")" = 1 ] && break
done
sleep 1
# B names the same table another way: the lock is the table's, not the name's
q -c "CALL mlops.batch_score('it_model', 'it_src', 'public.it_overlap_scores', features => 'x', slice => 'today',
                             job_name => 'it-overlap-b')" >/dev/null
wait $a
runs=$(q -c "SELECT string_agg(job_name || ' ' || status || ' ' || to_char(finished_at, 'HH24:MI:SS.MS'), ', ' ORDER BY finished_at)
               FROM mlops.job_runs WHERE job_name LIKE 'it-overlap-%'")
rows=$(q -c "SELECT count(*) || ' rows, ' || count(DISTINCT id) || ' ids' FROM it_overlap_scores WHERE slice = 'today'")
echo "overlapping runs: $runs; the slice holds $rows"
[ "$rows" = "5000 rows, 5000 ids" ] || fail "overlapping runs left '$rows' in the slice"
[ "$(q -c "SELECT string_agg(job_name, ',' ORDER BY finished_at) FROM mlops.job_runs WHERE job_name LIKE 'it-overlap-%'")" \
  = "it-overlap-a,it-overlap-b" ] || fail "the second run did not wait for the first"

# ---- 4. a run whose backend is killed does not stay 'running'
( psql -X -q -c "CALL mlops.batch_score('it_model', 'it_slow_src', 'it_killed_scores', features => 'x',
                                        job_name => 'it-killed')" >/dev/null 2>&1 || true ) &
bg=$!
for _ in $(seq 1 100); do
    sleep 0.2
    [ "$(q -c "SELECT count(*) FROM mlops.job_runs WHERE job_name = 'it-killed' AND status = 'running'")" = 1 ] && break
done
[ "$(q -c "SELECT status FROM mlops.job_runs_overview WHERE job_name = 'it-killed'")" = running ] \
    || fail "a live run is not shown as running"
q -c "SELECT pg_terminate_backend(backend_pid) FROM mlops.job_runs WHERE job_name = 'it-killed'" >/dev/null
wait $bg || true
for _ in $(seq 1 50); do
    [ "$(q -c "SELECT status FROM mlops.job_runs_overview WHERE job_name = 'it-killed'")" = failed ] && break
    sleep 0.2
done
seen=$(q -c "SELECT status || ': ' || error FROM mlops.job_runs_overview WHERE job_name = 'it-killed'")
echo "killed run, as the views see it: $seen"
[[ "$seen" == failed* ]] || fail "a killed run shows '$seen'"
[ "$(q -c "SELECT status FROM mlops.latest_job_runs WHERE job_name = 'it-killed'")" = failed ] \
    || fail "latest_job_runs does not show the killed run as failed"
[ "$(q -c "SELECT status FROM mlops.job_runs WHERE job_name = 'it-killed'")" = running ] \
    || fail "the table should still say running until the next run"
q -c "CALL mlops.batch_score('it_model', 'it_src', 'it_cancel_scores', features => 'x')" >/dev/null
[ "$(q -c "SELECT status FROM mlops.job_runs WHERE job_name = 'it-killed'")" = failed ] \
    || fail "the next run did not record the killed run as failed"
echo "the next run recorded it: $(q -c "SELECT status FROM mlops.job_runs WHERE job_name = 'it-killed'")"

# ---- 5. nobody makes runs wait by taking their locks ahead
next=$(q -c "SELECT max(job_run_id) + 1 FROM mlops.job_runs")
( q -c "SELECT count(pg_advisory_lock(1836019578, g::int)) FROM generate_series($next, $next + 50) g" \
       -c "SELECT pg_sleep(20)" >/dev/null 2>&1 || true ) &
squatter=$!
sleep 1
timeout 15 psql -X -q -v ON_ERROR_STOP=1 -c "CALL mlops.batch_score('it_model', 'it_src', 'it_cancel_scores', features => 'x',
                                                                   job_name => 'it-not-waiting')" >/dev/null \
    || fail "a run waited for advisory locks another session took ahead"
kill $squatter 2>/dev/null || true
q -c "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1836019578 AND pid <> pg_backend_pid()
       AND objid BETWEEN $next AND $next + 50" >/dev/null
[ "$(q -c "SELECT status FROM mlops.job_runs WHERE job_name = 'it-not-waiting'")" = succeeded ] || fail "the run did not succeed"
echo "locks taken ahead on the next 51 run ids: the run did not wait"
echo "batch schedule ok"
