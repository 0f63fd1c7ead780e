"""``popheath demo``: a synthetic ICS through every stage on a local DuckDB file, no Airflow needed."""

from __future__ import annotations

import logging
import time

from rich.console import Console

from popheath import pipeline
from popheath.config import Settings
from popheath.stages import StageResult

log = logging.getLogger(__name__)
console = Console()


def _print(step: pipeline.Step, result: StageResult, seconds: float) -> None:
    from popheath.cli import print_result

    console.rule(f"{step.label} ({seconds:.1f}s)")
    print_result(result)


def run(settings: Settings, people: int, seed: int, regenerate: bool = False, retrain: bool = False) -> None:
    """Generate (once) a synthetic ICS of ``people`` and run training, nightly and capitation stages."""
    from popheath.synth import generate

    started = time.perf_counter()
    data_root = settings.paths.raw.parent
    if regenerate or not settings.paths.raw.exists():
        console.rule(f"synthetic ICS: {people:,} people, seed {seed}")
        from popheath.cli import print_result

        print_result(generate.write(people=people, seed=seed, out=data_root, file_format="parquet"))
    as_of = settings.as_of
    steps = pipeline.nightly_steps(settings, as_of)
    # Models are trained before scoring: features at the training and test dates, train, promote.
    train = pipeline.training_steps(settings, as_of) if retrain or not _has_champion(settings) else []
    ordered = steps[:3] + train + steps[3:] + pipeline.capitation_steps(settings, as_of)
    pipeline.run_steps(settings, ordered, on_done=_print)
    console.rule(f"demo finished in {time.perf_counter() - started:.0f}s")
    console.print(f"warehouse: {settings.paths.warehouse}")
    console.print(f"outputs:   {settings.paths.outputs}")
    console.print(f"models:    {settings.paths.models}")


def _has_champion(settings: Settings) -> bool:
    return any(settings.paths.models.glob("*/champion"))
