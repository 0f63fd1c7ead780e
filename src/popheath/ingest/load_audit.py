"""The load audit: one ``load_audit`` row per file, and the fingerprints of the deliveries already loaded."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb

from popheath.ingest.deliveries import FileLoad


def audit_rows(loads: list[FileLoad], run_id: str, fingerprints: dict[str, str]) -> list[dict[str, Any]]:
    """The ``load_audit`` row of each file, as column -> value."""
    return [
        {
            "load_id": x.load_id,
            "run_id": run_id,
            "source": x.source,
            "delivery": x.delivery,
            "file": str(x.file),
            "checksum": x.checksum,
            "mapping": x.mapping,
            "rows_read": x.rows_read,
            "rows_loaded": x.rows_loaded,
            "rows_quarantined": x.rows_quarantined,
            "quarantined_by_reason": json.dumps(x.quarantined),
            "rows_replaced": x.rows_replaced,
            "rows_flagged": x.rows_flagged,
            "unmapped_columns": list(x.unmapped),
            "started_at": x.started_at,
            "finished_at": x.finished_at or datetime.now(),
            "outcome": x.outcome,
            "error": x.error,
            "delivery_fingerprint": fingerprints.get(x.delivery, ""),
        }
        for x in loads
    ]


def write_audit(
    con: duckdb.DuckDBPyConnection, loads: list[FileLoad], run_id: str, fingerprints: dict[str, str]
) -> None:
    """Append one ``load_audit`` row per file, in one statement."""
    rows = audit_rows(loads, run_id, fingerprints)
    if not rows:
        return
    columns = list(rows[0])
    if len(rows) == 1:
        values = ", ".join("$" + c for c in columns)
        con.execute(f"INSERT INTO load_audit ({', '.join(columns)}) VALUES ({values})", rows[0])
    else:
        con.execute("INSERT INTO load_audit BY NAME SELECT unnest($rows, recursive := true)", {"rows": rows})


def loaded_fingerprints(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    """Per delivery of ``source``, the fingerprint of its latest successful load."""
    rows = con.execute(
        "SELECT delivery, arg_max(delivery_fingerprint, finished_at) FROM load_audit "
        "WHERE source = $s AND outcome = 'loaded' GROUP BY delivery",
        {"s": source},
    ).fetchall()
    return {str(d): str(f) for d, f in rows}
