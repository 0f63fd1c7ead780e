"""Reference cost tables: read the CSVs (with their ``sources.yaml``), check them and load them into DuckDB.

Every priced table converts to one price base with the NHS Cost Inflation Index (``inflation_index.csv``,
the published annual pay-and-prices changes chained into index levels by :func:`chained_index`):
``cost x index[price base] / index[price year]``. The loaded tables carry a ``to_base`` factor so
the costing SQL never repeats the arithmetic. The National Cost Collection schedules are shipped
at full HRG level; averages over HRG roots, chapters and whole departments are derived on load.
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
    """Columns a reference CSV must have: key columns (text) and numeric columns (non-negative).

    ``kind`` is ``"priced"`` (unit costs with a ``price_year``), ``"index"`` (the inflation index)
    or ``"mapping"`` (codes to codes or factors; no price).
    """

    file: str
    table: str
    keys: tuple[str, ...]
    numeric: tuple[str, ...]
    kind: str = "priced"


SPECS: tuple[TableSpec, ...] = (
    TableSpec("ncc_apc_hrg_costs.csv", "ref_cap_apc_hrg", ("hrg_code", "department"), ("activity", "unit_cost")),
    TableSpec("ncc_ecds_hrg_costs.csv", "ref_cap_ecds", ("hrg_code",), ("activity", "unit_cost")),
    TableSpec("ncc_opa_costs.csv", "ref_cap_opa", ("hrg_code", "department"), ("activity", "unit_cost")),
    TableSpec("opa_first_attendance_currency.csv", "ref_cap_opa_firstatt", ("first_attendance",), (), kind="mapping"),
    TableSpec("ncc_community_costs.csv", "ref_cap_community", ("currency_code",), ("activity", "unit_cost")),
    TableSpec("csds_team_currency.csv", "ref_cap_csds_team", ("team_type", "currency_code"), (), kind="mapping"),
    TableSpec("asc_event_costs.csv", "ref_cap_asc_event", ("event_type",), ("cost_per_event",)),
    TableSpec("inflation_index.csv", "ref_cap_inflation", ("financial_year",), (), kind="index"),
)
# The NHS Cost Inflation Index column chained into levels, and what a row's status allows: published and
# provisional rows are used; a NOT VERIFIED row is shipped for the record but never used.
INDEX_CHANGE = "pay_and_prices_pct"
INDEX_STATUSES = ("published", "provisional", "NOT VERIFIED")
NOT_VERIFIED = "NOT VERIFIED"
# Schedules whose averages over HRG roots, chapters and the whole department are derived on load.
AVERAGED = {"ncc_apc_hrg_costs.csv": ("department",), "ncc_ecds_hrg_costs.csv": ()}
# Mapping columns that must name a row of another table: (file, column) -> (file, column).
REFERENCES = {
    ("csds_team_currency.csv", "currency_code"): ("ncc_community_costs.csv", "currency_code"),
    ("opa_first_attendance_currency.csv", "hrg_code"): ("ncc_opa_costs.csv", "hrg_code"),
}


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
            raise InputError(path, f"tables.{spec.file}", "an entry with source, year and notes (and basis, if priced)")
        for key in ("source", "year", "notes", *(("basis",) if spec.kind == "priced" else ())):
            if not str(entry.get(key) or "").strip():
                raise InputError(path, f"tables.{spec.file}.{key}", "a non-empty value")
    return {name: dict(entry) for name, entry in tables.items()}


def read_table(folder: Path, spec: TableSpec) -> pd.DataFrame:
    """Read one reference CSV as text, check its columns and convert the numeric ones."""
    path = folder / spec.file
    if not path.exists():
        raise InputError(path, None, "a reference cost table (see sources.yaml)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    needed = [*spec.keys, *spec.numeric, *(("price_year",) if spec.kind == "priced" else ())]
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


def with_averages(frame: pd.DataFrame, groups: tuple[str, ...]) -> pd.DataFrame:
    """Add activity-weighted averages for each HRG root, chapter and the whole schedule (``'*'``).

    Each row gains ``hrg_level`` (``full_hrg``, ``hrg_root``, ``hrg_chapter``, ``all``); an average is
    sum(unit cost x activity) / sum(activity), how the NCC itself averages currencies.
    """
    full = frame.assign(hrg_level="full_hrg")
    levels = [full]
    weighted = full.assign(_cost=full["unit_cost"] * full["activity"])
    for level, code in (
        ("hrg_root", weighted["hrg_code"].str[:4]),
        ("hrg_chapter", weighted["hrg_code"].str[:2]),
        ("all", pd.Series("*", index=weighted.index)),
    ):
        grouped = weighted.assign(hrg_code=code).groupby(["hrg_code", *groups, "price_year"], as_index=False)
        sums = grouped[["_cost", "activity"]].sum()
        sums = sums[sums["activity"] > 0]
        sums["unit_cost"] = sums["_cost"] / sums["activity"]
        levels.append(sums.drop(columns="_cost").assign(hrg_level=level))
    return pd.concat(levels, ignore_index=True)[[*frame.columns, "hrg_level"]]


def _start_year(label: str) -> int | None:
    """``"2023/24"`` -> 2023; None unless the label is a financial year (YYYY/YY, the second year next)."""
    head, _, tail = label.partition("/")
    if not (head.isdigit() and len(head) == 4 and tail.isdigit() and len(tail) == 2):
        return None
    return int(head) if (int(head) + 1) % 100 == int(tail) else None


def chained_index(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """The index as levels: the annual changes (``pay_and_prices_pct``, per cent into each year) chained.

    The first row is 100. Years must be consecutive. The chain stops before the first NOT VERIFIED row
    (a later year cannot be linked to the earlier ones without it), so such rows are never used.
    Returns ``financial_year``, ``status`` and ``index`` for the usable years.
    """
    for column in (INDEX_CHANGE, "status"):
        if column not in frame.columns:
            raise InputError(path, column, f"a column {column!r}")
    levels: list[float] = []
    previous: int | None = None
    for row, record in enumerate(frame.itertuples(index=False), start=1):
        year, status = str(record.financial_year), str(record.status).strip()
        start = _start_year(year)
        if start is None:
            raise InputError(path, "financial_year", "a financial year such as 2023/24", row=row, got=year)
        if previous is not None and start != previous + 1:
            raise InputError(path, "financial_year", "consecutive financial years", row=row, got=year)
        previous = start
        if status not in INDEX_STATUSES:
            raise InputError(path, "status", " or ".join(INDEX_STATUSES), row=row, got=status)
        if status == NOT_VERIFIED:
            break
        change = str(getattr(record, INDEX_CHANGE)).strip()
        if not levels:
            levels.append(100.0)
            continue
        value = pd.to_numeric(change, errors="coerce")
        if pd.isna(value) or value <= -100:
            raise InputError(path, INDEX_CHANGE, "a percentage change greater than -100", row=row, got=change)
        levels.append(levels[-1] * (1 + float(value) / 100))
    used = frame.iloc[: len(levels)]
    return pd.DataFrame(
        {
            "financial_year": used["financial_year"].to_numpy(),
            "status": used["status"].str.strip().to_numpy(),
            "index": levels,
        }
    )


# How a team type's currencies price a contact (csds_team_currency.csv ``level``): one currency, the
# activity-weighted average of several, or one non-specific fallback currency.
TEAM_LEVELS = {"currency": "one", "currency_group": "several", "fallback": "one"}


def check_team_levels(path: Path, frame: pd.DataFrame) -> None:
    """Each team type has one known ``level``; ``currency`` and ``fallback`` name exactly one currency."""
    if "level" not in frame.columns:
        raise InputError(path, "level", "a column 'level'")
    bad = frame.index[~frame["level"].isin(list(TEAM_LEVELS))]
    if len(bad):
        row = int(bad[0])
        raise InputError(path, "level", " or ".join(TEAM_LEVELS), row=row + 1, got=frame.at[row, "level"])
    for team, rows in frame.groupby("team_type", sort=False):
        levels = set(rows["level"])
        if len(levels) > 1 or (TEAM_LEVELS[next(iter(levels))] == "one" and len(rows) > 1):
            raise InputError(
                path,
                "level",
                f"one level for team type {team} (and one currency unless currency_group)",
                row=int(rows.index[1]) + 1,
                got=",".join(sorted(levels)),
            )


def check_references(folder: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Every code a mapping names must be a row of the table it points to."""
    for (file, column), (target, target_column) in REFERENCES.items():
        missing = sorted(set(frames[file][column]) - set(frames[target][target_column]))
        if missing:
            raise InputError(folder / file, column, f"a code listed in {target}", got=missing[0])


