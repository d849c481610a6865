"""Who may do what: current user, roles, per-layer visibility, CSRF, JSON errors.

Every view of the platform's blueprints is wrapped by :func:`allow`, which declares the
whole access rule of the route (minimum role, the layer it reads, the config key listing
its roles, an API key in the body) and checks it: no view checks a role itself. The rule
is kept on the view (``_qpv_rule``; ``_qpv_access`` is its minimum role), so the OpenAPI
document of a role lists what it may call, and :func:`unguarded_endpoints` lists the
views without one.

A confidential layer the user may not see behaves as if it did not exist (404), so
anonymous users cannot learn that it exists.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from flask import Flask, current_app, g, redirect, render_template, request, session, url_for

from layers.schema import LAYERS, LayerSchema
from webmap import sessions, users, visibility
from webmap.errors import ApiError
from webmap.users import ANONYMOUS, ROLE_RANK, User

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

ALL_ROLES = (ANONYMOUS, *users.ROLES)
CONFIDENTIAL_ROLES = ("technicien", "administrateur")
ACCOUNT_ROLES = tuple(users.ROLES)
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


def allow(minimum: str = ANONYMOUS, *, layer: str | None = None, layer_arg: str | None = None,
          roles: str | None = None, key_field: str | None = None, login_page: bool = False,
          ) -> Callable[[F], F]:
    """Decorate a view with everything that decides who may call it.

    The checks run in this order: the user (``key_field``), the minimum role (401
    anonymous, 403 too low), the configured roles, then the layer (404, never 403, so a
    confidential layer stays unknown). No view checks a role itself.

    Parameters
    ----------
    minimum : str
        ``anonyme`` (anybody), ``lecteur``, ``technicien`` or ``administrateur``.
    layer : str, optional
        A layer the route reads or writes: 404 unless the user may see it.
    layer_arg : str, optional
        Name of the URL argument holding the layer (``layer``, ``cid``): 404 unless visible.
    roles : str, optional
        Config key listing the roles allowed (``PHOTO_ROLES``, ``LOOKUP_ROLES``,
        ``OPEN311_ROLES``); an empty or missing list allows everybody.
    key_field : str, optional
        The user is the owner of the API key sent in this body field (Open311
        ``api_key``), not the session; a missing or unknown key is a 401 naming it.
    login_page : bool
        HTML pages: anonymous visitors are redirected to the login page instead of a 401.
    """
    if minimum not in ROLE_RANK:
        raise ValueError(f"unknown role {minimum!r}")
    rule = AccessRule(minimum, layer, layer_arg, roles, key_field, login_page)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = rule.check(kwargs)
            return refused if refused is not None else view(*args, **kwargs)

        wrapper._qpv_access = minimum  # type: ignore[attr-defined]
        wrapper._qpv_rule = rule  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


@dataclass(frozen=True)
class AccessRule:
    """What :func:`allow` checks before a view runs (see its parameters)."""

    minimum: str
    layer: str | None = None
    layer_arg: str | None = None
    roles: str | None = None
    key_field: str | None = None
    login_page: bool = False

    def check(self, view_args: dict[str, Any]) -> Any:
        """Refuse the request (JSON error), or return a redirect, or None to run the view."""
        if self.key_field:
            _user_from_body_key(self.key_field)
        role = current_role()
        if role == ANONYMOUS and self.login_page and self.minimum != ANONYMOUS:
            return redirect(url_for("auth.login", suivant=request.path))
        if not has_role(self.minimum, role):
            if role == ANONYMOUS:
                fail(401, "Connexion requise.")
            if self.login_page:  # a page: a French HTML page with the header, not a JSON error
                return render_template("auth/refus.html", minimum=self.minimum), 403
            fail(403, f"Action réservée au rôle « {self.minimum} » ou supérieur.")
        allowed = current_app.config.get(self.roles) if self.roles else None
        if allowed and role not in allowed:
            fail(401 if role == ANONYMOUS else 403, _ROLES_REFUSAL.get(self.roles or "",
                 "Action réservée à certains rôles."), self.key_field)
        if self.layer:
            visible_layer(self.layer)
        if self.layer_arg:
            visible_layer(str(view_args.get(self.layer_arg, "")))
        return None


_ROLES_REFUSAL = {
    "PHOTO_ROLES": "Photos réservées aux comptes autorisés.",
    "LOOKUP_ROLES": "Recherche de QPV réservée à certains rôles.",
    "OPEN311_ROLES": "Cette clé d'API ne permet pas de créer des signalements.",
}


def _user_from_body_key(name: str) -> None:
    """Make the owner of the API key of body field ``name`` the user of this request."""
    body = request.form.to_dict() if request.form else (request.get_json(silent=True) or {})
    key = str(body.get(name, "")) if isinstance(body, dict) else ""
    user = users.user_by_api_key(current_app.config["USERS_DB"], key) if key else None
    if user is None:
        fail(401, f"Clé d'API ({name}) manquante ou invalide.", name)
    g.qpv_user = user
    g.qpv_via_key = True


def unguarded_endpoints(app: Flask, blueprints: Iterable[str]) -> list[str]:
    """Endpoints of ``blueprints`` whose view is not wrapped by :func:`allow`."""
    names = tuple(f"{b}." for b in blueprints)
    return sorted(
        ep for ep, view in app.view_functions.items()
        if ep.startswith(names) and not hasattr(view, "_qpv_access")
    )


# -- layers -------------------------------------------------------------------------
def layer_roles(layer: str) -> tuple[str, ...]:
    """Roles that may see ``layer``: ``LAYER_ROLES`` config, else by confidentiality.

    A confidential layer is for technicians and administrators; a layer that is not
    ``public`` (the plan d'actions) for every account; the others for everybody.
    """
    configured = current_app.config.get("LAYER_ROLES") or {}
    if layer in configured:
        return tuple(configured[layer])
    schema = LAYERS[layer]
    if schema.confidential:
        return CONFIDENTIAL_ROLES
    return ALL_ROLES if schema.public else ACCOUNT_ROLES


def can_see(layer: str, role: str | None = None) -> bool:
    """Tell whether ``role`` (the current one by default) may see ``layer``.

    Anonymous visitors see the layers of the public profile (:mod:`webmap.visibility`).
    """
    if layer not in LAYERS:
        return False
    role = role or current_role()
    if role == ANONYMOUS:
        return layer in visibility.public_layers(n for n in LAYERS if ANONYMOUS in layer_roles(n))
    return role in layer_roles(layer)


def visible_layer(name: str) -> LayerSchema:
    """Return the schema of ``name`` if the current user may see it, else 404 (never 403)."""
    if not can_see(name):
        fail(404, f"Couche inconnue « {name} ».", "layer")
    return LAYERS[name]


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
