"""The one scan for raw NHS numbers in published files: each format names the file and where, and the
stages that publish (lists, nightly report) refuse, keeping what was published before."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from popheath import runlog
from popheath.errors import StageError
from popheath.lists import release
from popheath.quality.output_scan import Finding, refuse_nhs_numbers, scan, scan_file
from popheath.stages import publish, report, segment
from tests.lists.listworld import P, World, settings_for, tok

RAW_NHS = "9434765919"  # passes modulus 11
NOT_NHS = "9434765918"  # ten digits, fails the check
AS_OF = date(2025, 4, 1)


def test_csv_names_line_and_column_and_ignores_decimals_and_failing_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f'a,note\n1,{NOT_NHS}\n2,0.{RAW_NHS}\n3,"seen NHS 943 476 5919"\n', encoding="utf-8")
    assert scan_file(path) == Finding(path, "line 4, column note")
    path.write_text(f"a,note\n1,{NOT_NHS}\n2,557867.{RAW_NHS}\n", encoding="utf-8")
    assert scan_file(path) is None


def test_parquet_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT * FROM (VALUES (1, 'ok', 1.5), (2, 'ref {RAW_NHS}', 2.5)) v(n, code, cost)) TO '{path}'"
    )
    assert str(scan_file(path)) == f"{path}: row 2, column code holds a value that passes the NHS number check"


def test_json_names_the_path_of_a_text_value_and_leaves_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"files": [{"bytes": int(RAW_NHS)}, {"warning": f"bad row: {RAW_NHS},x"}]}), "utf-8")
    assert scan_file(path) == Finding(path, "value at $.files[1].warning")
    path.write_text(json.dumps({"files": [{"bytes": int(RAW_NHS)}]}), "utf-8")
    assert scan_file(path) is None


def test_workbook_names_sheet_and_cell(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "practice"
    sheet.append(["code", "people"])
    sheet.append(["A81001", int(RAW_NHS)])  # a number cell: a computed figure, not scanned
    sheet.append([f"A81002 {RAW_NHS}", 5])
    path = tmp_path / "t.xlsx"
    book.save(path)
    assert scan_file(path) == Finding(path, "sheet practice, cell A3")


def test_html_and_log_text_name_the_line_and_binary_files_are_passed(tmp_path: Path) -> None:
    (tmp_path / "r.html").write_text(f"<p>ok</p>\n<td>{NOT_NHS}</td>\n<td>943-476-5919</td>\n", "utf-8")
    (tmp_path / "run.log").write_text(f"fine\nrow 3: {RAW_NHS}\n", "utf-8")
    (tmp_path / "chart.png").write_bytes(b"\x89PNG\0\0" + RAW_NHS.encode())
    found = scan([tmp_path])
    assert found == [Finding(tmp_path / "r.html", "line 3"), Finding(tmp_path / "run.log", "line 2")]
    with pytest.raises(StageError) as caught:
        refuse_nhs_numbers([tmp_path], "outputs")
    assert str(caught.value) == (
        f"outputs refused: {tmp_path / 'r.html'}: line 3 holds a value that passes the NHS number check "
        "(and 1 more file(s))"
    )


def test_publish_refuses_a_release_whose_pyramid_holds_an_nhs_number_and_keeps_the_last(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, capacity_per_pcn=2)
    world = World(settings.paths.warehouse)
    world.add(AS_OF, [P(tok(n), pcn=f"PCN{n % 2}", risk=n / 10) for n in range(1, 7)])
    segment.run(settings, AS_OF)
    publish.run(settings, AS_OF)
    root = release.lists_root(settings.paths.outputs)
    previous = release.current_release(root)
    later = AS_OF + timedelta(days=7)
    world.add(later, [P(tok(n), pcn=f"PCN{n % 2}", risk=1 - n / 10) for n in range(1, 7)])
    segment.run(settings, later)
    con = duckdb.connect(str(settings.paths.warehouse))
    con.execute("UPDATE pyramid SET place = $p WHERE as_of = $d", {"p": f"North {RAW_NHS}", "d": later})
    con.close()
    with pytest.raises(StageError) as caught:
        publish.run(settings, later)
    message = str(caught.value)
    assert message.startswith("list release ") and "(previous release kept) refused: " in message
    assert message.endswith("/pyramid.csv: line 2, column place holds a value that passes the NHS number check")
    current = release.current_release(root)
    assert previous is not None and current is not None and current.release_id == previous.release_id
    assert release.verify_release(current) == []
    assert list((root / "staging").glob("*")) == []


def test_the_nightly_report_is_refused_when_a_stage_record_carries_an_nhs_number(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    runlog.write_record(settings, "ingest", AS_OF, {"stage": "ingest", "status": "ok", "seconds": 1.0,
                                                    "warnings": ["raw/apc/x.csv: row 3: 943 476 5919"]})  # fmt: skip
    with pytest.raises(StageError, match=r"nightly report for 2025-04-01 refused: .*line \d+ holds a value"):
        report.run(settings, AS_OF)
    folder = settings.paths.outputs / "reports" / "nightly"
    assert not (folder / "latest.html").exists() and not (folder / "2025-04-01" / "report.json").exists()
    runlog.write_record(settings, "ingest", AS_OF, {"stage": "ingest", "status": "ok", "seconds": 1.0,
                                                    "warnings": ["raw/apc/x.csv: row 3: **********"]})  # fmt: skip
    report.run(settings, AS_OF)
    assert (folder / "latest.html").exists()
