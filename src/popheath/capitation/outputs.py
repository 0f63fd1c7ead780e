"""Write the capitation outputs: the published tables (checked; CSV and Parquet), dictionary, workbook and report.

Every file carries the financial year and price base.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from popheath.capitation import dictionary, disclosure, html_report, needs
from popheath.capitation.clock import StepClock
from popheath.capitation.costing import FinancialYear
from popheath.capitation.prospective import ProspectiveResult
from popheath.capitation.tables import PublishedTables
from popheath.capitation.workbook import write_workbook
from popheath.config import CapitationSettings

REPORT_TITLE = "Population resource baselines and Year of Care budget"
DICTIONARY = "data_dictionary"
WORKBOOK = "capitation_tables.xlsx"


def stamped(frame: pd.DataFrame, year: FinancialYear, price_base: str) -> pd.DataFrame:
    """The table with ``financial_year`` and ``price_base`` as its first columns."""
    return pd.concat(
        [pd.DataFrame({"financial_year": year.label, "price_base": price_base}, index=frame.index), frame], axis=1
    )


def write_tables(
    folder: Path, published: dict[str, pd.DataFrame], settings: CapitationSettings, year: FinancialYear
) -> list[Path]:
    """Check then write every table (CSV with hidden cells marked, typed Parquet), the dictionary and workbook.

    Returns the paths written. The tables in ``published`` are replaced by their stamped versions.
    """
    paths: list[Path] = []
    threshold, base = settings.suppress_below, settings.round_to
    for name in list(published):
        published[name] = stamped(published[name], year, settings.price_base_year)
    terms = stamped(dictionary.data_dictionary(published), year, settings.price_base_year)
    shown: dict[str, pd.DataFrame] = {}
    for name, frame in {**published, DICTIONARY: terms}.items():
        disclosure.check_published(name, frame, threshold, base)
        shown[name] = disclosure.marked(frame)
        disclosure.check_published(name, shown[name], threshold, base)
        csv = folder / f"{name}.csv"
        shown[name].to_csv(csv, index=False)
        paths.append(csv)
        if name != DICTIONARY:
            parquet = folder / f"{name}.parquet"
            frame.to_parquet(parquet, index=False)
            paths.append(parquet)
    cover = {
        "Financial year": year.label,
        "Price base": f"{settings.price_base_year} prices (NHS Cost Inflation Index)",
        "Disclosure control": dictionary.SUPPRESSION_NOTE,
        "Rounding": f"people, person-years and records to the nearest {base}",
        "Columns": "every table and column is described on the data_dictionary sheet",
    }
    paths.append(write_workbook(folder / WORKBOOK, REPORT_TITLE, cover, shown))
    return paths


def headline(
    population: pd.DataFrame,
    published: PublishedTables,
    model: ProspectiveResult | None,
    settings: CapitationSettings,
) -> dict[str, str]:
    """The report's headline figures: people (rounded), mean cost, the outlier cap and the models' R²."""
    people_rounded = float(disclosure.round_to(pd.Series([len(population)]), settings.round_to).iloc[0])
    # The cap is a percentile of the population: shown under the same rule as a table's percentiles.
    cap_shown = bool(
        disclosure.percentile_shown(len(population), settings.outlier_cap_percentile / 100, settings.suppress_below)
    )
    figures = {
        "People in the planning population": f"{people_rounded:,.0f}",
        "Mean cost per person-year": f"£{population['cost_total'].sum() / population['person_years'].sum():,.0f}",
        "Outlier cap (annualised cost)": (
            f"£{published.cap_value:,.0f} (percentile {settings.outlier_cap_percentile})"
            if cap_shown
            else f"{disclosure.PRIMARY} (fewer than {settings.suppress_below} people above percentile "
            f"{settings.outlier_cap_percentile})"
        ),
    }
    if model is not None:
        for row in model.metrics.itertuples():
            figures[f"{row.model}: R² person / practice"] = f"{row.person_r2:.3f} / {row.practice_r2:.3f}"
    pcn = published.tables.get("needs_index_pcn")
    if pcn is not None and len(pcn):
        ics = pcn[pcn["pcn_code"] == needs.ALL].iloc[0]
        figures["Weighted population from"] = str(ics["weights_from"])
        if pd.notna(ics["share_practices_within_10pct"]):
            figures["Practices within 10% of their fair share"] = f"{ics['share_practices_within_10pct']:.0%}"
        networks = pcn[(pcn["pcn_code"] != needs.ALL) & pcn["actual_within_interval"].notna()]
        if len(networks):
            inside = int(networks["actual_within_interval"].astype(bool).sum())
            figures["PCNs whose actual mean lies in its 95% prediction interval"] = f"{inside} of {len(networks)}"
    coverage = published.tables.get("costing_coverage")
    if coverage is not None:
        figures.update(coverage_headline(coverage))
    return figures


def coverage_headline(coverage: pd.DataFrame) -> dict[str, str]:
    """Per source, the shares of its records and cost priced at each coverage level, from the published cells."""
    cells = disclosure.marked(
        coverage[(coverage["source"] != disclosure.ALL) & (coverage["cost_level"] != disclosure.ALL)]
    )

    def share(value: object) -> str:
        return value if isinstance(value, str) else f"{float(value):.0%}"  # type: ignore[arg-type]

    return {
        f"Records / cost of {source} priced at": "; ".join(
            f"{row.cost_level} {share(row.share_of_records)} / {share(row.share_of_cost)}" for row in rows.itertuples()
        )
        for source, rows in cells.groupby("source", sort=False)
    }


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
            table_notes=dictionary.TABLE_NOTES,
            lorenz=published.lorenz,
            top5_share=published.top5_share,
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
