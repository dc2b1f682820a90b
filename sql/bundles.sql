-- Bundles: a model version exported as one document and imported as a new
-- version, keeping its checksum and its lineage.
\set SHOW_CONTEXT never
\set lr '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [4], "intercept": 1, "link": "identity"}}'
SELECT mlops.set_experiment('bundling') IS NOT NULL AS experiment;
SELECT mlops.start_run('bundling', 'trained', '{"team": "risk"}') AS run \gset
SELECT mlops.log_batch(:run, '{"params": {"alpha": "0.50", "solver": "lbfgs"}, "metrics": [{"key": "rmse", "value": 1.25, "step": 3}]}');
CREATE TABLE bundle_data AS SELECT g AS x FROM generate_series(1, 10) g;
SELECT mlops.log_input(:run, 'bundle_data') IS NOT NULL AS input_logged;
SELECT mlops.log_artifact(:run, 'model.json', convert_to(:'lr', 'UTF8')) IS NOT NULL AS artifact_logged;
SELECT mlops.end_run(:run);
SELECT mlops.register_model_version_from_run('quad', :run, 'model.json', 'four x plus one') AS v \gset
SELECT mlops.set_model_alias('quad', 'champion', :v);

SELECT mlops.export_model_version('quad@champion') AS bundle \gset
SELECT b -> 'format' AS format, b -> 'model' ->> 'name' AS model, b -> 'version' -> 'aliases' AS aliases,
       b -> 'version' ->> 'sha256' = encode(sha256(convert_to(:'lr', 'UTF8')), 'hex') AS checksum_is_artifacts,
       b -> 'run' -> 'params' AS params, b -> 'run' -> 'metrics' -> 0 ->> 'value' AS rmse,
       b -> 'run' -> 'inputs' -> 0 ->> 'row_count' AS input_rows
  FROM (SELECT :'bundle'::jsonb AS b) s;

-- import as another model (in another database it would be the same name)
SELECT mlops.import_model_version(:'bundle', 'quad_prod') AS imported \gset
SELECT model_name, version, stage, aliases, sha256 = (SELECT sha256 FROM mlops.model_versions v
        JOIN mlops.registered_models m USING (model_id) WHERE m.name = 'quad') AS same_checksum,
       description
  FROM mlops.model_versions_overview WHERE model_name = 'quad_prod';
SELECT mlops.predict('quad_prod:1', ARRAY[2]) AS "9";
-- the lineage came along: a finished run with the params, metrics, tags and inputs
SELECT r.run_name, r.status, r.params, r.metrics, r.tags ->> 'team' AS team,
       r.tags ->> 'mlops.imported_from_run' = :'run' AS from_source_run,
       (SELECT row_count FROM mlops.run_inputs i WHERE i.run_id = r.run_id) AS input_rows
  FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
  JOIN mlops.runs_overview r USING (run_id)
 WHERE m.name = 'quad_prod';
-- importing twice makes a second version with the same checksum
SELECT mlops.import_model_version(:'bundle', 'quad_prod') AS "2";

-- a tampered bundle is refused, and so is anything that is not a bundle
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{version,artifact}',
                                            to_jsonb(replace(:'lr', '[4]', '[5]'))), 'quad_prod');
SELECT mlops.import_model_version('{"format": "something else"}', 'quad_prod');
SELECT mlops.import_model_version('{"format": "mlops.bundle/v1"}', 'quad_prod');
SELECT mlops.import_model_version(NULL);
SELECT mlops.import_model_version(:'bundle', 'bad name!');
SELECT count(*) AS versions FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id)
 WHERE m.name = 'quad_prod';

-- what a bundle brings is checked as the public functions check it, and a
-- bad part stores nothing at all (no model, run, version or tag)
SELECT count(*) AS runs_before FROM mlops.runs \gset
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{run,inputs,0,digest}', '"forged"'), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{run,inputs,0,row_count}', '-5'), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{run,inputs,0,row_count}', '"ten"'), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{run,inputs,0,context}', '"bad\tcontext"'), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{run,inputs,0,dataset_name}', to_jsonb(repeat('d', 300))), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{version,tags}', jsonb_build_object('note', repeat('v', 9000))), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{version,tags}', '{"bad key!": "x"}'), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{model,tags}', '["not", "tags"]'), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{run,tags}', '{"bad key!": "x"}'), 'quad_checked');
SELECT mlops.import_model_version(jsonb_set(:'bundle'::jsonb, '{run,params}', jsonb_build_object('C', repeat('x', 7000))), 'quad_checked');
SELECT count(*) AS models FROM mlops.registered_models WHERE name = 'quad_checked';
SELECT count(*) - :runs_before AS new_runs FROM mlops.runs;
-- a writer imports, and is named as who did
SET ROLE mlops_writer;
SELECT mlops.import_model_version(:'bundle', 'quad_by_writer') AS "1";
RESET ROLE;
SELECT created_by FROM mlops.model_versions_overview WHERE model_name = 'quad_by_writer';
SET ROLE mlops_reader;
SELECT mlops.import_model_version(:'bundle', 'quad_by_reader');
RESET ROLE;
