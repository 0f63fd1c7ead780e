"""``popheath capitation --year YYYY``: baselines, prospective model, Year of Care budget and report.

Reads ``activity_costs`` (costing the year first if ``popheath cost`` has not), ``person``,
``segments``, ``cohort`` and ``features``; writes ``cap_person_year`` (internal, person level) and
the published tables (CSV and Parquet) plus ``report.html`` under
``<paths.outputs>/capitation/<year>/``. Every published table passes
:func:`popheath.capitation.disclosure.check_published` before it is written.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from popheath import db
from popheath.capitation import costing, disclosure, report, tables
from popheath.capitation.costing import FinancialYear
from popheath.capitation.prospective import ID_COLUMNS, run_prospective
from popheath.capitation.reference import load_reference
from popheath.config import Settings
from popheath.errors import StageError
from popheath.results import StageResult
from popheath.stages.cost import financial_year

log = logging.getLogger(__name__)

OPTIONAL_INPUTS = {
    "segments": "as_of DATE, person_key VARCHAR, segment VARCHAR, tier VARCHAR",
    "cohort": "as_of DATE, person_key VARCHAR, is_frail BOOLEAN",
}


def _ensure_optional_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Stand in empty temporary tables for segments/cohort when the upstream stage has not run."""
    missing = []
    for name, columns in OPTIONAL_INPUTS.items():
        if not db.table_exists(con, name):
            con.execute(f"CREATE TEMP TABLE {name} ({columns})")
            missing.append(name)
    return missing


def _ensure_costs(con: duckdb.DuckDBPyConnection, settings: Settings, fy: FinancialYear) -> bool:
    if costing.has_costs(con, fy):
        return False
    log.info("no activity_costs for %s: costing it first", fy.label)
    costing.cost_activity(con, settings, fy)
    return True


