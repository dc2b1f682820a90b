#!/usr/bin/python3
"""tests/bench/batch_bench.py: the Python half of batch_bench.sh.

Run with Debian's /usr/bin/python3 (python3-sklearn, python3-numpy,
python3-psycopg2), not a pyenv python3 from PATH.  Connects with libpq's
environment (PGHOST, PGPORT, PGUSER, PGDATABASE), as set by
tests/lib/common.sh.

    train  WORKDIR   fit a LogisticRegression on the first LR_TRAIN_ROWS rows
                     of t, export it to mlops.model/v1 JSON, register it as
                     bench_logreg (alias champion), check mlops.predict
                     against sklearn's predict_proba, pickle it to WORKDIR
    time   WORKDIR   the timed measurements, round-robin; WORKDIR/times.json
    report WORKDIR   the final table (reads times.json and WORKDIR/meta.json)

The binary COPY codec, the connection and the exporter come from
scoring_bench.py.  Not a test: the only failures are wrong results.
"""
import io
import json
import os
import pickle
import statistics
import time

import numpy as np
import psycopg2

# the binary COPY codec, the connection and the exporter are scoring_bench.py's
from scoring_bench import ResultChecks, build_copy_binary, connect, export_logreg, log, parse_copy_binary, run_command

RUNS = int(os.environ.get("RUNS", "7"))
LR_TRAIN_ROWS = int(os.environ.get("LR_TRAIN_ROWS", "200000"))
VACUUM_TARGETS = os.environ.get("VACUUM_TARGETS", "1") == "1"
MODEL = "bench_logreg@champion"


def external_job(model, table):
    """The external scoring job of scoring_bench.py, end to end: connect,
    binary COPY (SELECT id, x FROM t) out, parse with numpy, sklearn
    predict_proba, then in one transaction TRUNCATE TABLE and binary COPY of
    the 1M (id, p) rows into it, commit.  Returns the sum of the
    probabilities."""
    conn = psycopg2.connect("")
    try:
        cur = conn.cursor()
        out = io.BytesIO()
        cur.copy_expert("COPY (SELECT id, x FROM t) TO STDOUT (FORMAT binary)", out)
        ids, X = parse_copy_binary(out.getbuffer())
        p = model.predict_proba(X)[:, 1]
        cur.execute("TRUNCATE %s" % table)
        cur.copy_expert("COPY %s (id, p) FROM STDIN (FORMAT binary)" % table, io.BytesIO(build_copy_binary(ids, p)))
        conn.commit()
        return float(np.sum(p))
    finally:
        conn.close()


def copy_out(cur, query):
    out = io.BytesIO()
    cur.copy_expert("COPY (%s) TO STDOUT (FORMAT binary)" % query, out)
    return parse_copy_binary(out.getbuffer())


def cmd_train(workdir):
    from sklearn.linear_model import LogisticRegression

    conn = connect()
    cur = conn.cursor()
    _, X = copy_out(cur, "SELECT id, x FROM t WHERE id <= %d ORDER BY id" % LR_TRAIN_ROWS)
    cur.execute("SELECT y FROM t WHERE id <= %s ORDER BY id", (LR_TRAIN_ROWS,))
    y = np.array([r[0] for r in cur.fetchall()], dtype=np.int32)
    log("training LogisticRegression on %d rows" % LR_TRAIN_ROWS)
    lr = LogisticRegression(max_iter=1000).fit(X, y)
    text = json.dumps(export_logreg(lr))
    cur.execute("SELECT mlops.register_model_version('bench_logreg', %s)", (text,))
    version = cur.fetchone()[0]
    cur.execute("SELECT mlops.set_model_alias('bench_logreg', 'champion', %s)", (version,))
    with open(os.path.join(workdir, "bench_logreg.pickle"), "wb") as f:
        pickle.dump(lr, f)

    # mlops against sklearn on 2,000 rows outside the training sample
    ids, X = copy_out(cur, "SELECT id, x FROM t WHERE id > 500000 AND id <= 502000 ORDER BY id")
    want = lr.predict_proba(X)[:, 1]
    cur.execute("SELECT mlops.predict(%s, x) FROM t WHERE id > 500000 AND id <= 502000 ORDER BY id", (MODEL,))
    got = np.array([r[0] for r in cur.fetchall()], dtype=np.float64)
    diff = float(np.max(np.abs(got - want)))
    log("registered bench_logreg version %d (%d bytes of JSON); mlops.predict vs sklearn predict_proba on"
        " 2,000 rows: max abs diff %.2e" % (version, len(text), diff))
    if diff > 1e-9:
        raise SystemExit("FAIL: mlops.predict disagrees with sklearn by %.3g" % diff)
    with open(os.path.join(workdir, "train.json"), "w") as f:
        json.dump({"version": version, "max_diff": diff, "train_rows": LR_TRAIN_ROWS}, f)


