"""Hand-made warehouses for the list tests: a few people with exactly the attributes a test needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from popheath import config

MODEL = ("acsc_admission_12m", "v1")


def tok(number: int) -> str:
    """A pseudonymised token: 16 upper-case hex characters, as data_model.md specifies."""
    return f"{number:016X}"


@dataclass
class P:
    """One person at one as-of date; defaults give a registered 80-year-old with no conditions."""

    key: str
    pcn: str | None = "PCN1"
    practice: str | None = "A81001"
    place: str = "North"
    age: int = 80
    sex: str = "F"
    hfrs: float | None = 0.0
    care_home: bool = False
    ltc: int | None = 0
    eol: bool = False
    risk: float | None = None
    reasons: tuple[str, str, str] = ("3 emergency admissions in the last 12 months", "frailty score 12", "aged 80")
    social_care: bool = False
    type1: bool = False
    ndoo: bool = False
    died: date | None = None
    reg_end: date | None = None
    in_cohort: bool | None = None  # None: registered, alive and no type 1 objection, as the cohort rules say

    def cohort_member(self, as_of: date) -> bool:
        if self.in_cohort is not None:
            return self.in_cohort
        gone = (self.died is not None and self.died <= as_of) or (self.reg_end is not None and self.reg_end <= as_of)
        return not gone and not self.type1


@dataclass
class Spell:
    person: str
    admission: date
    discharge: date | None
    emergency: bool = True
    diagnosis: str = "J441"
    acsc: bool | None = None  # None: an ACSC admission when emergency (J44.1 is COPD, NHS OF 2.3.i)
    specialty: str | None = None  # treatment function of the first episode
    procedures: tuple[str, ...] = ()  # OPCS-4 codes of the first episode, primary first


@dataclass
class Attendance:
    """An ED attendance (ECDS)."""

    person: str
    arrival: date
    department_type: str = "01"


@dataclass
class Contact:
    """A community contact (CSDS)."""

    person: str
    contact_date: date
    team_type: str = "district_nursing"
    attended: bool = True


@dataclass
class World:
    """A DuckDB warehouse file the tests add as-of dates to."""

    path: Path
    spells: list[Spell] = field(default_factory=list)
    attendances: list[Attendance] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path))

    def add(self, as_of: date, people: list[P], model: tuple[str, str] = MODEL, score_everyone: bool = False) -> None:
        """Add cohort, features and scores rows for ``as_of``; replace ``person`` with these people's state."""
        con = self.connect()
        try:
            _create(con)
            con.execute("DELETE FROM cohort WHERE as_of = ?", [as_of])
            con.execute("DELETE FROM features WHERE as_of = ?", [as_of])
            con.execute("DELETE FROM scores WHERE as_of = ?", [as_of])
            con.execute("DELETE FROM person")
            scored = [p for p in people if p.risk is not None and (score_everyone or p.cohort_member(as_of))]
            ordered = sorted(scored, key=lambda p: (-(p.risk or 0.0), p.key))
            person_rows, cohort_rows, feature_rows, score_rows = [], [], [], []
            for p in people:
                person_rows.append([p.key, p.practice, p.pcn, p.place, p.reg_end, p.died, p.type1, p.ndoo, True])
                if p.cohort_member(as_of):
                    band = "85+" if p.age >= 85 else "75-84" if p.age >= 75 else "65-74" if p.age >= 65 else "18-64"
                    hfrs_band = (
                        None if p.hfrs is None else "high" if p.hfrs > 15 else "intermediate" if p.hfrs >= 5 else "low"
                    )
                    cohort_rows.append(
                        [
                            as_of,
                            p.key,
                            p.age,
                            band,
                            p.sex,
                            p.practice,
                            p.pcn,
                            p.place,
                            p.care_home,
                            p.age >= 65,
                            (p.hfrs or 0) >= 5 or p.care_home,
                            p.hfrs,
                            hfrs_band,
                            p.social_care,
                            p.ndoo,
                        ]
                    )
                    feature_rows.append([as_of, p.key, p.ltc, p.hfrs, p.care_home, p.eol, 0])
            for position, p in enumerate(ordered, start=1):
                score_rows.append(
                    [
                        as_of,
                        p.key,
                        model[0],
                        model[1],
                        p.risk,
                        position,
                        100.0 * (1 - (position - 1) / len(ordered)),
                        *p.reasons,
                    ]
                )
            spell_rows = [
                [
                    f"S{n}",
                    s.person,
                    s.admission,
                    s.discharge,
                    s.emergency,
                    s.diagnosis,
                    s.emergency if s.acsc is None else s.acsc,
                    "RXX01",
                    f"E{n}",
                ]
                for n, s in enumerate(self.spells)
            ]
            episode_rows = [[f"E{n}", s.person, s.specialty, list(s.procedures)] for n, s in enumerate(self.spells)]
            ed_rows = [[f"A{n}", a.person, a.arrival, a.department_type] for n, a in enumerate(self.attendances)]
            contact_rows = [
                [f"C{n}", c.person, c.contact_date, c.team_type, c.attended] for n, c in enumerate(self.contacts)
            ]
            for table in ("clin_spells", "clin_episodes", "clin_ed_attendances", "clin_community_contacts"):
                con.execute(f"DELETE FROM {table}")
            for table, rows in (
                ("person", person_rows),
                ("cohort", cohort_rows),
                ("features", feature_rows),
                ("scores", score_rows),
                ("clin_spells", spell_rows),
                ("clin_episodes", episode_rows),
                ("clin_ed_attendances", ed_rows),
                ("clin_community_contacts", contact_rows),
            ):
                _insert(con, table, rows)
        finally:
            con.close()


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Sequence[object]]) -> None:
    if not rows:
        return
    columns = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
    frame = pd.DataFrame(rows, columns=columns)  # noqa: F841 - read by DuckDB below
    con.execute(f"INSERT INTO {table} SELECT * FROM frame")


