#!/usr/bin/env bash
# ALTER EXTENSION mlops UPDATE from the last release keeps the users' data and
# gives exactly what a fresh install of this version gives:
#  1. a database made with mlops 0.1.0 (its install script, kept as
#     released) holds experiments, runs, metrics, artifacts, inputs, model
#     versions with aliases and stages, job runs and rejects, and a schedule;
#  2. after the update, every version scores the same on the same inputs,
#     and the tracking, registry and job tables and views read the same;
#  3. the extension's objects (functions with their bodies, volatility,
#     security and privileges; tables with their columns, defaults,
#     constraints, indexes and policies; views; what pg_dump dumps) are
#     those of a fresh install of this version, object for object;
#  4. what this version added works on the updated database.
source "$(dirname "$0")/../lib/testdb.sh"
from=0.1.0
to=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$(dirname "$0")/../../mlops.control")
fresh_db="${TEST_DB}_fresh"
drop_both() { drop_test_db; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$fresh_db\" WITH (FORCE)" >/dev/null 2>&1 || true; }
trap drop_both EXIT

# ---- 1. data made by the old version
q -c "DROP EXTENSION mlops" -c "CREATE EXTENSION mlops VERSION '$from'" >/dev/null
q <<'SQL' >/dev/null
CREATE TABLE features AS
SELECT g AS id, (g % 40) * 1.5 AS tenure, 20 + (g % 31) * 3.0 AS charges,
       (ARRAY['month', 'year'])[1 + g % 2] AS contract,
       ARRAY[(g % 40) * 1.5, 20 + (g % 31) * 3.0, g % 2]::float8[] AS x
  FROM generate_series(1, 300) g;
SELECT mlops.create_experiment('upgrade-exp', 'made by 0.1.0', '{"team": "risk"}');
SELECT mlops.start_run('upgrade-exp', 'trained') AS run \gset
SELECT mlops.log_batch(:run, '{"params": {"C": 1, "solver": "lbfgs"},
                               "metrics": [{"key": "loss", "value": 0.7, "step": 1}, {"key": "loss", "value": 0.3, "step": 2}]}');
SELECT mlops.log_input(:run, 'features');
SELECT mlops.log_artifact(:run, 'model.json', convert_to('{"format": "mlops.model/v1", "task": "binary",
  "classes": ["stay", "churn"],
  "features": [{"name": "tenure", "type": "numeric"}, {"name": "charges", "type": "numeric"},
               {"name": "contract", "type": "categorical", "categories": ["month", "year"]}],
  "model": {"type": "linear", "link": "logistic", "coef": [-0.05, 0.02, 0.7, -0.7], "intercept": [-0.2]}}', 'UTF8'));
SELECT mlops.end_run(:run);
SELECT mlops.register_model_version_from_run('upgrade_lr', :run, 'model.json');
SELECT mlops.register_model_version('upgrade_lr', '{"format": "mlops.model/v1", "task": "binary", "classes": ["stay", "churn"],
  "features": [{"name": "tenure", "type": "numeric"}, {"name": "charges", "type": "numeric"},
               {"name": "contract", "type": "categorical", "categories": ["month", "year"]}],
  "model": {"type": "trees", "link": "logistic", "trees": [
     {"feature": [0, -1, -1], "threshold": [30, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, 0.5, -0.5]}]}}');
SELECT mlops.set_model_alias('upgrade_lr', 'champion', 2);
SELECT mlops.transition_model_stage('upgrade_lr', 1, 'Production');
UPDATE features SET x = ARRAY[1]::float8[] WHERE id = 5;
CALL mlops.batch_score('upgrade_lr@champion', 'features', 'scores', features => 'x', on_error => 'reject');
-- a schedule as 0.1.0 stored it (this database has no pg_cron, so by hand)
INSERT INTO mlops.schedules (name, kind, cron, spec, created_by)
VALUES ('upgrade-nightly', 'batch_score', '0 3 * * *',
        '{"model": "upgrade_lr@champion", "source": "features", "target": "scores", "key_columns": ["id"],
          "features": "x", "outputs": ["prediction"], "slice": null, "mode": "replace", "on_error": "reject"}',
        current_user);
-- a succeeded run whose error says why it did nothing, as 0.7.0's skipped
-- retraining cycles wrote it: 0.8.0 moves it to the note (checked below)
INSERT INTO mlops.job_runs (job_name, kind, status, error, run_by, rows_in, rows_scored, rows_failed, finished_at)
VALUES ('upgrade-skipped', 'batch_score', 'succeeded', 'nothing to do', current_user, 0, 0, 0, clock_timestamp());
SQL

