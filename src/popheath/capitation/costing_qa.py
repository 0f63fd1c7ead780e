"""What costing covered, from :func:`popheath.capitation.costing.costing_summary`.

The internal quality-assurance file of ``popheath cost``, its counts for the stage summary, and the
records costed and not costed by source that capitation publishes as ``costing_coverage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class CostingCounts:
    """Records in a costing summary: all, those that could not be costed, and all by source."""

    records: int
    uncosted: int
    by_source: dict[str, int]
    total_cost: float


def write_qa_summary(summary: pd.DataFrame, folder: Path) -> Path:
    """Write the summary as ``<folder>/costing_summary.csv`` (internal: counts are not rounded)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "costing_summary.csv"
    summary.to_csv(path, index=False)
    return path


def counts(summary: pd.DataFrame) -> CostingCounts:
    """Record counts of a costing summary; uncosted records are counted, never zero-filled."""
    return CostingCounts(
        records=int(summary["records"].sum()),
        uncosted=int(summary.loc[~summary["costed"].astype(bool), "records"].sum()),
        by_source=summary.groupby("source")["records"].sum().astype(int).to_dict(),
        total_cost=float(summary["total_cost"].sum()),
    )


def coverage_by_source(summary: pd.DataFrame) -> pd.DataFrame:
    """Records costed and not costed, and their cost, by source and setting (not yet rounded)."""
    return (
        summary.assign(records_costed=summary["records"].where(summary["costed"], 0))
        .assign(records_uncosted=summary["records"].where(~summary["costed"].astype(bool), 0))
        .groupby(["source", "setting"], as_index=False)[["records_costed", "records_uncosted", "total_cost"]]
        .sum()
    )
