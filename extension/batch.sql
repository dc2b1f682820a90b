-- batch.sql: batch scoring jobs (CALL batch_score), the job-runs table, the
-- rejects, and the monitoring views.  C half: extension/batch.c (chunked
-- scoring).

--------------------------------------------------------------------------------
-- Batch scoring jobs and the job-runs table
--------------------------------------------------------------------------------
-- Chunked scoring of a query's rows (batch.c): batch_score's fast path.
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

-- One row per run of a job (batch scoring now; drift checks, feature
-- materialisation and retraining as they land), for BI tools to chart.
CREATE TABLE mlops.job_runs (
    job_run_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_name      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('batch_score')),
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
    duration      interval GENERATED ALWAYS AS (finished_at - started_at) STORED
);
CREATE INDEX job_runs_by_job ON mlops.job_runs (job_name, started_at DESC);
CREATE INDEX job_runs_by_time ON mlops.job_runs (started_at);

-- Rows a batch run could not score, with the reason, when it was asked to
-- set them aside (on_error => 'reject') rather than fail.
CREATE TABLE mlops.batch_rejects (
    job_run_id  bigint NOT NULL REFERENCES mlops.job_runs ON DELETE CASCADE,
    row_key     jsonb NOT NULL,
    reason      text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX batch_rejects_by_run ON mlops.batch_rejects (job_run_id);

CREATE FUNCTION mlops._job_run_start(job_name text, kind text, schedule_id bigint, model_ref text,
                                     version_id bigint, model_version text, source text, target text,
                                     slice text) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO mlops.job_runs (job_name, kind, schedule_id, model_ref, version_id, model_version,
                                source, target, slice, status, run_by)
    VALUES (job_name, kind, schedule_id, model_ref, version_id, model_version, source, target, slice,
            'running', mlops._invoking_user())
    RETURNING job_run_id;
$$;

CREATE FUNCTION mlops._job_run_finish(job_run_id bigint, status text, rows_in bigint, rows_scored bigint,
                                      rows_failed bigint, error text, scoring text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE mlops.job_runs j
       SET status = _job_run_finish.status, rows_in = _job_run_finish.rows_in,
           rows_scored = _job_run_finish.rows_scored, rows_failed = _job_run_finish.rows_failed,
           error = _job_run_finish.error, scoring = _job_run_finish.scoring, finished_at = clock_timestamp()
     WHERE j.job_run_id = _job_run_finish.job_run_id AND j.status = 'running';
$$;

-- A relation name, schema-qualified and quoted, from text that may already
-- be qualified or quoted ('sales.scores', '"My Table"').
CREATE FUNCTION mlops._quote_relation(name text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(quote_ident(p), '.' ORDER BY o) FROM unnest(parse_ident(name)) WITH ORDINALITY AS u(p, o));

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
CREATE PROCEDURE mlops.batch_score(model text, source text, target text,
                                   key_columns text[] DEFAULT ARRAY['id'],
                                   features text DEFAULT NULL,
                                   outputs text[] DEFAULT ARRAY['prediction'],
                                   slice text DEFAULT NULL,
                                   mode text DEFAULT 'replace',
                                   on_error text DEFAULT 'fail',
                                   job_name text DEFAULT NULL,
                                   schedule_id bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    ver record;
    pinned text;
    src text;
    tgt text;
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
    scoring text;
    stage text;
    select_sql text;
    plan text;
    out_cols text := '';
    out_exprs text := '';
    run_id bigint;
    n_in bigint;
    n_failed bigint;
    n_scored bigint;
    first_bad record;
    insert_sql text;
    insert_good_sql text;
    insert_into text;
    run_values text;
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
BEGIN
    IF model IS NULL OR source IS NULL OR target IS NULL THEN
        RAISE EXCEPTION 'model, source and target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF key_columns IS NULL OR cardinality(key_columns) = 0 THEN
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

    -- the version is pinned for the whole run: moving an alias meanwhile
    -- does not mix versions in one slice
    SELECT v.version_id, v.version, m.name INTO ver
      FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
     WHERE v.version_id = (SELECT r.version_id FROM mlops._resolve_model(model) r);
    pinned := ver.name || ':' || ver.version;

    IF source ~* '^\s*(select|with|values|table)\s' THEN
        src := '(' || source || ')';
    ELSE
        src := source::regclass::text;
    END IF;
    tgt := mlops._quote_relation(target);
    feat := CASE WHEN features IS NULL
                 THEN format('(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.-) %L::text[])', key_columns)
                 ELSE 's.' || quote_ident(features) END;
    -- predict() of NULL is NULL; in a batch it is a bad row
    feat_checked := format('COALESCE(%s, mlops._null_features(%s))', feat, feat);
    SELECT string_agg('s.' || quote_ident(k), ', ' ORDER BY o),
           'pg_catalog.jsonb_build_object(' || string_agg(format('%L, s.%I', k, k), ', ' ORDER BY o) || ')'
      INTO keys, key_json
      FROM unnest(key_columns) WITH ORDINALITY AS u(k, o);
    IF 'prediction' = ANY (outputs) THEN
        out_cols := out_cols || ', prediction';
        out_exprs := out_exprs || format(', mlops.predict(%L, %s) AS prediction', pinned, feat_checked);
        out_defs := out_defs || ', prediction float8';
        out_names := out_names || 'prediction'::text;
    END IF;
    IF 'probabilities' = ANY (outputs) THEN
        out_cols := out_cols || ', probabilities';
        out_exprs := out_exprs || format(', mlops.predict_proba(%L, %s) AS probabilities', pinned, feat_checked);
        out_defs := out_defs || ', probabilities float8[]';
        out_names := out_names || 'probabilities'::text;
    END IF;
    IF 'class' = ANY (outputs) THEN
        out_cols := out_cols || ', class';
        out_exprs := out_exprs || format(', mlops.predict_class(%L, %s) AS class', pinned, feat_checked);
        out_defs := out_defs || ', class text';
        out_names := out_names || 'class'::text;
    END IF;
    SELECT mlops.model_info(v.compiled) INTO info
      FROM mlops.model_versions v WHERE v.version_id = ver.version_id;

    run_id := mlops._job_run_start(coalesce(job_name, 'batch_score ' || target), 'batch_score', schedule_id,
                                   model, ver.version_id, pinned, source, target, slice);
    COMMIT;

    BEGIN
        -- Runs into the same target and slice take turns: two at once would
        -- each delete the slice as it was before either wrote, and both
        -- insert, leaving it twice over.  The lock lasts until the run
        -- commits; the next run then deletes what this one wrote.
        PERFORM pg_advisory_xact_lock(hashtext('mlops.batch_score'), hashtext(tgt || '/' || coalesce(slice, '')));
        IF to_regclass(tgt) IS NULL THEN
            EXECUTE format('CREATE TABLE %s AS SELECT %s, NULL::float8 AS prediction, NULL::float8[] AS probabilities,
                                   NULL::text AS class, NULL::bigint AS version_id, NULL::text AS model_version,
                                   NULL::timestamptz AS scored_at, NULL::text AS slice
                              FROM %s s WITH NO DATA', tgt, keys, src);
        END IF;
        IF mode = 'replace' THEN
            EXECUTE format('DELETE FROM %s WHERE slice IS NOT DISTINCT FROM %L', tgt, slice);
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
        -- what every path inserts, the columns every row of the run shares, and its good rows
        insert_into := format('INSERT INTO %s (%s%s, version_id, model_version, scored_at, slice) ', tgt,
                              array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(key_columns) k), ', '), out_cols);
        run_values := format('%s, %L, pg_catalog.now(), %L', ver.version_id, pinned, slice);
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
                   string_agg(format('%I %s', k, format_type(a.atttypid, NULL)), ', ' ORDER BY o),
                   string_agg(format('s.%I::%s', k, format_type(a.atttypid, NULL)), ', ' ORDER BY o)
              INTO n_key_defs, key_defs, key_casts
              FROM unnest(key_columns) WITH ORDINALITY AS u(k, o)
              JOIN pg_attribute a ON a.attrelid = tgt::regclass AND a.attname = k AND a.attnum > 0
                                 AND NOT a.attisdropped;
            IF n_key_defs < cardinality(key_columns) THEN
                RAISE EXCEPTION 'target % has no column for every key column %', tgt, key_columns
                    USING ERRCODE = 'undefined_column';
            END IF;
            -- the source query, with or without the bad-row filter, is an argument
            insert_sql := insert_into || format('SELECT r.*, %s FROM mlops._score_query(%L, ', run_values, pinned);
            score_args := format(', %s, %L) AS r(%s%s)', cardinality(key_columns), out_names, key_defs, out_defs);
            source_sql := format('SELECT %s, %s FROM %s s', key_casts, feat, src);
            insert_good_sql := insert_sql || quote_literal(source_sql || good_rows) || score_args;
            insert_sql := insert_sql || quote_literal(source_sql) || score_args;
        ELSIF scoring = 'parallel' THEN
            stage := 'mlops_batch_stage_' || run_id;
            stage_sql := format('CREATE TEMPORARY TABLE %I ON COMMIT DROP AS ', stage) || select_sql;
            stage_good_sql := stage_sql || good_rows;
            insert_sql := insert_into || format('SELECT *, %s FROM pg_temp.%I', run_values, stage);
            insert_good_sql := insert_sql;
        ELSE
            insert_sql := insert_into || format('SELECT %s%s, %s FROM %s s', keys, out_exprs, run_values, src);
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
                RAISE EXCEPTION '% of % rows cannot be scored with %', n_failed, n_in, pinned
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = format('The first is %s: %s', first_bad.key, first_bad.reason),
                          HINT = 'Fix the rows, or pass on_error => ''reject'' to score the others and '
                                 'set these aside in mlops.batch_rejects.';
            END IF;
            IF stage_good_sql IS NOT NULL THEN
                EXECUTE stage_good_sql;
            END IF;
            EXECUTE insert_good_sql;
            GET DIAGNOSTICS n_scored = ROW_COUNT;
            EXECUTE format('INSERT INTO mlops.batch_rejects (job_run_id, row_key, reason)
                            SELECT %s, %s, mlops.feature_problem(%L, %s) FROM %s s
                             WHERE mlops.feature_problem(%L, %s) IS NOT NULL',
                           run_id, key_json, pinned, feat, src, pinned, feat);
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

    PERFORM mlops._job_run_finish(run_id, final_status, n_in,
                                  CASE WHEN final_status = 'succeeded' THEN n_scored ELSE 0 END, n_failed,
                                  CASE WHEN err_message IS NOT NULL
                                       THEN err_message || coalesce(E'\n' || nullif(err_detail, ''), '') END,
                                  scoring);
    COMMIT;
    IF final_status <> 'succeeded' THEN
        PERFORM mlops._fail(err_state, err_message, nullif(err_detail, ''), nullif(err_hint, ''));
    END IF;
END
$$;

CREATE VIEW mlops.latest_job_runs AS
SELECT DISTINCT ON (j.job_name) j.job_name, j.kind, j.job_run_id, j.status, j.model_version, j.rows_in,
       j.rows_scored, j.rows_failed, j.started_at, j.finished_at, j.duration, j.error, j.scoring
  FROM mlops.job_runs j
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
  FROM mlops.job_runs j
 GROUP BY 1, 2, 3;

CREATE VIEW mlops.rows_scored_daily AS
SELECT date_trunc('day', j.started_at) AS day, j.model_version, j.version_id,
       coalesce(sum(j.rows_scored), 0) AS rows_scored, count(*) AS runs
  FROM mlops.job_runs j
 WHERE j.status = 'succeeded'
 GROUP BY 1, 2, 3;

CREATE VIEW mlops.job_failures AS
SELECT j.job_run_id, j.job_name, j.kind, j.status, j.model_version, j.source, j.target, j.rows_in,
       j.rows_failed, j.error, j.started_at, j.finished_at, j.run_by
  FROM mlops.job_runs j
 WHERE j.status IN ('failed', 'cancelled');

-- Privileges: functions are not executable by PUBLIC; the roles get what
-- their job needs.
REVOKE ALL ON ALL ROUTINES IN SCHEMA mlops FROM PUBLIC;
GRANT SELECT ON mlops.job_runs, mlops.batch_rejects, mlops.latest_job_runs, mlops.job_runs_daily,
                mlops.rows_scored_daily, mlops.job_failures
    TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops._job_run_start(text, text, bigint, text, bigint, text, text, text, text),
    mlops._score_query(text, text, int, text[]),
    mlops._null_features(anyelement),
    mlops._fail(text, text, text, text),
    mlops._job_run_finish(bigint, text, bigint, bigint, bigint, text, text),
    mlops._quote_relation(text)
    TO mlops_writer;
GRANT EXECUTE ON PROCEDURE
    mlops.batch_score(text, text, text, text[], text, text[], text, text, text, text, bigint)
    TO mlops_writer;
GRANT INSERT ON mlops.batch_rejects TO mlops_writer;
