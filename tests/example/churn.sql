-- The bundled end-to-end example: customer churn, walked through mlops.
--
-- Every issue extends this script until it covers the whole lifecycle.  Today:
--   1. generate a synthetic churn data set, deterministically, in SQL;
--   2. track an experiment: a majority-class baseline, a hand-written rule,
--      and logistic regressions trained by batch gradient descent in SQL,
--      each logging params, a loss curve, holdout metrics and its inputs;
--   3. compare the runs with one SELECT.
--
--   4. register the best model in the model registry, in mlops' JSON format,
--      with its preprocessing (scaling, one-hot encoding of the categorical
--      columns), point the champion alias at it, and score every customer
--      in SQL by name from the raw columns, with no Python anywhere;
--   5. batch-score every customer into a table as a recorded job, and put
--      that job on a nightly pg_cron schedule;
--   6. capture a drift baseline of the model's inputs from its training rows
--      (and of its predictions), then report drift on a month of new
--      customers whose contracts, services and charges have moved;
--   7. define the customers' monthly snapshots as a feature view, build a
--      point-in-time training set from it, and score one customer online
--      from its latest features.
--   8. an A/B test of the champion against a challenger, with outcomes;
--   9. train two candidates in the database on the feature service's
--      training set, release the better against the other in an A/B test,
--      score on a schedule, watch the inputs with a drift monitor, and let
--      a retraining policy retrain, compare and promote when it alerts.
--
-- Run with: psql -X -v ON_ERROR_STOP=1 -f tests/example/churn.sql
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS mlops;

-------------------------------------------------------------------------------
-- 1. Data: 20,000 customers.  u(id, salt) is a uniform number in [0, 1) taken
--    from md5, so the data is identical on every machine and every plan.
-------------------------------------------------------------------------------
DROP SCHEMA IF EXISTS churn CASCADE;
CREATE SCHEMA churn;

CREATE FUNCTION churn.u(id int, salt text) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ('x' || substr(md5(id || ':' || salt), 1, 8))::bit(32)::bigint / 4294967296.0;

CREATE TABLE churn.customers AS
WITH base AS (
    SELECT id AS customer_id,
           1 + floor(churn.u(id, 'tenure') * 72)::int AS tenure_months,
           CASE WHEN churn.u(id, 'contract') < 0.55 THEN 'month-to-month'
                WHEN churn.u(id, 'contract') < 0.80 THEN 'one-year' ELSE 'two-year' END AS contract_type,
           CASE WHEN churn.u(id, 'internet') < 0.45 THEN 'fiber'
                WHEN churn.u(id, 'internet') < 0.80 THEN 'dsl' ELSE 'none' END AS internet_service,
           CASE WHEN churn.u(id, 'payment') < 0.35 THEN 'electronic-check'
                WHEN churn.u(id, 'payment') < 0.60 THEN 'mailed-check'
                WHEN churn.u(id, 'payment') < 0.80 THEN 'bank-transfer' ELSE 'credit-card' END AS payment_method,
           floor(-ln(1 - churn.u(id, 'calls')) * 1.5)::int AS support_calls
      FROM generate_series(1, 20000) AS id
), priced AS (
    SELECT b.*,
           round((20 + CASE internet_service WHEN 'fiber' THEN 55 WHEN 'dsl' THEN 30 ELSE 0 END
                  + 25 * churn.u(customer_id, 'charges'))::numeric, 2)::float8 AS monthly_charges
      FROM base b
)
SELECT p.*,
       churn.u(customer_id, 'churn') < 1 / (1 + exp(-(
             -1.6
             + 1.3 * (contract_type = 'month-to-month')::int
             - 0.6 * (contract_type = 'two-year')::int
             - 0.035 * tenure_months
             + 0.015 * (monthly_charges - 60)
             + 0.30 * support_calls
             + 0.45 * (internet_service = 'fiber')::int
             + 0.50 * (payment_method = 'electronic-check')::int))) AS churned
  FROM priced p;
ALTER TABLE churn.customers ADD PRIMARY KEY (customer_id);

-- Model inputs, standardised on the training split (customer_id % 5 <> 0);
-- the other fifth is the holdout.
CREATE VIEW churn.scaling AS
SELECT avg(tenure_months)::float8 AS mt, stddev(tenure_months)::float8 AS st,
       avg(monthly_charges) AS mc, stddev(monthly_charges) AS sc,
       avg(support_calls)::float8 AS ms, stddev(support_calls)::float8 AS ss
  FROM churn.customers WHERE customer_id % 5 <> 0;

CREATE VIEW churn.features AS
SELECT c.customer_id, c.customer_id % 5 = 0 AS holdout, c.churned::int AS label,
       ARRAY[(c.tenure_months - s.mt) / s.st,
             (c.monthly_charges - s.mc) / s.sc,
             (c.support_calls - s.ms) / s.ss,
             (c.contract_type = 'month-to-month')::int,
             (c.contract_type = 'two-year')::int,
             (c.internet_service = 'fiber')::int,
             (c.payment_method = 'electronic-check')::int]::float8[] AS x
  FROM churn.customers c, churn.scaling s;

CREATE VIEW churn.training_set AS SELECT * FROM churn.features WHERE NOT holdout;
CREATE VIEW churn.holdout_set AS SELECT * FROM churn.features WHERE holdout;

\echo 'The data set:'
SELECT count(*) AS customers, round(avg(churned::int), 3) AS churn_rate,
       round(avg(monthly_charges)::numeric, 2) AS avg_monthly_charges
  FROM churn.customers;

