"""Fit every candidate model for one outcome on the training date, and predict with them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from popheath.errors import StageError
from popheath.modelling import estimators
from popheath.modelling.data import ModelFrame

log = logging.getLogger(__name__)

HFRS_FEATURE = "hfrs"
RULE_FEATURE = "emergency_admissions_12m"
# The two candidates the champion choice (modelling.selection) picks the deployed model from.
LIGHTGBM = "lightgbm"
LOGISTIC = "logistic"
MODEL_LABELS: dict[str, str] = {
    LIGHTGBM: "LightGBM",
    "lightgbm_uncalibrated": "LightGBM before recalibration",
    LOGISTIC: "Logistic regression (L2, PARR/CPM-style)",
    "logistic_uncalibrated": "Logistic regression before recalibration",
    "hfrs_only": "Hospital Frailty Risk Score alone",
    "rule_emergency_12m": "Rule: emergency admission in last 12 months",
    "oracle": "Oracle (generator's true probability)",
}


@dataclass
class Candidates:
    """The trained candidates for one outcome and how they were chosen."""

    outcome: str
    feature_names: list[str]
    lightgbm: estimators.LightGBMResult
    recalibration: estimators.Recalibration
    logistic: estimators.LogisticBaseline
    logistic_cv_log_loss: dict[float, float]
    logistic_recalibration: estimators.Recalibration
    hfrs: estimators.PlattMap | None
    rule: tuple[float, float] | None
    fit_rows: int
    validation_rows: int
    fit_events: int
    validation_events: int

    def hyper_parameters(self) -> dict[str, Any]:
        """What was searched and chosen, for the registry."""
        return {
            "lightgbm": {
                "chosen": {k: v for k, v in self.lightgbm.params.items() if k != "metric"},
                "best_iteration": self.lightgbm.best_iteration,
                "validation_log_loss": self.lightgbm.validation_log_loss,
                "validation_auroc": self.lightgbm.validation_auroc,
                "grid": {k: list(v) for k, v in estimators.LGBM_GRID.items()},
                "search": self.lightgbm.search,
                "max_rounds": estimators.MAX_ROUNDS,
                "early_stopping_rounds": estimators.EARLY_STOPPING_ROUNDS,
            },
            "logistic": {
                "C": self.logistic.c,
                "C_grid": list(estimators.LOGISTIC_C_GRID),
                "cv_folds": estimators.LOGISTIC_CV_FOLDS,
                "cv_log_loss": [self.logistic_cv_log_loss[c] for c in estimators.LOGISTIC_C_GRID],
            },
        }


def fit_candidates(
    train: ModelFrame,
    outcome: str,
    *,
    validation_fraction: float,
    threads: int,
    seed: int,
    grid: dict[str, tuple[Any, ...]] | None = None,
) -> Candidates:
    """Split the training date's people into fit/validation parts, then fit every candidate."""
    y = train.outcomes[outcome]
    if int(y.sum()) < 2 or int(y.sum()) > y.size - 2:
        raise StageError(f"outcome {outcome} at {train.as_of}: {int(y.sum())} events in {y.size} people; cannot train")
    fit_rows, validation_rows = estimators.validation_split(y, validation_fraction, seed)
    x_fit, y_fit = train.x[fit_rows], y[fit_rows]
    x_val, y_val = train.x[validation_rows], y[validation_rows]
    log.info("%s: fitting on %d people (%d events), validating on %d", outcome, y_fit.size, y_fit.sum(), y_val.size)
    booster = estimators.train_lightgbm(
        x_fit, y_fit, x_val, y_val, train.feature_names, threads=threads, seed=seed, grid=grid
    )
    recalibration = estimators.choose_recalibration(estimators.predict_lightgbm(booster.booster, x_val), y_val)
    # The logistic regression needs no early stopping, so it cross-validates on every training person.
    logistic = estimators.train_logistic(train.x, y, train.feature_names, seed=seed)
    logistic_recalibration = estimators.choose_recalibration(logistic.out_of_fold, y, estimators.OUT_OF_FOLD)
    names = train.feature_names
    hfrs = estimators.hfrs_only(x_fit[:, names.index(HFRS_FEATURE)], y_fit) if HFRS_FEATURE in names else None
    rule = (
        estimators.rule_probability(np.nan_to_num(x_fit[:, names.index(RULE_FEATURE)]) > 0, y_fit)
        if RULE_FEATURE in names
        else None
    )
    return Candidates(
        outcome=outcome,
        feature_names=list(names),
        lightgbm=booster,
        recalibration=recalibration,
        logistic=logistic.model,
        logistic_cv_log_loss=logistic.cv_log_loss,
        logistic_recalibration=logistic_recalibration,
        hfrs=hfrs,
        rule=rule,
        fit_rows=int(y_fit.size),
        validation_rows=int(y_val.size),
        fit_events=int(y_fit.sum()),
        validation_events=int(y_val.sum()),
    )


def predict_candidates(candidates: Candidates, frame: ModelFrame) -> dict[str, np.ndarray]:
    """Each candidate's predicted probability for every row of ``frame``."""
    if frame.feature_names != candidates.feature_names:
        raise StageError("the frame's features differ from the ones the models were trained on")
    predictions: dict[str, np.ndarray] = {}
    for name, raw, recalibration in (
        (LIGHTGBM, estimators.predict_lightgbm(candidates.lightgbm.booster, frame.x), candidates.recalibration),
        (LOGISTIC, candidates.logistic.predict(frame.x), candidates.logistic_recalibration),
    ):
        predictions[name] = recalibration.apply(raw)
        if recalibration.applied:
            predictions[f"{name}_uncalibrated"] = raw
    names = frame.feature_names
    if candidates.hfrs is not None:
        predictions["hfrs_only"] = candidates.hfrs.apply(np.nan_to_num(frame.x[:, names.index(HFRS_FEATURE)]))
    if candidates.rule is not None:
        flagged = np.nan_to_num(frame.x[:, names.index(RULE_FEATURE)]) > 0
        predictions["rule_emergency_12m"] = np.where(flagged, candidates.rule[1], candidates.rule[0])
    return predictions
