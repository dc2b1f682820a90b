-- Scoring: every model family on inputs whose outputs are worked out by hand
-- in the comments, through mlops.score() on compiled models (no registry)
-- and through both input forms (float8[] and jsonb); then every kind of bad
-- input and bad model.
\set SHOW_CONTEXT never
SET extra_float_digits = 0;

CREATE TEMP TABLE artifacts (name text PRIMARY KEY, doc text NOT NULL);
CREATE TEMP VIEW m AS SELECT name, mlops.compile_model(doc) AS compiled FROM artifacts;

-------------------------------------------------------------------------------
-- Linear regression: 0.5 + 1.5 a - 2 b, with b imputed as 2 when missing
-------------------------------------------------------------------------------
INSERT INTO artifacts VALUES ('linreg', '{
  "format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric", "impute": 2}],
  "model": {"type": "linear", "coef": [1.5, -2], "intercept": 0.5, "link": "identity"}}');
SELECT mlops.score(compiled, ARRAY[2, 1]) AS "1.5",            -- 3 - 2 + 0.5
       mlops.score(compiled, ARRAY[2, NULL]) AS "-0.5",        -- b imputed: 3 - 4 + 0.5
       mlops.score(compiled, ARRAY[2, 'NaN'::float8]) AS "-0.5 too",   -- NaN is missing too
       mlops.score(compiled, '{"a": 2, "b": 1}'::jsonb) AS "1.5 by name",
       mlops.score(compiled, '{"a": 2}'::jsonb) AS "-0.5 absent key",
       mlops.score(compiled, NULL::float8[]) AS "NULL row"
  FROM m WHERE name = 'linreg';
SELECT mlops.model_info(compiled) - 'sha256' AS info FROM m WHERE name = 'linreg';

-- Poisson regression: exp(0.1 x)
INSERT INTO artifacts VALUES ('poisson', '{
  "format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "linear", "coef": [0.1], "link": "exp"}}');
SELECT round(mlops.score(compiled, ARRAY[10])::numeric, 12) AS "e = 2.718281828459"
  FROM m WHERE name = 'poisson';

-------------------------------------------------------------------------------
-- Logistic regression, binary: p = sigmoid(a - b).  At a = ln 3, b = 0:
-- p = 3/4.  Class "yes" when p > 0.5 (a tie goes to the first class).
-------------------------------------------------------------------------------
INSERT INTO artifacts VALUES ('logreg', '{
  "format": "mlops.model/v1", "task": "binary", "classes": ["no", "yes"],
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
  "model": {"type": "linear", "coef": [[1, -1]], "intercept": [0], "link": "logistic"}}');
SELECT round(mlops.score(compiled, ARRAY[ln(3), 0])::numeric, 12) AS "0.75",
       (SELECT array_agg(round(p::numeric, 12)) FROM unnest(mlops.score_proba(compiled, ARRAY[ln(3), 0])) p) AS "{0.25,0.75}",
       mlops.score_class(compiled, ARRAY[ln(3), 0]) AS yes,
       mlops.score_class(compiled, ARRAY[1, 1]) AS "no (p = 0.5)",
       mlops.score(compiled, ARRAY[-700, 0]) AS "tiny, not 0",
       mlops.score(compiled, ARRAY[800, 0]) AS "1"
  FROM m WHERE name = 'logreg';

-------------------------------------------------------------------------------
-- Multinomial: softmax(a, b, 0).  At a = ln 2, b = ln 3: exp gives 2, 3, 1,
-- so the probabilities are 1/3, 1/2, 1/6 and the class is "b".
-------------------------------------------------------------------------------
INSERT INTO artifacts VALUES ('softmax', '{
  "format": "mlops.model/v1", "task": "multiclass", "classes": ["a", "b", "c"],
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
  "model": {"type": "linear", "coef": [[1, 0], [0, 1], [0, 0]], "intercept": [0, 0, 0], "link": "softmax"}}');
SELECT (SELECT array_agg(round(p::numeric, 12)) FROM unnest(mlops.score_proba(compiled, ARRAY[ln(2), ln(3)])) p)
         AS "{1/3, 1/2, 1/6}",
       mlops.score_class(compiled, ARRAY[ln(2), ln(3)]) AS b
  FROM m WHERE name = 'softmax';
SELECT mlops.score(compiled, ARRAY[1, 2]) FROM m WHERE name = 'softmax';   -- no single value

-------------------------------------------------------------------------------
-- Multilayer perceptron: h = relu([x, -x]), out = h1 + 2 h2 + 0.5.
-- x = 3: h = (3, 0), out = 3.5.  x = -2: h = (0, 2), out = 4.5.
-------------------------------------------------------------------------------
INSERT INTO artifacts VALUES ('mlp', '{
  "format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "mlp", "hidden_activation": "relu", "output_activation": "identity",
            "layers": [{"weights": [[1, -1]], "bias": [0, 0]},
                       {"weights": [[1], [2]], "bias": [0.5]}]}}');
SELECT mlops.score(compiled, ARRAY[3]) AS "3.5", mlops.score(compiled, ARRAY[-2]) AS "4.5"
  FROM m WHERE name = 'mlp';

-- tanh hidden layer and softmax output: hidden tanh(0) = 0, so the output is
-- softmax(bias) = softmax(0, ln 3) = (1/4, 3/4)
INSERT INTO artifacts VALUES ('mlp3', '{
  "format": "mlops.model/v1", "task": "multiclass", "classes": [0, 1],
  "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "mlp", "hidden_activation": "tanh", "output_activation": "softmax",
            "layers": [{"weights": [[1, 1, 1]], "bias": [0, 0, 0]},
                       {"weights": [[5, 5], [1, 1], [2, 2]], "bias": [0, 1.0986122886681098]}]}}');
SELECT (SELECT array_agg(round(p::numeric, 12)) FROM unnest(mlops.score_proba(compiled, ARRAY[0])) p) AS "{0.25,0.75}",
       mlops.score_class(compiled, ARRAY[0]) AS "1"
  FROM m WHERE name = 'mlp3';

