"""Temporal validation: every candidate on the later test date, overall, frail cohort, subgroups, plots."""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from popheath.modelling import metrics
from popheath.modelling.candidates import LIGHTGBM, LOGISTIC
from popheath.modelling.data import ModelFrame

# Subgroup AUROC intervals are bootstrapped for these models only (the flag rule needs them for the
# deployed model; the logistic baseline is its closest comparator). Others get point estimates.
SUBGROUP_CI_MODELS: tuple[str, ...] = (LIGHTGBM, LOGISTIC)
POPULATIONS: dict[str, str] = {"65plus": "everyone aged 65+", "frail": "frail cohort (cohort.is_frail)"}
AGE_BANDS: tuple[str, ...] = ("65-74", "75-84", "85+")


@dataclass
class Evaluation:
    """All test-date results for one outcome."""

    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    subgroups: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    auroc_by_age_band: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    oracle_coverage: float | None = None

    def flagged(self) -> pd.DataFrame:
        """Subgroup rows flagged as materially worse served or with a calibration slope outside its target."""
        return flagged_rows(self.subgroups)


FLAGS: dict[str, str] = {
    "flag_worse_discrimination": "worse discrimination",
    "flag_miscalibrated": "miscalibrated",
    "flag_slope_outside_target": "slope outside target",
}


def flagged_rows(subgroups: pd.DataFrame) -> pd.DataFrame:
    """The rows of a subgroup table with any flag (see :class:`metrics.FlagRule`)."""
    if subgroups.empty:
        return subgroups
    return subgroups.loc[subgroups[list(FLAGS)].any(axis=1)]


def frail_mask(frame: ModelFrame) -> np.ndarray:
    """Who is in the frail cohort (``cohort.is_frail``: HFRS band, care home or long-term social care)."""
    return frame.groups["is_frail"].fillna(False).to_numpy(dtype=bool)


def data_fingerprint(frame: ModelFrame, outcome: str) -> str:
    """SHA-256 over the test people and their outcomes: models compared on the same data share it."""
    digest = hashlib.sha256()
    digest.update(str(frame.as_of).encode())
    digest.update("\n".join(frame.person_key.tolist()).encode())
    digest.update(np.ascontiguousarray(frame.outcomes[outcome], dtype=np.int8).tobytes())
    return digest.hexdigest()


def evaluate(
    test: ModelFrame,
    outcome: str,
    predictions: Mapping[str, np.ndarray],
    *,
    samples: int,
    seed: int,
    rule: metrics.FlagRule,
) -> Evaluation:
    """Metrics for each model on the 65+ and the frail cohort; oracle rows only where the truth is known."""
    y_all = test.outcomes[outcome]
    frail = frail_mask(test)
    result = Evaluation()
    subgroup_frames: list[pd.DataFrame] = []
    calibration_frames: list[pd.DataFrame] = []
    for population, in_population in (("65plus", np.ones(y_all.size, dtype=bool)), ("frail", frail)):
        result.metrics[population] = {}
        result.auroc_by_age_band[population] = {}
        for model, p_all in predictions.items():
            mask = in_population & np.isfinite(p_all)
            if model == "oracle" and population == "65plus":
                result.oracle_coverage = float(mask.sum() / max(in_population.sum(), 1))
            if mask.sum() == 0:
                continue
            y, p = y_all[mask], p_all[mask]
            groups = test.groups.loc[mask].reset_index(drop=True)
            overall = metrics.evaluate(y, p, samples=samples, seed=seed)
            overall["coverage"] = float(mask.sum() / max(in_population.sum(), 1))
            overall["calibration_slope_in_target"] = rule.slope_in_target(overall["calibration_slope"])
            result.metrics[population][model] = overall
            table = metrics.subgroup_table(
                y,
                p,
                groups,
                overall_auroc=overall["auroc"],
                rule=rule,
                samples=samples if model in SUBGROUP_CI_MODELS else 0,
                seed=seed,
            )
            if not table.empty:
                table.insert(0, "model", model)
                table.insert(0, "population", population)
                subgroup_frames.append(table)
                bands = table.loc[table["dimension"] == "age_band"].set_index("level")
                result.auroc_by_age_band[population][model] = {
                    band: float(bands.at[band, "auroc"]) if band in bands.index else math.nan for band in AGE_BANDS
                }
            if 0 < y.sum() < y.size:
                calibration = metrics.calibration_table(y, p)
                calibration.insert(0, "model", model)
                calibration.insert(0, "population", population)
                calibration_frames.append(calibration)
    result.subgroups = pd.concat(subgroup_frames, ignore_index=True) if subgroup_frames else pd.DataFrame()
    result.calibration = pd.concat(calibration_frames, ignore_index=True) if calibration_frames else pd.DataFrame()
    return result


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def calibration_plot(calibration: pd.DataFrame, title: str) -> bytes:
    """Observed against predicted risk by decile, one panel per population, one line per model (PNG)."""
    from matplotlib.figure import Figure

    populations = [p for p in POPULATIONS if not calibration.empty and (calibration["population"] == p).any()]
    figure = Figure(figsize=(5.2 * max(len(populations), 1), 4.8))
    axes = figure.subplots(1, max(len(populations), 1), squeeze=False)[0]
    for axis, population in zip(axes, populations, strict=False):
        part = calibration.loc[calibration["population"] == population]
        top = float(max(part["mean_predicted"].max(), part["observed_rate"].max(), 1e-3)) * 1.05
        axis.plot([0, top], [0, top], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
        for model, rows in part.groupby("model", sort=False):
            axis.plot(rows["mean_predicted"], rows["observed_rate"], marker="o", markersize=3, label=str(model))
        axis.set_title(f"{title}: {POPULATIONS[population]}", fontsize=9)
        axis.set_xlabel("mean predicted risk (decile)")
        axis.set_ylabel("observed rate")
        axis.set_xlim(0, top)
        axis.set_ylim(0, top)
        axis.legend(fontsize=7)
    return _png(figure)


def importance_plot(importance: Mapping[str, float], title: str, top: int = 15) -> bytes:
    """Mean |SHAP| per feature (PNG)."""
    from matplotlib.figure import Figure

    items = list(importance.items())[:top][::-1]
    figure = Figure(figsize=(6.5, 0.3 * len(items) + 1.2))
    axis = figure.subplots()
    axis.barh([name for name, _ in items], [value for _, value in items], color="#4472c4")
    axis.set_xlabel("mean |SHAP contribution| (log-odds)")
    axis.set_title(title, fontsize=9)
    return _png(figure)
