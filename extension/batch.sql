-- batch.sql: batch scoring jobs (CALL batch_score), the job-runs table, the
-- rejects, and the monitoring views.  C half: extension/batch.c (chunked
-- scoring).

--------------------------------------------------------------------------------
-- Batch scoring jobs and the job-runs table
--------------------------------------------------------------------------------
-- Chunked scoring of a query's rows (batch.c): batch_score's fast path.  It
-- runs the query it is given as its caller, so calling it directly gives
-- nobody anything they could not do with the query itself.
CREATE FUNCTION mlops._score_query(model text, query text, n_keys int, outputs text[]) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mlops_score_query' LANGUAGE C VOLATILE;

-- Raises what a NULL feature vector is to a batch: a bad row.  Called as
-- coalesce(features, _null_features(features)), so only for NULL.  VOLATILE
-- so that the planner never folds it (and raises) ahead of time.
CREATE FUNCTION mlops._null_features(features anyelement) RETURNS anyelement
LANGUAGE plpgsql VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'the features are NULL' USING ERRCODE = 'null_value_not_allowed';
END
$$;

-- One row per run of a job (batch scoring, drift checks, feature
-- materialisation, retraining cycles), for BI tools to chart.
-- A running job holds a session-level advisory lock, (1836019578, lock_key),
-- for as long as it runs: when the session that ran it is gone (terminated,
-- crashed) without finishing it, the lock is gone too, and job_runs_overview
-- shows the run as failed (the next run records it so).  The key is drawn at
-- random when the run starts, and is one nobody held: any role can take
-- advisory locks, and keys it could guess ahead (the next run ids) would let
-- it make every batch job wait.
CREATE TABLE mlops.job_runs (
    job_run_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_name      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('batch_score', 'drift_monitor', 'materialize_online', 'retrain')),
    schedule_id   bigint,
    model_ref     text,
    version_id    bigint,
    model_version text,
    source        text,
    target        text,
    slice         text,
    rows_in       bigint,
    rows_scored   bigint,
    rows_failed   bigint,
    scoring       text CHECK (scoring IN ('chunked', 'parallel', 'row')),
    status        text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    error         text,
    run_by        name NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at   timestamptz,
    duration      interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
    backend_pid   int,
    lock_key      int,
    -- what a run that succeeded has to say (a retraining cycle skipped for
    -- want of drift, the drift a monitor found); a failure's reason is error
    note          text
);
CREATE INDEX job_runs_by_job ON mlops.job_runs (job_name, started_at DESC);
CREATE INDEX job_runs_by_time ON mlops.job_runs (started_at);
CREATE INDEX job_runs_running ON mlops.job_runs (job_run_id) WHERE status = 'running';

-- Rows a batch run could not score, with the reason, when it was asked to
-- set them aside (on_error => 'reject') rather than fail.  batch_score runs
-- as its caller and writes these rows itself, set-based; the policy lets a
-- session add rejects only to a run it is running itself, as the role that
-- started it (a backend may serve several roles in turn, as a pool's do).
CREATE TABLE mlops.batch_rejects (
    job_run_id  bigint NOT NULL REFERENCES mlops.job_runs ON DELETE CASCADE,
    row_key     jsonb NOT NULL,
    reason      text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX batch_rejects_by_run ON mlops.batch_rejects (job_run_id);
ALTER TABLE mlops.batch_rejects ENABLE ROW LEVEL SECURITY;
CREATE POLICY batch_rejects_read ON mlops.batch_rejects FOR SELECT USING (true);
CREATE POLICY batch_rejects_own_running_run ON mlops.batch_rejects FOR INSERT
    WITH CHECK (EXISTS (SELECT FROM mlops.job_runs j
                         WHERE j.job_run_id = batch_rejects.job_run_id AND j.status = 'running'
                           AND j.backend_pid = pg_catalog.pg_backend_pid() AND j.run_by = CURRENT_USER));

-- job_runs with each run's status as it is now: a run still marked running
-- whose session is gone is failed.
CREATE VIEW mlops.job_runs_overview AS
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

-- Start a job run: resolve and pin the model version, record the run as
-- running, committed by the caller before the work starts.  Called by
-- batch_score, which runs as its caller; so this checks everything it is
-- given: the role, the schedule (the caller's own), the names.
CREATE FUNCTION mlops._job_run_start(job_name text, kind text, schedule_id bigint, model_ref text,
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

-- Finish a job run this session is running: nobody finishes, or rewrites
-- the outcome of, another session's run.  The run's lock stays: releasing a
-- session-level lock is not undone when the transaction rolls back, and a
-- run left 'running' without it would show as failed while its session
-- lives; batch_score releases it once the outcome is committed.
CREATE FUNCTION mlops._job_run_finish(job_run_id bigint, status text, rows_in bigint, rows_scored bigint,
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

-- Score a table, view or query with a model into a target table, as one job
-- run recorded in mlops.job_runs.
--
-- The scoring is one transaction (a subtransaction of the procedure): the
-- target's slice is deleted and rewritten together, so a failure or a
-- cancellation halfway leaves the target exactly as it was, and a retried
-- run replaces the slice instead of adding to it.  Chunked commits would
-- leave a half-written slice visible between chunks, which is what a
-- reader of the target must never see.  The job_runs row is committed
-- before the work starts and again when it ends, so it says what happened
-- even when the work is rolled back.  Call it outside a transaction block
-- (as pg_cron does): it commits.
--
-- It runs as its caller (a procedure that commits cannot be SECURITY
-- DEFINER), reading the source and writing the target with the caller's
-- privileges; what it records in mlops' tables goes through _job_run_start
-- and _job_run_finish, which check the caller.
CREATE PROCEDURE mlops.batch_score(model text, source text, target text,
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

-- Monitoring views, for BI tools: stable names and types, over job_runs_overview
-- (so that a run whose session died shows as failed).
CREATE VIEW mlops.latest_job_runs AS
SELECT DISTINCT ON (j.job_name) j.job_name, j.kind, j.job_run_id, j.status, j.model_version, j.rows_in,
       j.rows_scored, j.rows_failed, j.started_at, j.finished_at, j.duration, j.error, j.scoring, j.note
  FROM mlops.job_runs_overview j
 ORDER BY j.job_name, j.started_at DESC, j.job_run_id DESC;

CREATE VIEW mlops.job_runs_daily AS
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

CREATE VIEW mlops.rows_scored_daily AS
SELECT date_trunc('day', j.started_at) AS day, j.model_version, j.version_id,
       coalesce(sum(j.rows_scored), 0) AS rows_scored, count(*) AS runs
  FROM mlops.job_runs_overview j
 WHERE j.status = 'succeeded' AND j.kind = 'batch_score'
 GROUP BY 1, 2, 3;

CREATE VIEW mlops.job_failures AS
SELECT j.job_run_id, j.job_name, j.kind, j.status, j.model_version, j.source, j.target, j.rows_in,
       j.rows_failed, j.error, j.started_at, j.finished_at, j.run_by
  FROM mlops.job_runs_overview j
 WHERE j.status IN ('failed', 'cancelled');

-- Privileges (see tracking.sql).  batch_score runs as its caller, so what it
-- calls must be executable by its caller: the role check, the job-run
-- functions (which check the caller), and helpers that only raise or run
-- the caller's own query.
CALL mlops._private_by_default();
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

SELECT pg_catalog.pg_extension_config_dump('mlops.job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.batch_rejects', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.job_runs_job_run_id_seq', '');
