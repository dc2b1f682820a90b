#!/usr/bin/env bash
# Parity with XGBoost (Debian's python3-xgboost 1.7, the oracle) of models imported from its JSON
# (Booster.save_model("m.json")): for each supported objective (reg:squarederror, reg:logistic,
# binary:logistic, binary:logitraw, multi:softprob, multi:softmax, count:poisson), models of 10,
# 100 and 500 boosting rounds (depth 3, 6 and 8; the exact, approx and hist tree methods), trained
# on synthetic data with fixed seeds, 5% missing values and feature names, plus a model saved
# without feature names (signature f0..f9), a pruned one (deleted nodes) and a boosted forest
# (num_parallel_tree 4).  Each saved file is registered as it is (its JSON text) and scored in SQL
# on 10,000 rows: mlops.predict (regression, reg:logistic, binary, logitraw, poisson),
# predict_proba (multi:softprob) or predict_class (multi:softmax), from float8[] (NaN or NULL for
# missing values) and, for three of them, from jsonb by feature name without the missing keys.
# Every value must be within 1e-6 of XGBoost's predict on the same rows in the same run (softmax:
# the same class), jsonb must give what float8[] gives, and score*(compile_model(artifact)) what
# predict*() gives (on every 4th row).  Also files mlops must refuse (a dart and a gblinear booster, unsupported
# objectives, two targets, a categorical model, and malformed files: truncated, 1e999, wrong
# types, children out of range, cycles, features beyond num_feature, ...): each fails with the
# expected SQLSTATE and a message naming the problem, stores nothing, and the server stays up.
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3     # Debian's, with python3-xgboost; not whatever python3 is on PATH

work=$(mktemp -d /tmp/mlops-parity-xgb.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"; drop_test_db' EXIT

"$py" "$here/parity_xgboost.py" prepare "$work" || fail "training and saving the XGBoost models failed"

q <<SQL
CREATE TABLE xgb_artifacts (name text PRIMARY KEY, artifact text NOT NULL);
\copy xgb_artifacts FROM '$work/artifacts.copy'
CREATE TABLE xgb_features (id int PRIMARY KEY, x float8[], j jsonb, j0 jsonb);
\copy xgb_features FROM '$work/features.copy'
SQL

start=$(date +%s)
registered=""
while IFS=$'\t' read -r entry model obj kind input _rounds _trees _depth _method; do
    if [[ " $registered " != *" $model "* ]]; then
        ver=$(q -c "SELECT mlops.register_model_version('$model', artifact) FROM xgb_artifacts WHERE name = '$model'") \
            || fail "$model: registration refused the saved XGBoost model"
        [ "$ver" = 1 ] || fail "$model: registered as version '$ver', expected 1"
        registered="$registered $model"
    fi
    ref="'$model:1'"
    case "$input" in
        array) arg="f.x" ;;
        jsonb) arg="f.j" ;;
        jsonb_f) arg="f.j0" ;;
        *) fail "$entry: unknown input $input" ;;
    esac
    case "$kind" in
        value) fn=predict; sfn=score ;;
        proba) fn=predict_proba; sfn=score_proba ;;
        class) fn=predict_class; sfn=score_class ;;
        *) fail "$entry: unknown kind $kind" ;;
    esac
    # MATERIALIZED: compile once, not once per row where k.c is used; score*() on every 4th row
    q -c "SET extra_float_digits = 3" -c "COPY (
            WITH k AS MATERIALIZED (SELECT mlops.compile_model(artifact) AS c FROM xgb_artifacts
                                     WHERE name = '$model')
            SELECT f.id, mlops.$fn($ref, $arg), CASE WHEN f.id % 4 = 0 THEN mlops.$sfn(k.c, $arg) END
              FROM xgb_features f, k ORDER BY f.id) TO STDOUT" >"$work/actual_$entry.copy" \
        || fail "$entry: scoring failed"
done <"$work/manifest.tsv"
echo "registered $(echo $registered | wc -w) models and scored $(wc -l <"$work/manifest.tsv") runs in $(($(date +%s) - start)) s"

# what the registry recorded: the task, and the signature (XGBoost's f0.. when the file has no names)
sig=$(q -c "SELECT string_agg(s ->> 'name', ',' ORDER BY o) FROM mlops.model_versions_overview v,
                   jsonb_array_elements(v.signature) WITH ORDINALITY AS e(s, o) WHERE v.model_name = 'xgb_no_names'")
[ "$sig" = "f0,f1,f2,f3,f4,f5,f6,f7,f8,f9" ] || fail "xgb_no_names: signature $sig, expected f0..f9"
sig=$(q -c "SELECT string_agg(s ->> 'name', ',' ORDER BY o) FROM mlops.model_versions_overview v,
                   jsonb_array_elements(v.signature) WITH ORDINALITY AS e(s, o) WHERE v.model_name = 'xgb_binary_logistic_100'")
[ "$sig" = "age,income,score_a,score_b,ratio,tiny,visits,flag,temp,noise" ] \
    || fail "xgb_binary_logistic_100: signature $sig, expected the feature names of the file"
tasks=$(q -c "SELECT string_agg(model_name || '=' || task || '/' || coalesce(classes::text, '-'), ' ' ORDER BY model_name)
                FROM mlops.model_versions_overview WHERE model_name IN
                     ('xgb_reg_squarederror_10', 'xgb_reg_logistic_10', 'xgb_binary_logistic_10',
                      'xgb_binary_logitraw_10', 'xgb_multi_softprob_10', 'xgb_multi_softmax_10', 'xgb_count_poisson_10')")
want='xgb_binary_logistic_10=binary/["0", "1"] xgb_binary_logitraw_10=regression/- xgb_count_poisson_10=regression/- xgb_multi_softmax_10=multiclass/["0", "1", "2"] xgb_multi_softprob_10=multiclass/["0", "1", "2", "3"] xgb_reg_logistic_10=regression/- xgb_reg_squarederror_10=regression/-'
[ "$tasks" = "$want" ] || fail "tasks and classes: $tasks; expected $want"

# the files mlops must refuse, in one session; then the server must still be up and scoring
status=0
"$py" "$here/parity_xgboost.py" refuse "$work" || { echo "FAIL: a file was not refused as expected (see above)" >&2; status=1; }
n=$(q -c "SELECT count(*) FROM xgb_features f WHERE mlops.predict('xgb_binary_logistic_10:1', f.x) IS NOT NULL")
[ "$n" = 10000 ] || fail "after the refusals, scoring gave $n rows"

# last, so that the per-model figures are what run_all.sh's tail of the log shows
"$py" "$here/parity_xgboost.py" compare "$work" || { echo "FAIL: mlops scoring differs from XGBoost (see above)" >&2; status=1; }
[ $status -eq 0 ] || exit 1
echo "parity ok"