\o /dev/null
-------------------------------------------------------------------------------
-- Evaluation helpers: metrics of a score column against the label.
-------------------------------------------------------------------------------
-- AUC by the rank-sum (Mann-Whitney) formula, with ties given average ranks.
CREATE FUNCTION churn.evaluate(scores regclass) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    result jsonb;
BEGIN
    EXECUTE format($q$
        WITH r AS (SELECT label, p, rank() OVER (ORDER BY p) AS lo,
                          count(*) OVER (PARTITION BY p) AS ties FROM %s),
             a AS (SELECT sum(label) AS pos, count(*) - sum(label) AS neg,
                          sum(CASE WHEN label = 1 THEN lo + (ties - 1) / 2.0 END) AS rank_sum,
                          sum((p >= 0.5)::int * label) AS tp, sum((p >= 0.5)::int) AS predicted,
                          avg(((p >= 0.5)::int = label)::int) AS accuracy,
                          avg(-(label * ln(greatest(p, 1e-15)) + (1 - label) * ln(greatest(1 - p, 1e-15)))) AS logloss
                     FROM r)
        SELECT jsonb_build_object(
                 'auc', round(((rank_sum - pos * (pos + 1) / 2.0) / (pos * neg))::numeric, 4),
                 'accuracy', round(accuracy::numeric, 4),
                 'precision', CASE WHEN predicted > 0 THEN round(tp::numeric / predicted, 4) ELSE 0 END,
                 'recall', round(tp::numeric / pos, 4),
                 'logloss', round(logloss::numeric, 4))
          FROM a $q$, scores) INTO result;
    RETURN result;
END $$;

-------------------------------------------------------------------------------
-- 2. Tracking
-------------------------------------------------------------------------------
SELECT mlops.set_experiment('churn') AS experiment_id \gset
SELECT mlops.set_experiment_tag('churn', 'dataset', 'synthetic churn, 20k customers');

-- Run 1: predict the training churn rate for everyone.
SELECT mlops.start_run('churn', 'majority-baseline', '{"family": "baseline"}') AS run \gset
SELECT mlops.log_input(:run, 'churn.training_set', 'training');
SELECT mlops.log_input(:run, 'churn.holdout_set', 'holdout');
CREATE TEMP TABLE scored AS
SELECT h.label, (SELECT avg(label) FROM churn.training_set)::float8 AS p FROM churn.holdout_set h;
SELECT mlops.log_metrics(:run, churn.evaluate('scored'));
SELECT mlops.end_run(:run);

-- Run 2: a rule an analyst would write first.
SELECT mlops.start_run('churn', 'rule-month-to-month', '{"family": "rule"}') AS run \gset
SELECT mlops.log_params(:run, '{"rule": "month-to-month and support_calls >= 2"}');
SELECT mlops.log_input(:run, 'churn.holdout_set', 'holdout');
DROP TABLE scored;
CREATE TEMP TABLE scored AS
SELECT h.label, CASE WHEN h.x[4] = 1 AND c.support_calls >= 2 THEN 0.8 WHEN h.x[4] = 1 THEN 0.45 ELSE 0.1 END::float8 AS p
  FROM churn.holdout_set h JOIN churn.customers c USING (customer_id);
SELECT mlops.log_metrics(:run, churn.evaluate('scored'));
SELECT mlops.end_run(:run);

-- Runs 3-5: logistic regression by full-batch gradient descent, one SQL
-- aggregate per epoch, logging the training log loss at every step.  The
-- learning rate is the param being compared.
CREATE FUNCTION churn.train_logreg(run_id bigint, learning_rate float8, epochs int)
RETURNS float8[] LANGUAGE plpgsql AS $$
DECLARE
    w float8[] := array_fill(0::float8, ARRAY[8]);   -- w[1] is the intercept
    g float8[];
    loss float8;
BEGIN
    PERFORM mlops.log_params(run_id, jsonb_build_object(
        'model', 'logistic_regression', 'solver', 'batch_gradient_descent',
        'learning_rate', learning_rate, 'epochs', epochs, 'features', 7));
    FOR epoch IN 1..epochs LOOP
        WITH p AS (
            SELECT t.label, t.x,
                   1 / (1 + exp(-(w[1] + w[2]*t.x[1] + w[3]*t.x[2] + w[4]*t.x[3] + w[5]*t.x[4]
                                  + w[6]*t.x[5] + w[7]*t.x[6] + w[8]*t.x[7]))) AS p
              FROM churn.training_set t)
        SELECT ARRAY[avg(p - label), avg((p - label) * x[1]), avg((p - label) * x[2]),
                     avg((p - label) * x[3]), avg((p - label) * x[4]), avg((p - label) * x[5]),
                     avg((p - label) * x[6]), avg((p - label) * x[7])],
               avg(-(label * ln(greatest(p, 1e-15)) + (1 - label) * ln(greatest(1 - p, 1e-15))))
          INTO g, loss FROM p;
        PERFORM mlops.log_metric(run_id, 'train_logloss', loss, epoch);
        FOR i IN 1..8 LOOP
            w[i] := w[i] - learning_rate * g[i];
        END LOOP;
    END LOOP;
    RETURN w;
END $$;

CREATE TABLE churn.models (run_id bigint PRIMARY KEY, weights float8[] NOT NULL);

