"""Accuracy of probabilistic links: precision, recall and F1 against known answers, over thresholds.

Definitions (per ASC event linked probabilistically):
- a record is *linkable* when its true person is in the population spine;
- a *true positive* is a record linked to its true person;
- precision = true positives / records linked; recall = true positives / linkable records.
A record linked to the wrong person counts against precision and recall alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


@dataclass(frozen=True)
class Accuracy:
    """Precision, recall and F1 at one threshold, with the counts behind them."""

    threshold: float
    records: int
    linkable: int
    linked: int
    true_positives: int
    precision: float | None
    recall: float | None
    f1: float | None
    # Wilson 95% interval of the precision: how far sampling alone may move it (Wilson 1927, JASA 22:209).
    precision_low: float | None = None
    precision_high: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain dictionary for JSON."""
        return asdict(self)


def accuracy(
    best_person: Sequence[str | None],
    probability: Sequence[float | None],
    truth: Sequence[str | None],
    truth_in_spine: Sequence[bool],
    threshold: float,
) -> Accuracy:
    """Score links made at ``threshold``: the best candidate is linked when its probability reaches it."""
    predicted = np.array([p if p is not None else "" for p in best_person], dtype=object)
    prob = np.array([np.nan if p is None else float(p) for p in probability], dtype=float)
    actual = np.array([t if t is not None else "\x00" for t in truth], dtype=object)
    linkable = np.asarray(truth_in_spine, dtype=bool)
    linked = np.nan_to_num(prob, nan=-1.0) >= threshold
    correct = linked & (predicted == actual)
    n_linked, n_linkable, tp = int(linked.sum()), int(linkable.sum()), int(correct.sum())
    precision = tp / n_linked if n_linked else None
    recall = tp / n_linkable if n_linkable else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )
    low, high = _wilson(tp, n_linked)
    return Accuracy(threshold, len(predicted), n_linkable, n_linked, tp, precision, recall, f1, low, high)


def _wilson(successes: int, trials: int) -> tuple[float | None, float | None]:
    if not trials:
        return None, None
    from scipy.stats import binomtest

    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def accuracy_curve(
    best_person: Sequence[str | None],
    probability: Sequence[float | None],
    truth: Sequence[str | None],
    truth_in_spine: Sequence[bool],
    thresholds: Sequence[float] = THRESHOLDS,
) -> list[Accuracy]:
    """:func:`accuracy` at each threshold: the precision/recall trade-off the threshold is chosen from."""
    return [accuracy(best_person, probability, truth, truth_in_spine, t) for t in thresholds]
