/*
 * drift_stats.c
 *	  The numerical core of drift statistics (see drift_stats.h for the
 *	  contract of each function).  Plain C99 and libm, nothing allocated.
 *
 *	  The aim is agreement with scipy 1.10 / numpy 1.24, including where
 *	  scipy itself only approximates: kstwo.sf switches between exact
 *	  algorithms and approximations on thresholds of n and n*d^2, and we take
 *	  the same branches so that a p-value computed here is the one a Python
 *	  user gets.  Where scipy's result is exact we only need an accurate
 *	  computation, not scipy's code path, and say which algorithm we use.
 */
#include "drift_stats.h"

#include <float.h>
#include <math.h>
#include <string.h>

void		(*ds_interrupt_hook) (void) = NULL;

/* How many inner-loop steps between two calls of ds_interrupt_hook. */
#define DS_STEPS_PER_CHECK	((int64_t) 1 << 22)

static inline void
ds_check_interrupts(void)
{
	if (ds_interrupt_hook != NULL)
		ds_interrupt_hook();
}

/*
 * Count steps done and call the hook once enough have piled up; cheap
 * enough to call once per column or row of a long computation.
 */
static inline void
ds_count_steps(int64_t *pending, int64_t steps)
{
	*pending += steps;
	if (*pending >= DS_STEPS_PER_CHECK)
	{
		*pending = 0;
		ds_check_interrupts();
	}
}

static inline double
ds_clip01(double p)
{
	/* like np.clip(p, 0, 1): NaN stays NaN */
	if (p < 0.0)
		return 0.0;
	if (p > 1.0)
		return 1.0;
	return p;
}

#define DS_PI		3.14159265358979323846
#define DS_LN2		0.69314718055994530942


/* ------------------------------------------------------------------------
 * Sorting
 * ------------------------------------------------------------------------
 */

#define DS_SIGN_BIT		((uint64_t) 1 << 63)
#define DS_INSERTION_MAX 64

/*
 * The key of a double is its bit pattern with the order of the reals: flip
 * every bit of a negative number (so larger magnitudes sort first), set the
 * sign bit of a positive one (so it sorts after every negative).  -0.0 is
 * turned into 0.0 first, as the header promises.
 */
static inline uint64_t
ds_key_of(double v)
{
	uint64_t	bits;

	if (v == 0.0)
		v = 0.0;
	memcpy(&bits, &v, sizeof(bits));
	return (bits & DS_SIGN_BIT) ? ~bits : (bits | DS_SIGN_BIT);
}

