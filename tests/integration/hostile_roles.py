#!/usr/bin/python3
"""Helper of hostile_roles.sh: every routine of schema mlops, called by hostile roles with
hostile arguments, and what they may and may not have changed.

Run by hostile_roles.sh against the suite's cluster (PGHOST, PGPORT, PGUSER: a superuser), in
the database where pg_cron runs (PGDATABASE, 'postgres').  Prints a summary; exits 1 on any
finding.  Must run under Debian's /usr/bin/python3 (python3-psycopg2).

The routines come from the catalog (pg_proc in schema mlops, every overload; procedures and
aggregates too), so a routine added to the extension is attacked without a change here.  Its
arguments come from its parameters' types and names:
  * a valid baseline for hostile_writer, by parameter name, else by type (baselines());
  * hostile variants by type (build_pools()): NULLs, empty and 1 MB strings, control characters and
    binary junk, quotes and SQL, identifier tricks, the victim's names and ids, extreme numbers,
    NaN and infinities, malformed, deep and huge jsonb, wrong-shape arrays, forged compiled
    models (a victim version's id and checksum over another body, bytes flipped, truncated,
    sizes lied about), relations the attacker cannot read, feature view rows (the victim's, the
    writer's own with the victim's online table, source or name put in).
Each routine is called with its baseline, then with each parameter varied in turn over its
variants (the others at their baseline), then with every parameter hostile at once.  A function
call runs in its own transaction with a statement_timeout and is rolled back, after the
attacker's view of every mlops table, of the relations in mlops_online and of the online tables'
rows was compared with the one before (each changed row is judged by policy(): the reader and a
role with no mlops role may change nothing, the writer what README's roles give it, as itself:
drift_policy() for baselines, monitors, their checks, history and alerts; retraining_policy() for
retraining policies and their events (an admin's: attackers change none); features_policy() for
entities, feature views and services, and the online tables, made by the extension's owner for
a view's owner and written only for the writer's own views) and, after the first calls that
wrote, the integrity
invariants (INVARIANTS) checked; a procedure commits, so a superuser compares everything
(pg_cron's jobs, the victim's tables and the database's relations too) before and after it.
Then the writer's successful calls run again, committed, checked the same way.  Any error
must carry a SQLSTATE other than XX000; a lost connection is a crash.

Other phases: direct DML on every mlops table and on the online tables of other roles' views; a
backend shared by roles that switch with SET ROLE (a pool, as PostgREST's): each call of the
reader's that runs as the caller, followed by the victim's scores and online features in the
same backend; a job run of the victim's left running in a shared backend, attacked by the
writer.  At the end: nothing of the victim's changed (its schedules, pg_cron jobs, job runs and
rejects, private tables, versions, aliases, stages, drift baselines, monitors, checks, history
and alerts, entities, feature views and services, online tables and their rows, and what
feature_vector and online_features give it; its params, artifacts, inputs, metric points and
the registry events kept), the invariants, the victim's schedules (its batch one, its drift
monitor's and its materialization's) still run as the victim, it still materializes its view
whose name another view shares in its first 63 bytes, its long job run is still its own
(cancelled by its session, recorded so), and the server never restarted (its log since the
start has no crash).
"""
import datetime
import itertools
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict

import psycopg2

DB = os.environ.get('PGDATABASE', 'postgres')
SUPER = os.environ.get('PGUSER', 'postgres')
CALL_TIMEOUT_MS = int(os.environ.get('HOSTILE_CALL_TIMEOUT_MS', '5000'))
# values tried per parameter (of a type whose pool is bigger), to keep the suite's run in
# minutes as the routines grow; HOSTILE_POOL_CAP=0 tries every value of every pool
POOL_CAP = int(os.environ.get('HOSTILE_POOL_CAP', '14'))
VICTIM, ADMIN, READER, WRITER, NOBODY, POOL = (
    'hostile_victim', 'hostile_admin', 'hostile_reader', 'hostile_writer', 'hostile_nobody', 'hostile_pool')
ROLES = [POOL, VICTIM, ADMIN, READER, WRITER, NOBODY]
START = time.time()
MB = 1 << 20

findings = []
notes = []
# HOSTILE_ERRORS=FILE writes every error (role, SQLSTATE, call, message) there, to review them
ERROR_LOG = open(os.environ['HOSTILE_ERRORS'], 'w') if os.environ.get('HOSTILE_ERRORS') else None


def log(msg):
    print(f'[{time.time() - START:6.1f}s] {msg}', flush=True)


def finding(kind, msg):
    msg = msg if len(msg) <= 700 else msg[:700] + '...'
    findings.append((kind, msg))
    print(f'FINDING [{kind}] {msg}', flush=True)


def connect(user=SUPER):
    conn = psycopg2.connect(dbname=DB, user=user, application_name='hostile_roles')
    conn.autocommit = True
    return conn


