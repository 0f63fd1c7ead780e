"""``popheath demo``: a synthetic ICS through every stage on a local DuckDB file, no Airflow needed.

The order is what an ICS would have lived through: a list published a year ago (2024-04-01)
that coordinators acted on, then tonight's run (2025-04-01) with training if no champion model
exists yet, an evaluation of whether last year's list helped, and the capitation baselines.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta

import numpy as np
import polars as pl
from rich.console import Console

from popheath import pipeline
from popheath.config import Settings
from popheath.lists import feedback
from popheath.results import StageResult, print_result

log = logging.getLogger(__name__)
console = Console()

# Share of a past list the demo's coordinators act on, and what they record.
DEMO_ACTIONS = {"contacted": 0.25, "care_plan_in_place": 0.10, "declined": 0.05, "already_on_caseload": 0.05}


def _print(step: pipeline.Step, result: StageResult, seconds: float) -> None:

    console.rule(f"{step.label} ({seconds:.1f}s)")
    print_result(result)


def record_demo_feedback(settings: Settings, list_as_of: date, seed: int) -> int:
    """Record coordinators' actions on part of the list published at ``list_as_of`` (once)."""
    store = feedback.FeedbackStore(feedback.feedback_path(settings.paths.outputs))
    if not store.actions().empty:
        return 0
    listed = pl.read_parquet(settings.paths.outputs / "lists" / "current" / "list.parquet")
    rng = np.random.default_rng(seed)
    draws = rng.random(listed.height)
    bounds = np.cumsum(list(DEMO_ACTIONS.values()))
    recorded = 0
    for row, draw in zip(listed.iter_rows(named=True), draws, strict=True):
        chosen = int(np.searchsorted(bounds, draw, side="right"))
        if chosen == len(DEMO_ACTIONS):
            continue
        action = feedback.Action(
            user=f"coordinator.{row['pcn_code'].lower()}",
            pcn_code=row["pcn_code"],
            person_token=row["person_token"],
            action=list(DEMO_ACTIONS)[chosen],
            action_date=list_as_of + timedelta(days=int(rng.integers(3, 28))),
            list_as_of=list_as_of,
        )
        store.record(action, settings.lists.feedback_note_max_chars)
        recorded += 1
    return recorded


def run(settings: Settings, people: int, seed: int, regenerate: bool = False, retrain: bool = False) -> None:
    """Generate (once) a synthetic ICS of ``people`` and run every stage in order.

    APC and OP are generated in the layout the settings read them with: HES files when the apc
    connector is ``hes``, SUS+ in NCDR otherwise; ECDS as EC_Core.
    """
    from popheath.quality.mapping import connector_for
    from popheath.synth import generate

    started = time.perf_counter()
    if regenerate or not settings.paths.raw.exists():
        console.rule(f"synthetic ICS: {people:,} people, seed {seed}")
        apc = connector_for(settings.ingest, "apc", settings.paths.mappings)
        layout = "hes" if apc.name == "hes" else "ncdr"
        print_result(
            generate.write(
                people=people, seed=seed, out=settings.paths.raw.parent, file_format="parquet", acute_layout=layout
            )
        )
    as_of = settings.as_of
    past = settings.capitation.year_start  # last year's list, acted on since
    nightly = pipeline.nightly_steps(settings, as_of)
    training = pipeline.training_steps(settings, as_of) if retrain or not _has_champion(settings) else []
    done: set[tuple[str, date]] = set()

    def run_once(steps: list[pipeline.Step]) -> None:
        fresh = [step for step in steps if (step.label, step.as_of) not in done]
        pipeline.run_steps(settings, fresh, on_done=_print)
        done.update((step.label, step.as_of) for step in fresh)

    loaded = [step for step in nightly if step.stage in ("ingest", "freshness", "link")]
    run_once(loaded + training)
    run_once([pipeline.Step(stage, past) for stage in ("freshness", "features", "score", "segment", "publish")])
    console.rule(f"coordinators act on the list of {past}")
    console.print(f"recorded {record_demo_feedback(settings, past, seed)} actions in the feedback store")
    tonight = [step for step in nightly if step not in loaded]
    run_once(tonight + [pipeline.Step("evaluate_lists", as_of)] + pipeline.capitation_steps(settings, as_of))

    outputs = settings.paths.outputs
    console.rule(f"demo finished in {time.perf_counter() - started:.0f}s")
    for name, path in (
        ("warehouse", settings.paths.warehouse),
        ("lists (current release)", outputs / "lists" / "current"),
        ("nightly run report", outputs / "reports" / "nightly" / "latest.html"),
        ("data quality (GX Data Docs)", outputs / "data_docs" / "index.html"),
        ("link quality", outputs / "link" / as_of.isoformat() / "link_quality.md"),
        ("did the lists help", outputs / "evaluation" / "latest" / "report.html"),
        ("capitation report", outputs / "capitation" / str(past.year) / "report.html"),
        ("model cards", settings.paths.models),
    ):
        console.print(f"{name:<28} {path}")
    console.print("coordinator page: popheath serve --add-token alice --pcn <PCN>, then popheath serve")


def _has_champion(settings: Settings) -> bool:
    return any(settings.paths.models.glob("*/champion"))
