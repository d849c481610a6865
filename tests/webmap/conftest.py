"""Fixtures of the web tests: a demo-like store built once from the embedded demo files,
the app, and clients logged in as each role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.simulate import simulate_territory
from layers.store import open_store
from webmap import users
from webmap.app import create_app
from webmap.sessions import session_fields

DEMO = REPO_ROOT / "data" / "demo"
PASSWORD = "mot-de-passe-solide"
ROLE_LOGINS = {"lecteur": "lea", "technicien": "theo", "administrateur": "ada"}
_IMPORTS = [
    ("paris/qpv-paris-idf-2015.geojson", "qpv-paris"),
    ("montpellier/qp-montpellier-2015.geojson", "qpv-occitanie"),
    ("paris/dansmarue-2023-2024-echantillon.csv.gz", "dansmarue"),
    ("paris/videoprotection-paris-2019.csv", "paris-videoprotection"),
    ("montpellier/VilleMTP_MTP_PointAdresse.zip", "montpellier-adresses"),
]


@pytest.fixture(scope="session")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the real Paris QPV, 10,000 Dans Ma Rue observations, the Paris cameras,
    and simulated Montpellier records (small simulation), built once."""
    folder = tmp_path_factory.mktemp("webstore")
    path = folder / "territoire.gpkg"
    store = open_store(path)
    try:
        for name, mapping in _IMPORTS:
            import_file(store, DEMO / name,
                        options=ImportOptions(mapping=mapping, actor="tests", report_dir=folder / "rapports"))
        perimeters = store.read("perimetres")
        perimeters = perimeters[perimeters["communes"].isin(["Montpellier"])]
        simulate_territory(store, perimeters, seed=7, start="2024-01-01", months=6, n_observations=300,
                           n_points_noirs=4, n_bacs=4)
    finally:
        store.close()
    return path


@pytest.fixture(scope="session")
def app(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The application on the test store, with one account per role."""
    instance = tmp_path_factory.mktemp("instance")
    application = create_app({"STORE": str(store_path), "instance_path": str(instance),
                              "SECRET_KEY": "clef-de-test", "TESTING": True})
    for role, login in ROLE_LOGINS.items():
        organisation = "bailleur" if role == "lecteur" else "ville"
        users.add_user(application.config["USERS_DB"], login, PASSWORD, role=role,
                       organisation=organisation)
    return application


@pytest.fixture
def store(app: Flask) -> Iterator[object]:
    """A direct handle on the test store (to compare with what the API answers)."""
    s = open_store(app.config["STORE"], create=False)
    try:
        yield s
    finally:
        s.close()


def client_logged_as(app: Flask, login: str, *, token: str | None = None) -> FlaskClient:
    """A test client with a valid session of account ``login`` and its CSRF header set.

    The session is written through :func:`webmap.sessions.session_fields`, as a login does;
    the CSRF token is ``token`` (« jeton-<login> » by default).
    """
    token = token or f"jeton-{login}"
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(login, app.config["USERS_DB"]))
        sess["csrf_token"] = token
    client.environ_base["HTTP_X_CSRFTOKEN"] = token
    return client


def logged_client(app: Flask, role: str | None) -> FlaskClient:
    """A test client with a session for ``role`` (None: anonymous) and its CSRF header set."""
    if role is None:
        return app.test_client()
    return client_logged_as(app, ROLE_LOGINS[role], token=f"jeton-{role}")


@pytest.fixture
def anon(app: Flask) -> FlaskClient:
    """Anonymous client."""
    return logged_client(app, None)


@pytest.fixture
def lecteur(app: Flask) -> FlaskClient:
    """Client logged in as a reader."""
    return logged_client(app, "lecteur")


@pytest.fixture
def tech(app: Flask) -> FlaskClient:
    """Client logged in as a technician."""
    return logged_client(app, "technicien")


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    """Client logged in as an administrator."""
    return logged_client(app, "administrateur")


@pytest.fixture
def clients(app: Flask) -> dict[str, FlaskClient]:
    """One client per role, keyed ``anonyme``, ``lecteur``, ``technicien``, ``administrateur``."""
    return {"anonyme": logged_client(app, None),
            **{role: logged_client(app, role) for role in ROLE_LOGINS}}