static inline double
ds_value_of(uint64_t key)
{
	uint64_t	bits = (key & DS_SIGN_BIT) ? (key & ~DS_SIGN_BIT) : ~key;
	double		v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* Keys live in the double arrays; memcpy keeps the type punning defined. */
static inline uint64_t
ds_load_key(const double *p)
{
	uint64_t	k;

	memcpy(&k, p, sizeof(k));
	return k;
}

static inline void
ds_store_key(double *p, uint64_t k)
{
	memcpy(p, &k, sizeof(k));
}

/*
 * Most-significant-digit radix sort of the keys, whose digit is taken just
 * below the highest bit in which the keys differ, not at a fixed place:
 * real data shares its sign and most of its exponent, and a fixed top digit
 * would put it all in a few buckets.  Every level therefore splits on bits
 * that vary, and a bucket's keys agree on everything above its digit, so
 * the next level starts at least a digit lower.  After the first level or
 * two the buckets fit in cache, which is what makes this faster than six
 * full LSD passes over memory.  The digit narrows for smaller buckets
 * (fewer counters to clear and scan), and buckets of a few dozen keys are
 * finished by insertion sort.
 *
 * Each function sorts the n keys in src and leaves the result in src
 * (into_src) or in other, scratch of the same size.  Buckets of more than
 * DS_WIDE_MIN keys take 11-bit digits (at most 6 levels deep, 16 kB of
 * counters each); smaller ones 8 or 4 bits, with 2 kB frames: the stack
 * stays under 130 kB whatever the data.
 */
#define DS_WIDE_MIN		8192
#define DS_WIDE_BITS	11
#define DS_NARROW_BITS	8

/*
 * The shift of the digit of the given width just below the highest bit in
 * which the keys differ; -1 if they are all equal.
 */
static int
ds_digit_shift(const double *src, size_t n, int bits)
{
	uint64_t	k0 = ds_load_key(&src[0]);
	uint64_t	diff = 0;
	size_t		i;
	int			high = 63;

	for (i = 1; i < n; i++)
		diff |= ds_load_key(&src[i]) ^ k0;
	if (diff == 0)
		return -1;
	while (!(diff & ((uint64_t) 1 << high)))
		high--;
	return (high + 1 - bits > 0) ? high + 1 - bits : 0;
}

/* Distribute src into other by digit; counts[d] is left at the end of bucket d. */
static inline void
ds_distribute(const double *src, double *other, size_t n, int shift, int nbuckets, size_t *counts)
{
	size_t		i,
				start = 0;
	int			d;

	memset(counts, 0, sizeof(size_t) * nbuckets);
	for (i = 0; i < n; i++)
		counts[(ds_load_key(&src[i]) >> shift) & (nbuckets - 1)]++;
	for (d = 0; d < nbuckets; d++)
	{
		size_t		c = counts[d];

		counts[d] = start;
		start += c;
	}
	for (i = 0; i < n; i++)
	{
		uint64_t	k = ds_load_key(&src[i]);

		ds_store_key(&other[counts[(k >> shift) & (nbuckets - 1)]++], k);
	}
}

static inline void
ds_keys_in_place(double *src, double *other, size_t n, bool into_src)
{
	if (!into_src)
		memcpy(other, src, n * sizeof(double));
}

static void
ds_sort_keys_narrow(double *src, double *other, size_t n, bool into_src)
{
	size_t		counts[1 << DS_NARROW_BITS];
	size_t		i,
				start;
	int			bits,
				shift,
				nbuckets,
				d;

	if (n <= DS_INSERTION_MAX)
	{
		for (i = 1; i < n; i++)
		{
			uint64_t	k = ds_load_key(&src[i]);
			size_t		j = i;

			while (j > 0 && ds_load_key(&src[j - 1]) > k)
			{
				src[j] = src[j - 1];
				j--;
			}
			ds_store_key(&src[j], k);
		}
		ds_keys_in_place(src, other, n, into_src);
		return;
	}
	bits = (n > 256) ? DS_NARROW_BITS : 4;
	shift = ds_digit_shift(src, n, bits);
	if (shift < 0)
	{
		ds_keys_in_place(src, other, n, into_src);
		return;
	}
	nbuckets = 1 << bits;
	ds_distribute(src, other, n, shift, nbuckets, counts);

	/* the keys are in other now */
	start = 0;
	for (d = 0; d < nbuckets; d++)
	{
		size_t		end = counts[d];

		if (end > start)
		{
			if (shift == 0)		/* the digit was the last bits: equal keys */
				ds_keys_in_place(other + start, src + start, end - start, !into_src);
			else
				ds_sort_keys_narrow(other + start, src + start, end - start, !into_src);
		}
		start = end;
	}
}

static void
ds_sort_keys(double *src, double *other, size_t n, bool into_src, int64_t *pending)
{
	size_t		counts[1 << DS_WIDE_BITS];
	size_t		start;
	int			shift,
				nbuckets = 1 << DS_WIDE_BITS,
				d;

	if (n <= DS_WIDE_MIN)
	{
		ds_sort_keys_narrow(src, other, n, into_src);
		return;
	}
	shift = ds_digit_shift(src, n, DS_WIDE_BITS);
	if (shift < 0)
	{
		ds_keys_in_place(src, other, n, into_src);
		return;
	}
	ds_count_steps(pending, (int64_t) n);
	ds_distribute(src, other, n, shift, nbuckets, counts);

	start = 0;
	for (d = 0; d < nbuckets; d++)
	{
		size_t		end = counts[d];

		if (end > start)
		{
			if (shift == 0)
				ds_keys_in_place(other + start, src + start, end - start, !into_src);
			else
				ds_sort_keys(other + start, src + start, end - start, !into_src, pending);
		}
		start = end;
	}
}

void
ds_sort(double *x, size_t n, double *scratch)
{
	size_t		i;
	int64_t		pending = 0;

	for (i = 0; i < n; i++)
		ds_store_key(&x[i], ds_key_of(x[i]));
	ds_sort_keys(x, scratch, n, true, &pending);
	for (i = 0; i < n; i++)
		x[i] = ds_value_of(ds_load_key(&x[i]));
}


/* ------------------------------------------------------------------------
 * Two-sample Kolmogorov-Smirnov
 * ------------------------------------------------------------------------
 */

/*
 * scipy evaluates cdf1 - cdf2 at every pooled value, with cdf = (number of
 * values <= v) / n, and takes the larger of max(cdf1 - cdf2) and
 * -min(cdf1 - cdf2).  A merge gives the same counts at each distinct
 * value, and the same floating-point expression gives the same bits.
 */
double
ds_ks_statistic_sorted(const double *a, int64_t n1, const double *b, int64_t n2)
{
	double		ks,
				w;

	/* the one merge (ds_ks_wasserstein_sorted, below); Wasserstein costs little beside */
	ds_ks_wasserstein_sorted(a, n1, b, n2, &ks, &w);
	return ks;
}

static int64_t
ds_gcd(int64_t a, int64_t b)
{
	while (b != 0)
	{
		int64_t		t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* floor(p / q) and ceil(p / q) for q > 0 and any sign of p */
static inline int64_t
ds_floor_div(int64_t p, int64_t q)
{
	int64_t		r = p / q;

	if ((p % q) != 0 && p < 0)
		r--;
	return r;
}

static inline int64_t
ds_ceil_div(int64_t p, int64_t q)
{
	int64_t		r = p / q;

	if ((p % q) != 0 && p > 0)
		r++;
	return r;
}

/*
 * P(D >= h/n) for two samples of the same size n, as scipy's
 * _compute_prob_outside_square computes it: the reflection-principle sum
 * 2 * sum_k (-1)^(k+1) C(2n, n - kh) / C(2n, n) (Hodges 1958), each ratio
 * of binomials a product of h factors, nested Horner-fashion to avoid the
 * cancellation of the alternating sum.  The same operations in the same
 * order, so the result matches to the last bit or so.
 */
static double
ds_ks_prob_outside_square(int64_t n, int64_t h)
{
	double		p = 0.0;
	int64_t		k = (int64_t) floor((double) n / (double) h);
	int64_t		pending = 0;

	for (; k >= 0; k--)
	{
		double		p1 = 1.0;
		int64_t		j;

		for (j = 0; j < h; j++)
			p1 = (double) (n - k * h - j) * p1 / (double) (n + k * h + j + 1);
		p = p1 * (1.0 - p);
		ds_count_steps(&pending, h);
	}
	return 2.0 * p;
}

/*
 * P(D >= h/lcm(m, n)) for sizes m != n: the proportion of the lattice paths
 * from (0, 0) to (m, n) (steps +1 in x or in y, all C(m+n, n) equally
 * likely under the null hypothesis) that touch a point outside the band
 * |x/m - y/n| < h/lcm, i.e. |(n/g) x - (m/g) y| >= h.
 *
 * Hodges (1958) counts the paths that stay inside the band column by column;
 * the counts are binomial-sized and must be scaled, and 1 - inside/C(m+n, n)
 * loses every digit when the p-value is small.  Instead we follow Viehmann
 * (2021, "Numerically more stable computation of the p-values for the
 * two-sample Kolmogorov-Smirnov test", arXiv:2102.08037), which is also what
 * scipy does: carry B(x, y), the proportion of the paths from the origin to
 * (x, y) that have already left the band.  A path to (x, y) arrives from
 * (x - 1, y) with probability x / (x + y) and from (x, y - 1) with
 * probability y / (x + y), so
 *		B(x, y) = (x B(x - 1, y) + y B(x, y - 1)) / (x + y)
 * inside the band and B = 1 outside it.  Every value lies in [0, 1]: no
 * overflow, no scaling, and small p-values keep their relative accuracy.
 *
 * x runs over the larger size m, one column at a time; only the band's
 * window of the column is computed, in place, over A[0..n] (indexed by y):
 * the window only moves up, A[y] above it still holds the 1 it was
 * initialised with, and the recurrence reads A[y] (column x - 1) before
 * writing it.  O(m * band width) time, n + 1 doubles of work space.
 */
static double
ds_ks_prob_outside_band(int64_t m, int64_t n, int64_t g, int64_t h, double *A)
{
	int64_t		mg,
				ng,
				x,
				y,
				lo,
				hi;
	int64_t		pending = 0;

	if (m < n)
	{
		int64_t		t = m;

		m = n;
		n = t;
	}
	mg = m / g;
	ng = n / g;

	/* column x = 0: (0, y) is inside while mg * y < h */
	hi = ds_ceil_div(h, mg);
	if (hi > n + 1)
		hi = n + 1;
	for (y = 0; y <= n; y++)
		A[y] = (y < hi) ? 0.0 : 1.0;

	for (x = 1; x <= m; x++)
	{
		double		val;
		double		dx = (double) x;

		/* inside: ng x - h < mg y < ng x + h */
		lo = ds_floor_div(ng * x - h, mg) + 1;
		if (lo < 0)
			lo = 0;
		if (lo > n)
			lo = n;
		hi = ds_ceil_div(ng * x + h, mg);
		if (hi > n + 1)
			hi = n + 1;
		if (hi <= lo)
			return 1.0;			/* the band is closed: every path leaves it */

		/* B(x, lo - 1) is outside (1), unless lo is 0 where its weight is 0 */
		val = (lo == 0) ? 0.0 : 1.0;
		for (y = lo; y < hi; y++)
		{
			val = (A[y] * dx + val * (double) y) / (double) (x + y);
			A[y] = val;
		}
		ds_count_steps(&pending, hi - lo);
	}
	return A[n];
}

size_t
ds_ks_work_size(int64_t n1, int64_t n2)
{
	return (size_t) ((n1 < n2 ? n1 : n2) + 1);
}

void
ds_ks_2samp_sorted(const double *a, int64_t n1, const double *b, int64_t n2, int method,
				   double *work, DsKsResult *result)
{
	double		d = ds_ks_statistic_sorted(a, n1, b, n2);
	double		p = NAN;
	int64_t		g = ds_gcd(n1, n2);
	int64_t		n1g = n1 / g;
	int64_t		n2g = n2 / g;
	int			mode = method;

	if (mode == DS_KS_AUTO)
		mode = ((n1 > n2 ? n1 : n2) <= 10000) ? DS_KS_EXACT : DS_KS_ASYMP;
	else if (mode == DS_KS_EXACT)
	{
		/* scipy's test that lcm(n1, n2) fits: n1g >= INT32_MAX / n2g, in floats */
		if ((double) n1g >= (double) INT32_MAX / (double) n2g)
			mode = DS_KS_ASYMP;
	}
	else
		mode = DS_KS_ASYMP;

	if (mode == DS_KS_EXACT)
	{
		int64_t		lcm = n1g * n2;
		int64_t		h = (int64_t) rint(d * (double) lcm);

		/* the statistic becomes a multiple of 1/lcm, also if we fall back */
		d = (double) h / (double) lcm;
		if (h == 0)
			p = 1.0;
		else if (n1 == n2)
			p = ds_ks_prob_outside_square(n1, h);
		else
			p = ds_ks_prob_outside_band(n1, n2, g, h, work);
		if (!(p >= 0.0 && p <= 1.0))
			mode = DS_KS_ASYMP;
	}
	if (mode == DS_KS_ASYMP)
		p = ds_ks_asymp_p(d, (double) n1, (double) n2);

	result->statistic = d;
	result->p_value = ds_clip01(p);
	result->method = mode;
}

double
ds_ks_asymp_p(double d, double n1, double n2)
{
	double		m = (n1 > n2) ? n1 : n2;
	double		n = (n1 > n2) ? n2 : n1;
	double		en = m * n / (m + n);

	return ds_clip01(ds_kstwo_sf(d, rint(en)));
}


/* ------------------------------------------------------------------------
 * kstwo.sf: the one-sample two-sided KS distribution
 *
 * scipy (stats/_ksstats.py, kolmogn) follows Simard & L'Ecuyer (2011,
 * "Computing the Two-Sided Kolmogorov-Smirnov Distribution", J. Stat.
 * Software 39(11)) in choosing a method from n and n*d^2.  Some branches are
 * exact (Durbin's matrix, Ruben-Gambino's closed forms), others are
 * approximations (twice the one-sided probability, Pelz-Good's expansion),
 * and an approximation is what the user of scipy gets there, so we take the
 * same branches on the same thresholds.
 * ------------------------------------------------------------------------
 */

/*
 * log(k!) - log(sqrt(2 pi k) (k/e)^k), the error of Stirling's formula,
 * for real k >= 10 from its asymptotic series (coefficients B_2j / (2j (2j-1))),
 * below that from lgamma, where all the magnitudes are small.
 */
static double
ds_stirling_error(double k)
{
	if (k >= 10.0)
	{
		double		r = 1.0 / k;
		double		r2 = r * r;

		return r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680
				+ r2 * (1.0 / 1188 + r2 * (-691.0 / 360360 + r2 * (1.0 / 156
				+ r2 * (-3617.0 / 122400))))))));
	}
	if (k == 0.0)
		return 0.0;
	return lgamma(k + 1.0) - (k + 0.5) * log(k) + k - 0.5 * log(2.0 * DS_PI);
}

