-- Model registry: versions, references, aliases, stages, the audit trail,
-- lineage to runs, roles.  The models are y = 2x, y = 3x and y = x + 100, so
-- which version answered is plain from the prediction at x = 2 (4, 6, 102).
\set SHOW_CONTEXT never
\set double '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [2], "link": "identity"}}'
\set triple '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [3], "link": "identity"}}'
\set shift '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [1], "intercept": 100, "link": "identity"}}'

-------------------------------------------------------------------------------
-- Registering versions
-------------------------------------------------------------------------------
SELECT mlops.register_model_version('price', :'double', description => 'doubles');   -- creates the model
SELECT mlops.register_model_version('price', :'triple');
SELECT name, owner, last_version FROM mlops.registered_models;
SELECT model_name, version, stage, aliases, task, family, n_features, signature,
       sha256 = encode(sha256(convert_to(:'double', 'UTF8')), 'hex') AS sha256_of_artifact
  FROM mlops.model_versions_overview WHERE version = 1;

-- a malformed artifact is refused and nothing is stored, not even a new model
SELECT mlops.register_model_version('price', '{"format": "mlops.model/v1", "task": "regression"}');
SELECT mlops.register_model_version('price', :'double' || 'x');
SELECT mlops.register_model_version('fresh', '{"format": "mlops.model/v1"}');
SELECT (SELECT count(*) FROM mlops.model_versions) AS versions,
       (SELECT last_version FROM mlops.registered_models WHERE name = 'price') AS last_version,
       (SELECT count(*) FROM mlops.registered_models WHERE name = 'fresh') AS fresh_models;
-- hostile and bad names
SELECT mlops.register_model_version('price; DROP TABLE mlops.runs', :'double');
SELECT mlops.register_model_version('pri"ce', :'double');
SELECT mlops.register_model_version(repeat('m', 251), :'double');
SELECT mlops.register_model_version(NULL, :'double');
SELECT mlops.register_model_version('price', NULL);
SELECT mlops.register_model_version('price', :'double', run_id => 12345);
SELECT mlops.create_registered_model('price');

-------------------------------------------------------------------------------
-- References
-------------------------------------------------------------------------------
SELECT mlops.predict('price:1', ARRAY[2]) AS "v1: 4",
       mlops.predict('price:2', ARRAY[2]) AS "v2: 6",
       mlops.predict('price@latest', ARRAY[2]) AS "latest: 6",
       mlops.predict('models:/price/1', ARRAY[2]) AS "uri: 4",
       mlops.predict('price:1', '{"x": 2}'::jsonb) AS "jsonb: 4";
SELECT mlops.predict('price', ARRAY[2]);            -- no champion, no Production version
SELECT mlops.predict('price:9', ARRAY[2]);
SELECT mlops.predict('price@champion', ARRAY[2]);
SELECT mlops.predict('nope', ARRAY[2]);
SELECT mlops.predict('price@@x', ARRAY[2]);
SELECT mlops.predict('models:/price/Gold', ARRAY[2]);
SELECT mlops.predict('x''; DROP TABLE mlops.model_versions; --', ARRAY[2]);
SELECT mlops.predict(NULL, ARRAY[2]);
SELECT count(*) AS versions_still_there FROM mlops.model_versions;

-------------------------------------------------------------------------------
-- Aliases: one statement resolves once; the next statement sees a move
-------------------------------------------------------------------------------
SELECT mlops.set_model_alias('price', 'champion', 1);
SELECT mlops.predict('price', ARRAY[2]) AS "default is champion: 4", mlops.predict('price@champion', ARRAY[2]) AS "4";
SELECT mlops.set_model_alias('price', 'champion', 2);
SELECT mlops.predict('price@champion', ARRAY[2]) AS "moved: 6";
SELECT mlops.set_model_alias('price', 'challenger', 1);
CREATE TEMP TABLE seen (step int, prediction float8);
DO $$
BEGIN
    INSERT INTO seen SELECT 1, mlops.predict('price@champion', ARRAY[2]);
    PERFORM mlops.set_model_alias('price', 'champion', 1);
    INSERT INTO seen SELECT 2, mlops.predict('price@champion', ARRAY[2]);
    PERFORM mlops.set_model_alias('price', 'champion', 2);
    INSERT INTO seen SELECT 3, mlops.predict('price@champion', ARRAY[2]);
