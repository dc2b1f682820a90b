-- mlops 0.1.0: experiment tracking.
--
-- Conventions used throughout this script:
--  * every object is schema-qualified, and every function that writes is
--    SECURITY DEFINER with search_path pinned to pg_catalog, pg_temp, so a
--    caller's search_path can never redirect what it touches;
--  * user-facing errors carry a SQLSTATE chosen for what went wrong, a detail
--    saying what was found, and a hint saying what to do;
--  * functions are not STRICT where a NULL argument is a mistake: a STRICT
--    function would quietly return NULL and the caller would think it logged.

\echo Use "CREATE EXTENSION mlops" to load this file. \quit

--------------------------------------------------------------------------------
-- Roles.  Cluster-wide, so another database may have created them already.
--   mlops_reader: read the tracking tables and views
--   mlops_writer: create experiments and runs, log to them (reader too)
--   mlops_admin:  delete and restore experiments (writer too)
--------------------------------------------------------------------------------
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['mlops_reader', 'mlops_writer', 'mlops_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    IF NOT pg_catalog.pg_has_role('mlops_writer', 'mlops_reader', 'MEMBER') THEN
        GRANT mlops_reader TO mlops_writer;
    END IF;
    IF NOT pg_catalog.pg_has_role('mlops_admin', 'mlops_writer', 'MEMBER') THEN
        GRANT mlops_writer TO mlops_admin;
    END IF;
END
$roles$;

GRANT USAGE ON SCHEMA mlops TO mlops_reader;

--------------------------------------------------------------------------------
-- C helpers (extension/mlops.c, extension/tracking.c)
--------------------------------------------------------------------------------
CREATE FUNCTION mlops.build_info() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_build_info'
    LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION mlops._check_key(kind text, key text, at text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_check_key'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION mlops._check_label(kind text, label text, max_chars int, at text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_check_label'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION mlops._check_value(kind text, value text, max_chars int, at text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_check_value'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION mlops._invoking_user() RETURNS name
    AS 'MODULE_PATHNAME', 'mlops_invoking_user'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION mlops._digest_accum(internal, anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_digest_accum'
    LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION mlops._digest_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_digest_combine'
    LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION mlops._digest_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'mlops_digest_serialize'
    LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION mlops._digest_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_digest_deserialize'
    LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION mlops._digest_final(internal) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_digest_final'
    LANGUAGE C PARALLEL SAFE;

-- Order-independent SHA-256 over a multiset of values (usually whole rows:
-- SELECT mlops.content_digest(t) FROM some_table t).  Runs under parallel
-- query: partial digests from workers combine exactly.
CREATE AGGREGATE mlops.content_digest(anyelement) (
    SFUNC = mlops._digest_accum,
    STYPE = internal,
    COMBINEFUNC = mlops._digest_combine,
    SERIALFUNC = mlops._digest_serialize,
    DESERIALFUNC = mlops._digest_deserialize,
    FINALFUNC = mlops._digest_final,
    PARALLEL = SAFE
);

-- Raise an error from inside an expression (used by set-based validation).
CREATE FUNCTION mlops._fail(sqlstate text, message text, detail text DEFAULT NULL,
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

--------------------------------------------------------------------------------
-- Tracking tables
--------------------------------------------------------------------------------
CREATE TABLE mlops.experiments (
    experiment_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    description     text,
    lifecycle_stage text NOT NULL DEFAULT 'active'
                    CHECK (lifecycle_stage IN ('active', 'deleted')),
    created_by      name NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    deleted_at      timestamptz,
    CHECK ((lifecycle_stage = 'deleted') = (deleted_at IS NOT NULL))
);
-- Names are unique among active experiments only: a deleted name can be reused.
CREATE UNIQUE INDEX experiments_active_name ON mlops.experiments (name)
    WHERE lifecycle_stage = 'active';

CREATE TABLE mlops.experiment_tags (
    experiment_id bigint NOT NULL REFERENCES mlops.experiments ON DELETE CASCADE,
    key           text NOT NULL,
    value         text NOT NULL,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE mlops.runs (
    run_id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    experiment_id   bigint NOT NULL REFERENCES mlops.experiments,
    run_name        text NOT NULL,
    parent_run_id   bigint REFERENCES mlops.runs,
    status          text NOT NULL DEFAULT 'RUNNING'
                    CHECK (status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')),
    lifecycle_stage text NOT NULL DEFAULT 'active'
                    CHECK (lifecycle_stage IN ('active', 'deleted')),
    created_by      name NOT NULL,
    start_time      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    end_time        timestamptz,
    deleted_at      timestamptz,
    CHECK ((lifecycle_stage = 'deleted') = (deleted_at IS NOT NULL)),
    CHECK ((status IN ('RUNNING', 'SCHEDULED')) = (end_time IS NULL))
);
CREATE INDEX runs_by_experiment ON mlops.runs (experiment_id, start_time DESC);
CREATE INDEX runs_by_parent ON mlops.runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

-- A run's params and tags as jsonb, one row per run, kept current by the
-- writers below, so that runs_overview can filter and sort on them without
-- aggregating the key/value tables run by run (at 100k runs that is the
-- difference between a join and 100k aggregates).  Param values that are
-- numbers are JSON numbers (see _param_jsonb).
CREATE TABLE mlops.run_documents (
    run_id bigint PRIMARY KEY REFERENCES mlops.runs ON DELETE CASCADE,
    params jsonb NOT NULL DEFAULT '{}',
    tags   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX run_documents_params ON mlops.run_documents USING gin (params jsonb_path_ops);

CREATE TABLE mlops.params (
    run_id bigint NOT NULL REFERENCES mlops.runs ON DELETE CASCADE,
    key    text NOT NULL,
    value  text NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- Every logged point.  No foreign key: only mlops' own functions write here,
-- after locking the run, and a per-row RI check would double the cost of a
-- 1,000-point batch.  mlops.purge_run() removes a run's points.
CREATE TABLE mlops.metric_history (
    run_id    bigint NOT NULL,
    key       text NOT NULL,
    value     double precision NOT NULL,
    step      bigint NOT NULL DEFAULT 0,
    logged_at timestamptz NOT NULL
);
CREATE INDEX metric_history_by_run_key_step
    ON mlops.metric_history (run_id, key, step, logged_at);

-- The latest point per (run, key), by (step, logged_at, value), as MLflow
-- orders them.  Maintained by the logging functions; it never moves backwards.
CREATE TABLE mlops.latest_metrics (
    run_id    bigint NOT NULL REFERENCES mlops.runs ON DELETE CASCADE,
    key       text NOT NULL,
    value     double precision NOT NULL,
    step      bigint NOT NULL,
    logged_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE mlops.run_tags (
    run_id bigint NOT NULL REFERENCES mlops.runs ON DELETE CASCADE,
    key    text NOT NULL,
    value  text NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- Dataset lineage: what a run read, and a digest of its contents at the time.
CREATE TABLE mlops.run_inputs (
    input_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        bigint NOT NULL REFERENCES mlops.runs ON DELETE CASCADE,
    dataset_name  text NOT NULL,
    relation_name text NOT NULL,
    context       text NOT NULL,
    row_count     bigint NOT NULL,
    digest        text NOT NULL,
    logged_at     timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    UNIQUE (run_id, dataset_name, context, digest)
);

CREATE TABLE mlops.artifacts (
    run_id     bigint NOT NULL REFERENCES mlops.runs ON DELETE CASCADE,
    path       text NOT NULL,
    content    bytea NOT NULL,
    size_bytes bigint NOT NULL,
    sha256     text NOT NULL,
    media_type text NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    PRIMARY KEY (run_id, path)
);

--------------------------------------------------------------------------------
-- Internal lookups
--------------------------------------------------------------------------------

-- Active experiment by name, or a helpful error.
CREATE FUNCTION mlops._experiment_id(experiment text) RETURNS bigint
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

-- Lock a run against concurrent end/delete and check that it takes writes.
-- Tags are metadata about a run and may still be set once it has ended, as in
-- MLflow; params, metrics, inputs and artifacts may not.
CREATE FUNCTION mlops._writable_run(run_id bigint, allow_ended boolean DEFAULT false)
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
                  DETAIL = 'Params, metrics, inputs and artifacts can only be logged to a RUNNING or SCHEDULED run.',
                  HINT = 'Start a new run, or a nested run with parent_run_id.';
    END IF;
END
$$;

-- Param values as jsonb: numbers become JSON numbers, so that jsonb
-- comparisons and casts treat them as numbers.  The exponent is bounded so
-- that a value like '1e999999' stays text instead of overflowing numeric.
CREATE FUNCTION mlops._param_jsonb(value text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN value ~ '^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$'
            THEN value::jsonb ELSE to_jsonb(value) END;

--------------------------------------------------------------------------------
-- Shared writers: every path that logs params, metrics or tags ends here.
-- Callers have validated keys and values and called _writable_run().  Rows are
-- written in key order so that concurrent writers lock in the same order.
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._store_params(run_id bigint, keys text[], vals text[]) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    c record;
BEGIN
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

CREATE FUNCTION mlops._store_metrics(run_id bigint, keys text[], vals double precision[],
                                     steps bigint[], times timestamptz[]) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
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

CREATE FUNCTION mlops._store_run_tags(run_id bigint, keys text[], vals text[]) RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    dup text;
BEGIN
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

-- Parse a {"key": value} object or [{"key": ..., "value": ...}, ...] array
-- into (path, key, value[, step, timestamp]) rows, refusing anything else with
-- the JSON path of the first offending element.
CREATE FUNCTION mlops._batch_items(section jsonb, section_name text, allowed text[])
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

-- A JSON scalar as the text of a param or tag value.
CREATE FUNCTION mlops._json_value_text(value jsonb, path text) RETURNS text
LANGUAGE sql VOLATILE
RETURN CASE
    WHEN value IS NULL OR jsonb_typeof(value) = 'null'
        THEN mlops._fail('22004', format('value at %s must not be NULL', path))
    WHEN jsonb_typeof(value) IN ('object', 'array') THEN value::text
    ELSE value #>> '{}' END;

-- A JSON number, or one of the strings NaN, Infinity, -Infinity, as float8.
CREATE FUNCTION mlops._json_metric_value(value jsonb, path text) RETURNS double precision
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

CREATE FUNCTION mlops._json_step(value jsonb, path text) RETURNS bigint
LANGUAGE sql VOLATILE
RETURN CASE
    WHEN value IS NULL OR jsonb_typeof(value) = 'null' THEN 0
    WHEN jsonb_typeof(value) = 'number' AND value::numeric = trunc(value::numeric)
         AND value::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
        THEN value::bigint
    ELSE mlops._fail('22023', format('step at %s must be an integer', path),
                     format('Found %s.', left(value::text, 100)))::bigint
    END;

-- MLflow sends timestamps as milliseconds since the epoch; ISO 8601 strings
-- are accepted too.  Absent means "now".
CREATE FUNCTION mlops._json_timestamp(value jsonb, path text, absent timestamptz) RETURNS timestamptz
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

--------------------------------------------------------------------------------
-- Experiments
--------------------------------------------------------------------------------
CREATE FUNCTION mlops.create_experiment(name text, description text DEFAULT NULL,
                                        tags jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
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

-- Get-or-create, safe under concurrency: the unique index arbitrates.
CREATE FUNCTION mlops.set_experiment(name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    id bigint;
BEGIN
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

CREATE FUNCTION mlops.get_experiment(experiment text)
RETURNS TABLE (experiment_id bigint, name text, description text, lifecycle_stage text,
               created_by name, created_at timestamptz, updated_at timestamptz, tags jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint := mlops._experiment_id(experiment);
BEGIN
    RETURN QUERY
    SELECT e.experiment_id, e.name, e.description, e.lifecycle_stage, e.created_by,
           e.created_at, e.updated_at,
           coalesce((SELECT jsonb_object_agg(t.key, t.value) FROM mlops.experiment_tags t
                      WHERE t.experiment_id = e.experiment_id), '{}'::jsonb)
      FROM mlops.experiments e WHERE e.experiment_id = id;
END
$$;

CREATE FUNCTION mlops.rename_experiment(experiment text, new_name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint := mlops._experiment_id(experiment);
BEGIN
    PERFORM mlops._check_label('new experiment name', new_name, 500);
    IF new_name <> experiment AND EXISTS (SELECT FROM mlops.experiments e
                                     WHERE e.name = new_name AND e.lifecycle_stage = 'active') THEN
        RAISE EXCEPTION 'experiment "%" already exists', new_name USING ERRCODE = 'unique_violation';
    END IF;
    UPDATE mlops.experiments SET name = new_name, updated_at = clock_timestamp()
     WHERE experiment_id = id;
END
$$;

-- Soft delete: the experiment and its runs stay in the tables but leave the
-- views, take no writes, and free the name.  Returns the id for restoring.
CREATE FUNCTION mlops.delete_experiment(experiment text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint := mlops._experiment_id(experiment);
BEGIN
    UPDATE mlops.experiments
       SET lifecycle_stage = 'deleted', deleted_at = clock_timestamp(), updated_at = clock_timestamp()
     WHERE experiment_id = id;
    RETURN id;
END
$$;

CREATE FUNCTION mlops.restore_experiment(experiment_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e record;
BEGIN
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

CREATE FUNCTION mlops.set_experiment_tag(experiment text, key text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    id bigint := mlops._experiment_id(experiment);
BEGIN
    INSERT INTO mlops.experiment_tags AS t (experiment_id, key, value)
    VALUES (id, mlops._check_key('experiment tag key', key),
            mlops._check_value('experiment tag value', value, 8000))
        ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value;
END
$$;

CREATE FUNCTION mlops.delete_experiment_tag(experiment text, key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint := mlops._experiment_id(experiment);
BEGIN
    DELETE FROM mlops.experiment_tags t
     WHERE t.experiment_id = id AND t.key = mlops._check_key('experiment tag key', delete_experiment_tag.key);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'experiment "%" has no tag "%"', experiment, key USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

--------------------------------------------------------------------------------
-- Runs
--------------------------------------------------------------------------------
CREATE FUNCTION mlops.start_run(experiment text, run_name text DEFAULT NULL, tags jsonb DEFAULT NULL,
                                parent_run_id bigint DEFAULT NULL, status text DEFAULT 'RUNNING')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    exp_id bigint := mlops._experiment_id(experiment);
    id bigint;
    parent record;
    k text[];
    v text[];
BEGIN
    IF status IS NULL OR status NOT IN ('RUNNING', 'SCHEDULED') THEN
        RAISE EXCEPTION 'a run starts as RUNNING or SCHEDULED, not %', coalesce(status, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF run_name IS NOT NULL THEN
        PERFORM mlops._check_label('run name', run_name, 250);
    END IF;
    IF parent_run_id IS NOT NULL THEN
        SELECT r.experiment_id, r.lifecycle_stage INTO parent
          FROM mlops.runs r WHERE r.run_id = start_run.parent_run_id;
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

CREATE FUNCTION mlops.end_run(run_id bigint, status text DEFAULT 'FINISHED') RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    previous text;
BEGIN
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

CREATE FUNCTION mlops.delete_run(run_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    UPDATE mlops.runs r SET lifecycle_stage = 'deleted', deleted_at = clock_timestamp()
     WHERE r.run_id = delete_run.run_id;
END
$$;

CREATE FUNCTION mlops.restore_run(run_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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

--------------------------------------------------------------------------------
-- Logging
--------------------------------------------------------------------------------
CREATE FUNCTION mlops.log_param(run_id bigint, key text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._writable_run(run_id);
    PERFORM mlops._store_params(run_id, ARRAY[mlops._check_key('param key', key)],
                                ARRAY[mlops._check_value('param value', value, 6000)]);
END
$$;

-- Numbers, booleans and the like are logged as their text form, so that
-- log_param(run, 'alpha', 0.5) needs no cast.
CREATE FUNCTION mlops.log_param(run_id bigint, key text, value anyelement) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT mlops.log_param(run_id, key, value::text) $$;

CREATE FUNCTION mlops.log_params(run_id bigint, params jsonb) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (mlops.log_batch(run_id, jsonb_build_object('params', params)) ->> 'params')::int;
END
$$;

CREATE FUNCTION mlops.log_metric(run_id bigint, key text, value double precision,
                                 step bigint DEFAULT 0, logged_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._writable_run(run_id);
    PERFORM mlops._check_key('metric key', key);
    IF value IS NULL THEN
        RAISE EXCEPTION 'metric value must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Log ''NaN'' explicitly for a missing value.';
    END IF;
    PERFORM mlops._store_metrics(run_id, ARRAY[key], ARRAY[value], ARRAY[coalesce(step, 0)],
                                 ARRAY[coalesce(logged_at, clock_timestamp())]);
END
$$;

-- {"loss": 0.25, "acc": 0.9} at one step.
CREATE FUNCTION mlops.log_metrics(run_id bigint, metrics jsonb, step bigint DEFAULT 0,
                                  logged_at timestamptz DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text[];
    v double precision[];
    at timestamptz := coalesce(logged_at, clock_timestamp());
BEGIN
    PERFORM mlops._writable_run(run_id);
    IF jsonb_typeof(metrics) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'metrics must be a JSON object of key: value'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'mlops.log_batch() takes arrays with steps.';
    END IF;
    SELECT array_agg(mlops._check_key('metric key', e.key) ORDER BY e.key),
           array_agg(mlops._json_metric_value(e.value, 'metrics.' || e.key) ORDER BY e.key)
      INTO k, v FROM jsonb_each(metrics) AS e;
    RETURN mlops._store_metrics(run_id, k, v, array_fill(coalesce(step, 0), ARRAY[cardinality(k)]),
                                array_fill(at, ARRAY[cardinality(k)]));
END
$$;

CREATE FUNCTION mlops.set_tag(run_id bigint, key text, value text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    PERFORM mlops._store_run_tags(run_id, ARRAY[mlops._check_key('tag key', key)],
                                  ARRAY[mlops._check_value('tag value', value, 8000)]);
END
$$;

CREATE FUNCTION mlops.delete_tag(run_id bigint, key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._writable_run(run_id, allow_ended => true);
    DELETE FROM mlops.run_tags t
     WHERE t.run_id = delete_tag.run_id AND t.key = mlops._check_key('tag key', delete_tag.key);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no tag "%"', run_id, key USING ERRCODE = 'undefined_object';
    END IF;
    UPDATE mlops.run_documents d SET tags = d.tags - delete_tag.key WHERE d.run_id = delete_tag.run_id;
END
$$;

-- Params, metrics and tags from one document, all or nothing:
--   {"params":  {"lr": 0.1} | [{"key": "lr", "value": 0.1}],
--    "metrics": {"auc": 0.9} | [{"key": "loss", "value": 0.3, "step": 1, "timestamp": 1700000000000}],
--    "tags":    {"team": "growth"} | [{"key": ..., "value": ...}]}
-- Every element is validated before anything is written, and the writes run
-- in the caller's statement, so any error leaves nothing behind.
CREATE FUNCTION mlops.log_batch(run_id bigint, batch jsonb) RETURNS jsonb
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

    PERFORM mlops._writable_run(run_id);

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

--------------------------------------------------------------------------------
-- Dataset inputs
--------------------------------------------------------------------------------

-- Writes the lineage row; called by log_input once the digest is computed
-- with the caller's own privileges.
CREATE FUNCTION mlops._record_input(run_id bigint, dataset_name text, relation_name text,
                                    context text, row_count bigint, digest text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._writable_run(run_id);
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

-- Not SECURITY DEFINER: the relation is read with the caller's privileges
-- (and row-level security), so nobody learns about a table they cannot read.
-- The output settings are pinned so that the digest of the same rows is the
-- same whatever the session's DateStyle, TimeZone or float format.
CREATE FUNCTION mlops.log_input(run_id bigint, relation regclass, context text DEFAULT 'training',
                                dataset_name text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET "DateStyle" = 'ISO, YMD'
SET "IntervalStyle" = 'postgres'
SET "TimeZone" = 'UTC'
SET extra_float_digits = 1
SET bytea_output = 'hex'
AS $$
DECLARE
    n bigint;
    d text;
BEGIN
    IF relation IS NULL THEN
        RAISE EXCEPTION 'relation must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops._check_key('input context', context);
    PERFORM mlops._writable_run(run_id);
    IF dataset_name IS NOT NULL THEN
        PERFORM mlops._check_label('dataset name', dataset_name, 250);
    END IF;
    EXECUTE format('SELECT count(*), mlops.content_digest(t) FROM %s AS t', relation) INTO n, d;
    RETURN mlops._record_input(run_id, coalesce(dataset_name, relation::text), relation::text,
                               context, n, d);
END
$$;

--------------------------------------------------------------------------------
-- Artifacts
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._check_artifact_path(path text) RETURNS text
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

CREATE FUNCTION mlops.log_artifact(run_id bigint, path text, content bytea,
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

CREATE FUNCTION mlops.get_artifact(run_id bigint, path text) RETURNS bytea
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c bytea;
BEGIN
    SELECT a.content INTO c FROM mlops.artifacts a
     WHERE a.run_id = get_artifact.run_id AND a.path = get_artifact.path;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no artifact "%"', run_id, path USING ERRCODE = 'undefined_object';
    END IF;
    RETURN c;
END
$$;

CREATE FUNCTION mlops.list_artifacts(run_id bigint)
RETURNS TABLE (path text, size_bytes bigint, sha256 text, media_type text, logged_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT a.path, a.size_bytes, a.sha256, a.media_type, a.logged_at
      FROM mlops.artifacts a WHERE a.run_id = list_artifacts.run_id ORDER BY a.path;
END;

--------------------------------------------------------------------------------
-- Views: the common questions as one SELECT
--------------------------------------------------------------------------------

-- One row per active run of an active experiment, with params (numbers as
-- JSON numbers), latest metrics (NaN and infinities as the strings "NaN",
-- "Infinity", "-Infinity") and tags as jsonb.  Metrics are a scalar
-- subquery, computed only for the rows and queries that read them.
--   best run by AUC among gradient boosting runs with more than 100 trees:
--   SELECT run_id, (metrics->>'auc')::float8 FROM mlops.runs_overview
--    WHERE experiment_name = 'churn' AND params->>'model' = 'gbm'
--      AND (params->'n_trees')::numeric > 100
--    ORDER BY (metrics->>'auc')::float8 DESC NULLS LAST LIMIT 1;
CREATE VIEW mlops.runs_overview AS
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

-- Every point of every active run, ready for a time-series chart
-- (time: logged_at, or step; series: experiment_name / run_name / key).
CREATE VIEW mlops.metric_history_overview AS
SELECT e.experiment_id, e.name AS experiment_name, r.run_id, r.run_name,
       h.key, h.step, h.value, h.logged_at
  FROM mlops.metric_history h
  JOIN mlops.runs r ON r.run_id = h.run_id
  JOIN mlops.experiments e ON e.experiment_id = r.experiment_id
 WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active';

CREATE VIEW mlops.experiments_overview AS
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

CREATE FUNCTION mlops.get_run(run_id bigint) RETURNS mlops.runs_overview
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r mlops.runs_overview;
BEGIN
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

CREATE FUNCTION mlops.get_metric_history(run_id bigint, key text)
RETURNS TABLE (step bigint, value double precision, logged_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT h.step, h.value, h.logged_at FROM mlops.metric_history h
     WHERE h.run_id = get_metric_history.run_id AND h.key = get_metric_history.key
     ORDER BY h.step, h.logged_at;
END;

-- Hard delete of a soft-deleted run and everything logged to it.
CREATE FUNCTION mlops.purge_run(run_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM mlops.runs r WHERE r.run_id = purge_run.run_id AND r.lifecycle_stage = 'deleted') THEN
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

--------------------------------------------------------------------------------
-- Privileges.  Functions are not executable by PUBLIC; the roles get what
-- their job needs.  Tables are read-only to everyone but the owner: writes go
-- through the SECURITY DEFINER functions, which keep the invariants.
--------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA mlops FROM PUBLIC;

GRANT SELECT ON ALL TABLES IN SCHEMA mlops TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.build_info(),
    mlops.get_experiment(text),
    mlops.get_run(bigint),
    mlops.get_metric_history(bigint, text),
    mlops.get_artifact(bigint, text),
    mlops.list_artifacts(bigint),
    mlops._param_jsonb(text),
    mlops._digest_accum(internal, anyelement),
    mlops._digest_combine(internal, internal),
    mlops._digest_serialize(internal),
    mlops._digest_deserialize(bytea, internal),
    mlops._digest_final(internal),
    mlops._experiment_id(text)
    TO mlops_reader;
GRANT EXECUTE ON FUNCTION mlops.content_digest(anyelement) TO mlops_reader;

GRANT EXECUTE ON FUNCTION
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
    mlops._record_input(bigint, text, text, text, bigint, text),
    mlops._check_key(text, text, text),
    mlops._check_label(text, text, int, text),
    mlops._writable_run(bigint, boolean),
    mlops.log_artifact(bigint, text, bytea, text)
    TO mlops_writer;

GRANT EXECUTE ON FUNCTION
    mlops.delete_experiment(text),
    mlops.restore_experiment(bigint),
    mlops.purge_run(bigint)
    TO mlops_admin;

