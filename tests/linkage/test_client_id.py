"""Linking ASC events without a token through the local authority's client id, before Splink."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from popheath.config import Paths, Settings
from popheath.stages import link

from .conftest import Ics, asc_row, synthetic_ics, token, write_ics

AS_OF = date(2025, 4, 1)
LA, OTHER_LA = "E06000001", "E06000002"
# Fields nobody else in the spine has, so each hand-made client has exactly one plausible person.
ALONE = {"birth_year": 1933, "birth_month": 7, "sex": "F", "lsoa_code": "E01000997", "practice_code": "P00097"}
LATE = {"birth_year": 1936, "birth_month": 3, "sex": "M", "lsoa_code": "E01000996", "practice_code": None}
TWINS = {"birth_year": 1931, "birth_month": 11, "sex": "F", "lsoa_code": "E01000995", "practice_code": None}


def client_ics() -> Ics:
    """A small spine and ASC clients (no client ids) plus hand-made clients with client ids:

    - C1 in LA: one tokened event (person P1) and one without a token -> 'client_id' to P1;
    - C1 in OTHER_LA: same client id, another LA, no token -> not P1 by client id (ids are per LA);
    - C2: two events with different tokens and one without -> unlinked, 'conflicting_tokens';
    - C3: two events without a token, one with a wrong birth month, of a person who shares nobody's
      fields -> one probabilistic link for the client, the same key on both events;
    - C4: ethnicity and a date of death recorded by the LA that match one of two otherwise identical
      people -> linked to that one;
    - C5: an ethnic category no other resident has (L), shared by one of two otherwise identical people
      whose twin has none recorded -> linked to that one (agreement on a rare code is strong evidence:
      its u is the code's share of records, not the average agreement rate of a spine that is nearly
      all A).
    """
    ics = synthetic_ics(n_people=800, lsoas=40, practices=8, clients=160, noise=0.05, seed=11)
    # the council records the spine's commonest code for the generated clients, as it mostly would
    for row in ics.asc:
        row["ethnic_category"] = row["ethnic_category"] or "A"
    template = dict(ics.people[0])
    p1, p2, p3 = (str(ics.people[i]["person_id"]) for i in (1, 2, 3))
    alone = {**template, **ALONE, "person_id": token(1, "C")}
    late_alive = {**template, **LATE, "person_id": token(2, "C"), "ethnic_category": "A"}
    late_dead = {
        **template,
        **LATE,
        "person_id": token(3, "C"),
        "ethnic_category": "H",
        "date_of_death": date(2024, 9, 1),
    }
    rare_twin = {**template, **TWINS, "person_id": token(4, "C"), "ethnic_category": "L"}
    unknown_twin = {**template, **TWINS, "person_id": token(5, "C"), "ethnic_category": None}
    ics.people += [alone, late_alive, late_dead, rare_twin, unknown_twin]

    def fields(person: dict[str, object]) -> dict[str, object]:
        return {k: person[k] for k in ("birth_year", "birth_month", "sex", "lsoa_code", "practice_code")}

    def event(event_id: str, person_id: str | None, person: dict[str, object], client: str, la: str = LA, **extra):
        row = asc_row(event_id, person_id, {**fields(person), **extra}, la_code=la)
        row["client_id"] = client
        return row

    person1 = ics.people[1]
    ics.asc += [
        event("C1-A", p1, person1, "C1"),
        event("C1-B", None, person1, "C1"),
        event("C1-X", None, ALONE, "C1", la=OTHER_LA),
        event("C2-A", p2, ics.people[2], "C2"),
        event("C2-B", p3, ics.people[3], "C2"),
        event("C2-C", None, ics.people[2], "C2"),
        event("C3-A", None, ALONE, "C3"),
        event("C3-B", None, {**ALONE, "birth_month": 8}, "C3"),
        event("C4-A", None, LATE, "C4", ethnic_category="H", date_of_death=date(2024, 9, 1)),
        event("C5-A", None, TWINS, "C5", ethnic_category="L"),
    ]
    ics.truth.update(
        {
            "C1-A": p1,
            "C1-B": p1,
            "C1-X": token(1, "C"),
            "C2-A": p2,
            "C2-B": p3,
            "C2-C": p2,
            "C3-A": token(1, "C"),
            "C3-B": token(1, "C"),
            "C4-A": token(3, "C"),
            "C5-A": token(4, "C"),
        }
    )
    return ics


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("client_id")
    ics = client_ics()
    write_ics(root / "w.duckdb", ics)
    (root / "truth").mkdir()
    pd.DataFrame({"event_id": list(ics.truth), "person_id": list(ics.truth.values())}).to_parquet(
        root / "truth" / "asc_links.parquet"
    )
    settings = Settings(paths=Paths(warehouse=root / "w.duckdb", outputs=root / "outputs", truth=root / "truth"))
    result = link.run(settings, AS_OF)
    con = duckdb.connect(str(settings.paths.warehouse), read_only=True)
    yield ics, result, con
    con.close()


def _link(con: duckdb.DuckDBPyConnection, event_id: str) -> tuple:
    return con.execute(
        "SELECT person_key, method, match_probability FROM person_link WHERE source = 'asc' AND record_id = ?",
        [event_id],
    ).fetchall()[0]


def _status(con: duckdb.DuckDBPyConnection, event_id: str) -> str:
    return con.execute("SELECT link_status FROM link_asc_event_links WHERE event_id = ?", [event_id]).fetchall()[0][0]


def test_event_takes_the_token_of_its_clients_other_events(linked) -> None:
    ics, result, con = linked
    assert _link(con, "C1-A") == (ics.truth["C1-A"], "deterministic", 1.0)
    assert _link(con, "C1-B") == (ics.truth["C1-A"], "client_id", 1.0)
    assert _status(con, "C1-B") == "client_token"
    assert result.summary["client_id"] >= 1


def test_client_ids_are_only_unique_within_a_local_authority(linked) -> None:
    ics, _, con = linked
    person_key, method, _ = _link(con, "C1-X")
    assert method != "client_id"
    assert person_key != ics.truth["C1-A"]


def test_conflicting_tokens_leave_the_event_unlinked_and_reported(linked) -> None:
    ics, result, con = linked
    assert _link(con, "C2-A")[:2] == (ics.truth["C2-A"], "deterministic")
    assert _link(con, "C2-B")[:2] == (ics.truth["C2-B"], "deterministic")
    assert _link(con, "C2-C") == (None, "unlinked", None)
    assert _status(con, "C2-C") == "conflicting_tokens"
    assert result.summary["asc_conflicting_tokens"] == 1
    assert con.execute("SELECT count(*) FROM link_asc_probabilistic WHERE client_key LIKE '%|C2'").fetchall() == [
        (0,)
    ]  # never guessed by Splink either


def test_untokened_client_is_linked_once_and_every_event_gets_the_key(linked) -> None:
    _, _, con = linked
    rows = con.execute(
        "SELECT p.unique_id, i.birth_month, p.person_key, p.link_status FROM link_asc_probabilistic AS p "
        "JOIN link_asc_input AS i USING (unique_id) WHERE p.client_key = 'client|E06000001|C3'"
    ).fetchall()
    assert len(rows) == 1
    unique_id, month, person_key, status = rows[0]
    assert unique_id == "client|E06000001|C3" and status == "linked" and person_key == token(1, "C")
    assert month in (7, 8)  # a tie between the two events' months is broken by the latest event
    assert {_link(con, e)[:2] for e in ("C3-A", "C3-B")} == {(token(1, "C"), "probabilistic")}


def test_ethnicity_and_date_of_death_separate_otherwise_identical_people(linked) -> None:
    _, _, con = linked
    assert _link(con, "C4-A")[:2] == (token(3, "C"), "probabilistic")


def test_agreeing_on_a_rare_ethnic_category_separates_otherwise_identical_people(linked) -> None:
    _, _, con = linked
    person_key, method, probability = _link(con, "C5-A")
    assert (person_key, method) == (token(4, "C"), "probabilistic")
    assert probability >= 0.9


def test_truth_block_covers_both_steps(linked) -> None:
    _, result, _ = linked
    assert float(result.summary["truth_precision"]) >= 0.98
    assert float(result.summary["truth_recall"]) >= 0.85
