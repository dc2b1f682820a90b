#!/usr/bin/env bash
# The numerical core of drift statistics (extension/drift_stats.c) against scipy 1.10.1 /
# numpy 1.24.2, Debian's /usr/bin/python3: tests/drift_stats/harness.c is built with the
# file alone (no PostgreSQL), and tests/drift_stats/check.py feeds it ~3000 generated cases
# (two-sample KS statistic and exact / asymptotic p-values, kstwo.sf over every branch of
# scipy's dispatch, chi2.sf and chisquare, Wasserstein-1, quantile bin edges and digitize,
# PSI, Jensen-Shannon, the radix sort) and compares within the tolerances listed in
# check.py.  drift_stats.c must compile without a warning.  No cluster needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3     # Debian's, with python3-scipy; not whatever python3 is on PATH
work=$(mktemp -d /tmp/mlops-drift-stats.XXXXXX)
trap 'rm -rf "$work"' EXIT

cc -O2 -Wall -Wextra -Werror -std=gnu99 -c "$root/extension/drift_stats.c" -o "$work/drift_stats.o" \
    || { echo "FAIL: extension/drift_stats.c does not compile warning-free"; exit 1; }
cc -O2 -Wall -Wextra -std=gnu99 -I "$root/extension" "$root/tests/drift_stats/harness.c" \
    "$work/drift_stats.o" -lm -o "$work/harness" \
    || { echo "FAIL: the harness does not build"; exit 1; }

"$py" "$root/tests/drift_stats/check.py" "$work/harness" \
    || { echo "FAIL: drift_stats.c differs from scipy / numpy"; exit 1; }
echo "drift_stats core ok"
