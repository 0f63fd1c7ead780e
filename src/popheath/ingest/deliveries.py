"""Deliveries: finding them under the raw folder, their files' load records, checksums and fingerprints."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from popheath.checksums import sha256_file
from popheath.errors import InputError
from popheath.quality import contracts

SOURCES = contracts.SOURCES
FILE_SUFFIXES = {".csv", ".parquet"}
UNLABELLED = "unlabelled"


@dataclass(frozen=True)
class Delivery:
    """One delivery folder of one source: the unit that is loaded (or skipped) atomically."""

    source: str
    label: str
    files: tuple[Path, ...]


@dataclass
class FileLoad:
    """What happened to one file: one ``load_audit`` row."""

    load_id: str
    source: str
    delivery: str
    file: Path
    checksum: str
    mapping: str
    started_at: datetime
    rows_read: int = 0
    rows_loaded: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    rows_replaced: int = 0
    rows_flagged: int = 0
    unmapped: list[str] = field(default_factory=list)
    finished_at: datetime | None = None
    outcome: str = "pending"
    error: str | None = None

    @property
    def rows_quarantined(self) -> int:
        """Rows quarantined, all reasons."""
        return sum(self.quarantined.values())


# --- discovery -------------------------------------------------------------------------------


def new_run_id() -> str:
    """A run id that sorts in start order (microseconds), with a random suffix against clashes."""
    return datetime.now().strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)


def _deliveries_of_source(folder: Path, source: str) -> list[Delivery]:
    found = [Delivery(source, sub.name, tuple(_data_files(sub))) for sub in sorted(folder.iterdir()) if sub.is_dir()]
    loose = _data_files(folder)
    if loose:
        found.append(Delivery(source, UNLABELLED, tuple(loose)))
    return [d for d in found if d.files]


def discover(raw_root: Path, sources: list[str] | None = None, paths: list[Path] | None = None) -> list[Delivery]:
    """Deliveries to load, from ``paths`` (files, delivery or source folders, a raw root) or all of ``raw_root``."""
    wanted = list(sources or SOURCES)
    unknown = [s for s in wanted if s not in SOURCES]
    if unknown:
        raise InputError(", ".join(unknown), "source", f"one of {', '.join(SOURCES)}")
    grouped: dict[tuple[str, str], list[Path]] = {}

    def add(delivery: Delivery) -> None:
        grouped.setdefault((delivery.source, delivery.label), []).extend(delivery.files)

    for path in paths or [raw_root]:
        path = Path(path)
        if not path.exists():
            raise InputError(path, None, "an existing file or folder")
        if path.is_file():
            if path.suffix.lower() not in FILE_SUFFIXES:
                raise InputError(path, None, "a .csv or .parquet file")
            source = _source_of_file(path, sources)
            label = UNLABELLED if path.parent.name == source else path.parent.name
            add(Delivery(source, label, (path,)))
        elif path.name in SOURCES:
            for delivery in _deliveries_of_source(path, path.name):
                add(delivery)
        elif path.parent.name in SOURCES:
            add(Delivery(path.parent.name, path.name, tuple(_data_files(path))))
        else:
            for source in wanted:
                if (path / source).is_dir():
                    for delivery in _deliveries_of_source(path / source, source):
                        add(delivery)
    deliveries = [
        Delivery(source, label, tuple(sorted(set(files), key=lambda p: p.name)))
        for (source, label), files in grouped.items()
        if source in wanted
    ]
    # Population first (the spine), then activity; deliveries in label order so later ones supersede.
    return sorted(deliveries, key=lambda d: (SOURCES.index(d.source), d.label))


def _source_of_file(path: Path, sources: list[str] | None) -> str:
    for candidate in (path.parent.parent.name, path.parent.name):
        if candidate in SOURCES:
            return candidate
    if sources and len(sources) == 1:
        return sources[0]
    raise InputError(path, "source", "a file under <raw>/<source>/<delivery>/, or --source NAME")


# --- load records and fingerprints -----------------------------------------------------------


def new_loads(delivery: Delivery, mapping: str) -> tuple[list[FileLoad], str]:
    """A fresh load record per file of ``delivery`` (with its checksum), and the delivery's fingerprint."""
    digests = [(path, sha256_file(path)) for path in delivery.files]
    fingerprint = _fingerprint([(p.name, d) for p, d in digests], mapping)
    loads = [
        FileLoad(uuid.uuid4().hex[:16], delivery.source, delivery.label, path, digest, mapping, datetime.now())
        for path, digest in digests
    ]
    return loads, fingerprint


def _fingerprint(files: list[tuple[str, str]], mapping: str) -> str:
    text = mapping + "|" + "|".join(f"{name}:{digest}" for name, digest in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
