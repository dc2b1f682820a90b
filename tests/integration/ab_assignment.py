#!/usr/bin/python3
"""Helper of ab_assignment.sh: GrowthBook assignment (mlops.ab_hash, ab_bucket_ranges,
ab_equal_weights, ab_choose_variation, ab_in_namespace) against GrowthBook's published test
cases and against a reference implementation written here.

  ab_assignment.py [SECTION...]   run the sections (default all: cases reference pysdk
                                  encodings uniformity errors) against the database the
                                  environment names (PGHOST, PGPORT, PGUSER, PGDATABASE, as
                                  tests/lib/testdb.sh leaves them); prints what it checked and
                                  every failure, exits 1 on any failure

The reference (js_* below) is written from the description of the JavaScript SDK's algorithms,
not from mlops's C: FNV-1a 32 over the UTF-16 code units of a string (str.encode('utf-16-le'),
two bytes a unit), hash v1 = (fnv(value + seed) % 1000) / 1000, v2 = (fnv(str(fnv(seed +
value))) % 10000) / 10000, None for any other version; getEqualWeights; getBucketRanges with
coverage clamped to [0, 1], equal weights when weights are missing, of another length or sum
(left to right, one addition at a time, as Array.reduce does) outside [0.99, 1.01], and ranges
built by adding the weights left to right; chooseVariation, the first [start, end) holding the
hash or -1; inNamespace, hash('__' + namespace, id, 1) in [start, end).  py_* is the same with
GrowthBook's Python SDK's FNV, which hashes code points (ord()).

Floats are compared bit for bit (struct.pack('<d')): PostgreSQL 15 prints float8 in the
shortest form that reads back exactly (extra_float_digits = 1) and psycopg2 sends a Python
float as repr(), so both directions are exact.

Must run under Debian's /usr/bin/python3 (python3-scipy, python3-psycopg2).
"""
import json
import math
import os
import random
import struct
import sys
import time

import psycopg2
import psycopg2.extensions
from scipy import stats

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "data", "growthbook_cases.json")
ALPHA = 0.001           # chi-square level
N_UNIFORM = 1_000_000   # ids in the uniformity section
SE_LIMIT = 4            # shares within this many binomial standard errors

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 16777619


# --------------------------------------------------------------------------
# the reference
# --------------------------------------------------------------------------

def js_fnv1a32(s, h=FNV_OFFSET):
    """FNV-1a 32 over the UTF-16 code units (JavaScript's charCodeAt)."""
    b = s.encode("utf-16-le")
    for i in range(0, len(b), 2):
        h = ((h ^ (b[i] | (b[i + 1] << 8))) * FNV_PRIME) & 0xFFFFFFFF
    return h


def py_fnv1a32(s, h=FNV_OFFSET):
    """FNV-1a 32 over code points, as GrowthBook's Python SDK does (ord())."""
    for ch in s:
        h = ((h ^ ord(ch)) * FNV_PRIME) & 0xFFFFFFFF
    return h


