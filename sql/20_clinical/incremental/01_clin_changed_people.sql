-- purpose: the people whose clinical rows an incremental build redoes: the current key of every
--          record loaded since the last build (a new delivery, a restated one, a late record for
--          an old period) and every key a link run since then moved (old and new key of a record
--          whose link changed, appeared or disappeared: a restatement that drops a record is seen
--          here, by the link run that followed it). Every clin_* table except clin_code_conditions
--          has one person per row and a person's rows depend on that person's records only
--          (windows partition by person_key), so rebuilding these people gives the full build's rows.
-- grain: one row per person key.
-- inputs: stg_apc, stg_ecds, stg_opa, stg_csds, stg_asc, person_link, clinical_build_loads (the
--         loads the clinical tables reflect), link_changes.
-- macros: asc_record_id (sql/10_staging/linked/00_asc_record_id.sql).
-- parameters: $link_run (the last link run the clinical tables reflect).
CREATE OR REPLACE TABLE clin_delta.clin_changed_people AS
WITH reflected AS (
    SELECT load_id FROM main.clinical_build_loads
),
new_records AS (
    SELECT 'apc' AS source, CAST(episode_id AS VARCHAR) AS record_id
    FROM main.stg_apc WHERE coalesce(_load_id, '') NOT IN (SELECT load_id FROM reflected)
    UNION ALL
    SELECT 'ecds', CAST(attendance_id AS VARCHAR)
    FROM main.stg_ecds WHERE coalesce(_load_id, '') NOT IN (SELECT load_id FROM reflected)
    UNION ALL
    SELECT 'opa', CAST(appointment_id AS VARCHAR)
    FROM main.stg_opa WHERE coalesce(_load_id, '') NOT IN (SELECT load_id FROM reflected)
    UNION ALL
    SELECT 'csds', CAST(contact_id AS VARCHAR)
    FROM main.stg_csds WHERE coalesce(_load_id, '') NOT IN (SELECT load_id FROM reflected)
    UNION ALL
    SELECT 'asc', asc_record_id(la_code, event_id)
    FROM main.stg_asc WHERE coalesce(_load_id, '') NOT IN (SELECT load_id FROM reflected)
)
SELECT DISTINCT person_key
FROM (
    SELECT l.person_key
    FROM new_records AS n
    JOIN main.person_link AS l ON l.source = n.source AND l.record_id = n.record_id
    UNION ALL
    SELECT person_key FROM main.link_changes WHERE run_id > $link_run
)
WHERE person_key IS NOT NULL
