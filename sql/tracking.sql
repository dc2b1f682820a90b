-- Experiment tracking: experiments, runs, params, metrics, tags, batches,
-- dataset inputs, artifacts, views, roles.  Expected values are worked out by
-- hand in the comments; timestamps are fixed where they are printed.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-------------------------------------------------------------------------------
-- Experiments
-------------------------------------------------------------------------------
SELECT mlops.create_experiment('churn', 'customer churn models', '{"team": "growth"}');
SELECT mlops.create_experiment('churn');                 -- duplicate active name
SELECT mlops.set_experiment('churn');                    -- get-or-create returns the same id
SELECT mlops.set_experiment('churn-xgb');                -- creates
SELECT experiment_id, name, description, lifecycle_stage, tags
  FROM mlops.get_experiment('churn');
SELECT * FROM mlops.get_experiment('nope');              -- unknown
SELECT mlops.create_experiment(NULL);
SELECT mlops.create_experiment('   ');
SELECT mlops.create_experiment(E'tab\there');
SELECT mlops.create_experiment(repeat('x', 501));
SELECT mlops.create_experiment('bad tags', tags => '{"a b!": "x"}');
SELECT count(*) FROM mlops.experiments WHERE name = 'bad tags';   -- 0: nothing stored

SELECT mlops.rename_experiment('churn-xgb', 'churn-boosting');
SELECT mlops.rename_experiment('churn-boosting', 'churn');        -- taken
SELECT mlops.set_experiment_tag('churn', 'owner', 'ana');
SELECT mlops.set_experiment_tag('churn', 'owner', 'bo');          -- tags are mutable
SELECT mlops.delete_experiment_tag('churn', 'team');
SELECT mlops.delete_experiment_tag('churn', 'team');              -- gone already
SELECT tags FROM mlops.get_experiment('churn');

-- soft delete frees the name; restoring needs it back
SELECT mlops.delete_experiment('churn-boosting');
SELECT * FROM mlops.get_experiment('churn-boosting');
SELECT mlops.set_experiment('churn-boosting');                    -- a new experiment, id 4
                                                                  -- (3 went to the refused 'bad tags')
SELECT mlops.restore_experiment(2);                               -- name taken
SELECT mlops.rename_experiment('churn-boosting', 'churn-boosting-v2');
SELECT mlops.restore_experiment(2);
SELECT mlops.restore_experiment(2);                               -- not deleted
SELECT mlops.restore_experiment(42);
SELECT experiment_id, name, runs FROM mlops.experiments_overview ORDER BY experiment_id;

-------------------------------------------------------------------------------
-- Runs
-------------------------------------------------------------------------------
SELECT mlops.start_run('churn', 'baseline', '{"model": "logreg"}');       -- run 1
SELECT mlops.start_run('churn');                                          -- run 2, default name
SELECT mlops.start_run('churn', 'cv-fold-1', parent_run_id => 1);         -- run 3, nested
SELECT mlops.start_run('churn-boosting', 'x', parent_run_id => 1);        -- parent elsewhere
SELECT mlops.start_run('churn', 'x', parent_run_id => 999);
SELECT mlops.start_run('churn', 'x', status => 'FINISHED');
SELECT mlops.start_run('nope');
SELECT run_id, experiment_name, run_name, status, parent_run_id, tags
  FROM mlops.runs_overview ORDER BY run_id;

-------------------------------------------------------------------------------
-- Params: write-once
-------------------------------------------------------------------------------
SELECT mlops.log_param(1, 'C', 0.5);
SELECT mlops.log_param(1, 'C', 0.5);              -- same value again: fine
SELECT mlops.log_param(1, 'C', '0.5');            -- same text: fine
SELECT mlops.log_param(1, 'C', 0.25);             -- conflict names key and both values
SELECT mlops.log_param(1, 'penalty', 'l2');
SELECT mlops.log_param(1, 'fit_intercept', true);
SELECT mlops.log_param(1, 'note', NULL::text);
SELECT mlops.log_param(1, NULL, 'x');
SELECT mlops.log_param(1, '', 'x');
SELECT mlops.log_param(1, repeat('k', 251), 'x'); -- over-long key
SELECT mlops.log_param(1, repeat('k', 250), 'x'); -- exactly at the limit
SELECT mlops.log_param(1, 'bad;key', 'x');
SELECT mlops.log_param(1, ' lead', 'x');
SELECT mlops.log_param(1, 'big', repeat('v', 6001));
SELECT mlops.log_param(NULL, 'k', 'x');
SELECT mlops.log_param(999, 'k', 'x');            -- unknown run
SELECT key, value FROM mlops.params WHERE run_id = 1 AND length(key) < 50 ORDER BY key;

