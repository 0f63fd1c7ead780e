-- purpose: every candidate's position in their PCN, highest risk first. Ties on risk are broken by
--          person token (ascending): deterministic and stable across reruns, and, tokens being
--          pseudonymised, unrelated to any personal characteristic.
-- grain: one row per person.
-- inputs: list_candidates (temp).
-- parameters: none
CREATE OR REPLACE TEMP TABLE list_ranked AS
SELECT
    *,
    row_number() OVER (PARTITION BY pcn_code ORDER BY risk DESC, person_key ASC) AS list_rank
FROM list_candidates
