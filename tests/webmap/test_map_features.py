# mypy: disable-error-code="index, union-attr, arg-type, operator"
# (Response.json is Optional for mypy; these tests assert the status code first)
"""The map's compact features (``format=compact``), their clusters and the whole record of a popup.

Checked against the full form of the same endpoint (the path every other client keeps), the
store itself, and positions reprojected with pyproj.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient
from pyproj import Transformer

from layers.store import open_store
from webmap._map_features import COMPACT_CLUSTER_MAX_ZOOM, COMPACT_POINTS, MAP_FIELDS
from webmap.app import create_app

PARIS_VIEW = "2.37,48.85,2.41,48.88"
URL = "/api/layers/observations/features"
TO_L93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


def _expand(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The compact rows as GeoJSON features, as carte.js builds them (``expandCompact``)."""
    names = body["fields"]
    feats = []
    for row in body["records"]:
        props = dict(zip(names, row[2:], strict=True))
        geom = None if row[0] is None else {"type": "Point", "coordinates": row[:2]}
        feats.append({"type": "Feature", "id": props["uid"], "geometry": geom, "properties": props})
    return feats


def _small_view(client: FlaskClient, zoom: int = 17) -> tuple[str, dict[str, Any]]:
    """A Paris view holding between 20 records and :data:`COMPACT_POINTS` (not clustered)."""
    for width in (0.004, 0.006, 0.008, 0.012, 0.02):
        view = f"2.385,48.862,{2.385 + width:.3f},{48.862 + width * 0.6:.4f}"
        body = client.get(f"{URL}?bbox={view}&zoom={zoom}&limit=5000").json
        if 20 <= body["numberMatched"] <= COMPACT_POINTS:
            return view, body
    raise AssertionError("no Paris view of 20 to 1,000 constats")


@pytest.mark.parametrize("role", ["anonyme", "lecteur", "technicien"])
def test_compact_points_are_the_full_records_trimmed(clients: dict[str, FlaskClient], role: str) -> None:
    client = clients[role]
    view, full = _small_view(client)
    res = client.get(f"{URL}?bbox={view}&zoom=17&limit=5000&format=compact")
    assert res.status_code == 200 and res.mimetype == "application/geo+json"
    compact = res.json
    assert compact["format"] == "compact" and compact["clustered"] is False and compact["features"] == []
    assert compact["numberMatched"] == full["numberMatched"] == compact["numberReturned"]
    whole = {f["id"]: f for f in full["features"]}
    assert [f["id"] for f in _expand(compact)] == list(whole)  # same records, same order
    for f in _expand(compact):
        ref = whole[f["id"]]
        # only the map's fields, among those this role sees in the full form, with the same values
        expected = {k: v for k, v in ref["properties"].items() if k in MAP_FIELDS or k == "observed_at"}
        assert f["properties"] == expected
        assert set(f["properties"]) < set(ref["properties"])
        assert {"uid", "theme", "status", "simulated", "observed_at"} <= set(f["properties"])
        # the position, to a metre (6 decimals: a tenth of a metre at most)
        x0, y0 = TO_L93.transform(*ref["geometry"]["coordinates"])
        x1, y1 = TO_L93.transform(*f["geometry"]["coordinates"])
        assert np.hypot(x1 - x0, y1 - y0) < 0.15
        assert all(len(repr(c).split(".")[1]) <= 6 for c in f["geometry"]["coordinates"])
    assert len(res.data) < 0.6 * len(client.get(f"{URL}?bbox={view}&zoom=17&limit=5000").data)


def test_compact_clusters_a_crowded_view_from_the_store(anon: FlaskClient, store: Any) -> None:
    # past ``limit`` (at most COMPACT_POINTS) at zoom 16, where the full form sends records
    full = anon.get(f"{URL}?bbox={PARIS_VIEW}&zoom=16&limit=500").json
    assert full["clustered"] is False and full["truncated"] is True and full["numberMatched"] > 500
    body = anon.get(f"{URL}?bbox={PARIS_VIEW}&zoom=16&limit=500&format=compact").json
    assert body["clustered"] is True and "records" not in body
    expected = store.count("observations", bbox=tuple(float(v) for v in PARIS_VIEW.split(",")),
                           bbox_crs="EPSG:4326")
    assert body["numberMatched"] == expected == full["numberMatched"]
    assert sum(f["properties"]["count"] for f in body["features"]) == expected
    assert all(f["properties"]["cluster"] is True for f in body["features"])
    # each cluster lies in the extent of its members, to a metre (the CRS84 bbox is made of the
    # projected corners of the Lambert-93 extent: the meridians converge by ~0.45° in Paris)
    for f in body["features"]:
        x0, y0, x1, y1 = f["properties"]["bbox"]
        lon, lat = f["geometry"]["coordinates"]
        assert x0 - 1.4e-5 <= lon <= x1 + 1.4e-5 and y0 - 1e-5 <= lat <= y1 + 1e-5
    # the map's own clustering takes over from its zoom: compact records again, up to the limit
    close = anon.get(f"{URL}?bbox={PARIS_VIEW}&zoom={COMPACT_CLUSTER_MAX_ZOOM}&limit=500&format=compact").json
    assert close["clustered"] is False and close["numberMatched"] == expected and close["truncated"] is True
    assert len(close["records"]) == close["numberReturned"] == 500
    # the same 500 records as the full form
    assert [f["id"] for f in _expand(close)] == [f["id"] for f in full["features"]]
    assert COMPACT_POINTS == 5000  # the map's FEATURE_LIMIT: up to it, a view's records are listed


