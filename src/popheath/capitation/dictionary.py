"""What each published capitation table and column means: the report's notes and ``data_dictionary.csv``."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from popheath.capitation.costing_qa import COST_LEVELS
from popheath.errors import StageError

TABLE_NOTES = {
    "baseline_segment_age_sex_place": (
        "Cost per person-year (exposure-adjusted) by population segment x age band x sex x place, with "
        "'All' rows for each single dimension and the overall total. mean_cost = total cost / person-years; "
        "ci_low/ci_high = Poisson bootstrap 95% interval of the mean; median_cost and p95_cost are of "
        "annualised cost per person; *_capped = with each person's annualised cost capped at the "
        "outlier percentile; mean_acute/community/social_care split the mean by setting."
    ),
    "baseline_age_sex_5y": (
        "The same by 5-year age band (0-4 ... 85-89, 90+) x sex, the bands of the age-sex capitation "
        "formula; the cost pyramid is drawn from this table's published cells."
    ),
    "baseline_segment_age_band": (
        "The same by segment x cohort age band; the 'cost by age band and segment' plot is drawn from it."
    ),
    "baseline_tier": "Cost per person-year by risk tier at the start of the year (same columns).",
    "year_of_care_budget": (
        "Headline Year of Care table: frail cohort at the start of the year by need level (segment x risk "
        "tier). budget_per_person_year is the uncapped mean (all cost, for a fully capitated budget) with its "
        "95% interval; the capped columns suit a budget paired with a separate high-cost risk pool."
    ),
    "needs_index_practice": (
        "Person-based resource allocation (PBRA; Dixon et al. BMJ 2011;343:d6608, the method of NHS England's "
        "CCG/ICB allocation formulae) by practice: weighted population from each person's expected cost "
        "(weights_from says from which model), needs index = weighted / actual person-years, fair share = ICS "
        "spend x share of weighted population, distance from target = (actual - fair share) / fair share, and "
        "a model-based 95% prediction interval of mean cost per person-year."
    ),
    "needs_index_pcn": (
        "The same by primary care network, with the ICS total: the prediction interval of the PCN's mean cost "
        "per person-year, whether its actual mean lies inside it, and the share of its published practices "
        "within 10% of their fair share."
    ),
    "prospective_model_metrics": (
        "Risk-adjusted (LightGBM Tweedie on start-of-year features) vs age-sex-only model, trained on the "
        "previous year and evaluated on this year: R-squared and mean absolute error of cost per person-year "
        "at person and practice level. r2_note explains any negative R-squared."
    ),
    "predictive_ratios_by_segment": "Predicted / actual cost by segment in the evaluation year (1 = unbiased).",
    "predicted_vs_actual_deciles": "Cost per person-year by decile of the risk-adjusted prediction.",
    "population_accounting": "Who is in the planning population and who is excluded, and why.",
    "boundary_activity": (
        "Activity reported separately: out-of-area people, records not linked to a person, providers outside "
        "the partnership (included in the baselines or not by configuration) and activity outside a person's "
        "registration window, by setting with each boundary's total (setting All). People with a type 1 "
        "objection or a national data opt-out are left out. A cell is suppressed like every other table's: "
        "fewer than suppress_below people behind it (a record not linked to anyone counting as one person), "
        "or dominated by its costliest people; records rounded, cost to GBP 1,000."
    ),
    "costing_coverage": (
        "How each source's activity was priced: records and cost by source, setting and cost level, with each "
        "source's total and the total of all sources (All), and the shares priced at full HRG, HRG root, "
        "chapter, fallback, or left uncosted. People with a type 1 objection or a national data opt-out are "
        "left out. Cells are suppressed by the people behind them as in boundary_activity; records rounded, "
        "cost to GBP 1,000."
    ),
    "data_dictionary": "Every published table and column with its meaning.",
}

SUPPRESSION_NOTE = (
    "none, primary (fewer than capitation.suppress_below people, or dominated: its dominance_n costliest "
    "people hold over dominance_k% of its cost) or secondary (hidden so a primary cell cannot be recovered "
    "from the totals); hidden cells hold the same word in the CSV, Excel and HTML files"
)

COLUMN_NOTES = {
    "segment": "Population segment at the start of the year (All = every segment)",
    "age_band": "Cohort age band at the start of the year (All = every age)",
    "age_band_5y": "5-year age band at the start of the year, 90+ pooled (All = every age)",
    "sex": "Sex: F, M or U (unknown) (All = both)",
    "place": "Place (locality) of the registered practice (All = every place)",
    "tier": "Risk tier at the start of the year (All = every tier)",
    "people": "People with any exposure in the year, rounded to capitation.round_to",
    "person_years": "Person-years of exposure, rounded to capitation.round_to",
    "mean_cost": "Cost per person-year: total cost / person-years (GBP)",
    "ci_low": "Lower end of the Poisson bootstrap 95% interval of mean_cost (GBP)",
    "ci_high": "Upper end of the Poisson bootstrap 95% interval of mean_cost (GBP)",
    "median_cost": "Median annualised cost per person (GBP); shown only with at least suppress_below people each side",
    "p95_cost": "95th percentile of annualised cost per person (GBP); shown only with suppress_below people above it",
    "mean_cost_capped": "mean_cost with each person's annualised cost capped at the outlier percentile (GBP)",
    "ci_low_capped": "Lower end of the bootstrap 95% interval of mean_cost_capped (GBP)",
    "ci_high_capped": "Upper end of the bootstrap 95% interval of mean_cost_capped (GBP)",
    "mean_acute": "Acute (hospital) part of mean_cost (GBP per person-year)",
    "mean_community": "Community part of mean_cost (GBP per person-year)",
    "mean_social_care": "Adult social care part of mean_cost (GBP per person-year)",
    "budget_per_person_year": "Year of Care budget per person-year: the uncapped mean cost (GBP)",
    "budget_ci_low": "Lower end of the bootstrap 95% interval of budget_per_person_year (GBP)",
    "budget_ci_high": "Upper end of the bootstrap 95% interval of budget_per_person_year (GBP)",
    "budget_per_person_year_capped": "Budget per person-year with outliers capped, for use with a high-cost pool (GBP)",
    "budget_capped_ci_low": "Lower end of the bootstrap 95% interval of the capped budget (GBP)",
    "budget_capped_ci_high": "Upper end of the bootstrap 95% interval of the capped budget (GBP)",
    "annual_budget_total": "budget_per_person_year x person-years, rounded to GBP 1,000",
    "pcn_code": "Primary care network of the registered practice (All = the ICS)",
    "practice_code": "Registered GP practice (ODS code)",
    "weighted_population": "Person-years weighted by expected cost relative to the ICS mean (sums to ICS person-years)",
    "needs_index": "weighted_population / person_years: 1 = ICS average need, 1.2 = 20% above",
    "actual_cost": "Actual cost in the year (GBP)",
    "fair_share": "Target: ICS actual total x share of the ICS weighted population (GBP)",
    "distance_from_target": "(actual_cost - fair_share) / fair_share; positive = spends above its fair share",
    "actual_per_person_year": "Actual cost per person-year (GBP)",
    "expected_per_person_year": "fair_share / person_years: the expected cost per person-year given need (GBP)",
    "prediction_low": "Lower end of the model-based 95% prediction interval of cost per person-year (GBP)",
    "prediction_high": "Upper end of the model-based 95% prediction interval of cost per person-year (GBP)",
    "actual_within_interval": "Whether actual_per_person_year lies inside the prediction interval",
    "within_10pct": "Whether actual cost is within 10% of the fair share (|distance_from_target| <= 0.10)",
    "practices": "Practices in the PCN (or the ICS)",
    "share_practices_within_10pct": "Share of the published practices within 10% of their fair share",
    "weights_from": "Which expected costs make the weighted population (risk-adjusted model or cost weights)",
    "model": "risk_adjusted (LightGBM Tweedie on start-of-year features) or age_sex (5-year band x sex means)",
    "person_r2": "R-squared of cost per person-year across people (person-year weighted)",
    "person_mae": "Mean absolute error of cost per person-year across people (GBP)",
    "practice_r2": "R-squared of practices' cost per person-year (person-year weighted)",
    "practice_mae": "Mean absolute error of practices' cost per person-year (GBP)",
    "r2_note": "Why an R-squared is negative, when one is (none otherwise)",
    "predictive_ratio_risk_adjusted": "Predicted / actual cost of the risk-adjusted model (1 = unbiased)",
    "predictive_ratio_age_sex": "Predicted / actual cost of the age-sex model (1 = unbiased)",
    "decile": "Decile of the risk-adjusted prediction (1 = lowest predicted cost)",
    "predicted_risk_adjusted": "Risk-adjusted model's predicted cost per person-year (GBP)",
    "predicted_age_sex": "Age-sex model's predicted cost per person-year (GBP)",
    "status": "Inclusion status in the planning population, and the reason for any exclusion",
    "total_cost": "Total cost (GBP, rounded to 1,000 where a count is published beside it)",
    "boundary": (
        "Which boundary question the activity falls under: out_of_area_people, unlinked_records, "
        "out_of_ics_provider or outside_exposure_window"
    ),
    "setting": "Care setting: acute, community or social_care (All = every setting)",
    "source": "Activity source (apc, ecds, opa, csds, asc; All = every source)",
    "records": "Activity records, rounded to capitation.round_to",
    "cost_level": "How the records were priced (All = every level): "
    + "; ".join(f"{level} = {words}" for level, words in COST_LEVELS.items()),
    "share_of_records": "Share of the source's activity records priced at this cost level (0-1; 1 in a total row)",
    "share_of_cost": "Share of the source's cost priced at this cost level (0-1)",
    "records_costed": "Activity records given a cost, rounded to capitation.round_to",
    "records_uncosted": "Activity records that could not be costed (null cost, never zero), rounded",
    "suppression": f"Disclosure control of the row: {SUPPRESSION_NOTE}",
    "suppressed_statistics": (
        "Percentile columns hidden (marked primary) because too few people lie beyond them, or none"
    ),
    "financial_year": "Financial year of the activity (April to March)",
    "price_base": "Price base of every cost (NHS Cost Inflation Index year)",
    "table": "Published table (file name without extension)",
    "column": "Column of that table",
    "description": "What the column holds",
}


# Costing-coverage columns made of a measure and a pricing level, e.g. ``cost_share_hrg_root``.
def describe(table: str, column: str) -> str | None:
    """The description of a published column, or ``None`` when it has none."""
    return COLUMN_NOTES.get(column)


def data_dictionary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per published table and column, with its description; refuses an undescribed column."""
    rows = [
        (name, column, describe(name, str(column)))
        for name, frame in {**tables, "data_dictionary": pd.DataFrame(columns=DICTIONARY_COLUMNS)}.items()
        for column in frame.columns
    ]
    missing = [f"{name}.{column}" for name, column, text in rows if text is None]
    if missing:
        raise StageError(f"no data dictionary entry for published column(s) {', '.join(missing)}")
    return pd.DataFrame(rows, columns=["table", "column", "description"])


DICTIONARY_COLUMNS = ["financial_year", "price_base", "table", "column", "description"]
