"""Training machinery of ``popheath train``: temporal split, candidates fitted and validated, registry files.

Models are trained on the 65+ at ``train_as_of`` and tested on the 65+ at ``test_as_of``, which must
be at least 12 months later so training outcome windows never overlap test labels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from popheath.clinical.feature_dictionary import FeatureDictionary
from popheath.config import Settings
from popheath.errors import StageError
from popheath.modelling import card, data, deployed, drift, explain, registry, selection, temporal_validation
from popheath.modelling.candidates import (
    LIGHTGBM,
    LOGISTIC,
    MODEL_LABELS,
    Candidates,
    fit_candidates,
    predict_candidates,
)
from popheath.modelling.metrics import FlagRule

log = logging.getLogger(__name__)

OUTCOME_MONTHS = 12


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate_day in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate_day))
        except ValueError:
            continue
    raise ValueError(f"cannot move {day} by {months} months")


def check_temporal_split(train_as_of: date, test_as_of: date, months: int = OUTCOME_MONTHS) -> int:
    """Refuse a test date inside the training outcome window; return the gap in whole months."""
    window_end = add_months(train_as_of, months)
    if test_as_of < window_end:
        raise StageError(
            f"test as-of {test_as_of} is inside the training outcome window ({train_as_of} to {window_end}): "
            f"choose a test date on or after {window_end}"
        )
    return (test_as_of.year - train_as_of.year) * 12 + test_as_of.month - train_as_of.month


@dataclass
class TrainedModel:
    """One outcome's candidates, their evaluation, the champion choice and everything the registry stores."""

    name: str
    candidates: Candidates
    evaluation: temporal_validation.Evaluation
    choice: selection.ChampionChoice
    metrics: dict[str, Any]
    training: dict[str, Any]
    importance: dict[str, float]
    drift_reference: dict[str, Any]


def train_outcome(
    train: data.ModelFrame,
    test: data.ModelFrame,
    outcome: str,
    *,
    settings: Settings,
    dictionary: FeatureDictionary,
    oracle: np.ndarray | None = None,
    grid: dict[str, tuple[Any, ...]] | None = None,
) -> TrainedModel:
    """Fit every candidate on ``train``, evaluate on ``test`` and assemble the registry content (no I/O)."""
    gap = check_temporal_split(train.as_of, test.as_of)
    seed = settings.model.seed
    started = time.perf_counter()
    candidates = fit_candidates(
        train,
        outcome,
        validation_fraction=settings.model.validation_fraction,
        threads=settings.duckdb.threads,
        seed=seed,
        grid=grid,
    )
    fit_seconds = time.perf_counter() - started
    predictions = predict_candidates(candidates, test)
    if oracle is not None and np.isfinite(oracle).any():
        predictions["oracle"] = oracle
    rule = FlagRule(
        settings.model.subgroup_min_events,
        settings.model.subgroup_oe_tolerance,
        settings.model.subgroup_auroc_margin,
        settings.model.calibration_slope_range,
    )
    started = time.perf_counter()
    result = temporal_validation.evaluate(
        test, outcome, predictions, samples=settings.model.bootstrap_samples, seed=seed, rule=rule
    )
    choice = selection.choose(
        test.outcomes[outcome],
        predictions,
        temporal_validation.frail_mask(test),
        margin=settings.model.champion_auroc_margin,
        samples=settings.model.bootstrap_samples,
        seed=seed,
    )
    evaluate_seconds = time.perf_counter() - started
    log.info("%s: %s", outcome, choice.reason())
    champion = deployed.from_candidates(candidates, choice.winner)
    importance = explain.mean_absolute_contribution(champion.contributions(test.x), test.feature_names)
    train_risk = champion.predict(train.x)
    drift_reference = {
        "features": {name: drift.reference_bins(train.column(name)).to_dict() for name in train.feature_names},
        "score": drift.reference_bins(train_risk).to_dict(),
    }
    import lightgbm

    training = {
        "outcome": outcome,
        "population": "cohort.is_65plus",
        "train_as_of": train.as_of,
        "train_outcome_end": add_months(train.as_of, OUTCOME_MONTHS),
        "test_as_of": test.as_of,
        "test_outcome_end": add_months(test.as_of, OUTCOME_MONTHS),
        "gap_months": gap,
        "train_rows": int(train.x.shape[0]),
        "train_events": int(train.outcomes[outcome].sum()),
        "fit_rows": candidates.fit_rows,
        "validation_rows": candidates.validation_rows,
        "fit_events": candidates.fit_events,
        "validation_events": candidates.validation_events,
        "dropped_missing_outcome": {"train": train.dropped_missing_outcome.get(outcome, 0)},
        "feature_definition_version": dictionary.version,
        "hyper_parameters": candidates.hyper_parameters(),
        "recalibration": {
            LIGHTGBM: candidates.recalibration.to_dict(),
            LOGISTIC: candidates.logistic_recalibration.to_dict(),
        },
        "seed": seed,
        "subgroup_flag_rule": rule.describe(),
        "calibration_slope_range": list(rule.slope_range),
        "bootstrap_samples": settings.model.bootstrap_samples,
        "lightgbm_version": lightgbm.__version__,
        "seconds": {"fit": round(fit_seconds, 2), "evaluate": round(evaluate_seconds, 2)},
    }
    metrics = {
        "outcome": outcome,
        "primary_model": choice.winner,
        "champion_choice": choice.to_dict(),
        "test_as_of": test.as_of,
        "test_fingerprint": temporal_validation.data_fingerprint(test, outcome),
        "populations": result.metrics,
        "auroc_by_age_band": result.auroc_by_age_band,
        "oracle_coverage": result.oracle_coverage,
        "flagged_subgroups": result.flagged().to_dict(orient="records"),
        "feature_importance_mean_abs_shap": importance,
    }
    return TrainedModel(outcome, candidates, result, choice, metrics, training, importance, drift_reference)


