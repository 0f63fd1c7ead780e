"""Nightly scoring with the champion model: ``popheath score --as-of ...``.

Scores everyone in ``cohort`` with ``is_65plus`` at the as-of date and writes ``scores`` and ``drift``
(that date's rows replaced for the model); the machinery lives in :mod:`popheath.modelling.scoring`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from popheath import db
from popheath.clinical import feature_dictionary
from popheath.config import Settings
from popheath.modelling import registry, scoring
from popheath.results import StageResult


def run(settings: Settings, as_of: date, *, dictionary_file: Path | None = None) -> StageResult:
    """Score the 65+ at ``as_of`` with each champion in ``settings.model.score_models``."""
    dictionary = feature_dictionary.load(dictionary_file or feature_dictionary.dictionary_path(settings))
    models = [registry.load_champion(settings.paths.models, name) for name in settings.model.score_models]
    con = db.connect(settings)
    summary: dict[str, Any] = {"population": "cohort.is_65plus"}
    warnings: list[str] = []
    try:
        db.require_tables(con, "features", "cohort")
        frame = scoring.load_scoring_frame(con, as_of, models, dictionary)
        for model in models:
            scores, x = scoring.score_frame(model, frame, dictionary)
            drifts = scoring.drift_frame(model, x, scores["risk"].to_numpy(), as_of, settings.model.psi_warn)
            scoring.write_scores(con, as_of, model.name, scores, drifts)
            warnings += scoring.drift_warnings(model, drifts, settings.model.psi_warn)
            summary |= scoring.model_summary(model, scores, drifts)
    finally:
        con.close()
    return StageResult("score", as_of, summary=summary, warnings=tuple(warnings))
