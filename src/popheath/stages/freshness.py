"""``popheath freshness``: the gate after ingest that stops the nightly run before publish when a source is stale.

Reads ``load_audit`` and the staging tables (read-only); writes nothing. Limits per source are
settings ``[freshness.max_days]`` (:mod:`popheath.ingest.freshness`). A stale source fails the
stage with one line naming every stale source, so link to publish do not run and the last good
list release stays current; ``allow_stale`` (``--allow-stale``, the DAG param ``allow_stale``)
lets the run go on, and the run report then shows the override in red.
"""

from __future__ import annotations

from datetime import date

from popheath import db
from popheath.config import Settings
from popheath.errors import StaleDataError
from popheath.ingest import freshness
from popheath.results import StageResult

OVERRIDE_NOTE = "published despite stale data (override)"


def run(settings: Settings, as_of: date, *, allow_stale: bool | None = None) -> StageResult:
    """Check every source's freshness at ``as_of``; raise :class:`StaleDataError` on a stale one unless allowed."""
    allowed = settings.freshness.allow_stale if allow_stale is None else allow_stale
    con = db.connect(settings, read_only=True)
    try:
        rows = freshness.check(con, settings.freshness.max_days, as_of)
    finally:
        con.close()
    stale = freshness.stale_sources(rows)
    described = "; ".join(row.describe() for row in stale)
    if stale and not allowed:
        raise StaleDataError(
            f"stale data as of {as_of}: {described}; the run stops before publish and the previous list release "
            "stays current (rerun with --allow-stale, or the DAG param allow_stale, to publish anyway)"
        )
    summary = {
        "sources checked": sum(1 for row in rows if row.checked),
        "stale": ", ".join(row.source for row in stale) or "none",
        "override": "yes: stale sources allowed" if stale else "not needed",
        "latest data": ", ".join(f"{row.source} {row.data_until or 'none'}" for row in rows),
    }
    warnings = tuple(f"{OVERRIDE_NOTE}: {row.describe()}" for row in stale)
    return StageResult("freshness", as_of, summary=summary, warnings=warnings)
