-- purpose: the person key of every ASC event and how it was found:
--          'deterministic' - the event carries a token;
--          'client_id'     - no token, but other events of the same client (la_code, client_id) carry
--                            exactly one distinct token, which it takes (probability 1.0);
--          'probabilistic' - no token on any event of the client: the client's Splink link
--                            (link_asc_probabilistic) at or above the match threshold;
--          'unlinked'      - none of these; link_status says why ('conflicting_tokens' when the
--                            client's events carry different tokens, else the Splink outcome).
--          match_probability: 1.0 for the first two, the client's record probability for the
--          others (NULL without a candidate); best_person_id is the best guess even when unlinked.
-- grain: one row per ASC event (record_id = asc_record_id(la_code, event_id); la_code and event_id kept).
-- inputs: link_asc_events, link_asc_clients, link_asc_probabilistic
-- parameters: none
CREATE OR REPLACE TABLE link_asc_event_links AS
SELECT
    e.record_id,
    e.la_code,
    e.event_id,
    e.client_key,
    e.person_id AS token,
    c.token_status,
    CASE
        WHEN e.person_id IS NOT NULL THEN 'deterministic'
        WHEN c.token_status = 'token' THEN 'client_id'
        WHEN p.linked THEN 'probabilistic'
        ELSE 'unlinked'
    END AS method,
    CASE
        WHEN e.person_id IS NOT NULL THEN e.person_id
        WHEN c.token_status = 'token' THEN c.token
        WHEN p.linked THEN p.person_key
    END AS person_key,
    CASE
        WHEN e.person_id IS NOT NULL THEN e.person_id
        WHEN c.token_status = 'token' THEN c.token
        ELSE p.best_person_id
    END AS best_person_id,
    CASE
        WHEN e.person_id IS NOT NULL OR c.token_status = 'token' THEN 1.0
        ELSE p.match_probability
    END::DOUBLE AS match_probability,
    CASE
        WHEN e.person_id IS NOT NULL THEN 'token'
        WHEN c.token_status = 'token' THEN 'client_token'
        WHEN c.token_status = 'conflicting_tokens' THEN 'conflicting_tokens'
        ELSE coalesce(p.link_status, 'no_candidate')
    END AS link_status
FROM link_asc_events AS e
JOIN link_asc_clients AS c USING (client_key)
LEFT JOIN link_asc_probabilistic AS p ON p.unique_id = e.client_key AND NOT p.is_holdout
