-- purpose: outpatient appointments that reach a person, with attended / did-not-attend flags
--          as set by ingest from HES ATTENDED (5, 6 attended; 3, 7 did not attend).
-- grain: one row per outpatient appointment linked to a person key.
-- inputs: stg_opa, linked_records (sql/10_staging/linked) (source = 'opa', record_id = appointment_id).
-- parameters: $min_link_probability, $include_out_of_area, $include_out_of_ics_providers.
CREATE OR REPLACE TABLE clin_outpatients AS
SELECT
    CAST(o.appointment_id AS VARCHAR) AS appointment_id,
    l.person_key,
    upper(trim(o.provider_code)) AS provider_code,
    CAST(o.appointment_date AS DATE) AS appointment_date,
    coalesce(o.attended, FALSE) AS attended,
    coalesce(o.did_not_attend, FALSE) AS did_not_attend,
    CAST(o.first_attendance AS VARCHAR) AS first_attendance,
    CAST(o.treatment_specialty AS VARCHAR) AS treatment_specialty,
    l.out_of_ics_provider
FROM stg_opa AS o
JOIN linked_records('opa', $min_link_probability, $include_out_of_area, $include_out_of_ics_providers) AS l
    ON l.record_id = CAST(o.appointment_id AS VARCHAR)
WHERE l.reaches_person
  AND o.appointment_date IS NOT NULL
