"""Automatic bin size driven by the events, and the source-coverage mask (issue 16, part B).

Real data: the simulated events of the demo in Mosson (QP034005) and the real Dans Ma Rue
reports of Paris around QP075019, the Paris BAN for the coverage of Dans Ma Rue.
"""

from __future__ import annotations

import ast
import math
import warnings
from datetime import date
from pathlib import Path

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial.distance import cdist

from geo.errors import AnalysisError
from geo.geometry import repair_polygons
from geo.stats.binning import (
    MIN_NONEMPTY_CELLS,
    assign_bins,
    choose_bin_size,
    count_in_bins,
    lattice_keys,
    make_bins,
    points_extent,
)
from geo.stats.hotspots import distance_weights, getis_ord
from geo.stats.inference import libpysal_weights
from layers.analyses import analysis_events
from layers.store import open_store
from tests.walkdemo import demo_store_copy

MOSSON, PARIS_QP = "QP034005", "QP075019"
HEX = math.sqrt(2 * math.pi / math.sqrt(3))


@pytest.fixture(scope="module")
def demo_events(tmp_path_factory: pytest.TempPathFactory) -> dict[str, gpd.GeoDataFrame]:
    """Mosson's simulated events of the demo (dumping constats, points noirs events) and its zone."""
    path = demo_store_copy(tmp_path_factory, "binning")
    with open_store(path, create=False) as store:
        per = store.read("perimetres")
        geom = per.loc[per["code"] == MOSSON].geometry.iloc[0]
        zone = geom.buffer(200.0)
        span = {"start": date(2023, 1, 1), "end": date(2024, 12, 31), "bbox": zone.bounds}
        obs = analysis_events(store, "observations", theme="dépôts sauvages", **span)
        pn = analysis_events(store, "points_noirs", **span)
    return {"observations": obs[obs.intersects(zone)], "points_noirs": pn[pn.intersects(zone)],
            "zone": gpd.GeoDataFrame(geometry=[zone], crs=per.crs)}


@pytest.fixture(scope="module")
def paris(shared_data: Path) -> dict[str, object]:
    """Real Dans Ma Rue reports (every type) within 200 m of QP075019, and its zone."""
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    ll = df["geo_point_2d"].map(ast.literal_eval)
    events = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    ).to_crs(2154)
    per, _ = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))
    per = per.to_crs(2154)
    geom = per.loc[per["code"] == PARIS_QP].geometry.iloc[0]
    ban = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", usecols=["x", "y"])
    return {"all": events, "near": events[events.intersects(geom.buffer(200.0))], "geom": geom,
            "ban": ban[["x", "y"]].to_numpy(float)}


def _with_one_more(events: gpd.GeoDataFrame, i: int) -> gpd.GeoDataFrame:
    """The events plus one event 30 m east of event ``i``."""
    extra = events.iloc[[i]].copy()
    p = extra.geometry.iloc[0]
    extra = extra.set_geometry([shapely.Point(p.x + 30.0, p.y)], crs=events.crs)
    return pd.concat([events, extra])


def test_size_rule_on_a_regular_lattice() -> None:
    """The documented rule, recomputed by brute force: mean distance to the 30th neighbour."""
    xs, ys = np.meshgrid(np.arange(0, 400, 10.0), np.arange(0, 400, 10.0))
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=2154)
    kth = np.sort(cdist(xy, xy), axis=1)[:, 30].mean()  # k = min(30, 5 % of 1,600) = 30; column 0 is self
    choice = choose_bin_size(pts, area=shapely.box(-5, -5, 400, 400))
    assert choice.k == 30 and choice.mean_knn == pytest.approx(kth)
    assert choice.size == round(kth * HEX / 5) * 5 == choice.initial_size
    assert choice.nonempty >= MIN_NONEMPTY_CELLS and choice.supported
    assert make_bins(pts, size=123.0).attrs["bin_size"] == 123.0


