"""What the page shows: the current release (checked against its manifest) and a person's activity timeline."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from popheath import db
from popheath.config import Settings
from popheath.errors import PopheathError, StageError
from popheath.lists import files, release

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedRelease:
    """The current release in memory: its manifest and every PCN's list and left rows as text."""

    release: release.Release
    lists: pd.DataFrame
    left: pd.DataFrame

    @property
    def as_of(self) -> date:
        """Data as-of date."""
        return self.release.as_of

    def pcn_list(self, pcn: str) -> pd.DataFrame:
        """One PCN's list in rank order."""
        return self.lists[self.lists["pcn_code"] == pcn]

    def pcn_left(self, pcn: str) -> pd.DataFrame:
        """One PCN's left-the-list rows."""
        return self.left[self.left["pcn_code"] == pcn]

    def pcn_of(self, token: str) -> str | None:
        """The PCN whose current list holds ``token``, if any."""
        rows = self.lists.loc[self.lists["person_token"] == token, "pcn_code"]
        return str(rows.iloc[0]) if len(rows) else None


class ReleaseStore:
    """Loads the release ``current`` points to, once per release, refusing one whose files fail the manifest."""

    def __init__(self, outputs: Path) -> None:
        self.root = release.lists_root(outputs)
        self._loaded: LoadedRelease | None = None
        self._lock = threading.Lock()

    def current(self) -> LoadedRelease:
        """The current release (StageError when there is none or it is damaged)."""
        found = release.current_release(self.root)
        if found is None:
            raise StageError(f"{self.root}: no list has been published yet (run popheath publish)")
        with self._lock:
            if self._loaded is None or self._loaded.release.release_id != found.release_id:
                problems = release.verify_release(found)
                if problems:
                    raise StageError(f"release {found.release_id} does not match its manifest: {problems[0]}")
                lists = _read_pcn_files(found.path, files.LIST_FILE, files.LIST_COLUMNS)
                left = _read_pcn_files(found.path, files.LEFT_FILE, files.LEFT_COLUMNS)
                self._loaded = LoadedRelease(found, lists, left)
                log.info("serving release %s", found.release_id)
            return self._loaded

    def history(self) -> list[release.Release]:
        """Every release still on disk (older ones are pruned by publish), newest first."""
        return sorted(release.releases(self.root), key=lambda r: r.release_id, reverse=True)

    def past(self, release_id: str) -> release.Release | None:
        """A release on disk by id (None when unknown); StageError when it fails its manifest."""
        found = next((r for r in release.releases(self.root) if r.release_id == release_id), None)
        if found is not None:
            problems = release.verify_release(found)
            if problems:
                raise StageError(f"release {found.release_id} does not match its manifest: {problems[0]}")
        return found


def known_pcns(settings: Settings) -> tuple[str, set[str]]:
    """The PCN codes a token may be made for, and where they come from.

    The current release's PCN folders; before the first publish, the PCNs of the population in the
    warehouse (``cohort``); an empty set when neither is there.
    """
    current = release.current_release(release.lists_root(settings.paths.outputs))
    if current is not None:
        codes = {path.name for path in (current.path / "pcn").iterdir() if path.is_dir()}
        return f"the current release {current.release_id}", codes
    try:
        con = db.connect(settings, read_only=True)
    except PopheathError as error:
        log.warning("no release and the warehouse cannot be read: %s", error)
        return "the population (no release published, warehouse unreadable)", set()
    try:
        rows = con.execute("SELECT DISTINCT pcn_code FROM cohort WHERE pcn_code IS NOT NULL").fetchall()
    except duckdb.Error:
        rows = []
    finally:
        con.close()
    return "the population (warehouse table cohort; no release published yet)", {str(row[0]) for row in rows}


def _read_pcn_files(folder: Path, name: str, columns: tuple[files.Column, ...]) -> pd.DataFrame:
    # The CSVs are what coordinators download, so the page shows exactly them.
    frames = [files.read_csv(path) for path in sorted((folder / "pcn").glob(f"*/{name}"))]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame({column.name: pd.Series(dtype=str) for column in columns})
    return pd.concat(frames, ignore_index=True)


