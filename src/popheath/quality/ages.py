"""Plausible ages at load: birth year and month against the record's own dates (``plausible_ages.yaml``).

The rules, their limit and why they quarantine or flag are in the data file. Each rule is a SQL
condition over a row's canonical columns, compiled into the checking query beside the suite's
rules (:func:`popheath.quality.compile.compile_checks`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from popheath.errors import ConfigError

AGES_FILE = Path(__file__).resolve().parent / "plausible_ages.yaml"
SEVERITIES = ("error", "warn")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class AgeRules:
    """One source's plausible-age rules: its birth columns, the dates a birth may not follow, where age is measured."""

    birth_year: str
    birth_month: str | None
    events: tuple[str, ...]
    age_at: tuple[str, ...]
    implausible_age: str
    max_age_years: int


@dataclass(frozen=True)
class AgeCheck:
    """A rule as SQL: the failure condition, rule name, field, reported value and severity."""

    condition: str
    rule: str
    field: str
    value: str
    severity: str


def _column(name: object, where: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: {name!r} is not a canonical column name")
    return name


@cache
def load_age_rules(path: Path = AGES_FILE) -> dict[str, AgeRules]:
    """Per source, its rules from ``plausible_ages.yaml``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    limit = data.get("max_age_years")
    if not isinstance(limit, int) or limit <= 0:
        raise ConfigError(f"{path}: max_age_years must be a positive whole number of years")
    rules = {}
    for source, spec in (data.get("sources") or {}).items():
        where = f"{path}: {source}"
        severity = spec.get("implausible_age", "warn")
        if severity not in SEVERITIES:
            raise ConfigError(f"{where}: implausible_age must be one of {', '.join(SEVERITIES)}")
        month = spec.get("birth_month")
        rules[str(source)] = AgeRules(
            birth_year=_column(spec.get("birth_year"), where),
            birth_month=_column(month, where) if month is not None else None,
            events=tuple(_column(c, where) for c in spec.get("events") or ()),
            age_at=tuple(_column(c, where) for c in spec.get("age_at") or ()),
            implausible_age=str(severity),
            max_age_years=limit,
        )
    return rules


def age_checks(source: str, columns: list[str], load_date: Callable[[], str]) -> list[AgeCheck]:
    """The age rules of ``source`` over its canonical ``columns`` (none when the data file lists no rules for it).

    ``load_date`` returns the SQL DATE expression of the load date (a query parameter, added only
    when used). Months are counted from year 0 (``year * 12 + month - 1``). A birth month outside
    1-12 counts as unknown (its own range rule reports it). Without a month, a birth is placed at
    its earliest (January) for "born after" and its latest (December) for the age, so only certain
    contradictions and ages count.
    """
    rules = load_age_rules().get(source)
    if rules is None:
        return []
    named = [rules.birth_year, *rules.events, *rules.age_at, *([rules.birth_month] if rules.birth_month else [])]
    missing = sorted(set(named) - set(columns))
    if missing:
        raise ConfigError(f"{AGES_FILE}: {source}: no such column(s) in its contract: {', '.join(missing)}")
    today = load_date()
    year = _quoted(rules.birth_year)
    month = (
        f"(CASE WHEN {_quoted(rules.birth_month)} BETWEEN 1 AND 12 THEN {_quoted(rules.birth_month)} END)"
        if rules.birth_month
        else "CAST(NULL AS INTEGER)"
    )
    birth = f"({year} * 12 + coalesce({month}, 1) - 1)"
    born = f"CAST({year} AS VARCHAR) || coalesce('-' || lpad(CAST({month} AS VARCHAR), 2, '0'), '')"
    checks = [
        AgeCheck(
            f"{year} IS NOT NULL AND {birth} > {_months(today)}",
            f"future_date:{rules.birth_year}",
            rules.birth_year,
            f"{born} || ' after ' || CAST({today} AS VARCHAR)",
            "error",
        )
    ]
    for event in rules.events:
        date = _quoted(event)
        checks.append(
            AgeCheck(
                f"{year} IS NOT NULL AND {date} IS NOT NULL AND {birth} > {_months(date)}",
                f"birth_after_event:{event}",
                rules.birth_year,
                f"{born} || ' after {event} ' || CAST({date} AS VARCHAR)",
                "error",
            )
        )
    at = f"coalesce(least({', '.join(_quoted(c) for c in rules.age_at)}), {today})" if rules.age_at else today
    youngest = f"(year({at}) - {year} - CASE WHEN month({at}) <= coalesce({month}, 12) THEN 1 ELSE 0 END)"
    checks.append(
        AgeCheck(
            f"{year} IS NOT NULL AND {youngest} > {rules.max_age_years}",
            "implausible_age",
            rules.birth_year,
            f"{born} || ': ' || CAST({youngest} AS VARCHAR) || ' years or more at ' || CAST({at} AS VARCHAR)",
            rules.implausible_age,
        )
    )
    return checks


def _quoted(column: str) -> str:
    """A canonical column name (checked against ``[a-z][a-z0-9_]*`` on load) as a SQL identifier."""
    return f'"{column}"'


def _months(date: str) -> str:
    """A date as months since year 0."""
    return f"(year({date}) * 12 + month({date}) - 1)"
