"""Gi* hotspots: equal to esda on the same weights, counts equal to a plain spatial join."""

from __future__ import annotations

import ast
import math
import warnings
from pathlib import Path

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import stats

from geo.errors import AnalysisError, QPVError
from geo.geometry import repair_polygons
from geo.stats.binning import assign_bins, auto_bin_size, count_in_bins, make_bins
from geo.stats.hotspots import (
    GiOptions,
    GridOptions,
    distance_weights,
    fdr_adjust,
    getis_ord,
    gi_star,
    hotspots,
    hotspots_by_quartier,
    kernel_density,
    network_hotspots,
    segment_weights,
)


@pytest.fixture(scope="module")
def dumping(shared_data: Path) -> gpd.GeoDataFrame:
    """Real Dans Ma Rue « Objets abandonnés » reports."""
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    ll = df["geo_point_2d"].map(ast.literal_eval)
    gdf = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    )
    return gdf[gdf["type"] == "Objets abandonnés"]


@pytest.fixture(scope="module")
def qpv(shared_data: Path) -> gpd.GeoDataFrame:
    """The Paris QPV perimeters, repaired."""
    per, invalid = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))
    assert invalid.any()
    return per


def _esda_z(bins: gpd.GeoDataFrame, value: str = "count") -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.Queen.from_dataframe(bins, use_index=False)
        return esda.G_Local(bins[value].to_numpy(float), w, transform="B", star=True, permutations=0).Zs


def test_gi_star_equals_esda_on_the_20e(dumping: gpd.GeoDataFrame) -> None:
    twentieth = dumping[dumping["code_postal"] == 75020]
    result = hotspots(twentieth)
    assert (result["count"] > 0).sum() >= 30  # the floor of the automatic size rule
    np.testing.assert_allclose(result["gi_z"].to_numpy(), _esda_z(result), atol=1e-9)
    assert (result["gi_bin"] > 0).sum() > 0


def test_counts_equal_a_plain_sjoin(dumping: gpd.GeoDataFrame) -> None:
    twentieth = dumping[dumping["code_postal"] == 75020].to_crs(2154)
    bins = count_in_bins(make_bins(twentieth, size=150.0), twentieth)
    joined = gpd.sjoin(twentieth, bins[["bin_id", "geometry"]], predicate="within")
    expected = joined.groupby("bin_id").size().reindex(bins["bin_id"], fill_value=0).to_numpy()
    np.testing.assert_array_equal(bins["count"].to_numpy(), expected)
    assert bins["count"].sum() == len(twentieth)


def test_per_quartier_with_margin(dumping: gpd.GeoDataFrame, qpv: gpd.GeoDataFrame) -> None:
    result = hotspots_by_quartier(dumping, qpv, grid=GridOptions(margin=200.0))
    qp = result[result["quartier"] == "QP075019"]
    geom = qpv.to_crs(2154).set_index("code").geometry["QP075019"]
    assert qp["in_quartier"].any() and not qp["in_quartier"].all()
    assert shapely.union_all(qp.geometry.to_numpy()).covers(geom)
    cells = gpd.GeoDataFrame(geometry=[shapely.union_all(qp.geometry.to_numpy())], crs=2154)
    n_cells = len(gpd.sjoin(dumping.to_crs(2154), cells, predicate="intersects"))
    assert qp["count"].sum() == n_cells
    assert n_cells >= int(dumping.to_crs(2154).within(geom.buffer(200.0)).sum())
    np.testing.assert_allclose(qp["gi_z"].to_numpy(), _esda_z(qp.reset_index(drop=True)), atol=1e-9)


def test_fdr_matches_scipy_and_esda_cutoff() -> None:
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(0, 0.002, 30), rng.uniform(0, 1, 300)])
    q = fdr_adjust(p)
    np.testing.assert_allclose(q, stats.false_discovery_control(p, method="bh"))
    cutoff = esda.fdr(p, 0.05)
    np.testing.assert_array_equal(q <= 0.05, p <= cutoff)


def test_fdr_is_on_by_default_and_can_be_switched_off(dumping: gpd.GeoDataFrame) -> None:
    on = hotspots(dumping, grid=GridOptions(size=300.0))
    off = hotspots(dumping, grid=GridOptions(size=300.0), gi=GiOptions(fdr=False))
    np.testing.assert_array_equal(on["gi_z"], off["gi_z"])
    assert (on["gi_bin"] != 0).sum() < (off["gi_bin"] != 0).sum()
    assert on.attrs["fdr"] is True