# Activity beyond hospital spells, from the clinical layer (sql/20_clinical, keyed by person_key):
# (label, SQL). A source whose table is missing from the warehouse is skipped.
_OTHER_ACTIVITY: tuple[tuple[str, str], ...] = (
    (
        "A&E attendances",
        "SELECT arrival_date AS day, 'A&E attendance' AS kind,"
        " 'department type ' || coalesce(CAST(department_type AS VARCHAR), '?') AS detail"
        " FROM clin_ed_attendances WHERE person_key = $person",
    ),
    (
        "Outpatients",
        "SELECT appointment_date AS day, CASE WHEN did_not_attend THEN 'Outpatient appointment missed'"
        " ELSE 'Outpatient appointment' END AS kind,"
        " 'specialty ' || coalesce(CAST(treatment_specialty AS VARCHAR), '?') AS detail"
        " FROM clin_outpatients WHERE person_key = $person",
    ),
    (
        "Community contacts",
        "SELECT contact_date AS day, 'Community contact' AS kind,"
        " replace(coalesce(team_type, 'other'), '_', ' ') AS detail"
        " FROM clin_community_contacts WHERE person_key = $person",
    ),
    (
        "Social care",
        "SELECT event_start AS day, 'Social care ' || coalesce(event_type, 'event') AS kind,"
        " replace(coalesce(service_type, ''), '_', ' ') AS detail"
        " FROM clin_social_care WHERE person_key = $person",
    ),
)


@dataclass(frozen=True)
class Timeline:
    """A person's recent activity, newest first, and any source that could not be read."""

    events: list[dict[str, Any]]
    unavailable: list[str]


def _spells(con: duckdb.DuckDBPyConnection, person: str, start: date, end: date) -> list[dict[str, Any]]:
    frame = con.execute(
        "SELECT * FROM clin_spells WHERE person_key = $person AND admission_date BETWEEN $start AND $end",
        {"person": person, "start": start, "end": end},
    ).df()
    events = []
    for row in frame.to_dict("records"):
        emergency = bool(row.get("is_emergency"))
        detail = []
        if row.get("primary_diagnosis"):
            detail.append(f"diagnosis {row['primary_diagnosis']}")
        if row.get("acsc_group") and not pd.isna(row.get("acsc_group")):
            detail.append(f"avoidable ({row['acsc_group']})")
        discharge = row.get("discharge_date")
        if discharge is not None and not pd.isna(discharge):
            detail.append(f"discharged {pd.Timestamp(discharge):%Y-%m-%d}")
        events.append(
            {
                "date": pd.Timestamp(row["admission_date"]).date().isoformat(),
                "kind": "Emergency admission" if emergency else "Hospital admission (planned)",
                "detail": ", ".join(detail),
            }
        )
    return events


def timeline(settings: Settings, person: str, as_of: date) -> Timeline:
    """Activity in the ``serve.timeline_months`` before ``as_of``, read through a read-only connection."""
    start = as_of - timedelta(days=round(30.44 * settings.serve.timeline_months))
    events: list[dict[str, Any]] = []
    unavailable: list[str] = []
    try:
        con = db.connect(settings, read_only=True)
    except PopheathError as error:
        log.warning("timeline: warehouse unavailable: %s", error)
        return Timeline([], ["warehouse unavailable (a pipeline run may hold it): try again shortly"])
    try:
        try:
            events += _spells(con, person, start, as_of)
        except duckdb.Error as error:
            unavailable.append("Hospital spells")
            log.warning("timeline: clin_spells: %s", str(error).splitlines()[0])
        for label, sql in _OTHER_ACTIVITY:
            try:
                rows = db.execute(
                    con,
                    f"SELECT * FROM ({sql}) WHERE day BETWEEN $start AND $end",
                    {
                        "person": person,
                        "start": start,
                        "end": as_of,
                    },
                ).fetchall()
            except duckdb.Error:
                log.debug("timeline: %s not available", label)
                continue
            events += [
                {"date": pd.Timestamp(day).date().isoformat(), "kind": kind, "detail": detail or ""}
                for day, kind, detail in rows
                if day is not None
            ]
    finally:
        con.close()
    events.sort(key=lambda event: event["date"], reverse=True)
    return Timeline(events, unavailable)
