"""A real Airflow (standalone: scheduler, DAG processor, API server, LocalExecutor) runs the nightly DAG."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.dags import ics
from tests.dags.rest import Airflow

pytestmark = pytest.mark.slow


def test_scheduler_runs_nightly_triggered_through_the_rest_api(tmp_path: Path) -> None:
    root = ics.build(tmp_path / "ics")
    home = tmp_path / "airflow"
    port = ics.free_port()
    env = ics.airflow_env(home, root / "popheath.toml", POPHEATH_AIRFLOW_PORT=str(port))
    script = ics.REPO / "deploy" / "airflow-local.sh"
    started = subprocess.run(["bash", str(script), "start"], env=env, capture_output=True, text=True, timeout=400)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        api = Airflow(f"http://127.0.0.1:{port}", "admin", password)
        api.wait_for_dag("popheath_nightly")
        clock = time.monotonic()
        run_id = api.trigger("popheath_nightly", f"{ics.AS_OF}T00:00:00Z")
        assert api.wait("popheath_nightly", run_id, timeout=900) == "success"
        wall = time.monotonic() - clock
        instances = api.task_instances("popheath_nightly", run_id)
        assert {ti["state"] for ti in instances} == {"success"}
        mapped = [ti for ti in instances if ti["task_id"] == "ingest_delivery"]
        assert len(mapped) == len(ics.deliveries(root / "raw")) > 20
        assert (root / "outputs/lists/current/manifest.json").exists()
        stage_seconds = sum(r["seconds"] for r in _records(root))
        print(f"nightly DAG wall time {wall:.0f} s; stage time {stage_seconds:.0f} s")  # shown with pytest -s
    finally:
        stopped = subprocess.run(["bash", str(script), "stop"], env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0
    assert (
        "not running"
        in subprocess.run(["bash", str(script), "status"], env=env, capture_output=True, text=True, timeout=30).stdout
    )


def _records(root: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(p.read_text()) for p in (root / "outputs/runs" / ics.AS_OF).glob("*.json")]
