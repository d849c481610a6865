"""Benchmark of the recurrence analysis: 1,000,000 events against the former implementation.

The events are SIMULATED from real positions: the Dans Ma Rue sample (Paris, 2023-2024,
ODbL) drawn with replacement and jittered by a normal of ``--jitter`` metres (seeded RNG),
with dates drawn uniformly over 24 months. Repeated real positions make dense clusters,
the case where the former greedy cover listed every event's neighbours at once.

Measured in the same run:

- ``single_linkage`` (the site grouping) and the whole :func:`recurrence` (sites,
  re-occurrence, per-site table) on ``--events`` events (1,000,000 by default);
- the former grouping (greedy cover on ``cKDTree.query_ball_point`` neighbour lists,
  copied below as the reference) on ``--reference-events`` events (100,000 by default),
  and the new grouping on the same events;
- the peak of Python allocations (tracemalloc) of each, in a second pass (tracemalloc
  slows the code down; the times come from the first pass);
- :func:`locate_sites` of the 1,000,000-event sites against the 158,048 real Paris BAN
  addresses (the sites without a point noir named by their nearest address).

``--only-recurrence`` runs :func:`recurrence` once on the 1,000,000 events and nothing else,
and writes its time and the process peak RSS (``getrusage``, the figure ``/usr/bin/time -v``
prints as « Maximum resident set size ») to bench/results/recurrence-only.json.

Run: ``PYTHONPATH=$PWD /work/main/.venv/bin/python bench/bench_recurrence.py``
(``/usr/bin/time -v`` in front gives the process peak RSS). Writes
bench/results/recurrence.json and prints a table.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.stats.recurrence import RecurrenceOptions, cap_extent, locate_sites, recurrence, single_linkage

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def greedy_cover_reference(xy: np.ndarray, radius: float) -> np.ndarray:
    """Former grouping (geo/stats/recurrence.py before issue 16), copied unchanged."""
    neighbours = cKDTree(xy).query_ball_point(xy, r=radius)
    sizes = np.fromiter((len(nb) for nb in neighbours), dtype=np.int64, count=len(xy))
    label = np.full(len(xy), -1, dtype=np.int64)
    site = 0
    for i in np.argsort(-sizes, kind="stable"):
        if label[i] >= 0:
            continue
        nb = np.asarray(neighbours[i], dtype=np.int64)
        label[nb[label[nb] < 0]] = site
        site += 1
    return label


def paris_positions() -> np.ndarray:
    """Real Dans Ma Rue positions in EPSG:2154."""
    path = DATA / "paris" / "dansmarue-2023-2024-echantillon.csv"
    if not path.exists():
        path = Path("/work/shared/data/paris/dansmarue-2023-2024-echantillon.csv")
    df = pd.read_csv(path, usecols=["geo_point_2d"])
    ll = df["geo_point_2d"].dropna().map(ast.literal_eval)
    pts = gpd.GeoSeries(gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])),
                        crs=4326).to_crs(2154)
    return np.column_stack([pts.x, pts.y])


def paris_addresses() -> gpd.GeoDataFrame:
    """Real Base Adresse Nationale points of Paris (EPSG:2154), as the ``adresses`` layer names them."""
    path = DATA / "paris" / "adresses-75.csv.gz"
    if not path.exists():
        path = Path("/work/shared/data/paris/adresses-75.csv.gz")
    ban = pd.read_csv(path, sep=";", usecols=["numero", "rep", "nom_voie", "x", "y"])
    return gpd.GeoDataFrame(ban.rename(columns={"numero": "number", "rep": "suffix", "nom_voie": "street"}),
                            geometry=gpd.points_from_xy(ban["x"], ban["y"]), crs=2154)


def _only_recurrence(base: np.ndarray, args: argparse.Namespace) -> None:
    """Time recurrence() once and record the process peak RSS (bench/results/recurrence-only.json)."""
    _, only = events(base, args.events, args.jitter, seed=2)
    t, cpu = time.perf_counter(), time.process_time()
    res = recurrence(only, options=RecurrenceOptions(radius=args.radius, cleaned_field=None))
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {"events": len(only), "sites": len(res.sites), "recurrence_seconds": round(seconds, 3),
           "recurrence_cpu_seconds": round(cpu, 3),
           "process_peak_rss_mb": round(peak_mb, 1), "load_average_1m": round(os.getloadavg()[0], 2),
           "cores": os.cpu_count(),
           "note": "peak RSS of the whole process: reading the real positions and simulating the "
                   "events included"}
    target = Path(__file__).resolve().parent / "results" / "recurrence-only.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recurrence(), {len(only):,} events: {seconds:.2f} s ({cpu:.2f} s CPU); "
          f"process peak RSS {peak_mb:.0f} MB")


def events(base: np.ndarray, n: int, jitter: float, seed: int) -> tuple[np.ndarray, gpd.GeoDataFrame]:
    """``n`` simulated events: real positions drawn with replacement, jittered, dated over 24 months."""
    rng = np.random.default_rng(seed)
    xy = base[rng.integers(0, len(base), n)] + rng.normal(0.0, jitter, (n, 2))
    when = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 730 * 86400, n), unit="s")
    gdf = gpd.GeoDataFrame({"observed_at": when, "simulated": True},
                           geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=2154)
    return xy, gdf


def measure(fn: Callable[[], Any]) -> dict[str, float]:
    """Wall and CPU time of one call, then the tracemalloc peak of a second call.

    The CPU time (all threads of the process) stays meaningful when other processes share
    the cores; the wall time does not.
    """
    t, cpu = time.perf_counter(), time.process_time()
    fn()
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "peak_mb": round(peak / 2**20, 1)}


def main() -> None:
    """Run the benchmark and write bench/results/recurrence.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reference-events", type=int, default=100_000)
    parser.add_argument("--radius", type=float, default=25.0)
    parser.add_argument("--jitter", type=float, default=20.0)
    parser.add_argument("--only-recurrence", action="store_true",
                        help="time recurrence() once, nothing else (for /usr/bin/time -v)")
    args = parser.parse_args()
    base = paris_positions()
    r = args.radius
    if args.only_recurrence:
        _only_recurrence(base, args)
        return
    small_xy, _ = events(base, args.reference_events, args.jitter, seed=1)
    big_xy, big = events(base, args.events, args.jitter, seed=2)
    rows: dict[str, dict[str, float]] = {}
    rows[f"former greedy cover, {len(small_xy):,} events"] = measure(
        lambda: greedy_cover_reference(small_xy, r))
    rows[f"single_linkage, {len(small_xy):,} events"] = measure(lambda: single_linkage(small_xy, r))
    rows[f"single_linkage, {len(big_xy):,} events"] = measure(lambda: single_linkage(big_xy, r))
    opts = RecurrenceOptions(radius=r, cleaned_field=None)
    rows[f"recurrence(), {len(big):,} events"] = measure(lambda: recurrence(big, options=opts))
    located = recurrence(big, options=opts).sites
    addresses = paris_addresses()
    rows[f"locate_sites, {len(located):,} sites, {len(addresses):,} addresses"] = measure(
        lambda: locate_sites(located, addresses))
    chains = single_linkage(big_xy, r)
    sites = cap_extent(big_xy, chains, radius=r, max_extent=opts.max_extent)
    out = {
        "positions": f"{len(base):,} real Dans Ma Rue positions, jitter N(0, {args.jitter} m)",
        "radius_m": r,
        "single_linkage_groups_1m": int(chains.max() + 1),
        "largest_single_linkage_group_1m": int(np.bincount(chains).max()),
        "max_extent_m": opts.max_extent,
        "sites_1m": int(sites.max() + 1),
        "largest_site_1m": int(np.bincount(sites).max()),
        "results": rows,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
    }
    target = Path(__file__).resolve().parent / "results" / "recurrence.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(out["positions"], f"radius {r} m;",
          f"single linkage {out['single_linkage_groups_1m']:,} groups (largest "
          f"{out['largest_single_linkage_group_1m']:,}); capped at {opts.max_extent:.0f} m: "
          f"{out['sites_1m']:,} sites, largest {out['largest_site_1m']:,}")
    for name, row in rows.items():
        print(f"{name:<50} {row['seconds']:>7.2f} s {row['cpu_seconds']:>7.2f} s CPU "
              f"{row['peak_mb']:>8.1f} MB")


if __name__ == "__main__":
    main()
