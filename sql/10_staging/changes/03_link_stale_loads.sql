-- purpose: the loads whose records an incremental link run relinks: every (load id, row count) of the
--          activity staging tables that person_link does not reflect (a new load, or one a
--          restatement or a late resubmission shrank) and every one person_link reflects that
--          staging no longer holds (replaced: its rows go). ASC events are relinked whatever their load.
-- grain: one row per load id.
-- inputs: staging_loads (temp, 01_staging_loads.sql), link_loads (the loads person_link reflects).
-- parameters: none.
CREATE OR REPLACE TEMP TABLE link_stale_loads AS
WITH now AS (
    SELECT load_id, staged_rows FROM staging_loads WHERE NOT population
),
linked AS (
    SELECT load_id, staged_rows FROM link_loads WHERE NOT population
)
SELECT load_id FROM (SELECT * FROM now EXCEPT SELECT * FROM linked)
UNION
SELECT load_id FROM (SELECT * FROM linked EXCEPT SELECT * FROM now)
