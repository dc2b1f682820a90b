#!/usr/bin/env bash
# tests/bench/jsonb_bench.sh: scoring by name (jsonb) against scoring from a
# float8[], on the same rows and model, in one throwaway cluster.  A
# benchmark, not a test: it prints medians and ratios and fails only on
# wrong results.  Run by hand:
#
#   bash tests/bench/jsonb_bench.sh             # 1M rows
#   ROWS=200000 bash tests/bench/jsonb_bench.sh
#
# The same ROWS rows of 20 features (tests/lib/bench.sh's t: random() * 4 - 2
# after setseed()) and a category c of 10 ("k0" .. "k9"), stored three ways:
#   t   x float8[20] in signature order, and xc float8[21]: x and c's index;
#   tj  f jsonb {"f1": .., "f20": ..} (as to_jsonb() writes float8s: up to
#       17 digits), and tjc: fc jsonb, the same with "c";
#   tp  plain columns id, f1 .. f20, c.
# Models: jb_logreg, a logistic regression on f1 .. f20 (coefficient of fj:
# ((7 j) % 11 - 5) / 5, intercept 0.3), and jb_cat, the same plus c one-hot
# encoded (coefficient of k<i>: (i - 4.5) / 5).
# shared_buffers is 4GB, so that every table stays in shared buffers (a scan
# of a table over a quarter of them would cycle through a small ring).
# Serial plans, median of RUNS (5) runs, round-robin, each in a fresh session
# whose models are already cached; the bare scans are the baselines:
#   scan_x         SELECT sum(x[1]) FROM t                  (reads each array)
#   scan_f         SELECT count(jsonb_typeof(f)) FROM tj    (reads each jsonb)
#   scan_p         SELECT sum(f1) FROM tp
#   to_jsonb       SELECT count(to_jsonb(p)) FROM tp p       (PostgreSQL's part of e, f)
#   build          SELECT count(jsonb_build_object('f1', f1, ..)) FROM tp   (of g)
#   (to_jsonb, build, e, f and g run on the first tenth of tp, scaled by 10:
#   converting float8s to jsonb takes PostgreSQL about 10 us a row)
#   a) x           sum(predict('jb_logreg', x))
#   b) f           sum(predict('jb_logreg', f))             by name, from a jsonb column
#   c) xc          sum(predict('jb_cat', xc))
#   d) fc          sum(predict('jb_cat', fc))
#   e) row_minus   sum(predict('jb_logreg', to_jsonb(p) - 'id' - 'c'))
#   f) row_exclude sum(predict('jb_logreg', to_jsonb(p), exclude => ARRAY['id', 'c']))
#   g) row_build   sum(predict('jb_logreg', jsonb_build_object('f1', f1, ..)))
#   h) row_array   sum(predict('jb_logreg', ARRAY[f1, .., f20]))   the same columns, no names
# (f is left out on builds without the exclude variant.)
# Checks, row by row: a, b, e, f, g, h give the same prediction bit for bit (the
# jsonb numbers are the float8s to_jsonb() wrote, converted back exactly), c
# and d too, and a equals the formula in SQL to 1e-12 relative.
# PERF=1: a perf profile (self time, >= 1%) of b before the table.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"
ROWS=${ROWS:-1000000}
SAMPLE=$((ROWS / 10))
RUNS=${RUNS:-5}
PERF=${PERF:-0}

bench_setup mlops_jsonb_bench "" "shared_buffers = 4GB"

log "generating t, tj, tp ($ROWS rows) and registering jb_logreg, jb_cat"
fcols=$(for j in $(seq 1 20); do printf 'x[%d] AS f%d, ' "$j" "$j"; done)
bench_create_t "$ROWS" "$fcols (id * 37) % 10 AS k,"
pairs=$(for j in $(seq 1 20); do printf "%s'f%d', f%d" "$([ "$j" = 1 ] || echo ', ')" "$j" "$j"; done)
psql_q >/dev/null <<SQL
SET max_parallel_workers_per_gather = 0;
CREATE TABLE tp AS SELECT id, $(for j in $(seq 1 20); do printf 'f%d, ' "$j"; done) 'k' || k AS c FROM t ORDER BY id;
CREATE TABLE tj AS SELECT id, jsonb_build_object($pairs) AS f FROM t ORDER BY id;
CREATE TABLE tjc AS SELECT id, jsonb_build_object($pairs, 'c', 'k' || k) AS fc FROM t ORDER BY id;
ALTER TABLE t ADD COLUMN xc float8[];
UPDATE t SET xc = x || k::float8;
ALTER TABLE t $(for j in $(seq 1 20); do printf 'DROP COLUMN f%d, ' "$j"; done) DROP COLUMN k;
VACUUM FULL t;
VACUUM (FREEZE, ANALYZE) t;
VACUUM (FREEZE, ANALYZE) tj;
VACUUM (FREEZE, ANALYZE) tjc;
VACUUM (FREEZE, ANALYZE) tp;
SELECT mlops.register_model_version('jb_logreg', json_build_object(
    'format', 'mlops.model/v1', 'task', 'binary', 'classes', json_build_array('n', 'y'),
    'features', (SELECT json_agg(json_build_object('name', 'f' || j, 'type', 'numeric') ORDER BY j) FROM generate_series(1, 20) j),
    'model', json_build_object('type', 'linear', 'link', 'logistic', 'intercept', json_build_array(0.3),
                               'coef', (SELECT json_agg(((7 * j) % 11 - 5) / 5.0 ORDER BY j) FROM generate_series(1, 20) j)))::text);
