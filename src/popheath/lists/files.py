"""The release's files: CSV columns (what coordinators open in Excel), formatting and the folder layout.

Why CSV in UTF-8 with a byte-order mark rather than XLSX: Excel opens it directly and the BOM
makes it read the text as UTF-8 (no garbled characters); it needs no extra dependency; it is
plain text, so the manifest's SHA-256 is stable for identical content (an XLSX zip embeds
timestamps) and any tool (R, Python, a text editor, the API) reads it. Lines end CRLF (RFC 4180).

Person tokens are 16 hexadecimal characters (docs/data_model.md), so some look like numbers to a
spreadsheet: ``0000000000000063`` would open as 63 and ``12345E67`` as 1.2345E+71, losing the token.
Quoting a CSV field does not stop that (Excel and LibreOffice convert quoted fields too) and a
leading apostrophe is kept as part of the value by every other reader. Token cells are therefore
written as the text formula ``="0000000000000063"``: Excel and LibreOffice show the text
``0000000000000063`` (a formula whose result is text is never converted), copying the cell copies
the token, and saving back to CSV writes the plain token. :func:`read_csv` (and
:func:`unwrap_text`, for other readers) turns ``="..."`` back into the token, so the page,
validation and the API read plain tokens; a re-saved file with plain tokens reads the same.

Layout of a release folder::

    manifest.json            as-of date, model, row counts, SHA-256 per file, validation summary
    validation.json          the Great Expectations result for this release
    pyramid.csv              segment x tier counts per PCN and place
    list.parquet             every PCN's list (typed; the page/API and the next release read it)
    left.parquet             every PCN's left-the-list rows
    pcn/<PCN>/list.csv       the PCN's list, ranked
    pcn/<PCN>/left.csv       who left the PCN's list since the previous release, and why
    pcn/<PCN>/practices/<practice>.csv   the PCN list split by practice (same ranks)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from popheath.errors import InputError

ENCODING = "utf-8-sig"  # UTF-8 with BOM
LINE_END = "\r\n"
LIST_FILE = "list.csv"
LEFT_FILE = "left.csv"
PYRAMID_FILE = "pyramid.csv"
LIST_PARQUET = "list.parquet"
LEFT_PARQUET = "left.parquet"
NO_PRACTICE = "_no_practice"
_SAFE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
# Cells starting with these are formulas to Excel; text fields get a leading apostrophe instead.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A token cell as the text formula ="TOKEN" (module docstring); only these characters are wrapped,
# so the formula can never be anything but a text constant.
_TOKEN_TEXT = re.compile(r'^="([A-Za-z0-9_-]{1,64})"$')
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Column:
    """One CSV column: source column in the list frame, kind (for formatting) and a plain description."""

    name: str
    kind: str  # text, token, int, risk, percentile, date
    description: str
    source: str | None = None
    # The coordinator page shows every column on a person's page; ``on_table`` also puts it in the
    # list table (short values only), headed ``label``.
    label: str | None = None
    on_table: bool = False

    @property
    def from_column(self) -> str:
        """Column of the built frame this CSV column comes from."""
        return self.source or self.name

    @property
    def heading(self) -> str:
        """Short heading for the page."""
        return self.label or self.name.replace("_", " ").capitalize()


LIST_COLUMNS: tuple[Column, ...] = (
    Column(
        "rank",
        "int",
        "Call position in the PCN list, 1 = highest predicted risk (blank: in hospital now, not to call)",
        "list_rank",
        "#",
        True,
    ),
    Column(
        "in_hospital_now",
        "text",
        "Y if in hospital now (open spell or recent A&E): shown first, not to call",
        label="In hospital",
        on_table=True,
    ),
    Column("in_hospital_detail", "text", "Why: the open admission or the recent A&E attendance"),
    Column(
        "person_token",
        "token",
        "Pseudonymised person token (look up in the clinical system via the re-identification service);"
        ' written ="..." so spreadsheets keep it as text',
        label="Person",
        on_table=True,
    ),
    Column("practice_code", "text", "GP practice (ODS code)", label="Practice", on_table=True),
    Column("age_band", "text", "Age band at the as-of date", label="Age", on_table=True),
    Column("sex", "text", "M, F or U"),
    Column(
        "segment",
        "text",
        "Population segment (highest need first; rules in lists/segments.yaml)",
        on_table=True,
    ),
    Column(
        "tier",
        "text",
        "Risk tier in the whole scored population: very_high (top 0.5%), high (0.5-5%), moderate (5-20%), low",
        on_table=True,
    ),
    Column(
        "risk", "risk", "Predicted probability of an avoidable emergency admission in the next 12 months", on_table=True
    ),
    Column("percentile", "percentile", "Percentile of risk in the scored population (100 = highest)"),
    Column("reason_1", "text", "Main reason for the risk, in plain words", label="Top reasons", on_table=True),
    Column("reason_2", "text", "Second reason"),
    Column("reason_3", "text", "Third reason"),
    Column(
        "last_emergency_admission",
        "date",
        "Date of the most recent emergency admission (blank if none)",
        label="Last emergency admission",
        on_table=True,
    ),
    Column(
        "days_since_emergency_discharge",
        "int",
        "Days since the last discharge from an emergency admission (blank if none or in hospital now)",
        label="Days since emergency discharge",
        on_table=True,
    ),
    Column("last_emergency_diagnosis", "text", "Primary diagnosis of the last emergency admission, in words"),
    Column("last_emergency_specialty", "text", "Treatment function of the last emergency admission, in words"),
    Column(
        "last_emergency_procedure",
        "text",
        "Main procedure (OPCS-4) of the last emergency admission, in words; the chapter when no title is shipped",
    ),
    Column("last_ed_attendance", "text", "Last A&E attendance: date and department type in words"),
    Column("end_of_life", "text", "Y if palliative care was recorded in the last 12 months (end-of-life proxy)"),
    Column("care_home", "text", "Y if a care-home resident"),
    Column(
        "already_managed",
        "text",
        "Y if a community team saw the person recently or the PCN recorded a caseload",
        label="Already managed",
        on_table=True,
    ),
    Column("managed_by", "text", "Who already manages the person, e.g. 'district nursing contact on 2025-03-20'"),
    Column("impactability_note", "text", "Share of recent emergency admissions that were avoidable; rising use"),
    Column("use_rising", "text", "Y if emergency admissions rose in the last 6 months against the 6 before"),
    Column("social_care", "text", "Y if a long-term social care service is in place", on_table=True),
    Column("change", "text", "new (not on the previous list), risen / fallen (tier changed), unchanged", on_table=True),
    Column("previous_tier", "text", "Tier on the previous list (blank if new)"),
    Column("on_list_since", "date", "As-of date of the first consecutive list this person appeared on"),
    Column("practice_rank", "int", "Call position within the practice (blank: in hospital now)"),
    Column("risk_rank", "int", "Position by risk among everyone listed or not in the PCN, in hospital or not"),
    Column("pcn_code", "text", "Primary care network"),
    # Added for coordinator feedback and data coverage (lists/feedback.py, lists/coverage.py); the
    # free-text note of an action is never exported.
    Column("last_action", "text", "Latest action the PCN recorded for this person (blank if none)"),
    Column("last_action_date", "date", "Date of that action"),
    Column("action_summary", "text", "The latest action in words, e.g. 'on caseload since 2025-03-02'"),
    Column("data_sources", "text", "Sources holding any record for this person up to the as-of date"),
    Column(
        "coverage_flag",
        "text",
        "Sources with no recent data for this practice (blank: every source current); low risk may mean no data",
    ),
    Column("p_suitable", "risk", "Estimated chance the team judges this person suitable (blank unless enabled)"),
    Column(
        "suitability_rank", "int", "Position in the PCN when ordered by risk x chance suitable (blank unless enabled)"
    ),
    Column("segment_rule", "text", "The segment rule that placed this person (first match in rule order)"),
    Column("segment_evidence", "text", "The values that decided it (e.g. Hospital Frailty Risk Score: 12.5)"),
)
LEFT_COLUMNS: tuple[Column, ...] = (
    Column("person_token", "token", 'Pseudonymised person token (written ="..." so spreadsheets keep it as text)'),
    Column("practice_code", "text", "GP practice on the previous list"),
    Column("reason", "text", "died, opted_out, deregistered, moved_pcn, no_longer_scored or fell_below_capacity"),
    Column("previous_rank", "int", "Rank on the previous list"),
    Column("previous_tier", "text", "Tier on the previous list"),
    Column("current_rank", "int", "Rank in the PCN now (only for fell_below_capacity)"),
    Column("pcn_code", "text", "Primary care network"),
)
LEFT_REASONS: tuple[str, ...] = (
    "died",
    "opted_out",
    "deregistered",
    "moved_pcn",
    "no_longer_scored",
    "fell_below_capacity",
)
CHANGES: tuple[str, ...] = ("new", "risen", "fallen", "unchanged")


def safe_code(code: object, field: str) -> str:
    """A PCN or practice code usable as a file name; anything else is an input error naming the value."""
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return NO_PRACTICE if field == "practice_code" else _raise_code(code, field)
    text = str(code)
    if not _SAFE_CODE.match(text):
        _raise_code(text, field)
    return text


def _raise_code(code: object, field: str) -> str:
    raise InputError("cohort", field, "a code of letters, digits, '-' or '_' (used as a file name)", got=repr(code))


def _format_cell(value: Any, kind: str) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if kind == "int":
        return str(int(value))
    if kind == "risk":
        return f"{float(value):.4f}"
    if kind == "percentile":
        return f"{float(value):.1f}"
    if kind == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    text = str(value)
    if kind == "token":
        return excel_text(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_frame(frame: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    """The frame as the CSV shows it: the listed columns, in order, every cell formatted as text.

    The index is kept, so rows formatted once can be sliced into several files.
    """
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        values = (
            frame[column.from_column] if column.from_column in frame.columns else pd.Series(None, index=frame.index)
        )
        out[column.name] = [_format_cell(value, column.kind) for value in values.tolist()]
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> int:
    """Write an all-text frame (without its index) as UTF-8-with-BOM CSV; returns its data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding=ENCODING, lineterminator=LINE_END)
    return len(frame)


