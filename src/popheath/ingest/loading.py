"""One ingest run over the sources: per source plan, check, apply and audit, keeping the GX sample; its result."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from popheath import db
from popheath.config import Settings
from popheath.errors import InputError, PopheathError, StageError
from popheath.ingest.applying import apply_checked, ensure_tables, finish_loads
from popheath.ingest.checking import FileContext, file_context, plan
from popheath.ingest.connectors.assembly import check_deliveries
from popheath.ingest.console import summary_table
from popheath.ingest.deliveries import SOURCES, Delivery, FileLoad, set_aside_loads
from popheath.ingest.gx_sample import keep_sample
from popheath.ingest.load_audit import write_audit
from popheath.ingest.reading import first_line
from popheath.results import StageResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOutcome:
    """What a run or a merge did: each file's load record, file-level failures, and warnings."""

    loads: list[FileLoad]
    failures: Sequence[PopheathError]
    warnings: list[str] = field(default_factory=list)


def load_source(
    con: duckdb.DuckDBPyConnection, deliveries: list[Delivery], context: FileContext, run_id: str, force: bool
) -> tuple[list[FileLoad], list[InputError]]:
    """Load the changed deliveries of one source: check all at once, then apply in one transaction.

    Files set aside (not data, or refused) are audited first; a delivery with a refused file is not loaded.
    """
    aside: list[FileLoad] = []
    refused: list[InputError] = []
    for delivery in deliveries:
        loads, errors = set_aside_loads(delivery, context.mapping.name)
        aside.extend(loads)
        refused.extend(errors)
    write_audit(con, aside, run_id, {})
    deliveries = [d for d in deliveries if d.files and not d.refused]
    unchanged, batch = plan(con, deliveries, context, force)
    write_audit(con, unchanged, run_id, batch.fingerprints)
    if batch.loads and check_deliveries(con, deliveries, context, batch):
        accepted = batch.accepted()
        with db.transaction(con):
            try:
                counts = apply_checked(con, context.contract, sorted({x.delivery for x in accepted}), [])
            except duckdb.Error as error:
                raise StageError(f"{context.contract.source}: load failed: {first_line(error)}") from error
            finish_loads(accepted, counts)
            write_audit(con, accepted, run_id, batch.fingerprints)
    write_audit(con, [x for x in batch.loads if x.outcome in {"rejected", "not_loaded"}], run_id, batch.fingerprints)
    return aside + unchanged + batch.loads, refused + batch.failures


def load_deliveries(settings: Settings, deliveries: list[Delivery], run_id: str, force: bool) -> IngestOutcome:
    """Load ``deliveries`` into the warehouse source by source (population first), keeping each GX sample."""
    console = Console(stderr=True)
    loads: list[FileLoad] = []
    failures: list[InputError] = []
    present = [s for s in SOURCES if any(d.source == s for d in deliveries)]
    con = db.connect(settings)
    try:
        ensure_tables(con)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task("ingest", total=len(present))
            for source in present:
                progress.update(task, description=f"ingest {source}")
                mine = [d for d in deliveries if d.source == source]
                done, failed = load_source(con, mine, file_context(settings, source), run_id, force)
                loads.extend(done)
                for failure in failed:
                    log.error("%s", failure)
                failures.extend(failed)
                keep_sample(con, settings, source, run_id)
                progress.advance(task)
    finally:
        con.close()
    return IngestOutcome(loads, failures)


def stage_result(settings: Settings, as_of: date, outcome: IngestOutcome, started: float) -> StageResult:
    """Print the per-source table, raise the first file-level failure if so configured, and sum up the run."""
    loads, failures, warnings = outcome.loads, outcome.failures, outcome.warnings
    for warning in warnings:
        log.warning("%s", warning)
    if loads:
        Console(stderr=True).print(summary_table(loads))
    if failures and settings.ingest.fail_on_rejected:
        raise failures[0]
    totals: dict[str, Any] = {
        "files": len(loads),
        "files loaded": sum(1 for x in loads if x.outcome == "loaded"),
        "files unchanged": sum(1 for x in loads if x.outcome == "unchanged"),
        "files rejected": sum(1 for x in loads if x.outcome == "rejected"),
        "files skipped": sum(1 for x in loads if x.outcome == "skipped"),
        "rows read": sum(x.rows_read for x in loads),
        "rows loaded": sum(x.rows_loaded for x in loads),
        "rows quarantined": sum(x.rows_quarantined for x in loads),
        "seconds": round(time.perf_counter() - started, 2),
    }
    reasons: Counter[str] = Counter()
    for load in loads:
        reasons.update(load.quarantined)
    if reasons:
        totals["quarantined by reason"] = dict(reasons.most_common())
    return StageResult(
        stage="ingest",
        as_of=as_of,
        summary=totals,
        warnings=tuple(warnings + [str(f) for f in failures]),
    )
