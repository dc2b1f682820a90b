-- retraining.sql: the closed loop.  A retraining policy retrains a model on
-- a fresh window of its source (on a schedule, on a drift monitor's alerts,
-- or both), registers the new version as the challenger, and releases it:
-- promoted at once when it beats the champion on held-out rows by a margin
-- ('compare'), or put beside the champion as a shadow release, an A/B test
-- or a canary, whose own machinery decides (conclude_retraining).
--
-- A cycle is one job run (kind 'retrain') and a row in retraining_events
-- per step; the training run and its metrics are in the tracking tables, the
-- alias moves in registry_events.  The cycle runs as the policy's owner (a
-- procedure: it commits after training and at the end, so that a failure
-- is recorded and then raised), and a failure anywhere leaves the champion
-- alias where it was.

CREATE TABLE mlops.retraining_policies (
    policy_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    model           text NOT NULL,
    source          text NOT NULL,
    target_column   text NOT NULL,
    features        text[],
    algorithm       text,
    hyperparams     jsonb NOT NULL DEFAULT '{}',
    time_column     text,
    training_window interval,
    trigger         text NOT NULL CHECK (trigger IN ('schedule', 'drift', 'both')),
    drift_monitor   text,
    release         text NOT NULL CHECK (release IN ('compare', 'shadow', 'ab', 'canary')),
    metric          text,
    margin          float8 NOT NULL DEFAULT 0,
    release_options jsonb NOT NULL DEFAULT '{}',
    test_size       float8 NOT NULL,
    seed            int NOT NULL DEFAULT 0,
    experiment      text,
    created_by      name NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CHECK ((time_column IS NULL) = (training_window IS NULL)),
    CHECK ((trigger = 'schedule') = (drift_monitor IS NULL))
);

-- Every step of every cycle, and the policy's creation and drop.  No
-- foreign key, so that the history outlives the policy.
CREATE TABLE mlops.retraining_events (
    event_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy_id  bigint NOT NULL,
    policy     text NOT NULL,
    job_run_id bigint,
    step       text NOT NULL CHECK (step IN ('created', 'dropped', 'started', 'skipped', 'trained', 'challenger',
                                             'evaluated', 'promoted', 'kept', 'released', 'stopped', 'failed',
                                             'concluded')),
    version    int,
    detail     jsonb NOT NULL DEFAULT '{}',
    at         timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    actor      name NOT NULL
);
CREATE INDEX retraining_events_by_policy ON mlops.retraining_events (policy_id, at);

-- Held-out metrics: which are larger-is-better, and which task each fits.
CREATE FUNCTION mlops._retraining_metric_fits(metric text, task text) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN task = 'regression' THEN metric IN ('rmse', 'mae', 'r2')
            WHEN task = 'binary' THEN metric IN ('accuracy', 'log_loss', 'roc_auc', 'f1', 'precision', 'recall')
            ELSE metric IN ('accuracy', 'log_loss') END;

