#!/usr/bin/env bash
# The whole test suite, on a throwaway cluster: installs what is missing,
# builds warning-free, runs pg_regress (sql/ + expected/) and every
# integration test in tests/integration/, then prints "N passed, N failed"
# and exits non-zero on any failure.
#
#   tests/run_all.sh                 everything
#   tests/run_all.sh --quick         skip tests marked slow (the 30 s soak tests)
#   tests/run_all.sh NAME...         only the integration tests whose file name contains NAME
source "$(dirname "$0")/lib/common.sh"

quick=""
filters=()
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) filters+=("$arg") ;;
    esac
done

mlops_install_deps
mlops_build_install
cluster_start

passed=0
failed=0
failures=()
results_dir=$(mktemp -d /tmp/mlops-results.XXXXXX)

record() {   # name status
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1)); printf 'ok     %s\n' "$1"
    else
        failed=$((failed + 1)); failures+=("$1"); printf 'FAILED %s\n' "$1"
    fi
}

if [ ${#filters[@]} -eq 0 ]; then
    log "pg_regress"
    # pg_regress writes results/ and regression.diffs next to the Makefile
    set +e
    make -C "$MLOPS_ROOT" -s installcheck PG_CONFIG="$PGBIN/pg_config" >"$results_dir/regress.log" 2>&1
    status=$?
    set -e
    grep -E '^(ok|not ok|test|     [a-z_]+ +\.\.\.)|^ *[a-z_]+ +\.\.\. ' "$results_dir/regress.log" || true
    if [ $status -ne 0 ]; then
        cat "$results_dir/regress.log"
        [ -f "$MLOPS_ROOT/regression.diffs" ] && head -200 "$MLOPS_ROOT/regression.diffs"
    fi
    record "pg_regress" $status
fi

for t in "$MLOPS_ROOT"/tests/integration/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    if [ ${#filters[@]} -gt 0 ]; then
        match=""
        for f in "${filters[@]}"; do [[ "$name" == *"$f"* ]] && match=1; done
        [ -n "$match" ] || continue
    fi
    if [ -n "$quick" ] && grep -q '^# slow' "$t"; then
        printf 'skip   %s (slow)\n' "$name"; continue
    fi
    log "integration: $name"
    set +e
    bash "$t" >"$results_dir/$name.log" 2>&1
    status=$?
    set -e
    sed 's/^/    /' "$results_dir/$name.log" | tail -40
    record "$name" $status
done

rm -rf "$results_dir"
echo
[ $failed -eq 0 ] || printf 'failed: %s\n' "${failures[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
