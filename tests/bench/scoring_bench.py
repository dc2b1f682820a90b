#!/usr/bin/python3
"""tests/bench/scoring_bench.py: the Python half of scoring_bench.sh.

Run with Debian's /usr/bin/python3 (python3-sklearn, python3-xgboost,
python3-psycopg2), not a
pyenv python3 from PATH.  Connects with libpq's environment (PGHOST, PGPORT,
PGUSER, PGDATABASE), as set by tests/lib/common.sh.

    train  WORKDIR   fit the logistic regression and the 100-tree GBM on a
                     sample of table t, export both to mlops.model/v1 JSON,
                     and the 100-tree XGBoost model (its own saved JSON);
                     register them (alias champion), pickle them into
                     bench_pickles for PL/Python, check mlops against sklearn
                     and XGBoost
    time   WORKDIR   the timed measurements, interleaved round by round;
                     writes WORKDIR/times.json
    report WORKDIR   the final table (reads times.json and memory.json)

Not a test: figures are printed, targets reported as met or not, and the
only failures are wrong results (a prediction or a sum that disagrees).
"""
import io
import json
import os
import pickle
import statistics
import sys
import time

import numpy as np
import psycopg2

N_FEATURES = 20
RUNS_FAST = int(os.environ.get("RUNS_FAST", "5"))
RUNS_SLOW = int(os.environ.get("RUNS_SLOW", "3"))
LR_TRAIN_ROWS = int(os.environ.get("LR_TRAIN_ROWS", "200000"))
GBM_TRAIN_ROWS = int(os.environ.get("GBM_TRAIN_ROWS", "30000"))
BATCH_ROWS = int(os.environ.get("BATCH_ROWS", "10000"))
XGB_ROUNDS, XGB_DEPTH = 100, 6
XGB_TOL = 1e-6          # XGBoost predicts in float32: mlops must be within 1e-6 of it per row


def log(msg):
    print("==> " + msg, file=sys.stderr, flush=True)


class ResultChecks:
    """A benchmark's result checks: recorded as the report makes them, printed
    at its end; one that failed makes the report exit with status 1."""

    def __init__(self, width):
        self.width, self.lines, self.failed = width, [], False

    def record(self, line, ok):
        self.failed |= not ok
        self.lines.append(line)

    def check(self, what, ok, detail):
        self.record("%-*s %s  (%s)" % (self.width, what, "ok" if ok else "FAIL", detail), ok)

    def finish(self):
        print()
        print("result checks:")
        for line in self.lines:
            print("  " + line)
        if self.failed:
            print("RESULT CHECK FAILED")
            sys.exit(1)


def run_command(doc, commands):
    """The command line of a benchmark's Python half: COMMAND WORKDIR, COMMAND
    one of commands (name -> function of WORKDIR); else the usage (doc)."""
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        print(doc, file=sys.stderr)
        sys.exit(2)
    commands[sys.argv[1]](sys.argv[2])


def connect():
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


# --------------------------------------------------------------------------
# Binary COPY: (id int4, x float8[20]) out, (id int4, p float8) in.
# Every row of t has the same layout (no NULLs, 20 elements), so the stream
# is one fixed-size record after a 19-byte header, with a 2-byte trailer; the
# constant fields are checked rather than assumed.

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
COPY_HEADER = COPY_SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
FLOAT8OID = 701

