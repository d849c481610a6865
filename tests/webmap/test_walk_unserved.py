"""Walk sheet and ``qpv reseau verifier`` on real Montpellier streets merged per name (OSM-like)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from geo.crs import to_territory_crs
from geo.walks.build import graph_from_streets
from geo.walks.model import WalkOptions, WalkSheet
from geo.walks.network import clip_graph, split_at_points
from geo.walks.routing import walk_route
from geo.walks.streets import read_street_layer
from webmap.cli import main
from webmap.documents.maps import walk_map_frame
from webmap.documents.walksheet import render_walk_sheet_html


@pytest.fixture(scope="module")
def merged(shared_data: Path) -> gpd.GeoDataFrame:
    streets = read_street_layer(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip")
    rows = []
    for name, grp in streets.groupby(streets["name"].fillna("(sans nom)")):
        for part in shapely.get_parts(shapely.line_merge(shapely.union_all(grp.geometry.to_numpy()))):
            rows.append({"name": name, "geometry": part})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=streets.crs)


def test_sheet_lists_unserved_stops_and_frames_every_stop(merged: gpd.GeoDataFrame, mosson: gpd.GeoDataFrame,
                                                          shared_data: Path) -> None:
    pytest.importorskip("matplotlib")
    zone = mosson.geometry.iloc[0]
    pts = to_territory_crs(gpd.read_file(shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip",
                                         bbox=tuple(zone.bounds)))
    pts = pts[pts.within(zone)].iloc[::40]
    rng = np.random.default_rng(3)
    stops = gpd.GeoDataFrame({"label": [f"adresse {i}" for i in range(len(pts))],
                              "priority": rng.integers(1, 9, len(pts)).astype(float)},
                             geometry=pts.geometry.to_numpy(), crs="EPSG:2154")
    # a stop in the middle of nowhere, 1.5 km south-west of the quartier (messy input)
    far = shapely.Point(zone.bounds[0] - 1500, zone.bounds[1] - 1500)
    stops = pd.concat([stops, gpd.GeoDataFrame({"label": ["terrain vague"], "priority": [9.0]},
                                               geometry=[far], crs="EPSG:2154")], ignore_index=True)
    G = clip_graph(graph_from_streets(merged), mosson, margin_m=200)
    start = stops.geometry.iloc[0]
    G = split_at_points(G, [start, *stops.geometry])
    route = walk_route(G, stops, start=start, options=WalkOptions(budget_min=90, time_limit_s=0.3))
    unserved = {u["label"]: u for u in route.unserved}
    assert "terrain vague" in unserved
    assert all(u["distance_m"] > 30 for u in route.unserved)
    assert not set(unserved) & set(route.stops["label"])
    dist = unserved["terrain vague"]["distance_m"]
    x0, y0, x1, y1 = walk_map_frame(route, gpd.GeoDataFrame(geometry=[], crs="EPSG:2154"))
    for p in [*route.stops.geometry, *stops.geometry]:
        assert x0 <= p.x <= x1 and y0 <= p.y <= y1
    html = render_walk_sheet_html(WalkSheet(route, G, quartier="Mosson (QP034005)"))
    assert f"non desservi (à {dist:.0f} m de la voie la plus proche)" in html
    assert "Arrêts non desservis" in html


def test_reseau_verifier_on_a_broken_and_a_noded_file(merged: gpd.GeoDataFrame, tmp_path: Path,
                                                      shared_data: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "s.gpkg"
    merged.to_file(tmp_path / "voies.gpkg")
    res = runner.invoke(main, ["--entrepot", str(store), "importer", "perimetres",
                               str(shared_data / "montpellier" / "qp-occitanie-2015.geojson"),
                               "-m", "qpv-occitanie"])
    assert res.exit_code == 0, res.output
    ok = runner.invoke(main, ["--entrepot", str(store), "reseau", "verifier", "--voies",
                              str(tmp_path / "voies.gpkg"), "--quartier", "QP034005"])
    assert ok.exit_code == 0, ok.output
    assert "QP034005" in ok.output and "composante(s)" in ok.output
    # the same lines with no gap closing and no noding would be cut into pieces: simulate by
    # shifting every line end 3 m away and forbidding the snapping
    shifted = merged.copy()
    shifted["geometry"] = [shapely.ops.substring(g, 3, g.length - 3) if g.length > 10 else g
                           for g in merged.geometry]
    shifted.to_file(tmp_path / "casse.gpkg")
    bad = runner.invoke(main, ["--entrepot", str(store), "reseau", "verifier", "--voies",
                               str(tmp_path / "casse.gpkg"), "--accrochage", "0"])
    assert bad.exit_code == 3, bad.output
    assert "morcelé" in bad.output
