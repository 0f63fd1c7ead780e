"""Link stage: one person key for every activity record (deterministic on the token, Splink for ASC without one).

ASC events without a token are linked in two steps. First through the local authority's client id
(ASC-CLD ``LA_Person_Unique_Identifier``, canonical ``client_id``, unique within ``la_code``): when
other events of the same client carry exactly one distinct token, the event takes it (method
``client_id``, probability 1.0); when they carry different tokens the event is left unlinked with
status ``conflicting_tokens``. Then clients none of whose events carries a token are linked to the
spine with Splink, one record per client (method ``probabilistic``), and the scored candidates are
assigned one to one: a spine person takes at most one client of an LA, confident links first.

Reads the canonical staging tables and hospital discharges (``stg_apc``), writes ``person_link`` and
``person`` (docs/data_model.md) plus the working tables ``link_asc_events``, ``link_asc_clients``,
``link_asc_input``, ``link_spine_input``, ``link_asc_candidates``, ``link_asc_plausible``,
``link_asc_assigned`` (each assignment and its round), ``link_asc_probabilistic`` (every client
record sent to Splink with its best candidate, outcome and probability) and
``link_asc_event_links`` (every ASC event's key, method,
probability and status: the audit trail of each decision). Each run writes its settings, the
trained Splink model and the link-quality report to ``<paths.outputs>/link/<as_of>/``, and records
the run and the person keys it moved (``link_runs``, ``link_changes``: :mod:`popheath.linkage.link_runs`)
for the incremental clinical build. A night with the staging and definitions of the last run keeps
its links; a night with new deliveries but the spine and definitions of the last run relinks only
the new and restated loads and the ASC events (``link_runs.full_reason``); ``--full`` relinks all.
"""

from __future__ import annotations

import logging
import time
from datetime import date

from popheath import db, staging_changes
from popheath.config import Settings
from popheath.linkage import assignment, candidate_scoring, link_quality, link_runs, link_tables, quality_report
from popheath.linkage.spec import load_spec
from popheath.results import StageResult

log = logging.getLogger(__name__)


def _unchanged(settings: Settings, as_of: date, last: link_runs.LinkRun, seconds: float) -> StageResult:
    """The result of a night whose staging and link definitions are those of the last run: its links stand."""
    folder = settings.paths.outputs / "link" / last.as_of.isoformat()
    summary = {"links": f"unchanged since link run {last.run_id} (as of {last.as_of})", "seconds": round(seconds, 1)}
    log.info("link: staging and definitions unchanged since run %d; links kept", last.run_id)
    return StageResult("link", as_of, summary, (folder,) if folder.is_dir() else ())


def run(settings: Settings, as_of: date) -> StageResult:
    """Link every activity source to one person key and write the link-quality report for ``as_of``.

    Skipped (the links kept) when staging and everything that shapes links are as the last run found
    them, unless ``rebuild.full`` is set: the run would give the same links.
    """
    started = time.perf_counter()
    link_tables.check_settings(settings)
    spec = load_spec(settings.link.model_spec)
    definitions = link_runs.definitions_hash(settings)
    con = db.connect(settings)
    try:
        db.require_tables(con, *link_tables.STAGING_TABLES)
        loads = staging_changes.staging_loads(con)
        last = None if settings.rebuild.full else link_runs.unchanged_since(con, definitions, loads)
        if last is not None:
            return _unchanged(settings, as_of, last, time.perf_counter() - started)
        link_tables.build_asc_inputs(con, spec)
        scored = candidate_scoring.score_asc_clients(con, settings, spec)
        assignment.assign_one_to_one(con, spec, scored.no_match_mass, settings.link.match_threshold)
        link_tables.build_asc_event_links(con)
        run_id = link_runs.next_run(con)
        reason = "rebuild.full is set" if settings.rebuild.full else link_runs.full_reason(con, definitions)
        relinked = f"every record ({reason})" if reason else "new and restated loads, every ASC event"
        log.info("link relinks %s", relinked)
        keys_changed = link_tables.build_person_tables(con, settings, run_id, full=reason is not None)
        measures = link_quality.measure(con, settings, spec)
    finally:
        con.close()

    warnings = link_quality.quality_warnings(scored.fit, measures)
    seconds = time.perf_counter() - started
    report = link_quality.quality_record(settings, spec, as_of, scored, measures, keys_changed, warnings, seconds)
    folder = settings.paths.outputs / "link" / as_of.isoformat()
    outputs = quality_report.write_run_folder(folder, report, settings, spec, as_of, scored)
    # Recorded last: a run killed before this point is redone in full by the next, never skipped.
    # The changes are complete when they were taken against the links of a recorded run (a rerun
    # after a killed first run compares with that run's links, and is no more complete than it).
    complete = keys_changed is not None and run_id > 1
    link_runs.record(settings, run_id, as_of, definitions, loads, complete=complete)
    summary = link_quality.stage_summary(measures, keys_changed, seconds)
    summary["relinked"] = relinked
    log.info("link done in %.1fs: %s unlinked records", seconds, f"{summary['unlinked']:,}")
    return StageResult("link", as_of, summary, tuple(outputs), tuple(warnings))
