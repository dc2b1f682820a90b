#!/usr/bin/env bash
# The bundled example (the quick start's main job) runs end to end, twice in a
# row in the same database, and what it tracked is right; the README shows what
# its first run prints.
source "$(dirname "$0")/../lib/testdb.sh"
example="$(dirname "$0")/../example/churn.sql"

first=$(psql -X -v ON_ERROR_STOP=1 -q -f "$example")
out=$(psql -X -v ON_ERROR_STOP=1 -q -f "$example")
echo "$out"

# The README's quick-start output (its blocks marked <!-- checked: example_churn -->, "..."
# standing for lines left out) is what a first run in a fresh database prints: every line of
# it, trailing blanks aside, in the first pass's output.
readme="$(dirname "$0")/../../README.md"
missing=$(awk '
    /^<!-- checked: example_churn -->$/ { marked = 1; next }
    marked && /^```$/ { inside = 1; marked = 0; next }
    inside && /^```$/ { inside = 0; next }
    inside && $0 != "..." { sub(/[ \t]+$/, ""); print }
' "$readme" | grep -vxF -f <(echo "$first" | sed 's/[ \t]*$//') || true)
[ "$(grep -c '<!-- checked: example_churn -->' "$readme")" -ge 1 ] || fail "no README block is marked as checked by example_churn"
[ -z "$missing" ] || fail "the README's quick-start output has lines the example no longer prints:
$missing"
echo "$out" | grep -Eq "^ +20000 \| t " || fail "native scoring does not agree with the SQL formula"

# The data set is deterministic: 20,000 customers, the same churn count every time.
[ "$(q -c "SELECT count(*) FROM churn.customers")" = 20000 ] || fail "customer count"
rate=$(q -c "SELECT round(avg(churned::int), 2) FROM churn.customers")
echo "churn rate: $rate"
# Two passes, five runs each; only finished runs, each with its holdout metrics.
[ "$(q -c "SELECT count(*) FROM mlops.runs_overview WHERE experiment_name = 'churn' AND status = 'FINISHED' AND metrics ? 'auc'")" = 10 ] \
    || fail "expected 10 finished runs with an auc"
# The majority baseline has AUC exactly 0.5 (one score for everyone).
[ "$(q -c "SELECT DISTINCT metrics->>'auc' FROM mlops.runs_overview WHERE run_name = 'majority-baseline'")" = 0.5 ] \
    || fail "baseline auc is not 0.5"
# Gradient descent lowers the training loss at every epoch (the problem is convex
# and the steps are small enough), and the best logistic regression beats the rule.
q -c "SELECT run_id FROM mlops.runs_overview WHERE params ? 'learning_rate'" | while read -r run; do
    bad=$(q -c "SELECT count(*) FROM (SELECT value - lag(value) OVER (ORDER BY step) AS d
                   FROM mlops.metric_history WHERE run_id = $run AND key = 'train_logloss') s WHERE d > 0")
    [ "$bad" = 0 ] || fail "train_logloss went up in run $run"
    [ "$(q -c "SELECT count(*) FROM mlops.metric_history WHERE run_id = $run AND key = 'train_logloss'")" = 40 ] \
        || fail "run $run does not have 40 epochs of history"
done
q -c "SELECT (SELECT max((metrics->>'auc')::float8) FROM mlops.runs_overview WHERE params ? 'learning_rate')
           > (SELECT max((metrics->>'auc')::float8) FROM mlops.runs_overview WHERE run_name = 'rule-month-to-month')" \
    | grep -qx t || fail "logistic regression does not beat the rule"
# Lineage: every run that read the holdout saw the same rows.
[ "$(q -c "SELECT count(DISTINCT digest) FROM mlops.run_inputs WHERE context = 'holdout'")" = 1 ] \
    || fail "holdout digests differ"
# Registry: one version per pass, the champion is the latest and in Production
# (the first was archived when the second was promoted),
# it was registered from the best run's artifact, and native scoring agrees
# with the SQL formula on every customer (the example prints "agrees").
[ "$(q -c "SELECT string_agg(version || ':' || stage || ':' || array_to_string(aliases, ','), ' ' ORDER BY version)
            FROM mlops.model_versions_overview WHERE model_name = 'churn'")" = "1:Archived: 2:Production:champion" ] \
    || fail "registry state after two passes"
[ "$(q -c "SELECT string_agg(m.name || ':' || v.version, ' ' ORDER BY m.name, v.version)
            FROM mlops.model_versions v JOIN mlops.registered_models m USING (model_id) JOIN mlops.artifacts a
            ON a.run_id = v.run_id AND a.path = 'model/mlops-model.json' AND a.sha256 = v.sha256")" \
  = "churn:1 churn:2 churn_challenger:1" ] \
    || fail "versions do not trace back to their runs' artifacts (the challenger registered once)"
q -c "SELECT max(abs(mlops.predict('churn', to_jsonb(c) - 'customer_id' - 'churned')
                    - mlops.score((SELECT mlops.compiled_model('churn:2')), to_jsonb(c) - 'customer_id' - 'churned')))
        FROM churn.customers c" | grep -qx 0 || fail "predict and score disagree"
# Drift: the moved inputs drift, the stable ones do not, nor does the training
# population against itself; the data set and the predictions drift.
[ "$(q -c "SELECT string_agg(feature || '=' || drifted, ',' ORDER BY feature) FROM mlops.drift_report('churn-training', 'churn.new_month')")" \
  = "contract_type=true,internet_service=true,monthly_charges=true,payment_method=false,support_calls=false,tenure_months=true" ] \
    || fail "drift of the new month: $(q -c "SELECT string_agg(feature || '=' || drifted, ',') FROM mlops.drift_report('churn-training', 'churn.new_month')")"
