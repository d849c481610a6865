"""Follow-up filters, address search and child reads of the map API, on the demo store.

The demo store holds the real Paris 20e BAN and Montpellier address points, 11,500
constats (1,500 with a délai) and simulated point noir events and bin readings. The
expected answers are computed here from the store with pandas, never written by hand.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.schema import OPEN_STATUSES
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from tests.webmap.security._fixtures import build_app, client_as
from webmap._followup import today_paris

ALL = "limit=50000&zoom=18"  # every record, never clustered
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """An app on a demo store where the technicien (ville) wrote constats and some are assigned."""
    store = demo_store_copy(tmp_path_factory, "suivi-api")
    app = build_app(store, tmp_path_factory.mktemp("suivi-instance"))
    tech, admin = client_as(app, "technicien"), client_as(app, "administrateur")
    today = today_paris()
    for days, theme in ((-20, "propreté"), (-1, "voirie"), (0, "éclairage"), (15, "propreté")):
        deadline = (pd.Timestamp(today) + pd.Timedelta(days=days)).date().isoformat()
        r = tech.post("/api/observations", json={"lon": 3.8205, "lat": 43.6325, "theme": theme,
                                                 "deadline": deadline, "description": f"délai {days} j"})
        assert r.status_code == 201, r.json
    s = open_store(store, create=False)
    try:
        obs = s.read("observations", where={"deadline": None}, limit=7)
    finally:
        s.close()
    for uid in obs["uid"]:
        assert admin.patch(f"/api/observations/{uid}", json={"assigned_to": "ville"}).status_code == 200
    return app


def _frame(app: Flask) -> pd.DataFrame:
    s = open_store(app.config["STORE"], create=False)
    try:
        return s.read("observations")
    finally:
        s.close()


def _uids(client: FlaskClient, query: str) -> set[str]:
    r = client.get(f"/api/layers/observations/features?{ALL}&{query}")
    assert r.status_code == 200, r.json
    body = r.json
    assert not body.get("clustered")
    return {f["properties"]["uid"] for f in body["features"]}


def _export_uids(client: FlaskClient, query: str) -> set[str]:
    r = client.get(f"/api/layers/observations/export.csv?{query}")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig")), delimiter=";"))
    return {row["uid"] for row in rows}


def _late(obs: pd.DataFrame) -> set[str]:
    deadline = pd.to_datetime(obs["deadline"], errors="coerce")
    late = (deadline < pd.Timestamp(today_paris())) & obs["status"].isin(OPEN_STATUSES)
    return set(obs.loc[late, "uid"])


def test_late_filter_agrees_on_map_list_stats_and_export(demo: Flask) -> None:
    obs = _frame(demo)
    expected = _late(obs)
    # the demo's délais lie in the past, some constats are closed: the filter really selects
    assert 0 < len(expected) < obs["deadline"].notna().sum()
    lecteur = client_as(demo, "lecteur")
    assert _uids(lecteur, "suivi=en-retard") == expected
    assert lecteur.get("/api/layers/observations/stats?suivi=en-retard").json["total"] == len(expected)
    assert _export_uids(lecteur, "suivi=en-retard") == expected
    # the constats of the day: due today is not late, due yesterday is
    mine = obs[obs["description"].fillna("").str.startswith("délai ")]
    late_mine = set(mine.loc[mine["uid"].isin(expected), "description"])
    assert late_mine == {"délai -20 j", "délai -1 j"}


def test_late_filter_combines_with_status_and_period(demo: Flask) -> None:
    obs = _frame(demo)
    tech = client_as(demo, "technicien")
    assert _uids(tech, "suivi=en-retard&status=traité") == set()
    transmis = {u for u in _late(obs) if obs.set_index("uid").loc[u, "status"] == "transmis"}
    assert transmis and _uids(tech, "suivi=en-retard&status=transmis") == transmis
    times = pd.to_datetime(obs.set_index("uid")["observed_at"])
    in_2024 = {u for u in _late(obs) if times[u].year == 2024}
    assert _uids(tech, "suivi=en-retard&start=2024-01-01&end=2025-01-01") == in_2024


def test_my_organisation_and_assigned_to_it(demo: Flask) -> None:
    obs = _frame(demo)
    tech, lecteur = client_as(demo, "technicien"), client_as(demo, "lecteur")  # ville, bailleur
    mine = set(obs.loc[obs["organisation"] == "ville", "uid"])
    assigned = set(obs.loc[obs["assigned_to"] == "ville", "uid"])
    assert len(mine) == 4 and len(assigned) == 7
    assert _uids(tech, "suivi=mon-organisation") == mine
    assert _uids(tech, "suivi=assignes") == assigned
    assert _uids(tech, "suivi=mon-organisation,assignes") == mine & assigned == set()
    assert _uids(tech, "suivi=mon-organisation,en-retard") == mine & _late(obs)
    # the reader's organisation (bailleur) wrote nothing and was assigned nothing
    assert _uids(lecteur, "suivi=mon-organisation") == set()
    assert lecteur.get("/api/layers/observations/stats?suivi=assignes").json["total"] == 0
    # an explicit assignment filter that contradicts « assignés à mon organisation »: nothing
    assert _uids(tech, "suivi=assignes&assigned_to=police") == set()


def test_follow_up_filters_are_for_accounts(demo: Flask) -> None:
    anon = client_as(demo, "anonyme")
    for path in ("features", "stats", "export.csv"):
        r = anon.get(f"/api/layers/observations/{path}?suivi=en-retard")
        assert r.status_code == 403
        assert r.json["champ"] == "suivi" and "comptes connectés" in r.json["erreur"]
    tech = client_as(demo, "technicien")
    r = tech.get("/api/layers/observations/features?suivi=urgent")
    assert r.status_code == 400 and r.json["champ"] == "suivi" and "« urgent »" in r.json["erreur"]
    r = tech.get("/api/layers/bacs/features?suivi=en-retard")
    assert r.status_code == 400 and r.json["champ"] == "suivi" and "délai" in r.json["erreur"]
    # points noirs and bins have an assignment
    assert tech.get("/api/layers/points_noirs/features?suivi=assignes").status_code == 200


# -- address search ------------------------------------------------------------------------------

def _ban_rows() -> list[dict[str, str]]:
    """The raw Paris 20e BAN rows of the demo (read with the csv module, not the importer)."""
    with gzip.open(REPO / "data" / "demo" / "paris" / "adresses-75020.csv.gz", "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter=";"))


def _near(hit: dict[str, Any], row: dict[str, str]) -> bool:
    return math.isclose(hit["lon"], float(row["lon"]), abs_tol=2e-5) and math.isclose(
        hit["lat"], float(row["lat"]), abs_tol=2e-5)


def test_address_search_on_the_real_ban(demo: Flask) -> None:
    anon = client_as(demo, "anonyme")
    rows = _ban_rows()
    pyr = next(r for r in rows
               if r["nom_voie"] == "Rue des Pyrénées" and r["numero"] == "12" and not r["rep"])
    for q in ("12 rue des Pyrénées", "12 RUE DES PYRENEES", "12 r. des pyrenées", "12, rue pyrénées"):
        hits = anon.get("/api/adresses", query_string={"q": q}).json["resultats"]
        assert hits and hits[0]["label"].startswith("12 Rue des Pyrénées"), q
        assert _near(hits[0], pyr) and hits[0]["type"] == "adresse"
    bis = next(r for r in rows if r["rep"] == "b" and r["nom_voie"].startswith("Rue "))
    query = f"{bis['numero']} bis {bis['nom_voie']}"
    hits = anon.get("/api/adresses", query_string={"q": query}).json["resultats"]
    assert len(hits) == 1 and hits[0]["indice"] == "bis" and _near(hits[0], bis)
    # a street without its number: the street itself, said so
    hits = anon.get("/api/adresses", query_string={"q": "rue des pyren"}).json["resultats"]
    assert hits[0]["voie"] == "Rue des Pyrénées" and {h["type"] for h in hits} == {"voie"}
    assert all("Pyrénées" in h["voie"] for h in hits)


@pytest.mark.parametrize("query", ["12 rue des Pyrennées", "12 rue des Pyrénés", "99999 rue des Pyrénées",
                                   "12 rue de Rivoli"])
def test_address_search_never_guesses(demo: Flask, query: str) -> None:
    body = client_as(demo, "anonyme").get("/api/adresses", query_string={"q": query}).json
    assert body["resultats"] == []
    assert body["message"] == f"Aucune adresse trouvée pour « {query} » dans le territoire."


def test_address_search_checks_its_query(demo: Flask) -> None:
    anon = client_as(demo, "anonyme")
    for q in ("", "a", "x" * 201):
        r = anon.get("/api/adresses", query_string={"q": q})
        assert r.status_code == 400 and r.json["champ"] == "q"


def test_address_index_is_kept_across_writes_to_other_layers(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """A constat written or changed keeps the address index; an address written rebuilds it."""
    import geopandas as gpd
    from shapely.geometry import Point

    path = demo_store_copy(tmp_path_factory, "suivi-adresses")
    app = build_app(path, tmp_path_factory.mktemp("suivi-adresses-instance"))
    anon, tech = client_as(app, "anonyme"), client_as(app, "technicien")
    assert anon.get("/api/adresses", query_string={"q": "rue des pyren"}).status_code == 200
    index = app.extensions["qpv_adresses"]["index"]
    r = tech.post("/api/observations", json={"lon": 3.8205, "lat": 43.6325, "theme": "voirie",
                                             "description": "nid-de-poule"})
    assert r.status_code == 201, r.json
    assert tech.patch(f"/api/observations/{r.json['uid']}", json={"status": "transmis"}).status_code == 200
    assert anon.get("/api/adresses", query_string={"q": "rue des pyren"}).status_code == 200
    assert app.extensions["qpv_adresses"]["index"] is index
    query = {"q": "7 impasse des essais du cache"}
    assert anon.get("/api/adresses", query_string=query).json["resultats"] == []
    s = open_store(path, create=False)
    try:
        one = s.read("adresses", limit=1)
        new = gpd.GeoDataFrame({"number": [7], "street": ["Impasse des Essais du Cache"],
                                "postcode": one["postcode"].tolist(), "commune": one["commune"].tolist()},
                               geometry=[Point(one.geometry.iloc[0].x + 5, one.geometry.iloc[0].y)],
                               crs=s.crs)
        assert s.write("adresses", new).inserted
    finally:
        s.close()
    hits = anon.get("/api/adresses", query_string=query).json["resultats"]
    assert app.extensions["qpv_adresses"]["index"] is not index
    assert hits and hits[0]["label"].startswith("7 Impasse des Essais du Cache")


def test_address_search_is_fast_on_all_of_paris(tmp_path: Path, shared_data: Path) -> None:
    """158,000 Paris addresses: the index is built once, then each search takes milliseconds."""
    from layers.importer import ImportOptions, import_file

    path = tmp_path / "paris.gpkg"
    s = open_store(path)
    try:
        import_file(s, shared_data / "paris" / "adresses-75.csv.gz", options=ImportOptions(mapping="ban"))
    finally:
        s.close()
    app = build_app(path, tmp_path / "instance")
    anon = client_as(app, "anonyme")
    t0 = time.perf_counter()
    first = anon.get("/api/adresses", query_string={"q": "10 rue de la roquette"}).json["resultats"]
    build = time.perf_counter() - t0
    assert first[0]["label"] == "10 Rue de la Roquette, 75011 Paris 11e Arrondissement"
    durations = []
    for q in ("5 avenue gambetta", "bd de belleville", "12 bis rue des pyrenees", "place d'italie",
              "rue des", "champs", "1 rue a", "rue de la roqette") * 5:
        t = time.perf_counter()
        assert anon.get("/api/adresses", query_string={"q": q}).status_code == 200
        durations.append(time.perf_counter() - t)
    p95 = sorted(durations)[int(0.95 * len(durations))]
    print(f"address index of 158,048 points: first search {build:.2f} s, then p95 {p95 * 1000:.1f} ms")
    assert build < 10 and p95 < 0.05


# -- child reads ------------------------------------------------------------------------------

def test_point_noir_events_and_bin_readings(demo: Flask) -> None:
    s = open_store(demo.config["STORE"], create=False)
    try:
        events = s.read_children("points_noirs", "evenements")
        readings = s.read_children("bacs", "releves")
        collections = s.read_children("bacs", "levees")
    finally:
        s.close()
    anon = client_as(demo, "anonyme")
    pn = events["parent_uid"].value_counts().index[0]
    body = anon.get(f"/api/points_noirs/{pn}/evenements").json
    mine = events[events["parent_uid"] == pn]
    assert len(body) == len(mine) > 1
    assert [b["observed_at"] for b in body] == sorted(b["observed_at"] for b in body)
    assert {b["uid"] for b in body} == set(mine["uid"])
    assert all(b["simulated"] is True for b in body)  # the demo's events are simulated
    total = sum(b["volume_m3"] for b in body if b["volume_m3"] is not None)
    assert math.isclose(total, mine["volume_m3"].sum())
    bac = readings["parent_uid"].value_counts().index[0]
    body = anon.get(f"/api/bacs/{bac}/releves").json
    assert len(body) == (readings["parent_uid"] == bac).sum()
    assert {"measured_at", "fill_pct", "simulated"} <= set(body[0])
    body = anon.get(f"/api/bacs/{bac}/levees").json
    assert len(body) == (collections["parent_uid"] == bac).sum()
    assert anon.get("/api/bacs/inconnu/releves").status_code == 404


def test_child_reads_follow_the_layer_visibility(demo: Flask, tmp_path: Path) -> None:
    closed = build_app(Path(demo.config["STORE"]), tmp_path / "instance",
                       PUBLIC_PROFILE={"layers": ["perimetres", "observations"]})
    s = open_store(demo.config["STORE"], create=False)
    try:
        pn = s.read("points_noirs", limit=1)["uid"].iloc[0]
    finally:
        s.close()
    assert client_as(closed, "anonyme").get(f"/api/points_noirs/{pn}/evenements").status_code == 404
    assert client_as(closed, "lecteur").get(f"/api/points_noirs/{pn}/evenements").status_code == 200


def test_layers_say_which_dates_are_events(demo: Flask) -> None:
    layers = {i["name"]: i for i in client_as(demo, "technicien").get("/api/layers").json}
    assert layers["observations"]["events"] and layers["observations"]["event_min"].startswith("2023")
    # cameras commissioned in 2000: a reference date, not an event — it must not stretch the slider
    assert layers["videoprotection"]["time_min"].startswith("2000")
    assert not layers["videoprotection"]["events"] and layers["videoprotection"]["event_min"] is None
    s = open_store(demo.config["STORE"], create=False)
    try:
        times = pd.to_datetime(s.read_children("points_noirs", "evenements")["observed_at"])
    finally:
        s.close()
    assert layers["points_noirs"]["event_min"] == times.min().isoformat()
    assert layers["points_noirs"]["event_max"] == times.max().isoformat()


def test_late_actions_of_the_plan(demo: Flask) -> None:
    """Actions have their own délai and état: late = délai passé and not « réalisée » / « abandonnée »."""
    from layers.schema import ACTION_CLOSED_STATES

    s = open_store(demo.config["STORE"], create=False)
    try:
        actions = s.read("actions")
    finally:
        s.close()
    deadline = pd.to_datetime(actions["deadline"], errors="coerce")
    late = (deadline < pd.Timestamp(today_paris())) & ~actions["etat"].isin(ACTION_CLOSED_STATES)
    expected = set(actions.loc[late, "uid"])
    closed_late = (deadline < pd.Timestamp(today_paris())) & actions["etat"].isin(ACTION_CLOSED_STATES)
    assert expected and closed_late.any()  # the demo plan has both
    tech = client_as(demo, "technicien")
    assert tech.get("/api/layers/actions/stats?suivi=en-retard").json["total"] == len(expected)
    body = tech.get(f"/api/layers/actions/features?{ALL}&suivi=en-retard").json
    assert {f["properties"]["uid"] for f in body["features"]} == expected
