"""Crash-safe storage of observation photos, and the recovery step after an interruption.

A photo goes through three states:

1. *staged*: written to ``PHOTOS_DIR/.en-cours/<uid>.<name>`` (through a ``.part`` file,
   flushed to disk, then renamed: a staged file is always complete), before the record;
2. the observation ``<uid>`` is committed with ``<name>`` in its ``photos`` list;
3. *final*: the staged file is renamed to ``PHOTOS_DIR/<name>``.

Whatever point a request (or the whole server) stops at, :func:`recover` puts things
right: staged photos of a committed observation are promoted, staged photos whose record
does not exist are deleted once older than a grace period (a request may still be about
to commit them), and final photos that no observation references are listed (deleted on
request).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

#: Sub-folder of the photos folder holding the photos of records not yet committed.
STAGING = ".en-cours"
#: A staged photo without its record is deleted after this many seconds by default.
GRACE_SECONDS = 3600.0
PHOTO_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp)$")
_STAGED_NAME = re.compile(r"^(?P<uid>[A-Za-z0-9_-]{1,64})\.(?P<name>[0-9a-f]{32}\.(?:jpg|png|webp))$")


@dataclass
class RecoveryReport:
    """What :func:`recover` found and did (file names relative to the photos folder)."""

    promoted: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    orphans_deleted: bool = False

    def summary(self) -> str:
        """One French sentence for logs and the command line."""
        orphans = (f"{len(self.orphans)} photo(s) orpheline(s) supprimée(s)" if self.orphans_deleted
                   else f"{len(self.orphans)} photo(s) orpheline(s) (non supprimées)")
        return (f"{len(self.promoted)} photo(s) rattachée(s) à leur constat, "
                f"{len(self.discarded)} photo(s) en attente supprimée(s) (constat absent), "
                f"{len(self.kept)} photo(s) en attente conservée(s) (délai de grâce), {orphans}.")


def new_name(ext: str) -> str:
    """Return a fresh server-generated photo file name."""
    return f"{secrets.token_hex(16)}.{ext}"


def staging_dir(folder: Path) -> Path:
    """Return the staging folder of ``folder``."""
    return folder / STAGING


def staged_path(folder: Path, uid: str, name: str) -> Path:
    """Where the photo ``name`` of observation ``uid`` waits for its record."""
    return staging_dir(folder) / f"{uid}.{name}"


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def stage(folder: Path, uid: str, photos: Sequence[tuple[bytes, str]]) -> list[str]:
    """Write ``photos`` (bytes, extension) to the staging area for observation ``uid``.

    Each file is written to a ``.part`` file, flushed to disk and renamed, so a staged
    photo is complete or absent. On error the photos staged so far are removed.

    Returns
    -------
    list of str
        The final names of the photos, in order (to store in the record).
    """
    names: list[str] = []
    if not photos:
        return names
    staging = staging_dir(folder)
    staging.mkdir(parents=True, exist_ok=True)
    try:
        for blob, ext in photos:
            name = new_name(ext)
            target = staged_path(folder, uid, name)
            part = target.with_name(target.name + ".part")
            names.append(name)
            with part.open("wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(part, target)
        _fsync_dir(staging)
    except BaseException:
        discard(folder, uid, names)
        raise
    return names


def discard(folder: Path, uid: str, names: Iterable[str]) -> None:
    """Delete the staged photos ``names`` of ``uid`` (and any ``.part`` left)."""
    for name in names:
        target = staged_path(folder, uid, name)
        target.unlink(missing_ok=True)
        target.with_name(target.name + ".part").unlink(missing_ok=True)


def promote(folder: Path, uid: str, names: Iterable[str]) -> list[str]:
    """Move the staged photos of a committed observation to their final names.

    Idempotent: a photo already promoted (by a concurrent recovery) is left as is.

    Returns
    -------
    list of str
        The names moved by this call.
    """
    moved = []
    for name in names:
        source, final = staged_path(folder, uid, name), folder / name
        try:
            os.replace(source, final)
        except FileNotFoundError:
            if not final.exists():
                logger.error("photo %s of observation %s is missing", name, uid)
            continue
        moved.append(name)
    if moved:
        _fsync_dir(folder)
    return moved


def record_photos(value: Any) -> list[str]:
    """Return the photo names of a record's ``photos`` value (JSON text or list; None: none)."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return []


def committed_photos(store: LayerStore, uids: Sequence[str]) -> dict[str, list[str]]:
    """``uid -> photo names`` of the stored observations among ``uids``."""
    if not uids:
        return {}
    found = store.read("observations", uids=list(uids))
    return {str(u): record_photos(p) for u, p in zip(found["uid"], found["photos"], strict=True)}


