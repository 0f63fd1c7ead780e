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
from popheath.capitation.inputs import model_features
from popheath.capitation.prospective import ID_COLUMNS
from popheath.config import Settings


@dataclass(frozen=True)
class ModelData:
    """Person-level train and test frames and the feature columns they share."""

    train: pd.DataFrame
    test: pd.DataFrame
    columns: list[str]


def model_frame(population: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """The population joined to its features (float32), in the features' person-key order.

    ``features`` is sorted by person key and an inner merge keeps the left frame's order, so the rows
    come out sorted without another copy: the fits see the same rows in the same order on every run.
    """
    return features.merge(population, on="person_key", how="inner", validate="one_to_one")


def prospective_data(
    con: duckdb.DuckDBPyConnection, settings: Settings, year: FinancialYear, population: pd.DataFrame
) -> ModelData | None:
    """Frames for the model of ``year`` (``population`` is its planning population); ``None`` without features.

    Writes the previous year's ``cap_person_year`` rows (from its ``activity_costs``) on the way.
    Age and sex come from the person table (the population), not the features.
    """
    previous = FinancialYear(year.year - 1)
    leave_out = ID_COLUMNS | set(population.columns)
    test_features = model_features(con, year.start, leave_out)
    train_features = model_features(con, previous.start, leave_out)
    if train_features is None or test_features is None:
        return None
    costing.build_person_year(con, settings, previous)
    train_population = costing.planning_population(con, settings, previous, previous.start)
    columns = [c for c in test_features.columns if c != "person_key" and c in train_features]
    return ModelData(
        train=model_frame(train_population, train_features[["person_key", *columns]]),
        test=model_frame(population, test_features[["person_key", *columns]]),
        columns=columns,
    )
