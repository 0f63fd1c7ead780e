"""Bad input through the real ingest stage, on real files: each case gives one clear line (or a quarantine
row) naming file, row and field, rows read = loaded + quarantined, and leaves what was loaded before intact.

Layouts are the ones the connectors read: SUS+ in NCDR/UDAL for APC and OPA, ECDS for A&E, the
synthetic (SUS+-style) layout for the population spine, community contacts and social care.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from popheath.config import Settings
from popheath.stages import ingest

from .test_ingest_connectors import (
    APCE_HEADER,
    CONNECTORS,
    EC_HEADER,
    OPA_HEADER,
    apce_row,
    ec_row,
)
from .test_ingest_fixtures import POP_HEADER, RAW_NHS, TOKEN_A, TOKEN_B, assert_invariant, pop_row, query, write_csv
from .test_ingest_fixtures import settings_for as base_settings

AS_OF = date(2025, 4, 1)
CSDS_HEADER = ["Care_Contact_Identifier", "Der_Pseudo_NHS_Number", "Der_Provider_Code", "Contact_Date", "Team_Type",
               "Contact_Duration", "Attendance_Status"]  # fmt: skip
ASC_HEADER = ["Event_Reference", "Der_NHS_Number_Pseudo", "Der_Birth_Year", "Der_Birth_Month", "Gender", "LA_Code",
              "Event_Type", "Service_Type", "Event_Start_Date", "Event_End_Date", "Planned_Units_Per_Week",
              "Unit_Cost", "Cost_Frequency_Unit_Type", "Date_Of_Death"]  # fmt: skip


# CSDS here is one flat file (tests/fixtures/mappings/csds_flat.yaml): the cases judge values, not layouts.
FIXTURE_MAPPINGS = Path(__file__).resolve().parents[1] / "fixtures" / "mappings"


def settings_for(tmp_path: Path) -> Settings:
    settings = base_settings(tmp_path, connectors={**CONNECTORS, "csds": "csds_flat"})
    return dataclasses.replace(settings, paths=dataclasses.replace(settings.paths, mappings=FIXTURE_MAPPINGS))


def opa_row(ident: str, **overrides: str) -> dict[str, str]:
    row = {"OPA_Ident": ident, "Der_Pseudo_NHS_Number": TOKEN_A, "Der_Provider_Code": "RXX",
           "Appointment_Date": "2024-07-02", "Attendance_Status": "5", "First_Attendance": "1",
           "Treatment_Function_Code": "300", "HRG_Code": "WF01A"}  # fmt: skip
    row.update(overrides)
    return row


def csds_row(ident: str, **overrides: str) -> dict[str, str]:
    row = {"Care_Contact_Identifier": ident, "Der_Pseudo_NHS_Number": TOKEN_A, "Der_Provider_Code": "RYY",
           "Contact_Date": "2024-07-03", "Team_Type": "DN", "Contact_Duration": "30",
           "Attendance_Status": "5"}  # fmt: skip
    row.update(overrides)
    return row


def asc_row(ident: str, **overrides: str) -> dict[str, str]:
    row = {"Event_Reference": ident, "Der_NHS_Number_Pseudo": TOKEN_A, "Der_Birth_Year": "1940",
           "Der_Birth_Month": "6", "Gender": "2", "LA_Code": "E08000001", "Event_Type": "service",
           "Service_Type": "home_care", "Event_Start_Date": "2024-07-01", "Event_End_Date": "2024-07-31",
           "Planned_Units_Per_Week": "10", "Unit_Cost": "25.5", "Cost_Frequency_Unit_Type": "hourly",
           "Date_Of_Death": ""}  # fmt: skip
    row.update(overrides)
    return row


# One writer per source, in its national (or synthetic) layout: (folder, file name, header, row builder).
LAYOUTS = {
    "population": ("pop.csv", POP_HEADER, pop_row, "Pseudo_NHS_Number"),
    "apc": ("tbl_Data_SEM_APCE.csv", APCE_HEADER, apce_row, "APCE_Ident"),
    "opa": ("tbl_Data_SEM_OPA.csv", OPA_HEADER, opa_row, "OPA_Ident"),
    "ecds": ("EC_Core.csv", EC_HEADER, ec_row, "EC_Ident"),
    "csds": ("csds.csv", CSDS_HEADER, csds_row, "Care_Contact_Identifier"),
    "asc": ("asc.csv", ASC_HEADER, asc_row, "Event_Reference"),
}


def write(tmp_path: Path, source: str, rows: list[dict[str, str]], delivery: str = "2024-07") -> Path:
    name, header, _, _ = LAYOUTS[source]
    return write_csv(tmp_path / "raw" / source / delivery / name, header, rows)


def row(source: str, ident: str, **overrides: str) -> dict[str, str]:
    builder = LAYOUTS[source][2]
    person = {"population": ident}.get(source)
    if person is not None:
        return builder(person, **overrides)  # type: ignore[operator]
    return builder(ident, **overrides)  # type: ignore[operator]


def quarantined(settings: Settings, source: str) -> list[tuple[object, ...]]:
    """(file name, row, field, rule, value) of each quarantined row of ``source``."""
    rows = query(
        settings,
        "SELECT file, row_number, field, rule, value FROM quarantine WHERE source = $s ORDER BY file, row_number",
        {"s": source},
    )
    return [(Path(str(f)).name, r, fld, rule, v) for f, r, fld, rule, v in rows]


def counts(settings: Settings, source: str) -> tuple[int, int, int]:
    """(rows read, loaded, quarantined) of ``source``'s audited files in the latest run."""
    found = query(
        settings,
        "SELECT sum(rows_read), sum(rows_loaded), sum(rows_quarantined) FROM load_audit "
        "WHERE source = $s AND run_id = (SELECT max(run_id) FROM load_audit)",
        {"s": source},
    )[0]
    return tuple(int(x or 0) for x in found)  # type: ignore[return-value]


