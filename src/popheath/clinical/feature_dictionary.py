"""The feature dictionary (``feature_dictionary.yaml``): one type and one loader for features, train and score.

The YAML holds the feature-definition ``version`` that models are checked against and, per feature,
a description, a plain-words ``reason`` template (``"{value:.0f} emergency admissions ..."``) and a
unit. Which file is used is decided in one place, :func:`dictionary_path` (``model.feature_dictionary``
or the file shipped beside this module).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from popheath.config import Settings
from popheath.errors import InputError
from popheath.yaml_io import read_yaml

DICTIONARY_FILE = Path(__file__).resolve().parent / "feature_dictionary.yaml"
REQUIRED_FIELDS = ("description", "reason")
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


@dataclass(frozen=True)
class Feature:
    """One feature: what it is, how to say it to a coordinator, and its unit."""

    name: str
    description: str
    reason: str = ""
    unit: str = ""
    group: str = ""

    def render(self, value: float) -> str:
        """Plain-words reason for this feature's value, e.g. "2 emergency admissions in the last 12 months".

        A flag's template describes the flag being set ("Lives in a care home"), so a 0/1 feature at 0
        is said as "<feature>: no"; a missing value as "<feature>: not recorded".
        """
        label = self.name.replace("_", " ")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"{label}: not recorded"
        if self.is_flag and value == 0:
            return f"{label}: no"
        if self.reason:
            try:
                return self.reason.format(value=value)
            except (KeyError, IndexError, ValueError):
                pass
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.description}: {value:g}{unit}"

    @property
    def is_flag(self) -> bool:
        """Whether the feature is a 0/1 flag (its unit says so)."""
        return bool(self.unit) and str(self.unit).lower().startswith("flag")


@dataclass(frozen=True)
class FeatureDictionary:
    """The parsed YAML: definitions version models are checked against, and features in file order."""

    version: str
    features: dict[str, Feature] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None

    def definition(self, name: str) -> Feature:
        """The definition of ``name``; an undocumented feature falls back to its column name."""
        return self.features.get(name) or Feature(name=name, description=name.replace("_", " "))

    def explain(self, name: str, value: float | int | None) -> str | None:
        """Plain-words reason for ``name`` at ``value`` (None when missing); KeyError names an unknown feature."""
        feature = self.features[name]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return feature.render(float(value))


def dictionary_path(settings: Settings) -> Path:
    """Where the feature dictionary lives (``model.feature_dictionary`` or the packaged one)."""
    return settings.model.feature_dictionary or DICTIONARY_FILE


def _entries(source: Path, raw: Any) -> list[tuple[str, Any]]:
    """``features`` as (name, entry) pairs: a mapping by name, or a list of entries with ``name``."""
    if isinstance(raw, dict):
        return [(str(name), entry) for name, entry in raw.items()]
    if isinstance(raw, list):
        return [(str(entry.get("name")) if isinstance(entry, dict) else "?", entry) for entry in raw]
    raise InputError(source, "features", "a mapping of feature name to description, reason and unit")


def load(path: Path | None = None) -> FeatureDictionary:
    """Read and check the feature dictionary (default: the one shipped beside this module)."""
    source = path or DICTIONARY_FILE
    loaded = read_yaml(source, "feature dictionary YAML file")
    if not isinstance(loaded, dict) or "version" not in loaded:
        raise InputError(source, None, "a mapping with `version` and `features`")
    features: dict[str, Feature] = {}
    for row, (name, entry) in enumerate(_entries(source, loaded.get("features", {})), start=1):
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
            unit=str(entry.get("unit") or ""),
            group=str(entry.get("group", "")),
        )
    return FeatureDictionary(str(loaded["version"]), features, str(loaded.get("description", "")), source)
