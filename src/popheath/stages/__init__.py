"""Pipeline stages. Each module has ``run(settings, as_of) -> StageResult``, called by the CLI and by Airflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StageResult:
    """What a stage did: counts for the summary table and run log, and where its outputs are."""

    stage: str
    as_of: date | None
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
