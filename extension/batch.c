/*
 * batch.c
 *	  Chunked scoring for batch jobs: mlops._score_query() runs a query
 *	  through a cursor, reads a chunk of rows at a time, encodes the chunk
 *	  into one matrix and scores it with one model_eval_batch() call (matrix
 *	  products through OpenBLAS for linear models and MLPs), and returns each
 *	  row's key columns with the requested outputs.
 *
 *	  mlops.batch_score() uses it in place of a per-row predict(): the
 *	  per-row call reads, encodes and multiplies one vector at a time, which
 *	  for an MLP means a matrix-vector product per layer and row, where a
 *	  chunk makes it a matrix-matrix product that reuses every weight across
 *	  the chunk's rows.
 *
 *	  A bad row raises the error predict() would raise for it, so that the
 *	  caller can count and set aside bad rows exactly as on the per-row path.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "mlops.h"
#include "model.h"
#include "scoring.h"

/* a chunk's matrices stay under this many doubles (64 MB) however wide the model */
#define CHUNK_MAX_DOUBLES	(8 * 1024 * 1024)

int			mlops_batch_chunk_rows = 1024;

static ScoreOutput
output_kind(const char *name)
{
	if (strcmp(name, "prediction") == 0)
		return OUT_VALUE;
	if (strcmp(name, "probabilities") == 0)
		return OUT_PROBA;
	if (strcmp(name, "class") == 0)
		return OUT_CLASS;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown output \"%s\"", name),
			 errhint("The outputs are prediction, probabilities and class.")));
	pg_unreachable();
}

static Oid
output_type(ScoreOutput kind)
{
	switch (kind)
	{
		case OUT_VALUE:
			return FLOAT8OID;
		case OUT_PROBA:
			return FLOAT8ARRAYOID;
		case OUT_CLASS:
			return TEXTOID;
	}
	pg_unreachable();
}

/*
 * _score_query(model text, query text, n_keys int, outputs text[])
 * returns setof record
 *
 * "query" returns n_keys key columns and then one features column (float8[]
 * in signature order, or jsonb by name).  Each of its rows comes back as
 * the key columns followed by the outputs, in the order of "outputs"; the
 * caller describes them with a column definition list.
 */
PG_FUNCTION_INFO_V1(mlops_score_query);

