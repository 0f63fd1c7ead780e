"""Known-answer tests for spells, continuous stays, emergency / ACSC / fall flags and readmissions."""

from datetime import date
from pathlib import Path

import pytest

from .ics_builder import Ics, build, one, rows

AS_OF = date(2024, 4, 1)


def test_multi_episode_spell_takes_first_admission_and_last_discharge(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    # Episode 2 is listed first to show order comes from episode_order, not row order.
    ics.episode(
        "p1",
        date(2023, 5, 1),
        date(2023, 5, 9),
        ["J180"],
        spell_id="A1",
        episode_order=2,
        episode_start=date(2023, 5, 4),
        episode_end=date(2023, 5, 9),
        admission_method="11",
        discharge_destination="54",
    )
    ics.episode(
        "p1",
        date(2023, 5, 1),
        None,
        ["J441", "I10"],
        spell_id="A1",
        episode_order=1,
        episode_start=date(2023, 5, 1),
        episode_end=date(2023, 5, 4),
        admission_method="21",
        discharge_destination="98",
    )
    con = build(ics, tmp_path, AS_OF)
    spell = one(con, "SELECT * FROM clin_spells")
    assert spell["admission_date"] == date(2023, 5, 1)
    assert spell["discharge_date"] == date(2023, 5, 9)
    assert spell["length_of_stay"] == 8
    assert spell["admission_method"] == "21" and spell["is_emergency"] is True
    assert spell["primary_diagnosis"] == "J441"
    assert spell["is_acsc"] is True and spell["acsc_group"] == "chronic"  # COPD, from the first episode
    assert spell["discharge_destination"] == "54"
    assert spell["episode_count"] == 2


def test_missing_spell_number_falls_back_to_person_provider_admission_date(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    ics.episode("p1", date(2023, 6, 1), date(2023, 6, 3), spell_id=None, episode_order=1)
    ics.episode(
        "p1", date(2023, 6, 1), date(2023, 6, 3), spell_id=None, episode_order=2, episode_start=date(2023, 6, 2)
    )
    # Same day at another provider: a different spell.
    ics.episode("p1", date(2023, 6, 1), date(2023, 6, 1), spell_id=None, provider_code="RBB")
    # Different admission date, same provider: a different spell.
    ics.episode("p1", date(2023, 8, 1), date(2023, 8, 2), spell_id=None)
    con = build(ics, tmp_path, AS_OF)
    found = rows(
        con,
        "SELECT provider_code, admission_date, episode_count, spell_key_derived FROM clin_spells "
        "ORDER BY admission_date, provider_code",
    )
    assert [(r["provider_code"], r["admission_date"], r["episode_count"]) for r in found] == [
        ("RAA", date(2023, 6, 1), 2),
        ("RBB", date(2023, 6, 1), 1),
        ("RAA", date(2023, 8, 1), 1),
    ]
    assert all(r["spell_key_derived"] for r in found)


def test_documented_transfer_joins_spells_into_one_stay(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    ics.episode("p1", date(2023, 3, 1), date(2023, 3, 10), ["I639"], discharge_destination="51")
    ics.episode(
        "p1",
        date(2023, 3, 11),
        date(2023, 4, 1),
        ["I693"],
        provider_code="RBB",
        admission_method="81",
        admission_source="51",
    )
    # Undocumented: next-day admission elsewhere with no transfer codes is a new admission.
    ics.episode("p1", date(2023, 6, 1), date(2023, 6, 2), ["R55"])
    ics.episode("p1", date(2023, 6, 3), date(2023, 6, 5), ["R55"], provider_code="RBB", admission_source="19")
    # Documented by the admission source alone, same day.
    ics.episode("p1", date(2023, 9, 1), date(2023, 9, 2), ["R55"])
    ics.episode(
        "p1",
        date(2023, 9, 2),
        date(2023, 9, 30),
        ["R55"],
        provider_code="RBB",
        admission_method="2B",
        admission_source="49",
    )
    # Four days after discharge: too late to be a transfer even with the codes.
    ics.episode("p1", date(2023, 11, 1), date(2023, 11, 2), ["R55"], discharge_destination="51")
    ics.episode("p1", date(2023, 11, 6), date(2023, 11, 8), ["R55"], provider_code="RBB", admission_source="51")
    con = build(ics, tmp_path, AS_OF)
    stays = rows(
        con,
        "SELECT admission_date, discharge_date, length_of_stay, spell_count, is_emergency "
        "FROM clin_stays ORDER BY admission_date",
    )
    assert [(s["admission_date"], s["discharge_date"], s["spell_count"]) for s in stays] == [
        (date(2023, 3, 1), date(2023, 4, 1), 2),
        (date(2023, 6, 1), date(2023, 6, 2), 1),
        (date(2023, 6, 3), date(2023, 6, 5), 1),
        (date(2023, 9, 1), date(2023, 9, 30), 2),
        (date(2023, 11, 1), date(2023, 11, 2), 1),
        (date(2023, 11, 6), date(2023, 11, 8), 1),
    ]
    assert stays[0]["length_of_stay"] == 31 and stays[0]["is_emergency"] is True
    spells = rows(con, "SELECT admission_date, is_transfer_in FROM clin_spells ORDER BY admission_date")
    assert [s["is_transfer_in"] for s in spells] == [False, True, False, False, False, True, False, False]
    features = one(con, "SELECT emergency_admissions_12m, emergency_admissions_24m, long_stays_12m FROM asof_features")
    assert features["emergency_admissions_24m"] == 6  # transfers are not new admissions
    assert features["emergency_admissions_12m"] == 5  # the March 2023 stay is before 2023-04-01
    assert features["long_stays_12m"] == 1  # the joined September stay: 29 days


EMERGENCY_METHODS = [
    ("21", True),
    ("22", True),
    ("23", True),
    ("24", True),
    ("25", True),
    ("2A", True),
    ("2B", True),
    ("2C", True),
    ("2D", True),
    ("28", True),
    ("2a", True),
    ("11", False),
    ("12", False),
    ("13", False),
    ("31", False),
    ("81", False),
    ("26", False),
    ("29", False),
    (None, False),
]
ACSC_CASES = [
    (["I500"], [], "chronic"),  # heart failure
    (["I500"], ["K401"], None),  # ... excluded with a cardiac operation in any position
    (["I500"], ["U051", "K60.1"], None),
    (["I209"], ["U051", "K401"], "chronic"),  # angina: only the primary procedure excludes
    (["I209"], ["K401"], None),
    (["J20.9"], [], None),  # acute bronchitis needs a COPD secondary diagnosis
    (["J209", "J449"], [], "chronic"),
    (["J181"], [], "vaccine_preventable"),  # pneumonia ...
    (["J181", "D571"], [], None),  # ... excluded with sickle-cell disease
    (["N390"], [], "acute"),  # urinary tract infection
    (["I10X"], [], "chronic"),  # X-suffixed code still matches I10
    (["i10.-"], [], "chronic"),  # lower case, dotted, dash-padded
    (["R69"], [], None),
    ([], [], None),
]
FALL_CASES = [
    (["S720", "W19"], "21", True),
    (["S72.0", "W19X"], "21", True),  # dotted and X-suffixed
    (["W19", "S720"], "21", False),  # the cause must not be the primary diagnosis
    (["S720"], "21", False),  # no fall cause
    (["I500", "W19"], "21", False),  # primary is not an injury
    (["S720", "W19"], "11", False),  # not an emergency
]


@pytest.fixture(scope="module")
def single_spells(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """One person and one spell per case, built once: clin_spells keyed by person."""
    ics = Ics()
    for index, (method, _) in enumerate(EMERGENCY_METHODS):
        ics.person(f"method{index}")
        ics.episode(f"method{index}", date(2023, 7, 1), date(2023, 7, 3), ["J440"], admission_method=method)
    for index, (diagnoses, procedures, _) in enumerate(ACSC_CASES):
        ics.person(f"acsc{index}")
        ics.episode(f"acsc{index}", date(2023, 7, 1), date(2023, 7, 3), diagnoses, procedures=procedures)
    for index, (diagnoses, method, _) in enumerate(FALL_CASES):
        ics.person(f"fall{index}")
        ics.episode(f"fall{index}", date(2023, 7, 1), date(2023, 7, 3), diagnoses, admission_method=method)
    con = build(ics, tmp_path_factory.mktemp("spells"), AS_OF)
    return {r["person_key"]: r for r in rows(con, "SELECT * FROM clin_spells")}


@pytest.mark.parametrize(("index", "case"), list(enumerate(EMERGENCY_METHODS)))
def test_emergency_admission_methods(
    single_spells: dict[str, dict[str, object]], index: int, case: tuple[str | None, bool]
) -> None:
    spell = single_spells[f"method{index}"]
    emergency = case[1]
    assert (spell["is_emergency"], spell["is_acsc"]) == (emergency, emergency)  # J44.0 is an ACSC only if emergency


@pytest.mark.parametrize(("index", "case"), list(enumerate(ACSC_CASES)))
def test_acsc_rules(single_spells: dict[str, dict[str, object]], index: int, case: tuple) -> None:
    assert single_spells[f"acsc{index}"]["acsc_group"] == case[2]
    assert single_spells[f"acsc{index}"]["is_acsc"] is (case[2] is not None)


@pytest.mark.parametrize(("index", "case"), list(enumerate(FALL_CASES)))
def test_fall_admission(single_spells: dict[str, dict[str, object]], index: int, case: tuple) -> None:
    assert single_spells[f"fall{index}"]["is_fall"] is case[2]


def test_acsc_uses_primary_diagnosis_of_first_episode_only(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    # ACSC code in a secondary position of the first episode, and as primary of episode 2: not ACSC.
    ics.episode("p1", date(2023, 7, 1), date(2023, 7, 9), ["S720", "J441"], spell_id="X", episode_order=1)
    ics.episode(
        "p1",
        date(2023, 7, 1),
        date(2023, 7, 9),
        ["J441"],
        spell_id="X",
        episode_order=2,
        episode_start=date(2023, 7, 3),
    )
    con = build(ics, tmp_path, AS_OF)
    assert one(con, "SELECT is_acsc, acsc_group FROM clin_spells") == {"is_acsc": False, "acsc_group": None}


def test_readmission_within_30_days_edge(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    ics.episode("p1", date(2023, 1, 1), date(2023, 1, 10), admission_method="11")
    ics.episode("p1", date(2023, 2, 8), date(2023, 2, 9))  # 29 days after discharge: readmission
    ics.episode("p1", date(2023, 3, 11), date(2023, 3, 12))  # 30 days after discharge: not
    ics.episode("p1", date(2023, 3, 12), date(2023, 3, 13), admission_method="12")  # elective: not
    ics.episode("p1", date(2023, 3, 20), date(2023, 3, 25), discharge_method="4")
    ics.episode("p1", date(2023, 3, 26), date(2023, 3, 27))  # after a death discharge: not (data error)
    con = build(ics, tmp_path, AS_OF)
    flags = rows(con, "SELECT admission_date, is_readmission_30d FROM clin_stays ORDER BY admission_date")
    assert [f["is_readmission_30d"] for f in flags] == [False, True, False, False, True, False]
