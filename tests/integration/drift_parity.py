#!/usr/bin/python3
"""Helper of drift_parity.sh: scipy/numpy as the oracle of mlops's drift statistics.

  drift_parity.py [SECTION...]    run the sections (default all: arrays aggregates report
                                  parallel errors) against the database the environment names
                                  (PGHOST, PGPORT, PGUSER, PGDATABASE, as tests/lib/testdb.sh
                                  leaves them); prints the largest error per statistic and every
                                  failure, exits 1 on any failure

The data are generated here (fixed seeds), sent to PostgreSQL (float8[] literals for the array
functions, COPY for tables), and the same data, NULLs and NaNs removed, given to scipy 1.10 /
numpy 1.24.  Tolerances:
  statistics          |got - want| <= 1e-12 * max(1, |want|)  (absolute below 1, relative above:
                      a chi-square statistic of 5e4 has no 1e-12 absolute precision)
  asymptotic p-values |got - want| <= 1e-9 * |want|, or |got - want| < 1e-300
  exact KS p-values   |got - want| <= 1e-7 * |want|, or |got - want| < 1e-300
  counts, methods, verdicts, SQLSTATEs: equal
NULL and NaN count as the same "undefined" value; +-Infinity must be equal.

Must run under Debian's /usr/bin/python3 (python3-scipy, python3-numpy, python3-psycopg2).
"""
import math
import sys
import time
import warnings
from io import StringIO

import numpy as np
import psycopg2
from scipy import stats
from scipy.spatial.distance import jensenshannon

sys.dont_write_bytecode = True

STAT_TOL = 1e-12
P_ASYMP_TOL = 1e-9
P_EXACT_TOL = 1e-7
P_FLOOR = 1e-300
EPS_PSI = 1e-4


# --------------------------------------------------------------------------
# bookkeeping
# --------------------------------------------------------------------------

class Checks:
    def __init__(self):
        self.max_err = {}       # statistic -> (error, where)
        self.count = {}
        self.failures = []

    def _note(self, stat, where, err):
        self.count[stat] = self.count.get(stat, 0) + 1
        if stat not in self.max_err or err > self.max_err[stat][0]:
            self.max_err[stat] = (err, where)

    def fail(self, where, msg):
        self.failures.append(f"{where}: {msg}")
        print(f"  FAIL {where}: {msg}", flush=True)

    def num(self, stat, where, got, want, tol="stat"):
        """tol: 'stat' (1e-12 abs/rel above 1), 'p_asymp' (1e-9 rel), 'p_exact' (1e-7 rel)"""
        g = undefined_to_none(got)
        w = undefined_to_none(want)
        if g is None or w is None:
            ok = g is None and w is None
            err = 0.0 if ok else math.inf
        elif math.isinf(g) or math.isinf(w):
            ok = g == w
            err = 0.0 if ok else math.inf
        elif tol == "stat":
            err = abs(g - w) / max(1.0, abs(w))
            ok = err <= STAT_TOL
        else:
            rel = P_ASYMP_TOL if tol == "p_asymp" else P_EXACT_TOL
            d = abs(g - w)
            if d < P_FLOOR:
                err = 0.0
            else:
                err = d / abs(w) if w != 0 else math.inf
            ok = err <= rel
        self._note(f"{stat} [{tol}]", where, err)
        if not ok:
            self.fail(where, f"{stat} = {got!r}, scipy/numpy says {want!r} (error {err:.3g}, tolerance {tol})")
        return ok

    def eq(self, what, where, got, want):
        self.count[what] = self.count.get(what, 0) + 1
        if got != want:
            self.fail(where, f"{what} = {got!r}, expected {want!r}")
            return False
        return True

    def summary(self):
        print("\nlargest error per statistic (statistics: abs, relative above 1; p-values: relative):")
        for stat in sorted(self.max_err):
            err, where = self.max_err[stat]
            print(f"  {stat:34s} {err:10.3g}  over {self.count[stat]:4d} checks  (worst: {where})")
        others = sorted(k for k in self.count if k not in self.max_err)
        for k in others:
            print(f"  {k:34s} {'equal':>10s}  over {self.count[k]:4d} checks")


CHECKS = Checks()


def undefined_to_none(x):
    if x is None:
        return None
    if isinstance(x, str):
        if x == "Infinity":
            return math.inf
        if x == "-Infinity":
            return -math.inf
        if x == "NaN":
            return None
        x = float(x)
    x = float(x)
    return None if math.isnan(x) else x


# --------------------------------------------------------------------------
# data to PostgreSQL
# --------------------------------------------------------------------------

def pg_float(v):
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)


def pg_array(values):
    """A float8[] literal: repr() round-trips every double exactly."""
    return "{" + ",".join("NULL" if v is None else pg_float(v) for v in values) + "}"


def copy_rows(cur, table, columns, rows):
    buf = StringIO()
    for row in rows:
        out = []
        for v in row:
            if v is None:
                out.append("\\N")
            elif isinstance(v, float) or isinstance(v, np.floating):
                out.append(pg_float(v))
            else:
                out.append(str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n"))
        buf.write("\t".join(out) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)


def finite(values):
    """The values SQL keeps: NULLs, NaNs (and, for the aggregates, infinities) left out."""
    return np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)


# --------------------------------------------------------------------------
# the oracle
# --------------------------------------------------------------------------

def ks_oracle(ref, cur, method):
    """scipy.stats.ks_2samp and the method it used (scipy 1.10's own rules, its warnings)"""
    n1, n2 = len(ref), len(cur)
    used = method
    if method == "auto":
        used = "exact" if max(n1, n2) <= 10000 else "asymp"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = stats.ks_2samp(ref, cur, method=method)
    if any("Switching to" in str(w.message) for w in caught):
        used = "asymp"
    return float(r.statistic), float(r.pvalue), used


def bin_edges(ref, bins):
    return np.quantile(ref, np.arange(1, bins) / bins)


def binned(ref, cur, bins):
    edges = bin_edges(ref, bins)
    rc = np.bincount(np.digitize(ref, edges), minlength=bins).astype(np.float64)
    cc = np.bincount(np.digitize(cur, edges), minlength=bins).astype(np.float64)
    return rc, cc


def psi_counts(rc, cc):
    p = rc / rc.sum()
    q = cc / cc.sum()
    p = np.where(p == 0, EPS_PSI, p)
    q = np.where(q == 0, EPS_PSI, q)
    return float(np.sum((q - p) * np.log(q / p)))


def js_counts(rc, cc):
    with np.errstate(invalid="ignore"):
        return float(jensenshannon(rc, cc))


def chisquare_oracle(obs, exp):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = stats.chisquare(np.asarray(obs, dtype=np.float64), np.asarray(exp, dtype=np.float64))
    return float(r.statistic), float(r.pvalue)


def np_std(x):
    # a constant column has std 0 (numpy's mean of 0.1 * n can be off by an ulp, giving 1e-17)
    if len(x) == 0:
        return math.nan
    if x.min() == x.max():
        return 0.0
    return float(np.std(x))


