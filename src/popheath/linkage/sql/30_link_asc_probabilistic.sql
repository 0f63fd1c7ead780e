-- Purpose: resolve each ASC client record's Splink candidates to at most one spine person.
--          A candidate who died more than $death_grace_days before the client's latest event started
--          is dropped.
--          Record-level probability of the best candidate j (one-to-one assumption: the event
--          belongs to at most one spine person):
--              p_j = odds_j / (no_match_mass + sum_k odds_k),   odds = 2 ^ match_weight
--          where no_match_mass is the prior probability that the client is not in the spine.
--          Two candidates with equal evidence therefore each get at most 0.5: ties are never
--          linked (match_threshold must exceed 0.5), and are reported as 'ambiguous'.
-- Grain: one row per link_asc_input row (ASC client without a token, or holdout client).
-- Inputs: link_asc_input, link_asc_candidates, link_spine_input
-- Parameters: $no_match_mass, $death_grace_days, $match_threshold
CREATE OR REPLACE TABLE link_asc_probabilistic AS
WITH plausible AS (
    SELECT c.unique_id, c.person_id, c.match_weight, c.pair_probability
    FROM link_asc_candidates AS c
    JOIN link_asc_input AS i ON i.unique_id = c.unique_id
    JOIN link_spine_input AS s ON s.unique_id = c.person_id
    WHERE s.date_of_death IS NULL
        OR i.event_start IS NULL
        OR s.date_of_death >= i.event_start - CAST($death_grace_days AS INTEGER)
),
ranked AS (
    SELECT
        *,
        pow(2.0, match_weight) AS odds,
        row_number() OVER (PARTITION BY unique_id ORDER BY match_weight DESC, person_id) AS candidate_rank,
        count(*) OVER (PARTITION BY unique_id) AS candidate_count,
        sum(pow(2.0, match_weight)) OVER (PARTITION BY unique_id) AS total_odds,
        lead(match_weight) OVER (PARTITION BY unique_id ORDER BY match_weight DESC, person_id) AS second_match_weight
    FROM plausible
),
best AS (
    SELECT
        unique_id,
        person_id AS best_person_id,
        match_weight AS best_match_weight,
        second_match_weight,
        pair_probability AS best_pair_probability,
        candidate_count,
        odds / (CAST($no_match_mass AS DOUBLE) + odds) AS solo_probability,
        odds / (CAST($no_match_mass AS DOUBLE) + total_odds) AS record_probability
    FROM ranked
    WHERE candidate_rank = 1
)
SELECT
    i.unique_id,
    i.event_id,
    i.client_key,
    i.is_holdout,
    i.holdout_person_id,
    b.best_person_id,
    b.best_match_weight,
    b.second_match_weight,
    b.best_pair_probability,
    b.solo_probability,
    -- rounded so that reruns publish identical numbers (window sums are not bit-reproducible)
    round(b.record_probability, 6) AS match_probability,
    coalesce(b.candidate_count, 0) AS candidate_count,
    coalesce(b.record_probability >= $match_threshold, FALSE) AS linked,
    CASE WHEN b.record_probability >= $match_threshold THEN b.best_person_id END AS person_key,
    CASE
        WHEN b.best_person_id IS NULL THEN 'no_candidate'
        WHEN b.record_probability >= $match_threshold THEN 'linked'
        WHEN b.solo_probability >= $match_threshold THEN 'ambiguous'
        ELSE 'below_threshold'
    END AS link_status
FROM link_asc_input AS i
LEFT JOIN best AS b ON b.unique_id = i.unique_id
WHERE i.role <> 'train'
