"""The whole constat over HTTP: editing, history in words and changes, duplicates, nearest address.

On a copy of the demo store (real Dans Ma Rue reports of Paris, real BAN addresses of the 20e).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.integrity import territory
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from tests.webmap.conftest import client_logged_as
from tests.webmap.security._fixtures import build_app, client_as
from webmap import users


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    store = demo_store_copy(tmp_path_factory, "constats-api")
    application = build_app(store, tmp_path_factory.mktemp("constats-instance"))
    users.add_user(application.config["USERS_DB"], "bruno", "mot-de-passe-securite", role="technicien",
                   organisation="bailleur")
    return application


@pytest.fixture(scope="module")
def paris(app: Flask) -> list[dict[str, Any]]:
    """Real « transmis » reports of the 20e inside the territory, piloted by a direction of the ville."""
    with open_store(app.config["STORE"]) as store:
        area = territory(store, 400)
        gdf = store.read("observations", where={"status": "transmis"}, bbox=area.bounds)
        ville = gdf["pilote"].isin(["DPE-STPP-DT", "DVD", "DEVE", "DPE-STPP-Fonctionnelle"])
        gdf = gdf[gdf.within(area) & ville & gdf["address"].fillna("").str.contains("75020")].head(12)
        wgs = gdf.to_crs("EPSG:4326")
    return [{"uid": r["uid"], "lon": g.x, "lat": g.y, "theme": r["theme"], "address": r["address"]}
            for (_, r), g in zip(gdf.iterrows(), wgs.geometry, strict=True)]


def _tech(app: Flask) -> FlaskClient:
    return client_as(app, "technicien")


def test_edit_every_field_and_read_the_history(app: Flask, paris: list[dict[str, Any]]) -> None:
    uid = paris[0]["uid"]
    tech = _tech(app)
    body = {"pilote": "bailleur", "partenaires": ["ville", "police"], "deadline": "2031-05-01",
            "description": "Tags sur la porte du local vélos", "subtheme": "Graffitis sur rideau métallique",
            "domanialite": "bailleur", "assigned_to": "ville", "comment": "vu avec le gardien"}
    res = tech.patch(f"/api/observations/{uid}", json=body)
    assert res.status_code == 200, res.json
    props = res.json["properties"]
    assert props["pilote"] == "bailleur" and props["partenaires"] == "ville, police"
    assert props["deadline"].startswith("2031-05-01")
    hist = tech.get(f"/api/observations/{uid}/history").json
    last = hist[-1]
    assert last["status"] == "transmis" and last["comment"] == "vu avec le gardien"
    assert last["changes"]["pilote"][1] == "bailleur" and last["changes"]["deadline"] == [None, "2031-05-01"]
    # anonymous visitors: the status changes only, with their dates (not the edit)
    public = client_as(app, "anonyme").get(f"/api/observations/{uid}/history").json
    assert len(public) == len(hist) - 1 and all(set(h) == {"status", "changed_at"} for h in public)
    # a move, then a status change: each its own entry
    moved = {"lon": paris[0]["lon"] + 0.0003, "lat": paris[0]["lat"]}
    res = tech.patch(f"/api/observations/{uid}", json=moved)
    assert res.status_code == 200
    assert tech.patch(f"/api/observations/{uid}", json={"status": "en cours"}).status_code == 200
    hist = tech.get(f"/api/observations/{uid}/history").json
    assert set(hist[-2]["changes"]) == {"geometry"}
    assert hist[-1]["changes"] == {"status": ["transmis", "en cours"]}


@pytest.mark.parametrize(("body", "field"), [
    ({"description": "x" * 6000}, "description"),
    ({"description": 12}, "description"),
    ({"theme": ["propreté"]}, "theme"),
    ({"deadline": "2001-02-03"}, "deadline"),
    ({"deadline": "31/02/2030"}, "deadline"),
    ({"assigned_to": "mairie de Paris"}, "assigned_to"),
    ({"domanialite": "lunaire"}, "domanialite"),
    ({"pilote": "Entreprise fictive"}, "pilote"),
    ({"organisation": "police"}, "organisation"),
    ({"duplicate_of": "x"}, "duplicate_of"),
    ({"<script>": 1}, "<script>"),
    ({"lon": 2.4}, "lat"),
    ({"lon": 3.0, "lat": 50.0}, "lon"),
    ({}, "corps"),
])
def test_hostile_edits_are_refused_naming_the_field(app: Flask, paris: list[dict[str, Any]],
                                                    body: dict[str, Any], field: str) -> None:
    res = _tech(app).patch(f"/api/observations/{paris[1]['uid']}", json=body)
    assert res.status_code == 400 and res.json["champ"] == field, res.json


def test_edits_out_of_scope_are_forbidden(app: Flask, paris: list[dict[str, Any]]) -> None:
    uid = paris[2]["uid"]
    bailleur = client_logged_as(app, "bruno", token="jeton-bruno")
    # a Dans Ma Rue report piloted by a Paris direction: the ville's technician may, the bailleur's not
    assert bailleur.patch(f"/api/observations/{uid}", json={"description": "x"}).status_code == 403
    assert _tech(app).patch(f"/api/observations/{uid}", json={"description": "vu"}).status_code == 200
    reader = client_as(app, "lecteur")
    assert reader.patch(f"/api/observations/{uid}", json={"description": "x"}).status_code == 403


def test_merge_a_duplicate(app: Flask, paris: list[dict[str, Any]]) -> None:
    tech = _tech(app)
    kept, dup, other = paris[3], paris[4], paris[5]
    res = tech.post(f"/api/observations/{dup['uid']}/doublon", json={"de": kept["uid"]})
    assert res.status_code == 200, res.json
    assert res.json["doublon"]["properties"]["status"] == "clos non traité"
    assert res.json["doublon"]["properties"]["duplicate_of"] == kept["uid"]
    assert res.json["garde"]["properties"]["uid"] == kept["uid"]
    assert kept["uid"] not in res.json["message"] and "fusionné dans « " in res.json["message"]
    hist = tech.get(f"/api/observations/{dup['uid']}/history").json
    assert hist[-1]["comment"].startswith("doublon de « ")
    assert hist[-1]["changes"]["duplicate_of"][1] == kept["uid"]
    kept_hist = tech.get(f"/api/observations/{kept['uid']}/history").json
    assert kept_hist[-1]["comment"].startswith("doublon fusionné : « ")
    # the kept constat lists its duplicates through the layer's field filter
    found = tech.get(f"/api/layers/observations/features?duplicate_of={kept['uid']}").json
    assert [f["properties"]["uid"] for f in found["features"]] == [dup["uid"]]
    # into the closed duplicate: merged into the kept constat
    res = tech.post(f"/api/observations/{other['uid']}/doublon", json={"de": dup["uid"]})
    assert res.status_code == 200 and res.json["garde"]["properties"]["uid"] == kept["uid"]
    for uid, body, code, field in [
        (kept["uid"], {"de": kept["uid"]}, 400, "de"),
        (dup["uid"], {"de": paris[6]["uid"]}, 400, "de"),  # already a duplicate
        (kept["uid"], {"de": dup["uid"]}, 400, "de"),  # would loop
        (kept["uid"], {"de": 42}, 400, "de"),
        (kept["uid"], {"de": paris[6]["uid"], "force": True}, 400, "force"),
        (kept["uid"], {"de": "inconnu-000000"}, 404, None),
        ("inconnu-000000", {"de": kept["uid"]}, 404, None),
    ]:
        res = tech.post(f"/api/observations/{uid}/doublon", json=body)
        assert res.status_code == code and res.json.get("champ") == field, (body, res.json)


def test_merge_across_scope_is_forbidden(app: Flask, paris: list[dict[str, Any]]) -> None:
    bailleur = client_logged_as(app, "bruno", token="jeton-bruno")
    res = bailleur.post(f"/api/observations/{paris[7]['uid']}/doublon", json={"de": paris[8]["uid"]})
    assert res.status_code == 403
    with open_store(app.config["STORE"]) as store:
        assert store.get("observations", paris[7]["uid"]).iloc[0]["status"] == "transmis"


def test_nearest_address(app: Flask) -> None:
    with open_store(app.config["STORE"]) as store:
        one = store.read("adresses", limit=500).iloc[[-1]]
    point = gpd.GeoSeries(one.geometry, crs="EPSG:2154").to_crs("EPSG:4326").iloc[0]
    anon = client_as(app, "anonyme")
    got = anon.get(f"/api/adresses/proche?lon={point.x}&lat={point.y}").json
    assert got["adresse"].startswith(str(int(one["number"].iloc[0]))) and got["distance_m"] < 1
    assert one["street"].iloc[0] in got["adresse"]
    far = anon.get("/api/adresses/proche?lon=2.2&lat=48.7").json  # south of Paris: no address point
    assert far == {"adresse": None, "distance_m": None, "message": "Aucune adresse à moins de 50 m."}
    for query, field in [("lon=abc&lat=48.8", "lon"), ("lon=2.3", "lat"), ("lon=2.3&lat=inf", "lat"),
                         ("lon=500&lat=48", "lon")]:
        res = anon.get(f"/api/adresses/proche?{query}")
        assert res.status_code == 400 and res.json["champ"] == field


def test_choices_of_the_form(app: Flask) -> None:
    got = _tech(app).get("/api/constats/choix").json
    assert got["pilotes"][:2] == ["ville", "EPCI"] and "DPE-STPP-DT" in got["pilotes"]
    assert "Graffitis sur rideau métallique" in got["sous_themes"]["tags et graffitis"]
    assert got["domanialites"][0] == "publique"
    assert client_as(app, "lecteur").get("/api/constats/choix").status_code == 403


def test_created_constat_takes_a_pilote_from_the_list(app: Flask, paris: list[dict[str, Any]]) -> None:
    tech = _tech(app)
    body = {"lon": paris[9]["lon"], "lat": paris[9]["lat"], "theme": "propreté", "pilote": "bailleur",
            "deadline": "2031-01-01", "address": "12 Rue des Pyrénées, 75020 Paris"}
    res = tech.post("/api/observations", json=body)
    assert res.status_code == 201, res.json


def test_openapi_documents_the_routes(app: Flask) -> None:
    spec = _tech(app).get("/openapi.json").json
    assert "/api/observations/{uid}/doublon" in spec["paths"] and "/api/adresses/proche" in spec["paths"]
    patch = spec["components"]["schemas"]["StatusChange"]["properties"]
    assert {"pilote", "deadline", "partenaires", "lon", "lat"} <= set(patch)
    assert "changes" in spec["components"]["schemas"]["HistoryEntry"]["properties"]
    public = client_as(app, "anonyme").get("/openapi.json").json
    assert "changes" not in public["components"]["schemas"]["HistoryEntry"]["properties"]