def numeric_stats_oracle(ref_all, cur_all, bins):
    """drift_stats_agg's jsonb (numeric), histogram and kind aside"""
    ref = finite(ref_all)
    cur = finite(cur_all)
    n_rows = len(cur_all)
    n_null = sum(v is None for v in cur_all)
    n_nan = sum(v is not None and math.isnan(v) for v in cur_all)
    n_inf = sum(v is not None and math.isinf(v) for v in cur_all)
    out_of_range = int(np.sum((cur < ref.min()) | (cur > ref.max()))) + n_inf
    rstd = np_std(ref)
    s = {
        "n_rows": n_rows, "n_current": len(cur), "n_reference": len(ref),
        "null_rate": n_null / n_rows if n_rows else None,
        "nan_rate": n_nan / n_rows if n_rows else None,
        "infinite_rate": n_inf / n_rows if n_rows else None,
        "out_of_range_rate": out_of_range / (n_rows - n_null - n_nan) if n_rows - n_null - n_nan else None,
        "mean": float(np.mean(cur)) if len(cur) else None,
        "std": np_std(cur) if len(cur) else None,
        "min": float(cur.min()) if len(cur) else None,
        "max": float(cur.max()) if len(cur) else None,
        "reference_mean": float(np.mean(ref)),
        "reference_std": rstd,
    }
    if len(cur):
        ks_stat, ks_p, ks_m = ks_oracle(ref, cur, "auto")
        w = float(stats.wasserstein_distance(ref, cur))
        rc, cc = binned(ref, cur, bins)
        s.update({
            "psi": psi_counts(rc, cc), "js_distance": js_counts(rc, cc),
            "ks_statistic": ks_stat, "ks_p_value": ks_p, "ks_method": ks_m,
            "wasserstein": w, "wasserstein_norm": w / max(rstd, 0.001),
            "mean_shift": (float(np.mean(cur)) - float(np.mean(ref))) / rstd if rstd > 0 else None,
            "std_ratio": np_std(cur) / rstd if rstd > 0 else None,
        })
    return s


def categorical_counts(ref_all, cur_all):
    """reference categories (any order) then new ones: reference and current counts"""
    ref = [v for v in ref_all if v is not None]
    cur = [v for v in cur_all if v is not None]
    cats = sorted(set(ref))
    new = sorted(set(cur) - set(cats))
    allc = cats + new
    rc = np.array([ref.count(c) for c in allc], dtype=np.float64)
    cc = np.array([cur.count(c) for c in allc], dtype=np.float64)
    return rc, cc, len(new), len(ref), len(cur)


def categorical_stats_oracle(ref_all, cur_all):
    rc, cc, nnew, n_ref, n_cur = categorical_counts(ref_all, cur_all)
    n_rows = len(cur_all)
    s = {
        "n_rows": n_rows, "n_current": n_cur, "n_reference": n_ref,
        "null_rate": (n_rows - n_cur) / n_rows if n_rows else None,
        "new_category_rate": float(cc[len(cc) - nnew:].sum()) / n_cur if n_cur else None,
    }
    if n_cur:
        # Evidently: expected = reference proportion * n_current; new categories expected 0
        stat, p = chisquare_oracle(cc, rc / n_ref * n_cur)
        s.update({"chi2_statistic": stat, "chi2_p_value": p,
                  "psi": psi_counts(rc, cc), "js_distance": js_counts(rc, cc)})
    return s


STAT_TOLS = {"ks_p_value": None, "chi2_p_value": "p_asymp"}


def compare_stats(where, got, want, stats_keys=None):
    """a drift_stats_agg / drift_report stats jsonb against the oracle's dict"""
    if got is None:
        CHECKS.fail(where, "stats is NULL")
        return
    keys = set(want)
    extra = set(got) - keys - {"histogram", "kind"}
    if stats_keys is not None:
        extra = set(got) - keys
    if extra:
        CHECKS.fail(where, f"stats has keys the oracle does not know: {sorted(extra)}")
    for k in sorted(keys):
        if k not in got and want[k] is not None:
            CHECKS.fail(where, f"stats has no key {k} (expected {want[k]!r})")
            continue
        g = got.get(k)
        if k in ("n_rows", "n_current", "n_reference", "ks_method"):
            CHECKS.eq(k, where, g, want[k])
        elif k == "ks_p_value":
            CHECKS.num(k, where, g, want[k], "p_exact" if want.get("ks_method") == "exact" else "p_asymp")
        elif k == "chi2_p_value":
            CHECKS.num(k, where, g, want[k], "p_asymp")
        else:
            CHECKS.num(k, where, g, want[k], "stat")


# --------------------------------------------------------------------------
# 1. two-sample functions on arrays
# --------------------------------------------------------------------------

def array_cases():
    rng = np.random.default_rng(20240601)
    N = rng.normal
    U = rng.uniform
    cases = []

    def add(name, ref, cur, bins=(10,), methods=("auto", "exact", "asymp")):
        cases.append((name, list(ref), list(cur), bins, methods))

    add("n10_shift", N(0, 1, 10), N(0.8, 1, 10), bins=(2, 4, 10))
    add("n10_vs_13", N(0, 1, 10), N(0, 2, 13), bins=(3, 10))
    add("n1_vs_1", [1.5], [2.5], bins=(2, 10))
    add("n1_vs_40", [0.25], N(0, 1, 40), bins=(2, 10))
    add("n50_vs_80", N(0, 1, 50), N(0.3, 1.1, 80), bins=(5, 10, 20))
    add("n200_equal", N(0, 1, 200), N(0, 1, 200), bins=(10, 50))
    add("ties_round", np.round(N(0, 2, 500)), np.round(N(0.4, 2, 700)), bins=(10, 20))
    add("grid_0_4", rng.integers(0, 5, 300).astype(float), rng.integers(0, 5, 450).astype(float), bins=(4, 10, 30))
    add("grid_halves", np.round(N(0, 1, 1000) * 2) / 2, np.round(N(0.1, 1, 999) * 2) / 2, bins=(10, 100))
    add("grid_tenths", np.round(U(0, 1, 2000), 1), np.round(U(0, 1.1, 1700), 1), bins=(10, 7))
    add("identical", [0.1 * i for i in range(100)], [0.1 * i for i in range(100)], bins=(10,))
    add("const_ref", [3.0] * 100, N(3, 1, 120), bins=(2, 10))
    add("const_cur", N(0, 1, 150), [0.5] * 90, bins=(10,))
    add("const_both_same", [1.0] * 50, [1.0] * 60, bins=(10,))
    add("const_both_diff", [1.0] * 50, [2.0] * 60, bins=(10,))
    add("disjoint", U(0, 1, 200), U(2, 3, 300), bins=(10,))
    add("disjoint_below", U(2, 3, 300), U(0, 1, 250), bins=(10,))
    add("negative_zero", [-0.0, 0.0, 1.0, -1.0, 0.0] * 20, [0.0, -0.0, 0.5] * 30, bins=(4, 10))
    # NULLs and NaNs: SQL leaves them out, the oracle gets the rest (nan_policy='omit')
    r = list(N(0, 1, 300))
    c = list(N(0.2, 1, 280))
    for i in range(0, 300, 17):
        r[i] = None
    for i in range(3, 300, 23):
        r[i] = math.nan
    for i in range(5, 280, 11):
        c[i] = None if i % 2 else math.nan
    add("nan_null", r, c, bins=(10, 25))
    add("n1000_equal", N(5, 3, 1000), N(5.2, 3, 1000), bins=(10, 1000))
    add("n999_vs_1000", N(0, 1, 999), N(0, 1, 1000), bins=(10,))
    add("n3000_vs_2000_shift", N(0, 1, 3000), N(0.15, 1, 2000), bins=(10,))
    add("n5000_vs_4000_big_shift", N(0, 1, 5000), N(1.0, 1, 4000), bins=(10,))   # tiny p-values
    add("n3000_eq_p1e-190", N(0, 1, 3000), N(1.0, 1, 3000), bins=(10,))
    add("n3000_eq_p0", N(0, 1, 3000), N(1.5, 1, 3000), bins=(10,))
    add("n2000_vs_1500_p1e-144", N(0, 1, 2000), N(1.2, 1, 1500), bins=(10,))
    add("n400_vs_300_p1e-107", N(0, 1, 400), N(2.5, 1, 300), bins=(10,))
    add("n2000_eq_asymp_p1e-32", N(0, 1, 2000), N(0.5, 1, 2000), bins=(10,))
    add("huge_magnitudes", N(0, 1, 300) * 1e300, N(0.5, 1, 200) * 1e300, bins=(10,))
    add("tiny_magnitudes", N(0, 1, 300) * 1e-300, N(0.2, 1, 250) * 1e-300, bins=(10,))
    add("subnormals", [5e-324, -5e-324, 0.0, -0.0, 1e-310, -1e-310, 2.5e-320] * 15,
        [5e-324, 0.0, 1e-310, 3e-322, -2.5e-320] * 12, bins=(3, 10))
    add("mixed_scale", list(N(0, 1, 200)) + [1e15, -1e15], list(N(0, 1, 150)) + [1e-15], bins=(10,))
    # auto switches at max(n1, n2) = 10,000
    a = N(0, 1, 10001)
    b = N(0.03, 1, 10001)
    add("auto_10000_eq", a[:10000], b[:10000], bins=(10,))
    add("auto_10000_vs_9999", a[:10000], b[:9999], bins=(10,))
    add("auto_10001_vs_10000", a, b[:10000], bins=(10,))
    add("auto_10000_vs_10001", a[:10000], b, bins=(10,))
    add("n20000_vs_15000", N(0, 1, 20000), N(0.05, 1, 15000), bins=(10,))
    add("n50000_vs_49999", N(0, 1, 50000), N(0.01, 1, 49999), bins=(10,))  # exact impossible: asymp
    add("n200000_eq", N(0, 1, 200000), N(0.01, 1, 200000), bins=(10, 100))
    add("n200000_vs_150000_ties", np.round(N(0, 3, 200000)), np.round(N(0, 3, 150000)), bins=(10,),
        methods=("auto", "asymp"))
    add("n200000_vs_100000_far", N(0, 1, 200000), N(2, 1, 100000), bins=(10,), methods=("auto", "asymp"))
    add("n10_vs_200000", N(0, 1, 10), N(0, 1, 200000), bins=(2, 10), methods=("auto", "asymp"))
    return cases


