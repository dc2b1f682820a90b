-- Batch scoring jobs: the target, slices and retries, bad rows (fail or
-- reject), a failure leaving the target as it was, the job-runs table and
-- its views, and the scheduling functions without pg_cron.  (Real pg_cron
-- firing and a cancelled run are in tests/integration/batch_schedule.sh.)
\set SHOW_CONTEXT never
\set lr '{"format": "mlops.model/v1", "task": "binary", "classes": ["stay", "churn"], "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric", "impute": 0}], "model": {"type": "linear", "coef": [1, -1], "link": "logistic"}}'
SELECT mlops.register_model_version('batchy', :'lr');
SELECT mlops.set_model_alias('batchy', 'champion', 1);
-- p = sigmoid(a - b): for customer g, a = g / 10, b = 1
CREATE TABLE customers AS
SELECT g AS customer_id, 'r' || (g % 2) AS region, ARRAY[g / 10.0, 1]::float8[] AS x,
       g / 10.0 AS a, 1.0::float8 AS b
  FROM generate_series(1, 20) g;

-- a new target is created; the run is recorded
CALL mlops.batch_score('batchy@champion', 'customers', 'churn_scores',
                       key_columns => ARRAY['customer_id'], features => 'x',
                       outputs => ARRAY['prediction', 'probabilities', 'class']);
SELECT customer_id, round(prediction::numeric, 6) AS p, class, model_version, slice
  FROM churn_scores WHERE customer_id IN (1, 10, 20) ORDER BY customer_id;
-- at customer 10: a - b = 0, p = 0.5, the first class; customer 20: sigmoid(1) = 0.731059
SELECT job_name, kind, model_ref, model_version, source, target, rows_in, rows_scored, rows_failed, status,
       error, run_by, finished_at >= started_at AS timed
  FROM mlops.job_runs ORDER BY job_run_id;

-- a retried run replaces its slice: still 20 rows
CALL mlops.batch_score('batchy@champion', 'customers', 'churn_scores',
                       key_columns => ARRAY['customer_id'], features => 'x');
SELECT count(*) AS rows_after_retry FROM churn_scores;
-- slices: two days side by side, each replaced by its own retry
CALL mlops.batch_score('batchy', 'customers', 'daily_scores', key_columns => ARRAY['customer_id'],
                       features => 'x', slice => '2026-11-24');
CALL mlops.batch_score('batchy', 'customers', 'daily_scores', key_columns => ARRAY['customer_id'],
                       features => 'x', slice => '2026-11-25');
CALL mlops.batch_score('batchy', 'customers', 'daily_scores', key_columns => ARRAY['customer_id'],
                       features => 'x', slice => '2026-11-25');
SELECT slice, count(*) FROM daily_scores GROUP BY slice ORDER BY slice;
-- append mode adds
CALL mlops.batch_score('batchy', 'customers', 'daily_scores', key_columns => ARRAY['customer_id'],
                       features => 'x', slice => '2026-11-25', mode => 'append');
SELECT slice, count(*) FROM daily_scores GROUP BY slice ORDER BY slice;

-- features by name: each row as jsonb, without its key columns
CALL mlops.batch_score('batchy', 'SELECT customer_id, a, b FROM customers WHERE customer_id <= 3',
                       'by_name_scores', key_columns => ARRAY['customer_id']);
SELECT customer_id, round(prediction::numeric, 6) AS p FROM by_name_scores ORDER BY customer_id;

-- bad rows: the run fails, naming the first; the target is left as it was
UPDATE customers SET x = ARRAY[1]::float8[] WHERE customer_id = 7;
UPDATE customers SET x = ARRAY[NULL, 1]::float8[] WHERE customer_id = 8;     -- a has no imputation
SELECT count(*) AS before, sum(prediction) AS sum_before FROM churn_scores \gset
CALL mlops.batch_score('batchy', 'customers', 'churn_scores', key_columns => ARRAY['customer_id'], features => 'x');
SELECT count(*) = :before AS same_rows, sum(prediction) = :sum_before AS same_values FROM churn_scores;
SELECT status, rows_in, rows_scored, rows_failed, error FROM mlops.job_runs ORDER BY job_run_id DESC LIMIT 1;
-- ... or scores the others and sets the bad ones aside with the reason
CALL mlops.batch_score('batchy', 'customers', 'churn_scores', key_columns => ARRAY['customer_id'],
                       features => 'x', on_error => 'reject');
