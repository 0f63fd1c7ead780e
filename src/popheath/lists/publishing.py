"""Publishing a list release: input checks, annotation, the staged files, their audit, manifest and summary.

``popheath.stages.publish`` builds the lists and hands the pieces here to
``release.write_audit_publish``; nothing in this module switches ``current`` itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from popheath import db
from popheath.config import Settings
from popheath.errors import StageError
from popheath.lists import coverage, feedback, files, release, validate
from popheath.lists.annotate import annotate_lists
from popheath.lists.build import ListBuild
from popheath.lists.row_rules import load_row_rules
from popheath.lists.tiers import choose_model


def require_inputs(con: duckdb.DuckDBPyConnection, as_of: date, model_name: str) -> tuple[str, str]:
    """The model whose scores are listed at ``as_of``; StageError naming the command to run if inputs are missing."""
    db.require_tables(
        con,
        "scores",
        "segments",
        "cohort",
        "features",
        "person",
        "clin_spells",
        "clin_episodes",
        "clin_ed_attendances",
        "clin_community_contacts",
        "pyramid",
    )
    model = choose_model(con, as_of, model_name)
    if model is None:
        raise StageError(f"scores: nothing scored at {as_of}: run popheath score --as-of {as_of} first")
    segmented = con.execute("SELECT count(*) FROM segments WHERE as_of = $as_of", {"as_of": as_of}).fetchone()
    if not segmented or not segmented[0]:
        raise StageError(f"segments: no rows at {as_of}: run popheath segment --as-of {as_of} first")
    return model


def annotate(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date, built: ListBuild, actions: pd.DataFrame
) -> ListBuild:
    """Add the PCNs' feedback, who already manages the person, impactability, data coverage and the segment rule."""
    latest = feedback.latest_actions(actions)
    tokens = built.lists["person_token"].astype(str).tolist() if len(built.lists) else []
    lists = annotate_lists(
        built.lists,
        as_of,
        latest,
        coverage.listed_coverage(con, as_of, tokens),
        settings.lists.new_hold_days,
        settings.lists.coverage_stale_days,
        load_row_rules(settings.lists.row_rules),
    )
    if tokens:
        trace = con.execute(
            "SELECT person_key AS person_token, segment_rule, segment_evidence FROM segments"
            " WHERE as_of = $as_of AND list_contains($tokens, person_key)",
            {"as_of": as_of, "tokens": tokens},
        ).df()
        lists = lists.merge(trace.drop_duplicates("person_token"), how="left", on="person_token")
    return dataclasses.replace(built, lists=lists)


