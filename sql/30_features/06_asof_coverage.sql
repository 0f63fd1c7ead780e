-- purpose: data coverage per person at the as-of date: which sources hold any linked record for the
--          person (acute, ED, outpatient, community, social care), and, for the person's practice,
--          the latest activity date of each source. "Low risk" may just mean
--          "no data": a practice whose community or social care feed stopped looks healthy.
-- grain: one row per person key in asof_cohort (registered and alive at the as-of date).
-- inputs: asof_cohort, clin_episodes, clin_ed_attendances, clin_outpatients,
--         clin_community_contacts, clin_social_care (sql/20_clinical: the linked records that pass
--         the run's link filters - minimum link probability, out-of-area and out-of-ICS-provider
--         settings - so a record counts here exactly when it reaches the clinical tables).
-- parameters: $as_of.
-- rules:
--   a record covers a person when its activity date (admission, arrival, appointment, contact,
--     event start) is on or before the as-of date (no look-ahead); every record counts, attended
--     or not, since any record shows the feed is live.
--   practice_last_<source>: the latest activity date among such records of people registered at
--     the practice (the delivery labels, from the staging tables' _delivery, are added per practice
--     in coverage_practice by popheath segment). The staleness rule (days without data) is applied when lists are
--     published (settings lists.coverage_stale_days), so the flag follows the setting without a rerun.
CREATE OR REPLACE TABLE asof_coverage AS
WITH records AS (
    SELECT 'acute' AS source, person_key, admission_date AS activity_date FROM clin_episodes
    UNION ALL
    SELECT 'ed', person_key, arrival_date FROM clin_ed_attendances
    UNION ALL
    SELECT 'outpatient', person_key, appointment_date FROM clin_outpatients
    UNION ALL
    SELECT 'community', person_key, contact_date FROM clin_community_contacts
    UNION ALL
    SELECT 'social_care', person_key, event_start FROM clin_social_care
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
