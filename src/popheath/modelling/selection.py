"""Champion choice of one training run: which candidate a registered version deploys.

The logistic regression is simpler to explain, audit and run, so it ships unless LightGBM's AUROC
on the same temporal test set is higher by at least ``model.champion_auroc_margin`` both for
everyone aged 65+ and in the frail cohort (the people the lists are for). A population where the
comparison cannot be made (one outcome class only) counts as not passed. The difference's interval is
a paired bootstrap (both models on the same resamples of people); it is reported, not part of the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from popheath.modelling import metrics
from popheath.modelling.candidates import LIGHTGBM, LOGISTIC, MODEL_LABELS


@dataclass(frozen=True)
class PopulationComparison:
    """LightGBM against logistic on one test population."""

    population: str
    n: int
    events: int
    lightgbm_auroc: float
    lightgbm_ci: tuple[float, float]
    logistic_auroc: float
    logistic_ci: tuple[float, float]
    difference: float
    difference_ci: tuple[float, float]
    passed: bool


@dataclass(frozen=True)
class ChampionChoice:
    """The deployed candidate and the comparisons that decided it."""

    winner: str
    margin: float
    comparisons: tuple[PopulationComparison, ...]
    bootstrap_samples: int
    seed: int

    def rule(self) -> str:
        """The decision rule in words."""
        return (
            f"{MODEL_LABELS[LOGISTIC]} is deployed unless {MODEL_LABELS[LIGHTGBM]}'s test AUROC is higher by at "
            f"least {self.margin:g} both for everyone aged 65+ and in the frail cohort"
        )

    def reason(self) -> str:
        """Why the winner won, with each population's AUROC difference."""
        parts = ", ".join(
            f"{c.population} {_signed(c.difference)} ({'passes' if c.passed else 'fails'})" for c in self.comparisons
        )
        verdict = "clears the margin in every population" if self.winner == LIGHTGBM else "does not clear the margin"
        return f"LightGBM minus logistic AUROC: {parts}; LightGBM {verdict}, so {MODEL_LABELS[self.winner]} ships"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for metrics.json)."""
        return {
            "winner": self.winner,
            "margin": self.margin,
            "rule": self.rule(),
            "reason": self.reason(),
            "bootstrap_samples": self.bootstrap_samples,
            "seed": self.seed,
            "comparisons": [asdict(comparison) for comparison in self.comparisons],
        }


def _signed(value: float) -> str:
    return f"{value:+.4f}" if math.isfinite(value) else "n/a"


def compare(
    population: str,
    y: np.ndarray,
    lightgbm: np.ndarray,
    logistic: np.ndarray,
    *,
    margin: float,
    samples: int,
    seed: int,
) -> PopulationComparison:
    """Both models' AUROC with bootstrap intervals, and their paired difference, on the same people."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=int)
    events = int(y.sum())
    if not 0 < events < y.size:
        missing = (math.nan, math.nan)
        return PopulationComparison(
            population, int(y.size), events, math.nan, missing, math.nan, missing, math.nan, missing, False
        )
    first, second = float(roc_auc_score(y, lightgbm)), float(roc_auc_score(y, logistic))
    if samples > 0:
        aurocs = metrics.bootstrap_aurocs(y, [lightgbm, logistic], samples, seed)
        intervals = [metrics.percentile_interval(aurocs[:, column]) for column in range(2)]
        difference_ci = metrics.percentile_interval(aurocs[:, 0] - aurocs[:, 1])
    else:
        intervals = [(math.nan, math.nan)] * 2
        difference_ci = (math.nan, math.nan)
    difference = first - second
    # Rounded so that a difference equal to the margin in print (0.81 - 0.80 vs 0.01) passes.
    passed = round(difference, 12) >= margin
    return PopulationComparison(
        population, int(y.size), events, first, intervals[0], second, intervals[1], difference, difference_ci, passed
    )


def choose(
    y: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    frail: np.ndarray,
    *,
    margin: float,
    samples: int,
    seed: int,
) -> ChampionChoice:
    """Pick the deployed candidate from LightGBM's and logistic's test predictions (everyone 65+ and the frail)."""
    comparisons = tuple(
        compare(
            population,
            y[mask],
            predictions[LIGHTGBM][mask],
            predictions[LOGISTIC][mask],
            margin=margin,
            samples=samples,
            seed=seed,
        )
        for population, mask in (("65plus", np.ones(y.size, dtype=bool)), ("frail", np.asarray(frail, dtype=bool)))
    )
    winner = LIGHTGBM if all(comparison.passed for comparison in comparisons) else LOGISTIC
    return ChampionChoice(winner, margin, comparisons, samples, seed)
