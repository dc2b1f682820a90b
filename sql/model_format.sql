-- The model format, rule by rule (README, "Model format"): each documented
-- rule and default on a small document whose output is worked out by hand in
-- the comments, or refused with the JSON path of the problem.  Compiled with
-- mlops.compile_model() and scored with mlops.score(): no registry.
\set SHOW_CONTEXT never
SET extra_float_digits = 0;
CREATE FUNCTION pg_temp.s(doc text, x float8[]) RETURNS float8 LANGUAGE sql
  AS $$ SELECT mlops.score(mlops.compile_model(doc), x) $$;
CREATE FUNCTION pg_temp.s(doc text, x jsonb) RETURNS float8 LANGUAGE sql
  AS $$ SELECT mlops.score(mlops.compile_model(doc), x) $$;
CREATE FUNCTION pg_temp.p(doc text, x float8[]) RETURNS float8[] LANGUAGE sql
  AS $$ SELECT mlops.score_proba(mlops.compile_model(doc), x) $$;
CREATE FUNCTION pg_temp.k(doc text, x float8[]) RETURNS text LANGUAGE sql
  AS $$ SELECT mlops.score_class(mlops.compile_model(doc), x) $$;

-------------------------------------------------------------------------------
-- The document: y = 2 x + 1
-------------------------------------------------------------------------------
\set lin '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [2], "intercept": 1, "link": "identity"}}'
SELECT pg_temp.s(:'lin', ARRAY[3]) AS "7";
-- format is exactly "mlops.model/v1"
SELECT mlops.compile_model(replace(:'lin', 'mlops.model/v1', 'mlops.model/v1.1'));
-- an unknown field is refused wherever it is, so that a typo is not ignored
SELECT mlops.compile_model(replace(:'lin', '"task"', '"notes": "x", "task"'));
SELECT mlops.compile_model(replace(:'lin', '"type": "numeric"', '"type": "numeric", "unit": "cm"'));
SELECT mlops.compile_model(replace(:'lin', '"link"', '"bias": 1, "link"'));
SELECT mlops.compile_model(replace(:'lin', '"model"', '"scaler": {"center": [0], "scale": [1], "shift": [0]}, "model"'));
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "mlp", "output_activation": "identity", "layers": [{"weights": [[1]], "bias": [0], "dropout": 0.5}]}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity", "trees": [{"feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [1], "depth": 0}]}}');
-- metadata: an object of anything, kept in the artifact, never read
SELECT pg_temp.s(replace(:'lin', '"task"', '"metadata": {"trained_by": "me", "auc": [0.9, null]}, "task"'), ARRAY[3]) AS "7";
SELECT mlops.compile_model(replace(:'lin', '"task"', '"metadata": "v2", "task"'));
-- numbers are finite (JSON has no NaN; 1e999 overflows), keys appear once
SELECT mlops.compile_model(replace(:'lin', '"coef": [2]', '"coef": [1e999]'));
SELECT mlops.compile_model(replace(:'lin', '"intercept": 1', '"intercept": 1, "intercept": 2'));

-------------------------------------------------------------------------------
-- task and classes
-------------------------------------------------------------------------------
-- labels may be booleans (and strings, integers), kept as text:
-- sigmoid(1) > 1/2 gives the second class, sigmoid(-1) the first
\set bin '{"format": "mlops.model/v1", "task": "binary", "classes": [false, true], "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [1], "link": "logistic"}}'
SELECT pg_temp.k(:'bin', ARRAY[1]) AS "true", pg_temp.k(:'bin', ARRAY[-1]) AS "false",
       pg_temp.s(:'bin', ARRAY[0]) AS "0.5 = P(true)";
SELECT mlops.compile_model(replace(:'bin', '[false, true]', '[0, 1.5]'));      -- not a label
SELECT mlops.compile_model(replace(:'bin', '[false, true]', '[1, "1"]'));      -- the same text twice
SELECT mlops.compile_model(replace(:'bin', '[false, true]', '["a", "b", "c"]'));  -- binary: exactly 2
SELECT mlops.compile_model(replace(:'bin', '"classes": [false, true], ', ''));  -- required
SELECT mlops.compile_model(replace(:'lin', '"task": "regression"', '"task": "regression", "classes": ["a", "b"]'));
SELECT mlops.compile_model(replace(:'lin', '"regression"', '"ranking"'));

