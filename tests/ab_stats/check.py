#!/usr/bin/python3
"""Parity of extension/ab_stats.c with scipy 1.10 / numpy 1.24, R and gbstats.

    check.py HARNESS [--verbose]

Generates cases with numpy, feeds them to the harness (harness.c, built from
ab_stats.c) in one stream, and compares each answer with an oracle written
here from scipy.  Categories and tolerances (relative unless said):

  normal cdf/sf         1e-14 against scipy.stats.norm where scipy is exact to
                        that (|x| <= 8); beyond, scipy's cephes erfc takes
                        exp(-z^2) of a rounded z^2 (an error of up to ~x^2/2 ulps),
                        so there the tolerance is 1e-14 + 3e-16 x^2; and against a
                        50-digit decimal erfc everywhere: 1e-15
  normal ppf            1e-14 against scipy.stats.norm.ppf, 1e-15 against the
                        decimal reference
  betainc               1e-13 against a 60-digit decimal continued fraction (with a
                        Stirling-series log Gamma), and 1e-11 against
                        scipy.special.betainc, for a, b <= 1e3: cephes' lbeta is
                        off by ~2e-12 for b >> a, and betainc with it (larger a, b
                        are checked through the t distribution)
  t cdf/sf              1e-12 against scipy.stats.t for results >= 1e-300 and
                        |t| <= 1e150 (scipy squares t and overflows beyond); past
                        that against the tail asymptote df^(df/2-1) s^-df / B
  t ppf                 1e-10 against scipy.stats.t.ppf polished by Newton steps on
                        scipy's own cdf (scipy 1.10's stdtrit is only good to ~1e-9
                        and clamps at +-1e100), near the median at the scale of the
                        reference's own uncertainty (scipy's cdf carries 1e-16
                        absolute there); backward error: t.cdf(ours) = p to 1e-12;
                        1e-13 against the closed forms for df = 1 and 2
  nct cdf               1e-9 against scipy.stats.nct.cdf (Boost) for results >= 1e-30
                        and df <= 1e6, and against a quadrature of
                        E[Phi(t sqrt(W) - nc)] (df >= 2) for results >= 1e-300:
                        Boost is off by up to a factor 2 below ~1e-70 and by
                        ~1e-8 relative at df = 1e8, where the quadrature decides;
                        where t < 0 < nc the series cancels and the comparison
                        is absolute, 1e-13
  z-test, Welch         1e-12 (absolute below 1, relative above) field by field
                        against formulas written here (statsmodels' pooled z,
                        Wald interval, delta method; scipy's ttest_ind); Welch's
                        interval against the polished t quantile (1e-12) and
                        scipy's raw t.ppf (1e-8); textbook examples to their digits
  sequential            1e-13 against gbstats' formulas written here; the p-value
                        1e-9 against brentq on the same half-width
  power                 R's published outputs to their printed digits (n from R's
                        uniroot, which stops at 1.2e-4, to that); 1e-9 against
                        scipy re-implementations (n by brentq to 1e-13)
  bandit                best[] 1e-8 against scipy.integrate.quad of the same
                        integral, 3e-3 against 10^6 Monte Carlo draws (on seven
                        of the configurations, for time); weights
                        1e-12 against the floor-and-renormalise rule; the
                        100-unit gate leaves the outputs untouched
Prints the largest error per category and exits 1 on any failure.
Run with Debian's /usr/bin/python3 (scipy 1.10.1, numpy 1.24.2).
"""
import decimal
import math
from fractions import Fraction as F
import subprocess
import sys
import time
import warnings

import numpy as np
import scipy
from scipy import integrate, optimize, special, stats

warnings.simplefilter("ignore")


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
        if best is None or err > best[0] or (math.isnan(err) and not math.isnan(best[0])):
            self.max_err[category] = (err, label)

    def fail(self, category, label, msg):
        self.failures.append(f"{category}: {label}: {msg}")

    def expect(self, category, label, got, want, tol, kind="rel", floor=0.0):
        """Compare and record: kind rel (both below floor count as equal), abs, or mixed."""
        e = err_of(got, want, kind, floor)
        self.note(category, e, label)
        if not e <= tol:
            self.fail(category, label, f"{got!r} vs {want!r} (error {e:.3g} > {tol:g})")
        return e


def err_of(got, want, kind="rel", floor=0.0):
    if math.isnan(want) or math.isnan(got):
        return 0.0 if (math.isnan(want) and math.isnan(got)) else math.inf
    if got == want:
        return 0.0
    if math.isinf(want) or math.isinf(got):
        return math.inf
    if kind == "abs":
        return abs(got - want)
    if kind == "mixed":
        return abs(got - want) / max(1.0, abs(want))
    if abs(got) <= floor and abs(want) <= floor:
        return 0.0
    return abs(got - want) / max(abs(want), floor)


# ---------------------------------------------------------------- references

decimal.getcontext().prec = 60
D = decimal.Decimal
D_PI = D("3.14159265358979323846264338327950288419716939937510582097494459")
D_SQRT_PI = D_PI.sqrt()


def d_erfc(z):
    """erfc of a Decimal to ~45 digits: Taylor series below 3, continued fraction above."""
    if z < 0:
        return 2 - d_erfc(-z)
    if z < 3:
        term = z
        s = z
        z2 = z * z
        n = 0
        while True:
            n += 1
            term = -term * z2 / n
            add = term / (2 * n + 1)
            s += add
            if abs(add) < D("1e-58"):
                break
        return 1 - 2 * s / D_SQRT_PI
    # erfc(z) = exp(-z^2) / sqrt(pi) / (z + 1/2 / (z + 1 / (z + 3/2 / (z + ...))))
    f = z
    for k in range(400, 0, -1):
        f = z + D(k) / 2 / f
    return (-z * z).exp() / D_SQRT_PI / f


