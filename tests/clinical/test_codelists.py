import shutil
from pathlib import Path

import duckdb
import pytest

from popheath.clinical import codelists
from popheath.clinical.scores import acsc_group
from popheath.errors import InputError

EXPECTED_SCHEMAS = {
    "ref_acsc": [
        ("code", "VARCHAR"),
        ("acsc_group", "VARCHAR"),
        ("condition", "VARCHAR"),
        ("rule", "VARCHAR"),
        ("note", "VARCHAR"),
        ("source", "VARCHAR"),
    ],
    "ref_acsc_rules": [
        ("condition", "VARCHAR"),
        ("rule", "VARCHAR"),
        ("code_prefix", "VARCHAR"),
        ("applies_to", "VARCHAR"),
    ],
    "ref_hfrs": [("code", "VARCHAR"), ("weight", "DECIMAL(4,1)"), ("description", "VARCHAR")],
    "ref_charlson": [("code", "VARCHAR"), ("condition", "VARCHAR")],
    "ref_charlson_weights": [
        ("condition", "VARCHAR"),
        ("charlson_weight", "INTEGER"),
        ("quan_2011_weight", "INTEGER"),
        ("description", "VARCHAR"),
    ],
    "ref_elixhauser": [("code", "VARCHAR"), ("condition", "VARCHAR")],
    "ref_elixhauser_weights": [
        ("condition", "VARCHAR"),
        ("van_walraven_weight", "INTEGER"),
        ("description", "VARCHAR"),
    ],
    "ref_falls": [("code", "VARCHAR"), ("category", "VARCHAR")],
    "ref_long_term_conditions": [("code", "VARCHAR"), ("condition", "VARCHAR")],
    "ref_frailty_syndromes": [("code", "VARCHAR"), ("syndrome", "VARCHAR")],
}


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    codelists.load_into(connection)
    return connection


def test_tables_have_the_contracted_schemas(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in EXPECTED_SCHEMAS.items():
        described = [(name, kind) for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()]
        assert described == columns, table


def test_counts_match_the_publications(con: duckdb.DuckDBPyConnection) -> None:
    # Gilbert 2018: 109 codes; Quan 2005: 17 Charlson and 31 Elixhauser conditions.
    assert con.execute("SELECT count(*), count(DISTINCT code), sum(weight)::VARCHAR FROM ref_hfrs").fetchone() == (
        109,
        109,
        "173.2",
    )
    assert con.execute("SELECT count(DISTINCT condition) FROM ref_charlson").fetchone() == (17,)
    assert con.execute("SELECT count(*) FROM ref_charlson_weights").fetchone() == (17,)
    assert con.execute("SELECT count(DISTINCT condition) FROM ref_elixhauser").fetchone() == (31,)
    assert con.execute("SELECT count(*) FROM ref_elixhauser_weights").fetchone() == (31,)
    # Falls: W00-W19 and injuries S00-S99, T00-T98 (OHID Fingertips 22401).
    assert con.execute("SELECT category, count(*) FROM ref_falls GROUP BY 1 ORDER BY 1").fetchall() == [
        ("fall_external_cause", 20),
        ("injury", 199),
    ]


def test_known_weights(con: duckdb.DuckDBPyConnection) -> None:
    hfrs = dict(con.execute("SELECT code, weight::DOUBLE FROM ref_hfrs").fetchall())
    assert (hfrs["F00"], hfrs["G81"], hfrs["R29"], hfrs["W19"], hfrs["R50"]) == (7.1, 4.4, 3.6, 3.2, 0.1)
    charlson = {row[0]: row[1:] for row in con.execute("SELECT * FROM ref_charlson_weights").fetchall()}
    assert charlson["metastatic_solid_tumour"][:2] == (6, 6)
    assert charlson["aids_hiv"][:2] == (6, 4)  # Quan 2011 Table 3: AIDS/HIV 4
    assert charlson["myocardial_infarction"][:2] == (1, 0)
    vw = dict(con.execute("SELECT condition, van_walraven_weight FROM ref_elixhauser_weights").fetchall())
    assert (vw["liver_disease"], vw["metastatic_cancer"], vw["drug_abuse"], vw["obesity"]) == (11, 12, -7, -4)


def test_every_code_is_normalised_and_acsc_codes_do_not_overlap(con: duckdb.DuckDBPyConnection) -> None:
    tables = ("ref_acsc", "ref_hfrs", "ref_charlson", "ref_elixhauser", "ref_falls", "ref_long_term_conditions")
    for table in (*tables, "ref_frailty_syndromes"):
        sql = f"SELECT count(*) FROM {table} WHERE normalise_icd10(code) IS DISTINCT FROM code"
        assert con.execute(sql).fetchone() == (0,), table
    overlapping = con.execute(
        "SELECT a.code, b.code FROM ref_acsc a JOIN ref_acsc b ON a.code <> b.code AND starts_with(b.code, a.code)"
    ).fetchall()
    assert overlapping == []
    rule_conditions = {row[0] for row in con.execute("SELECT DISTINCT condition FROM ref_acsc_rules").fetchall()}
    ruled = {row[0] for row in con.execute("SELECT DISTINCT condition FROM ref_acsc WHERE rule <> ''").fetchall()}
    assert (
        rule_conditions
        == ruled
        == {"angina", "congestive_heart_failure", "hypertension", "cellulitis", "copd", "influenza_pneumonia"}
    )


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("J44", "chronic"),  # COPD, NHS OF 2.3.i
        ("J44.1", "chronic"),
        ("I48X", "chronic"),  # atrial fibrillation, NHS OF 2.3.i
        ("F03X", "chronic"),  # dementia, NHS OF 2.3.i
        ("B18.1", "chronic"),  # chronic hepatitis B: NHS OF 2.3.i (not vaccine-preventable)
        ("G40.9", "chronic"),  # epilepsy: NHS OF 2.3.i (not acute)
        ("N39.0", "acute"),  # UTI, NHS OF 3a kidney/urinary tract infections
        ("N10X", "acute"),
        ("L03.1", "acute"),
        ("J10.1", "vaccine_preventable"),  # influenza
        ("J18.1", "vaccine_preventable"),
        ("B16.9", "vaccine_preventable"),  # acute hepatitis B
        ("N39.4", None),  # other urinary incontinence: not an ACSC
        ("J18.9", None),  # pneumonia, unspecified: not in the list
        ("I21.0", None),
        ("", None),
    ],
)
def test_acsc_group_of_known_codes(code: str, group: str | None) -> None:
    assert acsc_group(code) == group


