-- purpose: a person's ethnic category from the activity datasets, for a spine that has none (PDS holds
--          no ethnicity; NCL takes it from GP and SUS records: ncl-icb-analytics/dbt-ncl-analytics
--          int_person_pmi_dataset_ethnicity_national_data_sets, resolved in int_person_pmi_combined by
--          a known code first, then the most recent record). Records carrying the person's pseudonym
--          (a superseded one counts for the survivor) from the sources whose staging tables carry
--          ethnicity: APC (SUS+ Ethnic_Group), OPA and ECDS (Ethnic_Category; NHS-Transformation-Unit/
--          NCDR_Reference opa_main.sql, ecds_main.sql), CSDS (CYP001 MPI ETHNIC CATEGORY, carried on each care
--          contact, dated by the contact) and ASC-CLD events of clients outside the linkage
--          holdout (the holdout's records are scored as if they had no token, so they may not inform
--          the spine side). Codes are NHS 2001 ETHNIC CATEGORY A-S (NHS Data Dictionary); Z (not
--          stated), 99 (not known), X and blanks are not known and never chosen. Rule: the code of the
--          most recent record; records of one day that disagree go to the code the person has most
--          often across all records, then the alphabetically first; the source named is then the
--          alphabetically first of those records, so a rerun names the same one.
--          linkage_ethnic_category: the same rule without the ASC events of any client record sent to
--          linkage (link_asc_input: holdout and the tokened clients whose true pairs measure the m
--          probabilities). An untraced client's own events never reach its true person's code, so the
--          labelled pairs must not see theirs either: a code copied from the client's own record would
--          agree by construction and understate how often the LA's code and the NHS-derived one differ.
-- grain: one row per person_id with a known ethnic category from any record (linkage_ethnic_category
--        may be NULL on it).
-- inputs: stg_apc, stg_opa, stg_ecds, stg_csds, link_asc_events, link_asc_input, link_person_merger
-- parameters: none
CREATE OR REPLACE TABLE link_person_ethnicity AS
WITH recorded AS (
    SELECT CAST(person_id AS VARCHAR) AS token, upper(trim(CAST(ethnic_category AS VARCHAR))) AS code,
           CAST(coalesce(episode_start, admission_date) AS DATE) AS recorded_on, 'apc' AS source,
           TRUE AS for_linkage
    FROM stg_apc
    UNION ALL
    SELECT CAST(person_id AS VARCHAR), upper(trim(CAST(ethnic_category AS VARCHAR))), CAST(appointment_date AS DATE),
           'opa', TRUE
    FROM stg_opa
    UNION ALL
    SELECT CAST(person_id AS VARCHAR), upper(trim(CAST(ethnic_category AS VARCHAR))), CAST(arrival_date AS DATE),
           'ecds', TRUE
    FROM stg_ecds
    UNION ALL
    SELECT CAST(person_id AS VARCHAR), upper(trim(CAST(ethnic_category AS VARCHAR))), CAST(contact_date AS DATE),
           'csds', TRUE
    FROM stg_csds
    UNION ALL
    SELECT e.person_id, e.ethnic_category, CAST(e.event_start AS DATE), 'asc',
           e.client_key NOT IN (SELECT client_key FROM link_asc_input)
    FROM link_asc_events AS e
    WHERE e.client_key NOT IN (SELECT client_key FROM link_asc_input WHERE is_holdout)
),
known AS (
    SELECT coalesce(m.person_id, r.token) AS person_id, r.code, r.recorded_on, r.source, r.for_linkage
    FROM recorded AS r
    LEFT JOIN link_person_merger AS m ON m.superseded_id = r.token
    WHERE NULLIF(trim(r.token), '') IS NOT NULL
      AND regexp_full_match(r.code, '[A-HJ-NPR-S]')
),
-- The rule needs each person's records of their latest day only (with the person's count per code
-- over all records): those are picked by hash aggregation, and only they are ranked.
code_counts AS (
    SELECT person_id, code, count(*) AS code_records, count(*) FILTER (WHERE for_linkage) AS linkage_code_records
    FROM known
    GROUP BY ALL
),
latest AS (
    SELECT person_id, max(recorded_on) AS recorded_on,
           max(recorded_on) FILTER (WHERE for_linkage) AS linkage_recorded_on,
           count(*) AS known_records
    FROM known
    GROUP BY ALL
),
chosen AS (
    SELECT k.person_id, k.code AS ethnic_category, k.source AS ethnicity_source, k.recorded_on AS ethnicity_recorded_on,
           l.known_records AS ethnicity_records
    FROM known AS k
    JOIN latest AS l ON l.person_id = k.person_id AND l.recorded_on IS NOT DISTINCT FROM k.recorded_on
    JOIN code_counts AS c ON c.person_id = k.person_id AND c.code = k.code
    QUALIFY row_number() OVER (PARTITION BY k.person_id ORDER BY c.code_records DESC, k.code, k.source) = 1
),
linkage AS (
    SELECT k.person_id, k.code AS linkage_ethnic_category
    FROM known AS k
    JOIN latest AS l ON l.person_id = k.person_id AND l.linkage_recorded_on IS NOT DISTINCT FROM k.recorded_on
    JOIN code_counts AS c ON c.person_id = k.person_id AND c.code = k.code
    WHERE k.for_linkage
    QUALIFY row_number() OVER (PARTITION BY k.person_id ORDER BY c.linkage_code_records DESC, k.code, k.source) = 1
)
SELECT c.*, l.linkage_ethnic_category
FROM chosen AS c
LEFT JOIN linkage AS l USING (person_id)
