"""The territory's basemap in the web app: ``qpv fond construire``, ``/fond/…`` tiles, ``BASEMAP``."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from pathlib import Path

import mapbox_vector_tile
import pytest
from click.testing import CliRunner
from flask import Flask

from geo.tiles import lonlat_to_tile
from layers.basemap import open_tile_file
from layers.schema import LAYERS
from layers.settings import BASEMAP_META_PATH
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from tests.webmap._browser import png_bytes
from tests.webmap.security._fixtures import build_app, client_as
from webmap.cli import main

PARIS = (2.4102, 48.8615)  # inside QP075019
MOSSON = (3.8200, 43.6321)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A demo store whose basemap was built by the command (zooms 12 to 15); the command's output."""
    store = demo_store_copy(tmp_path_factory, "fond-web")
    target = tmp_path_factory.mktemp("fond-web-file") / "territoire.pmtiles"
    args = ["--entrepot", str(store), "fond", "construire", "--sortie", str(target), "--zoom-min", "12",
            "--zoom-max", "15"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return store, target, result.output


def _app(store: Path, instance: Path, basemap: str) -> Flask:
    return build_app(store, instance, BASEMAP=basemap)


def _config(app: Flask) -> dict:
    html = client_as(app, "anonyme").get("/").get_data(as_text=True)
    found = re.search(r'<script type="application/json" id="carte-config">(.*?)</script>', html, re.S)
    assert found is not None
    assert "vendor/protomaps-leaflet/protomaps-leaflet.js" in html
    return json.loads(found.group(1))["basemap"]


def test_command_builds_and_records_the_basemap(built: tuple[Path, Path, str]) -> None:
    store_path, target, output = built
    assert target.is_file() and "Fond de plan : " in output
    assert "tuiles (zooms 12 à 15)" in output and "voies sans nom : 202 sur" in output
    assert "Non dessiné (aucune couche de ce type dans l'entrepôt) : eau, espaces verts." in output
    assert "© contributeurs OpenStreetMap" in output
    store = open_store(store_path, create=False)
    try:
        assert store.get_meta(BASEMAP_META_PATH) == str(target.resolve())
    finally:
        store.close()


def test_default_basemap_is_the_territory_once_built(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    store, target, _ = built
    bm = _config(_app(store, tmp_path / "instance", ""))
    assert bm["kind"] == "vecteur" and bm["name"] == "fond-territoire"
    assert bm["url"].startswith("/fond/{z}/{x}/{y}.mvt?v=")
    assert bm["attribution"] == open_tile_file(target).metadata["attribution"]
    assert "IGN" not in bm["attribution"] and "OpenStreetMap" in bm["attribution"]
    west, south, east, north = bm["bounds"]
    assert west < PARIS[0] < east and south < MOSSON[1] < north
    assert (bm["maxDataZoom"], bm["maxZoom"]) == (15, 20)
    # a store without a built basemap: Plan IGN, with nothing to fall back to
    bare = demo_store_copy_without(tmp_path)
    plain = _config(_app(bare, tmp_path / "instance-2", ""))
    assert plain["name"] == "plan-ign" and plain["kind"] == "raster" and plain["fallback"] is None
    assert plain["attribution"] == "© IGN – Plan IGN v2"
    missing = _config(_app(bare, tmp_path / "instance-3", "fond-territoire"))
    assert missing["url"] is None and "non construit" in missing["label"]


def demo_store_copy_without(tmp_path: Path) -> Path:
    """An empty store: no basemap recorded, none at the instance's default place."""
    path = tmp_path / "sans-fond.gpkg"
    open_store(path).close()
    return path


def test_tiles_served_with_gzip_cache_and_etag(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    store, target, _ = built
    app = _app(store, tmp_path / "instance", "fond-territoire")
    anon = client_as(app, "anonyme")
    x, y = lonlat_to_tile(*PARIS, 14)
    resp = anon.get(f"/fond/14/{x}/{y}.mvt")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
    assert resp.headers["Content-Encoding"] == "gzip" and "public" in resp.headers["Cache-Control"]
    body = resp.get_data()
    assert body == open_tile_file(target).get(14, x, y)
    tile = mapbox_vector_tile.decode(gzip.decompress(body))
    assert {"voies", "perimetres"} <= set(tile) and not any(LAYERS[name].confidential for name in tile)
    etag = resp.headers["ETag"]
    again = anon.get(f"/fond/14/{x}/{y}.mvt", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.get_data()
    empty = anon.get("/fond/14/0/0.mvt")  # the Arctic: no tile
    assert empty.status_code == 204 and not empty.get_data() and "ETag" in empty.headers
    assert anon.get(f"/fond/14/{x}/{y}.png").status_code == 404  # a vector basemap has no PNG tiles
    assert anon.get("/fond/99/0/0.mvt").status_code == 204
    for role in ("lecteur", "technicien", "administrateur"):
        assert client_as(app, role).get(f"/fond/14/{x}/{y}.mvt").get_data() == body


def test_basemap_setting_variants(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    store, _, _ = built
    osm = _config(_app(store, tmp_path / "i1", "osm"))
    assert osm["kind"] == "raster" and osm["url"].startswith("https://tile.openstreetmap.org/")
    assert osm["fallback"]["kind"] == "vecteur"  # used when OpenStreetMap is unreachable
    assert _config(_app(store, tmp_path / "i2", "aucun"))["url"] is None
    assert _config(_app(store, tmp_path / "i3", "google"))["url"] is None
    # a town's raster MBTiles, relative to the instance folder
    instance = tmp_path / "i4"
    instance.mkdir()
    x, y = lonlat_to_tile(*PARIS, 14)
    db = sqlite3.connect(instance / "plan-ville.mbtiles")
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
               "tile_data BLOB)")
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [
        ("format", "png"), ("attribution", "© Ville de Paris"), ("bounds", "2.38,48.84,2.42,48.88")])
    db.execute("INSERT INTO tiles VALUES (14, ?, ?, ?)", (x, (1 << 14) - 1 - y, png_bytes(256, 256)))
    db.commit()
    db.close()
    app = _app(store, instance, "plan-ville.mbtiles")
    raster = _config(app)
    assert raster["kind"] == "raster" and raster["url"].startswith("/fond/{z}/{x}/{y}.png?v=")
    assert raster["attribution"] == "© Ville de Paris" and raster["bounds"] == [2.38, 48.84, 2.42, 48.88]
    resp = client_as(app, "anonyme").get(f"/fond/14/{x}/{y}.png")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert "Content-Encoding" not in resp.headers
    assert client_as(app, "anonyme").get(f"/fond/14/{x}/{y}.mvt").status_code == 404
    broken = instance / "casse.pmtiles"
    broken.write_bytes(b"rien")
    assert "illisible" in _config(_app(store, tmp_path / "i5", str(broken)))["label"]  # an absolute path
