"""Clinical code lists: read the CSV files in ``codelists/`` and load them into DuckDB ``ref_*`` tables.

Each file's source, version and deviations are in ``codelists/sources.yaml``. Codes are normalised
(see :mod:`popheath.clinical.normalise`) and a listed code matches every diagnosis code that starts
with it, e.g. in SQL ``starts_with(diagnosis, ref.code)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import polars as pl
import yaml

from popheath.clinical.normalise import NORMALISE_ICD10_MACRO, normalise_icd10
from popheath.errors import InputError

log = logging.getLogger(__name__)

CODELIST_DIR = Path(__file__).resolve().parent / "codelists"
SOURCES_FILE = CODELIST_DIR / "sources.yaml"

ACSC_GROUPS = ("chronic", "acute", "vaccine_preventable")
ACSC_RULES = ("", "exclude_if_procedure", "requires_diagnosis", "exclude_if_diagnosis")
# Where a rule looks: the primary / any OPCS-4 procedure, any diagnosis (all positions, as the NHS OF
# 2.3.i "_CONCAT" fields) or a secondary diagnosis only (positions 2+).
ACSC_RULE_SCOPES = ("primary_procedure", "any_procedure", "any_diagnosis", "secondary_diagnosis")
FALL_CATEGORIES = ("fall_external_cause", "injury")
FRAILTY_SYNDROMES = (
    "cognitive_impairment",
    "parkinsonism",
    "falls",
    "mobility_dependence",
    "incontinence",
    "pressure_ulcer",
    "sensory_impairment",
)
HFRS_CODE_COUNT = 109
CHARLSON_CONDITION_COUNT = 17
ELIXHAUSER_CONDITION_COUNT = 31


@dataclass(frozen=True)
class CodeList:
    """One code-list file and the DuckDB table it becomes (column name -> DuckDB type)."""

    file: str
    table: str
    columns: dict[str, str]
    code_column: str | None = "code"


CODELISTS: tuple[CodeList, ...] = (
    CodeList(
        "acsc.csv",
        "ref_acsc",
        {
            "code": "VARCHAR",
            "acsc_group": "VARCHAR",
            "condition": "VARCHAR",
            "rule": "VARCHAR",
            "note": "VARCHAR",
            "source": "VARCHAR",
        },
    ),
    CodeList(
        "acsc_rules.csv",
        "ref_acsc_rules",
        {"condition": "VARCHAR", "rule": "VARCHAR", "code_prefix": "VARCHAR", "applies_to": "VARCHAR"},
        code_column=None,
    ),
    CodeList(
        "hfrs_gilbert2018.csv",
        "ref_hfrs",
        {"code": "VARCHAR", "weight": "DECIMAL(4,1)", "description": "VARCHAR"},
    ),
    CodeList("charlson_quan2005.csv", "ref_charlson", {"code": "VARCHAR", "condition": "VARCHAR"}),
    CodeList(
        "charlson_weights.csv",
        "ref_charlson_weights",
        {
            "condition": "VARCHAR",
            "charlson_weight": "INTEGER",
            "quan_2011_weight": "INTEGER",
            "description": "VARCHAR",
        },
        code_column=None,
    ),
    CodeList("elixhauser_quan2005.csv", "ref_elixhauser", {"code": "VARCHAR", "condition": "VARCHAR"}),
    CodeList(
        "elixhauser_weights_van_walraven2009.csv",
        "ref_elixhauser_weights",
        {"condition": "VARCHAR", "van_walraven_weight": "INTEGER", "description": "VARCHAR"},
        code_column=None,
    ),
    CodeList("falls.csv", "ref_falls", {"code": "VARCHAR", "category": "VARCHAR"}),
    CodeList("long_term_conditions.csv", "ref_long_term_conditions", {"code": "VARCHAR", "condition": "VARCHAR"}),
    CodeList("frailty_syndromes.csv", "ref_frailty_syndromes", {"code": "VARCHAR", "syndrome": "VARCHAR"}),
    CodeList(
        "ecds_diagnosis_icd10.csv",
        "ref_ecds_diagnosis_icd10",
        {"snomed_code": "VARCHAR", "description": "VARCHAR", "icd10_code": "VARCHAR", "source": "VARCHAR"},
        code_column=None,
    ),
    CodeList("imd_lsoa.csv", "ref_imd", {"lsoa_code": "VARCHAR", "imd_decile": "INTEGER"}, code_column=None),
    CodeList(
        "ecds_chief_complaint_falls.csv",
        "ref_ecds_chief_complaint_falls",
        {"snomed_code": "VARCHAR", "description": "VARCHAR", "ecds_description": "VARCHAR", "source": "VARCHAR"},
        code_column=None,
    ),
)
# A SNOMED CT concept id: 6 to 18 digits, no leading zero.
_SNOMED_PATTERN = r"^[1-9][0-9]{5,17}$"
# An ONS LSOA code (2011 or 2021): E01 (England) or W01 (Wales) and six digits.
_LSOA_PATTERN = r"^[EW]01[0-9]{6}$"
_BY_TABLE = {codelist.table: codelist for codelist in CODELISTS}


def _fail(path: Path, field: str | None, expected: str, row: int | None = None, got: str | None = None) -> InputError:
    return InputError(file=path, field=field, expected=expected, row=row, got=got)


def _read_file(codelist: CodeList, directory: Path) -> pl.DataFrame:
    """Read one CSV as strings and check its header and codes."""
    path = directory / codelist.file
    if not path.is_file():
        raise _fail(path, None, "a code-list file")
    frame = pl.read_csv(path, infer_schema=False, empty_string_is_null=False).fill_null("")
    expected = list(codelist.columns)
    if frame.columns != expected:
        raise _fail(path, "header", ",".join(expected), got=",".join(frame.columns))
    if codelist.code_column is not None:
        for index, code in enumerate(frame[codelist.code_column].to_list(), start=1):
            if normalise_icd10(code) != code:
                raise _fail(path, codelist.code_column, "a normalised ICD-10 code (upper case, no dot)", index, code)
    return frame


def _check(codelist: CodeList, frame: pl.DataFrame, directory: Path) -> None:
    """Content rules that the SQL relies on (ACSC codes once per group, 109 HFRS codes, SNOMED ids, ...)."""
    path = directory / codelist.file

    def allowed(column: str, values: tuple[str, ...]) -> None:
        bad = frame.filter(~pl.col(column).is_in(list(values)))
        if bad.height:
            shown = ", ".join(value or "(empty)" for value in values)
            raise _fail(path, column, f"one of {shown}", got=bad[column][0])

    if codelist.table == "ref_acsc":
        allowed("acsc_group", ACSC_GROUPS)
        allowed("rule", ACSC_RULES)
        # A code may belong to several groups (B18.0: chronic and vaccine-preventable), once per group.
        pairs = list(zip(frame["code"].to_list(), frame["acsc_group"].to_list(), strict=True))
        if len(set(pairs)) != len(pairs):
            raise _fail(path, "code", "each code once per ACSC group")
        overlapping = [(a, b) for a, g in pairs for b, h in pairs if g == h and a != b and b.startswith(a)]
        if overlapping:
            raise _fail(
                path, "code", "no code that is a prefix of another in its group", got=" / ".join(overlapping[0])
            )
    elif codelist.table == "ref_acsc_rules":
        allowed("applies_to", ACSC_RULE_SCOPES)
        allowed("rule", ACSC_RULES[1:])
    elif codelist.table in ("ref_ecds_diagnosis_icd10", "ref_ecds_chief_complaint_falls"):
        bad = frame.filter(~pl.col("snomed_code").str.contains(_SNOMED_PATTERN))
        if bad.height:
            raise _fail(path, "snomed_code", "a SNOMED CT concept id (digits)", got=bad["snomed_code"][0])
        if codelist.table == "ref_ecds_diagnosis_icd10":
            for index, code in enumerate(frame["icd10_code"].to_list(), start=1):
                if normalise_icd10(code) != code:
                    raise _fail(path, "icd10_code", "a normalised ICD-10 code (upper case, no dot)", index, code)
        if frame["snomed_code"].n_unique() != frame.height:
            raise _fail(path, "snomed_code", "each SNOMED code once")
    elif codelist.table == "ref_imd":
        bad = frame.filter(~pl.col("lsoa_code").str.contains(_LSOA_PATTERN))
        if bad.height:
            raise _fail(path, "lsoa_code", "an ONS LSOA code (E01 or W01 and six digits)", got=bad["lsoa_code"][0])
        allowed("imd_decile", tuple(str(decile) for decile in range(1, 11)))
        if frame["lsoa_code"].n_unique() != frame.height:
            raise _fail(path, "lsoa_code", "each LSOA once")
    elif codelist.table == "ref_hfrs":
        if frame.height != HFRS_CODE_COUNT or frame["code"].n_unique() != HFRS_CODE_COUNT:
            raise _fail(path, "code", f"{HFRS_CODE_COUNT} distinct codes (Gilbert 2018)", got=str(frame.height))
        if frame["code"].str.len_chars().max() != 3 or frame["code"].str.len_chars().min() != 3:
            raise _fail(path, "code", "three-character ICD-10 codes")
    elif codelist.table in ("ref_charlson", "ref_elixhauser"):
        wanted = CHARLSON_CONDITION_COUNT if codelist.table == "ref_charlson" else ELIXHAUSER_CONDITION_COUNT
        if frame["condition"].n_unique() != wanted:
            raise _fail(path, "condition", f"{wanted} conditions", got=str(frame["condition"].n_unique()))
    elif codelist.table == "ref_falls":
        allowed("category", FALL_CATEGORIES)
    elif codelist.table == "ref_frailty_syndromes":
        allowed("syndrome", FRAILTY_SYNDROMES)
    if frame.unique().height != frame.height:
        raise _fail(path, None, "no duplicate rows")


def read_codelist(table: str, directory: Path | None = None) -> pl.DataFrame:
    """One code list as a polars frame with the column types of its DuckDB table (weights as floats)."""
    if directory is None:
        return _cached(table).clone()
    return _typed(_BY_TABLE[table], directory)


@cache
def _cached(table: str) -> pl.DataFrame:
    return _typed(_BY_TABLE[table], CODELIST_DIR)


def _typed(codelist: CodeList, directory: Path) -> pl.DataFrame:
    frame = _read_file(codelist, directory)
    _check(codelist, frame, directory)
    casts = []
    for column, sql_type in codelist.columns.items():
        if sql_type == "INTEGER":
            casts.append(pl.col(column).cast(pl.Int64))
        elif sql_type.startswith("DECIMAL"):
            casts.append(pl.col(column).cast(pl.Float64))
    return frame.with_columns(casts) if casts else frame


def sources() -> dict[str, object]:
    """The parsed ``sources.yaml`` (source, version and deviations per file)."""
    with SOURCES_FILE.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    if not isinstance(loaded, dict):
        raise _fail(SOURCES_FILE, None, "a YAML mapping")
    return loaded


def load_into(
    con: duckdb.DuckDBPyConnection, directory: Path | None = None, local: Path | None = None
) -> dict[str, int]:
    """Create (or replace) every ``ref_*`` table and the ``normalise_icd10`` macro; return row counts.

    ``local`` (settings ``paths.reference``) is a folder of the ICS's own releases of licensed
    reference tables: a file there with a shipped list's name (e.g. ``ecds_diagnosis_icd10.csv`` filled
    from the ETOS workbook) replaces the shipped one and passes the same checks. Also writes
    ``ref_codelist_sources`` (table, file, version) so outputs can name the list versions.
    """
    shipped = directory or CODELIST_DIR
    described = sources().get("files", {})
    if not isinstance(described, dict):
        raise _fail(SOURCES_FILE, "files", "a mapping of file name to source")
    con.execute(NORMALISE_ICD10_MACRO)
    counts: dict[str, int] = {}
    provenance = []
    for codelist in CODELISTS:
        if codelist.file not in described:
            raise _fail(SOURCES_FILE, codelist.file, "an entry with the file's source and version")
        folder = local if local is not None and (local / codelist.file).is_file() else shipped
        frame = _read_file(codelist, folder)
        _check(codelist, frame, folder)
        select = ", ".join(
            column if sql_type == "VARCHAR" else f"CAST({column} AS {sql_type}) AS {column}"
            for column, sql_type in codelist.columns.items()
        )
        con.register("_codelist_frame", frame.to_arrow())
        try:
            con.execute(f"CREATE OR REPLACE TABLE {codelist.table} AS SELECT {select} FROM _codelist_frame")
        finally:
            con.unregister("_codelist_frame")
        counts[codelist.table] = frame.height
        entry = described[codelist.file]
        version = str(entry.get("version", sources().get("version", ""))) if isinstance(entry, dict) else ""
        if folder is not shipped:
            version = f"local file {folder / codelist.file}"
        provenance.append((codelist.table, codelist.file, version, frame.height))
    con.execute(
        "CREATE OR REPLACE TABLE ref_codelist_sources "
        "(table_name VARCHAR, file VARCHAR, version VARCHAR, row_count INTEGER)"
    )
    con.executemany("INSERT INTO ref_codelist_sources VALUES (?, ?, ?, ?)", provenance)
    log.info("loaded %d code lists: %s", len(counts), ", ".join(f"{t}={n}" for t, n in counts.items()))
    return counts
