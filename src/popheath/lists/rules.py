"""Population segment rules as data (``segments.yaml``), checked on load and compiled to one SQL CASE.

The rules are an ordered list, first match wins, so every person gets exactly one segment (their
highest level of need, as in Bridges to Health). The SQL is generated rather than kept in a
``.sql`` file because the rules are configuration: column names are checked against the input
tables and every value is passed as a named parameter, never formatted into the SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from popheath.errors import InputError
from popheath.yaml_io import read_yaml

DEFAULT_RULES = Path(__file__).with_name("segments.yaml")
TABLES = ("cohort", "features")
OPERATORS = (">", ">=", "<", "<=", "==", "!=", "truthy")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_TRUE_TEXT = "('true', 't', 'y', 'yes', '1')"
# How each operator reads in a segment rule trace (the coordinator never sees ">=").
_OPERATOR_WORDS = {
    ">": "above {value}",
    ">=": "{value} or more",
    "<": "below {value}",
    "<=": "{value} or less",
    "==": "exactly {value}",
    "!=": "other than {value}",
}


def _number(value: float | str | None) -> str:
    """15.0 -> "15", 12.5 -> "12.5"; text as it is."""
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Condition:
    """One test on one column, e.g. ``cohort.hfrs >= 5``."""

    table: str
    column: str
    op: str
    value: float | str | None = None

    @property
    def alias(self) -> str:
        """Column name in the joined input relation."""
        return f"{self.table}__{self.column}"

    @property
    def qualified(self) -> str:
        """``table.column`` as the rules file names it."""
        return f"{self.table}.{self.column}"

    def describe(self, label: str) -> str:
        """The condition in words for ``segment_rule``, e.g. "Hospital Frailty Risk Score above 15".

        ``label`` is the column's plain name (the rules file's ``labels``); for a flag it is the
        statement that the flag is set ("lives in a care home").
        """
        if self.op == "truthy":
            return label
        return f"{label} {_OPERATOR_WORDS[self.op].format(value=_number(self.value))}"


@dataclass(frozen=True)
class SegmentRule:
    """A segment and the conditions (all must hold) that place a person in it."""

    segment: str
    label: str
    description: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class RuleSet:
    """The ordered rules plus the default segment for people no rule matches."""

    version: str
    rules: tuple[SegmentRule, ...]
    default_segment: str
    default_label: str
    default_description: str
    source: Path
    column_labels: dict[str, str] = field(default_factory=dict)

    def label(self, condition: Condition) -> str:
        """The plain name of a condition's column (``labels`` in the rules file, else its name in words)."""
        return self.column_labels.get(condition.qualified) or condition.column.replace("_", " ")

    @property
    def segments(self) -> tuple[str, ...]:
        """Segment codes in rule order, default last."""
        return (*(rule.segment for rule in self.rules), self.default_segment)

    @property
    def labels(self) -> dict[str, str]:
        """Segment code -> plain label."""
        labels = {rule.segment: rule.label for rule in self.rules}
        labels[self.default_segment] = self.default_label
        return labels

    def columns(self) -> dict[str, list[str]]:
        """Columns each input table must provide, in first-use order."""
        needed: dict[str, list[str]] = {table: [] for table in TABLES}
        for rule in self.rules:
            for condition in rule.conditions:
                if condition.column not in needed[condition.table]:
                    needed[condition.table].append(condition.column)
        return needed


