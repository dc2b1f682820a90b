/*
 * drift.c
 *	  Drift statistics in SQL: the two-sample functions on arrays (ks_2samp,
 *	  wasserstein_distance, psi, js_distance, chisquare), the drift_state type
 *	  and the aggregates built on it (per column, against a stored baseline,
 *	  parallel through combine functions), and the capture of a baseline's
 *	  per-column summary.  The numbers themselves are drift_stats.c's.
 *
 *	  An aggregate's state is mlops.drift_state, a concrete type with a text
 *	  form (JSON), not internal: Citus pushes partial aggregation to its
 *	  workers only for such aggregates, and parallel workers hand it to the
 *	  leader in its flat form.  While a backend aggregates, the state is an
 *	  expanded object owned by the aggregate's memory context, so each row
 *	  updates it in place (no copy per row, as array_append does).
 *
 *	  A numeric state counts rows, NULLs, NaNs, infinities and values out of
 *	  the baseline's [min, max]; keeps the mean and M2 (Welford, combined
 *	  with Chan's formula); counts the values per baseline bin; and, for the
 *	  statistics that need the whole sample (KS, Wasserstein), keeps the
 *	  finite values.  A categorical state counts values per baseline
 *	  category, and the categories the baseline never saw by name.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "nodes/primnodes.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/expandeddatum.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "compat.h"
#include "drift_stats.h"
#include "mlops.h"

int			mlops_drift_baseline_values = 1000000;
int			mlops_drift_max_categories = 1000;

#define DRIFT_NUMERIC		1
#define DRIFT_CATEGORICAL	2

/* the state keeps the finite values (KS, Wasserstein, a capture) */
#define DRIFT_KEEP_VALUES	0x01
/* a capture: no baseline; values beyond the limit are sampled */
#define DRIFT_CAPTURE		0x02
/* the kept values are sorted (a finished capture) */
#define DRIFT_SORTED		0x04
/* the summary has been derived from the kept values (derive_from_values) */
#define DRIFT_DERIVED		0x08

#define DRIFT_FORMAT		1

static void
drift_interrupt(void)
{
	CHECK_FOR_INTERRUPTS();
}

void
drift_init(void)
{
	ds_interrupt_hook = drift_interrupt;

	DefineCustomIntVariable("mlops.drift_baseline_values",
							"Reference values a baseline keeps per numeric column for KS and Wasserstein.",
							"Up to this many the baseline keeps every value (exact statistics); "
							"beyond, a uniform random sample of this size, whose error on the KS "
							"statistic is bounded as the README documents.",
							&mlops_drift_baseline_values,
							1000000,
							1000,
							50000000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.drift_max_categories",
							"Distinct values a categorical column may have in a baseline.",
							"A column with more distinct values is an identifier, not a category: "
							"capture refuses it rather than store every value.",
							&mlops_drift_max_categories,
							1000,
							2,
							1000000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * Arrays in and out
 * ------------------------------------------------------------------------
 */

/*
 * The finite values of a float8[] sample, NULLs and NaNs dropped (scipy's
 * nan_policy='omit').  An infinite value has no place on a distance or a
 * histogram: it is an error here, and counted as out of range by the
 * aggregates.
 */
static double *
sample_values(ArrayType *arr, const char *what, int64 *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	double	   *out;
	int64		k = 0;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &count);
	out = palloc(sizeof(double) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		double		v;

		if (nulls[i])
			continue;
		v = DatumGetFloat8(elems[i]);
		if (isnan(v))
			continue;
		if (isinf(v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has an infinite value at position %d", what, i + 1),
					 errhint("Drift statistics are defined on finite values; NULL and NaN are left out.")));
		out[k++] = v + 0.0;
	}
	if (k == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is empty", what),
				 errdetail("It has no values once NULLs and NaNs are left out."),
				 errhint("A two-sample statistic needs at least one value on each side.")));
	pfree(elems);
	pfree(nulls);
	*n = k;
	return out;
}

/* the fallback of sort_float8s(): a comparison sort in place */
#define ST_SORT sort_float8s_in_place
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Sort n doubles (no NaN) ascending, -0.0 turned into 0.0: ds_sort(), a
 * radix sort that checks for interrupts as it goes, with scratch as large
 * again (past 1 GB too, as the arrays it sorts may be); when that memory
 * cannot be had, a comparison sort in place, which a cancel waits for.
 * Shared with metrics.c (roc_auc).
 */
void
sort_float8s(double *x, int64 n)
{
	double	   *scratch;

	if (n < 2)
		return;
	scratch = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (scratch != NULL)
	{
		ds_sort(x, (size_t) n, scratch);
		pfree(scratch);
	}
	else
	{
		for (int64 i = 0; i < n; i++)
			if (x[i] == 0.0)
				x[i] = 0.0;
		sort_float8s_in_place(x, n);
	}
	CHECK_FOR_INTERRUPTS();
}

static ArrayType *
float8_array(const double *x, int64 n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int64 i = 0; i < n; i++)
		d[i] = Float8GetDatum(x[i]);
	return construct_array(d, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static int
check_bins(int bins)
{
	if (bins < 2 || bins > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be between 2 and 1000, not %d", bins)));
	return bins;
}

/* ------------------------------------------------------------------------
 * Two-sample functions on arrays (IMMUTABLE, PARALLEL SAFE)
 * ------------------------------------------------------------------------
 */

static const char *
ks_method_name(int method)
{
	return method == DS_KS_EXACT ? "exact" : "asymp";
}

static int
ks_method_of(const char *name)
{
	if (strcmp(name, "auto") == 0)
		return DS_KS_AUTO;
	if (strcmp(name, "exact") == 0)
		return DS_KS_EXACT;
	if (strcmp(name, "asymp") == 0)
		return DS_KS_ASYMP;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("ks_2samp's method is auto, exact or asymp, not \"%s\"", name)));
	return DS_KS_AUTO;
}

static void
ks_sorted(const double *a, int64 n1, const double *b, int64 n2, int method, DsKsResult *r)
{
	double	   *work = palloc(sizeof(double) * Max(ds_ks_work_size(n1, n2), 1));

	ds_ks_2samp_sorted(a, n1, b, n2, method, work, r);
	pfree(work);
}

static Datum
ks_result_datum(FunctionCallInfo fcinfo, const DsKsResult *r)
{
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ks_2samp must return a row");
	desc = BlessTupleDesc(desc);
	values[0] = Float8GetDatum(r->statistic);
	values[1] = Float8GetDatum(r->p_value);
	values[2] = CStringGetTextDatum(ks_method_name(r->method));
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

static Datum
chisquare_result_datum(FunctionCallInfo fcinfo, double stat, double p)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "chisquare must return a row");
	desc = BlessTupleDesc(desc);
	values[0] = Float8GetDatum(stat);
	values[1] = Float8GetDatum(p);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

PG_FUNCTION_INFO_V1(mlops_ks_2samp);

