-- purpose: one person key for every activity record this run links. Deterministic on the pseudonymised
--          token; ASC events without a token take their client's token ('client_id': other events of
--          the same LA client carry it) or the spine token Splink matched ('probabilistic'), as
--          decided in link_asc_event_links; the rest are kept with person_key NULL and method
--          'unlinked'. A token PDS superseded (link_person_merger) links to the surviving person,
--          whether the record carries it or took it from its ASC client.
--          out_of_area: the record's token is not in the population spine (NULL when unlinked).
--          out_of_ics_provider: provider_code starts with none of $ics_provider_prefixes (empty list =
--          every provider is in the ICS; unknown provider = in); for ASC, la_code not in $ics_la_codes.
--          load_id: the staging load the record came from (the incremental link replaces by load).
--          A full run ($full) links every record; otherwise every ASC event (their links depend on
--          each other: one-to-one assignment) and the records of the loads in link_stale_loads
--          (new, restated or shrunk since the last run). Any other record's row is a function of its
--          staging row, the spine, the mergers and the settings alone, so the rows kept from the
--          last run are those a full run would write (the link stage runs in full when the
--          population or the definitions changed).
-- grain: one row per activity record (source, record_id) in scope: apc episode, ecds attendance, opa
--        appointment, csds care contact, asc event (record_id = asc_record_id(la_code, event_id),
--        sql/10_staging/linked/00_asc_record_id.sql: an Event_Reference is unique only within its LA).
-- inputs: stg_population, stg_apc, stg_ecds, stg_opa, stg_csds, stg_asc, link_asc_event_links,
--         link_person_merger, link_stale_loads (temp: load_id)
-- parameters: $ics_provider_prefixes (VARCHAR[]), $ics_la_codes (VARCHAR[]), $full (BOOLEAN)
-- writes: link_written (the link stage makes it person_link, or replaces those rows of person_link)
CREATE OR REPLACE TABLE link_written AS
WITH spine AS (
    SELECT DISTINCT CAST(person_id AS VARCHAR) AS person_id FROM stg_population WHERE person_id IS NOT NULL
),
activity AS (
    SELECT 'apc' AS source, CAST(episode_id AS VARCHAR) AS record_id, CAST(person_id AS VARCHAR) AS person_id,
        CAST(provider_code AS VARCHAR) AS provider_code, NULL::VARCHAR AS la_code,
        coalesce(_load_id, '') AS load_id
    FROM stg_apc
    UNION ALL
    SELECT 'ecds', CAST(attendance_id AS VARCHAR), CAST(person_id AS VARCHAR), CAST(provider_code AS VARCHAR), NULL,
        coalesce(_load_id, '')
    FROM stg_ecds
    UNION ALL
    SELECT 'opa', CAST(appointment_id AS VARCHAR), CAST(person_id AS VARCHAR), CAST(provider_code AS VARCHAR), NULL,
        coalesce(_load_id, '')
    FROM stg_opa
    UNION ALL
    SELECT 'csds', CAST(contact_id AS VARCHAR), CAST(person_id AS VARCHAR), CAST(provider_code AS VARCHAR), NULL,
        coalesce(_load_id, '')
    FROM stg_csds
    UNION ALL
    SELECT 'asc', asc_record_id(la_code, event_id), CAST(person_id AS VARCHAR), NULL, CAST(la_code AS VARCHAR),
        coalesce(_load_id, '')
    FROM stg_asc
),
scoped AS (
    SELECT * FROM activity
    WHERE $full OR source = 'asc' OR load_id IN (SELECT load_id FROM link_stale_loads)
),
tokens AS (
    SELECT a.source, a.record_id, coalesce(m.person_id, NULLIF(trim(a.person_id), '')) AS token, a.provider_code,
           a.la_code, a.load_id
    FROM scoped AS a
    LEFT JOIN link_person_merger AS m ON m.superseded_id = NULLIF(trim(a.person_id), '')
),
asc_links AS (
    SELECT l.record_id, coalesce(m.person_id, l.person_key) AS person_key, l.method, l.match_probability
    FROM link_asc_event_links AS l
    LEFT JOIN link_person_merger AS m ON m.superseded_id = l.person_key
    WHERE l.token IS NULL AND l.person_key IS NOT NULL
)
SELECT
    t.source,
    t.record_id,
    coalesce(t.token, p.person_key) AS person_key,
    CASE
        WHEN t.token IS NOT NULL THEN 'deterministic'
        WHEN p.person_key IS NOT NULL THEN p.method
        ELSE 'unlinked'
    END AS method,
    CASE
        WHEN t.token IS NOT NULL THEN 1.0
        ELSE p.match_probability
    END::DOUBLE AS match_probability,
    CASE
        WHEN t.token IS NOT NULL THEN s.person_id IS NULL
        WHEN p.person_key IS NOT NULL THEN sp.person_id IS NULL
    END AS out_of_area,
    CASE
        WHEN t.source = 'asc' THEN
            len($ics_la_codes::VARCHAR[]) > 0 AND t.la_code IS NOT NULL
            AND NOT list_contains($ics_la_codes::VARCHAR[], t.la_code)
        ELSE
            len($ics_provider_prefixes::VARCHAR[]) > 0 AND t.provider_code IS NOT NULL
            AND NOT coalesce(list_bool_or([starts_with(upper(t.provider_code), upper(prefix))
                FOR prefix IN $ics_provider_prefixes::VARCHAR[]]), FALSE)
    END AS out_of_ics_provider,
    t.load_id
FROM tokens AS t
LEFT JOIN spine AS s ON s.person_id = t.token
LEFT JOIN asc_links AS p ON t.source = 'asc' AND t.token IS NULL AND p.record_id = t.record_id
LEFT JOIN spine AS sp ON sp.person_id = p.person_key
