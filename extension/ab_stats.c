/*
 * ab_stats.c
 *	  The numerical core of A/B test statistics (see ab_stats.h for the
 *	  contract of each function).  Plain C99 and libm: no PostgreSQL header,
 *	  nothing allocated, invalid arguments give NaN.
 *
 *	  This file owns the distributions (standard normal, Student t with a
 *	  real df, the noncentral t's cdf, and the regularized incomplete beta
 *	  function under the t's), the two-sample tests built on them (the
 *	  two-proportion z-test, Welch's t-test, the delta method for the
 *	  relative lift), GrowthBook's always-valid confidence sequences, the
 *	  power and sample size of R's power.prop.test / power.t.test, and the
 *	  best-arm probabilities and weights of a Gaussian Thompson-sampling
 *	  bandit.
 *
 *	  The references are scipy 1.10 (norm, t, nct, betainc, ttest_ind), R's
 *	  stats package and GrowthBook's gbstats; tests/ab_stats checks each
 *	  function against them.  Where they compute a mathematical quantity
 *	  exactly we only need an accurate algorithm, named per function, not
 *	  their code path; where they define the quantity (GrowthBook's
 *	  sequential half-width, R's power formulas) we follow their definition
 *	  and say where we differ.
 */
#include "ab_stats.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

void		(*as_interrupt_hook) (void) = NULL;

static inline void
as_interrupt(void)
{
	if (as_interrupt_hook != NULL)
		as_interrupt_hook();
}

/* as_interrupt() every 1024 steps of a loop; always true, to sit in its condition */
static inline bool
as_poll(long step)
{
	if ((step & 1023) == 0)
		as_interrupt();
	return true;
}

#define AS_PI			3.14159265358979323846
#define AS_LN2			0.69314718055994530942
#define AS_SQRT1_2		0.70710678118654752440
#define AS_LN_SQRT_2PI	0.91893853320467274178	/* log(2 pi) / 2 */


/* ------------------------------------------------------------------------
 * The standard normal
 * ------------------------------------------------------------------------
 */

/*
 * Phi(x) = erfc(-x / sqrt 2) / 2, and 1 - Phi(x) = erfc(x / sqrt 2) / 2.
 * erfc keeps its relative accuracy in its upper tail (down to the denormals
 * near |x| = 38), where 1 - Phi(-x) would be all cancellation.  The one
 * thing erfc cannot see is the rounding of its argument z = x / sqrt 2,
 * which alone costs up to |2 z dz| = x^2 / 2 ulps (1e-13 at x = 37): the
 * rounding error dz is recovered exactly with fma (and the low part of
 * 1/sqrt 2), and erfc(z + dz) = erfc(z) - dz 2/sqrt(pi) e^-z^2 to first
 * order.  scipy's ndtr does not do this (nor does its cephes erfc, which
 * also rounds z^2 inside exp), so in the far tails the two differ by up to
 * a few 1e-14; the decimal reference in tests/ab_stats decides.
 */
#define AS_SQRT1_2_LO	(-4.833646656726457e-17)	/* 1/sqrt 2 - AS_SQRT1_2 */
#define AS_2_SQRTPI		1.1283791670955126		/* 2 / sqrt(pi) */

/* erfc(x / sqrt 2) / 2 */
static double
as_half_erfc_scaled(double x)
{
	double		z = x * AS_SQRT1_2;
	double		dz = fma(x, AS_SQRT1_2, -z) + x * AS_SQRT1_2_LO;
	double		e = erfc(z);

	if (dz != 0.0 && isfinite(z))
		e -= dz * AS_2_SQRTPI * exp(-z * z);
	return 0.5 * e;
}

double
as_norm_cdf(double x)
{
	if (isnan(x))
		return NAN;
	return as_half_erfc_scaled(-x);
}

double
as_norm_sf(double x)
{
	if (isnan(x))
		return NAN;
	return as_half_erfc_scaled(x);
}

/*
 * The normal quantile by Wichura's algorithm AS 241, PPND16 (Wichura 1988,
 * "The percentage points of the normal distribution", Applied Statistics
 * 37(3), 477-484): rational approximations of degree 7 in
 * r = 0.180625 - q^2 (q = p - 1/2) for |q| <= 0.425, else in
 * r = sqrt(-log(min(p, 1 - p))) - 1.6 for r <= 5 and r - 5 beyond, good to
 * about 1e-16 relative.  1 - p is exact for p >= 1/2, so the upper tail
 * loses nothing.  The coefficients are the paper's.
 */
static const double as241_a[8] = {
	3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
	1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
	3.3430575583588128105e4, 2.5090809287301226727e3
};
static const double as241_b[8] = {
	1.0, 4.2313330701600911252e1, 6.8718700749205790830e2,
	5.3941960214247511077e3, 2.1213794301586595867e4, 3.9307895800092710610e4,
	2.8729085735721942674e4, 5.2264952788528545610e3
};
static const double as241_c[8] = {
	1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
	3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
	2.27238449892691845833e-2, 7.74545014278341407640e-4
};
static const double as241_d[8] = {
	1.0, 2.05319162663775882187e0, 1.67638483018380384940e0,
	6.89767334985100004550e-1, 1.48103976427480074590e-1, 1.51986665636164571966e-2,
	5.47593808499534494600e-4, 1.05075007164441684324e-9
};
static const double as241_e[8] = {
	6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
	2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
	2.71155556874348757815e-5, 2.01033439929228813265e-7
};
static const double as241_f[8] = {
	1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1,
	1.48753612908506148525e-2, 7.86869131145613259100e-4, 1.84631831751005468180e-5,
	1.42151175831644588870e-7, 2.04426310338993978564e-15
};

/* numerator(r) / denominator(r), both of degree 7 with coefficients lowest first */
static double
as_ratio7(const double *num, const double *den, double r)
{
	double		n = num[7],
				d = den[7];
	int			i;

	for (i = 6; i >= 0; i--)
	{
		n = n * r + num[i];
		d = d * r + den[i];
	}
	return n / d;
}

double
as_norm_ppf(double p)
{
	double		q,
				r,
				z;

	if (isnan(p) || p < 0.0 || p > 1.0)
		return NAN;
	if (p == 0.0)
		return -INFINITY;
	if (p == 1.0)
		return INFINITY;
	q = p - 0.5;
	if (fabs(q) <= 0.425)
		return q * as_ratio7(as241_a, as241_b, 0.180625 - q * q);
	r = sqrt(-log(q < 0.0 ? p : 1.0 - p));
	if (r <= 5.0)
		z = as_ratio7(as241_c, as241_d, r - 1.6);
	else
		z = as_ratio7(as241_e, as241_f, r - 5.0);
	return q < 0.0 ? -z : z;
}


/* ------------------------------------------------------------------------
 * Helpers: Stirling's error, log(1 + u) - u, log B(a, b)
 * ------------------------------------------------------------------------
 */

/*
 * delta(z) = log Gamma(z) - [(z - 1/2) log z - z + log(2 pi) / 2], the
 * remainder of Stirling's formula.  For z >= 10 its asymptotic series
 * (coefficients B_2j / (2j (2j - 1)), truncated where the next term is
 * below 1e-17 at z = 10); below, from lgamma, where all the terms are small.
 * It lets log Gamma differences of large arguments be written without
 * subtracting large numbers.
 */
static double
as_stirlerr(double z)
{
	if (z >= 10.0)
	{
		double		r = 1.0 / z;
		double		r2 = r * r;

		return r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680
				+ r2 * (1.0 / 1188 + r2 * (-691.0 / 360360 + r2 * (1.0 / 156
				+ r2 * (-3617.0 / 122400))))))));
	}
	return lgamma(z) - (z - 0.5) * log(z) + z - AS_LN_SQRT_2PI;
}

/* log(1 + u) - u, also where it is much smaller than u (series for |u| < 1/4) */
static double
as_log1pmx(double u)
{
	if (fabs(u) < 0.25)
	{
		/* -u^2/2 + u^3/3 - ...: |u|^k / k < 1e-17 |sum| well before k = 40 */
		double		term = u * u;
		double		sum = 0.0;
		int			k;

		for (k = 2; k < 60; k++)
		{
			double		add = ((k & 1) ? term : -term) / (double) k;

			sum += add;
			if (fabs(add) <= 1e-17 * fabs(sum))
				break;
			term *= u;
		}
		return sum;
	}
	return log1p(u) - u;
}

/*
 * log B(a, b).  For small arguments from lgamma; otherwise from Stirling's
 * formula with the three remainders, rearranged so that nothing of the size
 * of a log a is subtracted:
 *	 log B = -a log1p(b/a) - b log1p(a/b) - (log a - log1p(a/b)) / 2
 *			 + log(2 pi) / 2 + delta(a) + delta(b) - delta(a + b)
 */
static double
as_lbeta(double a, double b)
{
	if (a < 10.0 && b < 10.0)
		return lgamma(a) + lgamma(b) - lgamma(a + b);
	return -a * log1p(b / a) - b * log1p(a / b) - 0.5 * (log(a) - log1p(a / b))
		+ AS_LN_SQRT_2PI + as_stirlerr(a) + as_stirlerr(b) - as_stirlerr(a + b);
}


/* ------------------------------------------------------------------------
 * The regularized incomplete beta function
 * ------------------------------------------------------------------------
 */

