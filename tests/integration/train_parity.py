#!/usr/bin/python3
"""Oracle of train_parity.sh: mlops.train against scikit-learn (Debian's python3-sklearn 1.2).

Connects with psycopg2 to the database libpq's environment names (PGHOST, PGPORT, PGDATABASE,
PGUSER: testdb.sh's fresh database), generates the data with a fixed numpy seed, loads it, trains
every case through mlops.train with split_column => 'held_out' (so that the training rows are
known), fits the same sklearn Pipeline on the same training rows and compares:

  preprocessing  the registered artifact's categories, imputation values and scaler against the
                 fitted SimpleImputer / OneHotEncoder / StandardScaler (1e-9 relative);
  coefficients   each coefficient row with its intercept, as one vector v, against sklearn's:
                 max_i |ours_i - sklearn_i| / max_i |sklearn_i| <= 1e-6 ("relative to the vector's
                 largest entry"); with drop='first' sklearn has no column for the reference
                 category, which must be exactly 0 in ours; multinomial intercepts are only
                 determined up to a common shift, so sklearn's are centred (ours must sum to 0);
  optimality     for logistic regression, the gradient of sklearn's objective
                 C * sum(log loss) + 1/2 ||W||^2 at sklearn's solution and at ours (printed; ours
                 must be below 1e-6 * max(1, C * n): its gradient is a sum over n rows);
  predictions    mlops.predict / predict_proba of the held-out rows against the pipeline's
                 predict / predict_proba within 1e-6 (times max(1, |value|) for a regression),
                 and predict_class equal to the argmax of predict_proba;
  metrics        the run's logged metrics against sklearn.metrics computed on the registered
                 model's predictions of the held-out rows: |a - b| <= 1e-9 * max(1, |b|); and
                 train_rows / test_rows equal the split.

Plus once with the hash split: train_rows + test_rows equals the table's rows and test_rows / n
is within 4 standard deviations of test_size.  Prints one line per case; exits 1 on any failure
(after running every case).
"""
import io
import json
import math
import sys
import warnings

import numpy as np
import pandas as pd
import psycopg2

from sklearn import metrics as skm
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

N = 1600
NUM = ["a", "b", "c", "flag"]   # a: large scale, b: tiny scale, c: an integer column, flag: boolean
CAT = ["color", "size"]
FEATURES = NUM + CAT
COLORS = ["red", "green", "blue", "Yellow", "\u00e9t\u00e9"]    # byte order: Yellow blue green red été
SIZES = ["S", "M", "L"]

