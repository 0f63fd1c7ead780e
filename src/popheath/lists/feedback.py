"""Coordinator feedback: what was done for a person on a PCN's list, kept across reruns and releases.

Stored in its own SQLite file, ``<paths.outputs>/feedback/feedback.sqlite3``, not in the warehouse
and not in a release folder:

- the page/API must be able to write at any time, while nightly stages hold DuckDB's single-writer
  lock on the warehouse for minutes; SQLite takes a lock only for the milliseconds of one INSERT
  (WAL mode: readers never block the writer), and the publish stage reads it read-only;
- stages rebuild their warehouse tables and releases are pruned; feedback must outlive both;
- the table is append-only: an action is never updated or deleted, so the history is its own audit.
  A mistake is put right by a correction: a new row whose ``corrects`` holds the ``action_id`` it
  replaces, with its own user and ``recorded_at`` (who corrected it, when). Each entry can be
  corrected once (correct the correction to change it again); :meth:`FeedbackStore.actions` leaves
  out corrected rows, :meth:`FeedbackStore.history` shows every row with ``corrected_by``.

The free-text note is stored for the team's own use, cut to ``lists.feedback_note_max_chars`` and
never copied to a release, CSV, report or evaluation output (only :func:`history` returns it).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from popheath.errors import InputError

ACTIONS: dict[str, str] = {
    "contacted": "Contacted",
    "care_plan_in_place": "Care plan in place",
    "already_on_caseload": "Already on caseload",
    "not_suitable": "Not suitable",
    "declined": "Declined",
    "wrong_person_data_error": "Wrong person / data error",
}
# Why a person is not suitable (required with not_suitable, refused with anything else).
NOT_SUITABLE_REASONS: dict[str, str] = {
    "end_of_life_care_in_place": "End-of-life care already in place",
    "already_supported_elsewhere": "Already supported by another service",
    "risk_not_modifiable": "Risk not modifiable by the team",
    "lacks_capacity_or_consent": "Cannot engage (capacity or consent)",
    "moved_or_deceased": "Moved away or died",
    "other": "Other",
}
# Plain words for "on the list, and this was done" (shown on the next list).
SINCE_WORDS: dict[str, str] = {
    "contacted": "contacted on",
    "care_plan_in_place": "care plan in place since",
    "already_on_caseload": "on caseload since",
    "not_suitable": "judged not suitable on",
    "declined": "declined on",
    "wrong_person_data_error": "data error reported on",
}
# Outcome of coordinators' judgement for the who-can-be-helped model (other actions say nothing).
SUITABLE_ACTIONS = ("contacted", "care_plan_in_place")
UNSUITABLE_ACTIONS = ("not_suitable", "declined")
# Actions that mean the person was reached by the team (the evaluation's "contacted" group).
INTERVENTION_ACTIONS = ("contacted", "care_plan_in_place")

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback_actions (
    action_id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    action_date TEXT NOT NULL,
    user TEXT NOT NULL,
    pcn_code TEXT NOT NULL,
    person_token TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT,
    note TEXT,
    release_id TEXT,
    list_as_of TEXT,
    corrects INTEGER REFERENCES feedback_actions (action_id)
);
CREATE INDEX IF NOT EXISTS feedback_by_person ON feedback_actions (pcn_code, person_token, action_date);
"""
# Columns that may leave the store (the note never does).
EXPORT_COLUMNS = (
    "action_id",
    "recorded_at",
    "action_date",
    "user",
    "pcn_code",
    "person_token",
    "action",
    "reason",
    "release_id",
    "list_as_of",
    "corrects",
)


def feedback_path(outputs: Path) -> Path:
    """The feedback database of an outputs folder."""
    return outputs / "feedback" / "feedback.sqlite3"


@dataclass(frozen=True)
class Action:
    """One recorded action (validated)."""

    user: str
    pcn_code: str
    person_token: str
    action: str
    reason: str | None = None
    note: str | None = None
    action_date: date | None = None
    release_id: str | None = None
    list_as_of: date | None = None
    corrects: int | None = None


