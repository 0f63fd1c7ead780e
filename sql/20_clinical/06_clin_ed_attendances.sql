-- purpose: Emergency Care Data Set attendances that reach a person.
-- grain: one row per ECDS attendance linked to a person key.
-- inputs: stg_ecds, linked_records (sql/10_staging/linked) (source = 'ecds', record_id = attendance_id).
-- parameters: $min_link_probability, $include_out_of_area, $include_out_of_ics_providers.
CREATE OR REPLACE TABLE clin_ed_attendances AS
SELECT
    CAST(e.attendance_id AS VARCHAR) AS attendance_id,
    l.person_key,
    upper(trim(e.provider_code)) AS provider_code,
    CAST(e.arrival_date AS DATE) AS arrival_date,
    CAST(e.department_type AS VARCHAR) AS department_type,
    l.out_of_ics_provider
FROM stg_ecds AS e
JOIN linked_records('ecds', $min_link_probability, $include_out_of_area, $include_out_of_ics_providers) AS l
    ON l.record_id = CAST(e.attendance_id AS VARCHAR)
WHERE l.reaches_person
  AND e.arrival_date IS NOT NULL
