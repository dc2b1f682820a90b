#!/usr/bin/env bash
# The drift benchmark (tests/bench/drift_bench.sh) in its smoke mode: 50k
# rows, one run, in its own throwaway cluster.  Timings at this size mean
# little; what this checks is that the benchmark still runs and that mlops,
# pure SQL and scipy agree on every statistic it times (the script fails
# otherwise).  The full run and its figures: README, "Benchmarks".
set -euo pipefail
exec bash "$(dirname "$0")/../bench/drift_bench.sh" --smoke
