import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from popheath.modelling import metrics

Y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.2, 0.35, 0.05, 0.6, 0.55, 0.35])


def test_headline_metrics_equal_scikit_learn_on_fixed_inputs() -> None:
    result = metrics.evaluate(Y, P, samples=0, seed=1)
    assert result["auroc"] == pytest.approx(roc_auc_score(Y, P))
    assert result["auroc"] == pytest.approx(25 / 35)  # 5 positives x 7 negatives, ties count one half
    assert result["auprc"] == pytest.approx(average_precision_score(Y, P))
    assert result["brier"] == pytest.approx(brier_score_loss(Y, P))
    assert result["n"] == 12 and result["events"] == 5
    assert result["oe_ratio"] == pytest.approx((5 / 12) / P.mean())


def test_weighted_auroc_equals_scikit_learn_with_the_same_weights() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    p = np.round(rng.random(400), 1)  # many ties
    counts = metrics.bootstrap_counts(400, 5, rng)
    fast = metrics.weighted_auroc(y, p, counts)
    for row, value in zip(counts, fast, strict=True):
        assert value == pytest.approx(roc_auc_score(y, p, sample_weight=row))


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(int)
    low, high = metrics.auroc_ci(y, p, samples=200, seed=9)
    assert (low, high) == metrics.auroc_ci(y, p, samples=200, seed=9)
    assert low < roc_auc_score(y, p) < high
    assert 0.02 < high - low < 0.08


def test_calibration_slope_is_one_for_calibrated_probabilities() -> None:
    rng = np.random.default_rng(11)
    p = rng.uniform(0.01, 0.6, 40_000)
    y = (rng.random(p.size) < p).astype(int)
    slope, intercept = metrics.calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.06)
    assert intercept == pytest.approx(0.0, abs=0.08)
    assert metrics.calibration_in_the_large(y, p) == pytest.approx(0.0, abs=0.03)
    # Over-confident predictions (log-odds doubled) have slope about one half.
    overconfident = metrics.expit(2 * metrics.logit(p))
    assert metrics.calibration_slope_intercept(y, overconfident)[0] == pytest.approx(0.5, abs=0.05)


def test_top_fraction_ppv_and_sensitivity_known_answer() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0] * 20)  # 200 people, 60 events
    p = np.linspace(1, 0, 200)  # already ranked
    result = metrics.top_fraction_metrics(y, p, fractions=(0.005, 0.05))
    assert result["flagged_top_0.5pct"] == 1 and result["ppv_top_0.5pct"] == 1.0
    assert result["flagged_top_5pct"] == 10
    assert result["ppv_top_5pct"] == pytest.approx(3 / 10)  # rows 0..9: 1,1,0,1,0,0,0,0,0,0
    assert result["sensitivity_top_5pct"] == pytest.approx(3 / 60)


def test_subgroup_flags_worse_discrimination_and_miscalibration() -> None:
    rng = np.random.default_rng(2)
    n = 6000
    group = rng.choice(["a", "b", "c"], n)
    p = rng.uniform(0.05, 0.5, n)
    y = (rng.random(n) < p).astype(int)
    scored = p.copy()
    scored[group == "b"] = rng.uniform(0.05, 0.5, (group == "b").sum())  # noise: no discrimination
    scored[group == "c"] = p[group == "c"] * 0.5  # risk halved: O/E about 2
    overall = roc_auc_score(y, scored)
    table = metrics.subgroup_table(
        y,
        scored,
        pd.DataFrame({"sex": group}),
        overall_auroc=overall,
        rule=metrics.FlagRule(min_events=20, oe_tolerance=0.25),
        samples=100,
        seed=1,
    ).set_index("level")
    assert not table.at["a", "flag_worse_discrimination"] and not table.at["a", "flag_miscalibrated"]
    assert table.at["b", "flag_worse_discrimination"]
    assert table.at["c", "flag_miscalibrated"] and table.at["c", "oe_ratio"] == pytest.approx(2.0, rel=0.1)


def test_subgroups_with_few_events_are_not_judged() -> None:
    y = np.array([1, 0, 0, 0, 1, 0])
    p = np.array([0.1, 0.9, 0.8, 0.7, 0.2, 0.6])
    table = metrics.subgroup_table(
        y, p, pd.DataFrame({"sex": ["F"] * 6}), overall_auroc=0.9, rule=metrics.FlagRule(), samples=10, seed=1
    )
    assert not table.at[0, "judged"] and not table.at[0, "flag_worse_discrimination"]
    assert table.at[0, "auroc"] == 0.0


def test_single_class_gives_missing_not_an_error() -> None:
    result = metrics.evaluate(np.zeros(5, dtype=int), np.full(5, 0.1), samples=10, seed=1)
    assert math.isnan(result["auroc"]) and math.isnan(result["calibration_slope"])


