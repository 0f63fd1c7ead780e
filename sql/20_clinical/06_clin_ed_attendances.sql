-- purpose: Emergency Care Data Set attendances that reach a person.
-- grain: one row per ECDS attendance linked to a person key.
-- inputs: stg_ecds, person_link (source = 'ecds', record_id = attendance_id).
-- parameters: $min_link_probability, $include_out_of_area, $include_out_of_ics_providers.
CREATE OR REPLACE TABLE clin_ed_attendances AS
SELECT
    CAST(e.attendance_id AS VARCHAR) AS attendance_id,
    l.person_key,
    upper(trim(e.provider_code)) AS provider_code,
    CAST(e.arrival_date AS DATE) AS arrival_date,
    CAST(e.department_type AS VARCHAR) AS department_type,
    coalesce(l.out_of_ics_provider, FALSE) AS out_of_ics_provider
FROM stg_ecds AS e
JOIN person_link AS l
    ON l.source = 'ecds' AND l.record_id = CAST(e.attendance_id AS VARCHAR)
WHERE l.person_key IS NOT NULL
  AND e.arrival_date IS NOT NULL
  AND coalesce(l.match_probability, 0) >= $min_link_probability
  AND ($include_out_of_area OR NOT coalesce(l.out_of_area, FALSE))
  AND ($include_out_of_ics_providers OR NOT coalesce(l.out_of_ics_provider, FALSE))
