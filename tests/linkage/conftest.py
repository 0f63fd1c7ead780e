"""Hand-made canonical staging tables for the link stage, built in DuckDB under tmp_path."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from popheath.config import Paths, Settings


def token(i: int, prefix: str = "A") -> str:
    """A 16-character upper-case hex-like token, distinct per i and prefix."""
    return f"{prefix}{i:015X}"


@dataclass
class Ics:
    """What a fixture contains, so tests can assert against the known answer."""

    people: list[dict[str, object]] = field(default_factory=list)
    asc: list[dict[str, object]] = field(default_factory=list)
    truth: dict[str, str | None] = field(default_factory=dict)  # event_id -> true person token
    activity: dict[str, list[tuple[str, str | None, str | None]]] = field(default_factory=dict)
    discharges: list[tuple[str, str, date]] = field(default_factory=list)  # (episode_id, person_id, discharge date)


POPULATION_DDL = """
CREATE OR REPLACE TABLE stg_population (
    person_id VARCHAR, birth_year INTEGER, birth_month INTEGER, sex VARCHAR, ethnic_category VARCHAR,
    lsoa_code VARCHAR, imd_decile INTEGER, practice_code VARCHAR, pcn_code VARCHAR, place VARCHAR,
    registration_start DATE, registration_end DATE, date_of_death DATE, care_home BOOLEAN,
    type1_opt_out BOOLEAN, national_data_opt_out BOOLEAN, person_effective_from DATE, removal_reason VARCHAR,
    superseded_person_ids VARCHAR[], _load_id VARCHAR, _flags VARCHAR[]
)"""
ASC_DDL = """
CREATE OR REPLACE TABLE stg_asc (
    event_id VARCHAR, person_id VARCHAR, birth_year INTEGER, birth_month INTEGER, sex VARCHAR,
    lsoa_code VARCHAR, practice_code VARCHAR, la_code VARCHAR, event_type VARCHAR, service_type VARCHAR,
    event_start DATE, event_end DATE, planned_units_per_week DOUBLE, unit_cost DOUBLE, cost_unit VARCHAR,
    client_id VARCHAR, ethnic_category VARCHAR, date_of_death DATE, _load_id VARCHAR
)"""
ACTIVITY_DDL = {
    "apc": "CREATE OR REPLACE TABLE stg_apc (episode_id VARCHAR, person_id VARCHAR, spell_id VARCHAR, "
    "provider_code VARCHAR, admission_date DATE, discharge_date DATE, episode_start DATE, ethnic_category VARCHAR, "
    "_load_id VARCHAR)",
    "ecds": "CREATE OR REPLACE TABLE stg_ecds (attendance_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, "
    "arrival_date DATE, ethnic_category VARCHAR, _load_id VARCHAR)",
    "opa": "CREATE OR REPLACE TABLE stg_opa (appointment_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, "
    "appointment_date DATE, ethnic_category VARCHAR, _load_id VARCHAR)",
    "csds": "CREATE OR REPLACE TABLE stg_csds (contact_id VARCHAR, person_id VARCHAR, provider_code VARCHAR, "
    "contact_date DATE, ethnic_category VARCHAR, _load_id VARCHAR)",
}


def make_people(n: int, lsoas: int, practices: int, rng: np.random.Generator) -> list[dict[str, object]]:
    """Spine people with birth years 1925-2004, uniform months, two sexes, LSOAs and practices."""
    people = []
    for i in range(n):
        lsoa = int(rng.integers(lsoas))
        # practices cluster geographically: mostly the LSOA's own practice
        practice = lsoa * practices // lsoas if rng.random() < 0.8 else int(rng.integers(practices))
        people.append(
            {
                "person_id": token(i),
                "birth_year": int(rng.integers(1925, 2005)),
                "birth_month": int(rng.integers(1, 13)),
                "sex": "F" if rng.random() < 0.52 else "M",
                "ethnic_category": "A",
                "lsoa_code": f"E01{lsoa:06d}",
                "imd_decile": int(lsoa % 10 + 1),
                "practice_code": f"P{practice:05d}",
                "pcn_code": "U00001",
                "place": "North",
                "registration_start": date(2010, 1, 1),
                "registration_end": None,
                "date_of_death": None,
                "care_home": False,
                "type1_opt_out": False,
                "national_data_opt_out": False,
                "_load_id": "load-1",
                "_flags": [],
            }
        )
    return people


def noisy_copy(
    person: dict[str, object], rng: np.random.Generator, noise: float, lsoas: int, practice_blank: float = 0.6
) -> dict[str, object]:
    """The person's quasi-identifiers as a council might record them: year off by one, month slips, moves."""
    year, month = int(person["birth_year"]), int(person["birth_month"])  # type: ignore[call-overload]
    if rng.random() < noise:
        year += int(rng.choice([-1, 1]))
    if rng.random() < noise:
        month = 10 if month == 1 else 1 if month == 10 else (month % 12) + 1
    lsoa = person["lsoa_code"]
    if rng.random() < noise:
        lsoa = f"E01{int(rng.integers(lsoas)):06d}"
    sex = person["sex"] if rng.random() >= noise / 5 else None
    practice = None if rng.random() < practice_blank else person["practice_code"]
    return {"birth_year": year, "birth_month": month, "sex": sex, "lsoa_code": lsoa, "practice_code": practice}


