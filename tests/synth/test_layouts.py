"""The generator's national acute layouts: published headers, NCDR's three tables, HES, ECDS codes, planted rates.

Expected headers are restated here from the shared reference national_formats.md (1.1 (a) HES APC
after The-Strategy-Unit/hes_processing apc/bronze/schemas.py; 1.1 (b) SUS+ in NCDR after
NHS-Transformation-Unit/NCDR_Reference apce_main.sql; 1.2 ECDS in NCDR/UDAL after ecds_main.sql
and nhp_data raw_data/ecds.py; 1.3 OP), not imported from the generator.
"""

from __future__ import annotations

import csv
import dataclasses
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from popheath import config
from popheath.config import PROJECT_ROOT
from popheath.quality.mapping import DEFAULT_CONNECTORS, load_mapping
from popheath.stages import ingest
from popheath.synth import generate
from popheath.synth.ecds_codes import CHIEF_COMPLAINTS_FILE, DIAGNOSES_FILE
from popheath.synth.params import EcdsRecords

from .extract_files import read, read_table, table_files

PEOPLE, SEED = 3_000, 11
APCE = [
    "APCE_Ident", "Der_Pseudo_NHS_Number", "Hospital_Spell_No", "Der_Provider_Code", "Admission_Date",
    "Discharge_Date", "Episode_Start_Date", "Episode_End_Date", "Episode_Number", "Admission_Method",
    "Source_of_Admission", "Discharge_Destination", "Discharge_Method", "Intended_Management",
    "Patient_Classification", "Treatment_Function_Code", "Spell_Core_HRG", "Ethnic_Group",
]  # fmt: skip
DIAG = ["APCE_Ident", "Primary_Diagnosis_Code"] + [f"Secondary_Diagnosis_Code_{i}" for i in range(1, 13)]
PROC = ["APCE_Ident", "Primary_Procedure_Code", "Primary_Procedure_Date"] + [
    f"Secondary_Procedure_Code_{i}" for i in range(1, 7)
]
OPA = [
    "OPA_Ident", "Der_Pseudo_NHS_Number", "Der_Provider_Code", "Appointment_Date", "Attendance_Status",
    "First_Attendance", "Treatment_Function_Code", "Core_HRG", "Ethnic_Category",
]  # fmt: skip
EC_CORE = [
    "EC_Ident", "Der_Pseudo_NHS_Number", "Der_Provider_Code", "Arrival_Date", "Arrival_Time", "EC_Department_Type",
    "EC_AttendanceCategory", "EC_Arrival_Mode_SNOMED_CT", "EC_Chief_Complaint_SNOMED_CT", "EC_Acuity_SNOMED_CT",
    "Discharge_Destination_SNOMED_CT", "Der_EC_Diagnosis_All", "Der_Dupe_Flag", "Ethnic_Category",
]  # fmt: skip
EC_DIAGNOSIS = ["EC_Ident", "EC_Diagnosis_01", "EC_Diagnosis_02"]
HES_APC = [
    "EPIKEY", "TOKEN_PERSON_ID", "PROVSPNOPS", "PROCODE3", "ADMIDATE", "DISDATE", "EPISTART", "EPIEND", "EPIORDER",
    "ADMIMETH", "ADMISORC", "DISDEST", "DISMETH", "CLASSPAT", "EPISTAT",
    *[f"DIAG_{i:02d}" for i in range(1, 14)], *[f"OPERTN_{i:02d}" for i in range(1, 8)], "SUSHRG", "TRETSPEF",
]  # fmt: skip
HES_OPA = ["ATTENDKEY", "TOKEN_PERSON_ID", "PROCODE3", "APPTDATE", "ATTENDED", "FIRSTATT", "TRETSPEF", "SUSHRG"]
# ECDS acuity (nhp_data ecds.py, national_formats.md 1.2): immediate, very urgent, urgent, standard, non-urgent.
ACUITY = {"1064891000000107", "1064911000000105", "1064901000000108", "1077241000000103", "1077251000000100"}
ELECTIVE = ["11", "12", "13"]
EMERGENCY = ["21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28"]


@pytest.fixture(scope="module")
def ncdr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ncdr")
    generate.write(PEOPLE, SEED, out, ecds_diagnosis_table=True)
    return out


