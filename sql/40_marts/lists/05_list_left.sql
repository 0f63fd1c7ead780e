-- purpose: who was on a PCN's previous list and is not on it now, and why. Reasons in order of
--          precedence: died, opted_out (type 1 objection), deregistered (registration ended or no
--          longer in the registered population), moved_pcn, no_longer_scored, fell_below_capacity.
-- grain: one row per person who left a PCN list.
-- inputs: list_previous, list_current, list_ranked (temp), person, cohort.
-- parameters: $as_of
CREATE OR REPLACE TEMP TABLE list_left AS
SELECT
    p.pcn_code,
    p.person_token,
    p.practice_code,
    p.list_rank AS previous_rank,
    p.tier AS previous_tier,
    CASE
        WHEN pe.date_of_death IS NOT NULL AND pe.date_of_death <= $as_of THEN 'died'
        WHEN coalesce(lower(CAST(pe.type1_opt_out AS VARCHAR)) IN ('true', 't', 'y', 'yes', '1'), false)
            THEN 'opted_out'
        WHEN pe.person_key IS NULL
            OR (pe.registration_end IS NOT NULL AND pe.registration_end <= $as_of)
            OR NOT coalesce(pe.in_population, true)
            OR c.person_key IS NULL
            THEN 'deregistered'
        WHEN coalesce(c.pcn_code, pe.pcn_code) IS DISTINCT FROM p.pcn_code THEN 'moved_pcn'
        WHEN r.person_key IS NULL THEN 'no_longer_scored'
        ELSE 'fell_below_capacity'
    END AS reason,
    -- Only for fell_below_capacity: where the person now ranks in the PCN.
    CASE WHEN r.pcn_code = p.pcn_code THEN r.list_rank END AS current_rank
FROM list_previous AS p
LEFT JOIN person AS pe ON pe.person_key = p.person_token
LEFT JOIN cohort AS c ON c.as_of = $as_of AND c.person_key = p.person_token
LEFT JOIN list_ranked AS r ON r.person_key = p.person_token
WHERE NOT EXISTS (
    SELECT 1 FROM list_current AS l
    WHERE l.pcn_code = p.pcn_code AND l.person_token = p.person_token
)
