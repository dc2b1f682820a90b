#!/usr/bin/env bash
# tests/bench/drift_bench.sh: the drift aggregates and drift_report (issue
# 10) against bare scans of the same columns, the same statistics in pure
# SQL, and an external Python job, on a reference and a current table of
# ROWS rows x 20 float8 features, in one throwaway cluster.  A benchmark, not
# a test: it prints times, ratios and targets (PASS / MISS), and fails only
# on wrong results (mlops, SQL and scipy disagreeing).  Run by hand:
#
#   bash tests/bench/drift_bench.sh              # 1M rows, 3 runs (a few minutes)
#   bash tests/bench/drift_bench.sh --rows 200000
#   bash tests/bench/drift_bench.sh --smoke      # or DRIFT_BENCH_SMOKE=1: 50k rows, 1 run, < 30 s
#
# Data: ref and cur (id, c1..c20 float8, no NULLs), random() after setseed().
# Feature j is normal (j % 4 = 1), uniform on [-2, 2] (2), exponential (3) or
# log-normal (0); in cur, c1..c8 are shifted or scaled (c1: normal + 0.1),
# c9..c20 are drawn from the reference's distributions.  The baseline 'base'
# is mlops.capture_baseline('base', 'ref', ARRAY['c1', ..., 'c20']) with the
# default options (10 bins, every value kept: mlops.drift_baseline_values =
# 1M), timed once.
#
#   a)  psi:    SELECT mlops.psi_agg(c1, 'base', 'c1') FROM cur
#       vs scan1: SELECT count(c1) FROM cur                        target <= 1.5x
#   b)  ks:     SELECT mlops.ks_2samp_agg(c1, 'base', 'c1') FROM cur
#       vs scan2: SELECT count(v) FROM (c1 of ref UNION ALL c1 of cur)   <= 3x
#   c)  report: SELECT * FROM mlops.drift_report('base', 'cur') (20 features)
#       vs scan20: SELECT count(c1), ..., count(c20) FROM cur             <= 3x
#   d)  the same work done otherwise; every mlops figure >= 3x faster than each:
#       sql_psi: width_bucket over the baseline's stored edges, counts per
#                bin against its stored bin_counts (the stored baseline, as
#                psi_agg uses it: no pass over ref);
#       sql_psi_full: the PSI an analyst writes without mlops: decile edges of
#                ref.c1 with percentile_cont, width_bucket counts on both
#                tables (one pass over each);
#       sql_ks:  the KS statistic (no p-value) with window functions over
#                ref.c1 UNION ALL cur.c1 (sum() OVER (ORDER BY v), peers
#                included), in a session with work_mem = SQL_WORK_MEM (256MB,
#                an in-memory sort: the stronger baseline);
#       py_psi, py_ks: an external job, end to end from connect: binary COPY
#                of ref.c1 and cur.c1 out through psycopg2, parsed with numpy
#                (the fastest way out of PostgreSQL); np.quantile edges +
#                np.histogram PSI; scipy.stats.ks_2samp;
#       py_report: the same for 20 features (two 20-column COPYs; per feature
#                ks_2samp, wasserstein_distance and PSI), against report.
#   Components (where the time goes): psi / ks / drift_stats_agg of c1 on a
#   1-row copy of cur (cur1): the fixed cost of a call (baseline look-ups, the
#   final function's load of the baseline's 1M sorted values from TOAST, the
#   KS itself); js_distance_agg and wasserstein_agg over cur; drift_stats_agg
#   of c1 alone; the query drift_report executes (one drift_stats_agg per
#   column, in one SELECT) run by hand.
#
# Every SQL figure is measured with parallel plans allowed (the cluster's
# max_parallel_workers_per_gather = 2: "par") and off ("ser", 0), each in
# its own session kept for the whole run (warm caches), after one untimed
# warm-up per query; RUNS rounds, round-robin; the table shows the median
# and the best, and ratios of medians, each against the baseline of the same
# setting.  JIT is left at the server default (shown).  EXPLAIN of the
# queries, with parallel plans allowed, shows which go parallel.
#
# The slow ones (sql_ks, report_q, py_report: seconds each) are measured
# RUNS_SLOW (1) times, without a warm-up.
#
# Knobs (environment): RUNS (3), RUNS_SLOW (1), SQL_WORK_MEM (256MB), PERF (0; 1 = perf
# profile of a serial ks, psi and drift_report, printed before the table),
# ONLY (comma-separated keys for a partial run), DRIFT_BENCH_SMOKE (0).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROWS=1000000
RUNS=${RUNS:-3}
SMOKE=${DRIFT_BENCH_SMOKE:-0}
PERF=${PERF:-0}
while [ $# -gt 0 ]; do
    case $1 in
        --rows) ROWS=$2; shift 2 ;;
        --rows=*) ROWS=${1#--rows=}; shift ;;
        --runs) RUNS=$2; shift 2 ;;
        --smoke) SMOKE=1; shift ;;
        *) echo "usage: $0 [--rows N] [--runs N] [--smoke]" >&2; exit 2 ;;
    esac
