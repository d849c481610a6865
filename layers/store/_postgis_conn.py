"""PostGIS connections: URL parsing, lazy driver import and one pool per database per process.

A ``postgresql://user:password@host:port/base?schema=NAME`` URL names a database and a
schema in it (``qpv`` by default). Every store of one database shares a
:class:`psycopg_pool.ConnectionPool` (tables are always schema-qualified, so the schema
is not a connection setting), created lazily and closed at exit. A pool created before a
``fork`` is never reused by the child: the child opens its own.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from layers.errors import MissingDependencyError, StoreError
from layers.settings import get_settings

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA = "qpv"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_POOLS: dict[str, tuple[int, ConnectionPool]] = {}
_ORPHANS: list[Any] = []  # pools inherited through fork: kept alive, never used nor closed
_LOCK = threading.Lock()
_HANDED: weakref.WeakSet[Any] = weakref.WeakSet()  # connections lent to open stores


@dataclass(frozen=True)
class PgTarget:
    """Where a PostGIS store lives.

    Attributes
    ----------
    conninfo : str
        libpq connection URL (without the ``schema`` parameter).
    schema : str
        Schema holding the store's tables.
    """

    conninfo: str
    schema: str

    @property
    def display(self) -> str:
        """The URL without its password, for messages and logs."""
        parts = urlsplit(self.conninfo)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            netloc = f"{user.split(':', 1)[0]}@{host}"
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                           if k != "password"])
        return urlunsplit(parts._replace(netloc=netloc, query=query)) + f" (schéma {self.schema})"


def quote_ident(name: str) -> str:
    """Quote a validated SQL identifier (schema, table or column name).

    Raises
    ------
    StoreError
        When ``name`` is not a plain identifier.
    """
    if not _IDENTIFIER.match(name):
        raise StoreError(f"Nom invalide pour la base de données : {name!r}.")
    return f'"{name}"'


def parse_url(url: str) -> PgTarget:
    """Split a store URL into the connection URL and the schema.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/base?schema=NAME`` (``postgres://`` too).

    Returns
    -------
    PgTarget

    Raises
    ------
    StoreError
        When the schema name is not a plain SQL identifier.
    """
    parts = urlsplit(str(url))
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    rest = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            rest.append((key, value))
    if not _IDENTIFIER.match(schema):
        raise StoreError(
            f"Nom de schéma invalide : {schema!r} (lettres, chiffres et _ seulement)."
        )
    scheme = "postgresql"
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), ""))
    return PgTarget(conninfo, schema)


def require_psycopg() -> Any:
    """Import :mod:`psycopg` (raises MissingDependencyError with the install hint when missing)."""
    try:
        import psycopg
        import psycopg_pool  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise MissingDependencyError("psycopg", extra="postgis", purpose="le stockage PostGIS") from exc
    return psycopg


def get_pool(conninfo: str) -> ConnectionPool:
    """Return the connection pool of ``conninfo`` in this process (created on first use)."""
    require_psycopg()
    from psycopg_pool import ConnectionPool

    # The store's queries are short (a viewport, a record, a page): JIT compilation and
    # parallel workers cost more to start (40-60 ms each) than such a query takes, hence the
    # settings' session options (QPV_PG_OPTIONS). Analyses wanting them can ``SET LOCAL``.
    settings = get_settings()
    pid = os.getpid()
    with _LOCK:
        entry = _POOLS.get(conninfo)
        if entry is not None and entry[0] == pid:
            return entry[1]
        if entry is not None:  # inherited through fork: its sockets belong to the parent
            _ORPHANS.append(entry[1])
        pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=settings.pg_pool_size,
            max_idle=60.0,
            kwargs={"autocommit": True, "prepare_threshold": None, "options": settings.pg_options},
            check=ConnectionPool.check_connection,
            name=f"qpv-{len(_POOLS)}",
            open=True,
        )
        _POOLS[conninfo] = (pid, pool)
        logger.debug("connection pool opened for %s", PgTarget(conninfo, "").display)
        return pool


def lend(conn: Any) -> Any:
    """Note a connection lent to a store (see :func:`_forget_inherited`)."""
    _HANDED.add(conn)
    return conn


def _forget_inherited() -> None:
    """In a forked child: make the parent's connections harmless.

    Their sockets are the parent's: closing them here (explicitly, or when they are
    garbage-collected) would send PostgreSQL a « terminate » message and cut the parent's
    sessions. Each socket descriptor is pointed at /dev/null instead; the child's pools are
    created afresh on first use.
    """
    conns = list(_HANDED)
    for _, pool in _POOLS.values():
        conns += list(getattr(pool, "_pool", ()))
        _ORPHANS.append(pool)
    _POOLS.clear()
    _HANDED.clear()
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:  # pragma: no cover
        return
    try:
        for conn in conns:
            try:
                fd = conn.pgconn.socket
            except Exception:  # already closed
                continue
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
    finally:
        os.close(null)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited)


def close_pools() -> None:
    """Close the pools this process created (those inherited through fork are left alone)."""
    pid = os.getpid()
    with _LOCK:
        mine = [(k, p) for k, (owner, p) in _POOLS.items() if owner == pid]
        for key, pool in mine:
            del _POOLS[key]
            try:
                pool.close(timeout=5.0)
            except Exception:  # pragma: no cover - closing at exit must not raise
                logger.debug("pool close failed", exc_info=True)


atexit.register(close_pools)
