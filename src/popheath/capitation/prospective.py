"""Risk-adjusted prospective cost model: features at a year start -> cost over that year.

Trained on one financial year (features at its 1 April, cost over the year) and evaluated on the
next, never on overlapping outcome windows. The target is annualised cost (cost / person-years)
with person-years as the sample weight, the usual treatment of exposure for rates.

- ``risk_adjusted``: LightGBM with a Tweedie objective (variance power 1.5: a point mass at zero
  and a right-skewed positive part, as for annual health-care costs), on age, sex and every
  numeric feature.
- ``age_sex``: the exposure-weighted mean annualised cost of the training year's 5-year age band x
  sex cell (the capitation formula's demographic core).

Metrics on the evaluation year: R-squared and mean absolute error at person level (weighted by
person-years) and at practice level (cost per person-year of each practice, weighted by its
person-years), predictive ratios (predicted / actual cost) by segment, and predicted vs actual
by decile of predicted cost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

MODELS = ("risk_adjusted", "age_sex")
ID_COLUMNS = {"as_of", "person_key"}
TWEEDIE_POWER = 1.5


@dataclass(frozen=True)
class ProspectiveResult:
    """Evaluation-year predictions (person level, internal) and the publishable summaries."""

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    predictive_ratios: pd.DataFrame
    deciles: pd.DataFrame
    feature_importance: pd.DataFrame
    dispersion: float = float("nan")


# The columns of the test year a scored person keeps (with the decile and each model's prediction).
SCORED_COLUMNS = ("person_key", "practice_code", "pcn_code", "segment", "person_years", "cost_total")


def age_group(age: pd.Series) -> pd.Series:
    """5-year age groups, 90+ pooled."""
    lower = (age.clip(lower=0, upper=90) // 5 * 5).astype(int)
    return lower.astype(str)


def age_band_5y(age: pd.Series) -> pd.Series:
    """Published 5-year age bands ``0-4`` ... ``85-89``, ``90+`` (``Unknown`` without an age)."""
    known = age.notna()
    lower = age.where(known, 0).clip(lower=0, upper=90) // 5 * 5
    labels = lower.astype(int).map(lambda a: "90+" if a == 90 else f"{a}-{a + 4}")
    return labels.where(known, "Unknown")


AGE_BANDS_5Y = tuple(f"{a}-{a + 4}" for a in range(0, 90, 5)) + ("90+",)


def _design(frame: pd.DataFrame, feature_columns: list[str]) -> pd.DataFrame:
    # float32, as the features are stored (model_frame): the same values and splits as float64 at half
    # the memory (the design of 3.2M people is built twice per run).
    design = frame[feature_columns].astype("float32")
    design["age"] = frame["age"].astype("float32")
    design["sex_female"] = (frame["sex"] == "F").astype("float32")
    return design


def weighted_r2(actual: np.ndarray, predicted: np.ndarray, weight: np.ndarray) -> float:
    """Weighted coefficient of determination 1 - SSE/SST around the weighted mean."""
    mean = np.average(actual, weights=weight)
    total = float(np.sum(weight * (actual - mean) ** 2))
    return float(1 - np.sum(weight * (actual - predicted) ** 2) / total) if total > 0 else float("nan")


def weighted_mae(actual: np.ndarray, predicted: np.ndarray, weight: np.ndarray) -> float:
    """Weighted mean absolute error."""
    return float(np.average(np.abs(actual - predicted), weights=weight))


def fit_age_sex(train: pd.DataFrame) -> pd.Series:
    """Exposure-weighted mean annualised cost per 5-year age group x sex, from the training year."""
    groups = train.assign(age_group=age_group(train["age"]))
    sums = groups.groupby(["age_group", "sex"], observed=True)[["cost_total", "person_years"]].sum()
    return sums["cost_total"] / sums["person_years"]


def predict_age_sex(table: pd.Series, frame: pd.DataFrame, fallback: float) -> np.ndarray:
    """Look up each person's age-sex cell; unseen cells get the overall training mean."""
    index = pd.MultiIndex.from_arrays([age_group(frame["age"]), frame["sex"]])
    return table.reindex(index).fillna(fallback).to_numpy(dtype=float)


def fit_risk_adjusted(train: pd.DataFrame, feature_columns: list[str], seed: int, rounds: int = 300) -> object:
    """LightGBM Tweedie regression on annualised cost, weighted by person-years."""
    import lightgbm  # heavy import kept inside the function

    design = _design(train, feature_columns)
    target = (train["cost_total"] / train["person_years"]).to_numpy(dtype=float)
    dataset = lightgbm.Dataset(design, label=target, weight=train["person_years"].to_numpy(dtype=float))
    params = {
        "objective": "tweedie",
        "tweedie_variance_power": TWEEDIE_POWER,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1 if len(train) < 100_000 else 2,  # OpenMP threads only pay off on large data
        "verbosity": -1,
    }
    return lightgbm.train(params, dataset, num_boost_round=rounds)


def _practice_metrics(frame: pd.DataFrame, column: str) -> tuple[float, float, int]:
    practice = frame.assign(_predicted_cost=frame[column] * frame["person_years"]).groupby("practice_code")
    sums = practice[["cost_total", "_predicted_cost", "person_years"]].sum()
    sums = sums[sums["person_years"] > 0]
    actual = (sums["cost_total"] / sums["person_years"]).to_numpy()
    predicted = (sums["_predicted_cost"] / sums["person_years"]).to_numpy()
    weight = sums["person_years"].to_numpy()
    return weighted_r2(actual, predicted, weight), weighted_mae(actual, predicted, weight), len(sums)


