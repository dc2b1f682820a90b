#!/usr/bin/env bash
# mlops.train against scikit-learn (Debian's python3-sklearn 1.2, the oracle): OLS, ridge (alpha
# 0.1, 10, and unstandardized), binary logistic (C 0.01, 1, 100, no penalty; text and boolean
# targets) and multinomial logistic (C 0.01, 1, 100 on integer labels; 5 text classes) on 1,600
# rows with NULLs in numeric, boolean and text columns, features of very different scales and a
# category seen only in the held-out rows, trained with a split column so that the oracle fits the
# same Pipeline(ColumnTransformer(imputer + scaler | imputer + one-hot), estimator) on the same
# rows.  Coefficients within 1e-6 relative, held-out predictions within 1e-6, logged metrics
# within 1e-9 of sklearn.metrics on the registered model's predictions; the hash split's row
# counts.  Details and tolerances: train_parity.py's docstring.
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3     # Debian's, with python3-sklearn and python3-psycopg2; not whatever python3 is on PATH

PYTHONDONTWRITEBYTECODE=1 "$py" "$here/train_parity.py" || fail "mlops.train differs from scikit-learn (see above)"
