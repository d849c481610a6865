"""The walk page in the field, in a real browser at 390×844 and 1400×900, network cut.

The app serves a copy of the demo store with a planned Mosson walk. Its basemap is a
same-origin tile source drawn by this test from the store's real streets (``voies``,
SVG tiles), standing for the territory's basemap: the page must keep the tiles of the
walk's area in the service worker's cache. Then the server goes down (it answers 503 to
everything, as a broken intranet link would): the indicator must say « Hors ligne » with
the time of the last contact within one check period, the map must still draw the
streets from the cache (even after a reload), and the position (CDP geolocation
override) must be drawn on the route with the next stop and its distance along it.
Screenshots land in ``tests/artifacts/``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from flask import Flask, Response
from pyproj import Transformer

from layers.store import open_store
from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap._browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    chrome,
    emulate_screen,
    log_in,
    requires_chromium,
    shot,
    text_of,
    wait_for,
    wider_than_screen,
)
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import LOGINS, PASSWORD, build_app
from webmap.access import allow

TILES = "/tuiles-essai/{z}/{x}/{y}.svg"
PING_PERIOD_S = 20


def _tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator bounds (metres) of tile z/x/y."""
    half = math.pi * 6378137.0
    size = 2 * half / 2 ** z
    return -half + x * size, half - (y + 1) * size, -half + (x + 1) * size, half - y * size


class Streets:
    """SVG tiles of the store's streets around the walk (Web Mercator), counted as served."""

    def __init__(self, store_path: Path, bbox: tuple[float, float, float, float]) -> None:
        store = open_store(store_path)
        try:
            voies = store.read("voies", bbox=bbox)
        finally:
            store.close()
        self.lines = voies.to_crs("EPSG:3857").geometry.to_numpy()
        self.tree = shapely.STRtree(self.lines)
        self.served: list[str] = []

    def tile(self, z: int, x: int, y: int) -> Response:
        x0, y0, x1, y1 = _tile_bounds(z, x, y)
        k = 256 / (x1 - x0)
        paths = []
        for i in self.tree.query(shapely.box(x0, y0, x1, y1)):
            for part in shapely.get_parts(self.lines[i]):
                xy = np.asarray(part.coords)[:, :2]
                pts = " ".join(f"{(px - x0) * k:.1f},{(y1 - py) * k:.1f}" for px, py in xy)
                paths.append(f'<polyline points="{pts}"/>')
        self.served.append(f"{z}/{x}/{y}")
        body = ('<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">'
                '<rect width="256" height="256" fill="#f4f1ea"/><g fill="none" stroke="#9a9a9a" '
                f'stroke-width="{max(1.0, min(8.0, 2 ** (z - 15)))}" stroke-linecap="round">'
                + "".join(paths) + "</g></svg>")
        return Response(body, mimetype="image/svg+xml", headers={"Cache-Control": "no-cache"})


