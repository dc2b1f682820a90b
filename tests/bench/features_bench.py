"""tests/bench/features_bench.py: the timing half of features_bench.sh (read
its head comment first).

    features_bench.py offline WORK   time every training-set method, check
                                     that they give the same rows, write
                                     WORK/offline.json
    features_bench.py report WORK    print the tables from WORK/offline.json
                                     and WORK/online.txt; exit 1 when the
                                     methods disagree
    features_bench.py sql METHOD     print a method's SQL (sql_lateral,
                                     sql_window), for reading or EXPLAIN

The cluster is the one features_bench.sh started (PGHOST, PGPORT, PGUSER,
PGDATABASE in the environment); ROWS, RUNS, TTL_SECONDS, SETTINGS, WORK_MEM,
SMALL_WORK_MEM, JIT, FEATURES, ONLY, VIEW1_CREATED and BASELINES_ONLY come
from it too.
"""
import json
import os
import statistics
import sys
import threading
import time

import psycopg2

ENTITY_SOURCE = "entities"
ENTITY_COLUMNS = ["id", "customer_id", "region", "event_timestamp", "label"]
ENTITY_TS = "event_timestamp"
# The two views as features_bench.sh defines them (mlops.create_feature_view).
VIEWS = [
    {"name": "customer_stats", "table": "customer_stats", "keys": ["customer_id"], "ts": "event_ts",
     "created": "created_ts" if os.environ.get("VIEW1_CREATED") == "1" else None,
     "features": ["f_spend", "f_ratio", "f_score", "f_orders"]},
    {"name": "customer_region_stats", "table": "customer_region_stats", "keys": ["customer_id", "region"],
     "ts": "event_ts", "created": "created_ts", "features": ["r_spend", "r_visits"]},
]


def ttl_seconds():
    s = os.environ.get("TTL_SECONDS", "")
    return int(s) if s else None


# ---------------------------------------------------------------------------
# The baselines
# ---------------------------------------------------------------------------
def sql_lateral():
    """The hand-written point-in-time join: one LEFT JOIN LATERAL per view,
    ORDER BY event_ts DESC LIMIT 1 on its (keys, event_ts) index.  (View 2's
    created_ts would only break ties of (keys, event_ts), which the data does
    not have, so it is left out as a user would: the index gives the order.)"""
    ttl = ttl_seconds()
    sel = [f"e.{c}" for c in ENTITY_COLUMNS]
    joins = []
    for n, v in enumerate(VIEWS, 1):
        sel += [f"v{n}.{f}" for f in v["features"]]
        cond = [f"s.{k} = e.{k}" for k in v["keys"]] + [f"s.{v['ts']} <= e.{ENTITY_TS}"]
        if ttl is not None:
            cond.append(f"s.{v['ts']} >= e.{ENTITY_TS} - interval '{ttl} seconds'")
        joins.append(f"LEFT JOIN LATERAL (SELECT {', '.join(v['features'])} FROM {v['table']} s\n"
                     f"                    WHERE {' AND '.join(cond)}\n"
                     f"                    ORDER BY s.{v['ts']} DESC LIMIT 1) v{n} ON true")
    return f"SELECT {', '.join(sel)}\n  FROM {ENTITY_SOURCE} e\n  " + "\n  ".join(joins)