# --- two-digit years ---------------------------------------------------------------------------

DATE_FIELDS = {
    "population": ("Registration_Start_Date", "registration_start"),
    "apc": ("Admission_Date", "admission_date"),
    "opa": ("Appointment_Date", "appointment_date"),
    "ecds": ("Arrival_Date", "arrival_date"),
    "csds": ("Contact_Date", "contact_date"),
    "asc": ("Event_Start_Date", "event_start"),
}


@pytest.mark.parametrize("source", list(DATE_FIELDS))
def test_two_digit_years_are_quarantined_never_year_0025(tmp_path: Path, source: str) -> None:
    settings = settings_for(tmp_path)
    raw, canonical = DATE_FIELDS[source]
    ids = [TOKEN_A, TOKEN_B, "3F9A0C21B7D4E817", "3F9A0C21B7D4E818"] if source == "population" else ["1", "2", "3", "4"]
    good = "2024-07-01"
    path = write(tmp_path, source, [row(source, ids[0], **{raw: good}), row(source, ids[1], **{raw: "01/07/24"}),
                                    row(source, ids[2], **{raw: "24-07-01"}), row(source, ids[3], **{raw: "0024-07-01"})])  # fmt: skip  # noqa: E501
    ingest.run(settings, AS_OF)
    assert quarantined(settings, source) == [
        (path.name, 2, canonical, f"invalid_date:{canonical}", "01/07/24"),
        (path.name, 3, canonical, f"invalid_date:{canonical}", "24-07-01"),
        (path.name, 4, canonical, f"invalid_date:{canonical}", "0024-07-01"),
    ]
    table = {"population": "stg_population"}.get(source, f"stg_{source}")
    assert query(settings, f"SELECT count(*) FROM {table} WHERE year({canonical}) < 1000") == [(0,)]
    assert counts(settings, source) == (4, 1, 3)
    assert_invariant(settings)


def test_a_parquet_date_before_the_year_1000_is_quarantined(tmp_path: Path) -> None:
    import duckdb

    settings = settings_for(tmp_path)
    staged = write(tmp_path / "staging", "csds", [csds_row("1"), csds_row("2", Contact_Date="0025-03-01")])
    target = tmp_path / "raw" / "csds" / "2024-07" / "csds.parquet"
    target.parent.mkdir(parents=True)
    duckdb.connect().execute(
        f"COPY (SELECT * REPLACE (CAST(Contact_Date AS DATE) AS Contact_Date) FROM read_csv('{staged}', "
        f"all_varchar = true)) TO '{target}' (FORMAT parquet)"
    )
    ingest.run(settings, AS_OF)
    assert quarantined(settings, "csds") == [
        ("csds.parquet", 2, "contact_date", "invalid_date:contact_date", "0025-03-01")
    ]
    assert_invariant(settings)


# --- fractions in integer fields, NaN and infinities -------------------------------------------


