"""JSON API of the plan d'actions (webmap/actions_api.py), the OGC collection and the OpenAPI.

On a copy of the web tests' store (real Dans Ma Rue Paris constats, real QPV perimeters,
simulated Montpellier records), with technicians of the city and of the bailleur.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from layers.conventions import import_convention, load_convention
from layers.settings import REPO_ROOT
from layers.store import open_store
from tests.webmap.security._orgs import add_walk, client, copy_store, make_app

MOSSON = {"lon": 3.82, "lat": 43.632}
MONTBELIARD = REPO_ROOT / "data" / "conventions" / "pays-de-montbeliard-2025-2030.yaml"


@pytest.fixture(scope="module")
def copy_path(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("actions-api")
    path = copy_store(store_path, folder / "territoire.gpkg")
    store = open_store(path, create=False)
    try:
        import_convention(store, load_convention(MONTBELIARD))
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def app(copy_path: Path) -> Flask:
    return make_app(copy_path, copy_path.parent)


@pytest.fixture
def store(copy_path: Path) -> Iterator[Any]:
    s = open_store(copy_path, create=False)
    try:
        yield s
    finally:
        s.close()


def _open_constats(store: Any, n: int, *, offset: int = 0, pilote: str | None = None) -> list[str]:
    where: dict[str, Any] = {"status": ["nouveau", "transmis", "en cours"]}
    if pilote:
        where["pilote"] = pilote
    rows = store.read("observations", where=where, limit=n, offset=offset, order_by="uid")
    assert len(rows) == n
    return rows["uid"].astype(str).tolist()


def _create(app: Flask, body: dict[str, Any], login: str = "theo") -> dict[str, Any]:
    res = client(app, login).post("/api/actions", json=body)
    assert res.status_code == 201, res.json
    return dict(res.json)


def test_roles(app: Flask) -> None:
    action = _create(app, {"title": "Réparer l'éclairage de la passerelle", **MOSSON})
    anon = app.test_client()
    assert anon.get("/api/actions").status_code == 401
    assert anon.get(f"/api/actions/{action['id']}").status_code == 401
    assert anon.post("/api/actions", json={"title": "x"}).status_code == 401
    assert "actions" not in [layer["name"] for layer in anon.get("/api/layers").json]
    assert anon.get("/ogc/collections/actions").status_code == 404
    assert anon.get(f"/ogc/collections/actions/items/{action['id']}").status_code == 404
    assert "actions" not in [c["id"] for c in anon.get("/ogc/collections").json["collections"]]
    reader = client(app, "lea")
    listed = reader.get("/api/actions")
    assert listed.status_code == 200 and listed.json["type"] == "FeatureCollection"
    assert action["id"] in [f["id"] for f in listed.json["features"]]
    assert reader.post("/api/actions", json={"title": "x"}).status_code == 403
    assert reader.patch(f"/api/actions/{action['id']}", json={"etat": "engagée"}).status_code == 403
    assert reader.get("/api/actions/inconnue").status_code == 404
    assert client(app, "theo").patch("/api/actions/inconnue", json={"etat": "engagée"}).status_code == 404


def test_create_read_and_realise(app: Flask, store: Any) -> None:
    constats = _open_constats(store, 3)
    tech = client(app, "theo")
    deadline = (date.today() + timedelta(days=90)).isoformat()
    feature = _create(app, {"title": "Enlèvement des dépôts", "constats": constats, "origine": "usage",
                            "deadline": deadline, "pilote": "Ville — propreté", **MOSSON})
    props = feature["properties"]
    assert feature["geometry"]["type"] == "Point"
    lon, lat = feature["geometry"]["coordinates"]
    assert abs(lon - MOSSON["lon"]) < 1e-6 and abs(lat - MOSSON["lat"]) < 1e-6
    assert props["organisation"] == "ville" and props["etat"] == "à engager"
    assert sorted(props["constats"]) == sorted(constats) and props["en_retard"] is False
    assert props["deadline"] == deadline and props["reference"]
    placeless = _create(app, {"title": "Formation des gardiens", "tfpb": True, "bailleur": "Hérault Habitat",
                              "tfpb_year": 2026, "tfpb_axe": "2", "amount_planned": 4500})
    assert placeless["geometry"] is None
    one = tech.get(f"/api/actions/{feature['id']}").json
    assert [h["status"] for h in one["properties"]["historique"]] == ["à engager"]
    details = one["properties"]["constats"]
    assert sorted(d["uid"] for d in details) == sorted(constats)
    assert {"theme", "status", "observed_at", "address", "description"} <= set(details[0])
    done = tech.patch(f"/api/actions/{feature['id']}", json={"etat": "réalisée", "commentaire": "fait"})
    assert done.status_code == 200, done.json
    assert done.json["properties"]["resolved_at"] is not None
    for uid in constats:
        constat = tech.get(f"/api/observations/{uid}").json["properties"]
        assert constat["status"] == "traité" and constat["action_reference"] == props["reference"]
    history = tech.get(f"/api/actions/{feature['id']}").json["properties"]["historique"]
    assert [h["status"] for h in history] == ["à engager", "réalisée"] and history[-1]["comment"] == "fait"
    moved = tech.patch(f"/api/actions/{placeless['id']}",
                       json={"geometry": {"type": "Polygon", "coordinates": [[
                           [3.8195, 43.6315], [3.8205, 43.6315], [3.8205, 43.6325], [3.8195, 43.6315]]]}})
    assert moved.status_code == 200 and moved.json["geometry"]["type"] in ("Polygon", "MultiPolygon")
    cleared = tech.patch(f"/api/actions/{placeless['id']}", json={"geometry": None})
    assert cleared.status_code == 200 and cleared.json["geometry"] is None


def test_filters(app: Flask) -> None:
    late = _create(app, {"title": "Élagage en retard", "deadline": "2024-01-31", "etat": "engagée",
                         "quartier": "QP034005", "pilote": "Métropole — espaces verts"})
    undated = _create(app, {"title": "Sans délai", "etat": "engagée", "quartier": "QP034005"})
    reader = client(app, "lea")
    found = [f["id"] for f in reader.get("/api/actions?en_retard=1").json["features"]]
    assert late["id"] in found and undated["id"] not in found
    assert reader.get("/api/actions?quartier=QP034005&pilote=metropole").json["numberMatched"] == 1
    engaged = reader.get("/api/actions?etat=engagée,reportée").json["features"]
    assert {f["properties"]["etat"] for f in engaged} == {"engagée"}
    assert reader.get("/api/actions?debut=2099-01-01").json["features"] == []
    for query, field in (("etat=bidon", "etat"), ("annee=deux", "annee"), ("debut=hier", "debut"),
                         ("en_retard=peut-être", "en_retard"), ("couleur=rouge", "couleur"),
                         ("debut=2026-02-01&fin=2026-01-01", "fin")):
        res = reader.get(f"/api/actions?{query}")
        assert res.status_code == 400 and res.json["champ"] == field, query


@pytest.mark.parametrize(("body", "field"), [
    ({"title": 123}, "title"),
    ({"title": "x", "amount_planned": "beaucoup"}, "amount_planned"),
    ({"title": "x", "tfpb": "oui"}, "tfpb"),
    ({"title": "x", "couleur": "rouge"}, "couleur"),
    ({"title": "x", "organisation": "police"}, "organisation"),
    ({"title": "x" * 10_000}, "title"),
    ({"title": "x", "description": "y" * 6000}, "description"),
    ({"title": "x", "constats": "abc"}, "constats"),
    ({"title": "x", "constats": {"a": 1}}, "constats"),
    ({"title": "x", "constats": [1, 2]}, "constats"),
    ({"title": "x", "geometry": {"type": "Point", "coordinates": "x"}}, "geometry"),
    ({"title": "x", "geometry": "POINT(3 43)"}, "geometry"),
    ({"title": "x", "lon": 150.0, "lat": 43.6}, "lon"),
    ({"title": "x", "lon": "3.8", "lat": 43.6}, "lon"),
    ({"title": "x", "origine": "météo"}, "origine"),
    ({"title": "x", "etat": "terminée"}, "etat"),
    ({"title": "x", "convention": "inconnue"}, "convention"),
    ({"title": "x", "convention": "pays-de-montbeliard-2025-2030", "orientation": "42"}, "orientation"),
    ({"title": "x", "deadline": "bientôt"}, "deadline"),
    ({"title": "x", "reference": "<script>"}, "reference"),
    ({}, "title"),
])
def test_hostile_bodies(app: Flask, body: dict[str, Any], field: str) -> None:
    res = client(app, "theo").post("/api/actions", json=body)
    assert res.status_code == 400, (body, res.json)
    assert res.json["champ"] == field and res.json["erreur"]


def test_hostile_non_objects(app: Flask) -> None:
    tech = client(app, "theo")
    for body in ([1, 2], "texte", None):
        res = tech.post("/api/actions", json=body)
        assert res.status_code == 400 and res.json["champ"] == "corps"
    action = _create(app, {"title": "Cible"})
    res = tech.post(f"/api/actions/{action['id']}/constats", json={"constats": "abc"})
    assert res.status_code == 400 and res.json["champ"] == "constats"
    res = tech.post(f"/api/actions/{action['id']}/constats", json={"constats": ["x"], "traite": "oui"})
    assert res.status_code == 400 and res.json["champ"] == "traite"
    res = tech.post(f"/api/actions/{action['id']}/constats", json={"constats": ["pas-un-constat"]})
    assert res.status_code == 404 and res.json["erreur"] == "Constat « pas-un-constat » introuvable."
    res = tech.patch(f"/api/actions/{action['id']}", json={"uid": "autre"})
    assert res.status_code == 400 and res.json["champ"] == "uid"


def test_links(app: Flask, store: Any) -> None:
    constats = _open_constats(store, 3, offset=10)
    tech = client(app, "theo")
    action = _create(app, {"title": "Rattachements"})
    url = f"/api/actions/{action['id']}/constats"
    assert tech.post(url, json={"constats": constats[:2]}).json == {"rattaches": 2}
    assert tech.post(url, json={"constats": constats[:2]}).json == {"rattaches": 0}
    assert sorted(tech.get(f"/api/actions/{action['id']}").json["properties"]["constats"][i]["uid"]
                  for i in range(2)) == sorted(constats[:2])
    assert tech.delete(f"{url}/{constats[0]}").status_code == 204
    assert tech.delete(f"{url}/{constats[0]}").status_code == 404
    linked = tech.get(f"/api/actions/{action['id']}").json["properties"]["constats"]
    assert [c["uid"] for c in linked] == [constats[1]]


def test_organisation_scope(app: Flask, store: Any) -> None:
    city = _create(app, {"title": "Action de la ville", "pilote": "Ville — voirie"})
    bailleur = client(app, "bruno")
    res = bailleur.patch(f"/api/actions/{city['id']}", json={"etat": "engagée"})
    assert res.status_code == 403
    assert res.json["erreur"].startswith("Cette action relève de l'organisation « ville »")
    assert bailleur.post(f"/api/actions/{city['id']}/constats",
                         json={"constats": _open_constats(store, 1)}).status_code == 403
    assert bailleur.delete(f"/api/actions/{city['id']}/constats/x").status_code == 403
    tfpb = _create(app, {"title": "Sur-entretien des halls", "tfpb": True, "bailleur": "ACM Habitat"})
    res = bailleur.patch(f"/api/actions/{tfpb['id']}", json={"etat": "engagée", "amount_committed": 1200.5})
    assert res.status_code == 200, res.json
    assert res.json["properties"]["amount_committed"] == 1200.5
    own = _create(app, {"title": "Action du bailleur"}, login="bruno")
    assert own["properties"]["organisation"] == "bailleur"
    assert client(app, "theo").patch(f"/api/actions/{own['id']}", json={"etat": "engagée"}).status_code == 403
    assert client(app, "ada").patch(f"/api/actions/{own['id']}", json={"etat": "engagée"}).status_code == 200


def test_walk_to_actions(app: Flask, copy_path: Path, store: Any) -> None:
    walk = add_walk(copy_path, organisation="ville")
    constats = _open_constats(store, 4, offset=20)
    for uid in constats:
        store.update("observations", uid, {"walk_id": walk}, actor="tests")
    existing = _create(app, {"title": "Action déjà au plan"})
    res = client(app, "theo").post(f"/api/diagnostics/{walk}/actions", json={"propositions": [
        {"title": "Propreté de la dalle", "constats": constats[:3], "origine": "gestion"},
        {"action": existing["id"], "constats": [constats[3]]},
    ]})
    assert res.status_code == 201, res.json
    new, attached = res.json
    assert new["properties"]["quartier"] == "QP034005" and new["properties"]["walk_id"] == walk
    assert sorted(new["properties"]["constats"]) == sorted(constats[:3])
    assert attached["id"] == existing["id"] and attached["properties"]["constats"] == [constats[3]]
    by_walk = client(app, "lea").get(f"/api/actions?diagnostic={walk}").json["features"]
    assert [f["id"] for f in by_walk] == [new["id"]]
    outsider = _open_constats(store, 1, offset=40)
    res = client(app, "theo").post(f"/api/diagnostics/{walk}/actions", json={"propositions": [
        {"title": "Hors parcours", "constats": outsider}]})
    assert res.status_code == 400 and res.json["champ"] == "constats"
    assert client(app, "bruno").post(f"/api/diagnostics/{walk}/actions", json={"propositions": [
        {"title": "x", "constats": []}]}).status_code == 403
    assert client(app, "theo").post("/api/diagnostics/inconnu/actions", json={"propositions": [
        {"title": "x", "constats": []}]}).status_code == 404
    res = client(app, "theo").post(f"/api/diagnostics/{walk}/actions", json={"propositions": "tout"})
    assert res.status_code == 400 and res.json["champ"] == "propositions"


def test_conventions(app: Flask) -> None:
    reader = client(app, "lea")
    listed = reader.get("/api/conventions")
    assert listed.status_code == 200
    assert [c["code"] for c in listed.json] == ["pays-de-montbeliard-2025-2030"]
    one = reader.get("/api/conventions/pays-de-montbeliard-2025-2030").json
    assert [o["code"] for o in one["orientations"]][:3] == ["1", "2", "3"]
    assert reader.get("/api/conventions/lillers-2023").status_code == 404
    assert app.test_client().get("/api/conventions").status_code == 401


def test_ogc_collection(app: Flask) -> None:
    placed = _create(app, {"title": "OGC avec lieu", **MOSSON})
    placeless = _create(app, {"title": "OGC sans lieu"})
    reader = client(app, "lea")
    assert "actions" in [c["id"] for c in reader.get("/ogc/collections").json["collections"]]
    items = reader.get("/ogc/collections/actions/items?limit=1000")
    assert items.status_code == 200
    by_id = {f["id"]: f for f in items.json["features"]}
    assert by_id[placeless["id"]]["geometry"] is None
    assert by_id[placed["id"]]["geometry"]["type"] == "Point"
    box = reader.get("/ogc/collections/actions/items?bbox=3.81,43.62,3.83,43.64&limit=1000")
    assert box.status_code == 200
    ids = [f["id"] for f in box.json["features"]]
    assert placed["id"] in ids and placeless["id"] not in ids
    one = reader.get(f"/ogc/collections/actions/items/{placeless['id']}")
    assert one.status_code == 200 and one.json["geometry"] is None


def test_public_profile_hides_internal_fields(copy_path: Path) -> None:
    """Opened on purpose to anonymous visitors, the layer still hides its internal fields."""
    opened = make_app(copy_path, copy_path.parent / "public",
                      PUBLIC_PROFILE={"layers": ["perimetres", "observations", "actions"]})
    _create(opened, {"title": "Action publique", "comment": "note interne", **MOSSON})
    anon = opened.test_client()
    items = anon.get("/ogc/collections/actions/items?limit=1000")
    assert items.status_code == 200 and items.json["features"]
    props = items.json["features"][0]["properties"]
    assert "title" in props
    assert not {"comment", "walk_id", "organisation", "assigned_to"} & set(props)
    assert anon.get("/api/actions").status_code == 401  # the JSON API stays for accounts


def test_openapi(app: Flask) -> None:
    anon = app.test_client().get("/openapi.json").json
    assert not [p for p in anon["paths"] if p.startswith(("/api/actions", "/api/conventions"))]
    assert "/api/diagnostics/{walk_uid}/actions" not in anon["paths"]
    assert "Properties_actions" not in anon["components"]["schemas"]
    enum = anon["paths"]["/ogc/collections/{collectionId}/items"]["get"]["parameters"][0]["schema"]["enum"]
    assert "actions" not in enum and "observations" in enum
    reader = client(app, "lea").get("/openapi.json").json
    assert "get" in reader["paths"]["/api/actions"] and "post" not in reader["paths"]["/api/actions"]
    tech = client(app, "theo").get("/openapi.json").json
    assert {"get", "post"} <= set(tech["paths"]["/api/actions"])
    assert "patch" in tech["paths"]["/api/actions/{uid}"]
    body = tech["components"]["schemas"]["ActionInput"]["properties"]
    assert "organisation" not in body and body["etat"]["enum"][0] == "à engager"
    assert tech["paths"]["/api/diagnostics/{walk_uid}/actions"]["post"]["summary"].startswith("Du diagnostic")


def test_generic_map_routes_accept_placeless_actions(app: Flask) -> None:
    placeless = _create(app, {"title": "Carte sans lieu"})
    reader = client(app, "lea")
    feats = reader.get("/api/layers/actions/features?limit=1000")
    assert feats.status_code == 200
    assert placeless["id"] in [f["id"] for f in feats.json["features"]]
    for fmt in ("csv", "geojson"):
        res = reader.get(f"/api/layers/actions/export.{fmt}")
        assert res.status_code == 200, fmt
        assert "Carte sans lieu" in res.get_data(as_text=True)
    assert reader.get("/api/layers/actions/stats").json["total"] >= 1
    assert app.test_client().get("/api/layers/actions/features").status_code == 404
