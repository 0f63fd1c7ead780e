"""Reference cost tables: read the CSVs (with their ``sources.yaml``), check them and load them into DuckDB.

Every table converts to one price base with the inflation index (``inflation_index.csv``):
``cost x index[price base] / index[price year]``. The loaded tables carry a ``to_base`` factor so
the costing SQL never repeats the arithmetic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from popheath.config import Settings
from popheath.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@dataclass(frozen=True)
class TableSpec:
    """Columns a reference CSV must have: key columns (text) and numeric columns (non-negative)."""

    file: str
    table: str
    keys: tuple[str, ...]
    numeric: tuple[str, ...]
    priced: bool = True


SPECS: tuple[TableSpec, ...] = (
    TableSpec(
        "apc_hrg_costs.csv",
        "ref_cap_apc_hrg",
        ("hrg_code",),
        (
            "day_case",
            "elective",
            "non_elective_short",
            "non_elective_long",
            "elective_trim_days",
            "non_elective_trim_days",
            "excess_bed_day",
        ),
    ),
    TableSpec(
        "apc_spell_type_los.csv",
        "ref_cap_apc_spell_type",
        ("spell_type",),
        ("cost_per_spell", "included_days", "cost_per_extra_bed_day"),
    ),
    TableSpec("ecds_department_costs.csv", "ref_cap_ecds", ("department_type",), ("cost_per_attendance",)),
    TableSpec(
        "opa_costs.csv",
        "ref_cap_opa",
        ("treatment_function_code",),
        ("first_face_to_face", "follow_up_face_to_face", "first_non_face_to_face", "follow_up_non_face_to_face"),
    ),
    TableSpec("csds_team_costs.csv", "ref_cap_csds", ("team_type",), ("cost_per_hour", "default_duration_minutes")),
    TableSpec("asc_service_costs.csv", "ref_cap_asc_service", ("service_type", "cost_unit"), ("unit_cost",)),
    TableSpec("asc_event_costs.csv", "ref_cap_asc_event", ("event_type",), ("cost_per_event",)),
    TableSpec("inflation_index.csv", "ref_cap_inflation", ("financial_year",), ("index",), priced=False),
)


def reference_dir(settings: Settings) -> Path:
    """The folder holding the cost tables: ``settings.capitation.reference_dir`` or the shipped one."""
    return settings.capitation.reference_dir or DEFAULT_REFERENCE_DIR


def financial_year_label(year: int) -> str:
    """``2024`` -> ``"2024/25"`` (the label used in the reference tables)."""
    return f"{year}/{(year + 1) % 100:02d}"


def read_sources(folder: Path) -> dict[str, dict[str, str]]:
    """Read ``sources.yaml`` and check every table has a source, a year and notes."""
    path = folder / "sources.yaml"
    if not path.exists():
        raise InputError(path, None, "a sources.yaml describing each reference table")
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    tables = document.get("tables") or {}
    for spec in SPECS:
        entry = tables.get(spec.file)
        if not isinstance(entry, dict):
            raise InputError(path, f"tables.{spec.file}", "an entry with source, year and notes")
        for key in ("source", "year", "notes"):
            if not str(entry.get(key) or "").strip():
                raise InputError(path, f"tables.{spec.file}.{key}", "a non-empty value")
    return {name: dict(entry) for name, entry in tables.items()}


def read_table(folder: Path, spec: TableSpec) -> pd.DataFrame:
    """Read one reference CSV as text, check its columns and convert the numeric ones."""
    path = folder / spec.file
    if not path.exists():
        raise InputError(path, None, "a reference cost table (see sources.yaml)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    needed = [*spec.keys, *spec.numeric, *(("price_year",) if spec.priced else ())]
    for column in needed:
        if column not in frame.columns:
            raise InputError(path, column, f"a column {column!r}")
    for column in spec.keys:
        frame[column] = frame[column].str.strip()
        blank = frame.index[frame[column] == ""]
        if len(blank):
            raise InputError(path, column, "a value", row=int(blank[0]) + 1)
    duplicated = frame.index[frame.duplicated(list(spec.keys))]
    if len(duplicated):
        raise InputError(path, ",".join(spec.keys), "unique keys", row=int(duplicated[0]) + 1)
    for column in spec.numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = frame.index[values.isna() | (values < 0)]
        if len(bad):
            row = int(bad[0])
            raise InputError(path, column, "a non-negative number", row=row + 1, got=frame.at[row, column])
        frame[column] = values.astype(float)
    return frame


def load_reference(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, str]:
    """Load every reference table into DuckDB as ``ref_cap_*`` with a ``to_base`` price factor.

    Returns the table name -> "source (year)" map for the report.
    """
    folder = reference_dir(settings)
    sources = read_sources(folder)
    frames = {spec.file: read_table(folder, spec) for spec in SPECS}
    index = frames["inflation_index.csv"].set_index("financial_year")["index"]
    base = settings.capitation.price_base_year
    if base not in index.index:
        raise InputError(folder / "inflation_index.csv", "financial_year", f"a row for the price base {base}")
    for spec in SPECS:
        frame = frames[spec.file].copy()
        if spec.priced:
            unknown = sorted(set(frame["price_year"]) - set(index.index))
            if unknown:
                raise InputError(
                    folder / spec.file, "price_year", "a year listed in inflation_index.csv", got=unknown[0]
                )
            frame["to_base"] = float(index[base]) / frame["price_year"].map(index).astype(float)
        else:
            frame["to_base"] = float(index[base]) / frame["index"].astype(float)
        con.register("_cap_reference_frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {spec.table} AS SELECT * FROM _cap_reference_frame")
        con.unregister("_cap_reference_frame")
    log.info("loaded %d reference cost tables from %s (price base %s)", len(SPECS), folder, base)
    return {name: f"{entry['source']} ({entry['year']})" for name, entry in sources.items()}
