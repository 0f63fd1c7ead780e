"""Delivery-format mappings: raw headers and codes to the canonical columns and values of the contracts.

A mapping file (``mappings/<name>.yaml``, or one in ``paths.mappings``) has, per source,
``columns`` (canonical -> raw header or list of accepted headers), ``lists`` (list column ->
ordered raw headers or a header ``pattern``) and ``values`` (canonical column -> raw code ->
canonical value, or ``{csv: <file next to the mapping>, code: <column>, value: <column>}`` for a
code list kept as a data file). Named headers match whatever their case and whether words are
separated by spaces, underscores or nothing (:func:`header_key`): national extracts spell one
field ``CARE CONTACT DATE``, ``CARE_CONTACT_DATE`` or ``Care_contact_date`` depending on the data
lake that delivers them. ``extends`` inherits another mapping: a child names only what differs
(per canonical column, list and value table) and inherits the parent's ``date_formats``,
``time_formats``, ``null_values`` and ``common_values`` unless it sets its own.

An accepted header may instead be ``{header: <raw header>, extract: <regex>}``: the value is group 1
of the regex searched in that field's text (a field packing two canonical values, such as the data
lake's ``dmYearAndMonthOfBirth`` for birth year and month; no match loads as NULL). ``coalesce``
lists canonical columns whose accepted headers, when several are present, are taken per row in
order, the first non-blank value winning (ASC-CLD's person id: the traced NHS number, else the one
the local authority submitted); for other columns the first accepted header present wins.

``latest_by`` (per source) names canonical columns that order resubmissions of one record: among
rows of one file with the same contract key, the row with the greatest values (NULL lowest, then the
later row) is the record and the others are quarantined as ``superseded_by_later_submission``. CSDS
and ASC-CLD stack monthly or quarterly submissions in one extract this way (the national processing
keeps the latest submission of each record: NHS England CSDS ``DerIsLatest``; DHSC ASC-CLD
latest-submission selection).

``null_values`` are whole-field placeholders read as NULL in every field of every source (HES
writes ``&`` and ``-``, see ``hes.yaml``). In a ``values`` table a raw code may map to ``null``
(YAML ``~``): that code means "not known" and loads as NULL. Whatever a mapping declares,
SQL-Server-style timestamps (``2025-01-01 00:00:00.000``) and ISO timestamps
(``2025-01-01T00:00:00``) also parse as dates and times (:data:`TIMESTAMP_DATE_FORMATS`,
:data:`TIMESTAMP_TIME_FORMATS`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from popheath.config import IngestSettings
from popheath.errors import ConfigError

MAPPING_DIR = Path(__file__).resolve().parent / "mappings"
# The national layout read for a source that neither ingest.connectors nor ingest.mapping covers:
# SUS+ from NCDR/UDAL for APC and OP, ECDS for A&E, CSDS v1.6 for community care, ASC-CLD for social
# care, PDS for the population (what `popheath synth` writes).
DEFAULT_CONNECTORS = {
    "population": "pds", "apc": "ncdr", "opa": "ncdr", "ecds": "ecds", "csds": "csds", "asc": "asc_cld",
}  # fmt: skip
# Unambiguous timestamp layouts every mapping accepts after its own formats: SQL Server
# datetime/datetime2 text (fractions of up to 9 digits, %n) and ISO 8601 with a ``T``.
TIMESTAMP_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%n", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%n")
TIMESTAMP_TIME_FORMATS = ("%H:%M:%S.%n", *TIMESTAMP_DATE_FORMATS)


def header_key(header: str) -> str:
    """A header as matched: upper case, letters and digits only (``Care_contact_date`` = ``CARE CONTACT DATE``)."""
    return re.sub(r"[^0-9A-Z]", "", header.upper())


@dataclass(frozen=True)
class ListSpec:
    """How a list column is assembled: an optional first (primary) header, then explicit or patterned headers."""

    first: str | None = None
    headers: tuple[str, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class SourceMapping:
    """One source's header and code mapping."""

    columns: dict[str, tuple[str, ...]]
    lists: dict[str, tuple[ListSpec, ...]] = field(default_factory=dict)
    # raw code -> canonical value; None: the code means "not known" and loads as NULL.
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # Canonical columns ordering resubmissions of one record (the greatest is kept).
    latest_by: tuple[str, ...] = ()
    # canonical column -> header_key of the raw header -> regex whose group 1 is the value.
    extracts: dict[str, dict[str, str]] = field(default_factory=dict)
    # canonical columns whose present accepted headers are coalesced per row, in order.
    coalesce: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Mapping:
    """A named delivery format."""

    name: str
    description: str
    date_formats: tuple[str, ...]
    time_formats: tuple[str, ...]
    sources: dict[str, SourceMapping]
    path: Path
    null_values: tuple[str, ...] = ()
    common_values: dict[str, Any] = field(default_factory=dict)

    def for_source(self, source: str) -> SourceMapping:
        """The mapping for ``source``; a clear error when the format does not cover it."""
        if source not in self.sources:
            raise ConfigError(f"mapping {self.name!r} ({self.path}) has no section for source {source!r}")
        return self.sources[source]


