-- purpose: cost outpatient appointments by treatment function and first/follow-up, face to face
--          or not (HES FIRSTATT 1-4); unlisted treatment functions take the all-specialty ('*')
--          average; appointments not attended are zero by rule (no national unit cost for a DNA);
--          unknown attendance status or FIRSTATT is uncosted and reported.
-- grain:   one row per appointment in the year.
-- inputs:  stg_opa, linked_records (sql/10_staging/linked), ref_cap_opa.
-- parameters: $min_link_probability, $year, $year_start, $year_end, $price_base.
INSERT INTO activity_costs BY NAME
WITH appointments AS (
    SELECT
        o.*,
        trim(CAST(o.first_attendance AS VARCHAR)) AS firstatt,
        coalesce(t.treatment_function_code, star.treatment_function_code) AS tfc_row,
        coalesce(t.to_base, star.to_base) AS to_base,
        CASE trim(CAST(o.first_attendance AS VARCHAR))
            WHEN '1' THEN coalesce(t.first_face_to_face, star.first_face_to_face)
            WHEN '2' THEN coalesce(t.follow_up_face_to_face, star.follow_up_face_to_face)
            WHEN '3' THEN coalesce(t.first_non_face_to_face, star.first_non_face_to_face)
            WHEN '4' THEN coalesce(t.follow_up_non_face_to_face, star.follow_up_non_face_to_face)
        END AS unit_cost
    FROM stg_opa AS o
    LEFT JOIN ref_cap_opa AS t ON t.treatment_function_code = trim(CAST(o.treatment_specialty AS VARCHAR))
    LEFT JOIN ref_cap_opa AS star ON star.treatment_function_code = '*'
    WHERE o.appointment_date BETWEEN $year_start AND $year_end
)
SELECT
    'opa' AS source,
    CAST(a.appointment_id AS VARCHAR) AS record_id,
    l.person_key,
    a.appointment_date AS activity_date,
    'acute' AS setting,
    CASE WHEN a.attended IS NULL THEN NULL
         WHEN NOT a.attended THEN 0.0
         ELSE a.unit_cost * a.to_base END AS cost,
    CASE WHEN a.attended IS NULL THEN 'opa:uncosted:unknown_attendance'
         WHEN NOT a.attended THEN 'opa:not_attended:zero_by_rule'
         WHEN a.unit_cost IS NULL THEN 'opa:uncosted:unknown_first_attendance'
         WHEN a.tfc_row = '*' THEN 'opa:all_specialty_average:firstatt_' || a.firstatt
         ELSE 'opa:treatment_function:firstatt_' || a.firstatt END AS cost_basis,
    a.attended IS NOT NULL AND (NOT a.attended OR a.unit_cost IS NOT NULL) AS costed,
    $year AS financial_year,
    $price_base AS price_base,
    a.provider_code,
    coalesce(l.out_of_area, FALSE) AS out_of_area,
    coalesce(l.out_of_ics_provider, FALSE) AS out_of_ics_provider
FROM appointments AS a
LEFT JOIN linked_records('opa', $min_link_probability, TRUE, TRUE) AS l ON l.record_id = CAST(a.appointment_id AS VARCHAR)