class Switch:
    """WSGI wrapper: ``down`` answers 503 to everything (the server unreachable)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.down = False
        self.refused: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.down:
            self.refused.append(environ["PATH_INFO"])
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"hors service"]
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Switch, Streets, str]]:
    path = demo_store_copy(tmp_path_factory, "parcoursterrain")
    plan = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=path.parent / "cache", organisation="ville")
    x0, y0, x1, y1 = plan.route.track.bounds
    streets = Streets(path, (x0 - 3000, y0 - 3000, x1 + 3000, y1 + 3000))
    app = build_app(path, path.parent / "instance", BASEMAP=TILES)
    app.add_url_rule("/tuiles-essai/<int:z>/<int:x>/<int:y>.svg", "tuiles_essai", allow()(streets.tile))
    switch = Switch(app)
    with serve_in_thread(switch) as base:
        yield base, switch, streets, plan.uid


def _login(drv: Any, base: str, uid: str) -> None:
    log_in(drv, base, LOGINS["technicien"], PASSWORD, then=f"/diagnostic/{uid}")
    wait_for(lambda: drv.execute_script("return !!window.diagnosticTerrain"), "page du parcours")


def _config(drv: Any) -> dict[str, Any]:
    return dict(drv.execute_script("return JSON.parse(document.getElementById('dg-config').textContent)"))


def _place(drv: Any, lon: float, lat: float, accuracy: float = 8) -> None:
    drv.execute_cdp_cmd("Emulation.setGeolocationOverride",
                        {"latitude": lat, "longitude": lon, "accuracy": accuracy})


def _ou(drv: Any) -> dict[str, str]:
    return dict(drv.execute_script(
        "var e = document.getElementById('dg-ou');"
        " return {text: e.textContent, next: e.dataset.prochain || '',"
        " near: e.dataset.proche || '', route: e.dataset.surParcours || ''};"))


def _kept_tiles_drawn(drv: Any, kept: list[str]) -> int:
    """Number of tiles of the kept area on the map, 0 while one of them is not drawn yet."""
    return int(drv.execute_script(
        "var kept = arguments[0];"
        "var imgs = Array.prototype.filter.call(document.querySelectorAll('#dg-carte img.leaflet-tile'),"
        " function (i) { return kept.indexOf(new URL(i.src).pathname) >= 0; });"
        "var done = imgs.every(function (i) {"
        " return i.classList.contains('leaflet-tile-loaded') && i.naturalWidth > 0; });"
        "return done ? imgs.length : 0;", kept))


def _expected_tiles(lons: list[float], lats: list[float], margin_m: float, zooms: range) -> int:
    """Tiles over the bbox + margin, computed in Web Mercator with pyproj (independently of the page)."""
    lat0 = lats[0]
    d_lat = margin_m / 110540
    d_lon = margin_m / (111320 * math.cos(math.radians(lat0)))
    tr = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (mx0, mx1), (my0, my1) = tr.transform([min(lons) - d_lon, max(lons) + d_lon],
                                          [min(lats) - d_lat, max(lats) + d_lat])
    half = math.pi * 6378137.0
    total = 0
    for z in zooms:
        size = 2 * half / 2 ** z
        nx = math.floor((mx1 + half) / size) - math.floor((mx0 + half) / size) + 1
        ny = math.floor((half - my0) / size) - math.floor((half - my1) / size) + 1
        total += nx * ny
    return total


def _off_route(track: list[list[float]], stop: dict[str, Any]) -> tuple[float, float]:
    """A point 50 to 80 m from the track, within 80 m of ``stop`` (inside the kept tiles' area)."""
    kx = 111320 * math.cos(math.radians(stop["lat"]))
    line = shapely.LineString([((lon - stop["lon"]) * kx, (lat - stop["lat"]) * 110540)
                               for lon, lat in track])
    for r in (60, 70, 80):
        for a in range(0, 360, 15):
            x, y = r * math.cos(math.radians(a)), r * math.sin(math.radians(a))
            if 50 <= line.distance(shapely.Point(x, y)) <= 80:
                return stop["lon"] + x / kx, stop["lat"] + y / 110540
    raise AssertionError("aucun point à 50–80 m du parcours près de l'arrêt 1")


def _check_layout(drv: Any, name: str) -> None:
    assert wider_than_screen(drv) == [], name
    map_h, screen_h = drv.execute_script(
        "return [document.getElementById('dg-carte').getBoundingClientRect().height, window.innerHeight]")
    assert map_h >= 0.5 * screen_h, (name, map_h, screen_h)
    small = drv.execute_script(
        "var all = document.querySelectorAll('main button, #dg-carte .leaflet-bar a');"
        "return Array.prototype.filter.call(all, function (b) {"
        " var r = b.getBoundingClientRect(); return r.width && r.height < 44; }).map(function (b) {"
        " return b.id || b.textContent; })")
    assert small == [], name
    bad = axe_violations(drv)
    assert bad == [], (name, bad)


@pytest.mark.browser
@requires_chromium
@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=["telephone", "bureau"])
def test_walk_in_the_field_online_then_server_down(field: tuple[str, Switch, Streets, str],
                                                   screen: tuple[int, int]) -> None:
    from selenium.webdriver.common.by import By

    base, switch, streets, uid = field
    name = "telephone" if screen == PHONE else "bureau"
    switch.down = False
    drv = chrome(window=f"{screen[0]},{screen[1]}", offline=True)
    try:
        emulate_screen(drv, screen)
        drv.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["geolocation"], "origin": base})
        _login(drv, base, uid)
        cfg = _config(drv)
        stops = cfg["stops"]
        assert stops and all(s["address_source"] for s in stops)
        # the list says each stop's address, what to check and when
        for s in stops:
            li = text_of(drv.find_element(By.ID, f"dg-etape-{s['order']}"))
            assert (s["address"] or "Adresse inconnue") in li and s["address_source"] in li
            assert all(c in li for c in s["checks"]) and f"vers {s['clock']}" in li
        wait_for(lambda: drv.execute_script("return document.documentElement.dataset.fond === 'pret'"),
                 "tuiles de la zone gardées")
        kept = drv.execute_script("return window.diagnosticTerrain.tiles")
        track = cfg["route"]["features"][0]["geometry"]["coordinates"]
        lons = [c[0] for c in track] + [s["lon"] for s in stops]
        lats = [c[1] for c in track] + [s["lat"] for s in stops]
        expected = _expected_tiles(lons, lats, cfg["tiles"]["marginM"], range(14, 19))
        assert kept["kept"] == len(kept["urls"]) == expected and kept["failed"] == 0 and not kept["capped"]
        assert "tuiles (zooms 14 à 18)" in text_of(drv.find_element(By.ID, "dg-fond"))
        # the cap: the same area with 20 tiles at most keeps whole zooms only, and says so
        capped = drv.execute_script(
            "return window.diagnosticTerrain.tilesOfArea('/t/{z}/{x}/{y}', {minZoom: 14, maxZoom: 18,"
            " max: 20, marginM: 200})")
        assert capped["capped"] and len(capped["urls"]) <= 20 and capped["wanted"] == expected
        assert capped["zooms"] == list(range(14, 14 + len(capped["zooms"])))
        wait_for(lambda: drv.find_element(By.ID, "dg-reseau").get_attribute("data-reseau") == "en-ligne",
                 "en ligne")
        assert text_of(drv.find_element(By.ID, "dg-reseau")) == "En ligne"

        # my position, on the route between the start and stop 1
        first = stops[0]
        on_route = track[max(1, len(track) // 6)]
        _place(drv, on_route[0], on_route[1])
        drv.find_element(By.ID, "dg-suivre").click()
        wait_for(lambda: _ou(drv)["next"] != "", "position suivie")
        ou = _ou(drv)
        assert ou["route"] == "oui" and "le long du parcours" in ou["text"], ou
        assert drv.find_element(By.ID, "dg-suivre").get_attribute("aria-pressed") == "true"
        assert drv.execute_script("return document.querySelectorAll('#dg-carte path.dg-moi').length") == 1
        nxt = drv.find_element(By.CSS_SELECTOR, "#dg-etapes > li.dg-prochain")
        assert nxt.get_attribute("aria-current") == "step" and nxt.get_attribute("data-rang") == ou["next"]
        _check_layout(drv, f"{name} en ligne")
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'})", nxt)
        shot(drv, f"parcours-terrain-{name}-etapes")
        drv.execute_script("window.scrollTo(0, 0)")
        shot(drv, f"parcours-terrain-{name}-en-ligne")

        # the server goes down: « Hors ligne » within one check period, the last contact's time
        served_before = len(streets.served)
        switch.down = True
        wait_for(lambda: drv.find_element(By.ID, "dg-reseau").get_attribute("data-reseau") == "hors-ligne",
                 "hors ligne", timeout=PING_PERIOD_S + 10)
        reseau = text_of(drv.find_element(By.ID, "dg-reseau"))
        assert reseau.startswith("Hors ligne — dernier contact avec le serveur à "), reseau
        # the tiles of the walk's area come from the cache: zoom 18 on stop 1
        drv.execute_script("window.diagnosticOffline.map().setView([arguments[0], arguments[1]], 18)",
                           first["lat"], first["lon"])
        wait_for(lambda: _kept_tiles_drawn(drv, kept["urls"]) > 0, "tuiles du cache au zoom 18")
        # standing at stop 1: the next one is stop 2; away from the route: straight-line distance
        _place(drv, first["lon"], first["lat"])
        wait_for(lambda: _ou(drv)["near"] == str(first["order"])
                 and "Vous êtes à l'arrêt" in _ou(drv)["text"], "à l'arrêt 1")
        assert _ou(drv)["next"] == str(stops[1]["order"])
        assert drv.find_element(By.ID, f"dg-etape-{first['order']}").get_attribute("class") == "dg-ici"
        off = _off_route(track, first)
        _place(drv, *off)
        wait_for(lambda: _ou(drv)["route"] == "non", "hors du parcours")
        assert "à vol d'oiseau" in _ou(drv)["text"] and _ou(drv)["next"] == str(stops[1]["order"])

        # reopened without the server: page, route and streets from the device
        drv.refresh()
        wait_for(lambda: drv.execute_script("return !!window.diagnosticOffline"), "page hors ligne")
        wait_for(lambda: drv.find_element(By.ID, "dg-reseau").get_attribute("data-reseau") == "hors-ligne",
                 "hors ligne après rechargement")
        assert "dernier contact avec le serveur à" in text_of(drv.find_element(By.ID, "dg-reseau"))
        wait_for(lambda: text_of(drv.find_element(By.ID, "dg-fond")).startswith(
            f"{len(kept['urls'])} tuiles du fond de plan de la zone du parcours sont gardées"),
            "fond gardé annoncé hors ligne")
        wait_for(lambda: _kept_tiles_drawn(drv, kept["urls"]) > 0, "rues sous le parcours hors ligne")
        assert drv.execute_script(
            "return document.querySelectorAll('#dg-carte path.leaflet-interactive').length") > 0
        # not one tile of the walk's area asked from the server while it was down
        assert len(streets.served) == served_before
        assert not {p for p in switch.refused if p.startswith("/tuiles-essai/")} & set(kept["urls"])
        drv.find_element(By.ID, "dg-suivre").click()
        wait_for(lambda: _ou(drv)["next"] != "", "position suivie hors ligne")
        assert drv.execute_script("return document.querySelectorAll('#dg-carte path.dg-moi').length") == 1
        assert "à vol d'oiseau" in _ou(drv)["text"]
        _check_layout(drv, f"{name} hors ligne")
        drv.execute_script("window.scrollTo(0, 0)")
        shot(drv, f"parcours-terrain-{name}-hors-ligne")

        # the server is back: « En ligne » again at the next check
        switch.down = False
        drv.execute_script("window.diagnosticOffline.ping()")
        wait_for(lambda: drv.find_element(By.ID, "dg-reseau").get_attribute("data-reseau") == "en-ligne",
                 "de nouveau en ligne")
    finally:
        switch.down = False
        drv.quit()
