/*
 * training_xgboost.c
 *	  Gradient-boosted trees through XGBoost's C library.
 */
#include "postgres.h"

#include "training.h"

/* TEMPORARY (replaced by the xgb branch) */
char *
train_xgboost(TrainSet *ts, json_t *hyperparams, int nthread)
{
	elog(ERROR, "not yet");
}
