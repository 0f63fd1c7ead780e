"""Ingest raw deliveries: map headers and codes, type, validate, quarantine bad rows, load, audit.

Input is ``<paths.raw>/<source>/<delivery>/*.csv|*.parquet``; output the canonical ``stg_<source>``
tables, ``quarantine`` and ``load_audit`` (docs/data_model.md).

Design, and why it approaches the performance target (ingest <= 3x a plain DuckDB read, < 4 GB).
Profiling the first, file-by-file design (cProfile and EXPLAIN ANALYZE, 100k people, 196 files)
showed fixed per-file costs (a transaction, ~10 queries, an audit INSERT) and a DELETE per file that
scanned the whole staging table (quadratic in deliveries). The hot path is now set-based per source:

* Phase A (:func:`check_deliveries`): per file only the cheap file-level checks (header or Parquet
  footer: empty, encoding, delimiter, missing required column); then every changed delivery of the
  source is read in ONE ``read_parquet``/``read_csv`` (``_file`` and ``_row_number`` per row) and
  checked by ONE compiled query (:mod:`popheath.quality.compile`): NHS-number scan, types, the GX
  suite's row rules as SQL. Duplicates: a GROUP BY finds repeated keys; only those rows get a window.
  A multi-file read that fails is retried file by file to name the culprit; that file is rejected
  with one clear line and its whole delivery is left as it was, other deliveries still load.
* Phase B (:func:`apply_checked`): in ONE transaction per source, the deliveries' old rows are
  replaced, cross-delivery rules applied, rows inserted, quarantine inserted, and one audit row per
  file (counts by GROUP BY file) appended in one statement. Rows read = loaded + quarantined per file.
* Great Expectations runs once per source per run on a seeded sample of at most
  ``ingest.gx_sample_rows`` rows (:mod:`popheath.quality.gx_suites`), in a background thread
  (:class:`DataDocs`) started with the stage, so its import and validation overlap DuckDB's work on
  the next source; ``ingest.data_docs = false`` switches GX and the Data Docs off.
* Parquet files are not copied first: the checking query reads them through a view, and only
  files with a failing row are read again for the quarantine's raw records. A file whose footer
  reads but whose pages do not fails that query; the group is then read eagerly, file by file,
  to name and reject the damaged file, as a damaged CSV is.
* Typed (Parquet) columns that already hold the contract's type are read as they are; only text
  columns go through trimming, code decoding and date parsing. The flag and raw-value lists of a
  row are built only on the rare rows that need them.
* Airflow: :func:`ingest_partition` runs phase A for one delivery into its own DuckDB file and
  :func:`merge_partitions` runs phase B per partition; the result equals :func:`run`'s.

Deliveries: the changed deliveries of a source are applied in one transaction. Each delivery's
fingerprint (file names and SHA-256 checksums, plus the mapping) is recorded; a rerun with the same
fingerprint changes nothing. A changed delivery (a restatement, or a new file in the
folder) replaces that delivery's rows. Records are keyed (``key`` in the contract): a record from a
later delivery replaces the same key from an earlier one (late-arriving updates); a record older
than the copy already loaded from a later delivery is quarantined as ``superseded_by_newer_delivery``.
Within a delivery, files load in name order and a later file's record replaces an earlier file's.
In every file, rows read = rows loaded + rows quarantined.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import logging
import re
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from popheath import db
from popheath.config import Settings
from popheath.errors import InputError, PopheathError, StageError
from popheath.quality import contracts
from popheath.quality.compile import compile_checks, ident
from popheath.quality.contracts import Contract
from popheath.quality.mapping import Mapping, expected_headers, load_mapping, resolve
from popheath.quality.nhs_number import MASK, nhs_number_sql
from popheath.results import StageResult

if TYPE_CHECKING:
    from popheath.quality.gx_suites import GxRunner, SuiteOutcome

log = logging.getLogger(__name__)

SOURCES = contracts.SOURCES
FILE_SUFFIXES = {".csv", ".parquet"}
UNLABELLED = "unlabelled"
_ALT_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}

METADATA_DDL = (
    "_load_id VARCHAR, _source_file VARCHAR, _row_number BIGINT, _delivery VARCHAR, _flags VARCHAR[], _raw_values JSON"
)
LOAD_AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS load_audit (
    load_id VARCHAR, run_id VARCHAR, source VARCHAR, delivery VARCHAR, file VARCHAR, checksum VARCHAR,
    mapping VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, quarantined_by_reason JSON,
    rows_replaced BIGINT, rows_flagged BIGINT, unmapped_columns VARCHAR[], started_at TIMESTAMP,
    finished_at TIMESTAMP, outcome VARCHAR, error VARCHAR, delivery_fingerprint VARCHAR
)"""
QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    load_id VARCHAR, source VARCHAR, delivery VARCHAR, file VARCHAR, row_number BIGINT, field VARCHAR,
    rule VARCHAR, value VARCHAR, failures JSON, record JSON, quarantined_at TIMESTAMP
)"""


@dataclass(frozen=True)
class Delivery:
    """One delivery folder of one source: the unit that is loaded (or skipped) atomically."""

    source: str
    label: str
    files: tuple[Path, ...]


@dataclass
class FileLoad:
    """What happened to one file: one ``load_audit`` row."""

    load_id: str
    source: str
    delivery: str
    file: Path
    checksum: str
    mapping: str
    started_at: datetime
    rows_read: int = 0
    rows_loaded: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    rows_replaced: int = 0
    rows_flagged: int = 0
    unmapped: list[str] = field(default_factory=list)
    finished_at: datetime | None = None
    outcome: str = "pending"
    error: str | None = None

    @property
    def rows_quarantined(self) -> int:
        """Rows quarantined, all reasons."""
        return sum(self.quarantined.values())


# --- discovery -------------------------------------------------------------------------------


def new_run_id() -> str:
    """A run id that sorts in start order (microseconds), with a random suffix against clashes."""
    return datetime.now().strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)


def _deliveries_of_source(folder: Path, source: str) -> list[Delivery]:
    found = [Delivery(source, sub.name, tuple(_data_files(sub))) for sub in sorted(folder.iterdir()) if sub.is_dir()]
    loose = _data_files(folder)
    if loose:
        found.append(Delivery(source, UNLABELLED, tuple(loose)))
    return [d for d in found if d.files]


def discover(raw_root: Path, sources: list[str] | None = None, paths: list[Path] | None = None) -> list[Delivery]:
    """Deliveries to load, from ``paths`` (files, delivery or source folders, a raw root) or all of ``raw_root``."""
    wanted = list(sources or SOURCES)
    unknown = [s for s in wanted if s not in SOURCES]
    if unknown:
        raise InputError(", ".join(unknown), "source", f"one of {', '.join(SOURCES)}")
    grouped: dict[tuple[str, str], list[Path]] = {}

    def add(delivery: Delivery) -> None:
        grouped.setdefault((delivery.source, delivery.label), []).extend(delivery.files)

    for path in paths or [raw_root]:
        path = Path(path)
        if not path.exists():
            raise InputError(path, None, "an existing file or folder")
        if path.is_file():
            if path.suffix.lower() not in FILE_SUFFIXES:
                raise InputError(path, None, "a .csv or .parquet file")
            source = _source_of_file(path, sources)
            label = UNLABELLED if path.parent.name == source else path.parent.name
            add(Delivery(source, label, (path,)))
        elif path.name in SOURCES:
            for delivery in _deliveries_of_source(path, path.name):
                add(delivery)
        elif path.parent.name in SOURCES:
            add(Delivery(path.parent.name, path.name, tuple(_data_files(path))))
        else:
            for source in wanted:
                if (path / source).is_dir():
                    for delivery in _deliveries_of_source(path / source, source):
                        add(delivery)
    deliveries = [
        Delivery(source, label, tuple(sorted(set(files), key=lambda p: p.name)))
        for (source, label), files in grouped.items()
        if source in wanted
    ]
    # Population first (the spine), then activity; deliveries in label order so later ones supersede.
    return sorted(deliveries, key=lambda d: (SOURCES.index(d.source), d.label))


def _source_of_file(path: Path, sources: list[str] | None) -> str:
    for candidate in (path.parent.parent.name, path.parent.name):
        if candidate in SOURCES:
            return candidate
    if sources and len(sources) == 1:
        return sources[0]
    raise InputError(path, "source", "a file under <raw>/<source>/<delivery>/, or --source NAME")


# --- file-level checks -----------------------------------------------------------------------


def checksum(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def csv_header(path: Path, encoding: str = "utf-8") -> list[str]:
    """The header of a CSV file, after the file-level checks that can be made from its start."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise InputError(path, None, "a non-empty file with a header row", got="an empty file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, None, f"{encoding} text", got="UTF-16 (byte-order mark)")
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first_line.decode("utf-8-sig" if encoding.lower().replace("-", "") == "utf8" else encoding)
    except UnicodeDecodeError as error:
        raise InputError(
            path, None, f"{encoding} text", row=0, got=f"byte {first_line[error.start]:#04x} in the header"
        ) from error
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


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# --- reading ---------------------------------------------------------------------------------


