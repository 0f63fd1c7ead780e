"""``popheath data-docs``: Great Expectations validates each source's kept sample and writes the Data Docs.

Off the critical path: the compiled SQL checks already decided, row by row, what loaded; this
step reads only the samples the load kept (``<paths.partitions>/gx_samples/``, never the
warehouse), so in Airflow it runs beside link and the later stages and its outcome never holds
up or undoes a load. Writes ``<paths.outputs>/data_docs/`` (rebuilt each run, working offline).
GX disagreeing with the SQL is a warning; an expectation GX could not evaluate is an error: the
site is still written, then the step fails with one line naming each such expectation.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date

from popheath.config import Settings
from popheath.errors import StageError
from popheath.ingest.checking import file_context
from popheath.ingest.deliveries import SOURCES
from popheath.ingest.gx_sample import samples_dir
from popheath.quality import contracts, data_docs
from popheath.quality.gx_suites import GxRunner
from popheath.results import StageResult

log = logging.getLogger(__name__)


def run(settings: Settings, as_of: date) -> StageResult:
    """Validate every kept sample, render the site offline-ready; raise if an expectation could not be evaluated."""
    samples = [(s, samples_dir(settings) / f"{s}.parquet") for s in SOURCES]
    samples = [(source, path) for source, path in samples if path.exists()]
    site = settings.paths.outputs / "data_docs"
    if not samples:
        reason = "off (settings ingest.data_docs)" if not settings.ingest.data_docs else "no kept sample: run ingest"
        return StageResult("data_docs", as_of, {"sources validated": 0, "data docs": reason})
    shutil.rmtree(site, ignore_errors=True)
    runner = GxRunner(site)
    parameters = file_context(settings, SOURCES[0]).parameters
    outcomes, warnings, errors, run_ids = [], [], [], {}
    for source, path in samples:
        contract = contracts.load_contract(source)
        frame, sql_counts, sampled, run_ids[source] = data_docs.read_sample(
            path, contract, settings.ingest.gx_sample_rows, settings.seed
        )
        outcome = runner.validate(
            source, contracts.load_suite(source), frame, parameters, sampled, run_ids[source] or "data-docs"
        )
        log.info("%s", data_docs.describe(outcome))
        outcomes.append(outcome)
        warnings += data_docs.cross_check(outcome, sql_counts)
        errors += data_docs.crash_lines(outcome)
    runner.build_docs()
    warnings += [f"Data Docs still load from the network: {left}" for left in data_docs.make_offline(site)]
    index = data_docs.write_index(site, outcomes, run_ids)
    for warning in warnings:
        log.warning("%s", warning)
    if errors:
        raise StageError(
            f"Great Expectations could not evaluate {len(errors)} expectation(s) (Data Docs written to {index}): "
            + "; ".join(errors)
        )
    summary = {
        "sources validated": len(outcomes),
        "rows validated": sum(o.rows_validated for o in outcomes),
        "expectations not met": sum(len(o.failed) for o in outcomes),
        "GX and SQL disagree": len(warnings),
    }
    return StageResult("data_docs", as_of, summary, outputs=(index,), warnings=tuple(warnings))