-------------------------------------------------------------------------------
-- Trees.  One regression tree:
--   node 0: a <= 0.5 ? node 1 : node 2        (missing a: right)
--   node 1: leaf 10
--   node 2: b <= 2 ? node 3 : node 4          (missing b: left)
--   node 3: leaf 20,  node 4: leaf 30
-------------------------------------------------------------------------------
INSERT INTO artifacts VALUES ('tree', '{
  "format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity",
            "trees": [{"feature": [0, 0, 1, 0, 0], "threshold": [0.5, 0, 2, 0, 0],
                       "left": [1, -1, 3, -1, -1], "right": [2, -1, 4, -1, -1],
                       "default_left": [false, true, true, true, true],
                       "value": [0, 10, 0, 20, 30]}]}}');
SELECT mlops.score(compiled, ARRAY[0.5, 9]) AS "10 (<= goes left)",
       mlops.score(compiled, ARRAY[0.6, 2]) AS "20",
       mlops.score(compiled, ARRAY[0.6, 3]) AS "30",
       mlops.score(compiled, ARRAY[NULL, 3]) AS "30 (a missing: right)",
       mlops.score(compiled, ARRAY[0.6, NULL]) AS "20 (b missing: left)",
       mlops.score(compiled, '{"a": null, "b": null}'::jsonb) AS "20"
  FROM m WHERE name = 'tree';

-- The same tree with XGBoost's strict split: 0.5 < 0.5 is false, so right.
INSERT INTO artifacts
SELECT 'tree_lt', replace(doc, '"link": "identity",', '"link": "identity", "split": "<",') FROM artifacts WHERE name = 'tree';
SELECT mlops.score(compiled, ARRAY[0.5, 9]) AS "30" FROM m WHERE name = 'tree_lt';

-- float32 inputs, as scikit-learn and XGBoost compare them: float32(0.1) is
-- 0.100000001490116..., above the float64 threshold 0.1, so right; in
-- float64, 0.1 <= 0.1 goes left.
INSERT INTO artifacts VALUES ('stump32', '{
  "format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity", "input_precision": "float32",
            "trees": [{"feature": [0, 0, 0], "threshold": [0.1, 0, 0], "left": [1, -1, -1],
                       "right": [2, -1, -1], "value": [0, -1, 1]}]}}');
INSERT INTO artifacts
SELECT 'stump64', replace(doc, '"input_precision": "float32",', '') FROM artifacts WHERE name = 'stump32';
SELECT (SELECT mlops.score(compiled, ARRAY[0.1]) FROM m WHERE name = 'stump32') AS "float32: 1",
       (SELECT mlops.score(compiled, ARRAY[0.1]) FROM m WHERE name = 'stump64') AS "float64: -1";

-- Gradient boosting, binary: sigmoid(base 0.5 + tree1 + tree2).
-- x = 1: 0.5 + 0.25 + 0.25 = 1 -> 0.731058578630; x = 3: 0.5 - 0.25 - 1.25 = -1 -> 0.268941421370
INSERT INTO artifacts VALUES ('gbm', '{
  "format": "mlops.model/v1", "task": "binary", "classes": ["stay", "churn"],
  "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "trees", "link": "logistic", "aggregation": "sum", "base_score": 0.5,
            "trees": [{"feature": [0, 0, 0], "threshold": [2, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, 0.25, -0.25]},
                      {"feature": [0, 0, 0], "threshold": [2.5, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, 0.25, -1.25]}]}}');
SELECT round(mlops.score(compiled, ARRAY[1])::numeric, 12) AS "0.731058578630",
       round(mlops.score(compiled, ARRAY[3])::numeric, 12) AS "0.268941421370",
       mlops.score_class(compiled, ARRAY[3]) AS stay
  FROM m WHERE name = 'gbm';

