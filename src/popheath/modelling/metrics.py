"""Discrimination, calibration and flagging metrics, overall and by subgroup.

AUROC, AUPRC, Brier and the calibration curve come from scikit-learn. The bootstrap confidence
interval for AUROC reuses one sort across all replicates (AUROC with bootstrap counts as weights equals scikit-learn's
``roc_auc_score(..., sample_weight=counts)``; the test suite checks this), so that subgroup
intervals stay cheap on a 200k-person test set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

TOP_FRACTIONS: tuple[float, ...] = (0.005, 0.01, 0.05)
SUBGROUP_COLUMNS: tuple[str, ...] = ("sex", "age_band", "ethnic_group", "imd_quintile", "place")
_EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds, with probabilities clipped away from 0 and 1."""
    clipped = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(clipped / (1 - clipped))


def expit(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`logit` (scipy's, which does not overflow for large arguments)."""
    result: np.ndarray = special.expit(np.asarray(x, dtype=float))
    return result


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < int(y.sum()) < y.size


def weighted_auroc(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC for each row of ``weights`` (shape replicates x n), ties counted as one half."""
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    sorted_y = y[order].astype(float)
    w = np.atleast_2d(weights)[:, order].astype(float)
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
    positives = np.add.reduceat(w * sorted_y, starts, axis=1)
    negatives = np.add.reduceat(w * (1.0 - sorted_y), starts, axis=1)
    negatives_below = np.cumsum(negatives, axis=1) - negatives
    total_pos = positives.sum(axis=1)
    total_neg = negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: np.ndarray = (positives * (negatives_below + 0.5 * negatives)).sum(axis=1) / (total_pos * total_neg)
    return result


def bootstrap_counts(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n`` rows is drawn in each of ``replicates`` resamples with replacement."""
    draws = rng.integers(0, n, size=(replicates, n)) + (np.arange(replicates)[:, None] * n)
    return np.bincount(draws.ravel(), minlength=replicates * n).reshape(replicates, n)


def bootstrap_aurocs(
    y: np.ndarray, scores: Sequence[np.ndarray], samples: int, seed: int, chunk: int = 25
) -> np.ndarray:
    """AUROC of every score in each of ``samples`` seeded resamples of people (shape samples x scores).

    Every score is measured on the same resamples, so differences between columns are paired.
    """
    rng = np.random.default_rng(seed)
    values: list[np.ndarray] = []
    for start in range(0, samples, chunk):
        counts = bootstrap_counts(y.size, min(chunk, samples - start), rng)
        values.append(np.column_stack([weighted_auroc(y, np.asarray(p, dtype=float), counts) for p in scores]))
    return np.concatenate(values) if values else np.empty((0, len(scores)))


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the finite ``values`` (NaN, NaN when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return (float(low), float(high))


def auroc_ci(
    y: np.ndarray, p: np.ndarray, samples: int, seed: int, level: float = 0.95, chunk: int = 25
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval for AUROC (resampling people, seeded)."""
    if samples <= 0 or not _both_classes(y):
        return (math.nan, math.nan)
    return percentile_interval(bootstrap_aurocs(y, [p], samples, seed, chunk)[:, 0], level)


def auroc_difference_ci(
    y: np.ndarray, p_first: np.ndarray, p_second: np.ndarray, samples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Paired bootstrap interval of AUROC(first) - AUROC(second): both scored on the same resamples of people."""
    if samples <= 0 or not _both_classes(y):
        return (math.nan, math.nan)
    aurocs = bootstrap_aurocs(y, [p_first, p_second], samples, seed)
    return percentile_interval(aurocs[:, 0] - aurocs[:, 1], level)


def _fitted_and_log_likelihood(y: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, float]:
    """expit(eta) and the Bernoulli log-likelihood, from one overflow-free exponential."""
    shrunk = np.exp(-np.abs(eta))
    fitted = np.where(eta >= 0, 1.0, shrunk) / (1.0 + shrunk)
    likelihood = float(y @ eta - np.maximum(eta, 0.0).sum() - np.log1p(shrunk).sum())
    return fitted, likelihood


def _newton_logistic(design: np.ndarray, y: np.ndarray, offset: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Unpenalised logistic regression by Newton-Raphson with step halving.

    The same maximum-likelihood fit as scikit-learn's ``LogisticRegression(C=np.inf)`` (the tests
    check they agree). Used because it is called for every
    subgroup of every model, where scikit-learn's general solver dominates the run time. A full
    Newton step can overshoot when the start (slope 1) is far from the answer, as for badly
    over-confident predictions, so a step is halved until the likelihood does not fall.
    Returns NaN when there is no finite estimate (separation: the outcome perfectly predicted in a
    tiny subgroup) or no convergence.
    """
    beta = start.astype(float).copy()
    fitted, likelihood = _fitted_and_log_likelihood(y, design @ beta + offset)
    for _ in range(100):
        weight = fitted * (1 - fitted)
        gradient = design.T @ (y - fitted)
        hessian = (design * weight[:, None]).T @ design
        try:
            step = np.linalg.solve(hessian + 1e-12 * np.eye(beta.size), gradient)
        except np.linalg.LinAlgError:
            return np.full(beta.size, math.nan)
        for _halving in range(30):
            candidate = beta + step
            candidate_fitted, candidate_likelihood = _fitted_and_log_likelihood(y, design @ candidate + offset)
            if np.all(np.isfinite(candidate)) and candidate_likelihood >= likelihood - 1e-9 * abs(likelihood):
                break
            step = step / 2
        else:
            return np.full(beta.size, math.nan)
        beta, fitted, likelihood = candidate, candidate_fitted, candidate_likelihood
        if float(np.max(np.abs(step))) < 1e-10:
            return beta
    return np.full(beta.size, math.nan)


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration: fit ``logit P(y=1) = a + b * logit(p)``; return (b, a). Ideal: (1, 0)."""
    if not _both_classes(y):
        return (math.nan, math.nan)
    score = logit(p)
    design = np.column_stack([np.ones(score.size), score])
    intercept, slope = _newton_logistic(design, np.asarray(y, dtype=float), np.zeros(score.size), np.array([0.0, 1.0]))
    return (float(slope), float(intercept))


def calibration_in_the_large(y: np.ndarray, p: np.ndarray) -> float:
    """Intercept ``a`` of ``logit P(y=1) = a + offset(logit(p))``. Ideal: 0."""
    if not _both_classes(y):
        return math.nan
    offset = logit(p)
    (a,) = _newton_logistic(np.ones((offset.size, 1)), np.asarray(y, dtype=float), offset, np.zeros(1))
    return float(a)


def top_fraction_metrics(y: np.ndarray, p: np.ndarray, fractions: Iterable[float] = TOP_FRACTIONS) -> dict[str, float]:
    """PPV and sensitivity when the highest-risk ``fraction`` of people are flagged (at least one person).

    Counted directly (events flagged / flagged, events flagged / all events): identical to scikit-learn's
    ``precision_score`` / ``recall_score`` on the flag, which the tests check, at a fraction of the cost.
    """
    order = np.argsort(-p, kind="stable")
    events_in_order = np.cumsum(np.asarray(y)[order])
    total_events = int(events_in_order[-1]) if y.size else 0
    result: dict[str, float] = {}
    for fraction in fractions:
        count = max(1, math.ceil(fraction * y.size)) if y.size else 0
        label = f"{fraction * 100:g}pct"
        found = int(events_in_order[count - 1]) if count else 0
        result[f"ppv_top_{label}"] = found / count if count else math.nan
        result[f"sensitivity_top_{label}"] = found / total_events if total_events else (0.0 if y.size else math.nan)
        result[f"flagged_top_{label}"] = count
    return result


def evaluate(y: np.ndarray, p: np.ndarray, *, samples: int, seed: int) -> dict[str, Any]:
    """Every headline metric for one model on one population."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    events = int(y.sum())
    result: dict[str, Any] = {
        "n": int(y.size),
        "events": events,
        "observed_rate": events / y.size if y.size else math.nan,
    }
    result["mean_predicted"] = float(p.mean()) if y.size else math.nan
    result["oe_ratio"] = result["observed_rate"] / result["mean_predicted"] if result["mean_predicted"] else math.nan
    if _both_classes(y):
        result["auroc"] = float(roc_auc_score(y, p))
        result["auroc_ci_low"], result["auroc_ci_high"] = auroc_ci(y, p, samples, seed)
        result["auprc"] = float(average_precision_score(y, p))
        result["brier"] = float(brier_score_loss(y, p))
        result["calibration_slope"], result["calibration_intercept"] = calibration_slope_intercept(y, p)
        result["calibration_in_the_large"] = calibration_in_the_large(y, p)
    else:
        for key in ("auroc", "auroc_ci_low", "auroc_ci_high", "auprc", "brier"):
            result[key] = math.nan
        result["calibration_slope"] = result["calibration_intercept"] = result["calibration_in_the_large"] = math.nan
    result.update(top_fraction_metrics(y, p))
    return result


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Observed rate against mean predicted risk in risk deciles (quantile bins)."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    return pd.DataFrame(
        {"bin": np.arange(1, observed.size + 1), "mean_predicted": predicted, "observed_rate": observed}
    )


@dataclass(frozen=True)
class FlagRule:
    """When a subgroup counts as materially worse served than the whole population.

    * ``worse_discrimination``: the subgroup's AUROC is at least ``auroc_margin`` below the overall
      AUROC *and* the upper bound of its 95% CI is below the overall AUROC (materially and clearly worse).
    * ``miscalibrated``: observed/expected events outside ``[1/(1+tol), 1+tol]``.
    * ``slope_outside_target``: calibration slope outside ``slope_range`` (above 1: predictions too
      modest; below 1: too extreme, the usual sign of overfitting; Van Calster et al. 2019, BMC Med 17:230).
    All are judged only with at least ``min_events`` events and as many non-events.
    """

    min_events: int = 20
    oe_tolerance: float = 0.25
    auroc_margin: float = 0.03
    slope_range: tuple[float, float] = (0.9, 1.1)

    def slope_in_target(self, slope: float) -> bool:
        """Whether a calibration slope lies in ``slope_range`` (a missing slope does not)."""
        low, high = self.slope_range
        return bool(math.isfinite(slope) and low <= slope <= high)

    def describe(self) -> str:
        """The rule in words, for the model card."""
        return (
            f"a subgroup is flagged 'worse discrimination' when its AUROC is at least {self.auroc_margin:g} below "
            f"the overall AUROC and the upper bound of its 95% CI is also below the overall AUROC, and "
            f"'miscalibrated' when observed/expected events is outside "
            f"{1 / (1 + self.oe_tolerance):.2f}-{1 + self.oe_tolerance:.2f}, and 'slope outside target' when "
            f"its calibration slope is outside {self.slope_range[0]:g}-{self.slope_range[1]:g}; subgroups with "
            f"fewer than {self.min_events} events (or non-events) are reported but not judged. AUROC within a band "
            "of a predictor (age band, frailty) is naturally lower than overall because that predictor no longer "
            "varies, so read age-band flags with that in mind"
        )


def subgroup_table(
    y: np.ndarray,
    p: np.ndarray,
    groups: pd.DataFrame,
    *,
    overall_auroc: float,
    rule: FlagRule,
    samples: int,
    seed: int,
    columns: Sequence[str] = SUBGROUP_COLUMNS,
) -> pd.DataFrame:
    """Metrics per level of each grouping column, with flags for materially worse subgroups."""
    rows: list[dict[str, Any]] = []
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    for column in columns:
        if column not in groups.columns:
            continue
        levels = groups[column].astype("string").fillna("Unknown").to_numpy()
        for level in sorted(set(levels)):
            mask = levels == level
            sub_y, sub_p = y[mask], p[mask]
            events = int(sub_y.sum())
            row: dict[str, Any] = {"dimension": column, "level": level, "n": int(mask.sum()), "events": events}
            metrics = evaluate(sub_y, sub_p, samples=samples, seed=seed)
            for key in (
                "observed_rate",
                "mean_predicted",
                "oe_ratio",
                "auroc",
                "auroc_ci_low",
                "auroc_ci_high",
                "auprc",
                "brier",
                "calibration_slope",
                "calibration_intercept",
                "calibration_in_the_large",
                "ppv_top_1pct",
                "sensitivity_top_1pct",
            ):
                row[key] = metrics[key]
            judged = events >= rule.min_events and (row["n"] - events) >= rule.min_events
            row["judged"] = judged
            row["flag_worse_discrimination"] = bool(
                judged and row["auroc_ci_high"] < overall_auroc and row["auroc"] <= overall_auroc - rule.auroc_margin
            )
            oe = row["oe_ratio"]
            row["flag_miscalibrated"] = bool(
                judged and math.isfinite(oe) and (oe < 1 / (1 + rule.oe_tolerance) or oe > 1 + rule.oe_tolerance)
            )
            slope = row["calibration_slope"]
            row["flag_slope_outside_target"] = bool(judged and math.isfinite(slope) and not rule.slope_in_target(slope))
            rows.append(row)
    return pd.DataFrame(rows)