def _read_error(path: Path, error: duckdb.Error, encoding: str) -> InputError:
    """A DuckDB read error as one clear line naming the file (and row, where DuckDB says)."""
    message = _first_line(error)
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


def _sql_text(value: str) -> str:
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
                f"FROM read_parquet([{', '.join(_sql_text(f) for f in files)}], filename = '_file', "
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
            # Row numbers from insertion order, which DuckDB keeps only when asked to.
            con.execute("SET preserve_insertion_order = true")
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table}_text AS SELECT * FROM read_csv($files, header = true, "
                "delim = ',', quote = '\"', escape = '\"', columns = $columns, auto_detect = false, "
                "strict_mode = true, null_padding = false, encoding = $encoding, filename = '_file')",
                {"files": files, "columns": dict(raw_types), "encoding": encoding},
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * EXCLUDE (_rid), "
                "_rid - min(_rid) OVER (PARTITION BY _file) + 1 AS _row_number "
                f"FROM (SELECT *, rowid AS _rid FROM {table}_text)"
            )
            con.execute(f"DROP TABLE {table}_text")
            con.execute("SET preserve_insertion_order = false")
    except duckdb.Error as error:
        raise _read_error(paths[0], error, encoding) from error


def _locate_read_failures(
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


# --- checking (phase A: per batch of files, no writes to the warehouse tables) -----------------


@dataclass(frozen=True)
class FileContext:
    """Everything a batch check needs besides the connection."""

    contract: Contract
    mapping: Mapping
    sentinel_dates: tuple[date, ...]
    parameters: dict[str, Any]
    encoding: str
    gx_sample_rows: int
    seed: int
    data_docs: bool = True


def _require_columns(path: Path, context: FileContext, headers: list[str]) -> tuple[Any, list[str]]:
    source_mapping = context.mapping.for_source(context.contract.source)
    resolved = resolve(source_mapping, headers)
    for column in context.contract.columns:
        if not column.required:
            continue
        present = column.name in resolved.columns if not column.is_list else column.name in resolved.lists
        if not present:
            accepted = expected_headers(source_mapping, column.name)
            close = difflib.get_close_matches(accepted.split(" or ")[0], resolved.unmapped, n=1, cutoff=0.6)
            got = f"no such column (did you mean {close[0]!r}?)" if close else "no such column"
            raise InputError(path, column.name, f"column {accepted} (mapping {context.mapping.name})", got=got)
    return resolved, resolved.unmapped


def _register_files(con: duckdb.DuckDBPyConnection, loads: list[FileLoad]) -> None:
    """Temp table ``_files``: each file's load id, delivery and order (delivery, then file name)."""
    ordered = sorted(loads, key=lambda x: (x.delivery, x.file.name))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _files AS SELECT unnest($f) AS _file, unnest($d) AS _delivery, "
        "unnest($l) AS _load_id, CAST(unnest($o) AS INTEGER) AS _ord",
        {
            "f": [str(x.file) for x in ordered],
            "d": [x.delivery for x in ordered],
            "l": [x.load_id for x in ordered],
            "o": list(range(len(ordered))),
        },
    )


