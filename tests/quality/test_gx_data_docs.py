"""Great Expectations runs the same suites as the compiled SQL and agrees with it; Data Docs are written."""

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from popheath.stages import ingest  # noqa: E402
from tests.stages.test_ingest_fixtures import APC_HEADER, RAW_NHS, apc_row, query, settings_for, write_csv  # noqa: E402


@pytest.mark.slow
def test_gx_validates_sample_writes_data_docs_and_agrees_with_sql(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    settings = dataclasses.replace(settings, ingest=dataclasses.replace(settings.ingest, data_docs=True))
    rows = [apc_row(f"E{i}") for i in range(20)]
    rows += [apc_row("B1", Discharge_Date="2024-06-01"), apc_row("B2", Admission_Method="Z9"),
             apc_row("B3", Der_Pseudo_NHS_Number=RAW_NHS), apc_row("B4", Discharge_Method="7")]  # fmt: skip
    write_csv(tmp_path / "raw" / "apc" / "2024-07" / "apc.csv", APC_HEADER, rows)
    result = ingest.run(settings, date(2025, 4, 1))
    assert result.warnings == ()  # no disagreement between GX and the compiled SQL
    index = tmp_path / "out" / "data_docs" / "index.html"
    assert result.outputs == (index,)
    assert index.exists()
    pages = list((tmp_path / "out" / "data_docs" / "validations").rglob("*.html"))
    page = pages[0].read_text(encoding="utf-8")
    assert "admission_method" in page and "Z9" in page  # the unexpected value is shown
    assert query(settings, "SELECT count(*) FROM stg_apc") == [(21,)]  # 20 clean + the flagged discharge method
