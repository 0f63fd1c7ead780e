"""Leakage: features at T read nothing dated on or after T; labels read nothing dated before T
(beyond who is in the cohort, their status at T, and whether a stay was already under way)."""

import copy
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from .ics_builder import SCHEMAS, Ics, build, rows

T = date(2024, 4, 1)
CODES = ["J441", "I500", "N390", "S720", "W19", "F00", "G81", "C787", "K721", "E112", "Z515", "R69", "I10", "J181"]
TEAMS = ["district_nursing", "community_matron", "rapid_response", "therapy", "other"]
SERVICES = ["home_care", "residential", "nursing", "reablement", "equipment"]
METHODS = ["21", "22", "2A", "28", "11", "12", "81"]


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days))


def random_ics(seed: int, people: int = 40) -> Ics:
    """People with activity spread over 2021-2025, spells spanning T, transfers and deaths after T."""
    rng = random.Random(seed)
    ics = Ics()
    for index in range(people):
        key = f"p{index:02d}"
        death = _day(rng, T, date(2025, 12, 31)) if rng.random() < 0.15 else None
        ics.person(
            key,
            birth_year=rng.randint(1925, 1975),
            date_of_death=death,
            care_home=False,
            registration_end=_day(rng, T, date(2025, 12, 31)) if rng.random() < 0.1 else None,
        )
        for _ in range(rng.randint(0, 6)):
            admitted = _day(rng, date(2021, 1, 1), date(2025, 6, 1))
            discharged = admitted + timedelta(days=rng.choice([0, 1, 3, 8, 25]))
            ics.episode(
                key,
                admitted,
                discharged,
                rng.sample(CODES, rng.randint(1, 4)),
                procedures=rng.choice([[], ["K401"], ["U051"]]),
                admission_method=rng.choice(METHODS),
                discharge_destination=rng.choice(["19", "51", "54"]),
                provider_code=rng.choice(["RAA", "RBB"]),
            )
        if rng.random() < 0.3:  # a two-episode spell whose second episode starts after T
            ics.episode(
                key,
                T - timedelta(days=3),
                T + timedelta(days=9),
                ["J441"],
                spell_id=f"X{key}",
                episode_order=1,
                episode_end=T + timedelta(days=1),
            )
            ics.episode(
                key,
                T - timedelta(days=3),
                T + timedelta(days=9),
                ["I500"],
                spell_id=f"X{key}",
                episode_order=2,
                episode_start=T + timedelta(days=1),
            )
        for _ in range(rng.randint(0, 5)):
            ics.ed(key, _day(rng, date(2021, 1, 1), date(2025, 6, 1)))
            ics.outpatient(key, _day(rng, date(2021, 1, 1), date(2025, 6, 1)), attended=rng.random() < 0.8)
            ics.community(key, _day(rng, date(2021, 1, 1), date(2025, 6, 1)), rng.choice(TEAMS))
        for _ in range(rng.randint(0, 2)):
            start = _day(rng, date(2021, 1, 1), date(2025, 6, 1))
            ics.social_care(
                key, start, rng.choice([None, start + timedelta(days=rng.randint(1, 400))]), rng.choice(SERVICES)
            )
    return ics


def record_date(table: str, row: dict[str, Any]) -> date | None:
    """The date that places a record before or after an as-of date."""
    field = {
        "stg_apc": "episode_start",
        "stg_ecds": "arrival_date",
        "stg_opa": "appointment_date",
        "stg_csds": "contact_date",
        "stg_asc": "event_start",
    }.get(table)
    return row[field] if field else None


def change_future(ics: Ics, rng: random.Random) -> Ics:
    """Change or delete every record dated on/after T, and every date field that lies on/after T."""
    changed = copy.deepcopy(ics)
    for table, table_rows in changed.rows.items():
        kept = []
        for row in table_rows:
            when = record_date(table, row)
            if when is not None and when >= T:
                if rng.random() < 0.4:
                    continue  # deleted
                row.update(
                    {
                        "diagnoses": rng.sample(CODES, 2),
                        "admission_method": "21",
                        "discharge_destination": "51",
                        "team_type": "other",
                        "attended": True,
                        "service_type": "nursing",
                        "unit_cost": 999.0,
                    }
                    if table in ("stg_apc", "stg_csds", "stg_asc")
                    else {"department_type": "03"}
                )
                row = {k: v for k, v in row.items() if k in _columns(table) or k == "person_id"}
            for field in ("discharge_date", "episode_end", "event_end", "date_of_death", "registration_end"):
                if field in row and row[field] is not None and row[field] >= T:
                    row[field] = rng.choice([None, row[field] + timedelta(days=rng.randint(1, 90))])
            kept.append(row)
        changed.rows[table] = kept
    return changed


def _columns(table: str) -> set[str]:
    return {c.split()[0] for c in SCHEMAS[table].replace("\n", " ").split(",")}


def delete_past(ics: Ics, before: date) -> Ics:
    """Delete every activity record (and spell) that ended before ``before``."""
    changed = copy.deepcopy(ics)
    for table in ("stg_apc", "stg_ecds", "stg_opa", "stg_csds", "stg_asc"):
        changed.rows[table] = [
            row
            for row in changed.rows[table]
            if (record_date(table, row) or T) >= before
            or (row.get("discharge_date") or row.get("event_end") or date.max) >= T
        ]
    return changed


def table(con: Any, name: str) -> list[dict[str, Any]]:
    return rows(con, f"SELECT * FROM {name} ORDER BY person_key")


@pytest.mark.parametrize("seed", [11, 12])
def test_features_ignore_records_dated_on_or_after_as_of(tmp_path: Path, seed: int) -> None:
    ics = random_ics(seed)
    original = build(ics, tmp_path, T)
    changed = build(change_future(ics, random.Random(seed)), tmp_path, T)
    before = table(original, "asof_features")
    assert before == table(changed, "asof_features")
    assert table(original, "asof_cohort") == table(changed, "asof_cohort")
    # The test has teeth: the changes do move the labels, and the features are not all zero.
    assert table(original, "asof_labels") != table(changed, "asof_labels")
    assert sum(r["emergency_admissions_24m"] for r in before) > 20
    assert sum(r["hfrs"] > 0 for r in before) > 10


def test_labels_ignore_records_dated_before_as_of(tmp_path: Path) -> None:
    ics = random_ics(13)
    original = build(ics, tmp_path, T)
    # Records ending more than 3 days before T cannot continue (transfer) into a stay after T.
    changed = build(delete_past(ics, T - timedelta(days=30)), tmp_path, T)
    assert table(original, "asof_labels") == table(changed, "asof_labels")
    assert table(original, "asof_features") != table(changed, "asof_features")
    assert sum(r["emergency_admission_12m"] for r in table(original, "asof_labels")) > 5
