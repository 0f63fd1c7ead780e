"""ASC-CLD cost frequencies as delivered, through the connector to the costed amount.

Raw Cost_Frequency_Unit_Type spellings (release 1 and 2), "one off" written in
Planned_Units_Per_Week (a Cheshire and Merseyside finding) and negative values reach
sql/40_marts/costing/07_cost_asc.sql, which applies DHSC's conversion (6.Costs_fact.sql); unpaid
carers' events are not costed.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from popheath import config, db
from popheath.capitation import costing
from popheath.clinical import feature_tables
from popheath.stages import ingest

from ..stages.test_ingest_asc_cld import NATIONAL_HEADER, national_row
from ..stages.test_ingest_fixtures import settings_for, write_csv
from .conftest import insert

FY = costing.FinancialYear(2024)
# The record's unit costs are in 2024/25 prices, deflated to the 2023/24 price base by the NHS Cost
# Inflation Index pay-and-prices change into 2024/25 (4.02%, provisional in the PSSRU Unit Costs
# 2025 manual; tests/capitation/test_costing.py).
NHSCII_2024_25 = 1.0402
# (event, raw frequency, raw planned units per week, raw unit cost, expected cost, cost basis): a 28-day
# service (4 weeks) wholly in the year.
CASES = [
    ("F1", "Four weekly", "", "100", 100 * 0.25 * 4, "asc:record_unit_cost:4_weekly"),
    ("F2", "Fortnightly", "3", "100", 100 * 0.5 * 4, "asc:record_unit_cost:fortnightly"),  # frequency trusted
    ("F3", "Monthly", "", "100", 100 * 12 / 52 * 4, "asc:record_unit_cost:monthly"),
    ("F4", "Quarterly", "", "100", 100 * 4 / 52 * 4, "asc:record_unit_cost:quarterly"),
    ("F5", "Annually", "", "100", 100 / 52 * 4, "asc:record_unit_cost:annually"),
    ("F6", "Weekly", "", "-50", 50 * 1 * 4, "asc:record_unit_cost:weekly"),  # negative made positive
    ("F7", "Hourly", "6", "100", 100 * 6 * 4, "asc:record_unit_cost:hourly"),
    ("F8", "Per session", "-2", "100", 100 * 2 * 4, "asc:record_unit_cost:per_session"),
    ("F9", "Hourly", "one off", "100", 100, "asc:record_unit_cost:one_off"),  # counted once
    ("F10", "One-off", "", "100", 100, "asc:record_unit_cost:one_off"),
    ("F11", "Daily", "", "100", None, "asc:uncosted:no_planned_units"),
]
COSTED_COLUMNS = (
    "event_id, person_id, la_code, event_type, service_type, event_start, event_end, planned_units_per_week, "
    "unit_cost, cost_unit, unpaid_carer"
)


def test_raw_cost_frequencies_reach_the_costed_amount(
    tmp_path: Path, con: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    raw = settings_for(tmp_path / "ingest")
    period = {"Event_Start_Date": "2024-05-01", "Event_End_Date": "2024-05-28"}
    rows = [
        national_row(event, **period, Cost_Frequency_Unit_Type=frequency, Planned_Units_Per_Week=units, Unit_Cost=cost)
        for event, frequency, units, cost, _, _ in CASES
    ]
    rows.append(national_row("C1", **period, Client_Type="Carer", Cost_Frequency_Unit_Type="Weekly", Unit_Cost="90"))
    write_csv(tmp_path / "ingest" / "raw" / "asc" / "2024-06" / "cld.csv", NATIONAL_HEADER, rows)
    ingest.run(raw, date(2025, 4, 1))
    con.execute(f"ATTACH '{raw.paths.warehouse}' AS raw (READ_ONLY)")
    con.execute(f"INSERT INTO stg_asc BY NAME SELECT {COSTED_COLUMNS} FROM raw.stg_asc")
    assert con.execute("SELECT count(*) FROM stg_asc").fetchone() == (len(CASES) + 1,)
    costing.cost_activity(con, settings, FY)
    costed = con.execute("SELECT record_id, cost, cost_basis FROM activity_costs").fetchall()
    got = {str(record): (cost, basis) for record, cost, basis in costed}
    assert set(got) == {event for event, *_ in CASES}  # the unpaid carer's service is not costed
    for event, _, _, _, expected, basis in CASES:
        cost, cost_basis = got[event]
        assert cost_basis == basis, event
        assert (cost is None) if expected is None else cost == pytest.approx(expected / NHSCII_2024_25), event


def test_clinical_daily_cost_and_costing_share_one_frequency_conversion(
    con: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    """A monthly and an annual cost (planned units present but not trusted) give the same weekly cost in
    clin_social_care.daily_cost (activity-year prices) and in activity_costs (deflated to the price base)."""
    con.execute("ALTER TABLE stg_asc ADD COLUMN long_term_support BOOLEAN")
    # (event, cost_unit, planned units per week, unit cost, expected cost per week): 28 days in the year.
    cases = [
        ("M1", "monthly", 2.0, 130.0, 130 * 12 / 52),  # GBP 30 a week, not 130 x 2
        ("A1", "annually", 3.0, 5200.0, 5200 / 52),  # GBP 100 a week, not 5,200 x 3
        ("W1", "weekly", None, 70.0, 70.0),
        ("H1", "hourly", 10.0, -20.0, 200.0),  # per hour: the planned units; negative made positive
    ]
    insert(
        con,
        "stg_asc",
        [
            (
                event,
                f"P{event}",
                "E08000001",
                "service",
                "home_care",
                date(2024, 5, 1),
                date(2024, 5, 28),
                units,
                cost,
                unit,
                False,
                True,
            )
            for event, unit, units, cost, _ in cases
        ],
    )
    insert(con, "person_link", [("asc", event, f"P{event}", "deterministic", 1.0, False, False) for event, *_ in cases])
    db.run_layer(con, db.LINKED_ACTIVITY_LAYER)
    db.run_named(con, "20_clinical", "09_clin_social_care.sql", feature_tables.sql_parameters(settings, FY.end))
    daily = dict(con.execute("SELECT event_id, daily_cost FROM clin_social_care").fetchall())
    costing.cost_activity(con, settings, FY)
    costed = dict(con.execute("SELECT record_id, cost FROM activity_costs").fetchall())
    for event, _, _, _, weekly in cases:
        assert daily[event] * 7 == pytest.approx(weekly), event
        assert costed[event] == pytest.approx(weekly * 4 / NHSCII_2024_25), event
