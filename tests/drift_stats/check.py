#!/usr/bin/python3
"""Parity of extension/drift_stats.c with scipy 1.10 / numpy 1.24.

    check.py HARNESS [--quick] [--verbose]

Generates cases with numpy, feeds them to the harness (harness.c, built from
drift_stats.c) in one stream, and compares each answer with scipy's or
numpy's.  Tolerances:
  KS statistic, chi-square statistic, PSI, JS      1e-12 absolute (and 1e-12 relative for large values)
  asymptotic p-values, kstwo.sf, chi2.sf            1e-9 relative, or both below 1e-300
  exact KS p-values                                 1e-7 relative
  quantiles, bin edges                              equal or 1 ulp apart (NaN where numpy gives NaN)
  wasserstein                                       1e-12 absolute (1e-12 relative for large values)
  bin numbers, sort, the method KS used             equal
Prints the largest error per category and exits 1 on any failure.
Run with Debian's /usr/bin/python3 (scipy 1.10.1, numpy 1.24.2).
"""
import math
import subprocess
import sys
import time
import warnings
from math import gcd

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

AUTO, EXACT, ASYMP = 0, 1, 2
METHOD_NAMES = {AUTO: "auto", EXACT: "exact", ASYMP: "asymp"}


def fmt(values):
    return " ".join(repr(float(v)) for v in values)


class Checker:
    def __init__(self, verbose):
        self.verbose = verbose
        self.cases = []          # (input text, category, label, check function)
        self.max_err = {}        # category -> (error, label)
        self.failures = []

    def add(self, text, category, label, check):
        self.cases.append((text, category, label, check))

    def note(self, category, err, label):
        best = self.max_err.get(category)
        if best is None or err > best[0]:
            self.max_err[category] = (err, label)

    def fail(self, category, label, msg):
        self.failures.append(f"{category}: {label}: {msg}")


def rel_err(got, want, floor=1e-300):
    """Relative error, with both values below floor counting as equal."""
    if math.isnan(want) or math.isnan(got):
        return 0.0 if (math.isnan(want) and math.isnan(got)) else math.inf
    if got == want:
        return 0.0
    if abs(got) < floor and abs(want) < floor:
        return 0.0
    if math.isinf(want) or math.isinf(got):
        return math.inf
    return abs(got - want) / abs(want)


def abs_err(got, want):
    if math.isnan(want) or math.isnan(got):
        return 0.0 if (math.isnan(want) and math.isnan(got)) else math.inf
    if got == want:
        return 0.0
    if math.isinf(want) or math.isinf(got):
        return math.inf
    return abs(got - want)


def mixed_err(got, want):
    """Absolute error, relative for values above 1 (tolerance 1e-12 either way)."""
    e = abs_err(got, want)
    if math.isfinite(e) and abs(want) > 1:
        e /= abs(want)
    return e


def ulps(got, want):
    if math.isnan(want) or math.isnan(got):
        return 0 if (math.isnan(want) and math.isnan(got)) else math.inf
    if got == want:
        return 0
    if math.isinf(got) or math.isinf(want):
        return math.inf
    return abs(got - want) / np.spacing(max(abs(got), abs(want)))


# ---------------------------------------------------------------- KS

