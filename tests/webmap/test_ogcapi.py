# mypy: disable-error-code="index, union-attr, arg-type, operator"
# (Response.json is Optional for mypy; these tests assert the status code first)
"""OGC API – Features: landing, conformance, collections, items (bbox, datetime, paging,
property filters, formats), one item, OpenAPI document, and a real GDAL OAPIF client."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyogrio
import pytest
from flask import Flask
from flask.testing import FlaskClient

ITEMS = "/ogc/collections/observations/items"
VIEW = (2.37, 48.85, 2.41, 48.88)


def _link(body: dict[str, Any], rel: str) -> str | None:
    return next((lk["href"] for lk in body["links"] if lk["rel"] == rel), None)


def test_landing_conformance_collections(clients: dict[str, FlaskClient]) -> None:
    anon = clients["anonyme"]
    landing = anon.get("/ogc").json
    rels = {lk["rel"] for lk in landing["links"]}
    assert {"self", "conformance", "data", "service-desc"} <= rels
    conf = anon.get("/ogc/conformance").json["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf
    for role, client in clients.items():
        ids = {c["id"] for c in client.get("/ogc/collections").json["collections"]}
        assert "observations" in ids
        assert ("videoprotection" in ids) == (role in ("technicien", "administrateur"))
        status = client.get("/ogc/collections/videoprotection").status_code
        assert status == (200 if role in ("technicien", "administrateur") else 404)
        items = client.get("/ogc/collections/videoprotection/items?limit=2").status_code
        assert items == status
    col = anon.get("/ogc/collections/observations").json
    west, south, east, north = col["extent"]["spatial"]["bbox"][0]
    assert 2 < west < east < 4.5 and 43 < south < north < 49.5
    assert col["extent"]["temporal"]["interval"][0][0].startswith("20")
    assert any(lk["rel"] == "items" and lk["type"] == "application/geo+json" for lk in col["links"])
    assert anon.get("/ogc/collections/inconnue").status_code == 404


def test_items_bbox_paging_links(anon: FlaskClient, store: Any) -> None:
    bbox = ",".join(map(str, VIEW))
    expected = store.count("observations", bbox=VIEW, bbox_crs="EPSG:4326")
    res = anon.get(f"{ITEMS}?bbox={bbox}&limit=50")
    assert res.status_code == 200 and res.mimetype == "application/geo+json"
    assert "CRS84" in res.headers["Content-Crs"]
    body = res.json
    assert body["numberMatched"] == expected > 100 and body["numberReturned"] == 50
    assert _link(body, "prev") is None
    seen = {f["id"] for f in body["features"]}
    nxt = _link(body, "next")
    assert nxt is not None
    q = parse_qs(urlsplit(nxt).query)
    assert q["offset"] == ["50"] and q["bbox"] == [bbox] and q["limit"] == ["50"]
    page2 = anon.get(nxt).json
    assert _link(page2, "prev") is not None
    assert not seen & {f["id"] for f in page2["features"]}
    last = anon.get(f"{ITEMS}?bbox={bbox}&limit=50&offset={expected - 3}").json
    assert last["numberReturned"] == 3 and _link(last, "next") is None
    beyond = anon.get(f"{ITEMS}?bbox={bbox}&offset={expected + 10}").json
    assert beyond["features"] == [] and beyond["numberMatched"] == expected
    default = anon.get(ITEMS).json
    assert default["numberReturned"] == 100
    huge = anon.get(f"{ITEMS}?limit=20000&bbox=2.39,48.86,2.395,48.865").json
    assert huge["numberReturned"] == huge["numberMatched"]  # clamped to 10,000, fewer here


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2024-03-01", "2024-03-01", "2024-03-02"),
        ("2024-03-01/2024-03-31", "2024-03-01", "2024-04-01"),
        ("../2024-01-01", None, "2024-01-02"),
        ("2024-06-01/..", "2024-06-01", None),
        ("2024-03-01T00:00:00Z/2024-03-10T00:00:00Z", "2024-03-01T01:00:00", "2024-03-10T01:00:00.000001"),
    ],
)
def test_items_datetime(
    anon: FlaskClient, store: Any, value: str, start: str | None, end: str | None
) -> None:
    body = anon.get(f"{ITEMS}?datetime={value}&limit=1").json
    assert body["numberMatched"] == store.count("observations", start=start, end=end)


def test_items_property_filters(anon: FlaskClient, store: Any) -> None:
    body = anon.get(f"{ITEMS}?theme=Propreté&status=transmis&limit=10000").json
    expected = store.count("observations", where={"theme": "propreté", "status": "transmis"})
    assert body["numberMatched"] == expected == body["numberReturned"] > 0
    assert {f["properties"]["theme"] for f in body["features"]} == {"propreté"}
    sim = anon.get(f"{ITEMS}?simulated=true&limit=1").json
    assert sim["numberMatched"] == store.count("observations", where={"simulated": True}) > 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("bbox=1,2", "bbox"),
        ("bbox=2,48,x,49", "bbox"),
        ("bbox=200,0,210,1", "bbox"),
        ("datetime=hier", "datetime"),
        ("datetime=2024-05-01/2024-01-01", "datetime"),
        ("limit=0", "limit"),
        ("limit=dix", "limit"),
        ("offset=-1", "offset"),
        ("couleur=bleu", "couleur"),
        ("theme=licornes", "theme"),
        ("f=xml", "f"),
        ("bbox-crs=http://www.opengis.net/def/crs/EPSG/0/2154", "bbox-crs"),
        ("crs=EPSG:3857", "crs"),
        ("photos=x", "photos"),
    ],
)
def test_items_bad_input(anon: FlaskClient, query: str, field: str) -> None:
    res = anon.get(f"{ITEMS}?{query}")
    assert res.status_code == 400 and res.json["champ"] == field


def test_undated_collection_refuses_datetime(tech: FlaskClient) -> None:
    res = tech.get("/ogc/collections/bacs/items?datetime=2024-01-01")
    assert res.status_code == 400 and res.json["champ"] == "datetime"


def test_single_item_and_confidentiality(clients: dict[str, FlaskClient], store: Any) -> None:
    uid = store.read("observations", limit=1)["uid"].iloc[0]
    feat = clients["anonyme"].get(f"{ITEMS}/{uid}").json
    assert feat["id"] == uid and feat["type"] == "Feature" and feat["properties"]["uid"] == uid
    lon, lat = feat["geometry"]["coordinates"]
    assert 2.2 < lon < 2.5 and 48.8 < lat < 48.95
    assert clients["anonyme"].get(f"{ITEMS}/inexistant").status_code == 404
    cam = store.read("videoprotection", limit=1)["uid"].iloc[0]
    for role, client in clients.items():
        code = client.get(f"/ogc/collections/videoprotection/items/{cam}").status_code
        assert code == (200 if role in ("technicien", "administrateur") else 404)


def test_html_and_negotiation(anon: FlaskClient, store: Any) -> None:
    uid = store.read("observations", limit=1)["uid"].iloc[0]
    for url in (
        "/ogc?f=html",
        "/ogc/conformance?f=html",
        "/ogc/collections?f=html",
        "/ogc/collections/observations?f=html",
        f"{ITEMS}?f=html&limit=5",
        f"{ITEMS}/{uid}?f=html",
    ):
        res = anon.get(url)
        assert res.status_code == 200 and res.mimetype == "text/html", url
        html = res.get_data(as_text=True)
        assert "<html" in html and "http://" not in html.replace("http://localhost/", "").replace(
            "http://www.opengis.net", ""
        )  # no CDN, no external asset
    browser = anon.get(ITEMS + "?limit=2", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.mimetype == "text/html"
    gdal = anon.get(ITEMS + "?limit=2", headers={"Accept": "application/geo+json, application/json"})
    assert gdal.mimetype == "application/geo+json"
    assert anon.get(ITEMS + "?limit=2").mimetype == "application/geo+json"


def test_openapi_document_is_valid_and_complete(app: Flask, anon: FlaskClient, admin: FlaskClient) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    # each role reads its own document (tests/webmap/security/test_openapi_roles.py); every
    # one is valid, and the administrator's describes every route
    validator.validate(anon.get("/openapi.json").json)
    res = admin.get("/openapi.json")
    assert res.status_code == 200
    spec = res.json
    validator.validate(spec)
    documented = set(spec["paths"])
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("auth", "api", "ogc", "open311", "openapi"):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}").rstrip("/") or "/"
        path = (
            path.replace("{cid}", "{collectionId}")
            .replace("{fid}", "{featureId}")
            .replace("{rid}", "{id}")
            .replace("export.{fmt}", "export.geojson")
        )
        assert path in documented, path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], (path, method)


SERVER = """
import json, sys
from werkzeug.serving import make_server
from webmap.app import create_app
server = make_server("127.0.0.1", 0, create_app(json.loads(sys.argv[1])), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


@pytest.fixture
def live_server(app: Flask, tmp_path: Path) -> Iterator[str]:
    """The app behind a real threaded werkzeug server (``make_server``) on a free loopback port.

    The server runs in a child process: GDAL's OAPIF driver keeps the GIL while it waits
    for a page, so a server thread of the test process could never answer it.
    """
    config = {k: app.config[k] for k in ("STORE", "USERS_DB", "SECRET_KEY", "PHOTOS_DIR")}
    config["instance_path"] = app.instance_path
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, json.dumps(config)], stdout=subprocess.PIPE, stderr=log, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError((tmp_path / "server.log").read_text())
        port = int(line)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def test_gdal_oapif_reads_the_collections(live_server: str, store: Any) -> None:
    layers = {name for name, _geom in pyogrio.list_layers(f"OAPIF:{live_server}/ogc")}
    assert "observations" in layers and "videoprotection" not in layers
    frame = pyogrio.read_dataframe(f"OAPIF:{live_server}/ogc/collections/observations")
    assert len(frame) == store.count("observations")
    assert frame.crs is not None and frame.crs.to_epsg() == 4326
    minx, miny, maxx, maxy = frame.total_bounds
    assert 2.2 < minx < maxx < 4.5 and 43 < miny < maxy < 49.5
    assert frame["uid"].is_unique
    bbox = pyogrio.read_dataframe(f"OAPIF:{live_server}/ogc/collections/observations", bbox=VIEW)
    # the server answers the Lambert-93 envelope of the view; GDAL keeps what is inside it
    inside = frame.cx[VIEW[0] : VIEW[2], VIEW[1] : VIEW[3]]
    assert len(bbox) == len(inside) > 1000 and set(bbox["uid"]) == set(inside["uid"])
