/*
 * training_xgboost.c
 *	  Gradient-boosted trees through XGBoost's C library: train_xgboost()
 *	  (training.h) fits a booster on the TRAIN rows of a training set and
 *	  returns it saved as XGBoost's JSON, our signature in its attributes
 *	  (mlops_features, mlops_classes), for the importer (model_xgboost.c) to
 *	  compile for native scoring.
 *
 *	  The rows reach XGBoost a chunk at a time, through its iterator
 *	  interface (XGQuantileDMatrixCreateFromCallback): XGBoost makes a few
 *	  passes over them, sketching each column's quantiles and then storing
 *	  each value as its bin (max_bin per column), and keeps only that
 *	  quantised matrix and the labels; we hold one chunk.  Only the "hist"
 *	  tree method trains on such a matrix (XGBoost 1.7's default, "auto",
 *	  would pick "exact" and fail), so "hist" is the method.  The booster is
 *	  then the one the Python package trains with the same parameters on
 *	  xgboost.DMatrix(X) and tree_method "hist", to the byte of its JSON:
 *	  1.7's hist sketch does not depend on how the rows were batched (checked
 *	  on 200,000 rows in 25 chunks, max_bin 16 and 256, 1 to 8 threads, by
 *	  tests/integration/train_xgboost_parity.sh on mlops.train), and hist's
 *	  result does not depend on the number of threads either.
 *
 *	  XGBoost is C++.  Its C API catches exceptions and returns -1, the
 *	  message in XGBGetLastError(), which becomes our error.  The iterator's
 *	  callbacks run inside XGBoost's frames, so a PostgreSQL error raised in
 *	  them (by the training set's reader, or a cancel) must not longjmp
 *	  across those frames: the callbacks catch it, end the iteration, and
 *	  train_xgboost() raises it again once XGBoost has returned.  Handles are
 *	  freed on every path (PG_FINALLY), and XGBoost is told to print nothing
 *	  (verbosity 0: its warnings would go to the server's stderr).
 */
#include <math.h>
#include <jansson.h>
#include <xgboost/c_api.h>

#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "model.h"
#include "model_compile.h"
#include "training.h"

#define DEFAULT_ROUNDS 100

/* The training set as XGBoost's data iterator sees it. */
typedef struct XgbIter
{
	TrainSet   *ts;
	DMatrixHandle proxy;		/* where each chunk is handed over */
	MemoryContext cxt;			/* where a caught error is kept */
	ErrorData  *error;			/* a PostgreSQL error caught in a callback */
	char	   *xgb_error;		/* an XGBoost error met in a callback */
	char		interface[256]; /* the chunk as a NumPy array interface */
} XgbIter;

/*
 * XGBoost's message, first line only (a stack trace follows), without the
 * "[hh:mm:ss] src/file.cc:123: " it starts with.
 */
static char *
xgb_message(void)
{
	const char *msg = XGBGetLastError();
	const char *p;
	const char *colon;
	size_t		len;

	if (msg == NULL)
		msg = "unknown error";
	if (msg[0] == '[' && (p = strstr(msg, "] ")) != NULL)
		msg = p + 2;
	/* a source location: a path, then ":digits: " */
	if ((colon = strchr(msg, ':')) != NULL && colon[1] >= '0' && colon[1] <= '9' &&
		memchr(msg, ' ', colon - msg) == NULL)
	{
		p = colon + 1;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p[0] == ':' && p[1] == ' ')
			msg = p + 2;
	}
	len = strcspn(msg, "\n");
	return pnstrdup(msg, len);
}

static void
xgb_check(int rc, const char *what)
{
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("XGBoost failed to %s: %s", what, xgb_message())));
}

/* Keep the error being raised in the iterator, to raise it again later. */
static void
iter_catch(XgbIter *it, MemoryContext oldcxt)
{
	MemoryContextSwitchTo(it->cxt);
	if (it->error == NULL)
		it->error = CopyErrorData();
	FlushErrorState();
	MemoryContextSwitchTo(oldcxt);
}

