"""Tables printed for the user: the per-source ingest summary and the quarantine by rule."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from popheath import db
from popheath.config import Settings
from popheath.errors import StageError
from popheath.ingest.deliveries import SOURCES, FileLoad


def summary_table(loads: list[FileLoad]) -> Table:
    """Per source: files, rows read, loaded, quarantined (with reasons), rejected and skipped (not data) files."""
    table = Table(title="ingest")
    for heading in ("source", "files", "read", "loaded", "quarantined", "by reason", "rejected", "skipped"):
        table.add_column(heading, justify="left" if heading in {"source", "by reason"} else "right")
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
            str(sum(1 for x in mine if x.outcome == "skipped")),
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
