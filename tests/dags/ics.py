"""A tiny synthetic ICS with trained champion models, shared by the Airflow tests (built once per session)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import duckdb

from popheath import config, pipeline
from popheath.synth import generate

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2025-04-01"
SETTINGS = """as_of = "2025-04-01"
[paths]
raw = "raw"
truth = "truth"
warehouse = "warehouse/popheath.duckdb"
partitions = "partitions"
outputs = "outputs"
models = "models"
reference = "reference"
[link]
ics_provider_prefixes = ["RA", "RC"]
[lists]
capacity_per_pcn = 25
"""


def yearly_deliveries(raw: Path) -> None:
    """Regroup monthly activity files into one delivery per source and calendar year (``apc/2024``).

    Deliveries may hold several files; fewer deliveries keep the Airflow runs (one mapped task each) short.
    """
    for monthly in sorted(raw.glob("*/*-*")):
        if monthly.parent.name == "population":
            continue
        yearly = monthly.parent / monthly.name[:4]
        yearly.mkdir(exist_ok=True)
        for file in monthly.iterdir():
            file.rename(yearly / file.name)
        monthly.rmdir()


def deliveries(raw: Path) -> list[str]:
    """The delivery folders under ``raw`` (``apc/2024`` ...)."""
    return sorted(f"{p.parent.name}/{p.name}" for p in raw.glob("*/*") if p.is_dir())


def build(root: Path, people: int = 1500, seed: int = 5) -> Path:
    """Generate the ICS, ingest, link and train champions, so the nightly DAG can run on it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "popheath.toml").write_text(SETTINGS, encoding="utf-8")
    generate.write(people=people, seed=seed, out=root, file_format="parquet")
    yearly_deliveries(root / "raw")
    settings = config.load(root / "popheath.toml")
    steps = [pipeline.Step("ingest", settings.as_of), pipeline.Step("link", settings.as_of)]
    pipeline.run_steps(settings, steps + pipeline.training_steps(settings, settings.as_of))
    return root


def copy(source: Path, target: Path) -> Path:
    """An independent copy of a built ICS (warehouse, models, outputs and settings)."""
    shutil.copytree(source, target)
    return target


def airflow_env(home: Path, settings_file: Path, **extra: str) -> dict[str, str]:
    """Environment for Airflow commands on a private AIRFLOW_HOME with popheath's DAGs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        POPHEATH_CONFIG=str(settings_file),
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        **extra,
    )
    return env


def airflow(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the ``airflow`` command of this environment."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def accounting(root: Path) -> tuple[int, int, int]:
    """Rows read, loaded and quarantined over every file load in the warehouse."""
    with duckdb.connect(str(root / "warehouse/popheath.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT sum(rows_read), sum(rows_loaded), sum(rows_quarantined) FROM load_audit WHERE outcome = 'loaded'"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