def sql_window():
    """Feast's Postgres offline store query (MULTIPLE_FEATURE_VIEW_POINT_IN_TIME_JOIN,
    feast/infra/offline_stores/contrib/postgres_offline_store/postgres.py),
    rendered by hand for our two views, CTE for CTE: entity_dataframe with
    one text entity_row_unique_id per view (the keys and the entity timestamp
    cast to varchar and concatenated; we put a '|' between the parts, which
    Feast does not, so that the composite keys (1, 12) and (11, 2) stay apart),
    then per view: __entity_dataframe (distinct keys, timestamps and ids),
    __subquery (the view's rows within [min(entity ts) - ttl, max(entity ts)]),
    __base (the join on the keys and the time window), __dedup (views with a
    created timestamp: the latest created per id and event timestamp),
    __latest (ROW_NUMBER() OVER (PARTITION BY id ORDER BY event_timestamp
    DESC, created_timestamp DESC) = 1), __cleaned (base joined back to
    latest), and the final LEFT JOIN of each view's features on its id.  The
    ttl is in seconds, as Feast renders it."""
    ttl = ttl_seconds()
    ids = []
    for v in VIEWS:
        parts = [f'CAST("{k}" AS VARCHAR)' for k in v["keys"]] + [f'CAST("{ENTITY_TS}" AS VARCHAR)']
        sep = " || '|' || "
        ids.append(f'({sep.join(parts)}) AS "{v["name"]}__entity_row_unique_id"')
    ctes = [f"entity_dataframe AS (\n    SELECT *, {ENTITY_TS} AS entity_timestamp,\n        "
            + ",\n        ".join(ids) + f"\n    FROM {ENTITY_SOURCE}\n)"]
    for v in VIEWS:
        n, uid, keys = v["name"], f'"{v["name"]}__entity_row_unique_id"', ", ".join(f'"{k}"' for k in v["keys"])
        created = v["created"]
        ctes.append(f'"{n}__entity_dataframe" AS (\n    SELECT {keys}, entity_timestamp, {uid}\n'
                    f'    FROM entity_dataframe\n    GROUP BY {keys}, entity_timestamp, {uid}\n)')
        sub_where = f'"{v["ts"]}" <= (SELECT MAX(entity_timestamp) FROM entity_dataframe)'
        if ttl is not None:
            sub_where += (f'\n    AND "{v["ts"]}" >= (SELECT MIN(entity_timestamp) FROM entity_dataframe)'
                          f" - {ttl} * interval '1' second")
        ctes.append(f'"{n}__subquery" AS (\n    SELECT "{v["ts"]}" AS event_timestamp,'
                    + (f' "{created}" AS created_timestamp,' if created else "")
                    + f" {keys}, " + ", ".join(f'"{f}" AS "{f}"' for f in v["features"])
                    + f'\n    FROM {v["table"]} AS sub\n    WHERE {sub_where}\n)')
        on = ["subquery.event_timestamp <= entity_dataframe.entity_timestamp"]
        if ttl is not None:
            on.append(f"subquery.event_timestamp >= entity_dataframe.entity_timestamp - {ttl} * interval '1' second")
        on += [f'subquery."{k}" = entity_dataframe."{k}"' for k in v["keys"]]
        ctes.append(f'"{n}__base" AS (\n    SELECT subquery.*, entity_dataframe.entity_timestamp, entity_dataframe.{uid}\n'
                    f'    FROM "{n}__subquery" AS subquery\n    INNER JOIN "{n}__entity_dataframe" AS entity_dataframe\n'
                    f'    ON TRUE\n        AND ' + "\n        AND ".join(on) + "\n)")
        if created:
            ctes.append(f'"{n}__dedup" AS (\n    SELECT {uid}, event_timestamp, MAX(created_timestamp) AS created_timestamp\n'
                        f'    FROM "{n}__base"\n    GROUP BY {uid}, event_timestamp\n)')
        ctes.append(f'"{n}__latest" AS (\n    SELECT event_timestamp,' + (" created_timestamp," if created else "")
                    + f' {uid}\n    FROM (\n        SELECT *,\n            ROW_NUMBER() OVER(\n'
                    f'                PARTITION BY {uid}\n                ORDER BY event_timestamp DESC'
                    + (", created_timestamp DESC" if created else "") + f'\n            ) AS row_number\n'
                    f'        FROM "{n}__base"\n'
                    + (f'        INNER JOIN "{n}__dedup"\n        USING ({uid}, event_timestamp, created_timestamp)\n'
                       if created else "")
                    + "    ) AS sub\n    WHERE row_number = 1\n)")
        ctes.append(f'"{n}__cleaned" AS (\n    SELECT base.*\n    FROM "{n}__base" AS base\n    INNER JOIN "{n}__latest"\n'
                    f'    USING ({uid}, event_timestamp' + (", created_timestamp" if created else "") + ")\n)")
    out = [f'"{c}"' for c in ENTITY_COLUMNS] + [f'"{f}"' for v in VIEWS for f in v["features"]]
    final = f"SELECT {', '.join(out)}\nFROM entity_dataframe"
    for v in VIEWS:
        uid = f'"{v["name"]}__entity_row_unique_id"'
        final += (f'\nLEFT JOIN (\n    SELECT {uid}, ' + ", ".join(f'"{f}"' for f in v["features"])
                  + f'\n    FROM "{v["name"]}__cleaned"\n) AS "{v["name"]}" USING ({uid})')
    return "WITH\n" + ",\n\n".join(ctes) + "\n\n" + final


