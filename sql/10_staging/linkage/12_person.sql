-- purpose: one row per person key: every spine person (in_population TRUE) plus every out-of-area
--          token seen in activity but not registered in the ICS (in_population FALSE). For
--          out-of-area keys, birth year and month, sex, LSOA and practice come from their latest
--          ASC event when they have one; other population columns are NULL.
-- grain: one row per person_key.
-- inputs: stg_population, stg_asc, person_link
-- parameters: none
CREATE OR REPLACE TABLE person AS
WITH spine AS (
    SELECT CAST(person_id AS VARCHAR) AS person_key, COLUMNS('^[^_]'), TRUE AS in_population
    FROM stg_population
    WHERE person_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY registration_start DESC NULLS LAST) = 1
),
out_of_area AS (
    SELECT DISTINCT person_key FROM person_link WHERE out_of_area
),
asc_latest AS (
    SELECT
        CAST(person_id AS VARCHAR) AS person_id,
        arg_max(birth_year, event_start) AS birth_year,
        arg_max(birth_month, event_start) AS birth_month,
        arg_max(sex, event_start) AS sex,
        arg_max(lsoa_code, event_start) AS lsoa_code,
        arg_max(practice_code, event_start) AS practice_code
    FROM stg_asc
    WHERE person_id IN (SELECT person_key FROM out_of_area)
    GROUP BY ALL
)
SELECT * FROM spine
UNION ALL BY NAME
SELECT
    o.person_key,
    o.person_key AS person_id,
    a.birth_year,
    a.birth_month,
    a.sex,
    a.lsoa_code,
    a.practice_code,
    FALSE AS in_population
FROM out_of_area AS o
LEFT JOIN asc_latest AS a ON a.person_id = o.person_key
