"""``popheath evaluate-lists``: did the lists help? Calibration of past lists and contacted vs matched people.

For each past list date (the as-of dates of published releases, and of lists the feedback refers to):
(a) observed against predicted admissions by risk decile, tier and practice; (b) for people the PCN
contacted or gave a care plan, emergency admissions in the 6 and 12 months after against matched
people of similar risk who were not (``evaluation/matching.py``: observational, difference in
differences, bootstrap intervals). Writes Markdown, HTML and CSV to
``<paths.outputs>/evaluation/<as_of>/`` and refreshes ``<paths.outputs>/evaluation/latest/``.
"""

from __future__ import annotations

import time
from datetime import date

from popheath import db
from popheath.config import Settings
from popheath.errors import StageError
from popheath.evaluation import evaluation_report, past_lists
from popheath.lists import feedback
from popheath.results import StageResult


def run(settings: Settings, as_of: date, release_ids: list[str] | None = None) -> StageResult:
    """Evaluate every past list with data up to ``as_of``; write the report."""
    started = time.perf_counter()
    actions = feedback.FeedbackStore(feedback.feedback_path(settings.paths.outputs)).actions()
    dates = [d for d in past_lists.list_dates(settings, actions, release_ids) if d <= as_of]
    if not dates:
        raise StageError("no published list to evaluate: run popheath publish first (or check --release)")
    con = db.connect(settings, read_only=True)
    try:
        db.require_tables(con, "scores", "cohort", "segments", "labels", "clin_spells")
        evaluated = past_lists.evaluate(con, settings, dates, actions, as_of)
    finally:
        con.close()
    folder = settings.paths.outputs / "evaluation" / as_of.isoformat()
    written = evaluation_report.write(
        folder, as_of, evaluated.calibration, evaluated.effects, evaluated.matching, evaluated.strata
    )
    evaluation_report.refresh_latest(folder, settings.paths.outputs / "evaluation" / "latest")
    seconds = round(time.perf_counter() - started, 2)
    summary = past_lists.summary(dates, evaluated, folder / evaluation_report.MARKDOWN, seconds)
    return StageResult("evaluate-lists", as_of, summary=summary, outputs=tuple(written), warnings=evaluated.warnings)
