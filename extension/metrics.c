/*
 * metrics.c
 *	  Model-quality metrics, as sklearn.metrics (1.2) computes them: the C API
 *	  of metrics.h (train() calls it on its held-out rows) and the support
 *	  functions of the SQL aggregates of metrics.sql (mlops.rmse, mae,
 *	  r2_score, accuracy, precision_score, recall_score, f1_score, roc_auc,
 *	  log_loss).  Both go through the same accumulators and formulas below,
 *	  so that a metric reads the same whichever way it is computed.
 *
 *	  Aggregate states are concrete types where a fixed number of running
 *	  values suffices (float8[] for the sums, int8[] for the counts): parallel
 *	  workers and Citus workers hand them on as they are, and the combine
 *	  function adds them.  The exact ROC AUC needs every (score, label) pair,
 *	  so its state is internal (the positives' and the negatives' scores, in
 *	  arrays grown in the aggregate's memory context, past 1 GB too) with
 *	  serialize/deserialize functions; it is sorted only by the final function.
 *
 *	  Sums are compensated (Neumaier's variant of Kahan's summation), and the
 *	  spread of the actual values for R2 is Welford's running M2 (of the values
 *	  less the first, combined with Chan's formula):
 *	  sklearn's float64 results (numpy's pairwise sums) are matched within
 *	  1e-9 relative also over millions of rows.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_operator_d.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"
#include "utils/tuplesort.h"

#include "metrics.h"
#include "mlops.h"

/*
 * log_loss clips probabilities to [eps, 1 - eps] with sklearn's default eps
 * ("auto"): the machine epsilon of float64, 2^-52.
 */
#define LOG_LOSS_EPS	DBL_EPSILON

/* --------------------------------------------------------------------------
 * Compensated sums
 * --------------------------------------------------------------------------
 */

/*
 * Add x to the sum *s with compensation *c (Neumaier).  Once the sum has
 * overflowed to infinity the compensation would turn into NaN (inf - inf),
 * so it is left alone then: the sum is infinite, as numpy's is.
 */
static inline void
ksum_add(double *s, double *c, double x)
{
	double		t = *s + x;

	if (isfinite(t))
	{
		if (fabs(*s) >= fabs(x))
			*c += (*s - t) + x;
		else
			*c += (x - t) + *s;
	}
	*s = t;
}

static inline double
ksum_value(double s, double c)
{
	return isfinite(s) ? s + c : s;
}

/* --------------------------------------------------------------------------
 * Regression: one accumulator for RMSE, MAE and R2
 * --------------------------------------------------------------------------
 */

/* the layout of the float8[] state of the regression aggregates */
enum
{
	REG_N,						/* rows */
	REG_SSE, REG_SSE_C,			/* sum of squared errors, compensation */
	REG_SAE, REG_SAE_C,			/* sum of absolute errors, compensation */
	REG_SHIFT,					/* the first actual value */
	REG_MEAN, REG_M2,			/* mean of actual - shift, sum of squared deviations */
	REG_LEN
};

static inline void
reg_add(double *st, double pred, double actual)
{
	double		e = actual - pred;
	double		delta;

	if (st[REG_N] == 0)
		st[REG_SHIFT] = actual;
	st[REG_N] += 1;
	ksum_add(&st[REG_SSE], &st[REG_SSE_C], e * e);
	ksum_add(&st[REG_SAE], &st[REG_SAE_C], fabs(e));

	/*
	 * Welford, on the actual values less the first one: the running mean of
	 * values like 1e6 + noise would round at 1e-10 each step, and its
	 * errors, correlated, reach the deviations (R2 off by 1e-9); shifted, the
	 * mean is of the order of the spread.  A constant actual keeps M2
	 * exactly 0 (R2's special case).
	 */
	actual -= st[REG_SHIFT];
	delta = actual - st[REG_MEAN];
	st[REG_MEAN] += delta / st[REG_N];
	st[REG_M2] += delta * (actual - st[REG_MEAN]);
}

/* st += other (Chan et al.'s pairwise update of the mean and M2) */
static void
reg_combine(double *st, const double *other)
{
	double		na = st[REG_N],
				nb = other[REG_N],
				n = na + nb,
				delta;

	if (nb == 0)
		return;
	if (na == 0)
	{
		memcpy(st, other, sizeof(double) * REG_LEN);
		return;
	}
	ksum_add(&st[REG_SSE], &st[REG_SSE_C], other[REG_SSE]);
	ksum_add(&st[REG_SSE], &st[REG_SSE_C], other[REG_SSE_C]);
	ksum_add(&st[REG_SAE], &st[REG_SAE_C], other[REG_SAE]);
	ksum_add(&st[REG_SAE], &st[REG_SAE_C], other[REG_SAE_C]);
	/* the difference of the means, each of its own shift */
	delta = (other[REG_SHIFT] - st[REG_SHIFT]) + (other[REG_MEAN] - st[REG_MEAN]);
	st[REG_MEAN] += delta * (nb / n);
	st[REG_M2] += other[REG_M2] + delta * delta * (na / n) * nb;
	st[REG_N] = n;
}

static double
reg_rmse(const double *st)
{
	return sqrt(ksum_value(st[REG_SSE], st[REG_SSE_C]) / st[REG_N]);
}

