"""Login throttling with Flask-Limiter: failed attempts per account and per client address.

Only failed logins count (answer 401, ``deduct_when``): after ``LOGIN_LIMIT_ACCOUNT``
failures for one login (default 10 per 15 minutes) or ``LOGIN_LIMIT_ADDRESS`` failures
from one address (default 50 per 15 minutes, several people may share an address), the
form answers 429 with a French page and a ``Retry-After`` header, even with the right
password, until the window ends.

Counters must be shared by every worker of the server. ``RATELIMIT_STORAGE_URI`` chooses
where: by default ``qpvsqlite:///<instance>/throttle.sqlite``, a SQLite file
(:class:`SQLiteStorage`, mode 600) that every process and thread of one machine share;
``redis://host:6379/0`` (the ``redis`` package, extra ``server``) when the app runs on
several machines. ``memory://`` is per process: each gunicorn worker would count apart.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RateLimitExceeded
from limits.storage import Storage

from webmap import auth
from webmap._private_files import create_private
from webmap.errors import ApiError

logger = logging.getLogger(__name__)

SCHEME = "qpvsqlite"
_DDL = ("CREATE TABLE IF NOT EXISTS counters"
        " (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expiry REAL NOT NULL)")
TOO_MANY = ("Trop de tentatives de connexion échouées. Par sécurité, la connexion est suspendue "
            "pendant {minutes} ; réessayez ensuite. Mot de passe oublié : un administrateur "
            "peut vous en donner un nouveau.")


class SQLiteStorage(Storage):
    """A :mod:`limits` storage in a SQLite file, shared by the processes of one machine.

    URI ``qpvsqlite:///absolute/path/throttle.sqlite``. Each counter is one row
    (key, value, expiry); increments run in an immediate transaction, so concurrent
    workers never lose a failure. Supports the fixed-window strategy.
    """

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 (the base class declares a list)

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        path = urlsplit(uri).path
        if not path:
            raise ValueError(f"{SCHEME}:// storage needs a file path: {uri!r}")
        self.path = Path(path)
        self._ready = False  # file and table created on first use

    @property
    def base_exceptions(self) -> type[Exception]:
        """Errors of this backend (wrapped by ``limits`` when asked)."""
        return sqlite3.Error

    @contextlib.contextmanager
    def _con(self) -> Iterator[sqlite3.Connection]:
        """Yield a connection for one operation (autocommit; closed after)."""
        if not self._ready:
            create_private(self.path)  # mode 600: the keys name accounts
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            if not self._ready:
                con.execute(_DDL)
                self._ready = True
            yield con
        finally:
            con.close()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to ``key``, starting a window of ``expiry`` seconds when expired."""
        now = time.time()
        with self._con() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute(
                    "INSERT INTO counters (key, value, expiry) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
                    " SET value = CASE WHEN expiry <= ? THEN excluded.value ELSE value + excluded.value END,"
                    " expiry = CASE WHEN expiry <= ? THEN excluded.expiry ELSE expiry END",
                    (key, amount, now + expiry, now, now),
                )
                row = con.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return int(row[0])

    def get(self, key: str) -> int:
        """Return the current count of ``key`` (0 when expired or absent)."""
        with self._con() as con:
            row = con.execute("SELECT value FROM counters WHERE key = ? AND expiry > ?",
                              (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        """Return when the window of ``key`` ends (now when none)."""
        now = time.time()
        with self._con() as con:
            row = con.execute("SELECT expiry FROM counters WHERE key = ? AND expiry > ?",
                              (key, now)).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        """Tell whether the file answers."""
        try:
            with self._con() as con:
                con.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        """Remove every counter; return how many there were."""
        with self._con() as con:
            return int(con.execute("DELETE FROM counters").rowcount)

    def clear(self, key: str) -> None:
        """Remove the counter ``key``."""
        with self._con() as con:
            con.execute("DELETE FROM counters WHERE key = ?", (key,))


def _account_key() -> str:
    return "compte:" + request.form.get("login", "").strip().casefold()


def _address_key() -> str:
    return "adresse:" + (request.remote_addr or "inconnue")


def _failed(response: Any) -> bool:
    return int(response.status_code) == 401


def storage_uri(app: Flask) -> str:
    """Return the configured ``RATELIMIT_STORAGE_URI``, else the SQLite file of the instance folder."""
    configured = app.config.get("RATELIMIT_STORAGE_URI")
    if configured:
        return str(configured)
    return f"{SCHEME}://{Path(app.instance_path, 'throttle.sqlite').resolve()}"


def init_app(app: Flask) -> Limiter:
    """Throttle the login form of ``app`` (one limiter per app: its own storage)."""
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri(app)
    limiter = Limiter(_address_key, app=app, headers_enabled=False, strategy="fixed-window",
                      key_prefix="qpv-connexion")
    # the limits are checked by the wrapper Flask-Limiter puts around the view: the app's
    # view is replaced by the wrapped one (the module's function stays unwrapped, so each
    # app has its own limiter and storage)
    endpoint = "auth.login_post"
    view: Callable[..., Any] = app.view_functions[endpoint]
    view = limiter.limit(lambda: str(current_app.config["LOGIN_LIMIT_ACCOUNT"]), key_func=_account_key,
                         deduct_when=_failed)(view)
    view = limiter.limit(lambda: str(current_app.config["LOGIN_LIMIT_ADDRESS"]), key_func=_address_key,
                         deduct_when=_failed)(view)
    app.view_functions[endpoint] = view
    app.register_error_handler(RateLimitExceeded, _too_many)
    return limiter


def _too_many(exc: RateLimitExceeded) -> ResponseReturnValue:
    """429 in French: the login page for the form, JSON elsewhere; with ``Retry-After``."""
    reset = exc.limit.limit.get_expiry()
    wait = max(1, int(reset))
    try:
        limiter = next(iter(current_app.extensions["limiter"]))
        stats = limiter.current_limit
        if stats is not None:
            wait = max(1, int(stats.reset_at - time.time()))
    except (KeyError, StopIteration):
        pass
    minutes = max(1, round(wait / 60))
    message = TOO_MANY.format(minutes=f"{minutes} minute{'s' if minutes > 1 else ''}")
    logger.warning("login throttled for %s (%s)", request.remote_addr, exc.limit.limit)
    if request.endpoint == "auth.login_post":
        resp = current_app.make_response(
            (render_template("auth/login.html", user=None, next=request.form.get(auth.NEXT_FIELD, ""),
                             error=message), 429))
    else:
        resp = ApiError(429, message).get_response()
    resp.headers["Retry-After"] = str(wait)
    return resp
