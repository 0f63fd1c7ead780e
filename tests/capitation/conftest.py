"""Hand-made DuckDB fixtures with the upstream table contracts of docs/data_model.md."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from popheath import config, db

DDL = {
    "person": """person_key VARCHAR, birth_year INTEGER, birth_month INTEGER, sex VARCHAR, practice_code VARCHAR,
        pcn_code VARCHAR, place VARCHAR, registration_start DATE, registration_end DATE, date_of_death DATE,
        national_data_opt_out BOOLEAN, type1_opt_out BOOLEAN, in_population BOOLEAN""",
    "person_link": """source VARCHAR, record_id VARCHAR, person_key VARCHAR, method VARCHAR,
        match_probability DOUBLE, out_of_area BOOLEAN, out_of_ics_provider BOOLEAN""",
    "clin_spells": """spell_key VARCHAR, person_key VARCHAR, provider_code VARCHAR, admission_date DATE,
        discharge_date DATE, length_of_stay INTEGER, admission_method VARCHAR, is_emergency BOOLEAN,
        hrg_code VARCHAR, out_of_ics_provider BOOLEAN""",
    "stg_ecds": """attendance_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, arrival_date DATE,
        department_type VARCHAR""",
    "stg_opa": """appointment_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, appointment_date DATE,
        attendance_status VARCHAR, attended BOOLEAN, did_not_attend BOOLEAN, first_attendance VARCHAR,
        treatment_specialty VARCHAR, hrg_code VARCHAR""",
    "stg_csds": """contact_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, contact_date DATE,
        team_type VARCHAR, duration_minutes INTEGER, attended BOOLEAN""",
    "stg_asc": """event_id VARCHAR, person_id VARCHAR, la_code VARCHAR, event_type VARCHAR, service_type VARCHAR,
        event_start DATE, event_end DATE, planned_units_per_week DOUBLE, unit_cost DOUBLE, cost_unit VARCHAR,
        unpaid_carer BOOLEAN""",
    "segments": "as_of DATE, person_key VARCHAR, segment VARCHAR, tier VARCHAR",
    "cohort": "as_of DATE, person_key VARCHAR, is_frail BOOLEAN",
}


def make_settings(tmp_path: Path, **overrides: Any) -> config.Settings:
    settings = config.with_overrides(
        config.Settings(),
        **{"paths.warehouse": tmp_path / "w.duckdb", "paths.outputs": tmp_path / "outputs"},
    )
    return config.with_overrides(settings, **{f"capitation.{k}": v for k, v in overrides.items()})


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name, columns in DDL.items():
        con.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert positional rows; a row shorter than the table fills its first columns (the rest NULL)."""
    rows = list(rows)
    if rows:
        names = [str(row[0]) for row in con.execute(f"DESCRIBE {table}").fetchall()][: len(rows[0])]
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)


def person(key: str, birth_year: int = 1940, sex: str = "F", **kw: Any) -> tuple[Any, ...]:
    return (
        key,
        birth_year,
        kw.get("birth_month", 6),
        sex,
        kw.get("practice", "P1"),
        kw.get("pcn", "N1"),
        kw.get("place", "North"),
        kw.get("registration_start", date(2000, 1, 1)),
        kw.get("registration_end"),
        kw.get("date_of_death"),
        kw.get("ndoo", False),
        kw.get("type1", False),
        kw.get("in_population", True),
    )


@pytest.fixture()
def settings(tmp_path: Path) -> config.Settings:
    return make_settings(tmp_path)


@pytest.fixture()
def con(settings: config.Settings) -> Iterable[duckdb.DuckDBPyConnection]:
    connection = db.connect(settings)
    create_tables(connection)
    yield connection
    connection.close()
