/*
 * tracking.c
 *	  The C half of experiment tracking.  The tracking tables and their write
 *	  functions are SQL (extension/mlops--*.sql); this file owns what SQL does
 *	  badly or cannot do:
 *
 *	  - name and value checks with precise errors (which character, how long),
 *		shared by every concept that takes user-chosen names;
 *	  - the identity of the role that called us, seen through SECURITY DEFINER,
 *		and the role check every public function starts with;
 *	  - reading a relation with the caller's privileges from inside a
 *		SECURITY DEFINER function (for dataset lineage);
 *	  - content_digest(), an order-independent SHA-256 digest of a relation's
 *		rows, as a parallel-safe aggregate, used for dataset lineage.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type_d.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "compat.h"
#include "mlops.h"

/* MLflow's limit, kept so that runs can move between the two systems. */
#define MLOPS_MAX_KEY_CHARS 250

static bool
key_char_allowed(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') ||
		c == '_' || c == '-' || c == '.' || c == '/' || c == ':' || c == ' ';
}

/* Describe the character at byte offset "pos" of "s" for an error detail. */
static char *
describe_char_at(const char *s, int len, int pos)
{
	int			charno = pg_mbstrlen_with_len(s, pos) + 1;
	int			clen = pg_mblen(s + pos);
	unsigned char c = (unsigned char) s[pos];

	if (c < 0x20 || c == 0x7f)
		return psprintf("Character %d is the control character 0x%02x.", charno, c);
	return psprintf("Character %d (\"%.*s\") is not allowed.", charno,
					Min(clen, len - pos), s + pos);
}

/*
 * The checks below name what they check ("metric key") and, for elements of
 * a JSON batch, where it is ("metrics[3]"), so that the error points at it.
 */
static const char *
subject_arg(FunctionCallInfo fcinfo, const char *fallback, int at_arg, const char **suffix)
{
	const char *kind = PG_ARGISNULL(0) ? fallback : text_to_cstring(PG_GETARG_TEXT_PP(0));

	*suffix = "";
	if (PG_NARGS() > at_arg && !PG_ARGISNULL(at_arg))
		*suffix = psprintf(" at %s", text_to_cstring(PG_GETARG_TEXT_PP(at_arg)));
	return kind;
}

PG_FUNCTION_INFO_V1(mlops_check_key);

/*
 * _check_key(kind text, key text, at text) returns key
 *
 * Keys of params, metrics and tags end up as column labels, jsonb keys and
 * file names in exports, so they are held to a small, portable alphabet.
 */
Datum
mlops_check_key(PG_FUNCTION_ARGS)
{
	const char *at;
	const char *kind = subject_arg(fcinfo, "key", 2, &at);
	text	   *key;
	const char *s;
	int			len;
	int			nchars;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s%s must not be NULL", kind, at)));

	key = PG_GETARG_TEXT_PP(1);
	s = VARDATA_ANY(key);
	len = VARSIZE_ANY_EXHDR(key);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s%s must not be empty", kind, at)));

	nchars = pg_mbstrlen_with_len(s, len);
	if (nchars > MLOPS_MAX_KEY_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s%s is too long", kind, at),
				 errdetail("The %s \"%.40s...\" has %d characters; the limit is %d.",
						   kind, s, nchars, MLOPS_MAX_KEY_CHARS)));

	for (int i = 0; i < len; i++)
	{
		if (!key_char_allowed((unsigned char) s[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid %s \"%.*s\"%s", kind, len, s, at),
					 errdetail("%s", describe_char_at(s, len, i)),
					 errhint("Keys may contain ASCII letters, digits, underscores, dashes, "
							 "periods, slashes, colons and spaces.")));
	}

	if (s[0] == ' ' || s[len - 1] == ' ')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s \"%.*s\"%s", kind, len, s, at),
				 errdetail("Keys must not begin or end with a space.")));

	PG_RETURN_TEXT_P(key);
}

PG_FUNCTION_INFO_V1(mlops_check_label);

