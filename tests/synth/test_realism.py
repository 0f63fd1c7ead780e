"""The generator against published national figures: activity per person-year by source and age
band within tolerance of ``published_rates.csv``, and a true-probability AUROC for 65+ where the
ceilings of published models are (not the near-perfect ranking of a world without unexplained variance)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from popheath.errors import InputError
from popheath.synth import published
from popheath.synth.params import SynthParameters
from popheath.synth.population import NO_DATE, build_organisations, build_people, day
from popheath.synth.records import EMERGENCY, YearActivity
from popheath.synth.simulate import Simulator

PEOPLE = 100_000  # 65+: ~19,000 people and ~2,700 emergency admitters a year, for a stable AUROC
RATE_YEAR = date(2023, 4, 1)  # 2023-24, the year of the published rates


@pytest.fixture(scope="module")
def world() -> tuple[Simulator, dict[date, YearActivity]]:
    """A seeded ICS simulated from its burn-in year through 2024-25, in memory (nothing written)."""
    params = dataclasses.replace(SynthParameters(), people=PEOPLE, seed=3)
    rng = np.random.default_rng(params.seed)
    orgs = build_organisations(params, rng)
    sim = Simulator(params, build_people(params, orgs, rng), orgs, rng)
    years: dict[date, YearActivity] = {}
    for year in range(2020, 2025):
        start = date(year, 4, 1)
        years[start] = sim.step(day(start), day(date(year + 1, 4, 1)), want_truth=True)
    return sim, years


def _year_frames(sim: Simulator, activity: YearActivity) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Person-years of the registered population in the year, and one row per record of the year."""
    start, end = activity.year_start, activity.year_end
    people = sim.people
    stop = np.minimum(np.minimum(people.registration_end, sim.death.astype(np.int64) + 1), end)
    years = np.clip(stop - np.maximum(people.registration_start, start), 0, None) / 365.25
    registered = people.in_population & (years > 0)
    denominator = pl.DataFrame(
        {"person": np.flatnonzero(registered), "age": activity.state.age[registered], "person_years": years[registered]}
    )
    spells = activity.spells
    asc = pl.concat(sim.asc_events).filter((pl.col("event") == 0) & pl.col("start").is_between(start, end - 1))
    services = pl.concat(sim.service_rows).filter(pl.col("fixed_end") == NO_DATE)
    ended = pl.concat(sim.service_ends).group_by("service_id").agg(pl.col("end").min())
    services = services.join(ended, on="service_id", how="left").filter(
        (pl.col("start") < end) & (pl.col("end").is_null() | (pl.col("end") >= start))
    )

    def rows(person: pl.Series | np.ndarray, source: str, measure: str) -> pl.DataFrame:
        person = np.asarray(person, dtype=np.int64)
        return pl.DataFrame({"person": person, "source": source, "measure": measure})

    events = pl.concat(
        [
            rows(spells["person"], "apc", "finished_admission_episodes"),
            rows(spells.filter(pl.col("kind") == EMERGENCY)["person"], "apc", "emergency_admissions"),
            rows(activity.ecds["person"], "ecds", "attendances"),
            rows(activity.opa["person"], "opa", "appointments"),
            rows(activity.csds["person"], "csds", "care_contacts"),
            rows(asc["person"], "asc", "requests_new_clients"),
            rows(services["person"], "asc", "long_term_support_clients"),
        ]
    )
    return denominator.with_columns(pl.col("person").cast(pl.Int64)), events


def test_activity_per_person_year_matches_the_published_rates(
    world: tuple[Simulator, dict[date, YearActivity]],
) -> None:
    sim, years = world
    compared = published.compare(*_year_frames(sim, years[RATE_YEAR]))
    assert compared.height == len(published.load())
    outside = compared.filter(~pl.col("in_range"))
    assert outside.height == 0, outside.select("source", "measure", "age_band", "simulated", "published")


