"""``popheath report``: the nightly run report (HTML and JSON) from the stage records and the warehouse.

Sections, formatting and the template live in ``popheath.nightly_report``; the latest report is always
at ``<outputs>/reports/nightly/latest.html`` (and ``latest.json``), each as-of date keeps its own.
A report in which a raw NHS number is found is removed and the stage fails, naming the file and line.
"""

from __future__ import annotations

from datetime import date

from popheath import db, nightly_report
from popheath.config import Settings
from popheath.errors import StageError
from popheath.quality.output_scan import refuse_nhs_numbers
from popheath.results import StageResult


def run(settings: Settings, as_of: date) -> StageResult:
    """Write the report for ``as_of`` and point ``latest`` at it."""
    con = db.connect(settings)
    try:
        sections = nightly_report.gather(con, settings, as_of)
    finally:
        con.close()
    folder = settings.paths.outputs / "reports" / "nightly"
    outputs = nightly_report.write(folder, as_of, sections)
    written = [folder / "latest.html", folder / "latest.json", *(folder / as_of.isoformat()).glob("report.*")]
    try:
        # The report carries the stages' warnings and errors (the run log): none may hold an NHS number.
        refuse_nhs_numbers(written, f"nightly report for {as_of}")
    except StageError:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    summary = {
        "verdict": sections["verdict"]["text"],
        "stages recorded": len(sections["stages"]),
        "failed": ", ".join(sections["failed"]) or "none",
    }
    return StageResult("report", as_of, summary, outputs=outputs)