-------------------------------------------------------------------------------
-- Metrics: history kept, latest only moves forward in (step, time, value)
-------------------------------------------------------------------------------
SELECT mlops.log_metric(1, 'loss', 0.9, 0, '2026-01-01 00:00:00+00');
SELECT mlops.log_metric(1, 'loss', 0.5, 2, '2026-01-01 00:00:02+00');
SELECT mlops.log_metric(1, 'loss', 0.7, 1, '2026-01-01 00:00:03+00'); -- older step: history only
SELECT mlops.log_metric(1, 'loss', 0.4, 2, '2026-01-01 00:00:01+00'); -- same step, earlier time
SELECT mlops.log_metric(1, 'auc', 'NaN', 0, '2026-01-01 00:00:00+00');
SELECT mlops.log_metric(1, 'gain', 'Infinity', 0, '2026-01-01 00:00:00+00');
SELECT mlops.log_metric(1, 'drop', '-Infinity', 0, '2026-01-01 00:00:00+00');
SELECT mlops.log_metric(1, 'loss', NULL);
SELECT mlops.log_metric(1, 'lo ss!', 1);
SELECT mlops.log_metric(999, 'loss', 1);
SELECT step, value, logged_at FROM mlops.get_metric_history(1, 'loss');
-- latest loss: step 2 wins over step 1; at step 2 the later time (00:00:02, 0.5) wins
SELECT key, value, step, logged_at FROM mlops.latest_metrics WHERE run_id = 1 ORDER BY key;
-- NaN and infinities are stored faithfully, not as NULL
SELECT key, value, value = 'NaN'::float8 AS is_nan FROM mlops.metric_history
 WHERE run_id = 1 AND key IN ('auc', 'gain', 'drop') ORDER BY key;

SELECT mlops.log_metrics(2, '{"acc": 0.75, "f1": 0.5}', 3, '2026-01-02 00:00:00+00');
SELECT mlops.log_metrics(2, '[1, 2]');
SELECT mlops.log_metrics(2, '{"acc": "high"}');
SELECT key, value, step FROM mlops.latest_metrics WHERE run_id = 2 ORDER BY key;

-------------------------------------------------------------------------------
-- Tags
-------------------------------------------------------------------------------
SELECT mlops.set_tag(1, 'stage', 'dev');
SELECT mlops.set_tag(1, 'stage', 'review');
SELECT mlops.set_tag(1, 'note', repeat('n', 8001));
SELECT mlops.delete_tag(1, 'stage');
SELECT mlops.delete_tag(1, 'stage');
SELECT key, value FROM mlops.run_tags WHERE run_id = 1 ORDER BY key;

-------------------------------------------------------------------------------
-- Batches: all or nothing
-------------------------------------------------------------------------------
SELECT mlops.log_batch(2, '{
  "params":  {"max_depth": 6, "eta": 0.1, "objective": "binary:logistic", "layers": [64, 32]},
  "metrics": [{"key": "logloss", "value": 0.61, "step": 1, "timestamp": 1767225600000},
              {"key": "logloss", "value": 0.52, "step": 2, "timestamp": "2026-01-01T00:00:05Z"},
              {"key": "logloss", "value": "NaN", "step": 0}],
  "tags":    [{"key": "framework", "value": "xgboost"}]}');
SELECT key, value FROM mlops.params WHERE run_id = 2 ORDER BY key;
SELECT key, value, step, logged_at FROM mlops.latest_metrics WHERE run_id = 2 AND key = 'logloss';

-- Each of these has one bad element; the counts below show nothing was stored.
SELECT count(*) AS params, (SELECT count(*) FROM mlops.metric_history WHERE run_id = 2) AS points,
       (SELECT count(*) FROM mlops.run_tags WHERE run_id = 2) AS tags
  FROM mlops.params WHERE run_id = 2;
