-- Retraining policies: the closed loop (a window, a new version as the
-- challenger, a release, a promotion), every step recorded.  Errors print
-- without their CONTEXT: it names PL/pgSQL line numbers, which move with
-- every edit of the routines.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE ROLE retrain_admin IN ROLE mlops_admin;
CREATE ROLE retrain_writer IN ROLE mlops_writer;
CREATE ROLE retrain_other IN ROLE mlops_admin;
CREATE TABLE obs (id int, ts timestamptz, x1 float8, x2 float8, y float8);
GRANT SELECT, INSERT, DELETE, UPDATE ON obs TO retrain_admin;
-- rows an hour apart; older than three days: y = 3 x1 - 2 x2; the last
-- three days: y = -3 x1 + 2 x2 + 10 (the world changed)
INSERT INTO obs
SELECT g, now() - g * interval '1 hour', (g * 37 % 100) / 10.0, (g * 71 % 50) / 10.0,
       CASE WHEN g < 72 THEN -3 * ((g * 37 % 100) / 10.0) + 2 * ((g * 71 % 50) / 10.0) + 10
            ELSE 3 * ((g * 37 % 100) / 10.0) - 2 * ((g * 71 % 50) / 10.0) END + ((g * 13 % 7) - 3) / 100.0
  FROM generate_series(0, 399) g;
-- what each cycle did, for the checks below
CREATE FUNCTION cycle_summary(r jsonb) RETURNS TABLE (decision text, version text, champion text, rows text,
                                                       held_out boolean, challenger_better boolean)
LANGUAGE sql RETURN (SELECT ROW(r ->> 'decision', r ->> 'version', r ->> 'champion', r ->> 'rows',
                                (r ->> 'held_out_rows')::int > 0,
                                (r ->> 'challenger_value')::float8 < (r ->> 'champion_value')::float8));
CREATE VIEW aliases AS
SELECT m.name AS model, a.alias, v.version
  FROM mlops.model_aliases a JOIN mlops.model_versions v USING (version_id) JOIN mlops.registered_models m
    ON m.model_id = a.model_id
 WHERE m.name LIKE 'demand%'
 ORDER BY 1, 2;
GRANT SELECT ON aliases TO PUBLIC;

SET ROLE retrain_admin;
-- the champion, trained on the old world
SELECT mlops.train('demand', 'SELECT x1, x2, y FROM obs WHERE id >= 72', 'y') AS version;
SELECT mlops.set_model_alias('demand', 'champion', 1);

-- 1. compare: the challenger, trained on the last three days, beats the
-- champion on their held-out rows by more than the margin: promoted
SELECT mlops.create_retraining_policy('demand_daily', 'demand', 'obs', 'y', time_column => 'ts',
                                      training_window => '3 days', margin => 0.1) > 0 AS created;
CALL mlops.retrain('demand_daily') \gset
SELECT * FROM cycle_summary(:'result');
SELECT * FROM aliases;
SELECT step, version, left(detail ->> 'reason', 70) AS reason FROM mlops.retraining_events ORDER BY event_id;
-- the training run has both models' held-out rmse and the policy's tag;
-- the challenger's, computed in SQL, is the one mlops.train logged
SELECT m.key, m.value < 1 AS small FROM mlops.latest_metrics m JOIN mlops.model_versions_overview v USING (run_id)
 WHERE v.model_name = 'demand' AND v.version = 2 AND m.key IN ('rmse', 'champion_rmse', 'challenger_rmse') ORDER BY m.key;
SELECT abs(max(value) FILTER (WHERE key = 'rmse') - max(value) FILTER (WHERE key = 'challenger_rmse')) < 1e-9 AS same_rmse
  FROM mlops.latest_metrics m JOIN mlops.model_versions_overview v USING (run_id)
 WHERE v.model_name = 'demand' AND v.version = 2;
SELECT key, value FROM mlops.run_tags t JOIN mlops.model_versions_overview v USING (run_id)
 WHERE v.model_name = 'demand' AND v.version = 2 AND key LIKE 'mlops.retraining%' ORDER BY key;
-- the promotion is in registry_events, the cycle one job run
SELECT event, alias, from_value, to_value, actor FROM mlops.registry_events
 WHERE event = 'alias_set' AND model_name = 'demand' ORDER BY event_id;
SELECT job_name, kind, status, rows_in, rows_in > rows_scored AS held_out_fewer, error, target, left(note, 32) AS note
  FROM mlops.job_runs_overview WHERE kind = 'retrain' ORDER BY job_run_id;

-- 2. the next cycle trains on the same world: no better than the champion
-- by the margin, so the champion stays (the new version is the challenger)
CALL mlops.retrain('demand_daily') \gset
SELECT * FROM cycle_summary(:'result');
SELECT * FROM aliases;
SELECT step, version, left(detail ->> 'reason', 50) AS reason FROM mlops.retraining_events
 WHERE step IN ('promoted', 'kept') ORDER BY event_id;

