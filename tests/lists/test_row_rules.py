"""Known answers for what every list row says: in hospital now, emergency discharge, already managed, impactability.

Rules and parameters from src/popheath/lists/row_rules.yaml (ed_recent_days 2, community_days 28,
acsc_window_months 12, recent_months 6, rise_min_increase 1); code words from lists/codes.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from popheath import config
from popheath.errors import InputError
from popheath.lists import code_descriptions, files, release
from popheath.lists.row_rules import impactability_note, load_row_rules, managed_note, plural
from popheath.stages import publish, segment

from .listworld import Attendance, Contact, P, Spell, World, settings_for, tok

AS_OF = date(2025, 4, 1)
DAY = timedelta(days=1)


def _list(settings: config.Settings) -> tuple[release.Release, list[dict[str, str]]]:
    segment.run(settings, AS_OF)
    publish.run(settings, AS_OF)
    current = release.current_release(release.lists_root(settings.paths.outputs))
    assert current is not None
    return current, files.read_csv(current.path / "pcn" / "PCN1" / files.LIST_FILE).to_dict("records")


def test_people_in_hospital_are_shown_first_and_held_off_the_call_list(world: World, settings: config.Settings) -> None:
    # Capacity 3. By risk: inpatient (open emergency stay, as in the demo), A&E yesterday, four to call,
    # then an inpatient ranked below the last person to call (not listed: would not have been called).
    inpatient, ed_recent, ed_old, low_inpatient = tok(1), tok(2), tok(3), tok(9)
    callers = [tok(4), tok(5), tok(6), tok(7)]
    world.spells = [
        Spell(inpatient, date(2025, 3, 25), None),  # admitted, no discharge: in hospital now
        Spell(inpatient, date(2024, 10, 1), date(2024, 10, 3)),  # discharged earlier: not "days since"
        Spell(callers[0], date(2025, 3, 1), date(2025, 3, 11), diagnosis="F000", specialty="100"),
        Spell(callers[1], date(2025, 3, 20), date(2025, 4, 3)),  # discharged after the as-of date: inpatient
        Spell(low_inpatient, date(2025, 3, 30), None),
    ]
    world.attendances = [
        Attendance(ed_recent, AS_OF - DAY, "01"),  # latest ED day of data is 2025-03-31: within 2 days
        Attendance(ed_old, AS_OF - 3 * DAY, "03"),  # 3 days before the end of the data: not in hospital
    ]
    people = [
        P(inpatient, risk=0.99),
        P(ed_recent, risk=0.98),
        P(callers[0], risk=0.97),
        P(callers[1], risk=0.96),
        P(ed_old, risk=0.95),
        P(callers[2], risk=0.94),
        P(callers[3], risk=0.93),
        P(low_inpatient, risk=0.10),
    ]
    world.add(AS_OF, people)
    current, rows = _list(settings)
    by_token = {r["person_token"]: r for r in rows}
    # Held rows first (by risk), then the call list: 3 people to call, none in hospital.
    assert [r["person_token"] for r in rows] == [inpatient, ed_recent, callers[1], callers[0], ed_old, callers[2]]
    assert [r["rank"] for r in rows] == ["", "", "", "1", "2", "3"]
    assert [r["in_hospital_now"] for r in rows] == ["Y", "Y", "Y", "N", "N", "N"]
    assert all(r["in_hospital_now"] == "N" for r in rows if r["rank"])
    assert low_inpatient not in by_token
    assert by_token[inpatient]["in_hospital_detail"] == "in hospital: admitted 2025-03-25, no discharge recorded"
    assert by_token[ed_recent]["in_hospital_detail"] == (
        "A&E attendance on 2025-03-31 (consultant-led 24-hour emergency department)"
    )
    # Days since the last EMERGENCY discharge; blank for people in hospital now.
    assert by_token[inpatient]["days_since_emergency_discharge"] == ""
    assert by_token[callers[0]]["days_since_emergency_discharge"] == "21"
    assert by_token[callers[0]]["last_emergency_diagnosis"] == "F00.0 Dementia in Alzheimer's disease"
    assert by_token[callers[0]]["last_emergency_specialty"] == "100 General Surgery Service"
    assert by_token[inpatient]["last_emergency_diagnosis"] == (
        "J44.1, a code for chronic obstructive pulmonary disease (COPD)"
    )
    assert by_token[ed_old]["last_ed_attendance"] == (
        "2025-03-29, other A&E or minor injury unit (including urgent treatment centres) (type 03)"
    )
    assert by_token[callers[0]]["risk_rank"] == "3" and by_token[callers[1]]["risk_rank"] == "4"
    counts = current.manifest["counts"]
    assert counts["listed_per_pcn"] == {"PCN1": 6} and counts["in_hospital_held_per_pcn"] == {"PCN1": 3}
    practice = files.read_csv(current.path / "pcn/PCN1/practices/A81001.csv")
    assert practice["practice_rank"].tolist() == ["", "", "", "1", "2", "3"]


def test_already_managed_end_of_life_care_home_and_impactability(world: World, settings: config.Settings) -> None:
    managed, rising, quiet = tok(1), tok(2), tok(3)
    world.contacts = [
        Contact(managed, AS_OF - 10 * DAY, "district_nursing"),
        Contact(quiet, AS_OF - 10 * DAY, "podiatry"),  # not a managing team
        Contact(quiet, AS_OF - 40 * DAY, "community_matron"),  # more than 28 days ago
    ]
    # rising: 2 emergency admissions in the last 6 months (1 ACSC), 1 in the 6 before (ACSC); 3 in 12 months.
    world.spells = [
        Spell(rising, date(2025, 2, 1), date(2025, 2, 3), acsc=True),
        Spell(rising, date(2025, 3, 1), date(2025, 3, 2), acsc=False, diagnosis="U071"),
        Spell(rising, date(2024, 8, 1), date(2024, 8, 2), acsc=True),
        Spell(rising, date(2024, 1, 1), date(2024, 1, 2), acsc=True),  # more than 12 months ago
    ]
    world.add(
        AS_OF,
        [P(managed, risk=0.9, eol=True), P(rising, risk=0.8, care_home=True), P(quiet, risk=0.7)],
    )
    _current, rows = _list(settings)
    by_token = {r["person_token"]: r for r in rows}
    assert (by_token[managed]["already_managed"], by_token[managed]["managed_by"]) == (
        "Y",
        "district nursing contact on 2025-03-22",
    )
    assert (by_token[quiet]["already_managed"], by_token[quiet]["managed_by"]) == ("N", "")
    assert by_token[managed]["end_of_life"] == "Y" and by_token[rising]["end_of_life"] == "N"
    assert by_token[rising]["care_home"] == "Y" and by_token[managed]["care_home"] == "N"
    assert by_token[rising]["impactability_note"] == (
        "2 of 3 emergency admissions in the last 12 months were for conditions usually managed outside hospital; "
        "rising: 2 emergency admissions in the last 6 months, 1 in the 6 months before"
    )
    assert by_token[rising]["use_rising"] == "Y"
    assert by_token[rising]["last_emergency_diagnosis"] == "U07.1 (no description shipped)"
    assert (by_token[quiet]["impactability_note"], by_token[quiet]["use_rising"]) == ("", "N")


def test_notes_in_words() -> None:
    rules = load_row_rules()
    assert plural(1, "emergency admission") == "1 emergency admission"
    assert plural(0, "emergency admission") == "0 emergency admissions"
    assert impactability_note(1, 1, 1, 1, rules) == (
        "1 of 1 emergency admission in the last 12 months was for conditions usually managed outside hospital",
        False,
    )
    assert impactability_note(0, 0, 0, 0, rules) == ("", False)
    assert impactability_note(None, None, 1, 0, rules) == (
        "rising: 1 emergency admission in the last 6 months, 0 in the 6 months before",
        True,
    )
    summary = "on caseload since 2025-03-02"
    assert managed_note(None, "already_on_caseload", summary, rules) == summary
    assert managed_note("district nursing contact on 2025-03-20", "declined", "declined on 2025-03-01", rules) == (
        "district nursing contact on 2025-03-20"
    )


def test_every_row_rule_needs_a_source(tmp_path: Path) -> None:
    rules = load_row_rules()
    assert set(rules.sources) == {"in_hospital_now", "emergency_discharge", "already_managed", "impactability"}
    assert "Milbank Q 2010;88(2):240-55" in rules.sources["impactability"]
    text = rules.source.read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("ed_recent_days: 2", "ed_recent_days: two"))
    with pytest.raises(InputError, match="ed_recent_days"):
        load_row_rules(broken)
    missing = tmp_path / "missing.yaml"
    missing.write_text("version: x\nrules:\n  in_hospital_now: {ed_recent_days: 2}\n")
    with pytest.raises(InputError, match=r"in_hospital_now\.source"):
        load_row_rules(missing)


def test_code_descriptions_come_from_the_shipped_lists() -> None:
    table = code_descriptions.diagnosis_descriptions().set_index("code")
    assert table.loc["F00", "description"] == "Dementia in Alzheimer's disease"  # HFRS: WHO 3-character title
    assert table.loc["F00", "kind"] == "title"
    assert table.loc["I50", "description"] == "congestive heart failure" and table.loc["I50", "kind"] == "condition"
    assert table.index.is_unique


def test_procedures_and_specialties_in_words(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, capacity_per_pcn=10)
    world = World(settings.paths.warehouse)
    # OPCS-4.10 titles as NHS Digital publishes them with HES 2023-24; chapter titles when a code has none;
    # treatment functions from the HES TRETSPEF list (medical 3xx, elderly medicine 430, mental health 7xx).
    hip, chapter_only, unknown, none, medical = tok(1), tok(2), tok(3), tok(4), tok(5)
    world.spells = [
        Spell(hip, date(2025, 3, 1), date(2025, 3, 8), specialty="110", procedures=("W371", "Y801")),
        Spell(chapter_only, date(2025, 3, 2), date(2025, 3, 3), specialty="430", procedures=("W999",)),
        Spell(unknown, date(2025, 3, 2), date(2025, 3, 3), specialty="999", procedures=("I011",)),
        Spell(none, date(2025, 3, 2), date(2025, 3, 3), specialty="710"),
        Spell(medical, date(2025, 3, 2), date(2025, 3, 3), specialty="326", procedures=("X352",)),
    ]
    world.add(AS_OF, [P(t, risk=0.9 - n / 100) for n, t in enumerate((hip, chapter_only, unknown, none, medical))])
    _current, rows = _list(settings)
    by_token = {r["person_token"]: r for r in rows}
    assert by_token[hip]["last_emergency_procedure"] == (
        "Primary total prosthetic replacement of hip joint using cement (OPCS W37.1)"
    )
    assert by_token[hip]["last_emergency_specialty"] == "110 Trauma and Orthopaedic Service"
    assert by_token[chapter_only]["last_emergency_procedure"] == (
        "a procedure in OPCS chapter W, Other Bones and Joints (OPCS W99.9)"
    )
    assert by_token[chapter_only]["last_emergency_specialty"] == "430 Elderly Medicine Service"
    assert by_token[unknown]["last_emergency_procedure"] == "OPCS I01.1 (no description shipped)"  # no chapter I
    assert by_token[unknown]["last_emergency_specialty"] == "treatment function 999 (no description shipped)"
    assert by_token[none]["last_emergency_procedure"] == ""
    assert by_token[none]["last_emergency_specialty"] == "710 Adult Mental Health Service"
    assert by_token[medical]["last_emergency_procedure"] == "Intravenous chemotherapy (OPCS X35.2)"
    assert by_token[medical]["last_emergency_specialty"] == "326 Acute Internal Medicine Service"


def test_procedure_and_treatment_function_tables_are_complete_and_well_formed() -> None:
    titles = files_frame(code_descriptions.PROCEDURES)
    chapters = files_frame(code_descriptions.PROCEDURE_CHAPTERS).set_index("chapter")["title"]
    functions = files_frame(code_descriptions.TREATMENT_FUNCTIONS).set_index("code")["description"]
    assert titles["code"].str.fullmatch(r"[A-Z]\d{3}").all() and titles["code"].is_unique and len(titles) == 9259
    assert (titles["description"].str.strip() != "").all()
    # OPCS-4.10 chapters A-Z (no I), O the overflow chapter; every titled code falls in one.
    assert "".join(chapters.index) == "ABCDEFGHJKLMNOPQRSTUVWXYZ"
    assert set(titles["code"].str[0]) <= set(chapters.index)
    assert chapters["K"] == "Heart" and chapters["W"] == "Other Bones and Joints"
    assert functions.index.str.fullmatch(r"\d{3}").all() and functions.index.is_unique and len(functions) == 178
    assert functions["100"] == "General Surgery Service" and functions["300"] == "General Internal Medicine Service"
    assert functions["420"] == "Paediatric Service" and functions["920"] == "Diabetic Education Service"
    families = functions.index.str[0].value_counts().to_dict()
    assert {f: families.get(f, 0) > 0 for f in "12345678"} == dict.fromkeys("12345678", True)


def files_frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_every_code_table_names_its_source_version_and_coverage() -> None:
    document = yaml.safe_load((code_descriptions.CODES_DIR / "sources.yaml").read_text(encoding="utf-8"))
    shipped = {path.name for path in code_descriptions.CODES_DIR.glob("*.csv")}
    assert shipped == {name for name in document["files"] if name.endswith(".csv")}
    for name in shipped:
        entry = document["files"][name]
        assert entry["source"] and entry["version"] and entry["covered"] and entry["licence"], name
        assert list(files_frame(code_descriptions.CODES_DIR / name).columns) == entry["columns"], name
