"""The walk planner's JSON API on a copy of the demo store: candidates, preview, save, errors.

The app is built on its own copy of the demo store (real Montpellier streets and addresses,
simulated constats) with one account per role; a technician plans in Mosson (QP034005).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.store import open_store
from tests.walkdemo import MOSSON, MOSSON_START, demo_store_copy
from tests.webmap.security._fixtures import build_app, client_as

START = f"{MOSSON_START[0]},{MOSSON_START[1]}"
BODY: dict[str, Any] = {"quartier": MOSSON, "date": "2026-03-10T14:00", "start": START, "duration_min": 90,
                        "speed_kmh": 3, "dwell_min": 5, "groups": 1, "mode": "priorites"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path = demo_store_copy(tmp_path_factory, "plannerapi")
    return build_app(path, path.parent / "instance", TESTING=True)


@pytest.fixture(scope="module")
def tech(app: Flask) -> FlaskClient:
    return client_as(app, "technicien")


def test_candidates(tech: FlaskClient) -> None:
    resp = tech.get(f"/api/diagnostics/candidats?quartier={MOSSON.lower()}")
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["quartier"] == MOSSON and len(data["candidats"]) > 50
    first = data["candidats"][0]
    assert {"id", "kind", "label", "lon", "lat", "priority", "reason", "motif"} <= set(first)
    bad = tech.get("/api/diagnostics/candidats?quartier=QP999999")
    assert bad.status_code == 400 and bad.get_json()["champ"] == "quartier"
    assert "Quartier inconnu" in bad.get_json()["erreur"]


def test_preview_then_save_gives_the_same_walk(app: Flask, tech: FlaskClient) -> None:
    resp = tech.post("/api/diagnostics/apercu", json=BODY)
    assert resp.status_code == 200, resp.get_json()
    preview = resp.get_json()
    table = preview["groups"][0]["timetable"]
    assert len(table) >= 5 and table[0]["arrival"] >= "14:00" and table[0]["motif"]
    dropped = table[0]["id"]
    body = {**BODY, "excluded": [dropped]}
    again = tech.post("/api/diagnostics/apercu", json=body).get_json()
    ids = [t["id"] for t in again["groups"][0]["timetable"]]
    assert dropped not in ids and again["groups"][0]["duration_min"] <= 90
    with open_store(app.config["STORE"], create=False) as store:
        assert store.read("diagnostics").empty  # previews save nothing
    saved = tech.post("/api/diagnostics", json=body)
    assert saved.status_code == 201, saved.get_json()
    data = saved.get_json()
    uid = data["uid"]
    assert data["links"] == {"page": f"/diagnostic/{uid}", "sheet_pdf": f"/diagnostic/{uid}/feuille.pdf",
                             "gpx": f"/diagnostic/{uid}/route.gpx"}
    assert data["walks"][0]["stop_ids"] == ids
    with open_store(app.config["STORE"], create=False) as store:
        row = store.get("diagnostics", uid).iloc[0]
        assert row["organisation"] == "ville" and row["status"] == "prévu"  # the technician's organisation
        etapes = store.read_children("diagnostics", "etapes", parent_uids=[uid]).sort_values("rank")
    assert list(etapes["name"]) == [t["label"] for t in again["groups"][0]["timetable"]]
    gpx = tech.get(data["links"]["gpx"])
    unserved = again["groups"][0]["unserved"]  # waypoints too, typed « non desservi »
    assert gpx.status_code == 200 and gpx.data.count(b"<wpt") == len(ids) + len(unserved)
    assert gpx.data.count(b"<type>non desservi</type>") == len(unserved)
    page = tech.get(data["links"]["page"])
    assert page.status_code == 200


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"quartier": "QP999999"}, "quartier", "Quartier inconnu"),
    ({"start": "3.8700,43.6100"}, "start", "m du quartier QP034005"),
    ({"start": None}, "start", "manquant"),
    ({"start": "12 rue qui n'existe nulle part"}, "start", "introuvable"),
    ({"duration_min": 10}, "duration_min", "de 15 à 480"),
    ({"duration_min": 500}, "duration_min", "de 15 à 480"),
    ({"duration_min": "90"}, "duration_min", "nombre attendu"),
    ({"groups": 7}, "groups", "de 1 à 6"),
    ({"groups": 1.5}, "groups", "entier"),
    ({"speed_kmh": 0}, "speed_kmh", "de 0.5 à 10"),
    ({"mode": "au hasard"}, "mode", "inconnu"),
    ({"date": "mardi prochain"}, "date", "illisible"),
    ({"mandatory": ["constat:0000"]}, "mandatory", "Étape obligatoire n° 1 inconnue"),
    ({"mandatory": [{"lon": "x", "lat": 1}]}, "mandatory[0]", "longitude"),
    ({"mandatory": "constat:0000"}, "mandatory", "liste attendue"),
    ({"excluded": ["rue:Rue Imaginaire"]}, "excluded", "inconnu"),
])
def test_bad_requests_name_the_field(tech: FlaskClient, change: dict[str, Any], field: str,
                                    words: str) -> None:
    resp = tech.post("/api/diagnostics/apercu", json={**BODY, **change})
    assert resp.status_code == 400
    data = resp.get_json()
    assert data["champ"] == field and words in data["erreur"], data


def test_start_far_from_every_street(tech: FlaskClient) -> None:
    from tests.layers.test_walk_preview import _farthest_from_streets

    with open_store(tech.application.config["STORE"], create=False) as store:
        lon, lat, far = _farthest_from_streets(store)
    assert far > 100
    resp = tech.post("/api/diagnostics/apercu", json={**BODY, "start": {"lon": lon, "lat": lat}})
    assert resp.status_code == 400 and resp.get_json()["champ"] == "start"
    assert "non desservi" in resp.get_json()["erreur"]


def test_writes_need_the_csrf_token(app: Flask) -> None:
    client = client_as(app, "technicien")
    client.environ_base.pop("HTTP_X_CSRFTOKEN")
    assert client.post("/api/diagnostics", json=BODY).status_code in (400, 403)


def test_openapi_lists_the_planner_for_technicians(app: Flask) -> None:
    tech = client_as(app, "technicien").get("/openapi.json").get_json()
    assert {"/api/diagnostics", "/api/diagnostics/apercu", "/api/diagnostics/candidats"} <= set(tech["paths"])
    body = tech["paths"]["/api/diagnostics/apercu"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["duration_min"]["minimum"] == 15
    reader = client_as(app, "lecteur").get("/openapi.json").get_json()
    assert not any(p.startswith("/api/diagnostics") for p in reader["paths"])


def test_roles(app: Flask) -> None:
    assert client_as(app, "anonyme").get(f"/api/diagnostics/candidats?quartier={MOSSON}").status_code == 401
    assert client_as(app, "lecteur").post("/api/diagnostics/apercu", json=BODY).status_code == 403
    assert client_as(app, "administrateur").post("/api/diagnostics/apercu", json=BODY).status_code == 200
