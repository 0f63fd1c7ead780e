"""``popheath capitation --year YYYY``: baselines, prospective model, Year of Care budget and report.

Reads ``activity_costs`` (from ``popheath cost``), ``person``, ``segments``, ``cohort`` and
``features``, and refuses to run, naming the command, when costs, segments or cohort are missing;
writes ``cap_person_year`` (internal, person level) and the published tables (CSV and Parquet), the
data dictionary, the Excel workbook and ``report.html`` under ``<paths.outputs>/capitation/<year>/``.
Every published table passes :func:`popheath.capitation.disclosure.check_published` before it is
written; every file written is then scanned for raw NHS numbers
(:func:`popheath.quality.output_scan.refuse_nhs_numbers`) and all are removed if one holds any.
"""

from __future__ import annotations

import logging
from datetime import date

from popheath import db
from popheath.capitation import costing, inputs, model_data, needs, outputs, tables
from popheath.capitation.accounting import population_accounting
from popheath.capitation.clock import StepClock
from popheath.capitation.costing import FinancialYear
from popheath.capitation.prospective import ProspectiveResult, run_prospective
from popheath.capitation.reference import load_reference
from popheath.config import Settings
from popheath.errors import StageError
from popheath.quality.output_scan import refuse_nhs_numbers
from popheath.results import StageResult

log = logging.getLogger(__name__)


def run(settings: Settings, as_of: date, *, year: int | None = None) -> StageResult:
    """Build the capitation outputs for the financial year starting April ``year``."""
    clock = StepClock()
    fy = FinancialYear.from_settings(settings, year)
    cap = settings.capitation
    folder = settings.paths.outputs / "capitation" / str(fy.year)
    folder.mkdir(parents=True, exist_ok=True)
    model: ProspectiveResult | None = None
    con = db.connect(settings)
    try:
        sources = load_reference(con, settings)
        inputs.require_inputs(con, fy)
        clock.lap("inputs")
        costing.build_person_year(con, settings, fy)
        snapshots, warnings = inputs.snapshot_dates(con, fy)
        population = costing.planning_population(con, settings, fy, snapshots["segments"], snapshots["cohort"])
        accounting = population_accounting(con, settings, fy)
        activity = costing.activity_cells(con, fy, cap.dominance_n)
        clock.lap("person_year")
        if population.empty:
            raise StageError(f"no planning population for {fy.label}: run link/features first")
        published = tables.baseline_tables(population, cap)
        clock.lap("baselines_bootstrap")
        data = model_data.prospective_data(con, settings, fy, population)
        if data is None:
            previous = FinancialYear(fy.year - 1)
            warnings.append(f"prospective model skipped: no features at {previous.start} and {fy.start}")
        else:
            clock.lap("model_data")
            model = run_prospective(
                data.train, data.test, data.columns, settings.model.seed, cap.model_rounds, cap.model_max_train_people
            )
            clock.lap("prospective_model")
    finally:
        con.close()

    need = needs.person_need(population, model, fy.label, FinancialYear(fy.year - 1).label, cap)
    tables.add_model_and_accounting(published, model, accounting, activity, cap, need)
    written = outputs.write_tables(folder, published.tables, cap, fy)
    figures = outputs.headline(population, published, model, cap)
    report = outputs.write_report(folder, fy, cap, published, figures, sources)
    try:
        refuse_nhs_numbers([folder], f"capitation outputs for {fy.label}")
    except StageError:
        for path in (*written, report):  # never left in place for someone to open
            path.unlink(missing_ok=True)
        raise
    clock.lap("publish_report")
    log.info("capitation outputs in %s", folder)
    return StageResult(
        stage="capitation",
        as_of=as_of,
        summary=outputs.run_summary(fy, population, report, clock, model),
        outputs=(*written, report),
        warnings=tuple(warnings),
    )