Datum
mlops_ks_2samp(PG_FUNCTION_ARGS)
{
	int64		n1,
				n2;
	double	   *a = sample_values(PG_GETARG_ARRAYTYPE_P(0), "reference", &n1);
	double	   *b = sample_values(PG_GETARG_ARRAYTYPE_P(1), "current", &n2);
	int			method = ks_method_of(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	DsKsResult	r;

	sort_float8s(a, n1);
	sort_float8s(b, n2);
	ks_sorted(a, n1, b, n2, method, &r);
	PG_RETURN_DATUM(ks_result_datum(fcinfo, &r));
}

PG_FUNCTION_INFO_V1(mlops_wasserstein_distance);

Datum
mlops_wasserstein_distance(PG_FUNCTION_ARGS)
{
	int64		n1,
				n2;
	double	   *a = sample_values(PG_GETARG_ARRAYTYPE_P(0), "reference", &n1);
	double	   *b = sample_values(PG_GETARG_ARRAYTYPE_P(1), "current", &n2);

	sort_float8s(a, n1);
	sort_float8s(b, n2);
	PG_RETURN_FLOAT8(ds_wasserstein_sorted(a, n1, b, n2));
}

/*
 * Counts of a sample over the reference's quantile bins, as psi() and
 * js_distance() on arrays use them.
 */
static void
binned_counts(FunctionCallInfo fcinfo, double **ref_counts, double **cur_counts, int *nbins)
{
	int64		n1,
				n2;
	double	   *a = sample_values(PG_GETARG_ARRAYTYPE_P(0), "reference", &n1);
	double	   *b = sample_values(PG_GETARG_ARRAYTYPE_P(1), "current", &n2);
	int			bins = check_bins(PG_GETARG_INT32(2));
	double	   *edges = palloc(sizeof(double) * (bins - 1));
	double	   *rc = palloc0(sizeof(double) * bins);
	double	   *cc = palloc0(sizeof(double) * bins);

	sort_float8s(a, n1);
	ds_bin_edges(a, n1, bins, edges);
	for (int64 i = 0; i < n1; i++)
		rc[ds_bin_of(a[i], edges, bins - 1)] += 1;
	for (int64 i = 0; i < n2; i++)
		cc[ds_bin_of(b[i], edges, bins - 1)] += 1;
	*ref_counts = rc;
	*cur_counts = cc;
	*nbins = bins;
}

PG_FUNCTION_INFO_V1(mlops_psi);

Datum
mlops_psi(PG_FUNCTION_ARGS)
{
	double	   *rc,
			   *cc;
	int			k;

	binned_counts(fcinfo, &rc, &cc, &k);
	PG_RETURN_FLOAT8(ds_psi_counts(rc, cc, k));
}

PG_FUNCTION_INFO_V1(mlops_js_distance);

Datum
mlops_js_distance(PG_FUNCTION_ARGS)
{
	double	   *rc,
			   *cc;
	int			k;

	binned_counts(fcinfo, &rc, &cc, &k);
	PG_RETURN_FLOAT8(ds_js_distance_counts(rc, cc, k));
}

PG_FUNCTION_INFO_V1(mlops_chisquare);

/*
 * chisquare(observed, expected), scipy.stats.chisquare's semantics: the
 * two must have the same length and the same sum (relative 1e-8, scipy's
 * check); a category expected 0 but observed gives an infinite statistic
 * and a p-value of 0.
 */
Datum
mlops_chisquare(PG_FUNCTION_ARGS)
{
	ArrayType  *oa = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *ea = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *od,
			   *ed;
	bool	   *on,
			   *en;
	int			k,
				ke;
	double	   *o,
			   *e;
	double		osum = 0,
				esum = 0,
				stat,
				p;

	if (ARR_NDIM(oa) > 1 || ARR_NDIM(ea) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("observed and expected must be one-dimensional arrays")));
	deconstruct_array(oa, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &od, &on, &k);
	deconstruct_array(ea, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ed, &en, &ke);
	if (k != ke)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observed has %d categories and expected %d", k, ke),
				 errhint("They count the same categories, in the same order.")));
	if (k == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observed and expected are empty")));
	o = palloc(sizeof(double) * k);
	e = palloc(sizeof(double) * k);
	for (int i = 0; i < k; i++)
	{
		if (on[i] || en[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("observed and expected must not contain NULLs (category %d)", i + 1)));
		o[i] = DatumGetFloat8(od[i]);
		e[i] = DatumGetFloat8(ed[i]);
		if (!isfinite(o[i]) || !isfinite(e[i]) || o[i] < 0 || e[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("observed and expected are finite counts >= 0; category %d has %g and %g",
							i + 1, o[i], e[i])));
		osum += o[i];
		esum += e[i];
	}
	if (fabs(osum - esum) > 1e-8 * Min(osum, esum))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("observed and expected sum to %.17g and %.17g", osum, esum),
				 errdetail("Their sums must agree to a relative tolerance of 1e-8, as scipy.stats.chisquare requires."),
				 errhint("Scale the expected frequencies to the observed total.")));
	ds_chisquare(o, e, k, &stat, &p);
	PG_RETURN_DATUM(chisquare_result_datum(fcinfo, stat, p));
}

/* ------------------------------------------------------------------------
 * A small index of strings (category -> position), open addressing; the
 * type is in mlops.h (training.c indexes categories with it too)
 * ------------------------------------------------------------------------
 */

void
strindex_init(StrIndex *si, MemoryContext cxt, int expected)
{
	int			nslots = 16;

	while (nslots < 2 * expected + 2)
		nslots *= 2;
	si->n = 0;
	si->cap = Max(expected, 4);
	si->names = MemoryContextAlloc(cxt, sizeof(char *) * si->cap);
	si->lens = MemoryContextAlloc(cxt, sizeof(int) * si->cap);
	si->nslots = nslots;
	si->slots = MemoryContextAlloc(cxt, sizeof(int) * nslots);
	memset(si->slots, -1, sizeof(int) * nslots);
	si->cxt = cxt;
}

static int
strindex_find(const StrIndex *si, const char *s, int len, uint32 h)
{
	uint32		mask = si->nslots - 1;

	for (uint32 i = h & mask;; i = (i + 1) & mask)
	{
		int			k = si->slots[i];

		if (k < 0)
			return -1 - (int) i;
		if (si->lens[k] == len && memcmp(si->names[k], s, len) == 0)
			return k;
	}
}

static void strindex_grow(StrIndex *si);

/* position of s, added when absent (with *added set) */
int
strindex_add(StrIndex *si, const char *s, int len, bool *added)
{
	uint32		h = hash_bytes((const unsigned char *) s, len);
	int			k = strindex_find(si, s, len, h);

	if (k >= 0)
	{
		*added = false;
		return k;
	}
	if (2 * (si->n + 1) >= si->nslots)
	{
		strindex_grow(si);
		k = strindex_find(si, s, len, h);
	}
	if (si->n == si->cap)
	{
		si->cap *= 2;
		si->names = repalloc(si->names, sizeof(char *) * si->cap);
		si->lens = repalloc(si->lens, sizeof(int) * si->cap);
	}
	si->names[si->n] = MemoryContextAlloc(si->cxt, len + 1);
	memcpy(si->names[si->n], s, len);
	si->names[si->n][len] = '\0';
	si->lens[si->n] = len;
	si->slots[-1 - k] = si->n;
	*added = true;
	return si->n++;
}

static void
strindex_grow(StrIndex *si)
{
	int			nslots = si->nslots * 2;
	int		   *slots = MemoryContextAlloc(si->cxt, sizeof(int) * nslots);

	memset(slots, -1, sizeof(int) * nslots);
	for (int k = 0; k < si->n; k++)
	{
		uint32		h = hash_bytes((const unsigned char *) si->names[k], si->lens[k]);
		uint32		i = h & (nslots - 1);

		while (slots[i] >= 0)
			i = (i + 1) & (nslots - 1);
		slots[i] = k;
	}
	pfree(si->slots);
	si->slots = slots;
	si->nslots = nslots;
}

int
strindex_lookup(const StrIndex *si, const char *s, int len)
{
	int			k = strindex_find(si, s, len, hash_bytes((const unsigned char *) s, len));

	return k >= 0 ? k : -1;
}

/* ------------------------------------------------------------------------
 * mlops.drift_state: expanded in memory, flat on disk and between workers
 * ------------------------------------------------------------------------
 */
typedef struct DriftState
{
	ExpandedObjectHeader hdr;	/* first: an expanded object */
	int32		kind;
	int32		flags;
	int64		baseline_id;	/* the baseline column it is measured against */
	int32		position;
	int32		nbins;			/* numeric: bins; categorical: baseline categories */
	int64	   *bins;
	int64		n_rows,
				n_null,
				n_nan,
				n_inf,
				n_below,
				n_above,
				n;				/* finite values */
	double		mean,
				m2,
				min,
				max;
	double	   *values;
	int64		nvalues,
				cap;
	int64		seen;			/* a capture: finite values offered to the sample */
	uint64		prng;			/* a capture's sampling state */
	StrIndex	newcats;		/* categories outside the baseline (all, in a capture) */
	int64	   *newcounts;
	int			newcap;
} DriftState;

/* the flat form's header; then bins (int64), values (float8), new categories */
typedef struct DriftFlat
{
	int32		vl_len_;
	int32		format;
	int32		kind;
	int32		flags;
	int64		baseline_id;
	int32		position;
	int32		nbins;
	int64		n_rows,
				n_null,
				n_nan,
				n_inf,
				n_below,
				n_above,
				n;
	double		mean,
				m2,
				min,
				max;
	int64		nvalues;
	int64		seen;
	uint64		prng;
	int32		nnew;
	int32		pad;
	/* int64 bins[nbins]; double values[nvalues]; per new category: int64 count, int32 len, bytes, pad to 8 */
} DriftFlat;

static Size
drift_flat_size(ExpandedObjectHeader *eohptr)
{
	DriftState *st = (DriftState *) eohptr;
	Size		size = sizeof(DriftFlat) + sizeof(int64) * st->nbins + sizeof(double) * st->nvalues;

	for (int k = 0; k < st->newcats.n; k++)
		size += MAXALIGN(sizeof(int64) + sizeof(int32) + st->newcats.lens[k]);
	return size;
}


static void
drift_flatten(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	DriftState *st = (DriftState *) eohptr;
	DriftFlat  *f = (DriftFlat *) result;
	char	   *p;

	/*
	 * A parallel worker hands its state on flat: sorting the kept values
	 * first moves the sort into the worker, and the leader merges sorted
	 * runs (mlops_drift_combine).  The order of the values means nothing
	 * else, so this changes no result.
	 */
	if ((st->flags & DRIFT_KEEP_VALUES) && !(st->flags & DRIFT_SORTED) && !(st->flags & DRIFT_CAPTURE))
	{
		sort_float8s(st->values, st->nvalues);
		st->flags |= DRIFT_SORTED;
	}

	memset(result, 0, allocated_size);
	SET_VARSIZE(f, allocated_size);
	f->format = DRIFT_FORMAT;
	f->kind = st->kind;
	f->flags = st->flags;
	f->baseline_id = st->baseline_id;
	f->position = st->position;
	f->nbins = st->nbins;
	f->n_rows = st->n_rows;
	f->n_null = st->n_null;
	f->n_nan = st->n_nan;
	f->n_inf = st->n_inf;
	f->n_below = st->n_below;
	f->n_above = st->n_above;
	f->n = st->n;
	f->mean = st->mean;
	f->m2 = st->m2;
	f->min = st->min;
	f->max = st->max;
	f->nvalues = st->nvalues;
	f->seen = st->seen;
	f->prng = st->prng;
	f->nnew = st->newcats.n;
	p = (char *) (f + 1);
	memcpy(p, st->bins, sizeof(int64) * st->nbins);
	p += sizeof(int64) * st->nbins;
	memcpy(p, st->values, sizeof(double) * st->nvalues);
	p += sizeof(double) * st->nvalues;
	for (int k = 0; k < st->newcats.n; k++)
	{
		int32		len = st->newcats.lens[k];

		memcpy(p, &st->newcounts[k], sizeof(int64));
		memcpy(p + sizeof(int64), &len, sizeof(int32));
		memcpy(p + sizeof(int64) + sizeof(int32), st->newcats.names[k], len);
		p += MAXALIGN(sizeof(int64) + sizeof(int32) + len);
	}
	Assert(p == (char *) result + allocated_size);
}

