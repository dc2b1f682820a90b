-- A/B tests: GrowthBook's assignment building blocks on values its SDK
-- publishes, tests and their validation, sticky assignment checked against
-- the hash computed independently in SQL, scoring through a test, shadow
-- and canary releases, results against the statistics functions on counts
-- worked out here, promotion, bandits, roles.  (cases.json and a Python
-- reference: tests/integration/ab_assignment; the statistics against scipy
-- and R: tests/integration/ab_stats_core and ab_results.)
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

-- GrowthBook's hash: values from its SDK's test cases
SELECT mlops.ab_hash('', 'a', 1) AS "0.22", mlops.ab_hash('', 'a', 2) AS "0.0216",
       mlops.ab_hash('seed', 'a', 3) IS NULL AS "null for version 3";
SELECT mlops.ab_bucket_ranges(2, 1, NULL) AS equal, mlops.ab_bucket_ranges(2, 0.5, '{0.4,0.6}') AS half,
       mlops.ab_bucket_ranges(2, 1, '{0.4,0.1}') AS "bad sum: equal", mlops.ab_bucket_ranges(3, 2, '{0.2,0.3,0.5}') AS clamped;
SELECT mlops.ab_choose_variation(0.2, '{{0,0.5},{0.5,1}}') AS "0", mlops.ab_choose_variation(0.5, '{{0,0.5},{0.5,1}}') AS "1",
       mlops.ab_choose_variation(0.6, '{{0,0.2},{0.5,0.55}}') AS "-1", mlops.ab_equal_weights(4) AS quarters;
SELECT pg_temp.err($$SELECT mlops.ab_choose_variation(0.5, '{0,0.5,1}')$$);
SELECT pg_temp.err($$SELECT mlops.ab_bucket_ranges(2, 1, '{0.5,NULL}')$$);

-- Models: y = 2x and y = 3x, so x = 2 tells which answered (4 or 6)
\set double '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [2], "link": "identity"}}'
\set triple '{"format": "mlops.model/v1", "task": "regression", "features": [{"name": "x", "type": "numeric"}], "model": {"type": "linear", "coef": [3], "link": "identity"}}'
SELECT mlops.register_model_version('ab_price', :'double'), mlops.register_model_version('ab_price', :'triple');
SELECT mlops.set_model_alias('ab_price', 'champion', 1);

-- Bad definitions: each a clear error, nothing written
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:9'])$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'nosuch'])$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:2'], '{0.5,0.6}')$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:2'], '{1.5,-0.5}')$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:2'], '{NaN,0.5}')$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:2'], '{1}')$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1'])$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', NULL])$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:2'], coverage => 1.5)$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:2'], hash_version => 3)$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad; drop table x', ARRAY['ab_price:1', 'ab_price:2'])$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:2'], kind => 'canary', canary_steps => '{0.5,0.1}', guard => '{"metric": "m"}')$$);
SELECT pg_temp.err($$SELECT mlops.create_ab_test('bad', ARRAY['ab_price:1', 'ab_price:2'], kind => 'canary', canary_steps => '{0.1,0.5}')$$);
SELECT count(*) AS "no tests, no events" FROM mlops.ab_tests, mlops.ab_events;

-- A test of two versions, 50/50
SELECT mlops.create_ab_test('price_test', ARRAY['ab_price:1', 'ab_price:2'], seed => 'price-seed') > 0 AS created;
SELECT pg_temp.err($$SELECT mlops.predict_ab('price_test', 'u1', ARRAY[2.0])$$) AS "draft";
SELECT mlops.start_ab_test('price_test');
SELECT pg_temp.err($$SELECT mlops.predict_ab('price_test', NULL, ARRAY[2.0])$$) AS "NULL unit";
SELECT pg_temp.err($$SELECT mlops.predict_ab('no_such_test', 'u1', ARRAY[2.0])$$) AS "unknown test";
SELECT pg_temp.err($$SELECT mlops.predict_ab('price_test', 'u1', ARRAY[2.0, 3.0])$$) AS "wrong feature count";
SELECT count(*) AS "nothing recorded by failures" FROM mlops.ab_assignments;