def test_true_probability_ranks_65_plus_like_a_published_ceiling(
    world: tuple[Simulator, dict[date, YearActivity]],
) -> None:
    _, years = world
    for as_of in (date(2023, 4, 1), date(2024, 4, 1)):
        activity = years[as_of]
        truth = activity.truth
        assert truth is not None
        person = truth["person"].to_numpy()
        old = activity.state.age[person] >= 65
        emergency = roc_auc_score(
            activity.emergency_count[person[old]] > 0, truth["p_emergency_admission_12m"].to_numpy()[old]
        )
        acsc = roc_auc_score(activity.acsc_count[person[old]] > 0, truth["p_acsc_admission_12m"].to_numpy()[old])
        assert 0.76 <= emergency <= 0.82, (as_of, emergency)
        assert 0.74 <= acsc <= 0.82, (as_of, acsc)
        # Last year's admissions alone rank far worse than the truth (a rule, not a model).
        prior = years[date(as_of.year - 1, 4, 1)].emergency_count  # admissions in the 12 months before
        rule = roc_auc_score(activity.emergency_count[person[old]] > 0, prior[person[old]])
        assert rule < emergency - 0.05, (as_of, rule, emergency)


def test_practices_differ_in_age_mix_and_deprivation_like_english_lists(
    world: tuple[Simulator, dict[date, YearActivity]],
) -> None:
    sim, years = world
    activity = years[RATE_YEAR]
    registered = sim.registered_alive(activity.year_start)
    practice = sim.people.practice[registered]
    lists = (
        pl.DataFrame({"practice": practice, "old": activity.state.age[registered] >= 65, "imd": sim.imd[registered]})
        .group_by("practice")
        .agg(pl.col("old").mean(), pl.col("imd").cast(pl.Float64).mean())
    )
    # NHS Digital, Patients Registered at a GP Practice: the share aged 65+ runs from ~2% to ~40% of a list.
    assert 0.03 <= lists["old"].std() <= 0.10, lists.sort("old")
    assert lists["old"].min() < 0.14 and lists["old"].max() > 0.24, lists.sort("old")
    assert lists["imd"].max() - lists["imd"].min() > 2.0, lists.sort("imd")  # inner-city and suburban lists


def test_use_is_concentrated_and_social_care_turns_over(world: tuple[Simulator, dict[date, YearActivity]]) -> None:
    sim, years = world
    activity = years[RATE_YEAR]
    registered = sim.registered_alive(activity.year_start)
    old = np.flatnonzero(registered & (activity.state.age >= 65))
    # Most older people have no community contact in a year; those who do have many (episodes of care).
    contacts = np.bincount(activity.csds["person"].to_numpy(), minlength=sim.people.size)[old]
    top_tenth = np.sort(contacts)[::-1][: contacts.size // 10].sum() / contacts.sum()
    assert 0.35 <= float((contacts > 0).mean()) <= 0.7 and top_tenth > 0.45, ((contacts > 0).mean(), top_tenth)
    # Long-term community packages: a large part of the year's clients started in it (new needs, changed
    # packages), so last year's cost is far from next year's.
    services = pl.concat(sim.service_rows).filter(pl.col("fixed_end") == NO_DATE)
    ended = pl.concat(sim.service_ends).group_by("service_id").agg(pl.col("end").min())
    live = services.join(ended, on="service_id", how="left").filter(
        (pl.col("start") < activity.year_end) & (pl.col("end").is_null() | (pl.col("end") >= activity.year_start))
    )
    started = live.group_by("person").agg((pl.col("start") >= activity.year_start).all().alias("new"))
    assert 0.3 <= float(started["new"].mean()) <= 0.6


def test_a_malformed_rates_file_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    header = ",".join(published.COLUMNS)
    path.write_text(header + "\napc,emergency_admissions,2023-24,85 plus,all,0.5,x,,,u,\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 2"):
        published.load(path)
    assert published.band_bounds("85+") == (85, 200) and published.band_bounds("18-44") == (18, 45)
