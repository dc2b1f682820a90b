/*
 * metrics.c
 *	  Model-quality metrics, as sklearn.metrics computes them.
 */
#include "postgres.h"

#include "metrics.h"