-------------------------------------------------------------------------------
-- features, reading and encoding.  Encoded columns, in place:
--   [a, c = "x", c = "2", c = "true", b]   .   coef [1, 10, 20, 30, 100]
-------------------------------------------------------------------------------
\set enc '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}, {"name": "c", "type": "categorical", "categories": ["x", 2, true]}, {"name": "b", "type": "numeric"}], "model": {"type": "linear", "coef": [1, 10, 20, 30, 100], "link": "identity"}}'
-- float8[]: the category's 0-based index
SELECT pg_temp.s(:'enc', ARRAY[1, 0, 2]) AS "211", pg_temp.s(:'enc', ARRAY[1, 1, 2]) AS "221",
       pg_temp.s(:'enc', ARRAY[1, 2, 2]) AS "231";
-- jsonb: a numeric feature takes a number or a boolean (1/0); a category is
-- a string, an integer (2.0 is 2) or a boolean
SELECT pg_temp.s(:'enc', '{"a": 1, "c": "x", "b": 2}'::jsonb) AS "211",
       pg_temp.s(:'enc', '{"a": true, "c": 2.0, "b": 2}'::jsonb) AS "221",
       pg_temp.s(:'enc', '{"a": 1, "c": "2", "b": 2}'::jsonb) AS "221 too",
       pg_temp.s(:'enc', '{"a": false, "c": true, "b": 0}'::jsonb) AS "30";
SELECT pg_temp.s(:'enc', '{"a": "1", "c": "x", "b": 2}'::jsonb);   -- a string for a number
SELECT pg_temp.s(:'enc', '{"a": 1, "c": "y", "b": 2}'::jsonb);     -- unknown: "error" by default
SELECT pg_temp.s(:'enc', ARRAY[1, 1.5, 2]);                        -- not an index
SELECT pg_temp.s(:'enc', ARRAY[1, 3, 2]);
SELECT pg_temp.s(:'enc', ARRAY[1, 2]);                             -- one element per feature
SELECT pg_temp.s(:'enc', '{"a": 1, "c": "x", "b": 2, "d": 0}'::jsonb);   -- unknown key
-- missing values (absent key, JSON null, SQL NULL, NaN) without imputation:
-- an error for every family but trees
SELECT pg_temp.s(:'enc', '{"a": 1, "b": 2}'::jsonb);
SELECT pg_temp.s(:'enc', '{"a": null, "c": "x", "b": 2}'::jsonb);
SELECT pg_temp.s(:'enc', ARRAY[1, 0, 'NaN'::float8]);
-- "unknown": "ignore": an unknown category, or an index that is not one, is all zeros: 1 + 200
SELECT replace(:'enc', '"categories": ["x", 2, true]', '"categories": ["x", 2, true], "unknown": "ignore"') AS enc_ignore \gset
SELECT pg_temp.s(:'enc_ignore', '{"a": 1, "c": "y", "b": 2}'::jsonb) AS "201",
       pg_temp.s(:'enc_ignore', ARRAY[1, 7, 2]) AS "201", pg_temp.s(:'enc_ignore', ARRAY[1, 0.5, 2]) AS "201";
-- impute: a number for a numeric feature, a category for a categorical one:
-- a = 5, c = "2": 5 + 20 + 200
SELECT replace(replace(:'enc', '"name": "a", "type": "numeric"', '"name": "a", "type": "numeric", "impute": 5'),
               '"categories": ["x", 2, true]', '"categories": ["x", 2, true], "impute": 2') AS enc_impute \gset