@pytest.fixture(scope="module")
def hes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hes")
    generate.write(PEOPLE, SEED, out, acute_layout="hes")
    return out


def headers(out: Path, source: str, table: str) -> set[tuple[str, ...]]:
    return {tuple(pl.read_parquet_schema(f)) for f in table_files(out, source, table)}


def codes(path: Path) -> set[str]:
    with path.open(encoding="utf-8") as handle:
        return {row["SNOMED_Code"] for row in csv.DictReader(handle)}


def test_ncdr_and_ecds_files_have_exactly_the_published_headers(ncdr: Path) -> None:
    for source, table, expected in (
        ("apc", "tbl_Data_SEM_APCE", APCE), ("apc", "tbl_Data_SEM_APCE_Diag", DIAG),
        ("apc", "tbl_Data_SEM_APCE_Proc", PROC), ("opa", "tbl_Data_SEM_OPA", OPA),
        ("ecds", "EC_Core", EC_CORE), ("ecds", "EC_Diagnosis", EC_DIAGNOSIS),
    ):  # fmt: skip
        assert len(table_files(ncdr, source, table)) == 48, table
        assert headers(ncdr, source, table) == {tuple(expected)}, table
    assert not list((ncdr / "raw" / "ecds").glob("*/*ICD10*"))
    diagnoses = read_table(ncdr, "apc", "tbl_Data_SEM_APCE_Diag")
    # Every position filled: a code, or NCDR's '-' filler where there is none.
    assert diagnoses.null_count().sum_horizontal().item() == 0
    assert (diagnoses["Secondary_Diagnosis_Code_12"] == "-").mean() > 0.9  # type: ignore[operator]
    assert diagnoses["APCE_Ident"].is_unique().all()


def test_hes_files_have_the_published_headers(hes: Path) -> None:
    assert headers(hes, "apc", "apc") == {tuple(HES_APC)}
    assert headers(hes, "opa", "opa") == {tuple(HES_OPA)}
    assert headers(hes, "ecds", "EC_Core") == {tuple(EC_CORE)}
    assert not table_files(hes, "apc", "tbl_Data_SEM_APCE")


def test_ncdr_tables_rejoin_to_the_same_episodes_as_the_hes_file(ncdr: Path, hes: Path) -> None:
    joined = read(ncdr, "apc")
    flat = read_table(hes, "apc", "apc")
    names = {
        "APCE_Ident": "EPIKEY", "Der_Pseudo_NHS_Number": "TOKEN_PERSON_ID", "Hospital_Spell_No": "PROVSPNOPS",
        "Admission_Date": "ADMIDATE", "Episode_End_Date": "EPIEND", "Episode_Number": "EPIORDER",
        "Admission_Method": "ADMIMETH", "Patient_Classification": "CLASSPAT", "Spell_Core_HRG": "SUSHRG",
        **{c: f"DIAG_{i + 1:02d}" for i, c in enumerate(DIAG[1:])},
        **{c: f"OPERTN_{i + 1:02d}" for i, c in enumerate(PROC[1:2] + PROC[3:])},
    }  # fmt: skip
    assert joined.height == flat.height
    assert joined.select([pl.col(a).alias(b) for a, b in names.items()]).equals(flat.select(list(names.values())))
    # The procedure date is the episode's start; every episode with a procedure has one Proc row.
    procedures = read_table(ncdr, "apc", "tbl_Data_SEM_APCE_Proc")
    starts = joined.unique("APCE_Ident").select("APCE_Ident", "Episode_Start_Date")
    dated = procedures.join(starts, on="APCE_Ident")
    assert dated.height == procedures.height and (dated["Primary_Procedure_Date"] == dated["Episode_Start_Date"]).all()
    assert procedures.height == flat.unique("EPIKEY").filter(pl.col("OPERTN_01").is_not_null()).height
    assert set(flat["EPISTAT"]) == {"1", "3"}
    assert (flat.filter(pl.col("EPIEND").is_null())["EPISTAT"] == "1").all()