static const ExpandedObjectMethods drift_methods = {
	drift_flat_size,
	drift_flatten
};

static DriftState *
drift_new(MemoryContext parent, int kind, int flags, int nbins)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "mlops drift state", ALLOCSET_DEFAULT_SIZES);
	DriftState *st = MemoryContextAllocZero(cxt, sizeof(DriftState));

	EOH_init_header(&st->hdr, &drift_methods, cxt);
	st->kind = kind;
	st->flags = flags;
	st->nbins = nbins;
	st->bins = MemoryContextAllocZero(cxt, sizeof(int64) * Max(nbins, 1));
	st->min = INFINITY;
	st->max = -INFINITY;
	st->prng = UINT64CONST(0x9E3779B97F4A7C15);
	strindex_init(&st->newcats, cxt, 8);
	st->newcap = 8;
	st->newcounts = MemoryContextAllocZero(cxt, sizeof(int64) * st->newcap);
	return st;
}

static void
drift_reserve(DriftState *st, int64 more)
{
	if (st->nvalues + more <= st->cap)
		return;
	st->cap = Max(st->cap * 2, st->nvalues + more);
	st->cap = Max(st->cap, 1024);
	if ((Size) st->cap * sizeof(double) > MaxAllocHugeSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many values for one drift statistic")));
	if (st->values == NULL)
		st->values = MemoryContextAllocHuge(st->hdr.eoh_context, sizeof(double) * st->cap);
	else
		st->values = repalloc_huge(st->values, sizeof(double) * st->cap);
}

static void
drift_newcat_add(DriftState *st, const char *s, int len, int64 count)
{
	bool		added;
	int			k = strindex_add(&st->newcats, s, len, &added);

	if (added && k >= st->newcap)
	{
		int			cap = st->newcap * 2;

		st->newcounts = repalloc(st->newcounts, sizeof(int64) * cap);
		memset(st->newcounts + st->newcap, 0, sizeof(int64) * (cap - st->newcap));
		st->newcap = cap;
	}
	st->newcounts[k] += count;
}

static void
null_argument(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("%s must not be NULL", what)));
}

static void
corrupt_state(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid mlops.drift_state: %s", why)));
}

/* An expanded copy of a flat state, checked (flat states also come from text input). */
static DriftState *
drift_expand(const DriftFlat *f, MemoryContext parent)
{
	Size		size = VARSIZE(f);
	const char *p,
			   *end;
	DriftState *st;

	if (size < sizeof(DriftFlat) || f->format != DRIFT_FORMAT)
		corrupt_state("unknown format");
	if ((f->kind != DRIFT_NUMERIC && f->kind != DRIFT_CATEGORICAL) || f->nbins < 0 || f->nvalues < 0 ||
		f->nnew < 0 || f->nbins > 1000000)
		corrupt_state("bad header");
	end = (const char *) f + size;
	p = (const char *) (f + 1);
	if ((Size) (end - p) / sizeof(int64) < (Size) f->nbins)
		corrupt_state("truncated");
	st = drift_new(parent, f->kind, f->flags, f->nbins);
	st->baseline_id = f->baseline_id;
	st->position = f->position;
	st->n_rows = f->n_rows;
	st->n_null = f->n_null;
	st->n_nan = f->n_nan;
	st->n_inf = f->n_inf;
	st->n_below = f->n_below;
	st->n_above = f->n_above;
	st->n = f->n;
	st->mean = f->mean;
	st->m2 = f->m2;
	st->min = f->min;
	st->max = f->max;
	st->seen = f->seen;
	st->prng = f->prng;
	memcpy(st->bins, p, sizeof(int64) * f->nbins);
	p += sizeof(int64) * f->nbins;
	if ((Size) (end - p) / sizeof(double) < (Size) f->nvalues)
		corrupt_state("truncated values");
	drift_reserve(st, f->nvalues);
	memcpy(st->values, p, sizeof(double) * f->nvalues);
	st->nvalues = f->nvalues;
	p += sizeof(double) * f->nvalues;
	for (int k = 0; k < f->nnew; k++)
	{
		int64		count;
		int32		len;

		if (end - p < (ptrdiff_t) (sizeof(int64) + sizeof(int32)))
			corrupt_state("truncated categories");
		memcpy(&count, p, sizeof(int64));
		memcpy(&len, p + sizeof(int64), sizeof(int32));
		if (len < 0 || end - p - (ptrdiff_t) (sizeof(int64) + sizeof(int32)) < len || count < 0)
			corrupt_state("bad category");
		drift_newcat_add(st, p + sizeof(int64) + sizeof(int32), len, count);
		p += MAXALIGN(sizeof(int64) + sizeof(int32) + len);
	}
	if (p != end)
		corrupt_state("trailing bytes");
	return st;
}

static DriftState *
drift_copy(DriftState *st, MemoryContext parent)
{
	Size		size = drift_flat_size(&st->hdr);
	void	   *flat = palloc(size);
	DriftState *copy;

	drift_flatten(&st->hdr, flat, size);
	copy = drift_expand(flat, parent);
	pfree(flat);
	return copy;
}

/* The state behind a datum: expanded in place if it is ours and writable, else an expanded copy. */
static DriftState *
drift_from_datum(Datum d, MemoryContext parent, bool *writable)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);

	if (VARATT_IS_EXTERNAL_EXPANDED(v))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);

		if (eoh->eoh_methods != &drift_methods)
			elog(ERROR, "expanded object is not a drift state");
		if (writable)
			*writable = VARATT_IS_EXTERNAL_EXPANDED_RW(v);
		return (DriftState *) eoh;
	}
	if (writable)
		*writable = false;
	return drift_expand((DriftFlat *) PG_DETOAST_DATUM(d), parent);
}

static Datum
drift_datum(DriftState *st)
{
	return EOHPGetRWDatum(&st->hdr);
}

/*
 * The text form is the flat form in hex, behind a tag: what Citus ships
 * between nodes and what a dump of a stored state holds.  Reading it back
 * checks every length (drift_expand) and every count, so that a state typed
 * in by hand cannot crash a final function.
 */
#define DRIFT_TEXT_TAG "drift1:"

PG_FUNCTION_INFO_V1(mlops_drift_state_out);

Datum
mlops_drift_state_out(PG_FUNCTION_ARGS)
{
	Datum		d;
	struct varlena *flat;
	Size		len;
	char	   *out;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	d = PG_GETARG_DATUM(0);

	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);
		Size		size = EOH_get_flat_size(eoh);

		flat = palloc(size);
		EOH_flatten_into(eoh, flat, size);
	}
	else
		flat = PG_DETOAST_DATUM(d);
	len = VARSIZE(flat) - VARHDRSZ;
	out = palloc(strlen(DRIFT_TEXT_TAG) + 2 * len + 1);
	strcpy(out, DRIFT_TEXT_TAG);
	hex_encode(VARDATA(flat), len, out + strlen(DRIFT_TEXT_TAG));
	out[strlen(DRIFT_TEXT_TAG) + 2 * len] = '\0';
	PG_RETURN_CSTRING(out);
}

static void drift_check(const DriftState *st);

PG_FUNCTION_INFO_V1(mlops_drift_state_in);

Datum
mlops_drift_state_in(PG_FUNCTION_ARGS)
{
	char	   *str;
	size_t		taglen = strlen(DRIFT_TEXT_TAG);
	size_t		hexlen;
	struct varlena *flat;
	DriftState *st;
	Size		size;
	void	   *result;

	/*
	 * Not strict, so NULL comes as a NULL pointer (InputFunctionCall) or as
	 * a NULL argument (a direct call); either way the value is NULL.
	 */
	if (PG_ARGISNULL(0) || (str = PG_GETARG_CSTRING(0)) == NULL)
		PG_RETURN_NULL();

	if (strncmp(str, DRIFT_TEXT_TAG, taglen) != 0 || (hexlen = strlen(str + taglen)) % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type mlops.drift_state"),
				 errdetail("A drift state's text form is \"%s\" and the hex of its bytes.", DRIFT_TEXT_TAG)));
	flat = palloc(VARHDRSZ + hexlen / 2);
	SET_VARSIZE(flat, VARHDRSZ + hex_decode(str + taglen, hexlen, VARDATA(flat)));
	st = drift_expand((DriftFlat *) flat, CurrentMemoryContext);
	drift_check(st);
	size = drift_flat_size(&st->hdr);
	result = palloc(size);
	drift_flatten(&st->hdr, result, size);
	PG_RETURN_POINTER(result);
}

