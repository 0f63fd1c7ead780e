"""The list evaluation recovers a planted intervention effect, and reports none when none is planted."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from popheath.evaluation.matching import (
    contact_cases,
    count_admissions_frame,
    effect_table,
    match_controls,
)
from popheath.evaluation.suitability import add_order, fit_suitability, judgements, top_n_overlap
from popheath.lists.feedback import INTERVENTION_ACTIONS
from popheath.synth.intervention import plant_intervention

FOLLOW_UP_END = date(2025, 5, 1)


def _evaluate(rate_ratio: float, seed: int = 7) -> pd.DataFrame:
    world = plant_intervention(people=8000, rate_ratio=rate_ratio, seed=seed)
    cases = contact_cases(world.actions, world.list_date, None, INTERVENTION_ACTIONS)
    matched = match_controls(world.population, cases, caliper=0.05)
    assert matched.cases == world.contacted and matched.unmatched < 0.02 * matched.cases
    assert (matched.pairs["case_risk"] - matched.pairs["control_risk"]).abs().max() <= 0.05
    table = effect_table(
        matched.pairs, count_admissions_frame(world.admissions), (6, 12), bootstrap=200, follow_up_end=FOLLOW_UP_END
    )
    return table.set_index("horizon_months")


@pytest.mark.parametrize("planted", [0.6, 1.0])
def test_planted_rate_ratio_is_recovered(planted: float) -> None:
    table = _evaluate(planted)
    for horizon in (6, 12):
        row = table.loc[horizon]
        assert row["rate_ratio_lower"] <= planted <= row["rate_ratio_upper"], (horizon, row.to_dict())
        if planted == 1.0:
            assert row["did_lower"] <= 0 <= row["did_upper"]
        else:
            assert row["rate_ratio_upper"] < 1 and row["did_upper"] < 0
    # Regression to the mean: with no effect the contacted still fall after their peak.
    if planted == 1.0:
        assert table.loc[12, "naive_before_after_change"] < -0.05


def test_matching_is_exact_on_strata_and_without_replacement() -> None:
    population = pd.DataFrame(
        {
            "person_key": list("abcdefg"),
            "risk": [0.50, 0.49, 0.48, 0.20, 0.51, 0.52, 0.30],
            "age_band": ["85+", "85+", "85+", "85+", "75-84", "85+", "85+"],
            "segment": ["x"] * 7,
            "pcn_code": ["P"] * 7,
        }
    )
    cases = pd.DataFrame({"person_key": ["a", "b"], "index_date": [date(2024, 4, 2)] * 2})
    matched = match_controls(population, cases, caliper=0.05)
    # a (0.50) takes f (0.52, nearest unused same band; e is another band), b (0.49) takes c (0.48).
    assert sorted(zip(matched.pairs["case"], matched.pairs["control"], strict=True)) == [("a", "f"), ("b", "c")]
    narrow = match_controls(population, cases, caliper=0.005)
    assert narrow.unmatched == 2 and narrow.pairs.empty


def test_suitability_model_learns_judgements_and_changes_the_order() -> None:
    rng = np.random.default_rng(3)
    n = 200
    people = pd.DataFrame(
        {
            "person_key": [f"{i:016X}" for i in range(n)],
            "risk": rng.uniform(0.1, 0.6, n),
            "age": rng.integers(66, 100, n),
            "hfrs": rng.uniform(0, 20, n),
            "care_home": (rng.random(n) < 0.2).astype(float),
            "social_care_long_term": (rng.random(n) < 0.3).astype(float),
        }
    )
    # Coordinators judge care-home residents unsuitable (already supported), others suitable.
    actions = pd.DataFrame(
        {
            "action_id": range(n),
            "pcn_code": "PCN1",
            "person_token": people["person_key"],
            "action": np.where(people["care_home"] == 1, "not_suitable", "contacted"),
            "action_date": date(2025, 1, 1),
        }
    )
    train = judgements(actions).merge(people, left_on="person_token", right_on="person_key")
    assert fit_suitability(train.head(10), min_judged=60).model is None
    fit = fit_suitability(train, min_judged=60)
    assert fit.model is not None and fit.judged == n
    lists = people.head(40).rename(columns={"person_key": "person_token"})[["person_token", "risk"]]
    lists = lists.assign(pcn_code="PCN1", list_rank=lists["risk"].rank(ascending=False, method="first").astype(int))
    ordered = add_order(lists, people, fit)
    home = people.head(40)["care_home"].to_numpy() == 1
    assert ordered["p_suitable"][home].max() < ordered["p_suitable"][~home].min()
    overlap = top_n_overlap(ordered, 10).iloc[0]
    assert overlap["top_n"] == 10 and overlap["in_both"] <= 10
    top_by_both = set(ordered.nsmallest(10, "suitability_rank")["person_token"])
    assert not top_by_both & set(ordered.loc[home, "person_token"])
