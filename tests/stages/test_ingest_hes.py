"""Known-answer tests for flat HES extracts of every era loaded with the shipped ``hes`` connector.

Headers are the published field names (The-Strategy-Unit/hes_processing ``{apc,ae,opa}/bronze/schemas.py``),
in upper and lower case, with each person-id alias. The fixture files are in ``tests/fixtures/hes``; the
larger extracts for the NHS-number column rule are built here.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from datetime import date, time
from pathlib import Path

import pytest

from popheath.config import Settings
from popheath.quality.nhs_number import is_valid_nhs_number
from popheath.stages import ingest

from .test_ingest_fixtures import assert_invariant, query, settings_for, write_csv

AS_OF = date(2025, 4, 1)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hes"
SOURCE_OF = {"apc": "apc", "ae": "ecds", "op": "opa"}
PERSON_ID_ALIASES = ["TOKEN_PERSON_ID", "PSEUDO_HESID", "ENCRYPTED_HESID", "PERSON_ID_DEID", "PERSON_ID"]
A = "A1B2C3D4E5F60718293A4B5C6D7E8F90"


def _load_fixtures(tmp_path: Path) -> Settings:
    settings = settings_for(tmp_path, mapping="hes")
    for path in sorted(FIXTURES.glob("*.csv")):
        target = tmp_path / "raw" / SOURCE_OF[path.stem.split("_")[0]] / "2019-04" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    ingest.run(settings, AS_OF)
    return settings


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _load_fixtures(tmp_path_factory.mktemp("hes"))


def test_every_fixture_file_loads_with_rows_read_equal_loaded_plus_quarantined(loaded: Settings) -> None:
    audit = query(
        loaded,
        "SELECT source, regexp_extract(file, '[^/]+$'), outcome, rows_read, rows_loaded, rows_quarantined, "
        "quarantined_by_reason FROM load_audit ORDER BY 2",
    )
    assert [(f, outcome, read, ok, bad) for _, f, outcome, read, ok, bad, _ in audit] == [
        ("ae_lower.csv", "loaded", 1, 1, 0),
        ("ae_upper.csv", "loaded", 4, 4, 0),
        ("apc_lower.csv", "loaded", 2, 2, 0),
        # One episode has EPIORDER 2.5: a real fraction is never rounded to an integer.
        ("apc_upper.csv", "loaded", 4, 3, 1),
        ("op_lower.csv", "loaded", 1, 1, 0),
        ("op_upper.csv", "loaded", 3, 3, 0),
    ]
    assert json.loads(str(audit[3][6])) == {"invalid_integer:episode_order": 1}
    assert query(loaded, "SELECT row_number, field, value FROM quarantine") == [(3, "episode_order", "2.5")]
    assert_invariant(loaded)


def test_no_record_key_is_quarantined_as_an_nhs_number(loaded: Settings) -> None:
    keys = [
        r[0]
        for r in query(
            loaded,
            "SELECT episode_id FROM stg_apc UNION ALL SELECT attendance_id FROM stg_ecds "
            "UNION ALL SELECT appointment_id FROM stg_opa",
        )
    ]
    passing = {"1869954343", "4141241342", "8324464816", "6588514581", "1904449972", "4994498660"}
    assert all(is_valid_nhs_number(k) for k in passing)  # the fixture keys that pass by chance
    assert passing <= set(keys)
    assert query(loaded, "SELECT count(*) FROM quarantine WHERE rule = 'raw_nhs_number'") == [(0,)]


def test_apc_canonical_values(loaded: Settings) -> None:
    rows = query(
        loaded,
        "SELECT episode_id, person_id, spell_id, provider_code, admission_date, discharge_date, episode_start, "
        "episode_end, episode_order, admission_method, discharge_method, diagnoses, procedures, hrg_code, "
        "treatment_specialty, patient_classification, episode_status, _flags FROM stg_apc ORDER BY episode_id",
    )
    assert rows == [
        # dd/mm/yyyy dates; EPIORDER 1.00 is the integer 1; a day case (CLASSPAT 2).
        ("178954263574", "B1B2C3D4E5F60718293A4B5C6D7E8F91", "P00018", "RXX01", date(2019, 4, 2), date(2019, 4, 2),
         date(2019, 4, 2), date(2019, 4, 2), 1, "11", "1", ["K358"], ["H221"], "FE21Z", "100", "2", "3", []),
        # SQL-Server and ISO timestamps are dates; a regular day attender (CLASSPAT 3).
        ("178954263576", "D1B2C3D4E5F60718293A4B5C6D7E8F93", "P00020", "RXX01", date(2019, 4, 10), date(2019, 4, 10),
         date(2019, 4, 10), date(2019, 4, 10), 1, "13", "1", ["N185"], ["X401"], "LE01A", "361", "3", "3", []),
        # Lower-case headers, ENCRYPTED_HESID and PROVSPNO; diag_02 '-' is a placeholder.
        ("178954263577", "F1B2C3D4E5F60718293A4B5C6D7E8F95", "700124", "RYY01", date(2019, 4, 21), date(2019, 4, 23),
         date(2019, 4, 21), date(2019, 4, 23), 1, "2A", "1", ["I214"], ["K634"], "EB10A", "320", "1", "3", []),
        # '-' and '&' placeholders are NULL: no third diagnosis, no procedures (OPERTN '-' none, '&' not known);
        # EPIORDER 1.0 is the integer 1; the ten-digit EPIKEY passes modulus 11 by chance and loads.
        ("1869954343", A, "P00017", "RXX01", date(2019, 4, 2), date(2019, 4, 5), date(2019, 4, 2), date(2019, 4, 5),
         1, "21", "1", ["J441", "I10"], [], "DZ65A", "300", "1", "3", []),
        # An unfinished episode (EPISTAT 1, no discharge yet), CLASSPAT 9; the 4-character HRG is flagged, kept.
        ("4141241342", "E1B2C3D4E5F60718293A4B5C6D7E8F94", "700123", "RYY01", date(2019, 4, 20), None,
         date(2019, 4, 20), None, 1, "21", "8", ["I509", "E119"], [], "DZ19", "300", "9", "1",
         ["invalid_code:hrg_code"]),
    ]  # fmt: skip


def test_ae_canonical_values(loaded: Settings) -> None:
    rows = query(
        loaded,
        "SELECT attendance_id, person_id, provider_code, arrival_date, arrival_time, department_type, arrival_mode, "
        "discharge_destination, diagnosis_ae, diagnosis_icd10, diagnosis_snomed, _flags FROM stg_ecds ORDER BY 1",
    )
    assert rows == [
        # ARRIVALTIME is an integer HHMM: 5 is 00:05; DIAG_01 '&' is not known.
        ("500000000002", "B1B2C3D4E5F60718293A4B5C6D7E8F91", "RXX01", date(2019, 4, 1), time(0, 5), "01", "2", "03",
         None, None, None, []),
        # dd/mm/yyyy; a float-formatted time (2315.0); department type 3 is '03'.
        ("500000000003", "C1B2C3D4E5F60718293A4B5C6D7E8F92", "RXX01", date(2019, 4, 2), time(23, 15), "03", "2", "01",
         "06 33L", None, None, []),
        # A SQL-Server timestamp is a date; department type '-' is a placeholder.
        ("500000000004", "D1B2C3D4E5F60718293A4B5C6D7E8F93", "RXX01", date(2019, 4, 3), time(14, 5), None, "1", "02",
         "10216L", None, None, []),
        ("6588514581", "E1B2C3D4E5F60718293A4B5C6D7E8F94", "RYY01", date(2019, 4, 5), time(0, 0), "02", "2", "02",
         "20", None, None, []),
        # AEDEPTTYPE 99 (not known) loads as NULL; 930 is 09:30; DIAG_01 is the A&E diagnosis, never ICD-10.
        ("8324464816", A, "RXX01", date(2019, 4, 1), time(9, 30), None, "1", "02", "10216R", None, None, []),
    ]  # fmt: skip
    raw = query(loaded, "SELECT _raw_values FROM stg_ecds WHERE attendance_id = '8324464816'")[0][0]
    assert json.loads(str(raw))["department_type"] == "99"  # the original code is kept


def test_op_canonical_values(loaded: Settings) -> None:
    rows = query(
        loaded,
        "SELECT appointment_id, person_id, provider_code, appointment_date, attendance_status, attended, "
        "did_not_attend, first_attendance, treatment_specialty, hrg_code FROM stg_opa ORDER BY 1",
    )
    assert rows == [
        ("1904449972", A, "RXX01", date(2019, 4, 8), "5", True, False, "1", "330", "WF01B"),
        ("4994498660", "D1B2C3D4E5F60718293A4B5C6D7E8F93", "RYY01", date(2019, 4, 11), "2", False, False, "3", "320",
         "WF02A"),
        ("600000000002", "B1B2C3D4E5F60718293A4B5C6D7E8F91", "RXX01", date(2019, 4, 9), "3", False, True, "2", "330",
         "WF01A"),
        # FIRSTATT and SUSHRG '&' are not known: NULL, not an unknown code.
        ("600000000003", "C1B2C3D4E5F60718293A4B5C6D7E8F92", "RXX01", date(2019, 4, 10), "6", True, False, None, "110",
         None),
    ]  # fmt: skip


@pytest.mark.parametrize("alias", PERSON_ID_ALIASES)
@pytest.mark.parametrize("lower", [False, True])
def test_every_person_id_alias_is_accepted_for_every_source(tmp_path: Path, alias: str, lower: bool) -> None:
    settings = settings_for(tmp_path, mapping="hes")
    files = {
        "apc": (["EPIKEY", alias, "PROCODE", "ADMIDATE", "ADMIMETH", "DIAG_01"],
                ["1", A, "RXX01", "2019-04-01", "21", "J441"]),
        "ecds": (["AEKEY", alias, "ARRIVALDATE", "ARRIVALTIME", "AEDEPTTYPE"], ["2", A, "2019-04-01", "930", "99"]),
        "opa": (["ATTENDKEY", alias, "APPTDATE", "ATTENDED"], ["3", A, "2019-04-01", "5"]),
    }  # fmt: skip
    for source, (header, values) in files.items():
        header = [h.lower() for h in header] if lower else header
        write_csv(tmp_path / "raw" / source / "2019-04" / "x.csv", header, [dict(zip(header, values, strict=True))])
    result = ingest.run(settings, AS_OF)
    assert result.summary["rows loaded"] == 3 and result.summary["rows quarantined"] == 0
    for table in ("stg_apc", "stg_ecds", "stg_opa"):
        assert query(settings, f"SELECT person_id FROM {table}") == [(A,)]


def _numbers(rng: random.Random, count: int, valid: bool | None = None) -> list[str]:
    """Distinct ten-digit numbers: random, or only ones that pass (True) or fail (False) modulus 11."""
    found: dict[str, None] = {}
    while len(found) < count:
        number = str(rng.randrange(10**9, 10**10))
        if valid is None or is_valid_nhs_number(number) == valid:
            found[number] = None
    return list(found)


AE_HEADER = ["AEKEY", "PSEUDO_HESID", "PROCODE", "ARRIVALDATE", "ARRIVALTIME", "AEDEPTTYPE", "AEARRIVALMODE",
             "AEATTENDDISP", "DIAG_01", "NOTES"]  # fmt: skip


def _ae_rows(keys: list[str], people: list[str] | None = None) -> list[dict[str, str]]:
    """Well-formed HES A&E rows as the NHS Digital artificial extract writes them (integer HHMM times,
    department type 99 for not known, placeholders, 6-character A&E diagnoses)."""
    rows = []
    for i, key in enumerate(keys):
        rows.append(dict(zip(AE_HEADER, [
            key, people[i] if people else f"{i:032X}", "RXX01", f"2019-04-{1 + i % 28:02d}",
            f"{(i * 7) % 24}{i % 60:02d}",
            ["01", "02", "03", "04", "99", "1", "&"][i % 7], ["1", "2", "&"][i % 3], "02",
            ["10216R", "06 33L", "&", "-"][i % 4], "",
        ], strict=True)))  # fmt: skip
    return rows


def test_a_key_column_of_random_ten_digit_numbers_loads_fully(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, mapping="hes")
    keys = _numbers(random.Random(11), 1000)
    passing = sum(is_valid_nhs_number(k) for k in keys)
    assert 60 <= passing <= 130  # about one in eleven pass by chance
    write_csv(tmp_path / "raw" / "ecds" / "2019-04" / "ae.csv", AE_HEADER, _ae_rows(keys))
    result = ingest.run(settings, AS_OF)
    assert (result.summary["rows read"], result.summary["rows loaded"], result.summary["rows quarantined"]) == (
        1000,
        1000,
        0,
    )
    assert query(settings, "SELECT count(*) FROM stg_ecds WHERE arrival_time IS NULL") == [(0,)]
    assert_invariant(settings)


def test_random_ten_digit_numbers_in_a_code_column_are_not_quarantined(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, mapping="hes")
    rows = _ae_rows([str(500_000_000_000 + i) for i in range(200)])
    for row, number in zip(rows, _numbers(random.Random(5), 200), strict=True):
        row["AEARRIVALMODE"] = number  # e.g. ten-digit SNOMED CT ids: about one in eleven pass
    write_csv(tmp_path / "raw" / "ecds" / "2019-04" / "ae.csv", AE_HEADER, rows)
    assert ingest.run(settings, AS_OF).summary["rows loaded"] == 200


def test_a_column_of_real_nhs_numbers_is_caught(tmp_path: Path) -> None:
    """An extract whose person id was never pseudonymised: every number passes, every row is held."""
    settings = settings_for(tmp_path, mapping="hes")
    people = _numbers(random.Random(3), 300, valid=True)
    write_csv(tmp_path / "raw" / "ecds" / "2019-04" / "ae.csv", AE_HEADER,
              _ae_rows([str(500_000_000_000 + i) for i in range(300)], people))  # fmt: skip
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT count(*) FROM stg_ecds") == [(0,)]
    assert query(settings, "SELECT rule, field, value, count(*) FROM quarantine GROUP BY ALL") == [
        ("raw_nhs_number", "PSEUDO_HESID", "**********", 300)
    ]
    dump = json.dumps(query(settings, "SELECT record, failures FROM quarantine"), default=str)
    assert not any(p in dump for p in people)
    assert_invariant(settings)


def test_a_record_key_of_real_nhs_numbers_is_caught(tmp_path: Path) -> None:
    """The key is exempt only on little evidence: a key column that passes almost always is NHS numbers."""
    settings = settings_for(tmp_path, mapping="hes")
    keys = _numbers(random.Random(4), 40, valid=True)
    write_csv(tmp_path / "raw" / "ecds" / "2019-04" / "ae.csv", AE_HEADER, _ae_rows(keys))
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT rule, field, count(*) FROM quarantine GROUP BY ALL") == [
        ("raw_nhs_number", "AEKEY", 40)
    ]


def test_a_few_raw_numbers_among_tokens_are_caught(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, mapping="hes")
    rows = _ae_rows([str(500_000_000_000 + i) for i in range(500)])
    rows[7]["PSEUDO_HESID"], rows[300]["PSEUDO_HESID"] = "9434765919", "943 476 5919"
    rows[8]["PSEUDO_HESID"] = "9434765918"  # fails the check digit: not an NHS number
    write_csv(tmp_path / "raw" / "ecds" / "2019-04" / "ae.csv", AE_HEADER, rows)
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT row_number FROM quarantine WHERE rule = 'raw_nhs_number' ORDER BY 1") == [
        (8,),
        (301,),
    ]
    assert query(settings, "SELECT count(*) FROM stg_ecds") == [(498,)]


def test_an_nhs_number_embedded_in_free_text_is_caught_and_masked(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, mapping="hes")
    rows = _ae_rows([str(500_000_000_000 + i) for i in range(20)])
    rows[2]["NOTES"] = "seen with NHS 943 476 5919, discharged"  # an unmapped free-text column
    rows[3]["AEARRIVALMODE"] = "ref:9434765919"  # a code column
    rows[4]["NOTES"] = "call 9434765918 back"  # fails the check digit
    rows[5]["PSEUDO_HESID"] = "ID 9434765919"  # an identifier column is judged by its column, not searched
    write_csv(tmp_path / "raw" / "ecds" / "2019-04" / "ae.csv", AE_HEADER, rows)
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT row_number, field, value FROM quarantine ORDER BY 1") == [
        (3, "NOTES", "**********"),
        (4, "AEARRIVALMODE", "**********"),
    ]
    records = [json.loads(str(r[0])) for r in query(settings, "SELECT record FROM quarantine ORDER BY row_number")]
    assert records[0]["NOTES"] == "seen with NHS **********, discharged"
    assert records[1]["AEARRIVALMODE"] == "ref:**********"
    assert query(settings, "SELECT count(*) FROM stg_ecds") == [(18,)]


def test_a_custom_mapping_extending_hes_keeps_its_formats_and_placeholders(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "trust.yaml").write_text(
        "name: trust\nextends: hes\nsources:\n  ecds:\n    columns:\n      person_id: LOCAL_PATIENT_TOKEN\n",
        encoding="utf-8",
    )
    settings = settings_for(tmp_path, mapping="trust")
    settings = dataclasses.replace(settings, paths=dataclasses.replace(settings.paths, mappings=mappings))
    header = ["AEKEY", "LOCAL_PATIENT_TOKEN", "ARRIVALDATE", "ARRIVALTIME", "AEDEPTTYPE", "DIAG_01"]
    write_csv(tmp_path / "raw" / "ecds" / "2019-04" / "ae.csv", header,
              [dict(zip(header, ["1", A, "02/04/2019", "930", "99", "&"], strict=True))])  # fmt: skip
    ingest.run(settings, AS_OF)
    assert query(settings, "SELECT arrival_date, arrival_time, department_type, diagnosis_ae FROM stg_ecds") == [
        (date(2019, 4, 2), time(9, 30), None, None)
    ]