-- Each unit's variant is its GrowthBook hash's, and its prediction that variant's model's
CREATE TEMP TABLE served AS
SELECT 'u' || g AS unit_id, (mlops.predict_ab('price_test', 'u' || g, ARRAY[2.0])).* FROM generate_series(1, 2000) g;
SELECT count(*) AS units,
       count(*) FILTER (WHERE variant_index = mlops.ab_choose_variation(mlops.ab_hash('price-seed', unit_id, 2),
                                                                       mlops.ab_bucket_ranges(2, 1, '{0.5,0.5}'))) AS "as hashed",
       count(*) FILTER (WHERE prediction = CASE variant_index WHEN 0 THEN 4 ELSE 6 END
                          AND version = variant_index + 1 AND in_test) AS "right model"
  FROM served;
SELECT variant, variant_index, model, count(*) > 900 AS "about half" FROM served GROUP BY 1, 2, 3 ORDER BY 2;
SELECT count(*) AS recorded, count(*) FILTER (WHERE a.variant = s.variant_index AND a.version_id IS NOT NULL) AS agreeing
  FROM mlops.ab_assignments a JOIN served s USING (unit_id);
-- exposure is idempotent: scoring the units again records nothing new
SELECT count(*) FROM (SELECT mlops.predict_ab('price_test', 'u' || g, ARRAY[2.0]) FROM generate_series(1, 2000) g) s;
SELECT count(*) AS "still 2000" FROM mlops.ab_assignments;
SELECT (mlops.predict_ab('price_test', 'u1', '{"x": 2}'::jsonb)).prediction IN (4, 6) AS "jsonb features";
SELECT (mlops.predict_ab('price_test', 'u1', NULL::float8[])).prediction IS NULL AS "NULL features: NULL prediction";

-- Sticky: new weights move new units only; a re-bucket moves everyone
SELECT mlops.set_ab_weights('price_test', '{0.2,0.8}');
CREATE TEMP TABLE after_change AS
SELECT 'u' || g AS unit_id, (mlops.ab_assign('price_test', 'u' || g)).* FROM generate_series(1, 4000) g;
SELECT count(*) FILTER (WHERE g <= 2000 AND variant_index = mlops.ab_choose_variation(mlops.ab_hash('price-seed', unit_id, 2),
                                                                                      '{{0,0.5},{0.5,1}}')) AS "exposed: old weights",
       count(*) FILTER (WHERE g > 2000 AND variant_index = mlops.ab_choose_variation(mlops.ab_hash('price-seed', unit_id, 2),
                                                                                     '{{0,0.2},{0.2,1}}')) AS "new: new weights"
  FROM after_change, LATERAL (SELECT substr(unit_id, 2)::int AS g) n;
SELECT mlops.set_ab_weights('price_test', '{0.2,0.8}', rebucket => true);
SELECT count(*) FILTER (WHERE (mlops.ab_assign('price_test', 'u' || g)).variant_index
                              = mlops.ab_choose_variation(mlops.ab_hash('price-seed', 'u' || g, 2), '{{0,0.2},{0.2,1}}'))
       AS "re-bucketed: all by new weights"
  FROM generate_series(1, 4000) g;
SELECT event, weights, details ->> 'bucket_version' AS bucket_version FROM mlops.ab_events
 WHERE ab_test = 'price_test' ORDER BY event_id;