-- 3. failures leave the champion serving, and say why: an empty window
\set VERBOSITY terse
UPDATE obs SET ts = ts - interval '1 year';
CALL mlops.retrain('demand_daily');
SELECT * FROM aliases;
SELECT step, detail ->> 'step' AS at_step, detail ->> 'sqlstate' AS sqlstate, detail ->> 'error' AS error
  FROM mlops.retraining_events WHERE step = 'failed';
SELECT status, split_part(error, E'\n', 1) AS error FROM mlops.job_runs WHERE kind = 'retrain'
 ORDER BY job_run_id DESC LIMIT 1;
UPDATE obs SET ts = ts + interval '1 year';
-- a target the training cannot take (text, for a regression): the same
SELECT mlops.create_retraining_policy('demand_bad', 'demand', 'SELECT ts, x1, x2, y::text AS y FROM obs', 'y',
                                      time_column => 'ts', training_window => '3 days', algorithm => 'ridge') > 0 AS created;
CALL mlops.retrain('demand_bad');
SELECT policy, step, detail ->> 'error' AS error FROM mlops.retraining_events WHERE policy = 'demand_bad' ORDER BY event_id;
SELECT * FROM aliases;
SELECT policy, last_status, last_outcome, champion_version, challenger_version, left(last_error, 40) AS last_error,
       left(last_note, 22) AS last_note
  FROM mlops.retraining_policies_overview ORDER BY policy;

\set VERBOSITY default

-- 4. a shadow release: the champion (pinned) serves, the challenger scores beside it
SELECT mlops.create_retraining_policy('demand_shadow', 'demand', 'obs', 'y', time_column => 'ts',
                                      training_window => '3 days', release => 'shadow') > 0 AS created;
CALL mlops.retrain('demand_shadow') \gset
SELECT r.decision, r.version, r.champion FROM cycle_summary(:'result') r;
SELECT ab_test, kind, status, variants FROM mlops.ab_tests_overview WHERE ab_test LIKE 'demand%';
SELECT mlops.conclude_retraining('demand_shadow');
-- a new cycle stops the earlier shadow release and starts another
CALL mlops.retrain('demand_shadow') \gset
SELECT ab_test, status FROM mlops.ab_tests_overview WHERE ab_test LIKE 'demand%' ORDER BY ab_test;
SELECT step, version, detail ->> 'ab_test' AS ab_test FROM mlops.retraining_events
 WHERE policy = 'demand_shadow' AND step IN ('released', 'stopped') ORDER BY event_id;

-- 5. an ab release, concluded by promote_ab_winner on its outcome metric
SELECT mlops.create_retraining_policy('demand_ab', 'demand', 'obs', 'y', time_column => 'ts',
                                      training_window => '3 days', release => 'ab',
                                      release_options => '{"metric": "sold"}') > 0 AS created;
CALL mlops.retrain('demand_ab') \gset
SELECT :'result'::jsonb ->> 'ab_test' AS ab_test \gset
SELECT mlops.conclude_retraining('demand_ab') ->> 'decision' AS too_early;
SELECT count(mlops.ab_assign(:'ab_test', 'u' || g)) FROM generate_series(1, 400) g;
RESET ROLE;
INSERT INTO mlops.ab_outcomes (unit_id, metric, observed_at, value)
SELECT a.unit_id, 'sold', '2100-01-01', CASE WHEN a.variant = 1 THEN 1 ELSE (substr(a.unit_id, 2)::int % 2) END
  FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = :'ab_test';
SET ROLE retrain_admin;
SELECT d ->> 'decision' AS decision, d ->> 'message' AS message FROM mlops.conclude_retraining('demand_ab') d;
SELECT * FROM aliases;

-- 6. a classifier, compared on held-out roc_auc (and its log_loss as train logs it)
SELECT mlops.create_retraining_policy('high_demand', 'demand_high', 'SELECT x1, x2, y > 5 AS high FROM obs', 'high',
                                      metric => 'roc_auc') > 0 AS created;
CALL mlops.retrain('high_demand') \gset
SELECT r.decision, r.version, r.champion FROM cycle_summary(:'result') r;
-- the same rows again: the same model, no better than the champion
CALL mlops.retrain('high_demand') \gset
SELECT r.decision, r.version, r.champion, (:'result'::jsonb ->> 'challenger_value')::float8
                                          = (:'result'::jsonb ->> 'champion_value')::float8 AS tie
  FROM cycle_summary(:'result') r;
SELECT abs(max(value) FILTER (WHERE key = 'roc_auc') - max(value) FILTER (WHERE key = 'challenger_roc_auc')) < 1e-9
       AS same_roc_auc
  FROM mlops.latest_metrics m JOIN mlops.model_versions_overview v USING (run_id)
 WHERE v.model_name = 'demand_high' AND v.version = 2;

