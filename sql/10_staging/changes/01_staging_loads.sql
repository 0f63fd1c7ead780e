-- purpose: the loads the linked staging tables hold now, one row per load id, so the link stage and
--          the clinical build can tell whether staging changed since the other ran (a restated
--          delivery or a new one brings new load ids; a replaced one takes its old ids away).
--          Rows are counted per load id too, so rows written outside ingest (no load id) count.
--          population: the load is the population spine's (a change there relinks every record).
-- grain: one row per load id present in any staging table the link stage reads.
-- inputs: stg_population, stg_apc, stg_ecds, stg_opa, stg_csds, stg_asc.
-- parameters: none.
CREATE OR REPLACE TEMP TABLE staging_loads AS
SELECT coalesce(_load_id, '') AS load_id, count(*) AS staged_rows, bool_or(population) AS population
FROM (
    SELECT _load_id, TRUE AS population FROM stg_population
    UNION ALL SELECT _load_id, FALSE FROM stg_apc
    UNION ALL SELECT _load_id, FALSE FROM stg_ecds
    UNION ALL SELECT _load_id, FALSE FROM stg_opa
    UNION ALL SELECT _load_id, FALSE FROM stg_csds
    UNION ALL SELECT _load_id, FALSE FROM stg_asc
)
GROUP BY ALL
