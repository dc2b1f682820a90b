#!/usr/bin/env bash
# The A/B assignment benchmark (tests/bench/ab_bench.sh) in its smoke mode: 100k text ids,
# one serial run of each query, in its own throwaway cluster.  Timings at this size mean
# little and none is asserted; what this checks is that the benchmark still runs and that
# mlops.ab_hash + ab_choose_variation, hashtext() and md5() bucketing each split the ids
# plausibly 50/50 (each variant within 4 binomial standard errors of half; the script fails
# otherwise).  The full run and its figures: the script's head comment.
set -euo pipefail
exec bash "$(dirname "$0")/../bench/ab_bench.sh" --smoke