def _bern(n):
    a = [F(0)] * (n + 1); out = []
    for m in range(n + 1):
        a[m] = F(1, m + 1)
        for j in range(m, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        out.append(a[0])
    return out
_B = _bern(40)
_STIRLING = [D(_B[2 * k].numerator) / D(_B[2 * k].denominator) / (2 * k * (2 * k - 1)) for k in range(1, 20)]
_D_LN_SQRT_2PI = (2 * D_PI).ln() / 2

def d_lgamma(z):
    z = D(z); shift = D(0)
    while z < 30:
        shift += z.ln(); z += 1
    s = (z - D("0.5")) * z.ln() - z + _D_LN_SQRT_2PI
    zp = z; z2 = z * z
    for c in _STIRLING:
        s += c / zp; zp *= z2
    return s - shift

def d_betainc(a, b, x, upper=False):
    """I_x(a, b) (or 1 - it) to ~40 digits: the continued fraction in 60-digit decimals"""
    a, b, x = D(a), D(b), D(x)
    y = 1 - x
    if x == 0:
        return D(0) if not upper else D(1)
    swap = x > (a + 1) / (a + b + 2)
    if swap:
        a, b, x, y = b, a, y, x
        upper = not upper
    lf = a * x.ln() + b * y.ln() - (d_lgamma(a) + d_lgamma(b) - d_lgamma(a + b))
    tiny = D("1e-200")
    f, c, d = D(1), D(1), D(0)
    j = 0
    while True:
        j += 1
        m = j // 2
        if j % 2:
            dj = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        else:
            dj = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1 + dj * d
        if abs(d) < tiny: d = tiny
        c = 1 + dj / c
        if abs(c) < tiny: c = tiny
        d = 1 / d
        delta = c * d
        f *= delta
        if abs(delta - 1) < D("1e-45") or j > 200000:
            break
    w = lf.exp() / (a * f)
    return 1 - w if upper else w


def d_norm_cdf(x):
    """Phi(x) of a double x, exactly to ~45 digits."""
    return d_erfc(-D(x) / D(2).sqrt()) / 2


def d_norm_ppf(p):
    """the exact normal quantile of a double p (Newton on d_norm_cdf from scipy's value)"""
    x = D(float(stats.norm.ppf(p)))
    for _ in range(4):
        dens = (-x * x / 2).exp() / (2 * D_PI).sqrt()
        x -= (d_erfc(-x / D(2).sqrt()) / 2 - D(p)) / dens
    return x


def t_ppf_polished(p, df, start):
    """Newton on scipy's t.logcdf / t.logsf from start: the quantile scipy's cdf implies."""
    x = start
    lt = math.log(p) if p < 0.5 else math.log1p(-p)
    for _ in range(8):
        if p < 0.5:
            c = stats.t.logcdf(x, df)
            step = (c - lt) / math.exp(stats.t.logpdf(x, df) - c)
        else:
            c = stats.t.logsf(x, df)
            step = -(c - lt) / math.exp(stats.t.logpdf(x, df) - c)
        if not math.isfinite(step):
            break
        x -= step
        if abs(step) <= 1e-16 * abs(x):
            break
    # near the median finish on the cdf itself
    if 0.25 < p < 0.75:
        for _ in range(3):
            x -= (stats.t.cdf(x, df) - p) / stats.t.pdf(x, df)
    return x


def t_ppf_reference(p, df, ours):
    """scipy's t.ppf polished; from ours when scipy's start does not converge (clamped at 1e100)."""
    raw = float(stats.t.ppf(p, df))
    target = p if p < 0.5 else 1.0 - p

    def backward(x):
        c = stats.t.cdf(x, df) if p < 0.5 else stats.t.sf(x, df)
        return abs(c - target) / target

    ref = t_ppf_polished(p, df, raw) if abs(raw) < 1e99 else math.nan
    if not (math.isfinite(ref) and backward(ref) <= 1e-13) and math.isfinite(ours):
        ref = t_ppf_polished(p, df, ours)
    return raw, ref


def log1pmx(u):
    if abs(u) < 0.25:
        s, term, k = 0.0, u * u, 2
        while k < 80:
            add = (term if k % 2 else -term) / k
            s += add
            if abs(add) < 1e-18 * abs(s):
                break
            term *= u
            k += 1
        return s
    return math.log1p(u) - u


def stirlerr(a):
    if a >= 10:
        r = 1 / a
        r2 = r * r
        return r * (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188)))))
    return math.lgamma(a) - (a - 0.5) * math.log(a) + a - 0.5 * math.log(2 * math.pi)


def log_chi2_over_df(w, df):
    """log density of W = V / df, V ~ chi2(df), in Stirling's form (no large cancelling terms)"""
    if w <= 0:
        return -math.inf
    a = df / 2
    lw = a * (math.log(w) - (w - 1)) if w < 0.5 else a * log1pmx(w - 1)
    return 0.5 * math.log(a / (2 * math.pi)) - stirlerr(a) + lw - math.log(w)


def nct_quad(t, df, nc):
    """P(T <= t) = E[Phi(t sqrt(W) - nc)] by adaptive quadrature around the integrand's peak."""
    log_ndtr = special.log_ndtr

    def lf(w):
        if w <= 0:
            return -math.inf
        return float(log_ndtr(t * math.sqrt(w) - nc)) + log_chi2_over_df(w, df)

    sd = math.sqrt(2 / df)
    grid = np.concatenate([np.linspace(max(1e-9, 1 - 12 * sd), 1 + 12 * sd, 401), np.logspace(-9, 3, 121)])
    vals = np.array([lf(w) for w in grid])
    i = int(np.argmax(vals))
    wm, lm = grid[i], vals[i]
    width = min(sd, wm / 3) if df > 2 else wm / 3
    edges = sorted({0.0, *[wm + k * width for k in (-40, -20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20, 40)
                           if wm + k * width > 0]})
    edges.append(math.inf)
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        v, _ = integrate.quad(lambda w: math.exp(lf(w) - lm), a, b, epsabs=0, epsrel=1e-13, limit=400)
        total += v
    return total * math.exp(lm)


# ---------------------------------------------------------------- normal

def normal_cases(ck, rng):
    xs = np.concatenate([np.linspace(-39, 39, 1561), rng.normal(0, 6, 600), [0.0, -0.0, 1e-300, -1e-300, 5e-324],
                         [math.inf, -math.inf, math.nan]])
    for x in xs:
        want_cdf, want_sf = float(stats.norm.cdf(x)), float(stats.norm.sf(x))
        label = f"x={x!r}"
        tol = 1e-14 + 3e-16 * x * x if math.isfinite(x) else 0.0

        def check(line, want_cdf=want_cdf, want_sf=want_sf, label=label, tol=tol):
            got_cdf, got_sf = (float(v) for v in line.split())
            ck.expect("normal cdf/sf vs scipy (rel)", label + " cdf", got_cdf, want_cdf, tol, floor=1e-300)
            ck.expect("normal cdf/sf vs scipy (rel)", label + " sf", got_sf, want_sf, tol, floor=1e-300)

        ck.add(f"ncdf {x!r}\nnsf {x!r}\n", "normal", label, check)
    # the exact reference, on fewer points (decimal is slow)
    for x in np.concatenate([np.linspace(-38, 38, 153), rng.normal(0, 10, 60)]):
        want = float(d_norm_cdf(float(x)))
        want_sf = float(1 - d_norm_cdf(float(x))) if x < 0 else float(d_norm_cdf(-float(x)))

        def check(line, want=want, want_sf=want_sf, label=f"x={x!r}"):
            got_cdf, got_sf = (float(v) for v in line.split())
            ck.expect("normal cdf/sf vs decimal (rel)", label + " cdf", got_cdf, want, 1e-15, floor=1e-300)
            ck.expect("normal cdf/sf vs decimal (rel)", label + " sf", got_sf, want_sf, 1e-15, floor=1e-300)

        ck.add(f"ncdf {x!r}\nnsf {x!r}\n", "normal", f"x={x!r}", check)

    ps = np.concatenate([np.logspace(-320, math.log10(0.499), 700), 1 - np.logspace(-16, math.log10(0.499), 300),
                         rng.uniform(0, 1, 400), [0.0, 1.0, 0.5, 0.425, 0.575, -0.1, 1.1, math.nan, 5e-324]])
    for p in ps:
        want = float(stats.norm.ppf(p)) if 0 <= p <= 1 else math.nan

        def check(line, want=want, label=f"p={p!r}"):
            ck.expect("normal ppf vs scipy (rel)", label, float(line), want, 1e-14, floor=1e-300)

        ck.add(f"nppf {p!r}\n", "normal ppf", f"p={p!r}", check)
    for p in np.concatenate([np.logspace(-300, -0.31, 40), 1 - np.logspace(-15, -0.31, 20), rng.uniform(0, 1, 20)]):
        want = float(d_norm_ppf(float(p)))

        def check(line, want=want, label=f"p={p!r}"):
            ck.expect("normal ppf vs decimal (rel)", label, float(line), want, 1e-15)

        ck.add(f"nppf {p!r}\n", "normal ppf", f"p={p!r}", check)


