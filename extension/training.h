/*
 * training.h
 *	  The training set shared by the algorithms (training.c: reading,
 *	  splitting, preprocessing, the linear models; training_xgboost.c: the
 *	  boosted trees) and the held-out metrics (metrics.c).
 *
 *	  A training set is read once, through a cursor, into rows (in memory up
 *	  to mlops.train_memory, then a temporary file) in the model's signature
 *	  form (one double per feature: the
 *	  number, or a categorical feature's category index; NaN when missing),
 *	  each row tagged with its part (train or test) and its target.  Every
 *	  algorithm then makes as many passes over that file as it needs, in
 *	  chunks of TRAIN_CHUNK_ROWS rows, so memory does not grow with the row
 *	  count and the source query runs once.
 */
#ifndef MLOPS_TRAINING_H
#define MLOPS_TRAINING_H

#include <jansson.h>

#define TRAIN_CHUNK_ROWS 8192

typedef enum TrainPart
{
	TRAIN_PART_TRAIN = 0,		/* the rows the model is fitted on */
	TRAIN_PART_TEST = 1			/* the held-out rows it is evaluated on */
} TrainPart;

typedef enum TrainEncoding
{
	/*
	 * Encoded columns as the model format defines them (README, "Model
	 * format"): a numeric feature one column, a categorical feature one
	 * column per training category, in the order of the signature.  RAW
	 * leaves missing values NaN (a missing categorical feature makes all of
	 * its columns NaN; a category not seen in training makes them all 0, as
	 * the signature's "unknown": "ignore" does) and does not scale: what
	 * tree learners take.  PREPROCESSED imputes (the training mean of a
	 * numeric feature, the most frequent training category of a categorical
	 * one) and applies the standard scaler when the set has one: what the
	 * linear models are fitted on.
	 */
	TRAIN_ENCODE_RAW = 0,
	TRAIN_ENCODE_PREPROCESSED = 1
} TrainEncoding;

typedef struct TrainSet TrainSet;	/* opaque: training.c */

/*
 * jansson's json_object() shares its name with the server's SQL function
 * json_object, and the server's symbol wins at load time: a call would land
 * in PostgreSQL's function and crash.  Make objects with this instead.
 */
static inline json_t *
train_json_object(void)
{
	return json_pack("{}");
}

/* One chunk of encoded rows, valid until the next call. */
typedef struct TrainChunk
{
	int			nrows;
	int			ncols;			/* encoded columns (train_ncols) */
	const double *x;			/* nrows x ncols, row-major */
	const double *y;			/* nrows: the target, or the class index 0..K-1 */
} TrainChunk;

/* Start a pass over the rows of a part, encoded as asked. */
extern void train_rewind(TrainSet *ts, TrainPart part, TrainEncoding enc);

/* The next chunk of the pass; false at its end. */
extern bool train_next_chunk(TrainSet *ts, TrainChunk *chunk);

extern int	train_ncols(const TrainSet *ts);	/* encoded columns */
extern int	train_nclasses(const TrainSet *ts); /* 0 for regression */
extern int64 train_nrows(const TrainSet *ts, TrainPart part);
extern const char *train_task(const TrainSet *ts);	/* regression, binary, multiclass */

/*
 * The signature as the model format writes it: the "features" array (with
 * "impute" when with_impute, "categories" and "unknown": "ignore" for the
 * categorical ones) and the "classes" array (NULL for regression).  New
 * references: the caller decrefs.
 */
extern json_t *train_signature_features(const TrainSet *ts, bool with_impute);
extern json_t *train_signature_classes(const TrainSet *ts);

/*
 * Gradient-boosted trees through XGBoost's C library (training_xgboost.c).
 * Fits a booster on the TRAIN part (RAW encoding) with the given
 * hyperparameters (a JSON object of XGBoost parameters plus
 * "num_boost_round"; the objective follows the set's task unless given)
 * and nthread threads, and returns the booster saved as XGBoost JSON with
 * the set's signature in its attributes (palloc'd, NUL-terminated), ready
 * for register_model_version.  Errors are ereport(ERROR) with the message
 * XGBoost gave.
 */
extern char *train_xgboost(TrainSet *ts, json_t *hyperparams, int nthread);

#endif							/* MLOPS_TRAINING_H */