ROW_IN = np.dtype([
    ("nfields", ">i2"),
    ("id_len", ">i4"), ("id", ">i4"),
    ("x_len", ">i4"), ("ndim", ">i4"), ("hasnull", ">i4"), ("elemtype", ">u4"),
    ("dim", ">i4"), ("lbound", ">i4"),
    ("x", [("len", ">i4"), ("v", ">f8")], (N_FEATURES,)),
])
ROW_OUT = np.dtype([("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("p_len", ">i4"), ("p", ">f8")])


def parse_copy_binary(buf):
    """(ids int32[n], X float64[n, 20]) from COPY (SELECT id, x ...) TO STDOUT (FORMAT binary)."""
    mv = memoryview(buf)
    if bytes(mv[:11]) != COPY_SIGNATURE:
        raise ValueError("not a binary COPY stream")
    ext = int.from_bytes(mv[15:19], "big")
    start = 19 + ext
    if bytes(mv[-2:]) != COPY_TRAILER:
        raise ValueError("binary COPY stream without its trailer")
    body = mv[start:len(mv) - 2]
    if len(body) % ROW_IN.itemsize:
        raise ValueError("binary COPY rows are not all %d bytes (a NULL or a different array length?)"
                         % ROW_IN.itemsize)
    rows = np.frombuffer(body, dtype=ROW_IN)
    expect = {"nfields": 2, "id_len": 4, "x_len": 20 + 12 * N_FEATURES, "ndim": 1, "hasnull": 0,
              "elemtype": FLOAT8OID, "dim": N_FEATURES, "lbound": 1}
    for field, value in expect.items():
        if not np.all(rows[field] == value):
            raise ValueError("binary COPY: field %s is not %r in every row" % (field, value))
    if not np.all(rows["x"]["len"] == 8):
        raise ValueError("binary COPY: an array element is not 8 bytes")
    ids = rows["id"].astype(np.int32)
    X = np.ascontiguousarray(rows["x"]["v"], dtype=np.float64)
    return ids, X


def build_copy_binary(ids, p):
    rows = np.empty(len(ids), dtype=ROW_OUT)
    rows["nfields"] = 2
    rows["id_len"] = 4
    rows["id"] = ids
    rows["p_len"] = 8
    rows["p"] = p
    return COPY_HEADER + rows.tobytes() + COPY_TRAILER


def positive_proba(model, X):
    """The positive-class probabilities, float64: sklearn's predict_proba, or
    XGBoost's own Booster.predict on a DMatrix (float32, widened)."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)[:, 1]
    import xgboost as xgb
    return model.predict(xgb.DMatrix(X, feature_names=model.feature_names)).astype(np.float64)


def external_job(model, table):
    """The external scoring job, end to end: connect, binary COPY out, parse,
    predict (sklearn's predict_proba or XGBoost's DMatrix + Booster.predict),
    binary COPY of (id, p) into TABLE, commit.  Returns the sum of the
    probabilities (to compare with the in-database figures)."""
    conn = psycopg2.connect("")
    try:
        cur = conn.cursor()
        out = io.BytesIO()
        cur.copy_expert("COPY (SELECT id, x FROM t) TO STDOUT (FORMAT binary)", out)
        ids, X = parse_copy_binary(out.getbuffer())
        p = positive_proba(model, X)
        cur.copy_expert("COPY %s (id, p) FROM STDIN (FORMAT binary)" % table, io.BytesIO(build_copy_binary(ids, p)))
        conn.commit()
        return float(np.sum(p))
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Training and export

def feature_list():
    return [{"name": "f%d" % (j + 1), "type": "numeric"} for j in range(N_FEATURES)]


def export_logreg(lr):
    assert lr.coef_.shape == (1, N_FEATURES) and list(lr.classes_) == [0, 1]
    return {
        "format": "mlops.model/v1",
        "task": "binary",
        "classes": [0, 1],
        "features": feature_list(),
        "model": {"type": "linear", "link": "logistic",
                  "coef": [[float(c) for c in lr.coef_[0]]],
                  "intercept": [float(lr.intercept_[0])]},
    }


def export_gbm(gbm, X_probe):
    """A binary GradientBoostingClassifier as one-output trees: leaf values
    times the learning rate, base_score the init estimator's log-odds."""
    assert list(gbm.classes_) == [0, 1] and gbm.estimators_.shape[1] == 1
    init = gbm._raw_predict_init(X_probe[:1])
    base = float(init[0, 0])
    # the init raw prediction is the same constant for every row (prior log-odds)
    assert np.all(gbm._raw_predict_init(X_probe) == base)
    lr = gbm.learning_rate
    trees = []
    for est in gbm.estimators_[:, 0]:
        tr = est.tree_
        leaf = tr.children_left == -1
        trees.append({
            "feature": [int(f) if not l else 0 for f, l in zip(tr.feature, leaf)],
            "threshold": [float(th) if not l else 0.0 for th, l in zip(tr.threshold, leaf)],
            "left": [int(c) for c in tr.children_left],
            "right": [int(c) for c in tr.children_right],
            "value": [float(lr * v) for v in tr.value[:, 0, 0]],
        })
    return {
        "format": "mlops.model/v1",
        "task": "binary",
        "classes": [0, 1],
        "features": feature_list(),
        "model": {"type": "trees", "trees": trees, "aggregation": "sum", "base_score": base,
                  "link": "logistic", "split": "<=", "input_precision": "float32"},
    }


def fetch_sample(cur, n):
    out = io.BytesIO()
    cur.copy_expert("COPY (SELECT id, x FROM t WHERE id <= %d ORDER BY id) TO STDOUT (FORMAT binary)" % n, out)
    ids, X = parse_copy_binary(out.getbuffer())
    cur.execute("SELECT y FROM t WHERE id <= %s ORDER BY id", (n,))
    y = np.array([r[0] for r in cur.fetchall()], dtype=np.int32)
    return ids, X, y


def check_against_sklearn(cur, name, model, n=2000, tol=1e-9, oracle="sklearn predict_proba"):
    """mlops.predict and mlops.score on rows 500,001..500,000+n (not in the
    training sample) against sklearn's predict_proba (or XGBoost's predict)."""
    out = io.BytesIO()
    lo, hi = 500000, 500000 + n
    cur.copy_expert("COPY (SELECT id, x FROM t WHERE id > %d AND id <= %d ORDER BY id) TO STDOUT (FORMAT binary)"
                    % (lo, hi), out)
    ids, X = parse_copy_binary(out.getbuffer())
    want = positive_proba(model, X)
    cur.execute("""WITH m AS (SELECT mlops.compiled_model(%s) AS c)
                   SELECT mlops.predict(%s, x), mlops.score(m.c, x) FROM t, m
                    WHERE id > %s AND id <= %s ORDER BY id""", (name, name, lo, hi))
    got = np.array(cur.fetchall(), dtype=np.float64)
    worst = 0.0
    for col, what in ((0, "predict"), (1, "score")):
        diff = np.abs(got[:, col] - want)
        rel = diff / np.maximum(np.abs(want), 1e-300)
        worst = max(worst, float(np.max(np.minimum(diff, rel))))
        log("   %s: mlops.%s vs %s on %d rows: max abs diff %.3g, max rel diff %.3g"
            % (name, what, oracle, n, float(np.max(diff)), float(np.max(rel))))
    if worst > tol:
        raise SystemExit("FAIL: %s disagrees with %s by %.3g (> %g)" % (name, oracle, worst, tol))
    return worst


def cmd_train(workdir):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    conn = connect()
    cur = conn.cursor()
    n = max(LR_TRAIN_ROWS, GBM_TRAIN_ROWS)
    _, X, y = fetch_sample(cur, n)
    log("training LogisticRegression on %d rows" % LR_TRAIN_ROWS)
    lr = LogisticRegression(max_iter=1000).fit(X[:LR_TRAIN_ROWS], y[:LR_TRAIN_ROWS])
    log("training GradientBoostingClassifier(n_estimators=100, max_depth=6) on %d rows" % GBM_TRAIN_ROWS)
    t0 = time.perf_counter()
    gbm = GradientBoostingClassifier(n_estimators=100, max_depth=6, random_state=0)
    gbm.fit(X[:GBM_TRAIN_ROWS], y[:GBM_TRAIN_ROWS])
    log("   trained in %.1f s; %d nodes in %d trees" % (time.perf_counter() - t0,
        sum(e.tree_.node_count for e in gbm.estimators_[:, 0]), gbm.estimators_.shape[0]))

    info = {}
    for name, model, doc in (("bench_logreg", lr, export_logreg(lr)), ("bench_gbm", gbm, export_gbm(gbm, X[:1000]))):
        text = json.dumps(doc)
        with open(os.path.join(workdir, name + ".json"), "w") as f:
            f.write(text)
        cur.execute("SELECT mlops.register_model_version(%s, %s)", (name, text))
        version = cur.fetchone()[0]
        cur.execute("SELECT mlops.set_model_alias(%s, 'champion', %s)", (name, version))
        cur.execute("INSERT INTO bench_pickles (name, data) VALUES (%s, %s)",
                    (name, psycopg2.Binary(pickle.dumps(model))))
        with open(os.path.join(workdir, name + ".pickle"), "wb") as f:
            pickle.dump(model, f)
        cur.execute("SELECT mlops.model_info(mlops.compiled_model(%s))", (name,))
        mi = cur.fetchone()[0]
        log("registered %s version %d: %d bytes of JSON, %s compiled bytes" % (name, version, len(text),
                                                                             mi["compiled_bytes"]))
        info[name] = {"json_bytes": len(text), "compiled_bytes": mi["compiled_bytes"],
                      "max_diff": check_against_sklearn(cur, name, model)}

    # XGBoost: binary:logistic, 100 rounds of depth 6 (hist), on the GBM's
    # training rows; registered as XGBoost saved it
    import xgboost as xgb
    log("training XGBoost binary:logistic (%d rounds, max_depth %d, hist) on %d rows"
        % (XGB_ROUNDS, XGB_DEPTH, GBM_TRAIN_ROWS))
    t0 = time.perf_counter()
    names = ["f%d" % (j + 1) for j in range(N_FEATURES)]
    bst = xgb.train({"objective": "binary:logistic", "max_depth": XGB_DEPTH, "tree_method": "hist", "seed": 0},
                    xgb.DMatrix(X[:GBM_TRAIN_ROWS], label=y[:GBM_TRAIN_ROWS], feature_names=names), XGB_ROUNDS)
    path = os.path.join(workdir, "bench_xgb.json")
    bst.save_model(path)
    with open(path) as f:
        text = f.read()
    xdoc = json.loads(text)
    xgb_nodes = sum(len(tr["left_children"]) for tr in xdoc["learner"]["gradient_booster"]["model"]["trees"])
    log("   trained in %.1f s; %d nodes in %d trees; xgboost %s" % (time.perf_counter() - t0, xgb_nodes,
                                                                  len(bst.get_dump()), xgb.__version__))
    cur.execute("SELECT mlops.register_model_version('bench_xgb', %s)", (text,))
    version = cur.fetchone()[0]
    cur.execute("SELECT mlops.set_model_alias('bench_xgb', 'champion', %s)", (version,))
    cur.execute("INSERT INTO bench_pickles (name, data) VALUES ('bench_xgb', %s)",
                (psycopg2.Binary(pickle.dumps(bst)),))
    with open(os.path.join(workdir, "bench_xgb.pickle"), "wb") as f:
        pickle.dump(bst, f)
    cur.execute("SELECT mlops.model_info(mlops.compiled_model('bench_xgb'))")
    mi = cur.fetchone()[0]
    log("registered bench_xgb version %d: %d bytes of JSON (as XGBoost saved it), %s compiled bytes"
        % (version, len(text), mi["compiled_bytes"]))
    info["bench_xgb"] = {"json_bytes": len(text), "compiled_bytes": mi["compiled_bytes"],
                         "max_diff": check_against_sklearn(cur, "bench_xgb", bst, tol=XGB_TOL,
                                                           oracle="XGBoost Booster.predict"),
                         "nodes": xgb_nodes, "version": xgb.__version__}

    # the logistic regression as a plain SQL expression over f1..f20
    terms = " + ".join("%r::float8 * f%d" % (float(c), j + 1) for j, c in enumerate(lr.coef_[0]))
    expr = "1 / (1 + exp(-(%r::float8 + %s)))" % (float(lr.intercept_[0]), terms)
    with open(os.path.join(workdir, "sql_expr.txt"), "w") as f:
        f.write(expr)
    # the same over the array column that mlops.predict reads: like for like
    aterms = " + ".join("%r::float8 * x[%d]" % (float(c), j + 1) for j, c in enumerate(lr.coef_[0]))
    with open(os.path.join(workdir, "sql_expr_array.txt"), "w") as f:
        f.write("1 / (1 + exp(-(%r::float8 + %s)))" % (float(lr.intercept_[0]), aterms))
    info["gbm_nodes"] = int(sum(e.tree_.node_count for e in gbm.estimators_[:, 0]))
    info["gbm_train_rows"] = GBM_TRAIN_ROWS
    info["lr_train_rows"] = LR_TRAIN_ROWS
    with open(os.path.join(workdir, "train.json"), "w") as f:
        json.dump(info, f)


# --------------------------------------------------------------------------
# Timed measurements

class M:
    """One measurement.  kind "sql": run QUERY on a dedicated session (with
    SETTINGS) and fetch its one value; kind "ext": the external job.  BEFORE
    runs untimed before each round (e.g. TRUNCATE).  SCALE multiplies the
    time to the 1M-row figure (the per-row PL/Python run is on 20k rows)."""

    def __init__(self, key, label, query=None, kind="sql", settings=(), before=None, warmup=None,
                 slow=False, scale=1.0, model=None, table=None):
        self.key, self.label, self.query, self.kind = key, label, query, kind
        self.settings, self.before, self.warmup = settings, before, warmup
        self.slow, self.scale, self.model, self.table = slow, scale, model, table
        self.times, self.values = [], []
        self.conn = None


def measurements(workdir):
    with open(os.path.join(workdir, "sql_expr.txt")) as f:
        expr = f.read()
    with open(os.path.join(workdir, "sql_expr_array.txt")) as f:
        expr_array = f.read()
    serial = ("SET max_parallel_workers_per_gather = 0",)
    parallel = ("SET max_parallel_workers_per_gather = 2",)
    big = ("SET max_parallel_workers_per_gather = 0", "SET work_mem = '1GB'")
    batch = ("SELECT sum(p) FROM (SELECT unnest(bench_plpy_proba_batch('%s', array_agg(x))) AS p"
             " FROM t GROUP BY (id - 1) / " + str(BATCH_ROWS) + ") s")
    with open(os.path.join(workdir, "bench_logreg.pickle"), "rb") as f:
        lr = pickle.load(f)
    with open(os.path.join(workdir, "bench_gbm.pickle"), "rb") as f:
        gbm = pickle.load(f)
    with open(os.path.join(workdir, "bench_xgb.pickle"), "rb") as f:
        bst = pickle.load(f)
    xgb_batch = ("SELECT sum(p) FROM (SELECT unnest(bench_plpy_xgb_batch('bench_xgb', array_agg(x))) AS p"
                 " FROM t GROUP BY (id - 1) / " + str(BATCH_ROWS) + ") s")
    # MATERIALIZED: a plain one-row CTE is pulled up into the query, and
    # compiled_model() then runs once per row (measured below as a pitfall)
    score_cte = ("WITH m AS MATERIALIZED (SELECT mlops.compiled_model('%s') AS c)"
                 " SELECT sum(mlops.score(m.c, t.x)) FROM t, m")
    score_inlined = ("WITH m AS (SELECT mlops.compiled_model('bench_logreg') AS c)"
                     " SELECT sum(mlops.score(m.c, t.x)) FROM t20k t, m")
    return [
        M("count", "a) SELECT count(*) FROM t", "SELECT count(*) FROM t", settings=serial),
        M("scan", "a) SELECT sum(x[1]) FROM t  [baseline]", "SELECT sum(x[1]) FROM t", settings=serial),
        M("sql_expr", "b) sum(1/(1+exp(-(b+w1*f1+..+w20*f20))))", "SELECT sum(%s) FROM t" % expr,
          settings=serial),
        M("sql_expr_nojit", "b) the same, jit = off", "SELECT sum(%s) FROM t" % expr,
          settings=serial + ("SET jit = off",)),
        M("sql_expr_array", "b) the same over x[1]..x[20] (mlops' input)", "SELECT sum(%s) FROM t" % expr_array,
          settings=serial),
        M("plpy_row", "c) PL/Python predict_proba per row (20k rows x 50)",
          "SELECT sum(bench_plpy_proba('bench_logreg', x)) FROM t20k", settings=serial,
          warmup="SELECT bench_plpy_proba('bench_logreg', x) FROM t20k LIMIT 1", slow=True, scale=50.0),
        M("plpy_batch", "c) PL/Python predict_proba per 10k batch", batch % "bench_logreg", settings=big,
          warmup="SELECT bench_plpy_proba_batch('bench_logreg', array_agg(x)) FROM t20k", slow=True),
        M("ext_lr", "d) external Python job (COPY out, sklearn, COPY in)", kind="ext", model=lr,
          table="scores_ext", before="TRUNCATE scores_ext", slow=True),
        M("predict", "e) sum(mlops.predict('bench_logreg', x))",
          "SELECT sum(mlops.predict('bench_logreg', x)) FROM t", settings=serial),
        M("score", "e) sum(mlops.score(c, x)), c from a MATERIALIZED CTE", score_cte % "bench_logreg", settings=serial),
        M("score_inlined", "e) the same, CTE not MATERIALIZED (20k rows x 50)", score_inlined,
          settings=serial, slow=True, scale=50.0),
        M("predict_insert", "e) INSERT INTO scores SELECT id, mlops.predict(..)",
          "INSERT INTO scores_mlops SELECT id, mlops.predict('bench_logreg', x) FROM t", settings=serial,
          before="TRUNCATE scores_mlops", slow=True),
        M("gbm_predict", "f) GBM sum(mlops.predict('bench_gbm', x))",
          "SELECT sum(mlops.predict('bench_gbm', x)) FROM t", settings=serial, slow=True),
        M("gbm_insert", "f) GBM INSERT INTO scores SELECT id, mlops.predict",
          "INSERT INTO scores_mlops SELECT id, mlops.predict('bench_gbm', x) FROM t", settings=serial,
          before="TRUNCATE scores_mlops", slow=True),
        M("gbm_ext", "f) GBM external Python job (as in d)", kind="ext", model=gbm, table="scores_ext",
          before="TRUNCATE scores_ext", slow=True),
        M("gbm_plpy_batch", "f) GBM PL/Python per 10k batch", batch % "bench_gbm", settings=big,
          warmup="SELECT bench_plpy_proba_batch('bench_gbm', array_agg(x)) FROM t20k", slow=True),
        M("xgb_predict", "g) XGB sum(mlops.predict('bench_xgb', x))",
          "SELECT sum(mlops.predict('bench_xgb', x)) FROM t", settings=serial, slow=True),
        M("xgb_insert", "g) XGB INSERT INTO scores SELECT id, mlops.predict",
          "INSERT INTO scores_mlops SELECT id, mlops.predict('bench_xgb', x) FROM t", settings=serial,
          before="TRUNCATE scores_mlops", slow=True),
        M("xgb_ext", "g) XGB external job (as in d, XGBoost predict)", kind="ext", model=bst,
          table="scores_ext", before="TRUNCATE scores_ext", slow=True),
        M("xgb_plpy_row", "g) XGB PL/Python per row (20k rows x 50)",
          "SELECT sum(bench_plpy_xgb('bench_xgb', x)) FROM t20k", settings=serial,
          warmup="SELECT bench_plpy_xgb('bench_xgb', x) FROM t20k LIMIT 1", slow=True, scale=50.0),
        M("xgb_plpy_batch", "g) XGB PL/Python per 10k batch", xgb_batch, settings=big,
          warmup="SELECT bench_plpy_xgb_batch('bench_xgb', array_agg(x)) FROM t20k", slow=True),
        # parallel plans (2 workers + the leader on 2 cores)
        M("scan_par", "a) SELECT sum(x[1]) FROM t  [2 workers]", "SELECT sum(x[1]) FROM t", settings=parallel),
        M("predict_par", "e) sum(mlops.predict(..))  [2 workers]",
          "SELECT sum(mlops.predict('bench_logreg', x)) FROM t", settings=parallel),
        M("gbm_predict_par", "f) GBM sum(mlops.predict(..))  [2 workers]",
          "SELECT sum(mlops.predict('bench_gbm', x)) FROM t", settings=parallel, slow=True),
        M("xgb_predict_par", "g) XGB sum(mlops.predict(..))  [2 workers]",
          "SELECT sum(mlops.predict('bench_xgb', x)) FROM t", settings=parallel, slow=True),
    ]


def run_one(m):
    if m.kind == "ext":
        if m.conn is None:
            m.conn = connect()
        m.conn.cursor().execute(m.before)
        t0 = time.perf_counter()
        value = external_job(m.model, m.table)
        return time.perf_counter() - t0, value
    if m.conn is None:
        m.conn = connect()
        cur = m.conn.cursor()
        for s in m.settings:
            cur.execute(s)
        if m.warmup:
            cur.execute(m.warmup)
            cur.fetchall()
    cur = m.conn.cursor()
    if m.before:
        cur.execute(m.before)
    t0 = time.perf_counter()
    cur.execute(m.query)
    row = cur.fetchone() if cur.description else None
    elapsed = time.perf_counter() - t0
    return elapsed, (float(row[0]) if row and row[0] is not None else None)


def cmd_time(workdir):
    ms = measurements(workdir)
    only = os.environ.get("ONLY")
    if only:
        ms = [m for m in ms if m.key in only.split(",")]
    rounds = max(RUNS_FAST, RUNS_SLOW)
    for r in range(rounds):
        line = []
        for m in ms:
            if r >= (RUNS_SLOW if m.slow else RUNS_FAST):
                continue
            elapsed, value = run_one(m)
            m.times.append(elapsed)
            m.values.append(value)
            line.append("%s %.3f" % (m.key, elapsed))
        log("round %d: %s" % (r + 1, ", ".join(line)))
    for m in ms:
        if m.conn is not None:
            m.conn.close()
    out = {m.key: {"label": m.label, "times": m.times, "values": m.values, "scale": m.scale,
                   "median": statistics.median(m.times) * m.scale, "slow": m.slow} for m in ms}
    with open(os.path.join(workdir, "times.json"), "w") as f:
        json.dump(out, f, indent=1)


# --------------------------------------------------------------------------
# Report

def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def cmd_report(workdir):
    with open(os.path.join(workdir, "times.json")) as f:
        T = json.load(f)
    mem = {}
    if os.path.exists(os.path.join(workdir, "memory.json")):
        with open(os.path.join(workdir, "memory.json")) as f:
            mem = json.load(f)
    base = T["scan"]["median"]
    med = {k: v["median"] for k, v in T.items()}

    # results must agree: serial vs parallel, mlops vs the other paths
    checks = ResultChecks(70)

    def check(what, a, b, tol):
        d = rel(a, b)
        ok = d <= tol
        checks.record("%-70s rel diff %.2e  (<= %g: %s)" % (what, d, tol, "ok" if ok else "FAIL"), ok)

    def vals(k):
        return [v for v in T[k]["values"] if v is not None]

    # runs of one query differ in the last bits only: a scan of a table larger
    # than shared_buffers / 4 joins a running one (synchronize_seqscans), so
    # the rows reach sum() in another order
    for k in ("predict", "score", "score_inlined", "sql_expr", "sql_expr_nojit", "sql_expr_array", "scan", "scan_par", "predict_par",
              "gbm_predict", "gbm_predict_par", "ext_lr", "gbm_ext", "plpy_batch", "gbm_plpy_batch",
              "xgb_predict", "xgb_predict_par", "xgb_ext", "xgb_plpy_batch", "xgb_plpy_row"):
        vs = vals(k) if k in T else []
        if len(vs) > 1 and max(vs) != min(vs):
            check("%s: runs agree with each other" % k, max(vs), min(vs), 1e-12)
    pairs = [("predict", "predict_par", "LR sum: serial vs parallel plan", 1e-9),
             ("gbm_predict", "gbm_predict_par", "GBM sum: serial vs parallel plan", 1e-9),
             ("scan", "scan_par", "sum(x[1]): serial vs parallel plan", 1e-9),
             ("predict", "score", "LR sum: predict vs score", 1e-12),
             ("predict", "ext_lr", "LR sum: mlops vs external sklearn job", 1e-9),
             ("predict", "plpy_batch", "LR sum: mlops vs PL/Python batches", 1e-9),
             ("predict", "sql_expr", "LR sum: mlops vs SQL expression", 1e-9),
             ("sql_expr", "sql_expr_nojit", "SQL expression: jit on vs off", 1e-9),
             ("sql_expr", "sql_expr_array", "SQL expression: columns vs array", 1e-9),
             ("gbm_predict", "gbm_ext", "GBM sum: mlops vs external sklearn job", 1e-9),
             ("gbm_predict", "gbm_plpy_batch", "GBM sum: mlops vs PL/Python batches", 1e-9),
             # XGBoost predicts in float32 (mlops too, for an XGBoost model): the
             # per-row values may differ in the last float32 bit
             ("xgb_predict", "xgb_predict_par", "XGB sum: serial vs parallel plan", 1e-9),
             ("xgb_predict", "xgb_ext", "XGB sum: mlops vs external XGBoost job", 1e-7),
             ("xgb_predict", "xgb_plpy_batch", "XGB sum: mlops vs PL/Python batches", 1e-7)]
    for a, b, what, tol in pairs:
        if a in T and b in T and vals(a) and vals(b):
            check(what, vals(a)[0], vals(b)[0], tol)

    if mem and "predict" in T and vals("predict"):
        check("LR sum: %d x 1M rows in the memory run vs %d x the 1M-row sum" % (mem["rows"] // 1000000,
              mem["rows"] // 1000000), mem["sum"], vals("predict")[0] * mem["rows"] / 1000000, 1e-9)

    # targets: (row key, text, ratio, at least / at most, bound); "(...)" ones
    # are shown for information, the targets are on serial plans
    specs = [
        ("predict", "<= 1.5x scan: %.2fx", "predict", "scan", "max", 1.5),
        ("predict", ">= 3x faster than b): %.1fx", "sql_expr", "predict", "min", 3),
        ("predict", "(>= 3x vs b) with jit = off: %.1fx)", "sql_expr_nojit", "predict", "min", 3),
        ("predict", ">= 3x faster than b) on x[]: %.1fx", "sql_expr_array", "predict", "min", 3),
        ("predict", ">= 100x faster than c) per row: %.0fx", "plpy_row", "predict", "min", 100),
        ("predict_par", "(<= 1.5x scan [2 workers]: %.2fx)", "predict_par", "scan_par", "max", 1.5),
        ("gbm_predict", ">= 3x faster than ext. job: %.2fx", "gbm_ext", "gbm_predict", "min", 3),
        ("gbm_predict", ">= 3x faster than PL/Py batch: %.2fx", "gbm_plpy_batch", "gbm_predict", "min", 3),
        ("gbm_insert", ">= 3x faster than ext. job: %.2fx", "gbm_ext", "gbm_insert", "min", 3),
        ("gbm_predict_par", "(>= 3x vs ext. job: %.2fx)", "gbm_ext", "gbm_predict_par", "min", 3),
        ("gbm_predict_par", "(>= 3x vs PL/Py batch: %.2fx)", "gbm_plpy_batch", "gbm_predict_par", "min", 3),
        ("xgb_predict", ">= 3x faster than ext. job: %.2fx", "xgb_ext", "xgb_predict", "min", 3),
        ("xgb_predict", ">= 3x faster than PL/Py batch: %.2fx", "xgb_plpy_batch", "xgb_predict", "min", 3),
        ("xgb_predict", ">= 100x faster than PL/Py per row: %.0fx", "xgb_plpy_row", "xgb_predict", "min", 100),
        ("xgb_insert", ">= 3x faster than ext. job: %.2fx", "xgb_ext", "xgb_insert", "min", 3),
        ("xgb_predict_par", "(>= 3x vs ext. job: %.2fx)", "xgb_ext", "xgb_predict_par", "min", 3),
        ("xgb_predict_par", "(>= 3x vs PL/Py batch: %.2fx)", "xgb_plpy_batch", "xgb_predict_par", "min", 3),
    ]
    targets = {}
    for row, text, num, den, kind, bound in specs:
        if num in med and den in med:
            r = med[num] / med[den]
            ok = r <= bound if kind == "max" else r >= bound
            targets.setdefault(row, []).append((text % r, "yes" if ok else "NO"))

    order = ["count", "scan", "sql_expr", "sql_expr_nojit", "sql_expr_array", "plpy_row", "plpy_batch", "ext_lr", "predict",
             "score", "score_inlined", "predict_insert", "gbm_predict", "gbm_insert", "gbm_ext", "gbm_plpy_batch",
             "xgb_predict", "xgb_insert", "xgb_ext", "xgb_plpy_row", "xgb_plpy_batch",
             "scan_par", "predict_par", "gbm_predict_par", "xgb_predict_par"]
    train = {}
    if os.path.exists(os.path.join(workdir, "train.json")):
        with open(os.path.join(workdir, "train.json")) as f:
            train = json.load(f)
    if train:
        print("models: bench_logreg = sklearn LogisticRegression (trained on %d rows), %d compiled bytes;"
              " bench_gbm = GradientBoostingClassifier(n_estimators=100, max_depth=6) (trained on %d rows),"
              " %d nodes, %d compiled bytes; mlops vs sklearn predict_proba on 2,000 rows: max diff %.1e / %.1e"
              % (train["lr_train_rows"], train["bench_logreg"]["compiled_bytes"], train["gbm_train_rows"],
                 train["gbm_nodes"], train["bench_gbm"]["compiled_bytes"], train["bench_logreg"]["max_diff"],
                 train["bench_gbm"]["max_diff"]))
        if "bench_xgb" in train:
            x = train["bench_xgb"]
            print("bench_xgb = XGBoost %s binary:logistic, %d rounds of max_depth %d (hist; trained on %d rows),"
                  " %d nodes, registered as saved (%d bytes of JSON), %d compiled bytes; mlops vs XGBoost"
                  " Booster.predict on 2,000 rows: max abs diff %.1e; XGBoost at its default thread count (%d cores)"
                  % (x["version"], XGB_ROUNDS, XGB_DEPTH, train["gbm_train_rows"], x["nodes"], x["json_bytes"],
                     x["compiled_bytes"], x["max_diff"], os.cpu_count()))
    print("baseline: SELECT sum(x[1]) FROM t, serial: the scan, the deforming up to x and one float8 per row into"
          " sum(), i.e. the query sum(mlops.predict('m', x)) without the model")
    print()
    print("%-52s %9s %6s %9s  %-38s %s" % ("query (1M rows, 20 features)", "median s", "runs", "vs scan",
                                            "target", "met?"))
    print("-" * 124)
    for k in order:
        if k not in T:
            continue
        n = len(T[k]["times"])
        runs = "%d" % n if T[k]["scale"] == 1 else "%dx%g" % (n, T[k]["scale"])
        tl = targets.get(k) or [("", "")]
        for i, (text, ok) in enumerate(tl):
            if i == 0:
                print("%-52s %9.3f %6s %8.2fx  %-38s %s" % (T[k]["label"], med[k], runs, med[k] / base, text, ok))
            else:
                print("%-52s %9s %6s %9s  %-38s %s" % ("", "", "", "", text, ok))
    print("-" * 124)
    over = [(k, what) for k, what in (("predict", "mlops.predict LR"), ("score", "mlops.score LR"),
                                       ("sql_expr", "SQL expression"), ("sql_expr_nojit", "SQL expression, jit off"),
                                       ("gbm_predict", "mlops.predict GBM"),
                                       ("xgb_predict", "mlops.predict XGB")) if k in med]
    if over:
        print("time per row above the baseline: " + ", ".join("%s %.0f ns" % (what, (med[k] - base) * 1e3)
                                                               for k, what in over))
    if "sql_expr" in med:
        print("b) / a) = %.2fx: the most any scoring that needs the baseline's scan can gain on b) on this table"
              % (med["sql_expr"] / base))
    if "plpy_row" in T:
        print("c) per row: measured on a 20k-row table (t20k) and multiplied by 50: %.1f us per row"
              % med["plpy_row"])
    if "xgb_plpy_row" in T:
        print("g) XGB PL/Python per row: measured on t20k and multiplied by 50: %.1f us per row"
              % med["xgb_plpy_row"])
    if mem:
        print("memory: %s (%d rows), one serial query of %.1f s, jit = off, after a 1M-row warm-up in the same"
              " session; the backend's /proc/<pid>/status sampled every 0.5 s, %d samples during the query:"
              % (mem["query"], mem["rows"], mem["seconds"], mem["samples"]))
        for f, what in (("rss", "VmRSS"), ("anon", "RssAnon"), ("file", "RssFile"), ("shmem", "RssShmem")):
            print("  %-8s before %7d kB, first sample %7d kB, last sample %7d kB, peak %7d kB: peak - before %+d kB"
                  % (what, mem[f + "_before"], mem[f + "_first"], mem[f + "_last"], mem[f + "_peak"],
                     mem[f + "_peak"] - mem[f + "_before"]))
        print("  VmHWM    before %7d kB, after the query %7d kB: %+d kB"
              % (mem["hwm_before"], mem["hwm_after"], mem["hwm_after"] - mem["hwm_before"]))
    checks.finish()


def main():
    run_command(__doc__, {"train": cmd_train, "time": cmd_time, "report": cmd_report})


if __name__ == "__main__":
    main()
