"""JSON API of the background jobs: start one, follow it, list them, download its result.

A user sees their own jobs; administrators see every job. Starting a job needs the kind's
minimum role (« rapport » : lecteur, « analyse » : technicien, since it replaces the
``analyses`` layer everybody sees, « parcours » : technicien) and every layer it reads to be
visible to the role.
Another user's job answers 404 (its existence is not revealed).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue

from layers.schema import LAYERS
from webmap import access, oas
from webmap._report_readers import restricted_readers
from webmap.errors import JobError
from webmap.jobs._records import JobRecord
from webmap.jobs.kinds import KINDS, get_kind
from webmap.jobs.queue import JobQueue, Requester

logger = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__)
EXTENSION = "qpv_jobs"
MIMETYPES = {".pdf": "application/pdf", ".html": "text/html", ".csv": "text/csv", ".json": "application/json",
             ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def init_app(app: Flask) -> None:
    """Set ``JOBS_URL`` (default ``instance/jobs.sqlite``) and ``JOBS_FILES_DIR`` (``instance/travaux``)."""
    instance = Path(app.instance_path)
    app.config["JOBS_URL"] = str(app.config.get("JOBS_URL") or f"sqlite:///{instance / 'jobs.sqlite'}")
    app.config["JOBS_FILES_DIR"] = str(app.config.get("JOBS_FILES_DIR") or instance / "travaux")
    app.register_blueprint(bp)


def job_queue(app: Flask | None = None) -> JobQueue:
    """Return the job queue of ``app`` (the current one by default), opened once."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    queue = app.extensions.get(EXTENSION)
    if queue is None:
        queue = JobQueue(app.config["JOBS_URL"], store_url=app.config["STORE"],
                         files_dir=app.config["JOBS_FILES_DIR"], files_area=app.config.get("FILES_DIR"))
        app.extensions[EXTENSION] = queue
    return queue


def _public(record: JobRecord) -> dict[str, Any]:
    """Return what the API shows of a job (no worker host, result files as links)."""
    data = record.to_dict()
    data.pop("worker", None)
    data["label"] = KINDS[record.kind].label if record.kind in KINDS else record.kind
    result = dict(record.result or {})
    files = result.get("fichiers") or []
    data["result"] = result or None
    data["links"] = {
        "self": url_for("jobs.get_job", job_id=record.id),
        "files": [{"name": name, "href": url_for("jobs.job_result", job_id=record.id, fichier=name)}
                  for name in files],
    }
    if files:
        data["links"]["resultat"] = url_for("jobs.job_result", job_id=record.id)
    return data


def _visible_job(job_id: str) -> JobRecord:
    """Return the job ``job_id`` if the current user may read it; 404 otherwise."""
    record = job_queue().get(job_id)
    user = access.current_user()
    if record is None or user is None:
        access.fail(404, "Travail introuvable.")
    mine = record.owner == user.login
    kind = KINDS.get(record.kind)
    allowed = mine and kind is not None and access.has_role(kind.minimum)
    if not (allowed or access.has_role("administrateur")):
        access.fail(404, "Travail introuvable.")
    return record


@bp.post("/api/jobs")
@access.allow("lecteur")
def create_job() -> ResponseReturnValue:
    """Start a job: ``{"kind": "rapport", "params": {...}}`` → 202 and the job."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        access.fail(400, "Corps JSON attendu : {\"kind\": …, \"params\": {…}}.", "corps")
    try:
        kind = get_kind(body.get("kind"))
    except JobError as exc:
        access.fail(400, str(exc), "kind")
    if not access.has_role(kind.minimum):
        access.fail(403, f"Rôle insuffisant : un travail « {kind.name} » demande le rôle {kind.minimum} "
                         "ou plus.", "kind")
    params = body.get("params", {})
    if not isinstance(params, dict):
        access.fail(400, "« params » : objet JSON attendu.", "params")
    queue = job_queue()
    try:
        clean = kind.validate(params)
    except (JobError, ValueError) as exc:
        access.fail(400, str(exc), "params")
    hidden = [layer for layer in kind.layers(clean) if not access.can_see(layer)]
    if hidden:
        access.fail(404, "Couche inconnue.", "params")
    user = access.current_user()
    readable = tuple(name for name in LAYERS if access.can_see(name))
    record = queue.submit(kind.name, clean, requester=Requester(user.login if user else None,
                                                                user.organisation if user else None,
                                                                readable=readable,
                                                                readers=restricted_readers()))
    resp = jsonify(_public(record))
    resp.status_code = 202
    resp.headers["Location"] = url_for("jobs.get_job", job_id=record.id)
    return resp


@bp.get("/api/jobs")
@access.allow("lecteur")
def list_jobs() -> ResponseReturnValue:
    """List the current user's jobs, newest first (administrators: every job; ``?tous=0`` for theirs)."""
    user = access.current_user()
    everyone = access.has_role("administrateur") and request.args.get("tous", "1") != "0"
    records = job_queue().jobs(owner=None if everyone else (user.login if user else ""))
    return jsonify({"jobs": [_public(r) for r in records[:500]], "total": len(records)})


