-- purpose: cost community care contacts on the National Cost Collection 2023/24 schedule: the team
--          type's NCC currency (ref_cap_csds_team) at its cost per care contact (ref_cap_community);
--          contact duration is not used (the NCC prices a contact). Contacts not attended are zero
--          by rule; a team type with no currency is uncosted and reported.
--          cost_basis: csds:<coverage level>:<detail>.
-- grain:   one row per care contact in the year.
-- inputs:  stg_csds, linked_records (sql/10_staging/linked), ref_cap_csds_team, ref_cap_community.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $price_base.
INSERT INTO activity_costs BY NAME
SELECT
    'csds' AS source,
    CAST(c.contact_id AS VARCHAR) AS record_id,
    l.person_key,
    c.contact_date AS activity_date,
    'community' AS setting,
    CASE WHEN r.currency_code IS NULL THEN NULL
         WHEN c.attended IS NOT NULL AND NOT c.attended THEN 0.0
         ELSE r.unit_cost * r.to_base END AS cost,
    CASE WHEN r.currency_code IS NULL THEN 'csds:uncosted:no_currency_for_team_type:' || coalesce(c.team_type, 'missing')
         WHEN c.attended IS NOT NULL AND NOT c.attended THEN 'csds:zero_by_rule:not_attended'
         ELSE 'csds:currency:' || c.team_type || ':' || r.currency_code END AS cost_basis,
    r.currency_code IS NOT NULL AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    c.provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    coalesce(l.out_of_ics_provider, FALSE) AS out_of_ics_provider
FROM stg_csds AS c
LEFT JOIN linked_records('csds', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(c.contact_id AS VARCHAR)
LEFT JOIN (
    SELECT t.team_type, n.currency_code, n.unit_cost, n.to_base
    FROM ref_cap_csds_team AS t
    JOIN ref_cap_community AS n ON n.currency_code = t.currency_code
) AS r ON r.team_type = c.team_type
WHERE c.contact_date BETWEEN $year_start AND $year_end
