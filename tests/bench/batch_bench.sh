#!/usr/bin/env bash
# tests/bench/batch_bench.sh: CALL mlops.batch_score against the same scoring
# done by hand and against an external Python job, on one 1M-row table of 20
# features, in one throwaway cluster.  A benchmark, not a test: it prints
# medians and ratios and fails only on wrong results.  Run by hand:
#
#   bash tests/bench/batch_bench.sh
#
# The table t has id int, x float8[20] and a label y (used only to train):
# random() after setseed(), generated as in scoring_bench.sh, so every run
# has the same data.  t_bad is t with every 100th row's x cut to 19 elements
# (10,000 rows of 1M with the wrong feature count); t_bad_late the same
# with the bad rows at the end (ids 990,001..1,000,000).  The model is the
# scoring benchmark's: sklearn LogisticRegression on the first 200,000 rows,
# exported to mlops.model/v1 JSON, registered as bench_logreg, alias
# champion, checked against sklearn's predict_proba.
#
#   a)  CALL mlops.batch_score('bench_logreg@champion', 't', 'scores_batch',
#       key_columns => ARRAY['id'], features => 'x'): replace mode, the whole
#       target (slice NULL) deleted and rewritten by every run.
#   b1) by hand: TRUNCATE scores_manual; INSERT INTO scores_manual (id,
#       prediction) SELECT id, mlops.predict('bench_logreg@champion', x) FROM t
#       (one implicit transaction).
#   b2) the same with DELETE FROM instead of TRUNCATE (batch_score deletes
#       its slice rather than truncating).
#   b3) the two statements batch_score itself executes in replace mode, sent
#       by hand into a table of the same layout (DELETE ... WHERE slice IS NOT
#       DISTINCT FROM NULL; INSERT of id, prediction, version_id,
#       model_version, scored_at, slice): a) - b3) is the procedure's own
#       cost, b3) - b2) the wider rows.
#   c)  the external job of scoring_bench.py, end to end: connect, binary
#       COPY (SELECT id, x FROM t) out, numpy parse, sklearn predict_proba,
#       TRUNCATE + binary COPY of the 1M (id, p) rows into scores_ext,
#       commit.  The model is already unpickled in the job's process; Python's
#       start-up and imports are not counted.
#   d1) a) with outputs => ARRAY['prediction', 'probabilities', 'class'].
#   d2) a) on t_bad with on_error => 'reject': the first pass fails at the
#       first bad row, then batch_score counts the bad rows (a pass of
#       feature_problem over t_bad), inserts the good ones (a pass with a
#       feature_problem filter) and sets the 10,000 bad ones aside in
#       mlops.batch_rejects (a third pass).
#   d3) d2) on t_bad_late, where the bad rows are the last 10,000 ids
#       (physically last), with synchronize_seqscans = off in its session so
#       that every scan starts at block 0 (t_bad_late is over shared_buffers
#       / 4: a synchronized scan would start where the previous one left off,
#       near the end, at the bad rows): the worst case of the slow path, whose
#       first pass scores and inserts 990,000 rows before it meets a bad one
#       and is rolled back.
#
# Protocol: the targets exist before timing (one untimed batch_score per
# batch target creates and fills it; the hand-made targets are created and
# filled the same way), so no run creates a table and every DELETE deletes
# 1M rows.  Autovacuum is off on the targets.  Before every timed run of a
# measurement that DELETEs (a, b2, b3, d1, d2, d3) its target is VACUUMed,
# untimed (VACUUM_TARGETS=1, the default): the previous run's 1M dead rows
# are reclaimed, so the target stays at its steady size (1M live rows plus
# the space of the 1M it will delete) instead of growing by 1M rows a run,
# and the rows to delete already carry their hint bits, as they would after
# autovacuum.  ANALYZE is not needed (no indexes: the DELETE is a seq scan
# whatever the statistics say).  Before every timed run, also untimed, a
# CHECKPOINT, so that no run pays for writing the previous one's dirty
# buffers.  Each figure is the median of RUNS (7) runs, measured
# round-robin (round 1 of everything, then round 2, ...) so that background
# load hits all alike; each measurement keeps its own session, warmed up
# once (model cache).  Serial plans only: INSERT ... SELECT has no parallel
# plan in PostgreSQL 15.
#
# After the timed rounds, one more run of a) and of b1) under auto_explain
# (log_analyze, buffers, WAL, nested statements, timing off) shows what each
# executes and where the time goes; the job_runs rows of one run of a), d1),
# d2) and d3) show the bookkeeping.
#
# Knobs (environment): RUNS (7), VACUUM_TARGETS (1; 0 = no VACUUM between
# runs), ONLY (comma-separated keys a,b1,b2,b3,c,d1,d2,d3 for a partial run),
# PERF (0; 1 = perf profile of one run of a) and of b1), printed before the
# table).
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROWS=1000000
PERF=${PERF:-0}
export RUNS=${RUNS:-7} VACUUM_TARGETS=${VACUUM_TARGETS:-1} LR_TRAIN_ROWS=200000

