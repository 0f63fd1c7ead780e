"""What costing covered, from :func:`popheath.capitation.costing.costing_summary`.

The internal quality-assurance file of ``popheath cost``, its counts for the stage summary, and the
coverage levels and shares that capitation publishes by source as ``costing_coverage``
(cells from ``sql/40_marts/capitation/02_activity_cells.sql``, under disclosure control).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

QA_FOLDER = "costing_qa"  # under paths.outputs: internal files of the cost stage, not for release
# Coverage levels, the second part of activity_costs.cost_basis, from the most to the least specific.
COST_LEVELS: dict[str, str] = {
    "final_price": "SUS final price carried by the extract",
    "full_hrg": "the record's full HRG on the National Cost Collection schedule",
    "hrg_root": "the activity-weighted average of the HRG's root (4 characters, all splits)",
    "hrg_chapter": "the activity-weighted average of the HRG's chapter (2 characters)",
    "currency": "the NCC community currency of the record's team type",
    "currency_group": "the activity-weighted average of the NCC community currencies of the team type",
    "record_unit_cost": "the ASC-CLD record's own unit cost and cost frequency",
    "reference_event_cost": "a reference cost per ASC-CLD event",
    "fallback": "a department-wide average (no, or an unlisted, HRG), the FIRSTATT currency or NCC CHS00",
    "zero_by_rule": "zero by rule (not attended, a request for support)",
    "uncosted": "no cost: counted and reported, never zero-filled",
}


@dataclass(frozen=True)
class CostingCounts:
    """Records in a costing summary: all, those that could not be costed, and all by source."""

    records: int
    uncosted: int
    by_source: dict[str, int]
    total_cost: float
    share_of_cost_by_level: dict[str, float]


def write_qa_summary(summary: pd.DataFrame, folder: Path, year_label: str, price_base: str) -> Path:
    """Write the summary as ``<folder>/costing_summary.csv``, year and price base first.

    Internal: its counts are neither rounded nor suppressed, so it is written outside the published
    capitation folder (``<paths.outputs>/costing_qa/<year>/``), never beside the published tables.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "costing_summary.csv"
    summary.assign(financial_year=year_label, price_base=price_base)[
        ["financial_year", "price_base", *summary.columns]
    ].to_csv(path, index=False)
    return path


def counts(summary: pd.DataFrame) -> CostingCounts:
    """Record counts of a costing summary; uncosted records are counted, never zero-filled."""
    by_level = summary.groupby("cost_level")["total_cost"].sum()
    total = float(summary["total_cost"].sum())
    return CostingCounts(
        records=int(summary["records"].sum()),
        uncosted=int(summary.loc[~summary["costed"].astype(bool), "records"].sum()),
        by_source=summary.groupby("source")["records"].sum().astype(int).to_dict(),
        total_cost=total,
        share_of_cost_by_level={
            level: round(float(by_level[level]) / total, 3) for level in COST_LEVELS if level in by_level and total
        },
    )


def with_shares(cells: pd.DataFrame) -> pd.DataFrame:
    """Coverage cells with ``share_of_records`` and ``share_of_cost``: of their source's total row, to 3 places.

    The total row of a source has setting and cost_level ``All`` (source ``All``: every source); a
    source without cost has cost shares of 0.
    """
    totals = cells[(cells["setting"] == "All") & (cells["cost_level"] == "All")].set_index("source")
    records = cells["source"].map(totals["records"]).astype(float)
    cost = cells["source"].map(totals["total_cost"]).astype(float)
    return cells.assign(
        share_of_records=(cells["records"] / records).round(3),
        share_of_cost=(cells["total_cost"] / cost.where(cost > 0)).fillna(0.0).round(3),
    )
