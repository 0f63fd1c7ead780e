"""``popheath publish``: per-PCN risk lists, released with write-audit-publish.

Reads ``scores``, ``segments``, ``cohort``, ``person``, ``clin_spells`` (read-only) and the previous
release; writes a new release folder under ``<paths.outputs>/lists/releases/`` and switches
``current`` to it only after the GX suite ``expectations/list_release.json`` passes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import date

import duckdb
import pandas as pd

from popheath import db
from popheath.config import Settings
from popheath.lists import feedback, files, publishing, release
from popheath.lists.build import ListBuild, build_lists
from popheath.lists.row_rules import load_row_rules
from popheath.lists.rules import load_rules
from popheath.results import StageResult

log = logging.getLogger(__name__)


def run(settings: Settings, as_of: date) -> StageResult:
    """Build, audit and publish the lists for ``as_of``; the previous release stays current on any failure."""
    started = time.perf_counter()
    root = release.lists_root(settings.paths.outputs)
    capacity = settings.lists.capacity_per_pcn
    rules = load_rules(settings.lists.segment_rules)
    con = db.connect(settings, read_only=True)
    try:
        model = publishing.require_inputs(con, as_of, settings.lists.model_name)
        previous = release.previous_release(root, as_of, settings.lists.new_hold_days)
        previous_list = previous.path / files.LIST_PARQUET if previous else None
        built = build_lists(con, as_of, model, capacity, previous_list, load_row_rules(settings.lists.row_rules))
        actions = feedback.FeedbackStore(feedback.feedback_path(settings.paths.outputs)).actions()
        built = publishing.annotate(con, settings, as_of, built, actions)
        built, suitability_note = _order_by_suitability(con, settings, as_of, built, actions)
        write = publishing.release_writer(built, publishing.pyramid(con, as_of))
        audit = publishing.release_auditor(con, built, capacity, rules.segments)
        release_id = release.new_release_id(as_of)
        manifest = publishing.release_manifest(settings, as_of, model, rules.version, built, previous)
        published, warnings = release.write_audit_publish(
            root, release_id, write, audit, manifest, settings.lists.keep_releases
        )
    finally:
        con.close()
    seconds = round(time.perf_counter() - started, 2)
    summary = publishing.summary(published, model, built, previous, actions, suitability_note, capacity, seconds)
    log.info("published %s in %.1fs", published.release_id, seconds)
    return StageResult("publish", as_of, summary=summary, outputs=(published.path,), warnings=tuple(warnings))


def _order_by_suitability(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date, built: ListBuild, actions: pd.DataFrame
) -> tuple[ListBuild, str]:
    """Add the who-can-be-helped order when settings ``lists.suitability_model`` asks for it; returns a note."""
    if not settings.lists.suitability_model:
        return built, "off (settings lists.suitability_model)"
    from popheath.evaluation import suitability  # scikit-learn is loaded only when the option is on

    lists, note = suitability.order_lists(con, settings, as_of, built.lists, actions)
    return dataclasses.replace(built, lists=lists), note
