#!/usr/bin/python3
"""Helper of features_pit.sh: hand-built point-in-time cases of mlops.build_training_set.

  features_pit.py      run every case against the database the environment names (PGHOST,
                       PGPORT, PGUSER, PGDATABASE, as tests/lib/testdb.sh leaves them); prints one
                       line per case and every failure, exits 1 on any failure

Every expected row is written out by hand below (text form of each value, DateStyle ISO), from
the rules of /work/dev/features_spec.md ("Point-in-time semantics"), never computed.  Each case
runs with engine => 'merge' and engine => 'lateral'; for each engine:
  - build_training_set returns the number of expected rows;
  - the target table has the documented columns, in order (entity source columns, then the
    requested features in the requested order, named feature or view__feature);
  - its rows, sorted, equal the expected rows, sorted (output order is unspecified);
  - the SELECT that training_set_query returns gives the same rows.
Error cases check the SQLSTATE and that no target table was left behind.

Must run under Debian's /usr/bin/python3 (python3-psycopg2).
"""
import sys
import time

import psycopg2
import psycopg2.extensions

sys.dont_write_bytecode = True

ENGINES = ("merge", "lateral")
T12 = "2026-01-10 12:00:00+00"      # the usual entity time in the UTC cases

# ---------------------------------------------------------------------------
# definitions shared by several cases
# ---------------------------------------------------------------------------
COMMON_SETUP = """
SELECT mlops.create_entity('customer', '{customer_id}');
SELECT mlops.create_entity('store_product', '{store_id,product_id}');
SELECT mlops.create_entity('region_code', '{region,code}');

-- the plainest view: one key, no ttl, no created timestamp
CREATE TABLE f_exact (customer_id int, ts timestamptz, v int);
INSERT INTO f_exact VALUES
  (1, '2026-01-10 11:00:00+00', 9),
  (1, '2026-01-10 12:00:00+00', 10),
  (1, '2026-01-10 12:00:00.000001+00', 11);
SELECT mlops.create_feature_view('exact', '{customer}', 'f_exact', 'ts');

-- ttl of 2 hours
CREATE TABLE f_ttl (customer_id int, ts timestamptz, v int);
INSERT INTO f_ttl VALUES
  (1, '2026-01-10 10:00:00+00', 100),
  (2, '2026-01-10 09:59:59.999999+00', 200),
  (3, '2026-01-10 09:00:00+00', 301),
  (3, '2026-01-10 10:00:00+00', 300),
  (3, '2026-01-10 12:00:00.000001+00', 302);
SELECT mlops.create_feature_view('ttl2h', '{customer}', 'f_ttl', 'ts', ttl => '2 hours');

-- composite integer key, the source named with its schema
CREATE TABLE f_sp (store_id int, product_id int, ts timestamptz, price numeric(8,2));
INSERT INTO f_sp VALUES
  (1, 12, '2026-01-10 10:00:00+00', 1.12),
  (11, 2, '2026-01-10 10:00:00+00', 11.02),
  (1, 1, '2026-01-10 10:00:00+00', 1.01),
  (11, 2, '2026-01-10 12:30:00+00', 99.99),
  (12, NULL, '2026-01-10 10:00:00+00', 12.00),
  (NULL, 12, '2026-01-10 10:00:00+00', 0.12);
SELECT mlops.create_feature_view('sp', '{store_product}', 'public.f_sp', 'ts');

-- no created timestamp column, two features (by default: a, b, in column order)
CREATE TABLE f_nocreated (customer_id int, ts timestamptz, a int, b text COLLATE "C");
INSERT INTO f_nocreated VALUES
  (1, '2026-01-10 10:00:00+00', 1, 'z'),
  (1, '2026-01-10 10:00:00+00', 2, 'a'),
  (2, '2026-01-10 10:00:00+00', 5, 'a'),
  (2, '2026-01-10 10:00:00+00', 5, 'b'),
  (2, '2026-01-10 10:00:00+00', 5, NULL),
  (3, '2026-01-10 10:00:00+00', NULL, 'zz'),
  (3, '2026-01-10 10:00:00+00', 0, NULL),
  (4, '2026-01-10 10:00:00+00', 7, 'B'),
  (4, '2026-01-10 10:00:00+00', 7, 'a'),
  (5, '2026-01-10 10:00:00+00', NULL, NULL),
  (5, '2026-01-10 10:00:00+00', NULL, 'x'),
  (6, '2026-01-10 09:00:00+00', 100, 'zzz'),
  (6, '2026-01-10 10:00:00+00', -1, NULL);
SELECT mlops.create_feature_view('nocreated', '{customer}', 'f_nocreated', 'ts');
"""


def entity_rows(table, columns, rows):
    """CREATE TABLE + INSERT for an entity source; rows are SQL literals."""
    vals = ",\n  ".join("(" + ", ".join(r) + ")" for r in rows)
    return f"CREATE TABLE {table} ({columns});\nINSERT INTO {table} VALUES\n  {vals};\n"


