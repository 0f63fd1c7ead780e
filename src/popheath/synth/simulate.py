"""Year-by-year simulation of health and care use from a latent per-person risk.

Each financial year starts on 1 April. At that date every person's state fixes their emergency
admission rate ``lambda`` for the year; admissions are a Poisson process at that rate until death or
deregistration, and each is an ACSC admission with probability ``acsc_share``. Because the year
starts on the as-of date, the true probability of at least one (ACSC) emergency admission in the 12
months after 1 April is known exactly (:func:`probability_any`).

The rate (:meth:`Simulator.risk`) is the sum of three rates, each built from what the pipeline's
features observe (``sql/30_features/04_asof_features.sql``: age, sex, IMD decile, care home, long-term
social care, emergency admissions in the last 3/6/12/24 months, ED attendances in the last 12
months, days since the last emergency discharge, and the conditions coded in hospital in the last
two years behind HFRS, the frailty-syndrome count, Charlson, Elixhauser and the long-term-condition
count; each frailty condition here is one syndrome of ``ref_frailty_syndromes``):

1. chronic disease, log-additive in a steep age curve (care-home residents at least at the level of
   88-year-olds), sex, deprivation (strong at 45-74, none from 85), a saturating sum of condition
   weights and thresholds at 2 and 4 coded long-term conditions - both strong at 65-79 and almost nil at 90+ -,
   frailty steps at 2 and 4 coded frailty conditions (stronger from 80), heart failure x kidney
   disease, prior admissions (again strong in the younger old, small at 90+), and a markedly lower
   rate for people with coded needs (2+ frailty conditions or dementia) who have a care package or
   live in a care home;
2. readmission: after emergency admissions in the last 12 months, a saturating rate by their count
   and age, multiplied by a sharp hump in days since the last discharge: a multiplier of 0.1 in the
   first days (intermediate care and reablement) and after four months, 8.1 five weeks after
   discharge and half that at two and ten weeks, so the rate is carried by people discharged 2-12
   weeks before - not monotone in days;
3. crises of frailty and care: care-home residents admitted in the last 6 months, coded frailty or
   dementia with neither a care package nor a care home (0.8 admissions a year, in people 65+), a
   care package without coded needs (needs that the hospital record does not show), and frequent
   ED attenders (4 or more attendances in the last 12 months).

Support therefore acts with opposite signs: with coded needs a care package or care home lowers the
rate, without them a care package raises it, and coded needs raise it far more without support than
with it. No single coefficient on "has social care" or on frailty describes that.

Because the rates add, each pathway matters most for people low on the others (an interaction on the
log scale), and most effects are thresholds, saturating steps or age-dependent: a tree model on the
features can rank people better than a logistic regression that is linear in (log-transformed)
features. These shapes are modelling choices of the generator, not clinical estimates.

What the extracts cannot show, by design (kept small; the oracle-to-model gap measures it):

- a person effect ``hidden`` with standard deviation ``SynthParameters.hidden_sd`` on the log rate
  (unmeasured health, behaviour and support);
- conditions never coded in hospital (managed in primary care, whose records the ICS extracts do not
  include): they count at ``UNRECORDED_SHARE`` of their weight, against full weight once coded in an
  admission in the last two years; the ACSC share uses all true conditions;
- the exact condition weights (the pipeline sees them through HFRS, Charlson and Elixhauser weights,
  not these), and the year-start timing of the rate (features are computed on the same day, so none).

Reference rates the constants were tuned to (HES APC 2022-23, NHS Digital, Hospital Admitted Patient
Care Activity, rounded): emergency admissions per person-year about 0.06 at ages 18-44, 0.09 at 45-64,
0.15 at 65-74, 0.27 at 75-84 and 0.50 at 85+, with roughly a third of people 85+ admitted in a year;
ACSC admissions about a fifth of emergency admissions in people 65+ (Bardsley et al. 2013, BMJ Open,
"Is secondary preventive care improving?", ~1 in 5 emergency admissions). Mortality follows a
Gompertz curve close to ONS National Life Tables England 2020-22 (about 1% at 65, 9% at 85).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from popheath.synth.codes import (
    ACSC_CONDITION,
    ACSC_GROUPS,
    ADMISSION_METHODS_EMERGENCY,
    CONDITION_INDEX,
    CONDITIONS,
    ELECTIVE_GROUPS,
    EMERGENCY_GROUPS,
)
from popheath.synth.params import SynthParameters
from popheath.synth.population import NO_DATE, Organisations, People, day

# Group numbering shared with the extracts: ACSC groups, then emergency, elective, maternity.
N_ACSC = len(ACSC_GROUPS)
N_EMERGENCY = len(EMERGENCY_GROUPS)
N_ELECTIVE = len(ELECTIVE_GROUPS)
FIRST_EMERGENCY = N_ACSC
FIRST_ELECTIVE = N_ACSC + N_EMERGENCY
MATERNITY = FIRST_ELECTIVE + N_ELECTIVE

# Spell kinds.
EMERGENCY, TRANSFER, ELECTIVE, DELIVERY = 0, 1, 2, 3

# Social care service types (ASC-CLD canonical service_type values).
SERVICE_TYPES = ("home_care", "direct_payment", "day_care", "supported_living", "reablement", "residential", "nursing")
SERVICE_INDEX = {name: i for i, name in enumerate(SERVICE_TYPES)}
EVENT_TYPES = ("Request", "Assessment", "Service", "Review")

_C = {name: CONDITION_INDEX[name] for name in CONDITION_INDEX}
RISK_WEIGHTS = np.array([c.risk_weight for c in CONDITIONS], dtype=np.float32)
FRAILTY_MASK = np.array([c.frailty for c in CONDITIONS])
# Conditions the pipeline counts as long-term conditions (ref_long_term_conditions; not IHD or frailty).
LONG_TERM_MASK = ~FRAILTY_MASK & np.array([c.name != "ischaemic_heart_disease" for c in CONDITIONS])
_P50 = np.array([c.prevalence_50 for c in CONDITIONS])
_P80 = np.array([c.prevalence_80 for c in CONDITIONS])
PREVALENCE_INTERCEPT = np.log(_P50 / (1 - _P50)).astype(np.float32)
PREVALENCE_SLOPE = ((np.log(_P80 / (1 - _P80)) - np.log(_P50 / (1 - _P50))) / 30.0).astype(np.float32)

# Log emergency-admission rate of a person with no conditions, by age (tuned, see module doc).
BASE_AGES = np.array([0, 1, 5, 15, 25, 45, 65, 75, 85, 95, 110], dtype=np.float64)
BASE_LOG_RATE = np.log(np.array([0.28, 0.10, 0.04, 0.040, 0.030, 0.030, 0.016, 0.022, 0.15, 0.30, 0.33]))
PRIOR_ADMISSION_EFFECT = np.array([0.0, 1.0, 1.7, 2.2], dtype=np.float32)  # 0, 1, 2, 3+ in last 12 months
PRIOR_AGES = np.array([0, 65, 80, 90, 110], dtype=np.float64)
PRIOR_AGE_FACTOR = np.array([0.6, 1.3, 0.6, 0.1, 0.1])  # multiplier of the readmission rate by age
PRIOR_LOG_EFFECT = np.array([0.0, 0.7, 1.0])  # chronic log-rate by admissions in the last 12 months (0, 1, 2+)
READMISSION_RATE = 0.13  # extra admissions a year after one admission in the last 12 months (age 65)
RECENCY_PEAK = 8.0  # readmission rate multiplier added 5 weeks after an emergency discharge
RECENCY_FLOOR = 0.1  # readmission rate multiplier outside the hump (first week, after about 4 months)
CONDITION_CEILING, CONDITION_SCALE = 0.6, 1.1
CONDITION_AGES = np.array([0, 65, 80, 90, 110], dtype=np.float64)
CONDITION_AGE_FACTOR = np.array([1.0, 2.0, 1.2, 0.0, 0.0])
# Social care support and coded needs (frailty >= 2 or dementia) interact with opposite signs: support
# lowers the chronic log-rate of people with needs, needs without support add a crisis rate, and a care
# package without coded needs adds a rate for needs the hospital record does not show.
SUPPORT_EFFECT = 0.6
UNSUPPORTED_CRISIS_RATE = 0.8
HIDDEN_NEEDS_RATE = 0.3
UNRECORDED_SHARE = 0.35  # weight of a condition never coded in hospital (unobservable in the extracts)
DEPRIVATION_EFFECT = np.array([0, 0.35, 0.35, 0.15, 0.15, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def probability_any(rate: np.ndarray, exposure: np.ndarray, death_probability: np.ndarray) -> np.ndarray:
    """P(at least one event) for a Poisson process at ``rate`` per year observed for ``exposure`` of a year.

    Death occurs with probability ``death_probability`` at a uniform time in the year and stops the
    process: P(none) = (1 - q e) exp(-lambda e) + q (1 - exp(-lambda e)) / lambda.
    """
    e = exposure
    q = death_probability
    survive = np.exp(-rate * e)
    integral = np.where(rate > 1e-9, -np.expm1(-rate * e) / np.maximum(rate, 1e-9), e)
    return 1.0 - ((1.0 - q * e) * survive + q * integral)


def choose(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row, with probability proportional to the row's weights."""
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(weights.shape[0]) * cumulative[:, -1]
    return np.asarray((cumulative < draw[:, None]).sum(axis=1), dtype=np.int16).clip(0, weights.shape[1] - 1)