static double
reg_mae(const double *st)
{
	return ksum_value(st[REG_SAE], st[REG_SAE_C]) / st[REG_N];
}

/* 1 - SSE/SST; with a constant actual (SST 0): 1 if predicted exactly, else 0 */
static double
reg_r2(const double *st)
{
	double		sse = ksum_value(st[REG_SSE], st[REG_SSE_C]);

	if (st[REG_M2] == 0)
		return sse == 0 ? 1.0 : 0.0;
	return 1.0 - sse / st[REG_M2];
}

/* --------------------------------------------------------------------------
 * Classification
 * --------------------------------------------------------------------------
 */

/* a / b, 0 for 0/0 (zero_division=0) */
static inline double
ratio_or_zero(double a, double b)
{
	return b == 0 ? 0.0 : a / b;
}

/*
 * Precision, recall and F1 of one class from its true positives and the
 * rows predicted as and truly of that class.  F1 is the harmonic mean of
 * precision and recall, as sklearn computes it (not 2tp / (2tp + fp + fn),
 * which differs from it in the last bits).
 */
static void
prf_from_counts(int64 tp, int64 n_pred, int64 n_true, double *precision, double *recall, double *f1)
{
	double		p = ratio_or_zero((double) tp, (double) n_pred);
	double		r = ratio_or_zero((double) tp, (double) n_true);

	*precision = p;
	*recall = r;
	*f1 = (p + r == 0) ? 0.0 : 2.0 * p * r / (p + r);
}

/* --------------------------------------------------------------------------
 * ROC AUC
 * --------------------------------------------------------------------------
 */

/*
 * The Mann-Whitney U of the positives' scores over the negatives', divided
 * by npos * nneg: the share of (positive, negative) pairs ranked right, a
 * tie counting half.  This is the area under the ROC curve sklearn draws
 * (a tie group is one diagonal step of the curve).  Sorts both arrays in
 * place.  U is summed in doubles of whole halves: exact up to 2^53
 * (npos * nneg up to 4.5e15), within a rounding beyond.
 */
static double
auc_from_split(double *pos, int64 npos, double *neg, int64 nneg)
{
	int64		i = 0,
				j = 0;
	double		neg_below = 0,
				u2 = 0;

	if (npos == 0 || nneg == 0)
		return get_float8_nan();
	sort_float8s(pos, npos);	/* -0.0 becomes 0.0: the same score */
	sort_float8s(neg, nneg);
	while (i < npos)
	{
		double		v = pos[i];
		int64		pg = 0,
					ng = 0;

		/* negatives strictly below the next positive score */
		while (j < nneg && neg[j] < v)
		{
			j++;
			neg_below++;
		}
		while (i < npos && pos[i] == v)
		{
			i++;
			pg++;
		}
		while (j < nneg && neg[j] == v)
		{
			j++;
			ng++;
		}
		u2 += (double) pg * (2.0 * neg_below + (double) ng);
		neg_below += ng;
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return u2 / (2.0 * (double) npos * (double) nneg);
}


/* a class index of row i, from 0 to k - 1 (the callers' contract) */
static inline void
check_class_index(int label, int k, int64 i)
{
	if (label < 0 || label >= k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("class index %d out of range 0 to %d (row " INT64_FORMAT ")", label, k - 1, i)));
}

/* --------------------------------------------------------------------------
 * Log loss
 * --------------------------------------------------------------------------
 */

static inline double
clip_probability(double p)
{
	return p < LOG_LOSS_EPS ? LOG_LOSS_EPS : (p > 1.0 - LOG_LOSS_EPS ? 1.0 - LOG_LOSS_EPS : p);
}

/*
 * The loss of one row of k probabilities whose class is y, as sklearn 1.2
 * computes it: every probability clipped to [eps, 1 - eps], the row divided
 * by its (clipped) sum, minus the log of the true class's share.
 */
static double
log_loss_row(const double *row, int k, int y)
{
	double		sum = 0;
	int			c;

	for (c = 0; c < k; c++)
		sum += clip_probability(row[c]);
	return -log(clip_probability(row[y]) / sum);
}

/*
 * The binary form takes the positive class's probability p alone; sklearn
 * clips it first and then makes the row (1 - p, p), so the negative class's
 * probability is 1 - clip(p), not clip(1 - p).  (Clipping 1 - clip(p) again
 * in log_loss_row changes nothing: it is within [eps, 1 - eps] already.)
 */
static inline double
log_loss_binary(double p, int y)
{
	double		row[2];

	row[1] = clip_probability(p);
	row[0] = 1.0 - row[1];
	return log_loss_row(row, 2, y);
}

double
metrics_log_loss(const double *proba, const int *label, int64 n, int k)
{
	double		s = 0,
				c = 0;
	int64		i;

	if (n == 0)
		return get_float8_nan();
	for (i = 0; i < n; i++)
	{
		check_class_index(label[i], k, i);
		ksum_add(&s, &c, log_loss_row(proba + i * k, k, label[i]));
	}
	return ksum_value(s, c) / (double) n;
}

/* --------------------------------------------------------------------------
 * The aggregates' support functions
 * --------------------------------------------------------------------------
 */

