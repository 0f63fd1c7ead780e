"""The logistic candidate: L2 strength chosen by cross-validation on the training date, honest out-of-fold risks."""

import numpy as np
import pytest

from popheath.modelling import estimators
from popheath.modelling.metrics import calibration_slope_intercept

NAMES = [f"feature_{i}" for i in range(12)]


def _planted(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Three features carry the risk (age, admissions, a score); nine are noise counts; ~6% have the outcome."""
    x = np.column_stack([rng.uniform(65, 95, n), rng.poisson(0.3, n), rng.gamma(1.0, 2.0, n), rng.poisson(2.0, (n, 9))])
    true_logit = -6.5 + 0.05 * x[:, 0] + 0.6 * x[:, 1] + 0.15 * x[:, 2]
    return x, (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)


def test_c_is_chosen_by_cross_validated_log_loss_and_the_model_calibrates_on_new_people() -> None:
    rng = np.random.default_rng(11)
    x, y = _planted(20_000, rng)
    fit = estimators.train_logistic(x, y, NAMES, seed=3)
    losses = fit.cv_log_loss
    assert set(losses) == set(estimators.LOGISTIC_C_GRID)
    assert fit.model.c == min(losses, key=losses.__getitem__)
    assert losses[fit.model.c] < losses[estimators.LOGISTIC_C_GRID[0]]  # the strongest penalty underfits
    # Out-of-fold risks are predictions for people each fold's model never saw: one per training person.
    assert fit.out_of_fold.shape == y.shape and 0 < fit.out_of_fold.min() and fit.out_of_fold.max() < 1
    assert fit.out_of_fold.mean() == pytest.approx(y.mean(), abs=0.005)
    x_new, y_new = _planted(100_000, rng)
    slope, _ = calibration_slope_intercept(y_new, fit.model.predict(x_new))
    assert 0.9 <= slope <= 1.1


def test_recalibration_is_judged_on_the_out_of_fold_risks_of_every_training_person() -> None:
    rng = np.random.default_rng(12)
    x, y = _planted(5_000, rng)
    fit = estimators.train_logistic(x, y, NAMES, seed=3)
    overconfident = 1 / (1 + np.exp(-2.0 * np.log(fit.out_of_fold / (1 - fit.out_of_fold))))
    judged = estimators.choose_recalibration(overconfident, y, estimators.OUT_OF_FOLD)
    assert judged.applied and judged.slope == pytest.approx(0.5, abs=0.1)
    assert estimators.OUT_OF_FOLD in judged.reason
    kept = estimators.choose_recalibration(fit.out_of_fold, y, estimators.OUT_OF_FOLD)
    assert not kept.applied and 0.9 <= kept.validation_slope <= 1.1


def _fading(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Admissions weigh heavily at 65 and ever less with age, down to nothing at 100; age adds a little."""
    age = rng.uniform(65, 100, n)
    admissions = rng.poisson(0.5, n)
    true_logit = -2.6 + 0.02 * (age - 65) + 1.5 * (100 - age) / 35 * admissions
    return np.column_stack([age, admissions]), (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)


@pytest.mark.parametrize(("names", "interacts"), [(["age", "admissions"], True), (["years", "admissions"], False)])
def test_a_predictor_whose_weight_fades_with_age_is_calibrated_in_each_age_band(names, interacts) -> None:
    rng = np.random.default_rng(13)
    x, y = _fading(20_000, rng)
    fit = estimators.train_logistic(x, y, names, seed=2)
    assert (fit.model.age_column == 0) is interacts
    x_new, y_new = _fading(200_000, rng)
    risk = fit.model.predict(x_new)
    slopes = [calibration_slope_intercept(y_new[band], risk[band])[0] for band in (x_new[:, 0] < 75, x_new[:, 0] >= 85)]
    # Without the age interaction admissions get their average weight: under-confident at 65-74 and
    # over-confident at 85+.
    assert all(0.9 <= slope <= 1.1 for slope in slopes) is interacts, slopes
