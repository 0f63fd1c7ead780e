"""What the link stage adds to a PDS spine: mergers, ethnicity from activity, IMD by LSOA, PCN and place by practice.

Known answers on tiny hand-made staging tables, run through the linkage SQL steps themselves.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import duckdb
import pytest

from popheath import db
from popheath.config import Settings
from popheath.errors import ConfigError
from popheath.linkage import link_tables, population_reference

from .conftest import ACTIVITY_DDL, ASC_DDL, POPULATION_DDL

SURVIVOR, SUPERSEDED, FLAT = "AAAA000000000001", "AAAA0000000000FF", "AAAA000000000002"


def staged(con: duckdb.DuckDBPyConnection) -> None:
    """Empty canonical staging tables and ASC link tables, as the link stage finds them."""
    con.execute(POPULATION_DDL)
    con.execute(ASC_DDL)
    for ddl in ACTIVITY_DDL.values():
        con.execute(ddl)
    con.execute(
        "CREATE TABLE link_asc_event_links (record_id VARCHAR, token VARCHAR, person_key VARCHAR, method VARCHAR,"
        " match_probability DOUBLE)"
    )
    db.run_named(con, db.LINKED_ACTIVITY_LAYER, link_tables.ASC_RECORD_ID_SQL)
    con.execute("CREATE TABLE link_asc_events (record_id VARCHAR, client_key VARCHAR, person_id VARCHAR,"
                " ethnic_category VARCHAR, event_start DATE)")  # fmt: skip
    con.execute("CREATE TABLE link_asc_input (client_key VARCHAR, is_holdout BOOLEAN)")
    con.execute(
        "INSERT INTO stg_population (person_id, birth_year, sex, practice_code, lsoa_code, superseded_person_ids)"
        " VALUES ($s, 1945, 'M', 'B84003', 'E01000001', [$x]), ($f, 1950, 'F', 'B84014', 'E01000002', [])",
        {"s": SURVIVOR, "x": SUPERSEDED, "f": FLAT},
    )


def test_activity_under_a_superseded_pseudonym_links_to_the_survivor() -> None:
    con = duckdb.connect()
    staged(con)
    con.execute(
        "INSERT INTO stg_apc (episode_id, person_id, provider_code) VALUES ('E1', $x, 'RA1'), ('E2', $s, 'RA1'),"
        " ('E3', 'BBBB000000000009', 'RA1')",
        {"x": SUPERSEDED, "s": SURVIVOR},
    )
    link_tables.run_step(con, "04a_link_person_merger.sql")
    con.execute("CREATE TEMP TABLE link_stale_loads (load_id VARCHAR)")
    link_tables.run_step(con, "11_person_link.sql", {"ics_provider_prefixes": [], "ics_la_codes": [], "full": True})
    links = con.execute("SELECT record_id, person_key, method, out_of_area FROM link_written ORDER BY 1").fetchall()
    assert links == [
        ("E1", SURVIVOR, "deterministic", False),
        ("E2", SURVIVOR, "deterministic", False),
        ("E3", "BBBB000000000009", "deterministic", True),
    ]


def test_a_pseudonym_claimed_twice_or_on_the_spine_is_not_mapped() -> None:
    con = duckdb.connect()
    staged(con)
    con.execute("UPDATE stg_population SET superseded_person_ids = [$x, $s] WHERE person_id = $f",
                {"x": SUPERSEDED, "s": SURVIVOR, "f": FLAT})  # fmt: skip
    link_tables.run_step(con, "04a_link_person_merger.sql")
    assert con.execute("SELECT * FROM link_person_merger").fetchall() == []


def test_ethnicity_is_the_most_recent_known_code_ties_by_frequency() -> None:
    con = duckdb.connect()
    staged(con)
    apc = [
        ("A1", "P_A", "A", date(2020, 1, 1)), ("A2", "P_A", "Z", date(2023, 1, 1)),  # a later unknown is ignored
        ("B1", "P_B", "H", date(2022, 1, 1)),
        ("C1", "P_C", "N", date(2019, 1, 1)), ("C2", "P_C", "M", date(2024, 5, 1)),
        ("C3", "P_C", "n", date(2024, 5, 1)),
        ("D1", "P_D", "99", date(2024, 1, 1)), ("D2", "P_D", "", date(2024, 2, 1)),  # nothing known
        ("E1", SUPERSEDED, "R", date(2021, 1, 1)),  # recorded under the superseded pseudonym
    ]  # fmt: skip
    con.executemany(
        "INSERT INTO stg_apc (episode_id, person_id, ethnic_category, episode_start, provider_code)"
        " VALUES (?, ?, ?, ?, 'RA1')",
        [list(row) for row in apc],
    )
    con.execute(
        "INSERT INTO link_asc_events VALUES ('V1', 'client|L|1', 'P_B', 'J', DATE '2024-01-01'),"
        " ('V2', 'client|L|2', 'P_A', 'S', DATE '2025-01-01'),"  # a holdout client's record: not used
        " ('V3', 'client|L|3', 'P_D', 'K', DATE '2023-01-01')"  # a client not sent to linkage
    )
    # client L|1 is a tokened client whose true pair measures m ('train'), L|2 is in the holdout
    con.execute("INSERT INTO link_asc_input VALUES ('client|L|1', FALSE), ('client|L|2', TRUE)")
    # CSDS carries the MPI's code on each care contact, dated by the contact
    con.execute("INSERT INTO stg_csds (contact_id, person_id, contact_date, ethnic_category)"
                " VALUES ('K1', 'P_E', DATE '2024-06-01', 'm'), ('K2', 'P_E', DATE '2023-01-01', 'N')")  # fmt: skip
    link_tables.run_step(con, "04a_link_person_merger.sql")
    link_tables.run_step(con, "04b_link_person_ethnicity.sql")
    found = con.execute(
        "SELECT person_id, ethnic_category, ethnicity_source, ethnicity_records, linkage_ethnic_category"
        " FROM link_person_ethnicity ORDER BY 1"
    ).fetchall()
    assert found == [
        (SURVIVOR, "R", "apc", 1, "R"),
        ("P_A", "A", "apc", 1, "A"),
        # the person takes the LA's later J; linkage compares the client's J with the NHS records' H
        ("P_B", "J", "asc", 2, "H"),
        ("P_C", "N", "apc", 3, "N"),  # M and N on the last day: N is the person's most frequent code
        ("P_D", "K", "asc", 1, "K"),  # an LA record of a client linkage never scores counts for both
        ("P_E", "M", "csds", 2, "M"),
    ]


def test_person_takes_imd_pcn_place_and_ethnicity_where_the_spine_has_none(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "imd_lsoa.csv").write_text("lsoa_code,imd_decile\nE01000001,3\nE01000002,9\n", encoding="utf-8")
    (reference / "epcn_core_partner_details.csv").write_text(
        "Partner Organisation Code,PCN Code,Practice to PCN Relationship Start Date,"
        "Practice to PCN Relationship End Date,Place\n"
        "B84003,U60101,20190701,20230331,North\n"  # an ended relationship
        "b84003,U60108,20230401,,North\n",  # the open one (codes upper-cased)
        encoding="utf-8",
    )
    con = duckdb.connect()
    staged(con)
    con.execute(
        "UPDATE stg_population SET ethnic_category = 'Z', imd_decile = 1, pcn_code = 'U00001', place = 'Own'"
        " WHERE person_id = $f",
        {"f": FLAT},
    )
    con.execute("CREATE TABLE person_link (source VARCHAR, record_id VARCHAR, person_key VARCHAR, out_of_area BOOLEAN)")
    con.execute("CREATE TABLE link_person_ethnicity AS SELECT $s AS person_id, 'K' AS ethnic_category,"
                " 'apc' AS ethnicity_source", {"s": SURVIVOR})  # fmt: skip
    settings = Settings()
    settings = dataclasses.replace(settings, paths=dataclasses.replace(settings.paths, reference=reference))
    link_tables.run_step(con, "01_link_macros.sql")
    population_reference.load(con, settings)
    link_tables.run_step(con, "12_person.sql")
    people = con.execute(
        "SELECT person_key, ethnic_category, ethnicity_source, imd_decile, pcn_code, place FROM person ORDER BY 1"
    ).fetchall()
    assert people == [
        (SURVIVOR, "K", "apc", 3, "U60108", "North"),  # a PDS spine row: everything filled
        (FLAT, "Z", "spine", 1, "U00001", "Own"),  # a flat spine's own values are kept (Z: none known elsewhere)
    ]
    assert con.execute("SELECT version FROM ref_codelist_sources WHERE table_name = 'ref_imd'").fetchall() == [
        (f"local file {reference / 'imd_lsoa.csv'}",)
    ]


def test_a_pds_spine_without_the_practice_to_pcn_file_is_a_clear_error(tmp_path: Path) -> None:
    con = duckdb.connect()
    staged(con)
    settings = Settings()
    settings = dataclasses.replace(settings, paths=dataclasses.replace(settings.paths, reference=tmp_path))
    with pytest.raises(ConfigError, match="2 registered people have a practice but no PCN"):
        population_reference.load(con, settings)
