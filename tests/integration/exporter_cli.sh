#!/usr/bin/env bash
# The exporter as a program (tests/exporter/sklearn_to_mlops.py, Debian's /usr/bin/python3),
# on pickles made here, for what issue #9 asked of it:
# - feature names come from the model: a pipeline fitted on a pandas DataFrame exports the
#   DataFrame's columns (in the ColumnTransformer's order), registers, and scores by those names
#   as scikit-learn predicts (1e-12); --feature-names equal to them is accepted, different ones
#   are refused;
# - a model fitted on an array has no names: refused, saying to pass --feature-names; exported
#   with --feature-names (those names) or with the explicit --positional-names (x0, x1, ...);
#   a wrong number of names is refused;
# - a pickled XGBoost model (Booster, XGBClassifier, XGBRegressor in a Pipeline) is refused with
#   a message pointing to booster.save_model("model.json"); the JSON saved that way registers,
#   with the DataFrame's column names as its signature.
# Every refusal exits 2 with one "sklearn_to_mlops: ..." message and writes no output file.
source "$(dirname "$0")/../lib/testdb.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3     # Debian's, with sklearn, xgboost and pandas
exporter="$here/../exporter/sklearn_to_mlops.py"

work=$(mktemp -d /tmp/mlops-exporter.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"; drop_test_db' EXIT

"$py" -c 'import pandas' 2>/dev/null || fail "pandas is missing: install python3-pandas (tests/lib/common.sh)"

# the models, pickled, and the rows to score with scikit-learn's own predictions
PYTHONDONTWRITEBYTECODE=1 "$py" - "$work" <<'PY' || fail "training the models failed"
import json, pickle, sys
import numpy as np, pandas as pd, xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

work = sys.argv[1]
rng = np.random.default_rng(9)
n = 400
df = pd.DataFrame({"age": rng.integers(18, 80, n).astype(float), "region": rng.choice(["north", "south", "east"], n),
                   "income": rng.normal(3000, 800, n)})
y = (0.03 * (df.age - 45) + (df.region == "south") - 0.001 * (df.income - 3000) + rng.normal(0, 1, n)) > 0

def dump(name, model):
    with open("%s/%s.pkl" % (work, name), "wb") as f:
        pickle.dump(model, f)

# the ColumnTransformer puts region first: the signature follows its output order
pipe = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(), ["region"]),
                                             ("num", Pipeline([("i", SimpleImputer()), ("s", StandardScaler())]),
                                              ["age", "income"])])),
                 ("m", LogisticRegression())]).fit(df, y)
dump("pipe_df", pipe)
test = df.iloc[:50]
with open("%s/pipe_df.expected" % work, "w") as f:
    for i, (row, p) in enumerate(zip(test.to_dict("records"), pipe.predict_proba(test)[:, 1])):
        f.write("%d\t%s\t%r\n" % (i, json.dumps(row), float(p)))

X = df[["age", "income"]].to_numpy()
dump("logreg_array", LogisticRegression().fit(X, y))

dump("xgb_booster", xgb.train({"max_depth": 2, "objective": "binary:logistic"}, xgb.DMatrix(X, label=y), 3))
clf = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(df[["age", "income"]], y)
dump("xgb_classifier", clf)
dump("xgb_pipeline", Pipeline([("s", StandardScaler()), ("x", xgb.XGBRegressor(n_estimators=3))]).fit(X, df.income))
# what the refusal tells the user to do, done
clf.get_booster().save_model("%s/xgb_classifier.json" % work)
PY

# export NAME OUT ARGS...: run the exporter; its status, stderr in $work/err
export_model() {
    local name=$1 out=$2; shift 2
    rm -f "$work/$out"
    set +e
    "$py" "$exporter" "$work/$name.pkl" -o "$work/$out" "$@" 2>"$work/err"
    status=$?
    set -e
}
# refused NAME NEEDLE ARGS...: exit 2, one message containing NEEDLE, no output file
refused() {
    local name=$1 needle=$2; shift 2
    export_model "$name" refused.json "$@"
    [ "$status" = 2 ] || fail "$name $*: exit status $status, expected 2 (a refusal)"
    grep -q '^sklearn_to_mlops: ' "$work/err" || fail "$name $*: no sklearn_to_mlops: message: $(cat "$work/err")"
    grep -qF -- "$needle" "$work/err" || fail "$name $*: the message does not say '$needle': $(cat "$work/err")"
    [ ! -e "$work/refused.json" ] || fail "$name $*: an output file was written"
    echo "refused: $name $* -> $(head -1 "$work/err" | cut -c1-150)"
}
names_of() { "$py" -c 'import json, sys; print(",".join(f["name"] for f in json.load(open(sys.argv[1]))["features"]))' "$1"; }