SELECT mlops.log_batch(2, '{"params": {"new_param": 1, "eta": 0.2}, "metrics": {"m": 1}}');  -- conflicting param
SELECT mlops.log_batch(2, '{"params": {"p1": 1}, "metrics": [{"key": "m", "value": 1}, {"key": "m", "value": null}]}');
SELECT mlops.log_batch(2, '{"metrics": [{"key": "m", "value": 1}, {"key": "m", "value": "x"}]}');
SELECT mlops.log_batch(2, '{"metrics": [{"key": "m", "value": 1, "step": 1.5}]}');
SELECT mlops.log_batch(2, '{"metrics": [{"key": "m", "value": 1, "timestamp": "yesterday"}]}');
SELECT mlops.log_batch(2, '{"metrics": [{"key": "m", "value": 1, "setp": 1}]}');
SELECT mlops.log_batch(2, '{"metrics": [{"key": "m", "value": 1}, 7]}');
SELECT mlops.log_batch(2, '{"metrics": [{"key": "m/ok", "value": 1}, {"key": "m\nbad", "value": 2}]}');
SELECT mlops.log_batch(2, '{"tags": {"t": "ok"}, "params": [{"key": "dup", "value": 1}, {"key": "dup", "value": 2}]}');
SELECT mlops.log_batch(2, '{"tags": [{"key": "t", "value": "a"}, {"key": "t", "value": "b"}]}');
SELECT mlops.log_batch(2, '{"param": {"x": 1}}');
SELECT mlops.log_batch(2, '[1]');
SELECT mlops.log_batch(2, '{"params": "x"}');
SELECT mlops.log_batch(2, NULL);
SELECT count(*) AS params, (SELECT count(*) FROM mlops.metric_history WHERE run_id = 2) AS points,
       (SELECT count(*) FROM mlops.run_tags WHERE run_id = 2) AS tags
  FROM mlops.params WHERE run_id = 2;
SELECT mlops.log_params(2, '{"subsample": 0.8}');
SELECT mlops.log_batch(2, '{}');

-------------------------------------------------------------------------------
-- Dataset inputs: row count and an order-independent content digest
-------------------------------------------------------------------------------
CREATE TABLE churn_train AS
SELECT g AS customer_id, (g % 7) * 1.5 AS monthly_charges, g % 3 = 0 AS churned
  FROM generate_series(1, 500) g;
SELECT mlops.log_input(1, 'churn_train');                        -- input 1
SELECT mlops.log_input(1, 'churn_train');                        -- same data again: same input
SELECT mlops.log_input(1, 'churn_train', 'validation', 'train-v1');
SELECT dataset_name, relation_name, context, row_count FROM mlops.run_inputs ORDER BY input_id;
-- the digest does not depend on row order, settings, or parallelism
SELECT (SELECT digest FROM mlops.run_inputs WHERE input_id = 1) =
       (SELECT mlops.content_digest(t) FROM (SELECT * FROM churn_train ORDER BY customer_id DESC) t)
       AS order_independent;
SET TimeZone = 'America/New_York';
SELECT mlops.log_input(1, 'churn_train') AS still_input_1;
RESET TimeZone;
SET TimeZone = 'UTC';
-- ...but does depend on content and on multiplicity
UPDATE churn_train SET monthly_charges = monthly_charges + 0.01 WHERE customer_id = 250;
SELECT mlops.log_input(1, 'churn_train');                        -- new digest: input 3
INSERT INTO churn_train SELECT * FROM churn_train WHERE customer_id = 1;
SELECT mlops.log_input(1, 'churn_train');                        -- duplicate row: input 4
SELECT input_id, row_count FROM mlops.run_inputs ORDER BY input_id;
SELECT count(DISTINCT digest) AS distinct_digests FROM mlops.run_inputs;
-- the digest of nothing is sha256 of 32 zero bytes (the sum) and 8 zero bytes (the count)
SELECT mlops.content_digest(x) = encode(sha256(decode(repeat('00', 40), 'hex')), 'hex') AS empty_ok
  FROM generate_series(1, 0) x;
-- NULLs count, and differ from every value
SELECT mlops.content_digest(x) <> mlops.content_digest(coalesce(x, 0)) AS null_distinct
  FROM (VALUES (1), (NULL)) v(x);
