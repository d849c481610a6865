# mypy: disable-error-code="index, union-attr, arg-type, operator"
"""The web audit of issue 13, replayed: every attempt of its list must now fail.

The app serves a copy of the demo store (real Paris and Montpellier data, one planned walk in
Mosson) with real accounts logged in through the login form — real cookies, no faked
session. Each test is one attempt of the audit; its outcome is written to
``tests/artifacts/web-audit.md`` (the table of the closing note). The offline page and the
hostile texts are attempts in a real browser: ``test_offline_security.py`` and
``test_hostile_texts.py``; the route × role table is ``test_access_table.py``.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.errors import RecordError
from layers.projection import CRS84, project
from layers.settings import REPO_ROOT
from layers.store import open_store
from tests.walkdemo import MOSSON_START, demo_store_copy, plan_mosson_walk
from webmap import users
from webmap.app import create_app

PASSWORD = "audit-mot-de-passe-2026"
#: login -> (role, organisation)
ACCOUNTS = {
    "techA": ("technicien", "ville"),
    "techB": ("technicien", "bailleur"),
    "lecteur1": ("lecteur", "ville"),
    "admin1": ("administrateur", "ville"),
    "cible": ("technicien", "ville"),  # the account whose password is guessed (then locked out)
}
#: A point inside Mosson (WGS84).
INSIDE = {"lon": MOSSON_START[0], "lat": MOSSON_START[1]}
RESULTS: list[tuple[str, str, str]] = []
ARTIFACT = REPO_ROOT / "tests" / "artifacts" / "web-audit.md"


def record(ref: str, attempt: str, observed: str) -> None:
    """Keep one line of the audit table (written when the module ends)."""
    RESULTS.append((ref, attempt, observed))


@pytest.fixture(scope="module", autouse=True)
def _table() -> Iterator[None]:
    RESULTS.clear()
    yield
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    lines = ["| # | Tentative | Résultat observé |", "|---|---|---|"]
    lines += [f"| {ref} | {what} | {seen} |" for ref, what, seen in sorted(RESULTS)]
    ARTIFACT.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def audit_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path = demo_store_copy(tmp_path_factory, "audit")
    folder = path.parent
    plan = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=folder / "cache", organisation="ville",
                            actor="techA (ville)")
    later = plan_mosson_walk(path, "2026-06-12T14:00", cache_dir=folder / "cache", organisation="ville",
                             actor="techA (ville)")
    store = open_store(path)
    try:
        stop = store.read_children("diagnostics", "etapes", parent_uids=[later.uid]).iloc[0]
        lon, lat = project(store.crs, CRS84, float(stop["x"]), float(stop["y"]))
    finally:
        store.close()
    app = create_app(
        {
            "STORE": str(path),
            "instance_path": str(folder / "instance"),
            "PHOTOS_DIR": str(folder / "photos"),
            "SECRET_KEY": "clef-audit",
            "BASEMAP": "aucun",
            "WALK_CACHE_DIR": str(folder / "cache"),
        }
    )
    app.config["WALK_UID"] = plan.uid
    app.config["NEXT_WALK"] = (later.uid, lon, lat)
    keys = {}
    for login_name, (role, organisation) in ACCOUNTS.items():
        keys[login_name] = users.add_user(
            app.config["USERS_DB"], login_name, PASSWORD, role=role, organisation=organisation
        )[1]
    app.config["AUDIT_KEYS"] = keys
    return app


def _form_token(client: FlaskClient) -> str:
    page = client.get("/connexion").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def login(app: Flask, name: str, *, address: str = "10.0.0.1") -> FlaskClient:
    """A client logged in through the login form, with its CSRF header set."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    res = client.post(
        "/connexion", data={"login": name, "password": PASSWORD, "csrf_token": _form_token(client)}
    )
    assert res.status_code == 302, res.get_data(as_text=True)
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.get("/api/session").json["csrf_token"]
    return client