SELECT count(*) AS scored FROM churn_scores;
SELECT r.row_key, r.reason FROM mlops.batch_rejects r
  JOIN mlops.job_runs j USING (job_run_id) WHERE j.job_run_id = (SELECT max(job_run_id) FROM mlops.job_runs)
 ORDER BY r.row_key;
-- a NULL feature vector is a bad row too
UPDATE customers SET x = NULL WHERE customer_id = 9;
SELECT mlops.feature_problem('batchy', x) AS problem FROM customers WHERE customer_id = 9;
SELECT mlops.feature_problem('batchy', x) IS NULL AS fine FROM customers WHERE customer_id = 1;

-- bad arguments
CALL mlops.batch_score('batchy', 'no_such_table', 'x_scores', features => 'x');
CALL mlops.batch_score('nope', 'customers', 'x_scores', features => 'x');
CALL mlops.batch_score('batchy', 'customers', 'x_scores', features => 'x', mode => 'merge');
CALL mlops.batch_score('batchy', 'customers', 'x_scores', features => 'x', on_error => 'ignore');
CALL mlops.batch_score('batchy', 'customers', 'x_scores', features => 'x', outputs => ARRAY['score']);
CALL mlops.batch_score('batchy', 'customers', 'x_scores', key_columns => ARRAY[]::text[]);
CALL mlops.batch_score('batchy', 'customers', NULL);
CALL mlops.batch_score('batchy', 'customers', 'x_scores', key_columns => ARRAY['customer_id'], features => 'no_column');
-- a hostile target name is refused, or quoted when it is a quoted identifier: never executed
CALL mlops.batch_score('batchy', 'SELECT customer_id, x FROM customers WHERE customer_id <= 2',
                       'scores; DROP TABLE customers', key_columns => ARRAY['customer_id'], features => 'x');
CALL mlops.batch_score('batchy', 'SELECT customer_id, x FROM customers WHERE customer_id <= 2',
                       '"scores; DROP TABLE customers"', key_columns => ARRAY['customer_id'], features => 'x');
SELECT count(*) AS customers_still_there FROM customers;
SELECT count(*) AS oddly_named_target FROM "scores; DROP TABLE customers";

-- the monitoring views
SELECT job_name, status, rows_in, rows_scored, rows_failed FROM mlops.latest_job_runs ORDER BY job_name;
SELECT job_name, runs, succeeded, failed, cancelled, rows_scored, rows_failed FROM mlops.job_runs_daily ORDER BY job_name;
SELECT model_version, rows_scored, runs FROM mlops.rows_scored_daily ORDER BY model_version;
SELECT job_name, status, left(error, 50) AS error FROM mlops.job_failures ORDER BY job_run_id;

-- schedules need pg_cron in this database: a clear error and how to get it
SELECT mlops.schedule_batch_score('nightly', '0 3 * * *', 'batchy', 'customers', 'nightly_scores');
SELECT mlops.pause_schedule('nightly');
SELECT count(*) AS schedules FROM mlops.schedules;

-- roles: the reader cannot run batch jobs (they write tables)
SET ROLE mlops_reader;
CALL mlops.batch_score('batchy', 'customers', 'reader_scores', features => 'x');
RESET ROLE;

-- How rows are scored: linear models and MLPs in chunks of rows (matrix
-- products), big tree models in parallel into a staging table, the rest row
-- by row; job_runs says which.  Every path must give predict()'s values.
CREATE TABLE grid AS
SELECT g AS id, ARRAY[(g - 50) / 10.0, (g % 7) / 3.0]::float8[] AS x FROM generate_series(1, 100) g;
-- a small MLP, checked against the formula by hand: h1 = relu(a + 2b),
-- h2 = relu(-a + b/2 - 1), p = sigmoid(h1 - 2 h2 + 1/2)
SELECT mlops.register_model_version('tiny_mlp', '{"format": "mlops.model/v1", "task": "binary", "classes": ["no", "yes"],
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
  "model": {"type": "mlp", "hidden_activation": "relu", "output_activation": "logistic",
            "layers": [{"weights": [[1, -1], [2, 0.5]], "bias": [0, -1]}, {"weights": [[1], [-2]], "bias": [0.5]}]}}');
