/*
 * drift_stats.h
 *	  The numerical core of drift statistics: two-sample Kolmogorov-Smirnov
 *	  (statistic, exact and asymptotic p-values), chi-square goodness of fit
 *	  and its survival function, Wasserstein-1, quantile bin edges, PSI and
 *	  Jensen-Shannon distance.  Plain C with no PostgreSQL dependency, so that
 *	  tests/drift_stats can check it against scipy on its own; drift.c is the
 *	  SQL face.  Semantics follow scipy 1.10 / numpy 1.24 (noted per function).
 *
 *	  Inputs are NaN-free: callers drop NaN (and NULL) first and count them.
 *	  Nothing here allocates: callers pass workspaces of the documented size.
 */
#ifndef DRIFT_STATS_H
#define DRIFT_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Called every few million steps of the long loops (exact KS is O(n1 * n2)),
 * so that the server can cancel a query; NULL outside the server.
 */
extern void (*ds_interrupt_hook) (void);

/* Sort ascending (radix sort on the IEEE bits; -0.0 becomes 0.0).  scratch holds n doubles. */
extern void ds_sort(double *x, size_t n, double *scratch);

/* ks_2samp's methods */
#define DS_KS_AUTO	0
#define DS_KS_EXACT 1
#define DS_KS_ASYMP 2

typedef struct DsKsResult
{
	double		statistic;		/* D, rounded to h/lcm(n1,n2) when exact, as scipy does */
	double		p_value;
	int			method;			/* DS_KS_EXACT or DS_KS_ASYMP: the one used */
} DsKsResult;

/*
 * Two-sided two-sample KS, as scipy.stats.ks_2samp(a, b, method=...) with
 * alternative='two-sided': a and b sorted ascending, n1, n2 >= 1.  'auto'
 * is exact when max(n1, n2) <= 10000; exact falls back to asymp when
 * lcm(n1, n2) is too large or the exact computation fails, as scipy does.
 * work holds ds_ks_work_size(n1, n2) doubles.
 */
extern size_t ds_ks_work_size(int64_t n1, int64_t n2);
extern void ds_ks_2samp_sorted(const double *a, int64_t n1, const double *b, int64_t n2, int method,
							   double *work, DsKsResult *result);
/* The statistic alone: max |F1 - F2| over the pooled values, computed as scipy does (i/n1 - j/n2). */
extern double ds_ks_statistic_sorted(const double *a, int64_t n1, const double *b, int64_t n2);
/*
 * scipy.stats.kstwo.sf(d, n): the one-sample two-sided KS survival function
 * (Simard & L'Ecuyer, as scipy dispatches).  Not reentrant: Durbin's
 * matrices are static (a backend is single-threaded).
 */
extern double ds_kstwo_sf(double d, double n);
/*
 * The asymptotic two-sided p-value ks_2samp gives for statistic d and
 * sizes n1, n2: kstwo.sf(d, round(n1 * n2 / (n1 + n2))).
 */
extern double ds_ks_asymp_p(double d, double n1, double n2);

/* scipy.stats.chi2.sf(x, df) (the regularized upper incomplete gamma Q(df/2, x/2)) */
extern double ds_chi2_sf(double x, double df);

/*
 * scipy.stats.chisquare(observed, expected): statistic sum((o - e)^2 / e)
 * and p-value chi2.sf(statistic, k - 1).  A category with expected 0 and
 * observed > 0 makes the statistic +Inf and the p-value 0 (scipy's result);
 * expected 0 with observed 0 contributes nothing.  k >= 1.
 */
extern void ds_chisquare(const double *observed, const double *expected, int k,
						 double *statistic, double *p_value);

/*
 * scipy.stats.wasserstein_distance(a, b) for a, b sorted ascending:
 * the integral of |F1 - F2| between the pooled values (compensated sum).
 */
extern double ds_wasserstein_sorted(const double *a, int64_t n1, const double *b, int64_t n2);

/* Both of the above in one merge, bit for bit the same values. */
extern void ds_ks_wasserstein_sorted(const double *a, int64_t n1, const double *b, int64_t n2,
									 double *ks_statistic, double *wasserstein);

/* numpy.quantile(x, q) with the default 'linear' method, x sorted ascending, n >= 1 */
extern double ds_quantile_sorted(const double *x, int64_t n, double q);

/*
 * PSI bin edges: numpy.quantile(x, np.arange(1, bins) / bins), bins - 1
 * edges (equal edges kept), x sorted ascending.  bins >= 2.
 */
extern void ds_bin_edges(const double *x, int64_t n, int bins, double *edges);

/*
 * The bin of x: numpy.digitize(x, edges), right=False, the number of edges
 * <= x: 0 .. nedges.  Outer bins are open; a value equal to an edge goes to
 * the bin above it.  edges ascending.
 */
extern int	ds_bin_of(double x, const double *edges, int nedges);

/*
 * Population Stability Index from counts: proportions p = ref/sum(ref),
 * q = cur/sum(cur); an empty bin's proportion (either side) is replaced by
 * 1e-4 without renormalising, as Evidently does; PSI = sum((q - p) * ln(q / p)).
 */
extern double ds_psi_counts(const double *ref_counts, const double *cur_counts, int k);

/*
 * scipy.spatial.distance.jensenshannon(p, q) with the natural log, from
 * counts (each side normalised to sum 1; empty bins stay 0).
 */
extern double ds_js_distance_counts(const double *p_counts, const double *q_counts, int k);

/*
 * Sum with compensation (Neumaier), for means and the like.
 */
typedef struct DsSum
{
	double		sum;
	double		c;
} DsSum;

static inline void
ds_sum_add(DsSum *s, double x)
{
	double		t = s->sum + x;

	if ((s->sum >= 0 ? s->sum : -s->sum) >= (x >= 0 ? x : -x))
		s->c += (s->sum - t) + x;
	else
		s->c += (x - t) + s->sum;
	s->sum = t;
}

static inline double
ds_sum_value(const DsSum *s)
{
	return s->sum + s->c;
}

#endif							/* DRIFT_STATS_H */
