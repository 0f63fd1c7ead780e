-- purpose: outcomes in the 12 months after the as-of date, for every cohort person: only
--          records dated on or after as_of are read.
-- grain: one row per cohort person (asof_cohort) at the as-of date.
-- inputs: asof_cohort, person, clin_stays, clin_spells, clin_social_care.
-- parameters: $as_of.
-- follow-up and censoring: follow-up runs from as_of (inclusive) to the earliest of as_of + 12
--   months, the day after death and the day after the end of GP registration (exclusive);
--   followup_days is its length (365 or 366 when complete). Admissions, bed days and care-home
--   moves count only inside follow-up (a person who moved away is not followed after leaving);
--   died_12m counts deaths on the spine in [as_of, as_of + 12 months) or a hospital discharge
--   by death inside follow-up. Death is a competing event: it ends follow-up and is reported,
--   never imputed as an admission.
-- rules:
--   emergency_admission_12m / acsc_admission_12m / fall_admission_12m: a continuous inpatient
--     stay of that kind (clin_stays) admitted inside follow-up (a stay under way at as_of is
--     not a new admission).
--   emergency_bed_days_12m: days of the spells of those emergency stays inside follow-up.
--   care_home_admission_12m: for people not in a care home at as_of, a residential or nursing
--     social care service starting inside follow-up, or a hospital discharge to a care home
--     (DISDEST 54, 65, 85) inside follow-up; 0 for people already in a care home.
CREATE OR REPLACE TABLE asof_labels AS
WITH params AS (
    SELECT CAST($as_of AS DATE) AS as_of, CAST(CAST($as_of AS DATE) + INTERVAL 12 MONTH AS DATE) AS horizon
),
followup AS (
    SELECT
        c.person_key,
        c.care_home,
        p.as_of,
        p.horizon,
        pe.date_of_death,
        least(p.horizon,
              coalesce(CAST(pe.date_of_death AS DATE) + 1, p.horizon),
              coalesce(CAST(pe.registration_end AS DATE) + 1, p.horizon)) AS followup_end
    FROM asof_cohort AS c
    JOIN person AS pe ON pe.person_key = c.person_key
    CROSS JOIN params AS p
),
stays AS (
    SELECT
        f.person_key,
        bool_or(s.is_emergency) AS emergency_admission,
        bool_or(s.is_acsc) AS acsc_admission,
        bool_or(s.is_fall) AS fall_admission,
        bool_or(s.died_in_hospital AND s.discharge_date < f.followup_end) AS died_in_hospital,
        bool_or(s.discharged_to_care_home AND s.discharge_date < f.followup_end) AS discharged_to_care_home
    FROM clin_stays AS s
    JOIN followup AS f ON f.person_key = s.person_key
    WHERE s.admission_date >= f.as_of AND s.admission_date < f.followup_end
    GROUP BY f.person_key
),
bed_days AS (
    SELECT
        f.person_key,
        sum(greatest(least(coalesce(sp.discharge_date, f.followup_end), f.followup_end) - sp.admission_date, 0))
            AS emergency_bed_days
    FROM clin_spells AS sp
    JOIN clin_stays AS st ON st.stay_key = sp.stay_key
    JOIN followup AS f ON f.person_key = sp.person_key
    WHERE st.is_emergency
      AND st.admission_date >= f.as_of AND st.admission_date < f.followup_end
      AND sp.admission_date < f.followup_end
    GROUP BY f.person_key
),
care_home_moves AS (
    SELECT DISTINCT f.person_key
    FROM clin_social_care AS s
    JOIN followup AS f ON f.person_key = s.person_key
    WHERE s.is_care_home_placement AND s.event_start >= f.as_of AND s.event_start < f.followup_end
)
SELECT
    f.as_of,
    f.person_key,
    CAST(coalesce(s.acsc_admission, FALSE) AS INTEGER) AS acsc_admission_12m,
    CAST(coalesce(s.emergency_admission, FALSE) AS INTEGER) AS emergency_admission_12m,
    CAST(coalesce(s.fall_admission, FALSE) AS INTEGER) AS fall_admission_12m,
    CAST(coalesce(b.emergency_bed_days, 0) AS INTEGER) AS emergency_bed_days_12m,
    CAST(NOT f.care_home AND (coalesce(s.discharged_to_care_home, FALSE) OR m.person_key IS NOT NULL) AS INTEGER)
        AS care_home_admission_12m,
    CAST(coalesce(f.date_of_death >= f.as_of AND f.date_of_death < f.horizon, FALSE)
         OR coalesce(s.died_in_hospital, FALSE) AS INTEGER) AS died_12m,
    CAST(f.followup_end - f.as_of AS INTEGER) AS followup_days
FROM followup AS f
LEFT JOIN stays AS s ON s.person_key = f.person_key
LEFT JOIN bed_days AS b ON b.person_key = f.person_key
LEFT JOIN care_home_moves AS m ON m.person_key = f.person_key
