"""The self-contained HTML capitation report: published (suppressed) tables and embedded PNG plots.

Plots are drawn only from the published tables, through :func:`plot_data`, which keeps the rows
published in full (``suppression`` = ``none``) with the plotted values present: a cell hidden in a
table, by any rule, is never plotted. Hidden table cells show ``primary`` or ``secondary``.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from popheath.capitation import disclosure
from popheath.capitation.prospective import AGE_BANDS_5Y

AGE_BANDS = ("0-17", "18-64", "65-74", "75-84", "85+")
ALL = disclosure.ALL


@dataclass
class ReportContent:
    """Everything the report shows; tables are already suppressed and rounded."""

    title: str
    year_label: str
    price_base: str
    settings_text: Mapping[str, object]
    tables: Mapping[str, pd.DataFrame]
    table_notes: Mapping[str, str]
    lorenz: tuple[np.ndarray, np.ndarray, float]
    top5_share: float
    headline: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)


def plot_data(table: pd.DataFrame, values: Sequence[str], **fixed: str) -> pd.DataFrame:
    """The rows of a published table a plot may show: published in full, values present, ``fixed`` dims matched."""
    keep = table[list(values)].notna().all(axis=1)
    if disclosure.STATUS in table.columns:
        keep &= table[disclosure.STATUS] == disclosure.NONE
    for dim, value in fixed.items():
        keep &= table[dim].astype(str) == value
    return table[keep]


def pyramid_data(table: pd.DataFrame) -> pd.DataFrame:
    """Published 5-year age band x sex cells (men and women) of ``baseline_age_sex_5y``."""
    rows = plot_data(table, ["mean_cost"])
    return rows[rows["sex"].isin(["M", "F"]) & rows["age_band_5y"].isin(AGE_BANDS_5Y)]


def age_segment_data(table: pd.DataFrame) -> pd.DataFrame:
    """Published segment x age band cells of ``baseline_segment_age_band``."""
    rows = plot_data(table, ["mean_cost"])
    return rows[(rows["segment"] != ALL) & rows["age_band"].isin(AGE_BANDS)]


def practice_data(table: pd.DataFrame) -> pd.DataFrame:
    """Published practices of ``needs_index_practice``, by distance from target."""
    return plot_data(table, ["distance_from_target", "needs_index"]).sort_values("distance_from_target")


def _png(figure: object) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_pyramid(pyramid: pd.DataFrame) -> str:
    """Cost pyramid: mean cost per person-year by 5-year age band, men to the left, women to the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 5))
    groups = [band for band in AGE_BANDS_5Y if band in set(pyramid["age_band_5y"])]
    positions = {g: i for i, g in enumerate(groups)}
    for sex, sign, colour in (("M", -1, "#005EB8"), ("F", 1, "#AE2573")):
        part = pyramid[pyramid["sex"] == sex]
        axis.barh(
            [positions[g] for g in part["age_band_5y"]],
            sign * part["mean_cost"].astype(float),
            color=colour,
            label={"M": "Male", "F": "Female"}[sex],
        )
    axis.set_yticks(range(len(groups)), groups)
    ticks = axis.get_xticks()
    axis.set_xticks(ticks, [f"£{abs(t) / 1000:,.0f}k" if abs(t) >= 1000 else f"£{abs(t):,.0f}" for t in ticks])
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel("Mean cost per person-year")
    axis.set_title("Cost pyramid")
    axis.legend(loc="lower right")
    return _png(figure)


def plot_age_segment(table: pd.DataFrame) -> str:
    """Mean cost per person-year by age band, one bar per segment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 4.5))
    segments = sorted(table["segment"].unique())
    bands = [b for b in AGE_BANDS if b in set(table["age_band"])]
    width = 0.8 / max(len(segments), 1)
    for i, segment in enumerate(segments):
        part = table[table["segment"] == segment].set_index("age_band").reindex(bands)
        axis.bar(np.arange(len(bands)) + i * width, part["mean_cost"].astype(float), width=width, label=segment)
    axis.set_xticks(np.arange(len(bands)) + width * (len(segments) - 1) / 2, bands)
    axis.set_ylabel("Mean cost per person-year (£)")
    axis.set_title("Cost by age band and segment")
    axis.legend(fontsize=7, ncol=2)
    return _png(figure)


def plot_lorenz(people: np.ndarray, cost: np.ndarray, gini: float) -> str:
    """Concentration (Lorenz) curve of cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(people, cost, color="#005EB8", label="Cost")
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", label="Equal shares")
    axis.set_xlabel("Cumulative share of people (lowest cost first)")
    axis.set_ylabel("Cumulative share of cost")
    axis.set_title(f"Concentration of cost (Gini {gini:.2f})")
    axis.legend()
    return _png(figure)


