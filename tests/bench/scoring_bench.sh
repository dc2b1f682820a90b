#!/usr/bin/env bash
# tests/bench/scoring_bench.sh: native scoring (mlops.predict / mlops.score)
# against the usual alternatives, on one 1M-row table of 20 features, in one
# throwaway cluster.  A benchmark, not a test: it prints medians and ratios,
# reports the targets as met or not, and fails only on wrong results.  Run by
# hand:
#
#   bash tests/bench/scoring_bench.sh
#
# The table t has id, x float8[20] and the same values again as plain columns
# f1..f20 (and a label y, used only for training); random() after setseed(),
# so every run has the same data.  t20k holds its first 20,000 rows.
#
#   a) bare scans.  The baseline is SELECT sum(x[1]) FROM t: it reads every
#      tuple, deforms it up to x, touches the array and feeds one float8 per
#      row to sum(), which is exactly the work around the model call in
#      SELECT sum(mlops.predict('m', x)) FROM t, without the model.
#      SELECT count(*) FROM t (no deforming at all) is reported too.
#   b) the same logistic regression as a plain SQL expression over f1..f20,
#      1/(1+exp(-(b + w1*f1 + ... + w20*f20))), aggregated with sum().
#   c) PL/Python (plpython3u) with the sklearn model unpickled once per
#      session (SD): predict_proba per row, measured on t20k and multiplied
#      by 50 (a full 1M-row run would take minutes; the extrapolation is
#      stated in the output), and per 10k-row batch (array_agg over
#      GROUP BY (id - 1) / 10000, the probabilities unnested and summed).
#   d) an external Python job, end to end: connect, COPY (SELECT id, x FROM t)
#      TO STDOUT (FORMAT binary), parse with numpy, predict_proba, binary COPY
#      of (id, p) into a table, commit.  The model is already loaded in the
#      job's process (as mlops has it registered); Python's start-up and
#      imports are not counted.
#   e) sum(mlops.predict('bench_logreg', x)); sum(mlops.score(c, x)) with c
#      from mlops.compiled_model() in a one-row WITH ... AS MATERIALIZED
#      (a plain CTE is pulled up into the query and compiled_model() then
#      runs once per row: shown too, on t20k x 50, as the pitfall it is);
#      and INSERT INTO a table SELECT id, mlops.predict(..) (the in-database
#      counterpart of d).
#   f) a 100-tree, depth-6 GradientBoostingClassifier (trained on the first
#      GBM_TRAIN_ROWS rows), converted to the trees format: mlops.predict
#      (sum, and INSERT INTO a table) against the external job and PL/Python
#      10k-row batches.
#   g) a 100-tree, depth-6 XGBoost binary:logistic model (python3-xgboost,
#      tree_method hist, trained on the same GBM_TRAIN_ROWS rows), registered
#      as XGBoost saved it (its JSON): mlops.predict (sum, and INSERT INTO a
#      table) against XGBoost's own predict in the external job (as in d, with
#      DMatrix + Booster.predict), in PL/Python per row (DMatrix of one row +
#      Booster.predict; t20k x 50) and per 10k-row batch.  XGBoost runs with
#      its default thread count (all cores) wherever it is called.
#
# In-database timings use serial plans (max_parallel_workers_per_gather = 0)
# unless marked [2 workers]; the targets are judged on the serial figures.
# Each figure is the median of RUNS_FAST (5) or, for the slow ones, RUNS_SLOW
# (3) runs, measured round-robin (round 1 of everything, then round 2, ...)
# so that background load hits all alike; each measurement keeps its own
# session (model caches warm, as in a real session) and runs one untimed
# warm-up first where a session-level cache is filled.  The JIT is left at
# the server default (shown in the output).
#
# Also: EXPLAIN ANALYZE of the mlops.predict query with 2 workers (Gather +
# Parallel Seq Scan); serial and parallel sums compared to 1e-9 relative;
# mlops against sklearn on 2,000 rows per model (1e-9); all the ways of
# computing one sum against each other (1e-9); and memory: one serial query
# scoring MEM_FACTOR x 1M rows (t scanned MEM_FACTOR times) while the shell
# samples the backend's /proc/<pid>/status every 0.5 s (VmRSS, VmHWM and its
# RssAnon / RssFile / RssShmem parts), before and during the query.
#
# Knobs (environment): RUNS_FAST (5), RUNS_SLOW (3), GBM_TRAIN_ROWS (30000),
# MEM_FACTOR (10), PERF (0; 1 = perf profile of the serial mlops.predict
# queries, printed before the table), ONLY (comma-separated measurement keys
# of scoring_bench.py for a partial run; include scan, the baseline).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROWS=1000000
MEM_FACTOR=${MEM_FACTOR:-10}
PERF=${PERF:-0}
export RUNS_FAST=${RUNS_FAST:-5} RUNS_SLOW=${RUNS_SLOW:-3} GBM_TRAIN_ROWS=${GBM_TRAIN_ROWS:-30000} BATCH_ROWS=10000

