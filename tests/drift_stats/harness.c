/*
 * harness.c
 *	  Drives extension/drift_stats.c from stdin for tests/drift_stats/check.py.
 *	  Input is a stream of whitespace-separated commands, each a name and its
 *	  numbers; every command prints one line, numbers with %.17g so that they
 *	  read back exactly:
 *
 *		ks METHOD N1 N2 a... b...	statistic p method hook-calls	(samples sorted here by ds_sort)
 *		kstwo D N					kstwo.sf(D, N)
 *		kasymp D N1 N2				ds_ks_asymp_p
 *		chi2 X DF					chi2.sf(X, DF)
 *		chisq K o... e...			statistic p
 *		wass N1 N2 a... b...		wasserstein_distance (sorted here)
 *		quant N NQ x... q...		NQ quantiles of x (sorted here)
 *		edges N BINS x...			the BINS - 1 PSI bin edges of x (sorted here)
 *		binof NE e... M x...		M bin numbers
 *		psi K r... c...				PSI
 *		js K p... q...				Jensen-Shannon distance
 *		sort N x...					x sorted by ds_sort
 *		bench						timings of the long computations
 *
 *	  Build: cc -O2 -I extension tests/drift_stats/harness.c extension/drift_stats.c -lm
 */
#include "drift_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long hook_calls = 0;

static void
count_hook(void)
{
	hook_calls++;
}

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

static long
read_long(void)
{
	long		v;

	if (scanf("%ld", &v) != 1)
		die("expected an integer");
	return v;
}

static double *
alloc_doubles(size_t n)
{
	double	   *p = malloc((n > 0 ? n : 1) * sizeof(double));

	if (p == NULL)
		die("out of memory");
	return p;
}

static double *
read_doubles(size_t n)
{
	double	   *p = alloc_doubles(n);
	size_t		i;

	for (i = 0; i < n; i++)
		p[i] = read_double();
	return p;
}

static void
sort_copy(double *x, size_t n)
{
	double	   *scratch = alloc_doubles(n);

	ds_sort(x, n, scratch);
	free(scratch);
}

/* CPU time of this process: the timings should not depend on what else the machine runs */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* xorshift64* and Box-Muller: reproducible normal samples for the timings */
static uint64_t rng_state = 88172645463325252ULL;

static double
uniform01(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((rng_state * 2685821657736338717ULL) >> 11) * 0x1p-53;
}

static double
normal01(void)
{
	double		u = uniform01(),
				v = uniform01();

	return sqrt(-2.0 * log(u + 0x1p-60)) * cos(2 * 3.14159265358979323846 * v);
}

static void
bench_ks(int64_t n1, int64_t n2, double shift, const char *label)
{
	double	   *a = alloc_doubles(n1),
			   *b = alloc_doubles(n2),
			   *w = alloc_doubles(ds_ks_work_size(n1, n2));
	DsKsResult	r;
	double		t0;
	int64_t		i;

	for (i = 0; i < n1; i++)
		a[i] = normal01();
	for (i = 0; i < n2; i++)
		b[i] = normal01() + shift;
	sort_copy(a, n1);
	sort_copy(b, n2);
	hook_calls = 0;
	t0 = now_ms();
	ds_ks_2samp_sorted(a, n1, b, n2, DS_KS_EXACT, w, &r);
	printf("exact ks %ldx%ld %s: %.1f ms CPU (D %.6g, p %.6g, method %d, hook calls %ld)\n",
		   (long) n1, (long) n2, label, now_ms() - t0, r.statistic, r.p_value, r.method, hook_calls);
	free(a);
	free(b);
	free(w);
}

static void
bench(void)
{
	size_t		n = 1000000,
				i;
	double	   *x = alloc_doubles(n),
			   *s = alloc_doubles(n);
	double		t0,
				best = 1e30;
	int			rep;

	for (rep = 0; rep < 5; rep++)
	{
		for (i = 0; i < n; i++)
			x[i] = normal01() * 1000.0;
		t0 = now_ms();
		ds_sort(x, n, s);
		t0 = now_ms() - t0;
		if (t0 < best)
			best = t0;
		for (i = 1; i < n; i++)
			if (x[i - 1] > x[i])
				die("ds_sort left the data unsorted");
	}
	printf("ds_sort 1M normal doubles: %.1f ms CPU (best of 5)\n", best);
	free(x);
	free(s);

	bench_ks(10000, 10000, 0.05, "shift 0.05");
	bench_ks(10000, 9999, 0.05, "shift 0.05");
	bench_ks(10000, 9999, 0.5, "shift 0.5");
	bench_ks(10000, 9999, 100.0, "disjoint (whole band)");
}

