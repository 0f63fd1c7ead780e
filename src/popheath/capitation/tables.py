"""From the planning population (person level, in memory) to the published, disclosure-controlled tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from popheath.capitation import baselines, costing_qa, disclosure
from popheath.capitation.prospective import ProspectiveResult, age_group
from popheath.config import CapitationSettings

log = logging.getLogger(__name__)

MAIN_DIMS = ("segment", "age_band", "sex", "place")
TIER_DIMS = ("tier",)
YOC_DIMS = ("segment", "tier")

TABLE_NOTES = {
    "baseline_segment_age_sex_place": (
        "Cost per person-year (exposure-adjusted) by population segment x age band x sex x place, with "
        "'All' rows for each single dimension and the overall total. mean_cost = total cost / person-years; "
        "ci_low/ci_high = Poisson bootstrap 95% interval of the mean; median_cost and p95_cost are of "
        "annualised cost per person; *_capped = with each person's annualised cost capped at the "
        "outlier percentile; mean_acute/community/social_care split the mean by setting."
    ),
    "baseline_tier": "Cost per person-year by risk tier at the start of the year (same columns).",
    "year_of_care_budget": (
        "Headline Year of Care table: frail cohort at the start of the year by need level (segment x risk "
        "tier). budget_per_person_year is the uncapped mean (all cost, for a fully capitated budget) with its "
        "95% interval; the capped columns suit a budget paired with a separate high-cost risk pool."
    ),
    "prospective_model_metrics": (
        "Risk-adjusted (LightGBM Tweedie on start-of-year features) vs age-sex-only model, trained on the "
        "previous year and evaluated on this year: R-squared and mean absolute error of cost per person-year "
        "at person and practice level."
    ),
    "predictive_ratios_by_segment": "Predicted / actual cost by segment in the evaluation year (1 = unbiased).",
    "predicted_vs_actual_deciles": "Cost per person-year by decile of the risk-adjusted prediction.",
    "population_accounting": "Who is in the planning population and who is excluded, and why.",
    "boundary_activity": (
        "Activity reported separately: out-of-area people, records not linked to a person, providers outside "
        "the partnership (included in the baselines or not by configuration) and activity outside a person's "
        "registration window."
    ),
    "costing_coverage": "Activity records costed and not costed by source (records rounded).",
}


# Display order: DESIGN.md section 6 tiers (highest need first), the cohort age bands, totals last.
DIM_ORDER = {
    "tier": ("very_high", "high", "moderate", "low", "not_scored"),
    "age_band": ("0-17", "18-64", "65-74", "75-84", "85+", "Unknown"),
    "sex": ("F", "M", "U"),
}


def ordered(table: pd.DataFrame, dims: tuple[str, ...]) -> pd.DataFrame:
    """Rows in reading order: each dimension in its natural order, ``All`` after its values."""
    keys = {}
    for dim in dims:
        order = DIM_ORDER.get(dim, ())
        values = table[dim].astype(str)
        rank = values.map(lambda v, o=order: o.index(v) if v in o else len(o))
        keys[f"_all_{dim}"] = (values == "All").astype(int)
        keys[f"_rank_{dim}"] = rank
        keys[f"_value_{dim}"] = values
    sort_columns = [f"_{kind}_{dim}" for dim in dims for kind in ("all", "rank", "value")]
    return table.assign(**keys).sort_values(sort_columns, kind="stable").drop(columns=list(keys)).reset_index(drop=True)


@dataclass
class PublishedTables:
    """Every published table (suppressed and rounded) plus the aggregates the plots need."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    pyramid: pd.DataFrame = field(default_factory=pd.DataFrame)
    age_segment: pd.DataFrame = field(default_factory=pd.DataFrame)
    lorenz: tuple[np.ndarray, np.ndarray, float] = (np.zeros(0), np.zeros(0), 0.0)
    top5_share: float = 0.0
    cap_value: float = 0.0


def _visible_means(frame: pd.DataFrame, by: list[str], threshold: int) -> pd.DataFrame:
    grouped = frame.groupby(by, observed=True).agg(
        people=("person_years", "size"), person_years=("person_years", "sum"), cost=("cost_total", "sum")
    )
    grouped["mean_cost"] = grouped["cost"] / grouped["person_years"]
    return grouped[grouped["people"] >= threshold].reset_index()[[*by, "mean_cost"]]


def year_of_care(table: pd.DataFrame) -> pd.DataFrame:
    """Rename the frail segment x tier baseline into the budget table's words."""
    renamed = table.rename(
        columns={
            "mean_cost": "budget_per_person_year",
            "ci_low": "budget_ci_low",
            "ci_high": "budget_ci_high",
            "mean_cost_capped": "budget_per_person_year_capped",
            "ci_low_capped": "budget_capped_ci_low",
            "ci_high_capped": "budget_capped_ci_high",
        }
    )
    renamed["annual_budget_total"] = renamed["budget_per_person_year"] * renamed["person_years"]
    return renamed


