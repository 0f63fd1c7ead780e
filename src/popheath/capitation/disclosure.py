"""Statistical disclosure control for published capitation tables.

Rules (in the spirit of the NHS England / ONS small-number guidance for health statistics, and of
the primary and secondary cell suppression of Hundepool A et al., *Statistical Disclosure Control*,
Wiley 2012, chapter 4):

1. Primary suppression, threshold rule: a cell with fewer than ``suppress_below`` people has every
   value hidden (no mean, median, percentile or total from it). No maximum is ever published: a
   maximum is one person's cost.
2. Primary suppression, (n, k) dominance rule (Hundepool et al. 2012, section 4.2.2): a cell whose
   ``dominance_n`` largest contributors account for more than ``dominance_k`` per cent of its total
   cost has every value hidden, since its mean and total would reveal roughly what those people
   cost. The defaults (n = 2, k = 85) are those of the ``sdcTable`` R package's nk rule; a cell in
   which one person holds more than 85% of the cost is always caught.
3. Percentile rule: a percentile ``q`` of a cell (``median_cost`` q = 0.5, ``p95_cost`` q = 0.95)
   is shown only when at least ``suppress_below`` people lie beyond it on its thinner side by rank
   (``people x min(q, 1 - q) >= suppress_below``), so no published percentile rests on a handful
   of people: a p95 needs 200 people at the default threshold, a median 20. The cell is marked
   ``primary`` in that column only (percentiles do not add up, so nothing else is needed).
4. Secondary suppression: a published total (a row with ``All`` in one or more dimensions) equals
   the sum of the cells it covers. If exactly one member of such a relation (the total and its
   cells) is hidden, it could be recovered by subtraction, so the smallest other visible cell is
   hidden too (the total itself when no cell is left). Repeated until no relation has exactly one.
5. Counts (people, person-years, records) are rounded to the nearest ``round_to`` and published as
   integers.

Each protected row carries ``suppression`` (``none``, ``primary`` or ``secondary``) and
``suppressed_statistics`` (the columns hidden by rule 3, or ``none``). In the CSV, Excel and HTML
files every hidden cell holds the word ``primary`` or ``secondary`` (:func:`marked`), never a
blank; the Parquet files keep typed columns with nulls beside the same two columns.

:func:`check_published` is run on every table before it is written (and by the tests).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from popheath.errors import StageError
from popheath.quality.nhs_number import is_valid_nhs_number

log = logging.getLogger(__name__)

ALL = "All"
COUNT_COLUMNS = ("people", "person_years")
PERSON_LEVEL_COLUMNS = re.compile(r"person_key|person_id|record_id|nhs|pseudo", re.IGNORECASE)
STATUS = "suppression"
STATISTICS = "suppressed_statistics"
PRIMARY, SECONDARY, NONE = "primary", "secondary", "none"
MARKERS = (PRIMARY, SECONDARY)
DOMINANCE = "_dominance_share"  # internal column: share of a cell's cost held by its n largest contributors
PERCENTILES: Mapping[str, float] = {"median_cost": 0.5, "p95_cost": 0.95}
META_COLUMNS = (STATUS, STATISTICS, "financial_year", "price_base")


def is_count(column: str) -> bool:
    """Whether a published column is a count (people, person-years, records, practices): whole numbers."""
    if column.startswith("share_"):  # a proportion (share_of_records), not a count
        return False
    return column in COUNT_COLUMNS or "records" in column or column in ("practices", "practices_published")


def dominance_share(frame: pd.DataFrame, by: Sequence[str], value: str, n: int) -> pd.Series:
    """Share of each group's total ``value`` held by its ``n`` largest contributors (0 for a zero total).

    ``by`` empty means the whole frame as one group (index ``All``). Vectorised: one sort, then the
    first ``n`` rows of each group.
    """
    amounts = frame[value].astype(float).clip(lower=0)
    ranked = frame.assign(_v=amounts).sort_values("_v", ascending=False, kind="stable")
    if by:
        top = ranked.groupby(list(by), observed=True).head(n).groupby(list(by), observed=True)["_v"].sum()
        total = ranked.groupby(list(by), observed=True)["_v"].sum()
    else:
        top = pd.Series([ranked["_v"].head(n).sum()], index=[ALL])
        total = pd.Series([ranked["_v"].sum()], index=[ALL])
    return (top / total.where(total > 0)).fillna(0.0).rename(DOMINANCE)


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


def suppression_status(
    table: pd.DataFrame,
    dims: Sequence[str],
    threshold: int,
    count: str = "people",
    dominant: np.ndarray | None = None,
) -> pd.Series:
    """``primary`` (under ``threshold`` people, or ``dominant``), ``secondary`` (to protect those) or ``none``."""
    counts = table[count].to_numpy(dtype=float)
    primary = counts < threshold
    if dominant is not None:
        primary = primary | dominant
    hidden = primary.copy()
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
    status = np.where(primary, PRIMARY, np.where(hidden, SECONDARY, NONE))
    return pd.Series(status, index=table.index, name=STATUS)


def suppression_mask(table: pd.DataFrame, dims: Sequence[str], threshold: int, count: str = "people") -> pd.Series:
    """Which rows to hide: primary (< threshold people) plus secondary suppression over the totals."""
    return (suppression_status(table, dims, threshold, count) != NONE).rename("suppressed")


def percentile_shown(people: np.ndarray | float, quantile: float, threshold: int) -> np.ndarray:
    """Rule 3: a percentile ``quantile`` of ``people`` may be shown when ``threshold`` people lie beyond it."""
    return np.asarray(people, dtype=float) * min(quantile, 1 - quantile) >= threshold


def round_to(values: pd.Series, base: int) -> pd.Series:
    """Round half up to the nearest ``base`` (5 -> 5, 7.5 -> 10, 12 -> 10)."""
    return np.floor(values.astype(float) / base + 0.5) * base


def as_counts(values: pd.Series, base: int) -> pd.Series:
    """Round to the nearest ``base`` and hold as (nullable) integers."""
    return round_to(values, base).round().astype("Int64")


def protect(
    table: pd.DataFrame,
    dims: Sequence[str],
    threshold: int,
    base: int,
    *,
    dominance_k: float | None = None,
    percentiles: Mapping[str, float] = PERCENTILES,
) -> pd.DataFrame:
    """Suppress (primary, dominance, percentile and secondary) and round a table for publication.

    A ``_dominance_share`` column (from :func:`dominance_share`), when present and ``dominance_k``
    is given, marks cells whose largest contributors hold more than ``dominance_k`` per cent of
    the cost; it is dropped. Adds ``suppression`` and ``suppressed_statistics``.
    """
    dominant = None
    if DOMINANCE in table.columns and dominance_k is not None:
        dominant = table[DOMINANCE].to_numpy(dtype=float) > dominance_k / 100
    table = table.drop(columns=[DOMINANCE], errors="ignore")
    status = suppression_status(table, dims, threshold, dominant=dominant)
    hidden = (status != NONE).to_numpy()
    result = table.copy()
    values = [c for c in result.columns if c not in dims]
    result[values] = result[values].astype(float)
    result.loc[hidden, values] = np.nan
    thin: dict[str, np.ndarray] = {}
    people = table["people"].to_numpy(dtype=float)
    for column, quantile in percentiles.items():
        if column in result.columns:
            thin[column] = ~hidden & ~percentile_shown(people, quantile, threshold)
            result.loc[thin[column], column] = np.nan
    money = [c for c in values if not is_count(c)]
    result[money] = result[money].round(0)
    for column in [c for c in values if is_count(c)]:
        result[column] = as_counts(result[column], base)
    result[STATUS] = status.to_numpy()
    names = np.array([",".join(c for c, rows in thin.items() if rows[i]) for i in range(len(result))], dtype=object)
    result[STATISTICS] = np.where(names == "", NONE, names)
    log.debug("suppressed %d of %d cells", int(hidden.sum()), len(result))
    return result


def marked(table: pd.DataFrame) -> pd.DataFrame:
    """The table as published in CSV, Excel and HTML: each hidden cell holds ``primary`` or ``secondary``.

    A row marked ``primary`` / ``secondary`` has that word in every empty value cell; a column named
    in ``suppressed_statistics`` holds ``primary`` (rule 3). Tables without suppression pass through.
    """
    if STATUS not in table.columns:
        return table
    result = table.copy()
    status = table[STATUS].astype(str)
    statistics = table[STATISTICS].astype(str) if STATISTICS in table.columns else pd.Series(NONE, index=table.index)
    for column in [c for c in table.columns if c not in META_COLUMNS]:
        empty = table[column].isna()
        if not empty.any():
            continue
        listed = statistics.map(lambda names, c=column: c in names.split(","))
        marks = pd.Series(pd.NA, index=table.index, dtype=object)
        marks[empty & listed] = PRIMARY
        marks[empty & status.isin(MARKERS)] = status[empty & status.isin(MARKERS)]
        if marks.notna().any():
            result[column] = table[column].astype(object).where(marks.isna(), marks)
    return result


def _numbers(name: str, column: str, cells: pd.Series) -> pd.Series:
    """A published column's values as numbers, hidden-cell markers dropped; anything else is refused."""
    shown = cells.dropna()
    shown = shown[~shown.astype(str).isin(MARKERS)]
    numbers = pd.to_numeric(shown, errors="coerce")
    if numbers.isna().any():
        raise StageError(f"{name}: column {column} holds a value that is neither a number nor a suppression mark")
    return numbers.astype(float)


