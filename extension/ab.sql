-- ab.sql: A/B tests of model versions (ab.c, ab_stats.c).
--
-- Assignment is GrowthBook's, bit for bit with its JavaScript SDK: a unit's
-- variant is a pure function of the test's seed, the unit id and the bucket
-- ranges, so an application using the SDK and a query agree.  On top of
-- that: tests with variants that are model references, sticky assignments,
-- scoring through a test (predict_ab), shadow and canary releases, outcomes,
-- results with frequentist and sequential statistics, Thompson-sampling
-- weights, and promotion of the winner.

-- GrowthBook's hash(seed, value, version): FNV-1a 32-bit over UTF-16 code
-- units; version 1 hashes value || seed into [0, 1) by 1/1000, version 2
-- hashes the decimal form of the hash of seed || value by 1/10000; any
-- other version gives NULL.
CREATE FUNCTION mlops.ab_hash(seed text, value text, version int) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- getBucketRanges: an n x 2 array of [start, end) per variation.
CREATE FUNCTION mlops.ab_bucket_ranges(num_variations int, coverage float8 DEFAULT 1, weights float8[] DEFAULT NULL)
RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_ab_bucket_ranges' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- getEqualWeights
CREATE FUNCTION mlops.ab_equal_weights(num_variations int) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_ab_equal_weights' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- chooseVariation: the first range holding hash, or -1
CREATE FUNCTION mlops.ab_choose_variation(hash float8, ranges float8[]) RETURNS int
    AS 'MODULE_PATHNAME', 'mlops_ab_choose_variation' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- inNamespace: ab_hash('__' || namespace, unit_id, 1) in [range_start, range_end)
CREATE FUNCTION mlops.ab_in_namespace(unit_id text, namespace text, range_start float8, range_end float8)
RETURNS boolean
    AS 'MODULE_PATHNAME', 'mlops_ab_in_namespace' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;


--------------------------------------------------------------------------------
-- Tests, variants, assignments, outcomes
--------------------------------------------------------------------------------

-- An A/B test of model versions.  kind: 'ab' serves each unit its variant's
-- model; 'shadow' serves variant 0 (the champion) to every unit and scores
-- the others alongside, recording their outputs; 'canary' is an 'ab' test of
-- two variants whose challenger share follows canary_steps while the guard
-- holds (advance_canary).  bucket_version moves on a re-bucket (assignments
-- of earlier bucket versions no longer count); weights_epoch moves on every
-- change of weights or coverage within a bucket version.
CREATE TABLE mlops.ab_tests (
    ab_test_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key             text NOT NULL UNIQUE,
    kind            text NOT NULL DEFAULT 'ab' CHECK (kind IN ('ab', 'shadow', 'canary')),
    seed            text NOT NULL,
    hash_version    int NOT NULL DEFAULT 2 CHECK (hash_version IN (1, 2)),
    coverage        float8 NOT NULL DEFAULT 1 CHECK (coverage >= 0 AND coverage <= 1),
    namespace       text,
    namespace_start float8,
    namespace_end   float8,
    status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'stopped')),
    bucket_version  int NOT NULL DEFAULT 1,
    weights_epoch   int NOT NULL DEFAULT 1,
    canary_steps    float8[],
    canary_step     int,
    guard           jsonb,
    description     text,
    created_by      name NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    started_at      timestamptz,
    stopped_at      timestamptz,
    CHECK ((namespace IS NULL) = (namespace_start IS NULL) AND (namespace IS NULL) = (namespace_end IS NULL)),
    CHECK (namespace IS NULL OR (namespace_start >= 0 AND namespace_start < namespace_end AND namespace_end <= 1)),
    CHECK ((kind = 'canary') = (canary_steps IS NOT NULL))
);

-- Variant 0 is the control (the champion of shadow and canary tests).
CREATE TABLE mlops.ab_variants (
    ab_test_id bigint NOT NULL REFERENCES mlops.ab_tests ON DELETE CASCADE,
    variant    int NOT NULL CHECK (variant >= 0),
    name       text NOT NULL,
    model      text NOT NULL,
    weight     float8 NOT NULL CHECK (weight >= 0 AND weight <= 1),
    PRIMARY KEY (ab_test_id, variant),
    UNIQUE (ab_test_id, name)
);