SET mlops.batch_chunk_rows = 7;     -- many chunks and a short last one
CALL mlops.batch_score('tiny_mlp:1', 'grid', 'mlp_scores', features => 'x', outputs => ARRAY['prediction', 'class']);
RESET mlops.batch_chunk_rows;
SELECT count(*) AS rows,
       max(abs(s.prediction - 1 / (1 + exp(-(greatest(0, x[1] + 2 * x[2]) - 2 * greatest(0, -x[1] + x[2] / 2 - 1) + 0.5)))))
           < 1e-15 AS equal_to_hand,
       bool_and(s.class = CASE WHEN s.prediction > 0.5 THEN 'yes' ELSE 'no' END) AS classes_agree
  FROM mlp_scores s JOIN grid USING (id);
-- a multiclass linear model: probabilities and classes equal predict_proba() and predict_class()
SELECT mlops.register_model_version('three_way', '{"format": "mlops.model/v1", "task": "multiclass", "classes": ["r", "g", "b"],
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
  "model": {"type": "linear", "coef": [[1, 0], [0, 1], [-1, -1]], "intercept": [0, 0.5, 0], "link": "softmax"}}');
CALL mlops.batch_score('three_way:1', 'grid', 'three_way_scores', features => 'x', outputs => ARRAY['probabilities', 'class']);
SELECT count(*) AS rows,
       max((SELECT max(abs(p - q)) FROM unnest(s.probabilities, mlops.predict_proba('three_way:1', x)) AS u(p, q)))
           < 1e-15 AS probabilities_agree,
       bool_and(s.class = mlops.predict_class('three_way:1', x)) AS classes_agree,
       count(DISTINCT s.class) AS classes_seen
  FROM three_way_scores s JOIN grid USING (id);
-- 300 stumps on a: the prediction is how many thresholds a is at or below
CREATE TABLE stump_thresholds AS SELECT i, (i - 150) / 30.0::float8 AS t FROM generate_series(1, 300) i;
SELECT mlops.register_model_version('stumps', jsonb_build_object(
  'format', 'mlops.model/v1', 'task', 'regression',
  'features', '[{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}]'::jsonb,
  'model', jsonb_build_object('type', 'trees', 'link', 'identity', 'trees', (
      SELECT jsonb_agg(jsonb_build_object('feature', jsonb_build_array(0, -1, -1), 'threshold', jsonb_build_array(t, 0, 0),
                                          'left', '[1, -1, -1]'::jsonb, 'right', '[2, -1, -1]'::jsonb,
                                          'value', '[0, 1, 0]'::jsonb) ORDER BY i)
        FROM stump_thresholds)))::text);
-- on a table this small the planner needs persuading to use workers
SET min_parallel_table_scan_size = 0;
SET parallel_setup_cost = 0;
CALL mlops.batch_score('stumps:1', 'grid', 'stump_scores', features => 'x');
SELECT count(*) AS rows,
       bool_and(s.prediction = (SELECT count(*) FROM stump_thresholds WHERE x[1] <= t)) AS equal_to_hand
  FROM stump_scores s JOIN grid USING (id);
-- a bad row in the parallel path: rejected like any other
UPDATE grid SET x = ARRAY[1, 2, 3]::float8[] WHERE id = 42;
CALL mlops.batch_score('stumps:1', 'grid', 'stump_scores', features => 'x', on_error => 'reject');
SELECT count(*) AS rows FROM stump_scores;
RESET min_parallel_table_scan_size;
RESET parallel_setup_cost;
-- without workers, the same stumps go row by row
SET max_parallel_workers_per_gather = 0;
CALL mlops.batch_score('stumps:1', 'grid', 'stump_scores', features => 'x', on_error => 'reject');
RESET max_parallel_workers_per_gather;
SELECT job_name, model_version, scoring, status, rows_in, rows_scored, rows_failed
  FROM mlops.job_runs WHERE job_run_id > (SELECT max(job_run_id) - 5 FROM mlops.job_runs) ORDER BY job_run_id;

