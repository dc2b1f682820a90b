#!/usr/bin/env bash
# The README's shell blocks marked with the line <!-- tested: readme_commands --> (a fenced sh
# block right below it) run as they are written: today the Bundles section's export and import.
# Two databases of the suite's cluster stand for "staging" and "production" (a psql wrapper on
# PATH maps those two database names, nothing else).  Staging holds model "churn", an MLP of
# 20 inputs and two hidden layers of 512 units (a bundle of about 5 MB, far past what one
# command-line argument may hold), registered from a run and aliased champion.  After the
# blocks: production has churn version 1 with the same SHA-256 and the run's lineage, and it
# scores 200 rows exactly as staging's champion does.
#   MLOPS_README=path  runs the marked blocks of another copy of the README
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
readme=${MLOPS_README:-$here/../../README.md}

staging_db=$TEST_DB
production_db="${TEST_DB}_prod"
work=$(mktemp -d /tmp/mlops-readme.XXXXXX)
chmod 755 "$work"
cleanup() {
    rm -rf "$work"
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$production_db\" WITH (FORCE)" >/dev/null 2>&1 || true
    drop_test_db
}
trap cleanup EXIT
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$production_db\"" >/dev/null
psql -X -q -d "$production_db" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION mlops" >/dev/null

# the marked blocks, one file each
awk -v dir="$work" '
    /^<!-- tested: readme_commands -->$/ { marked = 1; next }
    marked && /^```(sh|bash)$/ { n++; file = sprintf("%s/block_%d.sh", dir, n); inside = 1; marked = 0; next }
    marked && /^[[:space:]]*$/ { next }
    marked { print "a marked line is not followed by a fenced sh block: " $0 > "/dev/stderr"; exit 1 }
    inside && /^```$/ { inside = 0; close(file); next }
    inside { print > file }
    END { if (inside) { print "a tested block is not closed" > "/dev/stderr"; exit 1 } }
' "$readme" || fail "could not read the marked blocks of $readme"
blocks=("$work"/block_*.sh)
[ -e "${blocks[0]}" ] || fail "no block of $readme is marked <!-- tested: readme_commands -->"

# "staging" and "production" are this test's two databases
mkdir "$work/bin"
cat >"$work/bin/psql" <<EOF
#!/usr/bin/env bash
args=()
prev=""
for a in "\$@"; do
    if [ "\$prev" = -d ]; then
        case "\$a" in staging) a="$staging_db" ;; production) a="$production_db" ;; esac
    fi
    case "\$a" in --dbname=staging) a="--dbname=$staging_db" ;; --dbname=production) a="--dbname=$production_db" ;; esac
    args+=("\$a")
    prev=\$a
done
exec "$(command -v psql)" -X "\${args[@]}"
EOF
chmod 755 "$work/bin/psql"

# staging: a 20-512-512-1 MLP with random weights, from a run, as churn@champion
q -d "$staging_db" >/dev/null <<'SQL'
SELECT setseed(0.25);
CREATE FUNCTION pg_temp.matrix(n_rows int, n_cols int) RETURNS json LANGUAGE sql AS $$
    SELECT json_agg((SELECT json_agg((random() - 0.5) / 10) FROM generate_series(1, n_cols) c WHERE r > 0) ORDER BY r)
      FROM generate_series(1, n_rows) r $$;
CREATE FUNCTION pg_temp.vector(n int) RETURNS json LANGUAGE sql AS $$
    SELECT json_agg((random() - 0.5) / 10) FROM generate_series(1, n) $$;
