-- purpose: classify the rows of one satellite table of a multi-table delivery. A row attaches to the
--          core rows with its key; a row whose key no core row has is an orphan; a second row with the
--          same key (after the first in file-name, then row order) is a duplicate. Only attached rows
--          are joined to the core; the others are quarantined with their reason.
-- grain: one row per satellite row (_file, _row_number).
-- inputs: _connector_core (_key, _file, _row_number), _connector_satellite (_key, _file, _row_number and
--         the satellite's contributed columns).
-- parameters: none.
CREATE OR REPLACE TEMP TABLE _connector_classified AS
WITH core AS (
    SELECT _key, list({'f': _file, 'r': _row_number}) AS _core_rows
    FROM _connector_core
    WHERE _key IS NOT NULL
    GROUP BY _key
)
SELECT s.*,
       CASE WHEN core._key IS NULL THEN 'orphan_satellite_row'
            WHEN row_number() OVER (PARTITION BY s._key ORDER BY s._file, s._row_number) > 1
                 THEN 'duplicate_satellite_row'
       END AS _reason,
       core._core_rows
FROM _connector_satellite s
LEFT JOIN core ON core._key = s._key
