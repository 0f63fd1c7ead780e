"""What the DAG tasks call: settings, the as-of date from the run context, stage calls and run status.

No Airflow import here (``popheath`` never imports Airflow): the DAG files pass the task
context in as a plain mapping. The run-status file (``<outputs>/run_status.json``) is what a
data team watches: the state of the latest run of each DAG, and the error line of a failure.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from popheath import alerts, config, pipeline, runlog
from popheath.config import Settings
from popheath.results import StageResult

log = logging.getLogger(__name__)

CONFIG_VARIABLE = "popheath_config"

# The assets that connect the DAGs, as Airflow Asset arguments (each DAG file builds its Asset from
# these, so every asset is defined once and popheath itself never imports Airflow).
CHAMPION_ASSET = {"name": "popheath-champion-model", "uri": "file:///popheath/models/champion"}
LISTS_ASSET = {"name": "popheath-lists", "uri": "file:///popheath/outputs/lists/current"}
BASELINES_ASSET = {"name": "popheath-capitation-baselines", "uri": "file:///popheath/outputs/capitation"}


def settings(path: str | None = None) -> Settings:
    """Settings from the path given (an Airflow Variable), else ``$POPHEATH_CONFIG``, else ./popheath.toml."""
    return config.load(Path(path) if path else None)


def run_settings(context: Mapping[str, Any]) -> Settings:
    """The settings a task runs with: the settings file, and the run's ``allow_stale`` and ``full`` params if set."""
    params = context.get("params") or {}
    allow = bool(params.get("allow_stale")) or None
    full = bool(params.get("full")) or None
    return config.with_overrides(
        settings(config_path(context)), **{"freshness.allow_stale": allow, "rebuild.full": full}
    )


def task_defaults(owner: str, retries: int) -> dict[str, Any]:
    """Default task arguments shared by the DAGs: owner, retries with exponential back-off, failure callback."""
    return {
        "owner": owner,
        "retries": retries,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": on_failure,
    }


def _for_xcom(label: str, result: StageResult) -> dict[str, Any]:
    """A stage's summary as plain JSON values, small enough for XCom."""
    return {"stage": label, "summary": json.loads(json.dumps(result.summary, default=str))}


def config_path(context: Mapping[str, Any]) -> str | None:
    """The settings file named by the Airflow Variable ``popheath_config``, if set (else $POPHEATH_CONFIG)."""
    variables = context.get("var") or {}
    accessor = variables.get("value") if isinstance(variables, Mapping) else None
    return (accessor.get(CONFIG_VARIABLE, None) if accessor is not None else None) or None


def as_of(context: Mapping[str, Any]) -> date:
    """The run's as-of date: the ``as_of`` param if set, else the logical date, else when the run was due."""
    params = context.get("params") or {}
    if params.get("as_of"):
        return date.fromisoformat(str(params["as_of"]))
    moment = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    if moment is None:
        raise ValueError("the run has neither an as_of param nor a logical date")
    return moment.date() if isinstance(moment, datetime) else moment


def list_deliveries(context: Mapping[str, Any]) -> list[str]:
    """Every source delivery under the raw folder (``apc/2024-07`` ...), one mapped ingest task each."""
    from popheath.stages import ingest

    return ingest.list_deliveries(settings(config_path(context)))


def ingest_partition(delivery: str, context: Mapping[str, Any]) -> str:
    """Validate and load one delivery into its own DuckDB partition file; returns the file's path."""
    from popheath.stages import ingest

    return str(ingest.ingest_partition(settings(config_path(context)), delivery))


def merge_partitions(partitions: list[str], context: Mapping[str, Any]) -> dict[str, Any]:
    """Merge the partitions into the warehouse (one writer), recorded as the night's ingest stage."""
    from popheath.stages import ingest

    chosen, day = run_settings(context), as_of(context)
    result = runlog.record(
        chosen, "ingest", day, lambda: ingest.merge_partitions(chosen, [Path(p) for p in partitions], day)
    )
    return _for_xcom(result.stage, result)


def status_path(chosen: Settings) -> Path:
    """The fixed path of the run-status file."""
    return chosen.paths.outputs / "run_status.json"


def write_status(
    chosen: Settings, dag_id: str, run_id: str, state: str, task_id: str | None = None, message: str | None = None
) -> Path:
    """Record the latest state of a DAG's run in the run-status file (atomic replace).

    A failure stays: a run whose off-critical-path task failed (the Data Docs) is not marked
    successful when its main chain ends.
    """
    path = status_path(chosen)
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    earlier = current.get(dag_id) or {}
    if state == "success" and earlier.get("run_id") == run_id and earlier.get("state") == "failed":
        return path
    current[dag_id] = {
        "run_id": run_id,
        "state": state,
        "task_id": task_id,
        "message": message,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(current, indent=1), encoding="utf-8")
    os.replace(temporary, path)
    return path


def on_failure(context: Mapping[str, Any]) -> None:
    """Failure callback: one clear line in the log and the run-status file, and an alert to settings ``[alerts]``."""
    task_instance = context.get("task_instance") or context.get("ti")
    task_id = getattr(task_instance, "task_id", None)
    dag_id = str(getattr(context.get("dag"), "dag_id", None) or getattr(task_instance, "dag_id", "unknown"))
    run_id = str(context.get("run_id") or getattr(context.get("dag_run"), "run_id", ""))
    error = context.get("exception")
    message = f"{task_id} failed: {str(error).splitlines()[0] if error and str(error) else type(error).__name__}"
    log.error("%s (%s)", message, run_id)
    chosen = settings(config_path(context))
    write_status(chosen, dag_id, run_id, "failed", task_id, message)
    try:
        day: str | None = as_of(context).isoformat()
    except ValueError:
        day = None
    alerts.send(chosen.alerts, alerts.Alert(dag_id, run_id, task_id, day, message))


def worker_name() -> str:
    """Name a worker reports for the tasks it runs: ``$POPHEATH_WORKER_NAME``, else the host name."""
    return os.environ.get("POPHEATH_WORKER_NAME") or socket.getfqdn()


def run_pipeline_step(run: str, task_id: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Run the step of ``popheath.pipeline`` run ``run`` that the DAG task ``task_id`` stands for."""
    chosen = run_settings(context)
    step = pipeline.step_for_task(chosen, run, task_id, as_of(context))
    result: StageResult = pipeline.run_step(chosen, step)
    for warning in result.warnings:
        log.warning("%s: %s", step.label, warning)
    return _for_xcom(step.label, result)


def finish_run(dag_id: str, context: Mapping[str, Any]) -> Path:
    """Mark the DAG run successful in the run-status file."""
    run_id = str(context.get("run_id") or getattr(context.get("dag_run"), "run_id", ""))
    return write_status(settings(config_path(context)), dag_id, run_id, "success", message=f"as of {as_of(context)}")
