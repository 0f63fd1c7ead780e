"""The stage order of the nightly, training and capitation runs, shared by ``popheath demo`` and the benchmark.

The DAG files wire the same stages; this module is the plain-Python equivalent for one machine.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from popheath import runlog
from popheath.config import Settings
from popheath.errors import PopheathError
from popheath.results import StageResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One stage call: module name under popheath.stages, the as-of date and extra keyword arguments.

    ``task`` names the step as a DAG task where one stage runs more than once in a run
    (``features_train``, ``cost_previous_year``); it defaults to the stage name. ``after`` puts a
    step off the critical path: in the DAG it follows that task beside the main chain, and its
    failure stops no other step. Such a step never opens the warehouse, so it holds its own lock
    (``<outputs>/locks/<stage>``), not the warehouse's.
    """

    stage: str
    as_of: date
    kwargs: dict[str, Any] = field(default_factory=dict)
    task: str = ""
    after: str = ""

    @property
    def task_id(self) -> str:
        """The Airflow task id of this step."""
        return self.task or self.stage

    @property
    def label(self) -> str:
        """Short name for tables and logs, e.g. ``features@2024-04-01``."""
        if self.stage in ("features", "score", "segment"):
            return f"{self.stage}@{self.as_of}"
        if "year" in self.kwargs:
            return f"{self.stage}@{self.kwargs['year']}"
        return self.stage


def nightly_steps(settings: Settings, as_of: date) -> list[Step]:
    """Ingest -> freshness gate -> link -> features -> score -> segment -> publish -> report for one as-of date.

    The Data Docs (GX) follow ingest off the critical path; run in order here, they come just before
    the report, so a plain run has published before GX starts and the report shows GX's outcome.
    """
    chain = ["ingest", "freshness", "link", "features", "score", "segment", "publish"]
    return [Step(name, as_of) for name in chain] + [Step("data_docs", as_of, after="ingest"), Step("report", as_of)]


def training_steps(settings: Settings, as_of: date) -> list[Step]:
    """Features at the training and test dates -> train -> promote."""
    train_as_of, test_as_of = settings.model.train_as_of, settings.model.test_as_of
    return [
        Step("features", train_as_of, task="features_train"),
        Step("features", test_as_of, task="features_test"),
        Step("train", as_of, {"train_as_of": train_as_of, "test_as_of": test_as_of}),
        Step("promote", as_of),
    ]


def capitation_steps(settings: Settings, as_of: date) -> list[Step]:
    """Features, scores and segments at the start of the costed year and the year before, then cost -> capitation.

    The prospective model learns this year's cost from last year's features; baselines by segment and
    tier need the segments and scores at 1 April of the costed year.
    """
    start = settings.capitation.year_start
    previous = start.replace(year=start.year - 1)
    return [
        Step("features", previous, task="features_previous_year"),
        Step("features", start, task="features_year_start"),
        Step("score", start, task="score_year_start"),
        Step("segment", start, task="segment_year_start"),
        Step("cost", as_of, {"year": previous.year}, task="cost_previous_year"),
        Step("cost", as_of, {"year": start.year}, task="cost_year"),
        Step("capitation", as_of, {"year": start.year}),
    ]


RUNS: dict[str, Callable[[Settings, date], list[Step]]] = {
    "nightly": nightly_steps,
    "training": training_steps,
    "capitation": capitation_steps,
}


def task_ids(run: str) -> list[str]:
    """The DAG task ids of a run's steps in order; they do not depend on settings or dates."""
    return [step.task_id for step in RUNS[run](Settings(), date(2000, 4, 1))]


def branches(run: str) -> dict[str, str]:
    """The off-critical-path task ids of a run and the task id each follows."""
    return {step.task_id: step.after for step in RUNS[run](Settings(), date(2000, 4, 1)) if step.after}


def step_for_task(settings: Settings, run: str, task_id: str, as_of: date) -> Step:
    """The step a DAG task runs, found by its task id (never by position)."""
    for step in RUNS[run](settings, as_of):
        if step.task_id == task_id:
            return step
    raise KeyError(f"{run} has no step with task id {task_id!r}")


def run_step(settings: Settings, step: Step) -> StageResult:
    """Import the stage module and call its ``run`` under the warehouse lock, recording the outcome."""
    module = importlib.import_module(f"popheath.stages.{step.stage}")
    lock = settings.paths.outputs / "locks" / step.stage if step.after else None
    return runlog.record(
        settings, step.label, step.as_of, lambda: module.run(settings, step.as_of, **step.kwargs), lock=lock
    )


def run_steps(
    settings: Settings,
    steps: Iterable[Step],
    on_done: Callable[[Step, StageResult, float], None] | None = None,
) -> list[tuple[Step, StageResult, float]]:
    """Run steps in order; returns each result with its wall time in seconds.

    A failed off-critical-path step (``after``) is logged and the run goes on; its error is raised
    once every other step has run (so the report records it), as in the DAG.
    """
    done = []
    deferred: PopheathError | None = None
    for step in steps:
        started = time.perf_counter()
        log.info("running %s (as of %s)", step.label, step.as_of)
        try:
            result = run_step(settings, step)
        except PopheathError as error:
            if not step.after:
                raise
            log.error("%s failed (the run goes on): %s", step.label, error)
            deferred = deferred or error
            continue
        seconds = time.perf_counter() - started
        done.append((step, result, seconds))
        if on_done is not None:
            on_done(step, result, seconds)
    if deferred is not None:
        raise deferred
    return done