done
if [ "$SMOKE" = 1 ]; then
    ROWS=50000 RUNS=1
fi
export ROWS RUNS SMOKE RUNS_SLOW=${RUNS_SLOW:-1} SQL_WORK_MEM=${SQL_WORK_MEM:-256MB} ONLY=${ONLY:-}

bench_setup mlops_drift_bench "numpy, scipy, scipy.stats, psycopg2" "shared_buffers = 1GB"

# ---------------------------------------------------------------------------
# feature_expr J SHIFTED: the SQL of feature j's draw (see the head comment)
normal='sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())'
feature_expr() {
    local j=$1 shifted=$2 a=0 s=1
    if [ "$shifted" = 1 ] && [ "$j" -le 8 ]; then
        case $j in 1) a=0.1 ;; 2) a=0.2 ;; 3) s=1.2 ;; 4) a=0.1 ;; 5) s=1.1 ;; 6) a=0.05 ;; 7) s=1.05 ;; 8) a=0.02 ;; esac
    fi
    case $((j % 4)) in
        1) echo "($normal) * $s + $a" ;;
        2) echo "(random() * 4 - 2) * $s + $a" ;;
        3) echo "-ln(1 - random()) * $s + $a" ;;
        0) echo "exp(0.5 * ($normal) * $s + $a)" ;;
    esac
}
create_table() {
    local name=$1 seed=$2 shifted=$3 cols
    cols=$(for j in $(seq 1 20); do printf ', %s AS c%d' "$(feature_expr "$j" "$shifted")" "$j"; done)
    psql_q >/dev/null <<SQL
SET max_parallel_workers_per_gather = 0;
SELECT setseed($seed);
CREATE TABLE $name AS SELECT i AS id $cols FROM generate_series(1, $ROWS) AS i;
ALTER TABLE $name SET (autovacuum_enabled = off);
VACUUM (FREEZE, ANALYZE) $name;
SQL
}
log "generating ref and cur: $ROWS rows x 20 float8 features each"
create_table ref 0.42 0
create_table cur 0.43 1
psql_q >/dev/null <<'SQL'
CREATE TABLE cur1 AS SELECT * FROM cur ORDER BY id LIMIT 1;
VACUUM (FREEZE, ANALYZE) cur1;
SQL

features="ARRAY[$(for j in $(seq 1 20); do printf "%s'c%d'" "$([ "$j" = 1 ] || echo ,)" "$j"; done)]"
log "capturing the baseline: mlops.capture_baseline('base', 'ref', $features)"
capture_s=$(psql_q -At <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.3f", $1 / 1000}'
\\timing on
SELECT mlops.capture_baseline('base', 'ref', $features) \\g /dev/null
SQL
)
baseline_size=$(psql_q -At -c "SELECT pg_size_pretty(pg_total_relation_size('mlops.drift_baseline_columns'))")
echo "$capture_s" >"$WORK/capture_s"
log "captured in $capture_s s (drift_baseline_columns with its TOAST: $baseline_size)"

