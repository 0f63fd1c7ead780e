"""Known-answer tests for link accuracy metrics, the m floor and the model specification."""

from __future__ import annotations

import json

import pytest

from popheath.errors import InputError
from popheath.linkage.accuracy import accuracy
from popheath.linkage.probabilistic import floor_m_probabilities
from popheath.linkage.spec import load_spec


def test_accuracy_counts_wrong_links_against_precision_and_recall() -> None:
    best = ["A", "B", "C", "D", None]
    probability = [0.99, 0.95, 0.6, 0.97, None]
    truth = ["A", "X", "C", "D", "E"]
    in_spine = [True, True, True, False, True]
    result = accuracy(best, probability, truth, in_spine, threshold=0.9)
    # linked: A (right), B (wrong), D (right token but not linkable, still a true link); C below threshold
    assert (result.linked, result.true_positives, result.linkable) == (3, 2, 4)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(2 / 4)
    assert result.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    # Wilson 95% interval of 2 right of 3 linked: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    assert (result.precision_low, result.precision_high) == pytest.approx((0.2077, 0.9385), abs=1e-4)


def test_m_floor_removes_vetoes_and_keeps_probabilities_summing_to_one() -> None:
    model = {
        "comparisons": [
            {
                "comparison_levels": [
                    {"is_null_level": True},
                    {"m_probability": 0.999},
                    {"m_probability": 0.0},
                    {"m_probability": 0.001},
                ]
            }
        ]
    }
    floored = floor_m_probabilities(model, 0.01)
    ms = [level["m_probability"] for level in floored["comparisons"][0]["comparison_levels"][1:]]
    assert sum(ms) == pytest.approx(1.0)
    assert min(ms) == pytest.approx(0.01 / 1.019)
    assert model["comparisons"][0]["comparison_levels"][2]["m_probability"] == 0.0  # input untouched


def test_shipped_spec_is_link_only_with_fixed_client_levels() -> None:
    spec = load_spec()
    settings = spec.settings_for_run(1e-5, {"asc_client": {"candidate is a known ASC client": (0.9, 0.2)}})
    assert settings["link_type"] == "link_only"
    assert all(isinstance(rule, str) for rule in settings["blocking_rules_to_generate_predictions"])
    client = next(c for c in settings["comparisons"] if c["output_column_name"] == "asc_client")
    level = next(
        lv for lv in client["comparison_levels"] if lv["label_for_charts"] == "candidate is a known ASC client"
    )
    assert (level["m_probability"], level["u_probability"], level["fix_m_probability"]) == (0.9, 0.2, True)


def test_bad_spec_names_file_and_field(tmp_path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(
        json.dumps(
            {
                "splink_settings": {
                    "link_type": "dedupe_only",
                    "comparisons": [],
                    "blocking_rules_to_generate_predictions": [],
                },
                "training": {},
                "candidates": {},
            }
        )
    )
    with pytest.raises(InputError, match="link_type"):
        load_spec(path)


def test_ethnic_agreement_is_weighted_by_how_common_the_code_is() -> None:
    """Agreeing on a code shared by few residents is stronger evidence than on the most common one.

    Splink's term-frequency adjustment on the exact level replaces its average u by the code's share
    of records; the other ethnicity levels keep the comparison's own u.
    """
    settings = load_spec().settings_for_run(1e-5)
    ethnicity = next(c for c in settings["comparisons"] if c["output_column_name"] == "ethnic_category")
    adjusted = {
        level["label_for_charts"]: level.get("tf_adjustment_column") for level in ethnicity["comparison_levels"]
    }
    assert adjusted == {
        "ethnicity missing": None,
        "same ethnic category": "ethnic_category",
        "same broad ethnic group": None,
        "different ethnic group": None,
    }