-- an MLP whose one-hot input is more than 4 times wider than its features goes row by row,
-- where only the set columns are multiplied
SELECT mlops.register_model_version('wide_onehot_mlp', json_build_object(
  'format', 'mlops.model/v1', 'task', 'regression',
  'features', json_build_array(json_build_object('name', 'c', 'type', 'categorical',
      'categories', (SELECT json_agg('k' || i) FROM generate_series(0, 9) i))),
  'model', json_build_object('type', 'mlp', 'hidden_activation', 'relu', 'output_activation', 'identity',
      'layers', json_build_array(json_build_object('weights', (SELECT json_agg(json_build_array(i, -i)) FROM generate_series(0, 9) i),
                                                   'bias', json_build_array(0, 0)),
                                 json_build_object('weights', json_build_array(json_build_array(1), json_build_array(1)),
                                                   'bias', json_build_array(0)))))::text);
CALL mlops.batch_score('wide_onehot_mlp:1', 'SELECT id, jsonb_build_object(''c'', ''k'' || (id % 10)) AS f FROM grid',
                       'wide_onehot_scores', features => 'f');
SELECT count(*) AS rows, count(*) FILTER (WHERE prediction = id % 10) AS equal_to_hand FROM wide_onehot_scores;

-- a single-output linear model goes row by row: chunks would not make a dot product faster
SELECT model_version, scoring, count(*) AS runs FROM mlops.job_runs
 WHERE status = 'succeeded' GROUP BY 1, 2 ORDER BY 1, 2;

-- a NULL feature vector is a bad row for every path, not a NULL prediction
UPDATE grid SET x = NULL WHERE id = 43;
CALL mlops.batch_score('tiny_mlp:1', 'grid', 'mlp_scores', features => 'x');
CALL mlops.batch_score('tiny_mlp:1', 'grid', 'mlp_scores', features => 'x', on_error => 'reject');
SELECT r.row_key, r.reason FROM mlops.batch_rejects r
 WHERE r.job_run_id = (SELECT max(job_run_id) FROM mlops.job_runs) ORDER BY r.row_key;
SELECT count(*) AS rows, count(prediction) AS predictions FROM mlp_scores;
-- ... and for the tree paths, row by row and in parallel
SET max_parallel_workers_per_gather = 0;
CALL mlops.batch_score('stumps:1', 'grid', 'stump_scores', features => 'x');
RESET max_parallel_workers_per_gather;
SET min_parallel_table_scan_size = 0;
SET parallel_setup_cost = 0;
CALL mlops.batch_score('stumps:1', 'grid', 'stump_scores', features => 'x', on_error => 'reject');
RESET min_parallel_table_scan_size;
RESET parallel_setup_cost;
SELECT scoring, status, rows_in, rows_scored, rows_failed FROM mlops.job_runs ORDER BY job_run_id DESC LIMIT 2;
SELECT count(*) AS rows, count(prediction) AS predictions FROM stump_scores;
-- the staging table is gone with the run
SELECT count(*) AS staging_tables_left FROM pg_class WHERE relname LIKE 'mlops_batch_stage_%';

-- an existing target whose key has another type than the source's: cast as INSERT would
CREATE TABLE wide_key_scores (id bigint, prediction float8, probabilities float8[], class text,
                              version_id bigint, model_version text, scored_at timestamptz, slice text);
CALL mlops.batch_score('tiny_mlp:1', 'SELECT id, x FROM grid WHERE id <= 10', 'wide_key_scores', features => 'x');
SELECT count(*) AS rows FROM wide_key_scores;

