#!/usr/bin/env bash
# tests/bench/features_bench.sh: feature views (issue 11).  Point-in-time
# training sets from mlops.build_training_set against the two ways people
# write them in SQL, and single-entity online reads against a plain primary
# key lookup, in one throwaway cluster.  A benchmark, not a test: it prints
# times, ratios and targets (PASS / MISS), and fails only on wrong results
# (the methods disagreeing on the rows, the online reads disagreeing with the
# source) or errors.  Run by hand:
#
#   bash tests/bench/features_bench.sh               # 1M entity rows, 3 runs (about 7 minutes on 2 cores)
#   bash tests/bench/features_bench.sh --rows 200000 # everything scaled by 1/5
#   bash tests/bench/features_bench.sh --ttl none    # views without a ttl (the window query gets slow)
#   bash tests/bench/features_bench.sh --smoke       # or FEATURES_BENCH_SMOKE=1: 20k entity rows, < 60 s
#
# Data (setseed, so every run draws the same values; the year ends at
# today's midnight UTC, so that the online features are fresh; TimeZone UTC):
#   customer_stats: view 1, entity customer (customer_id), 10 x ROWS rows
#     (customer_id int uniform over ROWS / 10 customers, event_ts timestamptz,
#     f_spend, f_ratio, f_score float8 (1% NULL), f_orders int), inserted in
#     time order as events arrive: row i at year start + i x (1 year / rows),
#     so (customer_id, event_ts) is unique; btree (customer_id, event_ts).
#   customer_region_stats: view 2, composite entity customer_region
#     (customer_id, region), ROWS rows (region 1 or 2, event_ts as above,
#     created_ts = event_ts + 0..10 min, r_spend float8, r_visits int), in time
#     order; btree (customer_id, region, event_ts); created_timestamp_column
#     created_ts.
#   entities: the entity source, ROWS rows (id, customer_id over 1.01 x the
#     customers (1% without features), region (0.1% NULL), event_timestamp
#     uniform over the year to the microsecond, label), in id order.
#   Both views have ttl TTL (default 30 days: about 8 candidate rows of view 1
#   per entity row; 2% of entity rows get no view-1 row, 68% no view-2 row);
#   --ttl none leaves them without one.
#
# Offline: each method writes the full training set (5 entity columns + 4 + 2
# features, ROWS rows) into a new table; the table is dropped between runs
# (untimed).  Same session settings for all: work_mem = WORK_MEM (256MB),
# jit = JIT (off: at the server's default, on, the LATERAL baseline spends
# about 1 s of its 11-13 compiling), max_parallel_workers_per_gather = 2 ("par",
# the server's) and/or 0 ("ser") as SETTINGS says (default par; the baselines
# barely differ: LATERAL never goes parallel, the window query only in its
# scans).  sql_window's sessions also have enable_nestloop = off: without
# statistics on the CTEs, the planner estimates a few rows where there are
# hundreds of thousands and joins __latest to __base with a nested loop,
# quadratic (10 s at 20k entity rows, hours at 1M); off, it takes hash joins,
# which only helps the baseline.  Each method keeps one session per setting
# for the whole run; RUNS rounds, round-robin, no warm-up (the tables and
# indexes are pg_prewarm'ed first; shared_buffers = 2GB, for a 24 GB machine,
# holds them all).
#   merge:        SELECT mlops.build_training_set(t, 'entities', 6 features, engine => 'merge')
#   lateral:      the same with engine => 'lateral' (mlops' pure SQL form)
#   sql_lateral:  CREATE TABLE AS, a hand-written LEFT JOIN LATERAL (... ORDER BY
#                 event_ts DESC LIMIT 1) per view (the issue's baseline)
#   sql_window:   CREATE TABLE AS, Feast's point-in-time join (its Postgres offline
#                 store's MULTIPLE_FEATURE_VIEW_POINT_IN_TIME_JOIN) written out:
#                 entity_dataframe, per view __entity_dataframe, __subquery, __base,
#                 __dedup (view 2), __latest (ROW_NUMBER() OVER (PARTITION BY
#                 entity_row_unique_id ORDER BY event_timestamp DESC, created DESC)),
#                 __cleaned, and the final LEFT JOINs
# Targets: sql_lateral >= 2x merge's time, sql_window >= 5x.  Memory: the
# backend's peak RssAnon (sampled every 10 ms from /proc; parallel workers'
# not included) and temporary file bytes (pg_stat_database) of every run, and
# one serial merge with work_mem = SMALL_WORK_MEM (4MB) to show it spills
# rather than grows.  Rows: count and md5 over the sorted rows of each
# method's table, and their column names and types, must all agree.
#
# Online: feature service fb_customer over view 1's four features,
# CALL materialize_online('customer_stats') (its job run's duration, then a
# second, incremental call with nothing new), model fb_model (logistic
# regression over the four, imputing 0) registered and aliased champion.  The
# online table, feature_vector and predict are checked against the source for
# every customer, then pgbench, one client, -M prepared, after 2,000 untimed
# transactions of each script, ONLINE_ROUNDS (6) rounds of ONLINE_SECONDS (2)
# s per script, round-robin, a random customer per transaction:
#   plain:   SELECT f_spend, f_ratio, f_score, f_orders FROM mlops_online."customer_stats" WHERE customer_id = :id
#   vector:  SELECT mlops.feature_vector('fb_customer', :id::int)
#   predict: SELECT mlops.predict('fb_model@champion', mlops.feature_vector('fb_customer', :id::int))
#   predict_only: SELECT mlops.predict('fb_model@champion', ARRAY[:id::int % 100, 0.5, 0, 3]::float8[])
#            (no target: predict's own cost, the model reference resolved per statement)
# Targets (the median over rounds of the latency over plain's in the same
# round): vector <= 1.5x plain, predict <= 2x plain.
#
# Knobs (environment): RUNS (3), SETTINGS (par; par,ser for both), WORK_MEM (256MB), JIT (off),
# SMALL_WORK_MEM (4MB), TTL ('30 days' or none), ONLINE_ROUNDS (6),
# ONLINE_SECONDS (2), ONLY (comma-separated method keys), VIEW1_CREATED (0; 1 =
# customer_stats gets a created_ts column too, event_ts + 0..10 min, declared
# as its created_timestamp_column), BASELINES_ONLY (0;
# 1 = without mlops' feature functions: the two SQL baselines only, no online
# part), FEATURES_BENCH_SMOKE (0).  The online part runs when this build of
# mlops has materialize_online and feature_vector (the report says when not).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROWS=1000000
RUNS=${RUNS:-3}
TTL=${TTL:-30 days}
SMOKE=${FEATURES_BENCH_SMOKE:-0}
ONLINE_ROUNDS=${ONLINE_ROUNDS:-6}
ONLINE_SECONDS=${ONLINE_SECONDS:-2}
while [ $# -gt 0 ]; do
    case $1 in
        --rows) ROWS=$2; shift 2 ;;
        --rows=*) ROWS=${1#--rows=}; shift ;;
        --runs) RUNS=$2; shift 2 ;;
        --runs=*) RUNS=${1#--runs=}; shift ;;
        --ttl) TTL=$2; shift 2 ;;
        --ttl=*) TTL=${1#--ttl=}; shift ;;
        --smoke) SMOKE=1; shift ;;
        *) echo "usage: $0 [--rows N] [--runs N] [--ttl INTERVAL|none] [--smoke]" >&2; exit 2 ;;
    esac
