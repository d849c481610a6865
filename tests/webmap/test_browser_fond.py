"""The offline basemap in a real browser with the network cut, on a phone and on a desktop.

The demo store's basemap is built (zooms 10 to 18) and the map page opened in chromium whose
network is cut (only the app on the loopback answers). In Paris (QP075019) and in Montpellier
(La Mosson), at zooms 12, 15 and 18, the vector tiles must have been requested from the app
and DRAWN: street pixels (the white and cream street fills of fond.js) are counted on the
basemap's tile canvases, not just the page loaded. Screenshots are saved as artifacts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from layers.basemap import BasemapOptions, build_basemap, open_tile_file
from layers.settings import BASEMAP_META_PATH
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from tests.webmap._browser import (
    DESKTOP,
    PHONE,
    chrome,
    emulate_screen,
    requires_chromium,
    shot,
    text_of,
    wait_for,
)
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import build_app

pytestmark = [pytest.mark.browser, requires_chromium]

PLACES = {"paris": (2.4102, 48.8615), "montpellier": (3.8200, 43.6321)}
#: street fills drawn by fond.js: white « rue » / « chemin » (and the white halos of the street names),
#: yellow « principale » (#f9dc8c); the paper (#f5f3ee), the QPV tint, the buildings and the street
#: casings have other colours
STREET_PIXELS_JS = """
  const layer = window.QPVFond.layers[window.QPVFond.layers.length - 1];
  const z = layer._map.getZoom();
  const tiles = Object.values(layer._tiles).filter(t => t.coords.z === z);
  if (!tiles.length || tiles.some(t => !t.loaded)) return null;
  let street = 0;
  for (const t of tiles) {
    const c = t.el, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) {
      const white = d[i] >= 252 && d[i + 1] >= 252 && d[i + 2] >= 252;
      const major = Math.abs(d[i] - 249) < 6 && Math.abs(d[i + 1] - 220) < 6 && Math.abs(d[i + 2] - 140) < 6;
      if (d[i + 3] > 0 && (white || major)) street += 1;
    }
  }
  const fetched = performance.getEntriesByType('resource')
    .filter(e => e.name.includes(`/fond/${z}/`) && e.name.includes('.mvt')).length;
  return {tiles: tiles.length, street, fetched};"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    path = demo_store_copy(tmp_path_factory, "fond-browser")
    target = path.parent / "fond" / "territoire.pmtiles"
    store = open_store(path, create=False)
    try:
        build_basemap(store, target, options=BasemapOptions(min_zoom=10, max_zoom=18))
        store.set_meta(BASEMAP_META_PATH, str(target))
    finally:
        store.close()
    app = build_app(path, path.parent / "instance", BASEMAP="")  # default: the territory's basemap
    with serve_in_thread(app) as base:
        yield base, str(open_tile_file(target).metadata["attribution"]), path


@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=["telephone", "bureau"])
def test_streets_drawn_offline_at_every_zoom(site: tuple[str, str, Path], screen: tuple[int, int]) -> None:
    base, attribution, _ = site
    drv: Any = chrome(window=f"{screen[0]},{screen[1]}", offline=True)
    try:
        emulate_screen(drv, screen)
        drv.get(f"{base}/")
        wait_for(lambda: drv.execute_script("return Boolean(window.qpvCarte && window.QPVFond"
                                            " && window.QPVFond.layers.length)"), "fond de plan ajouté")
        kind = drv.execute_script("return window.QPVFond.layers[0] instanceof L.GridLayer"
                                  " && !(window.QPVFond.layers[0] instanceof L.TileLayer)")
        assert kind, "the basemap is not the vector (protomaps) layer"
        shown = wait_for(lambda: drv.execute_script(  # shown once the map has its first view
            "return document.querySelector('.leaflet-control-attribution').textContent"), "attribution")
        assert "© contributeurs OpenStreetMap" in shown and "Ville de Montpellier" in shown
        assert "IGN" not in shown and attribution.split(" · ")[0] in shown
        seen = {}
        for place, (lon, lat) in PLACES.items():
            for z in (12, 15, 18):
                drv.execute_script("window.qpvCarte.map.setView([arguments[0], arguments[1]], arguments[2],"
                                   " {animate: false})", lat, lon, z)
                got = wait_for(lambda: drv.execute_script(STREET_PIXELS_JS),
                               f"tuiles du fond dessinées ({place}, zoom {z})")
                seen[(place, z)] = got
                drv.execute_script("document.getElementById('carte').scrollIntoView()")
                shot(drv, f"fond-{place}-z{z}-{screen[0]}x{screen[1]}")
                assert got["fetched"] > 0, (place, z, got)  # vector tiles requested from the app
                assert got["street"] > 300, (place, z, got)  # and streets drawn on them
        assert drv.execute_script("return performance.getEntriesByName('qpv-fond-premier-rendu').length") == 1
        assert drv.execute_script("return window.QPVFond.stats.failed") == 0
    finally:
        drv.quit()


def test_online_basemap_unreachable_gives_way_to_the_territory(site: tuple[str, str, Path]) -> None:
    """BASEMAP = osm with the network cut: the page says so and draws the territory's basemap instead."""
    _, _, path = site
    app = build_app(path, path.parent / "instance-osm", BASEMAP="osm")
    with serve_in_thread(app) as base:
        drv: Any = chrome(window=f"{PHONE[0]},{PHONE[1]}", offline=True)
        try:
            emulate_screen(drv, PHONE)
            drv.get(f"{base}/")
            wait_for(lambda: "injoignable" in text_of(drv.find_element("id", "bandeau")),
                     "fond en ligne injoignable")
            banner = text_of(drv.find_element("id", "bandeau"))
            assert "OpenStreetMap" in banner and "Fond de plan du territoire" in banner
            lon, lat = PLACES["paris"]
            drv.execute_script("window.qpvCarte.map.setView([arguments[0], arguments[1]], 15,"
                               " {animate: false})", lat, lon)
            got = wait_for(lambda: drv.execute_script(STREET_PIXELS_JS), "fond du territoire dessiné")
            assert got["street"] > 300 and got["fetched"] > 0
            shown = text_of(drv.find_element("css selector", ".leaflet-control-attribution"))
            assert "© contributeurs OpenStreetMap (ODbL)" in shown
            assert "© les contributeurs d'OpenStreetMap" not in shown  # the online tiles are not drawn
            drv.execute_script("document.getElementById('carte').scrollIntoView()")
            shot(drv, "fond-repli-osm-390x844")
        finally:
            drv.quit()
