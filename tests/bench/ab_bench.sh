#!/usr/bin/env bash
# tests/bench/ab_bench.sh: A/B assignment in SQL.  GrowthBook-compatible assignment
# (mlops.ab_hash + mlops.ab_choose_variation, extension/ab.c) against the two ways people
# bucket units in pure SQL, hashtext() and md5(), on ROWS text unit ids, in one throwaway
# cluster.  A benchmark, not a test: it prints medians, ratios and targets (PASS / MISS), and
# fails only on wrong results (a method's split not plausibly 50/50, or mlops's assignment
# differing between plans).  Run by hand:
#
#   bash tests/bench/ab_bench.sh                 # 10M ids, 3 runs, serial and parallel (about 5 minutes on 2 cores)
#   bash tests/bench/ab_bench.sh --rows 1000000
#   bash tests/bench/ab_bench.sh --smoke         # or AB_BENCH_SMOKE=1: 100k ids, 1 run, serial only
#
# Data: ids (id text), ROWS rows 'user-1' .. 'user-ROWS', VACUUM (FREEZE, ANALYZE)d and
# pg_prewarm'ed (shared_buffers = 2GB holds the 10M-row table, 422 MB).  A prebuilt table
# rather than generate_series: assignment runs over units that exist in a table, and with
# generate_series every method would also pay for building 'user-' || g and for the function
# scan's tuplestore (which spills to disk at 10M rows), the same for all, diluting the
# differences being measured.  Each query counts the units per variant of a 50/50 test:
#
#   scan:     SELECT length(id) % 2 AS v, count(*) FROM ids GROUP BY v
#             (the floor: the scan and the grouping every method pays; "net" = median - scan's)
#   ab:       SELECT mlops.ab_choose_variation(mlops.ab_hash('exp-1', id, 2), r) AS v, count(*)
#               FROM ids GROUP BY v, with r = mlops.ab_bucket_ranges(2, 1, '{0.5,0.5}') computed
#             once (immutable with constant arguments: folded into a constant when planned)
#   ab_hash:  SELECT mlops.ab_hash('exp-1', id, 2) < 0.5 AS v, ...  (the hash alone: what
#             ab_choose_variation adds is ab's time minus this)
#   hashtext: SELECT (hashtext('exp-1' || id)::bigint & x'7fffffff'::bigint) % 10000 < 5000 AS v, ...
#             (the sign bit masked: abs(hashtext(...)) fails on -2147483648)
#   md5:      SELECT ('x' || substr(md5('exp-1' || id), 1, 8))::bit(32)::bigint % 10000 < 5000 AS v, ...
#
# Plans: the planner has no statistics on a function's result, and for an int grouping key it
# estimates one group per row: a serial HashAggregate with 128 planned partitions, JIT with
# inlining and optimization, and no parallel plan, where the bool keys of ab_hash, hashtext
# and md5 get 2 groups and a parallel plan.  So that all are planned alike, CREATE STATISTICS on
# the two int keys (scan's, and ab's as the planner sees it, its ranges folded into a constant)
# tells the planner they have 2 values; the plans are printed at the end.
#
# Settings: "ser" (max_parallel_workers_per_gather = 0) and "par" (2, the cluster's), as
# SETTINGS says (default ser,par; --smoke: ser).  Every run is a fresh session that loads mlops
# first (an untimed call); RUNS rounds, round-robin over the queries; JIT at the server's default
# (shown).  Each run's wall-clock time (psql's \timing) and, for serial runs, the backend's CPU
# time (user + system from /proc/self/stat, read with pg_read_file before and after: less
# inflated than the wall clock when other work shares the machine).  Targets (issue): ab at
# least as fast as hashtext (hashtext / ab >= 1) and 3x faster than md5 (md5 / ab >= 3),
# ratios of medians in the same setting (serial: wall and CPU).
#
# Checks (any failure exits 1): every method puts each of the two variants within 4 binomial
# standard errors of half the ids; ab's counts are the same serial and parallel.
#
# Knobs (environment): RUNS (3), SETTINGS (ser,par), ONLY (comma-separated keys), PERF (0; 1 = perf
# profile of two serial runs of ab, printed before the table), AB_BENCH_SMOKE (0).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