def tweedie_dispersion(actual: np.ndarray, predicted: np.ndarray, weight: np.ndarray) -> float:
    """Pearson estimate of the Tweedie dispersion: ``sum w (y - mu)^2 / mu^p / (n - 1)``.

    With it the variance of a person's annualised cost is ``phi x mu^p / person-years`` (the Tweedie
    variance function with exposure as the weight; Jorgensen 1997, *The Theory of Dispersion
    Models*), which gives the model-based prediction intervals of :mod:`popheath.capitation.needs`.
    """
    mu = np.maximum(predicted, 1e-9)
    return float(np.sum(weight * (actual - mu) ** 2 / mu**TWEEDIE_POWER) / max(len(actual) - 1, 1))


def risk_decile(frame: pd.DataFrame) -> np.ndarray:
    """Decile (1-10) of each person's risk-adjusted prediction, ties broken by order."""
    return (pd.qcut(frame["pred_risk_adjusted"].rank(method="first"), 10, labels=False) + 1).to_numpy()


def evaluate(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Metrics, predictive ratios by segment and deciles for the ``pred_<model>`` columns of ``frame``.

    ``frame`` carries each person's ``decile`` (:func:`risk_decile`).
    """
    actual = (frame["cost_total"] / frame["person_years"]).to_numpy()
    weight = frame["person_years"].to_numpy()
    rows = []
    for model in MODELS:
        predicted = frame[f"pred_{model}"].to_numpy()
        practice_r2, practice_mae, practices = _practice_metrics(frame, f"pred_{model}")
        rows.append(
            {
                "model": model,
                "people": len(frame),
                "person_years": float(weight.sum()),
                "person_r2": weighted_r2(actual, predicted, weight),
                "person_mae": weighted_mae(actual, predicted, weight),
                "practices": practices,
                "practice_r2": practice_r2,
                "practice_mae": practice_mae,
            }
        )
    metrics = pd.DataFrame(rows)
    predicted_cost = {m: frame[f"pred_{m}"] * frame["person_years"] for m in MODELS}
    by_segment = frame.assign(**{f"_pc_{m}": v for m, v in predicted_cost.items()}).groupby("segment", observed=True)
    ratios = by_segment.agg(
        people=("person_years", "size"),
        person_years=("person_years", "sum"),
        actual_cost=("cost_total", "sum"),
        **{f"_pc_{m}": (f"_pc_{m}", "sum") for m in MODELS},
    )
    for model in MODELS:
        ratios[f"predictive_ratio_{model}"] = ratios.pop(f"_pc_{model}") / ratios["actual_cost"]
    ratios["actual_per_person_year"] = ratios.pop("actual_cost") / ratios["person_years"]
    ratios = ratios.reset_index()
    grouped = frame.assign(**{f"_pc_{m}": v for m, v in predicted_cost.items()})
    deciles = grouped.groupby("decile").agg(
        people=("person_years", "size"),
        person_years=("person_years", "sum"),
        actual=("cost_total", "sum"),
        **{f"_pc_{m}": (f"_pc_{m}", "sum") for m in MODELS},
    )
    deciles["actual_per_person_year"] = deciles.pop("actual") / deciles["person_years"]
    for model in MODELS:
        deciles[f"predicted_{model}"] = deciles.pop(f"_pc_{model}") / deciles["person_years"]
    return metrics, ratios, deciles.reset_index()


def run_prospective(
    train: pd.DataFrame,
    test: pd.DataFrame,
    feature_columns: list[str],
    seed: int,
    rounds: int = 300,
    max_train_people: int | None = None,
) -> ProspectiveResult:
    """Fit both models on ``train`` and evaluate them on ``test`` (later year).

    With ``max_train_people`` the risk-adjusted model trains on a seeded random sample of that many
    people (gradient boosting gains little beyond a few hundred thousand rows and it bounds the run
    time at 1M people); the age-sex model and every metric use everyone.
    """
    sample = train
    if max_train_people is not None and len(train) > max_train_people:
        sample = train.sample(n=max_train_people, random_state=seed)
    model = fit_risk_adjusted(sample, feature_columns, seed, rounds)
    age_sex = fit_age_sex(train)
    overall = float(train["cost_total"].sum() / train["person_years"].sum())
    # Only what the evaluation and the outputs read, not every feature (it is copied again below).
    scored = test[[c for c in SCORED_COLUMNS if c in test.columns]].copy()
    scored["pred_risk_adjusted"] = model.predict(_design(test, feature_columns))  # type: ignore[attr-defined]
    scored["pred_age_sex"] = predict_age_sex(age_sex, test, overall)
    # Dispersion from the training year, so the intervals never see the outcomes they bracket.
    fitted = model.predict(_design(train, feature_columns))  # type: ignore[attr-defined]
    dispersion = tweedie_dispersion(
        (train["cost_total"] / train["person_years"]).to_numpy(dtype=float),
        np.asarray(fitted, dtype=float),
        train["person_years"].to_numpy(dtype=float),
    )
    scored["decile"] = risk_decile(scored)
    metrics, ratios, deciles = evaluate(scored)
    importance = pd.DataFrame(
        {
            "feature": model.feature_name(),  # type: ignore[attr-defined]
            "gain": model.feature_importance(importance_type="gain"),  # type: ignore[attr-defined]
        }
    ).sort_values("gain", ascending=False, ignore_index=True)
    importance["share_of_gain"] = importance["gain"] / max(float(importance["gain"].sum()), 1e-12)
    keep = [*SCORED_COLUMNS, "decile", *(f"pred_{m}" for m in MODELS)]
    return ProspectiveResult(
        scored[[c for c in keep if c in scored.columns]],
        metrics,
        ratios,
        deciles,
        importance[["feature", "share_of_gain"]],
        dispersion,
    )
