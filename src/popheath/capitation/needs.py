"""Needs index, weighted population and fair shares per practice and PCN (PBRA style), with prediction intervals.

Method: person-based resource allocation (PBRA; Dixon J, Smith P, Gravelle H et al. A person based
formula for allocating commissioning funds to general practices in England: development of a
statistical model. BMJ 2011;343:d6608; NHS England, *Technical Guide to the formulae for CCG / ICB
allocations*, the core services "need" component). Each person's expected cost comes from a
person-level model of need; a practice's weighted population is its people weighted by expected
cost relative to the ICS average, and its fair share (target) is the ICS's actual spend shared in
proportion to weighted population.

- Expected cost per person-year, from the risk-adjusted prospective model when it ran (trained on
  the previous year, features at this year's start) and rescaled so the ICS total equals this
  year's actual spend: PBRA uses a model only for relative need. People without a prediction (no
  features row), and everyone when the model did not run, get age-sex-need cost weights: the
  exposure-weighted mean annualised cost of their 5-year age band x sex x segment cell this year.
  ``weights_from`` in each table says which was used.
- ``weighted_population`` = sum(person-years x expected) / ICS mean cost per person-year (it adds up
  to the ICS's person-years); ``needs_index`` = weighted_population / person_years (1 = ICS average).
- ``fair_share`` = ICS actual total x weighted_population / ICS weighted population.
- ``distance_from_target`` = (actual - fair_share) / fair_share (positive: spends above its share);
  ``within_10pct`` when its absolute value is at most 0.10. The fair share is the rescaled
  prediction, so "within 10% of fair share" and "within 10% of prediction" are the same test.
- Prediction interval of mean cost per person-year (model-based): expected mean sum(w mu) / W plus
  or minus 1.96 standard errors, with var(mean) = sum(w_i v_i) / W^2 and v_i the variance of one
  person-year's cost: phi x mu_i^1.5 from the Tweedie model (phi estimated on the training year,
  :func:`popheath.capitation.prospective.tweedie_dispersion`) or, with cell weights, the cell's
  exposure-weighted variance of annualised cost. Normal approximation (sums over many people),
  floored at zero. It covers random variation between people only, not the model's own error or a
  cost shock between years, so more PCNs fall outside it than 5% when the model is off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from popheath.capitation import disclosure
from popheath.capitation.prospective import TWEEDIE_POWER, ProspectiveResult, age_band_5y
from popheath.config import CapitationSettings

ALL = disclosure.ALL
DIMS = ("pcn_code", "practice_code")
Z_95 = 1.959964
WITHIN = 0.10


def cell_weights(population: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Age-sex-need cost weights: each person's cell mean annualised cost and cell variance per person-year.

    Cells are 5-year age band x sex x segment of this year. The variance is ``mean(w (y - mean)^2)``
    over the cell's people, the per-person-year variance when a person's variance is ``v / w``.
    """
    annualised = population["cost_total"] / population["person_years"]
    cells = pd.MultiIndex.from_arrays(
        [age_band_5y(population["age"]), population["sex"].astype(str), population["segment"].astype(str)]
    )
    frame = pd.DataFrame({"w": population["person_years"], "c": population["cost_total"]}).set_axis(cells)
    sums = frame.groupby(level=[0, 1, 2]).sum()
    mean = (sums["c"] / sums["w"]).reindex(cells).to_numpy()
    squared = pd.Series(population["person_years"].to_numpy() * (annualised.to_numpy() - mean) ** 2, index=cells)
    variance = squared.groupby(level=[0, 1, 2]).mean().reindex(cells).to_numpy()
    return pd.Series(mean, index=population.index), pd.Series(variance, index=population.index)


def _people_text(count: int, settings: CapitationSettings) -> str:
    """A head count for free text, under the same rules as the tables: rounded, never under the threshold."""
    if count == 0:
        return "no people"
    if count < settings.suppress_below:
        return f"fewer than {settings.suppress_below} people"
    return f"{int(disclosure.round_to(pd.Series([count]), settings.round_to).iloc[0])} people"


def person_need(
    population: pd.DataFrame,
    model: ProspectiveResult | None,
    year_label: str,
    previous_label: str,
    settings: CapitationSettings,
) -> tuple[pd.DataFrame, str]:
    """Expected cost and its variance per person-year for everyone, rescaled to the year's spend; and the source."""
    expected, variance = cell_weights(population)
    source = f"age-sex-need cost weights (5-year age band x sex x segment, {year_label})"
    if model is not None:
        predicted = population["person_key"].map(model.predictions.set_index("person_key")["pred_risk_adjusted"])
        has = predicted.notna().to_numpy()
        weight, cost = population["person_years"].to_numpy(), population["cost_total"].to_numpy()
        scale = cost[has].sum() / max(float((weight[has] * predicted[has]).sum()), 1e-9)
        mu = scale * predicted.to_numpy(dtype=float)
        expected = expected.where(~has, mu)
        variance = variance.where(~has, model.dispersion * np.maximum(mu, 0) ** TWEEDIE_POWER)
        source = (
            f"risk-adjusted prospective model (LightGBM Tweedie trained on {previous_label}), rescaled to "
            f"{year_label} spend; {_people_text(int((~has).sum()), settings)} without features on age-sex-need "
            "cost weights"
        )
    frame = population[["pcn_code", "practice_code", "person_years", "cost_total"]].copy()
    total = float(frame["cost_total"].sum())
    fitted = float((frame["person_years"] * expected).sum())
    factor = total / fitted if fitted > 0 else 1.0  # exact ICS total (the two sources' scales differ slightly)
    frame["expected"] = expected * factor
    frame["variance"] = variance * factor**TWEEDIE_POWER
    return frame, source


