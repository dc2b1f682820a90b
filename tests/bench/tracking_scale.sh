#!/usr/bin/env bash
# tests/bench/tracking_scale.sh: the tracking queries at scale.  Loads 100k
# runs over 100 experiments and 10M metric points (4 keys x 25 steps per run),
# then times the typical read queries and the logging calls.  A benchmark, not
# a test: it prints figures, plans and flags, and never fails on them.  Run by
# hand (about 5-10 minutes on 2 cores, most of it the load):
#
#   bash tests/bench/tracking_scale.sh
#
# The data is written set-based, straight into the extension's tables (one
# INSERT ... SELECT per table, as the superuser), in the shape the logging
# functions would leave it: latest_metrics holds each (run, key)'s last point
# of metric_history.  Points are inserted as 1,000 runs logging side by side
# would write them (runs in windows of 1,000, step by step), so one run's
# points are spread over the heap rather than packed together.
#
# Read queries: one warm-up, then 5 timed executions with \timing (client
# round trip included, result sent to /dev/null) on different runs or
# experiments; the median is reported.  One EXPLAIN (ANALYZE, BUFFERS) per
# query shows the plan's node types.  Logging calls: 5 single-client pgbench
# rounds, each on a fresh RUNNING run; the median is reported.
#
# Knobs (environment): RUNS (100000), EXPERIMENTS (100), STEPS (25),
# WINDOW (runs logging side by side, 1000), SINGLE_TX (3000), BATCH_TX (50).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

RUNS=${RUNS:-100000}
EXPERIMENTS=${EXPERIMENTS:-100}
STEPS=${STEPS:-25}
WINDOW=${WINDOW:-1000}
SINGLE_TX=${SINGLE_TX:-3000}
BATCH_TX=${BATCH_TX:-50}
ROUNDS=5
KEYS="'accuracy', 'auc', 'f1', 'loss'"   # 4 metric keys, in key order
NKEYS=4
HISTORY_SLOW_MS=5
EXPERIMENT_SLOW_MS=200
[ $((RUNS % WINDOW)) -eq 0 ] || { echo "RUNS must be a multiple of WINDOW" >&2; exit 2; }

bench_setup mlops_tracking_scale "" "maintenance_work_mem = 256MB"

SECONDS=0
now_s() { echo "$SECONDS"; }