COEF_TOL = 1e-6
PRED_TOL = 1e-6
METRIC_TOL = 1e-9
PREP_TOL = 1e-9

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def make_data():
    rng = np.random.default_rng(20240611)
    a = rng.normal(5000, 1000, N)
    b = rng.normal(0, 0.01, N)
    c = rng.integers(0, 21, N)
    flag = rng.random(N) < 0.4
    color = rng.choice(len(COLORS), N, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    size = rng.choice(len(SIZES), N, p=[0.5, 0.3, 0.2])
    held_out = rng.random(N) < 0.25
    z = (0.8 * (a - 5000) / 1000 - 60 * b + 0.05 * (c - 10) + 0.7 * flag
         + np.array([0.0, 0.5, -0.6, 1.0, -0.3])[color] + np.array([0.0, 0.3, -0.4])[size])
    df = pd.DataFrame({
        "id": np.arange(N),
        "a": np.where(rng.random(N) < 0.10, np.nan, a),
        "b": np.where(rng.random(N) < 0.05, np.nan, b),
        "c": c,
        "flag": pd.array(flag, dtype="boolean"),
        "color": np.array(COLORS, dtype=object)[color],
        "size": np.array(SIZES, dtype=object)[size],
        "held_out": held_out,
    })
    df.loc[rng.random(N) < 0.05, "flag"] = pd.NA
    df.loc[rng.random(N) < 0.08, "color"] = None
    # a size seen only in held-out rows: encoded as all zeros (unknown), in both
    df.loc[held_out & (rng.random(N) < 0.05), "size"] = "XL"
    df["y_reg"] = 3 + 2.5 * z + rng.normal(0, 0.8, N)
    df["y_bin"] = np.where(z + rng.logistic(0, 1, N) > 0.2, "yes", "no")
    df["y_bool"] = z + rng.logistic(0, 1.5, N) > 0.5
    zi = z + rng.normal(0, 0.7, N)
    df["y_int"] = np.array([1, 2, 10])[np.digitize(zi, np.quantile(zi, [0.3, 0.65]))]
    zt = z + rng.normal(0, 0.6, N)
    df["y_text"] = np.array(["alpha", "beta", "Gamma", "delta", "epsilon"])[
        np.digitize(zt, np.quantile(zt, [0.2, 0.4, 0.6, 0.8]))]
    return df


def load(cur, df):
    cur.execute("""CREATE TABLE parity (id int PRIMARY KEY, a float8, b float8, c int, flag boolean, color text,
                                        size text, held_out boolean NOT NULL, y_reg float8, y_bin text,
                                        y_bool boolean, y_int int, y_text text)""")
    buf = io.StringIO()
    for r in df.itertuples(index=False):
        vals = []
        for v in r:
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                vals.append("\\N")
            elif isinstance(v, (bool, np.bool_)):
                vals.append("t" if v else "f")
            elif isinstance(v, (float, np.floating)):
                vals.append(repr(float(v)))
            else:
                vals.append(str(v))
        buf.write("\t".join(vals) + "\n")
    buf.seek(0)
    cur.copy_expert("COPY parity FROM STDIN", buf)


def sk_frame(df):
    """The features as sklearn sees them: numbers (booleans 0/1) with NaN, text with NaN."""
    x = df[FEATURES].copy()
    x["flag"] = x["flag"].astype("float64")     # pd.NA -> NaN
    x["c"] = x["c"].astype("float64")
    for col in CAT:
        x[col] = x[col].astype(object).where(x[col].notna(), np.nan)
    return x


# --------------------------------------------------------------------------
# the oracle
# --------------------------------------------------------------------------

def pipeline(estimator, drop, standardize=True):
    numeric = [("impute", SimpleImputer(strategy="mean"))]
    if standardize:
        numeric.append(("scale", StandardScaler()))
    categorical = [("impute", SimpleImputer(strategy="most_frequent")),
                   ("onehot", OneHotEncoder(handle_unknown="ignore", drop=drop, sparse_output=False))]
    pre = ColumnTransformer([("num", Pipeline(numeric), NUM), ("cat", Pipeline(categorical), CAT)])
    return Pipeline([("pre", pre), ("model", estimator)])


def oracle(algorithm, hp, classes):
    penalised = not (algorithm == "linear_regression" or hp.get("penalty") == "none")
    drop = None if penalised else "first"
    if algorithm == "linear_regression":
        est = LinearRegression()
    elif algorithm == "ridge":
        est = Ridge(alpha=hp.get("alpha", 1.0), solver="cholesky")
    elif len(classes) == 2:
        # lbfgs (the default) stops at its ftol before the optimum; Newton-Cholesky reaches it
        est = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000,
                                 C=hp.get("C", 1.0), penalty=None if not penalised else "l2")
    else:
        est = LogisticRegression(solver="newton-cg", multi_class="multinomial", tol=1e-12, max_iter=1000,
                                 C=hp.get("C", 1.0))
    return pipeline(est, drop, hp.get("standardize", True)), drop


def logistic_gradient(X, y_idx, W, b, C, penalised):
    """Gradient of C * sum(log loss) + 1/2 ||W||^2 (intercepts not penalised), W: K x p (K = 1 binary)."""
    eta = X @ W.T + b
    if W.shape[0] == 1:
        r = 1 / (1 + np.exp(-eta[:, 0])) - y_idx
        R = r[:, None]
    else:
        eta -= eta.max(axis=1, keepdims=True)
        P = np.exp(eta)
        P /= P.sum(axis=1, keepdims=True)
        R = P - np.eye(W.shape[0])[y_idx]
    gW = C * R.T @ X + (W if penalised else 0)
    gb = C * R.sum(axis=0)
    return max(np.max(np.abs(gW)), np.max(np.abs(gb)))


def rel_err(ours, theirs):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    scale = np.max(np.abs(theirs)) if theirs.size else 0
    return float(np.max(np.abs(ours - theirs)) / (scale if scale > 0 else 1)) if theirs.size else 0.0


# --------------------------------------------------------------------------
# one case
# --------------------------------------------------------------------------

