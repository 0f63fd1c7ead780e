-- purpose: one row per person key: every spine person (in_population TRUE) plus every out-of-area
--          token seen in activity but not registered in the ICS (in_population FALSE). For
--          out-of-area keys, birth year and month, sex, LSOA and practice come from their latest
--          ASC event when they have one; other population columns are NULL.
--          What the spine lacks (a PDS spine carries no ethnicity, IMD, PCN or place) is filled:
--          ethnic_category: the spine's known code, else the activity datasets' (link_person_ethnicity),
--            else the spine's own Z / 99; ethnicity_source says which ('spine', 'apc', 'asc').
--          imd_decile: the spine's, else ref_imd by lsoa_code (the IMD table shipped or in
--            paths.reference; clinical/codelists/sources.yaml names its edition).
--          pcn_code, place: the spine's, else the practice's PCN in ref_epcn (the ePCN practice-to-PCN
--            relationships in paths.reference): the open relationship with the latest start, else
--            the latest; place is the file's Place column (the ICS's own locality of the PCN).
-- grain: one row per person_key.
-- inputs: stg_population, stg_asc, person_link, link_person_ethnicity, ref_imd, ref_epcn
-- parameters: none
CREATE OR REPLACE TABLE person AS
WITH pcn AS (
    SELECT practice_code, pcn_code, place
    FROM ref_epcn
    QUALIFY row_number() OVER (
        PARTITION BY practice_code ORDER BY relationship_end IS NULL DESC, relationship_start DESC NULLS LAST,
                                            relationship_end DESC NULLS LAST, pcn_code) = 1
),
spine AS (
    SELECT CAST(p.person_id AS VARCHAR) AS person_key,
           p.* EXCLUDE (ethnic_category, imd_decile, pcn_code, place) SIMILAR TO '^[^_].*',
           coalesce(link_ethnic(p.ethnic_category), e.ethnic_category, p.ethnic_category) AS ethnic_category,
           CASE WHEN link_ethnic(p.ethnic_category) IS NOT NULL THEN 'spine'
                WHEN e.ethnic_category IS NOT NULL THEN e.ethnicity_source
                WHEN p.ethnic_category IS NOT NULL THEN 'spine' END AS ethnicity_source,
           CAST(coalesce(p.imd_decile, i.imd_decile) AS INTEGER) AS imd_decile,
           coalesce(p.pcn_code, c.pcn_code) AS pcn_code,
           coalesce(p.place, c.place) AS place,
           TRUE AS in_population
    FROM stg_population AS p
    LEFT JOIN link_person_ethnicity AS e ON e.person_id = CAST(p.person_id AS VARCHAR)
    LEFT JOIN ref_imd AS i ON i.lsoa_code = upper(trim(CAST(p.lsoa_code AS VARCHAR)))
    LEFT JOIN pcn AS c ON c.practice_code = upper(trim(CAST(p.practice_code AS VARCHAR)))
    WHERE p.person_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY p.person_id ORDER BY p.registration_start DESC NULLS LAST) = 1
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
