-- Drift statistics: the two-sample functions on arrays against values
-- computed by hand (or by scipy, noted), baselines, the aggregates and the
-- drift report on small data, and every bad input with its SQLSTATE.
-- (Parity with scipy on large samples, parallel plans, monitors on pg_cron:
-- tests/integration/drift_parity.sh and drift_monitor.sh.)
\set SHOW_CONTEXT never
-- bad input is shown as SQLSTATE: message
CREATE FUNCTION pg_temp.err(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- KS: F1 - F2 peaks at 5 with 5/5 - 2/6 = 2/3; exact p = 0.10822510822510821 (scipy)
SELECT * FROM mlops.ks_2samp(ARRAY[1, 2, 3, 4, 5]::float8[], ARRAY[2.5, 3.5, 6, 7, 8, 9]::float8[]);
SELECT method FROM mlops.ks_2samp(ARRAY[1, 2, 3]::float8[], ARRAY[4, 5, 6]::float8[], 'asymp');
-- identical samples: D = 0, p = 1; NULL and NaN elements are left out
SELECT * FROM mlops.ks_2samp(ARRAY[1, 2, NULL, 3]::float8[], ARRAY[3, 'NaN', 2, 1]::float8[]);
-- Wasserstein: every unit of mass moves 5
SELECT mlops.wasserstein_distance(ARRAY[0, 1, 3]::float8[], ARRAY[5, 6, 8]::float8[]);
-- PSI over 2 bins of 1..10: the edge is the median, 5.5; current [1, 1, 1, 9] has
-- proportions (0.75, 0.25) against (0.5, 0.5): 0.25 ln 1.5 - 0.25 ln 0.5 = 0.274653072...
SELECT round(mlops.psi(ARRAY(SELECT g::float8 FROM generate_series(1, 10) g), ARRAY[1, 1, 1, 9]::float8[], 2)::numeric, 12) AS psi;
-- an empty bin counts as 1e-4: current all in the lower bin:
-- (1 - 0.5) ln(1 / 0.5) + (1e-4 - 0.5) ln(1e-4 / 0.5) = 4.604318...
SELECT round(mlops.psi(ARRAY(SELECT g::float8 FROM generate_series(1, 10) g), ARRAY[1, 2]::float8[], 2)::numeric, 12) AS psi;
-- a value equal to an edge goes to the bin above it (np.digitize): 5.5 is in the upper bin
SELECT round(mlops.psi(ARRAY(SELECT g::float8 FROM generate_series(1, 10) g), ARRAY[5.5, 1]::float8[], 2)::numeric, 12) AS psi_zero;
-- Jensen-Shannon distance of (0.75, 0.25) and (0.5, 0.5), natural log
SELECT round(mlops.js_distance(ARRAY(SELECT g::float8 FROM generate_series(1, 10) g), ARRAY[1, 1, 1, 9]::float8[], 2)::numeric, 12) AS js;
SELECT round(sqrt((0.75 * ln(0.75 / 0.625) + 0.25 * ln(0.25 / 0.375) + 0.5 * ln(0.5 / 0.625) + 0.5 * ln(0.5 / 0.375)) / 2)::numeric, 12) AS by_hand;
-- chisquare: statistic 3.5, p = 0.6233876277495822 (scipy)
SELECT * FROM mlops.chisquare(ARRAY[16, 18, 16, 14, 12, 12]::float8[], ARRAY[16, 16, 16, 16, 16, 8]::float8[]);
-- a category expected 0 but observed: infinite statistic, p 0 (scipy's result)
SELECT * FROM mlops.chisquare(ARRAY[5, 5]::float8[], ARRAY[10, 0]::float8[]);

-- bad input: clear errors
SELECT pg_temp.err($q$SELECT mlops.ks_2samp('{}'::float8[], ARRAY[1]::float8[])$q$);
SELECT pg_temp.err($q$SELECT mlops.ks_2samp(ARRAY[NULL, 'NaN']::float8[], ARRAY[1]::float8[])$q$);
SELECT pg_temp.err($q$SELECT mlops.ks_2samp(ARRAY[1, 'Infinity']::float8[], ARRAY[1]::float8[])$q$);
SELECT pg_temp.err($q$SELECT mlops.ks_2samp(ARRAY[1]::float8[], ARRAY[1]::float8[], 'fast')$q$);
SELECT pg_temp.err($q$SELECT mlops.ks_2samp(ARRAY[[1, 2], [3, 4]]::float8[], ARRAY[1]::float8[])$q$);
SELECT pg_temp.err($q$SELECT mlops.psi(ARRAY[1, 2]::float8[], ARRAY[1]::float8[], 1)$q$);
SELECT pg_temp.err($q$SELECT mlops.chisquare(ARRAY[1, 2]::float8[], ARRAY[3]::float8[])$q$);
SELECT pg_temp.err($q$SELECT mlops.chisquare(ARRAY[1, 2]::float8[], ARRAY[1, 1]::float8[])$q$);
SELECT pg_temp.err($q$SELECT mlops.chisquare(ARRAY[1, NULL]::float8[], ARRAY[1, 1]::float8[])$q$);
SELECT pg_temp.err($q$SELECT mlops.chisquare(ARRAY[-1, 3]::float8[], ARRAY[1, 1]::float8[])$q$);

-- Baselines.  Reference: x = 1..100 (deciles at 10.9, 20.8, ...), colour with
-- red 50, green 30, blue 20; one NULL x and one NULL colour besides.
CREATE TABLE drift_ref AS
SELECT g AS id, g::float8 AS x, CASE WHEN g <= 50 THEN 'red' WHEN g <= 80 THEN 'green' ELSE 'blue' END AS colour,
       now() AS at
  FROM generate_series(1, 100) g
UNION ALL SELECT 101, NULL, NULL, now();
SELECT mlops.capture_baseline('ref', 'drift_ref', ARRAY['x', 'colour']) > 0 AS captured;
SELECT column_name, kind, data_type, n_rows, n_null, n, round(null_rate::numeric, 6) AS null_rate, mean,
       round(std::numeric, 6) AS std, min, max, edges, bin_counts, categories, category_counts, values_exact,
       cardinality(sorted_values) AS kept
  FROM mlops.drift_baseline_columns ORDER BY position;
SELECT name, source, source_kind, n_rows, columns, numeric_columns, categorical_columns
  FROM mlops.drift_baselines_overview;

-- the reference against itself: nothing drifts
SELECT feature, kind, n_reference, n_current, method, statistic, p_value, threshold, drifted,
       stats ->> 'null_rate' AS null_rate
  FROM mlops.drift_report('ref', 'drift_ref');
SELECT * FROM mlops.dataset_drift('ref', 'drift_ref');

-- a shifted current: x + 50 (half out of the reference's range), colours all red or new
CREATE TABLE drift_cur AS
SELECT g AS id, g + 50::float8 AS x, CASE WHEN g <= 60 THEN 'red' ELSE 'purple' END AS colour, now() AS at
  FROM generate_series(1, 100) g;
SELECT feature, method, round(statistic::numeric, 9) AS statistic, round(p_value::numeric, 12) AS p_value,
       threshold, drifted
  FROM mlops.drift_report('ref', 'drift_cur');
-- KS: D = 0.5 exactly (the shift is half the range); Wasserstein: 50 units of mass moved
-- (hand: every quantile moves by 50); out of range: 50 of 100; new categories: 40 of 100
SELECT feature, stats ->> 'ks_statistic' AS ks, stats ->> 'wasserstein' AS w,
       stats ->> 'out_of_range_rate' AS out_of_range, stats ->> 'new_category_rate' AS new_categories,
       stats ->> 'chi2_statistic' AS chi2, stats ->> 'chi2_p_value' AS chi2_p
  FROM mlops.drift_report('ref', 'drift_cur');
SELECT * FROM mlops.dataset_drift('ref', 'drift_cur');
-- options: a method and threshold for every feature, or per feature; a subset of features
SELECT feature, method, threshold, drifted
  FROM mlops.drift_report('ref', 'drift_cur', '{"method": "psi", "threshold": 100}');
SELECT feature, method, threshold, drifted
  FROM mlops.drift_report('ref', 'drift_cur', '{"features": ["x"], "columns": {"x": {"method": "js", "threshold": 0.9}}}');
-- a query as the current data
SELECT feature, drifted FROM mlops.drift_report('ref', 'SELECT * FROM drift_ref WHERE id <= 100');

-- the aggregates, usable in any GROUP BY: per half of the current data
SELECT id <= 50 AS first_half, mlops.ks_2samp_agg(x, 'ref', 'x'), round(mlops.psi_agg(x, 'ref', 'x')::numeric, 9) AS psi,
       mlops.wasserstein_agg(x, 'ref', 'x'), mlops.chisquare_agg(colour, 'ref', 'colour'),
       round(mlops.js_distance_agg(colour, 'ref', 'colour')::numeric, 9) AS js
  FROM drift_cur GROUP BY 1 ORDER BY 1;
-- no rows: NULL; only NULLs: NULL statistics, the null rate in drift_stats_agg
SELECT mlops.psi_agg(x, 'ref', 'x') FROM drift_cur WHERE false;
SELECT mlops.ks_2samp_agg(NULL::float8, 'ref', 'x'), mlops.drift_stats_agg(NULL::float8, 'ref', 'x') ->> 'null_rate' AS null_rate
  FROM generate_series(1, 3);

-- bad input to the aggregates and the report
SELECT pg_temp.err($q$SELECT mlops.psi_agg(x, 'nope', 'x') FROM drift_cur$q$);
SELECT pg_temp.err($q$SELECT mlops.psi_agg(x, 'ref', 'nope') FROM drift_cur$q$);
SELECT pg_temp.err($q$SELECT mlops.psi_agg(colour, 'ref', 'x') FROM drift_cur$q$);
SELECT pg_temp.err($q$SELECT mlops.psi_agg(x, 'ref', 'colour') FROM drift_cur$q$);
SELECT pg_temp.err($q$SELECT mlops.psi_agg(x, NULL, 'x') FROM drift_cur$q$);
SELECT pg_temp.err($q$SELECT * FROM mlops.drift_report('nope', 'drift_cur')$q$);
SELECT pg_temp.err($q$SELECT * FROM mlops.drift_report('ref', 'SELECT id, colour FROM drift_cur')$q$);
SELECT pg_temp.err($q$SELECT * FROM mlops.drift_report('ref', 'SELECT id, x::text AS x, colour FROM drift_cur')$q$);
SELECT pg_temp.err($q$SELECT * FROM mlops.drift_report('ref', 'drift_cur', '{"method": "chisquare"}')$q$);
SELECT pg_temp.err($q$SELECT * FROM mlops.drift_report('ref', 'drift_cur', '{"colour": 1}')$q$);
SELECT pg_temp.err($q$SELECT * FROM mlops.drift_report('ref', 'drift_cur', '{"features": ["nope"]}')$q$);
SELECT pg_temp.err($q$SELECT * FROM mlops.drift_report('ref', 'no_such_table')$q$);
SELECT pg_temp.err($q$SELECT * FROM mlops.drift_report('ref', 'drift_cur; DROP TABLE drift_ref')$q$);

-- bad captures
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('ref', 'drift_ref', ARRAY['x'])$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('empty', 'SELECT * FROM drift_ref WHERE false')$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('nulls', 'SELECT NULL::float8 AS x FROM generate_series(1, 3)')$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('bad', 'drift_ref', ARRAY['nope'])$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('bad', 'drift_ref', ARRAY['at'])$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('bad', 'drift_ref', NULL, '{"bins": 1}')$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('bad', 'drift_ref', NULL, '{"colour": "x"}')$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('bad', 'drift_ref', NULL, '{"kinds": {"x": "ordinal"}}')$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('ids', 'SELECT g::text AS id FROM generate_series(1, 2000) g')$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline(NULL, 'drift_ref')$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline('bad', NULL)$q$);
-- replace, and kinds overridden: the id column as categorical
SELECT mlops.capture_baseline('ref', 'drift_ref', ARRAY['x', 'id'], '{"replace": true, "kinds": {"id": "categorical"}, "bins": 4}') > 0 AS replaced;
SELECT column_name, kind, edges, cardinality(categories) AS categories FROM mlops.drift_baseline_columns ORDER BY position;

-- the state's text form reads back; a damaged one is refused
SELECT length(mlops._drift_capture(x, 1000)::text) > 0 AS has_text_form FROM drift_ref;
SELECT (SELECT mlops._drift_capture(x, 1000) FROM drift_ref)::text::mlops.drift_state IS NOT NULL AS round_trip;
SELECT pg_temp.err($q$SELECT 'drift1:00'::mlops.drift_state$q$);
SELECT pg_temp.err($q$SELECT 'nonsense'::mlops.drift_state$q$);

-- a prediction baseline from a batch scoring target
CREATE TABLE drift_scores AS SELECT g AS id, g / 100.0::float8 AS prediction, 'day1' AS slice FROM generate_series(1, 100) g;
SELECT mlops.capture_prediction_baseline('preds', 'drift_scores', 'day1') > 0 AS captured;
SELECT b.source_kind, c.column_name, c.n FROM mlops.drift_baselines b JOIN mlops.drift_baseline_columns c USING (baseline_id)
 WHERE b.name = 'preds';
SELECT mlops.drop_baseline('preds');
SELECT pg_temp.err($q$SELECT mlops.drop_baseline('preds')$q$);

-- a baseline from what a model version was trained on: its run's training
-- input, over the version's signature features
CREATE TABLE drift_train AS SELECT g AS id, g::float8 AS a, (g % 3)::text AS b, g % 2 AS label FROM generate_series(1, 200) g;
SELECT mlops.create_experiment('drift-exp') > 0 AS created;
SELECT mlops.start_run('drift-exp', 'train') AS run \gset
SELECT mlops.log_input(:run, 'drift_train', 'training') IS NOT NULL AS logged;
SELECT mlops.log_artifact(:run, 'model.json', convert_to('{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "categorical", "categories": ["0", "1", "2"]}],
  "model": {"type": "linear", "link": "identity", "coef": [1, 0, 0, 0], "intercept": [0]}}', 'UTF8')) IS NOT NULL AS logged;
SELECT mlops.end_run(:run);
SELECT mlops.register_model_version_from_run('drift_m', :run, 'model.json') AS version;
SELECT mlops.capture_baseline_from_model('from-model', 'drift_m:1') > 0 AS captured;
SELECT b.source, b.source_kind, b.version_id = (SELECT version_id FROM mlops.model_versions_overview WHERE model_name = 'drift_m') AS of_version,
       string_agg(c.column_name || ':' || c.kind, ', ' ORDER BY c.position) AS columns
  FROM mlops.drift_baselines b JOIN mlops.drift_baseline_columns c USING (baseline_id)
 WHERE b.name = 'from-model' GROUP BY 1, 2, 3;
-- a version registered without a run has no training data to capture
SELECT mlops.register_model_version('drift_norun', '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}], "model": {"type": "linear", "link": "identity", "coef": [1], "intercept": [0]}}') AS version;
SELECT pg_temp.err($q$SELECT mlops.capture_baseline_from_model('bad', 'drift_norun:1')$q$);
SELECT pg_temp.err($q$SELECT mlops.capture_baseline_from_model('bad', 'no_such_model')$q$);

-- monitors without pg_cron: run by hand, history, alerts; names shared with schedules
SELECT mlops.create_drift_monitor('drift-mon', 'ref', 'drift_cur') > 0 AS created;
CALL mlops.run_drift_monitor('drift-mon');
SELECT n_rows, n_features, n_drifted, dataset_drifted FROM mlops.drift_checks;
SELECT feature, method, drifted FROM mlops.drift_history ORDER BY feature;
SELECT coalesce(feature, '(dataset)') AS feature, status, checks FROM mlops.drift_alerts ORDER BY alert_id;
SELECT mlops.acknowledge_drift_alert((SELECT min(alert_id) FROM mlops.drift_alerts));
SELECT status, closed_by = current_user AS by_me, note FROM mlops.drift_alerts ORDER BY alert_id LIMIT 1;
SELECT pg_temp.err($q$SELECT mlops.acknowledge_drift_alert((SELECT max(alert_id) + 1 FROM mlops.drift_alerts))$q$);
SELECT job_name, kind, status, model_ref, rows_in FROM mlops.job_runs WHERE kind = 'drift_monitor';
SELECT pg_temp.err($q$SELECT mlops.schedule_batch_score('drift-mon', '@daily', 'batchy@champion', 'customers', 'x')$q$);
SELECT pg_temp.err($q$SELECT mlops.create_drift_monitor('drift-mon', 'ref', 'drift_cur')$q$);
SELECT pg_temp.err($q$SELECT mlops.create_drift_monitor('bad', 'ref', 'drift_cur', timestamp_column => 'at')$q$);
SELECT pg_temp.err($q$SELECT mlops.create_drift_monitor('bad', 'ref', 'drift_cur', options => '{"colour": 1}')$q$);
SELECT pg_temp.err($q$SELECT mlops.create_drift_monitor('bad', 'nope', 'drift_cur')$q$);
SELECT pg_temp.err($q$SELECT mlops.drop_baseline('ref')$q$);
-- another writer: neither runs nor drops the monitor, nor watches another role's baseline
CREATE ROLE drift_other_writer IN ROLE mlops_writer;
GRANT SELECT ON drift_cur TO drift_other_writer;
SET ROLE drift_other_writer;
SELECT pg_temp.err($q$CALL mlops.run_drift_monitor('drift-mon')$q$);
SELECT pg_temp.err($q$SELECT mlops.drop_drift_monitor('drift-mon')$q$);
SELECT pg_temp.err($q$SELECT mlops.acknowledge_drift_alert((SELECT max(alert_id) FROM mlops.drift_alerts))$q$);
SELECT pg_temp.err($q$SELECT mlops.create_drift_monitor('mine', 'ref', 'drift_cur')$q$);
SELECT pg_temp.err($q$CALL mlops.batch_score('batchy@champion', 'customers', 'other_scores', ARRAY['customer_id'], features => 'x', job_name => 'drift-mon')$q$);
RESET ROLE;
SELECT mlops.drop_drift_monitor('drift-mon');
SELECT count(*) AS monitors, (SELECT count(*) FROM mlops.drift_history) AS history FROM mlops.drift_monitors;
DROP OWNED BY drift_other_writer;
DROP ROLE drift_other_writer;