/*
 * _check_label(kind text, label text, max_chars int) returns label
 *
 * Human-facing names (experiments, runs): any printable text, but not blank,
 * not absurdly long, and free of control characters that would corrupt logs,
 * CSV exports and dashboards.
 */
Datum
mlops_check_label(PG_FUNCTION_ARGS)
{
	const char *at;
	const char *kind = subject_arg(fcinfo, "name", 3, &at);
	int32		max_chars = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	text	   *label;
	const char *s;
	int			len;
	int			nchars;
	bool		blank = true;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s%s must not be NULL", kind, at)));

	label = PG_GETARG_TEXT_PP(1);
	s = VARDATA_ANY(label);
	len = VARSIZE_ANY_EXHDR(label);

	nchars = pg_mbstrlen_with_len(s, len);
	if (max_chars > 0 && nchars > max_chars)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s%s is too long", kind, at),
				 errdetail("The %s \"%.40s...\" has %d characters; the limit is %d.",
						   kind, s, nchars, max_chars)));

	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid %s%s", kind, at),
					 errdetail("%s", describe_char_at(s, len, i)),
					 errhint("Names may not contain tabs, newlines or other control characters.")));
		if (c != ' ')
			blank = false;
	}

	if (blank)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s%s must not be empty or blank", kind, at)));

	PG_RETURN_TEXT_P(label);
}

PG_FUNCTION_INFO_V1(mlops_check_value);

/*
 * _check_value(kind text, value text, max_chars int, at text) returns value
 *
 * Param and tag values may hold any text, but they must be present and
 * bounded: a NULL would read as "never logged", and megabyte-sized values
 * belong in artifacts.
 */
Datum
mlops_check_value(PG_FUNCTION_ARGS)
{
	const char *at;
	const char *kind = subject_arg(fcinfo, "value", 3, &at);
	int32		max_chars = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	text	   *value;
	int			nchars;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s%s must not be NULL", kind, at)));

	value = PG_GETARG_TEXT_PP(1);
	nchars = pg_mbstrlen_with_len(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	if (max_chars > 0 && nchars > max_chars)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s%s is too long", kind, at),
				 errdetail("The value has %d characters; the limit is %d.",
						   nchars, max_chars),
				 errhint("Store large content with mlops.log_artifact instead.")));

	PG_RETURN_TEXT_P(value);
}

PG_FUNCTION_INFO_V1(mlops_invoking_user);

/*
 * The role on whose behalf we are working.  The tracking write functions are
 * SECURITY DEFINER, so current_user inside them is the extension owner; the
 * outer user ID is the role the session (or SET ROLE) actually runs as, which
 * is what an audit trail must name.
 */
Datum
mlops_invoking_user(PG_FUNCTION_ARGS)
{
	char	   *rolname = GetUserNameFromId(GetOuterUserId(), false);

	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(rolname)));
}

PG_FUNCTION_INFO_V1(mlops_require_role);

/*
 * _require_role(role_name text, function_name text)
 *
 * The gate of every public function: the invoking role (as _invoking_user()
 * sees it) must have the privileges of role_name.  PostgreSQL's own refusal
 * ("permission denied for function ...") does not say which role would do;
 * this one does, and says how to get it.  C functions call
 * require_mlops_role() directly.
 */
void
require_mlops_role(const char *role_name, const char *function_name)
{
	Oid			role = get_role_oid(role_name, true);
	Oid			invoker = GetOuterUserId();

	if (OidIsValid(role) && has_privs_of_role(invoker, role))
		return;
	if (!OidIsValid(role))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", role_name),
				 errdetail("mlops.%s needs the role %s, which CREATE EXTENSION mlops creates.",
						   function_name, role_name)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for mlops.%s", function_name),
			 errdetail("mlops.%s needs the privileges of role %s, which role \"%s\" does not have.",
					   function_name, role_name, GetUserNameFromId(invoker, false)),
			 errhint("A superuser (or a member of %s WITH ADMIN OPTION) can grant it: GRANT %s TO %s;",
					 role_name, role_name, quote_identifier(GetUserNameFromId(invoker, false)))));
}

