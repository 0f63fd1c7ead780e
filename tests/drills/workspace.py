"""One small synthetic ICS per test session, run stage by stage through the CLI, snapshotted after each stage.

The failure drills (``tests/drills``) and the security checks (``tests/security``) share it: the run
is built once per pytest process (module-level cache), every stage is a real ``python -m popheath.cli``
subprocess at DEBUG, its stdout and stderr are kept, and the warehouse, outputs and models are copied
after each stage so a drill can start a stage from exactly the state an uninterrupted run started from
and compare its result with what that run produced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

PEOPLE = 2_500
SEED = 11
# A hundred times the generator's default share of raw NHS numbers, so that some are surely injected.
RAW_NHS_NUMBER_RATE = 0.001
STATE = ("warehouse", "outputs", "models")


@dataclass(frozen=True)
class Step:
    """One CLI call of the full run: a name for its snapshot and the sub-command with its flags."""

    name: str
    argv: tuple[str, ...]
    as_of: str = "2025-04-01"

    @property
    def record(self) -> str:
        """File name of the stage's run record under ``outputs/runs/<as_of>/``."""
        label = self.argv[0].replace("-", "_")
        if label in ("features", "score", "segment"):
            label = f"{label}_at_{self.as_of}"
        elif "--year" in self.argv:
            label = f"{label}_at_{self.argv[self.argv.index('--year') + 1]}"
        return f"{label}.json"


STEPS: tuple[Step, ...] = (
    Step("ingest", ("ingest",)),
    Step("freshness", ("freshness",)),
    Step("link", ("link",)),
    Step("features@2023", ("features", "--as-of", "2023-04-01"), "2023-04-01"),
    Step("features@2024", ("features", "--as-of", "2024-04-01"), "2024-04-01"),
    Step("train", ("train",)),
    Step("promote", ("promote",)),
    Step("features", ("features",)),
    Step("score", ("score",)),
    Step("segment", ("segment",)),
    Step("publish", ("publish",)),
    Step("data-docs", ("data-docs",)),
    Step("report", ("report",)),
    Step("score@2024", ("score", "--as-of", "2024-04-01"), "2024-04-01"),
    Step("segment@2024", ("segment", "--as-of", "2024-04-01"), "2024-04-01"),
    Step("cost@2023", ("cost", "--year", "2023")),
    Step("cost@2024", ("cost", "--year", "2024")),
    Step("capitation@2024", ("capitation", "--year", "2024")),
)
# Snapshots are kept up to the last step any drill starts from or compares with.
SNAPSHOT_UNTIL = "publish"


