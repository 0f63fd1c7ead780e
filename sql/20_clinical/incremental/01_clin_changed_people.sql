-- purpose: the people whose clinical rows an incremental build redoes: the current key of every
--          record loaded since the last build (a new delivery, a restated one, a late record for
--          an old period) and every key a link run since then moved (old and new key of a record
--          whose link changed, appeared or disappeared: a restatement that drops a record is seen
--          here, by the link run that followed it). Every clin_* table except clin_code_conditions
--          has one person per row and a person's rows depend on that person's records only
--          (windows partition by person_key), so rebuilding these people gives the full build's rows.
-- grain: one row per person key.
-- inputs: person_link (each record's key and staging load), clinical_build_loads (the loads the
--         clinical tables reflect), link_changes.
-- parameters: $link_run (the last link run the clinical tables reflect).
CREATE OR REPLACE TABLE clin_delta.clin_changed_people AS
SELECT DISTINCT person_key
FROM (
    SELECT person_key
    FROM main.person_link
    WHERE load_id NOT IN (SELECT load_id FROM main.clinical_build_loads)
    UNION ALL
    SELECT person_key FROM main.link_changes WHERE run_id > $link_run
)
WHERE person_key IS NOT NULL