def settle(store: LayerStore, folder: Path, uid: str, names: Sequence[str]) -> bool:
    """After a write attempt: promote ``names`` if ``uid`` was committed with them, else discard.

    Returns
    -------
    bool
        True when the photos belong to the stored record (promoted).
    """
    if not names:
        return False
    stored = committed_photos(store, [uid]).get(uid)
    if stored is not None and set(names) <= set(stored):
        promote(folder, uid, names)
        return True
    discard(folder, uid, names)
    return False


def _all_referenced(store: LayerStore) -> set[str]:
    """Every photo name referenced by an observation."""
    frame = store.read("observations")
    return {name for value in frame["photos"] for name in record_photos(value)}


def recover(store: LayerStore, folder: str | Path, *, grace_seconds: float = GRACE_SECONDS,
            orphans: bool = True, delete_orphans: bool = False,
            now: float | None = None) -> RecoveryReport:
    """Finish or undo the photo writes of interrupted requests.

    Parameters
    ----------
    store : LayerStore
        The store holding the observations.
    folder : str or Path
        The photos folder (``PHOTOS_DIR``).
    grace_seconds : float
        Staged photos without their record are deleted only when older than this
        (a request may be about to commit them).
    orphans : bool
        Also look for final photos that no observation references (reads every
        observation).
    delete_orphans : bool
        Delete those orphan photos (otherwise they are only listed).
    now : float, optional
        Current time (``time.time()``), for tests.

    Returns
    -------
    RecoveryReport
    """
    folder = Path(folder)
    report = RecoveryReport()
    if not folder.is_dir():
        return report
    now = time.time() if now is None else now
    staged = _sort_staging(folder, report, now=now, grace_seconds=grace_seconds)
    _settle_staged(store, folder, staged, report, now=now, grace_seconds=grace_seconds)
    if orphans:
        _find_orphans(store, folder, report, delete=delete_orphans)
    if report.promoted or report.discarded or report.orphans:
        logger.warning("photos %s: %s", folder, report.summary())
    return report


def _sort_staging(folder: Path, report: RecoveryReport, *, now: float,
                  grace_seconds: float) -> dict[str, list[tuple[str, Path]]]:
    """Group the staged photos by observation uid; expire (or keep) unfinished writes into ``report``."""
    staging = staging_dir(folder)
    staged: dict[str, list[tuple[str, Path]]] = {}
    if not staging.is_dir():
        return staged
    for path in sorted(staging.iterdir()):
        match = _STAGED_NAME.match(path.name)
        if match is None:  # .part files and strays: unfinished writes
            _expire(path, report, now=now, grace_seconds=grace_seconds)
            continue
        staged.setdefault(match["uid"], []).append((match["name"], path))
    return staged


def _settle_staged(store: LayerStore, folder: Path, staged: dict[str, list[tuple[str, Path]]],
                   report: RecoveryReport, *, now: float, grace_seconds: float) -> None:
    """Promote the staged photos of committed observations; expire (or keep) the others."""
    committed = committed_photos(store, sorted(staged))
    for uid, entries in staged.items():
        stored = set(committed.get(uid, []))
        for name, path in entries:
            if name in stored:
                report.promoted += [f"{n}" for n in promote(folder, uid, [name])]
            else:
                _expire(path, report, now=now, grace_seconds=grace_seconds)


def _expire(path: Path, report: RecoveryReport, *, now: float, grace_seconds: float) -> None:
    """Delete a staged file older than the grace period, keep a younger one (noted in ``report``)."""
    if _older(path, now, grace_seconds):
        _remove(path, report.discarded)
    else:
        report.kept.append(f"{STAGING}/{path.name}")


def _find_orphans(store: LayerStore, folder: Path, report: RecoveryReport, *, delete: bool) -> None:
    """List (and delete on request) the final photos no observation references."""
    finals = [p for p in folder.iterdir() if p.is_file() and PHOTO_NAME.match(p.name)]
    if not finals:
        return
    referenced = _all_referenced(store)
    report.orphans = sorted(p.name for p in finals if p.name not in referenced)
    if delete:
        for name in report.orphans:
            (folder / name).unlink(missing_ok=True)
        report.orphans_deleted = True


def _older(path: Path, now: float, grace_seconds: float) -> bool:
    with contextlib.suppress(FileNotFoundError):
        return now - path.stat().st_mtime >= grace_seconds
    return False


def _remove(path: Path, into: list[str]) -> None:
    path.unlink(missing_ok=True)
    into.append(f"{STAGING}/{path.name}")
