import numpy as np
import pandas as pd
import pytest

from popheath.capitation import disclosure
from popheath.errors import StageError
from popheath.quality.nhs_number import is_valid_nhs_number


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
        (pd.DataFrame({"segment": ["a"], "practice_number": [9434765919]}), "NHS number"),
    ],
)
def test_check_published_refuses_disclosive_tables(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(StageError, match=message):
        disclosure.check_published("t", frame, 10, 5)


def test_a_ten_digit_cost_is_published() -> None:
    """A large ICS's total cost (£1.7bn, rounded to £1,000) passes the modulus-11 check but is a computed float."""
    assert is_valid_nhs_number("1700001000")
    frame = pd.DataFrame({"segment": ["All"], "people": [3_200_000], "actual_cost": [1700001000.0]})
    disclosure.check_published("t", frame, 10, 5)


def test_check_published_accepts_suppressed_nans() -> None:
    disclosure.check_published("t", pd.DataFrame({"segment": ["a", "b"], "people": [np.nan, 15.0]}), 10, 5)


def test_published_rows_are_in_reading_order() -> None:
    from popheath.capitation.tables import ordered

    table = pd.DataFrame({"tier": ["low", "All", "very_high", "not_scored", "high"], "people": [1, 2, 3, 4, 5]})
    assert list(ordered(table, ("tier",))["tier"]) == ["very_high", "high", "low", "not_scored", "All"]


def test_dominance_share_known_answers() -> None:
    people = pd.DataFrame({"cell": ["a", "a", "a", "b", "b"], "cost": [90.0, 5.0, 5.0, 10.0, 10.0]})
    top1 = disclosure.dominance_share(people, ["cell"], "cost", 1)
    top2 = disclosure.dominance_share(people, ["cell"], "cost", 2)
    assert top1["a"] == 0.9 and top1["b"] == 0.5
    assert top2["a"] == 0.95 and top2["b"] == 1.0
    assert disclosure.dominance_share(people, [], "cost", 1)["All"] == 90 / 120


def _cells(people: list[int], dominance: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame({"segment": ["a", "b", "All"], "people": people})
    frame["person_years"] = frame["people"].astype(float)
    frame["mean_cost"] = [100.0, 200.0, 150.0]
    frame["median_cost"] = [50.0, 60.0, 55.0]
    frame["p95_cost"] = [400.0, 500.0, 450.0]
    frame[disclosure.DOMINANCE] = dominance
    return frame


def test_a_dominated_cell_is_primary_and_its_sibling_secondary() -> None:
    # (n, k) rule, k = 85: cell a's two costliest people hold 90% of its cost.
    protected = disclosure.protect(_cells([300, 300, 600], [0.90, 0.20, 0.1]), ("segment",), 10, 5, dominance_k=85)
    assert list(protected["suppression"]) == ["primary", "secondary", "none"]
    assert protected.loc[:1, ["mean_cost", "median_cost", "p95_cost", "people"]].isna().all().all()
    assert disclosure.DOMINANCE not in protected.columns
    # Below k nothing is dominated.
    calm = disclosure.protect(_cells([300, 300, 600], [0.84, 0.20, 0.1]), ("segment",), 10, 5, dominance_k=85)
    assert (calm["suppression"] == "none").all()


def test_no_mean_median_or_percentile_from_a_cell_under_the_threshold() -> None:
    protected = disclosure.protect(_cells([9, 300, 309], [0.1, 0.1, 0.1]), ("segment",), 10, 5, dominance_k=85)
    small = protected.iloc[0]
    assert small["suppression"] == "primary"
    assert small[["mean_cost", "median_cost", "p95_cost", "people", "person_years"]].isna().all()


def test_percentiles_need_enough_people_beyond_them() -> None:
    # 100 people: 5 lie above the p95 (< 10: hidden), 50 each side of the median (shown);
    # 15 people: 7.5 each side of the median (hidden); 300 people: 15 above the p95 (shown).
    protected = disclosure.protect(_cells([100, 15, 115], [0.1, 0.1, 0.1]), ("segment",), 10, 5, dominance_k=85)
    assert (protected["suppression"] == "none").all()
    assert protected["p95_cost"].isna().all()  # 115 x 0.05 < 10 for the total too
    assert list(protected["median_cost"].notna()) == [True, False, True]
    assert list(protected["suppressed_statistics"]) == ["p95_cost", "median_cost,p95_cost", "p95_cost"]
    shown = disclosure.protect(_cells([300, 300, 600], [0.1, 0.1, 0.1]), ("segment",), 10, 5, dominance_k=85)
    assert shown["p95_cost"].notna().all() and (shown["suppressed_statistics"] == "none").all()


def test_hidden_cells_are_marked_never_blank_and_counts_are_integers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    protected = disclosure.protect(_table(), ("segment", "sex"), threshold=10, base=5)
    assert str(protected["people"].dtype) == "Int64" and str(protected["person_years"].dtype) == "Int64"
    shown = disclosure.marked(protected)
    hidden = protected["suppression"] != "none"
    for column in ("people", "person_years", "mean_cost"):
        assert (shown.loc[hidden, column] == protected.loc[hidden, "suppression"]).all()
    path = tmp_path / "t.csv"
    shown.to_csv(path, index=False)
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert (text != "").all().all()
    visible = text.loc[~hidden.to_numpy(), "people"]
    assert visible.str.fullmatch(r"\d+").all()  # integers: no decimal point
    disclosure.check_published("t", pd.read_csv(path), 10, 5)


def test_check_published_refuses_a_stray_word_in_a_count_column() -> None:
    with pytest.raises(StageError, match="neither a number nor a suppression mark"):
        disclosure.check_published("t", pd.DataFrame({"people": ["15", "few"]}), 10, 5)


def test_plots_leave_out_every_hidden_cell() -> None:
    from popheath.capitation import html_report

    table = pd.DataFrame(
        {
            "age_band_5y": ["0-4", "0-4", "5-9", "5-9", "All"],
            "sex": ["F", "M", "F", "M", "All"],
            "people": [40, 4, 30, 33, 107],
            "mean_cost": [500.0, 900.0, 300.0, 310.0, 400.0],
        }
    )
    protected = disclosure.protect(table, ("age_band_5y", "sex"), 10, 5)
    plotted = html_report.pyramid_data(protected)
    hidden = protected.loc[protected["suppression"] != "none", ["age_band_5y", "sex"]]
    assert len(hidden) >= 2  # (0-4, M) primary and one more secondary
    assert not set(map(tuple, hidden.to_numpy())) & set(map(tuple, plotted[["age_band_5y", "sex"]].to_numpy()))
    assert set(plotted["suppression"]) == {"none"}
    # A percentile hidden by the percentile rule is not plotted either, though its row is published.
    percentiles = disclosure.protect(_cells([100, 300, 400], [0.1, 0.1, 0.1]), ("segment",), 10, 5, dominance_k=85)
    assert list(html_report.plot_data(percentiles, ["p95_cost"])["segment"]) == ["b", "All"]
    assert list(html_report.plot_data(percentiles, ["mean_cost"])["segment"]) == ["a", "b", "All"]
