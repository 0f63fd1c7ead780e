-- purpose: the cells of the published costing_coverage table, before disclosure control: records and
--          cost by source, setting and coverage level (the second part of activity_costs.cost_basis,
--          src/popheath/capitation/costing_qa.py COST_LEVELS), each source's total (setting and
--          cost_level 'All') and the total of all sources, with each cell's share of its source's
--          records and cost (3 decimal places; 0 of a source without cost). Records of people with a
--          type 1 objection or a national data opt-out are left out, as from every capitation output
--          (the unfiltered counts are the cost stage's internal qa/costing_summary.csv). For
--          disclosure control: people = the distinct people behind the cell, a record not linked to
--          a person counting as a person of its own; _dominance_share = the share of the cell's cost
--          held by its $dominance_n costliest people (0 for a zero total).
-- grain:   one row per source, setting and coverage level, per source ('All', 'All') and one
--          ('All', 'All', 'All').
-- inputs:  activity_costs, person.
-- parameters: $year, $dominance_n.
WITH records AS (
    SELECT
        a.source,
        a.setting,
        split_part(a.cost_basis, ':', 2) AS cost_level,
        coalesce(a.person_key, a.source || ':' || a.record_id) AS contributor,
        a.cost
    FROM activity_costs AS a
    LEFT JOIN person AS p ON p.person_key = a.person_key
    WHERE a.financial_year = $year
      AND NOT coalesce(p.type1_opt_out, FALSE)
      AND NOT coalesce(p.national_data_opt_out, FALSE)
),
contributions AS (
    SELECT
        CASE WHEN grouping(source) = 1 THEN 'All' ELSE source END AS source,
        CASE WHEN grouping(setting) = 1 THEN 'All' ELSE setting END AS setting,
        CASE WHEN grouping(cost_level) = 1 THEN 'All' ELSE cost_level END AS cost_level,
        contributor,
        count(*) AS records,
        coalesce(sum(cost), 0) AS cost
    FROM records
    GROUP BY GROUPING SETS ((source, setting, cost_level, contributor), (source, contributor), (contributor))
),
ranked AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY source, setting, cost_level ORDER BY greatest(cost, 0) DESC, contributor
        ) AS cost_rank
    FROM contributions
),
cells AS (
    SELECT
        source,
        setting,
        cost_level,
        count(*) AS people,
        sum(records) AS records,
        sum(cost) AS total_cost,
        coalesce(
            sum(greatest(cost, 0)) FILTER (WHERE cost_rank <= $dominance_n) / nullif(sum(greatest(cost, 0)), 0), 0
        ) AS _dominance_share
    FROM ranked
    GROUP BY source, setting, cost_level
)
SELECT
    c.source,
    c.setting,
    c.cost_level,
    c.people,
    c.records,
    c.total_cost,
    round(c.records / t.records, 3) AS share_of_records,
    coalesce(round(c.total_cost / nullif(t.total_cost, 0), 3), 0) AS share_of_cost,
    c._dominance_share
FROM cells AS c
JOIN cells AS t ON t.source = c.source AND t.setting = 'All' AND t.cost_level = 'All'
ORDER BY c.source = 'All', c.source, c.cost_level = 'All', c.cost_level
