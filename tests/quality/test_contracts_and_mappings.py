import json
import re
from pathlib import Path

import duckdb
import pytest

from popheath.errors import ConfigError
from popheath.quality import contracts
from popheath.quality.compile import _normalise, compile_checks
from popheath.quality.mapping import load_mapping, resolve


@pytest.mark.parametrize("source", contracts.SOURCES)
def test_contract_suite_and_mappings_agree(source: str) -> None:
    contract = contracts.load_contract(source)
    suite = contracts.load_suite(source)
    names = set(contract.column_names)
    for expectation in suite.expectations:
        for key in ("column", "column_A", "column_B"):
            if key in expectation.kwargs:
                assert expectation.kwargs[key] in names, (source, expectation.rule)
    for mapping_name in ("synthetic", "hes"):
        mapping = load_mapping(mapping_name).for_source(source)
        assert set(mapping.columns) | set(mapping.lists) <= names


def test_canonical_columns_match_data_model() -> None:
    doc = (Path(contracts.PROJECT_ROOT) / "docs" / "data_model.md").read_text(encoding="utf-8")
    for source in contracts.SOURCES:
        contract = contracts.load_contract(source)
        line = next(row for row in doc.splitlines() if row.startswith(f"| `{contract.table}`"))
        cell = re.sub(r"\([^)]*\)", "", line.split("|")[3])
        documented = [c.strip().split(" ")[0] for c in cell.split(",")]
        assert contract.column_names == documented, source


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("I10X", "I10"),
        ("j44.1", "J441"),
        ("I10-", "I10"),
        ("X59X", "X59"),
        ("R29.6", "R296"),
        ("A09", "A09"),
        ("", None),
    ],
)
def test_icd10_normalisation(raw: str, expected: str | None) -> None:
    con = duckdb.connect()
    value = con.execute(
        f"SELECT {_normalise('NULLIF(x, ' + chr(39) * 2 + ')', 'icd10')} FROM (SELECT $x AS x)", {"x": raw}
    ).fetchone()
    assert value == (expected,)


def test_resolve_is_case_insensitive_and_orders_list_columns() -> None:
    mapping = load_mapping("hes").for_source("apc")
    resolved = resolve(mapping, ["epikey", "DIAG_4_10", "DIAG_4_02", "Diag_4_01", "Other"])
    assert resolved.columns["episode_id"] == "epikey"
    assert resolved.lists["diagnoses"] == ["Diag_4_01", "DIAG_4_02", "DIAG_4_10"]
    assert resolved.unmapped == ["Other"]


def test_unknown_mapping_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_mapping("no_such_mapping")


def test_uncompilable_row_expectation_is_rejected() -> None:
    suite = contracts.parse_suite(
        {
            "name": "x",
            "expectations": [{"type": "expect_column_values_to_be_json_parseable", "kwargs": {"column": "person_id"}}],
        }
    )
    contract = contracts.load_contract("csds")
    mapping = load_mapping("synthetic")
    with pytest.raises(ConfigError, match="cannot be compiled"):
        compile_checks(
            contract,
            suite,
            mapping,
            mapping.for_source("csds"),
            resolve(mapping.for_source("csds"), []),
            {},
            "t",
            (),
            {},
            nhs_columns={},
        )


def test_suites_are_valid_gx_json() -> None:
    for source in contracts.SOURCES:
        document = json.loads((contracts.SUITE_DIR / f"{source}.json").read_text(encoding="utf-8"))
        assert document["name"] == source
        assert all(e["type"].startswith("expect_") for e in document["expectations"])
