"""Project exceptions: each names what was wrong and where, so the CLI can print one clear line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class PopheathError(Exception):
    """Base class for errors the CLI reports as one line and a non-zero exit."""


@dataclass
class InputError(PopheathError):
    """Bad input: names the file, the row (1-based data row, if known), the field and what was expected."""

    file: Path | str
    field: str | None
    expected: str
    row: int | None = None
    got: str | None = None

    def __str__(self) -> str:
        where = [str(self.file)]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field}")
        message = f"{': '.join(where)}: expected {self.expected}"
        if self.got is not None:
            message += f", got {self.got!r}"
        return message


class ConfigError(PopheathError):
    """A setting is missing or invalid."""


class StageError(PopheathError):
    """A stage could not run (missing upstream table, refused model, failed validation ...)."""


class RunLockedError(PopheathError):
    """Another run holds the warehouse lock."""


class StaleDataError(StageError):
    """A source has sent no new data for longer than its freshness limit: the run stops before publish."""
