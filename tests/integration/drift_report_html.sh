#!/usr/bin/env bash
# drift_report_html: one self-contained HTML page per report, safe to open.
#  1. a churn-like data set drifts on some features (tenure, prices, the
#     contract mix, a new internet service) and not on others; its report
#     says DRIFT with the right count, has a row and a chart per feature,
#     numeric bins labelled by their edges and the new category marked;
#  2. hostile names (a feature, categories, the baseline and the current
#     query holding markup, quotes, ampersands, "]]>", a control character)
#     and a categorical column with 150 categories: the page parses into
#     balanced elements of its own tags only, every SVG chart is well-formed
#     XML, nothing runs or is fetched, the names are there as text (so
#     escaped), and the categories are capped at 30 bars and two "other" bars;
#  3. a reader (mlops_reader, SELECT on the data) renders it; a role without
#     mlops_reader is told it needs it;
#  4. Debian's headless Chromium renders both pages, and the screenshots are
#     not blank: the bars and the badge are drawn.
# tests/integration/drift_report_html.py does the parsing and the pixel
# counts.  With MLOPS_DOCS_SCREENSHOT=PATH the churn page's screenshot is
# also saved there (docs/drift_report.png is made so).
source "$(dirname "$0")/../lib/testdb.sh"
check="/usr/bin/python3 $(dirname "$0")/drift_report_html.py"
out=$(mktemp -d /tmp/mlops-drift-html.XXXXXX)
reader="mlops_html_reader_$$"
nobody="mlops_html_nobody_$$"
cleanup() {
    drop_test_db
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $reader" -c "DROP ROLE IF EXISTS $nobody" >/dev/null 2>&1 || true
    rm -rf "$out"
}
trap cleanup EXIT

# ---- 1. a churn-like data set: month 0 is the baseline, month 6 the current data
q <<'SQL' >/dev/null
CREATE SCHEMA churn;
CREATE FUNCTION churn.u(id int, salt text) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ('x' || substr(md5(id || ':' || salt), 1, 8))::bit(32)::bigint / 4294967296.0;
-- By month 6 tenure has fallen (a wave of sign-ups), prices have risen,
-- month-to-month contracts have gained and a new internet service has
-- appeared; payment methods, support calls and ages hold.
CREATE TABLE churn.customers AS
SELECT id AS customer_id, m AS month,
       1 + floor(churn.u(id, 'tenure') ^ (CASE WHEN m = 0 THEN 1 ELSE 1.6 END) * 72)::int AS tenure_months,
       CASE WHEN churn.u(id, 'contract') < (CASE WHEN m = 0 THEN 0.55 ELSE 0.68 END) THEN 'month-to-month'
            WHEN churn.u(id, 'contract') < 0.85 THEN 'one-year' ELSE 'two-year' END AS contract_type,
       CASE WHEN m = 6 AND churn.u(id, 'satellite') < 0.08 THEN 'satellite'
            WHEN churn.u(id, 'internet') < 0.45 THEN 'fiber'
            WHEN churn.u(id, 'internet') < 0.80 THEN 'dsl' ELSE 'none' END AS internet_service,
       CASE WHEN churn.u(id, 'payment') < 0.35 THEN 'electronic-check'
            WHEN churn.u(id, 'payment') < 0.60 THEN 'mailed-check'
            WHEN churn.u(id, 'payment') < 0.80 THEN 'bank-transfer' ELSE 'credit-card' END AS payment_method,
       floor(-ln(1 - churn.u(id, 'calls')) * 1.5)::int AS support_calls,
       round((20 + CASE WHEN churn.u(id, 'internet') < 0.45 THEN 55 WHEN churn.u(id, 'internet') < 0.80 THEN 30 ELSE 0 END
              + 25 * churn.u(id, 'charges') + CASE WHEN m = 6 THEN 6 ELSE 0 END)::numeric, 2)::float8 AS monthly_charges,
       CASE WHEN churn.u(id, 'age') < 0.03 THEN NULL ELSE 18 + floor(churn.u(id, 'age') * 60)::int END AS age
  FROM generate_series(1, 20000) id, (VALUES (0), (6)) mm(m)
 WHERE m = 0 OR id <= 5000;
CREATE VIEW churn.month_0 AS
SELECT tenure_months, contract_type, internet_service, payment_method, support_calls, monthly_charges, age
  FROM churn.customers WHERE month = 0;
CREATE VIEW churn.month_6 AS
SELECT tenure_months, contract_type, internet_service, payment_method, support_calls, monthly_charges, age
  FROM churn.customers WHERE month = 6;
SELECT mlops.capture_baseline('churn-training', 'churn.month_0');
SQL
q -c "SELECT mlops.drift_report_html('churn-training', 'churn.month_6')" > "$out/churn.html"
q -c "SELECT feature, drifted FROM mlops.drift_report('churn-training', 'churn.month_6')"
# what the page must say, from the report's rows and verdict
q > "$out/churn.json" <<'SQL'
SELECT json_build_object(
    'features', d.n_features, 'of', d.n_drifted || ' of ' || d.n_features,
    'badge', CASE WHEN d.dataset_drifted THEN 'DRIFT' ELSE 'NO DRIFT' END, 'baseline', 'churn-training',
    'feature_names', (SELECT json_agg(r.feature) FROM mlops.drift_report('churn-training', 'churn.month_6') r),
    -- tenure's bins are labelled by its edges (deciles of 1..72), then categories
    'labels', json_build_array('1', '8', '15', '66', '72', 'month-to-month', 'two-year', 'fiber', 'electronic-check'),
    'new_labels', json_build_array('satellite'))
  FROM mlops.dataset_drift('churn-training', 'churn.month_6') d
