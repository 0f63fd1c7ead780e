"""The deployed model of a registered version: LightGBM or logistic regression, as the champion choice shipped.

Scoring, the promotion gate and the training run all predict and explain through this one type, so
the risk a coordinator sees is the model the card says won.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from popheath.errors import StageError
from popheath.modelling import estimators, registry
from popheath.modelling.candidates import LIGHTGBM, LOGISTIC, Candidates

if TYPE_CHECKING:
    import lightgbm


@dataclass(frozen=True)
class DeployedModel:
    """One candidate with the recalibration chosen for it on the training date's validation part."""

    kind: str
    recalibration: estimators.Recalibration
    booster: lightgbm.Booster | None = None
    logistic: estimators.LogisticBaseline | None = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Risk (recalibrated where the validation part asked for it) for each row of ``x``."""
        if self.booster is not None:
            return self.recalibration.apply(estimators.predict_lightgbm(self.booster, x))
        assert self.logistic is not None
        return self.recalibration.apply(self.logistic.predict(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-person SHAP values in log-odds (bias last): TreeSHAP for LightGBM, exact linear SHAP for logistic."""
        if self.booster is not None:
            return estimators.contributions(self.booster, x)
        assert self.logistic is not None
        return self.logistic.contributions(x)


def from_candidates(candidates: Candidates, kind: str) -> DeployedModel:
    """The chosen candidate of a training run."""
    if kind == LIGHTGBM:
        return DeployedModel(kind, candidates.recalibration, booster=candidates.lightgbm.booster)
    if kind == LOGISTIC:
        return DeployedModel(kind, candidates.logistic_recalibration, logistic=candidates.logistic)
    raise StageError(f"cannot deploy model {kind!r}: the candidates are {LIGHTGBM} and {LOGISTIC}")


def deployed_kind(metrics: Mapping[str, Any]) -> str:
    """Which candidate a version deploys (versions registered before the champion choice deployed LightGBM)."""
    return str(metrics.get("primary_model", LIGHTGBM))


def load(model: registry.ModelVersion) -> DeployedModel:
    """The deployed model of a registered version, with its recalibration."""
    kind = deployed_kind(model.read_json(registry.METRICS_FILE))
    stored = model.read_json(registry.TRAINING_FILE)["recalibration"]
    # One recalibration per candidate; a version from before the champion choice stored LightGBM's alone.
    recalibration = estimators.Recalibration.from_dict(stored[kind] if kind in stored else stored)
    if kind == LIGHTGBM:
        return DeployedModel(kind, recalibration, booster=model.booster())
    if kind == LOGISTIC:
        logistic = estimators.LogisticBaseline.from_dict(model.read_json(registry.LOGISTIC_FILE))
        return DeployedModel(kind, recalibration, logistic=logistic)
    raise StageError(f"{model.path}: metrics.json names deployed model {kind!r}, expected {LIGHTGBM} or {LOGISTIC}")