/*
 * smirnov(n, x): P(D+_n >= x), the one-sided statistic, which scipy's cephes
 * computes exactly from the Smirnov / Birnbaum-Tingey sum
 *		P = x * sum_{v=0}^{floor(n(1-x))} C(n,v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v)
 * (the term with 1 - x - v/n = 0 dropped), with the same special cases
 * (x <= 1/n, x >= 1 - 1/n, an underflowing tail, and an approximation for
 * n > 10^6).  The terms are all positive: the difficulty is only in
 * evaluating each one when n is large, where C(n, v) and the powers are far
 * outside the range of a double and their logarithms are ~n.  Writing
 * s = x + v/n = (v/n)(1 + nx/v) and r = 1 - s = ((n-v)/n)(1 - nx/(n-v)),
 * a term is
 *		[C(n,v) (v/n)^v ((n-v)/n)^(n-v)] / s * (1 + nx/v)^v (1 - nx/(n-v))^(n-v)
 * where the bracket is a binomial probability at its own mean, whose
 * logarithm Loader's saddle-point form (Loader 2000, "Fast and accurate
 * computation of binomial probabilities") gives without cancellation:
 *		stirlerr(n) - stirlerr(v) - stirlerr(n-v) + log(n / (2 pi v (n-v))) / 2,
 * and the two powers have logarithms of size ~nx rather than ~n.  The
 * rounding error of a term is then about nx * DBL_EPSILON, not n *
 * DBL_EPSILON.  n * x is split into a double and its exact remainder, so
 * that floor(n x) and 1 - x - v/n are right even when n x is nearly whole.
 */