def scipy_ks(a, b, method):
    """scipy's ks_2samp and the method it ended up using."""
    name = METHOD_NAMES[method]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = stats.ks_2samp(a, b, method=name)
    n1, n2 = len(a), len(b)
    if method == AUTO:
        used = EXACT if max(n1, n2) <= 10000 else ASYMP
    else:
        used = method
    if used == EXACT:
        g = gcd(n1, n2)
        if method == EXACT and (n1 // g) >= np.iinfo(np.int32).max / (n2 // g):
            used = ASYMP
        if any("Exact calculation unsuccessful" in str(w.message) for w in caught):
            used = ASYMP
    return float(res.statistic), float(res.pvalue), used


def add_ks(ck, a, b, method, label):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    stat, p, used = scipy_ks(a, b, method)
    text = f"ks {method} {len(a)} {len(b)} {fmt(a)} {fmt(b)}\n"
    label = f"{label} n1={len(a)} n2={len(b)} {METHOD_NAMES[method]}"
    n1, n2 = len(a), len(b)

    def check(line):
        parts = line.split()
        got_stat, got_p, got_method = float(parts[0]), float(parts[1]), int(parts[2])
        hook_calls = int(parts[3])
        if used == EXACT and n1 != n2 and n1 * n2 >= 4e8 and hook_calls == 0:
            ck.fail("ks interrupt hook", label, "a long exact computation never called ds_interrupt_hook")
        e = abs_err(got_stat, stat)
        ck.note("ks statistic (abs)", e, label)
        if e > 1e-12:
            ck.fail("ks statistic", label, f"{got_stat!r} vs scipy {stat!r}")
        if got_method != used:
            ck.fail("ks method", label, f"used {METHOD_NAMES[got_method]}, scipy {METHOD_NAMES[used]}")
            return
        if used == EXACT:
            e = rel_err(got_p, p)
            ck.note("ks exact p (rel)", e, label)
            if e > 1e-7:
                ck.fail("ks exact p", label, f"{got_p!r} vs scipy {p!r}")
        else:
            e = rel_err(got_p, p)
            ck.note("ks asymp p (rel)", e, label)
            if e > 1e-9:
                ck.fail("ks asymp p", label, f"{got_p!r} vs scipy {p!r}")

    ck.add(text, "ks", label, check)


def ks_cases(ck, rng, quick):
    sizes = [(1, 1), (1, 2), (2, 1), (2, 3), (3, 3), (5, 5), (7, 13), (10, 10), (13, 7),
             (20, 30), (50, 60), (64, 64), (99, 100), (100, 100), (123, 457), (250, 1000),
             (997, 1009), (1000, 999), (1000, 1500), (2000, 3000), (3000, 3000), (4096, 1024),
             (5000, 7919), (10000, 10000), (10000, 9999), (10000, 5000), (10001, 10000),
             (20000, 15000), (50000, 1), (1, 50000), (200000, 150000), (200000, 200000),
             (123457, 200000)]
    if quick:
        sizes = [s for s in sizes if max(s) <= 20000]
    for n1, n2 in sizes:
        heavy = n1 * n2 > 5e7
        for shift in ([0.0, 0.3] if not heavy else [0.03]):
            a = rng.standard_normal(n1)
            b = rng.standard_normal(n2) + shift
            add_ks(ck, a, b, AUTO, f"normal shift {shift}")
    # ties: a small grid of repeated values
    for n1, n2 in [(5, 7), (30, 40), (200, 300), (1000, 1000), (4000, 6000), (30000, 20000)]:
        a = rng.integers(0, 6, n1).astype(float)
        b = rng.integers(0, 7, n2).astype(float)
        add_ks(ck, a, b, AUTO, "integer grid")
        add_ks(ck, a * 0.1, b * 0.1 + 0.05, AUTO, "decimal grid")
    # constant samples, equal or not; disjoint supports
    for n1, n2 in [(1, 1), (3, 5), (50, 50), (400, 300), (20000, 30000)]:
        add_ks(ck, np.full(n1, 2.5), np.full(n2, 2.5), AUTO, "both constant equal")
        add_ks(ck, np.full(n1, 2.5), rng.standard_normal(n2) + 2.5, AUTO, "one constant")
        add_ks(ck, rng.uniform(0, 1, n1), rng.uniform(2, 3, n2), AUTO, "disjoint")
        add_ks(ck, rng.uniform(2, 3, n1), rng.uniform(0, 1, n2), AUTO, "disjoint reversed")
    # interleaved samples, D = 1/n: for n1 == n2 = 5, 7, ... scipy's exact sum
    # rounds to just above 1 and it falls back to asymp
    for n in range(1, 13):
        add_ks(ck, np.arange(n) * 2.0, np.arange(n) * 2.0 + 1, AUTO, "interleaved")
        add_ks(ck, np.arange(n) * 2.0, np.arange(n + 1) * 2.0 - 1, AUTO, "interleaved")
    # -0.0 and 0.0 are the same value; infinities are values
    add_ks(ck, [-0.0, 0.0, 1.0, -1.0], [0.0, 0.0, -0.0, 2.0, 3.0], AUTO, "signed zeros")
    add_ks(ck, [-np.inf, 0.0, 1.0, np.inf], [np.inf, 0.5, -np.inf], AUTO, "infinities")
    # explicit methods
    for n1, n2 in [(10, 10), (37, 61), (500, 400), (5000, 7000)]:
        a = rng.standard_normal(n1)
        b = rng.standard_normal(n2) + 0.2
        add_ks(ck, a, b, EXACT, "normal")
        add_ks(ck, a, b, ASYMP, "normal")
    # exact beyond auto's 10000: n1 == n2 (the square formula), a large gcd,
    # and sizes whose lcm does not fit (scipy switches to asymp)
    exact_big = [(50000, 50000), (20000, 30000), (100003, 100019), (200000, 199999)]
    if quick:
        exact_big = [(50000, 50000), (100003, 100019)]
    for n1, n2 in exact_big:
        a = rng.standard_normal(n1)
        b = rng.standard_normal(n2) + 0.01
        add_ks(ck, a, b, EXACT, "exact beyond auto")
    # small p-values from the exact recursion: shifted samples
    for n1, n2, shift in [(300, 200, 1.5), (1000, 999, 1.0), (2000, 1500, 0.8), (100, 100, 3.0)]:
        add_ks(ck, rng.standard_normal(n1), rng.standard_normal(n2) + shift, AUTO, f"small p shift {shift}")


# ---------------------------------------------------------------- kstwo

def kstwo_branch(n, x):
    """Which branch of scipy's kstwo.sf (rv_continuous.sf, then _ksstats._kolmogn) serves (x, n)."""
    if x <= 0.5 / n:
        return "below support: 1"
    if x >= 1.0:
        return "above support: 0"
    t = n * x
    if t <= 1.0:
        return "Ruben-Gambino t<=1, n<=140 product" if n <= 140 else "Ruben-Gambino t<=1, n>140 Stirling"
    if t >= n - 1:
        return "Ruben-Gambino t>=n-1"
    if x >= 0.5:
        return "x>=0.5: 2*smirnov" + (" (n>1e6 approximation)" if n > 1000000 else "")
    nxsq = t * x
    if n <= 140:
        if nxsq <= 0.754693:
            return "n<=140 Durbin (DMTW)"
        if nxsq <= 4:
            return "n<=140 Pomeranz"
        return "n<=140 2*smirnov (Miller)"
    if nxsq >= 370.0:
        return "n>140 nx^2>=370: 0"
    if nxsq >= 2.2:
        return "n>140 2*smirnov" + (" (n>1e6 approximation)" if n > 1000000 else "")
    if n <= 100000 and n * x ** 1.5 <= 1.4:
        return "n>140 Durbin (DMTW)"
    return "n>140 Pelz-Good"


KSTWO_BRANCHES = [
    "below support: 1", "above support: 0",
    "Ruben-Gambino t<=1, n<=140 product", "Ruben-Gambino t<=1, n>140 Stirling", "Ruben-Gambino t>=n-1",
    "x>=0.5: 2*smirnov", "n<=140 Durbin (DMTW)", "n<=140 Pomeranz", "n<=140 2*smirnov (Miller)",
    "n>140 nx^2>=370: 0", "n>140 2*smirnov", "n>140 2*smirnov (n>1e6 approximation)",
    "n>140 Durbin (DMTW)", "n>140 Pelz-Good",
]


def kstwo_cases(ck):
    ns = [1, 2, 3, 4, 5, 7, 10, 20, 50, 100, 139, 140, 141, 200, 500, 1000, 5000, 10000,
          50000, 99999, 100000, 100001, 300000, 1000000, 1000001, 2500000]
    tally = {b: 0 for b in KSTWO_BRANCHES}
    for n in ns:
        xs = set()
        # around the support's lower end and the Ruben-Gambino branches
        for c in [0.3, 0.5, 0.5000001, 0.6, 0.75, 0.999, 1.0, 1.0000001, 1.2, 1.5, 2.5]:
            xs.add(c / n)
        for c in [2.0, 1.5, 1.0, 0.9999999]:
            xs.add(1.0 - c / n)
        # the thresholds on n x^2
        for s in [0.1, 0.4, 0.754, 0.754693, 0.7547, 1.0, 1.5, 2.19, 2.2, 2.21, 3.0, 3.99, 4.0,
                  4.01, 6.0, 10.0, 17.9, 18.0, 18.1, 50.0, 150.0, 369.0, 370.0, 371.0, 700.0]:
            xs.add(math.sqrt(s / n))
        # the threshold on n x^1.5
        for c in [0.9, 0.999, 1.0, 1.001, 1.1]:
            xs.add((1.4 * c / n) ** (2.0 / 3.0))
        for x in [0.0, 0.01, 0.1, 0.3, 0.49, 0.4999999, 0.5, 0.5000001, 0.51, 0.7, 0.9, 0.99, 1.0, 1.5, -0.1]:
            xs.add(x)
        for x in sorted(xs):
            if 50000 <= n <= 1000000 and 2.2 <= n * x * x < 370 and x < 0.5:
                # scipy's double-double Smirnov sum takes 0.1 s (n = 5e4) to 2.5 s
                # (n = 1e6) a call: keep a few (the n are there for other branches)
                keep = {50000: (2.2, 10.0, 150.0, 369.0), 100000: (2.2, 10.0, 150.0, 369.0),
                        300000: (2.2, 150.0), 1000000: (10.0,)}.get(n, (2.2,))
                if not any(abs(n * x * x - s) < 1e-9 for s in keep):
                    continue
            want = float(stats.kstwo.sf(x, n))
            branch = kstwo_branch(n, x)
            tally[branch] = tally.get(branch, 0) + 1
            label = f"kstwo.sf({x!r}, {n}) [{branch}]"

            def check(line, want=want, label=label):
                got = float(line)
                e = rel_err(got, want)
                ck.note("kstwo.sf (rel)", e, label)
                if e > 1e-9:
                    ck.fail("kstwo.sf", label, f"{got!r} vs scipy {want!r}")

            ck.add(f"kstwo {x!r} {n}\n", "kstwo", label, check)
    missing = [b for b, c in tally.items() if c == 0]
    if missing:
        ck.failures.append(f"kstwo: no case reaches the branch(es) {missing}")
    ck.kstwo_tally = tally
    # the asymptotic two-sample p-value on its own
    for d, n1, n2 in [(0.01, 20000, 30000), (0.2, 12345, 54321), (0.001, 1e6, 1e6), (0.05, 1, 1e6),
                      (0.5, 1, 1), (0.3, 3, 4)]:
        en = max(n1, n2) * min(n1, n2) / (n1 + n2)
        with np.errstate(all="ignore"):
            want = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))
        label = f"ks asymp p({d}, {n1}, {n2})"

        def check(line, want=want, label=label):
            got = float(line)
            e = rel_err(got, want)
            ck.note("kstwo.sf (rel)", e, label)
            if e > 1e-9:
                ck.fail("ks asymp p", label, f"{got!r} vs scipy {want!r}")

        ck.add(f"kasymp {d!r} {float(n1)!r} {float(n2)!r}\n", "kstwo", label, check)


