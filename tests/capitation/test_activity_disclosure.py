"""boundary_activity and costing_coverage follow the disclosure rules of every other published table.

Known answers on hand-made activity: a cell behind 1-2 people is primary, a cell its costliest
person dominates is primary, the cell that would give a primary one away through its total is
secondary, hidden cells read as their mark in the CSV and the workbook, and opt-outs are left out.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from popheath import config, db
from popheath.capitation import costing, disclosure, outputs, tables

from .conftest import insert, person

FY = costing.FinancialYear(2024)
DAY = date(2024, 5, 1)


def _record(
    key: str | None, record: str, source: str, setting: str, level: str, cost: float | None, **flags: Any
) -> tuple:
    return (
        source,
        record,
        key,
        flags.get("day", DAY),
        setting,
        cost,
        f"{source}:{level}:x",
        cost is not None,
        FY.year,
        "2023/24",
        "RX1" if flags.get("out_of_ics") else "RA1",
        flags.get("out_of_area", False),
        flags.get("out_of_ics", False),
    )


@pytest.fixture()
def activity(con: duckdb.DuckDBPyConnection, settings: config.Settings) -> duckdb.DuckDBPyConnection:
    """Out of area: 20 people in acute, 2 of them in community. Outside the partnership: 15 people in
    acute, one holding 20,000 of 21,400; 12 in community. 12 unlinked social care records. One death
    before an admission (outside the exposure window). A national data opt-out's record (left out)."""
    people = [person(f"O{i}", in_population=False) for i in range(20)]
    people += [person(f"R{i}", date_of_death=date(2024, 6, 30) if i == 0 else None) for i in range(30)]
    people.append(person("N1", ndoo=True))
    insert(con, "person", people)
    db.run_named(con, "40_marts/costing", "01_create_activity_costs.sql")
    rows = [_record(f"O{i}", f"oa{i}", "apc", "acute", "full_hrg", 1000.0, out_of_area=True) for i in range(20)]
    rows += [
        _record(f"O{i}", f"oc{i}{j}", "csds", "community", "fallback", 50.0, out_of_area=True)
        for i in range(2)
        for j in range(3)
    ]
    rows += [
        _record(f"R{i}", f"pa{i}", "apc", "acute", "hrg_root", 20_000.0 if i == 1 else 100.0, out_of_ics=True)
        for i in range(1, 16)
    ]
    rows += [_record(f"R{i}", f"pc{i}", "csds", "community", "currency", 100.0, out_of_ics=True) for i in range(16, 28)]
    rows += [_record(None, f"u{i}", "asc", "social_care", "record_unit_cost", 100.0) for i in range(12)]
    rows += [_record(f"R{i}", f"op{i}", "opa", "acute", "full_hrg", 150.0) for i in range(1, 30)]
    rows.append(_record("R0", "late", "apc", "acute", "hrg_chapter", 500.0, day=date(2024, 8, 1)))
    rows += [_record(f"R{i}", f"un{i}", "apc", "acute", "uncosted", None) for i in (2, 3)]
    rows.append(_record("N1", "ndoo", "csds", "community", "currency", 100.0, out_of_ics=True))
    insert(con, "activity_costs", rows)
    costing.build_person_year(con, settings, FY)
    return con


def _cells(frame: pd.DataFrame, dims: tuple[str, ...]) -> pd.DataFrame:
    return frame.set_index(list(dims))


def test_boundary_cells_count_the_people_behind_them(activity: duckdb.DuckDBPyConnection) -> None:
    cells = _cells(costing.activity_cells(activity, FY, 2)["boundary_activity"], tables.BOUNDARY_DIMS)
    assert cells.loc[("out_of_area_people", "community"), ["people", "records", "total_cost"]].tolist() == [2, 6, 300]
    assert cells.loc[("out_of_area_people", "All"), ["people", "records", "total_cost"]].tolist() == [20, 26, 20_300]
    # The national data opt-out's record is not among the 12 community records outside the partnership.
    assert cells.loc[("out_of_ics_provider", "community"), ["people", "records"]].tolist() == [12, 12]
    assert cells.loc[("out_of_ics_provider", "acute"), disclosure.DOMINANCE] == pytest.approx(20_100 / 21_400)
    assert cells.loc[("unlinked_records", "social_care"), "people"] == 12  # each unlinked record its own person
    assert cells.loc[("outside_exposure_window", "All"), ["people", "records", "total_cost"]].tolist() == [1, 1, 500]


