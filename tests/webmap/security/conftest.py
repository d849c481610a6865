"""Helpers of the account and session tests: apps of their own (accounts, counters and clock
change), real logins through the form."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webmap import users
from webmap.app import create_app

PASSWORD = "une phrase de passe solide"
#: login -> role; organisations differ so the admin page shows them
ACCOUNTS = {"camille": "lecteur", "theo-tech": "technicien", "adele": "administrateur",
            "victor": "technicien"}
ORGANISATIONS = {"camille": "bailleur", "theo-tech": "ville", "adele": "EPCI", "victor": "police"}
CAMERAS_CSV = "/api/layers/videoprotection/export.csv"


def csrf_from(client: FlaskClient) -> str:
    """The CSRF token of the login form (a fresh session)."""
    page = client.get("/connexion").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def login(client: FlaskClient, name: str, password: str = PASSWORD) -> Any:
    """Post the login form as a browser would; return the response."""
    return client.post("/connexion", data={"login": name, "password": password,
                                           "csrf_token": csrf_from(client)})


def page_token(client: FlaskClient, path: str) -> str:
    """The CSRF token written in the forms of ``path``."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


@pytest.fixture
def make_app(store_path: Path, tmp_path: Path) -> Callable[..., Flask]:
    """Build an app on the demo-like store with its own instance folder and accounts."""
    made = 0

    def build(**config: Any) -> Flask:
        nonlocal made
        made += 1
        instance = tmp_path / f"instance-{made}"
        app = create_app({"STORE": str(store_path), "instance_path": str(instance),
                          "SECRET_KEY": "clef-de-test-securite", "TESTING": True,
                          "PHOTOS_RECOVERY": False, **config})
        if not config.get("USERS_DB"):
            for name, role in ACCOUNTS.items():
                users.add_user(app.config["USERS_DB"], name, PASSWORD, role=role,
                               organisation=ORGANISATIONS[name])
        return app

    return build