def check_batch(
    con: duckdb.DuckDBPyConnection,
    loads: list[FileLoad],
    context: FileContext,
    raw_types: dict[str, str],
    resolved: Any,
    first: bool,
) -> None:
    """Type, normalise and check the rows of ``_raw`` (files of ``loads``, one header) in one query.

    Appends to temp tables ``_checked`` (every row, ``_reason`` set where a file-local rule failed:
    the first error rule, ``duplicate_row`` or ``duplicate_key`` within its file) and ``_records``
    (the raw record of each failing row, NHS numbers masked, for the quarantine).
    """
    contract = context.contract
    compiled = compile_checks(
        contract,
        contracts.load_suite(contract.source),
        context.mapping,
        context.mapping.for_source(contract.source),
        resolved,
        raw_types,
        "_raw",
        context.sentinel_dates,
        context.parameters,
    )
    key = [ident(k) for k in contract.key]
    select = f"""
        SELECT f._delivery, f._load_id, f._ord, x.*,
            CASE WHEN _has_error THEN list_filter(_checks, lambda c: c.severity = 'error')[1].rule END AS _reason,
            false AS _dropped, CAST(0 AS BIGINT) AS _replaces
        FROM (
            SELECT *, len(list_filter(_checks, lambda c: c.severity = 'error')) > 0 AS _has_error
            FROM ({compiled.sql})
        ) x JOIN _files f USING (_file)"""
    if first:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _checked AS {select}", compiled.params)
    else:
        con.execute(f"INSERT INTO _checked BY NAME {select}", compiled.params)
    ids = {"ids": [x.load_id for x in loads]}
    keys = ", ".join(key)
    on = " AND ".join(f"c.{k} = r.{k}" for k in ["_file", *key])
    # Duplicates within a file: one cheap pass finds the (file, key) groups with more than one
    # valid row; only those rows get the window that tells identical rows from conflicting ones.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _repeated AS SELECT _file, {keys} FROM _checked "
        "WHERE NOT _has_error AND list_contains($ids, _load_id) GROUP BY ALL HAVING count(*) > 1",
        ids,
    )
    repeated = con.execute("SELECT count(*) FROM _repeated").fetchone()
    if repeated and repeated[0]:
        partition = ", ".join(["_file", *key])
        spread = f"min(_row_hash) OVER (PARTITION BY {partition}) <> max(_row_hash) OVER (PARTITION BY {partition})"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _dups AS
            SELECT _file, _row_number,
                CASE WHEN row_number() OVER (PARTITION BY {partition}, _row_hash ORDER BY _row_number) > 1
                          THEN 'duplicate_row'
                     WHEN {spread} THEN 'duplicate_key'
                END AS _reason
            FROM (SELECT c._file, c._row_number, {", ".join("c." + k for k in key)},
                         hash({", ".join("c." + ident(c) for c in compiled.data_columns)}) AS _row_hash
                  FROM _checked c SEMI JOIN _repeated r ON {on}
                  WHERE NOT c._has_error AND list_contains($ids, c._load_id))""",
            ids,
        )
        con.execute(
            "UPDATE _checked c SET _reason = d._reason FROM _dups d "
            "WHERE d._reason IS NOT NULL AND c._file = d._file AND c._row_number = d._row_number"
        )
        con.execute("DROP TABLE _dups")
    con.execute("DROP TABLE _repeated")
    masked = ", ".join(
        f"{_sql_text(c)}, CASE WHEN {nhs_number_sql('r.' + ident(c))} THEN '{MASK}' "
        f"ELSE CAST(r.{ident(c)} AS VARCHAR) END"
        for c in raw_types
    )
    # Only files with a failing row are read again (a filter on the file name skips the others).
    failing = [
        str(row[0])
        for row in con.execute(
            "SELECT DISTINCT _file FROM _checked WHERE _reason IS NOT NULL AND list_contains($ids, _load_id)", ids
        ).fetchall()
    ]
    records = (
        f"SELECT r._file, r._row_number, json_object({masked}) AS _record FROM _raw r "
        "SEMI JOIN (SELECT _file, _row_number FROM _checked WHERE _reason IS NOT NULL) q "
        "ON q._file = r._file AND q._row_number = r._row_number "
        f"WHERE {'r._file IN (' + ', '.join(_sql_text(f) for f in failing) + ')' if failing else 'false'}"
    )
    if first:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _records AS {records}")
    else:
        con.execute(f"INSERT INTO _records {records}")
    if context.data_docs and context.gx_sample_rows > 0:
        _sample_for_gx(con, contract, compiled.data_columns, context, [x.load_id for x in loads])


def _sample_for_gx(
    con: duckdb.DuckDBPyConnection, contract: Contract, columns: list[str], context: FileContext, load_ids: list[str]
) -> None:
    target = f"_gx_{contract.source}"
    # The sample is drawn on row ids of this batch only (a subquery, so the filter comes first),
    # and only the sampled rows are then read in full.
    select = (
        f"SELECT {', '.join(ident(c) for c in columns)}, list_transform(_checks, lambda x: x.rule) AS _rules "
        "FROM _checked WHERE rowid IN (SELECT rowid FROM (SELECT rowid FROM _checked WHERE list_contains($ids, "
        f"_load_id)) USING SAMPLE reservoir({int(context.gx_sample_rows)} ROWS) REPEATABLE ({int(context.seed)}))"
    )
    if db.table_exists(con, target):
        con.execute(f"INSERT INTO {target} {select}", {"ids": load_ids})
    else:
        con.execute(f"CREATE TEMP TABLE {target} AS {select}", {"ids": load_ids})


# --- applying (phase B: one transaction, set-based over every checked delivery of a source) ---


def apply_checked(
    con: duckdb.DuckDBPyConnection, contract: Contract, deliveries: list[str], pending: list[str]
) -> dict[str, dict[str, Any]]:
    """Replace ``deliveries`` in the staging table and quarantine with the rows in ``_checked``.

    Runs inside the caller's transaction. Semantics, identical whether the deliveries come in one
    batch or one at a time in delivery order: a delivery's earlier rows and quarantine rows are
    removed; a valid row whose key is held by a later delivery already loaded (and not itself
    about to be replaced, ``pending``) is quarantined as ``superseded_by_newer_delivery``; of the
    valid rows sharing a key, the one from the latest (delivery, file) is kept and replaces the
    others and any older loaded copy (``rows_replaced`` counts them on the replacing file).
    Returns per load id: reasons, loaded, flagged and replaced counts.
    """
    table = contract.table
    key = [ident(k) for k in contract.key]
    keys = ", ".join(key)
    match = " AND ".join(f"s.{k} = c.{k}" for k in key)
    gone = list(dict.fromkeys([*deliveries, *pending]))
    con.execute(f"DELETE FROM {table} WHERE list_contains($d, _delivery)", {"d": deliveries})
    con.execute(
        "DELETE FROM quarantine WHERE source = $s AND list_contains($d, delivery)",
        {"s": contract.source, "d": deliveries},
    )
    earliest = min(deliveries)
    newer = con.execute(
        f"SELECT count(*) FROM {table} WHERE _delivery > $d AND NOT list_contains($g, _delivery)",
        {"d": earliest, "g": gone},
    ).fetchone()
    if newer and newer[0]:
        con.execute(
            f"UPDATE _checked c SET _reason = 'superseded_by_newer_delivery' WHERE _reason IS NULL AND EXISTS "
            f"(SELECT 1 FROM {table} s WHERE {match} AND s._delivery > c._delivery "
            "AND NOT list_contains($g, s._delivery))",
            {"g": gone},
        )
    # Keys given by more than one valid row of the batch: the latest wins, each replaces its predecessor.
    multi = con.execute(
        f"SELECT count(*) FROM (SELECT {keys} FROM _checked WHERE _reason IS NULL GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    if multi and multi[0]:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _chain AS
            SELECT _file, _row_number,
                   row_number() OVER (PARTITION BY {keys} ORDER BY _delivery DESC, _ord DESC) > 1 AS _dropped,
                   row_number() OVER (PARTITION BY {keys} ORDER BY _delivery, _ord) > 1 AS _has_predecessor
            FROM _checked WHERE _reason IS NULL AND ({keys}) IN (
                SELECT ({keys}) FROM _checked WHERE _reason IS NULL GROUP BY ALL HAVING count(*) > 1)"""
        )
        con.execute(
            "UPDATE _checked c SET _dropped = h._dropped, _replaces = CAST(h._has_predecessor AS BIGINT) "
            "FROM _chain h WHERE c._file = h._file AND c._row_number = h._row_number"
        )
        con.execute("DROP TABLE _chain")
    # Older loaded copies of the batch's keys: each is replaced by the earliest batch row with its key.
    old = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    replaced_old: dict[str, int] = {}
    if old and old[0]:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _old AS
            SELECT s.rowid AS _rid, arg_min(c._load_id, (c._delivery, c._ord)) AS _load_id
            FROM {table} s JOIN (SELECT {keys}, _load_id, _delivery, _ord FROM _checked WHERE _reason IS NULL) c
                 ON {match} AND s._delivery < c._delivery
            GROUP BY s.rowid"""
        )
        replaced_old = {
            str(k): int(n) for k, n in con.execute("SELECT _load_id, count(*) FROM _old GROUP BY ALL").fetchall()
        }
        if replaced_old:
            con.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT _rid FROM _old)")
        con.execute("DROP TABLE _old")
    data = ", ".join(ident(c) for c in contract.column_names)
    con.execute(
        f"""INSERT INTO {table}
        SELECT {data}, _load_id, _file, _row_number, _delivery,
               CASE WHEN len(_checks) = 0 THEN _sentinel_flags ELSE _sentinel_flags
                    || list_transform(list_filter(_checks, lambda x: x.severity = 'warn'), lambda x: x.rule) END,
               _raw_values
        FROM _checked WHERE _reason IS NULL AND NOT _dropped"""
    )
    first_failure = "list_filter(q._checks, lambda x: x.severity = 'error')[1]"
    canonical = "to_json({" + ", ".join(f"'{c}': q.{ident(c)}" for c in contract.column_names) + "})"
    con.execute(
        f"""INSERT INTO quarantine
        SELECT q._load_id, $source, q._delivery, q._file, q._row_number,
               CASE WHEN q._has_error THEN {first_failure}.field ELSE '{contract.key[0]}' END,
               q._reason,
               CASE WHEN q._has_error THEN
                    CASE WHEN {nhs_number_sql(first_failure + ".value")} THEN '{MASK}' ELSE {first_failure}.value END
                    ELSE CAST(q.{key[0]} AS VARCHAR) END,
               to_json(list_transform(q._checks, lambda x: {{'rule': x.rule, 'field': x.field, 'severity': x.severity,
                   'value': CASE WHEN {nhs_number_sql("x.value")} THEN '{MASK}' ELSE x.value END}})),
               coalesce(r._record, {canonical}),
               current_timestamp
        FROM (SELECT * FROM _checked WHERE _reason IS NOT NULL) q
        LEFT JOIN _records r ON r._file = q._file AND r._row_number = q._row_number""",
        {"source": contract.source},
    )
    counts = con.execute(
        "SELECT _load_id, _reason, count(*), count(*) FILTER (WHERE len(_sentinel_flags) > 0 OR "
        "len(list_filter(_checks, lambda x: x.severity = 'warn')) > 0), sum(_replaces) FROM _checked GROUP BY ALL"
    ).fetchall()
    result: dict[str, dict[str, Any]] = {}
    for load_id, reason, n, flagged, replaces in counts:
        entry = result.setdefault(str(load_id), {"reasons": {}, "loaded": 0, "flagged": 0, "replaced": 0})
        if reason is None:
            entry["loaded"] += int(n)
            entry["flagged"] += int(flagged)
            entry["replaced"] += int(replaces or 0)
        else:
            entry["reasons"][str(reason)] = int(n)
    for load_id, n in replaced_old.items():
        result.setdefault(load_id, {"reasons": {}, "loaded": 0, "flagged": 0, "replaced": 0})["replaced"] += n
    return result


def _finish_loads(loads: list[FileLoad], counts: dict[str, dict[str, Any]]) -> None:
    """Fill in each file's counts and check the accounting invariant."""
    for load in loads:
        entry = counts.get(load.load_id, {"reasons": {}, "loaded": 0, "flagged": 0, "replaced": 0})
        load.rows_loaded = entry["loaded"]
        load.rows_flagged = entry["flagged"]
        load.rows_replaced = entry["replaced"]
        load.quarantined = dict(sorted(entry["reasons"].items(), key=lambda kv: -kv[1]))
        load.outcome = "loaded"
        load.finished_at = datetime.now()
        if load.rows_read != load.rows_loaded + load.rows_quarantined:  # the accounting invariant, never expected
            raise StageError(
                f"{load.file}: rows read {load.rows_read} != loaded {load.rows_loaded} "
                f"+ quarantined {load.rows_quarantined}"
            )


