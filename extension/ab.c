/*
 * ab.c
 *	  A/B tests of model versions: GrowthBook-compatible assignment (the hash,
 *	  bucket ranges, choosing a variation, namespaces), and the SQL face of
 *	  the statistics in ab_stats.c.
 *
 * Assignment must agree bit for bit with GrowthBook's JavaScript SDK, so that
 * an application and a query put a unit in the same variant.  The SDK hashes
 * with 32-bit FNV-1a over the UTF-16 code units of a JavaScript string (what
 * charCodeAt returns): characters outside the Basic Multilingual Plane count
 * as two surrogates.  Here text arrives in the server encoding, is read as
 * UTF-8 (converted first when the database is not UTF-8) and each code point
 * above U+FFFF is split into its surrogate pair.  The Python SDK hashes code
 * points (ord()) instead, so the two SDKs, and we and the Python SDK, differ
 * for ids containing such characters (emoji, rarer CJK ideographs); they
 * agree on everything in the BMP, combining marks included.
 *
 * Floating point follows the SDK's order of operations so that the results
 * are the same doubles: ranges are built by adding the weights left to
 * right, and a hash is (h % 10000) / 10000 in double precision.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "ab_stats.h"
#include "mlops.h"

#define FNV_OFFSET	0x811c9dc5u
#define FNV_PRIME	16777619u

/*
 * FNV-1a over the UTF-16 code units of a UTF-8 string, continuing from h.
 * Invalid UTF-8 cannot reach here (text is verified on input), so a lead
 * byte's length is trusted.
 */
static uint32
fnv1a_utf16(uint32 h, const unsigned char *s, int len)
{
	const unsigned char *end = s + len;

	while (s < end)
	{
		uint32		c = *s;

		if (c < 0x80)
		{
			h = (h ^ c) * FNV_PRIME;
			s++;
			continue;
		}
		else if (c < 0xE0 && s + 1 < end)
		{
			c = ((c & 0x1F) << 6) | (s[1] & 0x3F);
			s += 2;
		}
		else if (c < 0xF0 && s + 2 < end)
		{
			c = ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
			s += 3;
		}
		else if (s + 3 < end)
		{
			c = ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
			s += 4;
		}
		else
		{
			/* a truncated sequence: hash the byte as it is rather than read past the end */
			h = (h ^ c) * FNV_PRIME;
			s++;
			continue;
		}

		if (c > 0xFFFF)
		{
			uint32		v = c - 0x10000;

			h = (h ^ (0xD800 | (v >> 10))) * FNV_PRIME;
			h = (h ^ (0xDC00 | (v & 0x3FF))) * FNV_PRIME;
		}
		else
			h = (h ^ c) * FNV_PRIME;
	}
	return h;
}

/*
 * The text's bytes as UTF-8; *freeme is set when a conversion allocated them.
 * enc is GetDatabaseEncoding(), read once by the caller.
 */
static inline const unsigned char *
text_utf8(text *t, int enc, int *len, char **freeme)
{
	char	   *s = VARDATA_ANY(t);
	int			n = VARSIZE_ANY_EXHDR(t);
	char	   *conv;

	*freeme = NULL;
	if (likely(enc == PG_UTF8 || enc == PG_SQL_ASCII))
	{
		*len = n;
		return (const unsigned char *) s;
	}
	conv = (char *) pg_do_encoding_conversion((unsigned char *) s, n, enc, PG_UTF8);
	if (conv != s)
		*freeme = conv;
	*len = strlen(conv);
	return (const unsigned char *) conv;
}

/*
 * FNV-1a over the decimal digits of x, continuing from h: the hash of
 * JavaScript's String(x) for an unsigned 32-bit x: what snprintf("%u") gave,
 * without its cost (over a quarter of ab_hash's time in a profile).
 */
static inline uint32
fnv1a_decimal(uint32 h, uint32 x)
{
	unsigned char digits[10];
	int			n = 0;

	do
	{
		digits[n++] = (unsigned char) ('0' + x % 10);
		x /= 10;
	} while (x != 0);
	while (n > 0)
		h = (h ^ digits[--n]) * FNV_PRIME;
	return h;
}

/*
 * GrowthBook's hash(seed, value, version) for versions 1 and 2; for version 2,
 * seed_state is fnv1a_utf16(FNV_OFFSET, seed) (the seed comes first, so its
 * part of the hash can be kept from call to call).
 */
static inline double
ab_hash_value(uint32 seed_state, const unsigned char *seed, int seed_len,
			  const unsigned char *value, int value_len, int version)
{
	uint32		h;

	if (version == 2)
	{
		h = fnv1a_utf16(seed_state, value, value_len);
		/* hash the decimal form of the first hash (JavaScript's number + "") */
		h = fnv1a_decimal(FNV_OFFSET, h);
		return (double) (h % 10000) / 10000.0;
	}
	/* version 1 */
	h = fnv1a_utf16(FNV_OFFSET, value, value_len);
	h = fnv1a_utf16(h, seed, seed_len);
	return (double) (h % 1000) / 1000.0;
}

/*
 * ab_hash's memory between calls (fn_extra): the last seed, as the server
 * stored it, and FNV's state after it.  A test's seed is the same for every
 * row of a query, so version 2 hashes it once; the cache is checked by
 * comparing bytes, so any seed, constant or not, gives the same result.
 */
typedef struct AbSeedCache
{
	int			len;			/* -1: empty */
	int			cap;
	uint32		state;
	char	   *bytes;
} AbSeedCache;

static uint32
ab_seed_state(FmgrInfo *flinfo, text *seed, int enc)
{
	AbSeedCache *c = flinfo ? (AbSeedCache *) flinfo->fn_extra : NULL;
	const char *raw = VARDATA_ANY(seed);
	int			raw_len = VARSIZE_ANY_EXHDR(seed);
	const unsigned char *s;
	int			slen;
	char	   *freeme;
	uint32		state;

	if (c != NULL && c->len == raw_len && memcmp(c->bytes, raw, raw_len) == 0)
		return c->state;
	s = text_utf8(seed, enc, &slen, &freeme);
	state = fnv1a_utf16(FNV_OFFSET, s, slen);
	if (freeme)
		pfree(freeme);
	/* no cache without an FmgrInfo (DirectFunctionCall) or for a long seed */
	if (flinfo != NULL && raw_len <= 1024)
	{
		if (c == NULL)
		{
			c = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(AbSeedCache));
			c->cap = 32;
			c->bytes = MemoryContextAlloc(flinfo->fn_mcxt, c->cap);
			flinfo->fn_extra = c;
		}
		c->len = -1;
		if (c->cap < raw_len)
		{
			pfree(c->bytes);
			c->bytes = MemoryContextAlloc(flinfo->fn_mcxt, raw_len);
			c->cap = raw_len;
		}
		memcpy(c->bytes, raw, raw_len);
		c->len = raw_len;
		c->state = state;
	}
	return state;
}

PG_FUNCTION_INFO_V1(mlops_ab_hash);
Datum
mlops_ab_hash(PG_FUNCTION_ARGS)
{
	text	   *seed = PG_GETARG_TEXT_PP(0);
	text	   *value = PG_GETARG_TEXT_PP(1);
	int32		version = PG_GETARG_INT32(2);
	int			enc = GetDatabaseEncoding();
	const unsigned char *s = NULL,
			   *v;
	int			slen = 0,
				vlen;
	char	   *f1 = NULL,
			   *f2;
	uint32		seed_state = 0;
	double		h;

	if (version != 1 && version != 2)
		PG_RETURN_NULL();
	if (version == 2)
		seed_state = ab_seed_state(fcinfo->flinfo, seed, enc);
	else
		s = text_utf8(seed, enc, &slen, &f1);
	v = text_utf8(value, enc, &vlen, &f2);
	h = ab_hash_value(seed_state, s, slen, v, vlen, version);
	if (f1)
		pfree(f1);
	if (f2)
		pfree(f2);
	PG_RETURN_FLOAT8(h);
}

