#!/usr/bin/env bash
# A routine backup keeps everything: pg_dump of a database using mlops, then
#  A. restored into a fresh database: the registry scores the same (every
#     version, on the same inputs), the tracking, registry and job views read
#     the same, numbering continues after the restored ids, and the schedule
#     says pg_cron is not there ('no pg_cron');
#  B. restored into the database it came from, after the extension was
#     dropped: the schedule's pg_cron job is still there, so it is 'armed';
#     once its job is gone it is 'missing', and rearm_schedules() run by its
#     owner makes it again.
# Drift: a baseline and a monitor with its history and alerts come back, and
# the restored baseline reports the same drift on the same data.
# pg_cron runs in cron.database_name ('postgres' in the suite's cluster), so
# the source is that database; the test cleans up after itself.
set -euo pipefail
export PGDATABASE=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
work=""
cleanup() {
    q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'mlops:dump-%'" >/dev/null 2>&1 || true
    q -c "DROP EXTENSION IF EXISTS mlops CASCADE" -c "DROP SCHEMA IF EXISTS dump_data CASCADE" >/dev/null 2>&1 || true
    q -c "DROP DATABASE IF EXISTS mlops_dump_restored WITH (FORCE)" >/dev/null 2>&1 || true
    q -c "REVOKE USAGE ON SCHEMA cron FROM dump_writer" -c "DROP ROLE IF EXISTS dump_writer" >/dev/null 2>&1 || true
    [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT
cleanup
work=$(mktemp -d /tmp/mlops-dump.XXXXXX)

q -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION mlops" >/dev/null
q <<'SQL' >/dev/null
CREATE ROLE dump_writer LOGIN IN ROLE mlops_writer;
GRANT USAGE ON SCHEMA cron TO dump_writer;
CREATE SCHEMA dump_data;
GRANT USAGE, CREATE ON SCHEMA dump_data TO dump_writer;
CREATE TABLE dump_data.customers AS
SELECT g AS id, (g % 50) * 1.5 AS tenure, 20 + (g % 37) * 2.25 AS charges,
       (ARRAY['month', 'year', 'two-year'])[1 + g % 3] AS contract,
       ARRAY[(g % 50) * 1.5, 20 + (g % 37) * 2.25, g % 3]::float8[] AS x
  FROM generate_series(1, 500) g;
UPDATE dump_data.customers SET x = ARRAY[1]::float8[] WHERE id = 7;      -- a bad row, set aside
GRANT SELECT ON dump_data.customers TO dump_writer;

-- tracking: an experiment with nested runs, every kind of thing logged
SELECT mlops.create_experiment('dump-exp', 'kept across a dump', '{"team": "risk"}');
SELECT mlops.start_run('dump-exp', 'parent', '{"kind": "search"}') AS parent \gset
SELECT mlops.start_run('dump-exp', 'child', parent_run_id => :parent) AS child \gset
SELECT mlops.log_batch(:child, '{"params": {"C": 0.5, "penalty": "l2"},
                                 "metrics": [{"key": "loss", "value": 0.9, "step": 1}, {"key": "loss", "value": 0.4, "step": 2},
                                             {"key": "auc", "value": "NaN"}]}');
SELECT mlops.log_input(:child, 'dump_data.customers');
SELECT mlops.log_artifact(:child, 'plots/roc.bin', '\x00ff10'::bytea);
SELECT mlops.end_run(:child);
SELECT mlops.start_run('dump-exp', 'to delete') AS gone \gset
SELECT mlops.delete_run(:gone);
SELECT mlops.create_experiment('dump-old');
SELECT mlops.delete_experiment('dump-old');

-- registry: two models, versions, aliases, stages, tags, a bundle imported
SELECT mlops.log_artifact(:parent, 'model.json', convert_to('{"format": "mlops.model/v1", "task": "binary",
  "classes": ["stay", "churn"],
  "features": [{"name": "tenure", "type": "numeric"}, {"name": "charges", "type": "numeric"},
               {"name": "contract", "type": "categorical", "categories": ["month", "year", "two-year"]}],
  "scaler": {"center": [30, 60, 0, 0, 0], "scale": [20, 25, 1, 1, 1]},
  "model": {"type": "linear", "link": "logistic", "coef": [-0.8, 0.5, 0.9, -0.2, -1.1], "intercept": [-0.3]}}', 'UTF8'));
SELECT mlops.end_run(:parent, 'KILLED');
SELECT mlops.register_model_version_from_run('dump_lr', :parent, 'model.json');
SELECT mlops.register_model_version('dump_lr', '{"format": "mlops.model/v1", "task": "binary", "classes": ["stay", "churn"],
  "features": [{"name": "tenure", "type": "numeric"}, {"name": "charges", "type": "numeric"},
               {"name": "contract", "type": "categorical", "categories": ["month", "year", "two-year"]}],
  "model": {"type": "trees", "link": "logistic", "trees": [
     {"feature": [0, 1, -1, -1, -1], "threshold": [24, 70, 0, 0, 0], "left": [1, 3, -1, -1, -1], "right": [2, 4, -1, -1, -1],
      "value": [0, 0, 0.8, -0.4, 0.3]},
     {"feature": [2, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, -0.2, 0.6]}]}}');
SELECT mlops.set_model_alias('dump_lr', 'champion', 2);
SELECT mlops.transition_model_stage('dump_lr', 1, 'Production');
SELECT mlops.set_model_version_tag('dump_lr', 2, 'validated_by', 'risk team');
SELECT mlops.set_registered_model_tag('dump_lr', 'domain', 'churn');
SELECT mlops.import_model_version(mlops.export_model_version('dump_lr:1'), 'dump_copy');

-- a batch job with a rejected row, and a schedule of a writer
CALL mlops.batch_score('dump_lr@champion', 'SELECT id, tenure, charges, contract FROM dump_data.customers',
                       'dump_data.scores', outputs => ARRAY['prediction', 'class']);
CALL mlops.batch_score('dump_lr:1', 'dump_data.customers', 'dump_data.array_scores', features => 'x',
                       on_error => 'reject');
-- drift: a baseline, a monitor run with history and alerts
SELECT mlops.capture_baseline('dump-base', 'SELECT * FROM dump_data.customers WHERE id <= 250', ARRAY['tenure', 'charges', 'contract']);
SELECT mlops.create_drift_monitor('dump-monitor', 'dump-base', 'SELECT * FROM dump_data.customers WHERE id > 250');
CALL mlops.run_drift_monitor('dump-monitor');
SET ROLE dump_writer;
SELECT mlops.schedule_batch_score('dump-nightly', '0 3 * * *', 'dump_lr@champion',
                                  'SELECT id, tenure, charges, contract FROM dump_data.customers', 'dump_data.nightly');
RESET ROLE;
SQL
echo "source: $(q -c "SELECT format('%s runs, %s metric points, %s versions, %s job runs, %s rejects, %s schedules',
                                     (SELECT count(*) FROM mlops.runs), (SELECT count(*) FROM mlops.metric_history),
                                     (SELECT count(*) FROM mlops.model_versions), (SELECT count(*) FROM mlops.job_runs),
                                     (SELECT count(*) FROM mlops.batch_rejects), (SELECT count(*) FROM mlops.schedules))")"

# What must read the same after a restore: every view and table of user data
# (a digest of each, in a stable order), and every version's predictions on
# the same 500 customers.
fingerprint() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT 'runs_overview ' || md5(string_agg(r::text, '|' ORDER BY run_id)) FROM mlops.runs_overview r;
SELECT 'runs ' || md5(string_agg(r::text, '|' ORDER BY run_id)) FROM mlops.runs r;
SELECT 'metric_history ' || md5(string_agg(h::text, '|' ORDER BY run_id, key, step, logged_at)) FROM mlops.metric_history h;
SELECT 'experiments_overview ' || md5(string_agg(e::text, '|' ORDER BY experiment_id)) FROM mlops.experiments_overview e;
SELECT 'experiments ' || md5(string_agg(e::text, '|' ORDER BY experiment_id)) FROM mlops.experiments e;
SELECT 'artifacts ' || md5(string_agg(a::text, '|' ORDER BY run_id, path)) FROM mlops.artifacts a;
SELECT 'run_inputs ' || md5(string_agg(i::text, '|' ORDER BY input_id)) FROM mlops.run_inputs i;
SELECT 'model_versions_overview ' || md5(string_agg(v::text, '|' ORDER BY version_id)) FROM mlops.model_versions_overview v;
SELECT 'model_versions ' || md5(string_agg(v::text, '|' ORDER BY version_id)) FROM mlops.model_versions v;
SELECT 'tags ' || md5((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM mlops.model_version_tags t)
                      || (SELECT string_agg(t::text, '|' ORDER BY t::text) FROM mlops.registered_model_tags t)
                      || (SELECT string_agg(t::text, '|' ORDER BY t::text) FROM mlops.model_aliases t));
SELECT 'registry_events ' || md5(string_agg(e::text, '|' ORDER BY event_id)) FROM mlops.registry_events e;
SELECT 'job_runs ' || md5(string_agg(j::text, '|' ORDER BY job_run_id)) FROM mlops.job_runs j;
SELECT 'latest_job_runs ' || md5(string_agg(j::text, '|' ORDER BY job_name)) FROM mlops.latest_job_runs j;
SELECT 'batch_rejects ' || md5(string_agg(r::text, '|' ORDER BY row_key::text)) FROM mlops.batch_rejects r;
SELECT 'schedules ' || md5(string_agg((s.schedule_id, s.name, s.kind, s.cron, s.spec, s.active, s.created_by,
                                       s.created_at)::text, '|' ORDER BY schedule_id)) FROM mlops.schedules s;
SELECT 'drift_baseline_columns ' || md5(string_agg(c::text, '|' ORDER BY baseline_id, position)) FROM mlops.drift_baseline_columns c;
SELECT 'drift_history ' || md5(string_agg(h::text, '|' ORDER BY check_id, feature)) FROM mlops.drift_history h;
SELECT 'drift_alerts ' || md5(string_agg(a::text, '|' ORDER BY alert_id)) FROM mlops.drift_alerts a;
SELECT 'drift_monitor_status ' || md5(string_agg(m::text, '|' ORDER BY monitor, feature)) FROM mlops.drift_monitor_status m;
SELECT 'drift_report ' || md5(string_agg(r::text, '|' ORDER BY feature))
  FROM mlops.drift_report('dump-base', 'SELECT * FROM dump_data.customers WHERE id > 250') r;
SELECT 'predictions ' || v.model_name || ':' || v.version || ' '
       || (SELECT sum(mlops.predict(v.model_name || ':' || v.version,
                                    jsonb_build_object('tenure', c.tenure, 'charges', c.charges, 'contract', c.contract)))
             FROM dump_data.customers c)
  FROM mlops.model_versions_overview v ORDER BY v.version_id;
SELECT 'scores ' || md5(string_agg((s.id, s.prediction, s.class, s.model_version)::text, '|' ORDER BY id)) FROM dump_data.scores s;
SQL
}
fingerprint postgres >"$work/source.txt"
pg_dump -Fc -e mlops -f "$work/backup.dump" postgres 2>"$work/pg_dump.err" || { cat "$work/pg_dump.err"; fail "pg_dump failed"; }
[ ! -s "$work/pg_dump.err" ] || { cat "$work/pg_dump.err"; fail "pg_dump warned"; }
echo "pg_dump: $(du -h "$work/backup.dump" | cut -f1), no warnings"

# ---- A. a fresh database
q -c "CREATE DATABASE mlops_dump_restored" >/dev/null
pg_restore --exit-on-error -d mlops_dump_restored "$work/backup.dump" 2>"$work/restore.err" \
    || { cat "$work/restore.err"; fail "pg_restore into a fresh database failed"; }
fingerprint mlops_dump_restored >"$work/restored.txt"
diff "$work/source.txt" "$work/restored.txt" || fail "the restored database reads differently"
echo "A. restored into a fresh database: $(wc -l <"$work/source.txt") fingerprints equal, e.g."
grep -E '^(predictions|runs_overview|job_runs) ' "$work/restored.txt" | sed 's/^/     /'
state=$(q -d mlops_dump_restored -c "SELECT state FROM mlops.schedules_overview WHERE name = 'dump-nightly'")
[ "$state" = "no pg_cron" ] || fail "the restored schedule says '$state'"
next=$(q -d mlops_dump_restored <<'SQL'
SELECT mlops.register_model_version('dump_lr', (SELECT artifact FROM mlops.model_versions WHERE version_id = 1))
       || ' ' || (mlops.start_run('dump-exp') > (SELECT max(run_id) FROM mlops.runs WHERE run_name = 'to delete'));
SQL
)
echo "   schedule: $state; numbering continues: next version and run id $next"
[ "$next" = "3 true" ] || fail "numbering after restore: '$next'"
[ "$(q -d mlops_dump_restored -c "SELECT count(*) FROM mlops.registry_events WHERE model_name = 'dump_lr' AND event = 'version_registered'")" = 3 ] \
    || fail "the new version's event"

# ---- B. back into the database it came from
q -c "SET client_min_messages = warning" -c "DROP EXTENSION mlops CASCADE" -c "DROP SCHEMA dump_data CASCADE" -c "DROP SCHEMA IF EXISTS mlops CASCADE" >/dev/null
pg_restore --exit-on-error -d postgres "$work/backup.dump" 2>"$work/restore.err" \
    || { cat "$work/restore.err"; fail "pg_restore into the source database failed"; }
fingerprint postgres >"$work/back.txt"
diff "$work/source.txt" "$work/back.txt" || fail "the database restored in place reads differently"
state=$(q -c "SELECT state FROM mlops.schedules_overview WHERE name = 'dump-nightly'")
[ "$state" = armed ] || fail "restored where its pg_cron job still is, the schedule says '$state'"
q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'mlops:dump-nightly'" >/dev/null
state=$(q -c "SELECT state FROM mlops.schedules_overview WHERE name = 'dump-nightly'")
[ "$state" = missing ] || fail "without its pg_cron job, the schedule says '$state'"
rearmed=$(q -c "SET ROLE dump_writer" -c "SELECT mlops.rearm_schedules()")
state=$(q -c "SELECT o.state || ' ' || j.username || ' ' || j.schedule FROM mlops.schedules_overview o
               JOIN cron.job j ON j.jobid = o.cron_job_id WHERE o.name = 'dump-nightly'")
echo "B. restored in place: armed; job removed: missing; rearm_schedules() as its owner re-armed $rearmed: $state"
[ "$rearmed" = 1 ] && [ "$state" = "armed dump_writer 0 3 * * *" ] || fail "re-arming"
echo "dump and restore ok"