-- _score_query is internal, but must not crash on misuse
SELECT mlops._score_query('tiny_mlp:1', 'SELECT id, x FROM grid', 1, '{prediction}');
SELECT * FROM mlops._score_query('tiny_mlp:1', 'SELECT id, x FROM grid', 1, '{prediction}') AS r(id int);
SELECT * FROM mlops._score_query('tiny_mlp:1', 'SELECT id, x FROM grid', 1, '{prediction}') AS r(id int, p text);
SELECT * FROM mlops._score_query('tiny_mlp:1', 'SELECT id, x FROM grid', 1, '{score}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('tiny_mlp:1', 'SELECT id::text, x FROM grid', 1, '{prediction}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('tiny_mlp:1', 'SELECT id, x::text FROM grid', 1, '{prediction}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('tiny_mlp:1', 'SELECT id FROM grid', 1, '{prediction}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('tiny_mlp:1', 'DELETE FROM grid', 1, '{prediction}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('tiny_mlp:1', 'SELECT id, x FROM grid', 1, NULL) AS r(id int, p float8);
SELECT * FROM mlops._score_query('no_such_model', 'SELECT id, x FROM grid', 1, '{prediction}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('tiny_mlp:1', 'SELECT id, x FROM grid WHERE id < 3', 1, '{prediction}') AS r(id int, p float8);
SELECT count(*) AS grid_rows FROM grid;

-- a writer without superuser runs every path (temporary staging table, cursor, settings)
SET client_min_messages = warning;     -- left over from an interrupted run, or not
DROP ROLE IF EXISTS regress_batch_writer;
RESET client_min_messages;
CREATE ROLE regress_batch_writer IN ROLE mlops_writer;
GRANT SELECT ON grid TO regress_batch_writer;
GRANT CREATE ON SCHEMA public TO regress_batch_writer;
UPDATE grid SET x = ARRAY[(id - 50) / 10.0, (id % 7) / 3.0]::float8[] WHERE id IN (42, 43);
SET ROLE regress_batch_writer;
SET min_parallel_table_scan_size = 0;
SET parallel_setup_cost = 0;
CALL mlops.batch_score('tiny_mlp:1', 'grid', 'writer_mlp_scores', features => 'x');
CALL mlops.batch_score('stumps:1', 'grid', 'writer_stump_scores', features => 'x');
CALL mlops.batch_score('batchy:1', 'grid', 'writer_lr_scores', features => 'x');
RESET min_parallel_table_scan_size;
RESET parallel_setup_cost;
RESET ROLE;
SELECT target, scoring, status, rows_scored, run_by FROM mlops.job_runs ORDER BY job_run_id DESC LIMIT 3;
DROP TABLE writer_mlp_scores, writer_stump_scores, writer_lr_scores;
REVOKE CREATE ON SCHEMA public FROM regress_batch_writer;
-- without CREATE on schema public (PostgreSQL 15's default), a new target
-- cannot be made there: the hint says what to do
SET ROLE regress_batch_writer;
CALL mlops.batch_score('batchy:1', 'grid', 'writer_new_scores', features => 'x');
RESET ROLE;
REVOKE SELECT ON grid FROM regress_batch_writer;

-- Job runs belong to the session that runs them.  A run left 'running' by a
-- session that is gone (its backend killed) shows as failed at once, and
-- the next run records it so; nobody else finishes it.
INSERT INTO mlops.job_runs (job_name, kind, status, run_by, backend_pid)
VALUES ('ghost job', 'batch_score', 'running', 'regress_batch_writer', 1);
SELECT o.status AS seen_as, o.error, j.status AS recorded FROM mlops.job_runs_overview o
  JOIN mlops.job_runs j USING (job_run_id) WHERE j.job_name = 'ghost job';
SELECT job_name, status FROM mlops.latest_job_runs WHERE job_name = 'ghost job';
SET ROLE regress_batch_writer;
SELECT mlops._job_run_finish(job_run_id, 'succeeded', 1, 1, 0, NULL, 'row')
  FROM mlops.job_runs WHERE job_name = 'ghost job';
-- nor can rejects be added to a run this session is not running
INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason)
SELECT job_run_id, '{"id": 1}', 'forged' FROM mlops.job_runs WHERE job_name = 'ghost job';
INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason)
SELECT max(job_run_id), '{"id": 1}', 'forged' FROM mlops.job_runs WHERE status = 'succeeded';
RESET ROLE;
CALL mlops.batch_score('batchy', 'SELECT customer_id, x FROM customers WHERE customer_id <= 4', 'ghost_check',
                       key_columns => ARRAY['customer_id'], features => 'x');
SELECT status, error FROM mlops.job_runs WHERE job_name = 'ghost job';
-- a run of this session is alive while it runs, and only it finishes it
SELECT job_run_id AS live_run FROM mlops._job_run_start('by hand', 'batch_score', NULL, 'batchy', 'customers',
                                                        'nowhere', NULL) \gset
SELECT status FROM mlops.job_runs_overview WHERE job_run_id = :live_run;
-- finished in a transaction that rolls back, it is still running, and alive
BEGIN;
SELECT mlops._job_run_finish(:live_run, 'succeeded', 0, 0, 0, NULL, 'row');
ROLLBACK;
SELECT status FROM mlops.job_runs_overview WHERE job_run_id = :live_run;
-- a finished run has its counts
SELECT mlops._job_run_finish(:live_run, 'succeeded', NULL, NULL, NULL, NULL, 'row');
SELECT mlops._job_run_finish(:live_run, 'failed', 10, NULL, 0, 'no count', NULL);
-- a succeeded run has no error: what it has to say is its note
SELECT mlops._job_run_finish(:live_run, 'succeeded', 0, 0, 0, 'all fine', NULL);
SELECT mlops._job_run_finish(:live_run, 'cancelled', 0, 0, 0, 'stopped by hand', NULL);
SELECT status, error, note FROM mlops.job_runs_overview WHERE job_run_id = :live_run;
SELECT mlops._job_run_finish(:live_run, 'succeeded', 0, 0, 0, NULL, NULL);      -- once
-- a backend may serve several roles in turn (a pool): rejects go only to a
-- run of the role's own
SET ROLE mlops_writer;
SELECT job_run_id AS pooled_run FROM mlops._job_run_start('pooled', 'batch_score', NULL, 'batchy', 'customers',
                                                          'nowhere', NULL) \gset
SET ROLE mlops_admin;
INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason) VALUES (:pooled_run, '{"id": 1}', 'forged');
SELECT mlops._job_run_finish(:pooled_run, 'succeeded', 1, 1, 0, NULL, 'row');
SET ROLE mlops_writer;
INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason) VALUES (:pooled_run, '{"id": 1}', 'its own');
SELECT mlops._job_run_finish(:pooled_run, 'succeeded', 2, 1, 1, NULL, 'row', 'one row set aside');
RESET ROLE;
SELECT j.status, j.run_by, r.reason, j.note FROM mlops.job_runs j JOIN mlops.batch_rejects r USING (job_run_id)
 WHERE j.job_run_id = :pooled_run;
-- a job run cannot be recorded under someone else's schedule
INSERT INTO mlops.schedules (name, kind, cron, spec, created_by)
VALUES ('postgres_nightly', 'batch_score', '0 3 * * *', '{}', 'postgres');
SELECT schedule_id AS postgres_schedule FROM mlops.schedules WHERE name = 'postgres_nightly' \gset
SET ROLE mlops_writer;
CALL mlops.batch_score('batchy', 'customers', 'nowhere', schedule_id => :postgres_schedule);
-- nor under its name, which the monitoring views show its runs by
CALL mlops.batch_score('batchy', 'customers', 'nowhere', job_name => 'postgres_nightly');
CALL mlops.run_schedule('postgres_nightly');
RESET ROLE;
-- without pg_cron in this database, a schedule says so; nothing to re-arm
SELECT mlops.schedule_state('postgres_nightly'), mlops.rearm_schedules() AS rearmed;
SELECT mlops.schedule_state('no_such_schedule');
SELECT mlops.schedule_state(NULL);
DELETE FROM mlops.schedules WHERE name = 'postgres_nightly';
DROP ROLE regress_batch_writer;

-- Scoring a table by name takes every column but the keys: columns that are
-- not features (a label, a split) fail every row, and the hint names them.
CREATE TABLE labelled AS
SELECT customer_id, a, b, customer_id % 2 = 0 AS churned, 'train' AS split
  FROM customers WHERE customer_id <= 4;
CALL mlops.batch_score('batchy', 'labelled', 'labelled_scores', key_columns => ARRAY['customer_id']);
-- leave them out, or name the features: sigmoid(a - 1) = 0.289050, 0.310026, 0.331812, 0.354344
CALL mlops.batch_score('batchy', 'labelled', 'labelled_scores', key_columns => ARRAY['customer_id'],
                       exclude_columns => ARRAY['churned', 'split']);
SELECT customer_id, round(prediction::numeric, 6) AS p FROM labelled_scores ORDER BY customer_id;
CALL mlops.batch_score('batchy', 'labelled', 'labelled_scores', key_columns => ARRAY['customer_id'],
                       feature_columns => ARRAY['a', 'b']);
SELECT customer_id, round(prediction::numeric, 6) AS p FROM labelled_scores ORDER BY customer_id;
CALL mlops.batch_score('batchy', 'labelled', 'labelled_scores', key_columns => ARRAY['customer_id'],
                       feature_columns => ARRAY['a', 'b', 'split']);
CALL mlops.batch_score('batchy', 'labelled', 'labelled_scores', key_columns => ARRAY['customer_id'],
                       features => 'a', feature_columns => ARRAY['a', 'b']);
CALL mlops.batch_score('batchy', 'labelled', 'labelled_scores', key_columns => ARRAY['customer_id'],
                       feature_columns => ARRAY[]::text[]);

-- An existing target of another shape: the error says which columns it
-- lacks; outputs map to its own names, and the run's values go to the
-- columns it has.  Without a slice column, replace rewrites it whole.
CREATE TABLE my_scores (customer_id int, churn_probability float8);
INSERT INTO my_scores VALUES (99, 0.5);
CALL mlops.batch_score('batchy', 'SELECT customer_id, x FROM customers WHERE customer_id <= 4', 'my_scores',
                       key_columns => ARRAY['customer_id'], features => 'x');
CALL mlops.batch_score('batchy', 'SELECT customer_id, x FROM customers WHERE customer_id <= 4', 'my_scores',
                       key_columns => ARRAY['customer_id'], features => 'x',
                       target_columns => '{"prediction": "churn_probability"}');
SELECT customer_id, round(churn_probability::numeric, 6) AS p FROM my_scores ORDER BY customer_id;
CALL mlops.batch_score('batchy', 'SELECT customer_id, x FROM customers WHERE customer_id <= 4', 'my_scores',
                       key_columns => ARRAY['customer_id'], features => 'x', slice => 'monday',
                       target_columns => '{"prediction": "churn_probability"}');
ALTER TABLE my_scores ADD COLUMN scored_on timestamptz, ADD COLUMN day text;
CALL mlops.batch_score('batchy', 'SELECT customer_id, x FROM customers WHERE customer_id <= 2', 'my_scores',
                       key_columns => ARRAY['customer_id'], features => 'x', slice => 'monday',
                       target_columns => '{"prediction": "churn_probability", "scored_at": "scored_on", "slice": "day"}');
CALL mlops.batch_score('batchy', 'SELECT customer_id, x FROM customers WHERE customer_id <= 2', 'my_scores',
                       key_columns => ARRAY['customer_id'], features => 'x', slice => 'tuesday',
                       target_columns => '{"prediction": "churn_probability", "scored_at": "scored_on", "slice": "day"}');
SELECT day, count(*), count(scored_on) AS timed, round(sum(churn_probability)::numeric, 6) AS p
  FROM my_scores GROUP BY day ORDER BY day;
CALL mlops.batch_score('batchy', 'customers', 'my_scores', features => 'x', target_columns => '{"score": "p"}');
CALL mlops.batch_score('batchy', 'customers', 'my_scores', features => 'x', target_columns => '{"prediction": null}');
CALL mlops.batch_score('batchy', 'customers', 'my_scores', features => 'x', target_columns => '["prediction"]');
CALL mlops.batch_score('batchy', 'customers', 'my_scores', key_columns => ARRAY['customer_id'], features => 'x',
                       target_columns => '{"prediction": "churn_probability", "model_version": "no_such_column"}');
-- infinite features are bad rows on every path, in both input forms (as in
-- predict(), which refuses them): the run fails naming the first, or scores
-- the others and sets them aside with the reason
UPDATE grid SET x = ARRAY[1, 'Infinity']::float8[] WHERE id = 44;
CALL mlops.batch_score('tiny_mlp:1', 'grid', 'mlp_scores', features => 'x');
CALL mlops.batch_score('tiny_mlp:1', 'grid', 'mlp_scores', features => 'x', on_error => 'reject');
CALL mlops.batch_score('batchy:1', 'SELECT id, x[1] AS a, CASE id WHEN 44 THEN 0 WHEN 45 THEN 1e400 ELSE x[2]::numeric END AS b FROM grid',
                       'by_name_grid_scores', on_error => 'reject');
SELECT scoring, status, rows_in, rows_scored, rows_failed, error FROM mlops.job_runs ORDER BY job_run_id DESC LIMIT 3;
SELECT j.model_version, r.row_key, r.reason FROM mlops.batch_rejects r JOIN mlops.job_runs j USING (job_run_id)
 WHERE r.job_run_id > (SELECT max(job_run_id) - 2 FROM mlops.job_runs) ORDER BY r.job_run_id, r.row_key;
SELECT count(*) AS rows, count(*) FILTER (WHERE prediction = 'NaN' OR prediction IN ('Infinity', '-Infinity')) AS not_finite
  FROM by_name_grid_scores;