-- Random forest, binary, averaging leaf class distributions (two outputs):
-- x = 1: ((0.8, 0.2) + (0.6, 0.4)) / 2 = (0.7, 0.3); x = 5: ((0.1, 0.9) + (0.6, 0.4)) / 2 = (0.35, 0.65)
INSERT INTO artifacts VALUES ('forest', '{
  "format": "mlops.model/v1", "task": "binary", "classes": ["stay", "churn"],
  "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity", "aggregation": "average", "n_outputs": 2,
            "trees": [{"feature": [0, 0, 0], "threshold": [3, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1],
                       "value": [[0, 0], [0.8, 0.2], [0.1, 0.9]]},
                      {"feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [[0.6, 0.4]]}]}}');
SELECT (SELECT array_agg(round(p::numeric, 12)) FROM unnest(mlops.score_proba(compiled, ARRAY[1])) p) AS "{0.7,0.3}",
       round(mlops.score(compiled, ARRAY[5])::numeric, 12) AS "0.65",
       mlops.score_class(compiled, ARRAY[5]) AS churn
  FROM m WHERE name = 'forest';

-- Multiclass boosting: one scalar tree per class, softmax.  Every leaf 0
-- except class 2's tree, which adds ln 2 when x > 0: (1, 1, 2) / 4.
INSERT INTO artifacts VALUES ('gbm3', '{
  "format": "mlops.model/v1", "task": "multiclass", "classes": ["a", "b", "c"],
  "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "trees", "link": "softmax",
            "trees": [{"output": 0, "feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [0]},
                      {"output": 1, "feature": [0], "threshold": [0], "left": [-1], "right": [-1], "value": [0]},
                      {"output": 2, "feature": [0, 0, 0], "threshold": [0, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1],
                       "value": [0, 0, 0.6931471805599453]}]}}');
SELECT (SELECT array_agg(round(p::numeric, 12)) FROM unnest(mlops.score_proba(compiled, ARRAY[1])) p) AS "{0.25,0.25,0.5}",
       mlops.score_class(compiled, ARRAY[1]) AS c,
       mlops.score_class(compiled, ARRAY[-1]) AS "a (three-way tie)"
  FROM m WHERE name = 'gbm3';

-------------------------------------------------------------------------------
-- Preprocessing: categorical one-hot in place, imputation, scaling.
-- Encoded columns: [tenure, contract=m2m, contract=1y, contract=2y, calls];
-- scaler centers tenure at 10 (scale 5) and calls at 1 (scale 2).
-- tenure 20, contract "2y", calls 5: (2, 0, 0, 1, 2) . (1, 0.5, 0, -1, 0.25) + 0.1 = 1.6
-------------------------------------------------------------------------------
INSERT INTO artifacts VALUES ('pipeline', '{
  "format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "tenure", "type": "numeric", "impute": 10},
               {"name": "contract", "type": "categorical", "categories": ["m2m", "1y", "2y"], "impute": "1y"},
               {"name": "calls", "type": "numeric"}],
  "scaler": {"center": [10, 0, 0, 0, 1], "scale": [5, 1, 1, 1, 2]},
  "model": {"type": "linear", "coef": [1, 0.5, 0, -1, 0.25], "intercept": 0.1, "link": "identity"}}');
SELECT mlops.score(compiled, '{"tenure": 20, "contract": "2y", "calls": 5}'::jsonb) AS "1.6",
       mlops.score(compiled, ARRAY[20, 2, 5]) AS "1.6 (category index 2)",
       -- tenure and contract missing: imputed 10 and "1y": (0, 0, 1, 0, 2) -> 0.5 + 0.1
       mlops.score(compiled, '{"calls": 5}'::jsonb) AS "0.6",
       mlops.score(compiled, '{"tenure": 10, "contract": "m2m", "calls": 1}'::jsonb) AS "0.6 (m2m)"
  FROM m WHERE name = 'pipeline';
-- integer categories: a jsonb 2 or 2.0 is the category 2
INSERT INTO artifacts VALUES ('intcat', '{
  "format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "grade", "type": "categorical", "categories": [1, 2, 3]}],
  "model": {"type": "linear", "coef": [10, 20, 30], "link": "identity"}}');
SELECT mlops.score(compiled, '{"grade": 2}'::jsonb) AS "20", mlops.score(compiled, '{"grade": 2.0}'::jsonb) AS "20 too",
       mlops.score(compiled, '{"grade": "3"}'::jsonb) AS "30"
  FROM m WHERE name = 'intcat';
SELECT mlops.score(compiled, '{"grade": 2.5}'::jsonb) FROM m WHERE name = 'intcat';
-- with "unknown": "ignore", an unseen category encodes as all zeros
INSERT INTO artifacts
SELECT 'pipeline_ignore', replace(doc, '"impute": "1y"}', '"impute": "1y", "unknown": "ignore"}') FROM artifacts WHERE name = 'pipeline';
SELECT mlops.score(compiled, '{"tenure": 10, "contract": "5y", "calls": 1}'::jsonb) AS "0.1"
  FROM m WHERE name = 'pipeline_ignore';

-- models compiled row by row, alternating: each row gets its own
-- (linreg at (2, 1): 1.5; logreg: sigmoid(1) = 0.731058578630)
SELECT m.name, round(mlops.score(m.compiled, ARRAY[2, 1])::numeric, 12) AS score
  FROM generate_series(1, 2) g, m WHERE m.name IN ('linreg', 'logreg') ORDER BY g, m.name;

-------------------------------------------------------------------------------
-- Bad inputs: clear errors naming the model and its signature
-------------------------------------------------------------------------------
SELECT mlops.score(compiled, ARRAY[1, 2, 3]) FROM m WHERE name = 'linreg';      -- wrong count
SELECT mlops.score(compiled, ARRAY[]::float8[]) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, ARRAY[[1, 2], [3, 4]]) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, ARRAY[NULL, 1]) FROM m WHERE name = 'linreg';      -- no imputation for a
SELECT mlops.score(compiled, '{"a": 1, "c": 2}'::jsonb) FROM m WHERE name = 'linreg';  -- unknown name
SELECT mlops.score(compiled, '{"a": "one"}'::jsonb) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, '[1, 2]'::jsonb) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, '{"contract": "5y"}'::jsonb) FROM m WHERE name = 'pipeline';
SELECT mlops.score(compiled, ARRAY[1, 3, 1]) FROM m WHERE name = 'pipeline';    -- index out of range
SELECT mlops.score_proba(compiled, ARRAY[1, 2]) FROM m WHERE name = 'linreg';
SELECT mlops.score_class(compiled, ARRAY[1, 2]) FROM m WHERE name = 'linreg';
SELECT mlops.score(NULL::bytea, ARRAY[1, 2]);

-------------------------------------------------------------------------------
-- Bad models: refused with the JSON path of the problem
-------------------------------------------------------------------------------
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression"');   -- truncated
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "task": "binary"}');
SELECT mlops.compile_model('{"format": "mlops.model/v2"}');
SELECT mlops.compile_model('[]');
SELECT mlops.compile_model(NULL);
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [],
  "model": {"type": "linear", "coef": [], "link": "identity"}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regresion", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "linear", "coef": [1], "link": "identity"}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "linear", "coef": [1], "link": "identity", "bias": 2}}');             -- unknown field
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "linear", "coef": [1, 2], "link": "identity"}}');                     -- wrong length
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "linear", "coef": ["1"], "link": "identity"}}');                      -- wrong type
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "linear", "coef": [1e999], "link": "identity"}}');                    -- oversized number
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "a", "type": "numeric"}, {"name": "a", "type": "numeric"}],
  "model": {"type": "linear", "coef": [1, 1], "link": "identity"}}');                     -- duplicate name
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "binary", "classes": ["x", "y", "z"],
  "features": [{"name": "a", "type": "numeric"}], "model": {"type": "linear", "coef": [1], "link": "logistic"}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "multiclass", "classes": ["x", "y", "z"],
  "features": [{"name": "a", "type": "numeric"}], "model": {"type": "linear", "coef": [[1], [2]], "link": "softmax"}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "mlp", "output_activation": "identity",
            "layers": [{"weights": [[1, 1]], "bias": [0, 0]}, {"weights": [[1], [1], [1]], "bias": [0]}]}}');
-- trees: child out of range, a cycle, a feature beyond the signature, a leaf with a right child
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity", "trees": [{"feature": [0, 0, 0], "threshold": [1, 0, 0],
            "left": [1, -1, -1], "right": [7, -1, -1], "value": [0, 1, 2]}]}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity", "trees": [{"feature": [0, 0, 0], "threshold": [1, 1, 0],
            "left": [1, 0, -1], "right": [2, 2, -1], "value": [0, 1, 2]}]}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity", "trees": [{"feature": [3, 0, 0], "threshold": [1, 0, 0],
            "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, 1, 2]}]}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity", "trees": [{"feature": [0, 0, 0], "threshold": [1, 0, 0],
            "left": [1, -1, -1], "right": [2, 0, -1], "value": [0, 1, 2]}]}}');
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
  "model": {"type": "trees", "link": "identity", "trees": [{"feature": [0, 0], "threshold": [1, 0, 0],
            "left": [1, -1, -1], "right": [2, -1, -1], "value": [0, 1, 2]}]}}');

