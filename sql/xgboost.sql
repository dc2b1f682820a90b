-- XGBoost JSON import: a hand-written two-tree binary:logistic model whose
-- outputs are worked out below, then every kind of unsupported or broken
-- file.  (tests/integration/parity_xgboost.sh checks real XGBoost models
-- against XGBoost's own predictions.)
--   tree 0: x0 < 0.5 ? leaf 0.25 : leaf -0.75   (missing: left)
--   tree 1: x1 < 2   ? leaf 0.1  : leaf -0.1    (missing: right)
--   base_score 0.5, i.e. a base margin of logit(0.5) = 0
-- In float32, as XGBoost: x0 = 0.2, x1 = 1: margin 0.25 + 0.1 = 0.35 -> 0.586618
-- x0 = 0.5 (not < 0.5), x1 = 3: -0.75 - 0.1 = -0.85 -> 0.299433
\set SHOW_CONTEXT never
\set xgb '{"learner": {"attributes": {}, "feature_names": ["tenure", "calls"], "feature_types": ["float", "float"], "gradient_booster": {"model": {"gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "2", "size_leaf_vector": "0"}, "tree_info": [0, 0], "trees": [{"base_weights": [0, 0, 0], "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": [], "default_left": [1, 0, 0], "id": 0, "left_children": [1, -1, -1], "loss_changes": [1, 0, 0], "parents": [2147483647, 0, 0], "right_children": [2, -1, -1], "split_conditions": [0.5, 0.25, -0.75], "split_indices": [0, 0, 0], "split_type": [0, 0, 0], "sum_hessian": [1, 1, 1], "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "3", "size_leaf_vector": "0"}}, {"base_weights": [0, 0, 0], "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": [], "default_left": [0, 0, 0], "id": 1, "left_children": [1, -1, -1], "loss_changes": [1, 0, 0], "parents": [2147483647, 0, 0], "right_children": [2, -1, -1], "split_conditions": [2, 0.1, -0.1], "split_indices": [1, 0, 0], "split_type": [0, 0, 0], "sum_hessian": [1, 1, 1], "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "3", "size_leaf_vector": "0"}}]}, "name": "gbtree"}, "learner_model_param": {"base_score": "5E-1", "boost_from_average": "1", "num_class": "0", "num_feature": "2", "num_target": "1"}, "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}}}, "version": [1, 7, 4]}'

SELECT mlops.register_model_version('xgb_churn', :'xgb');
SELECT format, task, family, signature, classes FROM mlops.model_versions_overview WHERE model_name = 'xgb_churn';
SELECT round(mlops.predict('xgb_churn:1', ARRAY[0.2, 1])::numeric, 6) AS "0.586618",
       round(mlops.predict('xgb_churn:1', ARRAY[0.5, 3])::numeric, 6) AS "0.299433",
       -- missing tenure goes left (0.25), missing calls right (-0.1): 0.15 -> 0.537430
       round(mlops.predict('xgb_churn:1', ARRAY[NULL, NULL]::float8[])::numeric, 6) AS "0.537430",
       round(mlops.predict('xgb_churn:1', '{"tenure": 0.2}'::jsonb)::numeric, 6) AS "by name: 0.537430",
       mlops.predict_class('xgb_churn:1', ARRAY[0.2, 1]) AS "1";
-- outputs are float32, as XGBoost's
SELECT mlops.predict('xgb_churn:1', ARRAY[0.2, 1]) = mlops.predict('xgb_churn:1', ARRAY[0.2, 1])::real::float8 AS float32;
-- the float32 rounding of inputs: 0.49999999 is 0.5 in float32, so it goes right
SELECT round(mlops.predict('xgb_churn:1', ARRAY[0.49999999, 1])::numeric, 6) AS "0.342990 (right: -0.75 + 0.1)";

-- without feature names the signature is XGBoost's own f0, f1, ...
SELECT mlops.register_model_version('xgb_anon', replace(:'xgb', '"feature_names": ["tenure", "calls"], ', ''));
SELECT signature FROM mlops.model_versions_overview WHERE model_name = 'xgb_anon';
SELECT round(mlops.predict('xgb_anon:1', '{"f0": 0.2, "f1": 1}'::jsonb)::numeric, 6) AS "0.586618";

-- other objectives on the same trees: raw margin, regression, Poisson, softprob
SELECT mlops.register_model_version('xgb_raw', replace(:'xgb', 'binary:logistic', 'binary:logitraw'));
SELECT mlops.register_model_version('xgb_reg', replace(replace(:'xgb', 'binary:logistic', 'reg:squarederror'), '"5E-1"', '"1E1"'));
SELECT mlops.register_model_version('xgb_pois', replace(replace(:'xgb', 'binary:logistic', 'count:poisson'), '"5E-1"', '"2E0"'));
SELECT round(mlops.predict('xgb_raw:1', ARRAY[0.2, 1])::numeric, 6) AS "base 0.5 + 0.35 (logitraw starts from base_score)",
       round(mlops.predict('xgb_reg:1', ARRAY[0.2, 1])::numeric, 6) AS "10 + 0.35",
       round(mlops.predict('xgb_pois:1', ARRAY[0.2, 1])::numeric, 5) AS "exp(ln 2 + 0.35) = 2.83814";
SELECT mlops.register_model_version('xgb_multi', replace(replace(replace(:'xgb', 'binary:logistic', 'multi:softprob'),
       '"num_class": "0"', '"num_class": "2"'), '"tree_info": [0, 0]', '"tree_info": [0, 1]'));
-- class 0 gets tree 0 (0.25), class 1 tree 1 (0.1): softmax(0.75, 0.6) with base 0.5 on both
SELECT (SELECT array_agg(round(p::numeric, 6)) FROM unnest(mlops.predict_proba('xgb_multi:1', ARRAY[0.2, 1])) p)
       AS "{0.537430,0.462570}",
       mlops.predict_class('xgb_multi:1', ARRAY[0.2, 1]) AS "0";

-- Refused, naming the unsupported part, and nothing is stored
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"name": "gbtree"', '"name": "dart"'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"name": "gbtree"', '"name": "gblinear"'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', 'binary:logistic', 'rank:pairwise'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"split_type": [0, 0, 0], "sum_hessian": [1, 1, 1], "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "3", "size_leaf_vector": "0"}}, {', '"split_type": [1, 0, 0], "sum_hessian": [1, 1, 1], "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "3", "size_leaf_vector": "0"}}, {'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"feature_types": ["float", "float"]', '"feature_types": ["float", "c"]'));
-- broken files: truncated, oversized number, wrong type, child out of range,
-- a cycle, a split feature beyond num_feature, inconsistent counts
SELECT mlops.register_model_version('xgb_bad', left(:'xgb', 500));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"split_conditions": [0.5, 0.25, -0.75]', '"split_conditions": [1e999, 0.25, -0.75]'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"split_conditions": [0.5, 0.25, -0.75]', '"split_conditions": ["0.5", 0.25, -0.75]'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"right_children": [2, -1, -1], "split_conditions": [0.5', '"right_children": [7, -1, -1], "split_conditions": [0.5'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"left_children": [1, -1, -1], "loss_changes": [1, 0, 0], "parents": [2147483647, 0, 0], "right_children": [2, -1, -1], "split_conditions": [0.5', '"left_children": [1, 0, -1], "loss_changes": [1, 0, 0], "parents": [2147483647, 0, 0], "right_children": [2, 2, -1], "split_conditions": [0.5'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"split_indices": [1, 0, 0]', '"split_indices": [5, 0, 0]'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"tree_info": [0, 0]', '"tree_info": [0]'));
SELECT mlops.register_model_version('xgb_bad', replace(:'xgb', '"num_feature": "2", "num_target"', '"num_feature": "3", "num_target"'));
SELECT count(*) AS nothing_stored FROM mlops.registered_models WHERE name = 'xgb_bad';

-- multi:softmax picks the class from the margins, as XGBoost does: here the
-- margins 0.001 and the next float32 above it differ, while the float32
-- probabilities tie, so the class is 1, not the first of the tied 0 and 1
\set near_tie '{"learner": {"feature_names": ["x"], "gradient_booster": {"model": {"tree_info": [0, 1, 2], "trees": [{"left_children": [-1], "right_children": [-1], "split_indices": [0], "split_conditions": [0.0010000000474974513], "default_left": [0], "split_type": [0]}, {"left_children": [-1], "right_children": [-1], "split_indices": [0], "split_conditions": [0.0010000001639127731], "default_left": [0], "split_type": [0]}, {"left_children": [-1], "right_children": [-1], "split_indices": [0], "split_conditions": [0], "default_left": [0], "split_type": [0]}]}, "name": "gbtree"}, "learner_model_param": {"base_score": "0E0", "num_class": "3", "num_feature": "1"}, "objective": {"name": "multi:softmax"}}}'
SELECT mlops.register_model_version('xgb_tie', :'near_tie');
SELECT mlops.predict_class('xgb_tie:1', ARRAY[0]) AS "1",
       (mlops.predict_proba('xgb_tie:1', ARRAY[0]))[1] = (mlops.predict_proba('xgb_tie:1', ARRAY[0]))[2] AS probabilities_tie;

-- Every count in the file must agree with what it counts (issue #9): each of
-- these registered before, scored as a guess; now each is refused naming the
-- JSON path and both numbers, and nothing is stored.
-- gbtree_model_param.num_trees against the trees there are
SELECT mlops.register_model_version('xgb_count', replace(:'xgb', '"num_trees": "2"', '"num_trees": "3"'));
SELECT mlops.register_model_version('xgb_count', replace(:'xgb', '"num_trees": "2"', '"num_trees": "1"'));
-- num_parallel_tree: 2 trees are not whole rounds of 3 parallel trees
SELECT mlops.register_model_version('xgb_count', replace(:'xgb', '"num_parallel_tree": "1"', '"num_parallel_tree": "3"'));
-- tree_info against num_class: with 3 classes and 1 tree per round, tree 1 is class 1's
SELECT mlops.register_model_version('xgb_count', replace(:'near_tie', '"tree_info": [0, 1, 2]', '"tree_info": [0, 2, 1]'));
-- 4 trees are not whole rounds of 3 classes
SELECT mlops.register_model_version('xgb_count', replace(replace(:'near_tie', '"tree_info": [0, 1, 2]', '"tree_info": [0, 1, 2, 0]'),
       '"trees": [', '"trees": [{"left_children": [-1], "right_children": [-1], "split_indices": [0], "split_conditions": [0], "default_left": [0]}, '));
-- the objective's own num_class
SELECT mlops.register_model_version('xgb_count', replace(:'near_tie', '"objective": {"name": "multi:softmax"}',
       '"objective": {"name": "multi:softmax", "softmax_multiclass_param": {"num_class": "4"}}'));
-- a tree's id is its position (XGBoost 2 loads each tree at its id)
SELECT mlops.register_model_version('xgb_count', replace(:'xgb', '"id": 1,', '"id": 0,'));
-- tree_param.num_deleted against the nodes the root does not reach (none here)
SELECT mlops.register_model_version('xgb_count', regexp_replace(:'xgb', '"num_deleted": "0"', '"num_deleted": "1"'));
-- tree_param.num_feature: more than the model's, or fewer than a split uses (tree 1 splits on feature 1)
SELECT mlops.register_model_version('xgb_count', regexp_replace(:'xgb', '"num_feature": "2", "num_nodes"', '"num_feature": "3", "num_nodes"'));
SELECT mlops.register_model_version('xgb_count', regexp_replace(:'xgb', '"num_feature": "2", "num_nodes"', '"num_feature": "1", "num_nodes"', 1, 2));
-- per-node arrays that scoring does not read still have one element per node
SELECT mlops.register_model_version('xgb_count', regexp_replace(:'xgb', '"parents": \[2147483647, 0, 0\]', '"parents": [2147483647, 0]'));
SELECT mlops.register_model_version('xgb_count', regexp_replace(:'xgb', '"split_type": \[0, 0, 0\]', '"split_type": [0, 0]'));
-- learner.feature_types against num_feature
SELECT mlops.register_model_version('xgb_count', replace(:'xgb', '"feature_types": ["float", "float"]', '"feature_types": ["float"]'));
-- XGBoost 2's iteration_indptr must end at the last tree
SELECT mlops.register_model_version('xgb_count', replace(:'xgb', '"tree_info": [0, 0]', '"iteration_indptr": [0, 1, 3], "tree_info": [0, 0]'));
SELECT mlops.register_model_version('xgb_count', replace(:'xgb', '"tree_info": [0, 0]', '"iteration_indptr": [0, 2, 1], "tree_info": [0, 0]'));
-- vector leaves declared model-wide, and categorical nodes listed in a file that is valid JSON
SELECT mlops.register_model_version('xgb_count', replace(:'xgb', '"num_trees": "2", "size_leaf_vector": "0"', '"num_trees": "2", "size_leaf_vector": "2"'));
SELECT mlops.register_model_version('xgb_count', regexp_replace(:'xgb', '"categories_nodes": \[\]', '"categories_nodes": [0]'));

-- consistent counts still register: XGBoost 2's iteration_indptr, and a
-- pruned tree whose deleted nodes (3 and 4, unreachable; split index
-- 2147483647 as XGBoost marks them) are counted in num_deleted.
--   x0 < 0.5 ? 1 : 2, plus base_score 0.5 (reg:squarederror: the margin itself)
SELECT mlops.register_model_version('xgb_indptr', replace(:'xgb', '"tree_info": [0, 0]', '"iteration_indptr": [0, 1, 2], "tree_info": [0, 0]'));
\set pruned '{"learner": {"gradient_booster": {"model": {"gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1"}, "tree_info": [0], "trees": [{"id": 0, "left_children": [1, -1, -1, -1, -1], "right_children": [2, -1, -1, -1, -1], "parents": [2147483647, 0, 0, 1, 1], "split_indices": [0, 0, 0, 2147483647, 2147483647], "split_conditions": [0.5, 1, 2, 7, 9], "default_left": [0, 0, 0, 0, 0], "split_type": [0, 0, 0, 0, 0], "tree_param": {"num_deleted": "2", "num_feature": "1", "num_nodes": "5", "size_leaf_vector": "0"}}]}, "name": "gbtree"}, "learner_model_param": {"base_score": "5E-1", "num_class": "0", "num_feature": "1"}, "objective": {"name": "reg:squarederror"}}}'
SELECT mlops.register_model_version('xgb_pruned', :'pruned');
SELECT mlops.predict('xgb_pruned:1', ARRAY[0.2]) AS "1.5", mlops.predict('xgb_pruned:1', ARRAY[0.7]) AS "2.5";
SELECT mlops.register_model_version('xgb_count', replace(:'pruned', '"num_deleted": "2"', '"num_deleted": "1"'));
SELECT count(*) AS nothing_stored FROM mlops.registered_models WHERE name = 'xgb_count';

-- A signature in the booster's attributes (mlops_features, mlops_classes:
-- strings holding JSON arrays, as XGBoost keeps attributes): a model trained
-- on a text column one-hot encoded is scored by name with its categories.
-- Made with XGBoost 1.7.4 (2 rounds, max_depth 2, on x and region one-hot
-- encoded as region=north, region=south, region=east), then tree 0's root
-- (split on region=east) made to send missing values right, so that a
-- missing region and an unknown one differ; the expected outputs are what
-- XGBoost predicts for the modified file.
\set sig '{"learner": {"attributes": {"best_iteration": "1", "mlops_classes": "[\\"stay\\", \\"churn\\"]", "mlops_features": "[{\\"name\\": \\"x\\", \\"type\\": \\"numeric\\"}, {\\"name\\": \\"region\\", \\"type\\": \\"categorical\\", \\"categories\\": [\\"north\\", \\"south\\", \\"east\\"], \\"unknown\\": \\"ignore\\"}]"}, "feature_names": ["x", "region=north", "region=south", "region=east"], "feature_types": [], "gradient_booster": {"model": {"gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "2", "size_leaf_vector": "0"}, "tree_info": [0, 0], "trees": [{"base_weights": [-0.47058824, -1.177305, 1.0447761, -1.548387, 1.2380953, -1.5, 1.709091], "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": [], "default_left": [0, 1, 0, 0, 0, 0, 0], "id": 0, "left_children": [1, 3, 5, -1, -1, -1, -1], "loss_changes": [55.847622, 33.51204, 30.880053, 0.0, 0.0, 0.0, 0.0], "parents": [2147483647, 0, 0, 1, 1, 2, 2], "right_children": [2, 4, 6, -1, -1, -1, -1], "split_conditions": [0.5, 0.8777014, -0.64682215, -0.7741935, 0.61904764, -0.75, 0.8545455], "split_indices": [3, 0, 0, 0, 0, 0, 0], "split_type": [0, 0, 0, 0, 0, 0, 0], "sum_hessian": [50.0, 34.25, 15.75, 30.0, 4.25, 3.0, 12.75], "tree_param": {"num_deleted": "0", "num_feature": "4", "num_nodes": "7", "size_leaf_vector": "0"}}, {"base_weights": [-0.28462476, -0.932623, 0.49649134, -1.3792084, 0.23985693, 0.7797941, -0.24103615], "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": [], "default_left": [0, 1, 1, 0, 0, 0, 0], "id": 1, "left_children": [1, 3, 5, -1, -1, -1, -1], "loss_changes": [22.774403, 13.127953, 4.5004272, 0.0, 0.0, 0.0, 0.0], "parents": [2147483647, 0, 0, 1, 1, 2, 2], "right_children": [2, 4, 6, -1, -1, -1, -1], "split_conditions": [0.204376, 0.5, 0.5, -0.6896042, 0.119928464, 0.38989705, -0.12051807], "split_indices": [0, 3, 2, 0, 0, 0, 0], "split_type": [0, 0, 0, 0, 0, 0, 0], "sum_hessian": [43.079494, 23.440098, 19.639399, 16.846952, 6.5931454, 14.147632, 5.491767], "tree_param": {"num_deleted": "0", "num_feature": "4", "num_nodes": "7", "size_leaf_vector": "0"}}]}, "name": "gbtree"}, "learner_model_param": {"base_score": "5E-1", "boost_from_average": "0", "num_class": "0", "num_feature": "4", "num_target": "1"}, "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}}}, "version": [1, 7, 4]}'
SELECT mlops.register_model_version('xgb_sig', :'sig');
SELECT format, task, signature, classes FROM mlops.model_versions_overview WHERE model_name = 'xgb_sig';
SELECT round(mlops.predict('xgb_sig:1', '{"x": 0.2, "region": "north"}'::jsonb)::numeric, 6) AS "0.187887",
       round(mlops.predict('xgb_sig:1', '{"x": 1.5, "region": "east"}'::jsonb)::numeric, 6) AS "0.776336",
       round(mlops.predict('xgb_sig:1', '{"region": "south"}'::jsonb)::numeric, 6) AS "x missing: 0.290138",
       round(mlops.predict('xgb_sig:1', '{"x": 1, "region": null}'::jsonb)::numeric, 6) AS "region missing: 0.776336",
       round(mlops.predict('xgb_sig:1', '{"x": 1, "region": "west"}'::jsonb)::numeric, 6) AS "unknown, zeros: 0.732814",
       round(mlops.predict('xgb_sig:1', ARRAY[-1, 2])::numeric, 6) AS "by index (east): 0.347494";
SELECT mlops.predict_class('xgb_sig:1', '{"x": 1.5, "region": "east"}'::jsonb) AS churn,
       mlops.predict_class('xgb_sig:1', '{"x": 0.2, "region": "north"}'::jsonb) AS stay;
-- an unknown category with "unknown": "error" (the default) is an error
SELECT mlops.register_model_version('xgb_sig_strict', replace(:'sig', ', \"unknown\": \"ignore\"', ''));
SELECT mlops.predict('xgb_sig_strict:1', '{"x": 1, "region": "west"}'::jsonb);
-- without learner.feature_names nothing is checked but the count
SELECT mlops.register_model_version('xgb_sig_anon', replace(:'sig', '"feature_names": ["x", "region=north", "region=south", "region=east"], ', ''));
SELECT round(mlops.predict('xgb_sig_anon:1', '{"x": 1.5, "region": "east"}'::jsonb)::numeric, 6) AS "0.776336";
-- impute, as in our format
SELECT mlops.register_model_version('xgb_sig_impute', replace(:'sig', '\"type\": \"categorical\", ', '\"type\": \"categorical\", \"impute\": \"east\", '));
SELECT round(mlops.predict('xgb_sig_impute:1', '{"x": 1.5}'::jsonb)::numeric, 6) AS "imputed east: 0.776336";
-- classes named by mlops_classes in a multiclass model
SELECT mlops.register_model_version('xgb_tie_named', replace(:'near_tie', '"learner": {', '"learner": {"attributes": {"mlops_classes": "[\"low\", \"mid\", 3]"}, '));
SELECT classes FROM mlops.model_versions_overview WHERE model_name = 'xgb_tie_named';
SELECT mlops.predict_class('xgb_tie_named:1', ARRAY[0]) AS mid;

-- Refused, naming the JSON path (and both numbers), nothing stored:
-- the signature encodes to 5 columns for 4 (a fourth region), or 3 (a region less)
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '\"east\"]', '\"east\", \"west\"]'));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', ', \"east\"]', ']'));
-- the columns named by the file are not the signature's (another order)
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '[\"north\", \"south\", \"east\"]', '[\"south\", \"north\", \"east\"]'));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '"feature_names": ["x", ', '"feature_names": ["y", '));
-- a bad feature definition, as in our format
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '\"type\": \"numeric\"', '\"type\": \"text\"'));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '\"name\": \"x\"', '\"name\": \"region\"'));
-- classes: not 2 for a binary model, not num_class, duplicates, on a regression
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '[\"stay\", \"churn\"]', '[\"stay\", \"churn\", \"left\"]'));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'near_tie', '"learner": {', '"learner": {"attributes": {"mlops_classes": "[\"low\", \"mid\"]"}, '));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '[\"stay\", \"churn\"]', '[\"stay\", \"stay\"]'));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', 'binary:logistic', 'reg:squarederror'));
-- hostile attributes: not a string, not JSON, not an array, empty, deeply
-- nested, huge (more features or categories than a model may have)
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '"attributes": {', '"attributes": {"mlops_features": [1]}, "x": {'));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '"mlops_features": "[', '"mlops_features": "x['));
SELECT mlops.register_model_version('xgb_sig_bad', regexp_replace(:'sig', '"mlops_features": "[^"]*(\\"[^"]*)*"', '"mlops_features": "{\"name\": \"x\"}"'));
SELECT mlops.register_model_version('xgb_sig_bad', regexp_replace(:'sig', '"mlops_classes": "[^"]*(\\"[^"]*)*"', '"mlops_classes": "[]"'));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '"mlops_features": "[', '"mlops_features": "' || repeat('[', 100000)));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '"mlops_features": "[', '"mlops_features": "[' || repeat('{\"name\": \"x\", \"type\": \"numeric\"}, ', 100001)));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '\"categories\": [', '\"categories\": [' || (SELECT string_agg(format('\"c%s\", ', i), '') FROM generate_series(1, 100001) i)));
SELECT mlops.register_model_version('xgb_sig_bad', replace(:'sig', '"attributes": {', '"attributes": [], "x": {'));
SELECT count(*) AS nothing_stored FROM mlops.registered_models WHERE name = 'xgb_sig_bad';