#define DS_SMIRNOV_MAX_N	1000000
#define DS_CEPHES_MINLOG	(-7.451332191019412076235E2)

static double
ds_smirnov_sf(int64_t n, double x)
{
	double		dn = (double) n;
	double		nx_hi,
				nx_lo,
				alpha,
				fl;
	int64_t		nxfl,
				last_v,
				v;
	double		log_stirl_n;
	DsSum		sum = {0.0, 0.0};
	double		prev_term = 0.0;
	int64_t		pending = 0;

	if (!(n > 0 && x >= 0.0 && x <= 1.0))
		return NAN;
	if (n == 1)
		return 1.0 - x;
	if (x == 0.0)
		return 1.0;
	if (x == 1.0)
		return 0.0;

	/* floor(n x) and its fractional part alpha, from n x held exactly */
	nx_hi = dn * x;
	nx_lo = fma(dn, x, -nx_hi);
	fl = floor(nx_hi);
	if (nx_hi == fl && nx_lo < 0.0)
		fl -= 1.0;
	alpha = (nx_hi - fl) + nx_lo;
	if (alpha >= 1.0)
	{
		fl += 1.0;
		alpha = 0.0;
	}
	nxfl = (int64_t) fl;

	/* x <= 1/n: P(D+ < x) = x (1 + x)^(n-1) */
	if (nxfl == 0 || (nxfl == 1 && alpha == 0.0))
		return ds_clip01(1.0 - x * exp((dn - 1.0) * log1p(x)));
	/* the tail underflows */
	if ((double) (-2 * n) * x * x < DS_CEPHES_MINLOG)
		return 0.0;
	/* x >= 1 - 1/n: only the first term, (1 - x)^n */
	if (nxfl >= n - 1)
		return ds_clip01(pow(1.0 - x, dn));
	/* scipy's approximation for large n: exp(-(6nx + 1)^2 / (18n)) */
	if (n > DS_SMIRNOV_MAX_N)
	{
		double		logp = -pow(6.0 * dn * x + 1.0, 2) / 18.0 / dn;

		if (logp < -DS_LN2)
			return ds_clip01(exp(logp));
		return ds_clip01(1.0 - (-expm1(logp)));
	}

	/*
	 * The last term with 1 - x - v/n > 0: v < n - nx, so v <= n - floor(nx) - 1
	 * whether or not nx is whole.
	 */
	last_v = n - nxfl - 1;

	log_stirl_n = ds_stirling_error(dn);

	/* v = 0: (1 - x)^n / x */
	ds_sum_add(&sum, exp(dn * log1p(-x) - log(x)));

	for (v = 1; v <= last_v; v++)
	{
		double		dv = (double) v;
		double		dnv = (double) (n - v);
		double		sn_hi,
					sn_err,
					sn,
					rn_hi,
					rn_err,
					rn,
					log_s,
					log_up,
					log_down,
					log_binom,
					term;

		/* n s = v + n x and n r = (n - v) - n x, each to within an ulp */
		sn_hi = dv + nx_hi;
		sn_err = (dv - (sn_hi - (sn_hi - dv))) + (nx_hi - (sn_hi - dv));
		sn = sn_hi + (sn_err + nx_lo);
		rn_hi = dnv - nx_hi;
		rn_err = (dnv - (rn_hi - (rn_hi - dnv))) + (-nx_hi - (rn_hi - dnv));
		rn = rn_hi + (rn_err - nx_lo);

		/* log s, with s = sn / n */
		log_s = (sn < 0.5 * dn) ? log(sn / dn) : log1p(-rn / dn);
		/* v log(1 + nx/v) */
		log_up = dv * log1p((nx_hi + nx_lo) / dv);
		/* (n - v) log(1 - nx/(n - v)) = (n - v) log(rn / (n - v)) */
		if (rn < 0.5 * dnv)
			log_down = dnv * log(rn / dnv);
		else
			log_down = dnv * log1p(-(nx_hi + nx_lo) / dnv);
		log_binom = log_stirl_n - ds_stirling_error(dv) - ds_stirling_error(dnv)
			+ 0.5 * log(dn / (2.0 * DS_PI * dv * dnv));

		term = exp(log_binom - log_s + log_up + log_down);
		ds_sum_add(&sum, term);

		/*
		 * Stop once the terms are falling (they rise to one peak, then fall)
		 * and all that remain cannot reach the last bit of the sum; this also
		 * stops at a tail that underflows to 0.
		 */
		if (term < prev_term &&
			4.0 * (double) (last_v - v) * term < DBL_EPSILON * ds_sum_value(&sum))
			break;
		prev_term = term;
		ds_count_steps(&pending, 64);
	}
	return ds_clip01(x * ds_sum_value(&sum));
}

