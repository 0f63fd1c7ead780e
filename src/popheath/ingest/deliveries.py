"""Deliveries: finding them under the raw folder, their files' load records, checksums and fingerprints."""

from __future__ import annotations

import difflib
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from popheath.checksums import sha256_file
from popheath.errors import InputError
from popheath.quality import contracts

SOURCES = contracts.SOURCES
FILE_SUFFIXES = {".csv", ".parquet"}
# Never data, whatever the extension: hidden files (.DS_Store, macOS ._ resource forks of a .csv)
# and Office lock files (~$extract.xlsx).
HIDDEN_PREFIXES = (".", "~$")
UNLABELLED = "unlabelled"


@dataclass(frozen=True)
class SetAside:
    """A file of a delivery folder that is not loaded: not data (``skipped``), or a link out of the raw folder.

    A refused file (a symbolic link pointing outside the raw folder, or to nothing) rejects its
    delivery, as a damaged file does; a skipped one is only named in a warning and the load audit.
    """

    path: Path
    reason: str
    refused: bool = False

    def error(self) -> InputError:
        """The one line naming the file and why it is not loaded."""
        return InputError(self.path, None, "a .csv or .parquet file inside the raw folder", got=self.reason)

    def warning(self) -> str:
        """The warning line for a skipped file."""
        return f"{self.path}: {self.reason}, not loaded (expected .csv or .parquet files)"


@dataclass(frozen=True)
class Delivery:
    """One delivery folder of one source: the unit that is loaded (or skipped) atomically."""

    source: str
    label: str
    files: tuple[Path, ...]
    set_aside: tuple[SetAside, ...] = ()

    @property
    def refused(self) -> list[SetAside]:
        """The files that stop this delivery from loading."""
        return [x for x in self.set_aside if x.refused]


@dataclass(frozen=True)
class Survey:
    """What the raw folder holds: the deliveries to load, and a warning for everything else found or missing."""

    root: Path
    deliveries: list[Delivery]
    warnings: list[str]
    sources: tuple[str, ...] = SOURCES

    def nothing_to_load(self) -> InputError | None:
        """The error of a run that found no data file in any source folder (None when some were found)."""
        if any(d.files for d in self.deliveries):
            return None
        return InputError(
            self.root,
            None,
            f"<source>/<delivery>/*.csv or *.parquet for at least one of {', '.join(self.sources)}",
            got="no data files" + (f" ({len(self.warnings)} warning(s) above)" if self.warnings else ""),
        )


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


def _inside(path: Path, boundary: Path) -> bool:
    return path == boundary or boundary in path.parents


def _classify(path: Path, boundary: Path) -> SetAside | None:
    """None for a data file to load; else why ``path`` is set aside (refused when it leads out of ``boundary``)."""
    target = path.resolve()
    if not target.exists():
        return SetAside(path, f"a symbolic link to {target}, which does not exist", refused=True)
    if not _inside(target, boundary):
        how = "a symbolic link to" if path.is_symlink() else "reached through a symbolic link:"
        return SetAside(path, f"{how} {target}, outside the raw folder {boundary}", refused=True)
    if path.name.startswith(HIDDEN_PREFIXES):
        return SetAside(path, "a hidden or lock file")
    if path.is_dir():
        return SetAside(path, "a folder inside a delivery (deliveries are not nested)")
    if path.suffix.lower() not in FILE_SUFFIXES:
        return SetAside(path, f"not a data file ({path.suffix.lower() or 'no extension'})")
    return None


def _delivery(source: str, label: str, entries: list[Path], boundary: Path) -> Delivery:
    files, aside = [], []
    for path in sorted(entries):
        reason = _classify(path, boundary)
        if reason is None:
            files.append(path)
        else:
            aside.append(reason)
    return Delivery(source, label, tuple(files), tuple(aside))


def _deliveries_of_source(folder: Path, source: str, boundary: Path) -> list[Delivery]:
    found = []
    loose = []
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir() or entry.name.startswith(HIDDEN_PREFIXES):
            loose.append(entry)
        else:
            found.append(_delivery(source, entry.name, list(entry.iterdir()), boundary))
    if loose:
        found.append(_delivery(source, UNLABELLED, loose, boundary))
    return [d for d in found if d.files or d.set_aside]


def _closest_source(name: str) -> str | None:
    close = difflib.get_close_matches(name.lower(), SOURCES, n=1, cutoff=0.6)
    return close[0] if close else None


def _root_warnings(root: Path) -> list[str]:
    """A warning for each entry of a raw root that is not a source folder, saying what was expected."""
    warnings = []
    expected = f"expected source folders {', '.join(SOURCES)}"
    for entry in sorted(root.iterdir()):
        if entry.name in SOURCES:
            continue
        if not entry.is_dir():
            warnings.append(f"{entry}: a file outside any source folder, not loaded ({expected})")
            continue
        holds = [s for s in SOURCES if (entry / s).is_dir()]
        close = _closest_source(entry.name)
        if holds:
            warnings.append(
                f"{entry}: not a source folder but it holds {', '.join(holds)}: is the raw path one level too "
                f"high? (expected {root}/<source>/<delivery>/, e.g. set paths.raw to {entry})"
            )
        elif close:
            warnings.append(f"{entry}: not a source folder, not loaded: did you mean {root / close}?")
        else:
            warnings.append(f"{entry}: not a source folder, not loaded ({expected})")
    return warnings