def test_mosson_simulated_events_get_30_cells_and_a_stable_size(demo_events: dict) -> None:
    ev, zone = demo_events["observations"], demo_events["zone"]
    assert len(ev) >= 30
    choice = choose_bin_size(ev, area=zone)
    assert choice.supported and choice.nonempty >= MIN_NONEMPTY_CELLS
    grid = count_in_bins(make_bins(ev, area=zone), ev)
    assert (grid["count"] > 0).sum() >= MIN_NONEMPTY_CELLS
    for i in range(0, len(ev), max(1, len(ev) // 10)):  # one event added 30 m from ten different sites
        assert abs(choose_bin_size(_with_one_more(ev, i), area=zone).size - choice.size) <= 0.2 * choice.size


def test_mosson_points_noirs_events_cannot_support_gi(demo_events: dict) -> None:
    """1,400+ events piled on a handful of points noirs: never 30 non-empty cells, and it says so."""
    ev = demo_events["points_noirs"]
    sites = len(np.unique(np.column_stack([ev.geometry.x, ev.geometry.y]).round(1), axis=0))
    assert len(ev) > 1000 and 3 <= sites < MIN_NONEMPTY_CELLS
    choice = choose_bin_size(ev, area=demo_events["zone"])
    assert not choice.supported and choice.nonempty == sites and choice.size == 25.0


def test_paris_real_events_get_30_cells_and_a_stable_size(paris: dict) -> None:
    near, zone = paris["near"], paris["geom"].buffer(200.0)
    choice = choose_bin_size(near, area=zone)
    assert choice.supported and choice.events == len(near)
    for i in range(0, len(near), max(1, len(near) // 10)):
        size = choose_bin_size(_with_one_more(near, i), area=zone).size
        assert abs(size - choice.size) <= 0.2 * choice.size


def test_highest_z_of_a_clustered_pattern_is_in_the_densest_cell(demo_events: dict) -> None:
    """Issue 16: Mosson had its highest z on an empty cell. Real Mosson constats plus a planted cluster."""
    ev = demo_events["observations"]
    zone = demo_events["zone"].geometry.iloc[0]
    rng = np.random.default_rng(16)
    centre = np.array(zone.centroid.coords[0]) + rng.uniform(-300, 300, 2)
    cluster = centre + rng.normal(0.0, 40.0, size=(80, 2))
    pts = pd.concat([ev[["geometry"]], gpd.GeoDataFrame(geometry=gpd.points_from_xy(*cluster.T), crs=2154)])
    res = getis_ord(count_in_bins(make_bins(pts, area=zone), pts))
    assert res["count"].iloc[int(np.argmax(res["gi_z"]))] == res["count"].max() > 0
    assert res["gi_bin"].iloc[int(np.argmax(res["count"]))] > 0


def test_lattice_keys_equal_the_cell_geometry(paris: dict) -> None:
    for shape in ("hex", "square"):
        bins = make_bins(paris["near"], area=paris["geom"], size=75.0, shape=shape, margin=200.0)
        fast = assign_bins(bins, paris["near"])
        xy = np.column_stack([paris["near"].geometry.x, paris["near"].geometry.y])
        slow = np.array([np.flatnonzero(shapely.intersects_xy(bins.geometry.to_numpy(), x, y))[0]
                         for x, y in xy])
        np.testing.assert_array_equal(fast, slow)
        assert len(np.unique(lattice_keys(xy, 75.0, shape))) == len(np.unique(fast))


def test_masked_cells_are_absent_from_the_weights(paris: dict) -> None:
    """Dans Ma Rue covers Paris only: the cells of QP075019's margin outside Paris are not zeros."""
    coverage = points_extent(paris["ban"], buffer=50.0)
    geom, near = paris["geom"], paris["near"]
    full = make_bins(near, area=geom, margin=200.0, size=100.0)
    masked = make_bins(near, area=geom, margin=200.0, size=100.0, mask=coverage)
    outside = ~shapely.contains_xy(coverage, full["x"].to_numpy(), full["y"].to_numpy())
    assert outside.sum() > 0  # QP075019's margin crosses the boundary of Paris
    assert masked.attrs["masked_cells"] == len(full) - len(masked) > 0
    assert shapely.contains_xy(coverage, masked["x"].to_numpy(), masked["y"].to_numpy()).all()
    assert int(count_in_bins(masked, near)["count"].sum()) == int(count_in_bins(full, near)["count"].sum())
    gone = set(map(tuple, full.loc[outside, ["x", "y"]].round(3).to_numpy()))
    assert not gone & set(map(tuple, masked[["x", "y"]].round(3).to_numpy()))
    w = distance_weights(masked)
    lw = libpysal_weights(masked, w)
    assert lw.id_order == list(masked["bin_id"]) and lw.n == len(masked)
    assert all(j in set(lw.id_order) for nb in lw.neighbors.values() for j in nb)
    counted = count_in_bins(masked, paris["all"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = esda.G_Local(counted["count"].to_numpy(float), lw, transform="B", star=True, permutations=0).Zs
    np.testing.assert_allclose(getis_ord(counted)["gi_z"].to_numpy(), z, atol=1e-12)


def test_errors_are_french() -> None:
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 0], [0, 0]), crs=2154)
    with pytest.raises(AnalysisError, match="lieux distincts"):
        choose_bin_size(pts)
    with pytest.raises(AnalysisError, match="points distincts"):
        points_extent(np.zeros((5, 2)), buffer=10.0)


def test_a_grid_spanning_regions_is_refused_not_built() -> None:
    """Paris and Montpellier events at the events' scale (25 m) would make ~600 million hexagons."""
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([652000, 652100, 652050, 770000],
                                                       [6862000, 6862000, 6862100, 6280000]), crs=2154)
    many = pd.concat([pts] * 40, ignore_index=True)  # 160 events on 4 places: a 25 m automatic size
    with pytest.raises(AnalysisError, match="Grille trop grande"):
        make_bins(many)
    assert len(make_bins(pts, size=5000.0)) > 0
