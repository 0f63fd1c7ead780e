"""The people of the synthetic ICS: age, sex, ethnicity, geography, practice, registration and opt-outs.

Reference figures (rounded):

- Age/sex: ONS mid-2022 population estimates for England, five-year bands (18.6% aged 65+).
- Ethnicity: Census 2021 England, mapped to NHS 2001 ethnic category codes (A-S), with ~6% not
  stated (Z) and ~4% not known (99) as in GP-derived data; older people are more often White British.
- Organisations: practices average ~10,000 patients (NHS Digital, Patients Registered at a GP
  Practice, 2023); PCNs cover 30,000-50,000 people (NHS England PCN DES). At small N the counts are
  scaled down, never below ``min_places`` places, ``min_pcns`` PCNs and ``min_practices_per_pcn``
  practices per PCN, so every level of the hierarchy exists at any size.
- LSOAs hold ~1,600 people (ONS 2021 LSOA boundaries); IMD 2019 deciles vary by place and, within
  a place, by practice: each LSOA belongs to one practice's catchment, and practices' catchments
  differ in deprivation (an inner-city list against a suburban one) and age mix (below).
- Practice age mix: NHS Digital, Patients Registered at a GP Practice, shows the share of a list
  aged 65+ running from about 2% (university practices) to about 40% (coastal retirement towns)
  around England's ~18%; the age tilt's spread (``SynthParameters.practice_age_tilt``) puts 90% of
  practices between about 10% and 30%, with the more deprived lists younger (deprived areas have
  younger populations: ONS mid-year estimates by IMD decile).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from popheath.synth.codes import CONDITIONS
from popheath.synth.params import SynthParameters

EPOCH = date(1970, 1, 1)
NO_DATE = np.int32(2**31 - 1)  # "no date yet" in day arrays: compares later than every real date


def day(value: date) -> int:
    """Days since 1970-01-01."""
    return (value - EPOCH).days


# ONS mid-2022 England: share of population by five-year age band (0-4 .. 90+), and male share.
AGE_BAND_SHARE = np.array(
    [5.4, 5.9, 6.1, 5.8, 6.1, 6.6, 6.9, 6.7, 6.4, 6.1, 6.8, 6.7, 5.8, 4.9, 4.7, 3.9, 2.5, 1.6, 0.9]
)
MALE_SHARE = np.array(
    [0.512, 0.512, 0.512, 0.513, 0.508, 0.497, 0.494, 0.495, 0.496, 0.494, 0.493, 0.492, 0.488,
     0.481, 0.475, 0.463, 0.443, 0.405, 0.33]
)  # fmt: skip
# Census 2021 England, NHS 2001 codes (A British, B Irish, C other White, D-G Mixed, H Indian,
# J Pakistani, K Bangladeshi, L other Asian, M Caribbean, N African, P other Black, R Chinese, S any other).
ETHNIC_CODES = np.array(["A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "Z", "99"])
ETHNIC_SHARE_UNDER_65 = np.array(
    [64.0, 0.7, 7.0, 0.9, 0.6, 0.9, 0.9, 3.4, 3.0, 1.3, 1.7, 1.0, 2.9, 0.6, 0.8, 2.3, 6.0, 4.0]
)
ETHNIC_SHARE_65_PLUS = np.array(
    [82.0, 1.6, 3.5, 0.2, 0.1, 0.2, 0.1, 1.8, 1.0, 0.3, 0.6, 1.3, 0.6, 0.1, 0.3, 0.6, 4.0, 1.7]
)
PLACE_NAMES = ("North", "South", "East", "West", "Central", "Riverside", "Vale", "Coast", "Moor", "Weald")


@dataclass
class Organisations:
    """Places, PCNs, practices and LSOAs of the ICS, and how they nest."""

    place_names: np.ndarray  # place index -> name
    la_codes: np.ndarray  # place index -> local authority code
    pcn_codes: np.ndarray
    pcn_place: np.ndarray  # pcn index -> place index
    practice_codes: np.ndarray
    practice_pcn: np.ndarray  # practice index -> pcn index
    lsoa_codes: np.ndarray
    lsoa_pcn: np.ndarray  # lsoa index -> pcn index
    lsoa_practice: np.ndarray  # lsoa index -> practice index (the practice whose catchment it is in)
    lsoa_imd: np.ndarray  # lsoa index -> IMD decile 1..10
    practice_imd: np.ndarray  # practice index -> mean IMD decile of its catchment (before rounding)


@dataclass
class People:
    """One row per person (registered spine plus out-of-area people), as parallel arrays."""

    token: np.ndarray  # 16 upper-case hex characters
    birth_day: np.ndarray  # int32 days since epoch
    sex: np.ndarray  # int8: 1 male, 2 female
    ethnic: np.ndarray  # NHS 2001 code
    lsoa: np.ndarray  # index into Organisations.lsoa_codes
    practice: np.ndarray  # index into Organisations.practice_codes
    registration_start: np.ndarray  # int32 days
    registration_end: np.ndarray  # int32 days, NO_DATE while registered
    type1_opt_out: np.ndarray
    national_data_opt_out: np.ndarray
    in_population: np.ndarray  # False for out-of-area people (activity but no registration)
    hidden: np.ndarray  # unrecorded frailty effect on the log emergency rate (drifts each simulated year)
    morbidity: np.ndarray  # shared propensity to conditions (multimorbidity clustering)
    condition_draw: np.ndarray  # (people, conditions) uniforms: has condition when below its prevalence

    @property
    def size(self) -> int:
        """Number of people."""
        return int(self.token.shape[0])


def hex_tokens(rng: np.random.Generator, count: int) -> np.ndarray:
    """Unique 16-character upper-case hexadecimal tokens (never ten digits, so never an NHS number)."""
    values = np.unique(rng.integers(0, 2**63 - 1, size=count + count // 100 + 16, dtype=np.int64))
    values = rng.permutation(values)[:count].astype(np.uint64)
    if values.shape[0] < count:  # pragma: no cover - 63-bit collisions at this size are impossible in practice
        raise RuntimeError("token collision")
    nibbles = (values[:, None] >> (np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(4))) & np.uint64(15)
    alphabet = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
    chars = alphabet[nibbles.astype(np.intp)]
    return np.ascontiguousarray(chars).view("S16").ravel().astype("U16")


def build_organisations(params: SynthParameters, rng: np.random.Generator) -> Organisations:
    """Places, PCNs and practices sized for ``params.people`` (scaled down at small N, see module doc)."""
    n = params.people
    n_places = max(params.min_places, round(n / params.place_size))
    n_pcns = max(params.min_pcns, round(n / params.pcn_size), 2 * n_places)
    per_pcn = max(params.min_practices_per_pcn, round(n / n_pcns / params.practice_size))
    n_practices = n_pcns * per_pcn
    n_lsoas = max(3 * n_pcns, n_practices, round(n / params.lsoa_size))

    pcn_place = np.arange(n_pcns) % n_places
    practice_pcn = np.repeat(np.arange(n_pcns), per_pcn)
    lsoa_practice = np.sort(np.arange(n_lsoas) % n_practices)
    lsoa_pcn = practice_pcn[lsoa_practice]
    # Places differ in deprivation, practices' catchments within a place too; LSOA deciles scatter
    # around their practice's mean.
    place_mean = np.linspace(3.5, 7.5, n_places)[rng.permutation(n_places)]
    practice_imd = rng.normal(place_mean[pcn_place[practice_pcn]], params.practice_deprivation_sd)
    lsoa_imd = np.clip(np.rint(rng.normal(practice_imd[lsoa_practice], 1.6)), 1, 10).astype(np.int8)

    first_lsoa = int(rng.integers(1_000, 33_000 - n_lsoas)) if n_lsoas < 30_000 else 1
    return Organisations(
        place_names=np.array(
            [PLACE_NAMES[i % len(PLACE_NAMES)] + ("" if i < 10 else f" {i // 10}") for i in range(n_places)]
        ),
        la_codes=np.array([f"E06000{990 + (i % 2) + 2 * (i // 4):03d}" for i in range(n_places)]),
        pcn_codes=np.array([f"U{60_101 + 7 * i:05d}" for i in range(n_pcns)]),
        pcn_place=pcn_place,
        practice_codes=np.array([f"B{84_003 + 11 * i:05d}" for i in range(n_practices)]),
        practice_pcn=practice_pcn,
        lsoa_codes=np.array([f"E01{first_lsoa + i:06d}" for i in range(n_lsoas)]),
        lsoa_pcn=lsoa_pcn,
        lsoa_practice=lsoa_practice,
        lsoa_imd=lsoa_imd,
        practice_imd=practice_imd,
    )


def build_people(params: SynthParameters, orgs: Organisations, rng: np.random.Generator) -> People:
    """Draw everyone: the registered spine (``params.people``) plus out-of-area people."""
    n_spine = params.people
    n_out = max(1, round(n_spine * params.dirt.out_of_area_people))
    n = n_spine + n_out
    start = day(params.window_start)
    end = day(date(params.window_start.year + params.years, 4, 1))
    reference = day(date(params.window_start.year + params.years // 2, 4, 1))

    band = rng.choice(AGE_BAND_SHARE.size, size=n, p=AGE_BAND_SHARE / AGE_BAND_SHARE.sum())
    width = np.where(band == AGE_BAND_SHARE.size - 1, 12.0, 5.0)
    # Within 90+ the density falls steeply: square of a uniform puts most people in their early 90s.
    offset = np.where(band == AGE_BAND_SHARE.size - 1, rng.random(n) ** 2, rng.random(n)) * width
    age_at_reference = band * 5.0 + offset
    birth_day = (reference - age_at_reference * 365.25).astype(np.int32)
    sex = np.where(rng.random(n) < MALE_SHARE[band], 1, 2).astype(np.int8)

    older = age_at_reference >= 65
    ethnic_young = rng.choice(ETHNIC_CODES.size, size=n, p=ETHNIC_SHARE_UNDER_65 / ETHNIC_SHARE_UNDER_65.sum())
    ethnic_old = rng.choice(ETHNIC_CODES.size, size=n, p=ETHNIC_SHARE_65_PLUS / ETHNIC_SHARE_65_PLUS.sum())
    ethnic = ETHNIC_CODES[np.where(older, ethnic_old, ethnic_young)]

    # Practice sizes vary (lognormal weights); each person lives in an LSOA of their practice's
    # catchment (90%) or elsewhere in the ICS (10%).
    # Practices also differ in age mix (a university town's list against a retirement coast's): each has
    # an age tilt, and a person of each five-year band picks a practice with weight x exp(tilt x age).
    # More deprived catchments have younger lists (module docstring).
    practice_weight = rng.lognormal(0.0, 0.35, orgs.practice_codes.size)
    tilt = rng.normal(0.0, params.practice_age_tilt, orgs.practice_codes.size) + 0.04 * (orgs.practice_imd - 5.5)
    practice = np.zeros(n, dtype=np.int64)
    for age_band in range(AGE_BAND_SHARE.size):
        members = np.flatnonzero(band == age_band)
        weight = practice_weight * np.exp(tilt * (age_band * 5.0 - 40.0) / 20.0)
        practice[members] = rng.choice(orgs.practice_codes.size, size=members.size, p=weight / weight.sum())
    lsoa_order = np.argsort(orgs.lsoa_practice, kind="stable")
    lsoa_first = np.searchsorted(orgs.lsoa_practice[lsoa_order], np.arange(orgs.practice_codes.size))
    lsoa_count = np.bincount(orgs.lsoa_practice, minlength=orgs.practice_codes.size)
    local = lsoa_order[lsoa_first[practice] + (rng.random(n) * lsoa_count[practice]).astype(np.int64)]
    lsoa = np.where(rng.random(n) < 0.9, local, rng.integers(0, orgs.lsoa_codes.size, n))

    # Registration: babies register a few weeks after birth; movers register during the window
    # (younger people move more); everyone else registered years before it.
    born_in_window = birth_day >= start
    mover_share = params.share_registering_in_window * np.where(
        age_at_reference < 40, 1.4, np.where(age_at_reference < 65, 0.9, 0.4)
    )
    mover = ~born_in_window & (rng.random(n) < mover_share)
    registration_start = np.where(
        born_in_window,
        birth_day + rng.integers(7, 60, n),
        np.where(
            mover,
            rng.integers(start, end - 30, n),
            np.maximum(birth_day + 30, start - (rng.exponential(9.0, n) * 365.25).astype(np.int64) - 1),
        ),
    ).astype(np.int32)
    registration_start = np.maximum(registration_start, birth_day)
    rate = np.where(
        age_at_reference >= 65, params.deregistration_rate_older, params.deregistration_rate_adult
    ) * np.where(age_at_reference < 18, 0.7, 1.0)
    leave = np.maximum(registration_start, start) + (rng.exponential(1.0, n) / rate * 365.25).astype(np.int64)
    registration_end = np.where(leave < end, leave, NO_DATE).astype(np.int32)

    in_population = np.ones(n, dtype=bool)
    in_population[n_spine:] = False
    # Out-of-area people: resident elsewhere, so registered with no practice of this ICS; keep them
    # adults with activity across the window (their LSOA and practice are never written).
    registration_start[n_spine:] = np.minimum(registration_start[n_spine:], start - 365)
    registration_end[n_spine:] = NO_DATE

    n_conditions = len(CONDITIONS)
    return People(
        token=hex_tokens(rng, n),
        birth_day=birth_day,
        sex=sex,
        ethnic=ethnic,
        lsoa=lsoa.astype(np.int32),
        practice=practice.astype(np.int32),
        registration_start=registration_start,
        registration_end=registration_end,
        type1_opt_out=rng.random(n) < params.type1_opt_out,
        national_data_opt_out=rng.random(n) < params.national_data_opt_out,
        in_population=in_population,
        hidden=rng.normal(0.0, params.hidden_sd, n).astype(np.float32),
        morbidity=rng.normal(0.0, 1.0, n).astype(np.float32),
        condition_draw=rng.random((n, n_conditions), dtype=np.float32),
    )