def _city_constat(app: Flask) -> str:
    """A constat created by the city's technician (techA), inside Mosson."""
    client = login(app, "techA", address="10.0.1.1")
    res = client.post(
        "/api/observations",
        json={**INSIDE, "theme": "propreté", "description": "Dépôt au pied de l'immeuble"},
    )
    assert res.status_code == 201, res.get_data(as_text=True)
    return str(res.json["uid"])


# -- 1. accounts ------------------------------------------------------------------------------------
def test_password_guessing_is_throttled(audit_app: Flask) -> None:
    client = audit_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    codes = []
    for _ in range(40):
        res = client.post(
            "/connexion",
            data={"login": "cible", "password": "mauvais-mot-de-passe", "csrf_token": _form_token(client)},
        )
        codes.append(res.status_code)
    first = codes.index(429) if 429 in codes else None
    record(
        "1.1",
        "40 mauvais mots de passe sur un compte",
        f"{codes.count(401)} × 401 puis {codes.count(429)} × 429"
        f" (dès l'essai {None if first is None else first + 1})",
    )
    assert first is not None and first <= 10 and set(codes[first:]) == {429}
    assert "Trop de tentatives" in res.get_data(as_text=True) or "tentatives" in res.get_data(as_text=True)


@pytest.mark.parametrize(
    ("login_name", "password"),
    [
        ("techZ1", "password"),
        ("techZ2", "12345678"),
        ("technicienzz", "technicienzz"),
        ("techZ4", "azerty123456"),
        ("techZ5", "court-11car"),
    ],
)
def test_weak_passwords_refused(audit_app: Flask, login_name: str, password: str) -> None:
    with pytest.raises(RecordError) as err:
        users.add_user(
            audit_app.config["USERS_DB"], login_name, password, role="technicien", organisation="ville"
        )
    record(
        "1.2", f"compte « {login_name} » créé avec le mot de passe « {password} »", f"refusé : {err.value}"
    )
    assert err.value.field == "password"


def test_anonymous_history_hides_logins_and_comments(audit_app: Flask) -> None:
    uid = _city_constat(audit_app)
    tech = login(audit_app, "techA", address="10.0.1.2")
    assert (
        tech.patch(
            f"/api/observations/{uid}", json={"status": "transmis", "comment": "note interne bailleur"}
        ).status_code
        == 200
    )
    anon = audit_app.test_client().get(f"/api/observations/{uid}/history")
    text = anon.get_data(as_text=True)
    record(
        "1.3",
        "historique d'un constat lu anonymement",
        f"{anon.status_code}, sans identifiant ni commentaire"
        if "techA" not in text and "note interne" not in text
        else f"{anon.status_code} FUITE : {text[:120]}",
    )
    assert "techA" not in text and "note interne" not in text
    assert "techA" in tech.get(f"/api/observations/{uid}/history").get_data(as_text=True)


def test_unknown_login_answers_as_slowly(audit_app: Flask) -> None:
    import statistics
    import time

    def timed(name: str, i: int) -> float:
        client = audit_app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.1.{len(name)}.{i}"
        token = _form_token(client)
        start = time.perf_counter()
        res = client.post(
            "/connexion", data={"login": name, "password": "mauvais-mot-de-passe", "csrf_token": token}
        )
        assert res.status_code == 401
        return time.perf_counter() - start

    # interleaved pairs, so that a change of machine load hits both sides alike
    pairs = [(timed("lecteur1", i), timed("personne-inconnue", i)) for i in range(7)]
    known = statistics.median(k for k, _ in pairs)
    unknown = statistics.median(u for _, u in pairs)
    ratio = statistics.median(u / k for k, u in pairs)
    record(
        "1.4",
        "temps de réponse : identifiant existant / inconnu",
        f"{known * 1000:.0f} ms / {unknown * 1000:.0f} ms (rapport {ratio:.2f})",
    )
    assert 0.6 <= ratio <= 1.6  # the benchmark measures it finely: bench/bench_login.py