ROWS=10000000
RUNS=${RUNS:-3}
SETTINGS=${SETTINGS:-ser,par}
SMOKE=${AB_BENCH_SMOKE:-0}
PERF=${PERF:-0}
ONLY=${ONLY:-}
while [ $# -gt 0 ]; do
    case $1 in
        --rows) ROWS=$2; shift 2 ;;
        --rows=*) ROWS=${1#--rows=}; shift ;;
        --runs) RUNS=$2; shift 2 ;;
        --runs=*) RUNS=${1#--runs=}; shift ;;
        --smoke) SMOKE=1; shift ;;
        *) echo "usage: $0 [--rows N] [--runs N] [--smoke]" >&2; exit 2 ;;
    esac
done
if [ "$SMOKE" = 1 ]; then
    ROWS=100000 RUNS=1 SETTINGS=ser
fi
[ "$ROWS" -ge 1000 ] || { echo "--rows must be at least 1000" >&2; exit 2; }

bench_setup mlops_ab_bench "" "shared_buffers = 2GB"

declare -A Q=(
    [scan]="SELECT length(id) % 2 AS v, count(*) FROM ids GROUP BY v"
    [ab]="SELECT mlops.ab_choose_variation(mlops.ab_hash('exp-1', id, 2), mlops.ab_bucket_ranges(2, 1, '{0.5,0.5}')) AS v, count(*) FROM ids GROUP BY v"
    [ab_hash]="SELECT mlops.ab_hash('exp-1', id, 2) < 0.5 AS v, count(*) FROM ids GROUP BY v"
    [hashtext]="SELECT (hashtext('exp-1' || id)::bigint & x'7fffffff'::bigint) % 10000 < 5000 AS v, count(*) FROM ids GROUP BY v"
    [md5]="SELECT ('x' || substr(md5('exp-1' || id), 1, 8))::bit(32)::bigint % 10000 < 5000 AS v, count(*) FROM ids GROUP BY v"
)
KEYS=(scan ab ab_hash hashtext md5)
if [ -n "$ONLY" ]; then
    IFS=, read -r -a KEYS <<<"$ONLY"
fi
IFS=, read -r -a SETS <<<"$SETTINGS"
workers() { [ "$1" = par ] && echo 2 || echo 0; }

