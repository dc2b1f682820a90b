#!/usr/bin/env bash
# Canary steps and bandit updates as pg_cron schedules (kinds ab_canary and ab_bandit):
#  1. schedule_canary / schedule_ab_bandit make a schedule and its pg_cron job, whose command
#     runs the schedule as its owner; running it does one canary step or one bandit update,
#     each an event in ab_events (held: too few units);
#  2. with outcomes, the scheduled bandit update moves the weights (the better arm gains) and
#     the canary advances to its next share;
#  3. another writer can neither run nor drop them (42501), nor schedule someone else's test;
#  4. a test with a schedule cannot be dropped (2BP01); dropping the schedule removes its
#     pg_cron job, and then the test drops.
# pg_cron runs in cron.database_name ('postgres' in the suite's cluster), so this test works
# there and cleans up after itself.
set -euo pipefail
export PGDATABASE=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
    q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'mlops:it-ab%'" >/dev/null 2>&1 || true
    q -c "DROP EXTENSION IF EXISTS mlops CASCADE" >/dev/null 2>&1 || true
    q -c "DROP ROLE IF EXISTS it_ab_other" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
q -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION mlops" >/dev/null
model='{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [COEF], "link": "identity"}}'
q -c "SELECT mlops.register_model_version('it_ab_m', '${model/COEF/2}'), mlops.register_model_version('it_ab_m', '${model/COEF/3}')" >/dev/null
q <<'SQL' >/dev/null
SELECT mlops.create_ab_test('it_ab_canary', ARRAY['it_ab_m:1', 'it_ab_m:2'], kind => 'canary',
                            canary_steps => '{0.2,0.5}', guard => '{"metric": "kept", "min_units": 30}');
SELECT mlops.start_ab_test('it_ab_canary');
SELECT mlops.create_ab_test('it_ab_bandit', ARRAY['it_ab_m:1', 'it_ab_m:2']);
SELECT mlops.start_ab_test('it_ab_bandit');
SELECT mlops.schedule_canary('it-ab-canary', '0 5 31 2 *', 'it_ab_canary');
SELECT mlops.schedule_ab_bandit('it-ab-bandit', '0 5 31 2 *', 'it_ab_bandit', 'converted', min_units => 50);
SQL
[ "$(q -c "SELECT string_agg(kind || ':' || (spec ->> 'ab_test'), ',' ORDER BY name) FROM mlops.schedules")" \
  = "ab_bandit:it_ab_bandit,ab_canary:it_ab_canary" ] || fail "schedules: $(q -c 'SELECT name, kind, spec FROM mlops.schedules')"
[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname IN ('mlops:it-ab-canary', 'mlops:it-ab-bandit')
            AND command LIKE '%run_schedule%'")" = 2 ] || fail "pg_cron jobs missing: $(q -c 'SELECT jobname, command FROM cron.job')"

# 1. held: too few units
q -c "CALL mlops.run_schedule('it-ab-canary')" -c "CALL mlops.run_schedule('it-ab-bandit')" >/dev/null 2>&1
[ "$(q -c "SELECT string_agg(ab_test || ':' || event, ',' ORDER BY event_id) FROM mlops.ab_events
            WHERE event LIKE '%held'")" = "it_ab_canary:canary_held,it_ab_bandit:bandit_held" ] \
    || fail "held events: $(q -c "SELECT ab_test, event FROM mlops.ab_events")"
echo "1. scheduled steps held with too few units"

# 2. with outcomes: the bandit moves toward the arm that converts, the canary advances
q <<'SQL' >/dev/null
SELECT count(mlops.ab_assign('it_ab_bandit', 'b' || g)) FROM generate_series(1, 400) g;
INSERT INTO mlops.ab_outcomes (unit_id, metric, observed_at, value)
SELECT a.unit_id, 'converted', '2100-01-01', CASE WHEN a.variant = 1 AND substr(a.unit_id, 2)::int % 3 = 0 THEN 1 ELSE 0 END
  FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'it_ab_bandit';
SELECT count(mlops.ab_assign('it_ab_canary', 'c' || g)) FROM generate_series(1, 400) g;
INSERT INTO mlops.ab_outcomes (unit_id, metric, observed_at, value)
SELECT a.unit_id, 'kept', '2100-01-01', 1
  FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'it_ab_canary';
SQL
q -c "CALL mlops.run_schedule('it-ab-bandit')" -c "CALL mlops.run_schedule('it-ab-canary')" >/dev/null
w=$(q -c "SELECT string_agg(round(weight::numeric, 2)::text, ',' ORDER BY variant) FROM mlops.ab_variants v
           JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'it_ab_bandit'")
awk -F, -v w="$w" 'BEGIN {split(w, a, ","); exit !(a[2] > 0.9 && a[1] >= 0.01)}' || fail "bandit weights $w"
[ "$(q -c "SELECT weight FROM mlops.ab_variants v JOIN mlops.ab_tests t USING (ab_test_id)
            WHERE t.key = 'it_ab_canary' AND variant = 1")" = 0.5 ] || fail "canary did not advance to 50%"
echo "2. bandit weights $w; canary at 50%"

# 3. another writer
q -c "CREATE ROLE it_ab_other IN ROLE mlops_writer" -c "GRANT USAGE ON SCHEMA cron TO it_ab_other" >/dev/null
for sql in "CALL mlops.run_schedule('it-ab-canary')" "SELECT mlops.drop_schedule('it-ab-bandit')" \
           "SELECT mlops.schedule_canary('it-ab-mine', '0 5 31 2 *', 'it_ab_canary')"; do
    err=$(q -c "SET ROLE it_ab_other" -c "$sql" 2>&1 || true)
    echo "$err" | grep -q "belongs to role" || fail "another writer: $sql: $err"
done
echo "3. another writer refused"

# 4. drop order
err=$(q -c "SELECT mlops.drop_ab_test('it_ab_canary')" 2>&1 || true)
echo "$err" | grep -q "has schedule" || fail "a test with a schedule dropped: $err"
q -c "SELECT mlops.drop_schedule('it-ab-canary')" -c "SELECT mlops.drop_ab_test('it_ab_canary')" >/dev/null
[ "$(q -c "SELECT count(*) FROM cron.job WHERE jobname = 'mlops:it-ab-canary'")" = 0 ] || fail "pg_cron job left"
echo "4. drop order ok"
echo "ab_schedules ok"
