-- purpose: cost community care contacts on the National Cost Collection 2023/24 schedule: the team
--          type's NCC currency (ref_cap_csds_team, ref_cap_community) at its cost per care contact.
--          A team type mapped to several currencies (level currency_group: specialist nursing, whose
--          canonical team type names no specialty) is priced at their activity-weighted average
--          (sum of unit cost x activity / sum of activity, how the NCC averages currencies); a team
--          type outside the canonical list ('other') at the NCC's own no-currency average CHS00
--          (level fallback). Contact duration is not used (the NCC prices a contact). Contacts not
--          attended are zero by rule; a team type with no mapping is uncosted and reported.
--          cost_basis: csds:<coverage level>:<team type>:<currency, or the number averaged>.
-- grain:   one row per care contact in the year.
-- inputs:  stg_csds, linked_records (sql/10_staging/linked), ref_cap_csds_team, ref_cap_community.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $price_base.
INSERT INTO activity_costs BY NAME
WITH team_prices AS (
    SELECT
        t.team_type,
        any_value(t.level) AS level,
        CASE WHEN count(*) = 1 THEN any_value(n.currency_code)
             ELSE 'average_of_' || count(*) || '_currencies' END AS currency_detail,
        sum(n.unit_cost * n.activity) / nullif(sum(n.activity), 0) AS unit_cost,
        any_value(n.to_base) AS to_base
    FROM ref_cap_csds_team AS t
    JOIN ref_cap_community AS n ON n.currency_code = t.currency_code
    GROUP BY t.team_type
)
SELECT
    'csds' AS source,
    CAST(c.contact_id AS VARCHAR) AS record_id,
    l.person_key,
    c.contact_date AS activity_date,
    'community' AS setting,
    CASE WHEN r.unit_cost IS NULL THEN NULL
         WHEN c.attended IS NOT NULL AND NOT c.attended THEN 0.0
         ELSE r.unit_cost * r.to_base END AS cost,
    CASE WHEN r.unit_cost IS NULL THEN 'csds:uncosted:no_currency_for_team_type:' || coalesce(c.team_type, 'missing')
         WHEN c.attended IS NOT NULL AND NOT c.attended THEN 'csds:zero_by_rule:not_attended'
         ELSE 'csds:' || r.level || ':' || c.team_type || ':' || r.currency_detail END AS cost_basis,
    r.unit_cost IS NOT NULL AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    c.provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    coalesce(l.out_of_ics_provider, FALSE) AS out_of_ics_provider
FROM stg_csds AS c
LEFT JOIN linked_records('csds', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(c.contact_id AS VARCHAR)
LEFT JOIN team_prices AS r ON r.team_type = c.team_type
WHERE c.contact_date BETWEEN $year_start AND $year_end