/*
 * log(x^a y^b / B(a, b)), y = 1 - x: the factor in front of the continued
 * fraction.  The caller gives log x, log y and u = x / x0 - 1, the relative
 * distance of x from the mean x0 = a / (a + b), each computed accurately
 * from its own inputs (the t distribution has them from t and df, without
 * ever rounding x near 1).
 *
 * For large a or b, a log x, b log y and log B(a, b) are each far larger
 * than their sum, which is about -(a + b)(x - x0)^2 / (2 x0 y0).  With
 * Stirling's formula for log B the same quantity is (Temme's form, as in
 * DiDonato and Morris's TOMS 708 brcomp)
 *	 a L(x/x0 - 1) + b L(y/y0 - 1) + log(a b / (a + b)) / 2 - log(2 pi) / 2
 *	   - delta(a) - delta(b) + delta(a + b),		L(u) = log(1 + u) - u
 * because the linear parts a (x/x0 - 1) + b (y/y0 - 1) cancel exactly.
 * Nothing large is subtracted, and the error is a few ulps of the result
 * rather than of a log x.  y/y0 - 1 = -(a/b) u.  Where |u| is not small,
 * log(1 + u) is taken from log x - log x0, since 1 + u itself may have lost
 * the low digits of a tiny x.
 */
static double
as_beta_log_prefactor(double a, double b, double lx, double ly, double u)
{
	double		v,
				ta,
				tb;

	if (a < 10.0 && b < 10.0)
		return a * lx + b * ly - (lgamma(a) + lgamma(b) - lgamma(a + b));
	v = -(a / b) * u;
	/* log x0 = -log1p(b/a), log y0 = -log1p(a/b) */
	ta = fabs(u) < 0.25 ? as_log1pmx(u) : (lx + log1p(b / a)) - u;
	tb = fabs(v) < 0.25 ? as_log1pmx(v) : (ly + log1p(a / b)) - v;
	return a * ta + b * tb + 0.5 * (log(a) - log1p(a / b)) - AS_LN_SQRT_2PI
		- as_stirlerr(a) - as_stirlerr(b) + as_stirlerr(a + b);
}

/*
 * The continued fraction of I_x(a, b) (Abramowitz and Stegun 26.5.8):
 *	 I_x(a, b) = x^a y^b / (a B(a, b)) / (1 + d1 / (1 + d2 / (1 + ...)))
 *	 d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
 *	 d_{2m}   = m (b - m) x / ((a + 2m - 1)(a + 2m))
 * evaluated forwards by the modified Lentz algorithm (Lentz 1976, with
 * Thompson and Barnett's 1986 guard against zero denominators; see also
 * Press et al., "Numerical Recipes", 3rd ed., 6.4).  It converges quickly
 * for x below the switch point (a + 1) / (a + b + 2), in O(sqrt(max(a, b)))
 * terms at worst; the caller takes the other tail beyond it.  Returns the
 * value of 1 + d1 / (1 + ...).  When a is much larger than b and x is near
 * 1 (the t distribution's tail at large df) that value is a small
 * difference of terms near 1 and loses about log10(a / sqrt(b)) digits;
 * as_bgrat takes that region over.
 */
#define AS_CF_MAX_TERMS 20000000

static double
as_beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300;
	double		f = 1.0,
				c = 1.0,
				d = 0.0;
	long		j;

	for (j = 1; j <= AS_CF_MAX_TERMS; j++)
	{
		double		m = (double) (j / 2);
		double		dj,
					delta;

		if (j & 1)
			dj = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
		else
			dj = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
		d = 1.0 + dj * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + dj / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		delta = c * d;
		f *= delta;
		if (fabs(delta - 1.0) <= DBL_EPSILON)
			break;
	}
	return f;
}

/*
 * log P(b, z) and log Q(b, z), the regularized incomplete gamma functions,
 * each with its relative accuracy (the smaller one computed directly, the
 * other as log1p(-exp(.)) of it): the series
 *	 P(b, z) = z^b e^-z / Gamma(b + 1) sum_n z^n / ((b + 1) ... (b + n))
 * below z = b + 1 and Legendre's continued fraction for Q above, evaluated
 * by modified Lentz (Press et al., "Numerical Recipes", 3rd ed., 6.2).  The
 * common factor z^b e^-z / Gamma(b) is taken in Temme's form
 * b (log1p(v) - v) + log(b / (2 pi)) / 2 - delta(b), v = (z - b) / b, for
 * large b, where b log z, z and log Gamma(b) nearly cancel.
 */
static double
as_log_gamma_factor(double b, double z)
{
	double		v;

	if (b < 10.0)
		return b * log(z) - z - lgamma(b);
	v = (z - b) / b;
	/* far from b, 1 + v = z/b would have lost z's digits: take log(z/b) itself */
	return b * (fabs(v) < 0.25 ? as_log1pmx(v) : log(z / b) - v)
		+ 0.5 * log(b / (2.0 * AS_PI)) - as_stirlerr(b);
}

/* sum_n z^n / ((s + 1) ... (s + n)) */
static double
as_gamma_series(double s, double z)
{
	double		term = 1.0,
				sum = 1.0,
				d = s;
	int			n;

	for (n = 0; n < 100000; n++)
	{
		d += 1.0;
		term *= z / d;
		sum += term;
		if (term <= sum * (DBL_EPSILON / 4))
			break;
	}
	return sum;
}

static void
as_log_gamma_pq(double b, double z, double *lp, double *lq)
{
	double		lf;

	if (z <= 0.0)
	{
		*lp = -INFINITY;
		*lq = 0.0;
		return;
	}
	lf = as_log_gamma_factor(b, z);
	if (z < b + 1.0)
	{
		*lp = lf - log(b) + log(as_gamma_series(b, z));
		*lq = log1p(-exp(*lp));
	}
	else
	{
		const double tiny = 1e-300;
		double		bb = z + 1.0 - b;
		double		c = 1.0 / tiny;
		double		d = 1.0 / bb;
		double		f = d;
		int			i;

		for (i = 1; i < 100000; i++)
		{
			double		an = -(double) i * ((double) i - b);
			double		delta;

			bb += 2.0;
			d = an * d + bb;
			if (fabs(d) < tiny)
				d = tiny;
			c = bb + an / c;
			if (fabs(c) < tiny)
				c = tiny;
			d = 1.0 / d;
			delta = d * c;
			f *= delta;
			if (fabs(delta - 1.0) <= DBL_EPSILON)
				break;
		}
		*lq = lf + log(f);
		*lp = log1p(-exp(*lq));
	}
}

/*
 * h_k = B_2k / (2k (2k)!): log(sinh(w/2) / (w/2)) = sum_k h_k w^2k, from
 * the Bernoulli numbers (radius of convergence 2 pi).
 */
static const double as_sinh_log_coef[30] = {
	4.16666666666666644e-02, -3.47222222222222235e-04, 5.51146384479717850e-06,
	-1.03339947089947094e-07, 2.08767569878681002e-09, -4.40349178223957768e-11,
	9.55895466477476975e-13, -2.11855018520161420e-14, 4.77003447570991398e-16,
	-1.08743434927903093e-17, 2.50409219470919546e-19, -5.81436028575521788e-21,
	1.35950270754979524e-22, -3.19768479537055250e-24, 7.55984150779227651e-26,
	-1.79524708402256327e-27, 4.27991904592607298e-29, -1.02388748351814169e-30,
	2.45703533081448546e-32, -5.91255603925157489e-34, 1.42635041963860348e-35,
	-3.44876110106429602e-37, 8.35599592490040932e-39, -2.02840689013472721e-40,
	4.93249408840136178e-42, -1.20136091188860457e-43, 2.93037597123053994e-45,
	-7.15763158205167139e-47, 1.75053031992578559e-48, -4.28634026373645325e-50
};
#define AS_BGRAT_TERMS 30

/*
 * I_x(A, B) and I_y(B, A) = 1 - I_x(A, B) for A large and B <= A/4, with
 * x = e^-u near 1 (u <= 1): the region where the continued fraction's
 * value is a tiny difference of terms near 1 (it loses about log10(A /
 * sqrt(B)) digits: 6 at A = 10^6).  This is the expansion behind
 * DiDonato and Morris's BGRAT (1992, "Algorithm 708: significant digit
 * computation of the incomplete beta function ratios", ACM TOMS 18(3),
 * 360-373; Temme's uniform expansion): with t = 1 - e^-w,
 *	 I_x(A, B) = 1/B(B, A) int_u^inf (1 - e^-w)^(B-1) e^-Aw dw
 *			   = 1/B(B, A) int_u^inf w^(B-1) e^-Tw G(w) dw,  T = A + (B - 1)/2
 * where G(w) = (sinh(w/2) / (w/2))^(B-1) = sum_k g_k w^2k is even, its
 * coefficients from the h_k above by the exponential's recurrence
 * n g_n = (B - 1) sum_k k h_k g_(n-k).  Term by term, with z = T u,
 *	 I_x(A, B) = Q(B, z) R sum_k g_k Gamma(B + 2k, z) / (Gamma(B, z) T^2k)
 *	 I_y(B, A) = P(B, z) R sum_k g_k gamma(B + 2k, z) / (gamma(B, z) T^2k)
 *	 R = Gamma(A + B) / (Gamma(A) T^B)   (1 + O(A^-2))
 * The second is a convergent series for u < 2 pi; the first is asymptotic
 * (its error is of order e^(-2 pi T)).  The one whose incomplete gamma is
 * the smaller is summed, the other is 1 minus it: the upper ratios by the
 * stable upward recurrence Gamma(s + 1, z) = s Gamma(s, z) + z^s e^-z,
 * the lower from each one's series.  Returns log I_x(A, B); *iy gets
 * I_y(B, A).
 */
