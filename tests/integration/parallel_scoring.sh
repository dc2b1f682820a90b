#!/usr/bin/env bash
# tests/integration/parallel_scoring.sh: scoring under parallel query.
#
# One model per family (linear, mlp, trees), written by hand in our JSON
# format, scores a 300k-row table.  For each model, with a forced parallel
# plan (parallel_setup_cost = parallel_tuple_cost = 0,
# min_parallel_table_scan_size = 0, max_parallel_workers_per_gather = 2):
#  * EXPLAIN shows Gather + Parallel Seq Scan, with the prediction computed
#    below the Gather (in the workers), for sum(predict(...)) and for a query
#    returning one prediction per row; EXPLAIN ANALYZE shows workers launched;
#  * the per-row predictions of the parallel plan equal those of the serial
#    plan (max_parallel_workers_per_gather = 0) bit for bit, joined on id;
#    the sums agree (exactly as numeric, within rounding as float8);
#  * the same for mlops.score(mlops.compiled_model('m'), x) (the compiled
#    model fetched on every row, ~15 us each, so on a fifth of the rows) and
#    mlops.score((SELECT mlops.compiled_model('m')), x) (fetched once by an
#    InitPlan in the leader and passed to the workers as a parameter).
# 'lin' and 'trees' resolve through their champion alias, 'mlp' through its
# Production stage.
# Then the error path: one row with the wrong number of features in the big
# table makes every parallel query fail with the extension's error (SQLSTATE
# 22023, "wrong number of features"), also when only workers scan
# (parallel_leader_participation = off); no backend crashes: the server
# accepts connections, no parallel worker is left over, and the server log
# written during the test has no "terminated by signal" (nor a restart).
source "$(dirname "$0")/../lib/testdb.sh"

ROWS=300000
PARALLEL="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
          SET max_parallel_workers_per_gather = 2;"
SERIAL="SET max_parallel_workers_per_gather = 0;"

# The cluster of tests/lib/common.sh logs to $PGHOST/server.log; remember
# where the log ends now, to read only what this test adds.
SERVER_LOG="${PGHOST:-}/server.log"
log_offset=0
if [ -r "$SERVER_LOG" ]; then log_offset=$(stat -c %s "$SERVER_LOG"); fi
postmaster_start=$(q -c "SELECT pg_postmaster_start_time()")

# ---------------------------------------------------------------- data
# Four numeric features, non-integral (so that the arithmetic rounds), with
# missing values: f0 is NULL in every 1000th row (all models impute it), and
# every 5000th row has no feature vector at all (a NULL prediction).
q <<SQL
CREATE TABLE t (id int PRIMARY KEY, x float8[]);
INSERT INTO t
SELECT g, CASE WHEN g % 5000 = 3 THEN NULL
               ELSE ARRAY[CASE WHEN g % 1000 = 7 THEN NULL ELSE sin(g) * 10 END,
                          cos(g * 0.7) * 5,
                          (g % 1000) / 100.0,
                          ((g::bigint * 7919) % 10007) / 1000.0 - 5]::float8[] END
  FROM generate_series(1, $ROWS) g;
ANALYZE t;
SQL

# ---------------------------------------------------------------- models
features='[{"name": "f0", "type": "numeric", "impute": 0.5},
           {"name": "f1", "type": "numeric"},
           {"name": "f2", "type": "numeric"},
           {"name": "f3", "type": "numeric"}]'

lin_model='{"format": "mlops.model/v1", "task": "regression", "features": '"$features"',
  "scaler": {"center": [0.1, -0.2, 5.0, 0.0], "scale": [5.7, 3.5, 2.9, 2.9]},
  "model": {"type": "linear", "link": "identity",
            "coef": [1.25, -0.7, 0.333, 2.1], "intercept": [10.5]}}'

mlp_model='{"format": "mlops.model/v1", "task": "binary", "classes": [0, 1], "features": '"$features"',
  "model": {"type": "mlp", "hidden_activation": "tanh", "output_activation": "logistic",
            "layers": [{"weights": [[0.2, -0.5, 0.1], [0.3, 0.8, -0.4], [-0.6, 0.05, 0.7], [0.15, -0.25, 0.9]],
                        "bias": [0.1, -0.2, 0.05]},
                       {"weights": [[1.5], [-2.0], [0.75]], "bias": [-0.3]}]}}'