/* the name of the aggregate being computed, for messages */
static const char *
agg_name(FunctionCallInfo fcinfo)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);
	Oid			fn = aggref ? aggref->aggfnoid : fcinfo->flinfo->fn_oid;
	char	   *name = get_func_name(fn);

	return psprintf("mlops.%s", name ? name : "?");
}

/* NaN and infinities are errors (sklearn's check_array refuses them too) */
static inline void
check_finite(FunctionCallInfo fcinfo, double v, const char *what)
{
	if (unlikely(!isfinite(v)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: %s must be a finite number, not %s",
						agg_name(fcinfo), what, isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity")),
				 errdetail("The metric is not defined for a row with a NaN or infinite %s.", what),
				 errhint("Leave such rows out, or turn them into NULL (rows with a NULL argument are skipped).")));
}

/* the int form of a binary label: 1 is the positive class, 0 the negative */
static inline bool
int_label(FunctionCallInfo fcinfo, int32 label)
{
	if (unlikely(label != 0 && label != 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: label must be 0 or 1, not %d", agg_name(fcinfo), label),
				 errdetail("An integer label is 1 for the positive class and 0 for the negative one."),
				 errhint("Pass a boolean instead, e.g. label = <positive class>, or map the classes to 0 and 1.")));
	return label == 1;
}

/*
 * The values of a state array without NULLs: ARR_DATA_PTR() without its
 * test for a NULL bitmap (which trips -Wsign-compare).
 */
static inline void *
state_data(ArrayType *a)
{
	return (char *) a + ARR_OVERHEAD_NONULLS(ARR_NDIM(a));
}

/*
 * The state array of a float8[] or int8[] aggregate, checked: these support
 * functions can be called directly by the extension's owner, with any array.
 */
static void *
checked_state(FunctionCallInfo fcinfo, ArrayType *a, Oid elemtype, int len)
{
	if (ARR_NDIM(a) != 1 || ARR_DIMS(a)[0] != len || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != elemtype)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: not a state of this aggregate", agg_name(fcinfo)),
				 errdetail("The state is an array of %d %s values without NULLs.",
						   len, format_type_be(elemtype))));
	return state_data(a);
}

/*
 * The state array, writable: when called as an aggregate, the state belongs
 * to the aggregate's memory context and is updated in place (as PostgreSQL's
 * float8_accum does), else it is copied.
 */
static ArrayType *
state_array(FunctionCallInfo fcinfo, int argno, Oid elemtype, int len)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);

	checked_state(fcinfo, a, elemtype, len);
	if (!AggCheckCallContext(fcinfo, NULL))
		a = DatumGetArrayTypePCopy(PG_GETARG_DATUM(argno));
	return a;
}

#define STATE_DOUBLES(a) ((double *) state_data(a))
#define STATE_INT64S(a) ((int64 *) state_data(a))

/* the values of a final function's state, read only; NULL for a NULL state */
static const void *
final_state(FunctionCallInfo fcinfo, Oid elemtype, int len)
{
	if (PG_ARGISNULL(0))
		return NULL;
	return checked_state(fcinfo, PG_GETARG_ARRAYTYPE_P(0), elemtype, len);
}

/*
 * The support functions of the float8[] and int8[] states are not STRICT,
 * though they act as if they were: the planner folds a STRICT function
 * called with a NULL constant into NULL without checking the caller's
 * EXECUTE privilege, which would let anyone "call" these internal
 * functions.  So a transition function skips a row with a NULL argument
 * itself (keeping the state; a NULL state, outside an aggregate, gives
 * NULL), and a combine function returns the other state when one is NULL.
 */
static bool
row_has_null(FunctionCallInfo fcinfo)
{
	int			i;

	for (i = 1; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			return true;
	return false;
}

#define SKIP_NULL_ROW() \
	do { \
		if (PG_ARGISNULL(0)) \
			PG_RETURN_NULL(); \
		if (row_has_null(fcinfo)) \
			PG_RETURN_DATUM(PG_GETARG_DATUM(0)); \
	} while (0)

#define COMBINE_NULL_STATES() \
	do { \
		if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) \
		{ \
			if (PG_ARGISNULL(0) && PG_ARGISNULL(1)) \
				PG_RETURN_NULL(); \
			PG_RETURN_DATUM(PG_GETARG_DATUM(PG_ARGISNULL(0) ? 1 : 0)); \
		} \
	} while (0)

/* ---- rmse, mae, r2_score: float8[] state, see REG_* ---- */

PG_FUNCTION_INFO_V1(mlops_regression_trans);
Datum
mlops_regression_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	double		pred,
				actual;

	SKIP_NULL_ROW();
	a = state_array(fcinfo, 0, FLOAT8OID, REG_LEN);
	pred = PG_GETARG_FLOAT8(1);
	actual = PG_GETARG_FLOAT8(2);
	check_finite(fcinfo, pred, "predicted");
	check_finite(fcinfo, actual, "actual");
	reg_add(STATE_DOUBLES(a), pred, actual);
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(mlops_regression_combine);
Datum
mlops_regression_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a,
			   *b;

	COMBINE_NULL_STATES();
	a = state_array(fcinfo, 0, FLOAT8OID, REG_LEN);
	b = state_array(fcinfo, 1, FLOAT8OID, REG_LEN);
	reg_combine(STATE_DOUBLES(a), STATE_DOUBLES(b));
	PG_RETURN_ARRAYTYPE_P(a);
}

