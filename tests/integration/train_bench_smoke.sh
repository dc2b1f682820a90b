#!/usr/bin/env bash
# The training benchmark (tests/bench/train_bench.sh) in its smoke mode: 50k
# rows, one run, in its own throwaway cluster.  Timings at this size mean
# little and are not checked (the machines are noisy); what this checks is
# that the benchmark still runs end to end, mlops.train and the Python job
# included, and prints its ratio lines.  The full run and its figures:
# README, "Benchmarks", "Training".
set -euo pipefail
out=$(SMOKE=1 bash "$(dirname "$0")/../bench/train_bench.sh")
echo "$out"
for k in ols ridge logistic xgboost "groups ols" "groups logistic"; do
    grep -q "^ratio $k: " <<<"$out" || { echo "train_bench_smoke: no ratio line for $k" >&2; exit 1; }
done
