"""count_by_zone equals a plain sjoin count."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.geometry import repair_polygons
from geo.zones import count_by_zone


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
