"""Security headers of every answer, trusted hosts and the public base URL of links.

:func:`init_app` registers an ``after_request`` hook that adds, on every answer (HTML,
JSON, files, errors):

- ``Content-Security-Policy``: scripts, styles, workers and connections from the app only
  (no inline script or style: page data travels in ``<script type="application/json">``
  blocks read by the static scripts); images also from ``data:``, ``blob:`` and the tile
  host of the configured ``BASEMAP``; no frame, no plugin, forms posted to the app only;
- ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin``;
- ``Strict-Transport-Security`` only on HTTPS requests (``request.is_secure``, true behind
  a proxy only once the proxy headers are trusted).

Links written into OGC API, OpenAPI and Open311 answers start with :func:`public_url`:
the ``PUBLIC_URL`` setting when configured, else the request's own URL — whose ``Host``
header is then checked against ``TRUSTED_HOSTS`` (Flask answers 400 to any other host).
Without explicit ``TRUSTED_HOSTS`` the app trusts the host of ``PUBLIC_URL`` (when set), the
loopback names and the ``host`` setting of ``qpv servir`` (when it names one host).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import SecurityError

from layers.settings import get_settings
from webmap.errors import ApiError
from webmap.views import basemap_config

logger = logging.getLogger(__name__)

#: Hosts always trusted when ``TRUSTED_HOSTS`` is not configured (local use, tests). IPv6
#: literals cannot be listed (werkzeug cuts a trusted name at its first colon).
LOOPBACK_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")
#: HSTS lifetime (one year), sent on HTTPS answers only.
HSTS = "max-age=31536000; includeSubDomains"


def tile_source(basemap: str | None) -> str | None:
    """Return the CSP source of the tile server of ``basemap`` (None: same origin or none).

    ``{s}`` subdomain templates become a ``*.`` wildcard.
    """
    url = basemap_config(basemap).get("url")
    if not url or not str(url).startswith(("http://", "https://")):
        return None
    parts = urlsplit(str(url).replace("{s}", "subdomain-template"))
    host = (parts.hostname or "").replace("subdomain-template", "*")
    if not host:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def content_security_policy(basemap: str | None) -> str:
    """Return the Content-Security-Policy of the app for base map ``basemap``."""
    tiles = tile_source(basemap)
    img = "'self' data: blob:" + (f" {tiles}" if tiles else "")
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": img,
        "font-src": "'self'",
        "connect-src": "'self'",
        "worker-src": "'self'",
        "manifest-src": "'self'",
        "frame-src": "'none'",
        "frame-ancestors": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "object-src": "'none'",
    }
    return "; ".join(f"{k} {v}" for k, v in directives.items())


def secure_headers(response: Response) -> Response:
    """Add the security headers to ``response`` (``after_request`` hook)."""
    headers = response.headers
    csp = current_app.extensions.get("qpv_csp")
    if csp is None:
        csp = content_security_policy(current_app.config.get("BASEMAP"))
        current_app.extensions["qpv_csp"] = csp
    headers.setdefault("Content-Security-Policy", csp)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    return response


def _untrusted_host(_exc: SecurityError) -> Response:
    """Refuse a request whose ``Host`` is not trusted, in French, without echoing it."""
    return ApiError(400, "Nom d'hôte non autorisé (en-tête Host) : l'adresse publique du service se "
                         "règle par PUBLIC_URL ou TRUSTED_HOSTS.", "Host").get_response()


def public_url() -> str:
    """Return the public base URL of the app, ending with ``/``.

    ``PUBLIC_URL`` when configured (``https://gusp.ville.fr``), else the URL of the request
    (its ``Host`` is one of ``TRUSTED_HOSTS``).
    """
    configured = current_app.config.get("PUBLIC_URL")
    if configured:
        return str(configured).rstrip("/") + "/"
    return request.host_url


def check_public_url(value: Any) -> str | None:
    """Validate the ``PUBLIC_URL`` setting; return it without its trailing ``/`` (None if unset)."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"PUBLIC_URL invalide : {text!r} (attendu par exemple https://gusp.ville.fr)")
    return text.rstrip("/")


def default_trusted_hosts(public: str | None) -> list[str]:
    """Return the trusted hosts when ``TRUSTED_HOSTS`` is not configured."""
    hosts = list(LOOPBACK_HOSTS)
    if public:
        hosts.insert(0, str(urlsplit(public).hostname))
    served = (get_settings().host or "").strip()
    if served and served not in ("0.0.0.0", "::", "") and served not in hosts:
        hosts.append(served)
    return hosts


def init_app(app: Flask) -> None:
    """Check ``PUBLIC_URL``, default ``TRUSTED_HOSTS`` and register :func:`secure_headers`."""
    app.config["PUBLIC_URL"] = check_public_url(app.config.get("PUBLIC_URL"))
    if app.config.get("TRUSTED_HOSTS") is None:
        app.config["TRUSTED_HOSTS"] = default_trusted_hosts(app.config["PUBLIC_URL"])
    elif isinstance(app.config["TRUSTED_HOSTS"], str):  # QPV_TRUSTED_HOSTS="a.fr,b.fr"
        app.config["TRUSTED_HOSTS"] = [h.strip() for h in app.config["TRUSTED_HOSTS"].split(",") if h.strip()]
    app.after_request(secure_headers)
    app.register_error_handler(SecurityError, _untrusted_host)
    app.context_processor(lambda: {"public_url": public_url})
    logger.debug("trusted hosts: %s", app.config["TRUSTED_HOSTS"])
