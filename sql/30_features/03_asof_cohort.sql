-- purpose: the population at the as-of date - registered and alive, no type 1 objection - with
--          demographics, care-home and social-care status, HFRS and the 65+ / frail flags.
-- grain: one row per person key registered and alive at the as-of date.
-- inputs: person, clin_social_care, asof_person_scores.
-- parameters: $as_of; $population_snapshot (first day of the population delivery month, or NULL
--             when unknown: the spine is then taken as current); $min_age, $frail_hfrs_min, $frail_include_care_home,
--             $frail_include_social_care (settings.cohort).
-- rules:
--   registered and alive at the start of the as-of day: in_population, registration_start on or
--     before as_of (NULL start: registered), registration_end and date_of_death NULL or on/after
--     as_of. People with a type 1 objection are excluded from everything (NHS Digital, type 1
--     opt-outs: no identifiable data leaves the practice for purposes beyond direct care).
--   age: whole years at as_of from birth year and month (born on the 1st; month unknown: July).
--   age_band 0-17, 18-64, 65-74, 75-84, 85+; imd_quintile = ceil(imd_decile / 2).
--   ethnic_group: NHS 2001 ethnic category A-C White, D-G Mixed, H-L Asian, M-P Black, R-S Other,
--     anything else Unknown (NHS Data Dictionary, Ethnic Category).
--   care_home: a residential / nursing social care service started before as_of and not ended
--     before it; or the spine's care-home flag, but only when as_of falls in or after the month of
--     the population delivery: the flag is a snapshot at extract time, and using it at an earlier
--     as-of date would mark people who moved into a care home later (information from the future).
--   social_care_long_term: a long-term support service (clin_social_care.is_long_term) started
--     before as_of and not ended before it.
--   hfrs_band: low < 5, intermediate 5-15, high > 15 (Gilbert et al. 2018).
--   is_65plus: age >= min_age. is_frail: is_65plus and (hfrs >= frail_hfrs_min, or care home,
--     or long-term social care; the last two each switchable in settings).
CREATE OR REPLACE TABLE asof_cohort AS
WITH social_care_now AS (
    SELECT
        person_key,
        bool_or(is_care_home_placement) AS in_care_home_placement,
        bool_or(is_long_term) AS has_long_term_service
    FROM clin_social_care
    WHERE is_service
      AND event_start < CAST($as_of AS DATE)
      AND (event_end IS NULL OR event_end >= CAST($as_of AS DATE))
    GROUP BY person_key
),
base AS (
    SELECT
        p.person_key,
        (year(CAST($as_of AS DATE)) * 12 + month(CAST($as_of AS DATE))
         - (p.birth_year * 12 + coalesce(p.birth_month, 7))) // 12 AS age,
        coalesce(p.sex, 'U') AS sex,
        CASE
            WHEN upper(p.ethnic_category) IN ('A', 'B', 'C') THEN 'White'
            WHEN upper(p.ethnic_category) IN ('D', 'E', 'F', 'G') THEN 'Mixed'
            WHEN upper(p.ethnic_category) IN ('H', 'J', 'K', 'L') THEN 'Asian'
            WHEN upper(p.ethnic_category) IN ('M', 'N', 'P') THEN 'Black'
            WHEN upper(p.ethnic_category) IN ('R', 'S') THEN 'Other'
            ELSE 'Unknown'
        END AS ethnic_group,
        CAST(p.imd_decile AS INTEGER) AS imd_decile,
        p.lsoa_code,
        p.practice_code,
        p.pcn_code,
        p.place,
        (coalesce(p.care_home, FALSE)
         AND CAST($as_of AS DATE) >= coalesce(CAST($population_snapshot AS DATE), DATE '1900-01-01'))
            OR coalesce(s.in_care_home_placement, FALSE) AS care_home,
        coalesce(p.national_data_opt_out, FALSE) AS national_data_opt_out,
        coalesce(s.has_long_term_service, FALSE) AS social_care_long_term,
        coalesce(sc.hfrs, 0) AS hfrs
    FROM person AS p
    LEFT JOIN social_care_now AS s ON s.person_key = p.person_key
    LEFT JOIN asof_person_scores AS sc ON sc.person_key = p.person_key
    WHERE coalesce(p.in_population, FALSE)
      AND NOT coalesce(p.type1_opt_out, FALSE)
      AND (p.registration_start IS NULL OR p.registration_start <= CAST($as_of AS DATE))
      AND (p.registration_end IS NULL OR p.registration_end >= CAST($as_of AS DATE))
      AND (p.date_of_death IS NULL OR p.date_of_death >= CAST($as_of AS DATE))
)
SELECT
    CAST($as_of AS DATE) AS as_of,
    person_key,
    age,
    CASE
        WHEN age < 18 THEN '0-17'
        WHEN age < 65 THEN '18-64'
        WHEN age < 75 THEN '65-74'
        WHEN age < 85 THEN '75-84'
        WHEN age >= 85 THEN '85+'
    END AS age_band,
    sex,
    ethnic_group,
    imd_decile,
    CAST(ceil(imd_decile / 2) AS INTEGER) AS imd_quintile,
    lsoa_code,
    practice_code,
    pcn_code,
    place,
    care_home,
    national_data_opt_out,
    coalesce(age >= $min_age, FALSE) AS is_65plus,
    coalesce(age >= $min_age, FALSE)
        AND (hfrs >= $frail_hfrs_min
             OR ($frail_include_care_home AND care_home)
             OR ($frail_include_social_care AND social_care_long_term)) AS is_frail,
    CAST(hfrs AS DOUBLE) AS hfrs,
    CASE WHEN hfrs < 5 THEN 'low' WHEN hfrs <= 15 THEN 'intermediate' ELSE 'high' END AS hfrs_band,
    social_care_long_term
FROM base