# Two trees boosted with a logistic link; the first splits on f0 (missing
# values of f0 are imputed, but tree 2 has a default branch anyway), f2, f3.
trees_model='{"format": "mlops.model/v1", "task": "binary", "classes": ["no", "yes"], "features": '"$features"',
  "model": {"type": "trees", "link": "logistic", "base_score": -0.2, "aggregation": "sum",
            "trees": [
              {"feature": [0, 2, 3, 0, 0, 1, 0], "threshold": [0.0, 4.5, -1.25, 0, 0, 2.0, 0],
               "left": [1, 3, 5, -1, -1, -1, -1], "right": [2, 4, 6, -1, -1, -1, -1],
               "value": [0, 0, 0, -0.8, 0.3, 0.6, 1.1]},
              {"feature": [3, 1, 0, 0, 0], "threshold": [0.75, -1.5, 0, 0, 0],
               "left": [1, 3, -1, -1, -1], "right": [2, 4, -1, -1, -1],
               "default_left": [false, true, true, true, true],
               "value": [0, 0, 0.45, -0.35, 0.05]}]}}'

q -v lin="$lin_model" -v mlp="$mlp_model" -v trees="$trees_model" <<'SQL' >/dev/null
SELECT mlops.register_model_version('lin', :'lin');
SELECT mlops.set_model_alias('lin', 'champion', 1);
SELECT mlops.register_model_version('mlp', :'mlp');
SELECT mlops.transition_model_stage('mlp', 1, 'Production');
SELECT mlops.register_model_version('trees', :'trees');
SELECT mlops.set_model_alias('trees', 'champion', 1);
SQL
q -F ' ' -c "SELECT name, family, task, (SELECT count(*) FROM mlops.model_versions v WHERE v.model_id = m.model_id)
               FROM mlops.registered_models m JOIN mlops.model_versions USING (model_id) ORDER BY name" \
    | sed 's/^/model: /'

# ---------------------------------------------------------------- helpers
# plan_check LABEL PLAN: the plan is parallel and computes mlops.* below the
# Gather, in the Parallel Seq Scan's own output or a Partial Aggregate.
plan_check() {
    local label=$1 plan=$2
    grep -q 'Gather' <<<"$plan" || { echo "$plan" | sed 's/^/    /'; fail "$label: no Gather in the plan"; }
    grep -q 'Parallel Seq Scan on public.t' <<<"$plan" || { echo "$plan" | sed 's/^/    /'; fail "$label: no Parallel Seq Scan in the plan"; }
    # the first Output line below the Parallel Seq Scan or Partial Aggregate
    # must contain the scoring call
    awk '/Partial Aggregate|Parallel Seq Scan/ { grab = 1; next }
         grab && /Output:/ { print; grab = 0 }' <<<"$plan" | grep -q 'mlops\.\(predict\|score\)' \
        || { echo "$plan" | sed 's/^/    /'; fail "$label: the scoring call is not computed below the Gather"; }
}

# compare SERIAL PARALLEL FILTER LABEL: the rows of SERIAL that pass FILTER
# and those of PARALLEL have the same ids and bit-identical predictions
compare() {
    local a=$1 b=$2 filter=$3 label=$4 res n unmatched differ nulls expected_n expected_nulls
    res=$(q -F ' ' -c "
        SELECT count(*),
               count(*) FILTER (WHERE a.id IS NULL OR b.id IS NULL),
               count(*) FILTER (WHERE float8send(a.p) IS DISTINCT FROM float8send(b.p)),
               count(*) FILTER (WHERE a.p IS NULL)
          FROM (SELECT * FROM $a WHERE $filter) a FULL JOIN $b b ON a.id = b.id")
    read -r n unmatched differ nulls <<<"$res"
    if [ "$differ" -ne 0 ]; then
        q -c "SELECT a.id, a.p, b.p FROM $a a JOIN $b b ON a.id = b.id
               WHERE float8send(a.p) IS DISTINCT FROM float8send(b.p) ORDER BY a.id LIMIT 10" | sed 's/^/    /'
    fi
    read -r expected_n expected_nulls <<<"$(q -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE x IS NULL) FROM t WHERE $filter")"
    [ "$n" -eq "$expected_n" ] && [ "$unmatched" -eq 0 ] || fail "$label: $n rows joined, $unmatched without a partner"
    [ "$differ" -eq 0 ] || fail "$label: $differ of $n predictions differ"
    [ "$nulls" -eq "$expected_nulls" ] && [ "$nulls" -gt 0 ] || fail "$label: $nulls NULL predictions, expected $expected_nulls"
    echo "$n"
}

