"""Integrity of the writes: initial status, plausible dates, territory, bounded texts, known values.

The refusals happen before anything is written (counts and photo folder unchanged); the
time slider's range ignores the records dated outside the plausible window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry import Point

from layers.integrity import DEFAULT_PILOTES, WriteRules, territory
from layers.projection import project
from layers.store import open_store
from tests.webmap._browser import chrome, requires_chromium, shot, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.security._orgs import client, copy_store, make_app

INSIDE = {"lon": 2.4102, "lat": 48.8615}  # Les Portes du Vingtième (QP075019)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) * 8 + b"\xff\xd9"


@pytest.fixture(scope="module")
def copy_path(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("integrity")
    return copy_store(store_path, folder / "territoire.gpkg")


@pytest.fixture(scope="module")
def iapp(copy_path: Path) -> Flask:
    return make_app(copy_path, copy_path.parent)


@pytest.fixture
def theo(iapp: Flask) -> FlaskClient:
    return client(iapp, "theo")


@pytest.fixture
def store(copy_path: Path) -> Iterator[Any]:
    s = open_store(copy_path, create=False)
    try:
        yield s
    finally:
        s.close()


def _refused(res: Any, field: str, code: int = 400) -> str:
    assert res.status_code == code, (res.status_code, res.json)
    assert res.json["champ"] == field, res.json
    return str(res.json["erreur"])


def _body(**extra: Any) -> dict[str, Any]:
    return {**INSIDE, "theme": "dépôts sauvages", "description": "Sacs éventrés devant le 12", **extra}


def test_dates_outside_the_plausible_window(theo: FlaskClient, iapp: Flask, copy_path: Path,
                                            store: Any) -> None:
    before = store.count("observations")
    new = "/api/observations"
    message = _refused(theo.post(new, json=_body(observed_at="2099-06-01T10:00")), "observed_at")
    assert "futur" in message
    soon = (datetime.now() + timedelta(hours=2)).replace(microsecond=0).isoformat()
    _refused(theo.post("/api/observations", json=_body(observed_at=soon)), "observed_at")
    message = _refused(theo.post(new, json=_body(observed_at="2013-12-31T23:00")), "observed_at")
    assert "01/01/2014" in message
    assert store.count("observations") == before
    # within the tolerance of a phone's drifting clock, and a past date: accepted
    drift = (datetime.now() + timedelta(minutes=4)).replace(microsecond=0).isoformat()
    assert theo.post("/api/observations", json=_body(observed_at=drift)).status_code == 201
    assert theo.post("/api/observations", json=_body(observed_at="2019-03-04T09:00")).status_code == 201
    # a territory configured to start in 2020: 2019 is before its start
    later = make_app(copy_path, copy_path.parent / "depuis-2020", TERRITORY_START="2020-01-01")
    res = client(later, "theo").post(new, json=_body(observed_at="2019-03-04T09:00"))
    message = _refused(res, "observed_at")
    assert "antérieure au début du territoire (01/01/2020)" in message
    assert store.count("observations") == before + 2


def test_new_constat_starts_at_the_initial_status(theo: FlaskClient, store: Any) -> None:
    for status in ("traité", "clos non traité", "en cours"):
        message = _refused(theo.post("/api/observations", json=_body(status=status)), "status")
        assert "« nouveau »" in message
    res = theo.post("/api/observations", json=_body(status="nouveau"))
    assert res.status_code == 201
    assert store.get("observations", res.json["uid"])["status"].iloc[0] == "nouveau"


def test_unknown_walk_and_known_walk(theo: FlaskClient, store: Any) -> None:
    _refused(theo.post("/api/observations", json=_body(walk_id="parcours-qui-n-existe-pas")), "walk_id")
    walks = store.read("diagnostics", limit=1)
    if not walks.empty:  # the demo-like store may hold planned walks
        assert theo.post("/api/observations", json=_body(walk_id=walks["uid"].iloc[0])).status_code == 201


def test_position_outside_the_territory(theo: FlaskClient, iapp: Flask, store: Any) -> None:
    before = store.count("observations")
    message = _refused(theo.post("/api/observations", json=_body(lon=4.83, lat=45.76)), "lon")  # Lyon
    assert "hors du territoire" in message and "500 m" in message
    # Open311 names its own parameter
    key = _api_key(iapp, "theo")
    res = theo.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "voirie",
                                                       "lat": "45.76", "long": "4.83"})
    _refused(res, "long")
    # 300 m east of the easternmost point of the Paris perimeters: within the 500 m margin;
    # 900 m: outside (the distance to every perimeter is measured, not assumed)
    per = store.read("perimetres", where={"code": "QP075019"}, crs="EPSG:2154").geometry.iloc[0]
    east = max(per.exterior.coords if per.geom_type == "Polygon" else
               (c for g in per.geoms for c in g.exterior.coords), key=lambda c: c[0])
    union = shapely.union_all(store.read("perimetres", crs="EPSG:2154").geometry.to_numpy())
    for offset, expected in ((300, 201), (900, 400)):
        x, y = east[0] + offset, east[1]
        distance = union.distance(Point(x, y))
        assert (distance <= 500) == (expected == 201), distance
        lon, lat = project("EPSG:2154", "OGC:CRS84", x, y)
        res = theo.post("/api/observations", json=_body(lon=lon, lat=lat))
        assert res.status_code == expected, res.json
    assert store.count("observations") == before + 1


def test_territory_is_cached_per_store_and_follows_its_perimeters(store: Any) -> None:
    first = territory(store, 500)
    assert territory(store, 500) is first
    assert territory(store, 100) is not first and territory(store, 100).area < first.area


def test_long_texts_are_refused_before_anything_is_written(theo: FlaskClient, iapp: Flask,
                                                           store: Any) -> None:
    before = store.count("observations")
    photos = Path(iapp.config["PHOTOS_DIR"])
    files_before = sorted(str(p) for p in photos.rglob("*"))
    huge = "x" * 1_000_000
    message = _refused(theo.post("/api/observations", json=_body(description=huge)), "description")
    assert "5000 au plus" in message
    # multipart: a 1 MB text part is over the form's memory limit (413), a 6,000-character
    # one is refused by the integrity check (400) before the photo is staged
    for text, code in ((huge, 413), ("y" * 6000, 400)):
        form = {k: str(v) for k, v in _body(description=text).items()}
        body, content_type = _multipart(form, JPEG)
        res = theo.post("/api/observations", data=body, content_type=content_type)
        assert res.status_code == code, res.json
        if code == 400:
            _refused(res, "description")
    assert sorted(str(p) for p in photos.rglob("*")) == files_before  # no photo staged either
    _refused(theo.post("/api/observations", json=_body(address="rue " * 100)), "address")
    assert theo.post("/api/observations", json=_body(description="é" * 5000)).status_code == 201
    _refused(theo.post("/api/observations", json=_body(description="é" * 5001)), "description")
    key = _api_key(iapp, "theo")
    res = theo.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "voirie",
                                                       "lat": str(INSIDE["lat"]), "long": str(INSIDE["lon"]),
                                                       "description": huge})
    _refused(res, "description")
    assert store.count("observations") == before + 1
    uid = store.read("observations", where={"pilote": "DVD"}, limit=1)["uid"].iloc[0]
    n_history = len(store.history("observations", uid))
    _refused(theo.patch(f"/api/observations/{uid}", json={"status": "en cours", "comment": "c" * 2001}),
             "comment")
    assert len(store.history("observations", uid)) == n_history


def test_sources_and_pilotes_from_the_configured_lists(theo: FlaskClient, store: Any) -> None:
    _refused(theo.post("/api/observations", json=_body(source="satellite")), "source")
    message = _refused(theo.post("/api/observations", json=_body(source="import")), "source")
    assert "habitant" in message
    message = _refused(theo.post("/api/observations", json=_body(pilote="Le voisin du dessus")), "pilote")
    assert all(p in message for p in DEFAULT_PILOTES)
    # a configured pilote, and one already in the store (a Paris direction from Dans Ma Rue)
    for pilote in ("Bailleur social", "DVD"):
        res = theo.post("/api/observations", json=_body(pilote=pilote, source="patrouille"))
        assert res.status_code == 201
        assert store.get("observations", res.json["uid"])["pilote"].iloc[0] == pilote


def test_dumping_event_dates_are_checked(theo: FlaskClient, store: Any) -> None:
    point = str(store.read("points_noirs", limit=1)["uid"].iloc[0])
    store.update("points_noirs", point, {"manager": "Ville — propreté"})
    url = f"/api/points_noirs/{point}/evenements"
    event = {"observed_at": "2024-01-01T08:00", "waste_type": "gravats"}
    _refused(theo.post(url, json={**event, "observed_at": "2099-01-01T08:00"}), "observed_at")
    _refused(theo.post(url, json={**event, "description": "d" * 5001}), "description")
    assert theo.post(url, json=event).status_code == 201


def test_time_extent_ignores_records_outside_the_window(iapp: Flask, store: Any) -> None:
    layers = {info["name"]: info for info in client(iapp, "lea").get("/api/layers").json}
    count, tmax = layers["observations"]["count"], layers["observations"]["time_max"]
    assert layers["observations"]["outside_window"] == 0
    typo = gpd.GeoDataFrame([{"uid": "faute-de-frappe-2099", "observed_at": "2099-05-01T10:00:00",
                              "theme": "voirie", "status": "nouveau", "source": "import"},
                             {"uid": "date-bouche-trou-1900", "observed_at": "1900-01-01T00:00:00",
                              "theme": "voirie", "status": "nouveau", "source": "import"}],
                            geometry=[Point(655290, 6863525), Point(655300, 6863530)], crs=store.crs)
    store.write("observations", typo, actor="tests")
    layers = {info["name"]: info for info in client(iapp, "lea").get("/api/layers").json}
    obs = layers["observations"]
    assert obs["count"] == count + 2 and obs["outside_window"] == 2
    assert obs["time_max"] == tmax and obs["time_max"] < "2099"
    start, end = WriteRules().window()
    assert start.isoformat() <= obs["time_min"] <= end.isoformat()
    # a walk planned for next year is no typo: the walks' range is not clamped
    walk_day = f"{datetime.now().year + 1}-03-10T14:00:00"
    store.write("diagnostics", gpd.GeoDataFrame(
        [{"uid": "parcours-prevu", "name": "Diagnostic prévu", "walk_date": walk_day, "status": "prévu"}],
        geometry=[shapely.LineString([(655290, 6863525), (655390, 6863565)])], crs=store.crs), actor="tests")
    walks = {i["name"]: i for i in client(iapp, "lea").get("/api/layers").json}["diagnostics"]
    assert walks["outside_window"] == 0 and walks["time_max"].startswith(walk_day[:10])
    # still listed and counted
    stats = client(iapp, "lea").get("/api/layers/observations/stats").json
    assert stats["total"] == count + 2 and "2099-05" in stats["by_month"]


def _multipart(form: dict[str, str], photo: bytes) -> tuple[bytes, str]:
    """Encode a multipart body in memory (the test client would spool a big one to a file)."""
    boundary = "----limite-de-test"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in form.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="depot.jpg"\r\n'
                 "Content-Type: image/jpeg\r\n\r\n".encode() + photo + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _api_key(app: Flask, login: str) -> str:
    return str(app.config["TEST_API_KEYS"][login])


@pytest.mark.browser
@requires_chromium
def test_map_slider_ignores_a_2099_typo_and_says_so(store_path: Path, tmp_path_factory: pytest.TempPathFactory
                                                    ) -> None:
    folder = tmp_path_factory.mktemp("curseur")
    path = copy_store(store_path, folder / "territoire.gpkg")
    with open_store(path, create=False) as s:
        s.write("observations", gpd.GeoDataFrame(
            [{"uid": "faute-2099", "observed_at": "2099-05-01T10:00:00", "theme": "voirie",
              "source": "import"}],
            geometry=[Point(655290, 6863525)], crs=s.crs), actor="tests")
    app = make_app(path, folder, BASEMAP="aucun")
    with serve_in_thread(app) as base:
        drv = chrome(window="1400,900")
        try:
            drv.get(f"{base}/")
            wait_for(lambda: drv.execute_script(
                "return Boolean(window.qpvCarte) && window.qpvCarte.state.months.length > 0"), "curseur prêt")
            months = drv.execute_script("return window.qpvCarte.state.months")
            note = drv.execute_script("const n = document.getElementById('f-hors-periode');"
                                      "return n.hidden ? null : n.textContent")
            shot(drv, "curseur-hors-periode")
        finally:
            drv.quit()
    assert months[-1] <= f"{datetime.now():%Y-%m}" and months[0] >= "2014-01", (months[0], months[-1])
    assert len(months) < 12 * 20
    assert note == "1 enregistrement daté hors de la période plausible n'apparaît pas sur le curseur."