# -- 2. sessions ------------------------------------------------------------------------------------
def test_cookie_saved_before_logout_is_dead_after(audit_app: Flask) -> None:
    client = login(audit_app, "techA", address="10.0.2.1")
    cookie = client.get_cookie("session")
    assert cookie is not None
    before = client.get("/api/layers/videoprotection/export.csv").status_code
    assert client.post("/deconnexion").status_code == 302
    replay = audit_app.test_client()
    replay.set_cookie("session", cookie.value)
    after = replay.get("/api/layers/videoprotection/export.csv")
    who = replay.get("/api/session").json["user"]
    record(
        "2.1",
        "cookie de session rejoué après /deconnexion (export CSV des caméras)",
        f"avant : {before} ; après : {after.status_code}, session anonyme ({who})",
    )
    assert before == 200 and after.status_code in (401, 404) and who is None


def test_session_lifetime_and_idle_timeout(audit_app: Flask) -> None:
    life = audit_app.permanent_session_lifetime
    idle = audit_app.config.get("SESSION_IDLE_TIMEOUT")
    record("2.2", "durée des sessions", f"absolue {life}, inactivité {idle}")
    assert life <= timedelta(days=1)
    assert idle is not None


def test_users_db_is_private(audit_app: Flask) -> None:
    mode = stat.S_IMODE(Path(audit_app.config["USERS_DB"]).stat().st_mode)
    record("2.3", "droits du fichier users.sqlite", oct(mode))
    assert mode == 0o600


def test_secure_cookie_over_https(tmp_path: Path, audit_app: Flask) -> None:
    app = create_app(
        {
            "STORE": audit_app.config["STORE"],
            "instance_path": str(tmp_path / "i"),
            "SECRET_KEY": "x",
            "PUBLIC_URL": "https://gusp.example.fr",
        }
    )
    users.add_user(app.config["USERS_DB"], "techA", PASSWORD, role="technicien", organisation="ville")
    client = app.test_client()
    res = client.post(
        "/connexion",
        base_url="https://gusp.example.fr",
        data={"login": "techA", "password": PASSWORD, "csrf_token": _form_token(client)},
    )
    cookie = res.headers.get("Set-Cookie", "")
    record(
        "2.4",
        "cookie de session servi en HTTPS",
        cookie.split(";", 1)[1].strip() if ";" in cookie else cookie,
    )
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_deactivated_account_is_shut_out(audit_app: Flask) -> None:
    users.add_user(audit_app.config["USERS_DB"], "techC", PASSWORD, role="technicien", organisation="ville")
    victim = login(audit_app, "techC", address="10.0.2.5")
    key = users.rotate_api_key(audit_app.config["USERS_DB"], "techC")
    admin = login(audit_app, "admin1", address="10.0.2.6")
    page = admin.post("/admin/comptes/techC/desactiver")
    session_code = victim.get("/api/layers/videoprotection/export.csv").status_code
    key_code = (
        audit_app.test_client()
        .get("/api/layers/videoprotection/export.csv", headers={"X-API-Key": key})
        .status_code
    )
    record(
        "2.5",
        "compte désactivé depuis la page d'administration : sa session et sa clé d'API",
        f"page {page.status_code} ; session → {session_code} ; clé → {key_code}",
    )
    assert page.status_code == 200 and session_code in (401, 404) and key_code in (401, 404)


def test_rotated_api_key(audit_app: Flask) -> None:
    old = audit_app.config["AUDIT_KEYS"]["techA"]
    admin = login(audit_app, "admin1", address="10.0.2.7")
    page = admin.post("/admin/comptes/techA/cle-api").get_data(as_text=True)
    new = re.search(r'<code class="cle">([^<]+)</code>', page)
    assert new is not None
    old_code = (
        audit_app.test_client()
        .get("/api/layers/videoprotection/stats", headers={"X-API-Key": old})
        .status_code
    )
    new_code = (
        audit_app.test_client()
        .get("/api/layers/videoprotection/stats", headers={"X-API-Key": new.group(1)})
        .status_code
    )
    audit_app.config["AUDIT_KEYS"]["techA"] = new.group(1)
    record(
        "2.6", "clé d'API renouvelée par un administrateur", f"ancienne → {old_code} ; nouvelle → {new_code}"
    )
    assert old_code == 404 and new_code == 200


