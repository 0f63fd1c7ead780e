-- purpose: cost community care contacts as team hourly cost x duration (PSSRU unit costs);
--          a missing or non-positive duration takes the team's default duration (assumption);
--          contacts not attended are zero by rule; an unknown team type is uncosted and reported.
-- grain:   one row per care contact in the year.
-- inputs:  stg_csds, linked_records (sql/10_staging/linked), ref_cap_csds.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $price_base.
INSERT INTO activity_costs BY NAME
SELECT
    'csds' AS source,
    CAST(c.contact_id AS VARCHAR) AS record_id,
    l.person_key,
    c.contact_date AS activity_date,
    'community' AS setting,
    CASE WHEN r.team_type IS NULL THEN NULL
         WHEN c.attended IS NOT NULL AND NOT c.attended THEN 0.0
         ELSE r.cost_per_hour * r.to_base
              * (CASE WHEN c.duration_minutes > 0 THEN c.duration_minutes ELSE r.default_duration_minutes END) / 60.0
    END AS cost,
    CASE WHEN r.team_type IS NULL THEN 'csds:uncosted:unknown_team_type'
         WHEN c.attended IS NOT NULL AND NOT c.attended THEN 'csds:not_attended:zero_by_rule'
         WHEN c.duration_minutes > 0 THEN 'csds:team_hourly_rate:' || r.team_type
         ELSE 'csds:team_hourly_rate_default_duration:' || r.team_type END AS cost_basis,
    r.team_type IS NOT NULL AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    c.provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    coalesce(l.out_of_ics_provider, FALSE) AS out_of_ics_provider
FROM stg_csds AS c
LEFT JOIN linked_records('csds', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(c.contact_id AS VARCHAR)
LEFT JOIN ref_cap_csds AS r ON r.team_type = c.team_type
WHERE c.contact_date BETWEEN $year_start AND $year_end