-- A model's metric on rows (a query holding the target column and the
-- model's features by name), through the model's own scoring and the
-- metric aggregates, as train() computes the metrics it logs.
-- A binary model's positive class is its second class, as predict() gives
-- its probability.  Runs the caller's query as the caller.
-- (No pinned search_path: the rows' query is the caller's, read with the
-- caller's search_path, as mlops.train reads it.)
CREATE FUNCTION mlops._retraining_metric(metric text, model_ref text, rows_sql text, target_column text)
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

-- A policy of the invoking role, locked.  A policy moves its model's
-- aliases as its owner: only its owner runs or changes it.
CREATE FUNCTION mlops._own_retraining_policy(name text) RETURNS mlops.retraining_policies
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

CREATE FUNCTION mlops._retraining_log(p mlops.retraining_policies, job_run_id bigint, step text, version int,
                                      detail jsonb) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO mlops.retraining_events (policy_id, policy, job_run_id, step, version, detail, actor)
    VALUES (p.policy_id, p.name, job_run_id, step, version, coalesce(detail, '{}'), mlops._invoking_user());
$$;

CREATE FUNCTION mlops.create_retraining_policy(name text, model text, source text, target_column text,
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

CREATE FUNCTION mlops.drop_retraining_policy(name text) RETURNS void
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

-- The newest alert of the policy's drift monitor raised after its last
-- retraining (the last cycle that trained a version), or NULL.  An alert
-- still open from before is not new: drift against the old baseline that
-- goes on after a retraining does not retrain again and again.
CREATE FUNCTION mlops._retraining_new_alert(p mlops.retraining_policies) RETURNS jsonb
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

-- Record a step of a cycle this session is running, as the policy's owner.
-- The 'started' step also makes sure no other cycle of the policy runs: the
-- policy's row stays locked until the start is committed.
CREATE FUNCTION mlops._retraining_event(job_run_id bigint, policy text, step text, version int, detail jsonb)
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

-- One cycle (README, "Retraining").  Internal: how says who started it:
-- 'manual' (retrain()), 'schedule' (a schedule of kind 'retrain', through
-- run_schedule) or 'drift' (a drift monitor's scheduled run that raised an
-- alert).  A drift-started cycle, and a scheduled one of a policy whose
-- trigger is 'drift', retrains only when the policy's monitor raised an
-- alert since its last retraining, and otherwise records a job run that
-- did nothing, saying so.  Runs as its caller, who must own the policy;
-- commits.  A failed cycle is recorded, then raised; a drift-started one
-- returns its error in result instead (sqlstate, error, detail, hint), for
-- _retrain_on_drift to raise once the monitor's other policies have run.
CREATE PROCEDURE mlops._retrain(policy text, schedule_id bigint, how text, INOUT result jsonb)
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

-- Run one cycle of a policy now; returns what happened (the versions, the
-- metric on the held-out rows, the decision).  A procedure, since it commits
-- the job run before the work and again after training, so that a failure
-- is recorded, and then raised to the caller: CALL mlops.retrain('churn').
CREATE PROCEDURE mlops.retrain(policy text, INOUT result jsonb DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_admin', 'retrain');
    CALL mlops._retrain(policy, NULL, 'manual', result);
END
$$;

-- After a drift monitor's scheduled run: a cycle of each of its owner's
-- policies triggered by that monitor's alerts that has a new one.  A cycle
-- that fails (recorded in its job run and events) does not keep the others
-- from running: the first failure is raised once they all have.
CREATE PROCEDURE mlops._retrain_on_drift(monitor text)
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

-- A schedule of kind 'retrain': pg_cron runs a cycle of the policy on cron,
-- as the policy's owner.  With trigger 'drift', a scheduled cycle retrains
-- only when the policy's monitor raised an alert since its last retraining.
CREATE FUNCTION mlops.schedule_retraining(name text, cron text, policy text) RETURNS bigint
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

-- End a policy's release under test: an 'ab' release promotes its winner
-- when it has a significant one (promote_ab_winner, on release_options'
-- metric); a 'canary' promotes the challenger once every step held its
-- guard, and stops a canary that was rolled back.  Otherwise it waits, and
-- says why.  A shadow release has no outcomes to decide on: promote it by
-- hand (set_model_alias) after reading ab_shadow_comparison.
CREATE FUNCTION mlops.conclude_retraining(policy text) RETURNS jsonb
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

-- Each policy with its last cycle and where its aliases point.
CREATE VIEW mlops.retraining_policies_overview AS
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

-- Privileges (see tracking.sql).  The cycle runs as its caller (it commits),
-- so what it calls must be executable by its caller: the definer function
-- that records its steps (which checks the caller), and helpers that only
-- compute or run the caller's own query (_retraining_metric,
-- _retraining_metric_fits, _retraining_new_alert, which reads what readers
-- read).
CALL mlops._private_by_default();
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

SELECT pg_catalog.pg_extension_config_dump('mlops.retraining_policies', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retraining_policies_policy_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retraining_events', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retraining_events_event_id_seq', '');