def _create(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS person (person_key VARCHAR, practice_code VARCHAR, pcn_code VARCHAR, place VARCHAR,"
        " registration_end DATE, date_of_death DATE, type1_opt_out BOOLEAN, national_data_opt_out BOOLEAN,"
        " in_population BOOLEAN)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS cohort (as_of DATE, person_key VARCHAR, age INTEGER, age_band VARCHAR,"
        " sex VARCHAR, practice_code VARCHAR, pcn_code VARCHAR, place VARCHAR, care_home BOOLEAN,"
        " is_65plus BOOLEAN, is_frail BOOLEAN, hfrs DOUBLE, hfrs_band VARCHAR, social_care_long_term BOOLEAN,"
        " national_data_opt_out BOOLEAN)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS features (as_of DATE, person_key VARCHAR, long_term_conditions INTEGER,"
        " hfrs DOUBLE, care_home BOOLEAN, end_of_life_proxy BOOLEAN, emergency_admissions_12m INTEGER)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS scores (as_of DATE, person_key VARCHAR, model_name VARCHAR,"
        " model_version VARCHAR, risk DOUBLE, rank BIGINT, percentile DOUBLE, reason_1 VARCHAR,"
        " reason_2 VARCHAR, reason_3 VARCHAR)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS clin_spells (spell_key VARCHAR, person_key VARCHAR, admission_date DATE,"
        " discharge_date DATE, is_emergency BOOLEAN, primary_diagnosis VARCHAR, is_acsc BOOLEAN,"
        " provider_code VARCHAR, first_episode_id VARCHAR)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS clin_episodes (episode_id VARCHAR, person_key VARCHAR, treatment_specialty VARCHAR,"
        " procedures VARCHAR[])"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS clin_ed_attendances (attendance_id VARCHAR, person_key VARCHAR,"
        " arrival_date DATE, department_type VARCHAR)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS clin_community_contacts (contact_id VARCHAR, person_key VARCHAR,"
        " contact_date DATE, team_type VARCHAR, attended BOOLEAN)"
    )


def settings_for(tmp_path: Path, **lists: object) -> config.Settings:
    """Settings pointing at a warehouse and outputs folder under tmp_path."""
    base = config.Settings()
    paths = dataclasses.replace(
        base.paths, warehouse=tmp_path / "warehouse.duckdb", outputs=tmp_path / "outputs", models=tmp_path / "models"
    )
    list_settings = dataclasses.replace(base.lists, **lists)  # type: ignore[arg-type]
    return dataclasses.replace(base, paths=paths, lists=list_settings)
