"""One year's hospital, ED, outpatient and community activity drawn from the risk state (a Simulator mixin)."""

from __future__ import annotations

import numpy as np
import polars as pl

from popheath.synth.codes import (
    ACSC_CONDITION,
    ACSC_GROUPS,
    ADMISSION_METHODS_EMERGENCY,
    CONDITIONS,
    TEAM_TYPES,
)
from popheath.synth.codes import CONDITION_INDEX as _C
from popheath.synth.params import SynthParameters
from popheath.synth.population import People
from popheath.synth.records import (
    DELIVERY,
    ELECTIVE,
    EMERGENCY,
    FIRST_ELECTIVE,
    FIRST_EMERGENCY,
    MATERNITY,
    N_ACSC,
    N_ELECTIVE,
    N_EMERGENCY,
    TRANSFER,
    RiskState,
)
from popheath.synth.sampling import choose, uniform_days

# Share of spells on which a condition the person has is coded as a diagnosis: long-term conditions 85%;
# frailty syndromes (falls, mobility problems, incontinence, pressure ulcers, dementia ...) far less often,
# since they are rarely the reason for the admission and often go unrecorded. Assumption (no national
# completeness figure was found); it is what keeps HFRS alone, built only from hospital codes, a weak
# ranker of next year's admissions (Gilbert et al. 2018, Lancet 391:1775: c-statistics about 0.56-0.68).
CODED_SHARE = np.array([0.4 if c.frailty else 0.85 for c in CONDITIONS], dtype=np.float32)


class ActivityDraws:
    """Spells, ED attendances, outpatient appointments and community contacts of one year.

    Mixed into :class:`popheath.synth.simulate.Simulator`, which holds the state declared here.
    """

    rng: np.random.Generator
    params: SynthParameters
    people: People
    place: np.ndarray
    death: np.ndarray
    care_home_start: np.ndarray
    recorded_day: np.ndarray
    use: np.ndarray  # this year's practice use multiplier of each person (params.practice_use_sd)

    def _code_conditions(self, state: RiskState, spells: pl.DataFrame) -> pl.DataFrame:
        """Which of the person's conditions are coded on each spell (:data:`CODED_SHARE`), as bits; remember when."""
        person = spells["person"].to_numpy()
        discharge = np.minimum(spells["discharge"].to_numpy(), spells["admit"].to_numpy() + 60)
        draw = self.rng.random((person.size, len(CONDITIONS)), dtype=np.float32)
        coded = state.has[person] & (draw < CODED_SHARE[None, :])
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
        shape = params.elective_course_shape
        course = rng.gamma(shape, 1.0 / shape, n)  # this year's course of treatment (params docstring)
        elective_rate = (
            self.use
            * course
            * (
                np.interp(age, [0, 18, 45, 65, 75, 85, 100], [0.03, 0.05, 0.10, 0.22, 0.28, 0.20, 0.12])
                * np.exp(0.12 * np.minimum(n_conditions, 6))
                + 0.8 * state.has[:, _C["cancer"]]
            )
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
        # Attendances not admitted, by age (published_rates.csv, ecds: ~0.47 a person-year in all, highest
        # in infants, young adults and 80+), more for people at higher risk - a visible proxy of the rate.
        age = state.age
        base = self.params.ed_nonadmitted_base * np.interp(
            age, [0, 5, 17, 25, 40, 60, 80, 100], [1.7, 1.2, 1.6, 1.6, 1.0, 0.8, 1.0, 1.0]
        )
        count = rng.poisson(self.use * (base + 0.8 * state.rate) * exposure_days / length)
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
        # Background by age and condition follow-ups, calibrated to published_rates.csv (opa appointments:
        # ~2.2 a person-year, rising to ~4 at 75-84 and falling after 85).
        age_factor = np.interp(age, [0, 18, 45, 65, 80, 100], [0.35, 1.2, 1.5, 1.9, 1.9, 1.0])
        follow_up_age = np.interp(age, [0, 75, 85, 100], [1.0, 1.0, 0.5, 0.35])
        fraction = exposure_days / length * self.use
        persons = []
        specialty = []
        shape = self.params.outpatient_course_shape
        course = rng.gamma(shape, 1.0 / shape, n)  # this year's course of treatment (params docstring)
        background = rng.poisson(self.params.opa_base * age_factor * course * fraction)
        persons.append(np.repeat(np.arange(n, dtype=np.int32), background))
        specialty.append(np.full(persons[-1].size, -1, np.int16))
        for index, _condition in enumerate(CONDITIONS):
            # Conditions are followed up ~0.9 times a year, more at high risk (so clinic use shows them).
            rate = (
                state.has[:, index] * (0.9 if index else 0.15) * follow_up_age * (1 + 0.5 * np.minimum(state.rate, 2.0))
            )
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
        rng = self.rng
        n = self.people.size
        age = state.age
        old = age >= 65
        fraction = exposure_days / length * self.use
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
        # Background contacts by age, calibrated to published_rates.csv (csds care contacts: ~1.5 a
        # person-year at 0-18, ~0.7 at 19-64, ~5.5 at 65+): under 65 other teams (health visiting, school
        # nursing, therapies); from 65 district nursing, therapy and podiatry, where older people's
        # community contacts mostly are.
        shape = self.params.community_episode_shape
        episode = rng.gamma(shape, 1.0 / shape, n)  # this year's episode of care (params docstring)
        by_age = np.interp(
            age, [0, 5, 6, 19, 20, 64, 65, 75, 85, 100], [8.5, 8.5, 3.2, 3.2, 1.6, 1.6, 5.0, 9.0, 14.0, 14.0]
        )
        background = self.params.csds_base * episode * by_age
        rates[:, team_index["other"]] += np.where(old, 0.0, background)
        for team_name, share in (("district_nursing", 0.6), ("therapy", 0.25), ("podiatry", 0.15)):
            rates[:, team_index[team_name]] += np.where(old, share * background, 0.0)
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