# -- 3. organisations -------------------------------------------------------------------------------
def test_bailleur_cannot_change_city_constat(audit_app: Flask) -> None:
    uid = _city_constat(audit_app)
    bailleur = login(audit_app, "techB", address="10.0.3.1")
    res = bailleur.patch(f"/api/observations/{uid}", json={"status": "traité"})
    status = audit_app.test_client().get(f"/api/observations/{uid}").json["properties"]["status"]
    record(
        "3.1",
        "technicien du bailleur passe un constat de la ville à « traité »",
        f"{res.status_code} « {res.json.get('erreur')} » ; statut resté « {status} »",
    )
    assert res.status_code == 403 and status == "nouveau"


def test_bailleur_cannot_close_city_walk(audit_app: Flask) -> None:
    uid = audit_app.config["WALK_UID"]
    bailleur = login(audit_app, "techB", address="10.0.3.2")
    res = bailleur.post(f"/diagnostic/{uid}/realise", data={"participants": "bailleur", "habitants": "3"})
    city = login(audit_app, "techA", address="10.0.3.3")
    own = city.post(f"/diagnostic/{uid}/realise", data={"participants": "ville, bailleur", "habitants": "3"})
    record("3.2", "technicien du bailleur marque la marche de la ville « réalisé »",
           f"{res.status_code} (le technicien de la ville : {own.status_code})")
    assert res.status_code == 403 and own.status_code == 302


# -- 4. integrity -----------------------------------------------------------------------------------
_BAD_CONSTATS: list[tuple[str, dict[str, Any], str]] = [
    ("créé déjà « traité »", {"status": "traité"}, "status"),
    ("origine inventée", {"source": "inventée"}, "source"),
    ("pilote inventé", {"pilote": "Pilote imaginaire"}, "pilote"),
    ("daté de 2099", {"observed_at": "2099-01-01T10:00"}, "observed_at"),
    ("daté de 1990", {"observed_at": "1990-01-01T10:00"}, "observed_at"),
    ("marche inexistante", {"walk_id": "n-existe-pas"}, "walk_id"),
    ("situé à Lyon", {"lon": 4.8357, "lat": 45.764}, "lon"),
    ("description de 1 Mo", {"description": "x" * 1_000_000}, "description"),
]


@pytest.mark.parametrize(
    ("what", "extra", "field"), _BAD_CONSTATS, ids=[b[2] + "-" + str(i) for i, b in enumerate(_BAD_CONSTATS)]
)
def test_bad_new_constat_refused(audit_app: Flask, what: str, extra: dict[str, Any], field: str) -> None:
    tech = login(audit_app, "techA", address="10.0.4.1")
    before = len(open_store(audit_app.config["STORE"], create=False).read("observations"))
    res = tech.post("/api/observations", json={**INSIDE, "theme": "propreté", **extra})
    store = open_store(audit_app.config["STORE"], create=False)
    try:
        after = len(store.read("observations"))
    finally:
        store.close()
    record(
        "4.1",
        f"nouveau constat {what}",
        f"{res.status_code}, champ « {res.json.get('champ')} » ; rien d'écrit"
        if after == before
        else f"{res.status_code} ÉCRIT",
    )
    assert res.status_code == 400 and res.json["champ"] == field and after == before


