-- Purpose: ASC events to link probabilistically: every event without a person token, plus a fixed
--          sample of events whose token is in the spine (token hidden from the model) used to
--          measure link accuracy on real data (the "holdout").
-- Grain: one row per ASC event considered (unique_id; holdout rows are 'holdout:' || event_id).
-- Inputs: stg_asc, stg_population
--        asc_client is TRUE on every row (compared with the spine's flag of known clients).
-- Parameters: $holdout_max_records (0 = no holdout), $holdout_fraction (share of tokened events at most)
CREATE OR REPLACE TABLE link_asc_input AS
WITH events AS (
    SELECT
        CAST(event_id AS VARCHAR) AS event_id,
        NULLIF(trim(CAST(person_id AS VARCHAR)), '') AS person_id,
        CAST(birth_year AS INTEGER) AS birth_year,
        CASE WHEN birth_month BETWEEN 1 AND 12 THEN CAST(birth_month AS INTEGER) END AS birth_month,
        CASE WHEN upper(sex) IN ('M', 'F') THEN upper(sex) END AS sex,
        NULLIF(upper(trim(lsoa_code)), '') AS lsoa_code,
        NULLIF(upper(trim(practice_code)), '') AS practice_code,
        event_start
    FROM stg_asc
    WHERE event_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY event_start NULLS LAST, person_id NULLS LAST) = 1
),
spine AS (
    SELECT DISTINCT person_id FROM stg_population WHERE person_id IS NOT NULL
),
without_token AS (
    SELECT event_id AS unique_id, event_id, FALSE AS is_holdout, NULL::VARCHAR AS holdout_person_id,
        birth_year, birth_month, sex, lsoa_code, practice_code, event_start
    FROM events
    WHERE person_id IS NULL
),
holdout_ranked AS (
    SELECT
        e.*,
        row_number() OVER (ORDER BY hash(e.event_id), e.event_id) AS holdout_rank,
        count(*) OVER () AS tokened_events
    FROM events AS e
    JOIN spine AS s ON s.person_id = e.person_id
),
holdout AS (
    SELECT 'holdout:' || event_id AS unique_id, event_id, TRUE AS is_holdout, person_id AS holdout_person_id,
        birth_year, birth_month, sex, lsoa_code, practice_code, event_start
    FROM holdout_ranked
    WHERE holdout_rank <= least($holdout_max_records, floor($holdout_fraction * tokened_events))
)
SELECT *, TRUE AS asc_client FROM without_token
UNION ALL
SELECT *, TRUE AS asc_client FROM holdout
