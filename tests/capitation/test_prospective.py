import pandas as pd

from popheath.capitation import prospective

from .planted import make_people, yearly_costs


def _frame(people: pd.DataFrame, year: int) -> pd.DataFrame:
    features, costs = yearly_costs(people, year, seed=3)
    frame = people.merge(features, on="person_key")
    frame = frame.merge(costs.groupby("person_key", as_index=False)["cost"].sum(), on="person_key", how="left")
    return frame.assign(
        cost_total=frame["cost"].fillna(0.0),
        person_years=1.0,
        age=year - frame["birth_year"],
        segment=frame["chronic"].map({True: "long_term_condition", False: "mostly_healthy"}),
    )


def test_risk_adjusted_model_beats_age_sex_at_practice_level() -> None:
    people = make_people(4000, seed=3)
    train, test = _frame(people, 2023), _frame(people, 2024)
    features = ["chronic_condition", "emergency_admissions_12m", "noise"]
    result = prospective.run_prospective(train, test, features, seed=1, rounds=120)
    metrics = result.metrics.set_index("model")
    assert metrics.loc["risk_adjusted", "practice_r2"] > metrics.loc["age_sex", "practice_r2"] + 0.2
    assert metrics.loc["risk_adjusted", "person_r2"] > metrics.loc["age_sex", "person_r2"]
    assert metrics.loc["risk_adjusted", "practices"] == 30
    ratios = result.predictive_ratios.set_index("segment")["predictive_ratio_risk_adjusted"]
    assert ratios.between(0.85, 1.15).all()
    # The age-sex model cannot see the condition: it under-predicts those who have it.
    assert result.predictive_ratios.set_index("segment").loc["long_term_condition", "predictive_ratio_age_sex"] < 0.8
    assert list(result.deciles["decile"]) == list(range(1, 11))
    assert result.feature_importance["feature"].iloc[0] in {"chronic_condition", "emergency_admissions_12m"}


def test_weighted_metrics_known_answers() -> None:
    import numpy as np

    actual, predicted, weight = np.array([1.0, 3.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0])
    assert prospective.weighted_r2(actual, predicted, weight) == -1.0  # SSE 4, SST 2
    assert prospective.weighted_mae(actual, predicted, np.array([3.0, 1.0])) == 0.5