[ "$(q -c "SELECT count(*) FILTER (WHERE drifted) FROM mlops.drift_report('churn-training', 'SELECT * FROM churn.customers WHERE customer_id % 5 = 0')")" = 0 ] \
    || fail "the holdout customers drift from the training ones"
[ "$(q -c "SELECT dataset_drifted FROM mlops.dataset_drift('churn-training', 'churn.new_month')")" = t ] || fail "dataset drift"
[ "$(q -c "SELECT drifted FROM mlops.drift_report('churn-predictions', 'churn.new_month_scores')")" = t ] || fail "prediction drift"
[ "$(q -c "SELECT count(*) FROM churn.training_from_features t JOIN churn.customers c USING (customer_id)
            WHERE t.tenure_months = greatest(1, c.tenure_months - 1) AND t.label = c.churned")" = 16000 ] \
    || fail "the training set from feature views is not February's snapshot of the 16,000 training customers"
[ "$(q -c "SELECT count(*) FROM churn.customers c
            WHERE abs(mlops.predict('churn@champion', mlops.feature_vector('churn_features', c.customer_id))
                      - mlops.predict('churn@champion', to_jsonb(c) - 'customer_id' - 'churned')) > 1e-12")" = 0 ] \
    || fail "online features do not score as the customers' columns do"
# A/B test: every customer served once by the variant its hash gives, the
# exposures recorded, the results' units and rates those of the served table.
[ "$(q -c "SELECT count(*) FROM churn.served s
            WHERE s.variant = (ARRAY['champion', 'challenger'])[1 + mlops.ab_choose_variation(
                      mlops.ab_hash('churn_retention', s.customer_id::text, 2), mlops.ab_bucket_ranges(2, 1, NULL))]")" = 20000 ] \
    || fail "A/B variants are not the customers' GrowthBook assignments"
[ "$(q -c "SELECT count(*) FROM mlops.ab_assignments a JOIN mlops.ab_tests t USING (ab_test_id) WHERE t.key = 'churn_retention'")" = 20000 ] \
    || fail "A/B exposures not recorded once per customer"
[ "$(q -c "SELECT bool_and(r.units = s.n AND abs(r.mean - s.rate) < 1e-12)
            FROM mlops.ab_results('churn_retention', 'retained') r
            JOIN (SELECT s.variant, count(*) AS n, avg(o.value) AS rate FROM churn.served s
                    JOIN mlops.ab_outcomes o ON o.unit_id = s.customer_id::text AND o.metric = 'retained'
                   GROUP BY s.variant) s USING (variant)")" = t ] \
    || fail "A/B results do not match the served customers' outcomes"
# Training in the database (step 9): two candidates and a retraining per pass (two passes), each a finished run with held-out
# metrics and a version; the champion is the better by AUC at first, the retraining on the drifted
# window promotes a third version, and the cycle is a succeeded job run with every step recorded.
[ "$(q -c "SELECT count(*) FROM mlops.runs_overview WHERE experiment_name = 'churn-training-db' AND status = 'FINISHED'
            AND (metrics->>'roc_auc')::float8 > 0.7 AND params->>'mlops.algorithm' IN ('logistic_regression', 'xgboost')")" = 6 ] \
    || fail "the trained candidates and the retraining run: $(q -c "SELECT run_name, status, metrics FROM mlops.runs_overview WHERE experiment_name = 'churn-training-db'")"
[ "$(q -c "SELECT string_agg(version || ':' || array_to_string(aliases, '+'), ',' ORDER BY version) FROM mlops.model_versions_overview WHERE model_name = 'churn_db'")" \
  = "1:,2:,3:challenger+champion" ] || fail "churn_db versions and aliases: $(q -c "SELECT version, aliases FROM mlops.model_versions_overview WHERE model_name = 'churn_db'")"
[ "$(q -c "SELECT string_agg(e.step, ',' ORDER BY e.event_id) FROM mlops.retraining_events e JOIN mlops.retraining_policies p USING (policy_id) WHERE p.name = 'churn-db-retrain'")" \
  = "created,started,trained,challenger,evaluated,promoted" ] || fail "retraining events"
[ "$(q -c "SELECT status FROM mlops.latest_job_runs WHERE job_name = 'retrain:churn-db-retrain'")" = succeeded ] || fail "retraining job run"
# the job runs' notes: the monitor names what drifted, the cycle what it decided
[[ "$(q -c "SELECT note FROM mlops.latest_job_runs WHERE job_name = 'churn-db-monitor'")" == *" of 6 features drifted: "*tenure_months* ]] \
    || fail "the monitor's note: $(q -c "SELECT note FROM mlops.latest_job_runs WHERE job_name = 'churn-db-monitor'")"
[[ "$(q -c "SELECT note FROM mlops.latest_job_runs WHERE job_name = 'retrain:churn-db-retrain'")" =~ ^"version "[0-9]+" promoted: " ]] \
    || fail "the cycle's note: $(q -c "SELECT note FROM mlops.latest_job_runs WHERE job_name = 'retrain:churn-db-retrain'")"
[ "$(q -c "SELECT count(*) FROM churn.scores_db")" = 20000 ] || fail "the trained champion's batch scores"
[ "$(q -c "SELECT sum(units) FROM mlops.ab_results('churn_db_ab', 'retained_db')")" = 20000 ] || fail "the trained models' A/B test"
echo "example ok"
