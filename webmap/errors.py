"""Every exception of the :mod:`webmap` package: the web's HTTP error, documents, CLI input.

:class:`ApiError` is the web's own (an HTTP answer, not a :class:`~geo.errors.QPVError`);
the others are ``QPVError`` and ``ValueError``, caught once by the CLI and the app.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from werkzeug.exceptions import HTTPException

from geo.errors import MissingDependencyError, QPVError

__all__ = ["ApiError", "CliInputError", "DocumentError", "MissingDependencyError"]


class ApiError(HTTPException):
    """An HTTP error answered as JSON ``{"erreur": ..., "champ": ...}``."""

    def __init__(self, code: int, message: str, field: str | None = None) -> None:
        super().__init__(description=message)
        self.code = code
        self.field = field

    def get_response(self, environ: Any = None, scope: Any = None) -> Any:
        """JSON body naming the field when there is one."""
        body: dict[str, Any] = {"erreur": self.description}
        if self.field:
            body["champ"] = self.field
        resp = jsonify(body)
        resp.status_code = self.code or 400
        if self.code == 401:
            resp.headers["WWW-Authenticate"] = 'Session realm="qpv"'
        return resp


class DocumentError(QPVError, ValueError):
    """A printable document cannot be produced from the given inputs."""


class CliInputError(QPVError, ValueError):
    """A command-line argument cannot be used (file, column, coordinates…)."""


class JobError(QPVError, ValueError):
    """A background job cannot be created or run (unknown kind, bad parameters, failure).

    Its message is French and is what the job's page shows (never a traceback).
    """
