-- bundles.sql: one self-contained document per model version, for moving a
-- model between databases and for backups.  SQL only.

--------------------------------------------------------------------------------
-- Bundles: one self-contained document per model version, for moving a model
-- from a staging database to production, and for backups.
--------------------------------------------------------------------------------

-- The bundle of a version: its artifact (whose SHA-256 the import checks),
-- signature, model and version metadata, and the lineage of the run it came
-- from (experiment, params, latest metrics, tags, dataset inputs).
CREATE FUNCTION mlops.export_model_version(model text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    vid bigint;
    v record;
    run jsonb;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'export_model_version');
    vid := (SELECT r.version_id FROM mlops._resolve_model(model) r);
    SELECT mv.*, m.name AS model_name, m.description AS model_description,
           (SELECT coalesce(jsonb_object_agg(t.key, t.value), '{}') FROM mlops.registered_model_tags t
             WHERE t.model_id = m.model_id) AS model_tags,
           (SELECT coalesce(jsonb_object_agg(t.key, t.value), '{}') FROM mlops.model_version_tags t
             WHERE t.version_id = mv.version_id) AS version_tags,
           (SELECT coalesce(jsonb_agg(a.alias ORDER BY a.alias), '[]') FROM mlops.model_aliases a
             WHERE a.version_id = mv.version_id) AS aliases
      INTO v
      FROM mlops.model_versions mv JOIN mlops.registered_models m USING (model_id)
     WHERE mv.version_id = vid;

    IF v.run_id IS NOT NULL THEN
        SELECT jsonb_build_object(
                 'experiment', e.name, 'run_id', r.run_id, 'run_name', r.run_name, 'status', r.status,
                 'start_time', r.start_time, 'end_time', r.end_time, 'created_by', r.created_by,
                 'params', coalesce((SELECT jsonb_object_agg(p.key, p.value) FROM mlops.params p
                                      WHERE p.run_id = r.run_id), '{}'),
                 'metrics', coalesce((SELECT jsonb_agg(jsonb_build_object('key', l.key, 'value', l.value,
                                                                          'step', l.step, 'timestamp', l.logged_at)
                                                       ORDER BY l.key)
                                        FROM mlops.latest_metrics l WHERE l.run_id = r.run_id), '[]'),
                 'tags', coalesce((SELECT jsonb_object_agg(t.key, t.value) FROM mlops.run_tags t
                                    WHERE t.run_id = r.run_id), '{}'),
                 'inputs', coalesce((SELECT jsonb_agg(jsonb_build_object('dataset_name', i.dataset_name,
                                                                         'relation_name', i.relation_name,
                                                                         'context', i.context,
                                                                         'row_count', i.row_count,
                                                                         'digest', i.digest)
                                                      ORDER BY i.input_id)
                                       FROM mlops.run_inputs i WHERE i.run_id = r.run_id), '[]'))
          INTO run
          FROM mlops.runs r JOIN mlops.experiments e USING (experiment_id)
         WHERE r.run_id = v.run_id;
    END IF;

    RETURN jsonb_build_object(
        'format', 'mlops.bundle/v1',
        'exported_at', clock_timestamp(),
        'source', jsonb_build_object('database', current_database(),
                                     'mlops', mlops.build_info() ->> 'mlops'),
        'model', jsonb_build_object('name', v.model_name, 'description', v.model_description,
                                    'tags', v.model_tags),
        'version', jsonb_build_object('version', v.version, 'description', v.description,
                                      'tags', v.version_tags, 'stage', v.stage, 'aliases', v.aliases,
                                      'format', v.format, 'task', v.task, 'family', v.family,
                                      'signature', v.signature, 'classes', v.classes,
                                      'created_by', v.created_by, 'created_at', v.created_at,
                                      'sha256', v.sha256, 'artifact', v.artifact),
        'run', run);
END
$$;

