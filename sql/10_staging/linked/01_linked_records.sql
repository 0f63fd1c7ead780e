-- purpose: the one rule for which links count, for clinical logic and costing alike. A record
--          reaches its person when person_link gave it a key with a match probability of at least
--          $min_link_probability (deterministic token links carry 1.0); below that the record stays
--          in the source but unattributed (person_key NULL). reaches_person adds the area and
--          provider scope: out-of-area people and providers (or local authorities) outside the ICS
--          count only when included.
-- grain: one row per activity record of the source (source, record_id), as in person_link.
-- inputs: person_link.
-- parameters: source_name, min_link_probability, include_out_of_area, include_out_of_ics_providers
--             (macro arguments; the callers pass settings.link.* or the costing choices).
CREATE OR REPLACE MACRO linked_records(source_name, min_link_probability, include_out_of_area,
                                       include_out_of_ics_providers) AS TABLE
WITH counted AS (
    SELECT
        record_id,
        CASE WHEN person_key IS NOT NULL AND coalesce(match_probability, 0) >= min_link_probability
             THEN person_key END AS linked_key,
        method AS link_method,
        match_probability,
        out_of_area,
        coalesce(out_of_ics_provider, FALSE) AS out_of_ics_provider
    FROM person_link
    WHERE source = source_name
)
SELECT
    record_id,
    linked_key AS person_key,
    link_method,
    match_probability,
    linked_key IS NOT NULL AND coalesce(out_of_area, FALSE) AS out_of_area,
    out_of_ics_provider,
    linked_key IS NOT NULL
        AND (include_out_of_area OR NOT coalesce(out_of_area, FALSE))
        AND (include_out_of_ics_providers OR NOT out_of_ics_provider) AS reaches_person
FROM counted
