"""Stop addresses and « what to check » of a real demo walk (Mosson), also after messy edits.

The demo store holds real Montpellier addresses (BAN) and streets; the walk is planned
from it. The tests then damage the data as a field season would: a constat loses its
address, another gets a new status, a stop is moved far from any address, a source
record is deleted — and check that each stop says what the data supports, never more.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point

from geo.walks.stopinfo import ADDRESS_UNKNOWN, StopSources, describe_stops
from layers.store import open_store
from layers.walk_stops import walk_stop_details
from layers.walks import load_walk
from tests.walkdemo import MOSSON, demo_store_copy, plan_mosson_walk


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = demo_store_copy(tmp_path_factory, "walkstops")
    plan = plan_mosson_walk(path, "2026-05-12T09:00", cache_dir=path.parent / "cache",
                            start=_among_open_constats(path))
    return path, plan.uid


def _among_open_constats(path: Path) -> tuple[float, float]:
    """The open constat of Mosson with the most other open constats within 150 m (WGS84).

    The demo's constats are drawn at random: starting among them, whatever the draw, the
    45-minute walk passes several (the messy edits below need two).
    """
    store = open_store(path)
    try:
        zone = store.read("perimetres", where={"code": MOSSON}).geometry.iloc[0]
        obs = store.read("observations", bbox=tuple(zone.bounds))
    finally:
        store.close()
    obs = obs[obs.within(zone) & obs["status"].isin(["nouveau", "transmis", "en cours"])]
    pts = obs.geometry.to_numpy()
    near = (shapely.distance(pts[:, None], pts[None, :]) <= 150).sum(axis=1)
    best = gpd.GeoSeries([pts[int(near.argmax())]], crs=obs.crs).to_crs(4326).iloc[0]
    return float(best.x), float(best.y)


def _details(path: Path, uid: str) -> gpd.GeoDataFrame:
    store = open_store(path)
    try:
        plan = load_walk(store, uid, cache_dir=path.parent / "cache")
        return walk_stop_details(store, plan.route, now="2026-05-12")
    finally:
        store.close()


def test_every_stop_has_its_address_and_facts_from_the_store(walk: tuple[Path, str]) -> None:
    path, uid = walk
    details = _details(path, uid)
    store = open_store(path)
    try:
        for _, stop in details.iterrows():
            if stop["kind"] != "constat":
                continue
            obs = store.get("observations", str(stop["source_uid"])).iloc[0]
            # the constat's own address, and its theme, status and date in words
            assert stop["address"] == obs["address"] and stop["address_source"] == "adresse du constat"
            first = stop["checks"][0]
            assert f"« {obs['theme']}" in first and f"« {obs['status']} »" in first
            assert pd.Timestamp(obs["observed_at"]).strftime("%d/%m/%Y") in first
            last = store.history("observations", str(stop["source_uid"])).iloc[-1]
            assert any(f"Dernier suivi : statut « {last['status']} »" in c for c in stop["checks"])
    finally:
        store.close()
    assert (details["kind"] == "constat").any()
    assert details["address"].notna().all()


def test_messy_edits_are_said_not_hidden(walk: tuple[Path, str]) -> None:
    path, uid = walk
    before = _details(path, uid)
    constats = before[before["kind"] == "constat"]
    assert len(constats) >= 2
    lost, followed = str(constats["source_uid"].iloc[0]), str(constats["source_uid"].iloc[1])
    store = open_store(path)
    try:
        point = store.get("observations", lost).geometry.iloc[0]
        store.update("observations", lost, {"address": None}, actor="test")
        store.update("observations", followed, {"status": "traité"}, actor="agent-ville")
        addresses = store.read("adresses", bbox=(point.x - 50, point.y - 50, point.x + 50, point.y + 50))
    finally:
        store.close()
    after = _details(path, uid).set_index("source_uid")
    # no address of its own any more: the nearest address point within 50 m, with its distance
    nearest = shapely.distance(addresses.geometry.to_numpy(), point)
    row = after.loc[lost]
    if len(addresses) and nearest.min() <= 50:
        assert row["address_source"] == f"adresse la plus proche, à {round(float(nearest.min()))} m"
        assert row["address_m"] == pytest.approx(float(nearest.min()), abs=0.05)
    else:
        assert row["address"] is None and row["address_source"].startswith(ADDRESS_UNKNOWN)
    # the new status is the last event, with who did it
    assert "Dernier suivi : statut « traité »" in " ".join(after.loc[followed, "checks"])
    assert "par agent-ville" in " ".join(after.loc[followed, "checks"])


def test_a_stop_far_from_any_address_is_unknown_not_snapped(walk: tuple[Path, str]) -> None:
    path, uid = walk
    store = open_store(path)
    try:
        plan = load_walk(store, uid, cache_dir=path.parent / "cache")
        stops = plan.route.stops.copy()
        x0, y0, x1, y1 = stops.total_bounds
        addresses = store.read("adresses", bbox=(x0 - 2000, y0 - 2000, x1 + 2000, y1 + 2000))
    finally:
        store.close()
    # an NPNRU stop (its « address » is a quartier code) 10 m from a real address, one 300 m
    # from every address point, and a constat whose record was deleted since the planning
    adr = addresses.geometry.iloc[0]
    far = Point(x1 + 5000, y1 + 5000)
    gap = float(shapely.distance(addresses.geometry.to_numpy(), far).min())
    assert gap > 50
    extra = gpd.GeoDataFrame({"order": [90, 91, 92], "kind": ["npnru", "npnru", "constat"],
                              "source_uid": ["op", "op2", "disparu"],
                              "address": ["QP034005"] * 2 + ["1 rue X"],
                              "label": ["NPNRU « A »", "NPNRU « B »", "Constat « propreté »"]},
                             geometry=[Point(adr.x + 10, adr.y), far, far], crs=stops.crs)
    out = describe_stops(extra, StopSources(addresses=addresses))
    assert out["address_source"].iloc[0] == "adresse la plus proche, à 10 m"
    assert out["address"].iloc[0] and out["address"].iloc[0] != "QP034005"
    assert out["address"].iloc[1] is None and out["address_source"].iloc[1].startswith(ADDRESS_UNKNOWN)
    assert out["checks"].iloc[2] == ["Élément d'origine introuvable dans l'entrepôt "
                                     "(supprimé depuis la préparation ?)."]
    # the stored address of a deleted constat is still what the planning saw
    assert out["address"].iloc[2] == "1 rue X"