static double
as_bgrat(double A, double B, double u, double *iy)
{
	double		T = A + 0.5 * (B - 1.0);
	double		z = T * u;
	double		g[AS_BGRAT_TERMS + 1];
	double		lr,
				lp,
				lq,
				sum = 1.0,
				log_ix;
	int			n,
				k;

	g[0] = 1.0;
	for (n = 1; n <= AS_BGRAT_TERMS; n++)
	{
		double		s = 0.0;

		for (k = 1; k <= n; k++)
			s += k * as_sinh_log_coef[k - 1] * g[n - k];
		g[n] = (B - 1.0) * s / n;
	}
	/* log R = (A - 1/2) log1p(B/A) - B + B log((A + B) / T) + delta(A + B) - delta(A) */
	lr = (A - 0.5) * as_log1pmx(B / A) - B / (2.0 * A) + B * log1p(0.5 * (B + 1.0) / T)
		+ as_stirlerr(A + B) - as_stirlerr(A);
	as_log_gamma_pq(B, z, &lp, &lq);

	if (z >= B)
	{
		/* J_m = Gamma(B + m, z) / (Gamma(B, z) T^m), E_m = z^(B+m) e^-z / (Gamma(B, z) T^(m+1)) */
		double		j = 1.0,
					e = exp(as_log_gamma_factor(B, z) - lq - log(T));

		for (n = 1; n <= AS_BGRAT_TERMS; n++)
		{
			double		term;

			j = ((B + 2.0 * n - 2.0) / T) * j + e;
			e *= z / T;
			j = ((B + 2.0 * n - 1.0) / T) * j + e;
			e *= z / T;
			term = g[n] * j;
			sum += term;
			if (fabs(term) <= 1e-17 * fabs(sum))
				break;
		}
		log_ix = lq + lr + log(sum);
		*iy = -expm1(log_ix);
		return log_ix;
	}
	else
	{
		double		s0 = as_gamma_series(B, z),
					u2k = 1.0;

		for (n = 1; n <= AS_BGRAT_TERMS; n++)
		{
			double		term;

			u2k *= u * u;
			term = g[n] * u2k * (B / (B + 2.0 * n)) * as_gamma_series(B + 2.0 * n, z) / s0;
			sum += term;
			if (fabs(term) <= 1e-17 * fabs(sum))
				break;
		}
		*iy = exp(lp + lr + log(sum));
		return log1p(-*iy);
	}
}

/* when the expansion above is used instead of the continued fraction */
static bool
as_bgrat_applies(double big, double small, double u)
{
	return big >= 30.0 && small <= 0.25 * big && u <= 1.0;
}

/*
 * I_x(a, b) (upper = false) or 1 - I_x(a, b) = I_y(b, a) (upper = true),
 * each with its own relative accuracy: the expansion above where it
 * applies, else the continued fraction for the tail it converges in, the
 * other tail being 1 minus it, which is then not small.  x, y = 1 - x,
 * lx = log x, ly = log y and u = x/x0 - 1 as for as_beta_log_prefactor.
 * *log_prefactor, when not NULL, receives that prefactor's log.
 */
static double
as_ibeta_uv(double a, double b, double x, double y, double lx, double ly, double u,
			bool upper, double *log_prefactor)
{
	double		lf = as_beta_log_prefactor(a, b, lx, ly, u);
	double		w;

	if (log_prefactor != NULL)
		*log_prefactor = lf;
	if (a >= b ? as_bgrat_applies(a, b, -lx) : as_bgrat_applies(b, a, -ly))
	{
		double		ix,
					iy;

		if (a >= b)
		{
			ix = exp(as_bgrat(a, b, -lx, &iy));
			return upper ? iy : ix;
		}
		/* I_y(b, a) by the expansion is 1 - I_x(a, b) */
		iy = exp(as_bgrat(b, a, -ly, &ix));
		return upper ? iy : ix;
	}
	if (x > (a + 1.0) / (a + b + 2.0))
	{
		w = exp(lf) / (b * as_beta_cf(b, a, y));	/* I_y(b, a) */
		if (w > 1.0)
			w = 1.0;
		return upper ? w : 1.0 - w;
	}
	w = exp(lf) / (a * as_beta_cf(a, b, x));
	if (w > 1.0)
		w = 1.0;
	return upper ? 1.0 - w : w;
}

/* the same, from x, y, log x and log y alone (u from whichever of x, y is smaller) */
static double
as_ibeta_xy(double a, double b, double x, double y, double lx, double ly, bool upper,
			double *log_prefactor)
{
	double		x0 = a / (a + b),
				y0 = b / (a + b);
	double		u = (x <= 0.5 ? x - x0 : y0 - y) / x0;

	return as_ibeta_uv(a, b, x, y, lx, ly, u, upper, log_prefactor);
}

double
as_betainc(double a, double b, double x)
{
	double		y;

	if (isnan(a) || isnan(b) || isnan(x))
		return NAN;
	if (!(a > 0.0) || !(b > 0.0) || isinf(a) || isinf(b) || x < 0.0 || x > 1.0)
		return NAN;
	if (x == 0.0)
		return 0.0;
	if (x == 1.0)
		return 1.0;
	y = 1.0 - x;				/* exact for x >= 1/2, and within half an ulp below */
	return as_ibeta_xy(a, b, x, y, log(x), log1p(-x), false, NULL);
}


/* ------------------------------------------------------------------------
 * Student's t
 * ------------------------------------------------------------------------
 */

/*
 * For the t distribution with df degrees of freedom and s = |t| > 0, the
 * arguments of I_x(df/2, 1/2) with x = df / (df + s^2):
 * x, y = s^2 / (df + s^2), their logs, and u = x/x0 - 1 with x0 = df / (df
 * + 1), i.e. u = (1 - s^2) / (df + s^2).  All are computed from s and df
 * without rounding x near 1 (which would cost df/2 ulps of x^(df/2)) and
 * without squaring a huge s.
 */
typedef struct AsTArgs
{
	double		x,
				y,
				lx,
				ly,
				u;
} AsTArgs;

static void
as_t_args(double s, double df, AsTArgs *r)
{
	if (s <= 1e150 && s * s <= df)
	{
		double		q = s * s / df;	/* <= 1 */

		r->x = 1.0 / (1.0 + q);
		r->y = q / (1.0 + q);
		r->lx = -log1p(q);
		r->ly = log(q) - log1p(q);
	}
	else
	{
		double		q = (df / s) / s;	/* < 1, may underflow */

		r->x = q / (1.0 + q);
		r->y = 1.0 / (1.0 + q);
		r->lx = (q >= DBL_MIN ? log(q) : log(df) - 2.0 * log(s)) - log1p(q);
		r->ly = -log1p(q);
	}
	if (s <= 1.0)
		r->u = (1.0 - s) * (1.0 + s) / (df + s * s);
	else
	{
		double		is = 1.0 / s;

		r->u = (is - 1.0) * (is + 1.0) / (df * is * is + 1.0);
	}
}

/*
 * log P(T > s) for s >= 0: P(T > s) = I_x(df/2, 1/2) / 2.  Where the
 * expansion or the continued fraction computes this tail itself, the log is
 * taken of its pieces, so that it does not underflow however far out s is;
 * the caller exponentiates.
 */
static double
as_t_log_sf(double s, double df)
{
	double		a = 0.5 * df;
	AsTArgs		r;
	double		lf;

	if (s == 0.0)
		return -AS_LN2;
	if (isinf(s))
		return -INFINITY;
	as_t_args(s, df, &r);
	if (as_bgrat_applies(a, 0.5, -r.lx))
	{
		double		iy;

		return as_bgrat(a, 0.5, -r.lx, &iy) - AS_LN2;
	}
	if (r.x > (a + 1.0) / (a + 2.5))
		return log(0.5 * as_ibeta_uv(a, 0.5, r.x, r.y, r.lx, r.ly, r.u, false, NULL));
	lf = as_beta_log_prefactor(a, 0.5, r.lx, r.ly, r.u);
	return lf - log(a) - log(as_beta_cf(a, 0.5, r.x)) - AS_LN2;
}

/* log of the t density at s >= 0 (for the quantile's Newton steps) */
static double
as_t_log_pdf(double s, double df)
{
	double		l;

	if (s <= 1e150 && s * s <= df)
		l = log1p(s * s / df);
	else
		l = 2.0 * log(s) - log(df) + log1p((df / s) / s);
	return -0.5 * (df + 1.0) * l - 0.5 * log(df) - as_lbeta(0.5 * df, 0.5);
}

/*
 * P(0 < T < s) = I_y(1/2, df/2) / 2 with y = s^2 / (df + s^2): the same
 * arguments with the roles swapped (u becomes y/y0 - 1 = -df u).  Keeps
 * its relative accuracy for small s, where 1/2 - P(T > s) would not.
 */
