"""Published national activity rates (``published_rates.csv``) and the generator's rates beside them.

Each row of the file is one measure of one source in one age band: a rate per person-year of
England's population (ONS mid-year estimates as the denominator), with the publication, the figure
it was derived from, and whether it was verified, derived or is an assumption (``NOT VERIFIED``).
:func:`compare` counts a world's records against every row, the same way for the generator's own
frames (tests) and for the warehouse the pipeline builds from them (``make bench``, realism section).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from popheath.errors import InputError

RATES_FILE = Path(__file__).with_name("published_rates.csv")
# A simulated rate within this factor of the published one is "in range" (either way).
TOLERANCE = 1.35
COLUMNS = (
    "source", "measure", "year", "age_band", "sex", "rate_per_person_year", "status",
    "published_figure", "denominator", "url", "note",
)  # fmt: skip
# Measures counted once per person (people with the service at any time in the year), not per record.
PER_PERSON = frozenset({"long_term_support_clients"})


@dataclass(frozen=True)
class PublishedRate:
    """One published rate: source, measure, publication year, age band, sex and its status."""

    source: str
    measure: str
    year: str
    age_band: str
    sex: str
    rate: float
    status: str
    url: str

    @property
    def ages(self) -> tuple[int, int]:
        """The band as [low, high) years: ``18-44`` -> (18, 45), ``85+`` -> (85, 200), ``all`` -> (0, 200)."""
        return band_bounds(self.age_band)


def band_bounds(label: str) -> tuple[int, int]:
    """Parse an age band label (``all``, ``85+``, ``18-44``) into [low, high) years."""
    if label == "all":
        return 0, 200
    if label.endswith("+"):
        return int(label[:-1]), 200
    low, high = label.split("-")
    return int(low), int(high) + 1


def load(path: Path = RATES_FILE) -> list[PublishedRate]:
    """Read the published rates; a malformed row is one error naming file, row and field."""
    rows: list[PublishedRate] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise InputError(file=str(path), field="header", expected=",".join(COLUMNS), got=str(reader.fieldnames))
        for number, row in enumerate(reader, start=2):
            try:
                rate = float(row["rate_per_person_year"])
                band_bounds(row["age_band"])
            except ValueError:
                raise InputError(
                    file=str(path),
                    row=number,
                    field="rate_per_person_year / age_band",
                    expected="a number and a band like 18-44, 85+ or all",
                    got=f"{row['rate_per_person_year']} / {row['age_band']}",
                ) from None
            rows.append(
                PublishedRate(
                    row["source"],
                    row["measure"],
                    row["year"],
                    row["age_band"],
                    row["sex"],
                    rate,
                    row["status"],
                    row["url"],
                )  # fmt: skip
            )
    return rows


def compare(denominator: pl.DataFrame, events: pl.DataFrame, rates: list[PublishedRate] | None = None) -> pl.DataFrame:
    """Simulated beside published rates, one row per published rate.

    ``denominator``: person, age (years at the start of the year), person_years (registered and
    alive in the year). ``events``: person, source, measure - one row per record in the year
    (for :data:`PER_PERSON` measures, any number of rows per person; each person counts once).
    """
    rates = load() if rates is None else rates
    counted = events.join(denominator.select("person", "age"), on="person", how="inner")
    out = []
    for published in rates:
        low, high = published.ages
        people = denominator.filter((pl.col("age") >= low) & (pl.col("age") < high))
        rows = counted.filter(
            (pl.col("source") == published.source)
            & (pl.col("measure") == published.measure)
            & (pl.col("age") >= low)
            & (pl.col("age") < high)
        )
        count = rows["person"].n_unique() if published.measure in PER_PERSON else rows.height
        years = float(people["person_years"].sum()) if published.measure not in PER_PERSON else people.height
        simulated = count / years if years else float("nan")
        ratio = simulated / published.rate if published.rate else float("nan")
        out.append(
            {
                "source": published.source,
                "measure": published.measure,
                "age_band": published.age_band,
                "published": published.rate,
                "published_year": published.year,
                "status": published.status,
                "simulated": simulated,
                "ratio": ratio,
                "in_range": 1 / TOLERANCE <= ratio <= TOLERANCE,
            }
        )
    return pl.DataFrame(out)