-- Coverage and namespaces: units outside are served variant 0 and not recorded
SELECT mlops.create_ab_test('ns_a', ARRAY['ab_price:1', 'ab_price:2'], namespace => 'pricing', namespace_range => '{0,0.5}');
SELECT mlops.create_ab_test('ns_b', ARRAY['ab_price:1', 'ab_price:2'], namespace => 'pricing', namespace_range => '{0.4,1}');
SELECT mlops.start_ab_test('ns_a');
SELECT pg_temp.err($$SELECT mlops.start_ab_test('ns_b')$$) AS "overlapping namespace ranges";
SELECT count(*) FILTER (WHERE (r).in_test = mlops.ab_in_namespace('n' || g, 'pricing', 0, 0.5)) AS "in test iff in namespace",
       count(*) FILTER (WHERE NOT (r).in_test AND (r).variant_index = -1 AND (r).prediction = 4) AS "outside: control model"
  FROM (SELECT g, mlops.predict_ab('ns_a', 'n' || g, ARRAY[2.0]) AS r FROM generate_series(1, 1000) g) s;
SELECT count(*) = count(*) FILTER (WHERE mlops.ab_in_namespace(unit_id, 'pricing', 0, 0.5)) AS "only units in the namespace recorded"
  FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'ns_a';

-- Stopping
SELECT mlops.stop_ab_test('ns_a');
SELECT pg_temp.err($$SELECT mlops.predict_ab('ns_a', 'n1', ARRAY[2.0])$$) AS "stopped";
SELECT pg_temp.err($$SELECT mlops.set_ab_weights('ns_a', '{0.5,0.5}')$$) AS "stopped";
SELECT pg_temp.err($$SELECT mlops.start_ab_test('ns_a')$$) AS "stays stopped";

-- Outcomes and results.  conv_test: 1,000 units; conversions recorded for
-- units by a rule on their number, so that each variant's count is what a
-- query over the assignments gives, and ab_results must equal the z-test
-- on those counts.
SELECT mlops.create_ab_test('conv_test', ARRAY['ab_price:1', 'ab_price:2']);
SELECT mlops.start_ab_test('conv_test');
SELECT count(mlops.ab_assign('conv_test', 'c' || g)) FROM generate_series(1, 1000) g;
SELECT pg_temp.err($$SELECT mlops.record_ab_outcome('c1', 'converted', 'NaN')$$) AS "NaN outcome";
SELECT pg_temp.err($$SELECT mlops.record_ab_outcome(NULL, 'converted', 1)$$) AS "NULL unit";
SELECT count(mlops.record_ab_outcome('c' || g, 'converted', 1, '2100-01-01'))
  FROM generate_series(1, 1000) g
 WHERE g % 10 < CASE (SELECT variant FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id)
                       WHERE t.key = 'conv_test' AND a.unit_id = 'c' || g) WHEN 0 THEN 1 ELSE 3 END;
-- recorded twice: still one outcome
SELECT mlops.record_ab_outcome('c10', 'converted', 1, '2100-01-01');
-- an outcome before the unit's exposure does not count
SELECT mlops.record_ab_outcome('c5', 'converted', 1, '2000-01-01');
CREATE TEMP TABLE counts AS
SELECT a.variant, count(*)::float8 AS units, count(o.unit_id)::float8 AS conversions
  FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id)
  LEFT JOIN mlops.ab_outcomes o ON o.unit_id = a.unit_id AND o.metric = 'converted' AND o.observed_at > '2099-01-01'
 WHERE t.key = 'conv_test' GROUP BY a.variant;
SELECT r.variant, r.metric_kind, r.units, round(r.mean::numeric, 6) AS rate,
       round(r.p_value::numeric, 12) = round(z.p_value::numeric, 12) AS "p as z-test",
       round(r.abs_lift::numeric, 12) = round(z.abs_lift::numeric, 12) AS "lift as z-test",
       r.significant, r.srm_p_value > 0.001 AS "srm ok"
  FROM mlops.ab_results('conv_test', 'converted') r
  LEFT JOIN LATERAL (SELECT z.* FROM counts c, counts t2,
                     LATERAL mlops.ab_proportions_ztest(c.conversions, c.units, t2.conversions, t2.units) z
                      WHERE c.variant = 0 AND t2.variant = 1) z ON r.variant_index = 1
 ORDER BY r.variant_index;
SELECT variant_index, round(p_value::numeric, 6) < 0.05 AS "sequential significant", abs_lift_lower < abs_lift AS ordered
  FROM mlops.ab_results('conv_test', 'converted', sequential => true) WHERE variant_index = 1;