def test_compact_without_view_keeps_the_limit_rule(anon: FlaskClient, store: Any) -> None:
    """The map loads its small layers whole (no bbox): clustered past ``limit`` below zoom 16, as before."""
    n = store.count("observations", where={"theme": "propreté"})
    assert n > 10
    whole = anon.get(f"{URL}?theme=propreté&limit={n}&zoom=17&format=compact").json
    assert whole["clustered"] is False and whole["numberMatched"] == n == len(whole["records"])
    assert all(f["properties"]["theme"] == "propreté" for f in _expand(whole))
    # one short of the limit: records at zoom 17 without a view (truncated), clusters with one
    cut = anon.get(f"{URL}?theme=propreté&limit={n - 1}&zoom=17&format=compact").json
    assert cut["clustered"] is False and cut["truncated"] is True and len(cut["records"]) == n - 1
    assert anon.get(f"{URL}?theme=propreté&limit={n - 1}&zoom=15&format=compact").json["clustered"] is True
    viewed = anon.get(f"{URL}?theme=propreté&limit={n - 1}&zoom=17&format=compact&bbox=-5,41,10,52").json
    assert viewed["clustered"] is True and viewed["numberMatched"] == n


def test_compact_quartier_and_filters(anon: FlaskClient) -> None:
    for query in ("quartier=QP075019&zoom=17", "theme=propreté&zoom=17&bbox=2.38,48.86,2.39,48.866",
                  "start=2024-01-01&end=2024-02-01&zoom=18&bbox=2.37,48.85,2.41,48.88"):
        full = anon.get(f"{URL}?{query}&limit=5000").json
        compact = anon.get(f"{URL}?{query}&limit=5000&format=compact").json
        assert compact["numberMatched"] == full["numberMatched"] > 0, query
        if not compact["clustered"]:
            assert [f["id"] for f in _expand(compact)] == [f["id"] for f in full["features"]], query


def test_bad_format_names_the_field(anon: FlaskClient) -> None:
    res = anon.get(f"{URL}?format=geojson")
    assert res.status_code == 400 and res.json["champ"] == "format"
    assert anon.get(f"{URL}?format=complet&limit=3&zoom=18").json["numberReturned"] == 3


@pytest.mark.parametrize("role", ["anonyme", "lecteur", "technicien", "administrateur"])
def test_popup_record_is_the_full_feature(clients: dict[str, FlaskClient], role: str) -> None:
    client = clients[role]
    _view, full = _small_view(client)
    for ref in full["features"][:5]:
        res = client.get(f"{URL}/{ref['id']}")
        assert res.status_code == 200 and res.mimetype == "application/geo+json"
        assert res.json == ref
    res = client.get(f"{URL}/pas-un-uid")
    assert res.status_code == 404
    assert client.get("/api/layers/perimetres/features/x").status_code == 404


def test_popup_record_of_a_confidential_layer(clients: dict[str, FlaskClient], store: Any) -> None:
    uid = store.read("videoprotection", limit=1)["uid"].iloc[0]
    for role, client in clients.items():
        res = client.get(f"/api/layers/videoprotection/features/{uid}")
        assert res.status_code == (200 if role in ("technicien", "administrateur") else 404), role


def test_compact_keeps_a_metre_on_messy_points(tmp_path: Path) -> None:
    """Constats 1 m apart, on the same spot, far out of France: each one placed to 0.15 m."""
    path = tmp_path / "t.gpkg"
    base = np.array([652_000.0, 6_862_000.0])
    offsets = [(0, 0), (1, 0), (0, 1), (1, 1), (0, 0), (0.5, 0.3), (250_000, -900_000)]
    xy = np.array([base + o for o in offsets])
    store = open_store(path)
    try:
        frame = gpd.GeoDataFrame({
            "uid": [f"m-{i}" for i in range(len(xy))], "theme": "propreté", "status": "nouveau",
            "observed_at": "2024-03-01T10:00:00", "source": "habitant", "simulated": False,
        }, geometry=shapely.points(xy), crs="EPSG:2154")
        store.write("observations", frame, actor="tests")
    finally:
        store.close()
    app: Flask = create_app({"STORE": str(path), "instance_path": str(tmp_path / "i"), "SECRET_KEY": "k",
                             "TESTING": True})
    body = app.test_client().get(f"{URL}?format=compact&bbox=-5,40,10,52&zoom=18").json
    assert body["numberMatched"] == len(xy) and body["clustered"] is False
    got = {f["id"]: f["geometry"]["coordinates"] for f in _expand(body)}
    for i, (x, y) in enumerate(xy):
        gx, gy = TO_L93.transform(*got[f"m-{i}"])
        assert np.hypot(gx - x, gy - y) < 0.15, (i, gx - x, gy - y)
    # points a metre apart stay apart
    assert got["m-0"] != got["m-1"] and got["m-0"] != got["m-2"] and got["m-0"] == got["m-4"]