#define REGRESSION_FINAL(sqlname, fn) \
PG_FUNCTION_INFO_V1(sqlname); \
Datum \
sqlname(PG_FUNCTION_ARGS) \
{ \
	const double *st = final_state(fcinfo, FLOAT8OID, REG_LEN); \
	if (st == NULL || st[REG_N] == 0) \
		PG_RETURN_NULL(); \
	PG_RETURN_FLOAT8(fn(st)); \
}

REGRESSION_FINAL(mlops_rmse_final, reg_rmse)
REGRESSION_FINAL(mlops_mae_final, reg_mae)
REGRESSION_FINAL(mlops_r2_final, reg_r2)

/* ---- accuracy, precision_score, recall_score, f1_score: int8[] counts ---- */

/* the counts of the binary aggregates: a confusion matrix */
enum
{
	CM_TP, CM_FP, CM_FN, CM_TN, CM_LEN
};

/* accuracy's: rows and rows predicted right */
enum
{
	ACC_N, ACC_CORRECT, ACC_LEN
};

/*
 * Whether two values of a polymorphic argument are equal, by their type's
 * default equality operator (looked up once per aggregate call site) and
 * the aggregate's input collation.
 */
static bool
values_equal(FunctionCallInfo fcinfo, Datum a, Datum b)
{
	FmgrInfo   *eq = (FmgrInfo *) fcinfo->flinfo->fn_extra;

	if (eq == NULL)
	{
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, 1);
		TypeCacheEntry *tc;

		if (!OidIsValid(type))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: could not determine the type of its arguments", agg_name(fcinfo))));
		tc = lookup_type_cache(type, TYPECACHE_EQ_OPR_FINFO);
		if (!OidIsValid(tc->eq_opr_finfo.fn_oid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("%s: type %s has no equality operator", agg_name(fcinfo), format_type_be(type)),
					 errhint("Cast the predicted and actual values to a type with one, such as text.")));
		eq = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_copy(eq, &tc->eq_opr_finfo, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = eq;
	}
	return DatumGetBool(FunctionCall2Coll(eq, PG_GET_COLLATION(), a, b));
}

/* accuracy(predicted anyelement, actual anyelement): STRICT, NULL rows skipped */
PG_FUNCTION_INFO_V1(mlops_accuracy_trans);
Datum
mlops_accuracy_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	int64	   *st;

	SKIP_NULL_ROW();
	a = state_array(fcinfo, 0, INT8OID, ACC_LEN);
	st = STATE_INT64S(a);
	st[ACC_N]++;
	if (values_equal(fcinfo, PG_GETARG_DATUM(1), PG_GETARG_DATUM(2)))
		st[ACC_CORRECT]++;
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(mlops_accuracy_final);
Datum
mlops_accuracy_final(PG_FUNCTION_ARGS)
{
	const int64 *st = (const int64 *) final_state(fcinfo, INT8OID, ACC_LEN);

	if (st == NULL || st[ACC_N] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) st[ACC_CORRECT] / (double) st[ACC_N]);
}

static inline void
cm_add(int64 *st, bool pred, bool actual)
{
	st[pred ? (actual ? CM_TP : CM_FP) : (actual ? CM_FN : CM_TN)]++;
}

/* precision_score(predicted boolean, actual boolean) and co.: STRICT */
PG_FUNCTION_INFO_V1(mlops_confusion_trans);
Datum
mlops_confusion_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *a;

	SKIP_NULL_ROW();
	a = state_array(fcinfo, 0, INT8OID, CM_LEN);
	cm_add(STATE_INT64S(a), PG_GETARG_BOOL(1), PG_GETARG_BOOL(2));
	PG_RETURN_ARRAYTYPE_P(a);
}

/*
 * precision_score(predicted anyelement, actual anyelement, positive
 * anyelement) and co.: not STRICT, because a NULL positive label is an
 * error, not a row to skip; a row with a NULL predicted or actual value is.
 */
PG_FUNCTION_INFO_V1(mlops_confusion_label_trans);
Datum
mlops_confusion_label_trans(PG_FUNCTION_ARGS)
{
	ArrayType  *a;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: the positive label must not be NULL", agg_name(fcinfo)),
				 errdetail("The third argument names the class whose precision, recall or F1 is computed."),
				 errhint("Pass the positive class, e.g. mlops.f1_score(predicted, actual, 'churn').")));
	SKIP_NULL_ROW();
	a = state_array(fcinfo, 0, INT8OID, CM_LEN);
	cm_add(STATE_INT64S(a),
		   values_equal(fcinfo, PG_GETARG_DATUM(1), PG_GETARG_DATUM(3)),
		   values_equal(fcinfo, PG_GETARG_DATUM(2), PG_GETARG_DATUM(3)));
	PG_RETURN_ARRAYTYPE_P(a);
}

/* the combine function of every int8[] state: elementwise sum */
PG_FUNCTION_INFO_V1(mlops_counts_combine);
Datum
mlops_counts_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a,
			   *b;
	int			len,
				i;

	COMBINE_NULL_STATES();
	a = PG_GETARG_ARRAYTYPE_P(0);
	len = ARR_NDIM(a) == 1 ? ARR_DIMS(a)[0] : 0;
	if (len != ACC_LEN && len != CM_LEN)
		len = CM_LEN;			/* state_array() reports it */
	a = state_array(fcinfo, 0, INT8OID, len);
	b = state_array(fcinfo, 1, INT8OID, len);
	for (i = 0; i < len; i++)
		STATE_INT64S(a)[i] += STATE_INT64S(b)[i];
	PG_RETURN_ARRAYTYPE_P(a);
}