done
if [ "$SMOKE" = 1 ]; then
    ROWS=20000 RUNS=1 ONLINE_ROUNDS=1 ONLINE_SECONDS=1
fi
[ "$ROWS" -ge 1000 ] || { echo "--rows must be at least 1000" >&2; exit 2; }
CUSTOMERS=$((ROWS / 10))
ROWS1=$((ROWS * 10))
ROWS2=$ROWS
YEAR_US=31536000000000
export ROWS RUNS SMOKE TTL CUSTOMERS ROWS1 ROWS2 SETTINGS=${SETTINGS:-par} WORK_MEM=${WORK_MEM:-256MB} JIT=${JIT:-off}
export SMALL_WORK_MEM=${SMALL_WORK_MEM:-4MB} ONLY=${ONLY:-} BASELINES_ONLY=${BASELINES_ONLY:-0} VIEW1_CREATED=${VIEW1_CREATED:-0}

bench_setup mlops_features_bench "psycopg2" "shared_buffers = 2GB" "timezone = 'UTC'" "log_timezone = 'UTC'"

have() {   # have FUNCTION...: every one is in schema mlops
    [ "$(psql_q -At -c "SELECT count(DISTINCT proname) FROM pg_proc WHERE pronamespace = 'mlops'::regnamespace
                          AND proname = ANY ('{$(IFS=,; echo "$*")}')")" -eq $# ]
}
if [ "$BASELINES_ONLY" != 1 ] && ! have build_training_set training_set_query create_feature_view; then
    echo "this build of mlops lacks build_training_set; BASELINES_ONLY=1 times the SQL baselines alone" >&2
    exit 1
fi
# The online part needs the online functions (they landed after the offline ones).
ONLINE=0
if [ "$BASELINES_ONLY" != 1 ] && have create_feature_service materialize_online feature_vector; then ONLINE=1; fi

if [ "$TTL" = none ]; then
    TTL_SQL=NULL TTL_SECONDS=""
else
    TTL_SQL="interval '$TTL'"
    TTL_SECONDS=$(psql_q -At -c "SELECT extract(epoch FROM interval '$TTL')::bigint")
fi
export TTL_SECONDS
T0=$(psql_q -At -c "SELECT date_trunc('day', now()) - interval '365 days'")
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
log "generating customer_stats ($ROWS1 rows, $CUSTOMERS customers), customer_region_stats ($ROWS2 rows), entities ($ROWS rows); year from $T0"
gen_start=$SECONDS
created1_column="" created1_value="" created1_arg="" created1_note=""
if [ "$VIEW1_CREATED" = 1 ]; then
    created1_column=", created_ts timestamptz" created1_value=", ts + random() * interval '10 minutes'"
    created1_arg=", created_timestamp_column => 'created_ts'"
    created1_note=" customer_stats with created_ts (VIEW1_CREATED=1);"
fi
psql_q >/dev/null <<SQL
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.1111);
CREATE TABLE customer_stats (customer_id int NOT NULL, event_ts timestamptz NOT NULL,
                             f_spend float8, f_ratio float8, f_score float8, f_orders int$created1_column)
  WITH (autovacuum_enabled = off);
