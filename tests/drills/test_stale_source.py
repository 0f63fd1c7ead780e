"""A source goes stale: the nightly run is refused before publish, the last release stays current and intact.

Starts from the state after the full run's publish (one release, as of 2025-04-01). The outpatient
feed then "stopped after December": its 2025 deliveries are taken out of the warehouse, as if they
had never arrived. The nightly steps after ingest, run in order as the DAG chains them, stop at the
freshness gate with one line naming outpatients alone; no publish runs, the current release is the
same folder with the same checksums, and the run report leads with the refusal. With the override
the run publishes, and the report says so in red.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from popheath import config, pipeline
from popheath.errors import StaleDataError
from popheath.lists import release
from tests.drills.workspace import Run, error_lines, run_cli

pytestmark = pytest.mark.slow
AS_OF = date(2025, 4, 1)


def _stop_outpatients_after_december(workspace: Path) -> None:
    con = duckdb.connect(str(workspace / "warehouse" / "popheath.duckdb"))
    try:
        con.execute("DELETE FROM stg_opa WHERE appointment_date >= DATE '2025-01-01'")
        con.execute("DELETE FROM load_audit WHERE source = 'opa' AND delivery >= '2025-01'")
    finally:
        con.close()


def _report(workspace: Path) -> dict[str, object]:
    return dict(json.loads((workspace / "outputs" / "reports" / "nightly" / "latest.json").read_text()))


def test_a_stale_source_refuses_the_run_and_keeps_the_last_release(ics: Run, tmp_path: Path) -> None:
    path = ics.clone("publish", tmp_path / "drill")
    workspace = path.parent
    root = release.lists_root(workspace / "outputs")
    before = release.current_release(root)
    assert before is not None and release.verify_release(before) == []
    published = [r.release_id for r in release.releases(root)]
    _stop_outpatients_after_december(workspace)

    settings = config.load(path)
    steps = [step for step in pipeline.nightly_steps(settings, AS_OF) if step.stage != "ingest"]
    ran: list[str] = []
    with pytest.raises(StaleDataError) as raised:
        pipeline.run_steps(settings, steps, on_done=lambda step, result, seconds: ran.append(step.stage))
    line = str(raised.value)
    assert ran == [] and line.startswith("stale data as of 2025-04-01: opa: no data since 2024-12-")
    assert "limit 45" in line and not any(f"{s}:" in line for s in ("population", "apc", "ecds", "csds", "asc"))

    after = release.current_release(root)
    assert after is not None and after.release_id == before.release_id
    assert release.verify_release(after) == []
    assert [r.release_id for r in release.releases(root)] == published
    assert not (root / "staging").exists() or not any((root / "staging").iterdir())

    # The CLI says the same in one line and a non-zero exit; the report leads with the refusal.
    refused = run_cli(path, ("freshness",))
    assert refused.returncode == 2 and error_lines(refused) == [f"error: {line}"]
    assert run_cli(path, ("report",)).returncode == 0
    report = _report(workspace)
    verdict = report["verdict"]
    assert isinstance(verdict, dict) and verdict["level"] == "failed"
    assert str(verdict["text"]).startswith("Failed: freshness (stale data as of 2025-04-01: opa: no data since")
    states = {row["source"]: row["state"] for row in report["latest_delivery"]}  # type: ignore[attr-defined]
    assert states == {"population": "fresh", "apc": "fresh", "ecds": "fresh", "opa": "stale", "csds": "fresh",
                      "asc": "fresh"}  # fmt: skip

    # Overridden, the run publishes and the report shows the override in red.
    assert run_cli(path, ("freshness", "--allow-stale")).returncode == 0
    assert run_cli(path, ("publish",)).returncode == 0
    newer = release.current_release(root)
    assert newer is not None and newer.release_id != before.release_id
    assert run_cli(path, ("report",)).returncode == 0
    verdict = _report(workspace)["verdict"]
    assert isinstance(verdict, dict) and verdict["level"] == "stale"
    assert str(verdict["text"]).startswith("Stale data, published by override (allow_stale): opa: no data since")
    html = (workspace / "outputs" / "reports" / "nightly" / "latest.html").read_text(encoding="utf-8")
    assert '<p class="verdict stale">Stale data, published by override' in html
