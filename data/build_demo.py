"""Build the embedded demo territory in data/demo/ from the real files of ../shared/data.

Run from the repository root::

    python data/build_demo.py [--shared ../shared/data]

Files are kept in their publishers' formats (CSV, GeoJSON, zipped Shapefile) so that the
demo goes through the same importers and mappings as real data. Montpellier reference
layers are clipped to the 12 QPV plus a margin to keep the repository small.
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy.spatial import cKDTree

from geo.crs import to_territory_crs
from geo.geometry import repair_polygons
from geo.stats.binning import points_extent

HERE = Path(__file__).resolve().parent
DEMO = HERE / "demo"
MARGIN_M = 1500.0


def _write_zipped_shapefile(gdf: gpd.GeoDataFrame, target: Path, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / f"{name}.shp"
        pyogrio.write_dataframe(gdf, shp, driver="ESRI Shapefile", encoding="UTF-8")
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for part in sorted(Path(tmp).iterdir()):
                zf.write(part, part.name)


def write_dansmarue_coverage(ban: pd.DataFrame, target: Path) -> None:
    """Write where Dans Ma Rue can report: Paris, as the concave hull of its BAN addresses.

    The hull (``shapely.concave_hull``, ratio 0.05) of the 158,000 Paris addresses, widened by
    50 m (pavements and streets beyond the last address) and simplified to 10 m: 106 km²
    (Paris: 105 km² with both woods). WKT in EPSG:2154, declared by the demo manifest
    as the coverage of the data set ``dansmarue-paris``.
    """
    xy = ban[["x", "y"]].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    coverage = points_extent(xy, buffer=50.0, ratio=0.05, simplify=10.0)
    target.write_text(shapely.to_wkt(coverage, rounding_precision=0) + "\n", encoding="utf-8")


def _node_names(xy: np.ndarray, crossings: pd.DataFrame, radius_m: float) -> list[frozenset[str]]:
    """Return the street names of the intersection nearest each node (within ``radius_m``), or none."""
    points = to_territory_crs(gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(crossings["lon"], crossings["lat"]), crs="EPSG:4326")).geometry
    dist, idx = cKDTree(np.c_[points.x, points.y]).query(xy, distance_upper_bound=radius_m)
    names1, names2 = crossings["nom1"].to_numpy(), crossings["nom2"].to_numpy()
    return [frozenset({names1[i], names2[i]}) if np.isfinite(d) else frozenset()
            for d, i in zip(dist, idx, strict=True)]


def write_paris_streets(shared: Path, ban20: pd.DataFrame, target: Path) -> dict[str, int]:
    """Write the streets of the Paris 20e (+ 300 m) from the 2014 Paris street graph, named.

    The graph (``reseau-paris-hashcode-2014.txt``, OpenStreetMap, drivable streets, no names)
    is cut to the concave hull of the 20e's BAN addresses widened by 300 m. Each street
    segment is named from ``croisements-rues-paris.csv`` (two street names per intersection,
    matched to the graph's junctions within 15 m): a segment whose two ends share one name
    takes it; otherwise the street of the nearest BAN address within 25 m of its middle;
    otherwise it stays unnamed. GeoJSON (WGS84), imported as ``voies`` by the manifest.
    Returns the counts of each naming.
    """
    from geo.walks.build import graph_from_hashcode

    graph = graph_from_hashcode(shared / "paris" / "reseau-paris-hashcode-2014.txt")
    xy = ban20[["x", "y"]].apply(pd.to_numeric, errors="coerce").dropna().to_numpy(float)
    area = points_extent(xy, buffer=300.0, ratio=0.05, simplify=10.0)
    nodes = sorted(graph.nodes)
    node_xy = np.array([[graph.nodes[n]["x"], graph.nodes[n]["y"]] for n in nodes])
    crossings = pd.read_csv(shared / "paris" / "croisements-rues-paris.csv", dtype={"nom1": str, "nom2": str})
    names = dict(zip(nodes, _node_names(node_xy, crossings.dropna(), 15.0), strict=True))
    ban_tree = cKDTree(xy)
    ban_streets = ban20.loc[ban20[["x", "y"]].apply(pd.to_numeric, errors="coerce").notna().all(axis=1),
                            "nom_voie"].to_numpy()
    rows, counts = [], {"croisements": 0, "ban": 0, "sans nom": 0}
    for u, v, data in graph.edges(data=True):
        line = data["geometry"]
        if not line.intersects(area):
            continue
        shared_names = sorted(names[u] & names[v])
        if len(shared_names) >= 1:
            name, how = shared_names[0], "croisements"
        else:
            mid = line.interpolate(0.5, normalized=True)
            dist, idx = ban_tree.query([mid.x, mid.y], distance_upper_bound=25.0)
            name, how = (str(ban_streets[idx]), "ban") if np.isfinite(dist) else (None, "sans nom")
        counts[how] += 1
        rows.append({"id": f"{u}-{v}", "nom": name, "type": (name or "").split(" ", 1)[0] or None,
                     "nommage": how, "longueur_m": round(float(data["length"]), 1), "geometry": line})
    streets = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:2154").to_crs("EPSG:4326")
    streets["geometry"] = shapely.set_precision(streets.geometry.to_numpy(), 1e-6)
    target.unlink(missing_ok=True)
    streets.to_file(target, driver="GeoJSON", COORDINATE_PRECISION=6)
    return counts


def build(shared: Path) -> None:
    """Extract the demo territory from ``shared`` into ``data/demo``."""
    paris_out = DEMO / "paris"
    mtp_out = DEMO / "montpellier"
    for folder in (paris_out, mtp_out):
        folder.mkdir(parents=True, exist_ok=True)
    paris = shared / "paris"
    mtp = shared / "montpellier"

    # Paris: the 3 QPV file as is, the 20e of the BAN, all Dans Ma Rue reports, all CCTV sites.
    shutil.copy(paris / "qpv-paris-idf-2015.geojson", paris_out)
    shutil.copy(paris / "videoprotection-paris-2019.csv", paris_out)
    with gzip.open(paris / "adresses-75.csv.gz", "rt", encoding="utf-8") as fh:
        ban = pd.read_csv(fh, sep=";", dtype=str, keep_default_na=False)
    write_dansmarue_coverage(ban, paris_out / "couverture-dansmarue-paris.wkt")
    ban20 = ban[ban["code_postal"] == "75020"]
    buf = io.StringIO()
    ban20.to_csv(buf, sep=";", index=False)
    with gzip.open(paris_out / "adresses-75020.csv.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
        fh.write(buf.getvalue())
    counts = write_paris_streets(shared, ban20, paris_out / "voies-paris-20e-osm-2014.geojson")
    print(f"Paris 20e streets: {counts}")
    with (paris / "dansmarue-2023-2024-echantillon.csv").open("rb") as src, gzip.open(
        paris_out / "dansmarue-2023-2024-echantillon.csv.gz", "wb", compresslevel=9
    ) as dst:
        shutil.copyfileobj(src, dst)

    # Montpellier: the 12 QPV, and the city's layers clipped to them plus a margin.
    qpv = gpd.read_file(mtp / "qp-occitanie-2015.geojson")
    qpv = qpv[qpv["commune_qp"] == "Montpellier"]
    qpv.to_file(mtp_out / "qp-montpellier-2015.geojson", driver="GeoJSON")
    area = repair_polygons(to_territory_crs(qpv))[0].buffer(MARGIN_M).union_all()
    for name in ("FilaireVoies", "PointAdresse", "EclairagePublic", "Batiments"):
        layer = pyogrio.read_dataframe(mtp / f"VilleMTP_MTP_{name}.zip")
        layer = to_territory_crs(layer)
        clipped = layer[layer.intersects(area)]
        _write_zipped_shapefile(clipped, mtp_out / f"VilleMTP_MTP_{name}.zip", f"VilleMTP_MTP_{name}")
        print(f"{name}: {len(clipped)} / {len(layer)}")
    shutil.copy(mtp / "VilleMTP_MTP_CameraSurv.geojson", mtp_out)
    shutil.copy(mtp / "conteneurs-languedoc-roussillon-osm-2014.csv", mtp_out)
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    print(f"demo territory: {total / 1e6:.1f} MB in {DEMO}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "data")
    build(parser.parse_args().shared)


if __name__ == "__main__":
    main()