def _features(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame | None:
    if not db.table_exists(con, "features"):
        return None
    frame = con.execute("SELECT * FROM features WHERE as_of = $as_of", {"as_of": as_of}).df()
    return frame if len(frame) else None


def _model_frame(population: pd.DataFrame, features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    merged = population.merge(features[["person_key", *columns]], on="person_key", how="inner")
    merged = merged.sort_values("person_key", ignore_index=True)  # row order fixed: reproducible fits
    merged[columns] = merged[columns].astype("float32")
    return merged


def _population_accounting(con: duckdb.DuckDBPyConnection, settings: Settings, fy: FinancialYear) -> pd.DataFrame:
    """People by inclusion status; type 1 objections are counted from ``person`` (never costed)."""
    return con.execute(
        """
        SELECT CASE WHEN national_data_opt_out THEN 'excluded: national data opt-out'
                    WHEN out_of_area AND NOT $include_out_of_area THEN 'reported separately: out of area'
                    WHEN out_of_area THEN 'included: out of area'
                    ELSE 'included: registered population' END AS status,
               count(*) AS people, sum(person_years) AS person_years, sum(cost_total) AS total_cost
        FROM cap_person_year WHERE financial_year = $year AND person_years > 0
        GROUP BY ALL
        UNION ALL
        SELECT 'excluded: type 1 objection', count(*), NULL, NULL
        FROM person
        WHERE type1_opt_out AND coalesce(in_population, FALSE)
          AND coalesce(registration_start, $year_start) <= $year_end
          AND coalesce(registration_end, $year_end) >= $year_start
          AND coalesce(date_of_death, $year_end) >= $year_start
        ORDER BY 1
        """,
        {
            "year": fy.year,
            "year_start": fy.start,
            "year_end": fy.end,
            "include_out_of_area": settings.capitation.include_out_of_area,
        },
    ).df()


def _write(folder: Path, name: str, frame: pd.DataFrame, settings: Settings) -> list[Path]:
    disclosure.check_published(name, frame, settings.capitation.suppress_below, settings.capitation.round_to)
    csv, parquet = folder / f"{name}.csv", folder / f"{name}.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    return [csv, parquet]


def run(settings: Settings, as_of: date, *, year: int | None = None) -> StageResult:
    """Build the capitation outputs for the financial year starting April ``year``."""
    timings: dict[str, float] = {}
    cpu_timings: dict[str, float] = {}
    clock, cpu_clock = time.perf_counter(), time.process_time()

    def lap(step: str) -> None:
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), time.process_time()
        timings[step], cpu_timings[step] = round(now - clock, 2), round(cpu_now - cpu_clock, 2)
        clock, cpu_clock = now, cpu_now

    fy = financial_year(settings, year)
    cap = settings.capitation
    warnings: list[str] = []
    folder = settings.paths.outputs / "capitation" / str(fy.year)
    folder.mkdir(parents=True, exist_ok=True)
    con = db.connect(settings)
    try:
        sources = load_reference(con, settings)
        missing = _ensure_optional_inputs(con)
        if missing:
            warnings.append(f"no {', '.join(missing)} table: everyone is 'unsegmented'/'not_scored'/not frail")
        _ensure_costs(con, settings, fy)
        lap("costing")
        costing.build_person_year(con, settings, fy)
        as_of_used = {}
        for table in ("segments", "cohort"):
            found = costing.latest_as_of(con, table, fy.start)
            as_of_used[table] = found or fy.start
            if found is not None and found != fy.start:
                warnings.append(f"no {table} at {fy.start}: using the latest earlier date, {found}")
        population = costing.planning_population(con, settings, fy, as_of_used["segments"], as_of_used["cohort"])
        accounting = _population_accounting(con, settings, fy)
        boundary = costing.boundary_summary(con, fy)
        coverage = costing.costing_summary(con, fy)
        lap("person_year")
        if population.empty:
            raise StageError(f"no planning population for {fy.label}: run link/features first")
        published = tables.baseline_tables(population, cap)
        lap("baselines_bootstrap")

        model = None
        train_features, test_features = _features(con, FinancialYear(fy.year - 1).start), _features(con, fy.start)
        if train_features is None or test_features is None:
            warnings.append(
                f"prospective model skipped: no features at {FinancialYear(fy.year - 1).start} and {fy.start}"
            )
        else:
            previous = FinancialYear(fy.year - 1)
            _ensure_costs(con, settings, previous)
            costing.build_person_year(con, settings, previous)
            train_population = costing.planning_population(con, settings, previous, previous.start)
            columns = [
                c
                for c in test_features.columns
                if c not in ID_COLUMNS
                and c not in population.columns  # age and sex come from the person table
                and pd.api.types.is_numeric_dtype(test_features[c])
                and c in train_features
            ]
            train = _model_frame(train_population, train_features, columns)
            test = _model_frame(population, test_features, columns)
            lap("model_data")
            model = run_prospective(
                train, test, columns, settings.model.seed, cap.model_rounds, cap.model_max_train_people
            )
            lap("prospective_model")
    finally:
        con.close()

    published.tables.update(tables.model_tables(model, cap) if model is not None else {})
    published.tables["population_accounting"] = tables.population_accounting(accounting, cap)
    published.tables["boundary_activity"] = tables.rounded_records(boundary, cap.round_to)
    coverage_by_source = (
        coverage.assign(records_costed=coverage["records"].where(coverage["costed"], 0))
        .assign(records_uncosted=coverage["records"].where(~coverage["costed"].astype(bool), 0))
        .groupby(["source", "setting"], as_index=False)[["records_costed", "records_uncosted", "total_cost"]]
        .sum()
    )
    published.tables["costing_coverage"] = tables.rounded_records(coverage_by_source, cap.round_to)

    outputs: list[Path] = []
    for name, frame in published.tables.items():
        outputs += _write(folder, name, frame, settings)
    people_rounded = float(disclosure.round_to(pd.Series([len(population)]), cap.round_to).iloc[0])
    headline = {
        "People in the planning population": f"{people_rounded:,.0f}",
        "Mean cost per person-year": f"£{population['cost_total'].sum() / population['person_years'].sum():,.0f}",
        "Outlier cap (annualised cost)": f"£{published.cap_value:,.0f} (percentile {cap.outlier_cap_percentile})",
    }
    if model is not None:
        for row in model.metrics.itertuples():
            headline[f"{row.model}: R² person / practice"] = f"{row.person_r2:.3f} / {row.practice_r2:.3f}"
    html = report.render(
        report.ReportContent(
            title="Population resource baselines and Year of Care budget",
            year_label=fy.label,
            price_base=cap.price_base_year,
            settings_text={f"capitation.{f.name}": getattr(cap, f.name) for f in dataclasses.fields(cap)},
            tables=published.tables,
            table_notes=tables.TABLE_NOTES,
            pyramid=published.pyramid,
            age_segment=published.age_segment,
            lorenz=published.lorenz,
            top5_share=published.top5_share,
            deciles=published.tables.get("predicted_vs_actual_deciles"),
            headline=headline,
            sources=sources,
        )
    )
    report_path = folder / "report.html"
    report_path.write_text(html, encoding="utf-8")
    outputs.append(report_path)
    lap("publish_report")
    summary: dict[str, object] = {
        "financial_year": fy.label,
        "people": len(population),
        "person_years": round(float(population["person_years"].sum()), 1),
        "report": str(report_path),
        "seconds": timings,
        "cpu_seconds": cpu_timings,
    }
    if model is not None:
        summary["r2"] = {
            f"{r.model}_{level}": round(getattr(r, f"{level}_r2"), 3)
            for r in model.metrics.itertuples()
            for level in ("person", "practice")
        }
    log.info("capitation outputs in %s", folder)
    return StageResult(
        stage="capitation", as_of=as_of, summary=summary, outputs=tuple(outputs), warnings=tuple(warnings)
    )