@bp.get("/api/jobs/<job_id>")
@access.allow("lecteur")
def get_job(job_id: str) -> ResponseReturnValue:
    """State, progress, step, error and result links of a job."""
    return jsonify(_public(_visible_job(job_id)))


@bp.get("/api/jobs/<job_id>/resultat")
@access.allow("lecteur")
def job_result(job_id: str) -> ResponseReturnValue:
    """Download a file of a finished job (``?fichier=`` one of its files; the PDF by default)."""
    record = _visible_job(job_id)
    files = list((record.result or {}).get("fichiers") or [])
    if record.state != "terminé" or not files:
        access.fail(409 if record.state in ("en attente", "en cours") else 404,
                    f"Pas de fichier à télécharger : travail {record.state}.")
    name = request.args.get("fichier") or next((f for f in files if f.endswith(".pdf")), files[0])
    if name not in files:
        access.fail(404, f"Fichier « {name} » inconnu pour ce travail.", "fichier")
    path = job_queue().folder(record) / name
    if not path.is_file():
        access.fail(404, "Fichier du travail disparu du serveur.", "fichier")
    return send_file(path, mimetype=MIMETYPES.get(path.suffix.lower(), "application/octet-stream"),
                     as_attachment=True, download_name=name)


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of the jobs."""
    job = {"type": "object", "properties": {
        "id": {"type": "string"}, "kind": {"type": "string", "enum": sorted(KINDS)},
        "label": {"type": "string"}, "params": {"type": "object"},
        "owner": {"type": "string", "nullable": True}, "organisation": {"type": "string", "nullable": True},
        "created": {"type": "string", "format": "date-time"},
        "started": {"type": "string", "format": "date-time", "nullable": True},
        "finished": {"type": "string", "format": "date-time", "nullable": True},
        "state": {"type": "string", "enum": ["en attente", "en cours", "terminé", "échec"]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100}, "step": {"type": "string"},
        "result": {"type": "object", "nullable": True},
        "error": {"type": "string", "nullable": True, "description": "Message en français d'un échec."},
        "links": {"type": "object"}}}
    body = {"type": "object", "required": ["kind"], "properties": {
        "kind": {"type": "string", "enum": sorted(KINDS),
                 "description": "rapport (lecteur et plus), analyse et parcours (technicien et plus), "
                                "import (administrateurs)."},
        "params": {"type": "object",
                   "description": "rapport : quartier ou territoire, periode AAAA-MM:AAAA-MM, "
                   "couche, theme, commune, pdf ; analyse : periode, couche, theme, quartier, maille, "
                   "marge, fdr ; parcours : le corps de POST /api/diagnostics/apercu (résultat : "
                   "le même aperçu) ; import : fichier (téléversé sur /admin/imports), couche, "
                   "correspondance (« proposée », un nom de data/mappings ou un dictionnaire), strict."}}}
    job_id = oas.param("job_id", "path", "Identifiant du travail.")
    return {
        "/api/jobs": {
            "get": oas.operation("Mes travaux (tous pour les administrateurs)", "travaux",
                                 {"200": oas.ok("Travaux, du plus récent au plus ancien.", {
                                     "type": "object", "properties": {"jobs": {"type": "array", "items": job},
                                                                      "total": {"type": "integer"}}}),
                                  **oas.errors(401)}, op_id="listJobs"),
            "post": oas.operation("Lancer un travail en arrière-plan", "travaux",
                                  {"202": oas.ok("Travail en attente.", job), **oas.errors(400, 401, 403)},
                                  body={"required": True, "content": {"application/json": {"schema": body}}},
                                  write=True, op_id="createJob"),
        },
        "/api/jobs/{job_id}": {"get": oas.operation(
            "État d'un travail (avancement, étape, erreur, résultat)", "travaux",
            {"200": oas.ok("Travail.", job), **oas.errors(401, 404)}, parameters=[job_id], op_id="getJob")},
        "/api/jobs/{job_id}/resultat": {"get": oas.operation(
            "Télécharger le résultat d'un travail terminé", "travaux",
            {"200": {"description": "Fichier (PDF par défaut).",
                     "content": {"application/octet-stream": {
                         "schema": {"type": "string", "format": "binary"}}}},
             "409": {"description": "Travail pas encore terminé."}, **oas.errors(401, 404)},
            parameters=[job_id, oas.param("fichier", "query", "Nom d'un des fichiers du travail.")],
            op_id="getJobResult")},
    }
