"""tests/bench/train_bench.py: the timing half of train_bench.sh (read its
head comment first).

    train_bench.py time WORK      mlops.train and the external Python job on
                                  table tr, RUNS runs each, round-robin;
                                  writes WORK/time.json
    train_bench.py groups WORK    per-group training (group_column g, 100
                                  groups) against a Python loop over groups;
                                  writes WORK/groups.json
    train_bench.py memory WORK TABLE
                                  the backend's peak RSS (VmHWM) after
                                  training on TABLE, one fresh session per
                                  algorithm; appends to WORK/memory.json
    train_bench.py report WORK    print the tables

The cluster is the one train_bench.sh started (PGHOST, PGPORT, PGUSER,
PGDATABASE in the environment); RUNS comes from it too.
"""
import io
import json
import os
import sys
import threading
import time

import numpy as np
import psycopg2

FEATURES = [f"c{j}" for j in range(1, 21)]
FEATURES_SQL = "ARRAY[" + ", ".join(f"'{c}'" for c in FEATURES) + "]"
XGB_ROUNDS = 50
XGB_PARAMS = {"max_depth": 6, "max_bin": 256, "eta": 0.3, "tree_method": "hist", "nthread": 1}

# key -> (algorithm, target, task, hyperparams): what mlops.train is asked
ALGOS = {
    "ols": ("linear_regression", "y_reg", None, {}),
    "ridge": ("ridge", "y_reg", None, {"alpha": 1.0}),
    "logistic": ("logistic_regression", "y_bin", None, {}),
    "xgboost": ("xgboost", "y_bin", "classification",
                {"max_depth": 6, "max_bin": 256, "eta": 0.3, "num_boost_round": XGB_ROUNDS}),
}
TARGETS = {"ols": 5.0, "ridge": 5.0, "logistic": 2.0, "xgboost": 1.0}  # python / mlops at least


def connect():
    return psycopg2.connect("")


def mlops_train_sql(model, key, table="tr", group=None):
    algo, target, task, hp = ALGOS[key]
    args = [f"'{model}'", f"'{table}'", f"'{target}'", FEATURES_SQL, f"algorithm => '{algo}'",
            f"hyperparams => '{json.dumps(hp)}'", "split_column => 'held'"]
    if task:
        args.append(f"task => '{task}'")
    if group:
        args.append(f"group_column => '{group}'")
    return f"SELECT mlops.train({', '.join(args)})"


def mlops_fit_sql(key, table="tr"):
    """The fit alone: mlops._train_fit on the query train() builds (no run,
    no dataset digest, no logging or registration)."""
    algo, target, task, hp = ALGOS[key]
    classify = key in ("logistic", "xgboost")
    cols = ", ".join(f"(s.{c})::float8" for c in FEATURES)
    q = f"SELECT (s.{target})::{'text' if classify else 'float8'}, s.held, NULL::text, {cols} FROM {table} s"
    return (f"SELECT mlops._train_fit($q${q}$q$, {classify}, true, {FEATURES_SQL}, "
            f"array_fill(false, ARRAY[20]), '{algo}', '{json.dumps(hp)}', 0.25, 0, 'bench', false)")


