"""``popheath synth``: write a synthetic ICS (raw extracts for six sources plus ``truth/``).

Layout under ``out``::

    raw/<source>/<YYYY-MM>/<table>_<YYYY-MM>.parquet|csv    one delivery per month of activity date
    raw/population/2025-03/PDS_<table>_2025-03.*             the PDS extract at 2025-03-31 (pds_layout)
    reference/imd_lsoa.csv, epcn_core_partner_details.csv    IMD decile per synthetic LSOA, practice -> PCN, place

APC and OP are written in the national layout ``acute_layout`` names (``ncdr``: tbl_Data_SEM_APCE,
_Diag and _Proc, tbl_Data_SEM_OPA; ``hes``: one HES file), ECDS as EC_Core (and EC_Diagnosis when
``ecds_diagnosis_table``): see :mod:`popheath.synth.acute_layouts`. ASC-CLD is written as the national
table ``ASC_CLD`` (or the ICB data lake's ``Adult_Social_Care_CLD`` with ``cld.layout`` ``data_lake``),
release 1 or 2 wording by reporting period, with unpaid carers and stacked resubmissions: see
:mod:`popheath.synth.cld`. CSDS as the v1.6 tables (CYP201CareContact, CYP101Referral,
CYP102ServiceTypeReferredTo, CYP001MPI, Bridging): see :mod:`popheath.synth.csds_tables`. The
population as the PDS tables: see :mod:`popheath.synth.pds_layout`.
    truth/risk.parquet        true 12-month probabilities (and realised outcomes) per person and as-of
    truth/asc_links.parquet   the true person of every ASC-CLD record (la_code, event_id)
    truth/dirt.parquet        every injected piece of dirt (source, record_id, kind, column)
    truth/out_of_area.parquet people with activity but no registration
    truth/providers.parquet   provider codes, names and whether they belong to the ICS
    truth/parameters.json     every setting and rate used

Scale (per person-year, all ages, calibrated to the national rates of ``published_rates.csv``):
~0.3 admitted spells (~0.1 emergency), ~0.5 ED attendances, ~2.3 outpatient appointments, ~1.5
community contacts (most of them in people 65+) and ~0.05 social care requests per adult; about
18 raw rows per person over the four years. Everything is drawn from one seeded numpy
generator in a fixed order, so a seed always gives the same frames; the fields that only the
national layouts carry (ECDS attendance category, chief complaint, acuity, Der_Dupe_Flag and the
records they mark) are drawn from a second generator seeded from the same seed, so they never
move the draws of the simulation: a seed gives the same people and admissions in every layout.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from popheath.errors import InputError
from popheath.results import StageResult
from popheath.synth import acute_layouts, cld, csds_tables, dirt, emergency_care, extracts, pds_layout
from popheath.synth.params import SynthParameters
from popheath.synth.population import People, build_organisations, build_people, day
from popheath.synth.simulate import Simulator

log = logging.getLogger(__name__)

SOURCES = ("population", "apc", "ecds", "opa", "csds", "asc")
# Per source: record id column, token column, the date that decides the delivery, ICD-10 code
# columns (for code dirt), the column that may receive an unknown code, the column for sentinel dates.
# Column names are those of the flat frames of the extracts module (APC: the Diag table's codes).
SOURCE_LAYOUT: dict[str, tuple[str, str, str, tuple[str, ...], str | None, str | None]] = {
    "apc": (
        "APCE_Ident", "Der_Pseudo_NHS_Number", "Admission_Date", tuple(extracts.APC_DIAGNOSIS_COLUMNS),
        "Secondary_Diagnosis_Code_1", "Episode_End_Date",
    ),
    "ecds": ("EC_Ident", "Der_Pseudo_NHS_Number", "Arrival_Date", (), None, None),
    "opa": ("OPA_Ident", "Der_Pseudo_NHS_Number", "Appointment_Date", (), None, None),
    "csds": (csds_tables.CONTACT_ID, csds_tables.TOKEN, csds_tables.CONTACT_DATE, (), None, None),
    "asc": ("Event_Reference", "Der_NHS_Number_Traced_Pseudo", "Event_Start_Date", (), None, "Event_End_Date"),
}  # fmt: skip


def _write_months(
    frame: pl.DataFrame,
    source: str,
    date_column: str,
    raw: Path,
    file_format: str,
    params: SynthParameters,
    first_month: date | None = None,
) -> None:
    """Write one delivery per calendar month of ``date_column`` into ``raw/<source>/<YYYY-MM>/``.

    Each delivery holds the files of the source's layout (one per table, see acute_layouts and
    csds_tables). A frame that already has a ``_delivery`` column (CSDS resubmissions) keeps it.
    """
    month = pl.col(date_column)
    if first_month is not None:
        month = pl.max_horizontal(month, pl.lit(first_month))
    keyed = frame if "_delivery" in frame.columns else frame.with_columns(_delivery=month.dt.strftime("%Y-%m"))
    for (delivery,), part in keyed.partition_by("_delivery", as_dict=True, maintain_order=True).items():
        folder = raw / source / str(delivery)
        folder.mkdir(parents=True, exist_ok=True)
        records = part.drop("_delivery")
        if source == "asc":
            files = cld.tables(records, params.cld.layout)
        elif source == "csds":
            files = csds_tables.tables(records)
        else:
            files = acute_layouts.tables(records, source, params.acute_layout, params.ecds_diagnosis_table)
        for table, rows in files.items():
            _write(rows, folder / f"{table}_{delivery}", file_format)


def _write(frame: pl.DataFrame, stem: Path, file_format: str) -> None:
    if file_format == "parquet":
        frame.write_parquet(stem.with_suffix(".parquet"), compression="zstd", statistics=False)
    else:
        frame.write_csv(stem.with_suffix(".csv"), date_format="%Y-%m-%d", null_value="")


def generate(params: SynthParameters, out: Path, file_format: str = "parquet") -> dict[str, int]:
    """Simulate and write everything; returns rows written per source."""
    if file_format not in ("parquet", "csv"):
        raise InputError(file="--format", field="format", expected="parquet or csv", got=file_format)
    if params.people < 100:
        raise InputError(file="--people", field="people", expected="at least 100 people", got=str(params.people))
    acute_layouts.check_layout(params.acute_layout)
    cld.check_layout(params.cld.layout)
    raw, truth_dir = out / "raw", out / "truth"
    for folder in (raw, truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    rng = np.random.default_rng(params.seed)
    layout_rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(1,)))
    # CSDS referrals, team codes and resubmissions: a third generator, so they move no other draw.
    csds_rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(2,)))
    orgs = build_organisations(params, rng)
    people = build_people(params, orgs, rng)
    sim = Simulator(params, people, orgs, rng)
    window_start = day(params.window_start)
    extract_end = extracts.extract_end_day(params.window_start, params.years)
    truth_days = {day(d): d for d in params.truth_as_of}
    rows = dict.fromkeys(SOURCES, 0)
    dirt_logs: list[pl.DataFrame] = []
    risk_frames: list[pl.DataFrame] = []
    out_of_area_tokens = pl.Series(people.token[~people.in_population])
    seen = np.zeros(people.size, dtype=bool)
    # PDS history and APC ethnicity come from a generator of their own: the simulation's draws never move.
    pds_rng = pds_layout.layout_rng(params.seed)
    mergers = pds_layout.plan_mergers(people, window_start, extract_end, pds_rng)
    counters = {"spell": 1, "apc": 1, "ecds": 1, "opa": 1, "csds": 1}
    carry: dict[str, pl.DataFrame] = {}
    extract_end_date = date.fromordinal(date(1970, 1, 1).toordinal() + extract_end)

    for year in range(-params.burn_in_years, params.years):
        start_year = params.window_start.year + year
        year_start, year_end = day(date(start_year, 4, 1)), day(date(start_year + 1, 4, 1))
        activity = sim.step(year_start, year_end, want_truth=year_start in truth_days)
        if year < 0:
            continue
        if activity.truth is not None:
            person = activity.truth["person"].to_numpy()
            risk_frames.append(
                activity.truth.with_columns(
                    as_of=pl.lit(truth_days[year_start]),
                    emergency_admission_12m=pl.Series((activity.emergency_count[person] > 0).astype(np.int8)),
                    acsc_admission_12m=pl.Series((activity.acsc_count[person] > 0).astype(np.int8)),
                )
            )
        for frame_persons in (activity.spells, activity.ecds, activity.opa, activity.csds):
            seen[frame_persons["person"].to_numpy()] = True
        frames = {
            "apc": extracts.apc(
                activity, people, sim.care_home_start, rng, counters["spell"], counters["apc"], extract_end
            ),
            "ecds": emergency_care.ecds(activity, people, rng, layout_rng, counters["ecds"], params.ecds),
            "opa": extracts.opa(activity, people, orgs, rng, counters["opa"]),
            "csds": extracts.csds(activity, people, orgs, rng, counters["csds"]),
        }
        counters["spell"] += activity.spells.height
        last = year == params.years - 1
        last_day = extract_end_date if last else date(start_year + 1, 3, 31)
        for source, frame in frames.items():
            counters[source] += frame.height
            frame = _hold_back(frame, source, carry, date(start_year + 1, 4, 1), extract_end_date, last)
            frame = _finish_source(frame, source, params, rng, out_of_area_tokens, dirt_logs)
            if source == "ecds":
                extra = emergency_care.extra_records(frame, layout_rng, counters["ecds"], params.ecds, last_day)
                counters["ecds"] += extra.height
                _log_out_of_area(extra, source, out_of_area_tokens, dirt_logs)
                # A follow-up or duplicate of a record given a raw NHS number carries it too.
                carried = extra.filter(
                    pl.col("Der_Pseudo_NHS_Number").map_elements(dirt.passes_modulus_11, return_dtype=pl.Boolean)
                )
                if carried.height:
                    dirt_logs.append(
                        dirt.log_dirt(source, carried["EC_Ident"], "raw_nhs_number", "Der_Pseudo_NHS_Number")
                    )
                frame = pl.concat([frame, extra])
            if source == "csds":
                frame = csds_tables.prepare(frame, csds_rng, f"{start_year % 100:02d}{(start_year + 1) % 100:02d}")
            if source in pds_layout.ETHNICITY_COLUMN:
                column = pds_layout.ETHNICITY_COLUMN[source]
                frame = pds_layout.with_ethnicity(frame, SOURCE_LAYOUT[source][0], column, people, pds_rng)
                frame = pds_layout.supersede_tokens(frame, *SOURCE_LAYOUT[source][1:3], mergers, people)
            _write_months(frame, source, SOURCE_LAYOUT[source][2], raw, file_format, params)
            rows[source] += frame.height
        log.info("synth: financial year %d-%02d written", start_year, (start_year + 1) % 100)

    # As-of dates at the end of the window (2025-04-01): probabilities only, the outcome is not simulated.
    for as_of in params.truth_as_of:
        if day(as_of) == year_end:
            state = sim.risk(year_end)
            risk_frames.append(
                sim.truth(state, day(date(as_of.year + 1, as_of.month, as_of.day))).with_columns(
                    as_of=pl.lit(as_of),
                    emergency_admission_12m=pl.lit(None, dtype=pl.Int8),
                    acsc_admission_12m=pl.lit(None, dtype=pl.Int8),
                )
            )

    true_spine = extracts.population(people, orgs, sim.death, sim.care_home_start, extract_end)
    spine, population_log = dirt.population_sentinels(true_spine, params.dirt, rng)
    dirt_logs.append(population_log)
    folder = raw / "population" / date.fromordinal(date(1970, 1, 1).toordinal() + extract_end).strftime("%Y-%m")
    folder.mkdir(parents=True, exist_ok=True)
    pds = pds_layout.pds_tables(spine, people, orgs, sim.care_home_start, mergers, extract_end, pds_rng)
    for table, frame in pds.items():
        _write(frame, folder / f"{table}_{folder.name}", file_format)
    rows["population"] = pds["PDS_Person"].height
    true_spine.write_parquet(truth_dir / "population.parquet")
    mergers.frame(people).write_parquet(truth_dir / "person_mergers.parquet")
    reference = out / "reference"
    reference.mkdir(exist_ok=True)
    for name, frame in pds_layout.reference_files(orgs).items():
        frame.write_csv(reference / name)

    asc = extracts.asc(
        people,
        orgs,
        pl.concat(sim.asc_events),
        pl.concat(sim.service_rows),
        pl.concat(sim.service_ends) if sim.service_ends else pl.DataFrame({"service_id": [], "end": []}),
        rng,
        window_start,
        extract_end,
        sim.death,
        params.cld,
    )
    asc_links = asc.select(
        la_code="LA_Code", event_id="Event_Reference", person_id=pl.Series(people.token[asc["_person"].to_numpy()])
    )
    earlier_lsoa = pds_layout.previous_lsoa(pds["PDS_Address"], people)
    asc, noise_log = dirt.asc_noise(asc.drop("_person"), asc["_person"].to_numpy(), earlier_lsoa, params.linkage, rng)
    dirt_logs.append(noise_log)
    asc = _finish_source(asc, "asc", params, rng, out_of_area_tokens, dirt_logs)
    asc, layout_log = cld.national(asc, params.cld, params.window_start, rng)
    dirt_logs.append(layout_log)
    _write_months(asc, "asc", SOURCE_LAYOUT["asc"][2], raw, file_format, params, first_month=params.window_start)
    rows["asc"] = asc.height

    _write_truth(truth_dir, params, people, seen, risk_frames, asc_links, dirt_logs)
    return rows


def _hold_back(
    frame: pl.DataFrame, source: str, carry: dict[str, pl.DataFrame], next_year: date, extract_end: date, last: bool
) -> pl.DataFrame:
    """The rows of ``frame`` to write with this financial year; later ones wait in ``carry``.

    Some records of a year are dated after it (community contacts after a late discharge, transfers
    to another trust). They join next year's rows, so each monthly delivery file is written exactly
    once, and in the final year records dated after the extract end are dropped: no activity is
    dated after the end of the window.
    """
    date_column = SOURCE_LAYOUT[source][2]
    if source in carry:
        frame = pl.concat([carry.pop(source), frame], how="vertical_relaxed")
    if last:
        return frame.filter(pl.col(date_column) <= extract_end)
    later = pl.col(date_column) >= next_year
    carry[source] = frame.filter(later)
    return frame.filter(~later)


def _finish_source(
    frame: pl.DataFrame,
    source: str,
    params: SynthParameters,
    rng: np.random.Generator,
    out_of_area_tokens: pl.Series,
    dirt_logs: list[pl.DataFrame],
) -> pl.DataFrame:
    """Log the out-of-area records of one source's frame and inject its dirt (logged too)."""
    id_column, token, _, codes, unknown, sentinel = SOURCE_LAYOUT[source]
    _log_out_of_area(frame, source, out_of_area_tokens, dirt_logs)
    if source == "ecds":
        dirt.skip_retired_ecds_code_draws(rng, frame.height)
    frame, log_frame = dirt.inject(frame, source, id_column, token, codes, unknown, sentinel, params.dirt, rng)
    dirt_logs.append(log_frame)
    return frame


