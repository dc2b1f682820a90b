#!/usr/bin/env bash
# The closed loop through the schedule path, as pg_cron runs it (CALL mlops.run_schedule):
#  1. a champion trained on the old world; a drift monitor on the last day of events; a
#     retraining policy triggered by that monitor's alerts, released in shadow, with a
#     schedule of kind 'retrain' (an armed pg_cron job running run_schedule);
#  2. the retrain schedule before any drift: a succeeded job run that says there was no
#     drift and nothing to do, a 'skipped' event, no new version;
#  3. the monitor's scheduled run raises alerts (the world shifted), and then runs the
#     policy's cycle: a new version trained on the last day, the challenger alias on it, a
#     running shadow test of the pinned champion against it; the champion stays; every step
#     an event, the cycle a succeeded job run of kind 'retrain';
#  4. the retrain schedule again: the alert is older than the last retraining, so nothing
#     to do; scoring through the shadow test serves the champion and records the challenger;
#  5. a scheduled cycle that fails (an empty window) is a failed job run and a 'failed'
#     event, run_schedule raises, and the champion stays;
#  6. another admin can neither run the schedule nor drop the policy (42501); a policy
#     with a schedule cannot be dropped (2BP01); dropping the schedule removes its job.
#  7. a monitor with two policies whose first cycle fails: the second still runs (and
#     trains), then the first failure is raised, naming the policies that failed.
# pg_cron runs in cron.database_name ('postgres' in the suite's cluster), so this test
# works there and cleans up after itself.
set -euo pipefail
export PGDATABASE=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
qa() { q -c "SET ROLE it_rt_admin" "$@"; }
qs() { { echo 'SET ROLE it_rt_admin;'; cat; } | q; }   # a script on stdin, as the policy's owner
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
    q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'mlops:it-rt%'" >/dev/null 2>&1 || true
    q -c "DROP TABLE IF EXISTS it_rt_ref, it_rt_events" >/dev/null 2>&1 || true
    q -c "DROP EXTENSION IF EXISTS mlops CASCADE" >/dev/null 2>&1 || true
    q -c "DROP OWNED BY it_rt_admin, it_rt_other" >/dev/null 2>&1 || true
    q -c "DROP ROLE IF EXISTS it_rt_admin, it_rt_other" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

q -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION mlops" >/dev/null
q <<'SQL' >/dev/null
CREATE ROLE it_rt_admin LOGIN IN ROLE mlops_admin;
CREATE ROLE it_rt_other LOGIN IN ROLE mlops_admin;
GRANT USAGE ON SCHEMA cron TO it_rt_admin, it_rt_other;
-- the old world: y = 2 x1 + x2, x1 in [0, 10)
CREATE TABLE it_rt_ref AS
SELECT g AS id, (g * 37 % 1000) / 100.0 AS x1, (g * 71 % 500) / 100.0 AS x2 FROM generate_series(1, 3000) g;
CREATE TABLE it_rt_events AS
SELECT g AS id, now() - interval '3 days' - (g % 48) * interval '1 hour' AS at, r.x1, r.x2, 2 * r.x1 + r.x2 AS y
  FROM it_rt_ref r JOIN generate_series(1, 3000) g ON g = r.id;
-- the last day: x1 moved up by 5, and y = -x1 + 3 x2 + 4
INSERT INTO it_rt_events
SELECT 10000 + g, now() - (g % 20) * interval '1 hour', (g * 37 % 1000) / 100.0 + 5, (g * 71 % 500) / 100.0,
       -((g * 37 % 1000) / 100.0 + 5) + 3 * ((g * 71 % 500) / 100.0) + 4
  FROM generate_series(1, 2000) g;
GRANT SELECT, UPDATE ON it_rt_ref, it_rt_events TO it_rt_admin;
SQL
qs <<'SQL' >/dev/null
SELECT mlops.train('it_rt_model', 'SELECT x1, x2, y FROM it_rt_events WHERE at < now() - interval ''2 days''', 'y');
SELECT mlops.set_model_alias('it_rt_model', 'champion', 1);
SELECT mlops.capture_baseline('it-rt-base', 'it_rt_ref', ARRAY['x1', 'x2']);
SELECT mlops.create_drift_monitor('it-rt-monitor', 'it-rt-base', 'it_rt_events', '0 5 31 2 *', 'at', '1 day');
SELECT mlops.create_retraining_policy('it-rt-policy', 'it_rt_model', 'it_rt_events', 'y', ARRAY['x1', 'x2'],
                                      time_column => 'at', training_window => '1 day', trigger => 'drift',
                                      drift_monitor => 'it-rt-monitor', release => 'shadow');
SELECT mlops.schedule_retraining('it-rt-retrain', '0 5 31 2 *', 'it-rt-policy');
SQL
[ "$(q -c "SELECT kind || ':' || (spec ->> 'policy') || ':' || created_by FROM mlops.schedules WHERE name = 'it-rt-retrain'")" \
  = "retrain:it-rt-policy:it_rt_admin" ] || fail "schedule: $(q -c 'SELECT * FROM mlops.schedules')"
