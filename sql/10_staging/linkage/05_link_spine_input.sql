-- purpose: the population spine as Splink sees it: quasi-identifiers normalised the same way as
--          link_asc_input (sex U -> missing, blank codes -> missing, ethnic category Z/99 -> missing;
--          a spine without a known ethnic category takes the activity datasets' as linkage sees them,
--          link_person_ethnicity.linkage_ethnic_category),
--          whether the person is a known social care client (an event of a client outside the
--          holdout carries their token), and date of death (death_spine; death_asc is NULL here),
--          also used by the plausibility filter. Activity the ASC side is checked against:
--          after_discharge_days (each hospital discharge date of the person and the day after, from
--          stg_apc) and registered_from / registered_to (GP registration; NULL end = still registered).
--          ASC-side columns (first_event, last_event, service_starts) are NULL here.
-- grain: one row per person_id (the latest registration when a person appears twice).
-- inputs: stg_population, stg_apc, link_asc_events, link_asc_input, link_person_ethnicity
-- macros: link_month, link_sex, link_code, link_ethnic (01_link_macros.sql)
-- parameters: none
CREATE OR REPLACE TABLE link_spine_input AS
WITH discharges AS (
    SELECT
        CAST(a.person_id AS VARCHAR) AS person_id,
        list_sort(list_distinct(flatten(list([CAST(a.discharge_date AS DATE),
            CAST(a.discharge_date AS DATE) + 1])))) AS after_discharge_days
    FROM stg_apc AS a
    WHERE a.person_id IS NOT NULL AND a.discharge_date IS NOT NULL
    GROUP BY 1
),
known_clients AS (
    SELECT DISTINCT person_id
    FROM link_asc_events
    WHERE person_id IS NOT NULL
        AND client_key NOT IN (SELECT client_key FROM link_asc_input WHERE is_holdout)
)
SELECT
    CAST(p.person_id AS VARCHAR) AS unique_id,
    CAST(birth_year AS INTEGER) AS birth_year,
    link_month(birth_month) AS birth_month,
    link_sex(sex) AS sex,
    link_code(lsoa_code) AS lsoa_code,
    link_code(practice_code) AS practice_code,
    coalesce(link_ethnic(p.ethnic_category), e.linkage_ethnic_category) AS ethnic_category,
    NULL::DATE AS death_asc,
    CAST(date_of_death AS DATE) AS death_spine,
    CAST(p.person_id AS VARCHAR) IN (SELECT person_id FROM known_clients) AS asc_client,
    CAST(date_of_death AS DATE) AS date_of_death,
    NULL::DATE AS first_event,
    NULL::DATE AS last_event,
    NULL::DATE[] AS service_starts,
    d.after_discharge_days,
    CAST(registration_start AS DATE) AS registered_from,
    CAST(registration_end AS DATE) AS registered_to
FROM stg_population AS p
LEFT JOIN discharges AS d ON d.person_id = CAST(p.person_id AS VARCHAR)
LEFT JOIN link_person_ethnicity AS e ON e.person_id = CAST(p.person_id AS VARCHAR)
WHERE p.person_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY p.person_id ORDER BY registration_start DESC NULLS LAST) = 1
