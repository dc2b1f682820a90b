-- ab.sql: A/B tests of model versions (ab.c, ab_stats.c).
--
-- Assignment is GrowthBook's, bit for bit with its JavaScript SDK: a unit's
-- variant is a pure function of the test's seed, the unit id and the bucket
-- ranges, so an application using the SDK and a query agree.  On top of
-- that: tests with variants that are model references, sticky assignments,
-- scoring through a test (predict_ab), shadow and canary releases, outcomes,
-- results with frequentist and sequential statistics, Thompson-sampling
-- weights, and promotion of the winner.

-- GrowthBook's hash(seed, value, version): FNV-1a 32-bit over UTF-16 code
-- units; version 1 hashes value || seed into [0, 1) by 1/1000, version 2
-- hashes the decimal form of the hash of seed || value by 1/10000; any
-- other version gives NULL.
CREATE FUNCTION mlops.ab_hash(seed text, value text, version int) RETURNS float8
    AS 'MODULE_PATHNAME', 'mlops_ab_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- getBucketRanges: an n x 2 array of [start, end) per variation.
CREATE FUNCTION mlops.ab_bucket_ranges(num_variations int, coverage float8 DEFAULT 1, weights float8[] DEFAULT NULL)
RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_ab_bucket_ranges' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- getEqualWeights
CREATE FUNCTION mlops.ab_equal_weights(num_variations int) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'mlops_ab_equal_weights' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- chooseVariation: the first range holding hash, or -1
CREATE FUNCTION mlops.ab_choose_variation(hash float8, ranges float8[]) RETURNS int
    AS 'MODULE_PATHNAME', 'mlops_ab_choose_variation' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- inNamespace: ab_hash('__' || namespace, unit_id, 1) in [range_start, range_end)
CREATE FUNCTION mlops.ab_in_namespace(unit_id text, namespace text, range_start float8, range_end float8)
RETURNS boolean
    AS 'MODULE_PATHNAME', 'mlops_ab_in_namespace' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CALL mlops._private_by_default();
GRANT EXECUTE ON FUNCTION
    mlops.ab_hash(text, text, int),
    mlops.ab_bucket_ranges(int, float8, float8[]),
    mlops.ab_equal_weights(int),
    mlops.ab_choose_variation(float8, float8[]),
    mlops.ab_in_namespace(text, text, float8, float8)
    TO PUBLIC;
