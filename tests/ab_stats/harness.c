/*
 * harness.c
 *	  Drives extension/ab_stats.c from stdin for tests/ab_stats/check.py.
 *	  Input is a stream of whitespace-separated commands, each a name and its
 *	  numbers (inf and nan allowed); every command prints one line, numbers
 *	  with %.17g so that they read back exactly:
 *
 *		ncdf X / nsf X / nppf P			as_norm_cdf / sf / ppf
 *		betainc A B X					as_betainc
 *		tcdf T DF / tsf T DF / tppf P DF	as_t_cdf / sf / ppf
 *		nct T DF NC						as_nct_cdf
 *		prop XC NC XT NT ALPHA			as_prop_ztest: the nine fields of AsComparison
 *		welch NC MC VC NT MT VT ALPHA	as_welch_ttest: the same nine
 *		seq NC MC VC NT MT VT N ALPHA	as_sequential: the same nine
 *		rlv NC MC VC NT MT VT			as_relative_lift_var
 *		rho ALPHA N						as_sequential_rho
 *		hw S2 N TUNING ALPHA			as_sequential_halfwidth
 *		ppn P1 P2 ALPHA POWER			as_power_prop_n
 *		ppp N P1 P2 ALPHA				as_power_prop_power
 *		ptn DELTA SD ALPHA POWER		as_power_t_n
 *		ptp N DELTA SD ALPHA			as_power_t_power
 *		bandit K PM PV MINW MINU (N M V)...	0 (untouched) or 1, then best[K], weights[K]
 *		bench							timings of the slower functions
 *
 *	  Build: cc -O2 -I extension tests/ab_stats/harness.c extension/ab_stats.c -lm
 */
#include "ab_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
die(const char *msg)
{
	fprintf(stderr, "harness: %s\n", msg);
	exit(2);
}

static double
read_double(void)
{
	double		v;

	if (scanf("%lf", &v) != 1)
		die("expected a number");
	return v;
}

static void
read_arm(AsArm *arm)
{
	arm->n = read_double();
	arm->mean = read_double();
	arm->var = read_double();
}

static void
print_comparison(const AsComparison *c)
{
	printf("%.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n",
		   c->diff, c->diff_lo, c->diff_hi, c->rel, c->rel_lo, c->rel_hi,
		   c->statistic, c->df, c->p_value);
}

/* CPU time of this process */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static volatile double sink;

static void
bench(void)
{
	double		t0;
	int			i;
	AsArm		arms[10];
	double		best[10],
				weights[10];

	t0 = now_ms();
	for (i = 0; i < 10000; i++)
		sink = as_t_ppf(0.025, 1.5 + i * 0.37);
	printf("as_t_ppf: %.2f us per call (df 1.5 .. 3700)\n", (now_ms() - t0) * 1e3 / 10000);
	t0 = now_ms();
	for (i = 0; i < 10000; i++)
		sink = as_t_cdf(-2.0 - i * 1e-4, 1e6 + i);
	printf("as_t_cdf: %.2f us per call (df 1e6)\n", (now_ms() - t0) * 1e3 / 10000);
	t0 = now_ms();
	for (i = 0; i < 1000; i++)
		sink = as_nct_cdf(2.0, 50.0 + i, 3.0 + i * 0.01);
	printf("as_nct_cdf: %.2f us per call (df 50 .. 1050, nc 3 .. 13)\n", (now_ms() - t0) * 1e3 / 1000);
	t0 = now_ms();
	for (i = 0; i < 100; i++)
		sink = as_power_t_n(0.1 + i * 0.001, 1.0, 0.05, 0.8);
	printf("as_power_t_n: %.1f us per call (n ~ 1600 .. 400)\n", (now_ms() - t0) * 1e3 / 100);
	for (i = 0; i < 10; i++)
	{
		arms[i].n = 1000 + 37 * i;
		arms[i].mean = 0.1 + 0.002 * i;
		arms[i].var = 0.09;
	}
	t0 = now_ms();
	for (i = 0; i < 10; i++)
		sink = as_bandit_weights(arms, 10, 0.0, 1e4, 0.01, 100, best, weights);
	printf("as_bandit_weights: %.1f us per call (10 arms)\n", (now_ms() - t0) * 1e3 / 10);
}

