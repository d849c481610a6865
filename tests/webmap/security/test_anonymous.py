# mypy: disable-error-code="index, union-attr, arg-type"
"""What anonymous visitors see: no logins, comments, participants, photo names or internal fields.

On a copy of the demo store where a technician changed a status with a comment, recorded a
walk with its participants and sent a constat with a photo; then the public profile opening
chosen layers and fields.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.schema import LAYERS
from layers.store import open_store
from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap.security._fixtures import build_app, client_as, png
from webmap.app import create_app

COMMENT = "Signalé au bailleur Hérault Habitat, relancer M. Dupont"
PARTICIPANTS = "ville, bailleur, police"
INTERNAL = {layer: {f.name for f in schema.all_fields if f.internal} for layer, schema in LAYERS.items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Demo store copy + app; a commented status change, a walk done, a constat with a photo."""
    path = demo_store_copy(tmp_path_factory, "anonymous")
    walk = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=path.parent / "instance" / "cache",
                            organisation="ville").uid
    store = open_store(path)
    try:
        observed = store.read("observations", limit=1, offset=3)["uid"].iloc[0]
    finally:
        store.close()
    app = build_app(path, path.parent / "instance")
    tech = client_as(app, "technicien")
    assert tech.patch(f"/api/observations/{observed}",
                      json={"status": "en cours", "comment": COMMENT}).status_code == 200
    done = tech.post(f"/diagnostic/{walk}/realise", data={"participants": PARTICIPANTS, "habitants": "7"})
    assert done.status_code == 302
    created = tech.post("/api/observations", data={
        "lon": "3.8199", "lat": "43.6321", "theme": "voirie", "pilote": "Ville — voirie",
        "partenaires": "Hérault Habitat", "photos": (io.BytesIO(png()), "nid-de-poule.png")})
    assert created.status_code == 201, created.json
    uid = created.json["uid"]
    photo = tech.get(f"/api/observations/{uid}").json["properties"]["photos"][0]
    return {"app": app, "path": path, "observed": observed, "walk": walk, "uid": uid, "photo": photo}


def _app(demo: dict[str, object]) -> Flask:
    app = demo["app"]
    assert isinstance(app, Flask)
    return app


def _anon(demo: dict[str, object]) -> FlaskClient:
    return client_as(_app(demo), "anonyme")


def test_history_without_logins_or_comments(demo: dict[str, object]) -> None:
    url = f"/api/observations/{demo['observed']}/history"
    res = _anon(demo).get(url)
    assert res.status_code == 200
    text = res.get_data(as_text=True)
    assert "tiago" not in text and "Dupont" not in text and "ville" not in text
    assert [set(h) for h in res.json] == [{"status", "changed_at"}] * len(res.json)
    assert res.json[-1]["status"] == "en cours" and res.json[-1]["changed_at"]
    # accounts keep the whole history
    full = client_as(_app(demo), "lecteur").get(url).json
    assert full[-1]["changed_by"] == "tiago (ville)" and full[-1]["comment"] == COMMENT
    assert len(full) == len(res.json)


def test_no_walk_participants(demo: dict[str, object]) -> None:
    anon = _anon(demo)
    feats = anon.get("/api/layers/diagnostics/features?limit=50").json["features"]
    walk = next(f for f in feats if f["id"] == demo["walk"])
    assert walk["properties"]["status"] == "réalisé"
    for f in feats:
        assert not set(f["properties"]) & INTERNAL["diagnostics"], f["properties"]
    for url in ("/api/layers/diagnostics/export.csv", "/api/layers/diagnostics/export.geojson",
                "/ogc/collections/diagnostics/items",
                f"/ogc/collections/diagnostics/items/{demo['walk']}?f=html"):
        text = anon.get(url).get_data(as_text=True)
        assert "police" not in text and "organisations" not in text and "n_habitants" not in text, url
    # the walk pages themselves are for accounts; readers see the participants
    assert anon.get(f"/diagnostic/{demo['walk']}").status_code == 302
    reader = client_as(_app(demo), "lecteur").get("/api/layers/diagnostics/features?limit=50").json
    mine = next(f for f in reader["features"] if f["id"] == demo["walk"])
    assert mine["properties"]["organisations"] and mine["properties"]["n_habitants"] == 7