SELECT mlops.log_input(1, NULL);
SELECT mlops.log_input(1, 'no_such_table');
SELECT mlops.log_input(1, 'churn_train', 'bad context!');

-------------------------------------------------------------------------------
-- Artifacts: sha256 checked, write-once, bounded
-------------------------------------------------------------------------------
SELECT mlops.log_artifact(1, 'model/coef.json', convert_to('{"coef": [0.5, -1.25]}', 'UTF8'),
                          'application/json');
-- the checksum is sha256 of the bytes
SELECT sha256 = encode(sha256(convert_to('{"coef": [0.5, -1.25]}', 'UTF8')), 'hex') AS checksum_ok
  FROM mlops.artifacts WHERE run_id = 1 AND path = 'model/coef.json';
SELECT mlops.log_artifact(1, 'model/coef.json', convert_to('{"coef": [0.5, -1.25]}', 'UTF8')) IS NOT NULL AS same_again_ok;
SELECT mlops.log_artifact(1, 'model/coef.json', '\x00');
SELECT mlops.log_artifact(1, '../etc/passwd', '\x00');
SELECT mlops.log_artifact(1, '/abs', '\x00');
SELECT mlops.log_artifact(1, 'a//b', '\x00');
SELECT mlops.log_artifact(1, 'a/./b', '\x00');
SELECT mlops.log_artifact(1, 'notes.txt', NULL);
SET mlops.max_artifact_size = '1kB';
SELECT mlops.log_artifact(1, 'big.bin', decode(repeat('00', 1025), 'hex'));
RESET mlops.max_artifact_size;
SELECT path, size_bytes, media_type FROM mlops.list_artifacts(1);
SELECT convert_from(mlops.get_artifact(1, 'model/coef.json'), 'UTF8');
SELECT mlops.get_artifact(1, 'missing');

-------------------------------------------------------------------------------
-- Views: the common questions as one SELECT
-------------------------------------------------------------------------------
SELECT mlops.log_batch(3, '{"params": {"C": 2, "penalty": "l1"}, "metrics": {"auc": 0.81}}');
SELECT mlops.log_batch(2, '{"params": {"C": 10}, "metrics": {"auc": 0.79}}');
SELECT mlops.log_metric(1, 'auc', 0.83, 1, '2026-01-01 00:01:00+00');
SELECT run_id, params - repeat('k', 250) AS params, metrics FROM mlops.runs_overview ORDER BY run_id;
-- best run by auc among runs with C > 1 or penalty l2; C compared as a number (10 > 2)
SELECT run_id, (metrics->>'auc')::float8 AS auc
  FROM mlops.runs_overview
 WHERE experiment_name = 'churn'
   AND ((params->'C')::numeric > 1 OR params->>'penalty' = 'l2')
 ORDER BY (metrics->>'auc')::float8 DESC NULLS LAST;
SELECT run_id, params->'C' AS c FROM mlops.runs_overview WHERE params->'C' > '1.5' ORDER BY 1;
SELECT run_name, key, step, value FROM mlops.metric_history_overview
 WHERE run_id = 1 AND key = 'loss' ORDER BY step, logged_at;
-- the per-run documents behind the view agree with the key/value tables
SELECT count(*) AS disagreeing_documents
  FROM mlops.run_documents d
 WHERE d.params IS DISTINCT FROM coalesce((SELECT jsonb_object_agg(p.key, mlops._param_jsonb(p.value))
                                             FROM mlops.params p WHERE p.run_id = d.run_id), '{}')
    OR d.tags IS DISTINCT FROM coalesce((SELECT jsonb_object_agg(t.key, t.value)
                                           FROM mlops.run_tags t WHERE t.run_id = d.run_id), '{}');
-- a containment query can use the GIN index on params
SELECT run_id FROM mlops.runs_overview WHERE params @> '{"penalty": "l1"}';
SELECT (mlops.get_run(1)).run_name, (mlops.get_run(1)).metrics->'auc' AS auc;
SELECT mlops.get_run(999);

