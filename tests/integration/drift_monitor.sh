#!/usr/bin/env bash
# A drift monitor on a real pg_cron schedule:
#  1. a baseline captured from a reference table; a monitor on an events
#     table (a one-day window on its timestamp) scheduled every minute;
#  2. pg_cron fires it (pg_cron 1.4 schedules by the minute: this waits up
#     to 80 s): the run is a succeeded job run of kind drift_monitor, one
#     drift_checks row, one drift_history row per feature, an open alert for
#     each shifted feature (and the dataset) and none for the stable one;
#     the values in drift_history equal drift_report's on the same window;
#  3. a session LISTENing on channel mlops_drift receives the run's JSON
#     payload (monitor, check_id, drifted features, new alert ids);
#  4. a second run sees the same alerts again (checks = 2) instead of
#     raising new ones; an acknowledged alert stays acknowledged; when the
#     data stops drifting, the next run resolves the alerts;
#  5. another writer can neither run, nor drop, the monitor (42501); the
#     BI views read it; dropping the monitor removes its pg_cron job.
# pg_cron runs in cron.database_name ('postgres' in the suite's cluster), so
# this test works there and cleans up after itself.
set -euo pipefail
export PGDATABASE=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
PY=/usr/bin/python3
listen_out=$(mktemp /tmp/drift_listen.XXXXXX)
cleanup() {
    [ -n "${listener:-}" ] && kill "$listener" 2>/dev/null || true
    q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'mlops:it-drift%'" >/dev/null 2>&1 || true
    q -c "DROP TABLE IF EXISTS it_drift_ref, it_drift_events" >/dev/null 2>&1 || true
    q -c "DROP EXTENSION IF EXISTS mlops CASCADE" >/dev/null 2>&1 || true
    q -c "DROP ROLE IF EXISTS it_drift_other" >/dev/null 2>&1 || true
    rm -f "$listen_out"
}
trap cleanup EXIT
cleanup

q -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION mlops" >/dev/null
q <<'SQL' >/dev/null
CREATE TABLE it_drift_ref AS
SELECT g AS id, ((g * 7919) % 1000) / 100.0 AS amount, (g % 5)::float8 AS calls,
       (ARRAY['web', 'store', 'phone'])[1 + g % 3] AS channel
  FROM generate_series(1, 5000) g;
-- the last day: amount shifted by +3, channel gains a category; calls as before
CREATE TABLE it_drift_events AS
SELECT g AS id, ((g * 7919) % 1000) / 100.0 + 3 AS amount, (g % 5)::float8 AS calls,
       (ARRAY['web', 'store', 'phone', 'app'])[1 + g % 4] AS channel,
       now() - (g % 20) * interval '1 hour' AS at
  FROM generate_series(1, 4000) g;
-- older rows, outside the window, like the reference
INSERT INTO it_drift_events
SELECT 10000 + g, ((g * 7919) % 1000) / 100.0, (g % 5)::float8, (ARRAY['web', 'store', 'phone'])[1 + g % 3],
       now() - interval '3 days'
  FROM generate_series(1, 4000) g;
SELECT mlops.capture_baseline('it-drift-base', 'it_drift_ref', ARRAY['amount', 'calls', 'channel']);
CREATE ROLE it_drift_other LOGIN IN ROLE mlops_writer;
GRANT SELECT ON it_drift_events TO it_drift_other;
SQL

# ---- 3. the listener first, so that it hears the first run
"$PY" - "$listen_out" <<'PY' &
import select, sys, psycopg2
conn = psycopg2.connect("")
conn.autocommit = True
conn.cursor().execute("LISTEN mlops_drift")
with open(sys.argv[1], "w") as out:
    out.write("listening\n"); out.flush()
    for _ in range(100):
        if select.select([conn], [], [], 1) != ([], [], []):
            conn.poll()
            while conn.notifies:
                n = conn.notifies.pop(0)
                out.write(n.channel + "\t" + n.payload + "\n"); out.flush()
                sys.exit(0)
PY
listener=$!
for _ in $(seq 1 50); do grep -q listening "$listen_out" 2>/dev/null && break; sleep 0.1; done

# ---- 1. the monitor, on a schedule
q -c "SELECT mlops.create_drift_monitor('it-drift', 'it-drift-base', 'it_drift_events', '* * * * *', 'at', interval '1 day')" >/dev/null
[ "$(q -c "SELECT mlops.schedule_state('it-drift')")" = armed ] || fail "the monitor's schedule is not armed"
echo "scheduled: $(q -c "SELECT jobid || ' ' || schedule || ' ' || command FROM cron.job WHERE jobname = 'mlops:it-drift'")"