static double
as_t_central(double s, double df)
{
	AsTArgs		r;

	if (s == 0.0)
		return 0.0;
	as_t_args(s, df, &r);
	return 0.5 * as_ibeta_uv(0.5, 0.5 * df, r.y, r.x, r.ly, r.lx, -df * r.u, false, NULL);
}

static bool
as_df_ok(double df)
{
	return !isnan(df) && df > 0.0;
}

/*
 * The cdf and sf through the incomplete beta function (Abramowitz and
 * Stegun 26.7.1: P(|T| > s) = I_{df/(df+s^2)}(df/2, 1/2)), so
 * P(T < -s) = P(T > s) = I_{df/(df+s^2)}(df/2, 1/2) / 2.  The tail beyond
 * |t| is computed directly and the other side is 1 minus it; df = +inf is
 * the normal.
 */
double
as_t_cdf(double t, double df)
{
	double		l;

	if (isnan(t) || !as_df_ok(df))
		return NAN;
	if (isinf(df))
		return as_norm_cdf(t);
	l = as_t_log_sf(fabs(t), df);
	return t < 0.0 ? exp(l) : -expm1(l);
}

double
as_t_sf(double t, double df)
{
	return as_t_cdf(-t, df);
}

/*
 * s > 0 with P(T > s) = q, 0 < q < 1/2.  Newton's method on
 * log P(T > e^w) - log q in w = log s: in the tails log P(T > s) is nearly
 * linear in log s (slope -df), so the steps are good from far away, where
 * plain Newton on P(T > s) - q overshoots.  Two starting points are tried
 * and the better kept: the Cornish-Fisher expansion around the normal
 * quantile (Abramowitz and Stegun 26.7.5, to df^-4), good for large df,
 * and the tail asymptote P(T > s) ~ df^(df/2 - 1) s^-df / B(df/2, 1/2),
 * good for small df or small q.  Every evaluation narrows a bracket on s,
 * and a step that would leave it is replaced by bisection (geometric once
 * both ends are positive), so the iteration cannot wander.  The answer is
 * good to about |log q| * DBL_EPSILON / df relative, the rounding of log q.
 */
static double
as_t_isf_lower_half(double q, double df)
{
	double		lq = log(q);
	double		z = -as_norm_ppf(q);
	double		lo = 0.0,
				hi = INFINITY;
	double		s,
				s_tail,
				r,
				r_tail;
	int			iter;

	/* Cornish-Fisher */
	{
		double		z2 = z * z;
		double		g1 = z * (z2 + 1.0) / 4.0;
		double		g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
		double		g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
		double		g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;

		s = z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df;
	}
	/* tail asymptote: log s = log(df)/2 - (log q + log df + log B) / df */
	s_tail = exp(0.5 * log(df) - (lq + log(df) + as_lbeta(0.5 * df, 0.5)) / df);
	r = (s > 0.0 && isfinite(s)) ? as_t_log_sf(s, df) - lq : NAN;
	if (s_tail > 0.0 && isfinite(s_tail))
	{
		r_tail = as_t_log_sf(s_tail, df) - lq;
		if (isnan(r) || fabs(r_tail) < fabs(r))
		{
			s = s_tail;
			r = r_tail;
		}
	}
	if (isnan(r))
	{
		/* neither start is usable: the quantile may be beyond the doubles */
		if (as_t_log_sf(DBL_MAX, df) > lq)
			return INFINITY;
		s = 1.0;
		r = as_t_log_sf(s, df) - lq;
	}

	for (iter = 0; iter < 400; iter++)
	{
		double		next,
					slope;

		if (r == 0.0)
			break;
		if (r > 0.0)
			lo = s;				/* tail still too heavy: the root is further out */
		else
			hi = s;
		/* d/dw log P(T > e^w) = -s f(s) / P(T > s) */
		slope = exp(log(s) + as_t_log_pdf(s, df) - (r + lq));
		next = s * exp(fmin(r / slope, 50.0));
		if (!(next > lo && next < hi) || isnan(next))
		{
			if (isinf(hi))
				next = 2.0 * s;
			else if (lo > 0.0)
				next = sqrt(lo) * sqrt(hi);
			else
				next = 0.5 * hi;
		}
		if (isinf(next))
		{
			if (as_t_log_sf(DBL_MAX, df) > lq)
				return INFINITY;	/* the quantile is beyond the doubles */
			next = DBL_MAX;
		}
		if (fabs(next - s) <= 2.0 * DBL_EPSILON * s || next == lo || next == hi)
		{
			s = next;
			break;
		}
		s = next;
		r = as_t_log_sf(s, df) - lq;
	}

	/*
	 * Near the median log q cannot carry 1/2 - q to full relative accuracy
	 * (and s is proportional to it there): finish with Newton steps on
	 * P(0 < T < s) = 1/2 - q, both sides exact.
	 */
	if (q > 0.25)
	{
		double		c = 0.5 - q;

		for (iter = 0; iter < 6; iter++)
		{
			double		step = (as_t_central(s, df) - c) / exp(as_t_log_pdf(s, df));

			s -= step;
			if (fabs(step) <= 2.0 * DBL_EPSILON * s)
				break;
		}
	}
	return s;
}

/*
 * The quantile: p < 1/2 is minus the upper quantile of p, p > 1/2 the upper
 * quantile of 1 - p (exact there), so each half keeps its relative
 * accuracy; df = 1 and df = +inf have closed forms.
 */
double
as_t_ppf(double p, double df)
{
	double		q,
				s;

	if (isnan(p) || !as_df_ok(df) || p < 0.0 || p > 1.0)
		return NAN;
	if (p == 0.0)
		return -INFINITY;
	if (p == 1.0)
		return INFINITY;
	if (p == 0.5)
		return 0.0;
	if (isinf(df))
		return as_norm_ppf(p);
	q = p < 0.5 ? p : 1.0 - p;
	s = as_t_isf_lower_half(q, df);
	return p < 0.5 ? -s : s;
}


/* ------------------------------------------------------------------------
 * The noncentral t
 * ------------------------------------------------------------------------
 */

/*
 * The Poisson mixture behind the noncentral t (Lenth 1989, algorithm AS 243,
 * "Cumulative distribution function of the non-central t distribution",
 * Applied Statistics 38(1), 185-189): for t >= 0, x = t^2 / (t^2 + df),
 * lambda = delta^2 / 2,
 *	 F(t; df, delta) = Phi(-delta)
 *		+ 1/2 sum_i [P_i I_x(i + 1/2, df/2) + delta / sqrt 2 Q_i I_x(i + 1, df/2)]
 *	 P_i = e^-lambda lambda^i / i!,   Q_i = e^-lambda lambda^i / Gamma(i + 3/2)
 * and, since 1/2 sum_i [P_i + delta / sqrt 2 Q_i] = Phi(delta),
 *	 1 - F(t; df, delta)
 *		= 1/2 sum_i [P_i I_y(df/2, i + 1/2) + delta / sqrt 2 Q_i I_y(df/2, i + 1)]
 * whose terms are all positive when delta >= 0 (the power's tail).
 *
 * AS 243 sums upwards from i = 0, whose weight e^-lambda underflows for
 * delta > 38.6.  We sum outwards from the largest term instead (Benton and
 * Krishnamoorthy 2003, "Computing discrete mixtures of continuous
 * distributions", Computational Statistics & Data Analysis 43, 249-267,
 * start at the Poisson mode): P and Q there from Loader's saddle-point
 * form, the two incomplete beta values there directly, and the others by
 *	 I_x(a + 1, b) = I_x(a, b) - g(a),  g(a) = x^a y^b / (a B(a, b)),
 *	 g(a + 1) = g(a) x (a + b) / (a + 1)
 * each way (complemented for I_y).  The direction in which the recurrence
 * subtracts loses digits whenever the result is smaller than what it was
 * subtracted from, and the losses compound; once they reach a factor 64
 * the value is recomputed directly.  Each direction stops when the rest, bounded
 * by the Poisson mass still to come (or a geometric series in the Poisson
 * ratio) times the largest incomplete beta value still to come, is below
 * 1e-17 of the sum so far.  sp and sq receive sum P_i J(i + 1/2) and
 * sum Q_i J(i + 1), J = I_x(., df/2) or (upper) I_y(df/2, .).
 */
typedef struct AsNctBeta
{
	double		x,
				y,
				lx,
				ly,
				b;
	bool		upper;
} AsNctBeta;

/* J(a) and g(a) directly */
static void
as_nct_beta_at(const AsNctBeta *nb, double a, double *j, double *g)
{
	double		lf;

	*j = as_ibeta_xy(a, nb->b, nb->x, nb->y, nb->lx, nb->ly, nb->upper, &lf);
	*g = exp(lf) / a;
}

/*
 * J(a + 1) from J(a) and g(a), g(a) becoming g(a + 1).  *amp tracks how much
 * the relative error has grown through subtractions since J was last
 * computed directly (each multiplies it by old / new); past 64 it is
 * recomputed directly.
 */
