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
   frailty steps at 2 and 4 frailty conditions, coded or not (stronger from 80), heart failure x kidney
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

What the extracts cannot show, by design, so that next year is as hard to foresee as in England:

- a person effect ``hidden`` (unrecorded frailty, health, behaviour and support) with standard
  deviation ``SynthParameters.hidden_sd`` on the log rate, drifting from year to year as an AR(1)
  with correlation ``hidden_persistence``; the truth knows it, the extracts never do (the
  oracle-to-model gap measures it);
- a year effect, exp(N(0, ``year_effect_sd``)) with mean one, drawn for each person after 1 April:
  what the coming year brings (an infection, a carer falling ill, a bad winter). Nobody knows it on
  the as-of date, so the true probability averages over it (:func:`probability_any_mixed`), and it
  is what keeps the truth's own AUROC for 65+ near 0.78 rather than 0.9;
- acute shocks: emergency admissions at a rate by age alone (``SHOCK_RATE``), with no recorded
  history before them (injury, sepsis, a first infarct or stroke);
- conditions never coded in hospital (managed in primary care, whose records the ICS extracts do not
  include): they count at ``UNRECORDED_SHARE`` of their weight, against full weight once coded in an
  admission in the last two years; the ACSC share uses all true conditions; frailty syndromes are
  coded on fewer than half of a person's spells (``activity.CODED_SHARE``) and their steps act
  whether coded or not, so the HFRS the pipeline computes sees only part of the frailty;
- the exact condition weights (the pipeline sees them through HFRS, Charlson and Elixhauser weights,
  not these), and the year-start timing of the rate (features are computed on the same day, so none).

The recorded-risk part is scaled by age (``LEVEL_FACTOR``) so that emergency admissions per
person-year match ``published_rates.csv`` in the years the models train and test on.

