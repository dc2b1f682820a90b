#!/usr/bin/env bash
# predict_ab against predict alone, on a table of ROWS units (default 1M) with the 20-feature
# logistic regression of the scoring benchmark, serial plans, median of RUNS (default 3):
#   scan       SELECT sum(x[1]) FROM t                                   (the bare scan)
#   predict    SELECT sum(mlops.predict('bench_lr:1', x)) FROM t          (the issue's baseline)
#   assign     SELECT sum(ab_choose_variation(ab_hash(...), ranges))     (the assignment alone)
#   new        predict_ab over units never exposed (each run a fresh test): scoring + one
#              recorded exposure per unit
#   exposed    predict_ab again over the same units: scoring + an idempotent re-record
#   sql_insert the floor of recording: pure SQL INSERT ... ON CONFLICT DO NOTHING of the same
#              rows into a table shaped and indexed as mlops.ab_assignments
#   sql_again  the same INSERT again (every row a conflict)
#
#   bash tests/bench/predict_ab_bench.sh [--rows N] [--runs N]
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"
ROWS=1000000; RUNS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) ROWS=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
bench_setup predict_ab_bench
bench_create_t "$ROWS" "'unit-' || id AS unit,"
coef=$(for j in $(seq 1 20); do printf '%s%s' "$([ "$j" = 1 ] || echo ,)" "$(( (j * 7) % 11 - 5 ))"; done)
feats=$(for j in $(seq 1 20); do printf '%s{"name": "x%d", "type": "numeric"}' "$([ "$j" = 1 ] || echo ,)" "$j"; done)
psql_q >/dev/null <<SQL
VACUUM ANALYZE t;
SELECT mlops.register_model_version('bench_lr', '{"format": "mlops.model/v1", "task": "binary", "classes": [0, 1],
  "features": [$feats], "model": {"type": "linear", "coef": [[$coef]], "intercept": [0.3], "link": "logistic"}}');
SELECT mlops.register_model_version('bench_lr', '{"format": "mlops.model/v1", "task": "binary", "classes": [0, 1],
  "features": [$feats], "model": {"type": "linear", "coef": [[$coef]], "intercept": [0.2], "link": "logistic"}}');
CREATE TABLE floor_a (ab_test_id bigint, bucket_version int, unit_id text COLLATE "C", variant int, weights_epoch int,
                      version_id bigint, assigned_at timestamptz, PRIMARY KEY (ab_test_id, bucket_version, unit_id));
SQL
declare -A T=()
t() {   # key sql: one timed run in a fresh session
    local ms
    ms=$(psql -X -q -At -v ON_ERROR_STOP=1 <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
SET max_parallel_workers_per_gather = 0;
SELECT sum(mlops.predict('bench_lr:1', x)) FROM t WHERE id < 100;
\timing on
$2;
SQL
)
    T[$1]="${T[$1]:-} $(awk -v m="$ms" 'BEGIN {printf "%.4f", m / 1000}')"
    log "$1: $(awk -v m="$ms" 'BEGIN {printf "%.3f", m / 1000}') s"
}
for r in $(seq 1 "$RUNS"); do
    psql_q >/dev/null -c "SELECT mlops.create_ab_test('b$r', ARRAY['bench_lr:1', 'bench_lr:2'])" -c "SELECT mlops.start_ab_test('b$r')"
    psql_q -c "TRUNCATE floor_a"
    t scan "SELECT sum(x[1]) FROM t"
    t predict "SELECT sum(mlops.predict('bench_lr:1', x)) FROM t"
    t assign "SELECT sum(mlops.ab_choose_variation(mlops.ab_hash('b$r', unit, 2), '{{0,0.5},{0.5,1}}')) FROM t"
    t new "SELECT sum((mlops.predict_ab('b$r', unit, x)).prediction) FROM t"
    t exposed "SELECT sum((mlops.predict_ab('b$r', unit, x)).prediction) FROM t"
    t sql_insert "INSERT INTO floor_a SELECT 1, 1, unit, id % 2, 1, 1, now() FROM t ON CONFLICT DO NOTHING"
    t sql_again "INSERT INTO floor_a SELECT 1, 1, unit, id % 2, 1, 1, now() FROM t ON CONFLICT DO NOTHING"
done
[ "$(psql_q -At -c "SELECT count(*) FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'b1'")" = "$ROWS" ] \
    || { echo "FAIL: exposures not recorded once per unit" >&2; exit 1; }
b=$(echo "${T[predict]}" | bench_median)
printf "\n%s rows, median of %s runs\n%-12s %9s  %s\n" "$ROWS" "$RUNS" "query" "median s" "vs predict"
for k in scan predict assign new exposed sql_insert sql_again; do
    m=$(echo "${T[$k]}" | bench_median)
    printf "%-12s %9.3f  %6.2fx\n" "$k" "$m" "$(awk -v m="$m" -v b="$b" 'BEGIN {print m / b}')"
done
echo "total $((SECONDS - START)) s"
