"""The diagnostic-walk pages: roles, exports, service worker, and offline capture in a real browser.

The app serves a copy of the demo store (real Montpellier streets, simulated priorities)
holding one planned walk in Mosson. The browser test records constats with the network
cut, then checks that the sync stores each of them exactly once — even when the server's
first answer is lost. Screenshots land in ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from geo.walks.export import read_gpx
from geo.walks.model import WalkOptions
from layers.store import open_store
from layers.walks import WalkRequest, plan_walk
from tests.walkdemo import MOSSON, MOSSON_START, demo_store_copy
from tests.webmap._browser import chrome, png_bytes, requires_chromium, shot, submit_login, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.conftest import client_logged_as
from webmap import access, users
from webmap.app import create_app
from webmap.sessions import session_fields

PASSWORD = "mot-de-passe-diagnostic"
LOGINS = {"lecteur": "lucie", "technicien": "tom", "administrateur": "alix"}


@pytest.fixture(scope="module")
def walk_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path = demo_store_copy(tmp_path_factory, "walkweb")
    folder = path.parent
    store = open_store(path)
    try:
        request = WalkRequest(quartier=MOSSON, start=f"{MOSSON_START[0]},{MOSSON_START[1]}",
                              walk_date="2026-05-12T14:00",
                              options=WalkOptions(budget_min=60, time_limit_s=1.0), organisation="ville")
        plan = plan_walk(store, request, cache_dir=folder / "cache")[0]
    finally:
        store.close()
    app = create_app({"STORE": str(path), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-walk", "BASEMAP": "aucun", "WALK_CACHE_DIR": str(folder / "cache")})
    app.config["WALK_UID"] = plan.uid
    for role, login_name in LOGINS.items():
        users.add_user(app.config["USERS_DB"], login_name, PASSWORD, role=role, organisation="ville")
    return app


@pytest.fixture(scope="module")
def uid(walk_app: Flask) -> str:
    return str(walk_app.config["WALK_UID"])


def client_as(app: Flask, role: str | None) -> FlaskClient:
    if role is None:
        return app.test_client()
    return client_logged_as(app, LOGINS[role], token=f"jeton-{role}")


def page_config(html: str) -> dict[str, Any]:
    start = html.index('<script id="dg-config" type="application/json">') + len(
        '<script id="dg-config" type="application/json">')
    return dict(json.loads(html[start:html.index("</script>", start)]))


def test_anonymous_is_sent_to_login(walk_app: Flask, uid: str) -> None:
    anon = client_as(walk_app, None)
    for path in ("/diagnostic/", f"/diagnostic/{uid}"):
        r = anon.get(path)
        assert r.status_code == 302 and r.headers["Location"] == f"/connexion?suivant={path}"
    assert anon.get(f"/diagnostic/{uid}/route.gpx").status_code == 401
    assert anon.get(f"/diagnostic/{uid}/feuille.pdf").status_code == 401
    assert access.unguarded_endpoints(walk_app, ["diagnostic"]) == []


@pytest.mark.parametrize("role", ["lecteur", "technicien", "administrateur"])
def test_walks_visible_to_accounts(walk_app: Flask, uid: str, role: str) -> None:
    client = client_as(walk_app, role)
    listing = client.get("/diagnostic/")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert "Diagnostic Mosson du 12/05/2026" in text and f"/diagnostic/{uid}" in text
    page = client.get(f"/diagnostic/{uid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    cfg = page_config(html)
    assert cfg["walk"]["uid"] == uid and cfg["route"]["features"][0]["geometry"]["type"] == "LineString"
    assert len(cfg["route"]["features"]) > 3 and "propreté" in cfg["themes"]
    assert cfg["canRecord"] is (role != "lecteur")
    assert ('id="dg-form"' in html) is (role != "lecteur")
    assert "/static/vendor/leaflet/leaflet.js" in html and "https://" not in html  # no CDN


def test_reader_cannot_record(walk_app: Flask, uid: str) -> None:
    reader = client_as(walk_app, "lecteur")
    assert "Consultation seule" in reader.get(f"/diagnostic/{uid}").get_data(as_text=True)
    r = reader.post("/api/observations", data={"lon": "3.82", "lat": "43.632", "theme": "propreté",
                                               "walk_id": uid, "uid": "lecteur-essai-1"})
    assert r.status_code == 403
    r = reader.post(f"/diagnostic/{uid}/realise", data={"participants": "Ville", "habitants": "3"})
    assert r.status_code == 403


def test_exports_and_service_worker(walk_app: Flask, uid: str) -> None:
    tech = client_as(walk_app, "technicien")
    geo = tech.get(f"/diagnostic/{uid}/route.geojson")
    assert geo.status_code == 200 and geo.content_type == "application/geo+json"
    data = geo.get_json(force=True)
    assert data["properties"]["uid"] == uid
    track, waypoints = read_gpx(tech.get(f"/diagnostic/{uid}/route.gpx").get_data(as_text=True))
    assert len(track) > 10 and len(waypoints) == len(data["features"]) - 1
    assert track[0] == pytest.approx(track[-1])  # a loop
    for name in ("feuille.pdf", "compte-rendu.pdf"):
        r = tech.get(f"/diagnostic/{uid}/{name}")
        assert r.status_code == 200 and r.content_type == "application/pdf" and r.data.startswith(b"%PDF")
    sw = tech.get("/diagnostic/sw.js")
    assert sw.status_code == 200 and sw.headers["Service-Worker-Allowed"] == "/diagnostic/"
    assert sw.mimetype == "text/javascript" and "caches.open" in sw.get_data(as_text=True)
    assert tech.get("/diagnostic/inconnu").status_code == 404


def test_record_walk_done_and_idempotent_posts(walk_app: Flask, uid: str) -> None:
    tech = client_as(walk_app, "technicien")
    form = {"lon": "3.8195", "lat": "43.6318", "theme": "encombrants", "walk_id": uid,
            "uid": "client-0000-essai", "description": "Canapé sur le trottoir"}
    assert tech.post("/api/observations", data=form).status_code == 201
    assert tech.post("/api/observations", data=form).status_code == 200  # the retry adds nothing
    no_token = walk_app.test_client()
    with no_token.session_transaction() as sess:
        sess.update(session_fields(LOGINS["technicien"], walk_app.config["USERS_DB"]))
        sess["csrf_token"] = "autre"
    assert no_token.post(f"/diagnostic/{uid}/realise", data={"participants": "Ville"}).status_code == 400
    empty = tech.post(f"/diagnostic/{uid}/realise", data={"participants": "", "habitants": "2"})
    assert empty.status_code == 400
    r = tech.post(f"/diagnostic/{uid}/realise", data={"participants": "Ville, ACM Habitat", "habitants": "7"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/diagnostic/{uid}")
    store = open_store(walk_app.config["STORE"], create=False)
    try:
        row = store.get("diagnostics", uid).iloc[0]
        mine = store.read("observations", where={"walk_id": uid})
    finally:
        store.close()
    assert row["status"] == "réalisé" and row["n_habitants"] == 7
    assert row["organisations"] == "Ville, ACM Habitat"
    assert mine["uid"].tolist() == ["client-0000-essai"]


# --------------------------------------------------------------------------- real browser


class Switch:
    """WSGI wrapper that plays a dead server (503) or loses the answer of the next POST."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.down = False
        self.lose_next_post = False
        self.posts: list[int] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.down:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"hors service"]
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/api/observations":
            status: list[str] = []

            def capture(s: str, headers: Any, exc: Any = None) -> Any:
                status.append(s)
                return start_response(s, headers, exc) if not self.lose_next_post else (lambda _b: None)

            if self.lose_next_post:
                body = b"".join(self.app(environ, capture))  # stored on the server...
                self.posts.append(int(status[0][:3]))
                self.lose_next_post = False
                del body
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"reponse perdue"]  # ...but the answer never reaches the phone
            out = self.app(environ, capture)
            self.posts.append(int(status[0][:3]) if status else 0)
            return out
        return self.app(environ, start_response)


