"""Accounts of the web map: a small SQLite file of users, roles and partner organisations.

Passwords are stored hashed (:mod:`werkzeug.security`) and must pass the policy of
:mod:`webmap.passwords`; Open311 API keys are stored as SHA-256 digests, so a stolen file
reveals neither. The file is created mode 600 (an existing file readable by others is
tightened, with a warning). Each account has a *session version*, written in the session
cookie at login: logout, deactivation and password changes bump it, which revokes every
session opened before (see :mod:`webmap.sessions`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from layers import schema
from layers.errors import NotFoundError, RecordError
from layers.validate import fold
from webmap import passwords
from webmap._private_files import create_private, tighten

logger = logging.getLogger(__name__)

ROLES = ("lecteur", "technicien", "administrateur")
ANONYMOUS = "anonyme"
ROLE_RANK = {ANONYMOUS: 0, "lecteur": 1, "technicien": 2, "administrateur": 3}
ORGANISATIONS = schema.ORGANISATIONS
_LOGIN = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
MIN_PASSWORD = passwords.MIN_LENGTH

_DDL = """
CREATE TABLE IF NOT EXISTS users (
  login TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
  organisation TEXT NOT NULL, api_key_hash TEXT UNIQUE, created_at TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1, session_version INTEGER NOT NULL DEFAULT 1)