/*
 * GrowthBook's getBucketRanges(n, coverage, weights) into ranges[2 * n]:
 * coverage clamped to [0, 1] (NaN kept, as the SDK keeps it), equal weights
 * when weights is NULL, of another length, or sums (left to right) outside
 * [0.99, 1.01].
 */
static void
ab_bucket_ranges_values(int n, double coverage, const double *weights, int n_weights, double *ranges)
{
	double		total = 0;
	double		cumulative = 0;
	bool		equal = (weights == NULL || n_weights != n);
	int			i;

	if (coverage < 0)
		coverage = 0;
	else if (coverage > 1)
		coverage = 1;
	if (!equal)
	{
		for (i = 0; i < n; i++)
			total += weights[i];
		if (total < 0.99 || total > 1.01)
			equal = true;
	}
	for (i = 0; i < n; i++)
	{
		double		w = equal ? 1.0 / n : weights[i];
		double		start = cumulative;

		cumulative += w;
		ranges[2 * i] = start;
		ranges[2 * i + 1] = start + coverage * w;
	}
}

/* a float8[] without NULLs as a C array (detoasted); n set */
static double *
float8_array_values(ArrayType *a, const char *what, int *n)
{
	if (ARR_NDIM(a) == 0)
	{
		*n = 0;
		return NULL;
	}
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL", what)));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	/* ARR_DATA_PTR() spelled out: the macro trips -Wsign-compare */
	return (double *) ((char *) a + (ARR_HASNULL(a) ? a->dataoffset
									 : (int32) ARR_OVERHEAD_NONULLS(ARR_NDIM(a))));
}

static ArrayType *
ranges_array(const double *ranges, int n)
{
	Datum	   *d;
	int			dims[2];
	int			lbs[2] = {1, 1};
	int			i;

	if (n <= 0)
		return construct_empty_array(FLOAT8OID);
	d = palloc(sizeof(Datum) * 2 * n);
	for (i = 0; i < 2 * n; i++)
		d[i] = Float8GetDatum(ranges[i]);
	dims[0] = n;
	dims[1] = 2;
	return construct_md_array(d, NULL, 2, dims, lbs, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE);
}

PG_FUNCTION_INFO_V1(mlops_ab_bucket_ranges);
Datum
mlops_ab_bucket_ranges(PG_FUNCTION_ARGS)
{
	int32		n;
	double		coverage = 1.0;
	double	   *weights = NULL;
	int			n_weights = 0;
	double	   *ranges;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	n = PG_GETARG_INT32(0);
	if (n > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("num_variations %d is too large", n),
				 errhint("An A/B test has at most 10000 variations.")));
	if (!PG_ARGISNULL(1))
		coverage = PG_GETARG_FLOAT8(1);
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *wa = PG_GETARG_ARRAYTYPE_P(2);

		if (ARR_NDIM(wa) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("weights must be a one-dimensional array")));
		weights = float8_array_values(wa, "weights", &n_weights);
	}
	if (n <= 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(FLOAT8OID));
	ranges = palloc(sizeof(double) * 2 * n);
	ab_bucket_ranges_values(n, coverage, weights, n_weights, ranges);
	PG_RETURN_ARRAYTYPE_P(ranges_array(ranges, n));
}

PG_FUNCTION_INFO_V1(mlops_ab_equal_weights);
Datum
mlops_ab_equal_weights(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	Datum	   *d;
	int			i;

	if (n <= 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(FLOAT8OID));
	if (n > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("num_variations %d is too large", n),
				 errhint("An A/B test has at most 10000 variations.")));
	d = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		d[i] = Float8GetDatum(1.0 / n);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
}

/* The first range [start, end) holding h, or -1 (chooseVariation) */
static inline int
ab_choose_variation_value(double h, const double *ranges, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (h >= ranges[2 * i] && h < ranges[2 * i + 1])
			return i;
	return -1;
}

PG_FUNCTION_INFO_V1(mlops_ab_choose_variation);
Datum
mlops_ab_choose_variation(PG_FUNCTION_ARGS)
{
	double		h = PG_GETARG_FLOAT8(0);
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	int			ndim = ARR_NDIM(a);
	int			n;
	const double *r;

	/*
	 * float8_array_values() spelled out for the two dimensions allowed:
	 * this runs once per row.  The element count of an array that
	 * exists was checked when it was built.
	 */
	if (ndim == 0)
		PG_RETURN_INT32(-1);
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ranges must not contain NULL")));
	if (ndim != 2 || ARR_DIMS(a)[1] != 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ranges must be an n x 2 array of [start, end) pairs"),
				 errhint("ab_bucket_ranges() builds one.")));
	n = ARR_DIMS(a)[0];
	/* ARR_DATA_PTR() spelled out: the macro trips -Wsign-compare */
	r = (const double *) ((char *) a + (ARR_HASNULL(a) ? a->dataoffset
										: (int32) ARR_OVERHEAD_NONULLS(ndim)));
	PG_RETURN_INT32(ab_choose_variation_value(h, r, n));
}

/* inNamespace: hash("__" || namespace, unit, 1) in [start, end) */
static bool
ab_in_namespace_value(const unsigned char *unit, int unit_len, const unsigned char *ns, int ns_len,
					  double start, double end)
{
	uint32		h = fnv1a_utf16(FNV_OFFSET, unit, unit_len);
	double		x;

	h = fnv1a_utf16(h, (const unsigned char *) "__", 2);
	h = fnv1a_utf16(h, ns, ns_len);
	x = (double) (h % 1000) / 1000.0;
	return x >= start && x < end;
}

PG_FUNCTION_INFO_V1(mlops_ab_in_namespace);
Datum
mlops_ab_in_namespace(PG_FUNCTION_ARGS)
{
	text	   *unit = PG_GETARG_TEXT_PP(0);
	text	   *ns = PG_GETARG_TEXT_PP(1);
	double		start = PG_GETARG_FLOAT8(2);
	double		end = PG_GETARG_FLOAT8(3);
	int			enc = GetDatabaseEncoding();
	const unsigned char *u,
			   *n;
	int			ulen,
				nlen;
	char	   *f1,
			   *f2;
	bool		r;

	u = text_utf8(unit, enc, &ulen, &f1);
	n = text_utf8(ns, enc, &nlen, &f2);
	r = ab_in_namespace_value(u, ulen, n, nlen, start, end);
	if (f1)
		pfree(f1);
	if (f2)
		pfree(f2);
	PG_RETURN_BOOL(r);
}

/* ------------------------------------------------------------------------
 * Tests: assignment through a test (ab_assign) and scoring through it
 * (predict_ab).
 *
 * A unit's variant is its hash's under the test's current bucket ranges,
 * unless it was exposed earlier in this bucket version under other weights:
 * then the recorded assignment holds (sticky).  Every earlier set of ranges
 * of the bucket version is kept (ab_weight_history), so a unit whose hash
 * falls in the same variant under all of them needs no lookup; only units
 * in ranges that moved are looked up in ab_assignments.
 *
 * Exposures are recorded idempotently (the first exposure of a unit wins,
 * INSERT ... ON CONFLICT DO NOTHING).  One INSERT per row would cost more
 * than the scoring itself, so rows are buffered and written in batches of
 * AB_FLUSH_ROWS, the last batch when the executor run that queued them ends
 * (the ExecutorRun hook below: a statement, or one FETCH from a cursor).  A
 * call outside an executor run (a PL/pgSQL expression evaluated on its own)
 * has its rows written before the transaction commits.
 *
 * While a transaction uses a test it holds a shared lock on it (an advisory
 * lock of class AB_LOCK_CLASS), and changing weights takes it exclusively:
 * a weight change thus waits for the scoring transactions that were using
 * the old weights, and their exposures are all recorded before any unit is
 * assigned under the new ones.
 * ------------------------------------------------------------------------
 */
#include "access/xact.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "access/htup_details.h"

