"""``popheath cost --year YYYY``: cost every activity record of a financial year (April to March).

Writes ``activity_costs`` (idempotent per financial year) and an internal quality-assurance summary
``<paths.outputs>/costing_qa/<year>/costing_summary.csv`` (records and cost by source, cost basis
and coverage level, uncosted records counted, never zero-filled). The stage summary gives the share
of cost priced at each coverage level; capitation publishes it by source as ``costing_coverage``.
"""

from __future__ import annotations

import logging
import time
from datetime import date

from popheath import db
from popheath.capitation import costing_qa
from popheath.capitation.costing import FinancialYear, cost_activity
from popheath.capitation.reference import record_price_factor
from popheath.config import Settings
from popheath.results import StageResult

log = logging.getLogger(__name__)


def run(settings: Settings, as_of: date, *, year: int | None = None) -> StageResult:
    """Cost activity for the financial year starting April ``year``."""
    started = time.perf_counter()
    fy = FinancialYear.from_settings(settings, year)
    con = db.connect(settings)
    try:
        summary = cost_activity(con, settings, fy)
        indexed = record_price_factor(con, fy.label, settings.capitation.price_base_year) is not None
    finally:
        con.close()
    # Internal (unrounded counts): kept out of the published capitation folder.
    path = costing_qa.write_qa_summary(
        summary,
        settings.paths.outputs / costing_qa.QA_FOLDER / str(fy.year),
        fy.label,
        settings.capitation.price_base_year,
    )
    counts = costing_qa.counts(summary)
    warnings = []
    if counts.uncosted:
        warnings.append(f"{counts.uncosted:,} of {counts.records:,} activity records could not be costed (see {path})")
    if not indexed:
        warnings.append(
            f"the inflation index has no row for {fy.label}: ASC-CLD record unit costs and SUS final prices "
            f"are taken at face value, not re-priced to {settings.capitation.price_base_year}"
        )
    log.info("costed %s records for %s in %.1fs", f"{counts.records:,}", fy.label, time.perf_counter() - started)
    return StageResult(
        stage="cost",
        as_of=as_of,
        summary={
            "financial_year": fy.label,
            "price_base": settings.capitation.price_base_year,
            "records": counts.records,
            "uncosted_records": counts.uncosted,
            "total_cost": f"£{counts.total_cost:,.0f}",
            "records_by_source": counts.by_source,
            "share_of_cost_by_level": counts.share_of_cost_by_level,
            "seconds": round(time.perf_counter() - started, 1),
        },
        outputs=(path,),
        warnings=tuple(warnings),
    )
