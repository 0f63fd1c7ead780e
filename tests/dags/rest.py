"""A small client for Airflow's REST API (v2), as a data team's script would use it."""

from __future__ import annotations

import time
from typing import Any

import httpx


class Airflow:
    """Log in once, then trigger DAG runs and read their task instances."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        token = httpx.post(f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30)
        token.raise_for_status()
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.client = httpx.Client(base_url=f"{base_url}/api/v2", headers=bearer, timeout=30)

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Wait until the DAG processor has parsed the DAG."""
        deadline = time.monotonic() + timeout
        while self.client.get(f"/dags/{dag_id}").status_code != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} was not parsed within {timeout} s")
            time.sleep(2)

    def trigger(self, dag_id: str, logical_date: str) -> str:
        """Unpause the DAG and start a run for ``logical_date``; returns the run id."""
        self.client.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        response = self.client.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": {}})
        response.raise_for_status()
        return str(response.json()["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout: float, on_poll: Any = None) -> str:
        """Poll the run until it finishes; returns its final state."""
        deadline = time.monotonic() + timeout
        while True:
            state = str(self.client.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"])
            if state in ("success", "failed"):
                return state
            if on_poll is not None:
                on_poll(self)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout} s")
            time.sleep(3)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, mapped ones one per map index."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.client.get(
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100, "offset": len(found)}
            ).json()
            found += page["task_instances"]
            if len(found) >= page["total_entries"] or not page["task_instances"]:
                return found
