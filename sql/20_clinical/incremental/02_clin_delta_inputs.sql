-- purpose: the staging rows of the changed people only, as views of the same names in schema
--          clin_delta; the files of sql/20_clinical then run with clin_delta first on the search
--          path and write that schema's clin_* tables, which replace the people's rows in main.
-- grain: one row per staging row of a changed person (as the staging table).
-- inputs: stg_apc, stg_ecds, stg_opa, stg_csds, stg_asc, person_link, clin_delta.clin_changed_people.
-- parameters: none.
CREATE OR REPLACE VIEW clin_delta.changed_records AS
SELECT l.source, l.record_id
FROM main.person_link AS l
JOIN clin_delta.clin_changed_people AS p ON p.person_key = l.person_key;

CREATE OR REPLACE VIEW clin_delta.stg_apc AS
SELECT s.* FROM main.stg_apc AS s
WHERE CAST(s.episode_id AS VARCHAR) IN (SELECT record_id FROM clin_delta.changed_records WHERE source = 'apc');

CREATE OR REPLACE VIEW clin_delta.stg_ecds AS
SELECT s.* FROM main.stg_ecds AS s
WHERE CAST(s.attendance_id AS VARCHAR) IN (SELECT record_id FROM clin_delta.changed_records WHERE source = 'ecds');

CREATE OR REPLACE VIEW clin_delta.stg_opa AS
SELECT s.* FROM main.stg_opa AS s
WHERE CAST(s.appointment_id AS VARCHAR) IN (SELECT record_id FROM clin_delta.changed_records WHERE source = 'opa');

CREATE OR REPLACE VIEW clin_delta.stg_csds AS
SELECT s.* FROM main.stg_csds AS s
WHERE CAST(s.contact_id AS VARCHAR) IN (SELECT record_id FROM clin_delta.changed_records WHERE source = 'csds');

CREATE OR REPLACE VIEW clin_delta.stg_asc AS
SELECT s.* FROM main.stg_asc AS s
WHERE CAST(s.event_id AS VARCHAR) IN (SELECT record_id FROM clin_delta.changed_records WHERE source = 'asc');
