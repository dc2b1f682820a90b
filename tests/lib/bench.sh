# tests/lib/bench.sh: the timing loop and table of the small SQL benchmarks
# (tests/bench/model_refs_bench.sh, tests/bench/categories_bench.sh).
# Source after tests/lib/common.sh, with a cluster started.  The caller
# declares the associative arrays Q (key -> SQL) and, optionally, SCALE
# (key -> factor for a query run on a sample); bench_rounds fills T (key ->
# the runs, in seconds).

# bench_rounds RUNS WARMUP KEY...: each query RUNS times, round-robin, each
# run in a fresh session with serial plans that runs WARMUP (untimed) first.
bench_rounds() {
    local runs=$1 warmup=$2; shift 2
    local r k ms
    declare -p SCALE >/dev/null 2>&1 || declare -gA SCALE=()
    for r in $(seq 1 "$runs"); do
        for k in "$@"; do
            ms=$(psql -X -q -At -v ON_ERROR_STOP=1 <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
SET max_parallel_workers_per_gather = 0;
$warmup
\timing on
${Q[$k]};
SQL
)
            T[$k]="${T[$k]:-} $(awk -v m="$ms" -v s="${SCALE[$k]:-1}" 'BEGIN {printf "%.4f", m * s / 1000}')"
        done
        log "round $r:$(for k in "$@"; do printf ' %s %s' "$k" "$(echo "${T[$k]}" | awk '{print $NF}')"; done)"
    done
}

bench_median() {
    tr ' ' '\n' | grep -v '^$' | sort -g \
        | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# bench_table WIDTH BASE KEY...: medians, runs, and each median over BASE's.
bench_table() {
    local width=$1 base=$2; shift 2
    local b m k
    b=$(echo "${T[$base]}" | bench_median)
    printf "%-${width}s %9s  %-36s %s\n" "query" "median s" "runs (s)" "vs $base)"
    for k in "$@"; do
        m=$(echo "${T[$k]}" | bench_median)
        printf "%-${width}s %9.3f  %-36s %6.2fx\n" "$k) ${Q[$k]:0:$((width - 4))}" "$m" "${T[$k]# }" \
            "$(awk -v m="$m" -v b="$b" 'BEGIN {print m / b}')"
    done
}
