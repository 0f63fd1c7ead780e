"""The reference tables the person table needs beside the spine: IMD decile by LSOA, practice to PCN and place.

PDS carries the practice and the LSOA but no PCN, place or IMD decile (national_formats.md 1.6).

* ``ref_imd``: the IMD decile by LSOA, a code list (``clinical/codelists/imd_lsoa.csv``, English
  Indices of Deprivation 2019; a file of that name in ``paths.reference`` replaces it).
* ``ref_epcn``: practice-to-PCN relationships as NHS England's ODS publishes them in the ePCN workbook
  (``epcn.xlsx``, sheet "PCN Core Partner Details"; the same columns as the ODS report
  ``epcncorepartnerdetails``, read for example by ebmdatalab/openprescribing
  ``frontend/management/commands/import_pcns.py``), saved as ``epcn_core_partner_details.csv`` in
  ``paths.reference``: ``Partner Organisation Code`` (the practice), ``PCN Code``, and optionally
  ``PCN Name``, ``Practice to PCN Relationship Start Date`` / ``End Date`` and ``Place``, the ICS's
  own locality of the PCN (not an ODS column). It is required when the spine has practices without
  a PCN (a PDS spine always does); a flat spine that carries PCN and place needs none.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from popheath import db
from popheath.clinical import codelists
from popheath.config import Settings
from popheath.errors import ConfigError, InputError

EPCN_FILE = "epcn_core_partner_details.csv"
EPCN_REQUIRED = ("Partner Organisation Code", "PCN Code")
EPCN_OPTIONAL = (
    "PCN Name",
    "Practice to PCN Relationship Start Date",
    "Practice to PCN Relationship End Date",
    "Place",
)


def load(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Create ``ref_imd`` (with the other code lists) and ``ref_epcn``; a clear error when ePCN is needed and absent."""
    codelists.load_into(con, local=settings.paths.reference)
    path = settings.paths.reference / EPCN_FILE if settings.paths.reference is not None else None
    frame = read_epcn(path) if path is not None and path.is_file() else None
    if frame is None:
        frame = pl.DataFrame(schema={c: pl.String for c in (*EPCN_REQUIRED, *EPCN_OPTIONAL)})
        needed = con.execute(
            "SELECT count(*) FROM stg_population WHERE person_id IS NOT NULL AND pcn_code IS NULL"
        ).fetchall()[0][0]
        if needed:
            where = path or Path("<paths.reference>") / EPCN_FILE
            raise ConfigError(
                f"{where}: {needed:,} registered people have a practice but no PCN (a PDS spine carries none);"
                f" save NHS England's ePCN 'PCN Core Partner Details' there (columns {', '.join(EPCN_REQUIRED)},"
                " optionally Place) and set paths.reference"
            )
    con.register("_epcn_frame", frame.to_arrow())
    try:
        db.run_named(con, "10_staging/linkage", "04c_link_epcn.sql")
    finally:
        con.unregister("_epcn_frame")


def read_epcn(path: Path) -> pl.DataFrame:
    """The ePCN practice-to-PCN file as text columns (missing optional columns empty); header errors name the file."""
    frame = pl.read_csv(path, infer_schema=False)
    missing = [c for c in EPCN_REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(path, missing[0], f"a column {missing[0]!r} (ePCN PCN Core Partner Details)", got="none")
    empty = (pl.col("Partner Organisation Code").is_null() | pl.col("PCN Code").is_null()).arg_true()
    rows = frame.select(empty)[:, 0]
    if rows.len():
        raise InputError(path, "PCN Code", "a practice code and a PCN code on every row", row=int(rows[0]) + 1, got="")
    return frame.with_columns(
        [pl.lit(None, dtype=pl.String).alias(c) for c in EPCN_OPTIONAL if c not in frame.columns]
    ).select(*EPCN_REQUIRED, *EPCN_OPTIONAL)
