"""tests/bench/drift_bench.py: the timing half of drift_bench.sh (read its
head comment first).

    drift_bench.py time WORK     time every measurement, check the results
                                 agree, write WORK/times.json
    drift_bench.py report WORK   print the table from WORK/times.json;
                                 exit 1 when a check failed

The cluster is the one drift_bench.sh started (PGHOST, PGPORT, PGUSER,
PGDATABASE in the environment); ROWS, RUNS, SMOKE, SQL_WORK_MEM and ONLY
come from it too.
"""
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import psycopg2
import scipy.stats

FEATURES = [f"c{j}" for j in range(1, 21)]
BINS = 10


def scan_all(cols):
    return "SELECT " + ", ".join(f"count({c})" for c in cols) + " FROM cur"


SQL_PSI = """
SELECT sum((q - p) * ln(q / p)) FROM (
  SELECT coalesce(nullif(r.cnt / sum(r.cnt) OVER (), 0), 1e-4) AS p,
         coalesce(nullif(coalesce(h.n, 0)::float8 / sum(coalesce(h.n, 0)) OVER (), 0), 1e-4) AS q
    FROM unnest((SELECT c.bin_counts FROM mlops.drift_baseline_columns c JOIN mlops.drift_baselines b USING (baseline_id)
                  WHERE b.name = 'base' AND c.column_name = 'c1')) WITH ORDINALITY AS r(cnt, k)
    LEFT JOIN (SELECT width_bucket(c1, (SELECT c.edges FROM mlops.drift_baseline_columns c
                                          JOIN mlops.drift_baselines b USING (baseline_id)
                                         WHERE b.name = 'base' AND c.column_name = 'c1')) + 1 AS k, count(*) AS n
                 FROM cur WHERE c1 = c1 GROUP BY 1) h USING (k)) s"""

# The PSI an analyst writes in SQL from the two tables, with no captured
# baseline: decile edges of ref (percentile_cont is numpy's linear method),
# then counts per bin on both sides (width_bucket: a value on an edge goes up).
SQL_PSI_FULL = """
WITH e AS (SELECT percentile_cont(ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
                  WITHIN GROUP (ORDER BY c1) AS edges FROM ref WHERE c1 = c1),
     r AS (SELECT width_bucket(c1, e.edges) + 1 AS k, count(*) AS n FROM ref, e WHERE c1 = c1 GROUP BY 1),
     c AS (SELECT width_bucket(c1, e.edges) + 1 AS k, count(*) AS n FROM cur, e WHERE c1 = c1 GROUP BY 1)
SELECT sum((q - p) * ln(q / p)) FROM (
  SELECT coalesce(nullif(coalesce(r.n, 0)::float8 / sum(coalesce(r.n, 0)) OVER (), 0), 1e-4) AS p,
         coalesce(nullif(coalesce(c.n, 0)::float8 / sum(coalesce(c.n, 0)) OVER (), 0), 1e-4) AS q
    FROM generate_series(1, 10) k LEFT JOIN r USING (k) LEFT JOIN c USING (k)) s"""

SQL_KS = """
SELECT max(abs(fr - fc)) FROM (
  SELECT sum(u.r) OVER w / a.nr AS fr, sum(1 - u.r) OVER w / b.nc AS fc
    FROM (SELECT c1 AS v, 1 AS r FROM ref UNION ALL SELECT c1, 0 FROM cur) u,
         (SELECT count(c1)::float8 AS nr FROM ref) a, (SELECT count(c1)::float8 AS nc FROM cur) b
  WINDOW w AS (ORDER BY u.v)) s"""

REPORT_QUERY = ("SELECT ARRAY[" + ", ".join(f"mlops.drift_stats_agg((s.{c})::float8, 'base', '{c}')"
                                             for c in FEATURES) + "] FROM cur s")

