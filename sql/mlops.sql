-- What holds for the extension as a whole: its roles and what they may
-- call, internal functions out of their reach, SECURITY DEFINER functions
-- with a pinned search_path, and every table of user data dumped by pg_dump.
\set SHOW_CONTEXT never

-- Every table and sequence in schema mlops holds user data, and pg_dump
-- dumps it (pg_extension_config_dump); none is left out.
SELECT c.relname, c.relkind
  FROM pg_class c
 WHERE c.relnamespace = 'mlops'::regnamespace AND c.relkind IN ('r', 'p', 'S')
   AND NOT c.oid = ANY (coalesce((SELECT e.extconfig FROM pg_extension e WHERE e.extname = 'mlops'), '{}'))
 ORDER BY 1;
SELECT count(*) AS tables_and_sequences_dumped
  FROM pg_extension e, unnest(e.extconfig) AS t WHERE e.extname = 'mlops';

-- Every SECURITY DEFINER function pins its search_path, so that a caller's
-- search_path cannot redirect what it runs as the owner.
SELECT p.oid::regprocedure AS definer_without_pinned_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'mlops'::regnamespace AND p.prosecdef
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

-- Internal functions (names starting with "_") are executable by nobody but
-- the owner, except these, which batch_score and run_schedule (procedures
-- that run as their caller) and predict() (which resolves references as
-- its caller) must reach.  Each either only raises (_fail, _null_features,
-- _require_role), runs what its caller could run anyway (_score_query),
-- reads what mlops_reader may read after checking it (_resolve_model), or
-- checks that the caller owns what it touches (_job_run_start,
-- _job_run_finish).  The drift functions that read the caller's data run as
-- the caller too, and reach: helpers that only compute (_source_sql,
-- _drift_kind_of, _drift_verdict, and drift_report_html's _html_escape,
-- _html_number and _drift_chart_svg), that run the caller's own query as
-- the caller (_describe_source, _drift_rows, _drift_capture), and definer
-- functions that check the caller (_capture_baseline, _model_training_input,
-- _drift_record).  train() runs as its caller too, and reaches its argument
-- checks, which only raise (_check_model_name, _check_label), and its own
-- helpers (_train_*: the fit reads as the caller, the failed-run recorder
-- records as the caller).
SELECT p.oid::regprocedure AS internal_callable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'mlops'::regnamespace AND p.proname LIKE '\_%'
   AND (has_function_privilege('public', p.oid, 'EXECUTE')
        OR has_function_privilege('mlops_reader', p.oid, 'EXECUTE')
        OR has_function_privilege('mlops_writer', p.oid, 'EXECUTE')
        OR has_function_privilege('mlops_admin', p.oid, 'EXECUTE'))
 ORDER BY 1::text;

-- Public functions are executable by PUBLIC, and check the role themselves.
SELECT p.oid::regprocedure AS public_function_not_executable
  FROM pg_proc p
 WHERE p.pronamespace = 'mlops'::regnamespace AND p.proname NOT LIKE '\_%'
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE');

-- A role with none of the mlops roles is told which one it needs.
CREATE ROLE regress_nobody;
SET ROLE regress_nobody;
SELECT mlops.get_experiment('anything');
SELECT mlops.log_metric(1, 'auc', 0.5);
SELECT mlops.predict('any_model', ARRAY[1.0]);
SELECT mlops.set_model_alias('any_model', 'champion', 1);
SELECT mlops.export_model_version('any_model');
CALL mlops.batch_score('any_model', 'any_table', 'any_target');
-- what reads nothing needs no role: compiling and scoring a compiled model
SELECT mlops.score(mlops.compile_model('{"format": "mlops.model/v1", "task": "regression",
    "features": [{"name": "x", "type": "numeric"}],
    "model": {"type": "linear", "coef": [2], "intercept": 1, "link": "identity"}}'), ARRAY[3.0]) AS two_x_plus_one;
-- and no table can be read or written
SELECT count(*) FROM mlops.runs;
RESET ROLE;

-- The internals stay out of reach of every mlops role: a writer can neither
-- forge lineage nor compile a model that claims to be a registered version.
SET ROLE mlops_writer;
SELECT mlops._record_input(1, 'forged', 'public.nothing', 'training', 42, repeat('0', 64));
SELECT mlops._compile_model('{}', 1);
SELECT mlops._writable_run(1);
RESET ROLE;
SET ROLE mlops_reader;
SELECT mlops._resolve_model(NULL);
RESET ROLE;
DROP ROLE regress_nobody;