/* which of precision, recall and F1 a final function returns */
typedef enum
{
	PRF_PRECISION, PRF_RECALL, PRF_F1
} PrfPart;

static Datum
prf_final(FunctionCallInfo fcinfo, PrfPart part)
{
	const int64 *st = (const int64 *) final_state(fcinfo, INT8OID, CM_LEN);
	double		p,
				r,
				f;

	if (st == NULL || st[CM_TP] + st[CM_FP] + st[CM_FN] + st[CM_TN] == 0)
		PG_RETURN_NULL();
	prf_from_counts(st[CM_TP], st[CM_TP] + st[CM_FP], st[CM_TP] + st[CM_FN], &p, &r, &f);
	PG_RETURN_FLOAT8(part == PRF_PRECISION ? p : (part == PRF_RECALL ? r : f));
}

PG_FUNCTION_INFO_V1(mlops_precision_final);
Datum
mlops_precision_final(PG_FUNCTION_ARGS)
{
	return prf_final(fcinfo, PRF_PRECISION);
}

PG_FUNCTION_INFO_V1(mlops_recall_final);
Datum
mlops_recall_final(PG_FUNCTION_ARGS)
{
	return prf_final(fcinfo, PRF_RECALL);
}

PG_FUNCTION_INFO_V1(mlops_f1_final);
Datum
mlops_f1_final(PG_FUNCTION_ARGS)
{
	return prf_final(fcinfo, PRF_F1);
}

/*
 * ---- log_loss: float8[] state {rows, sum of losses, compensation, classes} ----
 * The binary forms start with 2 classes; the multiclass form (a row of
 * probabilities per row) with 0, taking the first row's length.
 */

enum
{
	LL_N, LL_SUM, LL_SUM_C, LL_K, LL_LEN
};

/* a probability given to log_loss: finite, within [0, 1] */
static void
check_probability(FunctionCallInfo fcinfo, double p)
{
	check_finite(fcinfo, p, "probability");
	if (p < 0 || p > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: probability must be between 0 and 1, not %g", agg_name(fcinfo), p),
				 errdetail("The first argument is the predicted probability of the positive class, or of each class."),
				 errhint("Pass a probability, not a score or a logit (1 / (1 + exp(-logit)) turns a logit into one).")));
}