SQL
cat "$out/churn.json"; echo
grep -q '"badge" : "DRIFT"' "$out/churn.json" || fail "the churn data should drift"
[ "$(q -c "SELECT string_agg(feature, ',' ORDER BY feature) FROM mlops.drift_report('churn-training', 'churn.month_6') WHERE drifted")" \
  = "contract_type,internet_service,monthly_charges,tenure_months" ] || fail "the churn data drifts on other features than made to"
$check page "$out/churn.html" "$out/churn.json"

# ---- 2. hostile names, many categories
q <<'SQL' >/dev/null
CREATE TABLE hostile_ref AS
SELECT (g % 97)::float8 AS "<script>alert(1)</script>",
       (ARRAY['a', 'b', '<script>alert(1)</script>', '"&''', ']]></svg><b>x'])[1 + g % 5] AS """&'",
       'city-' || lpad((g % 120)::text, 3, '0') AS "city <i>",
       (g % 13) * 1.5 AS steady
  FROM generate_series(1, 3000) g;
CREATE TABLE hostile_cur AS
SELECT (g % 97)::float8 + 20 AS "<script>alert(1)</script>",
       (ARRAY['a', '<script>alert(1)</script>', '"&''', 'new <i>cat</i>', E'ctl\x01char'])[1 + g % 5] AS """&'",
       'city-' || lpad((g % 150)::text, 3, '0') AS "city <i>",
       (g % 13) * 1.5 AS steady
  FROM generate_series(1, 2000) g;
SELECT mlops.capture_baseline('<b>"&''</b> baseline', 'hostile_ref');
SQL
current='SELECT * FROM hostile_cur WHERE true /* <script>alert(2)</script> & "x" ]]> */'
q -v cur="$current" > "$out/hostile.html" <<'SQL'
SELECT mlops.drift_report_html('<b>"&''</b> baseline', :'cur')
SQL
q -v cur="$current" > "$out/hostile.json" <<'SQL'
SELECT json_build_object(
    'features', d.n_features, 'of', d.n_drifted || ' of ' || d.n_features,
    'badge', CASE WHEN d.dataset_drifted THEN 'DRIFT' ELSE 'NO DRIFT' END, 'baseline', '<b>"&''</b> baseline',
    'feature_names', json_build_array('<script>alert(1)</script>', '"&''', 'city <i>', 'steady'),
    'escaped', json_build_array('<script>alert(1)</script>', '"&''', ']]></svg><b>x', 'new <i>cat</i>',
                                '<b>"&''</b> baseline', :'cur', 'city <i>'),
    'labels', json_build_array('"&''', 'a', 'b', ']]></svg><b>x', '<script>alert(1)<…'),
    'new_labels', json_build_array('new <i>cat</i>', U&'ctl\FFFDchar', 'other new (30)'),
    'other_labels', json_build_array('other (90)', 'other new (30)'))
  FROM mlops.dataset_drift('<b>"&''</b> baseline', :'cur') d
SQL
cat "$out/hostile.json"; echo
$check page "$out/hostile.html" "$out/hostile.json"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$out/hostile.html" || fail "the hostile feature name is not escaped"
grep -q '&quot;&amp;&#39;' "$out/hostile.html" || fail "the quotes and ampersand are not escaped"
! grep -q $'\x01' "$out/hostile.html" || fail "a control character reached the page"

# ---- 3. roles: a reader renders the page; a role without mlops_reader may not
q -d postgres -c "CREATE ROLE $reader IN ROLE mlops_reader" -c "CREATE ROLE $nobody" >/dev/null
q -c "GRANT USAGE ON SCHEMA churn TO $reader" -c "GRANT SELECT ON churn.month_6 TO $reader" \
  -c "GRANT SELECT ON churn.customers TO $reader" >/dev/null
q -c "SET ROLE $reader" -c "SELECT mlops.drift_report_html('churn-training', 'churn.month_6')" > "$out/reader.html"
cmp -s <(sed 's/<dt>Generated.*//' "$out/churn.html") <(sed 's/<dt>Generated.*//' "$out/reader.html") \
    || fail "the reader's page differs from the owner's"
err=$(q -c "SET ROLE $nobody" -c "SELECT mlops.drift_report_html('churn-training', 'churn.month_6')" 2>&1 || true)
echo "$err" | grep -q 'permission denied for mlops.drift_report_html' || fail "a role without mlops_reader: $err"

# ---- 4. Debian's headless Chromium renders the pages
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium"
    sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
shot() {   # page png height
    timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$out/profile" \
        --screenshot="$2" --window-size="1200,$3" "file://$1" >"$out/chromium.log" 2>&1 \
        || { cat "$out/chromium.log"; fail "chromium did not render $1"; }
    [ -s "$2" ] || { cat "$out/chromium.log"; fail "chromium wrote no screenshot of $1"; }
}
shot "$out/churn.html" "$out/churn.png" 1960
$check png "$out/churn.png" c62828
shot "$out/hostile.html" "$out/hostile.png" 2000
$check png "$out/hostile.png" c62828
if [ -n "${MLOPS_DOCS_SCREENSHOT:-}" ]; then
    cp "$out/churn.png" "$MLOPS_DOCS_SCREENSHOT"
    echo "saved $MLOPS_DOCS_SCREENSHOT ($(stat -c %s "$MLOPS_DOCS_SCREENSHOT") bytes)"
fi
echo "drift_report_html ok"