# key -> (group, SQL, what it is); the group orders the table
SQL = {
    "scan1": ("a", "SELECT count(c1) FROM cur", "bare scan of cur.c1"),
    "psi": ("a", "SELECT mlops.psi_agg(c1, 'base', 'c1') FROM cur", "psi_agg(c1)"),
    "scan2": ("b", "SELECT count(v) FROM (SELECT c1 AS v FROM ref UNION ALL SELECT c1 FROM cur) u",
              "bare scan of ref.c1 + cur.c1"),
    "ks": ("b", "SELECT (mlops.ks_2samp_agg(c1, 'base', 'c1')).* FROM cur", "ks_2samp_agg(c1)"),
    "scan20": ("c", scan_all(FEATURES), "bare scan of cur.c1..c20"),
    "report": ("c", "SELECT feature, statistic, stats FROM mlops.drift_report('base', 'cur')",
               "drift_report (20 features)"),
    "sql_psi": ("d", SQL_PSI, "PSI in SQL (width_bucket, stored edges)"),
    "sql_psi_full": ("d", SQL_PSI_FULL, "PSI in SQL from both tables (percentile_cont)"),
    "sql_ks": ("d", SQL_KS, "KS in SQL (window over both samples)"),
    # components
    "psi_1": ("e", "SELECT mlops.psi_agg(c1, 'base', 'c1') FROM cur1", "psi_agg on 1 row (fixed cost)"),
    "ks_1": ("e", "SELECT (mlops.ks_2samp_agg(c1, 'base', 'c1')).* FROM cur1", "ks_2samp_agg on 1 row"),
    "stats_1": ("e", "SELECT mlops.drift_stats_agg(c1, 'base', 'c1') FROM cur1", "drift_stats_agg on 1 row"),
    "js": ("e", "SELECT mlops.js_distance_agg(c1, 'base', 'c1') FROM cur", "js_distance_agg(c1)"),
    "wass": ("e", "SELECT mlops.wasserstein_agg(c1, 'base', 'c1') FROM cur", "wasserstein_agg(c1)"),
    "stats_c1": ("e", "SELECT mlops.drift_stats_agg(c1, 'base', 'c1') FROM cur", "drift_stats_agg(c1)"),
    "report_q": ("e", REPORT_QUERY, "drift_report's SELECT, by hand"),
}
PY_KEYS = {
    "py_psi": "Python: COPY ref.c1, cur.c1 + numpy PSI",
    "py_ks": "Python: COPY ref.c1, cur.c1 + scipy ks_2samp",
    "py_report": "Python: 20 features, ks + wasserstein + PSI",
}
SETTINGS = {"par": [], "ser": ["SET max_parallel_workers_per_gather = 0"]}
# measured RUNS_SLOW times (default 1) without a warm-up: seconds each, and
# their caches are the ones the other queries warm
SLOW = {"sql_ks", "report_q", "py_report"}

# (name, mlops key, baseline key, max ratio or None, min speed-up or None)
TARGETS = [
    ("a", "psi", "scan1", 1.5, None),
    ("b", "ks", "scan2", 3.0, None),
    ("c", "report", "scan20", 3.0, None),
    ("d", "psi", "sql_psi", None, 3.0),
    ("d", "psi", "sql_psi_full", None, 3.0),
    ("d", "psi", "py_psi", None, 3.0),
    ("d", "ks", "sql_ks", None, 3.0),
    ("d", "ks", "py_ks", None, 3.0),
    ("d", "report", "py_report", None, 3.0),
]


