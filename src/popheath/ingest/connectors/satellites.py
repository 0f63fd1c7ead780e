"""Phase B for satellite rows: each is loaded with its core row, or quarantined with its reason, and counted per file.

Runs inside :func:`popheath.ingest.applying.apply_checked`'s transaction, after the core rows'
reasons are final. A satellite row attached to core rows is loaded when one of them is loaded;
when every one was quarantined (any reason, superseded included) it is quarantined as
``core_row_quarantined`` (its values are in the core row's quarantine record). Orphans and
duplicates were classified in phase A. Rows read = loaded + quarantined holds per satellite file.
"""

from __future__ import annotations

from typing import Any

import duckdb

from popheath import db


def has_satellites(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether phase A left satellite rows to settle (a multi-table delivery)."""
    return db.table_exists(con, "_satellite")


def apply_satellites(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, dict[str, Any]]:
    """Settle ``_satellite`` against ``_checked``, quarantine the rows not loaded; counts per load id."""
    # Only the core rows quarantined matter (few): a satellite row goes with them when every core row
    # it attached to is among them.
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _core_quarantined AS
        SELECT CAST('0x' || _load_id AS UBIGINT) AS l, _row_number AS r FROM _checked WHERE _reason IS NOT NULL"""
    )
    quarantined = con.execute("SELECT count(*) FROM _core_quarantined").fetchone()
    if quarantined and quarantined[0]:
        con.execute(
            """UPDATE _satellite s SET _reason = 'core_row_quarantined',
                   _detail = printf('the %s row with %s %s was quarantined', _core_table, _field, _value)
            FROM (
                SELECT e.id
                FROM (SELECT rowid AS id, len(_core_rows) AS n, unnest(_core_rows) AS core
                      FROM _satellite WHERE _reason IS NULL) AS e
                JOIN _core_quarantined AS q ON q.l = e.core.l AND q.r = e.core.r
                GROUP BY e.id, e.n HAVING count(*) = e.n
            ) AS gone
            WHERE s.rowid = gone.id"""
        )
    con.execute("DROP TABLE _core_quarantined")
    con.execute(
        """INSERT INTO quarantine
        SELECT _load_id, $source, _delivery, _file, _row_number, _field, _reason, _value,
               to_json([{'rule': _reason, 'field': _field, 'value': _value, 'severity': 'error', 'detail': _detail}]),
               coalesce(_record, json_object(_field, _value)), current_timestamp
        FROM _satellite WHERE _reason IS NOT NULL""",
        {"source": source},
    )
    result: dict[str, dict[str, Any]] = {}
    for load_id, reason, n in con.execute("SELECT _load_id, _reason, count(*) FROM _satellite GROUP BY ALL").fetchall():
        entry = result.setdefault(str(load_id), {"reasons": {}, "loaded": 0, "flagged": 0, "replaced": 0})
        if reason is None:
            entry["loaded"] += int(n)
        else:
            entry["reasons"][str(reason)] = int(n)
    return result
