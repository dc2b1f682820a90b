/*
 * fuzz_model.c
 *	  libFuzzer target for the model compiler and loader: whatever bytes
 *	  arrive, as a JSON artifact or as a compiled model, mlops either refuses
 *	  them with an error or accepts a model that then evaluates without
 *	  reading out of bounds, looping forever or crashing.
 *
 *	  The first byte picks the path: even, the rest is a JSON artifact for
 *	  model_compile_json(); odd, the rest is a compiled model for
 *	  model_load().  Every model that passes is evaluated on inputs of 0, 1,
 *	  -1, NaN and huge values.
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
	int			n = m->hdr->n_encoded;
	double	   *x = palloc(sizeof(double) * n);
	double	   *out = palloc(sizeof(double) * Max(m->hdr->n_outputs, 2));
	double	   *scratch = palloc(sizeof(double) * Max(m->scratch_len, 1));

	for (size_t p = 0; p < lengthof(probes); p++)
	{
		for (int i = 0; i < n; i++)
			x[i] = probes[(p + i) % lengthof(probes)];
		model_eval(m, x, out, scratch);
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
			compiled = model_compile_json((const char *) data + 1, size - 1, 0, NULL);
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
