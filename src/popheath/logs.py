"""Logging set-up shared by the CLI and the DAG tasks."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def setup(level: str = "INFO") -> None:
    """Send popheath's logs to stderr through rich, once."""
    root = logging.getLogger("popheath")
    if root.handlers:
        return
    # stderr, as the docstring says: stdout carries the stage's result table and its error line only.
    handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
