#!/usr/bin/python3
"""Helper of parity_xgboost.sh: XGBoost (Debian's python3-xgboost 1.7) as the oracle of mlops
scoring of models imported from XGBoost's JSON (Booster.save_model("m.json")).

  parity_xgboost.py prepare DIR   train the models on synthetic data (fixed seeds, 5% NaN), save
                                  them as JSON, and write to DIR: artifacts.copy (name, JSON text),
                                  features.copy (id, float8[] with NaN and NULL for missing values,
                                  jsonb by feature name without the missing keys, the same jsonb
                                  with XGBoost's default names f0..f9), manifest.tsv (one scoring
                                  run a line), expected_<model>.json (XGBoost's predict on the same
                                  rows) and refusals.json (files mlops must refuse)
  parity_xgboost.py refuse DIR    register every file of refusals.json (psycopg2, libpq's
                                  environment) and check that each fails with the expected
                                  SQLSTATE and message, stores nothing, and leaves the server up
  parity_xgboost.py compare DIR   compare actual_<entry>.copy (what SQL scored) with XGBoost's
                                  predictions; one line per run, exits 1 on any failure
  parity_xgboost.py seeds DIR     write the fuzz corpus seeds DIR/xgboost-<objective> (":" as "-"):
                                  a 0x00 byte (fuzz_model.c: JSON artifact) and a small saved model
                                  (3 to 5 trees of depth 2 or 3) of each objective

Tolerance: |mlops - xgboost| <= 1e-6 for every value (XGBoost predicts in float32; mlops returns
the float32 result as float8); predict_class of multi:softmax must equal str(int(predict)).
The test rows hold 5% missing values, and 3,000 of the 10,000 have one feature set at or next to
a split threshold of one of the models (the float32 threshold, its float32 neighbours, the float64
numbers next to it, which XGBoost rounds onto it, and float64 midpoints between float32 values).

Must run under Debian's /usr/bin/python3 (python3-xgboost 1.7, numpy, psycopg2).
"""
import json
import math
import os
import re
import sys
import time

import numpy as np

sys.dont_write_bytecode = True      # no __pycache__ in the source tree

import xgboost as xgb  # noqa: E402

N_TRAIN = 5000
N_TEST = 10000
N_BOUNDARY = 3000
MISSING_RATE = 0.05
ABS_TOL = 1e-6
FEATURES = ["age", "income", "score_a", "score_b", "ratio", "tiny", "visits", "flag", "temp", "noise"]
NTHREAD = 1       # one thread: OpenMP spinning makes training erratic when the cores are busy

# the objectives the importer supports (make_data() makes a target for each)
OBJECTIVES = ["reg:squarederror", "reg:logistic", "binary:logistic", "binary:logitraw",
              "multi:softprob", "multi:softmax", "count:poisson"]
# (boosting rounds, depth, tree_method, learning rate): a spread of sizes and of the three
# CPU tree methods, whose thresholds differ (exact: midpoints of data values; approx and hist:
# sketch cut points)
SIZES = [(10, 3, "exact", 0.3), (100, 6, "approx", 0.15), (500, 8, "hist", 0.05)]


