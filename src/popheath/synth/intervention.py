"""Plant a known intervention effect for contacted people, for the list evaluation's known-answer test.

A small population with a latent emergency admission rate per person; a risk score built from what a
model can see at the list date (last year's admissions, age band, segment), so it regresses to the
mean; contact chosen with a probability that rises with risk (so a naive before/after comparison of
the contacted is biased); and, after each contacted person's contact date, their emergency admissions
thinned by ``rate_ratio`` (1.0 = no effect). The evaluation must recover ``rate_ratio``.

Pure and seeded: frames in the shapes the evaluation reads (population at the list date, emergency
admissions, feedback actions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

AGE_BANDS = {"65-74": 0.7, "75-84": 1.0, "85+": 1.5}
SEGMENTS = {"one_ltc": 0.6, "multimorbidity": 1.0, "frailty_moderate": 1.6}
PCNS = ("PCN1", "PCN2")


@dataclass(frozen=True)
class PlantedWorld:
    """What the evaluation gets, plus the truth it should recover."""

    population: pd.DataFrame  # person_key, list_date, risk, age_band, segment, pcn_code, practice_code
    admissions: pd.DataFrame  # person_key, admission_date (emergency admissions)
    actions: pd.DataFrame  # pcn_code, person_token, action, action_date
    list_date: date
    rate_ratio: float
    contacted: int


def plant_intervention(
    people: int = 8000,
    rate_ratio: float = 0.6,
    list_date: date = date(2024, 4, 1),
    seed: int = 7,
    contact_slope: float = 8.0,
    contact_share: float = 0.12,
) -> PlantedWorld:
    """Simulate two years before and 14 months after ``list_date``; thin contacted people's admissions after contact."""
    rng = np.random.default_rng(seed)
    keys = np.array([f"{n:016X}" for n in range(1, people + 1)])
    age = rng.choice(list(AGE_BANDS), people, p=[0.45, 0.35, 0.20])
    segment = rng.choice(list(SEGMENTS), people, p=[0.4, 0.4, 0.2])
    pcn = rng.choice(PCNS, people)
    multiplier = np.array([AGE_BANDS[a] for a in age]) * np.array([SEGMENTS[s] for s in segment])
    # Latent yearly rate of emergency admissions: gamma-distributed (over-dispersed, as admissions are).
    rate = rng.gamma(shape=0.7, scale=0.45, size=people) * multiplier
    start = list_date - timedelta(days=730)
    end = list_date + timedelta(days=425)
    span = (end - start).days
    counts = rng.poisson(rate * span / 365.25)
    owner = np.repeat(np.arange(people), counts)
    offsets = rng.integers(0, span, size=owner.size)
    days = np.array([start + timedelta(days=int(d)) for d in offsets], dtype="datetime64[D]")
    # What a model sees at the list date: admissions in the last year plus age band and segment.
    last_year = np.bincount(
        owner[(days >= np.datetime64(list_date - timedelta(days=365))) & (days < np.datetime64(list_date))],
        minlength=people,
    )
    linear = -3.2 + 0.9 * np.log1p(last_year) + 0.8 * np.log(multiplier) + rng.normal(0, 0.3, people)
    risk = 1 / (1 + np.exp(-linear))
    # Contact more likely the higher the risk (as a coordinator works down the list).
    logit = np.log(contact_share / (1 - contact_share)) + contact_slope * (risk - risk.mean())
    contacted = rng.random(people) < 1 / (1 + np.exp(-logit))
    contact_day = np.array([list_date + timedelta(days=int(d)) for d in rng.integers(0, 22, people)])
    # Plant the effect: each admission after the contact date survives with probability rate_ratio.
    after_contact = contacted[owner] & (days >= contact_day[owner].astype("datetime64[D]"))
    keep = ~after_contact | (rng.random(owner.size) < rate_ratio)
    admissions = pd.DataFrame({"person_key": keys[owner[keep]], "admission_date": pd.to_datetime(days[keep])})
    population = pd.DataFrame(
        {
            "person_key": keys,
            "list_date": list_date,
            "risk": risk,
            "age_band": age,
            "segment": segment,
            "pcn_code": pcn,
            "practice_code": np.where(pcn == "PCN1", "A81001", "B82001"),
        }
    )
    chosen = np.flatnonzero(contacted)
    actions = pd.DataFrame(
        {
            "pcn_code": pcn[chosen],
            "person_token": keys[chosen],
            "action": rng.choice(["contacted", "care_plan_in_place"], chosen.size, p=[0.7, 0.3]),
            "action_date": contact_day[chosen],
        }
    )
    return PlantedWorld(population, admissions, actions, list_date, rate_ratio, int(contacted.sum()))