-- 7. arguments
SELECT mlops.create_retraining_policy('p', 'demand', 'obs', 'y', trigger => 'drift');
SELECT mlops.create_retraining_policy('p', 'demand', 'obs', 'y', release => 'canary');
SELECT mlops.create_retraining_policy('p', 'demand', 'obs', 'y', release => 'ab');
SELECT mlops.create_retraining_policy('p', 'demand', 'obs', 'y', time_column => 'ts');
SELECT mlops.create_retraining_policy('p', 'demand', 'obs', 'y', metric => 'auc');
SELECT mlops.create_retraining_policy('p', 'demand', 'obs', 'y', test_size => 0);
SELECT mlops.create_retraining_policy('p', 'demand', 'obs', 'y', release_options => '{"weights": [0.5, 0.5]}');
SELECT mlops.create_retraining_policy('demand_daily', 'demand', 'obs', 'y');
SELECT mlops.create_retraining_policy('p q', 'demand', 'obs', 'y');
-- a failure after training: the challenger moved, the champion did not
SELECT mlops.create_retraining_policy('p', 'demand', 'SELECT x1, x2, y FROM obs', 'y', metric => 'accuracy') > 0 AS created;
CALL mlops.retrain('p');
SELECT * FROM aliases;
SELECT step, detail ->> 'step' AS at_step, detail ->> 'error' AS error FROM mlops.retraining_events
 WHERE policy = 'p' ORDER BY event_id;
CALL mlops.retrain('nope');

-- 8. roles: a writer cannot make or run policies (they move aliases);
-- another admin cannot run, schedule, conclude or drop someone else's
SET ROLE retrain_writer;
SELECT mlops.create_retraining_policy('w', 'demand', 'obs', 'y');
CALL mlops.retrain('demand_daily');
SELECT count(*) > 0 AS writer_reads FROM mlops.retraining_events;
SET ROLE retrain_other;
CALL mlops.retrain('demand_daily');
SELECT mlops.drop_retraining_policy('demand_daily');
SELECT mlops.conclude_retraining('demand_daily');
SELECT mlops._retraining_event(1, 'demand_daily', 'promoted', 1, '{}');
INSERT INTO mlops.retraining_events (policy_id, policy, step, actor) VALUES (1, 'demand_daily', 'promoted', 'x');
SET ROLE retrain_admin;
SELECT mlops.drop_retraining_policy('demand_bad');
SELECT policy, step FROM mlops.retraining_events WHERE step IN ('created', 'dropped') ORDER BY event_id;
RESET ROLE;
-- A feature service as the features: the window is of the entity source (labels at
-- their times), the training set its point-in-time join, the held-out flag carried through
CREATE TABLE obs_features AS SELECT id, ts, x1, x2 FROM obs;
CREATE TABLE obs_labels AS SELECT id, ts AS event_timestamp, y FROM obs;
GRANT SELECT ON obs_features, obs_labels TO retrain_admin;
SET ROLE retrain_admin;
SELECT mlops.create_entity('obs_unit', ARRAY['id']) > 0 AS entity;
SELECT mlops.create_feature_view('obs_view', ARRAY['obs_unit'], 'obs_features', 'ts') > 0 AS view;
SELECT mlops.create_feature_service('obs_service', ARRAY['obs_view:x1', 'obs_view:x2']) > 0 AS service;
SELECT mlops.create_retraining_policy('demand_fs', 'demand_fs', 'obs_labels', 'y', features => ARRAY['obs_service'],
                                      time_column => 'event_timestamp', training_window => '3 days') > 0 AS created;
CALL mlops.retrain('demand_fs') \gset
SELECT * FROM cycle_summary(:'result');
SELECT step, version FROM mlops.retraining_events WHERE policy = 'demand_fs' ORDER BY event_id;
-- the run trained on the service's features, its input the training set of the window's 72 rows
SELECT o.params ->> 'mlops.features' AS features, i.relation_name, i.row_count,
       (o.metrics ->> 'train_rows')::int + (o.metrics ->> 'test_rows')::int AS rows
  FROM mlops.runs_overview o JOIN mlops.run_inputs i USING (run_id)
 WHERE o.experiment_name = 'demand_fs';
-- it learned the new world: y = -3 x1 + 2 x2 + 10 at x1 = 1, x2 = 1 is 9
SELECT round(mlops.predict('demand_fs@champion', '{"x1": 1, "x2": 1}'::jsonb)::numeric, 1) AS "9";
RESET ROLE;

-- the roles are the cluster's: leave none behind (the policies name them as text)
DROP OWNED BY retrain_admin, retrain_writer, retrain_other;
DROP ROLE retrain_admin;
DROP ROLE retrain_writer;
DROP ROLE retrain_other;
