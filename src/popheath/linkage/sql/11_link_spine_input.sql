-- Purpose: the population spine as Splink sees it: quasi-identifiers normalised the same way as
--          link_asc_input (sex U -> missing, blank codes -> missing), whether the person is a
--          known social care client (an ASC event outside the holdout carries their token), and
--          date of death for the plausibility filter.
-- Grain: one row per person_id (the latest registration when a person appears twice).
-- Inputs: stg_population, stg_asc, link_asc_input
-- Parameters: none
CREATE OR REPLACE TABLE link_spine_input AS
WITH known_clients AS (
    SELECT DISTINCT NULLIF(trim(CAST(a.person_id AS VARCHAR)), '') AS person_id
    FROM stg_asc AS a
    WHERE NULLIF(trim(CAST(a.person_id AS VARCHAR)), '') IS NOT NULL
        AND CAST(a.event_id AS VARCHAR) NOT IN (SELECT event_id FROM link_asc_input WHERE is_holdout)
)
SELECT
    CAST(person_id AS VARCHAR) AS unique_id,
    CAST(birth_year AS INTEGER) AS birth_year,
    CASE WHEN birth_month BETWEEN 1 AND 12 THEN CAST(birth_month AS INTEGER) END AS birth_month,
    CASE WHEN upper(sex) IN ('M', 'F') THEN upper(sex) END AS sex,
    NULLIF(upper(trim(lsoa_code)), '') AS lsoa_code,
    NULLIF(upper(trim(practice_code)), '') AS practice_code,
    person_id IN (SELECT person_id FROM known_clients) AS asc_client,
    date_of_death
FROM stg_population
WHERE person_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY registration_start DESC NULLS LAST) = 1
