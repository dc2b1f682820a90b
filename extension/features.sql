-- features.sql: feature views, Feast's concepts in SQL.  Entities name the
-- keys rows are joined on; a feature view is a source of timestamped feature
-- rows keyed by its entities; a feature service is an ordered list of
-- 'view:feature' references.  Training sets are point-in-time joins of an
-- entity source against feature views (build_training_set); the online path
-- keeps the latest row per entity in mlops_online and reads it back as jsonb
-- or as the float8[] predict takes.  C half: extension/features.c (the merge
-- engine of the point-in-time join).

-- The online tables (one per materialized view), written by materialize_online.
CREATE SCHEMA mlops_online;

CREATE TABLE mlops.entities (
    entity_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    join_keys   text[] NOT NULL,
    description text,
    created_by  name NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

CREATE TABLE mlops.feature_views (
    view_id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                     text NOT NULL UNIQUE,
    entities                 text[] NOT NULL,
    join_keys                text[] NOT NULL,
    key_types                text[] NOT NULL,
    source                   text NOT NULL,
    source_sql               text NOT NULL,
    timestamp_column         text NOT NULL,
    timestamp_type           text NOT NULL CHECK (timestamp_type IN ('timestamp with time zone',
                                                                    'timestamp without time zone')),
    created_timestamp_column text,
    ttl                      interval CHECK (ttl > interval '0'),
    features                 text[] NOT NULL,
    feature_types            text[] NOT NULL,
    description              text,
    tags                     jsonb NOT NULL DEFAULT '{}',
    created_by               name NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    -- the online table, once materialize_online has made it, and how far it got
    online_table             text,
    online_watermark         timestamptz,
    online_materialized_at   timestamptz,
    CHECK (cardinality(features) = cardinality(feature_types) AND cardinality(join_keys) = cardinality(key_types))
);

CREATE TABLE mlops.feature_services (
    service_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    features    text[] NOT NULL,
    description text,
    created_by  name NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

-- A column name as a definition takes it: not NULL, not empty, and short
-- enough to be a column (PostgreSQL would silently cut a longer one).
CREATE FUNCTION mlops._check_column_name(kind text, name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION '% must be a column name, not %', kind, coalesce('"' || name || '"', 'NULL')
            USING ERRCODE = 'invalid_name';
    END IF;
    IF octet_length(name) > 63 THEN
        RAISE EXCEPTION '% "%" is too long for a column name', kind, left(name, 80)
            USING ERRCODE = 'name_too_long', DETAIL = 'Column names have at most 63 bytes.';
    END IF;
    RETURN name;
END
$$;

-- The exact length of a ttl in microseconds: a ttl is a duration, so a day
-- is 86,400 seconds whatever the calendar does; months have no fixed length
-- and are refused.
CREATE FUNCTION mlops._ttl_microseconds(ttl interval) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ttl IS NULL THEN
        RETURN NULL;
    END IF;
    IF date_part('year', ttl) <> 0 OR date_part('month', ttl) <> 0 THEN
        RAISE EXCEPTION 'ttl % has months or years, which have no fixed length', ttl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the ttl in days, hours, minutes or seconds: a day is exactly 86,400 seconds.';
    END IF;
    IF ttl <= interval '0' THEN
        RAISE EXCEPTION 'ttl must be positive, not %', ttl USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN (extract(epoch FROM ttl) * 1000000)::bigint;
END
$$;

-- The ttl as SQL: an interval of microseconds only, which timestamp
-- arithmetic adds exactly (an interval of days would follow the calendar of
-- the session's time zone across a daylight-saving change).
CREATE FUNCTION mlops._ttl_sql(ttl interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('interval %L', mlops._ttl_microseconds(ttl) || ' microseconds');

-- A relation source as a schema-qualified name, as the invoking role sees it
-- under its search_path (so that a definition keeps naming that relation); a
-- query source as _source_sql gives it.
CREATE FUNCTION mlops._qualified_source(source text) RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    src text := mlops._source_sql(source);
    rel regclass;
BEGIN
    IF src LIKE '(%' THEN
        RETURN src;
    END IF;
    rel := pg_catalog.to_regclass(src);
    IF rel IS NULL THEN
        RAISE EXCEPTION 'relation "%" does not exist', source USING ERRCODE = 'undefined_table';
    END IF;
    RETURN (SELECT format('%I.%I', n.nspname, c.relname)
              FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = rel);
END
$$;

--------------------------------------------------------------------------------
-- Definitions
--------------------------------------------------------------------------------
CREATE FUNCTION mlops.create_entity(name text, join_keys text[], description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    k text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_entity');
    PERFORM mlops._check_model_name('entity name', name);
    IF join_keys IS NULL OR cardinality(join_keys) = 0 THEN
        RAISE EXCEPTION 'an entity has at least one join key' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH k IN ARRAY join_keys LOOP
        PERFORM mlops._check_column_name('join key', k);
    END LOOP;
    IF cardinality(join_keys) <> (SELECT count(DISTINCT x) FROM unnest(join_keys) x) THEN
        RAISE EXCEPTION 'entity "%" names a join key twice', name USING ERRCODE = 'duplicate_column';
    END IF;
    IF description IS NOT NULL THEN
        PERFORM mlops._check_label('entity description', description, 5000);
    END IF;
    INSERT INTO mlops.entities (name, join_keys, description, created_by)
    VALUES (name, join_keys, description, mlops._invoking_user())
    ON CONFLICT ON CONSTRAINT entities_name_key DO NOTHING
    RETURNING entity_id INTO id;
    IF id IS NULL THEN
        RAISE EXCEPTION 'entity "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM mlops._features_changed();
    RETURN id;
END
$$;

-- A source's columns as the invoking role sees them: name -> (position, type).
CREATE FUNCTION mlops._source_columns(source_sql text, search_path text) RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_object_agg(d.name, jsonb_build_object('position', d.position,
                                                                   'type', format_type(d.type_oid, NULL),
                                                                   'type_oid', d.type_oid)), '{}')
          FROM mlops._describe_source(source_sql, search_path) d);

CREATE FUNCTION mlops._create_feature_view(name text, entities text[], source text, source_sql text,
                                           timestamp_column text, features text[], ttl interval,
                                           created_timestamp_column text, description text, tags jsonb,
                                           search_path text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols jsonb;
    keys text[] := '{}';
    key_types text[] := '{}';
    feats text[] := '{}';
    feat_types text[] := '{}';
    ts_type text;
    e text;
    k text;
    f text;
    ent mlops.entities;
    id bigint;
    rel regclass;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_feature_view');
    PERFORM mlops._check_model_name('feature view name', name);
    -- its online table takes its name, and PostgreSQL would cut a longer one
    IF octet_length(name) > 63 THEN
        RAISE EXCEPTION 'feature view name "%" is too long', left(name, 80) USING ERRCODE = 'name_too_long',
            DETAIL = 'A feature view''s online table takes its name: at most 63 bytes.';
    END IF;
    -- what runs is the source as given, resolved by the caller's search_path
    -- (only the lookup runs under it: nothing else may resolve there)
    IF source_sql IS DISTINCT FROM mlops._source_sql(source) THEN
        IF mlops._source_sql(source) NOT LIKE '(%' THEN
            PERFORM pg_catalog.set_config('search_path', coalesce(search_path, ''), true);
            rel := pg_catalog.to_regclass(mlops._source_sql(source));
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        END IF;
        IF rel IS NULL OR source_sql IS DISTINCT FROM (SELECT format('%I.%I', n.nspname, c.relname)
                                                          FROM pg_catalog.pg_class c
                                                          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                                                         WHERE c.oid = rel) THEN
            RAISE EXCEPTION 'source_sql is not the source "%"', left(source, 200)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF entities IS NULL OR cardinality(entities) = 0 OR array_position(entities, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a feature view names at least one entity, and no NULLs' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mlops._check_column_name('timestamp column', timestamp_column);
    IF created_timestamp_column IS NOT NULL THEN
        PERFORM mlops._check_column_name('created timestamp column', created_timestamp_column);
        IF created_timestamp_column = timestamp_column THEN
            RAISE EXCEPTION 'the created timestamp column must not be the event timestamp column'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    PERFORM mlops._ttl_microseconds(ttl);
    IF description IS NOT NULL THEN
        PERFORM mlops._check_label('feature view description', description, 5000);
    END IF;
    IF tags IS NOT NULL AND (jsonb_typeof(tags) <> 'object'
                             OR EXISTS (SELECT FROM jsonb_each(tags) t WHERE jsonb_typeof(t.value) <> 'string')) THEN
        RAISE EXCEPTION 'tags must be a JSON object of strings' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOREACH e IN ARRAY entities LOOP
        SELECT * INTO ent FROM mlops.entities x WHERE x.name = e;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'entity "%" does not exist', e USING ERRCODE = 'undefined_object',
                HINT = 'Create it with mlops.create_entity(name, join_keys).';
        END IF;
        FOREACH k IN ARRAY ent.join_keys LOOP
            IF k = ANY (keys) THEN
                RAISE EXCEPTION 'join key "%" belongs to two of the view''s entities', k
                    USING ERRCODE = 'duplicate_column';
            END IF;
            keys := keys || k;
        END LOOP;
    END LOOP;
    IF cardinality(entities) <> (SELECT count(DISTINCT x) FROM unnest(entities) x) THEN
        RAISE EXCEPTION 'feature view "%" names an entity twice', name USING ERRCODE = 'duplicate_object';
    END IF;

    cols := mlops._source_columns(source_sql, search_path);
    FOREACH k IN ARRAY keys LOOP
        IF NOT cols ? k THEN
            RAISE EXCEPTION 'the source of feature view "%" has no column "%" (a join key of its entities)', name, k
                USING ERRCODE = 'undefined_column';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am a ON a.oid = o.opcmethod
                        WHERE a.amname = 'hash' AND o.opcdefault
                          AND o.opcintype = mlops._base_type((cols -> k ->> 'type_oid')::oid))
           OR NOT EXISTS (SELECT FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am a ON a.oid = o.opcmethod
                           WHERE a.amname = 'btree' AND o.opcdefault
                             AND o.opcintype = mlops._base_type((cols -> k ->> 'type_oid')::oid)) THEN
            RAISE EXCEPTION 'join key "%" is of type %, which cannot be a key', k, cols -> k ->> 'type'
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = 'Keys are compared for equality and hashed: their type needs default btree and hash operator classes.';
        END IF;
        key_types := key_types || (cols -> k ->> 'type');
    END LOOP;
    IF NOT cols ? timestamp_column THEN
        RAISE EXCEPTION 'the source of feature view "%" has no column "%"', name, timestamp_column
            USING ERRCODE = 'undefined_column';
    END IF;
    ts_type := cols -> timestamp_column ->> 'type';
    IF ts_type NOT IN ('timestamp with time zone', 'timestamp without time zone') THEN
        RAISE EXCEPTION 'timestamp column "%" is of type %', timestamp_column, ts_type
            USING ERRCODE = 'datatype_mismatch', HINT = 'Event timestamps are timestamptz or timestamp; cast in a query source.';
    END IF;
    IF created_timestamp_column IS NOT NULL THEN
        IF NOT cols ? created_timestamp_column THEN
            RAISE EXCEPTION 'the source of feature view "%" has no column "%"', name, created_timestamp_column
                USING ERRCODE = 'undefined_column';
        END IF;
        IF cols -> created_timestamp_column ->> 'type' NOT IN ('timestamp with time zone', 'timestamp without time zone') THEN
            RAISE EXCEPTION 'created timestamp column "%" is of type %', created_timestamp_column,
                            cols -> created_timestamp_column ->> 'type'
                USING ERRCODE = 'datatype_mismatch', HINT = 'Created timestamps are timestamptz or timestamp.';
        END IF;
    END IF;
    IF features IS NULL THEN
        features := ARRAY(SELECT c.key FROM jsonb_each(cols) c
                           WHERE NOT c.key = ANY (keys) AND c.key <> timestamp_column
                             AND c.key IS DISTINCT FROM created_timestamp_column
                           ORDER BY (c.value ->> 'position')::int);
    END IF;
    IF cardinality(features) = 0 THEN
        RAISE EXCEPTION 'feature view "%" has no features', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Its source needs a column besides the join keys and timestamps.';
    END IF;
    FOREACH f IN ARRAY features LOOP
        PERFORM mlops._check_column_name('feature', f);
        IF NOT cols ? f THEN
            RAISE EXCEPTION 'the source of feature view "%" has no column "%"', name, f USING ERRCODE = 'undefined_column';
        END IF;
        IF f = ANY (keys) OR f = timestamp_column OR f = created_timestamp_column THEN
            RAISE EXCEPTION 'column "%" is a key or timestamp of feature view "%", not a feature', f, name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF f = ANY (feats) THEN
            RAISE EXCEPTION 'feature view "%" lists feature "%" twice', name, f USING ERRCODE = 'duplicate_column';
        END IF;
        feats := feats || f;
        feat_types := feat_types || (cols -> f ->> 'type');
    END LOOP;

    INSERT INTO mlops.feature_views (name, entities, join_keys, key_types, source, source_sql, timestamp_column,
                                     timestamp_type, created_timestamp_column, ttl, features, feature_types,
                                     description, tags, created_by)
    VALUES (name, entities, keys, key_types, source, source_sql, timestamp_column, ts_type,
            created_timestamp_column, ttl, feats, feat_types, description, coalesce(tags, '{}'),
            mlops._invoking_user())
    ON CONFLICT ON CONSTRAINT feature_views_name_key DO NOTHING
    RETURNING view_id INTO id;
    IF id IS NULL THEN
        RAISE EXCEPTION 'feature view "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM mlops._features_changed();
    RETURN id;
END
$$;

-- A domain's base type (keys over a domain hash as their base type).
CREATE FUNCTION mlops._base_type(type_oid oid) RETURNS oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
                   FROM pg_catalog.pg_type t WHERE t.oid = type_oid), type_oid);

CREATE FUNCTION mlops.create_feature_view(name text, entities text[], source text, timestamp_column text,
                                          features text[] DEFAULT NULL, ttl interval DEFAULT NULL,
                                          created_timestamp_column text DEFAULT NULL,
                                          description text DEFAULT NULL, tags jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_feature_view');
    RETURN mlops._create_feature_view(name, entities, source, mlops._qualified_source(source), timestamp_column,
                                      features, ttl, created_timestamp_column, description, tags,
                                      pg_catalog.current_setting('search_path'));
END
$$;

-- A 'view:feature' reference, split and checked against the definitions.
CREATE FUNCTION mlops._feature_ref(ref text, OUT view_name text, OUT feature text, OUT feature_type text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
    i int;
BEGIN
    IF ref IS NULL OR position(':' IN ref) = 0 THEN
        RAISE EXCEPTION 'feature reference % is not of the form ''view:feature''', coalesce('"' || left(ref, 200) || '"', 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    view_name := split_part(ref, ':', 1);
    feature := substr(ref, length(view_name) + 2);
    SELECT * INTO v FROM mlops.feature_views x WHERE x.name = view_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', left(view_name, 200) USING ERRCODE = 'undefined_object';
    END IF;
    i := array_position(v.features, feature);
    IF i IS NULL THEN
        RAISE EXCEPTION 'feature view "%" has no feature "%"', view_name, left(feature, 200)
            USING ERRCODE = 'undefined_column',
                  DETAIL = format('Its features are %s.', array_to_string(v.features, ', '));
    END IF;
    feature_type := v.feature_types[i];
END
$$;

CREATE FUNCTION mlops.create_feature_service(name text, features text[], description text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'create_feature_service');
    PERFORM mlops._check_model_name('feature service name', name);
    IF features IS NULL OR cardinality(features) = 0 THEN
        RAISE EXCEPTION 'a feature service lists at least one feature' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mlops._feature_ref(f) FROM unnest(features) f;
    IF cardinality(features) <> (SELECT count(DISTINCT f) FROM unnest(features) f) THEN
        RAISE EXCEPTION 'feature service "%" lists a feature twice', name USING ERRCODE = 'duplicate_column';
    END IF;
    IF description IS NOT NULL THEN
        PERFORM mlops._check_label('feature service description', description, 5000);
    END IF;
    INSERT INTO mlops.feature_services (name, features, description, created_by)
    VALUES (name, features, description, mlops._invoking_user())
    ON CONFLICT ON CONSTRAINT feature_services_name_key DO NOTHING
    RETURNING service_id INTO id;
    IF id IS NULL THEN
        RAISE EXCEPTION 'feature service "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM mlops._features_changed();
    RETURN id;
END
$$;

-- Drops: by the role that created the definition (or an admin), and never
-- from under a definition that uses it.
CREATE FUNCTION mlops._may_drop(kind text, name text, owner name) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF owner <> mlops._invoking_user()
       AND NOT pg_catalog.pg_has_role(mlops._invoking_user(), 'mlops_admin', 'USAGE') THEN
        RAISE EXCEPTION '% "%" belongs to role %', kind, name, owner USING ERRCODE = 'insufficient_privilege',
            HINT = 'Only the role that created it, or an mlops_admin, drops it.';
    END IF;
END
$$;

CREATE FUNCTION mlops.drop_feature_service(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s mlops.feature_services;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_feature_service');
    SELECT * INTO s FROM mlops.feature_services x WHERE x.name = drop_feature_service.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature service "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._may_drop('feature service', s.name, s.created_by);
    DELETE FROM mlops.feature_services x WHERE x.service_id = s.service_id;
    PERFORM mlops._features_changed();
END
$$;

CREATE FUNCTION mlops.drop_feature_view(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
    users text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_feature_view');
    SELECT * INTO v FROM mlops.feature_views x WHERE x.name = drop_feature_view.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._may_drop('feature view', v.name, v.created_by);
    SELECT string_agg(format('"%s"', s.name), ', ' ORDER BY s.name) INTO users
      FROM mlops.feature_services s
     WHERE EXISTS (SELECT FROM unnest(s.features) f WHERE split_part(f, ':', 1) = v.name);
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'feature view "%" is used by feature services %', v.name, users
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those services first.';
    END IF;
    IF EXISTS (SELECT FROM mlops.schedules s WHERE s.kind = 'materialize_online' AND s.spec ->> 'view' = v.name) THEN
        RAISE EXCEPTION 'feature view "%" is materialized on a schedule', v.name
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop the schedule first (mlops.drop_schedule).';
    END IF;
    IF v.online_table IS NOT NULL THEN
        EXECUTE format('DROP TABLE IF EXISTS %s', v.online_table);
    END IF;
    DELETE FROM mlops.feature_views x WHERE x.view_id = v.view_id;
    PERFORM mlops._features_changed();
END
$$;

CREATE FUNCTION mlops.drop_entity(name text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e mlops.entities;
    users text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'drop_entity');
    SELECT * INTO e FROM mlops.entities x WHERE x.name = drop_entity.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'entity "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM mlops._may_drop('entity', e.name, e.created_by);
    SELECT string_agg(format('"%s"', v.name), ', ' ORDER BY v.name) INTO users
      FROM mlops.feature_views v WHERE e.name = ANY (v.entities);
    IF users IS NOT NULL THEN
        RAISE EXCEPTION 'entity "%" is used by feature views %', e.name, users
            USING ERRCODE = 'dependent_objects_still_exist', HINT = 'Drop those views first.';
    END IF;
    DELETE FROM mlops.entities x WHERE x.entity_id = e.entity_id;
    PERFORM mlops._features_changed();
END
$$;

-- Tell every backend's online cache (features.c) that definitions changed.
CREATE FUNCTION mlops._features_changed() RETURNS void
    AS 'MODULE_PATHNAME', 'mlops_features_changed' LANGUAGE C VOLATILE;

--------------------------------------------------------------------------------
-- Use-time checks: a definition against its source as it is now
--------------------------------------------------------------------------------
CREATE FUNCTION mlops._feature_view(name text) RETURNS mlops.feature_views
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
BEGIN
    SELECT * INTO v FROM mlops.feature_views x WHERE x.name = _feature_view.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', coalesce(left(name, 200), 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN v;
END
$$;

-- The source must still have every column the view was defined with, of the
-- same type: a clear error naming what moved, rather than wrong features.
CREATE FUNCTION mlops._check_view_source(v mlops.feature_views, search_path text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols jsonb;
    c record;
BEGIN
    BEGIN
        cols := mlops._source_columns(v.source_sql, search_path);
    EXCEPTION WHEN undefined_table OR undefined_column OR undefined_function OR syntax_error THEN
        RAISE EXCEPTION 'the source of feature view "%" no longer runs: %', v.name, SQLERRM
            USING ERRCODE = SQLSTATE, DETAIL = format('Its source is %s.', left(v.source, 500));
    END;
    FOR c IN SELECT * FROM unnest(v.join_keys || v.timestamp_column || v.created_timestamp_column || v.features,
                                  v.key_types || v.timestamp_type
                                      || CASE WHEN v.created_timestamp_column IS NULL THEN NULL::text
                                              ELSE '?' END || v.feature_types) AS u(col, typ)
              WHERE u.col IS NOT NULL LOOP
        IF NOT cols ? c.col THEN
            RAISE EXCEPTION 'feature view "%" no longer matches its source', v.name
                USING ERRCODE = 'undefined_column',
                      DETAIL = format('Column "%s" is gone from %s.', c.col, left(v.source, 500)),
                      HINT = 'Restore the column, or drop and re-create the view.';
        END IF;
        IF c.typ <> '?' AND cols -> c.col ->> 'type' <> c.typ THEN
            RAISE EXCEPTION 'feature view "%" no longer matches its source', v.name
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = format('Column "%s" was %s and is now %s.', c.col, c.typ, cols -> c.col ->> 'type'),
                      HINT = 'Restore the type, or drop and re-create the view.';
        END IF;
    END LOOP;
END
$$;

-- The features a list names: 'view:feature' references, or one feature
-- service's name; in order, with the name each takes in a training set.
CREATE FUNCTION mlops._requested_features(features text[], full_feature_names boolean)
RETURNS TABLE (ord int, view_name text, feature text, feature_type text, out_name text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    refs text[] := features;
    svc mlops.feature_services;
BEGIN
    IF features IS NULL OR cardinality(features) = 0 OR array_position(features, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'features lists ''view:feature'' references or names a feature service (no NULLs)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(features) = 1 AND position(':' IN features[1]) = 0 THEN
        SELECT * INTO svc FROM mlops.feature_services s WHERE s.name = _requested_features.features[1];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'feature service "%" does not exist', left(features[1], 200)
                USING ERRCODE = 'undefined_object',
                      HINT = 'features is a feature service''s name or a list of ''view:feature'' references.';
        END IF;
        refs := svc.features;
    END IF;
    RETURN QUERY
    SELECT u.o::int, r.view_name, r.feature, r.feature_type,
           CASE WHEN full_feature_names THEN r.view_name || '__' || r.feature ELSE r.feature END
      FROM unnest(refs) WITH ORDINALITY AS u(ref, o), LATERAL mlops._feature_ref(u.ref) r
     ORDER BY u.o;
END
$$;

-- Whether a feature service feeds a model version: NULL when its features
-- are the signature's, by name, in order, and of fitting kinds (a numeric
-- feature from a column that casts to float8; a categorical one from a text,
-- boolean or enum column, or an integer column holding the category's
-- 0-based index, which is how float8[] input carries it); else what differs.
CREATE FUNCTION mlops.feature_service_problem(service text, model text) RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    sig jsonb;
    feats record;
    n_sig int;
    n_svc int;
    i int := 0;
    f jsonb;
    kind text;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'feature_service_problem');
    IF NOT EXISTS (SELECT FROM mlops.feature_services s WHERE s.name = service) THEN
        RAISE EXCEPTION 'feature service "%" does not exist', coalesce(left(service, 200), 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    SELECT v.signature INTO sig FROM mlops.model_versions v
     WHERE v.version_id = (SELECT r.version_id FROM mlops._resolve_model(model) r);
    n_sig := jsonb_array_length(sig);
    SELECT count(*) INTO n_svc FROM mlops._requested_features(ARRAY[service], false);
    IF n_sig <> n_svc THEN
        RETURN format('the service has %s features and the model %s', n_svc, n_sig);
    END IF;
    FOR feats IN SELECT * FROM mlops._requested_features(ARRAY[service], false) r ORDER BY r.ord LOOP
        i := i + 1;
        f := sig -> (i - 1);
        IF f ->> 'name' IS DISTINCT FROM feats.feature THEN
            RETURN format('feature %s is "%s" in the service and "%s" in the model', i, feats.feature, f ->> 'name');
        END IF;
        kind := f ->> 'type';
        IF kind = 'numeric' AND NOT (feats.feature_type = 'double precision' OR EXISTS (
                SELECT FROM pg_catalog.pg_cast c WHERE c.castsource = feats.feature_type::regtype
                   AND c.casttarget = 'float8'::regtype)) THEN
            RETURN format('feature "%s" is numeric in the model and %s in the service', feats.feature, feats.feature_type);
        END IF;
        IF kind = 'categorical' AND NOT (feats.feature_type IN ('text', 'character varying', 'character', 'boolean',
                                                                   'smallint', 'integer', 'bigint')
                                         OR (SELECT t.typtype = 'e' FROM pg_catalog.pg_type t
                                              WHERE t.oid = feats.feature_type::regtype)) THEN
            RETURN format('feature "%s" is categorical in the model and %s in the service', feats.feature,
                          feats.feature_type);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

--------------------------------------------------------------------------------
-- Training sets: the point-in-time join
--------------------------------------------------------------------------------
-- ORDER BY terms that put a view's best row first for an entity row: the
-- latest event, then the latest created timestamp, then the greatest values,
-- so that ties always resolve the same way (features.c orders the same).
-- Where this is used the event timestamp is never NULL, so it sorts plain
-- DESC: the order a backward scan of an index on (keys, timestamp) gives,
-- which leaves only the ties to sort.
CREATE FUNCTION mlops._tie_order(v mlops.feature_views, alias text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(format('%s.%I DESC%s', alias, c, CASE WHEN o > 1 THEN ' NULLS LAST' ELSE '' END), ', '
                          ORDER BY o)
          FROM unnest(ARRAY[v.timestamp_column, v.created_timestamp_column] || v.features) WITH ORDINALITY AS u(c, o)
         WHERE c IS NOT NULL);

CREATE FUNCTION mlops.training_set_query(entity_source text, features text[],
                                         event_timestamp_column text DEFAULT 'event_timestamp',
                                         full_feature_names boolean DEFAULT false, engine text DEFAULT 'merge')
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    sp text := pg_catalog.current_setting('search_path');
    src text;
    ecols text[];
    etypes text[];
    req_views text[];
    req_feats text[];
    req_outs text[];
    views text[];
    vname text;
    v mlops.feature_views;
    k text;
    dup text;
    joins text := '';
    cur_sql text;
    cur_cols text[];
    cur_types text[];
    view_feats text[];
    new_cols text[];
    view_specs jsonb := '[]';
    n int := 0;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'training_set_query');
    IF engine IS NULL OR engine NOT IN ('merge', 'lateral') THEN
        RAISE EXCEPTION 'engine is ''merge'' or ''lateral'', not %', coalesce(quote_literal(engine), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM mlops._check_column_name('event timestamp column', event_timestamp_column);
    full_feature_names := coalesce(full_feature_names, false);
    src := mlops._source_sql(entity_source);
    SELECT array_agg(d.name ORDER BY d.position), array_agg(format_type(d.type_oid, NULL) ORDER BY d.position)
      INTO ecols, etypes
      FROM mlops._describe_source(src, sp) d;
    SELECT x INTO dup FROM unnest(ecols) x GROUP BY x HAVING count(*) > 1 LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'the entity source has two columns named "%"', dup USING ERRCODE = 'duplicate_column';
    END IF;
    IF array_position(ecols, event_timestamp_column) IS NULL THEN
        RAISE EXCEPTION 'the entity source has no column "%"', event_timestamp_column
            USING ERRCODE = 'undefined_column',
                  HINT = 'Name the column holding each row''s time in event_timestamp_column.';
    END IF;
    IF etypes[array_position(ecols, event_timestamp_column)]
           NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
        RAISE EXCEPTION 'event timestamp column "%" is of type %', event_timestamp_column,
                        etypes[array_position(ecols, event_timestamp_column)]
            USING ERRCODE = 'datatype_mismatch', HINT = 'Entity event times are timestamptz, timestamp or date.';
    END IF;

    -- the features asked for, the views they come from (in first-use order),
    -- and the output's column names, which must all differ
    SELECT array_agg(r.view_name ORDER BY r.ord), array_agg(r.feature ORDER BY r.ord),
           array_agg(r.out_name ORDER BY r.ord)
      INTO req_views, req_feats, req_outs
      FROM mlops._requested_features(features, full_feature_names) r;
    SELECT x INTO dup
      FROM unnest(ecols || req_outs) x
     GROUP BY x HAVING count(*) > 1 LIMIT 1;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'the training set would have two columns named "%"', dup USING ERRCODE = 'duplicate_column',
            HINT = CASE WHEN full_feature_names THEN 'Rename the entity source''s column.'
                        ELSE 'Ask for view__feature names with full_feature_names => true, or rename the column.' END;
    END IF;
    views := ARRAY(SELECT r.view_name FROM unnest(req_views) WITH ORDINALITY AS r(view_name, ord)
                   GROUP BY r.view_name ORDER BY min(r.ord));
    FOREACH vname IN ARRAY views LOOP
        v := mlops._feature_view(vname);
        PERFORM mlops._check_view_source(v, sp);
        FOREACH k IN ARRAY v.join_keys LOOP
            IF array_position(ecols, k) IS NULL THEN
                RAISE EXCEPTION 'the entity source has no column "%" (a join key of feature view "%")', k, v.name
                    USING ERRCODE = 'undefined_column';
            END IF;
        END LOOP;
    END LOOP;

    IF engine = 'lateral' THEN
        -- one LATERAL subquery per view: its best row at the entity row's time
        FOREACH vname IN ARRAY views LOOP
            n := n + 1;
            v := mlops._feature_view(vname);
            joins := joins || format(E'
  LEFT JOIN LATERAL (SELECT %s
       FROM %s v
      WHERE %s
        AND v.%I <= e.%I::%s%s
      ORDER BY %s
      LIMIT 1) f%s ON true',
                (SELECT string_agg(format('v.%I', r.feature), ', ' ORDER BY r.ord)
                   FROM unnest(req_views, req_feats) WITH ORDINALITY AS r(view_name, feature, ord) WHERE r.view_name = vname),
                v.source_sql,
                (SELECT string_agg(format('v.%I = e.%I::%s', u.k, u.k, u.t), ' AND ' ORDER BY u.o)
                   FROM unnest(v.join_keys, v.key_types) WITH ORDINALITY AS u(k, t, o)),
                v.timestamp_column, event_timestamp_column, v.timestamp_type,
                CASE WHEN v.ttl IS NULL THEN ''
                     ELSE format(E'
        AND v.%I >= e.%I::%s - %s', v.timestamp_column, event_timestamp_column,
                                 v.timestamp_type, mlops._ttl_sql(v.ttl)) END,
                mlops._tie_order(v, 'v'), n);
        END LOOP;
        RETURN format(E'SELECT %s%s
  FROM %s e%s',
            (SELECT string_agg(format('e.%I', c), ', ' ORDER BY o) FROM unnest(ecols) WITH ORDINALITY AS u(c, o)),
            (SELECT string_agg(format(', f%s.%I AS %I', array_position(views, r.view_name), r.feature, r.out_name),
                               '' ORDER BY r.ord)
               FROM unnest(req_views, req_feats, req_outs) WITH ORDINALITY AS r(view_name, feature, out_name, ord)),
            src, joins);
    END IF;

    -- merge: one call of the engine for every view, returning the entity
    -- rows followed by each view's features (named "mlops:<view>.<i>" inside
    -- the query); the outer SELECT puts the features in the order asked.
    cur_cols := ecols;
    cur_types := etypes;
    FOREACH vname IN ARRAY views LOOP
        n := n + 1;
        v := mlops._feature_view(vname);
        view_feats := ARRAY(SELECT r.feature FROM unnest(req_views, req_feats) WITH ORDINALITY AS r(view_name, feature, ord)
                             WHERE r.view_name = vname ORDER BY r.ord);
        new_cols := ARRAY(SELECT format('mlops:%s.%s', n, i) FROM generate_series(1, cardinality(view_feats)) i);
        cur_types := cur_types || ARRAY(SELECT v.feature_types[array_position(v.features, f)]
                                          FROM unnest(view_feats) WITH ORDINALITY AS u(f, o) ORDER BY o);
        cur_cols := cur_cols || new_cols;
        view_specs := view_specs || jsonb_build_object(
            'join_keys', v.join_keys, 'key_types', v.key_types, 'view_sql', v.source_sql,
            'timestamp_column', v.timestamp_column, 'timestamp_type', v.timestamp_type,
            'created_timestamp_column', v.created_timestamp_column, 'view_features', v.features,
            'features', view_feats, 'ttl_microseconds', mlops._ttl_microseconds(v.ttl));
    END LOOP;
    cur_sql := format(E'SELECT * FROM mlops.point_in_time_join(%L, %L, %L)\n  AS f(%s)',
        format('SELECT * FROM %s e', src), event_timestamp_column, view_specs,
        (SELECT string_agg(format('%I %s', c, t), ', ' ORDER BY o)
           FROM unnest(cur_cols, cur_types) WITH ORDINALITY AS u(c, t, o)));
    RETURN format(E'SELECT %s%s
  FROM (%s) t',
        (SELECT string_agg(format('t.%I', c), ', ' ORDER BY o) FROM unnest(ecols) WITH ORDINALITY AS u(c, o)),
        (SELECT string_agg(format(', t.%I AS %I', format('mlops:%s.%s', array_position(views, r.view_name),
                                                        (SELECT count(*) FROM unnest(req_views) WITH ORDINALITY AS r2(view_name, ord)
                                                          WHERE r2.view_name = r.view_name AND r2.ord <= r.ord)),
                                  r.out_name), '' ORDER BY r.ord)
           FROM unnest(req_views, req_outs) WITH ORDINALITY AS r(view_name, out_name, ord)),
        cur_sql);
END
$$;

CREATE FUNCTION mlops.build_training_set(target text, entity_source text, features text[], run_id bigint DEFAULT NULL,
                                         event_timestamp_column text DEFAULT 'event_timestamp',
                                         full_feature_names boolean DEFAULT false, engine text DEFAULT 'merge')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    q text;
    tgt text;
    n bigint;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'build_training_set');
    IF target IS NULL THEN
        RAISE EXCEPTION 'target must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    tgt := mlops._source_sql(target);
    IF tgt LIKE '(%' THEN
        RAISE EXCEPTION 'target "%" is not a table name', left(target, 200) USING ERRCODE = 'invalid_name';
    END IF;
    IF pg_catalog.to_regclass(tgt) IS NOT NULL THEN
        RAISE EXCEPTION 'relation "%" already exists', target USING ERRCODE = 'duplicate_table',
            HINT = 'A training set goes into a new table: drop it or choose another name.';
    END IF;
    q := mlops.training_set_query(entity_source, features, event_timestamp_column, full_feature_names, engine);
    EXECUTE format('CREATE TABLE %s AS %s', tgt, q);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF run_id IS NOT NULL THEN
        PERFORM mlops.log_input(run_id, tgt::regclass, 'training', target);
    END IF;
    RETURN n;
END
$$;

-- The merge engine (features.c): the rows of entity_sql, each followed by
-- one view's features at its event time.
CREATE FUNCTION mlops.point_in_time_join(entity_sql text, event_timestamp_column text, join_keys text[],
                                         key_types text[], view_sql text, timestamp_column text,
                                         timestamp_type text, created_timestamp_column text,
                                         view_features text[], features text[], ttl_microseconds bigint)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mlops_point_in_time_join' LANGUAGE C VOLATILE;

-- The same for several views in one pass over the entity rows: views is a
-- JSON array of objects with the arguments above as members.
CREATE FUNCTION mlops.point_in_time_join(entity_sql text, event_timestamp_column text, views jsonb)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mlops_point_in_time_join_views' LANGUAGE C VOLATILE;

--------------------------------------------------------------------------------
-- Online features: the latest row per entity, kept in mlops_online
--------------------------------------------------------------------------------
-- "Row n beats row o" for a view, as SQL: a later event; then a later
-- created timestamp (a NULL loses); then greater feature values (a NULL
-- loses) -- the same order as the training-set join, so that the online
-- value of a key is the row a training set would take at the same time.
CREATE FUNCTION mlops._beats_sql(v mlops.feature_views, n text, o text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text[] := ARRAY[v.timestamp_column];
    types text[] := ARRAY[v.timestamp_type];
    expr text := 'false';
    i int;
BEGIN
    IF v.created_timestamp_column IS NOT NULL THEN
        cols := cols || v.created_timestamp_column;
        types := types || 'timestamp'::text;
    END IF;
    cols := cols || v.features;
    types := types || v.feature_types;
    -- from the last column to the first: gt(c) OR (c equal AND <the rest>)
    FOR i IN REVERSE cardinality(cols) .. 1 LOOP
        -- a type without an ordering does not break ties (as in features.c)
        CONTINUE WHEN i > 1 AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_am a ON a.oid = oc.opcmethod
             WHERE a.amname = 'btree' AND oc.opcdefault
               AND oc.opcintype = mlops._base_type(types[i]::regtype));
        expr := format('(%1$s.%3$I IS NOT NULL AND (%2$s.%3$I IS NULL OR %1$s.%3$I > %2$s.%3$I)) '
                       'OR (%1$s.%3$I IS NOT DISTINCT FROM %2$s.%3$I AND (%4$s))', n, o, cols[i], expr);
    END LOOP;
    RETURN expr;
END
$$;

-- The online table of a view, made by its owner's first materialization:
-- the view's keys (its primary key), features and timestamps, and when each
-- row was written.  Readers read it; its owner writes it.
CREATE FUNCTION mlops._online_table(view_name text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
    tbl text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'materialize_online');
    SELECT * INTO v FROM mlops.feature_views x WHERE x.name = view_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" does not exist', view_name USING ERRCODE = 'undefined_object';
    END IF;
    IF v.created_by <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'feature view "%" belongs to role %', v.name, v.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A view is materialized by the role that created it, reading its source as that role.';
    END IF;
    IF v.online_table IS NOT NULL THEN
        RETURN v.online_table;
    END IF;
    IF 'mlops_materialized_at' = ANY (v.join_keys || v.features) THEN
        RAISE EXCEPTION 'feature view "%" has a column named mlops_materialized_at', v.name
            USING ERRCODE = 'duplicate_column', DETAIL = 'The online table keeps that name for itself.';
    END IF;
    tbl := format('mlops_online.%I', v.name);
    EXECUTE format('CREATE TABLE %s (%s, %s, %I %s NOT NULL%s, mlops_materialized_at timestamptz NOT NULL, PRIMARY KEY (%s))',
        tbl,
        (SELECT string_agg(format('%I %s NOT NULL', k, t), ', ' ORDER BY o)
           FROM unnest(v.join_keys, v.key_types) WITH ORDINALITY AS u(k, t, o)),
        (SELECT string_agg(format('%I %s', f, t), ', ' ORDER BY o)
           FROM unnest(v.features, v.feature_types) WITH ORDINALITY AS u(f, t, o)),
        v.timestamp_column, v.timestamp_type,
        CASE WHEN v.created_timestamp_column IS NULL THEN ''
             ELSE format(', %I timestamptz', v.created_timestamp_column) END,
        (SELECT string_agg(format('%I', k), ', ' ORDER BY o) FROM unnest(v.join_keys) WITH ORDINALITY AS u(k, o)));
    EXECUTE format('GRANT SELECT ON %s TO mlops_reader', tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON %s TO %I', tbl, v.created_by);
    UPDATE mlops.feature_views x SET online_table = tbl WHERE x.view_id = v.view_id;
    PERFORM mlops._features_changed();
    RETURN tbl;
END
$$;

-- Record how far a materialization got: the watermark only moves forward.
CREATE FUNCTION mlops._online_advance(view_name text, watermark timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'materialize_online');
    IF NOT isfinite(watermark) THEN
        RAISE EXCEPTION 'a watermark is a finite time, not %', watermark USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE mlops.feature_views x
       SET online_watermark = CASE WHEN watermark IS NULL THEN x.online_watermark
                                   ELSE greatest(x.online_watermark, watermark) END,
           online_materialized_at = pg_catalog.clock_timestamp()
     WHERE x.name = view_name AND x.created_by = mlops._invoking_user();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'feature view "%" is not one of this role''s', view_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

-- One materialization, as a job run (the schedule's, when pg_cron runs it).
-- The source is read as the view's owner, from the watermark on (rows whose
-- created timestamp -- or, without one, event timestamp -- is at or after
-- it), or all of it with full_refresh; the latest row of each key in that read is
-- upserted, and replaces what the online table has only if it beats it, so
-- that a row arriving late never regresses a newer value.
CREATE PROCEDURE mlops._materialize_online(view_name text, full_refresh boolean, job_name text, schedule_id bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    v mlops.feature_views;
    sp text := pg_catalog.current_setting('search_path');
    tbl text;
    run record;
    wm_col text;
    cols text[];
    keys text;
    q text;
    rows_in bigint;
    rows_up bigint;
    new_wm timestamptz;
    err_state text;
    err_message text;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'materialize_online');
    v := mlops._feature_view(view_name);
    IF v.created_by <> current_user THEN
        RAISE EXCEPTION 'feature view "%" belongs to role %', v.name, v.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A view is materialized by the role that created it, reading its source as that role.';
    END IF;
    tbl := mlops._online_table(v.name);
    run := mlops._job_run_start(coalesce(job_name, 'materialize_online:' || v.name), 'materialize_online',
                                schedule_id, NULL, v.source, tbl, NULL);
    COMMIT;
    BEGIN
        v := mlops._feature_view(view_name);
        PERFORM mlops._check_view_source(v, sp);
        -- timestamps without a time zone are read, and the watermark kept, in UTC
        PERFORM pg_catalog.set_config('TimeZone', 'UTC', true);
        wm_col := coalesce(v.created_timestamp_column, v.timestamp_column);
        cols := array_remove(v.join_keys || v.features || v.timestamp_column || v.created_timestamp_column, NULL);
        keys := (SELECT string_agg(format('%I', k), ', ' ORDER BY o) FROM unnest(v.join_keys) WITH ORDINALITY AS u(k, o));
        q := format(
            'WITH batch AS MATERIALIZED (SELECT %1$s FROM %2$s v WHERE %3$s AND v.%4$I IS NOT NULL%5$s), '
            'latest AS (SELECT DISTINCT ON (%6$s) * FROM batch ORDER BY %6$s, %7$s), '
            'up AS (INSERT INTO %8$s AS o (%9$s, mlops_materialized_at) SELECT %9$s, pg_catalog.clock_timestamp() FROM latest '
            '       ON CONFLICT (%6$s) DO UPDATE SET %10$s, mlops_materialized_at = excluded.mlops_materialized_at '
            '       WHERE %11$s RETURNING 1) '
            'SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM up), (SELECT max(%12$I)::timestamptz FROM batch WHERE isfinite(%12$I))',
            (SELECT string_agg(format('v.%I', c), ', ' ORDER BY o) FROM unnest(cols) WITH ORDINALITY AS u(c, o)),
            v.source_sql,
            (SELECT string_agg(format('v.%I IS NOT NULL', k), ' AND ') FROM unnest(v.join_keys) k),
            v.timestamp_column,
            CASE WHEN full_refresh OR v.online_watermark IS NULL THEN ''
                 ELSE format(' AND v.%I >= %L::timestamptz', wm_col, v.online_watermark) END,
            keys,
            mlops._tie_order(v, 'batch'),
            tbl,
            (SELECT string_agg(format('%I', c), ', ' ORDER BY o) FROM unnest(cols) WITH ORDINALITY AS u(c, o)),
            (SELECT string_agg(format('%1$I = excluded.%1$I', c), ', ' ORDER BY o)
               FROM unnest(array_remove(v.features || v.timestamp_column || v.created_timestamp_column, NULL))
                    WITH ORDINALITY AS u(c, o)),
            mlops._beats_sql(v, 'excluded', 'o'),
            wm_col);
        EXECUTE q INTO rows_in, rows_up, new_wm;
        PERFORM mlops._online_advance(v.name, new_wm);
        PERFORM mlops._job_run_finish(run.job_run_id, 'succeeded', rows_in, rows_up, 0, NULL, NULL);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
        PERFORM mlops._job_run_finish(run.job_run_id, CASE WHEN err_state = '57014' THEN 'cancelled' ELSE 'failed' END,
                                      NULL, 0, NULL, err_state || ': ' || err_message, NULL);
        COMMIT;
        PERFORM pg_advisory_unlock(1836019578, run.lock_key);
        RAISE;
    END;
    COMMIT;
    PERFORM pg_advisory_unlock(1836019578, run.lock_key);
END
$$;

CREATE PROCEDURE mlops.materialize_online(view text, full_refresh boolean DEFAULT false)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'materialize_online');
    CALL mlops._materialize_online(view, coalesce(full_refresh, false), NULL, NULL);
END
$$;

CREATE FUNCTION mlops.schedule_materialize_online(name text, cron text, view text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v mlops.feature_views;
BEGIN
    PERFORM mlops._require_role('mlops_writer', 'schedule_materialize_online');
    PERFORM mlops._check_model_name('schedule name', name);
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v := mlops._feature_view(view);
    IF v.created_by <> mlops._invoking_user() THEN
        RAISE EXCEPTION 'feature view "%" belongs to role %', v.name, v.created_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A view is materialized by the role that created it, reading its source as that role.';
    END IF;
    RETURN mlops._add_schedule(name, 'materialize_online', cron,
                               jsonb_build_object('view', v.name, 'source', v.source,
                                                  'target', format('mlops_online.%I', v.name)));
END
$$;

-- The views a view-or-service name reads online, each with the features it
-- gives and their names in the result.
CREATE FUNCTION mlops._online_plan(view_or_service text)
RETURNS TABLE (ord int, view_name text, feature text, feature_type text, out_name text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF view_or_service IS NULL THEN
        RAISE EXCEPTION 'view_or_service must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF EXISTS (SELECT FROM mlops.feature_services s WHERE s.name = view_or_service) THEN
        RETURN QUERY SELECT r.ord, r.view_name, r.feature, r.feature_type, r.view_name || ':' || r.feature
                       FROM mlops._requested_features(ARRAY[view_or_service], false) r;
    ELSIF EXISTS (SELECT FROM mlops.feature_views v WHERE v.name = view_or_service) THEN
        RETURN QUERY SELECT f.o::int, view_or_service, f.f, f.t, f.f
                       FROM mlops.feature_views v, unnest(v.features, v.feature_types) WITH ORDINALITY AS f(f, t, o)
                      WHERE v.name = view_or_service ORDER BY f.o;
    ELSE
        RAISE EXCEPTION 'no feature view or feature service is named "%"', left(view_or_service, 200)
            USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

-- A view's online row for the given keys, as jsonb (NULL: no row).
CREATE FUNCTION mlops._online_row(v mlops.feature_views, keys jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    r jsonb;
BEGIN
    IF v.online_table IS NULL THEN
        RAISE EXCEPTION 'feature view "%" has not been materialized', v.name
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'CALL mlops.materialize_online(view).';
    END IF;
    FOREACH k IN ARRAY v.join_keys LOOP
        IF NOT keys ? k OR jsonb_typeof(keys -> k) = 'null' THEN
            RAISE EXCEPTION 'keys has no value for "%" (a join key of feature view "%")', k, v.name
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    EXECUTE format('SELECT to_jsonb(o) FROM %s o WHERE %s', v.online_table,
                   (SELECT string_agg(format('o.%I = ($1 ->> %L)::%s', u.k, u.k, u.t), ' AND ' ORDER BY u.o)
                      FROM unnest(v.join_keys, v.key_types) WITH ORDINALITY AS u(k, t, o)))
        INTO r USING keys;
    RETURN r;
END
$$;

CREATE FUNCTION mlops.online_features(view_or_service text, keys jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    result jsonb := '{}';
    read_views jsonb := '{}';
    v mlops.feature_views;
    r jsonb;
    p record;
    used text[] := '{}';
    status text;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'online_features');
    IF keys IS NULL OR jsonb_typeof(keys) <> 'object' THEN
        RAISE EXCEPTION 'keys must be a JSON object of join key values' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- each view's row is read once, when its first feature comes
    FOR p IN SELECT * FROM mlops._online_plan(view_or_service) pl ORDER BY pl.ord LOOP
        IF NOT read_views ? p.view_name THEN
            v := mlops._feature_view(p.view_name);
            used := used || v.join_keys;
            r := mlops._online_row(v, keys);
            status := CASE WHEN r IS NULL THEN 'missing'
                           WHEN v.ttl IS NOT NULL
                                AND (r ->> v.timestamp_column)::timestamptz
                                    < pg_catalog.now() - mlops._ttl_microseconds(v.ttl) * interval '1 microsecond'
                               THEN 'expired'
                           ELSE 'present' END;
            read_views := read_views || jsonb_build_object(p.view_name, jsonb_build_object(
                'row', r, 'status', status, 'event_timestamp', r -> v.timestamp_column));
        END IF;
        status := read_views -> p.view_name ->> 'status';
        result := result || jsonb_build_object(p.out_name, jsonb_build_object(
            'value', CASE WHEN status = 'present' THEN read_views -> p.view_name -> 'row' -> p.feature
                          ELSE 'null'::jsonb END,
            'status', status,
            'event_timestamp', read_views -> p.view_name -> 'event_timestamp'));
    END LOOP;
    IF EXISTS (SELECT FROM jsonb_object_keys(keys) k WHERE NOT k = ANY (used)) THEN
        RAISE EXCEPTION 'keys has "%", which is not a join key of "%"',
            (SELECT k FROM jsonb_object_keys(keys) k WHERE NOT k = ANY (used) LIMIT 1), view_or_service
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN result;
END
$$;

CREATE FUNCTION mlops.feature_vector(service text, keys jsonb) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_feature_vector' LANGUAGE C STABLE PARALLEL SAFE;

-- A single-key service's vector from the key's value alone.  The text form
-- is there for untyped literals and parameters (a driver's, pgbench's): with
-- it, PostgreSQL resolves them to text, cast to the key's type on reading,
-- instead of finding the jsonb and anyelement forms equally good.
CREATE FUNCTION mlops.feature_vector(service text, key anyelement) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_feature_vector_key' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mlops.feature_vector(service text, key text) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_feature_vector_key' LANGUAGE C STABLE PARALLEL SAFE;

--------------------------------------------------------------------------------
-- Listing
--------------------------------------------------------------------------------
-- One row per feature of every view.
CREATE VIEW mlops.feature_catalog AS
SELECT v.name AS feature_view, f.feature, f.type, f.position::int, v.entities, v.join_keys, v.timestamp_column,
       v.created_timestamp_column, v.ttl, v.source, v.online_table IS NOT NULL AS online, v.description,
       v.tags, v.created_by, v.created_at
  FROM mlops.feature_views v,
       unnest(v.features, v.feature_types) WITH ORDINALITY AS f(feature, type, position);

-- One row per feature of every service, in the service's order.
CREATE VIEW mlops.feature_service_features AS
SELECT s.name AS feature_service, r.position::int, r.reference, split_part(r.reference, ':', 1) AS feature_view,
       substr(r.reference, length(split_part(r.reference, ':', 1)) + 2) AS feature,
       v.feature_types[array_position(v.features, substr(r.reference, length(split_part(r.reference, ':', 1)) + 2))]
           AS type
  FROM mlops.feature_services s,
       unnest(s.features) WITH ORDINALITY AS r(reference, position)
  LEFT JOIN mlops.feature_views v ON v.name = split_part(r.reference, ':', 1);

-- Privileges (see tracking.sql).  The training-set functions run as their
-- caller (they read the caller's data), so the helpers they call are
-- executable by the caller; the definitions are written by definer
-- functions that check the caller.
CALL mlops._private_by_default();
GRANT USAGE ON SCHEMA mlops_online TO mlops_reader;
GRANT SELECT ON mlops.entities, mlops.feature_views, mlops.feature_services, mlops.feature_catalog,
                mlops.feature_service_features
    TO mlops_reader;
GRANT EXECUTE ON FUNCTION
    mlops.create_entity(text, text[], text),
    mlops.create_feature_view(text, text[], text, text, text[], interval, text, text, jsonb),
    mlops.create_feature_service(text, text[], text),
    mlops.drop_entity(text),
    mlops.drop_feature_view(text),
    mlops.drop_feature_service(text),
    mlops.training_set_query(text, text[], text, boolean, text),
    mlops.build_training_set(text, text, text[], bigint, text, boolean, text),
    mlops.point_in_time_join(text, text, text[], text[], text, text, text, text, text[], text[], bigint),
    mlops.point_in_time_join(text, text, jsonb),
    mlops._check_column_name(text, text),
    mlops._ttl_microseconds(interval),
    mlops._ttl_sql(interval),
    mlops._qualified_source(text),
    mlops._source_columns(text, text),
    mlops._base_type(oid),
    mlops._create_feature_view(text, text[], text, text, text, text[], interval, text, text, jsonb, text),
    mlops._feature_ref(text),
    mlops._feature_view(text),
    mlops._check_view_source(mlops.feature_views, text),
    mlops._requested_features(text[], boolean),
    mlops._tie_order(mlops.feature_views, text),
    mlops.schedule_materialize_online(text, text, text),
    mlops.feature_service_problem(text, text),
    mlops.online_features(text, jsonb),
    mlops.feature_vector(text, jsonb),
    mlops.feature_vector(text, anyelement),
    mlops.feature_vector(text, text),
    mlops._beats_sql(mlops.feature_views, text, text),
    mlops._online_table(text),
    mlops._online_advance(text, timestamptz),
    mlops._online_plan(text),
    mlops._online_row(mlops.feature_views, jsonb)
    TO PUBLIC;
GRANT EXECUTE ON PROCEDURE mlops.materialize_online(text, boolean), mlops._materialize_online(text, boolean, text, bigint)
    TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('mlops.entities', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.entities_entity_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.feature_views', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.feature_views_view_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.feature_services', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.feature_services_service_id_seq', '');