END $$;
SELECT * FROM seen ORDER BY step;                    -- 6, 4, 6
-- every row of one statement uses the version resolved at its start
SELECT count(DISTINCT mlops.predict('price@champion', ARRAY[2])) AS versions_in_one_statement
  FROM generate_series(1, 1000);
SELECT mlops.set_model_alias('price', 'latest', 1);   -- reserved
SELECT mlops.set_model_alias('price', 'v2', 1);       -- reserved
SELECT mlops.set_model_alias('price', 'best one', 1);
SELECT mlops.set_model_alias('price', 'champion', 7);
SELECT mlops.delete_model_alias('price', 'nope');
SELECT model_name, version, aliases FROM mlops.model_versions_overview ORDER BY version;

-------------------------------------------------------------------------------
-- Stages
-------------------------------------------------------------------------------
SELECT mlops.register_model_version('price', :'shift');                        -- version 3
SELECT mlops.transition_model_stage('price', 1, 'Production');
SELECT mlops.transition_model_stage('price', 3, 'Staging');
SELECT mlops.delete_model_alias('price', 'champion');
SELECT mlops.predict('price', ARRAY[2]) AS "no champion: Production v1: 4";
SELECT mlops.transition_model_stage('price', 2, 'Production');                 -- archives v1
SELECT version, stage FROM mlops.model_versions ORDER BY version;
SELECT mlops.predict('price', ARRAY[2]) AS "Production v2: 6",
       mlops.predict('models:/price/Staging', ARRAY[2]) AS "Staging v3: 102";
SELECT mlops.transition_model_stage('price', 3, 'Production', archive_existing => false);
SELECT version, stage FROM mlops.model_versions ORDER BY version;
SELECT mlops.predict('price', ARRAY[2]) AS "highest Production version, v3: 102";
SELECT mlops.transition_model_stage('price', 3, 'Live');

-------------------------------------------------------------------------------
-- Deleting: aliased versions are protected; numbers are never reused
-------------------------------------------------------------------------------
SELECT mlops.delete_model_version('price', 1);                                 -- challenger uses it
SELECT mlops.delete_model_version('price', 3);
SELECT mlops.register_model_version('price', :'shift') AS "4, not 3";
SELECT mlops.predict('price:3', ARRAY[2]);

-- the audit trail: who moved what, from where to where
SELECT event, version, alias, from_value, to_value, actor
  FROM mlops.registry_events WHERE model_name = 'price' AND event <> 'version_registered'
 ORDER BY event_id;

-------------------------------------------------------------------------------
-- Lineage: a version registered from a run's artifact
-------------------------------------------------------------------------------
SELECT mlops.set_experiment('pricing') AS exp \gset
SELECT mlops.start_run('pricing', 'fit') AS run \gset
SELECT mlops.log_artifact(:run, 'model/model.json', convert_to(:'triple', 'UTF8'), 'application/json') IS NOT NULL AS logged;
SELECT mlops.register_model_version_from_run('price', :run, 'model/model.json') AS version \gset
SELECT version, run_id = :run AS from_run, experiment_id = :exp AS in_experiment,
       sha256 = (SELECT sha256 FROM mlops.artifacts WHERE run_id = :run) AS same_bytes
  FROM mlops.model_versions_overview WHERE model_name = 'price' AND version = :version;
SELECT mlops.register_model_version_from_run('price', :run, 'model/missing.json');

-------------------------------------------------------------------------------
-- The compiled form: score() equals predict(), and carries its version
-------------------------------------------------------------------------------
SELECT mlops.score(mlops.compiled_model('price:2'), ARRAY[2]) AS "6",
       (mlops.model_info(mlops.compiled_model('price:2')) ->> 'version_id')::bigint =
       (SELECT version_id FROM mlops.model_versions WHERE version = 2) AS carries_version_id;
SELECT g AS x, mlops.predict('price:2', ARRAY[g]) = mlops.score(c.compiled, ARRAY[g]) AS same
  FROM generate_series(1, 3) g, (SELECT mlops.compiled_model('price:2') AS compiled) c;
-- a different compiled model on every row is never mistaken for the last one
SELECT v.ref, mlops.score(mlops.compiled_model(v.ref), ARRAY[2]) AS via_score,
       mlops.predict(v.ref, ARRAY[2]) AS via_predict
  FROM (VALUES (1, 'price:1'), (2, 'price:2'), (3, 'price:1'), (4, 'price:4'), (5, 'price:2')) v(i, ref)
 ORDER BY v.i;
