"""``GET /api/lookup`` on the web test store (real Paris and Montpellier perimeters, real
Montpellier address points, real Dans Ma Rue reports)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from geo.geometry import repair_polygons
from layers.store import LayerStore
from webmap.access import unguarded_endpoints
from webmap.app import create_app
from webmap.sessions import session_fields


@pytest.fixture
def mosson_address(store: LayerStore) -> dict[str, object]:
    """A numbered Montpellier address inside Mosson (QP034005) by a plain geopandas join,
    and its distance to the boundary."""
    per, _ = repair_polygons(store.read("perimetres", where={"code": "QP034005"}))
    addr = store.read("adresses", where={"commune": "Montpellier"})
    addr = addr[addr["number"].notna() & (addr["suffix"].isna() | (addr["suffix"] == ""))]
    inside = gpd.sjoin(addr, per[["geometry"]], predicate="within")
    row = inside.sort_values(["street", "number"]).iloc[len(inside) // 2]
    return {"text": f"{int(row['number'])} {row['street']} 34000 Montpellier", "point": row.geometry,
            "distance": row.geometry.distance(per.geometry.iat[0].boundary)}


def test_route_is_guarded(app: Flask) -> None:
    assert "lookup.lookup" in app.view_functions
    assert unguarded_endpoints(app, ["lookup"]) == []


def test_address_inside_a_qpv(anon: FlaskClient, mosson_address: dict[str, object]) -> None:
    resp = anon.get("/api/lookup", query_string={"adresse": mosson_address["text"]})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["requete"] == {"adresse": mosson_address["text"]}
    assert (body["code"], body["nom"], body["geographie"]) == ("QP034005", "Mosson", "2015")
    assert (body["statut"], body["motif"], body["motif_libelle"]) == ("inside", "polygon", "polygone")
    assert body["desaccord"] is False
    expected = float(mosson_address["distance"])  # type: ignore[arg-type]
    if expected < 500:
        assert body["distance_m"] == pytest.approx(expected, abs=1.0)


def test_point_inside_qp075019(anon: FlaskClient, store: LayerStore) -> None:
    per, _ = repair_polygons(store.read("perimetres", where={"code": "QP075019"}))
    obs = gpd.sjoin(store.read("observations", where={"source_dataset": "dansmarue-paris"}),
                    per[["geometry"]], predicate="within")
    pt = obs.to_crs(4326).geometry.iat[0]
    body = anon.get(f"/api/lookup?lon={pt.x:.7f}&lat={pt.y:.7f}").get_json()
    assert (body["code"], body["statut"], body["motif"]) == ("QP075019", "inside", "polygon")
    assert body["distance_m"] >= 0
    outside = anon.get("/api/lookup?lon=3.8799&lat=43.6085").get_json()
    assert outside["statut"] == "outside" and outside["code"] is None


def test_unknown_address(anon: FlaskClient) -> None:
    body = anon.get("/api/lookup", query_string={"adresse": "4 rue des Sapins Imaginaires 34000 Montpellier"}
                    ).get_json()
    assert body["statut"] == "not_found" and body["statut_libelle"] == "introuvable"


@pytest.mark.parametrize(("query", "field"), [
    ("", "adresse"),
    ("adresse=", "adresse"),
    ("lon=abc&lat=43.6", "lon"),
    ("lon=3.8", "lat"),
    ("lon=500&lat=43.6", "lon"),
    ("lon=3.8&lat=nan", "lat"),
    ("adresse=1%20rue%20X&lon=3.8&lat=43.6", "adresse"),
])
def test_bad_parameters_give_400_naming_them(anon: FlaskClient, query: str, field: str) -> None:
    resp = anon.get(f"/api/lookup?{query}")
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["champ"] == field and field in body["erreur"]


def test_roles_from_the_configuration(app: Flask, tmp_path: Path) -> None:
    closed = create_app({"STORE": app.config["STORE"], "USERS_DB": app.config["USERS_DB"],
                         "instance_path": str(tmp_path), "SECRET_KEY": "clef", "TESTING": True,
                         "LOOKUP_ROLES": ("technicien", "administrateur")})
    anon = closed.test_client()
    assert anon.get("/api/lookup?lon=3.8&lat=43.6").status_code == 401
    with anon.session_transaction() as sess:
        sess.update(session_fields("lea", closed.config["USERS_DB"]))  # a reader
    assert anon.get("/api/lookup?lon=3.8&lat=43.6").status_code == 403
    with anon.session_transaction() as sess:
        sess.update(session_fields("theo", closed.config["USERS_DB"]))  # a technician
    assert anon.get("/api/lookup?lon=3.8&lat=43.6").status_code == 200


def test_index_rebuilt_only_when_what_it_reads_changes(tmp_path: Path) -> None:
    """A constat's PATCH leaves the lookup index as it is (no rebuild, same answers);
    an import of perimeters rebuilds it and the new perimeter answers."""
    from layers.importer import ImportOptions, import_file
    from layers.settings import REPO_ROOT
    from layers.store import open_store
    from webmap import users

    demo = REPO_ROOT / "data" / "demo"
    path = tmp_path / "store.gpkg"
    with open_store(path) as store:
        for name, mapping in [("paris/qpv-paris-idf-2015.geojson", "qpv-paris"),
                              ("paris/dansmarue-2023-2024-echantillon.csv.gz", "dansmarue")]:
            import_file(store, demo / name, options=ImportOptions(mapping=mapping, report_dir=tmp_path / "r"))
        uids = store.read("observations", limit=3)["uid"].tolist()
    app = create_app({"STORE": str(path), "instance_path": str(tmp_path / "instance"), "SECRET_KEY": "clef",
                      "TESTING": True, "ORGANISATION_SCOPE": {"ville": "territoire"}})
    users.add_user(app.config["USERS_DB"], "theo", "mot-de-passe-solide", role="technicien",
                   organisation="ville")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields("theo", app.config["USERS_DB"]))
        sess["csrf_token"] = "jeton"
    client.environ_base["HTTP_X_CSRFTOKEN"] = "jeton"
    mosson = gpd.read_file(demo / "montpellier" / "qp-montpellier-2015.geojson").to_crs(4326)
    inner = mosson.geometry.representative_point().iloc[0]
    montpellier = f"/api/lookup?lon={inner.x:.7f}&lat={inner.y:.7f}"
    first = client.get(montpellier).get_json()
    assert first["code"] is None
    builds = app.extensions["qpv_lookup"]["builds"]
    for uid, status in zip(uids, ("transmis", "traité", "en cours"), strict=True):
        resp = client.patch(f"/api/observations/{uid}", json={"status": status})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert client.get(montpellier).get_json() == first
    assert app.extensions["qpv_lookup"]["builds"] == builds
    with open_store(path) as store:
        import_file(store, demo / "montpellier" / "qp-montpellier-2015.geojson",
                    options=ImportOptions(mapping="qpv-occitanie", report_dir=tmp_path / "r"))
    after = client.get(montpellier).get_json()
    assert app.extensions["qpv_lookup"]["builds"] == builds + 1
    assert after["statut"] == "inside" and after["code"] is not None
