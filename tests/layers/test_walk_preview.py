"""The walk planner's preview on the demo store (Mosson, QP034005): routes, timetable, reasons.

Streets and addresses are real (Montpellier open data); constats, points noirs and NPNRU
operations are simulated (seeded). Nothing here is prepared for the tests: stops, places
and distances are read from the store.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer

import layers.walk_preview
from geo.walks.model import WalkOptions
from layers.errors import WalkError
from layers.store import LayerStore, open_store
from layers.walk_preview import (
    LEFT_BUDGET,
    LEFT_EXCLUDED,
    check_requested_stops,
    walk_candidates,
    walk_preview,
)
from layers.walks import SolvedWalk, WalkRequest, load_walk, plan_walk
from tests.walkdemo import MOSSON, MOSSON_START, demo_store_copy

START = f"{MOSSON_START[0]},{MOSSON_START[1]}"
WHEN = "2026-03-10T14:00"
MOTIFS = {
    "constat": r"constat ouvert depuis \d+ jours",
    "point_noir": r"point noir (récurrent \(\d+ dépôts? en \d+ mois\)|actif \(aucun dépôt en \d+ mois\))",
    "npnru": r"chantier NPNRU|opération NPNRU livrée",
    "rue": r"rue non observée( depuis \d+ mois)?",
    "bac": r"bac souvent plein \(\d+ % des relevés\)",
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("previewcache")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LayerStore]:
    s = open_store(demo_store_copy(tmp_path_factory, "preview"))
    try:
        yield s
    finally:
        s.close()


def _request(**kw: Any) -> WalkRequest:
    budget = kw.pop("budget_min", 90)
    return WalkRequest(quartier=MOSSON, start=START, walk_date=WHEN, options=WalkOptions(budget_min=budget),
                       **kw)


@pytest.fixture(scope="module")
def base(store: LayerStore, cache_dir: Path) -> dict[str, Any]:
    return walk_preview(store, _request(), cache_dir=cache_dir)


def test_ninety_minutes_in_mosson(store: LayerStore, base: dict[str, Any]) -> None:
    assert store.read("diagnostics").empty  # a preview saves nothing
    assert base["quartier"] == MOSSON and base["date"] == WHEN
    (group,) = base["groups"]
    table = group["timetable"]
    assert len(table) >= 5
    assert [t["order"] for t in table] == list(range(1, len(table) + 1))
    assert 60 < group["duration_min"] <= 90
    start = datetime.fromisoformat(WHEN)
    for row in table:  # clock times from the walk's date, walking + dwell
        assert row["arrival"] == (start + timedelta(minutes=row["arrival_min"])).strftime("%H:%M")
        assert re.fullmatch(MOTIFS[row["kind"]], row["motif"]), row
        assert row["reason"] and not row["mandatory"]
    minutes = [t["arrival_min"] for t in table]
    assert minutes == sorted(minutes) and minutes[0] > 0
    gaps = np.diff(minutes)
    assert (gaps >= 5 - 0.11).all()  # at least the 5-minute dwell between two arrivals
    assert group["end"] == (start + timedelta(minutes=group["duration_min"])).strftime("%H:%M")
    features = group["geojson"]["features"]
    track = features[0]["geometry"]
    assert track["type"] == "LineString"
    lon, lat = np.array(track["coordinates"]).T
    assert lon.min() > 3.78 and lon.max() < 3.85 and lat.min() > 43.61 and lat.max() < 43.65  # WGS84, Mosson
    stops = [f for f in features if f["properties"]["kind"] == "arret"]
    assert [f["properties"]["id"] for f in stops] == [t["id"] for t in table]
    assert [f["properties"]["order"] for f in stops] == [t["order"] for t in table]
    # left out: every other candidate, beyond the budget; none is lost
    listed = ({t["id"] for t in table} | {u["id"] for u in group["unserved"]}
              | {c["id"] for c in base["left_out"]})
    assert len(listed) == base["n_candidates"] == len(walk_candidates(store, MOSSON)["candidats"])
    assert {c["why"] for c in base["left_out"]} == {LEFT_BUDGET}
    for item in group["unserved"]:
        assert item["statut"].startswith("non desservi")


def test_candidates_say_why(store: LayerStore, base: dict[str, Any]) -> None:
    data = walk_candidates(store, MOSSON)
    cands = data["candidats"]
    assert data["nom"] and len({c["id"] for c in cands}) == len(cands)
    priorities = [c["priority"] for c in cands]
    assert priorities == sorted(priorities, reverse=True)
    kinds = {c["kind"] for c in cands}
    assert {"constat", "point_noir", "npnru", "rue"} <= kinds
    for c in cands:
        assert re.fullmatch(MOTIFS[c["kind"]], c["motif"]), c
        assert c["id"].startswith(f"{c['kind']}:")
    table_ids = {t["id"] for t in base["groups"][0]["timetable"]}
    assert table_ids <= {c["id"] for c in cands}


def test_excluding_a_stop_recomputes_within_budget(store: LayerStore, cache_dir: Path,
                                                   base: dict[str, Any]) -> None:
    first = base["groups"][0]["timetable"]
    dropped = first[0]["id"]
    again = walk_preview(store, _request(excluded=(dropped,)), cache_dir=cache_dir)
    table = again["groups"][0]["timetable"]
    assert dropped not in {t["id"] for t in table} and len(table) >= 5
    assert again["groups"][0]["duration_min"] <= 90
    left = {c["id"]: c["why"] for c in again["left_out"]}
    assert left[dropped] == LEFT_EXCLUDED
    assert again["left_out"][0]["id"] == dropped  # the planner's removals come first
    with pytest.raises(WalkError, match="Arrêt à retirer n° 1 inconnu") as err:
        walk_preview(store, _request(excluded=("constat:inexistant",)), cache_dir=cache_dir)
    assert err.value.field == "excluded"


def test_mandatory_open_constat(store: LayerStore, cache_dir: Path, base: dict[str, Any]) -> None:
    left = [c for c in base["left_out"] if c["kind"] == "constat"]
    assert left, "some open constats do not fit in 90 minutes"
    wanted = left[-1]  # the least urgent one left out
    out = walk_preview(store, _request(mandatory=(wanted["source_uid"],)), cache_dir=cache_dir)
    table = out["groups"][0]["timetable"]
    row = next(t for t in table if t["id"] == wanted["id"])
    assert row["mandatory"] and row["motif"].startswith("étape obligatoire ; constat ouvert depuis")
    assert out["groups"][0]["duration_min"] <= 90
    with pytest.raises(WalkError, match="Étape obligatoire n° 1 inconnue") as err:
        walk_preview(store, _request(mandatory=("constat:0000",)), cache_dir=cache_dir)
    assert err.value.field == "mandatory"


def _farthest_from_streets(store: LayerStore) -> tuple[float, float, float]:
    """A point of the quartier as far as possible from its streets (lon, lat, metres)."""
    zone = store.read("perimetres", where={"code": MOSSON}).geometry.iloc[0]
    x0, y0, x1, y1 = zone.bounds
    xs, ys = np.meshgrid(np.arange(x0, x1, 20.0), np.arange(y0, y1, 20.0))
    pts = np.asarray(shapely.points(xs.ravel(), ys.ravel()))
    pts = pts[shapely.contains(zone, pts)]
    streets = store.read("voies", bbox=zone.buffer(500).bounds)
    lines = shapely.union_all(streets.geometry.to_numpy())
    dist = shapely.distance(pts, lines)
    best = pts[int(np.argmax(dist))]
    lon, lat = Transformer.from_crs(store.crs, "EPSG:4326", always_xy=True).transform(best.x, best.y)
    return float(lon), float(lat), float(dist.max())


def test_unreachable_mandatory_place_is_listed_not_snapped(store: LayerStore, cache_dir: Path) -> None:
    lon, lat, far = _farthest_from_streets(store)
    assert far > 100, "Mosson has places more than 100 m from any street (parks)"
    place = f"{lon:.6f},{lat:.6f}"
    out = walk_preview(store, _request(mandatory=(place,)), cache_dir=cache_dir)
    group = out["groups"][0]
    assert "lieu:1" not in {t["id"] for t in group["timetable"]}
    item = next(u for u in group["unserved"] if u["id"] == "lieu:1")
    assert item["statut"].startswith("non desservi") and item["kind"] == "obligatoire"
    assert item["distance_m"] == pytest.approx(far, abs=25)  # graph streets vs raw layer


def test_two_groups_share_the_stops(store: LayerStore, cache_dir: Path) -> None:
    out = walk_preview(store, _request(groups=2, budget_min=60), cache_dir=cache_dir)
    a, b = ([t["id"] for t in g["timetable"]] for g in out["groups"])
    assert [g["group"] for g in out["groups"]] == [1, 2]
    assert a and b and not set(a) & set(b)
    assert all(g["duration_min"] <= 60 for g in out["groups"])


def test_saved_walk_equals_the_preview(store: LayerStore, cache_dir: Path) -> None:
    base = walk_preview(store, _request(), cache_dir=cache_dir)
    dropped = base["groups"][0]["timetable"][1]["id"]
    left = [c for c in base["left_out"] if c["kind"] == "constat"]
    near = min(left, key=lambda c: (c["lon"] - MOSSON_START[0]) ** 2 + (c["lat"] - MOSSON_START[1]) ** 2)
    request = _request(excluded=(dropped,), mandatory=(near["id"],), organisation="ville")
    preview = walk_preview(store, request, cache_dir=cache_dir)
    (plan,) = plan_walk(store, request, cache_dir=cache_dir, actor="planificateur")
    table = preview["groups"][0]["timetable"]
    assert [str(k) for k in plan.route.stops.index] == [t["id"] for t in table]
    assert plan.route.duration_min == pytest.approx(preview["groups"][0]["duration_min"], abs=0.1)
    stored = load_walk(store, plan.uid, cache_dir=cache_dir)
    assert list(stored.route.stops["label"]) == [t["label"] for t in table]
    assert store.get("diagnostics", plan.uid)["organisation"].iloc[0] == "ville"


def test_requested_stops_are_checked_before_routing(store: LayerStore) -> None:
    ids = [c["id"] for c in walk_candidates(store, MOSSON)["candidats"]]
    check_requested_stops(store, _request(mandatory=(ids[3],), excluded=(ids[0], ids[1])))  # known: no error
    check_requested_stops(store, _request())
    with pytest.raises(WalkError, match="inconnu") as caught:
        check_requested_stops(store, _request(excluded=("rue:Rue Imaginaire",)))
    assert caught.value.field == "excluded"
    with pytest.raises(WalkError, match="à la fois obligatoire et retiré"):
        check_requested_stops(store, _request(mandatory=(ids[0],), excluded=(ids[0],)))


def test_end_clock_is_the_duration_shown(store: LayerStore, cache_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The end time follows the duration shown (0.1 min), not a minute before it (88.96 min → 89.0)."""
    real = layers.walk_preview.solve_walk

    def solve(*args: Any, **kw: Any) -> SolvedWalk:
        solved = real(*args, **kw)
        return dataclasses.replace(solved, routes=[dataclasses.replace(r, duration_min=88.96)
                                                   for r in solved.routes])

    monkeypatch.setattr(layers.walk_preview, "solve_walk", solve)
    (group,) = walk_preview(store, _request(), cache_dir=cache_dir)["groups"]
    assert group["duration_min"] == 89.0
    shown = datetime.fromisoformat(WHEN) + timedelta(minutes=group["duration_min"])
    assert group["end"] == shown.strftime("%H:%M") != (shown - timedelta(seconds=3)).strftime("%H:%M")
