#!/usr/bin/env bash
# tests/bench/tracking_bench.sh: logging throughput of mlops.log_metric and
# mlops.log_batch against plain INSERTs into an equivalent table, measured in
# the same throwaway cluster.  A benchmark, not a test: it prints figures and
# ratios and never fails on them.  Run by hand:
#
#   bash tests/bench/tracking_bench.sh
#
# Every measurement is a single-client pgbench run (-c 1 -n, fixed number of
# transactions), repeated ROUNDS times; the median is reported.  The mlops and
# plain rounds alternate so that background noise hits both alike.  Each round
# logs to a fresh RUNNING run (and a fresh run_id in the plain table).
#
# Knobs (environment): ROUNDS (5), SINGLE_TX (transactions per single-row
# round, 30000), BATCH_TX (batches per batch round, 300), PGBENCH_MODE
# (pgbench query mode, prepared).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

ROUNDS=${ROUNDS:-5}
SINGLE_TX=${SINGLE_TX:-30000}
BATCH_TX=${BATCH_TX:-300}
PGBENCH_MODE=${PGBENCH_MODE:-prepared}
BATCH_POINTS=1000
BATCH_KEYS=10
TARGET_BATCH_MS=20

bench_setup mlops_tracking_bench

log "preparing tables and ${BATCH_POINTS}-point batch documents"
psql_q >/dev/null <<SQL
-- Same columns and index as mlops.metric_history; no latest table.
CREATE TABLE bench_plain (
    run_id    bigint NOT NULL,
    key       text NOT NULL,
    value     double precision NOT NULL,
    step      bigint NOT NULL DEFAULT 0,
    logged_at timestamptz NOT NULL
);
CREATE INDEX bench_plain_by_run_key_step ON bench_plain (run_id, key, step, logged_at);

-- One document per batch of a round: $BATCH_POINTS points over $BATCH_KEYS keys,
-- step-major (all keys at one step, then the next step), steps increasing
-- from one document to the next, timestamps in ms since the epoch.
CREATE TABLE bench_docs (id int PRIMARY KEY, doc jsonb NOT NULL);
INSERT INTO bench_docs (id, doc)
SELECT d, jsonb_build_object('metrics', jsonb_agg(jsonb_build_object(
           'key', 'metric_' || (i % $BATCH_KEYS),
           'value', round(random()::numeric, 6),
           'step', (d - 1) * ($BATCH_POINTS / $BATCH_KEYS) + i / $BATCH_KEYS,
           'timestamp', 1700000000000 + (d - 1) * $BATCH_POINTS + i) ORDER BY i))
  FROM generate_series(1, $BATCH_TX) AS d, generate_series(0, $BATCH_POINTS - 1) AS i
 GROUP BY d;
VACUUM ANALYZE bench_docs;

SELECT mlops.set_experiment('bench');
SQL
doc_bytes=$(psql_q -At -c "SELECT round(avg(pg_column_size(doc))) || ' bytes stored, ' || round(avg(octet_length(doc::text))) || ' chars as text' FROM bench_docs")
log "batch documents: $doc_bytes"

cat >"$WORK/single_mlops.sql" <<'SQL'
\set step :step + 1
SELECT mlops.log_metric(:run, 'loss', random(), :step);
SQL
cat >"$WORK/single_plain.sql" <<'SQL'
\set step :step + 1
INSERT INTO bench_plain (run_id, key, value, step, logged_at) VALUES (:run, 'loss', random(), :step, clock_timestamp());
SQL
cat >"$WORK/batch_mlops.sql" <<'SQL'
\set doc :doc + 1
SELECT mlops.log_batch(:run, doc) FROM bench_docs WHERE id = :doc;
SQL
cat >"$WORK/batch_plain.sql" <<'SQL'
\set doc :doc + 1
INSERT INTO bench_plain (run_id, key, value, step, logged_at)
SELECT :run, m.key, m.value, m.step, to_timestamp(m."timestamp" / 1000.0)
  FROM bench_docs d,
       jsonb_to_recordset(d.doc -> 'metrics') AS m(key text, value float8, step bigint, "timestamp" bigint)
 WHERE d.id = :doc;
SQL

plain_run=1000000000   # run_ids for the plain table, far from mlops' own

# pgbench_tps SCRIPT TRANSACTIONS RUN_ID -> transactions per second
pgbench_tps() {
    local out
    psql_q -c "CHECKPOINT"
    out=$(pgbench -n -c 1 -j 1 -M "$PGBENCH_MODE" -t "$2" -D run="$3" -D step=0 -D doc=0 \
          -f "$1" 2>&1) || { echo "$out" >&2; return 1; }
    if ! grep -q "number of failed transactions: 0 " <<<"$out" && grep -q "number of failed" <<<"$out"; then
        echo "$out" >&2; return 1
    fi
    sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out"
}