int
main(void)
{
	char		cmd[32];

	ds_interrupt_hook = count_hook;
	while (scanf("%31s", cmd) == 1)
	{
		if (strcmp(cmd, "ks") == 0)
		{
			int			method = (int) read_long();
			long		n1 = read_long(),
						n2 = read_long();
			double	   *a = read_doubles(n1),
					   *b = read_doubles(n2),
					   *w = alloc_doubles(ds_ks_work_size(n1, n2));
			DsKsResult	r;

			sort_copy(a, n1);
			sort_copy(b, n2);
			hook_calls = 0;
			ds_ks_2samp_sorted(a, n1, b, n2, method, w, &r);
			printf("%.17g %.17g %d %ld\n", r.statistic, r.p_value, r.method, hook_calls);
			free(a);
			free(b);
			free(w);
		}
		else if (strcmp(cmd, "kstwo") == 0)
		{
			double		d = read_double(),
						n = read_double();

			printf("%.17g\n", ds_kstwo_sf(d, n));
		}
		else if (strcmp(cmd, "kasymp") == 0)
		{
			double		d = read_double(),
						n1 = read_double(),
						n2 = read_double();

			printf("%.17g\n", ds_ks_asymp_p(d, n1, n2));
		}
		else if (strcmp(cmd, "chi2") == 0)
		{
			double		x = read_double(),
						df = read_double();

			printf("%.17g\n", ds_chi2_sf(x, df));
		}
		else if (strcmp(cmd, "chisq") == 0)
		{
			int			k = (int) read_long();
			double	   *o = read_doubles(k),
					   *e = read_doubles(k),
						stat,
						p;

			ds_chisquare(o, e, k, &stat, &p);
			printf("%.17g %.17g\n", stat, p);
			free(o);
			free(e);
		}
		else if (strcmp(cmd, "wass") == 0)
		{
			long		n1 = read_long(),
						n2 = read_long();
			double	   *a = read_doubles(n1),
					   *b = read_doubles(n2);

			sort_copy(a, n1);
			sort_copy(b, n2);
			printf("%.17g\n", ds_wasserstein_sorted(a, n1, b, n2));
			free(a);
			free(b);
		}
		else if (strcmp(cmd, "quant") == 0)
		{
			long		n = read_long(),
						nq = read_long(),
						i;
			double	   *x = read_doubles(n),
					   *q = read_doubles(nq);

			sort_copy(x, n);
			for (i = 0; i < nq; i++)
				printf("%s%.17g", i ? " " : "", ds_quantile_sorted(x, n, q[i]));
			printf("\n");
			free(x);
			free(q);
		}
		else if (strcmp(cmd, "edges") == 0)
		{
			long		n = read_long();
			int			bins = (int) read_long(),
						i;
			double	   *x = read_doubles(n),
					   *e = alloc_doubles(bins);

			sort_copy(x, n);
			ds_bin_edges(x, n, bins, e);
			for (i = 0; i < bins - 1; i++)
				printf("%s%.17g", i ? " " : "", e[i]);
			printf("\n");
			free(x);
			free(e);
		}
		else if (strcmp(cmd, "binof") == 0)
		{
			int			ne = (int) read_long();
			double	   *e = read_doubles(ne);
			long		m = read_long(),
						i;

			for (i = 0; i < m; i++)
				printf("%s%d", i ? " " : "", ds_bin_of(read_double(), e, ne));
			printf("\n");
			free(e);
		}
		else if (strcmp(cmd, "psi") == 0 || strcmp(cmd, "js") == 0)
		{
			int			k = (int) read_long();
			double	   *p = read_doubles(k),
					   *q = read_doubles(k);

			printf("%.17g\n", cmd[0] == 'p' ? ds_psi_counts(p, q, k) : ds_js_distance_counts(p, q, k));
			free(p);
			free(q);
		}
		else if (strcmp(cmd, "sort") == 0)
		{
			long		n = read_long(),
						i;
			double	   *x = read_doubles(n);

			sort_copy(x, n);
			for (i = 0; i < n; i++)
				printf("%s%.17g", i ? " " : "", x[i]);
			printf("\n");
			free(x);
		}
		else if (strcmp(cmd, "bench") == 0)
			bench();
		else
			die("unknown command");
		fflush(stdout);
	}
	return 0;
}
