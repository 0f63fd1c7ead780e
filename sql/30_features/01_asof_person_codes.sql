-- purpose: the distinct diagnosis codes each person had recorded BEFORE the as-of date, with
--          the lookback windows each code falls in (point-in-time: episode_date < as_of).
-- grain: one row per (person, normalised ICD-10 code).
-- inputs: clin_episode_diagnoses.
-- parameters: $as_of; $hfrs_lookback_years (2: Gilbert et al. 2018 use the two years before
--             the index date); $comorbidity_lookback_years (Charlson, Elixhauser and the
--             long-term condition count); $end_of_life_lookback_months.
-- notes: a window includes its first day (as_of minus exactly 2 years is inside the HFRS window)
--        and excludes the as-of date itself.
CREATE OR REPLACE TABLE asof_person_codes AS
WITH params AS (
    SELECT
        CAST($as_of AS DATE) AS as_of,
        CAST(CAST($as_of AS DATE) - to_years(CAST($hfrs_lookback_years AS INTEGER)) AS DATE) AS hfrs_from,
        CAST(CAST($as_of AS DATE) - to_years(CAST($comorbidity_lookback_years AS INTEGER)) AS DATE) AS comorbidity_from,
        CAST(CAST($as_of AS DATE) - to_months(CAST($end_of_life_lookback_months AS INTEGER)) AS DATE) AS end_of_life_from
)
SELECT
    d.person_key,
    d.code,
    bool_or(d.episode_date >= p.hfrs_from) AS in_hfrs_window,
    bool_or(d.episode_date >= p.comorbidity_from) AS in_comorbidity_window,
    bool_or(d.episode_date >= p.end_of_life_from) AS in_end_of_life_window
FROM clin_episode_diagnoses AS d
CROSS JOIN params AS p
WHERE d.episode_date < p.as_of
  AND d.episode_date >= least(p.hfrs_from, p.comorbidity_from, p.end_of_life_from)
GROUP BY d.person_key, d.code
