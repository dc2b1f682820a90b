#!/usr/bin/python3
"""Helper of metrics_parity.sh: sklearn.metrics 1.2 as the oracle of mlops's metric aggregates.

  metrics_parity.py       against the database the environment names (PGHOST, PGPORT, PGUSER,
                          PGDATABASE, as tests/lib/testdb.sh leaves them); prints the largest
                          error per metric and every failure, exits 1 on any failure

Cases (fixed seeds) are loaded into one table by COPY, a case per group; every aggregate is
computed per case with GROUP BY, once serially and once in a forced parallel plan, and once
more over one case of 1,000,000 rows without GROUP BY in both plans.  The same data, rows with
a NULL left out, go to sklearn.  Tolerance: |got - want| <= 1e-9 * |want|, or <= 1e-15 for
values near 0 (an R2 of 0, a precision of 0).  A metric sklearn cannot compute (ROC AUC of one
class) must be NULL.

Must run under Debian's /usr/bin/python3 (python3-sklearn, python3-numpy, python3-psycopg2).
"""
import math
import sys
import warnings
from io import StringIO

import numpy as np
import psycopg2
from sklearn import metrics as skm

sys.dont_write_bytecode = True
warnings.simplefilter("ignore")

TOL = 1e-9
FLOOR = 1e-15

max_err = {}
checked = {}
failures = []


def check(metric, where, got, want):
    checked[metric] = checked.get(metric, 0) + 1
    if want is None or got is None:
        if want is not None or got is not None:
            failures.append(f"{where} {metric}: got {got!r}, sklearn {want!r}")
        return
    err = abs(got - want)
    rel = err / abs(want) if want != 0 else err
    if metric not in max_err or rel > max_err[metric][0]:
        max_err[metric] = (rel, where)
    if not (err <= TOL * abs(want) or err <= FLOOR):
        failures.append(f"{where} {metric}: got {got!r}, sklearn {want!r} (relative error {rel:.3g})")


# --------------------------------------------------------------------------
# the cases: predicted/actual (regression), score/probability/label, booleans
# predicted, text labels of 3 classes and a probability row of 3 classes
# --------------------------------------------------------------------------

