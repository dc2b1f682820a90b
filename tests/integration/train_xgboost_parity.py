"""Oracle of train_xgboost_parity.sh: XGBoost's Python package (Debian's 1.7).

prepare DIR      writes DIR/rows.copy: id, x (float, 10% NULL), region (text, 5% NULL),
                 z (integer-valued float), y_reg, y_bin (text), y_mul (text), held_out (every
                 fifth row, the split column mlops.train is given); 30,000 rows, so
                 that mlops.train feeds XGBoost several chunks (TRAIN_CHUNK_ROWS 8192).
check DIR TASK ROUNDS HYPERPARAMS NTHREAD
                 reads DIR/TASK.json (the artifact mlops.train registered), DIR/TASK.train (the
                 ids of its training rows) and DIR/TASK.pred (mlops' predictions for every row),
                 trains the same booster in Python (xgboost.DMatrix of the same rows, encoded as the
                 artifact's own signature says: one-hot columns in its category order, NaN for a
                 missing value, every column of a missing category NaN; labels the class index in
                 its mlops_classes), and checks that both boosters' JSON is the same (attributes
                 aside: Python's train adds best_iteration) and that every prediction of mlops is
                 within 1e-6 of Booster.predict.
"""
import json
import sys

import numpy as np

N = 30000
CATS = ["north", "south", "east", "west"]


def data():
    rng = np.random.default_rng(11)
    x = rng.normal(size=N)
    region = rng.integers(0, len(CATS), size=N)
    z = rng.integers(0, 40, size=N).astype(float)
    y = 2 * x + region + z / 10 + rng.normal(size=N) * 0.3
    x_missing = rng.random(N) < 0.10
    region_missing = rng.random(N) < 0.05
    y[x_missing] = region[x_missing]
    y_bin = np.where(y > 2.5, "yes", "no")
    y_mul = np.array(["low", "mid", "high", "top"])[np.digitize(y, [1, 2.5, 4])]
    return x, x_missing, region, region_missing, z, y, y_bin, y_mul


def prepare(work):
    x, xm, region, rm, z, y, y_bin, y_mul = data()
    with open(f"{work}/rows.copy", "w") as f:
        for i in range(N):
            f.write("\t".join([str(i), "\\N" if xm[i] else repr(float(x[i])), "\\N" if rm[i] else CATS[region[i]],
                               repr(float(z[i])), repr(float(y[i])), y_bin[i], y_mul[i],
                               "t" if i % 5 == 0 else "f"]) + "\n")


def check(work, task, rounds, hyperparams, nthread):
    import xgboost as xgb

    x, xm, region, rm, z, y, y_bin, y_mul = data()
    artifact = json.load(open(f"{work}/{task}.json"))
    attrs = artifact["learner"]["attributes"]
    features = json.loads(attrs["mlops_features"])
    cols, names = [], []
    for feat in features:
        if feat["name"] == "x":
            cols.append(np.where(xm, np.nan, x)); names.append("x")
        elif feat["name"] == "z":
            cols.append(z); names.append("z")
        else:
            for c in feat["categories"]:
                cols.append(np.where(rm, np.nan, (np.array(CATS)[region] == c).astype(float)))
                names.append(f"region={c}")
    X = np.column_stack(cols)
    if task == "regression":
        label = y
    else:
        classes = json.loads(attrs["mlops_classes"])
        target = y_bin if task == "binary" else y_mul
        label = np.array([classes.index(t) for t in target], dtype=float)
    train_ids = np.loadtxt(f"{work}/{task}.train", dtype=int, ndmin=1)
    params = {k: v for k, v in json.loads(hyperparams).items() if k != "num_boost_round"}
    params.update(tree_method="hist", nthread=int(nthread))
    params.setdefault("objective", {"regression": "reg:squarederror", "binary": "binary:logistic",
                                    "multiclass": "multi:softprob"}[task])
    if task == "multiclass":
        params["num_class"] = len(classes)
    booster = xgb.train(params, xgb.DMatrix(X[train_ids], label=label[train_ids], feature_names=names), int(rounds))

    ours = dict(artifact); ours["learner"] = dict(artifact["learner"], attributes={})
    theirs = json.loads(bytes(booster.save_raw("json")))
    theirs["learner"]["attributes"] = {}
    if ours != theirs:
        sys.exit(f"{task}: the booster mlops.train saved is not the one xgboost.train gives on the same rows")

    expected = booster.predict(xgb.DMatrix(X, feature_names=names))
    got = {}
    for line in open(f"{work}/{task}.pred"):
        i, p = line.rstrip("\n").split("\t")
        got[int(i)] = [float(v) for v in p.strip("{}").split(",")]
    if len(got) != N:
        sys.exit(f"{task}: {len(got)} predictions for {N} rows")
    worst = max(float(np.max(np.abs(np.array(got[i]) - np.atleast_1d(expected[i])))) for i in range(N))
    if not worst <= 1e-6:
        sys.exit(f"{task}: a prediction differs from Booster.predict by {worst:g}")
    print(f"{task}: booster identical, {N} predictions within {worst:.2g} of Booster.predict")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    else:
        check(*sys.argv[2:])
