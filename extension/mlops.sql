-- mlops.sql: the start of the install script (the Makefile puts the concept
-- files after it): the roles, and the helpers every concept uses.  C half:
-- extension/mlops.c.
--
-- Conventions used throughout this script:
--  * every object is schema-qualified, and every function that writes is
--    SECURITY DEFINER with search_path pinned to pg_catalog, pg_temp, so a
--    caller's search_path can never redirect what it touches;
--  * user-facing errors carry a SQLSTATE chosen for what went wrong, a detail
--    saying what was found, and a hint saying what to do;
--  * functions are not STRICT where a NULL argument is a mistake: a STRICT
--    function would quietly return NULL and the caller would think it logged.

\echo Use "CREATE EXTENSION mlops" to load this file. \quit

--------------------------------------------------------------------------------
-- Roles.  Cluster-wide, so another database may have created them already.
--   mlops_reader: read the tables and views, score
--   mlops_writer: log experiments and runs, register model versions, run
--                 and schedule batch jobs (reader too)
--   mlops_admin:  move aliases and stages, delete (writer too)
--------------------------------------------------------------------------------
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['mlops_reader', 'mlops_writer', 'mlops_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    IF NOT pg_catalog.pg_has_role('mlops_writer', 'mlops_reader', 'MEMBER') THEN
        GRANT mlops_reader TO mlops_writer;
    END IF;
    IF NOT pg_catalog.pg_has_role('mlops_admin', 'mlops_writer', 'MEMBER') THEN
        GRANT mlops_writer TO mlops_admin;
    END IF;
END
$roles$;

-- Everyone may look into the schema: the functions check the role each
-- needs, and say which (see tracking.sql); tables need mlops_reader.
GRANT USAGE ON SCHEMA mlops TO PUBLIC;

--------------------------------------------------------------------------------
-- Helpers
--------------------------------------------------------------------------------
CREATE FUNCTION mlops.build_info() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mlops_build_info'
    LANGUAGE C STABLE PARALLEL SAFE;

-- Functions are executable by PUBLIC when created; mlops' are not unless a
-- concept's file grants them.  Each file ends by calling this, which revokes
-- PUBLIC's default EXECUTE from every routine of the schema that has not been
-- granted or revoked explicitly yet (proacl is NULL): the ones just created.
CREATE PROCEDURE mlops._private_by_default()
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc p
              WHERE p.pronamespace = 'mlops'::regnamespace AND p.proacl IS NULL ORDER BY p.oid LOOP
        EXECUTE format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', f);
    END LOOP;
END
$$;

-- Raise an error from inside an expression (used by set-based validation).
CREATE FUNCTION mlops._fail(sqlstate text, message text, detail text DEFAULT NULL,
                            hint text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- RAISE prints an empty DETAIL or HINT line for '', so leave them out
    IF detail IS NULL AND hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message;
    ELSIF hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message, DETAIL = detail;
    ELSIF detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message, HINT = hint;
    END IF;
    RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message, DETAIL = detail, HINT = hint;
END
$$;

-- Privileges (see tracking.sql for the scheme).  build_info() reads nothing.
CALL mlops._private_by_default();
GRANT EXECUTE ON FUNCTION mlops.build_info() TO PUBLIC;
