"""Shipped reference costs against their cited figures, and known answers for how they are applied.

``fixtures/ncc_2023_24_published.csv`` copies, with each row's citation, the National Cost Collection
2023/24 figures of ``shared/reference/unit_costs_published.csv`` (NHS England national schedule summary
as packaged by NICE in NICE-Data-and-Analytics/COSTmos ``data/ncc.rda`` at commit c79d227): the all-HRG
activity-weighted averages per FCE, emergency medicine HRGs VB01Z-VB11Z, outpatient WF01A-D and
community currencies. The cost-frequency answers follow DHSC's ASC-CLD dashboard ``6.Costs_fact.sql``
(national_formats.md section 1.5).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from popheath import config
from popheath.capitation import costing, reference
from popheath.errors import InputError

from .conftest import insert, person

FIXTURE = Path(__file__).parent / "fixtures" / "ncc_2023_24_published.csv"
FY = costing.FinancialYear(2024)


def _loaded(settings: config.Settings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    reference.load_reference(con, settings)
    return con


def test_every_cited_figure_matches_the_shipped_schedule() -> None:
    published = pd.read_csv(FIXTURE, dtype={"department": str}, keep_default_na=False)
    con = _loaded(config.Settings())
    tables = {spec.file: spec.table for spec in reference.SPECS}
    assert len(published) == 36
    for row in published.itertuples():
        key = "currency_code" if row.file == "ncc_community_costs.csv" else "hrg_code"
        sql = f"SELECT unit_cost, price_year FROM {tables[row.file]} WHERE {key} = $code"
        params: dict[str, str] = {"code": row.code}
        if row.department:
            sql += " AND department = $department"
            params["department"] = row.department
        found = con.execute(sql, params).fetchall()
        assert len(found) == 1, (row.file, row.code, row.department)
        assert found[0][0] == pytest.approx(row.cost_gbp, abs=0.005), (row.item, row.citation)
        assert found[0][1] == row.price_year


def test_every_unit_cost_table_names_source_commit_year_and_basis() -> None:
    sources = yaml.safe_load((reference.DEFAULT_REFERENCE_DIR / "sources.yaml").read_text(encoding="utf-8"))
    for spec in reference.SPECS:
        entry = sources["tables"][spec.file]
        assert entry["source"] and entry["year"] and entry["notes"], spec.file
        if spec.file.startswith("ncc_"):
            assert entry["commit"] == "c79d227d88465e0aa00a619b77c11e96e1dcb996" and entry["basis"], spec.file
            frame = pd.read_csv(reference.DEFAULT_REFERENCE_DIR / spec.file, dtype=str)
            assert set(frame["price_year"]) == {"2023/24"}, spec.file
    shipped = {p.name for p in reference.DEFAULT_REFERENCE_DIR.glob("*.csv")}
    assert shipped == {spec.file for spec in reference.SPECS}


def test_a_mapping_naming_an_unpublished_currency_is_refused(tmp_path: Path, settings: config.Settings) -> None:
    folder = tmp_path / "ref"
    folder.mkdir()
    for path in reference.DEFAULT_REFERENCE_DIR.iterdir():
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    with (folder / "csds_team_currency.csv").open("a", encoding="utf-8") as handle:
        handle.write("other,ZZ99,made up\n")
    bad = config.with_overrides(settings, **{"capitation.reference_dir": folder})
    with pytest.raises(InputError, match=r"csds_team_currency.csv: field currency_code"):
        reference.load_reference(duckdb.connect(), bad)


# --- spell pricing on a hand-made schedule -------------------------------------------------------

SCHEDULE = """hrg_code,department,activity,unit_cost,price_year
XA01A,non_elective_long,10,1000,2023/24
XA01B,non_elective_long,30,2000,2023/24
XA02A,non_elective_long,60,500,2023/24
YB01A,non_elective_long,100,400,2023/24
XA01A,elective,10,3000,2023/24
"""


@pytest.fixture()
def schedule_settings(tmp_path: Path, settings: config.Settings) -> config.Settings:
    folder = tmp_path / "ref"
    folder.mkdir()
    for path in reference.DEFAULT_REFERENCE_DIR.iterdir():
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "ncc_apc_hrg_costs.csv").write_text(SCHEDULE, encoding="utf-8")
    return config.with_overrides(settings, **{"capitation.reference_dir": folder})


def _spell(key: str, hrg: str | None, method: str = "21", los: int = 5) -> tuple[object, ...]:
    admitted = date(2024, 6, 1)
    return (key, "P1", "RX1", admitted, date(2024, 6, 1 + los), los, method, method.startswith("2"), hrg, False)


def test_spell_is_priced_once_at_its_hrg_then_root_chapter_and_department_average(
    con: duckdb.DuckDBPyConnection, schedule_settings: config.Settings
) -> None:
    insert(con, "person", [person("P1")])
    insert(
        con,
        "clin_spells",
        [
            _spell("full", "XA01B"),  # full HRG: 2000 (one FCE, whatever the spell's episode count)
            _spell("root", "XA01C"),  # root XA01: (10 x 1000 + 30 x 2000) / 40 = 1750
            _spell("chapter", "XA09Z"),  # chapter XA: (10000 + 60000 + 30000) / 100 = 1000
            _spell("other", "ZZ01A"),  # unlisted chapter: all-HRG non-elective long (140000 / 200) = 700
            _spell("none", None),  # no HRG: the same department average
            _spell("ungroupable", "UZ01Z"),  # UZ01Z is treated as no HRG
            _spell("elective", "XA01B", method="11"),  # elective: root XA01 elective = 3000
        ],
    )
    costing.cost_activity(con, schedule_settings, FY)
    got = dict(con.execute("SELECT record_id, cost FROM activity_costs").fetchall())
    basis = dict(con.execute("SELECT record_id, cost_basis FROM activity_costs").fetchall())
    assert got == pytest.approx(
        {"full": 2000, "root": 1750, "chapter": 1000, "other": 700, "none": 700, "ungroupable": 700, "elective": 3000}
    )
    assert basis["full"] == "apc:full_hrg:non_elective_long"
    assert basis["root"] == "apc:hrg_root:non_elective_long"
    assert basis["chapter"] == "apc:hrg_chapter:non_elective_long"
    assert basis["other"] == "apc:fallback:non_elective_long:unlisted_hrg"
    assert basis["ungroupable"] == "apc:fallback:non_elective_long:no_hrg"


def test_a_sus_final_price_is_used_when_the_extract_carries_one(
    con: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    insert(con, "person", [person("P1")])
    con.execute("ALTER TABLE clin_spells ADD COLUMN final_price DOUBLE")
    con.execute("ALTER TABLE stg_opa ADD COLUMN consultant_led BOOLEAN")
    insert(con, "clin_spells", [(*_spell("priced", "DZ65B"), 1234.5), (*_spell("unpriced", "DZ65B"), None)])
    insert(
        con,
        "stg_opa",
        [
            ("O1", "x", "RX1", date(2024, 9, 1), "5", True, False, "2", "430", "WF01A", False),
            ("O2", "x", "RX1", date(2024, 9, 1), "5", True, False, "2", "430", None, True),
        ],
    )
    costing.cost_activity(con, settings, FY)
    got = {r[0]: (r[1], r[2]) for r in con.execute("SELECT record_id, cost, cost_basis FROM activity_costs").fetchall()}
    # A 2024/25 final price in 2023/24 prices: over the NHSCII pay-and-prices change into 2024/25 (4.02%).
    assert got["priced"] == (pytest.approx(1234.5 / 1.0402), "apc:final_price:non_elective_long")
    assert got["unpriced"] == (pytest.approx(4131.02), "apc:full_hrg:non_elective_long")
    assert got["O1"] == (pytest.approx(124.29), "opa:full_hrg:non_consultant_led:WF01A")  # non-consultant-led WF01A
    assert got["O2"] == (pytest.approx(192.28), "opa:fallback:consultant_led:firstatt_2_as_WF01A")


# --- ASC-CLD cost frequency (DHSC 6.Costs_fact.sql) ----------------------------------------------


@pytest.fixture()
def activity_year_prices(settings: config.Settings) -> config.Settings:
    """Price base = the activity year (2024/25), so ASC-CLD record unit costs are not re-priced."""
    return config.with_overrides(settings, **{"capitation.price_base_year": FY.label})


@pytest.mark.parametrize(
    ("frequency", "planned_units", "expected", "basis"),
    [
        # a 28-day service wholly in the year (4 weeks), unit cost 100
        ("weekly", 3.0, 100 * 1 * 4, "asc:record_unit_cost:weekly"),  # frequency trusted over planned units
        ("fortnightly", None, 100 * 0.5 * 4, "asc:record_unit_cost:fortnightly"),
        ("4_weekly", None, 100 * 0.25 * 4, "asc:record_unit_cost:4_weekly"),
        ("monthly", None, 100 * 12 / 52 * 4, "asc:record_unit_cost:monthly"),
        ("quarterly", None, 100 * 4 / 52 * 4, "asc:record_unit_cost:quarterly"),
        ("annually", None, 100 * 1 / 52 * 4, "asc:record_unit_cost:annually"),
        ("one_off", None, 100, "asc:record_unit_cost:one_off"),  # counted once
        ("hourly", 6.0, 100 * 6 * 4, "asc:record_unit_cost:hourly"),  # planned units per week
        ("per_session", -2.0, 100 * 2 * 4, "asc:record_unit_cost:per_session"),  # negative made positive
        ("daily", None, None, "asc:uncosted:no_planned_units"),
    ],
)
def test_cost_frequency_conversion(
    con: duckdb.DuckDBPyConnection,
    activity_year_prices: config.Settings,
    frequency: str,
    planned_units: float | None,
    expected: float | None,
    basis: str,
) -> None:
    start, end = date(2024, 5, 1), date(2024, 5, 28)
    insert(con, "stg_asc", [("A1", None, "E06", "service", "home_care", start, end, planned_units, 100.0, frequency)])
    costing.cost_activity(con, activity_year_prices, FY)
    cost, cost_basis = con.execute("SELECT cost, cost_basis FROM activity_costs").fetchone() or (None, None)
    assert cost_basis == basis
    assert (cost is None) if expected is None else cost == pytest.approx(expected)


def test_negative_unit_cost_is_made_positive_and_one_off_before_the_year_is_not_counted(
    con: duckdb.DuckDBPyConnection, activity_year_prices: config.Settings
) -> None:
    insert(
        con,
        "stg_asc",
        [
            ("A1", None, "E06", "service", "home_care", date(2024, 5, 1), date(2024, 5, 14), None, -50.0, "weekly"),
            ("A2", None, "E06", "service", "equipment", date(2024, 3, 1), None, None, 400.0, "one_off"),
        ],
    )
    costing.cost_activity(con, activity_year_prices, FY)
    got = dict(con.execute("SELECT record_id, cost FROM activity_costs").fetchall())
    assert got == {"E06|A1": pytest.approx(100.0)}


# --- NHS Cost Inflation Index (PSSRU Unit Costs 2024 and 2025 manuals) ----------------------------


def _copy_reference(tmp_path: Path) -> Path:
    folder = tmp_path / "ref"
    folder.mkdir()
    for path in reference.DEFAULT_REFERENCE_DIR.iterdir():
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_the_index_chains_the_published_pay_and_prices_changes() -> None:
    con = _loaded(config.Settings())
    index = dict(con.execute("SELECT financial_year, index FROM ref_cap_inflation").fetchall())
    assert index["2014/15"] == 100
    # Pay and prices, per cent into each year: 2020/21 2.49, 2021/22 2.58, 2022/23 7.32, 2023/24 2.47
    # (2025 manual revision), 2024/25 4.02 (provisional).
    assert index["2024/25"] / index["2023/24"] == pytest.approx(1.0402)
    assert index["2023/24"] / index["2022/23"] == pytest.approx(1.0247)
    assert index["2023/24"] / index["2019/20"] == pytest.approx(1.0249 * 1.0258 * 1.0732 * 1.0247)
    statuses = dict(con.execute("SELECT financial_year, status FROM ref_cap_inflation").fetchall())
    assert statuses["2024/25"] == "provisional" and statuses["2022/23"] == "published"


@pytest.mark.parametrize(
    ("price_base", "factor"),
    [
        ("2023/24", 1.0),
        ("2024/25", 1.0402),
        ("2022/23", 1 / 1.0247),
        ("2019/20", 1 / (1.0249 * 1.0258 * 1.0732 * 1.0247)),
    ],
)
def test_costs_are_converted_to_the_chosen_price_base(
    con: duckdb.DuckDBPyConnection, settings: config.Settings, price_base: str, factor: float
) -> None:
    insert(con, "stg_csds", [("C1", "x", "RY1", date(2024, 10, 1), "district_nursing", 30, True)])
    insert(
        con,
        "stg_asc",
        [("A1", None, "E06", "service", "home_care", date(2024, 5, 1), date(2024, 5, 28), 6.0, 20.0, "hourly")],
    )
    based = config.with_overrides(settings, **{"capitation.price_base_year": price_base})
    costing.cost_activity(con, based, FY)
    got = dict(con.execute("SELECT record_id, cost FROM activity_costs").fetchall())
    assert got["C1"] == pytest.approx(58.11 * factor)  # NCC 2023/24 N02AF, in 2023/24 prices
    # ASC-CLD record unit costs are in the activity year's (2024/25) prices: 20 x 6 a week x 4 weeks.
    assert got["E06|A1"] == pytest.approx(20 * 6 * 4 * factor / 1.0402)


def test_a_not_verified_row_is_never_used(tmp_path: Path, settings: config.Settings) -> None:
    folder = _copy_reference(tmp_path)
    with (folder / "inflation_index.csv").open("a", encoding="utf-8") as handle:
        handle.write("2025/26,3.10,3.00,3.20,NOT VERIFIED,none,no citable copy\n")
        handle.write("2026/27,2.00,2.00,2.00,provisional,none,after an unverified year: cannot be chained\n")
    local = config.with_overrides(settings, **{"capitation.reference_dir": folder})
    years = [r[0] for r in _loaded(local).execute("SELECT financial_year FROM ref_cap_inflation").fetchall()]
    assert years[-1] == "2024/25"
    for base in ("2025/26", "2026/27"):
        based = config.with_overrides(local, **{"capitation.price_base_year": base})
        with pytest.raises(
            InputError, match=rf"inflation_index.csv: field financial_year: expected a published .* {base}"
        ):
            reference.load_reference(duckdb.connect(), based)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "2025/26,1.0,1.0,1.0,guessed,none,x",
            r"row 12: field status: expected published or provisional or NOT VERIFIED",
        ),
        ("2026/27,1.0,1.0,1.0,published,none,x", r"row 12: field financial_year: expected consecutive financial years"),
        ("2025/26,,1.0,1.0,published,none,x", r"row 12: field pay_and_prices_pct: expected a percentage change"),
    ],
)
def test_a_bad_index_row_is_one_clear_error(tmp_path: Path, settings: config.Settings, row: str, message: str) -> None:
    folder = _copy_reference(tmp_path)
    with (folder / "inflation_index.csv").open("a", encoding="utf-8") as handle:
        handle.write(row + "\n")
    with pytest.raises(InputError, match=message):
        reference.load_reference(
            duckdb.connect(), config.with_overrides(settings, **{"capitation.reference_dir": folder})
        )


# --- community team types on NCC currencies -------------------------------------------------------


def test_specialist_nursing_and_other_team_types_are_priced_on_ncc_currencies(
    con: duckdb.DuckDBPyConnection, settings: config.Settings
) -> None:
    insert(
        con,
        "stg_csds",
        [
            ("C1", "x", "RY1", date(2024, 10, 1), "specialist_nursing", 30, True),
            ("C2", "x", "RY1", date(2024, 10, 1), "other", 30, True),
            ("C3", "x", "RY1", date(2024, 10, 1), "school_nursing", 30, True),
        ],
    )
    costing.cost_activity(con, settings, FY)
    got = {r[0]: (r[1], r[2]) for r in con.execute("SELECT record_id, cost, cost_basis FROM activity_costs").fetchall()}
    # The 17 NCC 2023/24 adult face-to-face specialist nursing currencies N08AF-N29AF: sum of unit
    # cost x activity / sum of activity = 560,820,486.48 / 5,643,220 contacts.
    assert got["C1"] == (
        pytest.approx(99.3795, abs=1e-4),
        "csds:currency_group:specialist_nursing:average_of_17_currencies",
    )
    assert got["C2"] == (pytest.approx(78.26), "csds:fallback:other:CHS00")  # NCC 'No currency data available'
    assert got["C3"] == (None, "csds:uncosted:no_currency_for_team_type:school_nursing")


def test_a_single_currency_team_type_with_two_currencies_is_refused(tmp_path: Path, settings: config.Settings) -> None:
    folder = _copy_reference(tmp_path)
    with (folder / "csds_team_currency.csv").open("a", encoding="utf-8") as handle:
        handle.write("podiatry,A09B,currency,a second currency\n")
    with pytest.raises(
        InputError, match=r"csds_team_currency.csv: row 2\d: field level: expected one level for team type podiatry"
    ):
        reference.load_reference(
            duckdb.connect(), config.with_overrides(settings, **{"capitation.reference_dir": folder})
        )