# ---------------------------------------------------------------- betainc, t

def betainc_cases(ck, rng):
    for _ in range(600):
        a = float(10 ** rng.uniform(-1, 3))
        b = float(10 ** rng.uniform(-1, 3))
        m = a / (a + b)
        x = float(np.clip(rng.normal(m, 3 * math.sqrt(m * (1 - m) / (a + b + 1)) + 1e-3), 1e-12, 1 - 1e-12))
        if rng.uniform() < 0.3:
            x = float(rng.uniform())
        want = float(special.betainc(a, b, x))
        exact = float(d_betainc(a, b, x)) if len(ck.cases) % 3 == 0 else None

        def check(line, want=want, exact=exact, label=f"a={a!r} b={b!r} x={x!r}"):
            ck.expect("betainc vs scipy (rel)", label, float(line), want, 1e-11, floor=1e-300)
            if exact is not None:
                ck.expect("betainc vs decimal (rel)", label, float(line), exact, 1e-13, floor=1e-300)

        ck.add(f"betainc {a!r} {b!r} {x!r}\n", "betainc", f"a={a!r} b={b!r} x={x!r}", check)
    for a, b, x, want in [(1.0, 1.0, 0.3, 0.3), (2.0, 3.0, 0.0, 0.0), (2.0, 3.0, 1.0, 1.0),
                          (0.0, 1.0, 0.5, math.nan), (1.0, 1.0, 1.5, math.nan), (-1.0, 2.0, 0.5, math.nan)]:
        ck.add(f"betainc {a!r} {b!r} {x!r}\n", "betainc", f"a={a} b={b} x={x}",
               lambda line, want=want, a=a, b=b, x=x: ck.expect("betainc edges", f"a={a} b={b} x={x}",
                                                               float(line), want, 0.0))


T_DFS = [0.05, 0.3, 0.5, 1, 1.5, 2, 2.7, 3, 5, 7.3, 10, 29.9, 50, 59, 61, 100, 333.3, 1e3, 1e4, 1e5, 1e6,
         3.7e6, 1e7, 1e8, 1e10, 1e12, 1e15]


def t_tail_asymptote(s, df):
    """P(T > s) for s beyond 1e150: df^(df/2 - 1) s^-df / B(df/2, 1/2), to relative (df/s)^2"""
    return math.exp((df / 2 - 1) * math.log(df) - df * math.log(s) - special.betaln(df / 2, 0.5))


def t_cases(ck, rng):
    ts = [0, 1e-10, 1e-3, 0.1, 0.5, 0.9, 1, 1.1, 1.5, 1.7, 1.73, 1.74, 2, 2.5, 3, 4, 5, 7, 8, 9, 10, 12, 15, 20,
          30, 38, 50, 100, 1e3, 1e5, 1e10, 1e50, 1e149, 1e200, 1e300]
    ts = sorted(set(ts + [-t for t in ts] + list(rng.normal(0, 3, 20))))
    for df in T_DFS:
        for t in ts:
            if abs(t) <= 1e150:
                want_cdf, want_sf = float(stats.t.cdf(t, df)), float(stats.t.sf(t, df))
                cat = "t cdf/sf vs scipy (rel)"
            else:
                tail = t_tail_asymptote(abs(t), df)
                want_cdf, want_sf = (tail, 1 - tail) if t < 0 else (1 - tail, tail)
                cat = "t cdf/sf beyond 1e150 vs asymptote (rel)"

            def check(line, want_cdf=want_cdf, want_sf=want_sf, label=f"t={t!r} df={df!r}", cat=cat):
                got_cdf, got_sf = (float(v) for v in line.split())
                ck.expect(cat, label + " cdf", got_cdf, want_cdf, 1e-12, floor=1e-300)
                ck.expect(cat, label + " sf", got_sf, want_sf, 1e-12, floor=1e-300)

            ck.add(f"tcdf {t!r} {df!r}\ntsf {t!r} {df!r}\n", "t", f"t={t!r} df={df!r}", check)
    for t, df in [(math.inf, 3.0), (-math.inf, 3.0), (math.nan, 3.0), (1.0, 0.0), (1.0, -2.0), (1.0, math.nan)]:
        want = {math.inf: 1.0, -math.inf: 0.0}.get(t, math.nan) if df > 0 else math.nan
        ck.add(f"tcdf {t!r} {df!r}\n", "t", f"t={t} df={df}",
               lambda line, want=want, t=t, df=df: ck.expect("t edges", f"t={t} df={df}", float(line), want, 0.0))
    # df = inf is the normal
    for t in [-40.0, -3.0, 0.5, 7.0]:
        ck.add(f"tcdf {t!r} inf\n", "t", f"t={t} df=inf",
               lambda line, t=t: ck.expect("t cdf/sf vs scipy (rel)", f"t={t} df=inf", float(line),
                                           float(stats.norm.cdf(t)), 1e-14, floor=1e-300))

    ps = [1e-300, 1e-200, 1e-100, 1e-50, 1e-20, 1e-10, 1e-5, 1e-3, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45,
          0.49, 0.4999999, 0.5, 0.5000001, 0.6, 0.9, 0.95, 0.975, 0.99, 0.999, 1 - 1e-5, 1 - 1e-10, 1 - 2 ** -50]
    for df in T_DFS[:-3]:
        for p in ps + list(rng.uniform(0, 1, 5)):
            ck.add(f"tppf {p!r} {df!r}\n", "t ppf", f"p={p!r} df={df!r}",
                   lambda line, p=p, df=df: check_t_ppf(ck, p, df, float(line)))
    # closed forms, exact from the double p: df = 1 is tan(pi (p - 1/2)), df = 2 is (2p - 1) / sqrt(2 p (1 - p))
    for p in list(np.logspace(-300, -0.302, 60)) + [0.4999999, 0.49999999999, 0.5000001, 0.75, 0.9, 1 - 1e-10]:
        if p < 1e-15:
            want1 = -1 / (math.pi * p)      # tan(pi (p - 1/2)) = -cot(pi p)
        elif abs(p - 0.5) < 0.25:
            want1 = math.tan(math.pi * (p - 0.5))
        else:
            want1 = -1 / math.tan(math.pi * p) if p < 0.5 else 1 / math.tan(math.pi * (1 - p))
        want2 = (2 * p - 1) / math.sqrt(2 * p * (1 - p)) if p > 1e-300 else -1 / math.sqrt(2 * p)
        for df, want in ((1.0, want1), (2.0, want2)):
            ck.add(f"tppf {p!r} {df!r}\n", "t ppf", f"p={p!r} df={df}",
                   lambda line, want=want, p=p, df=df: ck.expect("t ppf vs closed forms, df 1 and 2 (rel)",
                                                                 f"p={p!r} df={df}", float(line), want, 1e-13))
    for p, df, want in [(0.0, 3.0, -math.inf), (1.0, 3.0, math.inf), (0.5, 3.0, 0.0), (-0.1, 3.0, math.nan),
                        (1.1, 3.0, math.nan), (0.3, 0.0, math.nan), (math.nan, 3.0, math.nan)]:
        ck.add(f"tppf {p!r} {df!r}\n", "t ppf", f"p={p} df={df}",
               lambda line, want=want, p=p, df=df: ck.expect("t edges", f"ppf p={p} df={df}", float(line), want, 0.0))