# ---------------------------------------------------------------------------
# Plans, with parallel plans allowed (the server's settings)
report_query="SELECT ARRAY[$(for j in $(seq 1 20); do printf "%smlops.drift_stats_agg((s.c%d)::float8, 'base', 'c%d')" "$([ "$j" = 1 ] || echo ', ')" "$j" "$j"; done)] FROM cur s"
{
    echo "Plans with parallel plans allowed (max_parallel_workers_per_gather = $(psql_q -At -c 'SHOW max_parallel_workers_per_gather')):"
    for q in "SELECT count(c1) FROM cur" \
             "SELECT mlops.psi_agg(c1, 'base', 'c1') FROM cur" \
             "SELECT mlops.ks_2samp_agg(c1, 'base', 'c1') FROM cur" \
             "SELECT count(v) FROM (SELECT c1 AS v FROM ref UNION ALL SELECT c1 FROM cur) u" \
             "$report_query"; do
        echo "  ${q:0:110}$([ ${#q} -le 110 ] || echo ...)"
        psql_q -At -c "EXPLAIN (COSTS OFF) $q" | sed 's/^/      /'
    done
    # the query drift_report itself executes (EXECUTE in _drift_rows), as auto_explain sees it
    psql_q -At >/dev/null <<'SQL'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = off;
SET client_min_messages = warning;
SELECT count(*) FROM mlops.drift_report('base', 'cur');
SQL
    echo "  the SELECT drift_report executes (auto_explain, nested):"
    awk '/Query Text: SELECT ARRAY\[mlops.drift_stats_agg/ {p = 1; next} p && /Query Text:/ {exit} p' "$CLUSTER_DIR/server.log" \
        | sed -n 's/^\s*\(Aggregate\|Finalize\|Gather\|Partial\|Workers\|->\|Parallel\|Seq Scan\)/\1/p' \
        | grep -E 'Aggregate|Gather|Workers|Scan' | sed 's/^/      /'
} >"$WORK/plans.txt"
sed 's/^/   /' "$WORK/plans.txt" >&2

# ---------------------------------------------------------------------------
log "timed runs: $RUNS rounds, parallel on and off"
"$PY" "$BENCH_DIR/drift_bench.py" time "$WORK"

# ---------------------------------------------------------------------------
if [ "$PERF" = 1 ]; then
    if command -v perf >/dev/null; then
        for q in "SELECT mlops.psi_agg(c1, 'base', 'c1') FROM cur" \
                 "SELECT mlops.ks_2samp_agg(c1, 'base', 'c1') FROM cur" \
                 "SELECT count(*) FROM mlops.drift_report('base', 'cur')"; do
            log "perf: $q (serial, twice)"
            rm -f "$WORK/perf_pid"
            psql_q -At >/dev/null <<SQL &
SET max_parallel_workers_per_gather = 0;
SELECT pg_backend_pid() \g $WORK/perf_pid
$q;
SELECT pg_sleep(1);
$q;
$q;
SQL
            perf_psql=$!
            for _ in $(seq 1 100); do [ -s "$WORK/perf_pid" ] && break; sleep 0.1; done
            sleep 0.5
            perf record -q -g -o "$WORK/perf.data" -p "$(tr -d '[:space:]' <"$WORK/perf_pid")" 2>/dev/null &
            perf_rec=$!
            wait "$perf_psql"
            kill -INT "$perf_rec" 2>/dev/null || true
            wait "$perf_rec" 2>/dev/null || true
            echo "perf profile (self time, >= 1%) of two serial runs of $q:"
            perf report -q -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1 -g none 2>/dev/null \
                | awk 'NF >= 4 && $1 ~ /%$/ {printf "   %7s  %-20s %s\n", $1, $2, $4}' | head -25
        done
    else
        log "perf is not installed: no profile"
    fi
fi

# ---------------------------------------------------------------------------
echo
echo "mlops drift benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "jit=$(psql_q -At -c 'SHOW jit'), shared_buffers=$(psql_q -At -c 'SHOW shared_buffers')," \
     "load average at end $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - START)) s in all"
echo "ref, cur: $ROWS rows x 20 float8 each ($(psql_q -At -c "SELECT pg_size_pretty(pg_table_size('cur'))") each);" \
     "capture_baseline('base', 'ref', c1..c20): $capture_s s (baseline stored: $baseline_size)"
cat "$WORK/plans.txt"
echo
"$PY" "$BENCH_DIR/drift_bench.py" report "$WORK"