-- The model in mlops' JSON format (README, "Model format"), with its
-- preprocessing, so that it scores raw customer rows.  Encoded columns: the
-- 3 numeric features (scaled), then one indicator per category of
-- contract_type, internet_service and payment_method; the categories the
-- model did not use get weight 0.
CREATE FUNCTION churn.model_artifact(w float8[]) RETURNS text
LANGUAGE sql STABLE
RETURN (SELECT jsonb_build_object(
    'format', 'mlops.model/v1',
    'task', 'binary',
    'classes', jsonb_build_array('stay', 'churn'),
    'features', jsonb_build_array(
        jsonb_build_object('name', 'tenure_months', 'type', 'numeric'),
        jsonb_build_object('name', 'monthly_charges', 'type', 'numeric'),
        jsonb_build_object('name', 'support_calls', 'type', 'numeric', 'impute', 0),
        jsonb_build_object('name', 'contract_type', 'type', 'categorical',
                           'categories', jsonb_build_array('month-to-month', 'one-year', 'two-year')),
        jsonb_build_object('name', 'internet_service', 'type', 'categorical',
                           'categories', jsonb_build_array('fiber', 'dsl', 'none')),
        jsonb_build_object('name', 'payment_method', 'type', 'categorical', 'unknown', 'ignore',
                           'categories', jsonb_build_array('electronic-check', 'mailed-check',
                                                           'bank-transfer', 'credit-card'))),
    'scaler', jsonb_build_object(
        'center', jsonb_build_array(s.mt, s.mc, s.ms, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        'scale',  jsonb_build_array(s.st, s.sc, s.ss, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
    'model', jsonb_build_object(
        'type', 'linear', 'link', 'logistic', 'intercept', jsonb_build_array(w[1]),
        'coef', jsonb_build_array(jsonb_build_array(w[2], w[3], w[4], w[5], 0,
                                                    w[6], w[7], 0, 0, w[8], 0, 0, 0)))
    )::text FROM churn.scaling s);


DO $$
DECLARE
    lr float8;
    run bigint;
    w float8[];
BEGIN
    FOREACH lr IN ARRAY ARRAY[0.05, 0.3, 1.0] LOOP
        run := mlops.start_run('churn', 'logreg-lr-' || lr, '{"family": "logistic_regression"}');
        PERFORM mlops.log_input(run, 'churn.training_set', 'training');
        PERFORM mlops.log_input(run, 'churn.holdout_set', 'holdout');
        w := churn.train_logreg(run, lr, 40);
        INSERT INTO churn.models VALUES (run, w);
        DROP TABLE IF EXISTS scored;
        CREATE TEMP TABLE scored AS
        SELECT h.label, 1 / (1 + exp(-(w[1] + w[2]*h.x[1] + w[3]*h.x[2] + w[4]*h.x[3] + w[5]*h.x[4]
                                        + w[6]*h.x[5] + w[7]*h.x[6] + w[8]*h.x[7]))) AS p
          FROM churn.holdout_set h;
        PERFORM mlops.log_metrics(run, churn.evaluate('scored'), 40);
        PERFORM mlops.log_artifact(run, 'model/weights.json',
                                   convert_to(jsonb_build_object('intercept', w[1], 'coef', w[2:8])::text, 'UTF8'),
                                   'application/json');
        PERFORM mlops.log_artifact(run, 'model/mlops-model.json', convert_to(churn.model_artifact(w), 'UTF8'),
                                   'application/json');
        PERFORM mlops.end_run(run);
    END LOOP;
END $$;

\o
-------------------------------------------------------------------------------
-- 3. Compare the runs: one SELECT on the runs view.
-------------------------------------------------------------------------------
\echo
\echo 'Runs of experiment "churn", best holdout AUC first:'
SELECT run_name,
       params->>'learning_rate' AS lr,
       (metrics->>'auc')::numeric AS auc,
       (metrics->>'accuracy')::numeric AS accuracy,
       (metrics->>'recall')::numeric AS recall,
       (metrics->>'logloss')::numeric AS holdout_logloss,
       round((metrics->>'train_logloss')::numeric, 4) AS final_train_logloss
  FROM mlops.runs_overview
 WHERE experiment_name = 'churn'
 ORDER BY (metrics->>'auc')::float8 DESC, run_id;

\echo 'Training curve of the best logistic regression (every 10th epoch):'
SELECT h.step AS epoch, round(h.value::numeric, 4) AS train_logloss
  FROM mlops.metric_history_overview h
 WHERE h.run_id = (SELECT run_id FROM mlops.runs_overview
                    WHERE experiment_name = 'churn' AND params ? 'learning_rate'
                    ORDER BY (metrics->>'auc')::float8 DESC LIMIT 1)
   AND h.key = 'train_logloss' AND h.step % 10 = 0
 ORDER BY h.step;

\echo 'Lineage: which data each run read (same digest = same rows):'
SELECT r.run_name, i.context, i.row_count, left(i.digest, 16) AS digest
  FROM mlops.run_inputs i JOIN mlops.runs r USING (run_id)
 WHERE r.experiment_id = :experiment_id
 ORDER BY i.run_id, i.context;

-------------------------------------------------------------------------------
-- 4. Registry and scoring: the best logistic regression's artifact (logged by
--    its run, see churn.model_artifact) becomes the next version of model
--    "churn", the champion, in Production.
-------------------------------------------------------------------------------
\o /dev/null
SELECT run_id AS best_run FROM mlops.runs_overview
 WHERE experiment_name = 'churn' AND params ? 'learning_rate'
 ORDER BY (metrics->>'auc')::float8 DESC, run_id DESC LIMIT 1 \gset

SELECT mlops.register_model_version_from_run('churn', :best_run, 'model/mlops-model.json',
                                             'logistic regression, best holdout AUC') AS version \gset
SELECT mlops.set_model_alias('churn', 'champion', :version);
SELECT mlops.transition_model_stage('churn', :version, 'production');
-- the version keeps the evaluation it was promoted on
SELECT mlops.set_model_version_tag('churn', :version, 'holdout_auc', metrics->>'auc')
  FROM mlops.runs_overview WHERE run_id = :best_run;
\o

\echo 'The registry:'
SELECT model_name, version, stage, aliases, task, family, n_features, left(sha256, 16) AS sha256,
       (SELECT run_name FROM mlops.runs r WHERE r.run_id = v.run_id) AS from_run,
       (SELECT t.value FROM mlops.model_version_tags t WHERE t.version_id = v.version_id
           AND t.key = 'holdout_auc') AS holdout_auc
  FROM mlops.model_versions_overview v WHERE model_name = 'churn' ORDER BY version DESC LIMIT 3;

\echo 'Native scoring from raw columns, by name: the champion agrees with the SQL formula it was exported from:'
WITH scored AS (
    SELECT f.customer_id, f.holdout, f.label,
           mlops.predict('churn@champion', to_jsonb(c), exclude => ARRAY['customer_id', 'churned']) AS p,
           1 / (1 + exp(-(m.weights[1] + m.weights[2]*f.x[1] + m.weights[3]*f.x[2] + m.weights[4]*f.x[3]
                          + m.weights[5]*f.x[4] + m.weights[6]*f.x[5] + m.weights[7]*f.x[6]
                          + m.weights[8]*f.x[7]))) AS p_sql
      FROM churn.customers c JOIN churn.features f USING (customer_id), churn.models m
     WHERE m.run_id = :best_run)
SELECT count(*) AS customers_scored,
       max(abs(p - p_sql)) < 1e-12 AS agrees,
       round(avg(p)::numeric, 4) AS mean_churn_probability,
       round(avg(label)::numeric, 4) AS actual_churn_rate
  FROM scored;

\echo 'Customers most at risk (the champion through predict and predict_class):'
SELECT customer_id, contract_type, tenure_months, support_calls,
       round(mlops.predict('churn', to_jsonb(c), exclude => ARRAY['customer_id', 'churned'])::numeric, 3) AS churn_probability,
       mlops.predict_class('churn@champion', to_jsonb(c), exclude => ARRAY['customer_id', 'churned']) AS predicted
  FROM churn.customers c
 ORDER BY mlops.predict('churn', to_jsonb(c), exclude => ARRAY['customer_id', 'churned']) DESC, customer_id
 LIMIT 5;

-------------------------------------------------------------------------------
-- 5. Batch scoring: every customer scored into churn.scores by the champion,
--    by name from the table's columns but the label, as a job run recorded
--    in mlops.job_runs; then the same job on a nightly pg_cron schedule (when
--    pg_cron runs in this database), run once now.
-------------------------------------------------------------------------------
\o /dev/null
CALL mlops.batch_score('churn@champion', 'churn.customers', 'churn.scores', key_columns => ARRAY['customer_id'],
                       exclude_columns => ARRAY['churned'], outputs => ARRAY['prediction', 'class'],
                       job_name => 'churn-scores');
\o
\echo 'Batch scoring into churn.scores, and its job run:'
SELECT class, count(*) AS customers, round(avg(prediction)::numeric, 4) AS mean_probability, model_version
  FROM churn.scores GROUP BY class, model_version ORDER BY class;
SELECT job_name, status, model_version, rows_in, rows_scored, rows_failed, scoring
  FROM mlops.latest_job_runs WHERE job_name = 'churn-scores';

DO $$
BEGIN
    IF current_setting('cron.database_name', true) = current_database() THEN
        CREATE EXTENSION IF NOT EXISTS pg_cron;
        IF EXISTS (SELECT FROM mlops.schedules WHERE name = 'churn-nightly') THEN
            PERFORM mlops.drop_schedule('churn-nightly');
        END IF;
        PERFORM mlops.schedule_batch_score('churn-nightly', '0 3 * * *', 'churn@champion', 'churn.customers',
            'churn.scores', key_columns => ARRAY['customer_id'], exclude_columns => ARRAY['churned'],
            outputs => ARRAY['prediction', 'class']);
        RAISE NOTICE 'scheduled "churn-nightly" on pg_cron at 03:00 every day';
    ELSE
        RAISE NOTICE 'pg_cron does not run in this database: the nightly schedule is skipped';
    END IF;
END $$;
SELECT EXISTS (SELECT FROM mlops.schedules WHERE name = 'churn-nightly') AS scheduled \gset
\if :scheduled
\o /dev/null
CALL mlops.run_schedule('churn-nightly');
\o
\echo 'The nightly schedule, run once now:'
SELECT name, cron, state, model, target, last_status, last_rows_scored FROM mlops.schedules_overview;
\endif

-------------------------------------------------------------------------------
-- 6. Drift.  When the model is trained, a baseline of its inputs is captured
--    from the training rows (and one of its predictions from the scores).  A
--    month later come 5,000 new customers: more month-to-month contracts and
--    fiber, shorter tenures, higher charges; support calls as before.  The
--    drift report says which inputs moved, by the statistic Evidently would
--    choose for each, and whether the data set drifted; the predictions
--    moved with them.
-------------------------------------------------------------------------------
\o /dev/null
SELECT mlops.capture_baseline('churn-training',
    'SELECT tenure_months, monthly_charges, support_calls, contract_type, internet_service, payment_method
       FROM churn.customers WHERE customer_id % 5 <> 0',
    options => '{"replace": true}');
SELECT mlops.capture_prediction_baseline('churn-predictions', 'churn.scores', options => '{"replace": true}');

DROP TABLE IF EXISTS churn.new_month, churn.new_month_scores;
CREATE TABLE churn.new_month AS
WITH base AS (
    SELECT id AS customer_id,
           1 + floor(churn.u(id, 'tenure') * 36)::int AS tenure_months,
           CASE WHEN churn.u(id, 'contract') < 0.75 THEN 'month-to-month'
                WHEN churn.u(id, 'contract') < 0.90 THEN 'one-year' ELSE 'two-year' END AS contract_type,
           CASE WHEN churn.u(id, 'internet') < 0.65 THEN 'fiber'
                WHEN churn.u(id, 'internet') < 0.90 THEN 'dsl' ELSE 'none' END AS internet_service,
           CASE WHEN churn.u(id, 'payment') < 0.35 THEN 'electronic-check'
                WHEN churn.u(id, 'payment') < 0.60 THEN 'mailed-check'
                WHEN churn.u(id, 'payment') < 0.80 THEN 'bank-transfer' ELSE 'credit-card' END AS payment_method,
           floor(-ln(1 - churn.u(id, 'calls')) * 1.5)::int AS support_calls
      FROM generate_series(20001, 25000) AS id
)
SELECT b.*,
       round((25 + CASE internet_service WHEN 'fiber' THEN 55 WHEN 'dsl' THEN 30 ELSE 0 END
              + 25 * churn.u(customer_id, 'charges'))::numeric, 2)::float8 AS monthly_charges
  FROM base b;
ALTER TABLE churn.new_month ADD PRIMARY KEY (customer_id);
CALL mlops.batch_score('churn@champion', 'churn.new_month', 'churn.new_month_scores',
                       key_columns => ARRAY['customer_id'], job_name => 'churn-new-month');
\o
\echo 'Drift of the new month against the training rows, per model input:'
SELECT feature, kind, n_reference, n_current, method, round(statistic::numeric, 4) AS statistic,
       round(p_value::numeric, 4) AS p_value, threshold, drifted,
       round((stats ->> 'psi')::numeric, 4) AS psi
  FROM mlops.drift_report('churn-training', 'churn.new_month');
\echo 'The data set as a whole (drifted when at least half of its features did):'
SELECT * FROM mlops.dataset_drift('churn-training', 'churn.new_month');
\echo 'Prediction drift: the champion''s scores of the new month against those of the training population:'
SELECT feature, method, round(statistic::numeric, 4) AS statistic, drifted,
       round((stats ->> 'reference_mean')::numeric, 4) AS mean_before, round((stats ->> 'mean')::numeric, 4) AS mean_now
  FROM mlops.drift_report('churn-predictions', 'churn.new_month_scores');

-------------------------------------------------------------------------------
-- 7. Feature views.  The customers' attributes as they change: one snapshot
--    per customer at the start of each month (tenure grows by a month each
--    time; the last snapshot is the customers table).  A feature view reads
--    them with each category as its 0-based index, which is how the model's
--    float8[] input carries categories; a feature service lists them in the
--    model's order.  A churn label observed on 2026-02-15 gets each
--    customer's snapshot as of then (February's), never a later one.  Online,
--    the latest snapshot feeds predict directly.
-------------------------------------------------------------------------------
DROP TABLE IF EXISTS churn.customer_snapshots, churn.training_from_features;
CREATE TABLE churn.customer_snapshots AS
SELECT c.customer_id, timestamptz '2026-01-01 00:00+00' + make_interval(months => m) AS as_of,
       greatest(1, c.tenure_months - (2 - m)) AS tenure_months, c.monthly_charges, c.support_calls,
       c.contract_type, c.internet_service, c.payment_method
  FROM churn.customers c, generate_series(0, 2) AS m;
CREATE INDEX ON churn.customer_snapshots (customer_id, as_of);

DO $$
BEGIN
    -- a second pass of this script starts the definitions over
    IF EXISTS (SELECT FROM mlops.feature_services WHERE name = 'churn_features') THEN
        PERFORM mlops.drop_feature_service('churn_features');
    END IF;
    IF EXISTS (SELECT FROM mlops.feature_views WHERE name = 'customer_profile') THEN
        PERFORM mlops.drop_feature_view('customer_profile');
    END IF;
    IF EXISTS (SELECT FROM mlops.entities WHERE name = 'customer') THEN
        PERFORM mlops.drop_entity('customer');
    END IF;
    PERFORM mlops.create_entity('customer', ARRAY['customer_id'], 'a churn.customers row');
    PERFORM mlops.create_feature_view('customer_profile', ARRAY['customer'],
        'SELECT customer_id, as_of, tenure_months, monthly_charges, support_calls,
                array_position(ARRAY[''month-to-month'', ''one-year'', ''two-year''], contract_type) - 1 AS contract_type,
                array_position(ARRAY[''fiber'', ''dsl'', ''none''], internet_service) - 1 AS internet_service,
                array_position(ARRAY[''electronic-check'', ''mailed-check'', ''bank-transfer'', ''credit-card''],
                               payment_method) - 1 AS payment_method
           FROM churn.customer_snapshots',
        'as_of', description => 'monthly snapshots, categories as 0-based indices');
    PERFORM mlops.create_feature_service('churn_features', ARRAY[
        'customer_profile:tenure_months', 'customer_profile:monthly_charges', 'customer_profile:support_calls',
        'customer_profile:contract_type', 'customer_profile:internet_service', 'customer_profile:payment_method']);
END $$;
\echo 'The feature service against the champion''s signature (NULL: it fits):'
SELECT mlops.feature_service_problem('churn_features', 'churn@champion') AS problem;

\o /dev/null
SELECT mlops.start_run('churn', 'training-set-from-feature-views') AS fv_run \gset
SELECT mlops.build_training_set('churn.training_from_features',
    'SELECT customer_id, timestamptz ''2026-02-15 00:00+00'' AS event_timestamp, churned AS label
       FROM churn.customers WHERE customer_id % 5 <> 0',
    ARRAY['churn_features'], run_id => :fv_run) AS training_rows \gset
SELECT mlops.end_run(:fv_run);
\o
\echo 'A point-in-time training set built from the feature views (labels of 2026-02-15, February''s snapshot):'
SELECT :training_rows AS rows_written,
       count(*) FILTER (WHERE t.tenure_months = greatest(1, c.tenure_months - 1)) AS with_february_tenure,
       (SELECT row_count FROM mlops.run_inputs WHERE run_id = :fv_run) AS recorded_as_run_input
  FROM churn.training_from_features t JOIN churn.customers c USING (customer_id);

\o /dev/null
CALL mlops.materialize_online('customer_profile');
\o
\echo 'One customer scored online: the champion over its latest features, and over its columns:'
SELECT c.customer_id, mlops.feature_vector('churn_features', c.customer_id) AS features,
       round(mlops.predict('churn@champion', mlops.feature_vector('churn_features', c.customer_id))::numeric, 6) AS online,
       round(mlops.predict('churn@champion', to_jsonb(c), exclude => ARRAY['customer_id', 'churned'])::numeric, 6)
           AS from_columns
  FROM churn.customers c WHERE c.customer_id = 42;

-------------------------------------------------------------------------------
-- 8. An A/B test of the champion against a challenger (the second-best
--    logistic regression, registered as model churn_challenger).  Each
--    customer is assigned by GrowthBook's hash (sticky), scored by its
--    variant's model, and the customers a model flags (probability > 0.5)
--    get a retention offer that keeps 40% of those who would churn.  The
--    outcome, "retained", is recorded per customer; the results say which
--    model retains more, with a two-proportion z-test.
-------------------------------------------------------------------------------
\o /dev/null
SELECT run_id AS second_run FROM mlops.runs_overview
 WHERE experiment_name = 'churn' AND params ? 'learning_rate'
 ORDER BY (metrics->>'auc')::float8 DESC, run_id DESC OFFSET 1 LIMIT 1 \gset
SELECT CASE WHEN NOT EXISTS (SELECT FROM mlops.registered_models WHERE name = 'churn_challenger')
            THEN mlops.register_model_version_from_run('churn_challenger', :second_run, 'model/mlops-model.json',
                                                       'the second-best logistic regression') END;
DO $$
BEGIN
    IF EXISTS (SELECT FROM mlops.ab_tests WHERE key = 'churn_retention') THEN
        PERFORM mlops.drop_ab_test('churn_retention');
    END IF;
END $$;
DELETE FROM mlops.ab_outcomes WHERE metric = 'retained';
SELECT mlops.create_ab_test('churn_retention', ARRAY['churn@champion', 'churn_challenger:1'],
                            variant_names => ARRAY['champion', 'challenger'],
                            description => 'which model''s retention offers keep more customers');
SELECT mlops.start_ab_test('churn_retention');
CREATE TABLE IF NOT EXISTS churn.served (customer_id int PRIMARY KEY, variant text, version int, churn_probability float8);
TRUNCATE churn.served;
INSERT INTO churn.served
SELECT c.customer_id, (p).variant, (p).version, (p).prediction
  FROM churn.customers c,
       LATERAL mlops.predict_ab('churn_retention', c.customer_id::text,
                                to_jsonb(c) - 'customer_id' - 'churned') AS p;
INSERT INTO mlops.ab_outcomes (unit_id, metric, observed_at, value)
SELECT c.customer_id::text, 'retained', now() + interval '30 days',
       CASE WHEN NOT c.churned OR (s.churn_probability > 0.5 AND (c.customer_id * 7919) % 10 < 4) THEN 1 ELSE 0 END
  FROM churn.customers c JOIN churn.served s USING (customer_id);
\o
\echo 'Champion against challenger: customers served by each, their retention, and the test:'
SELECT variant, model, units, round(mean::numeric, 4) AS retention_rate,
       round((abs_lift * 100)::numeric, 2) AS lift_points,
       round((abs_lift_lower * 100)::numeric, 2) AS lift_lower, round((abs_lift_upper * 100)::numeric, 2) AS lift_upper,
       round(p_value::numeric, 4) AS p_value, significant, round(srm_p_value::numeric, 3) AS srm_p_value
  FROM mlops.ab_results('churn_retention', 'retained');
\echo 'Units needed per variant to detect a 1-point lift on that retention rate (80% power):'
SELECT ceil(mlops.ab_sample_size_proportions(r.mean, r.mean + 0.01)) AS units_per_variant
  FROM mlops.ab_results('churn_retention', 'retained') r WHERE r.variant_index = 0;

-------------------------------------------------------------------------------
-- 9. Training in the database, and the closed loop.
--    a. Two candidates trained by mlops.train in one experiment, on the
--       feature service's point-in-time training set (labels of 2026-02-15):
--       a logistic regression and XGBoost's boosted trees.  Each is a run
--       (params, the training set as a dataset input, held-out metrics, the
--       model) and a version of model "churn_db".
--    b. The better one by held-out ROC AUC is the champion, the other the
--       challenger, and they meet in an A/B test on the customers' online
--       features.
--    c. The champion scores the customers' latest features every night, on a
--       schedule.
--    d. A drift monitor watches the last 30 days of labelled observations
--       against the training rows; a retraining policy retrains on that
--       window when the monitor raises an alert, and promotes the new
--       version if it beats the champion on the same held-out rows.  The new
--       month's customers churn for other reasons (fiber no longer matters,
--       support calls matter twice as much): the monitor sees the inputs
--       move, the policy retrains, compares and decides, every step recorded.
-------------------------------------------------------------------------------
\o /dev/null
DO $$
BEGIN
    -- a second pass of this script starts the loop over
    IF EXISTS (SELECT FROM mlops.schedules WHERE name = 'churn-db-retrain') THEN
        PERFORM mlops.drop_schedule('churn-db-retrain');
    END IF;
    IF EXISTS (SELECT FROM mlops.retraining_policies WHERE name = 'churn-db-retrain') THEN
        PERFORM mlops.drop_retraining_policy('churn-db-retrain');
    END IF;
    IF EXISTS (SELECT FROM mlops.drift_monitors WHERE name = 'churn-db-monitor') THEN
        PERFORM mlops.drop_drift_monitor('churn-db-monitor');
    END IF;
    IF EXISTS (SELECT FROM mlops.schedules WHERE name = 'churn-db-nightly') THEN
        PERFORM mlops.drop_schedule('churn-db-nightly');
    END IF;
    IF EXISTS (SELECT FROM mlops.ab_tests WHERE key = 'churn_db_ab') THEN
        PERFORM mlops.drop_ab_test('churn_db_ab');
    END IF;
    IF EXISTS (SELECT FROM mlops.registered_models WHERE name = 'churn_db') THEN
        PERFORM mlops.delete_registered_model('churn_db');
    END IF;