static Datum
log_loss_add(FunctionCallInfo fcinfo, double p, bool positive)
{
	ArrayType  *a = state_array(fcinfo, 0, FLOAT8OID, LL_LEN);
	double	   *st = STATE_DOUBLES(a);

	check_probability(fcinfo, p);
	st[LL_N] += 1;
	ksum_add(&st[LL_SUM], &st[LL_SUM_C], log_loss_binary(p, positive ? 1 : 0));
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(mlops_log_loss_trans_bool);
Datum
mlops_log_loss_trans_bool(PG_FUNCTION_ARGS)
{
	SKIP_NULL_ROW();
	return log_loss_add(fcinfo, PG_GETARG_FLOAT8(1), PG_GETARG_BOOL(2));
}

PG_FUNCTION_INFO_V1(mlops_log_loss_trans_int);
Datum
mlops_log_loss_trans_int(PG_FUNCTION_ARGS)
{
	SKIP_NULL_ROW();
	return log_loss_add(fcinfo, PG_GETARG_FLOAT8(1), int_label(fcinfo, PG_GETARG_INT32(2)));
}

/*
 * log_loss(probabilities float8[], label int): the row's loss is
 * metrics_log_loss() of that one row (clipped, renormalised); every row has
 * as many probabilities as the first, and the label indexes them from 0.
 */
PG_FUNCTION_INFO_V1(mlops_log_loss_trans_multi);
Datum
mlops_log_loss_trans_multi(PG_FUNCTION_ARGS)
{
	ArrayType  *a,
			   *row;
	int32		label;
	double	   *st;
	int			k;
	const double *proba;
	int			c;

	SKIP_NULL_ROW();
	a = state_array(fcinfo, 0, FLOAT8OID, LL_LEN);
	row = PG_GETARG_ARRAYTYPE_P(1);
	label = PG_GETARG_INT32(2);
	st = STATE_DOUBLES(a);
	k = ArrayGetNItems(ARR_NDIM(row), ARR_DIMS(row));
	if (ARR_NDIM(row) > 1 || ARR_HASNULL(row) || k < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: probabilities must be a one-dimensional array of 2 or more values without NULLs",
						agg_name(fcinfo)),
				 errdetail("A row has %d probabilities%s.", k, ARR_HASNULL(row) ? ", some NULL" : ""),
				 errhint("Pass the predicted probability of each class, in the order of the class indices.")));
	if (st[LL_K] != 0 && st[LL_K] != k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: every row must have the same number of probabilities", agg_name(fcinfo)),
				 errdetail("A row has %d, an earlier one %d.", k, (int) st[LL_K])));
	if (label < 0 || label >= k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: label must be a class index from 0 to %d, not %d", agg_name(fcinfo), k - 1, label),
				 errdetail("The label indexes the row's probabilities, from 0.")));
	proba = state_data(row);
	for (c = 0; c < k; c++)
		check_probability(fcinfo, proba[c]);
	st[LL_K] = k;
	st[LL_N] += 1;
	ksum_add(&st[LL_SUM], &st[LL_SUM_C], metrics_log_loss(proba, &label, 1, k));
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(mlops_log_loss_combine);
Datum
mlops_log_loss_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a,
			   *b;
	double	   *sa;
	const double *sb;

	COMBINE_NULL_STATES();
	a = state_array(fcinfo, 0, FLOAT8OID, LL_LEN);
	b = state_array(fcinfo, 1, FLOAT8OID, LL_LEN);
	sa = STATE_DOUBLES(a);
	sb = STATE_DOUBLES(b);
	if (sb[LL_N] == 0)
		PG_RETURN_ARRAYTYPE_P(a);
	if (sa[LL_N] != 0 && sa[LL_K] != sb[LL_K])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: every row must have the same number of probabilities", agg_name(fcinfo)),
				 errdetail("Some rows have %d, others %d.", (int) sa[LL_K], (int) sb[LL_K])));
	sa[LL_K] = sb[LL_K];
	sa[LL_N] += sb[LL_N];
	ksum_add(&sa[LL_SUM], &sa[LL_SUM_C], sb[LL_SUM]);
	ksum_add(&sa[LL_SUM], &sa[LL_SUM_C], sb[LL_SUM_C]);
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(mlops_log_loss_final);
Datum
mlops_log_loss_final(PG_FUNCTION_ARGS)
{
	const double *st = final_state(fcinfo, FLOAT8OID, LL_LEN);

	if (st == NULL || st[LL_N] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(ksum_value(st[LL_SUM], st[LL_SUM_C]) / st[LL_N]);
}

/* ---- roc_auc: internal state, every score kept ---- */

/* the positives' and the negatives' scores, grown by doubling */
typedef struct AucState
{
	int64		n[2];			/* [0] negatives, [1] positives */
	int64		cap[2];
	double	   *scores[2];
} AucState;

#define AUC_INITIAL_CAP 1024

static AucState *
auc_state_new(MemoryContext cxt)
{
	return MemoryContextAllocZero(cxt, sizeof(AucState));
}

/* room for `more` scores of one class, in the state's memory context */
static void
auc_reserve(AucState *st, int side, int64 more)
{
	int64		need = st->n[side] + more;
	int64		cap = st->cap[side];

	if (need <= cap)
		return;
	cap = Max(cap, AUC_INITIAL_CAP);
	while (cap < need)
		cap *= 2;
	if (st->scores[side] == NULL)
		st->scores[side] = MemoryContextAllocHuge(GetMemoryChunkContext(st), sizeof(double) * cap);
	else
		st->scores[side] = repalloc_huge(st->scores[side], sizeof(double) * cap);
	st->cap[side] = cap;
}

static Datum
auc_add(FunctionCallInfo fcinfo, bool positive)
{
	MemoryContext aggcxt;
	AucState   *st;
	double		score;
	int			side = positive ? 1 : 0;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called outside an aggregate", get_func_name(fcinfo->flinfo->fn_oid))));
	st = PG_ARGISNULL(0) ? auc_state_new(aggcxt) : (AucState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	score = PG_GETARG_FLOAT8(1);
	check_finite(fcinfo, score, "score");
	auc_reserve(st, side, 1);
	st->scores[side][st->n[side]++] = score;
	PG_RETURN_POINTER(st);
}

/* the label is looked at only in rows auc_add() keeps (no NULL) */
PG_FUNCTION_INFO_V1(mlops_auc_trans_bool);
Datum
mlops_auc_trans_bool(PG_FUNCTION_ARGS)
{
	bool		keep = !PG_ARGISNULL(1) && !PG_ARGISNULL(2);

	return auc_add(fcinfo, keep && PG_GETARG_BOOL(2));
}

PG_FUNCTION_INFO_V1(mlops_auc_trans_int);
Datum
mlops_auc_trans_int(PG_FUNCTION_ARGS)
{
	bool		keep = !PG_ARGISNULL(1) && !PG_ARGISNULL(2);

	return auc_add(fcinfo, keep && int_label(fcinfo, PG_GETARG_INT32(2)));
}

PG_FUNCTION_INFO_V1(mlops_auc_combine);
Datum
mlops_auc_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	AucState   *a,
			   *b;
	int			side;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called outside an aggregate", get_func_name(fcinfo->flinfo->fn_oid))));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(PG_ARGISNULL(0) ? NULL : PG_GETARG_POINTER(0));
	b = (AucState *) PG_GETARG_POINTER(1);
	a = PG_ARGISNULL(0) ? auc_state_new(aggcxt) : (AucState *) PG_GETARG_POINTER(0);
	for (side = 0; side < 2; side++)
	{
		if (b->n[side] == 0)
			continue;
		auc_reserve(a, side, b->n[side]);
		memcpy(a->scores[side] + a->n[side], b->scores[side], sizeof(double) * b->n[side]);
		a->n[side] += b->n[side];
	}
	PG_RETURN_POINTER(a);
}

/*
 * Serialized (for a parallel worker's partial state): the two counts, then
 * the negatives' and the positives' scores.  A bytea holds 1 GB at most,
 * about 134 million scores: a worker that collected more says so.
 */
PG_FUNCTION_INFO_V1(mlops_auc_serialize);
Datum
mlops_auc_serialize(PG_FUNCTION_ARGS)
{
	AucState   *st = (AucState *) PG_GETARG_POINTER(0);
	Size		body = sizeof(int64) * 2 + sizeof(double) * (Size) (st->n[0] + st->n[1]);
	bytea	   *out;
	char	   *p;

	if (body > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("mlops.roc_auc: a parallel worker collected too many scores to hand on (" INT64_FORMAT ")",
						st->n[0] + st->n[1]),
				 errdetail("A worker's partial state is limited to 1 GB, about 134 million rows."),
				 errhint("SET max_parallel_workers_per_gather = 0 for this query, or add workers.")));
	out = palloc(VARHDRSZ + body);
	SET_VARSIZE(out, VARHDRSZ + body);
	p = VARDATA(out);
	memcpy(p, st->n, sizeof(int64) * 2);
	p += sizeof(int64) * 2;
	if (st->n[0] > 0)
		memcpy(p, st->scores[0], sizeof(double) * st->n[0]);
	p += sizeof(double) * st->n[0];
	if (st->n[1] > 0)
		memcpy(p, st->scores[1], sizeof(double) * st->n[1]);
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(mlops_auc_deserialize);
Datum
mlops_auc_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	Size		len = VARSIZE_ANY_EXHDR(in);
	MemoryContext aggcxt;
	AucState   *st;
	int64		n[2];
	int			side;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called outside an aggregate", get_func_name(fcinfo->flinfo->fn_oid))));
	if (len < sizeof(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("mlops.roc_auc: invalid serialized state")));
	memcpy(n, p, sizeof(n));
	p += sizeof(n);
	if (n[0] < 0 || n[1] < 0 || (Size) (n[0] + n[1]) != (len - sizeof(n)) / sizeof(double) ||
		(len - sizeof(n)) % sizeof(double) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("mlops.roc_auc: invalid serialized state")));
	st = auc_state_new(aggcxt);
	for (side = 0; side < 2; side++)
	{
		auc_reserve(st, side, n[side]);
		if (n[side] > 0)
			memcpy(st->scores[side], p, sizeof(double) * n[side]);
		st->n[side] = n[side];
		p += sizeof(double) * n[side];
	}
	PG_RETURN_POINTER(st);
}

