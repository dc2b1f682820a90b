#!/usr/bin/python3
"""Helper of parity_sklearn.sh: scikit-learn as the oracle of mlops scoring.

  parity_sklearn.py prepare DIR   train the models on synthetic data (fixed seeds), export them
                                  with tests/exporter/sklearn_to_mlops.py, and write to DIR:
                                  artifacts.copy (name, JSON), features_<set>.copy (id, float8[],
                                  jsonb), manifest.tsv (one model a line) and expected_<model>.json
                                  (sklearn's predict / predict_proba / predict on the same rows)
  parity_sklearn.py compare DIR   compare actual_<model>.copy (what SQL scored) with the expected
                                  values; prints one line per model, exits 1 on any failure

Tolerance: a value a matches sklearn's b when |a - b| <= 1e-9 * max(|b|, 1e-3), i.e. 1e-9
relative, with an absolute floor of 1e-12 for |b| < 1e-3.  Classes must be equal.

Must run under Debian's /usr/bin/python3 (python3-sklearn 1.2).
"""
import json
import math
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "exporter"))

import sklearn_to_mlops  # noqa: E402

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,  # noqa: E402
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

N_TRAIN = 5000
N_TEST = 10000
REL_TOL = 1e-9
FLOOR = 1e-3            # relative error denominator floor: absolute tolerance 1e-12 near 0


def copy_text(s):
    """A value in COPY's text format."""
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def pg_array(row):
    return "{" + ",".join(repr(float(v)) for v in row) + "}"


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def numeric_sets():
    sets = {}
    X, y = make_classification(n_samples=N_TRAIN + N_TEST, n_features=8, n_informative=5, n_redundant=1,
                               class_sep=0.8, flip_y=0.03, random_state=11)
    sets["bin"] = (X, y)
    X, y = make_classification(n_samples=N_TRAIN + N_TEST, n_features=10, n_informative=6, n_redundant=2,
                               n_classes=4, n_clusters_per_class=1, flip_y=0.03, random_state=12)
    sets["multi"] = (X, y)
    X, y = make_regression(n_samples=N_TRAIN + N_TEST, n_features=8, n_informative=6, noise=5.0,
                           random_state=13)
    sets["reg"] = (X, y)
    return sets


NUM_COLS = ["age", "income", "score1", "score2", "score3"]
CAT_COLS = ["region", "plan", "channel"]
MIXED_COLS = NUM_COLS + CAT_COLS
REGIONS = ["north", "south", "east", "west", "centre"]
PLANS = ["basic", "plus", "pro"]
CHANNELS = ["web", "shop", "phone", "partner"]


