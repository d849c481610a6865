"""Benchmark of the diagnostic-walk route solver against OR-Tools.

For each instance (Mosson QP034005 on Montpellier's street centrelines, Les Portes du
Vingtième QP075019 on the Paris street graph), 200 candidate stops are drawn from real
points inside the quartier plus a margin (address points, lighting supports, glass
containers, citizen reports); their priorities are SIMULATED (seeded random integers 1-10).
The built-in heuristic (``solver="heuristic"``) and OR-Tools (guided local search,
60 s by default) solve the same 90-minute loop at 3 km/h with 5 min per stop.

Usage::

    python bench/bench_routing.py [--ortools-seconds 60] [--heuristic-seconds 3] [--seeds 0 1 2]
        [--budget 90] [--dwell 5] [--out bench/results/routing.json]

Writes ``bench/results/routing.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.crs import to_territory_crs  # noqa: E402
from geo.geometry import repair_polygons  # noqa: E402
from geo.walks.model import WalkOptions  # noqa: E402
from geo.walks.network import load_street_graph  # noqa: E402
from geo.walks.routing import walk_route  # noqa: E402

N_STOPS = 200
CACHE = Path(tempfile.gettempdir()) / "qpv-bench-cache"  # street graphs, keyed by input hash
MARGIN_M = 150.0


def data_dir() -> Path:
    """Return the shared real-data folder."""
    env = os.environ.get("QPV_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def _inside(points: gpd.GeoDataFrame, zone: Any, source: str) -> gpd.GeoDataFrame:
    pts = to_territory_crs(points)
    pts = pts[pts.geometry.notna() & pts.within(zone)]
    return gpd.GeoDataFrame({"source": [source] * len(pts)}, geometry=pts.geometry.to_numpy(),
                            crs="EPSG:2154")


def mosson_instance(data: Path, rng: np.random.Generator) -> tuple[Any, gpd.GeoDataFrame, Any, str]:
    """Mosson graph, 200 candidates, start point."""
    mtp = data / "montpellier"
    qpv = gpd.read_file(mtp / "qp-occitanie-2015.geojson")
    qpv, _ = repair_polygons(qpv[qpv["code_qp"] == "QP034005"])
    qpv = to_territory_crs(qpv)
    G = load_street_graph(mtp / "VilleMTP_MTP_FilaireVoies.zip", area=qpv, margin_m=200,
                          cache_dir=CACHE)
    zone = qpv.geometry.iloc[0].buffer(MARGIN_M)
    bbox = tuple(zone.bounds)
    parts = [
        _inside(gpd.read_file(mtp / "VilleMTP_MTP_PointAdresse.zip", bbox=bbox), zone, "adresse"),
        _inside(gpd.read_file(mtp / "VilleMTP_MTP_EclairagePublic.zip", bbox=bbox), zone, "éclairage"),
    ]
    cont = pd.read_csv(mtp / "conteneurs-languedoc-roussillon-osm-2014.csv")
    parts.append(_inside(gpd.GeoDataFrame(geometry=gpd.points_from_xy(cont["longitude"], cont["latitude"]),
                                          crs="EPSG:4326"), zone, "conteneur"))
    pool = pd.concat(parts, ignore_index=True)
    stops = _sample(pool, rng)
    start = qpv.geometry.iloc[0].representative_point()
    return G, stops, start, f"Mosson QP034005 ({len(pool)} points réels dans le QPV + {MARGIN_M:.0f} m)"


def paris_instance(data: Path, rng: np.random.Generator) -> tuple[Any, gpd.GeoDataFrame, Any, str]:
    """Paris QP075019 graph, 200 candidates, start point."""
    par = data / "paris"
    qpv = gpd.read_file(par / "qpv-paris-idf-2015.geojson")
    qpv, _ = repair_polygons(qpv[qpv["code"] == "QP075019"])
    qpv = to_territory_crs(qpv)
    G = load_street_graph(par / "reseau-paris-hashcode-2014.txt", area=qpv, margin_m=200,
                          cache_dir=CACHE)
    zone = qpv.geometry.iloc[0].buffer(MARGIN_M)
    ban = pd.read_csv(par / "adresses-75.csv.gz", sep=";", usecols=["lon", "lat"])
    dmr = pd.read_csv(par / "dansmarue-2023-2024-echantillon.csv", usecols=["geo_point_2d"])
    lonlat = [ast.literal_eval(v) for v in dmr["geo_point_2d"].dropna()]
    parts = [
        _inside(gpd.GeoDataFrame(geometry=gpd.points_from_xy(ban["lon"], ban["lat"]), crs="EPSG:4326"),
                zone, "adresse"),
        _inside(gpd.GeoDataFrame(geometry=gpd.points_from_xy([d["lon"] for d in lonlat],
                                                             [d["lat"] for d in lonlat]), crs="EPSG:4326"),
                zone, "dansmarue"),
    ]
    pool = pd.concat(parts, ignore_index=True)
    stops = _sample(pool, rng)
    start = qpv.geometry.iloc[0].representative_point()
    return G, stops, start, f"Paris QP075019 ({len(pool)} points réels dans le QPV + {MARGIN_M:.0f} m)"


def _sample(pool: gpd.GeoDataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    take = rng.choice(len(pool), size=min(N_STOPS, len(pool)), replace=False)
    stops = gpd.GeoDataFrame(pool.iloc[np.sort(take)].reset_index(drop=True), crs="EPSG:2154")
    stops["priority"] = rng.integers(1, 11, size=len(stops)).astype(float)
    stops["simulated"] = True  # priorities are simulated
    return stops


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run every instance and seed; return the result rows."""
    data = data_dir()
    rows = []
    for name, build in (("mosson", mosson_instance), ("paris", paris_instance)):
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            G, stops, start, label = build(data, rng)
            common = {"budget_min": args.budget, "speed_kmh": 3.0, "dwell_min": args.dwell}
            t0 = time.perf_counter()
            heur = walk_route(G, stops, start=start, options=WalkOptions(
                solver="heuristic", time_limit_s=args.heuristic_seconds, seed=seed, **common))
            t_heur = time.perf_counter() - t0
            t0 = time.perf_counter()
            ref = walk_route(G, stops, start=start, options=WalkOptions(
                solver="ortools", time_limit_s=args.ortools_seconds, **common))
            t_ref = time.perf_counter() - t0
            rows.append({
                "instance": name, "description": label, "seed": seed,
                "graph_nodes": G.number_of_nodes(), "graph_edges": G.number_of_edges(),
                "candidates": len(stops), "priorities": "simulated (seeded RNG, integers 1-10)",
                "budget_min": args.budget, "dwell_min": args.dwell, "speed_kmh": 3.0,
                "heuristic": {"seconds": round(t_heur, 3), "prize": heur.prize, "stops": len(heur.stops),
                              "duration_min": round(heur.duration_min, 1), "length_m": round(heur.length_m)},
                "ortools": {"seconds": round(t_ref, 3), "time_limit_s": args.ortools_seconds,
                            "prize": ref.prize, "stops": len(ref.stops),
                            "duration_min": round(ref.duration_min, 1), "length_m": round(ref.length_m)},
                "prize_ratio": round(heur.prize / ref.prize, 4) if ref.prize else None,
                "goals": {"heuristic_under_5s": t_heur < 5.0,
                          "ratio_at_least_0_97": bool(ref.prize == 0 or heur.prize / ref.prize >= 0.97)},
            })
            print_row(rows[-1])
    return rows


def print_row(r: dict[str, Any]) -> None:
    """Print one result line."""
    h, o = r["heuristic"], r["ortools"]
    print(f"{r['instance']:<8}{r['seed']:>5}{r['candidates']:>6}  {h['seconds']:>7.2f}s {h['prize']:>7.0f} "
          f"{h['stops']:>4} {h['duration_min']:>6.1f}  | {o['seconds']:>6.1f}s {o['prize']:>7.0f} "
          f"{o['stops']:>4} {o['duration_min']:>6.1f}  | {r['prize_ratio']}", flush=True)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ortools-seconds", type=float, default=60.0)
    parser.add_argument("--heuristic-seconds", type=float, default=3.0)
    parser.add_argument("--budget", type=float, default=90.0)
    parser.add_argument("--dwell", type=float, default=5.0, help="minutes per stop")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "routing.json")
    args = parser.parse_args()
    print("instance  seed cands   heuristic: time   prize stops   min  |  OR-Tools: time  prize stops"
          "    min  | ratio")
    rows = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"generated_at": pd.Timestamp.now(tz="UTC").isoformat(), "python": platform.python_version(),
               "machine": platform.machine(), "cpus": os.cpu_count(), "results": rows}
    args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
