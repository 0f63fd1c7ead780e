"""Two runs at once, a full or refused output folder, and a damaged warehouse file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

from popheath import cli
from popheath.lists import files, release
from tests.drills.workspace import (
    VOLATILE,
    Run,
    differences,
    error_lines,
    run_cli,
    start_cli,
    table_digests,
    wait_for_lock,
)

pytestmark = pytest.mark.slow


def _warehouse(folder: Path) -> Path:
    return folder / "warehouse" / "popheath.duckdb"


def test_second_run_refuses_with_one_line_and_the_first_completes(ics: Run, tmp_path: Path) -> None:
    config = ics.clone(ics.before("link"), tmp_path / "drill")
    first = start_cli(config, ("link",))
    try:
        assert wait_for_lock(first, config.parent)
        second = run_cli(config, ("link",))
        assert first.poll() is None, "the first run ended before the second started: the drill is void"
    finally:
        out, err = first.communicate(timeout=300)
    assert second.returncode == 2
    (line,) = error_lines(second)
    assert line.startswith("error: ") and "another popheath run holds the lock" in line
    assert f"pid {first.pid}" in line and str(_warehouse(config.parent)) in line
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, out + err[-3000:]
    # Same tables as an uninterrupted link, but for when the run happened (link_runs.finished_at).
    got, want = (
        table_digests(_warehouse(config.parent), VOLATILE),
        table_digests(_warehouse(ics.snapshots["link"]), VOLATILE),
    )
    assert differences(got, want) == []


def _published(ics: Run, tmp_path: Path) -> tuple[Path, Path, release.Release]:
    config = ics.clone("publish", tmp_path / "drill")
    root = release.lists_root(config.parent / "outputs")
    current = release.current_release(root)
    assert current is not None
    return config, root, current


def _still_current(root: Path, before: release.Release) -> None:
    current = release.current_release(root)
    assert current is not None and current.release_id == before.release_id
    assert release.verify_release(current) == []
    assert [r.release_id for r in release.releases(root)] == [before.release_id]


def test_disk_full_while_writing_lists_fails_with_one_line_and_keeps_the_release(
    ics: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, root, before = _published(ics, tmp_path)
    written: list[Path] = []
    real_write_csv = files.write_csv

    def filling(frame: pd.DataFrame, path: Path) -> int:
        # The third file gets half written, then the disk is full.
        if len(written) == 2:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xef\xbb\xbfperson_token,")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        written.append(path)
        return real_write_csv(frame, path)

    monkeypatch.setattr(files, "write_csv", filling)
    code = cli.main(["--config", str(config), "--log-level", "WARNING", "publish"])
    out = capsys.readouterr().out
    assert code == 2
    (line,) = [text for text in out.splitlines() if text.strip()]
    assert line.startswith("error: ") and "No space left on device" in line
    assert str(root / "staging") in line
    _still_current(root, before)
    assert not any((root / "staging").glob("*"))


def test_file_where_the_staging_folder_should_be_fails_with_one_line_and_keeps_the_release(
    ics: Run, tmp_path: Path
) -> None:
    # Run as root, chmod cannot refuse a write; a file where a folder is expected can.
    config, root, before = _published(ics, tmp_path)
    staging = root / "staging"
    if staging.exists():
        staging.rmdir()
    staging.write_text("not a folder")
    completed = run_cli(config, ("publish",))
    assert completed.returncode == 2, completed.stdout + completed.stderr[-3000:]
    (line,) = error_lines(completed)
    assert line.startswith("error: ") and str(staging) in line
    assert "Traceback" not in completed.stderr
    _still_current(root, before)


def test_outputs_path_that_is_a_file_fails_with_one_line(ics: Run, tmp_path: Path) -> None:
    config, root, before = _published(ics, tmp_path)
    (config.parent / "outputs").rename(config.parent / "outputs.kept")
    (config.parent / "outputs").write_text("not a folder")
    completed = run_cli(config, ("segment",))
    assert completed.returncode == 2, completed.stdout + completed.stderr[-3000:]
    (line,) = error_lines(completed)
    assert line.startswith("error: ") and str(config.parent / "outputs") in line
    assert "Traceback" not in completed.stderr


BLOCK = 256 * 1024
HEADERS = 3 * 4096


def _damage_middle(path: Path) -> None:
    # Overwrite the checksum and first bytes of every block after the first third of the file (the
    # tables the stage reads were written last), so that whichever of them it reads first is found
    # damaged; the headers and the first third stay intact, so the file still opens.
    blocks = (path.stat().st_size - HEADERS) // BLOCK
    with path.open("r+b") as handle:
        for block in range(blocks // 3, blocks):
            handle.seek(HEADERS + block * BLOCK)
            handle.write(os.urandom(512))


def _truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 3)


def _damage_header(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.write(os.urandom(4096))


@pytest.mark.parametrize(
    ("stage", "damage"),
    [
        ("features", _truncate),
        ("features", _damage_header),
        ("score", _truncate),
        ("score", _damage_header),
        # Damaged blocks are found when read (DuckDB checks each block's checksum); score reads the
        # features tables, written last, which lie in the damaged part of this file.
        ("score", _damage_middle),
    ],
    ids=["features-truncated", "features-header", "score-truncated", "score-header", "score-middle"],
)
def test_damaged_warehouse_fails_cleanly_naming_the_file(ics: Run, tmp_path: Path, damage: object, stage: str) -> None:
    config = ics.clone(ics.before(stage), tmp_path / "drill")
    database = _warehouse(config.parent)
    damage(database)  # type: ignore[operator]
    completed = run_cli(config, ics.step(stage).argv)
    assert completed.returncode == 2, completed.stdout + completed.stderr[-3000:]
    (line,) = error_lines(completed)
    assert line.startswith("error: ") and str(database) in line
    assert "Traceback" not in completed.stderr and "Traceback" not in completed.stdout
