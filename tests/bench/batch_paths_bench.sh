#!/usr/bin/env bash
# tests/bench/batch_paths_bench.sh: batch_score's fast path, one model per
# path, on the 1M-row table of batch_bench.sh.  A benchmark, not a test: it
# prints medians and ratios and fails only on wrong results.  Run by hand:
#
#   bash tests/bench/batch_paths_bench.sh
#
# Models (trained on the first TRAIN_ROWS rows, 50,000; registered, checked
# against their library on 2,000 other rows):
#   bench_lr   sklearn LogisticRegression          -> row path (one output: a dot
#              product per row, which chunks do not make faster)
#   bench_mlp  sklearn MLPClassifier (64, 64) relu  -> chunked path (matrix
#              products through OpenBLAS, mlops.batch_chunk_rows rows at a time)
#   bench_mlpw sklearn MLPClassifier (256, 128) relu -> chunked path
#   bench_xgb  XGBoost, 100 trees of depth 6       -> parallel path (scored by
#              a parallel CREATE TEMP TABLE AS, then copied into the target)
#
# For each model, into a target that already holds the previous run's 1M rows:
#   a) CALL mlops.batch_score(model, 't', target, features => 'x'), replace mode
#   b) batch_score's row path by hand: the DELETE and the INSERT .. SELECT
#      mlops.predict() per row it executed before the fast path, same target
#      layout (what the fast path replaced)
#   c) TRUNCATE + INSERT INTO .. SELECT id, mlops.predict(model, x) FROM t
#      (the plain SQL way; a narrower target, and TRUNCATE instead of DELETE)
#   d) the external job of scoring_bench.py: binary COPY out, the library's
#      own predict (sklearn predict_proba, XGBoost Booster.predict), TRUNCATE
#      + binary COPY in, one transaction
# Protocol as batch_bench.sh: targets filled once untimed; before each timed
# run, untimed, VACUUM of a DELETE-ing target and a CHECKPOINT; medians of
# RUNS (5) rounds, round-robin; each measurement keeps its own session.
# Checks: every way wrote 1M rows; a) equals predict() per row (bit for bit
# on the row and parallel paths, to 1e-12 relative for the MLP, whose matrix
# products sum in another order); the library within 1e-9
# (sklearn) or 1e-6 (XGBoost, float32) of predict().
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROWS=1000000
export RUNS=${RUNS:-5} VACUUM_TARGETS=${VACUUM_TARGETS:-1} TRAIN_ROWS=${TRAIN_ROWS:-50000}

bench_setup mlops_batch_paths_bench "sklearn, xgboost, psycopg2, numpy"

log "generating t ($ROWS rows, x float8[20]) as batch_bench.sh does"
bench_create_t "$ROWS"
psql_q -c "VACUUM (FREEZE, ANALYZE) t"

log "training, exporting and registering bench_lr, bench_mlp, bench_mlpw, bench_xgb"
"$PY" "$BENCH_DIR/batch_paths_bench.py" train "$WORK"

log "creating and filling the targets (untimed)"
for m in lr mlp mlpw xgb; do
    psql_q >/dev/null <<SQL
CALL mlops.batch_score('bench_$m', 't', 'fast_$m', key_columns => ARRAY['id'], features => 'x');
CREATE TABLE row_$m (LIKE fast_$m);
INSERT INTO row_$m SELECT * FROM fast_$m;
CREATE TABLE ins_$m (id int, prediction float8);
CREATE TABLE ext_$m (id int, prediction float8);
ALTER TABLE fast_$m SET (autovacuum_enabled = off);
ALTER TABLE row_$m SET (autovacuum_enabled = off);
ALTER TABLE ins_$m SET (autovacuum_enabled = off);
ALTER TABLE ext_$m SET (autovacuum_enabled = off);
VACUUM fast_$m, row_$m;
SQL
done

log "timed runs: $RUNS rounds"
"$PY" "$BENCH_DIR/batch_paths_bench.py" time "$WORK"

echo
echo "mlops batch scoring paths benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "max_parallel_workers_per_gather=$(psql_q -At -c 'SHOW max_parallel_workers_per_gather')," \
     "mlops.batch_chunk_rows=$(psql_q -At -c "LOAD 'mlops'" -c 'SHOW mlops.batch_chunk_rows'), jit=$(psql_q -At -c 'SHOW jit')," \
     "load average at end $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - START)) s in all"
echo "t: $ROWS rows, 20 features as x float8[] ($(psql_q -At -c "SELECT pg_size_pretty(pg_table_size('t'))"));" \
     "medians of $RUNS runs, round-robin; VACUUM + CHECKPOINT before each run (untimed)"
echo
"$PY" "$BENCH_DIR/batch_paths_bench.py" report "$WORK"
echo "(figures are noisy when other work shares the machine)"