-- A compiled model that is not one: random bytes, a truncated one, a
-- corrupted child index.  Each is refused; the backend stays up.  (The cache
-- is emptied first: it serves a cached model for a datum with the same
-- version id, checksum and size without reading the datum again.)
SELECT mlops.model_cache_reset();
SELECT mlops.score('\x00112233'::bytea, ARRAY[1]);
SELECT mlops.score(decode(repeat('ab', 400), 'hex'), ARRAY[1]);
SELECT mlops.score(substr(compiled, 1, 200), ARRAY[1, 2]) FROM m WHERE name = 'tree';
-- Corrupt a valid compiled tree in place.  Sections are a 16-byte header
-- (tag, element size, count, 0) and their elements; on this little-endian
-- machine node_right (tag 24) of the 5-node tree starts with node 0's right
-- child, 2, and node_left (tag 23) holds node 2's left child, 3, at element 2.
CREATE TEMP TABLE tree_bytes AS
SELECT compiled,
       position('\x18000000040000000500000000000000'::bytea IN compiled) + 16 AS right_at,
       position('\x17000000040000000500000000000000'::bytea IN compiled) + 16 AS left_at
  FROM m WHERE name = 'tree';
SELECT right_at > 16 AND left_at > 16 AS sections_found FROM tree_bytes;
SELECT mlops.score(overlay(compiled PLACING '\xe8030000'::bytea FROM right_at FOR 4), ARRAY[1, 2])
  FROM tree_bytes;                                        -- node 0's right child -> 1000
SELECT mlops.score(overlay(compiled PLACING '\x00000000'::bytea FROM left_at + 8 FOR 4), ARRAY[1, 2])
  FROM tree_bytes;                                        -- node 2's left child -> 0: a cycle
SELECT mlops.score(overlay(compiled PLACING '\x01000000'::bytea FROM left_at + 8 FOR 4), ARRAY[1, 2])
  FROM tree_bytes;                                        -- node 2's left child -> its sibling
SELECT 1 AS still_up;

-- 3,000 categories in shuffled order (names of 2 to 5 bytes), found by
-- binary search: each scores as its number, by name and by index
CREATE TEMP TABLE many_categories AS
SELECT mlops.compile_model(json_build_object(
  'format', 'mlops.model/v1', 'task', 'regression',
  'features', json_build_array(json_build_object('name', 'z', 'type', 'categorical',
      'categories', (SELECT json_agg('c' || (i * 7919 % 3000) ORDER BY i) FROM generate_series(0, 2999) i))),
  'model', json_build_object('type', 'linear', 'link', 'identity', 'intercept', json_build_array(0),
      'coef', (SELECT json_agg(i * 7919 % 3000 ORDER BY i) FROM generate_series(0, 2999) i)))::text) AS c;
SELECT count(*) AS categories,
       count(*) FILTER (WHERE mlops.score(m.c, jsonb_build_object('z', 'c' || k)) = k) AS by_name,
       count(*) FILTER (WHERE mlops.score(m.c, ARRAY[k]::float8[]) = k * 7919 % 3000) AS by_index
  FROM generate_series(0, 2999) k, many_categories m;
SELECT mlops.score(c, '{"z": "c3000"}'::jsonb) FROM many_categories;
SELECT mlops.score(c, '{"z": "c"}'::jsonb) FROM many_categories;
SELECT mlops.score(c, '{"z": ""}'::jsonb) FROM many_categories;
SELECT mlops.score(c, '{"z": "c00"}'::jsonb) FROM many_categories;
SELECT mlops.score(c, '{"z": "c2999 "}'::jsonb) FROM many_categories;
-- a duplicate among thousands is found, at its second place
SELECT mlops.compile_model(json_build_object(
  'format', 'mlops.model/v1', 'task', 'regression',
  'features', json_build_array(json_build_object('name', 'z', 'type', 'categorical',
      'categories', (SELECT json_agg('c' || least(i, 2500) ORDER BY i) FROM generate_series(0, 2999) i))),
  'model', json_build_object('type', 'linear', 'link', 'identity', 'intercept', json_build_array(0),
      'coef', (SELECT json_agg(0) FROM generate_series(0, 2999) i)))::text);

-- One-hot blocks are kept between rows and a linear model adds only the
-- columns a row sets: rows that move between categories, an unknown
-- category (ignored: all zeros) and a scaler whose one-hot centres are 0
-- give the formula by hand: (n - 1) / 2 + 10 [c = a] + 20 [c = b] + 40 [c = c] / 4 + 1/2.
-- With a one-hot centre that is not 0, every block is written each row.
-- A tree on the indicator c = b, missing values right: a missing category
-- marks the whole block missing, and the next row writes it again.
CREATE TEMP TABLE onehot AS
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "n", "type": "numeric"},
               {"name": "c", "type": "categorical", "categories": ["a", "b", "c"], "unknown": "ignore"}],
  "scaler": {"center": [1, 0, 0, 0], "scale": [2, 1, 1, 4]},
  "model": {"type": "linear", "coef": [1, 10, 20, 40], "intercept": [0.5], "link": "identity"}}') AS moves,
       mlops.compile_model('{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "n", "type": "numeric"},
               {"name": "c", "type": "categorical", "categories": ["a", "b", "c"], "unknown": "ignore"}],
  "scaler": {"center": [1, 0, 0.5, 0], "scale": [2, 1, 1, 4]},
  "model": {"type": "linear", "coef": [1, 10, 20, 40], "intercept": [0.5], "link": "identity"}}') AS dense,
       mlops.compile_model('{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "c", "type": "categorical", "categories": ["a", "b", "c"]}],
  "model": {"type": "trees", "link": "identity",
            "trees": [{"feature": [1, -1, -1], "threshold": [0.5, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1],
                       "default_left": [false, true, true], "value": [0, 1, 2]}]}}') AS tree;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE abs(mlops.score(o.moves, jsonb_build_object('n', i, 'c', c))
                                  - ((i - 1) / 2.0 + CASE c WHEN 'a' THEN 10 WHEN 'b' THEN 20 WHEN 'c' THEN 10 ELSE 0 END
                                     + 0.5)) < 1e-12) AS sparse_equal_to_hand,
       count(*) FILTER (WHERE abs(mlops.score(o.dense, jsonb_build_object('n', i, 'c', c))
                                  - ((i - 1) / 2.0 + CASE c WHEN 'a' THEN 10 WHEN 'c' THEN 10 ELSE 0 END
                                     + 20 * ((CASE c WHEN 'b' THEN 1 ELSE 0 END) - 0.5) + 0.5)) < 1e-12) AS dense_equal_to_hand
  FROM onehot o, generate_series(1, 200) i, LATERAL (SELECT (ARRAY['a', 'b', 'c', 'zz', 'b', 'b'])[1 + (i * 5) % 6] AS c) x;
