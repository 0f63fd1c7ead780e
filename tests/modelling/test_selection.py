"""Champion choice known answers: scores built so that each model's AUROC is exact, overall and in the frail cohort."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from popheath.modelling import card, metrics, registry, selection

NEGATIVES = 1000  # per group: an AUROC is a whole number of thousandths
POSITIVES = 100


def _group(correctly_ranked: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and scores of one group whose AUROC is exactly ``correctly_ranked / 1000``.

    Non-events score 0, 1, ..., 999; every event scores ``correctly_ranked - 0.5``, above exactly
    that many non-events and tied with none.
    """
    y = np.r_[np.zeros(NEGATIVES, dtype=int), np.ones(POSITIVES, dtype=int)]
    scores = np.r_[np.arange(NEGATIVES, dtype=float), np.full(POSITIVES, correctly_ranked - 0.5)]
    return y, scores


def _world(lightgbm: tuple[int, int], logistic: tuple[int, int]) -> tuple[np.ndarray, dict, np.ndarray]:
    """A frail group then an other group; each model's (frail, other) AUROC in thousandths.

    Every event is above the same number of non-events in both groups, so the overall AUROC is the mean
    of the two groups' AUROCs.
    """
    y_frail, lgb_frail = _group(lightgbm[0])
    y_other, lgb_other = _group(lightgbm[1])
    _, log_frail = _group(logistic[0])
    _, log_other = _group(logistic[1])
    y = np.r_[y_frail, y_other]
    frail = np.r_[np.ones(y_frail.size, dtype=bool), np.zeros(y_other.size, dtype=bool)]
    # Scores on a probability scale, as the models give them (AUROC only sees the order).
    predictions = {
        "lightgbm": np.r_[lgb_frail, lgb_other] / (NEGATIVES + 1),
        "logistic": np.r_[log_frail, log_other] / (NEGATIVES + 1),
    }
    return y, predictions, frail


def _choose(lightgbm: tuple[int, int], logistic: tuple[int, int], margin: float = 0.01, samples: int = 0):
    y, predictions, frail = _world(lightgbm, logistic)
    return selection.choose(y, predictions, frail, margin=margin, samples=samples, seed=3)


def test_constructed_scores_have_the_intended_aurocs() -> None:
    y, predictions, frail = _world((800, 850), (790, 700))
    assert roc_auc_score(y[frail], predictions["lightgbm"][frail]) == pytest.approx(0.800, abs=1e-12)
    assert roc_auc_score(y, predictions["lightgbm"]) == pytest.approx(0.825, abs=1e-12)
    assert roc_auc_score(y, predictions["logistic"]) == pytest.approx(0.745, abs=1e-12)


def test_lightgbm_better_by_less_than_the_margin_ships_logistic() -> None:
    choice = _choose((805, 805), (800, 800))
    assert choice.winner == "logistic"
    overall, frail = choice.comparisons
    assert (overall.population, frail.population) == ("65plus", "frail")
    assert overall.difference == pytest.approx(0.005) and frail.difference == pytest.approx(0.005)
    assert not overall.passed and not frail.passed


def test_lightgbm_better_by_more_than_the_margin_overall_and_in_frail_ships_lightgbm() -> None:
    choice = _choose((830, 820), (800, 800))
    assert choice.winner == "lightgbm"
    overall, frail = choice.comparisons
    assert overall.difference == pytest.approx(0.025) and frail.difference == pytest.approx(0.030)
    assert overall.passed and frail.passed


def test_lightgbm_better_overall_but_not_in_frail_ships_logistic() -> None:
    choice = _choose((805, 900), (800, 800))
    overall, frail = choice.comparisons
    assert overall.difference == pytest.approx(0.0525) and overall.passed
    assert frail.difference == pytest.approx(0.005) and not frail.passed
    assert choice.winner == "logistic"


def test_better_in_frail_but_not_overall_ships_logistic() -> None:
    choice = _choose((850, 760), (800, 800))  # overall 0.805 vs 0.800
    assert [c.passed for c in choice.comparisons] == [False, True]
    assert choice.winner == "logistic"


def test_a_difference_equal_to_the_margin_passes_and_the_margin_comes_from_settings() -> None:
    assert _choose((810, 810), (800, 800)).winner == "lightgbm"
    assert _choose((810, 810), (800, 800), margin=0.02).winner == "logistic"
    assert _choose((805, 805), (800, 800), margin=0.0).winner == "lightgbm"


def test_a_frail_cohort_without_events_cannot_show_lightgbm_is_better() -> None:
    y, predictions, frail = _world((900, 900), (800, 800))
    y = np.where(frail, 0, y)
    choice = selection.choose(y, predictions, frail, margin=0.01, samples=20, seed=3)
    overall, frail_comparison = choice.comparisons
    assert overall.passed and not frail_comparison.passed and math.isnan(frail_comparison.difference)
    assert choice.winner == "logistic"