def test_no_photo_names(demo: dict[str, object]) -> None:
    anon, photo, uid = _anon(demo), str(demo["photo"]), demo["uid"]
    box = "bbox=3.8189,43.6311,3.8209,43.6331"
    for url in (f"/api/observations/{uid}", f"/api/layers/observations/features?{box}",
                f"/api/layers/observations/export.csv?{box}",
                f"/api/layers/observations/export.geojson?{box}",
                f"/ogc/collections/observations/items/{uid}",
                f"/ogc/collections/observations/items/{uid}?f=html",
                f"/open311/v2/requests/{uid}.json"):
        res = anon.get(url)
        assert res.status_code == 200, url
        assert photo[:32] not in res.get_data(as_text=True), url
    assert anon.get(f"/photos/{photo}").status_code == 401
    # readers still see it (PHOTO_ROLES)
    reader = client_as(_app(demo), "lecteur")
    assert reader.get(f"/api/observations/{uid}").json["properties"]["photos"] == [photo]
    assert reader.get(f"/open311/v2/requests/{uid}.json").json[0]["media_url"].endswith(f"/photos/{photo}")


def test_no_internal_fields_anywhere(demo: dict[str, object]) -> None:
    anon, uid = _anon(demo), demo["uid"]
    internal = INTERNAL["observations"]
    one = anon.get(f"/api/observations/{uid}").json["properties"]
    assert one["theme"] == "voirie" and not set(one) & internal
    layers = {lay["name"]: lay for lay in anon.get("/api/layers").json}
    assert not {f["name"] for f in layers["observations"]["fields"]} & internal
    assert "videoprotection" not in layers
    items = anon.get("/ogc/collections/observations/items?limit=200").json["features"]
    assert items and all(not set(f["properties"]) & internal for f in items)
    rows = list(csv.reader(io.StringIO(
        anon.get("/api/layers/observations/export.csv?start=2024-03-01&end=2024-03-08")
        .get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert len(rows) > 1 and not set(rows[0]) & internal, rows[0]
    open311 = anon.get(f"/open311/v2/requests/{uid}.json").json[0]
    assert open311["agency_responsible"] is None and open311["media_url"] is None
    text = anon.get(f"/ogc/collections/observations/items/{uid}?f=html").get_data(as_text=True)
    assert "Ville — voirie" not in text and "Hérault Habitat" not in text
    # filtering on a hidden field would reveal it through the counts: same answer as an unknown name
    for url in ("/api/layers/observations/stats?pilote=Ville%20%E2%80%94%20voirie",
                "/ogc/collections/observations/items?partenaires=x"):
        res = anon.get(url)
        assert res.status_code == 400 and res.json["erreur"].startswith("Paramètre inconnu"), url
    # accounts see them
    tech = client_as(_app(demo), "technicien").get(f"/api/observations/{uid}").json["properties"]
    assert tech["pilote"] == "Ville — voirie" and tech["partenaires"] == "Hérault Habitat"
    assert client_as(_app(demo), "lecteur").get(
        "/api/layers/observations/stats?pilote=Ville%20%E2%80%94%20voirie").json["total"] >= 1


def test_public_profile_opens_chosen_layers_and_fields(
        demo: dict[str, object], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profile = {"layers": ["perimetres", "observations", "videoprotection"],
               "fields": {"observations": ["theme", "status", "pilote"]}}
    with caplog.at_level(logging.WARNING, logger="webmap.visibility"):
        app = build_app(Path(str(demo["path"])), tmp_path / "instance", PUBLIC_PROFILE=profile)
    assert any("videoprotection" in r.getMessage() for r in caplog.records)
    anon = client_as(app, "anonyme")
    assert {lay["name"] for lay in anon.get("/api/layers").json} == set(profile["layers"])
    assert anon.get("/api/layers/points_noirs/features").status_code == 404
    cams = anon.get("/api/layers/videoprotection/features?limit=3&zoom=18").json["features"]
    assert len(cams) == 3 and all(c["properties"]["uid"] for c in cams)
    one = anon.get(f"/api/observations/{demo['uid']}").json["properties"]
    assert set(one) == {"uid", "theme", "status", "pilote"} and one["pilote"] == "Ville — voirie"
    assert "videoprotection" in anon.get("/openapi.json").get_data(as_text=True)
    # the profile is about anonymous visitors: readers keep their own rules
    reader = client_as(app, "lecteur")
    assert reader.get("/api/layers/videoprotection/features").status_code == 404
    assert "partenaires" in reader.get(f"/api/observations/{demo['uid']}").json["properties"]


@pytest.mark.parametrize(("profile", "message"), [
    ({"layers": ["licornes"]}, "couche inconnue « licornes »"),
    ({"fields": {"observations": ["couleur"]}}, "champ inconnu « couleur »"),
    ({"couches": []}, "clés « layers » et « fields »"),
])
def test_public_profile_is_checked_at_start(tmp_path: Path, profile: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_app({"instance_path": str(tmp_path), "STORE": str(tmp_path / "x.gpkg"), "SECRET_KEY": "k",
                    "PUBLIC_PROFILE": profile})
