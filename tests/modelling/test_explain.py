from pathlib import Path

import numpy as np
import pytest

from popheath.clinical import feature_dictionary as dictionary
from popheath.errors import InputError
from popheath.modelling import explain

from .conftest import DICTIONARY_YAML


@pytest.fixture
def feature_dictionary(tmp_path: Path) -> dictionary.FeatureDictionary:
    path = tmp_path / "dictionary.yaml"
    path.write_text(DICTIONARY_YAML)
    return dictionary.load(path)


def test_top_positive_contributions_become_plain_words(feature_dictionary: dictionary.FeatureDictionary) -> None:
    names = ["emergency_admissions_12m", "hfrs", "age", "sex_female"]
    x = np.array([[2.0, 12.0, 81.0, 1.0], [0.0, 3.4, 70.0, 0.0]])
    contributions = np.array(
        [
            [0.9, 0.4, -0.2, 0.1, -2.0],  # last column: bias
            [-0.3, 0.5, -0.1, -0.2, -2.0],
        ]
    )
    indices, values = explain.top_contributions(contributions)
    # Candidates (up to REASON_CANDIDATES, here all 4 features); render_reasons keeps 3 reasons.
    assert indices.tolist() == [[0, 1, 3, -1], [1, -1, -1, -1]]
    reasons = explain.render_reasons(indices, x, names, feature_dictionary)
    assert reasons[0] == ["2 emergency admissions in the last 12 months", "frailty score 3.4"]
    assert reasons[1] == ["frailty score 12.0", None]
    # No template in the dictionary: description and value.
    assert reasons[2] == ["sex female: 1", None]  # undocumented feature: its name and value


def test_not_recorded_values_are_rendered_through_the_table(feature_dictionary: dictionary.FeatureDictionary) -> None:
    names = ["days_since_last_emergency_discharge", "hfrs"]
    x = np.array([[np.nan, 6.0], [30.0, 6.0], [np.nan, 2.0]])
    contributions = np.array([[0.5, 0.2, -1.0], [0.5, 0.2, -1.0], [0.1, -0.2, -1.0]])
    indices, _ = explain.top_contributions(contributions, k=2)
    first, second = explain.render_reasons(indices, x, names, feature_dictionary)
    assert first == [
        "days since last emergency discharge: not recorded",
        "discharged from an emergency admission 30 days ago",
        "days since last emergency discharge: not recorded",
    ]
    assert second == ["frailty score 6.0", "frailty score 6.0", None]


def test_missing_value_and_fallbacks(feature_dictionary: dictionary.FeatureDictionary) -> None:
    definition = feature_dictionary.definition("days_since_last_emergency_discharge")
    assert definition.render(float("nan")) == "days since last emergency discharge: not recorded"
    assert definition.render(14.0) == "discharged from an emergency admission 14 days ago"
    assert feature_dictionary.version == "test-1.0"
    care_home = feature_dictionary.definition("care_home")
    assert care_home.render(1.0) == "lives in a care home"
    assert care_home.render(0.0) == "care home: no"


def test_dictionary_as_a_list_and_bad_files(tmp_path: Path) -> None:
    listed = tmp_path / "listed.yaml"
    listed.write_text('version: 3\nfeatures:\n  - {name: hfrs, description: HFRS, reason: "HFRS {value:.0f}"}\n')
    loaded = dictionary.load(listed)
    assert loaded.version == "3" and loaded.definition("hfrs").render(7.0) == "HFRS 7"
    unversioned = tmp_path / "unversioned.yaml"
    unversioned.write_text("features: {}\n")
    with pytest.raises(InputError, match="version"):
        dictionary.load(unversioned)
    with pytest.raises(InputError, match="feature dictionary"):
        dictionary.load(tmp_path / "absent.yaml")