/* what a state must satisfy for the final functions to read it safely */
static void
drift_check(const DriftState *st)
{
	int64		sum = 0;

	if (st->n_rows < 0 || st->n_null < 0 || st->n_nan < 0 || st->n_inf < 0 || st->n_below < 0 ||
		st->n_above < 0 || st->n < 0 || st->seen < 0 || st->nvalues > st->n ||
		st->n_null + st->n_nan + st->n_inf + st->n > st->n_rows)
		corrupt_state("inconsistent counts");
	if ((st->flags & DRIFT_KEEP_VALUES) && !(st->flags & DRIFT_CAPTURE) && st->nvalues != st->n)
		corrupt_state("kept values do not match the count");
	for (int64 i = 0; i < st->nvalues; i++)
		if (!isfinite(st->values[i]))
			corrupt_state("a kept value is not finite");
	for (int i = 0; i < st->nbins; i++)
	{
		if (st->bins[i] < 0)
			corrupt_state("negative count");
		sum += st->bins[i];
	}
	for (int k = 0; k < st->newcats.n; k++)
	{
		/* a category becomes text: it must be valid in the database's encoding */
		pg_verifymbstr(st->newcats.names[k], st->newcats.lens[k], false);
		sum += st->newcounts[k];
	}
	if (sum > st->n_rows)
		corrupt_state("bin counts exceed the rows");
}

/* ------------------------------------------------------------------------
 * Baselines, as the aggregates read them
 * ------------------------------------------------------------------------
 */
typedef struct BaselineCol
{
	/* what the transition function looked it up by */
	text	   *baseline_name;
	text	   *feature_name;
	int64		baseline_id;
	int32		position;
	int			kind;
	int			nedges;
	double	   *edges;
	double		min,
				max;
	StrIndex	cats;			/* categorical: the baseline's categories, in order */
	/* what the final functions need besides */
	double	   *ref_bins;		/* numeric: counts per bin; categorical: per category */
	int			nref_bins;
	double	   *ref_values;		/* sorted: every finite value, or a sample */
	int64		nref_values;
	int64		n_ref;			/* finite (numeric) or non-NULL (categorical) values */
	bool		exact;
	double		mean,
				std;
	bool		names_const;	/* the aggregate's baseline and feature are constants */
	bool		values_loaded;	/* final functions: ref_values read */
} BaselineCol;


static double *
spi_float8_array(HeapTuple tup, TupleDesc desc, int col, int *n, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	ArrayType  *arr;
	double	   *out;
	int			count;

	if (isnull)
	{
		*n = 0;
		return NULL;
	}
	arr = DatumGetArrayTypeP(d);
	count = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	if (ARR_HASNULL(arr))
		elog(ERROR, "baseline array holds NULLs");
	out = MemoryContextAllocHuge(cxt, sizeof(double) * Max(count, 1));
	/* no NULLs (checked above): the data follows the header (ARR_DATA_PTR() trips -Wsign-compare) */
	memcpy(out, (char *) arr + ARR_OVERHEAD_NONULLS(ARR_NDIM(arr)), sizeof(double) * count);
	*n = count;
	return out;
}

static double
spi_float8(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

/* A baseline's categories (a text[] column of an SPI row), indexed. */
static void
load_categories(HeapTuple tup, TupleDesc desc, int col, StrIndex *cats, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	bool	   *enulls;
	int			count = 0;

	if (!isnull)
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &count);
	strindex_init(cats, cxt, count);
	for (int i = 0; i < count; i++)
	{
		text	   *t = DatumGetTextPP(elems[i]);
		bool		added;

		if (enulls[i])
			elog(ERROR, "baseline categories hold a NULL");
		strindex_add(cats, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &added);
	}
}

/*
 * The baseline column a transition function measures against, looked up by
 * name once per call site (fn_extra) and again only when the names change.
 */
static BaselineCol *
transition_baseline(FunctionCallInfo fcinfo, int want_kind, const char *aggname)
{
	BaselineCol *bc = fcinfo->flinfo->fn_extra;
	text	   *bname,
			   *fname;
	MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	TupleDesc	desc;
	HeapTuple	tup;
	char	   *kind;
	int			n;

	/* constants (the usual case, and drift_report's): looked up once, no check per row */
	if (bc != NULL && bc->names_const)
		return bc;
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s needs a baseline and a feature name, not NULL", aggname)));
	bname = PG_GETARG_TEXT_PP(2);
	fname = PG_GETARG_TEXT_PP(3);
	if (bc != NULL &&
		VARSIZE_ANY_EXHDR(bname) == VARSIZE_ANY_EXHDR(bc->baseline_name) &&
		VARSIZE_ANY_EXHDR(fname) == VARSIZE_ANY_EXHDR(bc->feature_name) &&
		memcmp(VARDATA_ANY(bname), VARDATA_ANY(bc->baseline_name), VARSIZE_ANY_EXHDR(bname)) == 0 &&
		memcmp(VARDATA_ANY(fname), VARDATA_ANY(bc->feature_name), VARSIZE_ANY_EXHDR(fname)) == 0)
		return bc;

	bc = MemoryContextAllocZero(cxt, sizeof(BaselineCol));
	bc->baseline_name = (text *) MemoryContextAlloc(cxt, VARSIZE_ANY(bname));
	memcpy(bc->baseline_name, bname, VARSIZE_ANY(bname));
	bc->feature_name = (text *) MemoryContextAlloc(cxt, VARSIZE_ANY(fname));
	memcpy(bc->feature_name, fname, VARSIZE_ANY(fname));
	args[0] = PointerGetDatum(bname);
	args[1] = PointerGetDatum(fname);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	require_mlops_role("mlops_reader", aggname);
	if (SPI_execute_with_args("SELECT c.baseline_id, c.position, c.kind, c.edges, c.min, c.max, c.categories "
							  "FROM mlops.drift_baselines b JOIN mlops.drift_baseline_columns c "
							  "ON c.baseline_id = b.baseline_id WHERE b.name = $1 AND c.column_name = $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "baseline lookup failed");
	if (SPI_processed == 0)
	{
		bool		exists;

		if (SPI_execute_with_args("SELECT FROM mlops.drift_baselines b WHERE b.name = $1",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "baseline lookup failed");
		exists = SPI_processed > 0;
		if (!exists)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("drift baseline \"%s\" does not exist", text_to_cstring(bname)),
					 errhint("mlops.capture_baseline() makes one; mlops.drift_baselines lists them.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("drift baseline \"%s\" has no column \"%s\"", text_to_cstring(bname), text_to_cstring(fname)),
				 errhint("mlops.drift_baseline_columns lists the columns a baseline holds.")));
	}
	desc = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	bc->baseline_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &(bool) {false}));
	bc->position = DatumGetInt32(SPI_getbinval(tup, desc, 2, &(bool) {false}));
	kind = SPI_getvalue(tup, desc, 3);
	bc->kind = strcmp(kind, "numeric") == 0 ? DRIFT_NUMERIC : DRIFT_CATEGORICAL;
	if (bc->kind != want_kind)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of drift baseline \"%s\" is %s, and %s was given %s values",
						text_to_cstring(fname), text_to_cstring(bname), kind, aggname,
						want_kind == DRIFT_NUMERIC ? "float8" : "text"),
				 errhint(bc->kind == DRIFT_NUMERIC ? "Pass the column as float8 (column::float8)."
						 : "Pass the column as text (column::text).")));
	if (bc->kind == DRIFT_NUMERIC)
	{
		bc->edges = spi_float8_array(tup, desc, 4, &n, cxt);
		bc->nedges = n;
		bc->min = spi_float8(tup, desc, 5);
		bc->max = spi_float8(tup, desc, 6);
	}
	else
		load_categories(tup, desc, 7, &bc->cats, cxt);
	SPI_finish();
	{
		Aggref	   *aggref = AggGetAggref(fcinfo);

		bc->names_const = aggref != NULL && list_length(aggref->args) == 3 &&
			IsA(((TargetEntry *) lsecond(aggref->args))->expr, Const) &&
			IsA(((TargetEntry *) lthird(aggref->args))->expr, Const);
	}
	fcinfo->flinfo->fn_extra = bc;
	return bc;
}

