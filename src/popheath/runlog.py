"""Run records and the warehouse lock.

Every stage call, from the CLI, the demo or an Airflow task, goes through :func:`record`,
which holds an exclusive lock on the target DuckDB file (so a second run refuses instead of
corrupting anything) and writes one JSON record per stage and as-of date under
``<outputs>/runs/<as_of>/``: status, timings, counts and the error line if it failed. The
nightly run report and the data team's run-status file are built from these records.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from popheath.config import Settings
from popheath.errors import RunLockedError
from popheath.results import StageResult


@contextmanager
def warehouse_lock(database: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock beside ``database`` for the duration of the block."""
    database.parent.mkdir(parents=True, exist_ok=True)
    path = database.with_name(database.name + ".lock")
    handle: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - closed in finally
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunLockedError(
                f"{database}: another popheath run holds the lock ({holder}); try again when it ends"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        yield
    finally:
        handle.close()


def runs_dir(settings: Settings, as_of: date | None) -> Path:
    """Folder of the stage records for one as-of date."""
    return settings.paths.outputs / "runs" / (as_of.isoformat() if as_of else "undated")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path | date):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return value


def write_record(settings: Settings, label: str, as_of: date | None, record: dict[str, Any]) -> Path:
    """Write one stage record atomically (temp file and rename)."""
    folder = runs_dir(settings, as_of)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{label.replace('@', '_at_')}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(_jsonable(record), indent=1), encoding="utf-8")
    os.replace(temporary, path)
    return path


def record(
    settings: Settings, label: str, as_of: date | None, call: Callable[[], StageResult], lock: Path | None = None
) -> StageResult:
    """Run ``call`` under the warehouse lock and record its outcome, success or failure."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    base = {"stage": label, "as_of": as_of, "started": started.isoformat(), "pid": os.getpid()}
    try:
        with warehouse_lock(lock or settings.paths.warehouse):
            result = call()
    except RunLockedError:
        raise
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        write_record(
            settings,
            label,
            as_of,
            base | {"status": "failed", "error": message, "seconds": time.perf_counter() - clock},
        )
        raise
    write_record(
        settings,
        label,
        as_of,
        base
        | {"status": "success", "seconds": time.perf_counter() - clock}
        | {k: v for k, v in asdict(result).items() if k in ("summary", "outputs", "warnings")},
    )
    return result


def read_records(settings: Settings, as_of: date | None) -> list[dict[str, Any]]:
    """All stage records for an as-of date, oldest first."""
    folder = runs_dir(settings, as_of)
    records = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")] if folder.exists() else []
    return sorted(records, key=lambda r: r.get("started", ""))