static void
iter_reset(DataIterHandle handle)
{
	XgbIter    *it = (XgbIter *) handle;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (it->error || it->xgb_error)
		return;
	PG_TRY();
	{
		train_rewind(it->ts, TRAIN_PART_TRAIN, TRAIN_ENCODE_RAW);
	}
	PG_CATCH();
	{
		iter_catch(it, oldcxt);
	}
	PG_END_TRY();
}

/* The next chunk into the proxy: 1, or 0 at the end (or after an error). */
static int
iter_next(DataIterHandle handle)
{
	XgbIter    *it = (XgbIter *) handle;
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool more = false;
	TrainChunk	chunk;

	if (it->error || it->xgb_error)
		return 0;
	PG_TRY();
	{
		CHECK_FOR_INTERRUPTS();
		do
			more = train_next_chunk(it->ts, &chunk);
		while (more && chunk.nrows == 0);
	}
	PG_CATCH();
	{
		iter_catch(it, oldcxt);
		more = false;
	}
	PG_END_TRY();
	if (!more)
		return 0;

	snprintf(it->interface, sizeof(it->interface),
			 "{\"data\": [%llu, true], \"shape\": [%d, %d], \"typestr\": \"<f8\", \"version\": 3}",
			 (unsigned long long) (uintptr_t) chunk.x, chunk.nrows, chunk.ncols);
	if (XGProxyDMatrixSetDataDense(it->proxy, it->interface) != 0 ||
		XGDMatrixSetDenseInfo(it->proxy, "label", chunk.y, (bst_ulong) chunk.nrows, 2) != 0)
	{
		it->xgb_error = MemoryContextStrdup(it->cxt, xgb_message());
		return 0;
	}
	return 1;
}

/* A hyperparameter's value as the string XGBoosterSetParam takes. */
static char *
param_text(const char *key, json_t *v)
{
	if (json_is_string(v))
		return pstrdup(json_string_value(v));
	if (json_is_integer(v))
		return psprintf("%lld", (long long) json_integer_value(v));
	if (json_is_boolean(v))
		return pstrdup(json_is_true(v) ? "1" : "0");
	if (json_is_real(v))
	{
		/* the shortest text that reads back as the same double, as Python's str(float) */
		double		d = json_real_value(v);

		for (int digits = 15; digits <= 17; digits++)
		{
			char	   *s = psprintf("%.*g", digits, d);

			if (strtod(s, NULL) == d || digits == 17)
				return s;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("XGBoost hyperparameter \"%s\" must be a number, a string or a boolean", key)));
	return NULL;				/* not reached */
}

/* Whether s is one of the NULL-terminated list. */
static bool
one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/*
 * The objective: the task's default, or one given that fits the task and
 * that the importer scores (model_xgboost.c), so that a model it could not
 * register is refused before it is trained.
 */
static const char *
choose_objective(const char *task, json_t *given)
{
	static const char *const regression[] = {"reg:squarederror", "reg:logistic", "count:poisson", NULL};
	static const char *const binary[] = {"binary:logistic", NULL};
	static const char *const multiclass[] = {"multi:softprob", "multi:softmax", NULL};
	const char *const *allowed = strcmp(task, "regression") == 0 ? regression
		: strcmp(task, "binary") == 0 ? binary : multiclass;
	const char *obj;

	if (given == NULL)
		return allowed[0];
	if (!json_is_string(given))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("XGBoost hyperparameter \"objective\" must be a string")));
	obj = json_string_value(given);
	if (!one_of(obj, allowed))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the XGBoost objective \"%s\" is not supported for a %s task", obj, task),
				 errdetail("A %s model is trained with %s%s%s%s%s.", task, allowed[0],
						   allowed[1] ? (allowed[2] ? ", " : " or ") : "", allowed[1] ? allowed[1] : "",
						   allowed[1] && allowed[2] ? " or " : "", allowed[1] && allowed[2] ? allowed[2] : ""),
				 errhint("Leave \"objective\" out to use %s.", allowed[0])));
	return obj;
}

/*
 * Checks the hyperparameters before anything is trained, and reads the two
 * that are ours to use: num_boost_round and max_bin (which the quantised
 * matrix and the booster must agree on).
 */
