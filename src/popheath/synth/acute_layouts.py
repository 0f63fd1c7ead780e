"""The national layouts the acute extracts are written in: SUS+ in NCDR or HES for APC and OP, ECDS for A&E.

The extracts module builds one flat frame per source with NCDR field names; here each delivery
becomes the files a real one has, with the published headers (national_formats.md):

- ``ncdr`` APC (1.1 (b); NHS-Transformation-Unit/NCDR_Reference apce_main.sql): ``tbl_Data_SEM_APCE``
  (one row per episode), ``tbl_Data_SEM_APCE_Diag`` (``Primary_Diagnosis_Code``,
  ``Secondary_Diagnosis_Code_1..12``, '-' in an empty position, as NCDR fills them) and
  ``tbl_Data_SEM_APCE_Proc`` (episodes with a procedure: ``Primary_Procedure_Code``,
  ``Primary_Procedure_Date``, ``Secondary_Procedure_Code_1..6``), joined on ``APCE_Ident``. A
  duplicated episode row (dirt) is duplicated in the core table only: its diagnoses and procedures
  are one row each. OP (1.3): ``tbl_Data_SEM_OPA``.
- ``hes`` (1.1 (a), 1.3; The-Strategy-Unit/hes_processing bronze schemas, upper-case as the shipped
  hes connector reads them): one flat file per delivery, the person as ``TOKEN_PERSON_ID`` (the
  DAE token; the values are the same pseudonymised tokens as NCDR's ``Der_Pseudo_NHS_Number``),
  the trust as ``PROCODE3`` (the codes are 3-character trust codes), ``DIAG_01..13`` and
  ``OPERTN_01..07`` with empty positions left empty.
- ECDS (1.2; NCDR_Reference ecds_main.sql, nhp_data raw_data/ecds.py): ``EC_Core`` with
  ``Der_EC_Diagnosis_All``, plus the separate ``EC_Diagnosis`` table (``EC_Diagnosis_01..02``)
  when asked for.

A file is named ``<table>_<YYYY-MM>`` in its delivery folder; the connectors recognise the
tables by their headers.
"""

from __future__ import annotations

import polars as pl

from popheath.errors import InputError
from popheath.synth.extracts import APC_DIAGNOSIS_COLUMNS, APC_PROCEDURE_COLUMNS

ACUTE_LAYOUTS = ("ncdr", "hes")
NCDR_FILLER = "-"  # an empty diagnosis position in tbl_Data_SEM_APCE_Diag (the ncdr connector strips it)

NCDR_APCE_COLUMNS = [
    "APCE_Ident", "Der_Pseudo_NHS_Number", "Hospital_Spell_No", "Der_Provider_Code", "Admission_Date",
    "Discharge_Date", "Episode_Start_Date", "Episode_End_Date", "Episode_Number", "Admission_Method",
    "Source_of_Admission", "Discharge_Destination", "Discharge_Method", "Intended_Management",
    "Patient_Classification", "Treatment_Function_Code", "Spell_Core_HRG", "Ethnic_Group",
]  # fmt: skip
NCDR_DIAG_COLUMNS = ["APCE_Ident", *APC_DIAGNOSIS_COLUMNS]
NCDR_PROC_COLUMNS = ["APCE_Ident", "Primary_Procedure_Code", "Primary_Procedure_Date", *APC_PROCEDURE_COLUMNS[1:]]
NCDR_OPA_COLUMNS = [
    "OPA_Ident", "Der_Pseudo_NHS_Number", "Der_Provider_Code", "Appointment_Date", "Attendance_Status",
    "First_Attendance", "Treatment_Function_Code", "Core_HRG", "Ethnic_Category",
]  # fmt: skip

