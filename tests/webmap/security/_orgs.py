"""An app of its own on a copy of the web tests' store, with technicians of several organisations."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry import LineString

from layers.store import open_store
from tests.webmap.conftest import client_logged_as
from webmap import users
from webmap.app import create_app

PASSWORD = "mot-de-passe-solide"
#: login -> (role, organisation)
ACCOUNTS = {
    "theo": ("technicien", "ville"),
    "bruno": ("technicien", "bailleur"),
    "emma": ("technicien", "EPCI"),
    "ada": ("administrateur", "ville"),
    "lea": ("lecteur", "bailleur"),
}


def copy_store(source: Path, target: Path) -> Path:
    """Copy a GeoPackage with SQLite's backup API (consistent even with a WAL)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return target


def make_app(store_path: Path, folder: Path, **config: Any) -> Flask:
    """The application on ``store_path`` with the accounts of :data:`ACCOUNTS`."""
    app = create_app({"STORE": str(store_path), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-orgs", "TESTING": True, **config})
    keys = {}
    for login, (role, organisation) in ACCOUNTS.items():
        _, keys[login] = users.add_user(app.config["USERS_DB"], login, PASSWORD, role=role,
                                        organisation=organisation)
    app.config["TEST_API_KEYS"] = keys
    return app


def client(app: Flask, login: str) -> FlaskClient:
    """A test client logged in as ``login`` with its CSRF header."""
    return client_logged_as(app, login)


def add_walk(store_path: Path, *, organisation: str | None, organisations: str | None = None) -> str:
    """Store a planned walk along the first street segment of the store; return its uid."""
    store = open_store(store_path, create=False)
    try:
        per = store.read("perimetres", where={"code": "QP034005"})
        c = per.geometry.iloc[0].representative_point()
        track = LineString([(c.x, c.y), (c.x + 120, c.y + 40)])
        uid = f"parcours-{organisation or 'aucune'}-{len(store.read('diagnostics'))}"
        frame = gpd.GeoDataFrame([{
            "uid": uid, "name": f"Diagnostic de test ({organisation})", "quartier": "QP034005",
            "walk_date": pd.Timestamp("2025-05-12T14:00").isoformat(), "status": "prévu",
            "organisation": organisation, "organisations": organisations,
        }], geometry=[track], crs=store.crs)
        store.write("diagnostics", frame, actor="tests")
    finally:
        store.close()
    return uid
