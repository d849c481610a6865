"""Login and logout pages (``/connexion``, ``/deconnexion``), in French."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webmap import oas, sessions, users
from webmap.access import CSRF_FIELD, allow, csrf_valid, current_user

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

#: Field of the login form naming the page to go back to.
NEXT_FIELD = "suivant"


def _safe_next(target: str | None) -> str:
    """Return a local redirection target (no open redirect to another site)."""
    home = "/" if any(r.rule == "/" for r in current_app.url_map.iter_rules()) else url_for("auth.login")
    if not target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return home
    return target


@bp.get("/connexion")
@allow()
def login() -> str:
    """Login form (or who is logged in)."""
    return render_template("auth/login.html", user=current_user(),
                           next=request.args.get(NEXT_FIELD, ""), error=None)


@bp.post("/connexion")
@allow()
def login_post() -> Response | tuple[str, int]:
    """Check the credentials and open a session."""
    nxt = request.form.get(NEXT_FIELD, "")
    if not csrf_valid():
        return render_template("auth/login.html", user=None, next=nxt,
                               error="Formulaire expiré : veuillez réessayer."), 400
    login_name = request.form.get("login", "").strip()
    user = users.authenticate(current_app.config["USERS_DB"], login_name,
                              request.form.get("password", ""))
    if user is None:
        logger.info("failed login for %r", login_name)
        return render_template("auth/login.html", user=None, next=nxt,
                               error="Identifiant ou mot de passe incorrect."), 401
    sessions.open_session(user)  # no session fixation: fresh session, fresh CSRF token
    logger.info("login %s", user.login)
    return redirect(_safe_next(nxt))


@bp.post("/deconnexion")
@allow()
def logout() -> Response:
    """Close the session and revoke the account's other copies of it (CSRF checked by the app hook)."""
    sessions.close_session()
    resp = redirect(url_for("auth.login"))
    # the HTTP and back/forward caches of the browser: no page of the closed session comes
    # back with "Back". Not "storage": the constats still queued on the device (IndexedDB)
    # stay, bound to their author, and the login page empties the service worker's page
    # cache (static/js/connexion.js).
    resp.headers["Clear-Site-Data"] = '"cache"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of the login and logout pages."""
    form = {
        "type": "object", "required": ["login", "password", CSRF_FIELD],
        "properties": {"login": {"type": "string"}, "password": {"type": "string"},
                       CSRF_FIELD: {"type": "string"}, NEXT_FIELD: {"type": "string"}},
    }
    return {
        "/connexion": {
            "get": oas.operation(
                "Formulaire de connexion", "comptes",
                {"200": {"description": "Page HTML.",
                         "content": {"text/html": {"schema": {"type": "string"}}}}},
                op_id="loginForm",
            ),
            "post": oas.operation(
                "Connexion", "comptes",
                {
                    "302": {"description": "Connecté·e : redirection."},
                    "400": {"description": "Jeton CSRF manquant ou invalide."},
                    "401": {"description": "Identifiants incorrects."},
                    "429": {"description": "Trop d'échecs pour ce compte ou cette adresse : "
                                            "connexion suspendue (en-tête Retry-After)."},
                },
                body={"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}},
                op_id="login",
            ),
        },
        "/deconnexion": {"post": oas.operation(
            "Déconnexion", "comptes", {"302": {"description": "Déconnecté·e."}, **oas.errors(400)},
            op_id="logout")},
    }