def registry_files(model: TrainedModel, version: str, dictionary: FeatureDictionary) -> dict[str, str | bytes]:
    """The files of a registered version."""
    candidates = model.candidates
    subgroups = model.evaluation.subgroups
    return {
        registry.MODEL_FILE: candidates.lightgbm.booster.model_to_string(
            num_iteration=candidates.lightgbm.best_iteration
        ),
        registry.FEATURES_FILE: registry.dumps(
            {"features": candidates.feature_names, "feature_definition_version": dictionary.version}
        ),
        registry.TRAINING_FILE: registry.dumps(model.training),
        registry.METRICS_FILE: registry.dumps(model.metrics),
        registry.DRIFT_FILE: registry.dumps(model.drift_reference),
        registry.LOGISTIC_FILE: registry.dumps(candidates.logistic.to_dict()),
        "calibration.csv": model.evaluation.calibration.to_csv(index=False),
        "subgroups.csv": subgroups.to_csv(index=False),
        "calibration.png": temporal_validation.calibration_plot(model.evaluation.calibration, model.name),
        "importance.png": temporal_validation.importance_plot(
            model.importance, f"{model.name} ({MODEL_LABELS[model.choice.winner]}): mean |SHAP| on the test date"
        ),
        registry.CARD_FILE: card.render(
            name=model.name,
            version=version,
            training=model.training,
            metrics=model.metrics,
            subgroups=subgroups,
            importance=model.importance,
            dictionary=dictionary,
            feature_names=candidates.feature_names,
            flag_rule_text=str(model.training["subgroup_flag_rule"]),
        ),
    }


@dataclass(frozen=True)
class TrainingData:
    """The training and test frames, and each outcome's oracle (true) risk of the test people if known."""

    train: data.ModelFrame
    test: data.ModelFrame
    oracles: dict[str, np.ndarray | None]


def load_training_data(
    con: duckdb.DuckDBPyConnection, settings: Settings, train_as_of: date, test_as_of: date, outcomes: list[str]
) -> TrainingData:
    """Read both dates' frames (the test frame in the training feature order) and the oracle probabilities."""
    train = data.load_frame(con, train_as_of, outcomes=outcomes)
    test = data.load_frame(con, test_as_of, outcomes=outcomes, feature_names=train.feature_names)
    oracles = {
        outcome: data.oracle_probabilities(con, settings.paths.truth, test_as_of, test.person_key, outcome)
        for outcome in outcomes
    }
    return TrainingData(train, test, oracles)


def undescribed_warnings(frame: data.ModelFrame, dictionary: FeatureDictionary) -> list[str]:
    """A warning naming the features the dictionary does not describe (their reasons use the column name)."""
    missing = sorted(set(frame.feature_names) - set(dictionary.features))
    if not missing:
        return []
    return [f"features without a dictionary entry (reasons use the column name): {', '.join(missing)}"]


def register(model: TrainedModel, root: Path, dictionary: FeatureDictionary) -> tuple[str, Path]:
    """Write the model as a new registry version under ``root``; return its version and folder."""
    booster = model.candidates.lightgbm
    version = registry.new_version(booster.booster.model_to_string(num_iteration=booster.best_iteration))
    path = registry.write_version(root, model.name, version, registry_files(model, version, dictionary))
    log.info("registered %s version %s at %s", model.name, version, path)
    return version, path


def model_summary(model: TrainedModel, version: str) -> dict[str, Any]:
    """The stage summary lines of one outcome: version, champion, AUROC per candidate, the champion's calibration."""
    outcome = model.name
    winner = model.choice.winner
    scores = {
        name: round(values["auroc"], 4)
        for name, values in model.metrics["populations"]["65plus"].items()
        if values.get("auroc") is not None
    }
    primary = model.metrics["populations"]["65plus"][winner]
    recalibration = deployed.from_candidates(model.candidates, winner).recalibration
    return {
        f"{outcome} version": version,
        f"{outcome} champion": model.choice.reason(),
        f"{outcome} AUROC": scores,
        f"{outcome} calibration": {
            "slope": round(primary["calibration_slope"], 3),
            "intercept": round(primary["calibration_intercept"], 3),
            "ppv_top_1pct": round(primary["ppv_top_1pct"], 3),
            "recalibrated": recalibration.applied,
        },
    }


def flagged_warnings(model: TrainedModel) -> list[str]:
    """One warning per subgroup the deployed model serves materially worse or calibrates outside the slope target."""
    flagged = model.evaluation.flagged()
    flagged = flagged.loc[flagged["model"] == model.choice.winner] if not flagged.empty else flagged
    return [
        f"{model.name}: subgroup {row.population}/{row.dimension}={row.level} flagged "
        f"(AUROC {row.auroc:.3f}, O/E {row.oe_ratio:.2f}, calibration slope {row.calibration_slope:.2f})"
        for row in flagged.itertuples(index=False)
    ]