INSERT INTO customer_stats
SELECT 1 + floor(random() * $CUSTOMERS)::int, ts,
       exp(random() * 5), random(),
       CASE WHEN random() < 0.01 THEN NULL ELSE sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) END,
       floor(random() * 20)::int$created1_value
  FROM generate_series(0, $ROWS1 - 1) AS i,
       LATERAL (SELECT '$T0'::timestamptz + (i * ($YEAR_US / $ROWS1)) * interval '1 microsecond' AS ts) t;

SELECT setseed(0.2222);
CREATE TABLE customer_region_stats (customer_id int NOT NULL, region int NOT NULL, event_ts timestamptz NOT NULL,
                                    created_ts timestamptz, r_spend float8, r_visits int)
  WITH (autovacuum_enabled = off);
INSERT INTO customer_region_stats
SELECT 1 + floor(random() * $CUSTOMERS)::int, 1 + floor(random() * 2)::int, ts,
       ts + random() * interval '10 minutes', exp(random() * 3), floor(random() * 10)::int
  FROM generate_series(0, $ROWS2 - 1) AS i,
       LATERAL (SELECT '$T0'::timestamptz + (i * ($YEAR_US / $ROWS2)) * interval '1 microsecond' AS ts) t;

SELECT setseed(0.3333);
CREATE TABLE entities (id bigint NOT NULL, customer_id int, region int, event_timestamp timestamptz NOT NULL, label int)
  WITH (autovacuum_enabled = off);
