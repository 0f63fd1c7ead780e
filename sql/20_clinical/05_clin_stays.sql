-- purpose: continuous inpatient stays (provider spells joined by documented transfers, see
--          clin_spells), the unit that counts as one admission, with 30-day readmission flags.
-- grain: one row per continuous inpatient stay (stay_key).
-- inputs: clin_spells (regular attenders, which have no stay_key, are not stays).
-- parameters: none.
-- rules:
--   admission attributes (date, method, emergency, primary diagnosis, ACSC groups, fall) come from the
--   first spell; discharge date, destination and method from the last spell (NULL discharge
--   date when any spell of the stay is unfinished).
--   is_readmission_30d: an emergency stay starting 0-29 days after the discharge of the
--   person's previous stay, when that stay did not end in death: "emergency readmission within
--   30 days of discharge" as in NHS Outcomes Framework indicator 3b (NHS Digital).
--   discharged_to_care_home: last DISDEST 54 (NHS run care home), 65 (local authority
--   residential accommodation) or 85 (non-NHS run care home) (NHS Data Dictionary, Discharge
--   Destination).
CREATE OR REPLACE TABLE clin_stays AS
WITH stays AS (
    SELECT
        stay_key,
        person_key,
        min(admission_date) AS admission_date,
        CASE WHEN bool_and(discharge_date IS NOT NULL) THEN max(discharge_date) END AS discharge_date,
        arg_min_null(admission_method, person_spell_sequence) AS admission_method,
        arg_min_null(is_emergency, person_spell_sequence) AS is_emergency,
        arg_min_null(primary_diagnosis, person_spell_sequence) AS primary_diagnosis,
        arg_min_null(is_acsc, person_spell_sequence) AS is_acsc,
        arg_min_null(acsc_groups, person_spell_sequence) AS acsc_groups,
        arg_min_null(acsc_group, person_spell_sequence) AS acsc_group,
        arg_min_null(is_fall, person_spell_sequence) AS is_fall,
        arg_max_null(discharge_destination, person_spell_sequence) AS discharge_destination,
        arg_max_null(discharge_method, person_spell_sequence) AS discharge_method,
        count(*) AS spell_count,
        count(DISTINCT provider_code) AS provider_count
    FROM clin_spells
    WHERE stay_key IS NOT NULL
    GROUP BY stay_key, person_key
),
sequenced AS (
    SELECT
        *,
        lag(discharge_date) OVER w AS previous_discharge,
        lag(discharge_method) OVER w AS previous_discharge_method
    FROM stays
    WINDOW w AS (PARTITION BY person_key ORDER BY admission_date, stay_key)
)
SELECT
    stay_key,
    person_key,
    admission_date,
    discharge_date,
    CAST(discharge_date - admission_date AS INTEGER) AS length_of_stay,
    admission_method,
    is_emergency,
    primary_diagnosis,
    is_acsc,
    acsc_groups,
    acsc_group,
    is_fall,
    coalesce(discharge_date - admission_date >= 21, FALSE) AS is_long_stay,
    discharge_destination,
    discharge_method,
    coalesce(discharge_method = '4', FALSE) AS died_in_hospital,
    coalesce(discharge_destination IN ('54', '65', '85'), FALSE) AS discharged_to_care_home,
    coalesce(
        is_emergency
        AND admission_date - previous_discharge BETWEEN 0 AND 29
        AND coalesce(previous_discharge_method, '') NOT IN ('4', '5'),
        FALSE
    ) AS is_readmission_30d,
    spell_count,
    provider_count
FROM sequenced
