-- purpose: every ASC event once, with its identifiers normalised the way Splink compares them, and
--          its client key: the local authority's client id (ASC-CLD LA_Person_Unique_Identifier) is
--          unique only within an LA, so a client is (la_code, client_id). An event without a client
--          id is a client of its own ('event|' || record_id). An event is (la_code, event_id) (its
--          Event_Reference is unique only within an LA): record_id is asc_record_id(la_code, event_id),
--          the id person_link gives it (sql/10_staging/linked/00_asc_record_id.sql).
--          ethnic_category: NHS 2001 code, with Z (not stated), 99 (not known) and blanks as NULL.
--          event_type: ASC-CLD event type in lower case (request, assessment, service, review).
-- grain: one row per event (la_code, event_id) = record_id (a duplicated event keeps its earliest row).
-- inputs: stg_asc
-- macros: link_month, link_sex, link_code, link_ethnic (01_link_macros.sql), asc_record_id
-- parameters: none
CREATE OR REPLACE TABLE link_asc_events AS
SELECT
    asc_record_id(la_code, event_id) AS record_id,
    CAST(event_id AS VARCHAR) AS event_id,
    CASE
        WHEN NULLIF(trim(CAST(client_id AS VARCHAR)), '') IS NOT NULL
            THEN 'client|' || coalesce(upper(trim(CAST(la_code AS VARCHAR))), '') || '|' || trim(CAST(client_id AS VARCHAR))
        ELSE 'event|' || asc_record_id(la_code, event_id)
    END AS client_key,
    NULLIF(trim(CAST(client_id AS VARCHAR)), '') IS NOT NULL AS has_client_id,
    upper(trim(CAST(la_code AS VARCHAR))) AS la_code,
    NULLIF(trim(CAST(person_id AS VARCHAR)), '') AS person_id,
    CAST(birth_year AS INTEGER) AS birth_year,
    link_month(birth_month) AS birth_month,
    link_sex(sex) AS sex,
    link_code(lsoa_code) AS lsoa_code,
    link_code(practice_code) AS practice_code,
    link_ethnic(ethnic_category) AS ethnic_category,
    CAST(date_of_death AS DATE) AS date_of_death,
    event_start,
    lower(trim(CAST(event_type AS VARCHAR))) AS event_type
FROM stg_asc
WHERE event_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY asc_record_id(la_code, event_id) ORDER BY event_start NULLS LAST, person_id NULLS LAST) = 1
