"""The map page: rendered in French, no CDN, every asset served by the app itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.schema import LAYERS
from webmap import views

JS = Path(views.__file__).parent / "static" / "js" / "carte.js"


class _Assets(HTMLParser):
    """Collects the URLs of scripts, style sheets and the page config."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.links: list[str] = []
        self._in_config = False
        self.config_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"] or "")
        if tag == "script" and a.get("id") == "carte-config":
            self._in_config = True
        if tag == "link" and a.get("href"):
            (self.styles if a.get("rel") == "stylesheet" else self.links).append(a["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_config = False

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config_text += data


def _page(client: FlaskClient) -> tuple[str, _Assets]:
    resp = client.get("/")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    html = resp.get_data(as_text=True)
    parser = _Assets()
    parser.feed(html)
    return html, parser


def test_page_renders_in_french(anon: FlaskClient) -> None:
    html, _ = _page(anon)
    assert '<html lang="fr">' in html
    for text in ("Filtres", "Toute la période", "Thème", "Statut", "Origine", "Quartier",
                 "Réelles seulement", "Carte de chaleur", "Dans la vue", "Exporter la sélection",
                 ">Liste<", "Plein écran", "Se connecter", "Ajouter un constat"):
        assert text in html, text
    assert 'href="/connexion?suivant=/"' in html


def test_no_cdn_everything_local(anon: FlaskClient) -> None:
    html, assets = _page(anon)
    assert assets.scripts and assets.styles
    for url in assets.scripts + assets.styles + assets.links:
        assert url.startswith(("/", "data:")), f"ressource externe : {url}"
    lowered = html.lower()
    for cdn in ("unpkg", "jsdelivr", "cdnjs", "googleapis", "cdn.", "leafletjs.com"):
        assert cdn not in lowered, cdn
    assert "/static/vendor/leaflet/leaflet.js" in assets.scripts
    assert "/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in assets.scripts
    assert "/static/vendor/leaflet.heat/leaflet-heat.js" in assets.scripts
    # the page's own scripts come after the libraries, carte.js first (the others extend it)
    own = [u for u in assets.scripts if u.startswith("/static/js/")]
    assert own.index("/static/js/fond.js") < own.index("/static/js/carte.js")
    after_fond = assets.scripts[assets.scripts.index("/static/js/fond.js"):]
    assert all(not u.startswith("/static/vendor/") for u in after_fond)


def test_static_assets_served(anon: FlaskClient) -> None:
    _, assets = _page(anon)
    for url in assets.scripts + assets.styles:
        resp = anon.get(url)
        assert resp.status_code == 200, url
        body = resp.get_data()
        assert len(body) > 200, url
        kind = resp.headers["Content-Type"]
        assert ("javascript" in kind) if url.endswith(".js") else ("text/css" in kind), (url, kind)
        resp.close()
    # Leaflet's own images, referenced by its CSS
    resp = anon.get("/static/vendor/leaflet/images/layers.png")
    assert resp.status_code == 200 and resp.get_data().startswith(b"\x89PNG")
    resp.close()


def test_page_config_from_settings_and_schema(app: Flask, anon: FlaskClient) -> None:
    _, assets = _page(anon)
    cfg = json.loads(assets.config_text)
    assert cfg["basemap"]["name"] == "plan-ign"
    assert cfg["basemap"]["url"].startswith("https://data.geopf.fr/wmts?")
    assert cfg["photos"] == {"max": app.config["MAX_PHOTOS"],
                             "types": ["image/jpeg", "image/png", "image/webp"],
                             "maxBytes": app.config["MAX_PHOTO_BYTES"]}
    waste = next(f for f in cfg["forms"]["evenements"] if f["name"] == "waste_type")
    expected = LAYERS["points_noirs"].child("evenements").field("waste_type").choices
    assert waste["choices"] == list(expected or ())
    fill = next(f for f in cfg["forms"]["releves"] if f["name"] == "fill_pct")
    assert (fill["minimum"], fill["maximum"], fill["required"]) == (0, 100, True)


def test_basemap_setting(app: Flask, anon: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert views.basemap_config("osm")["url"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert views.basemap_config("AUCUN")["url"] is None
    assert views.basemap_config(None)["name"] == "plan-ign"
    local = views.basemap_config("https://tuiles.intranet/{z}/{x}/{y}.png")
    assert local["name"] == "personnalise" and local["url"].startswith("https://tuiles.intranet/")
    assert views.basemap_config("google")["url"] is None  # unknown: no tiles, vector context
    monkeypatch.setitem(app.config, "BASEMAP", "aucun")
    html, assets = _page(anon)
    assert json.loads(assets.config_text)["basemap"]["url"] is None
    assert "http://" not in html and "https://" not in html


def test_list_view_anchor(anon: FlaskClient) -> None:
    resp = anon.get("/liste")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/#liste")
    html, _ = _page(anon)
    assert 'id="liste"' in html and 'href="/#liste"' in html


def test_missing_vendor_files_explained(anon: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "VENDOR_FILES", (*views.VENDOR_FILES, "vendor/absent/absent.js"))
    resp = anon.get("/")
    text = resp.get_data(as_text=True)
    assert resp.status_code == 503
    assert "npm run build" in text and "vendor/absent/absent.js" in text


@pytest.mark.skipif(shutil.which("node") is None, reason="node absent")
def test_script_parses() -> None:
    res = subprocess.run(["node", "--check", str(JS)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
