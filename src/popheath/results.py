"""What a stage returns, and how the CLI and the demo print it.

It sits below the stages so that the run log, the generator and the stages share one type without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class StageResult:
    """What a stage did: counts for the summary table and run log, and where its outputs are."""

    stage: str
    as_of: date | None
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()


def print_result(result: StageResult, console: Console | None = None) -> None:
    """Print a stage's summary as a small table, then its outputs and warnings."""
    console = console or Console()
    table = Table(title=f"{result.stage}" + (f" as of {result.as_of}" if result.as_of else ""), show_header=False)
    for key, value in result.summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        table.add_row(str(key), f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    for path in result.outputs:
        console.print(f"  output: {path}")
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/yellow] {warning}")
