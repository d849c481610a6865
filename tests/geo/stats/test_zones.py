"""count_by_zone equals a plain sjoin count."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.geometry import repair_polygons
from geo.stats.zones import count_by_zone


def test_counts_match_plain_sjoin(shared_data: Path) -> None:
    qpv = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))[0]
    dmr = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    lonlat = dmr["geo_point_2d"].str.extract(r"'lon': ([\d.]+), 'lat': ([\d.]+)").astype(float)
    pts = gpd.GeoDataFrame(dmr[["type"]], geometry=gpd.points_from_xy(lonlat[0], lonlat[1]), crs=4326)
    got = count_by_zone(pts, qpv)
    plain = gpd.sjoin(pts.to_crs(2154), qpv.to_crs(2154)[["code", "geometry"]]).groupby("code").size()
    assert dict(zip(got["code"], got["count"], strict=True)) == {
        c: int(plain.get(c, 0)) for c in qpv["code"]}
    assert dict(zip(got["code"], got["count"], strict=True))["QP075019"] == 70
    by = count_by_zone(pts, qpv, by="type")
    assert by.loc[by["code"] == "QP075019", "count"].sum() == 70


def test_grid_cells_match_a_plain_groupby(shared_data: Path) -> None:
    import numpy as np

    from geo.stats.zones import grid_cells

    dmr = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    lonlat = dmr["geo_point_2d"].str.extract(r"'lon': ([\d.]+), 'lat': ([\d.]+)").astype(float)
    pts = gpd.GeoSeries(gpd.points_from_xy(lonlat[0], lonlat[1]), crs=4326).to_crs(2154)
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    cells = grid_cells(x, y, cell_m=500)
    plain = pd.DataFrame({"gx": np.floor(x / 500), "gy": np.floor(y / 500), "x": x, "y": y}).groupby(
        ["gx", "gy"]).agg(count=("x", "size"), x=("x", "mean"), xmin=("x", "min"), ymax=("y", "max"))
    assert cells["count"].tolist() == plain["count"].tolist()
    assert np.allclose(cells["x"], plain["x"]) and np.allclose(cells["xmin"], plain["xmin"])
    assert np.allclose(cells["ymax"], plain["ymax"])
    assert int(cells["count"].sum()) == 10_000
    assert grid_cells(np.array([]), np.array([]), cell_m=10).empty
