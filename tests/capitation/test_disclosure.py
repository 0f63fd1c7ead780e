import numpy as np
import pandas as pd
import pytest

from popheath.capitation import disclosure
from popheath.errors import StageError


def _table() -> pd.DataFrame:
    # segment x sex with margins; cell (b, M) has 4 people.
    rows = [
        ("a", "M", 40),
        ("a", "F", 52),
        ("b", "M", 4),
        ("b", "F", 33),
        ("a", "All", 92),
        ("b", "All", 37),
        ("All", "M", 44),
        ("All", "F", 85),
        ("All", "All", 129),
    ]
    frame = pd.DataFrame(rows, columns=["segment", "sex", "people"])
    frame["person_years"] = frame["people"] * 0.9
    frame["mean_cost"] = 1000.0 + frame["people"]
    return frame


def test_primary_and_secondary_suppression() -> None:
    table = _table()
    hidden = disclosure.suppression_mask(table, ("segment", "sex"), threshold=10)
    shown = {(r.segment, r.sex): h for r, h in zip(table.itertuples(), hidden, strict=True)}
    assert shown[("b", "M")]  # primary
    # (b, F) is hidden so b's total cannot reveal (b, M); (a, M) so the M total cannot.
    assert shown[("b", "F")] and shown[("a", "M")]
    # ... and then (a, F) because row a would otherwise expose (a, M).
    assert shown[("a", "F")]
    # No relation (a total and the cells it covers) has exactly one hidden member.
    for members in disclosure._relations(table, ("segment", "sex")):
        assert hidden.to_numpy()[members].sum() != 1


def test_suppressed_cells_cannot_be_recovered_from_totals() -> None:
    protected = disclosure.protect(_table(), ("segment", "sex"), threshold=10, base=5)
    totals = protected[(protected["segment"] == "All") & (protected["sex"] == "All")]
    assert totals["people"].iloc[0] == 130  # rounded to 5
    cells = protected[(protected["segment"] != "All") & (protected["sex"] != "All")]
    for segment in ("a", "b"):
        row = cells[cells["segment"] == segment]
        assert row["people"].isna().sum() != 1
    hidden = protected["suppression"] != "none"
    assert protected.loc[hidden, "mean_cost"].isna().all()
    assert set(protected.loc[hidden, "suppression"]) == {"primary", "secondary"}
    assert protected.loc[(protected["segment"] == "b") & (protected["sex"] == "M"), "suppression"].item() == "primary"
    assert (protected["people"].dropna() % 5 == 0).all()
    disclosure.check_published("t", protected, 10, 5)


def test_rounding_is_half_up_to_the_base() -> None:
    assert list(disclosure.round_to(pd.Series([10, 12, 12.5, 13, 17.4]), 5)) == [10, 10, 15, 15, 15]


def test_single_cell_total_is_hidden_with_its_cell() -> None:
    frame = pd.DataFrame({"segment": ["a", "All"], "people": [6, 6], "mean_cost": [1.0, 1.0]})
    assert disclosure.suppression_mask(frame, ("segment",), 10).all()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"person_key": ["K1"], "people": [10]}), "person-level column"),
        (pd.DataFrame({"segment": ["a"], "people": [5.0]}), "count under 10"),
        (pd.DataFrame({"segment": ["a"], "people": [12.0]}), "not rounded"),
        (pd.DataFrame({"segment": ["9434765919"], "people": [10.0]}), "NHS number"),
        (pd.DataFrame({"segment": ["a"], "mean_cost": [9434765919.0]}), "NHS number"),
    ],
)
def test_check_published_refuses_disclosive_tables(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(StageError, match=message):
        disclosure.check_published("t", frame, 10, 5)


def test_check_published_accepts_suppressed_nans() -> None:
    disclosure.check_published("t", pd.DataFrame({"segment": ["a", "b"], "people": [np.nan, 15.0]}), 10, 5)


def test_published_rows_are_in_reading_order() -> None:
    from popheath.capitation.tables import ordered

    table = pd.DataFrame({"tier": ["low", "All", "very_high", "not_scored", "high"], "people": [1, 2, 3, 4, 5]})
    assert list(ordered(table, ("tier",))["tier"]) == ["very_high", "high", "low", "not_scored", "All"]
