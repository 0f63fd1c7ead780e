"""A small seeded population with a planted cost signal, written as the upstream DuckDB tables.

Cost in a year depends on a chronic condition and prior emergency admissions (both known at the
year start, in `features`); practices differ in how common the condition is, so a model using the
features explains practice budgets better than age and sex alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from popheath.db import run_file, sql_path

YEARS = (2023, 2024)


@dataclass(frozen=True)
class Planted:
    people: pd.DataFrame
    costs: pd.DataFrame


def make_people(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    practices = np.array([f"P{i:02d}" for i in range(30)])
    prevalence = np.linspace(0.05, 0.7, len(practices))
    practice_index = rng.integers(0, len(practices), n)
    age = rng.integers(20, 96, n)
    people = pd.DataFrame(
        {
            "person_key": [f"K{i:06d}" for i in range(n)],
            "birth_year": 2023 - age,
            "birth_month": 1,
            "sex": rng.choice(["M", "F"], n),
            "practice_code": practices[practice_index],
            "pcn_code": "N1",
            "place": np.where(practice_index % 2 == 0, "North", "South"),
            "registration_start": date(2000, 1, 1),
            "registration_end": pd.NaT,
            "date_of_death": pd.NaT,
            "national_data_opt_out": False,
            "type1_opt_out": False,
            "in_population": True,
            "chronic": rng.random(n) < prevalence[practice_index],
        }
    )
    return people


def yearly_costs(people: pd.DataFrame, year: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features at 1 April of ``year`` and one acute cost row per person with cost in that year."""
    rng = np.random.default_rng(seed + year)
    n = len(people)
    chronic = people["chronic"].to_numpy()
    prior = rng.poisson(0.1 + 1.2 * chronic)
    age = year - people["birth_year"].to_numpy()
    mean = 150 + 8 * np.maximum(age - 40, 0) + 2500 * chronic + 1200 * prior
    cost = rng.gamma(1.0, mean) * (rng.random(n) < 0.85)
    features = pd.DataFrame(
        {
            "as_of": date(year, 4, 1),
            "person_key": people["person_key"],
            "chronic_condition": chronic.astype(float),
            "emergency_admissions_12m": prior.astype(float),
            "noise": rng.normal(size=n),
        }
    )
    costs = pd.DataFrame(
        {
            "source": "apc",
            "record_id": [f"R{year}{i:06d}" for i in range(n)],
            "person_key": people["person_key"],
            "activity_date": date(year, 10, 1),
            "setting": "acute",
            "cost": cost,
            "cost_basis": "apc:planted",
            "costed": True,
            "financial_year": year,
            "price_base": "2023/24",
            "provider_code": "RX1",
            "out_of_area": False,
            "out_of_ics_provider": False,
        }
    )
    return features, costs[costs["cost"] > 0]


def write(con: duckdb.DuckDBPyConnection, people: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Write person, features, segments, cohort and activity_costs for both years; returns all costs."""
    run_file(con, sql_path("40_marts/costing/01_create_activity_costs.sql"))
    person = people.drop(columns=["chronic"])
    con.register("_person", person)
    con.execute("CREATE OR REPLACE TABLE person AS SELECT * FROM _person")
    all_costs = []
    for year in YEARS:
        features, costs = yearly_costs(people, year, seed)
        segments = pd.DataFrame(
            {
                "as_of": date(year, 4, 1),
                "person_key": people["person_key"],
                "segment": np.where(people["chronic"], "long_term_condition", "mostly_healthy"),
                "tier": np.where(features["emergency_admissions_12m"] > 1, "high", "low"),
            }
        )
        cohort = pd.DataFrame(
            {
                "as_of": date(year, 4, 1),
                "person_key": people["person_key"],
                "is_frail": (year - people["birth_year"] >= 75) & people["chronic"],
            }
        )
        for name, frame in (("features", features), ("segments", segments), ("cohort", cohort)):
            con.register("_frame", frame)
            if year == YEARS[0]:
                con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _frame")
            else:
                con.execute(f"INSERT INTO {name} SELECT * FROM _frame")
            con.unregister("_frame")
        con.register("_costs", costs)
        con.execute("INSERT INTO activity_costs BY NAME SELECT * FROM _costs")
        con.unregister("_costs")
        all_costs.append(costs)
    return pd.concat(all_costs, ignore_index=True)
