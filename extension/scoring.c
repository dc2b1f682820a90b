/*
 * scoring.c
 *	  The SQL scoring functions: predict / predict_proba / predict_class by
 *	  model reference, and score / score_proba / score_class on a compiled
 *	  model passed as an argument; each on float8[] features (signature
 *	  order) or jsonb features (by name, optionally leaving out the keys of
 *	  an exclude list).
 *
 *	  Per call site, fn_extra keeps the model references resolved so far (up
 *	  to SCORE_RECENT_REFS, for queries whose reference changes row by row)
 *	  and the loaded model the last one led to.  fn_extra lives for one
 *	  execution of a statement, so an alias is resolved once per statement
 *	  and a moved alias is seen by the next statement, with no reload step
 *	  anywhere.  For score*(), fn_extra keeps the last few compiled models it
 *	  was given, and each call checks, exactly and cheaply, which one its
 *	  argument is (use_compiled()).
 *
 *	  The hot path for a cached model and a float8[] without NULLs is: compare
 *	  the reference bytes, read the array in place, encode, evaluate.  Rows
 *	  with one-hot features update the previous row's encoding in place
 *	  (score_encode()).  Rows by name are read in one merge of the object's
 *	  keys with the signature, and their numbers converted without text
 *	  (score_read_jsonb(), jsonb_number()).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type_d.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/primnodes.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "access/detoast.h"
#include "miscadmin.h"
#include "utils/acl.h"

#include "mlops.h"
#include "model.h"
#include "scoring.h"

static SPIPlanPtr resolve_plan = NULL;
static SPIPlanPtr fetch_plan = NULL;

static ScoreState *
score_state(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
	{
		ScoreState *st = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ScoreState));

		st->cxt = fcinfo->flinfo->fn_mcxt;
		st->cur_seen = -1;
		fcinfo->flinfo->fn_extra = st;
	}
	return (ScoreState *) fcinfo->flinfo->fn_extra;
}

/* Grow the work buffers to what the current model needs; never shrink. */
static void
size_buffers(MemoryContext cxt, ScoreState *st)
{
	const Model *m = st->model;

	if (st->cxt == NULL)
		st->cxt = cxt;
	if (st->buf_inputs < m->hdr->n_inputs)
	{
		st->buf_inputs = m->hdr->n_inputs;
		st->in = MemoryContextAlloc(cxt, sizeof(double) * st->buf_inputs);
		st->hot = MemoryContextAlloc(cxt, sizeof(int32) * st->buf_inputs);
		st->key_of = MemoryContextAlloc(cxt, sizeof(int32) * st->buf_inputs);
		st->enc_model = NULL;
		st->layout_model = NULL;
	}
	if (st->buf_encoded < m->hdr->n_encoded)
	{
		st->buf_encoded = m->hdr->n_encoded;
		st->enc = MemoryContextAlloc(cxt, sizeof(double) * st->buf_encoded);
		st->active = MemoryContextAlloc(cxt, sizeof(int32) * st->buf_encoded);
		st->enc_model = NULL;
	}
	/* two at least: a binary model's one output becomes two probabilities */
	if (st->buf_outputs < Max(m->hdr->n_outputs, 2))
	{
		st->buf_outputs = Max(m->hdr->n_outputs, 2);
		st->out = MemoryContextAlloc(cxt, sizeof(double) * st->buf_outputs);
	}
	if (st->buf_scratch < Max(m->scratch_len, 1))
	{
		st->buf_scratch = Max(m->scratch_len, 1);
		st->scratch = MemoryContextAlloc(cxt, sizeof(double) * st->buf_scratch);
	}
}

/* Prepare a one-argument query for the life of the backend, once. */
static void
prepare_once(SPIPlanPtr *plan, const char *sql, Oid argtype)
{
	if (*plan != NULL)
		return;
	*plan = SPI_prepare(sql, 1, &argtype);
	if (*plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(*plan);
}

/*
 * The common references ('name', 'name@alias', 'name:N') of a role that has
 * mlops_reader, resolved by one prepared query run as the caller, under the
 * statement's snapshot like the rest of its reads.  _resolve_model() is a
 * definer function in PL/pgSQL and costs several times a one-row statement;
 * it still resolves every other form (MLflow URIs, @latest) and explains
 * every failure, since the fast path gives up (returns false) rather than
 * raise.  The two must agree: sql/registry.sql resolves every form both ways.
 */
static SPIPlanPtr fast_resolve_plan = NULL;

static bool
resolve_fast(text *ref, MemoryContext cxt, int64 *version_id, char **checksum_hex, char **label)
{
	const char *s = VARDATA_ANY(ref);
	int			len = VARSIZE_ANY_EXHDR(ref);
	int			sep = -1;
	Datum		args[3];
	char		nulls[3] = {' ', 'n', 'n'};
	static Oid	reader = InvalidOid;
	char	   *version_text;
	bool		ok;

	if (len == 0 || len > 600 || (len >= 8 && memcmp(s, "models:/", 8) == 0))
		return false;
	for (int i = 0; i < len; i++)
	{
		if (s[i] == '@' || s[i] == ':')
		{
			if (sep >= 0)
				return false;
			sep = i;
		}
		else if (s[i] == '\0')
			return false;
	}
	if (sep == 0 || sep == len - 1)
		return false;
	args[0] = PointerGetDatum(cstring_to_text_with_len(s, sep < 0 ? len : sep));
	if (sep >= 0 && s[sep] == '@')
	{
		if (len - sep - 1 == 6 && memcmp(s + sep + 1, "latest", 6) == 0)
			return false;
		args[1] = PointerGetDatum(cstring_to_text_with_len(s + sep + 1, len - sep - 1));
		nulls[1] = ' ';
	}
	else if (sep >= 0)
	{
		int64		v = 0;

		for (int i = sep + 1; i < len; i++)
		{
			if (s[i] < '0' || s[i] > '9' || v > PG_INT32_MAX / 10)
				return false;
			v = v * 10 + (s[i] - '0');
		}
		if (v > PG_INT32_MAX)
			return false;
		args[2] = Int32GetDatum((int32) v);
		nulls[2] = ' ';
	}

	if (!OidIsValid(reader))
		reader = get_role_oid("mlops_reader", true);
	if (!OidIsValid(reader) || !has_privs_of_role(GetUserId(), reader))
		return false;

	SPI_connect();
	if (fast_resolve_plan == NULL)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
		SPIPlanPtr	p = SPI_prepare_cursor(
									"SELECT v.version_id, v.sha256, v.version, "
									"       CASE WHEN $2 IS NOT NULL THEN '@' || $2 WHEN $3 IS NOT NULL THEN ':' || $3 "
									"            WHEN EXISTS (SELECT FROM mlops.model_aliases a WHERE a.model_id = m.model_id "
									"                            AND a.alias = 'champion') THEN '@champion' "
									"            ELSE '/Production' END "
									"  FROM mlops.registered_models m "
									"  JOIN mlops.model_versions v ON v.model_id = m.model_id "
									" WHERE m.name = $1 "
									"   AND v.version_id = CASE "
									"       WHEN $2 IS NOT NULL THEN (SELECT a.version_id FROM mlops.model_aliases a "
									"                                  WHERE a.model_id = m.model_id AND a.alias = $2) "
									"       WHEN $3 IS NOT NULL THEN (SELECT w.version_id FROM mlops.model_versions w "
									"                                  WHERE w.model_id = m.model_id AND w.version = $3) "
									"       ELSE coalesce((SELECT a.version_id FROM mlops.model_aliases a "
									"                       WHERE a.model_id = m.model_id AND a.alias = 'champion'), "
									"                     (SELECT w.version_id FROM mlops.model_versions w "
									"                       WHERE w.model_id = m.model_id AND w.stage = 'Production' "
									"                       ORDER BY w.version DESC LIMIT 1)) END",
									3, types, CURSOR_OPT_GENERIC_PLAN);

		/* generic: planning it for each statement would cost more than running it */
		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		fast_resolve_plan = p;
	}
	ok = SPI_execute_plan(fast_resolve_plan, args, nulls, true, 1) == SPI_OK_SELECT && SPI_processed == 1;
	if (ok)
	{
		bool		isnull;
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		*version_id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		*checksum_hex = SPI_getvalue(row, desc, 2);
		version_text = SPI_getvalue(row, desc, 3);
		/* the label _resolve_model gives: model "name@how" (version N) */
		*label = psprintf("model \"%s%s\" (version %s)", text_to_cstring(DatumGetTextPP(args[0])),
						  SPI_getvalue(row, desc, 4), version_text);
		/* out of SPI's memory, which SPI_finish frees */
		*checksum_hex = *checksum_hex ? MemoryContextStrdup(cxt, *checksum_hex) : NULL;
		*label = MemoryContextStrdup(cxt, *label);
	}
	SPI_finish();
	return ok;
}