def excel_text(token: str) -> str:
    """A token as the cell ``="TOKEN"``, which spreadsheets show as the text TOKEN (module docstring)."""
    if not _TOKEN_CHARS.match(token):
        raise InputError("lists", "person_token", "letters, digits, '-' or '_' (at most 64)", got=repr(token))
    return f'="{token}"'


def unwrap_text(cell: str) -> str:
    """The token inside a ``="TOKEN"`` cell; any other cell unchanged (a re-saved file has plain tokens)."""
    found = _TOKEN_TEXT.match(cell)
    return found.group(1) if found else cell


def read_csv(path: Path) -> pd.DataFrame:
    """Read a release CSV back exactly as text (empty cells as empty strings, tokens unwrapped)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=ENCODING)
    if "person_token" in frame.columns:
        frame["person_token"] = [unwrap_text(cell) for cell in frame["person_token"].tolist()]
    return frame


def csv_bytes(frame: pd.DataFrame, columns: tuple[Column, ...]) -> bytes:
    """Text rows as read by :func:`read_csv`, written back exactly as :func:`write_csv` writes them.

    Columns of the frame not in ``columns`` keep their place as plain text (a newer file's columns).
    """
    kinds = {column.name: column.kind for column in columns}
    out = frame.copy()
    for name in out.columns:
        if kinds.get(name) == "token":
            out[name] = [excel_text(cell) if cell else "" for cell in out[name].tolist()]
    return str(out.to_csv(index=False, lineterminator=LINE_END)).encode(ENCODING)


def write_pcn_files(
    staging: Path,
    lists: pd.DataFrame,
    left: pd.DataFrame,
    after_each_pcn: Callable[[str], None] = lambda pcn: None,
) -> dict[str, int]:
    """Write every PCN's list, left-the-list and per-practice files; returns rows per relative path."""
    rows: dict[str, int] = {}
    pcns = sorted(set(lists["pcn_code"].dropna().astype(str)) | set(left["pcn_code"].dropna().astype(str)))
    # Every row is formatted once; the PCN and practice files are slices of the same text.
    lists, left = lists.reset_index(drop=True), left.reset_index(drop=True)
    shown_list = csv_frame(lists, LIST_COLUMNS)
    shown_left = csv_frame(left, LEFT_COLUMNS)
    for pcn in pcns:
        folder = Path("pcn") / safe_code(pcn, "pcn_code")
        # People in hospital now (no call position) first, by risk; then the call list in order.
        pcn_list = lists[lists["pcn_code"] == pcn].sort_values(["list_rank", "risk_rank"], na_position="first")
        pcn_left = left[left["pcn_code"] == pcn]
        rows[str(folder / LIST_FILE)] = write_csv(shown_list.loc[pcn_list.index], staging / folder / LIST_FILE)
        rows[str(folder / LEFT_FILE)] = write_csv(shown_left.loc[pcn_left.index], staging / folder / LEFT_FILE)
        practices = pcn_list["practice_code"].map(lambda code: safe_code(code, "practice_code"))
        for practice, practice_rows in pcn_list.groupby(practices, sort=True):
            path = folder / "practices" / f"{practice}.csv"
            rows[str(path)] = write_csv(shown_list.loc[practice_rows.index], staging / path)
        after_each_pcn(pcn)
    return rows
