"""What the team did, who already manages the person, how complete the data is: added to a release's list rows.

Pure: the built list rows, the latest feedback per (PCN, person) and the listed people's coverage rows
in; the rows with ``last_action``, ``last_action_date``, ``action_summary``, ``already_managed``,
``managed_by``, ``impactability_note``, ``use_rising``, ``data_sources`` and ``coverage_flag`` out, and
"new" replaced by "unchanged" for people the team acted on recently (``lists.new_hold_days``): they are
not new to the coordinator. Already-managed and impactability rules: ``lists/row_rules.yaml``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from popheath.lists.coverage import SOURCES, coverage_flags
from popheath.lists.feedback import held_off_new
from popheath.lists.row_rules import RowRules, impactability_note, load_row_rules, managed_note

ANNOTATION_COLUMNS = (
    "last_action",
    "last_action_date",
    "action_summary",
    "already_managed",
    "managed_by",
    "impactability_note",
    "use_rising",
    "data_sources",
    "coverage_flag",
)


def annotate_lists(
    lists: pd.DataFrame,
    as_of: date,
    latest_feedback: pd.DataFrame,
    coverage: pd.DataFrame,
    hold_days: int,
    stale_days: int,
    row_rules: RowRules | None = None,
) -> pd.DataFrame:
    """The list rows with feedback, already-managed, impactability and coverage columns (same rows, same order)."""
    rules = row_rules or load_row_rules()
    out = lists.copy()
    if out.empty:
        for column in ANNOTATION_COLUMNS:
            out[column] = pd.Series(dtype=object)
        out["held_from_new"] = pd.Series(dtype=bool)
        return out
    keys = list(zip(out["pcn_code"].astype(str), out["person_token"].astype(str), strict=True))
    by_key = {(str(r["pcn_code"]), str(r["person_token"])): r for r in latest_feedback.to_dict("records")}
    out["last_action"] = [by_key[k]["last_action"] if k in by_key else None for k in keys]
    out["last_action_date"] = [by_key[k]["last_action_date"] if k in by_key else None for k in keys]
    out["action_summary"] = [by_key[k]["action_summary"] if k in by_key else None for k in keys]
    held = held_off_new(latest_feedback, as_of, hold_days)
    out["held_from_new"] = [k in held for k in keys]
    out.loc[out["held_from_new"] & (out["change"] == "new"), "change"] = "unchanged"
    _managed_and_impactability(out, rules)
    if coverage.empty or "person_key" not in coverage.columns or len(coverage) == 0:
        out["data_sources"] = None
        out["coverage_flag"] = "coverage not computed for this date"
        return out
    merged = out[["person_token"]].merge(
        coverage.drop_duplicates("person_key"), how="left", left_on="person_token", right_on="person_key"
    )
    merged.index = out.index
    out["data_sources"] = [
        ", ".join(label for source, (label, *_r) in SOURCES.items() if _true(row.get(f"has_{source}"))) or "none"
        for row in merged.to_dict("records")
    ]
    out["coverage_flag"] = coverage_flags(merged, as_of, stale_days)
    return out


def _managed_and_impactability(out: pd.DataFrame, rules: RowRules) -> None:
    """Add ``already_managed`` / ``managed_by`` and ``impactability_note`` / ``use_rising`` in place."""
    records = out.to_dict("records")
    managed = [
        managed_note(r.get("community_team_contact"), r.get("last_action"), r.get("action_summary"), rules)
        for r in records
    ]
    out["managed_by"] = [text or None for text in managed]
    out["already_managed"] = ["Y" if text else "N" for text in managed]
    notes = [
        impactability_note(
            r.get("emergency_admissions_window"),
            r.get("acsc_admissions_window"),
            r.get("emergency_admissions_recent"),
            r.get("emergency_admissions_before"),
            rules,
        )
        for r in records
    ]
    out["impactability_note"] = [note or None for note, _rising in notes]
    out["use_rising"] = ["Y" if rising else "N" for _note, rising in notes]


def _true(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value)) and bool(value)
