"""Champion/challenger gate: ``popheath promote``.

The newest registered version (the challenger) replaces the champion only when its AUROC on the
same test data is not worse than the champion's by more than ``model.promotion_margin``; the gate
lives in :mod:`popheath.modelling.promotion`.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from popheath.config import Settings
from popheath.modelling import promotion, registry
from popheath.results import StageResult

log = logging.getLogger(__name__)


def run(settings: Settings, as_of: date, *, model_name: str | None = None, version: str | None = None) -> StageResult:
    """Promote the newest (or the given) version of each model name if it passes the gate."""
    names = [model_name] if model_name else list(settings.model.outcomes)
    summary: dict[str, Any] = {}
    warnings: list[str] = []
    promoted = 0
    for name in names:
        if not model_name and not registry.versions(settings.paths.models, name):
            warnings.append(f"{name}: no registered versions; nothing to promote")
            continue
        message, details = promotion.promote(settings, name, version)
        log.info("%s: %s", name, message)
        summary[name] = message
        promoted += int(details["promoted"])
        if "refused" in message:
            warnings.append(f"{name}: {message}")
    summary["promoted"] = promoted
    pointers = (settings.paths.models / name / registry.CHAMPION for name in names)
    outputs = tuple(pointer for pointer in pointers if pointer.exists())
    return StageResult("promote", as_of, summary=summary, outputs=outputs, warnings=tuple(warnings))
