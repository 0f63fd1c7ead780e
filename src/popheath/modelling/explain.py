"""Per-person reasons: the features that push each person's risk up most, in plain words.

Contributions are LightGBM's TreeSHAP values (``pred_contrib=True``) on the log-odds scale; only
positive contributions are reasons (a feature that lowers risk is not a reason to call someone).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from popheath.clinical.feature_dictionary import FeatureDictionary

TOP_REASONS = 3


def top_contributions(contributions: np.ndarray, k: int = TOP_REASONS) -> tuple[np.ndarray, np.ndarray]:
    """Column index and value of each person's ``k`` largest contributions (bias column excluded).

    Indices of non-positive contributions are returned as -1.
    """
    features = contributions[:, :-1]
    k = min(k, features.shape[1])
    # Stable sort on the negated values: ties keep feature order, so reasons are reproducible.
    order = np.argsort(-features, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(features, order, axis=1)
    order = np.where(values > 0, order, -1)
    return order, values


def render_reasons(
    indices: np.ndarray, x: np.ndarray, feature_names: Sequence[str], dictionary: FeatureDictionary
) -> list[list[str | None]]:
    """Plain-words reasons from the dictionary's templates, as ``k`` lists (reason_1, reason_2, ...).

    Each list has one entry per person; None where the person has fewer than ``k`` positive
    contributions. Each distinct (feature, value) pair is rendered once, so this stays cheap at 1M people.
    """
    people, k = indices.shape
    flat_index = indices.ravel()
    rows = np.repeat(np.arange(people), k)
    present = flat_index >= 0
    values = np.full(flat_index.size, np.nan)
    values[present] = x[rows[present], flat_index[present]]
    frame = pd.DataFrame({"feature": flat_index, "value": values})
    distinct = frame[present].drop_duplicates()
    texts = [
        dictionary.definition(feature_names[int(f)]).render(float(v))
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