def baseline_tables(population: pd.DataFrame, settings: CapitationSettings) -> PublishedTables:
    """Baselines by segment x age x sex x place, by tier and the frail Year of Care budget, protected."""
    population = population.reset_index(drop=True)
    capped, cap_value = baselines.cap_costs(population, settings.outlier_cap_percentile)
    population = population.assign(cost_capped=capped.to_numpy())
    codes, cells = baselines.finest_codes(population)
    boot = baselines.bootstrap_sums(
        codes,
        cells,
        population["cost_total"].to_numpy(),
        population["cost_capped"].to_numpy(),
        population["person_years"].to_numpy(),
        settings.bootstrap_samples,
        settings.bootstrap_seed,
    )
    threshold, base = settings.suppress_below, settings.round_to
    result = PublishedTables(cap_value=cap_value)
    main = baselines.summarise(population, boot, codes, MAIN_DIMS)
    result.tables["baseline_segment_age_sex_place"] = ordered(
        disclosure.protect(main, MAIN_DIMS, threshold, base), MAIN_DIMS
    )
    tier = baselines.summarise(population, boot, codes, TIER_DIMS)
    result.tables["baseline_tier"] = ordered(disclosure.protect(tier, TIER_DIMS, threshold, base), TIER_DIMS)
    frail = population["is_frail"].to_numpy(dtype=bool)
    if frail.any():
        yoc = year_of_care(baselines.summarise(population, boot, codes, YOC_DIMS, subset=frail))
        protected = disclosure.protect(yoc, YOC_DIMS, threshold, base)
        protected["annual_budget_total"] = (protected["annual_budget_total"] / 1000).round() * 1000
        result.tables["year_of_care_budget"] = ordered(protected, YOC_DIMS)
    pyramid_frame = population.assign(age_group=age_group(population["age"]))
    result.pyramid = _visible_means(
        pyramid_frame[pyramid_frame["sex"].isin(["M", "F"])], ["age_group", "sex"], threshold
    )
    result.age_segment = _visible_means(population, ["segment", "age_band"], threshold)
    result.lorenz = baselines.lorenz_curve(population["cost_total"].to_numpy())
    result.top5_share = baselines.top_share(population["cost_total"].to_numpy(), 0.05)
    return result


def model_tables(model: ProspectiveResult, settings: CapitationSettings) -> dict[str, pd.DataFrame]:
    """The prospective model's publishable summaries (person-level predictions stay internal)."""
    threshold, base = settings.suppress_below, settings.round_to
    metrics = model.metrics.copy()
    metrics["people"] = disclosure.round_to(metrics["people"], base)
    metrics["person_years"] = disclosure.round_to(metrics["person_years"], base)
    metrics[["person_r2", "practice_r2"]] = metrics[["person_r2", "practice_r2"]].round(4)
    metrics[["person_mae", "practice_mae"]] = metrics[["person_mae", "practice_mae"]].round(0)
    ratios = disclosure.protect(model.predictive_ratios, ("segment",), threshold, base)
    deciles = disclosure.protect(model.deciles, (), threshold, base)
    for frame in (ratios,):
        for column in [c for c in frame.columns if c.startswith("predictive_ratio")]:
            frame[column] = model.predictive_ratios[column].where(~frame["suppressed"]).round(3)
    return {
        "prospective_model_metrics": metrics,
        "predictive_ratios_by_segment": ratios,
        "predicted_vs_actual_deciles": deciles,
    }


def add_model_and_accounting(
    published: PublishedTables,
    model: ProspectiveResult | None,
    accounting: pd.DataFrame,
    boundary: pd.DataFrame,
    costing_summary: pd.DataFrame,
    settings: CapitationSettings,
) -> None:
    """Add, after the baselines and in report order, the model, population, boundary and costing tables."""
    published.tables.update(model_tables(model, settings) if model is not None else {})
    published.tables["population_accounting"] = population_accounting(accounting, settings)
    published.tables["boundary_activity"] = rounded_records(boundary, settings.round_to)
    published.tables["costing_coverage"] = rounded_records(
        costing_qa.coverage_by_source(costing_summary), settings.round_to
    )


def population_accounting(frame: pd.DataFrame, settings: CapitationSettings) -> pd.DataFrame:
    """People and person-years by inclusion status, small groups suppressed and counts rounded."""
    protected = disclosure.protect(frame, ("status",), settings.suppress_below, settings.round_to)
    protected["total_cost"] = (protected["total_cost"] / 1000).round() * 1000
    return protected


def rounded_records(frame: pd.DataFrame, base: int) -> pd.DataFrame:
    """Round every ``records`` / ``people`` column of an activity summary to the nearest ``base``."""
    result = frame.copy()
    for column in [c for c in result.columns if "records" in c or c in ("people", "person_years")]:
        result[column] = disclosure.round_to(result[column], base)
    if "total_cost" in result.columns:
        result["total_cost"] = (result["total_cost"].astype(float) / 1000).round() * 1000
    return result