#include "compat.h"
#include "scoring.h"

#define AB_LOCK_CLASS		0x6D6C6162	/* 'mlab' */
#define AB_FLUSH_ROWS		10000
#define AB_RECENT_TESTS		4

typedef struct AbVariant
{
	char	   *name;
	text	   *model;			/* the reference, as stored */
	ScoreState *score;
	int64		version_id;		/* what score resolved model to last, and its number */
	int32		version;
} AbVariant;

/*
 * Rows queued for one INSERT, a column at a time (each column becomes one
 * array argument of the statement that writes them).  nulls[c] is NULL for
 * a column that is never null.
 */
#define AB_MAX_COLUMNS	6
typedef struct AbRows
{
	int			n;
	int			cap;			/* room in each column, 0 before the first row */
	Datum	   *values[AB_MAX_COLUMNS];
	bool	   *nulls[AB_MAX_COLUMNS];
} AbRows;

/* exposures: unit, variant, model version id (NULL when the variant scores nothing) */
enum
{
	AB_EXP_UNIT, AB_EXP_VARIANT, AB_EXP_VERSION, AB_EXPOSURE_COLUMNS
};
static const bool ab_exposure_nullable[AB_EXPOSURE_COLUMNS] = {false, false, true};

/* shadow predictions: the challenger's variant, unit, both versions and both predictions */
enum
{
	AB_SH_VARIANT, AB_SH_UNIT, AB_SH_CHAMPION_VERSION, AB_SH_VERSION, AB_SH_CHAMPION_PREDICTION,
	AB_SH_PREDICTION, AB_SHADOW_COLUMNS
};
static const bool ab_shadow_nullable[AB_SHADOW_COLUMNS] = {false, false, false, false, true, true};

typedef struct AbTest
{
	char	   *key;
	int			key_len;
	int64		id;
	char		kind;			/* 'a' (ab), 's' (shadow), 'c' (canary) */
	char	   *seed;			/* UTF-8 */
	int			seed_len;
	uint32		seed_state;		/* FNV-1a after the seed (hash version 2 starts with it) */
	int			hash_version;
	bool		has_namespace;
	char	   *ns;
	int			ns_len;
	double		ns_start;
	double		ns_end;
	int			bucket_version;
	int			weights_epoch;
	int			n_variants;
	AbVariant  *variants;
	double	   *ranges;			/* the current bucket ranges, 2 * n_variants */
	int			n_history;		/* other ranges of this bucket version */
	double	  **history;

	/* rows to record, in pending_cxt: exposures, and shadow predictions */
	MemoryContext pending_cxt;
	AbRows		exposures;		/* AB_EXPOSURE_COLUMNS */
	AbRows		shadows;		/* AB_SHADOW_COLUMNS */
} AbTest;

typedef struct AbState
{
	MemoryContext cxt;			/* the caller's fn_mcxt */
	bool		linked;			/* in pending_states */
	dlist_node	node;
	MemoryContextCallback unlink_cb;
	SubTransactionId queue_subid;	/* the (sub)transaction its first pending row was queued in */
	LocalTransactionId lxid;	/* the tests below were read in this transaction ... */
	uint64		generation;		/* ... and this backend's ab_generation */
	AbTest	   *tests[AB_RECENT_TESTS];
	int			n_tests;
	int			next_test;
	TupleDesc	result_desc;
} AbState;

/* states with rows to write */
static dlist_head pending_states = DLIST_STATIC_INIT(pending_states);
static uint64 ab_generation = 0;
static SPIPlanPtr id_plan = NULL;
static SPIPlanPtr load_test_plan = NULL;
static SPIPlanPtr load_history_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr shadow_plan = NULL;
static SPIPlanPtr version_plan = NULL;

static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

static void flush_state(AbState *st, bool force);
static void link_state(AbState *st);

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

/* Write every pending row of the states that belong to this executor. */
static void
flush_executor(MemoryContext query_cxt)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &pending_states)
	{
		AbState    *st = dlist_container(AbState, node, it.cur);

		if (st->cxt == query_cxt)
			flush_state(st, false);
	}
}

static void
flush_all(bool force)
{
	dlist_mutable_iter it;

	/* a flush's own INSERT may flush others (the hooks): start over from the head each time */
	for (;;)
	{
		bool		wrote = false;

		dlist_foreach_modify(it, &pending_states)
		{
			AbState    *st = dlist_container(AbState, node, it.cur);

			if (force || st->queue_subid == GetCurrentSubTransactionId())
			{
				flush_state(st, force);
				wrote = true;
				break;
			}
		}
		if (!wrote)
			break;
	}
}

/*
 * The end of each run of the executor (a whole statement, or one FETCH of
 * a cursor) writes what it queued, under the snapshot it ran with; the end
 * of an outermost run also writes what expressions evaluated inside it on
 * their own queued (a PL/pgSQL function's).  An outermost run also starts
 * by writing what was queued before it outside any run (by a DO block's
 * expressions), so that a statement sees the exposures made before it.
 */
static int	run_depth = 0;

static void
ab_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once)
{
	if (run_depth == 0 && !dlist_is_empty(&pending_states))
		flush_all(false);
	run_depth++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		run_depth--;
	}
	PG_END_TRY();
	if (!dlist_is_empty(&pending_states))
	{
		if (run_depth == 0)
			flush_all(false);
		else
			flush_executor(queryDesc->estate->es_query_cxt);
	}
}

static void
ab_ExecutorFinish(QueryDesc *queryDesc)
{
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	if (!dlist_is_empty(&pending_states))
		flush_executor(queryDesc->estate->es_query_cxt);
}

static void
ab_ExecutorEnd(QueryDesc *queryDesc)
{
	/* normally ExecutorRun wrote everything; this is a safety net */
	if (!dlist_is_empty(&pending_states))
		flush_executor(queryDesc->estate->es_query_cxt);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/*
 * Rows queued outside an executor that flushes them (a PL/pgSQL expression
 * evaluated on its own) are written before the transaction commits; an
 * aborted transaction's are dropped with it.
 */
static void
ab_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
		flush_all(true);
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
			 event == XACT_EVENT_PREPARE)
	{
		run_depth = 0;

		/*
		 * A state still listed here is alive (its context's reset callback
		 * unlinks it when the context goes): mark it unlinked, so that the
		 * callback does not unlink it from a list that no longer holds it.
		 */
		while (!dlist_is_empty(&pending_states))
		{
			AbState    *st = dlist_container(AbState, node, dlist_pop_head_node(&pending_states));

			st->linked = false;
			for (int i = 0; i < st->n_tests; i++)
			{
				st->tests[i]->exposures.n = 0;
				st->tests[i]->shadows.n = 0;
			}
		}
	}
}

/*
 * When a subtransaction ends (committed or rolled back), the rows queued in
 * it belong to its parent from then on, and can be written there.
 */
static void
ab_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	dlist_iter	it;

	if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;
	dlist_foreach(it, &pending_states)
	{
		AbState    *st = dlist_container(AbState, node, it.cur);

		if (st->queue_subid == mySubid)
			st->queue_subid = parentSubid;
	}
}

static void
ab_interrupt(void)
{
	CHECK_FOR_INTERRUPTS();
}

void
ab_init(void)
{
	as_interrupt_hook = ab_interrupt;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = ab_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = ab_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = ab_ExecutorEnd;
	RegisterXactCallback(ab_xact_callback, NULL);
	RegisterSubXactCallback(ab_subxact_callback, NULL);
}

/*
 * The state's memory is going away: its executor ended (and wrote its rows
 * when its run ended), or failed, or it was the private context of a
 * PL/pgSQL DO block's expressions, ended before the transaction.  Rows still
 * queued in a transaction that goes on move, with their memory, to the
 * transaction's context, to be written before it commits.  (No SQL can run
 * here, in the middle of freeing memory.)
 */