INSERT INTO entities
SELECT i, 1 + floor(random() * $CUSTOMERS * 1.01)::int,
       CASE WHEN random() < 0.001 THEN NULL ELSE 1 + floor(random() * 2)::int END,
       '$T0'::timestamptz + floor(random() * $YEAR_US) * interval '1 microsecond',
       (random() < 0.2)::int
  FROM generate_series(1, $ROWS) AS i;

CREATE INDEX customer_stats_key_ts ON customer_stats (customer_id, event_ts);
CREATE INDEX customer_region_stats_key_ts ON customer_region_stats (customer_id, region, event_ts);
VACUUM (FREEZE, ANALYZE) customer_stats;
VACUUM (FREEZE, ANALYZE) customer_region_stats;
VACUUM (FREEZE, ANALYZE) entities;
CREATE EXTENSION pg_prewarm;
SELECT pg_prewarm(c) FROM unnest(ARRAY['customer_stats', 'customer_stats_key_ts', 'customer_region_stats',
                                       'customer_region_stats_key_ts', 'entities']::regclass[]) AS c;
SQL
gen_s=$((SECONDS - gen_start))
sizes=$(psql_q -At -c "SELECT string_agg(format('%s %s', c, pg_size_pretty(pg_relation_size(c))), ', ')
                         FROM unnest(ARRAY['customer_stats', 'customer_stats_key_ts', 'customer_region_stats',
                                           'customer_region_stats_key_ts', 'entities']::regclass[]) AS c")
log "generated in $gen_s s: $sizes"

FEATURES="ARRAY['customer_stats:f_spend', 'customer_stats:f_ratio', 'customer_stats:f_score', 'customer_stats:f_orders',
                'customer_region_stats:r_spend', 'customer_region_stats:r_visits']"
export FEATURES
if [ "$BASELINES_ONLY" != 1 ]; then
    log "defining the entities and feature views (ttl $TTL)"
    psql_q >/dev/null <<SQL
SELECT mlops.create_entity('customer', '{customer_id}');
SELECT mlops.create_entity('customer_region', '{customer_id,region}');
SELECT mlops.create_feature_view('customer_stats', '{customer}', 'public.customer_stats', 'event_ts',
                                 '{f_spend,f_ratio,f_score,f_orders}', ttl => $TTL_SQL$created1_arg);
SELECT mlops.create_feature_view('customer_region_stats', '{customer_region}', 'public.customer_region_stats', 'event_ts',
                                 '{r_spend,r_visits}', ttl => $TTL_SQL, created_timestamp_column => 'created_ts');
SQL
fi

# ---------------------------------------------------------------------------
log "offline: $RUNS round(s) of each method, settings $SETTINGS, work_mem $WORK_MEM"
"$PY" "$BENCH_DIR/features_bench.py" offline "$WORK"

