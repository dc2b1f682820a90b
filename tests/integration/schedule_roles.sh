#!/usr/bin/env bash
# slow
# Roles and schedules on a real pg_cron, with two writers, alice and bob:
#  1. without USAGE on pg_cron's schema a schedule fails with 55000 and the
#     GRANT in the hint;
#  2. bob cannot take over alice's schedule: re-registering it, pausing,
#     resuming, dropping, re-arming or running it, or recording job runs
#     under it, all fail and change nothing (her pg_cron job, its command
#     and owner, her spec);
#  3. the internals those functions use are not executable by either;
#  4. alice's schedule fires on pg_cron, as alice, and its run says so;
#  5. a schedule whose pg_cron job is gone shows 'missing' until its owner
#     re-arms it;
#  6. eight sessions registering the first versions of a model that does
#     not exist yet all succeed, with versions 1 to 8 and one model.
# pg_cron runs in cron.database_name ('postgres' in the suite's cluster), so
# this test works there and cleans up after itself.
set -euo pipefail
export PGDATABASE=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
as() { local role=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -c "SET ROLE $role" "$@"; }
# run as a role, expecting an error: prints "SQLSTATE message"
refused() {
    local role=$1 sql=$2 out
    if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "SET ROLE $role" -c "$sql" 2>&1); then
        fail "$role was allowed: $sql"
    fi
    printf '%s\n' "$out" | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): \(.*\)$/\1 \2/p' | head -1
}
cleanup() {
    q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'mlops:roles-%' OR jobname = 'roles-bob-steal'" \
        >/dev/null 2>&1 || true
    q -c "DROP TABLE IF EXISTS roles_src, roles_alice_scores, roles_bob_scores" >/dev/null 2>&1 || true
    q -c "DROP EXTENSION IF EXISTS mlops CASCADE" >/dev/null 2>&1 || true
    q -c "REVOKE USAGE ON SCHEMA cron FROM mlops_writer" >/dev/null 2>&1 || true
    q -c "DROP ROLE IF EXISTS it_alice" -c "DROP ROLE IF EXISTS it_bob" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

q -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION mlops" >/dev/null
q <<'SQL' >/dev/null
CREATE ROLE it_alice LOGIN IN ROLE mlops_writer;
CREATE ROLE it_bob LOGIN IN ROLE mlops_writer;
SELECT mlops.register_model_version('roles_model', '{"format": "mlops.model/v1", "task": "regression",
  "features": [{"name": "a", "type": "numeric"}], "model": {"type": "linear", "coef": [2], "intercept": 1, "link": "identity"}}');
CREATE TABLE roles_src AS SELECT g AS id, ARRAY[g]::float8[] AS x FROM generate_series(1, 100) g;
GRANT SELECT ON roles_src TO it_alice, it_bob;
GRANT CREATE ON SCHEMA public TO it_alice, it_bob;
SQL

# ---- 1. pg_cron's schema is not open to every role
got=$(refused it_alice "SELECT mlops.schedule_batch_score('roles-alice', '0 3 * * *', 'roles_model:1', 'roles_src', 'roles_alice_scores', features => 'x')")
echo "without USAGE on schema cron: $got"
[[ "$got" == "55000 role \"it_alice\" may not use pg_cron" ]] || fail "expected 55000, got '$got'"
hint=$(psql -X -q -c "SET ROLE it_alice" -c "SELECT mlops.schedule_batch_score('roles-alice', '0 3 * * *', 'roles_model:1', 'roles_src', 'roles_alice_scores', features => 'x')" 2>&1 | grep HINT || true)
[[ "$hint" == *"GRANT USAGE ON SCHEMA cron TO mlops_writer"* ]] || fail "the hint does not give the GRANT: $hint"
[ "$(q -c "SELECT count(*) FROM mlops.schedules")" = 0 ] || fail "a refused schedule left a row"
q -c "GRANT USAGE ON SCHEMA cron TO mlops_writer" >/dev/null

# ---- 2. alice's schedule is hers
as it_alice -c "SELECT mlops.schedule_batch_score('roles-alice', '* * * * *', 'roles_model:1', 'roles_src',
                                                   'roles_alice_scores', features => 'x')" >/dev/null
before=$(q -c "SELECT s.spec::text || s.cron || s.active || j.jobid || j.command || j.username || j.active
                 FROM mlops.schedules s JOIN cron.job j ON j.jobid = s.cron_job_id WHERE s.name = 'roles-alice'")
[ -n "$before" ] || fail "alice's schedule has no pg_cron job"
[ "$(q -c "SELECT username FROM cron.job WHERE jobname = 'mlops:roles-alice'")" = it_alice ] \
    || fail "alice's pg_cron job is not hers"
hostile="SELECT mlops.schedule_batch_score('roles-alice', '* * * * *', 'roles_model:1',
         'SELECT 1 AS id, ARRAY[1]::float8[] AS x FROM pg_sleep(0)', 'roles_bob_scores', features => 'x')"
for sql in "$hostile" \
           "SELECT mlops.pause_schedule('roles-alice')" \
           "SELECT mlops.resume_schedule('roles-alice')" \
           "SELECT mlops.drop_schedule('roles-alice')" \
           "CALL mlops.run_schedule('roles-alice')" \
           "CALL mlops.batch_score('roles_model:1', 'roles_src', 'roles_bob_scores', features => 'x',
                                   schedule_id => $(q -c "SELECT schedule_id FROM mlops.schedules WHERE name = 'roles-alice'"))"; do
    got=$(refused it_bob "$sql")
    echo "bob: ${sql:0:60}... -> $got"
    [[ "$got" == 42501* || "$got" == 23505* ]] || fail "bob got '$got' for: $sql"