def build(engine):
    return lambda target: (f"SELECT mlops.build_training_set('{target}', '{ENTITY_SOURCE}', {os.environ['FEATURES']}, "
                           f"engine => '{engine}')")


def ctas(sql):
    return lambda target: f"CREATE TABLE {target} AS\n{sql}"


# key -> (what, statement maker (target table -> SQL), uses mlops' feature functions,
#         settings of its sessions besides the common ones)
METHODS = {
    "merge": ("build_training_set, engine 'merge' (C)", build("merge"), True, []),
    "lateral": ("build_training_set, engine 'lateral' (SQL)", build("lateral"), True, []),
    "sql_lateral": ("hand-written LEFT JOIN LATERAL ... LIMIT 1", ctas(sql_lateral()), False, []),
    # The planner has no statistics for the CTEs' rows and estimates view 2's
    # __base at 3 rows (it has ~400,000 at 1M entity rows), then joins
    # __latest to __base with a nested loop: quadratic, hours at 1M.  With
    # nested loops off it takes hash joins throughout, which only helps the
    # baseline.
    "sql_window": ("Feast's window-function join, in SQL", ctas(sql_window()), False, ["SET enable_nestloop = off"]),
}
SETTINGS = {"par": "SET max_parallel_workers_per_gather = 2", "ser": "SET max_parallel_workers_per_gather = 0"}
# (mlops key, baseline key, min speed-up)
TARGETS = [("merge", "sql_lateral", 2.0), ("merge", "sql_window", 5.0)]
ONLINE_TARGETS = [("vector", "plain", 1.5), ("predict", "plain", 2.0)]


# ---------------------------------------------------------------------------
def connect(setting=None, work_mem=None, extra=()):
    """A session with the settings every method shares (work_mem, jit), a
    parallel setting, and the method's own settings (extra)."""
    conn = psycopg2.connect("")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"SET work_mem = '{work_mem or os.environ.get('WORK_MEM', '256MB')}'")
        cur.execute(f"SET jit = {os.environ.get('JIT', 'off')}")
        for s in ([SETTINGS[setting]] if setting else []) + list(extra):
            cur.execute(s)
    return conn


def one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


class Peak(threading.Thread):
    """Samples a backend's RssAnon (kB, /proc/<pid>/status) every 10 ms: the
    memory it allocated itself (shared buffers are RssShmem)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.path = f"/proc/{pid}/status"
        self.stop = threading.Event()
        self.start_kb = self.read()
        self.peak_kb = self.start_kb

    def read(self):
        try:
            with open(self.path) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self):
        while not self.stop.wait(0.01):
            self.peak_kb = max(self.peak_kb, self.read())

    def finish(self):
        self.stop.set()
        self.join()
        self.peak_kb = max(self.peak_kb, self.read())
        return (self.peak_kb - self.start_kb) / 1024.0


def temp_bytes(monitor):
    return one(monitor, "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")[0]


def cpu_seconds(pid):
    """A process's CPU time so far (/proc/<pid>/schedstat, ns): the backend
    runs on this machine, and we may read it (root or the same user)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return float("nan")


