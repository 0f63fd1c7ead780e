-- purpose: the cells of the published boundary_activity table, before disclosure control: activity
--          reported separately from the baselines (out-of-area people, records not linked to a
--          person, providers outside the partnership, activity outside a person's exposure window as
--          cap_person_year draws it) by setting, with each boundary's total over settings
--          (setting 'All'; the boundaries overlap, so there is no total over them). Records of people
--          with a type 1 objection or a national data opt-out are left out, as from every capitation
--          output (as 01_planning_population.sql excludes them). For disclosure control: people = the distinct
--          people behind the cell, a record not linked to a person counting as a person of its own
--          (whose it is cannot be known, so no two are assumed to share one); _dominance_share = the
--          share of the cell's cost held by its $dominance_n costliest people (0 for a zero total).
-- grain:   one row per boundary and setting with activity, and one per boundary with setting 'All'
--          (zero records and cost when the boundary has no activity, so every boundary is reported).
-- inputs:  activity_costs, person, cap_person_year.
-- parameters: $year, $dominance_n.
WITH activity AS (
    SELECT
        a.setting,
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
flagged AS (
    SELECT 'out_of_area_people' AS boundary, setting, contributor, cost FROM activity WHERE out_of_area
    UNION ALL
    SELECT 'unlinked_records', setting, contributor, cost FROM activity WHERE unlinked
    UNION ALL
    SELECT 'out_of_ics_provider', setting, contributor, cost FROM activity WHERE out_of_ics_provider
    UNION ALL
    SELECT 'outside_exposure_window', setting, contributor, cost FROM activity WHERE outside_exposure
),
contributions AS (
    SELECT
        boundary,
        CASE WHEN grouping(setting) = 1 THEN 'All' ELSE setting END AS setting,
        contributor,
        count(*) AS records,
        coalesce(sum(cost), 0) AS cost
    FROM flagged
    GROUP BY GROUPING SETS ((boundary, setting, contributor), (boundary, contributor))
),
ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY boundary, setting ORDER BY greatest(cost, 0) DESC, contributor) AS cost_rank
    FROM contributions
),
cells AS (
    SELECT
        boundary,
        setting,
        count(*) AS people,
        sum(records) AS records,
        sum(cost) AS total_cost,
        coalesce(
            sum(greatest(cost, 0)) FILTER (WHERE cost_rank <= $dominance_n) / nullif(sum(greatest(cost, 0)), 0), 0
        ) AS _dominance_share
    FROM ranked
    GROUP BY boundary, setting
),
boundaries AS (
    SELECT * FROM (VALUES ('out_of_area_people'), ('unlinked_records'), ('out_of_ics_provider'),
                          ('outside_exposure_window')) AS b (boundary)
)
SELECT
    b.boundary,
    coalesce(c.setting, 'All') AS setting,
    coalesce(c.people, 0) AS people,
    coalesce(c.records, 0) AS records,
    coalesce(c.total_cost, 0) AS total_cost,
    coalesce(c._dominance_share, 0) AS _dominance_share
FROM boundaries AS b
LEFT JOIN cells AS c ON c.boundary = b.boundary
ORDER BY b.boundary, setting = 'All', setting