def test_day_cases_and_regular_attenders_are_same_day_electives(ncdr: Path) -> None:
    apc = read(ncdr, "apc").unique("APCE_Ident")
    same_day = pl.col("Discharge_Date") == pl.col("Admission_Date")
    elective = apc.filter(pl.col("Admission_Method").is_in(ELECTIVE))
    # Day case (2) or regular day attender (3, chemotherapy Z511 only) exactly when discharged the same day.
    assert (elective.filter(same_day)["Patient_Classification"].is_in(["2", "3"])).all()
    assert (elective.filter(~same_day)["Patient_Classification"] == "1").all()
    regular = apc.filter(pl.col("Patient_Classification") == "3")
    assert regular.height > 0 and (regular["Primary_Diagnosis_Code"].str.to_uppercase().str.starts_with("Z51")).all()
    # ~78% of elective spells are same-day (activity.py), so day cases are most elective episodes.
    share = elective.filter(same_day).height / elective.height
    assert 0.65 < share < 0.85
    others = apc.filter(~pl.col("Admission_Method").is_in(ELECTIVE))
    assert (others["Patient_Classification"] == "1").all()
    assert (apc["Intended_Management"] == apc["Patient_Classification"]).all()
    assert set(apc["Patient_Classification"]) == {"1", "2", "3"}


def test_ecds_codes_come_from_the_shipped_etos_lists(ncdr: Path) -> None:
    core = read_table(ncdr, "ecds", "EC_Core")
    diagnoses = core["Der_EC_Diagnosis_All"].str.split(",").explode()
    assert set(diagnoses) <= codes(DIAGNOSES_FILE)
    assert diagnoses.str.contains(r"^\d{6,18}$").all()  # SNOMED CT concept ids, never ICD-10
    assert set(core["EC_Chief_Complaint_SNOMED_CT"]) <= codes(CHIEF_COMPLAINTS_FILE)
    assert set(core["EC_Acuity_SNOMED_CT"]) == ACUITY
    falls_list = PROJECT_ROOT / "src" / "popheath" / "clinical" / "codelists" / "ecds_chief_complaint_falls.csv"
    with falls_list.open(encoding="utf-8") as handle:
        falls = {row["snomed_code"] for row in csv.DictReader(handle)}
    fall = core.filter(pl.col("EC_Chief_Complaint_SNOMED_CT").is_in(list(falls)))
    assert 0.01 < fall.height / core.height < 0.2
    assert set(fall["Der_EC_Diagnosis_All"].str.split(",").list.first()) <= {
        "359817006", "283025007", "127302008", "274192001", "111640008", "42188001", "283040009", "60667009",
    }  # fmt: skip  # hip fracture (admitted) and the injuries of attendances sent home
    table = read_table(ncdr, "ecds", "EC_Diagnosis")
    split = core.unique("EC_Ident").select(
        "EC_Ident",
        pl.col("Der_EC_Diagnosis_All").str.split(",").list.get(0).alias("EC_Diagnosis_01"),
        pl.col("Der_EC_Diagnosis_All").str.split(",").list.get(1, null_on_oob=True).alias("EC_Diagnosis_02"),
    )
    assert table.sort("EC_Ident").equals(split.sort("EC_Ident"))
    assert 0.05 < table["EC_Diagnosis_02"].is_not_null().mean() < 0.15  # type: ignore[operator]