/*
 * Durbin's matrix formula for P(D_n < d) in the form of Marsaglia, Tsang &
 * Wang (2003, "Evaluating Kolmogorov's Distribution", J. Stat. Software
 * 8(18)): with n d = k - h, k an integer and 0 <= h < 1, the probability is
 * n!/n^n times the (k, k) element of H^n, H the m x m matrix (m = 2k - 1)
 *		H[i][j] = 1/(i - j + 1)!  for i - j + 1 >= 0, else 0,
 * except its first column (1 - h^(i+1))/(i+1)!, its last row
 * (1 - h^(m-j))/(m-j)! and the corner (1 - 2h^m + max(0, 2h - 1)^m)/m!.
 * H is non-negative, so powers lose no accuracy to cancellation; they are
 * kept within range by carrying a power-of-two exponent.
 *
 * scipy uses this where n d^2 is small, and Pomeranz's recursion (also
 * exact) for n <= 140 with 0.754693 < n d^2 <= 4; we use the matrix for
 * both, where it is small (m <= 47).  The largest matrix comes from
 * n <= 100000 and n d^1.5 <= 1.4, so n d < 58.1 and m <= 117.  The matrices
 * are static because they are too big for comfort on the stack (this runs
 * in single-threaded server processes).
 */
#define DS_DMTW_MAX_M 117

static double ds_dmtw_h[DS_DMTW_MAX_M * DS_DMTW_MAX_M];
static double ds_dmtw_pow[DS_DMTW_MAX_M * DS_DMTW_MAX_M];
static double ds_dmtw_tmp[DS_DMTW_MAX_M * DS_DMTW_MAX_M];

/* c = a * b, m x m, row-major; c must not alias a or b */
static void
ds_matmul(const double *a, const double *b, double *c, int m)
{
	int			i,
				j,
				l;

	for (i = 0; i < m; i++)
	{
		double	   *ci = c + (size_t) i * m;

		for (j = 0; j < m; j++)
			ci[j] = 0.0;
		for (l = 0; l < m; l++)
		{
			double		ail = a[(size_t) i * m + l];
			const double *bl = b + (size_t) l * m;

			if (ail == 0.0)
				continue;
			for (j = 0; j < m; j++)
				ci[j] += ail * bl[j];
		}
	}
}

/* scale a matrix by a power of two so its largest element is below 1; return the exponent taken out */
static int
ds_rescale(double *a, int m)
{
	double		mx = 0.0;
	int			e,
				i;

	for (i = 0; i < m * m; i++)
		if (a[i] > mx)
			mx = a[i];
	if (mx == 0.0)
		return 0;
	(void) frexp(mx, &e);
	if (e == 0)
		return 0;
	for (i = 0; i < m * m; i++)
		a[i] = ldexp(a[i], -e);
	return e;
}

static double ds_pelz_good_cdf(int64_t n, double x);

static double
ds_durbin_cdf(int64_t n, double d)
{
	double		nd = (double) n * d;
	int			k,
				m,
				i,
				j;
	double		h,
				p,
				fact;
	double	   *H = ds_dmtw_h,
			   *P = ds_dmtw_pow,
			   *T = ds_dmtw_tmp;
	long		h_exp = 0,
				p_exp = 0;
	int64_t		e;
	int64_t		pending = 0;
	bool		have_p = false;
	double		v[DS_DMTW_MAX_M];

	if (d >= 1.0)
		return 1.0;
	if (nd <= 0.5)
		return 0.0;
	k = (int) ceil(nd);
	h = (double) k - nd;
	m = 2 * k - 1;
	if (m > DS_DMTW_MAX_M)
		return ds_pelz_good_cdf(n, d);	/* not reached with scipy's thresholds */

	/* v[i] = (1 - h^(i+1)) / (i+1)!, for the first column and the last row */
	fact = 1.0;
	for (i = 0; i < m; i++)
	{
		fact /= (double) (i + 1);
		v[i] = (1.0 - pow(h, i + 1)) * fact;
	}
	/* row i: 1/(i - j + 1)! from j = i + 1 (1/0!) down to j = 0, zeros right of that */
	for (i = 0; i < m; i++)
	{
		double		f = 1.0;

		for (j = i + 1; j < m; j++)
			H[(size_t) i * m + j] = (j == i + 1) ? 1.0 : 0.0;
		for (j = i; j >= 0; j--)
		{
			f /= (double) (i - j + 1);
			H[(size_t) i * m + j] = f;
		}
	}
	for (i = 0; i < m; i++)
	{
		H[(size_t) i * m] = v[i];
		H[(size_t) (m - 1) * m + i] = v[m - 1 - i];
	}
	H[(size_t) (m - 1) * m] = (1.0 - 2.0 * pow(h, m) + pow(fmax(0.0, 2.0 * h - 1.0), m)) * fact;

	/* P = H^n by squaring, each factor carrying its own exponent */
	e = n;
	while (e > 0)
	{
		if (e & 1)
		{
			if (!have_p)
			{
				memcpy(P, H, sizeof(double) * (size_t) m * m);
				p_exp = h_exp;
				have_p = true;
			}
			else
			{
				ds_matmul(P, H, T, m);
				memcpy(P, T, sizeof(double) * (size_t) m * m);
				p_exp += h_exp;
				p_exp += ds_rescale(P, m);
			}
		}
		e >>= 1;
		if (e > 0)
		{
			ds_matmul(H, H, T, m);
			memcpy(H, T, sizeof(double) * (size_t) m * m);
			h_exp *= 2;
			h_exp += ds_rescale(H, m);
		}
		ds_count_steps(&pending, (int64_t) m * m * m);
	}
	p = P[(size_t) (k - 1) * m + (k - 1)];

	/* times n!/n^n, one factor i/n at a time, keeping p in range */
	for (i = 1; i <= n; i++)
	{
		int			pe;

		p = p * ((double) i / (double) n);
		if (p < 0x1p-128)
		{
			p = frexp(p, &pe);
			p_exp += pe;
		}
	}
	p = ldexp(p, (int) (p_exp < -100000 ? -100000 : (p_exp > 100000 ? 100000 : p_exp)));
	return ds_clip01(p);
}

/*
 * Pelz & Good (1976)'s expansion of P(D_n <= x) for small z = x sqrt(n),
 * to terms in n^(-3/2), an approximation: scipy (_kolmogn_PelzGood) uses it
 * for n > 140 and n x^2 < 2.2 when n > 100000 or n x^1.5 > 1.4.  The
 * coefficients and the order of operations follow scipy's so that the
 * approximation is the same one.
 */