/* What the final functions need of the baseline column a state was measured against. */
static BaselineCol *
final_baseline(FunctionCallInfo fcinfo, const DriftState *st, bool need_values)
{
	BaselineCol *bc = fcinfo->flinfo->fn_extra;
	MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
	Oid			argtypes[3] = {INT8OID, INT4OID, BOOLOID};
	Datum		args[3];
	TupleDesc	desc;
	HeapTuple	tup;
	int			n;
	bool		isnull;

	if (bc != NULL && bc->baseline_id == st->baseline_id && bc->position == st->position &&
		(bc->values_loaded || !need_values))
		return bc;
	bc = MemoryContextAllocZero(cxt, sizeof(BaselineCol));
	bc->values_loaded = need_values;
	bc->baseline_id = st->baseline_id;
	bc->position = st->position;
	args[0] = Int64GetDatum(st->baseline_id);
	args[1] = Int32GetDatum(st->position);
	args[2] = BoolGetDatum(need_values);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the sorted values (8 MB for a million) are read only when needed: not for PSI or JS */
	if (SPI_execute_with_args("SELECT c.kind, c.edges, c.bin_counts, CASE WHEN $3 THEN c.sorted_values END, c.n, "
							  "c.values_exact, c.mean, c.std, c.min, c.max, c.categories, c.category_counts "
							  "FROM mlops.drift_baseline_columns c WHERE c.baseline_id = $1 AND c.position = $2",
							  3, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "baseline lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the drift baseline this aggregate was measured against is gone"),
				 errdetail("Baseline " INT64_FORMAT ", column %d.", st->baseline_id, st->position)));
	desc = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	bc->kind = strcmp(SPI_getvalue(tup, desc, 1), "numeric") == 0 ? DRIFT_NUMERIC : DRIFT_CATEGORICAL;
	if (bc->kind != st->kind)
		corrupt_state("its kind is not its baseline column's");
	bc->n_ref = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	if (bc->kind == DRIFT_NUMERIC)
	{
		int			nv;

		bc->edges = spi_float8_array(tup, desc, 2, &n, cxt);
		bc->nedges = n;
		bc->ref_bins = spi_float8_array(tup, desc, 3, &bc->nref_bins, cxt);
		bc->ref_values = spi_float8_array(tup, desc, 4, &nv, cxt);
		bc->nref_values = nv;
		bc->exact = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		bc->mean = spi_float8(tup, desc, 7);
		bc->std = spi_float8(tup, desc, 8);
		bc->min = spi_float8(tup, desc, 9);
		bc->max = spi_float8(tup, desc, 10);
		if (bc->nref_bins != bc->nedges + 1 || st->nbins != bc->nref_bins)
			corrupt_state("its bins are not its baseline column's");
	}
	else
	{
		load_categories(tup, desc, 11, &bc->cats, cxt);
		bc->ref_bins = spi_float8_array(tup, desc, 12, &bc->nref_bins, cxt);
		if (bc->nref_bins != bc->cats.n || st->nbins != bc->cats.n)
			corrupt_state("its categories are not its baseline column's");
	}
	SPI_finish();
	fcinfo->flinfo->fn_extra = bc;
	return bc;
}

/* ------------------------------------------------------------------------
 * Transition and combine functions
 * ------------------------------------------------------------------------
 */
static MemoryContext
agg_context(FunctionCallInfo fcinfo, const char *what)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is called only by an aggregate", get_func_name(fcinfo->flinfo->fn_oid)),
				 errdetail("It is the support function of %s.", what)));
	return aggcxt;
}

static inline void
drift_add_finite(DriftState *st, double x)
{
	double		delta;

	st->n++;
	delta = x - st->mean;
	st->mean += delta / st->n;
	st->m2 += delta * (x - st->mean);
	if (x < st->min)
		st->min = x;
	if (x > st->max)
		st->max = x;
}

static Datum
numeric_trans(FunctionCallInfo fcinfo, bool keep_values, const char *aggname)
{
	MemoryContext aggcxt = agg_context(fcinfo, aggname);
	BaselineCol *bc = transition_baseline(fcinfo, DRIFT_NUMERIC, aggname);
	DriftState *st;

	if (PG_ARGISNULL(0))
	{
		st = drift_new(aggcxt, DRIFT_NUMERIC, keep_values ? DRIFT_KEEP_VALUES : 0, bc->nedges + 1);
		st->baseline_id = bc->baseline_id;
		st->position = bc->position;
	}
	else
	{
		st = drift_from_datum(PG_GETARG_DATUM(0), aggcxt, NULL);
		if (st->baseline_id != bc->baseline_id || st->position != bc->position)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s was given another baseline or feature within one group", aggname),
					 errhint("The baseline and feature arguments are the same for every row a group aggregates.")));
	}
	st->n_rows++;
	if (PG_ARGISNULL(1))
		st->n_null++;
	else
	{
		double		x = PG_GETARG_FLOAT8(1);

		if (isnan(x))
			st->n_nan++;
		else if (isinf(x))
		{
			st->n_inf++;
			if (x < 0)
				st->n_below++;
			else
				st->n_above++;
		}
		else if (keep_values)
		{
			/*
			 * Every value is kept: the summary (mean, min, max, bins, out of
			 * range) is derived from them, once sorted, by the final function
			 * (derive_from_values), which costs less than keeping it row by
			 * row, and gives serial and parallel plans the same bits.
			 */
			if (st->nvalues == st->cap)
				drift_reserve(st, 1);
			st->values[st->nvalues++] = x + 0.0;	/* -0.0 is 0.0 */
			st->n++;
			st->flags &= ~DRIFT_SORTED;
		}
		else
		{
			x += 0.0;
			drift_add_finite(st, x);
			if (x < bc->min)
				st->n_below++;
			else if (x > bc->max)
				st->n_above++;
			st->bins[ds_bin_of(x, bc->edges, bc->nedges)]++;
		}
	}
	PG_RETURN_DATUM(drift_datum(st));
}

PG_FUNCTION_INFO_V1(mlops_drift_numeric_trans);
Datum
mlops_drift_numeric_trans(PG_FUNCTION_ARGS)
{
	return numeric_trans(fcinfo, false, "a drift aggregate");
}

PG_FUNCTION_INFO_V1(mlops_drift_numeric_values_trans);
Datum
mlops_drift_numeric_values_trans(PG_FUNCTION_ARGS)
{
	return numeric_trans(fcinfo, true, "a drift aggregate");
}

PG_FUNCTION_INFO_V1(mlops_drift_categorical_trans);
Datum
mlops_drift_categorical_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = agg_context(fcinfo, "a drift aggregate");
	BaselineCol *bc = transition_baseline(fcinfo, DRIFT_CATEGORICAL, "a drift aggregate");
	DriftState *st;

	if (PG_ARGISNULL(0))
	{
		st = drift_new(aggcxt, DRIFT_CATEGORICAL, 0, bc->cats.n);
		st->baseline_id = bc->baseline_id;
		st->position = bc->position;
	}
	else
	{
		st = drift_from_datum(PG_GETARG_DATUM(0), aggcxt, NULL);
		if (st->baseline_id != bc->baseline_id || st->position != bc->position)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a drift aggregate was given another baseline or feature within one group")));
	}
	st->n_rows++;
	if (PG_ARGISNULL(1))
		st->n_null++;
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(1);
		int			k = strindex_lookup(&bc->cats, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

		st->n++;
		if (k >= 0)
			st->bins[k]++;
		else
		{
			/* a category the baseline never saw: counted by name, up to a bound */
			if (st->newcats.n < mlops_drift_max_categories ||
				strindex_lookup(&st->newcats, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) >= 0)
				drift_newcat_add(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), 1);
			else
				drift_newcat_add(st, "(other new categories)", strlen("(other new categories)"), 1);
		}
	}
	PG_RETURN_DATUM(drift_datum(st));
}

/* splitmix64: a capture's sample is drawn from a fixed seed, so a capture is repeatable */
static uint64
next_random(uint64 *s)
{
	uint64		z = (*s += UINT64CONST(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

PG_FUNCTION_INFO_V1(mlops_drift_capture_numeric_trans);

/*
 * A capture of a numeric column: every finite value up to max_values, then
 * a uniform random sample of max_values of them (reservoir sampling,
 * Vitter's algorithm R).
 */
Datum
mlops_drift_capture_numeric_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = agg_context(fcinfo, "_drift_capture");
	DriftState *st;
	int64		limit = PG_ARGISNULL(2) ? mlops_drift_baseline_values : PG_GETARG_INT32(2);

	if (limit < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a capture keeps at least one value, not " INT64_FORMAT, limit)));
	if (PG_ARGISNULL(0))
		st = drift_new(aggcxt, DRIFT_NUMERIC, DRIFT_KEEP_VALUES | DRIFT_CAPTURE, 0);
	else
		st = drift_from_datum(PG_GETARG_DATUM(0), aggcxt, NULL);
	st->n_rows++;
	if (PG_ARGISNULL(1))
		st->n_null++;
	else
	{
		double		x = PG_GETARG_FLOAT8(1);

		if (isnan(x))
			st->n_nan++;
		else if (isinf(x))
			st->n_inf++;
		else
		{
			x += 0.0;
			drift_add_finite(st, x);
			st->seen++;
			if (st->nvalues < limit)
			{
				if (st->nvalues == st->cap)
					drift_reserve(st, 1);
				st->values[st->nvalues++] = x;
			}
			else
			{
				uint64		j = next_random(&st->prng) % (uint64) st->seen;

				if (j < (uint64) limit)
					st->values[j] = x;
			}
		}
	}
	PG_RETURN_DATUM(drift_datum(st));
}

PG_FUNCTION_INFO_V1(mlops_drift_capture_categorical_trans);

Datum
mlops_drift_capture_categorical_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = agg_context(fcinfo, "_drift_capture");
	DriftState *st;

	if (PG_ARGISNULL(0))
		st = drift_new(aggcxt, DRIFT_CATEGORICAL, DRIFT_CAPTURE, 0);
	else
		st = drift_from_datum(PG_GETARG_DATUM(0), aggcxt, NULL);
	st->n_rows++;
	if (PG_ARGISNULL(1))
		st->n_null++;
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(1);

		st->n++;
		drift_newcat_add(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), 1);
		if (st->newcats.n > mlops_drift_max_categories)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a categorical column has more than %d distinct values", mlops_drift_max_categories),
					 errdetail("A column with that many values is more likely an identifier than a category."),
					 errhint("Leave it out of the baseline (columns), capture it as numeric (options "
							 "{\"kinds\": {\"column\": \"numeric\"}}), or raise mlops.drift_max_categories.")));
	}
	PG_RETURN_DATUM(drift_datum(st));
}