/*
 * NULL without rows, and when only one class is present (the AUC is not
 * defined then; sklearn raises): a GROUP BY with such a group still gives
 * the other groups' AUCs.  Sorting the kept scores in place changes no
 * state a later transition or another final call would see differently.
 */
PG_FUNCTION_INFO_V1(mlops_auc_final);
Datum
mlops_auc_final(PG_FUNCTION_ARGS)
{
	AucState   *st;
	double		auc;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (AucState *) PG_GETARG_POINTER(0);
	auc = auc_from_split(st->scores[1], st->n[1], st->scores[0], st->n[0]);
	if (isnan(auc))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(auc);
}

/* --------------------------------------------------------------------------
 * Streaming: train()'s held-out metrics in memory that does not grow with
 * the rows.  The sums and counts are running ones; ROC AUC, which ranks
 * every score, sorts through tuplesorts that spill to disk past work_mem
 * (shared between them: a multiclass model's 2k sorts take work_mem in all).
 * The results equal the array functions' above on the same rows.
 * --------------------------------------------------------------------------
 */
struct MetricsStream
{
	int			k;				/* classes; 0 for a regression */
	int64		n;
	double		reg[REG_LEN];
	int64	   *tp,
			   *n_pred,
			   *n_true;
	int64		correct;
	double		ll,
				ll_c;			/* log loss sum, compensation */
	int			nsorts;			/* binary: 1 (class 1); multiclass: k */
	Tuplesortstate **pos;
	Tuplesortstate **neg;
	int64	   *npos;
	int64	   *nneg;
};

/* a sort of scores; the stream's sorts share work_mem between them (kB each) */
static Tuplesortstate *
score_sort(int mem_kb)
{
#if PG_VERSION_NUM >= 150000
	return tuplesort_begin_datum(FLOAT8OID, Float8LessOperator, InvalidOid, false, mem_kb, NULL,
								 TUPLESORT_NONE);
#else
	return tuplesort_begin_datum(FLOAT8OID, Float8LessOperator, InvalidOid, false, mem_kb, NULL, false);
#endif
}

MetricsStream *
metrics_stream_begin(int k)
{
	MetricsStream *ms = palloc0(sizeof(MetricsStream));

	ms->k = k;
	if (k >= 2)
	{
		ms->tp = palloc0(sizeof(int64) * k);
		ms->n_pred = palloc0(sizeof(int64) * k);
		ms->n_true = palloc0(sizeof(int64) * k);
		ms->nsorts = k == 2 ? 1 : k;
		ms->pos = palloc(sizeof(Tuplesortstate *) * ms->nsorts);
		ms->neg = palloc(sizeof(Tuplesortstate *) * ms->nsorts);
		ms->npos = palloc0(sizeof(int64) * ms->nsorts);
		ms->nneg = palloc0(sizeof(int64) * ms->nsorts);
		for (int c = 0; c < ms->nsorts; c++)
		{
			int			mem_kb = Max(64, work_mem / (2 * ms->nsorts));

			ms->pos[c] = score_sort(mem_kb);
			ms->neg[c] = score_sort(mem_kb);
		}
	}
	return ms;
}

