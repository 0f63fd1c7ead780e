import shutil
from pathlib import Path

import duckdb
import pytest

from popheath.clinical import codelists
from popheath.clinical.scores import acsc_groups
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
    "ref_ecds_diagnosis_icd10": [
        ("snomed_code", "VARCHAR"),
        ("description", "VARCHAR"),
        ("icd10_code", "VARCHAR"),
        ("source", "VARCHAR"),
    ],
    "ref_ecds_chief_complaint_falls": [
        ("snomed_code", "VARCHAR"),
        ("description", "VARCHAR"),
        ("ecds_description", "VARCHAR"),
        ("source", "VARCHAR"),
    ],
    "ref_imd": [("lsoa_code", "VARCHAR"), ("imd_decile", "INTEGER")],
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
        "SELECT a.code, b.code FROM ref_acsc a JOIN ref_acsc b"
        " ON a.acsc_group = b.acsc_group AND a.code <> b.code AND starts_with(b.code, a.code)"
    ).fetchall()
    assert overlapping == []
    rule_conditions = {row[0] for row in con.execute("SELECT DISTINCT condition FROM ref_acsc_rules").fetchall()}
    ruled = {row[0] for row in con.execute("SELECT DISTINCT condition FROM ref_acsc WHERE rule <> ''").fetchall()}
    assert (
        rule_conditions
        == ruled
        == {
            "angina",
            "congestive_heart_failure",
            "hypertension",
            "cellulitis",
            "copd",
            "chronic_viral_hepatitis_b",
            "influenza_pneumonia",
        }
    )


@pytest.mark.parametrize(
    ("code", "groups"),
    [
        ("J44", ("chronic",)),  # COPD, NHS OF 2.3.i (e)
        ("J44.1", ("chronic",)),
        ("I48X", ("chronic",)),  # atrial fibrillation, NHS OF 2.3.i (i)
        ("F03X", ("chronic",)),  # dementia, NHS OF 2.3.i (i)
        ("I25.1", ("chronic",)),  # chronic ischaemic heart disease, NHS OF 2.3.i (f)
        ("I13.0", ("chronic",)),  # NHS OF 2.3.i (c)
        ("D52.9", ("chronic",)),  # folate deficiency anaemia, NHS OF 2.3.i (g)
        ("B18.1", ("chronic", "vaccine_preventable")),  # NHS OF 2.3.i (a) and NHS Institute hepatitis B
        ("G40.9", ("acute", "chronic")),  # NHS OF 2.3.i (i) and NHS Institute convulsions and epilepsy
        ("R56.8", ("acute",)),  # NHS Institute convulsions; not in NHS OF 2.3.i
        ("I24.9", ()),  # NHS Institute angina only; not in NHS OF 2.3.i
        ("E43X", ()),  # NHS Institute nutritional deficiency only; not in NHS OF 2.3.i
        ("N39.0", ("acute",)),  # UTI, NHS OF 3a kidney/urinary tract infections
        ("N10X", ("acute",)),
        ("L03.1", ("acute",)),
        ("J10.1", ("vaccine_preventable",)),  # influenza
        ("J18.1", ("vaccine_preventable",)),
        ("B16.9", ("vaccine_preventable",)),  # acute hepatitis B
        ("N39.4", ()),  # other urinary incontinence: not an ACSC
        ("J18.9", ()),  # pneumonia, unspecified: not in the list
        ("I21.0", ()),
        ("", ()),
    ],
)
def test_acsc_groups_of_known_codes(code: str, groups: tuple[str, ...]) -> None:
    assert acsc_groups(code) == groups


