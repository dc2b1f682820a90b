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
		weights = float8_array_values(PG_GETARG_ARRAYTYPE_P(2), "weights", &n_weights);
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
	 * float8_array_values() spelled out for the one or two dimensions
	 * allowed: this runs once per row.  The element count of an array that
	 * exists was checked when it was built.
	 */
	if (ndim == 0)
		PG_RETURN_INT32(-1);
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ranges must not contain NULL")));
	if (ndim > 2 || (ndim == 2 && ARR_DIMS(a)[1] != 2) || (ndim == 1 && ARR_DIMS(a)[0] % 2 != 0))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ranges must be an n x 2 array of [start, end) pairs"),
				 errhint("ab_bucket_ranges() builds one.")));
	n = ndim == 2 ? ARR_DIMS(a)[0] : ARR_DIMS(a)[0] / 2;
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
