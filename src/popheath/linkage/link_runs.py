"""Each link run on record: the staging loads it linked, a hash of what shapes links, and the person keys it moved.

The link stage skips a night whose staging and definitions are those of its last run (the links would
come out the same: linkage is a deterministic function of both, Splink seeded by ``settings.seed``),
relinks only the new and restated loads (and every ASC event) when the population spine and the
definitions are unchanged too (:func:`full_reason`), and the clinical build
(:mod:`popheath.clinical.incremental`) rebuilds the people a run moved.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import duckdb

from popheath import db
from popheath.checksums import definitions_digest
from popheath.clinical import codelists
from popheath.config import Settings
from popheath.linkage.link_tables import LINKAGE_SQL, first_row
from popheath.linkage.spec import DEFAULT_SPEC
from popheath.staging_changes import CHANGES_SQL, LINK_RUNS

DDL = (
    f"CREATE TABLE IF NOT EXISTS {LINK_RUNS} (run_id BIGINT, as_of DATE, finished_at TIMESTAMP, "
    "staging_loads VARCHAR, changes_complete BOOLEAN, definitions VARCHAR)",
    "CREATE TABLE IF NOT EXISTS link_changes (run_id BIGINT, person_key VARCHAR)",
)
PACKAGE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class LinkRun:
    """A recorded link run."""

    run_id: int
    as_of: date


def definitions_hash(settings: Settings) -> str:
    """Hash of everything besides staging that shapes the links: SQL, linkage code and spec, references, settings."""
    files = [
        settings.link.model_spec or DEFAULT_SPEC,
        *db.layer_files(LINKAGE_SQL),
        *db.layer_files(CHANGES_SQL),
        *sorted(PACKAGE.glob("*.py")),
        *sorted(p for p in codelists.CODELIST_DIR.rglob("*") if p.is_file()),
    ]
    used = json.dumps([dataclasses.asdict(settings.link), settings.seed], default=str)
    return definitions_digest(files, settings.paths.reference, used)


def unchanged_since(con: duckdb.DuckDBPyConnection, definitions: str, loads: str) -> LinkRun | None:
    """The last link run when staging (``loads``: its fingerprint) and definitions are as it found them; else None."""
    if not all(db.table_exists(con, t) for t in (LINK_RUNS, "person_link", "person")):
        return None
    last = first_row(con, f"SELECT run_id, as_of, staging_loads, definitions FROM {LINK_RUNS} ORDER BY run_id DESC")
    if not last or last[3] != definitions or last[2] != loads:
        return None
    return LinkRun(int(last[0]), last[1])


def full_reason(con: duckdb.DuckDBPyConnection, definitions: str) -> str | None:
    """Why this run must link every record, or None when relinking the changed loads gives the same links.

    Run after :func:`popheath.staging_changes.staging_loads` (its temp table). Every record's row
    depends on the spine and the mergers (both from the population loads) and on the definitions;
    a warehouse from before ``person_link.load_id`` is relinked once in full. When it returns None
    it leaves ``link_stale_loads``, the loads an incremental run relinks, for
    :func:`popheath.linkage.link_tables.build_person_tables`.
    """
    if not all(db.table_exists(con, t) for t in (LINK_RUNS, "person_link", "link_loads")):
        return "no earlier link run to build on"
    columns = {row[0] for row in con.execute("DESCRIBE person_link").fetchall()}
    if "load_id" not in columns:
        return "person_link predates its load_id column"
    last = first_row(con, f"SELECT definitions FROM {LINK_RUNS} ORDER BY run_id DESC")
    if not last or last[0] != definitions:
        return "the link definitions changed"
    db.run_named(con, CHANGES_SQL, "03_link_stale_loads.sql")
    population_changed = first_row(con, "SELECT count(*) FROM link_stale_loads WHERE population")[0]
    return "a new population delivery" if population_changed else None


def next_run(con: duckdb.DuckDBPyConnection) -> int:
    """Create the tables when missing and return the id the next run takes."""
    for ddl in DDL:
        con.execute(ddl)
    return int(first_row(con, f"SELECT coalesce(max(run_id), 0) + 1 FROM {LINK_RUNS}")[0])


def record(settings: Settings, run_id: int, as_of: date, definitions: str, loads: str, complete: bool) -> None:
    """Record a finished link run with the staging it linked (its fingerprint ``loads``).

    ``complete``: the run's changes were recorded against the links of an earlier run.
    """
    con = db.connect(settings)
    try:
        con.execute(
            f"INSERT INTO {LINK_RUNS} VALUES ($run_id, $as_of, current_timestamp, $loads, $complete, $definitions)",
            {
                "run_id": run_id,
                "as_of": as_of,
                "loads": loads,
                "complete": complete,
                "definitions": definitions,
            },
        )
    finally:
        con.close()
