-- purpose: one round of one-to-one assignment. Each client of an LA is a different person (ASC-CLD
--          LA_Person_Unique_Identifier), so a spine person takes at most one client record of a
--          one_to_one_group. Among records not yet assigned, the record probability of the best
--          candidate is recomputed over the candidates still open (not assigned to another record of
--          the same group):
--              p_j = odds_j / (no_match_mass + sum_k odds_k),   odds = 2 ^ match_weight
--          Records reaching $match_threshold claim their best candidate; when two records claim the
--          same person, the more probable claim wins and an exact tie assigns neither. The stage
--          repeats rounds until one assigns nothing: a record whose rival candidate went to another
--          client is then scored without it, which can break a tie on quasi-identifiers.
-- grain: inserts one row per record assigned in this round into link_asc_assigned.
-- inputs: link_asc_plausible, link_asc_assigned
-- parameters: $no_match_mass, $match_threshold, $round
INSERT INTO link_asc_assigned
WITH available AS (
    SELECT p.*
    FROM link_asc_plausible AS p
    WHERE p.unique_id NOT IN (SELECT unique_id FROM link_asc_assigned)
        AND NOT EXISTS (
            SELECT 1 FROM link_asc_assigned AS a
            WHERE a.person_id = p.person_id AND a.one_to_one_group = p.one_to_one_group
        )
),
ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY unique_id ORDER BY match_weight DESC, person_id) AS candidate_rank,
        sum(odds) OVER (PARTITION BY unique_id) AS total_odds
    FROM available
),
claims AS (
    SELECT
        unique_id, one_to_one_group, person_id, odds / (CAST($no_match_mass AS DOUBLE) + total_odds) AS record_probability
    FROM ranked
    WHERE candidate_rank = 1 AND odds / (CAST($no_match_mass AS DOUBLE) + total_odds) >= $match_threshold
),
contested AS (
    SELECT
        *,
        -- a record without a group has no rival
        row_number() OVER claimants AS claim_rank,
        lead(record_probability) OVER claimants AS rival_probability
    FROM claims
    WINDOW claimants AS (
        PARTITION BY coalesce(one_to_one_group, unique_id), person_id ORDER BY record_probability DESC, unique_id
    )
)
SELECT unique_id, one_to_one_group, person_id, record_probability, CAST($round AS INTEGER)
FROM contested
WHERE claim_rank = 1 AND (rival_probability IS NULL OR rival_probability < record_probability)