bench_setup mlops_scoring_bench "sklearn, psycopg2, numpy, xgboost"
psql_q -c "CREATE EXTENSION plpython3u"

# ---------------------------------------------------------------------------
log "generating t: $ROWS rows, x float8[20] and f1..f20 (setseed, random())"
bench_create_t "$ROWS" "$(for j in $(seq 1 20); do printf 'x[%d] AS f%d, ' "$j" "$j"; done)"
psql_q >/dev/null <<SQL
CREATE TABLE t20k AS SELECT * FROM t WHERE id <= 20000 ORDER BY id;
-- the batches' GROUP BY key, so that the planner knows there are few groups (HashAggregate)
CREATE STATISTICS t_batch ON ((id - 1) / $BATCH_ROWS) FROM t;
VACUUM (FREEZE, ANALYZE) t;
VACUUM (FREEZE, ANALYZE) t20k;

CREATE TABLE scores_ext (id int, p float8);
CREATE TABLE scores_mlops (id int, p float8);

-- sklearn models, pickled by scoring_bench.py train
CREATE TABLE bench_pickles (name text PRIMARY KEY, data bytea NOT NULL);

-- The usual in-database Python: the model unpickled once per session (SD).
CREATE FUNCTION bench_plpy_proba(model text, x float8[]) RETURNS float8
LANGUAGE plpython3u STRICT AS \$\$
import numpy as np
m = SD.get(model)
if m is None:
    import pickle
    rows = plpy.execute(plpy.prepare("SELECT data FROM bench_pickles WHERE name = \$1", ["text"]), [model])
    m = SD[model] = pickle.loads(rows[0]["data"])
return float(m.predict_proba(np.array([x], dtype=np.float64))[0, 1])
\$\$;