SELECT pg_temp.s(:'enc_impute', '{"b": 2}'::jsonb) AS "225", pg_temp.s(:'enc_impute', ARRAY[NULL, NULL, 2]) AS "225";
SELECT mlops.compile_model(replace(:'enc', '"categories": ["x", 2, true]', '"categories": ["x", 2, true], "impute": "y"'));
SELECT mlops.compile_model(replace(:'enc', '"name": "a", "type": "numeric"', '"name": "a", "type": "numeric", "impute": "x"'));
-- categories and unknown belong to categorical features; categories are required there, unique as text
SELECT mlops.compile_model(replace(:'enc', '"name": "a", "type": "numeric"', '"name": "a", "type": "numeric", "categories": [1]'));
SELECT mlops.compile_model(replace(:'enc', '"name": "a", "type": "numeric"', '"name": "a", "type": "numeric", "unknown": "ignore"'));
SELECT mlops.compile_model(replace(:'enc', ', "categories": ["x", 2, true]', ''));
SELECT mlops.compile_model(replace(:'enc', '["x", 2, true]', '["x", 2, "2"]'));
SELECT mlops.compile_model(replace(:'enc', '["x", 2, true]', '[]'));
-- names: 1 to 250 bytes, unique; at least one feature
SELECT mlops.compile_model(replace(:'enc', '"name": "b"', '"name": ""'));
SELECT mlops.compile_model(replace(:'enc', '"name": "b"', '"name": "' || repeat('b', 251) || '"'));
SELECT length(mlops.compile_model(replace(:'enc', '"name": "b"', '"name": "' || repeat('b', 250) || '"'))) > 0 AS "250 bytes";
SELECT mlops.compile_model(replace(:'enc', '"name": "b"', '"name": "a"'));
SELECT mlops.compile_model(replace(:'lin', '[{"name": "x", "type": "numeric"}]', '[]'));
-- the scaler: (x - center) / scale on every encoded column, one-hot columns included.
-- a = 3, c = "true", b = 8: (3 - 1) / 2 = 1, c="true" (1 - 0.5) / 0.5 = 1, b 8 / 4 = 2: 1 + 30 + 200.
-- c = "x": c="x" (1 - 0) / 1 = 1 but c="true" (0 - 0.5) / 0.5 = -1: 1 + 10 - 30 + 200
SELECT replace(:'enc', '"model":', '"scaler": {"center": [1, 0, 0, 0.5, 0], "scale": [2, 1, 1, 0.5, 4]}, "model":') AS enc_scaled \gset
SELECT pg_temp.s(:'enc_scaled', ARRAY[3, 2, 8]) AS "231", pg_temp.s(:'enc_scaled', ARRAY[3, 0, 8]) AS "181";
SELECT mlops.compile_model(replace(:'enc_scaled', '"scale": [2, 1, 1, 0.5, 4]', '"scale": [2, 1, 0, 0.5, 4]'));
SELECT mlops.compile_model(replace(:'enc_scaled', '"scale": [2, 1, 1, 0.5, 4]', '"scale": [2, 1, 1, 0.5]'));
SELECT mlops.compile_model(replace(:'enc_scaled', '"center": [1, 0, 0, 0.5, 0], ', ''));

-------------------------------------------------------------------------------
-- linear: out = link(intercept + coef . x)
-------------------------------------------------------------------------------
-- one output: coef flat or one row, intercept a number or one element, absent = 0
SELECT pg_temp.s(replace(replace(:'lin', '[2]', '[[2]]'), '"intercept": 1', '"intercept": [1]'), ARRAY[3]) AS "7",
       pg_temp.s(replace(:'lin', '"intercept": 1, ', ''), ARRAY[3]) AS "6 (intercept 0)";
-- several outputs: rows of coef, an array of intercepts (a number is refused)
\set two '{"format": "mlops.model/v1", "task": "binary", "classes": ["n", "y"], "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [[0], [0]], "intercept": [0.25, 0.75], "link": "identity"}}'
SELECT pg_temp.s(:'two', ARRAY[9]) AS "0.75 (the second output)", pg_temp.p(:'two', ARRAY[9]) AS "{0.25,0.75}",
       pg_temp.k(:'two', ARRAY[9]) AS y;
SELECT mlops.compile_model(replace(:'two', '[0.25, 0.75]', '0.5'));
-- two outputs with softmax: softmax(0, ln 3) = (1/4, 3/4); one logistic output p gives [1 - p, p]
SELECT (SELECT array_agg(round(v::numeric, 12)) FROM unnest(pg_temp.p(replace(replace(:'two', '"identity"', '"softmax"'),
         '[0.25, 0.75]', '[0, 1.0986122886681098]'), ARRAY[9])) v) AS "{0.25,0.75}",
       (SELECT array_agg(round(v::numeric, 12)) FROM unnest(pg_temp.p(:'bin', ARRAY[ln(3)])) v) AS "{0.25,0.75} too";