static void
unlink_state(void *arg)
{
	AbState    *st = (AbState *) arg;
	AbState    *orphan = NULL;
	SubTransactionId st_subid = st->queue_subid;

	if (st->linked)
	{
		dlist_delete(&st->node);
		st->linked = false;
	}

	/*
	 * Outside a live transaction (an abort, or the end of one) the rows
	 * and their context go with the transaction's memory: leave them.
	 */
	if (!IsTransactionState() || st->lxid != compat_my_lxid())
		return;
	for (int i = 0; i < st->n_tests; i++)
	{
		AbTest	   *t = st->tests[i];
		AbTest	   *copy;

		if (t->pending_cxt == NULL)
			continue;
		if (t->exposures.n == 0 && t->shadows.n == 0)
		{
			MemoryContextDelete(t->pending_cxt);
			continue;
		}
		if (orphan == NULL)
		{
			orphan = MemoryContextAllocZero(TopTransactionContext, sizeof(AbState));
			orphan->cxt = TopTransactionContext;
		}
		/* what flush_state reads of t, beside its rows */
		copy = MemoryContextAlloc(t->pending_cxt, sizeof(AbTest));
		*copy = *t;
		orphan->tests[orphan->n_tests++] = copy;
	}
	if (orphan)
	{
		link_state(orphan);
		orphan->queue_subid = st_subid;
	}
}

static AbState *
ab_state(FunctionCallInfo fcinfo)
{
	AbState    *st = (AbState *) fcinfo->flinfo->fn_extra;

	if (st == NULL)
	{
		MemoryContext cxt = fcinfo->flinfo->fn_mcxt;

		st = MemoryContextAllocZero(cxt, sizeof(AbState));
		st->cxt = cxt;
		st->unlink_cb.func = unlink_state;
		st->unlink_cb.arg = st;
		MemoryContextRegisterResetCallback(cxt, &st->unlink_cb);
		fcinfo->flinfo->fn_extra = st;
	}
	if (st->lxid != compat_my_lxid() || st->generation != ab_generation)
	{
		/* a new transaction, or this backend changed a test: read the tests again */
		if (st->linked)
			flush_state(st, true);
		st->n_tests = 0;
		st->next_test = 0;
		st->lxid = compat_my_lxid();
		st->generation = ab_generation;
	}
	return st;
}

PG_FUNCTION_INFO_V1(mlops_ab_changed);
Datum
mlops_ab_changed(PG_FUNCTION_ARGS)
{
	ab_generation++;
	PG_RETURN_VOID();
}

/* A float8[] from SPI as a palloc'd C array of n values (NULLs refused). */
static double *
spi_float8_array(Datum d, int expect, const char *what)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	int			n;
	double	   *v = float8_array_values(a, what, &n);
	double	   *out;

	if (n != expect)
		elog(ERROR, "%s has %d values for %d variants", what, n, expect);
	out = palloc(sizeof(double) * Max(n, 1));
	memcpy(out, v, sizeof(double) * n);
	return out;
}

static char *
utf8_copy(const char *s, int *len)
{
	char	   *u = (char *) pg_do_encoding_conversion((unsigned char *) s, strlen(s), GetDatabaseEncoding(), PG_UTF8);

	*len = strlen(u);
	return u == s ? pstrdup(s) : u;
}