def test_chronic_group_is_exactly_the_nhsof_2_3_i_appendix(con: duckdb.DuckDBPyConnection) -> None:
    # NHS OF 2.3.i (CCG OIS 2.6) v1.15, Appendix 2 - List of conditions (ICD-10), normalised.
    appendix = {
        "B181", "B180", "E10", "E11", "E12", "E13", "E14", "D501", "D508", "D509", "D51", "D52",
        "F00", "F01", "F02", "F03", "G40", "G41", "I10", "I110", "I119", "I130", "I20", "I25", "I50",
        "I48", "J81", "J20", "J41", "J42", "J43", "J44", "J45", "J46", "J47",
    }  # fmt: skip
    chronic = {row[0] for row in con.execute("SELECT code FROM ref_acsc WHERE acsc_group = 'chronic'").fetchall()}
    assert chronic == appendix
    sources = {
        row[0] for row in con.execute("SELECT DISTINCT source FROM ref_acsc WHERE acsc_group = 'chronic'").fetchall()
    }
    assert sources == {"nhsof_2_3_i"}
    cardiac = con.execute(
        "SELECT condition, list_sort(list(code_prefix)), any_value(applies_to) FROM ref_acsc_rules"
        " WHERE condition IN ('congestive_heart_failure', 'hypertension') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    listed = sorted("K0 K1 K2 K3 K4 K50 K52 K55 K56 K57 K60 K61 K66 K67 K68 K69 K71 K73 K74".split())
    assert cardiac == [
        ("congestive_heart_failure", listed, "any_procedure"),
        ("hypertension", listed, "any_procedure"),
    ]
    angina = con.execute(
        "SELECT list_sort(list(code_prefix)), list_distinct(list(applies_to)) FROM ref_acsc_rules"
        " WHERE condition = 'angina'"
    ).fetchone()
    chapters = [*"ABCDEFGHIJKLMNOPQRST", "V", "W", "X0", "X1", "X2", "X4", "X5"]
    assert angina == (sorted(chapters), ["any_procedure"])


def test_sql_prefix_match_gives_the_same_groups(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT d.diagnosis, a.acsc_group FROM (VALUES ('J441'), ('N390'), ('J101'), ('J189'), ('B181'))"
        " d(diagnosis) LEFT JOIN ref_acsc a ON starts_with(d.diagnosis, a.code) ORDER BY 1, 2"
    ).fetchall()
    assert rows == [
        ("B181", "chronic"),
        ("B181", "vaccine_preventable"),
        ("J101", "vaccine_preventable"),
        ("J189", None),
        ("J441", "chronic"),
        ("N390", "acute"),
    ]


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
    assert rows["ref_imd"] == 32844  # IoD 2019: every LSOA of the 2011 geography
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
    path.write_text(path.read_text() + "J441,chronic,test,,,test\n")  # J44 is chronic already
    with pytest.raises(InputError, match="prefix of another in its group"):
        codelists.load_into(duckdb.connect(), directory=folder)


def test_wrong_header_is_named(tmp_path: Path) -> None:
    folder = _copy_lists(tmp_path)
    path = folder / "falls.csv"
    path.write_text(path.read_text().replace("code,category", "icd,category", 1))
    with pytest.raises(InputError, match="field header: expected code,category"):
        codelists.load_into(duckdb.connect(), directory=folder)


def test_a_code_twice_in_one_group_is_refused(tmp_path: Path) -> None:
    folder = _copy_lists(tmp_path)
    path = folder / "acsc.csv"
    path.write_text(path.read_text() + "J44,chronic,copd_again,,,test\n")
    with pytest.raises(InputError, match="each code once per ACSC group"):
        codelists.load_into(duckdb.connect(), directory=folder)


def test_unknown_rule_scope_is_refused(tmp_path: Path) -> None:
    folder = _copy_lists(tmp_path)
    path = folder / "acsc_rules.csv"
    path.write_text(path.read_text() + "copd,requires_diagnosis,J45,third_diagnosis\n")
    with pytest.raises(InputError, match="field applies_to: expected one of"):
        codelists.load_into(duckdb.connect(), directory=folder)


def test_snomed_tables_refuse_a_non_snomed_code(tmp_path: Path) -> None:
    folder = _copy_lists(tmp_path)
    path = folder / "ecds_diagnosis_icd10.csv"
    path.write_text(path.read_text() + "S72.0,test row,S720,test\n")
    with pytest.raises(InputError, match="field snomed_code: expected a SNOMED CT concept id"):
        codelists.load_into(duckdb.connect(), directory=folder)
    path.write_text("snomed_code,description,icd10_code,source\n123456789,test row,S72.0,test\n")
    with pytest.raises(InputError, match="field icd10_code: expected a normalised ICD-10 code"):
        codelists.load_into(duckdb.connect(), directory=folder)


def test_ecds_diagnosis_mapping_ships_no_invented_rows(con: duckdb.DuckDBPyConnection) -> None:
    # No public copy of the ETOS Diagnosis refset with ICD10_Mapping was found (sources.yaml: coverage).
    assert con.execute("SELECT count(*) FROM ref_ecds_diagnosis_icd10").fetchone() == (0,)
    entry = codelists.sources()["files"]["ecds_diagnosis_icd10.csv"]
    assert "NO CODES" in entry["coverage"]


def test_ecds_falls_chief_complaints_are_the_etos_group(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT snomed_code FROM ref_ecds_chief_complaint_falls ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == ["161898004", "249990003", "394616008", "430576002"]


def test_a_local_reference_release_replaces_the_shipped_list_and_is_checked(tmp_path: Path) -> None:
    local = tmp_path / "reference"
    local.mkdir()
    (local / "ecds_diagnosis_icd10.csv").write_text(
        "snomed_code,description,icd10_code,source\n22298006,Myocardial infarction,I219,local_etos_test\n"
    )
    con = duckdb.connect()
    counts = codelists.load_into(con, local=local)
    assert counts["ref_ecds_diagnosis_icd10"] == 1
    assert con.execute("SELECT snomed_code, icd10_code FROM ref_ecds_diagnosis_icd10").fetchall() == [
        ("22298006", "I219")
    ]
    version = con.execute(
        "SELECT version FROM ref_codelist_sources WHERE table_name = 'ref_ecds_diagnosis_icd10'"
    ).fetchone()
    assert version is not None and str(version[0]).startswith("local file ")
    assert counts["ref_hfrs"] == 109  # every list without a local copy is the shipped one
    (local / "ecds_diagnosis_icd10.csv").write_text(
        "snomed_code,description,icd10_code,source\n22298006,Myocardial infarction,I21.9,local_etos_test\n"
    )
    with pytest.raises(InputError, match=r"ecds_diagnosis_icd10.csv: row 1: field icd10_code"):
        codelists.load_into(duckdb.connect(), local=local)