# ---------------------------------------------------------------------------
log "generating ids: $ROWS rows"
psql_q >/dev/null <<SQL
SET max_parallel_workers_per_gather = 0;
CREATE TABLE ids (id text NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO ids SELECT 'user-' || g FROM generate_series(1, $ROWS) g;
-- the int grouping keys' number of distinct values (see the head comment)
CREATE STATISTICS ids_scan_key ON ((length(id) % 2)) FROM ids;
CREATE STATISTICS ids_ab_key ON (mlops.ab_choose_variation(mlops.ab_hash('exp-1', id, 2), '{{0,0.5},{0.5,1}}'::float8[])) FROM ids;
VACUUM (FREEZE, ANALYZE) ids;
CREATE EXTENSION pg_prewarm;
SELECT pg_prewarm('ids');
SQL
size=$(psql_q -At -c "SELECT pg_size_pretty(pg_relation_size('ids'))")

{
    echo "Plans:"
    for s in "${SETS[@]}"; do
        for k in ab hashtext; do
            echo "  $k, $s:"
            psql_q -At -c "SET max_parallel_workers_per_gather = $(workers "$s")" -c "EXPLAIN (COSTS OFF, VERBOSE) ${Q[$k]}" \
                | sed 's/^/      /'
        done
    done
} >"$WORK/plans.txt"

# run_query KEY SETTING: one timed run in a fresh session; prints "WALL CPU" in seconds (CPU:
# the backend's own user + system time from /proc/self/stat, which other work on the machine
# inflates less than the wall clock; parallel workers' not included); rows to
# $WORK/KEY.SETTING.rows
TICK=$(getconf CLK_TCK)
CPU_SQL="SELECT 'cpu', (s[12]::bigint + s[13]::bigint) FROM (SELECT string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS s) p"
run_query() {
    local k=$1 s=$2 out
    out=$(psql -X -q -At -F '|' -v ON_ERROR_STOP=1 <<SQL
SET max_parallel_workers_per_gather = $(workers "$s");
SELECT mlops.ab_hash('warm', 'up', 2) \\g /dev/null
$CPU_SQL;
\\timing on
${Q[$k]};
\\timing off
$CPU_SQL;
SQL
)
    echo "$out" | grep -v -e '^Time:' -e '^cpu|' >"$WORK/$k.$s.rows"
    echo "$out" | awk -v tick="$TICK" '
        /^cpu\|/ {split($0, f, "|"); c[++n] = f[2]}
        /^Time: / {w = $2}
        END {printf "%.4f %.2f\n", w / 1000, (c[2] - c[1]) / tick}'
}

declare -A T=() CPU=()
log "timed runs: $RUNS rounds of ${KEYS[*]}, settings ${SETS[*]}"
for r in $(seq 1 "$RUNS"); do
    line=""
    for s in "${SETS[@]}"; do
        for k in "${KEYS[@]}"; do
            read -r t c < <(run_query "$k" "$s")
            T[$k/$s]="${T[$k/$s]:-} $t"
            CPU[$k/$s]="${CPU[$k/$s]:-} $c"
            line+=" $k/$s $t (cpu $c)"
        done
    done
    log "round $r:$line"
done

# ---------------------------------------------------------------------------
if [ "$PERF" = 1 ]; then
    if command -v perf >/dev/null; then
        log "perf: two serial runs of ab"
        rm -f "$WORK/perf_pid"
        psql_q -At >/dev/null <<SQL &
SET max_parallel_workers_per_gather = 0;
SELECT pg_backend_pid() \g $WORK/perf_pid
SELECT pg_sleep(1);
${Q[ab]};
${Q[ab]};
SQL
        perf_psql=$!
        for _ in $(seq 1 100); do [ -s "$WORK/perf_pid" ] && break; sleep 0.1; done
        sleep 0.5
        perf record -q -g -o "$WORK/perf.data" -p "$(tr -d '[:space:]' <"$WORK/perf_pid")" 2>/dev/null &
        perf_rec=$!
        wait "$perf_psql"
        kill -INT "$perf_rec" 2>/dev/null || true
        wait "$perf_rec" 2>/dev/null || true
        {
            echo "perf profile (self time, >= 0.5%) of two serial runs of ab (a stripped postgres shows"
            echo "its static functions as addresses; those just below pg_vsnprintf are snprintf.c's):"
            perf report -q -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 0.5 -g none 2>/dev/null \
                | awk 'NF >= 4 && $1 ~ /%$/ {printf "   %7s  %-18s %s\n", $1, $2, $4}' | head -30
            echo "   by object:"
            perf report -q -i "$WORK/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null \
                | awk 'NF >= 2 && $1 ~ /%$/ {printf "   %7s  %s\n", $1, $2}' | head -6
        } >"$WORK/perf.txt"
    else
        log "perf is not installed: no profile"
    fi
fi

# ---------------------------------------------------------------------------
# checks: plausible 50/50 splits; ab the same serial and parallel
fail=0
checks=""
for s in "${SETS[@]}"; do
    for k in "${KEYS[@]}"; do
        [ "$k" = scan ] && continue
        res=$(awk -F'|' -v n="$ROWS" -v k="$k/$s" '
            {c[$1] = $2; tot += $2; m++}
            END {
                se = sqrt(0.25 / n); ok = (m == 2 && tot == n)
                line = ""
                for (v in c) { z = (c[v] / n - 0.5) / se; if (z > 4 || z < -4) ok = 0; line = line sprintf(" %s:%d (%+.2f SE)", v, c[v], z) }
                printf "%s %s\n", ok ? "ok  " : "FAIL", k ":" line
            }' "$WORK/$k.$s.rows")
        checks+="  $res"$'\n'
        [[ $res == ok* ]] || fail=1
    done
done
if [ -f "$WORK/ab.ser.rows" ] && [ -f "$WORK/ab.par.rows" ]; then
    if cmp -s <(sort "$WORK/ab.ser.rows") <(sort "$WORK/ab.par.rows"); then
        checks+="  ok   ab: the same counts serial and parallel"$'\n'
    else
        checks+="  FAIL ab: different counts serial and parallel"$'\n'; fail=1
    fi
fi

# ---------------------------------------------------------------------------
median() { echo "$1" | bench_median; }
best() { echo "$1" | tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }
ratio() { awk -v m="$1" -v a="$2" 'BEGIN {printf "%.2f", m / a}'; }
echo
echo "mlops A/B assignment benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "jit=$(psql_q -At -c 'SHOW jit'), shared_buffers=$(psql_q -At -c 'SHOW shared_buffers')," \
     "load average at end $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - START)) s in all"
