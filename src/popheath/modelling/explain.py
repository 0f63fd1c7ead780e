"""Per-person reasons: the features that push each person's risk up most, in plain words.

Contributions are the deployed model's SHAP values on the log-odds scale (LightGBM's TreeSHAP,
``pred_contrib=True``, or the logistic regression's exact linear ones); only
positive contributions are reasons (a feature that lowers risk is not a reason to call someone).
One admission is counted once: the windows of one count (``emergency_admissions_3m``, ``_6m``,
``_12m``, ``_24m``) are one reason, said with the most informative window. Counts of one are said in
the singular ("1 emergency admission").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from popheath.clinical.feature_dictionary import Feature, FeatureDictionary

TOP_REASONS = 3
# Candidates looked at per person: with at most 4 windows per count, 12 always hold 3 distinct reasons.
REASON_CANDIDATES = 12
# Windows of a count feature, shortest first (the order ties are broken in).
WINDOWS = ("3m", "6m", "12m", "24m")
_WINDOWED = re.compile(r"^(?P<stem>.+)_(?P<window>" + "|".join(WINDOWS) + r")$")
# The counted nouns of the dictionary's templates and their singular (English grammar, not data).
SINGULAR = {
    "admissions": "admission",
    "readmissions": "readmission",
    "attendances": "attendance",
    "appointments": "appointment",
    "contacts": "contact",
    "services": "service",
    "packages": "package",
    "stays": "stay",
    "days": "day",
    "conditions": "condition",
    "syndromes": "syndrome",
}
_COUNT = "{value:.0f}"


def top_contributions(contributions: np.ndarray, k: int = REASON_CANDIDATES) -> tuple[np.ndarray, np.ndarray]:
    """Column index and value of each person's ``k`` largest contributions (bias column excluded).

    Indices of non-positive contributions are returned as -1. The default ``k`` is the candidates
    :func:`render_reasons` picks ``TOP_REASONS`` distinct reasons from.
    """
    features = contributions[:, :-1]
    k = min(k, features.shape[1])
    # Stable sort on the negated values: ties keep feature order, so reasons are reproducible.
    order = np.argsort(-features, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(features, order, axis=1)
    order = np.where(values > 0, order, -1)
    return order, values


def singular_template(template: str) -> str:
    """The template for a count of one: the first counted noun after ``{value:.0f}`` in the singular."""
    head, marker, tail = template.partition(_COUNT)
    if not marker:
        return template
    words = re.split(r"(\W+)", tail)
    for position, word in enumerate(words):
        if word in SINGULAR:
            words[position] = SINGULAR[word]
            break
    return head + marker + "".join(words)


def render(feature: Feature, value: float) -> str:
    """The reason for one feature value, with "1 emergency admission" in the singular."""
    if feature.reason and _COUNT in feature.reason and f"{value:.0f}" == "1":
        feature = dataclasses.replace(feature, reason=singular_template(feature.reason))
    return feature.render(value)


def count_families(feature_names: Sequence[str]) -> list[list[int]]:
    """Indices of the features that are windows of one count, shortest window first (families of 2+)."""
    families: dict[str, list[tuple[int, int]]] = {}
    for index, name in enumerate(feature_names):
        match = _WINDOWED.match(name)
        if match:
            families.setdefault(match["stem"], []).append((WINDOWS.index(match["window"]), index))
    return [[index for _w, index in sorted(members)] for members in families.values() if len(members) > 1]


def one_reason_per_count(indices: np.ndarray, x: np.ndarray, feature_names: Sequence[str], k: int) -> np.ndarray:
    """The first ``k`` distinct reasons per person, a count's windows merged into one (its most informative).

    The window shown is the one with the largest count (every admission counted), the shortest on ties
    (the most recent way to say it): 1 in 3 months and 1 in 12 months is "1 ... in the last 3 months";
    1 in 3 months and 3 in 12 months is "3 ... in the last 12 months". Later candidates fill the slots
    freed. Returns feature indices (-1 where a person has fewer reasons).
    """
    family_of = np.full(len(feature_names), -1, dtype=np.int64)
    chosen = indices.copy()
    for number, members in enumerate(count_families(feature_names)):
        family_of[members] = number
        counts = np.where(np.isnan(x[:, members]), -np.inf, x[:, members])
        best = np.asarray(members)[np.argmax(counts, axis=1)]  # argmax keeps the first (shortest) on ties
        in_family = (indices >= 0) & np.isin(indices, members)
        chosen = np.where(in_family, best[:, None], chosen)
    # Key per candidate: its family, or a unique key for a feature outside any family.
    key = np.where(
        indices >= 0,
        np.where(family_of[np.maximum(indices, 0)] >= 0, family_of[np.maximum(indices, 0)], -2 - indices),
        -1,
    )
    keep = indices >= 0
    for j in range(1, indices.shape[1]):
        keep[:, j] &= ~(key[:, :j] == key[:, j : j + 1]).any(axis=1)
    # Stable compaction: kept candidates first, in contribution order.
    order = np.argsort(~keep, axis=1, kind="stable")
    compact = np.take_along_axis(np.where(keep, chosen, -1), order, axis=1)
    width = min(k, indices.shape[1])
    return compact[:, :width]


def render_reasons(
    indices: np.ndarray, x: np.ndarray, feature_names: Sequence[str], dictionary: FeatureDictionary
) -> list[list[str | None]]:
    """Plain-words reasons from the dictionary's templates, as lists (reason_1, reason_2, ...).

    ``indices`` are the candidates of :func:`top_contributions`; at most ``TOP_REASONS`` distinct
    reasons are kept (one per count, see :func:`one_reason_per_count`). Each list has one entry per
    person; None where the person has fewer reasons. Each distinct (feature, value) pair is rendered
    once, so this stays cheap at 1M people.
    """
    indices = one_reason_per_count(indices, x, feature_names, TOP_REASONS)
    people, k = indices.shape
    flat_index = indices.ravel()
    rows = np.repeat(np.arange(people), k)
    present = flat_index >= 0
    values = np.full(flat_index.size, np.nan)
    values[present] = x[rows[present], flat_index[present]]
    frame = pd.DataFrame({"feature": flat_index, "value": values})
    distinct = frame[present].drop_duplicates()
    texts = [
        render(dictionary.definition(feature_names[int(f)]), float(v))
        for f, v in zip(distinct["feature"], distinct["value"], strict=True)
    ]
    lookup = distinct.assign(text=texts)
    # pandas matches NaN keys to each other in a merge, so "not recorded" texts map back too.
    merged = frame.merge(lookup, on=["feature", "value"], how="left")
    text = np.array(merged["text"].astype(object).to_numpy(), dtype=object)
    text[~present] = None
    return _columns(text, people, k)


def _none_if_missing(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _columns(text: np.ndarray, people: int, k: int) -> list[list[str | None]]:
    """Reasons as k columns of length ``people`` (reason_1, reason_2, ...)."""
    grid = text.reshape(people, k)
    return [[_none_if_missing(value) for value in grid[:, j]] for j in range(k)]


def mean_absolute_contribution(contributions: np.ndarray, feature_names: Sequence[str]) -> dict[str, float]:
    """Global importance: mean |SHAP| per feature, largest first."""
    means = np.abs(contributions[:, :-1]).mean(axis=0)
    order = np.argsort(-means, kind="stable")
    return {feature_names[i]: float(means[i]) for i in order}
