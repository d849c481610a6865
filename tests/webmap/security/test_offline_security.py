"""The offline walk page never outlives its session, and a queued constat keeps its author.

A real chromium on the real app (copy of the demo store, one planned walk in Mosson):

- a technician opens a walk page (kept for offline use), logs out, the server becomes
  unreachable: the walk page is not served from the cache (no form, no CSRF token);
- a constat typed by A waits on the phone; B logs in on the same phone: it is not sent
  under B's session, the page says it waits for A; A logs back in: it is sent, credited to A.

Offline is simulated as in ``tests/webmap/test_walks_web.py``: chromium's network
emulation plus a server that answers 503 to everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from layers.store import open_store
from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap._browser import chrome, log_in, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from webmap import users
from webmap.app import create_app

PASSWORD = "mot-de-passe-hors-ligne"
ACCOUNTS = {"techa": "ville", "techb": "bailleur"}
PAGES_CACHE = "qpv-diagnostic-pages-v2"

pytestmark = [pytest.mark.browser, requires_chromium]


class Switch:
    """WSGI wrapper: a dead server (503 to everything), or one refusing the constat uploads."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.down = False
        self.refuse_uploads = False
        self.uploads: list[int] = []  # status of every upload that reached the app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        upload = environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/api/observations"
        if self.down or (upload and self.refuse_uploads):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"hors service"]
        if not upload:
            return self.app(environ, start_response)
        status: list[str] = []

        def capture(s: str, headers: Any, exc: Any = None) -> Any:
            status.append(s)
            return start_response(s, headers, exc)

        out = self.app(environ, capture)
        self.uploads.append(int(status[0][:3]) if status else 0)
        return out


@pytest.fixture(scope="module")
def walk_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path = demo_store_copy(tmp_path_factory, "offline-security")
    folder = path.parent
    plan = plan_mosson_walk(path, "2026-06-02T09:30", cache_dir=folder / "cache")
    app = create_app({"STORE": str(path), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-hors-ligne", "BASEMAP": "aucun",
                      "WALK_CACHE_DIR": str(folder / "cache")})
    app.config["WALK_UID"] = plan.uid
    for login_name, organisation in ACCOUNTS.items():
        users.add_user(app.config["USERS_DB"], login_name, PASSWORD, role="technicien",
                       organisation=organisation)
    return app


@pytest.fixture(scope="module")
def served(walk_app: Flask) -> Iterator[tuple[str, Switch]]:
    switch = Switch(walk_app)
    with serve_in_thread(switch) as base:
        yield base, switch


def set_offline(drv: Any, switch: Switch, offline: bool) -> None:
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    switch.down = offline


def login(drv: Any, base: str, who: str, page: str) -> None:
    log_in(drv, base, who, PASSWORD, then=page)


def logout(drv: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    drv.get(f"{base}/connexion")
    drv.find_element(By.CSS_SELECTOR, "#form-deconnexion button[type=submit]").click()
    wait_for(lambda: drv.execute_script("return document.documentElement.dataset.cachePages === 'vide'"),
             "page de connexion sans session, cache des pages vidé")
    assert drv.find_elements(By.ID, "login")


def open_walk(drv: Any) -> None:
    from selenium.webdriver.common.by import By

    wait_for(lambda: drv.execute_script(
        "return window.diagnosticOffline && window.diagnosticOffline.ready()"),
        "service worker installé, page en cache")
    wait_for(lambda: drv.execute_script("return !!navigator.serviceWorker.controller"), "page contrôlée")
    wait_for(lambda: drv.find_element(By.ID, "dg-reseau").get_attribute("data-reseau") == "en-ligne",
             "serveur joint")


def cached_pages(drv: Any) -> list[str]:
    return list(drv.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "caches.has(arguments[0]).then(has => has ? caches.open(arguments[0]).then(c => c.keys())"
        "  .then(ks => done(ks.map(k => new URL(k.url).pathname))) : done([]));", PAGES_CACHE))


