#!/usr/bin/env bash
# slow
# Hostile roles: a reader, a writer and a role with no mlops role call every routine of
# schema mlops that they can see (found in pg_proc, every overload) with hostile arguments,
# and none may act for another role, write outside its role, or leave anything half-written.
# The victim is another writer with experiments, runs, models, aliases and stages set by an
# admin, a private table, schedules on pg_cron, finished job runs and one running in another
# session, drift baselines and monitors (one scheduled) with their history, open alerts and
# an acknowledged one, an entity, feature views (one materialized, on a schedule) over a private
# table and a service.  tests/integration/hostile_roles.py does the work and says how; it
# prints the routines and calls made, the errors by SQLSTATE and every finding, and exits
# non-zero on any.  pg_cron runs in cron.database_name ('postgres' in the suite's cluster), so
# this test works there and cleans up after itself.
set -euo pipefail
export PGDATABASE=postgres
exec /usr/bin/python3 "$(dirname "$0")/hostile_roles.py"