def mixed_set():
    """Numeric and categorical columns with missing values; unknown regions in the test part."""
    rng = np.random.default_rng(2024)
    n = N_TRAIN + N_TEST
    age = np.round(rng.uniform(18, 80, n))                 # never missing (passthrough column)
    income = np.exp(rng.normal(10.5, 0.6, n))
    s = rng.normal(size=(n, 3)) * [1.0, 3.0, 0.2] + [0.0, 10.0, -1.0]
    region = rng.choice(REGIONS, n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    plan = rng.choice(PLANS, n, p=[0.5, 0.3, 0.2])
    channel = rng.choice(CHANNELS, n)
    reg_eff = dict(zip(REGIONS, [0.5, -0.3, 0.1, -0.6, 0.9]))
    plan_eff = dict(zip(PLANS, [-0.8, 0.2, 1.1]))
    latent = (0.03 * (age - 45) + 0.8 * (np.log(income) - 10.5) + 0.9 * s[:, 0] - 0.25 * (s[:, 1] - 10)
              + 2.0 * (s[:, 2] + 1) + np.array([reg_eff[r] for r in region])
              + np.array([plan_eff[p] for p in plan]) + rng.normal(0, 0.7, n))
    y_bin = np.where(latent > np.median(latent), "yes", "no")
    q1, q2 = np.quantile(latent, [1 / 3, 2 / 3])
    y_multi = np.where(latent < q1, "bronze", np.where(latent < q2, "silver", "gold"))
    y_reg = 50 + 12 * latent + rng.normal(0, 2, n)

    X = np.empty((n, len(MIXED_COLS)), dtype=object)
    X[:, 0] = age
    X[:, 1] = income
    X[:, 2:5] = s
    X[:, 5] = region
    X[:, 6] = plan
    X[:, 7] = channel
    # missing values: numbers and categories, in training and test rows
    for j, rate in [(1, 0.08), (2, 0.05), (3, 0.10), (4, 0.05), (5, 0.07), (6, 0.06), (7, 0.04)]:
        X[rng.random(n) < rate, j] = np.nan
    # unknown regions (handle_unknown="ignore") in the test rows only
    test_rows = np.arange(N_TRAIN, n)
    X[test_rows[rng.random(N_TEST) < 0.03], 5] = "atlantis"
    return X, {"bin": y_bin, "multi": y_multi, "reg": y_reg}


def mixed_jsonb(row, rng):
    """A test row as jsonb by feature name; a missing value is an absent key or a null."""
    doc = {}
    for name, v in zip(MIXED_COLS, row):
        if isinstance(v, float) and math.isnan(v):
            if rng.random() < 0.5:
                doc[name] = None
            continue
        doc[name] = float(v) if name in NUM_COLS else str(v)
    return json.dumps(doc)


def add_boundary_rows(X_test, tree_models, rng, n_rows):
    """Overwrite the last n_rows test rows: one feature set at or next to a split threshold of one
    of the trees (the threshold itself, its float64 neighbours, its float32 roundings and
    neighbours, and the float64 midpoint of two float32 values, which rounds half to even)."""
    X = X_test.copy()
    trees = [[e.tree_ for e in np.ravel(m.estimators_)] if hasattr(m, "estimators_") else [m.tree_]
             for m in tree_models]
    for r in range(len(X) - n_rows, len(X)):
        model_trees = trees[rng.integers(len(trees))]          # each model gets its share of the rows
        t = model_trees[rng.integers(len(model_trees))]
        internal = np.flatnonzero(t.children_left != -1)
        node = internal[rng.integers(len(internal))]
        f, thr = t.feature[node], t.threshold[node]
        f32 = np.float32(thr)
        up32 = np.nextafter(f32, np.float32(np.inf))
        down32 = np.nextafter(f32, np.float32(-np.inf))
        candidates = [thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf), float(f32), float(up32),
                      float(down32), (float(f32) + float(up32)) / 2, (float(f32) + float(down32)) / 2]
        X[r, f] = candidates[rng.integers(len(candidates))]
    return X


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

def numeric_models():
    mlp = dict(hidden_layer_sizes=(32, 16), max_iter=200, random_state=0)
    return {
        "bin": [
            ("sk_logreg_binary", LogisticRegression(max_iter=1000)),
            ("sk_logreg_binary_multinomial", LogisticRegression(multi_class="multinomial", max_iter=1000)),
            ("sk_mlp_binary", MLPClassifier(activation="relu", **mlp)),
            ("sk_tree_binary", DecisionTreeClassifier(max_depth=6, random_state=0)),
            ("sk_rf_binary", RandomForestClassifier(n_estimators=60, max_depth=6, random_state=0)),
            ("sk_gb_binary", GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)),
        ],
        "multi": [
            ("sk_logreg_multi", LogisticRegression(max_iter=1000)),
            ("sk_mlp_multi", MLPClassifier(activation="tanh", **mlp)),
            ("sk_tree_multi", DecisionTreeClassifier(max_depth=8, random_state=0)),
            ("sk_rf_multi", RandomForestClassifier(n_estimators=60, max_depth=6, random_state=0)),
            ("sk_gb_multi", GradientBoostingClassifier(n_estimators=50, max_depth=3, learning_rate=0.2,
                                                       random_state=0)),
        ],
        "reg": [
            ("sk_linreg", LinearRegression()),
            ("sk_ridge", Ridge(alpha=3.0)),
            ("sk_mlp_reg", MLPRegressor(activation="logistic", learning_rate_init=0.01, **mlp)),
            ("sk_tree_reg", DecisionTreeRegressor(max_depth=6, random_state=0)),
            ("sk_rf_reg", RandomForestRegressor(n_estimators=60, max_depth=6, random_state=0)),
            ("sk_gb_reg", GradientBoostingRegressor(n_estimators=100, max_depth=4, random_state=0)),
        ],
    }


