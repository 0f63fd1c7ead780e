"""``popheath segment``: a population segment and a risk tier for every registered person, and the pyramid.

Reads ``cohort`` and ``features`` (segment rules, ``lists/segments.yaml``), ``scores`` (tiers) and
``coverage`` (written by the features stage); writes ``segments``, ``pyramid`` and ``coverage_practice``
for the as-of date, replacing any earlier run for that date.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

from popheath import db
from popheath.config import Settings
from popheath.lists import coverage, segment_diff, segmentation
from popheath.lists.rules import load_rules
from popheath.lists.tiers import check_cutoffs, choose_model
from popheath.results import StageResult

log = logging.getLogger(__name__)


def run(settings: Settings, as_of: date, diff_rules: Path | None = None) -> StageResult:
    """Segment the cohort at ``as_of`` and tier it by the chosen model's scores.

    With ``diff_rules`` (a proposed rules file) nothing is written to the warehouse: the report of who
    would move between segments, and why, goes to ``<outputs>/segments/``.
    """
    if diff_rules is not None:
        return segment_diff.run_diff(settings, as_of, diff_rules)
    started = time.perf_counter()
    check_cutoffs(settings.lists.tier_cutoffs)
    rules = load_rules(settings.lists.segment_rules)
    warnings: list[str] = []
    con = db.connect(settings)
    try:
        db.require_tables(con, "cohort", "features")
        model = choose_model(con, as_of, settings.lists.model_name) if db.table_exists(con, "scores") else None
        if model is None:
            warnings.append(f"no scores at {as_of}: every tier is not_scored (run popheath score first)")
        counts = segmentation.build_segments(con, as_of, rules, model, settings.lists.tier_cutoffs)
        coverage_rows = coverage.coverage_rows(con, as_of)
        practice_rows = coverage.build_practice_coverage(con, as_of)
    finally:
        con.close()
    if counts.people == 0:
        warnings.append(f"cohort has no people at {as_of}: run popheath features --as-of {as_of}")
    if not coverage_rows:
        warnings.append(f"no data coverage at {as_of} (run popheath features --as-of {as_of}): lists say so")
    summary = segmentation.summarise(counts, rules, model, coverage_rows, practice_rows)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return StageResult("segment", as_of, summary=summary, warnings=tuple(warnings))
