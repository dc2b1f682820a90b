-- Model-quality metrics: the aggregates against values computed by hand
-- (the arithmetic in the comments), ties in the AUC, empty input, NULLs
-- skipped, bad input with its SQLSTATE, GROUP BY, a role with no mlops role,
-- and parallel plans giving the serial values.  (Parity with sklearn on
-- random data of many shapes: tests/integration/metrics_parity.sh.)
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

--------------------------------------------------------------------------------
-- Regression
--------------------------------------------------------------------------------
-- predicted 1, 2, 3, 4 against actual 1, 3, 2, 6: errors 0, 1, -1, 2
--   rmse = sqrt((0 + 1 + 1 + 4) / 4) = sqrt(1.5) = 1.2247448713915890...
--   mae  = (0 + 1 + 1 + 2) / 4 = 1
--   r2   = 1 - 6 / SST, mean actual 3, SST = 4 + 0 + 1 + 9 = 14: 1 - 6/14 = 4/7 = 0.571428571428...
CREATE TABLE reg (id int, predicted float8, actual float8);
INSERT INTO reg VALUES (1, 1, 1), (2, 2, 3), (3, 3, 2), (4, 4, 6);
SELECT mlops.rmse(predicted, actual), mlops.mae(predicted, actual), mlops.r2_score(predicted, actual) FROM reg;
SELECT abs(mlops.rmse(predicted, actual) - sqrt(1.5)) < 1e-15 AS rmse_is_sqrt_1_5,
       abs(mlops.r2_score(predicted, actual) - 4.0 / 7) < 1e-15 AS r2_is_4_7 FROM reg;
-- a row with a NULL on either side is skipped: the same values
INSERT INTO reg VALUES (5, NULL, 100), (6, 100, NULL), (7, NULL, NULL);
SELECT mlops.rmse(predicted, actual), mlops.mae(predicted, actual), mlops.r2_score(predicted, actual) FROM reg;
-- perfect predictions: rmse 0, mae 0, r2 1
SELECT mlops.rmse(actual, actual), mlops.mae(actual, actual), mlops.r2_score(actual, actual) FROM reg;
-- a constant actual (SST = 0): r2 is 1 when predicted exactly, else 0
SELECT mlops.r2_score(p, 5) AS exact, mlops.r2_score(p + 1, 5) AS off
  FROM (VALUES (5::float8), (5), (5)) v(p);
-- one row: rmse = mae = |2 - 5| = 3; the actual is constant, r2 0
SELECT mlops.rmse(2, 5), mlops.mae(2, 5), mlops.r2_score(2, 5);
-- no rows, or only rows with NULLs: NULL
SELECT mlops.rmse(predicted, actual), mlops.mae(predicted, actual), mlops.r2_score(predicted, actual)
  FROM reg WHERE false;
SELECT mlops.rmse(predicted, actual) FROM reg WHERE id > 4;

--------------------------------------------------------------------------------
-- Classification
--------------------------------------------------------------------------------
-- predicted T T T F F F against actual T F F T F F:
--   tp = 1 (row 1), fp = 2 (rows 2, 3), fn = 1 (row 4), tn = 2 (rows 5, 6)
--   accuracy  = (1 + 2) / 6 = 0.5
--   precision = tp / (tp + fp) = 1/3, recall = tp / (tp + fn) = 1/2
--   f1 = 2 * (1/3) * (1/2) / (1/3 + 1/2) = (1/3) / (5/6) = 2/5 = 0.4
CREATE TABLE cls (id int, predicted boolean, actual boolean, predicted_label text, actual_label text);
INSERT INTO cls VALUES (1, true, true), (2, true, false), (3, true, false),
                       (4, false, true), (5, false, false), (6, false, false);
UPDATE cls SET predicted_label = CASE WHEN predicted THEN 'churn' ELSE 'stay' END,
               actual_label = CASE WHEN actual THEN 'churn' ELSE 'stay' END;