-- The weights and coverage of every epoch of every bucket version: a unit
-- whose hash gives the same variant under all of them cannot have been
-- assigned anything else, so only units in the ranges that moved are looked
-- up among the recorded assignments.
CREATE TABLE mlops.ab_weight_history (
    ab_test_id     bigint NOT NULL REFERENCES mlops.ab_tests ON DELETE CASCADE,
    bucket_version int NOT NULL,
    weights_epoch  int NOT NULL,
    weights        float8[] NOT NULL,
    coverage       float8 NOT NULL,
    set_by         name NOT NULL,
    set_at         timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    PRIMARY KEY (ab_test_id, bucket_version, weights_epoch)
);

-- A unit's first exposure in a bucket version: its variant from then on
-- (sticky), the model version it was first served, and when.  Written by
-- ab_assign() and predict_ab() only.
-- No foreign key to ab_tests: its check would cost more per exposure than
-- the insert itself; drop_ab_test deletes a test's rows.
CREATE TABLE mlops.ab_assignments (
    ab_test_id     bigint NOT NULL,
    bucket_version int NOT NULL,
    unit_id        text COLLATE "C" NOT NULL,
    variant        int NOT NULL,
    weights_epoch  int NOT NULL,
    version_id     bigint,
    assigned_at    timestamptz NOT NULL,
    PRIMARY KEY (ab_test_id, bucket_version, unit_id)
);

-- Outcomes of units, shared by every test: a unit's value of a metric at a
-- time.  The same (unit, metric, time) recorded again replaces the value.
CREATE TABLE mlops.ab_outcomes (
    unit_id     text COLLATE "C" NOT NULL,
    metric      text NOT NULL,
    observed_at timestamptz NOT NULL,
    value       float8 NOT NULL CHECK (value = value AND value <> 'Infinity' AND value <> '-Infinity'),
    recorded_by name NOT NULL DEFAULT current_user,
    PRIMARY KEY (unit_id, metric, observed_at)
);
CREATE INDEX ab_outcomes_by_metric ON mlops.ab_outcomes (metric, unit_id);

-- Shadow tests: every row a shadow variant scored beside the champion.
CREATE TABLE mlops.ab_shadow_predictions (
    ab_test_id          bigint NOT NULL,               -- no foreign key, as ab_assignments
    variant             int NOT NULL,
    unit_id             text COLLATE "C" NOT NULL,
    champion_version_id bigint,
    version_id          bigint,
    champion_prediction float8,
    prediction          float8,
    scored_at           timestamptz NOT NULL
);
CREATE INDEX ab_shadow_predictions_by_test ON mlops.ab_shadow_predictions (ab_test_id, variant, scored_at);

-- Every change to a test, who made it and why: creation, start, stop,
-- weights, re-buckets, canary steps and rollbacks, bandit updates,
-- promotions.  No foreign key, so that the history outlives the test.
CREATE TABLE mlops.ab_events (
    event_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ab_test_id bigint NOT NULL,
    ab_test    text NOT NULL,
    event      text NOT NULL CHECK (event IN ('created', 'started', 'stopped', 'weights_changed', 'rebucketed',
                                              'canary_advanced', 'canary_held', 'canary_rolled_back',
                                              'canary_completed', 'bandit_updated', 'bandit_held', 'promoted')),
    weights    float8[],
    details    jsonb,
    actor      name NOT NULL,
    at         timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX ab_events_by_test ON mlops.ab_events (ab_test_id, at);

-- Alerts: a canary whose guard failed, a sample-ratio mismatch found at
-- promotion.  Owners acknowledge or resolve them.
CREATE TABLE mlops.ab_alerts (
    alert_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ab_test_id bigint NOT NULL REFERENCES mlops.ab_tests ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('canary_guard', 'sample_ratio_mismatch')),
    message    text NOT NULL,
    details    jsonb,
    raised_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    closed_by  name,
    closed_at  timestamptz,
    note       text
);


CREATE TYPE mlops.ab_assignment AS (variant text, variant_index int, model text, bucket_version int, in_test boolean);
CREATE TYPE mlops.ab_prediction AS (variant text, variant_index int, model text, version int, prediction float8,
                                    in_test boolean);

--------------------------------------------------------------------------------
-- Defining and running tests
--------------------------------------------------------------------------------

