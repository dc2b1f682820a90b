# tests/lib/bench.sh: what the benchmarks in tests/bench share: their set-up,
# the 1M-row table t, and the timing loop and table of the small SQL ones.
# Source after tests/lib/common.sh.

# Debian's python3 with python3-sklearn, python3-xgboost and python3-psycopg2,
# whatever python3 comes first on PATH (a pyenv one has none of them).
PY=/usr/bin/python3

# bench_setup NAME [MODULES [SETTING...]]: the dependencies, a fresh build
# and install, a throwaway cluster (with the postgresql.conf SETTINGs), a
# database NAME with mlops in it (exported as PGDATABASE), a work folder WORK
# removed at exit, and START for the total time.  MODULES (comma-separated),
# when not empty, must import in $PY.
bench_setup() {
    local name=$1 modules=${2:-}
    shift $(( $# < 2 ? $# : 2 ))
    mlops_install_deps
    mlops_build_install
    if [ -n "$modules" ]; then
        "$PY" -c "import $modules" || { echo "$PY lacks one of $modules" >&2; exit 1; }
    fi
    cluster_start "$@"
    psql_q -d postgres -c "CREATE DATABASE $name"
    export PGDATABASE=$name
    psql_q -c "CREATE EXTENSION mlops"
    WORK=$(mktemp -d "/tmp/$name.XXXXXX")
    chmod 755 "$WORK"
    # cluster_start's EXIT trap stops the cluster; extend it to clean up too.
    trap 'cluster_stop; rm -rf "$WORK"' EXIT
    START=$SECONDS
}

# bench_create_t ROWS [COLUMNS]: the table t of the scoring benchmarks: id,
# x float8[20] of random() * 4 - 2 after setseed(0.4242), COLUMNS (more
# select-list items over x, each followed by a comma), and a label y drawn
# from a logistic model with some non-linear terms (for a GBM to find).  One
# process draws every random() in order, so every run has the same data.
bench_create_t() {
    local rows=$1 columns=${2:-} zterms
    zterms=$(for j in $(seq 1 20); do printf ' + %d * x[%d] / 5.0' "$(( (j * 7) % 11 - 5 ))" "$j"; done)
    psql_q >/dev/null <<SQL
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.4242);
CREATE TABLE t AS
SELECT id, x, $columns
       (random() < 1 / (1 + exp(-(0.3 $zterms + 0.8 * x[1] * x[2] - 0.6 * x[3] * x[3]
                                   + CASE WHEN x[4] > 0.5 THEN 1.0 ELSE -0.5 END))))::int AS y
  FROM (SELECT i AS id,
               ARRAY(SELECT random() * 4 - 2 FROM generate_series(1, 20) WHERE i > 0) AS x
          FROM generate_series(1, $rows) AS i) s;
SQL
}

# The small SQL benchmarks (model_refs_bench.sh, categories_bench.sh), with a
# cluster started: the caller declares the associative arrays Q (key -> SQL)
# and, optionally, SCALE (key -> factor for a query run on a sample);
# bench_rounds fills T (key -> the runs, in seconds).

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
