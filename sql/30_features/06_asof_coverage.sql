-- purpose: data coverage per person at the as-of date: which sources hold any linked record for the
--          person (acute, ED, outpatient, community, social care), and, for the person's practice,
--          the latest activity date of each source. "Low risk" may just mean
--          "no data": a practice whose community or social care feed stopped looks healthy.
-- grain: one row per person key in asof_cohort (registered and alive at the as-of date).
-- inputs: asof_cohort, stg_apc, stg_ecds, stg_opa, stg_csds, stg_asc, person_link.
-- parameters: $as_of, $min_link_probability, $include_out_of_area, $include_out_of_ics_providers
--             (the same link filters as sql/20_clinical, so a record counts here exactly when it
--             reaches the clinical tables).
-- rules:
--   a record covers a person when it is linked to the person key and its activity date (admission,
--     arrival, appointment, contact, event start) is on or before the as-of date (no look-ahead).
--   practice_last_<source>: the latest activity date among such records of people registered at
--     the practice (the delivery labels, from the staging tables' _delivery, are added per practice
--     in coverage_practice by popheath segment). The staleness rule (days without data) is applied when lists are
--     published (settings lists.coverage_stale_days), so the flag follows the setting without a rerun.
CREATE OR REPLACE TABLE asof_coverage AS
WITH records AS (
    SELECT 'acute' AS source, l.person_key, CAST(a.admission_date AS DATE) AS activity_date
    FROM stg_apc AS a
    JOIN person_link AS l ON l.source = 'apc' AND l.record_id = CAST(a.episode_id AS VARCHAR)
    WHERE l.person_key IS NOT NULL
      AND coalesce(l.match_probability, 0) >= $min_link_probability
      AND ($include_out_of_area OR NOT coalesce(l.out_of_area, FALSE))
      AND ($include_out_of_ics_providers OR NOT coalesce(l.out_of_ics_provider, FALSE))
    UNION ALL
    SELECT 'ed', l.person_key, CAST(e.arrival_date AS DATE)
    FROM stg_ecds AS e
    JOIN person_link AS l ON l.source = 'ecds' AND l.record_id = CAST(e.attendance_id AS VARCHAR)
    WHERE l.person_key IS NOT NULL
      AND coalesce(l.match_probability, 0) >= $min_link_probability
      AND ($include_out_of_area OR NOT coalesce(l.out_of_area, FALSE))
      AND ($include_out_of_ics_providers OR NOT coalesce(l.out_of_ics_provider, FALSE))
    UNION ALL
    SELECT 'outpatient', l.person_key, CAST(o.appointment_date AS DATE)
    FROM stg_opa AS o
    JOIN person_link AS l ON l.source = 'opa' AND l.record_id = CAST(o.appointment_id AS VARCHAR)
    WHERE l.person_key IS NOT NULL
      AND coalesce(l.match_probability, 0) >= $min_link_probability
      AND ($include_out_of_area OR NOT coalesce(l.out_of_area, FALSE))
      AND ($include_out_of_ics_providers OR NOT coalesce(l.out_of_ics_provider, FALSE))
    UNION ALL
    SELECT 'community', l.person_key, CAST(c.contact_date AS DATE)
    FROM stg_csds AS c
    JOIN person_link AS l ON l.source = 'csds' AND l.record_id = CAST(c.contact_id AS VARCHAR)
    WHERE l.person_key IS NOT NULL
      AND coalesce(l.match_probability, 0) >= $min_link_probability
      AND ($include_out_of_area OR NOT coalesce(l.out_of_area, FALSE))
      AND ($include_out_of_ics_providers OR NOT coalesce(l.out_of_ics_provider, FALSE))
    UNION ALL
    SELECT 'social_care', l.person_key, CAST(s.event_start AS DATE)
    FROM stg_asc AS s
    JOIN person_link AS l ON l.source = 'asc' AND l.record_id = CAST(s.event_id AS VARCHAR)
    WHERE l.person_key IS NOT NULL
      AND coalesce(l.match_probability, 0) >= $min_link_probability
      AND ($include_out_of_area OR NOT coalesce(l.out_of_area, FALSE))
      AND ($include_out_of_ics_providers OR NOT coalesce(l.out_of_ics_provider, FALSE))
),

person_source AS (
    SELECT
        r.person_key,
        r.source,
        max(r.activity_date) AS last_activity
    FROM records AS r
    WHERE r.activity_date <= $as_of
      AND r.person_key IN (SELECT person_key FROM asof_cohort)
    GROUP BY r.person_key, r.source
),

person_sources AS (
    SELECT
        person_key,
        bool_or(source = 'acute') AS has_acute,
        bool_or(source = 'ed') AS has_ed,
        bool_or(source = 'outpatient') AS has_outpatient,
        bool_or(source = 'community') AS has_community,
        bool_or(source = 'social_care') AS has_social_care
    FROM person_source
    GROUP BY person_key
),

practice_source AS (
    SELECT
        c.practice_code,
        max(ps.last_activity) FILTER (WHERE ps.source = 'acute') AS practice_last_acute,
        max(ps.last_activity) FILTER (WHERE ps.source = 'ed') AS practice_last_ed,
        max(ps.last_activity) FILTER (WHERE ps.source = 'outpatient') AS practice_last_outpatient,
        max(ps.last_activity) FILTER (WHERE ps.source = 'community') AS practice_last_community,
        max(ps.last_activity) FILTER (WHERE ps.source = 'social_care') AS practice_last_social_care
    FROM asof_cohort AS c
    JOIN person_source AS ps ON ps.person_key = c.person_key
    GROUP BY c.practice_code
)

SELECT
    c.as_of,
    c.person_key,
    c.practice_code,
    c.pcn_code,
    coalesce(s.has_acute, FALSE) AS has_acute,
    coalesce(s.has_ed, FALSE) AS has_ed,
    coalesce(s.has_outpatient, FALSE) AS has_outpatient,
    coalesce(s.has_community, FALSE) AS has_community,
    coalesce(s.has_social_care, FALSE) AS has_social_care,
    p.practice_last_acute,
    p.practice_last_ed,
    p.practice_last_outpatient,
    p.practice_last_community,
    p.practice_last_social_care
FROM asof_cohort AS c
LEFT JOIN person_sources AS s ON s.person_key = c.person_key
LEFT JOIN practice_source AS p ON p.practice_code IS NOT DISTINCT FROM c.practice_code