# ---------------------------------------------------------------- chi-square

def chi2_cases(ck, rng):
    dfs = [0.5, 1, 2, 3, 4, 5, 7, 10, 19, 20, 21, 30, 50, 99, 100, 101, 250, 999, 1000, 2500,
           5000, 9999, 10000, 12345.5]
    for df in dfs:
        xs = {0.0, -1.0, 1e-300, 1e-10, math.inf}
        for c in [1e-6, 0.01, 0.1, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0, 1.01, 1.05, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0]:
            xs.add(df * c)
        xs.add(df + 2.0)         # the series / continued fraction switch is at x/2 = df/2 + 1
        xs.add(df + 1.9999999)
        for p in [0.5, 1e-3, 1e-10, 1e-50, 1e-100, 1e-200, 1e-290, 1e-300, 1e-305, 1e-310]:
            x = float(stats.chi2.isf(p, df))
            if math.isfinite(x):
                xs.add(x)
        for x in sorted(xs):
            want = float(stats.chi2.sf(x, df))
            label = f"chi2.sf({x!r}, {df})"

            def check(line, want=want, label=label):
                got = float(line)
                e = rel_err(got, want)
                ck.note("chi2.sf (rel)", e, label)
                if e > 1e-9:
                    ck.fail("chi2.sf", label, f"{got!r} vs scipy {want!r}")

            ck.add(f"chi2 {x!r} {float(df)!r}\n", "chi2", label, check)

    # chisquare(observed, expected)
    for k in [1, 2, 3, 5, 10, 50, 200]:
        for trial in range(3):
            exp = rng.uniform(0.5, 50, k)
            exp *= 1000.0 / exp.sum()
            obs = rng.poisson(exp).astype(float)
            exp *= obs.sum() / exp.sum() if obs.sum() > 0 else 1.0
            if trial == 2 and k > 2:
                obs[0] = 0.0       # an empty category, expected 0 too: contributes nothing
                exp[0] = 0.0
                exp *= obs.sum() / exp.sum()
            add_chisquare(ck, obs, exp, f"k={k} trial {trial}")
    add_chisquare(ck, np.array([3.0, 0.0, 5.0]), np.array([4.0, 0.0, 4.0]), "zero-zero category")
    add_chisquare(ck, np.array([3.0, 1.0, 4.0]), np.array([4.0, 0.0, 4.0]), "observed with expected 0")
    add_chisquare(ck, np.array([1e6, 0.0]), np.array([5e5, 5e5]), "tiny p")


