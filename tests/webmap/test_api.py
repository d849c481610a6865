# mypy: disable-error-code="index, union-attr, arg-type, operator, dict-item"
# (Response.json is Optional for mypy; these tests assert the status code first)
"""The /api endpoints of the map page, for every role, with good and bad input."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient

from webmap.app import create_app
from webmap.sessions import session_fields

PARIS_VIEW = "2.37,48.85,2.41,48.88"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 32


def _bbox(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


# -- session, layers ------------------------------------------------------------------
def test_session_per_role(clients: dict[str, FlaskClient]) -> None:
    for role, client in clients.items():
        body = client.get("/api/session").json
        assert body["role"] == role
        assert (body["user"] is None) == (role == "anonyme")
        assert body["csrf_token"]


def test_layers_listing_hides_confidential(clients: dict[str, FlaskClient], store: Any) -> None:
    counts = {i.name: i.count for i in store.layers()}
    for role, client in clients.items():
        res = client.get("/api/layers")
        assert res.status_code == 200
        layers = {lay["name"]: lay for lay in res.json}
        assert ("videoprotection" in layers) == (role in ("technicien", "administrateur"))
        obs = layers["observations"]
        assert obs["count"] == counts["observations"] and obs["geometry"] == "Point"
        assert obs["time_min"] <= obs["time_max"] and obs["confidential"] is False
        theme = next(f for f in obs["fields"] if f["name"] == "theme")
        assert theme["label"] == "Thème" and theme["type"] == "str" and "propreté" in theme["choices"]
        assert len(obs["bbox"]) == 4 and 2 < obs["bbox"][0] < 4


def test_layer_roles_are_configurable(app: Flask) -> None:
    other = create_app(
        {
            **{k: app.config[k] for k in ("STORE", "USERS_DB", "SECRET_KEY")},
            "instance_path": app.instance_path,
            "LAYER_ROLES": {
                "videoprotection": ["lecteur", "technicien", "administrateur"],
                "bacs": ["administrateur"],
            },
        }
    )
    client = other.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields("lea", other.config["USERS_DB"]))
    names = {lay["name"] for lay in client.get("/api/layers").json}
    assert "videoprotection" in names and "bacs" not in names
    assert client.get("/api/layers/bacs/features").status_code == 404
    assert client.get("/api/layers/videoprotection/features?limit=3&zoom=18").status_code == 200


# -- features ---------------------------------------------------------------------------
def test_features_in_view_match_store(anon: FlaskClient, store: Any) -> None:
    res = anon.get(f"/api/layers/observations/features?bbox={PARIS_VIEW}&theme=propreté&limit=5000")
    assert res.status_code == 200 and res.mimetype == "application/geo+json"
    body = res.json
    expected = store.count(
        "observations", bbox=_bbox(PARIS_VIEW), bbox_crs="EPSG:4326", where={"theme": "propreté"}
    )
    assert expected > 0 and body["numberMatched"] == expected == len(body["features"])
    assert body["clustered"] is False
    f = body["features"][0]
    assert {"uid", "simulated", "theme", "status", "observed_at"} <= set(f["properties"])
    assert f["properties"]["theme"] == "propreté" and f["id"] == f["properties"]["uid"]
    lon, lat = f["geometry"]["coordinates"]
    minx, miny, maxx, maxy = _bbox(PARIS_VIEW)
    assert minx - 1e-6 <= lon <= maxx + 1e-6 and miny - 1e-6 <= lat <= maxy + 1e-6


def test_features_time_source_simulated_filters(anon: FlaskClient, store: Any) -> None:
    url = "/api/layers/observations/features?start=2024-01-01&end=2024-02-01&simulated=false&zoom=18"
    body = anon.get(url).json
    assert body["numberMatched"] == store.count(
        "observations", start="2024-01-01", end="2024-02-01", where={"simulated": False}
    )
    assert all(f["properties"]["observed_at"].startswith("2024-01") for f in body["features"])
    sim = anon.get("/api/layers/observations/features?simulated=true&zoom=18&limit=10000").json
    assert sim["numberMatched"] == store.count("observations", where={"simulated": True}) > 0
    assert all(f["properties"]["simulated"] is True for f in sim["features"])
    src = anon.get("/api/layers/observations/features?source=habitant&limit=1&zoom=18").json
    assert src["numberReturned"] == 1 and src["truncated"] is True


def test_features_quartier(anon: FlaskClient, store: Any) -> None:
    body = anon.get("/api/layers/observations/features?quartier=QP075019&zoom=18").json
    perimeter = store.read("perimetres", where={"code": "QP075019"}).geometry.iloc[0]
    obs = store.read("observations", bbox=perimeter.bounds)
    assert body["numberMatched"] == int(obs.intersects(perimeter).sum()) > 0
    # a view disjoint from the quartier: nothing
    far = anon.get("/api/layers/observations/features?quartier=QP075019&bbox=3.8,43.5,3.9,43.7").json
    assert far["numberMatched"] == 0 and far["features"] == []
    res = anon.get("/api/layers/observations/features?quartier=QP999999")
    assert res.status_code == 400 and res.json["champ"] == "quartier"


def test_features_cluster_beyond_limit(anon: FlaskClient) -> None:
    body = anon.get(f"/api/layers/observations/features?bbox={PARIS_VIEW}&limit=20&zoom=13").json
    assert body["clustered"] is True and body["numberMatched"] > 20
    assert all(f["properties"]["cluster"] is True for f in body["features"])
    assert sum(f["properties"]["count"] for f in body["features"]) == body["numberMatched"]
    for f in body["features"]:
        x0, y0, x1, y1 = f["properties"]["bbox"]
        lon, lat = f["geometry"]["coordinates"]
        assert x0 - 1e-6 <= lon <= x1 + 1e-6 and y0 - 1e-6 <= lat <= y1 + 1e-6
    finer = anon.get(f"/api/layers/observations/features?bbox={PARIS_VIEW}&limit=20&zoom=15").json
    assert len(finer["features"]) > len(body["features"])
    close = anon.get(f"/api/layers/observations/features?bbox={PARIS_VIEW}&limit=20&zoom=16").json
    assert close["clustered"] is False and close["numberReturned"] == 20 and close["truncated"] is True


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=3,48,2,49", "bbox"),
        ("bbox=2,95,3,96", "bbox"),
        ("theme=inconnu", "theme"),
        ("couleur=rouge", "couleur"),
        ("start=hier", "start"),
        ("start=2024-02-01&end=2024-01-01", "end"),
        ("limit=0", "limit"),
        ("limit=beaucoup", "limit"),
        ("zoom=-1", "zoom"),
        ("simulated=peut-etre", "simulated"),
        ("geometry=x", "geometry"),
        ("photos=x", "photos"),
    ],
)
def test_features_bad_input_names_the_field(anon: FlaskClient, query: str, field: str) -> None:
    res = anon.get(f"/api/layers/observations/features?{query}")
    assert res.status_code == 400, res.json
    assert res.json["champ"] == field and res.json["erreur"]


def test_undated_layer_refuses_dates(tech: FlaskClient) -> None:
    res = tech.get("/api/layers/bacs/features?start=2024-01-01")
    assert res.status_code == 400 and res.json["champ"] == "start"


def test_confidential_layer_is_404_for_readers(clients: dict[str, FlaskClient]) -> None:
    for role, client in clients.items():
        for suffix in ("features", "stats", "export.csv", "export.geojson"):
            res = client.get(f"/api/layers/videoprotection/{suffix}?zoom=18&limit=5")
            if role in ("anonyme", "lecteur"):
                assert res.status_code == 404, (role, suffix)
                # answered exactly like a layer that does not exist
                unknown = client.get(f"/api/layers/pas_une_couche/{suffix}?zoom=18&limit=5")
                assert res.json == {
                    **unknown.json,
                    "erreur": unknown.json["erreur"].replace("pas_une_couche", "videoprotection"),
                }
            else:
                assert res.status_code == 200, (role, suffix)
    for client in clients.values():
        assert client.get("/api/layers/pas_une_couche/features").status_code == 404


# -- stats, export ----------------------------------------------------------------------------
def test_stats(anon: FlaskClient, tech: FlaskClient, store: Any) -> None:
    body = anon.get("/api/layers/observations/stats?start=2024-01-01&end=2024-07-01").json
    total = store.count("observations", start="2024-01-01", end="2024-07-01")
    assert body["total"] == total > 0
    assert sum(body["by_month"].values()) == total
    assert set(body["by_month"]) <= {f"2024-0{m}" for m in range(1, 7)}
    for key in ("by_theme", "by_status", "by_source"):
        assert sum(body[key].values()) == total
    assert body["by_simulated"]["true"] + body["by_simulated"]["false"] == total
    bacs = tech.get("/api/layers/bacs/stats").json
    assert "by_theme" not in bacs and "by_month" not in bacs and "by_status" not in bacs
    assert bacs["total"] == store.count("bacs")
    q = anon.get("/api/layers/observations/stats?quartier=QP075019&theme=dépôts sauvages").json
    assert q["by_theme"] == {"dépôts sauvages": q["total"]}


def test_exports(anon: FlaskClient, store: Any) -> None:
    res = anon.get(f"/api/layers/observations/export.geojson?bbox={PARIS_VIEW}&status=transmis")
    assert res.status_code == 200 and "attachment" in res.headers["Content-Disposition"]
    data = json.loads(res.data)
    expected = store.count(
        "observations", bbox=_bbox(PARIS_VIEW), bbox_crs="EPSG:4326", where={"status": "transmis"}
    )
    assert len(data["features"]) == expected > 0
    assert 2 < data["features"][0]["geometry"]["coordinates"][0] < 3
    res = anon.get("/api/layers/observations/export.csv?quartier=QP075019")
    assert res.status_code == 200 and res.headers["Content-Disposition"].endswith('.csv"')
    frame = pd.read_csv(io.BytesIO(res.data), sep=";", encoding="utf-8-sig")
    assert {"lon", "lat", "wkt_lambert93", "uid"} <= set(frame.columns) and len(frame) > 0
    assert anon.get("/api/layers/observations/export.xlsx").status_code == 404
    empty = anon.get("/api/layers/observations/export.geojson?start=1990-01-01&end=1990-02-01")
    assert empty.status_code == 200 and json.loads(empty.data)["features"] == []


# -- observations ---------------------------------------------------------------------------------
def test_create_observation_roles_and_idempotence(clients: dict[str, FlaskClient], store: Any) -> None:
    body = {"lon": 2.4105, "lat": 48.8602, "theme": "Propreté", "description": "Sacs au pied de l'arbre"}
    assert clients["anonyme"].post("/api/observations", json=body).status_code == 401
    assert clients["lecteur"].post("/api/observations", json=body).status_code == 403
    uid = uuid.uuid4().hex
    before = store.count("observations")
    res = clients["technicien"].post("/api/observations", json={**body, "uid": uid})
    assert res.status_code == 201 and res.json["uid"] == uid
    again = clients["administrateur"].post("/api/observations", json={**body, "uid": uid})
    assert again.status_code == 200 and again.json["uid"] == uid and again.json["created"] is False
    assert again.json["record"]["properties"]["description"] == "Sacs au pied de l'arbre"
    assert store.count("observations") == before + 1
    feat = clients["anonyme"].get(f"/api/observations/{uid}").json
    p = feat["properties"]
    assert p["theme"] == "propreté" and p["source"] == "diagnostic en marchant" and p["status"] == "nouveau"
    assert p["simulated"] is False
    assert feat["geometry"]["coordinates"] == pytest.approx([2.4105, 48.8602], abs=1e-6)
    hist = clients["lecteur"].get(f"/api/observations/{uid}/history").json
    assert len(hist) == 1 and hist[0]["status"] == "nouveau" and hist[0]["changed_by"] == "theo (ville)"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lat": 48.86, "theme": "propreté"}, "lon"),
        ({"lon": "est", "lat": 48.86, "theme": "propreté"}, "lon"),
        ({"lon": 2.39, "lat": 95, "theme": "propreté"}, "lat"),
        ({"lon": 120.0, "lat": 48.86, "theme": "propreté"}, "lon"),
        ({"lon": 2.41, "lat": 48.86}, "theme"),
        ({"lon": 2.41, "lat": 48.86, "theme": "licornes"}, "theme"),
        ({"lon": 2.41, "lat": 48.86, "theme": "voirie", "status": "oublié"}, "status"),
        ({"lon": 2.41, "lat": 48.86, "theme": "voirie", "observed_at": "la semaine dernière"}, "observed_at"),
        ({"lon": 2.41, "lat": 48.86, "theme": "voirie", "simulated": True}, "simulated"),
        ({"lon": 2.41, "lat": 48.86, "theme": "voirie", "couleur": "bleu"}, "couleur"),
        ({"lon": 2.41, "lat": 48.86, "theme": "voirie", "uid": "a b"}, "uid"),
        ({"lon": 2.41, "lat": 48.86, "theme": "voirie", "photos": ["x.jpg"]}, "photos"),
    ],
)
def test_create_observation_bad_input(tech: FlaskClient, body: dict[str, Any], field: str) -> None:
    res = tech.post("/api/observations", json=body)
    assert res.status_code == 400, res.json
    assert res.json["champ"] == field


def test_create_observation_bad_bodies(tech: FlaskClient) -> None:
    res = tech.post("/api/observations", data="pas du json", content_type="application/json")
    assert res.status_code == 400 and res.json["champ"] == "corps"
    res = tech.post("/api/observations", json=[1, 2])
    assert res.status_code == 400 and res.json["champ"] == "corps"
    res = tech.post("/api/observations", data="x", content_type="text/plain")
    assert res.status_code == 415


def test_create_observation_with_photos(
    app: Flask, tech: FlaskClient, clients: dict[str, FlaskClient]
) -> None:
    form = {
        "lon": "2,4101",
        "lat": "48.8603",
        "theme": "dépôts sauvages",
        "photos": [(io.BytesIO(PNG), "a.png"), (io.BytesIO(JPEG), "b.jpeg"), (io.BytesIO(WEBP), "c.webp")],
    }
    res = tech.post("/api/observations", data=form, content_type="multipart/form-data")
    assert res.status_code == 201, res.json
    feat = tech.get(f"/api/observations/{res.json['uid']}").json
    names = feat["properties"]["photos"]
    assert len(names) == 3 and [n.rsplit(".", 1)[1] for n in names] == ["png", "jpg", "webp"]
    assert "photos" not in clients["anonyme"].get(f"/api/observations/{res.json['uid']}").json["properties"]
    with clients["lecteur"].get(f"/photos/{names[0]}") as got:
        assert got.status_code == 200 and got.data == PNG and got.mimetype == "image/png"
    assert clients["anonyme"].get(f"/photos/{names[0]}").status_code == 401
    for bad in (
        "..%2F..%2Fetc%2Fpasswd",
        "../users.sqlite",
        "abc.png",
        names[0].replace("png", "gif"),
        "0" * 32 + ".png",
    ):
        assert clients["technicien"].get(f"/photos/{bad}").status_code == 404, bad


@pytest.mark.parametrize(
    "files",
    [
        [(b"GIF89a" + b"\x00" * 30, "x.gif")],
        [(b"<?php echo 1; ?>", "x.jpg")],
        [(PNG, "p.png")] * 6,
        [(JPEG, "petite.jpg"), (b"\xff\xd8\xff" + b"\x00" * 5000, "grosse.jpg")],
    ],
)
def test_create_observation_bad_photos(
    app: Flask, tech: FlaskClient, files: list[tuple[bytes, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4 kB instead of 5 MB: the test client spools large bodies to files it never closes
    monkeypatch.setitem(app.config, "MAX_PHOTO_BYTES", 4096)
    folder = Path(app.config["PHOTOS_DIR"])
    before = set(folder.glob("*")) if folder.exists() else set()
    form = {
        "lon": "2.41",
        "lat": "48.86",
        "theme": "propreté",
        "photos": [(io.BytesIO(data), name) for data, name in files],
    }
    res = tech.post("/api/observations", data=form, content_type="multipart/form-data")
    assert res.status_code == 400 and res.json["champ"] == "photos"
    after = set(folder.glob("*")) if folder.exists() else set()
    assert after == before


def test_patch_observation(clients: dict[str, FlaskClient], store: Any) -> None:
    # a constat piloted by the city's DPE: within the scope of theo (technicien, ville)
    uid = store.read("observations", where={"pilote": "DPE-STPP-DT"}, limit=1, offset=5)["uid"].iloc[0]
    change = {"status": "traité", "comment": "Enlevé par la régie"}
    assert clients["anonyme"].patch(f"/api/observations/{uid}", json=change).status_code == 401
    assert clients["lecteur"].patch(f"/api/observations/{uid}", json=change).status_code == 403
    res = clients["technicien"].patch(f"/api/observations/{uid}", json=change)
    assert res.status_code == 200 and res.json["properties"]["status"] == "traité"
    assert res.json["properties"]["resolved_at"]
    hist = clients["lecteur"].get(f"/api/observations/{uid}/history").json
    assert hist[-1]["status"] == "traité" and hist[-1]["comment"] == "Enlevé par la régie"
    assert hist[-1]["changed_by"] == "theo (ville)" and len(hist) >= 2
    # anonymous visitors: status and date only (logins and comments are internal)
    public = clients["anonyme"].get(f"/api/observations/{uid}/history").json
    assert [set(h) for h in public] == [{"status", "changed_at"}] * len(hist)
    for body, field in [
        ({"status": "envolé"}, "status"),
        ({"comment": "rien"}, "corps"),  # a comment alone changes nothing
        ({"status": "traité", "organisation": "ville"}, "organisation"),  # set by the server only
        ({"status": "traité", "theme": "licorne"}, "theme"),
        ({"status": "traité", "comment": 3}, "comment"),
    ]:
        res = clients["technicien"].patch(f"/api/observations/{uid}", json=body)
        assert res.status_code == 400 and res.json["champ"] == field, body
    assert clients["technicien"].patch("/api/observations/inconnu", json=change).status_code == 404
    assert clients["anonyme"].get("/api/observations/inconnu").status_code == 404
    assert clients["anonyme"].get("/api/observations/inconnu/history").status_code == 404


def test_points_noirs_events_and_bacs_readings(clients: dict[str, FlaskClient], store: Any) -> None:
    pn = store.read("points_noirs", limit=1)["uid"].iloc[0]
    bac = store.read("bacs", limit=1)["uid"].iloc[0]
    # simulated points noirs are managed by the city: theo (technicien, ville) records their events
    assert store.get("points_noirs", pn)["manager"].iloc[0].startswith("Ville")
    event = {
        "observed_at": "2024-05-02T08:30",
        "waste_type": "encombrants",
        "volume_m3": 2.5,
        "cleaned_at": "2024-05-03T10:00",
    }
    url = f"/api/points_noirs/{pn}/evenements"
    assert clients["anonyme"].post(url, json=event).status_code == 401
    assert clients["lecteur"].post(url, json=event).status_code == 403
    before = len(store.read_children("points_noirs", "evenements", parent_uids=[pn]))
    res = clients["technicien"].post(url, json=event)
    assert res.status_code == 201 and res.json["created"] is True
    again = clients["technicien"].post(url, json=event)
    assert again.status_code == 200 and again.json["uid"] == res.json["uid"]
    assert len(store.read_children("points_noirs", "evenements", parent_uids=[pn])) == before + 1
    for body, field in [
        ({**event, "volume_m3": 900}, "volume_m3"),
        ({"waste_type": "gravats"}, "observed_at"),
        ({**event, "waste_type": "plutonium"}, "waste_type"),
        ({**event, "odeur": "forte"}, "odeur"),
    ]:
        res = clients["technicien"].post(url, json=body)
        assert res.status_code == 400 and res.json["champ"] == field, body
    assert clients["technicien"].post("/api/points_noirs/inconnu/evenements", json=event).status_code == 404
    rurl = f"/api/bacs/{bac}/releves"
    res = clients["administrateur"].post(rurl, json={"measured_at": "2024-06-01T07:00", "fill_pct": 85})
    assert res.status_code == 201
    res = clients["technicien"].post(rurl, json={"measured_at": "2024-06-01T07:00", "fill_pct": 150})
    assert res.status_code == 400 and res.json["champ"] == "fill_pct"
    assert clients["lecteur"].post(rurl, json={"measured_at": "2024-06-01", "fill_pct": 5}).status_code == 403


def test_users_listing_admin_only(clients: dict[str, FlaskClient]) -> None:
    expected = {"anonyme": 401, "lecteur": 403, "technicien": 403, "administrateur": 200}
    for role, client in clients.items():
        assert client.get("/api/users").status_code == expected[role]
    logins = {u["login"] for u in clients["administrateur"].get("/api/users").json}
    assert {"lea", "theo", "ada"} <= logins


def test_never_500_on_garbage(clients: dict[str, FlaskClient]) -> None:
    garbage = [
        "bbox=nan,nan,nan,nan",
        "bbox=inf,0,1,1",
        "start=2024-13-45",
        "end=0000-00-00",
        "limit=99999999999999999999",
        "zoom=9999",
        "quartier=%00",
        "theme=%FF%FE",
        "status=",
        "simulated=",
        "start=2024-01-01T25:00",
        "bbox=,,,",
    ]
    paths = [
        "/api/layers/observations/features?zoom=18&limit=3&",
        "/api/layers/bacs/features?zoom=18&",
        "/api/layers/observations/stats?start=2030-01-01&",
        "/open311/v2/requests.json?limit=3&",
        "/ogc/collections/observations/items?limit=3&",
    ]
    for role in ("anonyme", "technicien"):
        client = clients[role]
        for path in paths:
            for q in garbage:
                res = client.get(f"{path}{q}")
                assert res.status_code < 500, (path, q, res.get_data(as_text=True)[:200])
    for client in clients.values():
        for body in ("{", "null", "[]", '{"lon": null}', '{"lon": 1e999, "lat": 1e999}'):
            res = client.post("/api/observations", data=body, content_type="application/json")
            assert res.status_code < 500, body
            res = client.patch("/api/observations/x", data=body, content_type="application/json")
            assert res.status_code < 500, body


def test_cluster_grid_is_pure() -> None:
    import geopandas as gpd

    from webmap.geojson import cluster_features

    pts = gpd.GeoDataFrame(
        geometry=shapely.points([[650000, 6860000], [650010, 6860010], [660000, 6870000]]), crs="EPSG:2154"
    )
    feats = cluster_features(pts, 14, "EPSG:2154", 48.85)
    assert sorted(f["properties"]["count"] for f in feats) == [1, 2]


def test_accounts_only_layer_is_unknown_to_anonymous(app: Flask, anon: FlaskClient) -> None:
    """The plan d'actions (``public=False``) is for accounts, unless the public profile opens it."""
    assert "actions" not in {lay["name"] for lay in anon.get("/api/layers").json}
    assert anon.get("/api/layers/actions/features").status_code == 404
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields("lea", app.config["USERS_DB"]))
    assert "actions" in {lay["name"] for lay in client.get("/api/layers").json}
    opened = create_app({
        **{k: app.config[k] for k in ("STORE", "USERS_DB", "SECRET_KEY")},
        "instance_path": app.instance_path,
        "PUBLIC_PROFILE": {"layers": ["perimetres", "actions"]},
    })
    assert "actions" in {lay["name"] for lay in opened.test_client().get("/api/layers").json}
