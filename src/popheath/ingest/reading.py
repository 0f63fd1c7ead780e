"""Reading raw files: the file-level checks from a header or footer, the one-scan read, clear read errors."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

import duckdb

from popheath.errors import InputError
from popheath.quality.nhs_number import mask_embedded

_ALT_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


# --- file-level checks -----------------------------------------------------------------------


_CHUNK = 1 << 16


def _first_line(path: Path) -> bytes:
    """The file's first line, however long (a header of thousands of columns is read whole)."""
    parts: list[bytes] = []
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            end = chunk.find(b"\n")
            if end >= 0:
                parts.append(chunk[:end])
                break
            parts.append(chunk)
    return b"".join(parts).rstrip(b"\r")


def csv_header(path: Path, encoding: str = "utf-8") -> list[str]:
    """The header of a CSV file, after the file-level checks that can be made from its start."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK)
    if not head.strip():
        raise InputError(path, None, "a non-empty file with a header row", got="an empty file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, None, f"{encoding} text", got="UTF-16 (byte-order mark)")
    first_line = _first_line(path)
    try:
        text = first_line.decode("utf-8-sig" if encoding.lower().replace("-", "") == "utf8" else encoding)
    except UnicodeDecodeError as error:
        raise InputError(
            path, None, f"{encoding} text", row=0, got=f"byte {first_line[error.start]:#04x} in the header"
        ) from error
    # The csv module refuses a field longer than its limit (128 KiB by default): a header name of any
    # length is still one name.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    headers = next(csv.reader(io.StringIO(text)))
    if len(headers) == 1:
        for delimiter, name in _ALT_DELIMITERS.items():
            if delimiter in text:
                raise InputError(path, None, "comma-delimited CSV", got=f"{name}-delimited header")
    blank = [i + 1 for i, h in enumerate(headers) if not h.strip()]
    if blank:
        raise InputError(path, f"column {blank[0]}", "a header name for every column", got="a blank header")
    counts = Counter(h.strip().upper() for h in headers)
    repeated = [h for h, n in counts.items() if n > 1]
    if repeated:
        raise InputError(path, repeated[0], "each header once", got=f"{counts[repeated[0]]} columns with this name")
    return [h.strip() for h in headers]


_LINE = re.compile(r"[Ll]ine:?\s*(\d+)")


def first_line(error: Exception) -> str:
    """The first line of an error's message (its type name when the message is empty)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# --- reading ---------------------------------------------------------------------------------


def _read_error(path: Path, error: duckdb.Error, encoding: str) -> InputError:
    """A DuckDB read error as one clear line naming the file (and row, where DuckDB says).

    DuckDB may quote the offending line: a raw NHS number in it is masked, as in the quarantine.
    """
    message = mask_embedded(first_line(error))
    line = _LINE.search(str(error))
    row = int(line.group(1)) - 1 if line else None
    lowered = str(error).lower()
    if "unicode" in lowered or "utf" in lowered or "encoding" in lowered:
        return InputError(path, None, f"{encoding} text", row=row, got=message)
    if "column" in lowered and ("expected" in lowered or "found" in lowered or "too" in lowered):
        return InputError(
            path, None, "the same number of fields on every row (file truncated or malformed?)", row=row, got=message
        )
    return InputError(path, None, f"a readable {path.suffix[1:].upper()} file", row=row, got=message)


def file_schema(con: duckdb.DuckDBPyConnection, path: Path, encoding: str = "utf-8") -> dict[str, str]:
    """Raw column names and types of one file, from its header (CSV) or footer (Parquet) only.

    This is the per-file part of the file-level checks (empty file, encoding of the header,
    delimiter, blank or repeated headers, unreadable Parquet); it never reads the data rows.
    """
    if path.stat().st_size == 0:
        raise InputError(path, None, "a non-empty file", got="0 bytes")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return {h: "VARCHAR" for h in csv_header(path, encoding)}
    if suffix != ".parquet":
        raise InputError(path, None, "a .csv or .parquet file")
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}).fetchall()
    except duckdb.Error as error:
        raise _read_error(path, error, encoding) from error
    return {name: str(kind) for name, kind, *_ in described}


