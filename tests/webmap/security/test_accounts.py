# mypy: disable-error-code="index, union-attr, arg-type, operator"
"""Accounts: login throttling, equal timing for unknown logins, password policy, users file
mode, deactivation, API key rotation, administrator and « Mon compte » pages, CLI."""

from __future__ import annotations

import logging
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from layers.errors import RecordError
from layers.settings import REPO_ROOT
from tests.webmap.security.conftest import (
    CAMERAS_CSV,
    ORGANISATIONS,
    PASSWORD,
    csrf_from,
    login,
    page_token,
)
from webmap import passwords, throttle, users
from webmap.cli import main
from webmap.sessions import session_fields

BODY = {"lon": 2.4099, "lat": 48.8601, "theme": "voirie"}


# -- throttling ------------------------------------------------------------------------
def test_ten_failures_then_429_in_french_even_with_the_right_password(
        make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    for attempt in range(10):
        res = login(client, "theo-tech", f"mauvais mot de passe {attempt}")
        assert res.status_code == 401, attempt
    res = login(client, "theo-tech", PASSWORD)  # the right one, too late
    assert res.status_code == 429
    html = res.get_data(as_text=True)
    assert res.mimetype == "text/html" and "Trop de tentatives de connexion" in html
    assert 'lang="fr"' in html and "réessayez" in html
    wait = int(res.headers["Retry-After"])
    assert 0 < wait <= 15 * 60
    assert "15 minutes" in html or "minute" in html
    assert client.get("/api/session").json["user"] is None
    # the counter is per account: another account from the same address still logs in
    assert login(client, "camille").status_code == 302
    # successful logins do not count
    other = app.test_client()
    for _ in range(12):
        assert login(other, "victor").status_code == 302


def test_per_address_limit_and_proxy_fix_client_address(make_app: Callable[..., Flask]) -> None:
    app = make_app(LOGIN_LIMIT_ADDRESS="5 per 15 minutes")
    client = app.test_client()
    for n in range(5):  # five different (unknown) logins: only the address counter fills up
        assert login(client, f"inconnu-{n}", "nimporte quoi du tout").status_code == 401
    res = login(client, "camille")
    assert res.status_code == 429 and "Trop de tentatives" in res.get_data(as_text=True)
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.77"
    assert login(elsewhere, "camille").status_code == 302
    # behind one proxy, the client address is X-Forwarded-For, not the proxy's
    proxied = make_app(LOGIN_LIMIT_ADDRESS="3 per 15 minutes", PROXY_FIX=1)
    one = proxied.test_client()
    one.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.1"
    for n in range(3):
        assert login(one, f"inconnu-{n}", "nimporte quoi du tout").status_code == 401
    assert login(one, "camille").status_code == 429
    two = proxied.test_client()
    two.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.2"
    assert login(two, "camille").status_code == 302


def test_counters_are_shared_by_workers_of_one_instance(make_app: Callable[..., Flask]) -> None:
    """Two app objects on one instance folder (two gunicorn workers) add up their failures."""
    first = make_app()
    second = make_app(instance_path=first.instance_path, USERS_DB=first.config["USERS_DB"])
    assert throttle.storage_uri(first) == throttle.storage_uri(second)
    assert first.config["RATELIMIT_STORAGE_URI"].startswith("qpvsqlite://")
    for n in range(10):
        app = first if n % 2 else second
        assert login(app.test_client(), "adele", f"faux mot de passe {n}").status_code == 401
    assert login(first.test_client(), "adele").status_code == 429
    assert login(second.test_client(), "adele").status_code == 429
    path = Path(first.instance_path) / "throttle.sqlite"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


_WORKER = """
import sys
from limits import RateLimitItemPerMinute
from limits.strategies import FixedWindowRateLimiter
from webmap.throttle import SQLiteStorage
limiter = FixedWindowRateLimiter(SQLiteStorage("qpvsqlite://" + sys.argv[1]))
item = RateLimitItemPerMinute(100000)
for _ in range(int(sys.argv[2])):
    limiter.hit(item, "compte:partage")
"""


def test_sqlite_storage_loses_no_failure_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "throttle.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(path), "60"], env=env)
               for _ in range(4)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    storage = throttle.SQLiteStorage(f"qpvsqlite://{path}")
    keys = [k for k in _keys(path) if "compte:partage" in k]
    assert len(keys) == 1 and storage.get(keys[0]) == 240
    assert storage.get_expiry(keys[0]) > time.time()
    storage.clear(keys[0])
    assert storage.get(keys[0]) == 0 and storage.check()


def _keys(path: Path) -> list[str]:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT key FROM counters")]
    finally:
        con.close()


# -- timing ----------------------------------------------------------------------------
def test_unknown_and_deactivated_logins_take_as_long_as_known_ones(
        make_app: Callable[..., Flask]) -> None:
    app = make_app(LOGIN_LIMIT_ACCOUNT="1000 per minute", LOGIN_LIMIT_ADDRESS="1000 per minute")
    users.set_active(app.config["USERS_DB"], "victor", False)
    client = app.test_client()
    token = csrf_from(client)
    times: dict[str, list[float]] = {"known": [], "unknown": [], "deactivated": []}
    names = {"known": "camille", "unknown": "personne-inconnue", "deactivated": "victor"}
    login(client, "camille", "echauffement du cache")  # dummy hash and lists built once
    login(client, "personne-inconnue", "echauffement du cache")
    for n in range(15):
        for kind, name in names.items():  # interleaved: load changes hit every kind alike
            start = time.perf_counter()
            res = client.post("/connexion", data={"login": name, "password": f"faux-{n}-xxxxxxxx",
                                                  "csrf_token": token})
            times[kind].append(time.perf_counter() - start)
            assert res.status_code == 401
    known = statistics.median(times["known"])
    for kind in ("unknown", "deactivated"):
        ratio = statistics.median(times[kind]) / known
        # before the dummy hash an unknown login answered ~90 times faster (3 ms vs 281 ms)
        assert 0.5 < ratio < 2.0, (kind, ratio, known)


# -- password policy -------------------------------------------------------------------
@pytest.mark.parametrize(("login_name", "password", "words"), [
    ("paul", "password", "trop court"),
    ("paul", "12345678", "trop court"),
    ("paul", "ab-cd-ef-gh", "trop court"),  # 11 characters
    ("administratrice", "Administratrice", "identifiant"),
    ("administratrice", "ecirtartsinimda", "identifiant"),
    ("jean.dupont", "jean.dupont-2024!", "identifiant"),
    ("paul", "motdepasse2024", "courant"),
    ("paul", "Azerty123456!", "courant"),
    ("paul", "password123456", "courant"),
    ("paul", "qwerty123456", "courant"),
    ("paul", "123456789012", "prévisible"),
    ("paul", "abcabcabcabc", "prévisible"),
])
def test_policy_refusals_name_the_password_field(
        tmp_path: Path, login_name: str, password: str, words: str) -> None:
    db = tmp_path / "u.sqlite"
    with pytest.raises(RecordError) as err:
        users.add_user(db, login_name, password, role="lecteur", organisation="ville")
    assert err.value.field == "password" and words in str(err.value).lower()
    users.add_user(db, login_name, PASSWORD, role="lecteur", organisation="ville")
    with pytest.raises(RecordError) as err:  # the same policy for a new password
        users.reset_password(db, login_name, password)
    assert err.value.field == "password" and words in str(err.value).lower()


def test_policy_accepts_passphrases_and_ships_its_lists() -> None:
    common = passwords.common_passwords()
    assert len(common) > 30000
    assert {"motdepasse", "azerty123456", "soleil", "password"} <= common
    for good in ("une phrase de passe solide", "Le-tram-passe-a-7h12", "cerisier en fleurs 1987"):
        assert passwords.policy_error(good, login="camille") is None, good


def test_users_file_is_created_600_and_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "sous-dossier" / "users.sqlite"
    users.add_user(db, "camille", PASSWORD, role="lecteur", organisation="ville")
    assert db.stat().st_mode & 0o777 == 0o600
    old = tmp_path / "ancien.sqlite"
    old.touch()
    os.chmod(old, 0o644)
    with caplog.at_level(logging.WARNING, logger="webmap.users"):
        assert users.list_users(old) == []
    assert old.stat().st_mode & 0o777 == 0o600
    assert "tightened" in caplog.text


# -- deactivation, keys ----------------------------------------------------------------
def test_deactivation_refuses_open_session_and_api_key(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    db = app.config["USERS_DB"]
    _user, key = users.add_user(db, "karim", PASSWORD, role="technicien", organisation="bailleur")
    browser = app.test_client()
    assert login(browser, "karim").status_code == 302
    assert browser.get(CAMERAS_CSV).status_code == 200
    assert app.test_client().get("/api/session", headers={"X-API-Key": key}).json["user"] == "karim"
    admin = app.test_client()
    assert login(admin, "adele").status_code == 302
    token = page_token(admin, "/admin/comptes")
    res = admin.post("/admin/comptes/karim/desactiver", data={"csrf_token": token})
    assert res.status_code == 200 and "désactivé" in res.get_data(as_text=True)
    assert browser.get(CAMERAS_CSV).status_code == 404  # confidential layer: as if absent
    assert browser.get("/api/session").json["user"] is None
    res = app.test_client().post("/api/observations", json=BODY, headers={"X-API-Key": key})
    assert res.status_code == 401
    assert login(app.test_client(), "karim").status_code == 401
    res = admin.post("/admin/comptes/karim/reactiver", data={"csrf_token": token})
    assert res.status_code == 200 and "réactivé" in res.get_data(as_text=True)
    assert login(browser, "karim").status_code == 302
    assert browser.get(CAMERAS_CSV).status_code == 200


def test_rotating_the_api_key(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    db = app.config["USERS_DB"]
    _user, old_key = users.add_user(db, "karim", PASSWORD, role="technicien", organisation="bailleur")
    admin = app.test_client()
    login(admin, "adele")
    token = page_token(admin, "/admin/comptes")
    res = admin.post("/admin/comptes/karim/cle-api", data={"csrf_token": token})
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "ne sera plus affichée" in html
    new_key = re.search(r'<code class="cle">([^<]+)</code>', html).group(1)
    assert new_key != old_key
    assert new_key not in admin.get("/admin/comptes").get_data(as_text=True)  # shown once
    client = app.test_client()
    assert client.post("/api/observations", json=BODY, headers={"X-API-Key": old_key}).status_code == 401
    assert client.post("/api/observations", json=BODY, headers={"X-API-Key": new_key}).status_code == 201
    third = users.rotate_api_key(db, "karim")
    assert users.user_by_api_key(db, new_key) is None and users.user_by_api_key(db, third).login == "karim"


# -- pages -----------------------------------------------------------------------------
def test_admin_page_is_for_administrators_only(clients: dict[str, FlaskClient]) -> None:
    assert clients["anonyme"].get("/admin/comptes").status_code == 302  # to the login page
    assert clients["lecteur"].get("/admin/comptes").status_code == 403
    assert clients["technicien"].get("/admin/comptes").status_code == 403
    assert clients["technicien"].post("/admin/comptes/lea/desactiver").status_code == 403
    assert clients["anonyme"].post("/admin/comptes/lea/cle-api").status_code == 401
    res = clients["administrateur"].get("/admin/comptes")
    html = res.get_data(as_text=True)
    assert res.status_code == 200 and "Comptes" in html
    for login_name, organisation in (("lea", "bailleur"), ("theo", "ville")):
        assert login_name in html and organisation in html
    # scripts only from files (CSP): no inline script, no inline style
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "style=" not in html and "<style" not in html and 'name="viewport"' in html


def test_old_accounts_address_redirects(clients: dict[str, FlaskClient]) -> None:
    for role in ("anonyme", "lecteur", "administrateur"):
        res = clients[role].get("/administration/comptes")
        assert res.status_code == 301 and res.headers["Location"].endswith("/admin/comptes")
    assert clients["administrateur"].get("/administration/comptes", follow_redirects=True).status_code == 200
    assert clients["lecteur"].get("/administration/comptes", follow_redirects=True).status_code == 403


def test_admin_creates_an_account_and_changes_its_role_and_organisation(
        make_app: Callable[..., Flask]) -> None:
    app = make_app()
    db = app.config["USERS_DB"]
    admin = app.test_client()
    login(admin, "adele")
    token = page_token(admin, "/admin/comptes")
    form = {"csrf_token": token, "login": "nadia.b", "role": "lecteur", "organisation": "Bailleur",
            "password": "une phrase de passe solide", "confirmation": "une phrase de passe solide"}
    # every refusal names its field, in French, and creates nothing
    for change, field, words in (
        ({"confirmation": "autre chose encore"}, "Confirmation", "ne correspond pas"),
        ({"password": "azerty123456", "confirmation": "azerty123456"}, "Mot de passe", "trop courant"),
        ({"role": "chef"}, "Rôle", "Rôle inconnu « chef »"),
        ({"organisation": "mairie annexe"}, "Organisation", "Organisation inconnue"),
        ({"login": "camille"}, "Identifiant", "existe déjà"),
        ({"login": "a b"}, "Identifiant", "Identifiant invalide"),
    ):
        res = admin.post("/admin/comptes", data={**form, **change})
        page = res.get_data(as_text=True)
        assert res.status_code == 400, change
        assert f"{field} : " in page and words in page, (change, page[-3000:])
    assert users.get_account(db, "nadia.b") is None
    res = admin.post("/admin/comptes", data=form)
    page = res.get_data(as_text=True)
    assert res.status_code == 201 and "Compte « nadia.b » créé (lecteur, bailleur)" in page
    key = re.search(r'<code class="cle">([^<]+)</code>', page).group(1)
    assert users.user_by_api_key(db, key).login == "nadia.b"
    assert key not in admin.get("/admin/comptes").get_data(as_text=True)  # shown once
    nadia = app.test_client()
    assert login(nadia, "nadia.b", "une phrase de passe solide").status_code == 302
    assert nadia.get("/api/session").json["role"] == "lecteur"
    assert nadia.get("/admin/comptes").status_code == 403
    # promoted: the open session has the new role at its next request
    res = admin.post("/admin/comptes/nadia.b/role",
                     data={"csrf_token": token, "role": "technicien", "organisation": "ville"})
    assert res.status_code == 200 and "rôle technicien, organisation ville" in res.get_data(as_text=True)
    assert users.get_user(db, "nadia.b") == users.User("nadia.b", "technicien", "ville")
    session = nadia.get("/api/session").json
    assert session["role"] == "technicien" and session["organisation"] == "ville"
    res = admin.post("/admin/comptes/nadia.b/role",
                     data={"csrf_token": token, "role": "technicien", "organisation": "inconnue"})
    assert res.status_code == 400 and "Organisation : Organisation inconnue" in res.get_data(as_text=True)
    assert users.get_user(db, "nadia.b").organisation == "ville"
    res = admin.post("/admin/comptes/personne/role",
                     data={"csrf_token": token, "role": "lecteur", "organisation": "ville"})
    assert res.status_code == 404
    # an administrator cannot demote themselves (nobody left to undo it), but may change organisation
    res = admin.post("/admin/comptes/adele/role",
                     data={"csrf_token": token, "role": "lecteur", "organisation": "ville"})
    assert res.status_code == 400 and users.get_user(db, "adele").role == "administrateur"
    res = admin.post("/admin/comptes/adele/role",
                     data={"csrf_token": token, "role": "administrateur", "organisation": "police"})
    assert res.status_code == 200 and users.get_user(db, "adele").organisation == "police"
    # without the token, nothing changes
    res = admin.post("/admin/comptes/nadia.b/role", data={"role": "administrateur", "organisation": "ville"})
    assert res.status_code == 400 and users.get_user(db, "nadia.b").role == "technicien"


def test_admin_actions_need_the_csrf_token_and_report_french_errors(
        make_app: Callable[..., Flask]) -> None:
    app = make_app()
    admin = app.test_client()
    login(admin, "adele")
    res = admin.post("/admin/comptes/camille/desactiver")
    assert res.status_code == 400 and res.json["champ"] == "csrf_token"
    token = page_token(admin, "/admin/comptes")
    res = admin.post("/admin/comptes/camille/mot-de-passe",
                     data={"csrf_token": token, "password": "azerty123456"})
    assert res.status_code == 400 and "trop courant" in res.get_data(as_text=True)
    res = admin.post("/admin/comptes/personne/desactiver", data={"csrf_token": token})
    assert res.status_code == 404 and "Aucun compte" in res.get_data(as_text=True)
    res = admin.post("/admin/comptes/adele/desactiver", data={"csrf_token": token})
    assert res.status_code == 400 and users.get_user(app.config["USERS_DB"], "adele") is not None
    camille = app.test_client()
    login(camille, "camille")
    res = admin.post("/admin/comptes/camille/mot-de-passe",
                     data={"csrf_token": token, "password": "un tout nouveau secret"})
    assert res.status_code == 200 and "sessions sont fermées" in res.get_data(as_text=True)
    assert camille.get("/api/session").json["user"] is None
    assert login(app.test_client(), "camille", "un tout nouveau secret").status_code == 302


def test_my_account_page_changes_the_password(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert app.test_client().get("/compte").headers["Location"].startswith("/connexion")
    phone, laptop = app.test_client(), app.test_client()
    login(phone, "camille")
    login(laptop, "camille")
    page = laptop.get("/compte")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Mon compte" in html and "bailleur" in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None and "style=" not in html
    token = page_token(laptop, "/compte")
    form = {"csrf_token": token, "old_password": "pas le bon du tout", "password": "nouvelle phrase longue",
            "confirmation": "nouvelle phrase longue"}
    res = laptop.post("/compte/mot-de-passe", data=form)
    assert res.status_code == 400 and "actuel incorrect" in res.get_data(as_text=True)
    res = laptop.post("/compte/mot-de-passe",
                      data={**form, "old_password": PASSWORD, "confirmation": "autre"})
    assert res.status_code == 400 and "confirmation" in res.get_data(as_text=True)
    res = laptop.post("/compte/mot-de-passe", data={**form, "old_password": PASSWORD, "password": "camille",
                                                    "confirmation": "camille"})
    assert res.status_code == 400 and "trop court" in res.get_data(as_text=True)
    res = laptop.post("/compte/mot-de-passe", data={**form, "old_password": PASSWORD})
    assert res.status_code == 200 and "Mot de passe modifié" in res.get_data(as_text=True)
    assert laptop.get("/api/session").json["user"] == "camille"  # this session stays open
    assert phone.get("/api/session").json["user"] is None  # the other one is revoked
    assert login(app.test_client(), "camille").status_code == 401
    assert login(app.test_client(), "camille", "nouvelle phrase longue").status_code == 302


# -- command line ----------------------------------------------------------------------
def test_cli_account_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPV_INSTANCE_PATH", str(tmp_path / "inst"))
    monkeypatch.setenv("QPV_SECRET_KEY", "cle-cli")
    runner = CliRunner()
    res = runner.invoke(main, ["utilisateurs", "ajouter", "julie", "--role", "technicien",
                               "--organisation", "police", "--mot-de-passe-stdin"], input="azerty123456\n")
    assert res.exit_code == 1 and "trop courant" in res.output
    res = runner.invoke(main, ["utilisateurs", "ajouter", "julie", "--role", "technicien",
                               "--organisation", "police", "--mot-de-passe-stdin"], input=PASSWORD + "\n")
    assert res.exit_code == 0, res.output
    db = tmp_path / "inst" / "users.sqlite"
    old_key = res.output.strip().split(": ")[-1]
    assert db.stat().st_mode & 0o777 == 0o600
    for command in ("desactiver", "reactiver", "mot-de-passe", "cle-api"):
        assert runner.invoke(main, ["utilisateurs", command, "--help"]).exit_code == 0
    res = runner.invoke(main, ["utilisateurs", "desactiver", "julie"])
    assert res.exit_code == 0 and "désactivé" in res.output
    assert users.get_user(db, "julie") is None and users.user_by_api_key(db, old_key) is None
    assert "(désactivé)" in runner.invoke(main, ["utilisateurs", "liste"]).output
    res = runner.invoke(main, ["utilisateurs", "reactiver", "julie"])
    assert res.exit_code == 0 and users.get_user(db, "julie").organisation == ORGANISATIONS["victor"]
    res = runner.invoke(main, ["utilisateurs", "cle-api", "julie"])
    new_key = res.output.strip().split(": ")[-1]
    assert res.exit_code == 0 and users.user_by_api_key(db, new_key).login == "julie"
    assert users.user_by_api_key(db, old_key) is None
    version = users.get_account(db, "julie").session_version
    res = runner.invoke(main, ["utilisateurs", "mot-de-passe", "julie", "--mot-de-passe-stdin"],
                        input="julie-julie\n")
    assert res.exit_code == 1 and "Erreur" in res.output
    res = runner.invoke(main, ["utilisateurs", "mot-de-passe", "julie", "--mot-de-passe-stdin"],
                        input="le vent se leve sur la plaine\n")
    assert res.exit_code == 0 and "sessions sont fermées" in res.output
    assert users.authenticate(db, "julie", "le vent se leve sur la plaine") is not None
    assert users.get_account(db, "julie").session_version > version
    for command in ("desactiver", "reactiver", "cle-api"):
        res = runner.invoke(main, ["utilisateurs", command, "personne"])
        assert res.exit_code == 1 and "Aucun compte" in res.output
    res = runner.invoke(main, ["utilisateurs", "mot-de-passe", "personne", "--mot-de-passe-stdin"],
                        input=PASSWORD + "\n")
    assert res.exit_code == 1 and "Aucun compte" in res.output
    with pytest.raises(Exception, match="Aucun compte actif"):
        session_fields("personne", str(db))
