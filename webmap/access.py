"""Who may do what: current user, roles, per-layer visibility, CSRF, JSON errors.

Every view of the platform's blueprints is wrapped by :func:`allow` (minimum role) and
carries the ``_qpv_access`` marker; :func:`unguarded_endpoints` lists the views that
lack it, so a test can check that no route escapes the role checks.

A confidential layer the user may not see behaves as if it did not exist (404), so
anonymous users cannot learn that it exists.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar

from flask import Flask, current_app, g, request, session

from layers.schema import LAYERS, LayerSchema
from webmap import sessions, users
from webmap.errors import ApiError
from webmap.users import ANONYMOUS, ROLE_RANK, User

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

ALL_ROLES = (ANONYMOUS, *users.ROLES)
CONFIDENTIAL_ROLES = ("technicien", "administrateur")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_KEY_HEADER = "X-API-Key"
CSRF_HEADER = "X-CSRFToken"
CSRF_FIELD = "csrf_token"


def fail(code: int, message: str, field: str | None = None) -> NoReturn:
    """Abort the request with a JSON error."""
    raise ApiError(code, message, field)


# -- current user -------------------------------------------------------------------
def current_user() -> User | None:
    """Return the user of this request: session cookie, or ``X-API-Key`` header (cached in ``g``)."""
    if "qpv_user" in g:
        return g.qpv_user
    user = None
    g.qpv_via_key = False
    db = current_app.config["USERS_DB"]
    user = sessions.session_user(db)  # None when revoked, idle, too old or deactivated
    key = request.headers.get(API_KEY_HEADER)
    if user is None and key:
        user = users.user_by_api_key(db, key)
        g.qpv_via_key = user is not None
    g.qpv_user = user
    return user


def current_role() -> str:
    """Role of the current user (``anonyme`` when nobody is logged in)."""
    user = current_user()
    return user.role if user else ANONYMOUS


def has_role(minimum: str, role: str | None = None) -> bool:
    """Tell whether ``role`` (the current one by default) is at least ``minimum``."""
    return ROLE_RANK[role or current_role()] >= ROLE_RANK[minimum]


def allow(minimum: str = ANONYMOUS) -> Callable[[F], F]:
    """Decorate a view: at least ``minimum`` is required (401 anonymous, 403 too low).

    Parameters
    ----------
    minimum : str
        ``anonyme`` (anybody, still marked as checked), ``lecteur``, ``technicien`` or
        ``administrateur``.
    """
    if minimum not in ROLE_RANK:
        raise ValueError(f"unknown role {minimum!r}")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            role = current_role()
            if not has_role(minimum, role):
                if role == ANONYMOUS:
                    fail(401, "Connexion requise.")
                fail(403, f"Action réservée au rôle « {minimum} » ou supérieur.")
            return view(*args, **kwargs)

        wrapper._qpv_access = minimum  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def unguarded_endpoints(app: Flask, blueprints: Iterable[str]) -> list[str]:
    """Endpoints of ``blueprints`` whose view is not wrapped by :func:`allow`."""
    names = tuple(f"{b}." for b in blueprints)
    return sorted(
        ep for ep, view in app.view_functions.items()
        if ep.startswith(names) and not hasattr(view, "_qpv_access")
    )


# -- layers -------------------------------------------------------------------------
def layer_roles(layer: str) -> tuple[str, ...]:
    """Roles that may see ``layer``: ``LAYER_ROLES`` config, else by confidentiality."""
    configured = current_app.config.get("LAYER_ROLES") or {}
    if layer in configured:
        return tuple(configured[layer])
    return CONFIDENTIAL_ROLES if LAYERS[layer].confidential else ALL_ROLES


def can_see(layer: str, role: str | None = None) -> bool:
    """Tell whether ``role`` (the current one by default) may see ``layer``."""
    return layer in LAYERS and (role or current_role()) in layer_roles(layer)


def visible_layer(name: str) -> LayerSchema:
    """Return the schema of ``name`` if the current user may see it, else 404 (never 403)."""
    if not can_see(name):
        fail(404, f"Couche inconnue « {name} ».", "layer")
    return LAYERS[name]


def writable_layer(name: str) -> LayerSchema:
    """Like :func:`visible_layer`, then 401/403 unless the user is at least technicien."""
    schema = visible_layer(name)
    role = current_role()
    if not has_role("technicien", role):
        fail(401 if role == ANONYMOUS else 403, "Modification réservée aux techniciens.")
    return schema


def can_see_photos() -> bool:
    """Tell whether the current user may see photos (``PHOTO_ROLES`` config)."""
    return current_role() in current_app.config["PHOTO_ROLES"]


# -- CSRF ---------------------------------------------------------------------------
def csrf_token() -> str:
    """Return the CSRF token of this session (created on first use)."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return str(token)


def csrf_valid() -> bool:
    """Tell whether the request carries this session's token (header or form field)."""
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    expected = session.get(CSRF_FIELD)
    return bool(expected) and hmac.compare_digest(str(sent), str(expected))


def check_csrf() -> None:
    """``before_request`` hook: cookie-authenticated writes must carry the CSRF token.

    Requests authenticated by ``X-API-Key`` (no cookie involved) and anonymous ones
    (refused later by the role checks; the login form checks its own token) pass.
    """
    if request.method in SAFE_METHODS or not session.get("login"):
        return
    if current_user() is None or g.get("qpv_via_key"):
        return  # revoked or expired session: anonymous, refused by the role checks
    if not csrf_valid():
        fail(400, "Jeton CSRF manquant ou invalide : rechargez la page.", CSRF_FIELD)