def timed(conn, monitor, sql, target):
    """One run: drop target (untimed), run sql; a dict of wall seconds, the
    backend's CPU seconds, rows, peak RssAnon MB and temporary file MB."""
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {target}")
    pid = one(conn, "SELECT pg_backend_pid()")[0]
    tb0 = temp_bytes(monitor)
    peak = Peak(pid)
    peak.start()
    c0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchone()[0] if cur.description else cur.rowcount
    t = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - c0
    mem = peak.finish()
    one(conn, "SELECT pg_stat_force_next_flush()")   # the temp file counts reach pg_stat_database
    tb1 = temp_bytes(monitor)
    return {"s": t, "cpu": cpu, "rows": rows, "mem_mb": mem, "temp_mb": (tb1 - tb0) / 1048576.0}


def digest(conn, target):
    """(rows, md5 over the sorted rows' text, column names and types, rows without view 1's / view 2's features)"""
    cols = one(conn, f"""SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
                           FROM pg_attribute WHERE attrelid = '{target}'::regclass AND attnum > 0 AND NOT attisdropped""")[0]
    n, md5, miss1, miss2 = one(conn, f"""SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY t::text)),
                                                count(*) FILTER (WHERE f_orders IS NULL), count(*) FILTER (WHERE r_visits IS NULL)
                                           FROM {target} t""")
    return {"rows": n, "md5": md5, "columns": cols, "no_view1": miss1, "no_view2": miss2}


def diff_sample(conn, a, b):
    try:
        with conn.cursor() as cur:
            cur.execute(f"(SELECT '{a} only' AS side, * FROM (TABLE {a} EXCEPT ALL TABLE {b}) x LIMIT 3) "
                        f"UNION ALL (SELECT '{b} only', * FROM (TABLE {b} EXCEPT ALL TABLE {a}) y LIMIT 3)")
            return [" | ".join("" if v is None else str(v) for v in r) for r in cur.fetchall()]
    except psycopg2.Error as e:
        return [f"(no row diff: {str(e).strip()})"]


def explain(conn, sql):
    with conn.cursor() as cur:
        cur.execute("EXPLAIN (COSTS OFF) " + sql)
        return [r[0] for r in cur.fetchall()]


def cmd_offline(work):
    runs = int(os.environ.get("RUNS", "3"))
    settings = [s for s in os.environ.get("SETTINGS", "par").split(",") if s]
    only = [k for k in os.environ.get("ONLY", "").split(",") if k]
    baselines_only = os.environ.get("BASELINES_ONLY", "0") == "1"
    keys = [k for k, (_w, _s, uses, _x) in METHODS.items() if (not only or k in only) and not (uses and baselines_only)]
    monitor = connect()
    conns = {(k, s): connect(s, extra=METHODS[k][3]) for k in keys for s in settings}

    # plans (parallel plans allowed), and the SQL the engines run
    plans = {}
    for k in keys:
        if METHODS[k][2]:
            q = one(monitor, f"SELECT mlops.training_set_query('{ENTITY_SOURCE}', {os.environ['FEATURES']}, "
                             f"engine => '{k}')")[0]
        else:
            q = METHODS[k][1]("x")[len("CREATE TABLE x AS\n"):]
        plans[k] = {"sql": q, "plan": explain(conns[(k, settings[0])], q)}

    res = {f"{k}/{s}": [] for k in keys for s in settings}
    for r in range(1, runs + 1):
        for k in keys:
            for s in settings:
                x = timed(conns[(k, s)], monitor, METHODS[k][1](f"ts_{k}_{s}"), f"ts_{k}_{s}")
                res[f"{k}/{s}"].append(x)
                print(f"==> round {r}: {k}/{s} {x['s']:.3f} s (backend CPU {x['cpu']:.3f} s), {x['rows']} rows,"
                      f" peak RssAnon +{x['mem_mb']:.0f} MB, temp {x['temp_mb']:.0f} MB; load {os.getloadavg()[0]:.2f}",
                      file=sys.stderr)

    # memory: one serial merge run with a small work_mem
    small = None
    if "merge" in keys:
        wm = os.environ.get("SMALL_WORK_MEM", "4MB")
        c = connect("ser", wm)
        small = timed(c, monitor, METHODS["merge"][1]("ts_merge_small"), "ts_merge_small")
        small["work_mem"] = wm
        print(f"==> merge/ser with work_mem {wm}: {small['s']:.3f} s, peak RssAnon +{small['mem_mb']:.0f} MB,"
              f" temp {small['temp_mb']:.0f} MB", file=sys.stderr)
        c.close()

    # rows: every method's last table (and the small-work_mem one) against the first
    tables = [f"ts_{k}_{s}" for k in keys for s in settings] + (["ts_merge_small"] if small else [])
    digests = {t: digest(monitor, t) for t in tables}
    ref = tables[0]
    diffs = {}
    for t in tables[1:]:
        if (digests[t]["md5"], digests[t]["columns"]) != (digests[ref]["md5"], digests[ref]["columns"]):
            diffs[t] = diff_sample(monitor, ref, t)
    with open(os.path.join(work, "offline.json"), "w") as f:
        json.dump({"runs": runs, "settings": settings, "keys": keys, "results": res, "small": small,
                   "digests": digests, "reference": ref, "diffs": diffs, "plans": plans,
                   "work_mem": os.environ.get("WORK_MEM", "256MB"), "jit": os.environ.get("JIT", "off")}, f)