bench_setup mlops_batch_bench "sklearn, psycopg2, numpy"

# ---------------------------------------------------------------------------
log "generating t ($ROWS rows, x float8[20], setseed + random()) and t_bad (1% of rows with 19 features)"
bench_create_t "$ROWS"
psql_q >/dev/null <<SQL
CREATE TABLE t_bad AS
SELECT id, CASE WHEN id % 100 = 0 THEN x[1:19] ELSE x END AS x FROM t ORDER BY id;
CREATE TABLE t_bad_late AS
SELECT id, CASE WHEN id > $ROWS - $ROWS / 100 THEN x[1:19] ELSE x END AS x FROM t ORDER BY id;
VACUUM (FREEZE, ANALYZE) t;
VACUUM (FREEZE, ANALYZE) t_bad;
VACUUM (FREEZE, ANALYZE) t_bad_late;
SQL
psql_q -At -c "SELECT 't: ' || pg_size_pretty(pg_table_size('t')) || ', t_bad: ' || pg_size_pretty(pg_table_size('t_bad'))" \
    | sed 's/^/   /' >&2

# ---------------------------------------------------------------------------
log "training, exporting and registering bench_logreg (alias champion)"
"$PY" "$BENCH_DIR/batch_bench.py" train "$WORK"

# ---------------------------------------------------------------------------
log "creating and filling the targets (untimed)"
psql_q >/dev/null <<'SQL'
CALL mlops.batch_score('bench_logreg@champion', 't', 'scores_batch', key_columns => ARRAY['id'], features => 'x');
CALL mlops.batch_score('bench_logreg@champion', 't', 'scores_batch_all', key_columns => ARRAY['id'], features => 'x',
                       outputs => ARRAY['prediction', 'probabilities', 'class']);
CALL mlops.batch_score('bench_logreg@champion', 't_bad', 'scores_batch_rej', key_columns => ARRAY['id'], features => 'x',
                       on_error => 'reject');
CALL mlops.batch_score('bench_logreg@champion', 't_bad_late', 'scores_batch_late', key_columns => ARRAY['id'], features => 'x',
                       on_error => 'reject');
CREATE TABLE scores_manual (id int, prediction float8);
CREATE TABLE scores_manual_del (id int, prediction float8);
CREATE TABLE scores_wide (LIKE scores_batch);
CREATE TABLE scores_ext (id int, p float8);
INSERT INTO scores_manual_del SELECT id, prediction FROM scores_batch;
INSERT INTO scores_wide SELECT * FROM scores_batch;
ALTER TABLE scores_batch SET (autovacuum_enabled = off);
ALTER TABLE scores_batch_all SET (autovacuum_enabled = off);
ALTER TABLE scores_batch_rej SET (autovacuum_enabled = off);
ALTER TABLE scores_batch_late SET (autovacuum_enabled = off);
ALTER TABLE scores_manual SET (autovacuum_enabled = off);
ALTER TABLE scores_manual_del SET (autovacuum_enabled = off);
ALTER TABLE scores_wide SET (autovacuum_enabled = off);
ALTER TABLE scores_ext SET (autovacuum_enabled = off);
VACUUM scores_batch, scores_batch_all, scores_batch_rej, scores_batch_late, scores_manual_del, scores_wide;
SQL
psql_q -At -F ' ' -c "SELECT version_id, model_version FROM mlops.job_runs WHERE target = 'scores_batch'" \
    | awk '{printf "{\"version_id\": %d, \"pinned\": \"%s\"}\n", $1, $2}' >"$WORK/meta.json"
psql_q -At -c "SELECT '   scores_batch: ' || string_agg(format('%s %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
                 FROM pg_attribute WHERE attrelid = 'scores_batch'::regclass AND attnum > 0 AND NOT attisdropped" >&2
sed 's/^/   meta: /' "$WORK/meta.json" >&2

# ---------------------------------------------------------------------------
log "timed runs: $RUNS rounds"
"$PY" "$BENCH_DIR/batch_bench.py" time "$WORK"

