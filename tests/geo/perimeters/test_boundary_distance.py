"""Boundary distances through the cells of a grid are exactly those of ``shapely.distance`` (GEOS).

Reference: GEOS measuring each point against the whole boundary. Points: the Paris BAN
around the bench perimeters, random points over each neighbourhood, the boundary's own
vertices, points exactly on cell borders, and a boundary with a repeated vertex and a
zero-length segment; cells measured over several calls (candidates kept between calls).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import to_territory_crs
from geo.geometry import repair_polygons
from geo.perimeters._boundary_distance import near_segments, segment_distances
from geo.perimeters._columnar import CellGrid, cell_grid
from geo.perimeters.lookup import build_index


@pytest.fixture(scope="module")
def perimeters(shared_data: Path) -> gpd.GeoDataFrame:
    paris = gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson")[["code", "name", "geometry"]]
    occ = gpd.read_file(shared_data / "montpellier" / "qp-occitanie-2015.geojson")
    mtp = occ[occ["commune_qp"] == "Montpellier"].rename(columns={"code_qp": "code", "nom_qp": "name"})
    both = gpd.GeoDataFrame(pd.concat([mtp[["code", "name", "geometry"]], paris], ignore_index=True),
                            geometry="geometry", crs=paris.crs)
    repaired, _ = repair_polygons(to_territory_crs(both))
    return repaired


def _points(grid: CellGrid, boundary: shapely.Geometry, extra: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random points over the grid, the boundary's vertices, points on cell borders, ``extra`` points."""
    width, height = grid.nx * grid.size, grid.ny * grid.size
    x = rng.uniform(grid.x0, grid.x0 + width * 0.999, 30_000)
    y = rng.uniform(grid.y0, grid.y0 + height * 0.999, 30_000)
    vertices = shapely.get_coordinates(boundary)
    on_x = grid.x0 + np.floor((x[:2_000] - grid.x0) / grid.size) * grid.size
    on_y = grid.y0 + np.floor((y[:2_000] - grid.y0) / grid.size) * grid.size
    inside = ((extra[:, 0] >= grid.x0) & (extra[:, 0] < grid.x0 + width)
              & (extra[:, 1] >= grid.y0) & (extra[:, 1] < grid.y0 + height))
    return (np.concatenate([x, vertices[:, 0], on_x, x[2_000:4_000], extra[inside, 0]]),
            np.concatenate([y, vertices[:, 1], y[:2_000], on_y, extra[inside, 1]]))


@pytest.mark.parametrize("distance", [200.0, 35.0])
def test_cells_give_the_geos_distance(perimeters: gpd.GeoDataFrame, shared_data: Path,
                                      distance: float) -> None:
    index = build_index(perimeters, max_distance_m=distance)
    geoms = index.perimeters.geometry.to_numpy()
    ban = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", usecols=["x", "y"])
    extra = ban[["x", "y"]].to_numpy(dtype=float)
    rng = np.random.default_rng(18)
    measured = 0
    for box, members in index.groups:
        grid = cell_grid(box, members, geoms, index.boundaries, distance)
        for i in members:
            near = near_segments(grid, index.boundaries[i], distance)
            x, y = _points(grid, index.boundaries[i], extra, rng)
            reference = shapely.distance(index.boundaries[i], shapely.points(x, y))
            # in two calls: the second reuses the cells the first measured
            half = len(x) // 2
            got = np.concatenate([near.distances(x[:half], y[:half]), near.distances(x, y)[half:]])
            within = reference <= distance
            assert np.isfinite(got[within]).all()  # every point within the limit is measured
            answered = np.isfinite(got)
            assert np.array_equal(got[answered], reference[answered])  # the same doubles, not close ones
            measured += int(within.sum())
    assert measured > 20_000


def test_repeated_vertex_and_zero_length_segment() -> None:
    square = shapely.Polygon([(0, 0), (0, 0), (100, 0), (100, 100), (100, 100), (0, 100)])
    boundary = shapely.boundary(square)
    grid = cell_grid(np.array([-250.0, -250.0, 350.0, 350.0]), [0], np.array([square]), np.array([boundary]),
                     200.0)
    near = near_segments(grid, boundary, 200.0)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-240, 340, 20_000), rng.uniform(-240, 340, 20_000)
    x[:4], y[:4] = [0.0, 100.0, 50.0, -200.0], [0.0, 100.0, 50.0, -200.0]
    got = near.distances(x, y)
    reference = shapely.distance(boundary, shapely.points(x, y))
    answered = np.isfinite(got)
    assert np.array_equal(got[answered], reference[answered])
    assert np.isfinite(got[reference <= 200.0]).all()
    assert got[0] == 0.0 and got[1] == 0.0 and got[2] == 50.0


def test_segment_distances_ends_and_perpendicular() -> None:
    ax, ay, bx, by = (np.array([0.0, 0.0, 5.0]), np.array([0.0, 0.0, 5.0]), np.array([10.0, 10.0, 5.0]),
                      np.array([0.0, 0.0, 5.0]))
    px, py = np.array([-3.0, 5.0, 8.0]), np.array([4.0, -2.0, 9.0])
    np.testing.assert_array_equal(segment_distances(px, py, ax, ay, bx, by), [5.0, 2.0, 5.0])