def plot_practices(practices: pd.DataFrame) -> str:
    """Each published practice's distance from its fair share, lowest first, with the 10% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 4.5))
    distance = practices["distance_from_target"].astype(float).to_numpy()
    colours = np.where(np.abs(distance) <= 0.10, "#009639", "#DA291C")
    axis.bar(np.arange(len(distance)), distance * 100, color=colours)
    for edge in (-10, 10):
        axis.axhline(edge, color="grey", linestyle="--", linewidth=0.8)
    axis.set_xticks([])
    axis.set_xlabel("Practices (published), ordered by distance from target")
    axis.set_ylabel("(actual - fair share) / fair share (%)")
    axis.set_title("Practice spend against PBRA-style fair share (green: within 10%)")
    return _png(figure)


def plot_deciles(deciles: pd.DataFrame) -> str:
    """Predicted vs actual cost per person-year by decile of the risk-adjusted prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    decile = deciles["decile"].astype(int)
    for column, style, colour, label in (
        ("actual_per_person_year", "o-", "black", "Actual"),
        ("predicted_risk_adjusted", "s--", "#005EB8", "Risk-adjusted"),
        ("predicted_age_sex", "^:", "#ED8B00", "Age-sex only"),
    ):
        axis.plot(decile, deciles[column].astype(float), style, color=colour, label=label)
    axis.set_xlabel("Decile of predicted cost (risk-adjusted model)")
    axis.set_ylabel("Cost per person-year (£)")
    axis.set_title("Predicted vs actual by decile (evaluation year)")
    axis.legend()
    return _png(figure)


def _table_html(frame: pd.DataFrame) -> str:
    shown = disclosure.marked(frame).copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            digits = 3 if any(k in column for k in ("r2", "ratio", "share", "index", "distance")) else 0
            shown[column] = shown[column].map(
                lambda v, d=digits: v if isinstance(v, str) else ("" if pd.isna(v) else f"{v:,.{d}f}")
            )
    return shown.to_html(index=False, escape=True, na_rep="", border=0, classes="t")


def images(content: ReportContent) -> list[tuple[str, str]]:
    """The report's plots (caption, base64 PNG), each from its published table's :func:`plot_data`."""
    people, cost, gini = content.lorenz
    tables = content.tables
    shown: list[tuple[str, str]] = []
    if "baseline_age_sex_5y" in tables:
        shown.append(("Cost pyramid (5-year age bands)", plot_pyramid(pyramid_data(tables["baseline_age_sex_5y"]))))
    if "baseline_segment_age_band" in tables:
        data = age_segment_data(tables["baseline_segment_age_band"])
        shown.append(("Cost by age and segment", plot_age_segment(data)))
    shown.append(("Concentration curve of cost", plot_lorenz(people, cost, gini)))
    if "needs_index_practice" in tables and len(practice_data(tables["needs_index_practice"])):
        data = practice_data(tables["needs_index_practice"])
        shown.append(("Practice spend against fair share", plot_practices(data)))
    deciles = tables.get("predicted_vs_actual_deciles")
    if deciles is not None:
        data = plot_data(deciles, ["actual_per_person_year", "predicted_risk_adjusted", "predicted_age_sex"])
        if len(data):
            shown.append(("Predicted vs actual by decile", plot_deciles(data)))
    return shown


def _r2_notes(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    metrics = tables.get("prospective_model_metrics")
    if metrics is None or "r2_note" not in metrics.columns:
        return []
    return [f"{row.model}: {row.r2_note}" for row in metrics.itertuples() if row.r2_note != "none"]


def render(content: ReportContent) -> str:
    """The report as one HTML string (images inline as base64 PNG)."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(content.title)}</title>",
        "<style>body{font-family:Arial,sans-serif;margin:2em;max-width:1200px;color:#212b32}"
        "table.t{border-collapse:collapse;font-size:12px;margin-bottom:1.5em}"
        "table.t td,table.t th{border:1px solid #d8dde0;padding:3px 6px;text-align:right}"
        "table.t th{background:#f0f4f5}h2{border-bottom:2px solid #005EB8}"
        ".note{color:#4c6272;font-size:13px}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(content.title)}</h1>",
        f"<p>Financial year {html.escape(content.year_label)}; price base {html.escape(content.price_base)} "
        f"(every cost in {html.escape(content.price_base)} prices). Generated {datetime.now():%Y-%m-%d %H:%M}.</p>",
        "<p class='note'>Disclosure control: a cell with fewer than the suppression threshold of people, or whose "
        "costliest people hold most of its cost (the (n, k) dominance rule), shows <b>primary</b>; a cell hidden so "
        "that a primary one cannot be recovered from the totals shows <b>secondary</b>; a percentile resting on too "
        "few people shows <b>primary</b>. Plots leave out every hidden cell. Counts are rounded. No person-level "
        "rows. Every column is described in data_dictionary.csv.</p>",
    ]
    if content.headline:
        parts.append("<h2>Headlines</h2><ul>")
        parts += [f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in content.headline.items()]
        parts.append(f"<li>Share of cost incurred by the costliest 5% of people: {content.top5_share:.1%}</li></ul>")
    notes = _r2_notes(content.tables)
    if notes:
        parts.append("<h2>Negative R²</h2>")
        parts += [f"<p class='note'>{html.escape(note)}</p>" for note in notes]
    parts.append("<h2>Plots</h2>")
    for caption, image in images(content):
        parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{image}'>")
        parts.append(f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    for name, frame in content.tables.items():
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if name in content.table_notes:
            parts.append(f"<p class='note'>{html.escape(content.table_notes[name])}</p>")
        parts.append(_table_html(frame))
    parts.append("<h2>Settings and sources</h2><ul>")
    parts += [f"<li>{html.escape(str(k))} = {html.escape(str(v))}</li>" for k, v in content.settings_text.items()]
    parts += [f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in content.sources.items()]
    parts.append("</ul></body></html>")
    return "\n".join(parts)
