"""SHA-256 checksums of files: ingest audits, list releases and the incremental night's definitions digests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read 1 MiB at a time so a large extract never sits in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def definitions_digest(files: Iterable[Path], folder: Path | None, settings_text: str) -> str:
    """Hex SHA-256 of what shapes a stage's output besides its data.

    Each file's name and bytes, every file under ``folder`` (the ICS's reference files; skipped when
    absent) and ``settings_text`` (the settings the stage reads, serialised).
    """
    paths = list(files)
    if folder is not None and folder.is_dir():
        paths += sorted(p for p in folder.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(settings_text.encode())
    return digest.hexdigest()
