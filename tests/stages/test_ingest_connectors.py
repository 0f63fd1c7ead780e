"""Multi-table connectors: SUS+ in NCDR/UDAL (APC episodes + diagnoses + procedures, OPA) and ECDS.

Known answers from tiny hand-made deliveries whose headers are the published ones: NCDR APC and OPA
from NHS-Transformation-Unit/NCDR_Reference src/sql_scripts/apce_main.sql and opa_main.sql (commit
09cbad9), ECDS from NCDR_Reference ecds_main.sql and The-Strategy-Unit/nhp_data raw_data/ecds.py
(restated in the shared reference national_formats.md sections 1.1 (b), 1.2, 1.3).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, time
from pathlib import Path

import duckdb
import pytest

from popheath.config import Settings
from popheath.errors import ConfigError, InputError
from popheath.ingest.connectors import assembly
from popheath.ingest.connectors.layouts import Layout, Table, load_layout
from popheath.ingest.deliveries import FileLoad
from popheath.quality.mapping import load_mapping
from popheath.stages import ingest

from .test_ingest_fixtures import TOKEN_A, TOKEN_B, assert_invariant, audit, query, settings_for, write_csv

AS_OF = date(2025, 4, 1)
CONNECTORS = {"apc": "ncdr", "opa": "ncdr", "ecds": "ecds"}

# tbl_Data_SEM_APCE (core, one row per episode) and its satellites, as in apce_main.sql.
APCE_HEADER = [
    "APCE_Ident", "Der_Pseudo_NHS_Number", "Hospital_Spell_No", "Der_Provider_Code", "Admission_Date",
    "Discharge_Date", "Episode_Start_Date", "Episode_End_Date", "Episode_Number", "Admission_Method",
    "Source_of_Admission", "Discharge_Destination", "Discharge_Method", "Intended_Management",
    "Patient_Classification", "Treatment_Function_Code",
]  # fmt: skip
DIAG_HEADER = [
    "APCE_Ident", "Primary_Diagnosis_Code", "Secondary_Diagnosis_Code_1", "Secondary_Diagnosis_Code_2",
    "Secondary_Diagnosis_Code_3",
]  # fmt: skip
PROC_HEADER = ["APCE_Ident", "Primary_Procedure_Code", "Primary_Procedure_Date"]
# EC_Core and the separate EC_Diagnosis table (EC_Diagnosis_01.._24), as in ecds_main.sql and nhp_data ecds.py.
EC_HEADER = [
    "EC_Ident", "Der_Pseudo_NHS_Number", "Der_Provider_Code", "Arrival_Date", "Arrival_Time", "EC_Department_Type",
    "EC_AttendanceCategory", "EC_Arrival_Mode_SNOMED_CT", "EC_Chief_Complaint_SNOMED_CT", "EC_Acuity_SNOMED_CT",
    "EC_Injury_Intent_SNOMED_CT", "Discharge_Destination_SNOMED_CT", "Der_Dupe_Flag", "SUS_HRG_Code",
    "SUS_Final_Price",
]  # fmt: skip
EC_DIAG_HEADER = ["EC_Ident"] + [f"EC_Diagnosis_{i:02d}" for i in range(1, 25)]
OPA_HEADER = [
    "OPA_Ident", "Der_Pseudo_NHS_Number", "Der_Provider_Code", "Appointment_Date", "Attendance_Status",
    "First_Attendance", "Treatment_Function_Code", "HRG_Code",
]  # fmt: skip

# SNOMED CT concept ids used as test values (none is ten digits, so none meets the NHS-number scan).
MI, ASTHMA, DIABETES = "22298006", "195967001", "44054006"
URGENT = "1064901000000108"  # acuity "urgent" (nhp_data ecds.py)


def apce_row(ident: str, person: str = TOKEN_A, **overrides: str) -> dict[str, str]:
    row = {
        "APCE_Ident": ident, "Der_Pseudo_NHS_Number": person, "Hospital_Spell_No": "S" + ident,
        "Der_Provider_Code": "RXX", "Admission_Date": "2024-07-01 00:00:00.000", "Discharge_Date": "2024-07-05",
        "Episode_Start_Date": "2024-07-01", "Episode_End_Date": "2024-07-05", "Episode_Number": "1",
        "Admission_Method": "21", "Source_of_Admission": "19", "Discharge_Destination": "19", "Discharge_Method": "1",
        "Intended_Management": "1", "Patient_Classification": "1", "Treatment_Function_Code": "300",
    }  # fmt: skip
    row.update(overrides)
    return row


def diag_row(ident: str, *codes: str) -> dict[str, str]:
    return dict(zip(DIAG_HEADER, [ident, *codes], strict=False))


def ec_row(ident: str, person: str = TOKEN_A, **overrides: str) -> dict[str, str]:
    row = {
        "EC_Ident": ident, "Der_Pseudo_NHS_Number": person, "Der_Provider_Code": "RXX", "Arrival_Date": "2024-07-01",
        "Arrival_Time": "14:35:00", "EC_Department_Type": "01", "EC_AttendanceCategory": "1",
        "EC_Arrival_Mode_SNOMED_CT": "", "EC_Chief_Complaint_SNOMED_CT": "29857009", "EC_Acuity_SNOMED_CT": URGENT,
        "EC_Injury_Intent_SNOMED_CT": "", "Discharge_Destination_SNOMED_CT": "306689006", "Der_Dupe_Flag": "0",
        "SUS_HRG_Code": "vb07z", "SUS_Final_Price": "152.5",
    }  # fmt: skip
    row.update(overrides)
    return row


def apc_delivery(root: Path, label: str = "2024-07") -> Path:
    """Three episodes; diagnoses with the '-' filler, one orphan and one duplicate diagnosis row; one procedure."""
    folder = root / "raw" / "apc" / label
    write_csv(
        folder / "tbl_Data_SEM_APCE.csv", APCE_HEADER, [apce_row("101"), apce_row("102", TOKEN_B), apce_row("103")]
    )
    write_csv(
        folder / "tbl_Data_SEM_APCE_Diag.csv",
        DIAG_HEADER,
        [
            diag_row("101", "J441-", "I10X-", "-", "E119-"),
            diag_row("102", "I500-"),
            diag_row("999", "J45X-"),  # no episode 999: orphan
            diag_row("102", "R69X-"),  # a second row for 102: duplicate
        ],
    )
    write_csv(
        folder / "tbl_Data_SEM_APCE_Proc.csv",
        PROC_HEADER,
        [{"APCE_Ident": "101", "Primary_Procedure_Code": "K40.1", "Primary_Procedure_Date": "2024-07-02"}],
    )
    return folder


def test_ncdr_apc_joins_diagnoses_and_procedures_on_apce_ident(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, connectors=CONNECTORS)
    apc_delivery(tmp_path)
    ingest.run(settings, AS_OF)
    rows = query(
        settings,
        "SELECT episode_id, person_id, spell_id, admission_date, diagnoses, procedures FROM stg_apc ORDER BY 1",
    )
    assert rows == [
        # '-' filler stripped; the blank '-' position dropped; primary first, secondaries in order.
        ("101", TOKEN_A, "S101", date(2024, 7, 1), ["J441", "I10", "E119"], ["K401"]),
        ("102", TOKEN_B, "S102", date(2024, 7, 1), ["I500"], []),
        ("103", TOKEN_A, "S103", date(2024, 7, 1), [], []),  # no diagnosis row: loads with no diagnoses
    ]
    quarantined = query(
        settings, "SELECT file, row_number, field, rule, value, failures, record FROM quarantine ORDER BY 2"
    )
    assert [(Path(str(f)).name, r, fld, rule, v) for f, r, fld, rule, v, _, _ in quarantined] == [
        ("tbl_Data_SEM_APCE_Diag.csv", 3, "APCE_Ident", "orphan_satellite_row", "999"),
        ("tbl_Data_SEM_APCE_Diag.csv", 4, "APCE_Ident", "duplicate_satellite_row", "102"),
    ]
    assert json.loads(str(quarantined[0][5]))[0]["detail"] == "no APCE_Ident 999 in tbl_Data_SEM_APCE"
    assert (
        json.loads(str(quarantined[1][5]))[0]["detail"] == "APCE_Ident 102 has an earlier row in tbl_Data_SEM_APCE_Diag"
    )
    assert json.loads(str(quarantined[0][6]))["Primary_Diagnosis_Code"] == "J45X-"  # the raw record, as delivered
    assert audit(settings) == {
        "tbl_Data_SEM_APCE.csv": (3, 3, 0, {}),
        "tbl_Data_SEM_APCE_Diag.csv": (4, 2, 2, {"orphan_satellite_row": 1, "duplicate_satellite_row": 1}),
        "tbl_Data_SEM_APCE_Proc.csv": (1, 1, 0, {}),
    }
    # Satellite columns the connector does not contribute are recorded as unmapped on their file.
    unmapped = {
        str(f): u for f, u in query(settings, "SELECT regexp_extract(file, '[^/]+$'), unmapped_columns FROM load_audit")
    }
    assert unmapped["tbl_Data_SEM_APCE_Proc.csv"] == ["Primary_Procedure_Date"]
    assert unmapped["tbl_Data_SEM_APCE.csv"] == ["Intended_Management"]
    assert_invariant(settings)


def test_core_only_delivery_loads_and_a_quarantined_core_row_takes_its_satellite_rows(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, connectors=CONNECTORS)
    folder = tmp_path / "raw" / "apc"
    write_csv(folder / "2024-06" / "apce.csv", APCE_HEADER, [apce_row("201")])
    write_csv(folder / "2024-07" / "apce.csv", APCE_HEADER, [apce_row("202"), apce_row("203", Admission_Date="x")])
    write_csv(folder / "2024-07" / "diag.csv", DIAG_HEADER, [diag_row("202", "I10X"), diag_row("203", "J441")])
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT episode_id, diagnoses FROM stg_apc ORDER BY 1") == [("201", []), ("202", ["I10"])]
    assert query(settings, "SELECT regexp_extract(file, '[^/]+$'), rule, value FROM quarantine ORDER BY 1") == [
        ("apce.csv", "invalid_date:admission_date", "x"),
        ("diag.csv", "core_row_quarantined", "203"),
    ]
    detail = query(settings, "SELECT failures FROM quarantine WHERE rule = 'core_row_quarantined'")[0][0]
    assert json.loads(str(detail))[0]["detail"] == "the tbl_Data_SEM_APCE row with APCE_Ident 203 was quarantined"
    assert audit(settings)["diag.csv"] == (2, 1, 1, {"core_row_quarantined": 1})
    assert_invariant(settings)


def test_unrecognised_file_and_satellite_without_core_reject_their_delivery(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, connectors=CONNECTORS)
    folder = tmp_path / "raw" / "apc"
    write_csv(folder / "2024-06" / "apce.csv", APCE_HEADER, [apce_row("301")])
    write_csv(folder / "2024-06" / "notes.csv", ["Note"], [{"Note": "x"}])
    write_csv(folder / "2024-07" / "diag.csv", DIAG_HEADER, [diag_row("302", "I10")])
    with pytest.raises(InputError, match=r"notes\.csv.*tbl_Data_SEM_APCE"):
        ingest.run(settings, AS_OF)
    settings = settings_for(tmp_path, connectors=CONNECTORS, fail_on_rejected=False)
    result = ingest.run(settings, AS_OF)
    assert "a delivery with a tbl_Data_SEM_APCE file" in " ".join(result.warnings)
    assert query(settings, "SELECT count(*) FROM stg_apc") == [(0,)]
    outcomes = query(settings, "SELECT DISTINCT regexp_extract(file, '[^/]+$'), outcome FROM load_audit ORDER BY 1")
    assert outcomes == [("apce.csv", "not_loaded"), ("diag.csv", "rejected"), ("notes.csv", "rejected")]


def ecds_canonical(settings: Settings) -> list[tuple[object, ...]]:
    return query(
        settings,
        "SELECT * EXCLUDE (_load_id, _source_file, _row_number, _delivery, _flags, _raw_values) FROM stg_ecds "
        "ORDER BY attendance_id",
    )


def test_ecds_diagnosis_list_split_and_diagnosis_table_give_the_same_rows(tmp_path: Path) -> None:
    listed = settings_for(tmp_path / "a", connectors=CONNECTORS)
    rows = [ec_row("EC1"), ec_row("EC2", TOKEN_B, Der_Dupe_Flag="1", EC_AttendanceCategory="3"), ec_row("EC3")]
    all_codes = {"EC1": f"{MI}, {ASTHMA},{DIABETES}", "EC2": ASTHMA, "EC3": ""}
    write_csv(
        tmp_path / "a" / "raw" / "ecds" / "2024-07" / "ec_core.csv",
        [*EC_HEADER, "Der_EC_Diagnosis_All"],
        [{**r, "Der_EC_Diagnosis_All": all_codes[r["EC_Ident"]]} for r in rows],
    )
    ingest.run(listed, AS_OF)
    expected = [
        # attendance_id, person_id, provider, arrival date and time, department type, arrival mode,
        # discharge destination, diagnosis_snomed (primary = first), icd10, ae; attendance category as
        # delivered, chief complaint, acuity, injury intent, all diagnoses in order, duplicate, HRG, price,
        # ethnic category (not delivered here).
        ("EC1", TOKEN_A, "RXX", date(2024, 7, 1), time(14, 35), "01", None, "306689006", MI, None, None,
         "1", "29857009", URGENT, None, [MI, ASTHMA, DIABETES], False, "VB07Z", 152.5, None),
        ("EC2", TOKEN_B, "RXX", date(2024, 7, 1), time(14, 35), "01", None, "306689006", ASTHMA, None, None,
         "3", "29857009", URGENT, None, [ASTHMA], True, "VB07Z", 152.5, None),
        ("EC3", TOKEN_A, "RXX", date(2024, 7, 1), time(14, 35), "01", None, "306689006", None, None, None,
         "1", "29857009", URGENT, None, [], False, "VB07Z", 152.5, None),
    ]  # fmt: skip
    assert ecds_canonical(listed) == expected

    tabled = settings_for(tmp_path / "b", connectors=CONNECTORS)
    folder = tmp_path / "b" / "raw" / "ecds" / "2024-07"
    write_csv(folder / "EC_Core.csv", EC_HEADER, rows)
    write_csv(
        folder / "EC_Diagnosis.csv",
        EC_DIAG_HEADER,
        [
            {"EC_Ident": "EC1", "EC_Diagnosis_01": MI, "EC_Diagnosis_02": ASTHMA, "EC_Diagnosis_03": DIABETES},
            {"EC_Ident": "EC2", "EC_Diagnosis_01": ASTHMA},
            {"EC_Ident": "EC9", "EC_Diagnosis_01": MI},  # no attendance EC9: orphan
        ],
    )
    ingest.run(tabled, AS_OF)
    assert ecds_canonical(tabled) == expected
    assert audit(tabled) == {
        "EC_Core.csv": (3, 3, 0, {}),
        "EC_Diagnosis.csv": (3, 2, 1, {"orphan_satellite_row": 1}),
    }
    assert_invariant(tabled)


def test_ecds_person_id_aliases_and_udal_timestamps(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, connectors=CONNECTORS)
    header = ["pseudo_nhs_number_pet" if h == "Der_Pseudo_NHS_Number" else h for h in EC_HEADER]
    row = ec_row("EC1", Arrival_Date="2024-07-01 00:00:00.000", Arrival_Time="09:05:00.000")
    row["pseudo_nhs_number_pet"] = row.pop("Der_Pseudo_NHS_Number")
    write_csv(tmp_path / "raw" / "ecds" / "2024-07" / "ec.csv", header, [row])
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT person_id, arrival_date, arrival_time FROM stg_ecds") == [
        (TOKEN_A, date(2024, 7, 1), time(9, 5))
    ]


def test_each_core_file_needs_the_required_columns_itself(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, connectors=CONNECTORS)
    delivery = tmp_path / "raw" / "ecds" / "2024-07"
    write_csv(delivery / "ec_a.csv", EC_HEADER, [ec_row("EC1")])
    without_person = [h for h in EC_HEADER if h != "Der_Pseudo_NHS_Number"]
    second = ec_row("EC2")
    second.pop("Der_Pseudo_NHS_Number")
    write_csv(delivery / "ec_b.csv", without_person, [second])
    with pytest.raises(InputError, match=r"ec_b\.csv: field person_id"):
        ingest.run(settings, AS_OF)
    assert query(settings, "SELECT count(*) FROM stg_ecds") == [(0,)]


def test_full_sus_delivery_reads_apc_opa_and_ecds(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, connectors=CONNECTORS)
    apc_delivery(tmp_path)
    write_csv(tmp_path / "raw" / "ecds" / "2024-07" / "EC_Core.csv", EC_HEADER, [ec_row("EC1")])
    opa = {
        "OPA_Ident": "OP1", "Der_Pseudo_NHS_Number": TOKEN_A, "Der_Provider_Code": "RXX",
        "Appointment_Date": "2024-07-03", "Attendance_Status": "5", "First_Attendance": "1",
        "Treatment_Function_Code": "300", "HRG_Code": "wf01b",
    }  # fmt: skip
    write_csv(tmp_path / "raw" / "opa" / "2024-07" / "tbl_Data_SEM_OPA.csv", OPA_HEADER, [opa])
    result = ingest.run(settings, AS_OF)
    assert result.summary["rows read"] == 3 + 4 + 1 + 1 + 1
    assert query(settings, "SELECT appointment_id, attended, first_attendance, hrg_code FROM stg_opa") == [
        ("OP1", True, "1", "WF01B")
    ]
    assert query(settings, "SELECT count(*) FROM stg_apc") == [(3,)]
    assert query(settings, "SELECT attendance_id, diagnoses_snomed FROM stg_ecds") == [("EC1", [])]
    assert_invariant(settings)


def test_layouts_are_read_from_the_connector_and_files_recognised() -> None:
    layout = load_layout(load_mapping("ncdr"), "apc")
    assert isinstance(layout, Layout)
    assert [t.name for t in layout.tables] == ["tbl_Data_SEM_APCE", "tbl_Data_SEM_APCE_Diag", "tbl_Data_SEM_APCE_Proc"]
    assert load_layout(load_mapping("ncdr"), "opa") is None  # one table: read as a flat file
    assert layout.table_of(Path("x.csv"), DIAG_HEADER) == layout.satellites[0]
    assert layout.table_of(Path("x.csv"), APCE_HEADER) == layout.core
    assert layout.table_of(Path("x.csv"), ["Note"]) is None
    assert layout.satellites[0].contributed(["Secondary_Diagnosis_Code_10", "Primary_Diagnosis_Code", "APCE_Ident",
                                             "Secondary_Diagnosis_Code_2"]) == [
        "Primary_Diagnosis_Code", "Secondary_Diagnosis_Code_2", "Secondary_Diagnosis_Code_10"
    ]  # fmt: skip
    # A file-name pattern wins over headers.
    named = Table("diagnoses", "tbl_Data_SEM_APCE_Diag", "APCE_Ident", ("APCE_Ident", "X"), file_pattern=r"_diag\.")
    patterned = Layout("apc", "ncdr_apc.sql", layout.core, (named,))
    assert patterned.table_of(Path("extract_DIAG.csv"), APCE_HEADER) == named


def test_reference_tables_and_listed_columns_are_read_from_the_mapping_file() -> None:
    """csds.yaml: a bare ``on:`` key (YAML reads it as true) names the core column; listed columns match
    headers whatever their spelling and are contributed in declared order."""
    layout = load_layout(load_mapping("csds"), "csds")
    assert layout is not None
    roles = {t.role: (t.on, t.many, t.latest_by) for t in layout.satellites}
    assert roles == {
        "referral": ("SERVICE REQUEST IDENTIFIER", False, ("UNIQUE SUBMISSION ID", "EFFECTIVE FROM")),
        "team": ("SERVICE REQUEST IDENTIFIER", True, ()),
        "person": ("PERSON ID", False, ("UNIQUE SUBMISSION ID", "RECORD START DATE")),
        "bridge": ("PERSON ID", False, ()),
    }
    bridge = layout.satellites[-1]
    assert layout.table_of(Path("extract.csv"), ["Person_ID", "Pseudo_NHS_Number"]) == bridge
    assert layout.table_of(Path("extract.csv"), ["PERSON_ID", "PSEUDO NHS NUMBER"]) == bridge
    person = layout.satellites[2]
    headers = ["Lower_super_output_area_(Residence)", "PERSON ID", "Ethnic_category"]
    assert person.contributed(headers) == ["Ethnic_category", "Lower_super_output_area_(Residence)"]
    assert person.declared()["ETHNICCATEGORY"] == "ETHNIC CATEGORY"


def with_local_mapping(tmp_path: Path, source: str, name: str, text: str) -> Settings:
    """Settings reading ``source`` with mapping ``name`` (``text``) from a local paths.mappings folder."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / f"{name}.yaml").write_text(text, encoding="utf-8")
    settings = settings_for(tmp_path, connectors={source: name})
    return dataclasses.replace(settings, paths=dataclasses.replace(settings.paths, mappings=mappings))