def copy_text(s):
    """A value in COPY's text format."""
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def objective_key(obj):
    return obj.replace(":", "_")


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def make_data():
    """Complete features (the labels are made from them), then 5% of the cells set to NaN."""
    rng = np.random.default_rng(20240611)
    n = N_TRAIN + N_TEST
    X = np.empty((n, len(FEATURES)))
    X[:, 0] = rng.integers(18, 91, n)                       # age: integers (ties, x.5 thresholds)
    X[:, 1] = np.exp(rng.normal(10.3, 0.8, n))              # income: ~30,000, float32 steps of 1/512
    X[:, 2] = rng.normal(0, 1, n)                           # score_a
    X[:, 3] = rng.normal(10, 3, n)                          # score_b
    X[:, 4] = rng.uniform(0, 1, n)                          # ratio
    X[:, 5] = rng.normal(0, 1e-3, n)                        # tiny: small scale
    X[:, 6] = rng.poisson(3, n)                             # visits: counts
    X[:, 7] = rng.integers(0, 2, n)                         # flag: 0/1
    X[:, 8] = rng.normal(15, 20, n)                         # temp
    X[:, 9] = rng.normal(0, 1, n)                           # noise: unrelated to the labels
    lat = (0.04 * (X[:, 0] - 50) + 0.8 * (np.log(X[:, 1]) - 10.3) + 0.9 * X[:, 2]
           - 0.3 * (X[:, 3] - 10) + 1.5 * (X[:, 4] - 0.5) + 300 * X[:, 5] + 0.2 * (X[:, 6] - 3)
           + 0.7 * X[:, 7] + 0.02 * (X[:, 8] - 15) + 0.8 * np.sin(2 * X[:, 2]) * (X[:, 4] > 0.5))
    lat = lat / np.std(lat)
    y = {}
    y["reg:squarederror"] = 3 + 2 * lat + rng.normal(0, 0.5, n)
    y["reg:logistic"] = 1 / (1 + np.exp(-(lat + rng.normal(0, 0.3, n))))
    y["binary:logistic"] = (lat + rng.logistic(0, 0.7, n) > 0.2).astype(float)
    y["binary:logitraw"] = y["binary:logistic"]
    noisy = lat + rng.normal(0, 0.5, n)
    y["multi:softprob"] = np.digitize(noisy, np.quantile(noisy, [0.25, 0.5, 0.75])).astype(float)
    y["multi:softmax"] = np.digitize(noisy, np.quantile(noisy, [0.3, 0.7])).astype(float)
    y["count:poisson"] = rng.poisson(np.exp(0.8 * np.tanh(lat / 2) + 0.4)).astype(float)
    X[rng.random(X.shape) < MISSING_RATE] = np.nan
    return X, y


def add_boundary_rows(X_test, splits, rng):
    """Overwrite the last N_BOUNDARY rows: one feature set at or next to a split threshold
    (splits: (feature, float32 threshold) pairs of all the models)."""
    X = X_test.copy()
    for r in range(len(X) - N_BOUNDARY, len(X)):
        f, thr = splits[rng.integers(len(splits))]
        t32 = np.float32(thr)
        up32 = np.nextafter(t32, np.float32(np.inf))
        down32 = np.nextafter(t32, np.float32(-np.inf))
        t = float(t32)
        mid_up = (t + float(up32)) / 2          # float64 midpoints: round half to even in float32
        mid_down = (t + float(down32)) / 2
        candidates = [t, float(up32), float(down32),
                      np.nextafter(t, -np.inf), np.nextafter(t, np.inf),  # round onto t in float32
                      mid_up, mid_down, np.nextafter(mid_up, np.inf), np.nextafter(mid_down, -np.inf)]
        X[r, f] = candidates[rng.integers(len(candidates))]
    return X


def pg_array(row, rng):
    """A float8[] literal; a missing value is NaN or NULL, at random."""
    out = []
    for v in row:
        if math.isnan(v):
            out.append("NaN" if rng.random() < 0.5 else "NULL")
        else:
            out.append(repr(float(v)))
    return "{" + ",".join(out) + "}"


def jsonb_doc(row, names):
    """A jsonb object by feature name; a missing value is an absent key."""
    return json.dumps({n: float(v) for n, v in zip(names, row) if not math.isnan(v)})


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

def params_for(obj, depth, method, eta, seed):
    p = {"objective": obj, "max_depth": depth, "tree_method": method, "eta": eta, "seed": seed,
         "nthread": NTHREAD}
    if obj == "multi:softprob":
        p["num_class"] = 4
    elif obj == "multi:softmax":
        p["num_class"] = 3
    return p


def base_score_for(obj, size_index, y):
    """Non-default base scores on the larger models, so that each objective's base margin (and
    its float32 rounding) is exercised; XGBoost 1.7 does not estimate one itself."""
    if size_index == 0:
        return None
    return {"reg:squarederror": float(np.mean(y)), "reg:logistic": 0.35, "binary:logistic": 0.3,
            "binary:logitraw": 0.42, "count:poisson": float(np.mean(y)), "multi:softprob": 0.2,
            "multi:softmax": None}[obj]


