import duckdb
import polars as pl
import pytest

from popheath.clinical.normalise import NORMALISE_ICD10_MACRO, normalise_icd10, normalise_icd10_sql
from popheath.clinical.scores import normalise_codes

CASES = [
    ("I10", "I10"),
    ("I10X", "I10"),  # HES filler X
    ("I10-", "I10"),  # HES filler dash
    ("I10X-", "I10"),
    ("W19XX", "W19"),
    ("j44.1", "J441"),  # dotted, lower case
    (" J44.1 ", "J441"),  # whitespace
    ("i 10 x", "I10"),
    ("S72.00", "S7200"),
    ("X59", "X59"),  # leading X of chapter XX is kept
    ("X59X", "X59"),
    ("F00.1*", "F001"),  # asterisk marker
    ("G01X+", "G01"),
    ("", None),
    ("   ", None),
    ("12345", None),  # invalid: no letter
    ("I1", None),  # too short
    ("ABC", None),
    ("C4A", None),  # ICD-10-CM style category, not ICD-10
    ("Z99999999", None),  # too long
    ("J4?", None),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_normalise_icd10(raw: str, expected: str | None) -> None:
    assert normalise_icd10(raw) == expected


def test_none_is_none() -> None:
    assert normalise_icd10(None) is None


def test_sql_macro_agrees_with_python() -> None:
    con = duckdb.connect()
    con.execute(NORMALISE_ICD10_MACRO)
    raw = [case for case, _ in CASES] + [None]
    got = con.execute(f"SELECT raw, {normalise_icd10_sql('raw')} FROM unnest($raw) AS t(raw)", {"raw": raw}).fetchall()
    assert dict(got) == {case: normalise_icd10(case) for case in raw}
    assert con.execute("SELECT normalise_icd10('k70.3')").fetchone() == ("K703",)


def test_polars_expression_agrees_with_python() -> None:
    raw = [case for case, _ in CASES] + [None]
    frame = pl.DataFrame({"raw": raw}, schema={"raw": pl.Utf8})
    got = frame.select(normalise_codes(pl.col("raw")))["raw"].to_list()
    assert got == [normalise_icd10(case) for case in raw]
