"""Permutation inference of Gi* and Local Moran's I (esda), on real Dans Ma Rue counts."""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from geo.errors import AnalysisError
from geo.stats.binning import count_in_bins, make_bins
from geo.stats.hotspots import distance_weights, getis_ord
from geo.stats.inference import MORAN_CLASSES, gi_permutation_p, local_moran


@pytest.fixture(scope="module")
def grid(shared_data: Path) -> gpd.GeoDataFrame:
    """Real Dans Ma Rue reports of the 20e counted on 150 m hexagons."""
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    df = df[df["code_postal"] == 75020]
    ll = df["geo_point_2d"].map(ast.literal_eval)
    pts = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]),
                                                            ll.map(lambda d: d["lat"])), crs=4326)
    return getis_ord(count_in_bins(make_bins(pts, size=150.0), pts))


def test_permutation_p_follows_the_analytical_p_and_is_seeded(grid: gpd.GeoDataFrame) -> None:
    w = distance_weights(grid)
    y = grid["count"].to_numpy(float)
    p = gi_permutation_p(y, grid, w, permutations=499, seed=7)
    assert np.array_equal(p, gi_permutation_p(y, grid, w, permutations=499, seed=7))
    assert p.min() >= 2 / 500 - 1e-6 and p.max() <= 1.0
    rho = stats.spearmanr(p, grid["gi_p"].to_numpy()).statistic
    assert rho > 0.7  # the same cells stand out, whatever the inference
    strongest = int(np.argmax(grid["gi_z"].to_numpy()))
    assert p[strongest] <= 0.01


def test_local_moran_classes(grid: gpd.GeoDataFrame) -> None:
    res = local_moran(grid["count"].to_numpy(float), grid, distance_weights(grid), permutations=499)
    assert res.index.equals(grid.index)
    assert set(res["moran_class"]) <= {*MORAN_CLASSES.values(), "non significatif"}
    hh = res["moran_class"] == MORAN_CLASSES[1]
    assert hh.any()
    # a high-high cell is above the mean and so are its neighbours on average
    y = grid["count"].to_numpy(float)
    assert (y[hh.to_numpy()] > y.mean()).all()
    assert (res.loc[res["moran_q"] > 0.05, "moran_class"] == "non significatif").all()


def test_inference_errors_are_french(grid: gpd.GeoDataFrame) -> None:
    w = distance_weights(grid)
    with pytest.raises(AnalysisError, match="99 permutations"):
        gi_permutation_p(grid["count"].to_numpy(float), grid, w, permutations=10)
    with pytest.raises(AnalysisError, match="seuil"):
        local_moran(grid["count"].to_numpy(float), grid, w, alpha=1.5)