def sort_classes(values):
    """Class labels as mlops sorts them: numbers numerically, text by its UTF-8 bytes."""
    u = sorted(set(values), key=lambda v: (v if not isinstance(v, str) else v.encode()))
    return u


def label_text(v):
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return str(v)


def run_case(cur, df, name, target, algorithm, hp):
    classify = algorithm == "logistic_regression"
    train = df[~df.held_out]
    test = df[df.held_out]
    X_train, X_test = sk_frame(train), sk_frame(test)
    y_train = train[target].to_numpy()
    y_test = test[target].to_numpy()

    cur.execute("""SELECT mlops.train(%s, 'parity', %s, features => %s, algorithm => %s, hyperparams => %s,
                                      split_column => 'held_out')""",
                (name, target, FEATURES, algorithm, json.dumps(hp)))
    version = cur.fetchone()[0]
    ref = f"{name}:{version}"
    cur.execute("""SELECT v.artifact, o.metrics FROM mlops.model_versions v
                     JOIN mlops.registered_models m USING (model_id) JOIN mlops.runs_overview o USING (run_id)
                    WHERE m.name = %s AND v.version = %s""", (name, version))
    artifact, logged = cur.fetchone()
    doc = json.loads(artifact)
    obj = "{" + ", ".join(f"'{f}', {f}" for f in FEATURES) + "}"
    features_json = f"jsonb_build_object({obj[1:-1]})"
    if classify:
        cur.execute(f"""SELECT id, mlops.predict_proba(%s, {features_json}), mlops.predict_class(%s, {features_json})
                          FROM parity WHERE held_out ORDER BY id""", (ref, ref))
    else:
        cur.execute(f"SELECT id, mlops.predict(%s, {features_json}), NULL FROM parity WHERE held_out ORDER BY id",
                    (ref,))
    rows = cur.fetchall()
    assert [r[0] for r in rows] == list(test.id), "held-out ids"

    notes = []
    with warnings.catch_warnings(record=True) as caught:
        # newton-cg's line search gives up at tol 1e-12 once rounding dominates: what it reached
        # is judged by the gradient at its solution, printed below
        warnings.simplefilter("always")
        classes = sort_classes(list(y_train)) if classify else None
        pipe, drop = oracle(algorithm, hp, classes or [])
        pipe.fit(X_train, y_train)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("sklearn warned that it did not converge")
    pre = pipe.named_steps["pre"]
    est = pipe.named_steps["model"]

    # preprocessing
    num_imp = pre.named_transformers_["num"].named_steps["impute"]
    cat_imp = pre.named_transformers_["cat"].named_steps["impute"]
    enc = pre.named_transformers_["cat"].named_steps["onehot"]
    feats = doc["features"]
    if [f["name"] for f in feats] != FEATURES:
        fail(f"{name}: features {[f['name'] for f in feats]}")
    for j, f in enumerate(feats[:len(NUM)]):
        if abs(f["impute"] - num_imp.statistics_[j]) > PREP_TOL * abs(num_imp.statistics_[j]):
            fail(f"{name}: impute of {f['name']} {f['impute']!r} vs {num_imp.statistics_[j]!r}")
    for j, f in enumerate(feats[len(NUM):]):
        if f["categories"] != list(enc.categories_[j]):
            fail(f"{name}: categories of {f['name']} {f['categories']} vs {list(enc.categories_[j])}")
        if f["impute"] != cat_imp.statistics_[j]:
            fail(f"{name}: impute of {f['name']} {f['impute']!r} vs {cat_imp.statistics_[j]!r}")
    ncat = [len(c) for c in enc.categories_]
    if hp.get("standardize", True):
        sc = pre.named_transformers_["num"].named_steps["scale"]
        center, scale = np.array(doc["scaler"]["center"]), np.array(doc["scaler"]["scale"])
        e = max(rel_err(center[:len(NUM)], sc.mean_), rel_err(scale[:len(NUM)], sc.scale_))
        if e > PREP_TOL or np.any(center[len(NUM):] != 0) or np.any(scale[len(NUM):] != 1):
            fail(f"{name}: scaler differs from StandardScaler ({e:.2g})")
    elif "scaler" in doc:
        fail(f"{name}: a scaler with standardize false")

    # coefficients: ours over every encoded column; sklearn's without the reference categories if dropped
    ours_coef = np.array(doc["model"]["coef"], float)
    ours_icpt = np.array(doc["model"]["intercept"], float)
    sk_coef = np.atleast_2d(est.coef_)
    sk_icpt = np.atleast_1d(est.intercept_).astype(float)
    if drop == "first":
        first = np.cumsum([0] + ncat[:-1]) + len(NUM)
        if np.any(ours_coef[:, first] != 0):
            fail(f"{name}: a reference category's coefficient is not 0")
        ours_coef_cmp = np.delete(ours_coef, first, axis=1)
    else:
        ours_coef_cmp = ours_coef
    if sk_coef.shape[0] > 1:
        if abs(ours_icpt.sum()) > 1e-9 * max(1, np.max(np.abs(ours_icpt))):
            fail(f"{name}: the multinomial intercepts sum to {ours_icpt.sum():g}, not 0")
        notes.append(f"sklearn's intercepts sum to {sk_icpt.sum():.1g}")
        sk_icpt = sk_icpt - sk_icpt.mean()
    if ours_coef_cmp.shape != sk_coef.shape:
        fail(f"{name}: coefficients of shape {ours_coef_cmp.shape}, sklearn's {sk_coef.shape}")
        return
    coef_err = max(rel_err(np.append(ours_coef_cmp[k], ours_icpt[k]), np.append(sk_coef[k], sk_icpt[k]))
                   for k in range(sk_coef.shape[0]))
    if not coef_err <= COEF_TOL:
        fail(f"{name}: coefficients differ from sklearn's by {coef_err:.3g} relative")

    # optimality of both solutions for sklearn's objective
    if classify:
        Xt = pre.transform(X_train)
        y_idx = np.searchsorted(est.classes_, y_train)
        C = hp.get("C", 1.0) if hp.get("penalty") != "none" else 1.0
        penalised = hp.get("penalty") != "none"
        g_sk = logistic_gradient(Xt, y_idx, sk_coef, sk_icpt, C, penalised)
        g_ours = logistic_gradient(Xt, y_idx, ours_coef_cmp, ours_icpt, C, penalised)
        notes.append(f"gradient at sklearn's {g_sk:.1e}, at ours {g_ours:.1e}")
        if not g_ours <= 1e-6 * max(1, C * len(y_train)):
            fail(f"{name}: our solution is not the optimum (gradient {g_ours:.3g})")

    # predictions of the held-out rows
    if classify:
        if [label_text(c) for c in est.classes_] != doc["classes"]:
            fail(f"{name}: classes {doc['classes']} vs sklearn's {list(est.classes_)}")
        proba = np.array([r[1] for r in rows], float)
        pred_err = float(np.max(np.abs(proba - pipe.predict_proba(X_test))))
        pred_class = [r[2] for r in rows]
        argmax = [doc["classes"][k] for k in np.argmax(proba, axis=1)]
        if pred_class != argmax:
            fail(f"{name}: predict_class is not the most probable class")
        sk_pred = [label_text(v) for v in pipe.predict(X_test)]
        n_diff = sum(a != b for a, b in zip(pred_class, sk_pred))
        if n_diff:
            fail(f"{name}: {n_diff} predicted classes differ from sklearn's predict")
    else:
        pred = np.array([r[1] for r in rows], float)
        skp = pipe.predict(X_test)
        pred_err = float(np.max(np.abs(pred - skp) / np.maximum(1, np.abs(skp))))
    if not pred_err <= PRED_TOL:
        fail(f"{name}: held-out predictions differ from the pipeline's by {pred_err:.3g}")

    # metrics: sklearn.metrics on the registered model's predictions of the held-out rows
    if classify:
        # class indices (the model's order), so that no metric re-sorts the labels its own way
        K = len(doc["classes"])
        actual = np.array([doc["classes"].index(label_text(v)) for v in y_test])
        predicted = np.array([doc["classes"].index(c) for c in pred_class])
        idx = list(range(K))
        if K == 2:
            expected = {
                "accuracy": skm.accuracy_score(actual, predicted),
                "precision": skm.precision_score(actual, predicted, pos_label=1, zero_division=0),
                "recall": skm.recall_score(actual, predicted, pos_label=1, zero_division=0),
                "f1": skm.f1_score(actual, predicted, pos_label=1, zero_division=0),
                "log_loss": skm.log_loss(actual, proba, labels=idx),
                "roc_auc": skm.roc_auc_score(actual, proba[:, 1]),
            }
        else:
            expected = {
                "accuracy": skm.accuracy_score(actual, predicted),
                "precision": skm.precision_score(actual, predicted, labels=idx, average="macro", zero_division=0),
                "recall": skm.recall_score(actual, predicted, labels=idx, average="macro", zero_division=0),
                "f1": skm.f1_score(actual, predicted, labels=idx, average="macro", zero_division=0),
                "log_loss": skm.log_loss(actual, proba, labels=idx),
                "roc_auc": skm.roc_auc_score(actual, proba, labels=idx, multi_class="ovr", average="macro"),
            }
    else:
        expected = {
            "rmse": skm.mean_squared_error(y_test, pred, squared=False),
            "mae": skm.mean_absolute_error(y_test, pred),
            "r2": skm.r2_score(y_test, pred),
        }
    expected["train_rows"] = len(train)
    expected["test_rows"] = len(test)
    metric_err = 0.0
    for k, v in expected.items():
        got = logged.get(k)
        if got is None or not abs(got - v) <= METRIC_TOL * max(1, abs(v)):
            fail(f"{name}: metric {k} logged {got!r}, sklearn.metrics {v!r}")
        else:
            metric_err = max(metric_err, abs(got - v) / max(1, abs(v)))
    extra = set(logged) - set(expected)
    if extra:
        fail(f"{name}: unexpected metrics logged: {sorted(extra)}")
    print(f"{name}: coef {coef_err:.1e} rel, predictions {pred_err:.1e}, metrics {metric_err:.1e}"
          + "".join("; " + n for n in notes))