/*
 * a's kept values and b's, sorted: two sorted runs (workers sort theirs as
 * they hand them on) are merged in linear time, an unsorted one sorted
 * first, so that the final function has nothing left to sort.
 */
static void
combine_values(DriftState *a, DriftState *b)
{
	double	   *merged;
	int64		i = 0,
				j = 0,
				k = 0;

	if (a->nvalues == 0)
	{
		drift_reserve(a, b->nvalues);
		memcpy(a->values, b->values, sizeof(double) * b->nvalues);
		a->nvalues = b->nvalues;
		a->flags = (a->flags & ~DRIFT_SORTED) | (b->flags & DRIFT_SORTED);
		return;
	}
	if (!(a->flags & DRIFT_SORTED))
	{
		sort_float8s(a->values, a->nvalues);
		a->flags |= DRIFT_SORTED;
	}
	if (!(b->flags & DRIFT_SORTED))
	{
		sort_float8s(b->values, b->nvalues);
		b->flags |= DRIFT_SORTED;
	}
	merged = MemoryContextAllocHuge(a->hdr.eoh_context, sizeof(double) * (a->nvalues + b->nvalues));
	while (i < a->nvalues && j < b->nvalues)
		merged[k++] = (b->values[j] < a->values[i]) ? b->values[j++] : a->values[i++];
	while (i < a->nvalues)
		merged[k++] = a->values[i++];
	while (j < b->nvalues)
		merged[k++] = b->values[j++];
	pfree(a->values);
	a->values = merged;
	a->nvalues = a->cap = k;
}

PG_FUNCTION_INFO_V1(mlops_drift_combine);

/* Combine two partial states (parallel workers, Citus). */
Datum
mlops_drift_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = agg_context(fcinfo, "_drift_combine");
	bool		writable;
	DriftState *a;
	DriftState *b;
	double		delta;
	int64		n;

	/* not strict (a strict internal function's NULL call would be folded without a privilege check) */
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
	{
		/* the first partial state: a copy of it, owned by the aggregate */
		b = drift_from_datum(PG_GETARG_DATUM(1), CurrentMemoryContext, NULL);
		PG_RETURN_DATUM(drift_datum(drift_copy(b, aggcxt)));
	}
	a = drift_from_datum(PG_GETARG_DATUM(0), aggcxt, &writable);
	b = drift_from_datum(PG_GETARG_DATUM(1), CurrentMemoryContext, NULL);

	/* a read-only expanded state is somebody else's: work on a copy */
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(PG_GETARG_DATUM(0))) && !writable)
		a = drift_copy(a, aggcxt);
	if (a->kind != b->kind || a->baseline_id != b->baseline_id || a->position != b->position ||
		a->nbins != b->nbins || (a->flags & ~(DRIFT_SORTED | DRIFT_DERIVED)) != (b->flags & ~(DRIFT_SORTED | DRIFT_DERIVED)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine drift states of different baselines, features or aggregates")));
	if (a->flags & DRIFT_CAPTURE)
		elog(ERROR, "a capture is not combined");
	if ((a->flags | b->flags) & DRIFT_DERIVED)
		corrupt_state("a finished state is not combined");
	a->n_rows += b->n_rows;
	a->n_null += b->n_null;
	a->n_nan += b->n_nan;
	a->n_inf += b->n_inf;
	a->n_below += b->n_below;
	a->n_above += b->n_above;
	/* Chan et al.'s pairwise update of the mean and M2 */
	n = a->n + b->n;
	if (b->n > 0)
	{
		delta = b->mean - a->mean;
		a->m2 = a->m2 + b->m2 + delta * delta * ((double) a->n * (double) b->n / (double) n);
		a->mean = a->mean + delta * ((double) b->n / (double) n);
		a->n = n;
		a->min = Min(a->min, b->min);
		a->max = Max(a->max, b->max);
	}
	for (int i = 0; i < a->nbins; i++)
		a->bins[i] += b->bins[i];
	if (b->nvalues > 0)
		combine_values(a, b);
	for (int k = 0; k < b->newcats.n; k++)
	{
		const char *name = b->newcats.names[k];
		int			len = b->newcats.lens[k];

		if (a->newcats.n >= mlops_drift_max_categories && strindex_lookup(&a->newcats, name, len) < 0)
		{
			name = "(other new categories)";
			len = strlen(name);
		}
		drift_newcat_add(a, name, len, b->newcounts[k]);
	}
	PG_RETURN_DATUM(drift_datum(a));
}

/* ------------------------------------------------------------------------
 * Final functions
 * ------------------------------------------------------------------------
 */

/* The state a final function reads; NULL when the aggregate saw no rows. */
static DriftState *
final_state(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		return NULL;
	return drift_from_datum(PG_GETARG_DATUM(0), CurrentMemoryContext, NULL);
}

/*
 * Sort the kept values once: the finals that share a state (FINALFUNC_MODIFY
 * = SHAREABLE) only read them in order, so sorting in place changes nothing
 * any of them sees.
 */
static void
sort_state_values(DriftState *st)
{
	if (!(st->flags & DRIFT_SORTED))
	{
		sort_float8s(st->values, st->nvalues);
		st->flags |= DRIFT_SORTED;
	}
}

/*
 * The summary of a state that kept its values, from them: count, mean and
 * M2 (compensated sums over the sorted values), min, max, the counts per
 * baseline bin (one merge of the values with the edges) and the values out
 * of the baseline's range (added to the infinite ones counted per row).
 */
static void
derive_from_values(DriftState *st, const BaselineCol *bc)
{
	DsSum		sum = {0, 0},
				sq = {0, 0};
	double		mean;
	int			k = 0;

	if (!(st->flags & DRIFT_KEEP_VALUES) || (st->flags & DRIFT_DERIVED))
		return;
	sort_state_values(st);
	for (int i = 0; i < st->nbins; i++)
		st->bins[i] = 0;
	for (int64 i = 0; i < st->nvalues; i++)
	{
		double		x = st->values[i];

		ds_sum_add(&sum, x);
		while (k < bc->nedges && bc->edges[k] <= x)
			k++;
		st->bins[k]++;
		if (x < bc->min)
			st->n_below++;
		else if (x > bc->max)
			st->n_above++;
	}
	mean = st->nvalues > 0 ? ds_sum_value(&sum) / st->nvalues : 0;
	for (int64 i = 0; i < st->nvalues; i++)
		ds_sum_add(&sq, (st->values[i] - mean) * (st->values[i] - mean));
	st->mean = mean;
	st->m2 = ds_sum_value(&sq);
	if (st->nvalues > 0)
	{
		st->min = st->values[0];
		st->max = st->values[st->nvalues - 1];
	}
	st->flags |= DRIFT_DERIVED;
}

/* Reference and current counts over the same bins or categories (new categories last). */
static int
paired_counts(const DriftState *st, const BaselineCol *bc, double **ref, double **cur)
{
	int			k = st->nbins + st->newcats.n;
	double	   *r = palloc0(sizeof(double) * Max(k, 1));
	double	   *c = palloc0(sizeof(double) * Max(k, 1));

	for (int i = 0; i < st->nbins; i++)
	{
		r[i] = bc->ref_bins[i];
		c[i] = (double) st->bins[i];
	}
	for (int j = 0; j < st->newcats.n; j++)
		c[st->nbins + j] = (double) st->newcounts[j];
	*ref = r;
	*cur = c;
	return k;
}

static void
ks_against_baseline(DriftState *st, const BaselineCol *bc, DsKsResult *r)
{
	sort_state_values(st);
	if (bc->exact)
		ks_sorted(bc->ref_values, bc->nref_values, st->values, st->nvalues, DS_KS_AUTO, r);
	else
	{
		/* the reference is a sample: its statistic, the p-value of the full sizes */
		r->statistic = ds_ks_statistic_sorted(bc->ref_values, bc->nref_values, st->values, st->nvalues);
		r->p_value = ds_ks_asymp_p(r->statistic, (double) bc->n_ref, (double) st->nvalues);
		r->method = DS_KS_ASYMP;
	}
}

static void
chisquare_against_baseline(const DriftState *st, const BaselineCol *bc, double *stat, double *p)
{
	double	   *r,
			   *c;
	int			k = paired_counts(st, bc, &r, &c);
	double		rsum = 0;

	/* expected: the reference's proportions scaled to the current count (Evidently's) */
	for (int i = 0; i < k; i++)
		rsum += r[i];
	for (int i = 0; i < k; i++)
		r[i] = r[i] * ((double) st->n / rsum);
	ds_chisquare(c, r, k, stat, p);
}

/* A statistic of the paired counts (psi, js_distance), NULL with no current values. */
static Datum
counts_final(FunctionCallInfo fcinfo, double (*stat) (const double *, const double *, int))
{
	DriftState *st = final_state(fcinfo);
	BaselineCol *bc;
	double	   *r,
			   *c;
	int			k;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	bc = final_baseline(fcinfo, st, false);
	k = paired_counts(st, bc, &r, &c);
	PG_RETURN_FLOAT8(stat(r, c, k));
}

PG_FUNCTION_INFO_V1(mlops_drift_psi_final);
Datum
mlops_drift_psi_final(PG_FUNCTION_ARGS)
{
	return counts_final(fcinfo, ds_psi_counts);
}

PG_FUNCTION_INFO_V1(mlops_drift_js_final);
Datum
mlops_drift_js_final(PG_FUNCTION_ARGS)
{
	return counts_final(fcinfo, ds_js_distance_counts);
}

PG_FUNCTION_INFO_V1(mlops_drift_ks_final);
Datum
mlops_drift_ks_final(PG_FUNCTION_ARGS)
{
	DriftState *st = final_state(fcinfo);
	BaselineCol *bc;
	DsKsResult	r;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	bc = final_baseline(fcinfo, st, true);
	if (bc->nref_values == 0)
		PG_RETURN_NULL();
	ks_against_baseline(st, bc, &r);
	PG_RETURN_DATUM(ks_result_datum(fcinfo, &r));
}

PG_FUNCTION_INFO_V1(mlops_drift_wasserstein_final);
Datum
mlops_drift_wasserstein_final(PG_FUNCTION_ARGS)
{
	DriftState *st = final_state(fcinfo);
	BaselineCol *bc;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	bc = final_baseline(fcinfo, st, true);
	if (bc->nref_values == 0)
		PG_RETURN_NULL();
	sort_state_values(st);
	PG_RETURN_FLOAT8(ds_wasserstein_sorted(bc->ref_values, bc->nref_values, st->values, st->nvalues));
}

PG_FUNCTION_INFO_V1(mlops_drift_chisquare_final);
Datum
mlops_drift_chisquare_final(PG_FUNCTION_ARGS)
{
	DriftState *st = final_state(fcinfo);
	BaselineCol *bc;
	double		stat,
				p;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	bc = final_baseline(fcinfo, st, true);
	chisquare_against_baseline(st, bc, &stat, &p);
	PG_RETURN_DATUM(chisquare_result_datum(fcinfo, stat, p));
}

/* the shortest text that reads back as the same double, as float8out writes it */
static void
append_double(StringInfo buf, double x)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (!isfinite(x))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	double_to_shortest_decimal_buf(x, digits);
	appendStringInfoString(buf, digits);
}