END $$;
SELECT mlops.set_experiment('churn-training-db');
SELECT mlops.train('churn_db', 'SELECT customer_id, timestamptz ''2026-02-15 00:00+00'' AS event_timestamp, churned
                                  FROM churn.customers',
                   'churned', features => ARRAY['churn_features'], algorithm => 'logistic_regression',
                   hyperparams => '{"C": 1.0}', test_size => 0.2, seed => 7, experiment => 'churn-training-db',
                   run_name => 'logistic') AS logistic_version \gset
SELECT mlops.train('churn_db', 'SELECT customer_id, timestamptz ''2026-02-15 00:00+00'' AS event_timestamp, churned
                                  FROM churn.customers',
                   'churned', features => ARRAY['churn_features'], algorithm => 'xgboost',
                   hyperparams => '{"max_depth": 3, "eta": 0.1, "num_boost_round": 80, "seed": 7}',
                   test_size => 0.2, seed => 7, experiment => 'churn-training-db',
                   run_name => 'xgboost') AS xgboost_version \gset
\o
\echo 'Two candidates trained in the database, on the same held-out fifth (split by a hash of each row and the seed):'
SELECT o.run_name, o.params ->> 'mlops.algorithm' AS algorithm, v.version,
       (o.metrics ->> 'train_rows')::int AS train_rows, (o.metrics ->> 'test_rows')::int AS test_rows,
       round((o.metrics ->> 'roc_auc')::numeric, 4) AS roc_auc, round((o.metrics ->> 'log_loss')::numeric, 4) AS log_loss,
       round((o.metrics ->> 'accuracy')::numeric, 4) AS accuracy, i.row_count AS input_rows
  FROM mlops.runs_overview o JOIN mlops.model_versions v USING (run_id)
       JOIN mlops.run_inputs i USING (run_id)
 WHERE o.experiment_name = 'churn-training-db' ORDER BY v.version;

