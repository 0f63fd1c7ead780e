from datetime import date

import duckdb
import pytest

from popheath import config
from popheath.capitation import costing
from popheath.db import run_file, sql_path

from .conftest import insert, person

FY = costing.FinancialYear(2024)


def _cost(record: str, key: str, day: date, cost: float, setting: str = "acute", out_of_ics: bool = False):  # type: ignore[no-untyped-def]
    return ("apc", record, key, day, setting, cost, "test", True, 2024, "2023/24", "RX1", False, out_of_ics)


@pytest.fixture()
def population(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    run_file(con, sql_path("40_marts/costing/01_create_activity_costs.sql"))
    insert(
        con,
        "person",
        [
            person("FULL"),
            person("JOINED", registration_start=date(2024, 10, 1)),  # 182 of 365 days
            person("DIED", date_of_death=date(2024, 4, 30)),  # 30 days
            person("LEFT", registration_end=date(2025, 1, 31)),  # 306 days
            person("BABY", birth_year=2024, birth_month=7, registration_start=date(2024, 7, 20)),  # from 20 July
            person("NDOO", ndoo=True),
            person("T1", type1=True),
            person("AWAY", in_population=False, place=None),
            person("GONE", registration_end=date(2024, 3, 31)),  # no exposure in the year
        ],
    )
    insert(
        con,
        "activity_costs",
        [
            _cost("a1", "FULL", date(2024, 6, 1), 1000.0),
            _cost("a2", "FULL", date(2024, 7, 1), 200.0, setting="community"),
            _cost("a3", "FULL", date(2024, 8, 1), 300.0, setting="social_care"),
            _cost("a4", "FULL", date(2024, 9, 1), 400.0, out_of_ics=True),
            _cost("b1", "JOINED", date(2024, 6, 1), 999.0),  # before registration: outside exposure
            _cost("b2", "JOINED", date(2024, 11, 1), 500.0),
            _cost("c1", "DIED", date(2024, 4, 10), 700.0),
            _cost("n1", "NDOO", date(2024, 5, 1), 50.0),
            _cost("t1", "T1", date(2024, 5, 1), 60.0),
            _cost("o1", "AWAY", date(2024, 5, 1), 800.0),
        ],
    )
    return con


def _person_year(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[float, float, float, float, float]]:
    rows = con.execute(
        "SELECT person_key, person_years, cost_acute, cost_total, cost_out_of_ics_provider, cost_outside_exposure "
        "FROM cap_person_year WHERE financial_year = 2024"
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_exposure_for_part_year_people(population: duckdb.DuckDBPyConnection, settings: config.Settings) -> None:
    costing.build_person_year(population, settings, FY)
    py = _person_year(population)
    assert py["FULL"][0] == pytest.approx(1.0)
    assert py["JOINED"][0] == pytest.approx(182 / 365)
    assert py["DIED"][0] == pytest.approx(30 / 365)
    assert py["LEFT"][0] == pytest.approx(306 / 365)
    assert py["BABY"][0] == pytest.approx((date(2025, 3, 31) - date(2024, 7, 20)).days / 365 + 1 / 365)
    assert "GONE" not in py
    assert "T1" not in py  # type 1 objection: excluded from everything, even the internal table
    # Activity before registration is kept out of the person's cost and reported for reconciliation.
    assert py["JOINED"][1] == pytest.approx(500.0) and py["JOINED"][4] == pytest.approx(999.0)
    # Out-of-ICS-provider activity is included by default and always shown separately.
    assert py["FULL"][1] == pytest.approx(1400.0) and py["FULL"][2] == pytest.approx(1900.0)
    assert py["FULL"][3] == pytest.approx(400.0)
    costing.build_person_year(population, settings, FY)  # idempotent
    assert population.execute("SELECT count(*) FROM cap_person_year").fetchone() == (len(py),)


def test_out_of_ics_provider_excluded_by_configuration(
    population: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    excluded = config.with_overrides(settings, **{"capitation.include_out_of_ics_providers": False})
    costing.build_person_year(population, excluded, FY)
    full = _person_year(population)["FULL"]
    assert full[1] == pytest.approx(1000.0) and full[2] == pytest.approx(1500.0)
    assert full[3] == pytest.approx(400.0)


def test_opt_outs_excluded_and_out_of_area_separate(
    population: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    costing.build_person_year(population, settings, FY)
    planning = costing.planning_population(population, settings, FY, FY.start)
    keys = set(planning["person_key"])
    assert keys == {"FULL", "JOINED", "DIED", "LEFT", "BABY"}  # no NDOO, type 1 or out-of-area person
    boundary = costing.activity_cells(population, FY, settings.capitation.dominance_n)["boundary_activity"]
    outside = boundary[boundary["boundary"] == "outside_exposure_window"]
    total = outside[outside["setting"] == "All"]
    assert total["total_cost"].item() == pytest.approx(999.0)
    assert outside.loc[outside["setting"] != "All", "total_cost"].sum() == pytest.approx(999.0)
    included = config.with_overrides(settings, **{"capitation.include_out_of_area": True})
    with_away = costing.planning_population(population, included, FY, FY.start)
    away = with_away[with_away["person_key"] == "AWAY"]
    assert len(away) == 1 and away["place"].iloc[0] == "Out of area"
    assert away["cost_total"].iloc[0] == pytest.approx(800.0)
    assert not {"NDOO", "T1"} & set(with_away["person_key"])
