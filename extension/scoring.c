/*
 * score.c
 *	  The SQL scoring functions: predict / predict_proba / predict_class by
 *	  model reference, and score / score_proba / score_class on a compiled
 *	  model passed as an argument; each on float8[] features (signature
 *	  order) or jsonb features (by name).
 *
 *	  Per call site, fn_extra keeps the model references resolved so far (up
 *	  to SCORE_RECENT_REFS, for queries whose reference changes row by row)
 *	  and the loaded model the last one led to.  fn_extra lives for one
 *	  execution of a statement, so an alias is resolved once per statement
 *	  and a moved alias is seen by the next statement, with no reload step
 *	  anywhere.
 *
 *	  The hot path for a cached model and a float8[] without NULLs is: compare
 *	  the reference bytes, read the array in place, encode, evaluate.  Rows
 *	  with one-hot features update the previous row's encoding in place
 *	  (score_encode()).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "access/detoast.h"

#include "mlops.h"
#include "model.h"
#include "scoring.h"

static SPIPlanPtr resolve_plan = NULL;
static SPIPlanPtr fetch_plan = NULL;

static ScoreState *
score_state(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ScoreState));
	return (ScoreState *) fcinfo->flinfo->fn_extra;
}

/* Grow the work buffers to what the current model needs; never shrink. */
static void
size_buffers(MemoryContext cxt, ScoreState *st)
{
	const Model *m = st->model;

	if (st->buf_inputs < m->hdr->n_inputs)
	{
		st->buf_inputs = m->hdr->n_inputs;
		st->in = MemoryContextAlloc(cxt, sizeof(double) * st->buf_inputs);
		st->hot = MemoryContextAlloc(cxt, sizeof(int32) * st->buf_inputs);
		st->enc_model = NULL;
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

	SPI_connect();
	prepare_once(&resolve_plan, "SELECT version_id, sha256, label FROM mlops._resolve_model($1)", TEXTOID);
	if (SPI_execute_plan(resolve_plan, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "mlops._resolve_model returned no row");
	version_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	checksum_hex = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (checksum_hex == NULL || strlen(checksum_hex) != 64 ||
		hex_decode(checksum_hex, 64, (char *) checksum) != 32)
		elog(ERROR, "model version " INT64_FORMAT " has a malformed checksum", version_id);
	label = MemoryContextStrdup(fcxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3));
	SPI_finish();

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

	st->model = model_cache_find(st->version_id, st->checksum);
	if (st->model == NULL)
	{
		Datum		arg = Int64GetDatum(st->version_id);
		bool		isnull;
		Datum		compiled;

		SPI_connect();
		prepare_once(&fetch_plan, "SELECT compiled FROM mlops.model_versions WHERE version_id = $1", INT8OID);
		if (SPI_execute_plan(fetch_plan, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model version " INT64_FORMAT " does not exist", st->version_id)));
		compiled = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		st->model = model_cache_add((bytea *) PG_DETOAST_DATUM(compiled), fcxt);
		SPI_finish();
	}
	st->epoch = model_cache_epoch;
	size_buffers(fcxt, st);
}

/*
 * Read the header of a compiled model datum, detoasting only its first bytes
 * when it is stored out of line or compressed.  Also returns the size of the
 * whole compiled form.
 */
static void
read_compiled_header(Datum compiled, ModelHeader *hdr, Size *total)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(compiled);
	bytea	   *head = (bytea *) v;

	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
	{
		head = DatumGetByteaPSlice(compiled, 0, sizeof(ModelHeader));
		*total = toast_raw_datum_size(compiled) - VARHDRSZ;
	}
	else
		*total = VARSIZE_ANY_EXHDR(v);
	if (VARSIZE_ANY_EXHDR(head) < sizeof(ModelHeader))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model: %u bytes is too short for a compiled model",
						(unsigned) VARSIZE_ANY_EXHDR(head)),
				 errhint("Pass the output of mlops.compile_model() or mlops.compiled_model().")));
	memcpy(hdr, VARDATA_ANY(head), sizeof(ModelHeader));
}

/*
 * A compiled model passed as an argument.  When the argument cannot change
 * during the statement (a constant or a query parameter), the model found on
 * the first row serves every row.  When it is stored out of line (as
 * compiled_model() returns it), the toast pointer names the stored value, so
 * an unchanged toast pointer means an unchanged model.  Otherwise each row's
 * header is read in place and compared with the model in hand: the key is
 * (version id, artifact checksum), of which the compiled form is a function,
 * plus its size.  The whole datum is read only on a cache miss.
 */