fingerprint() {
    q <<'SQL'
SELECT 'runs_overview ' || md5(string_agg(r::text, '|' ORDER BY run_id)) FROM mlops.runs_overview r;
SELECT 'metric_history ' || md5(string_agg(h::text, '|' ORDER BY run_id, key, step)) FROM mlops.metric_history_overview h;
SELECT 'experiments ' || md5(string_agg(e::text, '|' ORDER BY experiment_id)) FROM mlops.experiments_overview e;
SELECT 'artifacts ' || md5(string_agg(a::text, '|' ORDER BY run_id, path)) FROM mlops.artifacts a;
SELECT 'inputs ' || md5(string_agg(i::text, '|' ORDER BY input_id)) FROM mlops.run_inputs i;
SELECT 'model_versions ' || md5(string_agg(v::text, '|' ORDER BY version_id)) FROM mlops.model_versions_overview v;
SELECT 'registry_events ' || md5(string_agg(e::text, '|' ORDER BY event_id)) FROM mlops.registry_events e;
SELECT 'job_runs ' || md5(string_agg((j.job_run_id, j.job_name, j.status, j.rows_in, j.rows_scored, j.rows_failed,
                                      j.model_version, j.scoring, j.error)::text, '|' ORDER BY job_run_id))
  FROM mlops.job_runs j WHERE j.job_name <> 'upgrade-skipped';
-- (0.8.0 adds a column, note, at the end: the columns 0.1.0 had are compared)
SELECT 'latest_job_runs ' || md5(string_agg((j.job_name, j.kind, j.job_run_id, j.status, j.model_version, j.rows_in,
                                             j.rows_scored, j.rows_failed, j.started_at, j.finished_at, j.duration,
                                             j.error, j.scoring)::text, '|' ORDER BY job_name))
  FROM mlops.latest_job_runs j WHERE j.job_name <> 'upgrade-skipped';
SELECT 'job_runs_daily ' || md5(string_agg(j::text, '|' ORDER BY job_name)) FROM mlops.job_runs_daily j;
SELECT 'batch_rejects ' || md5(string_agg(r::text, '|' ORDER BY row_key::text)) FROM mlops.batch_rejects r;
SELECT 'schedules ' || string_agg(format('%s %s %s %s', s.name, s.model, s.target, s.last_status), '|')
  FROM mlops.schedules_overview s;
SELECT 'predict ' || v.model_name || ':' || v.version || ' '
       || (SELECT sum(mlops.predict(v.model_name || ':' || v.version, f.x)) FROM features f WHERE f.id <> 5) || ' '
       || (SELECT sum(mlops.predict(v.model_name || ':' || v.version,
                                    jsonb_build_object('tenure', f.tenure, 'charges', f.charges, 'contract', f.contract)))
             FROM features f)
  FROM mlops.model_versions_overview v ORDER BY v.version_id;
SELECT 'scores ' || md5(string_agg((s.id, s.prediction, s.model_version)::text, '|' ORDER BY id)) FROM scores s;
SQL
}
before=$(fingerprint)
echo "made with $from: $(q -c "SELECT format('%s runs, %s versions, %s job runs, %s rejects, %s schedule',
                                            (SELECT count(*) FROM mlops.runs), (SELECT count(*) FROM mlops.model_versions),
                                            (SELECT count(*) FROM mlops.job_runs), (SELECT count(*) FROM mlops.batch_rejects),
                                            (SELECT count(*) FROM mlops.schedules))")"

# ---- 2. update: the same data reads the same
q -c "ALTER EXTENSION mlops UPDATE TO '$to'" >/dev/null
[ "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'mlops'")" = "$to" ] || fail "not at $to"
after=$(fingerprint)
diff <(echo "$before") <(echo "$after") || fail "the data reads differently after the update"
# 0.8.0: a succeeded run has no error; what it said is its note now
if [ "$(printf '%s\n' "$to" 0.8.0 | sort -V | head -1)" = 0.8.0 ]; then
    [ "$(q -c "SELECT status || '|' || coalesce(error, 'no error') || '|' || note FROM mlops.job_runs
                WHERE job_name = 'upgrade-skipped'")" = "succeeded|no error|nothing to do" ] \
        || fail "a succeeded run's error was not moved to its note: $(q -c "SELECT * FROM mlops.job_runs WHERE job_name = 'upgrade-skipped'")"
fi
echo "updated to $to: $(echo "$after" | wc -l) fingerprints equal, e.g."
echo "$after" | grep '^predict ' | sed 's/^/    /'

