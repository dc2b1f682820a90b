/*
 * registry.c
 *	  The C half of the model registry: compiling a model artifact into the
 *	  checked flat form the registry stores, and describing a compiled model.
 *	  The registry's tables and functions are SQL (extension/registry.sql).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "mlops.h"
#include "model.h"

/* Compile the artifact in argument 0 under a version id. */
static Datum
compile(FunctionCallInfo fcinfo, int64 version_id)
{
	text	   *artifact;
	Datum		digest;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model artifact must not be NULL")));
	artifact = PG_GETARG_TEXT_PP(0);
	digest = DirectFunctionCall1(sha256_bytea, PointerGetDatum(artifact));
	PG_RETURN_BYTEA_P(model_compile_artifact(VARDATA_ANY(artifact), VARSIZE_ANY_EXHDR(artifact), version_id,
											 (const uint8 *) VARDATA_ANY(DatumGetByteaPP(digest))));
}

PG_FUNCTION_INFO_V1(mlops_compile_model);

/*
 * _compile_model(artifact text, version_id bigint) returns bytea: for the
 * registry, which passes the new version's id.  Executable by the extension
 * owner only: a compiled form that carries a version id comes from here.
 */
Datum
mlops_compile_model(PG_FUNCTION_ARGS)
{
	return compile(fcinfo, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1));
}

PG_FUNCTION_INFO_V1(mlops_compile_model_unregistered);

/* compile_model(artifact text) returns bytea: version id 0, never a registry version's */
Datum
mlops_compile_model_unregistered(PG_FUNCTION_ARGS)
{
	return compile(fcinfo, 0);
}

PG_FUNCTION_INFO_V1(mlops_model_info);

/* model_info(compiled bytea) returns jsonb: what a compiled model is. */
Datum
mlops_model_info(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops model info", ALLOCSET_DEFAULT_SIZES);
	Model	   *m = model_load(PG_GETARG_BYTEA_PP(0), cxt);
	const ModelHeader *h = m->hdr;
	StringInfoData buf;
	char		hex[65];
	Datum		result;

	hex_encode((const char *) h->checksum, 32, hex);
	hex[64] = '\0';
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"format\": \"%s\", \"task\": \"%s\", \"family\": \"%s\", \"version_id\": " INT64_FORMAT
					 ", \"sha256\": \"%s\", \"n_features\": %d, \"n_encoded\": %d, \"n_outputs\": %d",
					 h->source == SOURCE_XGBOOST_JSON ? "xgboost.json" : "mlops.model/v1",
					 model_task_name(h->task), model_family_name(h->family), h->version_id, hex,
					 h->n_inputs, h->n_encoded, h->n_outputs);
	if (h->family == FAMILY_TREES)
		appendStringInfo(&buf, ", \"n_trees\": %d, \"n_nodes\": %d", h->n_trees, h->n_nodes);
	if (h->family == FAMILY_MLP)
		appendStringInfo(&buf, ", \"n_layers\": %d", h->n_layers);
	appendStringInfo(&buf, ", \"compiled_bytes\": %u, \"features\": [", h->total_size);
	for (int i = 0; i < h->n_inputs; i++)
	{
		if (i)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"name\": ");
		escape_json(&buf, model_string(m, m->feature_name[i]));
		appendStringInfo(&buf, ", \"type\": \"%s\"}",
						 m->feature_kind[i] == FEATURE_NUMERIC ? "numeric" : "categorical");
	}
	appendStringInfoString(&buf, "]");
	if (h->n_classes > 0)
	{
		appendStringInfoString(&buf, ", \"classes\": [");
		for (int i = 0; i < h->n_classes; i++)
		{
			if (i)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, model_string(m, m->class_name[i]));
		}
		appendStringInfoString(&buf, "]");
	}
	appendStringInfoString(&buf, "}");
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	MemoryContextDelete(cxt);
	PG_RETURN_DATUM(result);
}