# ---------------------------------------------------------------------------
# The external job
# ---------------------------------------------------------------------------
def copy_columns(conn, table, cols):
    """Binary COPY of float8 columns without NULLs, parsed with numpy."""
    import io
    buf = io.BytesIO()
    with conn.cursor() as cur:
        cur.copy_expert(f"COPY (SELECT {', '.join(cols)} FROM {table}) TO STDOUT (FORMAT binary)", buf)
    data = buf.getbuffer()
    # 19-byte header, then per tuple int16 count + per field int32 length + 8 bytes; -1 trailer
    dt = np.dtype([("n", ">i2")] + [x for c in cols for x in ((c + "_len", ">i4"), (c, ">f8"))])
    body = np.frombuffer(data, dtype=dt, offset=19, count=(len(data) - 21) // dt.itemsize)
    assert (body["n"] == len(cols)).all() and all((body[c + "_len"] == 8).all() for c in cols)
    return {c: body[c].astype(np.float64) for c in cols}


def np_psi(ref, cur, bins=BINS):
    edges = np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.concatenate(([-np.inf], edges, [np.inf]))
    r, _ = np.histogram(ref, edges)
    c, _ = np.histogram(cur, edges)
    p = r / r.sum()
    q = c / c.sum()
    p = np.where(p == 0, 1e-4, p)
    q = np.where(q == 0, 1e-4, q)
    return float(np.sum((q - p) * np.log(q / p)))


def job(kind, cols):
    """One run of the external job, end to end from connect: (seconds, fetch seconds, results)."""
    t0 = time.perf_counter()
    conn = psycopg2.connect("")
    ref = copy_columns(conn, "ref", cols)
    cur = copy_columns(conn, "cur", cols)
    conn.close()
    t1 = time.perf_counter()
    out = {}
    for c in cols:
        if kind in ("psi", "report"):
            out.setdefault(c, {})["psi"] = np_psi(ref[c], cur[c])
        if kind in ("ks", "report"):
            r = scipy.stats.ks_2samp(ref[c], cur[c])
            out.setdefault(c, {}).update(ks_statistic=float(r.statistic), ks_p_value=float(r.pvalue))
        if kind == "report":
            out[c]["wasserstein"] = float(scipy.stats.wasserstein_distance(ref[c], cur[c]))
    t2 = time.perf_counter()
    return t2 - t0, t1 - t0, out


# ---------------------------------------------------------------------------
def connect(setting):
    conn = psycopg2.connect("")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"SET work_mem = '{os.environ.get('SQL_WORK_MEM', '256MB')}'")
        for s in SETTINGS[setting]:
            cur.execute(s)
    return conn


CPU_SQL = "SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1)::bigint"


def backend_cpu(conn):
    """The backend's CPU time so far, in seconds (/proc/<pid>/schedstat, ns)."""
    with conn.cursor() as cur:
        cur.execute(CPU_SQL)
        return cur.fetchone()[0] / 1e9


def run_sql(conn, sql, cpu=None):
    """Run sql; its wall time and rows; with cpu (a list), append the backend's CPU time too."""
    c0 = backend_cpu(conn) if cpu is not None else 0
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    t = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(backend_cpu(conn) - c0)
    return t, rows