void
metrics_stream_add(MetricsStream *ms, const double *out, double actual)
{
	int			y,
				best = 0;

	ms->n++;
	if (ms->k < 2)
	{
		reg_add(ms->reg, out[0], actual);
		return;
	}
	y = (int) actual;
	check_class_index(y, ms->k, ms->n - 1);
	for (int c = 1; c < ms->k; c++)
		if (out[c] > out[best])
			best = c;
	ms->n_pred[best]++;
	ms->n_true[y]++;
	if (best == y)
	{
		ms->tp[y]++;
		ms->correct++;
	}
	ksum_add(&ms->ll, &ms->ll_c, log_loss_row(out, ms->k, y));
	for (int s = 0; s < ms->nsorts; s++)
	{
		int			c = ms->k == 2 ? 1 : s;
		Datum		v = Float8GetDatum(out[c]);

		if (y == c)
		{
			tuplesort_putdatum(ms->pos[s], v, false);
			ms->npos[s]++;
		}
		else
		{
			tuplesort_putdatum(ms->neg[s], v, false);
			ms->nneg[s]++;
		}
	}
}

/* the next score of a sorted stream; false past its end */
static bool
next_score(Tuplesortstate *ts, int64 *left, double *v)
{
	Datum		d;
	bool		isnull;

	if (*left == 0)
		return false;
	(*left)--;
#if PG_VERSION_NUM >= 160000
	if (!tuplesort_getdatum(ts, true, false, &d, &isnull, NULL))
#else
	if (!tuplesort_getdatum(ts, true, &d, &isnull, NULL))
#endif
		elog(ERROR, "a sorted score stream ended early");
	*v = DatumGetFloat8(d);
	return true;
}

/* auc_from_split's walk, on two sorted streams */
static double
auc_from_sorts(Tuplesortstate *pos, int64 npos, Tuplesortstate *neg, int64 nneg)
{
	int64		pl = npos,
				nl = nneg,
				steps = 0;
	double		p = 0,
				q = 0,
				neg_below = 0,
				u2 = 0;
	bool		hp,
				hq;

	if (npos == 0 || nneg == 0)
		return get_float8_nan();
	tuplesort_performsort(pos);
	tuplesort_performsort(neg);
	hp = next_score(pos, &pl, &p);
	hq = next_score(neg, &nl, &q);
	while (hp)
	{
		double		v = p;
		int64		pg = 0,
					ng = 0;

		/* negatives strictly below this positive score, then the ties on both sides */
		while (hq && q < v)
		{
			neg_below++;
			hq = next_score(neg, &nl, &q);
		}
		while (hp && p == v)
		{
			pg++;
			hp = next_score(pos, &pl, &p);
		}
		while (hq && q == v)
		{
			ng++;
			hq = next_score(neg, &nl, &q);
		}
		u2 += (double) pg * (2.0 * neg_below + (double) ng);
		neg_below += ng;
		if ((++steps & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return u2 / (2.0 * (double) npos * (double) nneg);
}

void
metrics_stream_finish(MetricsStream *ms, MetricsResult *res)
{
	double		nan = get_float8_nan();

	res->rmse = res->mae = res->r2 = nan;
	res->accuracy = res->precision = res->recall = res->f1 = res->log_loss = res->roc_auc = nan;
	if (ms->n == 0)
		return;
	if (ms->k < 2)
	{
		res->rmse = reg_rmse(ms->reg);
		res->mae = reg_mae(ms->reg);
		res->r2 = reg_r2(ms->reg);
		return;
	}
	res->accuracy = (double) ms->correct / (double) ms->n;
	if (ms->k == 2)
		prf_from_counts(ms->tp[1], ms->n_pred[1], ms->n_true[1], &res->precision, &res->recall, &res->f1);
	else
	{
		double		sp = 0,
					sr = 0,
					sf = 0;
		int			present = 0;

		for (int c = 0; c < ms->k; c++)
		{
			double		p,
						r,
						f;

			if (ms->n_pred[c] == 0 && ms->n_true[c] == 0)
				continue;
			prf_from_counts(ms->tp[c], ms->n_pred[c], ms->n_true[c], &p, &r, &f);
			sp += p;
			sr += r;
			sf += f;
			present++;
		}
		res->precision = sp / present;
		res->recall = sr / present;
		res->f1 = sf / present;
	}
	res->log_loss = ksum_value(ms->ll, ms->ll_c) / (double) ms->n;
	res->roc_auc = 0;
	for (int s = 0; s < ms->nsorts; s++)
	{
		double		auc = auc_from_sorts(ms->pos[s], ms->npos[s], ms->neg[s], ms->nneg[s]);

		if (isnan(auc))
		{
			res->roc_auc = auc;
			break;
		}
		res->roc_auc += auc / ms->nsorts;
	}
	for (int s = 0; s < ms->nsorts; s++)
	{
		tuplesort_end(ms->pos[s]);
		tuplesort_end(ms->neg[s]);
	}
}