static double
ds_pelz_good_cdf(int64_t n, double x)
{
	const double pi2 = pow(DS_PI, 2);
	const double pi4 = pow(DS_PI, 4);
	const double pi6 = pow(DS_PI, 6);
	const double sqrt2pi = sqrt(2.0 * DS_PI);
	double		z,
				z2,
				z3,
				z4,
				z6,
				qlog,
				q,
				k1a,
				k1b,
				k2a,
				k2b,
				k2c,
				k3a,
				k3b,
				k3c,
				k3d,
				s0 = 0.0,
				s1 = 0.0,
				s2 = 0.0,
				s3 = 0.0,
				q2,
				sqrt3z,
				extra2 = 0.0,
				extra3 = 0.0,
				dn = (double) n;
	int			maxk,
				kk;

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	z = sqrt(dn) * x;
	z2 = pow(z, 2);
	z3 = pow(z, 3);
	z4 = pow(z, 4);
	z6 = pow(z, 6);
	qlog = -pi2 / 8 / z2;
	if (qlog < -708)
		return 0.0;
	q = exp(qlog);

	k1a = -z2;
	k1b = pi2 / 4;
	k2a = 6 * z6 + 2 * z4;
	k2b = (2 * z4 - 5 * z2) * pi2 / 4;
	k2c = pi4 * (1 - 2 * z2) / 16;
	k3d = pi6 * (5 - 30 * z2) / 64;
	k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
	k3b = pi2 * (135 * z4 - 96 * z6) / 4;
	k3a = -30 * z6 - 90 * pow(z, 8);

	/* sums over odd m = 2k - 1 of c(m) q^(m^2), Horner in q^(8k) */
	maxk = (int) ceil(16 * z / DS_PI);
	for (kk = maxk; kk >= 1; kk--)
	{
		double		mm = (double) (2 * kk - 1);
		double		msq = mm * mm,
					m4 = msq * msq,
					m6 = m4 * msq;
		double		qp = pow(q, 8 * kk);

		s0 = s0 * qp + 1.0;
		s1 = s1 * qp + (k1a + k1b * msq);
		s2 = s2 * qp + (k2a + k2b * msq + k2c * m4);
		s3 = s3 * qp + (k3a + k3b * msq + k3c * m4 + k3d * m6);
	}
	s0 = s0 * q * sqrt2pi / z;
	s1 = s1 * q * sqrt2pi / (6 * z4);
	s2 = s2 * q * sqrt2pi / (72 * pow(z, 7));
	s3 = s3 * q * sqrt2pi / (6480 * pow(z, 10));

	/* the terms over all integers k */
	q2 = exp(-pi2 / 2 / z2);
	sqrt3z = sqrt(3.0) * z;
	for (kk = maxk; kk >= 1; kk--)
	{
		double		dk = (double) kk;
		double		ksq = dk * dk;
		double		kpi = DS_PI * dk;
		double		qp = pow(q2, ksq);

		extra2 += ksq * qp;
		extra3 += (sqrt3z + kpi) * (sqrt3z - kpi) * ksq * qp;
	}
	s2 += extra2 * (pi2 * sqrt2pi / (-36 * z3));
	s3 += extra3 * (pi2 * sqrt2pi / (216 * z6));

	s1 /= pow(dn, 0.5);
	s2 /= pow(dn, 1.0);
	s3 /= pow(dn, 1.5);
	return s0 + s1 + s2 + s3;
}

/* log(n!/n^n) by Stirling's series, as scipy's _log_nfactorial_div_n_pow_n */
static double
ds_log_nfact_over_npown(double n)
{
	double		rn = 1.0 / n;
	double		r = rn / n;
	double		poly;

	poly = -3617.0 / 122400;
	poly = poly * r + 1.0 / 156;
	poly = poly * r - 691.0 / 360360;
	poly = poly * r + 1.0 / 1188;
	poly = poly * r - 1.0 / 1680;
	poly = poly * r + 1.0 / 1260;
	poly = poly * r - 1.0 / 360;
	poly = poly * r + 1.0 / 12;
	return log(n) / 2 - n + log(2 * DS_PI) / 2 + rn * poly;
}

/* kolmogn(n, x, cdf=False) for 0.5/n < x < 1, with scipy's dispatch */
static double
ds_kolmogn_sf(int64_t n, double x)
{
	double		dn = (double) n;
	double		t = dn * x;
	double		nxsq;

	if (t <= 1.0)
	{
		/* Ruben & Gambino: P(D_n <= x) = n!/n^n (2t - 1)^n for 1/2n <= x <= 1/n */
		double		prob;

		if (t <= 0.5)
			return 1.0;
		if (n <= 140)
		{
			int64_t		i;

			prob = 1.0;
			for (i = 1; i <= n; i++)
				prob *= ((double) i * (1.0 / dn)) * (2 * t - 1);
		}
		else
			prob = exp(ds_log_nfact_over_npown(dn) + dn * log(2 * t - 1));
		return ds_clip01(1.0 - prob);
	}
	if (t >= dn - 1)
		return ds_clip01(2 * pow(1.0 - x, dn));	/* Ruben & Gambino */
	if (x >= 0.5)
		return ds_clip01(2 * ds_smirnov_sf(n, x));	/* exact there */

	nxsq = t * x;
	if (n <= 140)
	{
		if (nxsq <= 0.754693)
			return ds_clip01(1.0 - ds_durbin_cdf(n, x));
		if (nxsq <= 4)
			return ds_clip01(1.0 - ds_durbin_cdf(n, x));	/* scipy: Pomeranz */
		return ds_clip01(2 * ds_smirnov_sf(n, x));	/* Miller's approximation */
	}
	if (nxsq >= 370.0)
		return 0.0;
	if (nxsq >= 2.2)
		return ds_clip01(2 * ds_smirnov_sf(n, x));
	if (n <= 100000 && dn * pow(x, 1.5) <= 1.4)
		return ds_clip01(1.0 - ds_durbin_cdf(n, x));
	return ds_clip01(1.0 - ds_pelz_good_cdf(n, x));
}

