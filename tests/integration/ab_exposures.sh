#!/usr/bin/env bash
# How predict_ab and ab_assign record exposures (extension/ab.c), across processes and
# transactions, each count computed independently in SQL:
#  1. two sessions score overlapping units at once: each unit is recorded once, with the
#     variant both sessions served it;
#  2. a weight change waits for a transaction that is scoring through the test, and units it
#     exposed keep their variant afterwards;
#  3. a rolled-back transaction records nothing (past a 10,000-row batch too), and the session
#     goes on; in a PL/pgSQL loop of savepoints, some rolled back, every unit served is recorded
#     (rows are never written inside a subtransaction begun after they were queued);
#  4. a PL/pgSQL loop of ab_assign (expressions evaluated outside a statement) records every unit
#     by commit; a cursor's fetched rows are recorded when the fetch ends, in its transaction;
#  5. a reader's scoring is recorded (written as the tables' owner), though it cannot insert;
#  6. ab_assign/predict_ab in a read-only transaction fail with the read-only error, recording
#     nothing.
source "$(dirname "$0")/../lib/testdb.sh"
model='{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [COEF], "link": "identity"}}'
q -c "SELECT mlops.register_model_version('m', '${model/COEF/2}'), mlops.register_model_version('m', '${model/COEF/3}')" >/dev/null
q -c "SELECT mlops.create_ab_test('t', ARRAY['m:1', 'm:2'])" -c "SELECT mlops.start_ab_test('t')" >/dev/null
recorded() { q -c "SELECT count(*) FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = '$1'"; }

# 1. concurrent sessions
q -c "CREATE TABLE served1 (unit text, variant int); CREATE TABLE served2 (unit text, variant int)"
q -c "INSERT INTO served1 SELECT 'u' || g, (mlops.predict_ab('t', 'u' || g, ARRAY[1.0])).variant_index FROM generate_series(1, 30000) g" &
q -c "INSERT INTO served2 SELECT 'u' || g, (mlops.predict_ab('t', 'u' || g, ARRAY[1.0])).variant_index FROM generate_series(15001, 45000) g" &
wait
[ "$(recorded t)" = 45000 ] || fail "concurrent sessions: $(recorded t) units recorded, not 45000"
[ "$(q -c "SELECT count(*) FROM (SELECT * FROM served1 UNION ALL SELECT * FROM served2) s
            JOIN mlops.ab_assignments a ON a.unit_id = s.unit WHERE a.variant <> s.variant")" = 0 ] \
    || fail "a unit was served another variant than the one recorded"
echo "1. concurrent sessions ok"

# 2. a weight change waits for a scoring transaction
psql -X -q -v ON_ERROR_STOP=1 <<'SQL' &
BEGIN;
SELECT count(mlops.predict_ab('t', 'w' || g, ARRAY[1.0])) FROM generate_series(1, 1000) g;
SELECT pg_sleep(3);
COMMIT;
SQL
sleep 1
start=$(date +%s.%N)
q -c "SELECT mlops.set_ab_weights('t', '{0.1,0.9}')" >/dev/null
waited=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {print e - s}')
wait
awk -v w="$waited" 'BEGIN {exit !(w > 1.0)}' || fail "set_ab_weights did not wait for the scoring transaction (${waited} s)"
[ "$(q -c "SELECT count(*) FROM generate_series(1, 1000) g
            WHERE (mlops.ab_assign('t', 'w' || g)).variant_index
                  <> mlops.ab_choose_variation(mlops.ab_hash('t', 'w' || g, 2), '{{0,0.5},{0.5,1}}')")" = 0 ] \
    || fail "units exposed before the weight change moved"
echo "2. weight change waited ${waited} s; exposed units kept their variant"