-- Called after a change to a test, so that this backend's predict_ab() and
-- ab_assign() read it again (other backends wait on the test's lock).
CREATE FUNCTION mlops._ab_changed() RETURNS void
    AS 'MODULE_PATHNAME', 'mlops_ab_changed' LANGUAGE C VOLATILE;

-- The lock predict_ab() holds in share mode while a transaction uses a test.
CREATE FUNCTION mlops._ab_lock(ab_test_id bigint) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_advisory_xact_lock(1835819362, (ab_test_id & 2147483647)::int) $$;

CREATE FUNCTION mlops._ab_event(t mlops.ab_tests, event text, weights float8[] DEFAULT NULL,
                                details jsonb DEFAULT NULL) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO mlops.ab_events (ab_test_id, ab_test, event, weights, details, actor)
    VALUES (t.ab_test_id, t.key, event, weights, details, mlops._invoking_user());
$$;

-- A test by key, locked for update; only its owner may change it.
CREATE FUNCTION mlops._own_ab_test(key text) RETURNS mlops.ab_tests
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

CREATE FUNCTION mlops._ab_test(key text) RETURNS mlops.ab_tests
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

-- Weights a test may use: one per variant, each finite in [0, 1], summing
-- to 1 (within 1e-6).
CREATE FUNCTION mlops._ab_check_weights(weights float8[], n int) RETURNS float8[]
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

CREATE FUNCTION mlops._ab_check_coverage(coverage float8) RETURNS float8
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

-- Create a test (status draft).  models are model references (as predict()
-- takes them), one per variant, variant 0 the control; weights default to
-- equal.  kind 'shadow' serves variant 0 and scores the others beside it;
-- kind 'canary' takes two models and the challenger's shares in steps.
CREATE FUNCTION mlops.create_ab_test(key text, models text[], weights float8[] DEFAULT NULL,
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

CREATE FUNCTION mlops.start_ab_test(key text) RETURNS void
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

CREATE FUNCTION mlops.stop_ab_test(key text) RETURNS void
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

-- New weights (and coverage) for a test.  Units already exposed keep their
-- variant unless rebucket, which starts a new bucket version: every unit is
-- then assigned afresh under the new weights, and results count the new
-- bucket version only.  Waits for transactions scoring through the test.
CREATE FUNCTION mlops._ab_set_weights(t mlops.ab_tests, weights float8[], rebucket boolean, coverage float8,
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

CREATE FUNCTION mlops.set_ab_weights(key text, weights float8[], rebucket boolean DEFAULT false,
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

CREATE FUNCTION mlops.drop_ab_test(key text) RETURNS void
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

--------------------------------------------------------------------------------
-- Assignment and scoring through a test (ab.c)
--------------------------------------------------------------------------------

-- The unit's variant, recorded as its exposure (idempotent, sticky).
CREATE FUNCTION mlops.ab_assign(ab_test text, unit_id text) RETURNS mlops.ab_assignment
    AS 'MODULE_PATHNAME', 'mlops_ab_assign' LANGUAGE C VOLATILE;

-- The unit's variant's model scores the features; the exposure is recorded.
CREATE FUNCTION mlops.predict_ab(ab_test text, unit_id text, features float8[]) RETURNS mlops.ab_prediction
    AS 'MODULE_PATHNAME', 'mlops_predict_ab_array' LANGUAGE C VOLATILE;
CREATE FUNCTION mlops.predict_ab(ab_test text, unit_id text, features jsonb) RETURNS mlops.ab_prediction
    AS 'MODULE_PATHNAME', 'mlops_predict_ab_jsonb' LANGUAGE C VOLATILE;

--------------------------------------------------------------------------------
-- Outcomes
--------------------------------------------------------------------------------

CREATE FUNCTION mlops.record_ab_outcome(unit_id text, metric text, value float8,
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

--------------------------------------------------------------------------------
-- Statistics (ab_stats.c)
--------------------------------------------------------------------------------

-- A treatment against the control: the absolute difference of the means
-- (or rates) with its interval, the relative lift (treatment / control - 1)
-- with its delta-method interval, the test statistic, its degrees of
-- freedom (Infinity for a z-test) and the two-sided p-value.
CREATE TYPE mlops.ab_comparison AS (abs_lift float8, abs_lift_lower float8, abs_lift_upper float8,
                                    rel_lift float8, rel_lift_lower float8, rel_lift_upper float8,
                                    statistic float8, df float8, p_value float8);

-- Two-proportion z-test (pooled for the p-value; Wald interval unpooled).
CREATE FUNCTION mlops.ab_proportions_ztest(control_conversions float8, control_units float8,
                                           treatment_conversions float8, treatment_units float8,
                                           alpha float8 DEFAULT 0.05) RETURNS mlops.ab_comparison
    AS 'MODULE_PATHNAME', 'mlops_ab_proportions_ztest' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Welch's t-test from the arms' units, means and sample variances.
CREATE FUNCTION mlops.ab_welch_ttest(control_units float8, control_mean float8, control_variance float8,
                                     treatment_units float8, treatment_mean float8, treatment_variance float8,
                                     alpha float8 DEFAULT 0.05) RETURNS mlops.ab_comparison
    AS 'MODULE_PATHNAME', 'mlops_ab_welch_ttest' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- GrowthBook's always-valid sequential test: intervals valid however often
-- one looks, and the always-valid p-value.
CREATE FUNCTION mlops.ab_sequential_test(control_units float8, control_mean float8, control_variance float8,
                                         treatment_units float8, treatment_mean float8, treatment_variance float8,
                                         alpha float8 DEFAULT 0.05, tuning float8 DEFAULT 5000)
RETURNS mlops.ab_comparison
    AS 'MODULE_PATHNAME', 'mlops_ab_sequential_test' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Sample ratio mismatch: chi-square of units per variant against the weights.
CREATE FUNCTION mlops.ab_srm(units float8[], weights float8[]) RETURNS mlops.chisquare_result
    AS 'MODULE_PATHNAME', 'mlops_ab_srm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Units per group, as R's power.prop.test and power.t.test (two-sample,
-- two-sided, strict = FALSE) compute them; and the power of n per group.
CREATE FUNCTION mlops.ab_sample_size_proportions(p1 float8, p2 float8, alpha float8 DEFAULT 0.05,
                                                 power float8 DEFAULT 0.8) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_sample_size_proportions' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.ab_power_proportions(n float8, p1 float8, p2 float8, alpha float8 DEFAULT 0.05) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_power_proportions' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.ab_sample_size_means(delta float8, sd float8 DEFAULT 1, alpha float8 DEFAULT 0.05,
                                           power float8 DEFAULT 0.8) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_sample_size_means' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.ab_power_means(n float8, delta float8, sd float8 DEFAULT 1, alpha float8 DEFAULT 0.05) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_power_means' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Thompson sampling (GrowthBook's Gaussian form): each arm's probability of
-- being best and its new weight (floored at min_weight, renormalised);
-- weights NULL while an arm has fewer than min_units units.
CREATE FUNCTION mlops.ab_bandit_weights(units float8[], means float8[], variances float8[],
                                        min_weight float8 DEFAULT 0.01, min_units float8 DEFAULT 100)
RETURNS TABLE (variant int, p_best float8, weight float8)
    AS 'MODULE_PATHNAME', 'mlops_ab_bandit_weights' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 4;

--------------------------------------------------------------------------------
-- Results
--------------------------------------------------------------------------------

-- Per variant of a test's current bucket version: units exposed and the
-- per-unit value of metric.  A unit's value is the sum of its outcomes of
-- the metric observed at or after its first exposure (continuous), or 1 if
-- any of them is positive (binary); a unit without one counts 0.  kind
-- 'auto' is binary when every such outcome is 0 or 1.
CREATE FUNCTION mlops._ab_arms(t mlops.ab_tests, metric text, kind text,
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

-- A test's results for one metric: per variant, units and mean (the
-- conversion rate of a binary metric), and each treatment against variant
-- 0 with the two-proportion z-test (binary) or Welch's t-test
-- (continuous), or the sequential test; srm_p_value is the sample-ratio
-- check of the units assigned under the current weights.
CREATE FUNCTION mlops.ab_results(ab_test text, metric text, kind text DEFAULT 'auto', alpha float8 DEFAULT 0.05,
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

-- The sample-ratio p-value of the units first assigned under the current
-- weights (an earlier epoch's units were assigned under other weights).
CREATE FUNCTION mlops._ab_srm_p(t mlops.ab_tests) RETURNS float8
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

--------------------------------------------------------------------------------
-- Bandits, canaries, promotion
--------------------------------------------------------------------------------

-- Thompson sampling: new weights for a running test from its outcomes of
-- metric (each arm's probability of being best under Gaussian posteriors,
-- GrowthBook's prior N(0, 1e4)), floored at min_weight and applied (units
-- already exposed keep their variant).  Nothing moves until every arm has
-- min_units units.  Returns what it computed; schedule it with
-- schedule_ab_bandit().
CREATE FUNCTION mlops.update_ab_bandit_weights(ab_test text, metric text, kind text DEFAULT 'auto',
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

-- One step of a canary release: with enough units on both sides, the
-- guard's metric is compared (challenger against champion); if the
-- challenger is worse by more than max_relative_drop with confidence
-- (the upper end of its relative lift's interval below -max_relative_drop,
-- or above it for a metric where lower is better), the challenger's share
-- goes back to 0 (a re-bucket, so that its units return to the champion)
-- and an alert is raised; otherwise the share moves to the next step.
-- Every outcome is an event.  Returns what happened.
CREATE FUNCTION mlops.advance_canary(ab_test text) RETURNS text
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

-- Move alias (default 'champion') of the winner's model to the winner's
-- version in one audited step, once a treatment beats the control
-- significantly on metric; refused while the sample-ratio check fails
-- (p < 0.001).  Stops the test unless told not to.
CREATE FUNCTION mlops.promote_ab_winner(ab_test text, metric text, alias text DEFAULT 'champion',
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

CREATE FUNCTION mlops.acknowledge_ab_alert(alert_id bigint, note text DEFAULT NULL) RETURNS void
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

-- Schedules (pg_cron, run as their owner): canary steps and bandit updates.
CREATE FUNCTION mlops._schedule_ab(name text, cron text, ab_test text, kind text, spec jsonb) RETURNS bigint
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

CREATE FUNCTION mlops.schedule_canary(name text, cron text, ab_test text) RETURNS bigint
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

CREATE FUNCTION mlops.schedule_ab_bandit(name text, cron text, ab_test text, metric text,
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

--------------------------------------------------------------------------------
-- Views for BI tools
--------------------------------------------------------------------------------

CREATE VIEW mlops.ab_tests_overview AS
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

-- First exposures per day and variant (the current bucket version).
CREATE VIEW mlops.ab_exposures_daily AS
SELECT t.key AS ab_test, date_trunc('day', a.assigned_at) AS day, v.name AS variant, a.variant AS variant_index,
       count(*) AS units
  FROM mlops.ab_assignments a
  JOIN mlops.ab_tests t ON t.ab_test_id = a.ab_test_id AND t.bucket_version = a.bucket_version
  JOIN mlops.ab_variants v ON v.ab_test_id = a.ab_test_id AND v.variant = a.variant
 GROUP BY t.key, date_trunc('day', a.assigned_at), v.name, a.variant;

-- Results of every running test on every metric its units have outcomes of.
CREATE VIEW mlops.ab_current_results AS
SELECT t.key AS ab_test, m.metric, r.*
  FROM mlops.ab_tests t
 CROSS JOIN LATERAL (SELECT DISTINCT o.metric FROM mlops.ab_outcomes o
                      WHERE EXISTS (SELECT FROM mlops.ab_assignments a
                                     WHERE a.ab_test_id = t.ab_test_id AND a.bucket_version = t.bucket_version
                                       AND a.unit_id = o.unit_id)) m
 CROSS JOIN LATERAL mlops.ab_results(t.key, m.metric) r
 WHERE t.status = 'running' AND t.kind <> 'shadow';

-- Shadow releases: each challenger against the champion on the same rows.
-- agreement: share of rows where both give the same side of 0.5 (a
-- probability) or values within 1e-9 relative (a regression); drift of the
-- challenger's outputs against the champion's as PSI and the KS statistic.
CREATE VIEW mlops.ab_shadow_comparison AS
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

CREATE VIEW mlops.ab_alerts_open AS
SELECT a.alert_id, t.key AS ab_test, a.kind, a.message, a.details, a.raised_at
  FROM mlops.ab_alerts a JOIN mlops.ab_tests t USING (ab_test_id)
 WHERE a.status = 'open';

CALL mlops._private_by_default();
GRANT EXECUTE ON FUNCTION
    mlops.ab_hash(text, text, int),
    mlops.ab_bucket_ranges(int, float8, float8[]),
    mlops.ab_equal_weights(int),
    mlops.ab_choose_variation(float8, float8[]),
    mlops.ab_in_namespace(text, text, float8, float8)
    TO PUBLIC;
GRANT SELECT ON mlops.ab_tests, mlops.ab_variants, mlops.ab_weight_history, mlops.ab_assignments, mlops.ab_outcomes,
    mlops.ab_shadow_predictions, mlops.ab_events, mlops.ab_alerts TO mlops_reader;
-- outcomes are loaded in bulk with plain INSERT (... ON CONFLICT DO NOTHING) as well as with
-- record_ab_outcome(); recorded_by is always the inserting role, and a recorded value changes only
-- through record_ab_outcome()
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