def hash_split(cur, df, test_size=0.25):
    cur.execute("""SELECT mlops.train('parity_hash', 'parity', 'y_reg', features => %s, test_size => %s, seed => 42)""",
                (FEATURES, test_size))
    version = cur.fetchone()[0]
    cur.execute("""SELECT o.metrics FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
                     JOIN mlops.runs_overview o USING (run_id) WHERE m.name = 'parity_hash' AND v.version = %s""",
                (version,))
    m = cur.fetchone()[0]
    n = len(df)
    frac = m["test_rows"] / n
    sigma = math.sqrt(test_size * (1 - test_size) / n)
    if m["train_rows"] + m["test_rows"] != n:
        fail(f"hash split: {m['train_rows']} + {m['test_rows']} rows, the table has {n}")
    if not abs(frac - test_size) <= 4 * sigma:
        fail(f"hash split: {frac:.4f} of the rows held out, test_size {test_size} (sigma {sigma:.4f})")
    print(f"hash split: {m['train_rows']} + {m['test_rows']} = {n} rows, {frac:.4f} held out "
          f"(test_size {test_size}, {abs(frac - test_size) / sigma:.1f} sigma)")


CASES = [
    ("reg_ols", "y_reg", "linear_regression", {}),
    ("reg_ridge_0_1", "y_reg", "ridge", {"alpha": 0.1}),
    ("reg_ridge_10", "y_reg", "ridge", {"alpha": 10}),
    ("reg_ridge_10_raw", "y_reg", "ridge", {"alpha": 10, "standardize": False}),
    ("bin_c0_01", "y_bin", "logistic_regression", {"C": 0.01}),
    ("bin_c1", "y_bin", "logistic_regression", {"C": 1}),
    ("bin_c100", "y_bin", "logistic_regression", {"C": 100}),
    ("bin_none", "y_bin", "logistic_regression", {"penalty": "none"}),
    ("bool_c1", "y_bool", "logistic_regression", {"C": 1}),
    ("int3_c0_01", "y_int", "logistic_regression", {"C": 0.01}),
    ("int3_c1", "y_int", "logistic_regression", {"C": 1}),
    ("int3_c100", "y_int", "logistic_regression", {"C": 100}),
    ("text5_c1", "y_text", "logistic_regression", {"C": 1}),
]


def main():
    # the size seen only in held-out rows is meant to be unknown
    warnings.filterwarnings("ignore", message="Found unknown categories")
    df = make_data()
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    load(cur, df)
    for name, target, algorithm, hp in CASES:
        try:
            run_case(cur, df, "parity_" + name, target, algorithm, hp)
        except psycopg2.Error as e:
            fail(f"{name}: {e.pgcode}: {e.pgerror}")
    hash_split(cur, df)
    if failures:
        sys.exit(f"{len(failures)} failures")
    print("train_parity: ok")


if __name__ == "__main__":
    main()
