"""National batch benchmark: address → QPV lookup and hotspot binning on ≥ 10 million points.

The points are SIMULATED: the 158,048 real Paris BAN addresses (Licence Ouverte)
replicated ``--copies`` times (64 by default: 10,115,072 points), each copy moved by a
seeded uniform jitter of ±15 m (:func:`geo.batch.replicate_with_jitter`); every row
carries ``simulated=True``, its ``replica`` number and a ``source_dataset`` saying so.
Perimeters: the 15 demo QPV (data/demo: QP075019 and its two Île-de-France neighbours,
the 12 QPV of Montpellier), with the street rules of QP075019 derived from the Paris BAN
(:func:`geo.perimeters.rules.reverse_perimeter`).

Partitioned (dask-geopandas on a ``distributed.LocalCluster``: ``--workers`` processes ×
1 thread, no dashboard): the BAN is read by a worker, each partition (one copy) is built
on the worker computing it and kept there (``persist``, timed apart); then

(a) lookup: :func:`geo.batch.lookup_partitioned` (index built once, broadcast), reduced
    to the number of points per (QPV, status, disagreement);
(b) binning: :func:`geo.batch.bin_partitioned` on the 200 m hexagons of
    :func:`geo.stats.binning.make_bins` (a pass for the bounds, per-partition counts, tree
    reduction) and Getis-Ord Gi* on the reduced grid.

Reference, in the client process, on the same points: 10 million points with their
street names do not fit comfortably in one process beside the cluster on this shared
machine, so the single-process path runs over the same copies in sequential chunks (one
copy = 158,048 points at a time, built untimed): :func:`geo.perimeters.lookup.lookup_many` with the
same index; bounds, :func:`geo.stats.binning.count_in_bins` summed over chunks, then the same Gi*.

Both sides must give identical counts (per QPV and status, per bin) and Gi* z-scores.
Ratio = points/s partitioned ÷ points/s single process (> 1: the cluster is faster).

Run: ``/tmp/venv/bin/python bench/bench_national.py [--copies 64] [--workers 2]
[--partitions 64]``. Writes bench/results/national.json and prints a summary.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.batch import (  # noqa: E402
    BatchGrid,
    bin_partitioned,
    lookup_partitioned,
    replicate_partitioned,
    replicate_with_jitter,
)
from geo.perimeters.addressmatch import read_addresses  # noqa: E402
from geo.perimeters.lookup import LookupIndex, build_index, lookup_many  # noqa: E402
from geo.perimeters.rules import reverse_perimeter  # noqa: E402
from geo.stats.binning import count_in_bins, make_bins, point_coordinates  # noqa: E402
from geo.stats.hotspots import getis_ord  # noqa: E402

SHARED = Path(os.environ.get("QPV_SHARED_DATA", ROOT.parent / "shared" / "data"))
BAN = SHARED / "paris" / "adresses-75.csv.gz"
DEMO = ROOT / "data" / "demo"
COLUMNS = ["id", "numero", "rep", "nom_voie", "code_postal", "nom_commune", "x", "y"]
SUMMARY_KEYS = ["qpv_code", "qpv_status", "qpv_disagree"]
JITTER_M = 15.0
SEED = 20261122
CELL_M = 200.0


def ban_points(path: Path = BAN) -> gpd.GeoDataFrame:
    """The real Paris BAN as Lambert-93 points (read by a worker in the partitioned run)."""
    raw = pd.read_csv(path, sep=";", usecols=COLUMNS, dtype={"numero": "Int64"}, low_memory=False)
    return gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(raw["x"], raw["y"]), crs="EPSG:2154")


def demo_perimeters() -> gpd.GeoDataFrame:
    """The 15 demo QPV (Paris + Montpellier), WGS84 as shipped."""
    paris = gpd.read_file(DEMO / "paris" / "qpv-paris-idf-2015.geojson")[["code", "name", "geometry"]]
    mtp = gpd.read_file(DEMO / "montpellier" / "qp-montpellier-2015.geojson").rename(
        columns={"code_qp": "code", "nom_qp": "name"})[["code", "name", "geometry"]]
    both = pd.concat([paris, mtp.to_crs(paris.crs)], ignore_index=True)
    return gpd.GeoDataFrame(both, geometry="geometry", crs=paris.crs)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Points per (QPV, status, disagreement) of looked-up rows (categorical keys, observed only)."""
    return frame.groupby(SUMMARY_KEYS, observed=True, sort=False).size().rename("points").reset_index()


def reduce_summaries(parts: list[pd.DataFrame]) -> pd.Series:
    """Sum per-chunk summaries into one sorted series."""
    table = pd.concat(parts, ignore_index=True).astype({"qpv_code": str, "qpv_status": str})
    return table.groupby(SUMMARY_KEYS)["points"].sum().sort_index()


