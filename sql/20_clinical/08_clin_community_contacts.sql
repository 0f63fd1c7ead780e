-- purpose: Community Services Data Set care contacts that reach a person; only attended
--          contacts (attended true or not recorded) count as contacts downstream.
-- grain: one row per CSDS care contact linked to a person key.
-- inputs: stg_csds, person_link (source = 'csds', record_id = contact_id).
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
JOIN person_link AS l
    ON l.source = 'csds' AND l.record_id = CAST(c.contact_id AS VARCHAR)
WHERE l.person_key IS NOT NULL
  AND c.contact_date IS NOT NULL
  AND coalesce(l.match_probability, 0) >= $min_link_probability
  AND ($include_out_of_area OR NOT coalesce(l.out_of_area, FALSE))
  AND ($include_out_of_ics_providers OR NOT coalesce(l.out_of_ics_provider, FALSE))
