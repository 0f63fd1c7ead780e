"""Care-home moves and ASC-CLD requests, assessments, services and reviews (a Simulator mixin)."""

from __future__ import annotations

import numpy as np
import polars as pl

from popheath.synth.codes import CONDITION_INDEX as _C
from popheath.synth.params import SynthParameters
from popheath.synth.population import NO_DATE, People
from popheath.synth.records import EMERGENCY, SERVICE_INDEX, RiskState
from popheath.synth.sampling import sigmoid, uniform_days


class SocialCare:
    """Each person's care home and current service, and the ASC events and service episodes so far.

    Mixed into :class:`popheath.synth.simulate.Simulator`, which holds the state declared here.
    """

    rng: np.random.Generator
    params: SynthParameters
    people: People
    death: np.ndarray
    care_home_start: np.ndarray
    care_home_nursing: np.ndarray
    care_home_la_funded: np.ndarray
    service_start: np.ndarray
    service_end: np.ndarray
    service_type: np.ndarray
    service_id: np.ndarray
    asc_events: list[pl.DataFrame]
    service_rows: list[pl.DataFrame]
    service_ends: list[pl.DataFrame]
    _next_service_id: int

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

    def _start_placements(self, persons: np.ndarray, starts: np.ndarray) -> None:
        """Record LA-funded care-home placements (residential, or nursing for nursing-home residents)."""
        kinds = np.where(self.care_home_nursing[persons], SERVICE_INDEX["nursing"], SERVICE_INDEX["residential"])
        self._start_services(persons, starts, kinds.astype(np.int8), long_term=False)

    def _end_services(self, persons: np.ndarray, ends: np.ndarray) -> None:
        active = persons[self.service_id[persons] >= 0]
        ends = ends[self.service_id[persons] >= 0]
        self.service_ends.append(pl.DataFrame({"service_id": self.service_id[active], "end": ends.astype(np.int32)}))
        self.service_end[active] = ends
        self.service_id[active] = -1
        self.service_type[active] = -1

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
        self._start_placements(funded, entry_day[funded])

        # Self-funded residents whose savings have run down: the LA funds the placement from a day in the year.
        depleted = np.flatnonzero(
            resident
            & state.care_home
            & ~self.care_home_la_funded
            & (self.death > year_start)
            & (rng.random(n) < self.params.self_funder_to_la_rate)
        )
        depleted_day = uniform_days(rng, start[depleted], np.minimum(stop[depleted], self.death[depleted]))
        self.care_home_la_funded[depleted] = True
        self._start_placements(depleted, depleted_day)
        funded = np.concatenate([funded, depleted])
        entry_day[depleted] = depleted_day

        # Long-term community services start and end.
        no_service = resident & (age >= 18) & (self.service_type < 0) & ~state.care_home & ~enters
        start_hazard = sigmoid(-5.8 + 0.06 * np.maximum(age - 60, 0) + 0.5 * frailty + 0.6 * dementia + 0.9 * admitted)
        starting = np.flatnonzero(no_service & (rng.random(n) < start_hazard))
        service_day = np.where(
            has_discharge[starting] & (rng.random(starting.size) < 0.5),
            last_discharge[starting] + 1,
            uniform_days(rng, start[starting], stop[starting]),
        ).astype(np.int32)
        self._start_services(starting, service_day, self._community_service_type(age[starting]))
        ending = np.flatnonzero(
            (self.service_type >= 0)
            & (self.service_start < year_start)
            & (rng.random(n) < self.params.service_end_rate)
        )
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
        # (ASC-FR 2023-24: ~0.045 requests from new clients per adult a year, published_rates.csv)
        extra_rate = np.where(
            resident & (age >= 65),
            0.06 + 0.05 * frailty + 0.12 * admitted,
            np.where(resident & (age >= 18), 0.015 + 0.05 * admitted, 0.0),
        )
        extra = np.repeat(np.arange(n, dtype=np.int32), rng.poisson(extra_rate))
        extra_day = uniform_days(rng, start[extra], stop[extra])
        assessed = rng.random(extra.size) < 0.5
        # Annual reviews of everyone with a long-term service or LA-funded placement this year.
        reviewed = np.flatnonzero(
            resident
            & (((self.service_type >= 0) & (self.service_start < stop)) | (state.care_home & self.care_home_la_funded))
        )
        review_day = uniform_days(rng, start[reviewed], stop[reviewed])
        # A review changes some packages (needs rise or fall): the service ends on the review day and a
        # new one, its type and hours drawn afresh, starts the next day.
        changes = (
            (self.service_type[reviewed] >= 0)
            & (self.service_start[reviewed] < review_day)
            & (review_day + 1 < self.death[reviewed])
            & (rng.random(reviewed.size) < self.params.package_change_rate)
        )
        changed, change_day = reviewed[changes], review_day[changes]
        self._end_services(changed, change_day)
        self._start_services(changed, change_day + 1, self._community_service_type(age[changed]))
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