def q(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def q1(conn, sql, args=None):
    rows = q(conn, sql, args)
    return rows[0][0] if rows else None


def short(value, n=40):
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        return f'<{len(value)} bytes {value[:6].hex()}..>' if len(value) > 8 else f"'\\x{value.hex()}'"
    s = repr(value)
    return s if len(s) <= n else f'{s[:n]}...<{len(str(value))} chars>'


# --------------------------------------------------------------------------- models
def linear(coef, intercept):
    return json.dumps({'format': 'mlops.model/v1', 'task': 'regression',
                       'features': [{'name': 'a', 'type': 'numeric'}, {'name': 'b', 'type': 'numeric'}],
                       'model': {'type': 'linear', 'coef': coef, 'intercept': intercept, 'link': 'identity'}})


A_V1 = linear([2, -1], 1)
A_V2 = linear([0.5, 0.5], 0)
A_W = linear([3, 3], -1)            # the writer's
A_W2 = linear([4, 4], -2)           # what the writer's baseline registers
A_FORGE = linear([1000, 1000], 7)   # the body of a forged compiled model
A_TREE = json.dumps({'format': 'mlops.model/v1', 'task': 'regression',
                     'features': [{'name': 'a', 'type': 'numeric'}, {'name': 'b', 'type': 'numeric'}],
                     'model': {'type': 'trees', 'link': 'identity',
                               'trees': [{'feature': [0, 0, 1, 0, 0], 'threshold': [0.5, 0, 2, 0, 0],
                                          'left': [1, -1, 3, -1, -1], 'right': [2, -1, 4, -1, -1],
                                          'default_left': [False, True, True, True, True],
                                          'value': [0, 10, 0, 20, 30]}]}})
A_MLP = json.dumps({'format': 'mlops.model/v1', 'task': 'binary', 'classes': ['no', 'yes'],
                    'features': [{'name': 'a', 'type': 'numeric'}, {'name': 'b', 'type': 'numeric'}],
                    'model': {'type': 'mlp', 'hidden_activation': 'relu', 'output_activation': 'logistic',
                              'layers': [{'weights': [[1, -1], [2, 0.5]], 'bias': [0, -1]},
                                         {'weights': [[1], [-2]], 'bias': [0.5]}]}})
NEVER = '0 3 31 2 *'    # February 31st: a schedule that never fires during the test
FV_OWN = "(SELECT v FROM mlops.feature_views v WHERE v.name = 'hw_fv')"     # the writer's view's row
# a view of the victim's with the longest name (63 bytes: its online table takes the name),
# never materialized, and a longer name the same in its first 63 bytes, which a table name
# would be cut to (create_feature_view refuses it)
VICTIM_LONG_VIEW = 'hv_' + 'l' * 54 + '_daily'
SQUAT_VIEW = VICTIM_LONG_VIEW + '_hw'
VICTIM_DRIFT_NAMES = {'hv_base', 'hv_base_free', 'hv-drift', 'hv-drift-manual'}


# --------------------------------------------------------------------------- set-up
def cleanup(su):
    for stmt in [
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = ANY (%(roles)s) AND pid <> pg_backend_pid()",
        "SELECT pg_sleep(0.2)",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY (%(roles)s) AND pid <> pg_backend_pid()",
        "SELECT cron.unschedule(jobid) FROM cron.job WHERE username = ANY (%(roles)s)",
        "DROP EXTENSION IF EXISTS mlops CASCADE",
        "DROP SCHEMA IF EXISTS hostile_victim_s CASCADE",
        "DROP SCHEMA IF EXISTS hostile_writer_s CASCADE",
        "DROP SCHEMA IF EXISTS hostile_check CASCADE",
        "REVOKE USAGE ON SCHEMA cron FROM mlops_writer",
    ] + [f'DROP OWNED BY {r}' for r in ROLES] + [f'DROP ROLE IF EXISTS {r}' for r in ROLES]:
        try:
            q(su, stmt, {'roles': ROLES})
        except psycopg2.Error:
            pass


def setup(su):
    q(su, 'CREATE EXTENSION IF NOT EXISTS pg_cron')
    q(su, 'CREATE EXTENSION mlops')
    q(su, 'GRANT USAGE ON SCHEMA cron TO mlops_writer')
    q(su, ONLINE_ROWS_FUNCTION)
    q(su, f"""
        CREATE ROLE {VICTIM} LOGIN IN ROLE mlops_writer;
        CREATE ROLE {ADMIN} LOGIN IN ROLE mlops_admin;
        CREATE ROLE {READER} LOGIN IN ROLE mlops_reader;
        CREATE ROLE {WRITER} LOGIN IN ROLE mlops_writer;
        CREATE ROLE {NOBODY} LOGIN;
        -- a pool's login role, as PostgREST's authenticator: no privileges of its own, it
        -- switches to the role of each request with SET ROLE
        CREATE ROLE {POOL} LOGIN NOINHERIT;
        GRANT {READER}, {WRITER}, {VICTIM} TO {POOL};
        CREATE SCHEMA hostile_victim_s AUTHORIZATION {VICTIM};
        -- tens of thousands of errors, some with 1 MB arguments: not in the server log
        ALTER ROLE {VICTIM} SET log_min_messages = fatal;
        ALTER ROLE {VICTIM} SET log_min_error_statement = panic;
        ALTER ROLE {ADMIN} SET log_min_messages = fatal;
        ALTER ROLE {READER} SET log_min_messages = fatal;
        ALTER ROLE {READER} SET log_min_error_statement = panic;
        ALTER ROLE {WRITER} SET log_min_messages = fatal;
        ALTER ROLE {WRITER} SET log_min_error_statement = panic;
        ALTER ROLE {NOBODY} SET log_min_messages = fatal;
        ALTER ROLE {NOBODY} SET log_min_error_statement = panic;
        ALTER ROLE {POOL} SET log_min_messages = fatal;
        ALTER ROLE {POOL} SET log_min_error_statement = panic;
        CREATE SCHEMA hostile_writer_s AUTHORIZATION {WRITER};""")
    ids = {}
    v = connect(VICTIM)
    q(v, """
        CREATE TABLE hostile_victim_s.private AS
        SELECT g AS id, ARRAY[g % 7, g % 3]::float8[] AS x FROM generate_series(1, 40) g;
        INSERT INTO hostile_victim_s.private VALUES (41, NULL), (42, ARRAY[1]::float8[]);
        CREATE VIEW hostile_victim_s.slow_src AS SELECT 1 AS id, ARRAY[1, 2]::float8[] AS x FROM pg_sleep(3600);""")
    ids['exp'] = q1(v, "SELECT mlops.create_experiment('hv_exp', 'the victim''s', '{\"team\": \"victim\"}')")
    ids['run1'] = r1 = q1(v, "SELECT mlops.start_run('hv_exp', 'hv_run_1', '{\"stage\": \"train\"}')")
    q(v, """SELECT mlops.log_params(%(r)s, '{"lr": 0.1, "depth": 3}');
            SELECT mlops.log_metric(%(r)s, 'loss', 0.5, 1); SELECT mlops.log_metric(%(r)s, 'loss', 0.4, 2);
            SELECT mlops.log_metrics(%(r)s, '{"auc": 0.9}');
            SELECT mlops.log_artifact(%(r)s, 'model/model.json', convert_to(%(a)s, 'UTF8'), 'application/json');
            SELECT mlops.log_artifact(%(r)s, 'plots/roc.bin', '\\x00ff10'::bytea);
            SELECT mlops.log_input(%(r)s, 'hostile_victim_s.private');
            SELECT mlops.set_tag(%(r)s, 'owner', 'victim');""", {'r': r1, 'a': A_V1})
    ids['run2'] = q1(v, "SELECT mlops.start_run('hv_exp', 'hv_run_2', parent_run_id => %s)", (r1,))
    q(v, "SELECT mlops.log_metric(%(r)s, 'loss', 1.0); SELECT mlops.end_run(%(r)s)", {'r': ids['run2']})
    ids['run3'] = q1(v, "SELECT mlops.start_run('hv_exp', 'hv_run_3')")
    q(v, 'SELECT mlops.delete_run(%s)', (ids['run3'],))
    ids['exp2'] = q1(v, "SELECT mlops.create_experiment('hv_exp_deleted')")
    ids['run4'] = q1(v, "SELECT mlops.start_run('hv_exp_deleted', 'hv_run_4')")
    q(v, """SELECT mlops.register_model_version_from_run('hv_model', %(r)s, 'model/model.json', 'v1');
            SELECT mlops.register_model_version('hv_model', %(a2)s, %(r)s, 'v2');
            SELECT mlops.register_model_version('hv_tree', %(t)s);
            SELECT mlops.register_model_version('hv_mlp', %(m)s);
            SELECT mlops.set_registered_model_tag('hv_model', 'team', 'victim');
            SELECT mlops.set_model_version_tag('hv_model', 1, 'validated', 'yes');
            SELECT mlops.create_registered_model('hv_empty', 'no versions yet', '{"team": "victim"}');""",
      {'r': r1, 'a2': A_V2, 't': A_TREE, 'm': A_MLP})
    a = connect(ADMIN)
    q(a, """SELECT mlops.set_model_alias('hv_model', 'champion', 1);
            SELECT mlops.set_model_alias('hv_model', 'challenger', 2);
            SELECT mlops.set_model_alias('hv_mlp', 'champion', 1);
            SELECT mlops.transition_model_stage('hv_model', 1, 'Production');
            SELECT mlops.transition_model_stage('hv_tree', 1, 'staging');
            SELECT mlops.delete_experiment('hv_exp_deleted');
            SELECT mlops.create_retraining_policy('ha_policy', 'hv_model', 'SELECT 1::float8 AS x, 2::float8 AS y', 'y');""")
    a.close()
    # the victim's job runs: one with rejects, one failed, one under its schedule
    q(v, "CALL mlops.batch_score('hv_model:1', 'hostile_victim_s.private', 'hostile_victim_s.scores', features => 'x', "
         "on_error => 'reject', job_name => 'hv-batch')")
    try:
        q(v, "CALL mlops.batch_score('hv_model:1', 'hostile_victim_s.private', 'hostile_victim_s.scores', "
             "features => 'x', job_name => 'hv-failed')")
    except psycopg2.Error:
        pass
    ids['sched'] = q1(v, "SELECT mlops.schedule_batch_score('hv-nightly', %s, 'hv_model@champion', "
                         "'hostile_victim_s.private', 'hostile_victim_s.nightly', features => 'x', on_error => 'reject')",
                      (NEVER,))
    q(v, "CALL mlops.run_schedule('hv-nightly')")
    ids['sched2'] = q1(v, "SELECT mlops.schedule_batch_score('hv-paused', %s, 'hv_mlp', 'hostile_victim_s.private', "
                          "'hostile_victim_s.paused', features => 'x', on_error => 'reject', "
                          "outputs => ARRAY['prediction', 'class'])", (NEVER,))
    q(v, "SELECT mlops.pause_schedule('hv-paused')")
    # drift: two baselines (one watched by its monitors), a scheduled monitor and one without a
    # schedule, each run once (a job run, a check, its history), with open alerts and an
    # acknowledged one
    q(v, """
        CREATE TABLE hostile_victim_s.drift_ref AS
        SELECT g AS id, (g % 10)::float8 AS a, (g % 7)::float8 AS b, (ARRAY['web', 'store', 'phone'])[1 + g % 3] AS channel
          FROM generate_series(1, 60) g;
        CREATE TABLE hostile_victim_s.drift_cur AS
        SELECT g AS id, (g % 10)::float8 + 5 AS a, (g % 7)::float8 AS b,
               (ARRAY['web', 'store', 'phone', 'app'])[1 + g % 4] AS channel
          FROM generate_series(1, 60) g;""")
    ids['base'] = q1(v, "SELECT mlops.capture_baseline('hv_base', 'hostile_victim_s.drift_ref', '{a,b,channel}')")
    ids['base_free'] = q1(v, "SELECT mlops.capture_baseline('hv_base_free', 'hostile_victim_s.drift_ref', '{a}')")
    ids['monitor'] = q1(v, "SELECT mlops.create_drift_monitor('hv-drift', 'hv_base', 'hostile_victim_s.drift_cur', %s)",
                        (NEVER,))
    ids['monitor2'] = q1(v, "SELECT mlops.create_drift_monitor('hv-drift-manual', 'hv_base', 'hostile_victim_s.drift_cur')")
    q(v, "CALL mlops.run_drift_monitor('hv-drift')")
    q(v, "CALL mlops.run_drift_monitor('hv-drift-manual')")
    ids['alert_open'] = q1(v, "SELECT alert_id FROM mlops.drift_alerts WHERE monitor_id = %s AND feature = 'a'",
                           (ids['monitor'],))
    ids['alert_dataset'] = q1(v, 'SELECT alert_id FROM mlops.drift_alerts WHERE monitor_id = %s AND feature IS NULL',
                              (ids['monitor'],))
    ids['alert_ack'] = q1(v, "SELECT alert_id FROM mlops.drift_alerts WHERE monitor_id = %s AND feature = 'a'",
                          (ids['monitor2'],))
    q(v, "SELECT mlops.acknowledge_drift_alert(%s, 'the victim looks into it')", (ids['alert_ack'],))
    ids['check'] = q1(v, 'SELECT check_id FROM mlops.drift_checks WHERE monitor_id = %s', (ids['monitor'],))
    ids['sched_drift'] = q1(v, 'SELECT schedule_id FROM mlops.drift_monitors WHERE monitor_id = %s', (ids['monitor'],))
    if not (ids['alert_open'] and ids['alert_dataset'] and ids['alert_ack'] and ids['sched_drift']):
        raise SystemExit(f'the victim\'s drift monitors did not raise the alerts this test needs: {ids}')
    # feature views: an entity, a view over a private table (materialized: its online table,
    # on a schedule too), one never materialized, and a service
    q(v, """
        CREATE TABLE hostile_victim_s.feat_src AS
        SELECT 1 + g % 10 AS customer_id, now() - g * interval '1 hour' AS event_ts,
               now() - g * interval '1 hour' + interval '1 minute' AS created_ts,
               (g % 7)::float8 AS spend, (g % 3)::float8 AS visits
          FROM generate_series(1, 60) g;
        SELECT mlops.create_entity('hv_customer', '{customer_id}', 'the victim''s');
        SELECT mlops.create_feature_view('hv_fv', '{hv_customer}', 'hostile_victim_s.feat_src', 'event_ts',
                                         ttl => '30 days', created_timestamp_column => 'created_ts',
                                         tags => '{"team": "victim"}');
        SELECT mlops.create_feature_view('hv_fv2', '{hv_customer}', 'hostile_victim_s.feat_src', 'event_ts', '{spend}');
        SELECT mlops.create_feature_service('hv_fs', '{hv_fv:spend,hv_fv:visits}');""")
    q(v, "SELECT mlops.create_feature_view(%s, '{hv_customer}', 'hostile_victim_s.feat_src', 'event_ts', '{visits}')",
      (VICTIM_LONG_VIEW,))
    q(v, "CALL mlops.materialize_online('hv_fv')")
    ids['sched_online'] = q1(v, "SELECT mlops.schedule_materialize_online('hv-online', %s, 'hv_fv')", (NEVER,))
    # A/B tests: a running one with exposures and an outcome, and a draft
    ids['ab'] = q1(v, "SELECT mlops.create_ab_test('hv_ab', '{hv_mlp:1,hv_mlp:1}')")
    q(v, "SELECT mlops.start_ab_test('hv_ab')")
    q(v, "SELECT count(mlops.ab_assign('hv_ab', 'hv-unit-' || g)) FROM generate_series(1, 20) g")
    q(v, "SELECT mlops.record_ab_outcome('hv-unit-1', 'hv_metric', 1, '2030-01-01')")
    ids['ab_draft'] = q1(v, "SELECT mlops.create_ab_test('hv_ab_draft', '{hv_mlp:1,hv_mlp:1}')")
    for k, sql in [('entity', "SELECT entity_id FROM mlops.entities WHERE name = 'hv_customer'"),
                   ('fview', "SELECT view_id FROM mlops.feature_views WHERE name = 'hv_fv'"),
                   ('fview2', "SELECT view_id FROM mlops.feature_views WHERE name = 'hv_fv2'"),
                   ('fservice', "SELECT service_id FROM mlops.feature_services WHERE name = 'hv_fs'"),
                   ('job_online', "SELECT job_run_id FROM mlops.job_runs WHERE kind = 'materialize_online'")]:
        ids[k] = q1(v, sql)
    ids['online'] = victim_online(v)
    if any(r is None or r.startswith('error') or 'null' in r.lower() for k, r in ids['online'].items() if '99' not in k):
        raise SystemExit(f'the victim\'s online features are not what this test needs: {ids["online"]}')
    v.close()
    for k, sql in [('job_batch', "job_name = 'hv-batch'"), ('job_failed', "job_name = 'hv-failed'"),
                   ('job_sched', "job_name = 'hv-nightly'"), ('job_drift', "job_name = 'hv-drift'")]:
        ids[k] = q1(su, f'SELECT job_run_id FROM mlops.job_runs WHERE {sql}')
    for name, ref in [('vid1', ('hv_model', 1)), ('vid2', ('hv_model', 2)), ('vid_tree', ('hv_tree', 1)),
                      ('vid_mlp', ('hv_mlp', 1))]:
        ids[name] = q1(su, 'SELECT v.version_id FROM mlops.model_versions v JOIN mlops.registered_models m '
                           'USING (model_id) WHERE m.name = %s AND v.version = %s', ref)
    ids['model'] = q1(su, "SELECT model_id FROM mlops.registered_models WHERE name = 'hv_model'")
    ids['model_empty'] = q1(su, "SELECT model_id FROM mlops.registered_models WHERE name = 'hv_empty'")
    return ids


def start_running_job(ids):
    """A job run of the victim, running in another session for the whole test: its source
    sleeps.  Returns the thread, its connection and the job run's id."""
    conn = connect(VICTIM)
    pid = q1(conn, 'SELECT pg_backend_pid()')
    result = {}

    def run():
        try:
            q(conn, "CALL mlops.batch_score('hv_model:1', 'hostile_victim_s.slow_src', 'hostile_victim_s.slow_scores', "
                    "features => 'x', job_name => 'hv-running')")
            result['ok'] = True
        except psycopg2.Error as e:
            result['error'] = (e.pgcode, str(e).strip().splitlines()[0])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    su = connect()
    for _ in range(100):
        job = q1(su, "SELECT job_run_id FROM mlops.job_runs WHERE job_name = 'hv-running' AND status = 'running'")
        if job:
            break
        time.sleep(0.1)
    su.close()
    if not job:
        raise SystemExit(f'the victim\'s long job run did not start: {result}')
    ids['job_running'] = job
    return thread, conn, pid, result


def setup_writer(w, ids):
    """The writer's own objects, for valid baselines; made on its barrage connection, so that
    the job run it leaves running belongs to that session."""
    q(w, """CREATE TABLE hostile_writer_s.src AS
            SELECT g AS id, ARRAY[g % 5, g % 2]::float8[] AS x FROM generate_series(1, 20) g""")
    ids['w_exp'] = q1(w, "SELECT mlops.create_experiment('hw_exp')")
    ids['w_run'] = r = q1(w, "SELECT mlops.start_run('hw_exp', 'hw_run')")
    q(w, """SELECT mlops.log_param(%(r)s, 'p', '1');
            SELECT mlops.log_artifact(%(r)s, 'model/model.json', convert_to(%(a)s, 'UTF8'));
            SELECT mlops.register_model_version('hw_model', %(a)s, %(r)s);
            SELECT mlops.set_model_version_tag('hw_model', 1, 't', 'v');
            SELECT mlops.set_registered_model_tag('hw_model', 't', 'v');
            SELECT mlops.set_experiment_tag('hw_exp', 't', 'v');
            SELECT mlops.set_tag(%(r)s, 't', 'v');""", {'r': r, 'a': A_W})
    ids['w_sched'] = q1(w, "SELECT mlops.schedule_batch_score('hw-sched', %s, 'hw_model:1', 'hostile_writer_s.src', "
                           "'hostile_writer_s.sched_scores', features => 'x')", ('0 5 31 2 *',))
    q(w, "CALL mlops.batch_score('hw_model:1', 'hostile_writer_s.src', 'hostile_writer_s.scores', features => 'x', "
         "job_name => 'hw-job')")
    ids['w_running'] = q1(w, "SELECT job_run_id FROM mlops._job_run_start('hw-running', 'batch_score', NULL, "
                             "'hw_model:1', 'hostile_writer_s.src', 'hostile_writer_s.nowhere', NULL)")
    # drift: tables everyone may read (so that the reader's reports get to the statistics), the
    # model's training input (capture_baseline_from_model), a baseline watched by a scheduled
    # monitor that drifted (an open alert), one not watched, and a monitor run left running in
    # this session (what _drift_record records into)
    q(w, """CREATE TABLE hostile_writer_s.drift_src AS
            SELECT g AS id, (g % 10)::float8 AS a, (g % 7)::float8 AS b, (ARRAY['web', 'store', 'phone'])[1 + g % 3] AS channel
              FROM generate_series(1, 60) g;
            CREATE TABLE hostile_writer_s.drift_cur AS
            SELECT g AS id, (g % 10)::float8 + 5 AS a, (g % 7)::float8 AS b,
                   (ARRAY['web', 'store', 'phone', 'app'])[1 + g % 4] AS channel
              FROM generate_series(1, 60) g;
            GRANT USAGE ON SCHEMA hostile_writer_s TO PUBLIC;
            GRANT SELECT ON hostile_writer_s.drift_src, hostile_writer_s.drift_cur TO PUBLIC;""")
    q(w, """SELECT mlops.log_input(%(r)s, 'hostile_writer_s.drift_src', 'training');
            SELECT mlops.capture_baseline('hw_base', 'hostile_writer_s.drift_src', '{a,b,channel}');
            SELECT mlops.capture_baseline('hw_base_free', 'hostile_writer_s.drift_src', '{a}');
            SELECT mlops.create_drift_monitor('hw-drift', 'hw_base', 'hostile_writer_s.drift_cur', '0 5 31 2 *');""",
      {'r': r})
    q(w, "CALL mlops.run_drift_monitor('hw-drift')")
    ids['w_monitor'], ids['w_drift_sched'] = q(w, "SELECT monitor_id, schedule_id FROM mlops.drift_monitors "
                                                  "WHERE name = 'hw-drift'")[0]
    ids['w_alert'] = q1(w, "SELECT alert_id FROM mlops.drift_alerts WHERE monitor_id = %s AND feature = 'a'",
                        (ids['w_monitor'],))
    ids['w_drift_running'] = q1(w, "SELECT job_run_id FROM mlops._job_run_start('hw-drift', 'drift_monitor', %s, NULL, "
                                   "'hostile_writer_s.drift_cur', NULL, NULL)", (ids['w_drift_sched'],))
    # feature views: a source and entity rows anyone may read (so that the reader's training set
    # queries get to the join), an entity, a view (materialized, on a schedule) in a service,
    # and an entity, a view and a service nothing uses (what the drops drop)
    q(w, """CREATE TABLE hostile_writer_s.feat_src AS
            SELECT 1 + g % 10 AS customer_id, now() - g * interval '1 hour' AS event_ts,
                   now() - g * interval '1 hour' + interval '1 minute' AS created_ts,
                   (g % 5)::float8 AS spend, (g % 2)::float8 AS visits
              FROM generate_series(1, 40) g;
            CREATE TABLE hostile_writer_s.entity_rows AS
            SELECT 1 + g % 12 AS customer_id, now() - g * interval '30 minutes' AS event_timestamp, g AS label
              FROM generate_series(1, 30) g;
            GRANT SELECT ON hostile_writer_s.feat_src, hostile_writer_s.entity_rows TO PUBLIC;
            SELECT mlops.create_entity('hw_customer', '{customer_id}');
            SELECT mlops.create_entity('hw_ent_free', '{customer_id}');
            SELECT mlops.create_feature_view('hw_fv', '{hw_customer}', 'hostile_writer_s.feat_src', 'event_ts',
                                             ttl => '1 day', created_timestamp_column => 'created_ts');
            SELECT mlops.create_feature_view('hw_fv_free', '{hw_customer}', 'hostile_writer_s.feat_src', 'event_ts');
            SELECT mlops.create_feature_service('hw_fs', '{hw_fv:spend,hw_fv:visits}');
            SELECT mlops.create_feature_service('hw_fs_free', '{hw_fv:spend}');
            SELECT mlops.create_ab_test('hw_ab', '{hw_model:1,hw_model:1}');
            SELECT mlops.start_ab_test('hw_ab');
            SELECT mlops.create_ab_test('hw_ab_draft', '{hw_model:1,hw_model:1}');""")
    q(w, "CALL mlops.materialize_online('hw_fv')")
    ids['w_sched_online'] = q1(w, "SELECT mlops.schedule_materialize_online('hw-online', '0 5 31 2 *', 'hw_fv')")
    ids['w_compiled'] = bytes(q1(w, 'SELECT mlops.compile_model(%s)', (A_W,)))
    ids['w_bundle'] = json.dumps(q1(w, "SELECT mlops.export_model_version('hw_model:1')"))


# --------------------------------------------------------------------------- routines
class Fn:
    def __init__(self, row):
        (self.oid, self.name, self.kind, self.secdef, self.retset, self.rettype, ndefaults, argnames, argmodes,
         argtypes, self.sig, self.needs_coldef, ex_r, ex_w, ex_n) = row
        names = argnames or []
        if argmodes:
            names = [n for n, m in zip(names, argmodes) if m in ('i', 'b', 'v')]
        names = list(names) + [''] * (len(argtypes) - len(names))
        self.params = [(n, t, i >= len(argtypes) - ndefaults) for i, (n, t) in enumerate(zip(names, argtypes))]
        self.named = all(n for n, _, _ in self.params)
        self.executable = {READER: ex_r, WRITER: ex_w, NOBODY: ex_n}
        self.callable = 'internal' not in argtypes

    def __repr__(self):
        return self.sig


def load_routines(su):
    """Every routine of schema mlops (HOSTILE_ONLY, a regular expression, keeps those whose
    names match it: for working on this test, not for the suite)."""
    rows = q(su, """
        SELECT p.oid, p.proname, p.prokind, p.prosecdef, p.proretset, format_type(p.prorettype, NULL),
               p.pronargdefaults, p.proargnames, p.proargmodes::text[],
               ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS u(t, o) ORDER BY o),
               p.oid::regprocedure::text,
               p.prorettype = 'record'::regtype AND p.proallargtypes IS NULL,
               has_function_privilege(%s, p.oid, 'EXECUTE'), has_function_privilege(%s, p.oid, 'EXECUTE'),
               has_function_privilege(%s, p.oid, 'EXECUTE')
          FROM pg_proc p WHERE p.pronamespace = 'mlops'::regnamespace ORDER BY p.proname, p.oid""",
           (READER, WRITER, NOBODY))
    only = os.environ.get('HOSTILE_ONLY')
    return [Fn(r) for r in rows if not only or re.search(only, r[1])]


class V:
    """An argument: a SQL expression with %s placeholders, its values, its type (as
    format_type() spells it), a label, and whether it names something of the victim's."""
    __slots__ = ('expr', 'args', 'typ', 'label', 'victim')

    def __init__(self, expr, args, typ, label, victim=False):
        self.expr, self.args, self.typ, self.label, self.victim = expr, list(args), typ, label, victim


def L(value, typ, label=None, victim=False):
    """A value bound as a parameter, cast to typ."""
    if isinstance(value, (bytes, bytearray)):
        label = label or short(bytes(value))
        value = psycopg2.Binary(bytes(value))
    return V(f'%s::{typ}', [value], typ, label or short(value), victim)


def RAW(expr, typ, label=None, victim=False):
    """A SQL expression of type typ."""
    return V(expr.replace('%', '%%'), [], typ, label or expr[:60], victim)


def junk_text(n, seed):
    r = random.Random(seed)
    out = []
    while len(out) < n:
        c = r.choice([r.randint(1, 0x7f), r.randint(0x80, 0x7ff), r.randint(0x800, 0xd7ff),
                      r.randint(0xe000, 0xfffd), r.randint(0x10000, 0x10ffff)])
        out.append(chr(c))
    return ''.join(out)


def forged_models(ids, su):
    """Compiled models with bytes changed: what score() and model_info() get from a hostile
    caller.  Among them a victim version's id and checksum over another model's body."""
    forge = bytes(q1(su, 'SELECT mlops.compile_model(%s)', (A_FORGE,)))
    out = [(forge, 'compile_model() output')]
    for vid_key in ('vid1', 'vid_mlp'):
        vid = ids[vid_key]
        sha = bytes.fromhex(q1(su, 'SELECT sha256 FROM mlops.model_versions WHERE version_id = %s', (vid,)))
        out.append((forge[:16] + vid.to_bytes(8, 'little', signed=True) + sha + forge[56:],
                    f'another body under victim version {vid}\'s id and checksum'))
    bases = [forge] + [bytes(q1(su, 'SELECT compiled FROM mlops.model_versions WHERE version_id = %s', (ids[k],)))
                       for k in ('vid_tree', 'vid_mlp')]
    for base in bases:
        n = len(base)
        le = lambda v, k=4: v.to_bytes(k, 'little', signed=v < 0)  # noqa: E731
        out += [(base[:n // 2], 'truncated'), (base[:56], 'header only'), (base[:-1], 'one byte short'),
                (base + b'\x00' * 8, 'trailing bytes'),
                (base[:8] + le(0) + base[12:], 'total_size 0'), (base[:8] + le(n + 8) + base[12:], 'total_size + 8'),
                (base[:8] + le(0xFFFFFFFF, 4)[:4] + base[12:], 'total_size 2^32-1'),
                (base[:12] + le(0) + base[16:], 'no sections'), (base[:12] + le(0x7FFFFFFF) + base[16:], '2^31 sections'),
                (base[:16] + le(-1, 8) + base[24:], 'version_id -1'),
                (b'XXXX' + base[4:], 'bad magic'), (base[:4] + b'\x02\x00' + base[6:], 'layout 2')]
        for off, label in [(56, 'task'), (60, 'family'), (64, 'link'), (72, 'n_inputs'), (76, 'n_encoded'),
                           (80, 'n_outputs'), (84, 'n_classes'), (88, 'n_layers'), (92, 'n_trees'), (96, 'n_nodes')]:
            for val in (0, -1, 0x7FFFFFFF, 3):
                out.append((base[:off] + le(val) + base[off + 4:], f'{label} = {val}'))
        r = random.Random(n)
        for i in range(12):
            b = bytearray(base)
            for _ in range(r.randint(1, 4)):
                b[r.randrange(56, n)] = r.randrange(256)
            out.append((bytes(b), f'bytes flipped #{i}'))
        # section headers: huge counts and element sizes
        for i in range(4):
            b = bytearray(base)
            off = 112 + 16 * i if 112 + 16 * i + 16 <= n else 112
            b[off + 8:off + 12] = le(0x7FFFFFFF)
            out.append((bytes(b), f'section {i} count 2^31-1'))
    return out


def build_pools(ids, su, routines):
    """Hostile variants by parameter type (as format_type() spells it)."""
    T, B, I, F, J, BY = 'text', 'bigint', 'integer', 'double precision', 'jsonb', 'bytea'
    victim_text = ['hv_exp', 'hv_exp_deleted', 'hv_model', 'hv_tree', 'hv_mlp', 'hv_empty', 'hv_model@champion',
                   'hv_model@challenger', 'hv_model:1', 'hv_model:2', 'models:/hv_model/Production',
                   'models:/hv_model@champion', 'models:/hv_tree/Staging', 'hv_model@latest', 'hv_mlp@champion',
                   'champion', 'challenger', 'hv-nightly', 'hv-paused', 'mlops:hv-nightly', 'hv-batch', 'hv-running',
                   'hv_run_1', 'model/model.json', 'plots/roc.bin', 'lr', 'loss', 'owner', 'team', 'validated', 'stage',
                   'hostile_victim_s.private', 'hostile_victim_s.scores', 'hostile_victim_s.nightly',
                   'hostile_victim_s.slow_src', VICTIM, "CALL mlops.run_schedule('hv-nightly')",
                   'SELECT id, x FROM hostile_victim_s.private', 'Production', 'Staging',
                   'batch_score hostile_victim_s.scores', A_V1, 'hv_base', 'hv_base_free', 'hv-drift', 'hv-drift-manual',
                   'mlops:hv-drift', 'hostile_victim_s.drift_ref', 'hostile_victim_s.drift_cur',
                   # feature views: the victim's entity, views, service, schedule, online table, source
                   'hv_customer', 'hv_fv', 'hv_fv2', 'hv_fs', 'hv_fv:spend', 'hv-online', 'mlops:hv-online',
                   'materialize_online:hv_fv', 'mlops_online.hv_fv', 'hostile_victim_s.feat_src',
                   'SELECT customer_id, event_ts, created_ts, spend, visits FROM hostile_victim_s.feat_src',
                   'SELECT 3 AS customer_id, now() AS event_timestamp FROM mlops_online.hv_fv', VICTIM_LONG_VIEW,
                   SQUAT_VIEW,
                   # A/B tests: the victim's, a unit it exposed, its metric
                   'hv_ab', 'hv_ab_draft', 'hv-unit-1', 'hv_metric']
    generic_text = [None, '', ' ', '  padded  ', 'a' * MB, '\x01\x02\t\n\r\x1b[31m\x7f', junk_text(64, 1),
                    junk_text(3000, 2), "'; DROP TABLE mlops.runs; --", "x'); DROP TABLE mlops.runs; --", '"', '""',
                    "'", '\\', '\\x00', 'pg_catalog.pg_authid', 'pg_authid', 'public."x""y"', '"pg_catalog"."pg_authid"',
                    'mlops.runs', 'mlops.batch_rejects', 'cron.job', '%s%s%s%s%n%x%p', 'NaN', '-Infinity', '-1', '0',
                    '9' * 400, 'k' * 251, 'v' * 8001, '\u00f1' * 300, '\U0001f642' * 100, 'a\u202eb', 'a\u200bb',
                    '../../../etc/passwd', '/etc/passwd', 'a/./b', 'a//b', 'x@y@z', 'x:1:2', 'x:99999999999', 'models:/',
                    'models:/x/y/z', '@latest', ':0', 'latest', 'v1', 'PRODUCTION', 'archived', 'None', 'SELECT 1',
                    'WITH d AS (DELETE FROM mlops.runs RETURNING 1) SELECT 1 AS id, ARRAY[1, 2]::float8[] AS x',
                    'SELECT 1 AS id, ARRAY[1, 2]::float8[] AS x; DROP TABLE mlops.runs', 'TABLE pg_authid', 'VALUES (1)',
                    'mlops_admin', SUPER, READER, WRITER, 'pg_temp.hostile', '* * * * *', '@reboot', '5 seconds',
                    '61 25 32 13 8', 'P0001', 'XX000', '{"a": 1}', 'hostile_writer_s.src', '[' * 100000,
                    '[' * 3000 + ']' * 3000, '{"format": "mlops.model/v1"}', '1e999999',
                    A_TREE.replace('"left": [1', '"left": [0'), A_MLP.replace('[1], [-2]', '[1]'),
                    # drift: the writer's own baseline and monitor, a feature, a source anyone can read
                    'hw_base', 'hw-drift', 'channel', 'hostile_writer_s.drift_cur',
                    "SELECT g::float8 AS a, (g % 3)::float8 AS b, (ARRAY['web', 'app'])[1 + g % 2] AS channel "
                    "FROM generate_series(1, 50) g",
                    # feature views: the writer's own reference, its join key and columns, SQL around names, a
                    # name longer than a table's
                    'hw_fv:spend', 'hw_fv:', 'customer_id', 'event_ts', 'mlops_materialized_at', 'ctid',
                    'timestamp without time zone', 'integer) FROM pg_authid --', 'mlops_online.hw_fv',
                    'SELECT customer_id, event_timestamp, label FROM hostile_writer_s.entity_rows',
                    'hostile_writer_s.entity_rows e, pg_authid a', 'x' * 63 + 'y']
    text = [L(v, T) for v in generic_text] + [L(v, T, victim=True) for v in victim_text]

    victim_ids = sorted({ids[k] for k in ('exp', 'exp2', 'run1', 'run2', 'run3', 'run4', 'sched', 'sched2', 'job_batch',
                                          'job_failed', 'job_sched', 'job_running', 'vid1', 'vid2', 'vid_tree',
                                          'vid_mlp', 'model', 'model_empty', 'base', 'base_free', 'monitor',
                                          'monitor2', 'alert_open', 'alert_dataset', 'alert_ack', 'check',
                                          'sched_drift', 'job_drift', 'entity', 'fview', 'fview2', 'fservice',
                                          'sched_online', 'job_online') if ids.get(k)})
    bigint = [L(v, B) for v in (None, 0, -1, 1, 2 ** 31 - 1, 2 ** 31, -2 ** 31 - 1, 2 ** 63 - 1, -2 ** 63)] + \
        [L(v, B, victim=True) for v in victim_ids] + [RAW('(SELECT max(run_id) + 1 FROM mlops.runs)', B, 'the next run id')]
    integer = [L(v, I) for v in (None, 0, -1, 1, 2, 3, 2 ** 31 - 1, -2 ** 31, 100000)]
    floats = [L(v, F) for v in ('NaN', 'Infinity', '-Infinity', '1e308', '-1e308', '5e-324', '-0', None)]
    boolean = [L(v, 'boolean') for v in (None, True, False)]
    tstz = [L(v, 'timestamp with time zone') for v in (None, 'infinity', '-infinity', '4713-01-01 00:00:00+00 BC',
                                                       '294276-12-31 23:59:59+00', 'epoch')]

    bundle = q1(su, "SELECT mlops.export_model_version('hv_model:1')")
    copy = lambda: json.loads(json.dumps(bundle))  # noqa: E731
    b_tampered = copy()
    b_tampered['version']['artifact'] = A_FORGE
    b_forged = copy()
    b_forged['version'].update(artifact=A_FORGE, stage='Production', aliases=['champion'], created_by=VICTIM,
                               sha256=q1(su, "SELECT encode(sha256(convert_to(%s, 'UTF8')), 'hex')", (A_FORGE,)))
    b_forged['run'].update(created_by=VICTIM, inputs=[{'dataset_name': 'stolen', 'relation_name': 'hostile_victim_s.private',
                                                       'context': 'training', 'row_count': 1e30, 'digest': '0' * 64}])
    b_inputs = copy()
    b_inputs['run']['inputs'] = 'not an array'
    b_model = copy()
    b_model['model'].update(name='hv_model', tags={'team': 'hostile'})
    b_model['version']['tags'] = {'validated': 'no'}
    b_run = copy()
    b_run['run'].update(experiment='hv_exp', tags=[{'key': 'x'}])
    jsonb_values = [None, '{}', '[]', 'null', '0', '"s"', '1e400', '-1e-400', 'true', '[' * 3000 + ']' * 3000,
                    '{"a": ' * 3000 + '1' + '}' * 3000, json.dumps({f'k{i}': i for i in range(30000)}),
                    json.dumps(list(range(100000))), '{"params": "x"}', '{"params": {"k": null}}',
                    '{"params": {"lr": 0.2}}', '{"params": {"lr": 0.1}}', '{"metrics": {"loss": "NaN"}}',
                    '{"metrics": [{"key": "loss", "value": 1, "step": 1e30}]}',
                    '{"metrics": [{"key": "loss", "value": 1, "timestamp": -1e20}]}',
                    '{"metrics": [{"key": "loss", "value": 1, "timestamp": "294277-01-01"}]}',
                    '{"tags": [{"key": "a"}]}', '{"tags": {"owner": "hostile"}}', '{"\\u0001": 1}',
                    '{"a": "\\u0000"}', '{"setp": 1}', '{"a": 1, "b": 2}', '{"a": "x", "b": [1]}',
                    '{"prediction": "x\\"; DROP TABLE mlops.runs; --"}', '{"slice": "id"}', '{"version_id": "id"}',
                    '{"prediction": null}', '["prediction"]', '{"mlops.imported_from_run": "1"}',
                    json.dumps({f'k{i}': 'v' * 100 for i in range(2000)}),
                    # drift: capture options (replace another's baseline), report options, monitor results
                    '{"replace": true}', '{"replace": true, "bins": 1000, "max_values": 1000}', '{"bins": 1}',
                    '{"kinds": {"a": "categorical", "channel": "numeric"}}', '{"max_values": 2147483647}',
                    '{"features": ["a"], "method": "psi", "threshold": -1}', '{"columns": {"a": {"method": "chisquare"}}}',
                    '{"drift_share": "NaN"}', '[{"feature": null, "drifted": true}]', '[{"drifted": "maybe"}]',
                    '[{"feature": "a", "kind": "numeric", "method": "ks", "statistic": 1e308, "p_value": -1, '
                    '"threshold": 0.05, "drifted": true, "stats": {"n_rows": 1e30}}]',
                    # feature views: keys of an online read (wrong types, extra keys, SQL in a key), tags
                    '{"customer_id": 3}', '{"customer_id": null}', '{"customer_id": "3"}', '{"customer_id": "x"}',
                    '{"customer_id": 1e400}', '{"customer_id": 2147483648}', '{"customer_id": [3]}',
                    '{"customer_id": {"a": 1}}', '{"customer_id": 3, "other": 1}', '["customer_id"]', '"customer_id"',
                    '{"customer_id\\"; DROP TABLE mlops.runs; --": 3}', '{"customer_id": "3); DROP TABLE mlops.runs; --"}',
                    '{"team": "victim"}', '{"team": 1}']
    jsonb = [L(v, J) for v in jsonb_values] + [
        L(json.dumps(b), J, label, victim=True) for b, label in
        [(bundle, "the victim version's bundle"), (b_tampered, 'a bundle whose artifact was changed'),
         (b_forged, 'a bundle re-hashed, claiming stage, aliases and the victim'), (b_inputs, 'a bundle with bad inputs'),
         (b_model, "a bundle for the victim's model, with tags"), (b_run, "a bundle into the victim's experiment")]]

    text_arrays = [None, '{}', '{NULL}', '{id,NULL}', '{{id,x},{y,z}}', '{' + ','.join(['x'] * 1000) + '}',
                   '{"x\\"; DROP TABLE mlops.runs; --"}', '{id,id}', '{ctid}', '{xmin}', '{"*"}', '{""}',
                   '{prediction,prediction}', '{probabilities,class}', '{prediction,probabilities,class,x}',
                   '{lr,loss}', '{x}', '[5:5]={id}', '{"a b"}',
                   # feature views: the writer's own entity twice, references, keys, columns, types
                   '{hw_customer,hw_customer}', '{hw_fv:nope}', '{hw_fv:spend,hw_fv:spend}', '{customer_id}',
                   '{customer_id,customer_id}', '{"integer) FROM pg_authid --"}', '{mlops_materialized_at}']
    victim_text_arrays = ['{hv_customer}', '{hv_customer,hw_customer}', '{hv_fs}', '{hv_fv:spend}',
                          '{hv_fv:spend,hw_fv:visits}', '{hv_fv2:spend}', '{hv_fs,hw_fs}']
    float_arrays = [None, '{}', '{NULL}', '{NULL,NULL}', '{NaN,Infinity}', '{-Infinity,1e308}', '{1,2,3}',
                    '{{1,2},{3,4}}', '[-5:-4]={1,2}', '{' + ','.join(['1'] * 100000) + '}', '{1}', '{5e-324,-0}']
    other_arrays = [None, '{}', '{NULL}', '{1,2}']
    R = 'regclass'
    regclass = [L(v, R, victim=str(v).startswith('hostile_victim')) for v in
                ('pg_authid', 'pg_catalog.pg_statistic', 'hostile_victim_s.private', 'hostile_victim_s.slow_src',
                 'hostile_victim_s.scores', 'mlops.runs', 'mlops.model_versions', 'mlops.batch_rejects', 'cron.job',
                 'pg_class', 'mlops.runs_pkey', 'mlops.runs_run_id_seq', 'pg_stat_activity',
                 'information_schema.tables', 'mlops.runs_overview', None)] + [
        RAW('0::oid::regclass', R, 'regclass 0'), RAW('4294967295::oid::regclass', R, 'regclass 2^32-1'),
        RAW("'pg_toast.pg_toast_1260'::regclass", R, 'a toast table')]
    A = 'anyelement'
    anyelement = [RAW(e, A) for e in ('1::int', "'x'::text", 'NULL::text', 'NULL::int', '\'{"a": 1}\'::jsonb',
                                      "'{1,2}'::float8[]", "'\\x00ff'::bytea", "ROW(1, 'x')", "'infinity'::timestamptz",
                                      "'NaN'::float8")] + [
        L('a' * MB, T), RAW("(SELECT s FROM mlops.schedules s WHERE s.name = 'hv-nightly')", A,
                            "the victim's schedule row", True)]
    S_ROW = 'mlops.schedules'
    schedules_row = [RAW('NULL::mlops.schedules', S_ROW),
                     RAW("(SELECT s FROM mlops.schedules s WHERE s.name = 'hv-nightly')", S_ROW,
                         "the victim's schedule row", True),
                     RAW("(SELECT s FROM mlops.schedules s WHERE s.name = 'hw-sched')", S_ROW, 'own schedule row')]
    # a view's row (what the online helpers take): the victim's, the writer's own, and the
    # writer's with the victim's online table, source or owner put in (a row is the caller's to
    # make up: what it names is read with the caller's privileges)
    FV_ROW = 'mlops.feature_views'
    fv = "(SELECT v FROM mlops.feature_views v WHERE v.name = '{}')"
    feature_views_row = [RAW('NULL::mlops.feature_views', FV_ROW),
                         RAW(fv.format('hv_fv'), FV_ROW, "the victim's feature view row", True),
                         RAW(fv.format('hv_fv2'), FV_ROW, "the victim's unmaterialized view's row", True),
                         RAW(FV_OWN, FV_ROW, 'own feature view row')] + [
        RAW(f"(SELECT jsonb_populate_record(v, '{j}') FROM mlops.feature_views v WHERE v.name = 'hw_fv')", FV_ROW,
            label, 'victim' in label) for j, label in [
            ('{"online_table": "mlops_online.hv_fv"}', "own row with the victim's online table"),
            ('{"source_sql": "hostile_victim_s.feat_src"}', "own row with the victim's source"),
            ('{"created_by": "hostile_victim", "name": "hv_fv"}', "own row as the victim's view"),
            ('{"online_table": "mlops_online.hw_fv o; DELETE FROM mlops_online.hw_fv; SELECT 1 FROM pg_class"}',
             'own row with SQL in its online table'),
            ('{"join_keys": [], "key_types": [], "features": []}', 'own row with no keys or features'),
            ('{"timestamp_column": "ctid", "features": ["xmin"], "feature_types": ["xid"]}',
             'own row with system columns')]]
    bytea = [L(None, BY), L(b'', BY), L(random.Random(3).randbytes(1024), BY, 'junk'), L(b'\x00' * 100, BY),
             L(random.Random(4).randbytes(MB), BY, '1 MB of junk'), L(ids['w_compiled'], BY, 'compile_model() output')] + [
        L(bytes(q1(su, 'SELECT compiled FROM mlops.model_versions WHERE version_id = %s', (ids[k],))), BY,
          f"victim version {k}'s compiled form", True) for k in ('vid1', 'vid_tree', 'vid_mlp')] + [
        L(b, BY, label, victim='victim' in label) for b, label in forged_models(ids, su)]
    pools = {T: text, B: bigint, I: integer, F: floats, 'boolean': boolean, 'timestamp with time zone': tstz, J: jsonb,
             'text[]': [L(v, 'text[]') for v in text_arrays] + [L(v, 'text[]', victim=True) for v in victim_text_arrays],
             'double precision[]': [L(v, 'double precision[]') for v in float_arrays],
             'bigint[]': [L(v, 'bigint[]') for v in other_arrays],
             'timestamp with time zone[]': [L(v, 'timestamp with time zone[]') for v in other_arrays[:3] + ['{infinity}']],
             R: regclass, A: anyelement, S_ROW: schedules_row, FV_ROW: feature_views_row, BY: bytea,
             'name': [L(v, 'name') for v in (None, '', VICTIM, SUPER, 'a' * 300)],
             'interval': [L(v, 'interval') for v in (None, '1 day', '-1 day', '0', '1 microsecond', '178000000 years')],
             'boolean[]': [L(v, 'boolean[]') for v in (None, '{}', '{NULL}', '{t,f,t}', '{' + ','.join(['t'] * 100000) + '}')],
             'oid': [L(v, 'oid') for v in (None, 0, 25, 701, 4294967295)]}
    for t in sorted({t for f in routines if f.callable for _, t, _ in f.params if t not in pools}):
        # a type this test has no variants for yet: it is still called, with NULL
        pools[t] = [L(None, t)]
        notes.append(f'no hostile variants for parameter type {t}: called with NULL only')
    return pools


def baselines(ids):
    """Valid arguments for hostile_writer: arg(fn, name, type, has_default) -> V, or None to
    leave a parameter to its default."""
    T = 'text'
    S = lambda v: L(v, T)  # noqa: E731
    by_name = {
        'run_id': L(ids['w_run'], 'bigint'), 'experiment': S('hw_exp'), 'experiment_id': L(ids['w_exp'], 'bigint'),
        'new_name': S('hw_exp_renamed'), 'description': S('hostile description'), 'tags': L('{"hk": "hv"}', 'jsonb'),
        'key': S('hw_key'), 'params': L('{"hw_p": 1}', 'jsonb'), 'metrics': L('{"hw_m": 0.5}', 'jsonb'),
        'step': L(3, 'bigint'),
        'batch': L('{"params": {"hw_b": 1}, "metrics": {"hw_bm": 0.1}, "tags": {"hw_bt": "x"}}', 'jsonb'),
        'relation': L('hostile_writer_s.src', 'regclass'), 'context': S('training'), 'dataset_name': S('hw_ds'),
        'path': S('hw/new.txt'), 'content': L(b'hostile content', 'bytea'), 'media_type': S('text/plain'),
        'model': S('hw_model:1'), 'artifact': S(A_W2), 'version': L(1, 'integer'), 'alias': S('hw_alias'),
        'stage': S('Staging'), 'archive_existing': L(True, 'boolean'), 'compiled': L(ids['w_compiled'], 'bytea'),
        'bundle': L(ids['w_bundle'], 'jsonb'), 'source': S('hostile_writer_s.src'),
        'target': S('hostile_writer_s.scores'), 'key_columns': L('{id}', 'text[]'),
        'outputs': L('{prediction}', 'text[]'), 'schedule_id': L(ids['w_sched'], 'bigint'), 'cron': S('0 5 31 2 *'),
        'query': S('SELECT id, x FROM hostile_writer_s.src'), 'n_keys': L(1, 'integer'),
        'role_name': S('mlops_reader'), 'function_name': S('hostile'), 'sqlstate': S('P0001'), 'message': S('hostile'),
        'job_run_id': L(ids['w_running'], 'bigint'), 'rows_in': L(10, 'bigint'), 'rows_scored': L(10, 'bigint'),
        'rows_failed': L(0, 'bigint'), 'scoring': S('row'), 'kind': S('batch_score'), 'model_ref': S('hw_model:1'),
        'ref': S('hw_model:1'), 'name': S('hw-sched'), 'relation_name': S('hostile_writer_s.src'),
        'row_count': L(20, 'bigint'), 'digest': S('0' * 64), 'label': S('hw label'), 'max_chars': L(100, 'integer'),
        'status': S('FINISHED'), 'job_name': S('hw-job-2'), 'features': S('x'),
        'value': S('hw_value'), 'keys': L('{hw_k}', 'text[]'), 'vals': L('{v}', 'text[]'),
        'steps': L('{1}', 'bigint[]'), 'times': RAW('ARRAY[now()]', 'timestamp with time zone[]'),
        'allowed': L('{key,value}', 'text[]'), 'section': L('{"k": 1}', 'jsonb'), 'section_name': S('params'),
        'absent': RAW('now()', 'timestamp with time zone'),
        # drift: the writer's baseline, a source it reads, its monitor, an alert of it
        'baseline': S('hw_base'), 'current': S('hostile_writer_s.drift_cur'), 'alert_id': L(ids['w_alert'], 'bigint'),
        'note': S('hw note'), 'monitor_name': S('hw-drift'), 'search_path': S('hostile_writer_s, public'),
        'source_kind': S('relation'), 'source_sql': S('hostile_writer_s.drift_src'),
        'results': L(json.dumps([{'feature': 'a', 'kind': 'numeric', 'n_reference': 60, 'n_current': 60, 'method': 'ks',
                                  'statistic': 0.5, 'p_value': 0.001, 'threshold': 0.05, 'drifted': True,
                                  'stats': {'n_rows': 60}}]), 'jsonb'),
        # feature views: the writer's entity, view (materialized), service, their source and columns
        'join_keys': L('{customer_id}', 'text[]'), 'entities': L('{hw_customer}', 'text[]'),
        'timestamp_column': S('event_ts'), 'created_timestamp_column': S('created_ts'), 'view': S('hw_fv'),
        'view_name': S('hw_fv'), 'view_or_service': S('hw_fs'), 'service': S('hw_fs'),
        'entity_source': S('hostile_writer_s.entity_rows'), 'event_timestamp_column': S('event_timestamp'),
        'entity_sql': S('SELECT customer_id, event_timestamp FROM hostile_writer_s.entity_rows'),
        'key_types': L('{integer}', 'text[]'), 'view_sql': S('hostile_writer_s.feat_src'),
        'timestamp_type': S('timestamp with time zone'), 'view_features': L('{spend,visits}', 'text[]'),
        'ttl_microseconds': L(86400000000, 'bigint'),
        # A/B tests: the writer's running test, a unit, a metric
        'ab_test': S('hw_ab'), 'unit_id': S('hw-unit-1'), 'metric': S('hw_metric'),
        'models': L('{hw_model:1,hw_model:1}', 'text[]'),
    }
    by_name_type = {
        ('features', 'jsonb'): L('{"a": 1, "b": 2}', 'jsonb'), ('features', 'double precision[]'): L('{1,2}', 'double precision[]'),
        ('value', 'double precision'): L(0.5, 'double precision'), ('value', 'anyelement'): RAW('0.5::float8', 'anyelement'),
        ('vals', 'double precision[]'): L('{0.5}', 'double precision[]'), ('value', 'jsonb'): L('"v"', 'jsonb'),
        ('features', 'text[]'): L('{hw_fv:spend,hw_fv:visits}', 'text[]'), ('keys', 'jsonb'): L('{"customer_id": 3}', 'jsonb'),
        ('key', 'anyelement'): RAW('3', 'anyelement'),
    }
    override = {
        ('create_experiment', 'name'): S('hw_exp_new'), ('set_experiment', 'name'): S('hw_exp'),
        ('create_registered_model', 'name'): S('hw_model_new'), ('schedule_batch_score', 'name'): S('hw-sched-new'),
        ('_insert_model', 'name'): S('hw_model_new'), ('_check_model_name', 'name'): S('hw_model'),
        ('start_run', 'status'): S('RUNNING'), ('_job_run_finish', 'status'): S('succeeded'),
        ('get_artifact', 'path'): S('model/model.json'), ('register_model_version_from_run', 'path'): S('model/model.json'),
        ('delete_tag', 'key'): S('t'), ('delete_experiment_tag', 'key'): S('t'),
        ('delete_registered_model_tag', 'key'): S('t'), ('delete_model_version_tag', 'key'): S('t'),
        ('_json_metric_value', 'value'): L('0.5', 'jsonb'), ('_json_step', 'value'): L('1', 'jsonb'),
        ('_json_timestamp', 'value'): L('1700000000000', 'jsonb'),
        ('batch_score', 'job_name'): S('hw-job'),
        # drift: capture again (replace) the writer's own baselines, so that a name varied to the
        # victim's reaches the owner check; drop the one no monitor watches; a new monitor, with
        # its schedule; the writer's monitor run left running in the barrage's session
        ('capture_baseline', 'name'): S('hw_base'), ('_capture_baseline', 'name'): S('hw_base'),
        ('capture_baseline_from_model', 'name'): S('hw_base_free'),
        ('capture_prediction_baseline', 'name'): S('hw_base_pred'),
        ('capture_baseline', 'source'): S('hostile_writer_s.drift_src'),
        ('_capture_baseline', 'source'): S('hostile_writer_s.drift_src'),
        ('_capture_baseline', 'columns'): L('{a,b,channel}', 'text[]'),
        ('_capture_baseline', 'version_id'): L(None, 'bigint'),
        ('drop_baseline', 'name'): S('hw_base_free'),
        ('create_drift_monitor', 'name'): S('hw-drift-new'), ('create_drift_monitor', 'source'): S('hostile_writer_s.drift_cur'),
        ('drop_drift_monitor', 'name'): S('hw-drift'), ('run_drift_monitor', 'name'): S('hw-drift'),
        ('_drift_record', 'job_run_id'): L(ids['w_drift_running'], 'bigint'),
        ('_describe_source', 'search_path'): L(None, 'text'), ('_drift_rows', 'options'): L(None, 'jsonb'),
        # feature views: new definitions; drop those nothing uses; a training set into a new table;
        # the engine asked for one of the view's features; a materialization under the writer's
        # own schedule of it
        ('create_ab_test', 'key'): S('hw_ab_new'), ('start_ab_test', 'key'): S('hw_ab_draft'),
        ('stop_ab_test', 'key'): S('hw_ab'), ('set_ab_weights', 'key'): S('hw_ab'), ('drop_ab_test', 'key'): S('hw_ab_draft'),
        ('set_ab_weights', 'weights'): L('{0.3,0.7}', 'double precision[]'),
        ('create_entity', 'name'): S('hw_customer_new'), ('create_feature_view', 'name'): S('hw_fv_new'),
        ('_create_feature_view', 'name'): S('hw_fv_new'), ('create_feature_service', 'name'): S('hw_fs_new'),
        ('create_feature_view', 'source'): S('hostile_writer_s.feat_src'),
        ('_create_feature_view', 'source'): S('hostile_writer_s.feat_src'),
        ('_create_feature_view', 'source_sql'): S('hostile_writer_s.feat_src'),
        ('_create_feature_view', 'features'): L(None, 'text[]'),
        ('drop_entity', 'name'): S('hw_ent_free'), ('drop_feature_view', 'name'): S('hw_fv_free'),
        ('drop_feature_service', 'name'): S('hw_fs_free'), ('_feature_view', 'name'): S('hw_fv'),
        ('_feature_ref', 'ref'): S('hw_fv:spend'), ('build_training_set', 'target'): S('hostile_writer_s.training'),
        ('point_in_time_join', 'features'): L('{spend}', 'text[]'),
        ('point_in_time_join', 'views'): L(json.dumps([{
            'join_keys': ['customer_id'], 'key_types': ['integer'], 'view_sql': 'hostile_writer_s.feat_src',
            'timestamp_column': 'event_ts', 'timestamp_type': 'timestamp with time zone',
            'created_timestamp_column': 'created_ts', 'view_features': ['spend', 'visits'], 'features': ['spend'],
            'ttl_microseconds': 86400000000}]), 'jsonb'),
        ('schedule_materialize_online', 'name'): S('hw-online-new'),
        ('_materialize_online', 'schedule_id'): L(ids['w_sched_online'], 'bigint'),
        ('_materialize_online', 'job_name'): S('hw-online'),
    }
    for f in ('capture_baseline', '_capture_baseline', 'capture_baseline_from_model', 'capture_prediction_baseline'):
        override[(f, 'options')] = L('{"replace": true}', 'jsonb')
    # registry functions name a model, scoring functions a version of it
    for f in ('register_model_version', 'register_model_version_from_run', 'set_registered_model_tag',
              'delete_registered_model_tag', 'set_model_version_tag', 'delete_model_version_tag', 'set_model_alias',
              'delete_model_alias', 'transition_model_stage', 'delete_model_version', 'delete_registered_model',
              'import_model_version', '_model_id', '_lock_model', '_version_id'):
        override[(f, 'model')] = S('hw_model')
    by_type = {
        'text': S('hw'), 'bigint': L(1, 'bigint'), 'integer': L(1, 'integer'), 'double precision': L(0.5, 'double precision'),
        'boolean': L(True, 'boolean'), 'timestamp with time zone': RAW('now()', 'timestamp with time zone'),
        'jsonb': L('{}', 'jsonb'), 'bytea': L(ids['w_compiled'], 'bytea'), 'text[]': L('{id}', 'text[]'),
        'double precision[]': L('{1,2}', 'double precision[]'), 'regclass': L('hostile_writer_s.src', 'regclass'),
        'anyelement': RAW('0.5::float8', 'anyelement'), 'bigint[]': L('{1}', 'bigint[]'),
        'timestamp with time zone[]': RAW('ARRAY[now()]', 'timestamp with time zone[]'),
        'mlops.schedules': RAW("(SELECT s FROM mlops.schedules s WHERE s.name = 'hw-sched')", 'mlops.schedules'),
        'mlops.feature_views': RAW(FV_OWN, 'mlops.feature_views'), 'name': L(WRITER, 'name'),
        'interval': L('1 day', 'interval'), 'boolean[]': L('{t,f}', 'boolean[]'),
        'oid': RAW("'float8'::regtype::oid", 'oid'),
    }
    # parameters left to their defaults, unless named here
    set_even_if_default = {('batch_score', 'features'), ('schedule_batch_score', 'features'), ('batch_score', 'job_name'),
                           ('create_drift_monitor', 'cron'), ('acknowledge_drift_alert', 'note'),
                           ('resolve_drift_alert', 'note')}

    def arg(fn, pname, ptype, has_default):
        if (fn.name, pname) in override:
            return override[(fn.name, pname)]
        if fn.kind == 'a' and pname in ('current', 'feature'):
            # the drift aggregates: a value of a numeric feature of the writer's baseline, or of
            # its categorical one
            numeric = fn.params[0][1] == 'double precision'
            if pname == 'feature':
                return S('a' if numeric else 'channel')
            return L(0.5, ptype) if numeric else S('web')
        if has_default and (fn.name, pname) not in set_even_if_default:
            return None
        if (pname, ptype) in by_name_type:
            return by_name_type[(pname, ptype)]
        if pname in by_name and by_name[pname].typ == ptype:
            return by_name[pname]
        return by_type.get(ptype) or L(None, ptype)
    return arg


# --------------------------------------------------------------------------- fingerprints
def table_list(su):
    return q(su, """
        SELECT c.oid::regclass::text,
               coalesce((SELECT array_agg(a.attname::text ORDER BY k.o)
                           FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, o)
                           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                          WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
          FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1""")


# (an index says which table it is of; acl: who was granted what on it)
RELATIONS_SQL = """
    SELECT n.nspname || '.' || c.relname AS rel, c.relkind::text AS kind, pg_get_userbyid(c.relowner)::text AS owner,
           c.relacl::text AS acl,
           (SELECT tn.nspname || '.' || tc.relname FROM pg_index i JOIN pg_class tc ON tc.oid = i.indrelid
              JOIN pg_namespace tn ON tn.oid = tc.relnamespace WHERE i.indexrelid = c.oid) AS "of"
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND n.nspname NOT LIKE 'pg\\_temp\\_%%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'"""
# the online tables' relations (for the attackers' own snapshots: the superuser's has every
# relation), and their rows as the caller sees them (ONLINE_ROWS_FUNCTION: tables come and go)
ONLINE_RELATIONS = '(' + RELATIONS_SQL + " AND n.nspname = 'mlops_online')"
ONLINE_ROWS = '(SELECT * FROM hostile_check.online_rows())'
SNAPSHOT_LABELS = {ONLINE_RELATIONS: 'online relations', ONLINE_ROWS: 'online rows'}
ONLINE_ROWS_FUNCTION = """
CREATE SCHEMA hostile_check;
GRANT USAGE ON SCHEMA hostile_check TO PUBLIC;
-- every row of every online table the caller may read: its table, its primary key, the row
CREATE FUNCTION hostile_check.online_rows() RETURNS TABLE (tbl text, key text, row_text text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    IF to_regnamespace('mlops_online') IS NULL OR NOT has_schema_privilege('mlops_online', 'USAGE') THEN
        RETURN;
    END IF;
    FOR r IN SELECT c.oid, c.relname::text AS relname,
                    (SELECT string_agg(format('o.%I', a.attname), ', ' ORDER BY k.o)
                       FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, o)
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                      WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
               FROM pg_class c
              WHERE c.relnamespace = 'mlops_online'::regnamespace AND c.relkind IN ('r', 'p')
                AND has_table_privilege(c.oid, 'SELECT')
              ORDER BY 2 LOOP
        RETURN QUERY EXECUTE format('SELECT %L::text, jsonb_build_array(%s)::text, to_jsonb(o)::text FROM %s o',
                                    r.relname, coalesce(r.pk, 'to_jsonb(o)'), r.oid::regclass);
    END LOOP;
END
$$;"""


class Snapshot:
    """What a connection sees of the protected state: a hash per table of its row versions
    (ctid and xmin, so that unchanged rows, however wide, cost nothing), and the rows."""

    def __init__(self, conn, tables, superuser):
        self.conn, self.superuser = conn, superuser
        self.tables = list(tables)                       # [(name, pk columns)]
        if superuser:
            self.tables.append(('cron.job', ['jobid']))
            for (t,) in q(conn, "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = "
                                "'hostile_victim_s'::regnamespace AND c.relkind = 'r' ORDER BY 1"):
                self.tables.append((t, []))
            self.tables.append(('(' + RELATIONS_SQL + ')', ['rel']))
        else:
            self.tables.append((ONLINE_RELATIONS, ['rel']))
        self.tables.append((ONLINE_ROWS, ['tbl', 'key']))
        self.sql = 'SELECT ARRAY[' + ', '.join(
            f"(SELECT count(*) || ':' || coalesce(sum(hashtextextended({self._version(i)}, 0)::numeric), 0) FROM {n} t)"
            for i, (n, _) in enumerate(self.tables)) + ']'

    def _version(self, i):
        name = self.tables[i][0]
        return 'to_jsonb(t)::text' if name.startswith('(') else "t.ctid::text || ':' || t.xmin::text"

    def _key(self, i):
        pk = self.tables[i][1]
        return ('jsonb_build_array(' + ', '.join(f't.{c}' for c in pk) + ')::text') if pk else 'to_jsonb(t)::text'

    def sums(self):
        return q1(self.conn, self.sql)

    def versions(self, i):
        """{key: row version}; the key is the primary key (the whole row without one)."""
        return dict(q(self.conn, f'SELECT {self._key(i)}, {self._version(i)} FROM {self.tables[i][0]} t'))

    def rows(self, i, keys=None):
        """{key: the row as jsonb text}, of every row or of these keys."""
        sql = f'SELECT {self._key(i)}, to_jsonb(t)::text FROM {self.tables[i][0]} t'
        if keys is None:
            return dict(q(self.conn, sql))
        return dict(q(self.conn, sql + f' WHERE {self._key(i)} = ANY (%s)', (list(keys),))) if keys else {}

    def label(self, i):
        name = self.tables[i][0]
        return SNAPSHOT_LABELS.get(name, 'relations') if name.startswith('(') else name


def parse_row(text):
    try:
        return json.loads(text)
    except RecursionError:          # a deeply nested jsonb value: compared as text
        return {'row': text}


class Baseline:
    """The state a call is compared with (taken before it, so that a diff inside the call's
    transaction compares with the state before the call)."""

    def __init__(self, snap):
        self.snap = snap
        self.sums = snap.sums()
        self._versions = {i: snap.versions(i) for i in range(len(snap.tables))}
        self._rows = {i: snap.rows(i) for i in range(len(snap.tables))}
        self._pending = None

    def diff(self):
        """Changed rows since the baseline: {label: ({key: old row}, {key: new row})}, None if
        nothing changed."""
        now = self.snap.sums()
        if now == self.sums:
            self._pending = None
            return None
        out, pending = {}, {}
        for i, (a, b) in enumerate(zip(self.sums, now)):
            if a == b:
                continue
            old_v, new_v = self._versions[i], self.snap.versions(i)
            keys = [k for k in set(old_v) | set(new_v) if old_v.get(k) != new_v.get(k)]
            new_rows = self.snap.rows(i, [k for k in keys if k in new_v])
            old_rows = self._rows[i]
            pending[i] = (new_v, keys, new_rows)
            changed = [k for k in keys if old_rows.get(k) != new_rows.get(k)]
            if changed:
                out[self.snap.label(i)] = ({k: parse_row(old_rows[k]) for k in changed if k in old_rows},
                                           {k: parse_row(new_rows[k]) for k in changed if k in new_rows})
        self._pending = (now, pending)
        return out

    def accept(self):
        """The state of the last diff() becomes the baseline (after a committed call)."""
        if self._pending:
            now, pending = self._pending
            for i, (new_v, keys, new_rows) in pending.items():
                self._versions[i] = new_v
                rows = self._rows[i]
                for k in keys:
                    if k in new_rows:
                        rows[k] = new_rows[k]
                    else:
                        rows.pop(k, None)
            self.sums = now
            self._pending = None

    def refresh(self):
        self.diff()
        self.accept()


# --------------------------------------------------------------------------- policy
ATTRIBUTION = ('created_by', 'run_by', 'actor', 'owner', 'updated_by', 'username')
TAGS = {'mlops.experiment_tags', 'mlops.run_tags', 'mlops.registered_model_tags', 'mlops.model_version_tags'}
APPEND_ONLY = {'mlops.params', 'mlops.metric_history', 'mlops.run_inputs', 'mlops.artifacts'}
ENDED = ('FINISHED', 'FAILED', 'KILLED')


def changed_columns(old, new):
    return {k for k in set(old) | set(new) if old.get(k) != new.get(k)}


# drift (README: Drift): a writer captures baselines, its own (only their creator or an admin
# replaces or drops one); creates, runs and drops its own monitors, whose checks, history and
# alerts only their runs write; acknowledges and resolves the alerts of its own monitors
DRIFT_BY_MONITOR = {'mlops.drift_checks', 'mlops.drift_history', 'mlops.drift_alerts'}
DRIFT_TABLES = {'mlops.drift_baselines', 'mlops.drift_baseline_columns', 'mlops.drift_monitors'} | DRIFT_BY_MONITOR
ALERT_UPDATABLE = {'last_seen_at', 'checks', 'check_id', 'statistic', 'p_value', 'status', 'closed_by', 'closed_at', 'note'}


def drift_policy(me, table, old, new, changes):
    """policy() for the drift tables.  Whose a row is: its owner's before the change (after an
    insert)."""
    row = old if old is not None else new
    if table == 'mlops.drift_baselines':
        if new is not None and old is not None:
            return f'{me} changed {sorted(changed_columns(old, new))} of drift baseline {old["name"]} of {old["created_by"]}'
        return None if row['created_by'] == me else \
            f'{me} {"inserted" if old is None else "deleted"} drift baseline {row["name"]} of {row["created_by"]}'
    if table == 'mlops.drift_baseline_columns':
        owner = changes['baseline_owner'].get(row['baseline_id'])
        what = f'column {row["column_name"]} of drift baseline {row["baseline_id"]} of {owner}'
        if new is not None and old is not None:
            return f'{me} changed {sorted(changed_columns(old, new))} of {what}'
        if owner != me:
            return f'{me} {"inserted" if old is None else "deleted"} {what}'
        if new is None and row['baseline_id'] not in changes['dropped_baselines']:
            return f'{me} deleted {what} and kept the baseline'
        return None
    if table == 'mlops.drift_monitors':
        if old is not None and old['created_by'] != me:
            return f'{me} {"deleted" if new is None else "changed"} drift monitor {old["name"]} of {old["created_by"]}'
        if new is not None:
            cols = changed_columns(old, new) if old is not None else set()
            if old is not None and not cols <= {'schedule_id'}:
                return f'{me} changed {sorted(cols)} of its drift monitor {old["name"]} (only its schedule_id changes)'
            sched = new['schedule_id']
            if sched is not None and changes['schedule_owner'].get(sched) != me:
                return f'{me}\'s drift monitor {new["name"]} runs on schedule {sched} of ' \
                       f'{changes["schedule_owner"].get(sched)}'
        return None
    # drift_checks, drift_history, drift_alerts: only a run of the monitor's owner writes them
    owner = changes['monitor_owner'].get(row['monitor_id'])
    what = f'{table} row {short(json.dumps({k: row.get(k) for k in ("alert_id", "check_id", "feature", "monitor_id") if k in row}), 120)} ' \
           f'of a monitor of {owner}'
    if owner != me:
        return f'{me} {"inserted" if old is None else "deleted" if new is None else "changed"} {what}'
    if new is None:
        return None if row['monitor_id'] in changes['dropped_monitors'] else \
            f'{me} deleted {what}, which only dropping the monitor does'
    if old is None:
        if table == 'mlops.drift_checks' and new['job_run_id'] is not None and \
                changes['job_owner'].get(new['job_run_id']) != me:
            return f'{me} recorded {what} under job run {new["job_run_id"]} of {changes["job_owner"].get(new["job_run_id"])}'
        return None
    cols = changed_columns(old, new)
    if table != 'mlops.drift_alerts' or not cols <= ALERT_UPDATABLE:
        return f'{me} changed {sorted(cols)} of {what}'
    if 'closed_by' in cols and new['closed_by'] != me:
        return f'{me} closed {what} as {new["closed_by"]}'
    return None


# feature views: a writer defines entities, views and services, its own (only their creator or
# an admin drops one; a definition never changes); a view's online table in schema mlops_online
# is made by the extension's owner for the view's owner, at its first materialization, and
# dropped with the view; only the view's owner writes its rows and its online_* columns
FEATURE_TABLES = {'mlops.entities', 'mlops.feature_views', 'mlops.feature_services'}
FEATURE_KIND = {'mlops.entities': 'entity', 'mlops.feature_views': 'feature view',
                'mlops.feature_services': 'feature service'}
ONLINE_COLUMNS = {'online_table', 'online_watermark', 'online_materialized_at'}


def online_relname(view_name):
    """The name of a view's online table: mlops_online."<view name>", cut to 63 bytes as
    PostgreSQL cuts an identifier."""
    b = view_name.encode()[:63]
    while True:
        try:
            return b.decode()
        except UnicodeDecodeError:
            b = b[:-1]


def timestamp(text):
    try:
        return datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def features_policy(me, table, old, new, changes):
    """policy() for the feature tables, the online tables (relations in mlops_online) and
    their rows.  Whose a row is: its owner's before the change (after an insert)."""
    row = old if old is not None else new
    verb = 'inserted' if old is None else 'deleted' if new is None else 'changed'
    if table == 'online rows':
        owner = changes['online_owner'].get(row['tbl'])
        return None if owner == me else \
            f'{me} {verb} a row of online table mlops_online.{row["tbl"]} (of a view of {owner})'
    if table in ('relations', 'online relations'):
        rel = row['of'] or row['rel']       # an index: its table's
        owner = changes['online_owner'].get(rel.split('.', 1)[1])
        if old is not None and new is not None:
            return f'{me} changed {sorted(changed_columns(old, new))} of relation {row["rel"]} in mlops_online'
        if owner != me:
            return f'{me} {"created" if old is None else "dropped"} relation {row["rel"]} ({row["kind"]}) in ' \
                   f'mlops_online, ' + (f'the online table of a view of {owner}' if owner else 'of no view')
        return None
    kind = FEATURE_KIND[table]
    if row['created_by'] != me:
        return f'{me} {verb} {kind} {row["name"]} of {row["created_by"]}'
    if old is None or new is None:
        return None
    cols = changed_columns(old, new)
    if table != 'mlops.feature_views' or not cols <= ONLINE_COLUMNS:
        return f'{me} changed {sorted(cols)} of its {kind} {old["name"]} (a definition does not change)'
    if 'online_table' in cols and (old['online_table'] is not None or new['online_table'] not in (
            f'mlops_online.{new["name"]}', f'mlops_online."{new["name"]}"')):
        return f'{me} changed the online table of its feature view {old["name"]}: {old["online_table"]!r} -> ' \
               f'{new["online_table"]!r}'
    was, now = timestamp(old['online_watermark']), timestamp(new['online_watermark'])
    if old['online_watermark'] is not None and (new['online_watermark'] is None or (was and now and now < was)):
        return f'the online watermark of {me}\'s feature view {old["name"]} moved back: {old["online_watermark"]} ' \
               f'-> {new["online_watermark"]}'
    return None


AB_TABLES = {'mlops.ab_tests', 'mlops.ab_variants', 'mlops.ab_weight_history', 'mlops.ab_assignments',
             'mlops.ab_outcomes', 'mlops.ab_shadow_predictions', 'mlops.ab_events', 'mlops.ab_alerts'}
AB_EXPOSURES = {'mlops.ab_assignments', 'mlops.ab_shadow_predictions'}


def ab_policy(role, table, old, new, changes):
    """policy() for the A/B tables.  Readers and writers score through running tests: an
    exposure (or shadow row) is an insert, never a change or a delete; a writer changes its own
    tests (definition, weights, events, alerts, and their exposures when it drops one) and
    records outcomes, which are shared."""
    row = old if old is not None else new
    verb = 'inserted' if old is None else 'deleted' if new is None else 'changed'
    test = row.get('ab_test_id')
    owner = row['created_by'] if table == 'mlops.ab_tests' else changes['ab_owner'].get(test)
    if table in AB_EXPOSURES and old is None:
        if role not in (READER, WRITER):
            return f'{role} recorded an exposure'
        return None if changes['ab_status'].get(test) == 'running' else \
            f'{role} recorded an exposure in A/B test {test}, which is {changes["ab_status"].get(test)}'
    if role != WRITER:
        return f'{role} {verb} a row of {table}'
    if table == 'mlops.ab_outcomes':
        return f'{role} deleted an outcome' if new is None else None
    if owner != role:
        return f'{role} {verb} a row of {table} of A/B test {test} of {owner}'
    if table == 'mlops.ab_events' and new is not None and new['actor'] != role:
        return f'{role} recorded an A/B event as {new["actor"]}'
    return None


RETRAINING_TABLES = {'mlops.retraining_policies', 'mlops.retraining_events'}


def retraining_policy(role, table, old, new, changes):
    """policy() for the retraining tables.  A policy moves aliases, so only an admin makes,
    runs or drops one, its own: the attackers (reader, writer, a role with no mlops role)
    change neither a policy nor its events."""
    verb = 'inserted' if old is None else 'deleted' if new is None else 'changed'
    return f'{role} {verb} a row of {table}'


def policy(role, table, old, new, changes):
    """Why a change is not one the role may make (None: it may).  Readers and role-less
    roles may change nothing; a writer what README's roles give it: the shared tracking
    workspace and registrations (as itself), its own job runs, rejects and schedules."""
    if table in AB_TABLES:
        return ab_policy(role, table, old, new, changes)
    if table in RETRAINING_TABLES:
        return retraining_policy(role, table, old, new, changes)
    if role != WRITER:
        return f'{role} changed {table}'
    me = WRITER
    # (online tables are the extension owner's, made for the view's owner)
    if table in FEATURE_TABLES or table in ('online rows', 'online relations') or \
            (table == 'relations' and (old or new)['rel'].startswith('mlops_online.')):
        return features_policy(me, table, old, new, changes)
    if new is not None:
        for c in ATTRIBUTION:
            if c in new and (old is None or old.get(c) != new.get(c)) and new[c] != me:
                return f'a row of {table} attributed to {new[c]} ({c}), written by {me}'
    if table in TAGS:
        return None
    if table.startswith('hostile_victim_s.'):
        return f'{me} changed the victim\'s private table {table}'
    if table == 'relations':
        row = new or old
        return None if row['owner'] == me else \
            f'{me} {"created" if old is None else "dropped" if new is None else "changed"} relation {row}'
    if table == 'cron.job':
        return None if (old or new)['username'] == me and (new or old)['username'] == me else \
            f'{me} changed pg_cron job {(old or new)["jobid"]} of {(old or new)["username"]}'
    if table in DRIFT_TABLES:
        return drift_policy(me, table, old, new, changes)
    if old is None:             # an insert
        if table == 'mlops.run_documents':
            return None if new['run_id'] in changes['new_runs'] else f'a second run_documents row for run {new["run_id"]}'
        if table == 'mlops.registry_events' and new['event'] not in ('model_created', 'version_registered'):
            return f'{me} recorded a registry event {new["event"]} (admin only)'
        if table == 'mlops.batch_rejects':
            owner = changes['job_owner'].get(new['job_run_id'])
            return None if owner == me else f'{me} added rejects to job run {new["job_run_id"]} of {owner}'
        if table == 'mlops.model_aliases':
            return f'{me} set alias {new["alias"]} (admin only)'
        if table == 'mlops.schedules':
            # a drift monitor's runs are named after it, and a schedule's name is its owner's
            owner = changes['monitor_owner'].get(new.get('name'))
            if owner is not None and owner != me:
                return f'{me} made schedule {new["name"]!r}, the name of the drift monitor of {owner}'
            # a view is materialized by its owner only
            why = materialize_schedule_policy(me, new, changes)
            if why:
                return why
        if table == 'mlops.job_runs':
            # a job run belongs to the schedule it names (by id, or by name: the monitoring
            # views group runs by job name), and only the schedule's owner records runs of it
            for k in ('schedule_id', 'job_name'):
                owner = changes['schedule_owner'].get(new[k])
                if owner is not None and owner != me:
                    return f'{me} recorded job run {new["job_run_id"]} under {k} {new[k]!r}, the schedule of {owner}'
            # so does a drift monitor's: its runs are named after it, and only its owner runs it
            owner = changes['monitor_owner'].get(new['job_name'])
            if owner is not None and owner != me:
                return f'{me} recorded job run {new["job_run_id"]} ({new["kind"]}) under job name ' \
                       f'{new["job_name"]!r}, the drift monitor of {owner}'
            # and a view's materializations: named after it, and only its owner materializes it
            name = new['job_name'] or ''
            owner = changes['view_owner'].get(name[len('materialize_online:'):]) \
                if name.startswith('materialize_online:') else None
            if owner is not None and owner != me:
                return f'{me} recorded job run {new["job_run_id"]} ({new["kind"]}) under job name {name!r}, the ' \
                       f'materializations of the feature view of {owner}'
            return None
        if table in ('mlops.experiments', 'mlops.runs', 'mlops.registered_models', 'mlops.model_versions',
                     'mlops.job_runs', 'mlops.schedules', 'mlops.latest_metrics', 'mlops.registry_events') or \
                table in APPEND_ONLY:
            return None
        return f'{me} inserted into {table}, which this test has no policy for'
    if new is None:             # a delete
        return f'{me} deleted from {table}: {short(json.dumps(old), 200)} (admin only, or never)' \
            if not (table == 'mlops.schedules' and old['created_by'] == me) else None
    cols = changed_columns(old, new)
    if table == 'mlops.experiments':
        if cols <= {'name', 'updated_at'}:
            return None
        return f'{me} changed {sorted(cols)} of experiment {old["experiment_id"]} (admin only)'
    if table == 'mlops.runs':
        if cols <= {'status', 'end_time'} and old['status'] in ('RUNNING', 'SCHEDULED') and new['status'] in ENDED:
            return None
        if cols <= {'lifecycle_stage', 'deleted_at'}:
            return None         # delete_run / restore_run are a writer's
        return f'{me} changed {sorted(cols)} of run {old["run_id"]}'
    if table == 'mlops.run_documents':
        return None
    if table == 'mlops.latest_metrics':
        # (step, logged_at, value) only moves forward; the timestamps' text forms do not sort,
        # so only the steps are compared here (the invariants check the rest)
        return None if cols <= {'step', 'logged_at', 'value'} and new['step'] >= old['step'] else \
            f'latest metric {old["key"]} of run {old["run_id"]} moved backwards: step {old["step"]} -> {new["step"]}'
    if table == 'mlops.registered_models':
        if cols <= {'last_version', 'updated_at'} and new['last_version'] > old['last_version']:
            return None
        return f'{me} changed {sorted(cols)} of model {old["name"]}'
    if table == 'mlops.job_runs':
        if old['run_by'] == me:
            return None
        if old['job_run_id'] in changes['orphans'] and cols <= {'status', 'error'} and new['status'] == 'failed':
            return None         # a run whose session died, recorded as failed
        return f'{me} changed {sorted(cols)} of job run {old["job_run_id"]} of {old["run_by"]}'
    if table == 'mlops.schedules':
        if old['created_by'] != me:
            return f'{me} changed {sorted(cols)} of schedule {old["name"]} of {old["created_by"]}'
        return materialize_schedule_policy(me, new, changes)
    if table in ('mlops.model_versions', 'mlops.model_aliases'):
        return f'{me} changed {sorted(cols)} of {table} row {short(json.dumps({k: old.get(k) for k in ("version_id", "model_id", "alias", "version")}), 120)} (admin only or immutable)'
    return f'{me} changed {sorted(cols)} of a row of {table}'


def materialize_schedule_policy(me, new, changes):
    """A schedule of kind materialize_online materializes a view of its owner's."""
    if new.get('kind') != 'materialize_online':
        return None
    view = (new.get('spec') or {}).get('view') if isinstance(new.get('spec'), dict) else None
    owner = changes['view_owner'].get(view)
    return None if owner == me else \
        f'{me}\'s schedule {new["name"]!r} materializes feature view {view!r} of {owner}'


def classify(role, diffs, context_label, orphans, conn):
    """Findings for the changes in diffs ({table: (old rows, new rows)}), as seen on conn."""
    if not diffs:
        return []
    changes = {'orphans': orphans, 'new_runs': set(), 'job_owner': {}}
    if 'mlops.runs' in diffs:
        old, new = diffs['mlops.runs']
        changes['new_runs'] = {r['run_id'] for k, r in new.items() if k not in old}
    if 'mlops.batch_rejects' in diffs or 'mlops.drift_checks' in diffs:
        changes['job_owner'] = dict(q(conn, 'SELECT job_run_id, run_by::text FROM mlops.job_runs'))
    if 'mlops.job_runs' in diffs or 'mlops.drift_monitors' in diffs:
        rows = q(conn, 'SELECT schedule_id, name, created_by::text FROM mlops.schedules')
        changes['schedule_owner'] = {**{r[0]: r[2] for r in rows}, **{r[1]: r[2] for r in rows}}
    # the owners of baselines and monitors, by id (and monitors by name): as they are now, and
    # as they were for those the call deleted
    if DRIFT_TABLES & set(diffs):
        owners = dict(q(conn, 'SELECT baseline_id, created_by::text FROM mlops.drift_baselines'))
        old, new = diffs.get('mlops.drift_baselines', ({}, {}))
        changes['dropped_baselines'] = {r['baseline_id'] for k, r in old.items() if k not in new}
        changes['baseline_owner'] = {**{r['baseline_id']: r['created_by'] for r in old.values()}, **owners}
    if DRIFT_TABLES & set(diffs) or 'mlops.job_runs' in diffs or 'mlops.schedules' in diffs:
        rows = q(conn, 'SELECT monitor_id, name, created_by::text FROM mlops.drift_monitors')
        old, new = diffs.get('mlops.drift_monitors', ({}, {}))
        changes['dropped_monitors'] = {r['monitor_id'] for k, r in old.items() if k not in new}
        changes['monitor_owner'] = {**{r['monitor_id']: r['created_by'] for r in old.values()},
                                    **{r['name']: r['created_by'] for r in old.values()},
                                    **{r[0]: r[2] for r in rows}, **{r[1]: r[2] for r in rows}}
    # the owners of feature views, by name and by the name of their online table: as they are
    # now, and as they were for those the call dropped
    if FEATURE_TABLES & set(diffs) or {'online rows', 'online relations', 'relations', 'mlops.schedules',
                                       'mlops.job_runs'} & set(diffs):
        old, new = diffs.get('mlops.feature_views', ({}, {}))
        views = [(r['name'], r['created_by']) for r in old.values()] + \
            [tuple(r) for r in q(conn, 'SELECT name, created_by::text FROM mlops.feature_views')]
        changes['view_owner'] = dict(views)
        online_owner = {}
        for name, owner in views:
            # two roles' views whose names are cut to the same table name: of neither
            rel = online_relname(name)
            online_owner[rel] = owner if online_owner.get(rel, owner) == owner else \
                'several roles (their views\' names are the same in their first 63 bytes)'
        changes['online_owner'] = online_owner
    # the owners and statuses of A/B tests, as they are now and as they were for those dropped
    if AB_TABLES & set(diffs):
        old, new = diffs.get('mlops.ab_tests', ({}, {}))
        rows = q(conn, 'SELECT ab_test_id, created_by::text, status FROM mlops.ab_tests')
        changes['ab_owner'] = {**{r['ab_test_id']: r['created_by'] for r in old.values()}, **{r[0]: r[1] for r in rows}}
        changes['ab_status'] = {**{r['ab_test_id']: r['status'] for r in old.values()}, **{r[0]: r[2] for r in rows}}
    problems = []
    for table, (old, new) in diffs.items():
        for key in set(old) | set(new):
            o, n = old.get(key), new.get(key)
            if o == n:
                continue
            try:
                why = policy(role, table, o, n, changes)
            except KeyError as e:   # a row parse_row() could not parse (its jsonb too deep)
                why = f'{role} changed a row of {table} this test cannot judge (no {e}): {short(json.dumps(o or n), 200)}'
            if why:
                problems.append(why)
    # (the same problem with many rows, once)
    return [f'{context_label}: {p}' + (f' ({n} rows)' if n > 1 else '') for p, n in Counter(problems).items()]


# --------------------------------------------------------------------------- invariants
INVARIANTS = r"""
SELECT v FROM (
  SELECT format('run %s has no run_documents row', r.run_id) FROM mlops.runs r
   WHERE NOT EXISTS (SELECT FROM mlops.run_documents d WHERE d.run_id = r.run_id)
  UNION ALL
  SELECT format('run_documents of run %s: params %s, but the params table has %s', d.run_id,
                ARRAY(SELECT jsonb_object_keys(d.params) ORDER BY 1),
                ARRAY(SELECT p.key FROM mlops.params p WHERE p.run_id = d.run_id ORDER BY 1))
    FROM mlops.run_documents d
   WHERE ARRAY(SELECT jsonb_object_keys(d.params) ORDER BY 1)
         IS DISTINCT FROM ARRAY(SELECT p.key FROM mlops.params p WHERE p.run_id = d.run_id ORDER BY 1)
  UNION ALL
  SELECT format('run_documents of run %s: tags %s differ from run_tags', d.run_id, d.tags) FROM mlops.run_documents d
   WHERE d.tags IS DISTINCT FROM coalesce((SELECT jsonb_object_agg(t.key, t.value) FROM mlops.run_tags t
                                            WHERE t.run_id = d.run_id), '{}')
  UNION ALL
  SELECT format('metric_history of run %s, which does not exist', h.run_id)
    FROM (SELECT DISTINCT run_id FROM mlops.metric_history) h
   WHERE NOT EXISTS (SELECT FROM mlops.runs r WHERE r.run_id = h.run_id)
  UNION ALL
  SELECT format('latest_metrics of run %s key %s disagree with metric_history', coalesce(h.run_id, l.run_id),
                coalesce(h.key, l.key))
    FROM (SELECT DISTINCT ON (run_id, key) run_id, key, value, step, logged_at FROM mlops.metric_history
           ORDER BY run_id, key, step DESC, logged_at DESC, value DESC) h
    FULL JOIN mlops.latest_metrics l ON l.run_id = h.run_id AND l.key = h.key
   WHERE h.run_id IS NULL OR l.run_id IS NULL
      OR (h.step, h.logged_at, h.value) IS DISTINCT FROM (l.step, l.logged_at, l.value)
  UNION ALL
  SELECT format('model version %s: its compiled form says %s', v.version_id, x.i)
    FROM mlops.model_versions v, LATERAL (SELECT mlops.model_info(v.compiled) AS i) x
   WHERE (x.i ->> 'sha256') IS DISTINCT FROM v.sha256 OR (x.i ->> 'version_id')::bigint IS DISTINCT FROM v.version_id
      OR v.sha256 IS DISTINCT FROM encode(sha256(convert_to(v.artifact, 'UTF8')), 'hex')
  UNION ALL
  SELECT format('alias %s of model %s points at version %s of another model', a.alias, a.model_id, a.version_id)
    FROM mlops.model_aliases a JOIN mlops.model_versions v USING (version_id) WHERE v.model_id <> a.model_id
  UNION ALL
  SELECT format('model %s: last_version %s < version %s', m.name, m.last_version, v.version)
    FROM mlops.registered_models m JOIN mlops.model_versions v USING (model_id) WHERE v.version > m.last_version
  UNION ALL
  SELECT format('version %s of model %s has no version_registered event with its checksum', v.version, v.model_id)
    FROM mlops.model_versions v
   WHERE NOT EXISTS (SELECT FROM mlops.registry_events e WHERE e.model_id = v.model_id AND e.version = v.version
                                                           AND e.event = 'version_registered' AND e.to_value = v.sha256)
  UNION ALL
  SELECT format('model %s has no model_created event', m.name) FROM mlops.registered_models m
   WHERE NOT EXISTS (SELECT FROM mlops.registry_events e WHERE e.model_id = m.model_id AND e.event = 'model_created')
  UNION ALL
  SELECT format('alias %s of model %s: its last event says %s', a.alias, a.model_id, e.to_value)
    FROM mlops.model_aliases a JOIN mlops.model_versions v USING (version_id)
    LEFT JOIN LATERAL (SELECT e.to_value FROM mlops.registry_events e WHERE e.model_id = a.model_id AND e.alias = a.alias
                         AND e.event IN ('alias_set', 'alias_deleted') ORDER BY e.event_id DESC LIMIT 1) e ON true
   WHERE e.to_value IS DISTINCT FROM v.version::text
  UNION ALL
  SELECT format('version %s of model %s is in stage %s, its last event says %s', v.version, v.model_id, v.stage, e.s)
    FROM mlops.model_versions v,
         LATERAL (SELECT coalesce((SELECT e.to_value FROM mlops.registry_events e WHERE e.model_id = v.model_id
                                     AND e.version = v.version AND e.event = 'stage_changed'
                                   ORDER BY e.event_id DESC LIMIT 1), 'None') AS s) e
   WHERE e.s IS DISTINCT FROM v.stage
  UNION ALL
  SELECT format('job run %s (%s) is %s: finished_at %s, rows %s/%s/%s', j.job_run_id, j.run_by, j.status,
                j.finished_at, j.rows_in, j.rows_scored, j.rows_failed)
    FROM mlops.job_runs j
   WHERE (j.status = 'running' AND j.finished_at IS NOT NULL)
      OR (j.status <> 'running' AND (j.finished_at IS NULL OR j.rows_scored IS NULL)
          AND NOT (j.status = 'failed' AND j.error LIKE 'the session running this job%'))
      OR (j.status = 'succeeded' AND (j.rows_in IS NULL OR j.rows_failed IS NULL))
  UNION ALL
  SELECT format('job run %s (%s) is running, but shown %s: %s', o.job_run_id, o.run_by, o.status, o.error)
    FROM mlops.job_runs_overview o JOIN mlops.job_runs j USING (job_run_id)
   WHERE j.status = 'running' AND o.status <> 'running'
  UNION ALL
  SELECT format('job run %s (%s) is recorded failed as if its session had ended, but its session (process %s) is alive',
                j.job_run_id, j.run_by, j.backend_pid)
    FROM mlops.job_runs j JOIN pg_catalog.pg_stat_activity a ON a.pid = j.backend_pid AND a.backend_start <= j.started_at
   WHERE j.status = 'failed' AND j.error LIKE 'the session running this job%'
  UNION ALL
  SELECT format('rejects of job run %s, which has no on_error => reject run', r.job_run_id)
    FROM (SELECT DISTINCT job_run_id FROM mlops.batch_rejects) r
    JOIN mlops.job_runs j USING (job_run_id) WHERE j.rows_failed IS NULL AND j.status <> 'running'
  UNION ALL
  SELECT format('schedule %s (%s) is %s but %s', s.name, s.created_by,
                CASE WHEN s.active THEN 'active' ELSE 'paused' END, mlops.schedule_state(s.name))
    FROM mlops.schedules s
   WHERE (s.active AND mlops.schedule_state(s.name) <> 'armed') OR (NOT s.active AND s.cron_job_id IS NOT NULL)
  UNION ALL
  SELECT format('drift baseline %s (%s) has %s columns', b.name, b.created_by, count(c.*))
    FROM mlops.drift_baselines b LEFT JOIN mlops.drift_baseline_columns c USING (baseline_id)
   GROUP BY b.baseline_id HAVING count(c.*) = 0
  UNION ALL
  SELECT format('drift check %s of monitor %s (%s) is of job run %s: %s', c.check_id, m.name, m.created_by, c.job_run_id,
                (SELECT j.kind || ' ' || j.job_name || ' by ' || j.run_by FROM mlops.job_runs j
                  WHERE j.job_run_id = c.job_run_id))
    FROM mlops.drift_checks c JOIN mlops.drift_monitors m USING (monitor_id)
   WHERE NOT EXISTS (SELECT FROM mlops.job_runs j WHERE j.job_run_id = c.job_run_id AND j.kind = 'drift_monitor'
                                                   AND j.job_name = m.name AND j.run_by = m.created_by)
  UNION ALL
  SELECT format('drift history of check %s is filed under monitor %s, the check under %s', h.check_id, h.monitor_id,
                c.monitor_id)
    FROM mlops.drift_history h JOIN mlops.drift_checks c USING (check_id) WHERE c.monitor_id <> h.monitor_id
  UNION ALL
  SELECT format('drift alert %s of monitor %s points at check %s of monitor %s', a.alert_id, a.monitor_id, a.check_id,
                c.monitor_id)
    FROM mlops.drift_alerts a JOIN mlops.drift_checks c USING (check_id) WHERE c.monitor_id <> a.monitor_id
  UNION ALL
  SELECT format('drift alert %s is %s, closed by %s at %s', a.alert_id, a.status, a.closed_by, a.closed_at)
    FROM mlops.drift_alerts a
   WHERE (a.status = 'open') <> (a.closed_at IS NULL) OR (a.closed_by IS NOT NULL AND a.status = 'open')
  UNION ALL
  SELECT format('drift monitor %s (%s) runs on schedule %s: %s', m.name, m.created_by, m.schedule_id,
                coalesce((SELECT s.kind || ' ' || s.name || ' of ' || s.created_by FROM mlops.schedules s
                           WHERE s.schedule_id = m.schedule_id), 'gone'))
    FROM mlops.drift_monitors m
   WHERE m.schedule_id IS NOT NULL
     AND NOT EXISTS (SELECT FROM mlops.schedules s WHERE s.schedule_id = m.schedule_id AND s.kind = 'drift_monitor'
                                                    AND s.name = m.name AND s.created_by = m.created_by)
  UNION ALL
  SELECT format('schedule %s (%s) of kind drift_monitor is not the schedule of a monitor of its owner', s.name, s.created_by)
    FROM mlops.schedules s
   WHERE s.kind = 'drift_monitor'
     AND NOT EXISTS (SELECT FROM mlops.drift_monitors m WHERE m.schedule_id = s.schedule_id AND m.name = s.spec ->> 'monitor'
                                                         AND m.created_by = s.created_by)
  UNION ALL
  SELECT format('feature view %s (%s) names entities %s, whose join keys are %s, not its %s', v.name, v.created_by,
                v.entities, x.keys, v.join_keys)
    FROM mlops.feature_views v
         CROSS JOIN LATERAL (SELECT array_agg(k.k ORDER BY u.o, k.o) AS keys FROM unnest(v.entities) WITH ORDINALITY AS u(e, o)
                               LEFT JOIN mlops.entities en ON en.name = u.e
                               LEFT JOIN LATERAL unnest(en.join_keys) WITH ORDINALITY AS k(k, o) ON true) x
   WHERE x.keys IS DISTINCT FROM v.join_keys
  UNION ALL
  SELECT format('feature service %s (%s) lists %s, which is no feature of a view', s.name, s.created_by, r.ref)
    FROM mlops.feature_services s, unnest(s.features) AS r(ref)
   WHERE NOT EXISTS (SELECT FROM mlops.feature_views v WHERE v.name = split_part(r.ref, ':', 1)
                                                        AND substr(r.ref, length(split_part(r.ref, ':', 1)) + 2) = ANY (v.features))
  UNION ALL
  SELECT format('feature view %s (%s) has online table %s: %s', v.name, v.created_by, v.online_table,
                coalesce((SELECT format('%s, owned by %s, with columns %s', c.relkind, pg_get_userbyid(c.relowner),
                                        ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid
                                                 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum))
                            FROM pg_class c WHERE c.oid = to_regclass(v.online_table)), 'no such table'))
    FROM mlops.feature_views v
   WHERE v.online_table IS NOT NULL
     AND NOT EXISTS (SELECT FROM pg_class c JOIN pg_extension e ON e.extname = 'mlops'
                      WHERE c.oid = to_regclass(v.online_table) AND c.relnamespace = 'mlops_online'::regnamespace
                        AND c.relkind = 'r' AND c.relowner = e.extowner
                        AND ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                                     AND NOT a.attisdropped ORDER BY a.attnum)
                            = array_remove(v.join_keys || v.features || v.timestamp_column || v.created_timestamp_column
                                           || 'mlops_materialized_at'::text, NULL))
  UNION ALL
  SELECT format('mlops_online.%s (%s) is the online table of no feature view', c.relname, c.relkind)
    FROM pg_class c
   WHERE c.relnamespace = 'mlops_online'::regnamespace AND c.relkind NOT IN ('i', 'S')
     AND NOT EXISTS (SELECT FROM mlops.feature_views v WHERE to_regclass(v.online_table) = c.oid)
  UNION ALL
  SELECT format('mlops_online.%s, the online table of feature view %s of %s: %s may %s it', c.relname, v.name,
                v.created_by, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type)
    FROM mlops.feature_views v JOIN pg_class c ON c.oid = to_regclass(v.online_table), aclexplode(c.relacl) a
   WHERE a.grantee <> c.relowner AND (a.grantee = 0 OR pg_get_userbyid(a.grantee) <> v.created_by)
     AND NOT (a.privilege_type = 'SELECT' AND pg_get_userbyid(a.grantee) = 'mlops_reader')
  UNION ALL
  SELECT format('schedule %s (%s) materializes feature view %s of %s', s.name, s.created_by, s.spec ->> 'view',
                coalesce(v.created_by::text, 'nobody'))
    FROM mlops.schedules s LEFT JOIN mlops.feature_views v ON v.name = s.spec ->> 'view'
   WHERE s.kind = 'materialize_online' AND v.created_by IS DISTINCT FROM s.created_by
) x(v)"""


INVARIANT_CHECKS = Counter()


def invariants_due(phase, fn, varied, per_parameter=3):
    """The invariants take ~10 ms: checked after the first calls that wrote, per routine and
    varied parameter (and after every committed call, and at the end)."""
    INVARIANT_CHECKS[(phase, fn.sig, str(varied))] += 1
    return INVARIANT_CHECKS[(phase, fn.sig, str(varied))] <= per_parameter


SEEN_VIOLATIONS = set()


def check_invariants(conn, label):
    """The violations of the invariants not reported yet, each after the first call it
    followed (a state that stays wrong is reported once)."""
    try:
        bad = [r[0] for r in q(conn, INVARIANTS)]
    except psycopg2.Error as e:
        bad = [f'the invariants cannot be checked: {e.pgcode} {str(e).strip().splitlines()[0]}']
    new = [b for b in bad if b not in SEEN_VIOLATIONS]
    SEEN_VIOLATIONS.update(new)
    return [f'{label}: {b}' for b in new]


# --------------------------------------------------------------------------- calls
class Stats:
    def __init__(self):
        self.calls = Counter()          # phase -> calls
        self.states = Counter()         # sqlstate -> count
        self.by_role = defaultdict(Counter)
        self.fn_called = set()
        self.timeouts = []
        self.successes = defaultdict(list)  # (role, fn sig) -> [args]
        self.seconds = Counter()        # (phase, fn name) -> seconds, checks included
        self.check_seconds = Counter()  # what of it went to the checks


stats = Stats()


# the column definition of a call of a routine returning records (any other: a batch job's)
COLDEFS = {'point_in_time_join': ' AS r(customer_id integer, event_timestamp timestamp with time zone, spend double precision)'}


def call_sql(fn, args):
    """The statement calling fn with args ({param index: V}); None for a defaulted parameter."""
    parts, values = [], []
    for i, (pname, _, _) in enumerate(fn.params):
        a = args.get(i)
        if a is None:
            continue
        # (an aggregate's arguments go by position: named ones are a syntax error in its call)
        parts.append(f'{pname} => {a.expr}' if fn.named and fn.kind != 'a' else a.expr)
        values += a.args
    if not fn.named and len(parts) < len(fn.params):
        parts = [args[i].expr if args.get(i) else 'NULL' for i in range(len(fn.params))]
        values = [v for i in range(len(fn.params)) if args.get(i) for v in args[i].args]
    arglist = ', '.join(parts)
    name = f'mlops.{fn.name}' if re.fullmatch(r'[a-z_][a-z0-9_]*', fn.name) else f'mlops."{fn.name}"'
    if fn.kind == 'p':
        return f'CALL {name}({arglist})', values
    if fn.kind == 'a':
        return f'SELECT {name}({", ".join("v" + str(i) for i in range(len(parts)))}) FROM (SELECT ' + \
            ', '.join(f'{p} AS v{i}' for i, p in enumerate(parts)) + ') s', values
    coldef = COLDEFS.get(fn.name, ' AS r(id integer, prediction double precision)') if fn.needs_coldef else ''
    return f'SELECT * FROM {name}({arglist}){coldef}', values


def describe(fn, args, varied):
    if varied is None:
        return f'{fn.name}(baseline)'
    if varied == 'all':
        return f'{fn.name}(all hostile: ' + ', '.join(f'{fn.params[i][0] or i}={a.label}' for i, a in sorted(args.items()) if a) + ')'
    return f'{fn.name}({fn.params[varied][0] or varied} => {args[varied].label if args.get(varied) else "DEFAULT"})'


def error_line(e):
    return str(e).strip().splitlines()[0] if str(e).strip() else repr(e)


class Attacker:
    def __init__(self, role, conn, in_txn_checks, tables, orphans):
        self.role, self.conn, self.orphans = role, conn, orphans
        self.in_txn = in_txn_checks
        self.baseline = Baseline(Snapshot(conn, tables, False)) if in_txn_checks else None

    def reconnect(self):
        try:
            self.conn.close()
        except Exception:
            pass
        for _ in range(60):
            try:
                self.conn = connect(self.role)
                break
            except psycopg2.Error:
                time.sleep(1)
        if self.baseline:
            self.baseline.snap.conn = self.conn

    def run(self, fn, args, varied, phase, commit=False, super_check=None):
        """One call: rolled back (functions) unless commit; procedures always commit."""
        t0 = time.time()
        try:
            return self._run(fn, args, varied, phase, commit, super_check)
        finally:
            stats.seconds[(phase, fn.name)] += time.time() - t0

    def _run(self, fn, args, varied, phase, commit, super_check):
        sql, values = call_sql(fn, args)
        label = describe(fn, args, varied)
        stats.calls[phase] += 1
        stats.fn_called.add(fn.sig)
        autocommit = commit or fn.kind == 'p'
        cur = self.conn.cursor()
        ok = False
        try:
            if autocommit:
                # alone: a procedure that commits cannot run in a multi-statement query
                cur.execute(f'SET statement_timeout = {CALL_TIMEOUT_MS}')
                cur.execute(sql, values)
            else:
                cur.execute(f'BEGIN; SET LOCAL statement_timeout = {CALL_TIMEOUT_MS}; ' + sql, values)
            if cur.description:
                try:
                    cur.fetchall()
                except (ValueError, OverflowError, RecursionError):
                    # a value Python cannot hold (a timestamp past year 9999, jsonb nested deeper than
                    # json.loads recurses, echoed back by a routine): the call succeeded
                    pass
            ok = True
            if self.role == NOBODY and fn.secdef:
                # a SECURITY DEFINER routine reads and writes as the extension's owner: it must
                # give a role with no mlops role nothing
                finding('privilege', f'{NOBODY}, with no mlops role, called {label} (SECURITY DEFINER) successfully')
            stats.states['ok'] += 1
            stats.by_role[self.role]['ok'] += 1
            stats.successes[(self.role, fn.sig)].append((varied, args))
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            if self.conn.closed or getattr(e, 'pgcode', None) is None:
                finding('crash', f'{self.role}: {label}: the connection was lost: {error_line(e)}')
                self.reconnect()
                return False
            self._error(fn, e, label)
        except psycopg2.Error as e:
            self._error(fn, e, label)
        t_check = time.time()
        if not autocommit:
            if ok and self.in_txn:
                try:
                    diffs = self.baseline.diff()
                    for p in classify(self.role, diffs, f'{self.role}: {label}', self.orphans, self.conn):
                        finding('write outside the role', p)
                    if diffs and invariants_due(phase, fn, varied):
                        for p in check_invariants(self.conn, f'{self.role}: {label}'):
                            finding('half-written', p)
                except psycopg2.Error as e:
                    finding('check failed', f'{self.role}: {label}: {e.pgcode} {error_line(e)}')
            try:
                cur.execute('ROLLBACK')
            except psycopg2.Error:
                self.reconnect()
        elif super_check is not None:
            super_check(self.role, label, fn, varied, phase)
        stats.check_seconds[(phase, fn.name)] += time.time() - t_check
        return ok

    def _error(self, fn, e, label):
        state = e.pgcode or 'no-sqlstate'
        if fn.name == '_fail':
            state += ' (by _fail)'      # which raises the SQLSTATE it is given
        if ERROR_LOG:
            ERROR_LOG.write(f'{self.role}\t{state}\t{label[:150]}\t{error_line(e)[:200]}\n')
        stats.states[state] += 1
        stats.by_role[self.role][state] += 1
        if state == '57014':
            stats.timeouts.append(f'{self.role}: {label}')
        # _fail raises the SQLSTATE it is given; import_model_version's XX001 is documented
        if state.startswith('XX') and fn.name != '_fail' and not (state == 'XX001' and fn.name == 'import_model_version'):
            finding('internal error', f'{self.role}: {label}: {state} {error_line(e)}')
        if state == 'no-sqlstate':
            finding('no SQLSTATE', f'{self.role}: {label}: {error_line(e)}')


def variants_for(fn, arg_of, pools, fixed=None, cap=True):
    """(args, varied) for every call of fn: the baseline, each parameter varied in turn over
    its type's variants (the others at their baseline), and calls with every parameter
    hostile.  fixed: {parameter index: V} kept in every call."""
    fixed = fixed or {}
    base = {i: arg_of(fn, pname, ptype, has_default) for i, (pname, ptype, has_default) in enumerate(fn.params)}
    base.update(fixed)
    yield dict(base), None
    for i, (pname, ptype, _) in enumerate(fn.params):
        if i in fixed:
            continue
        pool = pools[ptype]
        if cap and POOL_CAP and len(pool) > POOL_CAP:
            # a different, deterministic share of a big pool for each routine and parameter: the
            # run as a whole still tries every value, in a fraction of the calls (CAP=0: all)
            pool = random.Random(f'{fn.sig}:{i}').sample(pool, POOL_CAP)
        for v in pool:
            args = dict(base)
            args[i] = v
            yield args, i
    if len(fn.params) > len(fixed):
        r = random.Random(fn.sig)
        for _ in range(8):
            args = {i: r.choice(pools[ptype]) for i, (_, ptype, _) in enumerate(fn.params)}
            args.update(fixed)
            yield args, 'all'


# --------------------------------------------------------------------------- phases
def super_checker(su_base, orphans, attackers=()):
    """After a committed call: a superuser compares everything with the state before it."""
    def check(role, label, fn, varied, phase):
        diffs = su_base.diff()
        if diffs:
            for p in classify(role, diffs, f'{role}: {label} (committed)', orphans, su_base.snap.conn):
                finding('write outside the role', p)
            if phase == 'writer, committed' or invariants_due(phase, fn, varied):
                for p in check_invariants(su_base.snap.conn, f'{role}: {label} (committed)'):
                    finding('half-written', p)
            su_base.accept()
            for att in attackers:
                if att.baseline:
                    att.baseline.refresh()
    return check


def barrage(att, routines, arg_of, pools, su_base, orphans, phase):
    check = super_checker(su_base, orphans, [att])
    n0 = sum(stats.calls.values())
    for fn in routines:
        if not fn.callable:
            continue
        if not fn.executable[att.role]:
            # not executable: a few calls, each refused by PostgreSQL itself
            # the pools' first values, which parse: PostgreSQL checks EXECUTE after the literals
            for args, varied in itertools.islice(variants_for(fn, arg_of, pools, cap=False), 3):
                sql, values = call_sql(fn, args)
                stats.calls[phase] += 1
                stats.fn_called.add(fn.sig)
                try:
                    q(att.conn, f'BEGIN; SET LOCAL statement_timeout = {CALL_TIMEOUT_MS}')
                    q(att.conn, sql, values)
                    finding('privilege', f'{att.role} could call {fn.sig}, which it may not execute')
                except psycopg2.Error as e:
                    stats.states[e.pgcode or 'no-sqlstate'] += 1
                    stats.by_role[att.role][e.pgcode or 'no-sqlstate'] += 1
                    if e.pgcode != '42501':
                        finding('privilege', f'{att.role}: {fn.sig}: expected 42501, got {e.pgcode} {error_line(e)}')
                q(att.conn, 'ROLLBACK')
            continue
        for args, varied in variants_for(fn, arg_of, pools):
            att.run(fn, args, varied, phase, super_check=check if fn.kind == 'p' else None)
    log(f'{phase}: {sum(stats.calls.values()) - n0} calls')


def direct_dml(conn, role, tables, su=None):
    """Writing the tables directly: refused (rejects go only to one's own running job run).
    su: a superuser's connection, to find the tables' columns (for tables in a schema the role
    may not even look into)."""
    for name, _ in tables:
        col = q1(su or conn, "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                             "AND NOT attisdropped AND attidentity = '' AND attgenerated = '' ORDER BY attnum LIMIT 1",
                 (name,))
        stmts = [f'INSERT INTO {name} DEFAULT VALUES', f'UPDATE {name} SET {col} = {col}', f'DELETE FROM {name}',
                 f'TRUNCATE {name}']
        if name == 'mlops.batch_rejects':
            stmts.append("INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason) "
                         "SELECT job_run_id, '{\"id\": 1}', 'forged' FROM mlops.job_runs WHERE run_by <> current_user")
        for stmt in stmts:
            stats.calls['direct DML'] += 1
            try:
                q(conn, f'BEGIN; SET LOCAL statement_timeout = {CALL_TIMEOUT_MS}')
                with conn.cursor() as cur:
                    cur.execute(stmt)
                    n = cur.rowcount
                if n > 0 or stmt.startswith('TRUNCATE'):
                    finding('write outside the role', f'{role}: {stmt}: {n} rows')
            except psycopg2.Error as e:
                stats.states[e.pgcode] += 1
                stats.by_role[role][e.pgcode] += 1
                if e.pgcode != '42501':
                    notes.append(f'{role}: {stmt[:60]}: {e.pgcode} {error_line(e)}')
            q(conn, 'ROLLBACK')


def victim_scores_sql(refs):
    """One statement: what the victim's models give for one row, by reference (float8[] and
    jsonb), through compiled_model() and score(), and as classes and probabilities."""
    exprs, args = [], []
    for ref in refs:
        for e in ("mlops.predict(%s, '{1,2}'::float8[])", 'mlops.predict(%s, \'{"a": 1, "b": 2}\'::jsonb)',
                  "mlops.score(mlops.compiled_model(%s), '{1,2}'::float8[])",
                  "mlops.feature_problem(%s, '{1}'::float8[])"):
            exprs.append(f'({e})::text')
            args.append(ref)
        if 'mlp' in ref:
            for e in ("mlops.predict_class(%s, '{1,2}'::float8[])", "mlops.predict_proba(%s, '{3,-1}'::float8[])",
                      "mlops.score_class(mlops.compiled_model(%s), '{1,2}'::float8[])"):
                exprs.append(f'({e})::text')
                args.append(ref)
    # and its online features (feature_vector keeps each service's reads in the backend)
    for e, name in [("mlops.feature_vector(%s, 3)", 'hv_fs'), ("mlops.feature_vector(%s, '{\"customer_id\": 4}'::jsonb)", 'hv_fs'),
                    ("mlops.online_features(%s, '{\"customer_id\": 3}')", 'hv_fs'),
                    ("mlops.predict('hv_model:1', mlops.feature_vector(%s, 5))", 'hv_fs')]:
        exprs.append(f'({e})::text')
        args.append(name)
    return exprs, args


def victim_scores(conn, exprs, args):
    """The victim's scores (victim_scores_sql()) on conn, an error as its SQLSTATE and message."""
    try:
        return q1(conn, 'SELECT ARRAY[' + ', '.join(exprs) + ']', args)
    except psycopg2.Error:
        out = []
        for e, a in zip(exprs, args):
            try:
                out.append(q1(conn, f'SELECT {e}', (a,)))
            except psycopg2.Error as err:
                out.append(f'error {err.pgcode}: {error_line(err)}')
        return out


def pooled_backend(routines, arg_of, pools, refs, su):
    """A backend shared by roles that switch with SET ROLE (a pool, as PostgREST's): what the
    reader does in it must not change what the victim gets in it.  Each call of a routine that
    runs as its caller (and so may leave state in the backend) runs in a backend whose model
    cache the reader has just emptied; then the victim scores in that backend, as in a fresh
    one; where it does not, the victim's batch job in that backend is checked too."""
    log("shared backend: the reader's calls of each routine that runs as the caller, each followed by the "
        "victim's scoring in the same backend")
    exprs, sql_args = victim_scores_sql(refs)
    fresh = connect(VICTIM)
    expected = victim_scores(fresh, exprs, sql_args)
    fresh.close()
    conn = connect(POOL)
    checked = wrong = 0
    for fn in routines:
        if not (fn.callable and fn.executable[READER] and not fn.secdef and fn.kind in ('f', 'a')):
            continue
        att = Attacker(READER, conn, False, [], set())
        reported = False
        for args, varied in variants_for(fn, arg_of, pools):
            # (a role switch alone in its statement: a failing statement after it would undo it)
            q(conn, f'RESET ROLE; SET ROLE {READER}')
            try:
                q(conn, 'SELECT mlops.model_cache_reset()')
            except psycopg2.Error:
                pass
            att.run(fn, args, varied, 'shared backend')
            conn = att.conn
            q(conn, f'RESET ROLE; SET ROLE {VICTIM}')
            got = victim_scores(conn, exprs, sql_args)
            checked += 1
            if got != expected:
                wrong += 1
                if not reported:
                    reported = True
                    diff = [(sql_args[i], g, e) for i, (g, e) in enumerate(zip(got, expected)) if g != e]
                    finding('acts for another role', f"shared backend: after {READER} called {describe(fn, args, varied)}, "
                                                     f"{VICTIM} in the same backend gets {diff[0][1]} from model "
                                                     f"{diff[0][0]} where a fresh backend gets {diff[0][2]} "
                                                     f"({len(diff)} of {len(got)} scores differ)")
                    # the victim's batch job in that backend
                    try:
                        q(conn, "CALL mlops.batch_score('hv_model@champion', 'hostile_victim_s.private', "
                                "'hostile_victim_s.pool_scores', features => 'x', on_error => 'reject', "
                                "job_name => 'hv-pool')")
                        bad = q1(su, """SELECT count(*) FROM hostile_victim_s.pool_scores t
                                          JOIN hostile_victim_s.private p USING (id)
                                         WHERE t.prediction IS DISTINCT FROM mlops.predict('hv_model:1', p.x)""")
                    except psycopg2.Error as e:
                        bad = f'none: it failed ({e.pgcode} {error_line(e)})'
                    if bad:
                        finding('acts for another role', f"shared backend: then {VICTIM}'s batch_score in that backend "
                                                         f"wrote {bad} predictions of that model into its table")
    conn.close()
    log(f'shared backend: the victim\'s scores checked after {checked} calls, wrong after {wrong}')

    pool_conn = connect(POOL)
    # a job run of the victim left running in this backend: another role in the backend
    # cannot finish it, record its outcome or add rejects to it
    q(pool_conn, f'RESET ROLE; SET ROLE {VICTIM}')
    run = q1(pool_conn, "SELECT job_run_id FROM mlops._job_run_start('hv-pooled', 'batch_score', NULL, 'hv_model:1', "
                        "'hostile_victim_s.private', 'hostile_victim_s.nowhere', NULL)")
    before = q1(su, 'SELECT to_jsonb(j) FROM mlops.job_runs j WHERE job_run_id = %s', (run,))
    q(pool_conn, f'RESET ROLE; SET ROLE {WRITER}')
    att = Attacker(WRITER, pool_conn, False, [], set())
    att.reconnect = lambda: None
    victim_run = L(run, 'bigint', "the victim's job run in this backend", True)
    for fn in routines:
        for i, (pname, ptype, _) in enumerate(fn.params):
            if pname == 'job_run_id' and ptype == 'bigint' and fn.executable[WRITER] and fn.kind == 'f':
                for args, varied in variants_for(fn, arg_of, pools, fixed={i: victim_run}):
                    att.run(fn, args, varied, 'shared backend', commit=True)
    for stmt in ["INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason) VALUES (%s, '{\"id\": 1}', 'forged')",
                 "INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason) SELECT %s, '{}', reason "
                 "FROM mlops.batch_rejects LIMIT 1"]:
        stats.calls['shared backend'] += 1
        try:
            with pool_conn.cursor() as cur:
                cur.execute(stmt, (run,))
                n = cur.rowcount
            if n:
                finding('acts for another role', f"shared backend: {WRITER} added {n} rejects to {VICTIM}'s job run "
                                                 f"{run} running in the backend")
        except psycopg2.Error as e:
            stats.states[e.pgcode] += 1
            stats.by_role[WRITER][e.pgcode] += 1
    log(f"shared backend: {VICTIM}'s job run {run} left running in the backend, attacked by {WRITER}")
    after = q1(su, 'SELECT to_jsonb(j) FROM mlops.job_runs j WHERE job_run_id = %s', (run,))
    if before != after:
        finding('acts for another role', f"shared backend: {WRITER} changed {VICTIM}'s job run {run}: {before} -> {after}")
    q(pool_conn, f'RESET ROLE; SET ROLE {VICTIM}')
    q(pool_conn, "SELECT mlops._job_run_finish(%s, 'cancelled', 0, 0, 0, 'ended by the test', NULL)", (run,))
    pool_conn.close()


# What no attacker may change of the victim's: its schedules and their pg_cron jobs, its job
# runs and their rejects, its private tables, every alias, its versions (immutable, stage by
# admin), models, experiments and runs (what no writer changes: names, owners, lifecycle of
# experiments); and, append-only, its params, artifacts, inputs, metric points and every
# registry event: each row kept as it was (writers may add to the shared runs).
VICTIM_EQUAL = """
SELECT jsonb_build_object(
  'schedules', (SELECT jsonb_agg(to_jsonb(s) ORDER BY s.schedule_id) FROM mlops.schedules s WHERE s.created_by = %(v)s),
  'cron jobs', (SELECT jsonb_agg(jsonb_build_object('jobid', j.jobid, 'schedule', j.schedule, 'command', j.command,
                                                   'database', j.database, 'username', j.username, 'active', j.active,
                                                   'jobname', j.jobname) ORDER BY j.jobid)
                  FROM cron.job j WHERE j.username = %(v)s),
  'job runs', (SELECT jsonb_agg(to_jsonb(j) ORDER BY j.job_run_id) FROM mlops.job_runs j WHERE j.run_by = %(v)s),
  'rejects', (SELECT jsonb_agg(to_jsonb(r) ORDER BY r.job_run_id, r.row_key::text) FROM mlops.batch_rejects r
               JOIN mlops.job_runs j USING (job_run_id) WHERE j.run_by = %(v)s),
  'private tables', (SELECT jsonb_agg(c.relname::text || ' ' || pg_get_userbyid(c.relowner) ORDER BY c.relname)
                       FROM pg_class c WHERE c.relnamespace = 'hostile_victim_s'::regnamespace),
  'private', (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM hostile_victim_s.private t),
  'scores', (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM hostile_victim_s.scores t),
  'nightly', (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM hostile_victim_s.nightly t),
  'aliases', (SELECT jsonb_agg(to_jsonb(a) ORDER BY a.model_id, a.alias) FROM mlops.model_aliases a),
  'versions', (SELECT jsonb_agg(jsonb_build_object('id', v.version_id, 'model', v.model_id, 'version', v.version,
                                                  'stage', v.stage, 'artifact', md5(v.artifact), 'sha', v.sha256,
                                                  'compiled', md5(v.compiled), 'run', v.run_id, 'by', v.created_by,
                                                  'at', v.created_at, 'description', v.description) ORDER BY v.version_id)
                 FROM mlops.model_versions v WHERE v.created_by = %(v)s),
  'models', (SELECT jsonb_agg(jsonb_build_object('id', m.model_id, 'name', m.name, 'owner', m.owner,
                                                'description', m.description) ORDER BY m.model_id)
               FROM mlops.registered_models m WHERE m.owner = %(v)s),
  'experiments', (SELECT jsonb_agg(jsonb_build_object('id', e.experiment_id, 'by', e.created_by,
                                                     'stage', e.lifecycle_stage, 'deleted_at', e.deleted_at,
                                                     'created_at', e.created_at) ORDER BY e.experiment_id)
                    FROM mlops.experiments e WHERE e.created_by = %(v)s),
  'runs', (SELECT jsonb_agg(jsonb_build_object('id', r.run_id, 'exp', r.experiment_id, 'name', r.run_name,
                                              'parent', r.parent_run_id, 'by', r.created_by, 'start', r.start_time)
                            ORDER BY r.run_id) FROM mlops.runs r WHERE r.created_by = %(v)s),
  'drift baselines', (SELECT jsonb_agg(to_jsonb(b) ORDER BY b.baseline_id) FROM mlops.drift_baselines b
                       WHERE b.created_by = %(v)s),
  'drift baseline columns', (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.baseline_id, c.position)
                               FROM mlops.drift_baseline_columns c JOIN mlops.drift_baselines b USING (baseline_id)
                              WHERE b.created_by = %(v)s),
  'drift monitors', (SELECT jsonb_agg(to_jsonb(m) ORDER BY m.monitor_id) FROM mlops.drift_monitors m
                      WHERE m.created_by = %(v)s),
  'drift checks', (SELECT jsonb_agg(to_jsonb(c) ORDER BY c.check_id) FROM mlops.drift_checks c
                    JOIN mlops.drift_monitors m USING (monitor_id) WHERE m.created_by = %(v)s),
  'drift history', (SELECT jsonb_agg(to_jsonb(h) ORDER BY h.check_id, h.feature) FROM mlops.drift_history h
                     JOIN mlops.drift_monitors m USING (monitor_id) WHERE m.created_by = %(v)s),
  'drift alerts', (SELECT jsonb_agg(to_jsonb(a) ORDER BY a.alert_id) FROM mlops.drift_alerts a
                    JOIN mlops.drift_monitors m USING (monitor_id) WHERE m.created_by = %(v)s),
  'entities', (SELECT jsonb_agg(to_jsonb(e) ORDER BY e.entity_id) FROM mlops.entities e WHERE e.created_by = %(v)s),
  'feature views', (SELECT jsonb_agg(to_jsonb(f) ORDER BY f.view_id) FROM mlops.feature_views f
                     WHERE f.created_by = %(v)s),
  'feature services', (SELECT jsonb_agg(to_jsonb(f) ORDER BY f.service_id) FROM mlops.feature_services f
                        WHERE f.created_by = %(v)s),
  'online tables', (SELECT jsonb_agg(jsonb_build_object('view', v.name, 'table', v.online_table, 'rel', c.relname,
                                                       'owner', pg_get_userbyid(c.relowner), 'acl', c.relacl::text,
                                                       'columns', ARRAY(SELECT a.attname || ' ' || format_type(a.atttypid, NULL)
                                                                          FROM pg_attribute a
                                                                         WHERE a.attrelid = c.oid AND a.attnum > 0
                                                                           AND NOT a.attisdropped ORDER BY a.attnum))
                                     ORDER BY v.view_id)
                      FROM mlops.feature_views v LEFT JOIN pg_class c ON c.oid = to_regclass(v.online_table)
                     WHERE v.created_by = %(v)s),
  'online rows', (SELECT jsonb_agg(to_jsonb(o) ORDER BY o.tbl, o.key) FROM hostile_check.online_rows() o
                   WHERE o.tbl IN (SELECT c.relname FROM mlops.feature_views v JOIN pg_class c
                                       ON c.oid = to_regclass(v.online_table) WHERE v.created_by = %(v)s)))"""
# What the victim reads of its online features, as the victim: a service's vector (both
# forms), its features and a view's as jsonb (a key with a row, one without), its online rows.
VICTIM_ONLINE_READS = [
    "SELECT mlops.feature_vector('hv_fs', 3)::text",
    "SELECT mlops.feature_vector('hv_fs', '{\"customer_id\": 4}'::jsonb)::text",
    "SELECT mlops.online_features('hv_fs', '{\"customer_id\": 3}')::text",
    "SELECT mlops.online_features('hv_fv', '{\"customer_id\": 5}')::text",
    "SELECT mlops.online_features('hv_fv', '{\"customer_id\": 99}')::text",
    "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM mlops_online.hv_fv t"]


def victim_online(conn):
    """What VICTIM_ONLINE_READS give on conn (an error as its SQLSTATE and message)."""
    out = {}
    for sql in VICTIM_ONLINE_READS:
        try:
            out[sql] = q1(conn, sql)
        except psycopg2.Error as e:
            out[sql] = f'error {e.pgcode}: {error_line(e)}'
    return out
VICTIM_KEPT = """
SELECT jsonb_build_object(
  'params', (SELECT jsonb_agg(to_jsonb(p)) FROM mlops.params p JOIN mlops.runs r USING (run_id) WHERE r.created_by = %(v)s),
  'artifacts', (SELECT jsonb_agg(jsonb_build_object('run', a.run_id, 'path', a.path, 'sha', a.sha256, 'size', a.size_bytes,
                                                   'content', md5(a.content), 'type', a.media_type, 'at', a.logged_at))
                  FROM mlops.artifacts a JOIN mlops.runs r USING (run_id) WHERE r.created_by = %(v)s),
  'inputs', (SELECT jsonb_agg(to_jsonb(i)) FROM mlops.run_inputs i JOIN mlops.runs r USING (run_id)
              WHERE r.created_by = %(v)s),
  'metric points', (SELECT jsonb_agg(to_jsonb(h)) FROM mlops.metric_history h JOIN mlops.runs r USING (run_id)
                     WHERE r.created_by = %(v)s),
  'registry events', (SELECT jsonb_agg(to_jsonb(e)) FROM mlops.registry_events e))"""


def victim_fingerprint(su):
    return (q1(su, VICTIM_EQUAL, {'v': VICTIM}), q1(su, VICTIM_KEPT, {'v': VICTIM}))


def victim_changes(before, after):
    out = []
    for k in before[0]:
        b, a = before[0][k], after[0][k]
        if b == a:
            continue
        if isinstance(b, list) and isinstance(a, list):
            gone = [r for r in b if r not in a]
            new = [r for r in a if r not in b]
            out.append(f'{k}: {len(gone)} rows changed or gone, {len(new)} new or changed; first '
                       f'{short(json.dumps(gone[:1]), 250)} -> {short(json.dumps(new[:1]), 250)}')
        else:
            out.append(f'{k}: {short(json.dumps(b), 250)} -> {short(json.dumps(a), 250)}')
    for k in before[1]:
        lost = Counter(json.dumps(r, sort_keys=True) for r in before[1][k] or []) - \
            Counter(json.dumps(r, sort_keys=True) for r in after[1][k] or [])
        for r in list(lost)[:3]:
            out.append(f'{k}: row {short(r, 300)} is gone or changed')
    return out


def victim_runs_schedule(name, schedule_id, what, summary="status || ' ' || run_by"):
    """The victim runs its schedule now: summary of the schedule's last job run after it."""
    v = connect(VICTIM)
    try:
        q(v, 'CALL mlops.run_schedule(%s)', (name,))
    except psycopg2.Error as e:
        finding('victim changed', f"the victim's {what}, run by the victim, fails: {e.pgcode} {error_line(e)}")
    last = q1(v, f'SELECT {summary} FROM mlops.job_runs WHERE schedule_id = %s ORDER BY job_run_id DESC LIMIT 1',
              (schedule_id,))
    v.close()
    return last


def check_victim_online(ids, when=''):
    """The victim reads its online features as it did before the attacks."""
    v = connect(VICTIM)
    now = victim_online(v)
    v.close()
    for sql, was in ids['online'].items():
        if now[sql] != was:
            finding('victim changed', f'the victim\'s online features{" " + when if when else ""}: {sql} gave '
                                      f'{short(was, 200)}, now {short(now[sql], 200)}')


def online_tables(su, but=None):
    """The online tables, [(name, [])], but those of the views of role but."""
    return [(r[0], []) for r in q(su, "SELECT c.oid::regclass::text FROM mlops.feature_views v "
                                      "JOIN pg_class c ON c.oid = to_regclass(v.online_table) "
                                      "WHERE v.created_by IS DISTINCT FROM %s ORDER BY 1", (but,))]


def server_state(su):
    return q1(su, "SELECT pg_postmaster_start_time()::text")


SERVER_LOG = os.path.join(os.environ.get('PGHOST', ''), 'server.log')


def server_log_offset():
    try:
        return os.path.getsize(SERVER_LOG)
    except OSError:
        return None


def server_log_problems(offset):
    """Lines of the server log since offset that say a backend crashed."""
    if offset is None or not os.access(SERVER_LOG, os.R_OK):
        notes.append(f'the server log {SERVER_LOG} is not readable: crashes were checked through the connections')
        return []
    with open(SERVER_LOG, 'rb') as f:
        f.seek(offset)
        text = f.read().decode('utf-8', 'replace')
    return [line[:300] for line in text.splitlines()
            if re.search(r'terminated by signal|was terminated by|PANIC|TRAP:|server process .* exited with exit code [^0]'
                         r'|database system is in recovery mode|all server processes terminated', line)]


# --------------------------------------------------------------------------- main
def main():
    log_offset = server_log_offset()
    su = connect()
    log(f'database {DB}, PostgreSQL {q1(su, "SHOW server_version")}')
    cleanup(su)
    bg = None
    routines = []
    try:
        ids = setup(su)
        started_at = server_state(su)
        routines = load_routines(su)
        bg = thread, bg_conn, bg_pid, bg_result = start_running_job(ids)
        w = connect(WRITER)
        setup_writer(w, ids)
        log(f'set-up: {q1(su, "SELECT count(*) FROM mlops.runs")} runs, '
            f'{q1(su, "SELECT count(*) FROM mlops.model_versions")} model versions, '
            f'{q1(su, "SELECT count(*) FROM mlops.schedules")} schedules, '
            f'{q1(su, "SELECT count(*) FROM mlops.job_runs")} job runs; the victim\'s job run '
            f'{ids["job_running"]} running in process {bg_pid}')
        refs = ['hv_model@champion', 'hv_model:1', 'hv_model:2', 'hv_model', 'models:/hv_model/Production',
                'hv_tree:1', 'hv_mlp:1', 'hv_mlp', 'hv_mlp@champion']

        pools = build_pools(ids, su, routines)
        arg_of = baselines(ids)
        tables = table_list(su)
        orphans = {r[0] for r in q(su, "SELECT o.job_run_id FROM mlops.job_runs_overview o JOIN mlops.job_runs j "
                                       "USING (job_run_id) WHERE j.status = 'running' AND o.status = 'failed'")}
        su_base = Baseline(Snapshot(su, tables, True))
        victim_before = victim_fingerprint(su)
        everything_before = su_base.sums

        callable_ = [f for f in routines if f.callable]
        n_sets = sum(1 for f in callable_ for _ in variants_for(f, arg_of, pools))
        log(f'{len(routines)} routines in schema mlops, {len(callable_)} callable from SQL; executable by '
            f'{READER} {sum(f.executable[READER] for f in callable_)}, {WRITER} '
            f'{sum(f.executable[WRITER] for f in callable_)}, {NOBODY} {sum(f.executable[NOBODY] for f in callable_)}; '
            f'{n_sets} argument sets')

        # ---- the reader, then a role with no mlops role: nothing may change
        for role, phase in ((READER, 'reader'), (NOBODY, 'no role')):
            conn = connect(role)
            att = Attacker(role, conn, role == READER, tables, orphans)
            barrage(att, routines, arg_of, pools, su_base, orphans, phase)
            direct_dml(att.conn, role, tables)
            direct_dml(att.conn, role, online_tables(su), su)
            after = su_base.snap.sums()
            if after != everything_before:
                changed = [su_base.snap.label(i) for i, (x, y) in enumerate(zip(everything_before, after)) if x != y]
                finding('write outside the role', f'{role} changed {changed}')
            att.conn.close()

        # ---- the writer: only what a writer may, as itself
        att = Attacker(WRITER, w, True, tables, orphans)
        barrage(att, routines, arg_of, pools, su_base, orphans, 'writer')
        direct_dml(att.conn, WRITER, tables)
        # (its own online table it may write: the extension's owner granted it that)
        direct_dml(att.conn, WRITER, online_tables(su, but=WRITER), su)
        # its successful calls again, committed, each checked by a superuser: those naming
        # something of the victim's, and a few others
        check = super_checker(su_base, orphans, [att])
        su_base.refresh()
        commit_calls = []
        for (role, sig), calls in stats.successes.items():
            fn = next(f for f in routines if f.sig == sig)
            if role != WRITER or fn.kind != 'f':
                continue
            r = random.Random(sig)
            victim_calls = [c for c in calls if any(a is not None and a.victim for a in c[1].values())]
            others = [c for c in calls if c not in victim_calls]
            # every one naming the victim's drift baselines and monitors (a writer's objects that
            # name them stay: the victim must still run its monitors and drop its baselines)
            drift = [c for c in victim_calls if any(a is not None and a.victim and a.args[:1] and
                                                    a.args[0] in VICTIM_DRIFT_NAMES for a in c[1].values())]
            victim_calls = [c for c in victim_calls if c not in drift]
            commit_calls += [(fn, c) for c in drift + r.sample(victim_calls, min(12, len(victim_calls))) +
                             r.sample(others, min(3, len(others)))]
        for fn, (varied, args) in commit_calls:
            att.run(fn, args, varied, 'writer, committed', commit=True, super_check=check)
        # and, whatever the barrage committed, what a writer may make that names the victim's
        # drift objects: a monitor watching its baseline no monitor of the victim watches
        # (the end checks that the victim still runs its monitors and drops that baseline)
        # and a view whose online table would have the name of the victim's long-named view's (a
        # name is cut to 63 bytes), materialized before the victim materializes its own
        for label, sql in [('create_drift_monitor on the victim\'s hv_base_free',
                            "SELECT mlops.create_drift_monitor('hw-on-hv-base', 'hv_base_free', 'hostile_writer_s.drift_cur')"),
                           (f'create_feature_view {SQUAT_VIEW}, the name of the victim\'s {VICTIM_LONG_VIEW} in 63 bytes',
                            f"SELECT mlops.create_feature_view('{SQUAT_VIEW}', '{{hw_customer}}', 'hostile_writer_s.feat_src', "
                            f"'event_ts')"),
                           (f'materialize_online {SQUAT_VIEW}', f"CALL mlops.materialize_online('{SQUAT_VIEW}')")]:
            stats.calls['writer, committed'] += 1
            try:
                q(w, sql)
            except psycopg2.Error as e:
                notes.append(f'{WRITER}: {label}: {e.pgcode} {error_line(e)}')
            check(WRITER, label, None, None, 'writer, committed')
        log(f'writer, committed: {len(commit_calls)} calls')
        # (the committed calls may have captured the writer's baseline again from other columns:
        # as it was, for the aggregates' calls in the shared backend)
        q(w, "SELECT mlops.capture_baseline('hw_base', 'hostile_writer_s.drift_src', '{a,b,channel}', '{\"replace\": true}')")

        # ---- nothing of the victim's changed
        for change in victim_changes(victim_before, victim_fingerprint(su)):
            finding('victim changed', change)
        check_victim_online(ids)
        if q1(su, 'SELECT status FROM mlops.job_runs_overview WHERE job_run_id = %s', (ids['job_running'],)) != 'running':
            finding('victim changed', f"the victim's job run {ids['job_running']} in another session is no longer running")

        # ---- a backend shared by roles
        pooled_backend(routines, arg_of, pools, refs, su)

        # ---- integrity, the victim's schedule and running job, the server
        log('the end: invariants, the victim\'s schedule and running job, the server')
        for p in check_invariants(su, 'at the end'):
            finding('half-written', p)
        check_victim_online(ids, 'at the end')
        cron_row = q1(su, "SELECT jsonb_build_object('command', command, 'username', username, 'database', database, "
                          "'active', active, 'schedule', schedule) FROM cron.job WHERE jobname = 'mlops:hv-nightly'")
        if cron_row != {'command': "CALL mlops.run_schedule('hv-nightly')", 'username': VICTIM, 'database': DB,
                        'active': True, 'schedule': NEVER}:
            finding('victim changed', f"the victim's pg_cron job is now {cron_row}")
        last = victim_runs_schedule('hv-nightly', ids['sched'], 'schedule')
        if last != f'succeeded {VICTIM}':
            finding('victim changed', f'the victim\'s schedule, run by the victim, ended "{last}"')
        # its drift monitor's schedule too: the run sees its open alert again
        last = victim_runs_schedule('hv-drift', ids['sched_drift'], 'drift monitor')
        alert = q1(su, "SELECT status || ' ' || checks FROM mlops.drift_alerts WHERE alert_id = %s", (ids['alert_open'],))
        if last != f'succeeded {VICTIM}' or alert != 'open 2':
            finding('victim changed', f'the victim\'s drift monitor, run by the victim, ended "{last}", its alert '
                                      f'{ids["alert_open"]} is now "{alert}" (expected "open 2")')
        # its materialization's schedule: the run reads nothing new, so its online rows stay
        last = victim_runs_schedule('hv-online', ids['sched_online'], 'materialization',
                                    "status || ' ' || run_by || ' ' || kind || ' ' || rows_scored")
        if last != f'succeeded {VICTIM} materialize_online 0':
            finding('victim changed', f'the victim\'s materialization, run by the victim on its schedule, ended "{last}" '
                                      f'(expected "succeeded {VICTIM} materialize_online 0": nothing new to upsert)')
        check_victim_online(ids, 'after its materialization ran again')
        # whatever the writer made that names them, the victim still runs its monitor without a
        # schedule and drops the baseline its monitors do not watch
        v = connect(VICTIM)
        for what, sql, blocker in [
                ('runs its drift monitor hv-drift-manual', "CALL mlops.run_drift_monitor('hv-drift-manual')",
                 "SELECT 'schedule ' || name || ' of ' || created_by FROM mlops.schedules "
                 "WHERE name = 'hv-drift-manual' AND created_by <> %(v)s"),
                ('drops its drift baseline hv_base_free', "SELECT mlops.drop_baseline('hv_base_free')",
                 "SELECT 'monitor ' || name || ' of ' || created_by FROM mlops.drift_monitors "
                 "WHERE baseline = 'hv_base_free' AND created_by <> %(v)s"),
                (f'materializes its feature view {VICTIM_LONG_VIEW}', f"CALL mlops.materialize_online('{VICTIM_LONG_VIEW}')",
                 "SELECT 'feature view ' || v.name || ' of ' || v.created_by || ', whose online table is ' || v.online_table "
                 "FROM mlops.feature_views v WHERE v.created_by <> %(v)s AND v.online_table IS NOT NULL "
                 f"AND to_regclass(v.online_table) = to_regclass('mlops_online.{VICTIM_LONG_VIEW}')")]:
            try:
                q(v, sql)
            except psycopg2.Error as e:
                blockers = q(su, blocker, {'v': VICTIM})
                finding('victim blocked', f'the victim no longer {what}: {e.pgcode} {error_line(e)} '
                                          f'({", ".join(r[0] for r in blockers) or "nothing of another role names it"})')
        v.close()
        q(su, 'SELECT pg_cancel_backend(%s)', (bg_pid,))
        thread.join(30)
        status = q1(su, "SELECT status || ' ' || run_by FROM mlops.job_runs WHERE job_run_id = %s", (ids['job_running'],))
        if status != f'cancelled {VICTIM}':
            finding('victim changed', f'the victim\'s long job run, cancelled in its session, is "{status}" ({bg_result})')
        if server_state(su) != started_at:
            finding('crash', 'the postmaster restarted')
        for line in server_log_problems(log_offset):
            finding('crash', f'server log: {line}')
        probe = connect()
        if q1(probe, 'SELECT 1') != 1:
            finding('crash', 'no new connection')
        probe.close()
        w.close()
    finally:
        try:
            if bg:
                q(su, 'SELECT pg_cancel_backend(%s)', (bg[2],))
                bg[0].join(10)
        except Exception:
            pass
        if not os.environ.get('HOSTILE_KEEP'):
            cleanup(su)
        log('cleaned up')

    # ---- summary
    total = sum(stats.calls.values())
    print()
    print(f'routines: {len(routines)} in schema mlops, {len(stats.fn_called)} called')
    print('calls: ' + ', '.join(f'{k} {v}' for k, v in stats.calls.items()) + f'; {total} in all')
    for role in (READER, NOBODY, WRITER):
        c = stats.by_role[role]
        print(f'  {role}: ' + ', '.join(f'{k} {v}' for k, v in c.most_common(12)))
    print('errors by SQLSTATE: ' + ', '.join(f'{k} {v}' for k, v in stats.states.most_common() if k != 'ok'))
    if stats.timeouts:
        print(f'timeouts ({len(stats.timeouts)}): ' + '; '.join(stats.timeouts[:5]))
    for n in sorted(set(notes))[:20]:
        print(f'note: {n}')
    print('slowest: ' + ', '.join(f'{p}/{f} {t:.1f} s ({stats.check_seconds[(p, f)]:.1f} s checks)'
                                  for (p, f), t in stats.seconds.most_common(8)))
    print(f'time: {time.time() - START:.0f} s')
    if findings:
        # one line per kind of finding and routine (or message), with how many there were
        groups = {}
        for k, m in findings:
            g = re.match(r'^(.*?: [a-z_]+)\(', m)
            groups.setdefault((k, g.group(1) if g else re.sub(r'\d+', 'N', m)[:60]), []).append(m)
        kinds = Counter(k for k, _ in findings)
        print(f'\n{len(findings)} findings (' + ', '.join(f'{k} {v}' for k, v in kinds.items()) + '):')
        for (k, _), ms in list(groups.items())[:40]:
            print(f'  [{k}] {ms[0]}' + (f'  (and {len(ms) - 1} more like it)' if len(ms) > 1 else ''))
        return 1
    print('no findings')
    return 0


if __name__ == '__main__':
    sys.exit(main())
