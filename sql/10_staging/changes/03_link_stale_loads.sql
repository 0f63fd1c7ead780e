-- purpose: the loads whose records are not in person_link as staging holds them now: every (load id,
--          row count) of the staging tables that person_link does not reflect (a new load, or one a
--          restatement or a late resubmission shrank) and every one person_link reflects that
--          staging no longer holds (replaced: its rows go). A population load among them means the
--          spine changed and every record is relinked; otherwise an incremental run relinks the
--          records of these loads (and every ASC event, whatever its load).
-- grain: one row per load id.
-- inputs: staging_loads (temp, 01_staging_loads.sql), link_loads (the loads person_link reflects).
-- parameters: none.
CREATE OR REPLACE TEMP TABLE link_stale_loads AS
SELECT DISTINCT load_id, population
FROM (
    (SELECT load_id, staged_rows, population FROM staging_loads
     EXCEPT SELECT load_id, staged_rows, population FROM link_loads)
    UNION ALL
    (SELECT load_id, staged_rows, population FROM link_loads
     EXCEPT SELECT load_id, staged_rows, population FROM staging_loads)
)