def train_models(X, y):
    """[(name, objective, rounds, depth, method, booster, feature names?)]."""
    X_train = X[:N_TRAIN]
    models = []
    for oi, obj in enumerate(OBJECTIVES):
        for si, (rounds, depth, method, eta) in enumerate(SIZES):
            p = params_for(obj, depth, method, eta, seed=oi * 10 + si)
            bs = base_score_for(obj, si, y[obj][:N_TRAIN])
            if bs is not None:
                p["base_score"] = bs
            if rounds >= 500:
                p.update(subsample=0.8, colsample_bytree=0.8)
            d = xgb.DMatrix(X_train, label=y[obj][:N_TRAIN], feature_names=FEATURES, missing=np.nan)
            b = xgb.train(p, d, rounds)
            name = "xgb_%s_%d" % (objective_key(obj), rounds)
            models.append((name, obj, rounds, depth, method, b, True))
    # saved without feature names: the signature is XGBoost's own f0 .. f9
    d = xgb.DMatrix(X_train, label=y["binary:logistic"][:N_TRAIN], missing=np.nan)
    b = xgb.train(params_for("binary:logistic", 5, "hist", 0.2, seed=101), d, 50)
    models.append(("xgb_no_names", "binary:logistic", 50, 5, "hist", b, False))
    # the exact method with gamma prunes: deleted nodes stay in the arrays, unreachable
    d = xgb.DMatrix(X_train, label=y["reg:squarederror"][:N_TRAIN], feature_names=FEATURES, missing=np.nan)
    p = params_for("reg:squarederror", 7, "exact", 0.3, seed=102)
    p["gamma"] = 3.0
    b = xgb.train(p, d, 40)
    models.append(("xgb_pruned", "reg:squarederror", 40, 7, "exact", b, True))
    # a boosted forest: 4 parallel trees per round, summed
    d = xgb.DMatrix(X_train, label=y["multi:softprob"][:N_TRAIN], feature_names=FEATURES, missing=np.nan)
    p = params_for("multi:softprob", 4, "hist", 0.5, seed=103)
    p.update(num_parallel_tree=4, subsample=0.7, colsample_bynode=0.7)
    b = xgb.train(p, d, 20)
    models.append(("xgb_forest", "multi:softprob", 20, 4, "hist", b, True))
    return models


def tree_splits(doc):
    """(feature, threshold) of every internal node of a saved model."""
    out = []
    for t in doc["learner"]["gradient_booster"]["model"]["trees"]:
        for left, f, c in zip(t["left_children"], t["split_indices"], t["split_conditions"]):
            if left != -1:
                out.append((int(f), float(c)))
    return out


def kind_of(obj):
    return {"multi:softprob": "proba", "multi:softmax": "class"}.get(obj, "value")


def expected_outputs(booster, X, obj, names):
    p = booster.predict(xgb.DMatrix(X, feature_names=names, missing=np.nan))
    if obj == "multi:softmax":
        return [str(int(v)) for v in p]
    if obj == "multi:softprob":
        return [[float(v) for v in row] for row in p]
    return [float(v) for v in p]


# --------------------------------------------------------------------------
# files mlops must refuse
# --------------------------------------------------------------------------

def saved_json(booster, path):
    booster.save_model(path)
    with open(path) as f:
        return f.read()