/*
 * A reference's version, checksum and label through mlops._resolve_model(),
 * into a slot of st->recent: a free one, else the oldest.
 */
static ResolvedRef *
resolve_through_sql(ScoreState *st, text *ref, MemoryContext fcxt)
{
	Datum		arg = PointerGetDatum(ref);
	bool		isnull;
	char	   *checksum_hex;
	int64		version_id;
	uint8		checksum[32];
	char	   *label;
	ResolvedRef *slot;

	if (!resolve_fast(ref, fcxt, &version_id, &checksum_hex, &label))
	{
		SPI_connect();
		prepare_once(&resolve_plan, "SELECT version_id, sha256, label FROM mlops._resolve_model($1)", TEXTOID);
		if (SPI_execute_plan(resolve_plan, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "mlops._resolve_model returned no row");
		version_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		checksum_hex = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		checksum_hex = checksum_hex ? MemoryContextStrdup(fcxt, checksum_hex) : NULL;
		label = MemoryContextStrdup(fcxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3));
		SPI_finish();
	}
	if (checksum_hex == NULL || strlen(checksum_hex) != 64 ||
		hex_decode(checksum_hex, 64, (char *) checksum) != 32)
		elog(ERROR, "model version " INT64_FORMAT " has a malformed checksum", version_id);
	pfree(checksum_hex);

	/* only now, with nothing left to fail, is a slot given up */
	if (st->n_recent < SCORE_RECENT_REFS)
		slot = &st->recent[st->n_recent++];
	else
	{
		slot = &st->recent[st->next_recent];
		st->next_recent = (st->next_recent + 1) % SCORE_RECENT_REFS;
		if (slot->ref == st->ref)
			st->ref = NULL;
		pfree(slot->ref);
		pfree(slot->label);
	}
	slot->ref = MemoryContextAlloc(fcxt, VARSIZE_ANY_EXHDR(ref));
	memcpy(slot->ref, VARDATA_ANY(ref), VARSIZE_ANY_EXHDR(ref));
	slot->ref_len = VARSIZE_ANY_EXHDR(ref);
	slot->version_id = version_id;
	memcpy(slot->checksum, checksum, 32);
	slot->label = label;
	return slot;
}

/*
 * Resolve a model reference and find (or fetch and load) the compiled
 * model.  Runs SQL only for a reference not yet seen in this statement (or
 * pushed out by SCORE_RECENT_REFS others), or after an eviction.  An alias
 * is thus resolved once per statement, and every row that names it gets
 * the same version.
 */