static void
use_compiled(FunctionCallInfo fcinfo, ScoreState *st, Datum compiled)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(compiled);
	bool		have = st->model != NULL && st->epoch == model_cache_epoch;
	bool		ondisk = VARATT_IS_EXTERNAL_ONDISK(v);
	struct varatt_external toast_ptr;
	ModelHeader hdr;
	Size		total;

	if (have && st->model_arg_constant)
		return;
	if (ondisk)
	{
		VARATT_EXTERNAL_GET_POINTER(toast_ptr, v);
		if (have && st->have_toast_ptr && memcmp(&toast_ptr, &st->toast_ptr, sizeof(toast_ptr)) == 0)
			return;
	}

	read_compiled_header(compiled, &hdr, &total);
	if (!(have && st->version_id == hdr.version_id && memcmp(st->checksum, hdr.checksum, 32) == 0 &&
		  st->model->hdr->total_size == total))
	{
		st->model = model_cache_find(hdr.version_id, hdr.checksum);
		if (st->model == NULL || st->model->hdr->total_size != total)
			st->model = model_cache_add(DatumGetByteaPP(compiled), fcinfo->flinfo->fn_mcxt);
		st->version_id = hdr.version_id;
		memcpy(st->checksum, hdr.checksum, 32);
		st->epoch = model_cache_epoch;
		st->model_arg_constant = get_fn_expr_arg_stable(fcinfo->flinfo, 0);
		st->label = MemoryContextStrdup(fcinfo->flinfo->fn_mcxt,
										hdr.version_id > 0
										? psprintf("compiled model (version id " INT64_FORMAT ")", hdr.version_id)
										: "compiled model");
		size_buffers(fcinfo->flinfo->fn_mcxt, st);
	}
	st->have_toast_ptr = ondisk;
	if (ondisk)
		st->toast_ptr = toast_ptr;
}

static void
signature_error(ScoreState *st, int sqlstate, const char *msg) pg_attribute_noreturn();

static void
signature_error(ScoreState *st, int sqlstate, const char *msg)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s", msg),
			 errdetail("%s expects %d features: %s.", st->label, st->model->hdr->n_inputs,
					   model_signature_text(st->model))));
}

/*
 * A row that cannot be scored.  Scoring raises the error; feature_problem()
 * (st->soft) records the message instead, so that batch jobs can count and
 * set aside bad rows without a subtransaction per row.
 */
static bool
row_problem(ScoreState *st, int sqlstate, const char *msg)
{
	if (!st->soft)
		signature_error(st, sqlstate, msg);
	st->problem = msg;
	return false;
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

static double
numeric_to_double(Numeric num)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(num)));
}

/* jsonb object {"feature": value}; absent keys and nulls are missing. */
bool
score_read_jsonb(ScoreState *st, Jsonb *jb)
{
	const Model *m = st->model;
	int			found = 0;

	st->x = st->in;
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
						"features must be a JSON object of feature names and values");

	for (int i = 0; i < m->hdr->n_inputs; i++)
	{
		const char *name = model_string(m, m->feature_name[i]);
		JsonbValue	vbuf;
		JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, name, strlen(name), &vbuf);

		st->in[i] = NAN;
		if (v == NULL)
			continue;
		found++;
		if (m->feature_kind[i] == FEATURE_NUMERIC)
		{
			if (v->type == jbvNumeric)
				st->in[i] = numeric_to_double(v->val.numeric);
			else if (v->type == jbvBool)
				st->in[i] = v->val.boolean ? 1.0 : 0.0;
			else if (v->type != jbvNull)
				return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
								psprintf("feature \"%s\" of %s is numeric, but got a %s",
										 name, st->label, v->type == jbvString ? "string" : "JSON container"));
		}
		else
		{
			const char *s;
			int			len;
			int			idx;

			if (v->type == jbvNull)
				continue;
			if (v->type == jbvString)
			{
				s = v->val.string.val;
				len = v->val.string.len;
			}
			else if (v->type == jbvNumeric)
			{
				/*
				 * Numeric categories are integers in the artifact; 2.0 is the
				 * category 2, as it is to scikit-learn.
				 */
				double		d = numeric_to_double(v->val.numeric);

				if (d == floor(d) && fabs(d) < 1e15)
					s = psprintf(INT64_FORMAT, (int64) d);
				else
					s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
				len = strlen(s);
			}
			else if (v->type == jbvBool)
			{
				s = v->val.boolean ? "true" : "false";
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
			st->in[i] = idx < 0 ? -1 : idx;	/* -1: unknown, encoded as all zeros */
		}
	}

	if ((uint32) found < JsonContainerSize(&jb->root))
	{
		/* some key is not a feature: find it for the message */
		JsonbIterator *it = JsonbIteratorInit(&jb->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY && model_find_feature(m, v.val.string.val, v.val.string.len) < 0)
				return row_problem(st, ERRCODE_INVALID_PARAMETER_VALUE,
								psprintf("unknown feature \"%.*s\" for %s",
										 Min(v.val.string.len, 100), v.val.string.val, st->label));
		}
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

			if (isnan(v) && !impute(st, i, &v))
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

		if (isnan(v) && !impute(st, i, &v))
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
		score_read_jsonb(st, PG_GETARG_JSONB_P(1));
	else
		score_read_array(st, PG_GETARG_ARRAYTYPE_P(1));
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