def test_latest_by_keeps_the_latest_resubmission_and_quarantines_the_earlier(tmp_path: Path) -> None:
    """A connector that stacks resubmissions orders them by its ``latest_by`` columns (here the
    appointment date stands in for a submission date): the greatest is loaded, the others are
    quarantined as superseded, NULL counts as the earliest, and ties go to the later row."""
    settings = with_local_mapping(
        tmp_path,
        "opa",
        "ncdr_stacked",
        "name: ncdr_stacked\nextends: ncdr\nsources:\n  opa:\n    latest_by: [appointment_date]\n",
    )
    base = {
        "Der_Pseudo_NHS_Number": TOKEN_A, "Der_Provider_Code": "RXX", "Attendance_Status": "5",
        "First_Attendance": "1", "Treatment_Function_Code": "300", "HRG_Code": "WF01B",
    }  # fmt: skip
    rows = [
        {**base, "OPA_Ident": "OP1", "Appointment_Date": "2024-07-03", "Attendance_Status": "3"},
        {**base, "OPA_Ident": "OP1", "Appointment_Date": "2024-07-09"},
        {**base, "OPA_Ident": "OP1", "Appointment_Date": "2024-07-05"},
        {**base, "OPA_Ident": "OP2", "Appointment_Date": "2024-07-04", "HRG_Code": "WF01A"},
        {**base, "OPA_Ident": "OP2", "Appointment_Date": "2024-07-04", "HRG_Code": "WF01C"},
    ]
    write_csv(tmp_path / "raw" / "opa" / "2024-07" / "tbl_Data_SEM_OPA.csv", OPA_HEADER, rows)
    ingest.run(settings, AS_OF)
    loaded = query(settings, "SELECT appointment_id, appointment_date, hrg_code, _row_number FROM stg_opa ORDER BY 1")
    assert loaded == [("OP1", date(2024, 7, 9), "WF01B", 2), ("OP2", date(2024, 7, 4), "WF01C", 5)]
    assert query(settings, "SELECT rule, row_number FROM quarantine ORDER BY 2") == [
        ("superseded_by_later_submission", 1),
        ("superseded_by_later_submission", 3),
        ("superseded_by_later_submission", 4),
    ]
    assert_invariant(settings)


