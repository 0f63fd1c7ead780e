-- purpose: every candidate's position in their PCN and whether they are listed. Ties on risk are
--          broken by person token (ascending): deterministic and stable across reruns, and, tokens
--          being pseudonymised, unrelated to any personal characteristic.
--          risk_rank: position by risk among all the PCN's candidates.
--          list_rank: call position (1 = first to call) among candidates NOT in hospital now; NULL for
--          people in hospital now, who are held off the call list.
--          listed: the first $capacity people to call, plus the people in hospital now who rank above
--          the last of them by risk (everyone in hospital now when the call list is not full): held
--          rows are shown, flagged, and take no call position and no capacity.
-- grain: one row per candidate.
-- inputs: list_candidates, list_in_hospital (temp).
-- parameters: $capacity
CREATE OR REPLACE TEMP TABLE list_ranked AS
WITH flagged AS (
    SELECT c.*, h.person_key IS NOT NULL AS in_hospital_now, h.in_hospital_detail
    FROM list_candidates AS c
    LEFT JOIN list_in_hospital AS h ON h.person_key = c.person_key
),

ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY pcn_code ORDER BY risk DESC, person_key ASC) AS risk_rank,
        CASE WHEN NOT in_hospital_now THEN
            row_number() OVER (PARTITION BY pcn_code, in_hospital_now ORDER BY risk DESC, person_key ASC)
        END AS list_rank
    FROM flagged
),

cut AS (
    SELECT
        pcn_code,
        count(*) FILTER (WHERE list_rank <= $capacity) >= $capacity AS call_list_full,
        max(risk_rank) FILTER (WHERE list_rank <= $capacity) AS last_called_risk_rank
    FROM ranked
    GROUP BY pcn_code
)

SELECT
    r.*,
    coalesce(
        r.list_rank <= $capacity
        OR (r.in_hospital_now AND (NOT c.call_list_full OR r.risk_rank < c.last_called_risk_rank)),
        false
    ) AS listed
FROM ranked AS r
INNER JOIN cut AS c ON c.pcn_code = r.pcn_code