SELECT mlops.accuracy(predicted, actual),
       round(mlops.precision_score(predicted, actual)::numeric, 15) AS precision,
       mlops.recall_score(predicted, actual), mlops.f1_score(predicted, actual)
  FROM cls;
-- the same with text labels and 'churn' as the positive class
SELECT mlops.accuracy(predicted_label, actual_label),
       round(mlops.precision_score(predicted_label, actual_label, 'churn')::numeric, 15) AS precision,
       mlops.recall_score(predicted_label, actual_label, 'churn'),
       mlops.f1_score(predicted_label, actual_label, 'churn')
  FROM cls;
-- 'stay' as the positive class: tp = 2, fp = 1, fn = 2: precision 2/3, recall 1/2,
-- f1 = 2 * (2/3) * (1/2) / (2/3 + 1/2) = (2/3) / (7/6) = 4/7
SELECT round(mlops.precision_score(predicted_label, actual_label, 'stay')::numeric, 15) AS precision,
       mlops.recall_score(predicted_label, actual_label, 'stay'),
       abs(mlops.f1_score(predicted_label, actual_label, 'stay') - 4.0 / 7) < 1e-15 AS f1_is_4_7
  FROM cls;
-- nothing predicted positive: precision 0/0 is 0 (zero_division=0), recall 0/2, f1 0
SELECT mlops.precision_score(false, actual), mlops.recall_score(false, actual), mlops.f1_score(false, actual)
  FROM cls;
-- accuracy of three classes: rows 1 and 3 right: 2/4
SELECT mlops.accuracy(p, a) FROM (VALUES ('a', 'a'), ('b', 'c'), ('c', 'c'), ('a', 'b')) v(p, a);
-- of integers, with NULLs skipped: 3 rows left, 2 right
SELECT mlops.accuracy(p, a) FROM (VALUES (1, 1), (2, 2), (3, 1), (NULL, 1), (1, NULL)) v(p, a);
-- a text comparison follows the collation: "C" tells 'A' from 'a'
SELECT mlops.accuracy(p COLLATE "C", a) FROM (VALUES ('A', 'a'), ('b', 'b')) v(p, a);
-- NULL rows skipped; no rows: NULL
INSERT INTO cls VALUES (7, NULL, true, NULL, 'churn'), (8, true, NULL, 'churn', NULL);
SELECT mlops.accuracy(predicted, actual), mlops.f1_score(predicted, actual),
       mlops.f1_score(predicted_label, actual_label, 'churn') FROM cls;
SELECT mlops.accuracy(predicted, actual), mlops.precision_score(predicted, actual),
       mlops.recall_score(predicted_label, actual_label, 'churn') FROM cls WHERE false;

--------------------------------------------------------------------------------
-- ROC AUC
--------------------------------------------------------------------------------
-- positives score 0.4, 0.8, 0.5; negatives 0.1, 0.4, 0.5: of the 9 pairs,
--   0.4 beats 0.1, ties 0.4 (half), loses to 0.5:  1.5
--   0.8 beats all three:                           3
--   0.5 beats 0.1 and 0.4, ties 0.5 (half):        2.5
-- U = 7, AUC = 7/9 = 0.7777...
CREATE TABLE auc (id int, score float8, label int);
INSERT INTO auc VALUES (1, 0.1, 0), (2, 0.4, 0), (3, 0.4, 1), (4, 0.8, 1), (5, 0.5, 0), (6, 0.5, 1);
SELECT mlops.roc_auc(score, label) AS int_label, mlops.roc_auc(score, label = 1) AS bool_label,
       abs(mlops.roc_auc(score, label) - 7.0 / 9) < 1e-15 AS is_7_9 FROM auc;
-- perfectly ranked: 1; reversed: 0; every score the same: every pair a tie, 0.5
SELECT mlops.roc_auc(label, label) AS perfect, mlops.roc_auc(-label, label) AS reversed,
       mlops.roc_auc(0.3, label) AS all_tied FROM auc;
