#!/usr/bin/env bash
# content_digest() and log_input() against an independent reference: Python's
# hashlib computes the same order-independent digest from the rows' text,
# and a parallel plan gives exactly the serial result.
source "$(dirname "$0")/../lib/testdb.sh"

q <<'SQL'
CREATE TABLE lineage_probe AS
SELECT g AS id,
       CASE WHEN g % 11 = 0 THEN NULL ELSE g * 0.1::float8 END AS score,
       'naïve "quoted", ' || repeat('x', g % 7) || E'\nline' AS label,
       g % 3 = 0 AS flag,
       '2026-01-01 00:00:00+00'::timestamptz + g * interval '37 minutes' AS seen_at,
       (g / 7.0)::numeric(12, 4) AS amount
  FROM generate_series(1, 200000) g;
INSERT INTO lineage_probe SELECT * FROM lineage_probe WHERE id <= 10;   -- duplicates count
ANALYZE lineage_probe;
SQL

settings="SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET IntervalStyle = postgres;"

# The reference: sum of per-row SHA-256 (over 0x01 || row text) mod 2^256,
# then SHA-256 of the 32-byte big-endian sum and the 8-byte row count.
expected=$(q -c "$settings" -c "COPY (SELECT encode(convert_to(t::text, 'UTF8'), 'hex') FROM lineage_probe t) TO STDOUT" \
  | /usr/bin/python3 -c '
import hashlib, sys
total, rows = 0, 0
for line in sys.stdin:
    row = bytes.fromhex(line.strip())
    total = (total + int.from_bytes(hashlib.sha256(b"\x01" + row).digest(), "big")) % (1 << 256)
    rows += 1
print(hashlib.sha256(total.to_bytes(32, "big") + rows.to_bytes(8, "big")).hexdigest())')
echo "python reference: $expected"

serial=$(q -c "$settings SET max_parallel_workers_per_gather = 0;" -c "SELECT mlops.content_digest(t) FROM lineage_probe t")
echo "serial plan:      $serial"
[ "$serial" = "$expected" ] || fail "serial digest differs from the Python reference"

parallel_settings="$settings SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;"
plan=$(q -c "$parallel_settings" -c "EXPLAIN (COSTS OFF) SELECT mlops.content_digest(t) FROM lineage_probe t")
echo "$plan" | grep -q "Partial Aggregate" || fail "no parallel plan: $plan"
echo "$plan" | grep -q "Gather" || fail "no Gather node: $plan"
parallel=$(q -c "$parallel_settings" -c "SELECT mlops.content_digest(t) FROM lineage_probe t")
echo "parallel plan:    $parallel"
[ "$parallel" = "$expected" ] || fail "parallel digest differs"

# log_input pins the output settings itself: a session with other settings
# records the same digest.
q -c "SELECT mlops.set_experiment('lineage')" >/dev/null
run=$(q -c "SELECT mlops.start_run('lineage')")
q -c "SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'; SET extra_float_digits = 0;" \
  -c "SELECT mlops.log_input($run, 'lineage_probe')" >/dev/null
stored=$(q -c "SELECT digest || ' ' || row_count FROM mlops.run_inputs WHERE run_id = $run")
echo "log_input:        $stored"
[ "$stored" = "$expected 200010" ] || fail "log_input stored '$stored'"
echo "digest ok"