def refusal_cases(work, X, y):
    """[(name, what, JSON text, accepted SQLSTATEs, substrings of the message)]."""
    X_train = X[:2000]
    d = xgb.DMatrix(X_train, label=y["reg:squarederror"][:2000], feature_names=FEATURES, missing=np.nan)
    tmp = os.path.join(work, "refuse.json")
    cases = []

    def train(params, rounds=3, dmat=d):
        params = dict(params, nthread=NTHREAD, seed=0)
        return saved_json(xgb.train(params, dmat, rounds), tmp)

    # unsupported parts: 22023, the part named
    cases.append(("xgb_refuse_dart", "dart booster",
                  train({"booster": "dart", "max_depth": 3, "rate_drop": 0.1}), ["22023"], ['"dart" booster']))
    cases.append(("xgb_refuse_gblinear", "gblinear booster",
                  train({"booster": "gblinear"}), ["22023"], ['"gblinear" booster']))
    cases.append(("xgb_refuse_pseudohuber", "objective reg:pseudohubererror",
                  train({"objective": "reg:pseudohubererror", "max_depth": 3}), ["22023"],
                  ['objective "reg:pseudohubererror" is not supported']))
    dr = xgb.DMatrix(X_train, label=y["binary:logistic"][:2000], feature_names=FEATURES, missing=np.nan)
    dr.set_group([100] * 20)
    cases.append(("xgb_refuse_rank", "objective rank:pairwise",
                  train({"objective": "rank:pairwise", "max_depth": 3}, dmat=dr), ["22023"],
                  ['objective "rank:pairwise" is not supported']))
    dm = xgb.DMatrix(X_train, label=np.stack([y["reg:squarederror"][:2000], y["reg:logistic"][:2000]], axis=1),
                     feature_names=FEATURES, missing=np.nan)
    cases.append(("xgb_refuse_multi_target", "two targets (num_target 2)",
                  train({"tree_method": "hist", "max_depth": 3}, dmat=dm), ["22023"], ["multi-target"]))

    # a categorical model, as Debian's XGBoost 1.7 trains and saves it (hist, enable_categorical)
    rng = np.random.default_rng(5)
    Xc = X_train.copy()
    Xc[:, 6] = rng.integers(0, 6, len(Xc))
    dc = xgb.DMatrix(Xc, label=y["reg:squarederror"][:2000] + 5 * (Xc[:, 6] == 4), missing=np.nan,
                     feature_names=FEATURES, feature_types=["q"] * 6 + ["c"] + ["q"] * 3, enable_categorical=True)
    cat = train({"tree_method": "hist", "max_depth": 3, "max_cat_to_onehot": 1}, rounds=3, dmat=dc)
    doc = json.loads(cat.replace("NaN", "null"))
    trees = doc["learner"]["gradient_booster"]["model"]["trees"]
    if not any(1 in t["split_type"] for t in trees):
        raise SystemExit("the categorical model has no categorical split: the test needs one")
    # XGBoost writes the split condition of a categorical node as NaN, which is not JSON: the
    # refusal must still be 22023 and say that categorical splits are the problem
    cases.append(("xgb_refuse_categorical", "categorical model (XGBoost 1.7, as saved, NaN conditions)", cat,
                  ["22023"], ["categorical"]))
    # the same with the NaN split conditions written as numbers (valid JSON): the feature type
    # "c" is refused; without it, the categorical split itself
    for t in trees:
        t["split_conditions"] = [0.0 if c is None else c for c in t["split_conditions"]]
    cases.append(("xgb_refuse_categorical_json", "categorical model, NaN conditions as 0",
                  json.dumps(doc), ["22023"], ["categorical features are not supported"]))
    doc["learner"]["feature_types"] = []
    cases.append(("xgb_refuse_categorical_split", "categorical splits, no feature types",
                  json.dumps(doc), ["22023"], ["categorical splits are not supported"]))
    return cases


