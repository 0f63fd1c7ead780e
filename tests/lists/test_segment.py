from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from popheath import config
from popheath.errors import StageError
from popheath.stages import segment

from .listworld import P, World, tok

AS_OF = date(2025, 4, 1)


def _segments(world: World) -> dict[str, tuple[str, str, str, str]]:
    con = world.connect()
    try:
        rows = con.execute(
            "SELECT person_key, segment, tier, segment_rule, segment_evidence FROM segments WHERE as_of = ?", [AS_OF]
        ).fetchall()
    finally:
        con.close()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def test_each_rule_on_hand_made_people(world: World, settings: config.Settings) -> None:
    people = {
        "eol_beats_care_home": P(tok(1), eol=True, care_home=True, hfrs=20),
        "care_home_beats_frailty": P(tok(2), care_home=True, hfrs=20),
        "severe_above_15": P(tok(3), hfrs=15.1, ltc=3),
        "moderate_at_15": P(tok(4), hfrs=15.0),
        "moderate_at_5": P(tok(5), hfrs=5.0),
        "mild_under_5": P(tok(6), hfrs=4.9, ltc=2),
        "young_low_hfrs_two_ltc": P(tok(7), age=50, hfrs=4.9, ltc=2),
        "one_ltc": P(tok(8), age=50, hfrs=0.0, ltc=1),
        "healthy": P(tok(9), age=40, hfrs=0.0, ltc=0),
        "missing_values_are_no_evidence": P(tok(10), age=70, hfrs=None, ltc=None),
    }
    world.add(AS_OF, list(people.values()))
    segment.run(settings, AS_OF)
    got = _segments(world)
    expected = {
        "eol_beats_care_home": "end_of_life",
        "care_home_beats_frailty": "care_home",
        "severe_above_15": "frailty_severe",
        "moderate_at_15": "frailty_moderate",
        "moderate_at_5": "frailty_moderate",
        "mild_under_5": "frailty_mild",
        "young_low_hfrs_two_ltc": "multimorbidity",
        "one_ltc": "one_long_term_condition",
        "healthy": "mostly_healthy",
        "missing_values_are_no_evidence": "mostly_healthy",
    }
    assert {name: got[p.key][0] for name, p in people.items()} == expected
    # Nobody is scored here: every tier is not_scored.
    assert {row[1] for row in got.values()} == {"not_scored"}
    severe = got[people["severe_above_15"].key]
    # Rule trace and evidence in words, from the rules file's labels (no "cohort.hfrs > 15.0").
    assert severe[2] == "Severe frailty (rules 2025.1): Hospital Frailty Risk Score above 15"
    assert severe[3] == "Hospital Frailty Risk Score: 15.1"
    assert got[people["eol_beats_care_home"].key][2:] == (
        "End of life (proxy) (rules 2025.1): palliative care recorded in the last 12 months",
        "palliative care recorded in the last 12 months: yes",
    )
    mild = got[people["mild_under_5"].key]
    assert mild[2] == "Mild frailty (rules 2025.1): Hospital Frailty Risk Score above 0 and age 65 or more"
    assert mild[3] == "Hospital Frailty Risk Score: 4.9; age: 80"
    healthy = got[people["missing_values_are_no_evidence"].key]
    assert healthy[2] == "Mostly healthy (rules 2025.1): no rule applied"
    assert "long-term conditions recorded: not recorded" in healthy[3]
    assert "Hospital Frailty Risk Score: not recorded" in healthy[3]
    assert "lives in a care home: no" in healthy[3]
    for _segment, _tier, rule, evidence in got.values():
        assert not any(raw in rule + evidence for raw in ("cohort.", "features.", ">", "<", "=="))


def test_tiers_by_rank_in_scored_population_and_pyramid(world: World, settings: config.Settings) -> None:
    # 1000 scored people with distinct risks, plus 3 unscored.
    people = [P(tok(i), pcn="PCN1" if i % 2 else "PCN2", risk=1 - i / 2000) for i in range(1, 1001)]
    people += [P(tok(5000 + i), age=40) for i in range(3)]
    world.add(AS_OF, people)
    result = segment.run(settings, AS_OF)
    got = _segments(world)
    tiers = [got[tok(i)][1] for i in range(1, 1001)]
    assert tiers.count("very_high") == 5 and tiers[:5] == ["very_high"] * 5
    assert tiers.count("high") == 45 and tiers.count("moderate") == 150 and tiers.count("low") == 800
    assert tiers[5] == "high" and tiers[50] == "moderate" and tiers[200] == "low"
    assert [got[tok(5000 + i)][1] for i in range(3)] == ["not_scored"] * 3
    assert result.summary["scored"] == 1000 and result.summary["people"] == 1003
    con = world.connect()
    pyramid = dict(
        ((pcn, tier), n)
        for pcn, tier, n in con.execute(
            "SELECT pcn_code, tier, sum(people) FROM pyramid WHERE as_of = ? GROUP BY ALL", [AS_OF]
        ).fetchall()
    )
    con.close()
    # Odd tokens (PCN1) hold ranks 1, 3, 5: three of the five very high.
    assert pyramid[("PCN1", "very_high")] == 3 and pyramid[("PCN2", "very_high")] == 2
    assert sum(pyramid.values()) == 1003


def test_equal_risks_share_a_tier(world: World, settings: config.Settings) -> None:
    # 200 people: very high is rank <= 1. Two people tie for the top risk: both rank 1, both very high.
    people = [P(tok(i), risk=0.5 - i / 1000) for i in range(3, 201)] + [P(tok(1), risk=0.9), P(tok(2), risk=0.9)]
    world.add(AS_OF, people)
    segment.run(settings, AS_OF)
    got = _segments(world)
    assert got[tok(1)][1] == got[tok(2)][1] == "very_high"
    assert got[tok(3)][1] == "high"


def test_rerun_replaces_the_date(world: World, settings: config.Settings) -> None:
    world.add(AS_OF, [P(tok(1), risk=0.3), P(tok(2))])
    segment.run(settings, AS_OF)
    segment.run(settings, AS_OF)
    con = world.connect()
    counts = con.execute("SELECT count(*), count(DISTINCT person_key) FROM segments").fetchone()
    con.close()
    assert counts == (2, 2)


def test_rule_on_a_missing_column_names_it(world: World, settings: config.Settings, tmp_path: Path) -> None:
    world.add(AS_OF, [P(tok(1))])
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {segment: dementia, all: [{column: features.dementia, op: truthy}]}\ndefault: {segment: other}\n"
    )
    import dataclasses

    custom = dataclasses.replace(settings, lists=dataclasses.replace(settings.lists, segment_rules=rules))
    with pytest.raises(StageError, match=r"features\.dementia"):
        segment.run(custom, AS_OF)