# --- deliveries ------------------------------------------------------------------------------


def _new_loads(delivery: Delivery, mapping: str) -> tuple[list[FileLoad], str]:
    digests = [(path, checksum(path)) for path in delivery.files]
    fingerprint = _fingerprint([(p.name, d) for p, d in digests], mapping)
    loads = [
        FileLoad(uuid.uuid4().hex[:16], delivery.source, delivery.label, path, digest, mapping, datetime.now())
        for path, digest in digests
    ]
    return loads, fingerprint


def _reject(loads: list[FileLoad], bad: FileLoad, error: InputError) -> None:
    """The delivery of ``bad`` is not loaded: ``bad`` is rejected, its other files are not loaded."""
    for load in loads:
        if load.delivery != bad.delivery:
            continue
        load.rows_read = load.rows_loaded = load.rows_replaced = load.rows_flagged = 0
        load.quarantined = {}
        load.finished_at = datetime.now()
        if load is bad:
            load.outcome, load.error = "rejected", str(error)
        elif load.outcome != "rejected":
            load.outcome, load.error = "not_loaded", f"delivery rolled back: {error}"


@dataclass
class Batch:
    """The changed deliveries of one source, checked together (phase A)."""

    source: str
    loads: list[FileLoad]
    fingerprints: dict[str, str]
    failures: list[InputError] = field(default_factory=list)

    def accepted(self) -> list[FileLoad]:
        """Files of deliveries with no rejected file."""
        bad = {x.delivery for x in self.loads if x.outcome in {"rejected", "not_loaded"}}
        return [x for x in self.loads if x.delivery not in bad]


