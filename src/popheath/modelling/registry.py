"""Model registry on disk: ``<models>/<name>/<version>/`` plus a ``champion`` pointer per model name.

A version folder is written under a temporary name and renamed into place, so a reader never
sees half a version; the champion pointer is replaced atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popheath.errors import StageError

if TYPE_CHECKING:
    import lightgbm

CHAMPION = "champion"
MODEL_FILE = "model.txt"
FEATURES_FILE = "features.json"
TRAINING_FILE = "training.json"
METRICS_FILE = "metrics.json"
DRIFT_FILE = "drift_reference.json"
LOGISTIC_FILE = "logistic_baseline.json"
CARD_FILE = "model_card.md"


def _clean(value: Any) -> Any:
    """JSON has no NaN: write missing numbers as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return _clean(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def dumps(value: Any) -> str:
    """Stable, NaN-free JSON text."""
    return json.dumps(_clean(value), indent=2, sort_keys=False, allow_nan=False) + "\n"


def new_version(model_text: str, now: datetime | None = None) -> str:
    """Version label: UTC timestamp plus the first 8 hex digits of the model file's SHA-256."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{hashlib.sha256(model_text.encode()).hexdigest()[:8]}"


def write_version(root: Path, name: str, version: str, files: Mapping[str, str | bytes]) -> Path:
    """Write every file of a new version into ``root/name/version`` atomically (the folder appears whole)."""
    target = root / name / version
    if target.exists():
        raise StageError(f"{target}: model version already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=target.parent))
    for relative, content in files.items():
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    os.replace(staging, target)
    return target


def versions(root: Path, name: str) -> list[str]:
    """Registered versions of a model, oldest first (labels start with a UTC timestamp)."""
    folder = root / name
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def champion(root: Path, name: str) -> str | None:
    """The champion version of a model, or None if none has been promoted."""
    pointer = root / name / CHAMPION
    if not pointer.exists():
        return None
    version = pointer.read_text(encoding="utf-8").strip()
    return version or None


def set_champion(root: Path, name: str, version: str) -> Path:
    """Point ``champion`` at ``version`` atomically."""
    if not (root / name / version).is_dir():
        raise StageError(f"{root / name / version}: no such model version")
    pointer = root / name / CHAMPION
    handle, temporary = tempfile.mkstemp(prefix=".champion.", dir=pointer.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(version + "\n")
    os.replace(temporary, pointer)
    return pointer


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version folder and readers for its files."""

    name: str
    version: str
    path: Path

    def read_json(self, file: str) -> Any:
        """One JSON file of the version."""
        path = self.path / file
        if not path.exists():
            raise StageError(f"{path}: missing from the registered model")
        return json.loads(path.read_text(encoding="utf-8"))

    @property
    def features(self) -> list[str]:
        """Feature names in model order."""
        return list(self.read_json(FEATURES_FILE)["features"])

    @property
    def feature_definition_version(self) -> str:
        """The feature dictionary version the model was trained with."""
        return str(self.read_json(FEATURES_FILE)["feature_definition_version"])

    def booster(self) -> lightgbm.Booster:
        """The LightGBM model (native text format)."""
        import lightgbm

        path = self.path / MODEL_FILE
        if not path.exists():
            raise StageError(f"{path}: missing from the registered model")
        return lightgbm.Booster(model_file=str(path))


def load(root: Path, name: str, version: str) -> ModelVersion:
    """A registered version; fails clearly when it does not exist."""
    path = root / name / version
    if not path.is_dir():
        raise StageError(f"{path}: no such model version (registered: {', '.join(versions(root, name)) or 'none'})")
    return ModelVersion(name, version, path)


def load_champion(root: Path, name: str) -> ModelVersion:
    """The champion version of ``name``; fails clearly when none has been promoted."""
    version = champion(root, name)
    if version is None:
        raise StageError(f"{root / name}: no champion model: run `popheath train` then `popheath promote`")
    return load(root, name, version)
