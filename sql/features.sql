-- Feature views: definitions and their checks (at definition and on use),
-- the point-in-time join on hand-built rows whose every expected value is
-- worked out in the comments, and bad input with its SQLSTATE.
-- (Every edge of the point-in-time join against both engines, and random
-- data against a brute-force Python reference: tests/integration/features_pit*.)
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.err(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SET TimeZone = 'UTC';

CREATE SCHEMA fr;
CREATE TABLE fr.txn (customer_id int, event_ts timestamptz, created timestamptz, amount float8, n int);
INSERT INTO fr.txn VALUES
    (1, '2026-01-01 10:00', '2026-01-01 10:05', 10, 1),
    (1, '2026-01-02 10:00', '2026-01-02 10:05', 20, 2),
    (1, '2026-01-02 10:00', '2026-01-02 11:00', 25, 3),   -- same event time, created later: wins
    (2, '2026-01-01 00:00', NULL, 30, 4),
    (NULL, '2026-01-01 00:00', NULL, 99, 99);              -- a NULL key matches nothing
CREATE TABLE fr.profile (store int, product int, updated timestamp, price numeric, "label; drop" text);
INSERT INTO fr.profile VALUES
    (1, 12, '2026-01-01 00:00', 1.5, 'one-twelve'),
    (11, 2, '2026-01-01 00:00', 9.5, 'eleven-two');

-- Definitions
SELECT mlops.create_entity('customer', '{customer_id}', 'a customer') > 0 AS created;
SELECT mlops.create_entity('store_product', '{store,product}') > 0 AS created;
SELECT mlops.create_feature_view('txn', '{customer}', 'fr.txn', 'event_ts', ttl => '1 day',
                                 created_timestamp_column => 'created', tags => '{"team": "growth"}') > 0 AS created;
-- features default to every column but the keys and timestamps
SELECT mlops.create_feature_view('profile', '{store_product}', 'SELECT * FROM fr.profile', 'updated') > 0 AS created;
SELECT name, entities, join_keys, key_types, source_sql, timestamp_type, created_timestamp_column, ttl, features,
       feature_types, tags
  FROM mlops.feature_views ORDER BY name;
SELECT feature_view, feature, type, position, entities, join_keys, timestamp_column, ttl, source, online
  FROM mlops.feature_catalog ORDER BY feature_view, position;
SELECT mlops.create_feature_service('spend', '{txn:amount,profile:label; drop,txn:n}') > 0 AS created;
SELECT feature_service, position, reference, feature_view, feature, type FROM mlops.feature_service_features;

-- bad definitions
SELECT pg_temp.err($$SELECT mlops.create_entity('customer', '{customer_id}')$$);
SELECT pg_temp.err($$SELECT mlops.create_entity('x; DROP TABLE fr.txn', '{id}')$$);
SELECT pg_temp.err($$SELECT mlops.create_entity('e', '{}')$$);
SELECT pg_temp.err($$SELECT mlops.create_entity('e', '{a,a}')$$);
SELECT pg_temp.err($$SELECT mlops.create_entity('e', ARRAY['a', NULL])$$);
SELECT pg_temp.err($$SELECT mlops.create_entity('e', ARRAY[repeat('k', 64)])$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{nobody}', 'fr.txn', 'event_ts')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{store_product}', 'fr.txn', 'event_ts')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.nothing', 'event_ts')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'when')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'amount')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'event_ts', '{amount,colour}')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'event_ts', '{amount,customer_id}')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'event_ts', '{amount,amount}')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'event_ts', ttl => '1 month')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'event_ts', ttl => '-1 hour')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'event_ts', created_timestamp_column => 'n')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'SELECT customer_id, event_ts FROM fr.txn', 'event_ts')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'SELECT point(1, 2) AS customer_id, event_ts, amount FROM fr.txn', 'event_ts')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer,customer}', 'fr.txn', 'event_ts')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('txn', '{customer}', 'fr.txn', 'event_ts')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_view('v', '{customer}', 'fr.txn', 'event_ts', tags => '{"a": 1}')$$);
-- a view's online table takes its name, so a view name fits in 63 bytes
SELECT pg_temp.err($$SELECT mlops.create_feature_view(repeat('v', 64), '{customer}', 'fr.txn', 'event_ts')$$);
-- the internal definer function runs only the source it is given
SELECT pg_temp.err($$SELECT mlops._create_feature_view('v', '{customer}', 'fr.txn', '(SELECT 1)', 'event_ts', NULL, NULL, NULL, NULL, NULL, 'public')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_service('s', '{amount}')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_service('s', '{nothing:amount}')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_service('s', '{txn:colour}')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_service('s', '{txn:amount,txn:amount}')$$);
SELECT pg_temp.err($$SELECT mlops.create_feature_service('spend', '{txn:amount}')$$);
-- in use: not dropped
SELECT pg_temp.err($$SELECT mlops.drop_entity('customer')$$);
SELECT pg_temp.err($$SELECT mlops.drop_feature_view('txn')$$);
SELECT pg_temp.err($$SELECT mlops.drop_feature_view('nothing')$$);