# 1. a pipeline fitted on a DataFrame: the columns are the names, in the signature's order
export_model pipe_df pipe_df.json
[ "$status" = 0 ] || fail "pipe_df: exit status $status: $(cat "$work/err")"
got=$(names_of "$work/pipe_df.json")
[ "$got" = "region,age,income" ] || fail "pipe_df: feature names $got, expected the DataFrame's columns region,age,income"
echo "pipe_df: features $got"
export_model pipe_df pipe_df_same.json --feature-names age,region,income
[ "$status" = 0 ] || fail "pipe_df with the same --feature-names: exit status $status: $(cat "$work/err")"
cmp -s "$work/pipe_df.json" "$work/pipe_df_same.json" || fail "pipe_df: the same names given gave another document"
refused pipe_df "disagree with the columns the model was fitted on" --feature-names age,income,region
refused pipe_df "disagree with the columns the model was fitted on" --feature-names a,b,c
refused pipe_df "positional names would hide them" --positional-names

# ... and it scores by those names as scikit-learn predicts
q <<SQL
CREATE TABLE rows_expected (id int, features jsonb, p float8);
\copy rows_expected FROM '$work/pipe_df.expected'
SQL
q -c "SELECT mlops.register_model_version('exported_df', pg_read_file('$work/pipe_df.json'))" >/dev/null \
    || fail "pipe_df: the exported document does not register"
bad=$(q -c "SELECT count(*) FROM rows_expected
             WHERE abs(mlops.predict('exported_df:1', features) - p) > 1e-12 OR mlops.predict('exported_df:1', features) IS NULL")
[ "$bad" = 0 ] || fail "pipe_df: $bad of 50 rows scored by name differ from scikit-learn"
echo "pipe_df: 50 rows scored by name equal scikit-learn's predict_proba (1e-12)"

# 2. a model fitted on an array: names are given, or positional names asked for, never made up
refused logreg_array "--feature-names"
refused logreg_array "1 feature names given for 2 input columns" --feature-names age
export_model logreg_array logreg_named.json --feature-names age,income
[ "$status" = 0 ] || fail "logreg_array --feature-names: exit status $status: $(cat "$work/err")"
[ "$(names_of "$work/logreg_named.json")" = "age,income" ] || fail "logreg_array: names $(names_of "$work/logreg_named.json")"
export_model logreg_array logreg_positional.json --positional-names
[ "$status" = 0 ] || fail "logreg_array --positional-names: exit status $status: $(cat "$work/err")"
[ "$(names_of "$work/logreg_positional.json")" = "x0,x1" ] || fail "logreg_array: names $(names_of "$work/logreg_positional.json")"
set +e
"$py" "$exporter" "$work/logreg_array.pkl" --feature-names a,b --positional-names >/dev/null 2>"$work/err"
status=$?
set -e
[ "$status" = 2 ] || fail "--feature-names with --positional-names: exit status $status, expected 2 (not allowed together)"
echo "logreg_array: --feature-names gives age,income, --positional-names x0,x1; both together refused"

# 3. XGBoost: refused, pointing to XGBoost's own JSON; doing what it says registers the model
refused xgb_booster 'booster.save_model("model.json")'
refused xgb_booster "booster.feature_names = ['age', 'income']" --feature-names age,income
refused xgb_classifier 'booster = model.get_booster()'
refused xgb_classifier "The file keeps the booster's feature names (age, income)"
refused xgb_pipeline "booster = model.named_steps['x'].get_booster()"
refused xgb_pipeline "The pipeline's other steps (s)"
q -c "SELECT mlops.register_model_version('xgb_saved', pg_read_file('$work/xgb_classifier.json'))" >/dev/null \
    || fail "the XGBoost JSON saved as the message says does not register"
sig=$(q -c "SELECT string_agg(s ->> 'name', ',' ORDER BY o) FROM mlops.model_versions_overview v,
                   jsonb_array_elements(v.signature) WITH ORDINALITY AS e(s, o) WHERE v.model_name = 'xgb_saved'")
[ "$sig" = "age,income" ] || fail "the saved XGBoost JSON registered with signature $sig, expected age,income"
echo "xgboost: the JSON saved as the message says registers with signature $sig"
echo "exporter ok"