SELECT pg_temp.err($$SELECT * FROM mlops.ab_results('conv_test', 'converted', kind => 'ordinal')$$);

-- Statistics on textbook numbers (scipy and R agree: tests/integration/ab_stats_core)
SELECT round(ab_sample_size_proportions::numeric, 2) AS "R power.prop.test n = 76.7"
  FROM mlops.ab_sample_size_proportions(0.5, 0.75, 0.05, 0.9);
SELECT round(mlops.ab_power_proportions(50, 0.5, 0.75)::numeric, 3) AS "R power = 0.740",
       round(mlops.ab_sample_size_means(1, 1, 0.05, 0.9)::numeric, 2) AS "R power.t.test n = 22.02",
       round(mlops.ab_power_means(20, 1)::numeric, 3) AS "R power = 0.869";
SELECT round(statistic::numeric, 6) AS chi2, round(p_value::numeric, 6) AS p FROM mlops.ab_srm('{5000,5200}', '{0.5,0.5}');
SELECT pg_temp.err($$SELECT mlops.ab_sample_size_proportions(0.5, 0.5)$$);
SELECT pg_temp.err($$SELECT mlops.ab_proportions_ztest(11, 10, 1, 10)$$);

-- Promotion: the treatment converts 30% against 10%; ab_price@champion moves to version 2
SELECT mlops.promote_ab_winner('conv_test', 'converted');
SELECT alias, version FROM mlops.model_aliases a JOIN mlops.model_versions v USING (version_id)
 JOIN mlops.registered_models m ON m.model_id = a.model_id WHERE m.name = 'ab_price';
SELECT event, alias, from_value, to_value FROM mlops.registry_events WHERE model_name = 'ab_price' AND event = 'alias_set'
 ORDER BY event_id DESC LIMIT 1;
SELECT status FROM mlops.ab_tests WHERE key = 'conv_test';
SELECT mlops.set_model_alias('ab_price', 'champion', 1);

-- No significant winner: refused
SELECT mlops.create_ab_test('flat_test', ARRAY['ab_price:1', 'ab_price:2']);
SELECT mlops.start_ab_test('flat_test');
SELECT count(mlops.ab_assign('flat_test', 'f' || g)) FROM generate_series(1, 200) g;
SELECT pg_temp.err($$SELECT mlops.promote_ab_winner('flat_test', 'converted')$$);

-- Sample ratio mismatch: units of one variant deleted behind the test's back
DELETE FROM mlops.ab_assignments a USING mlops.ab_tests t
 WHERE t.ab_test_id = a.ab_test_id AND t.key = 'flat_test' AND a.variant = 1 AND a.unit_id > 'f3';
SELECT srm_failed FROM mlops.ab_tests_overview WHERE ab_test = 'flat_test';
SELECT pg_temp.err($$SELECT mlops.promote_ab_winner('flat_test', 'converted')$$);

-- Shadow release: the champion serves everyone, the challenger is recorded beside it
SELECT mlops.create_ab_test('price_shadow', ARRAY['ab_price:1', 'ab_price:2'], kind => 'shadow');
SELECT mlops.start_ab_test('price_shadow');
SELECT count(*) FILTER (WHERE (r).prediction = 2 * x AND (r).variant = 'champion') AS "served by the champion"
  FROM (SELECT g::float8 AS x, mlops.predict_ab('price_shadow', 's' || g, ARRAY[g::float8]) AS r
          FROM generate_series(1, 100) g) s;
SELECT variant, rows, agreement, round(mean_difference::numeric, 6) AS "mean diff (x = 50.5)",
       round(correlation::numeric, 6) AS correlation
  FROM mlops.ab_shadow_comparison WHERE ab_test = 'price_shadow';

-- Canary: shares 10% then 50% while the guard holds
SELECT mlops.create_ab_test('price_canary', ARRAY['ab_price:1', 'ab_price:2'], kind => 'canary',
                            canary_steps => '{0.1,0.5}', guard => '{"metric": "kept", "min_units": 20}');