void
score_resolve_reference(ScoreState *st, text *ref, MemoryContext fcxt)
{
	char	   *ref_str = VARDATA_ANY(ref);
	int			ref_len = VARSIZE_ANY_EXHDR(ref);
	bool		same_ref = st->ref != NULL && st->ref_len == ref_len &&
		memcmp(st->ref, ref_str, ref_len) == 0;

	if (same_ref && st->model != NULL && st->epoch == model_cache_epoch)
		return;

	if (!same_ref)
	{
		ResolvedRef *slot = NULL;

		for (int i = 0; i < st->n_recent && slot == NULL; i++)
			if (st->recent[i].ref_len == ref_len && memcmp(st->recent[i].ref, ref_str, ref_len) == 0)
				slot = &st->recent[i];
		if (slot == NULL)
			slot = resolve_through_sql(st, ref, fcxt);
		st->ref = slot->ref;
		st->ref_len = slot->ref_len;
		st->version_id = slot->version_id;
		memcpy(st->checksum, slot->checksum, 32);
		st->label = slot->label;
	}

	st->model = model_cache_find_version(st->version_id, st->checksum);
	if (st->model == NULL)
	{
		Datum		arg = Int64GetDatum(st->version_id);
		bool		isnull;
		Datum		compiled;

		/* the only way into the cache under a version: read from the registry */
		SPI_connect();
		prepare_once(&fetch_plan, "SELECT compiled FROM mlops.model_versions WHERE version_id = $1", INT8OID);
		if (SPI_execute_plan(fetch_plan, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model version " INT64_FORMAT " does not exist", st->version_id)));
		compiled = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model version " INT64_FORMAT " has no compiled form", st->version_id)));
		st->model = model_cache_add_version((bytea *) PG_DETOAST_DATUM(compiled), st->version_id, st->checksum);
		SPI_finish();
	}
	st->epoch = model_cache_epoch;
	size_buffers(fcxt, st);
}

/* Whether argument argnum of the call is a Const: the same value on every call. */
static bool
arg_is_const(FmgrInfo *flinfo, int argnum)
{
	List	   *args;

	if (flinfo->fn_expr == NULL || !IsA(flinfo->fn_expr, FuncExpr))
		return false;
	args = ((FuncExpr *) flinfo->fn_expr)->args;
	return argnum < list_length(args) && IsA(list_nth(args, argnum), Const);
}

static void
forget_seen(ScoreState *st)
{
	for (int i = 0; i < st->n_seen; i++)
	{
		pfree(st->seen[i].label);
		if (st->seen[i].raw)
			pfree(st->seen[i].raw);
	}
	st->n_seen = 0;
	st->next_seen = 0;
	st->cur_seen = -1;
	st->model = NULL;
	st->seen_epoch = model_cache_epoch;
}

static void
use_seen(ScoreState *st, int i)
{
	st->cur_seen = i;
	st->model = st->seen[i].model;
	st->label = st->seen[i].label;
}

/* A seen model whose toast pointer (ptr) or compressed bytes (raw) are these; -1 if none. */
static int
find_seen_argument(ScoreState *st, const struct varatt_external *ptr, const struct varlena *raw)
{
	for (int k = 0; k < st->n_seen; k++)
	{
		/* the one in use first: usually the argument has not changed */
		int			i = (st->cur_seen + k) % st->n_seen;
		SeenModel  *s = &st->seen[i];

		if (ptr != NULL && s->have_toast_ptr && memcmp(ptr, &s->toast_ptr, sizeof(*ptr)) == 0)
			return i;
		if (raw != NULL && s->raw != NULL && s->raw_len == VARSIZE(raw) && memcmp(s->raw, raw, s->raw_len) == 0)
			return i;
	}
	return -1;
}

/* A seen model that is exactly these compiled bytes; -1 if none. */
static int
find_seen_bytes(ScoreState *st, const char *data, Size len)
{
	for (int k = 0; k < st->n_seen; k++)
	{
		int			i = (st->cur_seen + k) % st->n_seen;

		if (model_same_bytes(st->seen[i].model, data, len))
			return i;
	}
	return -1;
}

/*
 * A compiled model passed as an argument: set st->model to it, exactly the
 * model these bytes are, on every call.  The argument may change between
 * calls of one call site even where the planner would call it stable: a
 * PL/pgSQL variable between evaluations of the same expression, a Param on
 * each rescan of a subquery, a column from row to row.  Only a Const cannot,
 * so it is read once.  Otherwise, cheapest first:
 * - a value stored out of line is named by its toast pointer: the same
 *	 pointer is the same stored value, and nothing is read;
 * - a value compressed in line is compared as it is, compressed;
 * - otherwise, and when those differ, the bytes are compared with the
 *	 models in hand (header first, then the whole compiled form);
 * - only bytes that are none of them are looked up in the cache, by their
 *	 SHA-256 (model_cache_get_compiled()), and loaded on a miss.
 * Up to SCORE_RECENT_MODELS models are kept in hand, so that rows
 * alternating between a few models (an A/B test) do not hash every row.
 */
static void
use_compiled(FunctionCallInfo fcinfo, ScoreState *st, Datum compiled)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(compiled);
	MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
	bool		ondisk = VARATT_IS_EXTERNAL_ONDISK(v);
	bool		compressed = VARATT_IS_COMPRESSED(v);
	struct varatt_external toast_ptr;
	struct varlena *flat = v;
	int			i = -1;

	if (!st->arg_checked)
	{
		st->model_arg_const = arg_is_const(fcinfo->flinfo, 0);
		st->arg_checked = true;
	}
	if (st->seen_epoch != model_cache_epoch)
		forget_seen(st);		/* something was evicted: the pointers may dangle */
	if (st->cur_seen >= 0 && st->model_arg_const)
		return;

	/* the usual case: an in-line argument with the bytes of the model in hand */
	if (st->cur_seen >= 0 && !VARATT_IS_EXTENDED(v))
	{
		Size		len = VARSIZE(v) - VARHDRSZ;

		if (len == st->model->hdr->total_size && memcmp(VARDATA(v), st->model->hdr, len) == 0)
			return;
	}

	if (ondisk)
	{
		VARATT_EXTERNAL_GET_POINTER(toast_ptr, v);
		i = find_seen_argument(st, &toast_ptr, NULL);
	}
	else if (compressed)
		i = find_seen_argument(st, NULL, v);
	if (i >= 0)
	{
		use_seen(st, i);
		return;
	}

	if (VARATT_IS_EXTERNAL(v) || compressed)
		flat = (struct varlena *) PG_DETOAST_DATUM(compiled);
	if (VARSIZE_ANY_EXHDR(flat) < sizeof(ModelHeader))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model: %u bytes is too short for a compiled model",
						(unsigned) VARSIZE_ANY_EXHDR(flat)),
				 errhint("Pass the output of mlops.compile_model() or mlops.compiled_model().")));
	i = find_seen_bytes(st, VARDATA_ANY(flat), VARSIZE_ANY_EXHDR(flat));
	if (i < 0)
	{
		const Model *model = model_cache_get_compiled((bytea *) flat);
		SeenModel  *s;

		/* loading may have evicted models this call site holds */
		if (st->seen_epoch != model_cache_epoch)
			forget_seen(st);
		if (st->n_seen < SCORE_RECENT_MODELS)
			i = st->n_seen++;
		else
		{
			i = st->next_seen;
			st->next_seen = (st->next_seen + 1) % SCORE_RECENT_MODELS;
			pfree(st->seen[i].label);
			if (st->seen[i].raw)
				pfree(st->seen[i].raw);
		}
		s = &st->seen[i];
		memset(s, 0, sizeof(*s));
		s->model = model;
		s->label = MemoryContextStrdup(cxt, model->hdr->version_id > 0
									   ? psprintf("compiled model (version id " INT64_FORMAT ")",
												  model->hdr->version_id)
									   : "compiled model");
		st->model = model;
		size_buffers(cxt, st);
	}

	/* remember how this argument looked, to know it next time without reading it */
	if (ondisk)
	{
		st->seen[i].have_toast_ptr = true;
		st->seen[i].toast_ptr = toast_ptr;
	}
	else if (compressed)
	{
		SeenModel  *s = &st->seen[i];

		if (s->raw)
			pfree(s->raw);
		s->raw_len = VARSIZE(v);
		s->raw = MemoryContextAlloc(cxt, s->raw_len);
		memcpy(s->raw, v, s->raw_len);
	}
	use_seen(st, i);
	if (flat != v)
		pfree(flat);
}

static void
signature_error(ScoreState *st, int sqlstate, const char *msg, const char *hint) pg_attribute_noreturn();

static void
signature_error(ScoreState *st, int sqlstate, const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s", msg),
			 errdetail("%s expects %d features: %s.", st->label, st->model->hdr->n_inputs,
					   model_signature_text(st->model)),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * A row that cannot be scored.  Scoring raises the error; feature_problem()
 * (st->soft) records the message instead, so that batch jobs can count and
 * set aside bad rows without a subtransaction per row.
 */
static bool
row_problem_hint(ScoreState *st, int sqlstate, const char *msg, const char *hint)
{
	if (!st->soft)
		signature_error(st, sqlstate, msg, hint);
	st->problem = msg;
	return false;
}

static bool
row_problem(ScoreState *st, int sqlstate, const char *msg)
{
	return row_problem_hint(st, sqlstate, msg, NULL);
}

/* float8[] in signature order; NULL and NaN elements are missing. */
bool
score_read_array(ScoreState *st, ArrayType *arr)
{
	const Model *m = st->model;
	int			n = ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
	/* ARR_DATA_PTR() spelled out: the macro trips -Wsign-compare */
	const double *data = (const double *) ((char *) arr +
										   (ARR_HASNULL(arr) ? arr->dataoffset
											: (int32) ARR_OVERHEAD_NONULLS(ARR_NDIM(arr))));
	const bits8 *nulls = ARR_NULLBITMAP(arr);

	if (ARR_NDIM(arr) > 1)
		return row_problem(st, ERRCODE_ARRAY_SUBSCRIPT_ERROR,
						psprintf("features must be a one-dimensional array, not %d-dimensional", ARR_NDIM(arr)));
	if (n != m->hdr->n_inputs)
		return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
						psprintf("wrong number of features for %s: got %d, expected %d",
								 st->label, n, m->hdr->n_inputs));
	if (nulls == NULL)
		st->x = data;			/* read in place: no copy on the hot path */
	else
	{
		for (int i = 0; i < n; i++)
			st->in[i] = (nulls[i / 8] & (1 << (i % 8))) ? *data++ : NAN;
		st->x = st->in;
	}
	return true;
}

/*
 * numeric -> float8 without going through text.
 *
 * numeric::float8 prints the number and reads it back with strtod(), a few
 * hundred nanoseconds a number, which made scoring by name ten times
 * slower than from a float8[].  Here the value is read from numeric's
 * stored form (base-10000 digits, a weight, a sign: the on-disk format,
 * which pg_upgrade keeps stable) as an integer w times 10^e, w < 2^64, and
 * rounded to the nearest double, ties to even, as strtod() rounds:
 * - e >= 0: w * 10^e is an exact integer below 2^128 (for e <= 38), rounded
 *	 by hand; or one exact multiplication when w < 2^53 and e <= 22
 *	 (Clinger's fast path: both factors are exact doubles);
 * - -40 <= e < 0 (what to_jsonb() makes of a float8, 15 to 17 digits,
 *	 lands here): w / 10^e as w * 2^-e * 5^-e, with 5^-e as a 128-bit
 *	 fixed-point number truncated from below (pow5_inv).  The product is
 *	 then known to within less than 2 units of its 128th bit, which decides
 *	 the rounding except when the bits below the mantissa are one unit short
 *	 of a half: then, about once in 2^74, the exact way (the idea of
 *	 Eisel and Lemire's algorithm);
 * - anything else (more than 19 digits, other exponents, NaN and infinity,
 *	 which jsonb does not hold anyway) goes the exact way through text.
 * The result is numeric::float8's, bit for bit; where that raises an
 * out-of-range error, this (like numeric_float8_no_overflow) gives infinity
 * or zero.
 */

