#!/usr/bin/env bash
# tests/bench/model_refs_bench.sh: scoring when the model reference changes
# from row to row (an A/B test scoring each unit with its variant's model),
# against one reference for every row, in one throwaway cluster.  A
# benchmark, not a test: it prints medians and ratios and fails only on
# wrong results.  Run by hand:
#
#   bash tests/bench/model_refs_bench.sh
#
# t: 1M rows, x float8[20] of random() after setseed().  Models: 20 versions
# of one logistic regression (random coefficients, intercept = version / 10).
# Serial plans, median of RUNS (5) runs, round-robin:
#   a) sum(mlops.predict('refs:1', x))                     one reference
#   b) sum(mlops.predict(CASE id % 2 ...'refs:1'/'refs:2'))  two, alternating
#   c) the same with 'refs@champion' and 'refs:2'          an alias and a version
#   d) sum(mlops.predict('refs:' || (1 + id % 20), x))     20 cycling
#   e) the same with 100 versions cycling: more than the 64 a scoring call
#      keeps, so every row resolves through SQL (on 20,000 rows, scaled to 1M)
# Checks: b) to e) equal a sum computed per version with one reference
# each (GROUP BY version), to 1e-9 relative.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"
RUNS=${RUNS:-5}

bench_setup mlops_model_refs_bench

log "generating t (1M rows) and registering 20 versions of refs"
psql_q >/dev/null <<'SQL'
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.77);
CREATE TABLE t AS
SELECT i AS id, ARRAY(SELECT random() * 2 - 1 FROM generate_series(1, 20) WHERE i > 0) AS x
  FROM generate_series(1, 1000000) i;
VACUUM (FREEZE, ANALYZE) t;
SELECT mlops.register_model_version('refs', json_build_object(
    'format', 'mlops.model/v1', 'task', 'binary', 'classes', json_build_array('n', 'y'),
    'features', (SELECT json_agg(json_build_object('name', 'f' || j, 'type', 'numeric')) FROM generate_series(1, 20) j),
    'model', json_build_object('type', 'linear', 'link', 'logistic', 'intercept', json_build_array(v / 10.0),
                               'coef', (SELECT json_agg(round((random() - 0.5)::numeric, 4)) FROM generate_series(1, 20) j
                                         WHERE v > 0)))::text)
  FROM generate_series(1, 100) v;
SELECT mlops.set_model_alias('refs', 'champion', 1);
SQL

declare -A Q=(
    [a]="SELECT sum(mlops.predict('refs:1', x)) FROM t"
    [b]="SELECT sum(mlops.predict(CASE WHEN id % 2 = 0 THEN 'refs:1' ELSE 'refs:2' END, x)) FROM t"
    [c]="SELECT sum(mlops.predict(CASE WHEN id % 2 = 0 THEN 'refs@champion' ELSE 'refs:2' END, x)) FROM t"
    [d]="SELECT sum(mlops.predict('refs:' || (1 + id % 20), x)) FROM t"
    [e]="SELECT sum(mlops.predict('refs:' || (1 + id % 100), x)) FROM t WHERE id <= 20000"
)
declare -A SCALE=([a]=1 [b]=1 [c]=1 [d]=1 [e]=50)
declare -A T=()
log "timed runs: $RUNS rounds"
bench_rounds "$RUNS" "SELECT mlops.predict('refs:1', x) FROM t LIMIT 1;" a b c d e

echo
echo "mlops model references benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "serial plans, medians of $RUNS runs, $((SECONDS - START)) s in all"
bench_table 72 a a b c d e
echo "(e runs on 20,000 rows; its figures are scaled to 1M)"

echo
echo "result checks (each sum against per-version sums with one reference per statement):"
fail=0
check() {
    local what=$1 got=$2 want=$3
    local ok; ok=$(awk -v g="$got" -v w="$want" 'BEGIN {d = g - w; if (d < 0) d = -d; print (d <= 1e-9 * (w < 0 ? -w : w)) ? "ok" : "FAIL"}')
    printf '  %-60s %s  (%s vs %s)\n' "$what" "$ok" "$got" "$want"
    [ "$ok" = ok ] || fail=1
}
per_version() { psql_q -At -c "SELECT sum(s) FROM ($1) q"; }
got_b=$(psql_q -At -c "SET max_parallel_workers_per_gather = 0" -c "${Q[b]}")
want_b=$(per_version "SELECT (SELECT sum(mlops.predict('refs:1', x)) FROM t WHERE id % 2 = 0) AS s
                      UNION ALL SELECT (SELECT sum(mlops.predict('refs:2', x)) FROM t WHERE id % 2 = 1)")
check "b) two references alternating" "$got_b" "$want_b"
got_c=$(psql_q -At -c "SET max_parallel_workers_per_gather = 0" -c "${Q[c]}")
check "c) an alias and a version alternating" "$got_c" "$want_b"
got_d=$(psql_q -At -c "SET max_parallel_workers_per_gather = 0" -c "${Q[d]}")
want_d=$(per_version "SELECT (SELECT sum(mlops.predict('refs:' || v, x)) FROM t WHERE 1 + id % 20 = v) AS s
                      FROM generate_series(1, 20) v")
check "d) 20 references cycling" "$got_d" "$want_d"
got_e=$(psql_q -At -c "${Q[e]}")
want_e=$(per_version "SELECT (SELECT sum(mlops.predict('refs:' || v, x)) FROM t WHERE id <= 20000 AND 1 + id % 100 = v) AS s
                      FROM generate_series(1, 100) v")
check "e) 100 references cycling" "$got_e" "$want_e"
[ "$fail" = 0 ] || { echo "RESULT CHECK FAILED"; exit 1; }
echo "(figures are noisy when other work shares the machine)"
