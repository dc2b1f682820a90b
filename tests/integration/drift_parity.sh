#!/usr/bin/env bash
# Parity of the drift statistics with scipy 1.10 / numpy 1.24 (Debian's python3-scipy, the
# oracle), through SQL, on the same data sent to PostgreSQL and to scipy (fixed seeds; NULLs and
# NaNs removed for scipy, as SQL leaves them out: nan_policy='omit').  drift_parity.py does the
# work over psycopg2; its docstring has the tolerances (statistics 1e-12, absolute below 1 and
# relative above; asymptotic p-values 1e-9 relative, exact KS p-values 1e-7 relative, floor
# 1e-300).  Checked:
#  1. arrays: ks_2samp (auto, exact, asymp: statistic, p-value, the method scipy used, auto
#     switching at 10,000), wasserstein_distance, psi and js_distance (numpy.quantile bin edges,
#     numpy.digitize, Evidently's 1e-4 for empty bins; jensenshannon, natural log) over 2 to 1000
#     bins, chisquare; sizes 1 to 200,000 a side, unequal sizes, ties, grids of repeated values,
#     constant sides, disjoint supports, -0.0, NULL and NaN elements, p-values down to 0.
#  2. aggregates against baselines captured from tables (capture_baseline): psi_agg,
#     js_distance_agg, ks_2samp_agg, wasserstein_agg, drift_stats_agg (float8), psi_agg,
#     js_distance_agg, chisquare_agg, drift_stats_agg (text: reference categories plus new ones,
#     expected = reference proportion * n_current; an unseen category gives Infinity and p 0);
#     every key of drift_stats_agg; the baselines' stored edges and counts; GROUP BY day and
#     ROLLUP against one baseline, a group without values (NULL), no rows at all (NULL).
#  3. drift_report rows: n_reference, n_current, every key of stats, and method, threshold,
#     statistic, p-value and drifted by drift.sql's defaults (ks / chisquare up to 1,000
#     reference values, wasserstein_norm / js above; 0.05 on p-values, 0.1 on distances).
#  4. parallel (forced, 300,000 rows, Partial Aggregate under Gather, workers launched) and
#     serial plans give the same value of every aggregate and every drift_stats_agg key (1e-12),
#     whole table and GROUP BY, and the parallel values match the oracle.
#  5. bad input gives its SQLSTATE (22023 empty / all-NULL / infinite / bins / method /
#     chisquare mismatch, 42704 unknown baseline, 42703 unknown column, 42804 a column of the
#     other kind), the session survives, and the server accepts a new connection.
# Takes about a minute on 2 cores.
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3     # Debian's, with python3-scipy and python3-psycopg2; not whatever python3 is on PATH

start=$(date +%s)
"$py" "$here/drift_parity.py" || fail "drift statistics differ from scipy/numpy (see above)"
q -c "SELECT 1" >/dev/null || fail "the server does not accept connections after the test"
echo "drift parity ok in $(($(date +%s) - start)) s"
