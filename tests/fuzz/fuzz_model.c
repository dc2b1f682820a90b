/*
 * fuzz_model.c
 *	  libFuzzer target for the model compiler and loader: whatever bytes
 *	  arrive, as a JSON artifact or as a compiled model, mlops either refuses
 *	  them with an error or accepts a model that then evaluates without
 *	  reading out of bounds, looping forever or crashing.
 *
 *	  The first byte picks the path: even, the rest is a JSON artifact for
 *	  model_compile_artifact(); odd, the rest is a compiled model for
 *	  model_load().  Every model that passes is evaluated on inputs of 0, 1,
 *	  -1, NaN and huge values, row by row, as one chunk and sparsely, and
 *	  each categorical feature looks up a category of its own.
 */
#include "postgres.h"

#include <jansson.h>
#include <math.h>

#include "pg_stubs.h"
#include "model.h"

static void
evaluate(const Model *m)
{
	static const double probes[] = {0.0, 1.0, -1.0, NAN, 1e300, -1e300};
	const int	n_probes = lengthof(probes);
	int			n = m->hdr->n_encoded;
	int			n_out = m->hdr->n_outputs;
	double	   *x = palloc(sizeof(double) * n * n_probes);
	double	   *out = palloc(sizeof(double) * Max(n_out, 2));
	double	   *batch_out = palloc(sizeof(double) * n_out * n_probes);
	double	   *scratch = palloc(sizeof(double) * Max(m->scratch_len, 1));
	double	   *batch_scratch = palloc(sizeof(double) * model_batch_scratch_len(m, n_probes));

	for (int p = 0; p < n_probes; p++)
		for (int i = 0; i < n; i++)
			x[p * n + i] = probes[(p + i) % n_probes];

	/*
	 * Row by row, then the whole probe set as one chunk.  Only memory safety
	 * is checked here: with weights as large as a fuzzer writes, the order of
	 * a sum decides between overflow and a finite value, so the two paths
	 * need not agree on these models (they are compared on real ones in
	 * sql/batch.sql and the benchmarks).
	 */
	for (int p = 0; p < n_probes; p++)
		model_eval(m, x + p * n, out, scratch);
	model_eval_batch(m, x, n_probes, batch_out, batch_scratch);

	/*
	 * The sparse evaluation with every column listed (any column may be
	 * nonzero in these probes), and the category lookup with each feature's
	 * own first category, a prefix of it and the empty name.
	 */
	{
		int32	   *active = palloc(sizeof(int32) * n);

		for (int j = 0; j < n; j++)
			active[j] = j;
		model_eval_sparse(m, x, active, n, out, scratch);
	}
	for (int i = 0; i < m->hdr->n_inputs; i++)
	{
		const char *name;
		int			len;

		if (m->feature_kind[i] != FEATURE_CATEGORICAL)
			continue;
		name = model_string(m, m->category_name[m->feature_cat_first[i]]);
		len = (int) strlen(name);
		if (model_find_category(m, i, name, len) < 0)
			abort();			/* a category must find itself (or an equal name) */
		(void) model_find_category(m, i, name, len / 2);
		(void) model_find_category(m, i, "", 0);
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sigjmp_buf	jump;
	static bool initialized = false;

	if (!initialized)
	{
		json_set_alloc_funcs(stub_json_malloc, stub_json_free);
		initialized = true;
	}
	if (size < 1)
		return 0;

	stub_error_jump = &jump;
	if (sigsetjmp(jump, 0) == 0)
	{
		bytea	   *compiled;

		if ((data[0] & 1) == 0)
			compiled = model_compile_artifact((const char *) data + 1, size - 1, 0, NULL);
		else
		{
			compiled = palloc(VARHDRSZ + size - 1);
			SET_VARSIZE(compiled, VARHDRSZ + size - 1);
			memcpy(VARDATA(compiled), data + 1, size - 1);
		}
		evaluate(model_load(compiled, NULL));
	}
	stub_error_jump = NULL;
	stub_reset();
	return 0;
}
