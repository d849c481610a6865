"""Diagnostic walks planned, stored, recorded and exported on the demo store (Mosson, QP034005).

The streets and addresses are real (Montpellier open data); the constats, points noirs,
bacs and NPNRU operations that set the priorities are simulated (seeded).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point

from geo.errors import QPVError
from geo.walks.export import read_gpx
from geo.walks.model import WalkOptions
from geo.walks.network import edges_frame
from layers.errors import WalkError
from layers.store import LayerStore, open_store
from layers.walks import (
    WalkPlan,
    WalkRequest,
    export_walk,
    list_walks,
    load_walk,
    plan_walk,
    previous_open_constats,
    quartier_graph,
    record_walk,
    resolve_point,
    walk_geojson,
    walk_gpx,
    walk_observations,
    walk_report_data,
    walk_sheet_data,
)
from tests.walkdemo import MOSSON, MOSSON_START, demo_store_copy
from webmap.documents import (
    render_walk_report_html,
    render_walk_sheet_html,
    render_walk_sheet_pdf,
    write_walk_sheet,
)

START = f"{MOSSON_START[0]},{MOSSON_START[1]}"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("graphcache")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LayerStore]:
    s = open_store(demo_store_copy(tmp_path_factory, "walks"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def graph(store: LayerStore, cache_dir: Path) -> nx.MultiGraph:
    return quartier_graph(store, MOSSON, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def loop(store: LayerStore, cache_dir: Path) -> WalkPlan:
    steps: list[str] = []
    request = WalkRequest(quartier=MOSSON, start=START, walk_date="2026-03-10T14:00",
                          options=WalkOptions(budget_min=90))
    plans = plan_walk(store, request, cache_dir=cache_dir, progress=steps.append, now=None)
    assert steps == ["graphe des voies", "priorités des arrêts", "calcul du parcours", "enregistrement"]
    assert len(plans) == 1
    return plans[0]


def _start_xy(store: LayerStore) -> Point:
    x, y = Transformer.from_crs("EPSG:4326", store.crs, always_xy=True).transform(*MOSSON_START)
    return Point(x, y)


def test_graph_cached_on_disk(store: LayerStore, graph: nx.MultiGraph, cache_dir: Path) -> None:
    files = list(cache_dir.glob("walkgraph-*.pickle"))
    assert len(files) == 1
    again = quartier_graph(store, MOSSON, cache_dir=cache_dir)
    assert again.number_of_edges() == graph.number_of_edges() > 300
    assert nx.is_connected(again)
    mosson = store.read("perimetres", where={"code": MOSSON}).geometry.iloc[0]
    xs = [d["x"] for _, d in again.nodes(data=True)]
    ys = [d["y"] for _, d in again.nodes(data=True)]
    assert mosson.buffer(1500).contains(shapely.box(min(xs), min(ys), max(xs), max(ys)))  # clipped
    assert quartier_graph(store, MOSSON, cache_dir=cache_dir, margin_m=100).number_of_edges() < \
        again.number_of_edges()
    assert len(list(cache_dir.glob("walkgraph-*.pickle"))) == 2


def test_loop_is_stored_with_its_stops(store: LayerStore, loop: WalkPlan) -> None:
    row = store.get("diagnostics", loop.uid).iloc[0]
    assert row["status"] == "prévu" and row["quartier"] == MOSSON
    assert row["budget_min"] == 90 and row["geometry"].geom_type == "LineString"
    assert abs(row["length_m"] - loop.route.length_m) < 0.2
    etapes = store.read_children("diagnostics", "etapes", parent_uids=[loop.uid]).sort_values("rank")
    assert len(etapes) == len(loop.route.stops) >= 6
    assert etapes["rank"].tolist() == list(range(1, len(etapes) + 1))
    assert etapes["to_check"].str.len().min() > 10  # what to check at every stop
    kinds = set(loop.route.stops["kind"])
    assert "constat" in kinds and kinds <= {"constat", "point_noir", "bac", "npnru", "rue"}
    # every stop is in (or just beside) Mosson
    mosson = store.read("perimetres", where={"code": MOSSON}).geometry.iloc[0]
    pts = gpd.points_from_xy(etapes["x"], etapes["y"])
    assert all(mosson.buffer(60).contains(p) for p in pts)
    # read back: same stops, same times as computed
    again = load_walk(store, loop.uid)
    assert again.route.stops["label"].tolist() == loop.route.stops["label"].tolist()
    assert np.allclose(again.route.stops["arrival_min"], loop.route.stops["arrival_min"], atol=1.5)
    assert loop.uid in list_walks(store, quartier=MOSSON)["uid"].tolist()


def test_gpx_follows_the_streets_and_loops_at_the_start(store: LayerStore, loop: WalkPlan,
                                                         graph: nx.MultiGraph) -> None:
    track, waypoints = read_gpx(walk_gpx(store, loop.uid))
    assert len(track) > 20 and len(waypoints) == len(loop.route.stops)
    assert waypoints[0][0].startswith("1. ")
    tr = Transformer.from_crs("EPSG:4326", store.crs, always_xy=True)
    xs, ys = tr.transform(*np.array(track).T)
    pts = shapely.points(xs, ys)
    streets = shapely.union_all(edges_frame(graph).geometry.to_numpy())
    off = shapely.distance(pts, streets)
    assert off.max() < 0.5, f"track point {off.max():.2f} m away from any street"
    # the walk starts and ends on the street nearest to the meeting point, right beside it
    start = _start_xy(store)
    to_street = float(shapely.distance(start, streets))
    assert to_street < 60
    assert pts[0].distance(start) == pytest.approx(to_street, abs=0.5)
    assert pts[-1].distance(pts[0]) < 0.5
    # stops lie on the track (the router got a node on their street), not at a crossing 100 m away
    track_line = shapely.linestrings(np.c_[xs, ys])
    snap = loop.route.stops["snap_m"].to_numpy()
    gap = np.array([track_line.distance(g) for g in loop.route.stops.geometry])
    assert np.all(gap <= snap + 0.5)
    assert np.median(gap) < 5
    # a GPS point every few metres at most would be wrong: the track is the street geometry
    geo = walk_geojson(store, loop.uid)
    assert geo["features"][0]["properties"]["kind"] == "parcours"
    assert geo["properties"]["uid"] == loop.uid


def test_duration_with_stops_within_budget(store: LayerStore, loop: WalkPlan) -> None:
    r = loop.route
    walking = r.length_m / (3.0 * 1000 / 60)
    assert r.duration_min == pytest.approx(walking + 5.0 * len(r.stops), abs=0.05)
    assert r.duration_min <= 90 + 1e-6
    assert r.duration_min > 60  # the budget is used, not wasted
    assert store.get("diagnostics", loop.uid)["duration_min"].iloc[0] <= 90
    assert r.stops["arrival_min"].is_monotonic_increasing
    assert r.stops["departure_min"].iloc[-1] <= 90


def _ink(pdf: bytes, tmp_path: Path) -> float:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    src = tmp_path / "feuille.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(src), str(tmp_path / "page")],
                   check=True, capture_output=True)
    with Image.open(next(tmp_path.glob("page*.png"))) as img:
        pixels = np.asarray(img.convert("L"), dtype=float)
    return float((pixels < 200).mean())


def test_walk_sheet_pdf_renders(store: LayerStore, loop: WalkPlan, cache_dir: Path, tmp_path: Path) -> None:
    pdf = render_walk_sheet_pdf(walk_sheet_data(store, loop.uid, cache_dir=cache_dir))
    assert pdf.startswith(b"%PDF")
    ink = _ink(pdf, tmp_path)
    assert 0.01 < ink < 0.6, f"page 1 ink {ink:.3f}"
    files = export_walk(store, loop.uid, tmp_path / "sortie", formats=("geojson", "gpx"), cache_dir=cache_dir)
    files += write_walk_sheet(walk_sheet_data(store, loop.uid, cache_dir=cache_dir), tmp_path / "sortie",
                              loop.file_stem, pdf=False)
    assert [f.suffix for f in files] == [".geojson", ".gpx", ".html"] and all(f.stat().st_size for f in files)
    with pytest.raises(WalkError, match="Format"):
        export_walk(store, loop.uid, tmp_path, formats=("docx",), cache_dir=cache_dir)


def test_k_groups_split_the_stops(store: LayerStore, cache_dir: Path) -> None:
    request = WalkRequest(quartier=MOSSON, start=START, groups=3, walk_date="2026-03-11T09:30",
                          options=WalkOptions(budget_min=60, time_limit_s=1.0))
    plans = plan_walk(store, request, cache_dir=cache_dir)
    assert [p.group for p in plans] == [1, 2, 3]
    assert all(p.name.endswith(f"groupe {p.group}") for p in plans)
    keys = [{(round(g.x), round(g.y)) for g in p.route.stops.geometry} for p in plans]
    assert all(keys) and not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    for p in plans:
        assert p.route.duration_min <= 60 + 1e-6
        stored = store.read_children("diagnostics", "etapes", parent_uids=[p.uid])
        assert len(stored) == len(p.route.stops)
    # the three groups head to different sides of the meeting point
    start = _start_xy(store)
    angles = [np.degrees(np.arctan2(np.mean([g.y for g in p.route.stops.geometry]) - start.y,
                                    np.mean([g.x for g in p.route.stops.geometry]) - start.x)) for p in plans]
    assert len({round(a / 30) for a in angles}) == 3


def test_follow_up_lists_previous_open_constats(store: LayerStore, loop: WalkPlan, cache_dir: Path) -> None:
    to_wgs = Transformer.from_crs(store.crs, "EPSG:4326", always_xy=True)
    s1, s2, s3 = (loop.route.stops.geometry.iloc[i] for i in (0, 1, 2))
    lonlat = [to_wgs.transform(p.x + 8, p.y + 6) for p in (s1, s2, s3)]
    constats = [
        {"lon": lonlat[0][0], "lat": lonlat[0][1], "theme": "encombrants", "status": "nouveau",
         "description": "Matelas devant le local poubelles", "pilote": "Ville — propreté",
         "partenaires": "ACM Habitat, Métropole", "domanialite": "bailleur", "deadline": "2026-04-01"},
        {"lon": lonlat[1][0], "lat": lonlat[1][1], "theme": "éclairage", "status": "traité",
         "description": "Candélabre éteint réparé", "pilote": "Métropole — éclairage",
         "domanialite": "publique", "deadline": "2026-03-20"},
        {"lon": lonlat[2][0], "lat": lonlat[2][1], "theme": "aires de jeux", "status": "en cours",
         "description": "Toboggan cassé", "pilote": "Ville — propreté", "partenaires": "ACM Habitat",
         "domanialite": "bailleur", "deadline": "2026-05-15"},
    ]
    result = record_walk(store, loop.uid, participants="Ville, ACM Habitat, Conseil citoyen", n_habitants=12,
                         observations=constats)
    assert result.n_inserted == 3
    row = store.get("diagnostics", loop.uid).iloc[0]
    assert row["status"] == "réalisé" and row["n_habitants"] == 12
    assert row["organisations"] == "Ville, ACM Habitat, Conseil citoyen"
    mine = walk_observations(store, loop.uid)
    assert len(mine) == 3 and set(mine["source"]) == {"diagnostic en marchant"}
    assert previous_open_constats(store, loop.uid).empty  # its own constats are not a follow-up
    # the next walk, a month later, goes past the same places
    mandatory = [f"{lon},{lat}" for lon, lat in lonlat]
    request = WalkRequest(quartier=MOSSON, start=START, walk_date="2026-04-14T14:00",
                          mandatory=tuple(mandatory), options=WalkOptions(budget_min=90, time_limit_s=1.0))
    nxt = plan_walk(store, request, cache_dir=cache_dir)[0]
    walks = list_walks(store, quartier=MOSSON)
    before = walks[walks["walk_date"] < nxt.walk_date]
    previous = store.get("diagnostics", nxt.uid)["previous_walk"].iloc[0]
    assert previous in before["uid"].tolist()
    assert before.loc[before["uid"] == previous, "walk_date"].iloc[0] == before["walk_date"].max()
    follow = previous_open_constats(store, nxt.uid, radius_m=50)
    assert sorted(follow["description"]) == ["Matelas devant le local poubelles", "Toboggan cassé"]
    assert set(follow["walk_name"]) == {loop.name}
    # (labels may repeat — two stops at one address — so compare the ranks themselves)
    assert set(follow["stop_rank"]) <= set(nxt.route.stops["order"])
    assert (follow["distance_m"] <= 50).all()
    html = render_walk_sheet_html(walk_sheet_data(store, nxt.uid, cache_dir=cache_dir))
    assert "Matelas devant le local poubelles" in html and "Toboggan cassé" in html
    assert "Candélabre éteint réparé" not in html  # closed: no follow-up
    # the requested stops sit on the constats; the stops of the first walk are 10 m away from them
    assert (follow["distance_m"] < 1).all()
    assert len(previous_open_constats(store, nxt.uid, radius_m=0.5)) == 2


def test_compte_rendu_groups_by_pilote(store: LayerStore, loop: WalkPlan, cache_dir: Path) -> None:
    if walk_observations(store, loop.uid).empty:
        pytest.skip("needs the constats recorded by the follow-up test")
    record, observations, graph = walk_report_data(store, loop.uid, cache_dir=cache_dir)
    html = render_walk_report_html(record, observations, G=graph, today=None)
    assert "compte-rendu" in html and "Ville, ACM Habitat, Conseil citoyen" in html and "12 habitant" in html
    by_pilote = html[html.index("Par pilote"):html.index("Par partenaire")]
    heads = re.findall(r"<h3>([^<]+)</h3>", by_pilote)
    assert heads == ["Métropole — éclairage (1)", "Ville — propreté (2)"]
    by_partner = html[html.index("Par partenaire"):html.index("Par domanialité")]
    assert re.findall(r"<h3>([^<]+)</h3>", by_partner) == ["ACM Habitat (2)", "Métropole (1)",
                                                           "non renseigné (1)"]
    # deadlines ordered inside a group
    ville = by_pilote[by_pilote.index("Ville — propreté"):]
    assert ville.index("01/04/2026") < ville.index("15/05/2026")


def test_every_street_mode(store: LayerStore, cache_dir: Path) -> None:
    request = WalkRequest(quartier=MOSSON, start=START, mode="toutes-les-rues", walk_date="2026-06-01T10:00",
                          options=WalkOptions(budget_min=90))
    plan = plan_walk(store, request, cache_dir=cache_dir)[0]
    r = plan.route
    assert r.stops.empty and r.solver == "chinese-postman"
    assert r.length_m >= r.meta["street_length_m"] > 5000
    assert store.read_children("diagnostics", "etapes", parent_uids=[plan.uid]).empty
    assert load_walk(store, plan.uid).route.length_m == pytest.approx(r.length_m, abs=0.2)


def test_start_from_an_address(store: LayerStore) -> None:
    mosson = store.read("perimetres", where={"code": MOSSON}).geometry.iloc[0]
    pt, label = resolve_point(store, "291 avenue du Puech de Massane", near=mosson)
    addr = store.read("adresses", where={"street": "Avenue du Puech de Massane", "number": 291})
    assert label == "291 Avenue du Puech de Massane"
    assert min(pt.distance(g) for g in addr.geometry) < 1e-6
    fuzzy, _ = resolve_point(store, "291 av du puech de massanne", near=mosson)
    assert fuzzy.distance(pt) < 1e-6 or fuzzy.distance(mosson) < 2000
    with pytest.raises(WalkError, match="introuvable"):
        resolve_point(store, "12 rue qui n'existe nulle part", near=mosson)
    with pytest.raises(WalkError, match="Coordonnées invalides"):
        resolve_point(store, "200.5,43.6")


def test_bad_inputs(store: LayerStore, cache_dir: Path) -> None:
    with pytest.raises(WalkError, match="Quartier inconnu"):
        plan_walk(store, WalkRequest(quartier="QP999999", start=START))
    with pytest.raises(WalkError, match="Mode"):
        plan_walk(store, WalkRequest(quartier=MOSSON, start=START, mode="au hasard"))
    far = "3.8700,43.6100"  # south of Montpellier centre, far from Mosson
    with pytest.raises(WalkError, match=r"L'arrêt demandé « 3\.87000, 43\.61000 .* m du quartier QP034005"):
        plan_walk(store, WalkRequest(quartier=MOSSON, start=START, mandatory=(far,),
                                     options=WalkOptions(budget_min=10)), cache_dir=cache_dir)
    spread = ["3.8160,43.6300", "3.8230,43.6350"]
    with pytest.raises(QPVError, match="plus que le temps disponible"):
        plan_walk(store, WalkRequest(quartier=MOSSON, start=START, mandatory=tuple(spread),
                                     options=WalkOptions(budget_min=20)), cache_dir=cache_dir)
    with pytest.raises(QPVError, match=r"introuvable|Aucun enregistrement"):
        load_walk(store, "inexistant")
