"""Deterministic links, unlinked records, out-of-area and out-of-ICS-provider flags (no Splink needed)."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import numpy as np
import pytest

from popheath.errors import ConfigError, StageError
from popheath.stages import link

from .conftest import Ics, asc_row, make_people, write_ics

AS_OF = date(2025, 4, 1)
OUTSIDER = "F00000000000000A"  # a token seen in activity but not registered in the ICS


def small_ics() -> Ics:
    ics = Ics(people=make_people(3, lsoas=2, practices=1, rng=np.random.default_rng(1)))
    a, b, c = (str(p["person_id"]) for p in ics.people)
    ics.activity = {
        "apc": [("E1", a, "RXX01"), ("E2", OUTSIDER, "RYY02"), ("E3", None, "RXX01"), ("E4", "", None)],
        "ecds": [("AE1", b, "RXX01")],
        "opa": [("OP1", c, "RAA03")],
        "csds": [("C1", a, "NQT")],
    }
    fields = {"birth_year": 1940, "birth_month": 5, "sex": "F", "lsoa_code": "E01000009", "practice_code": None}
    ics.asc = [
        asc_row("S1", a, fields),
        asc_row("S2", OUTSIDER, fields, la_code="E06000099"),
    ]
    return ics


@pytest.fixture
def linked(settings_for):
    settings = settings_for(ics_provider_prefixes=("RXX", "NQ"), ics_la_codes=("E06000001",))
    ics = small_ics()
    write_ics(settings.paths.warehouse, ics)
    result = link.run(settings, AS_OF)
    con = duckdb.connect(str(settings.paths.warehouse), read_only=True)
    rows = {
        (r[0], r[1]): r[2:]
        for r in con.execute(
            "SELECT source, record_id, person_key, method, match_probability, out_of_area, out_of_ics_provider "
            "FROM person_link"
        ).fetchall()
    }
    people = {
        r[0]: r[1:]
        for r in con.execute("SELECT person_key, in_population, birth_year, sex, person_id FROM person").fetchall()
    }
    columns = [r[0] for r in con.execute("DESCRIBE person").fetchall()]
    con.close()
    return ics, result, rows, people, columns, settings


def test_every_record_gets_one_row_with_its_token(linked) -> None:
    ics, result, rows, _, _, _ = linked
    a, b, c = (str(p["person_id"]) for p in ics.people)
    assert len(rows) == 9  # 4 apc + 1 ecds + 1 opa + 1 csds + 2 asc
    assert rows[("apc", "E1")][:3] == (a, "deterministic", 1.0)
    assert rows[("ecds", "AE1")][:2] == (b, "deterministic")
    assert rows[("opa", "OP1")][:2] == (c, "deterministic")
    assert rows[("asc", "E06000001|S1")][:2] == (a, "deterministic")


def test_records_without_token_are_kept_unlinked_and_counted(linked) -> None:
    _, result, rows, _, _, _ = linked
    assert rows[("apc", "E3")] == (None, "unlinked", None, None, False)
    assert rows[("apc", "E4")][:2] == (None, "unlinked")  # blank token counts as missing
    assert result.summary["unlinked"] == 2
    assert result.summary["apc"] == 4


def test_out_of_area_tokens_are_flagged_and_become_people(linked) -> None:
    _, result, rows, people, _, _ = linked
    assert rows[("apc", "E2")][:4] == (OUTSIDER, "deterministic", 1.0, True)
    assert rows[("asc", "E06000099|S2")][3] is True
    assert rows[("apc", "E1")][3] is False
    # the out-of-area key is a person, not in the population, with demographics from its ASC event
    assert people[OUTSIDER] == (False, 1940, "F", OUTSIDER)
    assert sum(1 for p in people.values() if p[0]) == 3
    assert result.summary["out_of_area_people"] == 1
    assert result.summary["out_of_area_records"] == 2


def test_out_of_ics_provider_flag_follows_prefixes_and_la_codes(linked) -> None:
    _, _, rows, _, _, _ = linked
    flags = {key: value[4] for key, value in rows.items()}
    assert flags[("apc", "E1")] is False  # RXX01 starts with RXX
    assert flags[("apc", "E2")] is True  # RYY02
    assert flags[("opa", "OP1")] is True  # RAA03
    assert flags[("csds", "C1")] is False  # NQT starts with NQ
    assert flags[("apc", "E4")] is False  # unknown provider: not flagged
    assert flags[("asc", "E06000001|S1")] is False and flags[("asc", "E06000099|S2")] is True  # by la_code


def test_person_has_population_columns_without_load_metadata(linked) -> None:
    *_, columns, _ = linked
    assert columns[0] == "person_key"
    assert {"person_id", "birth_year", "practice_code", "date_of_death", "in_population"} <= set(columns)
    assert not [c for c in columns if c.startswith("_")]


def test_run_folder_holds_settings_and_report(linked) -> None:
    *_, settings = linked
    folder = settings.paths.outputs / "link" / AS_OF.isoformat()
    saved = json.loads((folder / "settings.json").read_text())
    assert saved["link"]["ics_provider_prefixes"] == ["RXX", "NQ"]
    assert saved["model_spec"]["splink_settings"]["link_type"] == "link_only"
    quality = json.loads((folder / "link_quality.json").read_text())
    apc = next(row for row in quality["sources"] if row["source"] == "apc")
    assert (apc["records"], apc["deterministic"], apc["unlinked"]) == (4, 2, 2)
    assert "| apc | 4 | 2 | 0 | 0 | 2 |" in (folder / "link_quality.md").read_text()


def test_empty_prefix_list_means_every_provider_is_in_the_ics(settings_for) -> None:
    settings = settings_for()
    write_ics(settings.paths.warehouse, small_ics())
    link.run(settings, AS_OF)
    con = duckdb.connect(str(settings.paths.warehouse), read_only=True)
    assert con.execute("SELECT count(*) FILTER (WHERE out_of_ics_provider) FROM person_link").fetchall() == [(0,)]
    con.close()


def test_threshold_that_would_link_ties_is_refused(settings_for) -> None:
    with pytest.raises(ConfigError, match="match_threshold"):
        link.run(settings_for(match_threshold=0.5), AS_OF)


def test_missing_staging_table_is_a_clear_error(settings_for) -> None:
    settings = settings_for()
    con = duckdb.connect(str(settings.paths.warehouse))
    con.execute("CREATE TABLE stg_population (person_id VARCHAR)")
    con.close()
    with pytest.raises(StageError, match="stg_apc"):
        link.run(settings, AS_OF)
