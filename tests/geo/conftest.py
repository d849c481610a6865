"""Fixtures shared by the geo tests: the real Mosson QPV and its pedestrian street graph."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import pytest

from geo.crs import to_territory_crs
from geo.geometry import repair_polygons
from geo.network import load_street_graph


@pytest.fixture(scope="session")
def mosson(shared_data: Path) -> gpd.GeoDataFrame:
    """The Mosson QPV (QP034005), repaired, in Lambert-93."""
    qpv = gpd.read_file(shared_data / "montpellier" / "qp-occitanie-2015.geojson")
    repaired, _ = repair_polygons(qpv[qpv["code_qp"] == "QP034005"])
    return to_territory_crs(repaired)


@pytest.fixture(scope="session")
def mosson_graph(shared_data: Path, mosson: gpd.GeoDataFrame) -> nx.MultiGraph:
    """Pedestrian graph of Montpellier's real streets, clipped to Mosson + 200 m."""
    return load_street_graph(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip", area=mosson,
                             margin_m=200)