def check_t_ppf(ck, p, df, got):
    label = f"p={p!r} df={df!r}"
    if p == 0.5:
        ck.expect("t ppf vs polished scipy (rel)", label, got, 0.0, 0.0)
        return
    # beyond the doubles: the tail asymptote says where the quantile is
    q = p if p < 0.5 else 1 - p
    log_s = (math.log(df) * (df / 2 - 1) - math.log(q) - special.betaln(df / 2, 0.5)) / df
    if log_s > math.log(1e300):
        want = -math.inf if p < 0.5 else math.inf
        if log_s < math.log(1.7e308):
            want = math.copysign(math.exp(log_s), -1 if p < 0.5 else 1)
            ck.expect("t ppf beyond 1e150 vs asymptote (rel)", label, got, want, 1e-12)
        else:
            ck.expect("t ppf beyond 1e150 vs asymptote (rel)", label, got, want, 0.0)
        return
    if abs(got) > 1e150:
        want = math.copysign(math.exp(log_s), -1 if p < 0.5 else 1)
        ck.expect("t ppf beyond 1e150 vs asymptote (rel)", label, got, want, 1e-12)
        return
    raw, ref = t_ppf_reference(p, df, got)
    # scipy's cdf carries ~1e-16 absolute, so the reference quantile ~4e-16 / pdf absolute
    scale = max(abs(ref), 4e-6 / float(stats.t.pdf(ref, df))) if abs(ref) < 1 else abs(ref)
    e = abs(got - ref) / scale
    ck.note("t ppf vs polished scipy (rel)", e, label)
    if not e <= 1e-10:
        ck.fail("t ppf", label, f"{got!r} vs polished {ref!r} (raw scipy {raw!r})")
    if abs(raw) < 1e99:
        ck.note("t ppf: scipy's own stdtrit vs polished (info)", abs(raw - ref) / scale, label)
    c = stats.t.cdf(got, df) if p < 0.5 else stats.t.sf(got, df)
    be = abs(c - q) / q
    if 0.25 < p < 0.75:
        be = abs(c - q)          # the cdf near the median is only absolute
    ck.note("t ppf backward error, scipy cdf (rel)", be, label)
    if not be <= 1e-12:
        ck.fail("t ppf backward", label, f"t.cdf({got!r}) = {c!r}, want {q!r}")


# ---------------------------------------------------------------- noncentral t

def nct_cases(ck, rng):
    dfs = [0.7, 1, 2.5, 5, 10, 30, 58, 100, 1000, 1e4, 1e5, 1e6, 1e8]
    ncs = [-10, -3, -1, -0.1, 0.1, 0.5, 1, 2, 3, 5, 8, 13, 20, 38, 40, 60]
    ts = [-20, -5, -2, -0.5, 0.01, 0.5, 1, 1.96, 2.5, 4, 8, 15, 30, 60, 200]
    quad_every = 0
    for df in dfs:
        for nc in ncs:
            for t in ts:
                want = float(stats.nct.cdf(t, df, nc))
                cancel = t < 0 < nc
                quad_every += 1
                # the quadrature is the oracle where Boost is not (df > 1e6, and t < 0 < nc there);
                # it needs df >= 2 (the chi density is singular at 0 below)
                ref = None
                if df >= 2 and (df > 1e6 or quad_every % 4 == 0):
                    ref = nct_quad(t, df, nc)

                def check(line, want=want, ref=ref, cancel=cancel, df=df, label=f"t={t} df={df:g} nc={nc}"):
                    got = float(line)
                    if cancel:
                        ck.expect("nct cdf where t < 0 < nc (abs)", label, got,
                                  ref if df > 1e6 else want, 1e-13, kind="abs")
                        return
                    if want >= 1e-30 and df <= 1e6:
                        ck.expect("nct cdf vs scipy (rel, >= 1e-30, df <= 1e6)", label, got, want, 1e-9)
                    if ref is not None and ref >= 1e-300:
                        ck.expect("nct cdf vs quadrature (rel)", label, got, ref, 1e-9)

                ck.add(f"nct {t!r} {df!r} {nc!r}\n", "nct", f"t={t} df={df} nc={nc}", check)
    for _ in range(150):
        df = float(10 ** rng.uniform(-0.3, 5))
        nc = float(rng.uniform(-5, 30))
        t = float(rng.uniform(-3, 40))
        want = float(stats.nct.cdf(t, df, nc))
        cancel = t < 0 < nc

        def check(line, want=want, cancel=cancel, label=f"t={t!r} df={df!r} nc={nc!r}"):
            got = float(line)
            if cancel:
                ck.expect("nct cdf where t < 0 < nc (abs)", label, got, want, 1e-13, kind="abs")
            elif want >= 1e-30:
                ck.expect("nct cdf vs scipy (rel, >= 1e-30, df <= 1e6)", label, got, want, 1e-9)

        ck.add(f"nct {t!r} {df!r} {nc!r}\n", "nct", f"t={t} df={df} nc={nc}", check)
    for t, df, nc, want in [(1.0, 5.0, 0.0, float(stats.t.cdf(1.0, 5.0))), (0.0, 5.0, 2.0, float(stats.norm.cdf(-2.0))),
                            (math.inf, 5.0, 2.0, 1.0), (-math.inf, 5.0, 2.0, 0.0), (1.0, 0.0, 2.0, math.nan),
                            (1.0, 5.0, math.nan, math.nan), (1.5, math.inf, 0.5, float(stats.norm.cdf(1.0)))]:
        ck.add(f"nct {t!r} {df!r} {nc!r}\n", "nct", f"t={t} df={df} nc={nc}",
               lambda line, want=want, t=t, df=df, nc=nc: ck.expect("nct edges (rel)", f"t={t} df={df} nc={nc}",
                                                                    float(line), want, 1e-15))


# ---------------------------------------------------------------- comparisons

FIELDS = ["diff", "diff_lo", "diff_hi", "rel", "rel_lo", "rel_hi", "statistic", "df", "p_value"]


