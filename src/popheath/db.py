"""The one place that opens DuckDB and runs the SQL files under ``sql/``.

SQL files hold one statement each and take named parameters (``$as_of``); values are never
formatted into SQL text. Layers are folders ``sql/NN_layer/`` (marts one folder deeper, ``sql/40_marts/<mart>/``), each
run in file-name order (``NN_name.sql``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from popheath.config import PROJECT_ROOT, Settings
from popheath.errors import StageError

log = logging.getLogger(__name__)

SQL_ROOT = PROJECT_ROOT / "sql"
# The linked-activity layer (``linked_records``): the one rule for which links reach a person, read by
# clinical logic and costing alike; every reader (re)creates it before use, so it matches the code.
LINKED_ACTIVITY_LAYER = "10_staging/linked"
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def connect(settings: Settings, path: Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (or ``path``) with the memory and thread limits from settings."""
    target = path or settings.paths.warehouse
    if not read_only:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(target), read_only=read_only)
        _check_not_truncated(con, target)
    except duckdb.Error as error:
        raise StageError(f"{target}: cannot open DuckDB database: {error}".splitlines()[0]) from error
    con.execute(f"SET memory_limit = '{settings.duckdb.memory_limit}'")
    con.execute(f"SET threads = {int(settings.duckdb.threads)}")
    if settings.paths.spill is not None:
        settings.paths.spill.mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = $d", {"d": str(settings.paths.spill)})
    con.execute("SET preserve_insertion_order = false")
    return con


# A DuckDB file starts with three 4 KiB headers, then the blocks (storage format of DuckDB 1.x/2.x).
_HEADER_BYTES = 3 * 4096


def _check_not_truncated(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    """Fail at open, not half-way through a stage, when the file is shorter than its own block count.

    A truncated file (disk full during a copy, a partial restore) otherwise opens and fails only when
    a missing block is read, or never if the stage does not read it.
    """
    if not target.is_file():
        return
    row = con.execute(
        "SELECT block_size, used_blocks FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchone()
    if row is None:
        return
    # Each used block sits at its own index, so an intact file is at least this long (free blocks at
    # the end may have been cut off by DuckDB itself, so the total block count is no lower bound).
    expected = _HEADER_BYTES + int(row[0]) * int(row[1])
    actual = target.stat().st_size
    if actual < expected:
        con.close()
        raise StageError(
            f"{target}: damaged DuckDB database: {actual:,} bytes but its {int(row[1]):,} used blocks need {expected:,}"
            " (truncated?); restore it from a backup or rebuild it by rerunning the stages"
        )


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block atomically: commit on success, roll back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def parameters_of(sql: str) -> set[str]:
    """Named parameters (``$name``) used by a statement, ignoring comments."""
    return set(_PARAMETER.findall(_COMMENT.sub("", sql)))


def execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Execute one statement, passing only the named parameters it uses."""
    wanted = parameters_of(sql)
    supplied = dict(params or {})
    missing = wanted - set(supplied)
    if missing:
        raise StageError(f"SQL needs parameter(s) {', '.join(sorted(missing))}")
    return con.execute(sql, {name: supplied[name] for name in wanted} if wanted else None)


@dataclass(frozen=True)
class SqlTiming:
    """How long one SQL file took."""

    file: str
    seconds: float


def run_file(con: duckdb.DuckDBPyConnection, path: Path, params: Mapping[str, Any] | None = None) -> SqlTiming:
    """Run one SQL file; errors name the file."""
    started = time.perf_counter()
    try:
        execute(con, path.read_text(encoding="utf-8"), params)
    except duckdb.Error as error:
        raise StageError(f"{path}: {error}") from error
    timing = SqlTiming(path.name, time.perf_counter() - started)
    log.debug("ran %s in %.2fs", path.name, timing.seconds)
    return timing


def sql_path(name: str) -> Path:
    """A SQL file or folder under ``sql/`` by its relative name, e.g. ``40_marts/costing``."""
    return SQL_ROOT / name


def layer_files(layer: str) -> list[Path]:
    """SQL files of a layer folder (``20_clinical``, or a mart such as ``40_marts/lists``) in run order."""
    folder = SQL_ROOT / layer
    if not folder.is_dir():
        raise StageError(f"{folder}: no such SQL layer")
    return sorted(folder.glob("*.sql"))


def run_layer(con: duckdb.DuckDBPyConnection, layer: str, params: Mapping[str, Any] | None = None) -> list[SqlTiming]:
    """Run every file of a layer in order and return their timings."""
    return [run_file(con, path, params) for path in layer_files(layer)]


def run_named(
    con: duckdb.DuckDBPyConnection, layer: str, name: str, params: Mapping[str, Any] | None = None
) -> SqlTiming:
    """Run one named file of a layer, for stages that run a layer's files one by one (e.g. linkage)."""
    path = SQL_ROOT / layer / name
    if not path.is_file():
        raise StageError(f"{path}: no such SQL file")
    return run_file(con, path, params)


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a table or view of that name exists in the main schema."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = $n UNION ALL "
        "SELECT count(*) FROM duckdb_views() WHERE view_name = $n",
        {"n": name},
    ).fetchall()
    return any(row[0] for row in found)


def require_tables(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Fail with a clear message when an upstream stage has not produced its tables."""
    missing = [name for name in names if not table_exists(con, name)]
    if missing:
        raise StageError(f"missing table(s) {', '.join(missing)}: run the upstream stage first")