def uniform_days(rng: np.random.Generator, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """A uniform day in [start, stop) per row (start when the interval is empty)."""
    return (start + np.floor(rng.random(start.shape[0]) * np.maximum(stop - start, 0))).astype(np.int32)


@dataclass
class RiskState:
    """Risk at a 1 April: the rate, ACSC share and death probability for the following year."""

    at_day: int
    age: np.ndarray
    has: np.ndarray  # (people, conditions) bool
    frailty_count: np.ndarray
    care_home: np.ndarray
    social_care: np.ndarray
    rate: np.ndarray
    acsc_share: np.ndarray
    death_probability: np.ndarray


@dataclass
class YearActivity:
    """What happened in one financial year, as frames of person indexes, days and category codes."""

    year_start: int
    year_end: int
    state: RiskState
    spells: pl.DataFrame
    ecds: pl.DataFrame
    opa: pl.DataFrame
    csds: pl.DataFrame
    emergency_count: np.ndarray
    acsc_count: np.ndarray
    truth: pl.DataFrame | None = None
    extra: dict[str, int] = field(default_factory=dict)


class Simulator:
    """Holds everyone's evolving state and steps it one financial year at a time."""

    def __init__(self, params: SynthParameters, people: People, orgs: Organisations, rng: np.random.Generator):
        self.params = params
        self.people = people
        self.orgs = orgs
        self.rng = rng
        n = people.size
        self.imd = orgs.lsoa_imd[people.lsoa].astype(np.int8)
        self.place = orgs.pcn_place[orgs.practice_pcn[people.practice]].astype(np.int16)
        self.death = np.full(n, NO_DATE, dtype=np.int32)
        self.died_in_hospital = np.zeros(n, dtype=bool)
        self.care_home_start = np.full(n, NO_DATE, dtype=np.int32)
        self.care_home_nursing = np.zeros(n, dtype=bool)
        self.care_home_la_funded = rng.random(n) < 0.55  # ~55% of care-home residents LA-supported (ONS 2022)
        self.service_start = np.full(n, NO_DATE, dtype=np.int32)
        self.service_end = np.full(n, NO_DATE, dtype=np.int32)
        self.service_type = np.full(n, -1, dtype=np.int8)
        self.service_id = np.full(n, -1, dtype=np.int64)
        self.acquired = np.zeros((n, len(CONDITIONS)), dtype=bool)
        self.recorded_day = np.full((n, len(CONDITIONS)), -(2**30), dtype=np.int32)  # last day coded in hospital
        self.prior_emergency = np.zeros(n, dtype=np.int16)
        self.prior_acsc = np.zeros(n, dtype=np.int16)
        self.prior_ed = np.zeros(n, dtype=np.int16)  # ED attendances in the previous year
        # Emergency spells of the last two years (person, admission, discharge), for the history features.
        self.em_person = np.zeros(0, dtype=np.int32)
        self.em_admit = np.zeros(0, dtype=np.int32)
        self.em_discharge = np.zeros(0, dtype=np.int32)
        self.asc_events: list[pl.DataFrame] = []
        self.service_rows: list[pl.DataFrame] = []
        self.service_ends: list[pl.DataFrame] = []
        self._next_service_id = 0
        self._initialise_care(day(date(params.window_start.year - params.burn_in_years, 4, 1)))

    # ---- state -------------------------------------------------------------------------------

    def age(self, at_day: int) -> np.ndarray:
        """Age in years (float) at a day."""
        return ((at_day - self.people.birth_day) / 365.25).astype(np.float32)

    def conditions(self, at_day: int) -> np.ndarray:
        """Which conditions each person has at a day (age-driven, clustered, plus acquired ones)."""
        age = self.age(at_day)
        logit = (
            PREVALENCE_INTERCEPT[None, :]
            + PREVALENCE_SLOPE[None, :] * (age[:, None] - 50.0)
            + 0.8 * self.people.morbidity[:, None]
            + 0.08 * (5.5 - self.imd[:, None])
        )
        probability = sigmoid(logit)
        child = age < 16
        probability[child] *= 0.15
        return (self.people.condition_draw < probability) | self.acquired

    def _initialise_care(self, at_day: int) -> None:
        """Care-home residents and people with a long-term social care service before the simulation."""
        rng = self.rng
        age = self.age(at_day)
        has = self.conditions(at_day)
        frailty = has[:, FRAILTY_MASK].sum(axis=1)
        dementia = has[:, _C["dementia"]]
        old = age >= 65
        care_home = old & (rng.random(age.size) < sigmoid(-8.3 + 0.12 * (age - 65) + 1.6 * dementia + 0.5 * frailty))
        self.care_home_start[care_home] = (
            at_day - (rng.exponential(2.0, int(care_home.sum())) * 365).astype(np.int32) - 1
        )
        self.care_home_nursing = care_home & ((dementia & (rng.random(age.size) < 0.6)) | (rng.random(age.size) < 0.25))
        service = (
            ~care_home
            & (age >= 18)
            & (rng.random(age.size) < sigmoid(-5.6 + 0.07 * np.maximum(age - 60, 0) + 0.5 * frailty + 0.6 * dementia))
        )
        starts = at_day - (rng.exponential(2.0, int(service.sum())) * 365).astype(np.int32) - 1
        self._start_services(np.flatnonzero(service), starts, self._community_service_type(age[service]))
        home = np.flatnonzero(care_home & self.care_home_la_funded)
        self._start_services(
            home,
            self.care_home_start[home],
            np.where(self.care_home_nursing[home], SERVICE_INDEX["nursing"], SERVICE_INDEX["residential"]).astype(
                np.int8
            ),
            long_term=False,
        )

    def _community_service_type(self, age: np.ndarray) -> np.ndarray:
        weights = np.array([0.70, 0.13, 0.09, 0.03], dtype=np.float64)
        kind = self.rng.choice(4, size=age.size, p=weights / weights.sum())
        young = age < 50
        kind = np.where(young & (self.rng.random(age.size) < 0.5), SERVICE_INDEX["supported_living"], kind)
        return kind.astype(np.int8)

    def _start_services(
        self, persons: np.ndarray, starts: np.ndarray, kinds: np.ndarray, long_term: bool = True, weeks: int = 0
    ) -> np.ndarray:
        """Record new ASC service episodes (one row each); long-term ones become the person's current service."""
        ids = np.arange(self._next_service_id, self._next_service_id + persons.size, dtype=np.int64)
        self._next_service_id += persons.size
        fixed_end = (starts + 7 * weeks).astype(np.int32) if weeks else np.full(persons.size, NO_DATE, np.int32)
        self.service_rows.append(
            pl.DataFrame(
                {
                    "service_id": ids,
                    "person": persons.astype(np.int32),
                    "start": starts.astype(np.int32),
                    "fixed_end": fixed_end,
                    "service": kinds.astype(np.int8),
                }
            )  # fmt: skip
        )
        if long_term:
            self.service_start[persons] = starts
            self.service_end[persons] = NO_DATE
            self.service_type[persons] = kinds
            self.service_id[persons] = ids
        return ids

    def _end_services(self, persons: np.ndarray, ends: np.ndarray) -> None:
        active = persons[self.service_id[persons] >= 0]
        ends = ends[self.service_id[persons] >= 0]
        self.service_ends.append(pl.DataFrame({"service_id": self.service_id[active], "end": ends.astype(np.int32)}))
        self.service_end[active] = ends
        self.service_id[active] = -1
        self.service_type[active] = -1

    def history(self, at_day: int) -> dict[str, np.ndarray]:
        """What the extracts show about each person's emergency admissions before a day.

        Mirrors the pipeline's features (sql/30_features/04_asof_features.sql): admissions with an
        admission date in the 3/6/12/24 months before the day, days since the last emergency discharge
        before the day (0 while still in hospital, NO_DATE if none in two years) and emergency bed days
        in the last 12 months.
        """
        n = self.people.size
        person, admit, discharge = self.em_person, self.em_admit, self.em_discharge
        before = admit < at_day
        person, admit, discharge = person[before], admit[before], discharge[before]
        out: dict[str, np.ndarray] = {}
        for months, days in ((3, 91), (6, 182), (12, 365), (24, 730)):
            out[f"n{months}"] = np.bincount(person[admit >= at_day - days], minlength=n).astype(np.int16)
        since = np.full(n, NO_DATE, dtype=np.int64)
        gap = np.maximum(at_day - discharge.astype(np.int64), 0)
        np.minimum.at(since, person, gap)
        out["days_since"] = since
        recent = admit >= at_day - 365
        bed = np.minimum(discharge[recent], at_day) - np.maximum(admit[recent], at_day - 365)
        out["bed_days_12m"] = np.bincount(person[recent], weights=bed, minlength=n)
        return out

    def risk(self, at_day: int) -> RiskState:
        """The latent risk at a 1 April (see module docstring for its shape and what is unobservable)."""
        p = self.people
        age = self.age(at_day)
        has = self.conditions(at_day)
        frailty = has[:, FRAILTY_MASK].sum(axis=1).astype(np.float32)
        care_home = self.care_home_start <= at_day
        social_care = (self.service_start <= at_day) & (self.service_end > at_day) & (self.service_type >= 0)
        seen = self.history(at_day)
        n12, n6 = seen["n12"], seen["n6"]
        # Observable: conditions coded in hospital in the last two years (HFRS, Charlson, Elixhauser and
        # the long-term-condition count are built from exactly these codes).
        recorded = has & ((at_day - self.recorded_day) <= 730)
        unrecorded = has & ~recorded
        recorded_weight = recorded.astype(np.float32) @ RISK_WEIGHTS
        # Unobservable: conditions never coded in hospital (managed in primary care, which the ICS
        # extracts do not include) count at a third of their weight.
        hidden_weight = unrecorded.astype(np.float32) @ RISK_WEIGHTS
        condition_effect = CONDITION_CEILING * (
            1.0 - np.exp(-(recorded_weight + UNRECORDED_SHARE * hidden_weight) / CONDITION_SCALE)
        )
        condition_effect *= np.interp(age, CONDITION_AGES, CONDITION_AGE_FACTOR)
        recorded_frailty = recorded[:, FRAILTY_MASK].sum(axis=1)
        recorded_count = recorded[:, LONG_TERM_MASK].sum(axis=1)
        # Frailty thresholds (HFRS-like bands): steps at 2 and 4 coded frailty conditions, stronger from 80.
        frailty_step = (0.3 * (recorded_frailty >= 2) + 0.3 * (recorded_frailty >= 4)) * np.where(age >= 80, 1.3, 0.6)
        base = np.interp(np.where(care_home, np.maximum(age, 88.0), age), BASE_AGES, BASE_LOG_RATE)
        deprivation = DEPRIVATION_EFFECT[self.imd] * np.interp(age, [0, 45, 75, 85, 110], [0.7, 2.0, 2.0, 0.0, 0.0])
        needs = (recorded_frailty >= 2) | recorded[:, _C["dementia"]]
        supported = social_care | care_home
        # 1. Chronic disease: log-additive in age, sex, deprivation and (saturating) conditions.
        chronic = np.exp(
            base
            + 0.12 * ((p.sex == 1) & (age >= 45))
            + deprivation
            + condition_effect
            + frailty_step
            + 0.3 * (recorded[:, _C["heart_failure"]] & recorded[:, _C["chronic_kidney_disease"]])
            + 0.15 * (age >= 90)
            # complex multimorbidity: thresholds at 2 and 4 long-term conditions coded in hospital
            + (0.6 * (recorded_count >= 2) + 0.6 * (recorded_count >= 4))
            * np.interp(age, CONDITION_AGES, CONDITION_AGE_FACTOR)
            - SUPPORT_EFFECT * (needs & supported)  # frailty or dementia with a care package or a care home
            + PRIOR_LOG_EFFECT[np.minimum(n12, 2)] * np.interp(age, PRIOR_AGES, PRIOR_AGE_FACTOR)
        )
        # 2. Readmission: after an emergency admission, a saturating rate by admissions in the last 12
        # months, largest in the younger old and small at 90+, raised by a sharp hump in time since the
        # last discharge: low in the first week (still under intermediate care or reablement), half its
        # peak at 2 and at 10 weeks, peaking at 5 weeks and nearly gone after four months.
        weeks = seen["days_since"].astype(np.float64) / 7.0
        hump = np.where(weeks < 60, np.square(weeks / 5.0) * np.exp(2.0 * (1.0 - weeks / 5.0)), 0.0)
        readmission = (
            READMISSION_RATE
            * PRIOR_ADMISSION_EFFECT[np.minimum(n12, 3)]
            * np.interp(age, PRIOR_AGES, PRIOR_AGE_FACTOR)
            * (RECENCY_FLOOR + RECENCY_PEAK * hump)
        )
        readmission += 0.1 * ((seen["n24"] > n12) & (n12 == 0))  # an admission 1-2 years ago only
        # 3. Crises of frailty and care: care-home residents with an admission in the last 6 months,
        # frailty or dementia without a care package or a care home, a care package without coded
        # frailty (needs that the hospital record does not show) and frequent ED attenders (4+ a year).
        crisis = (
            0.5 * (care_home & (n6 > 0))
            + UNSUPPORTED_CRISIS_RATE * (needs & ~supported) * (age >= 65)
            + HIDDEN_NEEDS_RATE * (~needs & social_care)
            + 0.3 * (self.prior_ed >= 4)
        )
        log_rate = np.log(chronic + readmission + crisis) + p.hidden
        acsc_share = np.clip(
            0.03
            + 0.05 * (age >= 65)
            + 0.14 * has[:, _C["copd"]]
            + 0.10 * has[:, _C["heart_failure"]]
            + 0.05 * has[:, _C["diabetes"]]
            + 0.06 * has[:, _C["asthma"]] * (age < 65)
            + 0.04 * has[:, _C["ischaemic_heart_disease"]]
            + 0.05 * (frailty >= 2)
            + 0.25 * (self.prior_acsc > 0) * (age < 85)  # exacerbations recur (less dominant at 85+)
            + 0.12 * (needs & ~supported),  # infections and dehydration in unsupported frailty
            0.02,
            0.7,
        )
        log_death = (
            np.where(age < 1, np.log(0.004), -10.75 + 0.094 * age)
            # mortality follows the true conditions, whether or not they were ever coded
            + 0.4 * (1.8 * (1.0 - np.exp(-(has.astype(np.float32) @ RISK_WEIGHTS) / 1.8)) + 0.3 * (frailty >= 2) - 0.5)
            + 0.8 * care_home
            + 0.25 * (n12 > 0)
        )
        death_probability = np.clip(np.exp(log_death), 0.0, 0.8)
        return RiskState(
            at_day=at_day,
            age=age,
            has=has,
            frailty_count=frailty,
            care_home=care_home,
            social_care=social_care,
            rate=np.exp(log_rate).astype(np.float64),
            acsc_share=acsc_share.astype(np.float64),
            death_probability=death_probability.astype(np.float64),
        )

    def registered_alive(self, at_day: int) -> np.ndarray:
        """Registered with an ICS practice and alive at the day (spine people only)."""
        p = self.people
        return (
            p.in_population & (p.registration_start <= at_day) & (p.registration_end > at_day) & (self.death > at_day)
        )

    def truth(self, state: RiskState, year_end: int) -> pl.DataFrame:
        """True probabilities of >= 1 emergency / ACSC admission recorded in the 12 months after the day."""
        at = state.at_day
        who = self.registered_alive(at)
        exposure = (np.minimum(self.people.registration_end, year_end) - at) / (year_end - at)
        q = state.death_probability
        p_em = probability_any(state.rate, exposure, q)
        p_acsc = probability_any(state.rate * state.acsc_share, exposure, q)
        return pl.DataFrame(
            {
                "person": np.flatnonzero(who).astype(np.int32),
                "p_emergency_admission_12m": p_em[who],
                "p_acsc_admission_12m": p_acsc[who],
            }
        )

    # ---- one year -----------------------------------------------------------------------------

    def step(self, year_start: int, year_end: int, want_truth: bool) -> YearActivity:
        """Simulate the financial year starting on ``year_start``."""
        rng = self.rng
        p = self.people
        n = p.size
        length = year_end - year_start
        state = self.risk(year_start)
        truth = self.truth(state, year_end) if want_truth else None

        alive = self.death > year_start
        start = np.maximum(p.registration_start, year_start)
        stop = np.where(alive, np.minimum(p.registration_end, year_end), year_start).astype(np.int32)
        exposure_days = np.maximum(stop - start, 0)

        # Deaths: uniform in the year for those registered all year, uniform in their part otherwise.
        part = np.where(start > year_start, (year_end - start) / length, 1.0)
        dies = (exposure_days > 0) & (rng.random(n) < state.death_probability * part)
        # (never on 1 April itself, so "alive at the as-of date" is unambiguous)
        death_day = np.where(dies, uniform_days(rng, start + 1, np.full(n, year_end)), NO_DATE).astype(np.int32)
        dies &= death_day < stop  # a death after leaving the practice is not seen
        death_day = np.where(dies, death_day, NO_DATE).astype(np.int32)

        # Emergency admissions: Poisson over [start, stop), truncated at death.
        count = rng.poisson(state.rate * exposure_days / length)
        person = np.repeat(np.arange(n, dtype=np.int32), count)
        admit = uniform_days(rng, start[person], stop[person])
        keep = admit <= death_day[person]
        person, admit = person[keep], admit[keep]
        order = np.lexsort((admit, person))
        person, admit = person[order], admit[order]
        is_acsc = rng.random(person.size) < state.acsc_share[person]
        emergency_count = np.bincount(person, minlength=n).astype(np.int16)
        acsc_count = np.bincount(person[is_acsc], minlength=n).astype(np.int16)
        group = self._emergency_groups(state, person, is_acsc)

        age = state.age[person]
        long_stay = np.where(age >= 85, 9.0, np.where(age >= 65, 6.5, 3.5)) * np.where(
            group == FIRST_EMERGENCY, 2.0, 1.0
        )
        same_day = rng.random(person.size) < np.where(age >= 65, 0.18, 0.35)
        los = np.where(same_day, 0, np.ceil(rng.lognormal(np.log(long_stay) - 0.4, 0.9))).astype(np.int32)
        discharge = admit + los
        # No overlapping emergency spells: a spell ends by the next admission of the same person.
        next_same = np.r_[person[1:] == person[:-1], False]
        next_admit = np.r_[admit[1:], NO_DATE]
        discharge = np.where(next_same, np.minimum(discharge, next_admit), discharge).astype(np.int32)

        # Deaths in hospital: ~45% of deaths (ONS/OHID place of death 2022); here the last admission
        # before death, when there is one, with probability 0.6.
        last = ~next_same
        dying = (
            last & dies[person] & (rng.random(person.size) < 0.6) & (discharge < year_end) & (discharge > year_start)
        )
        died_in_spell = np.zeros(person.size, dtype=bool)
        died_in_spell[dying] = True
        death_day[person[dying]] = discharge[dying]
        self.died_in_hospital[person[dying]] = True
        self.death = np.where(dies, death_day, self.death).astype(np.int32)
        stop = np.minimum(stop, np.where(dies, death_day + 1, NO_DATE)).astype(np.int32)
        exposure_days = np.maximum(stop - start, 0)

        care_home_at_admission = self.care_home_start[person] <= admit
        spells = self._spells(
            state, person, admit, discharge, group, died_in_spell, care_home_at_admission, start, stop, year_end
        )
        spells = self._code_conditions(state, spells)
        ecds = self._ecds(state, spells, start, exposure_days, length)
        opa = self._outpatients(state, start, exposure_days, length)
        csds = self._community(state, start, exposure_days, length, spells)

        # State for next year.
        self.prior_emergency = emergency_count
        self.prior_acsc = acsc_count
        self.prior_ed = np.bincount(ecds["person"].to_numpy(), minlength=n).astype(np.int16)
        keep_history = self.em_admit >= year_end - 800
        self.em_person = np.concatenate([self.em_person[keep_history], person])
        self.em_admit = np.concatenate([self.em_admit[keep_history], admit])
        self.em_discharge = np.concatenate([self.em_discharge[keep_history], discharge])
        fall = person[(group == FIRST_EMERGENCY) & (state.age[person] >= 50)]
        self.acquired[fall, _C["falls"]] = True
        stroke = person[group == FIRST_EMERGENCY + 4]
        self.acquired[stroke, _C["stroke"]] = True
        self._social_care(state, spells, start, stop, year_start, year_end, emergency_count)

        return YearActivity(
            year_start=year_start,
            year_end=year_end,
            state=state,
            spells=spells,
            ecds=ecds,
            opa=opa,
            csds=csds,
            emergency_count=emergency_count,
            acsc_count=acsc_count,
            truth=truth,
        )

    def _code_conditions(self, state: RiskState, spells: pl.DataFrame) -> pl.DataFrame:
        """Which of the person's conditions are coded on each spell (85% each), as a bitmask; remember when."""
        person = spells["person"].to_numpy()
        discharge = np.minimum(spells["discharge"].to_numpy(), spells["admit"].to_numpy() + 60)
        coded = state.has[person] & (self.rng.random((person.size, len(CONDITIONS)), dtype=np.float32) < 0.85)
        for index in range(len(CONDITIONS)):
            rows = coded[:, index]
            np.maximum.at(self.recorded_day[:, index], person[rows], discharge[rows])
        bits = (coded.astype(np.int64) << np.arange(len(CONDITIONS), dtype=np.int64)[None, :]).sum(axis=1)
        return spells.with_columns(coded=pl.Series(bits, dtype=pl.Int64))

    def _emergency_groups(self, state: RiskState, person: np.ndarray, is_acsc: np.ndarray) -> np.ndarray:
        has = state.has[person]
        age = state.age[person]
        old = (age >= 65).astype(np.float64)
        dementia = has[:, _C["dementia"]]
        weights_acsc = np.zeros((person.size, N_ACSC))
        for i, group in enumerate(ACSC_GROUPS):
            if group.name in ACSC_CONDITION:
                strength = {"copd_exacerbation": 3.0, "heart_failure": 3.0, "hypertension": 0.15}.get(group.name, 1.2)
                weights_acsc[:, i] = strength * has[:, _C[ACSC_CONDITION[group.name]]]
        weights_acsc[:, 6] = 0.5 + 0.9 * (age >= 75) + 0.8 * dementia  # UTI
        weights_acsc[:, 7] = 0.5  # cellulitis
        weights_acsc[:, 8] = 0.4 + 0.5 * dementia + 0.3 * (age < 5)  # dehydration / gastroenteritis
        weights_acsc[:, 9] = np.where(age < 18, 2.5, 0.15)  # ENT infections
        weights_acsc[:, 10] = 0.3 + 0.9 * old + 0.5 * has[:, _C["copd"]]  # influenza and pneumonia
        weights_em = np.zeros((person.size, N_EMERGENCY))
        weights_em[:, 0] = (0.06 + 0.2 * has[:, _C["falls"]] + 0.08 * dementia + 0.06 * (age >= 80)) * old
        weights_em[:, 1] = np.where(age < 65, 0.14, 0.03)
        weights_em[:, 2] = (
            0.10 + 0.12 * has[:, _C["ischaemic_heart_disease"]] + 0.05 * has[:, _C["atrial_fibrillation"]]
        )
        weights_em[:, 3] = 0.04 + 0.06 * old + 0.08 * has[:, _C["copd"]]
        weights_em[:, 4] = (0.01 + 0.04 * old) + 0.04 * has[:, _C["atrial_fibrillation"]] + 0.04 * has[:, _C["stroke"]]
        weights_em[:, 5] = 0.03 + 0.04 * old
        weights_em[:, 6] = 0.02 + 0.02 * old + 0.06 * has[:, _C["chronic_kidney_disease"]]
        weights_em[:, 7] = 0.005 + 0.02 * old + 0.12 * dementia
        weights_em[:, 8] = 0.16
        weights_em[:, 9] = 0.005 + 0.35 * has[:, _C["cancer"]]
        weights_em[:, 10] = 0.12
        weights_em[:, 11] = np.where((age >= 16) & (age < 65), 0.07, 0.01)
        weights_em[:, 12] = np.where(age < 16, 0.5, 0.0)
        acsc_choice = choose(weights_acsc, self.rng)
        emergency_choice = choose(weights_em, self.rng) + FIRST_EMERGENCY
        return np.where(is_acsc, acsc_choice, emergency_choice).astype(np.int16)

    def _provider(self, person: np.ndarray, outside_share: float) -> np.ndarray:
        """Acute provider index: 0-2 the ICS acute trusts (each place's main one), 3-5 outside the ICS."""
        rng = self.rng
        home = (self.place[person] % 3).astype(np.int8)
        other = rng.integers(0, 3, person.size).astype(np.int8)
        outside = (3 + rng.integers(0, 3, person.size)).astype(np.int8)
        draw = rng.random(person.size)
        return np.where(draw < outside_share, outside, np.where(draw < outside_share + 0.06, other, home))

    def _spells(
        self,
        state: RiskState,
        person: np.ndarray,
        admit: np.ndarray,
        discharge: np.ndarray,
        group: np.ndarray,
        died: np.ndarray,
        care_home: np.ndarray,
        start: np.ndarray,
        stop: np.ndarray,
        year_end: int,
    ) -> pl.DataFrame:
        rng = self.rng
        params = self.params
        n = self.people.size
        provider = self._provider(person, params.share_out_of_ics_provider)
        method_share = np.array([share for _, share in ADMISSION_METHODS_EMERGENCY])
        method = rng.choice(method_share.size, size=person.size, p=method_share / method_share.sum()).astype(np.int8)
        emergency = pl.DataFrame(
            {
                "person": person,
                "kind": np.full(person.size, EMERGENCY, np.int8),
                "method": method,
                "admit": admit,
                "discharge": discharge,
                "group": group,
                "provider": provider,
                "died": died,
                "care_home": care_home,
                "transfer_out": np.zeros(person.size, dtype=bool),
            }
        )
        # Transfers: ~4% of emergency spells of people 65+ continue at another trust (ADMIMETH 81).
        transfer = (state.age[person] >= 65) & ~died & (rng.random(person.size) < 0.04)
        t_person = person[transfer]
        t_admit = discharge[transfer]
        t_los = np.ceil(rng.lognormal(np.log(6.0), 0.7, t_person.size)).astype(np.int32)
        t_provider = ((provider[transfer] + 1 + rng.integers(0, 2, t_person.size)) % 3).astype(np.int8)
        emergency = emergency.with_columns(transfer_out=pl.Series(transfer))
        transfers = pl.DataFrame(
            {
                "person": t_person,
                "kind": np.full(t_person.size, TRANSFER, np.int8),
                "method": np.zeros(t_person.size, np.int8),
                "admit": t_admit,
                "discharge": (t_admit + t_los).astype(np.int32),
                "group": group[transfer],
                "provider": t_provider,
                "died": np.zeros(t_person.size, dtype=bool),
                "care_home": care_home[transfer],
                "transfer_out": np.zeros(t_person.size, dtype=bool),
            }
        )

        # Elective and day-case spells: rising with age, conditions and cancer (HES APC 2022-23:
        # ~0.13 elective spells per person a year overall, ~0.3 at 65+).
        age = state.age
        n_conditions = state.has.sum(axis=1)
        exposure = np.maximum(stop - start, 0) / 365.25
        elective_rate = (
            np.interp(age, [0, 18, 45, 65, 75, 85, 100], [0.03, 0.05, 0.10, 0.22, 0.28, 0.20, 0.12])
            * np.exp(0.12 * np.minimum(n_conditions, 6))
            + 0.8 * state.has[:, _C["cancer"]]
        )
        e_count = rng.poisson(elective_rate * exposure)
        e_person = np.repeat(np.arange(n, dtype=np.int32), e_count)
        e_age = age[e_person]
        e_has = state.has[e_person]
        weights = np.zeros((e_person.size, N_ELECTIVE))
        weights[:, 0] = 0.02 + 0.25 * (e_age >= 60)  # cataract
        weights[:, 1] = 0.01 + 0.05 * (e_age >= 55)  # hip
        weights[:, 2] = 0.01 + 0.05 * (e_age >= 55)  # knee
        weights[:, 3] = 0.06 + 0.08 * (e_age >= 50)  # colonoscopy
        weights[:, 4] = 0.05 + 0.05 * (e_age >= 50)  # upper GI endoscopy
        weights[:, 5] = 0.02 + 0.04 * (e_age >= 55)  # cystoscopy
        weights[:, 6] = 1.5 * e_has[:, _C["cancer"]]  # chemotherapy
        weights[:, 7] = 0.3 * e_has[:, _C["ischaemic_heart_disease"]]  # cardiac catheter
        weights[:, 8] = 0.07  # hernia
        weights[:, 9] = np.where((self.people.sex[e_person] == 2) & (e_age >= 18), 0.08, 0.0)  # gynaecology
        weights[:, 10] = 0.08  # skin lesion
        e_group = (choose(weights, rng) + FIRST_ELECTIVE).astype(np.int16)
        e_admit = uniform_days(rng, start[e_person], stop[e_person])
        day_case = rng.random(e_person.size) < 0.78  # ~78% of elective admissions are day cases (HES 2022-23)
        e_los = np.where(day_case, 0, 1 + rng.poisson(2.5, e_person.size)).astype(np.int32)
        electives = pl.DataFrame(
            {
                "person": e_person,
                "kind": np.full(e_person.size, ELECTIVE, np.int8),
                "method": rng.choice(3, size=e_person.size, p=[0.55, 0.35, 0.10]).astype(np.int8),
                "admit": e_admit,
                "discharge": (e_admit + e_los).astype(np.int32),
                "group": e_group,
                "provider": self._provider(e_person, params.share_out_of_ics_provider * 1.5),
                "died": np.zeros(e_person.size, dtype=bool),
                "care_home": self.care_home_start[e_person] <= e_admit,
                "transfer_out": np.zeros(e_person.size, dtype=bool),
            }
        )
        # Deliveries: England ~ 0.055 births a year per woman aged 18-44 (ONS births 2022).
        woman = (self.people.sex == 2) & (age >= 18) & (age < 45)
        m_count = rng.poisson(0.055 * exposure * woman)
        m_person = np.repeat(np.arange(n, dtype=np.int32), m_count)
        m_admit = uniform_days(rng, start[m_person], stop[m_person])
        m_los = rng.poisson(1.2, m_person.size).astype(np.int32)
        deliveries = pl.DataFrame(
            {
                "person": m_person,
                "kind": np.full(m_person.size, DELIVERY, np.int8),
                "method": (rng.random(m_person.size) < 0.1).astype(np.int8),
                "admit": m_admit,
                "discharge": (m_admit + m_los).astype(np.int32),
                "group": np.full(m_person.size, MATERNITY, np.int16),
                "provider": self._provider(m_person, params.share_out_of_ics_provider),
                "died": np.zeros(m_person.size, dtype=bool),
                "care_home": np.zeros(m_person.size, dtype=bool),
                "transfer_out": np.zeros(m_person.size, dtype=bool),
            }
        )
        return pl.concat([emergency, transfers, electives, deliveries]).with_columns(
            pl.col("person").cast(pl.Int32), pl.col("admit").cast(pl.Int32), pl.col("discharge").cast(pl.Int32)
        )

    def _ecds(
        self, state: RiskState, spells: pl.DataFrame, start: np.ndarray, exposure_days: np.ndarray, length: int
    ) -> pl.DataFrame:
        """ED attendances: one for each emergency admission via A&E, plus attendances sent home."""
        rng = self.rng
        n = self.people.size
        admitted = spells.filter((pl.col("kind") == EMERGENCY) & (pl.col("method") == 0))  # ADMIMETH 21: via A&E
        # Attendances not admitted: ~0.3 a person a year (NHS England A&E attendances 2022-23), more
        # for people at higher risk - a visible proxy of the latent rate.
        age = state.age
        base = self.params.ed_nonadmitted_base * np.where(age < 5, 1.6, np.where(age < 25, 1.2, 1.0))
        count = rng.poisson((base + 0.8 * state.rate) * exposure_days / length)
        person = np.repeat(np.arange(n, dtype=np.int32), count)
        arrival = uniform_days(rng, start[person], start[person] + exposure_days[person])
        return pl.concat(
            [
                pl.DataFrame(
                    {
                        "person": admitted["person"],
                        "arrival": admitted["admit"],
                        "provider": admitted["provider"],
                        "group": admitted["group"],
                        "admitted": pl.Series(np.ones(admitted.height, dtype=bool)),
                    }
                ),
                pl.DataFrame(
                    {
                        "person": person,
                        "arrival": arrival,
                        "provider": self._provider(person, self.params.share_out_of_ics_provider),
                        "group": np.full(person.size, -1, np.int16),
                        "admitted": np.zeros(person.size, dtype=bool),
                    }
                ),
            ],
            how="vertical_relaxed",
        )

    def _outpatients(self, state: RiskState, start: np.ndarray, exposure_days: np.ndarray, length: int) -> pl.DataFrame:
        """Outpatient appointments: background by age plus follow-up of each condition in its specialty."""
        rng = self.rng
        n = self.people.size
        age = state.age
        age_factor = np.interp(age, [0, 18, 45, 65, 80, 100], [0.5, 0.8, 1.2, 1.8, 2.0, 1.4])
        fraction = exposure_days / length
        persons = []
        specialty = []
        background = rng.poisson(self.params.opa_base * age_factor * fraction)
        persons.append(np.repeat(np.arange(n, dtype=np.int32), background))
        specialty.append(np.full(persons[-1].size, -1, np.int16))
        for index, _condition in enumerate(CONDITIONS):
            # Conditions are followed up ~0.9 times a year, more at high risk (so clinic use shows them).
            rate = state.has[:, index] * (0.9 if index else 0.15) * (1 + 0.5 * np.minimum(state.rate, 2.0))
            count = rng.poisson(rate * fraction)
            persons.append(np.repeat(np.arange(n, dtype=np.int32), count))
            specialty.append(np.full(persons[-1].size, index, np.int16))
        person = np.concatenate(persons)
        appointment = uniform_days(rng, start[person], start[person] + exposure_days[person])
        return pl.DataFrame(
            {
                "person": person,
                "appointment": appointment,
                "condition": np.concatenate(specialty),
                "provider": self._provider(person, self.params.share_out_of_ics_provider),
            }
        )

    def _community(
        self,
        state: RiskState,
        start: np.ndarray,
        exposure_days: np.ndarray,
        length: int,
        spells: pl.DataFrame,
    ) -> pl.DataFrame:
        """CSDS contacts by team type: condition-linked teams, district nursing, rapid response, children."""
        from popheath.synth.codes import TEAM_TYPES

        rng = self.rng
        n = self.people.size
        age = state.age
        old = age >= 65
        fraction = exposure_days / length
        team_index = {t: i for i, t in enumerate(TEAM_TYPES)}
        rates = np.zeros((n, len(TEAM_TYPES)), dtype=np.float32)
        for index, condition in enumerate(CONDITIONS):
            if condition.community_team is not None:
                rates[:, team_index[condition.community_team]] += 1.2 * state.has[:, index] * old
        mobility = state.has[:, _C["mobility_problems"]]
        rates[:, team_index["district_nursing"]] += (
            6.0 * state.has[:, _C["pressure_ulcer"]] + 2.5 * (mobility & (age >= 80)) + 2.0 * state.care_home
        )
        rates[:, team_index["rapid_response"]] += 0.35 * state.rate * old
        rates[:, team_index["podiatry"]] += 0.8 * state.has[:, _C["diabetes"]] * (age >= 50)
        rates[:, team_index["other"]] += np.where(age < 5, 3.0, self.params.csds_base)
        persons = []
        teams = []
        for t in range(len(TEAM_TYPES)):
            count = rng.poisson(rates[:, t] * fraction)
            persons.append(np.repeat(np.arange(n, dtype=np.int32), count))
            teams.append(np.full(persons[-1].size, t, np.int8))
        person = np.concatenate(persons)
        team = np.concatenate(teams)
        contact = uniform_days(rng, start[person], start[person] + exposure_days[person])
        # Intermediate care after ~25% of emergency discharges of people 65+: 3-10 contacts in 6 weeks.
        discharged = spells.filter((pl.col("kind") == EMERGENCY) & ~pl.col("died"))
        d_person = discharged["person"].to_numpy()
        chosen = (state.age[d_person] >= 65) & (rng.random(d_person.size) < 0.25)
        d_person = d_person[chosen]
        d_day = discharged["discharge"].to_numpy()[chosen]
        visits = rng.integers(3, 11, d_person.size)
        i_person = np.repeat(d_person, visits)
        i_day = np.repeat(d_day, visits) + rng.integers(1, 43, i_person.size)
        # never after the person's death or deregistration (dates after the year are written next year)
        alive = (i_day <= self.death[i_person]) & (i_day < self.people.registration_end[i_person])
        i_person, i_day = i_person[alive], i_day[alive]
        return pl.DataFrame(
            {
                "person": np.concatenate([person, i_person]).astype(np.int32),
                "contact": np.concatenate([contact, i_day]).astype(np.int32),
                "team": np.concatenate([team, np.full(i_person.size, team_index["intermediate_care"], np.int8)]),
            }
        )

    def _social_care(
        self,
        state: RiskState,
        spells: pl.DataFrame,
        start: np.ndarray,
        stop: np.ndarray,
        year_start: int,
        year_end: int,
        emergency_count: np.ndarray,
    ) -> None:
        """Care-home moves and ASC-CLD requests, assessments, services and reviews in the year."""
        rng = self.rng
        p = self.people
        n = p.size
        age = state.age
        has = state.has
        dementia = has[:, _C["dementia"]]
        frailty = state.frailty_count
        resident = p.in_population & (stop > start)
        admitted = emergency_count > 0
        emergency = spells.filter((pl.col("kind") == EMERGENCY) & ~pl.col("died"))
        last_discharge = np.full(n, NO_DATE, dtype=np.int32)
        if emergency.height:
            last = emergency.group_by("person").agg(pl.col("discharge").max())
            last_discharge[last["person"].to_numpy()] = last["discharge"].to_numpy()
        has_discharge = last_discharge < stop

        # Care-home moves: hazard rising with age, dementia, falls and frailty; 60% straight from hospital.
        eligible = resident & (age >= 65) & ~state.care_home & (self.death >= year_end)
        hazard = sigmoid(
            -7.8 + 0.09 * (age - 65) + 1.7 * dementia + 0.6 * has[:, _C["falls"]] + 0.35 * frailty
            + 0.8 * state.social_care + 0.7 * admitted
        )  # fmt: skip
        enters = eligible & (rng.random(n) < hazard)
        from_hospital = enters & has_discharge & (rng.random(n) < 0.6)
        entry_day = np.where(from_hospital, last_discharge, uniform_days(rng, start, stop)).astype(np.int32)
        entry_day = np.minimum(entry_day, year_end - 1)
        entrants = np.flatnonzero(enters)
        self.care_home_start[entrants] = entry_day[entrants]
        self.care_home_nursing[entrants] = dementia[entrants] | (rng.random(entrants.size) < 0.3)
        self._end_services(entrants, entry_day[entrants])
        funded = entrants[self.care_home_la_funded[entrants]]
        self._start_services(
            funded,
            entry_day[funded],
            np.where(self.care_home_nursing[funded], SERVICE_INDEX["nursing"], SERVICE_INDEX["residential"]).astype(
                np.int8
            ),
            long_term=False,
        )

        # Long-term community services start and end.
        no_service = resident & (age >= 18) & (self.service_type < 0) & ~state.care_home & ~enters
        start_hazard = sigmoid(-5.2 + 0.06 * np.maximum(age - 60, 0) + 0.5 * frailty + 0.6 * dementia + 0.9 * admitted)
        starting = np.flatnonzero(no_service & (rng.random(n) < start_hazard))
        service_day = np.where(
            has_discharge[starting] & (rng.random(starting.size) < 0.5),
            last_discharge[starting] + 1,
            uniform_days(rng, start[starting], stop[starting]),
        ).astype(np.int32)
        self._start_services(starting, service_day, self._community_service_type(age[starting]))
        ending = np.flatnonzero((self.service_type >= 0) & (self.service_start < year_start) & (rng.random(n) < 0.12))
        self._end_services(ending, uniform_days(rng, start[ending], np.maximum(stop[ending], start[ending] + 1)))
        dead = np.flatnonzero((self.death < year_end) & (self.death >= year_start) & (self.service_type >= 0))
        self._end_services(dead, self.death[dead])

        # Reablement after ~7% of emergency discharges of people 65+ (ASC-FR/SALT 2022-23 STS001).
        d_person = emergency["person"].to_numpy()
        chosen = (age[d_person] >= 65) & p.in_population[d_person] & (rng.random(d_person.size) < 0.07)
        r_person = d_person[chosen]
        r_day = emergency["discharge"].to_numpy()[chosen] + 1
        self._start_services(
            r_person, r_day, np.full(r_person.size, SERVICE_INDEX["reablement"], np.int8), long_term=False, weeks=6
        )

        # Requests and assessments before new services, plus requests that lead nowhere.
        new_persons = np.concatenate([starting, funded, r_person])
        new_days = np.concatenate([service_day, entry_day[funded], r_day])
        request_day = new_days - rng.integers(3, 40, new_persons.size)
        assessment_day = np.minimum(request_day + rng.integers(1, 20, new_persons.size), new_days)
        extra_rate = np.where(resident & (age >= 65), 0.02 + 0.04 * frailty + 0.08 * admitted, 0.0)
        extra = np.repeat(np.arange(n, dtype=np.int32), rng.poisson(extra_rate))
        extra_day = uniform_days(rng, start[extra], stop[extra])
        assessed = rng.random(extra.size) < 0.5
        # Annual reviews of everyone with a long-term service or LA-funded placement this year.
        reviewed = np.flatnonzero(
            resident
            & (((self.service_type >= 0) & (self.service_start < stop)) | (state.care_home & self.care_home_la_funded))
        )
        review_day = uniform_days(rng, start[reviewed], stop[reviewed])
        persons = np.concatenate([new_persons, new_persons, extra, extra[assessed], reviewed])
        days = np.concatenate([request_day, assessment_day, extra_day, extra_day[assessed] + 7, review_day])
        kinds = np.concatenate(
            [
                np.zeros(new_persons.size, np.int8),
                np.ones(new_persons.size, np.int8),
                np.zeros(extra.size, np.int8),
                np.ones(int(assessed.sum()), np.int8),
                np.full(reviewed.size, 3, np.int8),
            ]
        )
        self.asc_events.append(
            pl.DataFrame({"person": persons.astype(np.int32), "event": kinds, "start": days.astype(np.int32)})
        )
