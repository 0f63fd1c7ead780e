-- purpose: cost per person per financial year by setting, with exposure in person-years.
--   Exposure (registered people): from the latest of the year start, registration start and the
--   first day of the birth month, to the earliest of the year end, registration end and date of
--   death; person-years = days / days in the year. Out-of-area people (not in the registered
--   population) have no registration: they count from the year start (or birth) to the year end
--   (or death) and appear only if they have activity in the year.
--   Only costed activity inside a person's exposure window counts towards their cost; activity
--   outside it is kept in cost_outside_exposure for reconciliation. Activity at providers outside
--   the partnership counts towards the setting totals only when $include_out_of_ics_providers,
--   and is always shown in cost_out_of_ics_provider.
-- grain:   one row per person key with exposure (or, out of area, activity) in the year; people
--          with a type 1 objection are left out (the type1_opt_out column is kept for the contract).
-- inputs:  person, activity_costs.
-- parameters: $year, $year_start, $year_end, $include_out_of_ics_providers.
INSERT INTO cap_person_year BY NAME
WITH people AS (
    SELECT
        p.person_key,
        coalesce(p.in_population, FALSE) AS in_population,
        coalesce(p.national_data_opt_out, FALSE) AS national_data_opt_out,
        coalesce(p.type1_opt_out, FALSE) AS type1_opt_out,
        p.birth_year,
        p.sex,
        p.practice_code,
        p.pcn_code,
        p.place,
        greatest(
            $year_start::DATE,
            CASE WHEN coalesce(p.in_population, FALSE) THEN coalesce(p.registration_start, $year_start::DATE)
                 ELSE $year_start::DATE END,
            coalesce(make_date(p.birth_year, coalesce(p.birth_month, 1), 1), $year_start::DATE)
        ) AS exposure_start,
        least(
            $year_end::DATE,
            CASE WHEN coalesce(p.in_population, FALSE) THEN coalesce(p.registration_end, $year_end::DATE)
                 ELSE $year_end::DATE END,
            coalesce(p.date_of_death, $year_end::DATE)
        ) AS exposure_end,
        date_part('year', $year_start::DATE) - p.birth_year
            - CASE WHEN coalesce(p.birth_month, 1) > date_part('month', $year_start::DATE) THEN 1 ELSE 0 END AS age
    FROM person AS p
),
activity AS (
    SELECT
        a.person_key,
        sum(CASE WHEN in_window AND counted AND a.setting = 'acute' THEN a.cost END) AS cost_acute,
        sum(CASE WHEN in_window AND counted AND a.setting = 'community' THEN a.cost END) AS cost_community,
        sum(CASE WHEN in_window AND counted AND a.setting = 'social_care' THEN a.cost END) AS cost_social_care,
        sum(CASE WHEN in_window AND a.out_of_ics_provider THEN a.cost END) AS cost_out_of_ics_provider,
        sum(CASE WHEN NOT in_window THEN a.cost END) AS cost_outside_exposure,
        count(*) FILTER (WHERE in_window) AS activity_records,
        count(*) FILTER (WHERE in_window AND NOT a.costed) AS uncosted_records
    FROM (
        SELECT
            ac.*,
            ac.activity_date BETWEEN pe.exposure_start AND pe.exposure_end AS in_window,
            ac.costed AND ($include_out_of_ics_providers OR NOT coalesce(ac.out_of_ics_provider, FALSE)) AS counted
        FROM activity_costs AS ac
        JOIN people AS pe ON pe.person_key = ac.person_key
        WHERE ac.financial_year = $year
    ) AS a
    GROUP BY a.person_key
)
SELECT
    $year AS financial_year,
    pe.person_key,
    pe.in_population,
    NOT pe.in_population AS out_of_area,
    pe.national_data_opt_out,
    pe.type1_opt_out,
    pe.birth_year,
    pe.sex,
    pe.age,
    CASE WHEN pe.age IS NULL THEN 'Unknown' WHEN pe.age < 18 THEN '0-17' WHEN pe.age < 65 THEN '18-64' WHEN pe.age < 75 THEN '65-74'
         WHEN pe.age < 85 THEN '75-84' ELSE '85+' END AS age_band,
    pe.practice_code,
    pe.pcn_code,
    CASE WHEN pe.in_population THEN pe.place ELSE 'Out of area' END AS place,
    pe.exposure_start,
    pe.exposure_end,
    (date_diff('day', pe.exposure_start, pe.exposure_end) + 1)
        / (date_diff('day', $year_start::DATE, $year_end::DATE) + 1.0) AS person_years,
    coalesce(a.cost_acute, 0) AS cost_acute,
    coalesce(a.cost_community, 0) AS cost_community,
    coalesce(a.cost_social_care, 0) AS cost_social_care,
    coalesce(a.cost_acute, 0) + coalesce(a.cost_community, 0) + coalesce(a.cost_social_care, 0) AS cost_total,
    coalesce(a.cost_out_of_ics_provider, 0) AS cost_out_of_ics_provider,
    coalesce(a.cost_outside_exposure, 0) AS cost_outside_exposure,
    coalesce(a.activity_records, 0) AS activity_records,
    coalesce(a.uncosted_records, 0) AS uncosted_records
FROM people AS pe
LEFT JOIN activity AS a ON a.person_key = pe.person_key
WHERE pe.exposure_end >= pe.exposure_start
  AND (pe.in_population OR a.person_key IS NOT NULL)
  AND NOT pe.type1_opt_out  -- type 1 objections are excluded from everything (counted, not costed)