def make_case(rng, n, kind):
    actual = rng.normal(10, 3, n)
    pred = actual + rng.normal(0, 2, n)
    if kind == "offset":            # large values, small spread: R2's SST needs care
        actual = 1e6 + rng.normal(0, 1e-3, n)
        pred = actual + rng.normal(0, 5e-4, n)
    if kind == "constant":          # a constant actual: R2 is 1 or 0
        actual = np.full(n, 3.0)
    if kind == "grid":              # many ties
        actual = np.round(actual)
        pred = np.round(pred)
    p_pos = {"imbalanced": 0.01, "one_class": 0.0}.get(kind, 0.4)
    label = (rng.random(n) < p_pos).astype(int)
    if kind == "one_class" and n > 1:
        label[:] = 1
    score = label * 0.8 + rng.normal(0, 1, n)
    if kind in ("grid", "ties"):
        score = np.round(score, 1)  # ties across classes
    prob = 1 / (1 + np.exp(-score))
    if kind == "clipped":           # probabilities of exactly 0 and 1: clipped to eps
        prob[: n // 4] = np.round(prob[: n // 4])
    predicted = score > 0.3
    if kind == "none_predicted":
        predicted[:] = False
    classes = np.array(["a", "b", "c"])
    a3 = classes[rng.integers(0, 3, n)]
    p3 = np.where(rng.random(n) < 0.6, a3, classes[rng.integers(0, 3, n)])
    proba3 = rng.dirichlet([1, 1, 1], n)
    if kind == "clipped":
        proba3[: n // 4] = np.eye(3)[rng.integers(0, 3, n // 4)]
    y3 = rng.integers(0, 3, n)
    return dict(pred=pred, actual=actual, score=score, prob=prob, label=label,
                predicted=predicted, p3=p3, a3=a3, proba3=proba3, y3=y3)


def oracle(c):
    y, s, pr = c["label"], c["score"], c["prob"]
    # (the text forms with a positive class: text_positive())
    out = {
        "rmse": skm.mean_squared_error(c["actual"], c["pred"], squared=False),
        "mae": skm.mean_absolute_error(c["actual"], c["pred"]),
        "r2": skm.r2_score(c["actual"], c["pred"]),
        "accuracy": skm.accuracy_score(c["label"].astype(bool), c["predicted"]),
        "accuracy_text": skm.accuracy_score(c["a3"], c["p3"]),
        "precision": skm.precision_score(y.astype(bool), c["predicted"], zero_division=0),
        "recall": skm.recall_score(y.astype(bool), c["predicted"], zero_division=0),
        "f1": skm.f1_score(y.astype(bool), c["predicted"], zero_division=0),
        "auc": skm.roc_auc_score(y, s) if len(set(y)) == 2 else None,
        "log_loss": skm.log_loss(y, pr, labels=[0, 1]),
        "log_loss_multi": skm.log_loss(c["y3"], c["proba3"], labels=[0, 1, 2]),
    }
    return out


def text_positive(metric, a3, p3):
    # sklearn's average='binary' wants two labels; a one-vs-rest view of 'b' is the same thing
    fn = {"precision_text": skm.precision_score, "recall_text": skm.recall_score, "f1_text": skm.f1_score}[metric]
    return fn(a3 == "b", p3 == "b", zero_division=0)


AGGS = """
    mlops.rmse(pred, actual) AS rmse, mlops.mae(pred, actual) AS mae, mlops.r2_score(pred, actual) AS r2,
    mlops.accuracy(predicted, label = 1) AS accuracy, mlops.accuracy(p3, a3) AS accuracy_text,
    mlops.precision_score(predicted, label = 1) AS precision, mlops.recall_score(predicted, label = 1) AS recall,
    mlops.f1_score(predicted, label = 1) AS f1,
    mlops.precision_score(p3, a3, 'b') AS precision_text, mlops.recall_score(p3, a3, 'b') AS recall_text,
    mlops.f1_score(p3, a3, 'b') AS f1_text,
    mlops.roc_auc(score, label) AS auc, mlops.roc_auc(score, label = 1) AS auc_bool,
    mlops.log_loss(prob, label) AS log_loss, mlops.log_loss(prob, label = 1) AS log_loss_bool,
    mlops.log_loss(proba3, y3) AS log_loss_multi
"""
METRICS = ["rmse", "mae", "r2", "accuracy", "accuracy_text", "precision", "recall", "f1",
           "precision_text", "recall_text", "f1_text", "auc", "auc_bool", "log_loss", "log_loss_bool",
           "log_loss_multi"]


def fmt(v):
    return "\\N" if v is None else repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)


def load(cur, table, cases):
    cur.execute(f"""CREATE TABLE {table} (case_id int, pred float8, actual float8, score float8, prob float8,
                    label int, predicted boolean, p3 text, a3 text, proba3 float8[], y3 int)""")
    buf = StringIO()
    for cid, c in cases.items():
        d = c["data"]
        for i in range(len(d["pred"])):
            row = [cid, d["pred"][i], d["actual"][i], d["score"][i], d["prob"][i], int(d["label"][i]),
                   "t" if d["predicted"][i] else "f", d["p3"][i], d["a3"][i],
                   "{" + ",".join(repr(float(x)) for x in d["proba3"][i]) + "}", int(d["y3"][i])]
            for col in c["null_rows"].get(i, ()):
                row[col] = None
            buf.write("\t".join(fmt(v) for v in row) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} FROM STDIN", buf)
    cur.execute(f"ANALYZE {table}")


# Rows appended with NULLs placed so that each one has a NULL in an argument of every
# aggregate (columns: 1 pred, 2 actual, 3 score, 4 prob, 5 label, 6 predicted, 7 p3, 8 a3,
# 9 proba3, 10 y3): all of them must be skipped, by every aggregate.
NULL_PATTERNS = [{1, 5, 7, 10}, {2, 5, 8, 9}, {1, 2, 3, 4, 6, 7, 9}, set(range(1, 11))]


def make_full(rng, n, kind, name):
    base = make_case(rng, n, kind)
    if n == 1:
        base["y3"][:] = 0
    k = len(NULL_PATTERNS)
    data = {key: np.concatenate([v, v[:1].repeat(k, axis=0)]) for key, v in base.items()}
    want = oracle(base)
    for m in ("precision_text", "recall_text", "f1_text"):
        want[m] = text_positive(m, base["a3"], base["p3"])
    # sklearn's r2 of one row is NaN (with a warning); one actual value is a constant
    # actual: R2 1 when predicted exactly, else 0
    if n < 2:
        want["r2"] = 1.0 if base["pred"][0] == base["actual"][0] else 0.0
    return dict(name=name, n=n, data=data, want=want,
                null_rows={n + j: pat for j, pat in enumerate(NULL_PATTERNS)})


def compare(cur, table, cases, where, parallel, group=True):
    if parallel:
        cur.execute("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                    "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2")
    else:
        cur.execute("SET max_parallel_workers_per_gather = 0")
    sql = f"SELECT case_id, {AGGS} FROM {table} GROUP BY case_id ORDER BY case_id" if group \
        else f"SELECT min(case_id), {AGGS} FROM {table}"
    cur.execute("EXPLAIN " + sql)
    plan = "\n".join(r[0] for r in cur.fetchall())
    if parallel and "Partial" not in plan:
        failures.append(f"{where}: no partial aggregation in the forced parallel plan:\n{plan}")
    cur.execute(sql)
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        got = dict(zip(cols, row))
        cid = got["case_id"] if group else 1
        c = cases[cid]
        want = c["want"]
        for m in METRICS:
            w = want["auc" if m == "auc_bool" else "log_loss" if m == "log_loss_bool" else m]
            check(m, f"{where} case {cid} ({c['name']}, n={c['n']})", got[m], w)


def main():
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    rng = np.random.default_rng(20260601)
    shapes = [("normal", 1), ("normal", 2), ("normal", 7), ("ties", 50), ("normal", 1000),
              ("imbalanced", 20000), ("grid", 5000), ("offset", 3000), ("constant", 200),
              ("clipped", 4000), ("none_predicted", 300), ("one_class", 100), ("one_class", 1),
              ("ties", 100000), ("normal", 100000)]
    cases = {cid: make_full(rng, n, kind, kind) for cid, (kind, n) in enumerate(shapes, start=1)}
    load(cur, "cases", cases)
    compare(cur, "cases", cases, "serial", parallel=False)
    compare(cur, "cases", cases, "parallel", parallel=True)

    # one case of 1,000,000 rows, whole table, serial and parallel
    bc = {1: make_full(rng, 1_000_000, "ties", "1M ties")}
    load(cur, "big", bc)
    compare(cur, "big", bc, "1M serial", parallel=False, group=False)
    compare(cur, "big", bc, "1M parallel", parallel=True, group=False)

    for m in METRICS:
        if m in max_err:
            e, where = max_err[m]
            print(f"  {m:15s} {checked[m]:3d} checks, largest relative error {e:.2e} ({where})")
    if failures:
        print(f"{len(failures)} failures:")
        for f in failures[:50]:
            print("  FAIL " + f)
        sys.exit(1)
    print("metrics agree with sklearn.metrics within 1e-9")


if __name__ == "__main__":
    main()