def idx(names):
    return [MIXED_COLS.index(n) for n in names]


def pipeline_models():
    """(name, target, pipeline, raw input columns, jsonb keys to drop)."""
    num = ["income", "score1", "score2", "score3"]
    cats = ["region", "plan", "channel"]
    return [
        # the usual shape: (impute, scale) numbers, (impute, one-hot) categories, age passed through
        ("sk_pipe_logreg", "bin", Pipeline([
            ("prep", ColumnTransformer([
                ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                 idx(num)),
                ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                  ("onehot", OneHotEncoder(handle_unknown="ignore"))]), idx(cats)),
            ], remainder="passthrough")),
            ("model", LogisticRegression(max_iter=2000))]), MIXED_COLS, []),
        # categories first, a constant imputation, handle_unknown="error" on one column, channel dropped
        ("sk_pipe_gb_multi", "multi", Pipeline([
            ("prep", ColumnTransformer([
                ("plan", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                                   ("onehot", OneHotEncoder(handle_unknown="error", sparse_output=False))]),
                 idx(["plan"])),
                ("num", Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())]),
                 idx(NUM_COLS)),
                ("region", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                                     ("onehot", OneHotEncoder(handle_unknown="ignore"))]), idx(["region"])),
            ])),
            ("model", GradientBoostingClassifier(n_estimators=40, max_depth=3, learning_rate=0.2,
                                                 random_state=0))]), MIXED_COLS, ["channel"]),
        ("sk_pipe_mlp_reg", "reg", Pipeline([
            ("prep", ColumnTransformer([
                ("num", Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())]),
                 idx(NUM_COLS)),
                ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                  ("onehot", OneHotEncoder(handle_unknown="ignore"))]), idx(cats)),
            ])),
            ("model", MLPRegressor(hidden_layer_sizes=(32, 16), learning_rate_init=0.01, max_iter=200,
                                   random_state=0))]), MIXED_COLS, []),
        # a scaler after the ColumnTransformer, over the one-hot columns too, then a forest
        ("sk_pipe_rf_multi", "multi", Pipeline([
            ("prep", ColumnTransformer([
                ("num", SimpleImputer(strategy="median"), idx(NUM_COLS)),
                ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                  ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
                 idx(cats)),
            ])),
            ("scale", StandardScaler()),
            ("model", RandomForestClassifier(n_estimators=50, max_depth=6, random_state=0))]),
         MIXED_COLS, []),
        # numbers only: impute and scale the whole input
        ("sk_pipe_ridge", "reg", Pipeline([
            ("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler()),
            ("model", Ridge(alpha=1.0))]), NUM_COLS, ["region", "plan", "channel"]),
    ]


