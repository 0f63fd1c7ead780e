"""The production profile for real: PostgreSQL, Redis, scheduler, API server and two Celery workers.

Starts everything with ``deploy/start.sh`` on loopback in temporary folders, runs the nightly DAG
on a tiny synthetic ICS, kills one worker in the middle of the run, and checks the run still
completes on the other worker and publishes the same lists as an undisturbed run. Stops
everything it started, by process id (``deploy/stop.sh``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from popheath import config, pipeline
from tests.dags import ics
from tests.dags.rest import Airflow

pytestmark = pytest.mark.slow
DEPLOY = ics.REPO / "deploy"


def _ensure_services() -> None:
    """Install Debian's postgresql and redis-server when missing (CI starts from a bare machine)."""
    if shutil.which("redis-server") and list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return
    if os.geteuid() != 0:
        pytest.skip("postgresql and redis-server are not installed and this user cannot install them")
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "postgresql", "redis-server"],
        check=True,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _list_checksums(root: Path) -> dict[str, str]:
    manifest = json.loads((root / "outputs/lists/current/manifest.json").read_text())
    return {f["path"]: f["sha256"] for f in manifest["files"] if f["path"].startswith("pcn/")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_celery_workers_run_the_nightly_and_survive_losing_one(tmp_path: Path) -> None:
    _ensure_services()
    built = ics.build(tmp_path / "built")
    reference = ics.copy(built, tmp_path / "reference")
    settings = config.load(reference / "popheath.toml")
    pipeline.run_steps(settings, pipeline.nightly_steps(settings, settings.as_of))
    shared = ics.copy(built, tmp_path / "shared")

    home = tmp_path / "deploy"
    port = ics.free_port()
    # The postgres user cannot reach pytest's private tmp folders: its data lives in a shared-/tmp folder.
    postgres_root = Path(tempfile.mkdtemp(prefix="popheath-pg-"))
    postgres_root.chmod(0o755)
    env = ics.airflow_env(
        home / "airflow",
        shared / "popheath.toml",
        POPHEATH_DEPLOY_HOME=str(home),
        POPHEATH_SHARED=str(shared),
        POPHEATH_WORKERS="2",
        POPHEATH_API_PORT=str(port),
        POPHEATH_PG_PORT=str(ics.free_port()),
        POPHEATH_PG_ROOT=str(postgres_root),
        POPHEATH_REDIS_PORT=str(ics.free_port()),
        POPHEATH_TASK_HEARTBEAT_TIMEOUT="30",
    )
    started = subprocess.run(["bash", str(DEPLOY / "start.sh")], env=env, capture_output=True, text=True, timeout=600)
    pids = home / "pids"
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        password = (home / "secrets/admin_password").read_text()
        api = Airflow(f"http://127.0.0.1:{port}", "admin", password)
        api.wait_for_dag("popheath_nightly")
        clock = time.monotonic()
        run_id = api.trigger("popheath_nightly", f"{ics.AS_OF}T00:00:00Z")
        killed: list[int] = []

        def kill_worker2_once_it_has_worked(client: Airflow) -> None:
            if killed:
                return
            done = [
                ti
                for ti in client.task_instances("popheath_nightly", run_id)
                if ti["task_id"] == "ingest_delivery" and ti["state"] == "success"
            ]
            if sum(1 for ti in done if ti.get("hostname") == "worker2") >= 3:
                pid = int((pids / "worker2.pid").read_text())
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)

        state = api.wait("popheath_nightly", run_id, timeout=1500, on_poll=kill_worker2_once_it_has_worked)
        wall = time.monotonic() - clock
        instances = api.task_instances("popheath_nightly", run_id)
        assert killed, "worker2 never ran three ingest tasks before the run ended"
        assert state == "success", sorted({(ti["task_id"], ti["state"]) for ti in instances})
        assert {ti["state"] for ti in instances} == {"success"}
        hosts = {ti.get("hostname") for ti in instances if ti["task_id"] == "ingest_delivery"}
        assert {"worker1", "worker2"} <= hosts
        after_kill = {ti.get("hostname") for ti in instances if ti["task_id"] in ("publish", "report")}
        assert after_kill == {"worker1"}
        assert _list_checksums(shared) == _list_checksums(reference)
        read, loaded, quarantined = ics.accounting(shared)
        assert read == loaded + quarantined
        print(f"nightly under Celery with 2 workers (one killed): {wall:.0f} s")
    finally:
        stopped = subprocess.run(
            ["bash", str(DEPLOY / "stop.sh")], env=env, capture_output=True, text=True, timeout=120
        )
        assert stopped.returncode == 0, stopped.stderr
        shutil.rmtree(postgres_root, ignore_errors=True)
    assert not list(pids.glob("*.pid"))
    for name in ("api-server", "scheduler", "worker1", "redis"):
        log = (home / "logs" / f"{name}.log").read_text(errors="replace")
        assert password not in log
