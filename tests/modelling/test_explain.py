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
    assert indices.tolist() == [[0, 1, 3], [1, -1, -1]]
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
