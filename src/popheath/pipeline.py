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
from popheath.results import StageResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One stage call: module name under popheath.stages, the as-of date and extra keyword arguments.

    ``task`` names the step as a DAG task where one stage runs more than once in a run
    (``features_train``, ``cost_previous_year``); it defaults to the stage name.
    """

    stage: str
    as_of: date
    kwargs: dict[str, Any] = field(default_factory=dict)
    task: str = ""

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
    """Ingest -> link -> features -> score -> segment -> publish -> report for one as-of date."""
    return [Step(name, as_of) for name in ("ingest", "link", "features", "score", "segment", "publish", "report")]


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


def step_for_task(settings: Settings, run: str, task_id: str, as_of: date) -> Step:
    """The step a DAG task runs, found by its task id (never by position)."""
    for step in RUNS[run](settings, as_of):
        if step.task_id == task_id:
            return step
    raise KeyError(f"{run} has no step with task id {task_id!r}")


def run_step(settings: Settings, step: Step) -> StageResult:
    """Import the stage module and call its ``run`` under the warehouse lock, recording the outcome."""
    module = importlib.import_module(f"popheath.stages.{step.stage}")
    return runlog.record(settings, step.label, step.as_of, lambda: module.run(settings, step.as_of, **step.kwargs))


def run_steps(
    settings: Settings,
    steps: Iterable[Step],
    on_done: Callable[[Step, StageResult, float], None] | None = None,
) -> list[tuple[Step, StageResult, float]]:
    """Run steps in order; returns each result with its wall time in seconds."""
    done = []
    for step in steps:
        started = time.perf_counter()
        log.info("running %s (as of %s)", step.label, step.as_of)
        result = run_step(settings, step)
        seconds = time.perf_counter() - started
        done.append((step, result, seconds))
        if on_done is not None:
            on_done(step, result, seconds)
    return done
