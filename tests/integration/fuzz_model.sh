#!/usr/bin/env bash
# slow
# Fuzz the model compiler and loader (tests/fuzz/fuzz_model.c) with libFuzzer,
# AddressSanitizer and UBSan for a bounded time (FUZZ_SECONDS, default 45),
# starting from the corpus in tests/fuzz/corpus: valid JSON artifacts and
# compiled models of every family, and XGBoost models of every objective.
# Any crash, out-of-bounds access, undefined behaviour, hang (> 10 s on one
# input) or memory blow-up fails.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-45}
work=$(mktemp -d /tmp/mlops-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

PATH="/usr/lib/postgresql/${PG_MAJOR:-15}/bin:$PATH" "$here/fuzz/build.sh" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log"; echo "FAIL: fuzz target does not build"; exit 1; }
mkdir -p "$work/corpus" && cp "$here/fuzz/corpus/"* "$work/corpus/"

set +e
(cd "$work" && "$here/fuzz/build/fuzz_model" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 corpus >"$work/fuzz.log" 2>&1)
status=$?
set -e
grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|#[0-9]+ +DONE" "$work/fuzz.log" || true
if [ $status -ne 0 ]; then
    tail -60 "$work/fuzz.log"
    ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null || true
    echo "FAIL: the fuzzer found an input that crashes, hangs or blows up (exit $status)"
    exit 1
fi
echo "fuzz ok: no crash in ${seconds}s"