def test_time_slider_ignores_implausible_dates(audit_app: Flask) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    store = open_store(audit_app.config["STORE"], create=False)
    try:
        x, y = store.read("observations").geometry.iloc[0].coords[0]
        row = {
            "uid": "audit-2099",
            "observed_at": "2099-06-01T00:00:00",
            "theme": "propreté",
            "status": "nouveau",
            "source": "import",
        }
        store.write("observations", gpd.GeoDataFrame([row], geometry=[Point(x, y)], crs=store.crs))
    finally:
        store.close()
    layers = audit_app.test_client().get("/api/layers").json
    obs = next(
        layer
        for layer in (layers["layers"] if isinstance(layers, dict) else layers)
        if layer["name"] == "observations"
    )
    text = json.dumps(obs, ensure_ascii=False)
    record(
        "4.2",
        "un constat daté de 2099 dans l'entrepôt et la réglette du temps",
        "réglette bornée à " + ", ".join(re.findall(r"\d{4}-\d{2}-\d{2}", text)[:2]),
    )
    assert "2099" not in json.dumps({k: v for k, v in obs.items() if "outside" not in k})


# -- 7. headers and leaks ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/connexion", "/diagnostic/", "/ogc", "/ogc/collections"])
def test_security_headers_on_html(audit_app: Flask, path: str) -> None:
    client = login(audit_app, "admin1", address="10.0.7.1")
    res = client.get(path, headers={"Accept": "text/html"})
    wanted = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")
    present = [h for h in wanted if h in res.headers]
    csp = res.headers.get("Content-Security-Policy", "")
    record("7.1", f"en-têtes de sécurité sur {path}", f"{res.status_code} : {', '.join(present)}")
    assert present == list(wanted)
    assert (
        "frame-ancestors 'none'" in csp
        and "'unsafe-inline'" not in csp.split("script-src", 1)[-1].split(";")[0]
    )
    assert "Werkzeug" not in res.headers.get("Server", "")


def test_forged_host_not_reflected(audit_app: Flask) -> None:
    client = audit_app.test_client()
    texts = []
    for path in ("/ogc", "/ogc/collections", "/openapi.json"):
        res = client.get(path, headers={"Host": "evil.example", "Accept": "application/json"})
        texts.append((path, res.status_code, "evil.example" in res.get_data(as_text=True)))
    record(
        "7.2",
        "en-tête Host forgé (evil.example) sur /ogc et /openapi.json",
        "; ".join(f"{p} → {c}{' REFLÉTÉ' if leak else ''}" for p, c, leak in texts),
    )
    assert not any(leak for _, _, leak in texts)


def test_openapi_hides_confidential_layer(audit_app: Flask) -> None:
    anon = audit_app.test_client().get("/openapi.json").get_data(as_text=True)
    lecteur = login(audit_app, "lecteur1", address="10.0.7.2").get("/openapi.json").get_data(as_text=True)
    tech = login(audit_app, "techA", address="10.0.7.3").get("/openapi.json").get_data(as_text=True)
    record(
        "7.3",
        "/openapi.json décrit la vidéoprotection",
        " ; ".join(
            f"{who} : {'oui' if 'videoprotection' in doc else 'non'}"
            for who, doc in (("anonyme", anon), ("lecteur", lecteur), ("technicien", tech))
        ),
    )
    assert "videoprotection" not in anon and "videoprotection" not in lecteur and "videoprotection" in tech


def test_open311_outside_media_refused(audit_app: Flask) -> None:
    res = audit_app.test_client().post(
        "/open311/v2/requests.json",
        data={
            "api_key": audit_app.config["AUDIT_KEYS"]["techA"],
            "service_code": "proprete",
            "lat": str(INSIDE["lat"]),
            "long": str(INSIDE["lon"]),
            "description": "Dépôt",
            "media_url": "https://traceur.example/pixel.png",
        },
    )
    record(
        "7.4",
        "Open311 media_url vers un site extérieur",
        f"{res.status_code} {res.get_data(as_text=True)[:100]}",
    )
    assert res.status_code == 400 and "media_url" in res.get_data(as_text=True)


