"""The list evaluation report: Markdown and HTML (real tables, no external resources) for people, CSV for analysts.

Aggregates only, no person rows.
"""

from __future__ import annotations

import html
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from popheath.evaluation.calibration import CALIBRATION_COLUMNS
from popheath.evaluation.matching import OBSERVATIONAL_NOTE

MARKDOWN = "report.md"
HTML = "report.html"
CALIBRATION_CSV = "calibration.csv"
EFFECT_CSV = "contact_effect.csv"
MATCHING_CSV = "matching.csv"


# The report is a list of blocks, written out twice from the same content: Markdown and HTML.
# ("h1" | "h2" | "h3" | "p" | "strong", text) or ("table", (columns, rows of cell text)).
Block = tuple[str, Any]
STYLE = (
    "body { font-family: system-ui, sans-serif; margin: 2rem; color: #212b32; max-width: 80rem; } "
    "table { border-collapse: collapse; margin: .5rem 0 1rem; } "
    "td, th { border: 1px solid #d8dde0; padding: .25rem .6rem; text-align: left; } "
    "th { background: #f0f4f5; } td.number { text-align: right; font-variant-numeric: tabular-nums; } "
    "h2 { border-bottom: 2px solid #005eb8; margin-top: 2rem; }"
)


def _table(frame: pd.DataFrame, columns: list[str]) -> list[Block]:
    if frame.empty:
        return [("p", "(none)")]
    rows = [
        [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()]
        for row in frame[columns].to_dict("records")
    ]
    return [("table", (columns, rows))]


def blocks(
    as_of: date, calibration: pd.DataFrame, effects: pd.DataFrame, matching: pd.DataFrame, strata: tuple[str, ...]
) -> list[Block]:
    """The report's content, in order."""
    parts: list[Block] = [
        ("h1", f"Did the lists help? (data to {as_of})"),
        ("strong", OBSERVATIONAL_NOTE),
        ("h2", "Contacted people against matched people"),
        (
            "p",
            f"Matching: nearest neighbour on predicted risk at the list date within exact {', '.join(strata)}; "
            "each control takes its case's contact date as index date. Counts are emergency admissions in the "
            "months before and after that date. Rate ratio = (after, contacted / matched) / (before, contacted / "
            "matched): below 1 means fewer admissions after contact than matched people had. 95% intervals: "
            "bootstrap over matched pairs. 'Naive change' is the contacted group's own before/after change, "
            "shown to make regression to the mean visible: it falls even when nothing works.",
        ),
    ]
    parts += _table(matching, list(matching.columns)) if len(matching) else [("p", "No contacts recorded yet.")]
    if len(effects):
        shown = effects.assign(
            rate_ratio_ci=[
                f"{r:.2f} ({lo:.2f}-{hi:.2f})"
                for r, lo, hi in zip(
                    effects["rate_ratio"], effects["rate_ratio_lower"], effects["rate_ratio_upper"], strict=True
                )
            ],
            did_ci=[
                f"{d:+.3f} ({lo:+.3f} to {hi:+.3f})"
                for d, lo, hi in zip(
                    effects["difference_in_differences"], effects["did_lower"], effects["did_upper"], strict=True
                )
            ],
        )
        parts += _table(
            shown,
            [
                "list_date",
                "horizon_months",
                "pairs",
                "contacted_before_per_person",
                "contacted_after_per_person",
                "matched_before_per_person",
                "matched_after_per_person",
                "naive_before_after_change",
                "did_ci",
                "rate_ratio_ci",
            ],
        )
    else:
        parts.append(("p", "No matched pairs with complete follow-up yet (6 months after contact are needed)."))
    parts += [
        ("h2", "Observed against predicted admissions"),
        (
            "p",
            "Avoidable emergency admissions in the 12 months after each list date against the sum of predicted "
            "risks. Observed / expected near 1 is good calibration; rows without complete follow-up are not "
            "yet interpretable.",
        ),
    ]
    for group_type in ("risk_decile", "tier", "practice"):
        part = calibration[calibration["group_type"] == group_type] if len(calibration) else calibration
        parts.append(("h3", f"By {group_type.replace('_', ' ')}"))
        parts += (
            _table(part, [column for column in CALIBRATION_COLUMNS if column != "group_type"])
            if len(part)
            else [("p", "(none)")]
        )
    return parts


def markdown(parts: list[Block]) -> str:
    """The report as Markdown (``report.md``)."""
    lines: list[str] = []
    for kind, content in parts:
        if kind == "table":
            columns, rows = content
            lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(cells) + " |" for cells in rows]
        else:
            prefix = {"h1": "# ", "h2": "## ", "h3": "### "}.get(kind, "")
            lines.append(f"**{content}**" if kind == "strong" else prefix + content)
        lines.append("")
    return "\n".join(lines)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def html_page(title: str, parts: list[Block]) -> str:
    """The report as one self-contained HTML page (``report.html``): headings, paragraphs and real tables."""
    body: list[str] = []
    for kind, content in parts:
        if kind == "table":
            columns, rows = content
            head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
            cells = (
                "<tr>"
                + "".join(f"<td{' class=number' if _number(c) else ''}>{html.escape(c)}</td>" for c in row)
                + "</tr>"
                for row in rows
            )
            body.append(f"<table><tr>{head}</tr>{''.join(cells)}</table>")
        elif kind == "strong":
            body.append(f"<p><strong>{html.escape(content)}</strong></p>")
        else:
            body.append(f"<{kind}>{html.escape(content)}</{kind}>")
    return (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write(
    folder: Path,
    as_of: date,
    calibration: pd.DataFrame,
    effects: pd.DataFrame,
    matching: pd.DataFrame,
    strata: tuple[str, ...],
) -> list[Path]:
    """Write report.md, report.html and the CSVs into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = blocks(as_of, calibration, effects, matching, strata)
    paths = [folder / MARKDOWN, folder / HTML, folder / CALIBRATION_CSV, folder / EFFECT_CSV, folder / MATCHING_CSV]
    paths[0].write_text(markdown(parts), encoding="utf-8")
    paths[1].write_text(html_page(f"Did the lists help? {as_of}", parts), encoding="utf-8")
    calibration.to_csv(paths[2], index=False)
    effects.to_csv(paths[3], index=False)
    matching.to_csv(paths[4], index=False)
    return paths


def refresh_latest(folder: Path, latest: Path) -> None:
    """Replace ``latest`` with a copy of the report folder just written."""
    if latest.exists():
        shutil.rmtree(latest)
    shutil.copytree(folder, latest)