@dataclass
class Run:
    """The full run: shared raw extracts, its workspace, per-step snapshots, logs and stage times."""

    base: Path
    workspace: Path
    snapshots: dict[str, Path] = field(default_factory=dict)
    logs: dict[str, tuple[str, str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        """Settings file of the full run."""
        return self.workspace / "popheath.toml"

    def step(self, name: str) -> Step:
        """The step of that name."""
        return next(step for step in STEPS if step.name == name)

    def before(self, name: str) -> str:
        """The snapshot a stage starts from (``start`` before the first stage)."""
        index = [step.name for step in STEPS].index(name)
        return STEPS[index - 1].name if index else "start"

    def clone(self, snapshot: str, target: Path) -> Path:
        """A private workspace holding the state after ``snapshot``; returns its settings file."""
        target.mkdir(parents=True, exist_ok=True)
        for part in STATE:
            source = self.snapshots[snapshot] / part
            if source.exists():
                shutil.copytree(source, target / part, symlinks=True)
        return write_config(target, self.base)


def write_config(workspace: Path, base: Path) -> Path:
    """The settings file of a workspace: extracts from the shared base, everything else inside it."""
    path = workspace / "popheath.toml"
    path.write_text(
        "[paths]\n"
        f'raw = "{base / "raw"}"\n'
        f'truth = "{base / "truth"}"\n'
        f'reference = "{base / "reference"}"\n'
        'warehouse = "warehouse/popheath.duckdb"\n'
        'partitions = "partitions"\n'
        'outputs = "outputs"\n'
        'models = "models"\n'
        "[link]\n"
        'ics_provider_prefixes = ["RA", "RC"]\n'
        "[serve]\n"
        # Absolute: unlike [paths], this setting is not resolved against the settings file's folder.
        f'tokens_file = "{workspace / "tokens.toml"}"\n',
        encoding="utf-8",
    )
    return path


def cli_command(config: Path, argv: Sequence[str], log_level: str = "DEBUG") -> list[str]:
    """The argument vector of one CLI call."""
    return [sys.executable, "-m", "popheath.cli", "--config", str(config), "--log-level", log_level, *argv]


def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: wide lines, so rich never wraps a value across two lines."""
    return os.environ | {"COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb"}


def run_cli(config: Path, argv: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run one CLI call to the end, in the workspace folder."""
    return subprocess.run(
        cli_command(config, argv),
        cwd=config.parent,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def error_lines(completed: subprocess.CompletedProcess[str]) -> list[str]:
    """Non-empty lines the CLI printed on stdout (where it reports errors)."""
    return [line for line in completed.stdout.splitlines() if line.strip()]


def lock_file(workspace: Path) -> Path:
    """The warehouse lock file of a workspace."""
    return workspace / "warehouse" / "popheath.duckdb.lock"


def wait_for_lock(process: subprocess.Popen[str], workspace: Path, timeout: float = 120) -> bool:
    """Wait until ``process`` holds the warehouse lock (its pid is written in the lock file).

    Returns False if the process ended first.
    """
    path = lock_file(workspace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if f"pid {process.pid} " in path.read_text(encoding="utf-8"):
                return True
        except OSError:
            pass
        time.sleep(0.005)
    raise TimeoutError(f"{process.args}: never took the warehouse lock")


def start_cli(config: Path, argv: Sequence[str]) -> subprocess.Popen[str]:
    """Start one CLI call without waiting for it."""
    return subprocess.Popen(
        cli_command(config, argv),
        cwd=config.parent,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_midway(config: Path, argv: Sequence[str], delay: float) -> int:
    """Start a stage, SIGKILL it ``delay`` seconds after it took the warehouse lock; returns its exit code."""
    process = start_cli(config, argv)
    try:
        if wait_for_lock(process, config.parent):
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode


def stage_seconds(workspace: Path, step: Step) -> float:
    """Seconds the stage spent under the lock, from its run record."""
    record = json.loads((workspace / "outputs" / "runs" / step.as_of / step.record).read_text(encoding="utf-8"))
    assert record["status"] == "success", record
    return float(record["seconds"])


def build(base: Path) -> Run:
    """Generate the ICS and run every step through the CLI, snapshotting after each step."""
    from popheath.synth.generate import write
    from popheath.synth.params import DirtRates

    write(
        people=PEOPLE,
        seed=SEED,
        out=base,
        dirt=dataclasses.replace(DirtRates(), raw_nhs_number=RAW_NHS_NUMBER_RATE),
    )
    run = Run(base=base, workspace=base / "full")
    run.workspace.mkdir()
    write_config(run.workspace, base)
    run.snapshots["start"] = base / "snapshots" / "start"
    run.snapshots["start"].mkdir(parents=True)
    snapshotting = True
    for step in STEPS:
        completed = run_cli(run.config, step.argv)
        run.logs[step.name] = (completed.stdout, completed.stderr)
        if completed.returncode != 0:
            raise AssertionError(f"{step.name} failed:\n{completed.stdout}\n{completed.stderr[-3000:]}")
        run.seconds[step.name] = stage_seconds(run.workspace, step)
        if snapshotting:
            folder = base / "snapshots" / step.name
            folder.mkdir(parents=True)
            for part in STATE:
                if (run.workspace / part).exists():
                    shutil.copytree(run.workspace / part, folder / part, symlinks=True)
            run.snapshots[step.name] = folder
            snapshotting = step.name != SNAPSHOT_UNTIL
    return run


_CACHE: dict[str, Run] = {}


def full_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The session's full run, built on first use."""
    if "run" not in _CACHE:
        _CACHE["run"] = build(tmp_path_factory.mktemp("ics"))
    return _CACHE["run"]


# --- comparing warehouses -------------------------------------------------------------------------


# Run ids and timestamps, which differ between two otherwise identical runs (table_digests skip_columns).
VOLATILE = {"*": {"_load_id", "load_id", "run_id", "started_at", "finished_at", "quarantined_at"}}


def table_digests(database: Path, skip_columns: dict[str, set[str]] | None = None) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent content hash of every table in the main schema.

    ``skip_columns`` names, per table (``*`` for all), columns left out of the hash: run ids and
    timestamps that differ between two otherwise identical runs.
    """
    skip = skip_columns or {}
    con = duckdb.connect(str(database), read_only=True)
    try:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary ORDER BY 1"
            ).fetchall()
        ]
        digests = {}
        for table in tables:
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = $t "
                "ORDER BY column_index",
                {"t": table},
            ).fetchall()
            left_out = skip.get(table, set()) | skip.get("*", set())
            # Floating-point values to 9 decimals: parallel sums (Splink's EM under a busy machine)
            # differ in the last bits between otherwise identical runs.
            kept = [
                f'round("{name}", 9) AS "{name}"' if kind in ("DOUBLE", "FLOAT") else f'"{name}"'
                for name, kind in columns
                if name not in left_out
            ]
            selected = ", ".join(kept) if kept else "1 AS none"
            count, digest = con.execute(
                "SELECT count(*), coalesce(sum(hash(r)::HUGEINT), 0)::VARCHAR "
                f'FROM (SELECT {selected} FROM "{table}") r'
            ).fetchone() or (0, "0")
            digests[table] = (int(count), str(digest))
        return digests
    finally:
        con.close()


def differences(got: dict[str, tuple[int, str]], want: dict[str, tuple[int, str]]) -> list[str]:
    """Tables whose row count or content differs, or that only one side has."""
    problems = []
    for table in sorted(set(got) | set(want)):
        if table not in got:
            problems.append(f"{table}: missing after the rerun")
        elif table not in want:
            problems.append(f"{table}: not in the uninterrupted run")
        elif got[table][0] != want[table][0]:
            problems.append(f"{table}: {got[table][0]} rows, uninterrupted run {want[table][0]}")
        elif got[table][1] != want[table][1]:
            problems.append(f"{table}: same {got[table][0]} rows, different content")
    return problems