/* numeric's stored form (src/backend/utils/adt/numeric.c) */
#define NUM_FLAGS_MASK			0xC000
#define NUM_NEG					0x4000
#define NUM_SHORT				0x8000
#define NUM_SPECIAL				0xC000
#define NUM_LONG_DSCALE_MASK	0x3FFF
#define NUM_SHORT_NEG			0x2000
#define NUM_SHORT_DSCALE_MASK	0x1F80
#define NUM_SHORT_DSCALE_SHIFT	7
#define NUM_SHORT_WEIGHT_NEG	0x0040
#define NUM_SHORT_WEIGHT_MASK	0x003F
#define NUM_BASE				10000
#define NUM_BASE_DIGITS			4

#define POW5_INV_MAX			40

static const double exact_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

static const uint64 pow10_u64[] = {
	UINT64CONST(1), UINT64CONST(10), UINT64CONST(100), UINT64CONST(1000), UINT64CONST(10000),
	UINT64CONST(100000), UINT64CONST(1000000), UINT64CONST(10000000), UINT64CONST(100000000),
	UINT64CONST(1000000000), UINT64CONST(10000000000), UINT64CONST(100000000000),
	UINT64CONST(1000000000000), UINT64CONST(10000000000000), UINT64CONST(100000000000000),
	UINT64CONST(1000000000000000), UINT64CONST(10000000000000000), UINT64CONST(100000000000000000),
	UINT64CONST(1000000000000000000), UINT64CONST(10000000000000000000)
};

static pg_noinline double
numeric_via_text(Numeric num)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(num)));
}

#ifdef HAVE_INT128

/*
 * A base-10000 digit without its trailing decimal zeros, and their count
 * (in the top two bits): 1200 -> 12, 2.  Built on first use.
 */
static uint16 digit_stripped[NUM_BASE];

/* pow5_inv[k] = floor(2^pow5_inv_exp[k] / 5^k), the exponent making it 128 bits */
static uint128 pow5_inv[POW5_INV_MAX + 1];
static int	pow5_inv_exp[POW5_INV_MAX + 1];
static bool number_tables_built = false;

static int
bits_u128(uint128 v)
{
	uint64		hi = (uint64) (v >> 64);

	return hi ? 65 + pg_leftmost_one_pos64(hi) : ((uint64) v ? 1 + pg_leftmost_one_pos64((uint64) v) : 0);
}

static pg_noinline void
build_number_tables(void)
{
	uint128		pow5 = 1;

	for (int d = 0; d < NUM_BASE; d++)
	{
		int			v = d;
		int			tz = 0;

		while (v != 0 && v % 10 == 0 && tz < 3)
		{
			v /= 10;
			tz++;
		}
		digit_stripped[d] = (uint16) (v | (tz << 14));
	}
	for (int k = 1; k <= POW5_INV_MAX; k++)
	{
		/* 2^b / 5^k by long division, one bit at a time, b so that it has 128 bits */
		int			b;
		uint128		rem = 0;
		uint128		q = 0;

		pow5 *= 5;
		b = 127 + bits_u128(pow5);
		for (int i = b; i >= 0; i--)
		{
			rem = rem * 2 + (i == b);
			q <<= 1;
			if (rem >= pow5)
			{
				rem -= pow5;
				q |= 1;
			}
		}
		Assert(bits_u128(q) == 128);
		pow5_inv[k] = q;
		pow5_inv_exp[k] = b;
	}
	number_tables_built = true;
}

/*
 * The double m * 2^e, with its sign, for 2^52 <= m <= 2^53 (a rounding
 * up may reach 2^53) and a result in the normal range: its bits directly.
 */
static inline double
make_double(uint64 m, int e, bool neg)
{
	uint64		bits;
	double		d;

	if (unlikely(m == (UINT64CONST(1) << 53)))
	{
		m >>= 1;
		e++;
	}
	if (unlikely(e + 1075 < 1 || e + 1075 > 2046))
		return neg ? -ldexp((double) m, e) : ldexp((double) m, e);	/* not reached here */
	bits = ((uint64) (e + 1075) << 52) | (m & ((UINT64CONST(1) << 52) - 1)) | ((uint64) neg << 63);
	memcpy(&d, &bits, sizeof(d));
	return d;
}

/* q * 2^scale rounded to 53 bits, ties to even; q below 2^128, at least 2^53 */
static double
round_u128(uint128 q, int scale, bool neg)
{
	int			drop = bits_u128(q) - 53;
	uint64		mant;
	uint128		rest;
	uint128		half;

	if (drop <= 0)
		return make_double((uint64) q << -drop, scale + drop, neg);	/* exact */
	mant = (uint64) (q >> drop);
	rest = q & (((uint128) 1 << drop) - 1);
	half = (uint128) 1 << (drop - 1);
	mant += rest > half || (rest == half && (mant & 1));
	return make_double(mant, drop + scale, neg);
}
#endif							/* HAVE_INT128 */

