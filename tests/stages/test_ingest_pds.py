"""The PDS connector: effective-dated person, registration and address rows resolved at the extract date, mergers.

Known answers from a tiny hand-made delivery whose tables and headers are the DSCRO data lake's
(ncl-icb-analytics/dbt-ncl-analytics models/sources/auto_data_lake_pds.yml; the shared reference
national_formats.md section 1.6).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from popheath.config import Settings
from popheath.stages import ingest

from .test_ingest_fixtures import assert_invariant, query, settings_for, write_csv

AS_OF = date(2025, 4, 1)
PERSON = "Pseudo NHS Number"
PERSON_HEADER = [
    "RowID", PERSON, "YearMonth_Of_Birth", "Gender", "Date of Death", "Death Status",
    "Person Business Effective From Date", "Person Business Effective To Date",
]  # fmt: skip
PRACTICE_HEADER = [
    "RowID", PERSON, "Primary Care Provider", "Primary Care Provider Business Effective From Date",
    "Primary Care Provider Business Effective To Date", "Reason for Removal", "derIcbOfRegistration",
]  # fmt: skip
ADDRESS_HEADER = [
    "RowID", PERSON, "derCurrentyr2021LSOAofResidence_FromPostcode", "derCqcCareHomeCode",
    "Usual Address Business Effective From Date", "Usual Address Business Effective To Date",
]  # fmt: skip
MERGER_HEADER = [
    "RowID", PERSON, "Pseudo Superseded NHS Number", "Person Merger Business Effective From Date",
    "Person Merger Business Effective To Date",
]  # fmt: skip

MOVER, REMOVED, RETURNED, SURVIVOR, SUPERSEDED = "P1MOVER", "P2REMOVED", "P3RETURNED", "P4SURVIVOR", "P9OLDTOKEN"


def person(token: str, born: str, sex: str, start: str, end: str = "", died: str = "") -> dict[str, str]:
    return {
        PERSON: token, "YearMonth_Of_Birth": born, "Gender": sex, "Date of Death": died,
        "Death Status": "2" if died else "", "Person Business Effective From Date": start,
        "Person Business Effective To Date": end,
    }  # fmt: skip


def registration(token: str, practice: str, start: str, end: str = "", reason: str = "") -> dict[str, str]:
    return {
        PERSON: token, "Primary Care Provider": practice, "Primary Care Provider Business Effective From Date": start,
        "Primary Care Provider Business Effective To Date": end, "Reason for Removal": reason,
        "derIcbOfRegistration": "QXX",
    }  # fmt: skip


def address(token: str, lsoa: str, start: str, end: str = "", care_home: str = "") -> dict[str, str]:
    return {
        PERSON: token, "derCurrentyr2021LSOAofResidence_FromPostcode": lsoa, "derCqcCareHomeCode": care_home,
        "Usual Address Business Effective From Date": start, "Usual Address Business Effective To Date": end,
    }  # fmt: skip


def pds_delivery(root: Path, label: str = "2025-03") -> Path:
    """Four people: a mover (two versions of their person row), a removal, a re-registration, a merger."""
    folder = root / "raw" / "population" / label
    write_csv(
        folder / "PDS_Person.csv",
        PERSON_HEADER,
        [
            person(MOVER, "194703", "2", "2001-01-01", "2019-06-30"),  # an earlier version
            person(MOVER, "194703", "1", "2019-07-01"),  # the current one: gender recorded again
            person(REMOVED, "1950-11", "1", "1990-01-01"),
            person(RETURNED, "1938", "2", "1980-01-01"),  # no month
            person(SURVIVOR, "194512", "1", "2024-02-01"),
            person(SUPERSEDED, "194512", "1", "2003-05-01", "2024-01-31"),  # merged into SURVIVOR
        ],
    )
    write_csv(
        folder / "PDS_Patient_Care_Practice.csv",
        PRACTICE_HEADER,
        [
            registration(MOVER, "A81001", "2001-01-01", "2022-03-14"),
            registration(MOVER, "A81002", "2022-03-15"),  # a move the next day: one continuous registration
            registration(REMOVED, "A81001", "1990-01-01", "2024-06-30", "EMB"),  # removed: emigrated
            registration(RETURNED, "A81003", "2000-01-01", "2020-12-31", "CGA"),
            registration(RETURNED, "A81003", "2023-05-01"),  # re-registered after a gap
            registration(SUPERSEDED, "A81004", "2003-05-01", "9999-12-31"),  # open (sentinel end)
        ],
    )
    write_csv(
        folder / "PDS_Address.csv",
        ADDRESS_HEADER,
        [
            address(MOVER, "E01000001", "2001-01-01", "2023-08-31"),
            address(MOVER, "E01000002", "2023-09-01", care_home="1-10000000001"),  # moved into a care home
            address(REMOVED, "E01000003", "1990-01-01", "2024-06-30"),
            address(RETURNED, "E01000005", "2023-05-01"),
            address(SUPERSEDED, "E01000006", "2003-05-01"),
            address(RETURNED, "E01000004", "2000-01-01", "2020-12-31"),  # an earlier address, ended
        ],
    )
    write_csv(
        folder / "PDS_Person_Merger.csv",
        MERGER_HEADER,
        [{PERSON: SURVIVOR, "Pseudo Superseded NHS Number": SUPERSEDED,
          "Person Merger Business Effective From Date": "2024-02-01"}],
    )  # fmt: skip
    return folder


def spine(settings: Settings) -> dict[str, tuple[object, ...]]:
    rows = query(
        settings,
        "SELECT person_id, birth_year, birth_month, sex, practice_code, registration_start, registration_end,"
        " removal_reason, lsoa_code, care_home, superseded_person_ids, previous_lsoa_codes FROM stg_population",
    )
    return {str(row[0]): tuple(row[1:]) for row in rows}


def test_pds_resolves_people_registrations_and_addresses_at_the_extract_date(tmp_path: Path) -> None:
    pds_delivery(tmp_path)
    settings = settings_for(tmp_path, connectors={"population": "pds"})
    ingest.run(settings, AS_OF)
    people = spine(settings)
    assert people == {
        # The current person row wins; a move keeps the registration start; the care-home address is current,
        # the address before it an earlier LSOA (previous_lsoa_codes, for linkage).
        MOVER: (1947, 3, "M", "A81002", date(2001, 1, 1), None, None, "E01000002", True, [], ["E01000001"]),
        # A removal ends the registration with its reason; its only (ended) address is its current one.
        REMOVED: (1950, 11, "M", "A81001", date(1990, 1, 1), date(2024, 6, 30), "EMB", "E01000003", False, [], []),
        # A re-registration after a gap starts a new registration; the ended address is an earlier LSOA.
        RETURNED: (1938, None, "F", "A81003", date(2023, 5, 1), None, None, "E01000005", False, [], ["E01000004"]),
        # The superseded pseudonym's registration and address are the survivor's; it is kept for linkage.
        SURVIVOR: (1945, 12, "M", "A81004", date(2003, 5, 1), None, None, "E01000006", False, [SUPERSEDED], []),
    }
    quarantined = query(
        settings, "SELECT rule, regexp_extract(file, '[^/]+$'), row_number FROM quarantine ORDER BY ALL"
    )
    # The earlier person version and the superseded pseudonym's person row; the superseded pseudonym's
    # registration and address rows (used for the survivor) went with its quarantined person row.
    assert quarantined == [
        ("core_row_quarantined", "PDS_Address.csv", 5),
        ("core_row_quarantined", "PDS_Patient_Care_Practice.csv", 6),
        ("superseded_by_later_submission", "PDS_Person.csv", 1),
        ("superseded_by_later_submission", "PDS_Person.csv", 6),
    ]
    audit = {
        Path(str(f)).name: (r, lo, q, json.loads(str(b)))
        for f, r, lo, q, b in query(
            settings, "SELECT file, rows_read, rows_loaded, rows_quarantined, quarantined_by_reason FROM load_audit"
        )
    }
    assert audit["PDS_Person.csv"] == (6, 4, 2, {"superseded_by_later_submission": 2})
    assert audit["PDS_Patient_Care_Practice.csv"] == (6, 5, 1, {"core_row_quarantined": 1})
    assert audit["PDS_Address.csv"] == (6, 5, 1, {"core_row_quarantined": 1})
    assert audit["PDS_Person_Merger.csv"] == (1, 1, 0, {})
    assert_invariant(settings)