def check_action(action: Action, note_max_chars: int) -> Action:
    """The action with its note trimmed; InputError naming the field when a value is not allowed."""
    if action.action not in ACTIONS:
        raise InputError("feedback", "action", f"one of {', '.join(ACTIONS)}", got=str(action.action))
    if action.action == "not_suitable":
        if action.reason not in NOT_SUITABLE_REASONS:
            raise InputError(
                "feedback",
                "reason",
                f"one of {', '.join(NOT_SUITABLE_REASONS)} with not_suitable",
                got=repr(action.reason),
            )
    elif action.reason:
        raise InputError("feedback", "reason", "empty unless the action is not_suitable", got=str(action.reason))
    note = (action.note or "").strip()
    if len(note) > note_max_chars:
        raise InputError("feedback", "note", f"at most {note_max_chars} characters", got=f"{len(note)} characters")
    today = datetime.now(UTC).date()
    if action.action_date is not None and action.action_date > today:
        raise InputError("feedback", "action_date", "today or earlier", got=action.action_date.isoformat())
    return Action(
        user=action.user,
        pcn_code=action.pcn_code,
        person_token=action.person_token,
        action=action.action,
        reason=action.reason or None,
        note=note or None,
        action_date=action.action_date or today,
        release_id=action.release_id,
        list_as_of=action.list_as_of,
        corrects=action.corrects,
    )


