-- purpose: the cells of the published boundary_activity and costing_coverage tables, before
--          disclosure control (src/popheath/capitation/tables.py activity_table).
--          boundary_activity: activity reported separately from the baselines (out-of-area people,
--          records not linked to a person, providers outside the partnership, activity outside a
--          person's exposure window as cap_person_year draws it) by setting, with each boundary's
--          total over settings (setting 'All', present with zero records when the boundary has no
--          activity; the boundaries overlap, so there is no total over them).
--          costing_coverage: records and cost by source, setting and coverage level (the second part
--          of activity_costs.cost_basis, costing_qa.COST_LEVELS), each source's total (setting and
--          cost_level 'All') and the total of all sources ('All', 'All', 'All').
--          Records of people with a type 1 objection or a national data opt-out are left out, as from
--          every capitation output (01_planning_population.sql); the cost stage's internal
--          qa/costing_summary.csv counts every record. For disclosure control: people = the distinct
--          people behind a cell, a record not linked to a person counting as a person of its own
--          (whose it is cannot be known, so no two are assumed to share one); _dominance_share = the
--          share of the cell's cost held by its $dominance_n costliest people (0 for a zero total),
--          the (n, k) rule of src/popheath/capitation/disclosure.py.
-- grain:   one row per published table and cell (boundary x setting; source x setting x cost_level),
--          the dimensions a table does not have NULL.
-- inputs:  activity_costs, person, cap_person_year.
-- parameters: $year, $dominance_n.
WITH activity AS (
    SELECT
        a.source,
        a.setting,
        split_part(a.cost_basis, ':', 2) AS cost_level,
        coalesce(a.person_key, a.source || ':' || a.record_id) AS contributor,
        a.cost,
        coalesce(a.out_of_area, FALSE) AS out_of_area,
        a.person_key IS NULL AS unlinked,
        coalesce(a.out_of_ics_provider, FALSE) AS out_of_ics_provider,
        coalesce(a.activity_date NOT BETWEEN py.exposure_start AND py.exposure_end, FALSE) AS outside_exposure
    FROM activity_costs AS a
    LEFT JOIN person AS p ON p.person_key = a.person_key
    LEFT JOIN cap_person_year AS py ON py.person_key = a.person_key AND py.financial_year = a.financial_year
    WHERE a.financial_year = $year
      AND NOT coalesce(p.type1_opt_out, FALSE)
      AND NOT coalesce(p.national_data_opt_out, FALSE)
),
boundary_records AS (
    SELECT 'out_of_area_people' AS boundary, setting, contributor, cost FROM activity WHERE out_of_area
    UNION ALL
    SELECT 'unlinked_records', setting, contributor, cost FROM activity WHERE unlinked
    UNION ALL
    SELECT 'out_of_ics_provider', setting, contributor, cost FROM activity WHERE out_of_ics_provider
    UNION ALL
    SELECT 'outside_exposure_window', setting, contributor, cost FROM activity WHERE outside_exposure
),
boundary AS (
    SELECT
        'boundary_activity' AS published_table,
        boundary,
        CASE WHEN grouping(setting) = 1 THEN 'All' ELSE setting END AS setting,
        contributor,
        count(*) AS records,
        coalesce(sum(cost), 0) AS cost
    FROM boundary_records
    GROUP BY GROUPING SETS ((boundary, setting, contributor), (boundary, contributor))
    UNION ALL
    -- Every boundary's total row, with no one behind it when it has no activity.
    SELECT 'boundary_activity', boundary, 'All', NULL, 0, 0
    FROM (VALUES ('out_of_area_people'), ('unlinked_records'), ('out_of_ics_provider'),
                 ('outside_exposure_window')) AS b (boundary)
),
coverage AS (
    SELECT
        'costing_coverage' AS published_table,
        CASE WHEN grouping(source) = 1 THEN 'All' ELSE source END AS source,
        CASE WHEN grouping(setting) = 1 THEN 'All' ELSE setting END AS setting,
        CASE WHEN grouping(cost_level) = 1 THEN 'All' ELSE cost_level END AS cost_level,
        contributor,
        count(*) AS records,
        coalesce(sum(cost), 0) AS cost
    FROM activity
    GROUP BY GROUPING SETS ((source, setting, cost_level, contributor), (source, contributor), (contributor))
),
contributions AS (
    SELECT * FROM boundary
    UNION ALL BY NAME
    SELECT * FROM coverage
),
ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY published_table, boundary, source, setting, cost_level
            ORDER BY greatest(cost, 0) DESC, contributor
        ) AS cost_rank
    FROM contributions
)
SELECT
    published_table,
    boundary,
    source,
    setting,
    cost_level,
    count(contributor) AS people,
    sum(records) AS records,
    sum(cost) AS total_cost,
    coalesce(
        sum(greatest(cost, 0)) FILTER (WHERE cost_rank <= $dominance_n) / nullif(sum(greatest(cost, 0)), 0), 0
    ) AS _dominance_share
FROM ranked
GROUP BY published_table, boundary, source, setting, cost_level
ORDER BY ALL