-- A batch: xs is a 2-D array (array_agg of the rows' x), one row per sample.
CREATE FUNCTION bench_plpy_proba_batch(model text, xs float8[]) RETURNS float8[]
LANGUAGE plpython3u STRICT AS \$\$
import numpy as np
m = SD.get(model)
if m is None:
    import pickle
    rows = plpy.execute(plpy.prepare("SELECT data FROM bench_pickles WHERE name = \$1", ["text"]), [model])
    m = SD[model] = pickle.loads(rows[0]["data"])
return m.predict_proba(np.array(xs, dtype=np.float64))[:, 1].tolist()
\$\$;

-- The same with an XGBoost Booster (pickled): DMatrix + Booster.predict, per row and per batch.
CREATE FUNCTION bench_plpy_xgb(model text, x float8[]) RETURNS float8
LANGUAGE plpython3u STRICT AS \$\$
import numpy as np
import xgboost as xgb
m = SD.get(model)
if m is None:
    import pickle
    rows = plpy.execute(plpy.prepare("SELECT data FROM bench_pickles WHERE name = \$1", ["text"]), [model])
    m = SD[model] = pickle.loads(rows[0]["data"])
return float(m.predict(xgb.DMatrix(np.array([x], dtype=np.float64), feature_names=m.feature_names))[0])
\$\$;

CREATE FUNCTION bench_plpy_xgb_batch(model text, xs float8[]) RETURNS float8[]
LANGUAGE plpython3u STRICT AS \$\$
import numpy as np
import xgboost as xgb
m = SD.get(model)
if m is None:
    import pickle
    rows = plpy.execute(plpy.prepare("SELECT data FROM bench_pickles WHERE name = \$1", ["text"]), [model])
    m = SD[model] = pickle.loads(rows[0]["data"])
return m.predict(xgb.DMatrix(np.array(xs, dtype=np.float64), feature_names=m.feature_names)).astype(np.float64).tolist()
\$\$;
SQL
psql_q -At -c "SELECT 't: ' || pg_size_pretty(pg_table_size('t')) || ', ' || count(*) || ' rows, mean label ' || round(avg(y), 4) FROM t" \
    | sed 's/^/   /' >&2

# ---------------------------------------------------------------------------
log "training, exporting and registering the models (bench_logreg, bench_gbm, bench_xgb)"
"$PY" "$BENCH_DIR/scoring_bench.py" train "$WORK"

# ---------------------------------------------------------------------------
log "parallel plan for mlops.predict (max_parallel_workers_per_gather = 2)"
echo "EXPLAIN ANALYZE of the mlops.predict query with max_parallel_workers_per_gather = 2:"
psql_q <<'SQL' | sed 's/^/   /'
SET max_parallel_workers_per_gather = 2;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT sum(mlops.predict('bench_logreg', x)) FROM t;
SQL

# ---------------------------------------------------------------------------
log "timed runs: $RUNS_FAST rounds (fast queries) / $RUNS_SLOW rounds (slow ones)"
"$PY" "$BENCH_DIR/scoring_bench.py" time "$WORK"

# ---------------------------------------------------------------------------
# One session: a 1M-row warm-up (the model is loaded and cached, the scan
# has touched its shared buffers), a pause for "before" samples, then one
# query scoring MEM_FACTOR x 1M rows (t scanned MEM_FACTOR times: the
# OFFSET 0 keeps the lateral subquery, and so the rescans, as written).
# jit = off in this session only: LLVM, loaded on a session's first JIT
# compilation, adds tens of MB of mapped libraries and per-query memory that
# have nothing to do with scoring and would blur the figures.
mem_rows=$((ROWS * MEM_FACTOR))
mem_query="SELECT sum(mlops.predict('bench_logreg', s.x)) FROM generate_series(1, $MEM_FACTOR) AS g, LATERAL (SELECT x FROM t WHERE g.g > 0 OFFSET 0) AS s"
log "memory: scoring $mem_rows rows in one serial query, sampling the backend every 0.5 s"
rm -f "$WORK/mem_pid" "$WORK/mem_start" "$WORK/mem_end" "$WORK/mem_sum"
psql_q -At >/dev/null <<SQL &
SET max_parallel_workers_per_gather = 0;
SET jit = off;
SELECT pg_backend_pid() \g $WORK/mem_pid
SELECT sum(mlops.predict('bench_logreg', x)) FROM t;
SELECT pg_sleep(2);
\! date +%s.%N >$WORK/mem_start
$mem_query \g $WORK/mem_sum
\! date +%s.%N >$WORK/mem_end
SELECT pg_sleep(1);
SQL
mem_psql=$!
for _ in $(seq 1 100); do [ -s "$WORK/mem_pid" ] && break; sleep 0.1; done
backend=$(tr -d '[:space:]' <"$WORK/mem_pid")
: >"$WORK/mem_samples"
while kill -0 "$mem_psql" 2>/dev/null; do
    sample=$(awk '$1 ~ /^(VmRSS|VmHWM|RssAnon|RssFile|RssShmem):$/ {v[$1] = $2}
                  END {if (v["VmRSS:"] != "") print v["VmRSS:"], v["VmHWM:"], v["RssAnon:"], v["RssFile:"], v["RssShmem:"]}' \
             "/proc/$backend/status" 2>/dev/null || true)
    [ -z "$sample" ] || echo "$(date +%s.%N) $sample" >>"$WORK/mem_samples"
    sleep 0.5
done
wait "$mem_psql"
psql_q -At -c "SET max_parallel_workers_per_gather = 0" -c "EXPLAIN (COSTS OFF) $mem_query" | sed 's/^/   plan: /' >&2
mem_sum=$(tr -d '[:space:]' <"$WORK/mem_sum")
# samples: time VmRSS VmHWM RssAnon RssFile RssShmem (kB); "before" is the
# last sample before the query, first/last/peak are over the query's samples
awk -v start="$(cat "$WORK/mem_start")" -v end="$(cat "$WORK/mem_end")" -v rows="$mem_rows" -v sum="$mem_sum" -v query="$mem_query" '
    $1 < start { for (i = 2; i <= 6; i++) b[i] = $i }
    $1 >= start && $1 <= end {
        n++
        for (i = 2; i <= 6; i++) { if (n == 1) f[i] = $i; l[i] = $i; if ($i > p[i]) p[i] = $i }
    }
    $1 > end && !hwm { hwm = $3 }
    END {
        printf "{\"query\": \"%s\", \"rows\": %d, \"sum\": %s, \"seconds\": %.2f, \"samples\": %d, \"hwm_after\": %d", query, rows, sum, end - start, n, hwm
        split("rss hwm anon file shmem", name, " ")
        for (i = 2; i <= 6; i++)
            printf ", \"%s_before\": %d, \"%s_first\": %d, \"%s_last\": %d, \"%s_peak\": %d", name[i-1], b[i], name[i-1], f[i], name[i-1], l[i], name[i-1], p[i]
        printf "}\n"
    }' "$WORK/mem_samples" >"$WORK/memory.json"
sed 's/^/   /' "$WORK/memory.json" >&2

# ---------------------------------------------------------------------------
if [ "$PERF" = 1 ]; then
    if command -v perf >/dev/null; then
        for model in bench_logreg bench_gbm bench_xgb; do
            log "perf: where a serial sum(mlops.predict('$model', x)) FROM t spends its time"
            echo "perf profile (self time, >= 1%) of two serial runs of SELECT sum(mlops.predict('$model', x)) FROM t:"
            rm -f "$WORK/perf_pid"
            psql_q -At >/dev/null <<SQL &
SET max_parallel_workers_per_gather = 0;
SELECT pg_backend_pid() \g $WORK/perf_pid
SELECT sum(mlops.predict('$model', x)) FROM t20k;
SELECT pg_sleep(1);
SELECT sum(mlops.predict('$model', x)) FROM t;
SELECT sum(mlops.predict('$model', x)) FROM t;
SQL
            perf_psql=$!
            for _ in $(seq 1 100); do [ -s "$WORK/perf_pid" ] && break; sleep 0.1; done
            sleep 0.5
            perf record -q -g -o "$WORK/perf.data" -p "$(tr -d '[:space:]' <"$WORK/perf_pid")" 2>/dev/null &
            perf_rec=$!
            wait "$perf_psql"
            kill -INT "$perf_rec" 2>/dev/null || true
            wait "$perf_rec" 2>/dev/null || true
            perf report -q -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1 -g none 2>/dev/null \
                | awk 'NF >= 4 && $1 ~ /%$/ {printf "   %7s  %-20s %s\n", $1, $2, $4}' | head -30
        done
    else
        log "perf is not installed: no profile"
    fi
fi

# ---------------------------------------------------------------------------
echo
echo "mlops scoring benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "jit=$(psql_q -At -c 'SHOW jit'), shared_buffers=$(psql_q -At -c 'SHOW shared_buffers')," \
     "load average at end $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - START)) s in all"
echo "t: $ROWS rows, 20 features as x float8[] and f1..f20, $(psql_q -At -c "SELECT pg_size_pretty(pg_table_size('t'))");" \
     "medians of $RUNS_FAST (fast) / $RUNS_SLOW (slow) runs; serial plans unless [2 workers]"
"$PY" "$BENCH_DIR/scoring_bench.py" report "$WORK"
echo "(figures are noisy when other work shares the machine; ratios are time / time of the baseline a)"