# ---- 2. pg_cron fires it
status=""
for _ in $(seq 1 80); do
    status=$(q -c "SELECT status FROM mlops.job_runs WHERE job_name = 'it-drift' AND status <> 'running' ORDER BY job_run_id LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
[ "$status" = succeeded ] || fail "the monitor's run did not succeed within 80 s (status '${status}'; job error: $(q -c "SELECT error FROM mlops.job_runs WHERE job_name = 'it-drift' ORDER BY job_run_id LIMIT 1"); cron says: $(q -c "SELECT status || ': ' || return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 1"))"
echo "fired: $(q -c "SELECT format('job run %s (%s), %s rows in the window, %s of %s features drifted', j.job_run_id, j.kind, c.n_rows, c.n_drifted, c.n_features)
                        FROM mlops.job_runs j JOIN mlops.drift_checks c USING (job_run_id) WHERE j.job_name = 'it-drift'")"
[ "$(q -c "SELECT count(*) FROM mlops.drift_checks")" = 1 ] || fail "expected one drift check"
[ "$(q -c "SELECT n_rows FROM mlops.drift_checks")" = 4000 ] || fail "the window should hold the 4000 rows of the last day"
[ "$(q -c "SELECT string_agg(feature || '=' || drifted, ',' ORDER BY feature) FROM mlops.drift_history")" = "amount=true,calls=false,channel=true" ] \
    || fail "drift_history: $(q -c "SELECT string_agg(feature || '=' || drifted, ',' ORDER BY feature) FROM mlops.drift_history")"
# the run's note, which a job dashboard shows: the count, and the drifted features in the baseline's order
note=$(q -c "SELECT note FROM mlops.latest_job_runs WHERE job_name = 'it-drift'")
[[ "$note" =~ ^"2 of 3 features drifted: "(amount, channel|channel, amount)$ ]] || fail "the monitor run's note: $note"
[ "$(q -c "SELECT string_agg(coalesce(feature, '(dataset)'), ',' ORDER BY feature NULLS LAST) FROM mlops.drift_alerts WHERE status = 'open'")" = "amount,channel,(dataset)" ] \
    || fail "open alerts: $(q -c "SELECT string_agg(coalesce(feature, '(dataset)'), ',') FROM mlops.drift_alerts")"
# the history holds what drift_report computes on the same window
[ "$(q -c "SELECT count(*) FROM mlops.drift_history h JOIN mlops.drift_checks c USING (check_id)
           JOIN LATERAL mlops.drift_report('it-drift-base',
                format('SELECT * FROM it_drift_events WHERE at > %L::timestamptz AND at <= %L::timestamptz', c.window_start, c.window_end)) r
             ON r.feature = h.feature
          WHERE r.statistic = h.statistic AND r.method = h.method AND r.drifted = h.drifted AND r.stats = h.stats")" = 3 ] \
    || fail "drift_history differs from drift_report on the same window"

# ---- 3. the listener heard it
for _ in $(seq 1 50); do grep -q "^mlops_drift" "$listen_out" && break; sleep 0.1; done
payload=$(grep "^mlops_drift" "$listen_out" | cut -f2-) || fail "the listener received no notification on mlops_drift"
echo "notified: $payload"
"$PY" - "$payload" "$(q -c "SELECT check_id FROM mlops.drift_checks")" <<'PY' || fail "unexpected payload"
import json, sys
p = json.loads(sys.argv[1])
assert p["monitor"] == "it-drift", p
assert p["check_id"] == int(sys.argv[2]), p
assert sorted(p["drifted_features"]) == ["amount", "channel"], p
assert len(p["new_alert_ids"]) == 3 and p["dataset_drifted"] is True, p
PY

# ---- 4. alerts are seen again, not raised anew; then resolved
q -c "SELECT mlops.pause_schedule('it-drift')" >/dev/null
amount_alert=$(q -c "SELECT alert_id FROM mlops.drift_alerts WHERE feature = 'amount'")
q -c "SELECT mlops.acknowledge_drift_alert($amount_alert)" >/dev/null
q -c "CALL mlops.run_drift_monitor('it-drift')" >/dev/null
[ "$(q -c "SELECT string_agg(coalesce(feature, '-') || ':' || checks || ':' || status, ',' ORDER BY alert_id) FROM mlops.drift_alerts")" = "amount:2:acknowledged,channel:2:open,-:2:open" ] \
    || fail "second run: $(q -c "SELECT string_agg(coalesce(feature, '-') || ':' || checks || ':' || status, ',' ORDER BY alert_id) FROM mlops.drift_alerts")"
q -c "DELETE FROM it_drift_events WHERE id < 10000" -c "UPDATE it_drift_events SET at = now() - interval '1 hour'" >/dev/null
q -c "CALL mlops.run_drift_monitor('it-drift')" >/dev/null
[ "$(q -c "SELECT count(*) FROM mlops.drift_alerts WHERE status = 'resolved'")" = 3 ] \
    || fail "alerts not resolved once the data stopped drifting: $(q -c "SELECT string_agg(coalesce(feature, '-') || ':' || status, ',') FROM mlops.drift_alerts")"
[ "$(q -c "SELECT count(*) FROM mlops.drift_alerts_open")" = 0 ] || fail "drift_alerts_open still lists alerts"

# ---- 5. only the owner runs or drops it; BI views read it
out=$(psql -X -q -At -U it_drift_other -c "CALL mlops.run_drift_monitor('it-drift')" 2>&1 || true)
[[ "$out" == *"belongs to role"* ]] || fail "another writer ran the monitor: $out"
out=$(psql -X -q -At -U it_drift_other -v VERBOSITY=verbose -c "SELECT mlops.drop_drift_monitor('it-drift')" 2>&1 || true)
[[ "$out" == *42501* ]] || fail "another writer dropped the monitor: $out"
[ "$(q -c "SELECT count(*) FROM mlops.drift_monitor_status WHERE monitor = 'it-drift'")" = 3 ] || fail "drift_monitor_status"
[ "$(q -c "SELECT n_features || ' ' || dataset_drifted FROM mlops.drift_monitors_overview WHERE monitor = 'it-drift'")" = "3 false" ] \
    || fail "drift_monitors_overview"
q -c "SELECT mlops.resume_schedule('it-drift')" >/dev/null
q -c "SELECT mlops.drop_drift_monitor('it-drift')" >/dev/null
[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'mlops:it-drift'")" = 0 ] || fail "drop did not unschedule"
[ "$(q -c "SELECT count(*) FROM mlops.schedules")" = 0 ] || fail "drop left the schedule"
echo "ok: the monitor fired on pg_cron, wrote history and alerts, notified, and belongs to its owner"
