"""Train and test frames of the prospective model.

The model learns this year's cost from last year's: it trains on the previous year's planning
population with the features at that year's start, and is tested on this year's with this year's.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from popheath.capitation import costing
from popheath.capitation.costing import FinancialYear
from popheath.capitation.inputs import features_at
from popheath.capitation.prospective import ID_COLUMNS
from popheath.config import Settings


@dataclass(frozen=True)
class ModelData:
    """Person-level train and test frames and the feature columns they share."""

    train: pd.DataFrame
    test: pd.DataFrame
    columns: list[str]


def model_frame(population: pd.DataFrame, features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The population joined to its features, sorted by person key, features as float32."""
    merged = population.merge(features[["person_key", *columns]], on="person_key", how="inner")
    merged = merged.sort_values("person_key", ignore_index=True)  # row order fixed: reproducible fits
    merged[columns] = merged[columns].astype("float32")
    return merged


def prospective_data(
    con: duckdb.DuckDBPyConnection, settings: Settings, year: FinancialYear, population: pd.DataFrame
) -> ModelData | None:
    """Frames for the model of ``year`` (``population`` is its planning population); ``None`` without features.

    Writes the previous year's ``cap_person_year`` rows (from its ``activity_costs``) on the way.
    """
    previous = FinancialYear(year.year - 1)
    train_features, test_features = features_at(con, previous.start), features_at(con, year.start)
    if train_features is None or test_features is None:
        return None
    costing.build_person_year(con, settings, previous)
    train_population = costing.planning_population(con, settings, previous, previous.start)
    columns = [
        c
        for c in test_features.columns
        if c not in ID_COLUMNS
        and c not in population.columns  # age and sex come from the person table
        and pd.api.types.is_numeric_dtype(test_features[c])
        and c in train_features
    ]
    return ModelData(
        train=model_frame(train_population, train_features, columns),
        test=model_frame(population, test_features, columns),
        columns=columns,
    )
