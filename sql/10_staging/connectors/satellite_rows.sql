-- purpose: classify the rows of one satellite table of a multi-table delivery. A row attaches to the
--          core rows that refer to its key (the core's own key, or for a reference table the core
--          column naming it); a row whose key no core row has is an orphan (a reference row no core
--          row refers to is unreferenced); of several rows with one key, those ranked after the first
--          are duplicates, or superseded when the table orders resubmissions (latest_by). A table
--          with rows: many ranks every row first. Only attached rows are joined to the core; the
--          others are quarantined with their reason.
-- grain: one row per satellite row (_file, _row_number).
-- inputs: _connector_refs (_key, _delivery, _core_rows: the core rows of that delivery referring to the key),
--         _connector_satellite (_key, _delivery, _file, _row_number, _rank and the satellite's contributed
--         columns). Keys are compared within a delivery: several deliveries may be classified at once.
-- parameters: $reference (a reference table: unreferenced rather than orphan),
--             $latest (ranked by resubmission: superseded rather than duplicate).
CREATE OR REPLACE TEMP TABLE _connector_classified AS
SELECT s.*,
       CASE WHEN refs._key IS NULL THEN
                 CASE WHEN $reference THEN 'unreferenced_satellite_row' ELSE 'orphan_satellite_row' END
            WHEN s._rank > 1 THEN
                 CASE WHEN $latest THEN 'superseded_by_later_submission' ELSE 'duplicate_satellite_row' END
       END AS _reason,
       refs._core_rows
FROM _connector_satellite s
LEFT JOIN _connector_refs refs ON refs._key = s._key AND refs._delivery = s._delivery