def _condition(raw: Any, file: Path, where: str) -> Condition:
    if not isinstance(raw, dict):
        raise InputError(file, where, "a mapping {column, op, value}", got=repr(raw))
    qualified = str(raw.get("column", ""))
    table, _, column = qualified.partition(".")
    if table not in TABLES or not _IDENTIFIER.match(column):
        raise InputError(file, f"{where}.column", "cohort.<column> or features.<column>", got=qualified)
    op = str(raw.get("op", ""))
    if op not in OPERATORS:
        raise InputError(file, f"{where}.op", f"one of {', '.join(OPERATORS)}", got=op)
    value = raw.get("value")
    if op == "truthy":
        if value is not None:
            raise InputError(file, f"{where}.value", "no value with op truthy", got=repr(value))
    elif isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(file, f"{where}.value", "a number or text", got=repr(value))
    return Condition(table, column, op, float(value) if isinstance(value, int | float) else value)


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and check a rules file (default: the shipped ``segments.yaml``)."""
    file = path or DEFAULT_RULES
    data = read_yaml(file, "segment rules file")
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list) or not data["rules"]:
        raise InputError(file, "rules", "a non-empty list of rules")
    default = data.get("default")
    if not isinstance(default, dict) or not _IDENTIFIER.match(str(default.get("segment", ""))):
        raise InputError(file, "default.segment", "a segment code in lower_snake_case")
    rules: list[SegmentRule] = []
    for index, raw in enumerate(data["rules"]):
        where = f"rules[{index}]"
        if not isinstance(raw, dict):
            raise InputError(file, where, "a mapping with segment, label, all")
        segment = str(raw.get("segment", ""))
        if not _IDENTIFIER.match(segment):
            raise InputError(file, f"{where}.segment", "a segment code in lower_snake_case", got=segment)
        conditions = raw.get("all")
        if not isinstance(conditions, list) or not conditions:
            raise InputError(file, f"{where}.all", "a non-empty list of conditions")
        rules.append(
            SegmentRule(
                segment=segment,
                label=str(raw.get("label") or segment),
                description=str(raw.get("description", "")),
                conditions=tuple(_condition(c, file, f"{where}.all[{i}]") for i, c in enumerate(conditions)),
            )
        )
    codes = [rule.segment for rule in rules] + [str(default["segment"])]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise InputError(file, "segment", "each segment code once", got=", ".join(duplicates))
    labels = data.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise InputError(file, "labels", "a mapping of table.column to its plain name")
    return RuleSet(
        version=str(data.get("version", "unversioned")),
        rules=tuple(rules),
        default_segment=str(default["segment"]),
        default_label=str(default.get("label") or default["segment"]),
        default_description=str(default.get("description", "")),
        source=file,
        column_labels={str(k): v for k, v in labels.items()},
    )


@dataclass(frozen=True)
class CompiledRules:
    """SQL expressions over the input relation ``i`` and the parameters they use."""

    segment_sql: str
    rule_sql: str
    evidence_sql: str
    params: dict[str, Any]


def _truthy(expression: str) -> str:
    # Booleans, Y/N text and non-zero numbers all count as true; NULL is false.
    return (
        f"(coalesce(lower(CAST({expression} AS VARCHAR)) IN {_TRUE_TEXT}, false) "
        f"OR coalesce(TRY_CAST({expression} AS DOUBLE), 0) <> 0)"
    )


def _evidence(rules: RuleSet, conditions: list[Condition], params: dict[str, Any]) -> str:
    # Each column once, in first-use order, by its plain name; the values are what a reviewer needs
    # to check the segment (flags as yes / no, missing values said so).
    columns = list({c.alias: c for c in conditions}.values())
    parts = []
    for c in columns:
        name = f"label_{c.table}__{c.column}"
        params[name] = rules.label(c) + ": "
        value = f"i.{c.alias}"
        shown = (
            f"CASE WHEN {value} IS NULL THEN 'not recorded' WHEN {_truthy(value)} THEN 'yes' ELSE 'no' END"
            if c.op == "truthy"
            else f"coalesce(CAST({value} AS VARCHAR), 'not recorded')"
        )
        parts.append(f"${name} || {shown}")
    return " || '; ' || ".join(parts) if parts else "''"


def compile_rules(rules: RuleSet) -> CompiledRules:
    """Build the CASE expressions for segment, rule text and evidence (the values that decided it)."""
    params: dict[str, Any] = {}
    segment_cases, rule_cases, evidence_cases = [], [], []
    for r_index, rule in enumerate(rules.rules):
        tests = []
        for c_index, condition in enumerate(rule.conditions):
            column = f"i.{condition.alias}"
            if condition.op == "truthy":
                tests.append(_truthy(column))
                continue
            name = f"rule{r_index}_value{c_index}"
            params[name] = condition.value
            op = "=" if condition.op == "==" else condition.op
            tests.append(f"coalesce({column} {op} ${name}, false)")
        when = " AND ".join(tests)
        segment_param, rule_param = f"rule{r_index}_segment", f"rule{r_index}_text"
        params[segment_param] = rule.segment
        params[rule_param] = f"{rule.label} (rules {rules.version}): " + " and ".join(
            c.describe(rules.label(c)) for c in rule.conditions
        )
        segment_cases.append(f"WHEN {when} THEN ${segment_param}")
        rule_cases.append(f"WHEN {when} THEN ${rule_param}")
        evidence_cases.append(f"WHEN {when} THEN {_evidence(rules, list(rule.conditions), params)}")
    params["default_segment"] = rules.default_segment
    params["default_text"] = f"{rules.default_label} (rules {rules.version}): no rule applied"
    all_conditions = [c for rule in rules.rules for c in rule.conditions]
    return CompiledRules(
        segment_sql="CASE " + " ".join(segment_cases) + " ELSE $default_segment END",
        rule_sql="CASE " + " ".join(rule_cases) + " ELSE $default_text END",
        evidence_sql="CASE " + " ".join(evidence_cases) + f" ELSE {_evidence(rules, all_conditions, params)} END",
        params=params,
    )