SELECT i, c, mlops.score(o.tree, jsonb_build_object('c', c)) AS prediction
  FROM onehot o, unnest(ARRAY['b', 'a', NULL, 'a', 'c', NULL, 'b', 'a']) WITH ORDINALITY AS u(c, i) ORDER BY i;
-- An MLP's first layer and a multinomial model add only the set columns too
-- (same sums in another order): against the formulas by hand,
-- h1 = relu(0.1 + n + 2 [c = a] - [c = b]), h2 = relu(-0.2 - n + 0.5 [c = a] + 3 [c = b]),
-- y = 0.3 + h1 - 2 h2; and softmax(z) with z = (n + [c = a], -n + 2 [c = b], 0.5 [c = a])
CREATE TEMP TABLE onehot_dense_families AS
SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "n", "type": "numeric"},
               {"name": "c", "type": "categorical", "categories": ["a", "b"], "unknown": "ignore"}],
  "model": {"type": "mlp", "hidden_activation": "relu", "output_activation": "identity",
            "layers": [{"weights": [[1, -1], [2, 0.5], [-1, 3]], "bias": [0.1, -0.2]},
                       {"weights": [[1], [-2]], "bias": [0.3]}]}}') AS mlp,
       mlops.compile_model('{"format": "mlops.model/v1", "task": "multiclass", "classes": ["x", "y", "z"],
  "features": [{"name": "n", "type": "numeric"},
               {"name": "c", "type": "categorical", "categories": ["a", "b"], "unknown": "ignore"}],
  "model": {"type": "linear", "link": "softmax", "coef": [[1, 1, 0], [-1, 0, 2], [0, 0.5, 0]], "intercept": [0, 0, 0]}}') AS multinomial;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE abs(mlops.score(o.mlp, f) - (0.3 + greatest(0, 0.1 + n + 2 * ia - ib)
                                                             - 2 * greatest(0, -0.2 - n + 0.5 * ia + 3 * ib))) < 1e-12) AS mlp_equal_to_hand,
       count(*) FILTER (WHERE (SELECT max(abs(p - q / (exp(n + ia) + exp(-n + 2 * ib) + exp(0.5 * ia))))
                                 FROM unnest(mlops.score_proba(o.multinomial, f),
                                             ARRAY[exp(n + ia), exp(-n + 2 * ib), exp(0.5 * ia)]) AS u(p, q)) < 1e-12)
           AS multinomial_equal_to_hand
  FROM onehot_dense_families o,
       LATERAL (SELECT (i - 30) / 10.0::float8 AS n, (ARRAY['a', 'b', 'zz'])[1 + i % 3] AS c FROM generate_series(0, 60) i) r,
       LATERAL (SELECT jsonb_build_object('n', n, 'c', c) AS f, (c = 'a')::int AS ia, (c = 'b')::int AS ib) e;

-------------------------------------------------------------------------------
-- A compiled model passed by a caller never stands in for a registry
-- version.  forge:1 is y = 2x + 1.  The forgery is y = 5x compiled without
-- the registry, then given forge:1's version id and artifact checksum
-- (header bytes 17-24 and 25-56; see ModelHeader): every check of the
-- loader still passes.  Scored first in an empty cache, it must not become
-- what predict('forge:1') serves: at x = 2, forge:1 gives 5, the forgery 10.
-------------------------------------------------------------------------------
SELECT mlops.register_model_version('forge', '{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "linear", "coef": [2], "intercept": 1, "link": "identity"}}') AS version;
CREATE TEMP TABLE forged AS
SELECT overlay(mlops.compile_model('{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "linear", "coef": [5], "link": "identity"}}') PLACING substr(v.compiled, 17, 40) FROM 17 FOR 40)
       AS compiled, v.version_id, v.sha256
  FROM mlops.model_versions v JOIN mlops.registered_models r USING (model_id) WHERE r.name = 'forge';
SELECT (mlops.model_info(compiled) ->> 'version_id')::bigint = version_id AS forged_version_id,
       mlops.model_info(compiled) ->> 'sha256' = sha256 AS forged_checksum
  FROM forged;
SELECT mlops.model_cache_reset();
SELECT mlops.score(compiled, ARRAY[2]) AS "forgery: 10" FROM forged;
SELECT mlops.predict('forge:1', ARRAY[2]) AS "forge:1: 5",
       mlops.predict('forge:1', '{"x": 2}'::jsonb) AS "by name: 5";
SELECT mlops.score(compiled, ARRAY[2]) AS "forgery: 10" FROM forged;
SELECT mlops.score(f.compiled, ARRAY[2]) AS "forgery: 10", mlops.predict('forge:1', ARRAY[2]) AS "forge:1: 5"
  FROM forged f;
-- two entries: forge:1 from the registry, the forgery by its bytes.  The
-- real compiled form from a caller is forge:1's bytes (compared, not
-- trusted) and shares its entry; the same forged bytes again share theirs.
SELECT mlops.score(mlops.compiled_model('forge:1'), ARRAY[2]) AS "forge:1 passed as bytes: 5";
SELECT mlops.score(compiled || ''::bytea, ARRAY[2]) AS "forgery copied: 10" FROM forged;
SELECT mlops.model_cache_stats() ->> 'entries' AS entries;
-- batch scoring reads the registry's forge:1 too
SELECT * FROM mlops._score_query('forge:1', 'SELECT 1, ARRAY[2]::float8[]', 1, '{prediction}') AS r(id int, p float8);
-- The registry's compiled form must carry the version and checksum it is
-- registered under; one that does not is refused, never cached under them.
BEGIN;
UPDATE mlops.model_versions v SET compiled = f.compiled
  FROM forged f WHERE v.version_id = f.version_id;   -- passes: the registry is trusted