def _check_group(
    con: duckdb.DuckDBPyConnection,
    group: list[FileLoad],
    context: FileContext,
    raw_types: dict[str, str],
    resolved: Any,
    first: bool,
) -> None:
    """Count and check the rows of ``_raw`` (the files of ``group``)."""
    _register_files(con, group)
    read = dict(con.execute("SELECT _file, count(*) FROM _raw GROUP BY ALL").fetchall())
    for load in group:
        load.rows_read = int(read.get(str(load.file), 0))
    check_batch(con, group, context, raw_types, resolved, first)


def check_deliveries(
    con: duckdb.DuckDBPyConnection, deliveries: list[Delivery], context: FileContext, batch: Batch
) -> bool:
    """Phase A for the changed deliveries of one source.

    File-level checks per file (header or footer only), then one read and one checking query per
    group of files sharing a header. Fills ``_checked``/``_records``; False when nothing is left to load.
    """

    def reject(load: FileLoad, error: InputError) -> None:
        _reject(batch.loads, load, error)
        batch.failures.append(error)

    schemas: dict[tuple[tuple[str, str], ...], list[FileLoad]] = {}
    for load in batch.loads:
        if load.delivery in {x.delivery for x in batch.loads if x.outcome == "rejected"}:
            continue
        try:
            raw_types = file_schema(con, load.file, context.encoding)
            resolved, load.unmapped = _require_columns(load.file, context, list(raw_types))
        except InputError as error:
            reject(load, error)
            continue
        schemas.setdefault(tuple(raw_types.items()), []).append(load)
    first = True
    for signature, group in schemas.items():
        group = [x for x in group if x in batch.accepted()]
        if not group:
            continue
        raw_types = dict(signature)
        resolved, _ = _require_columns(group[0].file, context, list(raw_types))
        try:
            read_files(con, [x.file for x in group], raw_types, context.encoding, lazy=True)
            _check_group(con, group, context, raw_types, resolved, first)
        except (InputError, duckdb.Error) as error:
            failed = _locate_read_failures(con, [x.file for x in group], raw_types, context.encoding)
            if not failed:
                if isinstance(error, InputError):
                    raise StageError(f"{group[0].file}: reading {len(group)} files failed: {error}") from error
                raise  # every file reads: the failure is not the input's
            for load in group:
                if load.file in failed:
                    reject(load, failed[load.file])
            group = [x for x in group if x in batch.accepted()]
            if not group:
                continue
            read_files(con, [x.file for x in group], raw_types, context.encoding)
            _check_group(con, group, context, raw_types, resolved, first)
        first = False
    drop_raw(con)
    if not first:
        # Rows of deliveries rejected after their group was checked are not loaded.
        keep = [x.load_id for x in batch.accepted()]
        con.execute("DELETE FROM _checked WHERE NOT list_contains($k, _load_id)", {"k": keep})
    return not first and bool(batch.accepted())


# --- tables ----------------------------------------------------------------------------------


def staging_ddl(contract: Contract) -> str:
    """CREATE TABLE statement for a source's staging table."""
    columns = ", ".join(f"{ident(name)} {contract.type_of(name)}" for name in contract.column_names)
    return f"CREATE TABLE IF NOT EXISTS {contract.table} ({columns}, {METADATA_DDL})"


def ensure_tables(con: duckdb.DuckDBPyConnection, sources: list[str] | tuple[str, ...] = SOURCES) -> None:
    """Create the staging, quarantine and audit tables when missing."""
    for source in sources:
        con.execute(staging_ddl(contracts.load_contract(source)))
    con.execute(LOAD_AUDIT_DDL)
    con.execute(QUARANTINE_DDL)


