import json
import multiprocessing
from datetime import date
from pathlib import Path

import pytest

from popheath import config, runlog
from popheath.errors import RunLockedError, StageError
from popheath.results import StageResult


def _settings(tmp_path: Path) -> config.Settings:
    return config.with_overrides(
        config.Settings(), **{"paths.warehouse": tmp_path / "w.duckdb", "paths.outputs": tmp_path / "out"}
    )


def _hold_lock(
    database: Path, ready: "multiprocessing.synchronize.Event", release: "multiprocessing.synchronize.Event"
) -> None:
    with runlog.warehouse_lock(database):
        ready.set()
        release.wait(10)


def test_second_run_refuses_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(database, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(RunLockedError, match=r"another popheath run holds the lock \(pid \d+"):
            with runlog.warehouse_lock(database):
                pass
    finally:
        release.set()
        holder.join(10)
    with runlog.warehouse_lock(database):  # free again once the holder has gone
        pass


def test_record_writes_success_and_failure(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    as_of = date(2025, 4, 1)
    runlog.record(settings, "link", as_of, lambda: StageResult("link", as_of, {"linked": 3}))

    def failing() -> StageResult:
        raise StageError("missing table(s) stg_apc: run the upstream stage first")

    with pytest.raises(StageError):
        runlog.record(settings, "features@2025-04-01", as_of, failing)
    records = {r["stage"]: r for r in runlog.read_records(settings, as_of)}
    assert records["link"]["status"] == "success" and records["link"]["summary"] == {"linked": 3}
    assert records["features@2025-04-01"]["status"] == "failed"
    assert records["features@2025-04-01"]["error"].startswith("missing table(s) stg_apc")
    stored = json.loads((tmp_path / "out/runs/2025-04-01/features_at_2025-04-01.json").read_text())
    assert stored["stage"] == "features@2025-04-01"
