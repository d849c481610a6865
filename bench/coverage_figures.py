"""Coverage figures on the real files: CCTV over Paris dumping, walking access in Montpellier.

Run: ``/tmp/venv/bin/python bench/coverage_figures.py`` (data folder from
``QPV_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.geometry import repair_polygons
from geo.stats.coverage import cctv_coverage, lighting_density, walking_coverage
from geo.stats.hotspots import hotspots

DATA = Path(os.environ.get("QPV_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def dans_ma_rue() -> gpd.GeoDataFrame:
    """The Dans Ma Rue sample as points (WGS84)."""
    df = pd.read_csv(DATA / "paris" / "dansmarue-2023-2024-echantillon.csv")
    ll = df["geo_point_2d"].map(ast.literal_eval)
    geom = gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"]))
    return gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326")


def paris_cameras() -> gpd.GeoDataFrame:
    """Paris CCTV sites (2019)."""
    cams = pd.read_csv(DATA / "paris" / "videoprotection-paris-2019.csv", sep=";")
    return gpd.GeoDataFrame(cams, geometry=gpd.points_from_xy(cams["lon"], cams["lat"]), crs="EPSG:4326")


def montpellier(name: str) -> gpd.GeoDataFrame:
    """A zipped Montpellier shapefile (CP1252 attributes)."""
    return gpd.read_file(f"zip://{DATA / 'montpellier' / name}", encoding="cp1252")


def main() -> None:
    """Print the coverage figures."""
    t = time.perf_counter()
    dmr = dans_ma_rue()
    dumping = dmr[dmr["type"] == "Objets abandonnés"]
    cams = paris_cameras()
    qpv, _ = repair_polygons(gpd.read_file(DATA / "paris" / "qpv-paris-idf-2015.geojson"))
    print("== CCTV coverage of Paris dumping reports (Dans Ma Rue 2023-2024, 707 CCTV sites 2019) ==")
    hot = hotspots(dumping)
    for rng in (50.0, 100.0):
        cov = cctv_coverage(dumping, cams, hotspots=hot, range_m=rng)
        n_unc = 0 if cov.uncovered is None else len(cov.uncovered)
        print(f"range {rng:.0f} m: events seen {cov.share_events_seen:.1%} of {len(dumping)}; "
              f"hotspot area seen {cov.share_hotspot_area_seen:.1%} "
              f"({int((hot.gi_bin > 0).sum())} hot bins of {hot.attrs['bin_size']:.0f} m); "
              f"uncovered hot bins {n_unc}")
    twentieth = dumping[dumping["code_postal"] == 75020]
    cov20 = cctv_coverage(twentieth, cams, hotspots=hotspots(twentieth), range_m=50.0)
    print(f"20e only (50 m): events seen {cov20.share_events_seen:.1%} of {len(twentieth)}; "
          f"hotspot area seen {cov20.share_hotspot_area_seen:.1%}")
    qp = qpv[qpv["code"] == "QP075019"]
    in_qp = dumping[dumping.to_crs(2154).within(qp.to_crs(2154).geometry.iloc[0])]
    cov_qp = cctv_coverage(in_qp, cams, range_m=50.0)
    print(f"QP075019 (50 m): events seen {cov_qp.share_events_seen:.1%} of {len(in_qp)}")
    if cov.uncovered is not None and len(cov.uncovered):
        top = cov.uncovered.head(5)
        print("top uncovered hot bins (100 m):")
        for _, r in top.iterrows():
            print(f"  bin {r['bin_id']}: {r['count']} reports, z={r['gi_z']:.1f}, seen {r['seen_share']:.0%}")

    print("\n== Walking coverage of Montpellier addresses by glass/paper containers (OSM 2014) ==")
    streets = montpellier("VilleMTP_MTP_FilaireVoies.zip")
    addresses = montpellier("VilleMTP_MTP_PointAdresse.zip")
    raw = pd.read_csv(DATA / "montpellier" / "conteneurs-languedoc-roussillon-osm-2014.csv")
    kind = raw["type"].astype(object).fillna("")
    keep = ~kind.str.contains("chèterie", case=False)  # containers, including rows without a type
    sel = raw[keep.to_numpy()]
    cont = gpd.GeoDataFrame(sel, geometry=gpd.points_from_xy(sel["longitude"], sel["latitude"]),
                            crs="EPSG:4326").to_crs(2154)
    x0, y0, x1, y1 = streets.to_crs(2154).total_bounds
    cont = cont.cx[x0 - 300 : x1 + 300, y0 - 300 : y1 + 300]
    print(f"{len(addresses)} addresses, {len(cont)} containers in the street extent "
          f"({int((kind[keep] == '').sum())} rows of the file lack a type), {len(streets)} street segments")
    t1 = time.perf_counter()
    wc = walking_coverage(addresses, cont, streets)
    print(wc.shares.to_string(index=False, float_format=lambda v: f"{v:.1%}" if v < 1.0001 else f"{v:.0f}"))
    print(f"median walk {np.median(wc.addresses['walk_m'][np.isfinite(wc.addresses['walk_m'])]):.0f} m, "
          f"gaps (> 300 m): {len(wc.gaps)} addresses, unreachable: {wc.parameters['unreachable']}, "
          f"graph {wc.parameters['graph_nodes']} nodes / {wc.parameters['graph_edges']} edges, "
          f"{time.perf_counter() - t1:.1f} s")

    print("\n== Montpellier lighting supports and CCTV views blocked by buildings ==")
    light = lighting_density(streets, montpellier("VilleMTP_MTP_EclairagePublic.zip"))
    print(f"lighting: {light.attrs['overall_per_100m']:.2f} supports per 100 m of street")
    # the GeoJSON declares no CRS (so WGS84 by default) but holds Lambert-93 coordinates
    mcams = gpd.read_file(DATA / "montpellier" / "VilleMTP_MTP_CameraSurv.geojson")
    mcams = mcams.set_crs(2154, allow_override=True)
    buildings = montpellier("VilleMTP_MTP_Batiments.zip")
    free = cctv_coverage(addresses, mcams, range_m=50.0)
    blocked = cctv_coverage(addresses, mcams, range_m=50.0, buildings=buildings)
    print(f"addresses within view of the {len(mcams)} cameras (50 m): {free.share_events_seen:.1%} "
          f"open field, {blocked.share_events_seen:.1%} with the {len(buildings)} building footprints; "
          f"view area {free.views.area.sum() / 1e6:.2f} vs {blocked.views.area.sum() / 1e6:.2f} km²")
    print(f"\ntotal {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
