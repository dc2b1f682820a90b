#!/usr/bin/env bash
# tests/bench/metrics_bench.sh: the metrics aggregates over a table of
# predictions, against a bare scan of it, in one throwaway cluster.  A
# benchmark, not a test: it prints medians and ratios and fails only on
# wrong results.  Run by hand:
#
#   bash tests/bench/metrics_bench.sh               # 20M rows
#   ROWS=1000000 bash tests/bench/metrics_bench.sh
#
# p: ROWS rows of a score s (random() after setseed()) and a label y (s plus
# noise above a cut, 30% positive), so that the AUC is neither 0.5 nor 1.
# Serial plans, median of RUNS (3) runs, round-robin:
#   scan      SELECT count(s) FROM p                        the bare scan
#   log_loss  SELECT mlops.log_loss(s, y) FROM p            running sums over the same scan
#   roc_auc   SELECT mlops.roc_auc(s, y) FROM p             every score kept and sorted
# Check: roc_auc equals the rank-sum (Mann-Whitney) formula computed in SQL
# with window functions (average ranks for ties), to 1e-12.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"
ROWS=${ROWS:-20000000}
RUNS=${RUNS:-3}

bench_setup mlops_metrics_bench "" "shared_buffers = 2GB" "work_mem = 1GB"

log "generating p ($ROWS rows)"
psql_q >/dev/null <<SQL
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.31);
CREATE TABLE p AS SELECT s, (s + random() * 0.8 > 1.04) AS y FROM (SELECT random() AS s FROM generate_series(1, $ROWS)) r;
VACUUM (FREEZE, ANALYZE) p;
SQL

declare -A Q=(
    [scan]="SELECT count(s) FROM p"
    [log_loss]="SELECT mlops.log_loss(s, y) FROM p"
    [roc_auc]="SELECT mlops.roc_auc(s, y) FROM p"
)
declare -A T=()
log "timed runs: $RUNS rounds"
bench_rounds "$RUNS" "SELECT count(*) FROM p;" scan log_loss roc_auc

log "checking roc_auc against the rank-sum formula in SQL"
ok=$(psql_q -At <<'SQL'
SET max_parallel_workers_per_gather = 0;
SET work_mem = '1GB';
WITH r AS (SELECT y, rank() OVER (ORDER BY s) + (count(*) OVER (PARTITION BY s) - 1) / 2.0 AS avg_rank FROM p),
     u AS (SELECT sum(avg_rank) FILTER (WHERE y) AS rank_sum, count(*) FILTER (WHERE y) AS npos,
                  count(*) FILTER (WHERE NOT y) AS nneg FROM r)
SELECT abs((SELECT mlops.roc_auc(s, y) FROM p)
           - ((rank_sum - npos * (npos + 1) / 2.0) / (npos::numeric * nneg))::float8) < 1e-12
  FROM u;
SQL
)
[ "$ok" = t ] || { echo "roc_auc differs from the rank-sum formula" >&2; exit 1; }

echo
echo "mlops metrics benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "serial plans, $ROWS rows, medians of $RUNS runs, $((SECONDS - START)) s in all"
bench_table 52 scan scan log_loss roc_auc
echo "roc_auc equals the rank-sum formula in SQL (1e-12): ok"
