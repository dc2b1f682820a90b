#!/usr/bin/env bash
# The feature views benchmark (tests/bench/features_bench.sh) in its smoke
# mode: 20k entity rows against a 200k-row and a 20k-row feature view, one
# run, in its own throwaway cluster.  Timings at this size mean little; what
# this checks is that the benchmark still runs and that build_training_set
# (engines merge and lateral, and merge again with work_mem 4MB), the
# hand-written LATERAL join and Feast's window-function join give the same
# rows (the same md5 over the sorted rows, the same column names and types),
# and, when the build has the online functions, that the online table,
# feature_vector and predict agree with the source (the script fails
# otherwise).  No timing is asserted.  The full run: the script's head comment.
set -euo pipefail
exec bash "$(dirname "$0")/../bench/features_bench.sh" --smoke
