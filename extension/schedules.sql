-- schedules.sql: named jobs on cron expressions, run by pg_cron as the role
-- that scheduled them; only that role changes them.  C half:
-- extension/schedules.c (pg_cron called as the schedule's owner).

CREATE TABLE mlops.schedules (
    schedule_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('batch_score', 'drift_monitor', 'materialize_online', 'ab_canary', 'ab_bandit',
                                            'retrain')),
    cron        text NOT NULL,
    spec        jsonb NOT NULL,
    cron_job_id bigint,
    active      boolean NOT NULL DEFAULT true,
    created_by  name NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

-- pg_cron's own functions, called as the invoking role (schedules.c)
CREATE FUNCTION mlops._cron_schedule(job_name text, cron text, command text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mlops_cron_schedule' LANGUAGE C VOLATILE;
CREATE FUNCTION mlops._cron_unschedule(job_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mlops_cron_unschedule' LANGUAGE C VOLATILE;

-- What a schedule's pg_cron job runs.
CREATE FUNCTION mlops._schedule_command(name text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN pg_catalog.format('CALL mlops.run_schedule(%L)', name);

-- A schedule of the invoking role, locked for a change.  Schedules run as
-- their owner, so nobody else may change what one runs, or when.
CREATE FUNCTION mlops._own_schedule(name text) RETURNS mlops.schedules
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s mlops.schedules;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'schedule name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO s FROM mlops.schedules x WHERE x.name = _own_schedule.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF s.created_by <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'schedule "%" belongs to role %', name, s.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A schedule runs as the role that created it, and only that role changes it.';
    END IF;
    RETURN s;
END
$$;

-- Arm (or re-arm) a schedule: its pg_cron job, owned by the invoking role.
-- A schedule's pg_cron job name.  pg_cron keeps job names as type name (63
-- bytes) and cron.schedule() replaces a role's job of the same name: two
-- long schedule names alike in their first 57 bytes would share one job.  A
-- name too long is replaced by its md5, which is unique.
CREATE FUNCTION mlops._cron_job_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN pg_catalog.octet_length(name) <= 57 THEN 'mlops:' || name
            ELSE 'mlops:md5:' || pg_catalog.md5(name) END;

CREATE FUNCTION mlops._arm_schedule(s mlops.schedules) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE mlops.schedules x
       SET cron_job_id = mlops._cron_schedule(mlops._cron_job_name(s.name), s.cron, mlops._schedule_command(s.name)),
           active = true
     WHERE x.schedule_id = s.schedule_id;
END
$$;

-- Disarm a schedule: remove its pg_cron job, if pg_cron is there to hold one
-- (a schedule restored into a database without pg_cron still pauses and drops).
CREATE FUNCTION mlops._disarm_schedule(s mlops.schedules) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM mlops._cron_unschedule(s.cron_job_id);
    END IF;
    UPDATE mlops.schedules x SET active = false, cron_job_id = NULL WHERE x.schedule_id = s.schedule_id;
END
$$;

-- Add a schedule of the invoking role and arm it on pg_cron: what every
-- schedule_* function does once it has checked its own arguments.  Schedules
-- and drift monitors share their names (a monitor's schedule takes its
-- name), and a name is unique across roles.  Called inside the definer
-- functions only.
CREATE FUNCTION mlops._add_schedule(name text, kind text, cron text, spec jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s mlops.schedules;
    owner name;
BEGIN
    SELECT m.created_by INTO owner FROM mlops.drift_monitors m WHERE m.name = _add_schedule.name;
    IF FOUND THEN
        RAISE EXCEPTION 'schedule name "%" is the name of a drift monitor', name USING ERRCODE = 'unique_violation',
            DETAIL = format('It belongs to role %s.', owner), HINT = 'Choose another name.';
    END IF;
    INSERT INTO mlops.schedules AS x (name, kind, cron, spec, created_by)
    VALUES (name, kind, cron, spec, mlops._invoking_user())
        ON CONFLICT ON CONSTRAINT schedules_name_key DO NOTHING
    RETURNING x.* INTO s;
    IF s.schedule_id IS NULL THEN
        SELECT x.created_by INTO owner FROM mlops.schedules x WHERE x.name = _add_schedule.name;
        RAISE EXCEPTION 'schedule "%" already exists', name USING ERRCODE = 'unique_violation',
            DETAIL = format('It belongs to role %s.', owner),
            HINT = CASE WHEN owner = mlops._invoking_user() THEN 'mlops.drop_schedule() removes it.'
                        ELSE 'Choose another name.' END;
    END IF;
    PERFORM mlops._arm_schedule(s);
    RETURN s.schedule_id;
END
$$;

-- Schedule a batch scoring job: cron syntax as pg_cron takes it
-- ('*/10 * * * *', '@daily'); the job runs as the role that scheduled it.
CREATE FUNCTION mlops.schedule_batch_score(name text, cron text, model text, source text, target text,
                                           key_columns text[] DEFAULT ARRAY['id'],
                                           features text DEFAULT NULL,
                                           outputs text[] DEFAULT ARRAY['prediction'],
                                           slice text DEFAULT NULL,
                                           mode text DEFAULT 'replace',
                                           on_error text DEFAULT 'fail',
                                           feature_columns text[] DEFAULT NULL,
                                           exclude_columns text[] DEFAULT NULL,
                                           target_columns jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'schedule_batch_score');
    PERFORM mlops._check_model_name('schedule name', name);
    IF cron IS NULL OR source IS NULL OR target IS NULL THEN
        RAISE EXCEPTION 'cron, source and target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM FROM mlops._resolve_model(model);             -- fail now, not at 3 a.m.
    RETURN mlops._add_schedule(name, 'batch_score', cron,
                               jsonb_build_object('model', model, 'source', source, 'target', target,
                                                  'key_columns', key_columns, 'features', features,
                                                  'outputs', outputs, 'slice', slice, 'mode', mode,
                                                  'on_error', on_error, 'feature_columns', feature_columns,
                                                  'exclude_columns', exclude_columns,
                                                  'target_columns', target_columns));
END
$$;

-- What pg_cron runs: the schedule's job, as a job run named after it.  It
-- runs as its caller (batch_score commits), and only as the schedule's
-- owner: pg_cron runs it as the role that scheduled it, and nobody else can
-- make it run their schedule, or run someone else's.
CREATE PROCEDURE mlops.run_schedule(name text)
LANGUAGE plpgsql
AS $$
DECLARE
    s record;
    keys text[];
    outs text[];
    feature_columns text[];
    exclude_columns text[];
    result jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'run_schedule');
    SELECT * INTO s FROM mlops.schedules x WHERE x.name = run_schedule.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF s.created_by <> current_user THEN
        RAISE EXCEPTION 'schedule "%" belongs to role %', s.name, s.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A schedule runs only as the role that created it.';
    END IF;
    -- each kind of scheduled job has its runner here
    IF s.kind = 'drift_monitor' THEN
        CALL mlops.run_drift_monitor(s.spec ->> 'monitor');
        -- a cycle of each of the owner's retraining policies its new alerts trigger
        CALL mlops._retrain_on_drift(s.spec ->> 'monitor');
        RETURN;
    END IF;
    IF s.kind = 'retrain' THEN
        CALL mlops._retrain(s.spec ->> 'policy', s.schedule_id, 'schedule', result);
        RETURN;
    END IF;
    IF s.kind = 'materialize_online' THEN
        CALL mlops._materialize_online(s.spec ->> 'view', false, s.name, s.schedule_id);
        RETURN;
    END IF;
    IF s.kind = 'ab_canary' THEN
        RAISE NOTICE '%', mlops.advance_canary(s.spec ->> 'ab_test');
        RETURN;
    END IF;
    IF s.kind = 'ab_bandit' THEN
        PERFORM mlops.update_ab_bandit_weights(s.spec ->> 'ab_test', s.spec ->> 'metric', 'auto',
                                               (s.spec ->> 'min_weight')::float8, (s.spec ->> 'min_units')::float8);
        RETURN;
    END IF;
    IF s.kind <> 'batch_score' THEN
        RAISE EXCEPTION 'schedule "%" is of kind "%", which this version of mlops cannot run', s.name, s.kind
            USING ERRCODE = 'feature_not_supported';
    END IF;
    keys := ARRAY(SELECT jsonb_array_elements_text(s.spec -> 'key_columns'));
    outs := ARRAY(SELECT jsonb_array_elements_text(s.spec -> 'outputs'));
    -- absent from the specs of schedules made by mlops 0.1.0
    IF jsonb_typeof(s.spec -> 'feature_columns') = 'array' THEN
        feature_columns := ARRAY(SELECT jsonb_array_elements_text(s.spec -> 'feature_columns'));
    END IF;
    IF jsonb_typeof(s.spec -> 'exclude_columns') = 'array' THEN
        exclude_columns := ARRAY(SELECT jsonb_array_elements_text(s.spec -> 'exclude_columns'));
    END IF;
    CALL mlops.batch_score(s.spec ->> 'model', s.spec ->> 'source', s.spec ->> 'target', keys,
                           s.spec ->> 'features', outs, s.spec ->> 'slice', s.spec ->> 'mode',
                           s.spec ->> 'on_error', s.name, s.schedule_id, feature_columns, exclude_columns,
                           nullif(s.spec -> 'target_columns', 'null'));
END
$$;

-- Pausing removes the schedule's pg_cron job and resuming makes it again
-- (pg_cron lets a role remove and create its own jobs, but alter them only
-- when a superuser granted cron.alter_job).
CREATE FUNCTION mlops.pause_schedule(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'pause_schedule');
    PERFORM mlops._disarm_schedule(mlops._own_schedule(name));
END
$$;

CREATE FUNCTION mlops.resume_schedule(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'resume_schedule');
    PERFORM mlops._arm_schedule(mlops._own_schedule(name));
END
$$;

CREATE FUNCTION mlops.drop_schedule(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s mlops.schedules;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_schedule');
    s := mlops._own_schedule(name);
    IF s.kind = 'drift_monitor' THEN
        RAISE EXCEPTION 'schedule "%" runs drift monitor "%"', name, s.spec ->> 'monitor'
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'mlops.drop_drift_monitor() drops the monitor with its schedule; pause_schedule() stops it.';
    END IF;
    PERFORM mlops._disarm_schedule(s);
    DELETE FROM mlops.schedules x WHERE x.schedule_id = s.schedule_id;
END
$$;

-- Whether a schedule will fire: 'armed' (its pg_cron job is there, as its
-- owner, in this database, running its command), 'paused', 'missing' (the
-- job is gone: the database was restored from a dump, pg_cron was
-- reinstalled, or the job was removed by hand; rearm_schedules() makes it
-- again), or 'no pg_cron' (pg_cron is not installed in this database).
CREATE FUNCTION mlops.schedule_state(name text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s mlops.schedules;
    armed boolean;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'schedule_state');
    IF name IS NULL THEN
        RAISE EXCEPTION 'schedule name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO s FROM mlops.schedules x WHERE x.name = schedule_state.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT s.active THEN
        RETURN 'paused';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN 'no pg_cron';
    END IF;
    EXECUTE 'SELECT j.active FROM cron.job j
              WHERE j.jobid = $1 AND j.username = $2 AND j.database = current_database() AND j.command = $3'
       INTO armed USING s.cron_job_id, s.created_by::text, mlops._schedule_command(s.name);
    RETURN CASE WHEN armed THEN 'armed' ELSE 'missing' END;
END
$$;

-- Make the pg_cron jobs of the invoking role's active schedules that have
-- none (after a restore from a dump, say); returns how many it made.
CREATE FUNCTION mlops.rearm_schedules() RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s mlops.schedules;
    n int := 0;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'rearm_schedules');
    FOR s IN SELECT * FROM mlops.schedules x WHERE x.created_by = mlops._invoking_user() AND x.active
              ORDER BY x.schedule_id FOR UPDATE LOOP
        IF mlops.schedule_state(s.name) = 'missing' THEN
            PERFORM mlops._arm_schedule(s);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- Monitoring view, for BI tools: stable names and types.
CREATE VIEW mlops.schedules_overview AS
SELECT s.schedule_id, s.name, s.kind, s.cron, s.active, s.spec ->> 'model' AS model,
       s.spec ->> 'source' AS source, s.spec ->> 'target' AS target, s.cron_job_id, s.created_by, s.created_at,
       l.started_at AS last_run_at, l.status AS last_status, l.rows_scored AS last_rows_scored,
       mlops.schedule_state(s.name) AS state
  FROM mlops.schedules s
  LEFT JOIN LATERAL (SELECT j.started_at, j.status, j.rows_scored FROM mlops.job_runs_overview j
                      WHERE j.schedule_id = s.schedule_id ORDER BY j.started_at DESC LIMIT 1) l ON true;

-- Privileges (see tracking.sql).  run_schedule runs as its caller and calls
-- only what batch_score does.
CALL mlops._private_by_default();
GRANT SELECT ON mlops.schedules, mlops.schedules_overview TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.schedule_batch_score(text, text, text, text, text, text[], text, text[], text, text, text, text[], text[], jsonb),
    mlops.pause_schedule(text),
    mlops.resume_schedule(text),
    mlops.drop_schedule(text),
    mlops.schedule_state(text),
    mlops.rearm_schedules()
    TO PUBLIC;
GRANT EXECUTE ON PROCEDURE mlops.run_schedule(text) TO PUBLIC;

-- Schedules are dumped with the rest; restored into a database where their
-- pg_cron jobs are not, they show as 'missing' until rearm_schedules().
SELECT pg_catalog.pg_extension_config_dump('mlops.schedules', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.schedules_schedule_id_seq', '');