-------------------------------------------------------------------------------
-- Ending, deleting and restoring runs
-------------------------------------------------------------------------------
SELECT mlops.end_run(3, 'FAILED');
SELECT status, end_time IS NOT NULL AS ended FROM mlops.runs WHERE run_id = 3;
SELECT mlops.end_run(3);                                   -- already ended
SELECT mlops.log_metric(3, 'auc', 0.9);                    -- finished run refuses writes
SELECT mlops.log_param(3, 'x', 1);
SELECT mlops.log_batch(3, '{"metrics": {"auc": 0.9}}');
SELECT mlops.log_artifact(3, 'late.txt', '\x00');
SELECT mlops.set_tag(3, 'post_mortem', 'oom');             -- tags still allowed, as in MLflow
SELECT mlops.end_run(2, 'DONE');
SELECT mlops.delete_run(2);
SELECT mlops.log_metric(2, 'auc', 0.9);                    -- deleted run refuses writes
SELECT mlops.set_tag(2, 't', 'x');
SELECT mlops.get_run(2);
SELECT count(*) FROM mlops.runs_overview WHERE run_id = 2;
SELECT mlops.restore_run(2);
SELECT mlops.restore_run(2);
SELECT count(*) FROM mlops.runs_overview WHERE run_id = 2;
-- runs of a deleted experiment take no writes either
SELECT mlops.start_run('churn-boosting-v2', 'doomed');     -- run 4
SELECT mlops.delete_experiment('churn-boosting-v2');
SELECT mlops.log_metric(4, 'auc', 0.5);
-- purge removes a deleted run and everything logged to it
SELECT mlops.purge_run(1);
SELECT mlops.delete_run(2);
SELECT mlops.purge_run(2);
SELECT (SELECT count(*) FROM mlops.runs WHERE run_id = 2) AS runs,
       (SELECT count(*) FROM mlops.metric_history WHERE run_id = 2) AS points,
       (SELECT count(*) FROM mlops.params WHERE run_id = 2) AS params;

-------------------------------------------------------------------------------
-- Roles: reader reads, writer logs, only admin deletes experiments
-------------------------------------------------------------------------------
SET ROLE mlops_reader;
SELECT count(*) > 0 AS reader_sees_runs FROM mlops.runs_overview;
SELECT mlops.start_run('churn', 'by reader');
INSERT INTO mlops.params VALUES (1, 'sneaky', 'x');
RESET ROLE;
SET ROLE mlops_writer;
SELECT mlops.start_run('churn', 'by writer') AS writer_run \gset
SELECT mlops.log_metric(:writer_run, 'auc', 0.5);
SELECT created_by FROM mlops.runs WHERE run_id = :writer_run;
UPDATE mlops.params SET value = 'tampered' WHERE run_id = 1;
SELECT mlops.delete_experiment('churn');
SELECT mlops.log_input(:writer_run, 'churn_train');        -- cannot read the table
RESET ROLE;
GRANT SELECT ON churn_train TO mlops_writer;
SET ROLE mlops_writer;
SELECT mlops.log_input(:writer_run, 'churn_train') AS writer_input;  -- now it can: input 5
RESET ROLE;
SET ROLE mlops_admin;
SELECT mlops.delete_experiment('churn') AS churn_id;
RESET ROLE;
-- a hostile search_path changes nothing: functions pin their own
CREATE SCHEMA evil;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '1999-01-01'::timestamptz $$;
SET search_path = evil, public;
SELECT mlops.set_experiment('after-evil') > 0 AS ok;
SELECT created_at > '2000-01-01' AS not_hijacked FROM mlops.experiments WHERE name = 'after-evil';
RESET search_path;
SELECT jsonb_typeof(mlops.build_info()) AS build_info, mlops.build_info()->>'openblas_threads' AS blas_threads;

-- empty tags, params and metrics log nothing, and are no error
SELECT mlops.set_experiment('empties') IS NOT NULL AS experiment;
SELECT mlops.start_run('empties', 'no tags', tags => '{}') AS empty_run \gset
SELECT mlops.start_run('empties', 'no tags either', tags => '[]') IS NOT NULL AS started;
SELECT mlops.log_batch(:empty_run, '{"params": {}, "metrics": [], "tags": {}}');
SELECT mlops.log_params(:empty_run, '{}'), mlops.log_metrics(:empty_run, '{}');
SELECT params, tags, metrics FROM mlops.runs_overview WHERE run_id = :empty_run;