\o /dev/null
SELECT v.version AS champion_version FROM mlops.model_versions_overview v
 JOIN mlops.runs_overview o USING (run_id) WHERE v.model_name = 'churn_db'
 ORDER BY (o.metrics ->> 'roc_auc')::float8 DESC LIMIT 1 \gset
SELECT mlops.set_model_alias('churn_db', 'champion', :champion_version);
SELECT mlops.set_model_alias('churn_db', 'challenger',
                             CASE WHEN :champion_version = :logistic_version THEN :xgboost_version ELSE :logistic_version END);
SELECT mlops.create_ab_test('churn_db_ab', ARRAY['churn_db@champion', 'churn_db@challenger'],
                            variant_names => ARRAY['champion', 'challenger'],
                            description => 'the two trained candidates, on the customers'' online features');
SELECT mlops.start_ab_test('churn_db_ab');
DELETE FROM mlops.ab_outcomes WHERE metric = 'retained_db';
CREATE TEMPORARY TABLE served_db AS
SELECT c.customer_id, (p).variant, (p).prediction
  FROM churn.customers c,
       LATERAL mlops.predict_ab('churn_db_ab', c.customer_id::text, mlops.feature_vector('churn_features', c.customer_id)) AS p;
INSERT INTO mlops.ab_outcomes (unit_id, metric, observed_at, value)
SELECT c.customer_id::text, 'retained_db', now() + interval '30 days',
       CASE WHEN NOT c.churned OR (s.prediction > 0.5 AND (c.customer_id * 7919) % 10 < 4) THEN 1 ELSE 0 END
  FROM churn.customers c JOIN served_db s USING (customer_id);
