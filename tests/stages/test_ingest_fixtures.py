"""Hand-made deliveries in the synthetic (SUS+-style) and HES formats, shared by the ingest tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import duckdb

from popheath import config
from popheath.config import Settings

APC_HEADER = [
    "APCE_Ident", "Der_Pseudo_NHS_Number", "Hospital_Spell_No", "Der_Provider_Code", "Admission_Date",
    "Discharge_Date", "Episode_Start_Date", "Episode_End_Date", "Episode_Number", "Admission_Method",
    "Source_of_Admission", "Discharge_Destination", "Discharge_Method", "Primary_Diagnosis_Code",
    "Secondary_Diagnosis_Code_1", "Secondary_Diagnosis_Code_2", "Primary_Procedure_Code", "Spell_Core_HRG",
    "Treatment_Function_Code",
]  # fmt: skip
POP_HEADER = [
    "Pseudo_NHS_Number", "Year_Of_Birth", "Month_Of_Birth", "Gender", "Ethnic_Category", "LSOA_2021", "IMD_Decile",
    "GP_Practice_Code", "PCN_Code", "Place", "Registration_Start_Date", "Registration_End_Date", "Date_Of_Death",
    "Care_Home_Flag", "Type1_Opt_Out", "National_Data_Opt_Out",
]  # fmt: skip

TOKEN_A = "3F9A0C21B7D4E815"
TOKEN_B = "3F9A0C21B7D4E816"
TOKEN_OUT_OF_AREA = "AAAA0C21B7D4E999"
RAW_NHS = "9434765919"  # passes modulus 11


def apc_row(episode: str, person: str = TOKEN_A, **overrides: str) -> dict[str, str]:
    row = {
        "APCE_Ident": episode, "Der_Pseudo_NHS_Number": person, "Hospital_Spell_No": "S" + episode,
        "Der_Provider_Code": "RXX01", "Admission_Date": "2024-07-01", "Discharge_Date": "2024-07-05",
        "Episode_Start_Date": "2024-07-01", "Episode_End_Date": "2024-07-05", "Episode_Number": "1",
        "Admission_Method": "21", "Source_of_Admission": "19", "Discharge_Destination": "19", "Discharge_Method": "1",
        "Primary_Diagnosis_Code": "J44.1", "Secondary_Diagnosis_Code_1": "I10X", "Secondary_Diagnosis_Code_2": "",
        "Primary_Procedure_Code": "", "Spell_Core_HRG": "DZ65A", "Treatment_Function_Code": "300",
    }  # fmt: skip
    row.update(overrides)
    return row


def pop_row(person: str, **overrides: str) -> dict[str, str]:
    row = {
        "Pseudo_NHS_Number": person, "Year_Of_Birth": "1940", "Month_Of_Birth": "3", "Gender": "2",
        "Ethnic_Category": "A", "LSOA_2021": "E01000001", "IMD_Decile": "4", "GP_Practice_Code": "A81001",
        "PCN_Code": "U12345", "Place": "North", "Registration_Start_Date": "2001-01-01", "Registration_End_Date": "",
        "Date_Of_Death": "", "Care_Home_Flag": "N", "Type1_Opt_Out": "N", "National_Data_Opt_Out": "Y",
    }  # fmt: skip
    row.update(overrides)
    return row


def _quote(value: str) -> str:
    return f'"{value}"' if any(ch in value for ch in ',"\n') else value


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]], delimiter: str = ",", encoding: str = "utf-8",
              bom: bool = False, newline_at_end: bool = True) -> Path:  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [delimiter.join(header)] + [delimiter.join(_quote(row.get(h, "")) for h in header) for row in rows]
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def settings_for(tmp_path: Path, **ingest: object) -> Settings:
    base = config.Settings()
    paths = dataclasses.replace(
        base.paths, raw=tmp_path / "raw", warehouse=tmp_path / "wh.duckdb", outputs=tmp_path / "out"
    )
    # pop_row deliveries are flat spines; a test naming its own connectors keeps that choice for population.
    connectors = {"population": "flat_spine", **dict(ingest.pop("connectors", {}))}  # type: ignore[call-overload]
    ingest_settings = dataclasses.replace(base.ingest, data_docs=False, connectors=connectors, **ingest)  # type: ignore[arg-type]
    return dataclasses.replace(base, paths=paths, ingest=ingest_settings)


def query(settings: Settings, sql: str, params: dict[str, object] | None = None) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(settings.paths.warehouse), read_only=True)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def audit(settings: Settings) -> dict[str, tuple[object, ...]]:
    """Per audited file (by name): rows read, loaded, quarantined and the quarantine reasons."""
    rows = query(
        settings, "SELECT file, rows_read, rows_loaded, rows_quarantined, quarantined_by_reason FROM load_audit"
    )
    return {Path(str(f)).name: (r, lo, q, json.loads(str(b))) for f, r, lo, q, b in rows}


def assert_invariant(settings: Settings) -> None:
    """Every audited file: rows read = loaded + quarantined, and the quarantine table agrees."""
    rows = query(
        settings,
        "SELECT load_id, rows_read, rows_loaded, rows_quarantined, quarantined_by_reason, outcome, "
        "run_id = max(run_id) FILTER (WHERE outcome = 'loaded') OVER (PARTITION BY source, delivery) AS current "
        "FROM load_audit",
    )
    assert rows, "no load_audit rows"
    for load_id, read, loaded, quarantined, reasons, outcome, current in rows:
        assert read == loaded + quarantined, (load_id, read, loaded, quarantined)
        assert sum(json.loads(reasons).values()) == quarantined
        if outcome == "loaded":
            staged = sum(
                query(settings, f"SELECT count(*) FROM {t} WHERE _load_id = $l", {"l": load_id})[0][0]  # type: ignore[misc]
                for t in ("stg_population", "stg_apc", "stg_ecds", "stg_opa", "stg_csds", "stg_asc")
            )
            held = query(settings, "SELECT count(*) FROM quarantine WHERE load_id = $l", {"l": load_id})[0][0]
            # Rows of this load may since be superseded by a later file; never more than loaded.
            assert staged <= loaded
            # A later reload of the delivery replaces its quarantine rows too.
            assert held == quarantined if current else held == 0