def test_latest_by_must_name_contract_columns(tmp_path: Path) -> None:
    settings = with_local_mapping(
        tmp_path, "opa", "bad", "name: bad\nextends: ncdr\nsources:\n  opa:\n    latest_by: [submission_id]\n"
    )
    row = {
        "OPA_Ident": "OP1", "Der_Pseudo_NHS_Number": TOKEN_A, "Der_Provider_Code": "RXX",
        "Appointment_Date": "2024-07-03", "Attendance_Status": "5", "First_Attendance": "1",
        "Treatment_Function_Code": "300", "HRG_Code": "WF01B",
    }  # fmt: skip
    write_csv(tmp_path / "raw" / "opa" / "2024-07" / "tbl_Data_SEM_OPA.csv", OPA_HEADER, [row, row])
    with pytest.raises(ConfigError, match="latest_by names 'submission_id', not a column of the opa contract"):
        ingest.run(settings, AS_OF)


def test_satellite_latest_by_attaches_the_latest_resubmission(tmp_path: Path) -> None:
    """A satellite ordered by ``latest_by`` attaches its latest row per key (numbers compare as numbers:
    submission 10 is later than 9); the earlier rows are quarantined as superseded, counted per file."""
    settings = with_local_mapping(
        tmp_path,
        "apc",
        "ncdr_resubmitted",
        """name: ncdr_resubmitted
extends: ncdr
sources:
  apc:
    tables:
      sql: ncdr_apc.sql
      core: {name: tbl_Data_SEM_APCE, key: APCE_Ident, recognise: [APCE_Ident, Der_Pseudo_NHS_Number]}
      diagnoses:
        name: tbl_Data_SEM_APCE_Diag
        key: APCE_Ident
        recognise: [APCE_Ident, Primary_Diagnosis_Code]
        columns: '^(?:Primary_Diagnosis_Code|Secondary_Diagnosis_Code_(\\d+))$'
        latest_by: [Submission_Id]
      procedures:
        name: tbl_Data_SEM_APCE_Proc
        key: APCE_Ident
        recognise: [APCE_Ident, Primary_Procedure_Code]
        columns: '^(?:Primary_Procedure_Code|Secondary_Procedure_Code_(\\d+))$'
        ensure: [Primary_Procedure_Code]
""",
    )
    folder = tmp_path / "raw" / "apc" / "2024-07"
    write_csv(folder / "tbl_Data_SEM_APCE.csv", APCE_HEADER, [apce_row("101")])
    write_csv(
        folder / "tbl_Data_SEM_APCE_Diag.csv",
        ["APCE_Ident", "Submission_Id", "Primary_Diagnosis_Code"],
        [
            {"APCE_Ident": "101", "Submission_Id": "10", "Primary_Diagnosis_Code": "I500"},
            {"APCE_Ident": "101", "Submission_Id": "9", "Primary_Diagnosis_Code": "J441"},
            {"APCE_Ident": "101", "Submission_Id": "", "Primary_Diagnosis_Code": "R69X"},
        ],
    )
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT diagnoses FROM stg_apc") == [(["I500"],)]
    assert audit(settings)["tbl_Data_SEM_APCE_Diag.csv"] == (3, 1, 2, {"superseded_by_later_submission": 2})
    assert query(settings, "SELECT row_number FROM quarantine ORDER BY 1") == [(2,), (3,)]
    assert_invariant(settings)


