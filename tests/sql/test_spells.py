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
# Known answers from NHS OF 2.3.i (CCG OIS 2.6) specification v1.15, Data Filter 1 (a)-(i) and
# Appendix 2, one case or pair per rule; plus the acute / vaccine-preventable groups and multi-group codes.
# (diagnoses, procedures, expected groups)
ACSC_CASES = [
    # (a) DIAG_4_01 B18.0/B18.1, excluded when DIAG_3_CONCAT contains D57; also NHS Institute vaccine-preventable
    (["B181"], [], ["chronic", "vaccine_preventable"]),
    (["B180", "D571"], [], ["vaccine_preventable"]),  # chronic excluded, the vaccine-preventable group still counts
    # (b) DIAG_3_01 J45 or DIAG_4_01 J46X
    (["J459"], [], ["chronic"]),
    (["J46X"], [], ["chronic"]),
    # (c) I50, I11.0, J81X, I13.0; excluded with a cardiac procedure in ANY of the 24 positions
    (["I500"], [], ["chronic"]),
    (["I130"], [], ["chronic"]),
    (["J81X"], [], ["chronic"]),
    (["I500"], ["K401"], None),
    (["I110"], ["U051", "K60.1"], None),  # not the primary procedure: still excluded
    (["I500"], ["U051", "K735"], None),  # K73 (valid from April 2017)
    (["I500"], ["K651"], ["chronic"]),  # K65 is not on the list
    # (d) E10-E14
    (["E119"], [], ["chronic"]),
    # (e) J41, J43, J44, J42X, J47X; J20 only with J41-J44/J47 in DIAG_3_CONCAT
    (["J42X"], [], ["chronic"]),
    (["J47X"], [], ["chronic"]),
    (["J20.9"], [], None),
    (["J209", "J449"], [], ["chronic"]),
    (["J209", "I10"], [], None),
    # (f) I20, I25; excluded with OPCS-4 A-H, I, J-T, V, W, X0, X1, X2, X4, X5 in ANY position
    (["I209"], [], ["chronic"]),
    (["I251"], [], ["chronic"]),
    (["I209"], ["U051", "K401"], None),  # any position (the NHS Institute list looked at the primary only)
    (["I251"], ["X403"], None),
    (["I209"], ["U051", "X301", "Y981"], ["chronic"]),  # U, X3, Y are not listed
    (["I249"], [], None),  # I24 is not in the specification (NHS Institute only)
    # (g) D51, D52, D50.1, D50.8, D50.9
    (["D509"], [], ["chronic"]),
    (["D519"], [], ["chronic"]),
    (["D500"], [], None),
    # (h) I10X, I11.9, excluded with the cardiac list
    (["I10X"], [], ["chronic"]),  # X-suffixed code still matches I10
    (["i10.-"], [], ["chronic"]),  # lower case, dotted, dash-padded
    (["I119"], ["U051", "K501"], None),
    # (i) I48, G40, G41, F00-F03; G40/G41 are also NHS Institute acute (convulsions and epilepsy)
    (["I48X"], [], ["chronic"]),
    (["F03X"], [], ["chronic"]),
    (["G409"], [], ["acute", "chronic"]),
    (["R568"], [], ["acute"]),  # convulsions: NHS Institute acute, not in NHS OF 2.3.i
    (["E43X"], [], None),  # nutritional deficiency: NHS Institute chronic only, not in the specification
    # other groups
    (["J181"], [], ["vaccine_preventable"]),  # pneumonia ...
    (["J181", "D571"], [], None),  # ... excluded with sickle-cell disease in a secondary position
    (["N390"], [], ["acute"]),  # urinary tract infection
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
    spell = single_spells[f"acsc{index}"]
    assert spell["acsc_groups"] == case[2]
    assert spell["acsc_group"] == (", ".join(case[2]) if case[2] else None)
    assert spell["is_acsc"] is (case[2] is not None)


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
    assert one(con, "SELECT is_acsc, acsc_groups FROM clin_spells") == {"is_acsc": False, "acsc_groups": None}


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


# NHS OF 2.3.i v1.15 filters 4 (EPISTAT 1 or 3), 8 (ADMISORC not 51-53) and 10 (CLASSPAT 1) on the first
# episode: they restrict the chronic group only; a field not delivered passes. (fields, chronic?, acute?)
CHRONIC_FILTER_CASES = [
    ({}, True, True),
    ({"admission_source": "51"}, False, True),  # transfer from another provider
    ({"admission_source": "53"}, False, True),
    ({"admission_source": "49"}, True, True),
    ({"patient_classification": "1"}, True, True),
    ({"patient_classification": "2"}, False, True),  # day case
    ({"patient_classification": "5"}, False, True),  # mothers and babies
    ({"episode_status": "1"}, True, True),  # unfinished episodes count
    ({"episode_status": "3"}, True, True),
    ({"episode_status": "9"}, False, True),
]


@pytest.mark.parametrize(("fields", "chronic", "acute"), CHRONIC_FILTER_CASES)
def test_chronic_acsc_episode_filters(tmp_path: Path, fields: dict[str, str], chronic: bool, acute: bool) -> None:
    ics = Ics()
    ics.person("p1")
    ics.person("p2")
    ics.episode("p1", date(2023, 7, 1), date(2023, 7, 3), ["I500"], **fields)  # heart failure: chronic
    ics.episode("p2", date(2023, 7, 1), date(2023, 7, 3), ["N390"], **fields)  # UTI: acute
    con = build(ics, tmp_path, AS_OF)
    found = {r["person_key"]: r["is_acsc"] for r in rows(con, "SELECT person_key, is_acsc FROM clin_spells")}
    assert found == {"p1": chronic, "p2": acute}


def test_multi_group_admission_counts_once_per_admission_and_once_in_each_group(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    ics.episode("p1", date(2023, 7, 1), date(2023, 7, 3), ["B181"])  # chronic and vaccine-preventable
    ics.episode("p1", date(2023, 9, 1), date(2023, 9, 3), ["N390"])  # acute
    con = build(ics, tmp_path, AS_OF)
    stays = rows(con, "SELECT acsc_groups FROM clin_stays ORDER BY admission_date")
    assert [s["acsc_groups"] for s in stays] == [["chronic", "vaccine_preventable"], ["acute"]]
    by_group = dict(
        con.execute("SELECT g, count(*) FROM (SELECT unnest(acsc_groups) AS g FROM clin_stays) GROUP BY g").fetchall()
    )
    assert by_group == {"chronic": 1, "vaccine_preventable": 1, "acute": 1}
    assert one(con, "SELECT acsc_admissions_24m FROM asof_features")["acsc_admissions_24m"] == 2


def test_spells_group_on_admission_date_and_spell_number(tmp_path: Path) -> None:
    # NHS Digital provider spells: person, ADMIDATE, provider, PROVSPNOPS.
    ics = Ics()
    ics.person("p1")
    ics.episode("p1", date(2023, 5, 1), date(2023, 5, 3), spell_id="A1", episode_order=1)
    ics.episode("p1", date(2023, 5, 1), date(2023, 5, 3), spell_id="A1", episode_order=2)
    ics.episode("p1", date(2023, 6, 1), date(2023, 6, 3), spell_id="A1")  # same number, another admission
    con = build(ics, tmp_path, AS_OF)
    found = rows(con, "SELECT admission_date, episode_count FROM clin_spells ORDER BY admission_date")
    assert [(r["admission_date"], r["episode_count"]) for r in found] == [(date(2023, 5, 1), 2), (date(2023, 6, 1), 1)]


def test_regular_attenders_are_single_episode_spells_and_never_admissions(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    # Two regular day attendances (CLASSPAT 3) delivered under one spell number, and a regular night
    # attendance (CLASSPAT 4) recorded with an emergency method: three spells, no stays.
    for day in (2, 9):
        ics.episode(
            "p1",
            date(2023, 5, day),
            date(2023, 5, day),
            spell_id="R1",
            patient_classification="3",
            admission_method="13",
            episode_start=date(2023, 5, day),
        )
    ics.episode("p1", date(2023, 5, 20), date(2023, 5, 21), ["I500"], patient_classification="4")
    ics.episode("p1", date(2023, 6, 1), date(2023, 6, 1), admission_method="11", patient_classification="2")
    ics.episode("p1", date(2023, 7, 1), date(2023, 7, 1), admission_method="21", patient_classification="2")
    con = build(ics, tmp_path, AS_OF)
    spells = rows(
        con,
        "SELECT admission_date, is_regular_attender, is_day_case, is_emergency, is_acsc, stay_key "
        "FROM clin_spells ORDER BY admission_date",
    )
    assert [(s["is_regular_attender"], s["is_day_case"], s["is_emergency"]) for s in spells] == [
        (True, False, False),
        (True, False, False),
        (True, False, False),
        (False, True, False),  # elective (ADMIMETH 11) with CLASSPAT 2: a day case
        (False, False, True),  # emergency with CLASSPAT 2: not a day case (nhp_data: elective only)
    ]
    assert [s["stay_key"] is None for s in spells] == [True, True, True, False, False]
    assert spells[2]["is_acsc"] is False
    assert one(con, "SELECT count(*) AS n FROM clin_stays")["n"] == 2
    features = one(con, "SELECT emergency_admissions_24m, other_admissions_12m, acsc_admissions_24m FROM asof_features")
    assert features == {"emergency_admissions_24m": 1, "other_admissions_12m": 1, "acsc_admissions_24m": 0}


def test_missing_patient_classification_changes_nothing(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    ics.episode("p1", date(2023, 5, 1), date(2023, 5, 1), admission_method="11")
    con = build(ics, tmp_path, AS_OF)
    spell = one(con, "SELECT is_regular_attender, is_day_case, stay_key IS NOT NULL AS has_stay FROM clin_spells")
    assert spell == {"is_regular_attender": False, "is_day_case": False, "has_stay": True}