static inline double
jsonb_number(Numeric num)
{
#ifdef HAVE_INT128
	const char *p = VARDATA_ANY(num);
	Size		size = VARSIZE_ANY_EXHDR(num);
	uint16		head;
	bool		neg;
	int			dscale;
	int			weight;
	const char *digits;
	int			ndigits;
	uint64		w = 0;
	int			exp10;
	int16		dig;
	int			tz;

	if (unlikely(!number_tables_built))
		build_number_tables();
	if (unlikely(size < sizeof(uint16)))
		return numeric_via_text(num);
	memcpy(&head, p, sizeof(head));
	if (likely((head & NUM_FLAGS_MASK) == NUM_SHORT))
	{
		neg = (head & NUM_SHORT_NEG) != 0;
		dscale = (head & NUM_SHORT_DSCALE_MASK) >> NUM_SHORT_DSCALE_SHIFT;
		weight = (head & NUM_SHORT_WEIGHT_NEG ? ~NUM_SHORT_WEIGHT_MASK : 0) | (head & NUM_SHORT_WEIGHT_MASK);
		digits = p + sizeof(uint16);
		ndigits = (size - sizeof(uint16)) / sizeof(int16);
	}
	else if ((head & NUM_FLAGS_MASK) != NUM_SPECIAL && size >= 2 * sizeof(uint16))
	{
		int16		wt;

		neg = (head & NUM_FLAGS_MASK) == NUM_NEG;
		dscale = head & NUM_LONG_DSCALE_MASK;
		memcpy(&wt, p + sizeof(uint16), sizeof(wt));
		weight = wt;
		digits = p + 2 * sizeof(uint16);
		ndigits = (size - 2 * sizeof(uint16)) / sizeof(int16);
	}
	else
		return numeric_via_text(num);	/* NaN, infinity */

	if (ndigits == 0)
		return neg ? numeric_via_text(num) : 0.0;	/* zero is stored unsigned */

	/*
	 * w: the digits as one integer, without the last digit's trailing zeros
	 * (so that a digit beyond dscale shows, below).  Up to four digits
	 * cannot overflow; a fifth may (a float8 of 17 digits often spans
	 * five).  More than five is more than 19 significant digits, or so it is
	 * simpler to assume.  Only the last digit is used as an index, so only
	 * it is checked.
	 */
	if (unlikely(ndigits > 5))
		return numeric_via_text(num);
	for (int k = 0; k < ndigits - 1; k++)
	{
		memcpy(&dig, digits + k * sizeof(int16), sizeof(dig));
		w = w * NUM_BASE + (uint16) dig;
	}
	memcpy(&dig, digits + (ndigits - 1) * sizeof(int16), sizeof(dig));
	if (unlikely(dig <= 0 || dig >= NUM_BASE))
		return numeric_via_text(num);	/* a trailing 0 digit: not stored so */
	tz = digit_stripped[dig] >> 14;
	if (unlikely(pg_mul_u64_overflow(w, pow10_u64[NUM_BASE_DIGITS - tz], &w) ||
				 pg_add_u64_overflow(w, digit_stripped[dig] & 0x3FFF, &w)))
		return numeric_via_text(num);	/* more than 19 digits */
	exp10 = NUM_BASE_DIGITS * (weight - ndigits + 1) + tz;
	/* numeric_out() prints dscale decimals: a digit beyond them would not be read */
	if (unlikely(exp10 < -dscale))
		return numeric_via_text(num);

	if (exp10 < 0 && exp10 >= -POW5_INV_MAX)
	{
		/*
		 * w / 10^k = (w << lz) * pow5_inv[k] * 2^-(lz + k + b).  The
		 * truncations (of pow5_inv[k], then of the product to its top 128
		 * bits, u) leave the true top bits in [u, u + 2).  So unless the
		 * bits below the mantissa are half minus one, the rounding is known.
		 */
		int			k = -exp10;
		int			lz = 63 - pg_leftmost_one_pos64(w);
		uint64		wn = w << lz;
		uint128		u = (uint128) wn * (uint64) (pow5_inv[k] >> 64) +
			(((uint128) wn * (uint64) pow5_inv[k]) >> 64);
		/* u has 127 or 128 bits, so the 53 of the mantissa are in its high word */
		uint64		hi = (uint64) (u >> 64);
		uint64		lo = (uint64) u;
		int			sh = 10 + (int) (hi >> 63);
		int			drop = 64 + sh;
		uint64		mant = hi >> sh;
		uint64		rest_hi = hi & ((UINT64CONST(1) << sh) - 1);
		uint64		half_hi = UINT64CONST(1) << (sh - 1);

		if (unlikely(rest_hi == half_hi - 1 && lo == PG_UINT64_MAX))
			return numeric_via_text(num);
		mant += rest_hi >= half_hi; /* the true rest is above what is seen */
		return make_double(mant, drop + 64 - lz - k - pow5_inv_exp[k], neg);
	}
	if (exp10 >= 0 && exp10 <= 22 && w < (UINT64CONST(1) << 53))
	{
		double		d = (double) w * exact_pow10[exp10];

		return neg ? -d : d;
	}
	if (exp10 >= 0 && exp10 <= 38)
	{
		uint128		p10 = (uint128) pow10_u64[Min(exp10, 19)] * pow10_u64[Max(exp10 - 19, 0)];

		if (1 + pg_leftmost_one_pos64(w) + bits_u128(p10) > 128)
			return numeric_via_text(num);
		return round_u128((uint128) w * p10, 0, neg);
	}
#endif
	return numeric_via_text(num);
}

/*
 * The exclude list of a call (NULL: none), kept while the argument's bytes
 * stay the same.  NULL elements leave nothing out.
 */
