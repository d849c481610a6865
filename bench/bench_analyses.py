"""Benchmark of the analyses on 100,000 resampled events, and the Paris reports.

The events are SIMULATED: the locations are real Dans Ma Rue reports (Paris, 2023-2024,
ODbL), drawn with replacement, and the dates are drawn uniformly over 24 months with a
seeded RNG (every row carries ``simulated=True``).

Measured: Gi* on hexagonal bins over Paris (grid + counts + weights + Gi* + FDR),
emerging hot spot analysis (cube + space-time Gi* + Mann–Kendall + classes), and the
recurrence analysis (sites + re-occurrence + per quartier). The Gi* is compared with
esda's ``G_Local(transform="B", star=True)`` on the same bins and contiguity weights.

It also writes the reports of QP075019 and of the whole 20e arrondissement from the real
Dans Ma Rue « Objets abandonnés » (bench/results/reports/).

Run: ``/tmp/venv/bin/python bench/bench_analyses.py [--events 100000] [--no-reports]``.
Writes bench/results/analyses.json and prints a table.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.geometry import repair_polygons
from geo.stats.binning import count_in_bins, make_bins
from geo.stats.emerging import emerging_hotspots, space_time_cube
from geo.stats.hotspots import distance_weights, fdr_adjust, getis_ord, gi_star, network_hotspots
from geo.stats.recurrence import RecurrenceOptions, recurrence
from geo.stats.report import ReportOptions, build_quartier_report, build_territory_report
from webmap.documents import write_report

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("QPV_SHARED_DATA") or ROOT.parent / "shared" / "data")
RESULTS = ROOT / "bench" / "results"


def dans_ma_rue() -> gpd.GeoDataFrame:
    """The real Dans Ma Rue sample as points (WGS84)."""
    df = pd.read_csv(DATA / "paris" / "dansmarue-2023-2024-echantillon.csv")
    ll = df["geo_point_2d"].map(ast.literal_eval)
    geom = gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"]))
    return gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326")


def resampled_events(real: gpd.GeoDataFrame, n: int, *, seed: int = 20240901) -> gpd.GeoDataFrame:
    """``n`` simulated events: real locations drawn with replacement, uniform dates over 24 months."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(real), size=n)
    start = pd.Timestamp("2023-01-01")
    days = rng.integers(0, 731, size=n)
    out = gpd.GeoDataFrame(
        {
            "observed_at": start + pd.to_timedelta(days, unit="D"),
            "type": real["type"].to_numpy()[pick],
            "simulated": True,
            "source_dataset": "Dans Ma Rue rééchantillonné (simulé)",
        },
        geometry=real.geometry.to_numpy()[pick],
        crs=real.crs,
    )
    return out.to_crs(2154)


def paris_streets() -> gpd.GeoDataFrame:
    """Paris drivable street segments (OpenStreetMap via the 2014 Hash Code graph), as straight lines."""
    path = DATA / "paris" / "reseau-paris-hashcode-2014.txt"
    with path.open(encoding="ascii") as fh:
        n_nodes, n_edges, *_ = (int(v) for v in fh.readline().split())
        nodes = np.array([[float(v) for v in fh.readline().split()] for _ in range(n_nodes)])
        edges = np.array([[int(v) for v in fh.readline().split()] for _ in range(n_edges)])
    a, b = edges[:, 0], edges[:, 1]
    coords = np.stack([nodes[a][:, ::-1], nodes[b][:, ::-1]], axis=1)  # (lon, lat)
    lines = gpd.GeoDataFrame({"length_m": edges[:, 4]}, geometry=shapely.linestrings(coords), crs=4326)
    return lines.to_crs(2154)


def paris_qpv() -> gpd.GeoDataFrame:
    """The three QPV perimeters, repaired (QP075019 is invalid as published)."""
    qpv, _ = repair_polygons(gpd.read_file(DATA / "paris" / "qpv-paris-idf-2015.geojson"))
    return qpv


def twentieth_zone() -> gpd.GeoDataFrame:
    """The 20e arrondissement drawn as the concave hull of its BAN addresses (no outline in the data)."""
    ban = pd.read_csv(DATA / "paris" / "adresses-75.csv.gz", sep=";", usecols=["code_postal", "x", "y"])
    ban = ban[ban["code_postal"] == 75020]
    hull = shapely.concave_hull(shapely.multipoints(ban[["x", "y"]].to_numpy()), ratio=0.05).buffer(30)
    return gpd.GeoDataFrame(
        {"code": ["75020"], "name": ["Paris 20e arrondissement"]}, geometry=[hull], crs=2154
    )