double
ds_kstwo_sf(double d, double n)
{
	if (isnan(d) || isnan(n))
		return NAN;
	/* kstwo's argcheck, and n small enough to count in an int64 */
	if (!(n >= 1.0) || n != rint(n) || n > 9.0e15)
		return NAN;
	/* rv_continuous.sf: 1 at or below the support's lower end 0.5/n, 0 from its upper end 1 on */
	if (d <= 0.5 / n)
		return 1.0;
	if (d >= 1.0)
		return 0.0;
	return ds_kolmogn_sf((int64_t) n, d);
}


/* ------------------------------------------------------------------------
 * Chi-square
 * ------------------------------------------------------------------------
 */

/* log(1 + d) - d, accurate also for small d (series there) */
static double
ds_log1pmx(double d)
{
	if (fabs(d) < 0.25)
	{
		/* -d^2/2 + d^3/3 - d^4/4 ...: |d|^k / k < 1e-17 well before k = 40 */
		double		term = d * d;
		double		sum = 0.0;
		int			k;

		for (k = 2; k < 60; k++)
		{
			double		add = ((k & 1) ? term : -term) / (double) k;

			sum += add;
			if (fabs(add) <= 1e-17 * fabs(sum))
				break;
			term *= d;
		}
		return sum;
	}
	return log1p(d) - d;
}

/*
 * log(x^a e^(-x) / Gamma(a + 1)), the factor in front of both the series
 * and the continued fraction.  For large a, a log x, x and log Gamma(a + 1)
 * are each far larger than their combination; written as
 *		a (log1p(d) - d) - log(2 pi a)/2 - stirlerr(a),	d = (x - a)/a
 * nothing large cancels (Temme's way of writing the same factor).
 */
static double
ds_log_gamma_prefactor(double a, double x)
{
	if (a < 10.0)
		return a * log(x) - x - lgamma(a + 1.0);
	return a * ds_log1pmx((x - a) / a) - 0.5 * log(2.0 * DS_PI * a) - ds_stirling_error(a);
}

/*
 * Q(a, x), the regularized upper incomplete gamma function: Numerical
 * Recipes' pair (Press et al., "Numerical Recipes", 3rd ed., 6.2): the
 * series for P(a, x) = x^a e^-x / Gamma(a+1) * sum_k x^k / ((a+1)...(a+k))
 * below x = a + 1, and Legendre's continued fraction for Q evaluated by
 * modified Lentz above, where Q is small and must keep its relative
 * accuracy.  Both converge in O(sqrt(a)) steps near x = a.
 */
static double
ds_gamma_q(double a, double x)
{
	double		lf = ds_log_gamma_prefactor(a, x);
	double		s;

	if (x < a + 1.0)
	{
		double		term = 1.0;
		double		ap = a;
		int			i;

		s = 1.0;
		for (i = 0; i < 1000000; i++)
		{
			ap += 1.0;
			term *= x / ap;
			s += term;
			if (term < s * (DBL_EPSILON / 4))
				break;
		}
		return ds_clip01(1.0 - exp(lf) * s);
	}
	else
	{
		const double tiny = 1e-300;
		double		b = x + 1.0 - a;
		double		c = 1.0 / tiny;
		double		dd = 1.0 / b;
		double		f = dd;
		int			i;

		for (i = 1; i < 1000000; i++)
		{
			double		an = -(double) i * ((double) i - a);
			double		delta;

			b += 2.0;
			dd = an * dd + b;
			if (fabs(dd) < tiny)
				dd = tiny;
			c = b + an / c;
			if (fabs(c) < tiny)
				c = tiny;
			dd = 1.0 / dd;
			delta = dd * c;
			f *= delta;
			if (fabs(delta - 1.0) < DBL_EPSILON / 2)
				break;
		}
		/* Q = x^a e^-x / Gamma(a) * f; keep the denormal range when it underflows */
		if (lf < -700.0)
			return exp(lf + log(a * f));
		return ds_clip01(exp(lf) * (a * f));
	}
}