\o
\echo 'The champion (better held-out AUC) against the challenger, by the customers each one retains:'
SELECT variant, model, units, round(mean::numeric, 4) AS retention_rate, round((abs_lift * 100)::numeric, 2) AS lift_points,
       round(p_value::numeric, 4) AS p_value, significant
  FROM mlops.ab_results('churn_db_ab', 'retained_db');

\o /dev/null
DO $$
BEGIN
    IF current_setting('cron.database_name', true) = current_database() THEN
        PERFORM mlops.schedule_batch_score('churn-db-nightly', '30 3 * * *', 'churn_db@champion',
            'mlops_online.customer_profile', 'churn.scores_db', key_columns => ARRAY['customer_id'],
            exclude_columns => ARRAY['as_of', 'mlops_materialized_at']);
    END IF;
END $$;
SELECT EXISTS (SELECT FROM mlops.schedules WHERE name = 'churn-db-nightly') AS scheduled_db \gset
\if :scheduled_db
CALL mlops.run_schedule('churn-db-nightly');
\o
\echo 'The trained champion scores every customer''s latest features nightly (run once now):'
SELECT name, cron, state, model, target, last_status, last_rows_scored FROM mlops.schedules_overview
 WHERE name = 'churn-db-nightly';
\else
CALL mlops.batch_score('churn_db@champion', 'mlops_online.customer_profile', 'churn.scores_db',
                       key_columns => ARRAY['customer_id'], exclude_columns => ARRAY['as_of', 'mlops_materialized_at'], job_name => 'churn-db-nightly');