def parse_comparison(line):
    return dict(zip(FIELDS, (float(v) for v in line.split())))


def delta_rel_var(nc, mc, vc, nt, mt, vt):
    """gbstats' variance_of_ratios(m_t, v_t/n_t, m_c, v_c/n_c, 0)"""
    return vt / nt / mc ** 2 + vc / nc * mt ** 2 / mc ** 4


def prop_oracle(xc, nc, xt, nt, alpha):
    """statsmodels-style, from scratch: pooled z, two-sided normal p, Wald interval, delta method"""
    pc, pt = xc / nc, xt / nt
    pooled = (xc + xt) / (nc + nt)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
    z = (pt - pc) / se0 if se0 > 0 else math.nan
    p = 2 * float(stats.norm.sf(abs(z))) if not math.isnan(z) else math.nan
    crit = float(stats.norm.isf(alpha / 2))
    se1 = math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
    diff = pt - pc
    rel = (pt - pc) / pc if pc != 0 else math.nan
    rse = math.sqrt(delta_rel_var(nc, pc, pc * (1 - pc), nt, pt, pt * (1 - pt))) if pc != 0 else math.nan
    return dict(diff=diff, diff_lo=diff - crit * se1, diff_hi=diff + crit * se1, rel=rel, rel_lo=rel - crit * rse,
                rel_hi=rel + crit * rse, statistic=z, df=math.inf, p_value=p)


def expect_fields(ck, cat, label, got, want, tol, fields=FIELDS):
    for f in fields:
        kind = "rel" if f == "p_value" else "mixed"
        ck.expect(f"{cat} {f}", label, got[f], want[f], tol, kind=kind, floor=1e-300)


def prop_cases(ck, rng):
    for _ in range(300):
        nc = float(rng.integers(1, 10 ** rng.integers(1, 7)))
        nt = float(rng.integers(1, 10 ** rng.integers(1, 7)))
        rate = float(10 ** rng.uniform(-3, math.log10(0.95)))
        xc = float(rng.binomial(int(nc), rate))
        xt = float(rng.binomial(int(nt), min(0.999, rate * rng.uniform(0.8, 1.3))))
        alpha = float(rng.choice([0.01, 0.05, 0.1, 0.2]))
        if xc == 0:
            xc = 1.0
        want = prop_oracle(xc, nc, xt, nt, alpha)
        label = f"xc={xc:g} nc={nc:g} xt={xt:g} nt={nt:g} alpha={alpha}"
        ck.add(f"prop {xc!r} {nc!r} {xt!r} {nt!r} {alpha!r}\n", "prop", label,
               lambda line, want=want, label=label: expect_fields(ck, "z-test", label, parse_comparison(line), want,
                                                                  1e-12))
    # textbook examples, to the digits they print
    # Stat Trek, "Hypothesis test: difference between proportions", example 1:
    # p1 = 0.38 of 100, p2 = 0.51 of 200: pooled p = 0.467, SE = 0.061, z = -2.13
    # (sample 1 is the treatment here: statistic = p_t - p_c over the pooled SE).
    ck.add("prop 102 200 38 100 0.05\n", "prop", "Stat Trek", lambda line: check_textbook(
        ck, "Stat Trek example", parse_comparison(line), {"statistic": (-2.13, 0.005)}))
    # Triola, "Elementary Statistics", seat belts and crash deaths (worked on
    # justaaa.com, 'Among 2901 accu prints not wearing seatbelts, 28 ...'):
    # 28 deaths of 2901 without, 14 of 7743 with; pooled 0.00395, z = 5.75,
    # 95% Wald interval (0.00416, 0.01153).
    ck.add("prop 14 7743 28 2901 0.05\n", "prop", "Triola seat belts", lambda line: check_textbook(
        ck, "Triola seat-belt example", parse_comparison(line),
        {"statistic": (5.75, 0.005), "diff_lo": (0.00416, 0.000005), "diff_hi": (0.01153, 0.000005)}))
    for args in ["5 0 1 10 0.05", "5 10 1 10 0", "11 10 1 10 0.05", "-1 10 1 10 0.05", "5 10 1 10 1"]:
        ck.add(f"prop {args}\n", "prop", f"invalid {args}",
               lambda line, args=args: ck.expect("z-test invalid -> NaN", args, parse_comparison(line)["diff"],
                                                 math.nan, 0.0))


def check_textbook(ck, name, got, wants):
    for field, (want, tol) in wants.items():
        ck.expect(f"textbook examples (abs)", f"{name} {field}", got[field], want, tol, kind="abs")


def welch_oracle(c, t, alpha):
    """scipy's ttest_ind(t, c, equal_var=False) on the raw samples, and the interval at its df"""
    res = stats.ttest_ind(t, c, equal_var=False)
    nc, nt = len(c), len(t)
    mc, mt = float(np.mean(c)), float(np.mean(t))
    vc, vt = float(np.var(c, ddof=1)), float(np.var(t, ddof=1))
    se = math.sqrt(vt / nt + vc / nc)
    df = (vt / nt + vc / nc) ** 2 / ((vt / nt) ** 2 / (nt - 1) + (vc / nc) ** 2 / (nc - 1))
    raw = float(stats.t.ppf(1 - alpha / 2, df))
    crit = t_ppf_polished(1 - alpha / 2, df, raw)
    rse = math.sqrt(delta_rel_var(nc, mc, vc, nt, mt, vt))
    diff, rel = mt - mc, (mt - mc) / mc
    want = dict(diff=diff, diff_lo=diff - crit * se, diff_hi=diff + crit * se, rel=rel, rel_lo=rel - crit * rse,
                rel_hi=rel + crit * rse, statistic=float(res.statistic), df=df, p_value=float(res.pvalue))
    raw_ci = dict(diff_lo=diff - raw * se, diff_hi=diff + raw * se)
    return (nc, mc, vc, nt, mt, vt), want, raw_ci