def test_reference_satellites_attach_by_a_core_column_and_many_rows_pass_through() -> None:
    """A reference table (``on``) attaches to every core row naming its key and its unreferenced rows
    are told apart from orphans; ``rows: many`` attaches every row of a key."""
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE _connector_core AS SELECT * FROM (VALUES ('c1', 'd', 'f', 1, 'R1'), "
        "('c2', 'd', 'f', 2, 'R1'), ('c3', 'd', 'f', 3, NULL), ('c4', 'e', 'g', 1, 'R9')) "
        "t(_key, _delivery, _file, _row_number, Referral)"
    )
    # R9 is referred to by a core row of another delivery only: unreferenced within its own.
    satellite = (
        "SELECT * FROM (VALUES ('R1', 'd', 's', 1), ('R1', 'd', 's', 2), ('R9', 'd', 's', 3)) "
        "t(_key, _delivery, _file, _row_number)"
    )
    now = datetime(2024, 7, 1)
    core = [FileLoad(f"{i:016x}", "csds", d, Path(f), "", "csds", now) for i, d, f in ((1, "d", "f"), (2, "e", "g"))]
    for many, expected in ((False, [None, "duplicate_satellite_row"]), (True, [None, None])):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _connector_satellite AS {satellite}")
        referrals = Table("referral", "Referrals", "Referral", ("Referral",), on="Referral", many=many)
        assembly._classify(con, referrals, core)
        rows = con.execute(
            "SELECT _row_number, _reason, list_transform(_core_rows, lambda x: [x.l, x.r]) FROM _connector_classified "
            "ORDER BY 1"
        ).fetchall()
        assert [r[1] for r in rows] == [*expected, "unreferenced_satellite_row"]
        # Core rows are named by their file's load id (as a number) and row number.
        assert sorted(rows[0][2]) == [[1, 1], [1, 2]]