# 3. rollbacks
before=$(recorded t)
out=$(psql -X -q -At -v ON_ERROR_STOP=1 <<'SQL'
BEGIN;
SELECT count(mlops.predict_ab('t', 'r' || g, ARRAY[1.0])) FROM generate_series(1, 25000) g;
ROLLBACK;
SELECT count(mlops.predict_ab('t', 'after-rollback', ARRAY[1.0]));
DO $$
DECLARE r mlops.ab_assignment;
BEGIN
    FOR i IN 1 .. 3000 LOOP
        BEGIN
            r := mlops.ab_assign('t', 'sp' || i);
            IF i % 1000 = 0 THEN RAISE EXCEPTION 'undo'; END IF;
        EXCEPTION WHEN raise_exception THEN NULL;
        END;
    END LOOP;
END $$;
SELECT 'alive';
SQL
)
echo "$out" | grep -qx alive || fail "the session did not survive rollbacks: $out"
[ "$(q -c "SELECT count(*) FROM mlops.ab_assignments WHERE unit_id LIKE 'r%'")" = 0 ] || fail "a rolled-back transaction recorded exposures"
[ "$(q -c "SELECT count(*) FROM mlops.ab_assignments WHERE unit_id = 'after-rollback'")" = 1 ] || fail "scoring after a rollback not recorded"
[ "$(q -c "SELECT count(*) FROM mlops.ab_assignments WHERE unit_id LIKE 'sp%'")" = 3000 ] || fail "units served in a loop of savepoints not all recorded"
echo "3. rollbacks record nothing; the session goes on; units served inside savepoints are recorded"

# 4. PL/pgSQL expressions and cursors
q -c "DO \$\$ DECLARE r mlops.ab_assignment; BEGIN FOR i IN 1 .. 15000 LOOP r := mlops.ab_assign('t', 'p' || i); END LOOP; END \$\$"
[ "$(q -c "SELECT count(*) FROM mlops.ab_assignments WHERE unit_id LIKE 'p%'")" = 15000 ] || fail "a PL/pgSQL loop's exposures not all recorded"
got=$(psql -X -q -At -v ON_ERROR_STOP=1 <<'SQL'
BEGIN;
DECLARE c CURSOR FOR SELECT mlops.predict_ab('t', 'c' || g, ARRAY[1.0]) FROM generate_series(1, 100) g;
FETCH 10 FROM c;
SELECT 'seen ' || count(*) FROM mlops.ab_assignments WHERE unit_id LIKE 'c%';
CLOSE c;
COMMIT;
SQL
)
echo "$got" | grep -qx "seen 10" || fail "a cursor's fetched rows are not recorded when the fetch ends: $got"
echo "4. PL/pgSQL loop and cursor ok"

# 5. a reader
q -c "CREATE ROLE ab_exp_reader IN ROLE mlops_reader" >/dev/null
trap 'q -c "DROP OWNED BY ab_exp_reader; DROP ROLE ab_exp_reader" >/dev/null 2>&1 || true; drop_test_db' EXIT
q -c "SET ROLE ab_exp_reader" -c "SELECT count(mlops.predict_ab('t', 'reader' || g, ARRAY[1.0])) FROM generate_series(1, 100) g" >/dev/null
[ "$(q -c "SELECT count(*) FROM mlops.ab_assignments WHERE unit_id LIKE 'reader%'")" = 100 ] || fail "a reader's exposures not recorded"
err=$(q -c "SET ROLE ab_exp_reader" -c "INSERT INTO mlops.ab_assignments VALUES (1, 1, 'x', 0, 1, NULL, now())" 2>&1 || true)
echo "$err" | grep -q "permission denied" || fail "a reader inserted into ab_assignments: $err"
echo "5. reader ok"

# 6. read-only transactions
err=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "SET default_transaction_read_only = on" \
        -c "SELECT mlops.predict_ab('t', 'ro', ARRAY[1.0])" 2>&1 || true)
echo "$err" | grep -q "read-only transaction" || fail "read-only transaction: $err"
[ "$(q -c "SELECT count(*) FROM mlops.ab_assignments WHERE unit_id = 'ro'")" = 0 ] || fail "a read-only transaction recorded"
echo "6. read-only ok"
echo "ab_exposures ok"
