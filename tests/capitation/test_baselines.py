import numpy as np
import pandas as pd
import pytest

from popheath.capitation import baselines


def _population(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "segment": rng.choice(["a", "b"], n),
            "age_band": rng.choice(["65-74", "75-84"], n),
            "sex": rng.choice(["M", "F"], n),
            "place": "North",
            "tier": rng.choice(["low", "high"], n),
            "is_frail": rng.random(n) < 0.5,
            "person_years": rng.choice([1.0, 0.5], n),
            "cost_total": rng.gamma(0.7, 2000, n),
        }
    )
    frame["cost_acute"] = frame["cost_total"] * 0.6
    frame["cost_community"] = frame["cost_total"] * 0.1
    frame["cost_social_care"] = frame["cost_total"] * 0.3
    return frame


def _table(frame: pd.DataFrame, seed: int, samples: int = 200, dims=("segment", "sex")) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    capped, _ = baselines.cap_costs(frame, 99.0)
    frame = frame.assign(cost_capped=capped.to_numpy())
    codes, cells = baselines.finest_codes(frame)
    boot = baselines.bootstrap_sums(
        codes,
        cells,
        frame["cost_total"].to_numpy(),
        frame["cost_capped"].to_numpy(),
        frame["person_years"].to_numpy(),
        samples,
        seed,
    )
    return baselines.summarise(frame, boot, codes, dims)


def test_bootstrap_is_reproducible_with_a_seed() -> None:
    frame = _population()
    first, again, other = _table(frame, 7), _table(frame, 7), _table(frame, 8)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ci_low"], other["ci_low"])


def test_means_are_exposure_weighted_and_margins_add_up() -> None:
    frame = _population()
    table = _table(frame, 1)
    total = table[(table["segment"] == "All") & (table["sex"] == "All")].iloc[0]
    assert total["people"] == len(frame)
    assert total["person_years"] == pytest.approx(frame["person_years"].sum())
    assert total["mean_cost"] == pytest.approx(frame["cost_total"].sum() / frame["person_years"].sum())
    cells = table[(table["segment"] != "All") & (table["sex"] != "All")]
    assert cells["people"].sum() == len(frame) and len(cells) == 4
    seg_a = table[(table["segment"] == "a") & (table["sex"] == "All")].iloc[0]
    part = frame[frame["segment"] == "a"]
    assert seg_a["mean_cost"] == pytest.approx(part["cost_total"].sum() / part["person_years"].sum())
    assert seg_a["median_cost"] == pytest.approx((part["cost_total"] / part["person_years"]).median())
    assert seg_a["mean_acute"] == pytest.approx(0.6 * seg_a["mean_cost"])
    assert (table["ci_low"] < table["mean_cost"]).all() and (table["mean_cost"] < table["ci_high"]).all()
    assert (table["mean_cost_capped"] <= table["mean_cost"] + 1e-9).all()


def test_constant_cost_gives_a_degenerate_interval() -> None:
    frame = _population().assign(cost_total=300.0, person_years=1.0)
    table = _table(frame, 3, samples=50)
    assert np.allclose(table["ci_low"], 300.0) and np.allclose(table["ci_high"], 300.0)


def test_bootstrap_interval_matches_the_textbook_standard_error() -> None:
    # For a full-year population the bootstrap 95% interval of the mean is close to mean +/- 1.96 sd/sqrt(n).
    frame = _population(n=4000, seed=5).assign(person_years=1.0)
    table = _table(frame, 11, samples=400, dims=("place",))
    row = table[table["place"] == "North"].iloc[0]
    half_width = 1.96 * frame["cost_total"].std() / np.sqrt(len(frame))
    assert (row["ci_high"] - row["ci_low"]) / 2 == pytest.approx(half_width, rel=0.15)


def test_outlier_cap_is_on_annualised_cost() -> None:
    frame = pd.DataFrame({"cost_total": [100.0, 100.0, 100.0, 10_000.0], "person_years": [1.0, 1.0, 0.5, 1.0]})
    capped, cap = baselines.cap_costs(frame, 50.0)
    assert cap == pytest.approx(150.0)  # median of 100, 100, 200, 10000
    assert list(capped) == [100.0, 100.0, 75.0, 150.0]


def test_lorenz_and_top_share() -> None:
    people, share, gini = baselines.lorenz_curve(np.array([0.0, 0.0, 0.0, 100.0]), points=5)
    assert share[-1] == pytest.approx(1.0) and share[2] == pytest.approx(0.0)
    assert gini == pytest.approx(0.75)
    assert baselines.top_share(np.array([1.0] * 19 + [81.0]), 0.05) == pytest.approx(0.81)
