# tests/lib/testdb.sh: sourced by integration tests and benchmarks.  Expects
# PGHOST/PGPORT/PGUSER from the suite's cluster, creates a fresh database for
# the caller with the extension installed, and drops it on exit.
set -euo pipefail
TEST_DB="mlops_$(basename "${0%.sh}")_$$"
TEST_DB=${TEST_DB//[^a-zA-Z0-9_]/_}
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$TEST_DB\"" >/dev/null
psql -X -q -d "$TEST_DB" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION mlops" >/dev/null
export PGDATABASE="$TEST_DB"
drop_test_db() { psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$TEST_DB\" WITH (FORCE)" >/dev/null 2>&1 || true; }
trap drop_test_db EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# A scratch directory for the caller ($TEST_WORK, readable by the server's
# user), removed on exit along with the test database.
test_workdir() {
    TEST_WORK=$(mktemp -d "/tmp/mlops-$1.XXXXXX")
    chmod 755 "$TEST_WORK"
    trap 'rm -rf "$TEST_WORK"; drop_test_db' EXIT
}
