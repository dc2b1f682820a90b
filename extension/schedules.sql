-- schedules.sql: named jobs on cron expressions, run by pg_cron as the role
-- that scheduled them.

CREATE TABLE mlops.schedules (
    schedule_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('batch_score')),
    cron        text NOT NULL,
    spec        jsonb NOT NULL,
    cron_job_id bigint,
    active      boolean NOT NULL DEFAULT true,
    created_by  name NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

-- pg_cron, or a clear word on how to get it
CREATE FUNCTION mlops._require_pg_cron() RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'mlops schedules run on pg_cron; everything else in mlops works without it.',
                  HINT = format('Add pg_cron to shared_preload_libraries, set cron.database_name = %L, '
                                'restart the server, then CREATE EXTENSION pg_cron in this database.',
                                current_database());
    END IF;
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
                                           on_error text DEFAULT 'fail') RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid bigint;
    job bigint;
BEGIN
    PERFORM mlops._require_pg_cron();
    PERFORM mlops._check_model_name('schedule name', name);
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM FROM mlops._resolve_model(model);             -- fail now, not at 3 a.m.
    sid := mlops._schedule_register(name, 'batch_score', cron, jsonb_build_object(
               'model', model, 'source', source, 'target', target, 'key_columns', key_columns,
               'features', features, 'outputs', outputs, 'slice', slice, 'mode', mode, 'on_error', on_error));
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
       INTO job USING 'mlops:' || name, cron, format('CALL mlops.run_schedule(%L)', name);
    PERFORM mlops._schedule_set_job(sid, job, true);
    RETURN sid;
END
$$;

CREATE FUNCTION mlops._schedule_register(name text, kind text, cron text, spec jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid bigint;
BEGIN
    IF EXISTS (SELECT FROM mlops.schedules s WHERE s.name = _schedule_register.name) THEN
        RAISE EXCEPTION 'schedule "%" already exists', name USING ERRCODE = 'unique_violation',
            HINT = 'mlops.drop_schedule() removes it.';
    END IF;
    INSERT INTO mlops.schedules (name, kind, cron, spec, created_by)
    VALUES (name, kind, cron, spec, mlops._invoking_user())
    RETURNING schedule_id INTO sid;
    RETURN sid;
END
$$;

CREATE FUNCTION mlops._schedule_set_job(schedule_id bigint, cron_job_id bigint, active boolean) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE mlops.schedules s SET cron_job_id = coalesce(_schedule_set_job.cron_job_id, s.cron_job_id),
                                 active = _schedule_set_job.active
     WHERE s.schedule_id = _schedule_set_job.schedule_id;
$$;

CREATE FUNCTION mlops._schedule_id(name text) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid bigint;
BEGIN
    SELECT s.schedule_id INTO sid FROM mlops.schedules s WHERE s.name = _schedule_id.name;
    IF sid IS NULL THEN
        RAISE EXCEPTION 'schedule "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    RETURN sid;
END
$$;

-- What pg_cron runs: the schedule's job, as a job run named after it.
CREATE PROCEDURE mlops.run_schedule(name text)
LANGUAGE plpgsql
AS $$
DECLARE
    s record;
    keys text[];
    outs text[];
BEGIN
    SELECT * INTO s FROM mlops.schedules x WHERE x.schedule_id = mlops._schedule_id(run_schedule.name);
    -- each kind of scheduled job has its runner here
    IF s.kind <> 'batch_score' THEN
        RAISE EXCEPTION 'schedule "%" is of kind "%", which this version of mlops cannot run', s.name, s.kind
            USING ERRCODE = 'feature_not_supported';
    END IF;
    keys := ARRAY(SELECT jsonb_array_elements_text(s.spec -> 'key_columns'));
    outs := ARRAY(SELECT jsonb_array_elements_text(s.spec -> 'outputs'));
    CALL mlops.batch_score(s.spec ->> 'model', s.spec ->> 'source', s.spec ->> 'target', keys,
                           s.spec ->> 'features', outs, s.spec ->> 'slice', s.spec ->> 'mode',
                           s.spec ->> 'on_error', s.name, s.schedule_id);
END
$$;

CREATE FUNCTION mlops._set_schedule_active(name text, active boolean) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid bigint := mlops._schedule_id(name);
BEGIN
    PERFORM mlops._require_pg_cron();
    EXECUTE 'SELECT cron.alter_job(job_id => $1, active => $2)'
      USING (SELECT s.cron_job_id FROM mlops.schedules s WHERE s.schedule_id = sid), active;
    PERFORM mlops._schedule_set_job(sid, NULL, active);
END
$$;

CREATE FUNCTION mlops.pause_schedule(name text) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT mlops._set_schedule_active(name, false) $$;

CREATE FUNCTION mlops.resume_schedule(name text) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT mlops._set_schedule_active(name, true) $$;

CREATE FUNCTION mlops.drop_schedule(name text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid bigint := mlops._schedule_id(name);
BEGIN
    PERFORM mlops._require_pg_cron();
    EXECUTE 'SELECT cron.unschedule($1)'
      USING (SELECT s.cron_job_id FROM mlops.schedules s WHERE s.schedule_id = sid);
    PERFORM mlops._schedule_delete(sid);
END
$$;

CREATE FUNCTION mlops._schedule_delete(schedule_id bigint) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    DELETE FROM mlops.schedules s WHERE s.schedule_id = _schedule_delete.schedule_id;
$$;

-- Monitoring views, for BI tools: stable names and types.
CREATE VIEW mlops.schedules_overview AS
SELECT s.schedule_id, s.name, s.kind, s.cron, s.active, s.spec ->> 'model' AS model,
       s.spec ->> 'source' AS source, s.spec ->> 'target' AS target, s.cron_job_id, s.created_by, s.created_at,
       l.started_at AS last_run_at, l.status AS last_status, l.rows_scored AS last_rows_scored
  FROM mlops.schedules s
  LEFT JOIN LATERAL (SELECT j.started_at, j.status, j.rows_scored FROM mlops.job_runs j
                      WHERE j.schedule_id = s.schedule_id ORDER BY j.started_at DESC LIMIT 1) l ON true;

-- Privileges: functions are not executable by PUBLIC; the roles get what
-- their job needs.
REVOKE ALL ON ALL ROUTINES IN SCHEMA mlops FROM PUBLIC;
GRANT SELECT ON mlops.schedules, mlops.schedules_overview TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops._require_pg_cron(),
    mlops.schedule_batch_score(text, text, text, text, text, text[], text, text[], text, text, text),
    mlops._schedule_register(text, text, text, jsonb),
    mlops._schedule_set_job(bigint, bigint, boolean),
    mlops._schedule_id(text),
    mlops._set_schedule_active(text, boolean),
    mlops.pause_schedule(text),
    mlops.resume_schedule(text),
    mlops.drop_schedule(text),
    mlops._schedule_delete(bigint)
    TO mlops_writer;
GRANT EXECUTE ON PROCEDURE mlops.run_schedule(text) TO mlops_writer;
