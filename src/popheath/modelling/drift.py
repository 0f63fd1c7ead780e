"""Population stability index (PSI) of features and scores against the training distribution.

PSI = sum over bins of (a - e) * ln(a / e), with e the training share and a the current share
of a bin; shares are floored at 1e-4 so empty bins stay finite. Common reading (Siddiqi 2006,
"Credit Risk Scorecards"): < 0.1 stable, 0.1-0.2 some shift, > 0.2 material shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_FLOOR = 1e-4


@dataclass(frozen=True)
class Bins:
    """Training reference for one variable: inner edges (deciles) and the share in each bin plus NULLs."""

    edges: list[float]
    shares: list[float]
    null_share: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"edges": self.edges, "shares": self.shares, "null_share": self.null_share}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bins:
        """Rebuild from :meth:`to_dict`."""
        return cls(list(data["edges"]), list(data["shares"]), float(data["null_share"]))


def _shares(values: np.ndarray, edges: Sequence[float] | np.ndarray) -> tuple[np.ndarray, float]:
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    present = values[~missing]
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=float), present, side="right"), minlength=len(edges) + 1
    )
    total = max(values.size, 1)
    return counts / total, float(missing.sum() / total)


def reference_bins(values: np.ndarray, quantiles: int = 10) -> Bins:
    """Decile bins of the training values (distinct edges only, so a 0/1 feature gets two bins)."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    if present.size:
        edges = np.unique(np.quantile(present, np.linspace(0, 1, quantiles + 1)[1:-1], method="inverted_cdf"))
    else:
        edges = np.array([])
    shares, null_share = _shares(values, edges)
    return Bins(edges.tolist(), shares.tolist(), null_share)


def psi(reference: Bins, values: np.ndarray) -> float:
    """PSI of ``values`` against the training bins (NULL is its own bin)."""
    actual, actual_null = _shares(values, reference.edges)
    expected = np.append(np.asarray(reference.shares, dtype=float), reference.null_share)
    actual = np.append(actual, actual_null)
    keep = (expected > 0) | (actual > 0)
    e = np.clip(expected[keep], _FLOOR, None)
    a = np.clip(actual[keep], _FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))
