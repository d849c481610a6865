"""Emerging hot spot analysis: one constructed case per published class, Mann–Kendall, space-time Gi*.

The expected classes follow ArcGIS Pro « How Emerging Hot Spot Analysis works » (the
definitions are restated in geo/emerging.py) with T = 10 time steps, so that
« 90 % of the steps » means 9 steps.
"""

from __future__ import annotations

import ast
import itertools
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

from geo.errors import AnalysisError
from geo.stats.binning import make_bins
from geo.stats.emerging import (
    PATTERNS_FR,
    TOO_FEW,
    SpaceTimeCube,
    classify_series,
    emerging_hotspots,
    mann_kendall,
    space_time_cube,
    space_time_weights,
)
from geo.stats.hotspots import GridOptions, distance_weights


def _s(text: str) -> np.ndarray:
    return np.array([c == "1" for c in text])


NONE = "0000000000"
UP = {"trend_z": 3.0, "trend_p": 0.001}
DOWN = {"trend_z": -3.0, "trend_p": 0.001}
FLAT = {"trend_z": 0.4, "trend_p": 0.7}

CASES = [
    # (hot, cold, trend, expected)
    ("0000000001", NONE, FLAT, "new hot spot"),
    ("0000000111", NONE, FLAT, "consecutive hot spot"),
    ("1111111111", NONE, UP, "intensifying hot spot"),
    ("1111111111", NONE, FLAT, "persistent hot spot"),
    ("1101111111", NONE, FLAT, "persistent hot spot"),  # 9 of 10 steps, final hot
    ("1111111111", NONE, DOWN, "diminishing hot spot"),
    ("1001000111", NONE, FLAT, "sporadic hot spot"),  # on and off, never cold
    ("0010000001", "1000000000", FLAT, "oscillating hot spot"),
    ("1111111110", NONE, FLAT, "historical hot spot"),
    (NONE, "0000000001", FLAT, "new cold spot"),
    (NONE, "0000000111", FLAT, "consecutive cold spot"),
    (NONE, "1111111111", DOWN, "intensifying cold spot"),  # z-scores decreasing: colder
    (NONE, "1111111111", FLAT, "persistent cold spot"),
    (NONE, "1111111111", UP, "diminishing cold spot"),
    (NONE, "1001000111", FLAT, "sporadic cold spot"),
    ("1000000000", "0010000001", FLAT, "oscillating cold spot"),
    (NONE, "1111111110", FLAT, "historical cold spot"),
    (NONE, NONE, FLAT, "no pattern"),
    ("1100000000", NONE, FLAT, "no pattern"),  # hot long ago, less than 90 %
    # issue 16: a former significant cold spot is neither « new » nor « consecutive »
    ("0000000001", "1100000000", FLAT, "switched hot spot"),
    ("0000000111", "0010000000", FLAT, "switched hot spot"),
    ("1100000000", "0000000001", FLAT, "switched cold spot"),
]


@pytest.mark.parametrize(("hot", "cold", "trend", "expected"), CASES)
def test_one_constructed_case_per_class(hot: str, cold: str, trend: dict[str, float], expected: str) -> None:
    assert classify_series(_s(hot), _s(cold), **trend) == expected


def test_every_published_class_is_covered() -> None:
    assert {c[3] for c in CASES} | {TOO_FEW} == set(PATTERNS_FR)
    assert len(PATTERNS_FR) == 20
    assert PATTERNS_FR["switched hot spot"] == "ancien point froid devenu chaud"


def test_trend_needs_significance_and_threshold_is_configurable() -> None:
    weak_up = {"trend_z": 1.5, "trend_p": 0.13}
    assert classify_series(_s("1111111111"), _s(NONE), **weak_up) == "persistent hot spot"
    assert classify_series(_s("1111111111"), _s(NONE), **weak_up, trend_alpha=0.2) == "intensifying hot spot"
    # with an 80 % threshold, 8 hot steps out of 10 ending hot are persistent, not sporadic
    assert classify_series(_s("1101110111"), _s(NONE), **FLAT) == "sporadic hot spot"
    assert classify_series(_s("1101110111"), _s(NONE), **FLAT, threshold=0.8) == "persistent hot spot"


def test_bad_series_raise() -> None:
    with pytest.raises(AnalysisError):
        classify_series(_s("11"), _s("111"))
    with pytest.raises(AnalysisError, match="chaud et froid"):
        classify_series(_s("1"), _s("1"))


def _mk_brute(x: list[float]) -> tuple[float, float]:
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i, j in itertools.combinations(range(n), 2))
    _, counts = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in counts)) / 18
    z = (s - np.sign(s)) / np.sqrt(var) if s != 0 else 0.0
    return float(s), float(z)


def test_mann_kendall_against_brute_force_and_scipy() -> None:
    rng = np.random.default_rng(11)
    series = rng.normal(size=(40, 12))
    series[0] = np.arange(12)
    series[1] = [1, 1, 2, 3, 3, 3, 2, 5, 5, 0, 1, 1]  # ties
    mk = mann_kendall(series)
    for i in range(len(series)):
        s, z = _mk_brute(series[i].tolist())
        assert mk.s[i] == s
        assert mk.z[i] == pytest.approx(z)
        assert mk.p[i] == pytest.approx(2 * stats.norm.sf(abs(z)))
    for i in range(2, len(series)):  # no ties: tau-a == scipy's tau-b
        assert mk.tau[i] == pytest.approx(stats.kendalltau(np.arange(12), series[i]).statistic)
    assert mk.z[0] > 4 and mk.p[0] < 1e-4
    with pytest.raises(AnalysisError):
        mann_kendall(np.ones(2))


