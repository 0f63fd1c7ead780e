"""Known answers for the PBRA-style needs index, fair shares and prediction intervals (capitation.needs)."""

import math

import numpy as np
import pandas as pd
import pytest

from popheath.capitation import needs, prospective, tables
from popheath.capitation.prospective import ProspectiveResult
from popheath.config import CapitationSettings

# No threshold, no rounding, no dominance: the arithmetic alone.
OPEN = CapitationSettings(suppress_below=1, round_to=1, dominance_n=1, dominance_k=100.0)


def _need() -> pd.DataFrame:
    # P1 and P2 in N1, P3 in N2; two people each, one person-year each; expected costs sum to actual (600).
    return pd.DataFrame(
        {
            "pcn_code": ["N1"] * 4 + ["N2"] * 2,
            "practice_code": ["P1", "P1", "P2", "P2", "P3", "P3"],
            "person_years": 1.0,
            "cost_total": [150.0, 150.0, 50.0, 50.0, 110.0, 90.0],
            "expected": [50.0, 50.0, 150.0, 150.0, 100.0, 100.0],
            "variance": 100.0,
        }
    )


def test_weighted_population_fair_share_and_distance_from_target() -> None:
    split = needs.split(needs.fair_share_table(_need(), "test weights", OPEN))
    practice = split["needs_index_practice"].set_index("practice_code")
    # ICS mean 600 / 6 = 100 per person-year; P1's expected cost 100 -> weighted population 1.0.
    assert practice["weighted_population"].to_dict() == {"P1": 1.0, "P2": 3.0, "P3": 2.0}
    assert practice["needs_index"].to_dict() == {"P1": 0.5, "P2": 1.5, "P3": 1.0}
    assert practice["fair_share"].to_dict() == {"P1": 100.0, "P2": 300.0, "P3": 200.0}
    assert practice["distance_from_target"].to_dict() == {"P1": 2.0, "P2": -0.6667, "P3": 0.0}
    assert practice["within_10pct"].tolist() == [False, False, True]
    assert (practice["weights_from"] == "test weights").all()
    pcn = split["needs_index_pcn"].set_index("pcn_code")
    assert list(pcn.index) == ["N1", "N2", "All"]
    assert pcn.loc["All", "fair_share"] == 600.0 and pcn.loc["All", "needs_index"] == 1.0
    assert pcn["practices"].tolist() == [2, 1, 3]
    assert pcn["share_practices_within_10pct"].tolist() == [0.0, 1.0, 0.333]
    # P3: W = 2, var(mean) = sum(w v) / W^2 = 200 / 4 -> 95% interval 100 +- 1.96 x 7.07.
    assert practice.loc["P3", "prediction_low"] == round(100 - 1.959964 * math.sqrt(50))
    assert practice.loc["P3", "prediction_high"] == round(100 + 1.959964 * math.sqrt(50))
    assert bool(practice.loc["P3", "actual_within_interval"]) and not bool(practice.loc["P1", "actual_within_interval"])


def test_a_small_practice_is_hidden_with_a_neighbour_and_left_out_of_the_share() -> None:
    settings = CapitationSettings(suppress_below=2, round_to=1, dominance_n=1, dominance_k=100.0)
    need = _need().drop(index=[1])  # P1 now has one person
    split = needs.split(needs.fair_share_table(need, "w", settings))
    practice = split["needs_index_practice"].set_index("practice_code")
    assert practice.loc["P1", "suppression"] == "primary"
    assert practice.loc["P2", "suppression"] == "secondary"  # else N1 minus P2 would give P1 away
    assert practice.loc[["P1", "P2"], ["fair_share", "needs_index", "within_10pct"]].isna().all().all()
    pcn = split["needs_index_pcn"].set_index("pcn_code")
    assert math.isnan(pcn.loc["N1", "share_practices_within_10pct"])  # no published practice in N1
    assert pcn.loc["All", "share_practices_within_10pct"] == 1.0  # P3 alone


def test_cell_weights_known_answer() -> None:
    population = pd.DataFrame(
        {"age": [70, 72, 30], "sex": "F", "segment": "s", "person_years": 1.0, "cost_total": [100.0, 300.0, 50.0]}
    )
    expected, variance = needs.cell_weights(population)
    assert expected.tolist() == [200.0, 200.0, 50.0]  # 70 and 72 share the 70-74 band
    assert variance.tolist() == [10000.0, 10000.0, 0.0]


def test_model_predictions_are_rescaled_to_the_year_spend() -> None:
    population = pd.DataFrame(
        {
            "person_key": ["a", "b", "c"],
            "pcn_code": "N1",
            "practice_code": "P1",
            "age": [70, 72, 30],
            "sex": "F",
            "segment": "s",
            "person_years": 1.0,
            "cost_total": [100.0, 300.0, 50.0],
        }
    )
    predictions = pd.DataFrame({"person_key": ["a", "b"], "pred_risk_adjusted": [1.0, 3.0]})
    empty = pd.DataFrame()
    model = ProspectiveResult(predictions, empty, empty, empty, empty, dispersion=2.0)
    frame, source = needs.person_need(population, model, "2024/25", "2023/24", OPEN)
    # a and b: scale 400 / 4 = 100; c has no prediction: its cell weight (its own 50).
    assert frame["expected"].tolist() == [100.0, 300.0, 50.0]
    assert frame["variance"].tolist() == pytest.approx([2.0 * 100**1.5, 2.0 * 300**1.5, 0.0])
    assert "risk-adjusted prospective model" in source and "1 people without features" in source
    _, fallback = needs.person_need(population, None, "2024/25", "2023/24", OPEN)
    assert fallback.startswith("age-sex-need cost weights")


def test_tweedie_dispersion_known_answer() -> None:
    # sum w (y - mu)^2 / mu^1.5 / (n - 1) = (1 + 1) / 1
    assert prospective.tweedie_dispersion(np.array([2.0, 0.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 2.0


def test_negative_r2_is_explained() -> None:
    metrics = pd.DataFrame({"model": ["a", "b"], "person_r2": [0.4, 0.1], "practice_r2": [0.2, -0.3]})
    notes = tables.r2_notes(metrics)
    assert notes[0] == "none"
    assert notes[1].startswith("Practice-level R-squared is negative")
    assert "worse than the year's own mean" in notes[1] and "trained on the previous year" in notes[1]
    assert "small practices" in notes[1] and "cost shock" in notes[1]
