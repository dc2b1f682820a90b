-- Training: exact fits whose values can be checked by hand, the logged run
-- and registered version, every bad input with its SQLSTATE (and what a
-- failure leaves: a FAILED run, nothing registered), roles, groups and a
-- search.  (Parity with scikit-learn and XGBoost on realistic data:
-- tests/integration/train_parity and train_xgboost_parity.)
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.err(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- what the failures (models named bad*) left: no run RUNNING, each FAILED with its SQLSTATE, nothing registered
CREATE FUNCTION pg_temp.left_behind() RETURNS TABLE (running bigint, failed bigint, sqlstates text, versions bigint)
LANGUAGE sql AS $$
    SELECT count(*) FILTER (WHERE status = 'RUNNING'), count(*) FILTER (WHERE status = 'FAILED'),
           string_agg(tags ->> 'mlops.sqlstate', ' ' ORDER BY run_id) FILTER (WHERE status = 'FAILED'),
           (SELECT count(*) FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
             WHERE m.name LIKE 'bad%')
      FROM mlops.runs_overview WHERE experiment_name LIKE 'bad%'
$$;
-- a version's coefficients (rounded) and its scaler
CREATE FUNCTION pg_temp.coefs(model text, version int DEFAULT 1) RETURNS TABLE (coef numeric[], intercept numeric[], center numeric[], scale numeric[])
LANGUAGE sql AS $$
    SELECT (SELECT array_agg(round(c::numeric, 9)) FROM jsonb_array_elements_text(a #> '{model,coef}') r,
                                                         jsonb_array_elements_text(r.value::jsonb) c),
           (SELECT array_agg(round(c::numeric, 9)) FROM jsonb_array_elements_text(a #> '{model,intercept}') c),
           (SELECT array_agg(round(c::numeric, 9)) FROM jsonb_array_elements_text(a #> '{scaler,center}') c),
           (SELECT array_agg(round(c::numeric, 9)) FROM jsonb_array_elements_text(a #> '{scaler,scale}') c)
      FROM (SELECT v.artifact::jsonb AS a FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
             WHERE m.name = model AND v.version = coefs.version) s
$$;
-- a run's metrics, rounded
CREATE FUNCTION pg_temp.metrics(model text, version int DEFAULT 1) RETURNS TABLE (metric text, value numeric)
LANGUAGE sql AS $$
    SELECT k, round(v::numeric, 9)
      FROM mlops.model_versions mv JOIN mlops.registered_models m USING (model_id)
           JOIN mlops.runs_overview o USING (run_id), jsonb_each_text(o.metrics) AS e(k, v)
     WHERE m.name = model AND mv.version = metrics.version ORDER BY k
$$;
CREATE SCHEMA tr;

-- y = 2x + 1 on x = 1..5, every row trained on: standardized x has center 3 and
-- population std sqrt(2), so the coefficient is 2 sqrt(2) = 2.828427125 and the intercept 7
CREATE TABLE tr.line AS SELECT x::float8 AS x, 2 * x + 1.0::float8 AS y FROM generate_series(1, 5) x;
SELECT mlops.train('line', 'tr.line', 'y', test_size => 0) AS version;
SELECT * FROM pg_temp.coefs('line');
SELECT run_name, status, params, metrics, tags FROM mlops.runs_overview WHERE experiment_name = 'line';
SELECT m.name, v.version, v.task, v.description, v.run_id IS NOT NULL AS from_run, v.signature
  FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id) WHERE m.name = 'line';
SELECT round(mlops.predict('line:1', '{"x": 10}'::jsonb)::numeric, 9) AS "21",
       round(mlops.predict('line:1', '{"x": null}'::jsonb)::numeric, 9) AS "7 (x imputed 3)";
-- unstandardized, the coefficients are the line's own; without an intercept it is y = 2x + 1 by least squares through 0
SELECT mlops.train('line', 'tr.line', 'y', test_size => 0, hyperparams => '{"standardize": false}') AS version;
SELECT * FROM pg_temp.coefs('line', 2);
SELECT mlops.train('line', 'tr.line', 'y', test_size => 0, hyperparams => '{"standardize": false, "fit_intercept": false}') AS version;
-- sum(x y) / sum(x^2) = (2*55 + 15) / 55 = 125/55 = 2.272727273
SELECT * FROM pg_temp.coefs('line', 3);
-- ridge, unstandardized: x centred has sum of squares 10, so the coefficient is 2*10 / (10 + alpha) = 1 for alpha 10
SELECT mlops.train('line', 'tr.line', 'y', algorithm => 'ridge', test_size => 0, hyperparams => '{"alpha": 10, "standardize": false}');
SELECT * FROM pg_temp.coefs('line', 4);

-- A categorical feature with a held-out split: y = 2x + 1 + 3[c = 'b'], rows 9 and 10 held out.
-- OLS drops the first category ('a', the reference: 0); ridge would keep both.
CREATE TABLE tr.cat AS
SELECT x::float8 AS x, CASE WHEN x % 2 = 0 THEN 'b' ELSE 'a' END AS c,
       2 * x + 1 + CASE WHEN x % 2 = 0 THEN 3 ELSE 0 END::float8 AS y, x >= 9 AS held_out
  FROM generate_series(1, 10) x;
SELECT mlops.train('cat', 'tr.cat', 'y', split_column => 'held_out', hyperparams => '{"standardize": false}');
SELECT * FROM pg_temp.coefs('cat');
SELECT * FROM pg_temp.metrics('cat');
SELECT round(mlops.predict('cat:1', '{"x": 9, "c": "b"}'::jsonb)::numeric, 9) AS "22",
       round(mlops.predict('cat:1', '{"x": 9, "c": "zzz"}'::jsonb)::numeric, 9) AS "19 (unknown: the reference's)",
       round(mlops.predict('cat:1', '{"x": 9, "c": null}'::jsonb)::numeric, 9) AS "19 (imputed: a and b tie, a first)";

-- Logistic regression on one two-category feature, unpenalised: the fit is saturated, so
-- P(yes | a) = 1/4 and P(yes | b) = 3/4 on the training rows: intercept logit(1/4) = -ln 3 =
-- -1.098612289, the coefficient of b ln 3 - (-ln 3) = 2 ln 3 = 2.197224577 (a is the reference).
-- Held out: (a, no) and (b, yes), predicted 1/4 and 3/4: accuracy, precision, recall, f1 and
-- roc_auc 1, log_loss -ln(3/4) = 0.287682072.
CREATE TABLE tr.logit (c text, y text, held_out boolean);
INSERT INTO tr.logit VALUES ('a', 'yes', false), ('a', 'no', false), ('a', 'no', false), ('a', 'no', false),
                            ('b', 'yes', false), ('b', 'yes', false), ('b', 'yes', false), ('b', 'no', false),
                            ('a', 'no', true), ('b', 'yes', true);
SELECT mlops.train('logit', 'tr.logit', 'y', split_column => 'held_out', hyperparams => '{"penalty": "none"}');
SELECT * FROM pg_temp.coefs('logit');
SELECT v.classes, v.task FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id) WHERE m.name = 'logit';
SELECT * FROM pg_temp.metrics('logit');
SELECT (SELECT array_agg(round(p::numeric, 9)) FROM unnest(mlops.predict_proba('logit:1', '{"c": "a"}'::jsonb)) p) AS "{0.75,0.25}",
       mlops.predict_class('logit:1', '{"c": "b"}'::jsonb) AS yes;
-- penalised (C = 1), both categories kept and shrunk symmetrically: coefficients opposite, intercept 0
SELECT mlops.train('logit', 'tr.logit', 'y', split_column => 'held_out', hyperparams => '{"C": 1}');
SELECT coef[1] = -coef[2] AS opposite, coef[2] BETWEEN 0 AND 1.1 AS shrunk, intercept FROM pg_temp.coefs('logit', 2);

-- Bad input: each a clear error with its SQLSTATE; each run started is left FAILED with the
-- SQLSTATE as a tag, nothing registered
CREATE TABLE tr.dup AS SELECT x, x AS x_again, y FROM tr.line;
SELECT pg_temp.err($$SELECT mlops.train('bad_singular', 'tr.dup', 'y', test_size => 0)$$) AS singular;
SELECT * FROM pg_temp.left_behind();
CREATE TABLE tr.const AS SELECT x, 5.0::float8 AS y FROM tr.line;
SELECT pg_temp.err($$SELECT mlops.train('bad_constant', 'tr.const', 'y', test_size => 0)$$) AS constant_target;
CREATE TABLE tr.nulls AS SELECT x, CASE WHEN x = 3 THEN NULL ELSE y END AS y FROM tr.line;
SELECT pg_temp.err($$SELECT mlops.train('bad_nulls', 'tr.nulls', 'y')$$) AS null_target;
SELECT pg_temp.err($$SELECT mlops.train('bad_column', 'tr.line', 'nosuch')$$) AS unknown_target;
SELECT pg_temp.err($$SELECT mlops.train('bad_column', 'tr.line', 'y', features => ARRAY['x', 'nosuch'])$$) AS unknown_feature;
SELECT pg_temp.err($$SELECT mlops.train('bad_text', 'tr.logit', 'y', task => 'regression')$$) AS text_regression;
SELECT pg_temp.err($$SELECT mlops.train('bad_text', 'tr.logit', 'y', algorithm => 'ridge')$$) AS text_ridge;
SELECT pg_temp.err($$SELECT mlops.train('bad_one_class', 'SELECT * FROM tr.logit WHERE y = ''yes''', 'y')$$) AS one_class;
SELECT pg_temp.err($$SELECT mlops.train('bad_algorithm', 'tr.line', 'y', algorithm => 'svm')$$) AS algorithm;
SELECT pg_temp.err($$SELECT mlops.train('bad_task', 'tr.line', 'y', task => 'clustering')$$) AS task;
SELECT pg_temp.err($$SELECT mlops.train('bad_task', 'tr.logit', 'y', task => 'multiclass', test_size => 0)$$) AS task_not_the_classes;
SELECT pg_temp.err($$SELECT mlops.train('bad_param', 'tr.line', 'y', hyperparams => '{"alpha": 1}')$$) AS hyperparameter;
SELECT pg_temp.err($$SELECT mlops.train('bad_param', 'tr.line', 'y', algorithm => 'ridge', hyperparams => '{"alpha": -1}')$$) AS negative_alpha;
SELECT pg_temp.err($$SELECT mlops.train('bad_param', 'tr.logit', 'y', hyperparams => '{"penalty": "l1"}')$$) AS penalty;
SELECT pg_temp.err($$SELECT mlops.train('bad_size', 'tr.line', 'y', test_size => 1)$$) AS test_size_1;
SELECT pg_temp.err($$SELECT mlops.train('bad_size', 'tr.line', 'y', test_size => -0.1)$$) AS test_size_negative;
SELECT pg_temp.err($$SELECT mlops.train('bad_split', 'tr.cat', 'y', split_column => 'c')$$) AS split_not_boolean;
SELECT pg_temp.err($$SELECT mlops.train('bad_split', 'tr.cat', 'y', split_column => 'held_out', features => ARRAY['held_out'])$$) AS split_as_feature;
SELECT pg_temp.err($$SELECT mlops.train('bad_source', 'tr.line; DROP TABLE tr.line', 'y')$$) AS hostile_source;
SELECT pg_temp.err($$SELECT mlops.train('bad_source', 'tr.nosuch', 'y')$$) AS unknown_source;
SELECT * FROM pg_temp.left_behind();
-- a hostile model name is refused before any run starts
SELECT pg_temp.err($$SELECT mlops.train('x''; DROP TABLE tr.line; --', 'tr.line', 'y')$$) AS hostile_model;
SELECT pg_temp.err($$SELECT mlops.train(NULL, 'tr.line', 'y')$$) AS null_model;
SELECT count(*) AS line_still_there FROM tr.line;
-- hostile column names are only ever identifiers (quote_ident): they train as any other
CREATE TABLE tr.hostile ("x""; DROP TABLE tr.line; --" float8, "Y y" float8, "c)" text);
INSERT INTO tr.hostile SELECT x, 2 * x + 1 + CASE WHEN x::int % 2 = 0 THEN 3 ELSE 0 END, CASE WHEN x::int % 2 = 0 THEN 'b' ELSE 'a' END FROM tr.line;
SELECT mlops.train('hostile_columns', 'tr.hostile', 'Y y', test_size => 0, hyperparams => '{"standardize": false}') AS version;
SELECT * FROM pg_temp.coefs('hostile_columns');
SELECT v.signature FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
 WHERE m.name = 'hostile_columns';
SELECT count(*) AS line_still_there FROM tr.line;
-- XGBoost's "seed" hyperparameter is logged beside train's own mlops.seed (the split's): no conflict
SELECT mlops.train('xgb_seed', 'tr.line', 'y', algorithm => 'xgboost', test_size => 0,
                   hyperparams => '{"seed": 3, "num_boost_round": 2}') AS xgboost_seed;
SELECT params ->> 'seed' AS seed, params ->> 'mlops.seed' AS split_seed FROM mlops.runs_overview
 WHERE experiment_name = 'xgb_seed';

-- Roles: a reader may not train (refused before any run); a writer trains on what it can read
CREATE ROLE training_reader IN ROLE mlops_reader;
CREATE ROLE training_writer IN ROLE mlops_writer;
GRANT USAGE ON SCHEMA tr TO training_reader, training_writer;
GRANT SELECT ON tr.line TO training_reader, training_writer;
SET ROLE training_reader;
SELECT pg_temp.err($$SELECT mlops.train('bad_reader', 'tr.line', 'y')$$) AS reader;
SET ROLE training_writer;
SELECT pg_temp.err($$SELECT mlops.train('bad_writer', 'tr.cat', 'y')$$) AS not_readable;
SELECT mlops.train('writer_line', 'tr.line', 'y', test_size => 0) AS writer_trains;
RESET ROLE;
SELECT run_name, status, created_by, tags ->> 'mlops.sqlstate' AS sqlstate FROM mlops.runs_overview
 WHERE experiment_name IN ('bad_reader', 'bad_writer', 'writer_line') ORDER BY run_id;
SELECT * FROM pg_temp.left_behind();

-- Groups: one fit per value of g (y = k x + k on group k), each a nested run and a version tagged with its group
CREATE TABLE tr.groups AS SELECT g, x::float8 AS x, (k * x + k)::float8 AS y
  FROM (VALUES ('one', 1), ('two', 2), ('three', 3)) AS gs(g, k), generate_series(1, 5) x;
SELECT mlops.train('grouped', 'tr.groups', 'y', features => ARRAY['x'], group_column => 'g', test_size => 0,
                   hyperparams => '{"standardize": false}') AS last_version;
SELECT v.version, t.value AS "group", (SELECT value FROM mlops.model_version_tags WHERE version_id = v.version_id AND key = 'group_column') AS group_column,
       c.coef, c.intercept
  FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
       JOIN mlops.model_version_tags t ON t.version_id = v.version_id AND t.key = 'group',
       pg_temp.coefs('grouped', v.version) c
 WHERE m.name = 'grouped' ORDER BY v.version;
SELECT o.run_name, o.status, o.parent_run_id IS NOT NULL AS nested, o.metrics ->> 'groups' AS groups
  FROM mlops.runs_overview o WHERE o.experiment_name = 'grouped' ORDER BY o.run_id;

-- Search: a grid over alpha, each candidate a nested run, the best by held-out rmse (the smallest alpha on an exact line) registered
CREATE TABLE tr.search AS SELECT x::float8 AS x, 2 * x + 1.0::float8 AS y, x % 4 = 0 AS held_out FROM generate_series(1, 12) x;
SELECT mlops.train('searched', 'tr.search', 'y', algorithm => 'ridge', split_column => 'held_out',
                   hyperparams => '{"alpha": [10, 0.01, 1]}', search => '{"method": "grid"}') AS version;
SELECT o.run_name, o.status, o.parent_run_id IS NOT NULL AS nested, o.params ->> 'alpha' AS alpha,
       round((o.metrics ->> 'rmse')::numeric, 6) AS rmse, o.metrics ->> 'candidates' AS candidates,
       o.tags ->> 'mlops.best_run' = (SELECT max(run_id)::text FROM mlops.runs_overview
                                       WHERE experiment_name = 'searched' AND params ->> 'alpha' = '0.01') AS best_is_alpha_0_01
  FROM mlops.runs_overview o WHERE o.experiment_name = 'searched' ORDER BY o.run_id;
SELECT v.version, o.params ->> 'alpha' AS registered_alpha
  FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id) JOIN mlops.runs_overview o USING (run_id)
 WHERE m.name = 'searched';
SELECT pg_temp.err($$SELECT mlops.train('bad_search', 'tr.search', 'y', algorithm => 'ridge', hyperparams => '{"alpha": []}', search => '{}')$$) AS empty_grid;
SELECT pg_temp.err($$SELECT mlops.train('bad_search', 'tr.search', 'y', algorithm => 'ridge', hyperparams => '{"alpha": [1, 2]}', search => '{"method": "bayes"}')$$) AS search_method;
SELECT pg_temp.err($$SELECT mlops.train('bad_search', 'tr.search', 'y', algorithm => 'ridge', hyperparams => '{"alpha": [1, 2]}', search => '{"metric": "roc_auc"}', split_column => 'held_out')$$) AS search_metric;
SELECT * FROM pg_temp.left_behind();

-- A text column of identifiers would be one column per value: refused, naming it
CREATE TABLE tr.wide AS SELECT 'customer-' || i AS customer_ref, i::float8 AS x, (i % 7)::float8 AS y
  FROM generate_series(1, 1100) i;
SELECT pg_temp.err($$SELECT mlops.train('wide_text', 'tr.wide', 'y', test_size => 0)$$) AS too_wide;
SELECT status, tags ->> 'mlops.sqlstate' AS sqlstate FROM mlops.runs_overview WHERE experiment_name = 'wide_text';
SELECT mlops.train('wide_text', 'tr.wide', 'y', features => ARRAY['x'], test_size => 0) AS without_it;

\set VERBOSITY terse
DROP SCHEMA tr CASCADE;
\set VERBOSITY default
DROP OWNED BY training_reader, training_writer;
DROP ROLE training_reader;
DROP ROLE training_writer;