def _summaries(need: pd.DataFrame, dominance_n: int) -> pd.DataFrame:
    """People, person-years, actual and expected cost and variance by practice, by PCN and for the ICS."""
    frame = need.assign(
        _expected_cost=need["person_years"] * need["expected"], _variance=need["person_years"] * need["variance"]
    )
    parts = []
    for keep in (DIMS, DIMS[:1], ()):
        grouped = frame.groupby(list(keep), observed=True) if keep else frame.groupby(lambda _: ALL)
        stats = grouped.agg(
            people=("person_years", "size"),
            person_years=("person_years", "sum"),
            actual_cost=("cost_total", "sum"),
            fair_share=("_expected_cost", "sum"),
            _variance=("_variance", "sum"),
        )
        stats[disclosure.DOMINANCE] = disclosure.dominance_share(frame, keep, "cost_total", dominance_n).reindex(
            stats.index
        )
        stats = stats.reset_index() if keep else stats.reset_index(drop=True)
        for dim in DIMS:
            if dim not in keep:
                stats[dim] = ALL
        parts.append(stats)
    return pd.concat(parts, ignore_index=True)


def fair_share_table(need: pd.DataFrame, source: str, settings: CapitationSettings) -> pd.DataFrame:
    """The protected practice x PCN x ICS table of weighted population, fair share and prediction intervals."""
    stats = _summaries(need, settings.dominance_n)
    ics = stats[(stats[list(DIMS)] == ALL).all(axis=1)].iloc[0]
    mean = ics["actual_cost"] / ics["person_years"]
    stats["weighted_population"] = stats["fair_share"] / mean
    stats["needs_index"] = stats["weighted_population"] / stats["person_years"]
    stats["actual_per_person_year"] = stats["actual_cost"] / stats["person_years"]
    stats["expected_per_person_year"] = stats["fair_share"] / stats["person_years"]
    error = np.sqrt(stats.pop("_variance")) / stats["person_years"]
    stats["prediction_low"] = (stats["expected_per_person_year"] - Z_95 * error).clip(lower=0)
    stats["prediction_high"] = stats["expected_per_person_year"] + Z_95 * error
    stats["distance_from_target"] = (stats["actual_cost"] - stats["fair_share"]) / stats["fair_share"].where(
        stats["fair_share"] > 0
    )
    columns = [*DIMS, "people", "person_years", "weighted_population", "needs_index", "actual_cost", "fair_share"]
    columns += ["distance_from_target", "actual_per_person_year", "expected_per_person_year"]
    columns += ["prediction_low", "prediction_high", disclosure.DOMINANCE]
    protected = disclosure.protect(
        stats[columns], DIMS, settings.suppress_below, settings.round_to, dominance_k=settings.dominance_k
    )
    for column in ("weighted_population", "needs_index", "distance_from_target"):
        protected[column] = stats[column].where(protected[disclosure.STATUS] == disclosure.NONE)
    protected["weighted_population"] = protected["weighted_population"].round(1)
    protected[["needs_index", "distance_from_target"]] = protected[["needs_index", "distance_from_target"]].round(4)
    inside = protected["actual_per_person_year"].between(protected["prediction_low"], protected["prediction_high"])
    protected["actual_within_interval"] = inside.astype("boolean").where(protected["prediction_low"].notna())
    within = protected["distance_from_target"].abs() <= WITHIN
    protected["within_10pct"] = within.astype("boolean").where(protected["distance_from_target"].notna())
    protected["weights_from"] = source
    return _practice_shares(protected)


def _practice_shares(table: pd.DataFrame) -> pd.DataFrame:
    """PCN and ICS rows: practices, and the share of their published practices within 10% of fair share.

    Only practices whose row is published count, so the share says nothing about a hidden practice.
    """
    practices = table[table["practice_code"] != ALL]
    shown = practices[practices[disclosure.STATUS] == disclosure.NONE]
    table = table.copy()
    totals = table["practice_code"] == ALL
    by_pcn = practices.groupby("pcn_code").size()
    table["practices"] = pd.array(
        np.where(totals, table["pcn_code"].map(by_pcn).fillna(len(practices)), np.nan), dtype="Int64"
    )
    table.loc[totals & (table["pcn_code"] == ALL), "practices"] = len(practices)
    share = shown.groupby("pcn_code")["within_10pct"].mean()
    share_all = shown["within_10pct"].mean() if len(shown) else np.nan
    pcn_rows = totals & (table["pcn_code"] != ALL)
    table["share_practices_within_10pct"] = np.nan
    table.loc[pcn_rows, "share_practices_within_10pct"] = table.loc[pcn_rows, "pcn_code"].map(share).astype(float)
    table.loc[totals & ~pcn_rows, "share_practices_within_10pct"] = share_all
    hidden = table[disclosure.STATUS] != disclosure.NONE
    table.loc[hidden, "share_practices_within_10pct"] = np.nan
    table["share_practices_within_10pct"] = table["share_practices_within_10pct"].astype(float).round(3)
    return table


def split(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The published ``needs_index_practice`` (one row per practice) and ``needs_index_pcn`` (PCNs and ICS)."""
    practice = table[table["practice_code"] != ALL].drop(columns=["practices", "share_practices_within_10pct"])
    pcn = table[table["practice_code"] == ALL].drop(columns=["practice_code", "within_10pct"])
    practice = practice.sort_values(list(DIMS), kind="stable", ignore_index=True)
    pcn = pcn.assign(_all=(pcn["pcn_code"] == ALL)).sort_values(["_all", "pcn_code"], kind="stable")
    return {"needs_index_practice": practice, "needs_index_pcn": pcn.drop(columns="_all").reset_index(drop=True)}
