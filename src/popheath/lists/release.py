"""Write-audit-publish for list releases: stage, validate, promote, switch ``current`` atomically, prune.

Folders under ``<paths.outputs>/lists/``::

    releases/<release_id>/   complete, validated, immutable releases (manifest.json inside)
    current                  symlink to releases/<release_id>, replaced with os.replace (atomic)
    staging/<release_id>/    a release being built; never read by anyone else
    failed/<release_id>.json why a release was refused (no person-level data)
    .publish.lock            one publisher at a time

A release id starts with its creation time (UTC), so ids sort in the order they were made.
Steps and what a crash at each leaves behind (the previous release stays current throughout):
staging -> files written -> audit -> manifest -> no raw NHS number in any staged file
(:func:`popheath.quality.output_scan.refuse_nhs_numbers`) -> rename into releases/ -> switch ``current``.
Anything in ``staging/``, and any release newer than ``current`` (renamed but never switched),
is debris from a failed run and is removed by the next publish.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from popheath.checksums import sha256_file
from popheath.errors import StageError
from popheath.quality.output_scan import refuse_nhs_numbers

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CURRENT = "current"
MANIFEST_FORMAT = 1


def checkpoint(step: str) -> None:
    """Mark a step of the publish; a no-op hook that the crash tests replace to fail at that step."""
    log.debug("publish step: %s", step)


@dataclass(frozen=True)
class Release:
    """A published release folder and its manifest."""

    release_id: str
    path: Path
    manifest: dict[str, Any]

    @property
    def as_of(self) -> date:
        """The data as-of date of the release."""
        return date.fromisoformat(str(self.manifest["as_of"]))


def lists_root(outputs: Path) -> Path:
    """The lists folder under the outputs path."""
    return outputs / "lists"


def new_release_id(as_of: date, now: datetime | None = None) -> str:
    """``<UTC creation time>_asof<date>``, e.g. ``20250402T031500123456Z_asof20250401``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S%f}Z_asof{as_of:%Y%m%d}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for item in sorted(path.rglob("*")):
        if item.is_file():
            with item.open("rb") as handle:
                os.fsync(handle.fileno())
    for folder in sorted({p.parent for p in path.rglob("*")} | {path}):
        _fsync_dir(folder)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a release folder (StageError if missing or unreadable)."""
    path = folder / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise StageError(f"{path}: not a readable release manifest: {error}") from error
    return manifest


def current_release(root: Path) -> Release | None:
    """The release ``current`` points to, or None before the first publish."""
    pointer = root / CURRENT
    if not pointer.is_symlink():
        return None
    target = (root / os.readlink(pointer)).resolve()
    return Release(target.name, target, read_manifest(target))


def releases(root: Path) -> list[Release]:
    """Published releases, oldest first."""
    folder = root / "releases"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_dir() and (path / MANIFEST).is_file():
            found.append(Release(path.name, path, read_manifest(path)))
    return found


def previous_release(root: Path, as_of: date, max_age_days: int) -> Release | None:
    """The release a new one for ``as_of`` is compared with: the newest published before ``as_of``.

    Only releases up to the current one count (never debris), and only if the as-of date is at
    most ``max_age_days`` earlier; an older list is no fair baseline, so everyone is then new.
    """
    current = current_release(root)
    if current is None:
        return None
    candidates = [r for r in releases(root) if r.release_id <= current.release_id and r.as_of < as_of]
    if not candidates:
        return None
    latest = max(candidates, key=lambda r: (r.as_of, r.release_id))
    if (as_of - latest.as_of).days > max_age_days:
        log.info(
            "previous release %s is older than %d days: every listed person is new", latest.release_id, max_age_days
        )
        return None
    return latest


def verify_release(release: Release) -> list[str]:
    """Problems with a release folder: files missing, changed (SHA-256) or not in the manifest."""
    problems = []
    listed = {entry["path"]: entry for entry in release.manifest.get("files", [])}
    for relative, entry in listed.items():
        path = release.path / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{relative}: checksum differs from the manifest")
    on_disk = {str(p.relative_to(release.path)) for p in release.path.rglob("*") if p.is_file()}
    problems += [f"{extra}: not in the manifest" for extra in sorted(on_disk - set(listed) - {MANIFEST})]
    return problems


@contextlib.contextmanager
def publish_lock(root: Path) -> Iterator[None]:
    """Hold the publish lock (one publisher at a time) or fail at once."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".publish.lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise StageError(f"{root}: another publish is running (lock {root / '.publish.lock'})") from error
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remove_debris(root: Path) -> list[str]:
    """Delete staging folders and releases newer than ``current`` left by failed runs; returns what went."""
    removed = []
    staging = root / "staging"
    if staging.is_dir():
        for path in staging.iterdir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"staging/{path.name}")
    current = current_release(root)
    folder = root / "releases"
    if folder.is_dir():
        for path in folder.iterdir():
            # Newer than current = renamed into releases/ but never switched to. Without a current
            # pointer nothing is judged debris: complete releases are kept for an operator to inspect.
            if current is not None and path.name > current.release_id:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(f"releases/{path.name}")
    for path in root.glob(f".{CURRENT}.*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    if removed:
        log.warning("removed debris of an earlier failed publish: %s", ", ".join(removed))
    return removed


def switch_current(root: Path, release_id: str) -> None:
    """Point ``current`` at ``releases/<release_id>`` in one atomic rename (readers see old or new)."""
    temporary = root / f".{CURRENT}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    os.symlink(Path("releases") / release_id, temporary)
    os.replace(temporary, root / CURRENT)
    _fsync_dir(root)


def prune(root: Path, keep: int) -> list[str]:
    """Keep the newest ``keep`` releases (never the current one); returns the ids removed."""
    current = current_release(root)
    published = [r for r in releases(root) if current is None or r.release_id <= current.release_id]
    doomed = published[: max(len(published) - max(keep, 1), 0)]
    removed = []
    for release in doomed:
        if current is not None and release.release_id == current.release_id:
            continue
        shutil.rmtree(release.path)
        removed.append(release.release_id)
    if removed:
        log.info("pruned releases %s", ", ".join(removed))
    return removed


@dataclass(frozen=True)
class AuditOutcome:
    """What the audit callback found: success, failure lines and details for validation.json."""

    success: bool
    failures: tuple[str, ...]
    detail: dict[str, Any]


def _manifest_files(staging: Path, rows: dict[str, int]) -> list[dict[str, Any]]:
    entries = []
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        relative = str(path.relative_to(staging))
        entries.append(
            {"path": relative, "rows": rows.get(relative), "bytes": path.stat().st_size, "sha256": sha256_file(path)}
        )
    return entries


def write_audit_publish(
    root: Path,
    release_id: str,
    write: Callable[[Path], dict[str, int]],
    audit: Callable[[Path], AuditOutcome],
    manifest: dict[str, Any],
    keep: int,
) -> tuple[Release, list[str]]:
    """Build a release in staging, audit it, then make it current atomically.

    ``write`` fills the staging folder and returns data rows per relative path; ``audit`` checks the
    staged files. Any failure before the switch removes this run's folders and re-raises, so the
    previous release stays current, untouched. Returns the new release and any warnings.
    """
    warnings: list[str] = []
    with publish_lock(root):
        remove_debris(root)
        staging = root / "staging" / release_id
        final = root / "releases" / release_id
        staging.mkdir(parents=True)
        try:
            checkpoint("staging_created")
            rows = write(staging)
            checkpoint("before_validation")
            outcome = audit(staging)
            (staging / "validation.json").write_text(json.dumps(outcome.detail, indent=2, default=str), "utf-8")
            if not outcome.success:
                failed = root / "failed"
                failed.mkdir(exist_ok=True)
                (failed / f"{release_id}.json").write_text(json.dumps(outcome.detail, indent=2, default=str), "utf-8")
                raise StageError(
                    f"list release {release_id} failed validation ({len(outcome.failures)} expectation(s)); "
                    f"previous release kept; details in {failed / (release_id + '.json')}: "
                    + "; ".join(outcome.failures[:5])
                )
            checkpoint("validated")
            body = {
                "format": MANIFEST_FORMAT,
                "release_id": release_id,
                **manifest,
                "files": _manifest_files(staging, rows),
            }
            (staging / MANIFEST).write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")
            # Every staged file, not only the lists: pyramid, Parquet copies, validation and manifest.
            refuse_nhs_numbers([staging], f"list release {release_id} (previous release kept)")
            _fsync_tree(staging)
            checkpoint("before_promote")
            final.parent.mkdir(exist_ok=True)
            os.rename(staging, final)
            _fsync_dir(final.parent)
            checkpoint("before_switch")
            switch_current(root, release_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            current = current_release(root)
            if final.exists() and (current is None or current.release_id != release_id):
                shutil.rmtree(final, ignore_errors=True)
            raise
        checkpoint("switched")
        try:
            prune(root, keep)
        except OSError as error:  # the new release is live; an old folder left behind is only untidy
            warnings.append(f"could not prune old releases: {error}")
            log.warning(warnings[-1])
    release = current_release(root)
    assert release is not None
    return release, warnings
