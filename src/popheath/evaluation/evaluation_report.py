"""The list evaluation report: Markdown and HTML for people, CSV for analysts (aggregates only, no person rows)."""

from __future__ import annotations

import html
import shutil
from datetime import date
from pathlib import Path

import pandas as pd

from popheath.evaluation.calibration import CALIBRATION_COLUMNS
from popheath.evaluation.matching import OBSERVATIONAL_NOTE

MARKDOWN = "report.md"
HTML = "report.html"
CALIBRATION_CSV = "calibration.csv"
EFFECT_CSV = "contact_effect.csv"
MATCHING_CSV = "matching.csv"


def _table(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    if frame.empty:
        return ["(none)"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame[columns].to_dict("records"):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(
    as_of: date, calibration: pd.DataFrame, effects: pd.DataFrame, matching: pd.DataFrame, strata: tuple[str, ...]
) -> str:
    """The report text."""
    lines = [
        f"# Did the lists help? (data to {as_of})",
        "",
        f"**{OBSERVATIONAL_NOTE}**",
        "",
        "## Contacted people against matched people",
        "",
        f"Matching: nearest neighbour on predicted risk at the list date within exact {', '.join(strata)}; "
        "each control takes its case's contact date as index date. Counts are emergency admissions in the "
        "months before and after that date. Rate ratio = (after, contacted / matched) / (before, contacted / "
        "matched): below 1 means fewer admissions after contact than matched people had. 95% intervals: "
        "bootstrap over matched pairs. 'Naive change' is the contacted group's own before/after change, "
        "shown to make regression to the mean visible: it falls even when nothing works.",
        "",
    ]
    lines += _table(matching, list(matching.columns)) if len(matching) else ["No contacts recorded yet."]
    lines.append("")
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
        lines += _table(
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
        lines.append("No matched pairs with complete follow-up yet (6 months after contact are needed).")
    lines += [
        "",
        "## Observed against predicted admissions",
        "",
        "Avoidable emergency admissions in the 12 months after each list date against the sum of predicted "
        "risks. Observed / expected near 1 is good calibration; rows without complete follow-up are not "
        "yet interpretable.",
        "",
    ]
    for group_type in ("risk_decile", "tier", "practice"):
        part = calibration[calibration["group_type"] == group_type] if len(calibration) else calibration
        lines += [f"### By {group_type.replace('_', ' ')}", ""]
        lines += (
            _table(part, [column for column in CALIBRATION_COLUMNS if column != "group_type"])
            if len(part)
            else ["(none)"]
        )
        lines.append("")
    return "\n".join(lines) + "\n"


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
    text = markdown(as_of, calibration, effects, matching, strata)
    paths = [folder / MARKDOWN, folder / HTML, folder / CALIBRATION_CSV, folder / EFFECT_CSV, folder / MATCHING_CSV]
    paths[0].write_text(text, encoding="utf-8")
    body = "<pre style='white-space: pre-wrap; font-family: system-ui, sans-serif'>" + html.escape(text) + "</pre>"
    paths[1].write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Did the lists help? {as_of}</title></head>"
        f"<body>{body}</body></html>",
        encoding="utf-8",
    )
    calibration.to_csv(paths[2], index=False)
    effects.to_csv(paths[3], index=False)
    matching.to_csv(paths[4], index=False)
    return paths


def refresh_latest(folder: Path, latest: Path) -> None:
    """Replace ``latest`` with a copy of the report folder just written."""
    if latest.exists():
        shutil.rmtree(latest)
    shutil.copytree(folder, latest)
