-- purpose: the population pyramid: people per segment x risk tier, per PCN and place.
-- grain: one row per as_of x pcn_code x place x segment x tier (only combinations with people).
-- inputs: segments, cohort (for PCN and place at the same as-of date).
-- parameters: $as_of
INSERT INTO pyramid (as_of, pcn_code, place, segment, tier, people)
SELECT
    g.as_of,
    c.pcn_code,
    c.place,
    g.segment,
    g.tier,
    count(*) AS people
FROM segments AS g
INNER JOIN cohort AS c ON c.as_of = g.as_of AND c.person_key = g.person_key
WHERE g.as_of = $as_of
GROUP BY g.as_of, c.pcn_code, c.place, g.segment, g.tier