@dataclass(frozen=True)
class Resolved:
    """A mapping applied to one file's header: canonical column -> raw header(s) actually present.

    ``columns`` names the first (or only) raw header of each canonical column; ``fallbacks`` the
    further headers a coalesced column takes per row when the first is blank; ``extracts`` the regex
    applied to a raw header's text for a canonical column (keyed by canonical column, then raw header).
    """

    columns: dict[str, str]
    lists: dict[str, list[str]]
    unmapped: list[str]
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    extracts: dict[str, dict[str, str]] = field(default_factory=dict)

    def sources(self, canonical: str) -> list[str]:
        """Every raw header a scalar canonical column reads, in coalescing order."""
        if canonical not in self.columns:
            return []
        return [self.columns[canonical], *self.fallbacks.get(canonical, [])]

    def is_plain(self, canonical: str) -> bool:
        """Whether the column is read from one raw header as it is (no coalescing, no extraction)."""
        return not self.fallbacks.get(canonical) and not self.extracts.get(canonical)


def _list_specs(value: Any, where: str) -> tuple[ListSpec, ...]:
    if isinstance(value, dict):
        return (
            ListSpec(first=value.get("first"), pattern=value.get("pattern"), headers=tuple(value.get("headers", ()))),
        )
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return (ListSpec(headers=tuple(value)),)
    if isinstance(value, list):
        return tuple(spec for item in value for spec in _list_specs(item, where))
    raise ConfigError(f"{where}: a list column needs a header list or {{first, pattern}}")


