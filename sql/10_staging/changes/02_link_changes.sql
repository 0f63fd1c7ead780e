-- purpose: the person keys a link run moved: for every record whose row of person_link differs
--          from the previous run's (key, probability, out-of-area or out-of-ICS flag: everything
--          linked_records reads), or that appeared or disappeared, both its old and its new key.
--          The clinical build rebuilds exactly these people (with those of newly loaded records).
--          Only the rows a run rewrote can differ: an incremental run compares the records it relinked.
-- grain: one row per (link run, person key) moved by that run.
-- inputs: link_written (this run's rows: 11_person_link.sql), link_previous (the previous run's
--         person_link rows of the same scope, a temp table).
-- parameters: $run_id (this link run).
INSERT INTO link_changes
WITH moved AS (
    SELECT n.person_key AS new_key, p.person_key AS old_key
    FROM link_written AS n
    FULL OUTER JOIN link_previous AS p ON p.source = n.source AND p.record_id = n.record_id
    WHERE n.record_id IS NULL OR p.record_id IS NULL
       OR (n.person_key, n.match_probability, n.out_of_area, n.out_of_ics_provider)
          IS DISTINCT FROM (p.person_key, p.match_probability, p.out_of_area, p.out_of_ics_provider)
)
SELECT DISTINCT CAST($run_id AS BIGINT) AS run_id, person_key
FROM (SELECT new_key AS person_key FROM moved UNION ALL SELECT old_key FROM moved)
WHERE person_key IS NOT NULL