def check_refusals():
    """What the format cannot express exactly must be refused by the exporter, not approximated."""
    X, y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                               random_state=0)
    Xc = np.empty((300, 2), dtype=object)
    Xc[:, 0] = X[:, 0]
    Xc[:, 1] = np.where(X[:, 1] > 0, "a", "b")
    onehot = lambda enc: Pipeline([  # noqa: E731
        ("prep", ColumnTransformer([("c", enc, [1]), ("n", "passthrough", [0])])), ("m", LinearRegression())])
    cases = {
        "one-vs-rest multiclass LogisticRegression": LogisticRegression(multi_class="ovr").fit(X, y),
        "OneHotEncoder(drop='first')": onehot(OneHotEncoder(drop="first")).fit(Xc, X[:, 2]),
        "imputed category the encoder never saw": onehot(Pipeline([
            ("i", SimpleImputer(strategy="constant", fill_value="zz")),
            ("e", OneHotEncoder(handle_unknown="ignore"))])).fit(Xc, X[:, 2]),
        "imputer after scaler": Pipeline([("s", StandardScaler()), ("i", SimpleImputer()),
                                          ("m", LinearRegression())]).fit(X, X[:, 0]),
        "exponential loss": GradientBoostingClassifier(loss="exponential", n_estimators=2).fit(X, y > 0),
    }
    for what, model in cases.items():
        try:
            sklearn_to_mlops.export(model)
        except NotImplementedError:
            continue
        raise SystemExit("the exporter did not refuse: %s" % what)
    print("exporter refuses what it cannot represent exactly (%d cases)" % len(cases))


def expected_outputs(model, X, task):
    out = {}
    if task == "regression":
        out["value"] = [float(v) for v in model.predict(X)]
    else:
        proba = model.predict_proba(X)
        out["proba"] = [[float(v) for v in row] for row in proba]
        out["class"] = [sklearn_to_mlops.label_text(c) for c in model.predict(X)]
        if task == "binary":
            out["value"] = [float(row[1]) for row in proba]
    return out


