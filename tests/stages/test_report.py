import json
from datetime import date
from pathlib import Path

import pytest

from popheath import config, db, nightly_report, runlog
from popheath.errors import StageError
from popheath.results import StageResult
from popheath.stages import report

AS_OF = date(2025, 4, 1)


def _settings(tmp_path: Path) -> config.Settings:
    return config.with_overrides(
        config.Settings(), **{"paths.warehouse": tmp_path / "w.duckdb", "paths.outputs": tmp_path / "out"}
    )


def test_report_counts_sections_and_marks_missing_stages_not_run(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    con = db.connect(settings)
    con.execute(
        "CREATE TABLE load_audit AS SELECT * FROM (VALUES "
        "('r1', 'apc', '2025-03', 10, 8, 2, 'loaded', TIMESTAMP '2025-04-01 01:00'),"
        " ('r1', 'apc', '2025-03', 5, 5, 0, 'loaded', TIMESTAMP '2025-04-01 01:01'),"
        " ('r0', 'apc', '2025-02', 99, 99, 0, 'loaded', NULL)) "
        "t(run_id, source, delivery, rows_read, rows_loaded, rows_quarantined, outcome, finished_at)"
    )
    con.execute("CREATE TABLE quarantine AS SELECT 'apc' AS source, 'duplicate_row' AS rule FROM range(2)")
    con.execute(
        "CREATE TABLE cohort AS SELECT DATE '2025-04-01' AS as_of, i < 3 AS is_65plus, i = 0 AS is_frail "
        "FROM range(5) t(i)"
    )
    con.close()
    runlog.record(settings, "ingest", AS_OF, lambda: StageResult("ingest", AS_OF, {"run_id": "r1"}))

    def failing() -> StageResult:
        raise StageError("missing table(s) person_link: run the upstream stage first")

    with pytest.raises(StageError):
        runlog.record(settings, "features@2025-04-01", AS_OF, failing)

    result = report.run(settings, AS_OF)
    latest = json.loads((tmp_path / "out/reports/nightly/latest.json").read_text())
    assert latest["inputs"] == [
        {
            "source": "apc",
            "files": 2,
            "rows_read": 15,
            "rows_loaded": 13,
            "rows_quarantined": 2,
            "files_rejected": 0,
            "last_load": "2025-04-01 01:01:00",
        }
    ]
    assert latest["quarantine"] == [{"source": "apc", "rule": "duplicate_row", "rows": 2}]
    assert latest["cohort"] == [{"registered_alive": 5, "aged_65_plus": 3, "frail_elderly": 1}]
    assert latest["links"] is None and latest["lists"] is None  # not run, not zero
    assert latest["failed"] == ["features@2025-04-01"]
    assert result.summary["failed"] == "features@2025-04-01"
    html = (tmp_path / "out/reports/nightly/latest.html").read_text()
    assert "Failed: features@2025-04-01" in html and "missing table(s) person_link" in html
    assert latest["verdict"]["level"] == "failed"
    # apc's latest delivery is listed (no staging table: no activity, so stale); unloaded sources say so.
    apc = next(row for row in latest["latest_delivery"] if row["source"] == "apc")
    assert (apc["latest_delivery"], apc["loaded_at"], apc["state"]) == ("2025-03", "2025-04-01 01:01:00", "stale")
    assert {row["state"] for row in latest["latest_delivery"]} == {"stale"}
    assert (tmp_path / "out/reports/nightly/2025-04-01/report.html").read_text() == html


def test_cell_formatting() -> None:
    assert nightly_report.cell(1234567) == "1,234,567"
    assert nightly_report.cell(0.98765) == "0.9877"
    assert nightly_report.cell(118.6677) == "118.7"
    assert nightly_report.cell(None) == ""
    assert nightly_report.cell(["a", "b"]) == "a; b"
    assert nightly_report.cell("2026-11-26T04:26:08.910533+00:00") == "2026-11-26 04:26"