def welch_cases(ck, rng):
    for i in range(250):
        nc = int(rng.integers(2, [50, 500, 5000, 200000][i % 4]))
        nt = int(rng.integers(2, [50, 500, 5000, 200000][(i // 4) % 4]))
        kind = i % 3
        if kind == 0:
            c = rng.normal(10, 3, nc)
            t = rng.normal(10 + rng.uniform(-1, 1), rng.uniform(0.5, 6), nt)
        elif kind == 1:
            c = rng.exponential(2.0, nc)
            t = rng.exponential(rng.uniform(1.5, 2.5), nt)
        else:
            c = rng.binomial(1, 0.1, nc).astype(float) + 0.001
            t = rng.binomial(1, 0.12, nt).astype(float) + 0.001
        if np.var(c) == 0 or np.var(t) == 0:
            continue
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        summ, want, raw_ci = welch_oracle(c, t, alpha)
        label = f"nc={nc} nt={nt} kind={kind} alpha={alpha}"

        def check(line, want=want, raw_ci=raw_ci, label=label):
            got = parse_comparison(line)
            expect_fields(ck, "Welch", label, got, want, 1e-12, FIELDS[:8])
            ck.expect("Welch p_value vs ttest_ind (rel)", label, got["p_value"], want["p_value"], 1e-12, floor=1e-300)
            for f in ("diff_lo", "diff_hi"):
                ck.expect("Welch interval vs scipy's raw t.ppf (mixed)", label + " " + f, got[f], raw_ci[f], 1e-8,
                          kind="mixed")

        ck.add(f"welch {fmt(summ)} {alpha!r}\n", "welch", label, check)
    for args in ["1 1 1 10 1 1 0.05", "10 1 -1 10 1 1 0.05", "10 1 1 10 1 1 1.5"]:
        ck.add(f"welch {args}\n", "welch", f"invalid {args}",
               lambda line, args=args: ck.expect("Welch invalid -> NaN", args, parse_comparison(line)["diff"],
                                                 math.nan, 0.0))
    # relative lift variance
    for _ in range(100):
        a = [float(rng.integers(1, 10 ** 6)), float(rng.normal(5, 3)), float(rng.uniform(0.1, 20))]
        b = [float(rng.integers(1, 10 ** 6)), float(rng.normal(5, 3)), float(rng.uniform(0.1, 20))]
        want = delta_rel_var(*a, *b)
        ck.add(f"rlv {fmt(a)} {fmt(b)}\n", "rlv", f"{a} {b}",
               lambda line, want=want, a=a, b=b: ck.expect("relative lift variance (rel)", f"{a} {b}", float(line),
                                                           want, 1e-13))
    ck.add("rlv 10 0 1 10 1 1\n", "rlv", "m_c = 0",
           lambda line: ck.expect("relative lift variance (rel)", "m_c = 0", float(line), math.nan, 0.0))


# ---------------------------------------------------------------- sequential

def gb_rho(alpha, tuning):
    """gbstats' sequential_rho (eq. 161 of Waudby-Smith et al.), two-sided"""
    return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)


def gb_halfwidth(s2, n, tuning, alpha):
    """gbstats' sequential_interval_halfwidth (eq. 9)"""
    rho = gb_rho(alpha, tuning)
    return math.sqrt(s2) * math.sqrt(2 * (n * rho ** 2 + 1) * math.log(math.sqrt(n * rho ** 2 + 1) / alpha)
                                     / (n * rho) ** 2)


def gb_p_value(diff, s2, n, tuning):
    """smallest alpha whose sequence excludes 0, by brentq on log alpha (independent of the C bisection)"""
    if diff == 0:
        return 1.0

    def h(la):
        lam = -2 * la
        rho2 = (lam + math.log1p(lam)) / tuning
        return math.sqrt(s2) * math.sqrt(2 * (n * rho2 + 1) * (0.5 * math.log1p(n * rho2) - la) / (n * n * rho2))

    limit = math.sqrt(s2 * (1 / n + tuning / (2 * n * n)))
    if abs(diff) <= limit:
        return 1.0
    lo = -1.0
    while h(lo) <= abs(diff):
        lo *= 2
        if lo < -1e4:
            return 0.0
    la = optimize.brentq(lambda la: h(la) - abs(diff), lo, -1e-300, xtol=1e-14, rtol=1e-15, maxiter=500)
    return math.exp(la)


def sequential_cases(ck, rng):
    for _ in range(200):
        alpha = float(rng.choice([0.001, 0.01, 0.05, 0.1, 0.3]))
        tuning = float(rng.choice([100.0, 1000.0, 5000.0, 50000.0]))
        want = gb_rho(alpha, tuning)
        ck.add(f"rho {alpha!r} {tuning!r}\n", "seq", f"rho {alpha} {tuning}",
               lambda line, want=want, a=alpha, t=tuning: ck.expect("sequential rho (rel)", f"alpha={a} N={t}",
                                                                   float(line), want, 1e-14))
        s2 = float(10 ** rng.uniform(-4, 4))
        n = float(rng.integers(2, 10 ** rng.integers(1, 8)))
        want = gb_halfwidth(s2, n, tuning, alpha)
        ck.add(f"hw {s2!r} {n!r} {tuning!r} {alpha!r}\n", "seq", f"hw {s2} {n}",
               lambda line, want=want, lab=f"s2={s2!r} n={n!r} N={tuning} alpha={alpha}":
               ck.expect("sequential halfwidth (rel)", lab, float(line), want, 1e-13))
    for i in range(250):
        nc = float(rng.integers(2, 10 ** rng.integers(2, 7)))
        nt = float(rng.integers(2, 10 ** rng.integers(2, 7)))
        mc = float(rng.uniform(0.5, 20))
        mt = mc * float(1 + rng.normal(0, [0.001, 0.01, 0.05, 0.3][i % 4]))
        vc = float(rng.uniform(0.1, 50))
        vt = vc * float(rng.uniform(0.5, 2))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        tuning = float(rng.choice([1000.0, 5000.0, 20000.0]))
        n = nc + nt
        se2 = vt / nt + vc / nc
        diff = mt - mc
        hw = gb_halfwidth(se2 * n, n, tuning, alpha)
        rvar = delta_rel_var(nc, mc, vc, nt, mt, vt)
        hwr = gb_halfwidth(rvar * n, n, tuning, alpha)
        rel = (mt - mc) / mc
        want = dict(diff=diff, diff_lo=diff - hw, diff_hi=diff + hw, rel=rel, rel_lo=rel - hwr, rel_hi=rel + hwr,
                    statistic=diff / math.sqrt(se2), df=math.inf, p_value=gb_p_value(diff, se2 * n, n, tuning))
        label = f"nc={nc:g} nt={nt:g} mc={mc:.4g} mt={mt:.6g} alpha={alpha} N={tuning:g}"

        def check(line, want=want, label=label):
            got = parse_comparison(line)
            expect_fields(ck, "sequential", label, got, want, 1e-13, FIELDS[:8])
            ck.expect("sequential p-value vs brentq (rel)", label, got["p_value"], want["p_value"], 1e-9,
                      floor=1e-300)

        ck.add(f"seq {nc!r} {mc!r} {vc!r} {nt!r} {mt!r} {vt!r} {tuning!r} {alpha!r}\n", "seq", label, check)
    # the p-value is where the half-width meets |diff|
    ck.add("seq 5000 10 4 5000 10.2 4 5000 0.05\n", "seq", "crossing", lambda line: check_crossing(ck, line))


def check_crossing(ck, line):
    got = parse_comparison(line)
    n, se2 = 10000.0, 4 / 5000 * 2
    h = gb_halfwidth(se2 * n, n, 5000.0, got["p_value"])
    ck.expect("sequential p-value vs brentq (rel)", "half-width at p equals |diff|", h, abs(got["diff"]), 1e-11)


# ---------------------------------------------------------------- power

def prop_power(n, p1, p2, alpha):
    z = stats.norm.isf(alpha / 2)
    return float(stats.norm.cdf((math.sqrt(n) * abs(p1 - p2) - z * math.sqrt((p1 + p2) * (1 - (p1 + p2) / 2)))
                                / math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))))


def t_power(n, delta, sd, alpha):
    """power.t.test's body with scipy: the polished t quantile, then Boost's noncentral t sf"""
    df = 2 * (n - 1)
    crit = t_ppf_polished(1 - alpha / 2, df, float(stats.t.isf(alpha / 2, df)))
    return float(stats.nct.sf(crit, df, math.sqrt(n / 2) * abs(delta) / sd))


# R's outputs.  The power.prop.test lines are the comments of R's own
# examples (?power.prop.test: "=> power = 0.740", "=> n = 76.7"); the
# power.t.test ones are printed outputs: R's examples as the brief quotes
# them (0.869, 22.02), an R session on ideone.com (L2w5V3B3), the
# rstudio-pubs t-test power note (50607) and the University of Aberdeen's R
# ANOVA tutorial, section 46.  n comes from uniroot (tol 1.2e-4 on n).
R_PROP_POWER = [((50, 0.50, 0.75, 0.05), 0.740, 0.0005)]
R_PROP_N = [((0.50, 0.75, 0.05, 0.90), 76.7, 0.05)]
R_T_POWER = [((20, 1, 1, 0.05), 0.869, 0.0005),
             ((100, 1.0, 2.5, 0.05), 0.8036466, 5e-8),
             ((20, 4, 5, 0.05), 0.6933994, 5e-8),
             ((15, 5, 4, 0.05), 0.9104815, 5e-8)]
R_T_N = [((1, 1, 0.05, 0.90), 22.02, 0.005),
         ((4, 5, 0.05, 0.8), 25.52463, 5e-6 + 1.3e-4),
         ((5, 4, 0.05, 0.8), 11.09423, 5e-6 + 1.3e-4)]


def power_cases(ck, rng):
    for args, want, tol in R_PROP_POWER:
        ck.add(f"ppp {fmt(args)}\n", "power", f"R power.prop.test{args}",
               lambda line, args=args, want=want, tol=tol: ck.expect("power vs R's published outputs (abs)",
                                                                     f"power.prop.test{args}", float(line), want,
                                                                     tol, kind="abs"))
    for args, want, tol in R_PROP_N:
        ck.add(f"ppn {fmt(args)}\n", "power", f"R power.prop.test{args}",
               lambda line, args=args, want=want, tol=tol: ck.expect("power vs R's published outputs (abs)",
                                                                     f"power.prop.test n{args}", float(line), want,
                                                                     tol, kind="abs"))
    for args, want, tol in R_T_POWER:
        ck.add(f"ptp {fmt(args)}\n", "power", f"R power.t.test{args}",
               lambda line, args=args, want=want, tol=tol: ck.expect("power vs R's published outputs (abs)",
                                                                     f"power.t.test{args}", float(line), want,
                                                                     tol, kind="abs"))
    for args, want, tol in R_T_N:
        ck.add(f"ptn {fmt(args)}\n", "power", f"R power.t.test n{args}",
               lambda line, args=args, want=want, tol=tol: ck.expect("power vs R's published outputs (abs)",
                                                                     f"power.t.test n{args}", float(line), want,
                                                                     tol, kind="abs"))
    for _ in range(150):
        p1 = float(rng.uniform(0.01, 0.9))
        p2 = float(np.clip(p1 * rng.uniform(0.5, 1.5), 0.005, 0.995))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        power = float(rng.uniform(0.5, 0.99))
        n = float(10 ** rng.uniform(1, 6))
        want = prop_power(n, p1, p2, alpha)
        ck.add(f"ppp {n!r} {p1!r} {p2!r} {alpha!r}\n", "power", f"ppp {n} {p1} {p2}",
               lambda line, want=want, lab=f"n={n!r} p1={p1!r} p2={p2!r} alpha={alpha}":
               ck.expect("power.prop.test power vs scipy (rel)", lab, float(line), want, 1e-9))
        if p1 != p2:
            nn = optimize.brentq(lambda m: prop_power(m, p1, p2, alpha) - power, 1e-6, 1e12, xtol=1e-13,
                                 rtol=1e-14) if prop_power(1e-6, p1, p2, alpha) < power else math.nan
            ck.add(f"ppn {p1!r} {p2!r} {alpha!r} {power!r}\n", "power", f"ppn {p1} {p2}",
                   lambda line, want=nn, lab=f"p1={p1!r} p2={p2!r} alpha={alpha} power={power!r}":
                   ck.expect("power.prop.test n vs brentq (rel)", lab, float(line), want, 1e-9))
    for _ in range(80):
        delta = float(10 ** rng.uniform(-1.5, 0.5)) * float(rng.choice([-1, 1]))
        sd = float(10 ** rng.uniform(-0.3, 0.5))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        power = float(rng.uniform(0.3, 0.99))
        n = float(10 ** rng.uniform(0.35, 4.5))
        want = t_power(n, delta, sd, alpha)
        ck.add(f"ptp {n!r} {delta!r} {sd!r} {alpha!r}\n", "power", f"ptp {n} {delta}",
               lambda line, want=want, lab=f"n={n!r} delta={delta!r} sd={sd!r} alpha={alpha}":
               ck.expect("power.t.test power vs scipy (rel)", lab, float(line), want, 1e-9))
        if len([c for c in ck.cases if c[1] == "power t n"]) < 25:
            nn = optimize.brentq(lambda m: t_power(m, delta, sd, alpha) - power, 1.5, 1e7, xtol=1e-12, rtol=1e-14)
            ck.add(f"ptn {delta!r} {sd!r} {alpha!r} {power!r}\n", "power t n", f"ptn {delta} {sd}",
                   lambda line, want=nn, lab=f"delta={delta!r} sd={sd!r} alpha={alpha} power={power!r}":
                   ck.expect("power.t.test n vs brentq (rel)", lab, float(line), want, 1e-9))
    for cmd in ["ppn 0.5 0.5 0.05 0.8", "ppn 0.5 0.6 0.05 1", "ppp 0 0.5 0.6 0.05", "ptn 0 1 0.05 0.8",
                "ptp 1 1 1 0.05", "ptp 10 1 0 0.05", "ptn 1 1 0.05 0"]:
        ck.add(cmd + "\n", "power", cmd,
               lambda line, cmd=cmd: ck.expect("power invalid -> NaN", cmd, float(line), math.nan, 0.0))


# ---------------------------------------------------------------- bandit

def posterior(n, m, v, pm, pv):
    prior_prec = 1 / pv
    data_prec = n / max(v, 1e-9) if n > 0 else 0.0   # GrowthBook floors the variance at 1e-9
    prec = prior_prec + data_prec
    return (prior_prec * pm + data_prec * m) / prec, math.sqrt(1 / prec)


def best_quad(means, sds, k):
    """the same integral with scipy's QUADPACK, breakpoints at the other arms' means and scales"""
    others = [j for j in range(len(means)) if j != k]

    def f(z):
        x = means[k] + sds[k] * z
        v = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        for j in others:
            v *= special.ndtr((x - means[j]) / sds[j])
        return v

    pts = {0.0}
    for j in others:
        c, w = (means[j] - means[k]) / sds[k], sds[j] / sds[k]
        pts.update(c + o * w for o in (0, -1, 1, -3, 3, -10, 10))
    pts = sorted(p for p in pts if -12 < p < 12)
    edges = [-12.0] + pts + [12.0]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        if b > a:
            v, _ = integrate.quad(f, a, b, epsabs=1e-15, epsrel=1e-12, limit=200)
            total += v
    return total


def bandit_cases(ck, rng):
    configs = []
    for i in range(40):
        k = int(rng.integers(2, 7))
        base = float(rng.uniform(0.05, 20))
        arms = []
        for j in range(k):
            n = float(rng.integers(100, 10 ** rng.integers(3, 6)))
            m = base * float(1 + rng.normal(0, [0.001, 0.01, 0.05][i % 3]))
            v = float(rng.uniform(0.1, 4)) * base
            arms.append((n, m, v))
        configs.append((arms, 0.0, 1e4, 0.01, 100.0))
    # sharp posteriors against a wide one, identical arms, an arm with zero variance
    configs.append(([(1e6, 1.0, 0.01), (100.0, 1.0, 5.0), (1e5, 1.0005, 0.02)], 0.0, 1e4, 0.01, 100.0))
    configs.append(([(500.0, 2.0, 1.0), (500.0, 2.0, 1.0)], 0.0, 1e4, 0.01, 100.0))
    configs.append(([(500.0, 2.0, 0.0), (500.0, 1.99, 1.0), (800.0, 2.01, 1.5)], 0.0, 1e4, 0.05, 100.0))
    mc_done = []
    for arms, pm, pv, minw, minu in configs[-3:] + configs[:-3]:
        post = [posterior(n, m, v, pm, pv) for n, m, v in arms]
        means = [p[0] for p in post]
        sds = [p[1] for p in post]
        want_best = [best_quad(means, sds, k) for k in range(len(arms))]
        if len(mc_done) < 7:
            draws = rng.normal(np.array(means), np.array(sds), size=(10 ** 6, len(arms)))
            mc_best = np.bincount(np.argmax(draws, axis=1), minlength=len(arms)) / 10 ** 6
            mc_done.append(1)
        else:
            mc_best = None
        label = f"k={len(arms)} " + " ".join(f"({n:g},{m:.5g},{v:.3g})" for n, m, v in arms)
        text = f"bandit {len(arms)} {pm!r} {pv!r} {minw!r} {minu!r} " + " ".join(fmt(a) for a in arms) + "\n"
        ck.add(text, "bandit", label,
               lambda line, wb=want_best, mc=mc_best, minw=minw, label=label: check_bandit(ck, line, wb, mc, minw,
                                                                                           label))
    # the gate: one arm under 100 units leaves the outputs untouched; k < 2 too
    ck.add("bandit 2 0 1e4 0.01 100 99 1 1 500 1 1\n", "bandit", "gate",
           lambda line: check_gate(ck, line, "an arm with 99 units"))
    ck.add("bandit 1 0 1e4 0.01 100 500 1 1\n", "bandit", "k=1", lambda line: check_gate(ck, line, "k = 1"))


def check_bandit(ck, line, want_best, mc_best, minw, label):
    parts = line.split()
    k = len(want_best)
    if parts[0] != "1":
        ck.fail("bandit", label, "returned false")
        return
    best = [float(v) for v in parts[1:1 + k]]
    weights = [float(v) for v in parts[1 + k:1 + 2 * k]]
    for j in range(k):
        ck.expect("bandit best vs quad (abs)", f"{label} arm {j}", best[j], want_best[j], 1e-8, kind="abs")
        if mc_best is not None:
            ck.expect("bandit best vs 10^6 draws (abs)", f"{label} arm {j}", best[j], float(mc_best[j]), 3e-3,
                      kind="abs")
    floored = [max(b, minw) for b in best]
    total = sum(floored)
    for j in range(k):
        ck.expect("bandit weights: floor and renormalise (abs)", f"{label} arm {j}", weights[j], floored[j] / total,
                  1e-12, kind="abs")
    ck.note("bandit |sum(best) - 1| (info)", abs(sum(best) - 1), label)


def check_gate(ck, line, label):
    parts = line.split()
    ok = parts[0] == "0" and all(float(v) == -12345.0 for v in parts[1:])
    ck.note("bandit gate (mismatches)", 0 if ok else 1, label)
    if not ok:
        ck.fail("bandit gate", label, f"outputs touched or true returned: {line[:80]!r}")


# ---------------------------------------------------------------- main

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    verbose = "--verbose" in sys.argv
    if len(args) != 1:
        print(__doc__)
        sys.exit(2)
    harness = args[0]
    print(f"scipy {scipy.__version__}, numpy {np.__version__}")
    if (scipy.__version__, np.__version__) != ("1.10.1", "1.24.2"):
        print("warning: the oracles are meant to be scipy 1.10.1 / numpy 1.24.2")

    rng = np.random.default_rng(20240917)
    ck = Checker(verbose)
    t0 = time.time()
    normal_cases(ck, rng)
    betainc_cases(ck, rng)
    t_cases(ck, rng)
    nct_cases(ck, rng)
    prop_cases(ck, rng)
    welch_cases(ck, rng)
    sequential_cases(ck, rng)
    power_cases(ck, rng)
    bandit_cases(ck, rng)
    t1 = time.time()

    text = "".join(c[0] for c in ck.cases)
    proc = subprocess.run([harness], input=text, capture_output=True, text=True)
    t2 = time.time()
    if proc.returncode != 0:
        print(proc.stderr)
        print(f"FAIL: harness exited {proc.returncode}")
        sys.exit(1)
    lines = proc.stdout.split("\n")
    # commands that print two lines (cdf and sf) are joined back
    answers = []
    pos = 0
    for case in ck.cases:
        n = case[0].count("\n")
        answers.append(" ".join(lines[pos:pos + n]))
        pos += n
    if pos > len(lines):
        print(f"FAIL: {pos} answers expected, {len(lines)} lines")
        sys.exit(1)
    for (text, category, label, check), line in zip(ck.cases, answers):
        try:
            check(line)
        except Exception as exc:    # a malformed answer is a failure, not a crash
            ck.fail(category, label, f"bad answer {line[:80]!r}: {exc!r}")

    counts = {}
    for c in ck.cases:
        counts[c[1]] = counts.get(c[1], 0) + 1
    print(f"{len(ck.cases)} cases ({', '.join(f'{k} {v}' for k, v in counts.items())}); "
          f"oracles {t1 - t0:.1f} s, harness {t2 - t1:.1f} s")
    for cat in sorted(ck.max_err):
        err, label = ck.max_err[cat]
        print(f"  max {cat:58s} {err:.3g}   ({label})")
    if ck.failures:
        for f in ck.failures[:60]:
            print("FAIL " + f)
        if len(ck.failures) > 60:
            print(f"... and {len(ck.failures) - 60} more")
        print(f"{len(ck.failures)} failures")
        sys.exit(1)
    print("ab_stats parity ok")


if __name__ == "__main__":
    main()
