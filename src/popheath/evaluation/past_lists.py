"""Evaluating past lists: which list dates, calibration and contacted vs matched people per date, card coverage.

For each past list date: (a) observed against predicted admissions by risk decile, tier and practice;
(b) for people the PCN contacted or gave a care plan, emergency admissions in the 6 and 12 months
after against matched people of similar risk who were not (``matching.py``: observational,
difference in differences, bootstrap intervals). ``popheath.stages.evaluate_lists`` writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from popheath import db
from popheath.config import Settings
from popheath.evaluation.calibration import calibration_table
from popheath.evaluation.matching import (
    STRATA,
    AdmissionCounter,
    contact_cases,
    effect_table,
    match_controls,
)
from popheath.lists import coverage, feedback, release
from popheath.lists.tiers import choose_model
from popheath.modelling import card, registry

OUTCOME = "acsc_admission_12m"


@dataclass(frozen=True)
class ListEvaluation:
    """Aggregates over every evaluated list date (no person rows) and what the run noticed on the way."""

    calibration: pd.DataFrame
    effects: pd.DataFrame
    matching: pd.DataFrame
    strata: tuple[str, ...]
    warnings: tuple[str, ...]
    cards_updated: tuple[str, ...]


def duckdb_counter(con: duckdb.DuckDBPyConnection) -> AdmissionCounter:
    """Count emergency admissions (``clin_spells``) around each (person, index date) in DuckDB."""

    def count(index: pd.DataFrame, horizons: tuple[int, ...]) -> pd.DataFrame:
        frame = index[["person_key", "index_date"]].reset_index(drop=True).assign(row_id=lambda f: range(len(f)))
        con.register("evaluation_index", frame)
        try:
            columns = ", ".join(
                f"count(s.person_key) FILTER (WHERE s.admission_date >= i.index_date - INTERVAL {h} MONTH"
                f" AND s.admission_date < i.index_date) AS pre_{h}m, "
                f"count(s.person_key) FILTER (WHERE s.admission_date >= i.index_date"
                f" AND s.admission_date < i.index_date + INTERVAL {h} MONTH) AS post_{h}m"
                for h in horizons
            )
            counted: pd.DataFrame = con.execute(
                f"""
                SELECT i.row_id, {columns}
                FROM (SELECT row_id, person_key, CAST(index_date AS DATE) AS index_date FROM evaluation_index) AS i
                LEFT JOIN clin_spells AS s ON s.person_key = i.person_key AND s.is_emergency
                GROUP BY i.row_id ORDER BY i.row_id
                """
            ).df()
        finally:
            con.unregister("evaluation_index")
        return frame.merge(counted, on="row_id").drop(columns="row_id")

    return count


def list_dates(settings: Settings, actions: pd.DataFrame, release_ids: list[str] | None) -> list[date]:
    """As-of dates of the releases kept (or those named) and of the lists feedback refers to."""
    found = release.releases(release.lists_root(settings.paths.outputs))
    chosen = {r.as_of for r in found if not release_ids or r.release_id in release_ids}
    if not release_ids and len(actions):
        chosen |= {date.fromisoformat(str(d)) for d in actions["list_as_of"].dropna().unique()}
    return sorted(chosen)


def _population(
    con: duckdb.DuckDBPyConnection, list_date: date, model: tuple[str, str], pcns: list[str]
) -> pd.DataFrame:
    frame: pd.DataFrame = con.execute(
        """
        SELECT s.person_key, s.risk, c.age_band, coalesce(g.segment, 'unknown') AS segment, c.pcn_code, c.practice_code
        FROM scores AS s
        JOIN cohort AS c ON c.as_of = s.as_of AND c.person_key = s.person_key
        LEFT JOIN segments AS g ON g.as_of = s.as_of AND g.person_key = s.person_key
        WHERE s.as_of = $d AND s.model_name = $m AND s.model_version = $v AND list_contains($pcns, c.pcn_code)
        """,
        {"d": list_date, "m": model[0], "v": model[1], "pcns": pcns},
    ).df()
    return frame


def _add_coverage_section(
    con: duckdb.DuckDBPyConnection, settings: Settings, list_date: date, model: tuple[str, str], as_of: date
) -> bool:
    """Once a list's 12-month outcomes are complete, state in its model's card how it did by data coverage."""
    card_path = settings.paths.models / model[0] / model[1] / registry.CARD_FILE
    complete = (as_of - list_date).days >= 365
    if not (complete and card_path.exists() and db.table_exists(con, "coverage")):
        return False
    table = coverage.coverage_performance_table(
        con, list_date, model, outcome=OUTCOME, stale_days=settings.lists.coverage_stale_days
    )
    if table.empty:
        return False
    heading = f"Measured on the list of {list_date} with outcomes to {as_of}.\n\n"
    card.replace_section(card_path, "coverage", heading + coverage.coverage_performance_markdown(table))
    return True


def evaluate(
    con: duckdb.DuckDBPyConnection, settings: Settings, dates: list[date], actions: pd.DataFrame, as_of: date
) -> ListEvaluation:
    """Calibrate each list date's scores and compare its contacted people with matched ones, data to ``as_of``."""
    evaluation = settings.evaluation
    strata = (*STRATA[:-1], "practice_code") if evaluation.match_on_practice else STRATA
    calibration: list[pd.DataFrame] = []
    effects: list[pd.DataFrame] = []
    matching_rows: list[dict[str, object]] = []
    warnings: list[str] = []
    cards_updated: list[str] = []
    counter = duckdb_counter(con)
    for position, list_date in enumerate(dates):
        model = choose_model(con, list_date, settings.lists.model_name)
        if model is None:
            warnings.append(f"{list_date}: nothing scored, skipped")
            continue
        calibration.append(calibration_table(con, list_date, model, OUTCOME, as_of))
        if _add_coverage_section(con, settings, list_date, model, as_of):
            cards_updated.append(f"{model[0]} {model[1]} (list of {list_date})")
        following = dates[position + 1] if position + 1 < len(dates) else None
        cases = contact_cases(actions, list_date, following, feedback.INTERVENTION_ACTIONS)
        if cases.empty:
            matching_rows.append({"list_date": list_date, "contacted": 0, "matched": 0, "unmatched": 0})
            continue
        pcns = sorted(set(actions.loc[actions["person_token"].isin(cases["person_key"]), "pcn_code"].astype(str)))
        population = _population(con, list_date, model, pcns)
        # Never a control: anyone the teams contacted at any time.
        ever = set(actions.loc[actions["action"].isin(feedback.INTERVENTION_ACTIONS), "person_token"])
        population = population[~population["person_key"].isin(ever - set(cases["person_key"]))]
        matched = match_controls(population, cases, strata, evaluation.caliper, evaluation.controls_per_case)
        matching_rows.append(
            {
                "list_date": list_date,
                "contacted": matched.cases,
                "matched": matched.cases - matched.unmatched,
                "unmatched": matched.unmatched,
            }
        )
        table = effect_table(
            matched.pairs,
            counter,
            tuple(evaluation.horizons_months),
            evaluation.bootstrap_samples,
            evaluation.seed,
            follow_up_end=as_of,
        )
        if len(table):
            effects.append(table.assign(list_date=list_date))
    return ListEvaluation(
        calibration=pd.concat(calibration, ignore_index=True) if calibration else pd.DataFrame(),
        effects=pd.concat(effects, ignore_index=True) if effects else pd.DataFrame(),
        matching=pd.DataFrame(matching_rows),
        strata=strata,
        warnings=tuple(warnings),
        cards_updated=tuple(cards_updated),
    )


def summary(dates: list[date], evaluated: ListEvaluation, report: Path, seconds: float) -> dict[str, object]:
    """The stage summary: list dates, contacted (matched) per date, rate ratios with intervals, cards updated."""
    matching_rows = evaluated.matching.to_dict("records")
    result: dict[str, object] = {
        "list dates": [d.isoformat() for d in dates],
        "contacted (matched)": {str(r["list_date"]): f"{r['contacted']} ({r['matched']})" for r in matching_rows}
        or "no contacts recorded",
        "report": str(report),
        "seconds": seconds,
        "model cards given performance by data coverage": ", ".join(evaluated.cards_updated)
        or "none (no list with a full year of outcomes)",
    }
    for row in evaluated.effects.to_dict("records"):
        result[f"{row['list_date']} {row['horizon_months']}m rate ratio"] = (
            f"{row['rate_ratio']:.2f} ({row['rate_ratio_lower']:.2f}-{row['rate_ratio_upper']:.2f}), "
            f"{row['pairs']} pairs"
        )
    return result
