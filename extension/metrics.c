/*
 * metrics.c
 *	  Model-quality metrics, as sklearn.metrics computes them.
 */
#include "postgres.h"

#include "metrics.h"

/* TEMPORARY (replaced by the metrics branch): naive versions for development */
#include <math.h>
void
metrics_regression(const double *pred, const double *actual, int64 n, double *rmse, double *mae, double *r2)
{
	double		se = 0, ae = 0, mean = 0, tss = 0;

	for (int64 i = 0; i < n; i++)
		mean += actual[i];
	mean /= n;
	for (int64 i = 0; i < n; i++)
	{
		se += (pred[i] - actual[i]) * (pred[i] - actual[i]);
		ae += fabs(pred[i] - actual[i]);
		tss += (actual[i] - mean) * (actual[i] - mean);
	}
	*rmse = sqrt(se / n);
	*mae = ae / n;
	*r2 = tss == 0 ? (se == 0 ? 1 : 0) : 1 - se / tss;
}
void
metrics_classification(const int *pred, const int *actual, int64 n, int k, double *accuracy, double *precision,
					   double *recall, double *f1)
{
	double		ok = 0, sp = 0, sr = 0, sf = 0;

	for (int64 i = 0; i < n; i++)
		ok += pred[i] == actual[i];
	*accuracy = ok / n;
	for (int c = (k == 2 ? 1 : 0); c < k; c++)
	{
		double		tp = 0, fp = 0, fn = 0, p, r;

		for (int64 i = 0; i < n; i++)
		{
			tp += pred[i] == c && actual[i] == c;
			fp += pred[i] == c && actual[i] != c;
			fn += pred[i] != c && actual[i] == c;
		}
		p = tp + fp > 0 ? tp / (tp + fp) : 0;
		r = tp + fn > 0 ? tp / (tp + fn) : 0;
		sp += p;
		sr += r;
		sf += p + r > 0 ? 2 * p * r / (p + r) : 0;
	}
	if (k > 2)
	{
		sp /= k;
		sr /= k;
		sf /= k;
	}
	*precision = sp;
	*recall = sr;
	*f1 = sf;
}
double
metrics_roc_auc_binary(const double *score, const int *label, int64 n)
{
	double		npos = 0, nneg = 0, s = 0;

	for (int64 i = 0; i < n; i++)
		for (int64 j = 0; j < n; j++)
			if (label[i] == 1 && label[j] == 0)
				s += score[i] > score[j] ? 1 : score[i] == score[j] ? 0.5 : 0;
	for (int64 i = 0; i < n; i++)
		label[i] == 1 ? npos++ : nneg++;
	return npos == 0 || nneg == 0 ? NAN : s / (npos * nneg);
}
double
metrics_roc_auc_ovr(const double *proba, const int *label, int64 n, int k)
{
	return NAN;
}
double
metrics_log_loss(const double *proba, const int *label, int64 n, int k)
{
	double		s = 0;

	for (int64 i = 0; i < n; i++)
		s -= log(Max(proba[i * k + label[i]], 1e-15));
	return s / n;
}
