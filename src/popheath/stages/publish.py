"""``popheath publish``: per-PCN risk lists, released with write-audit-publish.

Reads ``scores``, ``segments``, ``cohort``, ``person``, ``clin_spells`` (read-only) and the previous
release; writes a new release folder under ``<paths.outputs>/lists/releases/`` and switches
``current`` to it only after the GX suite ``expectations/list_release.json`` passes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from popheath import db
from popheath.config import Settings
from popheath.errors import StageError
from popheath.lists import coverage, feedback, files, release, validate
from popheath.lists.annotate import annotate_lists
from popheath.lists.build import ListBuild, build_lists
from popheath.lists.rules import load_rules
from popheath.lists.tiers import choose_model
from popheath.results import StageResult

log = logging.getLogger(__name__)


def _pyramid(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    frame: pd.DataFrame = con.execute(
        "SELECT pcn_code, place, segment, tier, people FROM pyramid WHERE as_of = $as_of ORDER BY ALL",
        {"as_of": as_of},
    ).df()
    return frame


def run(settings: Settings, as_of: date) -> StageResult:
    """Build, audit and publish the lists for ``as_of``; the previous release stays current on any failure."""
    started = time.perf_counter()
    root = release.lists_root(settings.paths.outputs)
    capacity = settings.lists.capacity_per_pcn
    rules = load_rules(settings.lists.segment_rules)
    con = db.connect(settings, read_only=True)
    try:
        db.require_tables(con, "scores", "segments", "cohort", "person", "clin_spells", "pyramid")
        model = choose_model(con, as_of, settings.lists.model_name)
        if model is None:
            raise StageError(f"scores: nothing scored at {as_of}: run popheath score --as-of {as_of} first")
        segmented = con.execute("SELECT count(*) FROM segments WHERE as_of = $as_of", {"as_of": as_of}).fetchone()
        if not segmented or not segmented[0]:
            raise StageError(f"segments: no rows at {as_of}: run popheath segment --as-of {as_of} first")
        previous = release.previous_release(root, as_of, settings.lists.new_hold_days)
        built = build_lists(con, as_of, model, capacity, previous.path / files.LIST_PARQUET if previous else None)
        built, feedback_used, suitability_note = _annotate(con, settings, as_of, built)
        pyramid = _pyramid(con, as_of)

        def type1_lookup(tokens: list[str]) -> set[str]:
            if not tokens:
                return set()
            found = con.execute(
                "SELECT person_key FROM person WHERE list_contains($tokens, person_key) AND "
                "coalesce(lower(CAST(type1_opt_out AS VARCHAR)) IN ('true', 't', 'y', 'yes', '1'), false)",
                {"tokens": tokens},
            ).fetchall()
            return {str(row[0]) for row in found}

        def write(staging: Path) -> dict[str, int]:
            rows = files.write_pcn_files(
                staging, built.lists, built.left, after_each_pcn=lambda pcn: release.checkpoint("writing")
            )
            rows[files.PYRAMID_FILE] = files.write_csv(pyramid.astype(str), staging / files.PYRAMID_FILE)
            built.lists.to_parquet(staging / files.LIST_PARQUET, index=False)
            built.left.to_parquet(staging / files.LEFT_PARQUET, index=False)
            rows[files.LIST_PARQUET], rows[files.LEFT_PARQUET] = len(built.lists), len(built.left)
            return rows

        def audit(staging: Path) -> release.AuditOutcome:
            frames = validate.release_frames(
                staging, built.expected_rows, built.population, built.candidates, type1_lookup
            )
            pcns = set(built.expected_rows) | set(built.left["pcn_code"].dropna().astype(str))
            parameters = validate.suite_parameters(built.expected_rows, capacity, rules.segments, len(pcns))
            report = validate.run_suite(frames, parameters)
            return release.AuditOutcome(report.success, report.failures, report.detail)

        release_id = release.new_release_id(as_of)
        manifest = _manifest(settings, as_of, model, rules.version, built, previous)
        published, warnings = release.write_audit_publish(
            root, release_id, write, audit, manifest, settings.lists.keep_releases
        )
    finally:
        con.close()
    seconds = round(time.perf_counter() - started, 2)
    changes = built.lists["change"].value_counts().to_dict() if len(built.lists) else {}
    reasons = built.left["reason"].value_counts().to_dict() if len(built.left) else {}
    summary: dict[str, object] = {
        "release": published.release_id,
        "model": f"{model[0]} {model[1]}",
        "pcns": len(built.expected_rows),
        "listed": len(built.lists),
        "capacity per PCN": capacity,
        "scored": built.population.scored,
        "eligible": built.population.eligible,
        "excluded": {k: v for k, v in built.population.excluded.items() if v},
        "changes": {k: int(v) for k, v in changes.items()},
        "left the list": {k: int(v) for k, v in reasons.items()} or "none",
        "compared with": previous.release_id if previous else "nothing (first list or previous too old)",
        "feedback": feedback_used,
        "coverage flagged": int((built.lists["coverage_flag"].fillna("") != "").sum()) if len(built.lists) else 0,
        "who can be helped": suitability_note,
        "seconds": seconds,
    }
    log.info("published %s in %.1fs", published.release_id, seconds)
    return StageResult("publish", as_of, summary=summary, outputs=(published.path,), warnings=tuple(warnings))


def _annotate(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date, built: ListBuild
) -> tuple[ListBuild, dict[str, int], str]:
    """Add the PCNs' feedback, data coverage and (if enabled) the who-can-be-helped order to the rows."""
    store = feedback.FeedbackStore(feedback.feedback_path(settings.paths.outputs))
    actions = store.actions()
    latest = feedback.latest_actions(actions)
    tokens = built.lists["person_token"].astype(str).tolist() if len(built.lists) else []
    lists = annotate_lists(
        built.lists,
        as_of,
        latest,
        coverage.listed_coverage(con, as_of, tokens),
        settings.lists.new_hold_days,
        settings.lists.coverage_stale_days,
    )
    if tokens:
        trace = con.execute(
            "SELECT person_key AS person_token, segment_rule, segment_evidence FROM segments"
            " WHERE as_of = $as_of AND list_contains($tokens, person_key)",
            {"as_of": as_of, "tokens": tokens},
        ).df()
        lists = lists.merge(trace.drop_duplicates("person_token"), how="left", on="person_token")
    note = "off (settings lists.suitability_model)"
    if settings.lists.suitability_model:
        from popheath.evaluation import suitability

        lists, note = suitability.order_lists(con, settings, as_of, lists, actions)
    used = {
        "actions stored": len(actions),
        "listed with an action": int(lists["last_action"].notna().sum()) if len(lists) else 0,
        "held from new": int(lists["held_from_new"].sum()) if len(lists) else 0,
    }
    return dataclasses.replace(built, lists=lists), used, note


def _manifest(
    settings: Settings,
    as_of: date,
    model: tuple[str, str],
    rules_version: str,
    built: ListBuild,
    previous: release.Release | None,
) -> dict[str, object]:
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of": as_of.isoformat(),
        "model_name": model[0],
        "model_version": model[1],
        "segment_rules_version": rules_version,
        "tier_cutoffs": list(settings.lists.tier_cutoffs),
        "capacity_per_pcn": settings.lists.capacity_per_pcn,
        "previous_release_id": previous.release_id if previous else None,
        "csv": {"encoding": "UTF-8 with BOM", "line_end": "CRLF", "tie_break": "risk descending, then person token"},
        "counts": {
            "pcns": len(built.expected_rows),
            "listed": len(built.lists),
            "left": len(built.left),
            "listed_per_pcn": built.expected_rows,
            "scored": built.population.scored,
            "eligible": built.population.eligible,
            "excluded": built.population.excluded,
        },
    }