def close(a, b, rel):
    return a is not None and b is not None and abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def cmd_time(work):
    runs = int(os.environ.get("RUNS", "3"))
    runs_slow = min(runs, int(os.environ.get("RUNS_SLOW", "1")))
    only = [k for k in os.environ.get("ONLY", "").split(",") if k]
    sql_keys = [k for k in SQL if not only or k in only]
    py_keys = [k for k in PY_KEYS if not only or k in only]
    conns = {s: connect(s) for s in SETTINGS}
    times = {f"{k}/{s}": [] for k in sql_keys for s in SETTINGS}
    times.update({k: [] for k in py_keys})
    fetch = {k: [] for k in py_keys}
    cpu = {k: [] for k in sql_keys}         # serial runs: the backend's CPU time
    results = {}
    for k in sql_keys:                      # warm-up, untimed; keep the results to check
        if k in SLOW:
            continue
        for s in SETTINGS:
            _, rows = run_sql(conns[s], SQL[k][1])
            results[f"{k}/{s}"] = rows
    for r in range(1, runs + 1):
        line = []
        for k in sql_keys:
            if k in SLOW and r > runs_slow:
                continue
            for s in SETTINGS:
                t, rows = run_sql(conns[s], SQL[k][1], cpu[k] if s == "ser" else None)
                times[f"{k}/{s}"].append(t)
                results.setdefault(f"{k}/{s}", rows)
                line.append(f"{k}/{s} {t:.3f}")
        for k in py_keys:
            if k in SLOW and r > runs_slow:
                continue
            kind = k[3:]
            t, f, out = job(kind, ["c1"] if kind != "report" else FEATURES)
            times[k].append(t)
            fetch[k].append(f)
            results[k] = out
            line.append(f"{k} {t:.3f} (fetch {f:.3f})")
        print(f"==> round {r}: " + ", ".join(line), file=sys.stderr)

    # checks: mlops, SQL and scipy/numpy agree
    checks = []

    def check(what, a, b, rel):
        ok = close(a, b, rel)
        checks.append({"what": what, "a": a, "b": b, "ok": ok})

    if "py_psi" in results:
        py = results["py_psi"]["c1"]["psi"]
        for s in SETTINGS:
            if f"psi/{s}" in results:
                check(f"psi_agg(c1) [{s}] vs numpy", results[f"psi/{s}"][0][0], py, 1e-9)
            if f"sql_psi/{s}" in results:
                check(f"PSI in SQL [{s}] vs numpy", results[f"sql_psi/{s}"][0][0], py, 1e-9)
            if f"sql_psi_full/{s}" in results:
                check(f"PSI in SQL from the tables [{s}] vs numpy", results[f"sql_psi_full/{s}"][0][0], py, 1e-9)
    if "py_ks" in results:
        py = results["py_ks"]["c1"]
        for s in SETTINGS:
            if f"ks/{s}" in results:
                stat, p, method = results[f"ks/{s}"][0]
                check(f"ks_2samp_agg(c1) statistic [{s}] vs scipy", stat, py["ks_statistic"], 1e-12)
                check(f"ks_2samp_agg(c1) p-value ({method}) [{s}] vs scipy", p, py["ks_p_value"], 1e-6)
            if f"sql_ks/{s}" in results:
                check(f"KS in SQL [{s}] vs scipy", results[f"sql_ks/{s}"][0][0], py["ks_statistic"], 1e-12)
    if "py_report" in results:
        py = results["py_report"]
        for s in SETTINGS:
            if f"report/{s}" not in results:
                continue
            bad = []
            for feature, _statistic, stats in results[f"report/{s}"]:
                want = py[feature]
                for key, rel in (("psi", 1e-9), ("ks_statistic", 1e-12), ("ks_p_value", 1e-6), ("wasserstein", 1e-9)):
                    if not close(stats.get(key), want[key], rel):
                        bad.append(f"{feature}.{key} {stats.get(key)!r} vs {want[key]!r}")
            checks.append({"what": f"drift_report [{s}]: 20 x psi, ks statistic, p-value, wasserstein vs numpy/scipy",
                           "a": len(results[f"report/{s}"]), "b": "; ".join(bad[:3]), "ok": not bad})
    drifted = None
    if "report/par" in results:
        drifted = [f for f, _st, stats in results["report/par"] if stats.get("ks_p_value", 1) < 0.05]
    with open(os.path.join(work, "times.json"), "w") as f:
        json.dump({"times": times, "fetch": fetch, "cpu": cpu, "checks": checks, "runs": runs, "runs_slow": runs_slow, "drifted_by_ks": drifted,
                   "rows": int(os.environ.get("ROWS", "0"))}, f)


