from pathlib import Path

import pandas as pd
import pytest

from popheath import config, db
from popheath.capitation import disclosure
from popheath.quality.nhs_number import is_valid_nhs_number
from popheath.stages import capitation, cost

from .conftest import make_settings
from .planted import make_people, write

NEW_TABLES = ("baseline_age_sex_5y", "baseline_segment_age_band", "needs_index_practice", "needs_index_pcn")
PUBLISHED = 13


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[config.Settings, object, pd.DataFrame]:
    tmp_path = tmp_path_factory.mktemp("stage")
    settings = make_settings(tmp_path, bootstrap_samples=60)
    people = make_people(3000, seed=9)
    people.loc[:39, "national_data_opt_out"] = True
    people.loc[40:49, "type1_opt_out"] = True
    people.loc[50:79, "in_population"] = False
    people.loc[100:124, "place"] = "Island"  # a small place: small cells to suppress
    con = db.connect(settings)
    write(con, people, seed=9)
    con.close()
    result = capitation.run(settings, settings.as_of, year=2024)
    return settings, result, people


def test_outputs_are_listed_and_the_report_is_self_contained(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, result, _ = stage_run
    folder = settings.paths.outputs / "capitation" / "2024"
    names = {p.name for p in result.outputs}
    for table in (
        "baseline_segment_age_sex_place",
        "baseline_tier",
        "year_of_care_budget",
        "prospective_model_metrics",
        "predictive_ratios_by_segment",
        "predicted_vs_actual_deciles",
        "population_accounting",
        "boundary_activity",
        "costing_coverage",
        *NEW_TABLES,
    ):
        assert f"{table}.csv" in names and f"{table}.parquet" in names
        assert (folder / f"{table}.parquet").exists()
    assert {"data_dictionary.csv", "capitation_tables.xlsx", "report.html"} <= names
    html = (folder / "report.html").read_text(encoding="utf-8")
    # Pyramid, age x segment, Lorenz, practices against fair share, deciles.
    assert html.count("data:image/png;base64,") == 5
    assert "src='http" not in html and "<script" not in html
    r2 = result.summary["r2"]
    assert r2["risk_adjusted_practice"] > r2["age_sex_practice"]


def test_every_published_table_passes_disclosure_checks(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, result, people = stage_run
    keys = set(people["person_key"])
    csvs = [p for p in result.outputs if Path(p).suffix == ".csv"]
    assert len(csvs) == PUBLISHED + 1  # and the data dictionary
    for path in csvs:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        numeric = pd.read_csv(path)
        disclosure.check_published(path.name, numeric, settings.capitation.suppress_below, settings.capitation.round_to)
        values = set(table.to_numpy().ravel())
        assert not values & keys, path.name  # no person-level rows
        assert not any(is_valid_nhs_number(v) for v in values), path.name
        for column in ("people", "person_years"):
            if column in numeric:
                shown = pd.to_numeric(numeric[column], errors="coerce").dropna()
                assert (shown % 5 == 0).all(), (path.name, column)
        if "people" in numeric:
            assert (pd.to_numeric(numeric["people"], errors="coerce").dropna() >= 10).all(), path.name


def test_opt_outs_are_excluded_and_out_of_area_reported_separately(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, result, people = stage_run
    folder = settings.paths.outputs / "capitation" / "2024"
    accounting = pd.read_csv(folder / "population_accounting.csv").set_index("status")
    assert accounting.loc["excluded: national data opt-out", "people"] == 40
    assert accounting.loc["excluded: type 1 objection", "people"] == 10
    assert accounting.loc["reported separately: out of area", "people"] == 30
    assert accounting.loc["included: registered population", "people"] == 2920
    baseline = pd.read_parquet(folder / "baseline_segment_age_sex_place.parquet")
    total = baseline[(baseline[["segment", "age_band", "sex", "place"]] == "All").all(axis=1)]
    assert total["people"].iloc[0] == 2920
    assert "Out of area" not in set(baseline["place"])
    assert result.summary["people"] == 2920


def test_cost_stage_reports_uncosted_counts(tmp_path: Path) -> None:
    from datetime import date

    from .conftest import create_tables, insert, person

    settings = make_settings(tmp_path)
    con = db.connect(settings)
    create_tables(con)
    insert(con, "person", [person("P1")])
    insert(con, "stg_ecds", [("E1", "x", "RX1", date(2024, 8, 1), "01"), ("E2", "x", "RX1", date(2024, 8, 2), "")])
    insert(con, "person_link", [("ecds", "E1", "P1", "deterministic", 1.0, False, False)])
    con.close()
    result = cost.run(settings, settings.as_of, year=2024)
    assert result.summary["records"] == 2 and result.summary["uncosted_records"] == 1
    assert result.warnings and "1 of 2" in result.warnings[0]
    summary = pd.read_csv(result.outputs[0])
    assert summary["unlinked_records"].sum() == 1


def test_published_baseline_has_primary_and_secondary_suppression(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, _ = stage_run
    folder = settings.paths.outputs / "capitation" / "2024"
    dims = ("segment", "age_band", "sex", "place")
    table = pd.read_parquet(folder / "baseline_segment_age_sex_place.parquet")
    hidden = (table["suppression"] != "none").to_numpy()
    island = table[(table["place"] == "Island") & (table[list(dims[:3])] != "All").all(axis=1)]
    assert (island["suppression"] == "primary").all()  # every Island cell has fewer than 10 people
    assert (table["suppression"] == "secondary").any()  # secondary suppression reached other places
    for members in disclosure._relations(table, dims):
        assert hidden[members].sum() != 1
    assert table.loc[hidden, ["people", "mean_cost", "ci_low", "p95_cost"]].isna().all().all()
    # The CSV marks every hidden cell with its reason, never a blank.
    shown = pd.read_csv(folder / "baseline_segment_age_sex_place.csv", dtype=str, keep_default_na=False)
    for column in ("people", "mean_cost", "ci_low", "p95_cost"):
        assert (shown.loc[hidden, column] == shown.loc[hidden, "suppression"]).all()


def test_cli_cost_year_and_bad_reference_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from popheath import cli

    from .conftest import create_tables, insert, person

    (tmp_path / "popheath.toml").write_text(
        '[paths]\nwarehouse = "w.duckdb"\noutputs = "out"\n[capitation]\nprice_base_year = "2099/00"\n',
        encoding="utf-8",
    )
    settings = config.load(tmp_path / "popheath.toml")
    con = db.connect(settings)
    create_tables(con)
    insert(con, "person", [person("P1")])
    insert(con, "stg_ecds", [("E1", "x", "RX1", date(2023, 8, 1), "01")])
    con.close()
    monkeypatch.chdir(tmp_path)
    # A price base missing from the inflation index is one clear error line and exit code 2.
    assert cli.main(["cost", "--year", "2023"]) == 2
    (tmp_path / "popheath.toml").write_text('[paths]\nwarehouse = "w.duckdb"\noutputs = "out"\n', encoding="utf-8")
    assert cli.main(["cost", "--year", "2023"]) == 0
    qa = pd.read_csv(tmp_path / "out" / "costing_qa" / "2023" / "costing_summary.csv")
    assert list(qa.columns[:2]) == ["financial_year", "price_base"] and set(qa["financial_year"]) == {"2023/24"}
    assert not (tmp_path / "out" / "capitation" / "2023").exists()  # nothing unrounded beside published tables


def test_capitation_refuses_without_costs_segments_and_cohort_naming_the_commands(tmp_path: Path) -> None:
    from popheath.errors import StageError

    settings = make_settings(tmp_path)
    with pytest.raises(StageError) as refused:
        capitation.run(settings, settings.as_of, year=2024)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        "capitation 2024/25 has no activity_costs for 2024/25 (run `popheath cost --year 2024`); "
        "no segments on or before 2024-04-01 (run `popheath segment --as-of 2024-04-01`); "
        "no cohort on or before 2024-04-01 (run `popheath features --as-of 2024-04-01`)"
    )
    # Segments and cohort at the year start, features at both year starts, costs for this year only:
    # the prospective model needs last year's costs too.
    people = make_people(20, seed=1)
    con = db.connect(settings)
    write(con, people, seed=1)
    con.execute("DELETE FROM activity_costs WHERE financial_year = 2023")
    con.close()
    last_year = r"^capitation 2024/25 has no activity_costs for 2023/24 \(run `popheath cost --year 2023`\)$"
    with pytest.raises(StageError, match=last_year):
        capitation.run(settings, settings.as_of, year=2024)


def _published_csvs(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.csv")) if p.stem != "data_dictionary"}


def test_price_base_and_year_are_inside_every_file(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, result, _ = stage_run
    base = settings.capitation.price_base_year
    tables = [p for p in result.outputs if Path(p).suffix in (".csv", ".parquet")]
    assert len(tables) == 2 * PUBLISHED + 1
    for path in tables:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
        assert list(frame.columns[:2]) == ["financial_year", "price_base"], path.name
        assert set(frame["financial_year"]) == {"2024/25"} and set(frame["price_base"]) == {base}, path.name
    folder = settings.paths.outputs / "capitation" / "2024"
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert f"Financial year 2024/25; price base {base}" in html
    from openpyxl import load_workbook

    book = load_workbook(folder / "capitation_tables.xlsx", read_only=True)
    cover = {row[0]: row[1] for row in book["cover"].iter_rows(values_only=True) if len(row) > 1}
    assert cover["Financial year"] == "2024/25" and cover["Price base"].startswith(base)


def test_the_data_dictionary_describes_every_published_column(stage_run) -> None:  # type: ignore[no-untyped-def]
    from popheath.capitation import dictionary
    from popheath.errors import StageError

    settings, _, _ = stage_run
    folder = settings.paths.outputs / "capitation" / "2024"
    terms = pd.read_csv(folder / "data_dictionary.csv")
    described = set(zip(terms["table"], terms["column"], strict=True))
    for name, path in _published_csvs(folder).items():
        for column in pd.read_csv(path, nrows=0).columns:
            assert (name, column) in described, (name, column)
    assert terms["description"].str.len().min() > 10
    assert {("data_dictionary", c) for c in ("table", "column", "description", "price_base")} <= described
    with pytest.raises(StageError, match="no data dictionary entry for published column"):
        dictionary.data_dictionary({"t": pd.DataFrame(columns=["people", "mystery"])})
    # The coverage table's cost levels are spelled out where the column is described.
    assert "hrg_root = " in str(dictionary.describe("costing_coverage", "cost_level"))


def test_the_workbook_has_one_sheet_per_published_table_with_the_same_cells(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, _ = stage_run
    folder = settings.paths.outputs / "capitation" / "2024"
    csvs = _published_csvs(folder)
    sheets = pd.read_excel(folder / "capitation_tables.xlsx", sheet_name=None)
    assert set(sheets) == {"cover", "data_dictionary", *csvs}
    assert len(csvs) == PUBLISHED
    for name, path in {**csvs, "data_dictionary": folder / "data_dictionary.csv"}.items():
        pd.testing.assert_frame_equal(_cells(sheets[name]), _cells(pd.read_csv(path)), obj=name)


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Each cell as a number when it reads as one, else its text (Excel and CSV type mixed columns differently)."""

    def cell(value: object) -> object:
        if pd.isna(value):  # type: ignore[call-overload]
            return None
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return str(value)

    return frame.astype(object).map(cell)


def test_counts_are_published_as_integers(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, _ = stage_run
    folder = settings.paths.outputs / "capitation" / "2024"
    checked = 0
    for name, path in _published_csvs(folder).items():
        text = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in [c for c in text.columns if disclosure.is_count(c)]:
            values = text[column][~text[column].isin(["primary", "secondary", ""])]
            assert values.str.fullmatch(r"\d+").all(), (name, column)
            checked += len(values)
    assert checked > 100


def test_report_shows_coverage_needs_index_and_fair_shares(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, _ = stage_run
    folder = settings.paths.outputs / "capitation" / "2024"
    html = (folder / "report.html").read_text(encoding="utf-8")
    for text in ("costing_coverage", "share_of_cost", "needs_index_practice", "needs_index_pcn", "fair_share"):
        assert text in html, text
    assert "Weighted population from: risk-adjusted prospective model" in html
    assert "Practices within 10% of their fair share" in html
    assert "Records / cost of apc priced at: planted 100% / 100%" in html
    pcn = pd.read_parquet(folder / "needs_index_pcn.parquet").set_index("pcn_code")
    practice = pd.read_parquet(folder / "needs_index_practice.parquet")
    assert len(practice) == 30
    # Fair shares add up to the ICS's actual spend; weighted population to its person-years.
    assert practice["fair_share"].sum() == pytest.approx(pcn.loc["All", "actual_cost"], rel=1e-3)
    assert pcn.loc["All", "needs_index"] == 1.0
    # Planted: practices with more of the chronic condition have the higher needs index.
    people = stage_run[2]
    prevalence = people.groupby("practice_code")["chronic"].mean()
    index = practice.set_index("practice_code")["needs_index"]
    assert index.corr(prevalence.reindex(index.index), method="spearman") > 0.8
    metrics = pd.read_csv(folder / "prospective_model_metrics.csv")
    negative = (metrics[["person_r2", "practice_r2"]] < 0).any(axis=1)
    assert (metrics.loc[~negative, "r2_note"] == "none").all()
    assert metrics.loc[negative, "r2_note"].str.contains("negative").all()


def test_costing_coverage_shares_stay_proportions(stage_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, _ = stage_run
    coverage = pd.read_parquet(settings.paths.outputs / "capitation" / "2024" / "costing_coverage.parquet")
    totals = coverage[coverage["cost_level"] == "All"]
    assert (totals[["share_of_records", "share_of_cost"]] == 1).all().all()
    cells = coverage[(coverage["cost_level"] != "All") & (coverage["suppression"] == "none")]
    by_source = cells.groupby("source")[["share_of_records", "share_of_cost"]].sum()
    assert ((by_source["share_of_records"] - 1).abs() < 0.01).all()  # not rounded like a count
    assert cells["share_of_records"].between(0, 1).all() and cells["share_of_cost"].between(0, 1).all()