def pyramid(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """The population pyramid (people per PCN, place, segment and tier) published beside the lists."""
    frame: pd.DataFrame = con.execute(
        "SELECT pcn_code, place, segment, tier, people FROM pyramid WHERE as_of = $as_of ORDER BY ALL",
        {"as_of": as_of},
    ).df()
    return frame


def release_writer(built: ListBuild, pyramid: pd.DataFrame) -> Callable[[Path], dict[str, int]]:
    """The ``write`` step: per-PCN and practice CSVs, the pyramid and the parquet copies; data rows per file."""

    def write(staging: Path) -> dict[str, int]:
        rows = files.write_pcn_files(
            staging, built.lists, built.left, after_each_pcn=lambda pcn: release.checkpoint("writing")
        )
        rows[files.PYRAMID_FILE] = files.write_csv(pyramid.astype(str), staging / files.PYRAMID_FILE)
        built.lists.to_parquet(staging / files.LIST_PARQUET, index=False)
        built.left.to_parquet(staging / files.LEFT_PARQUET, index=False)
        rows[files.LIST_PARQUET], rows[files.LEFT_PARQUET] = len(built.lists), len(built.left)
        return rows

    return write


def release_auditor(
    con: duckdb.DuckDBPyConnection, built: ListBuild, capacity: int, segments: tuple[str, ...]
) -> Callable[[Path], release.AuditOutcome]:
    """The ``audit`` step: the GX suite over the staged files, with type 1 objections looked up in ``person``."""

    def type1_lookup(tokens: list[str]) -> set[str]:
        if not tokens:
            return set()
        found = con.execute(
            "SELECT person_key FROM person WHERE list_contains($tokens, person_key) AND "
            "coalesce(lower(CAST(type1_opt_out AS VARCHAR)) IN ('true', 't', 'y', 'yes', '1'), false)",
            {"tokens": tokens},
        ).fetchall()
        return {str(row[0]) for row in found}

    def audit(staging: Path) -> release.AuditOutcome:
        frames = validate.release_frames(
            staging, built.expected_rows, built.population, built.candidates, type1_lookup, built.expected_held
        )
        pcns = set(built.expected_rows) | set(built.left["pcn_code"].dropna().astype(str))
        parameters = validate.suite_parameters(built.expected_rows, capacity, segments, len(pcns))
        report = validate.run_suite(frames, parameters)
        return release.AuditOutcome(report.success, report.failures, report.detail)

    return audit


def release_manifest(
    settings: Settings,
    as_of: date,
    model: tuple[str, str],
    rules_version: str,
    built: ListBuild,
    previous: release.Release | None,
) -> dict[str, object]:
    """What the manifest records besides its files: model, rules, cut-offs, capacity and row accounting."""
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of": as_of.isoformat(),
        "model_name": model[0],
        "model_version": model[1],
        "segment_rules_version": rules_version,
        "row_rules_version": load_row_rules(settings.lists.row_rules).version,
        "tier_cutoffs": list(settings.lists.tier_cutoffs),
        "capacity_per_pcn": settings.lists.capacity_per_pcn,
        "previous_release_id": previous.release_id if previous else None,
        "csv": {"encoding": "UTF-8 with BOM", "line_end": "CRLF", "tie_break": "risk descending, then person token"},
        "counts": {
            "pcns": len(built.expected_rows),
            "listed": len(built.lists),
            "left": len(built.left),
            "listed_per_pcn": built.expected_rows,
            "in_hospital_held_per_pcn": built.expected_held,
            "scored": built.population.scored,
            "eligible": built.population.eligible,
            "excluded": built.population.excluded,
        },
    }


def summary(
    published: release.Release,
    model: tuple[str, str],
    built: ListBuild,
    previous: release.Release | None,
    actions: pd.DataFrame,
    suitability_note: str,
    capacity: int,
    seconds: float,
) -> dict[str, object]:
    """The stage summary: what was listed, what changed, who left and how feedback and coverage were used."""
    lists, left = built.lists, built.left
    changes = lists["change"].value_counts().to_dict() if len(lists) else {}
    reasons = left["reason"].value_counts().to_dict() if len(left) else {}
    feedback_used = {
        "actions stored": len(actions),
        "listed with an action": int(lists["last_action"].notna().sum()) if len(lists) else 0,
        "already managed": int((lists["already_managed"] == "Y").sum()) if len(lists) else 0,
        "held from new": int(lists["held_from_new"].sum()) if len(lists) else 0,
    }
    return {
        "release": published.release_id,
        "model": f"{model[0]} {model[1]}",
        "pcns": len(built.expected_rows),
        "listed": len(lists),
        "in hospital now (held off the call list)": int((lists["in_hospital_now"] == "Y").sum()) if len(lists) else 0,
        "capacity per PCN": capacity,
        "scored": built.population.scored,
        "eligible": built.population.eligible,
        "excluded": {k: v for k, v in built.population.excluded.items() if v},
        "changes": {k: int(v) for k, v in changes.items()},
        "left the list": {k: int(v) for k, v in reasons.items()} or "none",
        "compared with": previous.release_id if previous else "nothing (first list or previous too old)",
        "feedback": feedback_used,
        "coverage flagged": int((lists["coverage_flag"].fillna("") != "").sum()) if len(lists) else 0,
        "who can be helped": suitability_note,
        "seconds": seconds,
    }
