#!/usr/bin/env bash
# Point-in-time correctness of mlops.build_training_set (feature views, issue 11) on hand-built
# cases, each expected row written out by hand in features_pit.py from the "Point-in-time
# semantics" of the feature-view interface, every case run with engine => 'merge' (C) and
# engine => 'lateral' (SQL), both held to the same hand-written rows.  Checked:
#  - r.ts = T included, a feature row 1 us after T excluded;
#  - ttl bounds inclusive: r.ts = T - ttl included, 1 us older excluded;
#  - equal event timestamps: greatest created timestamp, a NULL created losing to any non-NULL,
#    then the view's features in the view's order (not the request's), DESC NULLS LAST, text by
#    the column's collation (COLLATE "C", and und-x-icu where the build has ICU), float8 as
#    PostgreSQL orders it (NaN > Infinity > numbers, NULL last);
#  - composite keys whose concatenations collide ((1,12) / (11,2), text keys around separators);
#  - late-arriving rows (inserted last, older event time, newest created) do not win;
#  - entities without feature rows keep their row with NULL features; duplicate entity rows each
#    get the features; NULL keys on either side never match; a NULL event time has no candidate;
#  - ttl '1 day' = 86,400 s across both 2026 US DST changes (TimeZone America/New_York);
#  - a timestamp view against timestamptz entity times and the reverse (session TimeZone);
#  - 'infinity' and '-infinity' on both sides (infinity minus a ttl is infinity), ttl bounds
#    across 2000-01-01 and in 1899/1900, numeric keys equal by value (1.0 = 1.00), an int entity
#    key cast to a numeric view key, an empty entity source (0 rows) and an empty view (NULLs);
#  - two and three views in one set (one on a composite key), another event time column,
#    full_feature_names, 42701 for two output columns of one name, a feature service as the
#    feature list (with and without full names);
#  - build_training_set's row count, the target's columns in order, training_set_query's SELECT
#    giving the same rows, and a second build into an existing target refused.
# Takes a few seconds.
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3     # Debian's, with python3-psycopg2; not whatever python3 is on PATH

start=$(date +%s)
"$py" "$here/features_pit.py" || fail "point-in-time training sets differ from the hand-written rows (see above)"
q -c "SELECT 1" >/dev/null || fail "the server does not accept connections after the test"
echo "features point-in-time ok in $(($(date +%s) - start)) s"