-- NULLs skipped; only one class: NULL (not defined); no rows: NULL
INSERT INTO auc VALUES (7, NULL, 1), (8, 0.9, NULL);
SELECT mlops.roc_auc(score, label) FROM auc;
SELECT mlops.roc_auc(score, label) FROM auc WHERE label = 1;
SELECT mlops.roc_auc(score, label) FROM auc WHERE false;

--------------------------------------------------------------------------------
-- Log loss
--------------------------------------------------------------------------------
-- probability of the positive class 0.9 (positive), 0.2 (negative), 0.6 (positive):
--   (-ln 0.9 - ln 0.8 - ln 0.6) / 3 = (0.105360515657826 + 0.223143551314210
--                                       + 0.510825623765991) / 3 = 0.279776563579342
SELECT round(mlops.log_loss(p, y)::numeric, 15) AS int_label, round(mlops.log_loss(p, y = 1)::numeric, 15) AS bool_label
  FROM (VALUES (0.9::float8, 1), (0.2, 0), (0.6, 1)) v(p, y);
-- probabilities are clipped to [eps, 1 - eps], eps = 2^-52: a certain miss costs
-- -ln(2^-52) = 52 ln 2 = 36.04365338911715, a certain hit -ln(1 - 2^-52) = 2.2e-16
SELECT mlops.log_loss(0.0, true) AS certain_miss, mlops.log_loss(1.0, false) AS certain_miss_too,
       mlops.log_loss(1.0, true) AS certain_hit, abs(mlops.log_loss(0.0, 1) - 52 * ln(2)) < 1e-13 AS is_52_ln_2;
-- only one class present is fine (the classes are known: 0 and 1); NULLs skipped; no rows: NULL
SELECT round(mlops.log_loss(p, y)::numeric, 15) AS one_class FROM (VALUES (0.5::float8, 1), (0.5, 1), (NULL, 0), (0.1, NULL)) v(p, y);
SELECT mlops.log_loss(p, y) FROM (VALUES (0.5::float8, 1)) v(p, y) WHERE false;
-- multiclass: a row of class probabilities and the class index; a row not summing
-- to 1 is divided by its sum ((0.5, 0.5, 1) is (0.25, 0.25, 0.5)):
--   (-ln 0.7 - ln 0.3 - ln 0.5) / 3 = (0.356674943938732 + 1.203972804325936
--                                      + 0.693147180559945) / 3 = 0.751264976274871
SELECT round(mlops.log_loss(p, y)::numeric, 15) AS multiclass
  FROM (VALUES ('{0.7, 0.2, 0.1}'::float8[], 0), ('{0.2, 0.5, 0.3}', 2), ('{0.5, 0.5, 1}', 2), (NULL, 1)) v(p, y);

--------------------------------------------------------------------------------
-- Bad input
--------------------------------------------------------------------------------
SELECT mlops.rmse(predicted, actual) FROM (VALUES (1::float8, 'NaN'::float8)) v(predicted, actual);
SELECT mlops.roc_auc(0.5, 2);
SELECT mlops.log_loss(1.5, true);
SELECT mlops.f1_score(p, a, NULL) FROM (VALUES ('x', 'y')) v(p, a);
SELECT pg_temp.err($$SELECT mlops.rmse('NaN', 1)$$) AS nan_predicted,
       pg_temp.err($$SELECT mlops.mae(1, 'Infinity')$$) AS infinite_actual,
       pg_temp.err($$SELECT mlops.r2_score('-Infinity', 1)$$) AS infinite_predicted;
SELECT pg_temp.err($$SELECT mlops.roc_auc('NaN', true)$$) AS nan_score,
       pg_temp.err($$SELECT mlops.roc_auc(0.5, -1)$$) AS label_minus_1,
       pg_temp.err($$SELECT mlops.log_loss(0.5, 2)$$) AS log_loss_label_2;