echo "ids: $ROWS text ids 'user-N' ($size, prewarmed); $RUNS runs each, each a fresh session; wall-clock"
echo "medians and bests; net = median - scan's median; cpu = median of the backend's CPU time (serial only:"
echo "parallel workers' CPU is not counted); ratios of medians against ab's in the same setting (wall; cpu)"
echo
printf "%-9s %-4s %9s %7s %7s %7s  %-42s %s\n" "query" "set" "median s" "best s" "net s" "cpu s" "runs (s)" "x ab's time"
for s in "${SETS[@]}"; do
    base_scan=""
    [ -n "${T[scan/$s]:-}" ] && base_scan=$(median "${T[scan/$s]}")
    ab_m="" ab_c=""
    [ -n "${T[ab/$s]:-}" ] && ab_m=$(median "${T[ab/$s]}") && ab_c=$(median "${CPU[ab/$s]}")
    for k in "${KEYS[@]}"; do
        m=$(median "${T[$k/$s]}")
        c=$(median "${CPU[$k/$s]}")
        net="-"
        [ -n "$base_scan" ] && [ "$k" != scan ] && net=$(awk -v m="$m" -v b="$base_scan" 'BEGIN {printf "%.3f", m - b}')
        cpu_col=$([ "$s" = ser ] && printf "%.2f" "$c" || echo "-")
        x=""
        if [ -n "$ab_m" ] && [ "$k" != ab ] && [ "$k" != scan ]; then
            x="$(ratio "$m" "$ab_m")x"
            [ "$s" = ser ] && x+="; cpu $(ratio "$c" "$ab_c")x"
        fi
        printf "%-9s %-4s %9.3f %7.3f %7s %7s  %-42s %s\n" "$k" "$s" "$m" "$(best "${T[$k/$s]}")" "$net" "$cpu_col" \
            "${T[$k/$s]# }" "$x"
    done
done
echo
echo "targets (ratios of medians, same setting; serial also on CPU time):"
target() {   # target SETTING KEY LIMIT
    local s=$1 k=$2 limit=$3 line
    [ -n "${T[ab/$s]:-}" ] && [ -n "${T[$k/$s]:-}" ] || return 0
    line=$(awk -v m="$(median "${T[$k/$s]}")" -v a="$(median "${T[ab/$s]}")" -v l="$limit" -v s="$s" -v k="$k" \
        'BEGIN {printf "  %s: %s / ab = %.2fx, target >= %s: %s", s, k, m / a, l, (m / a >= l) ? "PASS" : "MISS"}')
    if [ "$s" = ser ]; then
        line+=$(awk -v m="$(median "${CPU[$k/$s]}")" -v a="$(median "${CPU[ab/$s]}")" -v l="$limit" \
            'BEGIN {printf "  (cpu %.2fx: %s)", m / a, (m / a >= l) ? "PASS" : "MISS"}')
    fi
    echo "$line"
}
for s in "${SETS[@]}"; do
    target "$s" hashtext 1
    target "$s" md5 3
done
echo
echo "result checks (each variant within 4 binomial SE of half the ids):"
printf "%s" "$checks"
echo
cat "$WORK/plans.txt"
[ -f "$WORK/perf.txt" ] && { echo; cat "$WORK/perf.txt"; }
echo "(figures are noisy when other work shares the machine)"
if [ "$fail" != 0 ]; then
    echo "RESULT CHECK FAILED"
    exit 1
fi
