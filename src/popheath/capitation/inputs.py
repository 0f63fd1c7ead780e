"""What capitation needs from the upstream stages, and its refusal (naming the command) when one has not run."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pandas as pd

from popheath import db
from popheath.capitation import costing
from popheath.capitation.costing import FinancialYear
from popheath.errors import StageError
from popheath.quality.compile import ident

SNAPSHOTS = ("segments", "cohort")


def has_features(con: duckdb.DuckDBPyConnection, as_of: date) -> bool:
    """Whether ``features`` holds rows at the date."""
    if not db.table_exists(con, "features"):
        return False
    row = con.execute("SELECT count(*) FROM features WHERE as_of = $as_of", {"as_of": as_of}).fetchone()
    return bool(row and row[0])


# DuckDB types of the features a model reads (every number, and flags as 0/1).
NUMERIC_TYPES = re.compile(r"(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|REAL|DECIMAL.*|BOOLEAN)")


def model_features(con: duckdb.DuckDBPyConnection, as_of: date, leave_out: set[str]) -> pd.DataFrame | None:
    """``person_key`` and every numeric ``features`` column but ``leave_out`` at the date, as float32.

    Sorted by person key (the fits' row order, for reproducible models); cast and sorted in DuckDB,
    so the frame is built once at its final size. ``None`` when there are no rows at the date.
    """
    if not db.table_exists(con, "features"):
        return None
    columns = [
        str(name)
        for name, kind, *_ in con.execute("DESCRIBE features").fetchall()
        if NUMERIC_TYPES.fullmatch(str(kind)) and name not in leave_out
    ]
    cast = "".join(f", CAST({ident(c)} AS FLOAT) AS {ident(c)}" for c in columns)
    frame = con.execute(
        f"SELECT person_key{cast} FROM features WHERE as_of = $as_of ORDER BY person_key", {"as_of": as_of}
    ).df()
    return frame if len(frame) else None


def require_inputs(con: duckdb.DuckDBPyConnection, year: FinancialYear) -> None:
    """Fail with one line naming each missing input and the ``popheath`` command that writes it.

    Needed: the year's ``activity_costs``, and ``segments`` and ``cohort`` on or before the year start.
    When features exist at both year starts (so the prospective model runs), the previous year's
    ``activity_costs`` too.
    """
    previous = FinancialYear(year.year - 1)
    start = year.start.isoformat()
    missing = []
    costed_years = [year]
    if has_features(con, previous.start) and has_features(con, year.start):
        costed_years.insert(0, previous)
    for costed in costed_years:
        if not costing.has_costs(con, costed):
            missing.append(f"activity_costs for {costed.label} (run `popheath cost --year {costed.year}`)")
    if costing.latest_as_of(con, "segments", year.start) is None:
        missing.append(f"segments on or before {start} (run `popheath segment --as-of {start}`)")
    if costing.latest_as_of(con, "cohort", year.start) is None:
        missing.append(f"cohort on or before {start} (run `popheath features --as-of {start}`)")
    if missing:
        raise StageError(f"capitation {year.label} has no {'; no '.join(missing)}")


def snapshot_dates(con: duckdb.DuckDBPyConnection, year: FinancialYear) -> tuple[dict[str, date], list[str]]:
    """The ``segments`` and ``cohort`` dates to use: the year start, else the latest earlier one (warned)."""
    dates: dict[str, date] = {}
    warnings: list[str] = []
    for table in SNAPSHOTS:
        found = costing.latest_as_of(con, table, year.start)
        dates[table] = found or year.start
        if found is not None and found != year.start:
            warnings.append(f"no {table} at {year.start}: using the latest earlier date, {found}")
    return dates, warnings