def _accepted(canonical: str, raw: Any, where: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """A column's accepted headers, and the extraction regex of those given as ``{header, extract}``."""
    headers: list[str] = []
    extracts: dict[str, str] = {}
    for item in [raw] if isinstance(raw, str | dict) else list(raw):
        if isinstance(item, str):
            headers.append(item)
        elif isinstance(item, dict) and isinstance(item.get("header"), str) and isinstance(item.get("extract"), str):
            try:
                if re.compile(item["extract"]).groups < 1:
                    raise ConfigError(f"{where}.columns.{canonical}: extract {item['extract']!r} needs a group")
            except re.error as error:
                raise ConfigError(f"{where}.columns.{canonical}: extract is not a regex: {error}") from error
            headers.append(item["header"])
            extracts[header_key(item["header"])] = item["extract"]
        else:
            raise ConfigError(f"{where}.columns.{canonical}: an accepted header is a name or {{header, extract}}")
    return tuple(headers), extracts


def _code_list(spec: dict[str, Any], folder: Path, where: str) -> dict[str, str | None]:
    """A values table kept as a CSV next to the mapping: its ``code`` column -> its ``value`` column."""
    path = folder / str(spec["csv"])
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ConfigError(f"{where}: cannot read code list {path}: {error}") from error
    code, value = str(spec.get("code", "")), str(spec.get("value", ""))
    if not rows or code not in rows[0] or value not in rows[0]:
        raise ConfigError(f"{where}: {path} needs columns {code!r} and {value!r}")
    return {row[code]: row[value] or None for row in rows}


def _parse_source(data: dict[str, Any], common: dict[str, Any], where: str, folder: Path) -> SourceMapping:
    columns: dict[str, tuple[str, ...]] = {}
    extracts: dict[str, dict[str, str]] = {}
    for canonical, raw in (data.get("columns") or {}).items():
        columns[canonical], found = _accepted(canonical, raw, where)
        if found:
            extracts[canonical] = found
    coalesce = frozenset(str(c) for c in data.get("coalesce") or ())
    if not coalesce <= set(columns):
        raise ConfigError(f"{where}.coalesce: {sorted(coalesce - set(columns))} are not in columns")
    lists = {name: _list_specs(spec, f"{where}.lists.{name}") for name, spec in (data.get("lists") or {}).items()}
    values: dict[str, dict[str, str | None]] = {}
    for canonical, table in (data.get("values") or {}).items():
        if isinstance(table, str):
            table = common.get(table, {})
        elif isinstance(table, dict) and "csv" in table:
            table = _code_list(table, folder, f"{where}.values.{canonical}")
        values[canonical] = {
            str(raw).strip().upper(): None if value is None else str(value) for raw, value in table.items()
        }
    latest = data.get("latest_by") or ()
    if isinstance(latest, str) or not all(isinstance(c, str) for c in latest):
        raise ConfigError(f"{where}.latest_by: a list of canonical column names")
    return SourceMapping(columns, lists, values, tuple(latest), extracts, coalesce)


def _find(name: str, search: tuple[Path, ...]) -> Path:
    for folder in search:
        candidate = folder / f"{name}.yaml"
        if candidate.exists():
            return candidate
    raise ConfigError(f"mapping {name!r} not found in {', '.join(str(f) for f in search)}")


def _formats(declared: Any, inherited: tuple[str, ...], default: str, standard: tuple[str, ...]) -> tuple[str, ...]:
    """A mapping's own formats (else its parent's, else ``default``), then the standard timestamp formats."""
    own = tuple(declared) if declared else inherited or (default,)
    return own + tuple(f for f in standard if f not in own)


def load_mapping(name: str, extra_dir: Path | None = None) -> Mapping:
    """Load mapping ``name`` from ``extra_dir`` (settings ``paths.mappings``) or the built-in folder."""
    search = tuple(folder for folder in (extra_dir, MAPPING_DIR) if folder is not None)
    path = _find(name, search)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    parent = load_mapping(str(data["extends"]), extra_dir) if data.get("extends") else None
    sources: dict[str, SourceMapping] = dict(parent.sources) if parent else {}
    common = {**(parent.common_values if parent else {}), **(data.get("common_values") or {})}
    for source, section in (data.get("sources") or {}).items():
        own = _parse_source(section or {}, common, f"{path}:{source}", path.parent)
        inherited = sources.get(source)
        # A child mapping overrides per canonical column; whatever it does not name is inherited.
        sources[source] = (
            own
            if inherited is None
            else SourceMapping(
                {**inherited.columns, **own.columns},
                {**inherited.lists, **own.lists},
                {**inherited.values, **own.values},
                own.latest_by or inherited.latest_by,
                {**{c: e for c, e in inherited.extracts.items() if c not in own.columns}, **own.extracts},
                (inherited.coalesce - set(own.columns)) | own.coalesce,
            )
        )
    nulls = data.get("null_values")
    return Mapping(
        name=str(data.get("name", name)),
        description=str(data.get("description", "")),
        date_formats=_formats(
            data.get("date_formats"), parent.date_formats if parent else (), "%Y-%m-%d", TIMESTAMP_DATE_FORMATS
        ),
        time_formats=_formats(
            data.get("time_formats"), parent.time_formats if parent else (), "%H:%M:%S", TIMESTAMP_TIME_FORMATS
        ),
        sources=sources,
        path=path,
        null_values=tuple(str(v) for v in nulls) if nulls is not None else (parent.null_values if parent else ()),
        common_values=common,
    )


def _pattern_headers(pattern: str, by_key: dict[str, str]) -> list[str]:
    regex = re.compile(pattern, re.IGNORECASE)
    found = []
    for original in by_key.values():
        match = regex.match(original)
        if match:
            found.append((int(match.group(1)) if match.groups() else 0, original))
    return [original for _, original in sorted(found)]


def resolve(mapping: SourceMapping, headers: list[str]) -> Resolved:
    """Match a file's headers to canonical columns (by :func:`header_key`; first accepted header present wins).

    A ``pattern`` is a regular expression over the headers as delivered (case-insensitive).
    """
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(header_key(header), header)
    used: set[str] = set()
    columns: dict[str, str] = {}
    fallbacks: dict[str, list[str]] = {}
    extracts: dict[str, dict[str, str]] = {}
    for canonical, accepted in mapping.columns.items():
        present = list(dict.fromkeys(by_key[header_key(raw)] for raw in accepted if header_key(raw) in by_key))
        if not present:
            continue
        taken = present if canonical in mapping.coalesce else present[:1]
        columns[canonical] = taken[0]
        if taken[1:]:
            fallbacks[canonical] = taken[1:]
        rules = mapping.extracts.get(canonical, {})
        extracted = {header: rules[header_key(header)] for header in taken if header_key(header) in rules}
        if extracted:
            extracts[canonical] = extracted
        used.update(header_key(header) for header in taken)
    lists: dict[str, list[str]] = {}
    for canonical, specs in mapping.lists.items():
        for spec in specs:
            found: list[str] = []
            if spec.first and header_key(spec.first) in by_key:
                found.append(by_key[header_key(spec.first)])
            found += [by_key[header_key(h)] for h in spec.headers if header_key(h) in by_key]
            if spec.pattern:
                found += [h for h in _pattern_headers(spec.pattern, by_key) if h not in found]
            if found:
                lists[canonical] = found
                used.update(header_key(h) for h in found)
                break
    unmapped = [header for key, header in by_key.items() if key not in used]
    return Resolved(columns, lists, unmapped, fallbacks, extracts)


def expected_headers(mapping: SourceMapping, canonical: str) -> str:
    """The raw header(s) a mapping accepts for ``canonical``, for error messages."""
    if canonical in mapping.columns:
        return " or ".join(mapping.columns[canonical])
    specs = mapping.lists.get(canonical, ())
    names = [s.first or s.pattern or ", ".join(s.headers) for s in specs]
    return " or ".join(str(n) for n in names) or canonical


def connector_for(ingest: IngestSettings, source: str, extra_dir: Path | None = None) -> Mapping:
    """The connector that reads ``source``.

    ``ingest.connectors[source]``, else ``ingest.mapping`` (when set) when it covers the source, else
    the source's national default (``DEFAULT_CONNECTORS``).
    """
    if source in ingest.connectors:
        return load_mapping(ingest.connectors[source], extra_dir)
    if ingest.mapping is None:
        return load_mapping(DEFAULT_CONNECTORS[source], extra_dir)
    chosen = load_mapping(ingest.mapping, extra_dir)
    if source in chosen.sources or source not in DEFAULT_CONNECTORS:
        return chosen
    return load_mapping(DEFAULT_CONNECTORS[source], extra_dir)