def test_mean_absolute_contribution_orders_features() -> None:
    contributions = np.array([[0.1, -0.5, 0.0, 1.0], [0.1, 0.3, 0.2, 1.0]])
    assert list(explain.mean_absolute_contribution(contributions, ["a", "b", "c"]).items()) == [
        ("b", pytest.approx(0.4)),
        ("a", pytest.approx(0.1)),
        ("c", pytest.approx(0.1)),
    ]


def test_card_section_is_replaced_not_appended_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from popheath.modelling import card

    path = tmp_path / "model_card.md"
    path.write_text("# Card\n\nbody\n", encoding="utf-8")
    card.replace_section(path, "coverage", "## Performance by data coverage\n\nfirst")
    card.replace_section(path, "coverage", "## Performance by data coverage\n\nsecond")
    text = path.read_text(encoding="utf-8")
    assert text.count("## Performance by data coverage") == 1 and "second" in text and "first" not in text
    assert text.startswith("# Card\n\nbody\n")


def _windows_dictionary(tmp_path: Path) -> dictionary.FeatureDictionary:
    path = tmp_path / "windows.yaml"
    path.write_text(
        "version: t\nfeatures:\n"
        + "".join(
            f"  emergency_admissions_{w}:\n    description: d\n"
            f"    reason: '{{value:.0f}} emergency admissions in the last {m}'\n    unit: admissions\n"
            for w, m in (("3m", "3 months"), ("12m", "12 months"))
        )
        + "  hfrs:\n    description: d\n    reason: 'frailty score {value:.1f}'\n    unit: score\n"
        + "  emergency_bed_days_3m:\n    description: d\n"
        + "    reason: '{value:.0f} days in hospital after emergency admissions in the last 3 months'\n"
        + "    unit: bed days\n"
    )
    return dictionary.load(path)


def test_one_admission_is_counted_once_with_its_most_informative_window(tmp_path: Path) -> None:
    described = _windows_dictionary(tmp_path)
    names = ["emergency_admissions_3m", "emergency_admissions_12m", "hfrs", "emergency_bed_days_3m"]
    x = np.array(
        [
            [1.0, 1.0, 7.0, 4.0],  # the same admission in both windows: said once, in the 3-month window
            [1.0, 3.0, 7.0, 1.0],  # 3 in 12 months include the 1 in 3 months: "3 ... 12 months"
        ]
    )
    # Both windows are in each person's top 3; the freed slot goes to the next reason (bed days).
    contributions = np.array([[0.5, 0.4, 0.3, 0.1, -1.0], [0.4, 0.5, 0.3, 0.1, -1.0]])
    indices, _ = explain.top_contributions(contributions)
    first, second, third = explain.render_reasons(indices, x, names, described)
    assert first == ["1 emergency admission in the last 3 months", "3 emergency admissions in the last 12 months"]
    assert second == ["frailty score 7.0", "frailty score 7.0"]
    assert third == [
        "4 days in hospital after emergency admissions in the last 3 months",
        "1 day in hospital after emergency admissions in the last 3 months",
    ]


def test_counts_of_one_are_singular_in_every_shipped_template() -> None:
    shipped = dictionary.load()
    counted = [f for f in shipped.features.values() if "{value:.0f}" in f.reason and not f.is_flag]
    assert len(counted) > 40
    assert explain.render(shipped.features["emergency_admissions_12m"], 1.0) == (
        "1 emergency admission in the last 12 months"
    )
    assert explain.render(shipped.features["emergency_admissions_12m"], 2.0) == (
        "2 emergency admissions in the last 12 months"
    )
    assert explain.render(shipped.features["days_since_last_emergency_discharge"], 1.0) == (
        "Discharged from an emergency admission 1 day ago"
    )
    assert explain.render(shipped.features["ed_attendances_3m"], 1.0) == "1 A&E attendance in the last 3 months"
    for feature in counted:
        one, two = explain.render(feature, 1.0), explain.render(feature, 2.0)
        # Every counted template changes a word between 1 and 2 (no "1 ... admissions").
        if feature.unit not in ("years", "decile", "score", "GBP"):
            assert one.replace("1", "2", 1) != two, feature.name