static void
json_number(StringInfo buf, const char *key, double x)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	append_double(buf, x);
}

static void
json_numbers(StringInfo buf, const double *x, int n, double scale)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		double		v = x[i] * scale;

		if (i)
			appendStringInfoString(buf, ", ");
		append_double(buf, v);
	}
	appendStringInfoChar(buf, ']');
}

static double
ratio(int64 num, int64 den)
{
	return den > 0 ? (double) num / (double) den : NAN;
}

PG_FUNCTION_INFO_V1(mlops_drift_stats_final);

/*
 * Every statistic of the state's kind, as jsonb (drift_report's stats), and
 * the histogram the HTML report draws.  Statistics that cannot be computed
 * (no current values; a reference standard deviation of 0 for std_ratio)
 * are null.
 */
Datum
mlops_drift_stats_final(PG_FUNCTION_ARGS)
{
	DriftState *st = final_state(fcinfo);
	BaselineCol *bc;
	StringInfoData buf;
	int64		present;
	double	   *r,
			   *c;
	int			k;
	double		rsum = 0,
				csum = 0;

	if (st == NULL)
		PG_RETURN_NULL();
	bc = final_baseline(fcinfo, st, true);
	if (st->kind == DRIFT_NUMERIC)
		derive_from_values(st, bc);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"%s\", \"n_rows\": " INT64_FORMAT ", \"n_current\": " INT64_FORMAT
					 ", \"n_reference\": " INT64_FORMAT,
					 st->kind == DRIFT_NUMERIC ? "numeric" : "categorical", st->n_rows, st->n, bc->n_ref);
	json_number(&buf, "null_rate", ratio(st->n_null, st->n_rows));
	k = paired_counts(st, bc, &r, &c);
	for (int i = 0; i < k; i++)
	{
		rsum += r[i];
		csum += c[i];
	}
	if (st->kind == DRIFT_NUMERIC)
	{
		double		std = st->n > 0 ? sqrt(st->m2 / st->n) : NAN;

		present = st->n_rows - st->n_null;
		json_number(&buf, "nan_rate", ratio(st->n_nan, st->n_rows));
		json_number(&buf, "out_of_range_rate", ratio(st->n_below + st->n_above, present - st->n_nan));
		json_number(&buf, "infinite_rate", ratio(st->n_inf, st->n_rows));
		json_number(&buf, "mean", st->n > 0 ? st->mean : NAN);
		json_number(&buf, "std", std);
		json_number(&buf, "min", st->n > 0 ? st->min : NAN);
		json_number(&buf, "max", st->n > 0 ? st->max : NAN);
		json_number(&buf, "reference_mean", bc->mean);
		json_number(&buf, "reference_std", bc->std);
		if (st->n > 0 && bc->nref_values > 0)
		{
			DsKsResult	ks;
			double		w;

			sort_state_values(st);
			if (bc->exact && Max(bc->nref_values, st->nvalues) <= 10000)
			{
				/* small samples: exact KS (auto), then Wasserstein */
				ks_against_baseline(st, bc, &ks);
				w = ds_wasserstein_sorted(bc->ref_values, bc->nref_values, st->values, st->nvalues);
			}
			else
			{
				/* auto is asymptotic here: both statistics from one merge */
				ds_ks_wasserstein_sorted(bc->ref_values, bc->nref_values, st->values, st->nvalues,
										 &ks.statistic, &w);
				ks.p_value = ds_ks_asymp_p(ks.statistic, (double) bc->n_ref, (double) st->nvalues);
				ks.method = DS_KS_ASYMP;
			}
			json_number(&buf, "psi", ds_psi_counts(r, c, k));
			json_number(&buf, "ks_statistic", ks.statistic);
			json_number(&buf, "ks_p_value", ks.p_value);
			appendStringInfo(&buf, ", \"ks_method\": \"%s\"", ks_method_name(ks.method));
			json_number(&buf, "wasserstein", w);
			/* Evidently's normalisation: by the reference std, floored at 0.001 */
			json_number(&buf, "wasserstein_norm", w / Max(bc->std, 0.001));
			json_number(&buf, "js_distance", ds_js_distance_counts(r, c, k));
			json_number(&buf, "mean_shift", bc->std > 0 ? (st->mean - bc->mean) / bc->std : NAN);
			json_number(&buf, "std_ratio", bc->std > 0 ? std / bc->std : NAN);
		}
		appendStringInfoString(&buf, ", \"histogram\": {\"edges\": ");
		json_numbers(&buf, bc->edges, bc->nedges, 1.0);
		json_number(&buf, "min", bc->min);
		json_number(&buf, "max", bc->max);
	}
	else
	{
		int64		nnew = 0;

		for (int j = 0; j < st->newcats.n; j++)
			nnew += st->newcounts[j];
		json_number(&buf, "new_category_rate", ratio(nnew, st->n));
		if (st->n > 0)
		{
			double		stat,
						p;

			chisquare_against_baseline(st, bc, &stat, &p);
			/* an unseen category makes the statistic infinite: JSON has no Infinity, say so */
			if (isinf(stat))
				appendStringInfoString(&buf, ", \"chi2_statistic\": \"Infinity\"");
			else
				json_number(&buf, "chi2_statistic", stat);
			json_number(&buf, "chi2_p_value", p);
			json_number(&buf, "psi", ds_psi_counts(r, c, k));
			json_number(&buf, "js_distance", ds_js_distance_counts(r, c, k));
		}
		appendStringInfoString(&buf, ", \"histogram\": {\"categories\": [");
		for (int i = 0; i < bc->cats.n; i++)
		{
			if (i)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, bc->cats.names[i]);
		}
		for (int j = 0; j < st->newcats.n; j++)
		{
			if (bc->cats.n + j)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, st->newcats.names[j]);
		}
		appendStringInfo(&buf, "], \"new\": %d", st->newcats.n);
	}
	appendStringInfoString(&buf, ", \"reference\": ");
	json_numbers(&buf, r, k, rsum > 0 ? 1.0 / rsum : NAN);
	appendStringInfoString(&buf, ", \"current\": ");
	json_numbers(&buf, c, k, csum > 0 ? 1.0 / csum : NAN);
	appendStringInfoString(&buf, "}}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* ------------------------------------------------------------------------
 * Capturing a baseline
 * ------------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(mlops_drift_capture_final);

/* A finished capture: the kept values sorted, as a flat state. */
Datum
mlops_drift_capture_final(PG_FUNCTION_ARGS)
{
	DriftState *st = final_state(fcinfo);
	Size		size;
	void	   *flat;

	if (st == NULL)
		PG_RETURN_NULL();
	if (st->kind == DRIFT_NUMERIC)
		sort_state_values(st);
	size = drift_flat_size(&st->hdr);
	flat = palloc(size);
	drift_flatten(&st->hdr, flat, size);
	PG_RETURN_POINTER(flat);
}

static int
category_order(const void *a, const void *b, void *arg)
{
	const DriftState *st = arg;
	int			i = *(const int *) a,
				j = *(const int *) b;
	int			cmp;

	if (st->newcounts[i] != st->newcounts[j])
		return st->newcounts[i] > st->newcounts[j] ? -1 : 1;
	cmp = memcmp(st->newcats.names[i], st->newcats.names[j], Min(st->newcats.lens[i], st->newcats.lens[j]));
	if (cmp != 0)
		return cmp;
	return st->newcats.lens[i] - st->newcats.lens[j];
}

PG_FUNCTION_INFO_V1(mlops_drift_capture_summary);

/*
 * _drift_capture_summary(state drift_state, bins int): what a baseline
 * stores of a captured column.  Numeric: counts, mean and standard
 * deviation (ddof = 0, numpy's default), min, max, the sorted values (all,
 * or the sample), bin edges (numpy.quantile 'linear' at k/bins) and counts
 * per bin (scaled from the sample when sampled), and the bound the sample
 * puts on a KS statistic.  Categorical: counts per category, most frequent
 * first.
 */
Datum
mlops_drift_capture_summary(PG_FUNCTION_ARGS)
{
	DriftState *st;
	int			bins;
	TupleDesc	desc;
	Datum		values[16];
	bool		nulls[16];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	st = drift_from_datum(PG_GETARG_DATUM(0), CurrentMemoryContext, NULL);
	bins = check_bins(PG_GETARG_INT32(1));

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != 16)
		elog(ERROR, "_drift_capture_summary must return a row of 16 columns");
	desc = BlessTupleDesc(desc);
	memset(nulls, true, sizeof(nulls));
	values[0] = Int64GetDatum(st->n_rows);
	values[1] = Int64GetDatum(st->n_null);
	values[2] = Int64GetDatum(st->n_nan);
	values[3] = Int64GetDatum(st->n_inf);
	values[4] = Int64GetDatum(st->n);
	nulls[0] = nulls[1] = nulls[2] = nulls[3] = nulls[4] = false;
	if (st->kind == DRIFT_NUMERIC && st->n > 0)
	{
		double	   *edges = palloc(sizeof(double) * (bins - 1));
		double	   *counts = palloc0(sizeof(double) * bins);
		bool		exact = st->nvalues == st->n;
		double		scale = (double) st->n / (double) st->nvalues;

		sort_state_values(st);
		ds_bin_edges(st->values, st->nvalues, bins, edges);
		for (int64 i = 0; i < st->nvalues; i++)
			counts[ds_bin_of(st->values[i], edges, bins - 1)] += 1;
		if (!exact)
			for (int i = 0; i < bins; i++)
				counts[i] *= scale;
		values[5] = Float8GetDatum(st->mean);
		values[6] = Float8GetDatum(sqrt(st->m2 / st->n));
		values[7] = Float8GetDatum(st->min);
		values[8] = Float8GetDatum(st->max);
		values[9] = PointerGetDatum(float8_array(st->values, st->nvalues));
		values[10] = BoolGetDatum(exact);
		values[11] = PointerGetDatum(float8_array(edges, bins - 1));
		values[12] = PointerGetDatum(float8_array(counts, bins));
		/*
		 * Dvoretzky-Kiefer-Wolfowitz (Massart's constant): the sample's
		 * empirical CDF is within this of the full reference's everywhere,
		 * with probability 0.999; so is the KS statistic against it.
		 */
		values[15] = Float8GetDatum(exact ? 0.0 : sqrt(log(2.0 / 0.001) / (2.0 * st->nvalues)));
		for (int i = 5; i <= 12; i++)
			nulls[i] = false;
		nulls[15] = false;
	}
	else if (st->kind == DRIFT_CATEGORICAL)
	{
		int			k = st->newcats.n;
		int		   *order = palloc(sizeof(int) * Max(k, 1));
		Datum	   *names = palloc(sizeof(Datum) * Max(k, 1));
		double	   *counts = palloc(sizeof(double) * Max(k, 1));

		for (int i = 0; i < k; i++)
			order[i] = i;
		qsort_arg(order, k, sizeof(int), category_order, st);
		for (int i = 0; i < k; i++)
		{
			names[i] = PointerGetDatum(cstring_to_text_with_len(st->newcats.names[order[i]],
																 st->newcats.lens[order[i]]));
			counts[i] = (double) st->newcounts[order[i]];
		}
		values[13] = PointerGetDatum(construct_array(names, k, TEXTOID, -1, false, TYPALIGN_INT));
		values[14] = PointerGetDatum(float8_array(counts, k));
		nulls[13] = nulls[14] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* One row's values, all of one type: what a capture query returns. */
typedef struct CaptureRow
{
	const char *sql;
	MemoryContext cxt;
	int			ncols;
	Oid			type;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *values;
	bool	   *nulls;
} CaptureRow;

static void
copy_capture_row(SPITupleTable *tuptable, uint64 processed, void *arg)
{
	CaptureRow *row = arg;
	TupleDesc	desc = tuptable->tupdesc;

	if (processed != 1 || desc->natts == 0)
		elog(ERROR, "expected one row of at least one column from: %s", row->sql);
	row->ncols = desc->natts;
	row->type = TupleDescAttr(desc, 0)->atttypid;
	get_typlenbyvalalign(row->type, &row->typlen, &row->typbyval, &row->typalign);
	row->values = MemoryContextAlloc(row->cxt, sizeof(Datum) * row->ncols);
	row->nulls = MemoryContextAlloc(row->cxt, sizeof(bool) * row->ncols);
	for (int i = 0; i < row->ncols; i++)
	{
		Datum		v;

		if (TupleDescAttr(desc, i)->atttypid != row->type)
			elog(ERROR, "the columns of a capture query are all of one type");
		v = SPI_getbinval(tuptable->vals[0], desc, i + 1, &row->nulls[i]);
		row->values[i] = row->nulls[i] ? (Datum) 0 : SPI_datumTransfer(v, row->typbyval, row->typlen);
	}
}

/*
 * Run a query as the invoking role, under the search_path it called with
 * (capture_baseline passes it in: the functions in between pin theirs), and
 * return its one row's values, all of one type, as an array.  The source
 * of a baseline is read with its creator's privileges and row-level
 * security, never the extension owner's (spi_as_invoker, tracking.c).
 */
PG_FUNCTION_INFO_V1(mlops_drift_run_as_invoker);

Datum
mlops_drift_run_as_invoker(PG_FUNCTION_ARGS)
{
	CaptureRow	row = {0};
	int			dims[1];
	int			lbs[1] = {1};

	if (PG_ARGISNULL(0))
		null_argument("query");
	row.sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	row.cxt = CurrentMemoryContext;
	spi_as_invoker(row.sql, 0, NULL, NULL, true, 2,
				   PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)), copy_capture_row, &row);
	dims[0] = row.ncols;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(row.values, row.nulls, 1, dims, lbs, row.type, row.typlen,
											 row.typbyval, row.typalign));
}