HES_APC_NAMES = {
    "APCE_Ident": "EPIKEY", "Der_Pseudo_NHS_Number": "TOKEN_PERSON_ID", "Hospital_Spell_No": "PROVSPNOPS",
    "Der_Provider_Code": "PROCODE3", "Admission_Date": "ADMIDATE", "Discharge_Date": "DISDATE",
    "Episode_Start_Date": "EPISTART", "Episode_End_Date": "EPIEND", "Episode_Number": "EPIORDER",
    "Admission_Method": "ADMIMETH", "Source_of_Admission": "ADMISORC", "Discharge_Destination": "DISDEST",
    "Discharge_Method": "DISMETH", "Patient_Classification": "CLASSPAT", "_episode_status": "EPISTAT",
    **{column: f"DIAG_{i + 1:02d}" for i, column in enumerate(APC_DIAGNOSIS_COLUMNS)},
    **{column: f"OPERTN_{i + 1:02d}" for i, column in enumerate(APC_PROCEDURE_COLUMNS)},
    "Spell_Core_HRG": "SUSHRG", "Treatment_Function_Code": "TRETSPEF",
}  # fmt: skip
HES_OPA_NAMES = {
    "OPA_Ident": "ATTENDKEY", "Der_Pseudo_NHS_Number": "TOKEN_PERSON_ID", "Der_Provider_Code": "PROCODE3",
    "Appointment_Date": "APPTDATE", "Attendance_Status": "ATTENDED", "First_Attendance": "FIRSTATT",
    "Treatment_Function_Code": "TRETSPEF", "Core_HRG": "SUSHRG",
}  # fmt: skip
EC_DIAGNOSIS_POSITIONS = 2  # the generator records at most a primary and one second diagnosis


def check_layout(layout: str) -> None:
    """Refuse an APC/OP layout the generator cannot write."""
    if layout not in ACUTE_LAYOUTS:
        raise InputError(file="--acute-layout", field="acute_layout", expected=" or ".join(ACUTE_LAYOUTS), got=layout)


def tables(frame: pl.DataFrame, source: str, layout: str, ecds_diagnosis_table: bool) -> dict[str, pl.DataFrame]:
    """The files of one delivery of ``source``: table name -> rows (population, ASC: one file named by source)."""
    if source == "apc":
        return apc_tables(frame, layout)
    if source == "opa":
        return (
            {"tbl_Data_SEM_OPA": frame.select(NCDR_OPA_COLUMNS)}
            if layout == "ncdr"
            else {"opa": _hes(frame, HES_OPA_NAMES)}
        )
    if source == "ecds":
        return ecds_tables(frame, ecds_diagnosis_table)
    return {source: frame}


def apc_tables(frame: pl.DataFrame, layout: str) -> dict[str, pl.DataFrame]:
    """APC episodes as NCDR's three tables or one HES file."""
    if layout == "hes":
        return {"apc": _hes(frame, HES_APC_NAMES)}
    first = frame.unique(subset="APCE_Ident", keep="first", maintain_order=True)
    diagnoses = first.select("APCE_Ident", *[pl.col(c).fill_null(NCDR_FILLER) for c in APC_DIAGNOSIS_COLUMNS])
    procedures = first.filter(pl.col("Primary_Procedure_Code").is_not_null()).select(
        "APCE_Ident",
        "Primary_Procedure_Code",
        pl.col("Episode_Start_Date").alias("Primary_Procedure_Date"),
        *APC_PROCEDURE_COLUMNS[1:],
    )
    return {
        "tbl_Data_SEM_APCE": frame.select(NCDR_APCE_COLUMNS),
        "tbl_Data_SEM_APCE_Diag": diagnoses.select(NCDR_DIAG_COLUMNS),
        "tbl_Data_SEM_APCE_Proc": procedures.select(NCDR_PROC_COLUMNS),
    }


def ecds_tables(frame: pl.DataFrame, diagnosis_table: bool) -> dict[str, pl.DataFrame]:
    """ECDS attendances as EC_Core, with the EC_Diagnosis table split from Der_EC_Diagnosis_All when asked."""
    files = {"EC_Core": frame}
    if diagnosis_table:
        codes = pl.col("Der_EC_Diagnosis_All").str.split(",")
        files["EC_Diagnosis"] = frame.unique(subset="EC_Ident", keep="first", maintain_order=True).select(
            "EC_Ident",
            *[
                codes.list.get(i, null_on_oob=True).alias(f"EC_Diagnosis_{i + 1:02d}")
                for i in range(EC_DIAGNOSIS_POSITIONS)
            ],
        )
    return files


def _hes(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    return frame.select([pl.col(column).alias(name) for column, name in names.items()])
