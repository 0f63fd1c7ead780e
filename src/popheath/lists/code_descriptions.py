"""Codes on a list row in words: ICD-10 diagnoses, OPCS-4 procedures, treatment functions and ECDS department types.

Registers the reference tables of ``lists/codes/`` (sources and coverage in ``codes/sources.yaml``)
as DuckDB temp tables for the list SQL. Diagnosis descriptions are built from the ICD-10 code lists
the project already ships (no complete ICD-10 title table); procedures have the OPCS-4.10
four-character titles NHS Digital publishes with HES and the chapter titles, for a chapter fallback.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from popheath.clinical.codelists import CODELIST_DIR

CODES_DIR = Path(__file__).with_name("codes")
TREATMENT_FUNCTIONS = CODES_DIR / "treatment_functions.csv"
DEPARTMENT_TYPES = CODES_DIR / "ecds_department_types.csv"
PROCEDURES = CODES_DIR / "opcs4_titles.csv"
PROCEDURE_CHAPTERS = CODES_DIR / "opcs4_chapters.csv"
# The ACSC list names conditions in snake_case; these read as the NHS OF / NHS Institute condition
# names (codelists/sources.yaml, acsc.csv `conditions`), the rest are the words of the name.
_ACSC_WORDS = {
    "copd": "chronic obstructive pulmonary disease (COPD)",
    "ent_infections": "ear, nose and throat infections",
    "pyelonephritis_kidney_uti": "pyelonephritis or kidney / urinary tract infection",
    "atrial_fibrillation_flutter": "atrial fibrillation and flutter",
    "dehydration_gastroenteritis": "dehydration and gastroenteritis",
    "perforated_bleeding_ulcer": "perforated or bleeding ulcer",
    "convulsions_epilepsy": "convulsions and epilepsy",
    "other_vaccine_preventable": "another vaccine-preventable condition",
    "influenza_pneumonia": "influenza or pneumonia",
}
# Lower number = preferred when two lists hold the same prefix.
_PRIORITY = {"hfrs_title": 1, "acsc": 2, "charlson": 3, "elixhauser": 4}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def diagnosis_descriptions(codelist_dir: Path = CODELIST_DIR) -> pd.DataFrame:
    """One row per ICD-10 prefix: its words, whether a title or a condition group, and the list it came from."""
    hfrs = _read(codelist_dir / "hfrs_gilbert2018.csv")
    acsc = _read(codelist_dir / "acsc.csv")
    charlson = _read(codelist_dir / "charlson_quan2005.csv").merge(
        _read(codelist_dir / "charlson_weights.csv")[["condition", "description"]], on="condition"
    )
    elixhauser = _read(codelist_dir / "elixhauser_quan2005.csv").merge(
        _read(codelist_dir / "elixhauser_weights_van_walraven2009.csv")[["condition", "description"]], on="condition"
    )
    frames = [
        hfrs.assign(kind="title", source="hfrs_title")[["code", "description", "kind", "source"]],
        acsc.assign(
            description=acsc["condition"].map(lambda c: _ACSC_WORDS.get(c, c.replace("_", " "))),
            kind="condition",
            source="acsc",
        )[["code", "description", "kind", "source"]],
        charlson.assign(description=charlson["description"].str.lower(), kind="condition", source="charlson")[
            ["code", "description", "kind", "source"]
        ],
        elixhauser.assign(description=elixhauser["description"].str.lower(), kind="condition", source="elixhauser")[
            ["code", "description", "kind", "source"]
        ],
    ]
    table = pd.concat(frames, ignore_index=True)
    table["priority"] = table["source"].map(_PRIORITY)
    table = table.sort_values(["code", "priority"], kind="stable").drop_duplicates("code")
    return table.drop(columns="priority").reset_index(drop=True)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Create the list reference temp tables: diagnoses, procedures, treatment functions and department types.

    One connection, one release build: the tables live as long as the connection.
    """
    tables = {
        "list_ref_diagnoses": diagnosis_descriptions(),
        "list_ref_procedures": _read(PROCEDURES),
        "list_ref_procedure_chapters": _read(PROCEDURE_CHAPTERS),
        "list_ref_treatment_functions": _read(TREATMENT_FUNCTIONS),
        "list_ref_department_types": _read(DEPARTMENT_TYPES),
    }
    for name, frame in tables.items():
        con.register(f"{name}_frame", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_frame")
        con.unregister(f"{name}_frame")