def prepare(work):
    warnings.simplefilter("ignore", ConvergenceWarning)
    t0 = time.time()
    manifest = []
    artifacts = []
    rng = np.random.default_rng(7)
    check_refusals()

    for set_name, (X, y) in numeric_sets().items():
        X_train, y_train, X_test = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:]
        fitted = []
        for name, est in numeric_models()[set_name]:
            est.fit(X_train, y_train)
            fitted.append((name, est))
        trees = [m for _, m in fitted if hasattr(m, "tree_") or hasattr(m, "estimators_")]
        X_test = add_boundary_rows(X_test, trees, rng, 2000)
        names = ["f%d" % j for j in range(X.shape[1])]
        with open(os.path.join(work, "features_%s.copy" % set_name), "w") as f:
            for i, row in enumerate(X_test):
                f.write("%d\t%s\t\\N\n" % (i, pg_array(row)))
        for name, est in fitted:
            doc = sklearn_to_mlops.export(est, feature_names=names)
            task = doc["task"]
            artifacts.append((name, sklearn_to_mlops.dumps(doc)))
            with open(os.path.join(work, "expected_%s.json" % name), "w") as f:
                json.dump(expected_outputs(est, X_test, task), f)
            manifest.append((name, set_name, task, "array", "{}"))

    X, targets = mixed_set()
    X_train, X_test = X[:N_TRAIN], X[N_TRAIN:]
    with open(os.path.join(work, "features_mixed.copy"), "w") as f:
        for i, row in enumerate(X_test):
            f.write("%d\t\\N\t%s\n" % (i, copy_text(mixed_jsonb(row, rng))))
    for name, target, pipe, cols, drop in pipeline_models():
        c = idx(cols)
        pipe.fit(X_train[:, c], targets[target][:N_TRAIN])
        doc = sklearn_to_mlops.export(pipe, feature_names=cols)
        artifacts.append((name, sklearn_to_mlops.dumps(doc)))
        with open(os.path.join(work, "expected_%s.json" % name), "w") as f:
            json.dump(expected_outputs(pipe, X_test[:, c], doc["task"]), f)
        manifest.append((name, "mixed", doc["task"], "jsonb", "{" + ",".join(drop) + "}"))

    with open(os.path.join(work, "artifacts.copy"), "w") as f:
        for name, text in artifacts:
            f.write("%s\t%s\n" % (name, copy_text(text)))
    with open(os.path.join(work, "manifest.tsv"), "w") as f:
        for m in manifest:
            f.write("\t".join(m) + "\n")
    print("prepared %d models (%d kB of JSON) in %.1f s" % (
        len(manifest), sum(len(t) for _, t in artifacts) // 1024, time.time() - t0))


# --------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------

def parse_float(s):
    return float({"Infinity": "inf", "-Infinity": "-inf"}.get(s, s))


def parse_array(s):
    if s == "\\N":
        return None
    return [parse_float(v) for v in s.strip("{}").split(",")]


class Stats:
    def __init__(self):
        self.n = 0
        self.exact = 0
        self.max_rel = 0.0
        self.max_abs = 0.0
        self.worst = None
        self.bad = 0

    def add(self, a, b, where):
        self.n += 1
        if a == b:
            self.exact += 1
            return
        err = abs(a - b) if math.isfinite(a) else math.inf
        rel = err / max(abs(b), FLOOR)
        self.max_abs = max(self.max_abs, err)
        if rel >= self.max_rel:
            self.max_rel = rel
            self.worst = (where, a, b)
        if not rel <= REL_TOL:
            self.bad += 1


def compare(work):
    failures = []
    print("%-30s %-10s %6s %12s %12s %9s  %s" % ("model", "task", "rows", "max rel err", "max abs err",
                                                "identical", "classes"))
    with open(os.path.join(work, "manifest.tsv")) as f:
        manifest = [line.rstrip("\n").split("\t") for line in f]
    for name, _set, task, _input, _drop in manifest:
        with open(os.path.join(work, "expected_%s.json" % name)) as f:
            exp = json.load(f)
        with open(os.path.join(work, "actual_%s.copy" % name)) as f:
            rows = [line.rstrip("\n").split("\t") for line in f]
        n_exp = len(exp.get("value") or exp.get("proba"))
        problems = []
        if len(rows) != n_exp:
            problems.append("%d rows scored, %d expected" % (len(rows), n_exp))
        st = Stats()
        class_bad = []
        score_bad = 0
        for i, (rid, value, proba, cls, same) in enumerate(rows[:n_exp]):
            if int(rid) != i:
                problems.append("row %d has id %s" % (i, rid))
                break
            if same != "t":
                score_bad += 1
            if "value" in exp:
                st.add(parse_float(value), exp["value"][i], "row %d value" % i)
            if "proba" in exp:
                p = parse_array(proba)
                if p is None or len(p) != len(exp["proba"][i]):
                    problems.append("row %d: predict_proba gave %s, expected %d values"
                                    % (i, proba, len(exp["proba"][i])))
                    break
                for k, (a, b) in enumerate(zip(p, exp["proba"][i])):
                    st.add(a, b, "row %d proba[%d]" % (i, k))
                if cls != exp["class"][i]:
                    class_bad.append((i, cls, exp["class"][i], exp["proba"][i]))
        if st.bad:
            where, a, b = st.worst
            problems.append("%d values outside 1e-9 relative (floor 1e-12); worst at %s: mlops %r, sklearn %r"
                            % (st.bad, where, a, b))
        if class_bad:
            i, got, want, p = class_bad[0]
            problems.append("%d classes differ; first at row %d: mlops %r, sklearn %r (sklearn proba %r)"
                            % (len(class_bad), i, got, want, p))
        if score_bad:
            problems.append("%d rows where score*(compile_model(artifact)) differs from predict*()" % score_bad)
        classes = "n/a" if "class" not in exp else ("equal" if not class_bad else "%d differ" % len(class_bad))
        print("%-30s %-10s %6d %12.3g %12.3g %8.2f%%  %s" % (
            name, task, len(rows), st.max_rel, st.max_abs, 100.0 * st.exact / max(st.n, 1), classes))
        for p in problems:
            failures.append("%s: %s" % (name, p))
    print("(rel err = |mlops - sklearn| / max(|sklearn|, 1e-3), per value; identical = bit-identical values)")
    if failures:
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("prepare", "compare"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    else:
        sys.exit(compare(sys.argv[2]))