def test_fast_paths_agree_with_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import precision_score, recall_score

    rng = np.random.default_rng(8)
    p = rng.uniform(0.02, 0.7, 3000)
    y = (rng.random(3000) < metrics.expit(1.3 * metrics.logit(p) + 0.2)).astype(int)
    reference = LogisticRegression(C=np.inf, max_iter=1000, tol=1e-10).fit(metrics.logit(p).reshape(-1, 1), y)
    slope, intercept = metrics.calibration_slope_intercept(y, p)
    assert slope == pytest.approx(reference.coef_[0, 0], abs=1e-4)
    assert intercept == pytest.approx(reference.intercept_[0], abs=1e-4)
    top = metrics.top_fraction_metrics(y, p, fractions=(0.01, 0.05))
    for fraction, label in ((0.01, "1pct"), (0.05, "5pct")):
        flagged = np.zeros(y.size, dtype=int)
        flagged[np.argsort(-p, kind="stable")[: int(np.ceil(fraction * y.size))]] = 1
        assert top[f"ppv_top_{label}"] == pytest.approx(precision_score(y, flagged))
        assert top[f"sensitivity_top_{label}"] == pytest.approx(recall_score(y, flagged))


def test_subgroup_calibration_slopes_recover_known_slopes_and_flag_those_outside_the_target() -> None:
    rng = np.random.default_rng(21)
    n = 60_000
    group = np.repeat(["calibrated", "too_extreme", "too_modest"], n // 3)
    true_logit = rng.normal(-2.0, 1.0, n)
    y = (rng.random(n) < metrics.expit(true_logit)).astype(int)
    # logit(p) = k * true logit, so the recalibration logit P(y) = a + b logit(p) has b = 1 / k and a = 0.
    stretch = np.select([group == "too_extreme", group == "too_modest"], [2.0, 0.5], 1.0)
    p = metrics.expit(stretch * true_logit)
    table = metrics.subgroup_table(
        y,
        p,
        pd.DataFrame({"sex": group}),
        overall_auroc=roc_auc_score(y, p),
        rule=metrics.FlagRule(slope_range=(0.9, 1.1)),
        samples=0,
        seed=1,
    ).set_index("level")
    assert table.at["calibrated", "calibration_slope"] == pytest.approx(1.0, abs=0.05)
    assert table.at["too_extreme", "calibration_slope"] == pytest.approx(0.5, abs=0.03)
    assert table.at["too_modest", "calibration_slope"] == pytest.approx(2.0, abs=0.1)
    for level in table.index:
        assert table.at[level, "calibration_intercept"] == pytest.approx(0.0, abs=0.1)
    assert table["flag_slope_outside_target"].to_dict() == {
        "calibrated": False,
        "too_extreme": True,
        "too_modest": True,
    }
    # The range is a setting: widened to 0.4-2.5, nothing is outside it.
    wide = metrics.subgroup_table(
        y, p, pd.DataFrame({"sex": group}), overall_auroc=0.7, rule=metrics.FlagRule(slope_range=(0.4, 2.5)),
        samples=0, seed=1,
    )  # fmt: skip
    assert not wide["flag_slope_outside_target"].any()


def test_slope_in_target_bounds_are_inclusive_and_a_missing_slope_is_outside() -> None:
    rule = metrics.FlagRule(slope_range=(0.9, 1.1))
    assert rule.slope_in_target(0.9) and rule.slope_in_target(1.1) and rule.slope_in_target(1.0)
    assert not rule.slope_in_target(0.89) and not rule.slope_in_target(1.11)
    assert not rule.slope_in_target(math.nan)


def test_paired_auroc_difference_interval_is_seeded_and_zero_for_the_same_score() -> None:
    rng = np.random.default_rng(4)
    p = rng.random(3000)
    y = (rng.random(3000) < p).astype(int)
    worse = p + rng.normal(0, 0.3, p.size)
    interval = metrics.auroc_difference_ci(y, p, worse, samples=200, seed=2)
    assert interval == metrics.auroc_difference_ci(y, p, worse, samples=200, seed=2)
    assert interval[0] < roc_auc_score(y, p) - roc_auc_score(y, worse) < interval[1]
    assert metrics.auroc_difference_ci(y, p, p, samples=50, seed=2) == (0.0, 0.0)
    assert all(math.isnan(v) for v in metrics.auroc_difference_ci(np.zeros(5, dtype=int), p[:5], p[:5], 10, 1))


def test_perfectly_separated_outcomes_have_no_calibration_slope_rather_than_a_huge_one() -> None:
    p = np.linspace(0.01, 0.99, 200)
    y = (p > 0.5).astype(int)  # every event above every non-event: the maximum-likelihood slope is infinite
    slope, intercept = metrics.calibration_slope_intercept(y, p)
    assert math.isnan(slope) and math.isnan(intercept)
    table = metrics.subgroup_table(
        y, p, pd.DataFrame({"sex": ["F"] * 200}), overall_auroc=1.0, rule=metrics.FlagRule(), samples=0, seed=1
    )
    assert table.at[0, "judged"] and not table.at[0, "flag_slope_outside_target"]