SELECT mlops.model_cache_reset();
SELECT mlops.predict('forge:1', ARRAY[2]) AS "the registry says 10";
UPDATE mlops.model_versions v SET compiled = m.compiled
  FROM forged f, m WHERE v.version_id = f.version_id AND m.name = 'mlp';
SELECT mlops.model_cache_reset();
SELECT mlops.predict('forge:1', ARRAY[2]);
ROLLBACK;

-------------------------------------------------------------------------------
-- score() scores with the model it is given on every call, whatever the
-- argument is: a PL/pgSQL variable that changes between evaluations of the
-- same expression, an outer reference re-evaluated on each rescan of a
-- subquery, rows of models whose headers are the same byte for byte.
-- At (a, b) = (2, 1): linreg 1.5, tree 20.
-------------------------------------------------------------------------------
CREATE FUNCTION score_each(models bytea[], x float8[]) RETURNS SETOF float8
LANGUAGE plpgsql AS $$
DECLARE
    c bytea;
    v float8;
BEGIN
    FOREACH c IN ARRAY models LOOP
        v := mlops.score(c, x);
        RETURN NEXT v;
    END LOOP;
END $$;
CREATE FUNCTION score_each(models bytea[], x jsonb) RETURNS SETOF float8
LANGUAGE plpgsql AS $$
DECLARE
    c bytea;
BEGIN
    FOREACH c IN ARRAY models LOOP
        RETURN NEXT mlops.score(c, x);
    END LOOP;
END $$;
SELECT score_each(ARRAY[l.compiled, t.compiled, l.compiled, t.compiled], ARRAY[2, 1]) AS "1.5, 20, 1.5, 20"
  FROM m l, m t WHERE l.name = 'linreg' AND t.name = 'tree';
SELECT score_each(ARRAY[t.compiled, l.compiled, l.compiled, t.compiled], '{"a": 2, "b": 1}'::jsonb) AS "20, 1.5, 1.5, 20"
  FROM m l, m t WHERE l.name = 'linreg' AND t.name = 'tree';
DO $$
DECLARE
    r record;
    v float8;
BEGIN
    FOR r IN SELECT name, compiled FROM m WHERE name IN ('linreg', 'tree', 'mlp') ORDER BY name DESC LOOP
        v := mlops.score(r.compiled, CASE r.name WHEN 'mlp' THEN ARRAY[3] ELSE ARRAY[2, 1] END);
        RAISE NOTICE '% scores %', r.name, v;        -- tree 20, mlp 3.5, linreg 1.5
    END LOOP;
END $$;
-- an outer reference inside a subquery: one Param, a new value per outer row
SELECT m.name, (SELECT mlops.score(m.compiled, ARRAY[2, 1]) FROM generate_series(1, 1)) AS score
  FROM m WHERE m.name IN ('linreg', 'tree') ORDER BY m.name;
-- Models whose headers are equal byte for byte: y = 2x, and y = 3x given the
-- first's checksum (version ids are both 0; sizes, counts and flags agree).
-- At x = 2: 4 and 6, row after row and call after call.
CREATE TEMP TABLE twins AS
SELECT a AS double, overlay(b PLACING substr(a, 17, 40) FROM 17 FOR 40) AS triple
  FROM (SELECT mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
                 "model": {"type": "linear", "coef": [2], "link": "identity"}}') AS a,
               mlops.compile_model('{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
                 "model": {"type": "linear", "coef": [3], "link": "identity"}}') AS b) s;
SELECT substr(double, 1, 128) = substr(triple, 1, 128) AS same_header, double <> triple AS different_bytes FROM twins;
SELECT i, mlops.score(c, ARRAY[2]) AS score
  FROM twins, LATERAL (VALUES (1, double), (2, triple), (3, double), (4, triple)) v(i, c) ORDER BY i;
SELECT score_each(ARRAY[double, triple, triple, double], ARRAY[2]) AS "4, 6, 6, 4" FROM twins;
-- models stored out of line (TOAST): 3,000 categories, the coefficient of
-- category k being k, with intercepts 0 and 0.5, alternating row by row and
-- call by call: category c7 scores 7 and 7.5
CREATE TEMP TABLE big_models AS
SELECT i, mlops.compile_model(json_build_object(
  'format', 'mlops.model/v1', 'task', 'regression',
  'features', json_build_array(json_build_object('name', 'z', 'type', 'categorical',
      'categories', (SELECT json_agg('c' || k ORDER BY k) FROM generate_series(0, 2999) k))),
  'model', json_build_object('type', 'linear', 'link', 'identity', 'intercept', json_build_array((i - 1) / 2.0),
      'coef', (SELECT json_agg(k ORDER BY k) FROM generate_series(0, 2999) k)))::text) AS c
  FROM generate_series(1, 2) i;
SELECT i, pg_column_size(c) < octet_length(c) AS stored_compressed, octet_length(c) > 8000 AS big FROM big_models ORDER BY i;
SELECT g, b.i, mlops.score(b.c, '{"z": "c7"}'::jsonb) AS score
  FROM generate_series(1, 2) g, big_models b ORDER BY g, b.i;
SELECT score_each(ARRAY(SELECT c FROM big_models, generate_series(1, 2) ORDER BY i DESC), '{"z": "c7"}'::jsonb)
       AS "7.5, 7.5, 7, 7";
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT i, c FROM big_models, generate_series(1, 2) ORDER BY 1 + generate_series % 2, i LOOP
        RAISE NOTICE 'model % scores %', r.i, mlops.score(r.c, '{"z": "c7"}'::jsonb);
    END LOOP;
END $$;

