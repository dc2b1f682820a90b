#!/usr/bin/env bash
# slow
# tests/integration/zero_downtime_alias.sh: moving a model alias while
# clients score with it.  8 pgbench clients score with 'm@champion' for 30 s
# (ZERO_DOWNTIME_SECONDS overrides the duration) while another client moves
# the champion alias back and forth between versions 1 and 2 every 100 ms.
# Proves that no statement fails, that every prediction is exactly version
# 1's or version 2's output for its input, that every statement used one
# version for all its rows (an alias is resolved once per statement), that a
# statement which starts after a move has committed uses the new version (no
# stale alias anywhere), and that both versions really served.
#
# The two versions are linear regressions on three integer features a, b, c
# in [-100, 100] with integer coefficients, so their outputs are exact in
# float8 whatever the order of the arithmetic, and far apart:
#   v1 = 3a + b - 2c + 0.25          (between -600.75 and 600.25)
#   v2 = -a + 4b + c + 100000.5      (between 99400.5 and 100600.5)
# The table feats holds 100,000 inputs with both outputs computed in SQL
# (and checked against mlops.predict('m:1') and 'm:2' before the load).
#
# Workload (pgbench -n -c 8 -j 2, three scripts weighted 300:100:1, which
# gives the long statements about a third of the clients' time):
#  * single.sql: one row from random a, b, c: predict('m@champion') on a
#    float8[] and on a jsonb, and predict('m') (the champion too) on the
#    float8[]: three call sites, each resolving the reference, in one INSERT
#    into single_results, with statement_timestamp() and clock_timestamp();
#  * batch.sql: predict() on 1,000 consecutive rows of feats in one
#    INSERT ... SELECT that checks each prediction against y1 and y2 and
#    stores one row per statement in batch_results: how many rows equalled
#    v1's output, v2's, neither; the time the statement started, the time its
#    first row was scored and the time it ended;
#  * span.sql: the same, but the statement sleeps 20 ms at every 200th row
#    (about 100 ms in all), so that it runs across an alias move.
# Mover (a second pgbench, 1 client): set_model_alias('m', 'champion', v)
# with v alternating 2, 1, 2, ..., then records clock_timestamp() in
# alias_moves (after the commit), then \sleep 100 ms.
#
# No stale alias, exactly: a statement's snapshot is taken after
# statement_timestamp() (S) and before any clock_timestamp() read while it
# runs (E).  A move is visible to snapshots taken after it commits, which is
# after its registry event's "at" (clock_timestamp() inside set_model_alias)
# and before the mover's done_at.  Moves are serial, so for a statement let
# M be the last move with at <= E (+ 2 ms of slack): if M's done_at < S
# (- 2 ms), the statement's snapshot sees exactly the moves up to M, and it
# must have used M's version.  Otherwise a move may or may not have been
# visible to it (the statement is "ambiguous") and either version is right.
source "$(dirname "$0")/../lib/testdb.sh"

PGBENCH=/usr/lib/postgresql/15/bin/pgbench
DURATION=${ZERO_DOWNTIME_SECONDS:-30}
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || fail "ZERO_DOWNTIME_SECONDS must be a positive integer, not '$DURATION'"
CLIENTS=8
THREADS=2
FEATURE_ROWS=100000
BATCH_ROWS=1000
SLACK="2 ms"

work=$(mktemp -d /tmp/mlops-zero-downtime.XXXXXX)
chmod 755 "$work"
mover_pid=""
cleanup() {
    if [ -n "$mover_pid" ]; then kill "$mover_pid" 2>/dev/null || true; fi
    rm -rf "$work"
    drop_test_db
}
trap cleanup EXIT

# ---------------------------------------------------------------- setup
features='[{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}, {"name": "c", "type": "numeric"}]'
v1='{"format": "mlops.model/v1", "task": "regression", "features": '"$features"',
     "model": {"type": "linear", "link": "identity", "coef": [3, 1, -2], "intercept": [0.25]}}'
v2='{"format": "mlops.model/v1", "task": "regression", "features": '"$features"',
     "model": {"type": "linear", "link": "identity", "coef": [-1, 4, 1], "intercept": [100000.5]}}'

q -v v1="$v1" -v v2="$v2" <<SQL >/dev/null
SELECT mlops.register_model_version('m', :'v1');
SELECT mlops.register_model_version('m', :'v2');