static double
as_nct_beta_up(const AsNctBeta *nb, double a, double j, double *g, double *amp)
{
	double		next = nb->upper ? j + *g : j - *g;

	*g *= nb->x * (a + nb->b) / (a + 1.0);
	if (!nb->upper)
	{
		*amp *= j / next;
		if (!(next > 0.0) || !(*amp <= 64.0))
		{
			as_nct_beta_at(nb, a + 1.0, &next, g);
			*amp = 1.0;
		}
	}
	return fmin(fmax(next, 0.0), 1.0);
}

/* J(a - 1) from J(a) and g(a), g(a) becoming g(a - 1); the same guard */
static double
as_nct_beta_down(const AsNctBeta *nb, double a, double j, double *g, double *amp)
{
	double		next;

	*g *= a / (nb->x * (a - 1.0 + nb->b));
	next = nb->upper ? j - *g : j + *g;
	if (nb->upper)
		*amp *= j / next;
	if (!isfinite(*g) || (nb->upper && (!(next > 0.0) || !(*amp <= 64.0))))
	{
		as_nct_beta_at(nb, a - 1.0, &next, g);
		*amp = 1.0;
	}
	return fmin(fmax(next, 0.0), 1.0);
}

static void
as_nct_sums(double x, double y, double lx, double ly, double df, double lambda, bool upper,
			double *sp, double *sq)
{
	const double stop = 1e-17;
	AsNctBeta	nb;
	double		k = floor(lambda);
	double		tail_p,
				tail_p0,
				pk,
				qk,
				jp_k,
				jq_k,
				gp_k,
				gq_k;
	double		sum_p = 0.0,
				sum_q = 0.0;
	double		pi,
				qi,
				jp,
				jq,
				gp,
				gq,
				amp_p,
				amp_q,
				i;
	long		n,
				max_terms = 2000 + (long) fmin(lambda + 20.0 * sqrt(lambda), 1e15);

	nb.x = x;
	nb.y = y;
	nb.lx = lx;
	nb.ly = ly;
	nb.b = 0.5 * df;
	nb.upper = upper;

	/*
	 * Where to start.  The upper sums' terms peak at the Poisson mode (their
	 * I_y are near 1 there or rise with i), but the lower sums' I_x fall with
	 * i, about by x (i + 1/2 + b) / (i + 3/2) per step while x is below the
	 * beta's mean, so that when x is small the products P_i I_x peak where
	 * (i + 1)(i + 3/2) = lambda x (i + 1/2 + b), well below lambda.
	 */
	if (!upper)
	{
		double		c = lambda * x;
		double		bq = 2.5 - c,
					cq = 1.5 - c * (0.5 + nb.b);
		double		istar = 0.5 * (-bq + sqrt(bq * bq - 4.0 * cq));

		if (istar < k)
			k = istar > 0.0 ? floor(istar) : 0.0;
	}
	/* P(N >= k) for N ~ Poisson(lambda): bounds what the forward sum can still add */
	if (k == 0.0)
		tail_p = 1.0;
	else
	{
		double		lp,
					lq;

		as_log_gamma_pq(k, lambda, &lp, &lq);
		tail_p = exp(lp);
	}
	tail_p0 = tail_p;

	/* P_k, and Q_k = P_k Gamma(k + 1) / Gamma(k + 3/2) */
	if (k == 0.0)
		pk = exp(-lambda);
	else
	{
		double		v = (k - lambda) / lambda;

		/* log P_k = -(k log(k/lambda) + lambda - k) - log(2 pi k)/2 - delta(k + 1)... in Loader's form */
		pk = exp(-lambda * ((1.0 + v) * as_log1pmx(v) + v * v) - 0.5 * log(2.0 * AS_PI * k)
				 - as_stirlerr(k));
	}
	if (k < 10.0)
		qk = pk * exp(lgamma(k + 1.0) - lgamma(k + 1.5));
	else
		qk = pk * exp(0.5 - (k + 0.5) * log1p(0.5 / (k + 1.0)) - 0.5 * log(k + 1.5)
					  + as_stirlerr(k + 1.0) - as_stirlerr(k + 1.5));
	as_nct_beta_at(&nb, k + 0.5, &jp_k, &gp_k);
	as_nct_beta_at(&nb, k + 1.0, &jq_k, &gq_k);

	/* forwards */
	pi = pk;
	qi = qk;
	jp = jp_k;
	jq = jq_k;
	gp = gp_k;
	gq = gq_k;
	amp_p = amp_q = 1.0;
	i = k;
	for (n = 0; n < max_terms && as_poll(n); n++)
	{
		double		jmax,
					rest,
					ratio;

		sum_p += pi * jp;
		sum_q += qi * jq;
		tail_p -= pi;
		jp = as_nct_beta_up(&nb, i + 0.5, jp, &gp, &amp_p);
		jq = as_nct_beta_up(&nb, i + 1.0, jq, &gq, &amp_q);
		pi *= lambda / (i + 1.0);
		qi *= lambda / (i + 1.5);
		i += 1.0;

		/*
		 * The rest is at most the Poisson mass still to come (Q_i <= 1.13
		 * P_i, Gamma(i + 1) / Gamma(i + 3/2) being at most 1 / Gamma(3/2))
		 * times the largest J to come, and beyond the mode at most a
		 * geometric series in lambda / (i + 1).
		 */
		jmax = upper ? 1.0 : fmax(jp, jq);
		/* tail_p has lost up to (n + 2) ulps of its start to the subtractions */
		rest = 2.13 * (fmax(tail_p, 0.0) + (double) (n + 2) * 2.3e-16 * tail_p0) * jmax;
		ratio = lambda / (i + 1.0);
		if (ratio < 1.0)
			rest = fmin(rest, (pi + qi) * jmax / (1.0 - ratio));
		if (rest <= stop * (sum_p + sum_q) || (pi == 0.0 && qi == 0.0))
			break;
	}

	/* backwards */
	pi = pk;
	qi = qk;
	jp = jp_k;
	jq = jq_k;
	gp = gp_k;
	gq = gq_k;
	amp_p = amp_q = 1.0;
	for (i = k, n = 0; i > 0.0 && n < max_terms && as_poll(n); n++)
	{
		double		ratio;

		jp = as_nct_beta_down(&nb, i + 0.5, jp, &gp, &amp_p);
		jq = as_nct_beta_down(&nb, i + 1.0, jq, &gq, &amp_q);
		pi *= i / lambda;
		qi *= (i + 0.5) / lambda;
		i -= 1.0;
		sum_p += pi * jp;
		sum_q += qi * jq;
		/* below i the weights fall at least by (i + 1/2) / lambda per step */
		ratio = (i + 0.5) / lambda;
		if (ratio < 1.0)
		{
			double		rest = (pi * (upper ? jp : 1.0) + qi * (upper ? jq : 1.0)) * ratio / (1.0 - ratio);

			if (rest <= stop * (sum_p + sum_q))
				break;
		}
	}
	*sp = sum_p;
	*sq = sum_q;
}

/* x = t^2 / (t^2 + df), y = df / (t^2 + df) and their logs, for s = |t| > 0 */
static void
as_nct_args(double s, double df, double *x, double *y, double *lx, double *ly)
{
	AsTArgs		r;

	/* the t distribution's x and y, swapped */
	as_t_args(s, df, &r);
	*x = r.y;
	*y = r.x;
	*lx = r.ly;
	*ly = r.lx;
}

/* P(T > s; df, delta) for s >= 0, delta >= 0: all terms positive */
static double
as_nct_sf_pos(double s, double df, double delta)
{
	double		x,
				y,
				lx,
				ly,
				sp,
				sq,
				v;

	if (s == 0.0)
		return as_norm_cdf(delta);
	if (isinf(s))
		return 0.0;
	if (isinf(df))
		return as_norm_sf(s - delta);
	if (delta == 0.0)
		return as_t_sf(s, df);
	as_nct_args(s, df, &x, &y, &lx, &ly);
	as_nct_sums(x, y, lx, ly, df, 0.5 * delta * delta, true, &sp, &sq);
	v = 0.5 * (sp + delta * AS_SQRT1_2 * sq);
	return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}

double
as_nct_cdf(double t, double df, double nc)
{
	double		x,
				y,
				lx,
				ly,
				sp,
				sq,
				v;

	if (isnan(t) || isnan(nc) || isinf(nc) || !as_df_ok(df))
		return NAN;
	if (isinf(df))
		return as_norm_cdf(t - nc);
	if (nc == 0.0)
		return as_t_cdf(t, df);
	if (isinf(t))
		return t > 0.0 ? 1.0 : 0.0;
	if (t == 0.0)
		return as_norm_cdf(-nc);
	if (t < 0.0)
	{
		/* F(t; df, nc) = 1 - F(-t; df, -nc) */
		if (nc <= 0.0)
			return as_nct_sf_pos(-t, df, -nc);
		as_nct_args(-t, df, &x, &y, &lx, &ly);
		as_nct_sums(x, y, lx, ly, df, 0.5 * nc * nc, true, &sp, &sq);
		v = 0.5 * (sp - nc * AS_SQRT1_2 * sq);
	}
	else
	{
		as_nct_args(t, df, &x, &y, &lx, &ly);
		as_nct_sums(x, y, lx, ly, df, 0.5 * nc * nc, false, &sp, &sq);
		v = as_norm_cdf(-nc) + 0.5 * (sp + nc * AS_SQRT1_2 * sq);
	}
	return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}