double
ds_chi2_sf(double x, double df)
{
	if (isnan(x) || isnan(df))
		return NAN;
	if (!(df > 0.0) || isinf(df))
		return NAN;
	if (x <= 0.0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	return ds_gamma_q(df / 2.0, x / 2.0);
}

void
ds_chisquare(const double *observed, const double *expected, int k,
			 double *statistic, double *p_value)
{
	DsSum		s = {0.0, 0.0};
	bool		infinite = false;
	int			i;
	double		stat;

	for (i = 0; i < k; i++)
	{
		double		o = observed[i];
		double		e = expected[i];
		double		diff = o - e;
		double		term;

		if (e == 0.0 && o == 0.0)
			continue;
		term = diff * diff / e;
		if (isinf(term))
			infinite = true;
		ds_sum_add(&s, term);
	}
	stat = infinite ? INFINITY : ds_sum_value(&s);
	*statistic = stat;
	*p_value = ds_chi2_sf(stat, (double) (k - 1));
}


/* ------------------------------------------------------------------------
 * Wasserstein-1, quantiles, bins, PSI, Jensen-Shannon
 * ------------------------------------------------------------------------
 */

/*
 * scipy's _cdf_distance with p = 1: sum over consecutive pooled values w <
 * w' of |F1(w) - F2(w)| (w' - w), the CDFs counting values <= w.  Equal
 * pooled values contribute |F1 - F2| * 0, which is NaN for an infinite
 * value, as in scipy.
 */
double
ds_wasserstein_sorted(const double *a, int64_t n1, const double *b, int64_t n2)
{
	double		ks,
				w;

	/* the merge that computes both (below): the KS statistic costs little beside */
	ds_ks_wasserstein_sorted(a, n1, b, n2, &ks, &w);
	return w;
}

/*
 * The KS statistic and the Wasserstein-1 distance in one merge of the two
 * sorted samples (ds_ks_statistic_sorted() and ds_wasserstein_sorted() take
 * theirs from it, so a drift report over large samples walks them once).
 */
void
ds_ks_wasserstein_sorted(const double *a, int64_t n1, const double *b, int64_t n2,
						 double *ks_statistic, double *wasserstein)
{
	int64_t		i = 0,
				j = 0,
				gi = 0,
				gj = 0;
	int64_t		pending = 0;
	double		dn1 = (double) n1,
				dn2 = (double) n2;
	double		max_diff = -INFINITY;
	double		min_diff = INFINITY;
	double		min_s;
	double		plain = 0.0;
	DsSum		s = {0.0, 0.0};
	double		va = n1 > 0 ? a[0] : INFINITY;
	double		vb = n2 > 0 ? b[0] : INFINITY;

	/*
	 * One pooled value per step, the smaller head taken without a branch
	 * (which side comes next is a coin toss on real data, and a mispredicted
	 * branch per value was most of the merge's time).  A group of equal
	 * values ends when the next head is larger: then, as in scipy, the CDFs
	 * count every value <= v.
	 */
	while (i < n1 || j < n2)
	{
		/* an exhausted side's head reads +Inf, but is never taken */
		int			take_a = (i < n1) & ((j >= n2) | (va <= vb));
		double		v = take_a ? va : vb;
		double		next;

		i += take_a;
		j += 1 - take_a;
		va = i < n1 ? a[i] : INFINITY;
		vb = j < n2 ? b[j] : INFINITY;
		next = va <= vb ? va : vb;
		if (next > v || (i == n1 && j == n2))
		{
			double		diff = (double) i / dn1 - (double) j / dn2;
			double		cd = fabs(diff);
			double		term;

			if (diff > max_diff)
				max_diff = diff;
			if (diff < min_diff)
				min_diff = diff;
			if ((i - gi) + (j - gj) > 1)
			{
				term = cd * (v - v);	/* 0, or NaN for an infinite v */
				plain += term;
				ds_sum_add(&s, term);
			}
			if (i < n1 || j < n2)
			{
				term = cd * (next - v);
				plain += term;
				ds_sum_add(&s, term);
			}
			ds_count_steps(&pending, (i - gi) + (j - gj));
			gi = i;
			gj = j;
		}
	}
	min_s = ds_clip01(-min_diff);
	*ks_statistic = (min_s > max_diff) ? min_s : max_diff;
	*wasserstein = isfinite(plain) ? ds_sum_value(&s) : plain;
}

/*
 * numpy's _lerp: a + (b - a) t, or b - (b - a)(1 - t) when t >= 0.5, which
 * is exact at both ends.  The products go through a volatile so that a
 * compiler contracting to fma cannot change the rounding numpy has.
 */
static double
ds_lerp(double a, double b, double t)
{
	double		diff = b - a;
	volatile double prod;

	if (t >= 0.5)
	{
		prod = diff * (1.0 - t);
		return b - prod;
	}
	prod = diff * t;
	return a + prod;
}

double
ds_quantile_sorted(const double *x, int64_t n, double q)
{
	volatile double vi = (double) (n - 1) * q;	/* numpy: (n - 1) * quantiles */
	double		prev_index;
	int64_t		prev,
				next;

	if (vi >= (double) (n - 1))
	{
		/* numpy takes the last value, and its gamma is vi - (-1) */
		prev = next = n - 1;
		prev_index = -1.0;
	}
	else if (vi < 0.0)
	{
		prev = next = 0;
		prev_index = 0.0;
	}
	else
	{
		prev_index = floor(vi);
		prev = (int64_t) prev_index;
		next = prev + 1;
	}
	return ds_lerp(x[prev], x[next], vi - prev_index);
}

void
ds_bin_edges(const double *x, int64_t n, int bins, double *edges)
{
	int			i;

	for (i = 1; i < bins; i++)
		edges[i - 1] = ds_quantile_sorted(x, n, (double) i / (double) bins);
}

int
ds_bin_of(double x, const double *edges, int nedges)
{
	/* the number of edges <= x: searchsorted(edges, x, side='right') */
	int			lo = 0,
				hi = nedges;

	if (nedges <= 32)
	{
		/* few edges (10 bins by default): count them, without branches */
		int			c = 0;

		for (int i = 0; i < nedges; i++)
			c += edges[i] <= x;
		return c;
	}

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (edges[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

double
ds_psi_counts(const double *ref_counts, const double *cur_counts, int k)
{
	DsSum		sr = {0.0, 0.0},
				sc = {0.0, 0.0},
				psi = {0.0, 0.0};
	double		tr,
				tc;
	int			i;

	for (i = 0; i < k; i++)
	{
		ds_sum_add(&sr, ref_counts[i]);
		ds_sum_add(&sc, cur_counts[i]);
	}
	tr = ds_sum_value(&sr);
	tc = ds_sum_value(&sc);
	for (i = 0; i < k; i++)
	{
		double		p = ref_counts[i] / tr;
		double		q = cur_counts[i] / tc;

		if (p == 0.0)
			p = 1e-4;
		if (q == 0.0)
			q = 1e-4;
		ds_sum_add(&psi, (q - p) * log(q / p));
	}
	return ds_sum_value(&psi);
}

/* scipy.special.rel_entr(x, y) */
static double
ds_rel_entr(double x, double y)
{
	if (isnan(x) || isnan(y))
		return NAN;
	if (x > 0.0 && y > 0.0)
		return x * log(x / y);
	if (x == 0.0 && y >= 0.0)
		return 0.0;
	return INFINITY;
}

double
ds_js_distance_counts(const double *p_counts, const double *q_counts, int k)
{
	DsSum		sp = {0.0, 0.0},
				sq = {0.0, 0.0},
				left = {0.0, 0.0},
				right = {0.0, 0.0};
	double		tp,
				tq;
	int			i;

	for (i = 0; i < k; i++)
	{
		ds_sum_add(&sp, p_counts[i]);
		ds_sum_add(&sq, q_counts[i]);
	}
	tp = ds_sum_value(&sp);
	tq = ds_sum_value(&sq);
	for (i = 0; i < k; i++)
	{
		double		p = p_counts[i] / tp;
		double		q = q_counts[i] / tq;
		double		m = (p + q) / 2.0;

		ds_sum_add(&left, ds_rel_entr(p, m));
		ds_sum_add(&right, ds_rel_entr(q, m));
	}
	return sqrt((ds_sum_value(&left) + ds_sum_value(&right)) / 2.0);
}
