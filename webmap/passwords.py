"""Password policy of the web accounts, in one place, and login-time hash checks.

A password is refused when it is shorter than :data:`MIN_LENGTH`, contains the login
(or the login reversed), is a repeated motif or only digits and punctuation, or is one of
the most common passwords: the 30,000 entries of the ``passwords`` frequency list shipped
by the maintained :mod:`zxcvbn` package (MIT licence, from public password leaks, mostly
English) plus the French list ``webmap/data/mots-de-passe-courants-fr.txt`` (provenance
stated in its header). Common passwords are compared case- and accent-folded, also once
their leading and trailing digits and punctuation are removed (``Azerty123456!`` is
``azerty``).

:func:`verify` checks a password against a stored hash, or against a dummy hash of the
same method when there is no account, so that an unknown login costs as much time as a
known one (no account enumeration by timing).
"""

from __future__ import annotations

import functools
import re
import secrets
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from layers.errors import RecordError
from layers.validate import fold

MIN_LENGTH = 12
MAX_LENGTH = 256
FRENCH_LIST = Path(__file__).parent / "data" / "mots-de-passe-courants-fr.txt"
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_MIN_LOGIN_INSIDE = 4  # shorter logins are only refused as the whole password


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the folded common passwords (zxcvbn's list and the French list), loaded once."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    french = FRENCH_LIST.read_text(encoding="utf-8").splitlines()
    entries = [*FREQUENCY_LISTS["passwords"],
               *(line for line in french if line.strip() and not line.startswith("#"))]
    return frozenset(fold(e) for e in entries)


def _repeated_motif(text: str) -> bool:
    """Tell whether ``text`` is a motif of at most 4 characters repeated (``abcabcabcabc``)."""
    return any(len(text) % n == 0 and text == text[:n] * (len(text) // n) for n in range(1, 5))


def policy_error(password: str, *, login: str = "") -> str | None:
    """Return why ``password`` is refused (French, for the user), or None when it is accepted.

    Parameters
    ----------
    password : str
        The candidate password.
    login : str, optional
        The account's login, which the password must not contain.
    """
    if len(password) < MIN_LENGTH:
        return f"Mot de passe trop court : {MIN_LENGTH} caractères au moins."
    if len(password) > MAX_LENGTH:
        return f"Mot de passe trop long : {MAX_LENGTH} caractères au plus."
    folded = fold(password)
    name = fold(login or "")
    if name and (folded == name or folded == name[::-1] or (
            len(name) >= _MIN_LOGIN_INSIDE and (name in folded or name[::-1] in folded))):
        return "Le mot de passe ne doit pas contenir l'identifiant."
    core = _EDGES.sub("", folded)
    if not core or _repeated_motif(folded) or _repeated_motif(core):
        return ("Mot de passe trop prévisible (uniquement des chiffres ou un motif répété) : "
                "choisissez par exemple une phrase de plusieurs mots.")
    common = common_passwords()
    if folded in common or core in common or folded.replace(" ", "") in common:
        return ("Mot de passe trop courant : il figure parmi les mots de passe les plus utilisés. "
                "Choisissez par exemple une phrase de plusieurs mots.")
    return None


def check_password(password: str, *, login: str = "", field: str = "password") -> str:
    """Return ``password`` when the policy accepts it, else raise RecordError naming ``field``."""
    error = policy_error(password or "", login=login)
    if error:
        raise RecordError(error, field=field)
    return password


def hash_password(password: str) -> str:
    """Hash ``password`` with werkzeug's default method (salted, slow)."""
    return generate_password_hash(password)


@functools.cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def verify(stored_hash: str | None, password: str) -> bool:
    """Check ``password`` against ``stored_hash``; without a hash, spend the same time and fail.

    The dummy hash uses the method and parameters of werkzeug's default (the one
    :func:`hash_password` uses), so an unknown or deactivated login answers as slowly as
    a wrong password for a real account.
    """
    if stored_hash is None:
        check_password_hash(_dummy_hash(default_method()), password or "")
        return False
    return check_password_hash(stored_hash, password or "")


@functools.cache
def default_method() -> str:
    """Return the method string of werkzeug's default hash, e.g. ``scrypt:32768:8:1``."""
    return generate_password_hash("x").split("$", 1)[0]