def section_arrays(conn):
    print("== 1. ks_2samp, wasserstein_distance, psi, js_distance, chisquare on arrays", flush=True)
    cur = conn.cursor()
    t_sql = 0.0
    for name, ref_all, cur_all, bins_list, methods in array_cases():
        ref = finite(ref_all)
        cu = finite(cur_all)
        where = f"arrays/{name} ({len(ref)} vs {len(cu)})"
        lat = []
        cols = []
        for m in methods:
            lat.append(f"mlops.ks_2samp(a.r, a.c, '{m}') k_{m}")
            cols += [f"k_{m}.statistic", f"k_{m}.p_value", f"k_{m}.method"]
        cols.append("mlops.wasserstein_distance(a.r, a.c)")
        for b in bins_list:
            cols += [f"mlops.psi(a.r, a.c, {b})", f"mlops.js_distance(a.r, a.c, {b})"]
        sql = ("SELECT " + ", ".join(cols) + " FROM (SELECT %s::float8[] AS r, %s::float8[] AS c) a, "
               + ", ".join(lat))
        t0 = time.time()
        cur.execute(sql, (pg_array(ref_all), pg_array(cur_all)))
        row = list(cur.fetchone())
        t_sql += time.time() - t0
        for m in methods:
            stat, p, used = ks_oracle(ref, cu, m)
            g_stat, g_p, g_m = row[:3]
            del row[:3]
            CHECKS.num("ks_statistic", f"{where} method {m}", g_stat, stat, "stat")
            CHECKS.num("ks_p_value", f"{where} method {m}", g_p, p, "p_exact" if used == "exact" else "p_asymp")
            CHECKS.eq("ks_method", f"{where} method {m}", g_m, used)
        CHECKS.num("wasserstein", where, row.pop(0), float(stats.wasserstein_distance(ref, cu)))
        for b in bins_list:
            rc, cc = binned(ref, cu, b)
            CHECKS.num("psi", f"{where} bins {b}", row.pop(0), psi_counts(rc, cc))
            CHECKS.num("js_distance", f"{where} bins {b}", row.pop(0), js_counts(rc, cc))

    # chisquare(observed, expected)
    rng = np.random.default_rng(7)
    ch = []
    ch.append(("k3", [10, 20, 30], [20, 20, 20]))
    ch.append(("k2_equal", [50, 50], [50, 50]))
    ch.append(("k1", [7], [7]))
    o = rng.integers(0, 500, 50).astype(float)
    e = rng.uniform(1, 10, 50)
    ch.append(("k50", list(o), list(e / e.sum() * o.sum())))
    o = rng.integers(900, 1100, 200).astype(float)
    ch.append(("k200_close", list(o), [o.sum() / 200] * 200))
    o = np.array([100000.0, 1.0, 1.0, 1.0])
    ch.append(("k4_huge_stat", list(o), [o.sum() / 4] * 4))           # p underflows
    ch.append(("k5_moderate", [30.5, 10.25, 20, 25, 14.25], [20, 20, 20, 20, 20]))
    ch.append(("expected_zero", [5, 5, 10], [0, 10, 10]))            # statistic inf, p 0
    ch.append(("fractional", [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]))
    ch.append(("k3_sum_within_1e-9", [10, 20, 30], [20, 20, 20 + 1e-9]))
    o = rng.integers(0, 1000000, 1000).astype(float)
    ch.append(("k1000_large", list(o), list(np.full(1000, o.sum() / 1000))))
    for name, o, e in ch:
        where = f"arrays/chisquare {name}"
        cur.execute("SELECT (r).statistic, (r).p_value FROM (SELECT mlops.chisquare(%s::float8[], %s::float8[]) r) x",
                    (pg_array(o), pg_array(e)))
        g_stat, g_p = cur.fetchone()
        stat, p = chisquare_oracle(o, e)
        CHECKS.num("chi2_statistic", where, g_stat, stat)
        CHECKS.num("chi2_p_value", where, g_p, p, "p_asymp")
    # observed 0 where expected 0: scipy's statistic is NaN (0/0); drift_stats.h documents that the
    # category contributes nothing (df still k - 1)
    where = "arrays/chisquare zero_zero (documented: 0/0 contributes nothing)"
    cur.execute("SELECT (r).statistic, (r).p_value FROM (SELECT mlops.chisquare('{0,10,10}', '{0,12,8}') r) x")
    g_stat, g_p = cur.fetchone()
    stat = 4 / 12 + 4 / 8
    CHECKS.num("chi2_statistic", where, g_stat, stat)
    CHECKS.num("chi2_p_value", where, g_p, float(stats.chi2.sf(stat, 2)), "p_asymp")
    print(f"   SQL time of the array functions: {t_sql:.1f} s", flush=True)


# --------------------------------------------------------------------------
# 2. aggregates against a stored baseline (and GROUP BY)
# --------------------------------------------------------------------------

CATS = ["alpha", "be\"ta", "gam,ma", "", "ép\\silon ü"]     # quotes, commas, backslashes, '', UTF-8


