-- purpose: cost outpatient appointments on the National Cost Collection 2023/24 schedule
--          (ref_cap_opa, per attendance, all treatment functions together: the schedule has no
--          treatment-function split). The appointment's own outpatient HRG (WF01A-D, WF02A-D) is
--          priced in its department, consultant-led unless the extract says otherwise (optional
--          stg_opa.consultant_led; NULL is taken as consultant-led, an assumption named in the basis);
--          with no or an unlisted HRG, FIRSTATT selects the WF01 currency (ref_cap_opa_firstatt,
--          level fallback). Appointments not attended are zero by rule (no national unit cost for a
--          DNA); unknown attendance status, or no HRG and no FIRSTATT, is uncosted and reported.
--          A SUS final price (optional stg_opa.final_price) is used instead, in the prices of the
--          activity year ($record_to_base). cost_basis: opa:<coverage level>:<detail>.
-- grain:   one row per appointment in the year.
-- inputs:  stg_opa, linked_records (sql/10_staging/linked), ref_cap_opa, ref_cap_opa_firstatt.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $price_base, $record_to_base.
INSERT INTO activity_costs BY NAME
WITH source_appointments AS (
    -- consultant_led and final_price are optional: NULL when the extract does not carry them
    SELECT * FROM stg_opa
    UNION ALL BY NAME
    SELECT * FROM (SELECT NULL::BOOLEAN AS consultant_led, NULL::DOUBLE AS final_price) WHERE FALSE
),
appointments AS (
    SELECT
        o.*,
        trim(CAST(o.first_attendance AS VARCHAR)) AS firstatt,
        nullif(upper(trim(CAST(o.hrg_code AS VARCHAR))), '') AS hrg,
        CASE WHEN coalesce(o.consultant_led, TRUE) THEN 'consultant_led' ELSE 'non_consultant_led' END AS department,
        CASE WHEN o.consultant_led IS NULL THEN 'assumed_consultant_led'
             WHEN o.consultant_led THEN 'consultant_led' ELSE 'non_consultant_led' END AS department_label
    FROM source_appointments AS o
    WHERE o.appointment_date BETWEEN $year_start AND $year_end
),
priced AS (
    SELECT
        a.*,
        h.unit_cost * h.to_base AS hrg_cost,
        f.hrg_code AS firstatt_hrg,
        d.unit_cost * d.to_base AS firstatt_cost
    FROM appointments AS a
    LEFT JOIN ref_cap_opa AS h ON h.hrg_code = a.hrg AND h.department = a.department
    LEFT JOIN ref_cap_opa_firstatt AS f ON f.first_attendance = a.firstatt
    LEFT JOIN ref_cap_opa AS d ON d.hrg_code = f.hrg_code AND d.department = a.department
)
SELECT
    'opa' AS source,
    CAST(a.appointment_id AS VARCHAR) AS record_id,
    l.person_key,
    a.appointment_date AS activity_date,
    'acute' AS setting,
    CASE WHEN a.attended IS NULL THEN NULL
         WHEN NOT a.attended THEN 0.0
         WHEN a.final_price IS NOT NULL THEN a.final_price * $record_to_base
         ELSE coalesce(a.hrg_cost, a.firstatt_cost) END AS cost,
    CASE WHEN a.attended IS NULL THEN 'opa:uncosted:unknown_attendance'
         WHEN NOT a.attended THEN 'opa:zero_by_rule:not_attended'
         WHEN a.final_price IS NOT NULL THEN 'opa:final_price:sus'
         WHEN a.hrg_cost IS NOT NULL THEN 'opa:full_hrg:' || a.department_label || ':' || a.hrg
         WHEN a.firstatt_cost IS NOT NULL
             THEN 'opa:fallback:' || a.department_label || ':firstatt_' || a.firstatt || '_as_' || a.firstatt_hrg
         ELSE 'opa:uncosted:no_hrg_or_first_attendance' END AS cost_basis,
    a.attended IS NOT NULL
        AND (NOT a.attended OR coalesce(a.final_price, a.hrg_cost, a.firstatt_cost) IS NOT NULL) AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    a.provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    coalesce(l.out_of_ics_provider, FALSE) AS out_of_ics_provider
FROM priced AS a
LEFT JOIN linked_records('opa', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(a.appointment_id AS VARCHAR)
