#!/usr/bin/python3
"""tests/bench/batch_paths_bench.py: the Python half of batch_paths_bench.sh.

Run with Debian's /usr/bin/python3 (python3-sklearn, python3-xgboost,
python3-numpy, python3-psycopg2).  Connects with libpq's environment, as set
by tests/lib/common.sh.

    train  WORKDIR   fit and register the three models (one per scoring
                     path of batch_score), check each against its library,
                     pickle them to WORKDIR
    time   WORKDIR   the timed measurements, round-robin; WORKDIR/times.json
    report WORKDIR   the table and the result checks

The binary COPY codec, the connection, the logistic regression exporter and
the check against the library come from scoring_bench.py; the MLP goes
through tests/exporter/sklearn_to_mlops.py.  Not a test: the only failures
are wrong results.
"""
import io
import json
import os
import pickle
import statistics
import sys
import time

import psycopg2

from scoring_bench import (ResultChecks, build_copy_binary, check_against_sklearn, connect, export_logreg,
                           fetch_sample, log, parse_copy_binary, positive_proba, run_command)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "exporter"))
import sklearn_to_mlops  # noqa: E402

RUNS = int(os.environ.get("RUNS", "5"))
TRAIN_ROWS = int(os.environ.get("TRAIN_ROWS", "50000"))
VACUUM_TARGETS = os.environ.get("VACUUM_TARGETS", "1") == "1"
N_FEATURES = 20

# one model per path: name, what it is, the path batch_score should take
MODELS = (("bench_lr", "LogisticRegression", "row"),
          ("bench_mlp", "MLPClassifier (64, 64) relu", "chunked"),
          ("bench_mlpw", "MLPClassifier (256, 128) relu", "chunked"),
          ("bench_xgb", "XGBoost 100 trees of depth 6", "parallel"))


