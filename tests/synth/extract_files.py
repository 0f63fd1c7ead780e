"""Reading a generated ICS back in tests: the core table of each source, APC re-joined from NCDR's three tables,
CSDS contacts with their pseudonymised NHS number from the Bridging table."""

from __future__ import annotations

from pathlib import Path

import polars as pl

# The file (table) holding one row per record in each source's default (NCDR / ECDS / CSDS v1.6) layout.
CORE_TABLE = {
    "population": "PDS_Person", "apc": "tbl_Data_SEM_APCE", "ecds": "EC_Core", "opa": "tbl_Data_SEM_OPA",
    "csds": "CYP201CareContact", "asc": "ASC_CLD",
}  # fmt: skip


def table_files(out: Path, source: str, table: str, suffix: str = "parquet") -> list[Path]:
    """The files of ``table`` in every delivery of ``source`` (``<table>_<YYYY-MM>``), in delivery order."""
    return sorted((out / "raw" / source).glob(f"*/{table}_[0-9][0-9][0-9][0-9]-[0-9][0-9].{suffix}"))


def read_table(out: Path, source: str, table: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in table_files(out, source, table)], how="diagonal_relaxed")


def read(out: Path, source: str) -> pl.DataFrame:
    """One source's records; APC as episodes with their diagnoses and procedures joined back on APCE_Ident;
    CSDS as the final submission of each contact with its person's Pseudo_NHS_Number.

    The population is the true spine (truth/population.parquet, one row per person) the PDS tables
    were written from; tests/synth/test_pds_layout.py checks that the PDS connector reads them back to it.
    """
    if source == "population":
        return pl.read_parquet(out / "truth" / "population.parquet")
    core = read_table(out, source, CORE_TABLE[source])
    if source == "csds":
        bridge = read_table(out, "csds", "Bridging").unique(maintain_order=True)
        latest = core.sort("UNIQUE SUBMISSION ID", maintain_order=True).unique(
            subset="UNIQUE CARE CONTACT IDENTIFIER", keep="last", maintain_order=True
        )
        return latest.join(bridge, left_on="PERSON ID", right_on="Person_ID", how="left", maintain_order="left")
    if source != "apc":
        return core
    diagnoses = read_table(out, "apc", "tbl_Data_SEM_APCE_Diag")
    filler = [pl.when(pl.col(c) == "-").then(None).otherwise(pl.col(c)).alias(c) for c in diagnoses.columns[1:]]
    procedures = read_table(out, "apc", "tbl_Data_SEM_APCE_Proc").drop("Primary_Procedure_Date")
    return core.join(diagnoses.with_columns(filler), on="APCE_Ident", how="left", maintain_order="left").join(
        procedures, on="APCE_Ident", how="left", maintain_order="left"
    )