# ---------------------------------------------------------------------------
def cmd_report(work):
    with open(os.path.join(work, "offline.json")) as f:
        d = json.load(f)
    res, settings = d["results"], d["settings"]
    print("Plans (EXPLAIN, COSTS OFF, parallel plans allowed):")
    for k in d["keys"]:
        print(f"  {k}: {METHODS[k][0]}" + (f" (its sessions: {'; '.join(METHODS[k][3])})" if METHODS[k][3] else ""))
        if METHODS[k][2]:
            print("    training_set_query: " + " ".join(d["plans"][k]["sql"].split())[:400])
        for line in d["plans"][k]["plan"]:
            print("      " + line)
    print()
    best = {k: min(x["s"] for x in v) for k, v in res.items() if v}
    med = {k: statistics.median(x["s"] for x in v) for k, v in res.items() if v}
    cpu = {k: min(x["cpu"] for x in v) for k, v in res.items() if v}
    print(f"Training set of {d['digests'][d['reference']]['rows']} rows, 2 views, 6 features: wall seconds, best and median"
          f" of {d['runs']} run(s), and the best run's ratio to merge's; cpu = the backend's CPU seconds (best run; parallel"
          f" workers' not counted), less noisy on a shared machine; 'par' = max_parallel_workers_per_gather 2, 'ser' = 0;"
          f" work_mem {d['work_mem']}, jit {d['jit']}; mem = the backend's peak RssAnon growth (workers' not counted),"
          " temp = temporary file MB (max of the runs)")
    print(f"{'key':<12} {'what':<44} {'set':<4} {'best':>8} {'median':>8} {'vs merge':>9} {'cpu':>8} {'vs merge':>9}"
          f" {'mem MB':>7} {'temp MB':>8}")

    def ratio(m, ks, s):
        return f"{m[ks] / m['merge/' + s]:8.2f}x" if f"merge/{s}" in m else f"{'-':>9}"
    for k in d["keys"]:
        for s in settings:
            ks = f"{k}/{s}"
            print(f"{k:<12} {METHODS[k][0]:<44} {s:<4} {best[ks]:8.3f} {med[ks]:8.3f} {ratio(best, ks, s)} "
                  f"{cpu[ks]:8.3f} {ratio(cpu, ks, s)} "
                  f"{max(x['mem_mb'] for x in res[ks]):7.0f} {max(x['temp_mb'] for x in res[ks]):8.0f}")
    if d["small"]:
        sm = d["small"]
        print(f"{'merge':<12} {'the same, serial, work_mem ' + sm['work_mem']:<44} {'ser':<4} {sm['s']:8.3f} {'':8} {'':9} "
              f"{sm['cpu']:8.3f} {'':9} {sm['mem_mb']:7.0f} {sm['temp_mb']:8.0f}")
    if "sql_lateral/" + settings[0] in best and "sql_window/" + settings[0] in best:
        print("window / LATERAL (the baselines against each other): "
              + ", ".join(f"{s} {best['sql_window/' + s] / best['sql_lateral/' + s]:.2f}x" for s in settings))

    print()
    print("Targets (baseline time / merge time, best runs; the same in backend CPU time in brackets):")
    misses = 0
    for m, b, speedup in TARGETS:
        cells = []
        for s in settings:
            if f"{m}/{s}" in best and f"{b}/{s}" in best:
                v = best[f"{b}/{s}"] / best[f"{m}/{s}"]
                ok = v >= speedup
                misses += not ok
                cells.append(f"{s} {v:6.2f}x {'PASS' if ok else 'MISS'} (cpu {cpu[f'{b}/{s}'] / cpu[f'{m}/{s}']:.2f}x)")
            else:
                cells.append(f"{s} -")
        print(f"  {m} vs {b:<12} >= {speedup}x faster:  " + "   ".join(cells))

    online = os.path.join(work, "online.txt")
    if os.path.exists(online) and os.path.getsize(online):
        rounds = {}
        for line in open(online):
            k, _r, tps, lat = line.split()
            rounds.setdefault(k, []).append((float(tps), float(lat)))
    else:
        rounds = {}
    if all(k in rounds for k in ("plain", "vector", "predict")):
        print()
        n = len(rounds["plain"])
        print(f"Online, single entity (pgbench -c 1 -M prepared, {n} round(s) of each script, round-robin): median tps"
              " and latency; 'vs plain' = the median over rounds of the latency over plain's in the same round"
              " (steadier than a ratio of medians when other work comes and goes)")
        print(f"{'key':<13} {'tps':>9} {'latency ms':>11} {'vs plain':>9}")
        lat = {k: statistics.median(x[1] for x in v) for k, v in rounds.items()}
        rel = {k: statistics.median(x[1] / p[1] for x, p in zip(v, rounds["plain"])) for k, v in rounds.items()}
        for k, v in rounds.items():
            print(f"{k:<13} {statistics.median(x[0] for x in v):9.0f} {lat[k]:11.4f} {rel[k]:8.2f}x"
                  f"   rounds: {', '.join(f'{x[0]:.0f}' for x in v)} tps")
        for m, b, limit in ONLINE_TARGETS:
            v = rel[m]
            ok = v <= limit
            misses += not ok
            print(f"  {m} latency <= {limit}x {b}'s: {v:.2f}x {'PASS' if ok else 'MISS'}"
                  f" (ratio of the medians: {lat[m] / lat[b]:.2f}x)")
    print(f"({misses} miss(es))")

    print()
    print("Rows (count, md5 over the sorted rows, rows without view 1's / view 2's features):")
    ref = d["digests"][d["reference"]]
    print(f"  columns: {ref['columns']}")
    bad = 0
    for t, g in d["digests"].items():
        same = g["md5"] == ref["md5"] and g["columns"] == ref["columns"]
        bad += not same
        print(f"  {t:<22} {g['rows']:>9} {g['md5']}  {g['no_view1']:>7} {g['no_view2']:>7}  "
              + ("same" if same else "DIFFERENT" + ("" if g["columns"] == ref["columns"] else f" columns: {g['columns']}")))
        for line in d["diffs"].get(t, []):
            print(f"      {line}")
    print("Checks: " + ("all methods give the same rows" if not bad else f"{bad} table(s) differ from {d['reference']}"))
    print("(a shared machine: figures are noisy when other work runs; compare ratios, not seconds)")
    sys.exit(1 if bad else 0)


def cmd_sql(method):
    print({"sql_lateral": sql_lateral, "sql_window": sql_window}[method]())


if __name__ == "__main__":
    {"offline": cmd_offline, "report": cmd_report, "sql": cmd_sql}[sys.argv[1]](sys.argv[2])