def add_chisquare(ck, obs, exp, label):
    keep = ~((obs == 0) & (exp == 0))
    # scipy gives NaN for a 0/0 category; the header defines it as contributing nothing
    with np.errstate(all="ignore"):
        terms = (obs[keep] - exp[keep]) ** 2 / exp[keep]
    stat = float(terms.sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if keep.all() and len(obs) > 0:
            res = stats.chisquare(obs, exp) if np.all(exp > 0) else None
            if res is not None:
                assert res.statistic == stat or abs(res.statistic - stat) <= 1e-12 * max(1, stat)
    p = float(stats.chi2.sf(stat, len(obs) - 1))

    def check(line):
        g_stat, g_p = (float(v) for v in line.split())
        e = mixed_err(g_stat, stat)
        ck.note("chisquare statistic (abs/rel)", e, label)
        if e > 1e-12:
            ck.fail("chisquare statistic", label, f"{g_stat!r} vs {stat!r}")
        e = rel_err(g_p, p)
        ck.note("chi2.sf (rel)", e, label)
        if e > 1e-9:
            ck.fail("chisquare p", label, f"{g_p!r} vs {p!r}")

    ck.add(f"chisq {len(obs)} {fmt(obs)} {fmt(exp)}\n", "chisq", label, check)


# ---------------------------------------------------------------- wasserstein

def wass_cases(ck, rng, quick):
    sizes = [(1, 1), (1, 5), (4, 3), (10, 10), (100, 77), (1000, 1000), (5000, 12000),
             (200000, 150000)]
    if quick:
        sizes = sizes[:-1]
    for n1, n2 in sizes:
        add_wass(ck, rng.standard_normal(n1), rng.standard_normal(n2) * 1.3 + 0.2, "normal")
        add_wass(ck, rng.integers(0, 5, n1).astype(float), rng.integers(0, 6, n2).astype(float), "ties")
    add_wass(ck, np.full(10, 1.0), np.full(7, 1.0), "equal constants")
    add_wass(ck, np.full(10, 1.0), np.full(7, 3.0), "different constants")
    add_wass(ck, rng.uniform(0, 1, 300), rng.uniform(5, 6, 200), "disjoint")
    add_wass(ck, np.array([1.0, 2.0, np.inf]), np.array([1.0, 3.0]), "an infinity")
    add_wass(ck, np.array([1.0, np.inf, np.inf]), np.array([1.0, 3.0]), "repeated infinity")
    add_wass(ck, rng.standard_normal(1000) * 1e6, rng.standard_normal(900) * 1e6, "large scale")


def add_wass(ck, a, b, label):
    with np.errstate(all="ignore"):
        want = float(stats.wasserstein_distance(a, b))
    label = f"{label} n1={len(a)} n2={len(b)}"

    def check(line):
        got = float(line)
        e = mixed_err(got, want)
        ck.note("wasserstein (abs/rel)", e, label)
        if e > 1e-12:
            ck.fail("wasserstein", label, f"{got!r} vs scipy {want!r}")

    ck.add(f"wass {len(a)} {len(b)} {fmt(a)} {fmt(b)}\n", "wass", label, check)


# ---------------------------------------------------------------- quantiles, edges, bins

def quantile_cases(ck, rng):
    arrays = []
    for n in [1, 2, 3, 4, 7, 10, 11, 100, 101, 1000, 1001, 12345, 100000]:
        arrays.append((f"normal n={n}", rng.standard_normal(n) * 10 + 3))
        arrays.append((f"grid n={n}", rng.integers(0, 4, n).astype(float)))
    arrays.append(("constant", np.full(50, 7.25)))
    arrays.append(("tiny spread", 1.0 + rng.standard_normal(999) * 1e-14))
    arrays.append(("huge", rng.standard_normal(99) * 1e300))
    arrays.append(("with infinities", np.array([-np.inf, -1.0, 0.0, 2.0, 3.0, np.inf])))
    arrays.append(("signed zeros", np.array([-0.0, 0.0, -0.0, 1.0])))
    qs = np.concatenate([np.linspace(0, 1, 41), [0.1, 0.2, 0.3, 0.7, 0.9, 1 / 3, 2 / 3, 0.999999, 1e-9],
                         rng.uniform(0, 1, 20)])
    for name, x in arrays:
        with np.errstate(all="ignore"):
            want = [float(v) for v in np.quantile(x, qs)]

        def check(line, want=want, name=name):
            got = [float(v) for v in line.split()]
            for g, w, q in zip(got, want, qs):
                e = ulps(g, w)
                ck.note("quantile (ulps)", e, f"{name} q={q!r}")
                if e > 1:
                    ck.fail("quantile", name, f"q={q!r}: {g!r} vs numpy {w!r}")

        ck.add(f"quant {len(x)} {len(qs)} {fmt(x)} {fmt(qs)}\n", "quant", name, check)

        for bins in [2, 3, 4, 5, 7, 10, 20, 100]:
            with np.errstate(all="ignore"):
                edges = [float(v) for v in np.quantile(x, np.arange(1, bins) / bins)]

            def check_edges(line, edges=edges, name=f"{name} bins={bins}"):
                got = [float(v) for v in line.split()]
                if len(got) != len(edges):
                    ck.fail("bin edges", name, f"{len(got)} edges, want {len(edges)}")
                    return
                for g, w in zip(got, edges):
                    e = ulps(g, w)
                    ck.note("bin edges (ulps)", e, name)
                    if e > 1:
                        ck.fail("bin edges", name, f"{g!r} vs numpy {w!r}")

            ck.add(f"edges {len(x)} {bins} {fmt(x)}\n", "edges", f"{name} bins={bins}", check_edges)

            finite_edges = np.array(edges)
            if np.all(np.isfinite(finite_edges)) and len(x) > 1:
                probe = np.concatenate([x[:200], finite_edges, np.nextafter(finite_edges, np.inf),
                                        np.nextafter(finite_edges, -np.inf), [-np.inf, np.inf, -0.0]])
                want_bins = np.digitize(probe, finite_edges).tolist()

                def check_bins(line, want_bins=want_bins, name=f"{name} bins={bins}"):
                    got = [int(v) for v in line.split()]
                    bad = sum(1 for g, w in zip(got, want_bins) if g != w)
                    ck.note("digitize (mismatches)", bad, name)
                    if bad or len(got) != len(want_bins):
                        ck.fail("digitize", name, f"{bad} of {len(want_bins)} bins differ")

                ck.add(f"binof {len(finite_edges)} {fmt(finite_edges)} {len(probe)} {fmt(probe)}\n",
                       "binof", f"{name} bins={bins}", check_bins)


# ---------------------------------------------------------------- PSI, JS

def psi_oracle(r, c):
    p = r / r.sum()
    q = c / c.sum()
    p = np.where(p == 0, 1e-4, p)
    q = np.where(q == 0, 1e-4, q)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_js_cases(ck, rng):
    for k in [1, 2, 3, 5, 10, 20, 100]:
        for trial in range(4):
            r = rng.poisson(rng.uniform(0, 50, k)).astype(float)
            c = rng.poisson(rng.uniform(0, 50, k)).astype(float)
            if trial == 3:
                r[::3] = 0.0
                c[1::4] = 0.0
            if r.sum() == 0:
                r[0] = 1.0
            if c.sum() == 0:
                c[-1] = 1.0
            label = f"k={k} trial {trial}"
            add_counts(ck, "psi", r, c, psi_oracle(r, c), label)
            with np.errstate(all="ignore"):
                add_counts(ck, "js", r, c, float(distance.jensenshannon(r, c)), label)
    same = np.array([5.0, 0.0, 3.0, 9.0])
    add_counts(ck, "js", same, same * 2, float(distance.jensenshannon(same, same * 2)), "proportional")
    add_counts(ck, "psi", same, same * 2, psi_oracle(same, same * 2), "proportional")
    disjoint_a = np.array([4.0, 0.0, 0.0])
    disjoint_b = np.array([0.0, 0.0, 6.0])
    add_counts(ck, "js", disjoint_a, disjoint_b, float(distance.jensenshannon(disjoint_a, disjoint_b)), "disjoint")
    add_counts(ck, "psi", disjoint_a, disjoint_b, psi_oracle(disjoint_a, disjoint_b), "disjoint")


def add_counts(ck, cmd, r, c, want, label):
    def check(line):
        got = float(line)
        e = mixed_err(got, want)
        ck.note(f"{cmd} (abs)", e, label)
        if e > 1e-12:
            ck.fail(cmd, label, f"{got!r} vs {want!r}")

    ck.add(f"{cmd} {len(r)} {fmt(r)} {fmt(c)}\n", cmd, label, check)


# ---------------------------------------------------------------- sort

def sort_cases(ck, rng, quick):
    arrays = [
        ("empty", np.array([])),
        ("one", np.array([3.0])),
        ("small mixed", np.array([3.0, -0.0, 0.0, -1.5, np.inf, -np.inf, 5e-324, -5e-324, 1e308, -0.0])),
        ("normal 63", rng.standard_normal(63)),
        ("normal 65", rng.standard_normal(65)),
        ("normal 10000", rng.standard_normal(10000)),
        ("grid 5000", rng.integers(-3, 3, 5000).astype(float)),
        ("signed zeros 1000", np.where(rng.uniform(size=1000) < 0.5, -0.0, 0.0)),
        ("positive 3000", rng.uniform(1, 2, 3000)),
        ("negative 3000", -rng.exponential(size=3000)),
        ("wide exponents", rng.standard_normal(4000) * 10.0 ** rng.integers(-300, 300, 4000)),
        ("ulp neighbours 20000", 1.0 + rng.integers(0, 3000, 20000) * 2.0 ** -52),
        ("negative ulp neighbours 9000", -1.0 - rng.integers(0, 300, 9000) * 2.0 ** -52),
        ("one outlier 10000", np.concatenate([np.zeros(9999), [1e300]])),
        ("two values 8193", np.where(rng.uniform(size=8193) < 0.5, 3.0, -3.0)),
        ("sorted", np.arange(1000, dtype=float)),
        ("reversed", np.arange(1000, dtype=float)[::-1].copy()),
    ]
    if not quick:
        arrays.append(("normal 200000", rng.standard_normal(200000)))
    for name, x in arrays:
        want = np.sort(x)

        def check(line, want=want, name=name):
            got = np.array([float(v) for v in line.split()])
            if len(got) != len(want) or not np.array_equal(got, want):
                ck.fail("sort", name, "differs from np.sort")
            elif np.any(np.signbit(got) & (got == 0)):
                ck.fail("sort", name, "-0.0 left in the output")
            ck.note("sort (mismatches)", 0, name)

        ck.add(f"sort {len(x)} {fmt(x)}\n", "sort", name, check)


# ---------------------------------------------------------------- main

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    verbose = "--verbose" in sys.argv
    if len(args) != 1:
        print(__doc__)
        sys.exit(2)
    harness = args[0]
    print(f"scipy {scipy.__version__}, numpy {np.__version__}")
    if (scipy.__version__, np.__version__) != ("1.10.1", "1.24.2"):
        print("warning: the oracles are meant to be scipy 1.10.1 / numpy 1.24.2")

    rng = np.random.default_rng(20240611)
    ck = Checker(verbose)
    t0 = time.time()
    ks_cases(ck, rng, quick)
    kstwo_cases(ck)
    chi2_cases(ck, rng)
    wass_cases(ck, rng, quick)
    quantile_cases(ck, rng)
    psi_js_cases(ck, rng)
    sort_cases(ck, rng, quick)
    t1 = time.time()

    text = "".join(c[0] for c in ck.cases)
    proc = subprocess.run([harness], input=text, capture_output=True, text=True)
    t2 = time.time()
    if proc.returncode != 0:
        print(proc.stderr)
        print(f"FAIL: harness exited {proc.returncode}")
        sys.exit(1)
    lines = proc.stdout.split("\n")
    if len(lines) < len(ck.cases):
        print(f"FAIL: {len(ck.cases)} cases, {len(lines)} answers")
        sys.exit(1)
    for (text, category, label, check), line in zip(ck.cases, lines):
        try:
            check(line)
        except Exception as exc:    # a malformed answer is a failure, not a crash
            ck.fail(category, label, f"bad answer {line[:80]!r}: {exc}")

    counts = {}
    for c in ck.cases:
        counts[c[1]] = counts.get(c[1], 0) + 1
    print(f"{len(ck.cases)} cases ({', '.join(f'{k} {v}' for k, v in counts.items())}); "
          f"oracles {t1 - t0:.1f} s, harness {t2 - t1:.1f} s")
    print("  kstwo.sf cases per branch of scipy's dispatch: " +
          ", ".join(f"{b} {c}" for b, c in ck.kstwo_tally.items()))
    for cat in sorted(ck.max_err):
        err, label = ck.max_err[cat]
        print(f"  max {cat:32s} {err:.3g}   ({label})")
    if ck.failures:
        for f in ck.failures[:60]:
            print("FAIL " + f)
        if len(ck.failures) > 60:
            print(f"... and {len(ck.failures) - 60} more")
        print(f"{len(ck.failures)} failures")
        sys.exit(1)
    print("drift_stats parity ok")


if __name__ == "__main__":
    main()
