"""Small numeric helpers the generator draws with: the logistic, weighted and uniform categories, a uniform day."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def choose(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row, with probability proportional to the row's weights."""
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(weights.shape[0]) * cumulative[:, -1]
    return np.asarray((cumulative < draw[:, None]).sum(axis=1), dtype=np.int16).clip(0, weights.shape[1] - 1)


def uniform_days(rng: np.random.Generator, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """A uniform day in [start, stop) per row (start when the interval is empty)."""
    return (start + np.floor(rng.random(start.shape[0]) * np.maximum(stop - start, 0))).astype(np.int32)


def pick(rng: np.random.Generator, options: tuple[str, ...], size: int) -> np.ndarray:
    """``size`` values drawn uniformly from ``options``."""
    return np.asarray(options)[rng.integers(0, len(options), size)]


def weighted(rng: np.random.Generator, table: tuple[tuple[str, float], ...], size: int) -> np.ndarray:
    """``size`` values drawn from ``table`` (value, weight) with probability proportional to the weight."""
    values = np.array([v for v, _ in table])
    weights = np.array([w for _, w in table])
    return values[rng.choice(values.size, size=size, p=weights / weights.sum())]