def png_file(folder: Path) -> Path:
    path = folder / "photo-constat.png"
    path.write_bytes(png_bytes(20, 12))
    return path


@pytest.fixture(scope="module")
def served(walk_app: Flask) -> Iterator[tuple[str, Switch]]:
    switch = Switch(walk_app)
    with serve_in_thread(switch) as base:
        yield base, switch


@pytest.mark.browser
@requires_chromium
def test_offline_capture_then_sync_once(walk_app: Flask, uid: str, served: tuple[str, Switch],
                                        tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, switch = served
    drv = chrome(window="430,1400")
    try:
        drv.get(f"{base}/diagnostic/{uid}")  # anonymous: sent to the login page
        assert "/connexion" in drv.current_url
        submit_login(drv, LOGINS["technicien"], PASSWORD, then=f"/diagnostic/{uid}")
        wait_for(lambda: drv.execute_script(
            "return window.diagnosticOffline && window.diagnosticOffline.ready()"),
            "service worker installé et données en cache")
        assert drv.execute_script(
            "return document.querySelectorAll('#dg-carte path.leaflet-interactive').length") > 0
        assert drv.execute_script("return !!navigator.serviceWorker.controller") is True
        # one numbered marker per stop (never for a pedestrian link), a grey cross per unserved stop
        numbered, stops, crosses, unserved = drv.execute_script(
            "var f = JSON.parse(document.getElementById('dg-config').textContent).route.features;"
            "return [document.querySelectorAll('#dg-carte .dg-numero').length,"
            " f.filter(function (x) { return x.properties.kind === 'arret'; }).length,"
            " document.querySelectorAll('#dg-carte .dg-non-desservi').length,"
            " (f[0].properties.non_desservis || []).length];")
        assert numbered == stops > 0 and crosses == unserved
        wait_for(lambda: "synchronisés" in text_of(drv.find_element(By.ID, "dg-file")), "file vide")
        shot(drv, "diagnostic-en-ligne")

        # network cut: the browser is offline and the server unreachable
        drv.execute_cdp_cmd("Network.enable", {})
        drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        switch.down = True
        drv.refresh()  # served by the service worker
        wait_for(lambda: drv.execute_script("return !!document.getElementById('dg-form')"),
                 "page hors connexion")
        assert text_of(drv.find_element(By.ID, "dg-nom")).startswith("Diagnostic Mosson")
        wait_for(lambda: drv.execute_script(
            "return document.querySelectorAll('#dg-carte path.leaflet-interactive').length > 0"),
            "tracé dessiné hors connexion")
        assert drv.execute_script("return navigator.onLine") is False
        assert "Hors ligne" in text_of(drv.find_element(By.ID, "dg-reseau"))

        # constat 1: at stop 1, no photo
        Select(drv.find_element(By.ID, "dg-theme")).select_by_value("encombrants")
        drv.find_element(By.ID, "dg-description").send_keys("Matelas abandonné au pied de l'immeuble")
        Select(drv.find_element(By.ID, "dg-etape")).select_by_value("1")
        drv.find_element(By.ID, "dg-enregistrer").click()
        wait_for(lambda: "1 constat en attente" in text_of(drv.find_element(By.ID, "dg-file")),
                 "premier constat")
        # constat 2: a tap on the map, with a photo
        Select(drv.find_element(By.ID, "dg-theme")).select_by_value("éclairage")
        drv.find_element(By.ID, "dg-description").send_keys("Candélabre éteint")
        carte = drv.find_element(By.ID, "dg-carte")
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'})", carte)
        webdriver.ActionChains(drv).move_to_element_with_offset(carte, 15, 10).click().perform()
        wait_for(lambda: "Position : 43." in text_of(drv.find_element(By.ID, "dg-position")),
                 "position touchée")
        drv.find_element(By.ID, "dg-photos").send_keys(str(png_file(tmp_path)))
        drv.find_element(By.ID, "dg-enregistrer").click()
        wait_for(lambda: "2 constats en attente de synchronisation"
                 in text_of(drv.find_element(By.ID, "dg-file")), "deux constats en attente")
        assert "1 photo" in text_of(drv.find_element(By.ID, "dg-message"))
        assert drv.execute_script("return document.querySelectorAll('#dg-carte path[stroke=\"#b34000\"]')"
                                  ".length") == 2  # the waiting constats are drawn on the map
        drv.execute_script("window.scrollTo(0, 0)")
        shot(drv, "diagnostic-hors-ligne")
        assert switch.posts == []  # nothing left the phone

        # network back; the answer to the first upload is lost: the retry must not duplicate it
        switch.down = False
        switch.lose_next_post = True
        drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        wait_for(lambda: "Tous les constats sont synchronisés" in text_of(drv.find_element(By.ID, "dg-file")),
                 "synchronisation", timeout=90)  # a lost answer, then a retry after 2 s or more
        drv.execute_script("window.scrollTo(0, 0)")
        shot(drv, "diagnostic-synchronise")
        assert switch.posts[0] == 201 and sorted(switch.posts[1:]) == [200, 201]

        store = open_store(walk_app.config["STORE"], create=False)
        try:
            mine = store.read("observations", where={"walk_id": uid})
        finally:
            store.close()
        browser_rows = mine[mine["description"].isin(["Matelas abandonné au pied de l'immeuble",
                                                      "Candélabre éteint"])]
        assert len(browser_rows) == 2 and browser_rows["uid"].is_unique
        assert set(browser_rows["source"]) == {"diagnostic en marchant"}
        photos = browser_rows.set_index("theme")["photos"]
        assert photos.get("encombrants") is None
        names = json.loads(photos["éclairage"])
        assert len(names) == 1
        saved = Path(walk_app.config["PHOTOS_DIR"]) / names[0]
        assert saved.read_bytes() == png_file(tmp_path).read_bytes()
        # the first constat is at stop 1 (within a metre), the second where the map was tapped
        stop1 = store_stop(walk_app, uid)
        first = browser_rows[browser_rows["theme"] == "encombrants"].geometry.iloc[0]
        assert first.distance(stop1) < 1.0

        # a second sync attempt, and a replay of an upload, add nothing
        result = drv.execute_async_script(
            "const done = arguments[arguments.length - 1]; window.diagnosticOffline.sync().then(done);")
        assert result == {"sent": 0}
        replay = drv.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/session').then(r => r.json()).then(s => {"
            "  const f = new FormData(); f.append('uid', arguments[0]); f.append('walk_id', arguments[1]);"
            "  f.append('lon', '3.82'); f.append('lat', '43.632'); f.append('theme', 'propreté');"
            "  return fetch('/api/observations',"
            "               {method: 'POST', body: f, headers: {'X-CSRFToken': s.csrf_token}});"
            "}).then(r => done(r.status));", browser_rows["uid"].iloc[0], uid)
        assert replay == 200
        store = open_store(walk_app.config["STORE"], create=False)
        try:
            assert store.count("observations", where={"walk_id": uid}) == len(mine)
        finally:
            store.close()
        errors = [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"
                  and not any(k in e["message"] for k in ("503", "ERR_INTERNET_DISCONNECTED",
                                                          "favicon.ico"))]  # login page's icon
        assert errors == []
    finally:
        drv.quit()


