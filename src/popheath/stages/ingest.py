"""The ingest stage: load raw deliveries into the staging tables, quarantine and load audit.

The machinery, and the measured design behind it, lives in :mod:`popheath.ingest`. Besides
:func:`run`, this door carries the calls Airflow and the CLI make: :func:`list_deliveries`,
:func:`ingest_partition` and :func:`merge_partitions` (one mapped task per delivery, then one
merge, with the same result as :func:`run`), :func:`partition_path` and :func:`show_quarantine`.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from pathlib import Path

from popheath.config import Settings
from popheath.ingest.console import show_quarantine
from popheath.ingest.deliveries import new_run_id, survey
from popheath.ingest.loading import load_deliveries, stage_result
from popheath.ingest.partitions import ingest_partition, list_deliveries, merge_partitions, partition_path
from popheath.results import StageResult

__all__ = ["ingest_partition", "list_deliveries", "merge_partitions", "partition_path", "run", "show_quarantine"]


def run(
    settings: Settings,
    as_of: date,
    *,
    sources: list[str] | None = None,
    paths: list[Path] | None = None,
    force: bool = False,
) -> StageResult:
    """Load deliveries (all under ``paths.raw``, or ``paths``) into the staging tables; see :mod:`popheath.ingest`.

    Unchanged deliveries (same fingerprint as their last load) are skipped unless ``force``. What the
    raw folder holds besides data (other files, misspelt or empty source folders) is a warning; a
    run that finds no data file at all fails, naming the folder and what was expected.
    """
    started = time.perf_counter()
    run_id = new_run_id()
    found = survey(settings.paths.raw, sources, paths)
    outcome = load_deliveries(settings, found.deliveries, run_id, force)
    result = stage_result(
        settings, as_of, dataclasses.replace(outcome, warnings=found.warnings + outcome.warnings), started
    )
    nothing = found.nothing_to_load()
    if nothing is not None:
        raise nothing
    return result
