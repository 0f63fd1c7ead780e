"""Baselines: cost per person-year by cell, with exposure, outlier capping and bootstrap intervals.

The mean for a cell is the exposure-weighted ratio ``sum(cost) / sum(person-years)``, so a
person registered for half the year counts as half a person-year. Medians and 95th percentiles
are of the annualised cost ``cost / person-years``.

Bootstrap: the Poisson bootstrap (each person's weight in a replicate is Poisson(1), Hanley and
MacGibbon 2006; Chamandy et al. 2012), which approximates the multinomial bootstrap and lets every
replicate be computed at once. Weights are drawn (by inverse CDF from 16-bit uniforms, see
:func:`_poisson_lookup`) once per person and replicate, in chunks of replicates, summed within the
finest cells (segment x age band x sex x place x tier x frailty, and any further published
dimension such as the 5-year age band) with ``numpy.add.reduceat`` and then added up to every
published cell, so the whole population is resampled together, seeded, with no Python loop over
cells or people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from popheath.capitation.disclosure import DOMINANCE, dominance_share

ALL = "All"
FINEST_DIMS = ("segment", "age_band", "sex", "place", "tier", "is_frail")
SETTINGS_COLUMNS = {"acute": "cost_acute", "community": "cost_community", "social_care": "cost_social_care"}
DRAWS_PER_CHUNK = 16
CHUNK_WEIGHTS = 16 * 2**20


def _poisson_lookup(bits: int = 16) -> np.ndarray:
    """Inverse-CDF table of Poisson(1) for ``2**bits`` equally likely 16-bit uniforms.

    Drawing uint16 integers and looking them up is several times faster than ``Generator.poisson``;
    each probability is exact to within ``2**-bits``.
    """
    size = 2**bits
    ks = np.arange(20)
    pmf = np.exp(-1.0) / np.cumprod(np.r_[1.0, ks[1:]])
    cdf = np.cumsum(pmf)
    return np.searchsorted(cdf, (np.arange(size) + 0.5) / size).astype(np.float64)


POISSON_1 = _poisson_lookup()


@dataclass(frozen=True)
class BootstrapSums:
    """Per finest cell and replicate: bootstrap sums of cost, capped cost and person-years."""

    cells: pd.DataFrame
    cost: np.ndarray
    cost_capped: np.ndarray
    exposure: np.ndarray


def cap_costs(population: pd.DataFrame, percentile: float) -> tuple[pd.Series, float]:
    """Cap each person's annualised cost at the population ``percentile``; returns capped cost and the cap.

    The cap applies to the annualised cost, so a part-year person's cost is capped at
    ``cap x person-years``.
    """
    annualised = population["cost_total"] / population["person_years"]
    cap = float(np.percentile(annualised, percentile)) if len(population) else 0.0
    capped = np.minimum(population["cost_total"], cap * population["person_years"])
    return pd.Series(capped, index=population.index, name="cost_capped"), cap


def finest_codes(population: pd.DataFrame, dims: Sequence[str] = FINEST_DIMS) -> tuple[np.ndarray, pd.DataFrame]:
    """A code per person for its finest cell, and the table of finest cells (one row per code).

    ``dims`` must include every dimension a published table is cut by (the defaults, plus e.g. the
    5-year age band), since each published cell is a sum of finest cells.
    """
    keys = population[list(dims)].astype(str)
    codes, cells = pd.MultiIndex.from_frame(keys).factorize()
    table = pd.DataFrame(list(cells), columns=list(dims), dtype=str)
    return np.asarray(codes, dtype=np.int64), table


def bootstrap_sums(
    codes: np.ndarray,
    cells: pd.DataFrame,
    cost: np.ndarray,
    cost_capped: np.ndarray,
    exposure: np.ndarray,
    samples: int,
    seed: int,
) -> BootstrapSums:
    """Poisson-bootstrap sums within each finest cell, vectorised over people and replicates."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    n_cells = len(cells)
    out_cost = np.zeros((n_cells, samples))
    out_capped = np.zeros((n_cells, samples))
    out_exposure = np.zeros((n_cells, samples))
    if len(codes) == 0 or samples == 0:
        return BootstrapSums(cells, out_cost, out_capped, out_exposure)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    present = sorted_codes[starts]
    values = np.column_stack([cost[order], cost_capped[order], exposure[order]]).astype(np.float64)
    rng = np.random.default_rng(seed)
    # Replicates per pass: DRAWS_PER_CHUNK up to 1M people, fewer above, so that a pass's weights stay
    # within CHUNK_WEIGHTS numbers (128 MB) whatever the population.
    per_chunk = max(1, min(DRAWS_PER_CHUNK, CHUNK_WEIGHTS // len(codes)))
    for first in range(0, samples, per_chunk):
        draws = min(per_chunk, samples - first)
        weights = POISSON_1[rng.integers(0, len(POISSON_1), size=(len(codes), draws), dtype=np.uint16)]
        for target, column in ((out_cost, 0), (out_capped, 1), (out_exposure, 2)):
            target[present, first : first + draws] = np.add.reduceat(weights * values[:, column, None], starts, axis=0)
    return BootstrapSums(cells, out_cost, out_capped, out_exposure)


def _ratio_interval(numerator: np.ndarray, denominator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(denominator > 0, numerator / denominator, np.nan)
    if ratio.shape[1] == 0:
        empty = np.full(ratio.shape[0], np.nan)
        return empty, empty
    low, high = np.nanpercentile(ratio, [2.5, 97.5], axis=1) if np.isfinite(ratio).any() else (ratio[:, 0],) * 2
    return low, high


def patterns(dims: Sequence[str], margins: bool) -> list[tuple[str, ...]]:
    """The dimension sets to publish: the full table, then (with margins) each dimension and the total."""
    result = [tuple(dims)]
    if margins and len(dims) > 1:
        result += [(dim,) for dim in dims]
    if margins:
        result.append(())
    return result


def summarise(
    population: pd.DataFrame,
    boot: BootstrapSums,
    codes: np.ndarray,
    dims: Sequence[str],
    *,
    margins: bool = True,
    subset: np.ndarray | None = None,
    dominance_n: int | None = None,
) -> pd.DataFrame:
    """Cost per person-year by ``dims`` (plus margins marked ``All``) with median, p95 and 95% CIs.

    ``subset`` (boolean per person) restricts the table, e.g. to the frail cohort; the bootstrap
    sums are reused, restricted to the finest cells inside the subset (``is_frail`` is a finest dim).
    With ``dominance_n`` a ``_dominance_share`` column holds the share of each cell's cost held by
    its ``dominance_n`` costliest people, for the dominance rule of
    :func:`popheath.capitation.disclosure.protect` (internal: ``protect`` drops it).
    """
    frame = population if subset is None else population[subset]
    frame_codes = codes if subset is None else codes[subset]
    cell_in_subset = np.zeros(len(boot.cells), dtype=bool)
    cell_in_subset[np.unique(frame_codes)] = True
    annualised = frame["cost_total"] / frame["person_years"]
    frame = frame.assign(_annualised=annualised.to_numpy())
    tables = []
    for keep in patterns(dims, margins):
        grouped = frame.groupby(list(keep), observed=True, sort=True) if keep else frame.groupby(lambda _: ALL)
        stats = grouped.agg(
            people=("person_years", "size"),
            person_years=("person_years", "sum"),
            total_cost=("cost_total", "sum"),
            total_cost_capped=("cost_capped", "sum"),
            median_cost=("_annualised", "median"),
            **{f"total_{name}": (column, "sum") for name, column in SETTINGS_COLUMNS.items()},
        )
        stats["p95_cost"] = grouped["_annualised"].quantile(0.95)
        if dominance_n is not None:
            stats[DOMINANCE] = dominance_share(frame, keep, "cost_total", dominance_n).reindex(stats.index)
        stats = stats.reset_index()
        if not keep:
            stats = stats.drop(columns=stats.columns[0])
        # Bootstrap: add the finest cells' replicate sums up to this pattern's cells.
        cells = boot.cells[cell_in_subset]
        cell_rows = np.flatnonzero(cell_in_subset)
        if keep:
            key_index = pd.MultiIndex.from_frame(stats[list(keep)].astype(str))
            target = key_index.get_indexer(pd.MultiIndex.from_frame(cells[list(keep)].astype(str)))
        else:
            target = np.zeros(len(cells), dtype=np.int64)
        sums = {}
        for name, source in (("cost", boot.cost), ("capped", boot.cost_capped), ("exposure", boot.exposure)):
            total = np.zeros((len(stats), source.shape[1]))
            np.add.at(total, target, source[cell_rows])
            sums[name] = total
        stats["mean_cost"] = stats["total_cost"] / stats["person_years"]
        stats["ci_low"], stats["ci_high"] = _ratio_interval(sums["cost"], sums["exposure"])
        stats["mean_cost_capped"] = stats["total_cost_capped"] / stats["person_years"]
        stats["ci_low_capped"], stats["ci_high_capped"] = _ratio_interval(sums["capped"], sums["exposure"])
        for name in SETTINGS_COLUMNS:
            stats[f"mean_{name}"] = stats.pop(f"total_{name}") / stats["person_years"]
        for dim in dims:
            if dim not in keep:
                stats[dim] = ALL
        tables.append(stats)
    result = pd.concat(tables, ignore_index=True)
    for dim in dims:
        result[dim] = result[dim].astype(str)
    columns = [
        *dims,
        "people",
        "person_years",
        "mean_cost",
        "ci_low",
        "ci_high",
        "median_cost",
        "p95_cost",
        "mean_cost_capped",
        "ci_low_capped",
        "ci_high_capped",
        *(f"mean_{name}" for name in SETTINGS_COLUMNS),
    ]
    return result[columns + [DOMINANCE] * (DOMINANCE in result.columns)]


def lorenz_curve(costs: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray, float]:
    """Concentration curve of cost: cumulative share of people (lowest cost first) vs share of cost; and Gini."""
    ordered = np.sort(np.asarray(costs, dtype=float))
    if len(ordered) == 0 or ordered.sum() <= 0:
        grid = np.linspace(0, 1, points)
        return grid, grid, 0.0
    cumulative = np.r_[0.0, np.cumsum(ordered)] / ordered.sum()
    people = np.linspace(0, 1, len(cumulative))
    grid = np.linspace(0, 1, points)
    share = np.interp(grid, people, cumulative)
    gini = float(1 - 2 * np.trapezoid(cumulative, people))
    return grid, share, gini


def top_share(costs: np.ndarray, fraction: float) -> float:
    """Share of total cost incurred by the costliest ``fraction`` of people."""
    ordered = np.sort(np.asarray(costs, dtype=float))[::-1]
    total = ordered.sum()
    if total <= 0:
        return 0.0
    return float(ordered[: max(1, int(round(fraction * len(ordered))))].sum() / total)
