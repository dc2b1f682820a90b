-- mlops 0.7.0 -> 0.8.0: ALTER EXTENSION mlops UPDATE TO '0.8.0'.
--
-- What changed (README, "Upgrading"): job runs have a note, what a run that
-- succeeded has to say (why a retraining cycle did nothing, what it decided,
-- which features a drift monitor found drifted); error is for runs that did
-- not succeed, and the reasons 0.7.0 kept in the error of succeeded runs move
-- to their note.  job_runs_overview, latest_job_runs and
-- retraining_policies_overview (last_note) show it.
-- tests/integration/upgrade.sh checks that an updated database is, object for
-- object, a fresh 0.8.0 install.
\echo Use "ALTER EXTENSION mlops UPDATE TO '0.8.0'" to load this file. \quit

ALTER TABLE mlops.job_runs ADD COLUMN note text;
UPDATE mlops.job_runs SET note = error, error = NULL WHERE status = 'succeeded' AND error IS NOT NULL;
DROP FUNCTION mlops._job_run_finish(bigint, text, bigint, bigint, bigint, text, text);

-- Every routine of 0.8.0, as its install script defines it (unchanged ones too:
-- replacing them is harmless, and keeps this script checkable against it).
CREATE OR REPLACE FUNCTION mlops.build_info() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_build_info'
    LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE PROCEDURE mlops._private_by_default()
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc p
              WHERE p.pronamespace = 'mlops'::regnamespace AND p.proacl IS NULL ORDER BY p.oid LOOP
        EXECUTE format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', f);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION mlops._fail(sqlstate text, message text, detail text DEFAULT NULL,
                            hint text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- RAISE prints an empty DETAIL or HINT line for '', so leave them out
    IF detail IS NULL AND hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message;
    ELSIF hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message, DETAIL = detail;
    ELSIF detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message, HINT = hint;
    END IF;
    RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message, DETAIL = detail, HINT = hint;
END
$$;

CREATE OR REPLACE FUNCTION mlops._check_key(kind text, key text, at text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_check_key'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._check_label(kind text, label text, max_chars int, at text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_check_label'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._check_value(kind text, value text, max_chars int, at text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_check_value'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._invoking_user() RETURNS name
    AS 'MODULE_PATHNAME', 'mlops_invoking_user'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._require_role(role_name text, function_name text) RETURNS void
    AS 'MODULE_PATHNAME', 'mlops_require_role'
    LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._experiment_id(experiment text) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    deleted_id bigint;
BEGIN
    IF experiment IS NULL THEN
        RAISE EXCEPTION 'experiment name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT e.experiment_id INTO id FROM mlops.experiments e
     WHERE e.name = experiment AND e.lifecycle_stage = 'active';
    IF id IS NULL THEN
        SELECT max(e.experiment_id) INTO deleted_id FROM mlops.experiments e WHERE e.name = experiment;
        IF deleted_id IS NOT NULL THEN
            RAISE EXCEPTION 'experiment "%" is deleted', experiment
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('The deleted experiment has id %s.', deleted_id),
                      HINT = format('mlops.restore_experiment(%s) restores it.', deleted_id);
        END IF;
        RAISE EXCEPTION 'experiment "%" does not exist', experiment
            USING ERRCODE = 'undefined_object',
                  HINT = 'mlops.create_experiment() or mlops.set_experiment() creates it.';
    END IF;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._writable_run(run_id bigint, allow_ended boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    IF run_id IS NULL THEN
        RAISE EXCEPTION 'run_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT ru.status, ru.lifecycle_stage AS run_stage, e.lifecycle_stage AS exp_stage, e.name
      INTO r
      FROM mlops.runs ru JOIN mlops.experiments e USING (experiment_id)
     WHERE ru.run_id = _writable_run.run_id
       FOR SHARE OF ru;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', run_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'mlops.start_run() returns the id of a new run.';
    END IF;
    IF r.run_stage = 'deleted' THEN
        RAISE EXCEPTION 'run % is deleted', run_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('mlops.restore_run(%s) restores it.', run_id);
    END IF;
    IF r.exp_stage = 'deleted' THEN
        RAISE EXCEPTION 'run % belongs to deleted experiment "%"', run_id, r.name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT allow_ended AND r.status NOT IN ('RUNNING', 'SCHEDULED') THEN
        RAISE EXCEPTION 'run % has ended with status %', run_id, r.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Params, inputs and artifacts can only be logged to a RUNNING or SCHEDULED run; metrics and tags to any run.',
                  HINT = 'Start a new run, or a nested run with parent_run_id.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops._param_jsonb(value text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value ~ '^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$'
            THEN value::jsonb ELSE to_jsonb(value) END;

CREATE OR REPLACE FUNCTION mlops._store_params(run_id bigint, keys text[], vals text[]) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c record;
BEGIN
    IF coalesce(cardinality(keys), 0) = 0 THEN
        RETURN 0;                   -- an empty object or array logs nothing
    END IF;
    -- the same key twice in one call with two values is a conflict too
    SELECT k, min(v) AS v1, max(v) AS v2 INTO c
      FROM unnest(keys, vals) AS u(k, v)
     GROUP BY k HAVING count(DISTINCT v) > 1
     ORDER BY k LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'param "%" is given twice with different values', c.k
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Values: %L and %L.', c.v1, c.v2);
    END IF;

    INSERT INTO mlops.params AS p (run_id, key, value)
    SELECT DISTINCT _store_params.run_id, k, v FROM unnest(keys, vals) AS u(k, v)
     ORDER BY 2
        ON CONFLICT (run_id, key) DO NOTHING;

    -- Checked after the insert, so that a concurrent writer's committed value
    -- (which ON CONFLICT waited for) is compared too.
    SELECT u.k, p.value AS stored, u.v AS given INTO c
      FROM unnest(keys, vals) AS u(k, v)
      JOIN mlops.params p ON p.run_id = _store_params.run_id AND p.key = u.k
     WHERE p.value IS DISTINCT FROM u.v
     ORDER BY u.k LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'param "%" of run % is already logged with a different value', c.k, run_id
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Logged value: %L. New value: %L.', c.stored, c.given),
                  HINT = 'Params are write-once; start a new run to try another value.';
    END IF;

    UPDATE mlops.run_documents d
       SET params = d.params || (SELECT jsonb_object_agg(u.k, mlops._param_jsonb(u.v))
                                   FROM unnest(keys, vals) AS u(k, v))
     WHERE d.run_id = _store_params.run_id;
    RETURN coalesce(array_length(keys, 1), 0);
END
$$;

CREATE OR REPLACE FUNCTION mlops._store_metrics(run_id bigint, keys text[], vals double precision[],
                                     steps bigint[], times timestamptz[]) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF coalesce(cardinality(keys), 0) = 0 THEN
        RETURN 0;                   -- an empty object or array logs nothing
    END IF;
    INSERT INTO mlops.metric_history (run_id, key, value, step, logged_at)
    SELECT _store_metrics.run_id, k, v, s, t FROM unnest(keys, vals, steps, times) AS u(k, v, s, t);

    -- One candidate per key, the batch's own latest; it replaces the stored
    -- row only if it is later in (step, logged_at, value).  ON CONFLICT
    -- re-checks the WHERE against the newest committed row, so concurrent
    -- writers cannot move it backwards.
    INSERT INTO mlops.latest_metrics AS l (run_id, key, value, step, logged_at)
    SELECT DISTINCT ON (k) _store_metrics.run_id, k, v, s, t
      FROM unnest(keys, vals, steps, times) AS u(k, v, s, t)
     ORDER BY k, s DESC, t DESC, v DESC
        ON CONFLICT (run_id, key) DO UPDATE
       SET value = excluded.value, step = excluded.step, logged_at = excluded.logged_at
     WHERE (excluded.step, excluded.logged_at, excluded.value) > (l.step, l.logged_at, l.value);
    RETURN coalesce(array_length(keys, 1), 0);
END
$$;

CREATE OR REPLACE FUNCTION mlops._store_run_tags(run_id bigint, keys text[], vals text[]) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    dup text;
BEGIN
    IF coalesce(cardinality(keys), 0) = 0 THEN
        RETURN 0;                   -- an empty object or array logs nothing
    END IF;
    SELECT k INTO dup FROM unnest(keys) AS k GROUP BY k HAVING count(*) > 1 ORDER BY k LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'tag "%" is given twice', dup USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO mlops.run_tags AS t (run_id, key, value)
    SELECT _store_run_tags.run_id, k, v FROM unnest(keys, vals) AS u(k, v) ORDER BY k
        ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value;
    UPDATE mlops.run_documents d
       SET tags = d.tags || (SELECT jsonb_object_agg(u.k, u.v) FROM unnest(keys, vals) AS u(k, v))
     WHERE d.run_id = _store_run_tags.run_id;
    RETURN coalesce(array_length(keys, 1), 0);
END
$$;

CREATE OR REPLACE FUNCTION mlops._batch_items(section jsonb, section_name text, allowed text[])
RETURNS TABLE (path text, key text, value jsonb, step jsonb, ts jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    CASE jsonb_typeof(section)
    WHEN 'object' THEN
        RETURN QUERY
        SELECT format('%s[%s]', section_name, to_jsonb(e.key)), e.key, e.value, NULL::jsonb, NULL::jsonb
          FROM jsonb_each(section) AS e;
    WHEN 'array' THEN
        SELECT a.o - 1 AS idx, a.el INTO bad
          FROM jsonb_array_elements(section) WITH ORDINALITY AS a(el, o)
         WHERE jsonb_typeof(a.el) <> 'object'
            OR NOT (a.el ? 'key') OR NOT (a.el ? 'value')
            OR EXISTS (SELECT FROM jsonb_object_keys(a.el) AS f WHERE f <> ALL (allowed))
         ORDER BY a.o LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'invalid element at %[%] of the batch', section_name, bad.idx
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Found %s.', left(bad.el::text, 200)),
                      HINT = format('Each element is an object with the fields %s, and "key" and "value" are required.',
                                    array_to_string(allowed, ', '));
        END IF;
        RETURN QUERY
        SELECT format('%s[%s]', section_name, a.o - 1), a.el ->> 'key', a.el -> 'value',
               a.el -> 'step', a.el -> 'timestamp'
          FROM jsonb_array_elements(section) WITH ORDINALITY AS a(el, o);
    ELSE
        RAISE EXCEPTION '"%" in a batch must be a JSON object or array, not %', section_name,
                        coalesce(jsonb_typeof(section), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END CASE;
END
$$;

CREATE OR REPLACE FUNCTION mlops._json_value_text(value jsonb, path text) RETURNS text
LANGUAGE sql VOLATILE
RETURN CASE
    WHEN value IS NULL OR jsonb_typeof(value) = 'null'
        THEN mlops._fail('22004', format('value at %s must not be NULL', path))
    WHEN jsonb_typeof(value) IN ('object', 'array') THEN value::text
    ELSE value #>> '{}' END;

CREATE OR REPLACE FUNCTION mlops._json_metric_value(value jsonb, path text) RETURNS double precision
LANGUAGE sql VOLATILE
RETURN CASE
    WHEN jsonb_typeof(value) = 'number' THEN value::double precision
    WHEN jsonb_typeof(value) = 'string'
         AND lower(value #>> '{}') IN ('nan', 'infinity', '-infinity', '+infinity', 'inf', '-inf', '+inf')
        THEN (value #>> '{}')::double precision
    WHEN value IS NULL OR jsonb_typeof(value) = 'null'
        THEN mlops._fail('22004', format('metric value at %s must not be NULL', path),
                         hint => 'Log NaN explicitly (the string "NaN") for a missing value.')::double precision
    ELSE mlops._fail('22P02', format('metric value at %s must be a number', path),
                     format('Found %s.', left(value::text, 100)),
                     'Use a JSON number, or the strings "NaN", "Infinity" or "-Infinity".')::double precision
    END;

CREATE OR REPLACE FUNCTION mlops._json_step(value jsonb, path text) RETURNS bigint
LANGUAGE sql VOLATILE
RETURN CASE
    WHEN value IS NULL OR jsonb_typeof(value) = 'null' THEN 0
    WHEN jsonb_typeof(value) = 'number' AND value::numeric = trunc(value::numeric)
         AND value::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
        THEN value::bigint
    ELSE mlops._fail('22023', format('step at %s must be an integer', path),
                     format('Found %s.', left(value::text, 100)))::bigint
    END;

CREATE OR REPLACE FUNCTION mlops._json_timestamp(value jsonb, path text, absent timestamptz) RETURNS timestamptz
LANGUAGE sql VOLATILE
RETURN CASE
    WHEN value IS NULL OR jsonb_typeof(value) = 'null' THEN absent
    WHEN jsonb_typeof(value) = 'number' AND abs(value::numeric) < 1e14
        THEN to_timestamp(value::double precision / 1000.0)
    WHEN jsonb_typeof(value) = 'string'
         AND (value #>> '{}') ~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$'
        THEN (value #>> '{}')::timestamptz
    ELSE mlops._fail('22007', format('timestamp at %s must be milliseconds since the epoch or an ISO 8601 string', path),
                     format('Found %s.', left(value::text, 100)))::timestamptz
    END;

CREATE OR REPLACE FUNCTION mlops.create_experiment(name text, description text DEFAULT NULL,
                                        tags jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_experiment');
    PERFORM mlops._check_label('experiment name', name, 500);
    IF EXISTS (SELECT FROM mlops.experiments e
                WHERE e.name = create_experiment.name AND e.lifecycle_stage = 'active') THEN
        RAISE EXCEPTION 'experiment "%" already exists', name
            USING ERRCODE = 'unique_violation',
                  HINT = 'mlops.set_experiment() returns the existing experiment instead.';
    END IF;
    INSERT INTO mlops.experiments (name, description, created_by)
    VALUES (name, description, mlops._invoking_user())
    RETURNING experiment_id INTO id;
    IF tags IS NOT NULL THEN
        INSERT INTO mlops.experiment_tags (experiment_id, key, value)
        SELECT id, mlops._check_key('experiment tag key', i.key, i.path),
               mlops._check_value('experiment tag value', mlops._json_value_text(i.value, i.path), 8000, i.path)
          FROM mlops._batch_items(tags, 'tags', ARRAY['key', 'value']) AS i;
    END IF;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.set_experiment(name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'set_experiment');
    PERFORM mlops._check_label('experiment name', name, 500);
    SELECT e.experiment_id INTO id FROM mlops.experiments e
     WHERE e.name = set_experiment.name AND e.lifecycle_stage = 'active';
    IF FOUND THEN
        RETURN id;
    END IF;
    INSERT INTO mlops.experiments (name, created_by)
    VALUES (name, mlops._invoking_user())
        ON CONFLICT (name) WHERE lifecycle_stage = 'active' DO NOTHING
    RETURNING experiment_id INTO id;
    RETURN coalesce(id, mlops._experiment_id(name));
END
$$;

CREATE OR REPLACE FUNCTION mlops.get_experiment(experiment text)
RETURNS TABLE (experiment_id bigint, name text, description text, lifecycle_stage text,
               created_by name, created_at timestamptz, updated_at timestamptz, tags jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'get_experiment');
    id := mlops._experiment_id(experiment);
    RETURN QUERY
    SELECT e.experiment_id, e.name, e.description, e.lifecycle_stage, e.created_by,
           e.created_at, e.updated_at,
           coalesce((SELECT jsonb_object_agg(t.key, t.value) FROM mlops.experiment_tags t
                      WHERE t.experiment_id = e.experiment_id), '{}'::jsonb)
      FROM mlops.experiments e WHERE e.experiment_id = id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.rename_experiment(experiment text, new_name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'rename_experiment');
    id := mlops._experiment_id(experiment);
    PERFORM mlops._check_label('new experiment name', new_name, 500);
    IF new_name <> experiment AND EXISTS (SELECT FROM mlops.experiments e
                                     WHERE e.name = new_name AND e.lifecycle_stage = 'active') THEN
        RAISE EXCEPTION 'experiment "%" already exists', new_name USING ERRCODE = 'unique_violation';
    END IF;
    UPDATE mlops.experiments SET name = new_name, updated_at = clock_timestamp()
     WHERE experiment_id = id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_experiment(experiment text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'delete_experiment');
    id := mlops._experiment_id(experiment);
    UPDATE mlops.experiments
       SET lifecycle_stage = 'deleted', deleted_at = clock_timestamp(), updated_at = clock_timestamp()
     WHERE experiment_id = id;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.restore_experiment(experiment_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'restore_experiment');
    IF experiment_id IS NULL THEN
        RAISE EXCEPTION 'experiment_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT x.name, x.lifecycle_stage INTO e FROM mlops.experiments x
     WHERE x.experiment_id = restore_experiment.experiment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment % does not exist', experiment_id USING ERRCODE = 'undefined_object';
    END IF;
    IF e.lifecycle_stage = 'active' THEN
        RAISE EXCEPTION 'experiment % ("%") is not deleted', experiment_id, e.name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT FROM mlops.experiments x WHERE x.name = e.name AND x.lifecycle_stage = 'active') THEN
        RAISE EXCEPTION 'cannot restore experiment %: the name "%" is taken by an active experiment',
                        experiment_id, e.name
            USING ERRCODE = 'unique_violation',
                  HINT = 'Rename the active experiment first.';
    END IF;
    UPDATE mlops.experiments x
       SET lifecycle_stage = 'active', deleted_at = NULL, updated_at = clock_timestamp()
     WHERE x.experiment_id = restore_experiment.experiment_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.set_experiment_tag(experiment text, key text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'set_experiment_tag');
    id := mlops._experiment_id(experiment);
    INSERT INTO mlops.experiment_tags AS t (experiment_id, key, value)
    VALUES (id, mlops._check_key('experiment tag key', key),
            mlops._check_value('experiment tag value', value, 8000))
        ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value;
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_experiment_tag(experiment text, key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'delete_experiment_tag');
    id := mlops._experiment_id(experiment);
    DELETE FROM mlops.experiment_tags t
     WHERE t.experiment_id = id AND t.key = mlops._check_key('experiment tag key', delete_experiment_tag.key);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" has no tag "%"', experiment, key USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops.start_run(experiment text, run_name text DEFAULT NULL, tags jsonb DEFAULT NULL,
                                parent_run_id bigint DEFAULT NULL, status text DEFAULT 'RUNNING')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    exp_id bigint;
    id bigint;
    parent record;
    k text[];
    v text[];
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'start_run');
    exp_id := mlops._experiment_id(experiment);
    IF status IS NULL OR status NOT IN ('RUNNING', 'SCHEDULED') THEN
        RAISE EXCEPTION 'a run starts as RUNNING or SCHEDULED, not %', coalesce(status, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF run_name IS NOT NULL THEN
        PERFORM mlops._check_label('run name', run_name, 250);
    END IF;
    IF parent_run_id IS NOT NULL THEN
        -- locked, so that the parent is not purged while its child is made
        SELECT r.experiment_id, r.lifecycle_stage INTO parent
          FROM mlops.runs r WHERE r.run_id = start_run.parent_run_id FOR SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'parent run % does not exist', parent_run_id USING ERRCODE = 'undefined_object';
        ELSIF parent.lifecycle_stage = 'deleted' THEN
            RAISE EXCEPTION 'parent run % is deleted', parent_run_id
                USING ERRCODE = 'object_not_in_prerequisite_state';
        ELSIF parent.experiment_id <> exp_id THEN
            RAISE EXCEPTION 'parent run % belongs to another experiment', parent_run_id
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Nested runs live in the experiment of their parent.';
        END IF;
    END IF;

    id := nextval(pg_get_serial_sequence('mlops.runs', 'run_id'));
    INSERT INTO mlops.runs (run_id, experiment_id, run_name, parent_run_id, status, created_by)
    VALUES (id, exp_id, coalesce(run_name, 'run-' || id), parent_run_id, status, mlops._invoking_user());
    INSERT INTO mlops.run_documents (run_id) VALUES (id);

    IF tags IS NOT NULL THEN
        SELECT array_agg(mlops._check_key('tag key', i.key, i.path)),
               array_agg(mlops._check_value('tag value',
                                            mlops._json_value_text(i.value, i.path), 8000, i.path))
          INTO k, v
          FROM mlops._batch_items(tags, 'tags', ARRAY['key', 'value']) AS i;
        PERFORM mlops._store_run_tags(id, k, v);
    END IF;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.end_run(run_id bigint, status text DEFAULT 'FINISHED') RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    previous text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'end_run');
    IF status IS NULL OR status NOT IN ('FINISHED', 'FAILED', 'KILLED') THEN
        RAISE EXCEPTION 'a run ends as FINISHED, FAILED or KILLED, not %', coalesce(status, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    SELECT r.status INTO previous FROM mlops.runs r WHERE r.run_id = end_run.run_id;
    IF previous NOT IN ('RUNNING', 'SCHEDULED') THEN
        RAISE EXCEPTION 'run % has already ended with status %', run_id, previous
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE mlops.runs r SET status = end_run.status, end_time = clock_timestamp()
     WHERE r.run_id = end_run.run_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_run(run_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'delete_run');
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    UPDATE mlops.runs r SET lifecycle_stage = 'deleted', deleted_at = clock_timestamp()
     WHERE r.run_id = delete_run.run_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.restore_run(run_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'restore_run');
    IF run_id IS NULL THEN
        RAISE EXCEPTION 'run_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE mlops.runs r SET lifecycle_stage = 'active', deleted_at = NULL
     WHERE r.run_id = restore_run.run_id AND r.lifecycle_stage = 'deleted';
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM mlops.runs r WHERE r.run_id = restore_run.run_id) THEN
            RAISE EXCEPTION 'run % is not deleted', run_id USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RAISE EXCEPTION 'run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops.log_param(run_id bigint, key text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'log_param');
    PERFORM mlops._writable_run(run_id);
    PERFORM mlops._store_params(run_id, ARRAY[mlops._check_key('param key', key)],
                                ARRAY[mlops._check_value('param value', value, 6000)]);
END
$$;

CREATE OR REPLACE FUNCTION mlops.log_param(run_id bigint, key text, value anyelement) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT mlops.log_param(run_id, key, value::text) $$;

CREATE OR REPLACE FUNCTION mlops.log_params(run_id bigint, params jsonb) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'log_params');
    RETURN (mlops.log_batch(run_id, jsonb_build_object('params', params)) ->> 'params')::int;
END
$$;

CREATE OR REPLACE FUNCTION mlops.log_metric(run_id bigint, key text, value double precision,
                                 step bigint DEFAULT 0, logged_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'log_metric');
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    PERFORM mlops._check_key('metric key', key);
    IF value IS NULL THEN
        RAISE EXCEPTION 'metric value must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Log ''NaN'' explicitly for a missing value.';
    END IF;
    PERFORM mlops._store_metrics(run_id, ARRAY[key], ARRAY[value], ARRAY[coalesce(step, 0)],
                                 ARRAY[coalesce(logged_at, clock_timestamp())]);
END
$$;

CREATE OR REPLACE FUNCTION mlops.log_metrics(run_id bigint, metrics jsonb, step bigint DEFAULT 0,
                                  logged_at timestamptz DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text[];
    v double precision[];
    at timestamptz := coalesce(logged_at, clock_timestamp());
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'log_metrics');
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    IF jsonb_typeof(metrics) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'metrics must be a JSON object of key: value'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'mlops.log_batch() takes arrays with steps.';
    END IF;
    SELECT array_agg(mlops._check_key('metric key', e.key) ORDER BY e.key),
           array_agg(mlops._json_metric_value(e.value, 'metrics.' || e.key) ORDER BY e.key)
      INTO k, v FROM jsonb_each(metrics) AS e;
    IF k IS NULL THEN
        RETURN 0;                   -- {} logs nothing
    END IF;
    RETURN mlops._store_metrics(run_id, k, v, array_fill(coalesce(step, 0), ARRAY[cardinality(k)]),
                                array_fill(at, ARRAY[cardinality(k)]));
END
$$;

CREATE OR REPLACE FUNCTION mlops.set_tag(run_id bigint, key text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'set_tag');
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    PERFORM mlops._store_run_tags(run_id, ARRAY[mlops._check_key('tag key', key)],
                                  ARRAY[mlops._check_value('tag value', value, 8000)]);
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_tag(run_id bigint, key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'delete_tag');
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    DELETE FROM mlops.run_tags t
     WHERE t.run_id = delete_tag.run_id AND t.key = mlops._check_key('tag key', delete_tag.key);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no tag "%"', run_id, key USING ERRCODE = 'undefined_object';
    END IF;
    UPDATE mlops.run_documents d SET tags = d.tags - delete_tag.key WHERE d.run_id = delete_tag.run_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.log_batch(run_id bigint, batch jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unknown text;
    now_ts timestamptz := clock_timestamp();
    pk text[]; pv text[];
    mk text[]; mv double precision[]; ms bigint[]; mt timestamptz[];
    tk text[]; tv text[];
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'log_batch');
    IF batch IS NULL THEN
        RAISE EXCEPTION 'batch must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(batch) <> 'object' THEN
        RAISE EXCEPTION 'batch must be a JSON object, not %', jsonb_typeof(batch)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The batch has the optional fields "params", "metrics" and "tags".';
    END IF;
    SELECT k INTO unknown FROM jsonb_object_keys(batch) AS k
     WHERE k NOT IN ('params', 'metrics', 'tags') ORDER BY k LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown field "%" in batch', unknown
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The batch has the optional fields "params", "metrics" and "tags".';
    END IF;

    -- metrics and tags may go to an ended run; params may not
    PERFORM mlops._writable_run(run_id, allow_ended => NOT batch ? 'params');

    IF batch ? 'params' THEN
        SELECT array_agg(mlops._check_key('param key', i.key, i.path)),
               array_agg(mlops._check_value('param value',
                                            mlops._json_value_text(i.value, i.path), 6000, i.path))
          INTO pk, pv
          FROM mlops._batch_items(batch -> 'params', 'params', ARRAY['key', 'value']) AS i;
    END IF;
    IF batch ? 'metrics' THEN
        SELECT array_agg(mlops._check_key('metric key', i.key, i.path)),
               array_agg(mlops._json_metric_value(i.value, i.path)),
               array_agg(mlops._json_step(i.step, i.path)),
               array_agg(mlops._json_timestamp(i.ts, i.path, now_ts))
          INTO mk, mv, ms, mt
          FROM mlops._batch_items(batch -> 'metrics', 'metrics',
                                  ARRAY['key', 'value', 'step', 'timestamp']) AS i;
    END IF;
    IF batch ? 'tags' THEN
        SELECT array_agg(mlops._check_key('tag key', i.key, i.path)),
               array_agg(mlops._check_value('tag value',
                                            mlops._json_value_text(i.value, i.path), 8000, i.path))
          INTO tk, tv
          FROM mlops._batch_items(batch -> 'tags', 'tags', ARRAY['key', 'value']) AS i;
    END IF;

    RETURN jsonb_build_object(
        'params',  CASE WHEN pk IS NULL THEN 0 ELSE mlops._store_params(run_id, pk, pv) END,
        'metrics', CASE WHEN mk IS NULL THEN 0 ELSE mlops._store_metrics(run_id, mk, mv, ms, mt) END,
        'tags',    CASE WHEN tk IS NULL THEN 0 ELSE mlops._store_run_tags(run_id, tk, tv) END);
END
$$;

CREATE OR REPLACE FUNCTION mlops._relation_digest(relation regclass, OUT row_count bigint, OUT digest text)
    AS 'MODULE_PATHNAME', 'mlops_relation_digest'
    LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION mlops._record_input(run_id bigint, dataset_name text, relation_name text,
                                    context text, row_count bigint, digest text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._writable_run(run_id);
    PERFORM mlops._check_label('dataset name', dataset_name, 250);
    PERFORM mlops._check_label('relation name', relation_name, 500);
    PERFORM mlops._check_key('input context', context);
    IF row_count IS NULL OR row_count < 0 THEN
        RAISE EXCEPTION 'row count of input "%" must be a number of rows, not %', dataset_name,
                        coalesce(row_count::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF digest IS NULL OR digest !~ '^[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'digest of input "%" must be 64 lowercase hexadecimal digits', dataset_name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Found %s.', coalesce(quote_literal(left(digest, 100)), 'NULL')),
                  HINT = 'Digests are what mlops.content_digest() returns (a SHA-256 in hex).';
    END IF;
    -- Logging the same data twice is the same input: look before inserting,
    -- and let the unique constraint settle a race between two sessions.
    FOR attempt IN 1..2 LOOP
        SELECT i.input_id INTO id FROM mlops.run_inputs i
         WHERE i.run_id = _record_input.run_id AND i.dataset_name = _record_input.dataset_name
           AND i.context = _record_input.context AND i.digest = _record_input.digest;
        EXIT WHEN FOUND;
        INSERT INTO mlops.run_inputs (run_id, dataset_name, relation_name, context, row_count, digest)
        VALUES (run_id, dataset_name, relation_name, context, row_count, digest)
            ON CONFLICT ON CONSTRAINT run_inputs_run_id_dataset_name_context_digest_key DO NOTHING
        RETURNING input_id INTO id;
        EXIT WHEN id IS NOT NULL;
    END LOOP;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.log_input(run_id bigint, relation regclass, context text DEFAULT 'training',
                                dataset_name text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET "DateStyle" = 'ISO, YMD'
SET "IntervalStyle" = 'postgres'
SET "TimeZone" = 'UTC'
SET extra_float_digits = 1
SET bytea_output = 'hex'
AS $$
DECLARE
    d record;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'log_input');
    IF relation IS NULL THEN
        RAISE EXCEPTION 'relation must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops._check_key('input context', context);
    PERFORM mlops._writable_run(run_id);
    IF dataset_name IS NOT NULL THEN
        PERFORM mlops._check_label('dataset name', dataset_name, 250);
    END IF;
    d := mlops._relation_digest(relation);
    RETURN mlops._record_input(run_id, coalesce(dataset_name, relation::text), relation::text,
                               context, d.row_count, d.digest);
END
$$;

CREATE OR REPLACE FUNCTION mlops._check_artifact_path(path text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._check_label('artifact path', path, 1000);
    IF path ~ '^/' OR path ~ '\\' OR path ~ '(^|/)\.{1,2}(/|$)' OR path ~ '//' OR path ~ '/$' THEN
        RAISE EXCEPTION 'invalid artifact path "%"', path
            USING ERRCODE = 'invalid_name',
                  DETAIL = 'Artifact paths are relative, use "/" between non-empty parts, and have no "." or ".." parts.';
    END IF;
    RETURN path;
END
$$;

CREATE OR REPLACE FUNCTION mlops.log_artifact(run_id bigint, path text, content bytea,
                                   media_type text DEFAULT 'application/octet-stream') RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    digest text;
    stored text;
    limit_bytes bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'log_artifact');
    PERFORM mlops._check_artifact_path(path);
    IF content IS NULL THEN
        RAISE EXCEPTION 'artifact content must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops._check_label('media type', media_type, 255);
    limit_bytes := pg_size_bytes(current_setting('mlops.max_artifact_size'));
    IF octet_length(content) > limit_bytes THEN
        RAISE EXCEPTION 'artifact "%" is too large', path
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = format('It has %s bytes; mlops.max_artifact_size is %s.',
                                  octet_length(content), current_setting('mlops.max_artifact_size')),
                  HINT = 'A superuser can raise mlops.max_artifact_size.';
    END IF;
    PERFORM mlops._writable_run(run_id);
    digest := encode(sha256(content), 'hex');
    INSERT INTO mlops.artifacts (run_id, path, content, size_bytes, sha256, media_type)
    VALUES (run_id, path, content, octet_length(content), digest, media_type)
        ON CONFLICT (run_id, path) DO NOTHING;
    SELECT a.sha256 INTO stored FROM mlops.artifacts a
     WHERE a.run_id = log_artifact.run_id AND a.path = log_artifact.path;
    IF stored <> digest THEN
        RAISE EXCEPTION 'artifact "%" of run % is already logged with different content', path, run_id
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Stored sha256 %s, new sha256 %s.', stored, digest),
                  HINT = 'Artifacts are write-once; log the new content under another path.';
    END IF;
    RETURN digest;
END
$$;

CREATE OR REPLACE FUNCTION mlops.get_artifact(run_id bigint, path text) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c bytea;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'get_artifact');
    SELECT a.content INTO c FROM mlops.artifacts a
     WHERE a.run_id = get_artifact.run_id AND a.path = get_artifact.path;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no artifact "%"', run_id, path USING ERRCODE = 'undefined_object';
    END IF;
    RETURN c;
END
$$;

CREATE OR REPLACE FUNCTION mlops.list_artifacts(run_id bigint)
RETURNS TABLE (path text, size_bytes bigint, sha256 text, media_type text, logged_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'list_artifacts');
    RETURN QUERY
    SELECT a.path, a.size_bytes, a.sha256, a.media_type, a.logged_at
      FROM mlops.artifacts a WHERE a.run_id = list_artifacts.run_id ORDER BY a.path;
END
$$;

CREATE OR REPLACE FUNCTION mlops.get_run(run_id bigint) RETURNS mlops.runs_overview
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r mlops.runs_overview;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'get_run');
    SELECT * INTO r FROM mlops.runs_overview o WHERE o.run_id = get_run.run_id;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM mlops.runs x WHERE x.run_id = get_run.run_id) THEN
            RAISE EXCEPTION 'run % is deleted, or belongs to a deleted experiment', run_id
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RAISE EXCEPTION 'run % does not exist', run_id USING ERRCODE = 'undefined_object';
    END IF;
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION mlops.get_metric_history(run_id bigint, key text)
RETURNS TABLE (step bigint, value double precision, logged_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'get_metric_history');
    RETURN QUERY
    SELECT h.step, h.value, h.logged_at FROM mlops.metric_history h
     WHERE h.run_id = get_metric_history.run_id AND h.key = get_metric_history.key
     ORDER BY h.step, h.logged_at;
END
$$;

CREATE OR REPLACE FUNCTION mlops.purge_run(run_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'purge_run');
    -- locked first: a nested run started meanwhile waits, then finds its parent gone
    IF NOT EXISTS (SELECT FROM mlops.runs r WHERE r.run_id = purge_run.run_id AND r.lifecycle_stage = 'deleted'
                      FOR UPDATE) THEN
        RAISE EXCEPTION 'run % is not a deleted run', run_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only runs deleted with mlops.delete_run() can be purged.';
    END IF;
    IF EXISTS (SELECT FROM mlops.runs r WHERE r.parent_run_id = purge_run.run_id) THEN
        RAISE EXCEPTION 'run % has nested runs', run_id
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Purge the nested runs first.';
    END IF;
    DELETE FROM mlops.metric_history h WHERE h.run_id = purge_run.run_id;
    DELETE FROM mlops.runs r WHERE r.run_id = purge_run.run_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._digest_accum(internal, anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_digest_accum'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._digest_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_digest_combine'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._digest_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'mlops_digest_serialize'
    LANGUAGE C STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._digest_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_digest_deserialize'
    LANGUAGE C STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._digest_final(internal) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_digest_final'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE AGGREGATE mlops.content_digest(anyelement) (
    SFUNC = mlops._digest_accum,
    STYPE = internal,
    COMBINEFUNC = mlops._digest_combine,
    SERIALFUNC = mlops._digest_serialize,
    DESERIALFUNC = mlops._digest_deserialize,
    FINALFUNC = mlops._digest_final,
    PARALLEL = SAFE
);

CREATE OR REPLACE FUNCTION mlops._compile_model(artifact text, version_id bigint) RETURNS bytea
    AS 'MODULE_PATHNAME', 'mlops_compile_model'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.compile_model(artifact text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'mlops_compile_model_unregistered'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.model_info(compiled bytea) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_model_info'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._check_model_name(kind text, name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', kind USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF length(name) > 250 THEN
        RAISE EXCEPTION '% is too long', kind USING ERRCODE = 'name_too_long',
            DETAIL = format('It has %s characters; the limit is 250.', length(name));
    END IF;
    IF name !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' THEN
        RAISE EXCEPTION 'invalid % "%"', kind, name USING ERRCODE = 'invalid_name',
            HINT = 'Use letters, digits, "_", "-" and "."; the first character is a letter, digit or "_".';
    END IF;
    RETURN name;
END
$$;

CREATE OR REPLACE FUNCTION mlops._stage_name(stage text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    canonical text;
BEGIN
    SELECT s INTO canonical FROM unnest(ARRAY['None', 'Staging', 'Production', 'Archived']) AS s
     WHERE lower(s) = lower(stage);
    IF canonical IS NULL THEN
        RAISE EXCEPTION 'invalid stage "%"', coalesce(left(stage, 100), 'NULL') USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Stages are None, Staging, Production and Archived (in any case).';
    END IF;
    RETURN canonical;
END
$$;

CREATE OR REPLACE FUNCTION mlops._model_id(model text) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'model name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT m.model_id INTO id FROM mlops.registered_models m WHERE m.name = model;
    IF id IS NULL THEN
        RAISE EXCEPTION 'model "%" does not exist', model
            USING ERRCODE = 'undefined_object',
                  HINT = 'mlops.register_model_version() registers a model and its first version.';
    END IF;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._lock_model(model text) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint := mlops._model_id(model);
BEGIN
    PERFORM FROM mlops.registered_models m WHERE m.model_id = id FOR UPDATE;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._version_id(model text, version int) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mid bigint := mlops._model_id(model);
    id bigint;
BEGIN
    IF version IS NULL THEN
        RAISE EXCEPTION 'version must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT v.version_id INTO id FROM mlops.model_versions v
     WHERE v.model_id = mid AND v.version = _version_id.version;
    IF id IS NULL THEN
        RAISE EXCEPTION 'model "%" has no version %', model, version
            USING ERRCODE = 'undefined_object',
                  DETAIL = coalesce((SELECT 'Its versions are ' || string_agg(v.version::text, ', ' ORDER BY v.version) || '.'
                                       FROM mlops.model_versions v WHERE v.model_id = mid),
                                    'It has no versions.');
    END IF;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._registry_event(model_id bigint, model_name text, version int, event text,
                                      alias text DEFAULT NULL, from_value text DEFAULT NULL,
                                      to_value text DEFAULT NULL) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO mlops.registry_events (model_id, model_name, version, event, alias, from_value, to_value, actor)
    VALUES (model_id, model_name, version, event, alias, from_value, to_value, mlops._invoking_user());
$$;

CREATE OR REPLACE FUNCTION mlops._resolve_model(ref text)
RETURNS TABLE (version_id bigint, sha256 text, label text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts text[];
    m_name text;
    m_alias text;
    m_version int;
    m_stage text;
    mid bigint;
    vid bigint;
    how text;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'predict');
    IF ref IS NULL THEN
        RAISE EXCEPTION 'model reference must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF ref ~ '^models:/' THEN
        parts := regexp_match(ref, '^models:/([^/@]+)(?:/([^/@]+)|@([^/@]+))?$');
        IF parts IS NULL THEN
            RAISE EXCEPTION 'invalid model URI "%"', ref USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Use models:/<name>/<version>, models:/<name>/<stage> or models:/<name>@<alias>.';
        END IF;
        m_name := parts[1];
        m_alias := parts[3];
        IF parts[2] ~ '^[0-9]+$' THEN
            m_version := parts[2]::int;
        ELSE
            m_stage := parts[2];
        END IF;
    ELSE
        parts := regexp_match(ref, '^([^@:]+)(?:@([^@:]+)|:([0-9]+))?$');
        IF parts IS NULL THEN
            RAISE EXCEPTION 'invalid model reference "%"', left(ref, 300) USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Use <name>, <name>@<alias> or <name>:<version>, e.g. ''churn@champion''.';
        END IF;
        m_name := parts[1];
        m_alias := parts[2];
        m_version := parts[3]::int;
    END IF;

    mid := mlops._model_id(m_name);
    IF m_version IS NOT NULL THEN
        vid := mlops._version_id(m_name, m_version);
        how := ':' || m_version;
    ELSIF m_alias = 'latest' THEN
        SELECT v.version_id INTO vid FROM mlops.model_versions v
         WHERE v.model_id = mid ORDER BY v.version DESC LIMIT 1;
        how := '@latest';
    ELSIF m_alias IS NOT NULL THEN
        SELECT a.version_id INTO vid FROM mlops.model_aliases a WHERE a.model_id = mid AND a.alias = m_alias;
        IF vid IS NULL THEN
            RAISE EXCEPTION 'model "%" has no alias "%"', m_name, m_alias
                USING ERRCODE = 'undefined_object',
                      DETAIL = coalesce((SELECT 'Its aliases are ' || string_agg(a.alias, ', ' ORDER BY a.alias) || '.'
                                           FROM mlops.model_aliases a WHERE a.model_id = mid),
                                        'It has no aliases.');
        END IF;
        how := '@' || m_alias;
    ELSIF m_stage IS NOT NULL THEN
        m_stage := mlops._stage_name(m_stage);
        SELECT v.version_id INTO vid FROM mlops.model_versions v
         WHERE v.model_id = mid AND v.stage = m_stage ORDER BY v.version DESC LIMIT 1;
        IF vid IS NULL THEN
            RAISE EXCEPTION 'model "%" has no version in stage %', m_name, m_stage USING ERRCODE = 'undefined_object';
        END IF;
        how := '/' || m_stage;
    ELSE
        SELECT a.version_id INTO vid FROM mlops.model_aliases a WHERE a.model_id = mid AND a.alias = 'champion';
        how := '@champion';
        IF vid IS NULL THEN
            SELECT v.version_id INTO vid FROM mlops.model_versions v
             WHERE v.model_id = mid AND v.stage = 'Production' ORDER BY v.version DESC LIMIT 1;
            how := '/Production';
        END IF;
        IF vid IS NULL THEN
            RAISE EXCEPTION 'model "%" has neither a champion alias nor a Production version', m_name
                USING ERRCODE = 'undefined_object',
                      HINT = format('Name a version explicitly (''%s:1''), or set an alias with mlops.set_model_alias().', m_name);
        END IF;
    END IF;

    RETURN QUERY
    SELECT v.version_id, v.sha256, format('model "%s%s" (version %s)', m_name, how, v.version)
      FROM mlops.model_versions v WHERE v.version_id = vid;
END
$$;

CREATE OR REPLACE FUNCTION mlops._insert_model(name text, description text) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._check_model_name('model name', name);
    INSERT INTO mlops.registered_models AS m (name, description, owner)
    VALUES (name, description, mlops._invoking_user())
        ON CONFLICT ON CONSTRAINT registered_models_name_key DO NOTHING
    RETURNING m.model_id INTO id;
    IF id IS NOT NULL THEN
        PERFORM mlops._registry_event(id, name, NULL, 'model_created');
    END IF;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.create_registered_model(name text, description text DEFAULT NULL,
                                              tags jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_registered_model');
    id := mlops._insert_model(name, description);
    IF id IS NULL THEN
        RAISE EXCEPTION 'model "%" already exists', name USING ERRCODE = 'unique_violation',
            HINT = 'mlops.register_model_version() adds a version to it.';
    END IF;
    IF tags IS NOT NULL THEN
        INSERT INTO mlops.registered_model_tags (model_id, key, value)
        SELECT id, mlops._check_key('model tag key', i.key, i.path),
               mlops._check_value('model tag value', mlops._json_value_text(i.value, i.path), 8000, i.path)
          FROM mlops._batch_items(tags, 'tags', ARRAY['key', 'value']) AS i;
    END IF;
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.set_registered_model_tag(model text, key text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'set_registered_model_tag');
    id := mlops._model_id(model);
    INSERT INTO mlops.registered_model_tags AS t (model_id, key, value)
    VALUES (id, mlops._check_key('model tag key', key), mlops._check_value('model tag value', value, 8000))
        ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value;
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_registered_model_tag(model text, key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'delete_registered_model_tag');
    id := mlops._model_id(model);
    DELETE FROM mlops.registered_model_tags t
     WHERE t.model_id = id AND t.key = mlops._check_key('model tag key', delete_registered_model_tag.key);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" has no tag "%"', model, key USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops.set_model_version_tag(model text, version int, key text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    vid bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'set_model_version_tag');
    vid := mlops._version_id(model, version);
    INSERT INTO mlops.model_version_tags AS t (version_id, key, value)
    VALUES (vid, mlops._check_key('version tag key', key), mlops._check_value('version tag value', value, 8000))
        ON CONFLICT (version_id, key) DO UPDATE SET value = excluded.value;
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_model_version_tag(model text, version int, key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    vid bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'delete_model_version_tag');
    vid := mlops._version_id(model, version);
    DELETE FROM mlops.model_version_tags t
     WHERE t.version_id = vid AND t.key = mlops._check_key('version tag key', delete_model_version_tag.key);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'version % of model "%" has no tag "%"', version, model, key
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops.register_model_version(model text, artifact text, run_id bigint DEFAULT NULL,
                                             description text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mid bigint;
    vid bigint;
    ver int;
    compiled bytea;
    info jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'register_model_version');
    PERFORM mlops._check_model_name('model name', model);
    IF artifact IS NULL THEN
        RAISE EXCEPTION 'model artifact must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF run_id IS NOT NULL AND NOT EXISTS (SELECT FROM mlops.runs r WHERE r.run_id = register_model_version.run_id
                                                                   AND r.lifecycle_stage = 'active') THEN
        RAISE EXCEPTION 'run % does not exist or is deleted', run_id USING ERRCODE = 'undefined_object';
    END IF;

    -- the model is created on first use, and its row locked so that
    -- concurrent registrations number in turn
    PERFORM mlops._insert_model(model, NULL);
    mid := mlops._lock_model(model);

    vid := nextval(pg_get_serial_sequence('mlops.model_versions', 'version_id'));
    compiled := mlops._compile_model(artifact, vid);
    info := mlops.model_info(compiled);

    UPDATE mlops.registered_models m SET last_version = m.last_version + 1, updated_at = clock_timestamp()
     WHERE m.model_id = mid RETURNING m.last_version INTO ver;
    INSERT INTO mlops.model_versions (version_id, model_id, version, run_id, format, artifact, sha256, compiled,
                                      task, family, signature, classes, description, created_by)
    VALUES (vid, mid, ver, run_id, info ->> 'format', artifact, info ->> 'sha256', compiled,
            info ->> 'task', info ->> 'family', info -> 'features', info -> 'classes', description,
            mlops._invoking_user());
    PERFORM mlops._registry_event(mid, model, ver, 'version_registered', to_value => info ->> 'sha256');
    RETURN ver;
END
$$;

CREATE OR REPLACE FUNCTION mlops.register_model_version_from_run(model text, run_id bigint, path text,
                                                      description text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    content bytea;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'register_model_version_from_run');
    SELECT a.content INTO content FROM mlops.artifacts a
     WHERE a.run_id = register_model_version_from_run.run_id AND a.path = register_model_version_from_run.path;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no artifact "%"', run_id, path USING ERRCODE = 'undefined_object';
    END IF;
    RETURN mlops.register_model_version(model, convert_from(content, 'UTF8'), run_id, description);
END
$$;

CREATE OR REPLACE FUNCTION mlops.set_model_alias(model text, alias text, version int) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    mid bigint;
    vid bigint;
    previous int;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'set_model_alias');
    mid := mlops._lock_model(model);
    PERFORM mlops._check_model_name('alias', alias);
    IF alias = 'latest' OR alias ~ '^v[0-9]+$' THEN
        RAISE EXCEPTION 'alias "%" is reserved', alias USING ERRCODE = 'reserved_name',
            HINT = '"latest" always means the highest version; "v<number>" looks like a version.';
    END IF;
    vid := mlops._version_id(model, version);
    SELECT v.version INTO previous FROM mlops.model_aliases a JOIN mlops.model_versions v USING (version_id)
     WHERE a.model_id = mid AND a.alias = set_model_alias.alias;
    INSERT INTO mlops.model_aliases AS a (model_id, alias, version_id, updated_by)
    VALUES (mid, set_model_alias.alias, vid, mlops._invoking_user())
        ON CONFLICT (model_id, alias) DO UPDATE
       SET version_id = excluded.version_id, updated_by = excluded.updated_by, updated_at = clock_timestamp();
    PERFORM mlops._registry_event(mid, model, set_model_alias.version, 'alias_set', set_model_alias.alias,
                                  previous::text, set_model_alias.version::text);
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_model_alias(model text, alias text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mid bigint;
    previous int;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'delete_model_alias');
    mid := mlops._lock_model(model);
    SELECT v.version INTO previous FROM mlops.model_aliases a JOIN mlops.model_versions v USING (version_id)
     WHERE a.model_id = mid AND a.alias = delete_model_alias.alias;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" has no alias "%"', model, alias USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM mlops.model_aliases a WHERE a.model_id = mid AND a.alias = delete_model_alias.alias;
    PERFORM mlops._registry_event(mid, model, previous, 'alias_deleted', alias, previous::text, NULL);
END
$$;

CREATE OR REPLACE FUNCTION mlops.transition_model_stage(model text, version int, stage text,
                                             archive_existing boolean DEFAULT true) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mid bigint;
    vid bigint;
    previous text;
    other record;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'transition_model_stage');
    mid := mlops._lock_model(model);
    vid := mlops._version_id(model, version);
    stage := mlops._stage_name(stage);
    SELECT v.stage INTO previous FROM mlops.model_versions v WHERE v.version_id = vid;
    IF archive_existing AND stage IN ('Staging', 'Production') THEN
        FOR other IN SELECT v.version_id, v.version FROM mlops.model_versions v
                      WHERE v.model_id = mid AND v.stage = transition_model_stage.stage AND v.version_id <> vid
                      ORDER BY v.version LOOP
            UPDATE mlops.model_versions v SET stage = 'Archived' WHERE v.version_id = other.version_id;
            PERFORM mlops._registry_event(mid, model, other.version, 'stage_changed', NULL, stage, 'Archived');
        END LOOP;
    END IF;
    UPDATE mlops.model_versions v SET stage = transition_model_stage.stage WHERE v.version_id = vid;
    PERFORM mlops._registry_event(mid, model, version, 'stage_changed', NULL, previous, stage);
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_model_version(model text, version int) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mid bigint;
    vid bigint;
    aliases text;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'delete_model_version');
    mid := mlops._lock_model(model);
    vid := mlops._version_id(model, version);
    SELECT string_agg(a.alias, ', ' ORDER BY a.alias) INTO aliases FROM mlops.model_aliases a WHERE a.version_id = vid;
    IF aliases IS NOT NULL THEN
        RAISE EXCEPTION 'version % of model "%" is in use by alias %', version, model, aliases
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Move or delete the aliases first, so that no caller loses its model.';
    END IF;
    DELETE FROM mlops.model_versions v WHERE v.version_id = vid;
    PERFORM mlops._registry_event(mid, model, version, 'version_deleted');
END
$$;

CREATE OR REPLACE FUNCTION mlops.delete_registered_model(model text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mid bigint;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'delete_registered_model');
    mid := mlops._lock_model(model);
    DELETE FROM mlops.model_aliases a WHERE a.model_id = mid;
    DELETE FROM mlops.registered_models m WHERE m.model_id = mid;
    PERFORM mlops._registry_event(mid, model, NULL, 'model_deleted');
END
$$;

CREATE OR REPLACE FUNCTION mlops.compiled_model(model text) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT mlops._require_role('mlops_reader', 'compiled_model');
    SELECT v.compiled FROM mlops.model_versions v
     WHERE v.version_id = (SELECT r.version_id FROM mlops._resolve_model(model) r);
END;

CREATE OR REPLACE FUNCTION mlops.get_model_version(model text) RETURNS mlops.model_versions_overview
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT mlops._require_role('mlops_reader', 'get_model_version');
    SELECT o.* FROM mlops.model_versions_overview o
     WHERE o.version_id = (SELECT r.version_id FROM mlops._resolve_model(model) r);
END;

CREATE OR REPLACE FUNCTION mlops.model_cache_stats() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_model_cache_stats'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE OR REPLACE FUNCTION mlops.model_cache_reset() RETURNS void
    AS 'MODULE_PATHNAME', 'mlops_model_cache_reset'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE OR REPLACE FUNCTION mlops.predict(model text, features double precision[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_predict_array' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.predict_proba(model text, features double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_predict_proba_array' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.predict_class(model text, features double precision[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_predict_class_array' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.predict(model text, features jsonb) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_predict_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.predict_proba(model text, features jsonb) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_predict_proba_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.predict_class(model text, features jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_predict_class_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score(compiled bytea, features double precision[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_score_array' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score_proba(compiled bytea, features double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_score_proba_array' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score_class(compiled bytea, features double precision[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_score_class_array' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score(compiled bytea, features jsonb) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_score_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score_proba(compiled bytea, features jsonb) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_score_proba_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score_class(compiled bytea, features jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_score_class_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.predict(model text, features jsonb, exclude text[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_predict_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.predict_proba(model text, features jsonb, exclude text[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_predict_proba_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.predict_class(model text, features jsonb, exclude text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_predict_class_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score(compiled bytea, features jsonb, exclude text[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_score_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score_proba(compiled bytea, features jsonb, exclude text[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_score_proba_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.score_class(compiled bytea, features jsonb, exclude text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_score_class_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.feature_problem(model text, features double precision[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_feature_problem_array' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.feature_problem(model text, features jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_feature_problem_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.feature_problem(model text, features jsonb, exclude text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_feature_problem_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.export_model_version(model text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    vid bigint;
    v record;
    run jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'export_model_version');
    vid := (SELECT r.version_id FROM mlops._resolve_model(model) r);
    SELECT mv.*, m.name AS model_name, m.description AS model_description,
           (SELECT coalesce(jsonb_object_agg(t.key, t.value), '{}') FROM mlops.registered_model_tags t
             WHERE t.model_id = m.model_id) AS model_tags,
           (SELECT coalesce(jsonb_object_agg(t.key, t.value), '{}') FROM mlops.model_version_tags t
             WHERE t.version_id = mv.version_id) AS version_tags,
           (SELECT coalesce(jsonb_agg(a.alias ORDER BY a.alias), '[]') FROM mlops.model_aliases a
             WHERE a.version_id = mv.version_id) AS aliases
      INTO v
      FROM mlops.model_versions mv JOIN mlops.registered_models m USING (model_id)
     WHERE mv.version_id = vid;

    IF v.run_id IS NOT NULL THEN
        SELECT jsonb_build_object(
                 'experiment', e.name, 'run_id', r.run_id, 'run_name', r.run_name, 'status', r.status,
                 'start_time', r.start_time, 'end_time', r.end_time, 'created_by', r.created_by,
                 'params', coalesce((SELECT jsonb_object_agg(p.key, p.value) FROM mlops.params p
                                      WHERE p.run_id = r.run_id), '{}'),
                 'metrics', coalesce((SELECT jsonb_agg(jsonb_build_object('key', l.key, 'value', l.value,
                                                                          'step', l.step, 'timestamp', l.logged_at)
                                                       ORDER BY l.key)
                                        FROM mlops.latest_metrics l WHERE l.run_id = r.run_id), '[]'),
                 'tags', coalesce((SELECT jsonb_object_agg(t.key, t.value) FROM mlops.run_tags t
                                    WHERE t.run_id = r.run_id), '{}'),
                 'inputs', coalesce((SELECT jsonb_agg(jsonb_build_object('dataset_name', i.dataset_name,
                                                                         'relation_name', i.relation_name,
                                                                         'context', i.context,
                                                                         'row_count', i.row_count,
                                                                         'digest', i.digest)
                                                      ORDER BY i.input_id)
                                       FROM mlops.run_inputs i WHERE i.run_id = r.run_id), '[]'))
          INTO run
          FROM mlops.runs r JOIN mlops.experiments e USING (experiment_id)
         WHERE r.run_id = v.run_id;
    END IF;

    RETURN jsonb_build_object(
        'format', 'mlops.bundle/v1',
        'exported_at', clock_timestamp(),
        'source', jsonb_build_object('database', current_database(),
                                     'mlops', mlops.build_info() ->> 'mlops'),
        'model', jsonb_build_object('name', v.model_name, 'description', v.model_description,
                                    'tags', v.model_tags),
        'version', jsonb_build_object('version', v.version, 'description', v.description,
                                      'tags', v.version_tags, 'stage', v.stage, 'aliases', v.aliases,
                                      'format', v.format, 'task', v.task, 'family', v.family,
                                      'signature', v.signature, 'classes', v.classes,
                                      'created_by', v.created_by, 'created_at', v.created_at,
                                      'sha256', v.sha256, 'artifact', v.artifact),
        'run', run);
END
$$;

CREATE OR REPLACE FUNCTION mlops.import_model_version(bundle jsonb, model text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ver jsonb;
    run jsonb;
    artifact text;
    target text;
    new_run bigint;
    new_version int;
    input record;
    item record;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'import_model_version');
    IF bundle IS NULL THEN
        RAISE EXCEPTION 'bundle must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(bundle) <> 'object' OR bundle ->> 'format' IS DISTINCT FROM 'mlops.bundle/v1' THEN
        RAISE EXCEPTION 'not an mlops bundle' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Expected "format": "mlops.bundle/v1", found %s.', coalesce(bundle -> 'format', 'null'::jsonb)),
            HINT = 'mlops.export_model_version() makes bundles.';
    END IF;
    ver := bundle -> 'version';
    artifact := ver ->> 'artifact';
    IF jsonb_typeof(ver) IS DISTINCT FROM 'object' OR artifact IS NULL OR ver ->> 'sha256' IS NULL THEN
        RAISE EXCEPTION 'the bundle has no version artifact and checksum' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF encode(sha256(convert_to(artifact, 'UTF8')), 'hex') <> ver ->> 'sha256' THEN
        RAISE EXCEPTION 'the bundle''s artifact does not match its checksum'
            USING ERRCODE = 'data_corrupted',
                  DETAIL = format('The bundle says sha256 %s; the artifact hashes to %s.',
                                  ver ->> 'sha256', encode(sha256(convert_to(artifact, 'UTF8')), 'hex')),
                  HINT = 'The bundle was changed after export; export it again.';
    END IF;
    target := coalesce(model, bundle -> 'model' ->> 'name');
    PERFORM mlops._check_model_name('model name', target);

    -- a model new here takes the bundle's description and tags
    IF mlops._insert_model(target, bundle -> 'model' ->> 'description') IS NOT NULL THEN
        FOR item IN SELECT * FROM mlops._batch_items(coalesce(nullif(bundle -> 'model' -> 'tags', 'null'), '{}'),
                                                     'model.tags', ARRAY['key', 'value']) LOOP
            PERFORM mlops.set_registered_model_tag(target, item.key, mlops._json_value_text(item.value, item.path));
        END LOOP;
    END IF;

    run := bundle -> 'run';
    IF jsonb_typeof(run) = 'object' THEN
        PERFORM mlops.set_experiment(run ->> 'experiment');
        new_run := mlops.start_run(run ->> 'experiment', run ->> 'run_name',
                                   coalesce(run -> 'tags', '{}'::jsonb) || jsonb_build_object(
                                       'mlops.imported_from_database', bundle -> 'source' ->> 'database',
                                       'mlops.imported_from_run', run ->> 'run_id'));
        PERFORM mlops.log_batch(new_run, jsonb_build_object('params', coalesce(run -> 'params', '{}'::jsonb),
                                                            'metrics', coalesce(run -> 'metrics', '[]'::jsonb)));
        IF jsonb_typeof(coalesce(run -> 'inputs', '[]')) <> 'array' THEN
            RAISE EXCEPTION 'run.inputs of the bundle must be an array' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR input IN SELECT a.el, a.o - 1 AS idx
                       FROM jsonb_array_elements(coalesce(run -> 'inputs', '[]')) WITH ORDINALITY AS a(el, o) LOOP
            IF jsonb_typeof(input.el) <> 'object' OR jsonb_typeof(input.el -> 'row_count') <> 'number'
               OR (input.el ->> 'row_count')::numeric NOT BETWEEN 0 AND 9223372036854775807
               OR (input.el ->> 'row_count')::numeric <> trunc((input.el ->> 'row_count')::numeric) THEN
                RAISE EXCEPTION 'invalid input at run.inputs[%] of the bundle', input.idx
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = format('Found %s.', left(input.el::text, 200)),
                          HINT = 'Each input is an object with dataset_name, relation_name, context, '
                                 'row_count (a whole number of rows) and digest.';
            END IF;
            PERFORM mlops._record_input(new_run, input.el ->> 'dataset_name', input.el ->> 'relation_name',
                                        input.el ->> 'context', (input.el ->> 'row_count')::bigint,
                                        input.el ->> 'digest');
        END LOOP;
        PERFORM mlops.end_run(new_run, CASE WHEN run ->> 'status' IN ('FAILED', 'KILLED')
                                            THEN run ->> 'status' ELSE 'FINISHED' END);
    END IF;

    new_version := mlops.register_model_version(target, artifact, new_run, ver ->> 'description');
    FOR item IN SELECT * FROM mlops._batch_items(coalesce(nullif(ver -> 'tags', 'null'), '{}'), 'version.tags',
                                                 ARRAY['key', 'value']) LOOP
        PERFORM mlops.set_model_version_tag(target, new_version, item.key,
                                            mlops._json_value_text(item.value, item.path));
    END LOOP;
    RETURN new_version;
END
$$;

CREATE OR REPLACE FUNCTION mlops._score_query(model text, query text, n_keys int, outputs text[]) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mlops_score_query' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._null_features(features anyelement) RETURNS anyelement
LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'the features are NULL' USING ERRCODE = 'null_value_not_allowed';
END
$$;

CREATE OR REPLACE FUNCTION mlops._job_run_start(job_name text, kind text, schedule_id bigint, model_ref text,
                                     source text, target text, slice text,
                                     OUT job_run_id bigint, OUT version_id bigint, OUT model_version text,
                                     OUT lock_key int)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner name;
BEGIN
    PERFORM mlops._require_role('mlops_writer', '_job_run_start');
    PERFORM mlops._check_label('job name', job_name, 250);
    IF kind IS NULL OR kind NOT IN ('batch_score', 'drift_monitor', 'materialize_online', 'retrain') THEN
        RAISE EXCEPTION 'unknown kind of job "%"', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF schedule_id IS NOT NULL THEN
        SELECT s.created_by INTO owner FROM mlops.schedules s WHERE s.schedule_id = _job_run_start.schedule_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'schedule % does not exist', schedule_id USING ERRCODE = 'undefined_object';
        ELSIF owner <> mlops._invoking_user() THEN
            RAISE EXCEPTION 'schedule % belongs to role %', schedule_id, owner
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Only the role that scheduled a job runs it, and records runs under it.';
        END IF;
    END IF;
    -- the monitoring views show a job's runs by its name: a schedule's name is
    -- its owner's, as the schedule is
    SELECT s.created_by INTO owner FROM mlops.schedules s WHERE s.name = _job_run_start.job_name
    UNION ALL
    SELECT m.created_by FROM mlops.drift_monitors m WHERE m.name = _job_run_start.job_name
    ORDER BY 1 LIMIT 1;
    -- and so are the runs of a view's materialization, named after the view,
    -- and a retraining policy's cycles, named after the policy
    IF NOT FOUND AND job_name LIKE 'materialize\_online:%' THEN
        SELECT v.created_by INTO owner FROM mlops.feature_views v
         WHERE v.name = substr(_job_run_start.job_name, length('materialize_online:') + 1);
    ELSIF NOT FOUND AND job_name LIKE 'retrain:%' THEN
        SELECT p.created_by INTO owner FROM mlops.retraining_policies p
         WHERE p.name = substr(_job_run_start.job_name, length('retrain:') + 1);
    END IF;
    IF FOUND AND owner <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'job name "%" is the name of a schedule or drift monitor of role %', job_name, owner
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'latest_job_runs and job_runs_daily show a job''s runs by its name; only the role '
                           'that scheduled a job records runs under it.',
                  HINT = 'Choose another job_name.';
    END IF;
    -- a drift monitor's run scores nothing: it names no model
    IF model_ref IS NOT NULL OR kind = 'batch_score' THEN
        SELECT v.version_id, m.name || ':' || v.version INTO version_id, model_version
          FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
         WHERE v.version_id = (SELECT r.version_id FROM mlops._resolve_model(model_ref) r);
    END IF;

    -- runs whose session died are failed, and say so
    UPDATE mlops.job_runs j SET status = 'failed', error = o.error
      FROM mlops.job_runs_overview o
     WHERE j.status = 'running' AND o.job_run_id = j.job_run_id AND o.status = 'failed';

    -- the run's lock, on a key nobody holds, before the run exists
    LOOP
        lock_key := floor(random() * 2147483647)::int;
        EXIT WHEN pg_try_advisory_lock(1836019578, lock_key);
    END LOOP;
    BEGIN
        INSERT INTO mlops.job_runs (job_name, kind, schedule_id, model_ref, version_id, model_version,
                                    source, target, slice, status, run_by, backend_pid, lock_key)
        VALUES (job_name, kind, schedule_id, model_ref, version_id, model_version, source, target, slice,
                'running', mlops._invoking_user(), pg_backend_pid(), lock_key)
        RETURNING mlops.job_runs.job_run_id INTO job_run_id;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock(1836019578, lock_key);    -- a session lock outlives the rollback
        RAISE;
    END;
END
$$;

CREATE OR REPLACE FUNCTION mlops._job_run_finish(job_run_id bigint, status text, rows_in bigint, rows_scored bigint,
                                      rows_failed bigint, error text, scoring text, note text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF status IS NULL OR status NOT IN ('succeeded', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'a job run ends as succeeded, failed or cancelled, not %', coalesce(status, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status = 'succeeded' AND error IS NOT NULL THEN
        RAISE EXCEPTION 'a succeeded job run has no error' USING ERRCODE = 'invalid_parameter_value',
              HINT = 'What a succeeded run has to say goes in its note.';
    END IF;
    IF rows_in < 0 OR rows_scored < 0 OR rows_failed < 0 THEN
        RAISE EXCEPTION 'row counts of a job run cannot be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF rows_scored IS NULL OR (status = 'succeeded' AND (rows_in IS NULL OR rows_failed IS NULL)) THEN
        RAISE EXCEPTION 'a finished job run says how many rows it scored, and a succeeded one how many it read and failed'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE mlops.job_runs j
       SET status = _job_run_finish.status, rows_in = _job_run_finish.rows_in,
           rows_scored = _job_run_finish.rows_scored, rows_failed = _job_run_finish.rows_failed,
           error = _job_run_finish.error, scoring = _job_run_finish.scoring, note = _job_run_finish.note,
           finished_at = clock_timestamp()
     WHERE j.job_run_id = _job_run_finish.job_run_id AND j.status = 'running'
       AND j.backend_pid = pg_backend_pid() AND j.run_by = mlops._invoking_user();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job run % is not running in this session', job_run_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A job run is finished by the session that started it.';
    END IF;
END
$$;

CREATE OR REPLACE PROCEDURE mlops.batch_score(model text, source text, target text,
                                   key_columns text[] DEFAULT ARRAY['id'],
                                   features text DEFAULT NULL,
                                   outputs text[] DEFAULT ARRAY['prediction'],
                                   slice text DEFAULT NULL,
                                   mode text DEFAULT 'replace',
                                   on_error text DEFAULT 'fail',
                                   job_name text DEFAULT NULL,
                                   schedule_id bigint DEFAULT NULL,
                                   feature_columns text[] DEFAULT NULL,
                                   exclude_columns text[] DEFAULT NULL,
                                   target_columns jsonb DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    run record;
    pinned text;
    src text;
    tgt text;
    tgt_oid oid;
    tgt_schema oid;
    ident text[];
    feat text;
    feat_checked text;
    keys text;
    key_defs text;
    key_casts text;
    n_key_defs int;
    key_json text;
    out_defs text := '';
    out_names text[] := '{}';
    info jsonb;
    signature jsonb;
    scoring text;
    stage text;
    select_sql text;
    plan text;
    -- the target's column for each of mlops' columns: outputs and the run's values
    col jsonb := '{"prediction": "prediction", "probabilities": "probabilities", "class": "class",
                   "version_id": "version_id", "model_version": "model_version", "scored_at": "scored_at",
                   "slice": "slice"}';
    col_types jsonb := '{"prediction": "float8", "probabilities": "float8[]", "class": "text",
                         "version_id": "bigint", "model_version": "text", "scored_at": "timestamptz",
                         "slice": "text"}';
    tgt_cols text[];
    missing text[];
    has_slice boolean;
    out_cols text := '';
    out_exprs text := '';
    run_cols text := '';
    run_values text := '';
    n_in bigint;
    n_failed bigint;
    n_scored bigint;
    first_bad record;
    extra text[];
    bad_hint text;
    insert_sql text;
    insert_good_sql text;
    insert_into text;
    good_rows text;
    source_sql text;
    score_args text;
    stage_sql text;
    stage_good_sql text;
    err_state text;
    err_message text;
    err_detail text;
    err_hint text;
    final_status text;
    k text;
    v jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'batch_score');
    IF model IS NULL OR source IS NULL OR target IS NULL THEN
        RAISE EXCEPTION 'model, source and target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF key_columns IS NULL OR cardinality(key_columns) = 0 OR array_position(key_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'key_columns must name at least one column' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The key columns identify each scored row in the target and in the rejects.';
    END IF;
    IF mode IS NULL OR mode NOT IN ('replace', 'append') THEN
        RAISE EXCEPTION 'mode is "replace" or "append", not %', coalesce(mode, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF on_error IS NULL OR on_error NOT IN ('fail', 'reject') THEN
        RAISE EXCEPTION 'on_error is "fail" or "reject", not %', coalesce(on_error, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF outputs IS NULL OR cardinality(outputs) = 0
       OR NOT (outputs <@ ARRAY['prediction', 'probabilities', 'class']) THEN
        RAISE EXCEPTION 'outputs are some of prediction, probabilities, class; not %', coalesce(outputs::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF num_nonnulls(features, feature_columns, exclude_columns) > 1 THEN
        RAISE EXCEPTION 'features, feature_columns and exclude_columns are alternatives: give one'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'features names one float8[] or jsonb column; feature_columns names the columns to score '
                         'by name; exclude_columns scores by name every column but the keys and these.';
    END IF;
    IF cardinality(feature_columns) = 0 OR array_position(feature_columns, NULL) IS NOT NULL
       OR array_position(exclude_columns, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'feature_columns and exclude_columns name columns: no NULLs, and at least one'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF target_columns IS NOT NULL THEN
        IF jsonb_typeof(target_columns) <> 'object' THEN
            RAISE EXCEPTION 'target_columns must be a JSON object, not %', jsonb_typeof(target_columns)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'It maps mlops'' column names to the target''s: {"prediction": "churn_probability"}; '
                             'null leaves a column out.';
        END IF;
        FOR k, v IN SELECT * FROM jsonb_each(target_columns) LOOP
            IF NOT col ? k THEN
                RAISE EXCEPTION 'target_columns names "%", which is not a column batch_score writes', k
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'It maps prediction, probabilities, class, version_id, model_version, scored_at '
                                 'and slice to the target''s column names.';
            END IF;
            IF jsonb_typeof(v) NOT IN ('string', 'null') OR (k = ANY (outputs) AND jsonb_typeof(v) = 'null') THEN
                RAISE EXCEPTION 'target_columns maps "%" to %: expected a column name%', k, v,
                                CASE WHEN k = ANY (outputs) THEN '' ELSE ' or null' END
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
        col := col || target_columns;
    END IF;

    -- the version is pinned for the whole run: moving an alias meanwhile
    -- does not mix versions in one slice
    run := mlops._job_run_start(coalesce(job_name, 'batch_score ' || left(target, 200)), 'batch_score',
                                schedule_id, model, source, target, slice);
    pinned := run.model_version;
    COMMIT;

    BEGIN
        IF source ~* '^\s*(select|with|values|table)\s' THEN
            src := '(' || source || ')';
        ELSE
            src := source::regclass::text;
        END IF;
        ident := parse_ident(target);
        tgt := (SELECT string_agg(quote_ident(p), '.' ORDER BY o) FROM unnest(ident) WITH ORDINALITY AS u(p, o));
        SELECT mlops.model_info(mv.compiled), mv.signature INTO info, signature
          FROM mlops.model_versions mv WHERE mv.version_id = run.version_id;
        feat := CASE
            WHEN features IS NOT NULL THEN 's.' || quote_ident(features)
            -- by name from the columns given (jsonb_build_object takes 50 pairs at most)
            WHEN feature_columns IS NOT NULL THEN
                (SELECT '(' || string_agg('pg_catalog.jsonb_build_object(' || pairs || ')', ' OPERATOR(pg_catalog.||) ') || ')'
                   FROM (SELECT string_agg(format('%L, s.%I', c, c), ', ' ORDER BY o) AS pairs
                           FROM unnest(feature_columns) WITH ORDINALITY AS u(c, o)
                          GROUP BY (o - 1) / 50) chunks)
            -- by name from every column but the keys (and those excluded)
            ELSE format('(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.-) %L::text[])',
                        key_columns || coalesce(exclude_columns, '{}'))
            END;
        -- predict() of NULL is NULL; in a batch it is a bad row
        feat_checked := format('COALESCE(%s, mlops._null_features(%s))', feat, feat);
        SELECT string_agg('s.' || quote_ident(c), ', ' ORDER BY o),
               'pg_catalog.jsonb_build_object(' || string_agg(format('%L, s.%I', c, c), ', ' ORDER BY o) || ')'
          INTO keys, key_json
          FROM unnest(key_columns) WITH ORDINALITY AS u(c, o);
        FOREACH k IN ARRAY ARRAY['prediction', 'probabilities', 'class'] LOOP
            CONTINUE WHEN NOT k = ANY (outputs);
            out_cols := out_cols || ', ' || quote_ident(col ->> k);
            out_exprs := out_exprs || format(', mlops.%s(%L, %s)',
                                             CASE k WHEN 'prediction' THEN 'predict' WHEN 'probabilities' THEN 'predict_proba'
                                                    ELSE 'predict_class' END, pinned, feat_checked);
            out_defs := out_defs || format(', %I %s', k, col_types ->> k);
            out_names := out_names || k;
        END LOOP;

        -- Runs into the same target and slice take turns: two at once would
        -- each delete the slice as it was before either wrote, and both
        -- insert, leaving it twice over.  The lock is keyed on the table
        -- itself, however it was named ('t', 'alice.t'); one that does not
        -- exist yet is locked by schema and name first, so that two runs do
        -- not both create it.  The locks last until the run commits; the
        -- next run then deletes what this one wrote.
        tgt_oid := to_regclass(tgt);
        IF tgt_oid IS NULL THEN
            tgt_schema := CASE WHEN cardinality(ident) > 1
                               THEN (SELECT n.oid FROM pg_namespace n WHERE n.nspname = ident[cardinality(ident) - 1])
                               ELSE (SELECT n.oid FROM pg_namespace n WHERE n.nspname = current_schema()) END;
            PERFORM pg_advisory_xact_lock(hashtext('mlops.batch_score'),
                                          hashtext(tgt_schema || '.' || ident[cardinality(ident)]));
            tgt_oid := to_regclass(tgt);
        END IF;
        IF tgt_oid IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %s AS SELECT %s%s FROM %s s WITH NO DATA', tgt, keys,
                               (SELECT string_agg(format(', NULL::%s AS %I', col_types ->> c, col ->> c), '' ORDER BY o)
                                  FROM unnest(ARRAY['prediction', 'probabilities', 'class', 'version_id', 'model_version',
                                                    'scored_at', 'slice']) WITH ORDINALITY AS u(c, o)
                                 WHERE col ->> c IS NOT NULL),
                               src);
            EXCEPTION WHEN insufficient_privilege THEN
                GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT;
                RAISE EXCEPTION 'cannot create the target table %: %', tgt, err_message
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = format('Since PostgreSQL 15 roles may not create tables in schema public unless '
                                        'granted to.  Create the target first (its key columns, then %s), name a '
                                        'schema where role %s may create tables, or have the schema''s owner run '
                                        'GRANT CREATE ON SCHEMA %s TO %s.',
                                        array_to_string(out_names, ', ') || ', version_id, model_version, scored_at, slice',
                                        quote_ident(current_user), coalesce(quote_ident(ident[cardinality(ident) - 1]),
                                                                           quote_ident(current_schema())),
                                        quote_ident(current_user));
            END;
            tgt_oid := tgt::regclass;
        END IF;
        PERFORM pg_advisory_xact_lock(hashtext('mlops.batch_score:' || tgt_oid), hashtext(coalesce(slice, '')));

        -- The target needs the key columns and the outputs asked for; it
        -- gets the run's values (version, time, slice) in the columns it has.
        tgt_cols := ARRAY(SELECT a.attname::text FROM pg_attribute a
                           WHERE a.attrelid = tgt_oid AND a.attnum > 0 AND NOT a.attisdropped);
        SELECT array_agg(c ORDER BY o) INTO missing
          FROM unnest(key_columns || ARRAY(SELECT col ->> o2 FROM unnest(out_names) o2)) WITH ORDINALITY AS u(c, o)
         WHERE c <> ALL (tgt_cols);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'target % has no column %', tgt, array_to_string(missing, ', ')
                USING ERRCODE = 'undefined_column',
                      DETAIL = format('A batch_score target needs its key columns (%s) and a column for each output '
                                      '(%s); version_id, model_version, scored_at and slice are written when it has '
                                      'them.', array_to_string(key_columns, ', '),
                                      (SELECT string_agg(format('%s %s', col ->> o2, col_types ->> o2), ', ')
                                         FROM unnest(out_names) o2)),
                      HINT = 'Add the columns, or map the outputs to columns the target has: '
                             'target_columns => ''{"prediction": "your_column"}''.';
        END IF;
        SELECT array_agg(c) INTO missing
          FROM jsonb_object_keys(coalesce(target_columns, '{}')) AS c
         WHERE c <> ALL (ARRAY['prediction', 'probabilities', 'class']) AND col ->> c <> ALL (tgt_cols);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'target_columns maps % to columns target % does not have', array_to_string(missing, ', '), tgt
                USING ERRCODE = 'undefined_column';
        END IF;
        FOREACH k IN ARRAY ARRAY['version_id', 'model_version', 'scored_at', 'slice'] LOOP
            CONTINUE WHEN col ->> k IS NULL OR col ->> k <> ALL (tgt_cols);
            run_cols := run_cols || ', ' || quote_ident(col ->> k);
            run_values := run_values || ', ' || CASE k WHEN 'version_id' THEN run.version_id::text
                                                        WHEN 'model_version' THEN quote_literal(pinned)
                                                        WHEN 'scored_at' THEN 'pg_catalog.now()'
                                                        ELSE quote_nullable(slice) END;
        END LOOP;
        has_slice := coalesce(col ->> 'slice' = ANY (tgt_cols), false);
        IF slice IS NOT NULL AND NOT has_slice THEN
            RAISE EXCEPTION 'target % has no slice column, so it cannot hold slice %', tgt, quote_literal(slice)
                USING ERRCODE = 'undefined_column',
                      HINT = 'Add a text column named slice (or map one with target_columns => ''{"slice": "..."}''), '
                             'or score without a slice.';
        END IF;
        -- replace mode rewrites the run's slice: the rows whose slice is the
        -- run's (NULL is a slice of its own), or every row of a target
        -- without slices
        IF mode = 'replace' THEN
            EXECUTE format('DELETE FROM %s', tgt)
                 || CASE WHEN has_slice THEN format(' WHERE %I IS NOT DISTINCT FROM %L', col ->> 'slice', slice) ELSE '' END;
        END IF;
        -- How the rows are scored (README, "Batch scoring and schedules"):
        -- - chunked: MLPs and linear models with several outputs whose
        --   one-hot encoding does not widen the input more than 4 times, a
        --   chunk of rows at a time as matrix products (mlops._score_query);
        -- - parallel: tree models big enough that scoring outweighs an extra
        --   copy of the results, when the planner gives the scan workers:
        --   INSERT cannot run in parallel, but CREATE TABLE AS can, so the
        --   rows are scored in parallel into a temporary table and copied
        --   into the target from there;
        -- - row: otherwise, predict() per row in the INSERT itself.  A
        --   single-output linear model is a dot product per row, bound by
        --   reading its inputs: chunks only add the cursor and the
        --   tuplestore (measured: tests/bench/batch_paths_bench.sh).
        scoring := 'row';
        select_sql := format('SELECT %s%s FROM %s s', keys, out_exprs, src);
        -- what every path inserts, and its good rows
        insert_into := format('INSERT INTO %s (%s%s%s) ', tgt,
                              array_to_string(ARRAY(SELECT quote_ident(c) FROM unnest(key_columns) c), ', '),
                              out_cols, run_cols);
        good_rows := format(' WHERE mlops.feature_problem(%L, %s) IS NULL', pinned, feat);
        IF (info ->> 'family' = 'mlp' OR (info ->> 'family' = 'linear' AND (info ->> 'n_outputs')::int > 1))
           -- wide one-hot inputs are cheaper row by row, where only the set
           -- columns are multiplied, than densely in a matrix
           AND (info ->> 'n_encoded')::int <= 4 * (info ->> 'n_features')::int THEN
            scoring := 'chunked';
        ELSIF (info ->> 'n_trees')::float8
                  * ln(greatest((info ->> 'n_nodes')::float8 / nullif((info ->> 'n_trees')::float8, 0), 2)) / ln(2)
                  >= 256      -- about the nodes a row visits: trees x depth
              AND current_setting('max_parallel_workers_per_gather')::int > 0
              AND has_database_privilege(current_database(), 'TEMPORARY') THEN
            -- walking the trees costs far more than passing a row to the
            -- leader: say so to the planner, for this transaction only
            PERFORM set_config('parallel_tuple_cost', '0.001', true);
            EXECUTE 'EXPLAIN (FORMAT JSON) ' || select_sql INTO plan;
            IF plan LIKE '%"Workers Planned": %' THEN
                scoring := 'parallel';
            END IF;
        END IF;

        IF scoring = 'chunked' THEN
            -- the key columns come out of _score_query as the target's types
            SELECT count(*),
                   string_agg(format('%I %s', c, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY o),
                   string_agg(format('s.%I::%s', c, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY o)
              INTO n_key_defs, key_defs, key_casts
              FROM unnest(key_columns) WITH ORDINALITY AS u(c, o)
              JOIN pg_attribute a ON a.attrelid = tgt_oid AND a.attname = c AND a.attnum > 0
                                 AND NOT a.attisdropped;
            -- the source query, with or without the bad-row filter, is an argument
            insert_sql := insert_into || format('SELECT r.*%s FROM mlops._score_query(%L, ', run_values, pinned);
            score_args := format(', %s, %L) AS r(%s%s)', cardinality(key_columns), out_names, key_defs, out_defs);
            source_sql := format('SELECT %s, %s FROM %s s', key_casts, feat, src);
            insert_good_sql := insert_sql || quote_literal(source_sql || good_rows) || score_args;
            insert_sql := insert_sql || quote_literal(source_sql) || score_args;
        ELSIF scoring = 'parallel' THEN
            stage := 'mlops_batch_stage_' || run.job_run_id;
            stage_sql := format('CREATE TEMPORARY TABLE %I ON COMMIT DROP AS ', stage) || select_sql;
            stage_good_sql := stage_sql || good_rows;
            insert_sql := insert_into || format('SELECT *%s FROM pg_temp.%I', run_values, stage);
            insert_good_sql := insert_sql;
        ELSE
            insert_sql := insert_into || format('SELECT %s%s%s FROM %s s', keys, out_exprs, run_values, src);
            insert_good_sql := insert_sql || good_rows;
        END IF;

        -- One pass when every row scores, which is the common case: bad rows
        -- raise from the scoring functions, and only then is the source read
        -- again to count them, name the first, and set them aside.
        BEGIN
            IF stage_sql IS NOT NULL THEN
                EXECUTE stage_sql;
            END IF;
            EXECUTE insert_sql;
            GET DIAGNOSTICS n_scored = ROW_COUNT;
            n_in := n_scored;
            n_failed := 0;
        EXCEPTION WHEN invalid_parameter_value OR null_value_not_allowed OR array_subscript_error THEN
            EXECUTE format('SELECT count(*), count(*) FILTER (WHERE mlops.feature_problem(%L, %s) IS NOT NULL) FROM %s s',
                           pinned, feat, src)
               INTO n_in, n_failed;
            IF n_failed = 0 THEN
                RAISE;                  -- not a row problem after all
            END IF;
            IF on_error = 'fail' THEN
                EXECUTE format('SELECT %s AS key, mlops.feature_problem(%L, %s) AS reason FROM %s s
                                 WHERE mlops.feature_problem(%L, %s) IS NOT NULL LIMIT 1',
                               key_json, pinned, feat, src, pinned, feat)
                   INTO first_bad;
                -- Scoring by name, a source column that is not a feature
                -- fails every row: say which columns to leave out, rather
                -- than suggest setting every row aside.
                IF features IS NULL AND n_failed = n_in THEN
                    EXECUTE format('SELECT array_agg(c ORDER BY c) FROM (SELECT %s AS f FROM %s s LIMIT 1) r,
                                           pg_catalog.jsonb_object_keys(r.f) AS c WHERE c <> ALL (%L::text[])',
                                   feat, src, ARRAY(SELECT x ->> 'name' FROM jsonb_array_elements(signature) x))
                       INTO extra;
                END IF;
                bad_hint := CASE
                    WHEN extra IS NOT NULL AND feature_columns IS NULL THEN
                        format('Every row has columns that are not features of %s: %s.  Leave them out with '
                               'exclude_columns => %L, or name the features with feature_columns.',
                               pinned, array_to_string(extra, ', '), extra::text)
                    WHEN extra IS NOT NULL THEN
                        format('feature_columns names columns that are not features of %s: %s.',
                               pinned, array_to_string(extra, ', '))
                    ELSE 'Fix the rows, or pass on_error => ''reject'' to score the others and '
                         'set these aside in mlops.batch_rejects.' END;
                RAISE EXCEPTION '% of % rows cannot be scored with %', n_failed, n_in, pinned
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = format('The first is %s: %s', first_bad.key, first_bad.reason),
                          HINT = bad_hint;
            END IF;
            IF stage_good_sql IS NOT NULL THEN
                EXECUTE stage_good_sql;
            END IF;
            EXECUTE insert_good_sql;
            GET DIAGNOSTICS n_scored = ROW_COUNT;
            EXECUTE format('INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason)
                            SELECT %s, %s, mlops.feature_problem(%L, %s) FROM %s s
                             WHERE mlops.feature_problem(%L, %s) IS NOT NULL',
                           run.job_run_id, key_json, pinned, feat, src, pinned, feat);
        END;
        IF stage IS NOT NULL THEN
            EXECUTE format('DROP TABLE IF EXISTS pg_temp.%I', stage);    -- free its buffers now
        END IF;
        final_status := 'succeeded';
    EXCEPTION
        WHEN query_canceled THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                                    err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
            final_status := 'cancelled';
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                                    err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
            final_status := 'failed';
    END;

    PERFORM mlops._job_run_finish(run.job_run_id, final_status, n_in,
                                  CASE WHEN final_status = 'succeeded' THEN n_scored ELSE 0 END, n_failed,
                                  CASE WHEN err_message IS NOT NULL
                                       THEN err_message || coalesce(E'\n' || nullif(err_detail, ''), '') END,
                                  scoring);
    COMMIT;
    PERFORM pg_advisory_unlock(1836019578, run.lock_key);
    IF final_status <> 'succeeded' THEN
        PERFORM mlops._fail(err_state, err_message, nullif(err_detail, ''), nullif(err_hint, ''));
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops._cron_schedule(job_name text, cron text, command text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mlops_cron_schedule' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._cron_unschedule(job_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mlops_cron_unschedule' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._schedule_command(name text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN pg_catalog.format('CALL mlops.run_schedule(%L)', name);

CREATE OR REPLACE FUNCTION mlops._own_schedule(name text) RETURNS mlops.schedules
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

CREATE OR REPLACE FUNCTION mlops._cron_job_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN pg_catalog.octet_length(name) <= 57 THEN 'mlops:' || name
            ELSE 'mlops:md5:' || pg_catalog.md5(name) END;

CREATE OR REPLACE FUNCTION mlops._arm_schedule(s mlops.schedules) RETURNS void
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

CREATE OR REPLACE FUNCTION mlops._disarm_schedule(s mlops.schedules) RETURNS void
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

CREATE OR REPLACE FUNCTION mlops._add_schedule(name text, kind text, cron text, spec jsonb) RETURNS bigint
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

CREATE OR REPLACE FUNCTION mlops.schedule_batch_score(name text, cron text, model text, source text, target text,
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

CREATE OR REPLACE PROCEDURE mlops.run_schedule(name text)
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

CREATE OR REPLACE FUNCTION mlops.pause_schedule(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'pause_schedule');
    PERFORM mlops._disarm_schedule(mlops._own_schedule(name));
END
$$;

CREATE OR REPLACE FUNCTION mlops.resume_schedule(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'resume_schedule');
    PERFORM mlops._arm_schedule(mlops._own_schedule(name));
END
$$;

CREATE OR REPLACE FUNCTION mlops.drop_schedule(name text) RETURNS void
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

CREATE OR REPLACE FUNCTION mlops.schedule_state(name text) RETURNS text
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

CREATE OR REPLACE FUNCTION mlops.rearm_schedules() RETURNS int
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

CREATE OR REPLACE FUNCTION mlops._drift_state_in(cstring) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_state_in' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_state_out(mlops.drift_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'mlops_drift_state_out' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ks_2samp(reference float8[], current float8[], method text DEFAULT 'auto')
RETURNS mlops.ks_2samp_result
    AS 'MODULE_PATHNAME', 'mlops_ks_2samp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.wasserstein_distance(reference float8[], current float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_wasserstein_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.psi(reference float8[], current float8[], bins int DEFAULT 10) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_psi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.js_distance(reference float8[], current float8[], bins int DEFAULT 10) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_js_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.chisquare(observed float8[], expected float8[]) RETURNS mlops.chisquare_result
    AS 'MODULE_PATHNAME', 'mlops_chisquare' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_numeric_trans(mlops.drift_state, float8, text, text) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_numeric_trans' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_numeric_values_trans(mlops.drift_state, float8, text, text) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_numeric_values_trans' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_categorical_trans(mlops.drift_state, text, text, text) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_categorical_trans' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_combine(mlops.drift_state, mlops.drift_state) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_psi_final(mlops.drift_state) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_drift_psi_final' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_js_final(mlops.drift_state) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_drift_js_final' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_ks_final(mlops.drift_state) RETURNS mlops.ks_2samp_result
    AS 'MODULE_PATHNAME', 'mlops_drift_ks_final' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_wasserstein_final(mlops.drift_state) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_drift_wasserstein_final' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_chisquare_final(mlops.drift_state) RETURNS mlops.chisquare_result
    AS 'MODULE_PATHNAME', 'mlops_drift_chisquare_final' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._drift_stats_final(mlops.drift_state) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_drift_stats_final' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE AGGREGATE mlops.psi_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_psi_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.psi_agg(current text, baseline text, feature text) (
    SFUNC = mlops._drift_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_psi_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.js_distance_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_js_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.js_distance_agg(current text, baseline text, feature text) (
    SFUNC = mlops._drift_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_js_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.ks_2samp_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_values_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_ks_final, FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.wasserstein_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_values_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_wasserstein_final, FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.chisquare_agg(current text, baseline text, feature text) (
    SFUNC = mlops._drift_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_chisquare_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.drift_stats_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_values_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_stats_final, FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.drift_stats_agg(current text, baseline text, feature text) (
    SFUNC = mlops._drift_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_stats_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

CREATE OR REPLACE FUNCTION mlops._drift_capture_numeric_trans(mlops.drift_state, float8, int) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_capture_numeric_trans' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._drift_capture_categorical_trans(mlops.drift_state, text) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_capture_categorical_trans' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._drift_capture_final(mlops.drift_state) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_capture_final' LANGUAGE C VOLATILE;

CREATE OR REPLACE AGGREGATE mlops._drift_capture(float8, int) (
    SFUNC = mlops._drift_capture_numeric_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_capture_final, FINALFUNC_MODIFY = READ_WRITE);

CREATE OR REPLACE AGGREGATE mlops._drift_capture(text) (
    SFUNC = mlops._drift_capture_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_capture_final, FINALFUNC_MODIFY = READ_WRITE);

CREATE OR REPLACE FUNCTION mlops._drift_capture_summary(state mlops.drift_state, bins int,
    OUT n_rows bigint, OUT n_null bigint, OUT n_nan bigint, OUT n_infinite bigint, OUT n bigint,
    OUT mean float8, OUT std float8, OUT min float8, OUT max float8, OUT sorted_values float8[],
    OUT values_exact boolean, OUT edges float8[], OUT bin_counts float8[], OUT categories text[],
    OUT category_counts float8[], OUT ks_error_bound float8)
    AS 'MODULE_PATHNAME', 'mlops_drift_capture_summary' LANGUAGE C IMMUTABLE;

CREATE OR REPLACE FUNCTION mlops._drift_run_as_invoker(query text, search_path text) RETURNS mlops.drift_state[]
    AS 'MODULE_PATHNAME', 'mlops_drift_run_as_invoker' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._describe_source(source_sql text, search_path text,
                                       OUT "position" int, OUT name text, OUT type_oid oid)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mlops_describe_source' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._source_sql(source text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF source ~* '^\s*(select|with|values|table)\s' THEN
        RETURN '(' || source || ')';
    END IF;
    RETURN (SELECT string_agg(quote_ident(p), '.' ORDER BY o) FROM unnest(parse_ident(source)) WITH ORDINALITY AS u(p, o));
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'source "%" is neither a table or view name nor a query', left(source, 200)
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Give a relation name (schema.table) or a query starting with SELECT, WITH, VALUES or TABLE.';
END
$$;

CREATE OR REPLACE FUNCTION mlops._drift_kind_of(type_oid oid) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN type_oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                              'float8'::regtype, 'numeric'::regtype) THEN 'numeric'
            WHEN type_oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'bool'::regtype,
                              'name'::regtype, '"char"'::regtype)
                 OR (SELECT t.typtype = 'e' FROM pg_type t WHERE t.oid = type_oid) THEN 'categorical' END;

CREATE OR REPLACE FUNCTION mlops._capture_baseline(name text, source text, columns text[], options jsonb,
                                        source_kind text, version_id bigint, search_path text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src text;
    bins int;
    max_values int;
    kinds jsonb;
    col record;
    cols text[] := '{}';
    col_kinds text[] := '{}';
    col_types text[] := '{}';
    exprs text[] := '{}';
    states mlops.drift_state[];
    s record;
    bid bigint;
    existing record;
    replace boolean;
    k text;
    bad text[];
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'capture_baseline');
    PERFORM mlops._check_label('baseline name', name, 200);
    options := coalesce(options, '{}');
    IF jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object, not %', jsonb_typeof(options)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    bad := ARRAY(SELECT jsonb_object_keys(options) EXCEPT SELECT unnest(ARRAY['bins', 'kinds', 'replace', 'max_values']));
    IF cardinality(bad) > 0 THEN
        RAISE EXCEPTION 'unknown capture option "%"', bad[1] USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The options are bins (PSI bins, default 10), kinds ({"column": "numeric" | "categorical"}), '
                   'max_values (values kept per numeric column) and replace (true to replace a baseline).';
    END IF;
    BEGIN
        bins := coalesce((options ->> 'bins')::int, 10);
        max_values := coalesce((options ->> 'max_values')::int, current_setting('mlops.drift_baseline_values')::int);
        replace := coalesce((options ->> 'replace')::boolean, false);
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
        RAISE EXCEPTION 'bins and max_values are integers and replace a boolean' USING ERRCODE = 'invalid_parameter_value';
    END;
    IF bins < 2 OR bins > 1000 THEN
        RAISE EXCEPTION 'bins must be between 2 and 1000, not %', bins USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_values < 1000 THEN
        RAISE EXCEPTION 'max_values must be at least 1000, not %', max_values USING ERRCODE = 'invalid_parameter_value';
    END IF;
    kinds := coalesce(options -> 'kinds', '{}');
    IF jsonb_typeof(kinds) <> 'object'
       OR EXISTS (SELECT FROM jsonb_each(kinds) e WHERE e.value NOT IN ('"numeric"', '"categorical"')) THEN
        RAISE EXCEPTION 'kinds maps column names to "numeric" or "categorical"' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_position(columns, NULL) IS NOT NULL OR cardinality(columns) = 0 THEN
        RAISE EXCEPTION 'columns names the columns to capture: no NULLs, and at least one'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    src := mlops._source_sql(source);
    FOR col IN SELECT * FROM mlops._describe_source(src, search_path) d ORDER BY d.position LOOP
        IF columns IS NOT NULL AND NOT col.name = ANY (columns) THEN
            CONTINUE;
        END IF;
        k := coalesce(kinds ->> col.name, mlops._drift_kind_of(col.type_oid));
        IF k IS NULL THEN
            IF columns IS NULL THEN
                CONTINUE;       -- not a feature drift is measured on (a timestamp, an array, ...)
            END IF;
            RAISE EXCEPTION 'column "%" is of type %, whose kind mlops cannot infer', col.name, col.type_oid::regtype
                USING ERRCODE = 'datatype_mismatch',
                      HINT = 'Say it in options: {"kinds": {"' || col.name || '": "categorical"}} (or "numeric" for '
                             'a type that casts to float8).';
        END IF;
        IF k = 'numeric' AND mlops._drift_kind_of(col.type_oid) IS DISTINCT FROM 'numeric'
           AND NOT EXISTS (SELECT FROM pg_cast c WHERE c.castsource = col.type_oid AND c.casttarget = 'float8'::regtype) THEN
            RAISE EXCEPTION 'column "%" is of type %, which does not cast to float8', col.name, col.type_oid::regtype
                USING ERRCODE = 'datatype_mismatch', HINT = 'Capture it as categorical.';
        END IF;
        cols := cols || col.name;
        col_kinds := col_kinds || k;
        col_types := col_types || format_type(col.type_oid, NULL);
        exprs := exprs || CASE k WHEN 'numeric' THEN format('mlops._drift_capture((s.%I)::float8, %s)', col.name, max_values)
                                 ELSE format('mlops._drift_capture((s.%I)::text)', col.name) END;
    END LOOP;
    IF columns IS NOT NULL THEN
        bad := ARRAY(SELECT unnest(columns) EXCEPT SELECT unnest(cols));
        IF cardinality(bad) > 0 THEN
            RAISE EXCEPTION 'the source has no column "%"', bad[1] USING ERRCODE = 'undefined_column';
        END IF;
    END IF;
    IF cardinality(cols) = 0 THEN
        RAISE EXCEPTION 'the source has no column drift can be measured on' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Numeric, text, boolean and enum columns are captured; name others in columns with their kind.';
    END IF;
    FOR col IN SELECT jsonb_object_keys(kinds) AS name LOOP
        IF NOT col.name = ANY (cols) THEN
            RAISE EXCEPTION 'options.kinds names column "%", which is not captured', col.name
                USING ERRCODE = 'undefined_column';
        END IF;
    END LOOP;

    states := mlops._drift_run_as_invoker('SELECT ' || array_to_string(exprs, ', ') || ' FROM ' || src || ' s',
                                          search_path);

    SELECT b.baseline_id, b.created_by INTO existing FROM mlops.drift_baselines b
     WHERE b.name = _capture_baseline.name FOR UPDATE;
    IF FOUND THEN
        IF NOT replace THEN
            RAISE EXCEPTION 'drift baseline "%" already exists', name USING ERRCODE = 'unique_violation',
                HINT = 'Pass options {"replace": true} to capture it again, or choose another name.';
        END IF;
        IF existing.created_by <> mlops._invoking_user() AND NOT pg_has_role(mlops._invoking_user(), 'mlops_admin', 'MEMBER') THEN
            RAISE EXCEPTION 'drift baseline "%" belongs to role %', name, existing.created_by
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Only the role that captured a baseline, or an mlops_admin, replaces it.';
        END IF;
        DELETE FROM mlops.drift_baselines b WHERE b.baseline_id = existing.baseline_id;
    END IF;

    IF states[1] IS NULL THEN       -- an aggregate over no rows
        RAISE EXCEPTION 'the source of drift baseline "%" has no rows', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A baseline is the distribution drift is measured against: it needs data.';
    END IF;
    s := mlops._drift_capture_summary(states[1], bins);      -- also the first column's, below
    INSERT INTO mlops.drift_baselines AS b (name, source, source_kind, version_id, options, n_rows, created_by)
    VALUES (name, source, source_kind, version_id,
            jsonb_build_object('bins', bins, 'max_values', max_values) || jsonb_strip_nulls(jsonb_build_object('kinds', options -> 'kinds')),
            s.n_rows, mlops._invoking_user())
    RETURNING b.baseline_id INTO bid;
    FOR i IN 1 .. cardinality(cols) LOOP
        IF i > 1 THEN
            s := mlops._drift_capture_summary(states[i], bins);
        END IF;
        IF s.n = 0 THEN
            RAISE EXCEPTION 'column "%" has no values in the source of drift baseline "%"', cols[i], name
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('Its %s rows are NULL%s.', s.n_rows, CASE WHEN s.n_nan + s.n_infinite > 0
                                      THEN ', NaN or infinite' ELSE '' END),
                      HINT = 'Leave it out (columns), or capture the baseline from data where it has values.';
        END IF;
        INSERT INTO mlops.drift_baseline_columns
            (baseline_id, position, column_name, kind, data_type, n_rows, n_null, n_nan, n_infinite, n, null_rate,
             mean, std, min, max, bins, edges, bin_counts, categories, category_counts, sorted_values, values_exact,
             ks_error_bound)
        VALUES (bid, i, cols[i], col_kinds[i], col_types[i], s.n_rows, s.n_null, s.n_nan, s.n_infinite, s.n,
                s.n_null::float8 / s.n_rows, s.mean, s.std, s.min, s.max,
                CASE col_kinds[i] WHEN 'numeric' THEN bins END, s.edges, s.bin_counts, s.categories,
                s.category_counts, s.sorted_values, s.values_exact, s.ks_error_bound);
    END LOOP;
    RETURN bid;
END
$$;

CREATE OR REPLACE FUNCTION mlops.capture_baseline(name text, source text, columns text[] DEFAULT NULL,
                                       options jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'capture_baseline');
    RETURN mlops._capture_baseline(name, source, columns, options,
                                   CASE WHEN mlops._source_sql(source) LIKE '(%' THEN 'query' ELSE 'relation' END,
                                   NULL, pg_catalog.current_setting('search_path'));
END
$$;

CREATE OR REPLACE FUNCTION mlops.capture_baseline_from_model(name text, model text, options jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v record;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'capture_baseline_from_model');
    SELECT * INTO v FROM mlops._model_training_input(model);
    RETURN mlops._capture_baseline(name, v.relation_name, v.features, options, 'model_version', v.version_id,
                                   pg_catalog.current_setting('search_path'));
END
$$;

CREATE OR REPLACE FUNCTION mlops._model_training_input(model text, OUT version_id bigint, OUT relation_name text,
                                            OUT features text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    run bigint;
    sig jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'capture_baseline_from_model');
    SELECT mv.version_id, mv.run_id, mv.signature INTO version_id, run, sig
      FROM mlops.model_versions mv WHERE mv.version_id = (SELECT r.version_id FROM mlops._resolve_model(model) r);
    IF run IS NULL THEN
        RAISE EXCEPTION 'model version % was registered without a run', model USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Capture the baseline from its training data with mlops.capture_baseline().';
    END IF;
    SELECT i.relation_name INTO relation_name FROM mlops.run_inputs i
     WHERE i.run_id = run ORDER BY (i.context = 'training') DESC, i.input_id LIMIT 1;
    IF relation_name IS NULL THEN
        RAISE EXCEPTION 'the run of model version % logged no dataset input', model
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'mlops.log_input(run_id, relation, ''training'') records what a run trained on.';
    END IF;
    features := ARRAY(SELECT x ->> 'name' FROM jsonb_array_elements(sig) x);
END
$$;

CREATE OR REPLACE FUNCTION mlops.capture_prediction_baseline(name text, target text, slice text DEFAULT NULL,
                                                  columns text[] DEFAULT ARRAY['prediction'],
                                                  options jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    q text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'capture_prediction_baseline');
    q := 'SELECT * FROM ' || mlops._source_sql(target) || ' t'
         || CASE WHEN slice IS NOT NULL THEN ' WHERE t.slice = ' || quote_literal(slice) ELSE '' END;
    RETURN mlops._capture_baseline(name, q, columns, options, 'predictions', NULL,
                                   pg_catalog.current_setting('search_path'));
END
$$;

CREATE OR REPLACE FUNCTION mlops.drop_baseline(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_baseline');
    SELECT * INTO b FROM mlops.drift_baselines x WHERE x.name = drop_baseline.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drift baseline "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF b.created_by <> mlops._invoking_user() AND NOT pg_has_role(mlops._invoking_user(), 'mlops_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'drift baseline "%" belongs to role %', name, b.created_by USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (SELECT FROM mlops.drift_monitors m WHERE m.baseline = b.name) THEN
        RAISE EXCEPTION 'drift baseline "%" is watched by a monitor', name USING ERRCODE = 'dependent_objects_still_exist',
            HINT = 'Drop the monitor first (mlops.drop_drift_monitor).';
    END IF;
    DELETE FROM mlops.drift_baselines x WHERE x.baseline_id = b.baseline_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._drift_rows(baseline text, current text, options jsonb)
RETURNS TABLE (feature text, kind text, n_reference bigint, n_current bigint, method text, statistic float8,
               p_value float8, threshold float8, drifted boolean, stats jsonb, histogram jsonb)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    b record;
    c record;
    src text;
    src_cols jsonb;
    exprs text[] := '{}';
    names text[] := '{}';
    kinds text[] := '{}';
    nrefs bigint[] := '{}';
    results jsonb[];
    features text[];
    m text;
    t float8;
    per jsonb;
    r jsonb;
    bad text[];
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'drift_report');
    IF baseline IS NULL THEN
        RAISE EXCEPTION 'baseline must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    options := coalesce(options, '{}');
    IF jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object, not %', jsonb_typeof(options) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    bad := ARRAY(SELECT jsonb_object_keys(options)
                 EXCEPT SELECT unnest(ARRAY['features', 'method', 'threshold', 'columns', 'drift_share']));
    IF cardinality(bad) > 0 THEN
        RAISE EXCEPTION 'unknown drift report option "%"', bad[1] USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The options are features (the columns to report), method and threshold (for every feature), '
                   'columns ({"feature": {"method": ..., "threshold": ...}}) and drift_share.';
    END IF;
    SELECT * INTO b FROM mlops.drift_baselines x WHERE x.name = baseline;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drift baseline "%" does not exist', baseline USING ERRCODE = 'undefined_object',
            HINT = 'mlops.capture_baseline() makes one; mlops.drift_baselines lists them.';
    END IF;
    IF options ? 'features' THEN
        IF jsonb_typeof(options -> 'features') <> 'array' THEN
            RAISE EXCEPTION 'options.features is an array of column names' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        features := ARRAY(SELECT jsonb_array_elements_text(options -> 'features'));
        bad := ARRAY(SELECT unnest(features) EXCEPT SELECT x.column_name FROM mlops.drift_baseline_columns x
                                                     WHERE x.baseline_id = b.baseline_id);
        IF cardinality(bad) > 0 THEN
            RAISE EXCEPTION 'drift baseline "%" has no column "%"', baseline, bad[1] USING ERRCODE = 'undefined_column';
        END IF;
    END IF;
    src := mlops._source_sql(current);
    SELECT jsonb_object_agg(d.name, mlops._drift_kind_of(d.type_oid) || ':' || format_type(d.type_oid, NULL))
      INTO src_cols FROM mlops._describe_source(src, NULL) d;
    FOR c IN SELECT * FROM mlops.drift_baseline_columns x WHERE x.baseline_id = b.baseline_id
              AND (features IS NULL OR x.column_name = ANY (features)) ORDER BY x.position LOOP
        IF NOT src_cols ? c.column_name THEN
            RAISE EXCEPTION 'the current data has no column "%", which drift baseline "%" holds', c.column_name, baseline
                USING ERRCODE = 'undefined_column',
                      HINT = 'Report on some features only with options {"features": [...]}.';
        END IF;
        IF c.kind = 'numeric' AND split_part(src_cols ->> c.column_name, ':', 1) IS DISTINCT FROM 'numeric' THEN
            RAISE EXCEPTION 'column "%" is numeric in drift baseline "%", and % in the current data', c.column_name,
                baseline, split_part(src_cols ->> c.column_name, ':', 2)
                USING ERRCODE = 'datatype_mismatch',
                      HINT = 'Compare like with like: cast the column in a query, or capture the baseline again.';
        END IF;
        names := names || c.column_name;
        kinds := kinds || c.kind;
        nrefs := nrefs || c.n;
        exprs := exprs || format('mlops.drift_stats_agg((s.%I)::%s, %L, %L)', c.column_name,
                                 CASE c.kind WHEN 'numeric' THEN 'float8' ELSE 'text' END, baseline, c.column_name);
    END LOOP;
    IF cardinality(names) = 0 THEN
        RETURN;
    END IF;
    EXECUTE 'SELECT ARRAY[' || array_to_string(exprs, ', ') || '] FROM ' || src || ' s' INTO results;

    FOR i IN 1 .. cardinality(names) LOOP
        -- an aggregate over no rows is NULL: no current values, NULL statistics
        r := coalesce(results[i], jsonb_build_object('n_rows', 0, 'n_current', 0, 'n_reference', nrefs[i]));
        per := coalesce(options -> 'columns' -> names[i], '{}');
        m := coalesce(per ->> 'method', options ->> 'method',
                      CASE WHEN kinds[i] = 'numeric' THEN CASE WHEN nrefs[i] <= 1000 THEN 'ks' ELSE 'wasserstein' END
                           ELSE CASE WHEN nrefs[i] <= 1000 THEN 'chisquare' ELSE 'js' END END);
        IF NOT (m = ANY (CASE kinds[i] WHEN 'numeric' THEN ARRAY['ks', 'wasserstein', 'psi', 'js']
                                       ELSE ARRAY['chisquare', 'psi', 'js'] END)) THEN
            RAISE EXCEPTION 'method "%" does not apply to % feature "%"', m, kinds[i], names[i]
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Numeric features: ks, wasserstein, psi, js; categorical features: chisquare, psi, js.';
        END IF;
        t := coalesce((per ->> 'threshold')::float8, (options ->> 'threshold')::float8,
                      CASE WHEN m IN ('ks', 'chisquare') THEN 0.05 ELSE 0.1 END);
        feature := names[i];
        kind := kinds[i];
        n_reference := nrefs[i];
        n_current := (r ->> 'n_current')::bigint;
        method := m;
        statistic := CASE m WHEN 'ks' THEN (r ->> 'ks_statistic')::float8
                            WHEN 'wasserstein' THEN (r ->> 'wasserstein_norm')::float8
                            WHEN 'psi' THEN (r ->> 'psi')::float8
                            WHEN 'js' THEN (r ->> 'js_distance')::float8
                            WHEN 'chisquare' THEN (r ->> 'chi2_statistic')::float8 END;
        p_value := CASE m WHEN 'ks' THEN (r ->> 'ks_p_value')::float8
                          WHEN 'chisquare' THEN (r ->> 'chi2_p_value')::float8 END;
        threshold := t;
        drifted := CASE WHEN m IN ('ks', 'chisquare') THEN p_value < t ELSE statistic >= t END;
        histogram := r -> 'histogram';
        stats := r - 'histogram' - 'kind';
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION mlops.drift_report(baseline text, current text, options jsonb DEFAULT NULL)
RETURNS TABLE (feature text, kind text, n_reference bigint, n_current bigint, method text, statistic float8,
               p_value float8, threshold float8, drifted boolean, stats jsonb)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT r.feature, r.kind, r.n_reference, r.n_current, r.method, r.statistic, r.p_value, r.threshold,
           r.drifted, r.stats
      FROM mlops._drift_rows(baseline, current, options) r;
END;

CREATE OR REPLACE FUNCTION mlops._drift_verdict(drifted boolean[], options jsonb,
                                     OUT n_features int, OUT n_drifted int, OUT share_drifted float8,
                                     OUT drift_share float8, OUT dataset_drifted boolean)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT v.n, v.n_drifted, v.n_drifted::float8 / nullif(v.n, 0), v.share,
           v.n_drifted::float8 / nullif(v.n, 0) >= v.share
      FROM (SELECT cardinality(drifted) AS n,
                   (SELECT count(*) FILTER (WHERE d) FROM unnest(drifted) d)::int AS n_drifted,
                   coalesce((options ->> 'drift_share')::float8, 0.5) AS share) v
$$;

CREATE OR REPLACE FUNCTION mlops.dataset_drift(baseline text, current text, options jsonb DEFAULT NULL,
                                    OUT n_features int, OUT n_drifted int, OUT share_drifted float8,
                                    OUT drift_share float8, OUT dataset_drifted boolean)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'dataset_drift');
    SELECT * INTO n_features, n_drifted, share_drifted, drift_share, dataset_drifted
      FROM mlops._drift_verdict(ARRAY(SELECT coalesce(r.drifted, false)
                                        FROM mlops._drift_rows(baseline, current, options) r), options);
END
$$;

CREATE OR REPLACE FUNCTION mlops._own_monitor(name text) RETURNS mlops.drift_monitors
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m mlops.drift_monitors;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'monitor name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO m FROM mlops.drift_monitors x WHERE x.name = _own_monitor.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drift monitor "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF m.created_by <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'drift monitor "%" belongs to role %', name, m.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A monitor runs as the role that created it, and only that role changes it.';
    END IF;
    RETURN m;
END
$$;

CREATE OR REPLACE FUNCTION mlops.create_drift_monitor(name text, baseline text, source text, cron text DEFAULT NULL,
                                           timestamp_column text DEFAULT NULL, time_window interval DEFAULT NULL,
                                           options jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m mlops.drift_monitors;
    s mlops.schedules;
    owner name;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_drift_monitor');
    PERFORM mlops._check_model_name('monitor name', name);
    PERFORM mlops._source_sql(source);
    SELECT b.created_by INTO owner FROM mlops.drift_baselines b WHERE b.name = create_drift_monitor.baseline;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drift baseline "%" does not exist', baseline USING ERRCODE = 'undefined_object',
            HINT = 'mlops.capture_baseline() makes one.';
    END IF;
    -- a monitor keeps its baseline from being dropped: only on the caller's own
    IF owner <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'drift baseline "%" belongs to role %', baseline, owner
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A monitor keeps its baseline from being dropped, so it watches one of its owner''s baselines.',
                  HINT = 'Capture a baseline of your own from the same source (mlops.capture_baseline).';
    END IF;
    -- schedules and drift monitors share their names (a monitor's schedule takes its name)
    SELECT x.created_by INTO owner FROM mlops.schedules x WHERE x.name = create_drift_monitor.name;
    IF FOUND THEN
        RAISE EXCEPTION 'drift monitor name "%" is the name of a schedule', name USING ERRCODE = 'unique_violation',
            DETAIL = format('It belongs to role %s.', owner), HINT = 'Choose another name.';
    END IF;
    IF (timestamp_column IS NULL) <> (time_window IS NULL) THEN
        RAISE EXCEPTION 'timestamp_column and time_window go together' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Each run reads the rows whose timestamp_column is within time_window before the run; '
                   'give neither to read the whole source each time.';
    END IF;
    IF time_window <= interval '0' THEN
        RAISE EXCEPTION 'time_window must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF options IS NOT NULL AND jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT jsonb_object_keys(options)
               EXCEPT SELECT unnest(ARRAY['features', 'method', 'threshold', 'columns', 'drift_share'])) THEN
        RAISE EXCEPTION 'unknown drift report option in %', options USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A monitor takes drift_report''s options: features, method, threshold, columns, drift_share.';
    END IF;
    INSERT INTO mlops.drift_monitors AS x (name, baseline, source, timestamp_column, time_window, options, created_by)
    VALUES (name, baseline, source, timestamp_column, time_window, coalesce(options, '{}'), mlops._invoking_user())
        ON CONFLICT ON CONSTRAINT drift_monitors_name_key DO NOTHING
    RETURNING x.* INTO m;
    IF m.monitor_id IS NULL THEN
        RAISE EXCEPTION 'drift monitor "%" already exists', name USING ERRCODE = 'unique_violation';
    END IF;
    IF cron IS NOT NULL THEN
        INSERT INTO mlops.schedules AS x (name, kind, cron, spec, created_by)
        VALUES (name, 'drift_monitor', cron, jsonb_build_object('monitor', name), mlops._invoking_user())
            ON CONFLICT ON CONSTRAINT schedules_name_key DO NOTHING
        RETURNING x.* INTO s;
        IF s.schedule_id IS NULL THEN
            SELECT x.created_by INTO owner FROM mlops.schedules x WHERE x.name = create_drift_monitor.name;
            RAISE EXCEPTION 'schedule "%" already exists', name USING ERRCODE = 'unique_violation',
                DETAIL = format('It belongs to role %s; a monitor''s schedule takes the monitor''s name.', owner),
                HINT = 'Choose another monitor name.';
        END IF;
        PERFORM mlops._arm_schedule(s);
        UPDATE mlops.drift_monitors x SET schedule_id = s.schedule_id WHERE x.monitor_id = m.monitor_id;
    END IF;
    RETURN m.monitor_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.drop_drift_monitor(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m mlops.drift_monitors;
    s mlops.schedules;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_drift_monitor');
    m := mlops._own_monitor(name);
    SELECT * INTO s FROM mlops.schedules x WHERE x.schedule_id = m.schedule_id FOR UPDATE;
    IF FOUND THEN
        PERFORM mlops._disarm_schedule(s);
        DELETE FROM mlops.schedules x WHERE x.schedule_id = s.schedule_id;
    END IF;
    DELETE FROM mlops.drift_monitors x WHERE x.monitor_id = m.monitor_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._drift_record(job_run_id bigint, monitor_name text, results jsonb,
                                    window_start timestamptz, window_end timestamptz) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m mlops.drift_monitors;
    v record;
    cid bigint;
    now_ts timestamptz := clock_timestamp();
    r jsonb;
    new_alerts bigint[] := '{}';
    aid bigint;
    drifted_features text[];
    payload jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'run_drift_monitor');
    m := mlops._own_monitor(monitor_name);
    IF NOT EXISTS (SELECT FROM mlops.job_runs j
                    WHERE j.job_run_id = _drift_record.job_run_id AND j.status = 'running' AND j.kind = 'drift_monitor'
                      AND j.job_name = m.name AND j.backend_pid = pg_backend_pid() AND j.run_by = mlops._invoking_user()) THEN
        RAISE EXCEPTION 'job run % is not a run of drift monitor "%" in this session', job_run_id, monitor_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF jsonb_typeof(results) <> 'array' THEN
        RAISE EXCEPTION 'results must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO v FROM mlops._drift_verdict(ARRAY(SELECT coalesce((x ->> 'drifted')::boolean, false)
                                                      FROM jsonb_array_elements(results) x), m.options);
    INSERT INTO mlops.drift_checks AS c (monitor_id, job_run_id, checked_at, window_start, window_end, n_rows,
                                         n_features, n_drifted, share_drifted, drift_share, dataset_drifted)
    VALUES (m.monitor_id, job_run_id, now_ts, window_start, window_end,
            (SELECT max((x -> 'stats' ->> 'n_rows')::bigint) FROM jsonb_array_elements(results) x),
            v.n_features, v.n_drifted, v.share_drifted, v.drift_share, v.dataset_drifted)
    RETURNING c.check_id INTO cid;
    INSERT INTO mlops.drift_history (check_id, monitor_id, checked_at, feature, kind, n_reference, n_current, method,
                                     statistic, p_value, threshold, drifted, stats)
    SELECT cid, m.monitor_id, now_ts, x ->> 'feature', x ->> 'kind', (x ->> 'n_reference')::bigint,
           (x ->> 'n_current')::bigint, x ->> 'method', (x ->> 'statistic')::float8, (x ->> 'p_value')::float8,
           (x ->> 'threshold')::float8, (x ->> 'drifted')::boolean, coalesce(x -> 'stats', '{}')
      FROM jsonb_array_elements(results) x;

    -- alerts: one open alert per drifting feature (and for the dataset)
    FOR r IN SELECT x FROM jsonb_array_elements(results) x
             UNION ALL
             SELECT jsonb_build_object('feature', NULL, 'drifted', v.dataset_drifted, 'method', 'drift_share',
                                       'statistic', v.share_drifted, 'threshold', v.drift_share) LOOP
        IF coalesce((r ->> 'drifted')::boolean, false) THEN
            UPDATE mlops.drift_alerts a SET last_seen_at = now_ts, checks = a.checks + 1, check_id = cid,
                   statistic = (r ->> 'statistic')::float8, p_value = (r ->> 'p_value')::float8
             WHERE a.monitor_id = m.monitor_id AND a.feature IS NOT DISTINCT FROM (r ->> 'feature')
               AND a.status <> 'resolved';
            IF NOT FOUND THEN
                INSERT INTO mlops.drift_alerts AS a (monitor_id, check_id, feature, method, statistic, p_value,
                                                     threshold, raised_at, last_seen_at)
                VALUES (m.monitor_id, cid, r ->> 'feature', r ->> 'method', (r ->> 'statistic')::float8,
                        (r ->> 'p_value')::float8, (r ->> 'threshold')::float8, now_ts, now_ts)
                RETURNING a.alert_id INTO aid;
                new_alerts := new_alerts || aid;
            END IF;
        ELSIF (r ->> 'drifted') IS NOT NULL THEN
            UPDATE mlops.drift_alerts a SET status = 'resolved', closed_at = now_ts,
                   note = coalesce(a.note, 'no longer drifting at check ' || cid)
             WHERE a.monitor_id = m.monitor_id AND a.feature IS NOT DISTINCT FROM (r ->> 'feature')
               AND a.status <> 'resolved';
        END IF;
    END LOOP;

    drifted_features := ARRAY(SELECT x ->> 'feature' FROM jsonb_array_elements(results) x
                               WHERE (x ->> 'drifted')::boolean);
    IF cardinality(drifted_features) > 0 OR v.dataset_drifted THEN
        payload := jsonb_build_object('monitor', m.name, 'check_id', cid, 'job_run_id', job_run_id,
                                      'checked_at', now_ts, 'dataset_drifted', v.dataset_drifted,
                                      'share_drifted', v.share_drifted, 'new_alert_ids', to_jsonb(new_alerts),
                                      'drifted_features', to_jsonb(drifted_features[1:50]));
        PERFORM pg_notify('mlops_drift', payload::text);
    END IF;
    RETURN cid;
END
$$;

CREATE OR REPLACE PROCEDURE mlops.run_drift_monitor(name text)
LANGUAGE plpgsql
AS $$
DECLARE
    m record;
    run record;
    w_end timestamptz;
    w_start timestamptz;
    cur text;
    results jsonb;
    n_rows bigint;
    run_note text;
    err_state text;
    err_message text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'run_drift_monitor');
    SELECT * INTO m FROM mlops.drift_monitors x WHERE x.name = run_drift_monitor.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drift monitor "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF m.created_by <> current_user THEN
        RAISE EXCEPTION 'drift monitor "%" belongs to role %', m.name, m.created_by
            USING ERRCODE = 'insufficient_privilege', DETAIL = 'A monitor runs only as the role that created it.';
    END IF;
    run := mlops._job_run_start(m.name, 'drift_monitor', m.schedule_id, NULL, m.source, NULL, NULL);
    COMMIT;
    BEGIN
        w_end := clock_timestamp();
        cur := m.source;
        IF m.timestamp_column IS NOT NULL THEN
            w_start := w_end - m.time_window;
            cur := format('SELECT * FROM %s w WHERE w.%I > %L::timestamptz AND w.%I <= %L::timestamptz',
                          mlops._source_sql(m.source), m.timestamp_column, w_start, m.timestamp_column, w_end);
        END IF;
        SELECT coalesce(jsonb_agg(to_jsonb(r) - 'histogram'), '[]'), max((r.stats ->> 'n_rows')::bigint)
          INTO results, n_rows
          FROM mlops._drift_rows(m.baseline, cur, m.options - 'drift_share') r;
        PERFORM mlops._drift_record(run.job_run_id, m.name, results, w_start, w_end);
        -- the note a job dashboard shows: how many features drifted, and the first 20 by name
        SELECT format('%s of %s features drifted', count(*) FILTER (WHERE d.drifted), count(*))
               || coalesce(': ' || array_to_string((array_agg(d.feature ORDER BY d.ord) FILTER (WHERE d.drifted))[1:20], ', ')
                           || CASE WHEN count(*) FILTER (WHERE d.drifted) > 20 THEN ', ...' ELSE '' END, '')
          INTO run_note
          FROM (SELECT x ->> 'feature' AS feature, (x ->> 'drifted')::boolean AS drifted, ord
                  FROM jsonb_array_elements(results) WITH ORDINALITY AS a(x, ord)) d;
        PERFORM mlops._job_run_finish(run.job_run_id, 'succeeded', coalesce(n_rows, 0), 0, 0, NULL, NULL, run_note);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        PERFORM mlops._job_run_finish(run.job_run_id, CASE WHEN err_state = '57014' THEN 'cancelled' ELSE 'failed' END,
                                      NULL, 0, NULL, err_state || ': ' || err_message, NULL);
        COMMIT;
        PERFORM pg_advisory_unlock(1836019578, run.lock_key);
        RAISE;
    END;
    COMMIT;
    PERFORM pg_advisory_unlock(1836019578, run.lock_key);
END
$$;

CREATE OR REPLACE FUNCTION mlops.acknowledge_drift_alert(alert_id bigint, note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'acknowledge_drift_alert');
    PERFORM mlops._close_drift_alert(alert_id, 'acknowledged', note);
END
$$;

CREATE OR REPLACE FUNCTION mlops.resolve_drift_alert(alert_id bigint, note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'resolve_drift_alert');
    PERFORM mlops._close_drift_alert(alert_id, 'resolved', note);
END
$$;

CREATE OR REPLACE FUNCTION mlops._close_drift_alert(alert_id bigint, status text, note text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a record;
BEGIN
    IF note IS NOT NULL THEN
        PERFORM mlops._check_value('note', note, 2000);
    END IF;
    SELECT x.*, m.created_by INTO a FROM mlops.drift_alerts x JOIN mlops.drift_monitors m USING (monitor_id)
     WHERE x.alert_id = _close_drift_alert.alert_id FOR UPDATE OF x;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'drift alert % does not exist', alert_id USING ERRCODE = 'undefined_object';
    END IF;
    IF a.created_by <> mlops._invoking_user() AND NOT pg_has_role(mlops._invoking_user(), 'mlops_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'drift alert % is of a monitor of role %', alert_id, a.created_by
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF a.status = 'resolved' THEN
        RAISE EXCEPTION 'drift alert % is already resolved', alert_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE mlops.drift_alerts x SET status = _close_drift_alert.status, closed_by = mlops._invoking_user(),
           closed_at = clock_timestamp(), note = coalesce(_close_drift_alert.note, x.note)
     WHERE x.alert_id = a.alert_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._html_escape(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(regexp_replace(replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                                                       '"', '&quot;'), '''', '&#39;'),
                               '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]', U&'\FFFD', 'g'), '');

CREATE OR REPLACE FUNCTION mlops._html_number(x float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN x IS NULL THEN '—'
            WHEN x = 'NaN' THEN 'NaN'
            WHEN x = 'Infinity' THEN '∞'
            WHEN x = '-Infinity' THEN '−∞'
            WHEN x = 0 THEN '0'
            WHEN abs(x) >= 1e6 OR abs(x) < 1e-3
                THEN regexp_replace(btrim(to_char(x, '9.99EEEE')), '\.?0+e', 'e')
            ELSE trim_scale(round(x::numeric, greatest(0, 3 - floor(log(abs(x)::numeric))::int)))::text END;

CREATE OR REPLACE FUNCTION mlops._drift_chart_svg(kind text, histogram jsonb, note text, subnote text, label text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w constant float8 := 560;           -- the viewBox width
    x1 constant float8 := 548;          -- right end of the plot
    y0 constant float8 := 56;           -- top of the plot
    plot_h constant float8 := 160;
    y1 constant float8 := 56 + 160;     -- the x axis
    char_w constant float8 := 6.4;      -- an 11px label's mean character width
    max_slots constant int := 40;       -- numeric bins drawn (more are merged)
    max_cats constant int := 30;        -- categories drawn (the rest are "other")
    x0 float8 := 46;                    -- left end of the plot
    e float8[];
    r0 float8[];
    c0 float8[];
    names text[];
    ref float8[] := '{}';
    cur float8[] := '{}';
    lo float8[] := '{}';
    hi float8[] := '{}';
    lab text[] := '{}';                 -- axis labels: per slot (categorical) or per boundary (numeric)
    tip text[] := '{}';
    mark text[] := '{}';                -- '', 'new' or 'other'
    keep int[];
    bounds float8[];
    k int;
    n int;
    nnew int;
    g int;
    ymax float8;
    step float8;
    top float8;
    mag float8;
    sw float8;
    pad float8;
    bw float8;
    rotate boolean;
    label_len int;
    every int;
    angle float8;
    h float8;
    x float8;
    y float8;
    s text := '';
    any_new boolean := false;
    empty_current boolean;
BEGIN
    IF histogram IS NULL OR jsonb_typeof(histogram -> 'reference') IS DISTINCT FROM 'array' THEN
        RETURN '<p class="nochart">No histogram.</p>';
    END IF;
    r0 := ARRAY(SELECT coalesce(v::float8, 0) FROM jsonb_array_elements_text(histogram -> 'reference')
                  WITH ORDINALITY a(v, o) ORDER BY o);
    c0 := ARRAY(SELECT coalesce(v::float8, 0) FROM jsonb_array_elements_text(histogram -> 'current')
                  WITH ORDINALITY a(v, o) ORDER BY o);
    k := least(cardinality(r0), cardinality(c0));
    empty_current := NOT EXISTS (SELECT FROM unnest(c0) v WHERE v > 0);

    IF kind = 'numeric' THEN
        e := ARRAY(SELECT v::float8 FROM jsonb_array_elements_text(histogram -> 'edges')
                     WITH ORDINALITY a(v, o) ORDER BY o);
        bounds := ARRAY[(histogram ->> 'min')::float8] || e || ARRAY[(histogram ->> 'max')::float8];
        -- bins empty on both sides (repeated edges of a discrete feature) are not drawn
        FOR i IN 1 .. k LOOP
            CONTINUE WHEN r0[i] <= 0 AND c0[i] <= 0;
            ref := ref || r0[i];
            cur := cur || c0[i];
            lo := lo || CASE WHEN cardinality(bounds) = k + 1 THEN bounds[i] END;
            hi := hi || CASE WHEN cardinality(bounds) = k + 1 THEN bounds[i + 1] END;
            tip := tip || CASE WHEN cardinality(bounds) <> k + 1 THEN 'bin ' || i
                               WHEN i = 1 THEN 'below ' || mlops._html_number(bounds[2])
                               WHEN i = k THEN mlops._html_number(bounds[k]) || ' and above'
                               ELSE mlops._html_number(bounds[i]) || ' to ' || mlops._html_number(bounds[i + 1]) END;
        END LOOP;
        n := cardinality(ref);
        IF n > max_slots THEN       -- merge neighbours, g at a time
            g := ceil(n / max_slots::float8);
            SELECT array_agg(rs ORDER BY grp), array_agg(cs ORDER BY grp), array_agg(l ORDER BY grp),
                   array_agg(u ORDER BY grp)
              INTO ref, cur, lo, hi
              FROM (SELECT (o - 1) / g AS grp, sum(ref[o]) AS rs, sum(cur[o]) AS cs,
                           min(lo[o]) AS l, max(hi[o]) AS u
                      FROM generate_series(1, n) o GROUP BY 1) m;
            tip := ARRAY(SELECT mlops._html_number(lo[o]) || ' to ' || mlops._html_number(hi[o])
                           FROM generate_series(1, cardinality(lo)) o);
            n := cardinality(ref);
        END IF;
        FOR i IN 1 .. n LOOP
            lab := lab || mlops._html_number(lo[i]);
            mark := mark || ''::text;
        END LOOP;
        lab := lab || mlops._html_number(hi[n]);
    ELSE
        names := ARRAY(SELECT v FROM jsonb_array_elements_text(histogram -> 'categories')
                         WITH ORDINALITY a(v, o) ORDER BY o);
        nnew := coalesce((histogram ->> 'new')::int, 0);
        k := least(k, cardinality(names));
        IF k > max_cats + 1 THEN
            keep := ARRAY(SELECT o FROM (SELECT o FROM generate_series(1, k) o
                                          ORDER BY greatest(r0[o], c0[o]) DESC, o LIMIT max_cats) t ORDER BY o);
        ELSE
            keep := ARRAY(SELECT generate_series(1, k));
        END IF;
        FOREACH g IN ARRAY keep LOOP
            ref := ref || r0[g];
            cur := cur || c0[g];
            lab := lab || CASE WHEN names[g] = '' THEN '(empty)'
                               WHEN length(names[g]) > 18 THEN left(names[g], 17) || '…' ELSE names[g] END;
            tip := tip || (CASE WHEN names[g] = '' THEN '(empty)' ELSE left(names[g], 500) END
                           || CASE WHEN g > k - nnew THEN ' (new)' ELSE '' END);
            mark := mark || CASE WHEN g > k - nnew THEN 'new' ELSE '' END;
            any_new := any_new OR g > k - nnew;
        END LOOP;
        -- the rest: one bar for the baseline's categories, one for new ones
        FOR i IN 0 .. 1 LOOP
            SELECT count(*), sum(r0[o]), sum(c0[o]) INTO g, x, y FROM generate_series(1, k) o
             WHERE o <> ALL (keep) AND (o > k - nnew) = (i = 1);
            CONTINUE WHEN g = 0;
            ref := ref || x;
            cur := cur || y;
            lab := lab || format(CASE i WHEN 0 THEN 'other (%s)' ELSE 'other new (%s)' END, g);
            tip := tip || format(CASE i WHEN 0 THEN '%s other categories of the reference' ELSE '%s other new categories' END, g);
            mark := mark || CASE i WHEN 0 THEN 'other' ELSE 'other new' END;
            any_new := any_new OR i = 1;
        END LOOP;
        n := cardinality(ref);
    END IF;
    IF n = 0 THEN
        RETURN '<p class="nochart">No values to draw.</p>';
    END IF;

    -- y axis: 0 to a round number above the tallest bar, 3 to 6 gridlines
    ymax := greatest((SELECT max(v) FROM unnest(ref || cur) v), 0.01);
    mag := power(10, floor(log(ymax / 5)));
    step := mag * CASE WHEN ymax / 5 / mag <= 1 THEN 1 WHEN ymax / 5 / mag <= 2 THEN 2
                       WHEN ymax / 5 / mag <= 5 THEN 5 ELSE 10 END;
    top := ceil(ymax / step - 1e-9) * step;

    -- x axis: labels level when they fit their slot, else slanted: 40
    -- degrees, or steeper for many categories, each of which keeps its label
    -- (numeric ones are thinned out instead)
    label_len := least((SELECT max(length(v)) FROM unnest(lab) v), 19);
    sw := (x1 - x0) / n;
    rotate := label_len * char_w + 6 > sw;
    angle := CASE WHEN rotate AND kind <> 'numeric' AND sw * sind(40) < 13 THEN 70 ELSE 40 END;
    IF rotate THEN
        -- the first label slants left from its slot or boundary: leave it room
        x0 := greatest(x0, least(length(lab[1]), 19) * char_w * cosd(angle) + 8
                           - CASE WHEN kind = 'numeric' THEN 0 ELSE sw / 2 END);
        sw := (x1 - x0) / n;
    END IF;
    every := CASE WHEN NOT rotate THEN 1
                  WHEN kind = 'numeric' THEN greatest(1, ceil(14 / (sw * sind(angle)))::int)
                  ELSE 1 END;
    pad := sw * 0.14;
    bw := (sw - 2 * pad) / 2;
    h := y1 + CASE WHEN rotate THEN label_len * char_w * sind(angle) + 8 * cosd(angle) + 14 ELSE 26 END
            + CASE WHEN kind = 'numeric' THEN 14 ELSE 0 END;

    s := format('<svg viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s" class="chart">',
                w, round(h::numeric), w, round(h::numeric), mlops._html_escape(label));
    -- notes and legend
    s := s || format('<text x="4" y="17" class="note">%s</text>', mlops._html_escape(note));
    s := s || format('<text x="4" y="36" class="subnote">%s</text>', mlops._html_escape(subnote));
    s := s || format('<rect x="%s" y="7" width="12" height="12" class="ref"/><text x="%s" y="17" class="legend">reference</text>'
                     '<rect x="%s" y="7" width="12" height="12" class="cur"/><text x="%s" y="17" class="legend">current</text>',
                     w - 166, w - 150, w - 76, w - 60);
    IF any_new THEN
        s := s || format('<rect x="%s" y="26" width="12" height="12" class="cur new"/><text x="%s" y="36" class="legend">new category</text>',
                         w - 116, w - 100);
    END IF;
    -- gridlines and the y axis
    FOR i IN 0 .. round(top / step)::int LOOP
        y := y1 - i * step / top * plot_h;
        s := s || format('<line x1="%s" x2="%s" y1="%s" y2="%s" class="%s"/><text x="%s" y="%s" class="ytick">%s%%</text>',
                         round(x0::numeric, 1), x1, round(y::numeric, 1), round(y::numeric, 1),
                         CASE WHEN i = 0 THEN 'axis' ELSE 'grid' END,
                         round((x0 - 5)::numeric, 1), round((y + 3.5)::numeric, 1),
                         mlops._html_number(round((100 * i * step)::numeric, 6)::float8));
    END LOOP;
    -- the bars, each slot with its tooltip
    FOR i IN 1 .. n LOOP
        x := x0 + (i - 1) * sw + pad;
        s := s || format('<g><title>%s: reference %s%%, current %s%%</title>', mlops._html_escape(tip[i]),
                         mlops._html_number(round((100 * ref[i])::numeric, 2)::float8),
                         mlops._html_number(round((100 * cur[i])::numeric, 2)::float8));
        s := s || format('<rect x="%s" y="%s" width="%s" height="%s" class="ref"/>',
                         round(x::numeric, 2), round((y1 - ref[i] / top * plot_h)::numeric, 2),
                         round(bw::numeric, 2), round((ref[i] / top * plot_h)::numeric, 2));
        s := s || format('<rect x="%s" y="%s" width="%s" height="%s" class="cur%s"/></g>',
                         round((x + bw)::numeric, 2), round((y1 - cur[i] / top * plot_h)::numeric, 2),
                         round(bw::numeric, 2), round((cur[i] / top * plot_h)::numeric, 2),
                         CASE WHEN mark[i] LIKE '%new' THEN ' new' ELSE '' END);
    END LOOP;
    -- x labels: numeric ones on the bin boundaries, categorical ones under their bars
    FOR i IN 1 .. cardinality(lab) LOOP
        CONTINUE WHEN (i - 1) % every <> 0;
        x := CASE WHEN kind = 'numeric' THEN x0 + (i - 1) * sw ELSE x0 + (i - 0.5) * sw END;
        IF kind = 'numeric' THEN
            s := s || format('<line x1="%s" x2="%s" y1="%s" y2="%s" class="axis"/>',
                             round(x::numeric, 1), round(x::numeric, 1), y1, y1 + 4);
        END IF;
        IF rotate THEN
            s := s || format('<text transform="translate(%s %s) rotate(-%s)" class="xtick%s" text-anchor="end">%s</text>',
                             round((x + 3)::numeric, 1), y1 + 13, angle, CASE WHEN mark[i] <> '' THEN ' ' || mark[i] ELSE '' END,
                             mlops._html_escape(lab[i]));
        ELSE
            s := s || format('<text x="%s" y="%s" class="xtick%s" text-anchor="middle">%s</text>',
                             round(x::numeric, 1), y1 + 16, CASE WHEN mark[i] <> '' THEN ' ' || mark[i] ELSE '' END,
                             mlops._html_escape(lab[i]));
        END IF;
    END LOOP;
    IF kind = 'numeric' THEN
        s := s || format('<text x="%s" y="%s" class="subnote" text-anchor="end">bins: quantiles of the reference, labelled by their edges</text>',
                         x1, round((h - 6)::numeric, 1));
    END IF;
    IF empty_current THEN
        s := s || format('<text x="%s" y="%s" class="subnote" text-anchor="middle">no current values</text>',
                         round(((x0 + x1) / 2)::numeric, 1), y0 + 20);
    END IF;
    RETURN s || '</svg>';
END
$$;

CREATE OR REPLACE FUNCTION mlops.drift_report_html(baseline text, current text, options jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    report_rows jsonb;
    b record;
    v record;
    r record;
    table_rows text := '';
    charts text := '';
    meta text;
    note text;
    subnote text;
    verdict text;
    n_rows bigint;
    version text;
    css constant text := $css$
:root{--ref:#4c78a8;--cur:#f58518;--bad:#c62828;--ok:#2e7d32;--muted:#6b7280;--line:#e5e7eb}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans","Helvetica Neue",Arial,sans-serif;color:#1f2937;background:#f5f6f8}
h1{font-size:22px;margin:0 0 6px;font-weight:650}
h2{font-size:16px;margin:26px 0 10px;font-weight:650}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:6px 0 0;font-size:13px}
.meta dt{color:var(--muted)}
.meta dd{margin:0;overflow-wrap:anywhere}
code{font:12px/1.4 "DejaVu Sans Mono",Menlo,Consolas,monospace;background:#eaecf0;padding:1px 5px;border-radius:3px;overflow-wrap:anywhere}
.verdict{display:flex;align-items:center;gap:24px;flex-wrap:wrap;background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:18px 0 0}
.verdict.drift{border-left:6px solid var(--bad)}
.verdict.nodrift{border-left:6px solid var(--ok)}
.badge{display:inline-block;font-weight:700;letter-spacing:.05em;padding:7px 16px;border-radius:6px;color:#fff;font-size:18px;white-space:nowrap}
.badge.drift{background:var(--bad)}
.badge.nodrift{background:var(--ok)}
.badge.none{background:var(--muted)}
.verdict .big{font-size:18px}
.verdict .small{color:var(--muted);font-size:13px}
.meter{position:relative;height:10px;background:#e5e7eb;border-radius:5px;width:280px;margin-top:8px}
.meter .fill{position:absolute;left:0;top:0;bottom:0;border-radius:5px}
.meter .fill.drift{background:var(--bad)}
.meter .fill.nodrift{background:var(--ok)}
.meter .mark{position:absolute;top:-5px;bottom:-5px;width:2px;background:#111827}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line);font-size:13px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#f0f2f5;font-weight:600;color:#374151}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.feat{white-space:normal;overflow-wrap:anywhere;max-width:320px}
td.feat a{color:inherit}
tr.drifted td.feat{box-shadow:inset 4px 0 var(--bad)}
.pill{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600}
.pill.yes{background:#fdecea;color:var(--bad)}
.pill.no{background:#e8f5e9;color:var(--ok)}
.pill.na{background:#eef0f3;color:var(--muted)}
.kind{color:var(--muted);font-size:12px;font-weight:400}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px 8px}
.card.drifted{border-top:4px solid var(--bad)}
.card h3{margin:0 0 6px;font-size:15px;font-weight:650;overflow-wrap:anywhere}
.card svg{width:100%;height:auto;display:block}
.nochart{color:var(--muted)}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;fill:#374151}
svg .note{font-size:12.5px;font-weight:600;fill:#111827}
svg .subnote{font-size:11px;fill:var(--muted)}
svg .legend{font-size:11px}
svg .ytick{font-size:10px;text-anchor:end;fill:var(--muted)}
svg .xtick{font-size:11px}
svg .xtick.new{fill:var(--bad);font-weight:600}
svg .xtick.other{font-style:italic;fill:var(--muted)}
svg .xtick.other.new{fill:var(--bad)}
svg .grid{stroke:#eceef1;stroke-width:1}
svg .axis{stroke:#9ca3af;stroke-width:1}
svg rect.ref{fill:var(--ref)}
svg rect.cur{fill:var(--cur)}
svg rect.new{stroke:var(--bad);stroke-width:1.5}
footer{margin-top:28px;color:var(--muted);font-size:12px;max-width:900px}
$css$;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'drift_report_html');
    -- the current data is read once: every row of the report, in the baseline's order
    SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.ordinality), '[]') INTO report_rows
      FROM mlops._drift_rows(baseline, current, options) WITH ORDINALITY x;
    SELECT * INTO v FROM mlops._drift_verdict(ARRAY(SELECT coalesce((x ->> 'drifted')::boolean, false)
                                                      FROM jsonb_array_elements(report_rows) x), options);
    SELECT x.* INTO b FROM mlops.drift_baselines x WHERE x.name = baseline;
    SELECT max((x -> 'stats' ->> 'n_rows')::bigint) INTO n_rows FROM jsonb_array_elements(report_rows) x;
    SELECT e.extversion INTO version FROM pg_catalog.pg_extension e WHERE e.extname = 'mlops';

    FOR r IN SELECT (x ->> 'ordinality')::int AS ord, x ->> 'feature' AS feature, x ->> 'kind' AS kind,
                    x ->> 'method' AS method, (x ->> 'statistic')::float8 AS statistic,
                    (x ->> 'p_value')::float8 AS p_value, (x ->> 'threshold')::float8 AS threshold,
                    (x ->> 'drifted')::boolean AS drifted, (x ->> 'n_reference')::bigint AS n_reference,
                    (x ->> 'n_current')::bigint AS n_current, x -> 'stats' AS stats, x -> 'histogram' AS histogram,
                    c.null_rate AS ref_null_rate
               FROM jsonb_array_elements(report_rows) x
               LEFT JOIN mlops.drift_baseline_columns c ON c.baseline_id = b.baseline_id AND c.column_name = x ->> 'feature'
              ORDER BY coalesce((x ->> 'drifted')::boolean, false) DESC, (x ->> 'ordinality')::int LOOP
        note := CASE r.method WHEN 'ks' THEN 'KS' WHEN 'chisquare' THEN 'χ²' WHEN 'psi' THEN 'PSI'
                              WHEN 'wasserstein' THEN 'Wasserstein (norm.)' WHEN 'js' THEN 'Jensen–Shannon'
                              ELSE r.method END;
        IF r.statistic IS NULL AND r.p_value IS NULL THEN
            note := note || ': no current values, no verdict';
        ELSIF r.method IN ('ks', 'chisquare') THEN
            note := note || format('%s = %s, p = %s %s %s → %s', CASE r.method WHEN 'ks' THEN ' D' ELSE '' END,
                                   mlops._html_number(r.statistic), mlops._html_number(r.p_value),
                                   CASE WHEN r.drifted THEN '<' ELSE '≥' END, mlops._html_number(r.threshold),
                                   CASE WHEN r.drifted THEN 'drifted' ELSE 'no drift' END);
        ELSE
            note := note || format(' = %s %s %s → %s', mlops._html_number(r.statistic),
                                   CASE WHEN r.drifted THEN '≥' ELSE '<' END, mlops._html_number(r.threshold),
                                   CASE WHEN r.drifted THEN 'drifted' ELSE 'no drift' END);
        END IF;
        IF r.kind = 'numeric' THEN
            subnote := format('mean %s → %s · std %s → %s · outside the reference range %s%%',
                              mlops._html_number((r.stats ->> 'reference_mean')::float8),
                              mlops._html_number((r.stats ->> 'mean')::float8),
                              mlops._html_number((r.stats ->> 'reference_std')::float8),
                              mlops._html_number((r.stats ->> 'std')::float8),
                              mlops._html_number(round(100 * (r.stats ->> 'out_of_range_rate')::numeric, 2)::float8));
        ELSE
            subnote := format('%s categories in the reference · %s',
                              jsonb_array_length(r.histogram -> 'categories') - coalesce((r.histogram ->> 'new')::int, 0),
                              CASE WHEN coalesce((r.histogram ->> 'new')::int, 0) = 0 THEN 'no new categories'
                                   ELSE format('%s new, %s%% of current rows', (r.histogram ->> 'new')::int,
                                               mlops._html_number(round(100 * (r.stats ->> 'new_category_rate')::numeric, 2)::float8))
                              END);
        END IF;

        table_rows := table_rows || format(
            '<tr class="%s"><td class="feat"><a href="#f%s">%s</a></td><td>%s</td><td>%s</td><td class="num">%s</td>'
            '<td class="num">%s</td><td class="num">%s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td>'
            '<td class="num">%s → %s</td></tr>' || chr(10),
            CASE WHEN r.drifted THEN 'drifted' ELSE 'ok' END, r.ord, mlops._html_escape(r.feature),
            mlops._html_escape(r.kind), mlops._html_escape(r.method), mlops._html_number(r.statistic),
            mlops._html_number(r.p_value), mlops._html_number(r.threshold),
            CASE WHEN r.drifted THEN '<span class="pill yes">drifted</span>'
                 WHEN NOT r.drifted THEN '<span class="pill no">no</span>' ELSE '<span class="pill na">n/a</span>' END,
            to_char(r.n_reference, 'FM999,999,999,999,990'), to_char(r.n_current, 'FM999,999,999,999,990'),
            CASE WHEN r.ref_null_rate IS NULL THEN '—' ELSE round((100 * r.ref_null_rate)::numeric, 1) || '%' END,
            CASE WHEN r.stats ->> 'null_rate' IS NULL THEN '—'
                 ELSE round(100 * (r.stats ->> 'null_rate')::numeric, 1) || '%' END);

        charts := charts || format(
            '<section class="card%s" id="f%s"><h3>%s <span class="kind">%s</span> %s</h3>%s</section>' || chr(10),
            CASE WHEN r.drifted THEN ' drifted' ELSE '' END, r.ord, mlops._html_escape(r.feature),
            mlops._html_escape(r.kind),
            CASE WHEN r.drifted THEN '<span class="pill yes">drifted</span>'
                 WHEN NOT r.drifted THEN '<span class="pill no">no drift</span>' ELSE '<span class="pill na">n/a</span>' END,
            mlops._drift_chart_svg(r.kind, r.histogram, note, subnote,
                                   format('Reference and current distribution of %s', r.feature)));
    END LOOP;

    verdict := CASE WHEN v.n_features = 0 THEN 'none' WHEN v.dataset_drifted THEN 'drift' ELSE 'nodrift' END;
    meta := format('<dl class="meta"><dt>Baseline</dt><dd><strong>%s</strong> — captured from <code>%s</code> '
                   '(%s, %s rows) on %s by %s</dd>'
                   '<dt>Current data</dt><dd><code>%s</code> (%s rows)</dd>'
                   '%s<dt>Generated</dt><dd>%s by mlops %s</dd></dl>',
                   mlops._html_escape(baseline),
                   mlops._html_escape(CASE WHEN length(b.source) > 600 THEN left(b.source, 600) || '…' ELSE b.source END),
                   mlops._html_escape(b.source_kind), to_char(b.n_rows, 'FM999,999,999,999,990'),
                   to_char(b.created_at, 'YYYY-MM-DD HH24:MI:SS TZ'), mlops._html_escape(b.created_by),
                   mlops._html_escape(CASE WHEN length(current) > 600 THEN left(current, 600) || '…' ELSE current END),
                   coalesce(to_char(n_rows, 'FM999,999,999,999,990'), '—'),
                   CASE WHEN options IS NOT NULL AND options <> '{}' THEN
                       '<dt>Options</dt><dd><code>' || mlops._html_escape(left(options::text, 600)) || '</code></dd>' END,
                   to_char(now(), 'YYYY-MM-DD HH24:MI:SS TZ'), mlops._html_escape(version));

    RETURN '<!DOCTYPE html>' || chr(10)
        || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || format('<title>Drift report: %s</title>', mlops._html_escape(baseline))
        || '<style>' || css || '</style></head>' || chr(10) || '<body>' || chr(10)
        || format('<header><h1>Drift report: %s vs %s</h1>%s</header>', mlops._html_escape(baseline),
                  CASE WHEN length(current) <= 60 AND mlops._source_sql(current) NOT LIKE '(%' THEN mlops._html_escape(current)
                       ELSE 'the current data' END, meta)
        || chr(10)
        || format('<section class="verdict %s"><span class="badge %s">%s</span><div><div class="big">'
                  '<strong>%s of %s</strong> features drifted (%s%%)</div>'
                  '<div class="meter"><div class="fill %s" style="width:%s%%"></div><div class="mark" style="left:%s%%"></div></div>'
                  '<div class="small">The dataset drifts when the share of drifted features reaches %s%% (drift_share).</div>'
                  '</div></section>',
                  verdict, verdict,
                  CASE verdict WHEN 'drift' THEN 'DRIFT' WHEN 'nodrift' THEN 'NO DRIFT' ELSE 'NO FEATURES' END,
                  v.n_drifted, v.n_features, mlops._html_number(round(100 * coalesce(v.share_drifted, 0)::numeric, 1)::float8),
                  verdict, round(100 * least(coalesce(v.share_drifted, 0), 1)::numeric, 2),
                  round(100 * least(greatest(v.drift_share, 0), 1)::numeric, 2),
                  mlops._html_number(round(100 * v.drift_share::numeric, 1)::float8))
        || chr(10) || '<h2>Features</h2>' || chr(10)
        || '<table><thead><tr><th>feature</th><th>kind</th><th>method</th><th class="num">statistic</th>'
        || '<th class="num">p-value</th><th class="num">threshold</th><th>drifted</th><th class="num">n reference</th>'
        || '<th class="num">n current</th><th class="num">null rate (ref → cur)</th></tr></thead><tbody>' || chr(10)
        || table_rows || '</tbody></table>' || chr(10)
        || '<h2>Distributions</h2>' || chr(10) || '<div class="charts">' || chr(10) || charts || '</div>' || chr(10)
        || '<footer>Bars are the share of each side''s non-null values per bin. Numeric bins are the baseline''s '
        || 'quantile bins, labelled by their edges; the first and last also hold current values beyond the '
        || 'reference''s range. KS and χ² flag drift when the p-value is below the threshold; Wasserstein '
        || '(normalised by the reference''s standard deviation), PSI and Jensen–Shannon when the statistic '
        || 'reaches it.</footer>' || chr(10)
        || '</body></html>' || chr(10);
END
$$;

CREATE OR REPLACE FUNCTION mlops._check_column_name(kind text, name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION '% must be a column name, not %', kind, coalesce('"' || name || '"', 'NULL')
            USING ERRCODE = 'invalid_name';
    END IF;
    IF octet_length(name) > 63 THEN
        RAISE EXCEPTION '% "%" is too long for a column name', kind, left(name, 80)
            USING ERRCODE = 'name_too_long', DETAIL = 'Column names have at most 63 bytes.';
    END IF;
    RETURN name;
END
$$;

CREATE OR REPLACE FUNCTION mlops._ttl_microseconds(ttl interval) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ttl IS NULL THEN
        RETURN NULL;
    END IF;
    IF date_part('year', ttl) <> 0 OR date_part('month', ttl) <> 0 THEN
        RAISE EXCEPTION 'ttl % has months or years, which have no fixed length', ttl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the ttl in days, hours, minutes or seconds: a day is exactly 86,400 seconds.';
    END IF;
    IF ttl <= interval '0' THEN
        RAISE EXCEPTION 'ttl must be positive, not %', ttl USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN (extract(epoch FROM ttl) * 1000000)::bigint;
END
$$;

CREATE OR REPLACE FUNCTION mlops._ttl_sql(ttl interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('interval %L', mlops._ttl_microseconds(ttl) || ' microseconds');

CREATE OR REPLACE FUNCTION mlops._qualified_source(source text) RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    src text := mlops._source_sql(source);
    rel regclass;
BEGIN
    IF src LIKE '(%' THEN
        RETURN src;
    END IF;
    rel := pg_catalog.to_regclass(src);
    IF rel IS NULL THEN
        RAISE EXCEPTION 'relation "%" does not exist', source USING ERRCODE = 'undefined_table';
    END IF;
    RETURN (SELECT format('%I.%I', n.nspname, c.relname)
              FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = rel);
END
$$;

CREATE OR REPLACE FUNCTION mlops.create_entity(name text, join_keys text[], description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    k text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_entity');
    PERFORM mlops._check_model_name('entity name', name);
    IF join_keys IS NULL OR cardinality(join_keys) = 0 THEN
        RAISE EXCEPTION 'an entity has at least one join key' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH k IN ARRAY join_keys LOOP
        PERFORM mlops._check_column_name('join key', k);
    END LOOP;
    IF cardinality(join_keys) <> (SELECT count(DISTINCT x) FROM unnest(join_keys) x) THEN
        RAISE EXCEPTION 'entity "%" names a join key twice', name USING ERRCODE = 'duplicate_column';
    END IF;
    IF description IS NOT NULL THEN
        PERFORM mlops._check_label('entity description', description, 5000);
    END IF;
    INSERT INTO mlops.entities (name, join_keys, description, created_by)
    VALUES (name, join_keys, description, mlops._invoking_user())
    ON CONFLICT ON CONSTRAINT entities_name_key DO NOTHING
    RETURNING entity_id INTO id;
    IF id IS NULL THEN
        RAISE EXCEPTION 'entity "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM mlops._features_changed();
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._source_columns(source_sql text, search_path text) RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_object_agg(d.name, jsonb_build_object('position', d.position,
                                                                   'type', format_type(d.type_oid, NULL),
                                                                   'type_oid', d.type_oid)), '{}')
          FROM mlops._describe_source(source_sql, search_path) d);

CREATE OR REPLACE FUNCTION mlops._create_feature_view(name text, entities text[], source text, source_sql text,
                                           timestamp_column text, features text[], ttl interval,
                                           created_timestamp_column text, description text, tags jsonb,
                                           search_path text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols jsonb;
    keys text[] := '{}';
    key_types text[] := '{}';
    feats text[] := '{}';
    feat_types text[] := '{}';
    ts_type text;
    e text;
    k text;
    f text;
    ent mlops.entities;
    id bigint;
    rel regclass;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_feature_view');
    PERFORM mlops._check_model_name('feature view name', name);
    -- its online table takes its name, and PostgreSQL would cut a longer one
    IF octet_length(name) > 63 THEN
        RAISE EXCEPTION 'feature view name "%" is too long', left(name, 80) USING ERRCODE = 'name_too_long',
            DETAIL = 'A feature view''s online table takes its name: at most 63 bytes.';
    END IF;
    -- what runs is the source as given, resolved by the caller's search_path
    -- (only the lookup runs under it: nothing else may resolve there)
    IF source_sql IS DISTINCT FROM mlops._source_sql(source) THEN
        IF mlops._source_sql(source) NOT LIKE '(%' THEN
            PERFORM pg_catalog.set_config('search_path', coalesce(search_path, ''), true);
            rel := pg_catalog.to_regclass(mlops._source_sql(source));
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        END IF;
        IF rel IS NULL OR source_sql IS DISTINCT FROM (SELECT format('%I.%I', n.nspname, c.relname)
                                                          FROM pg_catalog.pg_class c
                                                          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                                                         WHERE c.oid = rel) THEN
            RAISE EXCEPTION 'source_sql is not the source "%"', left(source, 200)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF entities IS NULL OR cardinality(entities) = 0 OR array_position(entities, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a feature view names at least one entity, and no NULLs' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mlops._check_column_name('timestamp column', timestamp_column);
    IF created_timestamp_column IS NOT NULL THEN
        PERFORM mlops._check_column_name('created timestamp column', created_timestamp_column);
        IF created_timestamp_column = timestamp_column THEN
            RAISE EXCEPTION 'the created timestamp column must not be the event timestamp column'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    PERFORM mlops._ttl_microseconds(ttl);
    IF description IS NOT NULL THEN
        PERFORM mlops._check_label('feature view description', description, 5000);
    END IF;
    IF tags IS NOT NULL AND (jsonb_typeof(tags) <> 'object'
                             OR EXISTS (SELECT FROM jsonb_each(tags) t WHERE jsonb_typeof(t.value) <> 'string')) THEN
        RAISE EXCEPTION 'tags must be a JSON object of strings' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOREACH e IN ARRAY entities LOOP
        SELECT * INTO ent FROM mlops.entities x WHERE x.name = e;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'entity "%" does not exist', e USING ERRCODE = 'undefined_object',
                HINT = 'Create it with mlops.create_entity(name, join_keys).';
        END IF;
        FOREACH k IN ARRAY ent.join_keys LOOP
            IF k = ANY (keys) THEN
                RAISE EXCEPTION 'join key "%" belongs to two of the view''s entities', k
                    USING ERRCODE = 'duplicate_column';
            END IF;
            keys := keys || k;
        END LOOP;
    END LOOP;
    IF cardinality(entities) <> (SELECT count(DISTINCT x) FROM unnest(entities) x) THEN
        RAISE EXCEPTION 'feature view "%" names an entity twice', name USING ERRCODE = 'duplicate_object';
    END IF;

    cols := mlops._source_columns(source_sql, search_path);
    FOREACH k IN ARRAY keys LOOP
        IF NOT cols ? k THEN
            RAISE EXCEPTION 'the source of feature view "%" has no column "%" (a join key of its entities)', name, k
                USING ERRCODE = 'undefined_column';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am a ON a.oid = o.opcmethod
                        WHERE a.amname = 'hash' AND o.opcdefault
                          AND o.opcintype = mlops._base_type((cols -> k ->> 'type_oid')::oid))
           OR NOT EXISTS (SELECT FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am a ON a.oid = o.opcmethod
                           WHERE a.amname = 'btree' AND o.opcdefault
                             AND o.opcintype = mlops._base_type((cols -> k ->> 'type_oid')::oid)) THEN
            RAISE EXCEPTION 'join key "%" is of type %, which cannot be a key', k, cols -> k ->> 'type'
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = 'Keys are compared for equality and hashed: their type needs default btree and hash operator classes.';
        END IF;
        key_types := key_types || (cols -> k ->> 'type');
    END LOOP;
    IF NOT cols ? timestamp_column THEN
        RAISE EXCEPTION 'the source of feature view "%" has no column "%"', name, timestamp_column
            USING ERRCODE = 'undefined_column';
    END IF;
    ts_type := cols -> timestamp_column ->> 'type';
    IF ts_type NOT IN ('timestamp with time zone', 'timestamp without time zone') THEN
        RAISE EXCEPTION 'timestamp column "%" is of type %', timestamp_column, ts_type
            USING ERRCODE = 'datatype_mismatch', HINT = 'Event timestamps are timestamptz or timestamp; cast in a query source.';
    END IF;
    IF created_timestamp_column IS NOT NULL THEN
        IF NOT cols ? created_timestamp_column THEN
            RAISE EXCEPTION 'the source of feature view "%" has no column "%"', name, created_timestamp_column
                USING ERRCODE = 'undefined_column';
        END IF;
        IF cols -> created_timestamp_column ->> 'type' NOT IN ('timestamp with time zone', 'timestamp without time zone') THEN
            RAISE EXCEPTION 'created timestamp column "%" is of type %', created_timestamp_column,
                            cols -> created_timestamp_column ->> 'type'
                USING ERRCODE = 'datatype_mismatch', HINT = 'Created timestamps are timestamptz or timestamp.';
        END IF;
    END IF;
    IF features IS NULL THEN
        features := ARRAY(SELECT c.key FROM jsonb_each(cols) c
                           WHERE NOT c.key = ANY (keys) AND c.key <> timestamp_column
                             AND c.key IS DISTINCT FROM created_timestamp_column
                           ORDER BY (c.value ->> 'position')::int);
    END IF;
    IF cardinality(features) = 0 THEN
        RAISE EXCEPTION 'feature view "%" has no features', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Its source needs a column besides the join keys and timestamps.';
    END IF;
    FOREACH f IN ARRAY features LOOP
        PERFORM mlops._check_column_name('feature', f);
        IF NOT cols ? f THEN
            RAISE EXCEPTION 'the source of feature view "%" has no column "%"', name, f USING ERRCODE = 'undefined_column';
        END IF;
        IF f = ANY (keys) OR f = timestamp_column OR f = created_timestamp_column THEN
            RAISE EXCEPTION 'column "%" is a key or timestamp of feature view "%", not a feature', f, name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF f = ANY (feats) THEN
            RAISE EXCEPTION 'feature view "%" lists feature "%" twice', name, f USING ERRCODE = 'duplicate_column';
        END IF;
        feats := feats || f;
        feat_types := feat_types || (cols -> f ->> 'type');
    END LOOP;

    INSERT INTO mlops.feature_views (name, entities, join_keys, key_types, source, source_sql, timestamp_column,
                                     timestamp_type, created_timestamp_column, ttl, features, feature_types,
                                     description, tags, created_by)
    VALUES (name, entities, keys, key_types, source, source_sql, timestamp_column, ts_type,
            created_timestamp_column, ttl, feats, feat_types, description, coalesce(tags, '{}'),
            mlops._invoking_user())
    ON CONFLICT ON CONSTRAINT feature_views_name_key DO NOTHING
    RETURNING view_id INTO id;
    IF id IS NULL THEN
        RAISE EXCEPTION 'feature view "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM mlops._features_changed();
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._base_type(type_oid oid) RETURNS oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
                   FROM pg_catalog.pg_type t WHERE t.oid = type_oid), type_oid);

CREATE OR REPLACE FUNCTION mlops.create_feature_view(name text, entities text[], source text, timestamp_column text,
                                          features text[] DEFAULT NULL, ttl interval DEFAULT NULL,
                                          created_timestamp_column text DEFAULT NULL,
                                          description text DEFAULT NULL, tags jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_feature_view');
    RETURN mlops._create_feature_view(name, entities, source, mlops._qualified_source(source), timestamp_column,
                                      features, ttl, created_timestamp_column, description, tags,
                                      pg_catalog.current_setting('search_path'));
END
$$;

CREATE OR REPLACE FUNCTION mlops._feature_ref(ref text, OUT view_name text, OUT feature text, OUT feature_type text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
    i int;
BEGIN
    IF ref IS NULL OR position(':' IN ref) = 0 THEN
        RAISE EXCEPTION 'feature reference % is not of the form ''view:feature''', coalesce('"' || left(ref, 200) || '"', 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    view_name := split_part(ref, ':', 1);
    feature := substr(ref, length(view_name) + 2);
    SELECT * INTO v FROM mlops.feature_views x WHERE x.name = view_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', left(view_name, 200) USING ERRCODE = 'undefined_object';
    END IF;
    i := array_position(v.features, feature);
    IF i IS NULL THEN
        RAISE EXCEPTION 'feature view "%" has no feature "%"', view_name, left(feature, 200)
            USING ERRCODE = 'undefined_column',
                  DETAIL = format('Its features are %s.', array_to_string(v.features, ', '));
    END IF;
    feature_type := v.feature_types[i];
END
$$;

CREATE OR REPLACE FUNCTION mlops.create_feature_service(name text, features text[], description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_feature_service');
    PERFORM mlops._check_model_name('feature service name', name);
    IF features IS NULL OR cardinality(features) = 0 THEN
        RAISE EXCEPTION 'a feature service lists at least one feature' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mlops._feature_ref(f) FROM unnest(features) f;
    IF cardinality(features) <> (SELECT count(DISTINCT f) FROM unnest(features) f) THEN
        RAISE EXCEPTION 'feature service "%" lists a feature twice', name USING ERRCODE = 'duplicate_column';
    END IF;
    IF description IS NOT NULL THEN
        PERFORM mlops._check_label('feature service description', description, 5000);
    END IF;
    INSERT INTO mlops.feature_services (name, features, description, created_by)
    VALUES (name, features, description, mlops._invoking_user())
    ON CONFLICT ON CONSTRAINT feature_services_name_key DO NOTHING
    RETURNING service_id INTO id;
    IF id IS NULL THEN
        RAISE EXCEPTION 'feature service "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM mlops._features_changed();
    RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._may_drop(kind text, name text, owner name) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF owner <> mlops._invoking_user()
       AND NOT pg_catalog.pg_has_role(mlops._invoking_user(), 'mlops_admin', 'USAGE') THEN
        RAISE EXCEPTION '% "%" belongs to role %', kind, name, owner USING ERRCODE = 'insufficient_privilege',
            HINT = 'Only the role that created it, or an mlops_admin, drops it.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops.drop_feature_service(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s mlops.feature_services;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_feature_service');
    SELECT * INTO s FROM mlops.feature_services x WHERE x.name = drop_feature_service.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature service "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._may_drop('feature service', s.name, s.created_by);
    DELETE FROM mlops.feature_services x WHERE x.service_id = s.service_id;
    PERFORM mlops._features_changed();
END
$$;

CREATE OR REPLACE FUNCTION mlops.drop_feature_view(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
    users text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_feature_view');
    SELECT * INTO v FROM mlops.feature_views x WHERE x.name = drop_feature_view.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._may_drop('feature view', v.name, v.created_by);
    SELECT string_agg(format('"%s"', s.name), ', ' ORDER BY s.name) INTO users
      FROM mlops.feature_services s
     WHERE EXISTS (SELECT FROM unnest(s.features) f WHERE split_part(f, ':', 1) = v.name);
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'feature view "%" is used by feature services %', v.name, users
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those services first.';
    END IF;
    IF EXISTS (SELECT FROM mlops.schedules s WHERE s.kind = 'materialize_online' AND s.spec ->> 'view' = v.name) THEN
        RAISE EXCEPTION 'feature view "%" is materialized on a schedule', v.name
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop the schedule first (mlops.drop_schedule).';
    END IF;
    IF v.online_table IS NOT NULL THEN
        EXECUTE format('DROP TABLE IF EXISTS %s', v.online_table);
    END IF;
    DELETE FROM mlops.feature_views x WHERE x.view_id = v.view_id;
    PERFORM mlops._features_changed();
END
$$;

CREATE OR REPLACE FUNCTION mlops.drop_entity(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e mlops.entities;
    users text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_entity');
    SELECT * INTO e FROM mlops.entities x WHERE x.name = drop_entity.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'entity "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._may_drop('entity', e.name, e.created_by);
    SELECT string_agg(format('"%s"', v.name), ', ' ORDER BY v.name) INTO users
      FROM mlops.feature_views v WHERE e.name = ANY (v.entities);
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'entity "%" is used by feature views %', e.name, users
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those views first.';
    END IF;
    DELETE FROM mlops.entities x WHERE x.entity_id = e.entity_id;
    PERFORM mlops._features_changed();
END
$$;

CREATE OR REPLACE FUNCTION mlops._features_changed() RETURNS void
    AS 'MODULE_PATHNAME', 'mlops_features_changed' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._feature_view(name text) RETURNS mlops.feature_views
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
BEGIN
    SELECT * INTO v FROM mlops.feature_views x WHERE x.name = _feature_view.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', coalesce(left(name, 200), 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN v;
END
$$;

CREATE OR REPLACE FUNCTION mlops._check_view_source(v mlops.feature_views, search_path text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols jsonb;
    c record;
BEGIN
    BEGIN
        cols := mlops._source_columns(v.source_sql, search_path);
    EXCEPTION WHEN undefined_table OR undefined_column OR undefined_function OR syntax_error THEN
        RAISE EXCEPTION 'the source of feature view "%" no longer runs: %', v.name, SQLERRM
            USING ERRCODE = SQLSTATE, DETAIL = format('Its source is %s.', left(v.source, 500));
    END;
    FOR c IN SELECT * FROM unnest(v.join_keys || v.timestamp_column || v.created_timestamp_column || v.features,
                                  v.key_types || v.timestamp_type
                                      || CASE WHEN v.created_timestamp_column IS NULL THEN NULL::text
                                              ELSE '?' END || v.feature_types) AS u(col, typ)
              WHERE u.col IS NOT NULL LOOP
        IF NOT cols ? c.col THEN
            RAISE EXCEPTION 'feature view "%" no longer matches its source', v.name
                USING ERRCODE = 'undefined_column',
                      DETAIL = format('Column "%s" is gone from %s.', c.col, left(v.source, 500)),
                      HINT = 'Restore the column, or drop and re-create the view.';
        END IF;
        IF c.typ <> '?' AND cols -> c.col ->> 'type' <> c.typ THEN
            RAISE EXCEPTION 'feature view "%" no longer matches its source', v.name
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = format('Column "%s" was %s and is now %s.', c.col, c.typ, cols -> c.col ->> 'type'),
                      HINT = 'Restore the type, or drop and re-create the view.';
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION mlops._requested_features(features text[], full_feature_names boolean)
RETURNS TABLE (ord int, view_name text, feature text, feature_type text, out_name text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    refs text[] := features;
    svc mlops.feature_services;
BEGIN
    IF features IS NULL OR cardinality(features) = 0 OR array_position(features, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'features lists ''view:feature'' references or names a feature service (no NULLs)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(features) = 1 AND position(':' IN features[1]) = 0 THEN
        SELECT * INTO svc FROM mlops.feature_services s WHERE s.name = _requested_features.features[1];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'feature service "%" does not exist', left(features[1], 200)
                USING ERRCODE = 'undefined_object',
                      HINT = 'features is a feature service''s name or a list of ''view:feature'' references.';
        END IF;
        refs := svc.features;
    END IF;
    RETURN QUERY
    SELECT u.o::int, r.view_name, r.feature, r.feature_type,
           CASE WHEN full_feature_names THEN r.view_name || '__' || r.feature ELSE r.feature END
      FROM unnest(refs) WITH ORDINALITY AS u(ref, o), LATERAL mlops._feature_ref(u.ref) r
     ORDER BY u.o;
END
$$;

CREATE OR REPLACE FUNCTION mlops.feature_service_problem(service text, model text) RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    sig jsonb;
    feats record;
    n_sig int;
    n_svc int;
    i int := 0;
    f jsonb;
    kind text;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'feature_service_problem');
    IF NOT EXISTS (SELECT FROM mlops.feature_services s WHERE s.name = service) THEN
        RAISE EXCEPTION 'feature service "%" does not exist', coalesce(left(service, 200), 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT v.signature INTO sig FROM mlops.model_versions v
     WHERE v.version_id = (SELECT r.version_id FROM mlops._resolve_model(model) r);
    n_sig := jsonb_array_length(sig);
    SELECT count(*) INTO n_svc FROM mlops._requested_features(ARRAY[service], false);
    IF n_sig <> n_svc THEN
        RETURN format('the service has %s features and the model %s', n_svc, n_sig);
    END IF;
    FOR feats IN SELECT * FROM mlops._requested_features(ARRAY[service], false) r ORDER BY r.ord LOOP
        i := i + 1;
        f := sig -> (i - 1);
        IF f ->> 'name' IS DISTINCT FROM feats.feature THEN
            RETURN format('feature %s is "%s" in the service and "%s" in the model', i, feats.feature, f ->> 'name');
        END IF;
        kind := f ->> 'type';
        IF kind = 'numeric' AND NOT (feats.feature_type = 'double precision' OR EXISTS (
                SELECT FROM pg_catalog.pg_cast c WHERE c.castsource = feats.feature_type::regtype
                   AND c.casttarget = 'float8'::regtype)) THEN
            RETURN format('feature "%s" is numeric in the model and %s in the service', feats.feature, feats.feature_type);
        END IF;
        IF kind = 'categorical' AND NOT (feats.feature_type IN ('text', 'character varying', 'character', 'boolean',
                                                                   'smallint', 'integer', 'bigint')
                                         OR (SELECT t.typtype = 'e' FROM pg_catalog.pg_type t
                                              WHERE t.oid = feats.feature_type::regtype)) THEN
            RETURN format('feature "%s" is categorical in the model and %s in the service', feats.feature,
                          feats.feature_type);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION mlops._tie_order(v mlops.feature_views, alias text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(format('%s.%I DESC%s', alias, c, CASE WHEN o > 1 THEN ' NULLS LAST' ELSE '' END), ', '
                          ORDER BY o)
          FROM unnest(ARRAY[v.timestamp_column, v.created_timestamp_column] || v.features) WITH ORDINALITY AS u(c, o)
         WHERE c IS NOT NULL);

CREATE OR REPLACE FUNCTION mlops.training_set_query(entity_source text, features text[],
                                         event_timestamp_column text DEFAULT 'event_timestamp',
                                         full_feature_names boolean DEFAULT false, engine text DEFAULT 'merge')
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    sp text := pg_catalog.current_setting('search_path');
    src text;
    ecols text[];
    etypes text[];
    req_views text[];
    req_feats text[];
    req_outs text[];
    views text[];
    vname text;
    v mlops.feature_views;
    k text;
    dup text;
    joins text := '';
    cur_sql text;
    cur_cols text[];
    cur_types text[];
    view_feats text[];
    new_cols text[];
    view_specs jsonb := '[]';
    n int := 0;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'training_set_query');
    IF engine IS NULL OR engine NOT IN ('merge', 'lateral') THEN
        RAISE EXCEPTION 'engine is ''merge'' or ''lateral'', not %', coalesce(quote_literal(engine), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mlops._check_column_name('event timestamp column', event_timestamp_column);
    full_feature_names := coalesce(full_feature_names, false);
    src := mlops._source_sql(entity_source);
    SELECT array_agg(d.name ORDER BY d.position), array_agg(format_type(d.type_oid, NULL) ORDER BY d.position)
      INTO ecols, etypes
      FROM mlops._describe_source(src, sp) d;
    SELECT x INTO dup FROM unnest(ecols) x GROUP BY x HAVING count(*) > 1 LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'the entity source has two columns named "%"', dup USING ERRCODE = 'duplicate_column';
    END IF;
    IF array_position(ecols, event_timestamp_column) IS NULL THEN
        RAISE EXCEPTION 'the entity source has no column "%"', event_timestamp_column
            USING ERRCODE = 'undefined_column',
                  HINT = 'Name the column holding each row''s time in event_timestamp_column.';
    END IF;
    IF etypes[array_position(ecols, event_timestamp_column)]
           NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
        RAISE EXCEPTION 'event timestamp column "%" is of type %', event_timestamp_column,
                        etypes[array_position(ecols, event_timestamp_column)]
            USING ERRCODE = 'datatype_mismatch', HINT = 'Entity event times are timestamptz, timestamp or date.';
    END IF;

    -- the features asked for, the views they come from (in first-use order),
    -- and the output's column names, which must all differ
    SELECT array_agg(r.view_name ORDER BY r.ord), array_agg(r.feature ORDER BY r.ord),
           array_agg(r.out_name ORDER BY r.ord)
      INTO req_views, req_feats, req_outs
      FROM mlops._requested_features(features, full_feature_names) r;
    SELECT x INTO dup
      FROM unnest(ecols || req_outs) x
     GROUP BY x HAVING count(*) > 1 LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'the training set would have two columns named "%"', dup USING ERRCODE = 'duplicate_column',
            HINT = CASE WHEN full_feature_names THEN 'Rename the entity source''s column.'
                        ELSE 'Ask for view__feature names with full_feature_names => true, or rename the column.' END;
    END IF;
    views := ARRAY(SELECT r.view_name FROM unnest(req_views) WITH ORDINALITY AS r(view_name, ord)
                   GROUP BY r.view_name ORDER BY min(r.ord));
    FOREACH vname IN ARRAY views LOOP
        v := mlops._feature_view(vname);
        PERFORM mlops._check_view_source(v, sp);
        FOREACH k IN ARRAY v.join_keys LOOP
            IF array_position(ecols, k) IS NULL THEN
                RAISE EXCEPTION 'the entity source has no column "%" (a join key of feature view "%")', k, v.name
                    USING ERRCODE = 'undefined_column';
            END IF;
        END LOOP;
    END LOOP;

    IF engine = 'lateral' THEN
        -- one LATERAL subquery per view: its best row at the entity row's time
        FOREACH vname IN ARRAY views LOOP
            n := n + 1;
            v := mlops._feature_view(vname);
            joins := joins || format(E'
  LEFT JOIN LATERAL (SELECT %s
       FROM %s v
      WHERE %s
        AND v.%I <= e.%I::%s%s
      ORDER BY %s
      LIMIT 1) f%s ON true',
                (SELECT string_agg(format('v.%I', r.feature), ', ' ORDER BY r.ord)
                   FROM unnest(req_views, req_feats) WITH ORDINALITY AS r(view_name, feature, ord) WHERE r.view_name = vname),
                v.source_sql,
                (SELECT string_agg(format('v.%I = e.%I::%s', u.k, u.k, u.t), ' AND ' ORDER BY u.o)
                   FROM unnest(v.join_keys, v.key_types) WITH ORDINALITY AS u(k, t, o)),
                v.timestamp_column, event_timestamp_column, v.timestamp_type,
                CASE WHEN v.ttl IS NULL THEN ''
                     ELSE format(E'
        AND v.%I >= e.%I::%s - %s', v.timestamp_column, event_timestamp_column,
                                 v.timestamp_type, mlops._ttl_sql(v.ttl)) END,
                mlops._tie_order(v, 'v'), n);
        END LOOP;
        RETURN format(E'SELECT %s%s
  FROM %s e%s',
            (SELECT string_agg(format('e.%I', c), ', ' ORDER BY o) FROM unnest(ecols) WITH ORDINALITY AS u(c, o)),
            (SELECT string_agg(format(', f%s.%I AS %I', array_position(views, r.view_name), r.feature, r.out_name),
                               '' ORDER BY r.ord)
               FROM unnest(req_views, req_feats, req_outs) WITH ORDINALITY AS r(view_name, feature, out_name, ord)),
            src, joins);
    END IF;

    -- merge: one call of the engine for every view, returning the entity
    -- rows followed by each view's features (named "mlops:<view>.<i>" inside
    -- the query); the outer SELECT puts the features in the order asked.
    cur_cols := ecols;
    cur_types := etypes;
    FOREACH vname IN ARRAY views LOOP
        n := n + 1;
        v := mlops._feature_view(vname);
        view_feats := ARRAY(SELECT r.feature FROM unnest(req_views, req_feats) WITH ORDINALITY AS r(view_name, feature, ord)
                             WHERE r.view_name = vname ORDER BY r.ord);
        new_cols := ARRAY(SELECT format('mlops:%s.%s', n, i) FROM generate_series(1, cardinality(view_feats)) i);
        cur_types := cur_types || ARRAY(SELECT v.feature_types[array_position(v.features, f)]
                                          FROM unnest(view_feats) WITH ORDINALITY AS u(f, o) ORDER BY o);
        cur_cols := cur_cols || new_cols;
        view_specs := view_specs || jsonb_build_object(
            'join_keys', v.join_keys, 'key_types', v.key_types, 'view_sql', v.source_sql,
            'timestamp_column', v.timestamp_column, 'timestamp_type', v.timestamp_type,
            'created_timestamp_column', v.created_timestamp_column, 'view_features', v.features,
            'features', view_feats, 'ttl_microseconds', mlops._ttl_microseconds(v.ttl));
    END LOOP;
    cur_sql := format(E'SELECT * FROM mlops.point_in_time_join(%L, %L, %L)\n  AS f(%s)',
        format('SELECT * FROM %s e', src), event_timestamp_column, view_specs,
        (SELECT string_agg(format('%I %s', c, t), ', ' ORDER BY o)
           FROM unnest(cur_cols, cur_types) WITH ORDINALITY AS u(c, t, o)));
    RETURN format(E'SELECT %s%s
  FROM (%s) t',
        (SELECT string_agg(format('t.%I', c), ', ' ORDER BY o) FROM unnest(ecols) WITH ORDINALITY AS u(c, o)),
        (SELECT string_agg(format(', t.%I AS %I', format('mlops:%s.%s', array_position(views, r.view_name),
                                                        (SELECT count(*) FROM unnest(req_views) WITH ORDINALITY AS r2(view_name, ord)
                                                          WHERE r2.view_name = r.view_name AND r2.ord <= r.ord)),
                                  r.out_name), '' ORDER BY r.ord)
           FROM unnest(req_views, req_outs) WITH ORDINALITY AS r(view_name, out_name, ord)),
        cur_sql);
END
$$;

CREATE OR REPLACE FUNCTION mlops.build_training_set(target text, entity_source text, features text[], run_id bigint DEFAULT NULL,
                                         event_timestamp_column text DEFAULT 'event_timestamp',
                                         full_feature_names boolean DEFAULT false, engine text DEFAULT 'merge')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    q text;
    tgt text;
    n bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'build_training_set');
    IF target IS NULL THEN
        RAISE EXCEPTION 'target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    tgt := mlops._source_sql(target);
    IF tgt LIKE '(%' THEN
        RAISE EXCEPTION 'target "%" is not a table name', left(target, 200) USING ERRCODE = 'invalid_name';
    END IF;
    IF pg_catalog.to_regclass(tgt) IS NOT NULL THEN
        RAISE EXCEPTION 'relation "%" already exists', target USING ERRCODE = 'duplicate_table',
            HINT = 'A training set goes into a new table: drop it or choose another name.';
    END IF;
    q := mlops.training_set_query(entity_source, features, event_timestamp_column, full_feature_names, engine);
    EXECUTE format('CREATE TABLE %s AS %s', tgt, q);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF run_id IS NOT NULL THEN
        PERFORM mlops.log_input(run_id, tgt::regclass, 'training', target);
    END IF;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION mlops.point_in_time_join(entity_sql text, event_timestamp_column text, join_keys text[],
                                         key_types text[], view_sql text, timestamp_column text,
                                         timestamp_type text, created_timestamp_column text,
                                         view_features text[], features text[], ttl_microseconds bigint)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mlops_point_in_time_join' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops.point_in_time_join(entity_sql text, event_timestamp_column text, views jsonb)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mlops_point_in_time_join_views' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._beats_sql(v mlops.feature_views, n text, o text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text[] := ARRAY[v.timestamp_column];
    types text[] := ARRAY[v.timestamp_type];
    expr text := 'false';
    i int;
BEGIN
    IF v.created_timestamp_column IS NOT NULL THEN
        cols := cols || v.created_timestamp_column;
        types := types || 'timestamp'::text;
    END IF;
    cols := cols || v.features;
    types := types || v.feature_types;
    -- from the last column to the first: gt(c) OR (c equal AND <the rest>)
    FOR i IN REVERSE cardinality(cols) .. 1 LOOP
        -- a type without an ordering does not break ties (as in features.c)
        CONTINUE WHEN i > 1 AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_am a ON a.oid = oc.opcmethod
             WHERE a.amname = 'btree' AND oc.opcdefault
               AND oc.opcintype = mlops._base_type(types[i]::regtype));
        expr := format('(%1$s.%3$I IS NOT NULL AND (%2$s.%3$I IS NULL OR %1$s.%3$I > %2$s.%3$I)) '
                       'OR (%1$s.%3$I IS NOT DISTINCT FROM %2$s.%3$I AND (%4$s))', n, o, cols[i], expr);
    END LOOP;
    RETURN expr;
END
$$;

CREATE OR REPLACE FUNCTION mlops._online_table(view_name text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
    tbl text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'materialize_online');
    SELECT * INTO v FROM mlops.feature_views x WHERE x.name = view_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', view_name USING ERRCODE = 'undefined_object';
    END IF;
    IF v.created_by <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'feature view "%" belongs to role %', v.name, v.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A view is materialized by the role that created it, reading its source as that role.';
    END IF;
    IF v.online_table IS NOT NULL THEN
        RETURN v.online_table;
    END IF;
    IF 'mlops_materialized_at' = ANY (v.join_keys || v.features) THEN
        RAISE EXCEPTION 'feature view "%" has a column named mlops_materialized_at', v.name
            USING ERRCODE = 'duplicate_column', DETAIL = 'The online table keeps that name for itself.';
    END IF;
    tbl := format('mlops_online.%I', v.name);
    EXECUTE format('CREATE TABLE %s (%s, %s, %I %s NOT NULL%s, mlops_materialized_at timestamptz NOT NULL, PRIMARY KEY (%s))',
        tbl,
        (SELECT string_agg(format('%I %s NOT NULL', k, t), ', ' ORDER BY o)
           FROM unnest(v.join_keys, v.key_types) WITH ORDINALITY AS u(k, t, o)),
        (SELECT string_agg(format('%I %s', f, t), ', ' ORDER BY o)
           FROM unnest(v.features, v.feature_types) WITH ORDINALITY AS u(f, t, o)),
        v.timestamp_column, v.timestamp_type,
        CASE WHEN v.created_timestamp_column IS NULL THEN ''
             ELSE format(', %I timestamptz', v.created_timestamp_column) END,
        (SELECT string_agg(format('%I', k), ', ' ORDER BY o) FROM unnest(v.join_keys) WITH ORDINALITY AS u(k, o)));
    EXECUTE format('GRANT SELECT ON %s TO mlops_reader', tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON %s TO %I', tbl, v.created_by);
    UPDATE mlops.feature_views x SET online_table = tbl WHERE x.view_id = v.view_id;
    PERFORM mlops._features_changed();
    RETURN tbl;
END
$$;

CREATE OR REPLACE FUNCTION mlops._online_advance(view_name text, watermark timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'materialize_online');
    IF NOT isfinite(watermark) THEN
        RAISE EXCEPTION 'a watermark is a finite time, not %', watermark USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mlops.feature_views x
       SET online_watermark = CASE WHEN watermark IS NULL THEN x.online_watermark
                                   ELSE greatest(x.online_watermark, watermark) END,
           online_materialized_at = pg_catalog.clock_timestamp()
     WHERE x.name = view_name AND x.created_by = mlops._invoking_user();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" is not one of this role''s', view_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

CREATE OR REPLACE PROCEDURE mlops._materialize_online(view_name text, full_refresh boolean, job_name text, schedule_id bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v mlops.feature_views;
    sp text := pg_catalog.current_setting('search_path');
    tbl text;
    run record;
    wm_col text;
    cols text[];
    keys text;
    q text;
    rows_in bigint;
    rows_up bigint;
    new_wm timestamptz;
    err_state text;
    err_message text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'materialize_online');
    v := mlops._feature_view(view_name);
    IF v.created_by <> current_user THEN
        RAISE EXCEPTION 'feature view "%" belongs to role %', v.name, v.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A view is materialized by the role that created it, reading its source as that role.';
    END IF;
    tbl := mlops._online_table(v.name);
    run := mlops._job_run_start(coalesce(job_name, 'materialize_online:' || v.name), 'materialize_online',
                                schedule_id, NULL, v.source, tbl, NULL);
    COMMIT;
    BEGIN
        v := mlops._feature_view(view_name);
        PERFORM mlops._check_view_source(v, sp);
        -- timestamps without a time zone are read, and the watermark kept, in UTC
        PERFORM pg_catalog.set_config('TimeZone', 'UTC', true);
        wm_col := coalesce(v.created_timestamp_column, v.timestamp_column);
        cols := array_remove(v.join_keys || v.features || v.timestamp_column || v.created_timestamp_column, NULL);
        keys := (SELECT string_agg(format('%I', k), ', ' ORDER BY o) FROM unnest(v.join_keys) WITH ORDINALITY AS u(k, o));
        q := format(
            'WITH batch AS MATERIALIZED (SELECT %1$s FROM %2$s v WHERE %3$s AND v.%4$I IS NOT NULL%5$s), '
            'latest AS (SELECT DISTINCT ON (%6$s) * FROM batch ORDER BY %6$s, %7$s), '
            'up AS (INSERT INTO %8$s AS o (%9$s, mlops_materialized_at) SELECT %9$s, pg_catalog.clock_timestamp() FROM latest '
            '       ON CONFLICT (%6$s) DO UPDATE SET %10$s, mlops_materialized_at = excluded.mlops_materialized_at '
            '       WHERE %11$s RETURNING 1) '
            'SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM up), (SELECT max(%12$I)::timestamptz FROM batch WHERE isfinite(%12$I))',
            (SELECT string_agg(format('v.%I', c), ', ' ORDER BY o) FROM unnest(cols) WITH ORDINALITY AS u(c, o)),
            v.source_sql,
            (SELECT string_agg(format('v.%I IS NOT NULL', k), ' AND ') FROM unnest(v.join_keys) k),
            v.timestamp_column,
            CASE WHEN full_refresh OR v.online_watermark IS NULL THEN ''
                 ELSE format(' AND v.%I >= %L::timestamptz', wm_col, v.online_watermark) END,
            keys,
            mlops._tie_order(v, 'batch'),
            tbl,
            (SELECT string_agg(format('%I', c), ', ' ORDER BY o) FROM unnest(cols) WITH ORDINALITY AS u(c, o)),
            (SELECT string_agg(format('%1$I = excluded.%1$I', c), ', ' ORDER BY o)
               FROM unnest(array_remove(v.features || v.timestamp_column || v.created_timestamp_column, NULL))
                    WITH ORDINALITY AS u(c, o)),
            mlops._beats_sql(v, 'excluded', 'o'),
            wm_col);
        EXECUTE q INTO rows_in, rows_up, new_wm;
        PERFORM mlops._online_advance(v.name, new_wm);
        PERFORM mlops._job_run_finish(run.job_run_id, 'succeeded', rows_in, rows_up, 0, NULL, NULL);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        PERFORM mlops._job_run_finish(run.job_run_id, CASE WHEN err_state = '57014' THEN 'cancelled' ELSE 'failed' END,
                                      NULL, 0, NULL, err_state || ': ' || err_message, NULL);
        COMMIT;
        PERFORM pg_advisory_unlock(1836019578, run.lock_key);
        RAISE;
    END;
    COMMIT;
    PERFORM pg_advisory_unlock(1836019578, run.lock_key);
END
$$;

CREATE OR REPLACE PROCEDURE mlops.materialize_online(view text, full_refresh boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'materialize_online');
    CALL mlops._materialize_online(view, coalesce(full_refresh, false), NULL, NULL);
END
$$;

CREATE OR REPLACE FUNCTION mlops.schedule_materialize_online(name text, cron text, view text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'schedule_materialize_online');
    PERFORM mlops._check_model_name('schedule name', name);
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v := mlops._feature_view(view);
    IF v.created_by <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'feature view "%" belongs to role %', v.name, v.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A view is materialized by the role that created it, reading its source as that role.';
    END IF;
    RETURN mlops._add_schedule(name, 'materialize_online', cron,
                               jsonb_build_object('view', v.name, 'source', v.source,
                                                  'target', format('mlops_online.%I', v.name)));
END
$$;

CREATE OR REPLACE FUNCTION mlops._online_plan(view_or_service text)
RETURNS TABLE (ord int, view_name text, feature text, feature_type text, out_name text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF view_or_service IS NULL THEN
        RAISE EXCEPTION 'view_or_service must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT FROM mlops.feature_services s WHERE s.name = view_or_service) THEN
        RETURN QUERY SELECT r.ord, r.view_name, r.feature, r.feature_type, r.view_name || ':' || r.feature
                       FROM mlops._requested_features(ARRAY[view_or_service], false) r;
    ELSIF EXISTS (SELECT FROM mlops.feature_views v WHERE v.name = view_or_service) THEN
        RETURN QUERY SELECT f.o::int, view_or_service, f.f, f.t, f.f
                       FROM mlops.feature_views v, unnest(v.features, v.feature_types) WITH ORDINALITY AS f(f, t, o)
                      WHERE v.name = view_or_service ORDER BY f.o;
    ELSE
        RAISE EXCEPTION 'no feature view or feature service is named "%"', left(view_or_service, 200)
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops._online_row(v mlops.feature_views, keys jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    r jsonb;
BEGIN
    IF v.online_table IS NULL THEN
        RAISE EXCEPTION 'feature view "%" has not been materialized', v.name
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'CALL mlops.materialize_online(view).';
    END IF;
    FOREACH k IN ARRAY v.join_keys LOOP
        IF NOT keys ? k OR jsonb_typeof(keys -> k) = 'null' THEN
            RAISE EXCEPTION 'keys has no value for "%" (a join key of feature view "%")', k, v.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    EXECUTE format('SELECT to_jsonb(o) FROM %s o WHERE %s', v.online_table,
                   (SELECT string_agg(format('o.%I = ($1 ->> %L)::%s', u.k, u.k, u.t), ' AND ' ORDER BY u.o)
                      FROM unnest(v.join_keys, v.key_types) WITH ORDINALITY AS u(k, t, o)))
        INTO r USING keys;
    RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION mlops.online_features(view_or_service text, keys jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    result jsonb := '{}';
    read_views jsonb := '{}';
    v mlops.feature_views;
    r jsonb;
    p record;
    used text[] := '{}';
    status text;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'online_features');
    IF keys IS NULL OR jsonb_typeof(keys) <> 'object' THEN
        RAISE EXCEPTION 'keys must be a JSON object of join key values' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- each view's row is read once, when its first feature comes
    FOR p IN SELECT * FROM mlops._online_plan(view_or_service) pl ORDER BY pl.ord LOOP
        IF NOT read_views ? p.view_name THEN
            v := mlops._feature_view(p.view_name);
            used := used || v.join_keys;
            r := mlops._online_row(v, keys);
            status := CASE WHEN r IS NULL THEN 'missing'
                           WHEN v.ttl IS NOT NULL
                                AND (r ->> v.timestamp_column)::timestamptz
                                    < pg_catalog.now() - mlops._ttl_microseconds(v.ttl) * interval '1 microsecond'
                               THEN 'expired'
                           ELSE 'present' END;
            read_views := read_views || jsonb_build_object(p.view_name, jsonb_build_object(
                'row', r, 'status', status, 'event_timestamp', r -> v.timestamp_column));
        END IF;
        status := read_views -> p.view_name ->> 'status';
        result := result || jsonb_build_object(p.out_name, jsonb_build_object(
            'value', CASE WHEN status = 'present' THEN read_views -> p.view_name -> 'row' -> p.feature
                          ELSE 'null'::jsonb END,
            'status', status,
            'event_timestamp', read_views -> p.view_name -> 'event_timestamp'));
    END LOOP;
    IF EXISTS (SELECT FROM jsonb_object_keys(keys) k WHERE NOT k = ANY (used)) THEN
        RAISE EXCEPTION 'keys has "%", which is not a join key of "%"',
            (SELECT k FROM jsonb_object_keys(keys) k WHERE NOT k = ANY (used) LIMIT 1), view_or_service
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION mlops.feature_vector(service text, keys jsonb) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_feature_vector' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.feature_vector(service text, key anyelement) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_feature_vector_key' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.feature_vector(service text, key text) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_feature_vector_key' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_hash(seed text, value text, version int) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_bucket_ranges(num_variations int, coverage float8 DEFAULT 1, weights float8[] DEFAULT NULL)
RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_ab_bucket_ranges' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_equal_weights(num_variations int) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_ab_equal_weights' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_choose_variation(hash float8, ranges float8[]) RETURNS int
    AS 'MODULE_PATHNAME', 'mlops_ab_choose_variation' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_in_namespace(unit_id text, namespace text, range_start float8, range_end float8)
RETURNS boolean
    AS 'MODULE_PATHNAME', 'mlops_ab_in_namespace' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._ab_changed() RETURNS void
    AS 'MODULE_PATHNAME', 'mlops_ab_changed' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._ab_lock(ab_test_id bigint) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_advisory_xact_lock(1835819362, (ab_test_id & 2147483647)::int) $$;

CREATE OR REPLACE FUNCTION mlops._ab_event(t mlops.ab_tests, event text, weights float8[] DEFAULT NULL,
                                details jsonb DEFAULT NULL) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO mlops.ab_events (ab_test_id, ab_test, event, weights, details, actor)
    VALUES (t.ab_test_id, t.key, event, weights, details, mlops._invoking_user());
$$;

CREATE OR REPLACE FUNCTION mlops._own_ab_test(key text) RETURNS mlops.ab_tests
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
BEGIN
    IF key IS NULL THEN
        RAISE EXCEPTION 'ab_test must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO t FROM mlops.ab_tests x WHERE x.key = _own_ab_test.key FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'A/B test "%" does not exist', key USING ERRCODE = 'undefined_object';
    END IF;
    IF t.created_by <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'A/B test "%" belongs to role %', key, t.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only the role that created a test changes it.';
    END IF;
    RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION mlops._ab_test(key text) RETURNS mlops.ab_tests
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
BEGIN
    IF key IS NULL THEN
        RAISE EXCEPTION 'ab_test must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO t FROM mlops.ab_tests x WHERE x.key = _ab_test.key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'A/B test "%" does not exist', key USING ERRCODE = 'undefined_object';
    END IF;
    RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION mlops._ab_check_weights(weights float8[], n int) RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    total float8 := 0;
    w float8;
BEGIN
    IF weights IS NULL THEN
        RETURN mlops.ab_equal_weights(n);
    END IF;
    IF array_ndims(weights) IS DISTINCT FROM 1 OR cardinality(weights) <> n THEN
        RAISE EXCEPTION 'weights has % values for % variants', coalesce(cardinality(weights), 0), n
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give one weight per variant, in the order of the models.';
    END IF;
    FOREACH w IN ARRAY weights LOOP
        IF w IS NULL OR w = 'NaN'::float8 OR w < 0 OR w > 1 THEN
            RAISE EXCEPTION 'invalid weight %', coalesce(w::text, 'NULL')
                USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Each weight is a share of traffic between 0 and 1.';
        END IF;
        total := total + w;
    END LOOP;
    IF abs(total - 1) > 1e-6 THEN
        RAISE EXCEPTION 'weights sum to %, not 1', total USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Weights are the variants'' shares of the covered traffic; coverage sets how much traffic is in the test.';
    END IF;
    RETURN weights;
END
$$;

CREATE OR REPLACE FUNCTION mlops._ab_check_coverage(coverage float8) RETURNS float8
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coverage IS NULL OR coverage = 'NaN'::float8 OR coverage < 0 OR coverage > 1 THEN
        RAISE EXCEPTION 'invalid coverage %', coalesce(coverage::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Coverage is the share of units in the test, between 0 and 1.';
    END IF;
    RETURN coverage;
END
$$;

CREATE OR REPLACE FUNCTION mlops.create_ab_test(key text, models text[], weights float8[] DEFAULT NULL,
                                     variant_names text[] DEFAULT NULL, seed text DEFAULT NULL,
                                     coverage float8 DEFAULT 1, hash_version int DEFAULT 2,
                                     namespace text DEFAULT NULL, namespace_range float8[] DEFAULT NULL,
                                     kind text DEFAULT 'ab', canary_steps float8[] DEFAULT NULL,
                                     guard jsonb DEFAULT NULL, description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int;
    t mlops.ab_tests;
    names text[];
    m text;
    i int;
    g jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_ab_test');
    PERFORM mlops._check_model_name('A/B test key', key);
    IF kind IS NULL OR kind NOT IN ('ab', 'shadow', 'canary') THEN
        RAISE EXCEPTION 'invalid kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'kind is ab, shadow or canary.';
    END IF;
    IF models IS NULL OR array_ndims(models) IS DISTINCT FROM 1 OR cardinality(models) < 2 THEN
        RAISE EXCEPTION 'an A/B test needs at least two models' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := cardinality(models);
    IF n > 100 THEN
        RAISE EXCEPTION 'an A/B test has at most 100 variants' USING ERRCODE = 'program_limit_exceeded';
    END IF;
    FOREACH m IN ARRAY models LOOP
        IF m IS NULL THEN
            RAISE EXCEPTION 'models must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        PERFORM mlops._resolve_model(m);       -- an unknown model, version or alias is an error now
    END LOOP;
    IF variant_names IS NULL THEN
        IF kind IN ('shadow', 'canary') THEN
            names := ARRAY['champion'] || CASE WHEN n = 2 THEN ARRAY['challenger']
                                               ELSE ARRAY(SELECT 'challenger_' || x FROM generate_series(1, n - 1) x) END;
        ELSE
            names := ARRAY['control'] || CASE WHEN n = 2 THEN ARRAY['treatment']
                                              ELSE ARRAY(SELECT 'treatment_' || x FROM generate_series(1, n - 1) x) END;
        END IF;
    ELSE
        IF array_ndims(variant_names) IS DISTINCT FROM 1 OR cardinality(variant_names) <> n THEN
            RAISE EXCEPTION 'variant_names has % names for % models', coalesce(cardinality(variant_names), 0), n
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR i IN 1 .. n LOOP
            PERFORM mlops._check_model_name('variant name', variant_names[i]);
        END LOOP;
        IF (SELECT count(DISTINCT x) FROM unnest(variant_names) x) <> n THEN
            RAISE EXCEPTION 'variant names must be distinct' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        names := variant_names;
    END IF;
    IF hash_version IS NULL OR hash_version NOT IN (1, 2) THEN
        RAISE EXCEPTION 'invalid hash_version %', coalesce(hash_version::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'GrowthBook''s hash versions are 1 and 2 (the default).';
    END IF;
    PERFORM mlops._ab_check_coverage(coverage);
    IF (namespace IS NULL) <> (namespace_range IS NULL) THEN
        RAISE EXCEPTION 'namespace and namespace_range go together' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF namespace IS NOT NULL AND (cardinality(namespace_range) <> 2 OR array_position(namespace_range, NULL) IS NOT NULL
                                  OR NOT (namespace_range[1] >= 0 AND namespace_range[1] < namespace_range[2]
                                          AND namespace_range[2] <= 1)) THEN
        RAISE EXCEPTION 'invalid namespace_range %', namespace_range USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A range [start, end) with 0 <= start < end <= 1.';
    END IF;
    IF kind = 'canary' THEN
        IF n <> 2 THEN
            RAISE EXCEPTION 'a canary release has two models, the champion and the challenger'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF canary_steps IS NULL OR array_ndims(canary_steps) IS DISTINCT FROM 1
           OR array_position(canary_steps, NULL) IS NOT NULL
           OR EXISTS (SELECT FROM unnest(canary_steps) WITH ORDINALITY a(s, o)
                       WHERE NOT (s > 0 AND s <= 1) OR s <= coalesce(canary_steps[o - 1], 0)) THEN
            RAISE EXCEPTION 'invalid canary_steps %', coalesce(canary_steps::text, 'NULL')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The challenger''s shares, increasing, each in (0, 1], e.g. {0.01,0.05,0.25,0.5}.';
        END IF;
        IF weights IS NOT NULL THEN
            RAISE EXCEPTION 'a canary release takes canary_steps, not weights' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF guard IS NULL OR jsonb_typeof(guard) <> 'object' OR jsonb_typeof(guard -> 'metric') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a canary release needs a guard naming its metric' USING ERRCODE = 'invalid_parameter_value',
                HINT = 'For example {"metric": "retained", "max_relative_drop": 0.02}; the README lists its keys.';
        END IF;
        g := jsonb_build_object('metric', guard ->> 'metric', 'max_relative_drop', 0, 'alpha', 0.05,
                                'min_units', 100, 'higher_is_better', true, 'kind', 'auto') || guard;
        IF EXISTS (SELECT FROM jsonb_object_keys(g) k
                    WHERE k NOT IN ('metric', 'max_relative_drop', 'alpha', 'min_units', 'higher_is_better', 'kind')) THEN
            RAISE EXCEPTION 'unknown guard key' USING ERRCODE = 'invalid_parameter_value',
                DETAIL = format('Known keys: metric, max_relative_drop, alpha, min_units, higher_is_better, kind; given %s.', guard);
        END IF;
        IF jsonb_typeof(g -> 'max_relative_drop') <> 'number' OR (g ->> 'max_relative_drop')::float8 < 0
           OR jsonb_typeof(g -> 'alpha') <> 'number' OR NOT ((g ->> 'alpha')::float8 > 0 AND (g ->> 'alpha')::float8 < 1)
           OR jsonb_typeof(g -> 'min_units') <> 'number' OR (g ->> 'min_units')::float8 < 2
           OR jsonb_typeof(g -> 'higher_is_better') <> 'boolean'
           OR g ->> 'kind' NOT IN ('auto', 'binary', 'continuous') THEN
            RAISE EXCEPTION 'invalid guard %', guard USING ERRCODE = 'invalid_parameter_value',
                DETAIL = 'max_relative_drop >= 0, 0 < alpha < 1, min_units >= 2, higher_is_better a boolean, kind auto, binary or continuous.';
        END IF;
        weights := ARRAY[1 - canary_steps[1], canary_steps[1]];
    ELSIF canary_steps IS NOT NULL OR guard IS NOT NULL THEN
        RAISE EXCEPTION 'canary_steps and guard are for canary releases' USING ERRCODE = 'invalid_parameter_value';
    ELSIF kind = 'shadow' THEN
        IF weights IS NOT NULL THEN
            RAISE EXCEPTION 'a shadow release serves the champion to every unit: it takes no weights'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        weights := ARRAY[1::float8] || array_fill(0::float8, ARRAY[n - 1]);
    ELSE
        weights := mlops._ab_check_weights(weights, n);
    END IF;

    INSERT INTO mlops.ab_tests AS x (key, kind, seed, hash_version, coverage, namespace, namespace_start, namespace_end,
                                     canary_steps, canary_step, guard, description, created_by)
    VALUES (key, kind, coalesce(seed, key), hash_version, coverage, namespace, namespace_range[1], namespace_range[2],
            canary_steps, CASE WHEN kind = 'canary' THEN 1 END, g, description, mlops._invoking_user())
        ON CONFLICT ON CONSTRAINT ab_tests_key_key DO NOTHING
    RETURNING x.* INTO t;
    IF t.ab_test_id IS NULL THEN
        RAISE EXCEPTION 'A/B test "%" already exists', key USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO mlops.ab_variants (ab_test_id, variant, name, model, weight)
    SELECT t.ab_test_id, o - 1, names[o], models[o], weights[o] FROM generate_series(1, n) o;
    INSERT INTO mlops.ab_weight_history (ab_test_id, bucket_version, weights_epoch, weights, coverage, set_by)
    VALUES (t.ab_test_id, 1, 1, weights, coverage, mlops._invoking_user());
    PERFORM mlops._ab_event(t, 'created', weights,
                            jsonb_build_object('kind', kind, 'models', to_jsonb(models), 'variants', to_jsonb(names),
                                               'coverage', coverage, 'seed', t.seed, 'hash_version', hash_version));
    RETURN t.ab_test_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.start_ab_test(key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
    other text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'start_ab_test');
    t := mlops._own_ab_test(key);
    IF t.status <> 'draft' THEN
        RAISE EXCEPTION 'A/B test "%" is %', key, t.status USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = CASE WHEN t.status = 'stopped' THEN 'A stopped test stays stopped; create a new one.'
                        ELSE 'It is running already.' END;
    END IF;
    IF t.namespace IS NOT NULL THEN
        -- tests in one namespace are mutually exclusive: their ranges must not overlap
        SELECT x.key INTO other FROM mlops.ab_tests x
         WHERE x.namespace = t.namespace AND x.status = 'running' AND x.ab_test_id <> t.ab_test_id
           AND x.namespace_start < t.namespace_end AND t.namespace_start < x.namespace_end
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'A/B test "%" overlaps running test "%" in namespace "%"', key, other, t.namespace
                USING ERRCODE = 'exclusion_violation',
                      DETAIL = 'Tests in one namespace take disjoint ranges, so that no unit is in both.';
        END IF;
    END IF;
    UPDATE mlops.ab_tests x SET status = 'running', started_at = clock_timestamp() WHERE x.ab_test_id = t.ab_test_id;
    PERFORM mlops._ab_event(t, 'started');
    PERFORM mlops._ab_changed();
END
$$;

CREATE OR REPLACE FUNCTION mlops.stop_ab_test(key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'stop_ab_test');
    t := mlops._own_ab_test(key);
    IF t.status = 'stopped' THEN
        RAISE EXCEPTION 'A/B test "%" is already stopped', key USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM mlops._ab_lock(t.ab_test_id);
    UPDATE mlops.ab_tests x SET status = 'stopped', stopped_at = clock_timestamp() WHERE x.ab_test_id = t.ab_test_id;
    PERFORM mlops._ab_event(t, 'stopped');
    PERFORM mlops._ab_changed();
END
$$;

CREATE OR REPLACE FUNCTION mlops._ab_set_weights(t mlops.ab_tests, weights float8[], rebucket boolean, coverage float8,
                                      event text, details jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bv int := t.bucket_version + CASE WHEN rebucket THEN 1 ELSE 0 END;
    ep int := CASE WHEN rebucket THEN 1 ELSE t.weights_epoch + 1 END;
BEGIN
    PERFORM mlops._ab_lock(t.ab_test_id);
    UPDATE mlops.ab_tests x SET bucket_version = bv, weights_epoch = ep, coverage = _ab_set_weights.coverage
     WHERE x.ab_test_id = t.ab_test_id;
    UPDATE mlops.ab_variants v SET weight = weights[v.variant + 1] WHERE v.ab_test_id = t.ab_test_id;
    INSERT INTO mlops.ab_weight_history (ab_test_id, bucket_version, weights_epoch, weights, coverage, set_by)
    VALUES (t.ab_test_id, bv, ep, weights, _ab_set_weights.coverage, mlops._invoking_user());
    PERFORM mlops._ab_event(t, event, weights,
                            coalesce(details, '{}') || jsonb_build_object('bucket_version', bv, 'weights_epoch', ep,
                                                                          'coverage', _ab_set_weights.coverage,
                                                                          'rebucket', rebucket));
    PERFORM mlops._ab_changed();
END
$$;

CREATE OR REPLACE FUNCTION mlops.set_ab_weights(key text, weights float8[], rebucket boolean DEFAULT false,
                                     coverage float8 DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
    n int;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'set_ab_weights');
    t := mlops._own_ab_test(key);
    IF t.status = 'stopped' THEN
        RAISE EXCEPTION 'A/B test "%" is stopped', key USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF t.kind = 'shadow' THEN
        RAISE EXCEPTION 'A/B test "%" is a shadow release: it serves the champion to every unit', key
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF weights IS NULL THEN
        RAISE EXCEPTION 'weights must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT count(*) INTO n FROM mlops.ab_variants v WHERE v.ab_test_id = t.ab_test_id;
    weights := mlops._ab_check_weights(weights, n);
    PERFORM mlops._ab_set_weights(t, weights, coalesce(rebucket, false),
                                  mlops._ab_check_coverage(coalesce(coverage, t.coverage)),
                                  CASE WHEN rebucket THEN 'rebucketed' ELSE 'weights_changed' END, NULL);
END
$$;

CREATE OR REPLACE FUNCTION mlops.drop_ab_test(key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
    s record;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_ab_test');
    t := mlops._own_ab_test(key);
    SELECT x.name INTO s FROM mlops.schedules x WHERE x.kind IN ('ab_canary', 'ab_bandit') AND x.spec ->> 'ab_test' = key;
    IF FOUND THEN
        RAISE EXCEPTION 'A/B test "%" has schedule "%"', key, s.name USING ERRCODE = 'dependent_objects_still_exist',
            HINT = 'Drop the schedule first with mlops.drop_schedule().';
    END IF;
    PERFORM mlops._ab_lock(t.ab_test_id);
    DELETE FROM mlops.ab_assignments x WHERE x.ab_test_id = t.ab_test_id;
    DELETE FROM mlops.ab_shadow_predictions x WHERE x.ab_test_id = t.ab_test_id;
    DELETE FROM mlops.ab_tests x WHERE x.ab_test_id = t.ab_test_id;
    PERFORM mlops._ab_changed();
END
$$;

CREATE OR REPLACE FUNCTION mlops.ab_assign(ab_test text, unit_id text) RETURNS mlops.ab_assignment
    AS 'MODULE_PATHNAME', 'mlops_ab_assign' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops.predict_ab(ab_test text, unit_id text, features float8[]) RETURNS mlops.ab_prediction
    AS 'MODULE_PATHNAME', 'mlops_predict_ab_array' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops.predict_ab(ab_test text, unit_id text, features jsonb) RETURNS mlops.ab_prediction
    AS 'MODULE_PATHNAME', 'mlops_predict_ab_jsonb' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops.record_ab_outcome(unit_id text, metric text, value float8,
                                        observed_at timestamptz DEFAULT now()) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'record_ab_outcome');
    IF unit_id IS NULL OR metric IS NULL OR observed_at IS NULL THEN
        RAISE EXCEPTION 'unit_id, metric and observed_at must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF value IS NULL OR value = 'NaN'::float8 OR value IN ('Infinity'::float8, '-Infinity'::float8) THEN
        RAISE EXCEPTION 'invalid outcome value %', coalesce(value::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'An outcome is a finite number (1 or 0 for a conversion).';
    END IF;
    PERFORM mlops._check_model_name('metric', metric);
    INSERT INTO mlops.ab_outcomes AS o (unit_id, metric, observed_at, value, recorded_by)
    VALUES (record_ab_outcome.unit_id, record_ab_outcome.metric, record_ab_outcome.observed_at,
            record_ab_outcome.value, mlops._invoking_user())
        ON CONFLICT (unit_id, metric, observed_at) DO UPDATE SET value = excluded.value, recorded_by = excluded.recorded_by;
END
$$;

CREATE OR REPLACE FUNCTION mlops.ab_proportions_ztest(control_conversions float8, control_units float8,
                                           treatment_conversions float8, treatment_units float8,
                                           alpha float8 DEFAULT 0.05) RETURNS mlops.ab_comparison
    AS 'MODULE_PATHNAME', 'mlops_ab_proportions_ztest' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_welch_ttest(control_units float8, control_mean float8, control_variance float8,
                                     treatment_units float8, treatment_mean float8, treatment_variance float8,
                                     alpha float8 DEFAULT 0.05) RETURNS mlops.ab_comparison
    AS 'MODULE_PATHNAME', 'mlops_ab_welch_ttest' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_sequential_test(control_units float8, control_mean float8, control_variance float8,
                                         treatment_units float8, treatment_mean float8, treatment_variance float8,
                                         alpha float8 DEFAULT 0.05, tuning float8 DEFAULT 5000)
RETURNS mlops.ab_comparison
    AS 'MODULE_PATHNAME', 'mlops_ab_sequential_test' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_srm(units float8[], weights float8[]) RETURNS mlops.chisquare_result
    AS 'MODULE_PATHNAME', 'mlops_ab_srm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_sample_size_proportions(p1 float8, p2 float8, alpha float8 DEFAULT 0.05,
                                                 power float8 DEFAULT 0.8) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_sample_size_proportions' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_power_proportions(n float8, p1 float8, p2 float8, alpha float8 DEFAULT 0.05) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_power_proportions' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_sample_size_means(delta float8, sd float8 DEFAULT 1, alpha float8 DEFAULT 0.05,
                                           power float8 DEFAULT 0.8) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_sample_size_means' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_power_means(n float8, delta float8, sd float8 DEFAULT 1, alpha float8 DEFAULT 0.05) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_power_means' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops.ab_bandit_weights(units float8[], means float8[], variances float8[],
                                        min_weight float8 DEFAULT 0.01, min_units float8 DEFAULT 100)
RETURNS TABLE (variant int, p_best float8, weight float8)
    AS 'MODULE_PATHNAME', 'mlops_ab_bandit_weights' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 4;

CREATE OR REPLACE FUNCTION mlops._ab_arms(t mlops.ab_tests, metric text, kind text,
                               OUT variant int, OUT units bigint, OUT total float8, OUT mean float8,
                               OUT variance float8, OUT metric_kind text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH per_unit AS (
        SELECT a.variant, a.unit_id, sum(o.value) AS s, max(o.value) AS mx,
               bool_and(o.value IN (0, 1)) AS zero_one
          FROM mlops.ab_assignments a
          LEFT JOIN mlops.ab_outcomes o
            ON o.unit_id = a.unit_id AND o.metric = _ab_arms.metric AND o.observed_at >= a.assigned_at
         WHERE a.ab_test_id = t.ab_test_id AND a.bucket_version = t.bucket_version
         GROUP BY a.variant, a.unit_id),
    k AS (
        SELECT CASE WHEN _ab_arms.kind <> 'auto' THEN _ab_arms.kind
                    WHEN coalesce(bool_and(zero_one), false) THEN 'binary' ELSE 'continuous' END AS kind
          FROM per_unit),
    vals AS (
        SELECT p.variant, CASE WHEN k.kind = 'binary' THEN (coalesce(p.mx, 0) > 0)::int::float8
                               ELSE coalesce(p.s, 0) END AS value
          FROM per_unit p, k)
    SELECT v.variant, count(x.value), coalesce(sum(x.value), 0), avg(x.value), var_samp(x.value), k.kind
      FROM mlops.ab_variants v CROSS JOIN k
      LEFT JOIN vals x ON x.variant = v.variant
     WHERE v.ab_test_id = t.ab_test_id
     GROUP BY v.variant, k.kind
     ORDER BY v.variant
$$;

CREATE OR REPLACE FUNCTION mlops.ab_results(ab_test text, metric text, kind text DEFAULT 'auto', alpha float8 DEFAULT 0.05,
                                 sequential boolean DEFAULT false, tuning float8 DEFAULT 5000)
RETURNS TABLE (metric_kind text, variant text, variant_index int, model text, units bigint,
               mean float8, stddev float8, abs_lift float8, abs_lift_lower float8, abs_lift_upper float8,
               rel_lift float8, rel_lift_lower float8, rel_lift_upper float8, statistic float8, df float8,
               p_value float8, significant boolean, srm_p_value float8)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
    srm float8;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'ab_results');
    t := mlops._ab_test(ab_test);
    IF metric IS NULL THEN
        RAISE EXCEPTION 'metric must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF kind IS NULL OR kind NOT IN ('auto', 'binary', 'continuous') THEN
        RAISE EXCEPTION 'invalid kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'kind is auto, binary or continuous.';
    END IF;
    IF t.kind = 'shadow' THEN
        RAISE EXCEPTION 'A/B test "%" is a shadow release: every unit is served the champion', ab_test
            USING ERRCODE = 'wrong_object_type', HINT = 'Compare its variants in mlops.ab_shadow_comparison.';
    END IF;
    srm := mlops._ab_srm_p(t);
    RETURN QUERY
    WITH arms AS (SELECT * FROM mlops._ab_arms(t, ab_results.metric, ab_results.kind)),
         c AS (SELECT * FROM arms WHERE arms.variant = 0)
    SELECT a.metric_kind, v.name, a.variant, v.model, a.units, a.mean, sqrt(a.variance),
           r.abs_lift, r.abs_lift_lower, r.abs_lift_upper, r.rel_lift, r.rel_lift_lower, r.rel_lift_upper,
           r.statistic, r.df, r.p_value, r.p_value < alpha, srm
      FROM arms a
      JOIN mlops.ab_variants v ON v.ab_test_id = t.ab_test_id AND v.variant = a.variant
      CROSS JOIN c
      LEFT JOIN LATERAL (
          SELECT * FROM mlops.ab_proportions_ztest(c.total, c.units, a.total, a.units, alpha)
           WHERE a.variant > 0 AND a.metric_kind = 'binary' AND NOT sequential AND a.units > 0 AND c.units > 0
          UNION ALL
          SELECT * FROM mlops.ab_welch_ttest(c.units, c.mean, c.variance, a.units, a.mean, a.variance, alpha)
           WHERE a.variant > 0 AND a.metric_kind = 'continuous' AND NOT sequential AND a.units > 1 AND c.units > 1
          UNION ALL
          SELECT * FROM mlops.ab_sequential_test(c.units, c.mean, c.variance, a.units, a.mean, a.variance, alpha, tuning)
           WHERE a.variant > 0 AND sequential AND a.units > 1 AND c.units > 1) r ON true
     ORDER BY a.variant;
END
$$;

CREATE OR REPLACE FUNCTION mlops._ab_srm_p(t mlops.ab_tests) RETURNS float8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (mlops.ab_srm(array_agg(coalesce(n.units, 0)::float8 ORDER BY v.variant),
                         array_agg(v.weight ORDER BY v.variant))).p_value
      FROM mlops.ab_variants v
      LEFT JOIN (SELECT a.variant, count(*) AS units FROM mlops.ab_assignments a
                  WHERE a.ab_test_id = t.ab_test_id AND a.bucket_version = t.bucket_version
                    AND a.weights_epoch = t.weights_epoch
                  GROUP BY a.variant) n ON n.variant = v.variant
     WHERE v.ab_test_id = t.ab_test_id AND t.kind <> 'shadow'
$$;

CREATE OR REPLACE FUNCTION mlops.update_ab_bandit_weights(ab_test text, metric text, kind text DEFAULT 'auto',
                                               min_weight float8 DEFAULT 0.01, min_units float8 DEFAULT 100,
                                               higher_is_better boolean DEFAULT true)
RETURNS TABLE (variant text, variant_index int, units bigint, mean float8, p_best float8, weight float8,
               applied boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
    u float8[];
    m float8[];
    v float8[];
    w float8[];
    best float8[];
    moved boolean;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'update_ab_bandit_weights');
    t := mlops._own_ab_test(ab_test);
    IF t.status <> 'running' OR t.kind <> 'ab' THEN
        RAISE EXCEPTION 'A/B test "%" is not a running ab test', ab_test USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('Its kind is %s and its status %s.', t.kind, t.status);
    END IF;
    IF kind IS NULL OR kind NOT IN ('auto', 'binary', 'continuous') THEN
        RAISE EXCEPTION 'invalid kind "%"', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(a.units::float8 ORDER BY a.variant),
           array_agg(CASE WHEN higher_is_better THEN 1 ELSE -1 END * coalesce(a.mean, 0) ORDER BY a.variant),
           array_agg(coalesce(a.variance, 0) ORDER BY a.variant)
      INTO u, m, v FROM mlops._ab_arms(t, metric, kind) a;
    SELECT array_agg(b.weight ORDER BY b.variant), array_agg(b.p_best ORDER BY b.variant)
      INTO w, best FROM mlops.ab_bandit_weights(u, m, v, min_weight, min_units) b;
    moved := w[1] IS NOT NULL;
    IF moved THEN
        PERFORM mlops._ab_set_weights(t, w, false, t.coverage, 'bandit_updated',
                                      jsonb_build_object('metric', metric, 'p_best', to_jsonb(best), 'units', to_jsonb(u)));
    ELSE
        PERFORM mlops._ab_event(t, 'bandit_held', NULL,
                                jsonb_build_object('metric', metric, 'units', to_jsonb(u), 'min_units', min_units));
    END IF;
    RETURN QUERY
    SELECT x.name, x.variant, u[x.variant + 1]::bigint,
           CASE WHEN higher_is_better THEN 1 ELSE -1 END * m[x.variant + 1], best[x.variant + 1],
           w[x.variant + 1], moved
      FROM mlops.ab_variants x WHERE x.ab_test_id = t.ab_test_id ORDER BY x.variant;
END
$$;

CREATE OR REPLACE FUNCTION mlops.advance_canary(ab_test text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
    g jsonb;
    r record;
    c record;
    arm record;
    srm_p float8;
    min_units float8;
    drop float8;
    hib boolean;
    failed boolean;
    nxt float8;
    msg text;
    details jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'advance_canary');
    t := mlops._own_ab_test(ab_test);
    IF t.kind <> 'canary' THEN
        RAISE EXCEPTION 'A/B test "%" is not a canary release', ab_test USING ERRCODE = 'wrong_object_type';
    END IF;
    IF t.status <> 'running' THEN
        RAISE EXCEPTION 'canary release "%" is %', ab_test, t.status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF t.canary_step = 0 THEN
        RETURN 'rolled back earlier: the challenger serves no traffic';
    END IF;
    g := t.guard;
    min_units := (g ->> 'min_units')::float8;
    drop := (g ->> 'max_relative_drop')::float8;
    hib := (g ->> 'higher_is_better')::boolean;
    -- the champion's row (0) and the challenger's (1), from one computation of the results
    FOR arm IN SELECT * FROM mlops.ab_results(ab_test, g ->> 'metric', g ->> 'kind', (g ->> 'alpha')::float8) y
                WHERE y.variant_index IN (0, 1) LOOP
        IF arm.variant_index = 0 THEN
            c := arm;
        ELSE
            r := arm;
        END IF;
    END LOOP;
    srm_p := mlops._ab_srm_p(t);
    details := jsonb_build_object('step', t.canary_step, 'share', t.canary_steps[t.canary_step],
                                  'metric', g ->> 'metric', 'champion_units', c.units, 'challenger_units', r.units,
                                  'champion_mean', c.mean, 'challenger_mean', r.mean, 'rel_lift', r.rel_lift,
                                  'rel_lift_lower', r.rel_lift_lower, 'rel_lift_upper', r.rel_lift_upper,
                                  'p_value', r.p_value);
    IF srm_p < 0.001 THEN
        msg := format('canary release "%s" held: its units do not match its weights (sample-ratio p = %s)',
                      ab_test, srm_p);
        INSERT INTO mlops.ab_alerts (ab_test_id, kind, message, details)
        VALUES (t.ab_test_id, 'sample_ratio_mismatch', msg, details);
        PERFORM mlops._ab_event(t, 'canary_held', NULL, details || jsonb_build_object('reason', 'sample ratio mismatch'));
        RAISE WARNING '%', msg;
        RETURN msg;
    END IF;
    IF c.units < min_units OR r.units < min_units OR r.rel_lift IS NULL THEN
        PERFORM mlops._ab_event(t, 'canary_held', NULL, details || jsonb_build_object('reason', 'too few units'));
        RETURN format('held at %s%%: %s and %s units, %s needed on each side',
                      t.canary_steps[t.canary_step] * 100, c.units, r.units, min_units);
    END IF;
    failed := CASE WHEN hib THEN r.rel_lift_upper < -drop ELSE r.rel_lift_lower > drop END;
    IF failed THEN
        UPDATE mlops.ab_tests x SET canary_step = 0 WHERE x.ab_test_id = t.ab_test_id;
        PERFORM mlops._ab_set_weights(t, ARRAY[1, 0]::float8[], true, t.coverage, 'canary_rolled_back', details);
        msg := format('canary release "%s" rolled back: %s changed by %s%% (interval %s%% to %s%%), beyond the allowed drop of %s%%',
                      ab_test, g ->> 'metric', round((r.rel_lift * 100)::numeric, 2),
                      round((r.rel_lift_lower * 100)::numeric, 2), round((r.rel_lift_upper * 100)::numeric, 2), drop * 100);
        INSERT INTO mlops.ab_alerts (ab_test_id, kind, message, details) VALUES (t.ab_test_id, 'canary_guard', msg, details);
        RAISE WARNING '%', msg;
        RETURN msg;
    END IF;
    IF t.canary_step >= cardinality(t.canary_steps) THEN
        PERFORM mlops._ab_event(t, 'canary_completed', NULL, details);
        RETURN format('complete at %s%%: the guard holds; promote the challenger with mlops.promote_ab_winner()',
                      t.canary_steps[t.canary_step] * 100);
    END IF;
    nxt := t.canary_steps[t.canary_step + 1];
    UPDATE mlops.ab_tests x SET canary_step = t.canary_step + 1 WHERE x.ab_test_id = t.ab_test_id;
    PERFORM mlops._ab_set_weights(t, ARRAY[1 - nxt, nxt], false, t.coverage, 'canary_advanced',
                                  details || jsonb_build_object('next_share', nxt));
    RETURN format('advanced to %s%%', nxt * 100);
END
$$;

CREATE OR REPLACE FUNCTION mlops.promote_ab_winner(ab_test text, metric text, alias text DEFAULT 'champion',
                                        alpha float8 DEFAULT 0.05, kind text DEFAULT 'auto',
                                        higher_is_better boolean DEFAULT true, stop_test boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t mlops.ab_tests;
    w record;
    srm float8;
    ref record;
    model_name text;
    ver int;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'promote_ab_winner');
    t := mlops._own_ab_test(ab_test);
    IF t.kind = 'shadow' THEN
        RAISE EXCEPTION 'A/B test "%" is a shadow release: it has no outcomes by variant', ab_test
            USING ERRCODE = 'wrong_object_type';
    END IF;
    srm := mlops._ab_srm_p(t);
    IF srm < 0.001 THEN
        RAISE EXCEPTION 'A/B test "%" fails its sample-ratio check (p = %)', ab_test, srm
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The units per variant do not match the weights: assignment or exposure logging is broken, and the results cannot be trusted.',
                  HINT = 'mlops.ab_exposures_daily shows the units per day and variant.';
    END IF;
    SELECT * INTO w FROM mlops.ab_results(ab_test, metric, kind, alpha) r
     WHERE r.variant_index > 0 AND r.significant AND (r.abs_lift > 0) = higher_is_better
     ORDER BY CASE WHEN higher_is_better THEN r.abs_lift ELSE -r.abs_lift END DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'A/B test "%" has no significant winner on %', ab_test, metric
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('No treatment beats the control at alpha = %s.', alpha),
                  HINT = 'mlops.ab_results() shows the intervals; mlops.ab_sample_size_proportions() how many units it takes.';
    END IF;
    SELECT * INTO ref FROM mlops._resolve_model(w.model);
    SELECT m.name, v.version INTO model_name, ver
      FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id) WHERE v.version_id = ref.version_id;
    PERFORM mlops.set_model_alias(model_name, alias, ver);
    PERFORM mlops._ab_event(t, 'promoted', NULL,
                            jsonb_build_object('metric', metric, 'variant', w.variant, 'model', model_name,
                                               'version', ver, 'alias', alias, 'abs_lift', w.abs_lift,
                                               'rel_lift', w.rel_lift, 'p_value', w.p_value, 'srm_p_value', srm));
    IF stop_test AND t.status <> 'stopped' THEN
        PERFORM mlops._ab_lock(t.ab_test_id);
        UPDATE mlops.ab_tests x SET status = 'stopped', stopped_at = clock_timestamp() WHERE x.ab_test_id = t.ab_test_id;
        PERFORM mlops._ab_event(t, 'stopped', NULL, jsonb_build_object('reason', 'promoted'));
        PERFORM mlops._ab_changed();
    END IF;
    RETURN format('%s@%s is now version %s', model_name, alias, ver);
END
$$;

CREATE OR REPLACE FUNCTION mlops.acknowledge_ab_alert(alert_id bigint, note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'acknowledge_ab_alert');
    SELECT t.key INTO k FROM mlops.ab_alerts a JOIN mlops.ab_tests t USING (ab_test_id)
     WHERE a.alert_id = acknowledge_ab_alert.alert_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'A/B alert % does not exist', alert_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._own_ab_test(k);
    UPDATE mlops.ab_alerts a SET status = 'acknowledged', closed_by = mlops._invoking_user(), closed_at = clock_timestamp(),
           note = acknowledge_ab_alert.note
     WHERE a.alert_id = acknowledge_ab_alert.alert_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops._schedule_ab(name text, cron text, ab_test text, kind text, spec jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._check_model_name('schedule name', name);
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops._own_ab_test(ab_test);
    RETURN mlops._add_schedule(name, kind, cron, spec || jsonb_build_object('ab_test', ab_test));
END
$$;

CREATE OR REPLACE FUNCTION mlops.schedule_canary(name text, cron text, ab_test text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'schedule_canary');
    IF (mlops._ab_test(ab_test)).kind <> 'canary' THEN
        RAISE EXCEPTION 'A/B test "%" is not a canary release', ab_test USING ERRCODE = 'wrong_object_type';
    END IF;
    RETURN mlops._schedule_ab(name, cron, ab_test, 'ab_canary', '{}');
END
$$;

CREATE OR REPLACE FUNCTION mlops.schedule_ab_bandit(name text, cron text, ab_test text, metric text,
                                         min_weight float8 DEFAULT 0.01, min_units float8 DEFAULT 100)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'schedule_ab_bandit');
    PERFORM mlops._check_model_name('metric', metric);
    RETURN mlops._schedule_ab(name, cron, ab_test, 'ab_bandit',
                              jsonb_build_object('metric', metric, 'min_weight', min_weight, 'min_units', min_units));
END
$$;

CREATE OR REPLACE FUNCTION mlops._regression_trans(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_regression_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._regression_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_regression_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._rmse_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_rmse_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._mae_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_mae_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._r2_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_r2_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE AGGREGATE mlops.rmse(predicted float8, actual float8) (
    SFUNC = mlops._regression_trans, STYPE = float8[], INITCOND = '{0,0,0,0,0,0,0,0}',
    FINALFUNC = mlops._rmse_final, COMBINEFUNC = mlops._regression_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.mae(predicted float8, actual float8) (
    SFUNC = mlops._regression_trans, STYPE = float8[], INITCOND = '{0,0,0,0,0,0,0,0}',
    FINALFUNC = mlops._mae_final, COMBINEFUNC = mlops._regression_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.r2_score(predicted float8, actual float8) (
    SFUNC = mlops._regression_trans, STYPE = float8[], INITCOND = '{0,0,0,0,0,0,0,0}',
    FINALFUNC = mlops._r2_final, COMBINEFUNC = mlops._regression_combine, PARALLEL = SAFE);

CREATE OR REPLACE FUNCTION mlops._accuracy_trans(int8[], anyelement, anyelement) RETURNS int8[]
    AS 'MODULE_PATHNAME', 'mlops_accuracy_trans' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._accuracy_final(int8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_accuracy_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._confusion_trans(int8[], boolean, boolean) RETURNS int8[]
    AS 'MODULE_PATHNAME', 'mlops_confusion_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._confusion_trans(int8[], anyelement, anyelement, anyelement) RETURNS int8[]
    AS 'MODULE_PATHNAME', 'mlops_confusion_label_trans' LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._counts_combine(int8[], int8[]) RETURNS int8[]
    AS 'MODULE_PATHNAME', 'mlops_counts_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._precision_final(int8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_precision_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._recall_final(int8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_recall_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._f1_final(int8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_f1_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE AGGREGATE mlops.accuracy(predicted anyelement, actual anyelement) (
    SFUNC = mlops._accuracy_trans, STYPE = int8[], INITCOND = '{0,0}',
    FINALFUNC = mlops._accuracy_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.precision_score(predicted boolean, actual boolean) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._precision_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.precision_score(predicted anyelement, actual anyelement, positive anyelement) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._precision_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.recall_score(predicted boolean, actual boolean) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._recall_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.recall_score(predicted anyelement, actual anyelement, positive anyelement) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._recall_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.f1_score(predicted boolean, actual boolean) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._f1_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.f1_score(predicted anyelement, actual anyelement, positive anyelement) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._f1_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

CREATE OR REPLACE FUNCTION mlops._auc_trans(internal, float8, boolean) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_auc_trans_bool' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._auc_trans(internal, float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_auc_trans_int' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._auc_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_auc_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._auc_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'mlops_auc_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._auc_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_auc_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._auc_final(internal) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_auc_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE AGGREGATE mlops.roc_auc(score float8, label boolean) (
    SFUNC = mlops._auc_trans, STYPE = internal, FINALFUNC = mlops._auc_final,
    COMBINEFUNC = mlops._auc_combine, SERIALFUNC = mlops._auc_serialize,
    DESERIALFUNC = mlops._auc_deserialize, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.roc_auc(score float8, label int) (
    SFUNC = mlops._auc_trans, STYPE = internal, FINALFUNC = mlops._auc_final,
    COMBINEFUNC = mlops._auc_combine, SERIALFUNC = mlops._auc_serialize,
    DESERIALFUNC = mlops._auc_deserialize, PARALLEL = SAFE);

CREATE OR REPLACE FUNCTION mlops._log_loss_trans(float8[], float8, boolean) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_log_loss_trans_bool' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._log_loss_trans(float8[], float8, int) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_log_loss_trans_int' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._log_loss_trans(float8[], float8[], int) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_log_loss_trans_multi' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._log_loss_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_log_loss_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION mlops._log_loss_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_log_loss_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE AGGREGATE mlops.log_loss(probability float8, label boolean) (
    SFUNC = mlops._log_loss_trans, STYPE = float8[], INITCOND = '{0,0,0,2}',
    FINALFUNC = mlops._log_loss_final, COMBINEFUNC = mlops._log_loss_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.log_loss(probability float8, label int) (
    SFUNC = mlops._log_loss_trans, STYPE = float8[], INITCOND = '{0,0,0,2}',
    FINALFUNC = mlops._log_loss_final, COMBINEFUNC = mlops._log_loss_combine, PARALLEL = SAFE);

CREATE OR REPLACE AGGREGATE mlops.log_loss(probabilities float8[], label int) (
    SFUNC = mlops._log_loss_trans, STYPE = float8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._log_loss_final, COMBINEFUNC = mlops._log_loss_combine, PARALLEL = SAFE);

CREATE OR REPLACE FUNCTION mlops._train_fit(query text, classify boolean, numeric_labels boolean, feature_names text[],
                                 feature_categorical boolean[], algorithm text, hyperparams jsonb,
                                 test_size float8, seed int, label text, has_group boolean,
                                 run_id bigint DEFAULT NULL, dataset_name text DEFAULT NULL,
                                 relation_name text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_train_fit' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION mlops._train_kind_of(type_oid oid) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN type_oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                              'float8'::regtype, 'numeric'::regtype, 'bool'::regtype) THEN 'numeric'
            WHEN type_oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'name'::regtype)
                 OR (SELECT t.typtype = 'e' FROM pg_type t WHERE t.oid = type_oid) THEN 'categorical' END;

CREATE OR REPLACE FUNCTION mlops._train_candidates(hyperparams jsonb, method text, n_iter int, seed int)
RETURNS SETOF jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grid jsonb[] := ARRAY['{}'::jsonb];
    next jsonb[];
    k text;
    v jsonb;
    g jsonb;
    e jsonb;
BEGIN
    FOR k, v IN SELECT key, value FROM jsonb_each(hyperparams) ORDER BY key LOOP
        next := '{}';
        IF jsonb_typeof(v) = 'array' THEN
            IF jsonb_array_length(v) = 0 THEN
                RAISE EXCEPTION 'hyperparameter "%" lists no values to search', k
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            FOREACH g IN ARRAY grid LOOP
                FOR e IN SELECT value FROM jsonb_array_elements(v) LOOP
                    next := next || (g || jsonb_build_object(k, e));
                END LOOP;
            END LOOP;
        ELSE
            FOREACH g IN ARRAY grid LOOP
                next := next || (g || jsonb_build_object(k, v));
            END LOOP;
        END IF;
        grid := next;
        IF cardinality(grid) > 10000 THEN
            RAISE EXCEPTION 'the hyperparameter grid has more than 10,000 candidates'
                USING ERRCODE = 'program_limit_exceeded',
                      HINT = 'Search at random: search => ''{"method": "random", "n_iter": 50}''.';
        END IF;
    END LOOP;
    IF method = 'random' THEN
        RETURN QUERY SELECT c FROM unnest(grid) WITH ORDINALITY AS u(c, i)
                      ORDER BY md5(seed::text || ':' || i::text), i LIMIT n_iter;
    ELSE
        RETURN QUERY SELECT c FROM unnest(grid) AS u(c);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops._one_line(t text, n int) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN left(btrim(regexp_replace(t, '[[:space:][:cntrl:]]+', ' ', 'g')), n);

CREATE OR REPLACE FUNCTION mlops._train_metric_larger_is_better(metric text) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN metric IN ('r2', 'accuracy', 'precision', 'recall', 'f1', 'roc_auc') THEN true
            WHEN metric IN ('rmse', 'mae', 'log_loss') THEN false END;

CREATE OR REPLACE FUNCTION mlops._train_log(run_id bigint, result jsonb, hyperparams jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    v jsonb;
BEGIN
    FOR k, v IN SELECT key, value FROM jsonb_each(hyperparams) LOOP
        PERFORM mlops.log_param(run_id, k, CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' ELSE v::text END);
    END LOOP;
    PERFORM mlops.log_metrics(run_id, result -> 'metrics');
    PERFORM mlops.log_metrics(run_id, jsonb_build_object('train_rows', result -> 'train_rows',
                                                         'test_rows', result -> 'test_rows'));
    PERFORM mlops.log_artifact(run_id, 'model.json', convert_to(result ->> 'artifact', 'UTF8'), 'application/json');
END
$$;

CREATE OR REPLACE FUNCTION mlops._train_record_failure(payload jsonb) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mlops_train_record_failure' LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION mlops._train_failed_run(payload jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    run bigint;
BEGIN
    PERFORM mlops.set_experiment(payload ->> 'experiment');
    run := mlops.start_run(payload ->> 'experiment', payload ->> 'run_name', payload -> 'tags');
    PERFORM mlops.log_params(run, payload -> 'params');
    PERFORM mlops.set_tag(run, 'mlops.error', left(payload ->> 'error', 5000));
    PERFORM mlops.set_tag(run, 'mlops.sqlstate', payload ->> 'sqlstate');
    PERFORM mlops.end_run(run, 'FAILED');
    RETURN run;
END
$$;

CREATE OR REPLACE FUNCTION mlops.train(model text, source text, target_column text, features text[] DEFAULT NULL,
                            task text DEFAULT NULL, algorithm text DEFAULT NULL, hyperparams jsonb DEFAULT '{}',
                            test_size float8 DEFAULT 0.25, seed int DEFAULT 0, experiment text DEFAULT NULL,
                            group_column text DEFAULT NULL, split_column text DEFAULT NULL,
                            search jsonb DEFAULT NULL, run_name text DEFAULT NULL, description text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_variable
DECLARE
    sp text := current_setting('search_path');
    src text;
    cols jsonb := '{}';
    col_names text[] := '{}';      -- in the source's order (cols does not keep it)
    col record;
    service text;
    feats text[];
    kinds boolean[] := '{}';
    f text;
    k text;
    t_oid oid;
    classify boolean;
    numeric_labels boolean;
    algo text;
    q text;
    sel text;
    exp_name text;
    parent_run bigint;
    run bigint;
    results jsonb;
    res jsonb;
    version int;
    metric text;
    larger boolean;
    best jsonb;
    best_run bigint;
    best_value float8;
    cand jsonb;
    n_cand int := 0;
    ds_name text;
    rel_name text;
    err_state text;
    err_message text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'train');
    IF model IS NULL OR source IS NULL OR target_column IS NULL THEN
        RAISE EXCEPTION 'model, source and target_column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops._check_model_name('model', model);
    PERFORM mlops._check_label('experiment name', coalesce(experiment, model), 250);
    -- From here on, a failure leaves a FAILED run saying why (and nothing registered).
    BEGIN
    IF hyperparams IS NULL OR jsonb_typeof(hyperparams) <> 'object' THEN
        RAISE EXCEPTION 'hyperparams must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF test_size IS NULL OR NOT (test_size >= 0 AND test_size < 1) THEN
        RAISE EXCEPTION 'test_size must be at least 0 and less than 1, not %', coalesce(test_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF task IS NOT NULL AND task NOT IN ('regression', 'classification', 'binary', 'multiclass') THEN
        RAISE EXCEPTION 'unknown task "%"', task USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Tasks: regression, classification (binary or multiclass, from the target''s classes).';
    END IF;
    IF algorithm IS NOT NULL AND algorithm NOT IN ('linear_regression', 'ridge', 'logistic_regression', 'xgboost') THEN
        RAISE EXCEPTION 'unknown algorithm "%"', algorithm USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Algorithms: linear_regression, ridge, logistic_regression, xgboost.';
    END IF;

    -- A feature service: the source is its entity source, the training set its point-in-time join.
    IF cardinality(features) = 1 AND features[1] NOT LIKE '%:%' THEN
        SELECT s.name INTO service FROM mlops.feature_services s WHERE s.name = features[1];
    END IF;
    IF service IS NOT NULL THEN
        src := '(' || mlops.training_set_query(source, features) || ')';
        SELECT array_agg(split_part(x, ':', 2) ORDER BY o) INTO feats
          FROM mlops.feature_services s, unnest(s.features) WITH ORDINALITY AS u(x, o) WHERE s.name = service;
    ELSE
        src := mlops._source_sql(source);
    END IF;

    FOR col IN SELECT * FROM mlops._describe_source(src, sp) d ORDER BY d.position LOOP
        cols := cols || jsonb_build_object(col.name, col.type_oid);
        col_names := col_names || col.name;
    END LOOP;
    FOREACH f IN ARRAY ARRAY[target_column, group_column, split_column] LOOP
        IF f IS NOT NULL AND NOT cols ? f THEN
            RAISE EXCEPTION 'column "%" does not exist in the source', f USING ERRCODE = 'undefined_column';
        END IF;
    END LOOP;
    IF split_column IS NOT NULL AND (cols ->> split_column)::oid <> 'bool'::regtype THEN
        RAISE EXCEPTION 'split column "%" must be boolean (true: held out), not %', split_column,
                        (cols ->> split_column)::oid::regtype USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF feats IS NULL THEN
        feats := features;
    END IF;
    IF feats IS NULL THEN
        -- every column but the target, the group and the split (and a feature service's entity columns)
        SELECT array_agg(c ORDER BY o) INTO feats
          FROM unnest(col_names) WITH ORDINALITY AS u(c, o)
         WHERE c NOT IN (target_column, coalesce(group_column, ''), coalesce(split_column, ''));
    END IF;
    IF coalesce(cardinality(feats), 0) = 0 THEN
        RAISE EXCEPTION 'no features to train on' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH f IN ARRAY feats LOOP
        IF f IS NULL OR NOT cols ? f THEN
            RAISE EXCEPTION 'column "%" does not exist in the source', f USING ERRCODE = 'undefined_column';
        END IF;
        IF f IN (target_column, group_column, split_column) THEN
            RAISE EXCEPTION 'column "%" cannot be both a feature and the target, group or split column', f
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        k := mlops._train_kind_of((cols ->> f)::oid);
        IF k IS NULL THEN
            RAISE EXCEPTION 'feature "%" is of type %, which training does not take', f, (cols ->> f)::oid::regtype
                USING ERRCODE = 'datatype_mismatch',
                      HINT = 'Numbers and booleans are numeric features, text and enums categorical: cast the '
                             'column in a query source.';
        END IF;
        kinds := kinds || (k = 'categorical');
    END LOOP;
    IF (SELECT count(DISTINCT x) FROM unnest(feats) x) < cardinality(feats) THEN
        RAISE EXCEPTION 'a feature is listed twice' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The task: from the task, else the algorithm, else the target's type.
    t_oid := (cols ->> target_column)::oid;
    classify := CASE WHEN task IN ('classification', 'binary', 'multiclass') THEN true
                     WHEN task = 'regression' THEN false
                     WHEN algorithm = 'logistic_regression' THEN true
                     WHEN algorithm IN ('linear_regression', 'ridge') THEN false
                     ELSE mlops._train_kind_of(t_oid) IS DISTINCT FROM 'numeric' OR t_oid = 'bool'::regtype END;
    IF NOT classify AND (mlops._train_kind_of(t_oid) IS DISTINCT FROM 'numeric' OR t_oid = 'bool'::regtype) THEN
        RAISE EXCEPTION 'a regression needs a numeric target; "%" is %', target_column, t_oid::regtype
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'For class labels, train a classifier: task => ''classification''.';
    END IF;
    numeric_labels := mlops._train_kind_of(t_oid) = 'numeric';
    algo := coalesce(algorithm, CASE WHEN classify THEN 'logistic_regression' ELSE 'linear_regression' END);
    IF classify AND algo IN ('linear_regression', 'ridge') THEN
        RAISE EXCEPTION '% is a regression; the task is classification', algo USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use logistic_regression or xgboost for classification.';
    ELSIF NOT classify AND algo = 'logistic_regression' THEN
        RAISE EXCEPTION 'logistic_regression is a classifier; the task is regression' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- The query the fit reads: target, split, group, then the features.
    sel := format('SELECT %s, %s, %s', format(CASE WHEN classify THEN '(s.%I)::text' ELSE '(s.%I)::float8' END, target_column),
                  CASE WHEN split_column IS NULL THEN 'NULL::int' ELSE format('s.%I', split_column) END,
                  CASE WHEN group_column IS NULL THEN 'NULL::text' ELSE format('(s.%I)::text', group_column) END);
    FOR i IN 1 .. cardinality(feats) LOOP
        sel := sel || ', ' || format(CASE WHEN kinds[i] THEN '(s.%I)::text'
                                          WHEN (cols ->> feats[i])::oid = 'bool'::regtype THEN '(s.%I)::int::float8'
                                          ELSE '(s.%I)::float8' END, feats[i]);
    END LOOP;
    q := sel || ' FROM ' || src || ' s';
    IF group_column IS NOT NULL THEN
        q := q || format(' ORDER BY (s.%I)::text COLLATE "C"', group_column);
    END IF;

    -- search: {"method": "grid" | "random", "n_iter": n, "metric": name}
    IF search IS NOT NULL THEN
        IF jsonb_typeof(search) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(search) x
                                                        WHERE x NOT IN ('method', 'n_iter', 'metric')) THEN
            RAISE EXCEPTION 'search must be an object of method, n_iter and metric' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF coalesce(search ->> 'method', 'grid') NOT IN ('grid', 'random') THEN
            RAISE EXCEPTION 'search method must be grid or random' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF group_column IS NOT NULL THEN
            RAISE EXCEPTION 'a hyperparameter search trains one model, not one per group'
                USING ERRCODE = 'feature_not_supported';
        END IF;
        IF test_size = 0 AND split_column IS NULL THEN
            RAISE EXCEPTION 'a hyperparameter search compares candidates on held-out rows: test_size must be above 0'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    metric := coalesce(search ->> 'metric', CASE WHEN classify THEN 'log_loss' ELSE 'rmse' END);
    larger := mlops._train_metric_larger_is_better(metric);
    IF larger IS NULL THEN
        RAISE EXCEPTION 'unknown metric "%"', metric USING ERRCODE = 'invalid_parameter_value';
    END IF;

    exp_name := coalesce(experiment, model);
    PERFORM mlops.set_experiment(exp_name);
    parent_run := mlops.start_run(exp_name, coalesce(run_name, 'train ' || model),
                                  jsonb_build_object('mlops.trained_by', 'mlops.train', 'mlops.algorithm', algo,
                                                     'mlops.model', model));
    -- train's own params under mlops., so that no hyperparameter (XGBoost's seed) collides with them
    PERFORM mlops.log_params(parent_run, jsonb_strip_nulls(jsonb_build_object(
        'mlops.algorithm', algo, 'mlops.task', CASE WHEN classify THEN 'classification' ELSE 'regression' END,
        'mlops.target', target_column, 'mlops.features', array_to_string(feats, ','),
        'mlops.test_size', test_size, 'mlops.seed', seed,
        'mlops.source', mlops._one_line(source, 500),
        'mlops.group_column', group_column, 'mlops.split_column', split_column, 'mlops.search', search::text)));

    -- The dataset input is the rows the fit reads, recorded by it (see _train_fit).
    ds_name := mlops._one_line(source, 250);
    rel_name := CASE WHEN src LIKE '(%' THEN CASE WHEN service IS NULL THEN 'query' ELSE 'feature service ' || service END
                     ELSE mlops._one_line(src, 500) END;

    IF search IS NULL THEN
        results := mlops._train_fit(q, classify, numeric_labels, feats, kinds, algo, hyperparams, test_size, seed,
                                    format('model "%s" being trained', model), group_column IS NOT NULL,
                                    parent_run, ds_name, rel_name);
        IF group_column IS NULL THEN
            res := results -> 0;
            IF task IN ('binary', 'multiclass') AND res ->> 'task' <> task THEN
                RAISE EXCEPTION 'the target has % classes: the task is %, not %',
                                CASE WHEN res ->> 'task' = 'binary' THEN 'two' ELSE 'more than two' END, res ->> 'task', task
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            PERFORM mlops._train_log(parent_run, res, hyperparams);
            version := mlops.register_model_version_from_run(model, parent_run, 'model.json',
                                                             coalesce(description, format('trained by mlops.train (%s)', algo)));
            PERFORM mlops.end_run(parent_run, 'FINISHED');
            RETURN version;
        END IF;
        -- one child run and one version per group
        FOR res IN SELECT value FROM jsonb_array_elements(results) LOOP
            run := mlops.start_run(exp_name, left(model || ' ' || coalesce(res ->> 'group', 'NULL'), 250),
                                   jsonb_build_object('mlops.group', coalesce(res ->> 'group', 'NULL')), parent_run);
            PERFORM mlops._train_log(run, res, hyperparams);
            version := mlops.register_model_version_from_run(model, run, 'model.json',
                                                             coalesce(description, format('trained by mlops.train (%s), %s = %s',
                                                                      algo, group_column, coalesce(res ->> 'group', 'NULL'))));
            PERFORM mlops.set_model_version_tag(model, version, 'group_column', group_column);
            PERFORM mlops.set_model_version_tag(model, version, 'group', coalesce(res ->> 'group', 'NULL'));
            PERFORM mlops.end_run(run, 'FINISHED');
        END LOOP;
        PERFORM mlops.log_metric(parent_run, 'groups', jsonb_array_length(results));
        PERFORM mlops.end_run(parent_run, 'FINISHED');
        RETURN version;
    END IF;

    -- A search: each candidate a nested run, the best on the held-out metric registered.
    FOR cand IN SELECT c FROM mlops._train_candidates(hyperparams, coalesce(search ->> 'method', 'grid'),
                                                      coalesce((search ->> 'n_iter')::int, 10), seed) c LOOP
        n_cand := n_cand + 1;
        res := mlops._train_fit(q, classify, numeric_labels, feats, kinds, algo, cand, test_size, seed,
                                format('model "%s" being trained', model), false,
                                parent_run, ds_name, rel_name) -> 0;
        run := mlops.start_run(exp_name, left(model || ' candidate ' || n_cand, 250),
                               jsonb_build_object('mlops.candidate', n_cand::text), parent_run);
        PERFORM mlops._train_log(run, res, cand);
        PERFORM mlops.end_run(run, 'FINISHED');
        IF NOT res -> 'metrics' ? metric THEN
            RAISE EXCEPTION 'metric "%" is not one the % task logs', metric, res ->> 'task'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF best IS NULL OR (larger AND (res -> 'metrics' ->> metric)::float8 > best_value)
           OR (NOT larger AND (res -> 'metrics' ->> metric)::float8 < best_value) THEN
            best := cand || jsonb_build_object('metric', res -> 'metrics' -> metric);
            best_value := (res -> 'metrics' ->> metric)::float8;
            best_run := run;
        END IF;
    END LOOP;
    PERFORM mlops.log_metrics(parent_run, jsonb_build_object('best_' || metric, best_value, 'candidates', n_cand));
    PERFORM mlops.set_tag(parent_run, 'mlops.best_run', best_run::text);
    version := mlops.register_model_version_from_run(model, best_run, 'model.json',
                                                     coalesce(description, format('trained by mlops.train (%s), best of %s by %s',
                                                              algo, n_cand, metric)));
    PERFORM mlops.end_run(parent_run, 'FINISHED');
    RETURN version;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        PERFORM mlops._train_record_failure(jsonb_build_object(
            'experiment', coalesce(experiment, model),
            'run_name', coalesce(run_name, 'train ' || model),
            'tags', jsonb_build_object('mlops.trained_by', 'mlops.train', 'mlops.model', model),
            'params', jsonb_strip_nulls(jsonb_build_object(
                'mlops.algorithm', algorithm, 'mlops.task', task, 'mlops.target', target_column,
                'mlops.features', array_to_string(features, ','), 'mlops.test_size', test_size, 'mlops.seed', seed,
                'mlops.source', mlops._one_line(source, 500), 'mlops.group_column', group_column,
                'mlops.split_column', split_column, 'mlops.search', search::text,
                'mlops.hyperparams', left(hyperparams::text, 500))),
            'error', err_message, 'sqlstate', err_state));
        RAISE;
    END;
END
$$;

CREATE OR REPLACE FUNCTION mlops._retraining_metric_fits(metric text, task text) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN task = 'regression' THEN metric IN ('rmse', 'mae', 'r2')
            WHEN task = 'binary' THEN metric IN ('accuracy', 'log_loss', 'roc_auc', 'f1', 'precision', 'recall')
            ELSE metric IN ('accuracy', 'log_loss') END;

CREATE OR REPLACE FUNCTION mlops._retraining_metric(metric text, model_ref text, rows_sql text, target_column text)
RETURNS float8
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v record;
    cols text[];
    feats text;
    pred text;
    agg text;
    result float8;
BEGIN
    SELECT x.task, x.classes, x.signature INTO v
      FROM mlops.model_versions_overview x WHERE x.version_id = (SELECT r.version_id FROM mlops._resolve_model(model_ref) r);
    IF NOT mlops._retraining_metric_fits(metric, v.task) THEN
        RAISE EXCEPTION 'metric "%" does not fit a % model', metric, v.task USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Regression: rmse, mae, r2; classification: accuracy, log_loss; binary also roc_auc, f1, precision, recall.';
    END IF;
    -- the features by name: every column of the rows but those the model does not take
    SELECT array_agg(d.name) INTO cols FROM mlops._describe_source('(' || rows_sql || ')', current_setting('search_path')) d
     WHERE d.name NOT IN (SELECT x ->> 'name' FROM jsonb_array_elements(v.signature) x);
    feats := format('(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.-) %L::text[])', coalesce(cols, '{}'));
    IF v.task = 'regression' THEN
        pred := format('(s.%I)::float8 AS y, mlops.predict(%L, %s) AS p', target_column, model_ref, feats);
    ELSE
        pred := format('(s.%I)::text AS y, mlops.predict_proba(%L, %s) AS pr, mlops.predict_class(%L, %s) AS c',
                       target_column, model_ref, feats, model_ref, feats);
    END IF;
    -- the metric aggregates (metrics.sql): the same definitions train() logs with
    agg := CASE metric
        WHEN 'rmse' THEN 'mlops.rmse(p, y)'
        WHEN 'mae' THEN 'mlops.mae(p, y)'
        WHEN 'r2' THEN 'mlops.r2_score(p, y)'
        WHEN 'accuracy' THEN 'mlops.accuracy(c, y)'
        WHEN 'log_loss' THEN format('mlops.log_loss(pr, array_position(%L::text[], y) - 1)',
                                    ARRAY(SELECT jsonb_array_elements_text(v.classes)))
        WHEN 'precision' THEN format('mlops.precision_score(c, y, %L::text)', v.classes ->> 1)
        WHEN 'recall' THEN format('mlops.recall_score(c, y, %L::text)', v.classes ->> 1)
        WHEN 'f1' THEN format('mlops.f1_score(c, y, %L::text)', v.classes ->> 1)
        WHEN 'roc_auc' THEN format('mlops.roc_auc(pr[2], y = %L)', v.classes ->> 1)
        END;
    EXECUTE format('SELECT (%s)::float8 FROM (SELECT %s FROM (%s) s) e', agg, pred, rows_sql) INTO result;
    RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION mlops._own_retraining_policy(name text) RETURNS mlops.retraining_policies
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p mlops.retraining_policies;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'policy name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO p FROM mlops.retraining_policies x WHERE x.name = _own_retraining_policy.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'retraining policy "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF p.created_by <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'retraining policy "%" belongs to role %', name, p.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A policy retrains and moves aliases as the role that created it, and only that role runs or changes it.';
    END IF;
    RETURN p;
END
$$;

CREATE OR REPLACE FUNCTION mlops._retraining_log(p mlops.retraining_policies, job_run_id bigint, step text, version int,
                                      detail jsonb) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO mlops.retraining_events (policy_id, policy, job_run_id, step, version, detail, actor)
    VALUES (p.policy_id, p.name, job_run_id, step, version, coalesce(detail, '{}'), mlops._invoking_user());
$$;

CREATE OR REPLACE FUNCTION mlops.create_retraining_policy(name text, model text, source text, target_column text,
                                               features text[] DEFAULT NULL, algorithm text DEFAULT NULL,
                                               hyperparams jsonb DEFAULT '{}', time_column text DEFAULT NULL,
                                               training_window interval DEFAULT NULL, trigger text DEFAULT 'schedule',
                                               drift_monitor text DEFAULT NULL, release text DEFAULT 'compare',
                                               metric text DEFAULT NULL, margin float8 DEFAULT 0,
                                               release_options jsonb DEFAULT NULL, test_size float8 DEFAULT 0.25,
                                               seed int DEFAULT 0, experiment text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p mlops.retraining_policies;
    owner name;
    o jsonb := coalesce(release_options, '{}');
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'create_retraining_policy');
    PERFORM mlops._check_model_name('policy name', name);
    PERFORM mlops._check_model_name('model', model);
    IF source IS NULL OR target_column IS NULL THEN
        RAISE EXCEPTION 'source and target_column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops._source_sql(source);
    IF algorithm IS NOT NULL AND algorithm NOT IN ('linear_regression', 'ridge', 'logistic_regression', 'xgboost') THEN
        RAISE EXCEPTION 'unknown algorithm "%"', algorithm USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Algorithms: linear_regression, ridge, logistic_regression, xgboost.';
    END IF;
    IF hyperparams IS NULL OR jsonb_typeof(hyperparams) <> 'object' THEN
        RAISE EXCEPTION 'hyperparams must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (time_column IS NULL) <> (training_window IS NULL) THEN
        RAISE EXCEPTION 'time_column and training_window go together' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Each cycle trains on the rows whose time_column is within training_window before it starts; '
                   'give neither to train on the whole source each time.';
    END IF;
    IF training_window <= interval '0' THEN
        RAISE EXCEPTION 'training_window must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF trigger IS NULL OR trigger NOT IN ('schedule', 'drift', 'both') THEN
        RAISE EXCEPTION 'trigger is schedule, drift or both, not %', coalesce(trigger, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (trigger = 'schedule') <> (drift_monitor IS NULL) THEN
        RAISE EXCEPTION 'a % trigger %', trigger,
                        CASE WHEN trigger = 'schedule' THEN 'takes no drift monitor' ELSE 'needs a drift monitor' END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF drift_monitor IS NOT NULL THEN
        SELECT m.created_by INTO owner FROM mlops.drift_monitors m WHERE m.name = create_retraining_policy.drift_monitor;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'drift monitor "%" does not exist', drift_monitor USING ERRCODE = 'undefined_object';
        ELSIF owner <> mlops._invoking_user() THEN
            RAISE EXCEPTION 'drift monitor "%" belongs to role %', drift_monitor, owner
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Its scheduled runs start the policy''s cycles, as its owner: a policy follows its owner''s monitors.';
        END IF;
    END IF;
    IF release IS NULL OR release NOT IN ('compare', 'shadow', 'ab', 'canary') THEN
        RAISE EXCEPTION 'release is compare, shadow, ab or canary, not %', coalesce(release, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF metric IS NOT NULL AND mlops._train_metric_larger_is_better(metric) IS NULL THEN
        RAISE EXCEPTION 'unknown metric "%"', metric USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Regression: rmse, mae, r2; classification: accuracy, log_loss; binary also roc_auc, f1, precision, recall.';
    END IF;
    IF margin IS NULL OR NOT (margin >= 0 AND margin < 'Infinity') THEN
        RAISE EXCEPTION 'margin must be a finite number of at least 0, not %', coalesce(margin::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF test_size IS NULL OR NOT (test_size > 0 AND test_size < 1) THEN
        RAISE EXCEPTION 'test_size must be above 0 and below 1, not %', coalesce(test_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The challenger and the champion are compared on the held-out rows.';
    END IF;
    IF jsonb_typeof(o) <> 'object' OR EXISTS (
           SELECT FROM jsonb_object_keys(o) k
            WHERE k NOT IN ('weights', 'coverage', 'seed', 'canary_steps', 'guard', 'description', 'metric', 'alpha',
                            'kind', 'higher_is_better')) THEN
        RAISE EXCEPTION 'invalid release_options %', o USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Keys: weights, coverage, seed, canary_steps, guard, description (create_ab_test''s), and metric, '
                     'alpha, kind, higher_is_better (promote_ab_winner''s, for conclude_retraining).';
    END IF;
    IF release = 'compare' AND o <> '{}' THEN
        RAISE EXCEPTION 'a compare release takes no release_options' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF release = 'canary' AND NOT (o ? 'canary_steps' AND o ? 'guard') THEN
        RAISE EXCEPTION 'a canary release needs canary_steps and guard in release_options'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example {"canary_steps": [0.05, 0.25, 0.5], "guard": {"metric": "retained"}}.';
    END IF;
    IF release = 'ab' AND jsonb_typeof(o -> 'metric') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'an ab release needs the metric its winner is promoted on, in release_options'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example {"metric": "converted"}.';
    END IF;
    INSERT INTO mlops.retraining_policies AS x (name, model, source, target_column, features, algorithm, hyperparams,
                                                time_column, training_window, trigger, drift_monitor, release, metric,
                                                margin, release_options, test_size, seed, experiment, created_by)
    VALUES (name, model, source, target_column, features, algorithm, hyperparams, time_column, training_window, trigger,
            drift_monitor, release, metric, margin, o, test_size, coalesce(seed, 0), experiment, mlops._invoking_user())
        ON CONFLICT ON CONSTRAINT retraining_policies_name_key DO NOTHING
    RETURNING x.* INTO p;
    IF p.policy_id IS NULL THEN
        RAISE EXCEPTION 'retraining policy "%" already exists', name USING ERRCODE = 'unique_violation';
    END IF;
    PERFORM mlops._retraining_log(p, NULL, 'created', NULL, to_jsonb(p) - 'policy_id' - 'name' - 'created_by' - 'created_at');
    RETURN p.policy_id;
END
$$;

CREATE OR REPLACE FUNCTION mlops.drop_retraining_policy(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p mlops.retraining_policies;
    sched text;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'drop_retraining_policy');
    p := mlops._own_retraining_policy(name);
    SELECT s.name INTO sched FROM mlops.schedules s WHERE s.kind = 'retrain' AND s.spec ->> 'policy' = p.name LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'retraining policy "%" has schedule "%"', name, sched USING ERRCODE = 'dependent_objects_still_exist',
            HINT = 'mlops.drop_schedule() removes the schedule first.';
    END IF;
    DELETE FROM mlops.retraining_policies x WHERE x.policy_id = p.policy_id;
    PERFORM mlops._retraining_log(p, NULL, 'dropped', NULL, NULL);
END
$$;

CREATE OR REPLACE FUNCTION mlops._retraining_new_alert(p mlops.retraining_policies) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('alert_id', a.alert_id, 'feature', coalesce(a.feature, '(dataset)'), 'raised_at', a.raised_at,
                              'monitor', m.name)
      FROM mlops.drift_alerts a JOIN mlops.drift_monitors m USING (monitor_id)
     WHERE m.name = p.drift_monitor
       AND a.raised_at > coalesce((SELECT max(e.at) FROM mlops.retraining_events e
                                    WHERE e.policy_id = p.policy_id AND e.step = 'trained'), '-infinity')
     ORDER BY a.raised_at DESC, a.alert_id DESC LIMIT 1;
$$;

CREATE OR REPLACE FUNCTION mlops._retraining_event(job_run_id bigint, policy text, step text, version int, detail jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p mlops.retraining_policies;
    other bigint;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'retrain');
    p := mlops._own_retraining_policy(policy);
    IF NOT EXISTS (SELECT FROM mlops.job_runs j
                    WHERE j.job_run_id = _retraining_event.job_run_id AND j.status = 'running' AND j.kind = 'retrain'
                      AND j.job_name = 'retrain:' || p.name AND j.backend_pid = pg_backend_pid()
                      AND j.run_by = mlops._invoking_user()) THEN
        RAISE EXCEPTION 'job run % is not a cycle of retraining policy "%" in this session', job_run_id, policy
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF step IS NULL OR step NOT IN ('started', 'skipped', 'trained', 'challenger', 'evaluated', 'promoted', 'kept',
                                    'released', 'stopped', 'failed') THEN
        RAISE EXCEPTION 'invalid step "%" of a cycle', step USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF step = 'started' THEN
        SELECT o.job_run_id INTO other FROM mlops.job_runs_overview o
         WHERE o.job_name = 'retrain:' || p.name AND o.status = 'running' AND o.job_run_id <> _retraining_event.job_run_id
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'a cycle of retraining policy "%" is running already (job run %)', policy, other
                USING ERRCODE = 'object_in_use';
        END IF;
    END IF;
    PERFORM mlops._retraining_log(p, job_run_id, step, version, detail);
END
$$;

CREATE OR REPLACE PROCEDURE mlops._retrain(policy text, schedule_id bigint, how text, INOUT result jsonb)
LANGUAGE plpgsql
AS $$
DECLARE
    p mlops.retraining_policies;
    only_on_new_alert boolean;
    run_lock int;
    sp text := pg_catalog.current_setting('search_path');
    run record;
    job text;
    step text;
    alert jsonb;
    w_start timestamptz;
    w_end timestamptz;
    service boolean := false;
    windowed text;
    holdout text;
    feats text[];
    n_rows bigint;
    n_test bigint;
    new_version int;
    v record;
    champion int;
    metric text;
    larger boolean;
    champ_value float8;
    chal_value float8;
    gain float8;
    decision text;
    reason text;
    o jsonb;
    ab_key text;
    prev text;
    err_state text;
    err_message text;
    err_detail text;
    err_hint text;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'retrain');
    SELECT * INTO p FROM mlops.retraining_policies x WHERE x.name = _retrain.policy;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'retraining policy "%" does not exist', policy USING ERRCODE = 'undefined_object';
    END IF;
    IF p.created_by <> current_user THEN
        RAISE EXCEPTION 'retraining policy "%" belongs to role %', p.name, p.created_by
            USING ERRCODE = 'insufficient_privilege', DETAIL = 'A policy''s cycles run only as the role that created it.';
    END IF;
    IF how IS NULL OR how NOT IN ('manual', 'schedule', 'drift') THEN
        RAISE EXCEPTION 'a cycle is started manually, by a schedule or by drift, not %', coalesce(how, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    only_on_new_alert := how = 'drift' OR (how = 'schedule' AND p.trigger = 'drift');
    job := 'retrain:' || p.name;
    w_end := clock_timestamp();
    w_start := w_end - p.training_window;
    result := jsonb_build_object('policy', p.name, 'model', p.model, 'release', p.release);
    BEGIN
        run := mlops._job_run_start(job, 'retrain', schedule_id, NULL, p.source, p.model || '@champion', NULL);
        run_lock := run.lock_key;
        result := result || jsonb_build_object('job_run_id', run.job_run_id);
        IF p.drift_monitor IS NOT NULL THEN
            alert := mlops._retraining_new_alert(p);
        END IF;
        PERFORM mlops._retraining_event(run.job_run_id, p.name, 'started', NULL,
                                        jsonb_build_object('started_by', how, 'schedule_id', schedule_id,
                                                           'window_start', CASE WHEN p.time_column IS NOT NULL THEN w_start END,
                                                           'window_end', w_end, 'drift_alert', alert));
    EXCEPTION WHEN OTHERS THEN
        IF run_lock IS NOT NULL THEN
            PERFORM pg_advisory_unlock(1836019578, run_lock);
        END IF;
        RAISE;
    END;
    IF only_on_new_alert AND alert IS NULL THEN
        reason := format('no drift: monitor "%s" raised no alert since the last retraining, nothing to do', p.drift_monitor);
        PERFORM mlops._retraining_event(run.job_run_id, p.name, 'skipped', NULL, jsonb_build_object('reason', reason));
        -- the run succeeded; its note says why it did nothing
        PERFORM mlops._job_run_finish(run.job_run_id, 'succeeded', 0, 0, 0, NULL, NULL, reason);
        COMMIT;
        PERFORM pg_advisory_unlock(1836019578, run.lock_key);
        RAISE NOTICE '%', reason;
        result := result || jsonb_build_object('decision', 'skipped', 'reason', reason);
        RETURN;
    END IF;
    COMMIT;

    -- (1)-(4): the window with its held-out rows, a new version, the challenger alias
    BEGIN
        step := 'train';
        -- held out: by a hash of the seed and the row's content but its time, so that a row keeps its side
        windowed := format('SELECT s.*, ((''x'' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.md5(%L OPERATOR(pg_catalog.||) '
                           '(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.-) %L::text)::text), 1, 8))::bit(32)::bigint '
                           '/ 4294967296.0 OPERATOR(pg_catalog.<) %s) AS mlops_holdout FROM %s s',
                           p.seed || ':', coalesce(p.time_column, ''), p.test_size, mlops._source_sql(p.source));
        IF p.time_column IS NOT NULL THEN
            windowed := windowed || format(' WHERE s.%I >= %L::timestamptz AND s.%I < %L::timestamptz',
                                           p.time_column, w_start, p.time_column, w_end);
        END IF;
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE w.mlops_holdout) FROM (%s) w', windowed) INTO n_rows, n_test;
        result := result || jsonb_build_object('window_start', CASE WHEN p.time_column IS NOT NULL THEN w_start END,
                                               'window_end', w_end, 'rows', n_rows, 'held_out_rows', n_test);
        IF n_rows = 0 THEN
            RAISE EXCEPTION 'the training window of retraining policy "%" has no rows', p.name
                USING ERRCODE = 'no_data_found',
                      DETAIL = CASE WHEN p.time_column IS NULL THEN format('The source %s is empty.', left(p.source, 200))
                                    ELSE format('No row of %s has %s from %s to %s.', left(p.source, 200), p.time_column,
                                                w_start, w_end) END;
        END IF;
        -- a feature service: the window is of its entity source, the held-out flag carried through its training set
        IF cardinality(p.features) = 1 AND p.features[1] NOT LIKE '%:%' THEN
            service := EXISTS (SELECT FROM mlops.feature_services s WHERE s.name = p.features[1]);
        END IF;
        feats := p.features;
        IF feats IS NULL THEN
            SELECT array_agg(d.name ORDER BY d.position) INTO feats
              FROM mlops._describe_source('(' || windowed || ')', sp) d
             WHERE d.name NOT IN (p.target_column, 'mlops_holdout', coalesce(p.time_column, ''));
        END IF;
        holdout := format('SELECT * FROM (%s) t WHERE t.mlops_holdout',
                          CASE WHEN service THEN mlops.training_set_query(windowed, p.features) ELSE windowed END);
        new_version := mlops.train(p.model, windowed, p.target_column, feats, NULL, p.algorithm, p.hyperparams, p.test_size,
                               p.seed, p.experiment, NULL, 'mlops_holdout', NULL, left('retrain ' || p.name, 250),
                               format('trained by retraining policy %s', p.name));
        SELECT x.run_id, x.task, x.classes INTO v
          FROM mlops.model_versions_overview x WHERE x.model_name = p.model AND x.version = new_version;
        PERFORM mlops.set_tag(v.run_id, 'mlops.retraining_policy', p.name);
        result := result || jsonb_build_object('version', new_version, 'run_id', v.run_id);
        PERFORM mlops._retraining_event(run.job_run_id, p.name, 'trained', new_version,
                                        jsonb_build_object('run_id', v.run_id, 'rows', n_rows, 'held_out_rows', n_test,
                                                           'window_start', result -> 'window_start', 'window_end', w_end,
                                                           'metrics', (SELECT jsonb_object_agg(m.key, m.value)
                                                                         FROM mlops.latest_metrics m WHERE m.run_id = v.run_id)));
        PERFORM mlops.set_model_alias(p.model, 'challenger', new_version);
        PERFORM mlops._retraining_event(run.job_run_id, p.name, 'challenger', new_version, NULL);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                                err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
        new_version := NULL;
    END;

    IF err_state IS NULL THEN
        COMMIT;
        -- (5): the release
        BEGIN
            step := 'release';
            SELECT mv.version INTO champion
              FROM mlops.model_aliases a JOIN mlops.registered_models m USING (model_id)
              JOIN mlops.model_versions mv USING (version_id)
             WHERE m.name = p.model AND a.alias = 'champion';
            metric := coalesce(p.metric, CASE WHEN v.task = 'regression' THEN 'rmse' ELSE 'log_loss' END);
            IF NOT mlops._retraining_metric_fits(metric, v.task) THEN
                RAISE EXCEPTION 'metric "%" of retraining policy "%" does not fit a % model', metric, p.name, v.task
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            larger := mlops._train_metric_larger_is_better(metric);
            result := result || jsonb_build_object('champion_before', champion, 'metric', metric);
            IF champion IS NOT NULL AND n_test > 0 THEN
                chal_value := mlops._retraining_metric(metric, p.model || ':' || new_version, holdout, p.target_column);
                champ_value := mlops._retraining_metric(metric, p.model || ':' || champion, holdout, p.target_column);
                PERFORM mlops.log_metrics(v.run_id, jsonb_build_object('champion_' || metric, champ_value,
                                                                       'challenger_' || metric, chal_value));
                result := result || jsonb_build_object('champion_value', champ_value, 'challenger_value', chal_value);
                PERFORM mlops._retraining_event(run.job_run_id, p.name, 'evaluated', new_version,
                                                jsonb_build_object('metric', metric, 'held_out_rows', n_test,
                                                                   'champion_version', champion, 'champion', champ_value,
                                                                   'challenger', chal_value));
            ELSIF champion IS NOT NULL AND p.release = 'compare' THEN
                RAISE EXCEPTION 'the training window of retraining policy "%" has no held-out rows to compare on', p.name
                    USING ERRCODE = 'no_data_found', HINT = 'Widen the window or raise test_size.';
            END IF;
            IF champion IS NULL THEN
                decision := 'promoted';
                reason := format('%s has no champion yet', p.model);
            ELSIF p.release = 'compare' THEN
                gain := CASE WHEN larger THEN chal_value - champ_value ELSE champ_value - chal_value END;
                decision := CASE WHEN gain > p.margin THEN 'promoted' ELSE 'kept' END;
                reason := format('%s %s on %s held-out rows: challenger %s, champion %s (%s is better; margin %s)',
                                 CASE WHEN decision = 'promoted' THEN 'beats the champion by more than the margin'
                                      ELSE 'does not beat the champion by more than the margin' END,
                                 metric, n_test, chal_value, champ_value, CASE WHEN larger THEN 'higher' ELSE 'lower' END,
                                 p.margin);
            ELSE
                -- shadow, ab, canary: champion (pinned) as control, challenger as treatment
                o := p.release_options;
                SELECT e.detail ->> 'ab_test' INTO prev FROM mlops.retraining_events e
                 WHERE e.policy_id = p.policy_id AND e.step = 'released' ORDER BY e.at DESC, e.event_id DESC LIMIT 1;
                IF EXISTS (SELECT FROM mlops.ab_tests t WHERE t.key = prev AND t.status = 'running') THEN
                    PERFORM mlops.stop_ab_test(prev);
                    PERFORM mlops._retraining_event(run.job_run_id, p.name, 'stopped', NULL,
                                                    jsonb_build_object('ab_test', prev, 'reason', 'a newer challenger'));
                END IF;
                ab_key := left(p.name, 230) || '.v' || new_version;
                PERFORM mlops.create_ab_test(ab_key, ARRAY[p.model || ':' || champion, p.model || ':' || new_version],
                                             weights => CASE WHEN o ? 'weights' THEN ARRAY(
                                                 SELECT jsonb_array_elements_text(o -> 'weights'))::float8[] END,
                                             seed => o ->> 'seed', coverage => coalesce((o ->> 'coverage')::float8, 1),
                                             kind => p.release,
                                             canary_steps => CASE WHEN o ? 'canary_steps' THEN ARRAY(
                                                 SELECT jsonb_array_elements_text(o -> 'canary_steps'))::float8[] END,
                                             guard => o -> 'guard',
                                             description => coalesce(o ->> 'description',
                                                                     format('released by retraining policy %s', p.name)));
                PERFORM mlops.start_ab_test(ab_key);
                decision := 'released';
                reason := format('%s release "%s" of version %s against champion version %s started', p.release, ab_key,
                                 new_version, champion);
                result := result || jsonb_build_object('ab_test', ab_key);
                PERFORM mlops._retraining_event(run.job_run_id, p.name, 'released', new_version,
                                                jsonb_build_object('ab_test', ab_key, 'kind', p.release,
                                                                   'champion_version', champion));
            END IF;
            IF decision = 'promoted' THEN
                PERFORM mlops.set_model_alias(p.model, 'champion', new_version);
            END IF;
            IF decision IN ('promoted', 'kept') THEN
                PERFORM mlops._retraining_event(run.job_run_id, p.name, decision, new_version,
                                                jsonb_build_object('reason', reason, 'champion_version',
                                                                   CASE WHEN decision = 'promoted' THEN new_version ELSE champion END));
            END IF;
            PERFORM mlops.set_tag(v.run_id, 'mlops.retraining_decision', decision);
            result := result || jsonb_build_object('decision', decision, 'reason', reason,
                                                   'champion', CASE WHEN decision = 'promoted' THEN new_version ELSE champion END);
            PERFORM mlops._job_run_finish(run.job_run_id, 'succeeded', n_rows, n_test, 0, NULL, NULL,
                                          format('version %s %s: %s', new_version, decision, reason));
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                                    err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
        END;
    END IF;

    -- (7): a failure leaves the champion alias where it was, and says why
    IF err_state IS NOT NULL THEN
        PERFORM mlops._retraining_event(run.job_run_id, p.name, 'failed', new_version,
                                        jsonb_build_object('step', step, 'sqlstate', err_state, 'error', err_message,
                                                           'detail', nullif(err_detail, ''), 'champion_kept', true));
        PERFORM mlops._job_run_finish(run.job_run_id, CASE WHEN err_state = '57014' THEN 'cancelled' ELSE 'failed' END,
                                      n_rows, 0, NULL,
                                      err_state || ': ' || err_message || coalesce(E'\n' || nullif(err_detail, ''), ''), NULL);
    END IF;
    COMMIT;
    PERFORM pg_advisory_unlock(1836019578, run.lock_key);
    IF err_state IS NOT NULL THEN
        IF how = 'drift' THEN
            -- _retrain_on_drift runs the monitor's other policies first, then raises
            result := coalesce(result, '{}') || jsonb_build_object('sqlstate', err_state, 'error', err_message,
                                                   'detail', nullif(err_detail, ''), 'hint', nullif(err_hint, ''));
            RETURN;
        END IF;
        PERFORM mlops._fail(err_state, err_message, nullif(err_detail, ''), nullif(err_hint, ''));
    END IF;
END
$$;

CREATE OR REPLACE PROCEDURE mlops.retrain(policy text, INOUT result jsonb DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'retrain');
    CALL mlops._retrain(policy, NULL, 'manual', result);
END
$$;

CREATE OR REPLACE PROCEDURE mlops._retrain_on_drift(monitor text)
LANGUAGE plpgsql
AS $$
DECLARE
    pname text;
    res jsonb;
    first_failure jsonb;
    failed text[] := '{}';
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'run_schedule');
    FOR pname IN SELECT p.name FROM mlops.retraining_policies p
                  WHERE p.drift_monitor = monitor AND p.trigger IN ('drift', 'both') AND p.created_by = current_user
                    AND mlops._retraining_new_alert(p) IS NOT NULL
                  ORDER BY p.name LOOP
        res := NULL;
        CALL mlops._retrain(pname, NULL, 'drift', res);
        IF res ? 'sqlstate' THEN
            first_failure := coalesce(first_failure, res || jsonb_build_object('policy', pname));
            failed := failed || pname;
        END IF;
    END LOOP;
    IF first_failure IS NOT NULL THEN
        PERFORM mlops._fail(first_failure ->> 'sqlstate',
                            format('retraining policy "%s": %s', first_failure ->> 'policy', first_failure ->> 'error'),
                            concat_ws(E'\n', first_failure ->> 'detail',
                                      format('Every policy of drift monitor "%s" ran its cycle; %s failed (%s): their job runs '
                                             'and retraining_events say why.', monitor, cardinality(failed),
                                             array_to_string(failed, ', '))),
                            first_failure ->> 'hint');
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mlops.schedule_retraining(name text, cron text, policy text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'schedule_retraining');
    PERFORM mlops._check_model_name('schedule name', name);
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops._own_retraining_policy(policy);
    RETURN mlops._add_schedule(name, 'retrain', cron, jsonb_build_object('policy', policy));
END
$$;

CREATE OR REPLACE FUNCTION mlops.conclude_retraining(policy text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p mlops.retraining_policies;
    e mlops.retraining_events;
    t mlops.ab_tests;
    o jsonb;
    msg text;
    decision text;
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'conclude_retraining');
    p := mlops._own_retraining_policy(policy);
    SELECT * INTO e FROM mlops.retraining_events x WHERE x.policy_id = p.policy_id AND x.step = 'released'
     ORDER BY x.at DESC, x.event_id DESC LIMIT 1;
    SELECT * INTO t FROM mlops.ab_tests x WHERE x.key = e.detail ->> 'ab_test';
    IF t.ab_test_id IS NULL OR t.status <> 'running' THEN
        RAISE EXCEPTION 'retraining policy "%" has no release running', policy USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = CASE WHEN t.ab_test_id IS NULL THEN 'None of its cycles released a challenger under test.'
                          ELSE format('Its latest, "%s", is %s.', t.key, t.status) END;
    END IF;
    o := p.release_options;
    IF t.kind = 'shadow' THEN
        RAISE EXCEPTION 'shadow release "%" has no outcomes to decide on', t.key USING ERRCODE = 'wrong_object_type',
            HINT = format('Read mlops.ab_shadow_comparison, then promote by hand: mlops.set_model_alias(%L, ''champion'', %s), '
                          'and mlops.stop_ab_test(%L).', p.model, e.version, t.key);
    ELSIF t.kind = 'ab' THEN
        BEGIN
            msg := mlops.promote_ab_winner(t.key, o ->> 'metric', 'champion', coalesce((o ->> 'alpha')::float8, 0.05),
                                           coalesce(o ->> 'kind', 'auto'), coalesce((o ->> 'higher_is_better')::boolean, true));
            decision := 'promoted';
        EXCEPTION WHEN object_not_in_prerequisite_state THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            decision := 'wait';
        END;
    ELSIF t.canary_step = 0 THEN
        PERFORM mlops.stop_ab_test(t.key);
        decision := 'rolled_back';
        msg := format('canary release "%s" was rolled back: the champion stays', t.key);
    ELSIF EXISTS (SELECT FROM mlops.ab_events x WHERE x.ab_test_id = t.ab_test_id AND x.event = 'canary_completed') THEN
        PERFORM mlops.set_model_alias(p.model, 'champion', e.version);
        PERFORM mlops.stop_ab_test(t.key);
        decision := 'promoted';
        msg := format('canary release "%s" completed with its guard holding: %s@champion is now version %s',
                      t.key, p.model, e.version);
    ELSE
        decision := 'wait';
        msg := format('canary release "%s" is at %s%%; mlops.advance_canary() moves it on', t.key,
                      t.canary_steps[t.canary_step] * 100);
    END IF;
    IF decision <> 'wait' THEN
        PERFORM mlops._retraining_log(p, NULL, 'concluded', e.version,
                                      jsonb_build_object('ab_test', t.key, 'decision', decision, 'message', msg));
    END IF;
    RETURN jsonb_build_object('policy', p.name, 'ab_test', t.key, 'version', e.version, 'decision', decision,
                              'message', msg);
END
$$;

-- The views, as 0.8.0 defines them (columns are only added, at the end).
CREATE OR REPLACE VIEW mlops.runs_overview AS
SELECT r.run_id, r.experiment_id, e.name AS experiment_name, r.run_name, r.status,
       r.parent_run_id, r.created_by, r.start_time, r.end_time,
       r.end_time - r.start_time AS duration,
       d.params,
       coalesce((SELECT jsonb_object_agg(m.key, m.value)
                   FROM mlops.latest_metrics m WHERE m.run_id = r.run_id), '{}'::jsonb) AS metrics,
       d.tags
  FROM mlops.runs r
  JOIN mlops.experiments e ON e.experiment_id = r.experiment_id
  JOIN mlops.run_documents d ON d.run_id = r.run_id
 WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active';

CREATE OR REPLACE VIEW mlops.metric_history_overview AS
SELECT e.experiment_id, e.name AS experiment_name, r.run_id, r.run_name,
       h.key, h.step, h.value, h.logged_at
  FROM mlops.metric_history h
  JOIN mlops.runs r ON r.run_id = h.run_id
  JOIN mlops.experiments e ON e.experiment_id = r.experiment_id
 WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active';

CREATE OR REPLACE VIEW mlops.experiments_overview AS
SELECT e.experiment_id, e.name, e.description, e.created_by, e.created_at, e.updated_at,
       (SELECT count(*) FROM mlops.runs r
         WHERE r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active') AS runs,
       (SELECT count(*) FROM mlops.runs r
         WHERE r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active'
           AND r.status = 'RUNNING') AS running_runs,
       (SELECT max(r.start_time) FROM mlops.runs r
         WHERE r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active') AS last_run_start,
       coalesce((SELECT jsonb_object_agg(t.key, t.value) FROM mlops.experiment_tags t
                  WHERE t.experiment_id = e.experiment_id), '{}'::jsonb) AS tags
  FROM mlops.experiments e
 WHERE e.lifecycle_stage = 'active';

CREATE OR REPLACE VIEW mlops.model_versions_overview AS
SELECT v.version_id, m.name AS model_name, v.version, v.stage,
       coalesce((SELECT array_agg(a.alias ORDER BY a.alias) FROM mlops.model_aliases a
                  WHERE a.version_id = v.version_id), '{}') AS aliases,
       v.task, v.family, v.format, jsonb_array_length(v.signature) AS n_features, v.signature, v.classes,
       v.sha256, octet_length(v.compiled) AS compiled_bytes, v.run_id, r.experiment_id,
       v.description, v.created_by, v.created_at
  FROM mlops.model_versions v
  JOIN mlops.registered_models m ON m.model_id = v.model_id
  LEFT JOIN mlops.runs r ON r.run_id = v.run_id;

CREATE OR REPLACE VIEW mlops.job_runs_overview AS
SELECT r.job_run_id, r.job_name, r.kind, r.schedule_id, r.model_ref, r.version_id, r.model_version,
       r.source, r.target, r.slice, r.rows_in, r.rows_scored, r.rows_failed, r.scoring,
       CASE WHEN r.status = 'running' AND l.pid IS NULL THEN 'failed' ELSE r.status END AS status,
       CASE WHEN r.status = 'running' AND l.pid IS NULL
            THEN pg_catalog.format('the session running this job (process %s) ended before the job finished: '
                                   'it was terminated or crashed', r.backend_pid)
            ELSE r.error END AS error,
       r.run_by, r.started_at, r.finished_at, r.duration, r.backend_pid, r.lock_key, r.note
  FROM mlops.job_runs r
  -- a join, not a subquery per row: the lock table is read once per query
  LEFT JOIN pg_catalog.pg_locks l
         ON r.status = 'running' AND l.locktype = 'advisory' AND l.granted AND l.pid = r.backend_pid
        AND l.classid = 1836019578::oid AND l.objid = r.lock_key::oid AND l.objsubid = 2;

CREATE OR REPLACE VIEW mlops.latest_job_runs AS
SELECT DISTINCT ON (j.job_name) j.job_name, j.kind, j.job_run_id, j.status, j.model_version, j.rows_in,
       j.rows_scored, j.rows_failed, j.started_at, j.finished_at, j.duration, j.error, j.scoring, j.note
  FROM mlops.job_runs_overview j
 ORDER BY j.job_name, j.started_at DESC, j.job_run_id DESC;

CREATE OR REPLACE VIEW mlops.job_runs_daily AS
SELECT date_trunc('day', j.started_at) AS day, j.job_name, j.kind,
       count(*) AS runs,
       count(*) FILTER (WHERE j.status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE j.status = 'failed') AS failed,
       count(*) FILTER (WHERE j.status = 'cancelled') AS cancelled,
       coalesce(sum(j.rows_scored), 0) AS rows_scored,
       coalesce(sum(j.rows_failed), 0) AS rows_failed,
       avg(j.duration) AS avg_duration, max(j.duration) AS max_duration
  FROM mlops.job_runs_overview j
 GROUP BY 1, 2, 3;

CREATE OR REPLACE VIEW mlops.rows_scored_daily AS
SELECT date_trunc('day', j.started_at) AS day, j.model_version, j.version_id,
       coalesce(sum(j.rows_scored), 0) AS rows_scored, count(*) AS runs
  FROM mlops.job_runs_overview j
 WHERE j.status = 'succeeded' AND j.kind = 'batch_score'
 GROUP BY 1, 2, 3;

CREATE OR REPLACE VIEW mlops.job_failures AS
SELECT j.job_run_id, j.job_name, j.kind, j.status, j.model_version, j.source, j.target, j.rows_in,
       j.rows_failed, j.error, j.started_at, j.finished_at, j.run_by
  FROM mlops.job_runs_overview j
 WHERE j.status IN ('failed', 'cancelled');

CREATE OR REPLACE VIEW mlops.schedules_overview AS
SELECT s.schedule_id, s.name, s.kind, s.cron, s.active, s.spec ->> 'model' AS model,
       s.spec ->> 'source' AS source, s.spec ->> 'target' AS target, s.cron_job_id, s.created_by, s.created_at,
       l.started_at AS last_run_at, l.status AS last_status, l.rows_scored AS last_rows_scored,
       mlops.schedule_state(s.name) AS state
  FROM mlops.schedules s
  LEFT JOIN LATERAL (SELECT j.started_at, j.status, j.rows_scored FROM mlops.job_runs_overview j
                      WHERE j.schedule_id = s.schedule_id ORDER BY j.started_at DESC LIMIT 1) l ON true;

CREATE OR REPLACE VIEW mlops.drift_baselines_overview AS
SELECT b.baseline_id, b.name, b.source, b.source_kind, b.version_id, b.n_rows,
       count(c.*) AS columns,
       count(c.*) FILTER (WHERE c.kind = 'numeric') AS numeric_columns,
       count(c.*) FILTER (WHERE c.kind = 'categorical') AS categorical_columns,
       b.created_by, b.created_at
  FROM mlops.drift_baselines b LEFT JOIN mlops.drift_baseline_columns c USING (baseline_id)
 GROUP BY b.baseline_id;

CREATE OR REPLACE VIEW mlops.drift_monitor_status AS
SELECT m.monitor_id, m.name AS monitor, m.baseline, h.feature, h.kind, h.checked_at, h.method, h.statistic,
       h.p_value, h.threshold, h.drifted, h.n_reference, h.n_current,
       EXISTS (SELECT FROM mlops.drift_alerts a WHERE a.monitor_id = m.monitor_id AND a.feature = h.feature
                                                  AND a.status = 'open') AS alert_open
  FROM mlops.drift_monitors m
  JOIN LATERAL (SELECT c.check_id FROM mlops.drift_checks c WHERE c.monitor_id = m.monitor_id
                 ORDER BY c.checked_at DESC, c.check_id DESC LIMIT 1) l ON true
  JOIN mlops.drift_history h ON h.check_id = l.check_id;

CREATE OR REPLACE VIEW mlops.drift_monitors_overview AS
SELECT m.monitor_id, m.name AS monitor, m.baseline, m.source, m.timestamp_column, m.time_window,
       s.cron, s.active AS schedule_active, c.checked_at AS last_checked_at, c.n_rows AS last_rows,
       c.n_features, c.n_drifted, c.share_drifted, c.dataset_drifted,
       (SELECT count(*) FROM mlops.drift_alerts a WHERE a.monitor_id = m.monitor_id AND a.status = 'open') AS open_alerts,
       m.created_by, m.created_at
  FROM mlops.drift_monitors m
  LEFT JOIN mlops.schedules s ON s.schedule_id = m.schedule_id
  LEFT JOIN LATERAL (SELECT * FROM mlops.drift_checks x WHERE x.monitor_id = m.monitor_id
                      ORDER BY x.checked_at DESC, x.check_id DESC LIMIT 1) c ON true;

CREATE OR REPLACE VIEW mlops.drift_alerts_open AS
SELECT a.alert_id, m.name AS monitor, m.baseline, coalesce(a.feature, '(dataset)') AS feature, a.method,
       a.statistic, a.p_value, a.threshold, a.raised_at, a.last_seen_at, a.checks, a.status
  FROM mlops.drift_alerts a JOIN mlops.drift_monitors m USING (monitor_id)
 WHERE a.status <> 'resolved';

CREATE OR REPLACE VIEW mlops.feature_catalog AS
SELECT v.name AS feature_view, f.feature, f.type, f.position::int, v.entities, v.join_keys, v.timestamp_column,
       v.created_timestamp_column, v.ttl, v.source, v.online_table IS NOT NULL AS online, v.description,
       v.tags, v.created_by, v.created_at
  FROM mlops.feature_views v,
       unnest(v.features, v.feature_types) WITH ORDINALITY AS f(feature, type, position);

CREATE OR REPLACE VIEW mlops.feature_service_features AS
SELECT s.name AS feature_service, r.position::int, r.reference, split_part(r.reference, ':', 1) AS feature_view,
       substr(r.reference, length(split_part(r.reference, ':', 1)) + 2) AS feature,
       v.feature_types[array_position(v.features, substr(r.reference, length(split_part(r.reference, ':', 1)) + 2))]
           AS type
  FROM mlops.feature_services s,
       unnest(s.features) WITH ORDINALITY AS r(reference, position)
  LEFT JOIN mlops.feature_views v ON v.name = split_part(r.reference, ':', 1);

CREATE OR REPLACE VIEW mlops.ab_tests_overview AS
SELECT t.key AS ab_test, t.kind, t.status, t.created_by AS owner, t.coverage, t.hash_version,
       t.bucket_version, t.weights_epoch,
       (SELECT jsonb_agg(jsonb_build_object('variant', v.name, 'model', v.model, 'weight', v.weight) ORDER BY v.variant)
          FROM mlops.ab_variants v WHERE v.ab_test_id = t.ab_test_id) AS variants,
       (SELECT count(*) FROM mlops.ab_assignments a
         WHERE a.ab_test_id = t.ab_test_id AND a.bucket_version = t.bucket_version) AS units,
       srm.p AS srm_p_value,
       srm.p < 0.001 AS srm_failed,
       t.canary_steps[t.canary_step] AS canary_share,
       t.namespace, t.namespace_start, t.namespace_end, t.created_at, t.started_at, t.stopped_at
  FROM mlops.ab_tests t,
       -- the sample-ratio p-value, computed once per test
       LATERAL (SELECT mlops._ab_srm_p(t) AS p) srm;

CREATE OR REPLACE VIEW mlops.ab_exposures_daily AS
SELECT t.key AS ab_test, date_trunc('day', a.assigned_at) AS day, v.name AS variant, a.variant AS variant_index,
       count(*) AS units
  FROM mlops.ab_assignments a
  JOIN mlops.ab_tests t ON t.ab_test_id = a.ab_test_id AND t.bucket_version = a.bucket_version
  JOIN mlops.ab_variants v ON v.ab_test_id = a.ab_test_id AND v.variant = a.variant
 GROUP BY t.key, date_trunc('day', a.assigned_at), v.name, a.variant;

CREATE OR REPLACE VIEW mlops.ab_current_results AS
SELECT t.key AS ab_test, m.metric, r.*
  FROM mlops.ab_tests t
 CROSS JOIN LATERAL (SELECT DISTINCT o.metric FROM mlops.ab_outcomes o
                      WHERE EXISTS (SELECT FROM mlops.ab_assignments a
                                     WHERE a.ab_test_id = t.ab_test_id AND a.bucket_version = t.bucket_version
                                       AND a.unit_id = o.unit_id)) m
 CROSS JOIN LATERAL mlops.ab_results(t.key, m.metric) r
 WHERE t.status = 'running' AND t.kind <> 'shadow';

CREATE OR REPLACE VIEW mlops.ab_shadow_comparison AS
SELECT t.key AS ab_test, v.name AS variant, s.variant AS variant_index, count(*) AS rows,
       avg(CASE WHEN s.prediction BETWEEN 0 AND 1 AND s.champion_prediction BETWEEN 0 AND 1
                THEN ((s.prediction >= 0.5) = (s.champion_prediction >= 0.5))::int
                ELSE (abs(s.prediction - s.champion_prediction)
                      <= 1e-9 * greatest(abs(s.prediction), abs(s.champion_prediction)))::int END)::float8 AS agreement,
       avg(s.prediction - s.champion_prediction) AS mean_difference,
       avg(abs(s.prediction - s.champion_prediction)) AS mean_abs_difference,
       corr(s.prediction, s.champion_prediction) AS correlation,
       avg(s.champion_prediction) AS champion_mean, avg(s.prediction) AS challenger_mean,
       mlops.psi(array_agg(s.champion_prediction), array_agg(s.prediction)) AS psi,
       (mlops.ks_2samp(array_agg(s.champion_prediction), array_agg(s.prediction), 'asymp')).statistic AS ks_statistic,
       min(s.scored_at) AS first_scored_at, max(s.scored_at) AS last_scored_at
  FROM mlops.ab_shadow_predictions s
  JOIN mlops.ab_tests t ON t.ab_test_id = s.ab_test_id
  JOIN mlops.ab_variants v ON v.ab_test_id = s.ab_test_id AND v.variant = s.variant
 WHERE s.prediction IS NOT NULL AND s.champion_prediction IS NOT NULL
 GROUP BY t.key, v.name, s.variant;

CREATE OR REPLACE VIEW mlops.ab_alerts_open AS
SELECT a.alert_id, t.key AS ab_test, a.kind, a.message, a.details, a.raised_at
  FROM mlops.ab_alerts a JOIN mlops.ab_tests t USING (ab_test_id)
 WHERE a.status = 'open';

CREATE OR REPLACE VIEW mlops.retraining_policies_overview AS
SELECT p.policy_id, p.name AS policy, p.model, p.source, p.target_column, p.algorithm, p.time_column,
       p.training_window, p.trigger, p.drift_monitor, p.release, p.metric, p.margin,
       (SELECT string_agg(s.name, ', ' ORDER BY s.name) FROM mlops.schedules s
         WHERE s.kind = 'retrain' AND s.spec ->> 'policy' = p.name) AS schedules,
       l.job_run_id AS last_job_run_id, l.started_at AS last_run_at, l.status AS last_status, l.error AS last_error,
       (SELECT e.step FROM mlops.retraining_events e WHERE e.policy_id = p.policy_id
         AND e.step IN ('promoted', 'kept', 'released', 'skipped', 'failed', 'concluded')
         ORDER BY e.at DESC, e.event_id DESC LIMIT 1) AS last_outcome,
       (SELECT max(e.at) FROM mlops.retraining_events e WHERE e.policy_id = p.policy_id AND e.step = 'trained')
           AS last_trained_at,
       (SELECT v.version FROM mlops.model_aliases a JOIN mlops.registered_models m USING (model_id)
          JOIN mlops.model_versions v USING (version_id) WHERE m.name = p.model AND a.alias = 'champion') AS champion_version,
       (SELECT v.version FROM mlops.model_aliases a JOIN mlops.registered_models m USING (model_id)
          JOIN mlops.model_versions v USING (version_id) WHERE m.name = p.model AND a.alias = 'challenger') AS challenger_version,
       p.created_by, p.created_at, l.note AS last_note
  FROM mlops.retraining_policies p
  LEFT JOIN LATERAL (SELECT j.job_run_id, j.started_at, j.status, j.error, j.note FROM mlops.job_runs_overview j
                      WHERE j.job_name = 'retrain:' || p.name ORDER BY j.started_at DESC, j.job_run_id DESC LIMIT 1) l
         ON true;

-- Privileges as the install script grants them: public functions to PUBLIC (they check
-- the role themselves), internals to nobody but those batch_score needs.
REVOKE ALL ON ALL ROUTINES IN SCHEMA mlops FROM PUBLIC, mlops_reader, mlops_writer, mlops_admin;
REVOKE USAGE ON SCHEMA mlops FROM mlops_reader;
GRANT USAGE ON SCHEMA mlops TO PUBLIC;
GRANT EXECUTE ON FUNCTION mlops.build_info() TO PUBLIC;
GRANT SELECT ON mlops.experiments, mlops.experiment_tags, mlops.runs, mlops.run_documents, mlops.params,
                mlops.metric_history, mlops.latest_metrics, mlops.run_tags, mlops.run_inputs, mlops.artifacts,
                mlops.runs_overview, mlops.metric_history_overview, mlops.experiments_overview
    TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.content_digest(anyelement),
    mlops.get_experiment(text),
    mlops.get_run(bigint),
    mlops.get_metric_history(bigint, text),
    mlops.get_artifact(bigint, text),
    mlops.list_artifacts(bigint),
    mlops.create_experiment(text, text, jsonb),
    mlops.set_experiment(text),
    mlops.rename_experiment(text, text),
    mlops.set_experiment_tag(text, text, text),
    mlops.delete_experiment_tag(text, text),
    mlops.start_run(text, text, jsonb, bigint, text),
    mlops.end_run(bigint, text),
    mlops.delete_run(bigint),
    mlops.restore_run(bigint),
    mlops.log_param(bigint, text, text),
    mlops.log_param(bigint, text, anyelement),
    mlops.log_params(bigint, jsonb),
    mlops.log_metric(bigint, text, double precision, bigint, timestamptz),
    mlops.log_metrics(bigint, jsonb, bigint, timestamptz),
    mlops.set_tag(bigint, text, text),
    mlops.delete_tag(bigint, text),
    mlops.log_batch(bigint, jsonb),
    mlops.log_input(bigint, regclass, text, text),
    mlops.log_artifact(bigint, text, bytea, text),
    mlops.delete_experiment(text),
    mlops.restore_experiment(bigint),
    mlops.purge_run(bigint)
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION mlops._require_role(text, text) TO PUBLIC;
GRANT SELECT ON mlops.registered_models, mlops.registered_model_tags, mlops.model_versions,
                mlops.model_version_tags, mlops.model_aliases, mlops.registry_events,
                mlops.model_versions_overview
    TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.compiled_model(text),
    mlops.compile_model(text),
    mlops.model_info(bytea),
    mlops.get_model_version(text),
    mlops._resolve_model(text),
    mlops.create_registered_model(text, text, jsonb),
    mlops.set_registered_model_tag(text, text, text),
    mlops.delete_registered_model_tag(text, text),
    mlops.set_model_version_tag(text, int, text, text),
    mlops.delete_model_version_tag(text, int, text),
    mlops.register_model_version(text, text, bigint, text),
    mlops.register_model_version_from_run(text, bigint, text, text),
    mlops.set_model_alias(text, text, int),
    mlops.delete_model_alias(text, text),
    mlops.transition_model_stage(text, int, text, boolean),
    mlops.delete_model_version(text, int),
    mlops.delete_registered_model(text)
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    mlops.predict(text, double precision[]),
    mlops.predict_proba(text, double precision[]),
    mlops.predict_class(text, double precision[]),
    mlops.predict(text, jsonb),
    mlops.predict_proba(text, jsonb),
    mlops.predict_class(text, jsonb),
    mlops.score(bytea, double precision[]),
    mlops.score_proba(bytea, double precision[]),
    mlops.score_class(bytea, double precision[]),
    mlops.score(bytea, jsonb),
    mlops.score_proba(bytea, jsonb),
    mlops.score_class(bytea, jsonb),
    mlops.predict(text, jsonb, text[]),
    mlops.predict_proba(text, jsonb, text[]),
    mlops.predict_class(text, jsonb, text[]),
    mlops.score(bytea, jsonb, text[]),
    mlops.score_proba(bytea, jsonb, text[]),
    mlops.score_class(bytea, jsonb, text[]),
    mlops.feature_problem(text, double precision[]),
    mlops.feature_problem(text, jsonb),
    mlops.feature_problem(text, jsonb, text[]),
    mlops.model_cache_stats(),
    mlops.model_cache_reset()
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION mlops.export_model_version(text), mlops.import_model_version(jsonb, text) TO PUBLIC;
GRANT SELECT ON mlops.job_runs, mlops.batch_rejects, mlops.job_runs_overview, mlops.latest_job_runs,
                mlops.job_runs_daily, mlops.rows_scored_daily, mlops.job_failures
    TO mlops_reader;
GRANT INSERT ON mlops.batch_rejects TO mlops_writer;
GRANT EXECUTE ON PROCEDURE
    mlops.batch_score(text, text, text, text[], text, text[], text, text, text, text, bigint, text[], text[], jsonb)
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    mlops._job_run_start(text, text, bigint, text, text, text, text),
    mlops._job_run_finish(bigint, text, bigint, bigint, bigint, text, text, text),
    mlops._score_query(text, text, int, text[]),
    mlops._null_features(anyelement),
    mlops._fail(text, text, text, text)
    TO PUBLIC;
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
GRANT SELECT ON mlops.drift_baselines, mlops.drift_baseline_columns, mlops.drift_baselines_overview,
                mlops.drift_monitors, mlops.drift_checks, mlops.drift_history, mlops.drift_alerts,
                mlops.drift_monitor_status, mlops.drift_monitors_overview, mlops.drift_alerts_open
    TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.ks_2samp(float8[], float8[], text),
    mlops.wasserstein_distance(float8[], float8[]),
    mlops.psi(float8[], float8[], int),
    mlops.js_distance(float8[], float8[], int),
    mlops.chisquare(float8[], float8[]),
    mlops.psi_agg(float8, text, text),
    mlops.psi_agg(text, text, text),
    mlops.js_distance_agg(float8, text, text),
    mlops.js_distance_agg(text, text, text),
    mlops.ks_2samp_agg(float8, text, text),
    mlops.wasserstein_agg(float8, text, text),
    mlops.chisquare_agg(text, text, text),
    mlops.drift_stats_agg(float8, text, text),
    mlops.drift_stats_agg(text, text, text),
    mlops.capture_baseline(text, text, text[], jsonb),
    mlops.capture_baseline_from_model(text, text, jsonb),
    mlops.capture_prediction_baseline(text, text, text, text[], jsonb),
    mlops.drop_baseline(text),
    mlops.drift_report(text, text, jsonb),
    mlops.dataset_drift(text, text, jsonb),
    mlops.create_drift_monitor(text, text, text, text, text, interval, jsonb),
    mlops.drop_drift_monitor(text),
    mlops.acknowledge_drift_alert(bigint, text),
    mlops.resolve_drift_alert(bigint, text),
    mlops._source_sql(text),
    mlops._drift_kind_of(oid),
    mlops._drift_verdict(boolean[], jsonb),
    mlops._describe_source(text, text),
    mlops._drift_rows(text, text, jsonb),
    mlops._drift_capture(float8, int),
    mlops._drift_capture(text),
    mlops._capture_baseline(text, text, text[], jsonb, text, bigint, text),
    mlops._model_training_input(text),
    mlops._drift_record(bigint, text, jsonb, timestamptz, timestamptz)
    TO PUBLIC;
GRANT EXECUTE ON PROCEDURE mlops.run_drift_monitor(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION mlops.drift_report_html(text, text, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    mlops._html_escape(text),
    mlops._html_number(float8),
    mlops._drift_chart_svg(text, jsonb, text, text, text)
    TO PUBLIC;
GRANT USAGE ON SCHEMA mlops_online TO mlops_reader;
GRANT SELECT ON mlops.entities, mlops.feature_views, mlops.feature_services, mlops.feature_catalog,
                mlops.feature_service_features
    TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.create_entity(text, text[], text),
    mlops.create_feature_view(text, text[], text, text, text[], interval, text, text, jsonb),
    mlops.create_feature_service(text, text[], text),
    mlops.drop_entity(text),
    mlops.drop_feature_view(text),
    mlops.drop_feature_service(text),
    mlops.training_set_query(text, text[], text, boolean, text),
    mlops.build_training_set(text, text, text[], bigint, text, boolean, text),
    mlops.point_in_time_join(text, text, text[], text[], text, text, text, text, text[], text[], bigint),
    mlops.point_in_time_join(text, text, jsonb),
    mlops._check_column_name(text, text),
    mlops._ttl_microseconds(interval),
    mlops._ttl_sql(interval),
    mlops._qualified_source(text),
    mlops._source_columns(text, text),
    mlops._base_type(oid),
    mlops._create_feature_view(text, text[], text, text, text, text[], interval, text, text, jsonb, text),
    mlops._feature_ref(text),
    mlops._feature_view(text),
    mlops._check_view_source(mlops.feature_views, text),
    mlops._requested_features(text[], boolean),
    mlops._tie_order(mlops.feature_views, text),
    mlops.schedule_materialize_online(text, text, text),
    mlops.feature_service_problem(text, text),
    mlops.online_features(text, jsonb),
    mlops.feature_vector(text, jsonb),
    mlops.feature_vector(text, anyelement),
    mlops.feature_vector(text, text),
    mlops._beats_sql(mlops.feature_views, text, text),
    mlops._online_table(text),
    mlops._online_advance(text, timestamptz),
    mlops._online_plan(text),
    mlops._online_row(mlops.feature_views, jsonb)
    TO PUBLIC;
GRANT EXECUTE ON PROCEDURE mlops.materialize_online(text, boolean), mlops._materialize_online(text, boolean, text, bigint)
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    mlops.ab_hash(text, text, int),
    mlops.ab_bucket_ranges(int, float8, float8[]),
    mlops.ab_equal_weights(int),
    mlops.ab_choose_variation(float8, float8[]),
    mlops.ab_in_namespace(text, text, float8, float8)
    TO PUBLIC;
GRANT SELECT ON mlops.ab_tests, mlops.ab_variants, mlops.ab_weight_history, mlops.ab_assignments, mlops.ab_outcomes,
    mlops.ab_shadow_predictions, mlops.ab_events, mlops.ab_alerts TO mlops_reader;
GRANT INSERT (unit_id, metric, observed_at, value) ON mlops.ab_outcomes TO mlops_writer;
GRANT EXECUTE ON FUNCTION
    mlops.create_ab_test(text, text[], float8[], text[], text, float8, int, text, float8[], text, float8[], jsonb, text),
    mlops.start_ab_test(text),
    mlops.stop_ab_test(text),
    mlops.set_ab_weights(text, float8[], boolean, float8),
    mlops.drop_ab_test(text),
    mlops.ab_assign(text, text),
    mlops.predict_ab(text, text, float8[]),
    mlops.predict_ab(text, text, jsonb),
    mlops.record_ab_outcome(text, text, float8, timestamptz),
    mlops.ab_proportions_ztest(float8, float8, float8, float8, float8),
    mlops.ab_welch_ttest(float8, float8, float8, float8, float8, float8, float8),
    mlops.ab_sequential_test(float8, float8, float8, float8, float8, float8, float8, float8),
    mlops.ab_srm(float8[], float8[]),
    mlops.ab_sample_size_proportions(float8, float8, float8, float8),
    mlops.ab_power_proportions(float8, float8, float8, float8),
    mlops.ab_sample_size_means(float8, float8, float8, float8),
    mlops.ab_power_means(float8, float8, float8, float8),
    mlops.ab_bandit_weights(float8[], float8[], float8[], float8, float8),
    mlops.ab_results(text, text, text, float8, boolean, float8),
    mlops.update_ab_bandit_weights(text, text, text, float8, float8, boolean),
    mlops.advance_canary(text),
    mlops.promote_ab_winner(text, text, text, float8, text, boolean, boolean),
    mlops.acknowledge_ab_alert(bigint, text),
    mlops.schedule_canary(text, text, text),
    mlops.schedule_ab_bandit(text, text, text, text, float8, float8),
    -- run as the caller inside ab_results() and the views
    mlops._ab_test(text),
    mlops._ab_arms(mlops.ab_tests, text, text),
    mlops._ab_srm_p(mlops.ab_tests)
    TO PUBLIC;
GRANT SELECT ON mlops.ab_tests_overview, mlops.ab_exposures_daily, mlops.ab_current_results,
    mlops.ab_shadow_comparison, mlops.ab_alerts_open TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.rmse(float8, float8),
    mlops.mae(float8, float8),
    mlops.r2_score(float8, float8),
    mlops.accuracy(anyelement, anyelement),
    mlops.precision_score(boolean, boolean),
    mlops.precision_score(anyelement, anyelement, anyelement),
    mlops.recall_score(boolean, boolean),
    mlops.recall_score(anyelement, anyelement, anyelement),
    mlops.f1_score(boolean, boolean),
    mlops.f1_score(anyelement, anyelement, anyelement),
    mlops.roc_auc(float8, boolean),
    mlops.roc_auc(float8, int),
    mlops.log_loss(float8, boolean),
    mlops.log_loss(float8, int),
    mlops.log_loss(float8[], int)
    TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    mlops.train(text, text, text, text[], text, text, jsonb, float8, int, text, text, text, jsonb, text, text),
    -- run as the caller inside train(): its argument checks, which only raise
    mlops._check_model_name(text, text),
    mlops._check_label(text, text, int, text),
    mlops._train_fit(text, boolean, boolean, text[], boolean[], text, jsonb, float8, int, text, boolean, bigint, text, text),
    mlops._train_kind_of(oid),
    mlops._one_line(text, int),
    mlops._train_candidates(jsonb, text, int, int),
    mlops._train_metric_larger_is_better(text),
    mlops._train_log(bigint, jsonb, jsonb),
    mlops._train_record_failure(jsonb),
    mlops._train_failed_run(jsonb)
    TO PUBLIC;
GRANT SELECT ON mlops.retraining_policies, mlops.retraining_events, mlops.retraining_policies_overview TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.create_retraining_policy(text, text, text, text, text[], text, jsonb, text, interval, text, text, text, text,
                                   float8, jsonb, float8, int, text),
    mlops.drop_retraining_policy(text),
    mlops.schedule_retraining(text, text, text),
    mlops.conclude_retraining(text),
    mlops._retraining_event(bigint, text, text, int, jsonb),
    mlops._retraining_metric(text, text, text, text),
    mlops._retraining_metric_fits(text, text),
    mlops._retraining_new_alert(mlops.retraining_policies)
    TO PUBLIC;
GRANT EXECUTE ON PROCEDURE
    mlops.retrain(text, jsonb),
    mlops._retrain(text, bigint, text, jsonb),
    mlops._retrain_on_drift(text)
    TO PUBLIC;

-- Every table of user data (and its sequence) is dumped by pg_dump.
SELECT pg_catalog.pg_extension_config_dump('mlops.experiments', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.experiment_tags', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.runs', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.run_documents', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.params', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.metric_history', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.latest_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.run_tags', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.run_inputs', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.artifacts', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.experiments_experiment_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.run_inputs_input_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.registered_models', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.registered_model_tags', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.model_version_tags', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.model_aliases', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.registry_events', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.registered_models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.model_versions_version_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.registry_events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.batch_rejects', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.job_runs_job_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.schedules', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.schedules_schedule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_baselines', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_baselines_baseline_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_baseline_columns', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_monitors', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_monitors_monitor_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_checks', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_checks_check_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_history', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_alerts', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_alerts_alert_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.entities', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.entities_entity_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.feature_views', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.feature_views_view_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.feature_services', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.feature_services_service_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_tests', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_tests_ab_test_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_variants', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_weight_history', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_assignments', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_outcomes', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_shadow_predictions', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_events', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_alerts', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.ab_alerts_alert_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retraining_policies', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retraining_policies_policy_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retraining_events', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retraining_events_event_id_seq', '');