def asc_row(
    event_id: str, person_id: str | None, fields: dict[str, object], la_code: str = "E06000001"
) -> dict[str, object]:
    """One stg_asc row."""
    return {
        "event_id": event_id,
        "person_id": person_id,
        **fields,
        "la_code": la_code,
        "event_type": "service",
        "service_type": "home_care",
        "event_start": date(2024, 6, 1),
        "event_end": None,
        "planned_units_per_week": 7.0,
        "unit_cost": 25.0,
        "cost_unit": "Hourly",
        "client_id": None,
        "ethnic_category": None,
        "date_of_death": None,
        **{k: v for k, v in fields.items() if k in ("client_id", "ethnic_category", "date_of_death")},
        "_load_id": "load-1",
    }


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
        [[row[c] for c in columns] for row in rows],
    )


def write_ics(path: Path, ics: Ics) -> None:
    """Create the six canonical staging tables in the DuckDB file at ``path``."""
    con = duckdb.connect(str(path))
    con.execute(POPULATION_DDL)
    con.execute(ASC_DDL)
    _insert(con, "stg_population", ics.people)
    _insert(con, "stg_asc", ics.asc)
    id_column = {"apc": "episode_id", "ecds": "attendance_id", "opa": "appointment_id", "csds": "contact_id"}
    for source, ddl in ACTIVITY_DDL.items():
        con.execute(ddl)
        if source == "apc" and ics.discharges:
            con.executemany(
                "INSERT INTO stg_apc (episode_id, person_id, provider_code, discharge_date) VALUES (?, ?, 'RXX01', ?)",
                [list(row) for row in ics.discharges],
            )
        rows = ics.activity.get(source, [])
        if not rows:
            continue
        con.executemany(
            f"INSERT INTO stg_{source} ({id_column[source]}, person_id, provider_code) VALUES (?, ?, ?)", rows
        )
    con.close()


def synthetic_ics(
    n_people: int = 1500,
    lsoas: int = 60,
    practices: int = 10,
    clients: int = 300,
    untokened_share: float = 0.5,
    noise: float = 0.05,
    seed: int = 7,
    discharge_share: float = 0.25,
) -> Ics:
    """A spine plus ASC events (half without a token, with noise) and hospital discharges.

    Each client's two service events start a month apart on a random day of 2023-24; a
    ``discharge_share`` of clients were discharged from hospital the day before each (events carry
    no client id here, so each is a record of its own), and 5% of
    everyone else has a discharge on a random day. 10% of people who are not clients registered
    with their GP only in 2025 or left in 2021, so registration varies. These draws use their own
    generator, so the people and noise are those of earlier versions of this fixture.
    """
    rng = np.random.default_rng(seed)
    activity_rng = np.random.default_rng(seed + 1_000)
    ics = Ics(people=make_people(n_people, lsoas, practices, rng))
    chosen = rng.choice(n_people, size=clients, replace=False)
    for k, index in enumerate(chosen):
        person = ics.people[int(index)]
        start = date(2023, 1, 1) + timedelta(days=int(activity_rng.integers(0, 700)))
        discharged = activity_rng.random() < discharge_share
        for e in range(2):
            event_id = f"EV{k:05d}-{e}"
            if discharged:
                day = start + timedelta(days=30 * e - 1)
                ics.discharges.append((f"DIS-{event_id}", str(person["person_id"]), day))
            has_token = rng.random() >= untokened_share
            fields = noisy_copy(person, rng, noise, lsoas)
            row = asc_row(event_id, str(person["person_id"]) if has_token else None, fields)
            row["event_start"] = start + timedelta(days=30 * e)
            ics.asc.append(row)
            ics.truth[event_id] = str(person["person_id"])
    clients_chosen = {int(index) for index in chosen}
    for index, person in enumerate(ics.people):
        if index in clients_chosen:
            continue
        if activity_rng.random() < 0.05:
            day = date(2023, 1, 1) + timedelta(days=int(activity_rng.integers(0, 730)))
            ics.discharges.append((f"DIS-P{index:05d}", str(person["person_id"]), day))
        churn = activity_rng.random()
        if churn < 0.05:
            person["registration_start"] = date(2025, 1, 1) + timedelta(days=int(activity_rng.integers(0, 60)))
        elif churn < 0.10:
            person["registration_end"] = date(2021, 1, 1) + timedelta(days=int(activity_rng.integers(0, 300)))
    return ics


@pytest.fixture
def settings_for(tmp_path: Path):
    """Settings pointing every path into tmp_path (warehouse, outputs, truth)."""

    def build(**link_overrides: object) -> Settings:
        paths = Paths(
            raw=tmp_path / "raw",
            truth=tmp_path / "truth",
            warehouse=tmp_path / "warehouse.duckdb",
            partitions=tmp_path / "partitions",
            outputs=tmp_path / "outputs",
            models=tmp_path / "models",
        )
        settings = Settings(paths=paths)
        return dataclasses.replace(settings, link=dataclasses.replace(settings.link, **link_overrides))

    return build