# ---- 3. the updated extension is a fresh install's, object for object
describe() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
-- functions, procedures and aggregates: definition, properties, privileges
SELECT 'routine ' || p.oid::regprocedure || ' ' || p.prokind::text || ' ' || p.provolatile::text || p.proparallel::text
       || CASE WHEN p.prosecdef THEN ' definer' ELSE '' END || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END
       || ' returns ' || pg_get_function_result(p.oid) || ' args ' || pg_get_function_arguments(p.oid)
       || ' config ' || coalesce(array_to_string(p.proconfig, ','), '')
       || ' acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a), 'default')
       || ' body ' || md5(CASE WHEN p.prokind = 'a' THEN '' ELSE coalesce(p.prosrc, '') || coalesce(pg_get_function_sqlbody(p.oid), '') END)
  FROM pg_proc p WHERE p.pronamespace = 'mlops'::regnamespace;
SELECT 'aggregate ' || a.aggfnoid::regprocedure || ' ' || a.aggtransfn || ' ' || a.aggcombinefn || ' ' || a.aggserialfn
       || ' ' || a.aggdeserialfn || ' ' || a.aggfinalfn || ' ' || a.aggtranstype::regtype
  FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid WHERE p.pronamespace = 'mlops'::regnamespace;
-- relations: kind, privileges, row security, storage of columns
SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' rls ' || c.relrowsecurity
       || ' acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a), 'default')
  FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace;
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' #' || rank() OVER (PARTITION BY c.oid ORDER BY a.attnum)
       || ' notnull ' || a.attnotnull || ' identity ' || a.attidentity::text || ' generated ' || a.attgenerated::text
       || ' storage ' || a.attstorage::text || ' default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'mlops'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped;
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'mlops'::regnamespace;
SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'mlops'::regnamespace;
SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' '
       || coalesce(qual, '') || ' ' || coalesce(with_check, '')
  FROM pg_policies WHERE schemaname = 'mlops';
SELECT 'view ' || c.relname || ' ' || md5(pg_get_viewdef(c.oid)) FROM pg_class c
 WHERE c.relnamespace = 'mlops'::regnamespace AND c.relkind = 'v';
SELECT 'trigger ' || tgrelid::regclass || ' ' || tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'mlops'::regnamespace AND NOT t.tgisinternal;
-- what pg_dump dumps, what belongs to the extension, and the schema
SELECT 'dumped ' || t::regclass || ' ' || coalesce(c, '')
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(t, c) WHERE e.extname = 'mlops';
SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'mlops';
SELECT 'schema acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a), 'default')
  FROM pg_namespace n WHERE n.nspname = 'mlops';
SQL
}
psql -X -q -d postgres -c "CREATE DATABASE \"$fresh_db\"" >/dev/null
psql -X -q -d "$fresh_db" -c "CREATE EXTENSION mlops" >/dev/null
describe "$PGDATABASE" | sort >"/tmp/upgrade_updated_$$.txt"
describe "$fresh_db" | sort >"/tmp/upgrade_fresh_$$.txt"
if ! diff "/tmp/upgrade_fresh_$$.txt" "/tmp/upgrade_updated_$$.txt" >"/tmp/upgrade_diff_$$.txt"; then
    sed 's/^/    /' "/tmp/upgrade_diff_$$.txt" | head -60
    rm -f /tmp/upgrade_*_$$.txt
    fail "the updated extension differs from a fresh install of $to ('<' fresh, '>' updated)"
fi
echo "catalog: $(wc -l <"/tmp/upgrade_fresh_$$.txt") objects and properties, identical to a fresh install of $to"
rm -f /tmp/upgrade_*_$$.txt

# ---- 4. what this version added works on the updated database
q <<'SQL' >/dev/null
SELECT mlops.set_model_version_tag('upgrade_lr', 2, 'validated', 'yes');
SELECT mlops.transition_model_stage('upgrade_lr', 2, 'staging');
SELECT mlops.log_metric(run_id, 'late_auc', 0.8) FROM mlops.runs WHERE run_name = 'trained';
CALL mlops.batch_score('upgrade_lr:1', 'features', 'scores_by_name', exclude_columns => ARRAY['x']);
SQL
[ "$(q -c "SELECT count(*) FROM scores_by_name")" = 300 ] || fail "batch_score by name after the update"
[ "$(q -c "SELECT mlops.schedule_state('upgrade-nightly')")" = "no pg_cron" ] || fail "schedule_state after the update"
echo "new functions work on the updated database"
echo "upgrade ok"