def _log_out_of_area(
    frame: pl.DataFrame, source: str, out_of_area_tokens: pl.Series, dirt_logs: list[pl.DataFrame]
) -> None:
    id_column, token = SOURCE_LAYOUT[source][:2]
    outside = frame.filter(pl.col(token).is_in(out_of_area_tokens.implode()))
    if outside.height:
        dirt_logs.append(
            pl.DataFrame(
                {
                    "source": source,
                    "record_id": outside[id_column].cast(pl.String),
                    "kind": "out_of_area",
                    "column": token,
                },
                schema=dirt.DIRT_SCHEMA,
            )
        )


def _write_truth(
    truth_dir: Path,
    params: SynthParameters,
    people: People,
    seen: np.ndarray,
    risk_frames: list[pl.DataFrame],
    asc_links: pl.DataFrame,
    dirt_logs: list[pl.DataFrame],
) -> None:
    tokens = pl.Series(people.token)
    risk = pl.concat(risk_frames, how="vertical_relaxed")
    risk = risk.with_columns(person_id=tokens.gather(risk["person"].to_numpy())).select(
        "person_id",
        pl.col("as_of").cast(pl.Date),
        "p_acsc_admission_12m",
        "p_emergency_admission_12m",
        pl.col("acsc_admission_12m").cast(pl.Int8),
        pl.col("emergency_admission_12m").cast(pl.Int8),
    )
    risk.write_parquet(truth_dir / "risk.parquet")
    asc_links.write_parquet(truth_dir / "asc_links.parquet")
    pl.concat(dirt_logs).write_parquet(truth_dir / "dirt.parquet")
    pl.DataFrame({"person_id": people.token[~people.in_population & seen]}).write_parquet(
        truth_dir / "out_of_area.parquet"
    )
    pl.DataFrame(
        {
            "provider_code": [code for code, _, _ in extracts.PROVIDERS],
            "provider_name": [name for _, name, _ in extracts.PROVIDERS],
            "in_ics": [inside for _, _, inside in extracts.PROVIDERS],
        }
    ).write_parquet(truth_dir / "providers.parquet")
    settings = params.as_dict()
    settings["service_costs"] = {k: list(v) for k, v in extracts.SERVICE_COSTS.items()}
    (truth_dir / "parameters.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")


def write(people: int, seed: int, out: Path, file_format: str = "parquet", **overrides: object) -> StageResult:
    """Generate a synthetic ICS of ``people`` registered people into ``out`` (see module docstring)."""
    started = time.perf_counter()
    params = dataclasses.replace(SynthParameters(), people=people, seed=seed, **overrides)  # type: ignore[arg-type]
    rows = generate(params, Path(out), file_format)
    seconds = round(time.perf_counter() - started, 1)
    log.info("synth: %d people written to %s in %.1f s", people, out, seconds)
    return StageResult(
        stage="synth",
        as_of=None,
        summary={"people": people, "acute_layout": params.acute_layout, "seconds": seconds, "rows": rows},
        outputs=(Path(out) / "raw", Path(out) / "truth"),
    )