def test_hexagons_tile_and_points_fall_in_their_cell() -> None:
    area = shapely.box(0, 0, 2000, 2000)
    bins = make_bins(area=gpd.GeoSeries([area], crs=2154), size=100.0)
    np.testing.assert_allclose(bins.area, 100.0**2 * math.sqrt(3) / 2, rtol=1e-4)
    w = distance_weights(bins)
    card = np.asarray(w.sum(axis=1)).ravel() - 1
    assert card.max() == 6
    rng = np.random.default_rng(3)
    xy = rng.uniform(200, 1800, size=(500, 2))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=2154)
    pos = assign_bins(bins, pts)
    assert (pos >= 0).all()
    assert shapely.contains_xy(bins.geometry.to_numpy()[pos], xy[:, 0], xy[:, 1]).all()
    far = gpd.GeoDataFrame(geometry=[shapely.Point(10_000, 10_000)], crs=2154)
    assert assign_bins(bins, far)[0] == -1


def test_squares_have_four_rook_neighbours() -> None:
    bins = make_bins(area=shapely.box(0, 0, 1000, 1000), size=100.0, shape="square")
    assert len(bins) == 100
    card = np.asarray(distance_weights(bins).sum(axis=1)).ravel() - 1
    assert sorted(set(card.tolist())) == [2, 3, 4]


def test_network_variant_on_constructed_streets() -> None:
    lines = [shapely.LineString([(i * 100, 0), ((i + 1) * 100, 0)]) for i in range(10)]
    lines += [shapely.LineString([(i * 100, 0), (i * 100, 100)]) for i in range(10)]
    streets = gpd.GeoDataFrame({"name": [f"s{i}" for i in range(20)]}, geometry=lines, crs=2154)
    xs = np.r_[np.full(12, 450.0), np.full(10, 550.0), np.arange(50, 1000, 100)]
    ev = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, np.full(len(xs), 3.0)), crs=2154)
    res = network_hotspots(ev, streets, order=1)
    assert res.index.equals(streets.index)
    assert res["count"].sum() == len(xs)
    # the segments meeting at the junction x=500 (4, 5 and the side street 15) are the hot ones
    assert set(res["gi_z"].nlargest(3).index) == {4, 5, 15}
    assert res.loc[15, "gi_bin"] > 0
    assert (res.drop(index=[4, 5, 15])["gi_bin"] <= 0).all()
    w = segment_weights(streets.to_crs(2154), order=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wl = libpysal.weights.WSP(w).to_W()
        z = esda.G_Local(res["density"].to_numpy(float), wl, transform="B", star=None, permutations=0).Zs
    np.testing.assert_allclose(res["gi_z"].to_numpy(), z, atol=1e-9)


def test_kernel_density_integrates_to_the_number_of_points() -> None:
    rng = np.random.default_rng(5)
    xy = rng.normal(5000, 200, size=(300, 2))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=2154)
    kd = kernel_density(pts, bandwidth=150.0, cell=10.0)
    assert kd.density.sum() * (kd.cell / 1000) ** 2 == pytest.approx(300, rel=0.01)
    assert kd.value_at(np.array([5000.0]), np.array([5000.0]))[0] > kd.value_at(
        np.array([5600.0]), np.array([5600.0])
    )[0]


def test_gi_star_on_known_values() -> None:
    # three units in a row, star weights; hand computation of the Ord-Getis z
    y = np.array([1.0, 2.0, 9.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit 3 is an island, on purpose
        w = libpysal.weights.W({0: [1], 1: [0, 2], 2: [1], 3: []}, silence_warnings=True)
        w = libpysal.weights.fill_diagonal(w, 1.0)
    z, _ = gi_star(y, w.sparse)
    n, mean, s = 4, y.mean(), y.std()
    lag = np.array([3.0, 12.0, 11.0, 0.0])
    card = np.array([2.0, 3.0, 2.0, 1.0])
    expected = (lag - mean * card) / (s * np.sqrt((n * card - card**2) / (n - 1)))
    np.testing.assert_allclose(z, expected)


def test_errors_are_ours_and_in_french() -> None:
    bins = make_bins(area=shapely.box(0, 0, 500, 500), size=100.0)
    with pytest.raises(AnalysisError, match="absente"):
        getis_ord(bins, value="nope")
    with pytest.raises(QPVError):
        make_bins(area=shapely.box(0, 0, 1, 1), size=-1.0)
    with pytest.raises(AnalysisError):
        gi_star(np.ones(2), distance_weights(bins)[:2, :2])
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)] * 5, crs=2154)
    with pytest.raises(AnalysisError, match="distincts"):
        auto_bin_size(pts)


def test_inputs_are_not_mutated(dumping: gpd.GeoDataFrame) -> None:
    before = dumping.copy()
    bins = make_bins(dumping, size=400.0)
    bins_before = bins.copy()
    getis_ord(count_in_bins(bins, dumping))
    pd.testing.assert_frame_equal(dumping, before)
    pd.testing.assert_frame_equal(bins, bins_before)
