"""``/admin/imports``: upload a file, map its columns, preview, import as a job, read the rejects.

Administrators only. The file is checked (size, extension, content matching the extension,
readable by the importer) and kept in the uploads folder of the job queue
(:data:`webmap.jobs.import_job.UPLOADS_DIRNAME`, files older than :data:`UPLOAD_TTL_S` are
removed). The page then asks for the mapping form (every field of the layer with the column
proposed for it), the preview of the first rows as they would be stored, and starts the
« import » job through ``POST /api/jobs``; the job's result carries the reject lines and the
reject CSV. The store's import log is listed on the page.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from geo.errors import CRSError
from layers.errors import MappingError, SourceFileError, UnknownLayerError
from layers.imports import (
    KEEP_RULE,
    PROPOSED,
    UNKNOWN_DATE,
    MappingChoices,
    build_mapping,
    file_columns,
    mapping_form,
    preview_import,
)
from layers.schema import get_schema
from layers.settings import get_settings
from webmap.access import allow, csrf_token, fail
from webmap.jobs.import_job import UPLOADS_DIRNAME, importable_layers, upload_path
from webmap.store import get_store

logger = logging.getLogger(__name__)
bp = Blueprint("imports", __name__)

#: Default largest uploaded file (``MAX_IMPORT_BYTES``).
MAX_IMPORT_BYTES = 25 * 1024 * 1024
#: Uploaded files are removed after this many seconds.
UPLOAD_TTL_S = 24 * 3600
#: Extensions accepted, with the magic bytes their content must start with (None: text).
EXTENSIONS: dict[str, tuple[bytes, ...] | None] = {
    ".csv": None, ".txt": None, ".geojson": (b"{",), ".json": (b"{", b"["),
    ".gpkg": (b"SQLite format 3\x00",), ".zip": (b"PK\x03\x04",), ".gz": (b"\x1f\x8b",),
}
_BINARY_MAGIC = (b"PK\x03\x04", b"SQLite format", b"\x1f\x8b", b"%PDF", b"\x7fELF", b"MZ", b"\x89PNG",
                 b"\xff\xd8\xff")
LOG_COLUMNS = ("finished_at", "actor", "file_name", "layer", "mapping", "n_read", "n_inserted",
               "n_existing", "n_rejected")


def _uploads_dir() -> Path:
    return Path(current_app.config["JOBS_FILES_DIR"]) / UPLOADS_DIRNAME


def _extension(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".csv.gz"):
        return ".gz"
    return "." + lower.rsplit(".", 1)[1] if "." in lower else ""


def _check_content(data: bytes, ext: str, shown: str) -> None:
    """400 when the content does not match the extension ``ext``."""
    if not data.strip():
        fail(400, f"« {shown} » est vide.", "fichier")
    magic = EXTENSIONS[ext]
    if magic is None:
        if data.startswith(_BINARY_MAGIC) or b"\x00" in data[:65536]:
            fail(400, f"« {shown} » n'est pas un fichier texte CSV (contenu binaire).", "fichier")
        return
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n") if ext in (".geojson", ".json") else data
    if not head.startswith(magic):
        kinds = {".geojson": "GeoJSON", ".json": "JSON", ".gpkg": "GeoPackage", ".zip": "ZIP (Shapefile)",
                 ".gz": "CSV compressé (gzip)"}
        fail(400, f"« {shown} » n'est pas un fichier {kinds[ext]} : son contenu ne correspond pas à "
                  "son extension.", "fichier")


def _clean_old_uploads(folder: Path) -> None:
    if not folder.is_dir():
        return
    limit = time.time() - UPLOAD_TTL_S
    for sub in folder.iterdir():
        try:
            if sub.is_dir() and sub.stat().st_mtime < limit:
                shutil.rmtree(sub, ignore_errors=True)
        except OSError:  # removed meanwhile by another request
            continue


def _one_file() -> FileStorage:
    unexpected = sorted(set(request.files) - {"fichier"})
    if unexpected:
        fail(400, f"Fichier inattendu « {unexpected[0][:40]} ».", unexpected[0][:40])
    files = [f for f in request.files.getlist("fichier") if f.filename]
    if not files:
        fail(400, "Choisissez un fichier à importer.", "fichier")
    if len(files) > 1:
        fail(400, "Un seul fichier à la fois.", "fichier")
    return files[0]


def _save_upload(upload: FileStorage) -> tuple[str, Path]:
    """Check ``upload`` and save it; return its reference and its path."""
    original = (upload.filename or "")[:120]
    shown = original.replace("\x00", "")[:80]
    base = original.replace("\\", "/").rsplit("/", 1)[-1]
    ext = _extension(base)
    if ext not in EXTENSIONS:
        fail(400, f"« {shown} » : type de fichier non pris en charge ; CSV, GeoJSON, JSON, GeoPackage "
                  "ou Shapefile zippé attendu.", "fichier")
    full_ext = ".csv.gz" if ext == ".gz" else ext
    stem = secure_filename(base[: -len(full_ext)])[:80].strip("._-")
    name = (stem or "fichier") + full_ext
    limit = int(current_app.config.get("MAX_IMPORT_BYTES") or MAX_IMPORT_BYTES)
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        fail(400, f"« {shown} » est trop lourd : {limit / 1024 / 1024:.0f} Mo au plus.", "fichier")
    _check_content(data, ext, shown)
    folder = _uploads_dir()
    _clean_old_uploads(folder)
    token = uuid.uuid4().hex
    (folder / token).mkdir(parents=True, mode=0o700)
    path = folder / token / name
    path.write_bytes(data)
    return f"{token}/{name}", path


@bp.get("/admin/imports")
@allow("administrateur", login_page=True)
def page() -> ResponseReturnValue:
    """Show the imports page: upload, mapping, preview, job and rejects, import log."""
    layers = [{"nom": n, "libelle": get_schema(n).label} for n in importable_layers()]
    limit = int(current_app.config.get("MAX_IMPORT_BYTES") or MAX_IMPORT_BYTES)
    return render_template("admin/imports.html", data={
        "couches": layers, "journal": _log(), "csrf": csrf_token(),
        "taille_max_mo": round(limit / 1024 / 1024),
        "regle": KEEP_RULE, "date_inconnue": UNKNOWN_DATE})


@bp.post("/admin/imports/fichiers")
@allow("administrateur")
def upload() -> ResponseReturnValue:
    """Upload a file (multipart ``fichier``): 201 with its reference and columns."""
    ref, path = _save_upload(_one_file())
    try:
        columns = file_columns(path)
    except (SourceFileError, CRSError, OSError) as exc:
        shutil.rmtree(path.parent, ignore_errors=True)
        message = str(exc) if not isinstance(exc, OSError) else "fichier illisible"
        fail(400, f"Fichier illisible : {message}", "fichier")
    logger.info("import file %s uploaded (%d bytes)", ref, path.stat().st_size)
    return jsonify({"fichier": ref, "nom": path.name, "taille": path.stat().st_size,
                    "colonnes": columns}), 201


def _uploaded(ref: Any) -> Path:
    if not isinstance(ref, str):
        fail(400, "« fichier » : référence du fichier téléversé attendue.", "fichier")
    try:
        path = upload_path(Path(current_app.config["JOBS_FILES_DIR"]), ref)
    except ValueError:
        fail(400, "« fichier » : référence invalide.", "fichier")
    if not path.is_file():
        fail(404, "Fichier téléversé introuvable (supprimé après 24 h ?) : téléversez-le de nouveau.",
             "fichier")
    return path


def _layer(name: Any) -> str:
    if name not in importable_layers():
        fail(400, f"« couche » : une de {', '.join(importable_layers())} attendue.", "couche")
    return str(name)


@bp.get("/admin/imports/correspondance")
@allow("administrateur")
def form() -> ResponseReturnValue:
    """Return the mapping form of ``?fichier=…&couche=…[&base=…]``: every field with its proposed column."""
    path = _uploaded(request.args.get("fichier"))
    layer = _layer(request.args.get("couche"))
    try:
        return jsonify(mapping_form(path, layer, base=request.args.get("base") or PROPOSED))
    except (SourceFileError, MappingError, UnknownLayerError, CRSError) as exc:
        fail(400, str(exc), "base")


def _str_dict(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        fail(400, f"« {name} » : objet de textes attendu.", name)
    return dict(value)


def _choices(body: dict[str, Any]) -> MappingChoices:
    raw = body.get("choix") or {}
    if not isinstance(raw, dict):
        fail(400, "« choix » : objet attendu.", "choix")
    values = raw.get("valeurs") or {}
    if not isinstance(values, dict):
        fail(400, "« valeurs » : objet attendu.", "valeurs")
    geometry = raw.get("geometrie")
    return MappingChoices(base=str(raw.get("base") or PROPOSED),
                          columns=_str_dict(raw.get("colonnes"), "colonnes"),
                          values={str(k): _str_dict(v, "valeurs") for k, v in values.items()},
                          geometry=_str_dict(geometry, "geometrie") if geometry is not None else None,
                          identifier=_text(raw.get("identifiant"), "identifiant"))


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        fail(400, f"« {name} » : texte attendu.", name)
    return value


@bp.post("/admin/imports/apercu")
@allow("administrateur")
def preview() -> ResponseReturnValue:
    """Preview ``{fichier, couche, choix}``: the mapping built and the first rows as they would be stored."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        fail(400, "Corps JSON attendu : {\"fichier\": …, \"couche\": …, \"choix\": {…}}.", "corps")
    path = _uploaded(body.get("fichier"))
    layer = _layer(body.get("couche"))
    try:
        mapping = build_mapping(path, layer, _choices(body))
        result = preview_import(get_store(), path, layer, mapping,
                                territory_margin_m=get_settings().territory_margin_m)
    except (SourceFileError, MappingError, UnknownLayerError, CRSError) as exc:
        fail(400, str(exc), "correspondance")
    return jsonify({"correspondance": mapping, "apercu": result})


def _log() -> list[dict[str, Any]]:
    """Return the store's import log, newest first (100 entries at most)."""
    log = get_store().imports()
    rows = []
    for entry in log.iloc[::-1].head(100).to_dict("records"):
        rows.append({k: (None if entry.get(k) is None or entry.get(k) != entry.get(k) else entry.get(k))
                     for k in LOG_COLUMNS})
    return rows


@bp.get("/admin/imports/journal")
@allow("administrateur")
def log() -> ResponseReturnValue:
    """List the store's import log, newest first: when, who, file, layer, counts."""
    return jsonify({"imports": _log()})