SELECT pg_temp.err($$SELECT mlops.log_loss(-0.1, false)$$) AS negative_probability,
       pg_temp.err($$SELECT mlops.log_loss('NaN', false)$$) AS nan_probability,
       pg_temp.err($$SELECT mlops.accuracy('{}'::json, '{}'::json)$$) AS no_equality,
       pg_temp.err($$SELECT mlops.precision_score(true, false, NULL::boolean)$$) AS null_positive;
SELECT pg_temp.err($$SELECT mlops.log_loss(p, y) FROM (VALUES ('{0.5, 0.5}'::float8[], 0), ('{0.2, 0.3, 0.5}', 1)) v(p, y)$$) AS k_differs,
       pg_temp.err($$SELECT mlops.log_loss('{0.5, 0.5}'::float8[], 2)$$) AS class_index_2_of_2,
       pg_temp.err($$SELECT mlops.log_loss('{0.5, NULL}'::float8[], 0)$$) AS null_element;
-- a bad value in a skipped row (a NULL beside it) is no error
SELECT mlops.roc_auc(s, l) FROM (VALUES (NULL::float8, 7), ('NaN', NULL), (0.2, 0), (0.7, 1)) v(s, l);

--------------------------------------------------------------------------------
-- GROUP BY: one value per group; a group with one class has no AUC
--------------------------------------------------------------------------------
-- day 1: the AUC table's rows 1-6 (7/9); day 2: positives 0.9, 0.3, negatives 0.2 (AUC 1)
-- and rmse of (score, label): day 2 errors 0.1, 0.7, 0.2: sqrt(0.54 / 3) = sqrt(0.18)
CREATE TABLE days AS
SELECT 1 AS day, score, label FROM auc WHERE id <= 6
UNION ALL SELECT 2, 0.9, 1 UNION ALL SELECT 2, 0.3, 1 UNION ALL SELECT 2, 0.2, 0
UNION ALL SELECT 3, 0.6, 1;
-- day 1 errors 0.1, 0.4, 0.6, 0.2, 0.5, 0.5: sqrt(1.07 / 6) = 0.4222953153...; day 3: 0.4
SELECT day, round(mlops.roc_auc(score, label)::numeric, 15) AS auc,
       round(mlops.rmse(score, label)::numeric, 12) AS rmse, count(*)
  FROM days GROUP BY day ORDER BY day;
SELECT abs(mlops.rmse(score, label) - sqrt(0.18)) < 1e-15 AS day_2_rmse_is_sqrt_0_18 FROM days WHERE day = 2;
-- ROLLUP: the total over all three days
SELECT day, round(mlops.roc_auc(score, label)::numeric, 15) AS auc FROM days GROUP BY ROLLUP (day) ORDER BY day;
-- as a window function (the AUC of the rows so far, by id)
SELECT id, mlops.roc_auc(score, label) OVER (ORDER BY id) AS auc_so_far FROM auc WHERE id <= 6 ORDER BY id;

--------------------------------------------------------------------------------
-- A role with no mlops role may use them all (they read no table)
--------------------------------------------------------------------------------
CREATE ROLE regress_metrics_nobody;
GRANT SELECT ON reg, cls, auc TO regress_metrics_nobody;
SET ROLE regress_metrics_nobody;
SELECT mlops.rmse(predicted, actual), mlops.r2_score(predicted, actual) FROM reg;
SELECT mlops.accuracy(predicted_label, actual_label), mlops.f1_score(predicted, actual),
       mlops.f1_score(predicted_label, actual_label, 'churn') FROM cls;
SELECT round(mlops.roc_auc(score, label)::numeric, 15), mlops.log_loss(0.5, label) FROM auc;
-- and their support functions are not theirs to call
SELECT mlops._rmse_final('{1,1,0,1,0,0,0,0}');
RESET ROLE;

