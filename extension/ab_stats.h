/*
 * ab_stats.h
 *	  The numerical core of A/B test statistics: the normal and Student t
 *	  distributions (and the noncentral t for power), the two-proportion
 *	  z-test, Welch's t-test, the delta method for relative lift, GrowthBook's
 *	  always-valid (sequential) intervals, sample sizes as R's power.prop.test
 *	  and power.t.test compute them, and the probability that each arm of a
 *	  bandit is best.  Plain C with no PostgreSQL dependency, so that
 *	  tests/ab_stats can check it against scipy on its own; ab.c is the SQL face.
 *
 *	  Nothing here allocates or raises: invalid arguments give NaN results.
 */
#ifndef AB_STATS_H
#define AB_STATS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Called every so often in the long loops (the noncentral t's series, root
 * finding, the bandit's quadrature), so that the server can cancel a query
 * (statement_timeout); NULL outside the server.
 */
extern void (*as_interrupt_hook) (void);

/* The standard normal: scipy.stats.norm.cdf / sf / ppf (ppf(0) = -inf, ppf(1) = +inf, NaN outside [0, 1]). */
extern double as_norm_cdf(double x);
extern double as_norm_sf(double x);
extern double as_norm_ppf(double p);

/* The regularized incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1 (scipy.special.betainc). */
extern double as_betainc(double a, double b, double x);

/*
 * Student's t with df > 0 degrees of freedom, not necessarily an integer:
 * scipy.stats.t.cdf / sf / ppf.  df = +inf is the standard normal.
 */
extern double as_t_cdf(double t, double df);
extern double as_t_sf(double t, double df);
extern double as_t_ppf(double p, double df);

/* The noncentral t's cdf, scipy.stats.nct.cdf(t, df, nc), for power.t.test. */
extern double as_nct_cdf(double t, double df, double nc);

/* One arm's summary: units, mean of the per-unit values, sample variance (ddof 1). */
typedef struct AsArm
{
	double		n;
	double		mean;
	double		var;
} AsArm;

/* A treatment arm against control. */
typedef struct AsComparison
{
	double		diff;			/* treatment mean - control mean */
	double		diff_lo;		/* its two-sided (1 - alpha) interval */
	double		diff_hi;
	double		rel;			/* treatment mean / control mean - 1 */
	double		rel_lo;			/* its interval by the delta method */
	double		rel_hi;
	double		statistic;		/* z or t */
	double		df;				/* Welch-Satterthwaite degrees of freedom; +inf for z */
	double		p_value;		/* two-sided */
} AsComparison;

/*
 * Two-proportion z-test of x_t successes in n_t against x_c in n_c:
 * statistic (p_t - p_c) / sqrt(p (1 - p) (1/n_t + 1/n_c)) with the pooled p,
 * as statsmodels' proportions_ztest and the textbooks compute it; two-sided
 * p-value from the normal.  The interval of the difference is Wald's,
 * unpooled: diff +/- z(1 - alpha/2) sqrt(p_t q_t / n_t + p_c q_c / n_c).
 * The relative lift's interval is the delta method's with the variances
 * p q (see as_relative_lift).
 */
extern void as_prop_ztest(double x_c, double n_c, double x_t, double n_t, double alpha,
						  AsComparison *out);

/*
 * Welch's t-test of two arms from their summaries, as
 * scipy.stats.ttest_ind(t, c, equal_var=False): statistic, Welch-Satterthwaite
 * df and two-sided p-value; the difference's interval with the t quantile at
 * that df; the relative lift's by the delta method with the same quantile.
 */
extern void as_welch_ttest(const AsArm *control, const AsArm *treatment, double alpha,
						   AsComparison *out);

/*
 * Relative lift m_t / m_c - 1 and its variance by the delta method
 * (GrowthBook's frequentist engine): var = v_t / (n_t m_c^2) + v_c m_t^2 / (n_c m_c^4).
 */
extern double as_relative_lift_var(const AsArm *control, const AsArm *treatment);

/*
 * GrowthBook's always-valid confidence sequence (Waudby-Smith et al. 2023,
 * eq. 9 with the rho of eq. 161): the half-width for per-observation
 * variance s2 (= SE^2 (n_t + n_c) for a two-sample estimate), n = n_t + n_c,
 * tuning parameter N (GrowthBook's default 5000), level alpha.
 */
extern double as_sequential_rho(double alpha, double tuning);
extern double as_sequential_halfwidth(double s2, double n, double tuning, double alpha);

/*
 * The same comparison with always-valid intervals: diff_lo/hi and
 * rel_lo/hi replaced by the confidence sequence's (rel by the delta
 * method's standard error), and p_value the always-valid p-value, the
 * smallest alpha whose sequence excludes 0 for the difference (found by
 * bisection to 1e-12 relative; 1 when none does).
 */
extern void as_sequential(const AsArm *control, const AsArm *treatment, double tuning,
						  double alpha, AsComparison *out);

/*
 * Sample sizes per group, two-sided, as R's stats package computes them with
 * strict = FALSE, but the exact root rather than uniroot's approximation:
 *	 power.prop.test(p1 =, p2 =, sig.level =, power =)$n
 *	 power.prop.test(n =, p1 =, p2 =, sig.level =)$power
 *	 power.t.test(delta =, sd =, sig.level =, power =)$n  (two-sample, noncentral t)
 *	 power.t.test(n =, delta =, sd =, sig.level =)$power
 */
extern double as_power_prop_n(double p1, double p2, double alpha, double power);
extern double as_power_prop_power(double n, double p1, double p2, double alpha);
extern double as_power_t_n(double delta, double sd, double alpha, double power);
extern double as_power_t_power(double n, double delta, double sd, double alpha);

/*
 * Thompson sampling for a bandit, GrowthBook's Gaussian formulation: each
 * arm's posterior is normal from a Gaussian prior (prior_mean,
 * prior_variance; GrowthBook uses 0 and 1e4) and the arm's mean with
 * variance var / n (var floored at 1e-9, GrowthBook's minimum, so that an
 * arm whose values are all equal is not taken for one without data);
 * best[k] is the probability that arm k's draw is the largest, by
 * numerical integration of phi_k(x) prod_{j != k} Phi_j(x)
 * (deterministic, to 1e-9).  weights are best floored at min_weight
 * (GrowthBook: 0.01) and renormalised to sum 1.  Returns false, leaving the
 * outputs untouched, when an arm has fewer than min_units units
 * (GrowthBook: 100) or k < 2.
 */
extern bool as_bandit_weights(const AsArm *arms, int k, double prior_mean, double prior_variance,
							  double min_weight, double min_units, double *best, double *weights);

#endif							/* AB_STATS_H */