Datum
mlops_require_role(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("_require_role needs a role and a function name")));
	require_mlops_role(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

/*
 * Run a query as the invoking role (_invoking_user()'s), from inside a
 * SECURITY DEFINER function, optionally under a given search_path (that of
 * the caller's session: the functions in between pin theirs), and hand its
 * result to consume() while SPI is still connected (SPI_datumTransfer()
 * copies into the caller's memory then).  The current user and the
 * search_path are restored whatever happens.  Used wherever mlops writes
 * its tables as their owner but must read or act with the caller's own
 * privileges and row-level security: dataset lineage (below), pg_cron jobs
 * (schedules.c), drift baselines and source descriptions (drift.c).
 */
void
spi_as_invoker(const char *sql, int nargs, Oid *argtypes, Datum *args, bool read_only, long tcount,
			   const char *search_path, InvokerResultFn consume, void *arg)
{
	Oid			save_userid;
	int			save_sec_context;
	volatile int nestlevel = -1;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(GetOuterUserId(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (search_path)
		{
			nestlevel = NewGUCNestLevel();
			(void) set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
		}
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args(sql, nargs, argtypes, args, NULL, read_only, tcount) != SPI_OK_SELECT)
			elog(ERROR, "unexpected result from: %s", sql);
		consume(SPI_tuptable, SPI_processed, arg);
		SPI_finish();
	}
	PG_FINALLY();
	{
		if (nestlevel >= 0)
			AtEOXact_GUC(false, nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}

typedef struct TypedRow
{
	const char *sql;
	int			ncols;
	const Oid  *types;
	Datum	   *values;
	bool	   *nulls;
} TypedRow;

static void
copy_typed_row(SPITupleTable *tuptable, uint64 processed, void *arg)
{
	TypedRow   *row = arg;
	TupleDesc	desc = tuptable->tupdesc;

	if (processed != 1 || desc->natts < row->ncols)
		elog(ERROR, "unexpected result from: %s", row->sql);
	for (int i = 0; i < row->ncols; i++)
	{
		int16		typlen;
		bool		typbyval;
		Datum		v;

		if (TupleDescAttr(desc, i)->atttypid != row->types[i])
			elog(ERROR, "unexpected result type from: %s", row->sql);
		get_typlenbyval(row->types[i], &typlen, &typbyval);
		v = SPI_getbinval(tuptable->vals[0], desc, i + 1, &row->nulls[i]);
		row->values[i] = row->nulls[i] ? (Datum) 0 : SPI_datumTransfer(v, typbyval, typlen);
	}
}

/*
 * A query returning one row, run as the invoking role: the row's first
 * ncols values, of the given types, copied into the caller's memory.
 */
void
query_row_as_invoker(const char *sql, int nargs, Oid *argtypes, Datum *args, bool read_only,
					 int ncols, const Oid *types, Datum *values, bool *nulls)
{
	TypedRow	row = {sql, ncols, types, values, nulls};

	spi_as_invoker(sql, nargs, argtypes, args, read_only, 1, NULL, copy_typed_row, &row);
}

PG_FUNCTION_INFO_V1(mlops_relation_digest);

/*
 * _relation_digest(relation regclass, OUT row_count bigint, OUT digest text)
 *
 * log_input runs as the extension's owner (it writes the lineage tables),
 * but the relation must be read as the role that called it: with its
 * privileges and under its row-level security policies, so that nobody
 * records, or learns, the digest of rows they cannot read.  So the query
 * runs with the invoking role as the current user, switched back whatever
 * happens (query_row_as_invoker).
 */
Datum
mlops_relation_digest(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char		relkind;
	char	   *nspname;
	char	   *relname;
	char	   *query;
	TupleDesc	tupdesc;
	static const Oid result_types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	bool		nulls[2];
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_relation_digest must return a row");

	relkind = get_rel_relkind(relid);
	nspname = get_namespace_name(get_rel_namespace(relid));
	relname = get_rel_name(relid);
	if (relname == NULL || nspname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE && relkind != RELKIND_VIEW &&
		relkind != RELKIND_MATVIEW && relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view, materialized view or foreign table", relname),
				 errhint("A dataset input is something a run read rows from.")));
	query = psprintf("SELECT pg_catalog.count(*), mlops.content_digest(t) FROM %s AS t",
					 quote_qualified_identifier(nspname, relname));
	query_row_as_invoker(query, 0, NULL, NULL, true, 2, result_types, values, nulls);
	result = heap_form_tuple(tupdesc, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}

/*
 * content_digest(anyelement): an aggregate SHA-256 over a multiset of values.
 *
 * Each value is hashed on its own (over its text form, with a marker byte for
 * NULL), and the 256-bit row hashes are added modulo 2^256.  Addition is
 * commutative and associative, so the digest does not depend on the physical
 * order of rows (VACUUM, updates and parallel scans reorder them freely), and
 * partial states from parallel workers combine exactly.  Unlike XOR, addition
 * does not cancel duplicate rows, so the digest is sensitive to multiplicity.
 * The final digest hashes the sum together with the row count.
 *
 * The text form depends on output settings (DateStyle, TimeZone,
 * extra_float_digits, ...); callers that need a reproducible digest pin them,
 * as mlops.log_input does.
 */
typedef struct DigestState
{
	uint64		limb[4];		/* little-endian 256-bit sum of row hashes */
	int64		rows;
} DigestState;

/* Per-call-site scratch: the value's output function and a reusable hasher. */
typedef struct DigestScratch
{
	Oid			typid;
	FmgrInfo	output;
	pg_cryptohash_ctx *hasher;
	MemoryContextCallback cleanup;
} DigestScratch;

static void
digest_scratch_cleanup(void *arg)
{
	DigestScratch *scratch = (DigestScratch *) arg;

	if (scratch->hasher)
		pg_cryptohash_free(scratch->hasher);
	scratch->hasher = NULL;
}

static void
sha256_or_error(pg_cryptohash_ctx *ctx, const uint8 *a, size_t alen,
				const uint8 *b, size_t blen, uint8 *out)
{
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, a, alen) < 0 ||
		(blen > 0 && pg_cryptohash_update(ctx, b, blen) < 0) ||
		pg_cryptohash_final(ctx, out, PG_SHA256_DIGEST_LENGTH) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256 digest")));
}

static void
digest_add(DigestState *state, const uint8 *hash)
{
	uint64		carry = 0;

	/* hash[0..7] is the most significant limb */
	for (int i = 0; i < 4; i++)
	{
		uint64		v = 0;
		uint64		sum;

		for (int b = 0; b < 8; b++)
			v = (v << 8) | hash[(3 - i) * 8 + b];
		sum = state->limb[i] + v;
		state->limb[i] = sum + carry;
		carry = (sum < v) || (state->limb[i] < sum) ? 1 : 0;
	}
}

static void
digest_merge(DigestState *into, const DigestState *from)
{
	uint64		carry = 0;

	for (int i = 0; i < 4; i++)
	{
		uint64		sum = into->limb[i] + from->limb[i];
		uint64		total = sum + carry;

		carry = (sum < from->limb[i]) || (total < sum) ? 1 : 0;
		into->limb[i] = total;
	}
	into->rows += from->rows;
}

static MemoryContext
digest_aggcontext(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return aggcontext;
}

PG_FUNCTION_INFO_V1(mlops_digest_accum);

Datum
mlops_digest_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = digest_aggcontext(fcinfo, "mlops_digest_accum");
	DigestState *state;
	DigestScratch *scratch = (DigestScratch *) fcinfo->flinfo->fn_extra;
	uint8		hash[PG_SHA256_DIGEST_LENGTH];

	if (PG_ARGISNULL(0))
		state = MemoryContextAllocZero(aggcontext, sizeof(DigestState));
	else
		state = (DigestState *) PG_GETARG_POINTER(0);

	if (scratch == NULL)
	{
		Oid			outfunc;
		bool		isvarlena;

		scratch = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(DigestScratch));
		scratch->typid = get_fn_expr_argtype(fcinfo->flinfo, 1);
		if (!OidIsValid(scratch->typid))
			elog(ERROR, "could not determine the input type of content_digest");
		getTypeOutputInfo(scratch->typid, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &scratch->output, fcinfo->flinfo->fn_mcxt);
		scratch->hasher = pg_cryptohash_create(PG_SHA256);
		if (scratch->hasher == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		scratch->cleanup.func = digest_scratch_cleanup;
		scratch->cleanup.arg = scratch;
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, &scratch->cleanup);
		fcinfo->flinfo->fn_extra = scratch;
	}

	if (PG_ARGISNULL(1))
	{
		static const uint8 null_marker = 0;

		sha256_or_error(scratch->hasher, &null_marker, 1, NULL, 0, hash);
	}
	else
	{
		static const uint8 value_marker = 1;
		char	   *text = OutputFunctionCall(&scratch->output, PG_GETARG_DATUM(1));

		sha256_or_error(scratch->hasher, &value_marker, 1,
						(const uint8 *) text, strlen(text), hash);
		pfree(text);
	}

	digest_add(state, hash);
	state->rows++;
	PG_RETURN_POINTER(state);
}

