#!/usr/bin/env bash
# slow
# tests/integration/concurrency_metrics.sh: 8 clients log metrics to the same
# few runs for 30 s (CONCURRENCY_SECONDS overrides the duration).  Proves that
# every logged point is in mlops.metric_history, that mlops.latest_metrics
# holds the true latest point of every (run, key), and that nothing failed:
# no errors, no deadlocks, no serialization failures.
#
# Workload (pgbench, 8 clients, 2 threads, two scripts weighted 4:1):
#  * single.sql: one mlops.log_metric() on a random run and key, random step
#    in 0..1000 (so steps arrive out of order and repeat), a value in
#    {0.0, 0.1, ..., 0.9}, and logged_at one of: now, a fixed time in the
#    past, two fixed times in the future.  Fixed times make (step, logged_at)
#    ties common, so the value has to break them (down to exact duplicates),
#    and the future ones make the final latest point of every (run, key) one
#    of those ties (step 1000, the later future time, the highest value).
#  * batch.sql: one mlops.log_batch() with POINTS_PER_BATCH points over all
#    three keys (each twice, in random order) on a random run, values in
#    {1.0, ..., 1.9}: several latest_metrics rows locked by one statement,
#    concurrently with other batches and single points on the same rows,
#    which is where an inconsistent lock order would deadlock.
# Three runs times three keys is nine latest_metrics rows for eight clients,
# so statements constantly wait on one another's row locks.
#
# Counting: every pgbench transaction is one autocommitted statement, so a
# transaction pgbench counts as successful is exactly one committed call.
# The split between the two scripts comes from pgbench's per-transaction log
# (-l: one line per finished transaction, "client_id transaction_no latency
# script_no epoch usec", with "failed"/"serialization"/"deadlock" in place of
# the latency for a failed one), whose total must equal the summary's
# "number of transactions actually processed".  Both are kept per thread.
# The per-script " - N transactions" lines of the summary are printed but not
# used: pgbench 15 adds to those shared counters from all threads without a
# lock ("XXX could use a mutex here, but we choose not to"), so with -j 2 they
# lose a few increments (seen: 54113 + 13620 against a total of 67751).
# Single points have values < 1 and batch points values >= 1, so the history
# is checked per script, not just in total:
#   history rows with value < 1  = single-script transactions
#   history rows with value >= 1 = batch-script transactions * POINTS_PER_BATCH
source "$(dirname "$0")/../lib/testdb.sh"

PGBENCH=/usr/lib/postgresql/15/bin/pgbench
DURATION=${CONCURRENCY_SECONDS:-30}
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || fail "CONCURRENCY_SECONDS must be a positive integer, not '$DURATION'"
CLIENTS=8
THREADS=2
POINTS_PER_BATCH=6