# --------------------------------------------------------------------------
# Timed measurements

class M:
    """One measurement: QUERY (one or more statements sent as one simple
    query, i.e. one implicit transaction, unless it is a CALL, which commits
    on its own), or the external job (kind "ext").  BEFORE: untimed
    statements run on a separate session before every timed run.  Each
    measurement keeps its own session, warmed up once (the model loaded
    into the session's cache)."""

    def __init__(self, key, label, query=None, kind="sql", before=(), target=None, settings=()):
        self.key, self.label, self.query, self.kind = key, label, query, kind
        self.before, self.target, self.settings = before, target, settings
        self.times, self.job_run_ids = [], []
        self.conn = None


def measurements(meta):
    pinned = meta["pinned"]
    vid = meta["version_id"]

    def prep(table):
        # every run starts from the same state: the target's previous rows
        # (deleted by this run) are all visible with hint bits set, the dead
        # rows of the run before are reclaimed, and no dirty buffers are left
        # over from the previous measurement
        return (("VACUUM %s" % table,) if VACUUM_TARGETS else ()) + ("CHECKPOINT",)

    call = "CALL mlops.batch_score('bench_logreg@champion', '%s', '%s', key_columns => ARRAY['id'], features => 'x'%s)"
    return [
        M("a", "a) CALL mlops.batch_score(.., 't', 'scores_batch')", call % ("t", "scores_batch", ""),
          before=prep("scores_batch"), target="scores_batch"),
        M("b1", "b1) TRUNCATE + INSERT .. SELECT id, mlops.predict",
          "TRUNCATE scores_manual; INSERT INTO scores_manual (id, prediction)"
          " SELECT id, mlops.predict('bench_logreg@champion', x) FROM t",
          before=("CHECKPOINT",)),
        M("b2", "b2) DELETE + INSERT .. SELECT id, mlops.predict",
          "DELETE FROM scores_manual_del; INSERT INTO scores_manual_del (id, prediction)"
          " SELECT id, mlops.predict('bench_logreg@champion', x) FROM t",
          before=prep("scores_manual_del")),
        # exactly the two statements batch_score executes in replace mode
        # (same target layout), sent by hand: what is left is the procedure
        M("b3", "b3) batch_score's own DELETE + INSERT, by hand",
          "DELETE FROM scores_wide WHERE slice IS NOT DISTINCT FROM NULL;"
          " INSERT INTO scores_wide (id, prediction, version_id, model_version, scored_at, slice)"
          " SELECT s.id, mlops.predict('%s', s.x), %d, '%s', pg_catalog.now(), NULL FROM t s"
          % (pinned, vid, pinned),
          before=prep("scores_wide")),
        M("c", "c) external Python job (COPY out, sklearn, COPY in)", kind="ext", before=("CHECKPOINT",)),
        M("d1", "d1) batch_score, outputs prediction+probabilities+class",
          call % ("t", "scores_batch_all", ", outputs => ARRAY['prediction', 'probabilities', 'class']"),
          before=prep("scores_batch_all"), target="scores_batch_all"),
        M("d2", "d2) batch_score, on_error => 'reject', 1% bad rows",
          call % ("t_bad", "scores_batch_rej", ", on_error => 'reject'"),
          before=prep("scores_batch_rej"), target="scores_batch_rej"),
        # the slow path's worst case: the first pass runs to the end of the
        # table before it meets a bad row, and is thrown away.  Scans start
        # at block 0 only without synchronized scans: t_bad_late is bigger
        # than shared_buffers / 4, so a scan would otherwise start where the
        # previous one last reported (near the end, at the bad rows)
        M("d3", "d3) the same, the 1% bad rows last in the scan",
          call % ("t_bad_late", "scores_batch_late", ", on_error => 'reject'"),
          before=prep("scores_batch_late"), target="scores_batch_late",
          settings=("SET synchronize_seqscans = off",)),
    ]