static void
check_hyperparams(json_t *hp, const char *task, int nclasses, int *rounds, int *max_bin)
{
	const char *key;
	json_t	   *v;

	*rounds = DEFAULT_ROUNDS;
	*max_bin = 256;
	if (hp == NULL || json_is_null(hp))
		return;
	if (!json_is_object(hp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("XGBoost hyperparameters must be a JSON object")));
	json_object_foreach(hp, key, v)
	{
		if (strcmp(key, "num_boost_round") == 0 || strcmp(key, "max_bin") == 0)
		{
			bool		is_rounds = key[0] == 'n';
			int64		lo = is_rounds ? 1 : 2;
			int64		hi = is_rounds ? MODEL_MAX_TREES : 65536;

			if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("XGBoost hyperparameter \"%s\" must be an integer from %lld to %lld",
								key, (long long) lo, (long long) hi)));
			*(is_rounds ? rounds : max_bin) = (int) json_integer_value(v);
		}
		else if (strcmp(key, "booster") == 0 &&
				 !(json_is_string(v) && strcmp(json_string_value(v), "gbtree") == 0))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("only the \"gbtree\" XGBoost booster is supported"),
					 errdetail("dart and gblinear models cannot be scored natively.")));
		else if (strcmp(key, "tree_method") == 0 &&
				 !(json_is_string(v) && one_of(json_string_value(v), (const char *const[]) {"hist", "auto", NULL})))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("only the \"hist\" XGBoost tree method is supported"),
					 errdetail("The rows reach XGBoost in chunks, as a quantised matrix, which only \"hist\" "
							   "trains on.")));
		else if (strcmp(key, "enable_categorical") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("XGBoost hyperparameter \"%s\" is not supported", key),
					 errdetail("Categorical features are one-hot encoded; XGBoost's categorical splits cannot be "
							   "scored natively.")));
		else if (strcmp(key, "nthread") == 0 || strcmp(key, "n_jobs") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("XGBoost hyperparameter \"%s\" is not supported", key),
					 errhint("Set mlops.train_nthread.")));
		else if (one_of(key, (const char *const[]) {"updater", "process_type", "num_parallel_tree", NULL}))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("XGBoost hyperparameter \"%s\" is not supported", key),
					 errdetail("Boosted trees are grown by \"hist\", one tree per round and output.")));
		else if (strcmp(key, "num_class") == 0 &&
				 !(json_is_integer(v) && json_integer_value(v) == nclasses && nclasses > 2))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("XGBoost hyperparameter \"num_class\" must be the number of classes, %d, of a "
							"multiclass task (this one is %s)", nclasses, task)));
		else
			(void) param_text(key, v);	/* refuses what is not a scalar */
	}
	(void) choose_objective(task, json_object_get(hp, "objective"));
}

/* The encoded columns' names: a numeric feature's name, name=category for a categorical one's. */
static const char **
column_names(json_t *features, int ncols)
{
	const char **names = palloc(sizeof(char *) * ncols);
	int			col = 0;

	for (size_t i = 0; i < json_array_size(features); i++)
	{
		json_t	   *f = json_array_get(features, i);
		const char *name = json_string_value(json_object_get(f, "name"));
		json_t	   *cats = json_object_get(f, "categories");

		if (cats == NULL)
		{
			if (col < ncols)
				names[col] = name;
			col++;
		}
		for (size_t j = 0; j < json_array_size(cats); j++, col++)
			if (col < ncols)
				names[col] = psprintf("%s=%s", name, mj_label_text(json_array_get(cats, j), "categories"));
	}
	if (col != ncols)
		elog(ERROR, "the training set's signature encodes to %d columns, but it has %d", col, ncols);
	return names;
}

static void
set_param(BoosterHandle booster, const char *key, const char *value)
{
	if (XGBoosterSetParam(booster, key, value) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("XGBoost refused hyperparameter \"%s\" = \"%s\": %s", key, value, xgb_message())));
}