def _empty_source_warning(folder: Path, deliveries: list[Delivery]) -> str | None:
    if any(d.files for d in deliveries):
        return None
    return f"{folder}: no .csv or .parquet files (expected {folder}/<delivery>/*.csv or *.parquet)"


def survey(raw_root: Path, sources: list[str] | None = None, paths: list[Path] | None = None) -> Survey:
    """Deliveries to load, from ``paths`` (files, delivery or source folders, a raw root) or all of ``raw_root``.

    Everything else found is named in a warning: files that are not data (``SetAside``), folders
    that are not sources (with the closest source name, or the hint that the raw path is one level
    too high) and source folders with no data file. A symbolic link pointing outside the raw folder
    is refused. Where a path is inside ``raw_root``, the raw folder is ``raw_root``; else the path given.
    """
    wanted = list(sources or SOURCES)
    unknown = [s for s in wanted if s not in SOURCES]
    if unknown:
        raise InputError(", ".join(unknown), "source", f"one of {', '.join(SOURCES)}")
    grouped: dict[tuple[str, str], tuple[list[Path], list[SetAside]]] = {}
    warnings: list[str] = []

    def add(delivery: Delivery) -> None:
        files, aside = grouped.setdefault((delivery.source, delivery.label), ([], []))
        files.extend(delivery.files)
        aside.extend(delivery.set_aside)

    def add_source(folder: Path, source: str, boundary: Path) -> None:
        found = _deliveries_of_source(folder, source, boundary)
        for delivery in found:
            add(delivery)
        empty = _empty_source_warning(folder, found) if source in wanted else None
        if empty:
            warnings.append(empty)

    root = Path(os.path.abspath(raw_root))
    for path in paths or [raw_root]:
        path = Path(path)
        if not path.exists() and not path.is_symlink():
            raise InputError(path, None, "an existing file or folder")
        given = Path(os.path.abspath(path))
        boundary = root.resolve() if _inside(given, root) else (given if given.is_dir() else given.parent).resolve()
        if not path.is_dir():
            if path.suffix.lower() not in FILE_SUFFIXES:
                raise InputError(path, None, "a .csv or .parquet file")
            source = _source_of_file(path, sources)
            label = UNLABELLED if path.parent.name == source else path.parent.name
            add(_delivery(source, label, [path], boundary))
        elif path.name in SOURCES:
            add_source(path, path.name, boundary)
        elif path.parent.name in SOURCES:
            add(_delivery(path.parent.name, path.name, list(path.iterdir()), boundary))
        else:
            warnings.extend(_root_warnings(path))
            for source in wanted:
                if (path / source).is_dir():
                    add_source(path / source, source, boundary)
    deliveries = [
        Delivery(
            source,
            label,
            tuple(sorted(set(files), key=lambda p: p.name)),
            tuple(sorted(set(aside), key=lambda x: x.path.name)),
        )
        for (source, label), (files, aside) in grouped.items()
        if source in wanted
    ]
    warnings.extend(x.warning() for d in deliveries for x in d.set_aside if not x.refused)
    # Population first (the spine), then activity; deliveries in label order so later ones supersede.
    ordered = sorted(deliveries, key=lambda d: (SOURCES.index(d.source), d.label))
    return Survey(root, ordered, warnings, tuple(wanted))


def discover(raw_root: Path, sources: list[str] | None = None, paths: list[Path] | None = None) -> list[Delivery]:
    """The deliveries :func:`survey` finds (those with a data file or a file set aside)."""
    return survey(raw_root, sources, paths).deliveries


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


def set_aside_loads(delivery: Delivery, mapping: str) -> tuple[list[FileLoad], list[InputError]]:
    """Load records of the files ``delivery`` sets aside, and the errors of those refused.

    A skipped file is audited as ``skipped``; a refused one as ``rejected``, and then the delivery's
    data files as ``not_loaded`` (the delivery is left as it was, as for a damaged file).
    """
    now = datetime.now()
    errors = [aside.error() for aside in delivery.refused]

    def record(path: Path, outcome: str, error: str) -> FileLoad:
        load = FileLoad(uuid.uuid4().hex[:16], delivery.source, delivery.label, path, "", mapping, now)
        load.outcome, load.error, load.finished_at = outcome, error, now
        return load

    loads = [
        record(x.path, "rejected", str(x.error())) if x.refused else record(x.path, "skipped", x.reason)
        for x in delivery.set_aside
    ]
    if errors:
        loads += [record(path, "not_loaded", f"delivery rolled back: {errors[0]}") for path in delivery.files]
    return loads, errors


def _fingerprint(files: list[tuple[str, str]], mapping: str) -> str:
    text = mapping + "|" + "|".join(f"{name}:{digest}" for name, digest in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
