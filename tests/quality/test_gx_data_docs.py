"""Great Expectations in its own step: the same suites as the compiled SQL, agreeing with it, never gating the load.

The load keeps a sample; ``popheath data-docs`` validates it. No expectation crashes on real types
(the no-future-dates rule on DATE columns used to); one that does is an error of the step, with
the site still written; and the site loads nothing from the network.
"""

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from popheath import config, pipeline
from popheath.errors import StageError
from popheath.quality import contracts, data_docs
from popheath.stages import data_docs as data_docs_stage
from popheath.stages import ingest
from tests.stages.test_ingest_fixtures import APC_HEADER, RAW_NHS, apc_row, query, settings_for, write_csv

pytestmark = pytest.mark.slow
AS_OF = date(2025, 4, 1)


def _loaded(tmp_path: Path) -> config.Settings:
    settings = config.with_overrides(
        settings_for(tmp_path), **{"ingest.data_docs": True, "paths.partitions": tmp_path / "parts"}
    )
    rows = [apc_row(f"E{i}") for i in range(20)]
    rows += [apc_row("B1", Discharge_Date="2024-06-01"), apc_row("B2", Admission_Method="Z9"),
             apc_row("B3", Der_Pseudo_NHS_Number=RAW_NHS), apc_row("B4", Discharge_Method="7"),
             apc_row("B5", Discharge_Date="2099-01-05", Episode_End_Date="2099-01-05")]  # fmt: skip
    write_csv(tmp_path / "raw" / "apc" / "2024-07" / "apc.csv", APC_HEADER, rows)
    result = ingest.run(settings, AS_OF)
    assert result.outputs == () and result.warnings == ()  # the load neither runs GX nor waits for it
    return settings


def test_gx_validates_the_kept_sample_agrees_with_sql_and_evaluates_future_dates(tmp_path: Path) -> None:
    settings = _loaded(tmp_path)
    assert (tmp_path / "parts" / "gx_samples" / "apc.parquet").exists()
    result = data_docs_stage.run(settings, AS_OF)
    assert result.warnings == ()  # no disagreement between GX and the compiled SQL
    index = tmp_path / "out" / "data_docs" / "index.html"
    assert result.outputs == (index,)
    assert result.summary["rows validated"] == 25
    page = next((tmp_path / "out" / "data_docs" / "validations").rglob("*.html")).read_text(encoding="utf-8")
    assert "admission_method" in page and "Z9" in page  # the unexpected value is shown
    front = index.read_text(encoding="utf-8")
    # The future discharge is counted, not crashed on: GX and the SQL both find the one row.
    assert "future_date:discharge_date: 1" in front and "could not be evaluated" not in front.split("</tr>", 1)[1]
    assert query(settings, "SELECT count(*) FROM stg_apc") == [(21,)]  # 20 clean + the flagged discharge method


def test_the_site_loads_nothing_from_the_network(tmp_path: Path) -> None:
    settings = _loaded(tmp_path)
    data_docs_stage.run(settings, AS_OF)
    site = tmp_path / "out" / "data_docs"
    files = [p for p in site.rglob("*") if p.suffix in {".html", ".css"}]
    assert len([p for p in files if p.suffix == ".html"]) >= 3  # index, suite page, validation page
    assert {str(p.relative_to(site)): data_docs.external_references(p.read_text(encoding="utf-8")) for p in files} == {
        str(p.relative_to(site)): [] for p in files
    }
    assert '<a href="validations/apc/' in (site / "index.html").read_text(encoding="utf-8")


def test_a_crashed_expectation_is_an_error_not_a_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _loaded(tmp_path)
    real = contracts.load_suite

    def with_broken_rule(source: str) -> contracts.Suite:
        suite = real(source)
        # A numeric bound on a text column: pandas cannot compare str with int, so GX cannot evaluate it.
        broken = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "provider_code", "min_value": 1},
                  "meta": {"rule": "out_of_range:provider_code"}}  # fmt: skip
        document = suite.document | {"expectations": [*suite.document["expectations"], broken]}
        return dataclasses.replace(suite, document=document)

    monkeypatch.setattr(contracts, "load_suite", with_broken_rule)
    with pytest.raises(StageError) as raised:
        data_docs_stage.run(settings, AS_OF)
    line = str(raised.value)
    assert "could not evaluate 1 expectation(s)" in line
    assert "apc: expectation expect_column_values_to_be_between on provider_code (out_of_range:provider_code)" in line
    assert "\n" not in line
    front = (tmp_path / "out" / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert "out_of_range:provider_code) could not be evaluated" in front  # the site is still written, with the error


def test_a_failing_data_docs_step_stops_nothing_and_fails_the_run_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _loaded(tmp_path)

    def crash(settings: config.Settings, as_of: date) -> None:
        raise StageError("Great Expectations could not evaluate 1 expectation(s)")

    monkeypatch.setattr(data_docs_stage, "run", crash)
    steps = [
        pipeline.Step("data_docs", AS_OF, after="ingest"),
        pipeline.Step("freshness", AS_OF, {"allow_stale": True}),
    ]
    ran: list[str] = []
    with pytest.raises(StageError, match="could not evaluate"):
        pipeline.run_steps(settings, steps, on_done=lambda step, result, seconds: ran.append(step.stage))
    assert ran == ["freshness"]  # the next step ran; the failure is raised once the run has ended
