/*
 * metrics.h
 *	  Model-quality metrics (metrics.c), computed as sklearn.metrics computes
 *	  them: used by train() on the held-out rows and by the SQL aggregates
 *	  (mlops.rmse, mlops.roc_auc, mlops.log_loss, ...).
 */
#ifndef MLOPS_METRICS_H
#define MLOPS_METRICS_H

/* RMSE, MAE and R2 (R2 of a constant actual is 1.0 when predicted exactly,
 * else 0.0, as sklearn's r2_score with force_finite=True). */
extern void metrics_regression(const double *pred, const double *actual, int64 n,
							   double *rmse, double *mae, double *r2);

/*
 * Classification from predicted and actual class indices 0..k-1.  With k == 2
 * precision, recall and F1 are of class 1 (sklearn's average='binary'); with
 * k > 2 their unweighted mean over the classes (average='macro').  A 0/0
 * counts as 0 (zero_division=0).
 */
extern void metrics_classification(const int *pred, const int *actual, int64 n, int k,
								   double *accuracy, double *precision, double *recall, double *f1);

/* ROC AUC of scores for the positive class (label 1), ties given half credit
 * (the Mann-Whitney statistic); NaN when only one class is present. */
extern double metrics_roc_auc_binary(const double *score, const int *label, int64 n);

/* Multiclass ROC AUC one-vs-rest, macro-averaged (sklearn's
 * multi_class='ovr', average='macro'); proba is n x k, row-major. */
extern double metrics_roc_auc_ovr(const double *proba, const int *label, int64 n, int k);

/* Log loss of n x k probability rows against class indices, clipped and
 * renormalised as sklearn.metrics.log_loss does (its default eps). */
extern double metrics_log_loss(const double *proba, const int *label, int64 n, int k);

#endif							/* MLOPS_METRICS_H */
