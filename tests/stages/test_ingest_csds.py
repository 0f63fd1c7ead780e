"""The CSDS v1.6 connector: CYP201 care contacts with their referral, team type, person and NHS-number bridge.

Known answers from tiny hand-made deliveries whose headers are the published ones (shared reference
national_formats.md 1.4: ncl-icb-analytics/dbt-ncl-analytics CSDS sources and csds.Bridging,
cipha-uk/complex_households CSDS merge), in spaced capitals, underscores and the data lake's mixed case.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from popheath import config
from popheath.config import Settings
from popheath.errors import InputError
from popheath.stages import ingest

from .test_ingest_fixtures import TOKEN_A, TOKEN_B, assert_invariant, audit, query, settings_for, write_csv

AS_OF = date(2025, 4, 1)
TOKEN_C = "3F9A0C21B7D4E817"

CONTACT = [
    "CARE CONTACT IDENTIFIER", "UNIQUE CARE CONTACT IDENTIFIER", "SERVICE REQUEST IDENTIFIER", "PERSON ID",
    "ORGANISATION IDENTIFIER (CODE OF PROVIDER)", "CARE CONTACT DATE", "CLINICAL CONTACT DURATION OF CARE CONTACT",
    "ATTENDED OR DID NOT ATTEND CODE", "CONSULTATION MEDIUM USED", "UNIQUE SUBMISSION ID",
]  # fmt: skip
REFERRAL = [
    "SERVICE REQUEST IDENTIFIER", "UNIQUE SERVICE REQUEST IDENTIFIER", "PERSON ID",
    "REFERRAL REQUEST RECEIVED DATE", "UNIQUE SUBMISSION ID",
]  # fmt: skip
TEAM = [
    "SERVICE REQUEST IDENTIFIER", "SERVICE OR TEAM TYPE REFERRED TO (COMMUNITY CARE)",
    "CARE PROFESSIONAL TEAM LOCAL IDENTIFIER", "REFERRAL CLOSURE DATE", "REFERRAL REJECTION DATE",
    "UNIQUE SUBMISSION ID",
]  # fmt: skip
MPI = [
    "PERSON ID", "ETHNIC CATEGORY", "LOWER SUPER OUTPUT AREA (RESIDENCE)", "RECORD START DATE", "UNIQUE SUBMISSION ID",
]  # fmt: skip
BRIDGE = ["Person_ID", "Pseudo_NHS_Number"]  # NCL csds.Bridging (raw_csds_bridging.sql)


def contact(ident: str, referral: str, person: str, **overrides: str) -> dict[str, str]:
    row = dict(zip(CONTACT, [ident, "RY1" + ident, referral, person, "RY1", "2024-07-10", "30", "5", "1", "100"],
                   strict=True))  # fmt: skip
    row.update({k.replace("_", " "): v for k, v in overrides.items()})
    return row


def table_rows(header: list[str], *rows: tuple[str, ...]) -> list[dict[str, str]]:
    return [dict(zip(header, row, strict=True)) for row in rows]


def delivery(folder: Path, spell: object = str) -> None:
    """Two referrals of two people: SR1 to district nursing (its physiotherapy referral rejected), SR2
    to occupational therapy (closed on 5 July) and physiotherapy; resubmitted referral and person rows;
    unreferenced referral and bridge rows. ``spell`` rewrites every header."""
    rename = spell if callable(spell) else str

    def write(name: str, header: list[str], rows: list[dict[str, str]]) -> None:
        write_csv(folder / f"{name}.csv", [rename(h) for h in header],
                  [{rename(k): v for k, v in row.items()} for row in rows])  # fmt: skip

    write("CYP201CareContact", [*CONTACT, "CARE PROFESSIONAL TEAM LOCAL IDENTIFIER"], [
        contact("C1", "SR1", "P1"),
        contact("C2", "SR1", "P1", ATTENDED_OR_DID_NOT_ATTEND_CODE="3"),
        contact("C3", "SR2", "P2", ATTENDED_OR_DID_NOT_ATTEND_CODE="6"),
        # Seen by the OT team before its referral closed: the contact names its team.
        contact("C4", "SR2", "P2", CARE_CONTACT_DATE="2024-07-03", ATTENDED_OR_DID_NOT_ATTEND_CODE="0",
                CARE_PROFESSIONAL_TEAM_LOCAL_IDENTIFIER="TL-OT"),
    ])  # fmt: skip
    write("CYP101Referral", REFERRAL, table_rows(
        REFERRAL,
        ("SR1", "RY1SR1-old", "P1", "2024-06-01", "99"),  # an earlier submission of SR1
        ("SR1", "RY1SR1", "P1", "2024-06-01", "100"),
        ("SR2", "RY1SR2", "P2", "2024-06-20", "100"),
        ("SR9", "RY1SR9", "P1", "2024-06-20", "100"),  # no contact names SR9
    ))  # fmt: skip
    write("CYP102ServiceTypeReferredTo", TEAM, table_rows(
        TEAM,
        ("SR1", "26", "TL-PT", "", "2024-06-02", "100"),
        ("SR1", "12", "TL-DN", "", "", "100"),
        ("SR2", "23", "TL-OT", "2024-07-05", "", "100"),
        ("SR2", "26", "TL-PT", "", "", "100"),
    ))  # fmt: skip
    write("CYP001MPI", MPI, table_rows(
        MPI,
        ("P1", "A", "E01000001", "2024-01-01", "100"),
        ("P1", "Z", "E01000001", "2023-01-01", "90"),  # an earlier submission of P1
        ("P2", "M", "E01000002", "2024-01-01", "100"),
    ))  # fmt: skip
    write("Bridging", BRIDGE, table_rows(BRIDGE, ("P1", TOKEN_A), ("P2", TOKEN_B), ("P9", TOKEN_C)))


def canonical(settings: Settings) -> list[tuple[object, ...]]:
    return query(
        settings,
        "SELECT * EXCLUDE (_load_id, _source_file, _row_number, _delivery, _flags, _raw_values) FROM stg_csds "
        "ORDER BY contact_id",
    )


EXPECTED = [
    # contact_id, person_id (bridged), provider, date, team type and its national code, minutes,
    # attended (5 and 6 yes, 3 no, 0 not applicable), referral (latest submission), submission,
    # ethnic category (latest MPI submission), LSOA.
    ("RY1C1", TOKEN_A, "RY1", date(2024, 7, 10), "district_nursing", "12", 30, True, "RY1SR1", 100, "A", "E01000001"),
    ("RY1C2", TOKEN_A, "RY1", date(2024, 7, 10), "district_nursing", "12", 30, False, "RY1SR1", 100, "A", "E01000001"),
    # OT closed on 5 July: the contact of 10 July is physiotherapy's.
    ("RY1C3", TOKEN_B, "RY1", date(2024, 7, 10), "therapy", "26", 30, True, "RY1SR2", 100, "M", "E01000002"),
    ("RY1C4", TOKEN_B, "RY1", date(2024, 7, 3), "therapy", "23", 30, None, "RY1SR2", 100, "M", "E01000002"),
]  # fmt: skip


def test_contacts_take_their_referral_team_person_and_pseudonymised_nhs_number(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    delivery(tmp_path / "raw" / "csds" / "2024-07")
    ingest.run(settings, AS_OF)
    assert canonical(settings) == EXPECTED
    assert audit(settings) == {
        "CYP201CareContact.csv": (4, 4, 0, {}),
        "CYP101Referral.csv": (4, 2, 2, {"superseded_by_later_submission": 1, "unreferenced_satellite_row": 1}),
        # Every team row of a referral is loaded with its contacts (the rejected and closed ones too).
        "CYP102ServiceTypeReferredTo.csv": (4, 4, 0, {}),
        "CYP001MPI.csv": (3, 2, 1, {"superseded_by_later_submission": 1}),
        "Bridging.csv": (3, 2, 1, {"unreferenced_satellite_row": 1}),
    }
    detail = query(settings, "SELECT failures FROM quarantine WHERE file LIKE '%Bridging.csv'")[0][0]
    assert json.loads(str(detail))[0]["detail"] == "no CYP201CareContact row refers to PERSON ID P9"
    assert_invariant(settings)


def test_underscore_and_mixed_case_headers_give_the_same_rows(tmp_path: Path) -> None:
    underscored = settings_for(tmp_path / "a")
    delivery(tmp_path / "a" / "raw" / "csds" / "2024-07", lambda h: re.sub(r"[ ()]+", "_", h).strip("_"))
    ingest.run(underscored, AS_OF)
    assert canonical(underscored) == EXPECTED
    # The data lake's form (ncl-icb-analytics/dbt-ncl-analytics CSDS models: "Care_contact_date",
    # "Organisation_identifier_(Code_of_provider)").
    mixed = settings_for(tmp_path / "b")
    delivery(tmp_path / "b" / "raw" / "csds" / "2024-07", lambda h: h.capitalize().replace(" ", "_"))
    ingest.run(mixed, AS_OF)
    assert canonical(mixed) == EXPECTED
    assert_invariant(mixed)


def test_latest_submission_wins_in_a_stacked_delivery_and_a_later_delivery_replaces(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    july = tmp_path / "raw" / "csds" / "2024-07"
    delivery(july)
    stacked = [contact("C1", "SR1", "P1", UNIQUE_SUBMISSION_ID="101", CLINICAL_CONTACT_DURATION_OF_CARE_CONTACT="45"),
               contact("C1", "SR1", "P1"),  # submission 100, after 101 in the file: still the earlier
               contact("C5", "SR1", "P1", UNIQUE_SUBMISSION_ID="9"),
               contact("C5", "SR1", "P1", UNIQUE_SUBMISSION_ID="10", CARE_CONTACT_DATE="2024-07-11")]  # fmt: skip
    write_csv(july / "CYP201CareContact.csv", CONTACT, stacked)
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT contact_id, duration_minutes, contact_date FROM stg_csds ORDER BY 1") == [
        ("RY1C1", 45, date(2024, 7, 10)),
        ("RY1C5", 30, date(2024, 7, 11)),  # submission 10 is later than 9 (compared as numbers)
    ]
    assert audit(settings)["CYP201CareContact.csv"] == (4, 2, 2, {"superseded_by_later_submission": 2})

    # August resubmits C1 (did not attend after all), with the referral, team, person and bridge rows.
    august = tmp_path / "raw" / "csds" / "2024-08"
    delivery(august)
    did_not_attend = contact("C1", "SR1", "P1", UNIQUE_SUBMISSION_ID="200", ATTENDED_OR_DID_NOT_ATTEND_CODE="3")
    write_csv(august / "CYP201CareContact.csv", CONTACT, [did_not_attend])
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT contact_id, attended, submission_id, _delivery FROM stg_csds ORDER BY 1") == [
        ("RY1C1", False, 200, "2024-08"),
        ("RY1C5", True, 10, "2024-07"),
    ]
    assert_invariant(settings)


def test_unknown_team_type_code_and_a_referral_without_team_are_quarantined(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    folder = tmp_path / "raw" / "csds" / "2024-07"
    delivery(folder)
    contacts = [contact(c, sr, "P1") for c, sr in (("C1", "SR1"), ("C7", "SR7"), ("C8", "SR8"), ("C9", "SR9"))]
    write_csv(folder / "CYP201CareContact.csv", CONTACT, contacts)
    referrals = [(sr, "RY1" + sr, "P1", "2024-06-01", "100") for sr in ("SR1", "SR7", "SR8", "SR9")]
    write_csv(folder / "CYP101Referral.csv", REFERRAL, table_rows(REFERRAL, *referrals))
    teams = [
        ("SR1", "51", "TL-UCR", "", "", "100"),
        ("SR7", "99", "TL-X", "", "", "100"),
        ("SR9", "4", "TL-HF", "", "", "100"),  # 04 typed as a number by the extract
    ]
    write_csv(folder / "CYP102ServiceTypeReferredTo.csv", TEAM, table_rows(TEAM, *teams))
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT contact_id, team_type, team_type_code FROM stg_csds ORDER BY 1") == [
        ("RY1C1", "rapid_response", "51"),  # 51 Crisis Response Intermediate Care Service
        ("RY1C9", "specialist_nursing", "04"),  # 04 Cardiac Service
    ]
    assert query(settings, "SELECT row_number, rule, value FROM quarantine WHERE file LIKE '%CYP201%' ORDER BY 1") == [
        (2, "unknown_code:team_type", "99"),  # not in csds_team_types.csv
        (3, "missing:team_type", None),  # SR8 has no CYP102 row
    ]
    assert audit(settings)["CYP102ServiceTypeReferredTo.csv"] == (3, 2, 1, {"core_row_quarantined": 1})
    # P1's person row stays: two of its four contacts were quarantined, two loaded (P2 has no contact).
    assert audit(settings)["CYP001MPI.csv"] == (
        3, 1, 2, {"superseded_by_later_submission": 1, "unreferenced_satellite_row": 1}
    )  # fmt: skip
    assert_invariant(settings)


def test_a_satellite_parquet_damaged_inside_rejects_its_delivery_alone(tmp_path: Path) -> None:
    """An MPI file whose footer reads but whose pages do not is named; the other delivery still loads."""
    import duckdb

    settings = settings_for(tmp_path)
    con = duckdb.connect()
    for label in ("2024-07", "2024-08"):
        delivery(tmp_path / "staging" / label)
        folder = tmp_path / "raw" / "csds" / label
        folder.mkdir(parents=True)
        for csv_path in sorted((tmp_path / "staging" / label).glob("*.csv")):
            con.execute(
                f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar = true)) TO "
                f"'{folder / (csv_path.stem + '.parquet')}' (FORMAT parquet, COMPRESSION uncompressed)"
            )
    damaged_path = tmp_path / "raw" / "csds" / "2024-08" / "CYP001MPI.parquet"
    damaged = bytearray(damaged_path.read_bytes())
    damaged[4:64] = b"\xff" * 60  # the first page header; the footer at the end stays readable
    damaged_path.write_bytes(bytes(damaged))
    try:
        ingest.run(settings, AS_OF)
    except InputError as error:
        assert "2024-08/CYP001MPI.parquet" in str(error)
    else:
        raise AssertionError("the damaged file was not reported")
    outcomes = {(d, Path(f).name): o for d, f, o in query(settings, "SELECT delivery, file, outcome FROM load_audit")}
    assert outcomes[("2024-08", "CYP001MPI.parquet")] == "rejected"
    assert {o for (d, _), o in outcomes.items() if d == "2024-07"} == {"loaded"}
    assert [row[0] for row in canonical(settings)] == [row[0] for row in EXPECTED]
    assert_invariant(settings)


def test_deliveries_assembled_together_attach_satellites_within_their_own_delivery(tmp_path: Path) -> None:
    """July and August are assembled at once; August's SR1 goes to physiotherapy and P1 moved, and each
    month's contacts take their own month's referral team and person, as when loaded one by one."""
    together = settings_for(tmp_path / "together")
    alone = config.with_overrides(settings_for(tmp_path / "alone"), **{"ingest.assembly_batch_mb": 0})
    for settings in (together, alone):
        raw = settings.paths.raw / "csds"
        delivery(raw / "2024-07")
        august = raw / "2024-08"
        delivery(august)
        write_csv(august / "CYP201CareContact.csv", [*CONTACT, "CARE PROFESSIONAL TEAM LOCAL IDENTIFIER"],
                  [contact("C8", "SR1", "P1", CARE_PROFESSIONAL_TEAM_LOCAL_IDENTIFIER="")])  # fmt: skip
        write_csv(
            august / "CYP102ServiceTypeReferredTo.csv", TEAM, table_rows(TEAM, ("SR1", "26", "TL-PT", "", "", "100"))
        )
        write_csv(august / "CYP001MPI.csv", MPI, table_rows(MPI, ("P1", "A", "E01000009", "2024-08-01", "100")))
        ingest.run(settings, AS_OF)
        assert_invariant(settings)
    rows = "SELECT contact_id, team_type_code, lsoa_code, _delivery FROM stg_csds ORDER BY 1"
    assert query(together, rows) == query(alone, rows)
    assert ("RY1C8", "26", "E01000009", "2024-08") in query(together, rows)
    assert ("RY1C1", "12", "E01000001", "2024-07") in query(together, rows)
    assert audit(together) == audit(alone)
    records = "SELECT regexp_extract(file, '[^/]+/[^/]+$'), row_number, rule, record FROM quarantine ORDER BY ALL"
    assert query(together, records) == query(alone, records)
    # A quarantined satellite row's record holds its file's own columns, nothing the assembly added.
    assert all(not any(k.startswith("_") for k in json.loads(str(r[3]))) for r in query(together, records))