CREATE TABLE artifact AS
SELECT json_build_object(
         'format', 'mlops.model/v1', 'task', 'binary', 'classes', json_build_array('stay', 'churn'),
         'features', (SELECT json_agg(json_build_object('name', 'f' || i, 'type', 'numeric') ORDER BY i)
                        FROM generate_series(1, 20) i),
         'model', json_build_object('type', 'mlp', 'hidden_activation', 'relu', 'output_activation', 'logistic',
           'layers', json_build_array(
             json_build_object('weights', pg_temp.matrix(20, 512), 'bias', pg_temp.vector(512)),
             json_build_object('weights', pg_temp.matrix(512, 512), 'bias', pg_temp.vector(512)),
             json_build_object('weights', pg_temp.matrix(512, 1), 'bias', pg_temp.vector(1)))))::text AS doc;
SELECT mlops.set_experiment('churn') IS NOT NULL AS experiment;
SELECT mlops.start_run('churn', 'mlp-512') AS run \gset
SELECT mlops.log_params(:run, '{"hidden": "512,512", "activation": "relu"}');
SELECT mlops.log_metric(:run, 'auc', 0.8125);
SELECT mlops.end_run(:run);
SELECT mlops.register_model_version('churn', doc, :run) AS v FROM artifact \gset
SELECT mlops.set_model_alias('churn', 'champion', :v);
SQL
mb=$(q -d "$staging_db" -c "SELECT round(length(doc) / 1e6, 1) FROM artifact")

# the README's commands, as written, in a directory of their own
for b in "${blocks[@]}"; do
    echo "running $(basename "$b") of the README:"
    sed 's/^/    /' "$b"
    (cd "$work" && PATH="$work/bin:$PATH" bash -euo pipefail "$b") >"$work/out" 2>&1 \
        || { cat "$work/out"; fail "the README's $(basename "$b") failed"; }
done
[ -s "$work/churn.bundle.json" ] || fail "the README's commands wrote no churn.bundle.json"
echo "the artifact is $mb MB, the bundle $(awk -v b="$(stat -c %s "$work/churn.bundle.json")" 'BEGIN { printf "%.1f", b / 1e6 }') MB"

# production has the version, with the same checksum and the lineage
want=$(q -d "$staging_db" -c "SELECT sha256 FROM mlops.model_versions_overview WHERE model_name = 'churn' AND version = 1")
got=$(q -d "$production_db" -c "SELECT string_agg(version || ' ' || sha256, ',') FROM mlops.model_versions_overview WHERE model_name = 'churn'")
[ "$got" = "1 $want" ] || fail "production has churn versions '$got', expected '1 $want'"
lineage=$(q -d "$production_db" -c "SELECT r.experiment_name || ' ' || r.run_name || ' ' || r.status || ' ' || (r.params ->> 'hidden')
                                       || ' ' || (r.metrics ->> 'auc') || ' ' || (r.tags ? 'mlops.imported_from_run')
                                      FROM mlops.model_versions_overview v JOIN mlops.runs_overview r USING (run_id)
                                     WHERE v.model_name = 'churn'")
[ "$lineage" = "churn mlp-512 FINISHED 512,512 0.8125 true" ] || fail "the imported lineage is '$lineage'"

# and it scores as staging's champion: 200 rows, bit for bit
scores() {  # database reference
    q -d "$1" -c "SET extra_float_digits = 3" -c "
        SELECT i, mlops.predict('$2', ARRAY(SELECT 3 * sin(i * 7 + j * 13) FROM generate_series(1, 20) j ORDER BY j))
          FROM generate_series(1, 200) i ORDER BY i"
}
scores "$staging_db" 'churn@champion' >"$work/staging.scores"
scores "$production_db" 'churn:1' >"$work/production.scores"
[ "$(wc -l <"$work/staging.scores")" = 200 ] || fail "staging scored $(wc -l <"$work/staging.scores") rows"
diff -q "$work/staging.scores" "$work/production.scores" >/dev/null \
    || fail "the imported version scores differently: $(diff "$work/staging.scores" "$work/production.scores" | head -4)"
echo "production: churn:1, the same SHA-256 and lineage; 200 rows score as staging's champion, bit for bit"
echo "readme commands ok"
