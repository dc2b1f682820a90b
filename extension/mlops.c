/*
 * mlops.c
 *	  Module entry point: the module magic, the mlops.* settings and the build
 *	  report.  Each concept (tracking, registry, scoring, ...) lives in its own
 *	  file; this one only holds what belongs to the library as a whole.
 */
#include "postgres.h"

#include <limits.h>
#include <cblas.h>
#include <jansson.h>

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"

#include "compat.h"
#include "mlops.h"

PG_MODULE_MAGIC;

int			mlops_max_artifact_kb = 64 * 1024;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * Parallelism inside the database comes from parallel query, one backend
	 * per worker.  A BLAS thread pool per backend would oversubscribe the
	 * cores and fight the planner's own choice of workers.
	 */
	openblas_set_num_threads(1);

	/*
	 * jansson allocates in the current memory context: an error raised
	 * while a document is being parsed or walked then frees it with the
	 * context, instead of leaking malloc'd memory for the backend's life.
	 */
	json_set_alloc_funcs(mlops_json_malloc, mlops_json_free);

	DefineCustomIntVariable("mlops.max_artifact_size",
							"Largest artifact that mlops.log_artifact accepts.",
							"Artifacts are stored in the database; this keeps a single "
							"upload from bloating it by accident.",
							&mlops_max_artifact_kb,
							64 * 1024,
							1,
							1024 * 1024,	/* 1 GB, the bytea limit */
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.model_cache_size",
							"Memory for loaded models, per backend.",
							"Models are compiled once and kept loaded by each backend that "
							"scores with them; past this size the least recently used go.",
							&mlops_model_cache_kb,
							256 * 1024,
							1024,
							INT_MAX / 2,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, model_cache_size_changed, NULL);

	DefineCustomIntVariable("mlops.batch_chunk_rows",
							"Rows that batch scoring encodes and scores together.",
							"batch_score reads its source in chunks of this many rows and "
							"scores each chunk with matrix products; chunks are also capped "
							"at 64 MB of model inputs and activations.",
							&mlops_batch_chunk_rows,
							1024,
							1,
							1000000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.train_nthread",
							"Threads XGBoost uses when mlops.train fits boosted trees.",
							"A backend is one process among many: one thread by default, "
							"as with every other query; raise it for a training job that "
							"has the machine to itself.",
							&mlops_train_nthread,
							1,
							1,
							256,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.train_memory",
							"Memory mlops.train keeps training rows in, per training set.",
							"Rows past it go to a temporary file, read back by every pass "
							"over them: memory does not grow with the row count.",
							&mlops_train_memory_kb,
							256 * 1024,
							1024,
							INT_MAX / 2,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	drift_init();
	ab_init();

	MarkGUCPrefixReserved("mlops");
}

void *
mlops_json_malloc(size_t size)
{
	return palloc(size);
}

void
mlops_json_free(void *ptr)
{
	if (ptr)
		pfree(ptr);
}

PG_FUNCTION_INFO_V1(mlops_build_info);

/*
 * What this library was built against and runs with: first thing to look at
 * in a bug report.
 */
Datum
mlops_build_info(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"mlops\": \"%s\", \"postgresql\": %d, ",
					 MLOPS_VERSION, PG_VERSION_NUM);
	appendStringInfoString(&buf, "\"jansson\": \"" JANSSON_VERSION "\", ");
	appendStringInfoString(&buf, "\"openblas\": ");
	escape_json(&buf, openblas_get_config());
	appendStringInfo(&buf, ", \"openblas_threads\": %d}",
					 openblas_get_num_threads());

	/*
	 * jansson's json_object() collides with the SQL function of that name in
	 * fmgrprotos.h, so files that include jansson.h reach PostgreSQL's own
	 * functions by OID instead of through utils/builtins.h.
	 */
	PG_RETURN_DATUM(OidFunctionCall1(F_JSONB_IN, CStringGetDatum(buf.data)));
}

/*
 * The role that owns mlops' tables: what the records the roles may not write
 * directly are written as, by C code that computed them itself (A/B
 * exposures, a training run's dataset input).  Looked up once per backend.
 */
Oid
mlops_tables_owner(void)
{
	static Oid	owner = InvalidOid;

	if (!OidIsValid(owner))
	{
		Oid			rel = get_relname_relid("runs", get_namespace_oid("mlops", false));
		HeapTuple	tup;

		if (!OidIsValid(rel))
			elog(ERROR, "mlops.runs is missing");
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for relation %u", rel);
		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
	}
	return owner;
}