SELECT (mlops.get_model_version('price:2')).stage;
SELECT (mlops.model_cache_stats() ->> 'entries')::int > 0 AS cached;
-- A compiled model passed to score() is the caller's to write, its header
-- too: another body under version 2's id and checksum scores as what it is,
-- and never stands for version 2 afterwards in this backend, whichever role
-- scores it by reference (a pool's connection serves roles in turn)
SELECT mlops.model_cache_reset();
SET ROLE mlops_reader;
SELECT mlops.score(overlay(overlay(mlops.compile_model(:'shift')
                                   placing decode((SELECT string_agg(lpad(to_hex((v.version_id >> (8 * i)) & 255), 2, '0'),
                                                                     '' ORDER BY i)
                                                     FROM generate_series(0, 7) i), 'hex') from 17)
                           placing decode(v.sha256, 'hex') from 25), ARRAY[2]) AS "forged: 102"
  FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id) WHERE m.name = 'price' AND v.version = 2;
RESET ROLE;
SELECT mlops.predict('price:2', ARRAY[2]) AS "6", mlops.score(mlops.compiled_model('price:2'), ARRAY[2]) AS "still 6";

-------------------------------------------------------------------------------
-- Roles: the reader scores, the writer registers, only the admin moves
-- aliases and stages
-------------------------------------------------------------------------------
SET ROLE mlops_reader;
SELECT mlops.predict('price:2', ARRAY[2]) AS reader_scores;
SELECT mlops.register_model_version('price', :'double');
SELECT mlops.set_model_alias('price', 'champion', 2);
RESET ROLE;
SET ROLE mlops_writer;
SELECT mlops.register_model_version('price', :'double') AS writer_registers;
SELECT mlops.transition_model_stage('price', 1, 'Production');
SELECT mlops.set_model_alias('price', 'champion', 1);
SELECT mlops.delete_model_version('price', 1);
UPDATE mlops.model_versions SET stage = 'Production';
RESET ROLE;
SET ROLE mlops_admin;
SELECT mlops.set_model_alias('price', 'champion', 1);
SELECT mlops.transition_model_stage('price', 1, 'Production');
RESET ROLE;
SELECT event, version, alias, actor FROM mlops.registry_events ORDER BY event_id DESC LIMIT 3;

-- registered model tags, and deleting a whole model (admin only)
SELECT mlops.create_registered_model('scratch', 'to be deleted', '{"team": "risk"}') > 0 AS created;
SELECT mlops.set_registered_model_tag('scratch', 'team', 'growth');
SELECT mlops.set_registered_model_tag('scratch', 'bad key!', 'x');
SELECT mlops.set_registered_model_tag('nope', 'team', 'x');
SELECT t.key, t.value FROM mlops.registered_model_tags t JOIN mlops.registered_models m USING (model_id)
 WHERE m.name = 'scratch';
SELECT mlops.register_model_version('scratch', :'double');
SELECT mlops.set_model_alias('scratch', 'champion', 1);
SET ROLE mlops_writer;
SELECT mlops.delete_registered_model('scratch');
RESET ROLE;
SELECT mlops.delete_registered_model('scratch');
SELECT count(*) AS gone FROM mlops.registered_models WHERE name = 'scratch';
SELECT mlops.predict('scratch', ARRAY[2]);
SELECT event FROM mlops.registry_events WHERE model_name = 'scratch' ORDER BY event_id DESC LIMIT 1;
SELECT mlops.delete_registered_model('scratch');