def test_confidential_layer_paths(audit_app: Flask) -> None:
    """The 20+ paths of the first audit, anonymous and as lecteur: still nothing."""
    paths = [
        "/api/layers/videoprotection/features",
        "/api/layers/Videoprotection/features",
        "/api/layers/videoprotection/stats",
        "/api/layers/videoprotection/export.csv",
        "/api/layers/videoprotection/export.geojson",
        "/api/layers/videoprotection/features?cluster=1",
        "/ogc/collections/videoprotection",
        "/ogc/collections/videoprotection/",
        "/ogc/collections/VIDEOPROTECTION/items",
        "/ogc/collections/videoprotection/items",
        "/ogc/collections/videoprotection/items?f=json&limit=1000",
        "/open311/v2/requests.json?service_code=videoprotection",
        "/api/lookup?layer=videoprotection&lon=2.39&lat=48.86",
        "/api/layers/analyses/features?source_layer=videoprotection",
    ]
    leaks = []
    for who in ("anonyme", "lecteur"):
        client = (
            audit_app.test_client() if who == "anonyme" else login(audit_app, "lecteur1", address="10.0.7.5")
        )
        for path in paths:
            res = client.get(path)
            body = res.get_data(as_text=True).lower()
            if res.status_code == 200 and (
                "camera" in body or "caméra" in body or '"videoprotection"' in body
            ):
                leaks.append(f"{who} {path}")
    record(
        "7.5",
        f"{len(paths)} chemins vers la vidéoprotection, anonyme et lecteur",
        "aucune donnée" if not leaks else "FUITE : " + ", ".join(leaks),
    )
    assert leaks == []


# -- 6. stored breakage -----------------------------------------------------------------------------
def test_hostile_description_stays_data_in_walk_page(audit_app: Flask) -> None:
    """The browser half (map and offline mode kept) is test_hostile_texts.py."""
    hostile = "<!--<script> </script><img src=x onerror=alert(1)> \u2028fin"
    later, lon, lat = audit_app.config["NEXT_WALK"]
    tech = login(audit_app, "techA", address="10.0.6.1")
    res = tech.post(
        "/api/observations",
        json={
            "lon": lon,
            "lat": lat,
            "theme": "propreté",
            "description": hostile,
            "walk_id": audit_app.config["WALK_UID"],
        },
    )
    assert res.status_code == 201, res.get_data(as_text=True)
    html = tech.get(f"/diagnostic/{later}").get_data(as_text=True)
    found = re.search(r'<script id="dg-config" type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert found is not None
    raw = found.group(1)
    config = json.loads(raw)
    kept = any(item["description"] == hostile for item in config["suivi"])
    record(
        "6.1",
        "description « <!--<script> … » d'un constat, puis page de la marche du quartier",
        "données intactes dans le JSON de la page, aucun balisage actif"
        if kept and "<" not in raw
        else "CASSÉ",
    )
    assert kept and "<" not in raw


def test_protected_photo_is_not_publicly_cached(audit_app: Flask) -> None:
    import io

    from tests.webmap.security._fixtures import png

    tech = login(audit_app, "techA", address="10.0.7.8")
    created = tech.post(
        "/api/observations",
        data={
            **{k: str(v) for k, v in INSIDE.items()},
            "theme": "voirie",
            "photos": (io.BytesIO(png()), "trou.png"),
        },
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    name = tech.get(f"/api/observations/{created.json['uid']}").json["properties"]["photos"][0]
    res = tech.get(f"/photos/{name}")
    res.close()
    anon = audit_app.test_client().get(f"/photos/{name}")
    record(
        "7.6",
        "photo protégée : en-tête de cache, et lecture anonyme",
        f"{res.status_code} Cache-Control: {res.headers.get('Cache-Control')} ; anonyme → {anon.status_code}",
    )
    assert res.status_code == 200 and "private" in res.headers["Cache-Control"]
    assert "public" not in res.headers["Cache-Control"] and anon.status_code == 401
