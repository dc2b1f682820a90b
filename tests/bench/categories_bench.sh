#!/usr/bin/env bash
# tests/bench/categories_bench.sh: scoring by name with a high-cardinality
# categorical feature (40,000 categories, as zip codes) against the same
# model shape with 10 categories, and compiling the big model, in one
# throwaway cluster.  A benchmark, not a test: it prints medians and ratios
# and fails only on wrong results.  Run by hand:
#
#   bash tests/bench/categories_bench.sh
#
# Both models: a linear regression on one categorical feature z, the
# coefficient of category k being k, categories listed in shuffled order.
# t: 1M rows, each a jsonb {"z": name} of a category drawn at random (for the
# small model, the same rows with k % 10).  Serial plans, median of RUNS (5):
#   a) sum(mlops.predict('cat_10', features))      10 categories
#   b) sum(mlops.predict('cat_40k', features))     40,000 categories
#   c) mlops.compile_model(artifact of cat_40k)    the compiler, duplicate check included
#   d) sum(mlops.predict('mlp_40k', features))    an MLP (8 relu units) on the 40,000
# Checks: a) and b) equal sum(k) computed in SQL; d) the MLP computed per
# category in SQL, to 1e-9 relative.
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/bench.sh"
RUNS=${RUNS:-5}

bench_setup mlops_categories_bench

log "registering cat_10 and cat_40k; generating t (1M rows)"
psql_q >/dev/null <<'SQL'
CREATE TABLE artifacts AS
SELECT n, json_build_object(
  'format', 'mlops.model/v1', 'task', 'regression',
  'features', json_build_array(json_build_object('name', 'z', 'type', 'categorical',
      'categories', (SELECT json_agg('z' || (i * 7919 % n) ORDER BY i) FROM generate_series(0, n - 1) i))),
  'model', json_build_object('type', 'linear', 'link', 'identity', 'intercept', json_build_array(0),
      'coef', (SELECT json_agg(i * 7919 % n ORDER BY i) FROM generate_series(0, n - 1) i)))::text AS artifact
  FROM (VALUES (10), (40000)) v(n);
SELECT mlops.register_model_version(CASE n WHEN 10 THEN 'cat_10' ELSE 'cat_40k' END, artifact) FROM artifacts;
-- an MLP on the 40,000 categories: 8 relu units, the weight of category k
-- to unit u being ((31 k + 17 u) % 100 - 50) / 100, output weights (u - 3.5) / 4
SELECT mlops.register_model_version('mlp_40k', json_build_object(
  'format', 'mlops.model/v1', 'task', 'regression',
  'features', json_build_array(json_build_object('name', 'z', 'type', 'categorical',
      'categories', (SELECT json_agg('z' || (i * 7919 % 40000) ORDER BY i) FROM generate_series(0, 39999) i))),
  'model', json_build_object('type', 'mlp', 'hidden_activation', 'relu', 'output_activation', 'identity',
      'layers', json_build_array(
          json_build_object('bias', (SELECT json_agg(0) FROM generate_series(0, 7)),
                            'weights', (SELECT json_agg((SELECT json_agg((((i * 7919 % 40000) * 31 + u * 17) % 100 - 50) / 100.0
                                                                         ORDER BY u) FROM generate_series(0, 7) u) ORDER BY i)
                                          FROM generate_series(0, 39999) i)),
          json_build_object('bias', json_build_array(0),
                            'weights', (SELECT json_agg(json_build_array((u - 3.5) / 4) ORDER BY u) FROM generate_series(0, 7) u)))))::text);
CREATE TABLE mlp_40k_by_category AS
SELECT k, sum((u - 3.5) / 4 * greatest(0, ((k * 31 + u * 17) % 100 - 50) / 100.0)) AS y
  FROM generate_series(0, 39999) k, generate_series(0, 7) u GROUP BY k;
SELECT setseed(0.31);
CREATE TABLE t AS
SELECT i AS id, k, jsonb_build_object('z', 'z' || k) AS f40k, jsonb_build_object('z', 'z' || (k % 10)) AS f10
  FROM (SELECT i, floor(random() * 40000)::int AS k FROM generate_series(1, 1000000) i) s;
VACUUM (FREEZE, ANALYZE) t;
SQL

declare -A Q=(
    [a]="SELECT sum(mlops.predict('cat_10:1', f10)) FROM t"
    [b]="SELECT sum(mlops.predict('cat_40k:1', f40k)) FROM t"
    [c]="SELECT length(mlops.compile_model(artifact)) FROM artifacts WHERE n = 40000"
    [d]="SELECT sum(mlops.predict('mlp_40k:1', f40k)) FROM t"
)
declare -A T=()
log "timed runs: $RUNS rounds"
bench_rounds "$RUNS" "SELECT mlops.predict('cat_40k:1', f40k) + mlops.predict('cat_10:1', f10) + mlops.predict('mlp_40k:1', f40k) FROM t LIMIT 1;" a b c d

echo
echo "mlops categories benchmark: PostgreSQL $(psql_q -At -c 'SHOW server_version'), $(nproc) cores," \
     "serial plans, medians of $RUNS runs, $((SECONDS - START)) s in all"
bench_table 64 a a b c d

echo
echo "result checks:"
got=$(psql_q -At -c "SELECT sum(mlops.predict('cat_40k:1', f40k)) = sum(k) AND sum(mlops.predict('cat_10:1', f10)) = sum(k % 10) FROM t")
echo "  a) and b) equal sum(k) computed in SQL: $([ "$got" = t ] && echo ok || echo FAIL)"
[ "$got" = t ] || { echo "RESULT CHECK FAILED"; exit 1; }
got=$(psql_q -At -c "SELECT abs(sum(mlops.predict('mlp_40k:1', f40k)) - sum(m.y)) <= 1e-9 * abs(sum(m.y))
                       FROM t JOIN mlp_40k_by_category m USING (k)")
echo "  d) equals the MLP computed per category in SQL (1e-9 relative): $([ "$got" = t ] && echo ok || echo FAIL)"
[ "$got" = t ] || { echo "RESULT CHECK FAILED"; exit 1; }
echo "(figures are noisy when other work shares the machine)"
