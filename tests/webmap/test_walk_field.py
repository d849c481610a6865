"""The walk page's field parts without a browser: the ping, the stops' text, the shell and tiles.

A real demo walk (Mosson); the page's stops must say what :func:`walk_stop_details`
says (the walk sheet prints the same), and the online check must never be cached.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape

from layers.store import open_store
from layers.walk_stops import walk_stop_details
from layers.walks import load_walk
from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap.security._fixtures import build_app, client_as
from webmap.walks import MAX_TILES, SHELL_FILES, STATIC, TILE_ZOOMS


@pytest.fixture(scope="module")
def field_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path = demo_store_copy(tmp_path_factory, "walkfield")
    plan = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=path.parent / "cache", organisation="ville")
    app = build_app(path, path.parent / "instance", BASEMAP="/fond/{z}/{x}/{y}.mvt")
    app.config["WALK_UID"] = plan.uid
    return app


def _config(html: str) -> dict[str, Any]:
    start = html.index('<script id="dg-config" type="application/json">')
    start = html.index(">", start) + 1
    return dict(json.loads(html[start:html.index("</script>", start)]))


@pytest.mark.parametrize("role", ["anonyme", "lecteur", "technicien"])
def test_ping_answers_204_never_cached(field_app: Flask, role: str) -> None:
    r = client_as(field_app, role).get("/diagnostic/ping")
    assert r.status_code == 204 and r.data == b""
    assert r.headers["Cache-Control"] == "no-store"


def test_service_worker_never_answers_the_ping_and_keeps_the_basemap_shell() -> None:
    sw = (STATIC / "sw-diagnostic.js").read_text(encoding="utf-8")
    fetch_handler = sw[sw.index('self.addEventListener("fetch"'):]
    # the ping leaves the handler before any respondWith: the browser asks the server itself
    assert fetch_handler.index('"/diagnostic/ping"') < fetch_handler.index("respondWith")
    shell = re.search(r"var SHELL = \[(.*?)\];", sw, re.S)
    assert shell is not None
    listed = set(re.findall(r'"/static/([^"]+)"', shell.group(1)))
    needed = {"vendor/protomaps-leaflet/protomaps-leaflet.js", "js/fond.js", "js/diagnostic-terrain.js"}
    assert needed <= listed
    assert listed <= set(SHELL_FILES)
    for name in SHELL_FILES:
        assert (STATIC / name).is_file(), name
    # logout drops the kept basemap tiles with the pages
    forget = sw[sw.index("function forgetPages"):]
    assert "FOND_CACHE" in forget[:forget.index("}")]


def test_page_lists_each_stop_with_address_checks_and_time(field_app: Flask) -> None:
    uid = str(field_app.config["WALK_UID"])
    r = client_as(field_app, "lecteur").get(f"/diagnostic/{uid}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    cfg = _config(html)
    store = open_store(field_app.config["STORE"], create=False)
    try:
        plan = load_walk(store, uid)
        details = walk_stop_details(store, plan.route)
    finally:
        store.close()
    assert [s["order"] for s in cfg["stops"]] == details["order"].tolist()
    for s, (_, d) in zip(cfg["stops"], details.iterrows(), strict=True):
        assert s["address"] == d["address"] and s["address_source"] == d["address_source"]
        assert s["checks"] == list(d["checks"])
        item = html[html.index(f'id="dg-etape-{s["order"]}"'):]
        item = item[:item.index("</li>\n")] if "</li>\n" in item else item
        assert str(escape(s["address"] or "Adresse inconnue")) in item
        for fact in s["checks"]:
            assert str(escape(fact)) in item
        # the expected time: the walk's start (14:00) plus the arrival minutes
        total = 14 * 60 + s["arrival_min"]
        assert s["clock"] == f"{total // 60:02d}h{total % 60:02d}" and f"vers {s['clock']}" in item
    assert cfg["urls"]["ping"] == "/diagnostic/ping"
    assert cfg["tiles"] == {"minZoom": TILE_ZOOMS[0], "maxZoom": TILE_ZOOMS[1], "max": MAX_TILES,
                            "marginM": 200}
    assert cfg["basemap"]["url"] == "/fond/{z}/{x}/{y}.mvt"
    for script in ("vendor/protomaps-leaflet/protomaps-leaflet.js", "js/fond.js", "js/diagnostic-terrain.js"):
        assert f'src="/static/{script}"' in html
    assert 'id="dg-suivre"' in html and 'aria-pressed="false"' in html
