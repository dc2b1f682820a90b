#!/usr/bin/env bash
# tests/bench/train_bench.sh: mlops.train (issue: training in the database)
# against scikit-learn and XGBoost fitting the same model on the same rows
# in an external Python job, in one throwaway cluster.  A benchmark, not a
# test: it prints times, ratios and targets (PASS / MISS) and fails only
# when something errors.  Run by hand:
#
#   bash tests/bench/train_bench.sh                # 1M rows, 3 runs, per group (about 15 minutes)
#   FULL=1 bash tests/bench/train_bench.sh         # and peak memory at 1M and 10M rows (about 30 more)
#   SMOKE=1 bash tests/bench/train_bench.sh        # 50k rows, 1 run (under a minute)
#
# Data: tr (id, held, g, c1..c20, y_reg, y_bin), ROWS rows, random() after
# setseed(): c_j uniform on [j - 0.4 j, j + 0.4 j] (different centres and
# scales, so the standard scaler matters), y_reg a linear combination plus
# gaussian noise, y_bin drawn from a logistic model of the features with a
# non-linear term; held = random() < 0.25 (the split column: both sides
# train on the held = false rows and score the held = true ones); g =
# id % 100 (100 groups).  No NULLs.
#
# Timed, best of RUNS (each in a fresh session, round-robin):
#   mlops.train(..., algorithm => linear_regression | ridge (alpha 1) |
#       logistic_regression (C 1) | xgboost (max_depth 6, eta 0.3, max_bin
#       256, 50 rounds), split_column => 'held'), mlops.train_nthread = 1:
#       everything the call does (run, params, the dataset digest of
#       log_input, the fit, the held-out evaluation, logging, registering);
#   fit only: mlops._train_fit on the query train() builds: the read, the
#       fit and the evaluation, without the run, the digest and registering;
#   digest: mlops._relation_digest('tr'), the pass log_input makes;
#   python: connect, binary COPY of the 20 features, the target and held out
#       through psycopg2, parsed with numpy (fetch), then fit:
#       Pipeline(StandardScaler, LinearRegression | Ridge(alpha=1) |
#       LogisticRegression()) (lbfgs, tol 1e-4: the defaults), or
#       xgboost.train on a QuantileDMatrix with the same parameters and
#       nthread 1, and scoring the held-out rows (eval), all in the time.
# Per group: mlops.train with group_column => 'g' (100 versions) against the
# Python job fetching once and looping over the groups.
# Memory (FULL=1): the backend's VmHWM after training on tr (ROWS) and on
# big (BIG_ROWS, 10M), linear and logistic, a fresh session each.
#
# Knobs (environment): RUNS (3), ROWS (1000000), BIG_ROWS (10000000), TRAIN_MEMORY (64MB, the
# mlops.train_memory of the memory runs: both row counts spill past it), FULL
# (0), SMOKE (0), PER_GROUP (1: the per-group part).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROWS=${ROWS:-1000000}
BIG_ROWS=${BIG_ROWS:-10000000}
RUNS=${RUNS:-3}
FULL=${FULL:-0}
SMOKE=${SMOKE:-0}
PER_GROUP=${PER_GROUP:-1}
if [ "$SMOKE" = 1 ]; then
    ROWS=50000 RUNS=1 FULL=0
fi
export ROWS RUNS

bench_setup mlops_train_bench "numpy, sklearn, xgboost, psycopg2" "shared_buffers = 1GB" "work_mem = 64MB"

# create_table NAME ROWS SEED
create_table() {
    local name=$1 rows=$2 seed=$3 cols z
    cols=$(for j in $(seq 1 20); do printf ', %s + (random() - 0.5) * %s AS c%d' "$j" "$(awk -v j="$j" 'BEGIN {print 0.8 * j}')" "$j"; done)
    z=$(for j in $(seq 1 20); do printf ' + %s * (c%d - %d) / %d' "$(( (j * 7) % 11 - 5 ))" "$j" "$j" "$j"; done)
    psql_q >/dev/null <<SQL
SET max_parallel_workers_per_gather = 0;
SELECT setseed($seed);
CREATE TABLE $name AS
SELECT id, held, g, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20,
       1.5 $z + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS y_reg,
       (random() < 1 / (1 + exp(-(0.2 $z + 0.5 * (c1 - 1) * (c2 - 2)))))::int AS y_bin
  FROM (SELECT i AS id, random() < 0.25 AS held, i % 100 AS g $cols
          FROM generate_series(1, $rows) AS i) s;
ALTER TABLE $name SET (autovacuum_enabled = off);
VACUUM (FREEZE, ANALYZE) $name;
SQL
}

log "generating tr: $ROWS rows x 20 float8 features"
create_table tr "$ROWS" 0.42
log "tr: $(psql_q -At -c "SELECT pg_size_pretty(pg_table_size('tr'))"), $(psql_q -At -c "SELECT count(*) FILTER (WHERE NOT held) FROM tr") training rows"

log "timed runs: $RUNS rounds"
"$PY" "$BENCH_DIR/train_bench.py" time "$WORK"
if [ "$PER_GROUP" = 1 ]; then
    log "per group: $RUNS rounds"
    "$PY" "$BENCH_DIR/train_bench.py" groups "$WORK"
fi

if [ "$FULL" = 1 ]; then
    log "peak memory at $ROWS rows"
    "$PY" "$BENCH_DIR/train_bench.py" memory "$WORK" tr
    psql_q -c "DROP TABLE tr"
    log "generating big: $BIG_ROWS rows (df -h /tmp: $(df -h /tmp | awk 'NR == 2 {print $4}') free)"
    create_table big "$BIG_ROWS" 0.43
    log "big: $(psql_q -At -c "SELECT pg_size_pretty(pg_table_size('big'))")"
    "$PY" "$BENCH_DIR/train_bench.py" memory "$WORK" big
fi

echo
echo "mlops training benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "jit=$(psql_q -At -c 'SHOW jit'), shared_buffers=$(psql_q -At -c 'SHOW shared_buffers')," \
     "load average at end $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - START)) s in all"
echo "tr: $ROWS rows x 20 float8 features (+ y_reg, y_bin, held, g), RUNS=$RUNS"
"$PY" "$BENCH_DIR/train_bench.py" report "$WORK"
