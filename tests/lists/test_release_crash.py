"""Crash tests: a publish that fails or is killed at any step leaves the previous release current and intact."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from popheath import config
from popheath.errors import StageError
from popheath.lists import files, release
from popheath.stages import publish, segment

from .listworld import P, World, settings_for, tok

AS_OF = date(2025, 4, 1)
AS_OF_2 = AS_OF + timedelta(days=7)
STEPS_BEFORE_SWITCH = [
    "staging_created",
    "writing",
    "before_validation",
    "validated",
    "before_promote",
    "before_switch",
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with two as-of dates segmented and the first one published."""
    folder = tmp_path_factory.mktemp("base")
    settings = settings_for(folder, capacity_per_pcn=2)
    world = World(settings.paths.warehouse)
    world.add(AS_OF, [P(tok(n), pcn=f"PCN{n % 2}", risk=n / 10) for n in range(1, 7)])
    segment.run(settings, AS_OF)
    publish.run(settings, AS_OF)
    world.add(AS_OF_2, [P(tok(n), pcn=f"PCN{n % 2}", risk=1 - n / 10) for n in range(1, 8)])
    segment.run(settings, AS_OF_2)
    return folder


def _copy(base: Path, tmp_path: Path) -> tuple[config.Settings, Path, release.Release]:
    target = tmp_path / "copy"
    shutil.copytree(base, target, symlinks=True)
    settings = settings_for(target, capacity_per_pcn=2)
    root = release.lists_root(settings.paths.outputs)
    current = release.current_release(root)
    assert current is not None
    return settings, root, current


def _assert_previous_intact(root: Path, previous: release.Release) -> None:
    current = release.current_release(root)
    assert current is not None and current.release_id == previous.release_id
    assert release.verify_release(current) == []
    assert files.read_csv(current.path / "pcn/PCN1/list.csv")["rank"].tolist() == ["1", "2"]
    assert [r.release_id for r in release.releases(root)] == [previous.release_id]


class Crash(Exception):
    pass


@pytest.mark.parametrize("step", STEPS_BEFORE_SWITCH)
def test_failure_at_each_step_keeps_the_previous_release(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    settings, root, previous = _copy(base, tmp_path)

    def fail_at(name: str) -> None:
        if name == step:
            raise Crash(name)

    monkeypatch.setattr(release, "checkpoint", fail_at)
    with pytest.raises(Crash):
        publish.run(settings, AS_OF_2)
    _assert_previous_intact(root, previous)
    assert not any((root / "staging").iterdir())
    if step == "before_switch":
        # The next run, without the fault, publishes normally.
        monkeypatch.undo()
        publish.run(settings, AS_OF_2)
        current = release.current_release(root)
        assert current is not None and current.as_of == AS_OF_2 and release.verify_release(current) == []


def test_failure_after_the_switch_leaves_the_new_release_whole(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, root, previous = _copy(base, tmp_path)

    def fail_after_switch(name: str) -> None:
        if name == "switched":
            raise Crash(name)

    monkeypatch.setattr(release, "checkpoint", fail_after_switch)
    with pytest.raises(Crash):
        publish.run(settings, AS_OF_2)
    current = release.current_release(root)
    assert current is not None and current.as_of == AS_OF_2 and release.verify_release(current) == []
    assert release.verify_release(previous) == []


def test_a_second_publisher_is_refused(base: Path, tmp_path: Path) -> None:
    settings, root, previous = _copy(base, tmp_path)
    with release.publish_lock(root), pytest.raises(StageError, match="another publish is running"):
        publish.run(settings, AS_OF_2)
    _assert_previous_intact(root, previous)


KILL_SCRIPT = """
import os, sys
sys.path.insert(0, {tests!r})
from datetime import date
from pathlib import Path
from tests.lists.listworld import settings_for
from popheath.lists import release
from popheath.stages import publish

def die(name):
    if name == {step!r}:
        os._exit(137)  # like SIGKILL: no exception handlers, no cleanup

release.checkpoint = die
publish.run(settings_for(Path({folder!r}), capacity_per_pcn=2), date.fromisoformat({as_of!r}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("step", ["writing", "before_switch"])
def test_killed_process_leaves_the_previous_release_and_the_next_run_cleans_up(
    base: Path, tmp_path: Path, step: str
) -> None:
    settings, root, previous = _copy(base, tmp_path)
    script = KILL_SCRIPT.format(
        tests=str(Path(__file__).parents[2]), step=step, folder=str(tmp_path / "copy"), as_of=AS_OF_2.isoformat()
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    completed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300)
    assert completed.returncode == 137, completed.stderr.decode()[-2000:]
    debris = list((root / "staging").iterdir()) + [
        p for p in (root / "releases").iterdir() if p.name != previous.release_id
    ]
    assert debris, "the kill should have left a half-made release behind"
    current = release.current_release(root)
    assert current is not None and current.release_id == previous.release_id
    assert release.verify_release(current) == []
    publish.run(settings, AS_OF_2)
    assert not any((root / "staging").iterdir())
    ids = [r.release_id for r in release.releases(root)]
    assert len(ids) == 2 and ids[0] == previous.release_id
