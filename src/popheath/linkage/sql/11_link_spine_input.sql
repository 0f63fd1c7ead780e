-- Purpose: the population spine as Splink sees it: quasi-identifiers normalised the same way as
--          link_asc_input (sex U -> missing, blank codes -> missing, ethnic category Z/99 -> missing),
--          whether the person is a known social care client (an event of a client outside the
--          holdout carries their token), and date of death (death_spine; death_asc is NULL here),
--          also used by the plausibility filter.
-- Grain: one row per person_id (the latest registration when a person appears twice).
-- Inputs: stg_population, link_asc_events, link_asc_input
-- Parameters: none
CREATE OR REPLACE TABLE link_spine_input AS
WITH known_clients AS (
    SELECT DISTINCT person_id
    FROM link_asc_events
    WHERE person_id IS NOT NULL
        AND client_key NOT IN (SELECT client_key FROM link_asc_input WHERE is_holdout)
)
SELECT
    CAST(person_id AS VARCHAR) AS unique_id,
    CAST(birth_year AS INTEGER) AS birth_year,
    CASE WHEN birth_month BETWEEN 1 AND 12 THEN CAST(birth_month AS INTEGER) END AS birth_month,
    CASE WHEN upper(sex) IN ('M', 'F') THEN upper(sex) END AS sex,
    NULLIF(upper(trim(lsoa_code)), '') AS lsoa_code,
    NULLIF(upper(trim(practice_code)), '') AS practice_code,
    CASE WHEN upper(trim(CAST(ethnic_category AS VARCHAR))) NOT IN ('', 'Z', '99')
        THEN upper(trim(CAST(ethnic_category AS VARCHAR))) END AS ethnic_category,
    NULL::DATE AS death_asc,
    CAST(date_of_death AS DATE) AS death_spine,
    CAST(person_id AS VARCHAR) IN (SELECT person_id FROM known_clients) AS asc_client,
    CAST(date_of_death AS DATE) AS date_of_death
FROM stg_population
WHERE person_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY registration_start DESC NULLS LAST) = 1
