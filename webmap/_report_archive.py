"""The reports filed in the store's files area: one folder per report, with its parameters.

A finished report job copies its HTML (and PDF) into ``<files area>/rapports/<id>/`` with a
``parametres.json`` that says what it is (kind, quartier or territory, period, layers, theme,
who asked, when asked, when finished, store revision, notes). The folder is written under a
hidden name and renamed when complete, so a listing never sees half a report; running the
same parameters again files a new, dated entry. No Flask here: the worker processes file the
reports, the pages (:mod:`webmap.reports`) list, read and delete them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Sub-folder of the files area holding the reports.
REPORTS_FOLDER = "rapports"
PARAMETERS_FILE = "parametres.json"
#: Identifier of a filed report: ``AAAAMMJJ-HHMMSS-<nom du fichier>-<6 hex>``.
ID_PATTERN = re.compile(r"\d{8}-\d{6}-[A-Za-z0-9_-]{1,120}-[0-9a-f]{6}")
_PARTIAL = ".en-cours-"
_DELETING = ".suppression-"


@dataclass(frozen=True)
class FiledReport:
    """A report kept in the files area.

    Attributes
    ----------
    id : str
        Name of its folder (:data:`ID_PATTERN`).
    folder : Path
        The folder.
    parameters : dict
        The content of ``parametres.json``.
    files : tuple of str
        Its documents (HTML, then PDF when asked), present in the folder.
    size : int
        Bytes of its documents.
    """

    id: str
    folder: Path
    parameters: dict[str, Any]
    files: tuple[str, ...]
    size: int

    @property
    def layers(self) -> tuple[str, ...]:
        """Layers the report read (a reader must see each of them to open it)."""
        return tuple(str(name) for name in self.parameters.get("couches") or ())

    def file(self, extension: str) -> str | None:
        """Return the name of its document ending in ``extension`` (``.pdf``, ``.html``), None if absent."""
        return next((name for name in self.files if name.lower().endswith(extension)), None)


def reports_dir(files_area: str | Path) -> Path:
    """Return the folder of the reports in ``files_area``."""
    return Path(files_area) / REPORTS_FOLDER


def store_revision(store: Any, store_url: str | Path) -> str | None:
    """Return the store's revision marker (PostGIS); a GeoPackage's file modification time (UTC)."""
    revision = store.revision()
    if revision is not None:
        return str(revision)
    path = Path(str(store_url).removeprefix("gpkg://"))
    if path.is_file():
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)
        return f"fichier modifié le {stamp.isoformat()}"
    return None


def _now() -> datetime:
    # microseconds kept: two reports finished in the same second are still ordered
    return datetime.now(UTC)


def file_report(files_area: str | Path, documents: Iterable[Path],
                parameters: Mapping[str, Any]) -> FiledReport:
    """Copy ``documents`` into a new dated folder of the files area with ``parametres.json``.

    Parameters
    ----------
    files_area : str or Path
        The store's files area (created when missing).
    documents : iterable of Path
        The report's HTML and PDF; the first one's stem names the folder.
    parameters : mapping
        What ``parametres.json`` records (JSON values); ``termine_le`` (now, UTC) and
        ``fichiers`` are added.

    Returns
    -------
    FiledReport
        The new entry (never replaces an existing one).
    """
    docs = [Path(p) for p in documents]
    if not docs:
        raise ValueError("a filed report needs at least one document")
    finished = _now()
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", docs[0].stem)[:120].strip("-") or "rapport"
    report_id = f"{finished:%Y%m%d-%H%M%S}-{stem}-{secrets.token_hex(3)}"
    root = reports_dir(files_area)
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f"{_PARTIAL}{report_id}"
    partial.mkdir()
    try:
        for doc in docs:
            shutil.copyfile(doc, partial / doc.name)
        data = {**dict(parameters), "termine_le": finished.isoformat(), "fichiers": [d.name for d in docs]}
        (partial / PARAMETERS_FILE).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n",
                                               encoding="utf-8")
        os.replace(partial, root / report_id)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    logger.info("report %s filed in %s", report_id, root)
    entry = read_report(files_area, report_id)
    if entry is None:  # pragma: no cover - just written
        raise OSError(f"filed report {report_id} unreadable")
    return entry


def read_report(files_area: str | Path, report_id: str) -> FiledReport | None:
    """Return the filed report ``report_id``; None when unknown, malformed or incomplete."""
    if not isinstance(report_id, str) or not ID_PATTERN.fullmatch(report_id):
        return None
    folder = reports_dir(files_area) / report_id
    try:
        data = json.loads((folder / PARAMETERS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("filed report %s: unreadable %s (%s)", report_id, PARAMETERS_FILE, exc)
        return None
    if not isinstance(data, dict):
        logger.warning("filed report %s: %s is not an object", report_id, PARAMETERS_FILE)
        return None
    names = [str(n) for n in data.get("fichiers") or [] if isinstance(n, str)]
    present = tuple(n for n in names if "/" not in n and (folder / n).is_file())
    size = sum((folder / n).stat().st_size for n in present)
    return FiledReport(report_id, folder, data, present, size)


def list_reports(files_area: str | Path) -> list[FiledReport]:
    """Return the filed reports, most recently finished first (incomplete folders skipped)."""
    root = reports_dir(files_area)
    if not root.is_dir():
        return []
    entries = [read_report(files_area, p.name) for p in root.iterdir() if p.is_dir()]
    found = [e for e in entries if e is not None]
    return sorted(found, key=lambda e: (str(e.parameters.get("termine_le", "")), e.id), reverse=True)


def delete_report(files_area: str | Path, report_id: str) -> bool:
    """Delete the filed report ``report_id``; False when there is none."""
    entry = read_report(files_area, report_id)
    if entry is None:
        return False
    doomed = entry.folder.with_name(f"{_DELETING}{report_id}")
    os.replace(entry.folder, doomed)  # disappears from the listing at once
    shutil.rmtree(doomed, ignore_errors=True)
    logger.info("filed report %s deleted", report_id)
    return True