SELECT mlops.start_ab_test('price_canary');
SELECT count(mlops.ab_assign('price_canary', 'k' || g)) FROM generate_series(1, 100) g;
SELECT mlops.advance_canary('price_canary');       -- too few challenger units
SELECT count(mlops.ab_assign('price_canary', 'k' || g)) FROM generate_series(101, 600) g;
-- every unit kept
SELECT count(mlops.record_ab_outcome(a.unit_id, 'kept', 1, '2100-01-01'))
  FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'price_canary';
SELECT mlops.advance_canary('price_canary');
SELECT weight FROM mlops.ab_variants v JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'price_canary' ORDER BY variant;
-- the challenger's new units all churn: the guard fails, the share goes back to 0, an alert is raised
SELECT count(mlops.ab_assign('price_canary', 'k' || g)) FROM generate_series(601, 1200) g;
SELECT count(mlops.record_ab_outcome(a.unit_id, 'kept', CASE WHEN a.variant = 1 THEN 0 ELSE 1 END, '2100-01-01'))
  FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id)
 WHERE t.key = 'price_canary' AND substr(a.unit_id, 2)::int > 600;
SELECT left(mlops.advance_canary('price_canary'), 50) AS advance;
SELECT weight FROM mlops.ab_variants v JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'price_canary' ORDER BY variant;
SELECT count(*) FILTER (WHERE (mlops.ab_assign('price_canary', 'k' || g)).variant_index = 0) AS "all back on the champion"
  FROM generate_series(1, 1200) g;
SELECT kind FROM mlops.ab_alerts_open WHERE ab_test = 'price_canary';
SELECT event FROM mlops.ab_events WHERE ab_test = 'price_canary' ORDER BY event_id;

-- Thompson sampling: the arm converting 30% takes most of the traffic
SELECT mlops.create_ab_test('price_bandit', ARRAY['ab_price:1', 'ab_price:2']);
SELECT mlops.start_ab_test('price_bandit');
SELECT count(mlops.ab_assign('price_bandit', 'c' || g)) FROM generate_series(1, 1000) g;
SELECT variant, units > 400 AS units, applied, weight > 0.9 AS "most traffic", round(weight::numeric, 6) >= 0.01 AS floor
  FROM mlops.update_ab_bandit_weights('price_bandit', 'converted');
SELECT variant, p_best IS NULL AS "not moved", weight FROM mlops.ab_bandit_weights('{50,50}', '{0.1,0.3}', '{0.09,0.21}');

-- Roles: readers score through tests and read results; writers change their own tests only
CREATE ROLE regress_ab_reader IN ROLE mlops_reader;
CREATE ROLE regress_ab_writer IN ROLE mlops_writer;
SET ROLE regress_ab_reader;
SELECT (mlops.predict_ab('price_bandit', 'reader-unit', ARRAY[2.0])).in_test AS "reader scores";
SELECT count(*) > 0 AS "reader reads results" FROM mlops.ab_results('price_bandit', 'converted');
SELECT pg_temp.err($$SELECT mlops.create_ab_test('r', ARRAY['ab_price:1', 'ab_price:2'])$$);
SELECT pg_temp.err($$INSERT INTO mlops.ab_assignments VALUES (1, 1, 'forged', 0, 1, NULL, now())$$);
RESET ROLE;
SET ROLE regress_ab_writer;
SELECT pg_temp.err($$SELECT mlops.set_ab_weights('price_bandit', '{0.5,0.5}')$$);
SELECT pg_temp.err($$SELECT mlops.stop_ab_test('price_bandit')$$);
SELECT pg_temp.err($$SELECT mlops.promote_ab_winner('price_bandit', 'converted')$$);
RESET ROLE;
DROP ROLE regress_ab_reader;
DROP ROLE regress_ab_writer;
SELECT ab_test, kind, status, units, jsonb_array_length(variants) AS variants FROM mlops.ab_tests_overview ORDER BY ab_test;
