-- purpose: assemble ECDS attendances as NCDR/UDAL delivers them (EC_Core / tbl_Data_SUS_EC), with the
--          diagnoses either from the separate diagnosis table (EC_Diagnosis / tbl_Data_SUS_EC_Diagnosis:
--          EC_Diagnosis_01.._24, joined on EC_Ident as NHS-Transformation-Unit/NCDR_Reference
--          src/sql_scripts/ecds_main.sql does) or, for an attendance with no row there, from
--          Der_EC_Diagnosis_All, the comma-separated SNOMED CT list whose first element public queries
--          take as the primary diagnosis. Either way the codes come out as EC_Diagnosis_01.._24 in
--          order (01 = primary), so both deliveries give the same canonical rows. ECDS carries at most
--          24 diagnoses (EC_Diagnosis_01.._24); a longer Der_EC_Diagnosis_All keeps its first 24.
-- grain: one row per core attendance row (_file, _row_number of the EC_Core file).
-- inputs: _connector_core (the core rows, _key = EC_Ident, Der_EC_Diagnosis_All NULL when not delivered),
--         _connector_diagnoses (attached diagnosis rows only, at most one per key; see satellite_rows.sql);
--         both with _delivery: rows of several deliveries are joined within their delivery.
-- parameters: none.
CREATE OR REPLACE TEMP TABLE _raw AS
SELECT * EXCLUDE (_key, _codes),
       _codes[1] AS EC_Diagnosis_01,
       _codes[2] AS EC_Diagnosis_02,
       _codes[3] AS EC_Diagnosis_03,
       _codes[4] AS EC_Diagnosis_04,
       _codes[5] AS EC_Diagnosis_05,
       _codes[6] AS EC_Diagnosis_06,
       _codes[7] AS EC_Diagnosis_07,
       _codes[8] AS EC_Diagnosis_08,
       _codes[9] AS EC_Diagnosis_09,
       _codes[10] AS EC_Diagnosis_10,
       _codes[11] AS EC_Diagnosis_11,
       _codes[12] AS EC_Diagnosis_12,
       _codes[13] AS EC_Diagnosis_13,
       _codes[14] AS EC_Diagnosis_14,
       _codes[15] AS EC_Diagnosis_15,
       _codes[16] AS EC_Diagnosis_16,
       _codes[17] AS EC_Diagnosis_17,
       _codes[18] AS EC_Diagnosis_18,
       _codes[19] AS EC_Diagnosis_19,
       _codes[20] AS EC_Diagnosis_20,
       _codes[21] AS EC_Diagnosis_21,
       _codes[22] AS EC_Diagnosis_22,
       _codes[23] AS EC_Diagnosis_23,
       _codes[24] AS EC_Diagnosis_24
FROM (
    SELECT c.*,
           CASE WHEN d._key IS NOT NULL THEN d._codes
                ELSE list_filter(
                    list_transform(string_split(CAST(c.Der_EC_Diagnosis_All AS VARCHAR), ','),
                                   lambda code: NULLIF(trim(code), '')),
                    lambda code: code IS NOT NULL)
           END AS _codes
    FROM _connector_core c
    LEFT JOIN (
        SELECT _key, _delivery, list_value(*COLUMNS('^EC_Diagnosis_[0-9]+$')) AS _codes FROM _connector_diagnoses
    ) d ON d._key = c._key AND d._delivery = c._delivery
)
