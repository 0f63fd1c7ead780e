"""How fresh each source is at an as-of date: its latest delivery, its latest activity, and whether it is stale.

A source is stale when the days from its latest data to the as-of date exceed its limit
(settings ``freshness.max_days``). Activity sources count from their latest activity date on or
before the as-of date (admission, arrival, appointment, contact, event start: the dates the
lists' coverage flags use), so a backfill judges the data as it stood then. The registration
spine has no activity date: it counts from the end of the month of its latest delivery, and a
spine delivered after the as-of date still describes registrations at it (0 days).
The nightly run refuses to publish on a stale source (``popheath freshness``) and the run
report shows this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from popheath import db
from popheath.config import StalenessLimits
from popheath.ingest.deliveries import SOURCES
from popheath.lists.coverage import SOURCES as COVERAGE_SOURCES

# Source -> (staging table, activity date column), from the coverage definitions; population has none.
ACTIVITY: dict[str, tuple[str, str]] = {link: (table, day) for _, table, day, _, link in COVERAGE_SOURCES.values()}


@dataclass(frozen=True)
class SourceFreshness:
    """One source at one as-of date: what was delivered, what the data reaches, and the verdict."""

    source: str
    latest_delivery: str | None
    loaded_at: datetime | None
    latest_activity: date | None
    data_until: date | None
    days_since: int | None
    max_days: int

    @property
    def checked(self) -> bool:
        """Whether the source is checked at all (a limit of 0 switches it off)."""
        return self.max_days > 0

    @property
    def stale(self) -> bool:
        """No data at all, or more days since the latest data than the limit allows."""
        return self.checked and (self.days_since is None or self.days_since > self.max_days)

    @property
    def state(self) -> str:
        """``fresh``, ``stale`` or ``not checked``, as the report shows it."""
        return "not checked" if not self.checked else "stale" if self.stale else "fresh"

    def describe(self) -> str:
        """One phrase for error lines and the report: ``apc: no data since 2024-12-31 (91 days, limit 45)``."""
        if self.data_until is None:
            return f"{self.source}: no data loaded"
        return f"{self.source}: no data since {self.data_until} ({self.days_since} days, limit {self.max_days})"

    def row(self) -> dict[str, object]:
        """The report's table row."""
        return {
            "source": self.source,
            "latest_delivery": self.latest_delivery,
            "loaded_at": self.loaded_at,
            "latest_activity": self.latest_activity,
            "days_since_data": self.days_since,
            "limit_days": self.max_days or None,
            "state": self.state,
        }


def _latest_delivery(con: duckdb.DuckDBPyConnection, source: str) -> tuple[str | None, datetime | None, date | None]:
    """The newest delivery of ``source`` with a real load: its label, when it loaded, and its month's last day."""
    if not db.table_exists(con, "load_audit"):
        return None, None, None
    found = con.execute(
        "SELECT delivery, max(finished_at), last_day(try_strptime(delivery, '%Y-%m')) FROM load_audit "
        "WHERE source = $source AND outcome = 'loaded' GROUP BY delivery ORDER BY delivery DESC LIMIT 1",
        {"source": source},
    ).fetchone()
    return (str(found[0]), found[1], found[2]) if found else (None, None, None)


def _latest_activity(con: duckdb.DuckDBPyConnection, source: str, as_of: date) -> date | None:
    table, column = ACTIVITY[source]
    if not db.table_exists(con, table):
        return None
    found = con.execute(
        f"SELECT max(CAST({column} AS DATE)) FROM {table} WHERE CAST({column} AS DATE) <= $as_of", {"as_of": as_of}
    ).fetchone()
    return found[0] if found else None


def source_freshness(con: duckdb.DuckDBPyConnection, source: str, as_of: date, max_days: int) -> SourceFreshness:
    """Freshness of one source at ``as_of`` from ``load_audit`` and its staging table."""
    delivery, loaded_at, month_end = _latest_delivery(con, source)
    activity = _latest_activity(con, source, as_of) if source in ACTIVITY else None
    if source in ACTIVITY:
        until = activity
    else:
        until = month_end or (loaded_at.date() if loaded_at else None)
    days = None if until is None else max((as_of - until).days, 0)
    return SourceFreshness(source, delivery, loaded_at, activity, until, days, max_days)


def check(con: duckdb.DuckDBPyConnection, limits: StalenessLimits, as_of: date) -> list[SourceFreshness]:
    """Every source's freshness at ``as_of``, in load order."""
    return [source_freshness(con, source, as_of, int(getattr(limits, source))) for source in SOURCES]


def stale_sources(rows: list[SourceFreshness]) -> list[SourceFreshness]:
    """The stale ones."""
    return [row for row in rows if row.stale]