static void
set_exclude(ScoreState *st, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (arr == NULL)
	{
		if (st->excl_active)
			st->excl_version++;
		st->excl_active = false;
		return;
	}
	if (st->excl_active && st->excl_raw != NULL && st->excl_raw_len == VARSIZE(arr) &&
		memcmp(st->excl_raw, arr, st->excl_raw_len) == 0)
		return;
	st->excl_active = true;
	st->excl_version++;
	if (st->excl_raw != NULL && st->excl_raw_len == VARSIZE(arr) && memcmp(st->excl_raw, arr, st->excl_raw_len) == 0)
		return;

	if (st->excl_raw != NULL)
	{
		for (int i = 0; i < st->n_excl; i++)
			pfree(st->excl_name[i]);
		pfree(st->excl_raw);
		pfree(st->excl_name);
		pfree(st->excl_len);
		st->excl_raw = NULL;
	}
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	st->excl_name = MemoryContextAlloc(st->cxt, sizeof(char *) * Max(n, 1));
	st->excl_len = MemoryContextAlloc(st->cxt, sizeof(int) * Max(n, 1));
	st->n_excl = 0;
	for (int i = 0; i < n; i++)
	{
		text	   *t;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		st->excl_len[st->n_excl] = VARSIZE_ANY_EXHDR(t);
		st->excl_name[st->n_excl] = MemoryContextAlloc(st->cxt, VARSIZE_ANY_EXHDR(t) + 1);
		memcpy(st->excl_name[st->n_excl], VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		st->excl_name[st->n_excl][VARSIZE_ANY_EXHDR(t)] = '\0';
		st->n_excl++;
	}
	st->excl_raw_len = VARSIZE(arr);
	st->excl_raw = MemoryContextAlloc(st->cxt, st->excl_raw_len);
	memcpy(st->excl_raw, arr, st->excl_raw_len);
	st->excl_model = NULL;
}

static bool
excluded_key(ScoreState *st, const char *key, int len)
{
	for (int i = 0; i < st->n_excl; i++)
		if (st->excl_len[i] == len && memcmp(st->excl_name[i], key, len) == 0)
			return true;
	return false;
}

/* The inputs of st->model that the exclude list names: they are left out. */
static void
excluded_features(ScoreState *st)
{
	const Model *m = st->model;

	if (st->excl_model == m && st->excl_epoch == model_cache_epoch)
		return;
	if (st->excl_features != NULL)
		pfree(st->excl_features);
	st->excl_features = MemoryContextAlloc(st->cxt, sizeof(int32) * m->hdr->n_inputs);
	st->n_excl_features = 0;
	for (int f = 0; f < m->hdr->n_inputs; f++)
		if (excluded_key(st, model_string(m, m->feature_name[f]), m->feature_len[f]))
			st->excl_features[st->n_excl_features++] = f;
	st->excl_model = m;
	st->excl_epoch = model_cache_epoch;
}

/*
 * jsonb's key order: by length, then bytes (unsigned).  Feature names are
 * short: a loop beats a call to memcmp().
 */
static inline int
compare_key(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	for (int i = 0; i < alen; i++)
		if (a[i] != b[i])
			return (unsigned char) a[i] < (unsigned char) b[i] ? -1 : 1;
	return 0;
}

/*
 * jsonb object {"feature": value}; absent keys and nulls are missing, keys
 * in st's exclude list are left out, other keys are errors.
 *
 * The object is read in place.  Its keys are stored sorted (by length, then
 * bytes), and the model keeps its features in that order too
 * (Model.feature_order), so one merge of the two lists finds every
 * feature's key, and every key that is not a feature, in K + F comparisons
 * instead of a binary search per feature.  Rows of one column usually have
 * the same keys, so the match is kept (feat_of, key_of) and reused while the
 * keys are the same bytes.  The values are then read in one pass in storage
 * order, numbers converted as they come; anything else (a category, a null,
 * a value of the wrong type) is left to a second pass in the signature's
 * order, so that a row with several problems reports the one it always has.
 */
bool
score_read_jsonb(ScoreState *st, Jsonb *jb)
{
	const Model *m = st->model;
	const JsonbContainer *jc = &jb->root;
	int			n_keys;
	const char *base;
	uint32		keys_end;
	int			unknown;
	uint32	   *off;
	int32	   *feat_of;
	double	   *in;
	const int32 *kind = m->feature_kind;
	int			n_inputs = m->hdr->n_inputs;
	bool		second_pass = false;
	uint32		offset;

	st->x = st->in;
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
						"features must be a JSON object of feature names and values");

	/*
	 * The row is read from one end to the other, and usually comes cold from
	 * a shared buffer: ask for all its cache lines at once rather than one
	 * after another as the reads reach them.
	 */
#ifdef __GNUC__
	for (Size pos = 64; pos < VARSIZE(jb); pos += 64)
		__builtin_prefetch((const char *) jb + pos);
#endif

	n_keys = JsonContainerSize(jc);
	base = (const char *) &jc->children[2 * n_keys];
	if (st->buf_offsets < 2 * n_keys + 1)
	{
		if (st->offsets)
			pfree(st->offsets);
		if (st->feat_of)
			pfree(st->feat_of);
		st->buf_offsets = Max(2 * n_keys + 1, 64);
		st->offsets = MemoryContextAlloc(st->cxt, sizeof(uint32) * st->buf_offsets);
		st->feat_of = MemoryContextAlloc(st->cxt, sizeof(int32) * st->buf_offsets);
		st->layout_model = NULL;
	}

	/*
	 * Locals: PostgreSQL builds with -fno-strict-aliasing, so every store
	 * through a pointer would otherwise reload st's and m's fields.
	 */
	off = st->offsets;
	feat_of = st->feat_of;
	in = st->in;

	if (st->layout_model == m && st->layout_epoch == model_cache_epoch &&
		st->layout_excl_version == st->excl_version && st->layout_n == n_keys &&
		memcmp(st->layout, jc->children, sizeof(JEntry) * n_keys) == 0 &&
		memcmp(st->layout + sizeof(JEntry) * n_keys, base, st->layout_len - sizeof(JEntry) * n_keys) == 0)
	{
		/* the same keys as the previous row (their entries, so their lengths, and bytes) */
		keys_end = st->layout_len - sizeof(JEntry) * n_keys;
		unknown = st->layout_unknown;
	}
	else
	{
		const int32 *order = m->feature_order;
		const int32 *flen = m->feature_len;
		const uint32 *fname = m->feature_name;
		const char *strings = m->strings;
		int32	   *key_of = st->key_of;
		int			next = 0;	/* in feature_order: the first feature not below the key */
		Size		len_needed;

		offset = 0;
		for (int k = 0; k < n_keys; k++)
		{
			off[k] = offset;
			JBE_ADVANCE_OFFSET(offset, jc->children[k]);
		}
		off[n_keys] = keys_end = offset;

		unknown = -1;
		for (int f = 0; f < n_inputs; f++)
			key_of[f] = -1;
		for (int k = 0; k < n_keys; k++)
		{
			const char *key = base + off[k];
			int			len = off[k + 1] - off[k];

			feat_of[k] = -1;
			while (next < n_inputs)
			{
				int			f = order[next];
				int			cmp = compare_key(key, len, strings + fname[f], flen[f]);

				if (cmp < 0)
					break;
				if (cmp == 0)
				{
					/* a hand-made model may name two inputs alike: the key is both */
					if (feat_of[k] >= 0)
						second_pass = true;
					key_of[f] = k;
					feat_of[k] = f;
				}
				next++;			/* below the key (absent), or matched */
			}
			if (feat_of[k] < 0 && unknown < 0 && !(st->excl_active && excluded_key(st, key, len)))
				unknown = k;
		}
		if (st->excl_active && st->n_excl > 0)
		{
			/* a feature that is excluded is left out: missing */
			excluded_features(st);
			for (int e = 0; e < st->n_excl_features; e++)
			{
				int			f = st->excl_features[e];

				if (key_of[f] >= 0)
					feat_of[key_of[f]] = -1;
				key_of[f] = -1;
			}
		}

		/* these keys, for the next row */
		len_needed = sizeof(JEntry) * n_keys + keys_end;
		if (st->layout_alloc < len_needed)
		{
			if (st->layout)
				pfree(st->layout);
			st->layout_alloc = Max(len_needed, 1024);
			st->layout = MemoryContextAlloc(st->cxt, st->layout_alloc);
		}
		memcpy(st->layout, jc->children, sizeof(JEntry) * n_keys);
		memcpy(st->layout + sizeof(JEntry) * n_keys, base, keys_end);
		st->layout_len = len_needed;
		st->layout_n = n_keys;
		st->layout_unknown = unknown;
		st->layout_model = second_pass ? NULL : m;	/* duplicate names: not worth keeping */
		st->layout_epoch = model_cache_epoch;
		st->layout_excl_version = st->excl_version;
	}

	/* the values, in storage order: numbers for numeric features here */
	for (int i = 0; i < n_inputs; i++)
		in[i] = NAN;
	offset = keys_end;
	for (int k = 0; k < n_keys; k++)
	{
		JEntry		je = jc->children[n_keys + k];
		int			f = feat_of[k];

		off[n_keys + k] = offset;
		if (f >= 0)
		{
			if (likely(JBE_ISNUMERIC(je) && kind[f] == FEATURE_NUMERIC))
				in[f] = jsonb_number((Numeric) (base + INTALIGN(offset)));
			else
				second_pass = true;
		}
		JBE_ADVANCE_OFFSET(offset, je);
	}
	off[2 * n_keys] = offset;
	if (!second_pass && unknown < 0)
		return true;

	/*
	 * The rest, in the signature's order.  A number is never NaN here (jsonb
	 * holds none), so NaN marks the inputs still to read.
	 */
	if (second_pass)
	{
		int32	   *key_of = st->key_of;

		for (int i = 0; i < n_inputs; i++)
		{
			int			k = key_of[i];
			JEntry		je;
			uint32		voff;
			const char *name;

			if (k < 0 || !isnan(in[i]))
				continue;
			je = jc->children[n_keys + k];
			voff = off[n_keys + k];
			if (JBE_ISNULL(je))
				continue;
			name = model_string(m, m->feature_name[i]);
			if (kind[i] == FEATURE_NUMERIC)
			{
				if (JBE_ISNUMERIC(je))
					in[i] = jsonb_number((Numeric) (base + INTALIGN(voff)));
				else if (JBE_ISBOOL(je))
					in[i] = JBE_ISBOOL_TRUE(je) ? 1.0 : 0.0;
				else
					return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
									psprintf("feature \"%s\" of %s is numeric, but got a %s",
											 name, st->label, JBE_ISSTRING(je) ? "string" : "JSON container"));
			}
			else
			{
				const char *s;
				int			len;
				int			idx;

				if (JBE_ISSTRING(je))
				{
					s = base + voff;
					len = off[n_keys + k + 1] - voff;
				}
				else if (JBE_ISNUMERIC(je))
				{
					/*
					 * Numeric categories are integers in the artifact; 2.0 is
					 * the category 2, as it is to scikit-learn.
					 */
					Numeric		num = (Numeric) (base + INTALIGN(voff));
					double		d = jsonb_number(num);

					if (d == floor(d) && fabs(d) < 1e15)
						s = psprintf(INT64_FORMAT, (int64) d);
					else
						s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
					len = strlen(s);
				}
				else if (JBE_ISBOOL(je))
				{
					s = JBE_ISBOOL_TRUE(je) ? "true" : "false";
					len = strlen(s);
				}
				else
					return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
									psprintf("feature \"%s\" of %s is categorical, but got a JSON container",
											 name, st->label));
				idx = model_find_category(m, i, s, len);
				if (idx < 0 && !m->feature_unknown_ignore[i])
					return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
									psprintf("unknown category \"%.*s\" for feature \"%s\" of %s",
											 Min(len, 100), s, name, st->label));
				in[i] = idx < 0 ? -1 : idx;	/* -1: unknown, encoded as all zeros */
			}
		}
	}

	if (unknown >= 0)
	{
		uint32		kstart = 0;
		uint32		kend = 0;

		/* where the unknown key is: the key offsets may not have been worked out */
		for (int k = 0; k <= unknown; k++)
		{
			kstart = kend;
			JBE_ADVANCE_OFFSET(kend, jc->children[k]);
		}
		return row_problem_hint(st, ERRCODE_INVALID_PARAMETER_VALUE,
								psprintf("unknown feature \"%.*s\" for %s", (int) Min(kend - kstart, 100),
										 base + kstart, st->label),
								"To score a row that has other columns too, leave them out with "
								"exclude => ARRAY['id', ...].");
	}
	return true;
}