/* ------------------------------------------------------------------------
 * Two-sample comparisons
 * ------------------------------------------------------------------------
 */

static void
as_comparison_nan(AsComparison *out)
{
	out->diff = out->diff_lo = out->diff_hi = NAN;
	out->rel = out->rel_lo = out->rel_hi = NAN;
	out->statistic = out->df = out->p_value = NAN;
}

static bool
as_arm_ok(const AsArm *arm, double min_n)
{
	return isfinite(arm->n) && arm->n > min_n && isfinite(arm->mean)
		&& isfinite(arm->var) && arm->var >= 0.0;
}

static bool
as_alpha_ok(double alpha)
{
	return !isnan(alpha) && alpha > 0.0 && alpha < 1.0;
}

/*
 * The delta method for m_t / m_c - 1 with independent arms (the first-order
 * Taylor expansion of the ratio of two means; gbstats' variance_of_ratios
 * with no covariance): var = v_t / (n_t m_c^2) + v_c m_t^2 / (n_c m_c^4),
 * written as (v_t/n_t + (v_c/n_c) (m_t/m_c)^2) / m_c^2 so that m_c^4 cannot
 * overflow.  m_c = 0 has no relative lift: NaN (gbstats answers 0 with its
 * "baseline variation zero" error).
 */
double
as_relative_lift_var(const AsArm *control, const AsArm *treatment)
{
	double		r;

	if (!as_arm_ok(control, 0.0) || !as_arm_ok(treatment, 0.0) || control->mean == 0.0)
		return NAN;
	r = treatment->mean / control->mean;
	return (treatment->var / treatment->n + control->var / control->n * r * r)
		/ (control->mean * control->mean);
}

/* diff, rel and the two intervals at +/- crit standard errors */
static void
as_fill_intervals(const AsArm *c, const AsArm *t, double se, double crit, AsComparison *out)
{
	double		rel_se = sqrt(as_relative_lift_var(c, t));

	out->diff = t->mean - c->mean;
	out->diff_lo = out->diff - crit * se;
	out->diff_hi = out->diff + crit * se;
	out->rel = (t->mean - c->mean) / c->mean;
	out->rel_lo = out->rel - crit * rel_se;
	out->rel_hi = out->rel + crit * rel_se;
}

/*
 * The two-proportion z-test as statsmodels' proportions_ztest computes it
 * (the textbook pooled test, e.g. Agresti, "Categorical Data Analysis",
 * 3.1): z = (p_t - p_c) / sqrt(p (1 - p) (1/n_t + 1/n_c)) with the pooled
 * p = (x_t + x_c) / (n_t + n_c), two-sided p-value 2 Phi(-|z|).  The
 * interval is the unpooled Wald interval, and the relative lift's the delta
 * method's with the per-unit variances p (1 - p) of the 0/1 outcomes.
 * Degenerate counts (no successes or no failures at all) give z = 0/0 =
 * NaN, as statsmodels does.
 */
void
as_prop_ztest(double x_c, double n_c, double x_t, double n_t, double alpha, AsComparison *out)
{
	AsArm		c,
				t;
	double		pooled,
				se0,
				se1,
				crit;

	if (!(isfinite(n_c) && n_c > 0.0 && isfinite(n_t) && n_t > 0.0
		  && x_c >= 0.0 && x_c <= n_c && x_t >= 0.0 && x_t <= n_t) || !as_alpha_ok(alpha))
	{
		as_comparison_nan(out);
		return;
	}
	c.n = n_c;
	c.mean = x_c / n_c;
	c.var = c.mean * (1.0 - c.mean);
	t.n = n_t;
	t.mean = x_t / n_t;
	t.var = t.mean * (1.0 - t.mean);
	pooled = (x_c + x_t) / (n_c + n_t);
	se0 = sqrt(pooled * (1.0 - pooled) * (1.0 / n_t + 1.0 / n_c));
	se1 = sqrt(t.var / n_t + c.var / n_c);
	crit = -as_norm_ppf(0.5 * alpha);
	as_fill_intervals(&c, &t, se1, crit, out);
	out->statistic = (t.mean - c.mean) / se0;
	out->df = INFINITY;
	out->p_value = 2.0 * as_norm_sf(fabs(out->statistic));
}

/*
 * Welch's unequal-variance t-test (Welch 1947; the Welch-Satterthwaite df),
 * as scipy's ttest_ind(equal_var=False): t = diff / sqrt(v_t/n_t + v_c/n_c),
 * df = (v_t/n_t + v_c/n_c)^2 / ((v_t/n_t)^2/(n_t - 1) + (v_c/n_c)^2/(n_c - 1)),
 * p = 2 P(T_df > |t|).  Two zero variances make df 0/0, which scipy
 * replaces by 1; so do we.  Arms need n > 1.
 */
void
as_welch_ttest(const AsArm *control, const AsArm *treatment, double alpha, AsComparison *out)
{
	double		vc,
				vt,
				se,
				df,
				crit;

	if (!as_arm_ok(control, 1.0) || !as_arm_ok(treatment, 1.0) || !as_alpha_ok(alpha))
	{
		as_comparison_nan(out);
		return;
	}
	vc = control->var / control->n;
	vt = treatment->var / treatment->n;
	se = sqrt(vt + vc);
	df = (vt + vc) * (vt + vc) / (vt * vt / (treatment->n - 1.0) + vc * vc / (control->n - 1.0));
	if (isnan(df))
		df = 1.0;
	crit = -as_t_ppf(0.5 * alpha, df);
	as_fill_intervals(control, treatment, se, crit, out);
	out->statistic = (treatment->mean - control->mean) / se;
	out->df = df;
	out->p_value = 2.0 * as_t_sf(fabs(out->statistic), df);
}


/* ------------------------------------------------------------------------
 * GrowthBook's always-valid intervals
 * ------------------------------------------------------------------------
 */

/*
 * gbstats (frequentist/tests.py, sequential_rho and
 * sequential_interval_halfwidth) implements the two-sided normal-mixture
 * confidence sequence of Waudby-Smith, Wu, Ramdas, Karampatziakis and Mineiro
 * (2023, "Anytime-valid off-policy inference for contextual bandits",
 * arXiv:2103.06476v7), eq. 9, with the mixing parameter of eq. 161 that
 * makes the sequence tightest at n = N:
 *	 rho = sqrt((-2 log alpha + log(-2 log alpha + 1)) / N)
 *	 halfwidth = sqrt(s2) sqrt(2 (n rho^2 + 1) log(sqrt(n rho^2 + 1) / alpha) / (n rho)^2)
 * Written with log alpha (so the p-value's search can go below the doubles'
 * range of alpha) and log1p.
 */
static double
as_rho2_log(double log_alpha, double tuning)
{
	double		l = -2.0 * log_alpha;

	return (l + log1p(l)) / tuning;
}

static double
as_halfwidth_log(double s2, double n, double rho2, double log_alpha)
{
	double		nr2 = n * rho2;

	return sqrt(s2) * sqrt(2.0 * (nr2 + 1.0) * (0.5 * log1p(nr2) - log_alpha) / (n * nr2));
}

static bool
as_tuning_ok(double tuning)
{
	return isfinite(tuning) && tuning > 0.0;
}

double
as_sequential_rho(double alpha, double tuning)
{
	if (!as_alpha_ok(alpha) || !as_tuning_ok(tuning))
		return NAN;
	return sqrt(as_rho2_log(log(alpha), tuning));
}

double
as_sequential_halfwidth(double s2, double n, double tuning, double alpha)
{
	if (!as_alpha_ok(alpha) || !as_tuning_ok(tuning) || !(isfinite(s2) && s2 >= 0.0)
		|| !(isfinite(n) && n > 0.0))
		return NAN;
	return as_halfwidth_log(s2, n, as_rho2_log(log(alpha), tuning), log(alpha));
}

/*
 * The always-valid p-value: the smallest alpha whose sequence, as
 * as_sequential_halfwidth draws it for that alpha (rho too is alpha's),
 * excludes 0 from the difference's interval.  The half-width decreases
 * strictly as alpha grows (checked numerically over 1e-300 < alpha < 1 and
 * n, N from 1 to 1e12), so the alphas that exclude 0 are an interval
 * (p, 1) and p is found by bisection on log alpha, to 1e-13 in log alpha
 * (1e-13 relative in p).  As alpha -> 1 (rho -> 0) the half-width tends to
 * sqrt(s2 (1/n + N / (2 n^2))); a difference inside that is excluded by no
 * alpha, p = 1.  A p below the smallest double is 0.
 *
 * gbstats' own two-sided p-value differs: it keeps rho at the configured
 * alpha's value and inverts that family in closed form (the e-value of the
 * paper's eq. 155), so its p depends on the configured alpha; ours does
 * not (see ab_stats.h).
 */
