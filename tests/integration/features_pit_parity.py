#!/usr/bin/python3
"""Helper of features_pit_parity.sh: mlops.build_training_set against a brute-force reference.

  features_pit_parity.py [SEED...]   run the seeds (default all of SEEDS) against the database
                                     the environment names (PGHOST, PGPORT, PGUSER, PGDATABASE, as
                                     tests/lib/testdb.sh leaves them); prints what each seed
                                     exercised and every difference, exits 1 on any

For each seed: random entity rows and four feature views (data generated here, sent by COPY),
small key domains (many ties and duplicates), NULL keys on both sides, NULL created timestamps,
NULL and NaN feature values, microsecond timestamps, entity times put exactly on, 1 us before and
1 us after feature timestamps and ttl bounds, data across the 2026-03-08 DST change with the
session in America/New_York:
  pv1  customer_id; timestamptz ts; created; features f_int, f_float, f_text (in that order)
  pv2  customer_id; timestamptz event_time; no created, no ttl; features by default (g_text, g_int)
  pv3  (store_id, item), composite; source given as a query; created; features h_int, h_float
  pv4  customer_id; timestamp (without time zone) local_ts, compared with the entity time
       converted to New York wall-clock time; features k_int, k_text
build_training_set runs with engine => 'merge' and with engine => 'lateral', and once more with
'merge' on six shuffled copies of the entity rows under work_mem 64kB (batches); each result is
compared row by row (sorted by row_id, a column of the entity source) and value by value with
reference(), which is written from the spec's "Point-in-time semantics" and nothing else: for
each entity row, every row of the view's source with equal keys (NULL never equal) and
T - ttl <= r.ts <= T is a candidate, and the greatest by (ts, created NULLS LAST, features in the
view's order NULLS LAST) wins (NaN greater than every number, as in PostgreSQL).  Values are
compared exactly (floats as the doubles sent; they come back with extra_float_digits = 3).

Must run under Debian's /usr/bin/python3 (python3-psycopg2).
"""
import math
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from io import StringIO
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.extensions

sys.dont_write_bytecode = True

# the runs of each seed: engine, work_mem, copies of the entity rows.  The merge engine takes its
# entity rows in batches (fetched 10,000 at a time) when they pass work_mem x hash_mem_multiplier,
# each batch with its own pass over the view: 6 copies of the entity rows (each copy with its own
# row_ids, all shuffled together: every copy's rows must equal the reference's) under 64kB make
# about three batches.
COPIES = 6
RUNS = (("merge", None, 1), ("lateral", None, 1), ("merge", "64kB", COPIES))
SESSION_TZ = "America/New_York"
NY = ZoneInfo(SESSION_TZ)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US = 1_000_000
HOUR = 3600 * US
DAY = 24 * HOUR
BASE = int((datetime(2026, 3, 4, tzinfo=timezone.utc) - EPOCH).total_seconds()) * US
SPAN = 8 * DAY          # 2026-03-04 .. 2026-03-12 UTC, across the change to EDT on 2026-03-08

N_ENTITY = 3500
N_P1, N_P2, N_P3, N_P4 = 20000, 8000, 15000, 6000
ITEMS = ["a", "b", "ab", "a,b", "", "b|a"]
TEXTS = ["", "a", "b", "B", "ab", "a b", "z"]

# per seed: the ttls (None: no ttl), the request, full_feature_names
SEEDS = {
    11: dict(ttl1=("36 hours", 36 * HOUR), ttl3=("06:00:00", 6 * HOUR), ttl4=(None, None),
             request=["pv1:f_float", "pv2:g_int", "pv3:h_float", "pv1:f_text", "pv4:k_int",
                      "pv3:h_int", "pv2:g_text", "pv1:f_int", "pv4:k_text"],
             full=False),
    22: dict(ttl1=("1 day", DAY), ttl3=(None, None), ttl4=("1 day", DAY),
             request=["pv1:f_text", "pv3:h_float", "pv4:k_text", "pv2:g_text"],
             full=True),
    33: dict(ttl1=("02:00:00.000123", 2 * HOUR + 123), ttl3=("1 day 12:00:00", 36 * HOUR),
             ttl4=("3 days", 3 * DAY),
             service=["pv3:h_int", "pv1:f_float", "pv2:g_int", "pv4:k_int", "pv1:f_int"],
             full=False),
}