[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'mlops:it-rt-retrain' AND username = 'it_rt_admin'
            AND command = 'CALL mlops.run_schedule(''it-rt-retrain'')'")" = 1 ] \
    || fail "pg_cron job: $(q -c 'SELECT jobname, username, command FROM cron.job')"
[ "$(q -c "SELECT mlops.schedule_state('it-rt-retrain')")" = armed ] || fail "schedule not armed"
echo "1. champion, monitor, policy (trigger drift, shadow release) and its schedule"

# ---- 2. no drift yet: nothing to do
qa -c "CALL mlops.run_schedule('it-rt-retrain')" >/dev/null 2>&1
row=$(q -c "SELECT status || '|' || coalesce(error, 'no error') || '|' || note || '|' || (schedule_id IS NOT NULL)
             FROM mlops.job_runs WHERE kind = 'retrain'")
[[ "$row" == "succeeded|no error|no drift: monitor \"it-rt-monitor\" raised no alert since the last retraining, nothing to do|true" ]] \
    || fail "skipped run: $row"
[ "$(q -c "SELECT string_agg(step, ',' ORDER BY event_id) FROM mlops.retraining_events")" = "created,started,skipped" ] \
    || fail "events: $(q -c 'SELECT step, detail FROM mlops.retraining_events')"
[ "$(q -c "SELECT count(*) FROM mlops.model_versions")" = 1 ] || fail "a version was trained without drift"
echo "2. scheduled before any drift: a job run saying there was nothing to do"

# ---- 3. the monitor's scheduled run raises alerts, then runs the policy's cycle
qa -c "CALL mlops.run_schedule('it-rt-monitor')" >/dev/null
[ "$(q -c "SELECT count(*) > 0 FROM mlops.drift_alerts WHERE feature = 'x1' AND status = 'open'")" = t ] \
    || fail "no drift alert on x1: $(q -c 'SELECT * FROM mlops.drift_alerts')"
runs=$(q -c "SELECT string_agg(kind || ':' || status, ',' ORDER BY job_run_id) FROM mlops.job_runs_overview")
[ "$runs" = "retrain:succeeded,drift_monitor:succeeded,retrain:succeeded" ] || fail "job runs: $runs"
steps=$(q -c "SELECT string_agg(step || coalesce(':' || version, ''), ',' ORDER BY event_id) FROM mlops.retraining_events
               WHERE job_run_id = (SELECT max(job_run_id) FROM mlops.job_runs WHERE kind = 'retrain')")
[ "$steps" = "started,trained:2,challenger:2,evaluated:2,released:2" ] || fail "cycle steps: $steps"
[ "$(q -c "SELECT detail -> 'drift_alert' ->> 'monitor' FROM mlops.retraining_events WHERE step = 'started'
            ORDER BY event_id DESC LIMIT 1")" = it-rt-monitor ] || fail "the cycle does not name its alert"
aliases=$(q -c "SELECT string_agg(a.alias || ':' || v.version, ',' ORDER BY a.alias) FROM mlops.model_aliases a
                 JOIN mlops.model_versions v USING (version_id)")
[ "$aliases" = "challenger:2,champion:1" ] || fail "aliases: $aliases"
[ "$(q -c "SELECT ab_test || '|' || kind || '|' || status || '|' || (variants -> 0 ->> 'model') || '|' || (variants -> 1 ->> 'model')
            FROM mlops.ab_tests_overview")" = "it-rt-policy.v2|shadow|running|it_rt_model:1|it_rt_model:2" ] \
    || fail "shadow test: $(q -c 'SELECT * FROM mlops.ab_tests_overview')"
# the new model learned the new world; on its held-out rows the champion is far off
better=$(q -c "SELECT (detail ->> 'challenger')::float8 < 0.01 AND (detail ->> 'champion')::float8 > 1
                 FROM mlops.retraining_events WHERE step = 'evaluated'")
[ "$better" = t ] || fail "evaluation: $(q -c "SELECT detail FROM mlops.retraining_events WHERE step = 'evaluated'")"
[ "$(q -c "SELECT count(*) FROM mlops.latest_metrics m JOIN mlops.model_versions v USING (run_id)
            WHERE v.version = 2 AND m.key IN ('champion_rmse', 'challenger_rmse')")" = 2 ] || fail "metrics not logged"
echo "3. the monitor's alert ran a cycle: version 2 is the challenger, in shadow; the champion stays"

# ---- 4. the alert is older than the last retraining: nothing to do; the shadow release scores
qa -c "CALL mlops.run_schedule('it-rt-retrain')" >/dev/null 2>&1
[ "$(q -c "SELECT step FROM mlops.retraining_events ORDER BY event_id DESC LIMIT 1")" = skipped ] \
    || fail "retrained again on an old alert"
qa -c "SELECT count((mlops.predict_ab('it-rt-policy.v2', 'u' || g, jsonb_build_object('x1', 6 + g % 4, 'x2', 1))).version)
         FROM generate_series(1, 50) g" >/dev/null
shadow=$(q -c "SELECT rows || '|' || (abs(mean_difference) > 1) FROM mlops.ab_shadow_comparison WHERE ab_test = 'it-rt-policy.v2'")
[ "$shadow" = "50|true" ] || fail "shadow comparison: $shadow"
echo "4. no retraining on an old alert; the shadow release scored 50 rows beside the champion"

# ---- 5. a scheduled cycle that fails: recorded, raised, the champion stays
qs <<'SQL' >/dev/null
SELECT mlops.create_retraining_policy('it-rt-nightly', 'it_rt_model', 'SELECT * FROM it_rt_events WHERE id < 0', 'y',
                                      ARRAY['x1', 'x2']);
SELECT mlops.schedule_retraining('it-rt-nightly', '0 5 31 2 *', 'it-rt-nightly');
SQL
err=$(qa -c "CALL mlops.run_schedule('it-rt-nightly')" 2>&1 || true)
echo "$err" | grep -q 'the training window of retraining policy "it-rt-nightly" has no rows' || fail "no error raised: $err"
[ "$(q -c "SELECT status || '|' || split_part(error, ':', 1) FROM mlops.job_runs WHERE job_name = 'retrain:it-rt-nightly'")" \
  = "failed|P0002" ] || fail "failed run: $(q -c "SELECT * FROM mlops.job_runs WHERE job_name = 'retrain:it-rt-nightly'")"
[ "$(q -c "SELECT detail ->> 'champion_kept' FROM mlops.retraining_events WHERE policy = 'it-rt-nightly' AND step = 'failed'")" \
  = true ] || fail "no failed event"
[ "$(q -c "SELECT v.version FROM mlops.model_aliases a JOIN mlops.model_versions v USING (version_id) WHERE a.alias = 'champion'")" \
  = 1 ] || fail "the champion moved"
echo "5. a failing scheduled cycle: a failed job run and event, the error raised, the champion kept"

# ---- 6. another admin; drop order
for sql in "CALL mlops.run_schedule('it-rt-retrain')" "SELECT mlops.drop_retraining_policy('it-rt-policy')" \
           "SELECT mlops.schedule_retraining('it-rt-mine', '0 5 31 2 *', 'it-rt-policy')"; do
    err=$(q -c "SET ROLE it_rt_other" -c "$sql" 2>&1 || true)
    echo "$err" | grep -q "belongs to role it_rt_admin" || fail "another admin: $sql: $err"
done
err=$(qa -c "SELECT mlops.drop_retraining_policy('it-rt-policy')" 2>&1 || true)
echo "$err" | grep -q 'has schedule "it-rt-retrain"' || fail "a policy with a schedule dropped: $err"
qa -c "SELECT mlops.drop_schedule('it-rt-retrain')" -c "SELECT mlops.drop_retraining_policy('it-rt-policy')" >/dev/null
[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'mlops:it-rt-retrain'")" = 0 ] || fail "pg_cron job left"
echo "6. another admin refused; the schedule goes first, then the policy"

# ---- 7. one monitor, two policies: the first one's cycle fails, the second still runs
qs <<'SQL' >/dev/null
SELECT mlops.create_drift_monitor('it-rt-monitor2', 'it-rt-base', 'it_rt_events', '0 5 31 2 *', 'at', '1 day');
SELECT mlops.create_retraining_policy('it-rt-a-broken', 'it_rt_model', 'SELECT * FROM it_rt_events WHERE id < 0', 'y',
                                      ARRAY['x1', 'x2'], trigger => 'drift', drift_monitor => 'it-rt-monitor2');
SELECT mlops.create_retraining_policy('it-rt-b-good', 'it_rt_model', 'it_rt_events', 'y', ARRAY['x1', 'x2'],
                                      time_column => 'at', training_window => '1 day', trigger => 'drift',
                                      drift_monitor => 'it-rt-monitor2');
SQL
versions_before=$(q -c "SELECT count(*) FROM mlops.model_versions")
err=$(qa -c "CALL mlops.run_schedule('it-rt-monitor2')" 2>&1 || true)
echo "$err" | grep -q 'retraining policy "it-rt-a-broken": the training window of retraining policy "it-rt-a-broken" has no rows' \
    || fail "the failure of the first policy was not raised: $err"
echo "$err" | grep -q '1 failed (it-rt-a-broken)' || fail "the error does not say which policies failed: $err"
runs=$(q -c "SELECT string_agg(job_name || ':' || status, ',' ORDER BY job_run_id) FROM mlops.job_runs
              WHERE job_name IN ('it-rt-monitor2', 'retrain:it-rt-a-broken', 'retrain:it-rt-b-good')")
[ "$runs" = "it-rt-monitor2:succeeded,retrain:it-rt-a-broken:failed,retrain:it-rt-b-good:succeeded" ] \
    || fail "job runs of the monitor and its policies: $runs"
[ "$(q -c "SELECT count(*) FROM mlops.model_versions")" = $((versions_before + 1)) ] \
    || fail "the second policy did not train a version"
echo "7. a monitor's first policy failed: its error raised after the second policy's cycle trained a version"
