"""The clinical tables kept up to date night by night: rebuild only the people a night touched, or all.

A build records what the ``clin_*`` tables reflect (``clinical_build``: the staging loads, the last
link run, a hash of the definitions; ``clinical_build_loads``: the load ids). The link stage records
each run and the person keys it moved (``link_runs``, ``link_changes``: :mod:`popheath.linkage.link_runs`).
The next build rebuilds the people of records loaded since and of keys moved since
(``sql/20_clinical/incremental``), deleting and inserting their rows, and recomputes
``clin_code_conditions`` (one row per distinct diagnosis code, not per person) from the result.
It rebuilds everything when asked (``rebuild.full``), when there is no earlier build, when the
definitions changed (clinical or linked-records SQL, code lists, the settings the SQL reads), when
staging changed after the last link run (the links would be stale for the new rows), or when more
than ``rebuild.max_affected_share`` of people are touched (a full build is then cheaper).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from popheath import db
from popheath.checksums import definitions_digest
from popheath.clinical import codelists
from popheath.config import Settings
from popheath.staging_changes import LINK_RUNS, staging_loads

log = logging.getLogger(__name__)

CLINICAL_LAYER = "20_clinical"
INCREMENTAL_SQL = "20_clinical/incremental"
DELTA_SCHEMA = "clin_delta"
# The clinical tables with one person per row, in build order; clin_code_conditions is per code.
PERSON_TABLES = (
    "clin_episodes",
    "clin_episode_diagnoses",
    "clin_spells",
    "clin_stays",
    "clin_ed_attendances",
    "clin_outpatients",
    "clin_community_contacts",
    "clin_social_care",
)
CODE_TABLE_FILE = "03_clin_code_conditions.sql"
STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS clinical_build (finished_at TIMESTAMP, mode VARCHAR, reason VARCHAR, "
    "definitions VARCHAR, link_run BIGINT, staging_loads VARCHAR, people_rebuilt BIGINT)",
    "CREATE TABLE IF NOT EXISTS clinical_build_loads (load_id VARCHAR)",
)


@dataclass(frozen=True)
class ClinicalBuild:
    """How the clinical tables were brought up to date: ``full``, ``incremental`` or ``unchanged``, and why."""

    mode: str
    reason: str
    people_rebuilt: int | None = None


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    rows = con.execute(sql, params).fetchall()
    return rows[0][0] if rows else None


def definitions_hash(settings: Settings, parameters: Mapping[str, Any]) -> str:
    """Hash of everything besides the data that shapes the clinical tables: SQL, code lists, parameters."""
    layers = [*db.layer_files(db.LINKED_ACTIVITY_LAYER), *db.layer_files(CLINICAL_LAYER)]
    files = [
        *layers,
        *db.layer_files(INCREMENTAL_SQL),
        *sorted(p for p in codelists.CODELIST_DIR.rglob("*") if p.is_file()),
    ]
    used = set().union(*(db.parameters_of(path.read_text(encoding="utf-8")) for path in layers))
    read = json.dumps({k: parameters[k] for k in sorted(used)}, default=str)
    return definitions_digest(files, settings.paths.reference, read)


def _previous(con: duckdb.DuckDBPyConnection) -> tuple[str, int, str] | None:
    """The last build's definitions hash, link run and staging fingerprint; None without one."""
    if not db.table_exists(con, "clinical_build") or not all(db.table_exists(con, t) for t in PERSON_TABLES):
        return None
    rows = con.execute("SELECT definitions, link_run, staging_loads FROM clinical_build").fetchall()
    return (str(rows[0][0]), int(rows[0][1] or 0), str(rows[0][2])) if rows else None


def _full_reason(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    definitions: str,
    previous: tuple[str, int, str] | None,
    loads: str,
) -> str | None:
    """Why this build must be full (None: an incremental build gives the same tables); ``loads``: staging now."""
    if settings.rebuild.full:
        return "full rebuild asked for"
    if previous is None:
        return "no earlier clinical build"
    if previous[0] != definitions:
        return "clinical definitions changed (SQL, code lists or settings)"
    last = _scalar(con, f"SELECT staging_loads FROM {LINK_RUNS} ORDER BY run_id DESC LIMIT 1")
    if last != loads:
        return "staging changed since the last link run"
    incomplete = _scalar(
        con, f"SELECT count(*) FROM {LINK_RUNS} WHERE run_id > $run AND NOT changes_complete", {"run": previous[1]}
    )
    if incomplete:
        return "a link run since the last build recorded no changes (first run on this warehouse)"
    return None