SELECT mlops.compile_model(replace(:'two', '"binary", "classes": ["n", "y"]', '"regression"'));   -- regression: 1 output
SELECT pg_temp.p(:'lin', ARRAY[3]);                                                          -- no probabilities
SELECT mlops.compile_model(replace(:'lin', '[2]', '[2, 3]'));
-- link: required; exp and logistic are regressions too: exp(ln 2) = 2, sigmoid(0) = 1/2
SELECT mlops.compile_model(replace(:'lin', ', "link": "identity"', ''));
SELECT round(pg_temp.s(replace(replace(:'lin', '"identity"', '"exp"'), '"intercept": 1, ', ''), ARRAY[ln(2) / 2])::numeric, 12) AS "2",
       pg_temp.s(replace(replace(:'lin', '"identity"', '"logistic"'), '"intercept": 1, ', ''), ARRAY[0]) AS "0.5";
-- outputs and links the task allows (the table in the README)
SELECT mlops.compile_model(replace(:'lin', '"identity"', '"softmax"'));
SELECT mlops.compile_model(replace(:'bin', '"logistic"', '"identity"'));
SELECT mlops.compile_model(replace(:'two', '"identity"', '"logistic"'));
SELECT mlops.compile_model(replace(replace(:'two', '"binary"', '"multiclass"'), '"identity"', '"logistic"'));
SELECT mlops.compile_model(replace(:'two', '"binary", "classes": ["n", "y"]', '"multiclass", "classes": ["n", "y", "z"]'));

-------------------------------------------------------------------------------
-- mlp: each layer act(x . weights + bias), weights inputs x units
-------------------------------------------------------------------------------
-- hidden_activation defaults to relu: relu(x) + relu(-x) = |x| = 3 at x = -3
-- (tanh would give tanh(-3) + tanh(3) = 0)
\set mlp '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "mlp", "output_activation": "identity", "layers": [{"weights": [[1, -1]], "bias": [0, 0]}, {"weights": [[1], [1]], "bias": [0]}]}}'
SELECT pg_temp.s(:'mlp', ARRAY[-3]) AS "3",
       pg_temp.s(replace(:'mlp', '"output_activation"', '"hidden_activation": "tanh", "output_activation"'), ARRAY[-3]) AS "0";
-- one layer: no hidden layer, so hidden_activation is not used: 2 x 3 + 1
SELECT pg_temp.s('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "mlp", "hidden_activation": "tanh", "output_activation": "identity",
            "layers": [{"weights": [[2]], "bias": [1]}]}}', ARRAY[3]) AS "7";
-- output_activation: required; identity, logistic or softmax (a logistic regression output: sigmoid(0))
SELECT mlops.compile_model(replace(:'mlp', '"output_activation": "identity", ', ''));
SELECT mlops.compile_model(replace(:'mlp', '"output_activation": "identity"', '"output_activation": "exp"'));
SELECT pg_temp.s(replace(:'mlp', '"output_activation": "identity"', '"output_activation": "logistic"'), ARRAY[0]) AS "0.5";
-- the first layer has one row per encoded column (here 1), each next one a row per unit before it
SELECT mlops.compile_model(replace(:'mlp', '[[1, -1]]', '[[1, -1], [0, 0]]'));
SELECT mlops.compile_model(replace(:'mlp', '[[1], [1]]', '[[1], [1], [1]]'));
SELECT mlops.compile_model(replace(:'mlp', '"bias": [0, 0]', '"bias": [0]'));
SELECT mlops.compile_model(replace(:'mlp', '"layers": [{"weights": [[1, -1]], "bias": [0, 0]}, {"weights": [[1], [1]], "bias": [0]}]', '"layers": []'));

-------------------------------------------------------------------------------
-- trees: x <= 1.5 ? 10 : 20.  A leaf's feature and threshold are not used
-- (null, or any integer and any number: scikit-learn writes -2); nor is an
-- internal node's value (null, or a value shaped as the leaves').
-------------------------------------------------------------------------------
\set tree '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "trees", "link": "identity", "trees": [{"feature": [0, null, -2], "threshold": [1.5, null, -2], "left": [1, -1, -1], "right": [2, -1, -1], "value": [null, 10, 20]}]}}'
SELECT pg_temp.s(:'tree', ARRAY[1.5]) AS "10 (<= goes left)", pg_temp.s(:'tree', ARRAY[2]) AS "20",
       pg_temp.s(replace(:'tree', '"value": [null, 10, 20]', '"value": [15, 10, 20]'), ARRAY[2]) AS "20 (internal value unused)";
