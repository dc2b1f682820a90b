-- training.sql: training in the database (training.c, training_xgboost.c).
--
-- mlops.train() reads a source (a table, a view, a query, or a feature
-- service's training set) once, splits it deterministically, learns its
-- preprocessing on the training rows, fits a linear model, a logistic
-- regression or XGBoost's boosted trees, evaluates the result on the
-- held-out rows through the model's own scoring path, and logs it all as
-- a run (params, metrics, the dataset input with its digest, the model
-- document) whose artifact it registers as a new version.  Everything runs
-- as the calling role: it trains on what it can read.

-- The fit (training.c): one result per group.  Internal, but harmless to
-- call: it reads with the caller's privileges and writes nothing.
-- With run_id, it also records the rows it read as that run's dataset input
-- (row count and digest of the values read; see training.c).
CREATE FUNCTION mlops._train_fit(query text, classify boolean, numeric_labels boolean, feature_names text[],
                                 feature_categorical boolean[], algorithm text, hyperparams jsonb,
                                 test_size float8, seed int, label text, has_group boolean,
                                 run_id bigint DEFAULT NULL, dataset_name text DEFAULT NULL,
                                 relation_name text DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_train_fit' LANGUAGE C VOLATILE;

-- How a column's type is fed to the fit: numeric (numbers and booleans, as
-- float8), categorical (text, enums), or NULL for a type it cannot take.
CREATE FUNCTION mlops._train_kind_of(type_oid oid) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN type_oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                              'float8'::regtype, 'numeric'::regtype, 'bool'::regtype) THEN 'numeric'
            WHEN type_oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'name'::regtype)
                 OR (SELECT t.typtype = 'e' FROM pg_type t WHERE t.oid = type_oid) THEN 'categorical' END;

-- The candidates of a hyperparameter search: every combination of the
-- values of the keys whose value is a JSON array (a grid), in key order,
-- or n_iter of them drawn without replacement, deterministically from seed.
CREATE FUNCTION mlops._train_candidates(hyperparams jsonb, method text, n_iter int, seed int)
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

-- A source as a label: on one line, at most n characters (names and labels
-- take no control characters; a query source is often several lines).
CREATE FUNCTION mlops._one_line(t text, n int) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN left(btrim(regexp_replace(t, '[[:space:][:cntrl:]]+', ' ', 'g')), n);

-- Whether a held-out metric is better when larger; NULL for a name that is
-- not one train() logs (the one list of them).
CREATE FUNCTION mlops._train_metric_larger_is_better(metric text) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN metric IN ('r2', 'accuracy', 'precision', 'recall', 'f1', 'roc_auc') THEN true
            WHEN metric IN ('rmse', 'mae', 'log_loss') THEN false END;

-- One fit's run: params, metrics, the model document; registered unless
-- register is false.  Returns the version (NULL when not registered).
CREATE FUNCTION mlops._train_log(run_id bigint, result jsonb, hyperparams jsonb) RETURNS void
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

-- A failed training's run, recorded by a background worker in a transaction
-- of its own (training.c), so that it outlives the error train() raises.
CREATE FUNCTION mlops._train_record_failure(payload jsonb) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mlops_train_record_failure' LANGUAGE C VOLATILE STRICT;

-- What the worker runs, as the role that called train(): the public
-- tracking functions, so the run is what that role could have logged.
CREATE FUNCTION mlops._train_failed_run(payload jsonb) RETURNS bigint
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

CREATE FUNCTION mlops.train(model text, source text, target_column text, features text[] DEFAULT NULL,
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

CALL mlops._private_by_default();

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
