"""Known-answer tests of the generator's latent risk (history features, shape, interactions) and of
what it writes: nothing dated after the extract end, and summary row counts equal the rows written."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from popheath.synth import generate
from popheath.synth.codes import CONDITION_INDEX, CONDITIONS
from popheath.synth.params import SynthParameters
from popheath.synth.population import NO_DATE, build_organisations, build_people, day
from popheath.synth.records import SERVICE_INDEX
from popheath.synth.simulate import Simulator

from .extract_files import CORE_TABLE, read_table, table_files

AT = day(date(2024, 4, 1))
DEMENTIA = CONDITION_INDEX["dementia"]


@pytest.fixture
def sim() -> Simulator:
    """A small simulator whose person 0 has no conditions, no hidden effect and no care, in a world without
    acute shocks (a rate by age alone, which would dilute every ratio of the recorded risk's shape)."""
    params = dataclasses.replace(SynthParameters(), people=200, seed=11, shock_rate_scale=0.0)
    rng = np.random.default_rng(11)
    orgs = build_organisations(params, rng)
    people = build_people(params, orgs, rng)
    simulator = Simulator(params, people, orgs, rng)
    people.condition_draw[0, :] = 1.0  # above every prevalence: no conditions
    people.hidden[0] = 0.0
    simulator.acquired[0, :] = False
    simulator.care_home_start[0] = NO_DATE
    simulator.service_type[0] = -1
    simulator.service_start[0] = NO_DATE
    return simulator


def set_age(sim: Simulator, years: float) -> None:
    sim.people.birth_day[0] = int(AT - years * 365.25)


def set_admissions(sim: Simulator, admissions: list[tuple[int, int]]) -> None:
    """Person 0's emergency spells as (days before AT admitted, days before AT discharged)."""
    sim.em_person = np.zeros(len(admissions), dtype=np.int32)
    sim.em_admit = np.array([AT - a for a, _ in admissions], dtype=np.int32)
    sim.em_discharge = np.array([AT - d for _, d in admissions], dtype=np.int32)


def rate(sim: Simulator) -> float:
    return float(sim.risk(AT).rate[0])


def test_history_counts_windows_days_since_and_bed_days(sim: Simulator) -> None:
    sim.em_person = np.array([0, 0, 0, 1, 2], dtype=np.int32)
    # person 0: admitted 400 days ago (2 nights), 100 days ago (10 nights), 20 days ago (still in hospital)
    # person 1: admitted on AT itself (not before it: not counted); person 2: 800 days ago (outside 24 months)
    sim.em_admit = np.array([AT - 400, AT - 100, AT - 20, AT, AT - 800], dtype=np.int32)
    sim.em_discharge = np.array([AT - 398, AT - 90, AT + 5, AT + 3, AT - 790], dtype=np.int32)
    seen = sim.history(AT)
    assert [int(seen[k][0]) for k in ("n3", "n6", "n12", "n24")] == [1, 2, 2, 3]
    assert int(seen["days_since"][0]) == 0  # still in hospital at the as-of date
    assert seen["bed_days_12m"][0] == pytest.approx(10 + 20)  # the open spell counts up to AT
    assert [int(seen[k][1]) for k in ("n3", "n24")] == [0, 0]
    assert int(seen["n24"][2]) == 0
    assert int(seen["days_since"][3]) == NO_DATE


def test_risk_peaks_weeks_after_a_discharge_and_fades(sim: Simulator) -> None:
    set_age(sim, 72)
    by_days = {}
    for days in (3, 42, 120, 300):
        set_admissions(sim, [(days + 5, days)])
        by_days[days] = rate(sim)
    set_admissions(sim, [])
    never = rate(sim)
    assert by_days[42] > 1.5 * by_days[3]  # not monotone: lower in the first days after discharge
    assert by_days[42] > by_days[120] > by_days[300] > never


def test_prior_admission_matters_more_in_the_younger_old(sim: Simulator) -> None:
    ratios = {}
    for age in (70, 93):
        set_age(sim, age)
        set_admissions(sim, [])
        before = rate(sim)
        set_admissions(sim, [(205, 200)])
        ratios[age] = rate(sim) / before
    assert ratios[70] > 2.5
    assert ratios[93] < 1.6


def test_care_home_and_recent_admission_interact(sim: Simulator) -> None:
    set_age(sim, 86)
    ratios = {}
    for in_home in (False, True):
        sim.care_home_start[0] = AT - 500 if in_home else NO_DATE
        set_admissions(sim, [])
        before = rate(sim)
        set_admissions(sim, [(125, 120)])
        ratios[in_home] = rate(sim) / before
    assert ratios[True] > ratios[False] + 0.4


def test_a_care_package_protects_dementia_but_marks_need_without_it(sim: Simulator) -> None:
    set_age(sim, 82)
    set_admissions(sim, [])
    rates = {}
    for dementia in (False, True):
        sim.acquired[0, DEMENTIA] = dementia
        sim.recorded_day[0, DEMENTIA] = AT - 200 if dementia else -(2**30)
        for package in (False, True):
            sim.service_type[0] = SERVICE_INDEX["home_care"] if package else -1
            sim.service_start[0] = AT - 300 if package else NO_DATE
            sim.service_end[0] = NO_DATE
            rates[dementia, package] = rate(sim)
    assert rates[True, False] > 1.2 * rates[True, True]  # coded dementia: a package lowers the risk
    assert rates[False, True] > 1.2 * rates[False, False]  # no coded need: a package marks hidden need


def test_unrecorded_conditions_count_less_than_recorded_ones(sim: Simulator) -> None:
    set_age(sim, 75)
    set_admissions(sim, [])
    heart = [CONDITION_INDEX[c.name] for c in CONDITIONS if c.name in ("heart_failure", "copd", "diabetes")]
    sim.acquired[0, heart] = True
    unrecorded = rate(sim)
    sim.recorded_day[0, heart] = AT - 100
    assert rate(sim) > 1.5 * unrecorded


@pytest.fixture(scope="module")
def small_ics(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("small_ics")
    result = generate.write(3_000, 21, out)
    return out, result.summary["rows"]


def test_nothing_is_dated_after_the_extract_end(small_ics: tuple[Path, dict[str, int]]) -> None:
    out, _ = small_ics
    end = date(2025, 3, 31)
    for source, (_, _, date_column, _, _, _) in generate.SOURCE_LAYOUT.items():
        folders = sorted(p.name for p in (out / "raw" / source).iterdir())
        assert folders[-1] <= "2025-03", source
        frame = read_table(out, source, CORE_TABLE[source])
        assert frame[date_column].max() <= end, source  # type: ignore[operator]
        # every delivery folder holds one core file, and only rows of its month
        for folder in (out / "raw" / source).iterdir():
            files = list(folder.glob(f"{CORE_TABLE[source]}_{folder.name}.parquet"))
            assert len(files) == 1
            months = pl.read_parquet(files[0])[date_column].dt.strftime("%Y-%m").unique().to_list()
            if source == "csds":  # contacts resubmitted in the next month's delivery (synth/csds_tables.py)
                year, month = map(int, folder.name.split("-"))
                previous = f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"
                assert folder.name in months and set(months) <= {folder.name, previous}, folder.name
            else:
                assert months == [folder.name] or source == "asc", (source, folder.name)


def test_summary_counts_the_rows_written(small_ics: tuple[Path, dict[str, int]]) -> None:
    out, rows = small_ics
    for source in generate.SOURCES:
        written = sum(pl.read_parquet(f).height for f in table_files(out, source, CORE_TABLE[source]))
        assert rows[source] == written, source