new_run() { psql_q -At -c "SELECT mlops.start_run('bench', '$1')"; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

single_mlops=() single_plain=() batch_mlops=() batch_plain=()

log "a) single-row logging: $ROUNDS rounds x $SINGLE_TX transactions each side (pgbench -M $PGBENCH_MODE)"
for r in $(seq 1 "$ROUNDS"); do
    run=$(new_run "single-$r")
    t_m=$(pgbench_tps "$WORK/single_mlops.sql" "$SINGLE_TX" "$run")
    plain_run=$((plain_run + 1))
    t_p=$(pgbench_tps "$WORK/single_plain.sql" "$SINGLE_TX" "$plain_run")
    single_mlops+=("$t_m"); single_plain+=("$t_p")
    printf '   round %d: log_metric %10.1f points/s   plain INSERT %10.1f rows/s\n' "$r" "$t_m" "$t_p"
done

log "b) batches of $BATCH_POINTS points: $ROUNDS rounds x $BATCH_TX batches each side"
for r in $(seq 1 "$ROUNDS"); do
    run=$(new_run "batch-$r")
    t_m=$(pgbench_tps "$WORK/batch_mlops.sql" "$BATCH_TX" "$run")
    plain_run=$((plain_run + 1))
    t_p=$(pgbench_tps "$WORK/batch_plain.sql" "$BATCH_TX" "$plain_run")
    batch_mlops+=("$t_m"); batch_plain+=("$t_p")
    printf '   round %d: log_batch %8.2f ms/batch   plain INSERT..SELECT %8.2f ms\n' \
        "$r" "$(echo "1000 / $t_m" | bc -l)" "$(echo "1000 / $t_p" | bc -l)"
done

# Sanity: everything was written, and latest_metrics agrees with the history.
psql_q -At <<'SQL' >"$WORK/check.txt"
SELECT 'metric_history rows: ' || count(*) FROM mlops.metric_history;
SELECT 'bench_plain rows:    ' || count(*) FROM bench_plain;
SELECT 'latest_metrics rows disagreeing with history: ' || count(*)
  FROM mlops.latest_metrics l
  JOIN LATERAL (SELECT h.step, h.logged_at, h.value FROM mlops.metric_history h
                 WHERE h.run_id = l.run_id AND h.key = l.key
                 ORDER BY h.step DESC, h.logged_at DESC, h.value DESC LIMIT 1) h ON true
 WHERE (h.step, h.logged_at, h.value) IS DISTINCT FROM (l.step, l.logged_at, l.value);
SQL
sed 's/^/   /' "$WORK/check.txt"

sm=$(printf '%s\n' "${single_mlops[@]}" | median)
sp=$(printf '%s\n' "${single_plain[@]}" | median)
bm=$(printf '%s\n' "${batch_mlops[@]}" | median)
bp=$(printf '%s\n' "${batch_plain[@]}" | median)
bm_ms=$(echo "1000 / $bm" | bc -l)
bp_ms=$(echo "1000 / $bp" | bc -l)

echo
echo "mlops tracking benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "single client, pgbench -n -M $PGBENCH_MODE, median of $ROUNDS rounds" \
     "($SINGLE_TX single-row / $BATCH_TX batch transactions per round)"
echo
printf 'single log_metric: %9.0f points/s   plain INSERT:         %9.0f rows/s   ratio %.2fx\n' \
    "$sm" "$sp" "$(echo "$sp / $sm" | bc -l)"
printf 'log_batch(%d):   %9.2f ms/batch (%.0f points/s)   plain INSERT..SELECT: %.2f ms (%.0f rows/s)   ratio %.2fx\n' \
    "$BATCH_POINTS" "$bm_ms" "$(echo "$bm * $BATCH_POINTS" | bc -l)" "$bp_ms" "$(echo "$bp * $BATCH_POINTS" | bc -l)" \
    "$(echo "$bm_ms / $bp_ms" | bc -l)"
echo
if [ "$(echo "$bm_ms < $TARGET_BATCH_MS" | bc -l)" -eq 1 ]; then
    printf 'target "a batch of %d metric points in under %d ms": MET (%.2f ms)\n' "$BATCH_POINTS" "$TARGET_BATCH_MS" "$bm_ms"
else
    printf 'target "a batch of %d metric points in under %d ms": NOT MET (%.2f ms)\n' "$BATCH_POINTS" "$TARGET_BATCH_MS" "$bm_ms"
fi
echo "(ratios are plain/mlops throughput; figures are noisy when other work shares the machine)"