--------------------------------------------------------------------------------
-- Parallel plans give the serial values
--------------------------------------------------------------------------------
-- 100,000 rows: predicted and actual over a grid with ties, labels from the id
CREATE TABLE big AS
SELECT g AS id, (g % 1000) / 1000.0 AS score, ((g * 7919) % 1013) / 1013.0 AS actual,
       (g % 3 = 0 OR (g % 1000) > 700) AS label, (g % 1000) > 500 AS predicted
  FROM generate_series(1, 100000) g;
ANALYZE big;
CREATE TABLE serial AS
SELECT mlops.rmse(score, actual) AS rmse, mlops.mae(score, actual) AS mae, mlops.r2_score(score, actual) AS r2,
       mlops.accuracy(predicted, label) AS accuracy, mlops.precision_score(predicted, label) AS precision,
       mlops.recall_score(predicted, label) AS recall, mlops.f1_score(predicted, label) AS f1,
       mlops.roc_auc(score, label) AS auc, mlops.log_loss(score, label) AS log_loss
  FROM big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- the plan: partial aggregates in the workers, combined in the leader
EXPLAIN (COSTS OFF)
SELECT mlops.rmse(score, actual), mlops.roc_auc(score, label), mlops.log_loss(score, label) FROM big;
CREATE TABLE parallel AS
SELECT mlops.rmse(score, actual) AS rmse, mlops.mae(score, actual) AS mae, mlops.r2_score(score, actual) AS r2,
       mlops.accuracy(predicted, label) AS accuracy, mlops.precision_score(predicted, label) AS precision,
       mlops.recall_score(predicted, label) AS recall, mlops.f1_score(predicted, label) AS f1,
       mlops.roc_auc(score, label) AS auc, mlops.log_loss(score, label) AS log_loss
  FROM big;
-- counts and the exact AUC are equal; the sums within rounding (combined in another order)
SELECT s.accuracy = p.accuracy AND s.precision = p.precision AND s.recall = p.recall
       AND s.f1 = p.f1 AND s.auc = p.auc AS counts_and_auc_equal,
       abs(s.rmse - p.rmse) <= 1e-13 * s.rmse AND abs(s.mae - p.mae) <= 1e-13 * s.mae
       AND abs(s.r2 - p.r2) <= 1e-13 * abs(s.r2) AND abs(s.log_loss - p.log_loss) <= 1e-13 * s.log_loss
       AS sums_equal_within_1e_13
  FROM serial s, parallel p;
-- GROUP BY in parallel too, against the serial GROUP BY
CREATE TABLE parallel_groups AS
SELECT id % 5 AS g, mlops.roc_auc(score, label) AS auc, mlops.rmse(score, actual) AS rmse FROM big GROUP BY 1;
SET max_parallel_workers_per_gather = 0;
SELECT count(*) AS groups,
       bool_and(s.auc = p.auc AND abs(s.rmse - p.rmse) <= 1e-13 * s.rmse) AS groups_equal
  FROM (SELECT id % 5 AS g, mlops.roc_auc(score, label) AS auc, mlops.rmse(score, actual) AS rmse
          FROM big GROUP BY 1) s
  JOIN parallel_groups p USING (g);
-- a role with no mlops role, in parallel: the workers combine with the owner's rights
SET max_parallel_workers_per_gather = 2;
GRANT SELECT ON big, serial TO regress_metrics_nobody;
SET ROLE regress_metrics_nobody;
SELECT s.auc = mlops.roc_auc(score, label) AS auc_equal,
       abs(s.rmse - mlops.rmse(score, actual)) <= 1e-13 * s.rmse AS rmse_equal
  FROM big, serial s GROUP BY s.auc, s.rmse;
RESET ROLE;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

DROP TABLE reg, cls, auc, days, big, serial, parallel, parallel_groups;
DROP ROLE regress_metrics_nobody;