work=$(mktemp -d /tmp/mlops-concurrency.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"; drop_test_db' EXIT

# ---------------------------------------------------------------- setup
q -c "SELECT mlops.set_experiment('concurrency')" >/dev/null
runs=$(q -c "SELECT string_agg(mlops.start_run('concurrency', 'run-' || i)::text, ',' ORDER BY i)
               FROM generate_series(1, 3) AS i")
[[ "$runs" =~ ^[0-9]+,[0-9]+,[0-9]+$ ]] || fail "could not start three runs (got '$runs')"
echo "runs: $runs"

# :runs is substituted as text, so ARRAY[:runs] is ARRAY[r1,r2,r3]
cat >"$work/single.sql" <<'EOF'
\set r random(1, 3)
\set k random(1, 3)
\set v random(0, 9)
\set step random(0, 1000)
\set ts random(0, 3)
SELECT mlops.log_metric((ARRAY[:runs]::bigint[])[:r], (ARRAY['acc', 'f1', 'loss'])[:k],
                        (:v / 10.0)::float8, :step,
                        CASE :ts WHEN 0 THEN NULL
                                 WHEN 1 THEN timestamptz '2000-01-01 00:00:00+00'
                                 ELSE timestamptz '2100-01-01 00:00:00+00' + (:ts - 2) * interval '1 second' END);
EOF

# The document is built server-side: six points, keys in random order, steps
# in 0..1000, values 1.0..1.9, and the same four kinds of timestamp as above
# (null means "now" to log_batch).
cat >"$work/batch.sql" <<'EOF'
\set r random(1, 3)
SELECT mlops.log_batch((ARRAY[:runs]::bigint[])[:r], jsonb_build_object('metrics', (
    SELECT jsonb_agg(jsonb_build_object(
               'key', k,
               'value', 1 + floor(random() * 10) / 10,
               'step', floor(random() * 1001)::int,
               'timestamp', CASE floor(random() * 4)
                                 WHEN 0 THEN NULL
                                 WHEN 1 THEN '2000-01-01T00:00:00Z'
                                 WHEN 2 THEN '2100-01-01T00:00:00Z'
                                 ELSE '2100-01-01T00:00:01Z' END)
           ORDER BY random())
      FROM unnest(ARRAY['loss', 'f1', 'acc', 'loss', 'f1', 'acc']) AS k)));
EOF

stat_query="SELECT deadlocks, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
stats0=$(q -F ' ' -c "$stat_query")
read -r deadlocks0 rollbacks0 <<<"$stats0"

# ---------------------------------------------------------------- load
echo "pgbench: $CLIENTS clients, $THREADS threads, ${DURATION} s, single.sql@4 batch.sql@1"
set +e
(cd "$work" && "$PGBENCH" -n -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
    -D runs="$runs" --failures-detailed --verbose-errors \
    -l --log-prefix="$work/txlog" \
    -f "$work/single.sql@4" -f "$work/batch.sql@1") >"$work/pgbench.out" 2>"$work/pgbench.err"
status=$?
set -e
sed 's/^/  | /' "$work/pgbench.out"
if [ -s "$work/pgbench.err" ]; then
    echo "pgbench stderr:"
    head -40 "$work/pgbench.err" | sed 's/^/  ! /'
fi
[ $status -eq 0 ] || fail "pgbench exited with status $status"

out="$work/pgbench.out"
# the summary's own figure for one field, e.g. field 'number of failed transactions'
summary() { sed -n "s/^$1: \([0-9][0-9]*\).*/\1/p" "$out" | head -1; }
total_tx=$(summary 'number of transactions actually processed')
failed_tx=$(summary 'number of failed transactions')
serialization_failures=$(summary 'number of serialization failures')
deadlock_failures=$(summary 'number of deadlock failures')
tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out" | head -1)
for v in total_tx failed_tx serialization_failures deadlock_failures tps; do
    [ -n "${!v}" ] || fail "could not read $v from the pgbench output (see above)"
done
grep -q '^SQL script 1: .*/single\.sql$' "$out" && grep -q '^SQL script 2: .*/batch\.sql$' "$out" \
    || fail "pgbench did not number the scripts as expected (single.sql 1, batch.sql 2)"
! grep -qi 'abort' "$out" || fail "pgbench reports aborted clients"
# every "number of failed transactions", overall and per script, must be 0
! grep -E 'number of (failed transactions|serialization failures|deadlock failures): [1-9]' "$out" \
    || fail "pgbench reports failed transactions: $failed_tx (serialization $serialization_failures, deadlock $deadlock_failures)"
[ "$failed_tx" -eq 0 ] && [ "$serialization_failures" -eq 0 ] && [ "$deadlock_failures" -eq 0 ] \
    || fail "pgbench reports failed transactions: $failed_tx (serialization $serialization_failures, deadlock $deadlock_failures)"

# pgbench prints nothing on stderr in a clean run; anything there (an error
# message, an aborted client, a failed transaction) is a failure.
[ ! -s "$work/pgbench.err" ] || fail "pgbench wrote to stderr (see above)"

# The per-transaction log, one file per thread: txlog.<pid> and txlog.<pid>.<n>.
compgen -G "$work/txlog.*" >/dev/null || fail "pgbench wrote no transaction log"
txcounts=$(cat "$work"/txlog.* | awk '
    NF < 6 { bad++; next }
    $3 !~ /^[0-9]+$/ { failed++; next }
    $4 == 0 { s++; next }
    $4 == 1 { b++; next }
    { bad++ }
    END { printf "%d %d %d %d\n", s, b, failed, bad }')
read -r single_tx batch_tx log_failed log_bad <<<"$txcounts"
[ "$log_failed" -eq 0 ] || fail "the transaction log has $log_failed failed transactions"
[ "$log_bad" -eq 0 ] || fail "the transaction log has $log_bad lines that are not a transaction of script 0 or 1"
[ $((single_tx + batch_tx)) -eq "$total_tx" ] \
    || fail "the transaction log ($single_tx single + $batch_tx batch) disagrees with the summary's total ($total_tx)"
[ "$single_tx" -gt 0 ] && [ "$batch_tx" -gt 0 ] || fail "a script never ran (single $single_tx, batch $batch_tx)"

# ---------------------------------------------------------------- checks
expected_single=$single_tx
expected_batch=$((batch_tx * POINTS_PER_BATCH))
expected_points=$((expected_single + expected_batch))
hist=$(q -F ' ' -c "
    SELECT count(*), count(*) FILTER (WHERE value < 1), count(*) FILTER (WHERE value >= 1),
           count(*) FILTER (WHERE run_id <> ALL (ARRAY[$runs]::bigint[]) OR key NOT IN ('acc', 'f1', 'loss'))
      FROM mlops.metric_history")
read -r hist_total hist_single hist_batch hist_foreign <<<"$hist"

echo "transactions: $total_tx (single $single_tx, batch $batch_tx), failed $failed_tx," \
     "serialization failures $serialization_failures, deadlock failures $deadlock_failures"
echo "points: expected $expected_points (single $expected_single + batch $batch_tx x $POINTS_PER_BATCH = $expected_batch)," \
     "in metric_history $hist_total (single $hist_single, batch $hist_batch)"
echo "tps: $tps"

[ "$hist_foreign" -eq 0 ] || fail "$hist_foreign history rows for a run or key that was never logged to"
[ "$hist_single" -eq "$expected_single" ] \
    || fail "metric_history has $hist_single single points, pgbench committed $expected_single"
[ "$hist_batch" -eq "$expected_batch" ] \
    || fail "metric_history has $hist_batch batch points, pgbench committed $batch_tx batches of $POINTS_PER_BATCH = $expected_batch"
[ "$hist_total" -eq "$expected_points" ] \
    || fail "metric_history has $hist_total points, expected $expected_points"

# latest_metrics against the history: the latest point per (run, key) by
# (step, logged_at, value), compared as whole rows in both directions.
diff_rows=$(q -F ' | ' -c "
    WITH truth AS (
        SELECT DISTINCT ON (run_id, key) run_id, key, value, step, logged_at
          FROM mlops.metric_history
         ORDER BY run_id, key, step DESC, logged_at DESC, value DESC),
    latest AS (SELECT run_id, key, value, step, logged_at FROM mlops.latest_metrics)
    SELECT 'history has this latest point, latest_metrics does not' AS problem, *
      FROM (SELECT * FROM truth EXCEPT SELECT * FROM latest) a
    UNION ALL
    SELECT 'latest_metrics has this row, it is not the latest in history', *
      FROM (SELECT * FROM latest EXCEPT SELECT * FROM truth) b
    ORDER BY 2, 3, 1")
if [ -n "$diff_rows" ]; then
    head -40 <<<"$diff_rows" | sed 's/^/  /'
    fail "mlops.latest_metrics is not the latest point of mlops.metric_history"
fi
pairs=$(q -c "SELECT count(*) FROM mlops.latest_metrics")
[ "$pairs" -eq 9 ] || fail "latest_metrics has $pairs rows, expected 9 (3 runs x 3 keys)"
echo "latest_metrics: $pairs rows, each the latest point of its (run, key) in metric_history"
q -F ' ' -c "SELECT '  ', run_id, key, step, logged_at, value FROM mlops.latest_metrics ORDER BY run_id, key"

# The runs are untouched: still RUNNING and active.
running=$(q -c "SELECT count(*) FROM mlops.runs WHERE run_id = ANY (ARRAY[$runs]::bigint[])
                   AND status = 'RUNNING' AND lifecycle_stage = 'active'")
[ "$running" -eq 3 ] || fail "only $running of the 3 runs are still RUNNING and active"

# No deadlock and no failed transaction anywhere in this database, from the
# server's own statistics.  This also covers a failure pgbench would not
# count: one in a statement still running when the -T timer expires.  A
# backend flushes its statistics before it leaves pg_stat_activity, so wait
# for pgbench's connections to be gone before reading them.
for _ in $(seq 1 100); do
    others=$(q -c "SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND backend_type = 'client backend'
                      AND pid <> pg_backend_pid()")
    [ "$others" -eq 0 ] && break
    sleep 0.1
done
stats1=$(q -F ' ' -c "$stat_query")
read -r deadlocks1 rollbacks1 <<<"$stats1"
echo "server statistics for this database during the run: deadlocks $((deadlocks1 - deadlocks0))," \
     "rolled back transactions $((rollbacks1 - rollbacks0))"
[ "$deadlocks1" -eq "$deadlocks0" ] || fail "the server detected $((deadlocks1 - deadlocks0)) deadlocks"
[ "$rollbacks1" -eq "$rollbacks0" ] || fail "$((rollbacks1 - rollbacks0)) transactions were rolled back"

echo "ok: $expected_points points from $total_tx transactions by $CLIENTS clients in ${DURATION} s, all in history; latest_metrics correct"
