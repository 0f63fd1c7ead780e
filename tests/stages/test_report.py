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


FAILED = [{"stage": "freshness", "status": "failed", "error": "stale data as of 2025-04-01: opa: no data since ..."}]
STALE = ["opa: no data since 2024-12-31 (91 days, limit 45)"]


def test_verdict_is_clean_only_when_nothing_fired() -> None:
    assert nightly_report.verdict([], 0, 0, [], True) == {
        "level": "ok",
        "text": "Every stage succeeded: every source fresh, no warnings, no drift.",
    }
    for args in ([], 1, 0, [], True), ([], 0, 25, [], True), ([], 0, 0, STALE, True), ([], 0, 0, STALE, False):
        line = nightly_report.verdict(*args)
        assert line["level"] != "ok" and "Every stage succeeded" not in line["text"], args


def test_verdict_counts_drift_and_warnings() -> None:
    assert nightly_report.verdict([], 3, 25, [], True) == {
        "level": "warnings",
        "text": "Succeeded with warnings: 25 drift warnings (PSI over model.psi_warn); 3 other warnings.",
    }
    assert nightly_report.verdict([], 1, 1, [], True)["text"].endswith(
        "1 drift warning (PSI over model.psi_warn); 1 other warning."
    )


def test_verdict_puts_failure_first_then_stale_override() -> None:
    failed = nightly_report.verdict(FAILED, 2, 25, STALE, False)
    assert failed["level"] == "failed"
    assert failed["text"] == (
        "Failed: freshness (stale data as of 2025-04-01: opa: no data since ...). The previous list release stays "
        "published. Also 25 drift warnings (PSI over model.psi_warn). Also 2 other warnings."
    )
    overridden = nightly_report.verdict([], 0, 0, STALE, True)
    assert overridden == {
        "level": "stale",
        "text": "Stale data, published by override (allow_stale): opa: no data since 2024-12-31 (91 days, limit 45).",
    }
    assert nightly_report.verdict([], 0, 0, STALE, False)["text"].startswith(
        "Stale data, the freshness gate did not run"
    )


def test_report_leads_with_the_verdict_and_shows_an_override_in_red(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    con = db.connect(settings)
    con.execute(
        "CREATE TABLE load_audit AS SELECT 'r1' AS run_id, 'opa' AS source, '2024-12' AS delivery, 5 AS rows_read, "
        "5 AS rows_loaded, 0 AS rows_quarantined, 'loaded' AS outcome, TIMESTAMP '2025-01-20 02:00' AS finished_at"
    )
    con.execute("CREATE TABLE stg_opa AS SELECT DATE '2024-12-31' AS appointment_date")
    con.execute(
        "CREATE TABLE drift AS SELECT DATE '2025-04-01' AS as_of, 'v' || i AS variable, 0.3 AS psi, i < 2 AS warn "
        "FROM range(4) t(i)"
    )
    con.close()
    runlog.record(settings, "freshness", AS_OF, lambda: StageResult("freshness", AS_OF, warnings=("override",)))
    report.run(settings, AS_OF)
    html = (tmp_path / "out/reports/nightly/latest.html").read_text()
    body = html[html.index("<body>") :]
    first = body[body.index("<p") : body.index("</p>")]
    assert 'class="verdict stale"' in first and "published by override" in first and "2 drift warnings" in first
    assert "opa: no data since 2024-12-31 (91 days, limit 45)" in first
    assert '<tr class="stale"><td>opa</td><td>2024-12</td><td>2025-01-20 02:00</td>' in html
    assert html.index("Latest delivery per source") < html.index("Stages and timings")