PG_FUNCTION_INFO_V1(mlops_digest_combine);

Datum
mlops_digest_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = digest_aggcontext(fcinfo, "mlops_digest_combine");
	DigestState *into;

	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));	/* may itself be NULL */

	if (PG_ARGISNULL(0))
	{
		into = MemoryContextAlloc(aggcontext, sizeof(DigestState));
		memcpy(into, PG_GETARG_POINTER(1), sizeof(DigestState));
		PG_RETURN_POINTER(into);
	}

	into = (DigestState *) PG_GETARG_POINTER(0);
	digest_merge(into, (DigestState *) PG_GETARG_POINTER(1));
	PG_RETURN_POINTER(into);
}

PG_FUNCTION_INFO_V1(mlops_digest_serialize);

Datum
mlops_digest_serialize(PG_FUNCTION_ARGS)
{
	DigestState *state = (DigestState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	(void) digest_aggcontext(fcinfo, "mlops_digest_serialize");
	pq_begintypsend(&buf);
	for (int i = 0; i < 4; i++)
		pq_sendint64(&buf, state->limb[i]);
	pq_sendint64(&buf, state->rows);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(mlops_digest_deserialize);

Datum
mlops_digest_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *bytes = PG_GETARG_BYTEA_PP(0);
	DigestState *state;
	StringInfoData buf;

	(void) digest_aggcontext(fcinfo, "mlops_digest_deserialize");
	state = palloc(sizeof(DigestState));
	initReadOnlyStringInfo(&buf, VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
	for (int i = 0; i < 4; i++)
		state->limb[i] = pq_getmsgint64(&buf);
	state->rows = pq_getmsgint64(&buf);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(state);
}

PG_FUNCTION_INFO_V1(mlops_digest_final);

Datum
mlops_digest_final(PG_FUNCTION_ARGS)
{
	DigestState empty = {{0, 0, 0, 0}, 0};
	DigestState *state = PG_ARGISNULL(0) ? &empty : (DigestState *) PG_GETARG_POINTER(0);
	uint8		payload[40];
	uint8		hash[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	pg_cryptohash_ctx *ctx;

	/* big-endian sum, then big-endian row count */
	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 8; b++)
			payload[(3 - i) * 8 + b] = (uint8) (state->limb[i] >> (56 - 8 * b));
	for (int b = 0; b < 8; b++)
		payload[32 + b] = (uint8) ((uint64) state->rows >> (56 - 8 * b));

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	sha256_or_error(ctx, payload, sizeof(payload), NULL, 0, hash);
	pg_cryptohash_free(ctx);

	hex_encode((const char *) hash, PG_SHA256_DIGEST_LENGTH, hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