\o
\endif

-- Labelled observations: the training population two months ago, and the
-- new month's customers (observed over the last 20 days), who churn for
-- other reasons.  Categories as 0-based indices, as the feature view has them.
\o /dev/null
DROP TABLE IF EXISTS churn.observations;
CREATE TABLE churn.observations AS
SELECT t.customer_id, now() - interval '60 days' AS observed_at, t.tenure_months, t.monthly_charges, t.support_calls,
       t.contract_type, t.internet_service, t.payment_method, t.label AS churned
  FROM churn.training_from_features t
UNION ALL
SELECT n.customer_id, now() - make_interval(days => 1 + n.customer_id % 20), n.tenure_months, n.monthly_charges,
       n.support_calls,
       array_position(ARRAY['month-to-month', 'one-year', 'two-year'], n.contract_type) - 1,
       array_position(ARRAY['fiber', 'dsl', 'none'], n.internet_service) - 1,
       array_position(ARRAY['electronic-check', 'mailed-check', 'bank-transfer', 'credit-card'], n.payment_method) - 1,
       churn.u(n.customer_id, 'churn') < 1 / (1 + exp(-(
             -1.6
             + 1.3 * (n.contract_type = 'month-to-month')::int
             - 0.6 * (n.contract_type = 'two-year')::int
             - 0.035 * n.tenure_months
             + 0.015 * (n.monthly_charges - 60)
             + 0.60 * n.support_calls
             + 0.50 * (n.payment_method = 'electronic-check')::int)))
  FROM churn.new_month n;