int
main(void)
{
	char		cmd[32];

	while (scanf("%31s", cmd) == 1)
	{
		if (strcmp(cmd, "ncdf") == 0)
			printf("%.17g\n", as_norm_cdf(read_double()));
		else if (strcmp(cmd, "nsf") == 0)
			printf("%.17g\n", as_norm_sf(read_double()));
		else if (strcmp(cmd, "nppf") == 0)
			printf("%.17g\n", as_norm_ppf(read_double()));
		else if (strcmp(cmd, "betainc") == 0)
		{
			double		a = read_double(),
						b = read_double(),
						x = read_double();

			printf("%.17g\n", as_betainc(a, b, x));
		}
		else if (strcmp(cmd, "tcdf") == 0 || strcmp(cmd, "tsf") == 0 || strcmp(cmd, "tppf") == 0)
		{
			double		v = read_double(),
						df = read_double();

			printf("%.17g\n", cmd[1] == 'c' ? as_t_cdf(v, df) :
				   cmd[1] == 's' ? as_t_sf(v, df) : as_t_ppf(v, df));
		}
		else if (strcmp(cmd, "nct") == 0)
		{
			double		t = read_double(),
						df = read_double(),
						nc = read_double();

			printf("%.17g\n", as_nct_cdf(t, df, nc));
		}
		else if (strcmp(cmd, "prop") == 0)
		{
			double		xc = read_double(),
						nc = read_double(),
						xt = read_double(),
						nt = read_double(),
						alpha = read_double();
			AsComparison out;

			as_prop_ztest(xc, nc, xt, nt, alpha, &out);
			print_comparison(&out);
		}
		else if (strcmp(cmd, "welch") == 0 || strcmp(cmd, "seq") == 0)
		{
			AsArm		c,
						t;
			double		tuning = 0.0,
						alpha;
			AsComparison out;

			read_arm(&c);
			read_arm(&t);
			if (cmd[0] == 's')
				tuning = read_double();
			alpha = read_double();
			if (cmd[0] == 's')
				as_sequential(&c, &t, tuning, alpha, &out);
			else
				as_welch_ttest(&c, &t, alpha, &out);
			print_comparison(&out);
		}
		else if (strcmp(cmd, "rlv") == 0)
		{
			AsArm		c,
						t;

			read_arm(&c);
			read_arm(&t);
			printf("%.17g\n", as_relative_lift_var(&c, &t));
		}
		else if (strcmp(cmd, "rho") == 0)
		{
			double		alpha = read_double(),
						tuning = read_double();

			printf("%.17g\n", as_sequential_rho(alpha, tuning));
		}
		else if (strcmp(cmd, "hw") == 0)
		{
			double		s2 = read_double(),
						n = read_double(),
						tuning = read_double(),
						alpha = read_double();

			printf("%.17g\n", as_sequential_halfwidth(s2, n, tuning, alpha));
		}
		else if (strcmp(cmd, "ppn") == 0 || strcmp(cmd, "ptn") == 0)
		{
			double		a = read_double(),
						b = read_double(),
						alpha = read_double(),
						power = read_double();

			printf("%.17g\n", cmd[1] == 'p' ? as_power_prop_n(a, b, alpha, power)
				   : as_power_t_n(a, b, alpha, power));
		}
		else if (strcmp(cmd, "ppp") == 0 || strcmp(cmd, "ptp") == 0)
		{
			double		n = read_double(),
						a = read_double(),
						b = read_double(),
						alpha = read_double();

			printf("%.17g\n", cmd[1] == 'p' ? as_power_prop_power(n, a, b, alpha)
				   : as_power_t_power(n, a, b, alpha));
		}
		else if (strcmp(cmd, "bandit") == 0)
		{
			int			k = (int) read_double(),
						i;
			double		pm = read_double(),
						pv = read_double(),
						minw = read_double(),
						minu = read_double();
			AsArm	   *arms = malloc(sizeof(AsArm) * (k > 0 ? k : 1));
			double	   *best = malloc(sizeof(double) * (k > 0 ? k : 1));
			double	   *weights = malloc(sizeof(double) * (k > 0 ? k : 1));
			bool		ok;

			if (arms == NULL || best == NULL || weights == NULL)
				die("out of memory");
			for (i = 0; i < k; i++)
			{
				read_arm(&arms[i]);
				best[i] = weights[i] = -12345.0;	/* to see that "untouched" holds */
			}
			ok = as_bandit_weights(arms, k, pm, pv, minw, minu, best, weights);
			printf("%d", ok ? 1 : 0);
			for (i = 0; i < k; i++)
				printf(" %.17g", best[i]);
			for (i = 0; i < k; i++)
				printf(" %.17g", weights[i]);
			printf("\n");
			free(arms);
			free(best);
			free(weights);
		}
		else if (strcmp(cmd, "bench") == 0)
			bench();
		else
			die("unknown command");
		fflush(stdout);
	}
	return 0;
}
