-- purpose: cost emergency care attendances by ECDS department type (01-04); an attendance
--          with an unknown department type is uncosted and reported.
-- grain:   one row per attendance arriving in the year.
-- inputs:  stg_ecds, linked_records (sql/10_staging/linked), ref_cap_ecds.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $price_base.
INSERT INTO activity_costs BY NAME
SELECT
    'ecds' AS source,
    CAST(e.attendance_id AS VARCHAR) AS record_id,
    l.person_key,
    e.arrival_date AS activity_date,
    'acute' AS setting,
    r.cost_per_attendance * r.to_base AS cost,
    CASE WHEN r.department_type IS NULL THEN 'ecds:uncosted:unknown_department_type'
         ELSE 'ecds:department_type:' || r.department_type END AS cost_basis,
    r.department_type IS NOT NULL AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    e.provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    coalesce(l.out_of_ics_provider, FALSE) AS out_of_ics_provider
FROM stg_ecds AS e
LEFT JOIN linked_records('ecds', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(e.attendance_id AS VARCHAR)
LEFT JOIN ref_cap_ecds AS r ON r.department_type = lpad(trim(CAST(e.department_type AS VARCHAR)), 2, '0')
WHERE e.arrival_date BETWEEN $year_start AND $year_end
