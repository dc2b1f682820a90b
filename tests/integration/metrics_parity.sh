#!/usr/bin/env bash
# Parity of the metric aggregates with sklearn.metrics 1.2.1 (Debian's python3-sklearn, the
# oracle), through SQL, on the same data sent to PostgreSQL and to sklearn (fixed seeds; rows
# with a NULL are appended for SQL only, which must skip them).  metrics_parity.py does the
# work over psycopg2; its docstring has the tolerance (1e-9 relative).  Checked, per case and
# serially and in a forced parallel plan (Partial Aggregate under Gather), by GROUP BY:
#  rmse, mae, r2_score (mean_squared_error(squared=False), mean_absolute_error, r2_score),
#  accuracy of booleans and of 3 text classes, precision/recall/f1_score of booleans and of
#  text with a positive class (zero_division=0), roc_auc with int and boolean labels
#  (roc_auc_score; NULL for one class), log_loss of the positive class's probability (int and
#  boolean labels; labels=[0, 1]) and of rows of 3 class probabilities (metrics_log_loss()).
#  Shapes: n of 1, 2, 7, 50, 300, 1000 up to 100,000; ties (scores on a 0.1 grid, a grid of
#  integer regression values), 1% positives, one class only, nothing predicted positive,
#  probabilities of exactly 0 and 1 (clipped to eps), a constant actual (R2 1 or 0), values
#  near 1e6 with a spread of 1e-3 (R2's SST); and 1,000,000 rows in one aggregate, serial and
#  parallel.  Takes about a minute on 2 cores.
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3     # Debian's, with python3-sklearn and python3-psycopg2; not whatever python3 is on PATH

start=$(date +%s)
"$py" "$here/metrics_parity.py" || fail "metric aggregates differ from sklearn.metrics (see above)"
q -c "SELECT 1" >/dev/null || fail "the server does not accept connections after the test"
echo "metrics parity ok in $(($(date +%s) - start)) s"