# ---------------------------------------------------------------------------
# The online part runs in a subshell: when it fails (an error, or a check
# finding a difference) the offline figures are still printed, then the
# script fails.
online_failed=0
if [ "$ONLINE" = 1 ]; then
    set +e
    (
    set -euo pipefail
    log "online: feature service, materialize_online, model"
    psql_q -At >"$WORK/online_setup.txt" <<SQL
SELECT mlops.create_feature_service('fb_customer', ARRAY['customer_stats:f_spend', 'customer_stats:f_ratio',
                                                         'customer_stats:f_score', 'customer_stats:f_orders']) \\g /dev/null
CALL mlops.materialize_online('customer_stats');
SELECT format('materialize_online(''customer_stats''): %s source rows read, %s online rows written, in %s s',
              rows_in, rows_scored, round(extract(epoch FROM duration)::numeric, 3))
  FROM mlops.job_runs WHERE kind = 'materialize_online' ORDER BY job_run_id DESC LIMIT 1;
CALL mlops.materialize_online('customer_stats');
SELECT format('materialize_online(''customer_stats'') again, nothing new (from the watermark): %s source rows read, %s online rows written, in %s s',
              rows_in, rows_scored, round(extract(epoch FROM duration)::numeric, 3))
  FROM mlops.job_runs WHERE kind = 'materialize_online' ORDER BY job_run_id DESC LIMIT 1;
SELECT mlops.register_model_version('fb_model', json_build_object(
    'format', 'mlops.model/v1', 'task', 'binary', 'classes', json_build_array('stay', 'churn'),
    'features', json_build_array(
        json_build_object('name', 'f_spend', 'type', 'numeric', 'impute', 0),
        json_build_object('name', 'f_ratio', 'type', 'numeric', 'impute', 0),
        json_build_object('name', 'f_score', 'type', 'numeric', 'impute', 0),
        json_build_object('name', 'f_orders', 'type', 'numeric', 'impute', 0)),
    'scaler', json_build_object('center', json_build_array(30, 0.5, 0, 10), 'scale', json_build_array(40, 0.3, 1, 6)),
    'model', json_build_object('type', 'linear', 'link', 'logistic',
                               'coef', json_build_array(json_build_array(0.4, -0.8, 0.3, -0.5)),
                               'intercept', json_build_array(-1.2)))::text) \\g /dev/null
SELECT mlops.set_model_alias('fb_model', 'champion', 1) \\g /dev/null
VACUUM ANALYZE mlops_online."customer_stats";
-- the online table: one row per customer with events, the latest ((customer_id, event_ts) is unique)
SELECT 'check: online rows differing from the latest source row: ' || count(*)
  FROM (SELECT c AS customer_id, s.f_spend, s.f_ratio, s.f_score, s.f_orders, s.event_ts
          FROM generate_series(1, $CUSTOMERS) c
          JOIN LATERAL (SELECT * FROM customer_stats s WHERE s.customer_id = c ORDER BY event_ts DESC LIMIT 1) s ON true
        EXCEPT ALL
        SELECT customer_id, f_spend, f_ratio, f_score, f_orders, event_ts FROM mlops_online."customer_stats") d;
SELECT 'check: online rows more than the customers with events: '
       || (SELECT count(*) FROM mlops_online."customer_stats") - (SELECT count(DISTINCT customer_id) FROM customer_stats);
-- feature_vector and predict for every key (1% of them without a row), against the online table
CREATE TEMP TABLE want AS
SELECT c AS customer_id,
       CASE WHEN o.customer_id IS NULL THEN ARRAY[NULL, NULL, NULL, NULL]::float8[]
            WHEN ${TTL_SECONDS:-NULL}::bigint IS NOT NULL
                 AND o.event_ts < now() - make_interval(secs => ${TTL_SECONDS:-0}) THEN ARRAY[NULL, NULL, NULL, NULL]::float8[]
            ELSE ARRAY[o.f_spend, o.f_ratio, o.f_score, o.f_orders]::float8[] END AS v
  FROM generate_series(1, ($CUSTOMERS * 1.01)::int) c LEFT JOIN mlops_online."customer_stats" o ON o.customer_id = c;
SELECT 'check: feature_vector differing from the online table: '
       || count(*) FILTER (WHERE mlops.feature_vector('fb_customer', customer_id) IS DISTINCT FROM v)
       || ' of ' || count(*)
       || ' (' || count(*) FILTER (WHERE v[4] IS NULL) || ' missing or expired)' FROM want;
SELECT 'check: predict differing from predict on the online row: '
       || count(*) FILTER (WHERE mlops.predict('fb_model@champion', mlops.feature_vector('fb_customer', customer_id))
                                 IS DISTINCT FROM mlops.predict('fb_model:1', v)) FROM want;
SQL
    sed 's/^/   /' "$WORK/online_setup.txt" >&2
    if awk -F': ' '/^check: / && $3 + 0 != 0 {bad = 1} END {exit !bad}' "$WORK/online_setup.txt"; then
        echo "an online check found differences"; exit 1
    fi

    cat >"$WORK/plain.sql" <<SQL
\\set id random(1, $CUSTOMERS)
SELECT f_spend, f_ratio, f_score, f_orders FROM mlops_online."customer_stats" WHERE customer_id = :id;
SQL
    cat >"$WORK/vector.sql" <<SQL
\\set id random(1, $CUSTOMERS)
SELECT mlops.feature_vector('fb_customer', :id::int);
SQL
    cat >"$WORK/predict.sql" <<SQL
\\set id random(1, $CUSTOMERS)
SELECT mlops.predict('fb_model@champion', mlops.feature_vector('fb_customer', :id::int));
SQL
    cat >"$WORK/predict_only.sql" <<SQL
\\set id random(1, $CUSTOMERS)
SELECT mlops.predict('fb_model@champion', ARRAY[:id::int % 100, 0.5, 0, 3]::float8[]);
SQL
    log "online: pgbench -c 1 -M prepared, $ONLINE_ROUNDS round(s) x $ONLINE_SECONDS s per script"
    : >"$WORK/online.txt"
    for k in plain vector predict predict_only; do   # warm-up, untimed: the server's caches, mlops' prepared reads
        pgbench -n -c 1 -j 1 -M prepared -t 2000 -f "$WORK/$k.sql" >/dev/null 2>&1
    done
    for r in $(seq 1 "$ONLINE_ROUNDS"); do
        line=""
        for k in plain vector predict predict_only; do
            out=$(pgbench -n -c 1 -j 1 -M prepared -T "$ONLINE_SECONDS" -f "$WORK/$k.sql" 2>&1) \
                || { echo "$out"; exit 1; }
            if grep -q "number of failed transactions: [1-9]" <<<"$out"; then echo "$out"; exit 1; fi
            tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out")
            lat=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' <<<"$out")
            echo "$k $r $tps $lat" >>"$WORK/online.txt"
            line+=" $k $tps tps ($lat ms)"
        done
        log "round $r:$line"
    done
    ) 2>&1 | tee "$WORK/online_err.txt" >&2
    online_failed=${PIPESTATUS[0]}
    set -e
