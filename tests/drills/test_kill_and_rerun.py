"""SIGKILL each stage part-way, rerun it, and check the result equals the uninterrupted run's.

Each drill starts from a copy of the state the uninterrupted run started the stage from, kills the
stage's CLI process a while after it took the warehouse lock (so the kill lands inside the stage's
work, not in Python's start-up), reruns the stage to completion and compares every warehouse table
(row count and an order-independent content hash) with the uninterrupted run's.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from popheath.lists import release
from tests.drills.workspace import VOLATILE, Run, differences, kill_midway, run_cli, table_digests

pytestmark = pytest.mark.slow

# Columns that differ between two uninterrupted runs of the same stage from the same state: load and
# run ids and timestamps written by ingest. Everything else must match exactly.
# Fractions of the stage's own time (under the lock) after which the kill lands; the first that
# lands before the stage ends is used.
KILL_AT = (0.5, 0.25, 0.1, 0.02)


def _kill(config: Path, argv: tuple[str, ...], seconds: float) -> float:
    """Kill the stage part-way; returns the delay that landed (the drill is void if none did)."""
    for fraction in KILL_AT:
        delay = seconds * fraction
        code = kill_midway(config, argv, delay)
        if code == -9:
            return delay
        assert code == 0, f"{argv}: ended with exit code {code} before the kill"
    pytest.fail(f"{argv}: every attempt finished before the SIGKILL landed")


def _warehouse(folder: Path) -> Path:
    return folder / "warehouse" / "popheath.duckdb"


def _latest_loads(database: Path) -> list[tuple[object, ...]]:
    """Per loaded file, its latest real load (not an 'unchanged' skip): what the load audit must still show."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(
            "SELECT source, delivery, file, checksum, rows_read, rows_loaded, rows_quarantined, outcome "
            "FROM (SELECT *, row_number() OVER (PARTITION BY source, delivery, file ORDER BY finished_at DESC) AS n "
            "FROM load_audit WHERE outcome <> 'unchanged') WHERE n = 1 ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("stage", ["ingest", "link", "features", "score", "segment"])
def test_killed_stage_reruns_to_the_uninterrupted_result(ics: Run, tmp_path: Path, stage: str) -> None:
    step = ics.step(stage)
    config = ics.clone(ics.before(stage), tmp_path / "drill")
    _kill(config, step.argv, ics.seconds[stage])

    rerun = run_cli(config, step.argv)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-3000:]

    got = _warehouse(config.parent)
    want = _warehouse(ics.snapshots[stage])
    skip = VOLATILE | ({"load_audit": {"*"}} if stage == "ingest" else {})
    got_digests, want_digests = table_digests(got, skip), table_digests(want, skip)
    if stage == "ingest":
        # The killed run may have committed some sources; the rerun then skips them as unchanged,
        # adding audit rows. What each file's real load recorded must equal the uninterrupted run.
        got_digests.pop("load_audit"), want_digests.pop("load_audit")
        assert _latest_loads(got) == _latest_loads(want)
    assert differences(got_digests, want_digests) == []


def test_killed_training_reruns_to_the_same_models(ics: Run, tmp_path: Path) -> None:
    config = ics.clone(ics.before("train"), tmp_path / "drill")
    models = config.parent / "models"
    _kill(config, ("train",), ics.seconds["train"])
    # A version folder is written under a hidden name and renamed into place: whatever the kill left
    # is either complete or hidden.
    for folder in models.glob("*/*"):
        if folder.is_dir() and not folder.name.startswith("."):
            assert (folder / "model.txt").is_file() and (folder / "metrics.json").is_file(), folder

    rerun = run_cli(config, ("train",))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-3000:]

    reference = ics.snapshots["train"] / "models"
    for model in sorted(p for p in reference.iterdir() if p.is_dir()):
        (want,) = [p for p in model.iterdir() if p.is_dir() and not p.name.startswith(".")]
        newest = sorted(p for p in (models / model.name).iterdir() if p.is_dir() and not p.name.startswith("."))[-1]
        # The version label ends with a hash of the model text: equal text, equal suffix.
        assert newest.name.split("-")[-1] == want.name.split("-")[-1]
        assert (newest / "model.txt").read_bytes() == (want / "model.txt").read_bytes()
        assert (newest / "metrics.json").read_text() == (want / "metrics.json").read_text()
    assert (
        differences(table_digests(_warehouse(config.parent)), table_digests(_warehouse(ics.snapshots["train"]))) == []
    )


def _list_checksums(current: release.Release) -> dict[str, str]:
    return {
        entry["path"]: entry["sha256"]
        for entry in current.manifest["files"]
        if entry["path"].endswith((".csv", ".parquet"))
    }


def test_killed_publish_keeps_the_last_release_readable_and_reruns_to_the_same_lists(ics: Run, tmp_path: Path) -> None:
    # Start from the published state: the drill's publish replaces a live release.
    config = ics.clone("publish", tmp_path / "drill")
    root = release.lists_root(config.parent / "outputs")
    before = release.current_release(root)
    assert before is not None and release.verify_release(before) == []

    problems: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        # A coordinator reading ``current`` throughout must always find a complete, intact release.
        while not stop.is_set():
            try:
                current = release.current_release(root)
                assert current is not None
                seen.add(current.release_id)
                problems.extend(release.verify_release(current))
            except Exception as error:  # noqa: BLE001 - any failure to read is what the drill looks for
                problems.append(f"{type(error).__name__}: {error}")

    watcher = threading.Thread(target=reader, daemon=True)
    watcher.start()
    try:
        _kill(config, ("publish",), ics.seconds["publish"])
        after_kill = release.current_release(root)
        rerun = run_cli(config, ("publish",))
    finally:
        stop.set()
        watcher.join(10)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-3000:]
    assert problems == []
    assert after_kill is not None and release.verify_release(after_kill) == []

    current = release.current_release(root)
    assert current is not None and current.release_id != before.release_id
    assert release.verify_release(current) == []
    assert _list_checksums(current) == _list_checksums(before)
    # The rerun cleared what the killed run left: nothing staged, no release newer than current.
    assert not any((root / "staging").glob("*"))
    assert all(r.release_id <= current.release_id for r in release.releases(root))