def check_published(name: str, table: pd.DataFrame, threshold: int, base: int) -> None:
    """Refuse to publish a table with person-level columns, small or unrounded counts, or NHS numbers."""
    leaked = [c for c in table.columns if PERSON_LEVEL_COLUMNS.search(str(c))]
    if leaked:
        raise StageError(f"{name}: person-level column(s) {', '.join(leaked)} in a published table")
    for column in COUNT_COLUMNS:
        if column not in table.columns:
            continue
        shown = _numbers(name, column, table[column])
        # The threshold is on people (head counts); person-years are only rounded.
        if column == "people" and (shown < threshold).any():
            raise StageError(f"{name}: column {column} shows a count under {threshold}")
        if ((shown % base) != 0).any():
            raise StageError(f"{name}: column {column} is not rounded to the nearest {base}")
    if STATUS in table.columns and not table[STATUS].isin((NONE, *MARKERS)).all():
        raise StageError(f"{name}: column {STATUS} holds a value other than {NONE}, {PRIMARY} or {SECONDARY}")
    for column in table.columns:
        # Computed numbers (costs, weighted populations) are floats and never an identifier, the rule
        # of the output scan (popheath.quality.output_scan): an ICS's total cost of £1.7bn has ten
        # digits and passes the modulus-11 check one time in eleven.
        cells = table[column].dropna()
        texts = cells[~cells.map(lambda v: isinstance(v, float))].map(str)
        if texts.map(is_valid_nhs_number).any():
            raise StageError(f"{name}: column {column} holds a value that passes the NHS number check")
