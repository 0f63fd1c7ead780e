"""No raw NHS number leaves the pipeline: one scan of every file a stage publishes, whatever its format.

Lists, the pyramid, capitation tables, workbook and report, the nightly report and the run
records it carries are all checked with the same rule as ingest (:mod:`popheath.quality.nhs_number`):
a ten-digit value, or ten digits standing apart in longer text, that passes the modulus-11 check.
A finding names the file and where: the line and column of a CSV, the row and column of a Parquet
file, the sheet and cell of a workbook, the JSON path of a value, the line of any other text file.

In JSON and workbooks only text values are scanned: their numbers are counts, sizes and costs the
pipeline computed (a release manifest's byte sizes would pass the check one time in eleven); an
identifier reaches an output as text. Files that are neither text nor Parquet nor a workbook
(images) cannot carry a readable number and are not scanned.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from popheath.errors import StageError
from popheath.quality.nhs_number import contains_nhs_number, embedded_nhs_number_sql, nhs_number_sql

# A cheap first test on a whole line: ten digits, optionally grouped 3-3-4.
_CANDIDATE = re.compile(r"[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}")
# Parquet column types that cannot hold a ten-digit identifier as written.
_NOT_SCANNED = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "DATE", "TIME", "TIMESTAMP", "BOOLEAN", "TINYINT", "SMALLINT")


@dataclass(frozen=True)
class Finding:
    """A value that passes the NHS number check, in ``file`` at ``where``."""

    file: Path
    where: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where} holds a value that passes the NHS number check"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        yield from enumerate(handle, start=1)


def _scan_csv(path: Path) -> Finding | None:
    header: list[str] = []
    for number, line in _lines(path):
        if number == 1:
            csv.field_size_limit(max(csv.field_size_limit(), len(line) + 1))
            header = next(csv.reader(io.StringIO(line)), [])
        if not _CANDIDATE.search(line) or not contains_nhs_number(line):
            continue
        cells = next(csv.reader(io.StringIO(line)), [])
        column = next((i for i, cell in enumerate(cells) if contains_nhs_number(cell)), None)
        if column is None:  # a quoted cell spread over lines: the line is still named
            return Finding(path, f"line {number}")
        name = header[column] if column < len(header) and number > 1 else f"{column + 1}"
        return Finding(path, f"line {number}, column {name}")
    return None


def _scan_text(path: Path) -> Finding | None:
    for number, line in _lines(path):
        if _CANDIDATE.search(line) and contains_nhs_number(line):
            return Finding(path, f"line {number}")
    return None


def _json_strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", str(key)
            yield from _json_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, f"{where}[{index}]")


def _scan_json(path: Path) -> Finding | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _scan_text(path)  # not valid JSON: read as text, line by line
    for where, text in _json_strings(document, "$"):
        if contains_nhs_number(text):
            return Finding(path, f"value at {where}")
    return None


def _scan_workbook(path: Path) -> Finding | None:
    from openpyxl import load_workbook  # only when a workbook is scanned

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and contains_nhs_number(cell.value):
                        return Finding(path, f"sheet {sheet.title}, cell {cell.coordinate}")
    finally:
        book.close()
    return None


def _scan_parquet(path: Path) -> Finding | None:
    con = duckdb.connect()
    try:
        source = "read_parquet($path, file_row_number = true)"
        described = con.execute(f"DESCRIBE SELECT * FROM {source}", {"path": str(path)}).fetchall()
        for name, kind, *_ in described:
            if name == "file_row_number" or str(kind).upper().startswith(_NOT_SCANNED):
                continue
            column = '"' + str(name).replace('"', '""') + '"'
            found = con.execute(
                f"SELECT min(file_row_number) + 1 FROM {source} "
                f"WHERE {nhs_number_sql(column)} OR {embedded_nhs_number_sql(column)}",
                {"path": str(path)},
            ).fetchone()
            if found and found[0] is not None:
                return Finding(path, f"row {found[0]}, column {name}")
    finally:
        con.close()
    return None


def scan_file(path: Path) -> Finding | None:
    """The first raw NHS number in ``path``, by its format (None when there is none)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _scan_csv(path)
    if suffix == ".parquet":
        return _scan_parquet(path)
    if suffix == ".xlsx":
        return _scan_workbook(path)
    if suffix == ".json":
        return _scan_json(path)
    with path.open("rb") as handle:
        if b"\0" in handle.read(8192):
            return None  # binary (an image): no readable number
    return _scan_text(path)


def scan(paths: Iterable[Path]) -> list[Finding]:
    """One finding per file of ``paths`` (folders are scanned whole) that holds a raw NHS number."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return [finding for finding in map(scan_file, files) if finding is not None]


def refuse_nhs_numbers(paths: Iterable[Path], what: str) -> None:
    """Raise one clear line naming the file and place when any of ``paths`` holds a raw NHS number."""
    findings = scan(paths)
    if findings:
        more = f" (and {len(findings) - 1} more file(s))" if len(findings) > 1 else ""
        raise StageError(f"{what} refused: {findings[0]}{more}")
