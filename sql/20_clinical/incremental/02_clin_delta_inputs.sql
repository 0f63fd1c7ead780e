-- purpose: the staging rows of the changed people only, as views of the same names in schema
--          clin_delta; the files of sql/20_clinical then run with clin_delta first on the search
--          path and write that schema's clin_* tables, which replace the people's rows in main.
-- grain: one row per staging row of a changed person (as the staging table).
-- inputs: stg_apc, stg_ecds, stg_opa, stg_csds, stg_asc, person_link, clin_delta.clin_changed_people
--         (their records, clin_delta.changed_records, are listed once).
-- macros: asc_record_id (sql/10_staging/linked/00_asc_record_id.sql).
-- parameters: none.
CREATE OR REPLACE TABLE clin_delta.changed_records AS
SELECT l.source, l.record_id
FROM main.person_link AS l
SEMI JOIN clin_delta.clin_changed_people AS p ON p.person_key = l.person_key;

CREATE OR REPLACE VIEW clin_delta.stg_apc AS
SELECT s.* FROM main.stg_apc AS s
SEMI JOIN clin_delta.changed_records AS r ON r.source = 'apc' AND r.record_id = CAST(s.episode_id AS VARCHAR);

CREATE OR REPLACE VIEW clin_delta.stg_ecds AS
SELECT s.* FROM main.stg_ecds AS s
SEMI JOIN clin_delta.changed_records AS r ON r.source = 'ecds' AND r.record_id = CAST(s.attendance_id AS VARCHAR);

CREATE OR REPLACE VIEW clin_delta.stg_opa AS
SELECT s.* FROM main.stg_opa AS s
SEMI JOIN clin_delta.changed_records AS r ON r.source = 'opa' AND r.record_id = CAST(s.appointment_id AS VARCHAR);

CREATE OR REPLACE VIEW clin_delta.stg_csds AS
SELECT s.* FROM main.stg_csds AS s
SEMI JOIN clin_delta.changed_records AS r ON r.source = 'csds' AND r.record_id = CAST(s.contact_id AS VARCHAR);

CREATE OR REPLACE VIEW clin_delta.stg_asc AS
SELECT s.* FROM main.stg_asc AS s
SEMI JOIN clin_delta.changed_records AS r ON r.source = 'asc' AND r.record_id = asc_record_id(s.la_code, s.event_id);
