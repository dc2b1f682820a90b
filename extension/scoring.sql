-- scoring.sql: scoring rows with a model, by reference (predict*) or on a
-- compiled model (score*), and the per-backend model cache.  C half:
-- extension/scoring.c.

CREATE FUNCTION mlops.model_cache_stats() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_model_cache_stats'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION mlops.model_cache_reset() RETURNS void
    AS 'MODULE_PATHNAME', 'mlops_model_cache_reset'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;

-- Scoring.  By reference: STABLE (they read the registry), PARALLEL SAFE.
-- A NULL feature vector gives NULL; NULL or NaN elements are missing values.
CREATE FUNCTION mlops.predict(model text, features double precision[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_predict_array' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_proba(model text, features double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_predict_proba_array' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_class(model text, features double precision[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_predict_class_array' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict(model text, features jsonb) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_predict_jsonb' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_proba(model text, features jsonb) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_predict_proba_jsonb' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_class(model text, features jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_predict_class_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

-- On a compiled model: IMMUTABLE, reading no tables, so that Citus workers
-- and postgres_fdw can run them where the data is.
CREATE FUNCTION mlops.score(compiled bytea, features double precision[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_score_array' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.score_proba(compiled bytea, features double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_score_proba_array' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.score_class(compiled bytea, features double precision[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_score_class_array' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.score(compiled bytea, features jsonb) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_score_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.score_proba(compiled bytea, features jsonb) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_score_proba_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.score_class(compiled bytea, features jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_score_class_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- By name, leaving out keys that are not features (a row's id and label
-- columns in to_jsonb(t)): keys listed in exclude are ignored, whether
-- present or not, and win over a feature of the same name (which is then
-- missing).  NULL excludes nothing.  The same C functions as the two-argument
-- forms.
CREATE FUNCTION mlops.predict(model text, features jsonb, exclude text[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_predict_jsonb' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_proba(model text, features jsonb, exclude text[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_predict_proba_jsonb' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.predict_class(model text, features jsonb, exclude text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_predict_class_jsonb' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.score(compiled bytea, features jsonb, exclude text[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'mlops_score_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.score_proba(compiled bytea, features jsonb, exclude text[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'mlops_score_proba_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.score_class(compiled bytea, features jsonb, exclude text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_score_class_jsonb' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Why a row cannot be scored (the error predict() would raise), or NULL.
CREATE FUNCTION mlops.feature_problem(model text, features double precision[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_feature_problem_array' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.feature_problem(model text, features jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_feature_problem_jsonb' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.feature_problem(model text, features jsonb, exclude text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'mlops_feature_problem_jsonb' LANGUAGE C STABLE PARALLEL SAFE;

-- Privileges.  Scoring by reference checks the reader role when it resolves
-- the reference (_resolve_model); scoring a compiled model reads no table
-- and needs no role.
CALL mlops._private_by_default();
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