/* Read test key from the catalog, lock it for this transaction, into st's memory. */
static AbTest *
load_test(AbState *st, text *key_text, const char *fn)
{
	Datum		arg = PointerGetDatum(key_text);
	Oid			type = TEXTOID;
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;
	MemoryContext old;
	AbTest	   *t;
	char	   *status;
	Datum		args2[2];
	Oid			types2[2] = {INT8OID, INT4OID};
	LOCKTAG		tag;
	double	   *weights;
	double		coverage;
	ArrayType  *names,
			   *models;
	Datum	   *name_d,
			   *model_d;
	int			n_names,
				n_models;

	SPI_connect();

	/*
	 * Lock first, then read the test with a snapshot taken after the lock
	 * (read_only = false takes a new one): a weight change committed while
	 * we waited is seen, and none can commit until this transaction ends.
	 */
	if (id_plan == NULL)
		id_plan = prepare_kept("SELECT t.ab_test_id FROM mlops.ab_tests t WHERE t.key = $1", 1, &type);
	if (SPI_execute_plan(id_plan, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading A/B test failed");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("A/B test \"%s\" does not exist", text_to_cstring(key_text)),
				 errhint("mlops.ab_tests lists the tests.")));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, AB_LOCK_CLASS,
						 (uint32) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
						 2);
	{
		/*
		 * Held to the end of the transaction even when taken in a
		 * subtransaction that rolls back: the test stays cached here.
		 */
		ResourceOwner save = CurrentResourceOwner;

		CurrentResourceOwner = TopTransactionResourceOwner;
		(void) LockAcquire(&tag, ShareLock, false, false);
		CurrentResourceOwner = save;
	}

	if (load_test_plan == NULL)
		load_test_plan = prepare_kept(
									  "SELECT t.ab_test_id, t.kind, t.status, t.seed, t.hash_version, t.namespace, "
									  "       t.namespace_start, t.namespace_end, t.bucket_version, t.coverage, "
									  "       ARRAY(SELECT v.name FROM mlops.ab_variants v WHERE v.ab_test_id = t.ab_test_id ORDER BY v.variant), "
									  "       ARRAY(SELECT v.model FROM mlops.ab_variants v WHERE v.ab_test_id = t.ab_test_id ORDER BY v.variant), "
									  "       ARRAY(SELECT v.weight FROM mlops.ab_variants v WHERE v.ab_test_id = t.ab_test_id ORDER BY v.variant), t.weights_epoch "
									  "  FROM mlops.ab_tests t WHERE t.key = $1", 1, &type);
	if (SPI_execute_plan(load_test_plan, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading A/B test failed");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("A/B test \"%s\" does not exist", text_to_cstring(key_text))));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(row, desc, 3);
	if (strcmp(status, "running") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("A/B test \"%s\" is %s", text_to_cstring(key_text), status),
				 strcmp(status, "draft") == 0 ?
				 errhint("Start it with mlops.start_ab_test('%s').", text_to_cstring(key_text)) :
				 errhint("%s() serves running tests only; a stopped test's winner is served by its alias.", fn)));

	old = MemoryContextSwitchTo(st->cxt);
	t = palloc0(sizeof(AbTest));
	t->key_len = VARSIZE_ANY_EXHDR(key_text);
	t->key = pnstrdup(VARDATA_ANY(key_text), t->key_len);
	t->id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
	t->kind = SPI_getvalue(row, desc, 2)[0];
	t->seed = utf8_copy(SPI_getvalue(row, desc, 4), &t->seed_len);
	t->seed_state = fnv1a_utf16(FNV_OFFSET, (const unsigned char *) t->seed, t->seed_len);
	t->hash_version = DatumGetInt32(SPI_getbinval(row, desc, 5, &isnull));
	SPI_getbinval(row, desc, 6, &t->has_namespace);
	t->has_namespace = !t->has_namespace;
	if (t->has_namespace)
	{
		t->ns = utf8_copy(SPI_getvalue(row, desc, 6), &t->ns_len);
		t->ns_start = DatumGetFloat8(SPI_getbinval(row, desc, 7, &isnull));
		t->ns_end = DatumGetFloat8(SPI_getbinval(row, desc, 8, &isnull));
	}
	t->bucket_version = DatumGetInt32(SPI_getbinval(row, desc, 9, &isnull));
	coverage = DatumGetFloat8(SPI_getbinval(row, desc, 10, &isnull));
	t->weights_epoch = DatumGetInt32(SPI_getbinval(row, desc, 14, &isnull));
	names = DatumGetArrayTypePCopy(SPI_getbinval(row, desc, 11, &isnull));
	models = DatumGetArrayTypePCopy(SPI_getbinval(row, desc, 12, &isnull));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &name_d, NULL, &n_names);
	deconstruct_array(models, TEXTOID, -1, false, TYPALIGN_INT, &model_d, NULL, &n_models);
	t->n_variants = n_names;
	if (n_names < 1 || n_models != n_names)
		elog(ERROR, "A/B test \"%s\" has no variants", t->key);
	weights = spi_float8_array(SPI_getbinval(row, desc, 13, &isnull), n_names, "weights");
	t->variants = palloc0(sizeof(AbVariant) * n_names);
	for (int i = 0; i < n_names; i++)
	{
		t->variants[i].name = TextDatumGetCString(name_d[i]);
		t->variants[i].model = DatumGetTextPCopy(model_d[i]);
		t->variants[i].score = score_state_create(st->cxt);
		t->variants[i].version_id = -1;
	}
	t->ranges = palloc(sizeof(double) * 2 * n_names);
	ab_bucket_ranges_values(n_names, coverage, weights, n_names, t->ranges);
	MemoryContextSwitchTo(old);

	if (load_history_plan == NULL)
		load_history_plan = prepare_kept(
										 "SELECT h.weights, h.coverage FROM mlops.ab_weight_history h "
										 " WHERE h.ab_test_id = $1 AND h.bucket_version = $2 ORDER BY h.weights_epoch",
										 2, types2);
	args2[0] = Int64GetDatum(t->id);
	args2[1] = Int32GetDatum(t->bucket_version);
	if (SPI_execute_plan(load_history_plan, args2, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading A/B test history failed");
	old = MemoryContextSwitchTo(st->cxt);
	t->history = palloc(sizeof(double *) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	h = SPI_tuptable->vals[r];
		double	   *w = spi_float8_array(SPI_getbinval(h, SPI_tuptable->tupdesc, 1, &isnull), n_names,
										 "weight history");
		double		c = DatumGetFloat8(SPI_getbinval(h, SPI_tuptable->tupdesc, 2, &isnull));
		double	   *r2 = palloc(sizeof(double) * 2 * n_names);

		ab_bucket_ranges_values(n_names, c, w, n_names, r2);
		if (memcmp(r2, t->ranges, sizeof(double) * 2 * n_names) != 0)
			t->history[t->n_history++] = r2;
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
	return t;
}

static AbTest *
find_test(AbState *st, text *key, const char *fn)
{
	const char *k = VARDATA_ANY(key);
	int			len = VARSIZE_ANY_EXHDR(key);
	AbTest	   *t;

	for (int i = 0; i < st->n_tests; i++)
		if (st->tests[i]->key_len == len && memcmp(st->tests[i]->key, k, len) == 0)
			return st->tests[i];
	require_mlops_role("mlops_reader", fn);
	t = load_test(st, key, fn);
	if (st->n_tests < AB_RECENT_TESTS)
		st->tests[st->n_tests++] = t;
	else
	{
		/* the slot's test may have rows to write */
		flush_state(st, true);
		st->tests[st->next_test] = t;
		st->next_test = (st->next_test + 1) % AB_RECENT_TESTS;
	}
	return t;
}

/* The recorded variant of a unit in this bucket version, or -1. */
static int
lookup_assignment(AbTest *t, text *unit)
{
	Datum		args[3];
	Oid			types[3] = {INT8OID, INT4OID, TEXTOID};
	int			v = -1;

	/* rows of this statement not written yet come first */
	for (int i = t->exposures.n - 1; i >= 0; i--)
	{
		text	   *u = DatumGetTextPP(t->exposures.values[AB_EXP_UNIT][i]);

		if (VARSIZE_ANY_EXHDR(u) == VARSIZE_ANY_EXHDR(unit) &&
			memcmp(VARDATA_ANY(u), VARDATA_ANY(unit), VARSIZE_ANY_EXHDR(unit)) == 0)
			return DatumGetInt32(t->exposures.values[AB_EXP_VARIANT][i]);
	}
	SPI_connect();
	if (lookup_plan == NULL)
		lookup_plan = prepare_kept("SELECT a.variant FROM mlops.ab_assignments a "
								   " WHERE a.ab_test_id = $1 AND a.bucket_version = $2 AND a.unit_id = $3",
								   3, types);
	args[0] = Int64GetDatum(t->id);
	args[1] = Int32GetDatum(t->bucket_version);
	args[2] = PointerGetDatum(unit);
	if (SPI_execute_plan(lookup_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading A/B assignment failed");
	if (SPI_processed == 1)
	{
		bool		isnull;

		v = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return v;
}

/*
 * The unit's variant: -1 when it is not in the test (outside the namespace
 * range or the coverage).
 */
static int
assign_unit(AbTest *t, text *unit)
{
	const unsigned char *u;
	int			ulen;
	char	   *freeme;
	double		h;
	int			v;

	u = text_utf8(unit, GetDatabaseEncoding(), &ulen, &freeme);
	if (t->has_namespace &&
		!ab_in_namespace_value(u, ulen, (const unsigned char *) t->ns, t->ns_len, t->ns_start, t->ns_end))
		v = -1;
	else
	{
		h = ab_hash_value(t->seed_state, (const unsigned char *) t->seed, t->seed_len, u, ulen, t->hash_version);
		v = ab_choose_variation_value(h, t->ranges, t->n_variants);
		for (int e = 0; e < t->n_history; e++)
			if (ab_choose_variation_value(h, t->history[e], t->n_variants) != v)
			{
				int			recorded = lookup_assignment(t, unit);

				if (recorded >= 0 && recorded < t->n_variants)
					v = recorded;
				break;
			}
	}
	if (freeme)
		pfree(freeme);
	return v;
}

/*
 * Room for one more row in rows, whose ncols columns are allocated in cxt on
 * the first row.  A batch holds AB_FLUSH_ROWS rows, unless one could not be
 * written when it filled (see flush_state): then it doubles.
 */
static void
rows_reserve(AbRows *rows, int ncols, const bool *nullable, MemoryContext cxt)
{
	if (rows->cap == 0)
	{
		for (int c = 0; c < ncols; c++)
		{
			rows->values[c] = MemoryContextAlloc(cxt, sizeof(Datum) * AB_FLUSH_ROWS);
			rows->nulls[c] = nullable[c] ? MemoryContextAlloc(cxt, sizeof(bool) * AB_FLUSH_ROWS) : NULL;
		}
		rows->cap = AB_FLUSH_ROWS;
	}
	else if (rows->n >= rows->cap)
	{
		int			cap = rows->cap * 2;

		for (int c = 0; c < ncols; c++)
		{
			rows->values[c] = repalloc_huge(rows->values[c], sizeof(Datum) * cap);
			if (rows->nulls[c])
				rows->nulls[c] = repalloc_huge(rows->nulls[c], sizeof(bool) * cap);
		}
		rows->cap = cap;
	}
}

/* A copy of the unit id, in cxt (the caller's goes with its row) */
static Datum
copy_unit(MemoryContext cxt, text *unit)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Datum		copy = PointerGetDatum(DatumGetTextPCopy(PointerGetDatum(unit)));

	MemoryContextSwitchTo(old);
	return copy;
}

/*
 * The rows wait in a context of the transaction's, not the caller's: the
 * caller's may end first (a DO block's), and its children go before its
 * reset callback runs (unlink_state), which must find them.
 */
static MemoryContext
pending_context(AbTest *t)
{
	if (t->pending_cxt == NULL)
		t->pending_cxt = AllocSetContextCreate(TopTransactionContext, "mlops A/B pending rows",
											   ALLOCSET_SMALL_SIZES);
	return t->pending_cxt;
}

static void
link_state(AbState *st)
{
	if (!st->linked)
	{
		dlist_push_tail(&pending_states, &st->node);
		st->linked = true;
		st->queue_subid = GetCurrentSubTransactionId();
	}
}

/*
 * The index of a new row of rows, with its unit id (column unit_col) copied;
 * the caller fills the other columns, then calls row_queued().
 */
static int
row_start(AbTest *t, AbRows *rows, int ncols, const bool *nullable, int unit_col, text *unit)
{
	MemoryContext cxt = pending_context(t);

	rows_reserve(rows, ncols, nullable, cxt);
	rows->values[unit_col][rows->n] = copy_unit(cxt, unit);
	return rows->n;
}

/* The row row_start() began is complete: a full batch is written now. */
static void
row_queued(AbState *st, AbRows *rows)
{
	rows->n++;
	link_state(st);
	if (rows->n >= AB_FLUSH_ROWS)
		flush_state(st, false);
}

static void
queue_assignment(AbState *st, AbTest *t, text *unit, int variant, int64 version_id)
{
	AbRows	   *rows = &t->exposures;
	int			i = row_start(t, rows, AB_EXPOSURE_COLUMNS, ab_exposure_nullable, AB_EXP_UNIT, unit);

	rows->values[AB_EXP_VARIANT][i] = Int32GetDatum(variant);
	rows->values[AB_EXP_VERSION][i] = Int64GetDatum(version_id);
	rows->nulls[AB_EXP_VERSION][i] = version_id < 0;
	row_queued(st, rows);
}

static void
queue_shadow(AbState *st, AbTest *t, text *unit, int variant, int64 champion_version, Datum champion,
			 bool champion_null, int64 version, Datum prediction, bool null)
{
	AbRows	   *rows = &t->shadows;
	int			i = row_start(t, rows, AB_SHADOW_COLUMNS, ab_shadow_nullable, AB_SH_UNIT, unit);

	rows->values[AB_SH_VARIANT][i] = Int32GetDatum(variant);
	rows->values[AB_SH_CHAMPION_VERSION][i] = Int64GetDatum(champion_version);
	rows->values[AB_SH_VERSION][i] = Int64GetDatum(version);
	rows->values[AB_SH_CHAMPION_PREDICTION][i] = champion;
	rows->nulls[AB_SH_CHAMPION_PREDICTION][i] = champion_null;
	rows->values[AB_SH_PREDICTION][i] = prediction;
	rows->nulls[AB_SH_PREDICTION][i] = null;
	row_queued(st, rows);
}


static ArrayType *
datum_array(Datum *d, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return construct_md_array(d, nulls, 1, dims, lbs, type, typlen, typbyval, typalign);
}

static Datum
rows_array(AbRows *rows, int c, Oid type)
{
	return PointerGetDatum(datum_array(rows->values[c], rows->nulls[c], rows->n, type));
}

/*
 * Write the state's pending rows, as the owner of mlops' tables (a reader
 * scoring through a test records its exposures, but cannot write the
 * table directly), in a restricted security context.
 */
static void
flush_state(AbState *st, bool force)
{
	Oid			save_user;
	int			save_sec;
	Oid			owner = mlops_tables_owner();
	bool		pushed;

	if (!st->linked)
		return;

	/*
	 * Rows queued in a transaction or subtransaction are written in it (or
	 * at commit): written inside a subtransaction begun since, they would
	 * be lost if it rolled back.  (Rows queued in a subtransaction that
	 * rolls back are still written: the unit was served.)
	 */
	if (!force && st->queue_subid != GetCurrentSubTransactionId())
		return;
	/* unlinked first: an error below must not leave it to be flushed again */
	dlist_delete(&st->node);
	st->linked = false;

	/* a portal's cleanup finishes its executor after popping its snapshot */
	pushed = !ActiveSnapshotSet();
	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	SPI_connect();
	for (int i = 0; i < st->n_tests; i++)
	{
		AbTest	   *t = st->tests[i];

		if (t->exposures.n > 0)
		{
			Datum		args[6];
			Oid			types[6] = {INT8OID, INT4OID, TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID, INT4OID};

			if (record_plan == NULL)
				record_plan = prepare_kept(
										   "INSERT INTO mlops.ab_assignments AS a "
										   "       (ab_test_id, bucket_version, unit_id, variant, weights_epoch, version_id, assigned_at) "
										   "SELECT $1, $2, u.unit_id, u.variant, $6, u.version_id, pg_catalog.statement_timestamp() "
										   "  FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5)) "
										   "       AS u(unit_id, variant, version_id) "
										   "    ON CONFLICT (ab_test_id, bucket_version, unit_id) DO NOTHING",
										   6, types);
			args[0] = Int64GetDatum(t->id);
			args[1] = Int32GetDatum(t->bucket_version);
			args[2] = rows_array(&t->exposures, AB_EXP_UNIT, TEXTOID);
			args[3] = rows_array(&t->exposures, AB_EXP_VARIANT, INT4OID);
			args[4] = rows_array(&t->exposures, AB_EXP_VERSION, INT8OID);
			args[5] = Int32GetDatum(t->weights_epoch);
			t->exposures.n = 0;
			if (SPI_execute_plan(record_plan, args, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "recording A/B assignments failed");
		}
		if (t->shadows.n > 0)
		{
			Datum		args[7];
			Oid			types[7] = {INT8OID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
			FLOAT8ARRAYOID, FLOAT8ARRAYOID};

			if (shadow_plan == NULL)
				shadow_plan = prepare_kept(
										   "INSERT INTO mlops.ab_shadow_predictions "
										   "       (ab_test_id, variant, unit_id, champion_version_id, version_id, "
										   "        champion_prediction, prediction, scored_at) "
										   "SELECT $1, u.variant, u.unit_id, u.cv, u.v, u.cp, u.p, pg_catalog.statement_timestamp() "
										   "  FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), "
										   "                 pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) "
										   "       AS u(variant, unit_id, cv, v, cp, p)",
										   7, types);
			args[0] = Int64GetDatum(t->id);
			args[1] = rows_array(&t->shadows, AB_SH_VARIANT, INT4OID);
			args[2] = rows_array(&t->shadows, AB_SH_UNIT, TEXTOID);
			args[3] = rows_array(&t->shadows, AB_SH_CHAMPION_VERSION, INT8OID);
			args[4] = rows_array(&t->shadows, AB_SH_VERSION, INT8OID);
			args[5] = rows_array(&t->shadows, AB_SH_CHAMPION_PREDICTION, FLOAT8OID);
			args[6] = rows_array(&t->shadows, AB_SH_PREDICTION, FLOAT8OID);
			t->shadows.n = 0;
			if (SPI_execute_plan(shadow_plan, args, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "recording shadow predictions failed");
		}
		if (t->pending_cxt == NULL)
			continue;
		if (st->cxt == TopTransactionContext)
			MemoryContextDelete(t->pending_cxt);	/* an orphan's copy of t was in it too */
		else
		{
			MemoryContextReset(t->pending_cxt);
			/* the columns were in pending_cxt */
			memset(&t->exposures, 0, sizeof(AbRows));
			memset(&t->shadows, 0, sizeof(AbRows));
		}
	}
	SPI_finish();
	SetUserIdAndSecContext(save_user, save_sec);
	if (pushed)
		PopActiveSnapshot();
}

/* The version number of a model version id, for predict_ab's result. */
static int32
version_number(AbVariant *v, int64 version_id)
{
	Datum		arg = Int64GetDatum(version_id);
	Oid			type = INT8OID;
	bool		isnull;

	if (v->version_id == version_id)
		return v->version;
	SPI_connect();
	if (version_plan == NULL)
		version_plan = prepare_kept("SELECT v.version FROM mlops.model_versions v WHERE v.version_id = $1", 1, &type);
	if (SPI_execute_plan(version_plan, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "model version " INT64_FORMAT " not found", version_id);
	v->version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	v->version_id = version_id;
	SPI_finish();
	return v->version;
}

static text *
required_text(FunctionCallInfo fcinfo, int arg, const char *what)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return PG_GETARG_TEXT_PP(arg);
}

static TupleDesc
result_desc(FunctionCallInfo fcinfo, AbState *st)
{
	if (st->result_desc == NULL)
	{
		TupleDesc	desc;
		MemoryContext old;

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		old = MemoryContextSwitchTo(st->cxt);
		st->result_desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
	}
	return st->result_desc;
}

/*
 * ab_assign(ab_test, unit_id) -> (variant, variant_index, model,
 * bucket_version, in_test): the unit's variant, recorded as its exposure.
 * Units outside the test get variant 0's name with in_test false and
 * nothing recorded; a shadow test serves everyone variant 0.
 */
PG_FUNCTION_INFO_V1(mlops_ab_assign);
Datum
mlops_ab_assign(PG_FUNCTION_ARGS)
{
	AbState    *st = ab_state(fcinfo);
	text	   *key = required_text(fcinfo, 0, "ab_test");
	text	   *unit = required_text(fcinfo, 1, "unit_id");
	AbTest	   *t = find_test(st, key, "ab_assign");
	int			v = t->kind == 's' ? 0 : assign_unit(t, unit);
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	int			shown = v < 0 ? 0 : v;

	if (v >= 0 && t->kind != 's')
		queue_assignment(st, t, unit, v, -1);
	values[0] = CStringGetTextDatum(t->variants[shown].name);
	values[1] = Int32GetDatum(v);
	values[2] = PointerGetDatum(t->variants[shown].model);
	values[3] = Int32GetDatum(t->bucket_version);
	values[4] = BoolGetDatum(v >= 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc(fcinfo, st), values, nulls)));
}

/*
 * predict_ab(ab_test, unit_id, features) -> (variant, variant_index, model,
 * version, prediction, in_test): the unit's variant's model scores the
 * features.  Outside the test, variant 0 serves (in_test false, variant_index
 * -1, nothing recorded).  A shadow test serves variant 0 and scores every
 * other variant beside it into ab_shadow_predictions.
 */
static Datum
predict_ab_common(FunctionCallInfo fcinfo, bool jsonb_features)
{
	AbState    *st = ab_state(fcinfo);
	text	   *key = required_text(fcinfo, 0, "ab_test");
	text	   *unit = required_text(fcinfo, 1, "unit_id");
	AbTest	   *t = find_test(st, key, "predict_ab");
	bool		no_features = PG_ARGISNULL(2);
	Datum		features = no_features ? (Datum) 0 : PG_GETARG_DATUM(2);
	int			v = t->kind == 's' ? 0 : assign_unit(t, unit);
	int			served = v < 0 ? 0 : v;
	AbVariant  *var = &t->variants[served];
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	int64		version_id;

	if (!no_features)
		values[4] = score_reference(var->score, var->model, features, jsonb_features, OUT_VALUE, st->cxt);
	else
	{
		/* no features, no prediction; the variant is still resolved and the unit exposed */
		score_resolve_reference(var->score, var->model, st->cxt);
		nulls[4] = true;
	}
	version_id = var->score->version_id;

	if (t->kind == 's')
	{
		for (int i = 1; i < t->n_variants; i++)
		{
			AbVariant  *sh = &t->variants[i];
			Datum		p = (Datum) 0;

			if (!no_features)
				p = score_reference(sh->score, sh->model, features, jsonb_features, OUT_VALUE, st->cxt);
			else
				score_resolve_reference(sh->score, sh->model, st->cxt);
			queue_shadow(st, t, unit, i, version_id, values[4], nulls[4], sh->score->version_id, p, no_features);
		}
	}
	else if (v >= 0)
		queue_assignment(st, t, unit, v, version_id);

	values[0] = CStringGetTextDatum(var->name);
	values[1] = Int32GetDatum(v);
	values[2] = PointerGetDatum(var->model);
	values[3] = Int32GetDatum(version_number(var, version_id));
	values[5] = BoolGetDatum(v >= 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc(fcinfo, st), values, nulls)));
}

PG_FUNCTION_INFO_V1(mlops_predict_ab_array);
Datum
mlops_predict_ab_array(PG_FUNCTION_ARGS)
{
	return predict_ab_common(fcinfo, false);
}

PG_FUNCTION_INFO_V1(mlops_predict_ab_jsonb);
Datum
mlops_predict_ab_jsonb(PG_FUNCTION_ARGS)
{
	return predict_ab_common(fcinfo, true);
}

/* ------------------------------------------------------------------------
 * Statistics (ab_stats.c) as SQL functions
 * ------------------------------------------------------------------------
 */
#include "ab_stats.h"
#include "drift_stats.h"
#include "utils/tuplestore.h"

static double
arg_or(FunctionCallInfo fcinfo, int i, double dflt)
{
	return PG_ARGISNULL(i) ? dflt : PG_GETARG_FLOAT8(i);
}

static double
required_number(FunctionCallInfo fcinfo, int i, const char *what)
{
	double		v;

	if (PG_ARGISNULL(i))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	v = PG_GETARG_FLOAT8(i);
	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", what)));
	return v;
}

static double
check_alpha(double alpha)
{
	if (!(alpha > 0 && alpha < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("alpha must be between 0 and 1, not %g", alpha)));
	return alpha;
}

static void
check_units(double n, const char *what, double min)
{
	if (n < min || n != floor(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a whole number of at least %g, not %g", what, min, n)));
}

static Datum
comparison_datum(FunctionCallInfo fcinfo, const AsComparison *c)
{
	TupleDesc	desc;
	Datum		values[9];
	bool		nulls[9];
	double		v[9] = {c->diff, c->diff_lo, c->diff_hi, c->rel, c->rel_lo, c->rel_hi,
	c->statistic, c->df, c->p_value};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	for (int i = 0; i < 9; i++)
	{
		/* undefined quantities (a relative lift over a zero control mean) are NULL, not NaN */
		nulls[i] = isnan(v[i]);
		values[i] = Float8GetDatum(v[i]);
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

PG_FUNCTION_INFO_V1(mlops_ab_proportions_ztest);
Datum
mlops_ab_proportions_ztest(PG_FUNCTION_ARGS)
{
	double		xc = required_number(fcinfo, 0, "control_conversions");
	double		nc = required_number(fcinfo, 1, "control_units");
	double		xt = required_number(fcinfo, 2, "treatment_conversions");
	double		nt = required_number(fcinfo, 3, "treatment_units");
	double		alpha = check_alpha(arg_or(fcinfo, 4, 0.05));
	AsComparison c;

	check_units(nc, "control_units", 1);
	check_units(nt, "treatment_units", 1);
	if (xc < 0 || xc > nc || xt < 0 || xt > nt)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conversions must be between 0 and the number of units")));
	as_prop_ztest(xc, nc, xt, nt, alpha, &c);
	return comparison_datum(fcinfo, &c);
}

static void
read_arms(FunctionCallInfo fcinfo, AsArm *control, AsArm *treatment)
{
	control->n = required_number(fcinfo, 0, "control_units");
	control->mean = required_number(fcinfo, 1, "control_mean");
	control->var = required_number(fcinfo, 2, "control_variance");
	treatment->n = required_number(fcinfo, 3, "treatment_units");
	treatment->mean = required_number(fcinfo, 4, "treatment_mean");
	treatment->var = required_number(fcinfo, 5, "treatment_variance");
	check_units(control->n, "control_units", 2);
	check_units(treatment->n, "treatment_units", 2);
	if (control->var < 0 || treatment->var < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("variances must not be negative")));
}

PG_FUNCTION_INFO_V1(mlops_ab_welch_ttest);
Datum
mlops_ab_welch_ttest(PG_FUNCTION_ARGS)
{
	AsArm		c,
				t;
	AsComparison r;

	read_arms(fcinfo, &c, &t);
	as_welch_ttest(&c, &t, check_alpha(arg_or(fcinfo, 6, 0.05)), &r);
	return comparison_datum(fcinfo, &r);
}

PG_FUNCTION_INFO_V1(mlops_ab_sequential_test);
Datum
mlops_ab_sequential_test(PG_FUNCTION_ARGS)
{
	AsArm		c,
				t;
	AsComparison r;
	double		tuning = arg_or(fcinfo, 7, 5000);

	read_arms(fcinfo, &c, &t);
	if (!(tuning > 0) || isinf(tuning))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the sequential tuning parameter must be a positive number")));
	as_sequential(&c, &t, tuning, check_alpha(arg_or(fcinfo, 6, 0.05)), &r);
	return comparison_datum(fcinfo, &r);
}

/* sample ratio mismatch: chi-square of the units against the weights' shares */
PG_FUNCTION_INFO_V1(mlops_ab_srm);
Datum
mlops_ab_srm(PG_FUNCTION_ARGS)
{
	ArrayType  *ua = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *wa = PG_GETARG_ARRAYTYPE_P(1);
	int			n,
				nw,
				k = 0;
	double	   *u = float8_array_values(ua, "units", &n);
	double	   *w = float8_array_values(wa, "weights", &nw);
	double		total = 0,
				wsum = 0,
				stat,
				p;
	double	   *obs,
			   *exp;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (n != nw || n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("units and weights need one value per variant, at least two")));
	for (int i = 0; i < n; i++)
	{
		if (!(u[i] >= 0) || !(w[i] >= 0) || isinf(u[i]) || isinf(w[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("units and weights must be finite and not negative")));
		total += u[i];
		wsum += w[i];
	}
	if (!(wsum > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the weights must not all be zero")));
	obs = palloc(sizeof(double) * n);
	exp = palloc(sizeof(double) * n);
	/* a variant with no weight and no units (a rolled-back canary) takes no part */
	for (int i = 0; i < n; i++)
		if (w[i] > 0 || u[i] > 0)
		{
			obs[k] = u[i];
			exp[k] = total * w[i] / wsum;
			k++;
		}
	if (total == 0 || k < 2)
	{
		stat = 0;
		p = 1;
	}
	else
		ds_chisquare(obs, exp, k, &stat, &p);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Float8GetDatum(stat);
	values[1] = Float8GetDatum(p);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * A standardized effect |delta| / sd far outside what experiments measure
 * would send the noncentral t's series into billions of terms: refused.
 */
static void
check_effect(double delta, double sd)
{
	double		d = fabs(delta) / sd;

	if (!(d >= 1e-6 && d <= 1e3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the standardized effect |delta| / sd is %g", d),
				 errdetail("It must be between 1e-6 and 1000.")));
}

static void
check_probability(double p, const char *what, bool open)
{
	if (open ? !(p > 0 && p < 1) : !(p >= 0 && p <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1, not %g", what, p)));
}

PG_FUNCTION_INFO_V1(mlops_ab_sample_size_proportions);
Datum
mlops_ab_sample_size_proportions(PG_FUNCTION_ARGS)
{
	double		p1 = required_number(fcinfo, 0, "p1");
	double		p2 = required_number(fcinfo, 1, "p2");
	double		alpha = check_alpha(arg_or(fcinfo, 2, 0.05));
	double		power = arg_or(fcinfo, 3, 0.8);

	check_probability(p1, "p1", true);
	check_probability(p2, "p2", true);
	check_probability(power, "power", true);
	if (p1 == p2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p1 and p2 are equal: no sample size detects no difference")));
	PG_RETURN_FLOAT8(as_power_prop_n(p1, p2, alpha, power));
}

PG_FUNCTION_INFO_V1(mlops_ab_power_proportions);
Datum
mlops_ab_power_proportions(PG_FUNCTION_ARGS)
{
	double		n = required_number(fcinfo, 0, "n");
	double		p1 = required_number(fcinfo, 1, "p1");
	double		p2 = required_number(fcinfo, 2, "p2");
	double		alpha = check_alpha(arg_or(fcinfo, 3, 0.05));

	if (!(n > 0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("n must be positive")));
	check_probability(p1, "p1", true);
	check_probability(p2, "p2", true);
	PG_RETURN_FLOAT8(as_power_prop_power(n, p1, p2, alpha));
}

PG_FUNCTION_INFO_V1(mlops_ab_sample_size_means);
Datum
mlops_ab_sample_size_means(PG_FUNCTION_ARGS)
{
	double		delta = required_number(fcinfo, 0, "delta");
	double		sd = arg_or(fcinfo, 1, 1);
	double		alpha = check_alpha(arg_or(fcinfo, 2, 0.05));
	double		power = arg_or(fcinfo, 3, 0.8);

	if (delta == 0 || !(sd > 0) || isinf(sd))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delta must not be 0 and sd must be a positive number")));
	check_effect(delta, sd);
	check_probability(power, "power", true);
	PG_RETURN_FLOAT8(as_power_t_n(fabs(delta), sd, alpha, power));
}

PG_FUNCTION_INFO_V1(mlops_ab_power_means);
Datum
mlops_ab_power_means(PG_FUNCTION_ARGS)
{
	double		n = required_number(fcinfo, 0, "n");
	double		delta = required_number(fcinfo, 1, "delta");
	double		sd = arg_or(fcinfo, 2, 1);
	double		alpha = check_alpha(arg_or(fcinfo, 3, 0.05));

	if (!(n >= 2) || !(sd > 0) || isinf(sd))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be at least 2 and sd a positive number")));
	if (n > 1e12)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be at most 1e12")));
	if (delta == 0)
		PG_RETURN_FLOAT8(alpha);	/* no effect: the test rejects at its level */
	check_effect(delta, sd);

	/*
	 * Past half a million units per group (df > 1e6) t is normal to 1e-6
	 * and the noncentral t's series would take millions of terms: the
	 * normal form of the same one-tailed power, as power.t.test's
	 * strict = FALSE has it.
	 */
	if (n > 5e5)
		PG_RETURN_FLOAT8(as_norm_cdf(sqrt(n / 2) * fabs(delta) / sd + as_norm_ppf(alpha / 2)));
	PG_RETURN_FLOAT8(as_power_t_power(n, fabs(delta), sd, alpha));
}

/*
 * ab_bandit_weights(units, means, variances, min_weight, min_units) ->
 * (variant, p_best, weight) per arm; weight NULL for all when an arm has
 * fewer than min_units units (the weights must not move yet).
 */
PG_FUNCTION_INFO_V1(mlops_ab_bandit_weights);
Datum
mlops_ab_bandit_weights(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n1,
				n2,
				n3;
	double	   *u,
			   *m,
			   *v;
	double		min_weight = arg_or(fcinfo, 3, 0.01);
	double		min_units = arg_or(fcinfo, 4, 100);
	AsArm	   *arms;
	double	   *best,
			   *weights;
	bool		moved;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("units, means and variances must not be NULL")));
	u = float8_array_values(PG_GETARG_ARRAYTYPE_P(0), "units", &n1);
	m = float8_array_values(PG_GETARG_ARRAYTYPE_P(1), "means", &n2);
	v = float8_array_values(PG_GETARG_ARRAYTYPE_P(2), "variances", &n3);
	if (n1 != n2 || n1 != n3 || n1 < 2 || n1 > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("units, means and variances need one value per arm, from 2 to 100 arms")));
	if (!(min_weight >= 0 && min_weight * n1 <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_weight must be between 0 and 1 / number of arms")));
	arms = palloc(sizeof(AsArm) * n1);
	best = palloc(sizeof(double) * n1);
	weights = palloc(sizeof(double) * n1);
	for (int i = 0; i < n1; i++)
	{
		if (!(u[i] >= 0) || isnan(m[i]) || isinf(m[i]) || !(v[i] >= 0) || isinf(v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("arm %d has an invalid summary", i),
					 errdetail("Units and variances are finite and not negative; means are finite.")));
		arms[i].n = u[i];
		arms[i].mean = m[i];
		arms[i].var = v[i];
	}
	moved = as_bandit_weights(arms, n1, 0, 1e4, min_weight, min_units, best, weights);
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n1; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, !moved, !moved};

		values[0] = Int32GetDatum(i);
		values[1] = Float8GetDatum(moved ? best[i] : 0);
		values[2] = Float8GetDatum(moved ? weights[i] : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
