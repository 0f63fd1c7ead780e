"""Build the link tables: the SQL steps of ``sql/10_staging/linkage/`` in run order, with their parameters."""

from __future__ import annotations

import logging
from typing import Any

import duckdb

from popheath import db
from popheath.config import Settings
from popheath.errors import ConfigError
from popheath.linkage import population_reference
from popheath.linkage.spec import LinkageSpec
from popheath.staging_changes import CHANGES_SQL

log = logging.getLogger(__name__)

LINKAGE_SQL = "10_staging/linkage"
ASC_RECORD_ID_SQL = "00_asc_record_id.sql"
STAGING_TABLES = ("stg_population", "stg_apc", "stg_ecds", "stg_opa", "stg_csds", "stg_asc")


def check_settings(settings: Settings) -> None:
    """Refuse link settings the steps cannot honour (a threshold that would let ties link, a share outside 0-1)."""
    link = settings.link
    if not 0.5 < link.match_threshold <= 1.0:
        raise ConfigError(
            f"setting link.match_threshold: expected a number above 0.5 and at most 1 "
            f"(ties must never link), got {link.match_threshold}"
        )
    if not 0.0 <= link.min_link_probability <= 1.0:
        raise ConfigError(f"setting link.min_link_probability: expected 0 to 1, got {link.min_link_probability}")


def run_step(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> None:
    """Run one file of ``sql/10_staging/linkage/`` with its named parameters."""
    db.run_named(con, LINKAGE_SQL, name, params)


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """The first row of a query (fetching all rows: DuckDB refuses new work while a result is open)."""
    rows = con.execute(sql, params).fetchall()
    return tuple(rows[0]) if rows else ()


def build_asc_inputs(con: duckdb.DuckDBPyConnection, spec: LinkageSpec) -> None:
    """ASC events and clients, PDS mergers, ethnicity from activity, Splink inputs, candidate table (01-06).

    First the ASC record id macro of the linked-activity layer (an event is (la_code, event_id)), which
    the link tables and person_link key ASC events by.
    """
    db.run_named(con, db.LINKED_ACTIVITY_LAYER, ASC_RECORD_ID_SQL)
    run_step(con, "01_link_macros.sql")
    run_step(con, "02_link_asc_events.sql")
    run_step(con, "03_link_asc_clients.sql")
    run_step(
        con,
        "04_link_asc_input.sql",
        {
            "holdout_max_records": spec.candidates.holdout_max_records,
            "holdout_fraction": spec.candidates.holdout_fraction,
            "training_max_records": spec.training.labelled_max_records,
        },
    )
    run_step(con, "04a_link_person_merger.sql")
    run_step(con, "04b_link_person_ethnicity.sql")
    run_step(con, "05_link_spine_input.sql")
    run_step(con, "06_link_asc_candidates.sql")


def build_asc_event_links(con: duckdb.DuckDBPyConnection) -> None:
    """Every ASC event's key, method, probability and status into ``link_asc_event_links`` (step 10)."""
    run_step(con, "10_link_asc_event_links.sql")


def build_person_tables(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: int, full: bool) -> int | None:
    """Write ``person_link`` and ``person`` (steps 11-12, with the population reference tables) in one transaction.

    Reads the temp table ``staging_loads`` (:func:`popheath.staging_changes.staging_loads`). A
    ``full`` run links every record. Otherwise only the ASC events and the records of the loads
    person_link does not reflect (``link_stale_loads``, left by
    :func:`popheath.linkage.link_runs.full_reason`) are relinked: their rows of ``person_link``
    are replaced and every other row is kept (11_person_link.sql says why that equals a full run).
    ``link_loads`` records the staging loads person_link then reflects. The same transaction records
    in ``link_changes`` the person keys this run (``run_id``) moved (``sql/10_staging/changes``), so
    the incremental clinical build never misses one. Returns how many records present in both this
    run and the last changed person key (None on a first run).
    """
    log.info("writing person_link and person")
    had_links = db.table_exists(con, "person_link")
    if full:
        con.execute("CREATE OR REPLACE TEMP TABLE link_stale_loads (load_id VARCHAR, population BOOLEAN)")
    scope = "TRUE" if full else "source = 'asc' OR load_id IN (SELECT load_id FROM link_stale_loads)"
    if had_links:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE link_previous AS SELECT source, record_id, person_key, match_probability, "
            f"out_of_area, out_of_ics_provider FROM person_link WHERE {scope}"
        )
    with db.transaction(con):
        run_step(
            con,
            "11_person_link.sql",
            {
                "ics_provider_prefixes": list(settings.link.ics_provider_prefixes),
                "ics_la_codes": list(settings.link.ics_la_codes),
                "full": full,
            },
        )
        if full:
            con.execute("DROP TABLE IF EXISTS person_link")
            con.execute("ALTER TABLE link_written RENAME TO person_link")
            con.execute("CREATE OR REPLACE TEMP VIEW link_written AS SELECT * FROM main.person_link")
        else:
            con.execute(f"DELETE FROM person_link WHERE {scope}")
            con.execute("INSERT INTO person_link BY NAME SELECT * FROM link_written")
        con.execute("CREATE OR REPLACE TABLE link_loads AS SELECT * FROM staging_loads")
        population_reference.load(con, settings)
        run_step(con, "12_person.sql")
        if had_links:
            db.run_named(con, CHANGES_SQL, "02_link_changes.sql", {"run_id": run_id})
    # Stability: records present in both runs whose person key changed (NULL <-> key counts too); only
    # the rows this run wrote can have changed.
    changed = (
        int(
            first_row(
                con,
                "SELECT count(*) FROM link_written AS n JOIN link_previous AS p USING (source, record_id) "
                "WHERE n.person_key IS DISTINCT FROM p.person_key",
            )[0]
        )
        if had_links
        else None
    )
    con.execute("DROP VIEW IF EXISTS temp.link_written")
    con.execute("DROP TABLE IF EXISTS main.link_written")
    return changed
