"""Rules for what a list row says beside the risk (``row_rules.yaml``): in hospital, managed, impactability.

The parameters are data with their sources; this module checks them on load, hands the SQL its
parameters and words the already-managed and impactability notes (pure functions of one row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from popheath.errors import InputError
from popheath.yaml_io import read_yaml

DEFAULT_ROW_RULES = Path(__file__).with_name("row_rules.yaml")
RULES = ("in_hospital_now", "emergency_discharge", "already_managed", "impactability")


@dataclass(frozen=True)
class RowRules:
    """The checked parameters of ``row_rules.yaml``."""

    version: str
    ed_recent_days: int
    community_days: int
    team_types: tuple[str, ...]
    feedback_actions: tuple[str, ...]
    acsc_window_months: int
    recent_months: int
    rise_min_increase: int
    sources: dict[str, str]
    source: Path

    def sql_params(self) -> dict[str, Any]:
        """Named parameters of the list SQL that come from these rules."""
        return {
            "ed_recent_days": self.ed_recent_days,
            "community_days": self.community_days,
            "managing_team_types": list(self.team_types),
            "acsc_window_months": self.acsc_window_months,
            "recent_months": self.recent_months,
        }


def _whole(file: Path, rules: dict[str, Any], rule: str, key: str, minimum: int) -> int:
    value = rules.get(rule, {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(file, f"rules.{rule}.{key}", f"a whole number of at least {minimum}", got=repr(value))
    return value


def _names(file: Path, rules: dict[str, Any], rule: str, key: str) -> tuple[str, ...]:
    value = rules.get(rule, {}).get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise InputError(file, f"rules.{rule}.{key}", "a non-empty list of codes", got=repr(value))
    return tuple(value)


def load_row_rules(path: Path | None = None) -> RowRules:
    """Read and check a row rules file (default: the shipped ``row_rules.yaml``); every rule needs a source."""
    file = path or DEFAULT_ROW_RULES
    data = read_yaml(file, "list row rules file")
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, dict):
        raise InputError(file, "rules", "a mapping of rule name to its parameters and source")
    for rule in RULES:
        if not isinstance(rules.get(rule), dict) or not str(rules[rule].get("source") or "").strip():
            raise InputError(file, f"rules.{rule}.source", "the rule with a non-empty source")
    return RowRules(
        version=str(data.get("version", "unversioned")),
        ed_recent_days=_whole(file, rules, "in_hospital_now", "ed_recent_days", 0),
        community_days=_whole(file, rules, "already_managed", "community_days", 1),
        team_types=_names(file, rules, "already_managed", "team_types"),
        feedback_actions=_names(file, rules, "already_managed", "feedback_actions"),
        acsc_window_months=_whole(file, rules, "impactability", "acsc_window_months", 1),
        recent_months=_whole(file, rules, "impactability", "recent_months", 1),
        rise_min_increase=_whole(file, rules, "impactability", "rise_min_increase", 1),
        sources={rule: " ".join(str(rules[rule]["source"]).split()) for rule in RULES},
        source=file,
    )


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """The count and its noun: "1 emergency admission", "2 emergency admissions"."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def _count(value: object) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    return int(value)  # type: ignore[call-overload]


def impactability_note(
    emergency_in_window: object, acsc_in_window: object, recent: object, before: object, rules: RowRules
) -> tuple[str, bool]:
    """The note and the rising-use flag for one person's emergency admission counts."""
    emergency, acsc = _count(emergency_in_window), _count(acsc_in_window)
    recent_count, before_count = _count(recent), _count(before)
    parts = []
    if emergency:
        were = "was" if acsc == 1 else "were"
        parts.append(
            f"{acsc} of {plural(emergency, 'emergency admission')} in the last {rules.acsc_window_months} months "
            f"{were} for conditions usually managed outside hospital"
        )
    rising = recent_count - before_count >= rules.rise_min_increase
    if rising:
        parts.append(
            f"rising: {plural(recent_count, 'emergency admission')} in the last {rules.recent_months} months, "
            f"{before_count} in the {rules.recent_months} months before"
        )
    return "; ".join(parts), rising


def managed_note(community_contact: object, last_action: object, action_summary: object, rules: RowRules) -> str:
    """Why a person looks already managed: a recent managing-team contact and/or the team's own action."""
    parts = []
    if isinstance(community_contact, str) and community_contact:
        parts.append(community_contact)
    if isinstance(last_action, str) and last_action in rules.feedback_actions and isinstance(action_summary, str):
        parts.append(action_summary)
    return "; ".join(parts)