# ---------------------------------------------------------------------------
# the cases: name, what it checks, setup SQL, session settings, entity source, features,
# options, expected columns, expected rows (text form, None for NULL)
# ---------------------------------------------------------------------------
CASES = [
    dict(
        name="exact_timestamp",
        doc="r.ts = T is included; a row 1 us after T is not; nothing at or before T gives NULL",
        setup=entity_rows("e_exact", "row_id int, customer_id int, event_timestamp timestamptz", [
            ("1", "1", "'2026-01-10 12:00:00+00'"),
            ("2", "1", "'2026-01-10 11:59:59.999999+00'"),
            ("3", "1", "'2026-01-10 12:00:00.000001+00'"),
            ("4", "1", "'2026-01-10 10:59:59.999999+00'"),
        ]),
        entity="e_exact", features=["exact:v"],
        columns=["row_id", "customer_id", "event_timestamp", "v"],
        rows=[
            ("1", "1", "2026-01-10 12:00:00+00", "10"),           # r.ts = T
            ("2", "1", "2026-01-10 11:59:59.999999+00", "9"),     # 12:00 is 1 us after T
            ("3", "1", "2026-01-10 12:00:00.000001+00", "11"),    # r.ts = T again
            ("4", "1", "2026-01-10 10:59:59.999999+00", None),    # 11:00 is 1 us after T
        ]),
    dict(
        name="ttl_boundary",
        doc="ttl 2 hours: r.ts = T - ttl included, T - ttl - 1 us excluded",
        setup=entity_rows("e_ttl", "row_id int, customer_id int, event_timestamp timestamptz", [
            ("1", "1", "'2026-01-10 12:00:00+00'"),
            ("2", "1", "'2026-01-10 12:00:00.000001+00'"),
            ("3", "2", "'2026-01-10 12:00:00+00'"),
            ("4", "2", "'2026-01-10 11:59:59.999999+00'"),
            ("5", "3", "'2026-01-10 12:00:00+00'"),
            ("6", "3", "'2026-01-10 09:59:59.999999+00'"),
            ("7", "3", "'2026-01-10 11:00:00+00'"),
            ("8", "3", "'2026-01-10 12:00:00.000001+00'"),
            ("9", "3", "'2026-01-10 14:00:00.000001+00'"),
        ]),
        entity="e_ttl", features=["ttl2h:v"],
        columns=["row_id", "customer_id", "event_timestamp", "v"],
        rows=[
            ("1", "1", "2026-01-10 12:00:00+00", "100"),          # 10:00 = T - 2 h exactly
            ("2", "1", "2026-01-10 12:00:00.000001+00", None),    # 10:00 = T - 2 h - 1 us
            ("3", "2", "2026-01-10 12:00:00+00", None),           # 09:59:59.999999 = T - 2 h - 1 us
            ("4", "2", "2026-01-10 11:59:59.999999+00", "200"),   # = T - 2 h exactly
            ("5", "3", "2026-01-10 12:00:00+00", "300"),          # 10:00 in, 09:00 too old, 12:00:00.000001 after T
            ("6", "3", "2026-01-10 09:59:59.999999+00", "301"),   # only 09:00 (10:00 is after T)
            ("7", "3", "2026-01-10 11:00:00+00", "300"),          # 09:00 and 10:00 in: the newer
            ("8", "3", "2026-01-10 12:00:00.000001+00", "302"),   # r.ts = T
            ("9", "3", "2026-01-10 14:00:00.000001+00", "302"),   # 12:00:00.000001 = T - 2 h exactly
        ]),
    dict(
        name="created_ties",
        doc="equal event timestamps: greatest created wins; NULL created loses; then the feature",
        setup="""
CREATE TABLE f_created (customer_id int, ts timestamptz, created timestamptz, v int);
INSERT INTO f_created VALUES
  (1, '2026-01-10 10:00:00+00', '2026-01-10 10:05:00+00', 1),
  (1, '2026-01-10 10:00:00+00', '2026-01-10 10:10:00+00', 2),
  (1, '2026-01-10 10:00:00+00', '2026-01-10 10:01:00+00', 3),
  (2, '2026-01-10 10:00:00+00', '2026-01-10 10:00:00+00', 20),
  (2, '2026-01-10 09:00:00+00', '2026-01-10 11:00:00+00', 21),
  (3, '2026-01-10 10:00:00+00', NULL, 99),
  (3, '2026-01-10 10:00:00+00', '2026-01-01 00:00:00+00', 30),
  (4, '2026-01-10 10:00:00+00', NULL, 40),
  (4, '2026-01-10 10:00:00+00', NULL, 41),
  (5, '2026-01-10 10:00:00+00', '2026-01-10 10:00:00+00', NULL),
  (5, '2026-01-10 10:00:00+00', '2026-01-10 10:00:00+00', 50),
  (6, '2026-01-10 10:00:00+00', '2026-01-10 10:00:00.000001+00', 60),
  (6, '2026-01-10 10:00:00+00', '2026-01-10 10:00:00+00', 61),
  (7, '2026-01-10 10:00:00+00', '2026-01-20 00:00:00+00', 70),
  (7, '2026-01-10 10:00:00+00', '2026-01-09 00:00:00+00', 71),
  (8, '2026-01-10 10:00:00+00', NULL, 80),
  (8, '2026-01-10 10:00:00+00', NULL, NULL);
SELECT mlops.create_feature_view('created', '{customer}', 'f_created', 'ts', features => '{v}',
                                 created_timestamp_column => 'created');
""" + entity_rows("e_created", "customer_id int, event_timestamp timestamptz",
                  [(str(c), f"'{T12}'") for c in range(1, 9)]),
        entity="e_created", features=["created:v"],
        columns=["customer_id", "event_timestamp", "v"],
        rows=[
            ("1", T12, "2"),      # created 10:10 beats 10:05 and 10:01 (v 3 is greater, created decides first)
            ("2", T12, "20"),     # ts 10:00 beats ts 09:00 whatever created
            ("3", T12, "30"),     # a NULL created loses to a non-NULL one
            ("4", T12, "41"),     # both created NULL: greater v
            ("5", T12, "50"),     # equal created: NULL v loses
            ("6", T12, "60"),     # created 1 us greater
            ("7", T12, "70"),     # created after T still counts: only r.ts is bounded by T
            ("8", T12, "80"),     # created NULL on both, v NULL loses
        ]),
    dict(
        name="no_created_ties",
        doc="no created column: ties broken by V's features in V's order, DESC NULLS LAST, C collation",
        setup=entity_rows("e_nocreated", "customer_id int, event_timestamp timestamptz",
                          [(str(c), f"'{T12}'") for c in range(1, 8)]),
        entity="e_nocreated", features=["nocreated:b", "nocreated:a"],
        columns=["customer_id", "event_timestamp", "b", "a"],
        rows=[
            ("1", T12, "a", "2"),       # a decides first (V's order is a, b; the request order is not)
            ("2", T12, "b", "5"),       # a ties; 'b' > 'a' > NULL
            ("3", T12, None, "0"),      # NULL a loses to 0
            ("4", T12, "a", "7"),       # COLLATE "C": 'a' (0x61) > 'B' (0x42)
            ("5", T12, "x", None),      # a NULL on both; b 'x' beats NULL
            ("6", T12, None, "-1"),     # newer ts wins whatever the features
            ("7", T12, None, None),     # no rows
        ]),
    dict(
        name="no_created_ties_subset",
        doc="only b requested: the row is still chosen by a first (V's features), so b comes from it",
        setup="",
        entity="e_nocreated", features=["nocreated:b"],
        columns=["customer_id", "event_timestamp", "b"],
        rows=[
            ("1", T12, "a"),    # row (2, 'a') wins on a, not (1, 'z')
            ("2", T12, "b"),
            ("3", T12, None),   # row (0, NULL) wins on a, not (NULL, 'zz')
            ("4", T12, "a"),
            ("5", T12, "x"),
            ("6", T12, None),
            ("7", T12, None),
        ]),
    dict(
        name="icu_collation_ties",
        doc="text ties compare by the column's collation: und-x-icu puts 'B' after 'a' (C does not)",
        needs_icu=True,
        setup="""
CREATE TABLE f_icu (customer_id int, ts timestamptz, s text COLLATE "und-x-icu");
INSERT INTO f_icu VALUES
  (1, '2026-01-10 10:00:00+00', 'a'),
  (1, '2026-01-10 10:00:00+00', 'B'),
  (2, '2026-01-10 10:00:00+00', 'b'),
  (2, '2026-01-10 10:00:00+00', 'A'),
  (2, '2026-01-10 10:00:00+00', 'Z');
SELECT mlops.create_feature_view('icu', '{customer}', 'f_icu', 'ts');
""" + entity_rows("e_icu", "customer_id int, event_timestamp timestamptz",
                  [("1", f"'{T12}'"), ("2", f"'{T12}'")]),
        entity="e_icu", features=["icu:s"],
        columns=["customer_id", "event_timestamp", "s"],
        rows=[
            ("1", T12, "B"),    # ICU root: a < A < b < B
            ("2", T12, "Z"),    # ICU root: A < b < Z (in C: 'b' would win)
        ]),
    dict(
        name="float_ties",
        doc="float8 ties as PostgreSQL orders them: NaN above Infinity above every number, NULL last",
        setup="""
CREATE TABLE f_float (customer_id int, ts timestamptz, x float8);
INSERT INTO f_float VALUES
  (1, '2026-01-10 10:00:00+00', 1e308),
  (1, '2026-01-10 10:00:00+00', 'NaN'),
  (1, '2026-01-10 10:00:00+00', 'Infinity'),
  (2, '2026-01-10 10:00:00+00', '-Infinity'),
  (2, '2026-01-10 10:00:00+00', NULL),
  (2, '2026-01-10 10:00:00+00', 'Infinity'),
  (3, '2026-01-10 10:00:00+00', NULL),
  (3, '2026-01-10 10:00:00+00', '-Infinity'),
  (4, '2026-01-10 10:00:00+00', 0.1),
  (4, '2026-01-10 10:00:00+00', 0.30000000000000004),
  (4, '2026-01-10 10:00:00+00', 0.3);
SELECT mlops.create_feature_view('floats', '{customer}', 'f_float', 'ts');
""" + entity_rows("e_float", "customer_id int, event_timestamp timestamptz",
                  [(str(c), f"'{T12}'") for c in range(1, 5)]),
        entity="e_float", features=["floats:x"],
        columns=["customer_id", "event_timestamp", "x"],
        rows=[
            ("1", T12, "NaN"),
            ("2", T12, "Infinity"),
            ("3", T12, "-Infinity"),
            ("4", T12, "0.30000000000000004"),
        ]),
    dict(
        name="composite_int_keys",
        doc="(1,12) never gets (11,2)'s features; keys compare column by column; NULL keys never match",
        setup=entity_rows("e_sp", "store_id int, product_id int, event_timestamp timestamptz", [
            ("1", "12", f"'{T12}'"), ("11", "2", f"'{T12}'"), ("1", "2", f"'{T12}'"),
            ("11", "12", f"'{T12}'"), ("111", "2", f"'{T12}'"), ("2", "11", f"'{T12}'"),
            ("12", "1", f"'{T12}'"), ("1", "1", f"'{T12}'"), ("12", "NULL", f"'{T12}'"),
            ("NULL", "12", f"'{T12}'"), ("NULL", "NULL", f"'{T12}'"),
        ]),
        entity="e_sp", features=["sp:price"],
        columns=["store_id", "product_id", "event_timestamp", "price"],
        rows=[
            ("1", "12", T12, "1.12"),
            ("11", "2", T12, "11.02"),   # its 12:30 row is after T
            ("1", "2", T12, None),
            ("11", "12", T12, None),
            ("111", "2", T12, None),
            ("2", "11", T12, None),
            ("12", "1", T12, None),
            ("1", "1", T12, "1.01"),
            ("12", None, T12, None),     # the feature row (12, NULL) does not match
            (None, "12", T12, None),     # nor (NULL, 12)
            (None, None, T12, None),
        ]),
    dict(
        name="int_keys_at_their_ends",
        doc="integer keys the merge engine packs or indexes directly: a (smallint, int) key with "
            "negative values and both types' ends ((-1,-1) is not (-1,0) nor (0,-1)); one bigint key at "
            "its ends (no direct index) and one int key dense around zero with negatives",
        setup="""
SELECT mlops.create_entity('small_int', '{a,b}');
CREATE TABLE f_si (a smallint, b int, ts timestamptz, v int);
INSERT INTO f_si VALUES
  (-1, -1, '2026-01-10 10:00:00+00', 1), (-1, 0, '2026-01-10 10:00:00+00', 2),
  (0, -1, '2026-01-10 10:00:00+00', 3), (-32768, 2147483647, '2026-01-10 10:00:00+00', 4),
  (32767, -2147483648, '2026-01-10 10:00:00+00', 5), (0, 0, '2026-01-10 10:00:00+00', 6);
SELECT mlops.create_feature_view('si', '{small_int}', 'f_si', 'ts');
SELECT mlops.create_entity('big', '{k}');
CREATE TABLE f_big (k bigint, ts timestamptz, w int);
INSERT INTO f_big VALUES
  (-9223372036854775808, '2026-01-10 10:00:00+00', 10), (9223372036854775807, '2026-01-10 10:00:00+00', 20),
  (0, '2026-01-10 10:00:00+00', 30), (-1, '2026-01-10 10:00:00+00', 40);
SELECT mlops.create_feature_view('big', '{big}', 'f_big', 'ts');
SELECT mlops.create_entity('dense', '{d}');
CREATE TABLE f_dense (d int, ts timestamptz, x int);
INSERT INTO f_dense SELECT i, '2026-01-10 10:00:00+00', 100 + i FROM generate_series(-5, 5) i WHERE i <> 2;
INSERT INTO f_dense VALUES (-2147483648, '2026-01-10 10:00:00+00', -1), (2147483647, '2026-01-10 10:00:00+00', -2);
SELECT mlops.create_feature_view('dense', '{dense}', 'f_dense', 'ts');
""" + entity_rows("e_ik", "a smallint, b int, k bigint, d int, event_timestamp timestamptz", [
            ("-1", "-1", "-9223372036854775808", "-5", f"'{T12}'"),
            ("-1", "0", "9223372036854775807", "5", f"'{T12}'"),
            ("0", "-1", "0", "0", f"'{T12}'"),
            ("-32768", "2147483647", "-1", "2", f"'{T12}'"),
            ("32767", "-2147483648", "1", "-6", f"'{T12}'"),
            ("0", "0", "9223372036854775806", "6", f"'{T12}'"),
            ("-1", "1", "-9223372036854775807", "-4", f"'{T12}'"),
            ("1", "-1", "NULL", "NULL", f"'{T12}'"),
        ]),
        entity="e_ik", features=["si:v", "big:w", "dense:x"],
        columns=["a", "b", "k", "d", "event_timestamp", "v", "w", "x"],
        rows=[
            ("-1", "-1", "-9223372036854775808", "-5", T12, "1", "10", "95"),
            ("-1", "0", "9223372036854775807", "5", T12, "2", "20", "105"),
            ("0", "-1", "0", "0", T12, "3", "30", "100"),
            ("-32768", "2147483647", "-1", "2", T12, "4", "40", None),
            ("32767", "-2147483648", "1", "-6", T12, "5", None, None),
            ("0", "0", "9223372036854775806", "6", T12, "6", None, None),
            ("-1", "1", "-9223372036854775807", "-4", T12, None, None, "96"),
            ("1", "-1", None, None, T12, None, None, None),
        ]),
    dict(
        name="composite_text_keys",
        doc="text keys whose concatenations (with or without a separator) collide stay apart",
        setup="""
CREATE TABLE f_rc (region text, code text, ts timestamptz, v int);
INSERT INTO f_rc VALUES
  ('a', 'bc', '2026-01-10 10:00:00+00', 1),
  ('ab', 'c', '2026-01-10 10:00:00+00', 2),
  ('a|b', 'c', '2026-01-10 10:00:00+00', 3),
  ('a', 'b|c', '2026-01-10 10:00:00+00', 4),
  ('a,b', 'c', '2026-01-10 10:00:00+00', 5),
  ('a', 'b,c', '2026-01-10 10:00:00+00', 6),
  ('', 'abc', '2026-01-10 10:00:00+00', 7),
  ('abc', '', '2026-01-10 10:00:00+00', 8),
  ('a b', 'c', '2026-01-10 10:00:00+00', 9),
  ('a', 'b c', '2026-01-10 10:00:00+00', 10),
  ('a', E'b\\tc', '2026-01-10 10:00:00+00', 11),
  ('("a"', 'b)', '2026-01-10 10:00:00+00', 12),
  ('abc', NULL, '2026-01-10 10:00:00+00', 13);
SELECT mlops.create_feature_view('rc', '{region_code}', 'f_rc', 'ts');
""" + entity_rows("e_rc", "region text, code text, event_timestamp timestamptz", [
            ("'a'", "'bc'", f"'{T12}'"), ("'ab'", "'c'", f"'{T12}'"), ("'a|b'", "'c'", f"'{T12}'"),
            ("'a'", "'b|c'", f"'{T12}'"), ("'a,b'", "'c'", f"'{T12}'"), ("'a'", "'b,c'", f"'{T12}'"),
            ("''", "'abc'", f"'{T12}'"), ("'abc'", "''", f"'{T12}'"), ("'a b'", "'c'", f"'{T12}'"),
            ("'a'", "'b c'", f"'{T12}'"), ("'a'", "E'b\\tc'", f"'{T12}'"), ("'(\"a\"'", "'b)'", f"'{T12}'"),
            ("'abc'", "NULL", f"'{T12}'"), ("'a'", "'b'", f"'{T12}'"), ("'abc'", "'c'", f"'{T12}'"),
        ]),
        entity="e_rc", features=["rc:v"],
        columns=["region", "code", "event_timestamp", "v"],
        rows=[
            ("a", "bc", T12, "1"), ("ab", "c", T12, "2"), ("a|b", "c", T12, "3"),
            ("a", "b|c", T12, "4"), ("a,b", "c", T12, "5"), ("a", "b,c", T12, "6"),
            ("", "abc", T12, "7"), ("abc", "", T12, "8"), ("a b", "c", T12, "9"),
            ("a", "b c", T12, "10"), ("a", "b\tc", T12, "11"), ('("a"', "b)", T12, "12"),
            ("abc", None, T12, None),    # NULL key on both sides: no match
            ("a", "b", T12, None), ("abc", "c", T12, None),
        ]),
    dict(
        name="late_arriving",
        doc="a row inserted last with an older event time (and the newest created) does not win",
        setup="""
CREATE TABLE f_late (customer_id int, ts timestamptz, created timestamptz, v int);
INSERT INTO f_late VALUES (1, '2026-01-10 10:00:00+00', '2026-01-10 10:00:00+00', 1);
INSERT INTO f_late VALUES (1, '2026-01-10 11:00:00+00', '2026-01-10 11:00:00+00', 2);
INSERT INTO f_late VALUES (1, '2026-01-10 09:00:00+00', '2026-01-10 13:00:00+00', 3);
SELECT mlops.create_feature_view('late', '{customer}', 'f_late', 'ts', created_timestamp_column => 'created');
CREATE TABLE f_late2 (customer_id int, ts timestamptz, w int);
INSERT INTO f_late2 VALUES (1, '2026-01-10 11:00:00+00', 2);
INSERT INTO f_late2 VALUES (1, '2026-01-10 10:00:00+00', 1);
INSERT INTO f_late2 VALUES (1, '2026-01-10 09:00:00+00', 999);
SELECT mlops.create_feature_view('late2', '{customer}', 'SELECT customer_id, ts, w FROM f_late2', 'ts');
""" + entity_rows("e_late", "customer_id int, event_timestamp timestamptz", [
            ("1", f"'{T12}'"), ("1", "'2026-01-10 10:30:00+00'"), ("1", "'2026-01-10 09:30:00+00'"),
            ("1", "'2026-01-10 08:59:59.999999+00'"),
        ]),
        entity="e_late", features=["late:v", "late2:w"],
        columns=["customer_id", "event_timestamp", "v", "w"],
        rows=[
            ("1", T12, "2", "2"),
            ("1", "2026-01-10 10:30:00+00", "1", "1"),
            ("1", "2026-01-10 09:30:00+00", "3", "999"),   # the late rows are right for an earlier T
            ("1", "2026-01-10 08:59:59.999999+00", None, None),
        ]),
    dict(
        name="entity_rows",
        doc="no feature rows -> NULL, row kept; duplicate entity rows each kept with features; "
            "NULL keys never match; bigint entity key against an int view key; columns kept in order",
        setup="""
CREATE TABLE f_basic (customer_id int, ts timestamptz, v int, w text);
INSERT INTO f_basic VALUES
  (1, '2026-01-10 10:00:00+00', 10, 'one'),
  (2, '2026-01-10 10:00:00+00', 20, 'two'),
  (NULL, '2026-01-10 10:00:00+00', 0, 'null key'),
  (NULL, '2026-01-10 11:00:00+00', NULL, NULL),
  (3, NULL, 30, 'null time');
SELECT mlops.create_feature_view('basic', '{customer}', 'f_basic', 'ts');
CREATE TABLE e_basic (label text, event_timestamp timestamptz, customer_id bigint, weight float8);
INSERT INTO e_basic VALUES
  ('x', '2026-01-10 12:00:00+00', 1, 0.5),
  ('x', '2026-01-10 12:00:00+00', 1, 0.5),
  ('x', '2026-01-10 12:00:00+00', 1, 0.5),
  ('y', '2026-01-10 12:00:00+00', 2, NULL),
  ('no rows', '2026-01-10 12:00:00+00', 42, 1),
  ('null key', '2026-01-10 12:00:00+00', NULL, 2),
  ('null key', '2026-01-10 12:00:00+00', NULL, 2),
  ('before', '2026-01-10 09:00:00+00', 2, 3),
  ('null ts row', '2026-01-10 12:00:00+00', 3, 4);
""",
        entity="e_basic", features=["basic:w", "basic:v"],
        columns=["label", "event_timestamp", "customer_id", "weight", "w", "v"],
        rows=[
            ("x", T12, "1", "0.5", "one", "10"),
            ("x", T12, "1", "0.5", "one", "10"),
            ("x", T12, "1", "0.5", "one", "10"),
            ("y", T12, "2", None, "two", "20"),
            ("no rows", T12, "42", "1", None, None),
            ("null key", T12, None, "2", None, None),
            ("null key", T12, None, "2", None, None),
            ("before", "2026-01-10 09:00:00+00", "2", "3", None, None),
            ("null ts row", T12, "3", "4", None, None),   # a feature row with a NULL ts is never a candidate
        ]),
    dict(
        name="null_event_time",
        doc="an entity row with a NULL event time has no candidate (r.ts <= NULL): NULL features, row kept",
        setup=entity_rows("e_nullts", "customer_id int, event_timestamp timestamptz",
                          [("1", "NULL"), ("1", f"'{T12}'")]),
        entity="e_nullts", features=["basic:v"],
        columns=["customer_id", "event_timestamp", "v"],
        rows=[("1", None, None), ("1", T12, "10")]),
    dict(
        name="dst_ttl_1day",
        doc="TimeZone America/New_York, ttl '1 day' = exactly 86,400 s across both 2026 DST changes",
        tz="America/New_York",
        setup="""
CREATE TABLE f_dst (customer_id int, ts timestamptz, v text);
INSERT INTO f_dst VALUES
  (1, '2026-03-07 12:00:00-05', 'spring: 23 h before T'),
  (2, '2026-03-07 11:00:00-05', 'spring: 24 h before T'),
  (3, '2026-03-07 10:59:59.999999-05', 'spring: 24 h 1 us before T'),
  (4, '2026-10-31 13:00:00-04', 'fall: 24 h before T'),
  (5, '2026-10-31 12:59:59.999999-04', 'fall: 24 h 1 us before T'),
  (6, '2026-10-31 12:00:00-04', 'fall: 25 h before T'),
  (7, '2026-03-08 12:00:00-04', 'day after: 24 h before T'),
  (8, '2026-03-08 11:59:59.999999-04', 'day after: 24 h 1 us before T'),
  (9, '2026-03-08 11:00:00-04', 'day after: 25 h before T');
SELECT mlops.create_feature_view('dst', '{customer}', 'f_dst', 'ts', ttl => '1 day');
CREATE TABLE e_dst (customer_id int, event_timestamp timestamptz);
INSERT INTO e_dst VALUES
  (1, '2026-03-08 12:00:00-04'), (2, '2026-03-08 12:00:00-04'), (3, '2026-03-08 12:00:00-04'),
  (4, '2026-11-01 12:00:00-05'), (5, '2026-11-01 12:00:00-05'), (6, '2026-11-01 12:00:00-05'),
  (7, '2026-03-09 12:00:00-04'), (8, '2026-03-09 12:00:00-04'), (9, '2026-03-09 12:00:00-04');
""",
        entity="e_dst", features=["dst:v"],
        columns=["customer_id", "event_timestamp", "v"],
        rows=[
            # T = 2026-03-08 12:00 EDT = 16:00 UTC; T - 86,400 s = 2026-03-07 16:00 UTC = 11:00 EST
            ("1", "2026-03-08 12:00:00-04", "spring: 23 h before T"),       # 3-07 12:00 EST = 17:00 UTC
            ("2", "2026-03-08 12:00:00-04", "spring: 24 h before T"),       # the bound exactly
            ("3", "2026-03-08 12:00:00-04", None),
            # T = 2026-11-01 12:00 EST = 17:00 UTC; T - 86,400 s = 2026-10-31 17:00 UTC = 13:00 EDT
            ("4", "2026-11-01 12:00:00-05", "fall: 24 h before T"),         # the bound exactly
            ("5", "2026-11-01 12:00:00-05", None),
            ("6", "2026-11-01 12:00:00-05", None),                         # "1 day" by the calendar, 25 h
            # T = 2026-03-09 12:00 EDT = 16:00 UTC; T - 86,400 s = 2026-03-08 16:00 UTC = 12:00 EDT
            ("7", "2026-03-09 12:00:00-04", "day after: 24 h before T"),
            ("8", "2026-03-09 12:00:00-04", None),
            ("9", "2026-03-09 12:00:00-04", None),
        ]),
    dict(
        name="timestamp_view_tz_entity",
        doc="a timestamp (without time zone) view, timestamptz entity times: T is converted with "
            "TimeZone America/New_York; ttl 1 day on local wall-clock time",
        tz="America/New_York",
        setup="""
CREATE TABLE f_local (customer_id int, local_ts timestamp, v int);
INSERT INTO f_local VALUES
  (1, '2026-03-08 12:00:00', 1),
  (1, '2026-03-08 12:00:00.000001', 2),
  (2, '2026-03-08 11:00:00', 3),
  (2, '2026-03-08 15:00:00', 4),
  (3, '2026-03-07 12:00:00', 5),
  (4, '2026-03-07 11:59:59.999999', 6),
  (5, '2026-01-10 07:00:00', 7),
  (5, '2026-01-10 12:00:00', 8);
SELECT mlops.create_feature_view('localts', '{customer}', 'f_local', 'local_ts', ttl => '1 day');
CREATE TABLE e_local (customer_id int, event_timestamp timestamptz);
INSERT INTO e_local VALUES
  (1, '2026-03-08 16:00:00+00'), (2, '2026-03-08 16:00:00+00'), (3, '2026-03-08 16:00:00+00'),
  (4, '2026-03-08 16:00:00+00'), (5, '2026-01-10 12:00:00+00');
""",
        entity="e_local", features=["localts:v"],
        columns=["customer_id", "event_timestamp", "v"],
        rows=[
            # T = 16:00 UTC = 12:00 local (EDT)
            ("1", "2026-03-08 12:00:00-04", "1"),     # local 12:00 = T; 12:00:00.000001 after
            ("2", "2026-03-08 12:00:00-04", "3"),     # 15:00 local is after T (it is not if T were UTC)
            ("3", "2026-03-08 12:00:00-04", "5"),     # local T - 86,400 s exactly
            ("4", "2026-03-08 12:00:00-04", None),    # 1 us before that
            # T = 12:00 UTC = 07:00 local (EST)
            ("5", "2026-01-10 07:00:00-05", "7"),     # 12:00 local is after T
        ]),
    dict(
        name="tz_view_timestamp_entity",
        doc="a timestamptz view, timestamp (without time zone) entity times: T is local Asia/Kolkata "
            "(+05:30) time converted to timestamptz",
        tz="Asia/Kolkata",
        setup=entity_rows("e_kolkata", "customer_id int, asof timestamp", [
            ("1", "'2026-01-10 17:30:00'"), ("1", "'2026-01-10 17:29:59.999999'"),
            ("1", "'2026-01-10 16:30:00'"), ("1", "'2026-01-10 12:00:00'"),
        ]),
        entity="e_kolkata", features=["exact:v"], options=dict(event_timestamp_column="asof"),
        columns=["customer_id", "asof", "v"],
        rows=[
            ("1", "2026-01-10 17:30:00", "10"),           # = 12:00 UTC
            ("1", "2026-01-10 17:29:59.999999", "9"),     # 1 us before 12:00 UTC
            ("1", "2026-01-10 16:30:00", "9"),            # 11:00 UTC
            ("1", "2026-01-10 12:00:00", None),           # 06:30 UTC (taken as UTC it would be 10)
        ]),
    dict(
        name="infinite_times",
        doc="'infinity' and '-infinity' feature times, 'infinity' entity times, with and without a ttl "
            "(PostgreSQL: infinity minus a ttl is infinity)",
        setup="""
CREATE TABLE f_inf (customer_id int, ts timestamptz, v int);
INSERT INTO f_inf VALUES
  (1, '-infinity', 1),
  (1, '2026-01-10 10:00:00+00', 2),
  (2, '-infinity', 3),
  (3, 'infinity', 4),
  (3, '2026-01-10 10:00:00+00', 5);
SELECT mlops.create_feature_view('inf_nottl', '{customer}', 'f_inf', 'ts');
SELECT mlops.create_feature_view('inf_ttl', '{customer}', 'f_inf', 'ts', ttl => '2 hours');
""" + entity_rows("e_inf", "customer_id int, event_timestamp timestamptz", [
            ("1", f"'{T12}'"), ("1", "'infinity'"), ("2", f"'{T12}'"), ("2", "'infinity'"),
            ("3", f"'{T12}'"), ("3", "'infinity'"),
        ]),
        entity="e_inf", features=["inf_nottl:v", "inf_ttl:v"], options=dict(full_feature_names=True),
        columns=["customer_id", "event_timestamp", "inf_nottl__v", "inf_ttl__v"],
        rows=[
            ("1", T12, "2", "2"),
            ("1", "infinity", "2", None),     # T - ttl = infinity: only a row at infinity would do
            ("2", T12, "3", None),            # -infinity is before T - ttl
            ("2", "infinity", "3", None),
            ("3", T12, "5", "5"),             # infinity is after T
            ("3", "infinity", "4", "4"),      # infinity <= T and >= T - ttl = infinity
        ]),
    dict(
        name="minus_infinity_entity_time",
        doc="'-infinity' entity times (T - ttl = -infinity) next to finite ones, with a ttl",
        setup=entity_rows("e_ninf", "customer_id int, event_timestamp timestamptz", [
            ("1", f"'{T12}'"), ("1", "'-infinity'"), ("2", "'-infinity'"), ("2", f"'{T12}'"),
            ("2", "'infinity'"), ("3", f"'{T12}'"),
        ]),
        entity="e_ninf", features=["inf_ttl:v"],
        columns=["customer_id", "event_timestamp", "v"],
        rows=[
            ("1", T12, "2"),              # as in infinite_times: the -infinity rows beside it change nothing
            ("1", "-infinity", "1"),      # -infinity <= T and >= T - ttl = -infinity
            ("2", "-infinity", "3"),
            ("2", T12, None),             # its only row, at -infinity, is before T - ttl
            ("2", "infinity", None),      # and before T - ttl = infinity
            ("3", T12, "5"),
        ]),
    dict(
        name="times_around_2000",
        doc="ttl bounds across 2000-01-01 (PostgreSQL's epoch: negative internal times) and in 1900",
        setup="""
CREATE TABLE f_y2k (customer_id int, ts timestamptz, v int);
INSERT INTO f_y2k VALUES
  (1, '1999-12-31 22:00:00+00', 1),
  (2, '1999-12-31 21:59:59.999999+00', 2),
  (3, '2000-01-01 00:00:00+00', 3),
  (3, '1999-12-31 23:00:00+00', 4),
  (4, '1900-01-01 00:00:00+00', 5),
  (4, '1899-12-31 21:59:59.999999+00', 6);
SELECT mlops.create_feature_view('y2k', '{customer}', 'f_y2k', 'ts', ttl => '2 hours');
""" + entity_rows("e_y2k", "customer_id int, event_timestamp timestamptz", [
            ("1", "'2000-01-01 00:00:00+00'"), ("1", "'2000-01-01 00:00:00.000001+00'"),
            ("2", "'2000-01-01 00:00:00+00'"), ("2", "'1999-12-31 23:59:59.999999+00'"),
            ("3", "'1999-12-31 23:59:59.999999+00'"), ("3", "'2000-01-01 00:00:00+00'"),
            ("4", "'1900-01-01 01:59:59.999999+00'"), ("4", "'1899-12-31 23:59:59.999999+00'"),
            ("4", "'1899-12-31 23:59:59.999998+00'"),
        ]),
        entity="e_y2k", features=["y2k:v"],
        columns=["customer_id", "event_timestamp", "v"],
        rows=[
            ("1", "2000-01-01 00:00:00+00", "1"),            # T - 2 h exactly
            ("1", "2000-01-01 00:00:00.000001+00", None),    # 1 us past
            ("2", "2000-01-01 00:00:00+00", None),           # 1 us past
            ("2", "1999-12-31 23:59:59.999999+00", "2"),     # T - 2 h exactly
            ("3", "1999-12-31 23:59:59.999999+00", "4"),     # the 2000 row is 1 us after T
            ("3", "2000-01-01 00:00:00+00", "3"),
            ("4", "1900-01-01 01:59:59.999999+00", "5"),
            ("4", "1899-12-31 23:59:59.999999+00", "6"),     # T - 2 h exactly
            ("4", "1899-12-31 23:59:59.999998+00", "6"),
        ]),
    dict(
        name="empty_sources",
        doc="an empty entity source gives 0 rows and the columns; an empty view gives NULLs",
        setup="""
CREATE TABLE f_empty (customer_id int, ts timestamptz, v int);
SELECT mlops.create_feature_view('empty', '{customer}', 'f_empty', 'ts', ttl => '1 hour');
CREATE TABLE e_empty (customer_id int, event_timestamp timestamptz);
""",
        entity="e_empty", features=["exact:v", "empty:v"], options=dict(full_feature_names=True),
        columns=["customer_id", "event_timestamp", "exact__v", "empty__v"],
        rows=[]),
    dict(
        name="empty_view",
        doc="a view without rows: NULL features, every entity row kept",
        setup="",
        entity="e_exact", features=["empty:v", "exact:v"], options=dict(full_feature_names=True),
        columns=["row_id", "customer_id", "event_timestamp", "empty__v", "exact__v"],
        rows=[
            ("1", "1", "2026-01-10 12:00:00+00", None, "10"),
            ("2", "1", "2026-01-10 11:59:59.999999+00", None, "9"),
            ("3", "1", "2026-01-10 12:00:00.000001+00", None, "11"),
            ("4", "1", "2026-01-10 10:59:59.999999+00", None, None),
        ]),
    dict(
        name="numeric_keys",
        doc="numeric keys compare by value (1.0 = 1.00), an int entity key against a numeric view key",
        setup="""
SELECT mlops.create_entity('acct', '{acct}');
CREATE TABLE f_num (acct numeric, ts timestamptz, v int);
INSERT INTO f_num VALUES
  (1.00, '2026-01-10 10:00:00+00', 1),
  (2.5, '2026-01-10 10:00:00+00', 2),
  (3, '2026-01-10 10:00:00+00', 3);
SELECT mlops.create_feature_view('num', '{acct}', 'f_num', 'ts');
""" + entity_rows("e_num", "acct numeric, event_timestamp timestamptz", [
            ("1.0", f"'{T12}'"), ("1", f"'{T12}'"), ("2.50", f"'{T12}'"), ("2.5000001", f"'{T12}'"),
            ("3.000", f"'{T12}'"),
        ]) + entity_rows("e_num_int", "acct int, event_timestamp timestamptz", [
            ("1", f"'{T12}'"), ("3", f"'{T12}'"), ("2", f"'{T12}'"),
        ]),
        entity="e_num", features=["num:v"],
        columns=["acct", "event_timestamp", "v"],
        rows=[
            ("1.0", T12, "1"), ("1", T12, "1"), ("2.50", T12, "2"), ("2.5000001", T12, None),
            ("3.000", T12, "3"),
        ]),
    dict(
        name="numeric_keys_int_entity",
        doc="an int entity key cast to the view's numeric key",
        setup="",
        entity="e_num_int", features=["num:v"],
        columns=["acct", "event_timestamp", "v"],
        rows=[("1", T12, "1"), ("3", T12, "3"), ("2", T12, None)]),
    dict(
        name="two_views",
        doc="two views in one training set, one of them on a composite key; another event time column",
        setup=entity_rows("e_two", "row_id int, customer_id int, store_id int, product_id int, "
                                   "ts_at timestamptz", [
            ("1", "1", "1", "12", f"'{T12}'"),
            ("2", "1", "11", "2", "'2026-01-10 12:30:00+00'"),
            ("3", "2", "11", "2", "'2026-01-10 11:00:00+00'"),
            ("4", "1", "1", "2", "'2026-01-10 11:30:00+00'"),
            ("5", "NULL", "1", "1", f"'{T12}'"),
        ]),
        entity="e_two", features=["sp:price", "ttl2h:v", "exact:v"],
        options=dict(event_timestamp_column="ts_at", full_feature_names=True),
        columns=["row_id", "customer_id", "store_id", "product_id", "ts_at",
                 "sp__price", "ttl2h__v", "exact__v"],
        rows=[
            ("1", "1", "1", "12", T12, "1.12", "100", "10"),
            ("2", "1", "11", "2", "2026-01-10 12:30:00+00", "99.99", None, "11"),
            ("3", "2", "11", "2", "2026-01-10 11:00:00+00", "11.02", "200", None),
            ("4", "1", "1", "2", "2026-01-10 11:30:00+00", None, "100", "9"),
            ("5", None, "1", "1", T12, "1.01", None, None),
        ]),
    dict(
        name="same_name_error",
        doc="two output columns named v (exact:v and ttl2h:v) without full_feature_names: 42701",
        setup="",
        entity="e_exact", features=["exact:v", "ttl2h:v"], error="42701"),
    dict(
        name="entity_column_clash_error",
        doc="an entity source column named as a requested feature (v): 42701",
        setup=entity_rows("e_clash", "customer_id int, event_timestamp timestamptz, v int",
                          [("1", f"'{T12}'", "0")]),
        entity="e_clash", features=["exact:v"], error="42701"),
    dict(
        name="full_feature_names",
        doc="full_feature_names => true: view__feature for every feature, also when names collide",
        setup="",
        entity="e_exact", features=["ttl2h:v", "exact:v"], options=dict(full_feature_names=True),
        columns=["row_id", "customer_id", "event_timestamp", "ttl2h__v", "exact__v"],
        rows=[
            ("1", "1", "2026-01-10 12:00:00+00", "100", "10"),
            ("2", "1", "2026-01-10 11:59:59.999999+00", "100", "9"),
            ("3", "1", "2026-01-10 12:00:00.000001+00", None, "11"),
            ("4", "1", "2026-01-10 10:59:59.999999+00", "100", None),
        ]),
    dict(
        name="feature_service",
        doc="a feature service as the feature list: its features in its order",
        setup="""
SELECT mlops.create_feature_service('pit_svc', '{sp:price,nocreated:b,exact:v,nocreated:a}');
""" + entity_rows("e_svc", "customer_id int, product_id int, store_id int, event_timestamp timestamptz", [
            ("1", "12", "1", f"'{T12}'"),
            ("4", "2", "11", "'2026-01-10 11:00:00+00'"),
            ("2", "1", "1", "'2026-01-10 09:00:00+00'"),
        ]),
        entity="e_svc", features=["pit_svc"],
        columns=["customer_id", "product_id", "store_id", "event_timestamp", "price", "b", "v", "a"],
        rows=[
            ("1", "12", "1", T12, "1.12", "a", "10", "2"),
            ("4", "2", "11", "2026-01-10 11:00:00+00", "11.02", "a", None, "7"),   # customer 4: no exact rows
            ("2", "1", "1", "2026-01-10 09:00:00+00", None, None, None, None),
        ]),
    dict(
        name="feature_service_full_names",
        doc="a feature service with full_feature_names => true",
        setup="",
        entity="e_svc", features=["pit_svc"], options=dict(full_feature_names=True),
        columns=["customer_id", "product_id", "store_id", "event_timestamp",
                 "sp__price", "nocreated__b", "exact__v", "nocreated__a"],
        rows=[
            ("1", "12", "1", T12, "1.12", "a", "10", "2"),
            ("4", "2", "11", "2026-01-10 11:00:00+00", "11.02", "a", None, "7"),   # customer 4: no exact rows
            ("2", "1", "1", "2026-01-10 09:00:00+00", None, None, None, None),
        ]),
]


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------
FAILURES = []
CHECKED = 0


