-- purpose: people who may appear on a PCN list: scored at the as-of date by the chosen model,
--          registered and alive (in the cohort), with a PCN, and without a type 1 objection.
--          National data opt-out people stay: the lists are for direct care (DESIGN.md section 6).
-- grain: one row per person.
-- inputs: scores, cohort, segments, person, features (end_of_life_proxy, as the end_of_life segment).
-- parameters: $as_of, $model_name, $model_version
CREATE OR REPLACE TEMP TABLE list_candidates AS
SELECT
    s.person_key,
    c.pcn_code,
    c.practice_code,
    c.place,
    c.age_band,
    c.sex,
    g.segment,
    coalesce(g.tier, 'not_scored') AS tier,
    s.risk,
    s.percentile,
    s.reason_1,
    s.reason_2,
    s.reason_3,
    coalesce(c.social_care_long_term, false) AS social_care,
    coalesce(c.care_home, false) AS care_home,
    coalesce(f.end_of_life_proxy, false) AS end_of_life
FROM scores AS s
INNER JOIN cohort AS c ON c.as_of = s.as_of AND c.person_key = s.person_key
LEFT JOIN segments AS g ON g.as_of = s.as_of AND g.person_key = s.person_key
LEFT JOIN person AS p ON p.person_key = s.person_key
LEFT JOIN features AS f ON f.as_of = s.as_of AND f.person_key = s.person_key
WHERE s.as_of = $as_of
  AND s.model_name = $model_name
  AND s.model_version = $model_version
  AND c.pcn_code IS NOT NULL
  -- Type 1 objections are excluded from everything; the cohort already drops them, checked again here.
  AND NOT coalesce(lower(CAST(p.type1_opt_out AS VARCHAR)) IN ('true', 't', 'y', 'yes', '1'), false)
  AND (p.date_of_death IS NULL OR p.date_of_death > $as_of)