-- Point-in-time join.  txn has a 1-day ttl, its ties go to the later
-- created timestamp; row by row:
--  1: customer 1 at 2026-01-02 10:00, exactly the time of two rows: the one
--     created later, amount 25, n 3
--  2: 1 microsecond earlier: those two are in the future; the 2026-01-01
--     10:00 row is 1 day less 1 microsecond old, within the ttl: 10, 1
--  3: 2026-01-03 10:00: the latest row is exactly 1 day old, on the
--     inclusive bound: 25, 3
--  4: 1 microsecond later it is 1 microsecond too old: NULLs
--  5: customer 2: 30, 4;  6: customer 3 has no rows: NULLs
--  7: a NULL customer matches nothing (not even the NULL-key row): NULLs
--  8: a duplicate of row 1: its own row, 25, 3
-- profile has no ttl; its key (store, product) = (1, 12) must not get
-- (11, 2)'s row, which a key built by concatenating "1"||"12" would give.
CREATE TABLE fr.entity_rows (id int, customer_id int, store int, product int, event_timestamp timestamptz);
INSERT INTO fr.entity_rows VALUES
    (1, 1, 1, 12, '2026-01-02 10:00'),
    (2, 1, 11, 2, '2026-01-02 09:59:59.999999'),
    (3, 1, 1, 12, '2026-01-03 10:00'),
    (4, 1, 1, 21, '2026-01-03 10:00:00.000001'),
    (5, 2, 11, 2, '2026-01-01 12:00'),
    (6, 3, NULL, 12, '2026-01-01 12:00'),
    (7, NULL, 1, 12, '2025-12-31 23:59:59'),
    (1, 1, 1, 12, '2026-01-02 10:00');
SELECT mlops.build_training_set('fr.ts_merge', 'fr.entity_rows', '{txn:amount,txn:n,profile:price}');
SELECT mlops.build_training_set('fr.ts_lateral', 'fr.entity_rows', '{txn:amount,txn:n,profile:price}',
                                engine => 'lateral');
SELECT * FROM fr.ts_merge ORDER BY id, event_timestamp;
(SELECT * FROM fr.ts_merge EXCEPT ALL SELECT * FROM fr.ts_lateral)
UNION ALL (SELECT * FROM fr.ts_lateral EXCEPT ALL SELECT * FROM fr.ts_merge);
-- a feature service as the list; view__feature names
SELECT mlops.build_training_set('fr.ts_service', 'SELECT id, customer_id, store, product, event_timestamp FROM fr.entity_rows WHERE id <= 3',
                                '{spend}', full_feature_names => true);