def fail(where, msg):
    FAILURES.append(f"{where}: {msg}")
    print(f"  FAIL {where}: {msg}", flush=True)


def sort_key(row):
    return tuple((v is None, "" if v is None else v) for v in row)


def show(rows):
    return "\n".join("      " + repr(r) for r in rows)


def compare_rows(where, got, want):
    global CHECKED
    CHECKED += 1
    g = sorted(got, key=sort_key)
    w = sorted(want, key=sort_key)
    if g == w:
        return True
    missing = [r for r in w if r not in g]
    extra = [r for r in g if r not in w]
    fail(where, f"{len(got)} rows, expected {len(want)}\n    expected, not got:\n{show(missing)}"
                f"\n    got, not expected:\n{show(extra)}")
    return False


def text_everything(conn):
    """Every type comes back as its text form (None for NULL)."""
    cur = conn.cursor()
    cur.execute("SELECT array_agg(oid::int) FROM pg_type")
    oids = tuple(cur.fetchone()[0])
    as_text = psycopg2.extensions.new_type(oids, "AS_TEXT", lambda v, c: v)
    psycopg2.extensions.register_type(as_text, conn)


def run_case(conn, case, have_icu):
    name = case["name"]
    if case.get("needs_icu") and not have_icu:
        print(f"skip {name}: no ICU collation und-x-icu in this build")
        return
    cur = conn.cursor()
    tz = case.get("tz", "UTC")
    cur.execute("SET TimeZone = %s", (tz,))
    if case["setup"]:
        cur.execute(case["setup"])
    opts = case.get("options", {})
    ets = opts.get("event_timestamp_column", "event_timestamp")
    ffn = opts.get("full_feature_names", False)
    before = len(FAILURES)
    for engine in ENGINES:
        where = f"{name} [{engine}]"
        target = f"pit_{name}_{engine}"
        args = dict(target=target, src=case["entity"], feats=case["features"], ets=ets, ffn=ffn,
                    engine=engine)
        call = ("SELECT mlops.build_training_set(%(target)s, %(src)s, %(feats)s::text[], "
                "event_timestamp_column => %(ets)s, full_feature_names => %(ffn)s, engine => %(engine)s)")
        if "error" in case:
            try:
                cur.execute(call, args)
                fail(where, f"build_training_set succeeded, expected SQLSTATE {case['error']}")
            except psycopg2.Error as e:
                if e.pgcode != case["error"]:
                    fail(where, f"SQLSTATE {e.pgcode} ({e.pgerror.strip()}), expected {case['error']}")
            cur.execute("SELECT to_regclass(%s) IS NULL", (target,))
            if cur.fetchone()[0] != "t":
                fail(where, f"the failed build left table {target} behind")
            continue
        try:
            cur.execute(call, args)
            n = cur.fetchone()[0]
        except psycopg2.Error as e:
            fail(where, f"build_training_set failed: {e.pgcode} {e.pgerror.strip()}")
            continue
        want_rows = case["rows"]
        if n is None or int(n) != len(want_rows):
            fail(where, f"build_training_set returned {n}, expected {len(want_rows)} rows")
        cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                    "AND NOT attisdropped ORDER BY attnum", (target,))
        cols = [r[0] for r in cur.fetchall()]
        if cols != case["columns"]:
            fail(where, f"target columns {cols}, expected {case['columns']}")
        cur.execute(f'SELECT * FROM "{target}"')
        got = [tuple(r) for r in cur.fetchall()]
        compare_rows(where + " table", got, want_rows)
        # the SELECT build_training_set runs, as training_set_query gives it
        try:
            cur.execute("SELECT mlops.training_set_query(%(src)s, %(feats)s::text[], "
                        "event_timestamp_column => %(ets)s, full_feature_names => %(ffn)s, "
                        "engine => %(engine)s)", args)
            query = cur.fetchone()[0]
            cur.execute(query)
            got_q = [tuple(r) for r in cur.fetchall()]
            qcols = [d[0] for d in cur.description]
            if qcols != case["columns"]:
                fail(where, f"training_set_query columns {qcols}, expected {case['columns']}")
            compare_rows(where + " training_set_query", got_q, want_rows)
        except psycopg2.Error as e:
            fail(where, f"training_set_query failed: {e.pgcode} {e.pgerror.strip()}")
        # the target exists now: building it again is an error, and leaves it as it was
        if engine == ENGINES[0]:
            try:
                cur.execute(call, args)
                fail(where, "build_training_set into an existing table succeeded")
            except psycopg2.Error as e:
                print(f"    an existing target: {e.pgcode} {e.pgerror.strip().splitlines()[0]}")
            cur.execute(f'SELECT * FROM "{target}"')
            compare_rows(where + " after a refused rebuild", [tuple(r) for r in cur.fetchall()], want_rows)
    status = "ok  " if len(FAILURES) == before else "FAIL"
    print(f"{status} {name}: {case['doc']}", flush=True)
    cur.execute("RESET TimeZone")


def main():
    start = time.time()
    conn = psycopg2.connect("")
    conn.autocommit = True
    text_everything(conn)
    cur = conn.cursor()
    cur.execute("SET DateStyle = 'ISO, YMD'; SET IntervalStyle = postgres; SET extra_float_digits = 3; "
                "SET TimeZone = 'UTC'")
    cur.execute("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'")
    have_icu = cur.fetchone()[0] != "0"
    cur.execute(COMMON_SETUP)
    for case in CASES:
        try:
            run_case(conn, case, have_icu)
        except psycopg2.Error as e:
            fail(case["name"], f"setup or check failed: {e.pgcode} {e.pgerror.strip()}")
            print(f"FAIL {case['name']}", flush=True)
    print(f"\n{len(CASES)} cases, {CHECKED} row-set comparisons, engines {', '.join(ENGINES)}, "
          f"{time.time() - start:.1f} s")
    if FAILURES:
        print(f"{len(FAILURES)} failures")
        sys.exit(1)


if __name__ == "__main__":
    main()