# Deterministic helpers, used by the load only (public schema of the bench db).
psql_q <<'SQL'
-- uniform in [0, 1) from two integers
CREATE FUNCTION bench_u(a bigint, b int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (hashint8(a * 64 + b)::float8 + 2147483648.0) / 4294967296.0;

CREATE FUNCTION bench_run_start(r bigint, run_window int) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN timestamptz '2024-01-01 00:00:00+00'
       + (((r - 1) / run_window) * 86400 + (r - 1) % run_window) * interval '1 second';

-- The value of key k (1 accuracy, 2 auc, 3 f1, 4 loss) of run r at step s:
-- learning curves whose plateau depends on the run's "quality".
CREATE FUNCTION bench_metric(r bigint, k int, s int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE k
    WHEN 1 THEN 0.50 + 0.45 * bench_u(r, 1) * (1 - exp(-s / 6.0)) + 0.01 * bench_u(r * 1000 + s, 6)
    WHEN 2 THEN 0.50 + 0.49 * bench_u(r, 1) * (1 - exp(-s / 5.0)) + 0.005 * bench_u(r * 1000 + s, 7)
    WHEN 3 THEN 0.30 + 0.60 * bench_u(r, 1) * (1 - exp(-s / 7.0)) + 0.01 * bench_u(r * 1000 + s, 8)
    ELSE (1.2 - bench_u(r, 1)) * exp(-s / 8.0) + 0.05 + 0.02 * bench_u(r * 1000 + s, 9) END;
SQL

log "loading $EXPERIMENTS experiments, $RUNS runs, params and tags"
psql_q >/dev/null <<SQL
INSERT INTO mlops.experiments (name, created_by, created_at, updated_at)
SELECT 'exp-' || lpad(e::text, 3, '0'), 'bench', timestamptz '2024-01-01 00:00:00+00', timestamptz '2024-01-01 00:00:00+00'
  FROM generate_series(1, $EXPERIMENTS) AS e ORDER BY e;

-- Runs round-robin over experiments; 2% FAILED, the rest FINISHED; about 1%
-- soft-deleted (run_id divisible by 97).
INSERT INTO mlops.runs (run_id, experiment_id, run_name, status, lifecycle_stage, created_by,
                        start_time, end_time, deleted_at)
SELECT r, 1 + (r - 1) % $EXPERIMENTS, 'run-' || r,
       CASE WHEN bench_u(r, 2) < 0.02 THEN 'FAILED' ELSE 'FINISHED' END,
       CASE WHEN r % 97 = 0 THEN 'deleted' ELSE 'active' END,
       'bench', bench_run_start(r, $WINDOW), bench_run_start(r, $WINDOW) + interval '30 minutes',
       CASE WHEN r % 97 = 0 THEN bench_run_start(r, $WINDOW) + interval '1 day' END
  FROM generate_series(1, $RUNS) AS r ORDER BY r;
SELECT setval(pg_get_serial_sequence('mlops.runs', 'run_id'), $RUNS);

INSERT INTO mlops.params (run_id, key, value)
SELECT r, p.key,
       CASE p.key
           WHEN 'learning_rate' THEN round((0.001 + 0.3 * bench_u(r, 3))::numeric, 4)::text
           WHEN 'model' THEN (ARRAY['gbm', 'rf', 'logreg', 'mlp'])[1 + floor(4 * bench_u(r, 4))::int]
           ELSE (50 + floor(951 * bench_u(r, 5)))::int::text END
  FROM generate_series(1, $RUNS) AS r,
       unnest(ARRAY['learning_rate', 'model', 'n_trees']) WITH ORDINALITY AS p(key, o)
 ORDER BY r, p.o;

INSERT INTO mlops.run_tags (run_id, key, value)
SELECT r, 'source', CASE WHEN r % 3 = 0 THEN 'notebook' ELSE 'pipeline' END
  FROM generate_series(1, $RUNS) AS r ORDER BY r;

-- the per-run jsonb documents the logging functions keep for runs_overview
INSERT INTO mlops.run_documents (run_id, params, tags)
SELECT r.run_id,
       coalesce((SELECT jsonb_object_agg(p.key, mlops._param_jsonb(p.value)) FROM mlops.params p
                  WHERE p.run_id = r.run_id), '{}'),
       coalesce((SELECT jsonb_object_agg(t.key, t.value) FROM mlops.run_tags t
                  WHERE t.run_id = r.run_id), '{}')
  FROM mlops.runs r;
SQL
log "runs, params, tags loaded at ${SECONDS}s"

log "loading $((RUNS * NKEYS * STEPS)) metric points ($NKEYS keys x $STEPS steps per run)"
# The lateral references (0 * b, 0 * s, r) pin the nesting order:
# window of runs, then step, then run, then key.
psql_q <<SQL
INSERT INTO mlops.metric_history (run_id, key, value, step, logged_at)
SELECT r, k.key, bench_metric(r, k.i::int, s), s,
       bench_run_start(r, $WINDOW) + s * interval '1 minute' + k.i * interval '1 millisecond'
  FROM generate_series(0, $RUNS / $WINDOW - 1) AS b
 CROSS JOIN LATERAL generate_series(0 * b, $STEPS - 1) AS s
 CROSS JOIN LATERAL generate_series(b * $WINDOW + 1 + 0 * s, b * $WINDOW + $WINDOW) AS r
 CROSS JOIN LATERAL unnest(CASE WHEN r > 0 THEN ARRAY[$KEYS] END) WITH ORDINALITY AS k(key, i);
SQL
log "metric_history loaded at ${SECONDS}s"

psql_q <<SQL
-- The last point of each (run, key): the last step.
INSERT INTO mlops.latest_metrics (run_id, key, value, step, logged_at)
SELECT r, k.key, bench_metric(r, k.i::int, $STEPS - 1), $STEPS - 1,
       bench_run_start(r, $WINDOW) + ($STEPS - 1) * interval '1 minute' + k.i * interval '1 millisecond'
  FROM generate_series(1, $RUNS) AS r,
       unnest(ARRAY[$KEYS]) WITH ORDINALITY AS k(key, i)
 ORDER BY r, k.key;
SQL
log "latest_metrics loaded at ${SECONDS}s; VACUUM ANALYZE"
psql_q -c "VACUUM ANALYZE"
load_s=$SECONDS
log "load done in ${load_s}s"

# Consistency: latest_metrics against the history, on a 1% sample of runs
# (every (run, key) of the sample), and the row counts.
psql_q -At >"$WORK/check.txt" <<'SQL'
SELECT format('rows: runs %s, params %s, run_tags %s, metric_history %s, latest_metrics %s',
              (SELECT count(*) FROM mlops.runs), (SELECT count(*) FROM mlops.params),
              (SELECT count(*) FROM mlops.run_tags), (SELECT count(*) FROM mlops.metric_history),
              (SELECT count(*) FROM mlops.latest_metrics));
SELECT format('sizes: metric_history %s heap + %s index, latest_metrics %s, params %s, runs %s (with indexes)',
              pg_size_pretty(pg_relation_size('mlops.metric_history')),
              pg_size_pretty(pg_indexes_size('mlops.metric_history')),
              pg_size_pretty(pg_total_relation_size('mlops.latest_metrics')),
              pg_size_pretty(pg_total_relation_size('mlops.params')),
              pg_size_pretty(pg_total_relation_size('mlops.runs')));
SELECT format('latest_metrics vs history on 1%% of runs: %s (run, key) pairs checked, %s disagree',
              count(*), count(*) FILTER (WHERE (h.step, h.logged_at, h.value) IS DISTINCT FROM (l.step, l.logged_at, l.value)))
  FROM (SELECT DISTINCT h.run_id, h.key FROM mlops.metric_history h WHERE h.run_id % 100 = 42) AS pk
  LEFT JOIN mlops.latest_metrics l USING (run_id, key)
  LEFT JOIN LATERAL (SELECT h.step, h.logged_at, h.value FROM mlops.metric_history h
                      WHERE h.run_id = pk.run_id AND h.key = pk.key
                      ORDER BY h.step DESC, h.logged_at DESC, h.value DESC LIMIT 1) h ON true;
SELECT format('runs per experiment: min %s, max %s (active, in runs_overview)', min(n), max(n))
  FROM (SELECT count(*) AS n FROM mlops.runs_overview GROUP BY experiment_id) c;
SQL
sed 's/^/   /' "$WORK/check.txt" >&2

# ---------------------------------------------------------------------------
# Read queries
# ---------------------------------------------------------------------------
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Six active runs and experiments spread over the data: warm-up + 5 timed.
RUN_IDS=() EXP_NAMES=()
for i in 0 1 2 3 4 5; do
    r=$((RUNS * (2 * i + 1) / 13 + 1)); [ $((r % 97)) -ne 0 ] || r=$((r + 1))
    RUN_IDS+=("$r")
    EXP_NAMES+=("$(printf 'exp-%03d' $(( (i * 17 + 42) % EXPERIMENTS + 1 )))")
done
MODELS=(gbm rf logreg mlp gbm rf)

declare -A MEDIAN NOTE PLANSUM
ORDER=()

# time_query NAME TEMPLATE: TEMPLATE with @RUN@, @EXP@, @MODEL@ placeholders;
# one warm-up and 5 timed executions, each with its own values.
time_query() {
    local name=$1 tmpl=$2 i q
    {
        echo '\o /dev/null'
        echo '\timing on'
        for i in 0 1 2 3 4 5; do
            q=${tmpl//@RUN@/${RUN_IDS[$i]}}; q=${q//@EXP@/${EXP_NAMES[$i]}}; q=${q//@MODEL@/${MODELS[$i]}}
            echo "$q;"
        done
    } >"$WORK/$name.sql"
    psql_q -f "$WORK/$name.sql" >"$WORK/$name.timing"
    MEDIAN[$name]=$(grep '^Time:' "$WORK/$name.timing" | awk '{print $2}' | tail -n +2 | median)
    ORDER+=("$name")
}

# condense_plan FILE: node lines without timings, their conditions and
# subplans (cut at 150 characters), and the first Buffers line.
condense_plan() {
    grep -E '\(actual|never executed|Buffers:|Execution Time|Planning Time|Index Cond:|Filter:|SubPlan|InitPlan' "$1" \
        | sed -E 's/^[[:space:]]*(LOG|CONTEXT):[[:space:]]*//; s/\(cost=[^)]*\) ?//; s/actual time=[0-9.]+\.\.[0-9.]+ /actual /' \
        | awk '/Buffers:/ { if (!seen++) print; next } { print }' \
        | cut -c1-150 | sed 's/^/      /'
}

# explain_query NAME TEMPLATE: EXPLAIN (ANALYZE, BUFFERS) with the first
# timed values; prints the node types and flags sequential scans of the big tables.
explain_query() {
    local name=$1 q=$2
    q=${q//@RUN@/${RUN_IDS[1]}}; q=${q//@EXP@/${EXP_NAMES[1]}}; q=${q//@MODEL@/${MODELS[1]}}
    psql_q -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $q" >"$WORK/$name.plan"
    summarize_plan "$name" "$q"
}

# For SQL functions: the plan of the statements inside, via auto_explain.
explain_nested() {
    local name=$1 q=$2
    q=${q//@RUN@/${RUN_IDS[1]}}; q=${q//@EXP@/${EXP_NAMES[1]}}; q=${q//@MODEL@/${MODELS[1]}}
    psql_q >/dev/null 2>"$WORK/$name.plan" <<SQL
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_nested_statements = on;
SET client_min_messages = log;
$q;
SQL
    summarize_plan "$name" "$q (nested statements via auto_explain)"
}

summarize_plan() {
    local name=$1 q=$2 seq idx
    {
        echo "   [$name] $q"
        condense_plan "$WORK/$name.plan"
    } >>"$WORK/plans.txt"
    seq=$(grep -oE 'Seq Scan on (metric_history|runs|params|latest_metrics|run_tags)\b' "$WORK/$name.plan" \
          | sed 's/.*Seq Scan on //' | sort -u | paste -sd, - || true)
    idx=$(grep -oE '(Index Scan using|Index Only Scan using|Bitmap Index Scan on) [a-z_]+' "$WORK/$name.plan" \
          | awk '{print $NF}' | sort -u | paste -sd, - || true)
    PLANSUM[$name]="indexes: ${idx:-none}; seq scans of big tables: ${seq:-none}"
}

log "timing read queries (medians of 5 after a warm-up)"
: >"$WORK/plans.txt"

Q_HIST_FN="SELECT * FROM mlops.get_metric_history(@RUN@, 'loss')"
time_query hist_fn "$Q_HIST_FN"
explain_nested hist_fn "$Q_HIST_FN"
NOTE[hist_fn]="one run's history (${STEPS} points): mlops.get_metric_history(run, 'loss')"

Q_HIST_VIEW="SELECT step, value, logged_at FROM mlops.metric_history_overview WHERE run_id = @RUN@ AND key = 'loss' ORDER BY step, logged_at"
time_query hist_view "$Q_HIST_VIEW"
explain_query hist_view "$Q_HIST_VIEW"
NOTE[hist_view]="one run's history (${STEPS} points): metric_history_overview WHERE run_id, key ORDER BY step"

Q_EXP="SELECT run_id, run_name, status, start_time, params, metrics, tags FROM mlops.runs_overview WHERE experiment_name = '@EXP@' ORDER BY (metrics->>'auc')::float8 DESC NULLS LAST"
time_query experiment "$Q_EXP"
explain_query experiment "$Q_EXP"
NOTE[experiment]="runs_overview of one experiment (~$((RUNS / EXPERIMENTS)) runs, all columns) ORDER BY metric auc"

Q_EXP100="SELECT run_id, run_name, status, start_time, params, metrics, tags FROM mlops.runs_overview WHERE experiment_name = '@EXP@' ORDER BY (metrics->>'auc')::float8 DESC NULLS LAST LIMIT 100"
time_query experiment_top100 "$Q_EXP100"
explain_query experiment_top100 "$Q_EXP100"
NOTE[experiment_top100]="  same, LIMIT 100"

Q_BEST="SELECT run_id, experiment_name, (metrics->>'auc')::float8 AS auc FROM mlops.runs_overview WHERE params->>'model' = '@MODEL@' AND (params->'n_trees')::numeric > 500 ORDER BY (metrics->>'auc')::float8 DESC NULLS LAST LIMIT 1"
time_query best "$Q_BEST"
explain_query best "$Q_BEST"
NOTE[best]="best run by auc WHERE model = X AND n_trees > 500, whole runs_overview ($RUNS runs)"

# Reference, not the extension's API: the same answer straight from the
# tables, to show how much of the view's time is its per-run jsonb columns.
Q_BEST_REF="SELECT r.run_id, e.name, m.value FROM mlops.params pm JOIN mlops.params pt ON pt.run_id = pm.run_id AND pt.key = 'n_trees' JOIN mlops.latest_metrics m ON m.run_id = pm.run_id AND m.key = 'auc' JOIN mlops.runs r ON r.run_id = pm.run_id JOIN mlops.experiments e ON e.experiment_id = r.experiment_id WHERE pm.key = 'model' AND pm.value = '@MODEL@' AND pt.value::numeric > 500 AND r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active' ORDER BY m.value DESC NULLS LAST LIMIT 1"
time_query best_ref "$Q_BEST_REF"
explain_query best_ref "$Q_BEST_REF"
NOTE[best_ref]="  (reference) same answer joined from the tables directly"

# Both formulations must give the same run.
b1=$(psql_q -At -c "${Q_BEST//@MODEL@/gbm}" | cut -d'|' -f1)
b2=$(psql_q -At -c "${Q_BEST_REF//@MODEL@/gbm}" | cut -d'|' -f1)
if [ "$b1" = "$b2" ]; then BEST_CHECK="best gbm run with n_trees > 500: run $b1 by both formulations"
else BEST_CHECK="WARNING: best gbm run differs: runs_overview says $b1, the tables say $b2"; fi

# ---------------------------------------------------------------------------
# Logging at this scale: pgbench, single client, fresh RUNNING run per round
# ---------------------------------------------------------------------------
log "timing log_metric and log_batch at this scale ($ROUNDS pgbench rounds each)"
psql_q <<SQL
CREATE TABLE bench_docs (id int PRIMARY KEY, doc jsonb NOT NULL);
INSERT INTO bench_docs (id, doc)
SELECT d, jsonb_build_object('metrics', jsonb_agg(jsonb_build_object(
           'key', 'metric_' || (i % 10), 'value', round(random()::numeric, 6),
           'step', (d - 1) * 100 + i / 10, 'timestamp', 1700000000000 + (d - 1) * 1000 + i) ORDER BY i))
  FROM generate_series(1, $BATCH_TX) AS d, generate_series(0, 999) AS i
 GROUP BY d;
ANALYZE bench_docs;
SQL
cat >"$WORK/single.sql" <<'SQL'
\set step :step + 1
SELECT mlops.log_metric(:run, 'loss', random(), :step);
SQL
cat >"$WORK/batch.sql" <<'SQL'
\set doc :doc + 1
SELECT mlops.log_batch(:run, doc) FROM bench_docs WHERE id = :doc;
SQL
pgbench_ms() {   # SCRIPT TRANSACTIONS -> ms per transaction, on a fresh run
    local run out tps
    run=$(psql_q -At -c "SELECT mlops.start_run('${EXP_NAMES[0]}')")
    psql_q -c "CHECKPOINT"
    out=$(pgbench -n -c 1 -j 1 -M prepared -t "$2" -D run="$run" -D step=0 -D doc=0 -f "$1" 2>&1) \
        || { echo "$out" >&2; return 1; }
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out")
    echo "1000 / $tps" | bc -l
}
single=() batch=()
for r in $(seq 1 $ROUNDS); do
    single+=("$(pgbench_ms "$WORK/single.sql" "$SINGLE_TX")")
    batch+=("$(pgbench_ms "$WORK/batch.sql" "$BATCH_TX")")
done
MEDIAN[log_metric]=$(printf '%s\n' "${single[@]}" | median)
MEDIAN[log_batch]=$(printf '%s\n' "${batch[@]}" | median)
NOTE[log_metric]="log_metric, 1 point (pgbench, $SINGLE_TX calls per round)"
NOTE[log_batch]="log_batch, 1,000 points over 10 keys (pgbench, $BATCH_TX calls per round)"
PLANSUM[log_metric]="rounds: $(printf '%.3f ' "${single[@]}")"
PLANSUM[log_batch]="rounds: $(printf '%.2f ' "${batch[@]}")"
ORDER+=(log_metric log_batch)

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
flag() {   # NAME -> SLOW marker against the thresholds
    local ms=${MEDIAN[$1]}
    case $1 in
        hist_fn|hist_view) [ "$(echo "$ms > $HISTORY_SLOW_MS" | bc -l)" -eq 1 ] && echo "SLOW (> $HISTORY_SLOW_MS ms)" ;;
        experiment|experiment_top100) [ "$(echo "$ms > $EXPERIMENT_SLOW_MS" | bc -l)" -eq 1 ] && echo "SLOW (> $EXPERIMENT_SLOW_MS ms)" ;;
        log_batch) [ "$(echo "$ms > 20" | bc -l)" -eq 1 ] && echo "SLOW (> 20 ms target)" ;;
    esac
    return 0
}

echo
echo "plans (EXPLAIN (ANALYZE, BUFFERS, COSTS OFF), node types; timings stripped):"
cat "$WORK/plans.txt"
echo
echo "mlops tracking at scale: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
sed 's/^/  /' "$WORK/check.txt"
echo "  $BEST_CHECK"
echo "  load + VACUUM ANALYZE: ${load_s}s; total so far: ${SECONDS}s"
echo
printf '  %-92s %10s\n' "query" "median ms"
for name in "${ORDER[@]}"; do
    printf '  %-92s %10.3f  %s\n' "${NOTE[$name]}" "${MEDIAN[$name]}" "$(flag "$name")"
    printf '      %s\n' "${PLANSUM[$name]}"
done
echo
echo "(read queries: \\timing incl. round trip, median of 5 after a warm-up; figures are noisy when other work shares the machine)"