SELECT * FROM fr.ts_service ORDER BY id, event_timestamp;
-- the engine called directly: the one-view form, one view at a time, gives
-- the rows the several-view form gives in one pass (the expected rows above)
SELECT e.id, e.event_timestamp, f.amount, f.n, p.price
  FROM fr.entity_rows e,
       LATERAL (SELECT * FROM mlops.point_in_time_join(
           format('SELECT * FROM fr.entity_rows WHERE id = %s AND event_timestamp = %L', e.id, e.event_timestamp),
           'event_timestamp', '{customer_id}', '{integer}', 'fr.txn', 'event_ts', 'timestamp with time zone',
           'created', '{amount,n}', '{amount,n}', 86400000000)
           AS j(id int, customer_id int, store int, product int, event_timestamp timestamptz, amount float8, n int)
         LIMIT 1) f,
       LATERAL (SELECT * FROM mlops.point_in_time_join(
           format('SELECT * FROM fr.entity_rows WHERE id = %s AND event_timestamp = %L', e.id, e.event_timestamp),
           'event_timestamp', '{store,product}', '{integer,integer}', '(SELECT * FROM fr.profile)', 'updated',
           'timestamp without time zone', NULL, '{price,label; drop}', '{price}', NULL)
           AS j(id int, customer_id int, store int, product int, event_timestamp timestamptz, price numeric)
         LIMIT 1) p
 ORDER BY e.id, e.event_timestamp;
SELECT id, event_timestamp, amount, n, price
  FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp', $$[
         {"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
          "timestamp_type": "timestamp with time zone", "created_timestamp_column": "created",
          "view_features": ["amount", "n"], "features": ["amount", "n"], "ttl_microseconds": 86400000000},
         {"join_keys": ["store", "product"], "key_types": ["integer", "integer"], "view_sql": "(SELECT * FROM fr.profile)",
          "timestamp_column": "updated", "timestamp_type": "timestamp without time zone",
          "view_features": ["price", "label; drop"], "features": ["price"]}]$$)
       AS j(id int, customer_id int, store int, product int, event_timestamp timestamptz, amount float8, n int, price numeric)
 ORDER BY id, event_timestamp;
-- its bad input
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp', NULL::jsonb) AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp', '[]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp', '{"join_keys": []}') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp', '[1]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"]}]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": "customer_id", "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"], "features": ["amount"]}]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer", "integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"], "features": ["amount"]}]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": 7,
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"], "features": ["amount"]}]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"], "features": ["amount"],
       "ttl_microseconds": "1 day"}]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"], "features": ["amount"],
       "ttl_microseconds": 0}]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "date", "view_features": ["amount"], "features": ["amount"]}]') AS j(id int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"], "features": ["colour"]}]')
    AS j(id int, customer_id int, store int, product int, event_timestamp timestamptz, colour float8)$$);
-- the result's columns must be the entity source's, then each view's features
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"], "features": ["amount"]}]')
    AS j(id int, customer_id int, store int, product int, event_timestamp timestamptz, amount float8, extra int)$$);
SELECT pg_temp.err($$SELECT * FROM mlops.point_in_time_join('SELECT * FROM fr.entity_rows', 'event_timestamp',
    '[{"join_keys": ["customer_id"], "key_types": ["integer"], "view_sql": "fr.txn", "timestamp_column": "event_ts",
       "timestamp_type": "timestamp with time zone", "view_features": ["amount"], "features": ["amount"]}]')
    AS j(id int, customer_id int, store int, product int, event_timestamp timestamptz, amount int)$$);
-- the SQL of the 'lateral' engine, with every name quoted
SELECT mlops.training_set_query('fr.entity_rows', '{profile:label; drop}', engine => 'lateral');

