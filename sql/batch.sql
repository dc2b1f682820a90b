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
