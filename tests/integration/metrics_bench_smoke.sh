#!/usr/bin/env bash
# The metrics benchmark (tests/bench/metrics_bench.sh) at 100k rows, one run of each query, in
# its own throwaway cluster.  Timings at this size mean little and none is asserted; what this
# checks is that the benchmark still runs and that roc_auc equals the rank-sum formula computed
# in SQL (the script fails otherwise).  The full run and its figures: the README, "Benchmarks".
set -euo pipefail
ROWS=100000 RUNS=1 exec bash "$(dirname "$0")/../bench/metrics_bench.sh"