def test_sql_prefix_match_gives_the_same_groups(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT d.diagnosis, a.acsc_group FROM (VALUES ('J441'), ('N390'), ('J101'), ('J189')) d(diagnosis) "
        "LEFT JOIN ref_acsc a ON starts_with(d.diagnosis, a.code) ORDER BY 1"
    ).fetchall()
    assert rows == [("J101", "vaccine_preventable"), ("J189", None), ("J441", "chronic"), ("N390", "acute")]


def test_sources_yaml_describes_every_file() -> None:
    files = codelists.sources()["files"]
    assert isinstance(files, dict)
    for codelist in codelists.CODELISTS:
        entry = files[codelist.file]
        assert entry["table"] == codelist.table
        assert entry["columns"] == list(codelist.columns)
        assert entry.get("version")
        assert entry.get("licence")
    on_disk = {path.name for path in codelists.CODELIST_DIR.glob("*.csv")}
    assert on_disk == {codelist.file for codelist in codelists.CODELISTS}


def test_provenance_table(con: duckdb.DuckDBPyConnection) -> None:
    rows = dict(con.execute("SELECT table_name, row_count FROM ref_codelist_sources").fetchall())
    assert rows["ref_hfrs"] == 109
    assert set(rows) == set(EXPECTED_SCHEMAS)


def _copy_lists(tmp_path: Path) -> Path:
    folder = tmp_path / "codelists"
    shutil.copytree(codelists.CODELIST_DIR, folder)
    return folder


def test_unnormalised_code_is_an_input_error(tmp_path: Path) -> None:
    folder = _copy_lists(tmp_path)
    path = folder / "charlson_quan2005.csv"
    path.write_text(path.read_text().replace("I252,", "I25.2,"))
    with pytest.raises(InputError, match=r"charlson_quan2005.csv: row 3: field code: expected a normalised"):
        codelists.load_into(duckdb.connect(), directory=folder)


def test_hfrs_must_have_109_codes(tmp_path: Path) -> None:
    folder = _copy_lists(tmp_path)
    path = folder / "hfrs_gilbert2018.csv"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(InputError, match="109 distinct codes"):
        codelists.load_into(duckdb.connect(), directory=folder)


def test_overlapping_acsc_codes_are_refused(tmp_path: Path) -> None:
    folder = _copy_lists(tmp_path)
    path = folder / "acsc.csv"
    path.write_text(path.read_text() + "J441,acute,test,,,test\n")
    with pytest.raises(InputError, match="prefix of another"):
        codelists.load_into(duckdb.connect(), directory=folder)


def test_wrong_header_is_named(tmp_path: Path) -> None:
    folder = _copy_lists(tmp_path)
    path = folder / "falls.csv"
    path.write_text(path.read_text().replace("code,category", "icd,category", 1))
    with pytest.raises(InputError, match="field header: expected code,category"):
        codelists.load_into(duckdb.connect(), directory=folder)