# ---------------------------------------------------------------------------
# What a) and b1) execute, statement by statement (auto_explain's notices):
# one more run of each, after the same untimed VACUUM + CHECKPOINT.
explain_run() {
    local title=$1 prep=$2 stmt=$3
    echo "$title"
    [ -z "$prep" ] || psql_q -c "$prep"
    psql_q -c "CHECKPOINT"
    psql -X -v ON_ERROR_STOP=1 -q 2>&1 <<SQL | sed -e 's/^NOTICE:  //' -e 's/^/   /'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = '20ms';
SET auto_explain.log_analyze = on;
SET auto_explain.log_timing = off;
SET auto_explain.log_buffers = on;
SET auto_explain.log_wal = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
\timing on
$stmt
SQL
}
{
    echo "auto_explain (analyze, buffers, WAL; timing off; statements over 20 ms) of one run of a) and of b1):"
    explain_run "a) batch_score:" "VACUUM scores_batch" \
        "CALL mlops.batch_score('bench_logreg@champion', 't', 'scores_batch', key_columns => ARRAY['id'], features => 'x');"
    explain_run "b1) TRUNCATE + INSERT ... SELECT:" "" \
        "BEGIN; TRUNCATE scores_manual; INSERT INTO scores_manual (id, prediction) SELECT id, mlops.predict('bench_logreg@champion', x) FROM t; COMMIT;"
} >"$WORK/explain.txt"

# ---------------------------------------------------------------------------
: >"$WORK/perf.txt"
if [ "$PERF" = 1 ]; then
    if command -v perf >/dev/null; then
        perf_run() {
            local title=$1 stmt=$2
            rm -f "$WORK/perf_pid"
            psql_q -At >/dev/null <<SQL &
SELECT pg_backend_pid() \g $WORK/perf_pid
SELECT mlops.predict('bench_logreg@champion', x) FROM t LIMIT 1;
SELECT pg_sleep(1);
$stmt
SQL
            local pid=$!
            for _ in $(seq 1 100); do [ -s "$WORK/perf_pid" ] && break; sleep 0.1; done
            sleep 0.5
            perf record -q -g -o "$WORK/perf.data" -p "$(tr -d '[:space:]' <"$WORK/perf_pid")" 2>/dev/null &
            local rec=$!
            wait "$pid"
            kill -INT "$rec" 2>/dev/null || true
            wait "$rec" 2>/dev/null || true
            echo "perf profile (self time, >= 1%) of $title:"
            perf report -q -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 1 -g none 2>/dev/null \
                | awk 'NF >= 4 && $1 ~ /%$/ {printf "   %7s  %-20s %s\n", $1, $2, $4}' | head -30
        }
        psql_q -c "VACUUM scores_batch" -c "CHECKPOINT"
        perf_run "a) batch_score" "CALL mlops.batch_score('bench_logreg@champion', 't', 'scores_batch', key_columns => ARRAY['id'], features => 'x');" >>"$WORK/perf.txt"
        psql_q -c "CHECKPOINT"
        perf_run "b1) TRUNCATE + INSERT" "BEGIN; TRUNCATE scores_manual; INSERT INTO scores_manual (id, prediction) SELECT id, mlops.predict('bench_logreg@champion', x) FROM t; COMMIT;" >>"$WORK/perf.txt"
    else
        log "perf is not installed: no profile"
    fi
fi

# ---------------------------------------------------------------------------
echo
echo "mlops batch scoring benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "jit=$(psql_q -At -c 'SHOW jit'), shared_buffers=$(psql_q -At -c 'SHOW shared_buffers')," \
     "load average at end $(cut -d' ' -f1-3 /proc/loadavg), $((SECONDS - START)) s in all"
echo "t: $ROWS rows, 20 features as x float8[] ($(psql_q -At -c "SELECT pg_size_pretty(pg_table_size('t'))"));" \
     "model $(sed -n 's/.*"pinned": "\([^"]*\)".*/\1/p' "$WORK/meta.json") (sklearn LogisticRegression);" \
     "medians of $RUNS runs, round-robin; VACUUM of the target before each DELETE-ing run: $([ "$VACUUM_TARGETS" = 1 ] && echo yes || echo no);" \
     "CHECKPOINT before each run (both untimed)"
echo
cat "$WORK/explain.txt"
echo
cat "$WORK/perf.txt"
"$PY" "$BENCH_DIR/batch_bench.py" report "$WORK"
echo "(figures are noisy when other work shares the machine)"