CREATE TABLE feats (id int PRIMARY KEY, a int, b int, c int, x float8[], y1 float8, y2 float8);
INSERT INTO feats (id, a, b, c)
SELECT g, (g::bigint * 7919 % 201) - 100, (g::bigint * 104729 % 201) - 100, (g::bigint * 1299709 % 199) - 100
  FROM generate_series(1, $FEATURE_ROWS) g;
UPDATE feats SET x = ARRAY[a, b, c]::float8[],
                 y1 = 3 * a + b - 2 * c + 0.25,
                 y2 = -a + 4 * b + c + 100000.5;
VACUUM ANALYZE feats;

CREATE TABLE single_results (client_id int, started timestamptz, exec_at timestamptz,
                             a int, b int, c int, p_array float8, p_jsonb float8, p_bare float8);
CREATE TABLE batch_results (kind text, client_id int, started timestamptz, first_at timestamptz,
                            finished_at timestamptz, lo int, n int, n_v1 int, n_v2 int, n_neither int);
CREATE TABLE alias_moves (move_id int GENERATED ALWAYS AS IDENTITY, version int, done_at timestamptz);

SELECT mlops.set_model_alias('m', 'champion', 1);
INSERT INTO alias_moves (version, done_at) VALUES (1, clock_timestamp());
SQL

