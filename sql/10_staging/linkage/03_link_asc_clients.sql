-- purpose: what each ASC client's events say about their NHS-number token. A client whose events
--          carry exactly one distinct token lends it to their events without one ('token'); a
--          client whose events carry two or more different tokens is 'conflicting_tokens' (their
--          events without a token are left unlinked and reported, never guessed); a client with no
--          tokened event at all is 'no_token' and goes to probabilistic linkage as one record.
-- grain: one row per client_key.
-- inputs: link_asc_events
-- parameters: none
CREATE OR REPLACE TABLE link_asc_clients AS
SELECT
    client_key,
    bool_or(has_client_id) AS has_client_id,
    count(*) AS events,
    count(*) FILTER (WHERE person_id IS NULL) AS events_without_token,
    count(DISTINCT person_id) AS distinct_tokens,
    CASE WHEN count(DISTINCT person_id) = 1 THEN min(person_id) END AS token,
    CASE
        WHEN count(DISTINCT person_id) = 0 THEN 'no_token'
        WHEN count(DISTINCT person_id) = 1 THEN 'token'
        ELSE 'conflicting_tokens'
    END AS token_status
FROM link_asc_events
GROUP BY client_key
