-- purpose: APC consultant episodes that reach a person. Diagnoses stay as delivered here;
--          clin_episode_diagnoses normalises them once more on the distinct codes.
-- grain: one row per APC episode linked to a person key.
-- inputs: stg_apc, linked_records (sql/10_staging/linked) (source = 'apc', record_id = episode_id).
-- parameters: $min_link_probability (settings.link.min_link_probability),
--             $include_out_of_area (settings.link.include_out_of_area),
--             $include_out_of_ics_providers (settings.link.include_out_of_ics_providers).
-- notes: episode_date (episode start, else admission date) is the date that places an
--        episode before or after an as-of date in every point-in-time rule.
--        patient_classification is HES CLASSPAT / SUS Patient_Classification (1 ordinary admission,
--        2 day case, 3 regular day attender, 4 regular night attender, 5 mothers and babies, 8 not
--        applicable, 9 not known); episode_status is EPISTAT (1 unfinished, 3 finished, 9 not known).
CREATE OR REPLACE TABLE clin_episodes AS
SELECT
    CAST(a.episode_id AS VARCHAR) AS episode_id,
    l.person_key,
    nullif(trim(CAST(a.spell_id AS VARCHAR)), '') AS spell_id,
    upper(trim(a.provider_code)) AS provider_code,
    CAST(a.admission_date AS DATE) AS admission_date,
    CAST(a.discharge_date AS DATE) AS discharge_date,
    CAST(a.episode_start AS DATE) AS episode_start,
    CAST(a.episode_end AS DATE) AS episode_end,
    CAST(coalesce(CAST(a.episode_start AS DATE), CAST(a.admission_date AS DATE)) AS DATE) AS episode_date,
    a.episode_order,
    upper(trim(CAST(a.admission_method AS VARCHAR))) AS admission_method,
    upper(trim(CAST(a.admission_source AS VARCHAR))) AS admission_source,
    upper(trim(CAST(a.discharge_destination AS VARCHAR))) AS discharge_destination,
    upper(trim(CAST(a.discharge_method AS VARCHAR))) AS discharge_method,
    a.diagnoses,
    list_transform(a.procedures, lambda c: nullif(regexp_replace(upper(c), '[\s.\-]', '', 'g'), '')) AS procedures,
    a.hrg_code,
    CAST(a.treatment_specialty AS VARCHAR) AS treatment_specialty,
    nullif(upper(trim(CAST(a.patient_classification AS VARCHAR))), '') AS patient_classification,
    nullif(upper(trim(CAST(a.episode_status AS VARCHAR))), '') AS episode_status,
    l.out_of_ics_provider
FROM stg_apc AS a
JOIN linked_records('apc', $min_link_probability, $include_out_of_area, $include_out_of_ics_providers) AS l
    ON l.record_id = CAST(a.episode_id AS VARCHAR)
WHERE l.reaches_person