# The two versions really give y1 and y2, on both input forms.
check=$(q -F ' ' -c "
    SELECT count(*),
           count(*) FILTER (WHERE mlops.predict('m:1', x) = y1 AND mlops.predict('m:2', x) = y2),
           count(*) FILTER (WHERE mlops.predict('m:1', jsonb_build_object('a', a, 'b', b, 'c', c)) = y1
                              AND mlops.predict('m:2', jsonb_build_object('a', a, 'b', b, 'c', c)) = y2),
           count(*) FILTER (WHERE mlops.predict('m@champion', x) = y1),
           min(y1), max(y1), min(y2), max(y2)
      FROM feats")
read -r n ok_array ok_jsonb ok_champion min1 max1 min2 max2 <<<"$check"
[ "$n" -eq "$FEATURE_ROWS" ] && [ "$ok_array" -eq "$n" ] && [ "$ok_jsonb" -eq "$n" ] && [ "$ok_champion" -eq "$n" ] \
    || fail "versions 1 and 2 do not give y1 and y2 on all $n inputs (float8[] $ok_array, jsonb $ok_jsonb, champion $ok_champion)"
echo "model m: v1 outputs in [$min1, $max1], v2 outputs in [$min2, $max2], checked on $n inputs"

# ---------------------------------------------------------------- scripts
cat >"$work/single.sql" <<'EOF'
\set a random(-100, 100)
\set b random(-100, 100)
\set c random(-100, 100)
INSERT INTO single_results (client_id, started, exec_at, a, b, c, p_array, p_jsonb, p_bare)
VALUES (:client_id, statement_timestamp(), clock_timestamp(), :a, :b, :c,
        mlops.predict('m@champion', ARRAY[:a, :b, :c]::float8[]),
        mlops.predict('m@champion', jsonb_build_object('a', :a, 'b', :b, 'c', :c)),
        mlops.predict('m', ARRAY[:a, :b, :c]::float8[]));
EOF

# OFFSET 0 keeps the subquery whole, so that predict() runs once per row
# (pulled up, it would be copied into every aggregate that uses p).
batch_sql() {   # kind extra-condition
    cat <<EOF
\set lo random(1, $((FEATURE_ROWS - BATCH_ROWS + 1)))
INSERT INTO batch_results (kind, client_id, started, first_at, finished_at, lo, n, n_v1, n_v2, n_neither)
SELECT '$1', :client_id, statement_timestamp(), min(t), clock_timestamp(), :lo, count(*),
       count(*) FILTER (WHERE p = y1), count(*) FILTER (WHERE p = y2),
       count(*) FILTER (WHERE p IS DISTINCT FROM y1 AND p IS DISTINCT FROM y2)
  FROM (SELECT f.y1, f.y2, clock_timestamp() AS t, mlops.predict('m@champion', f.x) AS p
          FROM feats f
         WHERE f.id BETWEEN :lo AND :lo + $((BATCH_ROWS - 1)) $2
        OFFSET 0) s;
EOF
}
batch_sql batch "" >"$work/batch.sql"
batch_sql span "AND (f.id % 200 <> 0 OR pg_sleep(0.02) IS NOT NULL)" >"$work/span.sql"

cat >"$work/mover.sql" <<'EOF'
\set v 3 - :v
SELECT mlops.set_model_alias('m', 'champion', :v);
INSERT INTO alias_moves (version, done_at) VALUES (:v, clock_timestamp());
\sleep 100 ms
EOF

stat_query="SELECT deadlocks, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
read -r deadlocks0 rollbacks0 <<<"$(q -F ' ' -c "$stat_query")"

# ---------------------------------------------------------------- load
echo "pgbench: $CLIENTS clients, $THREADS threads, ${DURATION} s, single.sql@300 batch.sql@100 span.sql@1;" \
     "mover: 1 client, alias move + 100 ms sleep"
set +e
(cd "$work" && exec "$PGBENCH" -n -c 1 -j 1 -T "$DURATION" -D v=1 -f "$work/mover.sql" \
    >"$work/mover.out" 2>"$work/mover.err") &
mover_pid=$!
(cd "$work" && "$PGBENCH" -n -c "$CLIENTS" -j "$THREADS" -T "$DURATION" \
    --failures-detailed --verbose-errors -l --log-prefix="$work/txlog" \
    -f "$work/single.sql@300" -f "$work/batch.sql@100" -f "$work/span.sql@1") >"$work/pgbench.out" 2>"$work/pgbench.err"
status=$?
wait "$mover_pid"
mover_status=$?
mover_pid=""
set -e

sed 's/^/  | /' "$work/pgbench.out"
for f in pgbench mover; do
    if [ -s "$work/$f.err" ]; then
        echo "$f stderr:"
        head -40 "$work/$f.err" | sed 's/^/  ! /'
    fi
done
[ $status -eq 0 ] || fail "pgbench exited with status $status"
[ $mover_status -eq 0 ] || { cat "$work/mover.out"; fail "the mover's pgbench exited with status $mover_status"; }
[ ! -s "$work/pgbench.err" ] || fail "pgbench wrote to stderr (see above)"
[ ! -s "$work/mover.err" ] || fail "the mover's pgbench wrote to stderr (see above)"

out="$work/pgbench.out"
summary() { sed -n "s/^$2: \([0-9][0-9]*\).*/\1/p" "$1" | head -1; }
total_tx=$(summary "$out" 'number of transactions actually processed')
failed_tx=$(summary "$out" 'number of failed transactions')
mover_tx=$(summary "$work/mover.out" 'number of transactions actually processed')
mover_failed=$(summary "$work/mover.out" 'number of failed transactions')
tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$out" | head -1)
for v in total_tx failed_tx mover_tx mover_failed tps; do
    [ -n "${!v}" ] || fail "could not read $v from the pgbench output"
done
! grep -qi 'abort' "$out" "$work/mover.out" || fail "pgbench reports aborted clients"
! grep -E 'number of failed transactions: [1-9]' "$out" "$work/mover.out" || fail "pgbench reports failed transactions"
[ "$failed_tx" -eq 0 ] && [ "$mover_failed" -eq 0 ] || fail "failed transactions: $failed_tx scoring, $mover_failed mover"
grep -q '^SQL script 1: .*/single\.sql$' "$out" && grep -q '^SQL script 2: .*/batch\.sql$' "$out" \
    && grep -q '^SQL script 3: .*/span\.sql$' "$out" || fail "pgbench did not number the scripts as expected"

# Transactions per script from the per-transaction log (see
# concurrency_metrics.sh for why not from the summary).
compgen -G "$work/txlog.*" >/dev/null || fail "pgbench wrote no transaction log"
read -r single_tx batch_tx span_tx log_failed log_bad <<<"$(cat "$work"/txlog.* | awk '
    NF < 6 { bad++; next }
    $3 !~ /^[0-9]+$/ { failed++; next }
    $4 == 0 { s++; next }
    $4 == 1 { b++; next }
    $4 == 2 { l++; next }
    { bad++ }
    END { printf "%d %d %d %d %d\n", s, b, l, failed, bad }')"
[ "$log_failed" -eq 0 ] && [ "$log_bad" -eq 0 ] || fail "the transaction log has $log_failed failed and $log_bad unreadable lines"
[ $((single_tx + batch_tx + span_tx)) -eq "$total_tx" ] \
    || fail "the transaction log ($single_tx + $batch_tx + $span_tx) disagrees with the summary ($total_tx)"

# ---------------------------------------------------------------- checks
# Every committed statement left its row.
read -r single_rows batch_rows span_rows <<<"$(q -F ' ' -c "
    SELECT (SELECT count(*) FROM single_results),
           (SELECT count(*) FROM batch_results WHERE kind = 'batch'),
           (SELECT count(*) FROM batch_results WHERE kind = 'span')")"
[ "$single_rows" -eq "$single_tx" ] && [ "$batch_rows" -eq "$batch_tx" ] && [ "$span_rows" -eq "$span_tx" ] \
    || fail "results ($single_rows single, $batch_rows batch, $span_rows span) differ from the committed transactions ($single_tx, $batch_tx, $span_tx)"

# The version of each statement, or NULL when its predictions are not all
# one version's outputs (a wrong value, or a mix).
q <<SQL
CREATE TABLE stmts AS
SELECT 'single' AS kind, started, exec_at AS first_at, exec_at AS finished_at, 3 AS n,
       CASE WHEN p_array = 3 * a + b - 2 * c + 0.25 AND p_jsonb = p_array AND p_bare = p_array THEN 1
            WHEN p_array = -a + 4 * b + c + 100000.5 AND p_jsonb = p_array AND p_bare = p_array THEN 2 END AS version,
       format('a=%s b=%s c=%s: float8[] %s, jsonb %s, bare name %s', a, b, c, p_array, p_jsonb, p_bare) AS detail
  FROM single_results
UNION ALL
SELECT kind, started, first_at, finished_at, n,
       CASE WHEN n = $BATCH_ROWS AND n_v1 = n AND n_v2 = 0 AND n_neither = 0 THEN 1
            WHEN n = $BATCH_ROWS AND n_v2 = n AND n_v1 = 0 AND n_neither = 0 THEN 2 END,
       format('rows %s..%s: %s rows, %s as v1, %s as v2, %s neither', lo, lo + $BATCH_ROWS - 1, n, n_v1, n_v2, n_neither)
  FROM batch_results;

-- every alias move: its version, its event time (before the commit) and the
-- mover's time after the commit; matched in order
CREATE TABLE moves AS
SELECT e.k, e.version, e.at, coalesce(d.done_at, 'infinity') AS done_at, d.version AS done_version
  FROM (SELECT row_number() OVER (ORDER BY event_id) AS k, version, at FROM mlops.registry_events
         WHERE event = 'alias_set' AND model_name = 'm' AND alias = 'champion') e
  LEFT JOIN (SELECT row_number() OVER (ORDER BY move_id) AS k, version, done_at FROM alias_moves) d USING (k);
CREATE INDEX ON moves (at);
ANALYZE moves;
ANALYZE stmts;
SQL

bad=$(q -c "SELECT count(*) FROM stmts WHERE version IS NULL")
if [ "$bad" -ne 0 ]; then
    q -c "SELECT kind, started, detail FROM stmts WHERE version IS NULL ORDER BY started LIMIT 20" | sed 's/^/  /'
    fail "$bad statements had a prediction that is neither version's output, or mixed versions"
fi

read -r events moves_recorded misordered <<<"$(q -F ' ' -c "
    SELECT count(*), count(done_version),
           count(*) FILTER (WHERE done_version IS DISTINCT FROM version AND done_version IS NOT NULL
                               OR done_at < at OR next_at < done_at)
      FROM (SELECT *, lead(at) OVER (ORDER BY k) AS next_at FROM moves) m")"
# pgbench -T may stop the mover between its two statements: the last event
# can lack its done_at (it then counts as 'infinity', i.e. never certain)
[ "$misordered" -eq 0 ] && [ "$moves_recorded" -ge $((events - 1)) ] \
    || fail "alias moves and the mover's records do not match ($events events, $moves_recorded records, $misordered out of order)"
alias_moves=$((events - 1))   # the first event is the setup's
[ "$alias_moves" -ge $((DURATION * 5)) ] || fail "the alias moved only $alias_moves times in ${DURATION} s"

# The no-stale-alias check, and statements a move committed during.
q -F ' ' -c "
    CREATE TABLE judged AS
    SELECT s.*, m.k AS last_move, m.version AS expected,
           m.done_at >= s.started - interval '$SLACK' AS ambiguous,
           EXISTS (SELECT FROM moves m2 WHERE m2.at > s.first_at + interval '$SLACK'
                                          AND m2.done_at < s.finished_at - interval '$SLACK') AS spanned
      FROM stmts s
      CROSS JOIN LATERAL (SELECT * FROM moves m WHERE m.at <= s.first_at + interval '$SLACK'
                           ORDER BY m.at DESC LIMIT 1) m" >/dev/null
stale=$(q -c "SELECT count(*) FROM judged WHERE NOT ambiguous AND version <> expected")
if [ "$stale" -ne 0 ]; then
    q -c "SELECT kind, started, first_at, version, expected, last_move, detail FROM judged
           WHERE NOT ambiguous AND version <> expected ORDER BY started LIMIT 20" | sed 's/^/  /'
    fail "$stale statements started after an alias move had committed but used the version before it"
fi
[ "$(q -c "SELECT count(*) FROM judged")" -eq "$((single_rows + batch_rows + span_rows))" ] \
    || fail "some statements precede every alias move"

echo
echo "statements by kind: version 1 / version 2; ambiguous (a move committing while the snapshot was taken);" \
     "spanned (a move committed while the statement ran, not seen by it)"
q -F ' ' -c "
    SELECT format('  %-6s %7s statements, %9s predictions: v1 %7s, v2 %7s; ambiguous %5s; spanned a move %5s',
                  kind, count(*), sum(n), count(*) FILTER (WHERE version = 1), count(*) FILTER (WHERE version = 2),
                  count(*) FILTER (WHERE ambiguous), count(*) FILTER (WHERE spanned))
      FROM judged GROUP BY kind ORDER BY min(CASE kind WHEN 'single' THEN 1 WHEN 'batch' THEN 2 ELSE 3 END)"
read -r statements predictions seen_v1 seen_v2 unambiguous unambiguous_v1 spanned spanned_span <<<"$(q -F ' ' -c "
    SELECT count(*), sum(n), count(*) FILTER (WHERE version = 1), count(*) FILTER (WHERE version = 2),
           count(*) FILTER (WHERE NOT ambiguous), count(*) FILTER (WHERE NOT ambiguous AND expected = 1),
           count(*) FILTER (WHERE spanned),
           count(*) FILTER (WHERE spanned AND kind = 'span')
      FROM judged")"
read -r kinds_v1 kinds_v2 <<<"$(q -F ' ' -c "
    SELECT count(DISTINCT kind) FILTER (WHERE version = 1), count(DISTINCT kind) FILTER (WHERE version = 2) FROM judged")"
[ "$kinds_v1" -eq 3 ] && [ "$kinds_v2" -eq 3 ] || fail "not every kind of statement saw both versions ($kinds_v1 kinds saw v1, $kinds_v2 saw v2)"
[ "$spanned_span" -gt 0 ] || fail "no long statement ran across an alias move"
[ "$unambiguous_v1" -gt 0 ] && [ "$unambiguous_v1" -lt "$unambiguous" ] \
    || fail "the no-stale-alias check only had statements after moves to one version"

# No failed transaction anywhere in this database, from the server's own
# statistics (flushed when the backends exit).
for _ in $(seq 1 100); do
    others=$(q -c "SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
    [ "$others" -eq 0 ] && break
    sleep 0.1
done
read -r deadlocks1 rollbacks1 <<<"$(q -F ' ' -c "$stat_query")"
[ "$deadlocks1" -eq "$deadlocks0" ] && [ "$rollbacks1" -eq "$rollbacks0" ] \
    || fail "the server counted $((rollbacks1 - rollbacks0)) rolled back transactions and $((deadlocks1 - deadlocks0)) deadlocks"

echo
echo "statements: $statements ($single_rows single, $batch_rows batch of $BATCH_ROWS rows, $span_rows long batch of $BATCH_ROWS rows)," \
     "scoring transactions $total_tx, failed $failed_tx, tps $tps"
echo "predictions: $predictions, all exactly v1's or v2's output, one version per statement"
echo "alias moves: $alias_moves in ${DURATION} s (mover transactions $mover_tx, failed $mover_failed);" \
     "alias_set events in registry_events: $events"
echo "versions: $seen_v1 statements used v1, $seen_v2 used v2; $unambiguous statements started after a move had certainly" \
     "committed and before the next could have, and all used that move's version" \
     "($unambiguous_v1 of them v1, $((unambiguous - unambiguous_v1)) v2); $spanned statements ran while a move committed" \
     "($spanned_span of them long batches), each with one version throughout"
echo "ok: no errors, no wrong, mixed or stale predictions while the alias moved $alias_moves times"
