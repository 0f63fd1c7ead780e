"""Write the capitation outputs: each published table (disclosure-checked, CSV and Parquet) and the HTML report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from popheath.capitation import disclosure, html_report
from popheath.capitation.clock import StepClock
from popheath.capitation.costing import FinancialYear
from popheath.capitation.prospective import ProspectiveResult
from popheath.capitation.tables import TABLE_NOTES, PublishedTables
from popheath.config import CapitationSettings

REPORT_TITLE = "Population resource baselines and Year of Care budget"


def write_tables(folder: Path, published: dict[str, pd.DataFrame], settings: CapitationSettings) -> list[Path]:
    """Check then write every table as ``<name>.csv`` and ``<name>.parquet``; returns the paths."""
    paths: list[Path] = []
    for name, frame in published.items():
        disclosure.check_published(name, frame, settings.suppress_below, settings.round_to)
        csv, parquet = folder / f"{name}.csv", folder / f"{name}.parquet"
        frame.to_csv(csv, index=False)
        frame.to_parquet(parquet, index=False)
        paths += [csv, parquet]
    return paths


def headline(
    population: pd.DataFrame,
    published: PublishedTables,
    model: ProspectiveResult | None,
    settings: CapitationSettings,
) -> dict[str, str]:
    """The report's headline figures: people (rounded), mean cost, the outlier cap and the models' R²."""
    people_rounded = float(disclosure.round_to(pd.Series([len(population)]), settings.round_to).iloc[0])
    figures = {
        "People in the planning population": f"{people_rounded:,.0f}",
        "Mean cost per person-year": f"£{population['cost_total'].sum() / population['person_years'].sum():,.0f}",
        "Outlier cap (annualised cost)": (
            f"£{published.cap_value:,.0f} (percentile {settings.outlier_cap_percentile})"
        ),
    }
    if model is not None:
        for row in model.metrics.itertuples():
            figures[f"{row.model}: R² person / practice"] = f"{row.person_r2:.3f} / {row.practice_r2:.3f}"
    return figures


def write_report(
    folder: Path,
    year: FinancialYear,
    settings: CapitationSettings,
    published: PublishedTables,
    figures: dict[str, str],
    sources: dict[str, str],
) -> Path:
    """Render the self-contained ``report.html`` from the published tables; returns its path."""
    html = html_report.render(
        html_report.ReportContent(
            title=REPORT_TITLE,
            year_label=year.label,
            price_base=settings.price_base_year,
            settings_text={f"capitation.{f.name}": getattr(settings, f.name) for f in dataclasses.fields(settings)},
            tables=published.tables,
            table_notes=TABLE_NOTES,
            pyramid=published.pyramid,
            age_segment=published.age_segment,
            lorenz=published.lorenz,
            top5_share=published.top5_share,
            deciles=published.tables.get("predicted_vs_actual_deciles"),
            headline=figures,
            sources=sources,
        )
    )
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def run_summary(
    year: FinancialYear,
    population: pd.DataFrame,
    report: Path,
    clock: StepClock,
    model: ProspectiveResult | None,
) -> dict[str, object]:
    """The stage summary: year, people, person-years, report path, step times and the models' R²."""
    summary: dict[str, object] = {
        "financial_year": year.label,
        "people": len(population),
        "person_years": round(float(population["person_years"].sum()), 1),
        "report": str(report),
        "seconds": clock.seconds,
        "cpu_seconds": clock.cpu_seconds,
    }
    if model is not None:
        summary["r2"] = {
            f"{r.model}_{level}": round(getattr(r, f"{level}_r2"), 3)
            for r in model.metrics.itertuples()
            for level in ("person", "practice")
        }
    return summary
