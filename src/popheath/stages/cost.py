"""``popheath cost --year YYYY``: cost every activity record of a financial year (April to March).

Writes ``activity_costs`` (idempotent per financial year) and an internal quality-assurance summary
``<paths.outputs>/capitation/<year>/qa/costing_summary.csv`` (records and cost by source and cost
basis, uncosted records counted, never zero-filled).
"""

from __future__ import annotations

import logging
import time
from datetime import date

from popheath import db
from popheath.capitation.costing import FinancialYear, cost_activity
from popheath.config import Settings
from popheath.results import StageResult

log = logging.getLogger(__name__)


def financial_year(settings: Settings, year: int | None) -> FinancialYear:
    """The year asked for, else the financial year containing ``settings.capitation.year_start``."""
    return FinancialYear(year) if year is not None else FinancialYear.containing(settings.capitation.year_start)


def run(settings: Settings, as_of: date, *, year: int | None = None) -> StageResult:
    """Cost activity for the financial year starting April ``year``."""
    started = time.perf_counter()
    fy = financial_year(settings, year)
    con = db.connect(settings)
    try:
        summary = cost_activity(con, settings, fy)
    finally:
        con.close()
    folder = settings.paths.outputs / "capitation" / str(fy.year) / "qa"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "costing_summary.csv"
    summary.to_csv(path, index=False)
    uncosted = int(summary.loc[~summary["costed"].astype(bool), "records"].sum())
    records = int(summary["records"].sum())
    by_source = summary.groupby("source")["records"].sum().astype(int).to_dict()
    warnings = []
    if uncosted:
        warnings.append(f"{uncosted:,} of {records:,} activity records could not be costed (see {path})")
    log.info("costed %s records for %s in %.1fs", f"{records:,}", fy.label, time.perf_counter() - started)
    return StageResult(
        stage="cost",
        as_of=as_of,
        summary={
            "financial_year": fy.label,
            "price_base": settings.capitation.price_base_year,
            "records": records,
            "uncosted_records": uncosted,
            "total_cost": f"£{summary['total_cost'].sum():,.0f}",
            "records_by_source": by_source,
            "seconds": round(time.perf_counter() - started, 1),
        },
        outputs=(path,),
        warnings=tuple(warnings),
    )