typedef struct SourceColumns
{
	MemoryContext cxt;
	TupleDesc	desc;
} SourceColumns;

static void
copy_source_columns(SPITupleTable *tuptable, uint64 processed, void *arg)
{
	SourceColumns *cols = arg;
	MemoryContext old = MemoryContextSwitchTo(cols->cxt);

	cols->desc = CreateTupleDescCopy(tuptable->tupdesc);
	MemoryContextSwitchTo(old);
}

PG_FUNCTION_INFO_V1(mlops_describe_source);

/*
 * _describe_source(sql text, search_path text): the columns (name, type)
 * of a table, view or query, as the invoking role sees them.
 */
Datum
mlops_describe_source(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SourceColumns cols = {CurrentMemoryContext, NULL};

	if (PG_ARGISNULL(0))
		null_argument("source_sql");
	InitMaterializedSRF(fcinfo, 0);
	spi_as_invoker(psprintf("SELECT * FROM %s s LIMIT 0", text_to_cstring(PG_GETARG_TEXT_PP(0))), 0, NULL, NULL,
				   true, 0, PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
				   copy_source_columns, &cols);
	for (int i = 0; i < cols.desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(cols.desc, i);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (a->attisdropped)
			continue;
		values[0] = Int32GetDatum(i + 1);
		values[1] = CStringGetTextDatum(NameStr(a->attname));
		values[2] = ObjectIdGetDatum(a->atttypid);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
