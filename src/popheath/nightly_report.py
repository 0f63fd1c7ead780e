"""The nightly run report: one self-contained HTML page (and JSON) a data team reads each morning.

It leads with a one-line verdict (:func:`verdict`: failed, stale data, warnings and drift, or a
clean run) and each source's latest delivery and data against its freshness limit. Then inputs
received and their row counts, quarantine by reason, link rates, cohort size, drift warnings,
model version, list changes per PCN, timings per stage and anything that failed, with links to
the GX Data Docs and the link-quality report. The latest report is always at
``<outputs>/reports/nightly/latest.html`` (and ``latest.json``); each as-of date keeps its own.
Every section reads a table or record that its stage wrote; a missing one is reported as
"not run", never as zero. ``popheath.stages.report`` gathers, writes and summarises with these.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from popheath import db, runlog
from popheath.config import Settings
from popheath.ingest import freshness

Rows = list[dict[str, Any]]


def _query(con: duckdb.DuckDBPyConnection, table: str, sql: str, params: dict[str, Any] | None = None) -> Rows | None:
    """Rows of a summary query, or None when the stage that writes ``table`` has not run."""
    if not db.table_exists(con, table):
        return None
    cursor = db.execute(con, sql, params or {})
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def gather(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date) -> dict[str, Any]:
    """Collect every section of the report as plain rows."""
    params = {"as_of": as_of}
    records = runlog.read_records(settings, as_of)
    sources = freshness.check(con, settings.freshness.max_days, as_of)
    ingest_runs = [r for r in records if r["stage"] == "ingest"]
    run_id = (ingest_runs[-1].get("summary") or {}).get("run_id") if ingest_runs else None
    sections: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "stages": [
            {k: r.get(k) for k in ("stage", "status", "seconds", "started", "error")} | {"warnings": r.get("warnings")}
            for r in records
        ],
        "failed": [r["stage"] for r in records if r.get("status") == "failed"],
        "inputs": _query(
            con,
            "load_audit",
            "SELECT source, count(*) AS files, sum(rows_read) AS rows_read, sum(rows_loaded) AS rows_loaded, "
            "sum(rows_quarantined) AS rows_quarantined, count(*) FILTER (outcome = 'rejected') AS files_rejected, "
            "max(finished_at) AS last_load FROM load_audit "
            + ("WHERE run_id = $run_id " if run_id else "")
            + "GROUP BY source ORDER BY source",
            {"run_id": run_id} if run_id else {},
        ),
        "quarantine": _query(
            con,
            "quarantine",
            "SELECT source, rule, count(*) AS rows FROM quarantine GROUP BY source, rule ORDER BY source, rows DESC",
        ),
        "links": _query(
            con,
            "person_link",
            "SELECT source, method, count(*) AS records, round(avg(match_probability), 4) AS mean_probability, "
            "count(*) FILTER (out_of_area) AS out_of_area FROM person_link GROUP BY source, method "
            "ORDER BY source, method",
        ),
        "cohort": _query(
            con,
            "cohort",
            "SELECT count(*) AS registered_alive, count(*) FILTER (is_65plus) AS aged_65_plus, "
            "count(*) FILTER (is_frail) AS frail_elderly FROM cohort WHERE as_of = $as_of",
            params,
        ),
        "model": _query(
            con,
            "scores",
            "SELECT model_name, model_version, count(*) AS scored FROM scores WHERE as_of = $as_of "
            "GROUP BY model_name, model_version",
            params,
        ),
        "drift": _query(con, "drift", "SELECT * FROM drift WHERE as_of = $as_of ORDER BY psi DESC LIMIT 15", params),
        "latest_delivery": [row.row() for row in sources],
        "lists": _list_changes(settings),
        "links_to": {
            "data_docs": _existing(settings.paths.outputs / "data_docs" / "index.html"),
            "link_quality": _existing(settings.paths.outputs / "link" / as_of.isoformat() / "link_quality.md"),
            "lists": _existing(settings.paths.outputs / "lists" / "current"),
        },
    }
    drifted = _query(con, "drift", "SELECT count(*) AS n FROM drift WHERE as_of = $as_of AND warn", params)
    sections["verdict"] = verdict(
        [r for r in records if r.get("status") == "failed"],
        # Score's warnings are its drift lines, counted from the drift table; the freshness override is the stale list.
        sum(
            len(r.get("warnings") or [])
            for r in records
            if str(r.get("stage")).split("@")[0] not in ("score", "freshness")
        ),
        int(drifted[0]["n"]) if drifted else 0,
        [row.describe() for row in freshness.stale_sources(sources)],
        any(r.get("stage") == "freshness" and r.get("status") == "success" for r in records),
    )
    return sections


def verdict(
    failed: list[dict[str, Any]], warnings: int, drifted: int, stale: list[str], gate_passed: bool
) -> dict[str, str]:
    """The first line: ``level`` (failed, stale, warnings or ok) and ``text``; never "succeeded" if anything fired.

    ``failed``: the failed stage records; ``warnings``: stage warnings other than drift and the
    freshness override; ``drifted``: features and scores whose PSI is over ``model.psi_warn``;
    ``stale``: one phrase per stale source; ``gate_passed``: the freshness gate ran and let the run
    go on, so stale sources were published by override.
    """
    notes = []
    if drifted:
        notes.append(f"{drifted} drift warning{'s' if drifted != 1 else ''} (PSI over model.psi_warn)")
    if warnings:
        notes.append(f"{warnings} other warning{'s' if warnings != 1 else ''}")
    if failed:
        stages = ", ".join(str(r["stage"]) for r in failed)
        text = f"Failed: {stages} ({failed[0].get('error')}). The previous list release stays published."
        return {"level": "failed", "text": text + "".join(f" Also {note}." for note in notes)}
    if stale:
        how = "published by override (allow_stale)" if gate_passed else "the freshness gate did not run"
        text = f"Stale data, {how}: {'; '.join(stale)}."
        return {"level": "stale", "text": text + "".join(f" Also {note}." for note in notes)}
    if notes:
        return {"level": "warnings", "text": "Succeeded with warnings: " + "; ".join(notes) + "."}
    return {"level": "ok", "text": "Every stage succeeded: every source fresh, no warnings, no drift."}


def _existing(path: Path) -> str | None:
    return str(path) if path.exists() else None


def _list_changes(settings: Settings) -> Rows | None:
    """Per-PCN counts of the current release: listed by change flag, and who left."""
    release = settings.paths.outputs / "lists" / "current"
    if not (release / "list.parquet").exists():
        return None
    con = duckdb.connect()
    try:
        cursor = con.execute(
            "WITH listed AS (SELECT pcn_code, count(*) AS listed, count(*) FILTER (change = 'new') AS new, "
            "count(*) FILTER (change = 'risen') AS risen, count(*) FILTER (change = 'fallen') AS fallen "
            "FROM read_parquet($list) GROUP BY pcn_code), "
            "gone AS (SELECT CAST(pcn_code AS VARCHAR) AS pcn_code, count(*) AS left_list FROM read_parquet($left) "
            "GROUP BY ALL) "
            "SELECT listed.*, coalesce(gone.left_list, 0) AS left_list FROM listed LEFT JOIN gone USING (pcn_code) "
            "ORDER BY pcn_code",
            {"list": str(release / "list.parquet"), "left": str(release / "left.parquet")},
        )
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def cell(value: Any) -> str:
    """Format one table cell: thousands separators, one decimal, lists joined, nothing for missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    text = str(value)
    return text[:16].replace("T", " ") if len(text) > 19 and text[4] == "-" and text[10] == "T" else text


def render(sections: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    environment = Environment(loader=PackageLoader("popheath", "templates"), autoescape=select_autoescape())
    environment.filters["cell"] = cell
    return environment.get_template("nightly_report.html").render(**sections)


def _replace(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write(folder: Path, as_of: date, sections: dict[str, Any]) -> tuple[Path, Path]:
    """Write the dated report.html/json under ``folder`` and replace ``latest``; returns (latest, dated) HTML."""
    dated = folder / as_of.isoformat()
    dated.mkdir(parents=True, exist_ok=True)
    html, data = render(sections), json.dumps(sections, indent=1, default=str)
    for target in (dated / "report.html", folder / "latest.html"):
        _replace(target, html)
    for target in (dated / "report.json", folder / "latest.json"):
        _replace(target, data)
    return folder / "latest.html", dated / "report.html"
