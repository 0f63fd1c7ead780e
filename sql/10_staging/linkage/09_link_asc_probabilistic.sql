-- purpose: each ASC client record's outcome after one-to-one assignment (08_link_asc_assignment.sql).
--          An assigned record is linked to its person with the record probability it had when it
--          was assigned. Any other record is scored over its candidates not assigned to another
--          record of its one_to_one_group (taken_candidates counts those removed); its best candidate is
--          reported but not linked: two candidates with equal evidence each get at most 0.5, so
--          ties never link (match_threshold must exceed 0.5) and are reported as 'ambiguous', as is a
--          record whose best candidate is claimed by another record with exactly equal probability.
-- grain: one row per link_asc_input row (ASC client without a token, or holdout client).
-- inputs: link_asc_input, link_asc_plausible, link_asc_assigned
-- parameters: $no_match_mass, $match_threshold
CREATE OR REPLACE TABLE link_asc_probabilistic AS
WITH available AS (
    SELECT
        p.*,
        a.person_id AS assigned_person,
        coalesce(o.unique_id <> p.unique_id, FALSE) AS taken
    FROM link_asc_plausible AS p
    LEFT JOIN link_asc_assigned AS a ON a.unique_id = p.unique_id
    LEFT JOIN link_asc_assigned AS o ON o.person_id = p.person_id AND o.one_to_one_group = p.one_to_one_group
),
ranked AS (
    SELECT
        *,
        -- an assigned record ranks its assigned person first
        row_number() OVER (
            PARTITION BY unique_id ORDER BY person_id = assigned_person DESC NULLS LAST, match_weight DESC, person_id
        ) AS candidate_rank,
        count(*) OVER (PARTITION BY unique_id) AS candidate_count,
        sum(odds) OVER (PARTITION BY unique_id) AS total_odds,
        lead(match_weight) OVER (PARTITION BY unique_id ORDER BY match_weight DESC, person_id) AS second_match_weight
    FROM available
    WHERE NOT taken
),
removed AS (
    SELECT unique_id, count(*) FILTER (WHERE taken) AS taken_candidates FROM available GROUP BY unique_id
),
best AS (
    SELECT
        r.unique_id,
        r.person_id AS best_person_id,
        r.match_weight AS best_match_weight,
        r.second_match_weight,
        r.pair_probability AS best_pair_probability,
        r.candidate_count,
        r.odds / (CAST($no_match_mass AS DOUBLE) + r.odds) AS solo_probability,
        CASE
            WHEN a.unique_id IS NOT NULL THEN a.record_probability
            -- still confident but not assigned: another record claims the same person with equal
            -- probability, so this one is at best one of two
            WHEN r.odds / (CAST($no_match_mass AS DOUBLE) + r.total_odds) >= $match_threshold THEN 0.5
            ELSE r.odds / (CAST($no_match_mass AS DOUBLE) + r.total_odds)
        END AS record_probability,
        a.unique_id IS NOT NULL AS assigned
    FROM ranked AS r
    LEFT JOIN link_asc_assigned AS a ON a.unique_id = r.unique_id
    WHERE r.candidate_rank = 1
)
SELECT
    i.unique_id,
    i.record_id,
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
    coalesce(t.taken_candidates, 0) AS taken_candidates,
    coalesce(b.assigned, FALSE) AS linked,
    CASE WHEN b.assigned THEN b.best_person_id END AS person_key,
    CASE
        WHEN b.best_person_id IS NULL THEN 'no_candidate'
        WHEN b.assigned THEN 'linked'
        WHEN b.solo_probability >= $match_threshold THEN 'ambiguous'
        ELSE 'below_threshold'
    END AS link_status
FROM link_asc_input AS i
LEFT JOIN best AS b ON b.unique_id = i.unique_id
LEFT JOIN removed AS t ON t.unique_id = i.unique_id
WHERE i.role <> 'train'
