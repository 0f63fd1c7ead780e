-- purpose: Community Services Data Set care contacts that reach a person; only attended
--          contacts (attended true or not recorded) count as contacts downstream.
-- grain: one row per CSDS care contact linked to a person key.
-- inputs: stg_csds, linked_records (sql/10_staging/linked) (source = 'csds', record_id = contact_id).
-- parameters: $min_link_probability, $include_out_of_area, $include_out_of_ics_providers.
CREATE OR REPLACE TABLE clin_community_contacts AS
SELECT
    CAST(c.contact_id AS VARCHAR) AS contact_id,
    l.person_key,
    upper(trim(c.provider_code)) AS provider_code,
    CAST(c.contact_date AS DATE) AS contact_date,
    coalesce(lower(trim(c.team_type)), 'other') AS team_type,
    c.duration_minutes,
    coalesce(c.attended, TRUE) AS attended
FROM stg_csds AS c
JOIN linked_records('csds', $min_link_probability, $include_out_of_area, $include_out_of_ics_providers) AS l
    ON l.record_id = CAST(c.contact_id AS VARCHAR)
WHERE l.reaches_person
  AND c.contact_date IS NOT NULL