done
after=$(q -c "SELECT s.spec::text || s.cron || s.active || j.jobid || j.command || j.username || j.active
                FROM mlops.schedules s JOIN cron.job j ON j.jobid = s.cron_job_id WHERE s.name = 'roles-alice'")
[ "$before" = "$after" ] || fail "bob changed alice's schedule"
[ "$(q -c "SELECT count(*) FROM mlops.job_runs WHERE run_by = 'it_bob'")" = 0 ] || fail "bob recorded a job run"
echo "alice's schedule unchanged"
# bob's own pg_cron job cannot run alice's schedule either: run_schedule
# checks the role it runs as, which pg_cron sets to the job's owner (checked
# below, once pg_cron has fired)
as it_bob -c "SELECT cron.schedule('roles-bob-steal', '* * * * *', \$\$CALL mlops.run_schedule('roles-alice')\$\$)" >/dev/null

# ---- 3. the internals are out of reach
for sql in "SELECT mlops._cron_schedule('mlops:roles-alice', '* * * * *', 'SELECT 1')" \
           "SELECT mlops._cron_unschedule(1)" \
           "SELECT mlops._own_schedule('roles-alice')" \
           "SELECT mlops._arm_schedule(s) FROM mlops.schedules s" \
           "SELECT mlops._record_input(1, 'x', 'x', 'training', 1, repeat('0', 64))"; do
    got=$(refused it_bob "$sql")
    [[ "$got" == "42501 permission denied for function"* ]] || fail "bob got '$got' for: $sql"
done
echo "internals: permission denied"

# ---- 4. alice's schedule fires on pg_cron, as alice (pg_cron 1.4 schedules by the minute)
status=""
for _ in $(seq 1 80); do
    status=$(q -c "SELECT status || ' ' || run_by FROM mlops.job_runs WHERE job_name = 'roles-alice' AND status <> 'running'
                    ORDER BY job_run_id LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
echo "alice's schedule fired: $status"
[ "$status" = "succeeded it_alice" ] || fail "expected a run by it_alice, got '$status' (cron: $(q -c "SELECT status || ': ' || return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 1"))"
[ "$(q -c "SELECT tableowner FROM pg_tables WHERE tablename = 'roles_alice_scores'")" = it_alice ] \
    || fail "the target was not created by alice"
stolen=""
for _ in $(seq 1 80); do
    stolen=$(q -c "SELECT d.status || ': ' || d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                    WHERE j.jobname = 'roles-bob-steal' AND d.status IN ('failed', 'succeeded') LIMIT 1")
    [ -n "$stolen" ] && break
    sleep 1
done
echo "bob's pg_cron job running alice's schedule: $stolen"
[[ "$stolen" == *'failed: ERROR:  schedule "roles-alice" belongs to role it_alice'* ]] || fail "bob's job: '$stolen'"
[ "$(q -c "SELECT count(*) FROM mlops.job_runs WHERE run_by = 'it_bob'")" = 0 ] || fail "bob's job recorded a run"

# ---- 5. a schedule whose pg_cron job is gone says so until re-armed
q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'mlops:roles-alice'" >/dev/null
[ "$(q -c "SELECT state FROM mlops.schedules_overview WHERE name = 'roles-alice'")" = missing ] \
    || fail "a schedule without its pg_cron job is not 'missing'"
[ "$(as it_bob -c "SELECT mlops.rearm_schedules()")" = 0 ] || fail "bob re-armed alice's schedule"
[ "$(as it_alice -c "SELECT mlops.rearm_schedules()")" = 1 ] || fail "alice could not re-arm her schedule"
[ "$(q -c "SELECT state || ' ' || j.username FROM mlops.schedules_overview o JOIN cron.job j ON j.jobid = o.cron_job_id
           WHERE o.name = 'roles-alice'")" = "armed it_alice" ] || fail "re-armed schedule is not armed as alice"
as it_alice -c "SELECT mlops.drop_schedule('roles-alice')" >/dev/null
echo "missing, then re-armed by its owner, then dropped"

# ---- 6. first registrations at once
artifact='{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}], "model": {"type": "linear", "coef": [1], "intercept": 0, "link": "identity"}}'
pids=()
for i in $(seq 1 8); do
    # each session waits for the next half second, so that they register together
    ( psql -X -q -At -v ON_ERROR_STOP=1 -v a="$artifact" <<<"SET ROLE it_alice;
          SELECT pg_sleep(0.5 - extract(milliseconds FROM clock_timestamp())::int % 500 / 1000.0);
          SELECT mlops.register_model_version('roles_race', :'a');" \
          >/tmp/roles_race_$$_$i.out 2>&1 ) &
    pids+=($!)
done
ok=0
for i in $(seq 1 8); do
    if wait "${pids[$((i - 1))]}"; then ok=$((ok + 1)); else cat /tmp/roles_race_$$_$i.out; fi
    rm -f /tmp/roles_race_$$_$i.out
done
versions=$(q -c "SELECT string_agg(v.version::text, ',' ORDER BY v.version) FROM mlops.model_versions v
                  JOIN mlops.registered_models m USING (model_id) WHERE m.name = 'roles_race'")
created=$(q -c "SELECT count(*) FROM mlops.registry_events WHERE model_name = 'roles_race' AND event = 'model_created'")
echo "8 concurrent first registrations: $ok succeeded, versions $versions, $created model_created event"
[ "$ok" = 8 ] && [ "$versions" = "1,2,3,4,5,6,7,8" ] && [ "$created" = 1 ] || fail "concurrent registrations"
echo "schedule roles ok"