-------------------------------------------------------------------------------
-- Infinite inputs are refused, as scikit-learn and XGBoost refuse them: a row
-- problem naming the feature, in both input forms (a jsonb number beyond
-- float8's range, such as 1e400, is infinite once converted), for every
-- family, even where a category index would be ignored; feature_problem()
-- reports it.  A number below float8's range (1e-400) is 0, as it has been.
-------------------------------------------------------------------------------
SELECT mlops.score(compiled, ARRAY[1, 'Infinity']::float8[]) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, ARRAY['-Infinity', 1]::float8[]) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, '{"a": 1e400, "b": 1}'::jsonb) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, '{"a": 1, "b": -1e400}'::jsonb) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, ARRAY['Infinity', 1]::float8[]) FROM m WHERE name = 'tree';
SELECT mlops.score(compiled, ARRAY[1, 'Infinity', 1]::float8[]) FROM m WHERE name = 'pipeline_ignore';
SELECT mlops.score(compiled, '{"a": 1e-400, "b": 1}'::jsonb) AS "-1.5 (a = 0)" FROM m WHERE name = 'linreg';
SELECT mlops.predict('forge:1', ARRAY['-Infinity']::float8[]);
SELECT mlops.predict('forge:1', '{"x": 1e400}'::jsonb);
SELECT mlops.feature_problem('forge:1', ARRAY['Infinity']::float8[]) AS array_problem,
       mlops.feature_problem('forge:1', '{"x": -1e400}'::jsonb) AS jsonb_problem,
       mlops.feature_problem('forge:1', ARRAY[1e308]::float8[]) AS "1e308 is fine";
-- An output that comes out NaN from finite inputs (an overflow: here
-- 10 * 1e308 - 10 * 1e308 = inf - inf) is an error, not a NaN score; a
-- merely huge output is a value.  y = 10 a + 10 b.
INSERT INTO artifacts VALUES ('overflow', '{
  "format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
  "model": {"type": "linear", "coef": [10, 10], "link": "identity"}}');
SELECT mlops.score(compiled, ARRAY[1e308, -1e308]) FROM m WHERE name = 'overflow';
SELECT mlops.score(compiled, '{"a": 1e308, "b": -1e308}'::jsonb) FROM m WHERE name = 'overflow';
SELECT mlops.score(compiled, ARRAY[1e308, 1e308]) AS "Infinity", mlops.score(compiled, ARRAY[1e300, -1e300]) AS "0"
  FROM m WHERE name = 'overflow';
-- The chunked path of batch scoring refuses both too.  An MLP of two layers
-- (h = (10 a, 10 b), y = h1 + h2), so that the overflow is inf - inf on every
-- CPU: in one layer, y = 10 a + 10 b, a BLAS kernel with fused multiply-adds
-- (OpenBLAS on AVX-512) computes fma(10, b, 10 a) = inf, not NaN.
SELECT mlops.register_model_version('wide', '{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
  "model": {"type": "mlp", "hidden_activation": "identity", "output_activation": "identity",
            "layers": [{"weights": [[10, 0], [0, 10]], "bias": [0, 0]}, {"weights": [[1], [1]], "bias": [0]}]}}') AS version;
SELECT * FROM mlops._score_query('wide:1', 'SELECT 1, ARRAY[1, 2]::float8[]', 1, '{prediction}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('wide:1', $$SELECT i, ARRAY[1, CASE i WHEN 2 THEN 'Infinity'::float8 ELSE 2 END]
                                           FROM generate_series(1, 3) i$$, 1, '{prediction}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('wide:1', $$SELECT i, jsonb_build_object('a', 1, 'b', CASE i WHEN 3 THEN 1e400 ELSE 2 END)
                                           FROM generate_series(1, 3) i$$, 1, '{prediction}') AS r(id int, p float8);
SELECT * FROM mlops._score_query('wide:1', $$SELECT i, ARRAY[1e308, CASE i WHEN 2 THEN -1e308 ELSE 2 END]::float8[]
                                           FROM generate_series(1, 3) i$$, 1, '{prediction}') AS r(id int, p float8);

-------------------------------------------------------------------------------
-- Scoring a whole row by name, leaving out the columns that are not
-- features: exclude => ARRAY[...] names keys to ignore (they need not be
-- present); other unknown keys are still errors.  A key that is excluded
-- and also a feature is left out: the feature is missing (imputed, or an
-- error).  NULL, or NULL elements, exclude nothing.
-- linreg at (2, 1): 1.5; with b missing (imputed 2): -0.5.
-------------------------------------------------------------------------------
SELECT mlops.score(compiled, '{"id": 7, "a": 2, "b": 1, "label": "x"}'::jsonb, ARRAY['id', 'label']) AS "1.5",
       mlops.score(compiled, '{"a": 2, "b": 1}'::jsonb, ARRAY['id', 'label']) AS "1.5, nothing to leave out",
       mlops.score(compiled, '{"a": 2, "b": 1}'::jsonb, exclude => ARRAY['b']) AS "-0.5, b left out",
       mlops.score(compiled, '{"a": 2, "b": 1}'::jsonb, NULL) AS "1.5, NULL",
       mlops.score(compiled, '{"a": 2, "b": 1, "id": [1]}'::jsonb, ARRAY[NULL, 'id']) AS "1.5, NULL element",
       mlops.score(compiled, NULL::jsonb, ARRAY['id']) AS "NULL row"
  FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, '{"id": 7, "a": 2, "b": 1, "c": 3}'::jsonb, ARRAY['id']) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, '{"id": 7, "a": 2, "b": 1}'::jsonb, NULL) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, '{"id": 7, "a": 2, "b": 1}'::jsonb, ARRAY[NULL]::text[]) FROM m WHERE name = 'linreg';
SELECT mlops.score(compiled, '{"a": 2, "b": 1}'::jsonb, ARRAY['a']) FROM m WHERE name = 'linreg';  -- a: no imputation
-- logreg at (ln 3, 0): 3/4; score_proba and score_class
SELECT round(mlops.score(compiled, jsonb_build_object('a', ln(3), 'b', 0, 'y', 'yes'), ARRAY['y'])::numeric, 12) AS "0.75",
       (SELECT array_agg(round(p::numeric, 12))
          FROM unnest(mlops.score_proba(compiled, jsonb_build_object('a', ln(3), 'b', 0, 'y', 'yes'), ARRAY['y'])) p)
         AS "{0.25,0.75}",
       mlops.score_class(compiled, jsonb_build_object('a', ln(3), 'b', 0, 'y', 'yes'), ARRAY['y']) AS yes
  FROM m WHERE name = 'logreg';