def _lookup_summary(chunk: gpd.GeoDataFrame, index: LookupIndex) -> pd.DataFrame:
    return summary(lookup_many(chunk, index))


def _spin(n: int = 3_000_000) -> float:
    """A pure-Python CPU loop; its wall time."""
    t0 = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - t0


def parallel_capacity() -> dict[str, float]:
    """How much two processes gain over one on this (shared) machine right now.

    The same CPU loop is timed alone, then in two processes at once: ``available_speedup``
    = 2 × alone ÷ concurrent (2.0 on two idle cores, 1.0 when other work takes them).
    """
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [10_000, 10_000]))  # start both processes
        alone = min(pool.submit(_spin).result() for _ in range(2))
        both = max(pool.map(_spin, [3_000_000, 3_000_000]))
    return {"one_process_s": round(alone, 3), "two_processes_s": round(both, 3),
            "available_speedup": round(2 * alone / both, 2)}


def _collect_then_disable() -> None:
    gc.enable()
    gc.collect()
    gc.disable()


def _timed(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    gc.collect()
    t0 = time.perf_counter()
    value = func(*args, **kwargs)
    return value, time.perf_counter() - t0


def reference(base: gpd.GeoDataFrame, index: LookupIndex, copies: int, repeat: int) -> dict[str, Any]:
    """Single-process path over the same copies, one copy at a time (chunks built untimed).

    Each chunk step is run ``repeat`` times; the best and the median of each chunk are summed.
    """
    t_lookup = np.zeros((copies, repeat))
    t_bounds = np.zeros(copies)
    t_count = np.zeros((copies, repeat))
    parts: list[pd.DataFrame] = []
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
    for k in range(copies):
        chunk = replicate_with_jitter(base, copies=1, jitter_m=JITTER_M, seed=SEED, first=k)
        for r in range(repeat):
            part, t_lookup[k, r] = _timed(_lookup_summary, chunk, index)
        parts.append(part)
        t0 = time.perf_counter()
        xy = point_coordinates(chunk)
        xy = xy[np.isfinite(xy).all(axis=1)]
        lo, hi = np.minimum(lo, xy.min(axis=0)), np.maximum(hi, xy.max(axis=0))
        t_bounds[k] = time.perf_counter() - t0
        del chunk
    bins = make_bins(area=shapely.box(*lo, *hi), size=CELL_M, shape="hex")
    counts = np.zeros(len(bins), dtype=np.int64)
    for k in range(copies):
        chunk = replicate_with_jitter(base, copies=1, jitter_m=JITTER_M, seed=SEED, first=k)
        for r in range(repeat):
            counted, t_count[k, r] = _timed(count_in_bins, bins, chunk)
        counts += counted["count"].to_numpy()
        del chunk, counted
    t0 = time.perf_counter()
    bins["count"] = counts
    hot = getis_ord(bins)
    t_gi = time.perf_counter() - t0
    fixed = float(t_bounds.sum()) + t_gi
    return {"summary": reduce_summaries(parts), "hot": hot,
            "lookup_best_s": float(t_lookup.min(axis=1).sum()),
            "lookup_median_s": float(np.median(t_lookup, axis=1).sum()),
            "binning_best_s": float(t_count.min(axis=1).sum()) + fixed,
            "binning_median_s": float(np.median(t_count, axis=1).sum()) + fixed,
            "binning_parts_s": {"bounds": float(t_bounds.sum()),
                                "count_in_bins_median": float(np.median(t_count, axis=1).sum()),
                                "gi_star": t_gi}}


def partitioned(base_meta: gpd.GeoDataFrame, rows: int, index: LookupIndex, copies: int,
                partitions: int, repeat: int) -> dict[str, Any]:
    """The dask path: points generated and persisted on the workers, then lookup and binning."""
    import dask
    from distributed import get_client, get_task_stream, wait

    client = get_client()
    per = max(1, -(-copies // partitions))
    t0 = time.perf_counter()
    # a worker reads the BAN, which is then copied to the other workers (never via the client)
    source = client.compute(dask.delayed(ban_points, pure=True)(BAN))
    client.replicate([source])
    points = replicate_partitioned(dask.delayed(source), copies=copies, jitter_m=JITTER_M, seed=SEED,
                                   copies_per_partition=per, meta=base_meta, rows=rows)
    points = points.persist()
    wait(points)
    client.rebalance()
    # the persisted geometries are millions of long-lived Python objects: keep them out of the
    # collector's traversals, and time with the collector off as the reference does (timeit's rule)
    client.run(gc.collect)
    client.run(gc.freeze)
    t_gen = time.perf_counter() - t0
    # warm-up (imports, index and grid sent to the workers), untimed: a few partitions only
    few = points.partitions[: min(points.npartitions, 4)]
    looked = lookup_partitioned(few, index)
    looked.map_partitions(summary, meta=summary(looked._meta)).compute()
    bin_partitioned(few, grid=BatchGrid(cell_m=CELL_M, shape="hex"))
    lookup_times, bin_times = [], []
    parts = hot = None
    streams: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeat):
        client.run(_collect_then_disable)
        t0 = time.perf_counter()
        with get_task_stream() as stream:
            looked = lookup_partitioned(points, index)
            parts = looked.map_partitions(summary, meta=summary(looked._meta)).compute()
        lookup_times.append(time.perf_counter() - t0)
        streams["lookup"] = stream.data
        client.run(_collect_then_disable)
        t0 = time.perf_counter()
        with get_task_stream() as stream:
            hot = bin_partitioned(points, grid=BatchGrid(cell_m=CELL_M, shape="hex"), hotspots=True)
        bin_times.append(time.perf_counter() - t0)
        streams["binning"] = stream.data
        client.run(gc.enable)
    assert parts is not None and hot is not None
    return {"summary": reduce_summaries([parts]), "hot": hot, "lookup": lookup_times, "binning": bin_times,
            "generate_persist_s": t_gen, "partitions": points.npartitions, "copies_per_partition": per,
            "task_stream": {step: _stream_totals(data) for step, data in streams.items()}}


def _stream_totals(data: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds the workers spent computing and transferring during one run (last repeat)."""
    totals = {"compute_s": 0.0, "transfer_s": 0.0, "tasks": 0.0}
    for task in data:
        totals["tasks"] += 1
        for span in task.get("startstops", ()):
            key = f"{span['action']}_s"
            if key in totals:
                totals[key] += span["stop"] - span["start"]
    return {k: round(v, 3) for k, v in totals.items()}


def main() -> None:
    """Run the benchmark, print a summary and write ``bench/results/national.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=64, help="copies of the Paris BAN (64: 10.1 M)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (1 thread each)")
    parser.add_argument("--partitions", type=int, default=64, help="partitions (≤ copies)")
    parser.add_argument("--memory-limit", default="6GiB", help="memory limit per worker")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each step")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "national.json",
                        help="JSON file of the results")
    parser.add_argument("--no-reference", action="store_true", help="skip the single-process reference")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import dask
    import dask_geopandas
    import distributed
    from distributed import Client, LocalCluster

    t_start = time.perf_counter()
    base = ban_points()
    rows = len(base)
    n = rows * args.copies
    perimeters = demo_perimeters()
    rules = reverse_perimeter(perimeters, read_addresses(BAN), code="QP075019")
    index = build_index(perimeters, rules=rules)
    cluster_config = {"n_workers": args.workers, "threads_per_worker": 1, "processes": True,
                      "dashboard_address": None, "memory_limit": args.memory_limit,
                      # no dashboard; the scheduler's HTTP endpoints on a free loopback port
                      "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                      "silence_logs": logging.WARNING}
    print(f"{n:,} points simulés (BAN Paris {rows:,} × {args.copies} copies, bruit ±{JITTER_M:.0f} m) "
          f"× {len(perimeters)} périmètres, {len(rules)} règles ; {args.workers} workers × 1 thread")
    load_before = os.getloadavg()[0]
    capacity_before = parallel_capacity()
    # persisted partitions stay where they were built: no stealing (a move costs more than the task)
    dask_config = {"distributed.scheduler.work-stealing": False}
    with dask.config.set(dask_config), LocalCluster(**cluster_config) as cluster, Client(cluster) as client:
        dask_run = partitioned(base.iloc[:0], rows, index, args.copies, args.partitions, args.repeat)
        memory = sum(w.get("metrics", {}).get("managed_bytes", 0)
                     for w in client.scheduler_info()["workers"].values())
    ref = None if args.no_reference else reference(base, index, args.copies, args.repeat)
    timings: dict[str, dict[str, float]] = {"dask": {}, "single_process": {}}
    for step in ("lookup", "binning"):
        timings["dask"][f"{step}_best_s"] = min(dask_run[step])
        timings["dask"][f"{step}_median_s"] = statistics.median(dask_run[step])
        if ref is not None:
            timings["single_process"][f"{step}_best_s"] = ref[f"{step}_best_s"]
            timings["single_process"][f"{step}_median_s"] = ref[f"{step}_median_s"]
    result: dict[str, Any] = {
        "points": n,
        "data": f"SIMULATED: the {rows:,} real Paris BAN addresses replicated {args.copies}× with a "
                f"uniform ±{JITTER_M:.0f} m jitter (seed {SEED}); rows labelled simulated=True, replica, "
                "source_dataset",
        "perimeters": len(perimeters),
        "rules": len(rules),
        "copies": args.copies,
        "partitions": dask_run["partitions"],
        "copies_per_partition": dask_run["copies_per_partition"],
        "workers": args.workers,
        "repeat": args.repeat,
        "cluster": {"kind": "distributed.LocalCluster", **{k: v for k, v in cluster_config.items()
                                                          if k != "silence_logs"},
                    "dask_config": dask_config},
        "bin_grid": {"shape": "hex", "size_m": CELL_M, "bins": len(dask_run["hot"])},
        "dask": {"generate_persist_s": round(dask_run["generate_persist_s"], 3),
                 "persisted_bytes_on_workers": int(memory),
                 **{k: round(v, 3) for k, v in timings["dask"].items()},
                 **{k.replace("_s", "_points_per_s"): round(n / v) for k, v in timings["dask"].items()}},
        "dask_task_stream_last_run": {
            "meaning": "worker seconds computing / transferring (summed over workers) in the last timed run; "
                       "points per compute second = the per-core rate a larger cluster would multiply",
            **dask_run["task_stream"],
            **{f"{step}_points_per_worker_compute_s": round(n / max(stream["compute_s"], 1e-9))
               for step, stream in dask_run["task_stream"].items()}},
        "inside_qpv": int(dask_run["summary"].xs("inside", level="qpv_status").sum()),
        "hot_bins": int((dask_run["hot"]["gi_bin"] > 0).sum()),
    }
    if ref is not None:
        sp = timings["single_process"]
        result["single_process"] = {
            "how": f"client process, sequential chunks of one copy ({rows:,} points) built untimed; "
                   "each chunk step run `repeat` times, best / median per chunk summed",
            **{k: round(v, 3) for k, v in sp.items()},
            **{k.replace("_s", "_points_per_s"): round(n / v) for k, v in sp.items()},
            "binning_parts_s": {k: round(v, 3) for k, v in ref["binning_parts_s"].items()},
        }
        result["ratio_dask_vs_single_process"] = {
            "meaning": "points/s partitioned ÷ points/s single process (> 1: the cluster is faster)",
            **{k.replace("_s", ""): round(sp[k] / timings["dask"][k], 3) for k in sp},
        }
        result["equal"] = {
            "points_per_qpv_and_status": bool(dask_run["summary"].equals(ref["summary"])),
            "points_per_bin": bool(np.array_equal(dask_run["hot"]["count"].to_numpy(),
                                                  ref["hot"]["count"].to_numpy())),
            "gi_z": bool(np.array_equal(dask_run["hot"]["gi_z"].to_numpy(), ref["hot"]["gi_z"].to_numpy(),
                                        equal_nan=True)),
        }
    result["load_average_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    result["parallel_capacity"] = {"before": capacity_before, "after": parallel_capacity()}
    result["total_run_s"] = round(time.perf_counter() - t_start, 1)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "dask": dask.__version__, "distributed": distributed.__version__,
                         "dask_geopandas": dask_geopandas.__version__, "geopandas": gpd.__version__,
                         "shapely": shapely.__version__, "pandas": pd.__version__}
    d = result["dask"]
    print(f"génération + persist sur les workers : {d['generate_persist_s']:.1f} s "
          f"({result['partitions']} partitions, {d['persisted_bytes_on_workers'] / 1e9:.1f} Go)")
    print(f"{'étape (meilleur de ' + str(args.repeat) + ')':<24}{'dask s':>9}{'points/s':>13}"
          f"{'1 processus s':>15}{'points/s':>13}{'ratio':>7}")
    for step in ("lookup", "binning"):
        for stat in ("best", "median"):
            key = f"{step}_{stat}"
            line = f"{step + ' ' + stat:<24}{d[key + '_s']:>9.2f}{d[key + '_points_per_s']:>13,}"
            if ref is not None:
                s = result["single_process"]
                line += (f"{s[key + '_s']:>15.2f}{s[key + '_points_per_s']:>13,}"
                         f"{result['ratio_dask_vs_single_process'][key]:>7.2f}")
            print(line)
    if ref is not None:
        print(f"résultats identiques : {result['equal']}")
    cap = result["parallel_capacity"]
    print(f"machine partagée : accélération disponible sur 2 processus {cap['before']['available_speedup']} "
          f"(avant) / {cap['after']['available_speedup']} (après)")
    print(f"dans un QPV : {result['inside_qpv']:,} ; mailles chaudes : {result['hot_bins']} / "
          f"{result['bin_grid']['bins']} ; charge {result['load_average_1min']} ; "
          f"durée totale {result['total_run_s']:.0f} s")
    path = args.output.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"→ {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
