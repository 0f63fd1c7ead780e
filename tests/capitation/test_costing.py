from datetime import date
from pathlib import Path

import duckdb
import pytest

from popheath import config
from popheath.capitation import costing, costing_qa, reference
from popheath.errors import InputError

from .conftest import insert, person

FY = costing.FinancialYear(2024)
# National Cost Collection 2023/24 national schedule (NICE-Data-and-Analytics/COSTmos data/ncc.rda,
# commit c79d227), in the 2023/24 price base: no inflation. ASC record unit costs are in 2024/25
# prices: deflated by the NHS Cost Inflation Index pay-and-prices change into 2024/25 (4.02%,
# provisional in the PSSRU Unit Costs 2025 manual).
NHSCII_2024_25 = 1.0402
NEL_LONG_ALL_HRG = 5132.23  # all-HRG non-elective long stay per FCE (sum cost / sum activity)
EMERGENCY_CARE_ALL_HRG = 272.97  # all emergency medicine HRGs, per attendance


def _link(source: str, record: str, key: str | None, out_of_ics: bool = False) -> tuple[object, ...]:
    return (source, record, key, "deterministic" if key else "unlinked", 1.0, False, out_of_ics)


def _activity(con: duckdb.DuckDBPyConnection) -> None:
    insert(con, "person", [person("P1"), person("P2", sex="M")])
    insert(
        con,
        "clin_spells",
        [
            ("S1", "P1", "RX1", date(2024, 5, 1), date(2024, 5, 21), 20, "21", True, "DZ65B", False),
            ("S2", "P1", "RX1", date(2024, 6, 1), date(2024, 6, 1), 0, "11", False, "FD03G", False),
            ("S3", "P2", "RX1", date(2024, 7, 1), date(2024, 7, 7), 6, "21", True, None, False),
            ("S4", "P2", "RX1", date(2025, 3, 20), None, None, "21", True, "DZ65B", False),
            ("S5", "P1", "RX1", date(2024, 3, 1), date(2024, 3, 5), 4, "21", True, "DZ65B", False),
        ],
    )
    insert(
        con,
        "stg_ecds",
        [("E1", "x", "RX1", date(2024, 8, 1), "1"), ("E2", "x", "RX1", date(2024, 8, 2), "09")],
    )
    insert(
        con,
        "stg_opa",
        [
            ("O1", "x", "RX1", date(2024, 9, 1), "5", True, False, "1", "430", None),
            ("O2", "x", "RX1", date(2024, 9, 2), "5", True, False, "2", "999", None),
            ("O3", "x", "RX1", date(2024, 9, 3), "3", False, True, "2", "430", None),
        ],
    )
    insert(
        con,
        "stg_csds",
        [
            ("C1", "x", "RY1", date(2024, 10, 1), "district_nursing", 60, True),
            ("C2", "x", "RY1", date(2024, 10, 2), "community_matron", None, True),
            ("C3", "x", "RY1", date(2024, 10, 3), "xyz", 30, True),
        ],
    )
    insert(
        con,
        "stg_asc",
        [
            ("A1", None, "E06", "service", "home_care", date(2024, 1, 1), date(2024, 4, 14), 10.0, 20.0, "hourly"),
            ("A2", None, "E06", "service", "residential", date(2025, 3, 18), None, 1.0, None, "weekly"),
            ("A3", None, "E06", "assessment", None, date(2024, 11, 1), date(2024, 11, 1), None, None, None),
            ("A4", None, "E06", "service", "home_care", date(2024, 5, 1), None, None, 20.0, "hourly"),
        ],
    )
    insert(
        con,
        "person_link",
        [
            _link("ecds", "E1", "P1"),
            _link("ecds", "E2", "P2"),
            _link("opa", "O1", "P1"),
            _link("opa", "O2", "P1"),
            _link("opa", "O3", "P2"),
            _link("csds", "C1", "P1"),
            _link("csds", "C2", "P1"),
            _link("csds", "C3", "P2"),
            _link("asc", "E06|A1", "P1"),
            _link("asc", "E06|A2", "P2"),
            _link("asc", "E06|A3", "P1"),
            _link("asc", "E06|A4", None),
        ],
    )


