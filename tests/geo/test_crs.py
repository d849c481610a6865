"""CRS resolution (IGNF WKT → EPSG:2154), projection and polygon repair."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point

from geo.crs import area_of_use_bounds, resolve_crs, to_territory_crs
from geo.errors import CRSError
from geo.geometry import repair_polygons


def test_ignf_lambert93_wkt_is_epsg2154(shared_data: Path) -> None:
    wkt = pyogrio.read_info(shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip")["crs"]
    assert "RGF93 Lambert 93" in wkt or "Lambert" in wkt
    assert resolve_crs(wkt).to_epsg() == 2154
    assert resolve_crs(2154).to_epsg() == 2154
    assert resolve_crs("EPSG:4326").is_geographic


def test_unknown_crs() -> None:
    with pytest.raises(CRSError, match="inconnu"):
        resolve_crs("EPSG:999999")
    with pytest.raises(CRSError, match="manquant"):
        resolve_crs("")


def test_to_territory_crs_new_frame() -> None:
    gdf = gpd.GeoDataFrame({"a": [1]}, geometry=[Point(2.35, 48.85)], crs="EPSG:4326", index=[7])
    out = to_territory_crs(gdf)
    assert out.index.tolist() == [7] and out.crs.to_epsg() == 2154
    assert gdf.crs.to_epsg() == 4326  # input untouched
    assert 640_000 < out.geometry.x.iloc[0] < 670_000
    with pytest.raises(CRSError):
        to_territory_crs(gdf.set_crs(None, allow_override=True))
    assert area_of_use_bounds()[0] < -4


def test_repair_real_invalid_qpv(shared_data: Path) -> None:
    qpv = gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson")
    assert not qpv.is_valid.all()
    fixed, mask = repair_polygons(qpv)
    assert mask.tolist() == [True, False, False]
    assert fixed.is_valid.all() and fixed.index.equals(qpv.index)
    a, b = to_territory_crs(qpv).area.iloc[0], to_territory_crs(fixed).area.iloc[0]
    assert abs(a - b) / b < 0.05  # repaired, not dropped
