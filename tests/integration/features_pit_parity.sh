#!/usr/bin/env bash
# mlops.build_training_set (feature views, issue 11) against a brute-force point-in-time
# reference written in Python from the interface's "Point-in-time semantics"
# (features_pit_parity.py), on random data, three seeds, both engines ('merge', the C engine, and
# 'lateral', the SQL one), every row and value compared exactly (sorted by a row_id column of the
# entity source).  Per seed: ~3,600 entity rows (2% duplicated, 3% NULL keys, 2% NULL event
# times) and 49,000 feature rows in four views: one key with ttl and a created timestamp
# (20% NULL), one key without either (ties broken by the features alone), a composite
# (int, text) key given as a source query, and a timestamp (without time zone) view read in
# America/New_York; small key domains (many ties on event time, created and features), sparse
# keys too, NULL and NaN feature values, microsecond timestamps across the 2026-03-08 DST change;
# entity times on feature timestamps and on ttl bounds, and 1 us either side.  ttls of 36 h,
# 6 h, '1 day', 2 h 123 us, 1 day 12 h and 3 days, and none; the request in another order than
# the views' features, a subset of them (ties still broken by all of the view's features), with
# full_feature_names, and as a feature service.  Also the returned row count and the column
# names in order.  A third run per seed gives the merge engine six shuffled copies of the entity
# rows (~21,500) under work_mem 64kB, so that it takes them in batches, each with its own pass
# over the view (the statistics show the source read 3 times), and checks every copy.
# Takes about 20 s on 2 cores.
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3     # Debian's, with python3-psycopg2; not whatever python3 is on PATH

start=$(date +%s)
"$py" "$here/features_pit_parity.py" || fail "training sets differ from the point-in-time reference (see above)"
q -c "SELECT 1" >/dev/null || fail "the server does not accept connections after the test"
echo "features point-in-time parity ok in $(($(date +%s) - start)) s"