def gb_hash(seed, value, version, fnv=js_fnv1a32):
    if version == 2:
        return (fnv(str(fnv(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv(value + seed) % 1000) / 1000
    return None


def js_hash(seed, value, version):
    return gb_hash(seed, value, version, js_fnv1a32)


def py_hash(seed, value, version):
    return gb_hash(seed, value, version, py_fnv1a32)


def js_equal_weights(n):
    return [] if n <= 0 else [1 / n] * n


def left_sum(ws):
    """Array.reduce((acc, w) => acc + w, 0): left to right (not Python 3.12's compensated sum())"""
    t = 0.0
    for w in ws:
        t = t + w
    return t


def js_bucket_ranges(n, coverage=1.0, weights=None):
    """getBucketRanges; coverage None stands for the SDK's default (1)."""
    if coverage is None:
        coverage = 1.0
    if coverage < 0:
        coverage = 0.0
    elif coverage > 1:
        coverage = 1.0
    equal = js_equal_weights(n)
    if weights is None or len(weights) != n:
        weights = equal
    total = left_sum(weights)
    if total < 0.99 or total > 1.01:
        weights = equal
    ranges = []
    cumulative = 0.0
    for w in weights:
        start = cumulative
        cumulative = cumulative + w
        ranges.append([start, start + coverage * w])
    return ranges


def js_choose_variation(h, ranges):
    for i, (a, b) in enumerate(ranges):
        if a <= h < b:
            return i
    return -1


def js_in_namespace(unit, namespace, start, end):
    h = js_hash("__" + namespace, unit, 1)
    return start <= h < end


# --------------------------------------------------------------------------
# bookkeeping
# --------------------------------------------------------------------------

def bits(x):
    return None if x is None else struct.pack("<d", float(x))


def same_float(a, b):
    """bit for bit, except that every NaN is the same NaN (the server prints them all as 'NaN')"""
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return bits(a) == bits(b)


def same_ranges(a, b):
    if a is None or b is None:
        return a is None and b is None
    fa = [x for r in a for x in r]
    fb = [x for r in b for x in r]
    return len(a) == len(b) and all(len(r) == 2 for r in a) and all(len(r) == 2 for r in b) \
        and len(fa) == len(fb) and all(same_float(x, y) for x, y in zip(fa, fb))


def sdk_round(x):
    """json.test.ts's round(): Math.floor(n * 1e8) / 1e8"""
    return math.floor(x * 1e8) / 1e8


class Checks:
    def __init__(self):
        self.n = 0
        self.failures = []

    def ok(self, cond, where, msg=""):
        self.n += 1
        if not cond:
            self.failures.append(f"{where}: {msg}")
            print(f"  FAIL {where}: {msg}", flush=True)
        return cond


C = Checks()


def connect(dbname=None):
    kw = {"dbname": dbname} if dbname else {}
    conn = psycopg2.connect(**kw)
    conn.autocommit = True
    return conn


def one(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


def sql_hash(cur, seed, value, version):
    return one(cur, "SELECT mlops.ab_hash(%s, %s, %s)", (seed, value, version))


def sql_ranges(cur, n, coverage, weights):
    return one(cur, "SELECT mlops.ab_bucket_ranges(%s, %s::float8, %s::float8[])", (n, coverage, weights))


def sql_choose(cur, h, ranges):
    return one(cur, "SELECT mlops.ab_choose_variation(%s::float8, %s::float8[])", (h, ranges))


def sql_in_ns(cur, unit, ns, start, end):
    return one(cur, "SELECT mlops.ab_in_namespace(%s, %s, %s::float8, %s::float8)", (unit, ns, start, end))


# --------------------------------------------------------------------------
# 1. GrowthBook's cases.json (five sections), replayed
# --------------------------------------------------------------------------

# The two expected values of the fixture that are not the doubles the SDK computes: the SDK's
# own test (json.test.ts) compares these two sections after Math.floor(x * 1e8) / 1e8 on both
# sides, so the file can write 0.04 for 0.2 * 0.2 (0.04000000000000001 in doubles) and
# 0.33333333 for 1 / 3.  For them we check the SDK's rounding against the literal and exact
# equality against the arithmetic written out (independent of the reference); every other
# expected value must be equal bit for bit.
INEXACT_LITERALS = {
    ("getBucketRange", "uneven weights, reduced coverage, 3 variations"): [[0, 0.2 * 0.2], [0.2, 0.2 + 0.2 * 0.3], [0.5, 0.5 + 0.2 * 0.5]],
    ("getEqualWeights", 3): [1 / 3] * 3,
}


def section_cases(cur):
    with open(CASES) as f:
        cases = json.load(f)
    print(f"cases.json: {cases['_source']}")
    failed_before = len(C.failures)
    counts = {}

    for seed, value, version, want in cases["hash"]:
        where = f"hash({seed!r}, {value!r}, {version})"
        got = sql_hash(cur, seed, value, version)
        C.ok(same_float(got, want), where, f"SQL {got!r}, cases.json {want!r}")
        C.ok(same_float(js_hash(seed, value, version), want), where + " [reference]",
             f"reference {js_hash(seed, value, version)!r}, cases.json {want!r}")
    counts["hash"] = len(cases["hash"])

    inexact = []
    for name, (n, coverage, weights), want in cases["getBucketRange"]:
        where = f"getBucketRange {name!r}"
        got = sql_ranges(cur, n, coverage, weights)
        ref = js_bucket_ranges(n, coverage, weights)
        C.ok(same_ranges(got, ref), where, f"SQL {got!r}, reference (the SDK's doubles) {ref!r}")
        rounded = [[sdk_round(x) for x in r] for r in want]
        C.ok([[sdk_round(x) for x in r] for r in got] == rounded, where + " [SDK rounding]",
             f"SQL {got!r}, cases.json {want!r}")
        C.ok([[sdk_round(x) for x in r] for r in ref] == rounded, where + " [reference, SDK rounding]",
             f"reference {ref!r}, cases.json {want!r}")
        key = ("getBucketRange", name)
        if key in INEXACT_LITERALS:
            C.ok(same_ranges(got, INEXACT_LITERALS[key]), where + " [the arithmetic]",
                 f"SQL {got!r}, {INEXACT_LITERALS[key]!r}")
            inexact.append(f"{name}: cases.json {want}, SQL {got}")
        else:
            C.ok(same_ranges(got, want), where + " [exact]", f"SQL {got!r}, cases.json {want!r}")
    counts["getBucketRange"] = len(cases["getBucketRange"])

    for name, h, ranges, want in cases["chooseVariation"]:
        where = f"chooseVariation {name!r}"
        got = sql_choose(cur, h, ranges)
        C.ok(got == want, where, f"SQL {got}, cases.json {want}")
        C.ok(js_choose_variation(h, ranges) == want, where + " [reference]",
             f"reference {js_choose_variation(h, ranges)}, cases.json {want}")
    counts["chooseVariation"] = len(cases["chooseVariation"])

    for name, unit, (ns, start, end), want in cases["inNamespace"]:
        where = f"inNamespace {name!r}"
        got = sql_in_ns(cur, unit, ns, start, end)
        C.ok(got is want, where, f"SQL {got}, cases.json {want}")
        C.ok(js_in_namespace(unit, ns, start, end) is want, where + " [reference]",
             f"reference {js_in_namespace(unit, ns, start, end)}, cases.json {want}")
    counts["inNamespace"] = len(cases["inNamespace"])

    for n, want in cases["getEqualWeights"]:
        where = f"getEqualWeights({n})"
        got = one(cur, "SELECT mlops.ab_equal_weights(%s)", (n,))
        ref = js_equal_weights(n)
        C.ok(len(got) == len(ref) and all(same_float(a, b) for a, b in zip(got, ref)), where,
             f"SQL {got!r}, reference {ref!r}")
        C.ok([sdk_round(x) for x in got] == [sdk_round(x) for x in want], where + " [SDK rounding]",
             f"SQL {got!r}, cases.json {want!r}")
        C.ok([sdk_round(x) for x in ref] == [sdk_round(x) for x in want], where + " [reference, SDK rounding]",
             f"reference {ref!r}, cases.json {want!r}")
        key = ("getEqualWeights", n)
        if key in INEXACT_LITERALS:
            exp = INEXACT_LITERALS[key]
            C.ok(len(got) == len(exp) and all(same_float(a, b) for a, b in zip(got, exp)),
                 where + " [the arithmetic]", f"SQL {got!r}, {exp!r}")
            inexact.append(f"getEqualWeights({n}): cases.json {want}, SQL {got}")
        else:
            C.ok(len(got) == len(want) and all(same_float(a, b) for a, b in zip(got, want)),
                 where + " [exact]", f"SQL {got!r}, cases.json {want!r}")
    counts["getEqualWeights"] = len(cases["getEqualWeights"])

    print("  replayed " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f" ({sum(counts.values())} cases): "
          + ("SQL and the reference match every one" if len(C.failures) == failed_before
             else f"{len(C.failures) - failed_before} FAILURES"))
    print("  literals that are not the SDK's doubles (compared as the SDK's json.test.ts does, "
          "floor(x * 1e8) / 1e8, and exactly to the arithmetic):")
    for line in inexact:
        print(f"    {line}")


# --------------------------------------------------------------------------
# 2. our own vectors: SQL against the reference
# --------------------------------------------------------------------------

IDS = [
    # ASCII, empty, long
    "", "a", "user-1", "user-123456789", "0", "00", " ", "a b\tc\nd", "'quoted'\"", "\\backslash",
    "x" * 10_000, "user-" * 20_000, ("abc123" * 50_000)[:262_144],
    # Latin-1 and other BMP
    "café", "Ñandú", "ÿ", "\u00a0", "Ω≈ç√", "\u00ad",
    # CJK (BMP)
    "中文", "日本語のテキスト", "한국어", "用户-42",
    # combining marks (BMP): é precomposed vs e + U+0301, stacked marks
    "\u00e9", "e\u0301", "a\u0300\u0301\u0302\u0303", "Zalgo\u0336\u0337\u0338",
    # RTL
    "שלום", "مرحبا", "user-\u202eevil", "\u200f\u200e", "עברית123",
    # boundaries of the BMP and of UTF-8 lengths
    "\u007f", "\u0080", "\u07ff", "\u0800", "\ud7ff", "\ue000", "\ufeff", "\ufffd", "\uffff",
    # astral plane: emoji, CJK extension B, first and last code points, mixed
    "😀", "user-😀", "👩\u200d👩\u200d👧", "🇺🇸", "𠀀", "𠜎𠜱𠝹𠱓", "\U00010000", "\U0010ffff",
    "a😀b𝄞c", "😀" * 1000, "中😀\u0301ש",
]
SEEDS = ["", "seed", "exp-2024", "中文", "😀", "e\u0301", "שלום", "x" * 1000, "long-seed-" * 200]


def random_string(rng, n):
    pools = [
        lambda: chr(rng.randint(0x20, 0x7E)),
        lambda: chr(rng.randint(0x80, 0x7FF)),
        lambda: chr(rng.choice([rng.randint(0x800, 0xD7FF), rng.randint(0xE000, 0xFFFF)])),
        lambda: chr(rng.randint(0x300, 0x36F)),           # combining marks
        lambda: chr(rng.randint(0x10000, 0x10FFFF)),      # astral
    ]
    return "".join(rng.choice(pools)() for _ in range(n))


def section_reference(cur):
    # hashes: every seed x id x version, in one query per seed
    n = 0
    for seed in SEEDS:
        for version in (1, 2, 0, 3, 99, -1, None):
            cur.execute("SELECT mlops.ab_hash(%s, v, %s) FROM unnest(%s::text[]) WITH ORDINALITY u(v, i) ORDER BY i",
                        (seed, version, IDS))
            got = [r[0] for r in cur.fetchall()]
            for v, g in zip(IDS, got):
                want = js_hash(seed, v, version) if version is not None else None
                C.ok(same_float(g, want), f"ab_hash({seed[:20]!r}, {v[:20]!r}{'...' if len(v) > 20 else ''}, {version})",
                     f"SQL {g!r}, reference {want!r}")
                n += 1
    # random strings of every kind, both argument orders
    rng = random.Random(20240607)
    seeds = [random_string(rng, rng.randint(0, 12)) for _ in range(2000)]
    vals = [random_string(rng, rng.randint(0, 40)) for _ in range(2000)]
    for version in (1, 2):
        cur.execute("SELECT mlops.ab_hash(s, v, %s) FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY u(s, v, i) ORDER BY i",
                    (version, seeds, vals))
        for s, v, (g,) in zip(seeds, vals, cur.fetchall()):
            want = js_hash(s, v, version)
            C.ok(same_float(g, want), f"ab_hash(random {s!r}, {v!r}, {version})", f"SQL {g!r}, reference {want!r}")
            n += 1
    # seeds changing from row to row within one query (ab_hash keeps the last seed's FNV state
    # for version 2): same length, different bytes; a prefix of the last; back and forth; long
    row_seeds = ["exp-a", "exp-b", "exp-a", "exp-", "exp-ab", "", "exp-a", "中文", "中攵", "x" * 2000,
                 "x" * 1999 + "y", "x" * 2000, "y" * 40, "y" * 40, "exp-a"] * 3
    row_vals = [f"user-{i % 4}" for i in range(len(row_seeds))]
    cur.execute("SELECT mlops.ab_hash(s, v, 2) FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY u(s, v, i) ORDER BY i",
                (row_seeds, row_vals))
    for s, v, (g,) in zip(row_seeds, row_vals, cur.fetchall()):
        C.ok(same_float(g, js_hash(s, v, 2)), f"ab_hash({s[:12]!r}, {v!r}, 2) with the seed changing from row to row",
             f"SQL {g!r}, reference {js_hash(s, v, 2)!r}")
        n += 1
    # a long id stored in a table: compressed and toasted, read through the detoast path
    cur.execute("CREATE TEMP TABLE long_ids (id text)")
    long_ids = ["user-" * 100_000, "中😀" * 50_000, "a\u0301" * 200_000]
    cur.execute("INSERT INTO long_ids SELECT unnest(%s::text[])", (long_ids,))
    stored = one(cur, "SELECT count(*) FROM long_ids WHERE pg_column_size(id) < octet_length(id)")
    C.ok(stored == len(long_ids), "long ids", f"only {stored} of {len(long_ids)} stored compressed")
    for version in (1, 2):
        cur.execute("SELECT id, mlops.ab_hash('seed', id, %s), mlops.ab_in_namespace(id, 'ns', 0, 0.5) FROM long_ids",
                    (version,))
        for v, g, ns in cur.fetchall():
            C.ok(same_float(g, js_hash("seed", v, version)), f"ab_hash(toasted id of {len(v)} chars, {version})",
                 f"SQL {g!r}, reference {js_hash('seed', v, version)!r}")
            C.ok(ns == js_in_namespace(v, "ns", 0, 0.5), f"ab_in_namespace(toasted id of {len(v)} chars)")
            n += 2
    print(f"  ab_hash: {len(IDS)} ids x {len(SEEDS)} seeds x versions 1, 2, 0, 3, 99, -1, NULL, "
          f"4,000 random strings (ASCII, 2- and 3-byte UTF-8, combining marks, astral), seeds changing from row to "
          f"row, 3 toasted ids")

    # bucket ranges: coverage and weights
    x_low = 0.49
    while 0.5 + x_low >= 0.99:
        x_low = math.nextafter(x_low, 0)        # 0.4899999999999999: 0.5 + it is one ulp below 0.99
    x_high = 0.51
    while 0.5 + x_high <= 1.01:
        x_high = math.nextafter(x_high, 1)      # 0.5100000000000001: 0.5 + it is one ulp above 1.01
    weight_cases = [
        # (note, weights): the sum's verdict in doubles, left to right
        ("sum exactly 0.99 (0.5 + 0.49)", [0.5, 0.49], True),
        ("sum exactly 0.99 (0.33 x 3)", [0.33, 0.33, 0.33], True),
        ("sum exactly 0.99 (0.11 x 9)", [0.11] * 9, True),
        ("sum exactly 1.01 (0.5 + 0.51)", [0.5, 0.51], True),
        ("sum exactly 1.01 (0.34 + 0.34 + 0.33)", [0.34, 0.34, 0.33], True),
        ("sum exactly 1.01 (0.101 x 10)", [0.101] * 10, True),
        ("sum one ulp below 0.99", [0.5, x_low], False),
        ("sum one ulp above 1.01", [0.5, x_high], False),
        # decimal sum 0.99 / 1.01, but left to right lands one ulp outside (right to left: on it)
        ("0.06 + 0.57 + 0.36 = 0.9899999999999999 left to right", [0.06, 0.57, 0.36], False),
        ("0.05 + 0.56 + 0.4 = 1.0100000000000002 left to right", [0.05, 0.56, 0.4], False),
        # and the other way round: left to right on the boundary, right to left outside
        ("0.08 + 0.06 + 0.85 = 0.99 left to right (0.9899999999999999 right to left)", [0.08, 0.06, 0.85], True),
        ("0.1 x 10 = 0.9999999999999999", [0.1] * 10, True),
        ("sum 0.98", [0.49, 0.49], False),
        ("sum 1.02", [0.51, 0.51], False),
        ("negative weights summing to 1", [1.5, -0.5], True),
        ("a zero weight", [0.5, 0.0, 0.5], True),
        ("NaN weight (the sum is NaN, which passes both tests)", [0.5, float("nan")], True),
        ("infinite weight", [float("inf"), 0.5], False),
        ("one variation", [1.0], True),
    ]
    nr = 0
    for note, w, accepted in weight_cases:
        for coverage in (1.0, 0.5, 0.2, 0.0, -0.2, -1e-300, 1.5, 1e300, float("nan"), None):
            got = sql_ranges(cur, len(w), coverage, w)
            ref = js_bucket_ranges(len(w), coverage, w)
            C.ok(same_ranges(got, ref), f"ab_bucket_ranges({len(w)}, {coverage}, {w}) [{note}]",
                 f"SQL {got!r}, reference {ref!r}")
            nr += 1
        # the verdict on the sum, stated here rather than taken from the reference: with
        # coverage 1, the ranges are the weights' own (added left to right) or equal ones
        got = sql_ranges(cur, len(w), 1.0, w)
        own, cumulative = [], 0.0
        for x in w:
            own.append([cumulative, cumulative + 1.0 * x])
            cumulative = cumulative + x
        want = own if accepted else js_bucket_ranges(len(w), 1.0, None)
        C.ok(same_ranges(got, want), f"weights {w} [{note}]",
             f"SQL {got!r}, expected the {'weights' if accepted else 'equal weights'}: {want!r}")
    for n, w in [(3, [0.5, 0.5]), (2, [0.2, 0.3, 0.5]), (2, []), (1, [0.5, 0.5]), (4, [0.25] * 3),
                 (0, [1.0]), (-1, [1.0]), (0, []), (-5, None), (3, None), (7, None), (10000, None), (1, None)]:
        for coverage in (1.0, 0.3, -1.0, 2.0, None):
            got = sql_ranges(cur, n, coverage, w)
            ref = js_bucket_ranges(n, coverage, w)
            C.ok(same_ranges(got, ref), f"ab_bucket_ranges({n}, {coverage}, {w if w is None else w[:5]}) [wrong length / no weights]",
                 f"SQL {got!r:.200}, reference {ref!r:.200}")
            nr += 1
    print(f"  ab_bucket_ranges: {nr} calls: sums exactly at 0.99 and 1.01 and one ulp outside, sums whose "
          f"verdict depends on the order of addition, negative / NaN / infinite weights, wrong lengths, "
          f"coverage < 0, 0, > 1, NaN, NULL")

    # equal weights
    for n in list(range(-3, 40)) + [97, 1000, 9999, 10000]:
        got = one(cur, "SELECT mlops.ab_equal_weights(%s)", (n,))
        ref = js_equal_weights(n)
        C.ok(len(got) == len(ref) and all(same_float(a, b) for a, b in zip(got, ref)), f"ab_equal_weights({n})")

    # choose variation, including hashes on range edges and non-finite ones
    nc = 0
    range_sets = [js_bucket_ranges(2), js_bucket_ranges(3), js_bucket_ranges(3, 0.2, [0.2, 0.3, 0.5]),
                  js_bucket_ranges(7, 0.9), js_bucket_ranges(2, 0.0), [[0.5, 1.0], [0.0, 0.5]],
                  [[0, 0.5], [0.5, 0.5], [0.5, 1]], [[0.2, 0.1]], [[0.0, float("inf")]],
                  [[float("nan"), 1.0], [0.0, 1.0]], [[-1.0, 0.0]]]
    hashes = [0.0, -0.0, 0.1, 0.2, 0.25, 0.3333, 1 / 3, 0.5, 0.5 - 2**-53, 0.9999, 1.0, -1e-300,
              float("nan"), float("inf"), float("-inf")]
    for rs in range_sets:
        for h in hashes:
            got = sql_choose(cur, h, rs)
            ref = js_choose_variation(h, rs)
            C.ok(got == ref, f"ab_choose_variation({h}, {rs})", f"SQL {got}, reference {ref}")
            nc += 1
    # every hash v2 can produce (k / 10000), against uneven ranges with edges between them
    rs = js_bucket_ranges(3, 0.77, [0.2, 0.3, 0.5])
    cur.execute("SELECT k, mlops.ab_choose_variation(k / 10000.0::float8, %s::float8[]) FROM generate_series(0, 9999) k ORDER BY k", (rs,))
    for k, got in cur.fetchall():
        C.ok(got == js_choose_variation(k / 10000, rs), f"ab_choose_variation({k / 10000}, {rs})")
        nc += 1
    print(f"  ab_choose_variation: {nc} calls (edges, NaN, infinities, empty, inverted and overlapping ranges, "
          f"every k / 10000)")

    # namespaces
    nn = 0
    for unit in IDS[:30] + ["1", "2", "3", "4", "😀"]:
        for ns in ["namespace1", "", "中文", "😀", "e\u0301"]:
            for start, end in [(0, 0.4), (0.4, 1), (0, 1), (0.5, 0.5), (0.7, 0.2), (0, 0.001)]:
                got = sql_in_ns(cur, unit, ns, start, end)
                C.ok(got == js_in_namespace(unit, ns, start, end), f"ab_in_namespace({unit[:20]!r}, {ns!r}, {start}, {end})")
                nn += 1
    print(f"  ab_in_namespace: {nn} calls")

    # one assignment pipeline over 20,000 ids, against the reference end to end
    rs = js_bucket_ranges(3, 0.9, [0.25, 0.25, 0.5])
    cur.execute("""SELECT g, mlops.ab_choose_variation(mlops.ab_hash('pipeline', 'user-' || g, 2), %s::float8[])
                     FROM generate_series(1, 20000) g ORDER BY g""", (rs,))
    bad = [g for g, v in cur.fetchall() if v != js_choose_variation(js_hash("pipeline", f"user-{g}", 2), rs)]
    C.ok(not bad, "assignment of 20,000 ids", f"{len(bad)} differ, first {bad[:5]}")
    print("  assignment of 20,000 ids (hash v2, 3 uneven variations, coverage 0.9): same variant as the reference")


# --------------------------------------------------------------------------
# 3. the JavaScript SDK (UTF-16 code units, as mlops) against the Python SDK (code points)
# --------------------------------------------------------------------------

def is_astral(s):
    return any(ord(ch) > 0xFFFF for ch in s)


def section_pysdk(cur):
    rng = random.Random(77)
    strings = IDS + SEEDS + [random_string(rng, rng.randint(1, 30)) for _ in range(2000)]
    n_bmp = n_astral = hash_equal_astral = 0
    for s in strings:
        j, p = js_fnv1a32(s), py_fnv1a32(s)
        if is_astral(s):
            n_astral += 1
            C.ok(j != p, f"fnv of astral {s[:20]!r}", "the SDKs agree where they should not")
            hash_equal_astral += js_hash("seed", s, 2) == py_hash("seed", s, 2)
        else:
            n_bmp += 1
            C.ok(j == p, f"fnv of BMP {s[:20]!r}", f"JS {j}, Python {p}")
            for version in (1, 2):
                C.ok(js_hash("seed", s, version) == py_hash("seed", s, version)
                     and js_hash(s, "id", version) == py_hash(s, "id", version),
                     f"hash of BMP {s[:20]!r} v{version}")
    # and mlops follows the JavaScript SDK on the astral ones
    show = ["😀", "user-😀", "𠀀", "a😀b𝄞c", "\U0010ffff"]
    print("  JavaScript SDK (and mlops) against the Python SDK, ab_hash('seed', id, 2):")
    for s in show:
        got = sql_hash(cur, "seed", s, 2)
        C.ok(same_float(got, js_hash("seed", s, 2)), f"ab_hash('seed', {s!r}, 2) follows the JS SDK")
        print(f"    {s!r:18} JS {js_hash('seed', s, 2):<7} Python {py_hash('seed', s, 2):<7} mlops {got}")
    print(f"  {n_bmp} strings without astral characters: the two SDKs' FNV agree on every one (and hash v1, v2 "
          f"as seed and as id); {n_astral} with astral characters: their FNV differs on every one "
          f"(hash v2 still equal by chance on {hash_equal_astral})")


# --------------------------------------------------------------------------
# 4. databases not in UTF-8: ab.c converts to UTF-8 before hashing
# --------------------------------------------------------------------------

# mlops 0.5.0's install script cannot be run in a database that is not UTF-8 (its SQL has
# non-ASCII characters and U&'\FFFD' in drift_report.sql, since 0.3.0), so when CREATE EXTENSION
# fails, the two functions are declared by hand over the same library, to exercise ab.c's
# conversion (text_utf8) all the same.  The failure is reported, not counted: it is not ab.c's.
HAND_MADE = [
    "CREATE SCHEMA mlops",
    "CREATE FUNCTION mlops.ab_hash(text, text, int) RETURNS float8 AS '$libdir/mlops', 'mlops_ab_hash' "
    "LANGUAGE C IMMUTABLE STRICT",
    "CREATE FUNCTION mlops.ab_in_namespace(text, text, float8, float8) RETURNS boolean AS '$libdir/mlops', "
    "'mlops_ab_in_namespace' LANGUAGE C IMMUTABLE STRICT",
]


def section_encodings(cur):
    base = os.environ.get("PGDATABASE", "postgres")
    checked, notes = [], []
    for enc, seed, samples in [("LATIN1", "seed-é", ["café", "Ñandú", "ÿ", "a\u00a0b", "«»", "plain"]),
                               ("WIN1252", "seed-€", ["café", "€uro", "\u2014dash", "plain"]),
                               ("EUC_JP", "シード", ["日本語", "ｶﾀｶﾅ", "ひらがな", "plain"]),
                               ("SQL_ASCII", "seed-😀", ["café", "中文", "😀", "e\u0301", "plain"])]:
        db = f"{base}_{enc.lower()}"[:63]
        cur.execute(f'DROP DATABASE IF EXISTS "{db}"')
        cur.execute(f"CREATE DATABASE \"{db}\" TEMPLATE template0 ENCODING '{enc}' LC_COLLATE 'C' LC_CTYPE 'C'")
        try:
            conn = connect(db)
            conn.set_client_encoding("UTF8")
            c2 = conn.cursor()
            try:
                c2.execute("CREATE EXTENSION mlops")
                how = "the extension"
            except psycopg2.Error as e:
                notes.append(f"{enc}: CREATE EXTENSION mlops fails: {e.pgcode} {e.pgerror.strip().splitlines()[0]}")
                for stmt in HAND_MADE:
                    c2.execute(stmt)
                how = "hand-made declarations"
            for s in samples:
                for version in (1, 2):
                    got = sql_hash(c2, seed, s, version)
                    want = js_hash(seed, s, version)
                    C.ok(same_float(got, want), f"ab_hash in a {enc} database, {s!r} v{version}",
                         f"SQL {got}, reference {want}")
                got = sql_in_ns(c2, s, seed, 0, 0.5)
                C.ok(got == js_in_namespace(s, seed, 0, 0.5), f"ab_in_namespace in a {enc} database, {s!r}")
            conn.close()
            checked.append(f"{enc} ({len(samples)} ids, {how})")
        finally:
            cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    print(f"  databases in {', '.join(checked)}: the same hashes as the reference")
    for n in notes:
        print(f"  note (not counted, not ab.c's): {n}")


# --------------------------------------------------------------------------
# 5. uniformity over 1M ids
# --------------------------------------------------------------------------

def counts(cur, seed, ranges_sql, n=N_UNIFORM):
    cur.execute(f"""SELECT v, count(*) FROM (
                      SELECT mlops.ab_choose_variation(mlops.ab_hash(%s, 'user-' || g, 2), r.ranges) AS v
                        FROM generate_series(1, {n}) g, (SELECT {ranges_sql} AS ranges) r) s
                     GROUP BY v ORDER BY v""", (seed,))
    return dict(cur.fetchall())


def within_se(where, k, n, p):
    se = math.sqrt(p * (1 - p) / n)
    z = (k / n - p) / se
    C.ok(abs(z) <= SE_LIMIT, where, f"share {k / n:.5f}, target {p}, {z:+.2f} SE")
    return z


def section_uniformity(cur):
    cur.execute("SET max_parallel_workers_per_gather = 0")
    n = N_UNIFORM
    t0 = time.time()
    # 50/50
    c = counts(cur, "exp-50-50", "mlops.ab_bucket_ranges(2, 1, '{0.5,0.5}')")
    C.ok(set(c) == {0, 1} and sum(c.values()) == n, "50/50 variants", f"{c}")
    chi2, p = stats.chisquare([c.get(0, 0), c.get(1, 0)])
    C.ok(p > ALPHA, "50/50 chi-square", f"counts {c}, chi2 {chi2:.3f}, p {p:.3g}")
    z = within_se("50/50 share of variant 0", c.get(0, 0), n, 0.5)
    print(f"  50/50, {n:,} ids 'user-1'..: counts {c.get(0)} / {c.get(1)}, chi2 {chi2:.3f}, p {p:.3f}, "
          f"variant 0 at {z:+.2f} SE")

    # 0.2 / 0.3 / 0.5
    target = [0.2, 0.3, 0.5]
    c = counts(cur, "exp-uneven", "mlops.ab_bucket_ranges(3, 1, '{0.2,0.3,0.5}')")
    obs = [c.get(i, 0) for i in range(3)]
    C.ok(sum(obs) == n, "0.2/0.3/0.5 variants", f"{c}")
    chi2, p = stats.chisquare(obs, [t * n for t in target])
    C.ok(p > ALPHA, "0.2/0.3/0.5 chi-square", f"counts {obs}, chi2 {chi2:.3f}, p {p:.3g}")
    zs = [within_se(f"0.2/0.3/0.5 share of variant {i}", obs[i], n, target[i]) for i in range(3)]
    print(f"  0.2/0.3/0.5: counts {obs}, chi2 {chi2:.3f}, p {p:.3f}, shares at "
          + ", ".join(f"{z:+.2f}" for z in zs) + " SE")

    # coverage 0.4: 40% in the test, split 50/50
    c = counts(cur, "exp-coverage", "mlops.ab_bucket_ranges(2, 0.4)")
    inside = c.get(0, 0) + c.get(1, 0)
    C.ok(set(c) <= {-1, 0, 1} and sum(c.values()) == n, "coverage 0.4 variants", f"{c}")
    z = within_se("coverage 0.4: share in the test", inside, n, 0.4)
    chi2, p = stats.chisquare([c.get(0, 0), c.get(1, 0)])
    C.ok(p > ALPHA, "coverage 0.4: split inside the test", f"{c}, p {p:.3g}")
    print(f"  coverage 0.4: {inside:,} of {n:,} in the test ({inside / n:.4f}, {z:+.2f} SE), "
          f"split {c.get(0)} / {c.get(1)} (p {p:.3f}), {c.get(-1)} outside")

    # two experiments with different seeds assign independently (hash v2's purpose)
    cur.execute(f"""SELECT a, b, count(*) FROM (
                      SELECT mlops.ab_choose_variation(mlops.ab_hash('exp-A', 'user-' || g, 2), r.ranges) a,
                             mlops.ab_choose_variation(mlops.ab_hash('exp-B', 'user-' || g, 2), r.ranges) b
                        FROM generate_series(1, {n}) g, (SELECT mlops.ab_bucket_ranges(2) ranges) r) s
                     GROUP BY a, b""")
    table = [[0, 0], [0, 0]]
    for a, b, k in cur.fetchall():
        table[a][b] = k
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    C.ok(p > ALPHA, "independence of two seeds", f"{table}, p {p:.3g}")
    print(f"  seeds exp-A and exp-B (50/50 each): 2 x 2 table {table}, independence chi2 p {p:.3f}")

    # namespaces [0, 0.5) and [0.5, 1) partition the ids
    cur.execute(f"""SELECT count(*) FILTER (WHERE a AND NOT b), count(*) FILTER (WHERE b AND NOT a),
                           count(*) FILTER (WHERE a = b)
                      FROM (SELECT mlops.ab_in_namespace('user-' || g, 'checkout', 0, 0.5) a,
                                   mlops.ab_in_namespace('user-' || g, 'checkout', 0.5, 1) b
                              FROM generate_series(1, {n}) g) s""")
    first, second, both_or_neither = cur.fetchone()
    C.ok(both_or_neither == 0 and first + second == n, "namespace partition",
         f"{first} in [0, 0.5), {second} in [0.5, 1), {both_or_neither} in both or neither")
    z = within_se("namespace [0, 0.5) share", first, n, 0.5)
    print(f"  namespace 'checkout' [0, 0.5) / [0.5, 1): {first:,} / {second:,}, none in both or neither, "
          f"{z:+.2f} SE from half")
    print(f"  ({time.time() - t0:.1f} s)")


# --------------------------------------------------------------------------
# 6. bad input
# --------------------------------------------------------------------------

def expect_error(cur, sql, args, state, where):
    try:
        cur.execute(sql, args)
        r = cur.fetchall()
        C.ok(False, where, f"no error (returned {r!r:.100}), expected SQLSTATE {state}")
    except psycopg2.Error as e:
        C.ok(e.pgcode == state, where, f"SQLSTATE {e.pgcode} ({e.pgerror.strip() if e.pgerror else e}), expected {state}")


def section_errors(cur):
    nulls = [
        ("SELECT mlops.ab_hash(NULL, 'a', 2)", None), ("SELECT mlops.ab_hash('s', NULL, 2)", None),
        ("SELECT mlops.ab_hash('s', 'a', NULL)", None), ("SELECT mlops.ab_hash('s', 'a', 0)", None),
        ("SELECT mlops.ab_hash('s', 'a', 3)", None), ("SELECT mlops.ab_hash('s', 'a', -2)", None),
        ("SELECT mlops.ab_equal_weights(NULL)", None),
        ("SELECT mlops.ab_choose_variation(NULL, '{{0,1}}')", None),
        ("SELECT mlops.ab_choose_variation(0.5, NULL)", None),
        ("SELECT mlops.ab_in_namespace(NULL, 'ns', 0, 1)", None), ("SELECT mlops.ab_in_namespace('u', NULL, 0, 1)", None),
        ("SELECT mlops.ab_in_namespace('u', 'ns', NULL, 1)", None), ("SELECT mlops.ab_in_namespace('u', 'ns', 0, NULL)", None),
        ("SELECT mlops.ab_bucket_ranges(NULL)", None), ("SELECT mlops.ab_bucket_ranges(NULL, 1, '{1}')", None),
        # documented: NULL coverage is the SDK's default (1), NULL weights equal weights
        ("SELECT mlops.ab_bucket_ranges(2, NULL)", [[0, 0.5], [0.5, 1]]),
        ("SELECT mlops.ab_bucket_ranges(2, NULL, NULL)", [[0, 0.5], [0.5, 1]]),
        ("SELECT mlops.ab_bucket_ranges(2, 0.5, NULL)", [[0, 0.25], [0.5, 0.75]]),
        ("SELECT mlops.ab_bucket_ranges(2, NULL, '{0.4,0.6}')", [[0, 0.4], [0.4, 1]]),
        # documented: n <= 0 gives an empty array, an empty ranges array -1
        ("SELECT mlops.ab_bucket_ranges(0)", []), ("SELECT mlops.ab_bucket_ranges(-7, 0.5, '{1}')", []),
        ("SELECT mlops.ab_equal_weights(0)", []), ("SELECT mlops.ab_equal_weights(-2147483648)", []),
        ("SELECT mlops.ab_choose_variation(0.5, '{}')", -1),
        ("SELECT mlops.ab_bucket_ranges(10000) IS NOT NULL", True),
    ]
    for sql, want in nulls:
        got = one(cur, sql)
        ok = same_ranges(got, want) if isinstance(want, list) and want and isinstance(want[0], list) else got == want
        C.ok(ok, sql, f"got {got!r:.100}, expected {want!r}")
    errors = [
        # ranges not n x 2
        ("SELECT mlops.ab_choose_variation(0.5, '{0,0.5,1}')", "2202E"),
        ("SELECT mlops.ab_choose_variation(0.5, '{0}')", "2202E"),
        ("SELECT mlops.ab_choose_variation(0.5, '{{0,0.5,1}}')", "2202E"),
        ("SELECT mlops.ab_choose_variation(0.5, '{{0},{0.5}}')", "2202E"),
        ("SELECT mlops.ab_choose_variation(0.5, '{{0,0.5,0.5,1}}')", "2202E"),
        ("SELECT mlops.ab_choose_variation(0.5, '{{{0,0.5}}}')", "2202E"),
        ("SELECT mlops.ab_choose_variation(0.5, '{{{0,0.5},{0.5,1}}}')", "2202E"),
        # NULL elements
        ("SELECT mlops.ab_choose_variation(0.5, '{{0,NULL}}')", "22004"),
        ("SELECT mlops.ab_choose_variation(0.5, '{{0,0.5},{NULL,1}}')", "22004"),
        ("SELECT mlops.ab_choose_variation(0.5, '{NULL,NULL}')", "22004"),
        ("SELECT mlops.ab_bucket_ranges(2, 1, '{0.5,NULL}')", "22004"),
        ("SELECT mlops.ab_bucket_ranges(2, 1, '{NULL}')", "22004"),
        ("SELECT mlops.ab_bucket_ranges(0, 1, '{NULL}')", "22004"),
        # too many variations
        ("SELECT mlops.ab_bucket_ranges(10001)", "54000"),
        ("SELECT mlops.ab_bucket_ranges(2147483647, 0.5, '{1}')", "54000"),
        ("SELECT mlops.ab_equal_weights(10001)", "54000"),
        ("SELECT mlops.ab_equal_weights(2147483647)", "54000"),
    ]
    for sql, state in errors:
        expect_error(cur, sql, None, state, sql)
    C.ok(one(cur, "SELECT 1") == 1, "the session after the errors")
    print(f"  {len(nulls)} NULL / documented-edge calls, {len(errors)} errors with their SQLSTATEs "
          "(2202E ranges not n x 2, 22004 NULL elements, 54000 more than 10000 variations)")
    # Shapes: ranges must be n x 2 (a flat list of pairs is refused) and weights one-dimensional.
    expect_error(cur, "SELECT mlops.ab_choose_variation(0.7, '{0,0.5,0.5,1}')", None, "2202E",
                 "1-D ranges of pairs")
    expect_error(cur, "SELECT mlops.ab_bucket_ranges(2, 1, '{{0.4,0.6}}')", None, "2202E", "2-D weights")

SECTIONS = {
    "cases": section_cases,
    "reference": section_reference,
    "pysdk": section_pysdk,
    "encodings": section_encodings,
    "uniformity": section_uniformity,
    "errors": section_errors,
}


def main(argv):
    names = argv or list(SECTIONS)
    conn = connect()
    cur = conn.cursor()
    cur.execute("SET extra_float_digits = 1")   # shortest exact output (the default, made explicit)
    for name in names:
        t0 = time.time()
        print(f"== {name}", flush=True)
        SECTIONS[name](cur)
        print(f"   {name}: {time.time() - t0:.1f} s", flush=True)
    conn.close()
    print(f"{C.n} checks, {len(C.failures)} failed")
    if C.failures:
        for f in C.failures[:50]:
            print(f"  {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
