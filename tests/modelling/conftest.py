"""A planted-signal population written as the features/labels/cohort tables, plus a tiny feature dictionary."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from popheath.clinical.feature_dictionary import CONTRACT_FEATURES
from popheath.config import Settings

TRAIN_AS_OF = date(2023, 4, 1)
TEST_AS_OF = date(2024, 4, 1)
PLANTED_TOP_FEATURE = "community_contacts_12m"
FEATURES = list(CONTRACT_FEATURES)

DICTIONARY_YAML = """\
version: "test-1.0"
features:
  age: {description: Age in years, reason: "aged {value:.0f}", unit: years}
  emergency_admissions_12m:
    description: Emergency admissions in the last 12 months
    reason: "{value:.0f} emergency admissions in the last 12 months"
    unit: admissions
  community_contacts_12m:
    description: Community care contacts in the last 12 months
    reason: "{value:.0f} community care contacts in the last 12 months"
    unit: contacts
  hfrs: {description: Hospital Frailty Risk Score, reason: "frailty score {value:.1f}", unit: points}
  care_home: {description: Lives in a care home, reason: "lives in a care home", unit: flag}
  days_since_last_emergency_discharge:
    description: Days since the last emergency discharge
    reason: "discharged from an emergency admission {value:.0f} days ago"
    unit: days
"""


def planted_population(n: int, seed: int, as_of: date, *, under_65: int = 0) -> pd.DataFrame:
    """People aged 65+ whose 12-month risk is driven mostly by a band of community contacts (6-14).

    True log-odds (ACSC): -4.0 + 2.2 [6 <= community_contacts_12m <= 14] + 0.35 emergency admissions (capped at 4)
    + 1.0 [discharged within 60 days] + 1.2 [care home and aged 85+] + 0.05 hfrs + 0.015 (age - 65).
    """
    rng = np.random.default_rng(seed)
    age = np.minimum(65 + rng.gamma(2.0, 6.0, n), 104).round()
    care_home = (rng.random(n) < 0.02 + 0.004 * (age - 65)).astype(float)
    emergency = rng.poisson(0.25 * np.exp(0.02 * (age - 65)))
    community = rng.poisson(rng.gamma(1.0, 4.0, n))
    hfrs = np.round(rng.gamma(1.5, 3.0, n), 1)
    days = np.where(emergency > 0, rng.integers(1, 366, n), np.nan)
    recent = np.nan_to_num(days, nan=999) <= 60
    frame = pd.DataFrame(
        {
            "as_of": as_of,
            "person_key": [f"P{seed % 1000:03d}{i:07d}" for i in range(n)],
            "age": age,
            "sex_female": (rng.random(n) < 0.55).astype(float),
            "imd_decile": rng.integers(1, 11, n).astype(float),
            "care_home": care_home,
            "emergency_admissions_12m": emergency.astype(float),
            "acsc_admissions_12m": rng.binomial(emergency, 0.4).astype(float),
            "emergency_bed_days_12m": (emergency * rng.poisson(5, n)).astype(float),
            "ed_attendances_12m": (emergency + rng.poisson(0.3, n)).astype(float),
            "community_contacts_12m": community.astype(float),
            "social_care_services_12m": rng.poisson(0.2, n).astype(float),
            "days_since_last_emergency_discharge": days,
            "hfrs": hfrs,
            "charlson_score": rng.poisson(1.0, n).astype(float),
            "elixhauser_vw": rng.normal(0, 4, n).round(),
            "long_term_conditions": rng.poisson(1.5, n).astype(float),
            "end_of_life_proxy": (rng.random(n) < 0.02).astype(float),
        }
    )
    acsc_logit = (
        -4.0
        + 2.2 * ((community >= 6) & (community <= 14))
        + 0.35 * np.minimum(emergency, 4)
        + 1.0 * recent
        + 1.2 * ((care_home == 1) & (age >= 85))
        + 0.05 * hfrs
        + 0.015 * (age - 65)
    )
    emergency_logit = acsc_logit + 0.8
    frame["p_acsc"] = 1 / (1 + np.exp(-acsc_logit))
    frame["p_emergency"] = 1 / (1 + np.exp(-emergency_logit))
    frame["acsc_admission_12m"] = (rng.random(n) < frame["p_acsc"]).astype(int)
    frame["emergency_admission_12m"] = np.maximum(
        frame["acsc_admission_12m"], (rng.random(n) < frame["p_emergency"]).astype(int)
    )
    frame["age_band"] = pd.cut(age, [64, 74, 84, 200], labels=["65-74", "75-84", "85+"]).astype(str)
    frame["sex"] = np.where(frame["sex_female"] == 1, "F", "M")
    frame["ethnic_group"] = rng.choice(
        ["White", "Asian", "Black", "Mixed", "Other", "Unknown"], n, p=[0.8, 0.08, 0.04, 0.02, 0.02, 0.04]
    )
    frame["imd_quintile"] = np.ceil(frame["imd_decile"] / 2).astype(int)
    frame["place"] = rng.choice(["North", "South", "East"], n)
    frame["is_65plus"] = True
    frame["is_frail"] = (hfrs >= 5) | (care_home == 1)
    if under_65:
        young = frame.sample(under_65, random_state=seed).copy()
        young["person_key"] = [f"Y{seed % 1000:03d}{i:07d}" for i in range(under_65)]
        young["age"] = 50.0
        young["age_band"] = "18-64"
        young["is_65plus"] = False
        frame = pd.concat([frame, young], ignore_index=True)
    return frame


def write_tables(con: duckdb.DuckDBPyConnection, frames: list[pd.DataFrame]) -> None:
    """Write features, labels and cohort in the contract's shape (docs/data_model.md)."""
    people = pd.concat(frames, ignore_index=True)
    features = people[["as_of", "person_key", *FEATURES]]
    labels = people[["as_of", "person_key", "acsc_admission_12m", "emergency_admission_12m"]]
    cohort = people[
        [
            "as_of",
            "person_key",
            "age",
            "age_band",
            "sex",
            "ethnic_group",
            "imd_quintile",
            "place",
            "is_65plus",
            "is_frail",
        ]
    ].assign(hfrs=people["hfrs"])
    for name, frame in (("features", features), ("labels", labels), ("cohort", cohort)):
        con.register("incoming", frame)
        con.execute(
            f"CREATE OR REPLACE TABLE {name} AS SELECT * EXCLUDE (as_of), CAST(as_of AS DATE) AS as_of FROM incoming"
        )
        con.unregister("incoming")