def test_logout_drops_the_offline_page(walk_app: Flask, served: tuple[str, Switch]) -> None:
    from selenium.webdriver.common.by import By

    base, switch = served
    page = f"/diagnostic/{walk_app.config['WALK_UID']}"
    drv = chrome(window="390,844")
    try:
        login(drv, base, "techa", page)
        open_walk(drv)
        token = drv.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute("content")
        assert token and page in cached_pages(drv)

        # the technician logs out (from the login page, not a walk page)
        logout(drv, base)
        assert cached_pages(drv) == []
        # the server becomes unreachable: the walk page is not served from the cache
        set_offline(drv, switch, True)
        drv.get(base + page)
        wait_for(lambda: drv.execute_script("return document.readyState === 'complete'"), "page chargée")
        html = drv.page_source
        assert "Page indisponible hors connexion" in text_of(drv.find_element(By.TAG_NAME, "body"))
        assert not drv.find_elements(By.ID, "dg-form") and not drv.find_elements(By.ID, "dg-config")
        assert token not in html and "csrf" not in html.lower()
        assert "Diagnostic" not in text_of(drv.find_element(By.TAG_NAME, "h1"))
        shot(drv, "securite-apres-deconnexion-390")
        drv.set_window_size(1400, 900)
        shot(drv, "securite-apres-deconnexion-bureau")
    finally:
        set_offline(drv, switch, False)
        drv.quit()


def test_queued_constat_waits_for_its_author(walk_app: Flask, served: tuple[str, Switch]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, switch = served
    uid = walk_app.config["WALK_UID"]
    page = f"/diagnostic/{uid}"
    description = "Encombrants devant le local vélo (saisi par techa)"
    drv = chrome(window="390,844")
    try:
        # A types a constat; its upload fails (server refusing uploads): it waits on the phone
        login(drv, base, "techa", page)
        open_walk(drv)
        switch.refuse_uploads = True
        Select(drv.find_element(By.ID, "dg-theme")).select_by_value("encombrants")
        drv.find_element(By.ID, "dg-description").send_keys(description)
        Select(drv.find_element(By.ID, "dg-etape")).select_by_value("1")
        drv.find_element(By.ID, "dg-enregistrer").click()
        wait_for(lambda: "1 constat en attente" in text_of(drv.find_element(By.ID, "dg-file")),
                 "constat en file")
        queued = drv.execute_async_script(
            "const done = arguments[arguments.length - 1]; window.diagnosticOffline.queue().then(done);")
        assert [(q["login"], q["description"]) for q in queued] == [("techa", description)]
        constat_uid = queued[0]["uid"]
        logout(drv, base)  # A leaves without having synced

        # B logs in on the same phone, the server accepts uploads again: A's constat stays
        switch.refuse_uploads = False
        before = list(switch.uploads)
        login(drv, base, "techb", page)
        open_walk(drv)
        waiting = wait_for(lambda: text_of(drv.find_element(By.ID, "dg-autres")),
                           "constats d'un autre compte")
        assert waiting == "1 constat saisi par techa attend sa reconnexion sur cet appareil."
        result = drv.execute_async_script(
            "const done = arguments[arguments.length - 1]; window.diagnosticOffline.sync().then(done);")
        assert result == {"sent": 0, "waiting": 1}
        assert switch.uploads == before  # nothing left the phone under B's session
        assert "Aucun constat de ce compte" in text_of(drv.find_element(By.ID, "dg-file"))
        drv.execute_script("window.scrollTo(0, 0)")
        shot(drv, "securite-constat-autre-compte-390")
        with open_store(walk_app.config["STORE"], create=False) as store:
            assert store.read("observations", where={"uid": constat_uid}).empty

        # A logs back in: the constat is sent, credited to A
        logout(drv, base)
        login(drv, base, "techa", page)
        wait_for(lambda: "Tous les constats sont synchronisés" in text_of(drv.find_element(By.ID, "dg-file")),
                 "synchronisation sous la session de techa")
        assert drv.find_element(By.ID, "dg-autres").get_attribute("hidden") is not None
        assert switch.uploads[len(before):] == [201]
        with open_store(walk_app.config["STORE"], create=False) as store:
            row = store.read("observations", where={"uid": constat_uid})
            history = store.history("observations", constat_uid)
        assert row["description"].tolist() == [description] and row["walk_id"].tolist() == [uid]
        actors = " ".join(str(v) for v in history.to_dict("records"))
        assert "techa" in actors and "techb" not in actors
        errors = [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"
                  and "503" not in e["message"]]
        assert errors == []
    finally:
        switch.refuse_uploads = False
        drv.quit()
