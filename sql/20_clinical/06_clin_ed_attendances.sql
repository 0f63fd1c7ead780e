-- purpose: Emergency Care Data Set attendances that reach a person, as counted downstream: planned
--          follow-ups and duplicates are left out; the primary diagnosis as SNOMED CT and ICD-10;
--          fall and frequent-attender flags.
-- grain: one row per counted ECDS attendance linked to a person key.
-- inputs: stg_ecds, linked_records (sql/10_staging/linked) (source = 'ecds', record_id = attendance_id),
--         ref_ecds_diagnosis_icd10, ref_ecds_chief_complaint_falls (src/popheath/clinical/codelists/,
--         sources and coverage in sources.yaml there).
-- parameters: $min_link_probability, $include_out_of_area, $include_out_of_ics_providers.
-- rules:
--   counted attendances: ECDS EC_AttendanceCategory 1 (unplanned first attendance), 2 (unplanned
--     follow-up at this department) or 3 (unplanned follow-up at another department); 4 (planned
--     follow-up) and any other value are left out, as the public NCDR/UDAL queries keep 1-3
--     (national_formats.md 1.2). Der_Dupe_Flag duplicates are left out. Either field missing
--     (NULL): the attendance counts, as before these fields were delivered.
--   diagnosis_snomed: the delivered primary diagnosis, else the first of the SNOMED diagnosis list
--     (Der_EC_Diagnosis_All: public queries take the first element as the primary).
--   diagnosis_icd10: the delivered ICD-10 code if any, else the ICD-10 mapping of diagnosis_snomed
--     in the ECDS ETOS Diagnosis reference set (ICD10_Mapping; ref_ecds_diagnosis_icd10). ECDS has
--     no ICD-10 field of its own, and the HES A&E 6-character diagnosis (stg_ecds.diagnosis_ae) is
--     a different scheme, never read as ICD-10.
--   is_fall: chief complaint in the ETOS chief complaint group "Falls / unsteady on feet"
--     (ref_ecds_chief_complaint_falls); not a national indicator (sources.yaml).
--   is_frequent_attender: an unplanned first attendance (category 1) of a person with 3 or more
--     unplanned first attendances in the 365 days before its arrival date (earlier days only):
--     The-Strategy-Unit/nhp_data raw_data/ecds.py "frequent attenders". Category missing (NULL)
--     counts as an unplanned first attendance.
CREATE OR REPLACE TABLE clin_ed_attendances AS
WITH attendances AS (
    SELECT
        CAST(e.attendance_id AS VARCHAR) AS attendance_id,
        l.person_key,
        upper(trim(e.provider_code)) AS provider_code,
        CAST(e.arrival_date AS DATE) AS arrival_date,
        CAST(e.department_type AS VARCHAR) AS department_type,
        nullif(trim(CAST(e.attendance_category AS VARCHAR)), '') AS attendance_category,
        nullif(trim(e.chief_complaint_snomed), '') AS chief_complaint_snomed,
        nullif(trim(e.acuity_snomed), '') AS acuity_snomed,
        coalesce(nullif(trim(e.diagnosis_snomed), ''), nullif(trim(e.diagnoses_snomed[1]), '')) AS diagnosis_snomed,
        e.diagnosis_icd10 AS delivered_icd10,
        l.out_of_ics_provider
    FROM stg_ecds AS e
    JOIN linked_records('ecds', $min_link_probability, $include_out_of_area, $include_out_of_ics_providers) AS l
        ON l.record_id = CAST(e.attendance_id AS VARCHAR)
    WHERE l.reaches_person
      AND e.arrival_date IS NOT NULL
      AND coalesce(trim(CAST(e.attendance_category AS VARCHAR)) IN ('1', '2', '3'), TRUE)
      AND NOT coalesce(e.duplicate, FALSE)
),
unplanned_first AS (
    SELECT
        attendance_id,
        count(*) OVER (
            PARTITION BY person_key ORDER BY arrival_date
            RANGE BETWEEN INTERVAL 365 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING
        ) AS previous_365d
    FROM attendances
    WHERE coalesce(attendance_category, '1') = '1'
)
SELECT
    a.attendance_id,
    a.person_key,
    a.provider_code,
    a.arrival_date,
    a.department_type,
    a.attendance_category,
    a.chief_complaint_snomed,
    a.acuity_snomed,
    a.diagnosis_snomed,
    coalesce(a.delivered_icd10, m.icd10_code) AS diagnosis_icd10,
    f.snomed_code IS NOT NULL AS is_fall,
    coalesce(u.previous_365d >= 3, FALSE) AS is_frequent_attender,
    a.out_of_ics_provider
FROM attendances AS a
LEFT JOIN ref_ecds_diagnosis_icd10 AS m ON m.snomed_code = a.diagnosis_snomed
LEFT JOIN ref_ecds_chief_complaint_falls AS f ON f.snomed_code = a.chief_complaint_snomed
LEFT JOIN unplanned_first AS u ON u.attendance_id = a.attendance_id