# ---------------------------------------------------------------------------
def cmd_report(work):
    with open(os.path.join(work, "times.json")) as f:
        d = json.load(f)
    times, fetch = d["times"], d["fetch"]
    med = {k: statistics.median(v) for k, v in times.items() if v}
    best = {k: min(v) for k, v in times.items() if v}

    print(f"Times in seconds: median and best of {d['runs']} run(s) ({d['runs_slow']} for {', '.join(sorted(SLOW))}); 'par' = parallel plans allowed (2 workers),"
          " 'ser' = max_parallel_workers_per_gather = 0;"
          " 'ser CPU' = the backend's CPU time (median, /proc/<pid>/schedstat)")
    print(f"{'key':<10} {'what':<46} {'par med':>8} {'par best':>8} {'ser med':>8} {'ser best':>8} {'ser CPU':>8}")
    group = None
    for k, (g, _sql, what) in SQL.items():
        if f"{k}/par" not in med:
            continue
        if g != group:
            group = g
            print({"a": "-- a) PSI", "b": "-- b) KS", "c": "-- c) report", "d": "-- d) pure SQL",
                   "e": "-- components (where the time goes)"}[g])
        print(f"{k:<10} {what:<46} {med[k + '/par']:8.3f} {best[k + '/par']:8.3f} "
              f"{med[k + '/ser']:8.3f} {best[k + '/ser']:8.3f} {statistics.median(d['cpu'][k]):8.3f}")
    if any(k in med for k in PY_KEYS):
        print("-- d) external Python job (end to end; fetch = connect + binary COPY + numpy parse)")
        for k, what in PY_KEYS.items():
            if k in med:
                print(f"{k:<10} {what:<46} {med[k]:8.3f} {best[k]:8.3f}   fetch {statistics.median(fetch[k]):.3f}")

    print()
    print("Targets (ratios of medians, each mlops figure against its baseline in the same setting):")
    print(f"{'':3} {'mlops':<8} {'vs':<10} {'target':<18} {'par':>8} {'':5} {'ser':>8} {'':5}")
    misses = 0
    for name, m, b, max_ratio, min_speedup in TARGETS:
        cells = []
        for s in SETTINGS:
            mk = f"{m}/{s}"
            bk = b if b in PY_KEYS else f"{b}/{s}"
            if mk not in med or bk not in med:
                cells.append(f"{'-':>8} {'':5}")
                continue
            if max_ratio is not None:
                v = med[mk] / med[bk]
                ok = v <= max_ratio
                cells.append(f"{v:7.2f}x {'PASS' if ok else 'MISS':5}")
            else:
                v = med[bk] / med[mk]
                ok = v >= min_speedup
                cells.append(f"{v:7.1f}x {'PASS' if ok else 'MISS':5}")
            misses += not ok
        target = f"<= {max_ratio}x its time" if max_ratio is not None else f">= {min_speedup}x faster"
        print(f"{name + ')':<3} {m:<8} {b:<10} {target:<18} " + " ".join(cells))
    print(f"({misses} miss(es); (a)-(c): mlops time / baseline time; (d): baseline time / mlops time)")
    cpu = {k: statistics.median(v) for k, v in d["cpu"].items() if v}
    line = []
    for name, m, b, max_ratio, _ in TARGETS:
        if max_ratio is not None and m in cpu and b in cpu:
            line.append(f"{name}) {m} / {b} {cpu[m] / cpu[b]:.2f}x")
    if line:
        print("The same serial ratios in backend CPU time (less noisy on a shared machine): " + ", ".join(line))
    if d.get("drifted_by_ks") is not None:
        print(f"drift_report: KS p < 0.05 for {', '.join(d['drifted_by_ks']) or 'no feature'}"
              " (c1..c8 are shifted in cur)")

    print()
    failed = [c for c in d["checks"] if not c["ok"]]
    print(f"Checks: {len(d['checks']) - len(failed)} of {len(d['checks'])} agree")
    for c in failed:
        print(f"  DISAGREE: {c['what']}: {c['a']!r} vs {c['b']!r}")
    print("(a shared machine: figures are noisy when other work runs; compare ratios, not seconds)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    {"time": cmd_time, "report": cmd_report}[sys.argv[1]](sys.argv[2])
