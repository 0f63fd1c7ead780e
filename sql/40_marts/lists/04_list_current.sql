-- purpose: this release's list: the top $capacity people per PCN, with recent hospital activity and
--          the change since the previous release (new / risen / fallen / unchanged tier).
-- grain: one row per listed person (a person is in one PCN).
-- inputs: list_ranked (temp), list_previous (temp, the previous release's rows), clin_spells.
-- parameters: $as_of, $capacity
CREATE OR REPLACE TEMP TABLE list_current AS
WITH listed AS (
    SELECT * FROM list_ranked WHERE list_rank <= $capacity
),

activity AS (
    SELECT
        s.person_key,
        max(s.admission_date) FILTER (WHERE s.is_emergency) AS last_emergency_admission,
        max(s.discharge_date) FILTER (WHERE s.discharge_date <= $as_of) AS last_discharge
    FROM clin_spells AS s
    WHERE s.admission_date <= $as_of
      AND s.person_key IN (SELECT person_key FROM listed)
    GROUP BY s.person_key
),

tier_order AS (
    SELECT ['very_high', 'high', 'moderate', 'low', 'not_scored'] AS tiers
)

SELECT
    l.pcn_code,
    l.list_rank,
    row_number() OVER (PARTITION BY l.pcn_code, l.practice_code ORDER BY l.list_rank) AS practice_rank,
    l.person_key AS person_token,
    l.practice_code,
    l.age_band,
    l.sex,
    l.segment,
    l.tier,
    l.risk,
    l.percentile,
    l.reason_1,
    l.reason_2,
    l.reason_3,
    a.last_emergency_admission,
    date_diff('day', a.last_discharge, CAST($as_of AS DATE)) AS days_since_discharge,
    CASE WHEN l.social_care THEN 'Y' ELSE 'N' END AS social_care,
    CASE
        WHEN p.person_token IS NULL THEN 'new'
        WHEN list_position(t.tiers, l.tier) < list_position(t.tiers, p.tier) THEN 'risen'
        WHEN list_position(t.tiers, l.tier) > list_position(t.tiers, p.tier) THEN 'fallen'
        ELSE 'unchanged'
    END AS change,
    p.tier AS previous_tier,
    p.list_rank AS previous_rank,
    coalesce(p.on_list_since, CAST($as_of AS DATE)) AS on_list_since
FROM listed AS l
CROSS JOIN tier_order AS t
LEFT JOIN activity AS a ON a.person_key = l.person_key
LEFT JOIN list_previous AS p ON p.pcn_code = l.pcn_code AND p.person_token = l.person_key