def make_tables(conn):
    """reference and current tables, returned as Python columns too"""
    rng = np.random.default_rng(99)
    N = rng.normal
    cur = conn.cursor()
    data = {}

    def sprinkle(col, every, value, start=0):
        for i in range(start, len(col), every):
            col[i] = value

    # small: n_reference <= 1000 (ks / chisquare in the report), exact KS
    n = 800
    ref = {
        "x": list(N(0, 1, n)), "g": list(np.round(N(0, 2, n))), "k": [2.5] * n, "kc": list(N(10, 2, n)),
        "i": list(rng.integers(0, 20, n)), "u": list(rng.uniform(0, 1, n)),
        "c": list(rng.choice(CATS, n, p=[0.4, 0.3, 0.15, 0.1, 0.05])), "b": list(rng.random(n) < 0.3),
    }
    sprinkle(ref["x"], 37, None)
    sprinkle(ref["x"], 41, math.nan, 5)
    ref["x"][13] = math.inf                      # counted, left out of the values
    sprinkle(ref["c"], 29, None)
    data["ref_small"] = ref
    n = 900
    days = [f"2024-03-0{1 + i * 3 // n}" for i in range(n)]   # three days, in order
    cu = {
        "x": list(N(0.3, 1.2, n)), "g": list(np.round(N(0.5, 2, n))), "k": list(N(2.5, 1, n)), "kc": [10.0] * n,
        "i": list(rng.integers(0, 25, n)), "u": list(rng.uniform(-0.5, 0.7, n)),
        "c": list(rng.choice(CATS[:4], n)), "b": list(rng.random(n) < 0.5),
        "ts": [f"{d} {h:02d}:00:00+00" for d, h in zip(days, rng.integers(0, 24, n))],
    }
    sprinkle(cu["x"], 31, None)
    sprinkle(cu["x"], 43, math.nan, 2)
    cu["x"][100] = math.inf
    cu["x"][700] = -math.inf
    sprinkle(cu["c"], 19, None)
    for i in range(n):                             # new categories on days 2 and 3 only
        if i >= n // 3 and i % 13 == 0:
            cu["c"][i] = "zeta"
        if i >= 2 * n // 3 and i % 17 == 0:
            cu["c"][i] = "eta {\"x\": 1}\t"
    for i in range(2 * n // 3, n):                 # day 3: u all NULL (no values)
        cu["u"][i] = None
    data["cur_small"] = cu

    # big: n_reference > 1000 (wasserstein / js in the report), asymptotic KS
    n = 20000
    bcats = [f"c{j:02d}" for j in range(20)]
    w = np.arange(20, 0, -1, dtype=float)
    ref = {"x": list(N(0, 1, n)), "y": list(rng.exponential(2.0, n)), "c": list(rng.choice(bcats, n, p=w / w.sum()))}
    sprinkle(ref["y"], 101, None)
    data["ref_big"] = ref
    n = 30000
    days = [f"2024-04-0{1 + i * 5 // n}" for i in range(n)]
    cx = list(N(0, 1, n))
    for i in range(n):
        cx[i] += 0.05 * (i * 5 // n)               # drifting a little more each day
    cc = list(rng.choice(bcats[:18], n))
    for i in range(n):
        if i * 5 // n == 4 and i % 7 == 0:
            cc[i] = "new_one"
    data["cur_big"] = {"x": cx, "y": list(rng.exponential(2.2, n)), "c": cc,
                       "ts": [f"{d} 12:00:00+00" for d in days]}

    # exactly 10,000 reference values; 10,001 current rows (id <= 10000: exact KS, all: asymp)
    data["ref_10k"] = {"x": list(N(0, 1, 10000))}
    data["cur_10k"] = {"x": list(N(0.02, 1, 10001)), "id": list(range(1, 10002))}

    cur.execute("""
        CREATE TABLE ref_small (x float8, g float8, k float8, kc float8, i int4, u float8, c text, b boolean);
        CREATE TABLE cur_small (x float8, g float8, k float8, kc float8, i int4, u float8, c text, b boolean,
                                ts timestamptz);
        CREATE TABLE ref_big (x float8, y float8, c text);
        CREATE TABLE cur_big (x float8, y float8, c text, ts timestamptz);
        CREATE TABLE ref_10k (x float8);
        CREATE TABLE cur_10k (x float8, id int);
    """)
    for t, d in data.items():
        cols = list(d)
        rows = zip(*[[(None if v is None else (int(v) if isinstance(v, (np.integer,)) else
                       (str(bool(v)).lower() if isinstance(v, (bool, np.bool_)) else v))) for v in d[c]]
                     for c in cols])
        copy_rows(cur, t, cols, rows)
    cur.execute("ANALYZE")
    # booleans are categorical by their text form
    for t in ("ref_small", "cur_small"):
        data[t]["b"] = [None if v is None else ("true" if v else "false") for v in data[t]["b"]]
        data[t]["i"] = [float(v) for v in data[t]["i"]]
    return data


NUMERIC_AGGS = ["psi", "js", "ks", "wass", "stats"]


def agg_numeric_select(col, baseline, baseline_sql=None):
    a = f"(s.{col})::float8, {baseline_sql or repr(baseline)}, '{col}'"
    return [f"mlops.psi_agg({a})", f"mlops.js_distance_agg({a})", f"to_jsonb(mlops.ks_2samp_agg({a}))",
            f"mlops.wasserstein_agg({a})", f"mlops.drift_stats_agg({a})"]


def agg_categorical_select(col, baseline):
    a = f"(s.{col})::text, {repr(baseline)}, '{col}'"
    return [f"mlops.psi_agg({a})", f"mlops.js_distance_agg({a})", f"to_jsonb(mlops.chisquare_agg({a}))",
            f"mlops.drift_stats_agg({a})"]


def check_numeric_aggs(where, vals, ref_all, cur_all, bins=10):
    psi_g, js_g, ks_g, w_g, st_g = vals
    want = numeric_stats_oracle(ref_all, cur_all, bins)
    if want["n_current"] == 0:
        for nm, g in zip(NUMERIC_AGGS, vals):
            if nm != "stats":
                CHECKS.eq(f"{nm}_agg with no values", where, g, None)
        compare_stats(where + " drift_stats_agg", st_g, want)
        return
    CHECKS.num("psi_agg", where, psi_g, want["psi"])
    CHECKS.num("js_distance_agg", where, js_g, want["js_distance"])
    if ks_g is None:
        CHECKS.fail(where, "ks_2samp_agg is NULL")
    else:
        CHECKS.num("ks_2samp_agg statistic", where, ks_g["statistic"], want["ks_statistic"])
        CHECKS.num("ks_2samp_agg p_value", where, ks_g["p_value"], want["ks_p_value"],
                   "p_exact" if want["ks_method"] == "exact" else "p_asymp")
        CHECKS.eq("ks_2samp_agg method", where, ks_g["method"], want["ks_method"])
    CHECKS.num("wasserstein_agg", where, w_g, want["wasserstein"])
    compare_stats(where + " drift_stats_agg", st_g, want)


def check_categorical_aggs(where, vals, ref_all, cur_all):
    psi_g, js_g, chi_g, st_g = vals
    want = categorical_stats_oracle(ref_all, cur_all)
    if want["n_current"] == 0:
        CHECKS.eq("categorical aggregates with no values", where, [psi_g, js_g, chi_g], [None, None, None])
    else:
        CHECKS.num("psi_agg (categorical)", where, psi_g, want["psi"])
        CHECKS.num("js_distance_agg (categorical)", where, js_g, want["js_distance"])
        CHECKS.num("chisquare_agg statistic", where, undefined_to_none(chi_g["statistic"]), want["chi2_statistic"])
        CHECKS.num("chisquare_agg p_value", where, chi_g["p_value"], want["chi2_p_value"], "p_asymp")
    compare_stats(where + " drift_stats_agg", st_g, want)


def edges_check(cur, data):
    """the baseline's stored edges and bin counts against numpy.quantile / digitize"""
    cur.execute("""SELECT b.name, c.column_name, c.kind, c.edges, c.bin_counts, c.n, c.categories, c.category_counts
                     FROM mlops.drift_baselines b JOIN mlops.drift_baseline_columns c USING (baseline_id)
                    ORDER BY 1, 2""")
    for name, col, kind, edges, counts, n, cats, ccounts in cur.fetchall():
        src = {"small": "ref_small", "big": "ref_big", "k10": "ref_10k", "par": "ref_big",
               "small_b20": "ref_small"}.get(name)
        if src is None:
            continue
        where = f"baseline {name}.{col}"
        vals = data[src][col]
        if kind == "numeric":
            ref = finite(vals)
            bins = 20 if name == "small_b20" else 10
            CHECKS.eq("baseline n", where, n, len(ref))
            want = bin_edges(ref, bins)
            if len(edges) != len(want):
                CHECKS.fail(where, f"{len(edges)} edges, expected {len(want)}")
                continue
            for j, (g, w) in enumerate(zip(edges, want)):
                CHECKS.num("baseline edges", f"{where} edge {j}", g, float(w))
            rc, _ = binned(ref, ref[:1], bins)
            CHECKS.eq("baseline bin_counts", where, [float(v) for v in counts], [float(v) for v in rc])
        else:
            present = [v for v in vals if v is not None]
            want = {c: float(present.count(c)) for c in set(present)}
            CHECKS.eq("baseline categories", where, dict(zip(cats, [float(v) for v in ccounts])), want)


def section_aggregates(conn, data):
    print("== 2. aggregates against a stored baseline, and GROUP BY", flush=True)
    cur = conn.cursor()
    t0 = time.time()
    cur.execute("SELECT mlops.capture_baseline('small', 'ref_small', ARRAY['x','g','k','kc','i','u','c','b'])")
    cur.execute("""SELECT mlops.capture_baseline('small_b20', 'ref_small', ARRAY['x','g','u'], '{"bins": 20}')""")
    cur.execute("SELECT mlops.capture_baseline('big', 'ref_big', ARRAY['x','y','c'])")
    cur.execute("SELECT mlops.capture_baseline('k10', 'ref_10k')")
    print(f"   captured 4 baselines in {time.time() - t0:.1f} s", flush=True)
    edges_check(cur, data)

    t0 = time.time()
    ref, cu = data["ref_small"], data["cur_small"]
    num_cols = ["x", "g", "k", "kc", "i", "u"]
    cat_cols = ["c", "b"]
    sel = []
    for c in num_cols:
        sel += agg_numeric_select(c, "small")
    for c in cat_cols:
        sel += agg_categorical_select(c, "small")
    sel += agg_numeric_select("x", "small_b20") + agg_numeric_select("u", "small_b20")
    cur.execute("SELECT " + ", ".join(sel) + " FROM cur_small s")
    row = list(cur.fetchone())
    for c in num_cols:
        check_numeric_aggs(f"agg small.{c}", row[:5], ref[c], cu[c])
        del row[:5]
    for c in cat_cols:
        check_categorical_aggs(f"agg small.{c}", row[:4], ref[c], cu[c])
        del row[:4]
    for c in ("x", "u"):
        check_numeric_aggs(f"agg small_b20.{c}", row[:5], ref[c], cu[c], bins=20)
        del row[:5]

    # GROUP BY day, one baseline
    cur.execute("SELECT to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*), " + ", ".join(sel)
                + " FROM cur_small s GROUP BY 1 ORDER BY 1")
    for grow in cur.fetchall():
        day, cnt = grow[0], grow[1]
        idx = [i for i, t in enumerate(cu["ts"]) if t.startswith(day)]
        CHECKS.eq("group size", f"group {day}", cnt, len(idx))
        row = list(grow[2:])
        for c in num_cols:
            check_numeric_aggs(f"agg small.{c} day {day}", row[:5], ref[c], [cu[c][i] for i in idx])
            del row[:5]
        for c in cat_cols:
            check_categorical_aggs(f"agg small.{c} day {day}", row[:4], ref[c], [cu[c][i] for i in idx])
            del row[:4]
        for c in ("x", "u"):
            check_numeric_aggs(f"agg small_b20.{c} day {day}", row[:5], ref[c], [cu[c][i] for i in idx], bins=20)
            del row[:5]

    # big baseline, GROUP BY day
    ref, cu = data["ref_big"], data["cur_big"]
    sel = agg_numeric_select("x", "big") + agg_numeric_select("y", "big") + agg_categorical_select("c", "big")
    cur.execute("SELECT to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD'), " + ", ".join(sel)
                + " FROM cur_big s GROUP BY ROLLUP (1) ORDER BY 1")
    for grow in cur.fetchall():
        day = grow[0]
        idx = [i for i, t in enumerate(cu["ts"]) if day is None or t.startswith(day)]
        label = day or "all"
        row = list(grow[1:])
        check_numeric_aggs(f"agg big.x {label}", row[0:5], ref["x"], [cu["x"][i] for i in idx])
        check_numeric_aggs(f"agg big.y {label}", row[5:10], ref["y"], [cu["y"][i] for i in idx])
        check_categorical_aggs(f"agg big.c {label}", row[10:14], ref["c"], [cu["c"][i] for i in idx])

    # auto switching at 10,000 in the aggregates
    ref, cu = data["ref_10k"], data["cur_10k"]
    sel = agg_numeric_select("x", "k10")
    cur.execute("SELECT s.id <= 10000, " + ", ".join(sel) + " FROM cur_10k s GROUP BY ROLLUP (1) ORDER BY 1")
    for grow in cur.fetchall():
        sub = grow[0]
        vals = cu["x"] if sub is None else (cu["x"][:10000] if sub else cu["x"][10000:])
        check_numeric_aggs(f"agg k10.x id<=10000 {sub}", list(grow[1:]), ref["x"], vals)
    # a sampled baseline (max_values 1000 of 20,000): KS and Wasserstein against the stored sample,
    # the KS p-value asymptotic with the full sizes; edges of the sample, counts scaled to n
    cur.execute("""SELECT mlops.capture_baseline('big_s', 'ref_big', ARRAY['x'], '{"max_values": 1000}'),
                          mlops.capture_baseline('big_s2', 'ref_big', ARRAY['x'], '{"max_values": 1000}')""")
    cur.execute("""SELECT b.name, c.n, c.values_exact, c.ks_error_bound, c.sorted_values, c.edges, c.bin_counts
                     FROM mlops.drift_baselines b JOIN mlops.drift_baseline_columns c USING (baseline_id)
                    WHERE b.name IN ('big_s', 'big_s2') ORDER BY 1""")
    (_, n_s, exact_s, bound, sample, edges, counts), (_, _, _, _, sample2, _, _) = cur.fetchall()
    ref = finite(data["ref_big"]["x"])
    sample = np.array(sample, dtype=np.float64)
    where = "sampled baseline big_s.x"
    CHECKS.eq("sampled baseline n, values_exact, sample size", where, (n_s, exact_s, len(sample)),
              (len(ref), False, 1000))
    CHECKS.eq("sampled baseline: sorted, values of the reference", where,
              bool(np.all(np.diff(sample) >= 0)) and bool(np.all(np.isin(sample, ref))), True)
    CHECKS.eq("sampled baseline: the same sample when captured again", where, list(sample2), list(sample))
    CHECKS.num("ks_error_bound", where, bound, math.sqrt(math.log(2 / 0.001) / 2000))
    for j, (g, w) in enumerate(zip(edges, bin_edges(sample, 10))):
        CHECKS.num("baseline edges", f"{where} edge {j}", g, float(w))
    sc = np.bincount(np.digitize(sample, bin_edges(sample, 10)), minlength=10) * (len(ref) / 1000)
    for j, (g, w) in enumerate(zip(counts, sc)):
        CHECKS.num("sampled baseline bin_counts", f"{where} bin {j}", g, float(w))
    cu = data["cur_big"]
    cur.execute("SELECT " + ", ".join(agg_numeric_select("x", "big_s")) + " FROM cur_big s")
    psi_g, js_g, ks_g, w_g, st_g = cur.fetchone()
    curx = finite(cu["x"])
    d = float(stats.ks_2samp(sample, curx, method="asymp").statistic)
    nr, nc = float(len(ref)), float(len(curx))
    pw = float(stats.kstwo.sf(d, np.round(max(nr, nc) * min(nr, nc) / (nr + nc))))
    CHECKS.num("ks_2samp_agg statistic", where + " (sample)", ks_g["statistic"], d)
    CHECKS.num("ks_2samp_agg p_value", where + " (sample, full sizes)", ks_g["p_value"], pw, "p_asymp")
    CHECKS.eq("ks_2samp_agg method", where, ks_g["method"], "asymp")
    full_d = float(stats.ks_2samp(ref, curx, method="asymp").statistic)
    CHECKS.eq("KS of the sample within ks_error_bound of the full reference's", where,
              abs(d - full_d) <= bound, True)
    CHECKS.num("wasserstein_agg", where + " (sample)", w_g, float(stats.wasserstein_distance(sample, curx)))
    rc = np.bincount(np.digitize(sample, bin_edges(sample, 10)), minlength=10) * (len(ref) / 1000)
    cc = np.bincount(np.digitize(curx, bin_edges(sample, 10)), minlength=10).astype(float)
    CHECKS.num("psi_agg", where, psi_g, psi_counts(rc, cc))
    CHECKS.num("js_distance_agg", where, js_g, js_counts(rc, cc))
    CHECKS.num("ks_statistic", where + " drift_stats_agg", st_g["ks_statistic"], d)
    CHECKS.eq("n_reference", where + " drift_stats_agg", st_g["n_reference"], len(ref))

    # the baseline changing from group to group (one aggregate call site, two baselines)
    ref, cu = data["ref_small"], data["cur_small"]
    sel = agg_numeric_select("x", None, baseline_sql="b.name")
    cur.execute("SET enable_sort = off")       # hash aggregation over interleaved rows
    cur.execute("SELECT b.name, " + ", ".join(sel) + " FROM cur_small s CROSS JOIN LATERAL "
                "(VALUES ('small' || left(s.ctid::text, 0)), ('small_b20')) b(name) GROUP BY b.name")
    rows = cur.fetchall()
    cur.execute("RESET enable_sort")
    CHECKS.eq("groups with a baseline each", "agg baseline per group", sorted(r[0] for r in rows),
              ["small", "small_b20"])
    for grow in rows:
        check_numeric_aggs(f"agg {grow[0]}.x (baseline per group)", list(grow[1:]), ref["x"], cu["x"],
                           bins=20 if grow[0] == "small_b20" else 10)
    # over no rows at all: NULL (not an error), and drift_stats_agg NULL
    cur.execute("SELECT " + ", ".join(agg_numeric_select("x", "small") + agg_categorical_select("c", "small"))
                + " FROM cur_small s WHERE false")
    CHECKS.eq("aggregates over no rows", "agg over no rows", list(cur.fetchone()), [None] * 9)
    print(f"   aggregates: {time.time() - t0:.1f} s", flush=True)


# --------------------------------------------------------------------------
# 3. drift_report
# --------------------------------------------------------------------------

def section_report(conn, data):
    print("== 3. drift_report", flush=True)
    cur = conn.cursor()
    t0 = time.time()
    runs = [("small", "cur_small", "ref_small", "cur_small", None),
            ("big", "cur_big", "ref_big", "cur_big", None),
            ("k10", "SELECT x FROM cur_10k WHERE id <= 10000", "ref_10k", "cur_10k", 10000),
            ("k10", "cur_10k", "ref_10k", "cur_10k", None),
            # day 3: u has no values (n_current 0, statistic and verdict NULL), c a new category
            ("small", "SELECT * FROM cur_small WHERE ts >= '2024-03-03'", "ref_small", "cur_small_day3", None)]
    data["cur_small_day3"] = {k: [v for v, t in zip(col, data["cur_small"]["ts"]) if t >= "2024-03-03"]
                              for k, col in data["cur_small"].items()}
    for baseline, current, rt, ct, limit in runs:
        cur.execute("SELECT feature, kind, n_reference, n_current, method, statistic, p_value, threshold, drifted, "
                    "stats FROM mlops.drift_report(%s, %s)", (baseline, current))
        rows = cur.fetchall()
        cur.execute("SELECT column_name, kind FROM mlops.drift_baseline_columns c JOIN mlops.drift_baselines b "
                    "USING (baseline_id) WHERE b.name = %s ORDER BY position", (baseline,))
        cols = cur.fetchall()
        CHECKS.eq("report features", f"report {baseline} on {current}", [r[0] for r in rows], [c[0] for c in cols])
        for (feature, kind, n_ref, n_cur, method, statistic, p_value, threshold, drifted, st), (_, bkind) in zip(rows, cols):
            where = f"report {baseline} on {current[:40]}: {feature}"
            ref_all = data[rt][feature]
            cur_all = data[ct][feature][:limit] if limit else data[ct][feature]
            if bkind == "numeric":
                want = numeric_stats_oracle(ref_all, cur_all, 10)
            else:
                want = categorical_stats_oracle(ref_all, cur_all)
            for k in ("kind",):
                CHECKS.eq("report kind", where, kind, bkind)
            CHECKS.eq("report n_reference", where, n_ref, want["n_reference"])
            CHECKS.eq("report n_current", where, n_cur, want["n_current"])
            compare_stats(where + " stats", st, want, stats_keys=True)
            if want["n_reference"] <= 1000:
                wm = "ks" if bkind == "numeric" else "chisquare"
            else:
                wm = "wasserstein" if bkind == "numeric" else "js"
            CHECKS.eq("report method", where, method, wm)
            wt = 0.05 if wm in ("ks", "chisquare") else 0.1
            CHECKS.eq("report threshold", where, threshold, wt)
            ws = {"ks": "ks_statistic", "chisquare": "chi2_statistic", "wasserstein": "wasserstein_norm",
                  "js": "js_distance"}[wm]
            wstat = want.get(ws)
            wp = want.get({"ks": "ks_p_value", "chisquare": "chi2_p_value"}.get(wm, ""), None)
            CHECKS.num(f"report statistic ({wm})", where, statistic, wstat)
            if wm in ("ks", "chisquare"):
                CHECKS.num(f"report p_value ({wm})", where, p_value,
                           wp, "p_exact" if wm == "ks" and want.get("ks_method") == "exact" else "p_asymp")
                wd = None if wp is None else wp < wt
            else:
                CHECKS.eq("report p_value", where, p_value, None)
                wd = None if wstat is None else wstat >= wt
            CHECKS.eq("report drifted", where, drifted, wd)
    # an empty current source: every feature is reported, nothing drifted, and n_current is a count
    # (0), with the stats of no values, as for a column whose values are all NULL.
    cur.execute("SELECT feature, n_current, statistic, drifted, stats ->> 'n_rows' "
                "FROM mlops.drift_report('small', 'SELECT * FROM cur_small WHERE false')")
    rows = cur.fetchall()
    CHECKS.eq("report on no rows: features", "report small on no rows", [r[0] for r in rows],
              ["x", "g", "k", "kc", "i", "u", "c", "b"])
    CHECKS.eq("report on no rows: statistic, drifted", "report small on no rows",
              {(r[2], r[3]) for r in rows}, {(None, None)})
    CHECKS.eq("report on no rows: n_current", "report small on no rows", [r[1] for r in rows], [0] * 8)
    CHECKS.eq("report on no rows: stats n_rows", "report small on no rows",
              [r[4] for r in rows], ["0"] * 8)
    cur.execute("SELECT n_features, n_drifted, dataset_drifted FROM mlops.dataset_drift('small', "
                "'SELECT * FROM cur_small WHERE false')")
    CHECKS.eq("dataset_drift on no rows", "dataset_drift small on no rows", cur.fetchone(), (8, 0, False))
    print(f"   drift_report: {time.time() - t0:.1f} s", flush=True)


# --------------------------------------------------------------------------
# 4. parallel plans
# --------------------------------------------------------------------------

PARALLEL_ON = ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0",
               "SET max_parallel_workers_per_gather = 2", "SET parallel_leader_participation = on"]
PARALLEL_OFF = ["SET max_parallel_workers_per_gather = 0"]


def flatten(prefix, v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            flatten(f"{prefix}.{k}", x, out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            flatten(f"{prefix}[{i}]", x, out)
    else:
        out[prefix] = v


def section_parallel(conn, data):
    print("== 4. parallel and serial plans", flush=True)
    cur = conn.cursor()
    t0 = time.time()
    rng = np.random.default_rng(4242)
    n = 300000
    x = list(rng.normal(0.1, 1.05, n))
    for i in range(0, n, 997):
        x[i] = None
    bcats = [f"c{j:02d}" for j in range(20)]
    c = list(rng.choice(bcats + ["unseen"], n))
    g = list(rng.integers(0, 3, n))
    cur.execute("CREATE TABLE cur_par (x float8, c text, g int)")
    copy_rows(cur, "cur_par", ["x", "c", "g"], zip(x, c, [int(v) for v in g]))
    cur.execute("ANALYZE cur_par")
    sel = agg_numeric_select("x", "big") + agg_categorical_select("c", "big")
    queries = {
        "whole": "SELECT " + ", ".join(sel) + " FROM cur_par s",
        "group": "SELECT s.g, " + ", ".join(sel) + " FROM cur_par s GROUP BY s.g ORDER BY s.g",
    }
    results = {}
    for mode, sets in (("parallel", PARALLEL_ON), ("serial", PARALLEL_OFF)):
        for s in sets:
            cur.execute(s)
        for qn, q in queries.items():
            cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + q)
            plan = "\n".join(r[0] for r in cur.fetchall())
            if mode == "parallel":
                partial = "Partial Aggregate" in plan or "Partial HashAggregate" in plan or "Partial GroupAggregate" in plan
                gather = "Gather" in plan
                launched = [int(l.split(":")[1]) for l in plan.splitlines() if "Workers Launched" in l]
                ok = partial and gather and launched and launched[0] > 0
                if ok:
                    # the partial aggregate must be below the Gather
                    lines = plan.splitlines()
                    gi = next(i for i, l in enumerate(lines) if "Gather" in l)
                    ok = any("Partial" in l for l in lines[gi + 1:])
                CHECKS.eq("parallel plan (Partial Aggregate under Gather, workers launched)", f"parallel {qn}",
                          bool(ok), True)
                if not ok:
                    print(plan)
            else:
                CHECKS.eq("serial plan (no Gather)", f"serial {qn}", "Gather" in plan, False)
            t1 = time.time()
            cur.execute(q)
            results[(mode, qn)] = cur.fetchall()
            print(f"   {mode} {qn}: {time.time() - t1:.1f} s", flush=True)
    cur.execute("RESET ALL")
    names = ["psi_agg", "js_distance_agg", "ks_2samp_agg", "wasserstein_agg", "drift_stats_agg",
             "psi_agg(text)", "js_distance_agg(text)", "chisquare_agg", "drift_stats_agg(text)"]
    for qn in queries:
        par, ser = results[("parallel", qn)], results[("serial", qn)]
        if len(par) != len(ser):
            CHECKS.fail(f"parallel {qn}", f"{len(par)} rows in parallel, {len(ser)} serial")
            continue
        for pr, sr in zip(par, ser):
            off = 1 if qn == "group" else 0
            label = f"parallel vs serial {qn}" + (f" g={pr[0]}" if off else "")
            for nm, pv, sv in zip(names, pr[off:], sr[off:]):
                fp, fs = {}, {}
                flatten(nm, pv, fp)
                flatten(nm, sv, fs)
                if set(fp) != set(fs):
                    CHECKS.fail(label, f"{nm}: keys differ {sorted(set(fp) ^ set(fs))}")
                    continue
                for k in sorted(fp):
                    a, b = fp[k], fs[k]
                    if isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, (int, float)):
                        CHECKS.num("parallel vs serial", f"{label} {k}", a, b)
                    else:
                        CHECKS.eq("parallel vs serial (non-numeric)", f"{label} {k}", a, b)
    # and the parallel result against the oracle
    ref = data["ref_big"]
    pr = results[("parallel", "whole")][0]
    check_numeric_aggs("parallel agg big.x", list(pr[0:5]), ref["x"], x)
    check_categorical_aggs("parallel agg big.c", list(pr[5:9]), ref["c"], c)
    for grow in results[("parallel", "group")]:
        gv = grow[0]
        idx = [i for i in range(n) if g[i] == gv]
        check_numeric_aggs(f"parallel agg big.x g={gv}", list(grow[1:6]), ref["x"], [x[i] for i in idx])
        check_categorical_aggs(f"parallel agg big.c g={gv}", list(grow[6:10]), ref["c"], [c[i] for i in idx])
    print(f"   parallel section: {time.time() - t0:.1f} s", flush=True)


# --------------------------------------------------------------------------
# 5. bad input
# --------------------------------------------------------------------------

ERROR_CASES = [
    ("empty reference array", "SELECT mlops.ks_2samp('{}', '{1,2}')", "22023"),
    ("empty current array", "SELECT mlops.wasserstein_distance('{1,2}', '{}')", "22023"),
    ("empty array psi", "SELECT mlops.psi('{}', '{1}')", "22023"),
    ("all-NULL array", "SELECT mlops.ks_2samp('{NULL,NULL}', '{1,2}')", "22023"),
    ("all-NULL current array", "SELECT mlops.js_distance('{1,2,3}', '{NULL}')", "22023"),
    ("all-NaN array", "SELECT mlops.wasserstein_distance('{NaN,NaN}', '{1}')", "22023"),
    ("NULL and NaN only", "SELECT mlops.psi('{1,2,3}', '{NULL,NaN}')", "22023"),
    ("infinite reference value", "SELECT mlops.ks_2samp('{1,Infinity}', '{1,2}')", "22023"),
    ("-infinite current value", "SELECT mlops.wasserstein_distance('{1,2}', '{-Infinity,3}')", "22023"),
    ("infinite value psi", "SELECT mlops.psi('{1,2,3}', '{Infinity}')", "22023"),
    ("infinite value js", "SELECT mlops.js_distance('{Infinity,2,3}', '{1}')", "22023"),
    ("unknown ks method", "SELECT mlops.ks_2samp('{1,2}', '{1,2}', 'bogus')", "22023"),
    ("ks method case", "SELECT mlops.ks_2samp('{1,2}', '{1,2}', 'EXACT')", "22023"),
    ("bins 1", "SELECT mlops.psi('{1,2,3}', '{1,2}', 1)", "22023"),
    ("bins 0 js", "SELECT mlops.js_distance('{1,2,3}', '{1,2}', 0)", "22023"),
    ("bins -5", "SELECT mlops.psi('{1,2,3}', '{1,2}', -5)", "22023"),
    ("bins 1001", "SELECT mlops.js_distance('{1,2,3}', '{1,2}', 1001)", "22023"),
    ("capture bins 1", """SELECT mlops.capture_baseline('bad_bins', 'ref_small', ARRAY['x'], '{"bins": 1}')""",
     "22023"),
    ("capture bins 1001", """SELECT mlops.capture_baseline('bad_bins', 'ref_small', ARRAY['x'], '{"bins": 1001}')""",
     "22023"),
    ("chisquare length mismatch", "SELECT mlops.chisquare('{1,2,3}', '{3,3}')", "22023"),
    ("chisquare sum mismatch", "SELECT mlops.chisquare('{1,2,3}', '{2,2,3}')", "22023"),
    ("chisquare empty", "SELECT mlops.chisquare('{}', '{}')", "22023"),
    ("chisquare negative", "SELECT mlops.chisquare('{-1,3}', '{1,1}')", "22023"),
    ("chisquare infinite", "SELECT mlops.chisquare('{Infinity,1}', '{1,Infinity}')", "22023"),
    ("unknown baseline psi_agg", "SELECT mlops.psi_agg(x, 'no_such_baseline', 'x') FROM ref_small", "42704"),
    ("unknown baseline ks_2samp_agg", "SELECT mlops.ks_2samp_agg(x, 'no_such_baseline', 'x') FROM ref_small", "42704"),
    ("unknown baseline chisquare_agg", "SELECT mlops.chisquare_agg(c, 'no_such_baseline', 'c') FROM ref_small",
     "42704"),
    ("unknown baseline drift_report", "SELECT * FROM mlops.drift_report('no_such_baseline', 'cur_small')", "42704"),
    ("unknown column psi_agg", "SELECT mlops.psi_agg(x, 'small', 'no_such_column') FROM cur_small", "42703"),
    ("unknown column drift_stats_agg (text)",
     "SELECT mlops.drift_stats_agg(c, 'small', 'no_such_column') FROM cur_small", "42703"),
    ("unknown column drift_report features",
     """SELECT * FROM mlops.drift_report('small', 'cur_small', '{"features": ["no_such_column"]}')""", "42703"),
    ("current data lacks a baseline column", "SELECT * FROM mlops.drift_report('small', 'SELECT x FROM cur_small')",
     "42703"),
    ("numeric baseline column given text psi_agg", "SELECT mlops.psi_agg(x::text, 'small', 'x') FROM cur_small",
     "42804"),
    ("numeric baseline column given text chisquare_agg",
     "SELECT mlops.chisquare_agg(x::text, 'small', 'x') FROM cur_small", "42804"),
    ("categorical baseline column given float8",
     "SELECT mlops.wasserstein_agg(i::float8, 'small', 'c') FROM cur_small", "42804"),
    ("numeric baseline column text in drift_report",
     "SELECT * FROM mlops.drift_report('small', 'SELECT x::text AS x, g, k, kc, i, u, c, b FROM cur_small')", "42804"),
    # beyond the brief's list
    ("two-dimensional array", "SELECT mlops.ks_2samp('{{1,2},{3,4}}', '{1}')", "2202E"),
    ("chisquare NaN", "SELECT mlops.chisquare('{NaN,1}', '{1,1}')", "22023"),
    ("chisquare NULL element", "SELECT mlops.chisquare('{NULL,1}', '{1,1}')", "22004"),
    ("NULL baseline name in an aggregate", "SELECT mlops.psi_agg(x, NULL, 'x') FROM cur_small", "22004"),
    ("NULL baseline in drift_report", "SELECT * FROM mlops.drift_report(NULL, 'cur_small')", "22004"),
    ("two baselines in one group",
     "SELECT mlops.psi_agg(x, CASE WHEN i % 2 = 0 THEN 'small' ELSE 'small_b20' END, 'x') FROM cur_small", "22023"),
    ("drift_report method not for the kind",
     """SELECT * FROM mlops.drift_report('small', 'cur_small', '{"method": "chisquare"}')""", "22023"),
    ("drift_report unknown option", """SELECT * FROM mlops.drift_report('small', 'cur_small', '{"bogus": 1}')""",
     "22023"),
    ("capture an unknown column", "SELECT mlops.capture_baseline('bad_col', 'ref_small', ARRAY['nope'])", "42703"),
    ("capture an unknown table", "SELECT mlops.capture_baseline('bad_tab', 'no_such_table')", "42P01"),
    ("capture of no rows", "SELECT mlops.capture_baseline('bad_empty', 'SELECT * FROM ref_small WHERE false')",
     "22023"),
    ("capture of a column without values",
     "SELECT mlops.capture_baseline('bad_nulls', 'SELECT NULL::float8 AS z, x FROM ref_small')", "22023"),
    ("capture an existing name", "SELECT mlops.capture_baseline('small', 'ref_small', ARRAY['x'])", "23505"),
    ("unknown baseline in a parallel worker",
     "PARALLEL SELECT mlops.psi_agg(x, 'no_such_baseline', 'x') FROM cur_par", "42704"),
    ("numeric column given text in a parallel worker",
     "PARALLEL SELECT mlops.drift_stats_agg(c, 'big', 'x') FROM cur_par", "42804"),
]


def section_errors(conn, dsn_kwargs):
    print("== 5. bad input: SQLSTATEs, and the server survives", flush=True)
    cur = conn.cursor()
    have_par = False
    cur.execute("SELECT to_regclass('cur_par') IS NOT NULL")
    have_par = cur.fetchone()[0]
    for name, sql, state in ERROR_CASES:
        got = None
        parallel = sql.startswith("PARALLEL ")
        if parallel:
            if not have_par:
                continue
            sql = sql[len("PARALLEL "):]
            for x in PARALLEL_ON:
                cur.execute(x)
            cur.execute("EXPLAIN (COSTS OFF) " + sql)
            CHECKS.eq("error case runs in parallel", f"error {name}", "Gather" in "\n".join(r[0] for r in cur.fetchall()),
                      True)
        try:
            cur.execute(sql)
            cur.fetchall()
            got = "no error"
        except psycopg2.Error as e:
            got = e.pgcode or f"no SQLSTATE ({e})"
            if conn.closed:
                CHECKS.fail(f"error {name}", f"the connection was lost: {e}")
                conn = psycopg2.connect(**dsn_kwargs)
                conn.autocommit = True
                cur = conn.cursor()
        CHECKS.eq("SQLSTATE", f"error {name}: {sql[:70]}", got, state)
        if parallel:
            cur.execute("RESET ALL")
    # the server still accepts connections, and nothing crashed in between
    try:
        c2 = psycopg2.connect(**dsn_kwargs)
        k = c2.cursor()
        k.execute("SELECT 1")
        CHECKS.eq("server alive", "after bad input", k.fetchone()[0], 1)
        c2.close()
    except psycopg2.Error as e:
        CHECKS.fail("after bad input", f"no new connection: {e}")
    return conn


# --------------------------------------------------------------------------

def main():
    sections = sys.argv[1:] or ["arrays", "aggregates", "report", "parallel", "errors"]
    start = time.time()
    dsn_kwargs = {}
    conn = psycopg2.connect(**dsn_kwargs)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid0 = cur.fetchone()[0]
    data = None
    if "arrays" in sections:
        section_arrays(conn)
    if set(sections) & {"aggregates", "report", "parallel", "errors"}:
        data = make_tables(conn)
    if "aggregates" in sections:
        section_aggregates(conn, data)
    elif set(sections) & {"report", "parallel", "errors"}:
        cur.execute("SELECT mlops.capture_baseline('small', 'ref_small', ARRAY['x','g','k','kc','i','u','c','b'])")
        cur.execute("SELECT mlops.capture_baseline('big', 'ref_big', ARRAY['x','y','c'])")
        cur.execute("SELECT mlops.capture_baseline('k10', 'ref_10k')")
    if "report" in sections:
        section_report(conn, data)
    if "parallel" in sections:
        section_parallel(conn, data)
    if "errors" in sections:
        conn = section_errors(conn, dsn_kwargs)
    cur = conn.cursor()
    try:
        cur.execute("SELECT pg_backend_pid()")
        if cur.fetchone()[0] != pid0:
            CHECKS.fail("session", "the first connection was lost on the way (a backend crashed?)")
    except psycopg2.Error as e:
        CHECKS.fail("session", f"the first connection is gone: {e}")
    CHECKS.summary()
    n = sum(CHECKS.count.values())
    print(f"\n{n} checks, {len(CHECKS.failures)} failed, {time.time() - start:.1f} s")
    if CHECKS.failures:
        print("failures:")
        for f in CHECKS.failures:
            print("  " + f)
        sys.exit(1)


if __name__ == "__main__":
    main()
