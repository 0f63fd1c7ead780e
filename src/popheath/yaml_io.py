"""Reading the project's YAML files (rules, dictionaries): one clear error naming the file when it cannot be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from popheath.errors import InputError


def read_yaml(file: Path, what: str) -> Any:
    """Parse ``file``; a missing, unreadable or malformed file is one ``InputError`` naming it."""
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(file, None, f"a readable {what}", got=str(error)) from error
    except yaml.YAMLError as error:
        raise InputError(file, None, "valid YAML", got=str(error).splitlines()[0]) from error