@dataclasses.dataclass
class PlantedWorld:
    """Settings pointing at a temporary warehouse, registry, truth folder and dictionary."""

    settings: Settings
    train: pd.DataFrame
    test: pd.DataFrame


def make_world(root: Path, n: int = 6000, seed: int = 7, *, truth: bool = True) -> PlantedWorld:
    """Write the planted population at the training and test dates under ``root``."""
    dictionary = root / "feature_dictionary.yaml"
    dictionary.write_text(DICTIONARY_YAML)
    settings = Settings()
    settings = dataclasses.replace(
        settings,
        paths=dataclasses.replace(
            settings.paths, warehouse=root / "warehouse.duckdb", models=root / "models", truth=root / "truth"
        ),
        model=dataclasses.replace(
            settings.model,
            train_as_of=TRAIN_AS_OF,
            test_as_of=TEST_AS_OF,
            bootstrap_samples=50,
            feature_dictionary=dictionary,
        ),
    )
    train = planted_population(n, seed, TRAIN_AS_OF, under_65=200)
    test = planted_population(n, seed + 1, TEST_AS_OF, under_65=200)
    con = duckdb.connect(str(settings.paths.warehouse))
    write_tables(con, [train, test])
    con.close()
    if truth:
        settings.paths.truth.mkdir()
        both = pd.concat([train, test], ignore_index=True)
        oracle = pd.DataFrame(
            {
                "person_id": both["person_key"],
                "as_of": both["as_of"],
                "p_acsc_admission_12m": both["p_acsc"],
                "p_emergency_admission_12m": both["p_emergency"],
            }
        )
        oracle.to_parquet(settings.paths.truth / "risk.parquet")
    return PlantedWorld(settings, train, test)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> PlantedWorld:
    """A planted world, written once per test module."""
    return make_world(tmp_path_factory.mktemp("world"))


@pytest.fixture
def world_factory(tmp_path: Path) -> Callable[..., PlantedWorld]:
    """Build a fresh planted world in this test's folder."""

    def build(**kwargs: object) -> PlantedWorld:
        return make_world(tmp_path, **kwargs)  # type: ignore[arg-type]

    return build