static double
as_sequential_p(double diff, double s2, double n, double tuning)
{
	double		target = fabs(diff);
	double		lo,
				hi;
	int			iter;

	if (isnan(diff) || isnan(s2))
		return NAN;
	if (!(target > sqrt(s2 * (1.0 / n + tuning / (2.0 * n * n)))))
		return 1.0;
	if (s2 == 0.0)
		return 0.0;
	/* find lo with halfwidth(lo) > target; hi = log 1 = 0 has halfwidth < target */
	hi = 0.0;
	lo = -1.0;
	while (as_halfwidth_log(s2, n, as_rho2_log(lo, tuning), lo) <= target)
	{
		hi = lo;
		lo *= 2.0;
		if (lo < -746.0)
		{
			if (as_halfwidth_log(s2, n, as_rho2_log(-746.0, tuning), -746.0) <= target)
				return 0.0;
			lo = -746.0;
			break;
		}
	}
	for (iter = 0; iter < 200 && hi - lo > 1e-13; iter++)
	{
		double		mid = 0.5 * (lo + hi);

		if (mid <= lo || mid >= hi)
			break;
		if (as_halfwidth_log(s2, n, as_rho2_log(mid, tuning), mid) > target)
			lo = mid;
		else
			hi = mid;
	}
	return exp(0.5 * (lo + hi));
}

/*
 * The comparison with always-valid intervals, as gbstats'
 * SequentialTwoSidedTTest draws them: s2 = SE^2 (n_t + n_c) with SE the
 * difference's standard error, and for the relative lift the delta method's
 * (gbstats runs the same code with the relative effect's moments).  The
 * statistic is the z of the difference; df is +inf.
 */
void
as_sequential(const AsArm *control, const AsArm *treatment, double tuning, double alpha,
			  AsComparison *out)
{
	double		n,
				se2,
				rho2,
				la,
				hw,
				hw_rel,
				var_rel;

	if (!as_arm_ok(control, 0.0) || !as_arm_ok(treatment, 0.0) || !as_alpha_ok(alpha)
		|| !as_tuning_ok(tuning))
	{
		as_comparison_nan(out);
		return;
	}
	n = control->n + treatment->n;
	se2 = treatment->var / treatment->n + control->var / control->n;
	la = log(alpha);
	rho2 = as_rho2_log(la, tuning);
	hw = as_halfwidth_log(se2 * n, n, rho2, la);
	var_rel = as_relative_lift_var(control, treatment);
	hw_rel = as_halfwidth_log(var_rel * n, n, rho2, la);

	out->diff = treatment->mean - control->mean;
	out->diff_lo = out->diff - hw;
	out->diff_hi = out->diff + hw;
	out->rel = (treatment->mean - control->mean) / control->mean;
	out->rel_lo = out->rel - hw_rel;
	out->rel_hi = out->rel + hw_rel;
	out->statistic = out->diff / sqrt(se2);
	out->df = INFINITY;
	out->p_value = as_sequential_p(out->diff, se2 * n, n, tuning);
}


/* ------------------------------------------------------------------------
 * Power and sample size (R's power.prop.test and power.t.test)
 * ------------------------------------------------------------------------
 */

static bool
as_prob_open(double p)
{
	return !isnan(p) && p > 0.0 && p < 1.0;
}

/*
 * power.prop.test, two-sided, strict = FALSE (R's stats package, after
 * Fleiss, "Statistical Methods for Rates and Proportions", the normal
 * approximation with the pooled variance under the null):
 *	 power = Phi((sqrt(n) |p1 - p2| - z sqrt((p1 + p2)(1 - (p1 + p2)/2)))
 *				 / sqrt(p1 (1 - p1) + p2 (1 - p2))),   z = qnorm(1 - alpha/2)
 * and n solves power(n) = target, in closed form:
 *	 sqrt(n) = (qnorm(target) sqrt(p1 q1 + p2 q2) + z sqrt(...)) / |p1 - p2|
 * (R finds it with uniroot, to about 1e-4).  When the right side is not
 * positive, power(0) already reaches the target and there is no n: NaN.
 */
double
as_power_prop_power(double n, double p1, double p2, double alpha)
{
	double		z,
				num,
				den;

	if (!(isfinite(n) && n > 0.0) || !as_prob_open(p1) || !as_prob_open(p2) || !as_alpha_ok(alpha))
		return NAN;
	z = -as_norm_ppf(0.5 * alpha);
	num = sqrt(n) * fabs(p1 - p2) - z * sqrt((p1 + p2) * (1.0 - 0.5 * (p1 + p2)));
	den = sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2));
	return as_norm_cdf(num / den);
}

double
as_power_prop_n(double p1, double p2, double alpha, double power)
{
	double		s;

	if (!as_prob_open(p1) || !as_prob_open(p2) || p1 == p2 || !as_alpha_ok(alpha)
		|| !as_prob_open(power))
		return NAN;
	s = as_norm_ppf(power) * sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
		- as_norm_ppf(0.5 * alpha) * sqrt((p1 + p2) * (1.0 - 0.5 * (p1 + p2)));
	if (!(s > 0.0))
		return NAN;
	s /= fabs(p1 - p2);
	return s * s;
}

/*
 * power.t.test, two-sample, two-sided, strict = FALSE: df = 2 (n - 1),
 * ncp = sqrt(n/2) |delta| / sd (R takes |delta| in the two-sided case), and
 * power = P(T'_{df, ncp} > qt(1 - alpha/2, df)), the noncentral t's upper
 * tail, whose series has only positive terms here.
 */
double
as_power_t_power(double n, double delta, double sd, double alpha)
{
	double		df,
				crit;

	if (!(isfinite(n) && n > 1.0) || !isfinite(delta) || !(isfinite(sd) && sd > 0.0)
		|| !as_alpha_ok(alpha))
		return NAN;
	df = 2.0 * (n - 1.0);
	crit = -as_t_ppf(0.5 * alpha, df);
	return as_nct_sf_pos(crit, df, sqrt(0.5 * n) * fabs(delta) / sd);
}

/*
 * n with power(n) = target, n > 1: power rises from 0 (n -> 1, df -> 0) to
 * 1, so the root is unique.  Bracketed from the normal approximation
 * n0 = 2 ((z_{1-alpha/2} + z_power) sd / delta)^2 + 1 by doubling n0 - 1
 * outwards, then the Illinois variant of regula falsi (Dowell and Jarratt
 * 1971, BIT 11, 168-174) to 1e-13 relative, which keeps the bracket and
 * converges superlinearly.  R's uniroot stops at tol = 1.2e-4; ours is the
 * exact root.
 */
static double
as_power_t_gap(double n, double delta, double sd, double alpha, double target)
{
	return as_power_t_power(n, delta, sd, alpha) - target;
}

double
as_power_t_n(double delta, double sd, double alpha, double power)
{
	double		z,
				n0,
				lo,
				hi,
				flo,
				fhi;
	int			side = 0,
				iter;

	if (!isfinite(delta) || delta == 0.0 || !(isfinite(sd) && sd > 0.0) || !as_alpha_ok(alpha)
		|| !as_prob_open(power))
		return NAN;
	z = (as_norm_ppf(power) - as_norm_ppf(0.5 * alpha)) * sd / fabs(delta);
	n0 = 2.0 * z * z + 1.0;
	if (!(n0 > 1.0 + 1e-9) || !isfinite(n0))
		n0 = 2.0;
	flo = fhi = as_power_t_gap(n0, delta, sd, alpha, power);
	lo = hi = n0;
	for (iter = 0; iter < 2000 && !(flo < 0.0) && as_poll(0); iter++)
	{
		hi = lo;
		fhi = flo;
		lo = 1.0 + 0.5 * (lo - 1.0);
		flo = as_power_t_gap(lo, delta, sd, alpha, power);
	}
	for (iter = 0; iter < 2000 && !(fhi >= 0.0) && as_poll(0); iter++)
	{
		lo = hi;
		flo = fhi;
		hi = 1.0 + 2.0 * (hi - 1.0);
		if (!isfinite(hi))
			return NAN;
		fhi = as_power_t_gap(hi, delta, sd, alpha, power);
	}
	if (!(flo < 0.0 && fhi >= 0.0))
		return NAN;
	if (fhi == 0.0)
		return hi;

	for (iter = 0; iter < 500 && hi - lo > 1e-13 * hi && as_poll(0); iter++)
	{
		double		mid = (lo * fhi - hi * flo) / (fhi - flo);
		double		fmid;

		if (!(mid > lo && mid < hi))
			mid = 0.5 * (lo + hi);
		fmid = as_power_t_gap(mid, delta, sd, alpha, power);
		if (fmid == 0.0)
			return mid;
		if (fmid < 0.0)
		{
			lo = mid;
			flo = fmid;
			if (side == -1)
				fhi *= 0.5;		/* Illinois: the end kept twice counts half */
			side = -1;
		}
		else
		{
			hi = mid;
			fhi = fmid;
			if (side == 1)
				flo *= 0.5;
			side = 1;
		}
	}
	return 0.5 * (lo + hi);
}


/* ------------------------------------------------------------------------
 * Thompson sampling weights
 * ------------------------------------------------------------------------
 */

/*
 * GrowthBook's Gaussian bandit (gbstats bayesian/bandits.py, as its stats
 * engine configures it: prior N(0, 1e4), proper): arm j's posterior is
 * normal with precision 1/prior_variance + n_j / var_j (the data term 0
 * when var_j = 0) and mean (prior_mean / prior_variance + n_j mean_j /
 * var_j) / precision.
 */