# ---------------------------------------------------------------- per model
# mlops.score(mlops.compiled_model('m'), x) runs compiled_model() (a query)
# on every row, ~15 us each, so it scores a fifth of the rows (still with a
# Parallel Seq Scan over the whole table): every id ending in 3 (among them
# the rows without features) or 7 (among them the rows with f0 missing).
ALL="true"
FIFTH="id % 10 IN (3, 7)"
for m in lin mlp trees; do
    predict="mlops.predict('$m', x)"
    score_each="mlops.score(mlops.compiled_model('$m'), x)"
    score_once="mlops.score((SELECT mlops.compiled_model('$m')), x)"
    exprs=("$predict" "$score_each" "$score_once")
    filters=("$ALL" "$FIFTH" "$ALL")

    # serial reference: the per-row predictions and their exact sum
    plan=$(q -c "$SERIAL" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
                              CREATE TABLE ${m}_serial AS SELECT id, $predict AS p FROM t")
    ! grep -q 'Gather' <<<"$plan" || fail "$m: the serial plan has a Gather: $plan"
    q -c "$SERIAL" -c "CREATE TABLE ${m}_serial_score AS SELECT id, $score_once AS p FROM t"
    compare "${m}_serial" "${m}_serial_score" "$ALL" "$m serial: predict vs score" >/dev/null
    serial_sums=$(q -F ' ' -c "$SERIAL" -c "SELECT sum(p), sum(p::numeric), count(p) FROM ${m}_serial")
    read -r serial_fsum serial_nsum serial_count <<<"$serial_sums"
    [ "$serial_count" -eq $((ROWS - ROWS / 5000)) ] || fail "$m: $serial_count predictions, expected $((ROWS - ROWS / 5000))"

    for k in 0 1 2; do
        expr=${exprs[$k]}
        filter=${filters[$k]}
        # sum(...) under a parallel plan: Gather, Partial Aggregate, Parallel
        # Seq Scan.  As numeric, the sum is exact whatever the order of the
        # additions, so it equals the serial one exactly.
        plan=$(q -c "$PARALLEL" -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT sum($expr) FROM t WHERE $filter")
        plan_check "$m: sum($expr)" "$plan"
        grep -q 'Partial Aggregate' <<<"$plan" || fail "$m: sum($expr): no Partial Aggregate: $plan"
        nsum=$(q -c "$PARALLEL" -c "SELECT sum(($expr)::numeric) FROM t WHERE $filter")
        expected=$(q -c "SELECT sum(p::numeric) FROM ${m}_serial WHERE $filter")
        [ "$nsum" = "$expected" ] || fail "$m: sum($expr) as numeric: parallel $nsum, serial $expected"

        # per-row predictions under a parallel plan, against the serial ones
        plan=$(q -c "$PARALLEL" -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT id, $expr AS p FROM t WHERE $filter")
        plan_check "$m: per row $expr" "$plan"
        plan=$(q -c "$PARALLEL" -c "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
                                    CREATE TABLE ${m}_parallel_$k AS SELECT id, $expr AS p FROM t WHERE $filter")
        plan_check "$m: per row $expr (executed)" "$plan"
        workers=$(sed -n 's/^ *Workers Launched: \([0-9]*\)$/\1/p' <<<"$plan")
        [ -n "$workers" ] && [ "$workers" -ge 1 ] || fail "$m: per row $expr: no parallel worker launched: $plan"
        n=$(compare "${m}_serial" "${m}_parallel_$k" "$filter" "$m: per row $expr, parallel vs serial")
        echo "$m: $expr: $n rows, $workers workers launched, every prediction = serial; sum = serial"
    done
    # The float8 sum as the user writes it: under parallel query the
    # additions happen in another order, so it is equal up to rounding.
    fsum=$(q -c "$PARALLEL" -c "SELECT sum($predict) FROM t")
    q -c "SELECT abs('$fsum'::float8 - '$serial_fsum'::float8) <= 1e-9 * abs('$serial_fsum'::float8)" | grep -qx t \
        || fail "$m: sum($predict): parallel $fsum, serial $serial_fsum"
    echo "$m: sum of $serial_count predictions: as numeric exactly $serial_nsum serial and parallel;" \
         "as float8 $serial_fsum serial, $fsum parallel"
done

# ---------------------------------------------------------------- error path
# One row with three features instead of four, in the middle of the table
# (CLUSTER puts the updated row back in id order), so that a parallel scan
# meets it half-way, in whichever process scans that block.
q -c "UPDATE t SET x = ARRAY[1, 2, 3]::float8[] WHERE id = $((ROWS / 2))" -c "CLUSTER t USING t_pkey" -c "ANALYZE t"
q -c "SELECT (ctid::text::point)[0]::int, (SELECT relpages FROM pg_class WHERE relname = 't') FROM t WHERE id = $((ROWS / 2))" -F ' ' \
    | { read -r blk pages; echo "the row with 3 features is in block $blk of $pages"; }

# expect_error LABEL SETTINGS SQL: the statement fails with SQLSTATE 22023
# and the wrong-number-of-features message; prints the CONTEXT line.
expect_error() {
    local label=$1 settings=$2 sql=$3 out status
    set +e
    out=$(psql -X -q -At -v VERBOSITY=verbose -c "$settings" -c "$sql" 2>&1 >/dev/null)
    status=$?
    set -e
    [ $status -ne 0 ] || fail "$label: succeeded despite a row with 3 features"
    grep -q '^ERROR:  22023: wrong number of features for .*: got 3, expected 4' <<<"$out" \
        || { echo "$out" | sed 's/^/    /'; fail "$label: not the extension's error 22023"; }
    grep -qi 'terminat\|server closed the connection\|lost' <<<"$out" \
        && { echo "$out" | sed 's/^/    /'; fail "$label: the connection was lost"; }
    if grep -q 'parallel worker' <<<"$out"; then echo worker; else echo leader; fi
}

errors=0
from_worker=0
# predict with every model; the two score forms with one (the signature
# check is the same code for every family), on a fifth of the rows and the
# bad one
for expr in "mlops.predict('lin', x)" "mlops.predict('mlp', x)" "mlops.predict('trees', x)" \
            "mlops.score(mlops.compiled_model('lin'), x)" "mlops.score((SELECT mlops.compiled_model('lin')), x)"; do
    filter=true
    [[ "$expr" != *"score(mlops"* ]] || filter="$FIFTH OR id = $((ROWS / 2))"
    for sql in "SELECT sum($expr) FROM t WHERE $filter" "SELECT id, $expr FROM t WHERE $filter"; do
        plan=$(q -c "$PARALLEL" -c "EXPLAIN (VERBOSE, COSTS OFF) $sql")
        plan_check "error path: $sql" "$plan"
        for leader in on off; do
            where=$(expect_error "$sql (leader participation $leader)" \
                    "$PARALLEL SET parallel_leader_participation = $leader;" "$sql")
            errors=$((errors + 1))
            [ "$where" = worker ] && from_worker=$((from_worker + 1))
            # without the leader, only a worker can have raised it
            [ "$leader" = on ] || [ "$where" = worker ] \
                || fail "$sql: the error did not come from a parallel worker with the leader not participating"
        done
    done
done
echo "error path: $errors parallel queries failed with 22023 'wrong number of features' ($from_worker raised in a parallel worker)"
q -c "SELECT id FROM t WHERE cardinality(x) <> 4" | grep -qx $((ROWS / 2)) || fail "the bad row is gone"

# The server is fine: new connections work, no parallel worker is left over
# and no backend of this database is still active, the postmaster did not
# restart, and the log has no crash.
[ "$(psql -X -At -d postgres -c 'SELECT 1')" = 1 ] || fail "the server does not accept connections"
for _ in $(seq 1 50); do
    left=$(q -c "SELECT count(*) FROM pg_stat_activity
                  WHERE backend_type = 'parallel worker'
                     OR (datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle')")
    [ "$left" -eq 0 ] && break
    sleep 0.1
done
[ "$left" -eq 0 ] || fail "$left parallel workers or active backends are left over"
[ "$(q -c "SELECT pg_postmaster_start_time()")" = "$postmaster_start" ] || fail "the postmaster restarted"
# still scoring after all that, with the bad row left out
q -c "$PARALLEL" -c "SELECT count(mlops.predict('lin', x)) FROM t WHERE cardinality(x) = 4" \
    | grep -qx $((ROWS - ROWS / 5000 - 1)) || fail "scoring after the errors gives a wrong count"
if [ -r "$SERVER_LOG" ]; then
    crashes=$(tail -c +$((log_offset + 1)) "$SERVER_LOG" \
              | grep -c 'terminated by signal\|was terminated\|server process .* exited with exit code [^01]\|PANIC\|reinitializing\|database system was interrupted' || true)
    if [ "$crashes" -ne 0 ]; then
        tail -c +$((log_offset + 1)) "$SERVER_LOG" | grep -B2 -A2 'terminated\|PANIC\|reinitializing' | head -40 | sed 's/^/    /'
        fail "the server log has $crashes crash lines"
    fi
    worker_errors=$(tail -c +$((log_offset + 1)) "$SERVER_LOG" | grep -c 'background worker "parallel worker" (PID [0-9]*) exited with exit code 1' || true)
    echo "server log: no crash; $worker_errors parallel workers exited with an error (exit code 1, as expected)"
else
    echo "server log: $SERVER_LOG not readable, not checked"
fi
echo "ok: linear, mlp and trees give the same predictions under parallel and serial plans; errors in workers are clean"
