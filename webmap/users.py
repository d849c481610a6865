"""Accounts of the web map: a small SQLite file of users, roles and partner organisations.

Passwords are stored hashed (:mod:`werkzeug.security`); Open311 API keys are stored as
SHA-256 digests, so a stolen file reveals neither.
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

from werkzeug.security import check_password_hash, generate_password_hash

from layers import schema
from layers.errors import NotFoundError, RecordError
from layers.validate import fold

logger = logging.getLogger(__name__)

ROLES = ("lecteur", "technicien", "administrateur")
ANONYMOUS = "anonyme"
ROLE_RANK = {ANONYMOUS: 0, "lecteur": 1, "technicien": 2, "administrateur": 3}
ORGANISATIONS = schema.ORGANISATIONS
_LOGIN = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
MIN_PASSWORD = 8

_DDL = """
CREATE TABLE IF NOT EXISTS users (
  login TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
  organisation TEXT NOT NULL, api_key_hash TEXT UNIQUE, created_at TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1)
"""


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


def _connect(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    con.execute(_DDL)
    return con


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
        The users SQLite file (created when missing).
    login, password : str
        Credentials; the password is stored hashed.
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
    if len(password or "") < MIN_PASSWORD:
        raise RecordError(f"Mot de passe trop court ({MIN_PASSWORD} caractères au moins).",
                          field="password")
    role = check_role(role)
    organisation = check_organisation(organisation)
    api_key = secrets.token_urlsafe(32)
    con = _connect(path)
    try:
        with con:
            con.execute(
                "INSERT INTO users (login, password_hash, role, organisation, api_key_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (login, generate_password_hash(password), role, organisation, _hash_key(api_key),
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
    con = _connect(path)
    try:
        row = con.execute(
            "SELECT login, role, organisation FROM users WHERE login = ? AND active = 1", (login,)
        ).fetchone()
    finally:
        con.close()
    return User(*row) if row else None


def authenticate(path: str | Path, login: str, password: str) -> User | None:
    """Return the account if ``password`` is right, else None."""
    con = _connect(path)
    try:
        row = con.execute(
            "SELECT login, role, organisation, password_hash FROM users WHERE login = ? AND active = 1",
            (login,),
        ).fetchone()
    finally:
        con.close()
    if row is None or not check_password_hash(row[3], password or ""):
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
    con = _connect(path)
    try:
        rows = con.execute(
            "SELECT login, role, organisation FROM users WHERE active = 1 ORDER BY login"
        ).fetchall()
    finally:
        con.close()
    return [User(*r) for r in rows]


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
    con = _connect(path)
    try:
        with con:
            cur = con.execute("UPDATE users SET role = ? WHERE login = ?", (role, login))
    finally:
        con.close()
    if cur.rowcount == 0:
        raise NotFoundError(f"Aucun compte « {login} ».")
    user = get_user(path, login)
    assert user is not None
    return user