SELECT mlops.capture_baseline('churn-db-training',
    'SELECT tenure_months, monthly_charges, support_calls, contract_type, internet_service, payment_method
       FROM churn.observations WHERE observed_at < now() - interval ''30 days''',
    options => '{"replace": true, "kinds": {"contract_type": "categorical", "internet_service": "categorical",
                                             "payment_method": "categorical"}}');
SELECT mlops.create_drift_monitor('churn-db-monitor', 'churn-db-training',
    'SELECT observed_at, tenure_months, monthly_charges, support_calls, contract_type, internet_service, payment_method
       FROM churn.observations',
    CASE WHEN current_setting('cron.database_name', true) = current_database() THEN '0 4 * * *' END,
    'observed_at', '30 days');
SELECT mlops.create_retraining_policy('churn-db-retrain', 'churn_db', 'churn.observations', 'churned',
    features => ARRAY['tenure_months', 'monthly_charges', 'support_calls', 'contract_type', 'internet_service',
                      'payment_method'],
    algorithm => 'xgboost', hyperparams => '{"max_depth": 3, "eta": 0.1, "num_boost_round": 80, "seed": 7}',
    time_column => 'observed_at', training_window => '30 days', trigger => 'drift',
    drift_monitor => 'churn-db-monitor', release => 'compare', metric => 'roc_auc', margin => 0.005,
    experiment => 'churn-training-db');
SELECT EXISTS (SELECT FROM mlops.schedules WHERE name = 'churn-db-monitor') AS monitor_scheduled \gset
\if :monitor_scheduled
-- the monitor's nightly run, as pg_cron runs it: it checks, alerts, and the policy retrains
CALL mlops.run_schedule('churn-db-monitor');
\else
CALL mlops.run_drift_monitor('churn-db-monitor');
CALL mlops.retrain('churn-db-retrain');
\endif
\o
\echo 'The drift monitor on the last 30 days of observations: features that moved, and the alert:'
SELECT feature, method, round(statistic::numeric, 4) AS statistic, drifted
  FROM mlops.drift_report('churn-db-training',
                          'SELECT tenure_months, monthly_charges, support_calls, contract_type, internet_service, payment_method
                             FROM churn.observations WHERE observed_at >= now() - interval ''30 days''')
 ORDER BY feature;
SELECT monitor, feature, method, round(statistic::numeric, 4) AS statistic, status
  FROM mlops.drift_alerts_open WHERE monitor = 'churn-db-monitor' ORDER BY feature;
\echo 'The retraining it triggered: each step of the cycle, and where the aliases point now:'
SELECT e.step, e.version,
       left(CASE e.step
                WHEN 'created' THEN format('trigger %s, release %s on %s', e.detail ->> 'trigger', e.detail ->> 'release',
                                           e.detail ->> 'metric')
                WHEN 'started' THEN format('drift alert on %s', e.detail #>> '{drift_alert,monitor}')
                WHEN 'trained' THEN format('run %s on the %s rows of the window, %s held out', e.detail ->> 'run_id',
                                           e.detail ->> 'rows', e.detail ->> 'held_out_rows')
                WHEN 'evaluated' THEN format('%s: champion %s, challenger %s', e.detail ->> 'metric',
                                             round((e.detail ->> 'champion')::numeric, 4),
                                             round((e.detail ->> 'challenger')::numeric, 4))
                ELSE coalesce(e.detail ->> 'reason', '') END, 100) AS detail
  FROM mlops.retraining_events e JOIN mlops.retraining_policies p USING (policy_id)
 WHERE p.name = 'churn-db-retrain' ORDER BY e.event_id;
SELECT version, aliases, description FROM mlops.model_versions_overview
 WHERE model_name = 'churn_db' ORDER BY version;
\echo 'The job runs of the loop, and what each had to say:'
SELECT job_name, kind, status, rows_in, rows_scored, left(note, 60) AS note FROM mlops.latest_job_runs
 WHERE job_name LIKE 'retrain:%' OR kind = 'drift_monitor' ORDER BY job_name;