def malformed_cases(text):
    """Malformed variants of a valid saved model (a small binary:logistic one).
    [(name, what, JSON text, accepted SQLSTATEs, substrings of the message)]."""
    doc = json.loads(text)
    tree = doc["learner"]["gradient_booster"]["model"]["trees"][0]
    n = len(tree["left_children"])
    n_features = int(doc["learner"]["learner_model_param"]["num_feature"])
    if tree["left_children"][1] == -1:
        raise SystemExit("the base model of the malformed files needs an internal node 1")
    cases = []

    def variant(name, what, edit, codes, needles):
        d = json.loads(text)
        t = d["learner"]["gradient_booster"]["model"]["trees"][0]
        out = edit(d, t)
        cases.append((name, what, out if isinstance(out, str) else json.dumps(d), codes, needles))

    # truncated, 1e999, a wrong type, a child out of range, a cycle, a feature beyond num_feature
    cases.append(("xgb_bad_truncated", "truncated JSON", text[:len(text) // 2], ["22P02"], ["not valid JSON"]))
    overflow = re.sub(r'("split_conditions":\[)[^,\]]+', r"\g<1>1e999", text, count=1)
    if "1e999" not in overflow:
        raise SystemExit("could not write 1e999 into the saved model")
    cases.append(("xgb_bad_overflow", "an oversized number (split_conditions[0] = 1e999)", overflow,
                  ["22P02", "22023"], ["overflow", "not a finite number", "out of the float32 range"]))
    variant("xgb_bad_type", "a string where a number is (split_conditions[0])",
            lambda d, t: t["split_conditions"].__setitem__(0, "0.5"), ["22023"],
            ["split_conditions[0]", "expected a number, found a string"])
    variant("xgb_bad_child", "a child index out of range (left_children[0] = num_nodes)",
            lambda d, t: t["left_children"].__setitem__(0, n), ["22023"], ["left_children[0]", "out of range"])
    variant("xgb_bad_cycle", "a cycle (left_children[1] = 0, the root)",
            lambda d, t: t["left_children"].__setitem__(1, 0), ["22023"], ["reached twice"])
    variant("xgb_bad_feature", "a split feature beyond num_feature (split_indices[0] = num_feature)",
            lambda d, t: t["split_indices"].__setitem__(0, n_features), ["22023"],
            ["split_indices[0]", "beyond the model's %d features" % n_features])
    # more of the same kind
    variant("xgb_bad_self_loop", "a node that is its own child (left_children[0] = 0)",
            lambda d, t: t["left_children"].__setitem__(0, 0), ["22023"], ["reached twice"])
    variant("xgb_bad_shared", "a node with two parents (right_children[1] = left_children[1])",
            lambda d, t: t["right_children"].__setitem__(1, t["left_children"][1]), ["22023"], ["reached twice"])
    variant("xgb_bad_negative_child", "a child index of -2",
            lambda d, t: t["right_children"].__setitem__(0, -2), ["22023"], ["right_children[0]", "out of range"])
    variant("xgb_bad_huge_child", "a child index of 2^40",
            lambda d, t: t["left_children"].__setitem__(0, 2 ** 40), ["22023"], ["left_children[0]", "out of range"])
    variant("xgb_bad_half_leaf", "a node with one child",
            lambda d, t: t["right_children"].__setitem__(0, -1), ["22023"], ["both children or none"])
    variant("xgb_bad_negative_feature", "a negative split feature",
            lambda d, t: t["split_indices"].__setitem__(0, -1), ["22023"], ["split_indices[0]", "out of range"])
    variant("xgb_bad_num_nodes", "tree_param.num_nodes not the node count",
            lambda d, t: t["tree_param"].__setitem__("num_nodes", str(n + 1)), ["22023"], ["num_nodes"])
    variant("xgb_bad_short_array", "split_conditions one element short",
            lambda d, t: t["split_conditions"].pop(), ["22023"], ["split_conditions", "expected %d elements" % n])
    variant("xgb_bad_tree_info", "tree_info pointing at output 1 of a one-output model",
            lambda d, t: d["learner"]["gradient_booster"]["model"]["tree_info"].__setitem__(0, 1), ["22023"],
            ["tree_info[0]", "out of range"])
    variant("xgb_bad_no_trees", "no trees",
            lambda d, t: d["learner"]["gradient_booster"]["model"].__setitem__("trees", []), ["22023"],
            ["trees", "at least 1"])
    variant("xgb_bad_base_score", "base_score not a number",
            lambda d, t: d["learner"]["learner_model_param"].__setitem__("base_score", "abc"), ["22023"],
            ["base_score", "not a finite number"])
    variant("xgb_bad_base_score_one", "base_score 1 for binary:logistic",
            lambda d, t: d["learner"]["learner_model_param"].__setitem__("base_score", "1E0"), ["22023"],
            ["base_score", "not a probability"])
    variant("xgb_bad_threshold_range", "a split condition beyond float32 (1e39)",
            lambda d, t: t["split_conditions"].__setitem__(0, 1e39), ["22023"], ["out of the float32 range"])
    variant("xgb_bad_feature_names", "fewer feature names than num_feature",
            lambda d, t: d["learner"].__setitem__("feature_names", FEATURES[:3]), ["22023"], ["3 names for"])
    variant("xgb_bad_duplicate_names", "a duplicate feature name",
            lambda d, t: d["learner"]["feature_names"].__setitem__(1, d["learner"]["feature_names"][0]), ["22023"],
            ["duplicate feature name"])
    variant("xgb_bad_nan_literal", "NaN written as a leaf value",
            lambda d, t: json.dumps(d).replace('"split_conditions": [', '"split_conditions": [NaN, ', 1), ["22P02"],
            ["not valid JSON"])
    variant("xgb_bad_learner_type", "learner not an object",
            lambda d, t: d.__setitem__("learner", []), ["22023"], ["learner", "expected an object"])
    # counts that disagree with what they count (each registered before issue #9)
    model = lambda d: d["learner"]["gradient_booster"]["model"]
    n_trees = len(model(doc)["trees"])
    variant("xgb_bad_num_trees", "gbtree_model_param.num_trees one more than the trees",
            lambda d, t: model(d)["gbtree_model_param"].__setitem__("num_trees", str(n_trees + 1)), ["22023"],
            ["num_trees", "%d trees declared" % (n_trees + 1)])
    variant("xgb_bad_num_parallel_tree", "num_parallel_tree that does not divide the trees",
            lambda d, t: model(d)["gbtree_model_param"].__setitem__("num_parallel_tree", str(n_trees + 1)),
            ["22023"], ["not whole boosting rounds"])
    variant("xgb_bad_tree_id", "trees not in the order of their ids",
            lambda d, t: t.__setitem__("id", 1), ["22023"], ["trees[0].id", "has id 1"])
    variant("xgb_bad_num_deleted", "tree_param.num_deleted one more than the unreachable nodes",
            lambda d, t: t["tree_param"].__setitem__("num_deleted", str(int(t["tree_param"]["num_deleted"]) + 1)),
            ["22023"], ["num_deleted", "not reached from the root"])
    variant("xgb_bad_tree_num_feature", "tree_param.num_feature beyond the model's",
            lambda d, t: t["tree_param"].__setitem__("num_feature", str(n_features + 1)), ["22023"],
            ["tree_param.num_feature", "more than the model's %d" % n_features])
    variant("xgb_bad_parents", "parents one element short",
            lambda d, t: t["parents"].pop(), ["22023"], ["parents", "expected %d elements" % n])
    variant("xgb_bad_feature_types", "fewer feature types than num_feature",
            lambda d, t: d["learner"].__setitem__("feature_types", ["float"] * 3), ["22023"], ["3 types for"])
    variant("xgb_bad_iteration_indptr", "iteration_indptr ending past the last tree",
            lambda d, t: model(d).__setitem__("iteration_indptr", list(range(n_trees)) + [n_trees + 1]),
            ["22023"], ["iteration_indptr", "the rounds end at tree %d" % (n_trees + 1)])
    cases.append(("xgb_bad_deep_nesting", "arrays nested 100,000 deep",
                  '{"learner": ' + "[" * 100000 + "]" * 100000 + "}", ["22P02"], ["not valid JSON"]))
    return cases


# --------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------

def prepare(work):
    t0 = time.time()
    X, y = make_data()
    X_test = X[N_TRAIN:]

    models = train_models(X, y)
    t_train = time.time() - t0
    artifacts = []
    splits = []
    for name, obj, rounds, depth, method, booster, named in models:
        text = saved_json(booster, os.path.join(work, name + ".json"))
        doc = json.loads(text)
        splits.extend(tree_splits(doc))
        artifacts.append((name, text))

    rng = np.random.default_rng(77)
    X_test = add_boundary_rows(X_test, splits, rng)

    manifest = []
    for name, obj, rounds, depth, method, booster, named in models:
        names = FEATURES if named else None
        exp = expected_outputs(booster, X_test, obj, names)
        with open(os.path.join(work, "expected_%s.json" % name), "w") as f:
            json.dump(exp, f)
        n_trees = len(booster.get_dump())
        kind = kind_of(obj)
        manifest.append((name, name, obj, kind, "array", str(rounds), str(n_trees), str(depth), method))
        if name == "xgb_binary_logistic_100":
            manifest.append((name + "_jsonb", name, obj, kind, "jsonb", str(rounds), str(n_trees), str(depth),
                             method))
        if name == "xgb_multi_softprob_100":
            manifest.append((name + "_jsonb", name, obj, kind, "jsonb", str(rounds), str(n_trees), str(depth),
                             method))
        if name == "xgb_no_names":
            manifest.append((name + "_jsonb", name, obj, kind, "jsonb_f", str(rounds), str(n_trees), str(depth),
                             method))

    f_names = ["f%d" % j for j in range(len(FEATURES))]
    with open(os.path.join(work, "features.copy"), "w") as f:
        for i, row in enumerate(X_test):
            f.write("%d\t%s\t%s\t%s\n" % (i, pg_array(row, rng), copy_text(jsonb_doc(row, FEATURES)),
                                          copy_text(jsonb_doc(row, f_names))))
    with open(os.path.join(work, "artifacts.copy"), "w") as f:
        for name, text in artifacts:
            f.write("%s\t%s\n" % (name, copy_text(text)))
    with open(os.path.join(work, "manifest.tsv"), "w") as f:
        for m in manifest:
            f.write("\t".join(m) + "\n")

    # refusals: a small valid model is the base of the malformed files
    small = xgb.train(params_for("binary:logistic", 3, "exact", 0.3, seed=7),
                      xgb.DMatrix(X[:1000], label=y["binary:logistic"][:1000], feature_names=FEATURES,
                                  missing=np.nan), 3)
    cases = refusal_cases(work, X, y) + malformed_cases(saved_json(small, os.path.join(work, "small.json")))
    with open(os.path.join(work, "refusals.json"), "w") as f:
        json.dump([{"name": c[0], "what": c[1], "text": c[2], "codes": c[3], "needles": c[4]}
                   for c in cases], f)

    missing = float(np.mean(np.isnan(X_test)))
    print("xgboost %s: trained %d models in %.1f s (%d kB of JSON); %d test rows, %.1f%% of the values missing,"
          " %d with a feature at or next to a threshold; %d files to refuse; prepared in %.1f s" % (
              xgb.__version__, len(models), t_train, sum(len(t) for _, t in artifacts) // 1024, len(X_test),
              100 * missing, N_BOUNDARY, len(cases), time.time() - t0))


# --------------------------------------------------------------------------
# refuse
# --------------------------------------------------------------------------

def refuse(work):
    import psycopg2

    with open(os.path.join(work, "refusals.json")) as f:
        cases = json.load(f)
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_postmaster_start_time(), pg_backend_pid(),"
                " (SELECT count(*) FROM mlops.model_versions), (SELECT count(*) FROM mlops.registered_models)")
    started, pid, n_versions, n_models = cur.fetchone()
    failures = []
    print("%-30s %-8s %s" % ("refused file", "SQLSTATE", "message"))
    for c in cases:
        name = c["name"]
        try:
            cur.execute("SELECT mlops.register_model_version(%s, %s)", (name, c["text"]))
            failures.append("%s (%s): registered as version %s, expected a refusal" % (name, c["what"],
                                                                                    cur.fetchone()[0]))
            print("%-30s %-8s %s" % (name, "-", "REGISTERED"))
            continue
        except psycopg2.Error as e:
            code = e.pgcode
            msg = e.diag.message_primary or str(e)
        if conn.closed:
            failures.append("%s: the connection was lost: %s" % (name, msg))
            break
        print("%-30s %-8s %s" % (name, code, msg))
        ok_code = code in c["codes"]
        ok_msg = any(s in msg for s in c["needles"])
        if not (ok_code and ok_msg):
            failures.append("%s (%s): got %s \"%s\"; expected %s and a message with %s" % (
                name, c["what"], code, msg, "/".join(c["codes"]), " or ".join(repr(s) for s in c["needles"])))
        cur.execute("SELECT (SELECT count(*) FROM mlops.model_versions_overview WHERE model_name = %s),"
                    " (SELECT count(*) FROM mlops.registered_models WHERE name = %s)", (name, name))
        left = cur.fetchone()
        if left != (0, 0):
            failures.append("%s: %d versions and %d models left behind" % (name, left[0], left[1]))

    # still up, never restarted, the same backend, nothing stored
    try:
        check = psycopg2.connect("")
        ccur = check.cursor()
        ccur.execute("SELECT pg_postmaster_start_time(), (SELECT count(*) FROM mlops.model_versions),"
                     " (SELECT count(*) FROM mlops.registered_models)")
        started2, n_versions2, n_models2 = ccur.fetchone()
        check.close()
        cur.execute("SELECT pg_backend_pid()")
        pid2 = cur.fetchone()[0]
    except psycopg2.Error as e:
        failures.append("the server is not reachable after the refusals: %s" % e)
    else:
        if started2 != started:
            failures.append("the server restarted (a backend crashed): start time %s, then %s" % (started, started2))
        if pid2 != pid:
            failures.append("the session's backend changed (%d, then %d)" % (pid, pid2))
        if (n_versions2, n_models2) != (n_versions, n_models):
            failures.append("model versions %d -> %d, models %d -> %d after the refusals" % (
                n_versions, n_versions2, n_models, n_models2))
    conn.close()
    if failures:
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        return 1
    print("%d files refused, nothing stored, the server up (same postmaster, same backend)" % len(cases))
    return 0


# --------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------

def parse_float(s):
    return float({"Infinity": "inf", "-Infinity": "-inf"}.get(s, s))


def parse_array(s):
    if s == "\\N":
        return None
    return [parse_float(v) for v in s.strip("{}").split(",")]


def compare(work):
    failures = []
    with open(os.path.join(work, "manifest.tsv")) as f:
        manifest = [line.rstrip("\n").split("\t") for line in f]
    print("%-30s %-17s %6s %6s %5s %-6s %-7s %6s %12s %10s" % (
        "run", "objective", "rounds", "trees", "depth", "method", "input", "rows", "max abs diff", "identical"))
    by_array = {}
    for entry, model, obj, kind, inp, rounds, n_trees, depth, method in manifest:
        with open(os.path.join(work, "expected_%s.json" % model)) as f:
            exp = json.load(f)
        with open(os.path.join(work, "actual_%s.copy" % entry)) as f:
            rows = [line.rstrip("\n").split("\t") for line in f]
        problems = []
        if len(rows) != len(exp):
            problems.append("%d rows scored, %d expected" % (len(rows), len(exp)))
        n_values = n_exact = n_bad = 0
        max_abs = 0.0
        worst = None
        score_bad = 0
        values = []
        for i, (rid, got, scored) in enumerate(rows[:len(exp)]):
            if int(rid) != i:
                problems.append("row %d has id %s" % (i, rid))
                break
            if scored != "\\N" and scored != got:      # score*() runs on every 4th row
                score_bad += 1
            if i % 4 == 0 and scored == "\\N":
                score_bad += 1
            values.append(got)
            want = exp[i]
            if kind == "class":
                pairs = [(got, want)]
            elif kind == "proba":
                p = parse_array(got)
                if p is None or len(p) != len(want):
                    problems.append("row %d: predict_proba gave %s, expected %d values" % (i, got, len(want)))
                    break
                pairs = list(zip(p, want))
            else:
                pairs = [(parse_float(got), want)]
            for a, b in pairs:
                n_values += 1
                if a == b:
                    n_exact += 1
                    continue
                if kind == "class":
                    n_bad += 1
                    if worst is None:
                        worst = (i, a, b)
                    continue
                err = abs(a - b) if math.isfinite(a) else math.inf
                if err > max_abs or worst is None:
                    max_abs = max(max_abs, err)
                    worst = (i, a, b)
                if not err <= ABS_TOL:
                    n_bad += 1
        if inp == "array":
            by_array[model] = values
        elif model in by_array and values != by_array[model]:
            diff = sum(1 for a, b in zip(values, by_array[model]) if a != b)
            problems.append("%d rows differ between the float8[] and the jsonb input" % diff)
        if n_bad:
            i, a, b = worst
            if kind == "class":
                problems.append("%d classes differ from XGBoost; first at row %d: mlops %r, xgboost %r" % (n_bad, i, a, b))
            else:
                problems.append("%d values differ by more than %g; worst at row %d: mlops %r, xgboost %r" % (
                    n_bad, ABS_TOL, i, a, b))
        if score_bad:
            problems.append("%d rows where score*(compile_model(artifact)) differs from predict*()" % score_bad)
        diff_text = "classes" if kind == "class" else "%.3g" % max_abs
        print("%-30s %-17s %6s %6s %5s %-6s %-7s %6d %12s %9.2f%%" % (
            entry, obj, rounds, n_trees, depth, method, inp, len(rows), diff_text, 100.0 * n_exact / max(n_values, 1)))
        for p in problems:
            failures.append("%s: %s" % (entry, p))
    print("(max abs diff = max |mlops - xgboost| over every value (each class probability for multi:softprob);"
          " identical = bit-identical values, or equal classes for multi:softmax; tolerance %g)" % ABS_TOL)
    if failures:
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------
# fuzz seeds
# --------------------------------------------------------------------------

def seeds(out_dir):
    """Small saved models, one per objective, for tests/fuzz/corpus (the first byte 0x00 makes
    fuzz_model.c compile the rest as a JSON artifact)."""
    X, y = make_data()
    X, names = X[:300, :5], FEATURES[:5]
    shapes = {"reg:squarederror": (5, 3, "exact"), "reg:logistic": (4, 2, "hist"),
              "binary:logistic": (5, 3, "hist"), "binary:logitraw": (3, 2, "approx"),
              "multi:softprob": (2, 2, "hist"), "multi:softmax": (2, 2, "exact"), "count:poisson": (4, 3, "hist")}
    tmp = os.path.join(out_dir, ".seed.json")
    for i, obj in enumerate(OBJECTIVES):
        rounds, depth, method = shapes[obj]
        p = params_for(obj, depth, method, 0.3, seed=i)
        if obj == "multi:softprob":
            p["num_class"] = 3
        label = y[obj][:300] if obj != "multi:softprob" else np.minimum(y[obj][:300], 2)
        b = xgb.train(p, xgb.DMatrix(X, label=label, feature_names=names, missing=np.nan), rounds)
        text = saved_json(b, tmp)
        path = os.path.join(out_dir, "xgboost-" + obj.replace(":", "-"))
        with open(path, "wb") as f:
            f.write(b"\x00" + text.encode())
        print("%s: %d trees, %d bytes" % (path, len(b.get_dump()), len(text) + 1))
    os.remove(tmp)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("prepare", "refuse", "compare", "seeds"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    elif sys.argv[1] == "refuse":
        sys.exit(refuse(sys.argv[2]))
    elif sys.argv[1] == "seeds":
        seeds(sys.argv[2])
    else:
        sys.exit(compare(sys.argv[2]))