def run_one(m, admin, model):
    for s in m.before:
        admin.cursor().execute(s)
    if m.kind == "ext":
        t0 = time.perf_counter()
        external_job(model, "scores_ext")
        return time.perf_counter() - t0
    if m.conn is None:
        m.conn = connect()
        cur = m.conn.cursor()
        for setting in m.settings:
            cur.execute(setting)
        cur.execute("SELECT mlops.predict(%s, x) FROM t LIMIT 1", (MODEL,))
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
    with open(os.path.join(workdir, "bench_logreg.pickle"), "rb") as f:
        model = pickle.load(f)
    ms = measurements(meta)
    only = os.environ.get("ONLY")
    if only:
        ms = [m for m in ms if m.key in only.split(",")]
    admin = connect()
    for r in range(RUNS):
        for m in ms:
            m.times.append(run_one(m, admin, model))
        log("round %d: %s" % (r + 1, ", ".join("%s %.3f" % (m.key, m.times[-1]) for m in ms)))
    for m in ms:
        if m.conn is not None:
            m.conn.close()
    admin.close()
    out = {m.key: {"label": m.label, "times": m.times, "median": statistics.median(m.times),
                   "job_run_ids": m.job_run_ids, "query": m.query} for m in ms}
    with open(os.path.join(workdir, "times.json"), "w") as f:
        json.dump(out, f, indent=1)


# --------------------------------------------------------------------------
# Report

