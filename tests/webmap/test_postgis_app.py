# mypy: disable-error-code="index, union-attr"
"""The web app on a PostGIS store: the same answers as on the GeoPackage it was copied from."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.store import open_store
from layers.store.copy import copy_store
from tests.conftest import drop_schema, scratch_schema_url
from tests.webmap.conftest import PASSWORD, ROLE_LOGINS, logged_client
from webmap import users
from webmap.app import create_app

ITEMS = "/ogc/collections/observations/items"
VIEW = (2.37, 48.85, 2.41, 48.88)


@pytest.fixture(scope="module")
def pg_url(postgis_url: str, store_path: Path) -> Iterator[str]:
    """The web test store copied into a scratch PostGIS schema."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = scratch_schema_url(postgis_url, name)
    copy_store(store_path, url)
    yield url
    drop_schema(postgis_url, name)


@pytest.fixture(scope="module")
def pg_app(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    instance = tmp_path_factory.mktemp("pg_instance")
    application = create_app({"STORE": pg_url, "instance_path": str(instance),
                              "SECRET_KEY": "clef-de-test", "TESTING": True})
    for role, login in ROLE_LOGINS.items():
        users.add_user(application.config["USERS_DB"], login, PASSWORD, role=role, organisation="ville")
    return application


@pytest.fixture
def pg_anon(pg_app: Flask) -> FlaskClient:
    return logged_client(pg_app, None)


def test_items_bbox_on_postgis(pg_anon: FlaskClient, anon: FlaskClient) -> None:
    bbox = ",".join(map(str, VIEW))
    res = pg_anon.get(f"{ITEMS}?bbox={bbox}&limit=10000")
    assert res.status_code == 200 and res.mimetype == "application/geo+json"
    body = res.json
    ref = anon.get(f"{ITEMS}?bbox={bbox}&limit=10000").json  # the same data in the GeoPackage
    assert body["numberMatched"] == ref["numberMatched"] == body["numberReturned"] > 100
    assert {f["id"] for f in body["features"]} == {f["id"] for f in ref["features"]}
    one = body["features"][0]
    same = next(f for f in ref["features"] if f["id"] == one["id"])
    assert one["properties"] == same["properties"]
    assert one["geometry"]["coordinates"] == pytest.approx(same["geometry"]["coordinates"])
    page = pg_anon.get(f"{ITEMS}?bbox={bbox}&limit=50&offset=50").json
    assert page["numberReturned"] == 50
    col = pg_anon.get("/ogc/collections/observations").json
    assert col["extent"]["spatial"]["bbox"][0] == pytest.approx(
        anon.get("/ogc/collections/observations").json["extent"]["spatial"]["bbox"][0], abs=1e-5)


def test_map_clusters_and_lookup_on_postgis(pg_anon: FlaskClient, anon: FlaskClient) -> None:
    url = "/api/layers/observations/features?bbox=2.2,48.8,2.5,48.9&limit=50"
    body, ref = pg_anon.get(url).json, anon.get(url).json
    assert body["clustered"] and ref["clustered"]
    assert body["numberMatched"] == ref["numberMatched"]
    lookup = pg_anon.get("/api/lookup?lon=3.8799&lat=43.6085")
    assert lookup.status_code == 200 and lookup.get_json()["statut"] == "outside"


def test_status_change_through_the_api(pg_app: Flask, pg_url: str) -> None:
    tech = logged_client(pg_app, "technicien")
    with open_store(pg_url, create=False) as s:
        uid = s.read("observations", limit=1, offset=3)["uid"].iloc[0]
    res = tech.patch(f"/api/observations/{uid}", json={"status": "traité", "comment": "Enlevé"})
    assert res.status_code == 200 and res.json["properties"]["resolved_at"]
    hist = tech.get(f"/api/observations/{uid}/history").json
    assert hist[-1]["status"] == "traité" and hist[-1]["changed_by"] == "theo (ville)"
    assert tech.get("/api/observations/absent").status_code == 404


def test_missing_schema_is_a_503(postgis_url: str, tmp_path: Path) -> None:
    app = create_app({"STORE": scratch_schema_url(postgis_url, "t_absent_schema"),
                      "instance_path": str(tmp_path), "SECRET_KEY": "x", "TESTING": True})
    res = app.test_client().get(ITEMS)
    assert res.status_code == 503


def test_dashboard_cached_until_the_store_changes(pg_app: Flask, pg_url: str) -> None:
    """On PostGIS the quartier dashboard is cached per store revision: a write shows on the next visit.

    Last of the module: it writes a constat (removed at the end) into the shared schema.
    """
    import io

    import pandas as pd
    import shapely

    client = logged_client(pg_app, "lecteur")
    url = "/quartiers/QP075019/indicateurs.csv?debut=2024-01&fin=2024-06"

    def january() -> int:
        res = client.get(url)
        assert res.status_code == 200
        table = pd.read_csv(io.BytesIO(res.data), sep=";", encoding="utf-8-sig", dtype=str)
        return int(table[table["Indicateur"].str.startswith("Dépôts recensés")].iloc[0]["Valeur"])

    before = january()
    cache = pg_app.extensions["qpv_dashboard_cache"]
    entries = len(cache)
    assert entries >= 1 and january() == before and len(cache) == entries  # served from the cache
    store = open_store(pg_url, create=False)
    try:
        per = store.read("perimetres", where={"code": "QP075019"})
        spot = shapely.make_valid(per.geometry.iloc[0]).representative_point()
        record = store.read("observations", where={"theme": "dépôts sauvages"}, limit=1).copy()
        record["uid"] = record["source_id"] = "obs-cache-postgis"
        record["observed_at"] = pd.Timestamp("2024-01-15 10:00")
        store.write("observations", record.set_geometry([spot], crs=record.crs), actor="tests")
        try:
            assert january() == before + 1  # new revision: computed again
        finally:
            store.delete("observations", ["obs-cache-postgis"])
    finally:
        store.close()
    assert january() == before