def sql_text(value: str) -> str:
    """A string as a quoted SQL literal."""
    return "'" + value.replace("'", "''") + "'"


def drop_raw(con: duckdb.DuckDBPyConnection, table: str = "_raw") -> None:
    """Drop the temp table or view ``table`` holding raw rows, if any."""
    views = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = $t", {"t": table}).fetchall()
    con.execute(f"DROP {'VIEW' if views[0][0] else 'TABLE'} IF EXISTS {table}")


def read_files(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    raw_types: dict[str, str],
    encoding: str,
    table: str = "_raw",
    lazy: bool = False,
) -> None:
    """Read files with one header, in one scan, into temp table ``table`` with ``_file`` and ``_row_number``.

    CSV is read as text with strict parsing (a bad value is a row-level failure; a ragged row a
    file-level one). Raises :class:`InputError` naming the file when only one file is read;
    callers retry file by file to find the culprit when a multi-file read fails. ``lazy`` makes
    ``table`` a view over Parquet files, read by the checking query itself (no copy of the raw
    rows); a damaged file then fails that query, and the caller falls back to reading eagerly.
    """
    files = [str(p) for p in paths]
    drop_raw(con, table)
    try:
        if paths[0].suffix.lower() == ".parquet" and lazy:
            con.execute(
                f"CREATE TEMP VIEW {table} AS SELECT * EXCLUDE (file_row_number), "
                "file_row_number + 1 AS _row_number "
                f"FROM read_parquet([{', '.join(sql_text(f) for f in files)}], filename = '_file', "
                "file_row_number = true)"
            )
        elif paths[0].suffix.lower() == ".parquet":
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * EXCLUDE (file_row_number), "
                "file_row_number + 1 AS _row_number "
                "FROM read_parquet($files, filename = '_file', file_row_number = true)",
                {"files": files},
            )
        else:
            # Row numbers from insertion order, which DuckDB keeps only when asked to. A column named
            # like DuckDB's rowid pseudo-column (PDS tables carry RowID) would hide it: it is read
            # under another name and renamed back.
            shadow = next((name for name in raw_types if name.lower() == "rowid"), None)
            columns = {("_rowid_column" if name == shadow else name): kind for name, kind in raw_types.items()}
            kept = "* EXCLUDE (_rid)"
            if shadow is not None:
                quoted = shadow.replace('"', '""')
                kept = f'* EXCLUDE (_rid, _rowid_column), _rowid_column AS "{quoted}"'
            con.execute("SET preserve_insertion_order = true")
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table}_text AS SELECT * FROM read_csv($files, header = true, "
                "delim = ',', quote = '\"', escape = '\"', columns = $columns, auto_detect = false, "
                "strict_mode = true, null_padding = false, encoding = $encoding, filename = '_file')",
                {"files": files, "columns": columns, "encoding": encoding},
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {kept}, "
                "_rid - min(_rid) OVER (PARTITION BY _file) + 1 AS _row_number "
                f"FROM (SELECT *, rowid AS _rid FROM {table}_text)"
            )
            con.execute(f"DROP TABLE {table}_text")
            con.execute("SET preserve_insertion_order = false")
    except duckdb.Error as error:
        raise _read_error(paths[0], error, encoding) from error


def locate_read_failures(
    con: duckdb.DuckDBPyConnection, paths: list[Path], raw_types: dict[str, str], encoding: str
) -> dict[Path, InputError]:
    """Read each file alone to name the file(s) a failed multi-file read tripped on."""
    failures: dict[Path, InputError] = {}
    for path in paths:
        try:
            read_files(con, [path], raw_types, encoding, table="_probe")
        except InputError as error:
            failures[path] = error
    drop_raw(con, "_probe")
    return failures