SELECT mlops.register_model_version('jb_cat', json_build_object(
    'format', 'mlops.model/v1', 'task', 'binary', 'classes', json_build_array('n', 'y'),
    'features', (SELECT json_agg(json_build_object('name', 'f' || j, 'type', 'numeric') ORDER BY j) FROM generate_series(1, 20) j)::jsonb
                || jsonb_build_array(json_build_object('name', 'c', 'type', 'categorical',
                       'categories', (SELECT json_agg('k' || i ORDER BY i) FROM generate_series(0, 9) i))),
    'model', json_build_object('type', 'linear', 'link', 'logistic', 'intercept', json_build_array(0.3),
                               'coef', (SELECT json_agg(w ORDER BY o) FROM
                                          (SELECT j AS o, ((7 * j) % 11 - 5) / 5.0 AS w FROM generate_series(1, 20) j
                                           UNION ALL SELECT 20 + i, (i - 4.5) / 5 FROM generate_series(1, 10) i) s)))::text);
SQL
psql_q -At -c "SELECT 'sizes: t ' || pg_size_pretty(pg_table_size('t')) || ', tj ' || pg_size_pretty(pg_table_size('tj'))
                      || ', tjc ' || pg_size_pretty(pg_table_size('tjc')) || ', tp ' || pg_size_pretty(pg_table_size('tp'))" \
    | sed 's/^/   /' >&2
have_exclude=$(psql_q -At -c "SELECT to_regprocedure('mlops.predict(text, jsonb, text[])') IS NOT NULL")

declare -A Q=(
    [scan_x]="SELECT sum(x[1]) FROM t"
    [scan_f]="SELECT count(jsonb_typeof(f)) FROM tj"
    [scan_p]="SELECT sum(f1) FROM tp"
    [to_jsonb]="SELECT count(to_jsonb(p)) FROM tp p WHERE id <= $SAMPLE"
    [build]="SELECT count(jsonb_build_object($pairs)) FROM tp WHERE id <= $SAMPLE"
    [x]="SELECT sum(mlops.predict('jb_logreg:1', x)) FROM t"
    [f]="SELECT sum(mlops.predict('jb_logreg:1', f)) FROM tj"
    [xc]="SELECT sum(mlops.predict('jb_cat:1', xc)) FROM t"
    [fc]="SELECT sum(mlops.predict('jb_cat:1', fc)) FROM tjc"
    [row_minus]="SELECT sum(mlops.predict('jb_logreg:1', to_jsonb(p) - 'id' - 'c')) FROM tp p WHERE id <= $SAMPLE"
    [row_exclude]="SELECT sum(mlops.predict('jb_logreg:1', to_jsonb(p), exclude => ARRAY['id', 'c'])) FROM tp p WHERE id <= $SAMPLE"
    [row_build]="SELECT sum(mlops.predict('jb_logreg:1', jsonb_build_object($pairs))) FROM tp WHERE id <= $SAMPLE"
    [row_array]="SELECT sum(mlops.predict('jb_logreg:1', ARRAY[$(for j in $(seq 1 20); do printf '%sf%d' "$([ "$j" = 1 ] || echo ', ')" "$j"; done)])) FROM tp"
)
# the rows converted on the fly cost PostgreSQL's to_jsonb(): a tenth of them, scaled
declare -A SCALE=([to_jsonb]=$((ROWS / SAMPLE)) [build]=$((ROWS / SAMPLE)) [row_minus]=$((ROWS / SAMPLE))
                  [row_exclude]=$((ROWS / SAMPLE)) [row_build]=$((ROWS / SAMPLE)))
keys=(scan_x scan_f scan_p to_jsonb build x f xc fc row_minus row_exclude row_build row_array)
if [ "$have_exclude" != t ]; then
    keys=(scan_x scan_f scan_p to_jsonb build x f xc fc row_minus row_build row_array)
    log "no exclude variant in this build: row_exclude left out"
fi
declare -A T=()
warmup="SELECT mlops.predict('jb_logreg:1', x), mlops.predict('jb_cat:1', xc) FROM t LIMIT 1;"

if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
    log "perf: where sum(predict('jb_logreg:1', f)) spends its time"
    rm -f "$WORK/perf_pid"
    psql_q -At >/dev/null <<SQL &