Reference rates the constants were tuned to (HES APC 2022-23, NHS Digital, Hospital Admitted Patient
Care Activity, rounded): emergency admissions per person-year about 0.06 at ages 18-44, 0.09 at 45-64,
0.15 at 65-74, 0.27 at 75-84 and 0.50 at 85+, with roughly a third of people 85+ admitted in a year;
ACSC admissions about a fifth of emergency admissions in people 65+ (Bardsley et al. 2013, BMJ Open,
"Is secondary preventive care improving?", ~1 in 5 emergency admissions). Mortality follows a
Gompertz curve close to ONS National Life Tables England 2020-22 (about 1% at 65, 9% at 85).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from popheath.synth.activity import ActivityDraws
from popheath.synth.codes import CONDITION_INDEX as _C
from popheath.synth.codes import CONDITIONS
from popheath.synth.params import SynthParameters
from popheath.synth.population import NO_DATE, Organisations, People, day
from popheath.synth.records import FIRST_EMERGENCY, RiskState, YearActivity
from popheath.synth.sampling import sigmoid, uniform_days
from popheath.synth.social_care import SocialCare

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
UNSUPPORTED_CRISIS_RATE = 0.2
HIDDEN_NEEDS_RATE = 0.3
# Acute shocks (injury, sepsis, a first stroke or infarct): emergency admissions a year by age, the same
# for everyone of that age whatever their record. Together with the unrecorded frailty effect they set
# how much of next year's risk any model could know (module docstring).
SHOCK_AGES = np.array([0, 18, 45, 65, 75, 85, 110], dtype=np.float64)
SHOCK_RATE = np.array([0.015, 0.01, 0.015, 0.02, 0.035, 0.06, 0.08])
# Level of the recorded-risk part by age, calibrating emergency admissions a person-year to the rates
# of published_rates.csv (apc emergency_admissions) in the years the models train and test on.
LEVEL_AGES = np.array([0, 18, 45, 65, 75, 85, 110], dtype=np.float64)
LEVEL_FACTOR = np.array([0.7, 0.7, 0.8, 0.9, 0.86, 1.1, 1.1])
UNRECORDED_SHARE = 0.35  # weight of a condition never coded in hospital (unobservable in the extracts)
DEPRIVATION_EFFECT = np.array([0, 0.35, 0.35, 0.15, 0.15, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=np.float32)


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


# Probabilists' Gauss-Hermite nodes and weights: E[f(Z)] for Z ~ N(0, 1) as sum(w * f(node)).
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def probability_any_mixed(
    rate: np.ndarray, exposure: np.ndarray, death_probability: np.ndarray, year_sd: float
) -> np.ndarray:
    """:func:`probability_any` averaged over the year effect: the rate times exp(sd Z - sd^2 / 2), Z ~ N(0, 1)."""
    total = np.zeros_like(rate, dtype=np.float64)
    for node, weight in zip(_NODES, _WEIGHTS, strict=True):
        total += weight * probability_any(
            rate * np.exp(year_sd * node - 0.5 * year_sd * year_sd), exposure, death_probability
        )
    return total


class Simulator(ActivityDraws, SocialCare):
    """Holds everyone's evolving state and steps it one financial year at a time."""

    def __init__(self, params: SynthParameters, people: People, orgs: Organisations, rng: np.random.Generator):
        self.params = params
        self.people = people
        self.orgs = orgs
        self.rng = rng
        n = people.size
        self.imd = orgs.lsoa_imd[people.lsoa].astype(np.int8)
        # Each practice's lasting use multiplier (params.practice_use_sd); step() adds the year's.
        self.practice_use = rng.lognormal(0.0, params.practice_use_sd, orgs.practice_codes.size)
        self.use = np.ones(people.size)
        self.place = orgs.pcn_place[orgs.practice_pcn[people.practice]].astype(np.int16)
        self.death = np.full(n, NO_DATE, dtype=np.int32)
        self.died_in_hospital = np.zeros(n, dtype=bool)
        self.care_home_start = np.full(n, NO_DATE, dtype=np.int32)
        self.care_home_nursing = np.zeros(n, dtype=bool)
        # Half of residents are LA-supported on entry; self-funders who run down their savings join them
        # (params.self_funder_to_la_rate), so ~60% of residents are (ONS, Care homes and estimating the
        # self-funding population, England, 2022 to 2023: 37% self-funders).
        self.care_home_la_funded = rng.random(n) < 0.5
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
            & (rng.random(age.size) < sigmoid(-6.5 + 0.07 * np.maximum(age - 60, 0) + 0.5 * frailty + 0.6 * dementia))
        )
        starts = at_day - (rng.exponential(2.0, int(service.sum())) * 365).astype(np.int32) - 1
        self._start_services(np.flatnonzero(service), starts, self._community_service_type(age[service]))
        home = np.flatnonzero(care_home & self.care_home_la_funded)
        self._start_placements(home, self.care_home_start[home])

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
        # Frailty thresholds (HFRS-like bands): steps at 2 and 4 frailty conditions, stronger from 80. Frailty
        # acts whether or not the hospital record shows it (most frailty syndromes go uncoded: activity.CODED_SHARE).
        frailty_step = (0.2 * (frailty >= 2) + 0.2 * (frailty >= 4)) * np.where(age >= 80, 1.3, 0.6)
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
        # Unrecorded frailty and propensity (mean-preserving on the rate), then acute shocks that no
        # recorded history precedes: a rate by age alone.
        hidden_sd = self.params.hidden_sd
        level = np.interp(age, LEVEL_AGES, LEVEL_FACTOR)
        log_rate = np.log((chronic + readmission + crisis) * level) + p.hidden - 0.5 * hidden_sd * hidden_sd
        shock = self.params.shock_rate_scale * np.interp(age, SHOCK_AGES, SHOCK_RATE)
        acsc_share = np.clip(
            0.14
            + 0.08 * (age >= 65)
            + 0.04 * has[:, _C["copd"]]
            + 0.03 * has[:, _C["heart_failure"]]
            + 0.02 * has[:, _C["diabetes"]]
            + 0.04 * has[:, _C["asthma"]] * (age < 65)
            + 0.01 * has[:, _C["ischaemic_heart_disease"]]
            + 0.01 * (frailty >= 2)
            + 0.02 * (self.prior_acsc > 0) * (age < 85)  # exacerbations recur (less dominant at 85+)
            + 0.01 * (needs & ~supported),  # infections and dehydration in unsupported frailty
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
            rate=(np.exp(log_rate) + shock).astype(np.float64),
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
        exposure = np.clip((np.minimum(self.people.registration_end, year_end) - at) / (year_end - at), 0.0, 1.0)
        q = state.death_probability
        sd = self.params.year_effect_sd
        p_em = probability_any_mixed(state.rate, exposure, q, sd)
        p_acsc = probability_any_mixed(state.rate * state.acsc_share, exposure, q, sd)
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
        year_sd = self.params.practice_use_year_sd
        year_use = self.practice_use * rng.lognormal(0.0, year_sd, self.practice_use.size)
        # relative to the ICS: mean one over the registered population, so the ICS's volumes keep their rates
        self.use = year_use[p.practice] / float(np.mean(year_use[p.practice[p.in_population]]))
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
        # This year's rate: the state's rate times the year effect (mean one), unknown on 1 April.
        sd = self.params.year_effect_sd
        year_effect = np.exp(rng.normal(-0.5 * sd * sd, sd, n))
        count = rng.poisson(state.rate * year_effect * exposure_days / length)
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

        # State for next year. The unrecorded frailty effect drifts: an AR(1) with the same spread.
        rho = self.params.hidden_persistence
        p.hidden[:] = rho * p.hidden + np.sqrt(1.0 - rho * rho) * rng.normal(0.0, self.params.hidden_sd, n)
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
