-- drift.sql: drift statistics (two-sample functions on arrays, aggregates
-- against a stored baseline), baselines, the drift report (rows and HTML),
-- and drift monitors with their history and alerts.  C half:
-- extension/drift.c (SQL face) and extension/drift_stats.c (the numbers).

--------------------------------------------------------------------------------
-- Types
--------------------------------------------------------------------------------
-- The transition state of every drift aggregate: a concrete type with a
-- text form, so that parallel workers and Citus workers can hand partial
-- states on (drift.c says what it holds).
CREATE TYPE mlops.drift_state;
CREATE FUNCTION mlops._drift_state_in(cstring) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_state_in' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_state_out(mlops.drift_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'mlops_drift_state_out' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE TYPE mlops.drift_state (
    INPUT = mlops._drift_state_in,
    OUTPUT = mlops._drift_state_out,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

CREATE TYPE mlops.ks_2samp_result AS (statistic float8, p_value float8, method text);
CREATE TYPE mlops.chisquare_result AS (statistic float8, p_value float8);

--------------------------------------------------------------------------------
-- Two-sample functions on arrays, named as scipy names them.  NULLs and NaNs
-- are left out (scipy's nan_policy='omit'); an infinite value is an error;
-- a side with no values left is an error.
--------------------------------------------------------------------------------
-- scipy.stats.ks_2samp(reference, current, method=...), two-sided.
CREATE FUNCTION mlops.ks_2samp(reference float8[], current float8[], method text DEFAULT 'auto')
RETURNS mlops.ks_2samp_result
    AS 'MODULE_PATHNAME', 'mlops_ks_2samp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- scipy.stats.wasserstein_distance(reference, current)
CREATE FUNCTION mlops.wasserstein_distance(reference float8[], current float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_wasserstein_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- PSI over `bins` quantile bins of the reference (README: Drift statistics)
CREATE FUNCTION mlops.psi(reference float8[], current float8[], bins int DEFAULT 10) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_psi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- scipy.spatial.distance.jensenshannon over the same bins as psi(), natural log
CREATE FUNCTION mlops.js_distance(reference float8[], current float8[], bins int DEFAULT 10) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_js_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- scipy.stats.chisquare(observed, expected)
CREATE FUNCTION mlops.chisquare(observed float8[], expected float8[]) RETURNS mlops.chisquare_result
    AS 'MODULE_PATHNAME', 'mlops_chisquare' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

--------------------------------------------------------------------------------
-- Baselines
--------------------------------------------------------------------------------
CREATE TABLE mlops.drift_baselines (
    baseline_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    source      text NOT NULL,
    source_kind text NOT NULL CHECK (source_kind IN ('relation', 'query', 'model_version', 'predictions')),
    version_id  bigint,
    options     jsonb NOT NULL DEFAULT '{}',
    n_rows      bigint NOT NULL,
    created_by  name NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

-- Per column: what drift is measured against.  Numeric columns keep their
-- sorted finite values (all of them up to mlops.drift_baseline_values, else
-- a uniform sample of that many, with ks_error_bound the bound it puts on a
-- KS statistic), bin edges and counts; categorical ones their categories'
-- counts, most frequent first.
CREATE TABLE mlops.drift_baseline_columns (
    baseline_id     bigint NOT NULL REFERENCES mlops.drift_baselines ON DELETE CASCADE,
    position        int NOT NULL,
    column_name     text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('numeric', 'categorical')),
    data_type       text NOT NULL,
    n_rows          bigint NOT NULL,
    n_null          bigint NOT NULL,
    n_nan           bigint NOT NULL,
    n_infinite      bigint NOT NULL,
    n               bigint NOT NULL,
    null_rate       float8 NOT NULL,
    mean            float8,
    std             float8,
    min             float8,
    max             float8,
    bins            int,
    edges           float8[],
    bin_counts      float8[],
    categories      text[],
    category_counts float8[],
    sorted_values   float8[],
    values_exact    boolean,
    ks_error_bound  float8,
    PRIMARY KEY (baseline_id, position),
    UNIQUE (baseline_id, column_name)
);
-- read whole by every KS and Wasserstein: stored out of line, uncompressed
ALTER TABLE mlops.drift_baseline_columns ALTER COLUMN sorted_values SET STORAGE EXTERNAL;

--------------------------------------------------------------------------------
-- Aggregates against a baseline: psi_agg, ks_2samp_agg, wasserstein_agg,
-- js_distance_agg, chisquare_agg and drift_stats_agg (all of a kind's
-- statistics as jsonb).  Usable in any GROUP BY; parallel through
-- _drift_combine.  A numeric column is passed as float8, a categorical one
-- as text.
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._drift_numeric_trans(mlops.drift_state, float8, text, text) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_numeric_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_numeric_values_trans(mlops.drift_state, float8, text, text) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_numeric_values_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_categorical_trans(mlops.drift_state, text, text, text) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_categorical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_combine(mlops.drift_state, mlops.drift_state) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_psi_final(mlops.drift_state) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_drift_psi_final' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_js_final(mlops.drift_state) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_drift_js_final' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_ks_final(mlops.drift_state) RETURNS mlops.ks_2samp_result
    AS 'MODULE_PATHNAME', 'mlops_drift_ks_final' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_wasserstein_final(mlops.drift_state) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_drift_wasserstein_final' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_chisquare_final(mlops.drift_state) RETURNS mlops.chisquare_result
    AS 'MODULE_PATHNAME', 'mlops_drift_chisquare_final' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._drift_stats_final(mlops.drift_state) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_drift_stats_final' LANGUAGE C STABLE PARALLEL SAFE;

CREATE AGGREGATE mlops.psi_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_psi_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.psi_agg(current text, baseline text, feature text) (
    SFUNC = mlops._drift_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_psi_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.js_distance_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_js_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.js_distance_agg(current text, baseline text, feature text) (
    SFUNC = mlops._drift_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_js_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.ks_2samp_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_values_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_ks_final, FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.wasserstein_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_values_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_wasserstein_final, FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.chisquare_agg(current text, baseline text, feature text) (
    SFUNC = mlops._drift_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_chisquare_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.drift_stats_agg(current float8, baseline text, feature text) (
    SFUNC = mlops._drift_numeric_values_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_stats_final, FINALFUNC_MODIFY = SHAREABLE,
    COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.drift_stats_agg(current text, baseline text, feature text) (
    SFUNC = mlops._drift_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_stats_final, COMBINEFUNC = mlops._drift_combine, PARALLEL = SAFE);

--------------------------------------------------------------------------------
-- Capturing a baseline
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._drift_capture_numeric_trans(mlops.drift_state, float8, int) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_capture_numeric_trans' LANGUAGE C VOLATILE;
CREATE FUNCTION mlops._drift_capture_categorical_trans(mlops.drift_state, text) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_capture_categorical_trans' LANGUAGE C VOLATILE;
CREATE FUNCTION mlops._drift_capture_final(mlops.drift_state) RETURNS mlops.drift_state
    AS 'MODULE_PATHNAME', 'mlops_drift_capture_final' LANGUAGE C VOLATILE;
-- One pass over the source captures every column (no combine function: a
-- capture's sample is drawn in one scan, so that it is repeatable).
CREATE AGGREGATE mlops._drift_capture(float8, int) (
    SFUNC = mlops._drift_capture_numeric_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_capture_final, FINALFUNC_MODIFY = READ_WRITE);
CREATE AGGREGATE mlops._drift_capture(text) (
    SFUNC = mlops._drift_capture_categorical_trans, STYPE = mlops.drift_state,
    FINALFUNC = mlops._drift_capture_final, FINALFUNC_MODIFY = READ_WRITE);

CREATE FUNCTION mlops._drift_capture_summary(state mlops.drift_state, bins int,
    OUT n_rows bigint, OUT n_null bigint, OUT n_nan bigint, OUT n_infinite bigint, OUT n bigint,
    OUT mean float8, OUT std float8, OUT min float8, OUT max float8, OUT sorted_values float8[],
    OUT values_exact boolean, OUT edges float8[], OUT bin_counts float8[], OUT categories text[],
    OUT category_counts float8[], OUT ks_error_bound float8)
    AS 'MODULE_PATHNAME', 'mlops_drift_capture_summary' LANGUAGE C IMMUTABLE;

-- A query run as the invoking role under its search_path (drift.c)
CREATE FUNCTION mlops._drift_run_as_invoker(query text, search_path text) RETURNS mlops.drift_state[]
    AS 'MODULE_PATHNAME', 'mlops_drift_run_as_invoker' LANGUAGE C VOLATILE;
CREATE FUNCTION mlops._describe_source(source_sql text, search_path text,
                                       OUT "position" int, OUT name text, OUT type_oid oid)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mlops_describe_source' LANGUAGE C VOLATILE;

-- A source as batch_score takes it (a table or view name, or a query), as
-- SQL to put after FROM: a name is quoted part by part, so that it names a
-- relation and nothing else; it is resolved by whoever runs the SQL.
CREATE FUNCTION mlops._source_sql(source text) RETURNS text
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

-- The kind a column's type gives it: numbers are numeric; text, booleans
-- and enums are categorical; anything else needs the kind said.
CREATE FUNCTION mlops._drift_kind_of(type_oid oid) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN type_oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                              'float8'::regtype, 'numeric'::regtype) THEN 'numeric'
            WHEN type_oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'bool'::regtype,
                              'name'::regtype, '"char"'::regtype)
                 OR (SELECT t.typtype = 'e' FROM pg_type t WHERE t.oid = type_oid) THEN 'categorical' END;

-- Capture a baseline (capture_baseline and the forms below call this).  It
-- reads the source as the invoking role, under the search_path it called
-- with, and stores what it found as the extension's owner: nobody stores a
-- baseline of rows they cannot read, or one that is not their source's.
CREATE FUNCTION mlops._capture_baseline(name text, source text, columns text[], options jsonb,
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

-- Capture a baseline from a table, view or query: per column its kind,
-- bins and counts, summary statistics and what KS needs (README: Drift).
CREATE FUNCTION mlops.capture_baseline(name text, source text, columns text[] DEFAULT NULL,
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

-- Capture a baseline from what a model version was trained on: the dataset
-- its run logged as training input, over the version's signature features
-- (those that are columns of it).
CREATE FUNCTION mlops.capture_baseline_from_model(name text, model text, options jsonb DEFAULT NULL)
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

CREATE FUNCTION mlops._model_training_input(model text, OUT version_id bigint, OUT relation_name text,
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

-- Capture a baseline of a batch scoring target's outputs (prediction
-- drift): its prediction column, or those given, in one slice or all.
CREATE FUNCTION mlops.capture_prediction_baseline(name text, target text, slice text DEFAULT NULL,
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

CREATE FUNCTION mlops.drop_baseline(name text) RETURNS void
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

CREATE VIEW mlops.drift_baselines_overview AS
SELECT b.baseline_id, b.name, b.source, b.source_kind, b.version_id, b.n_rows,
       count(c.*) AS columns,
       count(c.*) FILTER (WHERE c.kind = 'numeric') AS numeric_columns,
       count(c.*) FILTER (WHERE c.kind = 'categorical') AS categorical_columns,
       b.created_by, b.created_at
  FROM mlops.drift_baselines b LEFT JOIN mlops.drift_baseline_columns c USING (baseline_id)
 GROUP BY b.baseline_id;

--------------------------------------------------------------------------------
-- The drift report
--------------------------------------------------------------------------------
-- Per feature: the statistics of its kind over the current data, in one
-- pass (one aggregate per column, in one query, parallel where the planner
-- chooses), with the method, threshold and verdict (README: Drift).  Runs as
-- its caller, and reads the current data as its caller.
CREATE FUNCTION mlops._drift_rows(baseline text, current text, options jsonb)
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

CREATE FUNCTION mlops.drift_report(baseline text, current text, options jsonb DEFAULT NULL)
RETURNS TABLE (feature text, kind text, n_reference bigint, n_current bigint, method text, statistic float8,
               p_value float8, threshold float8, drifted boolean, stats jsonb)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT r.feature, r.kind, r.n_reference, r.n_current, r.method, r.statistic, r.p_value, r.threshold,
           r.drifted, r.stats
      FROM mlops._drift_rows(baseline, current, options) r;
END;

-- The dataset-level verdict: drifted when the share of drifted features
-- reaches drift_share (options, default 0.5, Evidently's).
CREATE FUNCTION mlops._drift_verdict(drifted boolean[], options jsonb,
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

CREATE FUNCTION mlops.dataset_drift(baseline text, current text, options jsonb DEFAULT NULL,
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

--------------------------------------------------------------------------------
-- Monitors: a baseline, the current data (a source and a time window), the
-- report's options, and a cron schedule; each run is a job run, appends to
-- drift_checks and drift_history, raises alerts, and notifies.
--------------------------------------------------------------------------------
CREATE TABLE mlops.drift_monitors (
    monitor_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    baseline         text NOT NULL,
    source           text NOT NULL,
    timestamp_column text,
    time_window      interval,
    options          jsonb NOT NULL DEFAULT '{}',
    schedule_id      bigint,
    created_by       name NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CHECK ((timestamp_column IS NULL) = (time_window IS NULL))
);

-- One row per monitor run: the dataset-level verdict.
CREATE TABLE mlops.drift_checks (
    check_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor_id      bigint NOT NULL REFERENCES mlops.drift_monitors ON DELETE CASCADE,
    job_run_id      bigint,
    checked_at      timestamptz NOT NULL,
    window_start    timestamptz,
    window_end      timestamptz,
    n_rows          bigint,
    n_features      int NOT NULL,
    n_drifted       int NOT NULL,
    share_drifted   float8,
    drift_share     float8 NOT NULL,
    dataset_drifted boolean
);
CREATE INDEX drift_checks_by_monitor ON mlops.drift_checks (monitor_id, checked_at DESC);

-- One row per monitor run and feature: drift over time, for BI tools.
CREATE TABLE mlops.drift_history (
    check_id    bigint NOT NULL REFERENCES mlops.drift_checks ON DELETE CASCADE,
    monitor_id  bigint NOT NULL REFERENCES mlops.drift_monitors ON DELETE CASCADE,
    checked_at  timestamptz NOT NULL,
    feature     text NOT NULL,
    kind        text NOT NULL,
    n_reference bigint,
    n_current   bigint,
    method      text NOT NULL,
    statistic   float8,
    p_value     float8,
    threshold   float8 NOT NULL,
    drifted     boolean,
    stats       jsonb NOT NULL,
    PRIMARY KEY (check_id, feature)
);
CREATE INDEX drift_history_by_feature ON mlops.drift_history (monitor_id, feature, checked_at DESC);

-- An alert per monitor and drifting feature (feature NULL: the dataset's
-- verdict).  While the feature keeps drifting, its open alert is seen
-- again (last_seen_at, checks) rather than raised anew; a check where it no
-- longer drifts resolves it.  Owners acknowledge or resolve by hand.
CREATE TABLE mlops.drift_alerts (
    alert_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor_id   bigint NOT NULL REFERENCES mlops.drift_monitors ON DELETE CASCADE,
    check_id     bigint NOT NULL REFERENCES mlops.drift_checks ON DELETE CASCADE,
    feature      text,
    method       text,
    statistic    float8,
    p_value      float8,
    threshold    float8,
    raised_at    timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    checks       int NOT NULL DEFAULT 1,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    closed_by    name,
    closed_at    timestamptz,
    note         text
);
CREATE UNIQUE INDEX drift_alerts_one_open ON mlops.drift_alerts (monitor_id, coalesce(feature, ''))
    WHERE status <> 'resolved';

CREATE FUNCTION mlops._own_monitor(name text) RETURNS mlops.drift_monitors
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

-- Create a drift monitor; with a cron expression, also its schedule (of the
-- same name), run by pg_cron as the invoking role.
CREATE FUNCTION mlops.create_drift_monitor(name text, baseline text, source text, cron text DEFAULT NULL,
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

CREATE FUNCTION mlops.drop_drift_monitor(name text) RETURNS void
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

-- Record a monitor run's results: called by run_drift_monitor (which runs
-- as its caller) for a job run this session is running, of a monitor the
-- caller owns.  Notifies channel mlops_drift when something drifted.
CREATE FUNCTION mlops._drift_record(job_run_id bigint, monitor_name text, results jsonb,
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

-- Run a drift monitor now (pg_cron runs it through run_schedule): one job
-- run, committed before the work starts and when it ends.  Runs as its
-- caller, who must own the monitor; call it outside a transaction block.
CREATE PROCEDURE mlops.run_drift_monitor(name text)
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

CREATE FUNCTION mlops.acknowledge_drift_alert(alert_id bigint, note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'acknowledge_drift_alert');
    PERFORM mlops._close_drift_alert(alert_id, 'acknowledged', note);
END
$$;

CREATE FUNCTION mlops.resolve_drift_alert(alert_id bigint, note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'resolve_drift_alert');
    PERFORM mlops._close_drift_alert(alert_id, 'resolved', note);
END
$$;

CREATE FUNCTION mlops._close_drift_alert(alert_id bigint, status text, note text) RETURNS void
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

-- Monitoring views, for BI tools: stable names and types.
-- The latest check of each monitor and feature.
CREATE VIEW mlops.drift_monitor_status AS
SELECT m.monitor_id, m.name AS monitor, m.baseline, h.feature, h.kind, h.checked_at, h.method, h.statistic,
       h.p_value, h.threshold, h.drifted, h.n_reference, h.n_current,
       EXISTS (SELECT FROM mlops.drift_alerts a WHERE a.monitor_id = m.monitor_id AND a.feature = h.feature
                                                  AND a.status = 'open') AS alert_open
  FROM mlops.drift_monitors m
  JOIN LATERAL (SELECT c.check_id FROM mlops.drift_checks c WHERE c.monitor_id = m.monitor_id
                 ORDER BY c.checked_at DESC, c.check_id DESC LIMIT 1) l ON true
  JOIN mlops.drift_history h ON h.check_id = l.check_id;

-- Each monitor with its last verdict, open alerts and schedule.
CREATE VIEW mlops.drift_monitors_overview AS
SELECT m.monitor_id, m.name AS monitor, m.baseline, m.source, m.timestamp_column, m.time_window,
       s.cron, s.active AS schedule_active, c.checked_at AS last_checked_at, c.n_rows AS last_rows,
       c.n_features, c.n_drifted, c.share_drifted, c.dataset_drifted,
       (SELECT count(*) FROM mlops.drift_alerts a WHERE a.monitor_id = m.monitor_id AND a.status = 'open') AS open_alerts,
       m.created_by, m.created_at
  FROM mlops.drift_monitors m
  LEFT JOIN mlops.schedules s ON s.schedule_id = m.schedule_id
  LEFT JOIN LATERAL (SELECT * FROM mlops.drift_checks x WHERE x.monitor_id = m.monitor_id
                      ORDER BY x.checked_at DESC, x.check_id DESC LIMIT 1) c ON true;

CREATE VIEW mlops.drift_alerts_open AS
SELECT a.alert_id, m.name AS monitor, m.baseline, coalesce(a.feature, '(dataset)') AS feature, a.method,
       a.statistic, a.p_value, a.threshold, a.raised_at, a.last_seen_at, a.checks, a.status
  FROM mlops.drift_alerts a JOIN mlops.drift_monitors m USING (monitor_id)
 WHERE a.status <> 'resolved';

-- Privileges (see tracking.sql).  The report functions and capture wrappers
-- run as their caller (they read the caller's data), so what they call must
-- be executable by the caller: helpers that only compute (_source_sql,
-- _drift_kind_of, _drift_verdict), that run the caller's own query as the
-- caller (_describe_source, _drift_rows, _drift_capture), and the definer
-- functions that check the caller (_capture_baseline, _drift_record).
CALL mlops._private_by_default();
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