def test_follow_ups_and_duplicates_are_planted_at_their_rates(ncdr: Path) -> None:
    rates = EcdsRecords()
    core = read_table(ncdr, "ecds", "EC_Core").unique("EC_Ident")
    flagged = core.filter(pl.col("Der_Dupe_Flag") == "1")
    planned = core.filter(pl.col("EC_AttendanceCategory") == "4")
    originals = core.filter(pl.col("Der_Dupe_Flag") == "0", pl.col("EC_AttendanceCategory") != "4")
    sent_home = originals.filter(pl.col("Discharge_Destination_SNOMED_CT") != "306706006")
    assert set(core["Der_Dupe_Flag"]) == {"0", "1"} and set(core["EC_AttendanceCategory"]) == {"1", "2", "3", "4"}

    def near(observed: int, rate: float, base: int) -> bool:
        expected = rate * base
        return abs(observed - expected) <= 4 * expected**0.5 + 3

    # Duplicates copy every original at the rate; each has its original (same person, arrival, provider).
    assert near(
        flagged.height - planned.filter(pl.col("Der_Dupe_Flag") == "1").height, rates.duplicate, originals.height
    )
    twin = ["Der_Pseudo_NHS_Number", "Arrival_Date", "Arrival_Time", "Der_Provider_Code", "Der_EC_Diagnosis_All"]
    assert flagged.join(core.filter(pl.col("Der_Dupe_Flag") == "0"), on=twin, how="anti").height == 0
    # Planned follow-ups: of attendances sent home, minus those that would fall after the year they belong to.
    first_planned = planned.filter(pl.col("Der_Dupe_Flag") == "0").height
    assert (
        first_planned
        <= rates.planned_follow_up * sent_home.height + 4 * (rates.planned_follow_up * sent_home.height) ** 0.5
    )
    assert first_planned >= 0.8 * rates.planned_follow_up * sent_home.height
    assert (planned["EC_Chief_Complaint_SNOMED_CT"] == "225358003").all()
    for category, rate in (("2", rates.unplanned_follow_up_here), ("3", rates.unplanned_follow_up_elsewhere)):
        assert near(sent_home.filter(pl.col("EC_AttendanceCategory") == category).height, rate, sent_home.height)
    admitted = originals.filter(pl.col("Discharge_Destination_SNOMED_CT") == "306706006")
    assert (admitted["EC_AttendanceCategory"] == "1").all()


def _ingest(out: Path, connectors: dict[str, str]) -> config.Settings:
    base = config.Settings()
    paths = dataclasses.replace(
        base.paths, raw=out / "raw", truth=out / "truth", warehouse=out / "wh.duckdb", outputs=out / "outputs",
        partitions=out / "partitions",
    )  # fmt: skip
    settings = dataclasses.replace(
        base, paths=paths, ingest=dataclasses.replace(base.ingest, connectors=connectors, data_docs=False)
    )
    ingest.run(settings, date(2025, 4, 1))
    return settings


def _query(settings: config.Settings, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(settings.paths.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_both_layouts_load_with_the_shipped_connectors(tmp_path: Path) -> None:
    """HES with the shipped hes connector and NCDR with ncdr: every file accounted for, the same episodes."""
    loaded = {}
    for layout, connectors in (
        ("ncdr", DEFAULT_CONNECTORS),
        ("hes", {"apc": "hes", "opa": "hes", "ecds": "ecds"}),
    ):
        out = tmp_path / layout
        generate.write(400, 5, out, acute_layout=layout)
        settings = _ingest(out, dict(connectors))
        audit = _query(
            settings, "SELECT source, file, rows_read, rows_loaded, rows_quarantined, outcome FROM load_audit"
        )
        assert {source for source, *_ in audit} == set(generate.SOURCES)
        totals: dict[str, list[int]] = {}
        for source, file, read_rows, loaded_rows, quarantined, outcome in audit:
            assert outcome == "loaded", file
            assert read_rows == loaded_rows + quarantined, file  # type: ignore[operator]
            total = totals.setdefault(str(source), [0, 0])
            total[0] += int(read_rows)  # type: ignore[call-overload]
            total[1] += int(loaded_rows)  # type: ignore[call-overload]
        for source, (read_rows, loaded_rows) in totals.items():
            assert loaded_rows >= 0.95 * read_rows, (layout, source)  # only the injected duplicates are left out
        loaded[layout] = _query(
            settings,
            "SELECT episode_id, person_id, admission_date, diagnoses, procedures, patient_classification "
            "FROM stg_apc ORDER BY episode_id",
        )
        # The HES layout has no ethnicity column (only NCDR's tables carry Ethnic_Category).
        loaded[layout + "_opa"] = _query(settings, "SELECT * EXCLUDE (_load_id, _source_file, _row_number, _delivery, "
                                         "ethnic_category) "
                                         "FROM stg_opa ORDER BY appointment_id")  # fmt: skip
    assert loaded["ncdr_opa"] == loaded["hes_opa"]
    maps_classpat = "patient_classification" in load_mapping("hes").sources["apc"].columns
    for ncdr_row, hes_row in zip(loaded["ncdr"], loaded["hes"], strict=True):
        assert ncdr_row[:5] == hes_row[:5]
        # The hes connector maps CLASSPAT once hes.yaml lists it; until then it loads no classification.
        assert hes_row[5] == (ncdr_row[5] if maps_classpat else None)
