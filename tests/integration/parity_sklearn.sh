#!/usr/bin/env bash
# Parity with scikit-learn (Debian's python3-sklearn 1.2, the oracle): models trained on
# synthetic data with fixed seeds are exported with tests/exporter/sklearn_to_mlops.py,
# registered, and scored in SQL on 10,000 rows each; the results must match sklearn's
# predict / predict_proba / predict computed in the same run within 1e-9 relative (absolute
# floor 1e-12 below 1e-3), with equal classes.  Plain estimators are scored from float8[],
# pipelines (missing values, categorical columns, unknown categories) from jsonb by name.
# score*(compile_model(artifact)) must also give exactly what predict*() gives.
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3     # Debian's, with python3-sklearn; not whatever python3 is on PATH

work=$(mktemp -d /tmp/mlops-parity.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"; drop_test_db' EXIT

"$py" "$here/parity_sklearn.py" prepare "$work" || fail "training and exporting the models failed"

q <<SQL
CREATE TABLE parity_artifacts (name text PRIMARY KEY, artifact text NOT NULL);
\copy parity_artifacts FROM '$work/artifacts.copy'
SQL
for set in bin multi reg mixed; do
    q <<SQL
CREATE TABLE parity_features_$set (id int PRIMARY KEY, x float8[], j jsonb);
\copy parity_features_$set FROM '$work/features_$set.copy'
SQL
done

start=$(date +%s)
while IFS=$'\t' read -r name set task input drop; do
    ver=$(q -c "SELECT mlops.register_model_version('$name', artifact) FROM parity_artifacts WHERE name = '$name'") \
        || fail "$name: registration refused the exported artifact"
    [ "$ver" = 1 ] || fail "$name: registered as version '$ver', expected 1"
    ref="'$name:1'"
    if [ "$input" = array ]; then arg="f.x"; else arg="(f.j - '$drop'::text[])"; fi
    case "$task" in
        regression)
            cols="mlops.predict($ref, $arg), NULL::float8[], NULL::text,
                  mlops.score(k.c, $arg) IS NOT DISTINCT FROM mlops.predict($ref, $arg)" ;;
        binary)
            cols="mlops.predict($ref, $arg), mlops.predict_proba($ref, $arg), mlops.predict_class($ref, $arg),
                  mlops.score(k.c, $arg) IS NOT DISTINCT FROM mlops.predict($ref, $arg)
                  AND mlops.score_proba(k.c, $arg) IS NOT DISTINCT FROM mlops.predict_proba($ref, $arg)
                  AND mlops.score_class(k.c, $arg) IS NOT DISTINCT FROM mlops.predict_class($ref, $arg)" ;;
        multiclass)
            cols="NULL::float8, mlops.predict_proba($ref, $arg), mlops.predict_class($ref, $arg),
                  mlops.score_proba(k.c, $arg) IS NOT DISTINCT FROM mlops.predict_proba($ref, $arg)
                  AND mlops.score_class(k.c, $arg) IS NOT DISTINCT FROM mlops.predict_class($ref, $arg)" ;;
        *) fail "$name: unknown task $task" ;;
    esac
    # MATERIALIZED: compile once, not once per row where k.c is used
    q -c "SET extra_float_digits = 3" -c "COPY (
            WITH k AS MATERIALIZED (SELECT mlops.compile_model(artifact) AS c FROM parity_artifacts
                                     WHERE name = '$name')
            SELECT f.id, $cols FROM parity_features_$set f, k ORDER BY f.id) TO STDOUT" >"$work/actual_$name.copy" \
        || fail "$name: scoring failed"
done <"$work/manifest.tsv"
echo "registered and scored $(wc -l <"$work/manifest.tsv") models in $(($(date +%s) - start)) s"

"$py" "$here/parity_sklearn.py" compare "$work" || fail "mlops scoring differs from scikit-learn (see above)"
echo "parity ok"
