"""What the linked staging tables hold now and what each link run changed (the link stage and clinical build read it).

``sql/10_staging/changes`` holds the SQL; the run log (``link_runs``, ``link_changes``) is written by
:mod:`popheath.linkage.link_runs` and read by :mod:`popheath.clinical.incremental`.
"""

from __future__ import annotations

import duckdb

from popheath import db

CHANGES_SQL = "10_staging/changes"
LINK_RUNS = "link_runs"


def staging_loads(con: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of the load ids the linked staging tables hold now (temp table ``staging_loads`` too)."""
    db.run_named(con, CHANGES_SQL, "01_staging_loads.sql")
    listed = "string_agg(load_id || ':' || staged_rows, '|' ORDER BY load_id)"
    rows = con.execute(f"SELECT md5(coalesce({listed}, '')) FROM staging_loads").fetchall()
    return str(rows[0][0])