def cmd_train(workdir):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    import xgboost as xgb

    conn = connect()
    cur = conn.cursor()
    _, X, y = fetch_sample(cur, TRAIN_ROWS)
    names = ["f%d" % (j + 1) for j in range(N_FEATURES)]
    models = {}

    log("training LogisticRegression on %d rows" % TRAIN_ROWS)
    lr = LogisticRegression(max_iter=1000).fit(X, y)
    models["bench_lr"] = (lr, export_logreg(lr))

    log("training MLPClassifier(hidden_layer_sizes=(64, 64)) on %d rows" % TRAIN_ROWS)
    t0 = time.perf_counter()
    mlp = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=30, random_state=0).fit(X, y)
    log("   trained in %.1f s" % (time.perf_counter() - t0))
    models["bench_mlp"] = (mlp, sklearn_to_mlops.export(mlp, feature_names=names))

    log("training MLPClassifier(hidden_layer_sizes=(256, 128)) on %d rows" % TRAIN_ROWS)
    t0 = time.perf_counter()
    mlpw = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=10, random_state=0).fit(X, y)
    log("   trained in %.1f s" % (time.perf_counter() - t0))
    models["bench_mlpw"] = (mlpw, sklearn_to_mlops.export(mlpw, feature_names=names))

    log("training XGBoost binary:logistic (100 rounds, max_depth 6, hist) on %d rows" % TRAIN_ROWS)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 6, "tree_method": "hist", "seed": 0},
                    xgb.DMatrix(X, label=y, feature_names=names), 100)
    path = os.path.join(workdir, "bench_xgb.json")
    bst.save_model(path)
    with open(path) as f:
        models["bench_xgb"] = (bst, json.loads(f.read()))

    meta = {}
    for name, _, _ in MODELS:
        model, doc = models[name]
        text = json.dumps(doc)
        cur.execute("SELECT mlops.register_model_version(%s, %s)", (name, text))
        version = cur.fetchone()[0]
        cur.execute("SELECT mlops.set_model_alias(%s, 'champion', %s)", (name, version))
        cur.execute("SELECT v.version_id, mlops.model_info(v.compiled) FROM mlops.model_versions v"
                    " JOIN mlops.registered_models m USING (model_id) WHERE m.name = %s AND v.version = %s",
                    (name, version))
        version_id, info = cur.fetchone()
        tol, oracle = (1e-6, "XGBoost Booster.predict") if name == "bench_xgb" else (1e-9, "sklearn predict_proba")
        diff = check_against_sklearn(cur, name, model, tol=tol, oracle=oracle)
        log("registered %s version %d (%s, %s compiled bytes)" % (name, version, info["family"],
                                                                info["compiled_bytes"]))
        with open(os.path.join(workdir, name + ".pickle"), "wb") as f:
            pickle.dump(model, f)
        meta[name] = {"pinned": "%s:%d" % (name, version), "version_id": version_id, "family": info["family"],
                      "max_diff": diff}
    with open(os.path.join(workdir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


def external_job(model, table):
    """The external job of scoring_bench.py, writing its target like b):
    binary COPY (SELECT id, x FROM t) out, numpy, the library's own predict,
    then TRUNCATE and binary COPY of the (id, p) rows in, one transaction."""
    conn = psycopg2.connect("")
    try:
        cur = conn.cursor()
        out = io.BytesIO()
        cur.copy_expert("COPY (SELECT id, x FROM t) TO STDOUT (FORMAT binary)", out)
        ids, X = parse_copy_binary(out.getbuffer())
        p = positive_proba(model, X)
        cur.execute("TRUNCATE %s" % table)
        cur.copy_expert("COPY %s (id, prediction) FROM STDIN (FORMAT binary)" % table,
                        io.BytesIO(build_copy_binary(ids, p)))
        conn.commit()
    finally:
        conn.close()


class M:
    def __init__(self, model, key, label, query=None, kind="sql", before=(), target=None):
        self.model, self.key, self.label, self.query, self.kind = model, key, label, query, kind
        self.before, self.target = before, target
        self.times, self.job_run_ids = [], []
        self.conn = None


def measurements(meta):
    def prep(table):
        # as in batch_bench.py: the previous run's dead rows reclaimed, no
        # dirty buffers left over from the measurement before
        return (("VACUUM %s" % table,) if VACUUM_TARGETS else ()) + ("CHECKPOINT",)

    ms = []
    for name, _, _ in MODELS:
        pinned, vid = meta[name]["pinned"], meta[name]["version_id"]
        short = name[len("bench_"):]
        ms += [
            M(name, "fast", "a) CALL mlops.batch_score(...)",
              "CALL mlops.batch_score('%s', 't', 'fast_%s', key_columns => ARRAY['id'], features => 'x')"
              % (pinned, short), before=prep("fast_" + short), target="fast_" + short),
            # what batch_score executed before the fast path: its DELETE and
            # its INSERT .. SELECT mlops.predict() per row, by hand, same target
            M(name, "row", "b) batch_score's row path, by hand",
              "DELETE FROM row_%s WHERE slice IS NOT DISTINCT FROM NULL;"
              " INSERT INTO row_%s (id, prediction, version_id, model_version, scored_at, slice)"
              " SELECT s.id, mlops.predict('%s', s.x), %d, '%s', pg_catalog.now(), NULL FROM t s"
              % (short, short, pinned, vid, pinned), before=prep("row_" + short)),
            M(name, "ins", "c) TRUNCATE + INSERT .. SELECT id, mlops.predict",
              "TRUNCATE ins_%s; INSERT INTO ins_%s (id, prediction) SELECT id, mlops.predict('%s', x) FROM t"
              % (short, short, pinned), before=("CHECKPOINT",)),
            M(name, "ext", "d) external Python job (COPY out, library, COPY in)", kind="ext",
              before=("CHECKPOINT",), target="ext_" + short),
        ]
    return ms


def run_one(m, admin, models, meta):
    for s in m.before:
        admin.cursor().execute(s)
    if m.kind == "ext":
        t0 = time.perf_counter()
        external_job(models[m.model], m.target)
        return time.perf_counter() - t0
    if m.conn is None:
        m.conn = connect()
        cur = m.conn.cursor()
        cur.execute("SELECT mlops.predict(%s, x) FROM t LIMIT 1", (meta[m.model]["pinned"],))
        cur.fetchall()
    cur = m.conn.cursor()
    t0 = time.perf_counter()
    cur.execute(m.query)
    elapsed = time.perf_counter() - t0
    if m.target:
        cur.execute("SELECT max(job_run_id) FROM mlops.job_runs WHERE target = %s", (m.target,))
        m.job_run_ids.append(cur.fetchone()[0])
    return elapsed


def cmd_time(workdir):
    with open(os.path.join(workdir, "meta.json")) as f:
        meta = json.load(f)
    models = {}
    for name, _, _ in MODELS:
        with open(os.path.join(workdir, name + ".pickle"), "rb") as f:
            models[name] = pickle.load(f)
    ms = measurements(meta)
    admin = connect()
    for r in range(RUNS):
        for m in ms:
            m.times.append(run_one(m, admin, models, meta))
        log("round %d: %s" % (r + 1, ", ".join("%s/%s %.2f" % (m.model[6:], m.key, m.times[-1]) for m in ms)))
    for m in ms:
        if m.conn is not None:
            m.conn.close()
    admin.close()
    out = [{"model": m.model, "key": m.key, "label": m.label, "times": m.times, "median": statistics.median(m.times),
            "job_run_ids": m.job_run_ids, "query": m.query} for m in ms]
    with open(os.path.join(workdir, "times.json"), "w") as f:
        json.dump(out, f, indent=1)


def cmd_report(workdir):
    with open(os.path.join(workdir, "times.json")) as f:
        T = json.load(f)
    conn = connect()
    cur = conn.cursor()
    checks = ResultChecks(70)
    check = checks.check

    print("%-30s %-52s %9s  %-30s %8s %8s %8s" % ("model (1M rows, 20 features)", "query", "median s", "runs (s)",
                                                  "vs b)", "vs c)", "vs d)"))
    print("-" * 154)
    for name, what, path in MODELS:
        short = name[len("bench_"):]
        rows = {r["key"]: r for r in T if r["model"] == name}
        med = {k: r["median"] for k, r in rows.items()}
        for k in ("fast", "row", "ins", "ext"):
            r = rows[k]
            ratio = lambda d: "%7.2fx" % (med[k] / med[d])
            print("%-30s %-52s %9.3f  %-30s %8s %8s %8s" % (what if k == "fast" else "", r["label"], med[k],
                                                          " ".join("%.2f" % t for t in r["times"]),
                                                          ratio("row"), ratio("ins"), ratio("ext")))
        run = rows["fast"]["job_run_ids"][-1]
        cur.execute("SELECT scoring, status, rows_scored FROM mlops.job_runs WHERE job_run_id = %s", (run,))
        scoring, status, n = cur.fetchone()
        print("%-30s c) / a) = %.2f, d) / a) = %.2f (above 1: batch_score is faster); job_runs.scoring = %s"
              % ("", med["ins"] / med["fast"], med["ext"] / med["fast"], scoring))
        print("-" * 154)
        check("%s: batch_score took the %s path and succeeded" % (name, path),
              scoring == path and status == "succeeded" and n == 1000000, "%s, %s, %s rows" % (scoring, status, n))

        # every way wrote the same 1M predictions
        sums = {}
        for k, table in (("fast", "fast_" + short), ("row", "row_" + short), ("ins", "ins_" + short),
                         ("ext", "ext_" + short)):
            cur.execute("SELECT count(*), count(DISTINCT id), sum(prediction) FROM %s" % table)
            cnt, nd, s = cur.fetchone()
            check("%s: %s holds 1,000,000 rows, one per id" % (name, table), cnt == nd == 1000000,
                  "%d rows, %d ids" % (cnt, nd))
            sums[k] = float(s)
        cur.execute("SELECT max(abs(f.prediction - r.prediction) / greatest(abs(r.prediction), 1e-300))"
                    " FROM fast_%s f JOIN row_%s r USING (id)" % (short, short))
        worst = cur.fetchone()[0]
        tol = 0 if path != "chunked" else 1e-12
        check("%s: a) equals predict() per row (rel. diff <= %g)" % (name, tol), worst <= tol,
              "max rel diff %.1e" % worst)
        ext_tol = 1e-6 if name == "bench_xgb" else 1e-9
        cur.execute("SELECT max(abs(e.prediction - r.prediction)) FROM ext_%s e JOIN row_%s r USING (id)"
                    % (short, short))
        worst = cur.fetchone()[0]
        check("%s: d) the library's predictions within %g of predict()'s" % (name, ext_tol), worst <= ext_tol,
              "max abs diff %.1e" % worst)
    conn.close()
    checks.finish()


def main():
    run_command(__doc__, {"train": cmd_train, "time": cmd_time, "report": cmd_report})


if __name__ == "__main__":
    main()