SELECT mlops.compile_model(replace(:'tree', '"feature": [0, null, -2]', '"feature": [0, "x", -2]'));
SELECT mlops.compile_model(replace(:'tree', '"threshold": [1.5, null, -2]', '"threshold": [1.5, "none", -2]'));
SELECT mlops.compile_model(replace(:'tree', '"value": [null, 10, 20]', '"value": ["root", 10, 20]'));
SELECT mlops.compile_model(replace(:'tree', '"value": [null, 10, 20]', '"value": [[10, 20], 10, 20]'));
-- ... but an internal node's feature and threshold are: an encoded column, a finite number
SELECT mlops.compile_model(replace(:'tree', '"feature": [0, null, -2]', '"feature": [null, null, -2]'));
SELECT mlops.compile_model(replace(:'tree', '"feature": [0, null, -2]', '"feature": [1, null, -2]'));
SELECT mlops.compile_model(replace(:'tree', '"threshold": [1.5, null, -2]', '"threshold": [null, null, -2]'));
-- indices are JSON integers, not 1.0
SELECT mlops.compile_model(replace(:'tree', '"left": [1, -1, -1]', '"left": [1.0, -1, -1]'));
-- link is required: there is no default
SELECT mlops.compile_model(replace(:'tree', '"link": "identity", ', ''));
-- split: "<=" by default, "<" goes left only below the threshold
SELECT pg_temp.s(replace(:'tree', '"link"', '"split": "<", "link"'), ARRAY[1.5]) AS "20";
-- input_precision "float32" compares float32(x), the threshold as written:
-- float32(1.5000000001) = 1.5 <= 1.5 goes left; in float64 it goes right
SELECT pg_temp.s(replace(:'tree', '"link"', '"input_precision": "float32", "link"'), ARRAY[1.5000000001]) AS "10",
       pg_temp.s(:'tree', ARRAY[1.5000000001]) AS "20";
-- ... with the threshold as written: float32(0.1) = 0.100000001490116 is above the threshold 0.1
SELECT pg_temp.s(replace(replace(:'tree', '"link"', '"input_precision": "float32", "link"'), '[1.5, null, -2]', '[0.1, null, -2]'),
                 ARRAY[0.1]) AS "20";
-- default_left: true for every node by default; booleans or 0/1
SELECT pg_temp.s(:'tree', ARRAY[NULL]::float8[]) AS "10 (missing: left)",
       pg_temp.s(replace(:'tree', '"value"', '"default_left": [false, true, true], "value"'), ARRAY[NULL]::float8[]) AS "20",
       pg_temp.s(replace(:'tree', '"value"', '"default_left": [0, 1, 1], "value"'), ARRAY[NULL]::float8[]) AS "20";
SELECT mlops.compile_model(replace(:'tree', '"value"', '"default_left": [2, 1, 1], "value"'));
-- ... and a leaf's entry is not used
SELECT pg_temp.s(replace(:'tree', '"value"', '"default_left": [true, false, false], "value"'), ARRAY[NULL]::float8[]) AS "10";
-- nodes the root does not reach are allowed, never used; every array has one entry per node
SELECT pg_temp.s(replace(replace(replace(replace(replace(:'tree', '[0, null, -2]', '[0, null, -2, null, null]'),
         '[1.5, null, -2]', '[1.5, null, -2, null, null]'), '[1, -1, -1]', '[1, -1, -1, -1, -1]'),
         '[2, -1, -1]', '[2, -1, -1, -1, -1]'), '[null, 10, 20]', '[null, 10, 20, 30, 40]'), ARRAY[2]) AS "20";
SELECT mlops.compile_model(replace(:'tree', '[null, 10, 20]', '[null, 10]'));
-- the scaler comes first, trees included: (x - 10) / 1 <= 1.5 for x = 11.5
SELECT pg_temp.s(replace(:'tree', '"model"', '"scaler": {"center": [10], "scale": [1]}, "model"'), ARRAY[11.5]) AS "10";
-- ... and a missing value stays missing through it (default_left false: right)
SELECT pg_temp.s(replace(replace(:'tree', '"model"', '"scaler": {"center": [10], "scale": [1]}, "model"'),
                         '"value"', '"default_left": [false, true, true], "value"'), ARRAY['NaN'::float8]) AS "20";