/*
 * A missing input (*v is NaN): its imputed value, or NaN kept for a tree
 * model (which sends it down each split's default branch); for the other
 * families without imputation, a row problem.
 */
static inline bool
impute(ScoreState *st, int i, double *v)
{
	const Model *m = st->model;

	if (m->impute_set[i])
		*v = m->impute_value[i];
	else if (m->hdr->family != FAMILY_TREES)
		return row_problem(st, ERRCODE_NULL_VALUE_NOT_ALLOWED,
						   psprintf("feature \"%s\" is NULL or NaN, and %s has no imputation for it",
									model_string(m, m->feature_name[i]), st->label));
	return true;
}

/*
 * An input that is not a finite number (*v): NaN is missing (impute()),
 * infinity a row problem.  scikit-learn and XGBoost refuse infinite inputs,
 * and a model would turn one into an infinite or NaN score.
 */
static bool
not_finite(ScoreState *st, int i, double *v)
{
	if (isnan(*v))
		return impute(st, i, v);
	return row_problem_hint(st, ERRCODE_INVALID_PARAMETER_VALUE,
							psprintf("feature \"%s\" of %s is infinite",
									 model_string(st->model, st->model->feature_name[i]), st->label),
							"NULL and NaN are the missing values; infinite values are refused.");
}

/* an encoded column's value after the scaler, computed as the dense loop does */
static inline double
scaled(const Model *m, int j, double v)
{
	return m->scale_center ? (v - m->scale_center[j]) / m->scale_factor[j] : v;
}

/*
 * Imputation, one-hot encoding, scaling: st->x (one value per input, NaN
 * for missing; a category index for categorical inputs) to enc, n_encoded
 * values.  When enc is st->enc and the model's blocks stay sparse, the
 * blocks written for the previous row are updated in place and st->active
 * lists the columns that may be nonzero (st->n_active); otherwise every
 * column is written (st->n_active = -1).  Both give the same values.
 */
bool
score_encode(ScoreState *st, bool from_jsonb, double *enc)
{
	const Model *m = st->model;
	bool		incremental = (enc == st->enc && m->sparse_onehot);
	int			n_active = 0;

	st->n_active = -1;
	if (!m->any_categorical && m->scale_center == NULL)
	{
		/* the common case: numbers only */
		for (int i = 0; i < m->hdr->n_inputs; i++)
		{
			double		v = st->x[i];

			if (!isfinite(v) && !not_finite(st, i, &v))
				return false;
			enc[i] = v;
		}
		return true;
	}

	if (incremental && (st->enc_model != m || st->enc_epoch != model_cache_epoch))
	{
		for (int i = 0; i < m->hdr->n_inputs; i++)
			st->hot[i] = -2;
		st->enc_model = m;
		st->enc_epoch = model_cache_epoch;
	}

	for (int i = 0; i < m->hdr->n_inputs; i++)
	{
		double		v = st->x[i];
		int			first = m->encoded_first[i];
		int			ncat;

		if (!isfinite(v) && !not_finite(st, i, &v))
			return false;
		if (m->feature_kind[i] == FEATURE_NUMERIC)
		{
			if (incremental)
			{
				enc[first] = scaled(m, first, v);
				st->active[n_active++] = first;
			}
			else
				enc[first] = v;
			continue;
		}

		ncat = m->feature_ncat[i];
		if (!isnan(v) && !from_jsonb && (v != floor(v) || v < 0 || v >= ncat))
		{
			if (!m->feature_unknown_ignore[i])
				return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
								   psprintf("feature \"%s\" is categorical: expected a category index from 0 to %d, got %g",
											model_string(m, m->feature_name[i]), ncat - 1, v));
			v = -1;
		}
		if (!incremental)
		{
			/* missing, for a tree: every indicator is missing */
			for (int j = 0; j < ncat; j++)
				enc[first + j] = isnan(v) ? NAN : (j == (int) v) ? 1.0 : 0.0;
		}
		else if (isnan(v))
		{
			for (int j = 0; j < ncat; j++)
			{
				enc[first + j] = NAN;
				st->active[n_active++] = first + j;
			}
			st->hot[i] = -2;
		}
		else
		{
			int			k = (int) v;	/* -1: an unknown category, all zeros */

			if (st->hot[i] == -2)
				for (int j = 0; j < ncat; j++)
					enc[first + j] = scaled(m, first + j, 0.0);
			else if (st->hot[i] >= 0)
				enc[first + st->hot[i]] = scaled(m, first + st->hot[i], 0.0);
			if (k >= 0)
			{
				enc[first + k] = scaled(m, first + k, 1.0);
				st->active[n_active++] = first + k;
			}
			st->hot[i] = k;
		}
	}
	if (incremental)
		st->n_active = n_active;
	else if (m->scale_center)
		for (int j = 0; j < m->hdr->n_encoded; j++)
			enc[j] = (enc[j] - m->scale_center[j]) / m->scale_factor[j];
	return true;
}

/*
 * The SQL values of a model's outputs, already evaluated into "out" (which
 * has room for two values at least): for each of kinds[], a float8, a
 * float8[] or a text, in the current memory context.  The class is chosen
 * from the unrounded values; the numbers are rounded as the model's
 * library returns them (model_round_outputs()).
 */