def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def cmd_report(workdir):
    with open(os.path.join(workdir, "times.json")) as f:
        T = json.load(f)
    med = {k: v["median"] for k, v in T.items()}
    conn = connect()
    cur = conn.cursor()

    # the results: every way of scoring t wrote the same 1M predictions
    checks = ResultChecks(66)
    check = checks.check

    sums = {}
    for key, table, col in (("a", "scores_batch", "prediction"), ("b1", "scores_manual", "prediction"),
                            ("b2", "scores_manual_del", "prediction"), ("b3", "scores_wide", "prediction"),
                            ("c", "scores_ext", "p"), ("d1", "scores_batch_all", "prediction"),
                            ("d2", "scores_batch_rej", "prediction"), ("d3", "scores_batch_late", "prediction")):
        if key not in T:
            continue
        cur.execute("SELECT count(*), count(DISTINCT id), sum(%s) FROM %s" % (col, table))
        n, nd, s = cur.fetchone()
        want = 990000 if key in ("d2", "d3") else 1000000
        check("%s: %s holds %d rows, one per id" % (key, table, want), n == want and nd == want,
              "%d rows, %d ids" % (n, nd))
        sums[key] = (table, float(s))
    ref = sums.get("b1") or sums.get("a")
    for key, (table, s) in sums.items():
        if key in ("d2", "d3") or sums.get(key) is ref:
            continue
        check("%s: sum of predictions in %s = %s's" % (key, table, ref[0]), rel(s, ref[1]) <= 1e-9,
              "rel diff %.1e" % rel(s, ref[1]))
    if "d1" in T:
        cur.execute("SELECT count(*) FILTER (WHERE probabilities[2] = prediction"
                    " AND class = CASE WHEN prediction > probabilities[1] THEN '1' ELSE '0' END) FROM scores_batch_all")
        n = cur.fetchone()[0]
        check("d1: probabilities[2] = prediction and class = argmax in every row", n == 1000000, "%d rows" % n)
    if "d2" in T:
        cur.execute("""SELECT count(*) FILTER (WHERE b.prediction = a.prediction), count(*) FROM scores_batch_rej b
                        JOIN scores_batch a USING (id)""")
        same, n = cur.fetchone()
        check("d2: the 990,000 good rows scored as in a)", same == 990000 and n == 990000,
              "%d of %d rows equal" % (same, n))
        run = T["d2"]["job_run_ids"][-1]
        cur.execute("SELECT count(*), count(*) FILTER (WHERE (row_key ->> 'id')::int %% 100 = 0)"
                    " FROM mlops.batch_rejects WHERE job_run_id = %s", (run,))
        n, n100 = cur.fetchone()
        check("d2: the last run set the 10,000 bad rows aside in batch_rejects", n == 10000 and n100 == 10000,
              "%d rejects" % n)
    if "d3" in T:
        cur.execute("""SELECT count(*) FILTER (WHERE b.prediction = a.prediction), count(*) FROM scores_batch_late b
                        JOIN scores_batch a USING (id) WHERE id <= 990000""")
        same, n = cur.fetchone()
        check("d3: the 990,000 good rows scored as in a)", same == 990000 and n == 990000,
              "%d of %d rows equal" % (same, n))
        run = T["d3"]["job_run_ids"][-1]
        cur.execute("SELECT count(*), count(*) FILTER (WHERE (row_key ->> 'id')::int > 990000)"
                    " FROM mlops.batch_rejects WHERE job_run_id = %s", (run,))
        n, nlate = cur.fetchone()
        check("d3: the last run set the 10,000 bad rows aside in batch_rejects", n == 10000 and nlate == 10000,
              "%d rejects" % n)

    print("%-58s %9s  %-34s %8s %8s %8s" % ("query (1M rows, 20 features, logistic regression)", "median s",
                                            "runs (s)", "vs b1)", "vs b2)", "vs c)"))
    print("-" * 132)
    for k in ("a", "b1", "b2", "b3", "c", "d1", "d2", "d3"):
        if k not in T:
            continue
        ratio = lambda d: ("%7.2fx" % (med[k] / med[d])) if d in med else "      -"
        print("%-58s %9.3f  %-34s %8s %8s %8s" % (T[k]["label"], med[k],
                                                  " ".join("%.3f" % t for t in T[k]["times"]),
                                                  ratio("b1"), ratio("b2"), ratio("c")))
    print("-" * 132)
    if "a" in med:
        for k, what in (("d1", "d1) three outputs"), ("d2", "d2) on_error => 'reject' with 1% bad rows"),
                        ("d3", "d3) the same, bad rows last")):
            if k in med:
                print("%s vs a): %.2fx (%+.3f s)" % (what, med[k] / med["a"], med[k] - med["a"]))
        if "b3" in med:
            print("a) - b3) = %+.3f s: the procedure around its own two statements (checks, version pin,"
                  " job_runs row committed twice, subtransactions)" % (med["a"] - med["b3"]))
        if "b2" in med and "b3" in med:
            print("b3) - b2) = %+.3f s: the wider target rows (version_id, model_version, scored_at, slice)"
                  " and the slice filter of the DELETE" % (med["b3"] - med["b2"]))
        if "b1" in med and "b2" in med:
            print("b2) - b1) = %+.3f s: DELETE of the previous 1M rows instead of TRUNCATE"
                  % (med["b2"] - med["b1"]))

    # the bookkeeping of one run of each batch measurement (the last round's)
    print()
    print("job_runs rows of the last round's runs (one row per run: inserted 'running' and committed before the"
          " work, updated at the end):")
    print("  %-3s %10s  %-30s %-9s %7s %11s %11s %15s %13s %7s" % ("", "job_run_id", "job_name", "status",
          "rows_in", "rows_scored", "rows_failed", "duration", "client time s", "rejects"))
    for k in ("a", "d1", "d2", "d3"):
        if k not in T or not T[k]["job_run_ids"]:
            continue
        run = T[k]["job_run_ids"][-1]
        cur.execute("""SELECT job_run_id, job_name, status, rows_in, rows_scored, rows_failed, duration,
                              (SELECT count(*) FROM mlops.batch_rejects r WHERE r.job_run_id = j.job_run_id)
                         FROM mlops.job_runs j WHERE job_run_id = %s""", (run,))
        r = cur.fetchone()
        print("  %-3s %10d  %-30s %-9s %7d %11d %11d %15s %13.3f %7d" % ((k,) + r[:6] + (str(r[6]),)
                                                                        + (T[k]["times"][-1], r[7])))
    cur.execute("SELECT status, count(*) FROM mlops.job_runs GROUP BY status ORDER BY status")
    print("  all job_runs rows of this benchmark: " + ", ".join("%s %d" % r for r in cur.fetchall()))
    conn.close()

    checks.finish()


def main():
    run_command(__doc__, {"train": cmd_train, "time": cmd_time, "report": cmd_report})


if __name__ == "__main__":
    main()
