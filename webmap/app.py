"""The Flask application factory of the web map and its APIs.

Configuration, lowest priority first: :data:`DEFAULTS`, the instance file
``instance/config.py``, ``QPV_*`` environment variables (``QPV_STORE``,
``QPV_SECRET_KEY``, ``QPV_USERS_DB``…, prefix removed), then the ``config`` mapping.
Nothing is created at import time; the store is opened per request.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from flask import Flask, Request, current_app, request
from flask.typing import ResponseReturnValue

from geo.errors import QPVError
from layers import integrity, scope
from layers.errors import NotFoundError, RecordError, StoreError, UnknownLayerError
from layers.settings import get_settings, store_files_dir
from layers.store import open_store
from webmap import (
    access,
    action_exports,
    actions_api,
    actions_pages,
    admin,
    api,
    auth,
    basemap,
    headers,
    imports,
    lookup_api,
    navigation,
    observations_api,
    ogcapi,
    open311,
    openapi,
    planner,
    planner_api,
    quartiers,
    reports,
    sessions,
    store,
    suivi_api,
    tfpb,
    throttle,
    views,
    visibility,
    walks,
)
from webmap.jobs import views as jobs_views
from webmap.photos import recover

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "STORE": None,  # layers.settings store_url when not configured
    "USERS_DB": None,  # instance/users.sqlite
    "PHOTOS_DIR": None,  # instance/photos
    "PHOTOS_RECOVERY": True,  # finish or undo interrupted photo writes at start-up
    "PHOTOS_GRACE_SECONDS": 3600,  # staged photos without their record kept this long
    "PHOTOS_ORPHANS_AT_STARTUP": False,  # also list unreferenced photos (reads every observation)
    "LAYER_ROLES": {},  # layer -> roles allowed to see it (overrides the defaults)
    "PHOTO_ROLES": ("lecteur", "technicien", "administrateur"),
    "OPEN311_ROLES": ("technicien", "administrateur"),
    # what anonymous visitors see (webmap.visibility): None = the layers their role may
    # see with their non-internal fields; else {"layers": [...], "fields": {layer: [...]}}
    "PUBLIC_PROFILE": None,
    # hosts an Open311 media_url may point to (exact names, e.g. "photos.ville.fr");
    # empty: every media_url is refused
    "MEDIA_HOSTS": (),
    "FEATURES_LIMIT": api.FEATURES_LIMIT,
    "MAX_PHOTOS": api.MAX_PHOTOS,
    "MAX_PHOTO_BYTES": api.MAX_PHOTO_BYTES,
    "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
    "MAX_IMPORT_BYTES": imports.MAX_IMPORT_BYTES,  # a file uploaded on /admin/imports
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # accounts and sessions (webmap.sessions, webmap.throttle; README « En production »)
    "SESSION_COOKIE_SECURE": False,  # also on when PUBLIC_URL is https or the request is HTTPS
    "PROXY_FIX": 0,  # number of reverse proxies whose X-Forwarded-* headers are trusted
    "SESSION_IDLE_TIMEOUT": 8 * 3600,  # seconds without a request before the session ends
    "SESSION_MAX_AGE": 12 * 3600,  # seconds after login before the session ends, active or not
    "SESSION_REFRESH_EACH_REQUEST": False,  # no Set-Cookie on every answer (last-seen: once a minute)
    "LOGIN_LIMIT_ACCOUNT": "10 per 15 minutes",  # failed logins per account, then 429
    "LOGIN_LIMIT_ADDRESS": "50 per 15 minutes",  # failed logins per client address, then 429
    "RATELIMIT_STORAGE_URI": None,  # instance/throttle.sqlite (one machine); redis://… for several
    # base of the links of OGC API, OpenAPI and Open311 answers (https://gusp.ville.fr); https
    # also turns the Secure cookie flag on. Unset: the request's URL, its Host checked against
    # TRUSTED_HOSTS (webmap/headers.py)
    "PUBLIC_URL": None,
    # hosts accepted in the Host header (others: 400); None: the host of PUBLIC_URL, the
    # loopback names and the `host` setting of qpv servir; [] accepts any host
    "TRUSTED_HOSTS": None,
    # organisation scope of the technicians' writes (layers.scope): pilote / manager /
    # participant leading word -> organisation; organisation -> "propres" (its records) or
    # "territoire" (every record of the store), e.g. {"EPCI": "territoire"}
    "PILOTE_ORGANISATIONS": dict(scope.DEFAULT_PILOTE_ORGANISATIONS),
    "ORGANISATION_SCOPE": {},
    # integrity of the writes (layers.integrity): plausible dates [TERRITORY_START, now +
    # FUTURE_TOLERANCE_MIN minutes], also the time slider's range; constats within
    # TERRITORY_MARGIN_M metres of a perimeter; pilotes accepted besides those already
    # stored; sources of new constats; source -> initial status ("nouveau" otherwise);
    # longest free texts
    "TERRITORY_START": integrity.DEFAULT_TERRITORY_START,
    "FUTURE_TOLERANCE_MIN": integrity.DEFAULT_FUTURE_TOLERANCE_MIN,
    "TERRITORY_MARGIN_M": integrity.DEFAULT_TERRITORY_MARGIN_M,
    "PILOTES": integrity.DEFAULT_PILOTES,
    "WRITE_SOURCES": integrity.DEFAULT_SOURCES,
    "INITIAL_STATUSES": {},
    "MAX_TEXT_LENGTHS": dict(integrity.MAX_LENGTHS),
    # background jobs (webmap.jobs): queue URL, sqlite:///… (None: instance/jobs.sqlite) or
    # redis://… for several machines; folder of the jobs' files (None: instance/travaux)
    "JOBS_URL": None,
    "JOBS_FILES_DIR": None,
    # files area of the store, where reports are filed with their parameters (webmap.reports);
    # None: QPV_FILES_DIR, else <store>.fichiers/ beside a GeoPackage, instance/fichiers for PostGIS
    "FILES_DIR": None,
}


class QPVRequest(Request):
    """Flask request that closes every upload buffer it opened.

    Werkzeug closes the files of ``request.files`` at the end of a request, but when the
    client goes away in the middle of a multipart body the parse fails before
    ``request.files`` exists, and the temporary files of the photos received so far were
    left open (a file descriptor and a temporary file per interrupted upload).
    """

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None,
                         ) -> IO[bytes]:
        stream = super()._get_file_stream(total_content_length, content_type, filename,
                                          content_length)
        self.__dict__.setdefault("_qpv_uploads", []).append(stream)
        return stream

    def close(self) -> None:
        """Close the uploaded files, parsed or not."""
        try:
            super().close()
        finally:
            for stream in self.__dict__.pop("_qpv_uploads", []):
                stream.close()


def _secret_key(instance: Path) -> str:
    """Read (or create once, mode 600) ``instance/secret_key``."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    logger.info("created a secret key in %s", path)
    return key


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web application.

    Parameters
    ----------
    config : mapping, optional
        Settings applied last (tests, embedding): ``STORE``, ``USERS_DB``,
        ``SECRET_KEY``, ``LAYER_ROLES``…; ``instance_path`` moves the instance folder.

    Returns
    -------
    flask.Flask
    """
    config = dict(config or {})
    instance_path = config.pop("instance_path", None) or get_settings().instance_path
    app = Flask("webmap", instance_path=str(Path(instance_path).resolve()) if instance_path else None,
                instance_relative_config=True)
    app.request_class = QPVRequest
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config.update(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("QPV")
    app.config.update(config)
    instance = Path(app.instance_path)
    app.config["STORE"] = str(app.config.get("STORE") or get_settings().store_url)
    app.config["USERS_DB"] = str(app.config.get("USERS_DB") or instance / "users.sqlite")
    app.config["PHOTOS_DIR"] = str(app.config.get("PHOTOS_DIR") or instance / "photos")
    app.config["FILES_DIR"] = str(store_files_dir(app.config["STORE"], configured=app.config.get("FILES_DIR"),
                                                  instance=instance))
    visibility.check_public_profile(app.config["PUBLIC_PROFILE"])
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)

    for blueprint in (auth.bp, api.bp, ogcapi.bp, open311.bp, openapi.bp, walks.bp, lookup_api.bp, views.bp,
                      admin.bp, planner_api.bp, planner.bp, quartiers.bp, reports.bp, imports.bp,
                      actions_api.bp, action_exports.bp, actions_pages.bp, tfpb.bp, basemap.bp,
                      observations_api.bp, suivi_api.bp):
        app.register_blueprint(blueprint)
    jobs_views.init_app(app)
    sessions.init_app(app)
    throttle.init_app(app)

    app.before_request(access.check_csrf)
    store.init_app(app)
    headers.init_app(app)
    app.context_processor(lambda: {"csrf_token": access.csrf_token, "current_user": access.current_user})
    navigation.init_app(app)
    _register_errors(app)
    if app.config["PHOTOS_RECOVERY"]:
        recover_photos(app)
    return app


def recover_photos(app: Flask) -> None:
    """Run :func:`webmap.photos.recover` on the app's photos folder.

    Staged photos are promoted or deleted (cheap: only their uids are read); photos that no
    observation references are listed only with ``PHOTOS_ORPHANS_AT_STARTUP`` (that reads
    every observation; ``qpv photos nettoyer`` does it on demand). Never prevents the
    application from starting: a store that cannot be read is logged.
    """
    folder = Path(app.config["PHOTOS_DIR"])
    if not folder.is_dir():
        return
    try:
        with open_store(app.config["STORE"], create=False) as opened:
            recover(opened, folder, grace_seconds=float(app.config["PHOTOS_GRACE_SECONDS"]),
                    orphans=bool(app.config["PHOTOS_ORPHANS_AT_STARTUP"]))
    except (QPVError, OSError) as exc:
        logger.warning("photo recovery skipped: %s", exc)


#: Answer to a write that waited for the GeoPackage lock longer than its busy timeout.
BUSY_MESSAGE = ("Entrepôt occupé : d'autres écritures le verrouillent depuis plus d'une minute. "
                "Réessayez dans un instant.")


def is_lock_timeout(exc: BaseException) -> bool:
    """Tell whether ``exc`` is SQLite giving up on a lock (after the store's long busy timeout)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(RecordError)
    def _record_error(exc: RecordError) -> ResponseReturnValue:
        return access.ApiError(400, str(exc), exc.field).get_response()

    @app.errorhandler(NotFoundError)
    def _not_found(exc: NotFoundError) -> ResponseReturnValue:
        return access.ApiError(404, str(exc)).get_response()

    @app.errorhandler(UnknownLayerError)
    def _unknown_layer(exc: UnknownLayerError) -> ResponseReturnValue:
        # never list the layers (a confidential one would be revealed)
        return access.ApiError(404, "Couche ou table inconnue.", "layer").get_response()

    @app.errorhandler(QPVError)
    def _qpv_error(exc: QPVError) -> ResponseReturnValue:
        return access.ApiError(400, str(exc), getattr(exc, "field", None)).get_response()

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> ResponseReturnValue:
        # the database failed, not the request: a 503 the client may retry
        logger.error("store error: %s", exc)
        resp = access.ApiError(503, str(exc)).get_response()
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(sqlite3.OperationalError)
    def _busy(exc: sqlite3.OperationalError) -> ResponseReturnValue:
        if not is_lock_timeout(exc):
            raise exc
        logger.error("GeoPackage still locked after the busy timeout: %s", exc)
        resp = access.ApiError(503, BUSY_MESSAGE).get_response()
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(413)
    def _too_large(_exc: Exception) -> ResponseReturnValue:
        # the whole request (MAX_CONTENT_LENGTH), or too many / too big form parts
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        size = f" ({limit / 1024**2:g} Mo au plus)" if limit else ""
        field = "photos" if request.mimetype == "multipart/form-data" else "corps"
        return access.ApiError(413, f"Requête trop volumineuse{size}.", field).get_response()

    @app.errorhandler(404)
    def _missing(exc: Exception) -> ResponseReturnValue:
        if _wants_json():
            return access.ApiError(404, "Ressource introuvable.").get_response()
        return "Page introuvable.", 404

    @app.errorhandler(405)
    def _method(exc: Exception) -> ResponseReturnValue:
        return access.ApiError(405, "Méthode non autorisée.").get_response()

    @app.errorhandler(500)
    def _internal(exc: Exception) -> ResponseReturnValue:
        return access.ApiError(500, "Erreur interne du serveur.").get_response()


def _wants_json() -> bool:
    return request.path.startswith(("/api", "/ogc", "/open311", "/openapi", "/photos"))