# ---------------------------------------------------------------------------
# time helpers (microseconds since 1970-01-01; timestamptz: UTC instants; timestamp: wall clock)
# ---------------------------------------------------------------------------


def utc_dt(us):
    return EPOCH + timedelta(microseconds=us)


def ny_offset(us):
    return int(utc_dt(us).astimezone(NY).utcoffset().total_seconds()) * US


def to_local(us):
    """timestamptz -> timestamp in New York, as PostgreSQL converts with TimeZone set."""
    return us + ny_offset(us)


def from_local(local):
    """a New York wall-clock time -> the instant, or None in the spring gap"""
    for off in (-5 * HOUR, -4 * HOUR):
        u = local - off
        if to_local(u) == local:
            return u
    return None


def fmt_ts(us, tz):
    dt = EPOCH.replace(tzinfo=None) + timedelta(microseconds=us)
    s = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.microsecond:
        s += (".%06d" % dt.microsecond).rstrip("0")
    return s + ("+00" if tz else "")


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.popular = [BASE + self.r.randrange(SPAN) for _ in range(40)]
        self.floats = [self.r.uniform(-100, 100) for _ in range(12)] + [0.0, 1.0, 1e-300, 1e300, 0.1]
        self.created_pool = [BASE + self.r.randrange(SPAN + DAY) for _ in range(8)]

    def maybe(self, p, f):
        return None if self.r.random() < p else f()

    def ts(self):
        x = self.r.random()
        if x < 0.45:
            return BASE + self.r.randrange(SPAN // HOUR) * HOUR
        if x < 0.9:
            return BASE + self.r.randrange(SPAN)
        return self.r.choice(self.popular)

    def created(self):
        return self.maybe(0.2, lambda: self.r.choice(self.created_pool))

    def f_int(self):
        return self.maybe(0.15, lambda: self.r.randrange(4))

    def f_float(self):
        if self.r.random() < 0.02:
            return math.nan
        return self.maybe(0.1, lambda: self.r.choice(self.floats))

    def f_text(self):
        return self.maybe(0.1, lambda: self.r.choice(TEXTS))

    def cust(self, n, sparse=0.0):
        """a customer id: 0..n-1 (dense, many rows per key), or 1000..1999 (sparse, a few)"""
        if self.r.random() < sparse:
            return 1000 + self.r.randrange(1000)
        return self.maybe(0.03, lambda: self.r.randrange(n))

    def store(self, n, sparse=0.0):
        if self.r.random() < sparse:
            return 1000 + self.r.randrange(1000)
        return self.maybe(0.03, lambda: self.r.randrange(n))

    def item(self):
        return self.maybe(0.03, lambda: self.r.choice(ITEMS))


def make_data(seed, cfg):
    g = Gen(seed)
    r = g.r
    p1 = [(g.cust(60, 0.3), g.maybe(0.01, g.ts), g.created(), g.f_int(), g.f_float(), g.f_text())
          for _ in range(N_P1)]
    p2 = [(g.cust(60, 0.3), g.maybe(0.01, g.ts), g.f_text(), g.f_int()) for _ in range(N_P2)]
    p3 = [(g.store(6, 0.3), g.item(), g.maybe(0.01, g.ts), g.created(), g.f_float(), g.f_int())
          for _ in range(N_P3)]
    p4 = []
    for _ in range(N_P4):
        t = g.ts()
        p4.append((g.cust(60, 0.3), None if r.random() < 0.01 else to_local(t), g.f_int(), g.f_text()))
    # entity times: anywhere, on the hour grid, on a feature row's time, on a ttl bound, each
    # also 1 us before and after; on a feature row's time, mostly with that row's key too
    ttl_of = {"p1": cfg["ttl1"][1], "p3": cfg["ttl3"][1], "p4": cfg["ttl4"][1]}
    with_ttl = [k for k, v in ttl_of.items() if v is not None]
    srcs = {"p1": p1, "p2": p2, "p3": p3, "p4": p4}
    entity = []
    for row_id in range(1, N_ENTITY + 1):
        cust, store, item = g.cust(70), g.store(7), g.item()
        x = r.random()
        d = r.choice((-1, 0, 0, 1))
        if x < 0.02:
            t = None
        elif x < 0.20:
            t = BASE + r.randrange(SPAN + DAY)
        elif x < 0.35:
            t = BASE + r.randrange(SPAN // HOUR + 24) * HOUR
        elif x < 0.93:
            name = r.choice(("p1", "p2", "p3", "p4")) if x < 0.6 else r.choice(with_ttl)
            ttl = 0 if x < 0.6 else ttl_of[name]
            row = r.choice(srcs[name])
            if name == "p3":
                t = row[2]
                if r.random() < 0.8:
                    store, item = row[0], row[1]
            else:
                t = row[1]
                if name == "p4":
                    t = None if t is None else from_local(t + ttl)
                    ttl = 0
                if r.random() < 0.8:
                    cust = row[0]
            t = None if t is None else t + ttl + d
        else:
            t = r.choice(g.popular) + d
        note = r.choice(["x", "y", None])
        entity.append((row_id, cust, store, item, t, note))
        if r.random() < 0.02:       # a duplicate entity row (row_id too)
            entity.append(entity[-1])
    r.shuffle(entity)
    return dict(p1=p1, p2=p2, p3=p3, p4=p4, entity=entity)


# ---------------------------------------------------------------------------
# the reference, from the spec
# ---------------------------------------------------------------------------


def nulls_last(v):
    """ORDER BY v DESC NULLS LAST as a max() key: NULL lowest, NaN highest (PostgreSQL floats)"""
    if v is None:
        return (0,)
    if isinstance(v, float) and math.isnan(v):
        return (2,)
    return (1, v)


class View:
    """keys: positions in the source row; ts, created: positions; features: name -> position,
    in the view's feature order; ttl in microseconds or None; local: timestamp without time zone"""

    def __init__(self, name, rows, keys, ts, created, features, ttl, local=False):
        self.name, self.rows, self.keys, self.ts, self.created = name, rows, keys, ts, created
        self.features, self.ttl, self.local = features, ttl, local
        # rows by key (SQL equality: a row with a NULL key equals nothing), to keep the loop short
        self.by_key = {}
        for r in rows:
            k = tuple(r[i] for i in keys)
            if None not in k:
                self.by_key.setdefault(k, []).append(r)

    def order_key(self, row):
        k = [row[self.ts], nulls_last(row[self.created]) if self.created is not None else (0,)]
        k.extend(nulls_last(row[p]) for p in self.features.values())
        return tuple(k)


def reference(entity, views, request, stats):
    """one output row per entity row: the entity columns, then the requested features"""
    out = []
    by_name = {v.name: v for v in views}
    for e in entity:
        row_id, cust, store, item, t, note = e
        chosen = {}
        for v in views:
            ekeys = (store, item) if len(v.keys) == 2 else (cust,)
            cands = []
            if t is not None and None not in ekeys:
                tv = to_local(t) if v.local else t
                for r in v.by_key.get(ekeys, ()):
                    if r[v.ts] is None or r[v.ts] > tv:
                        continue
                    if v.ttl is not None and r[v.ts] < tv - v.ttl:
                        continue
                    cands.append(r)
            if t is not None and None not in ekeys and any(
                    r[v.ts] is not None and (r[v.ts] == tv + 1 or (v.ttl is not None and r[v.ts] == tv - v.ttl - 1))
                    for r in v.by_key.get(ekeys, ())):
                stats["a row 1 us outside a bound"] += 1
            if cands:
                best = max(cands, key=v.order_key)
                chosen[v.name] = best
                top = [c for c in cands if c[v.ts] == best[v.ts]]
                stats["with features"] += 1
                if len(top) > 1:
                    stats["ts ties"] += 1
                    if v.created is not None and len({nulls_last(c[v.created]) for c in top}) > 1:
                        stats["decided by created"] += 1
                    if v.created is not None:
                        top = [c for c in top if nulls_last(c[v.created]) == nulls_last(best[v.created])]
                    if len(top) > 1:
                        stats["decided by features"] += 1
                if v.ttl is not None and best[v.ts] == tv - v.ttl:
                    stats["chosen row on the ttl bound"] += 1
                if best[v.ts] == tv:
                    stats["chosen row at T exactly"] += 1
            else:
                stats["no candidate"] += 1
        feats = []
        for ref in request:
            vname, fname = ref.split(":")
            v = by_name[vname]
            r = chosen.get(vname)
            feats.append(None if r is None else r[v.features[fname]])
        out.append((row_id, cust, store, item, t, note, *feats))
    return out


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


def pg_text(v, kind):
    if v is None:
        return "\\N"
    if kind == "tstz":
        return fmt_ts(v, True)
    if kind == "ts":
        return fmt_ts(v, False)
    if kind == "float":
        if math.isnan(v):
            return "NaN"
        return repr(v)
    if kind == "text":
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return str(v)


def copy_rows(cur, table, kinds, rows):
    buf = StringIO()
    for row in rows:
        buf.write("\t".join(pg_text(v, k) for v, k in zip(row, kinds)) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} FROM STDIN", buf)


def canon(v, kind):
    """a value from PostgreSQL's text form or from the reference, to compare exactly"""
    if v is None:
        return None
    if kind == "float":
        f = float(v)
        return "NaN" if math.isnan(f) else f
    if kind == "int":
        return int(v)
    if kind == "tstz" and isinstance(v, int):
        return fmt_ts(v, True)
    return v


def load(cur, seed, cfg, data):
    s = f"_s{seed}"
    cur.execute(f"""
CREATE TABLE p1{s} (customer_id int, ts timestamptz, created timestamptz, f_int int, f_float float8,
                    f_text text COLLATE "C");
CREATE TABLE p2{s} (customer_id int, event_time timestamptz, g_text text COLLATE "C", g_int int);
CREATE TABLE p3{s} (store_id int, item text COLLATE "C", ts timestamptz, created timestamptz,
                    h_float float8, h_int int);
CREATE TABLE p4{s} (customer_id int, local_ts timestamp, k_int int, k_text text COLLATE "C");
CREATE TABLE e{s} (row_id int, customer_id bigint, store_id bigint, item text, event_timestamp timestamptz,
                   note text);
""")
    copy_rows(cur, f"p1{s}", ["int", "tstz", "tstz", "int", "float", "text"], data["p1"])
    copy_rows(cur, f"p2{s}", ["int", "tstz", "text", "int"], data["p2"])
    copy_rows(cur, f"p3{s}", ["int", "text", "tstz", "tstz", "float", "int"], data["p3"])
    copy_rows(cur, f"p4{s}", ["int", "ts", "int", "text"], data["p4"])
    copy_rows(cur, f"e{s}", ["int", "int", "int", "text", "tstz", "text"], data["entity"])
    cur.execute(f"""
CREATE INDEX ON p1{s} (customer_id, ts);
CREATE INDEX ON p2{s} (customer_id, event_time);
CREATE INDEX ON p3{s} (store_id, item, ts);
CREATE INDEX ON p4{s} (customer_id, local_ts);
ANALYZE p1{s}; ANALYZE p2{s}; ANALYZE p3{s}; ANALYZE p4{s}; ANALYZE e{s};
""")
    ttl = lambda t: t[0]     # noqa: E731
    cur.execute("SELECT mlops.create_feature_view(%s, '{cust}', %s, 'ts', features => '{f_int,f_float,f_text}', "
                "ttl => %s::interval, created_timestamp_column => 'created')", (f"pv1{s}", f"p1{s}", ttl(cfg["ttl1"])))
    cur.execute("SELECT mlops.create_feature_view(%s, '{cust}', %s, 'event_time')", (f"pv2{s}", f"p2{s}"))
    cur.execute("SELECT mlops.create_feature_view(%s, '{storeitem}', %s, 'ts', features => '{h_int,h_float}', "
                "ttl => %s::interval, created_timestamp_column => 'created')",
                (f"pv3{s}", f"SELECT store_id, item, ts, created, h_float, h_int FROM p3{s}", ttl(cfg["ttl3"])))
    cur.execute("SELECT mlops.create_feature_view(%s, '{cust}', %s, 'local_ts', ttl => %s::interval)",
                (f"pv4{s}", f"p4{s}", ttl(cfg["ttl4"])))


def run_seed(conn, seed, cfg, failures):
    t0 = time.time()
    s = f"_s{seed}"
    data = make_data(seed, cfg)
    cur = conn.cursor()
    cur.execute("SET TimeZone = %s", (SESSION_TZ,))
    load(cur, seed, cfg, data)
    views = [
        View("pv1", data["p1"], [0], 1, 2, {"f_int": 3, "f_float": 4, "f_text": 5}, cfg["ttl1"][1]),
        View("pv2", data["p2"], [0], 1, None, {"g_text": 2, "g_int": 3}, None),
        View("pv3", data["p3"], [0, 1], 2, 3, {"h_int": 5, "h_float": 4}, cfg["ttl3"][1]),
        View("pv4", data["p4"], [0], 1, None, {"k_int": 2, "k_text": 3}, cfg["ttl4"][1], local=True),
    ]
    request = cfg.get("service") or cfg["request"]
    if "service" in cfg:
        cur.execute("SELECT mlops.create_feature_service(%s, %s::text[])",
                    (f"svc{s}", [f"{r.split(':')[0]}{s}:{r.split(':')[1]}" for r in request]))
        features = [f"svc{s}"]
    else:
        features = [f"{r.split(':')[0]}{s}:{r.split(':')[1]}" for r in request]
    load_s = time.time() - t0

    t0 = time.time()
    stats = {k: 0 for k in ("with features", "no candidate", "ts ties", "decided by created",
                            "decided by features", "chosen row at T exactly", "chosen row on the ttl bound",
                            "a row 1 us outside a bound")}
    want = reference(data["entity"], views, request, stats)
    ref_s = time.time() - t0
    kinds = ["int", "int", "int", "text", "tstz", "text"]
    fkind = {"f_int": "int", "f_float": "float", "f_text": "text", "g_text": "text", "g_int": "int",
             "h_int": "int", "h_float": "float", "k_int": "int", "k_text": "text"}
    kinds += [fkind[r.split(":")[1]] for r in request]
    names = ["row_id", "customer_id", "store_id", "item", "event_timestamp", "note"]
    names += [(f"{r.split(':')[0]}{s}__{r.split(':')[1]}" if cfg["full"] else r.split(":")[1]) for r in request]
    want_c = sorted((tuple(canon(v, k) for v, k in zip(row, kinds)) for row in want), key=row_sort_key)

    n_feat_rows = sum(len(data[p]) for p in ("p1", "p2", "p3", "p4"))
    print(f"seed {seed}: {len(data['entity'])} entity rows, {n_feat_rows} feature rows, "
          f"ttls {cfg['ttl1'][0] or 'none'} / none / {cfg['ttl3'][0] or 'none'} / {cfg['ttl4'][0] or 'none'}, "
          f"{len(request)} features{' (a service)' if 'service' in cfg else ''}"
          f"{', full names' if cfg['full'] else ''}; load {load_s:.1f} s, reference {ref_s:.1f} s")
    print("  reference, over entity rows x views: " + ", ".join(f"{k} {v}" for k, v in stats.items()))

    # the copies: row_id + k * 1,000,000, in an order that mixes them
    cur.execute(f"CREATE TABLE ebig{s} AS SELECT e.row_id + k * 1000000 AS row_id, customer_id, store_id, item, "
                f"event_timestamp, note FROM e{s} e, generate_series(0, {COPIES - 1}) k "
                f"ORDER BY md5(e.row_id::text || '.' || k); ANALYZE ebig{s}")
    want_big = sorted(((row[0] + k * 1000000,) + row[1:] for row in want_c for k in range(COPIES)),
                      key=row_sort_key)

    for engine, mem, copies in RUNS:
        label = engine + (f", work_mem {mem}" if mem else "") + (f", {copies} copies" if copies > 1 else "")
        where = f"seed {seed} [{label}]"
        target = f"ts{s}_{engine}{'_' + mem.lower() if mem else ''}"
        want_rows = want_c if copies == 1 else want_big
        t0 = time.time()
        cur.execute("SET TimeZone = %s", (SESSION_TZ,))
        cur.execute("SET work_mem = %s", (mem or "4MB",))
        cur.execute("SET hash_mem_multiplier = 1")
        scans_before = view_scans(cur, f"p1{s}")
        try:
            cur.execute("SELECT mlops.build_training_set(%s, %s, %s::text[], full_feature_names => %s, "
                        "engine => %s)", (target, f"e{s}" if copies == 1 else f"ebig{s}", features,
                                          cfg["full"], engine))
            n = int(cur.fetchone()[0])
        except psycopg2.Error as e:
            failures.append(f"{where}: build_training_set failed: {e.pgcode} {e.pgerror.strip()}")
            print("  FAIL " + failures[-1])
            continue
        build_s = time.time() - t0
        scans = view_scans(cur, f"p1{s}") - scans_before
        errs = []
        if n != len(want_rows):
            errs.append(f"build_training_set returned {n}, expected {len(want_rows)}")
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute(f'SELECT * FROM "{target}"')
        cols = [d[0] for d in cur.description]
        if cols != names:
            errs.append(f"columns {cols}, expected {names}")
        got_c = sorted((tuple(canon(v, k) for v, k in zip(row, kinds)) for row in cur.fetchall()),
                       key=row_sort_key)
        if len(got_c) != len(want_rows):
            errs.append(f"{len(got_c)} rows in the target, expected {len(want_rows)}")
        bad_rows = diff_rows(got_c, want_rows, names, errs)
        for msg in errs:
            failures.append(f"{where}: {msg}")
            print(f"  FAIL {where}: {msg}")
        print(f"  {label:32s} {'ok  ' if not errs else 'FAIL'} {len(got_c)} rows in {build_s:.1f} s"
              f"{f', {bad_rows} rows differ' if bad_rows else ''}; pv1's source read {scans} times", flush=True)


def view_scans(cur, table):
    """how many times the table was scanned (sequential or index), as the statistics say"""
    cur.execute("SELECT pg_stat_force_next_flush()")
    cur.execute("SELECT pg_stat_clear_snapshot()")
    cur.execute("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                "WHERE relid = %s::regclass", (table,))
    return int(cur.fetchone()[0])


def row_sort_key(row):
    return (row[0], repr(row))


def diff_rows(got, want, names, errs, show=12):
    """rows are sorted by row_id first; pair them by row_id (duplicates are equal rows)"""
    from collections import defaultdict
    g, w = defaultdict(list), defaultdict(list)
    for row in got:
        g[row[0]].append(row)
    for row in want:
        w[row[0]].append(row)
    bad = 0
    for rid in sorted(set(g) | set(w), key=lambda x: (x is None, x or 0)):
        if g[rid] == w[rid]:
            continue
        bad += 1
        if bad <= show:
            gr, wr = g[rid], w[rid]
            if len(gr) != len(wr):
                errs.append(f"row_id {rid}: {len(gr)} rows, expected {len(wr)}")
                continue
            for a, b in zip(gr, wr):
                cols = [f"{names[i]}: got {a[i]!r}, expected {b[i]!r}" for i in range(len(b)) if a[i] != b[i]]
                if cols:
                    errs.append(f"row_id {rid} (customer_id {b[1]}, store_id {b[2]}, item {b[3]!r}, "
                                f"event_timestamp {b[4]}): " + "; ".join(cols))
    if bad > show:
        errs.append(f"... {bad - show} more rows differ")
    return bad


def main():
    seeds = [int(a) for a in sys.argv[1:]] or list(SEEDS)
    start = time.time()
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT array_agg(oid::int) FROM pg_type")
    as_text = psycopg2.extensions.new_type(tuple(cur.fetchone()[0]), "AS_TEXT", lambda v, c: v)
    psycopg2.extensions.register_type(as_text, conn)
    cur.execute("SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3")
    cur.execute("SELECT mlops.create_entity('cust', '{customer_id}')")
    cur.execute("SELECT mlops.create_entity('storeitem', '{store_id,item}')")
    failures = []
    for seed in seeds:
        run_seed(conn, seed, SEEDS[seed], failures)
    print(f"\n{len(seeds)} seeds x runs {'; '.join(e + (' ' + m if m else '') for e, m, _ in RUNS)} "
          f"against the reference, "
          f"{time.time() - start:.1f} s")
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)


if __name__ == "__main__":
    main()
