#!/usr/bin/env bash
# Quick start, command 1 of 2: install what is needed (Debian packages), build
# and install mlops, start a throwaway PostgreSQL cluster with pg_cron
# preloaded, create the extension and run the bundled end-to-end example
# (tests/example/churn.sql).  The cluster is removed afterwards unless --keep
# is given, in which case it keeps running and the script prints how to
# connect to it.
source "$(dirname "$0")/lib/common.sh"

keep=""
[ "${1:-}" = "--keep" ] && keep=1

mlops_install_deps
mlops_build_install
# pg_cron runs its schedules in the example's database
cluster_start "cron.database_name = 'mlops_demo'"
psql_q -d postgres -c "CREATE DATABASE mlops_demo"
log "running the churn example (tests/example/churn.sql)"
psql -X -v ON_ERROR_STOP=1 -q -d mlops_demo -f "$MLOPS_ROOT/tests/example/churn.sql"
# the example's drift report as a page to open in a browser
report=${MLOPS_REPORT:-/tmp/mlops-churn-drift.html}
psql -X -v ON_ERROR_STOP=1 -q -At -d mlops_demo \
     -c "SELECT mlops.drift_report_html('churn-training', 'churn.new_month')" >"$report"
log "the drift report of the churn example: $report"

if [ -n "$keep" ]; then
    trap - EXIT
    log "the cluster keeps running; connect with:"
    echo "  psql -h $PGHOST -p $PGPORT -U postgres mlops_demo"
    echo "stop it with:"
    if [ "$(id -u)" -eq 0 ]; then
        echo "  runuser -u postgres -- $PGBIN/pg_ctl -D $CLUSTER_DIR/data stop && rm -rf $CLUSTER_DIR"
    else
        echo "  $PGBIN/pg_ctl -D $CLUSTER_DIR/data stop && rm -rf $CLUSTER_DIR"
    fi
else
    log "done; the throwaway cluster is stopped and removed (use --keep to keep it)"
fi
