"""Load the per-source data contracts (``contracts/<source>.yaml``) and GX suites (``expectations/<source>.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from popheath.config import PROJECT_ROOT
from popheath.errors import ConfigError

CONTRACT_DIR = Path(__file__).resolve().parent / "contracts"
SUITE_DIR = PROJECT_ROOT / "expectations"
SOURCES: tuple[str, ...] = ("population", "apc", "ecds", "opa", "csds", "asc")
TYPES = {"VARCHAR", "INTEGER", "BIGINT", "DOUBLE", "DATE", "TIME", "BOOLEAN", "VARCHAR[]"}
NORMALISERS = {"upper", "icd10", "opcs4", "slug", "zero_pad_2"}
# Severity of a suite rule: "error" quarantines the row; "warn" keeps it and adds the rule to _flags.
SEVERITIES = {"error", "warn"}


@dataclass(frozen=True)
class Column:
    """One canonical column: its DuckDB type, whether the file must carry it, and how values are normalised."""

    name: str
    type: str
    required: bool = False
    normalise: str | None = None
    code_pattern: str | None = None

    @property
    def is_list(self) -> bool:
        """Whether the column is a list (diagnoses, procedures) built from several raw columns."""
        return self.type.endswith("[]")


@dataclass(frozen=True)
class Derived:
    """A column computed from canonical columns with a SQL expression written in the contract."""

    name: str
    type: str
    sql: str


@dataclass(frozen=True)
class Contract:
    """The structure of one source's staging table."""

    source: str
    table: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    derived: tuple[Derived, ...] = ()
    order: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        """Canonical data columns of the staging table, in table order."""
        if self.order:
            return list(self.order)
        return [c.name for c in self.columns] + [d.name for d in self.derived]

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Identifier columns: the key, ``person_id`` and the other ``*_id`` columns (never free text)."""
        named = [c.name for c in self.columns if c.name == "person_id" or c.name.endswith("_id")]
        return tuple(dict.fromkeys([*self.key, *named]))

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def type_of(self, name: str) -> str:
        """DuckDB type of a canonical or derived column."""
        for derived in self.derived:
            if derived.name == name:
                return derived.type
        return self.column(name).type


@dataclass(frozen=True)
class Expectation:
    """One GX expectation from a suite, with the quarantine rule name and severity from its ``meta``."""

    type: str
    kwargs: dict[str, Any]
    rule: str
    severity: str = "error"
    level: str = "row"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """A GX suite as data: the raw JSON (handed to GX) and the parsed expectations (compiled to SQL)."""

    name: str
    document: dict[str, Any]
    expectations: tuple[Expectation, ...]


def _contract_from(data: dict[str, Any], path: Path) -> Contract:
    try:
        columns = []
        for name, spec in data["columns"].items():
            column = Column(name=name, **spec)
            if column.type not in TYPES:
                raise ConfigError(f"{path}: column {name}: type {column.type} is not one of {sorted(TYPES)}")
            if column.normalise is not None and column.normalise not in NORMALISERS:
                raise ConfigError(
                    f"{path}: column {name}: normalise {column.normalise} is not one of {sorted(NORMALISERS)}"
                )
            columns.append(column)
        derived = tuple(Derived(name=name, **spec) for name, spec in (data.get("derived") or {}).items())
        return Contract(
            source=data["source"],
            table=data["table"],
            grain=data["grain"],
            key=tuple(data["key"]),
            columns=tuple(columns),
            derived=derived,
            order=tuple(data.get("order") or ()),
        )
    except (KeyError, TypeError) as error:
        raise ConfigError(f"{path}: invalid contract: {error}") from error


@cache
def load_contract(source: str) -> Contract:
    """The contract of ``source`` (one of :data:`SOURCES`)."""
    path = CONTRACT_DIR / f"{source}.yaml"
    if not path.exists():
        raise ConfigError(f"no contract for source {source!r} (expected {path})")
    return _contract_from(yaml.safe_load(path.read_text(encoding="utf-8")), path)


def parse_suite(document: dict[str, Any], path: Path | str = "<suite>") -> Suite:
    """Parse a GX suite document, checking each expectation's ``meta`` rule and severity."""
    expectations = []
    for index, item in enumerate(document.get("expectations", [])):
        meta = dict(item.get("meta") or {})
        kwargs = dict(item.get("kwargs") or {})
        column = kwargs.get("column") or kwargs.get("column_A") or "table"
        rule = str(meta.get("rule") or f"{item['type'].removeprefix('expect_')}:{column}")
        severity = str(meta.get("severity", "error"))
        if severity not in SEVERITIES:
            raise ConfigError(f"{path}: expectation {index}: severity {severity!r} is not one of {sorted(SEVERITIES)}")
        expectations.append(Expectation(item["type"], kwargs, rule, severity, str(meta.get("level", "row")), meta))
    return Suite(str(document.get("name")), document, tuple(expectations))


@cache
def load_suite(source: str, directory: Path = SUITE_DIR) -> Suite:
    """The GX suite ``expectations/<source>.json``."""
    path = directory / f"{source}.json"
    if not path.exists():
        raise ConfigError(f"no expectation suite for source {source!r} (expected {path})")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON: {error}") from error
    return parse_suite(document, path)