def _planted_cube() -> SpaceTimeCube:
    """10 × 10 square bins × 10 months, 1 event everywhere, and a cluster in the last 3 months."""
    bins = make_bins(area=shapely.box(0, 0, 1000, 1000), size=100.0, shape="square")
    counts = np.ones((len(bins), 10), dtype=np.int64)
    centre = int(np.argmin(np.hypot(bins["x"] - 550, bins["y"] - 550)))
    ring = np.flatnonzero(np.hypot(bins["x"] - bins["x"][centre], bins["y"] - bins["y"][centre]) < 150)
    counts[np.ix_(ring, np.array([7, 8, 9]))] = 20
    return SpaceTimeCube(bins=bins, counts=counts, periods=pd.period_range("2024-01", periods=10, freq="M"))


def test_planted_emerging_cluster_is_consecutive() -> None:
    cube = _planted_cube()
    res = emerging_hotspots(cube)
    centre = int(np.argmin(np.hypot(cube.bins["x"] - 550, cube.bins["y"] - 550)))
    assert res.bins["pattern"].iloc[centre] == "consecutive hot spot"
    far = int(np.argmin(np.hypot(cube.bins["x"] - 50, cube.bins["y"] - 50)))
    assert res.bins["pattern"].iloc[far] == "no pattern"
    assert res.pattern_counts()["point chaud consécutif"] >= 1
    assert res.bins.index.equals(cube.bins.index)


def test_space_time_gi_equals_esda_on_the_flattened_cube() -> None:
    cube = _planted_cube()
    rng = np.random.default_rng(2)
    cube.counts = cube.counts + rng.poisson(1.0, size=cube.counts.shape)
    res = emerging_hotspots(cube, k_time=1, fdr=False)
    wst = space_time_weights(distance_weights(cube.bins), 10, k_time=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.WSP(wst).to_W()
        flat = cube.counts.T.reshape(-1).astype(float)
        z = esda.G_Local(flat, w, transform="B", star=None, permutations=0).Zs
    np.testing.assert_allclose(res.z, z.reshape(10, -1).T, atol=1e-9)


def test_real_paris_dumping_cube(shared_data: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    df = df[df["type"] == "Objets abandonnés"]
    ll = df["geo_point_2d"].map(ast.literal_eval)
    gdf = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    )
    cube = space_time_cube(gdf, time_field="datedecl", start="2023-09", end="2024-08",
                           grid=GridOptions(size=300.0))
    assert cube.counts.shape[1] == 12
    in_period = pd.to_datetime(gdf["datedecl"]).dt.to_period("M").between(
        pd.Period("2023-09"), pd.Period("2024-08")
    )
    assert cube.counts.sum() == int(in_period.sum())
    res = emerging_hotspots(cube)
    assert set(res.bins["pattern"]) <= set(PATTERNS_FR)
    assert res.parameters["fdr"] is True and res.z.shape == cube.counts.shape


def test_hot_patterns_need_events_of_their_own(shared_data: Path) -> None:
    """Issue 16: a « consecutive hot spot » with 1 event in 12 months is hot only through its neighbours."""
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    ll = df["geo_point_2d"].map(ast.literal_eval)
    gdf = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    )
    cube = space_time_cube(gdf, time_field="datedecl", start="2023-09", end="2024-08",
                           grid=GridOptions(size=150.0))
    loose = emerging_hotspots(cube, min_events=0)
    strict = emerging_hotspots(cube)
    hot = loose.bins["pattern"].str.endswith("hot spot").to_numpy()
    few = loose.bins["total"].to_numpy() < 3
    assert (hot & few).any()  # the real data hold such bins: the rule is exercised
    np.testing.assert_array_equal(strict.bins["pattern"].to_numpy()[hot & few], TOO_FEW)
    kept = ~(hot & few)
    np.testing.assert_array_equal(strict.bins["pattern"].to_numpy()[kept],
                                  loose.bins["pattern"].to_numpy()[kept])
    assert strict.bins.loc[strict.bins["pattern"].str.endswith("hot spot"), "total"].min() >= 3
    assert strict.parameters["min_events"] == 3 and strict.parameters["moments"] == "global"


@pytest.mark.parametrize("k_time", [0, 1, 2])
def test_space_time_gi_equals_gi_star_on_the_kronecker_weights(k_time: int) -> None:
    """The fast space-time Gi* (no n·T × n·T matrix) is the Gi* of the flattened cube."""
    from geo.stats.emerging import space_time_gi
    from geo.stats.hotspots import gi_star

    cube = _planted_cube()
    counts = cube.counts + np.random.default_rng(5).poisson(0.7, size=cube.counts.shape)
    ws = distance_weights(cube.bins)
    z, p = space_time_gi(counts, ws, k_time=k_time)
    wst = space_time_weights(ws, counts.shape[1], k_time=k_time)
    zf, pf = gi_star(counts.T.reshape(-1).astype(float), wst)
    np.testing.assert_allclose(z, zf.reshape(counts.shape[1], -1).T, atol=1e-12)
    np.testing.assert_allclose(p, pf.reshape(counts.shape[1], -1).T, atol=1e-12)
