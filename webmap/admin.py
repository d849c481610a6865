"""Account pages: ``/admin/comptes`` (administrators) and ``/compte`` (everyone logged in).

Administrators create accounts (login, role, organisation, initial password; the Open311
API key is shown once), change their role and organisation, deactivate and reactivate
them, set a new password and give a new API key. ``/administration/comptes``, the former
address of the page, redirects to it. Every logged-in user changes their own password on
``/compte`` (the current one is required); that revokes their other sessions and keeps
this one open. The forms carry the CSRF token, checked by the app's hook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from layers.errors import NotFoundError, RecordError
from webmap import passwords, sessions, users
from webmap.access import allow, current_user, fail

logger = logging.getLogger(__name__)

bp = Blueprint("admin", __name__)


@bp.context_processor
def _policy() -> dict[str, object]:
    return {"min_length": passwords.MIN_LENGTH, "roles": users.ROLES,
            "organisations": users.ORGANISATIONS}


def _db() -> str:
    return str(current_app.config["USERS_DB"])


@dataclass(frozen=True)
class _Outcome:
    """What an administrator action answers: a message, and the API key to show once."""

    message: str
    new_key: tuple[str, str] | None = None


def _accounts_page(*, message: str | None = None, error: str | None = None, field: str | None = None,
                   new_key: tuple[str, str] | None = None, status: int = 200,
                   form: dict[str, str] | None = None) -> ResponseReturnValue:
    return render_template(
        "admin/comptes.html", accounts=users.list_accounts(_db()), me=current_user(),
        message=message, error=error, field=field, new_key=new_key, form=form or {},
    ), status


@bp.get("/admin/comptes")
@allow("administrateur", login_page=True)
def accounts() -> ResponseReturnValue:
    """Every account with its role, organisation and state, the actions on it, and the creation form."""
    return _accounts_page()


@bp.get("/administration/comptes")
@allow()
def old_accounts() -> ResponseReturnValue:
    """Former address of the accounts page: permanent redirect to ``/admin/comptes``."""
    return redirect(url_for("admin.accounts"), code=301)


@bp.post("/admin/comptes")
@allow("administrateur")
def create() -> ResponseReturnValue:
    """Create an account (fields login, role, organisation, password, confirmation); key shown once."""
    form = request.form
    values = {k: form.get(k, "").strip() for k in ("login", "role", "organisation")}
    password = form.get("password", "")
    try:
        if not values["login"]:
            raise RecordError("Identifiant manquant.", field="login")
        if password != form.get("confirmation", ""):
            raise RecordError("La confirmation ne correspond pas au mot de passe initial.",
                              field="confirmation")
        user, key = users.add_user(_db(), values["login"], password, role=values["role"],
                                   organisation=values["organisation"])
    except RecordError as exc:
        return _accounts_page(error=_named(exc), field=exc.field, status=400, form=values)
    me = current_user()
    logger.info("account %s created by %s", user.login, me.login if me else "?")
    return _accounts_page(
        message=f"Compte « {user.login} » créé ({user.role}, {user.organisation}).",
        new_key=(user.login, key), status=201)


_FIELD_LABELS = {"login": "Identifiant", "password": "Mot de passe", "confirmation": "Confirmation",
                 "role": "Rôle", "organisation": "Organisation"}


def _named(exc: RecordError) -> str:
    """Return the French message of ``exc``, prefixed by the label of its field."""
    label = _FIELD_LABELS.get(exc.field or "")
    return f"{label} : {exc}" if label else str(exc)


def _not_self(login: str, what: str) -> None:
    me = current_user()
    if me is not None and me.login == login:
        raise RecordError(f"Utilisez « Mon compte » pour votre propre compte ; un administrateur "
                          f"ne peut pas {what} lui-même.", field="login")


def _deactivate(db: str, login: str) -> _Outcome:
    _not_self(login, "se désactiver")
    users.set_active(db, login, False)
    return _Outcome(f"Compte « {login} » désactivé : ses sessions et sa clé d'API sont refusées.")


def _reactivate(db: str, login: str) -> _Outcome:
    users.set_active(db, login, True)
    return _Outcome(f"Compte « {login} » réactivé.")


def _reset_password(db: str, login: str) -> _Outcome:
    _not_self(login, "changer son mot de passe ici")
    users.reset_password(db, login, request.form.get("password", ""))
    return _Outcome(f"Nouveau mot de passe enregistré pour « {login} » ; ses sessions sont fermées.")


def _rotate_key(db: str, login: str) -> _Outcome:
    key = users.rotate_api_key(db, login)
    return _Outcome(f"Nouvelle clé d'API de « {login} » : l'ancienne est refusée.", (login, key))


def _role_organisation(db: str, login: str) -> _Outcome:
    account = users.get_account(db, login)
    if account is None:
        raise NotFoundError(f"Aucun compte « {login} ».")
    role = request.form.get("role", "").strip()
    organisation = request.form.get("organisation", "").strip()
    users.check_role(role)
    users.check_organisation(organisation)
    if role != account.user.role:
        _not_self(login, "changer son propre rôle")
        users.set_role(db, login, role)
    user = users.set_organisation(db, login, organisation)
    return _Outcome(f"Compte « {login} » : rôle {user.role}, organisation {user.organisation}.")


_ACTIONS: dict[str, Callable[[str, str], _Outcome]] = {
    "desactiver": _deactivate, "reactiver": _reactivate, "mot-de-passe": _reset_password,
    "cle-api": _rotate_key, "role": _role_organisation,
}


def _act(login: str, action: str) -> ResponseReturnValue:
    """Run one administrator action on ``login`` and answer the accounts page."""
    me = current_user()
    try:
        outcome = _ACTIONS[action](_db(), login)
    except RecordError as exc:
        return _accounts_page(error=_named(exc), field=exc.field, status=400)
    except NotFoundError as exc:
        return _accounts_page(error=str(exc), field="login", status=404)
    logger.info("account %s: %s by %s", login, action, me.login if me else "?")
    return _accounts_page(message=outcome.message, new_key=outcome.new_key)


@bp.post("/admin/comptes/<login>/role")
@allow("administrateur")
def update(login: str) -> ResponseReturnValue:
    """Change the role and organisation of ``login`` (form fields ``role``, ``organisation``)."""
    return _act(login, "role")


@bp.post("/admin/comptes/<login>/desactiver")
@allow("administrateur")
def deactivate(login: str) -> ResponseReturnValue:
    """Deactivate ``login``: no login, sessions and API key refused."""
    return _act(login, "desactiver")


@bp.post("/admin/comptes/<login>/reactiver")
@allow("administrateur")
def reactivate(login: str) -> ResponseReturnValue:
    """Reactivate ``login``."""
    return _act(login, "reactiver")


@bp.post("/admin/comptes/<login>/mot-de-passe")
@allow("administrateur")
def reset_password(login: str) -> ResponseReturnValue:
    """Set a new password for ``login`` (form field ``password``)."""
    return _act(login, "mot-de-passe")


@bp.post("/admin/comptes/<login>/cle-api")
@allow("administrateur")
def rotate_key(login: str) -> ResponseReturnValue:
    """Give ``login`` a new API key, shown once."""
    return _act(login, "cle-api")


@bp.get("/compte")
@allow("lecteur", login_page=True)
def account() -> ResponseReturnValue:
    """« Mon compte »: who I am and the password change form."""
    return render_template("auth/compte.html", user=current_user(), message=None, error=None,
                           field=None)


@bp.post("/compte/mot-de-passe")
@allow("lecteur")
def change_password() -> ResponseReturnValue:
    """Change one's own password; the other sessions are revoked, this one stays open."""
    user = current_user()
    if user is None:  # allow("lecteur") answered 401 already; for the type checker
        fail(401, "Connexion requise.")
    form = request.form
    new = form.get("password", "")
    try:
        if new != form.get("confirmation", ""):
            raise RecordError("La confirmation ne correspond pas au nouveau mot de passe.",
                              field="confirmation")
        users.change_password(_db(), user.login, form.get("old_password", ""), new)
    except RecordError as exc:
        return render_template("auth/compte.html", user=user, message=None, error=str(exc),
                               field=exc.field), 400
    sessions.open_session(user)
    return render_template("auth/compte.html", user=user, error=None, field=None,
                           message="Mot de passe modifié ; vos autres sessions sont fermées.")

