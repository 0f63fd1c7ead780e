import json
import re
from datetime import date, time
from pathlib import Path

import duckdb
import pytest

from popheath.errors import ConfigError
from popheath.quality import contracts
from popheath.quality.compile import _normalise, compile_checks
from popheath.quality.mapping import header_key, load_mapping, resolve


@pytest.mark.parametrize("source", contracts.SOURCES)
def test_contract_suite_and_mappings_agree(source: str) -> None:
    contract = contracts.load_contract(source)
    suite = contracts.load_suite(source)
    names = set(contract.column_names)
    for expectation in suite.expectations:
        for key in ("column", "column_A", "column_B"):
            if key in expectation.kwargs:
                assert expectation.kwargs[key] in names, (source, expectation.rule)
    # Every shipped connector that covers the source maps only to the contract's columns.
    for mapping_name in ("hes", "ncdr", "ecds", "csds", "asc_cld", "pds", "flat_spine"):
        mapping = load_mapping(mapping_name)
        if source in mapping.sources:
            section = mapping.for_source(source)
            assert set(section.columns) | set(section.lists) <= names, mapping_name


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


def test_headers_match_whatever_their_case_and_separators() -> None:
    """CSDS spelled three ways (national spaced capitals, underscores, the data lake's mixed case)."""
    assert header_key("CARE CONTACT DATE") == header_key("CARE_CONTACT_DATE") == header_key("Care_contact_date")
    assert header_key("Organisation_identifier_(Code_of_provider)") == header_key(
        "ORGANISATION IDENTIFIER (CODE OF PROVIDER)"
    )
    assert header_key("CARE CONTACT DATE") != header_key("CARE CONTACT TIME")
    mapping = load_mapping("csds").for_source("csds")
    for headers in (
        ["CARE CONTACT DATE", "ATTENDED OR DID NOT ATTEND CODE", "Other"],
        ["CARE_CONTACT_DATE", "ATTENDED_OR_DID_NOT_ATTEND_CODE", "Other"],
        ["Care_contact_date", "Attended_or_did_not_attend_code", "Other"],
    ):
        resolved = resolve(mapping, headers)
        assert (resolved.columns["contact_date"], resolved.columns["attended"]) == (headers[0], headers[1])
        assert resolved.unmapped == ["Other"]


def test_a_values_table_may_be_a_csv_code_list(tmp_path: Path) -> None:
    team_types = load_mapping("csds").for_source("csds").values["team_type"]
    assert (team_types["12"], team_types["51"], team_types["26"]) == ("district_nursing", "rapid_response", "therapy")
    (tmp_path / "codes.csv").write_text("code,label\n12,District Nursing Service\n", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(
        "name: bad\nsources:\n  csds:\n    values:\n      team_type: {csv: codes.csv, code: code, value: team_type}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="needs columns 'code' and 'team_type'"):
        load_mapping("bad", tmp_path)


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
    mapping = load_mapping("csds")
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


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text, encoding="utf-8")


def test_extends_inherits_formats_and_placeholders_unless_overridden(tmp_path: Path) -> None:
    hes = load_mapping("hes")
    _write(tmp_path, "child", "name: child\nextends: hes\nsources:\n  ecds:\n    columns:\n      person_id: X\n")
    child = load_mapping("child", tmp_path)
    assert child.date_formats == hes.date_formats and "%d/%m/%Y" in child.date_formats
    assert child.time_formats == hes.time_formats and "%H%M" in child.time_formats
    assert child.null_values == hes.null_values == ("&", "-")
    assert child.for_source("ecds").columns["person_id"] == ("X",)
    assert child.for_source("ecds").values["department_type"] == {"99": None}  # inherited value table
    _write(tmp_path, "own", "name: own\nextends: hes\ndate_formats: ['%d.%m.%Y']\nnull_values: []\n")
    own = load_mapping("own", tmp_path)
    assert own.date_formats[0] == "%d.%m.%Y" and "%d/%m/%Y" not in own.date_formats
    assert own.null_values == ()


@pytest.mark.parametrize("name", ["flat_spine", "hes", "pds", "bare"])
def test_every_mapping_parses_sql_server_and_iso_timestamps(tmp_path: Path, name: str) -> None:
    _write(tmp_path, "bare", "name: bare\nsources: {}\n")
    mapping = load_mapping(name, tmp_path)
    con = duckdb.connect()
    values = ["2025-01-01 00:00:00.000", "2025-01-01T00:00:00", "2025-01-01 00:00:00.1234567", "2025-01-01"]
    dates = con.execute(
        "SELECT CAST(try_strptime(v, $f) AS DATE) FROM unnest($v) t(v)", {"v": values, "f": list(mapping.date_formats)}
    ).fetchall()
    assert dates == [(date(2025, 1, 1),)] * 4
    times = con.execute(
        "SELECT CAST(try_strptime(v, $f) AS TIME) FROM unnest($v) t(v)",
        {"v": ["1900-01-01 09:30:00.000", "09:30:00.0000000", "2025-01-01T09:30:00"], "f": list(mapping.time_formats)},
    ).fetchall()
    assert times == [(time(9, 30),)] * 3


def _typed(contract_source: str, mapping_name: str, header: list[str], rows: list[list[str]]) -> list[tuple]:
    """Check ``rows`` (raw text under ``header``) with a source's compiled query: (canonical columns..., rules)."""
    contract = contracts.load_contract(contract_source)
    mapping = load_mapping(mapping_name)
    source_mapping = mapping.for_source(contract_source)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE raw AS SELECT 'f' AS _file, row_number() OVER () AS _row_number, "
        + ", ".join(f'r[{i + 1}] AS "{h}"' for i, h in enumerate(header))
        + " FROM unnest($rows) t(r)",
        {"rows": rows},
    )
    raw_types = {h: "VARCHAR" for h in header}
    compiled = compile_checks(
        contract, contracts.load_suite(contract_source), mapping, source_mapping, resolve(source_mapping, header),
        raw_types, "raw", (), {"max_date": "2100-01-01"}, nhs_columns={},
    )  # fmt: skip
    return con.execute(
        f"SELECT * EXCLUDE (_file, _row_number, _sentinel_flags, _raw_values, _checks), "
        f"list_transform(_checks, lambda c: c.rule) FROM ({compiled.sql}) ORDER BY _row_number",
        compiled.params,
    ).fetchall()