def store_stop(app: Flask, uid: str) -> Any:
    from shapely.geometry import Point

    store = open_store(app.config["STORE"], create=False)
    try:
        etapes = store.read_children("diagnostics", "etapes", parent_uids=[uid])
    finally:
        store.close()
    first = etapes.sort_values("rank").iloc[0]
    return Point(first["x"], first["y"])


def test_walk_name_with_markup_stays_text(walk_app: Flask) -> None:
    """A walk named with markup is shown as text: the page's JSON escapes it, nothing runs."""
    hostile = "</script><script>alert('x')</script> & <b>Mosson</b>"
    store = open_store(walk_app.config["STORE"])
    try:
        request = WalkRequest(quartier=MOSSON, start=f"{MOSSON_START[0]},{MOSSON_START[1]}", name=hostile,
                              walk_date="2026-05-13T14:00",
                              options=WalkOptions(budget_min=30, time_limit_s=0.5))
        plan = plan_walk(store, request, cache_dir=walk_app.config["WALK_CACHE_DIR"])[0]
    finally:
        store.close()
    html = client_as(walk_app, "technicien").get(f"/diagnostic/{plan.uid}").get_data(as_text=True)
    assert "<script>alert" not in html and "<b>Mosson</b>" not in html
    assert page_config(html)["walk"]["name"] == hostile