void
score_outputs(ScoreState *st, double *out, const ScoreOutput *kinds, int n_kinds, Datum *values)
{
	const Model *m = st->model;
	const ModelHeader *h = m->hdr;
	int			n_proba = h->task == TASK_BINARY && h->n_outputs == 1 ? 2 : h->n_outputs;
	int			best = 0;

	/*
	 * The inputs were finite (score_encode()), so a NaN here is an overflow
	 * inside the model (inf - inf, 0 * inf): an error, not a score.
	 */
	for (int i = 0; i < h->n_outputs; i++)
		if (isnan(out[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s computed NaN from finite features", st->label),
					 errdetail("A value overflowed inside the model (such as infinity minus infinity)."),
					 errhint("Check the scale of the features: values this large are out of the model's range.")));
	if (h->task == TASK_BINARY && h->n_outputs == 1)
	{
		/* one logistic output: the probability of classes[1] */
		out[1] = out[0];
		out[0] = 1.0 - out[1];
	}
	/* the first of equal maxima wins, as numpy's argmax */
	for (int i = 1; i < n_proba; i++)
		if (out[i] > out[best])
			best = i;
	model_round_outputs(m, out, n_proba);

	for (int k = 0; k < n_kinds; k++)
	{
		switch (kinds[k])
		{
			case OUT_VALUE:
				if (h->task == TASK_MULTICLASS)
					ereport(ERROR,
							(errcode(ERRCODE_WRONG_OBJECT_TYPE),
							 errmsg("%s is a multiclass model: there is no single prediction value", st->label),
							 errhint("Use predict_proba() for the class probabilities or predict_class() for the label.")));
				values[k] = Float8GetDatum(h->task == TASK_REGRESSION ? out[0] : out[1]);
				break;
			case OUT_PROBA:
				{
					Datum	   *elems;

					if (h->task == TASK_REGRESSION)
						ereport(ERROR,
								(errcode(ERRCODE_WRONG_OBJECT_TYPE),
								 errmsg("%s is a regression model: it has no class probabilities", st->label),
								 errhint("Use predict().")));
					elems = palloc(sizeof(Datum) * n_proba);
					for (int i = 0; i < n_proba; i++)
						elems[i] = Float8GetDatum(out[i]);
					values[k] = PointerGetDatum(construct_array(elems, n_proba, FLOAT8OID, sizeof(float8),
																FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
					break;
				}
			case OUT_CLASS:
				if (h->task == TASK_REGRESSION)
					ereport(ERROR,
							(errcode(ERRCODE_WRONG_OBJECT_TYPE),
							 errmsg("%s is a regression model: it has no classes", st->label),
							 errhint("Use predict().")));
				values[k] = PointerGetDatum(cstring_to_text(model_string(m, m->class_name[best])));
				break;
		}
	}
}

static Datum
finish(ScoreState *st, ScoreOutput kind)
{
	Datum		value;

	if (st->n_active >= 0)
		model_eval_sparse(st->model, st->enc, st->active, st->n_active, st->out, st->scratch);
	else
		model_eval(st->model, st->enc, st->out, st->scratch);
	score_outputs(st, st->out, &kind, 1, &value);
	return value;
}

/* the exclude argument of the three-argument jsonb variants; NULL excludes nothing */
static void
read_exclude(FunctionCallInfo fcinfo, ScoreState *st, bool jsonb_features)
{
	if (jsonb_features && PG_NARGS() > 2 && !PG_ARGISNULL(2))
		set_exclude(st, PG_GETARG_ARRAYTYPE_P(2));
	else
		set_exclude(st, NULL);
}

/*
 * The scoring functions.  The jsonb ones also serve the variants with a
 * third argument, exclude text[].
 */
static Datum
predict_common(FunctionCallInfo fcinfo, ScoreOutput kind, bool by_reference, bool jsonb_features)
{
	ScoreState *st = score_state(fcinfo);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model must not be NULL")));
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();		/* no features, no prediction: a NULL row stays NULL */

	if (by_reference)
		score_resolve_reference(st, PG_GETARG_TEXT_PP(0), fcinfo->flinfo->fn_mcxt);
	else
		use_compiled(fcinfo, st, PG_GETARG_DATUM(0));

	if (jsonb_features)
	{
		read_exclude(fcinfo, st, jsonb_features);
		score_read_jsonb(st, PG_GETARG_JSONB_P(1));
	}
	else
		score_read_array(st, PG_GETARG_ARRAYTYPE_P(1));
	score_encode(st, jsonb_features, st->enc);
	return finish(st, kind);
}

/* A fresh state for score_reference(), in cxt. */
ScoreState *
score_state_create(MemoryContext cxt)
{
	ScoreState *st = MemoryContextAllocZero(cxt, sizeof(ScoreState));

	st->cxt = cxt;
	st->cur_seen = -1;
	return st;
}

/*
 * Score with a model the caller loaded itself: train() evaluates the model
 * it is about to register on the held-out rows through the very encoding
 * predict() applies, so that the metrics it logs are the registered model's.
 */
void
score_use_model(ScoreState *st, const Model *m, const char *label)
{
	st->model = m;
	st->label = MemoryContextStrdup(st->cxt, label);
	size_buffers(st->cxt, st);
}

/*
 * One output of the model that ref names for one row of features (float8[]
 * or jsonb, not NULL), with a state the caller keeps: predict_ab() scores
 * each variant of a test with a state of its own, so that a variant's model
 * stays resolved and its buffers sized while rows alternate between them.
 */
Datum
score_reference(ScoreState *st, text *ref, Datum features, bool jsonb_features, ScoreOutput kind,
				MemoryContext cxt)
{
	score_resolve_reference(st, ref, cxt);
	if (jsonb_features)
	{
		set_exclude(st, NULL);
		score_read_jsonb(st, DatumGetJsonbP(features));
	}
	else
		score_read_array(st, DatumGetArrayTypeP(features));
	score_encode(st, jsonb_features, st->enc);
	return finish(st, kind);
}

#define SCORE_FUNCTION(sqlname, kind, byref, json) \
PG_FUNCTION_INFO_V1(sqlname); \
Datum sqlname(PG_FUNCTION_ARGS) { return predict_common(fcinfo, kind, byref, json); }

SCORE_FUNCTION(mlops_predict_array, OUT_VALUE, true, false)
SCORE_FUNCTION(mlops_predict_proba_array, OUT_PROBA, true, false)
SCORE_FUNCTION(mlops_predict_class_array, OUT_CLASS, true, false)
SCORE_FUNCTION(mlops_predict_jsonb, OUT_VALUE, true, true)
SCORE_FUNCTION(mlops_predict_proba_jsonb, OUT_PROBA, true, true)
SCORE_FUNCTION(mlops_predict_class_jsonb, OUT_CLASS, true, true)
SCORE_FUNCTION(mlops_score_array, OUT_VALUE, false, false)
SCORE_FUNCTION(mlops_score_proba_array, OUT_PROBA, false, false)
SCORE_FUNCTION(mlops_score_class_array, OUT_CLASS, false, false)
SCORE_FUNCTION(mlops_score_jsonb, OUT_VALUE, false, true)
SCORE_FUNCTION(mlops_score_proba_jsonb, OUT_PROBA, false, true)
SCORE_FUNCTION(mlops_score_class_jsonb, OUT_CLASS, false, true)

static Datum
problem_common(FunctionCallInfo fcinfo, bool jsonb_features)
{
	ScoreState *st = score_state(fcinfo);
	bool		ok;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model must not be NULL")));
	if (PG_ARGISNULL(1))
		PG_RETURN_TEXT_P(cstring_to_text("the features are NULL"));
	score_resolve_reference(st, PG_GETARG_TEXT_PP(0), fcinfo->flinfo->fn_mcxt);

	read_exclude(fcinfo, st, jsonb_features);
	st->soft = true;
	st->problem = NULL;
	ok = jsonb_features ? score_read_jsonb(st, PG_GETARG_JSONB_P(1)) : score_read_array(st, PG_GETARG_ARRAYTYPE_P(1));
	ok = ok && score_encode(st, jsonb_features, st->enc);
	st->soft = false;
	if (ok)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(st->problem));
}

PG_FUNCTION_INFO_V1(mlops_feature_problem_array);
Datum
mlops_feature_problem_array(PG_FUNCTION_ARGS)
{
	return problem_common(fcinfo, false);
}

PG_FUNCTION_INFO_V1(mlops_feature_problem_jsonb);
Datum
mlops_feature_problem_jsonb(PG_FUNCTION_ARGS)
{
	return problem_common(fcinfo, true);
}

PG_FUNCTION_INFO_V1(mlops_model_cache_stats);

Datum
mlops_model_cache_stats(PG_FUNCTION_ARGS)
{
	int64		entries,
				bytes,
				hits,
				misses,
				evictions;
	char	   *json;

	model_cache_stats(&entries, &bytes, &hits, &misses, &evictions);
	json = psprintf("{\"entries\": " INT64_FORMAT ", \"bytes\": " INT64_FORMAT ", \"limit_bytes\": " INT64_FORMAT
					", \"hits\": " INT64_FORMAT ", \"misses\": " INT64_FORMAT ", \"evictions\": " INT64_FORMAT "}",
					entries, bytes, (int64) mlops_model_cache_kb * 1024, hits, misses, evictions);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

PG_FUNCTION_INFO_V1(mlops_model_cache_reset);

Datum
mlops_model_cache_reset(PG_FUNCTION_ARGS)
{
	model_cache_reset();
	PG_RETURN_VOID();
}