def test_integer_fields_accept_integral_floats_and_never_round_a_fraction() -> None:
    header = ["EPIKEY", "TOKEN_PERSON_ID", "PROCODE", "ADMIDATE", "ADMIMETH", "DIAG_01", "EPIORDER"]
    orders = ["3", "3.0", "1.00", "+2", "2.5", "0.9", "1e3", "0x10", "1_000", "&", "99999999999"]
    rows = [["E", "T", "RXX01", "2024-01-01", "21", "I10", order] for order in orders]
    got = [(r[8], "invalid_integer:episode_order" in r[-1]) for r in _typed("apc", "hes", header, rows)]
    assert got == [
        (3, False), (3, False), (1, False), (2, False),
        (None, True), (None, True), (None, True), (None, True), (None, True),
        (None, False),  # the HES placeholder '&' is not known: NULL, not invalid
        (None, True),  # out of range for INTEGER
    ]  # fmt: skip


def test_hhmm_times_with_lost_leading_zeros() -> None:
    header = ["AEKEY", "TOKEN_PERSON_ID", "ARRIVALDATE", "ARRIVALTIME"]
    values = ["0930", "930", "5", "0", "2315.0", "09:30", "2400", "960", "12345"]
    rows = [["K", "T", "2019-04-01", v] for v in values]
    got = [(r[4], "invalid_time:arrival_time" in r[-1]) for r in _typed("ecds", "hes", header, rows)]
    assert got == [
        (time(9, 30), False), (time(9, 30), False), (time(0, 5), False), (time(0, 0), False),
        (time(23, 15), False), (time(9, 30), False),
        (None, True), (None, True), (None, True),  # not a time of day
    ]  # fmt: skip


def test_a_code_mapped_to_null_is_not_known() -> None:
    header = ["AEKEY", "TOKEN_PERSON_ID", "ARRIVALDATE", "AEDEPTTYPE"]
    rows = [["K", "T", "2019-04-01", v] for v in ["99", "1", "04", "-", "05"]]
    got = [(r[5], r[-1]) for r in _typed("ecds", "hes", header, rows)]
    assert got == [(None, []), ("01", []), ("04", []), (None, []), ("05", ["unknown_code:department_type"])]


def test_free_text_columns_come_from_the_contract() -> None:
    from popheath.quality.compile import free_text_columns

    contract = contracts.load_contract("apc")
    mapping = load_mapping("hes").for_source("apc")
    header = ["EPIKEY", "TOKEN_PERSON_ID", "PROVSPNOPS", "ADMIDATE", "EPIORDER", "ADMIMETH", "DIAG_01", "NOTES"]
    raw_types = {h: "VARCHAR" for h in header} | {"EPIORDER": "INTEGER"}
    assert contract.identifiers == ("episode_id", "person_id", "spell_id")
    assert free_text_columns(contract, resolve(mapping, header), raw_types) == ["ADMIMETH", "DIAG_01", "NOTES"]
