"""Account pages: ``/administration/comptes`` (administrators) and ``/compte`` (everyone logged in).

Administrators deactivate and reactivate accounts, set a new password and give a new
Open311 API key (shown once, on the answer page). Every logged-in user changes their own
password on ``/compte`` (the current one is required); that revokes their other sessions
and keeps this one open. The forms carry the CSRF token, checked by the app's hook.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from layers.errors import NotFoundError, RecordError
from webmap import passwords, sessions, users
from webmap.access import allow, current_user, fail

logger = logging.getLogger(__name__)

bp = Blueprint("admin", __name__)


@bp.context_processor
def _policy() -> dict[str, int]:
    return {"min_length": passwords.MIN_LENGTH}


def _db() -> str:
    return str(current_app.config["USERS_DB"])


def _accounts_page(*, message: str | None = None, error: str | None = None, field: str | None = None,
                   new_key: tuple[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(
        "admin/comptes.html", accounts=users.list_accounts(_db()), me=current_user(),
        message=message, error=error, field=field, new_key=new_key,
    ), status


@bp.get("/administration/comptes")
@allow("administrateur", login_page=True)
def accounts() -> ResponseReturnValue:
    """Every account with its role, organisation and state, and the actions on it."""
    return _accounts_page()


def _act(login: str, action: str) -> ResponseReturnValue:
    """Run one administrator action on ``login`` and answer the accounts page."""
    me = current_user()
    db = _db()
    try:
        if action in ("desactiver", "mot-de-passe") and me is not None and me.login == login:
            raise RecordError("Utilisez « Mon compte » pour votre propre compte ; un administrateur "
                              "ne peut pas se désactiver lui-même.", field="login")
        if action == "desactiver":
            users.set_active(db, login, False)
            message = f"Compte « {login} » désactivé : ses sessions et sa clé d'API sont refusées."
        elif action == "reactiver":
            users.set_active(db, login, True)
            message = f"Compte « {login} » réactivé."
        elif action == "mot-de-passe":
            users.reset_password(db, login, request.form.get("password", ""))
            message = f"Nouveau mot de passe enregistré pour « {login} » ; ses sessions sont fermées."
        else:
            key = users.rotate_api_key(db, login)
            logger.info("API key of %s rotated by %s", login, me.login if me else "?")
            return _accounts_page(message=f"Nouvelle clé d'API de « {login} » : l'ancienne est refusée.",
                                  new_key=(login, key))
    except RecordError as exc:
        return _accounts_page(error=str(exc), field=exc.field, status=400)
    except NotFoundError as exc:
        return _accounts_page(error=str(exc), field="login", status=404)
    logger.info("account %s: %s by %s", login, action, me.login if me else "?")
    return _accounts_page(message=message)


@bp.post("/administration/comptes/<login>/desactiver")
@allow("administrateur")
def deactivate(login: str) -> ResponseReturnValue:
    """Deactivate ``login``: no login, sessions and API key refused."""
    return _act(login, "desactiver")


@bp.post("/administration/comptes/<login>/reactiver")
@allow("administrateur")
def reactivate(login: str) -> ResponseReturnValue:
    """Reactivate ``login``."""
    return _act(login, "reactiver")


@bp.post("/administration/comptes/<login>/mot-de-passe")
@allow("administrateur")
def reset_password(login: str) -> ResponseReturnValue:
    """Set a new password for ``login`` (form field ``password``)."""
    return _act(login, "mot-de-passe")


@bp.post("/administration/comptes/<login>/cle-api")
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

