"""Revocable, expiring login sessions on top of Flask's signed cookie.

Flask's session is a signed client-side cookie: by itself a copy saved before logout
would stay valid until it expires. At login the cookie receives the account's *session
version* (``sv``, see :mod:`webmap.users`), the login time (``auth_at``) and the last
activity time (``seen_at``). On every request :func:`session_user` treats the session as
anonymous, and clears it, when:

- the account is unknown or deactivated, or its version changed (logout, deactivation,
  password change or reset revoke every session of the account);
- a field is missing (a cookie of an earlier version of the platform);
- the user was idle longer than ``SESSION_IDLE_TIMEOUT`` seconds (default 8 h);
- the login is older than ``SESSION_MAX_AGE`` seconds (default 12 h: one working day;
  ``PERMANENT_SESSION_LIFETIME`` is aligned on it).

``seen_at`` is refreshed at most once every :data:`SEEN_REFRESH` seconds, so most answers
carry no ``Set-Cookie``. :class:`QPVSessionInterface` marks the cookie ``Secure`` when
``SESSION_COOKIE_SECURE`` is set (``PUBLIC_URL`` in https sets it) or when the request came
over HTTPS (``request.is_secure``, behind :class:`~werkzeug.middleware.proxy_fix.ProxyFix`
when ``PROXY_FIX`` is set).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from layers.errors import NotFoundError
from webmap import users
from webmap.users import User

logger = logging.getLogger(__name__)

#: Clock of the session checks (seconds since the epoch); tests replace it.
clock: Callable[[], float] = time.time
#: ``seen_at`` is rewritten (hence the cookie re-sent) at most this often, in seconds.
SEEN_REFRESH = 60
FIELDS = ("login", "sv", "auth_at", "seen_at")


def session_fields(user_or_login: User | str, db: str, *, now: float | None = None) -> dict[str, Any]:
    """Return the session entries that log ``user_or_login`` in (a fresh session).

    Parameters
    ----------
    user_or_login : User or str
        The account, or its login.
    db : str
        The users file (``USERS_DB``).
    now : float, optional
        Login time (seconds since the epoch), :data:`clock` by default.

    Raises
    ------
    NotFoundError
        When the account does not exist or is deactivated.
    """
    login = user_or_login.login if isinstance(user_or_login, User) else user_or_login
    state = users.session_state(db, login)
    if state is None:
        raise NotFoundError(f"Aucun compte actif « {login} ».")
    stamp = int(clock() if now is None else now)
    return {"login": login, "sv": state[1], "auth_at": stamp, "seen_at": stamp}


def open_session(user: User) -> None:
    """Start a fresh session for ``user`` (no fixation: the old content is dropped)."""
    session.clear()
    session.update(session_fields(user, current_app.config["USERS_DB"]))
    session.permanent = True


def close_session() -> None:
    """Log out: revoke every session of the logged-in account, then clear this one."""
    login = session.get("login")
    if login:
        with contextlib.suppress(NotFoundError):  # account deleted meanwhile: nothing to revoke
            users.revoke_sessions(current_app.config["USERS_DB"], str(login))
    session.clear()


def _refusal(state: tuple[User, int] | None, now: float) -> str | None:
    """Why the current session is not valid any more (log text), or None."""
    if state is None:
        return "unknown or deactivated account"
    try:
        version, auth_at, seen_at = (int(session[k]) for k in ("sv", "auth_at", "seen_at"))
    except (KeyError, TypeError, ValueError):
        return "session without version or times"
    config = current_app.config
    if version != state[1]:
        return "revoked session"
    if now - seen_at > float(config["SESSION_IDLE_TIMEOUT"]):
        return "idle timeout"
    if now - auth_at > float(config["SESSION_MAX_AGE"]) or auth_at > now + SEEN_REFRESH:
        return "session too old"
    return None


def session_user(db: str) -> User | None:
    """Return the account of this request's session cookie, or None (session cleared).

    Parameters
    ----------
    db : str
        The users file (``USERS_DB``).
    """
    login = session.get("login")
    if not login:
        return None
    state = users.session_state(db, str(login))
    now = clock()
    why = _refusal(state, now)
    if why is not None or state is None:
        logger.info("session of %r refused: %s", login, why)
        session.clear()
        return None
    if now - int(session["seen_at"]) >= SEEN_REFRESH:
        session["seen_at"] = int(now)
    return state[0]


class QPVSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, ``Secure`` also whenever the request is HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Return True when configured so, or when this request came over HTTPS."""
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (
            has_request_context() and request.is_secure)


def init_app(app: Flask) -> None:
    """Apply the session settings of ``app``.

    ``PERMANENT_SESSION_LIFETIME`` follows ``SESSION_MAX_AGE``; a ``PUBLIC_URL`` in https
    turns ``SESSION_COOKIE_SECURE`` on; ``PROXY_FIX`` = number of reverse proxies in front
    of the app, whose ``X-Forwarded-For/-Proto/-Host/-Prefix`` headers are then trusted
    (client address of the throttling, ``request.is_secure`` of the cookie flag).
    """
    config = app.config
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=float(config["SESSION_MAX_AGE"]))
    if str(config.get("PUBLIC_URL") or "").lower().startswith("https://"):
        config["SESSION_COOKIE_SECURE"] = True
    proxies = int(config.get("PROXY_FIX") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies, x_prefix=proxies)
    app.session_interface = QPVSessionInterface()
