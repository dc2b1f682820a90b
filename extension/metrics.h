/*
 * metrics.h
 *	  Model-quality metrics (metrics.c), computed as sklearn.metrics computes
 *	  them: the SQL aggregates (mlops.rmse, mlops.roc_auc, mlops.log_loss, ...)
 *	  and train()'s held-out metrics share their definitions.
 */
#ifndef MLOPS_METRICS_H
#define MLOPS_METRICS_H

/* Log loss of n x k probability rows against class indices, clipped and
 * renormalised as sklearn.metrics.log_loss does (its default eps). */
extern double metrics_log_loss(const double *proba, const int *label, int64 n, int k);

/*
 * The same metrics over a stream of rows, in memory that does not grow with
 * them (ROC AUC sorts through tuplesorts that spill past work_mem): what
 * train() evaluates held-out rows with.  k is 0 for a regression (out[0] the
 * prediction, actual the value), else the number of classes (out the k
 * probabilities, actual the class index).  The results are the aggregates'
 * on the same rows (the same sums, counts and AUC walk); a metric that does
 * not apply is NaN.
 */
typedef struct MetricsStream MetricsStream;
typedef struct MetricsResult
{
	double		rmse,
				mae,
				r2;
	double		accuracy,
				precision,
				recall,
				f1,
				log_loss,
				roc_auc;
} MetricsResult;

extern MetricsStream *metrics_stream_begin(int k);
extern void metrics_stream_add(MetricsStream *ms, const double *out, double actual);
extern void metrics_stream_finish(MetricsStream *ms, MetricsResult *res);

#endif							/* MLOPS_METRICS_H */
