-- metrics.sql: model-quality metrics as aggregates over any predictions
-- table (metrics.c), computed as sklearn.metrics computes them.
--
-- The prediction (or score, or probability) comes first, the truth second.
-- A row where either is NULL is skipped; no rows left gives NULL.  Every
-- aggregate is PARALLEL SAFE with a combine function.  The states are
-- float8[] or int8[] (running sums, counts), which parallel workers and
-- Citus hand on as they are; roc_auc keeps every score (the exact AUC), in
-- an internal state with serialize/deserialize functions.  The support
-- functions compute only; IMMUTABLE except those comparing values of a
-- polymorphic type by its equality operator (STABLE: a user-defined type's
-- equality need not be immutable).  Those of the float8[] and int8[] states
-- are not STRICT but skip NULL rows themselves (metrics.c says why: a STRICT
-- function called with a NULL constant is folded away by the planner before
-- EXECUTE is checked, so anyone could "call" it).

--------------------------------------------------------------------------------
-- Regression: rmse, mae, r2_score (float8[] state: rows, compensated sums of
-- squared and absolute errors, the first actual value, the actual values'
-- mean (less the first) and M2)
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._regression_trans(float8[], float8, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_regression_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._regression_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_regression_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._rmse_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_rmse_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._mae_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_mae_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._r2_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_r2_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- sklearn.metrics.mean_squared_error(actual, predicted, squared=False)
CREATE AGGREGATE mlops.rmse(predicted float8, actual float8) (
    SFUNC = mlops._regression_trans, STYPE = float8[], INITCOND = '{0,0,0,0,0,0,0,0}',
    FINALFUNC = mlops._rmse_final, COMBINEFUNC = mlops._regression_combine, PARALLEL = SAFE);
-- sklearn.metrics.mean_absolute_error(actual, predicted)
CREATE AGGREGATE mlops.mae(predicted float8, actual float8) (
    SFUNC = mlops._regression_trans, STYPE = float8[], INITCOND = '{0,0,0,0,0,0,0,0}',
    FINALFUNC = mlops._mae_final, COMBINEFUNC = mlops._regression_combine, PARALLEL = SAFE);
-- sklearn.metrics.r2_score(actual, predicted): 1 - SSE/SST; a constant
-- actual gives 1 when predicted exactly, else 0
CREATE AGGREGATE mlops.r2_score(predicted float8, actual float8) (
    SFUNC = mlops._regression_trans, STYPE = float8[], INITCOND = '{0,0,0,0,0,0,0,0}',
    FINALFUNC = mlops._r2_final, COMBINEFUNC = mlops._regression_combine, PARALLEL = SAFE);

--------------------------------------------------------------------------------
-- Classification: accuracy (int8[] state: rows, rows right), precision_score,
-- recall_score, f1_score (int8[] state: tp, fp, fn, tn); 0/0 is 0
-- (sklearn's zero_division=0)
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._accuracy_trans(int8[], anyelement, anyelement) RETURNS int8[]
    AS 'MODULE_PATHNAME', 'mlops_accuracy_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._accuracy_final(int8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_accuracy_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- boolean: true is the positive class
CREATE FUNCTION mlops._confusion_trans(int8[], boolean, boolean) RETURNS int8[]
    AS 'MODULE_PATHNAME', 'mlops_confusion_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- any type, with the positive class named: a NULL positive class is an error,
-- where a NULL predicted or actual value is a row skipped
CREATE FUNCTION mlops._confusion_trans(int8[], anyelement, anyelement, anyelement) RETURNS int8[]
    AS 'MODULE_PATHNAME', 'mlops_confusion_label_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops._counts_combine(int8[], int8[]) RETURNS int8[]
    AS 'MODULE_PATHNAME', 'mlops_counts_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._precision_final(int8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_precision_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._recall_final(int8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_recall_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._f1_final(int8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_f1_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- sklearn.metrics.accuracy_score(actual, predicted), values compared by
-- their type's equality operator (and the column's collation)
CREATE AGGREGATE mlops.accuracy(predicted anyelement, actual anyelement) (
    SFUNC = mlops._accuracy_trans, STYPE = int8[], INITCOND = '{0,0}',
    FINALFUNC = mlops._accuracy_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

-- sklearn.metrics.precision_score / recall_score / f1_score(actual, predicted,
-- zero_division=0): of the class true, or of the class `positive`
CREATE AGGREGATE mlops.precision_score(predicted boolean, actual boolean) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._precision_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.precision_score(predicted anyelement, actual anyelement, positive anyelement) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._precision_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.recall_score(predicted boolean, actual boolean) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._recall_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.recall_score(predicted anyelement, actual anyelement, positive anyelement) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._recall_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.f1_score(predicted boolean, actual boolean) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._f1_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.f1_score(predicted anyelement, actual anyelement, positive anyelement) (
    SFUNC = mlops._confusion_trans, STYPE = int8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._f1_final, COMBINEFUNC = mlops._counts_combine, PARALLEL = SAFE);

--------------------------------------------------------------------------------
-- roc_auc: sklearn.metrics.roc_auc_score(label, score), exact (every score
-- kept, sorted by the final function; ties get half credit).  NULL when only
-- one class is present.
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._auc_trans(internal, float8, boolean) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_auc_trans_bool' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._auc_trans(internal, float8, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_auc_trans_int' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._auc_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_auc_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._auc_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'mlops_auc_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mlops._auc_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'mlops_auc_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mlops._auc_final(internal) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_auc_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE mlops.roc_auc(score float8, label boolean) (
    SFUNC = mlops._auc_trans, STYPE = internal, FINALFUNC = mlops._auc_final,
    COMBINEFUNC = mlops._auc_combine, SERIALFUNC = mlops._auc_serialize,
    DESERIALFUNC = mlops._auc_deserialize, PARALLEL = SAFE);
-- label 1 positive, 0 negative; anything else is an error
CREATE AGGREGATE mlops.roc_auc(score float8, label int) (
    SFUNC = mlops._auc_trans, STYPE = internal, FINALFUNC = mlops._auc_final,
    COMBINEFUNC = mlops._auc_combine, SERIALFUNC = mlops._auc_serialize,
    DESERIALFUNC = mlops._auc_deserialize, PARALLEL = SAFE);

--------------------------------------------------------------------------------
-- log_loss: sklearn.metrics.log_loss(label, probability, labels=[0, 1]) of the
-- positive class's probability, or of a row of k class probabilities against
-- a class index 0..k-1 (clipped to [eps, 1 - eps], eps = 2^-52, each row
-- divided by its sum; float8[] state: rows, compensated sum of the losses, k)
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._log_loss_trans(float8[], float8, boolean) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_log_loss_trans_bool' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._log_loss_trans(float8[], float8, int) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_log_loss_trans_int' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._log_loss_trans(float8[], float8[], int) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_log_loss_trans_multi' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._log_loss_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_log_loss_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops._log_loss_final(float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_log_loss_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE mlops.log_loss(probability float8, label boolean) (
    SFUNC = mlops._log_loss_trans, STYPE = float8[], INITCOND = '{0,0,0,2}',
    FINALFUNC = mlops._log_loss_final, COMBINEFUNC = mlops._log_loss_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.log_loss(probability float8, label int) (
    SFUNC = mlops._log_loss_trans, STYPE = float8[], INITCOND = '{0,0,0,2}',
    FINALFUNC = mlops._log_loss_final, COMBINEFUNC = mlops._log_loss_combine, PARALLEL = SAFE);
CREATE AGGREGATE mlops.log_loss(probabilities float8[], label int) (
    SFUNC = mlops._log_loss_trans, STYPE = float8[], INITCOND = '{0,0,0,0}',
    FINALFUNC = mlops._log_loss_final, COMBINEFUNC = mlops._log_loss_combine, PARALLEL = SAFE);

-- Privileges (see tracking.sql).  The aggregates read no table, so they need
-- no mlops role: executable by PUBLIC.  Their support functions stay
-- private, as drift.sql's do: PostgreSQL checks EXECUTE on an aggregate's
-- support functions for the aggregate's owner, not for its caller.
CALL mlops._private_by_default();
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
