/*
 * training_xgboost.c
 *	  Gradient-boosted trees through XGBoost's C library.
 */
#include "postgres.h"

#include "training.h"
