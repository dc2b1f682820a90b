-- drift_report.sql: the drift report as one self-contained HTML page
-- (drift_report_html): the dataset's verdict, a table of the features and,
-- per feature, its reference and current histograms as an inline SVG chart.
-- Inline CSS, no scripts, nothing fetched: the page can be mailed, attached
-- to a ticket or served as it is.  The numbers are drift.sql's
-- (_drift_rows, _drift_verdict); this file only draws them, with helpers
-- that only compute (_html_escape, _html_number, _drift_chart_svg).

-- Text for HTML and SVG (which is XML): the five markup characters as
-- entities, and the control characters XML does not allow as U+FFFD.  NULL
-- gives the empty string.
CREATE FUNCTION mlops._html_escape(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(regexp_replace(replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                                                       '"', '&quot;'), '''', '&#39;'),
                               '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]', U&'\FFFD', 'g'), '');

-- A number as a person reads it: four significant digits, scientific
-- notation for the very large and very small, a dash for none.
CREATE FUNCTION mlops._html_number(x float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN x IS NULL THEN '—'
            WHEN x = 'NaN' THEN 'NaN'
            WHEN x = 'Infinity' THEN '∞'
            WHEN x = '-Infinity' THEN '−∞'
            WHEN x = 0 THEN '0'
            WHEN abs(x) >= 1e6 OR abs(x) < 1e-3
                THEN regexp_replace(btrim(to_char(x, '9.99EEEE')), '\.?0+e', 'e')
            ELSE trim_scale(round(x::numeric, greatest(0, 3 - floor(log(abs(x)::numeric))::int)))::text END;

-- One feature's chart: reference and current proportions side by side per
-- bin (numeric: the baseline's quantile bins, labelled by their edges, at
-- most 40 drawn; categorical: per category, new ones marked, the 30 largest
-- drawn and the rest as "other" and "other new"), with a y axis in percent,
-- a legend, and two lines of notes (the method's statistic against its
-- threshold, then details).  The texts come unescaped: all are escaped here.
CREATE FUNCTION mlops._drift_chart_svg(kind text, histogram jsonb, note text, subnote text, label text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w constant float8 := 560;           -- the viewBox width
    x1 constant float8 := 548;          -- right end of the plot
    y0 constant float8 := 56;           -- top of the plot
    plot_h constant float8 := 160;
    y1 constant float8 := 56 + 160;     -- the x axis
    char_w constant float8 := 6.4;      -- an 11px label's mean character width
    max_slots constant int := 40;       -- numeric bins drawn (more are merged)
    max_cats constant int := 30;        -- categories drawn (the rest are "other")
    x0 float8 := 46;                    -- left end of the plot
    e float8[];
    r0 float8[];
    c0 float8[];
    names text[];
    ref float8[] := '{}';
    cur float8[] := '{}';
    lo float8[] := '{}';
    hi float8[] := '{}';
    lab text[] := '{}';                 -- axis labels: per slot (categorical) or per boundary (numeric)
    tip text[] := '{}';
    mark text[] := '{}';                -- '', 'new' or 'other'
    keep int[];
    bounds float8[];
    k int;
    n int;
    nnew int;
    g int;
    ymax float8;
    step float8;
    top float8;
    mag float8;
    sw float8;
    pad float8;
    bw float8;
    rotate boolean;
    label_len int;
    every int;
    angle float8;
    h float8;
    x float8;
    y float8;
    s text := '';
    any_new boolean := false;
    empty_current boolean;
BEGIN
    IF histogram IS NULL OR jsonb_typeof(histogram -> 'reference') IS DISTINCT FROM 'array' THEN
        RETURN '<p class="nochart">No histogram.</p>';
    END IF;
    r0 := ARRAY(SELECT coalesce(v::float8, 0) FROM jsonb_array_elements_text(histogram -> 'reference')
                  WITH ORDINALITY a(v, o) ORDER BY o);
    c0 := ARRAY(SELECT coalesce(v::float8, 0) FROM jsonb_array_elements_text(histogram -> 'current')
                  WITH ORDINALITY a(v, o) ORDER BY o);
    k := least(cardinality(r0), cardinality(c0));
    empty_current := NOT EXISTS (SELECT FROM unnest(c0) v WHERE v > 0);

    IF kind = 'numeric' THEN
        e := ARRAY(SELECT v::float8 FROM jsonb_array_elements_text(histogram -> 'edges')
                     WITH ORDINALITY a(v, o) ORDER BY o);
        bounds := ARRAY[(histogram ->> 'min')::float8] || e || ARRAY[(histogram ->> 'max')::float8];
        -- bins empty on both sides (repeated edges of a discrete feature) are not drawn
        FOR i IN 1 .. k LOOP
            CONTINUE WHEN r0[i] <= 0 AND c0[i] <= 0;
            ref := ref || r0[i];
            cur := cur || c0[i];
            lo := lo || CASE WHEN cardinality(bounds) = k + 1 THEN bounds[i] END;
            hi := hi || CASE WHEN cardinality(bounds) = k + 1 THEN bounds[i + 1] END;
            tip := tip || CASE WHEN cardinality(bounds) <> k + 1 THEN 'bin ' || i
                               WHEN i = 1 THEN 'below ' || mlops._html_number(bounds[2])
                               WHEN i = k THEN mlops._html_number(bounds[k]) || ' and above'
                               ELSE mlops._html_number(bounds[i]) || ' to ' || mlops._html_number(bounds[i + 1]) END;
        END LOOP;
        n := cardinality(ref);
        IF n > max_slots THEN       -- merge neighbours, g at a time
            g := ceil(n / max_slots::float8);
            SELECT array_agg(rs ORDER BY grp), array_agg(cs ORDER BY grp), array_agg(l ORDER BY grp),
                   array_agg(u ORDER BY grp)
              INTO ref, cur, lo, hi
              FROM (SELECT (o - 1) / g AS grp, sum(ref[o]) AS rs, sum(cur[o]) AS cs,
                           min(lo[o]) AS l, max(hi[o]) AS u
                      FROM generate_series(1, n) o GROUP BY 1) m;
            tip := ARRAY(SELECT mlops._html_number(lo[o]) || ' to ' || mlops._html_number(hi[o])
                           FROM generate_series(1, cardinality(lo)) o);
            n := cardinality(ref);
        END IF;
        FOR i IN 1 .. n LOOP
            lab := lab || mlops._html_number(lo[i]);
            mark := mark || ''::text;
        END LOOP;
        lab := lab || mlops._html_number(hi[n]);
    ELSE
        names := ARRAY(SELECT v FROM jsonb_array_elements_text(histogram -> 'categories')
                         WITH ORDINALITY a(v, o) ORDER BY o);
        nnew := coalesce((histogram ->> 'new')::int, 0);
        k := least(k, cardinality(names));
        IF k > max_cats + 1 THEN
            keep := ARRAY(SELECT o FROM (SELECT o FROM generate_series(1, k) o
                                          ORDER BY greatest(r0[o], c0[o]) DESC, o LIMIT max_cats) t ORDER BY o);
        ELSE
            keep := ARRAY(SELECT generate_series(1, k));
        END IF;
        FOREACH g IN ARRAY keep LOOP
            ref := ref || r0[g];
            cur := cur || c0[g];
            lab := lab || CASE WHEN names[g] = '' THEN '(empty)'
                               WHEN length(names[g]) > 18 THEN left(names[g], 17) || '…' ELSE names[g] END;
            tip := tip || (CASE WHEN names[g] = '' THEN '(empty)' ELSE left(names[g], 500) END
                           || CASE WHEN g > k - nnew THEN ' (new)' ELSE '' END);
            mark := mark || CASE WHEN g > k - nnew THEN 'new' ELSE '' END;
            any_new := any_new OR g > k - nnew;
        END LOOP;
        -- the rest: one bar for the baseline's categories, one for new ones
        FOR i IN 0 .. 1 LOOP
            SELECT count(*), sum(r0[o]), sum(c0[o]) INTO g, x, y FROM generate_series(1, k) o
             WHERE o <> ALL (keep) AND (o > k - nnew) = (i = 1);
            CONTINUE WHEN g = 0;
            ref := ref || x;
            cur := cur || y;
            lab := lab || format(CASE i WHEN 0 THEN 'other (%s)' ELSE 'other new (%s)' END, g);
            tip := tip || format(CASE i WHEN 0 THEN '%s other categories of the reference' ELSE '%s other new categories' END, g);
            mark := mark || CASE i WHEN 0 THEN 'other' ELSE 'other new' END;
            any_new := any_new OR i = 1;
        END LOOP;
        n := cardinality(ref);
    END IF;
    IF n = 0 THEN
        RETURN '<p class="nochart">No values to draw.</p>';
    END IF;

    -- y axis: 0 to a round number above the tallest bar, 3 to 6 gridlines
    ymax := greatest((SELECT max(v) FROM unnest(ref || cur) v), 0.01);
    mag := power(10, floor(log(ymax / 5)));
    step := mag * CASE WHEN ymax / 5 / mag <= 1 THEN 1 WHEN ymax / 5 / mag <= 2 THEN 2
                       WHEN ymax / 5 / mag <= 5 THEN 5 ELSE 10 END;
    top := ceil(ymax / step - 1e-9) * step;

    -- x axis: labels level when they fit their slot, else slanted: 40
    -- degrees, or steeper for many categories, each of which keeps its label
    -- (numeric ones are thinned out instead)
    label_len := least((SELECT max(length(v)) FROM unnest(lab) v), 19);
    sw := (x1 - x0) / n;
    rotate := label_len * char_w + 6 > sw;
    angle := CASE WHEN rotate AND kind <> 'numeric' AND sw * sind(40) < 13 THEN 70 ELSE 40 END;
    IF rotate THEN
        -- the first label slants left from its slot or boundary: leave it room
        x0 := greatest(x0, least(length(lab[1]), 19) * char_w * cosd(angle) + 8
                           - CASE WHEN kind = 'numeric' THEN 0 ELSE sw / 2 END);
        sw := (x1 - x0) / n;
    END IF;
    every := CASE WHEN NOT rotate THEN 1
                  WHEN kind = 'numeric' THEN greatest(1, ceil(14 / (sw * sind(angle)))::int)
                  ELSE 1 END;
    pad := sw * 0.14;
    bw := (sw - 2 * pad) / 2;
    h := y1 + CASE WHEN rotate THEN label_len * char_w * sind(angle) + 8 * cosd(angle) + 14 ELSE 26 END
            + CASE WHEN kind = 'numeric' THEN 14 ELSE 0 END;

    s := format('<svg viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s" class="chart">',
                w, round(h::numeric), w, round(h::numeric), mlops._html_escape(label));
    -- notes and legend
    s := s || format('<text x="4" y="17" class="note">%s</text>', mlops._html_escape(note));
    s := s || format('<text x="4" y="36" class="subnote">%s</text>', mlops._html_escape(subnote));
    s := s || format('<rect x="%s" y="7" width="12" height="12" class="ref"/><text x="%s" y="17" class="legend">reference</text>'
                     '<rect x="%s" y="7" width="12" height="12" class="cur"/><text x="%s" y="17" class="legend">current</text>',
                     w - 166, w - 150, w - 76, w - 60);
    IF any_new THEN
        s := s || format('<rect x="%s" y="26" width="12" height="12" class="cur new"/><text x="%s" y="36" class="legend">new category</text>',
                         w - 116, w - 100);
    END IF;
    -- gridlines and the y axis
    FOR i IN 0 .. round(top / step)::int LOOP
        y := y1 - i * step / top * plot_h;
        s := s || format('<line x1="%s" x2="%s" y1="%s" y2="%s" class="%s"/><text x="%s" y="%s" class="ytick">%s%%</text>',
                         round(x0::numeric, 1), x1, round(y::numeric, 1), round(y::numeric, 1),
                         CASE WHEN i = 0 THEN 'axis' ELSE 'grid' END,
                         round((x0 - 5)::numeric, 1), round((y + 3.5)::numeric, 1),
                         mlops._html_number(round((100 * i * step)::numeric, 6)::float8));
    END LOOP;
    -- the bars, each slot with its tooltip
    FOR i IN 1 .. n LOOP
        x := x0 + (i - 1) * sw + pad;
        s := s || format('<g><title>%s: reference %s%%, current %s%%</title>', mlops._html_escape(tip[i]),
                         mlops._html_number(round((100 * ref[i])::numeric, 2)::float8),
                         mlops._html_number(round((100 * cur[i])::numeric, 2)::float8));
        s := s || format('<rect x="%s" y="%s" width="%s" height="%s" class="ref"/>',
                         round(x::numeric, 2), round((y1 - ref[i] / top * plot_h)::numeric, 2),
                         round(bw::numeric, 2), round((ref[i] / top * plot_h)::numeric, 2));
        s := s || format('<rect x="%s" y="%s" width="%s" height="%s" class="cur%s"/></g>',
                         round((x + bw)::numeric, 2), round((y1 - cur[i] / top * plot_h)::numeric, 2),
                         round(bw::numeric, 2), round((cur[i] / top * plot_h)::numeric, 2),
                         CASE WHEN mark[i] LIKE '%new' THEN ' new' ELSE '' END);
    END LOOP;
    -- x labels: numeric ones on the bin boundaries, categorical ones under their bars
    FOR i IN 1 .. cardinality(lab) LOOP
        CONTINUE WHEN (i - 1) % every <> 0;
        x := CASE WHEN kind = 'numeric' THEN x0 + (i - 1) * sw ELSE x0 + (i - 0.5) * sw END;
        IF kind = 'numeric' THEN
            s := s || format('<line x1="%s" x2="%s" y1="%s" y2="%s" class="axis"/>',
                             round(x::numeric, 1), round(x::numeric, 1), y1, y1 + 4);
        END IF;
        IF rotate THEN
            s := s || format('<text transform="translate(%s %s) rotate(-%s)" class="xtick%s" text-anchor="end">%s</text>',
                             round((x + 3)::numeric, 1), y1 + 13, angle, CASE WHEN mark[i] <> '' THEN ' ' || mark[i] ELSE '' END,
                             mlops._html_escape(lab[i]));
        ELSE
            s := s || format('<text x="%s" y="%s" class="xtick%s" text-anchor="middle">%s</text>',
                             round(x::numeric, 1), y1 + 16, CASE WHEN mark[i] <> '' THEN ' ' || mark[i] ELSE '' END,
                             mlops._html_escape(lab[i]));
        END IF;
    END LOOP;
    IF kind = 'numeric' THEN
        s := s || format('<text x="%s" y="%s" class="subnote" text-anchor="end">bins: quantiles of the reference, labelled by their edges</text>',
                         x1, round((h - 6)::numeric, 1));
    END IF;
    IF empty_current THEN
        s := s || format('<text x="%s" y="%s" class="subnote" text-anchor="middle">no current values</text>',
                         round(((x0 + x1) / 2)::numeric, 1), y0 + 20);
    END IF;
    RETURN s || '</svg>';
END
$$;

-- The drift report as one HTML document: a title (baseline, current data,
-- when), the dataset's verdict, a table of the features (drifted ones
-- first) and a chart per feature.  Runs as its caller and reads the current
-- data as its caller (through _drift_rows, once), with drift_report's
-- options.  Every piece of user text is escaped.
CREATE FUNCTION mlops.drift_report_html(baseline text, current text, options jsonb DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    report_rows jsonb;
    b record;
    v record;
    r record;
    table_rows text := '';
    charts text := '';
    meta text;
    note text;
    subnote text;
    verdict text;
    n_rows bigint;
    version text;
    css constant text := $css$
:root{--ref:#4c78a8;--cur:#f58518;--bad:#c62828;--ok:#2e7d32;--muted:#6b7280;--line:#e5e7eb}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans","Helvetica Neue",Arial,sans-serif;color:#1f2937;background:#f5f6f8}
h1{font-size:22px;margin:0 0 6px;font-weight:650}
h2{font-size:16px;margin:26px 0 10px;font-weight:650}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:6px 0 0;font-size:13px}
.meta dt{color:var(--muted)}
.meta dd{margin:0;overflow-wrap:anywhere}
code{font:12px/1.4 "DejaVu Sans Mono",Menlo,Consolas,monospace;background:#eaecf0;padding:1px 5px;border-radius:3px;overflow-wrap:anywhere}
.verdict{display:flex;align-items:center;gap:24px;flex-wrap:wrap;background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:18px 0 0}
.verdict.drift{border-left:6px solid var(--bad)}
.verdict.nodrift{border-left:6px solid var(--ok)}
.badge{display:inline-block;font-weight:700;letter-spacing:.05em;padding:7px 16px;border-radius:6px;color:#fff;font-size:18px;white-space:nowrap}
.badge.drift{background:var(--bad)}
.badge.nodrift{background:var(--ok)}
.badge.none{background:var(--muted)}
.verdict .big{font-size:18px}
.verdict .small{color:var(--muted);font-size:13px}
.meter{position:relative;height:10px;background:#e5e7eb;border-radius:5px;width:280px;margin-top:8px}
.meter .fill{position:absolute;left:0;top:0;bottom:0;border-radius:5px}
.meter .fill.drift{background:var(--bad)}
.meter .fill.nodrift{background:var(--ok)}
.meter .mark{position:absolute;top:-5px;bottom:-5px;width:2px;background:#111827}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line);font-size:13px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#f0f2f5;font-weight:600;color:#374151}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.feat{white-space:normal;overflow-wrap:anywhere;max-width:320px}
td.feat a{color:inherit}
tr.drifted td.feat{box-shadow:inset 4px 0 var(--bad)}
.pill{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600}
.pill.yes{background:#fdecea;color:var(--bad)}
.pill.no{background:#e8f5e9;color:var(--ok)}
.pill.na{background:#eef0f3;color:var(--muted)}
.kind{color:var(--muted);font-size:12px;font-weight:400}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px 8px}
.card.drifted{border-top:4px solid var(--bad)}
.card h3{margin:0 0 6px;font-size:15px;font-weight:650;overflow-wrap:anywhere}
.card svg{width:100%;height:auto;display:block}
.nochart{color:var(--muted)}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;fill:#374151}
svg .note{font-size:12.5px;font-weight:600;fill:#111827}
svg .subnote{font-size:11px;fill:var(--muted)}
svg .legend{font-size:11px}
svg .ytick{font-size:10px;text-anchor:end;fill:var(--muted)}
svg .xtick{font-size:11px}
svg .xtick.new{fill:var(--bad);font-weight:600}
svg .xtick.other{font-style:italic;fill:var(--muted)}
svg .xtick.other.new{fill:var(--bad)}
svg .grid{stroke:#eceef1;stroke-width:1}
svg .axis{stroke:#9ca3af;stroke-width:1}
svg rect.ref{fill:var(--ref)}
svg rect.cur{fill:var(--cur)}
svg rect.new{stroke:var(--bad);stroke-width:1.5}
footer{margin-top:28px;color:var(--muted);font-size:12px;max-width:900px}
$css$;
BEGIN
    PERFORM mlops._require_role('mlops_reader', 'drift_report_html');
    -- the current data is read once: every row of the report, in the baseline's order
    SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.ordinality), '[]') INTO report_rows
      FROM mlops._drift_rows(baseline, current, options) WITH ORDINALITY x;
    SELECT * INTO v FROM mlops._drift_verdict(ARRAY(SELECT coalesce((x ->> 'drifted')::boolean, false)
                                                      FROM jsonb_array_elements(report_rows) x), options);
    SELECT x.* INTO b FROM mlops.drift_baselines x WHERE x.name = baseline;
    SELECT max((x -> 'stats' ->> 'n_rows')::bigint) INTO n_rows FROM jsonb_array_elements(report_rows) x;
    SELECT e.extversion INTO version FROM pg_catalog.pg_extension e WHERE e.extname = 'mlops';

    FOR r IN SELECT (x ->> 'ordinality')::int AS ord, x ->> 'feature' AS feature, x ->> 'kind' AS kind,
                    x ->> 'method' AS method, (x ->> 'statistic')::float8 AS statistic,
                    (x ->> 'p_value')::float8 AS p_value, (x ->> 'threshold')::float8 AS threshold,
                    (x ->> 'drifted')::boolean AS drifted, (x ->> 'n_reference')::bigint AS n_reference,
                    (x ->> 'n_current')::bigint AS n_current, x -> 'stats' AS stats, x -> 'histogram' AS histogram,
                    c.null_rate AS ref_null_rate
               FROM jsonb_array_elements(report_rows) x
               LEFT JOIN mlops.drift_baseline_columns c ON c.baseline_id = b.baseline_id AND c.column_name = x ->> 'feature'
              ORDER BY coalesce((x ->> 'drifted')::boolean, false) DESC, (x ->> 'ordinality')::int LOOP
        note := CASE r.method WHEN 'ks' THEN 'KS' WHEN 'chisquare' THEN 'χ²' WHEN 'psi' THEN 'PSI'
                              WHEN 'wasserstein' THEN 'Wasserstein (norm.)' WHEN 'js' THEN 'Jensen–Shannon'
                              ELSE r.method END;
        IF r.statistic IS NULL AND r.p_value IS NULL THEN
            note := note || ': no current values, no verdict';
        ELSIF r.method IN ('ks', 'chisquare') THEN
            note := note || format('%s = %s, p = %s %s %s → %s', CASE r.method WHEN 'ks' THEN ' D' ELSE '' END,
                                   mlops._html_number(r.statistic), mlops._html_number(r.p_value),
                                   CASE WHEN r.drifted THEN '<' ELSE '≥' END, mlops._html_number(r.threshold),
                                   CASE WHEN r.drifted THEN 'drifted' ELSE 'no drift' END);
        ELSE
            note := note || format(' = %s %s %s → %s', mlops._html_number(r.statistic),
                                   CASE WHEN r.drifted THEN '≥' ELSE '<' END, mlops._html_number(r.threshold),
                                   CASE WHEN r.drifted THEN 'drifted' ELSE 'no drift' END);
        END IF;
        IF r.kind = 'numeric' THEN
            subnote := format('mean %s → %s · std %s → %s · outside the reference range %s%%',
                              mlops._html_number((r.stats ->> 'reference_mean')::float8),
                              mlops._html_number((r.stats ->> 'mean')::float8),
                              mlops._html_number((r.stats ->> 'reference_std')::float8),
                              mlops._html_number((r.stats ->> 'std')::float8),
                              mlops._html_number(round(100 * (r.stats ->> 'out_of_range_rate')::numeric, 2)::float8));
        ELSE
            subnote := format('%s categories in the reference · %s',
                              jsonb_array_length(r.histogram -> 'categories') - coalesce((r.histogram ->> 'new')::int, 0),
                              CASE WHEN coalesce((r.histogram ->> 'new')::int, 0) = 0 THEN 'no new categories'
                                   ELSE format('%s new, %s%% of current rows', (r.histogram ->> 'new')::int,
                                               mlops._html_number(round(100 * (r.stats ->> 'new_category_rate')::numeric, 2)::float8))
                              END);
        END IF;

        table_rows := table_rows || format(
            '<tr class="%s"><td class="feat"><a href="#f%s">%s</a></td><td>%s</td><td>%s</td><td class="num">%s</td>'
            '<td class="num">%s</td><td class="num">%s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td>'
            '<td class="num">%s → %s</td></tr>' || chr(10),
            CASE WHEN r.drifted THEN 'drifted' ELSE 'ok' END, r.ord, mlops._html_escape(r.feature),
            mlops._html_escape(r.kind), mlops._html_escape(r.method), mlops._html_number(r.statistic),
            mlops._html_number(r.p_value), mlops._html_number(r.threshold),
            CASE WHEN r.drifted THEN '<span class="pill yes">drifted</span>'
                 WHEN NOT r.drifted THEN '<span class="pill no">no</span>' ELSE '<span class="pill na">n/a</span>' END,
            to_char(r.n_reference, 'FM999,999,999,999,990'), to_char(r.n_current, 'FM999,999,999,999,990'),
            CASE WHEN r.ref_null_rate IS NULL THEN '—' ELSE round((100 * r.ref_null_rate)::numeric, 1) || '%' END,
            CASE WHEN r.stats ->> 'null_rate' IS NULL THEN '—'
                 ELSE round(100 * (r.stats ->> 'null_rate')::numeric, 1) || '%' END);

        charts := charts || format(
            '<section class="card%s" id="f%s"><h3>%s <span class="kind">%s</span> %s</h3>%s</section>' || chr(10),
            CASE WHEN r.drifted THEN ' drifted' ELSE '' END, r.ord, mlops._html_escape(r.feature),
            mlops._html_escape(r.kind),
            CASE WHEN r.drifted THEN '<span class="pill yes">drifted</span>'
                 WHEN NOT r.drifted THEN '<span class="pill no">no drift</span>' ELSE '<span class="pill na">n/a</span>' END,
            mlops._drift_chart_svg(r.kind, r.histogram, note, subnote,
                                   format('Reference and current distribution of %s', r.feature)));
    END LOOP;

    verdict := CASE WHEN v.n_features = 0 THEN 'none' WHEN v.dataset_drifted THEN 'drift' ELSE 'nodrift' END;
    meta := format('<dl class="meta"><dt>Baseline</dt><dd><strong>%s</strong> — captured from <code>%s</code> '
                   '(%s, %s rows) on %s by %s</dd>'
                   '<dt>Current data</dt><dd><code>%s</code> (%s rows)</dd>'
                   '%s<dt>Generated</dt><dd>%s by mlops %s</dd></dl>',
                   mlops._html_escape(baseline),
                   mlops._html_escape(CASE WHEN length(b.source) > 600 THEN left(b.source, 600) || '…' ELSE b.source END),
                   mlops._html_escape(b.source_kind), to_char(b.n_rows, 'FM999,999,999,999,990'),
                   to_char(b.created_at, 'YYYY-MM-DD HH24:MI:SS TZ'), mlops._html_escape(b.created_by),
                   mlops._html_escape(CASE WHEN length(current) > 600 THEN left(current, 600) || '…' ELSE current END),
                   coalesce(to_char(n_rows, 'FM999,999,999,999,990'), '—'),
                   CASE WHEN options IS NOT NULL AND options <> '{}' THEN
                       '<dt>Options</dt><dd><code>' || mlops._html_escape(left(options::text, 600)) || '</code></dd>' END,
                   to_char(now(), 'YYYY-MM-DD HH24:MI:SS TZ'), mlops._html_escape(version));

    RETURN '<!DOCTYPE html>' || chr(10)
        || '<html lang="en"><head><meta charset="utf-8">'
        || '<meta name="viewport" content="width=device-width, initial-scale=1">'
        || format('<title>Drift report: %s</title>', mlops._html_escape(baseline))
        || '<style>' || css || '</style></head>' || chr(10) || '<body>' || chr(10)
        || format('<header><h1>Drift report: %s vs %s</h1>%s</header>', mlops._html_escape(baseline),
                  CASE WHEN length(current) <= 60 AND mlops._source_sql(current) NOT LIKE '(%' THEN mlops._html_escape(current)
                       ELSE 'the current data' END, meta)
        || chr(10)
        || format('<section class="verdict %s"><span class="badge %s">%s</span><div><div class="big">'
                  '<strong>%s of %s</strong> features drifted (%s%%)</div>'
                  '<div class="meter"><div class="fill %s" style="width:%s%%"></div><div class="mark" style="left:%s%%"></div></div>'
                  '<div class="small">The dataset drifts when the share of drifted features reaches %s%% (drift_share).</div>'
                  '</div></section>',
                  verdict, verdict,
                  CASE verdict WHEN 'drift' THEN 'DRIFT' WHEN 'nodrift' THEN 'NO DRIFT' ELSE 'NO FEATURES' END,
                  v.n_drifted, v.n_features, mlops._html_number(round(100 * coalesce(v.share_drifted, 0)::numeric, 1)::float8),
                  verdict, round(100 * least(coalesce(v.share_drifted, 0), 1)::numeric, 2),
                  round(100 * least(greatest(v.drift_share, 0), 1)::numeric, 2),
                  mlops._html_number(round(100 * v.drift_share::numeric, 1)::float8))
        || chr(10) || '<h2>Features</h2>' || chr(10)
        || '<table><thead><tr><th>feature</th><th>kind</th><th>method</th><th class="num">statistic</th>'
        || '<th class="num">p-value</th><th class="num">threshold</th><th>drifted</th><th class="num">n reference</th>'
        || '<th class="num">n current</th><th class="num">null rate (ref → cur)</th></tr></thead><tbody>' || chr(10)
        || table_rows || '</tbody></table>' || chr(10)
        || '<h2>Distributions</h2>' || chr(10) || '<div class="charts">' || chr(10) || charts || '</div>' || chr(10)
        || '<footer>Bars are the share of each side''s non-null values per bin. Numeric bins are the baseline''s '
        || 'quantile bins, labelled by their edges; the first and last also hold current values beyond the '
        || 'reference''s range. KS and χ² flag drift when the p-value is below the threshold; Wasserstein '
        || '(normalised by the reference''s standard deviation), PSI and Jensen–Shannon when the statistic '
        || 'reaches it.</footer>' || chr(10)
        || '</body></html>' || chr(10);
END
$$;

-- Privileges (see tracking.sql).  drift_report_html runs as its caller, so
-- its helpers, which only compute, are the caller's to execute too.
CALL mlops._private_by_default();
GRANT EXECUTE ON FUNCTION mlops.drift_report_html(text, text, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    mlops._html_escape(text),
    mlops._html_number(float8),
    mlops._drift_chart_svg(text, jsonb, text, text, text)
    TO PUBLIC;
