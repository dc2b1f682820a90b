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
# Feature views: entities (one with a composite key), a view with a ttl and a
# created timestamp column and one over a query on the composite key, a
# service and the first view's online table come back: the definitions, the
# online rows (and who may read and write them) read the same, a training set
# built again on the restored database has the same rows as one built before
# the dump, feature_vector reads the restored online table, and the restored
# view materializes again as its owner.
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

-- feature views: monthly customer snapshots (the last one within the ttl, so that online
-- features are present), each loaded two hours after its time; sales by store and product
-- (timestamp without time zone); entity rows with labels at times between the snapshots
CREATE TABLE dump_data.snapshots AS
SELECT c.id AS customer_id, date_trunc('day', now()) - m * interval '30 days' AS snapshot_at,
       date_trunc('day', now()) - m * interval '30 days' + interval '2 hours' AS loaded_at,
       c.tenure - m AS tenure, c.charges * (1 - m / 10.0) AS charges
  FROM dump_data.customers c, generate_series(0, 5) m
 WHERE (c.id + m) % 9 <> 0;
CREATE TABLE dump_data.sales AS
SELECT 1 + g % 4 AS store_id, 1 + g % 7 AS product_id,
       date_trunc('day', now())::timestamp - g * interval '7 hours' AS sold_at, (g % 13)::float8 AS units
  FROM generate_series(1, 300) g;
CREATE TABLE dump_data.labels AS
SELECT id AS customer_id, 1 + id % 4 AS store_id, 1 + id % 7 AS product_id,
       date_trunc('day', now()) - (id % 170) * interval '1 day' - interval '5 hours' AS event_timestamp,
       id % 2 = 0 AS churned
  FROM dump_data.customers;
GRANT SELECT ON dump_data.snapshots, dump_data.sales, dump_data.labels TO dump_writer;
SET ROLE dump_writer;
SELECT mlops.create_entity('dump_customer', '{customer_id}', 'a customer');
SELECT mlops.create_entity('dump_store_product', '{store_id,product_id}');
SELECT mlops.create_feature_view('dump_customer_monthly', '{dump_customer}', 'dump_data.snapshots', 'snapshot_at',
                                 ttl => '45 days', created_timestamp_column => 'loaded_at',
                                 description => 'monthly snapshots', tags => '{"team": "risk"}');
SELECT mlops.create_feature_view('dump_sales', '{dump_store_product}',
                                 'SELECT store_id, product_id, sold_at, units FROM dump_data.sales', 'sold_at');
SELECT mlops.create_feature_service('dump_churn_features', '{dump_customer_monthly:tenure,dump_customer_monthly:charges}');
CALL mlops.materialize_online('dump_customer_monthly');
SELECT mlops.build_training_set('dump_data.training', 'dump_data.labels',
                                '{dump_customer_monthly:tenure,dump_customer_monthly:charges,dump_sales:units}');
RESET ROLE;
SQL
echo "source: $(q -c "SELECT format('%s runs, %s metric points, %s versions, %s job runs, %s rejects, %s schedules, '
                                     '%s entities, %s feature views, %s services, %s online rows, %s training set rows',
                                     (SELECT count(*) FROM mlops.runs), (SELECT count(*) FROM mlops.metric_history),
                                     (SELECT count(*) FROM mlops.model_versions), (SELECT count(*) FROM mlops.job_runs),
                                     (SELECT count(*) FROM mlops.batch_rejects), (SELECT count(*) FROM mlops.schedules),
                                     (SELECT count(*) FROM mlops.entities), (SELECT count(*) FROM mlops.feature_views),
                                     (SELECT count(*) FROM mlops.feature_services),
                                     (SELECT count(*) FROM mlops_online.dump_customer_monthly),
                                     (SELECT count(*) FROM dump_data.training))")"

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
SELECT 'entities ' || md5(string_agg(e::text, '|' ORDER BY entity_id)) FROM mlops.entities e;
SELECT 'feature_views ' || md5(string_agg(v::text, '|' ORDER BY view_id)) FROM mlops.feature_views v;
SELECT 'feature_services ' || md5(string_agg(s::text, '|' ORDER BY service_id)) FROM mlops.feature_services s;
SELECT 'feature_catalog ' || md5(string_agg(c::text, '|' ORDER BY feature_view, position)) FROM mlops.feature_catalog c;
SELECT 'feature_service_features ' || md5(string_agg(f::text, '|' ORDER BY feature_service, position))
  FROM mlops.feature_service_features f;
SELECT 'online tables ' || string_agg(format('%s %s %s %s', c.relname, c.relkind, pg_get_userbyid(c.relowner), c.relacl),
                                      ', ' ORDER BY c.relname)
  FROM pg_class c WHERE c.relnamespace = 'mlops_online'::regnamespace;
SELECT 'online rows ' || count(*) || ' ' || md5(string_agg(o::text, '|' ORDER BY customer_id))
  FROM mlops_online.dump_customer_monthly o;
SELECT 'training set ' || count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM dump_data.training t;
SELECT 'feature_vector ' || count(*) FILTER (WHERE v[1] IS NOT NULL) || ' present '
       || md5(string_agg(v::text, '|' ORDER BY id))
  FROM (SELECT c.id, mlops.feature_vector('dump_churn_features', c.id) AS v FROM dump_data.customers c) x;