def timed_sql(sql, setup=()):
    """Run sql in a fresh session (after setup), return (seconds, the first value)."""
    conn = connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SET mlops.train_nthread = 1")
            for s in setup:
                cur.execute(s)
            t0 = time.perf_counter()
            cur.execute(sql)
            row = cur.fetchone()
            return time.perf_counter() - t0, row[0] if row else None
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# The external job
# ---------------------------------------------------------------------------
def fetch(table, cols):
    """Connect, binary COPY the columns out (float8, no NULLs), parse with
    numpy: the fastest way to get the rows out of PostgreSQL into Python."""
    conn = connect()
    try:
        buf = io.BytesIO()
        with conn.cursor() as cur:
            sel = ", ".join(f"({c})::float8" for c in cols)
            cur.copy_expert(f"COPY (SELECT {sel} FROM {table}) TO STDOUT (FORMAT binary)", buf)
    finally:
        conn.close()
    data = buf.getbuffer()
    # 19-byte header, then per tuple int16 count + per field int32 length + 8 bytes; -1 trailer
    dt = np.dtype([("n", ">i2")] + [x for i in range(len(cols)) for x in ((f"l{i}", ">i4"), (f"v{i}", ">f8"))])
    body = np.frombuffer(data, dtype=dt, offset=19, count=(len(data) - 21) // dt.itemsize)
    assert (body["n"] == len(cols)).all() and all((body[f"l{i}"] == 8).all() for i in range(len(cols)))
    out = np.empty((len(body), len(cols)))
    for i in range(len(cols)):
        out[:, i] = body[f"v{i}"]
    return out


def py_model(key):
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    est = {"ols": LinearRegression, "ridge": lambda: Ridge(alpha=1.0), "logistic": LogisticRegression}[key]()
    return make_pipeline(StandardScaler(), est)


def py_fit_eval(key, X, y, held):
    """Fit on the training rows, score the held-out rows: (fit s, eval s, metric)."""
    from sklearn.metrics import log_loss, r2_score
    tr, te = ~held, held
    t0 = time.perf_counter()
    if key == "xgboost":
        import xgboost as xgb
        dtrain = xgb.QuantileDMatrix(X[tr], y[tr], max_bin=XGB_PARAMS["max_bin"], nthread=1)
        booster = xgb.train(dict(XGB_PARAMS, objective="binary:logistic"), dtrain, XGB_ROUNDS)
        t1 = time.perf_counter()
        p = booster.predict(xgb.DMatrix(X[te], nthread=1))
        metric = log_loss(y[te], p)
    else:
        m = py_model(key).fit(X[tr], y[tr])
        t1 = time.perf_counter()
        metric = (r2_score(y[te], m.predict(X[te])) if key in ("ols", "ridge")
                  else log_loss(y[te], m.predict_proba(X[te])[:, 1]))
    return t1 - t0, time.perf_counter() - t1, metric


def py_job(key, table="tr"):
    target = ALGOS[key][1]
    t0 = time.perf_counter()
    a = fetch(table, FEATURES + [target, "held::int"])
    t1 = time.perf_counter()
    fit_s, eval_s, metric = py_fit_eval(key, a[:, :20], a[:, 20], a[:, 21] != 0)
    return {"fetch": t1 - t0, "fit": fit_s, "eval": eval_s, "total": time.perf_counter() - t0, "metric": metric}


def mlops_metric(model, key):
    name = "r2" if key in ("ols", "ridge") else "log_loss"
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("""SELECT (m.value)::float8 FROM mlops.model_versions v
                             JOIN mlops.registered_models r USING (model_id)
                             JOIN mlops.latest_metrics m ON m.run_id = v.run_id AND m.key = %s
                            WHERE r.name = %s ORDER BY v.version DESC LIMIT 1""", (name, model))
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


# ---------------------------------------------------------------------------
def cmd_time(work):
    runs = int(os.environ.get("RUNS", "3"))
    res = {k: {"train": [], "fit_only": [], "py": []} for k in ALGOS}
    digest = []
    for r in range(runs):
        s, _ = timed_sql("SELECT mlops._relation_digest('tr')")
        digest.append(s)
        for k in ALGOS:
            s, _ = timed_sql(mlops_train_sql(f"bench_{k}", k))
            res[k]["train"].append(s)
            s, _ = timed_sql(mlops_fit_sql(k))
            res[k]["fit_only"].append(s)
            res[k]["py"].append(py_job(k))
            print(f"==> round {r + 1} {k}: train {res[k]['train'][-1]:.2f} s, fit only "
                  f"{res[k]['fit_only'][-1]:.2f} s, python {res[k]['py'][-1]['total']:.2f} s "
                  f"(fetch {res[k]['py'][-1]['fetch']:.2f})", file=sys.stderr, flush=True)
        print(f"==> round {r + 1}: digest {digest[-1]:.2f} s", file=sys.stderr, flush=True)
    for k in ALGOS:
        res[k]["mlops_metric"] = mlops_metric(f"bench_{k}", k)
    res["_digest"] = digest
    with open(os.path.join(work, "time.json"), "w") as f:
        json.dump(res, f)


def cmd_groups(work):
    runs = int(os.environ.get("RUNS", "3"))
    from sklearn.metrics import log_loss, r2_score  # noqa: F401 (imported before timing)
    res = {}
    for k in ("ols", "logistic"):
        res[k] = {"train": [], "py": [], "versions": None}
        for r in range(runs):
            s, _ = timed_sql(mlops_train_sql(f"grp_{k}", k, group="g"))
            res[k]["train"].append(s)
            target = ALGOS[k][1]
            t0 = time.perf_counter()
            a = fetch("tr", FEATURES + [target, "held::int", "g"])
            t1 = time.perf_counter()
            order = np.argsort(a[:, 22], kind="stable")
            a = a[order]
            bounds = np.flatnonzero(np.diff(a[:, 22])) + 1
            fits = 0
            for part in np.split(a, bounds):
                py_fit_eval(k, part[:, :20], part[:, 20], part[:, 21] != 0)
                fits += 1
            t2 = time.perf_counter()
            res[k]["py"].append({"fetch": t1 - t0, "fit": t2 - t1, "total": t2 - t0, "groups": fits})
            print(f"==> groups round {r + 1} {k}: train {s:.2f} s, python {t2 - t0:.2f} s ({fits} groups)",
                  file=sys.stderr, flush=True)
        conn = connect()
        with conn.cursor() as cur:
            cur.execute("""SELECT count(*), count(DISTINCT t.value) FROM mlops.model_versions v
                             JOIN mlops.registered_models r USING (model_id)
                             LEFT JOIN mlops.model_version_tags t ON t.version_id = v.version_id AND t.key = 'group'
                            WHERE r.name = %s""", (f"grp_{k}",))
            res[k]["versions"], res[k]["groups"] = cur.fetchone()
        conn.close()
    with open(os.path.join(work, "groups.json"), "w") as f:
        json.dump(res, f)


def status_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    return out


TRAIN_MEMORY = os.environ.get("TRAIN_MEMORY", "64MB")


def cmd_memory(work, table):
    path = os.path.join(work, "memory.json")
    res = json.load(open(path)) if os.path.exists(path) else []
    for k in ("ols", "logistic"):
        conn = connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid(), (SELECT count(*) FROM %s)" % table)
            pid, rows = cur.fetchone()
            # the same memory budget at every row count: what stays flat is what the budget bounds
            cur.execute("SET mlops.train_memory = %s", (TRAIN_MEMORY,))
            before = status_kb(pid)
            # the backend's private (anonymous) memory, polled every 20 ms during the call: VmHWM
            # also counts the shared buffers the session touches, which grow with the table, not
            # with what training keeps
            peak, stop = [0], [False]

            def poll():
                while not stop[0]:
                    try:
                        peak[0] = max(peak[0], status_kb(pid)["RssAnon"])
                    except (OSError, KeyError):
                        pass
                    time.sleep(0.02)
            poller = threading.Thread(target=poll)
            poller.start()
            t0 = time.perf_counter()
            try:
                cur.execute(mlops_train_sql(f"mem_{table}_{k}", k, table=table))
            finally:
                stop[0] = True
                poller.join()
            s = time.perf_counter() - t0
            after = status_kb(pid)
            after["RssAnonPeak"] = peak[0]
        conn.close()
        res.append({"table": table, "rows": rows, "algo": k, "seconds": s, "before": before, "after": after})
        print(f"==> memory {table} ({rows} rows) {k}: {s:.1f} s, VmHWM {before['VmHWM'] / 1024:.0f} -> "
              f"{after['VmHWM'] / 1024:.0f} MB", file=sys.stderr, flush=True)
    with open(path, "w") as f:
        json.dump(res, f)


def best(xs):
    return min(xs)


def spread(xs):
    return f"{min(xs):.2f}-{max(xs):.2f}"


def cmd_report(work):
    t = json.load(open(os.path.join(work, "time.json")))
    print(f"-- {int(os.environ.get('ROWS', 0)):,} rows, seconds, best of runs (spread min-max); python = connect + binary COPY "
          "+ numpy parse + fit + held-out score")
    print(f"{'algorithm':<10} {'mlops.train':>11} {'spread':>11} {'fit only':>9} {'python':>8} {'spread':>11} "
          f"{'fetch':>6} {'fit':>7} {'eval':>5}  {'mlops metric':>12} {'py metric':>10}")
    for k in ALGOS:
        r = t[k]
        pb = min(r["py"], key=lambda p: p["total"])
        mm = r.get("mlops_metric")
        print(f"{k:<10} {best(r['train']):11.2f} {spread(r['train']):>11} {best(r['fit_only']):9.2f} "
              f"{pb['total']:8.2f} {spread([p['total'] for p in r['py']]):>11} {pb['fetch']:6.2f} "
              f"{pb['fit']:7.2f} {pb['eval']:5.2f}  {mm if mm is None else round(mm, 6):>12} {pb['metric']:10.6f}")
    print(f"dataset digest alone (mlops._relation_digest('tr'), the pass log_input makes): "
          f"{best(t['_digest']):.2f} s (spread {spread(t['_digest'])})")
    print()
    for k in ALGOS:
        r = t[k]
        ratio = min(p["total"] for p in r["py"]) / best(r["train"])
        ratio_fit = min(p["total"] for p in r["py"]) / best(r["fit_only"])
        tgt = TARGETS[k]
        verdict = "" if not tgt else (" PASS" if ratio >= tgt else " MISS") + f" (target {tgt:g}x)"
        print(f"ratio {k}: python / mlops.train = {ratio:.2f}x{verdict}; python / fit only = {ratio_fit:.2f}x")
    gp = os.path.join(work, "groups.json")
    if os.path.exists(gp):
        g = json.load(open(gp))
        print()
        print("-- per group: 100 groups of ~10k rows in one call (group_column g); python = one fetch, "
              "then a loop over groups (fit + held-out score)")
        for k, r in g.items():
            pb = min(r["py"], key=lambda p: p["total"])
            ratio = pb["total"] / best(r["train"])
            print(f"ratio groups {k}: mlops.train {best(r['train']):.2f} s (spread {spread(r['train'])}), "
                  f"{r['versions'] // len(r['train'])} versions per call over {r['groups']} groups; python {pb['total']:.2f} s "
                  f"(fetch {pb['fetch']:.2f}, {pb['groups']} fits {pb['fit']:.2f}) = {ratio:.2f}x")
    mp = os.path.join(work, "memory.json")
    if os.path.exists(mp):
        print()
        print(f"-- mlops.train_memory = {TRAIN_MEMORY} for every call below")
        print("-- the backend's private memory during the call (peak RssAnon, polled every 20 ms; a fresh "
              "session per call), MB; VmHWM for reference (it counts the shared buffers the session touched)")
        for m in json.load(open(mp)):
            a = m["after"]
            print(f"memory {m['table']:<6} {m['rows']:>9} rows {m['algo']:<9} {m['seconds']:7.1f} s  "
                  f"peak RssAnon {a.get('RssAnonPeak', 0) / 1024:7.1f}  (at connect {m['before']['RssAnon'] / 1024:.1f})  "
                  f"VmHWM {a['VmHWM'] / 1024:7.1f}")


if __name__ == "__main__":
    cmd, work = sys.argv[1], sys.argv[2]
    if cmd == "time":
        cmd_time(work)
    elif cmd == "groups":
        cmd_groups(work)
    elif cmd == "memory":
        cmd_memory(work, sys.argv[3])
    elif cmd == "report":
        cmd_report(work)
    else:
        sys.exit(f"unknown command {cmd}")
