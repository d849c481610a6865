"""Shared helpers of the security tests: an app of their own on a copy of the demo store.

The tests of this package change accounts and settings, so they never use the
session-scoped ``app`` of ``tests/webmap/conftest.py``: each module builds its own app on a
fresh copy of the demo store (real Paris and Montpellier data) with one account per role.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webmap.conftest import client_logged_as
from webmap import users
from webmap.app import create_app

PASSWORD = "mot-de-passe-securite"
LOGINS = {"lecteur": "lina", "technicien": "tiago", "administrateur": "aurore"}
ROLES = ("anonyme", "lecteur", "technicien", "administrateur")


def build_app(store: Path, instance: Path, **config: Any) -> Flask:
    """Return an app on ``store`` with its own instance folder and one account per role."""
    app = create_app({"STORE": str(store), "instance_path": str(instance), "SECRET_KEY": "clef-securite",
                      "BASEMAP": "aucun", "WALK_CACHE_DIR": str(instance / "cache"), **config})
    for role, login in LOGINS.items():
        users.add_user(app.config["USERS_DB"], login, PASSWORD, role=role,
                       organisation="bailleur" if role == "lecteur" else "ville")
    return app


def client_as(app: Flask, role: str) -> FlaskClient:
    """A test client with a session of ``role`` (``anonyme``: none) and its CSRF header."""
    if role == "anonyme":
        return app.test_client()
    return client_logged_as(app, LOGINS[role], token=f"jeton-{role}")


def png(width: int = 4, height: int = 3) -> bytes:
    """A valid PNG image (grey pixels), built with the standard library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([128] * width) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(
        b"IEND", b"")


def skip_without(path: Path) -> None:
    """Skip when a real data file is absent."""
    if not path.exists():
        pytest.skip(f"{path} absent")
