"""Known answers for the linked-activity layer: the one rule for which links reach a person."""

from __future__ import annotations

import duckdb
import pytest

from popheath import db

LINKS = [
    # source, record_id, person_key, method, match_probability, out_of_area, out_of_ics_provider
    ("asc", "token", "P1", "deterministic", 1.0, False, False),
    ("asc", "strong", "P2", "probabilistic", 0.95, False, False),
    ("asc", "weak", "P3", "probabilistic", 0.50, False, False),
    ("asc", "unlinked", None, "unlinked", None, None, False),
    ("asc", "visitor", "V1", "deterministic", 1.0, True, False),
    ("asc", "other_la", "P4", "deterministic", 1.0, False, True),
    ("ecds", "token", "P9", "deterministic", 1.0, False, False),
]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE person_link (source VARCHAR, record_id VARCHAR, person_key VARCHAR, method VARCHAR, "
        "match_probability DOUBLE, out_of_area BOOLEAN, out_of_ics_provider BOOLEAN)"
    )
    con.executemany("INSERT INTO person_link VALUES (?, ?, ?, ?, ?, ?, ?)", LINKS)
    db.run_layer(con, db.LINKED_ACTIVITY_LAYER)
    return con


def _linked(con: duckdb.DuckDBPyConnection, *arguments: object) -> dict[str, tuple[object, ...]]:
    rows = con.execute(
        "SELECT record_id, person_key, out_of_area, out_of_ics_provider, reaches_person "
        "FROM linked_records('asc', ?, ?, ?)",
        list(arguments),
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_links_below_the_minimum_probability_leave_the_record_unattributed(con) -> None:  # type: ignore[no-untyped-def]
    linked = _linked(con, 0.9, False, False)
    assert set(linked) == {"token", "strong", "weak", "unlinked", "visitor", "other_la"}  # every record, once
    assert linked["token"] == ("P1", False, False, True)
    assert linked["strong"] == ("P2", False, False, True)
    assert linked["weak"] == (None, False, False, False)
    assert linked["unlinked"] == (None, False, False, False)


def test_area_and_provider_scope_decide_reach_but_keep_the_key(con) -> None:  # type: ignore[no-untyped-def]
    excluded = _linked(con, 0.9, False, False)
    assert excluded["visitor"] == ("V1", True, False, False)
    assert excluded["other_la"] == ("P4", False, True, False)
    included = _linked(con, 0.9, True, True)
    assert included["visitor"][-1] is True and included["other_la"][-1] is True
    assert _linked(con, 0.4, False, False)["weak"] == ("P3", False, False, True)
