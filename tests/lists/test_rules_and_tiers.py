from __future__ import annotations

from pathlib import Path

import pytest

from popheath.errors import ConfigError, InputError
from popheath.lists.rules import compile_rules, load_rules
from popheath.lists.tiers import tier_for_position
from popheath.quality.nhs_number import is_valid_nhs_number


def test_shipped_rules_are_ordered_highest_need_first_and_cite_sources() -> None:
    rules = load_rules()
    assert rules.segments == (
        "end_of_life",
        "care_home",
        "frailty_severe",
        "frailty_moderate",
        "frailty_mild",
        "multimorbidity",
        "one_long_term_condition",
        "mostly_healthy",
    )
    text = rules.source.read_text()
    assert "Lynn J" in text and "Milbank" in text and "Bridges to Health Segmentation Dataset" in text
    assert rules.columns() == {
        "cohort": ["care_home", "hfrs", "age"],
        "features": ["end_of_life_proxy", "long_term_conditions"],
    }


def test_rule_values_are_parameters_not_sql_text() -> None:
    compiled = compile_rules(load_rules())
    assert "15" not in compiled.segment_sql
    assert compiled.params["rule2_value0"] == 15.0
    assert compiled.params["rule2_segment"] == "frailty_severe"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("rules: []\ndefault: {segment: healthy}\n", "rules"),
        ("rules:\n  - {segment: x, all: [{column: person.age, op: '>', value: 1}]}\ndefault: {segment: h}\n", "column"),
        ("rules:\n  - {segment: x, all: [{column: cohort.age, op: '~', value: 1}]}\ndefault: {segment: h}\n", "op"),
        ("rules:\n  - {segment: x, all: [{column: cohort.age, op: '>'}]}\ndefault: {segment: h}\n", "value"),
        ("rules:\n  - {segment: h, all: [{column: cohort.age, op: truthy}]}\ndefault: {segment: h}\n", "segment"),
        (
            'rules:\n  - {segment: x, all: [{column: "cohort.age; drop table x", op: truthy}]}\n'
            "default: {segment: h}\n",
            "column",
        ),
    ],
)
def test_bad_rules_name_the_field(tmp_path: Path, body: str, field: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(body)
    with pytest.raises(InputError, match=field) as caught:
        load_rules(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("position", "scored", "tier"),
    [
        (5, 1000, "very_high"),  # top 0.5% of 1000 is exactly 5 people
        (6, 1000, "high"),
        (50, 1000, "high"),
        (51, 1000, "moderate"),
        (200, 1000, "moderate"),
        (201, 1000, "low"),
        (1, 100, "high"),  # 0.5% of 100 is half a person: nobody is very high
        (5, 100, "high"),
        (20, 100, "moderate"),
        (21, 100, "low"),
    ],
)
def test_tier_for_position(position: int, scored: int, tier: str) -> None:
    assert tier_for_position(position, scored) == tier


def test_tier_bound_survives_floating_point() -> None:
    # 0.07 * 100 = 7.000000000000001 and 0.29 * 100 = 28.999999999999996: rank 7 and 29 are inside.
    assert tier_for_position(7, 100, (0.005, 0.07, 0.29)) == "high"
    assert tier_for_position(29, 100, (0.005, 0.07, 0.29)) == "moderate"
    assert tier_for_position(30, 100, (0.005, 0.07, 0.29)) == "low"


def test_tier_cutoffs_must_increase() -> None:
    with pytest.raises(ConfigError, match="tier_cutoffs"):
        tier_for_position(1, 10, (0.2, 0.05, 0.5))


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("9434765919", True),  # NHS Digital's published test number
        ("943 476 5919", True),
        ("943-476-5919", True),
        ("9434765918", False),  # wrong check digit
        ("1000000010", False),  # check digit would be 10: never issued
        ("3F9A0C21B7D4E815", False),  # a pseudonymised token
        ("94347659190", False),
        (None, False),
    ],
)
def test_nhs_number_check(value: str | None, valid: bool) -> None:
    assert is_valid_nhs_number(value) is valid