SET max_parallel_workers_per_gather = 0;
SELECT pg_backend_pid() \g $WORK/perf_pid
$warmup
SELECT pg_sleep(1);
${Q[f]};
${Q[f]};
SQL
    perf_psql=$!
    for _ in $(seq 1 100); do [ -s "$WORK/perf_pid" ] && break; sleep 0.1; done
    sleep 0.5
    perf record -q -g -o "$WORK/perf.data" -p "$(tr -d '[:space:]' <"$WORK/perf_pid")" 2>/dev/null &
    perf_rec=$!
    wait "$perf_psql"
    kill -INT "$perf_rec" 2>/dev/null || true
    wait "$perf_rec" 2>/dev/null || true
    echo "perf profile (self time, >= 1%) of two runs of ${Q[f]}:"
    perf report -q -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1 -g none 2>/dev/null \
        | awk 'NF >= 4 && $1 ~ /%$/ {printf "   %7s  %-20s %s\n", $1, $2, $4}' | head -30
    echo
fi

log "timed runs: $RUNS rounds"
bench_rounds "$RUNS" "$warmup" "${keys[@]}"

median() { echo "${T[$1]}" | bench_median; }
echo
echo "mlops jsonb benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "serial plans, $ROWS rows, medians of $RUNS runs, $((SECONDS - START)) s in all"
printf '%-78s %9s  %-12s %-12s %s\n' "query" "median s" "vs scan_x" "vs x" "runs (s)"
for k in "${keys[@]}"; do
    [ -n "$k" ] || continue
    m=$(median "$k")
    printf '%-78s %9.3f  %-12s %-12s %s\n' "$k) ${Q[$k]:0:74}" "$m" \
        "$(awk -v m="$m" -v b="$(median scan_x)" 'BEGIN {printf "%.2fx", m / b}')" \
        "$(awk -v m="$m" -v b="$(median x)" 'BEGIN {printf "%.2fx", m / b}')" "${T[$k]# }"
done
echo "above the scan of its table: b) f $(awk -v a="$(median f)" -v b="$(median scan_f)" -v c="$(median x)" -v d="$(median scan_x)" \
      'BEGIN {printf "%.0f ns/row against a) x %.0f ns/row (%.2fx)", (a - b) * 1e9 / '"$ROWS"', (c - d) * 1e9 / '"$ROWS"', (a - b) / (c - d)}')"
echo "to_jsonb(p) alone is $(awk -v a="$(median to_jsonb)" -v b="$(median row_minus)" 'BEGIN {printf "%.0f%%", 100 * a / b}') of e) row_minus;" \
     "to_jsonb, build, e, f, g ran on $SAMPLE rows, scaled to $ROWS"

echo
echo "result checks (row by row):"
fail=0
check() {   # what, query returning the number of rows that differ
    local n; n=$(psql_q -At -c "SET max_parallel_workers_per_gather = 0" -c "$2")
    printf '  %-74s %s\n' "$1" "$([ "$n" = 0 ] && echo ok || echo "FAIL: $n rows differ")"
    [ "$n" = 0 ] || fail=1
}
p_lr() { echo "mlops.predict('jb_logreg:1', $1)"; }
check "b) by name from a jsonb column = a) from float8[], bit for bit" \
    "SELECT count(*) FROM t JOIN tj USING (id) WHERE $(p_lr x) IS DISTINCT FROM $(p_lr f)"
check "e) to_jsonb(p) - 'id' - 'c', g) jsonb_build_object(...), h) ARRAY[...] = a), bit for bit" \
    "SELECT count(*) FROM t JOIN tp p USING (id)
      WHERE $(p_lr x) IS DISTINCT FROM $(p_lr "to_jsonb(p) - 'id' - 'c'")
         OR $(p_lr x) IS DISTINCT FROM $(p_lr "jsonb_build_object($pairs)")
         OR $(p_lr x) IS DISTINCT FROM $(p_lr "ARRAY[$(for j in $(seq 1 20); do printf '%sf%d' "$([ "$j" = 1 ] || echo ', ')" "$j"; done)]")"
if [ "$have_exclude" = t ]; then
    check "f) exclude => ARRAY['id', 'c'] = a), bit for bit" \
        "SELECT count(*) FROM t JOIN tp p USING (id) WHERE $(p_lr x) IS DISTINCT FROM $(p_lr "to_jsonb(p), exclude => ARRAY['id', 'c']")"
fi
check "d) categorical by name = c) by index, bit for bit" \
    "SELECT count(*) FROM t JOIN tjc USING (id)
      WHERE mlops.predict('jb_cat:1', xc) IS DISTINCT FROM mlops.predict('jb_cat:1', fc)"
check "a) = the formula in SQL (1e-12 relative)" \
    "SELECT count(*) FROM t WHERE abs($(p_lr x) - 1 / (1 + exp(-(0.3 $(for j in $(seq 1 20); do printf ' + %s * x[%d]' "$(( (7 * j) % 11 - 5 ))/5.0" "$j"; done)))))
                                  > 1e-12 * $(p_lr x)"
[ "$fail" = 0 ] || { echo "RESULT CHECK FAILED"; exit 1; }
echo "(figures are noisy when other work shares the machine)"