def test_a_fraction_in_an_integer_field_is_quarantined_not_rounded(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    csds = write(tmp_path, "csds", [csds_row("1", Contact_Duration="12.0"), csds_row("2", Contact_Duration="12.5"),
                                    csds_row("3", Contact_Duration="1e1")])  # fmt: skip
    pop = write(
        tmp_path, "population", [pop_row(TOKEN_A, Year_Of_Birth="1950.5"), pop_row(TOKEN_B, Year_Of_Birth="1950.00")]
    )  # noqa: E501
    apc = write(tmp_path, "apc", [apce_row("101", Episode_Number="2.5"), apce_row("102", Episode_Number="2")])
    ingest.run(settings, AS_OF)
    assert quarantined(settings, "csds") == [
        (csds.name, 2, "duration_minutes", "invalid_integer:duration_minutes", "12.5"),
        (csds.name, 3, "duration_minutes", "invalid_integer:duration_minutes", "1e1"),
    ]
    assert quarantined(settings, "population") == [(pop.name, 1, "birth_year", "invalid_integer:birth_year", "1950.5")]
    assert quarantined(settings, "apc") == [(apc.name, 1, "episode_order", "invalid_integer:episode_order", "2.5")]
    assert query(settings, "SELECT contact_id, duration_minutes FROM stg_csds") == [("1", 12)]
    assert query(settings, "SELECT person_id, birth_year FROM stg_population") == [(TOKEN_B, 1950)]
    assert_invariant(settings)


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-inf", "Infinity", "-Infinity", "1e400", "1_000", "0x10"])
def test_nan_infinity_and_non_decimal_numbers_rejected_in_double_fields(tmp_path: Path, value: str) -> None:
    settings = settings_for(tmp_path)
    path = write(tmp_path, "asc", [asc_row("E1"), asc_row("E2", Unit_Cost=value)])
    ecds = write(tmp_path, "ecds", [ec_row("1"), ec_row("2", SUS_Final_Price=value)])
    ingest.run(settings, AS_OF)
    assert quarantined(settings, "asc") == [(path.name, 2, "unit_cost", "invalid_number:unit_cost", value)]
    assert quarantined(settings, "ecds") == [(ecds.name, 2, "final_price", "invalid_number:final_price", value)]
    assert query(settings, "SELECT event_id, unit_cost FROM stg_asc") == [("E1", 25.5)]
    assert_invariant(settings)


def test_nan_and_infinity_in_typed_parquet_rejected_in_double_and_integer_fields(tmp_path: Path) -> None:
    import duckdb

    settings = settings_for(tmp_path)
    target = tmp_path / "raw" / "csds" / "2024-07" / "csds.parquet"
    target.parent.mkdir(parents=True)
    asc_target = tmp_path / "raw" / "asc" / "2024-07" / "asc.parquet"
    asc_target.parent.mkdir(parents=True)
    con = duckdb.connect()
    # Contact_Duration (an INTEGER field) and Unit_Cost (a DOUBLE field) as DOUBLE, as typed extracts hold them.
    csds = write(tmp_path / "staging", "csds", [csds_row(str(i)) for i in range(1, 5)])
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(CASE Care_Contact_Identifier WHEN '2' THEN 'NaN' WHEN '3' THEN 'inf' "
        f"WHEN '4' THEN '1e300' ELSE '30' END AS DOUBLE) AS Contact_Duration) FROM read_csv('{csds}', "
        f"all_varchar = true)) TO '{target}' (FORMAT parquet)"
    )
    asc = write(tmp_path / "staging", "asc", [asc_row(f"E{i}") for i in range(1, 4)])
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(CASE Event_Reference WHEN 'E2' THEN 'NaN' WHEN 'E3' THEN '-inf' "
        f"ELSE '25.5' END AS DOUBLE) AS Unit_Cost) FROM read_csv('{asc}', all_varchar = true)) "
        f"TO '{asc_target}' (FORMAT parquet)"
    )
    ingest.run(settings, AS_OF)
    assert [(r, rule) for _, r, _, rule, _ in quarantined(settings, "csds")] == [
        (2, "invalid_integer:duration_minutes"), (3, "invalid_integer:duration_minutes"),
        (4, "invalid_integer:duration_minutes"),
    ]  # fmt: skip
    assert [(r, rule) for _, r, _, rule, _ in quarantined(settings, "asc")] == [
        (2, "invalid_number:unit_cost"), (3, "invalid_number:unit_cost"),
    ]  # fmt: skip
    assert counts(settings, "csds") == (4, 1, 3) and counts(settings, "asc") == (3, 1, 2)
    assert_invariant(settings)


# --- implausible ages --------------------------------------------------------------------------


def test_population_future_birth_and_birth_after_registration_quarantined_very_old_flagged(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    next_year = str(date.today().year + 1)
    people = [
        pop_row(TOKEN_A),  # 1940-03: fine
        pop_row(TOKEN_B, Year_Of_Birth=next_year, Month_Of_Birth="1"),  # born in the future
        pop_row("3F9A0C21B7D4E817", Year_Of_Birth="2005", Month_Of_Birth="6", Registration_Start_Date="2005-05-20"),
        pop_row("3F9A0C21B7D4E818", Year_Of_Birth="2005", Month_Of_Birth="6", Registration_Start_Date="2005-06-20"),
        pop_row("3F9A0C21B7D4E819", Year_Of_Birth="1895", Month_Of_Birth="1"),  # alive at 130: flagged
        pop_row(
            "3F9A0C21B7D4E81A", Year_Of_Birth="1895", Month_Of_Birth="1", Date_Of_Death="2000-05-01"
        ),  # died at 105
    ]
    path = write(tmp_path, "population", people)
    ingest.run(settings, AS_OF)
    assert quarantined(settings, "population") == [
        (path.name, 2, "birth_year", "future_date:birth_year", f"{next_year}-01 after {date.today().isoformat()}"),
        (path.name, 3, "birth_year", "birth_after_event:registration_start",
         "2005-06 after registration_start 2005-05-20"),
    ]  # fmt: skip
    flagged = query(settings, "SELECT person_id, _flags FROM stg_population WHERE len(_flags) > 0")
    assert flagged == [("3F9A0C21B7D4E819", ["implausible_age"])]
    assert counts(settings, "population") == (6, 4, 2)
    assert_invariant(settings)


def test_social_care_birth_after_the_event_quarantined_over_115_at_the_event_flagged(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = write(tmp_path, "asc", [
        asc_row("E1"),
        asc_row("E2", Der_Birth_Year="2024", Der_Birth_Month="9"),  # born after the July 2024 event
        asc_row("E3", Der_Birth_Year="2024", Der_Birth_Month=""),  # same year, month unknown: not certain
        asc_row("E4", Der_Birth_Year="1908", Der_Birth_Month="8"),  # 115 at the event (birthday in August)
        asc_row("E5", Der_Birth_Year="1908", Der_Birth_Month="7"),  # 116 or 115: not certain
        asc_row("E6", Der_Birth_Year="1908", Der_Birth_Month="6"),  # 116 at the event
        asc_row("E7", Der_Birth_Year="1907", Der_Birth_Month=""),  # 116 or 117, month unknown
    ])  # fmt: skip
    ingest.run(settings, AS_OF)
    assert quarantined(settings, "asc") == [
        (path.name, 2, "birth_year", "birth_after_event:event_start", "2024-09 after event_start 2024-07-01"),
    ]
    flags = dict(query(settings, "SELECT event_id, _flags FROM stg_asc ORDER BY 1"))
    assert {k for k, v in flags.items() if "implausible_age" in v} == {"E6", "E7"}  # type: ignore[operator]
    assert counts(settings, "asc") == (7, 6, 1)
    assert_invariant(settings)


# --- NHS numbers embedded in free text and codes ----------------------------------------------

EMBEDDED = {
    "population": ("Place", "North (NHS 943 476 5919)"),
    "apc": ("Discharge_Destination", "19 NHS:9434765919"),
    "opa": ("HRG_Code", "WF01A 943-476-5919"),
    "ecds": ("EC_Chief_Complaint_SNOMED_CT", "ref:9434765919"),
    "csds": ("Team_Type", "DN pt 9434765919"),
}


@pytest.mark.parametrize("source", [*EMBEDDED, "asc"])
def test_an_nhs_number_embedded_in_free_text_or_codes_is_quarantined_and_masked(tmp_path: Path, source: str) -> None:
    settings = settings_for(tmp_path)
    ids = [TOKEN_A, TOKEN_B] if source == "population" else ["1", "2"]
    if source == "asc":  # a local free-text column the contract does not map
        header = [*ASC_HEADER, "Notes"]
        path = write_csv(tmp_path / "raw" / "asc" / "2024-07" / "asc.csv", header,
                         [asc_row("1", Notes="ok"), asc_row("2", Notes="seen, NHS 943 476 5919, at home")])  # fmt: skip
        field = "Notes"
    else:
        field, text = EMBEDDED[source]
        path = write(tmp_path, source, [row(source, ids[0]), row(source, ids[1], **{field: text})])
    ingest.run(settings, AS_OF)
    assert quarantined(settings, source) == [(path.name, 2, field, "raw_nhs_number", "**********")]
    record = query(settings, "SELECT record FROM quarantine")[0][0]
    assert "**********" in str(record)
    table = {"population": "stg_population"}.get(source, f"stg_{source}")
    dump = str(query(settings, "SELECT * FROM quarantine")) + str(query(settings, f"SELECT * FROM {table}"))
    assert RAW_NHS not in dump and "943 476 5919" not in dump and "943-476-5919" not in dump
    assert counts(settings, source) == (2, 1, 1)
    assert_invariant(settings)
