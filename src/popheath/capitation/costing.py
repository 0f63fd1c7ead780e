"""Cost every activity record for a financial year and build person-year resource use.

All set-based work runs in DuckDB (``sql/40_marts/costing``, ``person_year`` and ``capitation``);
Python only passes parameters and reads small summaries, so costing scales to millions of rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from popheath import db
from popheath.capitation import costing_qa
from popheath.capitation.reference import financial_year_label, load_reference, record_price_factor
from popheath.config import Settings
from popheath.errors import StageError

log = logging.getLogger(__name__)

COSTING_SQL = "40_marts/costing"
PERSON_YEAR_SQL = "40_marts/person_year"
PLANNING_POPULATION_SQL = db.sql_path("40_marts/capitation/01_planning_population.sql")
ACTIVITY_CELLS_SQL = db.sql_path("40_marts/capitation/02_activity_cells.sql")
COSTING_INPUTS = ("clin_spells", "stg_ecds", "stg_opa", "stg_csds", "stg_asc", "person_link", "person")


@dataclass(frozen=True)
class FinancialYear:
    """An English NHS financial year: ``FinancialYear(2024)`` is 2024-04-01 to 2025-03-31."""

    year: int

    @property
    def start(self) -> date:
        """First day (1 April)."""
        return date(self.year, 4, 1)

    @property
    def end(self) -> date:
        """Last day (31 March of the next calendar year)."""
        return date(self.year + 1, 3, 31)

    @property
    def label(self) -> str:
        """``"2024/25"``."""
        return financial_year_label(self.year)

    @classmethod
    def containing(cls, day: date) -> FinancialYear:
        """The financial year a date falls in."""
        return cls(day.year if day.month >= 4 else day.year - 1)

    @classmethod
    def from_settings(cls, settings: Settings, year: int | None = None) -> FinancialYear:
        """The year asked for, else the financial year containing ``settings.capitation.year_start``."""
        return cls(year) if year is not None else cls.containing(settings.capitation.year_start)


def year_parameters(settings: Settings, year: FinancialYear) -> dict[str, Any]:
    """Named SQL parameters shared by the costing and person-year files."""
    return {
        "year": year.year,
        "year_start": year.start,
        "year_end": year.end,
        "year_label": year.label,
        "price_base": settings.capitation.price_base_year,
        "min_link_probability": float(settings.link.min_link_probability),
        "include_out_of_ics_providers": settings.capitation.include_out_of_ics_providers,
        "include_out_of_area": settings.capitation.include_out_of_area,
    }


def cost_activity(con: duckdb.DuckDBPyConnection, settings: Settings, year: FinancialYear) -> pd.DataFrame:
    """(Re)write ``activity_costs`` for one financial year and return the costing summary by source and basis.

    Costs in the prices of the activity year (ASC-CLD record unit costs, SUS final prices) are
    converted with ``$record_to_base``, 1 when the inflation index has no row for the year.
    """
    db.require_tables(con, *COSTING_INPUTS)
    load_reference(con, settings)
    params = {
        **year_parameters(settings, year),
        "record_to_base": record_price_factor(con, year.label, settings.capitation.price_base_year) or 1.0,
    }
    with db.transaction(con):
        db.run_layer(con, db.LINKED_ACTIVITY_LAYER)
        db.run_layer(con, COSTING_SQL, params)
    return costing_summary(con, year)


def costing_summary(con: duckdb.DuckDBPyConnection, year: FinancialYear) -> pd.DataFrame:
    """Records and cost by source, setting and cost basis; uncosted records are counted, never zero-filled.

    ``cost_level`` is the coverage level, the second part of ``cost_basis``
    (``<source>:<level>:<detail>``; see :data:`popheath.capitation.costing_qa.COST_LEVELS`).
    """
    return con.execute(
        """
        SELECT source, setting, cost_basis, split_part(cost_basis, ':', 2) AS cost_level, costed,
               count(*) AS records,
               count(*) FILTER (WHERE person_key IS NULL) AS unlinked_records,
               count(*) FILTER (WHERE out_of_area) AS out_of_area_records,
               count(*) FILTER (WHERE out_of_ics_provider) AS out_of_ics_provider_records,
               coalesce(sum(cost), 0) AS total_cost
        FROM activity_costs WHERE financial_year = $year
        GROUP BY ALL ORDER BY source, cost_basis
        """,
        {"year": year.year},
    ).df()


def has_costs(con: duckdb.DuckDBPyConnection, year: FinancialYear) -> bool:
    """Whether ``activity_costs`` already holds rows for the year."""
    if not db.table_exists(con, "activity_costs"):
        return False
    row = con.execute("SELECT count(*) FROM activity_costs WHERE financial_year = $y", {"y": year.year}).fetchone()
    return bool(row and row[0])


def build_person_year(con: duckdb.DuckDBPyConnection, settings: Settings, year: FinancialYear) -> None:
    """(Re)write ``cap_person_year`` for one financial year from ``person`` and ``activity_costs``."""
    db.require_tables(con, "person", "activity_costs")
    params = year_parameters(settings, year)
    with db.transaction(con):
        db.run_layer(con, PERSON_YEAR_SQL, params)


def activity_cells(con: duckdb.DuckDBPyConnection, year: FinancialYear, dominance_n: int) -> dict[str, pd.DataFrame]:
    """The cells of ``boundary_activity`` and ``costing_coverage`` (by table name), before disclosure control.

    ``boundary_activity``: activity reported separately from the baselines (out-of-area people, unlinked
    records, providers outside the partnership, activity outside a person's exposure window) by setting
    and in total. ``costing_coverage``: records and cost by source, setting and coverage level with
    source and overall totals, and each cell's share of its source's records and cost. Both carry the
    people behind each cell and its dominance share, for :func:`popheath.capitation.disclosure.protect`;
    opt-outs are left out (unlike :func:`costing_summary`).
    """
    cells = _query(con, ACTIVITY_CELLS_SQL, {"year": year.year, "dominance_n": dominance_n})
    boundary = cells[cells["published_table"] == "boundary_activity"]
    coverage = costing_qa.with_shares(cells[cells["published_table"] == "costing_coverage"])
    return {
        "boundary_activity": boundary.drop(columns=["published_table", "source", "cost_level"]).reset_index(drop=True),
        "costing_coverage": coverage.drop(columns=["published_table", "boundary"]).reset_index(drop=True),
    }


def latest_as_of(con: duckdb.DuckDBPyConnection, table: str, on_or_before: date) -> date | None:
    """The latest ``as_of`` of ``segments`` or ``cohort`` on or before a date (never after: no look-ahead)."""
    if table not in ("segments", "cohort") or not db.table_exists(con, table):
        return None
    row = con.execute(f"SELECT max(as_of) FROM {table} WHERE as_of <= $d", {"d": on_or_before}).fetchone()
    return row[0] if row and row[0] is not None else None


def planning_population(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    year: FinancialYear,
    segments_as_of: date,
    cohort_as_of: date | None = None,
) -> pd.DataFrame:
    """The planning population (opt-outs removed) with segment, tier and frailty at the year start."""
    params = {
        **year_parameters(settings, year),
        "segments_as_of": segments_as_of,
        "cohort_as_of": cohort_as_of or segments_as_of,
    }
    return _query(con, PLANNING_POPULATION_SQL, params)


def _query(con: duckdb.DuckDBPyConnection, path: Path, params: dict[str, Any]) -> pd.DataFrame:
    """Run one SELECT file of ``sql/40_marts/capitation`` into a frame; errors name the file."""
    try:
        return db.execute(con, path.read_text(encoding="utf-8"), params).df()
    except duckdb.Error as error:
        raise StageError(f"{path}: {error}") from error
