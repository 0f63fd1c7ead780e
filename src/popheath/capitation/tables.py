"""From the planning population (person level, in memory) to the published, disclosure-controlled tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from popheath.capitation import baselines, costing_qa, disclosure, needs
from popheath.capitation.prospective import AGE_BANDS_5Y, ProspectiveResult, age_band_5y
from popheath.config import CapitationSettings

log = logging.getLogger(__name__)

MAIN_DIMS = ("segment", "age_band", "sex", "place")
FIVE_YEAR_DIMS = ("age_band_5y", "sex")
SEGMENT_AGE_DIMS = ("segment", "age_band")
TIER_DIMS = ("tier",)
YOC_DIMS = ("segment", "tier")
BOUNDARY_DIMS = ("boundary", "setting")
COVERAGE_DIMS = ("source", "setting", "cost_level")
COVERAGE_SHARES = ("share_of_records", "share_of_cost")

NEGATIVE_R2 = (
    "{levels} R-squared is negative: the model predicts this year's cost per person-year worse than the "
    "year's own mean would (R-squared = 1 - SSE/SST, SST taken around this year's mean, so 0 = no better than "
    "the mean). It can happen because the model is trained on the previous year and applied unchanged (a "
    "cost shock or a shift in activity between years moves every prediction), because small practices have "
    "noisy means, and, for the age-sex model, because practices of similar age mix differ in need it cannot see."
)


# Display order: DESIGN.md section 6 tiers (highest need first), the cohort age bands, totals last.
DIM_ORDER = {
    "tier": ("very_high", "high", "moderate", "low", "not_scored"),
    "age_band": ("0-17", "18-64", "65-74", "75-84", "85+", "Unknown"),
    "age_band_5y": (*AGE_BANDS_5Y, "Unknown"),
    "sex": ("F", "M", "U"),
    "setting": ("acute", "community", "social_care"),
    "cost_level": tuple(costing_qa.COST_LEVELS),
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
    """Every published table (suppressed and rounded) plus the population-level figures the report needs."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    lorenz: tuple[np.ndarray, np.ndarray, float] = (np.zeros(0), np.zeros(0), 0.0)
    top5_share: float = 0.0
    cap_value: float = 0.0


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
    """Baselines by segment x age x sex x place, 5-year age x sex, segment x age, tier and the Year of Care budget."""
    population = population.reset_index(drop=True)
    capped, cap_value = baselines.cap_costs(population, settings.outlier_cap_percentile)
    population = population.assign(cost_capped=capped.to_numpy(), age_band_5y=age_band_5y(population["age"]))
    codes, cells = baselines.finest_codes(population, (*baselines.FINEST_DIMS, "age_band_5y"))
    boot = baselines.bootstrap_sums(
        codes,
        cells,
        population["cost_total"].to_numpy(),
        population["cost_capped"].to_numpy(),
        population["person_years"].to_numpy(),
        settings.bootstrap_samples,
        settings.bootstrap_seed,
    )
    threshold, base, n = settings.suppress_below, settings.round_to, settings.dominance_n
    result = PublishedTables(cap_value=cap_value)

    def published(dims: tuple[str, ...], subset: np.ndarray | None = None, budget: bool = False) -> pd.DataFrame:
        table = baselines.summarise(population, boot, codes, dims, subset=subset, dominance_n=n)
        table = year_of_care(table) if budget else table
        protected = disclosure.protect(table, dims, threshold, base, dominance_k=settings.dominance_k)
        if budget:
            protected["annual_budget_total"] = thousands(protected["annual_budget_total"])
        return ordered(protected, dims)

    result.tables["baseline_segment_age_sex_place"] = published(MAIN_DIMS)
    result.tables["baseline_age_sex_5y"] = published(FIVE_YEAR_DIMS)
    result.tables["baseline_segment_age_band"] = published(SEGMENT_AGE_DIMS)
    result.tables["baseline_tier"] = published(TIER_DIMS)
    frail = population["is_frail"].to_numpy(dtype=bool)
    if frail.any():
        result.tables["year_of_care_budget"] = published(YOC_DIMS, frail, budget=True)
    # Each point of the curve then covers at least `threshold` people (no point rests on fewer).
    points = int(min(200, max(len(population) // max(threshold, 1), 2)))
    result.lorenz = baselines.lorenz_curve(population["cost_total"].to_numpy(), points)
    result.top5_share = baselines.top_share(population["cost_total"].to_numpy(), 0.05)
    return result


def r2_notes(metrics: pd.DataFrame) -> pd.Series:
    """Per model, the explanation of its negative R-squared (person, practice or both), else ``none``."""

    def note(row: pd.Series) -> str:
        levels = [level for level in ("person", "practice") if row[f"{level}_r2"] < 0]
        return NEGATIVE_R2.format(levels=" and ".join(levels).capitalize() + "-level") if levels else "none"

    return metrics.apply(note, axis=1)


def with_dominance(table: pd.DataFrame, people: pd.DataFrame, by: str, n: int) -> pd.DataFrame:
    """``table`` (one row per ``by`` value) with the share of each row's cost held by its ``n`` costliest people."""
    share = disclosure.dominance_share(people, [by], "cost_total", n)
    return table.assign(**{disclosure.DOMINANCE: share.reindex(table[by].to_numpy()).fillna(0.0).to_numpy()})


def model_tables(model: ProspectiveResult, settings: CapitationSettings) -> dict[str, pd.DataFrame]:
    """The prospective model's publishable summaries (person-level predictions stay internal)."""
    threshold, base, n = settings.suppress_below, settings.round_to, settings.dominance_n
    metrics = model.metrics.copy()
    metrics["people"] = disclosure.as_counts(metrics["people"], base)
    metrics["person_years"] = disclosure.as_counts(metrics["person_years"], base)
    metrics["practices"] = metrics["practices"].astype("Int64")
    metrics[["person_r2", "practice_r2"]] = metrics[["person_r2", "practice_r2"]].round(4)
    metrics[["person_mae", "practice_mae"]] = metrics[["person_mae", "practice_mae"]].round(0)
    metrics["r2_note"] = r2_notes(model.metrics)
    # The dominance rule from the people behind each segment and decile (the predictions are person level).
    ratios = disclosure.protect(
        with_dominance(model.predictive_ratios, model.predictions, "segment", n),
        ("segment",),
        threshold,
        base,
        dominance_k=settings.dominance_k,
    )
    deciles = disclosure.protect(
        with_dominance(model.deciles, model.predictions, "decile", n),
        (),
        threshold,
        base,
        dominance_k=settings.dominance_k,
    )
    deciles["decile"] = model.deciles["decile"].astype("Int64")
    shown = ratios[disclosure.STATUS] == disclosure.NONE
    for column in [c for c in ratios.columns if c.startswith("predictive_ratio")]:
        ratios[column] = model.predictive_ratios[column].where(shown).round(3)
    return {
        "prospective_model_metrics": metrics,
        "predictive_ratios_by_segment": ratios,
        "predicted_vs_actual_deciles": deciles,
    }


def add_model_and_accounting(
    published: PublishedTables,
    model: ProspectiveResult | None,
    accounting: pd.DataFrame,
    activity: dict[str, pd.DataFrame],
    settings: CapitationSettings,
    need: tuple[pd.DataFrame, str],
) -> None:
    """Add, after the baselines and in report order, the needs, model, population, boundary and costing tables.

    ``need`` is :func:`popheath.capitation.needs.person_need`'s expected cost per person and its source;
    ``activity`` the boundary and coverage cells of :func:`popheath.capitation.costing.activity_cells`.
    """
    published.tables.update(needs.split(needs.fair_share_table(*need, settings)))
    published.tables.update(model_tables(model, settings) if model is not None else {})
    published.tables["population_accounting"] = population_accounting(accounting, settings)
    published.tables["boundary_activity"] = activity_table(activity["boundary_activity"], BOUNDARY_DIMS, settings)
    published.tables["costing_coverage"] = activity_table(
        activity["costing_coverage"], COVERAGE_DIMS, settings, COVERAGE_SHARES
    )


def population_accounting(frame: pd.DataFrame, settings: CapitationSettings) -> pd.DataFrame:
    """People and person-years by inclusion status, small groups suppressed and counts rounded."""
    protected = disclosure.protect(
        frame, ("status",), settings.suppress_below, settings.round_to, dominance_k=settings.dominance_k
    )
    protected["total_cost"] = thousands(protected["total_cost"])
    return protected


def activity_table(
    frame: pd.DataFrame, dims: tuple[str, ...], settings: CapitationSettings, shares: tuple[str, ...] = ()
) -> pd.DataFrame:
    """An activity summary (records and cost by ``dims``) under the rules of every other published table.

    A cell from fewer than ``suppress_below`` people, or dominated by its ``dominance_n`` costliest, is
    primary; secondary suppression protects it from the ``All`` totals; records are rounded to
    ``round_to`` and cost to GBP 1,000. The people count only decides suppression: it is not published
    (a record without a person counts as one, so it is not a head count). ``shares`` (proportions)
    keep their 3 decimal places where shown.
    """
    protected = disclosure.protect(
        frame, dims, settings.suppress_below, settings.round_to, dominance_k=settings.dominance_k
    )
    shown = (protected[disclosure.STATUS] == disclosure.NONE).to_numpy()
    for column in shares:
        protected[column] = frame[column].astype(float).where(shown)
    protected["total_cost"] = thousands(protected["total_cost"])
    return ordered(protected.drop(columns="people"), dims)


def thousands(cost: pd.Series) -> pd.Series:
    """Cost rounded to the nearest GBP 1,000 (a total published beside a count)."""
    return (cost.astype(float) / 1000).round() * 1000