def timed(label: str, timings: dict[str, float], func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func`` and record its wall time."""
    t = time.perf_counter()
    out = func(*args, **kwargs)
    timings[label] = time.perf_counter() - t
    return out


def esda_comparison(bins: gpd.GeoDataFrame) -> dict[str, float]:
    """Time our Gi* and esda's on the same bins (contiguity weights from the hexagons)."""
    import esda
    import libpysal

    y = bins["count"].to_numpy(float)
    t = time.perf_counter()
    w_ours = distance_weights(bins)
    z_ours, p_ours = gi_star(y, w_ours)
    fdr_adjust(p_ours)
    ours = time.perf_counter() - t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        w = libpysal.weights.Queen.from_dataframe(bins, use_index=False)
        w_build = time.perf_counter() - t
        t = time.perf_counter()
        lg = esda.G_Local(y, w, transform="B", star=True, permutations=0)
        esda_call = time.perf_counter() - t
    return {
        "bins": len(bins),
        "ours_s": ours,
        "esda_g_local_s": esda_call,
        "esda_weights_s": w_build,
        "ratio_ours_to_esda_call": ours / esda_call,
        "ratio_ours_to_esda_weights_plus_call": ours / (esda_call + w_build),
        "max_abs_z_difference": float(np.max(np.abs(lg.Zs - z_ours))),
    }


def benchmark(n_events: int) -> dict[str, object]:
    """Time Gi*, emerging hot spots and recurrence on ``n_events`` resampled events."""
    real = dans_ma_rue()
    events = resampled_events(real, n_events)
    qpv = paris_qpv()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bins = timed("bins", timings, make_bins, events)
    counted = timed("count", timings, count_in_bins, bins, events)
    hot = timed("gi_star", timings, getis_ord, counted)
    cube = timed("cube", timings, space_time_cube, events, time_field="observed_at", bins=bins)
    ehsa = timed("emerging", timings, emerging_hotspots, cube)
    rec = timed("recurrence", timings, recurrence, events, perimeters=qpv,
                options=RecurrenceOptions(cleaned_field=None))
    total = time.perf_counter() - t0
    streets = paris_streets()
    net = timed("network_gi_star (not in total)", timings, network_hotspots, events, streets, order=2)
    comparison = esda_comparison(counted)
    return {
        "events": n_events,
        "data": "SIMULATED: real Dans Ma Rue locations resampled, uniform dates over 24 months "
        "(seed 20240901)",
        "bin_size_m": bins.attrs["bin_size"],
        "bins": len(bins),
        "cube_bins": int(cube.counts.shape[0]),
        "steps": int(cube.counts.shape[1]),
        "hot_bins": int((hot["gi_bin"] > 0).sum()),
        "network_segments": len(net),
        "network_hot_segments": int((net["gi_bin"] > 0).sum()),
        "patterns": {k: int(v) for k, v in ehsa.pattern_counts().items() if v},
        "sites": len(rec.sites),
        "timings_s": timings,
        "total_s": total,
        "goal_s": 30.0,
        "esda": comparison,
    }


def reports(out_dir: Path) -> dict[str, object]:
    """Write the QP075019 report, the 20e-wide report and the territory comparison."""
    real = dans_ma_rue()
    dumping = real[real["type"] == "Objets abandonnés"]
    cams = pd.read_csv(DATA / "paris" / "videoprotection-paris-2019.csv", sep=";")
    cams = gpd.GeoDataFrame(cams, geometry=gpd.points_from_xy(cams["lon"], cams["lat"]), crs="EPSG:4326")
    qpv = paris_qpv()
    streets = paris_streets()
    made: dict[str, object] = {}
    options = ReportOptions(time_field="datedecl")
    qp = build_quartier_report(dumping, qpv, code="QP075019", options=options, cameras=cams, streets=streets)
    write_report(qp, out_dir, "rapport-QP075019")
    made["QP075019"] = {k: v for k, v in qp.key_figures.items()}
    zone = twentieth_zone()
    in20 = dumping[dumping["code_postal"] == 75020]
    ar = build_quartier_report(
        in20, zone, code="75020", options=ReportOptions(time_field="datedecl", margin=0.0), cameras=cams,
        streets=streets,
    )
    net20 = network_hotspots(in20, streets[streets.intersects(zone.geometry.iloc[0])], order=2)
    made["75020 network Gi*"] = {
        "segments": len(net20),
        "events_snapped": int(net20["count"].sum()),
        "hot_segments": int((net20["gi_bin"] > 0).sum()),
    }
    write_report(ar, out_dir, "rapport-75020")
    made["75020"] = {k: v for k, v in ar.key_figures.items()}
    terr = build_territory_report(dumping, qpv, options=options,
                                  title="Comparaison des QPV (Paris et voisins)")
    write_report(terr, out_dir, "rapport-territoire", pdf=False)
    made["territoire"] = {k: v for k, v in terr.key_figures.items()}
    return made


def main() -> None:
    """Run the benchmark, print the table and write bench/results/analyses.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--no-reports", action="store_true")
    args = parser.parse_args()
    result = benchmark(args.events)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.no_reports:
        result["reports"] = reports(RESULTS / "reports")
    (RESULTS / "analyses.json").write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    t = result["timings_s"]
    assert isinstance(t, dict)
    print(f"{result['events']:,} events (SIMULATED: resampled Dans Ma Rue), {result['bins']} hexagons of "
          f"{result['bin_size_m']:.0f} m, cube {result['cube_bins']} bins × {result['steps']} months")
    print(f"{'step':<32}{'seconds':>10}")
    for key, value in t.items():
        print(f"{key:<32}{value:>10.2f}")
    print(f"{'TOTAL (goal < 30 s)':<32}{result['total_s']:>10.2f}")
    e = result["esda"]
    assert isinstance(e, dict)
    print(f"Gi* ours (weights + z + FDR) {e['ours_s']:.3f} s vs esda.G_Local {e['esda_g_local_s']:.3f} s "
          f"(+ libpysal Queen weights {e['esda_weights_s']:.2f} s): ratio {e['ratio_ours_to_esda_call']:.2f} "
          f"(call only), {e['ratio_ours_to_esda_weights_plus_call']:.3f} (with weights); "
          f"max |Δz| = {e['max_abs_z_difference']:.2e}")
    print("patterns:", result["patterns"])


if __name__ == "__main__":
    main()