class FeedbackStore:
    """Append-only store of coordinator actions (one SQLite file; safe for several processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            con = sqlite3.connect(":memory:")
            con.executescript(SCHEMA)
            try:
                yield con
            finally:
                con.close()
            return
        uri = f"file:{self.path}?mode={'rwc' if write else 'ro'}"
        con = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            if write:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=FULL")
                con.executescript(SCHEMA)
                if "corrects" not in _columns(con):  # a store made before corrections existed
                    con.execute("ALTER TABLE feedback_actions ADD COLUMN corrects INTEGER")
            yield con
        finally:
            con.close()

    def record(self, action: Action, note_max_chars: int, now: datetime | None = None) -> dict[str, Any]:
        """Append one action (checked first); returns it as stored, without the note.

        With ``corrects``, the entry must be this PCN's, for this person, and not yet corrected;
        the check and the insert are one transaction, so two corrections of one entry cannot both land.
        """
        checked = check_action(action, note_max_chars)
        recorded_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        action_date = (checked.action_date or date.today()).isoformat()
        with self._lock, self._connect(write=True) as con:
            con.execute("BEGIN IMMEDIATE")
            if checked.corrects is not None:
                _check_correctable(con, checked)
            cursor = con.execute(
                "INSERT INTO feedback_actions (recorded_at, action_date, user, pcn_code, person_token, action, reason,"
                " note, release_id, list_as_of, corrects) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    recorded_at,
                    action_date,
                    checked.user,
                    checked.pcn_code,
                    checked.person_token,
                    checked.action,
                    checked.reason,
                    checked.note,
                    checked.release_id,
                    checked.list_as_of.isoformat() if checked.list_as_of else None,
                    checked.corrects,
                ),
            )
            con.commit()
            action_id = cursor.lastrowid
        return {
            "action_id": action_id,
            "recorded_at": recorded_at,
            "action_date": action_date,
            "user": checked.user,
            "pcn_code": checked.pcn_code,
            "person_token": checked.person_token,
            "action": checked.action,
            "reason": checked.reason,
            "corrects": checked.corrects,
        }

    def actions(self, pcn: str | None = None, until: date | None = None) -> pd.DataFrame:
        """Actions in force, oldest first: no notes, corrected entries left out; optionally one PCN, up to a date."""
        with self._connect(write=False) as con:
            corrects = "corrects" if "corrects" in _columns(con) else "NULL AS corrects"
            columns = ", ".join(corrects if c == "corrects" else c for c in EXPORT_COLUMNS)
            sql = f"SELECT {columns} FROM feedback_actions WHERE 1 = 1" + (
                " AND action_id NOT IN (SELECT corrects FROM feedback_actions WHERE corrects IS NOT NULL)"
                if corrects == "corrects"
                else ""
            )
            params: list[Any] = []
            if pcn is not None:
                sql += " AND pcn_code = ?"
                params.append(pcn)
            if until is not None:
                sql += " AND action_date <= ?"
                params.append(until.isoformat())
            frame = pd.read_sql_query(sql + " ORDER BY action_date, action_id", con, params=params)
        frame["action_date"] = pd.to_datetime(frame["action_date"]).dt.date
        return frame

    def history(self, pcn: str, person_token: str) -> list[dict[str, Any]]:
        """One person's entries in one PCN, newest first, with notes (for that PCN's page only).

        Every row is kept; one that a later row corrects has ``corrected_by`` (else None).
        """
        with self._connect(write=False) as con:
            con.row_factory = sqlite3.Row
            rows = [
                dict(row)
                for row in con.execute(
                    "SELECT * FROM feedback_actions WHERE pcn_code = ? AND person_token = ?"
                    " ORDER BY action_date DESC, action_id DESC",
                    (pcn, person_token),
                ).fetchall()
            ]
        corrected_by = {row["corrects"]: row["action_id"] for row in rows if row.get("corrects") is not None}
        return [
            {**row, "corrects": row.get("corrects"), "corrected_by": corrected_by.get(row["action_id"])} for row in rows
        ]


def _columns(con: sqlite3.Connection) -> set[str]:
    return {str(row[1]) for row in con.execute("PRAGMA table_info(feedback_actions)").fetchall()}


def _check_correctable(con: sqlite3.Connection, action: Action) -> None:
    target = con.execute(
        "SELECT pcn_code, person_token FROM feedback_actions WHERE action_id = ?", (action.corrects,)
    ).fetchone()
    if target is None or tuple(target) != (action.pcn_code, action.person_token):
        raise InputError(
            "feedback", "corrects", "the id of an entry recorded for this person by this PCN", got=str(action.corrects)
        )
    later = con.execute("SELECT action_id FROM feedback_actions WHERE corrects = ?", (action.corrects,)).fetchone()
    if later is not None:
        raise InputError(
            "feedback",
            "corrects",
            f"an entry not corrected yet (entry {action.corrects} was corrected by entry {later[0]}: correct that one)",
            got=str(action.corrects),
        )


def latest_actions(actions: pd.DataFrame, as_of: date | None = None) -> pd.DataFrame:
    """The latest action per (PCN, person) on or before ``as_of``, with the plain-words summary.

    Columns: pcn_code, person_token, last_action, last_action_date, action_summary, first_action_date
    (the first date of the current run of the same action, so "on caseload since" is the start).
    """
    columns = ["pcn_code", "person_token", "last_action", "last_action_date", "action_summary"]
    if as_of is not None and len(actions):
        actions = actions[actions["action_date"] <= as_of]
    if actions.empty:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})
    ordered = actions.sort_values(["pcn_code", "person_token", "action_date", "action_id"])
    # A new run starts whenever the action differs from the person's previous one.
    previous = ordered.groupby(["pcn_code", "person_token"])["action"].shift()
    ordered = ordered.assign(
        run=(ordered["action"] != previous).groupby([ordered["pcn_code"], ordered["person_token"]]).cumsum()
    )
    last = ordered.groupby(["pcn_code", "person_token"]).tail(1)
    run_start = ordered.groupby(["pcn_code", "person_token", "run"])["action_date"].min().rename("since")
    last = last.join(run_start, on=["pcn_code", "person_token", "run"])
    summary = [
        f"{SINCE_WORDS[a]} {since.isoformat()}"
        + (f" ({NOT_SUITABLE_REASONS.get(r, r)})" if isinstance(r, str) and r else "")
        for a, since, r in zip(last["action"], last["since"], last["reason"], strict=True)
    ]
    return pd.DataFrame(
        {
            "pcn_code": last["pcn_code"].astype(str).to_numpy(),
            "person_token": last["person_token"].astype(str).to_numpy(),
            "last_action": last["action"].to_numpy(),
            "last_action_date": last["action_date"].to_numpy(),
            "action_summary": summary,
        }
    )


def held_off_new(latest: pd.DataFrame, as_of: date, hold_days: int) -> set[tuple[str, str]]:
    """(PCN, person) pairs with an action since ``hold_days`` before ``as_of``: not flagged "new"."""
    if latest.empty:
        return set()
    start = as_of - timedelta(days=hold_days)
    # No upper bound: an action recorded after the data as-of date (the usual case: the list is used
    # after it is published) still holds the person on the next list built for that date or later.
    recent = latest[latest["last_action_date"] >= start]
    return set(zip(recent["pcn_code"], recent["person_token"], strict=True))