-- Rows of one column: the match of keys to features is kept from row to
-- row while the keys stay the same; keys that change, and exclusions that
-- change, are seen.  linreg: 1.5 at (2, 1), -0.5 with b missing (imputed 2).
SELECT i, mlops.score(m.compiled, f, x) AS score
  FROM m, (VALUES (1, '{"a": 2, "b": 1}'::jsonb, NULL::text[]), (2, '{"a": 2, "b": 1}', NULL),
                  (3, '{"a": 2}', NULL), (4, '{"b": 1, "a": 2}', NULL), (5, '{"a": 2, "b": 1, "id": 5}', ARRAY['id']),
                  (6, '{"a": 2, "b": 1, "id": 66}', ARRAY['id']), (7, '{"a": 2, "b": 1, "id": 7}', ARRAY['b', 'id']),
                  (8, '{"a": 2, "b": 1}', NULL), (9, '{"a": 2, "b": null}', NULL), (10, '{"a": 2, "b": true}', NULL),
                  (11, '{"a": 2, "b": 1}', ARRAY['id'])) v(i, f, x)
 WHERE m.name = 'linreg' ORDER BY i;
SELECT i, mlops.score(m.compiled, f, x) AS score
  FROM m, (VALUES (1, '{"a": 2, "b": 1, "id": 1}'::jsonb, ARRAY['id']), (2, '{"a": 2, "b": 1, "id": 2}', NULL)) v(i, f, x)
 WHERE m.name = 'linreg';

-- by reference, rows with an id and a label: forge:1 is 2x + 1
CREATE TEMP TABLE labelled AS SELECT i AS id, i * 10 AS x, 'l' || i AS label FROM generate_series(1, 3) i;
SELECT id, mlops.predict('forge:1', to_jsonb(l), ARRAY['id', 'label']) AS "2x + 1",
       mlops.feature_problem('forge:1', to_jsonb(l), ARRAY['id', 'label']) AS problem,
       mlops.feature_problem('forge:1', to_jsonb(l), ARRAY['id']) AS problem_without_label,
       mlops.feature_problem('forge:1', to_jsonb(l), ARRAY['id', 'label', 'x']) AS problem_without_x
  FROM labelled l ORDER BY id;
SELECT mlops.predict('forge:1', to_jsonb(l)) FROM labelled l WHERE id = 1;
SELECT mlops.predict_proba('batchless', to_jsonb(l), ARRAY['id']) FROM labelled l WHERE id = 1;  -- unknown model
SELECT mlops.register_model_version('softmax', doc) AS version FROM artifacts WHERE name = 'softmax';
SELECT (SELECT array_agg(round(p::numeric, 12)) FROM unnest(mlops.predict_proba('softmax:1', f, ARRAY['row'])) p)
         AS "{1/3, 1/2, 1/6}",
       mlops.predict_class('softmax:1', f, ARRAY['row']) AS b
  FROM (SELECT jsonb_build_object('a', ln(2), 'b', ln(3), 'row', 1) AS f) s;

-------------------------------------------------------------------------------
-- Numbers by name are converted to float8 exactly as numeric::float8 does
-- (correctly rounded), bit for bit: y = x returns its input unchanged.
-- Edge cases (halfway cases rounding to even, 2^53 and 2^64 neighbours,
-- many digits, the largest and smallest doubles, subnormals, zero and
-- negative zero, 10^22 and 10^23), then numbers of 1 to 20 digits at
-- scales 1e-30 to 1e30, and random doubles round-tripped through to_jsonb().
-------------------------------------------------------------------------------
INSERT INTO artifacts VALUES ('ident', '{
  "format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}],
  "model": {"type": "linear", "coef": [1], "link": "identity"}}');
SELECT t AS number, float8send(mlops.score(compiled, jsonb_build_object('x', t::numeric))) = float8send(t::numeric::float8)
         AS same_bits
  FROM m, unnest(ARRAY['0', '-0', '0.000', '-0.000', '1', '-1', '0.1', '-0.1', '0.2', '0.3', '1.5', '123.456', '1e-5',
                       '3.141592653589793', '2.718281828459045', '0.30000000000000004',
                       '9007199254740991', '9007199254740992', '9007199254740993', '9007199254740995',
                       '-9007199254740993', '9007199254740993.0000000000000001', '9007199254740994.9999999999999999',
                       '18446744073709551615', '18446744073709551616', '18446744073709551617', '99999999999999999999',
                       '123456789012345678901234567890', '1234567890123456789.0123456789',
                       '0.1000000000000000055511151231257827021181583404541015625',
                       '0.1000000000000000055511151231257827021181583404541015624',
                       '0.1000000000000000055511151231257827021181583404541015626',
                       '1.00000000000000011102230246251565404236316680908203125',
                       '1.00000000000000011102230246251565404236316680908203126',
                       '1e22', '1e23', '9.999999999999999e22', '1e-22', '1e-23', '4.35e-20', '123456789e-30',
                       '1.7976931348623157e308', '1.7976931348623158e308', '-1.7976931348623157e308',
                       '2.2250738585072014e-308', '2.2250738585072011e-308', '4.9406564584124654e-324',
                       '2.4703282292062328e-324', '-0.0000123456789012345678', '12345678901234567890e-40',
                       '4503599627370497.5', '4503599627370496.5', '2251799813685248.25', '2251799813685248.75',
                       '0.5', '1e-40', '-9.999999999999999e-41'
                      ]) t
 WHERE name = 'ident';
SELECT setseed(0.25);
SELECT count(*) AS numbers,
       count(*) FILTER (WHERE float8send(mlops.score(compiled, jsonb_build_object('x', n))) = float8send(n::float8)) AS same_bits
  FROM m, (SELECT (CASE WHEN i % 3 = 0 THEN '-' ELSE '' END || left(translate(md5(i::text), 'abcdef', '012345'), 1 + i % 20)
                   || 'e' || (i % 61 - 30))::numeric AS n
             FROM generate_series(1, 20000) i) r
 WHERE name = 'ident';
SET extra_float_digits = 1;                              -- to_jsonb(float8) keeps every bit
SELECT count(*) AS doubles,
       count(*) FILTER (WHERE float8send(mlops.score(compiled, jsonb_build_object('x', f))) = float8send(f)) AS same_bits
  FROM m, (SELECT (random() - 0.5) * 10 ^ (i % 41 - 20) AS f FROM generate_series(1, 20000) i) r
 WHERE name = 'ident';
SET extra_float_digits = 0;

-- the registry as the next test file expects it: empty
SELECT mlops.delete_registered_model(name) FROM mlops.registered_models ORDER BY name;
DROP FUNCTION score_each(bytea[], float8[]), score_each(bytea[], jsonb);
