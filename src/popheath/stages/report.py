"""``popheath report``: the nightly run report (HTML and JSON) from the stage records and the warehouse.

Sections, formatting and the template live in ``popheath.nightly_report``; the latest report is always
at ``<outputs>/reports/nightly/latest.html`` (and ``latest.json``), each as-of date keeps its own.
"""

from __future__ import annotations

from datetime import date

from popheath import db, nightly_report
from popheath.config import Settings
from popheath.results import StageResult


def run(settings: Settings, as_of: date) -> StageResult:
    """Write the report for ``as_of`` and point ``latest`` at it."""
    con = db.connect(settings)
    try:
        sections = nightly_report.gather(con, settings, as_of)
    finally:
        con.close()
    outputs = nightly_report.write(settings.paths.outputs / "reports" / "nightly", as_of, sections)
    summary = {
        "verdict": sections["verdict"]["text"],
        "stages recorded": len(sections["stages"]),
        "failed": ", ".join(sections["failed"]) or "none",
    }
    return StageResult("report", as_of, summary, outputs=outputs)