SELECT 'online_features ' || mlops.online_features('dump_churn_features', '{"customer_id": 42}')::text;
SQL
}

# Feature views on a restored database: a training set built again has the same rows as the
# one built before the dump (both engines), feature_vector reads the online table (every
# customer's latest snapshot, which is within the ttl), and the view materializes again as
# its owner (nothing newer to upsert: the online rows stay as they were).
features_after_restore() {   # database
    local out
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SET ROLE dump_writer;
SELECT mlops.build_training_set('dump_data.training_again', 'dump_data.labels',
                                '{dump_customer_monthly:tenure,dump_customer_monthly:charges,dump_sales:units}');
SELECT mlops.build_training_set('dump_data.training_lateral', 'dump_data.labels',
                                '{dump_customer_monthly:tenure,dump_customer_monthly:charges,dump_sales:units}',
                                engine => 'lateral');
SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM dump_data.training t)
       = (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM dump_data.training_again t)
   AND (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM dump_data.training t)
       = (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM dump_data.training_lateral t);
SELECT count(*) FILTER (WHERE x.v[1] = s.tenure AND x.v[2] = s.charges) || '/' || count(*)
  FROM (SELECT c.id, mlops.feature_vector('dump_churn_features', c.id) AS v FROM dump_data.customers c) x
  JOIN dump_data.snapshots s ON s.customer_id = x.id
   AND s.snapshot_at = (SELECT max(l.snapshot_at) FROM dump_data.snapshots l WHERE l.customer_id = x.id);
SELECT md5(string_agg(o::text, '|' ORDER BY customer_id)) FROM mlops_online.dump_customer_monthly o;
CALL mlops.materialize_online('dump_customer_monthly');
SELECT md5(string_agg(o::text, '|' ORDER BY customer_id)) FROM mlops_online.dump_customer_monthly o;
SELECT status || ' ' || run_by || ' ' || rows_scored FROM mlops.job_runs
 WHERE kind = 'materialize_online' ORDER BY job_run_id DESC LIMIT 1;
DROP TABLE dump_data.training_again, dump_data.training_lateral;
SQL
) || fail "feature views on the restored database $1"
    local rows rows_lateral same vec before after run
    { read -r rows; read -r rows_lateral; read -r same; read -r vec; read -r before; read -r after; read -r run; } <<<"$out"
    [ "$rows" = 500 ] && [ "$rows_lateral" = 500 ] && [ "$same" = t ] \
        || fail "$1: the training set built again ($rows and $rows_lateral rows) differs from the one built before the dump"
    local n=${vec#*/}
    [ "${vec%/*}" = "$n" ] && [ "$n" -gt 0 ] || fail "$1: feature_vector gave the latest snapshot for $vec customers"
    [ "$before" = "$after" ] || fail "$1: materializing again changed the online rows"
    [ "$run" = "succeeded dump_writer 0" ] || fail "$1: materializing again: '$run'"
    echo "   feature views in $1: the training set built again is the same (merge and lateral); feature_vector gives the latest snapshot of $vec customers; materialized again: $run"
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
grep -E '^(predictions|runs_overview|job_runs|online rows|training set|feature_vector) ' "$work/restored.txt" | sed 's/^/     /'
features_after_restore mlops_dump_restored
state=$(q -d mlops_dump_restored -c "SELECT state FROM mlops.schedules_overview WHERE name = 'dump-nightly'")
[ "$state" = "no pg_cron" ] || fail "the restored schedule says '$state'"
next=$(q -d mlops_dump_restored <<'SQL'
SELECT mlops.register_model_version('dump_lr', (SELECT artifact FROM mlops.model_versions WHERE version_id = 1))
       || ' ' || (mlops.start_run('dump-exp') > (SELECT max(run_id) FROM mlops.runs WHERE run_name = 'to delete'))
       || ' ' || (mlops.create_entity('dump_next', '{id}') > (SELECT max(entity_id) FROM mlops.entities WHERE name <> 'dump_next'))
       || ' ' || (mlops.create_feature_service('dump_next', '{dump_sales:units}')
                  > (SELECT max(service_id) FROM mlops.feature_services WHERE name <> 'dump_next'));
SQL
)
echo "   schedule: $state; numbering continues: next version, run, entity and service id $next"
[ "$next" = "3 true true true" ] || fail "numbering after restore: '$next'"
[ "$(q -d mlops_dump_restored -c "SELECT count(*) FROM mlops.registry_events WHERE model_name = 'dump_lr' AND event = 'version_registered'")" = 3 ] \
    || fail "the new version's event"

# ---- B. back into the database it came from
q -c "SET client_min_messages = warning" -c "DROP EXTENSION mlops CASCADE" -c "DROP SCHEMA dump_data CASCADE" -c "DROP SCHEMA IF EXISTS mlops CASCADE" >/dev/null
pg_restore --exit-on-error -d postgres "$work/backup.dump" 2>"$work/restore.err" \
    || { cat "$work/restore.err"; fail "pg_restore into the source database failed"; }
fingerprint postgres >"$work/back.txt"
diff "$work/source.txt" "$work/back.txt" || fail "the database restored in place reads differently"
features_after_restore postgres
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
