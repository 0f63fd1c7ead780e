"""Statistical disclosure control for published capitation tables.

Rules (in the spirit of the NHS England / ONS small-number guidance for health statistics):

1. Primary suppression: a cell with fewer than ``suppress_below`` people has every value hidden.
2. Secondary suppression: a published total (a row with ``All`` in one or more dimensions) equals
   the sum of the cells it covers. If exactly one member of such a relation (the total and its
   cells) is hidden, it could be recovered by subtraction, so the smallest other visible cell is
   hidden too (the total itself when no cell is left). Repeated until no relation has exactly one.
3. Counts (people, person-years) are rounded to the nearest ``round_to``.

:func:`check_published` is run on every table before it is written (and by the tests).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from popheath.errors import StageError
from popheath.quality.nhs_number import is_valid_nhs_number

log = logging.getLogger(__name__)

ALL = "All"
COUNT_COLUMNS = ("people", "person_years")
PERSON_LEVEL_COLUMNS = re.compile(r"person_key|person_id|record_id|nhs|pseudo", re.IGNORECASE)


def _relations(table: pd.DataFrame, dims: Sequence[str]) -> list[np.ndarray]:
    """Additive relations among the rows: each is (total row, covered rows...) as row positions."""
    values = table[list(dims)].to_numpy(dtype=object)
    is_all = values == ALL
    finest = ~is_all.any(axis=1)
    relations: list[np.ndarray] = []
    for row in np.flatnonzero(is_all.any(axis=1)):
        fixed = ~is_all[row]
        agrees = np.all((values == values[row]) | ~fixed, axis=1)
        # Cells one level finer along each dimension that is a total in this row.
        for dim in np.flatnonzero(is_all[row]):
            others = np.ones(len(dims), dtype=bool)
            others[dim] = False
            same_elsewhere = np.all(values[:, others] == values[row, others], axis=1)
            children = np.flatnonzero(same_elsewhere & ~is_all[:, dim])
            if len(children):
                relations.append(np.r_[row, children])
        # The finest cells it covers.
        children = np.flatnonzero(finest & agrees)
        if len(children):
            relations.append(np.r_[row, children])
    return relations


def suppression_mask(table: pd.DataFrame, dims: Sequence[str], threshold: int, count: str = "people") -> pd.Series:
    """Which rows to hide: primary (< threshold people) plus secondary suppression over the totals."""
    counts = table[count].to_numpy(dtype=float)
    hidden = counts < threshold
    relations = _relations(table, dims) if dims else []
    changed = True
    while changed:
        changed = False
        for members in relations:
            if hidden[members].sum() != 1:
                continue
            visible_cells = [m for m in members[1:] if not hidden[m]]
            if visible_cells:
                pick = min(visible_cells, key=lambda m: (counts[m], m))
            else:
                pick = members[0]
            hidden[pick] = True
            changed = True
    return pd.Series(hidden, index=table.index, name="suppressed")


def round_to(values: pd.Series, base: int) -> pd.Series:
    """Round half up to the nearest ``base`` (5 -> 5, 7.5 -> 10, 12 -> 10)."""
    return np.floor(values.astype(float) / base + 0.5) * base


def protect(table: pd.DataFrame, dims: Sequence[str], threshold: int, base: int) -> pd.DataFrame:
    """Suppress (primary and secondary) and round a table for publication; adds a ``suppressed`` column."""
    hidden = suppression_mask(table, dims, threshold)
    result = table.copy()
    values = [c for c in result.columns if c not in dims]
    result[values] = result[values].astype(float)
    result.loc[hidden, values] = np.nan
    for column in COUNT_COLUMNS:
        if column in result.columns:
            result[column] = round_to(result[column], base)
    money = [c for c in values if c not in COUNT_COLUMNS]
    result[money] = result[money].round(0)
    result["suppressed"] = hidden.to_numpy()
    log.debug("suppressed %d of %d cells", int(hidden.sum()), len(result))
    return result


def check_published(name: str, table: pd.DataFrame, threshold: int, base: int) -> None:
    """Refuse to publish a table with person-level columns, small or unrounded counts, or NHS numbers."""
    leaked = [c for c in table.columns if PERSON_LEVEL_COLUMNS.search(str(c))]
    if leaked:
        raise StageError(f"{name}: person-level column(s) {', '.join(leaked)} in a published table")
    for column in COUNT_COLUMNS:
        if column not in table.columns:
            continue
        shown = table[column].dropna().astype(float)
        # The threshold is on people (head counts); person-years are only rounded.
        if column == "people" and (shown < threshold).any():
            raise StageError(f"{name}: column {column} shows a count under {threshold}")
        if ((shown % base) != 0).any():
            raise StageError(f"{name}: column {column} is not rounded to the nearest {base}")
    for column in table.columns:
        cells = table[column].dropna()
        texts = cells.map(lambda v: f"{v:.0f}" if isinstance(v, float) and float(v).is_integer() else str(v))
        if texts.map(is_valid_nhs_number).any():
            raise StageError(f"{name}: column {column} holds a value that passes the NHS number check")