def test_boundary_activity_suppresses_small_and_dominated_cells(
    activity: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    boundary = costing.activity_cells(activity, FY, settings.capitation.dominance_n)["boundary_activity"]
    published = _cells(tables.activity_table(boundary, tables.BOUNDARY_DIMS, settings.capitation), tables.BOUNDARY_DIMS)
    status = published[disclosure.STATUS]
    assert status[("out_of_area_people", "community")] == disclosure.PRIMARY  # 2 people
    # The total (20 people) is shown, so acute is hidden too: else community = total - acute.
    assert status[("out_of_area_people", "acute")] == disclosure.SECONDARY
    assert published.loc[("out_of_area_people", "All"), ["records", "total_cost"]].tolist() == [25, 20_000]
    assert status[("outside_exposure_window", "acute")] == disclosure.PRIMARY  # 1 person
    assert status[("outside_exposure_window", "All")] == disclosure.PRIMARY
    # One person holds 94% of acute and 89% of the total outside the partnership: both dominated.
    assert status[("out_of_ics_provider", "acute")] == disclosure.PRIMARY
    assert status[("out_of_ics_provider", "All")] == disclosure.PRIMARY
    assert status[("out_of_ics_provider", "community")] == disclosure.NONE  # two of its relation hidden
    assert status[("unlinked_records", "social_care")] == disclosure.NONE
    hidden = status != disclosure.NONE
    assert published.loc[hidden, ["records", "total_cost"]].isna().all().all()
    assert "people" not in published.columns and disclosure.DOMINANCE not in published.columns
    assert str(published["records"].dtype) == "Int64"
    disclosure.check_published("boundary_activity", published.reset_index(), 10, 5)


def test_costing_coverage_suppresses_small_and_dominated_cells(
    activity: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    coverage = costing.activity_cells(activity, FY, settings.capitation.dominance_n)["costing_coverage"]
    assert coverage.set_index(list(tables.COVERAGE_DIMS)).loc[("All", "All", "All"), "people"] == 20 + 30 + 12
    published = _cells(
        tables.activity_table(coverage, tables.COVERAGE_DIMS, settings.capitation, tables.COVERAGE_SHARES),
        tables.COVERAGE_DIMS,
    )
    status = published[disclosure.STATUS]
    assert status[("apc", "acute", "hrg_root")] == disclosure.PRIMARY  # dominated
    assert status[("apc", "acute", "hrg_chapter")] == disclosure.PRIMARY  # 1 person
    assert status[("apc", "acute", "uncosted")] == disclosure.PRIMARY  # 2 people
    assert status[("apc", "acute", "full_hrg")] == disclosure.NONE
    assert published.loc[("apc", "acute", "full_hrg"), "share_of_records"] == pytest.approx(round(20 / 38, 3))
    assert status[("csds", "community", "fallback")] == disclosure.PRIMARY  # 2 people
    # The csds total (14 people) is shown, so its only other cell is hidden with it.
    assert status[("csds", "community", "currency")] == disclosure.SECONDARY
    assert published.loc[("csds", "All", "All"), ["records", "share_of_records", "share_of_cost"]].tolist() == [
        20,
        1,
        1,
    ]
    hidden = status != disclosure.NONE
    assert published.loc[hidden, ["records", "total_cost", "share_of_records", "share_of_cost"]].isna().all().all()
    assert status[("All", "All", "All")] == disclosure.NONE
    disclosure.check_published("costing_coverage", published.reset_index(), 10, 5)


def test_hidden_activity_cells_are_marked_in_the_csv_workbook_and_dictionary(
    activity: duckdb.DuckDBPyConnection, settings: config.Settings, tmp_path: Path
) -> None:
    cap = settings.capitation
    published = {
        "boundary_activity": tables.activity_table(
            costing.activity_cells(activity, FY, cap.dominance_n)["boundary_activity"], tables.BOUNDARY_DIMS, cap
        ),
        "costing_coverage": tables.activity_table(
            costing.activity_cells(activity, FY, cap.dominance_n)["costing_coverage"],
            tables.COVERAGE_DIMS,
            cap,
            tables.COVERAGE_SHARES,
        ),
    }
    outputs.write_tables(tmp_path, published, cap, FY)
    sheets = pd.read_excel(tmp_path / outputs.WORKBOOK, sheet_name=None, dtype=str)
    for name, dims, cell, mark in (
        ("boundary_activity", tables.BOUNDARY_DIMS, ("out_of_area_people", "community"), disclosure.PRIMARY),
        ("boundary_activity", tables.BOUNDARY_DIMS, ("out_of_area_people", "acute"), disclosure.SECONDARY),
        ("costing_coverage", tables.COVERAGE_DIMS, ("csds", "community", "fallback"), disclosure.PRIMARY),
        ("costing_coverage", tables.COVERAGE_DIMS, ("csds", "community", "currency"), disclosure.SECONDARY),
    ):
        csv = pd.read_csv(tmp_path / f"{name}.csv", dtype=str, keep_default_na=False)
        for frame in (csv, sheets[name]):
            row = frame.set_index(list(dims)).loc[cell]
            assert row[["records", "total_cost", disclosure.STATUS]].tolist() == [mark, mark, mark], (name, cell)
        assert (csv.drop(columns=list(dims)) != "").all().all(), name  # never blank
    terms = pd.read_csv(tmp_path / "data_dictionary.csv")
    for name in published:
        listed = terms.loc[terms["table"] == name, "column"].tolist()
        assert listed == list(pd.read_csv(tmp_path / f"{name}.csv", nrows=0).columns), name
        assert "people" not in listed


def test_the_report_headline_gives_coverage_from_the_published_cells(
    activity: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    cap = settings.capitation
    coverage = costing.activity_cells(activity, FY, cap.dominance_n)["costing_coverage"]
    published = tables.activity_table(coverage, tables.COVERAGE_DIMS, cap, tables.COVERAGE_SHARES)
    assert outputs.coverage_headline(published) == {
        "Records / cost of apc priced at": (
            "full_hrg 53% / 48%; hrg_root primary / primary; hrg_chapter primary / primary; uncosted primary / primary"
        ),
        "Records / cost of asc priced at": "record_unit_cost 100% / 100%",
        "Records / cost of csds priced at": "currency secondary / secondary; fallback primary / primary",
        "Records / cost of opa priced at": "full_hrg 100% / 100%",
    }