def test_walk_page_lists_unserved_stops(walk_app: Flask) -> None:
    """A stop too far from the streets is shown on the page as « non desservi », not as a step."""
    store = open_store(walk_app.config["STORE"])
    try:
        request = WalkRequest(quartier=MOSSON, start=f"{MOSSON_START[0]},{MOSSON_START[1]}",
                              walk_date="2026-05-13T14:00",
                              options=WalkOptions(budget_min=60, time_limit_s=1.0, max_stop_distance_m=3.0))
        plan = plan_walk(store, request, cache_dir=Path(walk_app.config["WALK_CACHE_DIR"]))[0]
    finally:
        store.close()
    unserved = plan.route.unserved
    assert unserved, "some priority stops lie more than 3 m from a street"
    html = client_as(walk_app, "lecteur").get(f"/diagnostic/{plan.uid}").get_data(as_text=True)
    assert f"Arrêts non desservis ({len(unserved)})" in html
    section = html[html.index('id="dg-non-desservis"'):]
    from markupsafe import escape

    from geo.walks.export import unserved_text

    for u in unserved:
        assert str(escape(unserved_text(u))) in section
        assert "non desservi (à " in unserved_text(u) or u.get("disconnected")
    steps = html[html.index('id="dg-etapes"'):html.index('id="dg-non-desservis"')]
    assert steps.count("<li data-rang=") == len(plan.route.stops)
