# mypy: disable-error-code="index, union-attr, arg-type, operator"
# (Response.json is Optional for mypy; these tests assert the status code first)
"""Accounts, login/logout, CSRF, API keys, role guards on every route, app configuration, CLI."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from geo.errors import CRSError
from layers.errors import NotFoundError, RecordError
from tests.webmap.conftest import PASSWORD, ROLE_LOGINS
from webmap import users
from webmap.app import create_app
from webmap.cli import main
from webmap.sessions import session_fields


def _token(client: FlaskClient) -> str:
    page = client.get("/connexion").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_login_page_and_full_login_logout(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/connexion")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Connexion" in html and '<meta name="csrf-token"' in html and 'lang="fr"' in html
    token = _token(client)
    # no token: refused
    res = client.post("/connexion", data={"login": "theo", "password": PASSWORD})
    assert res.status_code == 400 and "expiré" in res.get_data(as_text=True)
    res = client.post(
        "/connexion", data={"login": "theo", "password": "faux-mot-de-passe", "csrf_token": token}
    )
    assert res.status_code == 401 and "incorrect" in res.get_data(as_text=True)
    assert client.get("/api/session").json["user"] is None
    res = client.post(
        "/connexion",
        data={
            "login": "theo",
            "password": PASSWORD,
            "csrf_token": token,
            "suivant": "https://ailleurs.example/piege",
        },
    )
    assert res.status_code == 302 and "ailleurs.example" not in res.headers["Location"]
    session = client.get("/api/session").json
    assert session["user"] == "theo" and session["role"] == "technicien"
    assert session["organisation"] == "ville" and session["csrf_token"] and session["csrf_token"] != token
    # logout is a cookie-authenticated write: token required
    assert client.post("/deconnexion").status_code == 400
    res = client.post("/deconnexion", headers={"X-CSRFToken": session["csrf_token"]})
    assert res.status_code == 302
    assert client.get("/api/session").json == {
        "user": None,
        "role": "anonyme",
        "organisation": None,
        "csrf_token": client.get("/api/session").json["csrf_token"],
    }


def test_login_redirects_to_local_target(app: Flask) -> None:
    client = app.test_client()
    token = _token(client)
    res = client.post(
        "/connexion",
        data={"login": "ada", "password": PASSWORD, "csrf_token": token, "suivant": "/ogc/collections"},
    )
    assert res.status_code == 302 and res.headers["Location"].endswith("/ogc/collections")


def test_csrf_required_on_cookie_json_writes(app: Flask) -> None:
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(ROLE_LOGINS["technicien"], app.config["USERS_DB"]))
        sess["csrf_token"] = "bon-jeton"
    body = {"lon": 2.41, "lat": 48.86, "theme": "propreté"}
    res = client.post("/api/observations", json=body)
    assert res.status_code == 400 and res.json["champ"] == "csrf_token"
    res = client.post("/api/observations", json=body, headers={"X-CSRFToken": "mauvais"})
    assert res.status_code == 400 and res.json["champ"] == "csrf_token"
    res = client.patch("/api/observations/inexistant", json={"status": "clos non traité"})
    assert res.status_code == 400 and res.json["champ"] == "csrf_token"
    res = client.post("/api/observations", json=body, headers={"X-CSRFToken": "bon-jeton"})
    assert res.status_code == 201


def test_api_key_header_authenticates_without_cookie(app: Flask, tmp_path: Path) -> None:
    _user, key = users.add_user(
        app.config["USERS_DB"], "cle-tech", PASSWORD, role="technicien", organisation="EPCI"
    )
    client = app.test_client()
    res = client.post(
        "/api/observations", json={"lon": 2.41, "lat": 48.86, "theme": "voirie"}, headers={"X-API-Key": key}
    )
    assert res.status_code == 201
    assert client.get("/api/session", headers={"X-API-Key": key}).json["user"] == "cle-tech"
    res = client.post(
        "/api/observations",
        json={"lon": 2.41, "lat": 48.86, "theme": "voirie"},
        headers={"X-API-Key": "pas-une-cle"},
    )
    assert res.status_code == 401


def test_role_change_applies_to_open_sessions(app: Flask) -> None:
    users.add_user(app.config["USERS_DB"], "promu", PASSWORD, role="lecteur", organisation="ville")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields("promu", app.config["USERS_DB"]))
    assert client.get("/ogc/collections/videoprotection").status_code == 404
    users.set_role(app.config["USERS_DB"], "promu", "technicien")
    assert client.get("/ogc/collections/videoprotection").status_code == 200


def test_users_module_checks_and_hashes(tmp_path: Path) -> None:
    db = tmp_path / "u.sqlite"
    user, key = users.add_user(db, "marie", PASSWORD, role="technicien", organisation="bailleur")
    assert user.actor == "marie (bailleur)" and len(key) > 30
    raw = sqlite3.connect(db).execute("SELECT password_hash, api_key_hash FROM users").fetchone()
    assert PASSWORD not in raw[0] and key not in raw[1]
    assert users.authenticate(db, "marie", PASSWORD) == user
    assert users.authenticate(db, "marie", "autre-chose") is None
    assert users.user_by_api_key(db, key) == user
    assert users.check_organisation("etat") == "État"
    cases = [
        (dict(login="marie", password=PASSWORD, role="lecteur", organisation="ville"), "login"),
        (dict(login="x y", password=PASSWORD, role="lecteur", organisation="ville"), "login"),
        (dict(login="paul", password="court", role="lecteur", organisation="ville"), "password"),
        (dict(login="paul", password=PASSWORD, role="chef", organisation="ville"), "role"),
        (dict(login="paul", password=PASSWORD, role="lecteur", organisation="mairie-x"), "organisation"),
    ]
    for kwargs, field in cases:
        login, password = kwargs.pop("login"), kwargs.pop("password")
        with pytest.raises(RecordError) as err:
            users.add_user(db, login, password, **kwargs)
        assert err.value.field == field
    with pytest.raises(NotFoundError):
        users.set_role(db, "personne", "lecteur")


def test_cli_users_add_list_set_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPV_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("QPV_SECRET_KEY", "cle-cli")
    runner = CliRunner()
    res = runner.invoke(
        main,
        ["utilisateurs", "ajouter", "julie", "--role", "technicien", "--organisation", "epci",
         "--mot-de-passe-stdin"],
        input=PASSWORD + "\n",
    )
    assert res.exit_code == 0, res.output
    assert "Clé d'API" in res.output
    key = res.output.strip().split(": ")[-1]
    db = tmp_path / "inst" / "users.sqlite"
    assert users.user_by_api_key(db, key) is not None
    res = runner.invoke(main, ["utilisateurs", "liste"])
    assert "julie" in res.output and "technicien" in res.output and "EPCI" in res.output
    res = runner.invoke(main, ["utilisateurs", "role", "julie", "administrateur"])
    assert res.exit_code == 0 and users.get_user(db, "julie").role == "administrateur"
    res = runner.invoke(main, ["utilisateurs", "role", "inconnu", "lecteur"])
    assert res.exit_code == 1 and "Erreur" in res.output
    res = runner.invoke(
        main,
        ["utilisateurs", "ajouter", "julie", "--role", "lecteur", "--organisation", "ville",
         "--mot-de-passe-stdin"],
        input=PASSWORD + "\n",
    )
    assert res.exit_code == 1 and "existe déjà" in res.output
    assert runner.invoke(main, ["servir", "--help"]).exit_code == 0


def test_configuration_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_path: Path) -> None:
    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / "config.py").write_text(
        "FEATURES_LIMIT = 123\nPHOTO_ROLES = ('technicien',)\n", encoding="utf-8"
    )
    monkeypatch.setenv("QPV_STORE", str(store_path))
    monkeypatch.setenv("QPV_SECRET_KEY", "depuis-env")
    app = create_app({"instance_path": str(instance)})
    assert app.config["STORE"] == str(store_path)
    assert app.config["SECRET_KEY"] == "depuis-env"
    assert app.config["FEATURES_LIMIT"] == 123 and app.config["PHOTO_ROLES"] == ("technicien",)
    assert app.config["USERS_DB"] == str(instance / "users.sqlite")
    # no key configured: one is generated once in the instance folder and reused
    monkeypatch.delenv("QPV_SECRET_KEY")
    other = tmp_path / "inst2"
    first = create_app({"instance_path": str(other)}).config["SECRET_KEY"]
    assert first and (other / "secret_key").read_text().strip() == first
    assert create_app({"instance_path": str(other)}).config["SECRET_KEY"] == first


def test_qpv_errors_are_400_and_unknown_store_503(app: Flask, tmp_path: Path) -> None:
    fresh = create_app(
        {"STORE": str(tmp_path / "absent.gpkg"), "SECRET_KEY": "x", "instance_path": str(tmp_path / "i")}
    )

    @fresh.get("/test-crs")
    def _crs() -> str:
        raise CRSError("Système de coordonnées inconnu.")

    client = fresh.test_client()
    res = client.get("/test-crs")
    assert res.status_code == 400 and res.json["erreur"] == "Système de coordonnées inconnu."
    res = client.get("/api/layers")
    assert res.status_code == 503 and "indisponible" in res.json["erreur"]
    assert not (tmp_path / "absent.gpkg").exists()