fi

# ---------------------------------------------------------------------------
echo
echo "mlops feature views benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "$(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) RAM," \
     "shared_buffers=$(psql_q -At -c 'SHOW shared_buffers') (sized for the machine: every table and index stays cached)," \
     "work_mem=$WORK_MEM and jit=$JIT (every method's sessions; server jit=$(psql_q -At -c 'SHOW jit'))," \
     "hash_mem_multiplier=$(psql_q -At -c 'SHOW hash_mem_multiplier'), load average at start $LOAD_START," \
     "at end $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - START)) s in all"
echo "data ($gen_s s to generate): entities $ROWS rows; customer_stats $ROWS1 rows over $CUSTOMERS customers;" \
     "customer_region_stats $ROWS2 rows; ttl $TTL on both views;$created1_note $sizes"
[ "$BASELINES_ONLY" != 1 ] || echo "BASELINES_ONLY: mlops' feature functions not timed"
[ "$ONLINE" = 1 ] || [ "$BASELINES_ONLY" = 1 ] || echo "online part skipped: this build has no materialize_online / feature_vector"
if [ -s "$WORK/online_setup.txt" ]; then sed 's/^/online set-up: /' "$WORK/online_setup.txt"; fi
echo
status=0
"$PY" "$BENCH_DIR/features_bench.py" report "$WORK" || status=$?
if [ "$online_failed" != 0 ]; then
    echo
    echo "The online part FAILED (its figures are missing or partial):"
    { grep -m1 -A6 -E 'ERROR|FATAL|differences|failed' "$WORK/online_err.txt" || tail -8 "$WORK/online_err.txt"; } | sed 's/^/   /'
    status=1
fi
exit $status