def test_costing_known_answers(con: duckdb.DuckDBPyConnection, settings: config.Settings) -> None:
    _activity(con)
    summary = costing.cost_activity(con, settings, FY)
    costs = {
        r[0]: (r[1], r[2], r[3])
        for r in con.execute("SELECT record_id, cost, costed, cost_basis FROM activity_costs").fetchall()
    }
    expected = {
        "S1": 4131.02,  # DZ65B, non-elective long stay, per FCE (no excess bed days in the NCC summary)
        "S2": 394.92,  # FD03G, day case
        "S3": NEL_LONG_ALL_HRG,  # no HRG: the department's all-HRG average
        "E1": EMERGENCY_CARE_ALL_HRG,  # no HRG in the extract, department type 01
        "O1": 232.07,  # FIRSTATT 1 -> WF01B consultant-led (no HRG on the record)
        "O2": 192.28,  # FIRSTATT 2 -> WF01A consultant-led
        "O3": 0.0,  # not attended: zero by rule
        "C1": 58.11,  # district nursing -> N02AF per contact (duration not used)
        "C2": 136.14,  # community matron -> N06AF
        "E06|A1": 20 * 10 * 2 / NHSCII_2024_25,  # hourly: unit cost x planned units x 2 weeks, in 2023/24 prices
    }
    for record, value in expected.items():
        assert costs[record][0] == pytest.approx(value, abs=0.01), record
        assert costs[record][1] is True, record
    # open spell; no HRG and an unknown department type; no currency for the team type; no record
    # unit cost (no citable national fallback); no published assessment cost; hourly, no planned units
    for record in ("S4", "E2", "C3", "E06|A2", "E06|A3", "E06|A4"):
        assert costs[record][0] is None and costs[record][1] is False, record
    assert "S5" not in costs  # discharged in the previous financial year
    assert costs["S1"][2] == "apc:full_hrg:non_elective_long"
    assert costs["S3"][2] == "apc:fallback:non_elective_long:no_hrg"
    assert costs["O1"][2] == "opa:fallback:assumed_consultant_led:firstatt_1_as_WF01B"
    assert costs["C1"][2] == "csds:currency:district_nursing:N02AF"
    assert costs["E06|A3"][2] == "asc:uncosted:no_verified_unit_cost:assessment"
    assert summary.loc[~summary["costed"], "records"].sum() == 6
    assert summary["total_cost"].sum() == pytest.approx(sum(expected.values()), abs=0.05)
    assert summary["unlinked_records"].sum() == 1  # A4
    assert set(summary["cost_level"]) <= set(costing_qa.COST_LEVELS)


def test_ecds_attendance_with_a_sus_hrg_is_priced_at_that_hrg(
    con: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    """A SUS+ ECDS extract carrying SUS_HRG_Code: the attendance takes its HRG's unit cost, not the average."""
    _activity(con)
    con.execute("ALTER TABLE stg_ecds ADD COLUMN hrg_code VARCHAR")
    con.execute("UPDATE stg_ecds SET hrg_code = 'vb07z' WHERE attendance_id = 'E1'")
    costing.cost_activity(con, settings, FY)
    cost, basis = con.execute("SELECT cost, cost_basis FROM activity_costs WHERE record_id = 'E1'").fetchone()
    assert cost == pytest.approx(359.29)  # VB07Z, NCC 2023/24: category 2 investigation, category 2 treatment
    assert basis.startswith("ecds:full_hrg")


def test_costing_is_idempotent(con: duckdb.DuckDBPyConnection, settings: config.Settings) -> None:
    _activity(con)
    costing.cost_activity(con, settings, FY)
    costing.cost_activity(con, settings, FY)
    assert con.execute("SELECT count(*) FROM activity_costs").fetchone() == (16,)


def test_bad_reference_table_names_file_row_and_field(tmp_path: Path, settings: config.Settings) -> None:
    folder = tmp_path / "ref"
    folder.mkdir()
    for path in reference.DEFAULT_REFERENCE_DIR.iterdir():
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    text = (folder / "ncc_ecds_hrg_costs.csv").read_text(encoding="utf-8").replace(",866.37,", ",lots,")
    (folder / "ncc_ecds_hrg_costs.csv").write_text(text, encoding="utf-8")
    bad = config.with_overrides(settings, **{"capitation.reference_dir": folder})
    with pytest.raises(InputError, match=r"ncc_ecds_hrg_costs.csv: row 2: field unit_cost"):
        reference.load_reference(duckdb.connect(), bad)


def test_financial_year() -> None:
    assert FY.start == date(2024, 4, 1) and FY.end == date(2025, 3, 31) and FY.label == "2024/25"
    assert costing.FinancialYear.containing(date(2025, 3, 31)).year == 2024


def test_financial_year_from_settings_is_the_year_asked_else_the_settings_year() -> None:
    settings = config.Settings()
    assert costing.FinancialYear.from_settings(settings, 2022) == costing.FinancialYear(2022)
    assert costing.FinancialYear.from_settings(settings) == costing.FinancialYear(2024)
