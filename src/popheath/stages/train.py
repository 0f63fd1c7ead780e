"""Train, validate (temporally) and register the risk models: ``popheath train``.

Models are trained on the 65+ at ``train_as_of`` and tested on the 65+ at ``test_as_of``, which must
be at least 12 months later so training outcome windows never overlap test labels. The machinery
lives in :mod:`popheath.modelling.training`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from popheath import db
from popheath.clinical import feature_dictionary
from popheath.config import Settings
from popheath.modelling import training
from popheath.results import StageResult


def run(
    settings: Settings,
    as_of: date,
    *,
    train_as_of: date | None = None,
    test_as_of: date | None = None,
    dictionary_file: Path | None = None,
) -> StageResult:
    """Train and register one model per outcome in ``settings.model.outcomes``; the champion is left alone."""
    train_as_of = train_as_of or settings.model.train_as_of
    test_as_of = test_as_of or settings.model.test_as_of
    training.check_temporal_split(train_as_of, test_as_of)
    dictionary = feature_dictionary.load(dictionary_file or feature_dictionary.dictionary_path(settings))
    outcomes = list(settings.model.outcomes)
    con = db.connect(settings)
    try:
        db.require_tables(con, "features", "labels", "cohort")
        frames = training.load_training_data(con, settings, train_as_of, test_as_of, outcomes)
    finally:
        con.close()
    warnings = training.undescribed_warnings(frames.train, dictionary)
    summary: dict[str, Any] = {
        "train_as_of": train_as_of,
        "test_as_of": test_as_of,
        "train_people": len(frames.train.x),
    }
    summary["test_people"] = len(frames.test.x)
    outputs: list[Path] = []
    for outcome in outcomes:
        model = training.train_outcome(
            frames.train, frames.test, outcome, settings=settings, dictionary=dictionary, oracle=frames.oracles[outcome]
        )
        version, path = training.register(model, settings.paths.models, dictionary)
        outputs.append(path)
        summary |= training.model_summary(model, version)
        warnings += training.flagged_warnings(model)
    return StageResult("train", as_of, summary=summary, outputs=tuple(outputs), warnings=tuple(warnings))
