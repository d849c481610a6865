"""Hostile texts in every text field the pages show: nothing runs, nothing breaks.

A copy of the demo store gets, in every free-text column of every layer and child table the
pages show (observations, their history, points noirs and their events, bacs, cameras,
NPNRU works, walks and their stops, quartier names, streets, buildings…), the text of
:data:`HOSTILE` appended: an HTML comment opener before a script, a closing ``</script>``, an
``onerror`` image, the JavaScript line separators U+2028/U+2029 and quotes. A real chromium
then loads every page as an administrator: no script of the data runs (``window.__pwn``), the
console shows no error (a CSP violation would be one), and the walk page keeps its map and
its offline mode. A template scan forbids ``|safe``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from layers.schema import LAYERS
from layers.settings import REPO_ROOT
from layers.store._gpkg import register_functions
from layers.store._records import child_table
from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap._browser import chrome, log_in, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.conftest import client_logged_as
from tests.webmap.test_browser import refresh_count, wait_ready
from webmap import users
from webmap.app import create_app
from webmap.sessions import session_fields

OFFLINE_READY = "return window.diagnosticOffline && window.diagnosticOffline.ready()"
TEMPLATES = REPO_ROOT / "webmap" / "templates"
PASSWORD = "mot-de-passe-hostile"
HOSTILE = (' <!--<script> </script><script>window.__pwn=1</script> <img src=x onerror="window.__pwn=1">'
           ' \u2028ligne\u2029paragraphe "guillemets" \'apostrophe\' & esperluette')
#: Text columns that are identifiers, codes or join keys (changing them changes what the
#: records are, not how they are shown).
KEYS = {"uid", "source_dataset", "source_id", "walk_id", "previous_walk", "code", "quartier", "run_id",
        "source_layer", "street_code", "insee", "postcode", "communes", "category", "parent_uid",
        "status", "theme", "source", "changed_at", "kind", "street_type", "domanialite", "direction",
        "waste_type", "to_check", "suffix", "commune", "street", "created_by", "updated_by"}


def test_no_template_marks_data_safe() -> None:
    """No template turns escaping off: ``|safe``, ``Markup`` or ``autoescape false``."""
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"\|\s*safe\b|Markup\(|autoescape\s+false", text):
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert len(list(TEMPLATES.rglob("*.html"))) > 15
    assert offenders == []


def _text_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    cols = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    return [c[1] for c in cols if c[1] not in KEYS and str(c[2]).upper() in ("TEXT", "")
            and not c[1].endswith(("_at", "_date", "_id")) and c[1] not in ("geom", "geometry", "photos")]


def poison(path: Path) -> dict[str, list[str]]:
    """Append :data:`HOSTILE` to every free-text column of every layer table; return what changed."""
    done: dict[str, list[str]] = {}
    conn = sqlite3.connect(path)
    register_functions(conn)  # the R-tree triggers of the GeoPackage call ST_IsEmpty…
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for schema in LAYERS.values():
            names = [schema.name] + [child_table(schema, c) for c in schema.children]
            for table in (t for t in names if t in tables):
                cols = _text_columns(conn, table)
                for col in cols:
                    conn.execute(f'UPDATE "{table}" SET "{col}" = COALESCE("{col}", \'\') || ? ', (HOSTILE,))
                if cols:
                    done[table] = cols
        conn.commit()
    finally:
        conn.close()
    return done


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path = demo_store_copy(tmp_path_factory, "hostile")
    folder = path.parent
    cache = folder / "cache"
    app = create_app({"STORE": str(path), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-hostile", "BASEMAP": "aucun", "WALK_CACHE_DIR": str(cache)})
    users.add_user(app.config["USERS_DB"], "admin-hostile", PASSWORD, role="administrateur",
                   organisation="ville")
    first = plan_mosson_walk(path, "2026-03-03T10:00", cache_dir=cache)
    # a constat of the first walk (followed up on the second one's page), and the walk recorded
    client = client_logged_as(app, "admin-hostile", token="jeton-hostile")
    route = client.get(f"/diagnostic/{first.uid}/route.geojson").get_json(force=True)
    stop = next(f for f in route["features"] if f["properties"].get("kind") == "arret")
    lon, lat = stop["geometry"]["coordinates"]
    created = client.post("/api/observations", data={
        "lon": str(lon), "lat": str(lat), "theme": "encombrants", "walk_id": first.uid,
        "description": "Canapé", "observed_at": "2026-03-03T10:20", "pilote": "Ville — propreté",
        "partenaires": "ACM"})
    assert created.status_code == 201, created.get_json()
    assert client.patch(f"/api/observations/{created.get_json()['uid']}",
                        json={"status": "transmis", "comment": "Transmis"}).status_code == 200
    assert client.post(f"/diagnostic/{first.uid}/realise",
                       data={"participants": "Ville, bailleur", "habitants": "4"}).status_code == 302
    second = plan_mosson_walk(path, "2026-06-03T10:00", cache_dir=cache)
    changed = poison(path)
    app.config.update(WALKS=(first.uid, second.uid), POISONED=changed, CONSTAT=created.get_json()["uid"],
                      CONSTAT_AT=(lat, lon))
    return app


@pytest.fixture(scope="module")
def base_url(hostile_app: Flask) -> Iterator[str]:
    with serve_in_thread(hostile_app) as base:
        yield base


def test_store_is_poisoned_everywhere(hostile_app: Flask) -> None:
    changed = hostile_app.config["POISONED"]
    for table, cols in {"observations": {"description", "address", "pilote", "partenaires", "subtheme"},
                        "observations_historique": {"comment"}, "points_noirs": {"name", "description"},
                        "bacs": {"name", "address"}, "diagnostics": {"name", "organisations", "notes"},
                        "diagnostics_etapes": {"name", "address"}, "perimetres": {"name"}}.items():
        assert cols <= set(changed.get(table, ())), (table, changed.get(table))
    _first, second = hostile_app.config["WALKS"]
    client = hostile_app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields("admin-hostile", hostile_app.config["USERS_DB"]))
    html = client.get(f"/diagnostic/{second}").get_data(as_text=True)
    assert "<script>window.__pwn" not in html and "<img src=x" not in html and "<!--<script>" not in html
    page_json = html.split('<script id="dg-config"')[1].split("</script>")[0]
    assert "\u2028" not in page_json and "\\u2028" in page_json  # escaped in the JSON


def console_errors(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def no_pwn(drv: Any, url: str) -> None:
    assert drv.execute_script("return typeof window.__pwn") == "undefined", url
    assert console_errors(drv) == [], url


def login(drv: Any, base: str) -> None:
    log_in(drv, base, "admin-hostile", PASSWORD, then="/diagnostic/")


def walk_page_intact(drv: Any, base: str, uid: str) -> None:
    from selenium.webdriver.common.by import By

    drv.get(f"{base}/diagnostic/{uid}")
    wait_for(lambda: drv.execute_script(OFFLINE_READY), "mode hors connexion prêt (SW enregistré)")
    assert drv.execute_script("return !!navigator.serviceWorker.controller")
    assert drv.execute_script(
        "return document.querySelectorAll('#dg-carte path.leaflet-interactive').length") > 0  # route drawn
    assert drv.find_elements(By.CSS_SELECTOR, "#dg-carte .leaflet-pane")
    assert drv.find_elements(By.CSS_SELECTOR, "#dg-carte .dg-numero")
    name = text_of(drv.find_element(By.ID, "dg-nom"))
    assert "</script><script>window.__pwn=1</script>" in name  # shown as text
    steps = text_of(drv.find_element(By.ID, "dg-etapes"))
    assert '<img src=x onerror="window.__pwn=1">' in steps
    # the markers' popups: open each, their text shows the markup as text
    opened = drv.execute_script(
        "var n = 0; document.querySelectorAll('#dg-carte .dg-numero')"
        ".forEach(function (m) { m.click(); n++; }); return n;")
    assert opened > 0
    assert "<!--<script>" in text_of(drv.find_element(By.CSS_SELECTOR, "#dg-carte .leaflet-popup-content"))
    drv.execute_script("window.scrollTo(0, 0)")


@requires_chromium
@pytest.mark.browser
def test_every_page_with_hostile_texts(hostile_app: Flask, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    first, second = hostile_app.config["WALKS"]
    constat = hostile_app.config["CONSTAT"]
    drv = chrome(window="1400,900")
    try:
        drv.get(f"{base_url}/connexion")
        no_pwn(drv, "/connexion")
        login(drv, base_url)
        assert "Diagnostic" in text_of(drv.find_element(By.CSS_SELECTOR, ".dg-liste"))
        assert "</script><script>" in text_of(drv.find_element(By.CSS_SELECTOR, ".dg-liste"))
        no_pwn(drv, "/diagnostic/")
        for uid in (second, first):
            walk_page_intact(drv, base_url, uid)
            no_pwn(drv, f"/diagnostic/{uid}")
        drv.get(f"{base_url}/diagnostic/{second}")
        wait_for(lambda: drv.execute_script(OFFLINE_READY), "page du second parcours")
        assert drv.find_elements(By.CSS_SELECTOR, ".dg-suivi"), "the first walk's constat is followed up"
        shot(drv, "securite-textes-hostiles-parcours-bureau")

        # the map: records listed beside it, a constat's popup opened
        drv.get(f"{base_url}/")
        wait_ready(drv)
        since = refresh_count(drv)
        drv.execute_script("window.qpvCarte.map.setView(arguments[0], 18)",
                           list(hostile_app.config["CONSTAT_AT"]))
        wait_ready(drv, since)
        # the list beside the map, in full page
        drv.find_element(By.ID, "lien-liste").click()
        wait_for(lambda: "liste-pleine" in drv.find_element(By.TAG_NAME, "body").get_attribute("class"),
                 "liste plein écran")
        rows = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, '[data-couche="observations"] tbody tr'),
                        "lignes de la liste")
        assert any("<!--<script>" in text_of(r) for r in rows)
        no_pwn(drv, "/#liste")
        shot(drv, "securite-textes-hostiles-liste")
        # every record carries the hostile texts: open the fiche of the first one in the view
        shown = drv.execute_script(
            "return window.qpvCarte.viewData('observations').records[0].properties.uid")
        drv.execute_script("window.qpvCarte.openRecord('observations', arguments[0])", shown)
        fiche = wait_for(lambda: drv.find_elements(
            By.CSS_SELECTOR, f'.leaflet-popup .fiche[data-uid="{shown}"]'), "fiche du constat")[0]
        wait_for(lambda: "window.__pwn=1" in text_of(fiche), "texte hostile affiché comme texte")
        wait_for(lambda: text_of(drv.find_element(By.CSS_SELECTOR, ".leaflet-popup .historique-liste")),
                 "historique")
        shot(drv, "securite-textes-hostiles-carte")
        no_pwn(drv, "/ (fiche)")

        # OGC API pages in HTML, every collection and one item of each
        drv.get(f"{base_url}/ogc/collections?f=html")
        cids = [a.text for a in drv.find_elements(By.CSS_SELECTOR, "table a")]
        assert "observations" in cids and "diagnostics" in cids
        no_pwn(drv, "/ogc/collections")
        for path in ("/ogc/?f=html", "/ogc/conformance?f=html"):
            drv.get(base_url + path)
            no_pwn(drv, path)
        for cid in cids:
            drv.get(f"{base_url}/ogc/collections/{cid}?f=html")
            no_pwn(drv, cid)
            drv.get(f"{base_url}/ogc/collections/{cid}/items?f=html&limit=20")
            no_pwn(drv, f"{cid} items")
            items = drv.find_elements(By.CSS_SELECTOR, "table tr td:first-child a")
            if items:
                items[0].click()
                no_pwn(drv, f"{cid} item")
        drv.get(f"{base_url}/ogc/collections/observations/items/{constat}?f=html")
        assert "<!--<script>" in text_of(drv.find_element(By.TAG_NAME, "body"))
        no_pwn(drv, "item observations")
    finally:
        drv.quit()


@requires_chromium
@pytest.mark.browser
def test_walk_page_on_a_phone(hostile_app: Flask, base_url: str) -> None:
    _first, second = hostile_app.config["WALKS"]
    drv = chrome(window="390,844")
    try:
        login(drv, base_url)
        walk_page_intact(drv, base_url, second)
        no_pwn(drv, "parcours (téléphone)")
        drv.execute_script("document.querySelectorAll('.leaflet-popup-close-button').forEach(b => b.click())")
        shot(drv, "securite-textes-hostiles-parcours-390")
    finally:
        drv.quit()