-- a feature index is an encoded column: column 2 is c = "2" in [a, c = "x", c = "2", c = "true", b].
-- A missing categorical feature makes its whole block missing: default_left false, right, 20.
\set ctree '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}, {"name": "c", "type": "categorical", "categories": ["x", 2, true]}, {"name": "b", "type": "numeric"}], "model": {"type": "trees", "link": "identity", "trees": [{"feature": [2, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1], "default_left": [false, true, true], "value": [0, 10, 20]}]}}'
SELECT pg_temp.s(:'ctree', '{"c": 2}'::jsonb) AS "20", pg_temp.s(:'ctree', '{"c": "x"}'::jsonb) AS "10",
       pg_temp.s(:'ctree', '{}'::jsonb) AS "20 (missing)", pg_temp.s(:'ctree', ARRAY[NULL, NULL, NULL]::float8[]) AS "20";
SELECT mlops.compile_model(replace(:'ctree', '"feature": [2, -1, -1]', '"feature": [5, -1, -1]'));
-- base_score: a number for one output, added after the trees (default 0)
SELECT pg_temp.s(replace(:'tree', '"link"', '"base_score": 100, "link"'), ARRAY[2]) AS "120",
       pg_temp.s(replace(:'tree', '"link"', '"base_score": [100], "link"'), ARRAY[2]) AS "120";
-- aggregation: "sum" by default; "average" divides the sum by the number of
-- trees, then base_score is added: (10 + 20) / 2 + 1, not (10 + 20 + 1) / 2
\set two_trees '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "trees", "link": "identity", "base_score": 1, "trees": [{"feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [10]}, {"feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [20]}]}}'
SELECT pg_temp.s(:'two_trees', ARRAY[0]) AS "31",
       pg_temp.s(replace(:'two_trees', '"link"', '"aggregation": "average", "link"'), ARRAY[0]) AS "16";
