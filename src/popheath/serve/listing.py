"""What the list page, its CSV download and the API do to a PCN's list rows: search, filters, sort, live actions.

The rows are the release CSV's text (``page_data``); the same :class:`ListQuery` drives the page,
the printable MDT view, the filtered CSV and the API, so all four always show the same people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Annotated, Any
from urllib.parse import quote

import pandas as pd
from fastapi import Query

from popheath.lists import files

# Cells that mean "yes" in a Y/blank column such as social_care or in_hospital_now.
_YES = frozenset({"y", "yes", "true", "1"})
_NUMERIC = frozenset({"int", "risk", "percentile"})
SPEC = {column.name: column for column in files.LIST_COLUMNS}
IN_HOSPITAL = "in_hospital_now"


def is_yes(value: object) -> bool:
    """True for Y / yes / true / 1 (any case)."""
    return str(value).strip().lower() in _YES


@dataclass(frozen=True)
class ListQuery:
    """Search, filters and sort shared by the page, the print view, the CSV download and the API.

    ``todo``: no action recorded yet (by the release or since); ``in_hospital``: the row's
    ``in_hospital_now`` is Y (ignored when the release has no such column); ``new``: change = new.
    """

    practice: str | None = None
    segment: str | None = None
    tier: str | None = None
    change: str | None = None
    q: str | None = None
    todo: bool = False
    in_hospital: bool = False
    new: bool = False
    sort: str | None = None
    desc: bool = False

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows matching the search and every filter given, in the chosen order (rank by default)."""
        for name, column in (
            ("practice", "practice_code"),
            ("segment", "segment"),
            ("tier", "tier"),
            ("change", "change"),
        ):
            value = getattr(self, name)
            if value:
                frame = frame[frame[column] == value]
        if self.q:
            needle = self.q.strip().upper()
            frame = frame[frame["person_token"].str.upper().str.contains(needle, regex=False)]
        if self.todo and "last_action" in frame.columns:
            frame = frame[frame["last_action"].fillna("") == ""]
        if self.in_hospital and IN_HOSPITAL in frame.columns:
            frame = frame[frame[IN_HOSPITAL].map(is_yes)]
        if self.new:
            frame = frame[frame["change"] == "new"]
        return sort_rows(frame, self.sort, self.desc)

    def as_dict(self) -> dict[str, Any]:
        """The search, filters and sort in use (for the audit log and links)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def link(self, **change: Any) -> str:
        """A query string for these settings with ``change`` applied (empty values dropped)."""
        values = self.as_dict() | change
        return "&".join(
            f"{key}={1 if value is True else quote(str(value), safe='')}" for key, value in values.items() if value
        )


def sort_rows(frame: pd.DataFrame, column: str | None, desc: bool) -> pd.DataFrame:
    """Rows ordered by one column: numbers as numbers, blanks last either way, ties by rank."""
    if not column or column not in frame.columns or frame.empty:
        return frame
    kind = SPEC[column].kind if column in SPEC else "text"
    values = frame[column]
    if kind in _NUMERIC:
        key = pd.to_numeric(values, errors="coerce")
    else:
        key = values.fillna("").astype(str).str.lower().where(values.fillna("") != "", None)
    rank = pd.to_numeric(frame["rank"], errors="coerce") if "rank" in frame.columns else pd.Series(0, index=frame.index)
    ordered = pd.DataFrame({"blank": key.isna(), "key": key, "rank": rank}, index=frame.index)
    ordered = ordered.sort_values(["blank", "key", "rank"], ascending=[True, not desc, True], na_position="last")
    return frame.loc[ordered.index]


def with_live_actions(frame: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """The release rows with each person's latest action as recorded now (feedback since the release shows at once).

    ``latest`` is :func:`popheath.lists.feedback.latest_actions` over the PCN's actions in force; it
    is a superset of what the release was built from (the store is append-only), so it wins.
    """
    if latest.empty or frame.empty:
        return frame
    by_token = latest.set_index(latest["person_token"].astype(str))
    out = frame.copy()
    hit = out["person_token"].isin(by_token.index)
    tokens = out.loc[hit, "person_token"]
    out.loc[hit, "last_action"] = by_token.loc[tokens, "last_action"].astype(str).to_numpy()
    out.loc[hit, "last_action_date"] = [
        pd.Timestamp(d).strftime("%Y-%m-%d") for d in by_token.loc[tokens, "last_action_date"]
    ]
    out.loc[hit, "action_summary"] = by_token.loc[tokens, "action_summary"].astype(str).to_numpy()
    return out


def typed(value: str, kind: str) -> Any:
    """One CSV cell for JSON: int and decimal columns as numbers, blanks as null, the rest as text."""
    if value == "" or value is None:
        return None
    if kind == "int":
        return int(value)
    if kind in ("risk", "percentile"):
        number = float(value)
        return None if math.isnan(number) else number
    return value


def typed_rows(frame: pd.DataFrame, columns: tuple[files.Column, ...]) -> list[dict[str, Any]]:
    """Rows for the API: the file's columns in order, typed by the file spec (unknown columns as text)."""
    kinds = {column.name: column.kind for column in columns}
    return [
        {name: typed(value, kinds.get(name, "text")) for name, value in row.items()} for row in frame.to_dict("records")
    ]


def table_columns(frame: pd.DataFrame) -> list[files.Column]:
    """The spec's list-table columns this release has, in file order (a newer column shows once it is in the spec)."""
    return [column for column in files.LIST_COLUMNS if column.on_table and column.name in frame.columns]


def detail_columns(frame: pd.DataFrame) -> list[files.Column]:
    """Every spec column this release has (the person page shows them all, with their descriptions)."""
    return [column for column in files.LIST_COLUMNS if column.name in frame.columns]


def query_params(
    practice: Annotated[str | None, Query(max_length=32)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    tier: Annotated[str | None, Query(max_length=32)] = None,
    change: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=64, description="part of a person token")] = None,
    todo: Annotated[bool, Query(description="only people with no action recorded yet")] = False,
    in_hospital: Annotated[bool, Query(description="only people in hospital now (when the list has it)")] = False,
    new: Annotated[bool, Query(description="only people new on this list")] = False,
    sort: Annotated[str | None, Query(max_length=64, description="a column of the list")] = None,
    desc: Annotated[bool, Query(description="sort highest first")] = False,
) -> ListQuery:
    """The list query from the URL (FastAPI dependency); an unknown sort column is ignored."""
    known = sort if sort in {column.name for column in files.LIST_COLUMNS} else None
    return ListQuery(
        practice or None, segment or None, tier or None, change or None, (q or "").strip() or None,
        todo, in_hospital, new, known, desc and known is not None,
    )  # fmt: skip
