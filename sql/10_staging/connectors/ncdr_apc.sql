-- purpose: assemble SUS+ admitted patient care episodes as NCDR/UDAL delivers them: the core table
--          tbl_Data_SEM_APCE with its diagnoses (tbl_Data_SEM_APCE_Diag: Primary_Diagnosis_Code,
--          Secondary_Diagnosis_Code_n) and procedures (tbl_Data_SEM_APCE_Proc: Primary_Procedure_Code,
--          Secondary_Procedure_Code_n) joined on APCE_Ident, as NHS-Transformation-Unit/NCDR_Reference
--          src/sql_scripts/apce_main.sql (commit 09cbad9) joins them. The '-' filler in diagnosis codes
--          is stripped as that query does (REPLACE(code, '-', '')). An episode with no diagnosis or
--          procedure row keeps NULLs there (then the contract's rules decide).
-- grain: one row per core episode row (_file, _row_number of the tbl_Data_SEM_APCE file).
-- inputs: _connector_core (the core rows, _key = APCE_Ident), _connector_diagnoses and
--         _connector_procedures (attached satellite rows only, at most one per key; see satellite_rows.sql);
--         every table with _delivery: rows of several deliveries are joined within their delivery.
-- parameters: none.
CREATE OR REPLACE TEMP TABLE _raw AS
SELECT c.* EXCLUDE (_key), d.* EXCLUDE (_key, _delivery), p.* EXCLUDE (_key, _delivery)
FROM _connector_core c
LEFT JOIN (
    SELECT _key, _delivery,
           NULLIF(replace(CAST(COLUMNS(* EXCLUDE (_key, _delivery, _file, _row_number)) AS VARCHAR), '-', ''), '')
    FROM _connector_diagnoses
) d ON d._key = c._key AND d._delivery = c._delivery
LEFT JOIN (SELECT * EXCLUDE (_file, _row_number) FROM _connector_procedures) p
    ON p._key = c._key AND p._delivery = c._delivery