def _record(con: duckdb.DuckDBPyConnection, build: ClinicalBuild, definitions: str, link_run: int, loads: str) -> None:
    """Store what the clinical tables now reflect, and drop the link changes they have taken in."""
    for ddl in STATE_DDL:
        con.execute(ddl)
    with db.transaction(con):
        con.execute("DELETE FROM clinical_build")
        con.execute(
            "INSERT INTO clinical_build "
            "VALUES (current_timestamp, $mode, $reason, $definitions, $run, $loads, $people)",
            {
                "mode": build.mode,
                "reason": build.reason,
                "definitions": definitions,
                "run": link_run,
                "loads": loads,
                "people": build.people_rebuilt,
            },
        )
        con.execute("DELETE FROM clinical_build_loads")
        con.execute("INSERT INTO clinical_build_loads SELECT load_id FROM staging_loads")
        if db.table_exists(con, "link_changes"):
            con.execute("DELETE FROM link_changes WHERE run_id <= $run", {"run": link_run})


def _changed_people(con: duckdb.DuckDBPyConnection, link_run: int) -> tuple[int, float]:
    """Find the people the changes since the last build touch (into the delta schema): count and share."""
    con.execute(f"CREATE SCHEMA {DELTA_SCHEMA}")
    db.run_named(con, INCREMENTAL_SQL, "01_clin_changed_people.sql", {"link_run": link_run})
    people = int(_scalar(con, f"SELECT count(*) FROM {DELTA_SCHEMA}.clin_changed_people"))
    everyone = int(_scalar(con, "SELECT count(*) FROM person") or 0) if db.table_exists(con, "person") else 0
    return people, people / everyone if everyone else 1.0


def _rebuild_people(con: duckdb.DuckDBPyConnection, parameters: Mapping[str, Any]) -> list[db.SqlTiming]:
    """Rebuild the changed people's rows of every per-person table, then clin_code_conditions whole."""
    timings = [db.run_named(con, INCREMENTAL_SQL, "02_clin_delta_inputs.sql")]
    con.execute(f"SET search_path = '{DELTA_SCHEMA},main'")
    try:
        timings += db.run_layer(con, CLINICAL_LAYER, parameters)
    finally:
        con.execute("RESET search_path")
    with db.transaction(con):
        for table in PERSON_TABLES:
            con.execute(
                f"DELETE FROM main.{table} WHERE person_key IN "
                f"(SELECT person_key FROM {DELTA_SCHEMA}.clin_changed_people)"
            )
            con.execute(f"INSERT INTO main.{table} BY NAME SELECT * FROM {DELTA_SCHEMA}.{table}")
        timings.append(db.run_named(con, CLINICAL_LAYER, CODE_TABLE_FILE))
    return timings


def _incremental(
    con: duckdb.DuckDBPyConnection, settings: Settings, parameters: Mapping[str, Any], link_run: int
) -> tuple[ClinicalBuild, list[db.SqlTiming]]:
    """The incremental build; mode ``full`` (nothing built yet) when too many people changed."""
    con.execute(f"DROP SCHEMA IF EXISTS {DELTA_SCHEMA} CASCADE")
    try:
        people, share = _changed_people(con, link_run)
        limit = settings.rebuild.max_affected_share
        if people == 0:
            return ClinicalBuild("unchanged", "no records loaded and no links moved since the last build", 0), []
        if share > limit:
            return ClinicalBuild("full", f"{share:.0%} of people changed (rebuild.max_affected_share {limit:.0%})"), []
        timings = _rebuild_people(con, parameters)
        return ClinicalBuild("incremental", f"{people:,} people changed ({share:.1%})", people), timings
    finally:
        con.execute(f"DROP SCHEMA IF EXISTS {DELTA_SCHEMA} CASCADE")


def build(
    con: duckdb.DuckDBPyConnection, settings: Settings, parameters: Mapping[str, Any]
) -> tuple[ClinicalBuild, list[db.SqlTiming]]:
    """Bring the clin_* tables up to date (incrementally when that gives the same tables) and record the build.

    Needs the linked-records macro (``sql/10_staging/linked``) and the ``ref_*`` code-list tables.
    """
    if not db.table_exists(con, LINK_RUNS):  # staging not linked by the link stage: nothing to follow changes by
        outcome = ClinicalBuild("full", "no link run recorded")
        log.info("clinical tables: %s (%s)", outcome.mode, outcome.reason)
        return outcome, db.run_layer(con, CLINICAL_LAYER, parameters)
    definitions = definitions_hash(settings, parameters)
    link_run = int(_scalar(con, f"SELECT max(run_id) FROM {LINK_RUNS}") or 0)
    previous = _previous(con)
    loads = staging_loads(con)
    reason = _full_reason(con, settings, definitions, previous, loads)
    timings: list[db.SqlTiming] = []
    if reason is not None or previous is None:
        outcome = ClinicalBuild("full", reason or "no earlier clinical build")
    else:
        outcome, timings = _incremental(con, settings, parameters, previous[1])
    if outcome.mode == "full":
        timings = db.run_layer(con, CLINICAL_LAYER, parameters)
    _record(con, outcome, definitions, link_run, loads)
    log.info("clinical tables: %s (%s)", outcome.mode, outcome.reason)
    return outcome, timings
