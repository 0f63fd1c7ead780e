"""SHAP contributions computed tree by tree on distinct split patterns equal LightGBM's own pred_contrib."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from popheath.modelling import estimators


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(1.0, size=(rows, 4)).astype(float)  # many zeros and ties, like activity counts
    age = rng.integers(65, 100, size=(rows, 1)).astype(float)
    days = rng.exponential(200.0, size=(rows, 2))
    days[rng.random(rows) < 0.4, 0] = np.nan  # "days since discharge" is missing for most people
    x = np.hstack([counts, age, days])
    logit = -3 + 0.6 * counts[:, 0] + 0.04 * (age[:, 0] - 65) + np.where(np.isnan(days[:, 0]), 0.0, -0.002 * days[:, 0])
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


@pytest.mark.parametrize(
    ("num_leaves", "rounds", "zero_as_missing"),
    [(15, 40, False), (63, 25, False), (7, 30, True)],
)
def test_contributions_equal_lightgbm_pred_contrib(num_leaves: int, rounds: int, zero_as_missing: bool) -> None:
    x, y = _data(4_000, seed=num_leaves)
    params = {
        "objective": "binary",
        "num_leaves": num_leaves,
        "min_child_samples": 5,
        "learning_rate": 0.1,
        "zero_as_missing": zero_as_missing,
        "verbose": -1,
        "deterministic": True,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=rounds)
    scored = np.vstack([x[:1_000], [[0.0, 0.0, 0.0, 0.0, 80.0, np.nan, np.nan]]])
    expected = booster.predict(scored, pred_contrib=True)
    actual = estimators.contributions(booster, scored)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-10)
    # contributions plus bias add up to the raw score, as LightGBM's do
    np.testing.assert_allclose(actual.sum(axis=1), booster.predict(scored, raw_score=True), atol=1e-10)


def test_contributions_stop_at_the_best_iteration() -> None:
    x, y = _data(3_000, seed=7)
    fit, valid = np.arange(2_000), np.arange(2_000, 3_000)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 15, "learning_rate": 0.3, "verbose": -1, "num_threads": 1},
        lgb.Dataset(x[fit], y[fit]),
        num_boost_round=200,
        valid_sets=[lgb.Dataset(x[valid], y[valid])],
        callbacks=[lgb.early_stopping(5, verbose=False)],
        keep_training_booster=True,
    )
    assert 0 < booster.best_iteration < booster.current_iteration()
    expected = booster.predict(x[valid], num_iteration=booster.best_iteration, pred_contrib=True)
    np.testing.assert_allclose(estimators.contributions(booster, x[valid]), expected, rtol=0, atol=1e-10)


def test_contributions_of_trees_splitting_on_many_features() -> None:
    """Wide trees over 60 features: the pattern number is renumbered before it would overflow."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6_000, 60))
    y = (x.sum(axis=1) + rng.normal(size=6_000) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 255, "min_child_samples": 5, "verbose": -1},
        lgb.Dataset(x, y),
        num_boost_round=5,
    )
    used = max(
        len({n["split_feature"] for n in _internal(t["tree_structure"])}) for t in booster.dump_model()["tree_info"]
    )
    assert 4**used >= 2**62
    np.testing.assert_allclose(
        estimators.contributions(booster, x[:500]), booster.predict(x[:500], pred_contrib=True), rtol=0, atol=1e-10
    )


def _internal(node: dict) -> list[dict]:
    if "split_feature" not in node:
        return []
    return [node, *_internal(node["left_child"]), *_internal(node["right_child"])]