-- A/B scoring: each row names its variant's model.  Every reference is
-- resolved once per statement and rows get their own version, with two
-- references alternating, with 20 cycling, and with 70 cycling (more than
-- the 64 a scoring call keeps resolved, so every change resolves again).
SELECT count(*) AS versions FROM (
    SELECT mlops.register_model_version('ab_variants', format(
        '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "a", "type": "numeric"}],
          "model": {"type": "linear", "coef": [0], "intercept": [%s], "link": "identity"}}', v))
      FROM generate_series(1, 70) v) r;
SELECT mlops.set_model_alias('ab_variants', 'champion', 7);
SELECT count(*) AS rows,
       count(*) FILTER (WHERE mlops.predict(CASE WHEN i % 2 = 0 THEN 'ab_variants@champion' ELSE 'ab_variants:3' END,
                                            ARRAY[1]) = CASE WHEN i % 2 = 0 THEN 7 ELSE 3 END) AS right_version
  FROM generate_series(1, 1000) i;
SELECT count(*) AS rows, count(*) FILTER (WHERE mlops.predict('ab_variants:' || v, ARRAY[1]) = v) AS right_version
  FROM generate_series(1, 50) rep, generate_series(1, 20) v;
SELECT count(*) AS rows, count(*) FILTER (WHERE mlops.predict('ab_variants:' || v, ARRAY[1]) = v) AS right_version
  FROM generate_series(1, 10) rep, generate_series(1, 70) v;

-- Stage names in any case, as MLflow takes them
SELECT mlops.register_model_version('staged', :'double') AS v1, mlops.register_model_version('staged', :'double') AS v2;
SELECT mlops.transition_model_stage('staged', 1, 'production');
SELECT mlops.transition_model_stage('staged', 2, 'STAGING');
SELECT version, stage FROM mlops.model_versions_overview WHERE model_name = 'staged' ORDER BY version;
SELECT (mlops.get_model_version('models:/staged/production')).version AS production_version,
       (mlops.get_model_version('models:/staged/staging')).version AS staging_version;
SELECT mlops.transition_model_stage('staged', 1, 'prod');

-- Tags on a version, and on a model: set, replaced, deleted, checked
SELECT mlops.set_model_version_tag('staged', 2, 'validation.auc', '0.91');
SELECT mlops.set_model_version_tag('staged', 2, 'validation.auc', '0.92');
SELECT mlops.set_model_version_tag('staged', 1, 'ticket', 'RISK-1');
SELECT v.version, t.key, t.value FROM mlops.model_version_tags t JOIN mlops.model_versions v USING (version_id)
  JOIN mlops.registered_models m USING (model_id) WHERE m.name = 'staged' ORDER BY 1, 2;
SELECT mlops.delete_model_version_tag('staged', 1, 'ticket');
SELECT mlops.delete_model_version_tag('staged', 1, 'ticket');
SELECT mlops.set_model_version_tag('staged', 9, 'k', 'v');
SELECT mlops.set_model_version_tag('staged', 1, 'bad key!', 'v');
SELECT mlops.set_model_version_tag('staged', 1, 'k', repeat('v', 8001));
SELECT mlops.set_model_version_tag('staged', 1, 'k', NULL);
SELECT mlops.set_registered_model_tag('staged', 'owner', 'risk');
SELECT mlops.delete_registered_model_tag('staged', 'owner');
SELECT mlops.delete_registered_model_tag('staged', 'owner');
SELECT count(*) AS model_tags FROM mlops.registered_model_tags t JOIN mlops.registered_models m USING (model_id)
 WHERE m.name = 'staged';
-- tagging is a writer's; the reader is told so
SET ROLE mlops_reader;
SELECT mlops.set_model_version_tag('staged', 2, 'k', 'v');
RESET ROLE;
SET ROLE mlops_writer;
SELECT mlops.set_model_version_tag('staged', 2, 'reviewed', 'yes');
RESET ROLE;

-- predict resolves 'name', 'name@alias' and 'name:N' with one query of its
-- own (scoring.c) and every other form through _resolve_model: both give the
-- same version, named the same way in predict's messages
CREATE FUNCTION pg_temp.err(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.used(ref text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(substring(pg_temp.err(format('SELECT mlops.predict(%L, ARRAY[1, 2]::float8[])', ref))
                              FROM 'features for (.*): got'),
                    pg_temp.err(format('SELECT mlops.predict(%L, ARRAY[1, 2]::float8[])', ref)))
$$;
SELECT mlops.set_model_alias('staged', 'champion', 2);
SELECT r AS ref, (SELECT label FROM mlops._resolve_model(r)) AS resolved, pg_temp.used(r) AS predict_used
  FROM unnest(ARRAY['staged', 'staged@champion', 'staged:1', 'staged:2', 'staged@latest', 'models:/staged/1',
                    'models:/staged@champion', 'models:/staged/production']) r;
SELECT mlops.delete_model_alias('staged', 'champion');
SELECT (SELECT label FROM mlops._resolve_model('staged')) AS resolved, pg_temp.used('staged') AS predict_used;
-- and what does not resolve fails with _resolve_model's errors
SELECT r AS ref, pg_temp.used(r) AS error
  FROM unnest(ARRAY['staged@champion', 'staged:9', 'nothing', 'nothing@champion', 'staged@', ':1', 'a@b@c',
                    'staged:1x', 'staged:99999999999']) r;
CREATE ROLE registry_nobody;
SET ROLE registry_nobody;
SELECT pg_temp.used('staged:1') AS not_a_reader;
RESET ROLE;
DROP ROLE registry_nobody;