def load_reference(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, str]:
    """Load every reference table into DuckDB as ``ref_cap_*``; priced ones carry a ``to_base`` factor.

    Returns the table name -> "source (year)" map for the report.
    """
    folder = reference_dir(settings)
    sources = read_sources(folder)
    frames = {spec.file: read_table(folder, spec) for spec in SPECS}
    check_references(folder, frames)
    check_team_levels(folder / "csds_team_currency.csv", frames["csds_team_currency.csv"])
    frames["inflation_index.csv"] = chained_index(folder / "inflation_index.csv", frames["inflation_index.csv"])
    index = frames["inflation_index.csv"].set_index("financial_year")["index"]
    base = settings.capitation.price_base_year
    if base not in index.index:
        raise InputError(
            folder / "inflation_index.csv",
            "financial_year",
            f"a published or provisional row for the price base {base}",
        )
    for spec in SPECS:
        frame = frames[spec.file].copy()
        if spec.file in AVERAGED:
            frame = with_averages(frame, AVERAGED[spec.file])
        if spec.kind == "priced":
            unknown = sorted(set(frame["price_year"]) - set(index.index))
            if unknown:
                raise InputError(
                    folder / spec.file, "price_year", "a year listed in inflation_index.csv", got=unknown[0]
                )
            frame["to_base"] = float(index[base]) / frame["price_year"].map(index).astype(float)
        elif spec.kind == "index":
            frame["to_base"] = float(index[base]) / frame["index"].astype(float)
        con.register("_cap_reference_frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {spec.table} AS SELECT * FROM _cap_reference_frame")
        con.unregister("_cap_reference_frame")
    log.info("loaded %d reference cost tables from %s (price base %s)", len(SPECS), folder, base)
    return {name: f"{entry['source']} ({entry['year']})" for name, entry in sources.items()}


def record_price_factor(con: duckdb.DuckDBPyConnection, year_label: str, base: str) -> float | None:
    """``index[price base] / index[year]`` from the loaded index, or None when the year has no row.

    Converts costs in the prices of the activity year (ASC-CLD record unit costs, SUS final prices).
    """
    row = con.execute(
        "SELECT b.index / y.index FROM ref_cap_inflation AS y, ref_cap_inflation AS b "
        "WHERE y.financial_year = $year AND b.financial_year = $base",
        {"year": year_label, "base": base},
    ).fetchone()
    return float(row[0]) if row else None