static void
as_bandit_posterior(const AsArm *arm, double prior_mean, double prior_variance,
					double *mean, double *sd)
{
	double		prior_prec = 1.0 / prior_variance;

	/*
	 * An arm whose values are all equal (every unit converted, or none) has
	 * variance 0: its mean is then known exactly, not unknown.  GrowthBook
	 * floors the variance at 1e-9 (BANDIT_MIN_VARIANCE) for this.
	 */
	double		data_prec = arm->n > 0.0 ? arm->n / fmax(arm->var, 1e-9) : 0.0;
	double		prec = prior_prec + data_prec;

	*mean = (prior_prec * prior_mean + data_prec * arm->mean) / prec;
	*sd = sqrt(1.0 / prec);
}

/*
 * 15-point Gauss-Kronrod rule with its embedded 7-point Gauss rule
 * (Kronrod 1965; nodes and weights as in QUADPACK's qk15, Piessens et al.
 * 1983), the Gauss nodes being the odd-numbered ones.
 */
static const double as_gk_x[8] = {
	0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
	0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
	0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
	0.207784955007898467600689403773245, 0.0
};
static const double as_gk_wk[8] = {
	0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
	0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
	0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
	0.204432940075298892414161999234649, 0.209482141084727828012999174891714
};
static const double as_gk_wg[4] = {
	0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
	0.381830050505118944950369775488975, 0.417959183673469387755102040816327
};

typedef struct AsBestArm
{
	const AsArm *arms;
	int			k;
	int			which;
	double		prior_mean;
	double		prior_variance;
	double		mean;			/* arm which's posterior */
	double		sd;
} AsBestArm;

/* phi(z) prod_{j != which} Phi((mean + sd z - mean_j) / sd_j) */
static double
as_best_integrand(const AsBestArm *ba, double z)
{
	double		x = ba->mean + ba->sd * z;
	double		v = exp(-0.5 * z * z) / sqrt(2.0 * AS_PI);
	int			j;

	for (j = 0; j < ba->k && v > 0.0; j++)
	{
		double		mj,
					sj;

		if (j == ba->which)
			continue;
		as_bandit_posterior(&ba->arms[j], ba->prior_mean, ba->prior_variance, &mj, &sj);
		v *= as_norm_cdf((x - mj) / sj);
	}
	return v;
}

static void
as_gk15(const AsBestArm *ba, double lo, double hi, double *result, double *error)
{
	double		c = 0.5 * (lo + hi),
				h = 0.5 * (hi - lo);
	double		fc = as_best_integrand(ba, c);
	double		rk = fc * as_gk_wk[7],
				rg = fc * as_gk_wg[3];
	int			i;

	for (i = 0; i < 7; i++)
	{
		double		f = as_best_integrand(ba, c - h * as_gk_x[i]) + as_best_integrand(ba, c + h * as_gk_x[i]);

		rk += f * as_gk_wk[i];
		if (i & 1)
			rg += f * as_gk_wg[i / 2];
	}
	*result = rk * h;
	*error = fabs((rk - rg) * h);
}

/*
 * P(arm which's draw is the largest) = integral of phi(z) prod_j Phi_j over
 * z, arm which's standardized draw.  Globally adaptive Gauss-Kronrod
 * (QUADPACK's QAG strategy: bisect the interval with the largest error
 * estimate |K15 - G7| until their sum is below 1e-13) on [-9, 9], where all
 * but 2e-19 of phi's mass is.  The error estimate only sees what the nodes
 * see: an arm whose posterior is much narrower than this one's makes its
 * Phi a near-step at its mean, of width s_j = sd_j / sd in z, which could
 * fall between nodes unnoticed.  So the starting intervals are the unit
 * intervals cut further at each other arm's mean c_j and at c_j +- s_j
 * {1/2, 1, 2, 4, 8}: every transition then spans whole intervals of its own
 * scale.
 */
#define AS_QUAD_MAX_INTERVALS	1000
#define AS_QUAD_MAX_CUTS		512
#define AS_QUAD_Z				9.0
#define AS_QUAD_TOL				1e-13

typedef struct AsInterval
{
	double		lo,
				hi,
				result,
				error;
} AsInterval;

static double
as_best_probability(const AsBestArm *ba)
{
	AsInterval	iv[AS_QUAD_MAX_INTERVALS];
	double		cuts[AS_QUAD_MAX_CUTS];
	int			ncuts = 0,
				n = 0,
				i,
				j;
	double		total,
				err;

	/* breakpoints: the integers in [-9, 9], the other arms' means and their scales (as many as fit) */
	for (i = -(int) AS_QUAD_Z; i <= (int) AS_QUAD_Z; i++)
		cuts[ncuts++] = (double) i;
	for (j = 0; j < ba->k && ncuts + 11 <= AS_QUAD_MAX_CUTS; j++)
	{
		static const double offsets[11] = {0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 4.0, -4.0, 8.0, -8.0};
		double		mj,
					sj,
					c,
					w;
		int			o;

		if (j == ba->which)
			continue;
		as_bandit_posterior(&ba->arms[j], ba->prior_mean, ba->prior_variance, &mj, &sj);
		c = (mj - ba->mean) / ba->sd;
		w = sj / ba->sd;
		for (o = 0; o < (w < 0.25 ? 11 : 1); o++)
		{
			double		z = c + offsets[o] * w;

			if (z > -AS_QUAD_Z && z < AS_QUAD_Z)
				cuts[ncuts++] = z;
		}
	}
	/* insertion sort of the few breakpoints */
	for (i = 1; i < ncuts; i++)
	{
		double		v = cuts[i];

		for (j = i; j > 0 && cuts[j - 1] > v; j--)
			cuts[j] = cuts[j - 1];
		cuts[j] = v;
	}
	for (i = 0; i + 1 < ncuts; i++)
	{
		if (cuts[i + 1] <= cuts[i])
			continue;
		iv[n].lo = cuts[i];
		iv[n].hi = cuts[i + 1];
		as_gk15(ba, iv[n].lo, iv[n].hi, &iv[n].result, &iv[n].error);
		n++;
	}

	for (;; as_interrupt())
	{
		int			worst = 0;
		double		mid;

		total = err = 0.0;
		for (i = 0; i < n; i++)
		{
			total += iv[i].result;
			err += iv[i].error;
			if (iv[i].error > iv[worst].error)
				worst = i;
		}
		if (err <= AS_QUAD_TOL || n >= AS_QUAD_MAX_INTERVALS)
			break;
		mid = 0.5 * (iv[worst].lo + iv[worst].hi);
		if (!(mid > iv[worst].lo && mid < iv[worst].hi))
			break;				/* cannot split further */
		iv[n].lo = mid;
		iv[n].hi = iv[worst].hi;
		iv[worst].hi = mid;
		as_gk15(ba, iv[worst].lo, iv[worst].hi, &iv[worst].result, &iv[worst].error);
		as_gk15(ba, iv[n].lo, iv[n].hi, &iv[n].result, &iv[n].error);
		n++;
	}
	return total < 0.0 ? 0.0 : (total > 1.0 ? 1.0 : total);
}

/*
 * Best-arm probabilities and weights.  GrowthBook estimates best[] from
 * 10^4 joint posterior draws (seeded); we integrate, so the answer is
 * deterministic and exact to ~1e-13 rather than a draw with standard error
 * ~sqrt(p (1 - p) / 10^4).  The weights follow gbstats up to July 2026:
 * floored at min_weight (p[p < f] = f) and divided by their sum, so a
 * floored arm may end a little below min_weight.  (gbstats now applies the
 * floor additively, f + (1 - k f) p, and its default config can also use
 * "top two" draws; its stats engine passes top_two = False.)  The 100-unit
 * gate is gbstats' enough_units: every arm needs at least min_units.
 */
bool
as_bandit_weights(const AsArm *arms, int k, double prior_mean, double prior_variance,
				  double min_weight, double min_units, double *best, double *weights)
{
	AsBestArm	ba;
	double		sum = 0.0;
	bool		valid;
	int			i;

	if (arms == NULL || k < 2 || best == NULL || weights == NULL)
		return false;
	for (i = 0; i < k; i++)
		if (arms[i].n < min_units)
			return false;

	valid = isfinite(prior_mean) && !isnan(prior_variance) && prior_variance > 0.0
		&& !isnan(min_weight) && !isnan(min_units);
	for (i = 0; i < k && valid; i++)
		valid = isfinite(arms[i].n) && arms[i].n >= 0.0 && isfinite(arms[i].mean)
			&& isfinite(arms[i].var) && arms[i].var >= 0.0;
	if (!valid)
	{
		for (i = 0; i < k; i++)
			best[i] = weights[i] = NAN;
		return true;
	}

	ba.arms = arms;
	ba.k = k;
	ba.prior_mean = prior_mean;
	ba.prior_variance = prior_variance;
	for (i = 0; i < k; i++)
	{
		ba.which = i;
		as_bandit_posterior(&arms[i], prior_mean, prior_variance, &ba.mean, &ba.sd);
		best[i] = (ba.sd > 0.0 && isfinite(ba.sd)) ? as_best_probability(&ba) : NAN;
	}
	for (i = 0; i < k; i++)
	{
		weights[i] = best[i] < min_weight ? min_weight : best[i];
		sum += weights[i];
	}
	for (i = 0; i < k; i++)
		weights[i] /= sum;
	return true;
}