def _fingerprint(files: list[tuple[str, str]], mapping: str) -> str:
    text = mapping + "|" + "|".join(f"{name}:{digest}" for name, digest in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- GX and Data Docs ------------------------------------------------------------------------


class DataDocs:
    """GX validation of each source's checked rows (a bounded sample) into the Data Docs site.

    GX works in one background thread, started with the stage: its import (seconds) and its pandas
    validation of one source overlap DuckDB's checking and loading of the next, since DuckDB
    releases the GIL while a query runs. A GX failure is reported as a warning, never undoes a load.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.parameters = _context(settings, SOURCES[0]).parameters
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gx")
        self._runner: Future[GxRunner] = self._pool.submit(self._start)
        self._jobs: list[tuple[str, dict[str, int], Future[SuiteOutcome]]] = []

    def _start(self) -> GxRunner:
        from popheath.quality.gx_suites import GxRunner

        return GxRunner(self.settings.paths.outputs / "data_docs")

    def submit(self, con: duckdb.DuckDBPyConnection, source: str, run_id: str) -> None:
        """Hand the source's sample (temp table ``_gx_<source>``, if any) to GX and drop the table."""
        table = f"_gx_{source}"
        if not db.table_exists(con, table):
            return
        limit = int(self.settings.ingest.gx_sample_rows)
        total = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
        sampled = total > limit
        rows = (
            f"(SELECT * FROM {table} USING SAMPLE reservoir({limit} ROWS) REPEATABLE ({int(self.settings.seed)}))"
            if sampled
            else table
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gx_frame AS SELECT * FROM {rows}")
        sql_counts = dict(
            con.execute(
                "SELECT r, count(*) FROM (SELECT unnest(list_distinct(_rules)) AS r FROM _gx_frame) GROUP BY r"
            ).fetchall()
        )
        contract = contracts.load_contract(source)
        frame = con.execute(f"SELECT {', '.join(ident(c) for c in contract.column_names)} FROM _gx_frame").df()
        con.execute(f"DROP TABLE {table}")
        con.execute("DROP TABLE _gx_frame")
        self._jobs.append((source, sql_counts, self._pool.submit(self._validate, source, frame, sampled, run_id)))

    def _validate(self, source: str, frame: Any, sampled: bool, run_id: str) -> SuiteOutcome:
        runner = self._runner.result()
        return runner.validate(source, contracts.load_suite(source), frame, self.parameters, sampled, run_id)

    def finish(self) -> tuple[Path | None, list[str]]:
        """Wait for GX; return the Data Docs index (None when nothing was validated) and warnings."""
        warnings: list[str] = []
        try:
            for source, sql_counts, job in self._jobs:
                outcome = job.result()
                warnings += _cross_check(source, outcome, sql_counts)
                log.info(
                    "GX %s: validated %d rows%s: %s",
                    source,
                    outcome.rows_validated,
                    " (a sample)" if outcome.sampled else "",
                    "every expectation met" if outcome.success else "some rows fail expectations (see the Data Docs)",
                )
            index = self._runner.result().build_docs() if self._jobs else None
        except PopheathError:
            raise
        except Exception as error:  # noqa: BLE001 - the load is committed; report, do not undo it
            log.warning("Great Expectations validation failed: %s", error)
            return None, [f"Great Expectations validation failed: {_first_line(error)}"]
        finally:
            self._pool.shutdown(wait=True)
        return index, warnings


def _cross_check(source: str, outcome: SuiteOutcome, sql_counts: dict[str, int]) -> list[str]:
    """GX's unexpected counts against the load's SQL on the same rows (row rules only)."""
    warnings = []
    for item in outcome.expectations:
        if item.unexpected_count is None or item.expectation_type in {
            "expect_column_values_to_be_unique",
            "expect_compound_columns_to_be_unique",
        }:
            continue
        if int(item.unexpected_count) != int(sql_counts.get(item.rule, 0)):
            warnings.append(
                f"{source}: GX counts {item.unexpected_count} rows failing {item.rule}, the load's SQL "
                f"{sql_counts.get(item.rule, 0)} (check the suite's compiled form)"
            )
    return warnings


def _start_docs(settings: Settings) -> DataDocs | None:
    return DataDocs(settings) if settings.ingest.data_docs else None


# --- the stage -------------------------------------------------------------------------------


def _audit_rows(loads: list[FileLoad], run_id: str, fingerprints: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "load_id": x.load_id,
            "run_id": run_id,
            "source": x.source,
            "delivery": x.delivery,
            "file": str(x.file),
            "checksum": x.checksum,
            "mapping": x.mapping,
            "rows_read": x.rows_read,
            "rows_loaded": x.rows_loaded,
            "rows_quarantined": x.rows_quarantined,
            "quarantined_by_reason": json.dumps(x.quarantined),
            "rows_replaced": x.rows_replaced,
            "rows_flagged": x.rows_flagged,
            "unmapped_columns": list(x.unmapped),
            "started_at": x.started_at,
            "finished_at": x.finished_at or datetime.now(),
            "outcome": x.outcome,
            "error": x.error,
            "delivery_fingerprint": fingerprints.get(x.delivery, ""),
        }
        for x in loads
    ]


def _write_audit(
    con: duckdb.DuckDBPyConnection, loads: list[FileLoad], run_id: str, fingerprints: dict[str, str]
) -> None:
    """Append one ``load_audit`` row per file, in one statement."""
    rows = _audit_rows(loads, run_id, fingerprints)
    if not rows:
        return
    columns = list(rows[0])
    if len(rows) == 1:
        values = ", ".join("$" + c for c in columns)
        con.execute(f"INSERT INTO load_audit ({', '.join(columns)}) VALUES ({values})", rows[0])
    else:
        con.execute("INSERT INTO load_audit BY NAME SELECT unnest($rows, recursive := true)", {"rows": rows})


def _loaded_fingerprints(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT delivery, arg_max(delivery_fingerprint, finished_at) FROM load_audit "
        "WHERE source = $s AND outcome = 'loaded' GROUP BY delivery",
        {"s": source},
    ).fetchall()
    return {str(d): str(f) for d, f in rows}


def _context(settings: Settings, source: str) -> FileContext:
    mapping = load_mapping(settings.ingest.mapping, settings.paths.mappings)
    max_date = date.today() + timedelta(days=settings.ingest.max_future_days)
    return FileContext(
        contracts.load_contract(source),
        mapping,
        tuple(date.fromisoformat(d) for d in settings.ingest.sentinel_dates),
        {"max_date": max_date.isoformat()},
        settings.ingest.encoding,
        settings.ingest.gx_sample_rows,
        settings.seed,
        settings.ingest.data_docs,
    )


def _plan(
    con: duckdb.DuckDBPyConnection | None, deliveries: list[Delivery], context: FileContext, force: bool
) -> tuple[list[FileLoad], Batch]:
    """Split one source's deliveries into unchanged ones (audit rows only) and a batch to check."""
    source = context.contract.source
    loaded = {} if con is None or force else _loaded_fingerprints(con, source)
    unchanged: list[FileLoad] = []
    batch = Batch(source, [], {})
    for delivery in deliveries:
        loads, fingerprint = _new_loads(delivery, context.mapping.name)
        batch.fingerprints[delivery.label] = fingerprint
        if loaded.get(delivery.label) == fingerprint:
            for load in loads:
                load.outcome, load.finished_at = "unchanged", datetime.now()
            unchanged.extend(loads)
            log.info("%s %s: unchanged since its last load, skipped", source, delivery.label)
        else:
            batch.loads.extend(loads)
    return unchanged, batch


def _load_source(
    con: duckdb.DuckDBPyConnection, deliveries: list[Delivery], context: FileContext, run_id: str, force: bool
) -> tuple[list[FileLoad], list[InputError]]:
    """Load the changed deliveries of one source: check all at once, then apply in one transaction."""
    unchanged, batch = _plan(con, deliveries, context, force)
    _write_audit(con, unchanged, run_id, batch.fingerprints)
    if batch.loads and check_deliveries(con, deliveries, context, batch):
        accepted = batch.accepted()
        with db.transaction(con):
            try:
                counts = apply_checked(con, context.contract, sorted({x.delivery for x in accepted}), [])
            except duckdb.Error as error:
                raise StageError(f"{context.contract.source}: load failed: {_first_line(error)}") from error
            _finish_loads(accepted, counts)
            _write_audit(con, accepted, run_id, batch.fingerprints)
    _write_audit(con, [x for x in batch.loads if x.outcome in {"rejected", "not_loaded"}], run_id, batch.fingerprints)
    return unchanged + batch.loads, batch.failures


def _ingest_connection(settings: Settings, path: Path | None = None) -> duckdb.DuckDBPyConnection:
    return db.connect(settings, path)


def run(
    settings: Settings,
    as_of: date,
    *,
    sources: list[str] | None = None,
    paths: list[Path] | None = None,
    force: bool = False,
) -> StageResult:
    """Load deliveries (all under ``paths.raw``, or ``paths``) into the staging tables; see the module docstring."""
    started = time.perf_counter()
    run_id = new_run_id()
    deliveries = discover(settings.paths.raw, sources, paths)
    console = Console(stderr=True)
    loads: list[FileLoad] = []
    failures: list[InputError] = []
    present = [s for s in SOURCES if any(d.source == s for d in deliveries)]
    con = _ingest_connection(settings)
    docs = _start_docs(settings)
    try:
        ensure_tables(con)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task("ingest", total=len(present))
            for source in present:
                progress.update(task, description=f"ingest {source}")
                mine = [d for d in deliveries if d.source == source]
                done, failed = _load_source(con, mine, _context(settings, source), run_id, force)
                loads.extend(done)
                for failure in failed:
                    log.error("%s", failure)
                failures.extend(failed)
                if docs:
                    docs.submit(con, source, run_id)
                progress.advance(task)
        index, warnings = docs.finish() if docs else (None, [])
    finally:
        con.close()
    return _result(settings, as_of, loads, failures, index, warnings, started, console)


def _result(
    settings: Settings,
    as_of: date,
    loads: list[FileLoad],
    failures: list[InputError] | list[PopheathError],
    docs: Path | None,
    warnings: list[str],
    started: float,
    console: Console,
) -> StageResult:
    for warning in warnings:
        log.warning("%s", warning)
    if loads:
        console.print(summary_table(loads))
    if failures and settings.ingest.fail_on_rejected:
        raise failures[0]
    totals: dict[str, Any] = {
        "files": len(loads),
        "files loaded": sum(1 for x in loads if x.outcome == "loaded"),
        "files unchanged": sum(1 for x in loads if x.outcome == "unchanged"),
        "files rejected": sum(1 for x in loads if x.outcome == "rejected"),
        "rows read": sum(x.rows_read for x in loads),
        "rows loaded": sum(x.rows_loaded for x in loads),
        "rows quarantined": sum(x.rows_quarantined for x in loads),
        "seconds": round(time.perf_counter() - started, 2),
    }
    reasons: Counter[str] = Counter()
    for load in loads:
        reasons.update(load.quarantined)
    if reasons:
        totals["quarantined by reason"] = dict(reasons.most_common())
    return StageResult(
        stage="ingest",
        as_of=as_of,
        summary=totals,
        outputs=(docs,) if docs else (),
        warnings=tuple(warnings + [str(f) for f in failures]),
    )


# --- partitions (Airflow: one mapped task per delivery, one merge) ----------------------------


def list_deliveries(settings: Settings) -> list[str]:
    """Deliveries present under ``paths.raw`` as ``"<source>/<delivery>"``, population first, then by label."""
    return [f"{d.source}/{d.label}" for d in discover(settings.paths.raw)]


def partition_path(settings: Settings, delivery: str) -> Path:
    """Where :func:`ingest_partition` writes ``delivery``: ``<paths.partitions>/ingest/<source>__<delivery>.duckdb``."""
    source, _, label = delivery.partition("/")
    return settings.paths.partitions / "ingest" / f"{source}__{label}.duckdb"


def ingest_partition(settings: Settings, delivery: str) -> Path:
    """Check one delivery (``"apc/2024-07"``) into its own DuckDB file; never writes the warehouse.

    The partition holds the checked rows (``checked``), the raw records of failing rows
    (``records``), the GX sample, one audit row per file (``files``) and ``meta`` (status
    ``checked``, ``unchanged`` or ``rejected``). The warehouse is opened read-only, only to tell an
    unchanged delivery (same fingerprint as its last load) from a new or restated one. The file is
    written under a temporary name and renamed, so a killed task never leaves a partition that
    looks complete. A rejected delivery still writes its partition (so the merge audits it) and
    then raises the file-level error, failing the task with that one line.
    """
    source, _, label = delivery.partition("/")
    if source not in SOURCES or not label:
        raise InputError(delivery, "delivery", "<source>/<delivery>, as listed by list_deliveries")
    found = [d for d in discover(settings.paths.raw, [source]) if d.label == label]
    if not found:
        raise InputError(settings.paths.raw / source / label, None, "a delivery folder with .csv or .parquet files")
    context = _context(settings, source)
    loaded: dict[str, str] = {}
    if settings.paths.warehouse.exists():
        reader = db.connect(settings, read_only=True)
        try:
            if db.table_exists(reader, "load_audit"):
                loaded = _loaded_fingerprints(reader, source)
        finally:
            reader.close()
    _, batch = _plan(None, found, context, force=True)
    fingerprint = batch.fingerprints[label]
    run_id = new_run_id()
    path = partition_path(settings, delivery)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    con = db.connect(settings, partial)
    status, error = "checked", None
    try:
        if loaded.get(label) == fingerprint:
            status = "unchanged"
            for load in batch.loads:
                load.outcome, load.finished_at = "unchanged", datetime.now()
        elif check_deliveries(con, found, context, batch):
            con.execute("CREATE TABLE checked AS SELECT * FROM _checked")
            con.execute("CREATE TABLE records AS SELECT * FROM _records")
            if db.table_exists(con, f"_gx_{source}"):
                con.execute(f"CREATE TABLE gx_sample AS SELECT * FROM _gx_{source}")
        else:
            status, error = "rejected", str(batch.failures[0])
        rows = _audit_rows(batch.loads, run_id, batch.fingerprints)
        con.execute("CREATE TABLE files AS SELECT unnest($rows, recursive := true)", {"rows": rows})
        con.execute(
            "CREATE TABLE meta AS SELECT $source AS source, $delivery AS delivery, $fp AS fingerprint, "
            "$status AS status, $error AS error, $run_id AS run_id",
            {
                "source": source,
                "delivery": label,
                "fp": fingerprint,
                "status": status,
                "error": error,
                "run_id": run_id,
            },
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    path.unlink(missing_ok=True)
    partial.rename(path)
    log.info("%s: partition %s (%s)", delivery, path, status)
    if status == "rejected" and settings.ingest.fail_on_rejected:
        raise batch.failures[0]
    return path


def _loads_from_rows(rows: list[tuple[Any, ...]], columns: list[str]) -> list[FileLoad]:
    loads = []
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        load = FileLoad(
            str(row["load_id"]),
            str(row["source"]),
            str(row["delivery"]),
            Path(str(row["file"])),
            str(row["checksum"]),
            str(row["mapping"]),
            row["started_at"],
            rows_read=int(row["rows_read"]),
            unmapped=list(row["unmapped_columns"] or []),
            finished_at=row["finished_at"],
            outcome=str(row["outcome"]),
            error=row["error"],
        )
        loads.append(load)
    return loads


def merge_partitions(settings: Settings, partitions: list[Path], as_of: date) -> StageResult:
    """Merge partitions from :func:`ingest_partition` into the warehouse; the same result as :func:`run`.

    Partitions are merged in source and delivery order, one transaction each: that delivery's rows
    are replaced in the staging table and quarantine (with the cross-delivery rules of
    :func:`apply_checked`; deliveries still to be merged in this call count as about to be replaced)
    and its audit rows appended. A partition whose run id is already in ``load_audit`` was merged
    before and is skipped, so merging twice changes nothing. GX and Data Docs run once at the end;
    merged partition files are then deleted.
    """
    started = time.perf_counter()
    console = Console(stderr=True)
    loads: list[FileLoad] = []
    failures: list[PopheathError] = []
    merged: list[Path] = []
    con = db.connect(settings)
    docs = _start_docs(settings)
    try:
        ensure_tables(con)
        metas: list[tuple[Path, tuple[Any, ...]]] = []
        for path in partitions:
            path = Path(path)
            if not path.exists():
                log.warning("%s: no such partition (already merged?), skipped", path)
                continue
            _attach(con, path)
            try:
                meta = con.execute(
                    "SELECT source, delivery, fingerprint, status, error, run_id FROM part.meta"
                ).fetchone()
            finally:
                con.execute("DETACH part")
            if meta is None:
                raise StageError(f"{path}: partition has no meta row")
            metas.append((path, meta))
        metas.sort(key=lambda m: (SOURCES.index(str(m[1][0])), str(m[1][1])))
        run_ids: list[str] = []
        for index, (path, (source, label, fingerprint, status, error, run_id)) in enumerate(metas):
            pending = [str(m[1][1]) for m in metas[index + 1 :] if m[1][0] == source and m[1][3] == "checked"]
            done = con.execute(
                "SELECT count(*) FROM load_audit WHERE run_id = $r AND source = $s AND delivery = $d",
                {"r": run_id, "s": source, "d": label},
            ).fetchone()
            if done and done[0]:
                log.info("%s %s: partition already merged, skipped", source, label)
                merged.append(path)
                continue
            _attach(con, path)
            try:
                cursor = con.execute("SELECT * FROM part.files")
                columns = [d[0] for d in cursor.description or []]
                mine = _loads_from_rows(cursor.fetchall(), columns)
                fingerprints = {str(label): str(fingerprint)}
                if status == "checked":
                    con.execute("CREATE OR REPLACE TEMP TABLE _checked AS SELECT * FROM part.checked")
                    con.execute("CREATE OR REPLACE TEMP TABLE _records AS SELECT * FROM part.records")
                    with db.transaction(con):
                        counts = apply_checked(con, contracts.load_contract(str(source)), [str(label)], pending)
                        _finish_loads(mine, counts)
                        _write_audit(con, mine, str(run_id), fingerprints)
                    if settings.ingest.data_docs and _part_has(con, "gx_sample"):
                        target = f"_gx_{source}"
                        if db.table_exists(con, target):
                            con.execute(f"INSERT INTO {target} SELECT * FROM part.gx_sample")
                        else:
                            con.execute(f"CREATE TEMP TABLE {target} AS SELECT * FROM part.gx_sample")
                else:
                    _write_audit(con, mine, str(run_id), fingerprints)
                    if status == "rejected":
                        failures.append(StageError(str(error)))
                        log.error("%s", error)
            finally:
                con.execute("DETACH part")
            loads.extend(mine)
            run_ids.append(str(run_id))
            merged.append(path)
        docs_index: Path | None = None
        warnings: list[str] = []
        if docs:
            for source in SOURCES:
                docs.submit(con, source, run_ids[0] if run_ids else "merge")
            docs_index, warnings = docs.finish()
    finally:
        con.close()
    for path in merged:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    return _result(settings, as_of, loads, failures, docs_index, warnings, started, console)


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute(f"ATTACH {_sql_text(str(path))} AS part (READ_ONLY)")


def _part_has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'part' AND table_name = $n", {"n": name}
    ).fetchone()
    return bool(found and found[0])


def summary_table(loads: list[FileLoad]) -> Table:
    """Per source: files, rows read, loaded, quarantined (with reasons), rejected files."""
    table = Table(title="ingest")
    for heading in ("source", "files", "read", "loaded", "quarantined", "by reason", "rejected"):
        table.add_column(
            heading, justify="right" if heading in {"files", "read", "loaded", "quarantined", "rejected"} else "left"
        )
    for source in SOURCES:
        mine = [load for load in loads if load.source == source]
        if not mine:
            continue
        reasons: Counter[str] = Counter()
        for load in mine:
            reasons.update(load.quarantined)
        table.add_row(
            source,
            str(len(mine)),
            f"{sum(x.rows_read for x in mine):,}",
            f"{sum(x.rows_loaded for x in mine):,}",
            f"{sum(x.rows_quarantined for x in mine):,}",
            ", ".join(f"{r} {n:,}" for r, n in reasons.most_common(6)) + (" ..." if len(reasons) > 6 else ""),
            str(sum(1 for x in mine if x.outcome == "rejected")),
        )
    return table


def show_quarantine(settings: Settings, source: str | None, limit: int, console: Console) -> None:
    """Print quarantine counts by source and rule, then the first ``limit`` rows (NHS numbers are already masked)."""
    if not settings.paths.warehouse.exists():
        raise StageError(f"{settings.paths.warehouse}: no warehouse yet: run popheath ingest first")
    con = db.connect(settings, read_only=True)
    try:
        if not db.table_exists(con, "quarantine"):
            raise StageError("no quarantine table: run popheath ingest first")
        where, params = ("WHERE source = $source", {"source": source}) if source else ("", {})
        counts = con.execute(
            f"SELECT source, rule, count(*) AS n FROM quarantine {where} GROUP BY ALL ORDER BY source, n DESC", params
        ).fetchall()
        summary = Table(title="quarantine by rule")
        for heading in ("source", "rule", "rows"):
            summary.add_column(heading)
        for src, rule, n in counts:
            summary.add_row(src, rule, f"{n:,}")
        console.print(summary)
        rows = con.execute(
            f"SELECT source, delivery, file, row_number, field, rule, value FROM quarantine {where} "
            "ORDER BY source, delivery, file, row_number LIMIT $limit",
            {**params, "limit": int(limit)},
        ).fetchall()
        detail = Table(title=f"first {len(rows)} quarantined rows")
        for heading in ("source", "delivery", "file", "row", "field", "rule", "value"):
            detail.add_column(heading)
        for src, delivery, file, row, fld, rule, value in rows:
            detail.add_row(
                src, delivery, Path(file).name, str(row), fld or "", rule, "" if value is None else str(value)
            )
        console.print(detail)
    finally:
        con.close()


def floor_seconds(files: list[Path], settings: Settings | None = None) -> float:
    """Seconds for a plain DuckDB read of ``files`` into tables with no validation: the benchmark's floor.

    Each file is read with DuckDB's defaults (CSV sniffed, Parquet as stored) into a table of an
    in-memory database with the same memory and thread limits as the warehouse.
    """
    con = duckdb.connect()
    if settings is not None:
        con.execute(f"SET memory_limit = '{settings.duckdb.memory_limit}'")
        con.execute(f"SET threads = {int(settings.duckdb.threads)}")
    started = time.perf_counter()
    try:
        for index, path in enumerate(files):
            reader = "read_parquet" if path.suffix.lower() == ".parquet" else "read_csv"
            con.execute(f"CREATE TABLE floor_{index} AS SELECT * FROM {reader}($path)", {"path": str(path)})
    finally:
        con.close()
    return time.perf_counter() - started