-- n_outputs: 1, or the number of classes of a multiclass model.  A scalar
-- tree adds to its "output" (default 0), a vector tree to every output.
\set multi '{"format": "mlops.model/v1", "task": "multiclass", "classes": ["a", "b"], "features": [{"name": "x", "type": "numeric"}], "model": {"type": "trees", "link": "identity", "base_score": [0.125, -0.125], "trees": [{"output": 0, "feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [0.125]}, {"output": 1, "feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [0.875]}]}}'
SELECT pg_temp.p(:'multi', ARRAY[0]) AS "{0.25,0.75}";
SELECT mlops.compile_model(replace(:'multi', '"output": 1, ', ''));                   -- required with 2 outputs
SELECT mlops.compile_model(replace(:'multi', '"output": 1', '"output": 2'));
SELECT mlops.compile_model(replace(:'multi', '[0.125, -0.125]', '0.125'));            -- one per output
SELECT mlops.compile_model(replace(:'tree', '"feature"', '"output": 1, "feature"'));  -- one output: 0
-- "average" of one-value trees over several outputs is refused: each output
-- here has one tree, the model two (0.6 and 0.4 would become 0.3 and 0.2)
SELECT mlops.compile_model(replace(:'multi', '"link"', '"aggregation": "average", "link"'));
-- vector trees (a forest's class distributions): a binary model of two
-- outputs says n_outputs 2; the root's value may be null.
-- ((0.25, 0.75) + (0.75, 0.25)) / 2 at x = 0, ((1, 0) + (0.75, 0.25)) / 2 at x = 1
\set forest '{"format": "mlops.model/v1", "task": "binary", "classes": ["a", "b"], "features": [{"name": "x", "type": "numeric"}], "model": {"type": "trees", "link": "identity", "aggregation": "average", "n_outputs": 2, "trees": [{"feature": [0, null, null], "threshold": [0.5, null, null], "left": [1, -1, -1], "right": [2, -1, -1], "value": [null, [0.25, 0.75], [1, 0]]}, {"feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [[0.75, 0.25]]}]}}'
SELECT pg_temp.p(:'forest', ARRAY[0]) AS "{0.5,0.5}", pg_temp.p(:'forest', ARRAY[1]) AS "{0.875,0.125}",
       pg_temp.s(:'forest', ARRAY[1]) AS "0.125", pg_temp.k(:'forest', ARRAY[1]) AS a;
SELECT mlops.compile_model(replace(:'forest', '"n_outputs": 2, ', ''));
SELECT mlops.compile_model(replace(:'forest', '[[0.75, 0.25]]', '[[0.75, 0.25, 0]]'));
SELECT mlops.compile_model(replace(:'forest', '"value": [[0.75, 0.25]]', '"output": 0, "value": [[0.75, 0.25]]'));
SELECT mlops.compile_model(replace(:'forest', '"value": [[0.75, 0.25]]', '"value": [0.75]'));
SELECT mlops.compile_model(replace(:'forest', '[null, [0.25, 0.75], [1, 0]]', '[null, [0.25, 0.75], 1]'));  -- leaves agree
-- depth: at most 1,024 levels.  A chain of m splits x <= 0, each with a
-- leaf on its left: the last leaf (node 2m) is at level m + 1.  Leaves hold
-- their node number: x = 1 goes right to the end, x = -1 stops at node 1.
CREATE TEMP TABLE chains AS
SELECT m, json_build_object('format', 'mlops.model/v1', 'task', 'regression',
         'features', json_build_array(json_build_object('name', 'x', 'type', 'numeric')),
         'model', json_build_object('type', 'trees', 'link', 'identity', 'trees', json_build_array(json_build_object(
           'feature', (SELECT json_agg(0) FROM generate_series(0, 2 * m) j),
           'threshold', (SELECT json_agg(0) FROM generate_series(0, 2 * m) j),
           'left', (SELECT json_agg(CASE WHEN j % 2 = 0 AND j < 2 * m THEN j + 1 ELSE -1 END ORDER BY j) FROM generate_series(0, 2 * m) j),
           'right', (SELECT json_agg(CASE WHEN j % 2 = 0 AND j < 2 * m THEN j + 2 ELSE -1 END ORDER BY j) FROM generate_series(0, 2 * m) j),
           'value', (SELECT json_agg(j ORDER BY j) FROM generate_series(0, 2 * m) j)))))::text AS doc
  FROM (VALUES (1023), (1024)) v(m);
SELECT pg_temp.s(doc, ARRAY[1]) AS "2046", pg_temp.s(doc, ARRAY[-1]) AS "1" FROM chains WHERE m = 1023;
SELECT mlops.compile_model(doc) FROM chains WHERE m = 1024;
-- an MLP has 1 to 64 layers: 64 layers of x -> x + 1 give x + 64
CREATE TEMP TABLE deep_mlps AS
SELECT n, json_build_object('format', 'mlops.model/v1', 'task', 'regression',
         'features', json_build_array(json_build_object('name', 'x', 'type', 'numeric')),
         'model', json_build_object('type', 'mlp', 'hidden_activation', 'identity', 'output_activation', 'identity',
           'layers', (SELECT json_agg(json_build_object('weights', json_build_array(json_build_array(1)),
                                                        'bias', json_build_array(1))) FROM generate_series(1, n))))::text AS doc
  FROM (VALUES (64), (65)) v(n);
SELECT pg_temp.s(doc, ARRAY[0.5]) AS "64.5" FROM deep_mlps WHERE n = 64;
SELECT mlops.compile_model(doc) FROM deep_mlps WHERE n = 65;
-- 1 to 100,000 trees
SELECT mlops.compile_model(replace(:'tree', '"trees": [{"feature": [0, null, -2], "threshold": [1.5, null, -2], "left": [1, -1, -1], "right": [2, -1, -1], "value": [null, 10, 20]}]', '"trees": []'));
SELECT mlops.compile_model(json_build_object('format', 'mlops.model/v1', 'task', 'regression',
         'features', json_build_array(json_build_object('name', 'x', 'type', 'numeric')),
         'model', json_build_object('type', 'trees', 'link', 'identity',
           'trees', (SELECT json_agg('{"feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [1]}'::json)
                       FROM generate_series(1, 100001))))::text);
-- there is no learning rate: it is folded into the leaf values (a leaf of
-- 5 at rate 0.1 is written 0.5), so the field is unknown
SELECT mlops.compile_model(replace(:'tree', '"link"', '"learning_rate": 0.1, "link"'));