def test_paired_interval_of_identical_models_is_zero_and_intervals_match_the_evaluation() -> None:
    rng = np.random.default_rng(11)
    p = rng.uniform(0.01, 0.6, 4000)
    y = (rng.random(p.size) < p).astype(int)
    same = selection.compare("65plus", y, p, p.copy(), margin=0.01, samples=100, seed=5)
    assert same.difference == 0.0 and same.difference_ci == (0.0, 0.0)
    noisy = np.clip(p + rng.normal(0, 0.15, p.size), 0.001, 0.999)
    comparison = selection.compare("65plus", y, p, noisy, margin=0.01, samples=100, seed=5)
    low, high = comparison.difference_ci
    assert low < comparison.difference < high and low > 0  # the noisy copy is clearly worse
    # Each model's own interval is the one the evaluation reports with the same seed.
    assert comparison.lightgbm_ci == metrics.auroc_ci(y, p, 100, 5)
    assert comparison.logistic_ci == metrics.auroc_ci(y, noisy, 100, 5)
    # Paired: the difference varies less across resamples than two independent intervals would allow.
    assert high - low < (comparison.lightgbm_ci[1] - comparison.lightgbm_ci[0]) + (
        comparison.logistic_ci[1] - comparison.logistic_ci[0]
    )


def test_choice_is_recorded_with_its_rule_and_reason() -> None:
    choice = _choose((805, 900), (800, 800), samples=30)
    stored = json.loads(registry.dumps(choice.to_dict()))
    assert stored["winner"] == "logistic" and stored["margin"] == 0.01
    assert "at least 0.01 both for everyone aged 65+ and in the frail cohort" in stored["rule"]
    assert "65plus +0.0525 (passes)" in stored["reason"] and "frail +0.0050 (fails)" in stored["reason"]
    frail = stored["comparisons"][1]
    assert frail["lightgbm_auroc"] == pytest.approx(0.805) and frail["logistic_auroc"] == pytest.approx(0.800)
    assert frail["n"] == NEGATIVES + POSITIVES and frail["events"] == POSITIVES


def test_card_section_says_which_model_won_and_why() -> None:
    choice = _choose((805, 901), (800, 800), samples=30).to_dict()
    text = "\n".join(card.champion_section(choice))
    assert "## Champion choice" in text
    assert "**Logistic regression (L2, PARR/CPM-style) is deployed.**" in text
    assert "LightGBM better by at least 0.01" in text
    rows = [line for line in text.splitlines() if line.startswith(("| everyone aged 65+", "| frail cohort"))]
    assert len(rows) == 2
    overall_row, frail_row = rows
    assert "| 0.853 (" in overall_row and "| 0.800 (" in overall_row and "| 0.0530 (" in overall_row
    assert overall_row.endswith("| yes |") and frail_row.endswith("| no |")
    low, high = choice["comparisons"][1]["lightgbm_ci"]
    assert f"0.805 ({low:.3f} to {high:.3f})" in frail_row


def test_card_shows_calibration_slope_for_every_subgroup_of_the_deployed_model() -> None:
    populations = {
        "65plus": {"logistic": {"n": 900, "events": 90, "calibration_slope": 0.95, "calibration_intercept": -0.1,
                                "calibration_in_the_large": 0.02, "oe_ratio": 1.01,
                                "calibration_slope_in_target": True}},
        "frail": {"logistic": {"n": 200, "events": 40, "calibration_slope": 0.62, "calibration_intercept": -0.5,
                               "calibration_in_the_large": 0.1, "oe_ratio": 1.1,
                               "calibration_slope_in_target": False}},
    }  # fmt: skip
    row = {"n": 450, "events": 45, "calibration_intercept": 0.0, "calibration_in_the_large": 0.0, "oe_ratio": 1.0}
    subgroups = pd.DataFrame(
        [
            {**row, "population": "65plus", "model": "logistic", "dimension": "sex", "level": "F",
             "calibration_slope": 1.04, "judged": True, "flag_slope_outside_target": False},
            {**row, "population": "65plus", "model": "logistic", "dimension": "sex", "level": "M",
             "calibration_slope": 1.31, "judged": True, "flag_slope_outside_target": True},
            {**row, "population": "frail", "model": "logistic", "dimension": "imd_quintile", "level": "1",
             "calibration_slope": 3.0, "judged": False, "flag_slope_outside_target": False},
            {**row, "population": "65plus", "model": "lightgbm", "dimension": "sex", "level": "F",
             "calibration_slope": 0.5, "judged": True, "flag_slope_outside_target": True},
        ]
    )  # fmt: skip
    lines = card.calibration_section(populations, subgroups, "logistic", (0.9, 1.1))
    table = [line for line in lines if line.startswith("| 65plus") or line.startswith("| frail")]
    assert table == [
        "| 65plus | all | 900 | 90 | 0.95 | -0.10 | 0.02 | 1.01 | yes |",
        "| 65plus | sex = F | 450 | 45 | 1.04 | 0.00 | 0.00 | 1.00 | yes |",
        "| 65plus | sex = M | 450 | 45 | 1.31 | 0.00 | 0.00 | 1.00 | **no** |",
        "| frail | all | 200 | 40 | 0.62 | -0.50 | 0.10 | 1.10 | **no** |",
        "| frail | imd_quintile = 1 | 450 | 45 | 3.00 | 0.00 | 0.00 | 1.00 | not judged |",
    ]
    assert any("target slope 0.9-1.1" in line for line in lines)