char *
train_xgboost(TrainSet *ts, json_t *hyperparams, int nthread)
{
	const char *task = train_task(ts);
	int			nclasses = train_nclasses(ts);
	int			ncols = train_ncols(ts);
	json_t	   *features = train_signature_features(ts, false);
	json_t	   *classes = nclasses > 0 ? train_signature_classes(ts) : NULL;
	const char **names = column_names(features, ncols);
	XgbIter		it;
	DMatrixHandle volatile proxy = NULL;
	DMatrixHandle volatile dtrain = NULL;
	BoosterHandle volatile booster = NULL;
	int			rounds;
	int			max_bin;
	int			threads = Max(nthread, 1);
	char	   *result = NULL;

	check_hyperparams(hyperparams, task, nclasses, &rounds, &max_bin);
	if (strcmp(task, "multiclass") == 0 && (int64) rounds * nclasses > MODEL_MAX_TREES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d boosting rounds of %d classes make %lld trees; a model has at most %d",
						rounds, nclasses, (long long) rounds * nclasses, MODEL_MAX_TREES),
				 errhint("Lower \"num_boost_round\".")));
	if (train_nrows(ts, TRAIN_PART_TRAIN) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("there are no training rows to fit XGBoost on")));

	memset(&it, 0, sizeof(it));
	it.ts = ts;
	it.cxt = CurrentMemoryContext;

	PG_TRY();
	{
		DMatrixHandle dm;
		BoosterHandle b;
		char	   *config;
		const char *key;
		json_t	   *v;
		const char *out;
		bst_ulong	out_len;
		char	   *text;

		/* thread-local in XGBoost: set on every call, in this thread */
		xgb_check(XGBSetGlobalConfig("{\"verbosity\": 0}"), "configure");

		xgb_check(XGProxyDMatrixCreate(&dm), "create a data proxy");
		proxy = dm;
		it.proxy = dm;
		config = psprintf("{\"missing\": NaN, \"nthread\": %d, \"max_bin\": %d}", threads, max_bin);
		if (XGQuantileDMatrixCreateFromCallback(&it, dm, NULL, iter_reset, iter_next, config, &dm) == 0)
			dtrain = dm;
		if (it.error)
			ReThrowError(it.error);
		if (it.xgb_error)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("XGBoost failed to take the training rows: %s", it.xgb_error)));
		if (dtrain == NULL)
			xgb_check(-1, "build its training matrix");

		dm = dtrain;
		xgb_check(XGBoosterCreate(&dm, 1, &b), "create a booster");
		booster = b;

		/* the user's parameters first, then ours, which XGBoost takes last */
		if (hyperparams && json_is_object(hyperparams))
			json_object_foreach(hyperparams, key, v)
				if (strcmp(key, "num_boost_round") != 0)
					set_param(b, key, param_text(key, v));
		set_param(b, "objective", choose_objective(task, hyperparams ? json_object_get(hyperparams, "objective") : NULL));
		if (strcmp(task, "multiclass") == 0)
			set_param(b, "num_class", psprintf("%d", nclasses));
		set_param(b, "tree_method", "hist");
		set_param(b, "max_bin", psprintf("%d", max_bin));
		set_param(b, "nthread", psprintf("%d", threads));
		set_param(b, "verbosity", "0");
		xgb_check(XGBoosterSetStrFeatureInfo(b, "feature_name", names, (bst_ulong) ncols), "name the columns");

		for (int i = 0; i < rounds; i++)
		{
			CHECK_FOR_INTERRUPTS();
			xgb_check(XGBoosterUpdateOneIter(b, i, dtrain), "train");
		}

		text = json_dumps(features, JSON_COMPACT);
		xgb_check(XGBoosterSetAttr(b, "mlops_features", text), "set an attribute");
		if (classes)
		{
			text = json_dumps(classes, JSON_COMPACT);
			xgb_check(XGBoosterSetAttr(b, "mlops_classes", text), "set an attribute");
		}
		xgb_check(XGBoosterSaveModelToBuffer(b, "{\"format\": \"json\"}", &out_len, &out), "save the model");
		result = palloc(out_len + 1);
		memcpy(result, out, out_len);
		result[out_len] = '\0';
	}
	PG_FINALLY();
	{
		if (booster)
			XGBoosterFree(booster);
		if (dtrain)
			XGDMatrixFree(dtrain);
		if (proxy)
			XGDMatrixFree(proxy);
	}
	PG_END_TRY();

	json_decref(features);
	if (classes)
		json_decref(classes);
	return result;
}
