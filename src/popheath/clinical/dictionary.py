"""The feature dictionary (``feature_dictionary.yaml``) and the data dictionary generated from it.

The YAML holds the feature-definition ``version`` that models are checked against and, per feature,
a description, a plain-words ``reason`` template (``"{value:.0f} emergency admissions ..."``) and a
unit. :func:`render_markdown` adds the header comments of the SQL files that build the tables
(purpose, grain, inputs, parameters, rules) to make the data dictionary (``docs/features.md``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from popheath.errors import InputError

DICTIONARY_FILE = Path(__file__).resolve().parent / "feature_dictionary.yaml"
REQUIRED_FIELDS = ("description", "reason", "unit")
# Features other stages rely on by name (docs/data_model.md): models, segments and lists read them.
CONTRACT_FEATURES = (
    "age",
    "sex_female",
    "imd_decile",
    "care_home",
    "emergency_admissions_12m",
    "acsc_admissions_12m",
    "emergency_bed_days_12m",
    "ed_attendances_12m",
    "community_contacts_12m",
    "social_care_services_12m",
    "days_since_last_emergency_discharge",
    "hfrs",
    "charlson_score",
    "elixhauser_vw",
    "long_term_conditions",
    "end_of_life_proxy",
)
_HEADER_KEY = re.compile(r"^([a-z][a-z /_-]*):\s?(.*)$")
_SUB_ITEM = re.compile(r"^[A-Za-z0-9_ ()/,.-]{1,60}:\s")


@dataclass(frozen=True)
class Feature:
    """One feature: what it is, how a coordinator reads it, its unit."""

    name: str
    description: str
    reason: str
    unit: str
    group: str = ""

    def explain(self, value: float | int | None) -> str | None:
        """The plain-words reason for a person's value (None when the value is missing)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return self.reason.format(value=value)


@dataclass(frozen=True)
class FeatureDictionary:
    """The parsed YAML: definitions version and features in file order."""

    version: str
    features: dict[str, Feature] = field(default_factory=dict)
    description: str = ""

    def explain(self, name: str, value: float | int | None) -> str | None:
        """Plain-words reason for ``name`` at ``value``; KeyError names an unknown feature."""
        return self.features[name].explain(value)


def load_dictionary(path: Path | None = None) -> FeatureDictionary:
    """Read and check the feature dictionary (default: the one shipped beside this module)."""
    source = path or DICTIONARY_FILE
    try:
        loaded = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InputError(source, None, "a feature dictionary YAML file") from error
    except yaml.YAMLError as error:
        raise InputError(source, None, "valid YAML", got=str(error).splitlines()[0]) from error
    if not isinstance(loaded, dict) or "version" not in loaded or not isinstance(loaded.get("features"), dict):
        raise InputError(source, None, "a mapping with `version` and `features`")
    features: dict[str, Feature] = {}
    for row, (name, entry) in enumerate(loaded["features"].items(), start=1):
        if not isinstance(entry, dict):
            raise InputError(source, name, "a mapping with description, reason and unit", row=row)
        missing = [key for key in REQUIRED_FIELDS if not entry.get(key)]
        if missing:
            raise InputError(source, f"{name}.{missing[0]}", "a non-empty value", row=row)
        try:
            str(entry["reason"]).format(value=1.0)
        except (KeyError, ValueError, IndexError) as error:
            raise InputError(
                source, f"{name}.reason", "a format string using only {value}", row=row, got=entry["reason"]
            ) from error
        features[name] = Feature(
            name=name,
            description=str(entry["description"]),
            reason=str(entry["reason"]),
            unit=str(entry["unit"]),
            group=str(entry.get("group", "")),
        )
    return FeatureDictionary(str(loaded["version"]), features, str(loaded.get("description", "")))


def sql_header(path: Path) -> dict[str, list[str]]:
    """The leading ``--`` comment of a SQL file as sections (purpose, grain, inputs, parameters, rules ...).

    Each section is a list: its first entry is the text after ``key:``; an indented ``-- name: text``
    line starts a further entry (a sub-item, e.g. one rule); other lines continue the last entry.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        body = line[2:]
        text = body.strip()
        if not text:
            continue
        indent = len(body) - len(body.lstrip())
        top = _HEADER_KEY.match(text) if indent <= 1 else None
        if top:
            current = sections.setdefault(top.group(1), [])
            current.append(top.group(2).strip())
        elif current is not None and indent <= 3 and _SUB_ITEM.match(text):
            current.append(text)
        elif current is not None:
            current[-1] = f"{current[-1]} {text}".strip()
    return sections


def _table_name(path: Path) -> str:
    """The table a SQL file creates (``CREATE OR REPLACE TABLE name``), else the file stem."""
    found = re.search(
        r"CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+([A-Za-z_][A-Za-z0-9_]*)", path.read_text(encoding="utf-8")
    )
    return found.group(1) if found else path.stem


def render_markdown(dictionary: FeatureDictionary, sql_files: list[Path], persisted: Mapping[str, str]) -> str:
    """Markdown data dictionary: one section per SQL-built table, then the feature table."""
    lines = [
        "# Clinical tables, features and labels",
        "",
        "Generated by `popheath.clinical.dictionary.write_markdown` from the SQL file headers and",
        f"`src/popheath/clinical/feature_dictionary.yaml` (feature definitions version **{dictionary.version}**).",
        "Do not edit by hand.",
        "",
    ]
    for path in sql_files:
        header = sql_header(path)
        table = _table_name(path)
        title = f"`{table}`" + (f" (persisted as `{persisted[table]}`)" if table in persisted else "")
        lines += [f"## {title}", "", f"File: `sql/{path.parent.name}/{path.name}`", ""]
        for key, entries in header.items():
            lines.append(f"- **{key}**: {entries[0]}".rstrip())
            lines += [f"  - {entry}" for entry in entries[1:]]
        lines.append("")
    lines += ["## Features", "", dictionary.description, "", "| feature | unit | description | reason shown |"]
    lines.append("|---|---|---|---|")
    for feature in dictionary.features.values():
        reason = feature.reason.replace("|", "\\|")
        lines.append(f"| `{feature.name}` | {feature.unit} | {feature.description} | {reason} |")
    return "\n".join(lines) + "\n"


def write_markdown(target: Path, layers: tuple[str, ...] = ("20_clinical", "30_features")) -> Path:
    """Write the data dictionary markdown (e.g. ``docs/features.md``) and return its path."""
    from popheath import db
    from popheath.stages.features import OUTPUTS

    files = [path for layer in layers for path in db.layer_files(layer)]
    persisted = {work: target_table for target_table, work in OUTPUTS.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_markdown(load_dictionary(), files, persisted), encoding="utf-8")
    return target


def as_dict(dictionary: FeatureDictionary) -> dict[str, Any]:
    """The dictionary as plain data (for model registries and manifests)."""
    return {
        "version": dictionary.version,
        "features": {
            name: {"description": f.description, "reason": f.reason, "unit": f.unit}
            for name, f in dictionary.features.items()
        },
    }
