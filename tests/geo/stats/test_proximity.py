"""Proximity of constats to actions, on the real Paris « Dans Ma Rue » reports."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo.crs import to_territory_crs
from geo.errors import AnalysisError
from geo.stats.proximity import NO_THEME, constat_proximity


@pytest.fixture(scope="module")
def dmr(shared_data: Path) -> gpd.GeoDataFrame:
    """The real Dans Ma Rue sample (10,000 reports), theme = report type, in Lambert-93."""
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    ll = df["geo_point_2d"].map(ast.literal_eval)
    gdf = gpd.GeoDataFrame(
        {"theme": df["type"], "numero": df["numero"]},
        geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])),
        crs=4326,
    )
    return to_territory_crs(gdf)


def _actions(dmr: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Actions on real report locations: 60 points, 5 squares of 80 m and 4 without geometry."""
    rng = np.random.default_rng(15)
    picks = dmr.geometry.iloc[rng.choice(len(dmr), 65, replace=False)]
    geoms = list(picks.iloc[:60]) + [box(p.x - 40, p.y - 40, p.x + 40, p.y + 40) for p in picks.iloc[60:]]
    geoms += [None] * 4
    titles = [f"action {i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"title": titles}, geometry=geoms, crs=dmr.crs)


def _sjoin_near(constats: gpd.GeoDataFrame, actions: gpd.GeoDataFrame, distance: float) -> pd.Series:
    """Plain geopandas: near when sjoin_nearest finds an action within ``distance``."""
    located = actions[actions.geometry.notna()]
    joined = gpd.sjoin_nearest(constats, located[["geometry"]], how="left", max_distance=distance)
    return joined["index_right"].notna().groupby(level=0).any().reindex(constats.index)


def test_shares_equal_sjoin_nearest_on_real_reports(dmr: gpd.GeoDataFrame) -> None:
    actions = _actions(dmr)
    out = constat_proximity(dmr, actions, distance=100)
    expected = _sjoin_near(dmr, actions, 100)
    assert out.near.sort_index().equals(expected.sort_index().astype(bool))
    assert (out.total.n, out.total.near) == (len(dmr), int(expected.sum()))
    assert 60 < out.total.near < len(dmr)  # the actions' own reports at least, far from all
    assert out.total.share == pytest.approx(expected.mean())
    by_theme = expected.groupby(dmr["theme"]).agg(["size", "sum"])
    for theme, row in out.by_theme.iterrows():
        assert (row["n"], row["near"]) == tuple(by_theme.loc[theme]), theme
        assert row["share"] == pytest.approx(by_theme.loc[theme, "sum"] / by_theme.loc[theme, "size"])
    assert out.by_theme["n"].sum() == len(dmr)
    assert (out.actions_located, out.actions_unlocated, out.constats_unlocated) == (65, 4, 0)


def test_distance_changes_the_figure_like_sjoin(dmr: gpd.GeoDataFrame) -> None:
    actions = _actions(dmr)
    for distance in (5.0, 30.0, 250.0):
        out = constat_proximity(dmr, actions, distance=distance)
        assert out.total.near == int(_sjoin_near(dmr, actions, distance).sum()), distance


def test_exactly_at_the_distance_is_near(dmr: gpd.GeoDataFrame) -> None:
    p = dmr.geometry.iloc[123]
    x, y = float(round(p.x)), float(round(p.y))
    action = gpd.GeoDataFrame({"title": ["a"]}, geometry=[Point(x, y)], crs=2154)
    constats = gpd.GeoDataFrame(
        {"theme": ["Propreté", "Propreté", "Propreté"]},
        geometry=[Point(x + 100, y), Point(x, y - 100.01), Point(x + 60, y + 80)],
        crs=2154,
    )
    out = constat_proximity(constats, action)
    assert out.near.tolist() == [True, False, True]
    assert out.near.tolist() == _sjoin_near(constats, action, 100).tolist()
    assert (out.total.n, out.total.near) == (3, 2)
    assert out.total.share == pytest.approx(2 / 3)


def test_polygon_action_counts_from_its_edge(dmr: gpd.GeoDataFrame) -> None:
    p = dmr.geometry.iloc[456]
    x, y = float(round(p.x)), float(round(p.y))
    action = gpd.GeoDataFrame({"title": ["résidence"]}, geometry=[box(x, y, x + 400, y + 300)], crs=2154)
    constats = gpd.GeoDataFrame(
        {"theme": ["Propreté", "Encombrants", "Propreté", "Propreté"]},
        # inside (200 m from any edge), 99 m from the east edge, 101 m north, 100 m diagonal-ish
        geometry=[Point(x + 200, y + 150), Point(x + 499, y + 10), Point(x + 10, y + 401),
                  Point(x + 460, y + 380)],
        crs=2154,
    )
    out = constat_proximity(constats, action)
    assert out.near.tolist() == [True, True, False, True]
    assert out.near.tolist() == _sjoin_near(constats, action, 100).tolist()
    assert out.by_theme.loc["Propreté", "n"] == 3
    assert out.by_theme.loc["Propreté", "near"] == 2
    assert out.by_theme.loc["Encombrants", "share"] == 1.0


def test_unserved_on_land_and_unlocated_constats(dmr: gpd.GeoDataFrame) -> None:
    sample = dmr.iloc[:500].copy()
    sample.loc[sample.index[:7], "geometry"] = None
    sample.loc[sample.index[7:9], "theme"] = None
    on_land = pd.Series(np.arange(len(sample)) % 3 == 0, index=sample.index)
    actions = _actions(dmr)
    out = constat_proximity(sample, actions, on_land=on_land)
    assert out.constats_unlocated == 7 and out.total.n == 493
    assert out.by_theme.loc[NO_THEME, "n"] == 2
    located = sample[sample.geometry.notna()]
    expected = _sjoin_near(located, actions, 100)
    want = located.index[on_land.loc[located.index] & ~expected]
    assert list(out.unserved_on_land.index) == list(want)
    assert out.unserved_on_land.crs.to_epsg() == 2154
    assert not sample.geometry.iloc[:7].notna().any()  # input not mutated (still null)


def test_unknown_is_nan_not_zero(dmr: gpd.GeoDataFrame) -> None:
    no_actions = _actions(dmr).iloc[0:0]
    out = constat_proximity(dmr.iloc[:50], no_actions)
    assert out.total.n == 50 and out.total.near == 0 and math.isnan(out.total.share)
    assert out.by_theme["share"].isna().all()
    unlocated = gpd.GeoDataFrame({"title": ["x"]}, geometry=[None], crs=2154)
    out = constat_proximity(dmr.iloc[:50], unlocated)
    assert math.isnan(out.total.share) and out.actions_unlocated == 1
    out = constat_proximity(dmr.iloc[0:0], _actions(dmr))
    assert out.total.n == 0 and math.isnan(out.total.share) and out.by_theme.empty


def test_projects_wgs84_inputs(dmr: gpd.GeoDataFrame) -> None:
    actions = _actions(dmr)
    a = constat_proximity(dmr.iloc[:2000].to_crs(4326), actions.to_crs(4326))
    b = constat_proximity(dmr.iloc[:2000], actions)
    assert (a.total.n, a.total.near) == (b.total.n, b.total.near)


def test_bad_input_is_refused(dmr: gpd.GeoDataFrame) -> None:
    with pytest.raises(AnalysisError, match="Distance"):
        constat_proximity(dmr, _actions(dmr), distance=-1)
    with pytest.raises(AnalysisError, match="theme"):
        constat_proximity(dmr.drop(columns="theme"), _actions(dmr))
    with pytest.raises(AnalysisError, match="masque"):
        constat_proximity(dmr, _actions(dmr), on_land=pd.Series([True]))
