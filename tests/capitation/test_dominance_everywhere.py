"""The (n, k) dominance rule on every published table that carries a cost statistic from people.

Baselines, the Year of Care budget and the needs tables had it; these known answers cover the tables
that bypassed it (population accounting, predictive ratios by segment, predicted-vs-actual deciles),
the plots drawn from them, and the outlier cap (a percentile) in the report's headline.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from popheath import config
from popheath.capitation import accounting, costing, disclosure, html_report, outputs, tables
from popheath.capitation.prospective import MODELS, ProspectiveResult

from .conftest import insert, person

CAP = config.CapitationSettings()  # n = 2, k = 85%


def _people(segments: dict[str, list[float]]) -> pd.DataFrame:
    """Person-level predictions: one row per person with a segment, a decile and a cost."""
    rows = [(seg, cost) for seg, costs in segments.items() for cost in costs]
    frame = pd.DataFrame(rows, columns=["segment", "cost_total"])
    frame["person_key"] = [f"P{i}" for i in range(len(frame))]
    frame["person_years"] = 1.0
    frame["decile"] = np.arange(len(frame)) % 10 + 1
    for model in MODELS:
        frame[f"pred_{model}"] = frame["cost_total"].mean()
    return frame


def _model(people: pd.DataFrame) -> ProspectiveResult:
    ratios = people.groupby("segment", as_index=False).agg(
        people=("person_key", "size"), person_years=("person_years", "sum"), actual=("cost_total", "sum")
    )
    for model in MODELS:
        ratios[f"predictive_ratio_{model}"] = (
            ratios["person_years"] * people[f"pred_{model}"].iloc[0] / ratios["actual"]
        )
    ratios["actual_per_person_year"] = ratios.pop("actual") / ratios["person_years"]
    deciles = people.groupby("decile", as_index=False).agg(
        people=("person_key", "size"), person_years=("person_years", "sum"), actual=("cost_total", "sum")
    )
    deciles["actual_per_person_year"] = deciles.pop("actual") / deciles["person_years"]
    for model in MODELS:
        deciles[f"predicted_{model}"] = people[f"pred_{model}"].iloc[0]
    metrics = pd.DataFrame(
        {
            "model": list(MODELS),
            "people": len(people),
            "person_years": float(len(people)),
            "person_r2": 0.5,
            "person_mae": 100.0,
            "practices": 3,
            "practice_r2": 0.4,
            "practice_mae": 50.0,
        }
    )
    return ProspectiveResult(people, metrics, ratios, deciles, pd.DataFrame({"feature": [], "share_of_gain": []}))


def test_a_segment_one_person_dominates_is_hidden_in_the_predictive_ratios() -> None:
    # 'frail': 20 people, one costing 100,000 of 100,950 (99%); 'healthy': 40 people with even costs.
    people = _people({"frail": [100_000.0] + [50.0] * 19, "healthy": [500.0] * 40})
    published = tables.model_tables(_model(people), CAP)
    ratios = published["predictive_ratios_by_segment"].set_index("segment")
    assert ratios.loc["frail", disclosure.STATUS] == disclosure.PRIMARY
    assert ratios.loc["frail", ["actual_per_person_year", "predictive_ratio_risk_adjusted"]].isna().all()
    assert ratios.loc["healthy", disclosure.STATUS] == disclosure.NONE
    assert ratios.loc["healthy", "actual_per_person_year"] == 500


def test_a_decile_one_person_dominates_is_hidden_in_the_table_and_the_plot() -> None:
    costs = [100.0] * 200
    costs[3] = 1_000_000.0  # decile 4: 20 people, one holds 1,000,000 of 1,001,900 (99.8%)
    published = tables.model_tables(_model(_people({"all": costs})), CAP)
    deciles = published["predicted_vs_actual_deciles"].set_index("decile")
    assert deciles.loc[4, disclosure.STATUS] == disclosure.PRIMARY
    assert pd.isna(deciles.loc[4, "actual_per_person_year"])
    assert (deciles.drop(index=4)[disclosure.STATUS] == disclosure.NONE).all()
    plotted = html_report.plot_data(
        deciles.reset_index(), ["actual_per_person_year", "predicted_risk_adjusted", "predicted_age_sex"]
    )
    assert list(plotted["decile"]) == [1, 2, 3, 5, 6, 7, 8, 9, 10]


def test_a_status_one_person_dominates_is_hidden_in_the_population_accounting(
    con: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    con.execute(
        "CREATE TABLE cap_person_year (financial_year INTEGER, person_years DOUBLE, cost_total DOUBLE, "
        "national_data_opt_out BOOLEAN, out_of_area BOOLEAN)"
    )
    rows = [(2024, 1.0, 300.0, False, False)] * 40  # registered: 40 people, even costs
    rows += [(2024, 1.0, 90_000.0, False, True)] + [(2024, 1.0, 100.0, False, True)] * 14  # out of area: 98.5%
    rows += [(2024, 1.0, 200.0, True, False)] * 12  # opted out
    insert(con, "cap_person_year", rows)
    insert(con, "person", [person(f"T{i}", type1=True) for i in range(11)])
    frame = accounting.population_accounting(con, settings, costing.FinancialYear(2024))
    shares = frame.set_index("status")[disclosure.DOMINANCE]
    assert shares["reported separately: out of area"] == pytest.approx(90_100 / 91_400)
    assert shares["included: registered population"] == pytest.approx(600 / 12_000)
    published = tables.population_accounting(frame, settings.capitation).set_index("status")
    assert published.loc["reported separately: out of area", disclosure.STATUS] == disclosure.PRIMARY
    assert pd.isna(published.loc["reported separately: out of area", "total_cost"])
    assert published.loc["included: registered population", "total_cost"] == 12_000
    assert published.loc["excluded: type 1 objection", "people"] == 10  # 11 rounded to the nearest 5
    assert disclosure.DOMINANCE not in published.columns


def test_the_outlier_cap_is_a_percentile_shown_only_with_enough_people_above_it() -> None:
    population = pd.DataFrame({"cost_total": [100.0] * 1000, "person_years": [1.0] * 1000})
    result = tables.PublishedTables(cap_value=5000.0)
    # 99.5th percentile: 1000 x 0.005 = 5 people above it, under the threshold of 10.
    hidden = outputs.headline(population, result, None, CAP)["Outlier cap (annualised cost)"]
    assert hidden.startswith(disclosure.PRIMARY) and "5000" not in hidden.replace(",", "")
    shown = outputs.headline(pd.concat([population] * 2), result, None, CAP)["Outlier cap (annualised cost)"]
    assert shown == "£5,000 (percentile 99.5)"
