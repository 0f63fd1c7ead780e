"""The self-contained HTML capitation report: published (suppressed) tables and embedded PNG plots.

Plots are drawn from aggregates only; any bar for a group with fewer than ``suppress_below`` people
is left out, so the report shows nothing the published tables would hide.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

AGE_BANDS = ("0-17", "18-64", "65-74", "75-84", "85+")


@dataclass
class ReportContent:
    """Everything the report shows; tables are already suppressed and rounded."""

    title: str
    year_label: str
    price_base: str
    settings_text: Mapping[str, object]
    tables: Mapping[str, pd.DataFrame]
    table_notes: Mapping[str, str]
    pyramid: pd.DataFrame
    age_segment: pd.DataFrame
    lorenz: tuple[np.ndarray, np.ndarray, float]
    top5_share: float
    deciles: pd.DataFrame | None
    headline: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)


def _png(figure: object) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_pyramid(pyramid: pd.DataFrame) -> str:
    """Cost pyramid: mean cost per person-year by 5-year age group, men to the left, women to the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 5))
    groups = sorted(pyramid["age_group"].unique(), key=int)
    positions = {g: i for i, g in enumerate(groups)}
    for sex, sign, colour in (("M", -1, "#005EB8"), ("F", 1, "#AE2573")):
        part = pyramid[pyramid["sex"] == sex]
        axis.barh(
            [positions[g] for g in part["age_group"]],
            sign * part["mean_cost"],
            color=colour,
            label={"M": "Male", "F": "Female"}[sex],
        )
    axis.set_yticks(range(len(groups)), [f"{g}+" if g == "90" else f"{g}-{int(g) + 4}" for g in groups])
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
        axis.bar(np.arange(len(bands)) + i * width, part["mean_cost"].fillna(0), width=width, label=segment)
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


def plot_deciles(deciles: pd.DataFrame) -> str:
    """Predicted vs actual cost per person-year by decile of the risk-adjusted prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot(deciles["decile"], deciles["actual_per_person_year"], "o-", color="black", label="Actual")
    axis.plot(deciles["decile"], deciles["predicted_risk_adjusted"], "s--", color="#005EB8", label="Risk-adjusted")
    axis.plot(deciles["decile"], deciles["predicted_age_sex"], "^:", color="#ED8B00", label="Age-sex only")
    axis.set_xlabel("Decile of predicted cost (risk-adjusted model)")
    axis.set_ylabel("Cost per person-year (£)")
    axis.set_title("Predicted vs actual by decile (evaluation year)")
    axis.legend()
    return _png(figure)


def _table_html(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            digits = 3 if any(k in column for k in ("r2", "ratio", "share")) else 0
            shown[column] = shown[column].map(lambda v, d=digits: "" if pd.isna(v) else f"{v:,.{d}f}")
    return shown.to_html(index=False, escape=True, na_rep="", border=0, classes="t")


def render(content: ReportContent) -> str:
    """The report as one HTML string (images inline as base64 PNG)."""
    people, cost, gini = content.lorenz
    images = [
        ("Cost pyramid", plot_pyramid(content.pyramid)),
        ("Cost by age and segment", plot_age_segment(content.age_segment)),
        ("Concentration curve of cost", plot_lorenz(people, cost, gini)),
    ]
    if content.deciles is not None and len(content.deciles):
        images.append(("Predicted vs actual by decile", plot_deciles(content.deciles)))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(content.title)}</title>",
        "<style>body{font-family:Arial,sans-serif;margin:2em;max-width:1200px;color:#212b32}"
        "table.t{border-collapse:collapse;font-size:12px;margin-bottom:1.5em}"
        "table.t td,table.t th{border:1px solid #d8dde0;padding:3px 6px;text-align:right}"
        "table.t th{background:#f0f4f5}h2{border-bottom:2px solid #005EB8}"
        ".note{color:#4c6272;font-size:13px}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(content.title)}</h1>",
        f"<p>Financial year {html.escape(content.year_label)}; costs in {html.escape(content.price_base)} prices. "
        f"Generated {datetime.now():%Y-%m-%d %H:%M}.</p>",
        "<p class='note'>Cells with fewer than the suppression threshold of people are hidden, with secondary "
        "suppression so they cannot be recovered from totals; counts are rounded. No person-level rows.</p>",
    ]
    if content.headline:
        parts.append("<h2>Headlines</h2><ul>")
        parts += [f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in content.headline.items()]
        parts.append(f"<li>Share of cost incurred by the costliest 5% of people: {content.top5_share:.1%}</li></ul>")
    parts.append("<h2>Plots</h2>")
    for caption, image in images:
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
