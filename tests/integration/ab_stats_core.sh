#!/usr/bin/env bash
# The numerical core of A/B test statistics (extension/ab_stats.c) against scipy 1.10.1 /
# numpy 1.24.2 (Debian's /usr/bin/python3), R's published outputs and GrowthBook's gbstats
# formulas: tests/ab_stats/harness.c is built with the file alone (no PostgreSQL), and
# tests/ab_stats/check.py feeds it ~13000 generated cases (normal cdf/sf/ppf also against a
# 50-digit decimal reference, betainc also against a decimal continued fraction, t cdf/sf/ppf
# over df from 0.05 to 1e15, the noncentral t against Boost and a quadrature, the
# two-proportion z-test and Welch's test field by field, the delta method, the sequential
# rho / half-width / always-valid p-value, power.prop.test / power.t.test, the bandit's
# best-arm probabilities against quad and Monte Carlo) and compares within the tolerances
# listed in check.py.  ab_stats.c must compile without a warning.  No cluster needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3     # Debian's, with python3-scipy; not whatever python3 is on PATH
work=$(mktemp -d /tmp/mlops-ab-stats.XXXXXX)
trap 'rm -rf "$work"' EXIT

cc -O2 -Wall -Wextra -Werror -std=gnu99 -c "$root/extension/ab_stats.c" -o "$work/ab_stats.o" \
    || { echo "FAIL: extension/ab_stats.c does not compile warning-free"; exit 1; }
cc -O2 -Wall -Wextra -std=gnu99 -I "$root/extension" "$root/tests/ab_stats/harness.c" \
    "$work/ab_stats.o" -lm -o "$work/harness" \
    || { echo "FAIL: the harness does not build"; exit 1; }

"$py" "$root/tests/ab_stats/check.py" "$work/harness" \
    || { echo "FAIL: ab_stats.c differs from scipy / R / gbstats"; exit 1; }
echo "ab_stats core ok"