-- Import a bundle as a new version of a model (the bundle's model name by
-- default).  The artifact must hash to the bundle's SHA-256, so the version
-- keeps its checksum; it is compiled and checked like any registration.  The
-- source run comes along as a finished run of an experiment of the same name,
-- tagged with where it came from.  Stages and aliases are not imported: what
-- serves in a database is decided there.
CREATE FUNCTION mlops.import_model_version(bundle jsonb, model text DEFAULT NULL) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ver jsonb;
    run jsonb;
    artifact text;
    target text;
    new_run bigint;
    new_version int;
    input record;
    item record;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'import_model_version');
    IF bundle IS NULL THEN
        RAISE EXCEPTION 'bundle must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(bundle) <> 'object' OR bundle ->> 'format' IS DISTINCT FROM 'mlops.bundle/v1' THEN
        RAISE EXCEPTION 'not an mlops bundle' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Expected "format": "mlops.bundle/v1", found %s.', coalesce(bundle -> 'format', 'null'::jsonb)),
            HINT = 'mlops.export_model_version() makes bundles.';
    END IF;
    ver := bundle -> 'version';
    artifact := ver ->> 'artifact';
    IF jsonb_typeof(ver) IS DISTINCT FROM 'object' OR artifact IS NULL OR ver ->> 'sha256' IS NULL THEN
        RAISE EXCEPTION 'the bundle has no version artifact and checksum' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF encode(sha256(convert_to(artifact, 'UTF8')), 'hex') <> ver ->> 'sha256' THEN
        RAISE EXCEPTION 'the bundle''s artifact does not match its checksum'
            USING ERRCODE = 'data_corrupted',
                  DETAIL = format('The bundle says sha256 %s; the artifact hashes to %s.',
                                  ver ->> 'sha256', encode(sha256(convert_to(artifact, 'UTF8')), 'hex')),
                  HINT = 'The bundle was changed after export; export it again.';
    END IF;
    target := coalesce(model, bundle -> 'model' ->> 'name');
    PERFORM mlops._check_model_name('model name', target);

    -- a model new here takes the bundle's description and tags
    IF mlops._insert_model(target, bundle -> 'model' ->> 'description') IS NOT NULL THEN
        FOR item IN SELECT * FROM mlops._batch_items(coalesce(nullif(bundle -> 'model' -> 'tags', 'null'), '{}'),
                                                     'model.tags', ARRAY['key', 'value']) LOOP
            PERFORM mlops.set_registered_model_tag(target, item.key, mlops._json_value_text(item.value, item.path));
        END LOOP;
    END IF;

    run := bundle -> 'run';
    IF jsonb_typeof(run) = 'object' THEN
        PERFORM mlops.set_experiment(run ->> 'experiment');
        new_run := mlops.start_run(run ->> 'experiment', run ->> 'run_name',
                                   coalesce(run -> 'tags', '{}'::jsonb) || jsonb_build_object(
                                       'mlops.imported_from_database', bundle -> 'source' ->> 'database',
                                       'mlops.imported_from_run', run ->> 'run_id'));
        PERFORM mlops.log_batch(new_run, jsonb_build_object('params', coalesce(run -> 'params', '{}'::jsonb),
                                                            'metrics', coalesce(run -> 'metrics', '[]'::jsonb)));
        IF jsonb_typeof(coalesce(run -> 'inputs', '[]')) <> 'array' THEN
            RAISE EXCEPTION 'run.inputs of the bundle must be an array' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR input IN SELECT a.el, a.o - 1 AS idx
                       FROM jsonb_array_elements(coalesce(run -> 'inputs', '[]')) WITH ORDINALITY AS a(el, o) LOOP
            IF jsonb_typeof(input.el) <> 'object' OR jsonb_typeof(input.el -> 'row_count') <> 'number'
               OR (input.el ->> 'row_count')::numeric NOT BETWEEN 0 AND 9223372036854775807
               OR (input.el ->> 'row_count')::numeric <> trunc((input.el ->> 'row_count')::numeric) THEN
                RAISE EXCEPTION 'invalid input at run.inputs[%] of the bundle', input.idx
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = format('Found %s.', left(input.el::text, 200)),
                          HINT = 'Each input is an object with dataset_name, relation_name, context, '
                                 'row_count (a whole number of rows) and digest.';
            END IF;
            PERFORM mlops._record_input(new_run, input.el ->> 'dataset_name', input.el ->> 'relation_name',
                                        input.el ->> 'context', (input.el ->> 'row_count')::bigint,
                                        input.el ->> 'digest');
        END LOOP;
        PERFORM mlops.end_run(new_run, CASE WHEN run ->> 'status' IN ('FAILED', 'KILLED')
                                            THEN run ->> 'status' ELSE 'FINISHED' END);
    END IF;

    new_version := mlops.register_model_version(target, artifact, new_run, ver ->> 'description');
    FOR item IN SELECT * FROM mlops._batch_items(coalesce(nullif(ver -> 'tags', 'null'), '{}'), 'version.tags',
                                                 ARRAY['key', 'value']) LOOP
        PERFORM mlops.set_model_version_tag(target, new_version, item.key,
                                            mlops._json_value_text(item.value, item.path));
    END LOOP;
    RETURN new_version;
END
$$;

-- Privileges (see tracking.sql): public functions check the role inside.
CALL mlops._private_by_default();
GRANT EXECUTE ON FUNCTION mlops.export_model_version(text), mlops.import_model_version(jsonb, text) TO PUBLIC;
