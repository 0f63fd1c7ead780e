"""The deployed model of a version: the logistic candidate's exact linear SHAP values, and loading either candidate."""

import json

import numpy as np
import pytest

from popheath.errors import StageError
from popheath.modelling import deployed, estimators, registry
from popheath.modelling.metrics import logit

NAMES = ["age", "hfrs", "days_since_last_emergency_discharge"]


def _logistic() -> tuple[estimators.LogisticBaseline, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    n = 3000
    x = np.column_stack([rng.uniform(65, 95, n), rng.gamma(1.5, 3.0, n), rng.uniform(1, 365, n)])
    x[rng.random(n) < 0.6, 2] = np.nan  # no emergency discharge: NULL
    true_logit = -6 + 0.05 * x[:, 0] + 0.15 * x[:, 1] + 1.0 * np.isnan(x[:, 2])
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    return estimators.train_logistic(x[:2000], y[:2000], NAMES, seed=1).model, x, y


def test_linear_contributions_add_up_to_the_log_odds_and_fold_in_the_missing_indicator() -> None:
    model, x, _ = _logistic()
    assert model.indicators == [False, False, True]
    contributions = model.contributions(x)
    assert contributions.shape == (x.shape[0], len(NAMES) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), logit(model.predict(x)), atol=1e-6)
    assert np.all(contributions[:, -1] == model.intercept)
    # Known answer for one person: coefficient x standardised value; the indicator's term and the
    # age interaction's (design columns: age, hfrs, days, days missing, hfrs x age, days x age) on the feature.
    design = model.design(x[:1])[0]
    beta = np.asarray(model.coefficients)
    assert model.age_column == 0 and design.size == 6
    assert contributions[0, 0] == pytest.approx(beta[0] * design[0])
    assert contributions[0, 1] == pytest.approx(beta[1] * design[1] + beta[4] * design[4])
    assert contributions[0, 2] == pytest.approx(beta[2] * design[2] + beta[3] * design[3] + beta[5] * design[5])
    # Against the training population the contributions average to about zero (SHAP's baseline).
    assert np.abs(model.contributions(x[:2000])[:, :-1].mean(axis=0)).max() < 1e-9


def _version(tmp_path, metrics: dict, training: dict, logistic: estimators.LogisticBaseline) -> registry.ModelVersion:
    files = {
        registry.METRICS_FILE: registry.dumps(metrics),
        registry.TRAINING_FILE: registry.dumps(training),
        registry.LOGISTIC_FILE: registry.dumps(logistic.to_dict()),
        registry.FEATURES_FILE: json.dumps({"features": NAMES, "feature_definition_version": "t"}),
    }
    path = registry.write_version(tmp_path, "acsc_admission_12m", "v1", files)
    return registry.ModelVersion("acsc_admission_12m", "v1", path)


def test_a_version_that_deploys_logistic_scores_with_it_and_its_recalibration(tmp_path) -> None:
    model, x, _ = _logistic()
    platt = estimators.Recalibration(True, "platt", -0.2, 0.8, 0.7, 0.1, "test")
    none = estimators.Recalibration(False, "none", 0.0, 1.0, 1.0, 0.0, "test")
    version = _version(
        tmp_path,
        {"primary_model": "logistic"},
        {"recalibration": {"lightgbm": none.to_dict(), "logistic": platt.to_dict()}},
        model,
    )
    loaded = deployed.load(version)
    assert loaded.kind == "logistic" and loaded.booster is None
    np.testing.assert_allclose(loaded.predict(x), platt.apply(model.predict(x)))
    np.testing.assert_allclose(loaded.contributions(x), model.contributions(x))


def test_a_version_from_before_the_champion_choice_deploys_lightgbm_with_its_single_recalibration(tmp_path) -> None:
    model, _, _ = _logistic()
    platt = estimators.Recalibration(True, "platt", -0.2, 0.8, 0.7, 0.1, "test")
    version = _version(tmp_path, {"outcome": "acsc_admission_12m"}, {"recalibration": platt.to_dict()}, model)
    assert deployed.deployed_kind(version.read_json(registry.METRICS_FILE)) == "lightgbm"
    with pytest.raises(StageError, match="model.txt: missing from the registered model"):
        deployed.load(version)  # it looks for the LightGBM file, with the flat recalibration accepted