"""
_ready: set[str] = set()  # users files already created / migrated by this process


@dataclass(frozen=True)
class User:
    """One account.

    Attributes
    ----------
    login : str
        Unique login.
    role : str
        One of :data:`ROLES`.
    organisation : str
        Partner organisation kind, one of :data:`ORGANISATIONS`.
    """

    login: str
    role: str
    organisation: str

    @property
    def actor(self) -> str:
        """How the user is named in status histories."""
        return f"{self.login} ({self.organisation})"


@dataclass(frozen=True)
class Account:
    """An account as the administrators see it (active or not).

    Attributes
    ----------
    user : User
    active : bool
        False once deactivated: no login, no session, no API key.
    created_at : str
        ISO date and time of creation.
    session_version : int
        Bumped by logout, deactivation and password changes: older sessions are refused.
    """

    user: User
    active: bool
    created_at: str
    session_version: int


def _secure_file(path: Path) -> None:
    """Create ``path`` mode 600, or tighten an existing file readable by others."""
    if create_private(path):
        logger.info("created the users file %s (mode 600)", path)
        return
    mode = tighten(path)
    if mode is not None:
        logger.warning("users file %s was mode %o: tightened to 600", path, mode)


def _connect(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    key = str(path)
    if key not in _ready or not path.exists():
        _secure_file(path)
        con = sqlite3.connect(path, timeout=30)
        with con:
            con.execute(_DDL)
            columns = {row[1] for row in con.execute("PRAGMA table_info(users)")}
            if "session_version" not in columns:  # files of earlier versions
                con.execute("ALTER TABLE users ADD COLUMN session_version INTEGER NOT NULL DEFAULT 1")
        _ready.add(key)
        return con
    return sqlite3.connect(path, timeout=30)


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_role(role: str) -> str:
    """Return ``role`` if it is a known role, else raise RecordError (field ``role``)."""
    if role not in ROLES:
        raise RecordError(f"Rôle inconnu « {role} » (rôles : {', '.join(ROLES)}).", field="role")
    return role


def check_organisation(organisation: str) -> str:
    """Return the canonical spelling of a partner organisation (field ``organisation``)."""
    canon = {fold(o): o for o in ORGANISATIONS}
    found = canon.get(fold(organisation or ""))
    if found is None:
        raise RecordError(
            f"Organisation inconnue « {organisation} » (organisations : {', '.join(ORGANISATIONS)}).",
            field="organisation",
        )
    return found


def add_user(
    path: str | Path, login: str, password: str, *, role: str, organisation: str
) -> tuple[User, str]:
    """Create an account and its Open311 API key.

    Parameters
    ----------
    path : str or Path
        The users SQLite file (created when missing, mode 600).
    login, password : str
        Credentials; the password must pass :func:`webmap.passwords.check_password` and is
        stored hashed.
    role : str
        One of :data:`ROLES`.
    organisation : str
        One of :data:`ORGANISATIONS` (case and accents ignored).

    Returns
    -------
    user : User
    api_key : str
        The clear API key, shown once.

    Raises
    ------
    RecordError
        On a bad login, password, role or organisation, or an existing login.
    """
    if not _LOGIN.match(login or ""):
        raise RecordError("Identifiant invalide (2 à 64 lettres, chiffres, . _ @ -).", field="login")
    passwords.check_password(password, login=login)
    role = check_role(role)
    organisation = check_organisation(organisation)
    api_key = secrets.token_urlsafe(32)
    con = _connect(path)
    try:
        with con:
            con.execute(
                "INSERT INTO users (login, password_hash, role, organisation, api_key_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (login, passwords.hash_password(password), role, organisation, _hash_key(api_key),
                 datetime.now().replace(microsecond=0).isoformat()),
            )
    except sqlite3.IntegrityError:
        raise RecordError(f"L'identifiant « {login} » existe déjà.", field="login") from None
    finally:
        con.close()
    logger.info("user %s added (%s, %s)", login, role, organisation)
    return User(login, role, organisation), api_key


def get_user(path: str | Path, login: str) -> User | None:
    """Return the active account ``login``, or None."""
    state = session_state(path, login)
    return state[0] if state else None


def session_state(path: str | Path, login: str) -> tuple[User, int] | None:
    """Return the active account ``login`` and its session version, or None (one query)."""
    con = _connect(path)
    try:
        row = con.execute(
            "SELECT login, role, organisation, session_version FROM users"
            " WHERE login = ? AND active = 1", (login,)
        ).fetchone()
    finally:
        con.close()
    return (User(row[0], row[1], row[2]), int(row[3])) if row else None


def get_account(path: str | Path, login: str) -> Account | None:
    """Return the account ``login``, active or not, or None."""
    con = _connect(path)
    try:
        row = con.execute(
            "SELECT login, role, organisation, active, created_at, session_version FROM users"
            " WHERE login = ?", (login,)
        ).fetchone()
    finally:
        con.close()
    return _account(row) if row else None


def _account(row: tuple[str, str, str, int, str, int]) -> Account:
    return Account(User(row[0], row[1], row[2]), bool(row[3]), row[4], int(row[5]))


def authenticate(path: str | Path, login: str, password: str) -> User | None:
    """Return the active account if ``password`` is right, else None.

    An unknown or deactivated login is checked against a dummy hash of the same method,
    so it takes as long as a wrong password (no account enumeration by timing).
    """
    con = _connect(path)
    try:
        row = con.execute(
            "SELECT login, role, organisation, password_hash, active FROM users WHERE login = ?",
            (login,),
        ).fetchone()
    finally:
        con.close()
    stored = row[3] if row and row[4] else None
    if not passwords.verify(stored, password) or row is None:
        return None
    return User(row[0], row[1], row[2])


def user_by_api_key(path: str | Path, api_key: str) -> User | None:
    """Return the active account owning ``api_key``, or None."""
    if not api_key:
        return None
    con = _connect(path)
    try:
        row = con.execute(
            "SELECT login, role, organisation FROM users WHERE api_key_hash = ? AND active = 1",
            (_hash_key(api_key),),
        ).fetchone()
    finally:
        con.close()
    return User(*row) if row else None


def list_users(path: str | Path) -> list[User]:
    """Return every active account, by login."""
    return [a.user for a in list_accounts(path) if a.active]


def list_accounts(path: str | Path) -> list[Account]:
    """Return every account, active or not, by login."""
    con = _connect(path)
    try:
        rows = con.execute(
            "SELECT login, role, organisation, active, created_at, session_version FROM users"
            " ORDER BY login"
        ).fetchall()
    finally:
        con.close()
    return [_account(r) for r in rows]


def _update(path: str | Path, login: str, sql: str, params: tuple[object, ...]) -> Account:
    """Run ``UPDATE users SET <sql> WHERE login = ?`` and return the account (404 when none)."""
    con = _connect(path)
    try:
        with con:
            cur = con.execute(f"UPDATE users SET {sql} WHERE login = ?", (*params, login))
    finally:
        con.close()
    account = get_account(path, login) if cur.rowcount else None
    if account is None:
        raise NotFoundError(f"Aucun compte « {login} ».")
    return account


def set_role(path: str | Path, login: str, role: str) -> User:
    """Change the role of ``login``.

    Raises
    ------
    NotFoundError
        When there is no such account.
    RecordError
        On an unknown role.
    """
    role = check_role(role)
    return _update(path, login, "role = ?", (role,)).user


def set_organisation(path: str | Path, login: str, organisation: str) -> User:
    """Change the organisation of ``login`` (canonical spelling, case and accents ignored).

    Raises
    ------
    NotFoundError
        When there is no such account.
    RecordError
        On an unknown organisation (field ``organisation``).
    """
    organisation = check_organisation(organisation)
    user = _update(path, login, "organisation = ?", (organisation,)).user
    logger.info("user %s now in organisation %s", login, organisation)
    return user


def set_active(path: str | Path, login: str, active: bool) -> Account:
    """Deactivate (``active=False``) or reactivate an account.

    A deactivated account cannot log in, its open sessions are revoked (session version
    bumped) and its API key is refused; nothing is deleted (histories keep its name).

    Raises
    ------
    NotFoundError
        When there is no such account.
    """
    account = _update(path, login, "active = ?, session_version = session_version + 1",
                      (int(active),))
    logger.info("user %s %s", login, "reactivated" if active else "deactivated")
    return account


def revoke_sessions(path: str | Path, login: str) -> int:
    """Bump the session version of ``login`` (every open session is refused); return it."""
    version = _update(path, login, "session_version = session_version + 1", ()).session_version
    logger.info("sessions of %s revoked", login)
    return version


def reset_password(path: str | Path, login: str, password: str) -> Account:
    """Set a new password for ``login`` (by an administrator) and revoke its sessions.

    Raises
    ------
    RecordError
        When the policy refuses the password (field ``password``).
    NotFoundError
        When there is no such account.
    """
    passwords.check_password(password, login=login)
    account = _update(path, login, "password_hash = ?, session_version = session_version + 1",
                      (passwords.hash_password(password),))
    logger.info("password of %s reset", login)
    return account


def change_password(path: str | Path, login: str, old: str, new: str) -> Account:
    """Change one's own password: ``old`` must be right; every session is revoked.

    Raises
    ------
    RecordError
        On a wrong current password (field ``old_password``) or a new password the policy
        refuses (field ``password``).
    """
    if authenticate(path, login, old) is None:
        raise RecordError("Mot de passe actuel incorrect.", field="old_password")
    if new == old:
        raise RecordError("Le nouveau mot de passe doit être différent de l'actuel.",
                          field="password")
    return reset_password(path, login, new)


def rotate_api_key(path: str | Path, login: str) -> str:
    """Give ``login`` a new Open311 API key (the old one is refused from now on).

    Returns
    -------
    str
        The clear new key, to show once.

    Raises
    ------
    NotFoundError
        When there is no such account.
    """
    api_key = secrets.token_urlsafe(32)
    _update(path, login, "api_key_hash = ?", (_hash_key(api_key),))
    logger.info("API key of %s rotated", login)
    return api_key
