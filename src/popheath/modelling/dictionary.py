"""The feature dictionary: definition version and plain-words reason templates per feature."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from popheath.config import PROJECT_ROOT, Settings
from popheath.errors import InputError

DEFAULT_DICTIONARY = PROJECT_ROOT / "src" / "popheath" / "clinical" / "feature_dictionary.yaml"


@dataclass(frozen=True)
class FeatureDefinition:
    """One feature: what it is, how to say it to a coordinator, and its unit."""

    name: str
    description: str
    reason: str | None = None
    unit: str | None = None

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
    """All feature definitions and the definition version models are checked against."""

    version: str
    features: dict[str, FeatureDefinition]
    path: Path | None = None

    def definition(self, name: str) -> FeatureDefinition:
        """The definition of ``name``; an undocumented feature falls back to its column name."""
        return self.features.get(name) or FeatureDefinition(name=name, description=name.replace("_", " "))


def dictionary_path(settings: Settings) -> Path:
    """Where the feature dictionary lives (``model.feature_dictionary`` or the packaged one)."""
    return settings.model.feature_dictionary or DEFAULT_DICTIONARY


def load(path: Path) -> FeatureDictionary:
    """Read the dictionary YAML: ``version`` and ``features`` (a mapping by name, or a list with ``name``)."""
    if not path.exists():
        raise InputError(path, None, "a feature dictionary YAML file (written by the features stage)")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(path, None, f"valid YAML ({error})".splitlines()[0]) from error
    if not isinstance(document, dict) or "version" not in document:
        raise InputError(path, "version", "a top-level mapping with a 'version' key")
    raw = document.get("features", {})
    entries: list[tuple[str, dict[str, Any]]]
    if isinstance(raw, dict):
        entries = [(str(name), body or {}) for name, body in raw.items()]
    elif isinstance(raw, list):
        entries = [(str(body.get("name")), body) for body in raw if isinstance(body, dict)]
    else:
        raise InputError(path, "features", "a mapping of feature name to description/reason/unit")
    features: dict[str, FeatureDefinition] = {}
    for name, body in entries:
        if not isinstance(body, dict):
            raise InputError(path, f"features.{name}", "a mapping with description, reason and unit")
        features[name] = FeatureDefinition(
            name=name,
            description=str(body.get("description") or name.replace("_", " ")),
            reason=body.get("reason"),
            unit=body.get("unit"),
        )
    return FeatureDictionary(version=str(document["version"]), features=features, path=path)
