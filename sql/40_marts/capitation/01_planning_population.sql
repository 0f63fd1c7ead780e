-- purpose: the planning population for baselines: person-years joined to the population segment,
--          risk tier and frailty at the year start. Type 1 objections are always excluded; national
--          data opt-outs are excluded from these planning outputs (NHS national data opt-out policy);
--          out-of-area people only when $include_out_of_area.
-- grain:   one row per person key in the planning population for the year (read into memory),
--          ordered by person key so the seeded bootstrap and model are reproducible run to run.
-- inputs:  cap_person_year, segments, cohort.
-- parameters: $year, $segments_as_of, $cohort_as_of, $include_out_of_area.
SELECT
    py.person_key,
    coalesce(py.sex, 'U') AS sex,
    py.age,
    py.age_band,
    coalesce(py.practice_code, 'Unknown') AS practice_code,
    coalesce(py.pcn_code, 'Unknown') AS pcn_code,
    coalesce(py.place, 'Unknown') AS place,
    py.out_of_area,
    coalesce(s.segment, 'unsegmented') AS segment,
    coalesce(s.tier, 'not_scored') AS tier,
    coalesce(c.is_frail, FALSE) AS is_frail,
    py.person_years,
    py.cost_acute,
    py.cost_community,
    py.cost_social_care,
    py.cost_total
FROM cap_person_year AS py
LEFT JOIN segments AS s ON s.person_key = py.person_key AND s.as_of = $segments_as_of
LEFT JOIN cohort AS c ON c.person_key = py.person_key AND c.as_of = $cohort_as_of
WHERE py.financial_year = $year
  AND NOT py.type1_opt_out
  AND NOT py.national_data_opt_out
  AND (py.in_population OR $include_out_of_area)
  AND py.person_years > 0
ORDER BY py.person_key