Datum
mlops_score_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *ref;
	char	   *query;
	int			n_keys;
	ArrayType  *outputs_arr;
	Datum	   *output_names;
	bool	   *output_nulls;
	int			n_kinds;
	ScoreOutput kinds[3];
	TupleDesc	out_desc;
	Tuplestorestate *store;
	MemoryContext query_cxt;
	MemoryContext chunk_cxt;
	MemoryContext old;
	ScoreState *st;
	SPIPlanPtr	plan;
	Portal		portal;
	int			feature_col;
	bool		from_jsonb = false;
	int			chunk_rows;
	double	   *x;
	double	   *y;
	double	   *scratch;
	Datum	   *values;
	bool	   *nulls;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0 || rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("_score_query() must be called in FROM with a column definition list")));
	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the arguments of _score_query() must not be NULL")));
	ref = PG_GETARG_TEXT_PP(0);
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	n_keys = PG_GETARG_INT32(2);
	outputs_arr = PG_GETARG_ARRAYTYPE_P(3);

	deconstruct_array(outputs_arr, TEXTOID, -1, false, TYPALIGN_INT, &output_names, &output_nulls, &n_kinds);
	if (n_kinds < 1 || n_kinds > 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("between one and three outputs are expected, not %d", n_kinds)));
	for (int k = 0; k < n_kinds; k++)
	{
		if (output_nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("an output must not be NULL")));
		kinds[k] = output_kind(TextDatumGetCString(output_names[k]));
	}

	/* the result lives for the query; each chunk's work only for the chunk */
	query_cxt = rsinfo->econtext->ecxt_per_query_memory;
	old = MemoryContextSwitchTo(query_cxt);
	out_desc = CreateTupleDescCopy(rsinfo->expectedDesc);
	if (n_keys < 1 || out_desc->natts != n_keys + n_kinds)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list has %d columns, but %d key columns and %d outputs were asked for",
						out_desc->natts, n_keys, n_kinds)));
	for (int k = 0; k < n_kinds; k++)
		if (TupleDescAttr(out_desc, n_keys + k)->atttypid != output_type(kinds[k]))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("output column %d must be of type %s", n_keys + k + 1,
							format_type_be(output_type(kinds[k])))));
	store = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0, false, work_mem);
	st = palloc0(sizeof(ScoreState));
	values = palloc(sizeof(Datum) * out_desc->natts);
	nulls = palloc0(sizeof(bool) * out_desc->natts);
	MemoryContextSwitchTo(old);
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops batch chunk", ALLOCSET_DEFAULT_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for the source query: %s", SPI_result_code_string(SPI_result));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source must be a query that returns rows")));
	/* read-only: the rows come from the statement's snapshot, like a subquery's */
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);

	/* check the query's columns against the column definition list */
	{
		TupleDesc	in_desc = portal->tupDesc;
		Oid			ftype;

		if (in_desc->natts != n_keys + 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the source query returns %d columns, expected %d key columns and the features",
							in_desc->natts, n_keys)));
		for (int i = 0; i < n_keys; i++)
			if (TupleDescAttr(in_desc, i)->atttypid != TupleDescAttr(out_desc, i)->atttypid)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("key column %d is of type %s in the source but %s in the column definition list",
								i + 1, format_type_be(TupleDescAttr(in_desc, i)->atttypid),
								format_type_be(TupleDescAttr(out_desc, i)->atttypid))));
		feature_col = n_keys + 1;
		ftype = TupleDescAttr(in_desc, n_keys)->atttypid;
		if (ftype == JSONBOID)
			from_jsonb = true;
		else if (ftype != FLOAT8ARRAYOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("the features column is of type %s", format_type_be(ftype)),
					 errhint("Features are a float8[] in signature order or a jsonb object by name.")));
	}

	/* size the chunk for the model */
	score_resolve_reference(st, ref, query_cxt);
	{
		const Model *m = st->model;
		int			width = Max(Max(m->hdr->n_encoded, m->hdr->n_outputs),
								m->hdr->family == FAMILY_MLP ? 2 * m->mlp_max_width : 1);

		chunk_rows = Max(1, Min(mlops_batch_chunk_rows, CHUNK_MAX_DOUBLES / width));
		x = MemoryContextAlloc(query_cxt, sizeof(double) * chunk_rows * m->hdr->n_encoded);
		y = MemoryContextAlloc(query_cxt, sizeof(double) * chunk_rows * m->hdr->n_outputs);
		scratch = MemoryContextAlloc(query_cxt, sizeof(double) * model_batch_scratch_len(m, chunk_rows));
	}

	for (;;)
	{
		uint64		n;
		const Model *m;
		int			n_out;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, chunk_rows);
		n = SPI_processed;
		if (n == 0)
			break;
		if (n > (uint64) chunk_rows)
			elog(ERROR, "cursor returned more rows than asked for");

		/*
		 * The source may have scored with other models and evicted ours from
		 * the cache: look it up again for every chunk (a pointer comparison
		 * when nothing changed).  The version is the same, so are the sizes.
		 */
		score_resolve_reference(st, ref, query_cxt);
		m = st->model;
		n_out = m->hdr->n_outputs;

		/* detoasted features, error texts and output values go to the chunk's memory */
		MemoryContextReset(chunk_cxt);
		old = MemoryContextSwitchTo(chunk_cxt);
		for (uint64 r = 0; r < n; r++)
		{
			bool		isnull;
			Datum		feats = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, feature_col, &isnull);

			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("the features are NULL"),
						 errdetail("%s cannot score a row without features.", st->label)));
			if (from_jsonb)
				score_read_jsonb(st, DatumGetJsonbP(feats));
			else
				score_read_array(st, DatumGetArrayTypeP(feats));
			score_encode(st, from_jsonb, x + (Size) r * m->hdr->n_encoded);
		}

		model_eval_batch(m, x, (int) n, y, scratch);

		/* each row: its keys, read from SPI's copy of it, then its outputs */
		for (uint64 r = 0; r < n; r++)
		{
			/* score_outputs() needs room for two values */
			double		row_out[2];
			double	   *out = y + r * n_out;

			if (n_out == 1)
			{
				row_out[0] = out[0];
				out = row_out;
			}
			for (int i = 0; i < n_keys; i++)
				values[i] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i + 1, &nulls[i]);
			score_outputs(st, out, kinds, n_kinds, values + n_keys);
			tuplestore_putvalues(store, out_desc, values, nulls);
		}
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextDelete(chunk_cxt);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = out_desc;
	return (Datum) 0;
}
