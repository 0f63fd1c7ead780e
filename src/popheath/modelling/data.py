"""Read model-ready frames (features, outcomes, subgroup columns) from the warehouse.

Every column of ``features`` except the keys is a feature; NULL becomes NaN (LightGBM handles
missing values natively; the logistic baseline imputes, see ``estimators.LogisticBaseline``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from popheath.errors import InputError, StageError

log = logging.getLogger(__name__)

KEYS = ("as_of", "person_key")
GROUP_COLUMNS = ("age", "age_band", "sex", "ethnic_group", "imd_quintile", "place", "is_frail")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_NUMERIC_PREFIXES = ("DECIMAL", "DOUBLE", "FLOAT", "REAL", "BOOLEAN") + _NUMERIC


@dataclass
class ModelFrame:
    """One as-of date's modelled population: features, outcomes and subgroup columns, one row per person."""

    as_of: date
    person_key: np.ndarray
    x: np.ndarray
    feature_names: list[str]
    outcomes: dict[str, np.ndarray] = field(default_factory=dict)
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    dropped_missing_outcome: dict[str, int] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        """One feature's values."""
        return self.x[:, self.feature_names.index(name)]

    def subset(self, mask: np.ndarray) -> ModelFrame:
        """The rows where ``mask`` is true."""
        return ModelFrame(
            as_of=self.as_of,
            person_key=self.person_key[mask],
            x=self.x[mask],
            feature_names=self.feature_names,
            outcomes={name: values[mask] for name, values in self.outcomes.items()},
            groups=self.groups.loc[mask].reset_index(drop=True),
        )


def feature_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The feature columns of table ``features`` (all but the keys), checked to be numeric."""
    described = con.execute("DESCRIBE features").fetchall()
    names: list[str] = []
    for name, type_name, *_ in described:
        if name in KEYS:
            continue
        if not str(type_name).upper().startswith(_NUMERIC_PREFIXES):
            raise InputError("table features", name, "a numeric feature column", got=str(type_name))
        names.append(str(name))
    if not names:
        raise StageError("table features has no feature columns")
    return names


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def load_frame(
    con: duckdb.DuckDBPyConnection,
    as_of: date,
    *,
    outcomes: Sequence[str] = (),
    feature_names: Sequence[str] | None = None,
) -> ModelFrame:
    """The 65+ population (``cohort.is_65plus``) at ``as_of`` with features, outcomes (if asked) and subgroups."""
    names = list(feature_names) if feature_names is not None else feature_columns(con)
    feature_sql = ", ".join(f"CAST(f.{_quote(name)} AS DOUBLE) AS {_quote('f__' + name)}" for name in names)
    group_sql = ", ".join(f"c.{_quote(name)} AS {_quote('g__' + name)}" for name in GROUP_COLUMNS)
    outcome_sql = "".join(f", CAST(l.{_quote(name)} AS INTEGER) AS {_quote('y__' + name)}" for name in outcomes)
    join_labels = "JOIN labels AS l ON l.as_of = f.as_of AND l.person_key = f.person_key" if outcomes else ""
    # Grain: one row per person aged 65+ at the as-of date; ordered by person_key for reproducibility.
    sql = f"""
        SELECT f.person_key, {feature_sql}, {group_sql} {outcome_sql}
        FROM features AS f
        JOIN cohort AS c ON c.as_of = f.as_of AND c.person_key = f.person_key
        {join_labels}
        WHERE f.as_of = $as_of AND c.is_65plus
        ORDER BY f.person_key
    """
    try:
        table = con.execute(sql, {"as_of": as_of}).df()
    except duckdb.Error as error:
        raise StageError(f"cannot read features/cohort/labels at {as_of}: {error}".splitlines()[0]) from error
    if table.empty:
        raise StageError(f"no people aged 65+ with features at {as_of}: run `popheath features --as-of {as_of}`")
    dropped: dict[str, int] = {}
    keep = np.ones(len(table), dtype=bool)
    for name in outcomes:
        missing = table[f"y__{name}"].isna().to_numpy()
        dropped[name] = int(missing.sum())
        keep &= ~missing
    if not keep.all():
        log.warning("%d people at %s have no outcome label and are left out", int((~keep).sum()), as_of)
        table = table.loc[keep].reset_index(drop=True)
    x = table[[f"f__{name}" for name in names]].to_numpy(dtype=float, na_value=np.nan)
    groups = table[[f"g__{name}" for name in GROUP_COLUMNS]].rename(columns=lambda c: c.removeprefix("g__"))
    return ModelFrame(
        as_of=as_of,
        person_key=table["person_key"].astype(str).to_numpy(),
        x=x,
        feature_names=names,
        outcomes={name: table[f"y__{name}"].to_numpy(dtype=int) for name in outcomes},
        groups=groups,
        dropped_missing_outcome=dropped,
    )


def oracle_probabilities(
    con: duckdb.DuckDBPyConnection, truth: Path, as_of: date, person_key: np.ndarray, outcome: str
) -> np.ndarray | None:
    """The synthetic generator's true probability for each person (NaN where unknown), or None without truth."""
    path = truth / "risk.parquet"
    if not path.exists():
        return None
    column = f"p_{outcome}"
    try:
        frame = con.execute(
            f"SELECT CAST(person_id AS VARCHAR) AS person_key, CAST({_quote(column)} AS DOUBLE) AS p "
            "FROM read_parquet($path) WHERE CAST(as_of AS DATE) = $as_of",
            {"path": str(path), "as_of": as_of},
        ).df()
    except duckdb.Error as error:
        log.warning("%s: cannot read the oracle column %s: %s", path, column, str(error).splitlines()[0])
        return None
    lookup = pd.Series(frame["p"].to_numpy(dtype=float), index=frame["person_key"].astype(str))
    lookup = lookup[~lookup.index.duplicated()]
    return lookup.reindex(person_key).to_numpy(dtype=float, na_value=np.nan)