-- bad training sets
SELECT pg_temp.err($$SELECT mlops.build_training_set('fr.ts_merge', 'fr.entity_rows', '{txn:amount}')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{txn:amount}', engine => 'fast')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{txn:amount}', 'ts')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('SELECT id, event_timestamp FROM fr.entity_rows', '{txn:amount}')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('SELECT id AS event_timestamp, customer_id FROM fr.entity_rows', '{txn:amount}')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('SELECT *, 1 AS amount FROM fr.entity_rows', '{txn:amount}')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{txn:amount,txn:n,spend}')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{nothing}')$$);
-- a composite key needs all its columns: the wrong key count is an error, not a partial match
SELECT pg_temp.err($$SELECT mlops.training_set_query('SELECT id, store, event_timestamp FROM fr.entity_rows', '{profile:price}')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{}')$$);
-- the same feature name from two views: full_feature_names tells them apart
CREATE TABLE fr.txn2 AS SELECT customer_id, event_ts, amount FROM fr.txn;
SELECT mlops.create_feature_view('txn2', '{customer}', 'fr.txn2', 'event_ts') > 0 AS created;
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{txn:amount,txn2:amount}')$$);
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{txn:amount,txn2:amount}', full_feature_names => true)$$);
-- the source changed since the view was defined: a clear error naming what moved
ALTER TABLE fr.txn2 ALTER COLUMN amount TYPE numeric;
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{txn2:amount}')$$);
ALTER TABLE fr.txn2 DROP COLUMN amount;
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{txn2:amount}')$$);
DROP TABLE fr.txn2;
SELECT pg_temp.err($$SELECT mlops.training_set_query('fr.entity_rows', '{txn2:amount}')$$);
SELECT mlops.drop_feature_view('txn2');

-- Online.  live has a 1-day ttl; customer 1's latest row is an hour old
-- (present), customer 2's is from 2020 (expired), customer 3 has none
-- (missing).
CREATE TABLE fr.live (customer_id int, ts timestamptz, created timestamptz, spend float8, visits int, note text);
INSERT INTO fr.live VALUES
    (1, now() - interval '1 hour', '2026-01-01', 10, 1, 'a'),
    (1, now() - interval '2 hours', '2026-01-01', 5, 2, 'b'),
    (2, '2020-01-01', '2026-01-01', 7, 3, 'c');
SELECT mlops.create_feature_view('live', '{customer}', 'fr.live', 'ts', ttl => '1 day',
                                 created_timestamp_column => 'created') > 0 AS created;
SELECT mlops.create_feature_service('live_numbers', '{live:visits,live:spend}') > 0 AS created;
SELECT mlops.create_feature_service('live_notes', '{live:note}') > 0 AS created;
SELECT pg_temp.err($$SELECT mlops.online_features('live', '{"customer_id": 1}')$$);
CALL mlops.materialize_online('live');
SELECT customer_id, spend, visits, note FROM mlops_online.live ORDER BY customer_id;
SELECT c AS customer_id, f.key AS feature, f.value ->> 'status' AS status, f.value -> 'value' AS value,
       f.value ->> 'event_timestamp' IS NOT NULL AS has_time
  FROM generate_series(1, 3) c, jsonb_each(mlops.online_features('live_numbers', jsonb_build_object('customer_id', c))) f
 ORDER BY c, f.key;
SELECT mlops.feature_vector('live_numbers', 1) AS present, mlops.feature_vector('live_numbers', 2) AS expired,
       mlops.feature_vector('live_numbers', 3) AS missing,
       mlops.feature_vector('live_numbers', '{"customer_id": 1}'::jsonb) AS by_jsonb,
       mlops.feature_vector('live_numbers', 1::bigint) AS by_bigint;
-- a row arriving late with an older event time does not replace the newer value;
-- a newer one does
INSERT INTO fr.live VALUES (1, now() - interval '3 hours', '2026-01-02', 99, 9, 'late');
CALL mlops.materialize_online('live');
SELECT mlops.feature_vector('live_numbers', 1) AS after_late_row;
INSERT INTO fr.live VALUES (1, now() - interval '10 minutes', '2026-01-03', 11, 4, 'd');
CALL mlops.materialize_online('live');
SELECT mlops.feature_vector('live_numbers', 1) AS after_newer_row;
-- each materialization is a job run: rows read from the watermark on, rows upserted
SELECT job_name, kind, status, rows_in, rows_scored FROM mlops.job_runs
 WHERE kind = 'materialize_online' ORDER BY job_run_id;
SELECT name, online_table, online_watermark FROM mlops.feature_views WHERE name = 'live';
-- bad online reads
SELECT pg_temp.err($$SELECT mlops.feature_vector('live_notes', 1)$$);
SELECT pg_temp.err($$SELECT mlops.feature_vector('nothing', 1)$$);
SELECT pg_temp.err($$SELECT mlops.feature_vector('live_numbers', '{"id": 1}'::jsonb)$$);
SELECT pg_temp.err($$SELECT mlops.online_features('nothing', '{"customer_id": 1}')$$);
SELECT pg_temp.err($$SELECT mlops.online_features('live', '{"customer_id": 1, "colour": "red"}')$$);
SELECT pg_temp.err($$SELECT mlops.online_features('live', '[1]')$$);
SELECT pg_temp.err($$SELECT mlops.online_features('live', '{}')$$);
SELECT pg_temp.err($$CALL mlops.materialize_online('nothing')$$);
-- a composite-key view online: both keys, or an error; the one-key form of feature_vector refuses it
CREATE TABLE fr.stock (store int, product int, ts timestamptz, units int);
INSERT INTO fr.stock VALUES (1, 12, now() - interval '1 minute', 5), (11, 2, now() - interval '1 minute', 7);
SELECT mlops.create_feature_view('stock', '{store_product}', 'fr.stock', 'ts') > 0 AS created;
SELECT mlops.create_feature_service('stock_units', '{stock:units}') > 0 AS created;
CALL mlops.materialize_online('stock');
SELECT mlops.feature_vector('stock_units', '{"store": 1, "product": 12}'::jsonb) AS one_twelve,
       mlops.feature_vector('stock_units', '{"store": 11, "product": 2}'::jsonb) AS eleven_two,
       mlops.feature_vector('stock_units', '{"store": 11, "product": 12}'::jsonb) AS eleven_twelve;
SELECT pg_temp.err($$SELECT mlops.online_features('stock', '{"store": 1}')$$);
SELECT pg_temp.err($$SELECT mlops.feature_vector('stock_units', 1)$$);
SELECT mlops.drop_feature_service('stock_units');
SELECT mlops.drop_feature_view('stock');

-- Roles: readers read definitions and query training sets, writers define;
-- another writer does not drop what is not theirs
CREATE ROLE features_reader IN ROLE mlops_reader;
CREATE ROLE features_writer IN ROLE mlops_writer;
GRANT USAGE ON SCHEMA fr TO features_reader, features_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA fr TO features_reader, features_writer;
SET ROLE features_reader;
SELECT count(*) AS features_listed FROM mlops.feature_catalog;
SELECT pg_temp.err($$SELECT mlops.create_entity('reader_entity', '{id}')$$);
SELECT length(mlops.training_set_query('fr.entity_rows', '{txn:amount}')) > 0 AS reads;
SELECT mlops.feature_vector('live_numbers', 1) AS reader_reads_online;
SET ROLE features_writer;
SELECT pg_temp.err($$SELECT mlops.drop_feature_service('spend')$$);
SELECT pg_temp.err($$CALL mlops.materialize_online('live')$$);
SELECT pg_temp.err($$INSERT INTO mlops_online.live VALUES (5, 1, 1, 'forged', now(), now(), now())$$);
SELECT pg_temp.err($$SELECT mlops._features_changed()$$);
RESET ROLE;

SELECT mlops.drop_feature_service('spend');
SELECT mlops.drop_feature_service('live_numbers');
SELECT mlops.drop_feature_service('live_notes');
SELECT mlops.drop_feature_view('live');
SELECT to_regclass('mlops_online.live') AS online_table_dropped;
SELECT mlops.drop_feature_view('profile');
SELECT mlops.drop_entity('store_product');
SELECT name FROM mlops.entities ORDER BY name;

\set VERBOSITY terse
DROP SCHEMA fr CASCADE;
\set VERBOSITY default
DROP ROLE features_reader;
DROP ROLE features_writer;
