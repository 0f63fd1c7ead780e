-- purpose: cost emergency care attendances on the National Cost Collection 2023/24 schedule by SUS
--          emergency medicine HRG (VB01Z-VB11Z, VB99Z; ref_cap_ecds). An attendance with no HRG or an
--          unlisted one at a known department type (01-04) takes the all-HRG average ('*', level
--          fallback; the schedule has no cost by department type); with neither an HRG nor a known
--          department type it is uncosted and reported. A SUS final price (stg_ecds.final_price, when the extract carries one)
--          is used instead, in the prices of the activity year ($record_to_base).
--          cost_basis: ecds:<coverage level>:<detail>.
-- grain:   one row per attendance arriving in the year.
-- inputs:  stg_ecds, linked_records (sql/10_staging/linked), ref_cap_ecds.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $price_base, $record_to_base.
INSERT INTO activity_costs BY NAME
WITH attendances AS (
    -- hrg_code and final_price are optional: NULL when the extract does not carry them
    SELECT * FROM stg_ecds
    UNION ALL BY NAME
    SELECT * FROM (SELECT NULL::VARCHAR AS hrg_code, NULL::DOUBLE AS final_price) WHERE FALSE
),
priced AS (
    SELECT
        e.*,
        nullif(upper(trim(CAST(e.hrg_code AS VARCHAR))), '') AS hrg,
        lpad(trim(CAST(e.department_type AS VARCHAR)), 2, '0') AS department,
        h.unit_cost * h.to_base AS hrg_cost,
        CASE WHEN lpad(trim(CAST(e.department_type AS VARCHAR)), 2, '0') IN ('01', '02', '03', '04')
             THEN star.unit_cost * star.to_base END AS average_cost
    FROM attendances AS e
    LEFT JOIN ref_cap_ecds AS h ON h.hrg_level = 'full_hrg' AND h.hrg_code = nullif(upper(trim(CAST(e.hrg_code AS VARCHAR))), '')
    LEFT JOIN ref_cap_ecds AS star ON star.hrg_level = 'all' AND star.hrg_code = '*'
    WHERE e.arrival_date BETWEEN $year_start AND $year_end
)
SELECT
    'ecds' AS source,
    CAST(e.attendance_id AS VARCHAR) AS record_id,
    l.person_key,
    e.arrival_date AS activity_date,
    'acute' AS setting,
    CASE WHEN e.final_price IS NOT NULL THEN e.final_price * $record_to_base
         ELSE coalesce(e.hrg_cost, e.average_cost) END AS cost,
    CASE WHEN e.final_price IS NOT NULL THEN 'ecds:final_price:sus'
         WHEN e.hrg_cost IS NOT NULL THEN 'ecds:full_hrg:' || e.hrg
         WHEN e.average_cost IS NOT NULL
             THEN 'ecds:fallback:all_emergency_care:type_' || e.department
                  || CASE WHEN e.hrg IS NULL THEN ':no_hrg' ELSE ':unlisted_hrg' END
         ELSE 'ecds:uncosted:no_hrg_or_department_type' END AS cost_basis,
    coalesce(e.final_price, e.hrg_cost, e.average_cost) IS NOT NULL AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    e.provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    coalesce(l.out_of_ics_provider, FALSE) AS out_of_ics_provider
FROM priced AS e
LEFT JOIN linked_records('ecds', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(e.attendance_id AS VARCHAR)
