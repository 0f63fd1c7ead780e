"""The raw tables a connector declares per delivery (``tables:`` in its mapping file), and which table a file is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from popheath.errors import ConfigError
from popheath.quality.mapping import Mapping, header_key, load_mapping

CORE = "core"


@dataclass(frozen=True)
class Table:
    """One raw table of a layout: its published name, join key and how a file of it is recognised.

    A file is this table when its name matches ``file_pattern`` or, failing any pattern, when it
    carries every ``recognise`` header. Named headers (``key``, ``recognise``, a list of ``columns``,
    ``ensure``, ``on``, ``latest_by``) match as the mapping's do, whatever the case and separators
    (:func:`~popheath.quality.mapping.header_key`). A satellite contributes the columns matching
    ``columns``: a regular expression over the headers as delivered (group 1, when present, orders
    them), or a list of headers. Listed and ``ensure`` columns arrive under the spelling declared
    here whatever spelling a file uses, and ``ensure`` columns are added as NULL when no file has
    them, so the layout SQL can always name them.

    How satellite rows meet core rows: by default a satellite row's ``key`` equals the core key
    (one row per core row, e.g. an episode's diagnoses). With ``on``, the satellite is a reference
    table whose ``key`` a core column holds (many core rows share one row, e.g. the referral of many
    care contacts, or the person of many records). ``rows: many`` attaches every row with the key
    (the layout SQL chooses among them, e.g. effective-dated registrations); otherwise one row per
    key attaches: the latest by ``latest_by`` (raw headers, compared as numbers when both values
    are numbers, else as text), or the first in file then row order, and the others are
    quarantined (superseded or duplicate).
    """

    role: str
    name: str
    key: str
    recognise: tuple[str, ...]
    file_pattern: str | None = None
    columns: str | tuple[str, ...] | None = None
    ensure: tuple[str, ...] = ()
    on: str | None = None
    many: bool = False
    latest_by: tuple[str, ...] = ()

    def has_headers(self, headers: list[str]) -> bool:
        """Whether ``headers`` carry every recognising header."""
        present = {header_key(h) for h in headers}
        return all(header_key(h) in present for h in self.recognise)

    def contributed(self, headers: list[str]) -> list[str]:
        """The headers this satellite contributes to the assembled row, in position (or declared) order."""
        if self.columns is None:
            return []
        if not isinstance(self.columns, str):
            by_key = {header_key(h): h for h in headers}
            return [by_key[header_key(c)] for c in self.columns if header_key(c) in by_key]
        regex = re.compile(self.columns, re.IGNORECASE)
        found = []
        for index, header in enumerate(headers):
            match = regex.match(header)
            if match:
                position = next((int(g) for g in match.groups() if g is not None), 0)
                found.append((position, index, header))
        return [header for _, _, header in sorted(found)]

    def declared(self) -> dict[str, str]:
        """Header key -> the spelling the layout SQL names it by (listed ``columns`` and ``ensure``)."""
        listed = () if self.columns is None or isinstance(self.columns, str) else self.columns
        return {header_key(h): h for h in (*listed, *self.ensure)}


@dataclass(frozen=True)
class Layout:
    """A multi-table layout: the joining SQL file, the core table and its satellites.

    Every table reaches the SQL with ``_delivery`` (the delivery label of its row's file) beside
    ``_key``, ``_file`` and ``_row_number``; ``_delivery`` is dropped from what the SQL builds.
    """

    source: str
    sql: str
    core: Table
    satellites: tuple[Table, ...]
    # The SQL joins each table's rows within their delivery (on _delivery as well as the key), so
    # several deliveries can be assembled at once; otherwise one delivery at a time.
    several_deliveries: bool = False

    @property
    def tables(self) -> tuple[Table, ...]:
        """The core table first, then the satellites in declaration order."""
        return (self.core, *self.satellites)

    def table_of(self, path: Path, headers: list[str]) -> Table | None:
        """The table ``path`` holds: by file name pattern first, then by headers (first declared match)."""
        for table in self.tables:
            if table.file_pattern and re.search(table.file_pattern, path.name, re.IGNORECASE):
                return table
        return next((table for table in self.tables if table.has_headers(headers)), None)

    def describe(self) -> str:
        """The tables a file may be, for error messages."""
        return "a file of " + " or ".join(f"{t.name} (headers {', '.join(t.recognise)})" for t in self.tables)


def _table(role: str, spec: Any, where: str) -> Table:
    if not isinstance(spec, dict) or not spec.get("name") or not spec.get("key"):
        raise ConfigError(f"{where}.{role}: a table needs at least name and key")
    recognise = tuple(spec.get("recognise") or (spec["key"],))
    rows = spec.get("rows", "one")
    if rows not in {"one", "many"}:
        raise ConfigError(f"{where}.{role}.rows: 'one' or 'many', got {rows!r}")
    latest = spec.get("latest_by") or ()
    if isinstance(latest, str) or (rows == "many" and latest):
        raise ConfigError(f"{where}.{role}.latest_by: a list of raw headers, for a table with rows: one")
    # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean true: accept it so, or quoted.
    on = spec.get("on", spec.get(True))
    columns = spec.get("columns")
    if isinstance(columns, list):
        columns = tuple(str(h) for h in columns)
    elif columns is not None and not isinstance(columns, str):
        raise ConfigError(f"{where}.{role}.columns: a regular expression or a list of headers")
    return Table(
        role=role,
        name=str(spec["name"]),
        key=str(spec["key"]),
        recognise=tuple(str(h) for h in recognise),
        file_pattern=spec.get("file_pattern"),
        columns=columns,
        ensure=tuple(str(h) for h in spec.get("ensure") or ()),
        on=str(on) if on else None,
        many=rows == "many",
        latest_by=tuple(str(h) for h in latest),
    )


def parse_layout(source: str, spec: dict[str, Any], where: str) -> Layout:
    """A layout from a ``tables:`` section: ``sql`` (file under sql/10_staging/connectors), ``core`` and satellites."""
    if CORE not in spec or "sql" not in spec:
        raise ConfigError(f"{where}: tables needs sql (the joining SQL file) and a core table")
    satellites = []
    for role, table in spec.items():
        if role in {"sql", CORE, "several_deliveries"}:
            continue
        if not re.fullmatch(r"[a-z][a-z0-9_]*", role):
            raise ConfigError(f"{where}.{role}: a table role is lower-case letters, digits and _")
        satellites.append(_table(role, table, where))
    core = _table(CORE, spec[CORE], where)
    if core.on or core.many or core.latest_by:
        raise ConfigError(
            f"{where}.core: on, rows and latest_by are for satellites; the core's resubmissions are the"
            " connector's latest_by"
        )
    several = spec.get("several_deliveries", False)
    if not isinstance(several, bool):
        raise ConfigError(f"{where}.several_deliveries: true or false, got {several!r}")
    return Layout(source, str(spec["sql"]), core, tuple(satellites), several)


def load_layout(mapping: Mapping, source: str) -> Layout | None:
    """The multi-table layout ``mapping`` declares for ``source`` (inherited through ``extends``), or None."""
    data = yaml.safe_load(mapping.path.read_text(encoding="utf-8")) or {}
    section = (data.get("sources") or {}).get(source) or {}
    if section.get("tables"):
        return parse_layout(source, section["tables"], f"{mapping.path}:{source}.tables")
    if data.get("extends"):
        return load_layout(load_mapping(str(data["extends"]), mapping.path.parent), source)
    return None
