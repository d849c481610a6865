"""Benchmark of the whole hot spot pipeline: 1,000,000 events × 24 months, against the former code.

The events are SIMULATED from real positions: the Dans Ma Rue sample (Paris, 2023-2024,
ODbL) drawn with replacement and jittered by a normal of ``--jitter`` metres (seeded RNG),
dated uniformly over 24 months (as bench/bench_recurrence.py does). The study area is the
coverage of Dans Ma Rue declared by the demo (data/demo/paris/couverture-dansmarue-paris.wkt).

The pipeline timed, end to end, on ``--events`` events (1,000,000 by default):

1. automatic bin size (:func:`geo.stats.binning.choose_bin_size`: mean distance to the k-th
   nearest event, floor of 30 non-empty cells) and the hexagonal grid on the study area;
2. counts per cell; Gi* (analytical) with Benjamini–Hochberg FDR;
3. the space-time cube (24 months) and the emerging hot spot analysis (space-time Gi*,
   FDR per month, Mann–Kendall, pattern classes).

Reference measured in the same run: the same pipeline with the former code, copied below —
bin size rule, point-to-cell assignment (nearest centre + exact polygon test), cube counts
(``np.add.at``), space-time Gi* on the Kronecker space-time matrix, Mann–Kendall S over every
pair of steps at once, one classification call per bin — on ``--reference-events`` events
(100,000 by default) — and, to check the statistics, esda's
``G_Local(star=True, transform="B")`` on the 1,000,000-event grid (z-scores compared).

Run: ``PYTHONPATH=$PWD /work/main/.venv/bin/python bench/bench_hotspots.py``. Writes
bench/results/hotspots.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_recurrence import events, paris_positions
from geo.stats import binning
from geo.stats.binning import count_in_bins, make_bins
from geo.stats.emerging import (
    classify_series,
    emerging_hotspots,
    mann_kendall,
    space_time_cube,
    space_time_weights,
)
from geo.stats.hotspots import distance_weights, fdr_adjust, getis_ord, gi_star

COVERAGE = Path(__file__).resolve().parents[1] / "data" / "demo" / "paris" / "couverture-dansmarue-paris.wkt"


def former_auto_bin_size(xy: np.ndarray, surface: float) -> float:
    """Former size rule (geo/stats/binning.py before issue 16), copied unchanged but for its input."""
    distinct = np.unique(np.round(xy, 1), axis=0)
    nn_dist, _ = cKDTree(distinct).query(distinct, k=2)
    mean_nn = float(nn_dist[:, 1].mean())
    density_size = math.sqrt(3.0 * max(surface, 1.0) / (len(xy) * math.sqrt(3.0) / 2.0))
    size = max(density_size, 2.0 * mean_nn)
    return float(np.clip(round(size / 5.0) * 5.0, 25.0, 1000.0))


def former_assign_bins(bins: gpd.GeoDataFrame, xy: np.ndarray) -> np.ndarray:
    """Former point-to-cell assignment: nearest kept centre, checked against the cell polygon."""
    centres = np.column_stack([bins["x"].to_numpy(float), bins["y"].to_numpy(float)])
    _, nearest = cKDTree(centres).query(xy, k=1)
    cand = nearest.astype(np.int64)
    inside = shapely.intersects_xy(bins.geometry.to_numpy()[cand], xy[:, 0], xy[:, 1])
    cand[~inside] = -1
    return cand


def pipeline(points: gpd.GeoDataFrame, area: shapely.Geometry) -> dict[str, Any]:
    """Bin size, grid, counts, Gi* + FDR, space-time cube, emerging hot spots; what they found."""
    bins = make_bins(points, area=area)
    hot = getis_ord(count_in_bins(bins, points))
    cube = space_time_cube(points, time_field="observed_at", bins=bins)
    ehsa = emerging_hotspots(cube)
    return {"bin_size_m": bins.attrs["bin_size"], "cells": len(bins),
            "nonempty": int((hot["count"] > 0).sum()),
            "hot": int((hot["gi_bin"] > 0).sum()), "months": int(cube.counts.shape[1]),
            "emerging_hot": int(ehsa.bins["pattern"].str.endswith("hot spot").sum()), "_hot": hot}


def former_mann_kendall_s(x: np.ndarray) -> np.ndarray:
    """Former S statistic of the Mann–Kendall test: every pair of steps at once."""
    i, j = np.triu_indices(x.shape[1], k=1)
    return cast(np.ndarray, np.sign(x[:, j] - x[:, i]).sum(axis=1))


def former_emerging(counts: np.ndarray, bins: gpd.GeoDataFrame) -> int:
    """Former emerging core: Gi* on the Kronecker matrix, S by all pairs, one call per bin.

    (The current :func:`mann_kendall` then finishes the test: its S by lags is counted twice.)
    """
    n, t = counts.shape
    wst = space_time_weights(distance_weights(bins), t, k_time=1)
    zf, pf = gi_star(counts.T.reshape(-1).astype(float), wst)
    z, p = zf.reshape(t, n).T, pf.reshape(t, n).T
    q = fdr_adjust(p)
    hot, cold = (q <= 0.05) & (z > 0), (q <= 0.05) & (z < 0)
    former_mann_kendall_s(z)
    mk = mann_kendall(z)
    patterns = [classify_series(hot[i], cold[i], trend_z=float(mk.z[i]), trend_p=float(mk.p[i]))
                for i in range(n)]
    return sum(pat.endswith("hot spot") for pat in patterns)


def former_pipeline(points: gpd.GeoDataFrame, area: shapely.Geometry) -> dict[str, Any]:
    """The same pipeline with the former code: size rule, assignment, cube counts, emerging core."""
    xy = binning.point_coordinates(points)
    size = former_auto_bin_size(xy, area.area)
    bins = make_bins(area=area, size=size)
    pos = former_assign_bins(bins, xy)
    counted = bins.copy()
    counted["count"] = np.bincount(pos[pos >= 0], minlength=len(bins))
    hot = getis_ord(counted)
    step = (points["observed_at"].dt.to_period("M").astype("int64")
            - pd.Period("2023-01", freq="M").ordinal).to_numpy()
    counts = np.zeros((len(bins), 24), dtype=np.int64)
    ok = pos >= 0
    np.add.at(counts, (pos[ok], step[ok]), 1)
    present = counts.sum(axis=1) > 0
    kept = bins.iloc[np.flatnonzero(present)]
    kept.attrs.update(bins.attrs)
    return {"bin_size_m": size, "cells": len(bins), "hot": int((hot["gi_bin"] > 0).sum()),
            "emerging_hot": former_emerging(counts[present], kept)}


def timed(fn: Callable[[], dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    """Wall time of one call and its result."""
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def esda_check(hot: gpd.GeoDataFrame) -> dict[str, float]:
    """esda G_Local on the same grid and weights: time and largest z difference."""
    import esda

    from geo.stats.hotspots import distance_weights
    from geo.stats.inference import libpysal_weights

    t = time.perf_counter()
    w = libpysal_weights(hot, distance_weights(hot))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = esda.G_Local(hot["count"].to_numpy(float), w, transform="B", star=True, permutations=0).Zs
    seconds = time.perf_counter() - t
    return {"seconds": round(seconds, 3), "max_abs_z_difference": float(np.abs(z - hot["gi_z"]).max())}


def main() -> None:
    """Run the benchmark and write bench/results/hotspots.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reference-events", type=int, default=100_000)
    parser.add_argument("--jitter", type=float, default=20.0)
    parser.add_argument("--no-esda", action="store_true", help="skip the esda check on the big grid")
    args = parser.parse_args()
    area = shapely.from_wkt(COVERAGE.read_text(encoding="utf-8"))
    base = paris_positions()
    _, small = events(base, args.reference_events, args.jitter, seed=1)
    _, big = events(base, args.events, args.jitter, seed=2)
    _, warm = events(base, 5_000, args.jitter, seed=3)
    former_pipeline(warm, area)  # imports and caches, outside the timings
    pipeline(warm, area)
    ref_s, ref = timed(lambda: former_pipeline(small, area))
    new_small_s, new_small = timed(lambda: pipeline(small, area))
    big_s, new_big = timed(lambda: pipeline(big, area))
    check = None if args.no_esda else esda_check(new_big["_hot"])
    strip = {k: v for k, v in new_big.items() if not k.startswith("_")}
    out = {
        "events": f"{len(big):,} simulated events: {len(base):,} real Dans Ma Rue positions drawn with "
                  f"replacement, jitter N(0, {args.jitter} m), 24 months",
        "study_area_km2": round(area.area / 1e6, 1),
        "results": {
            f"former pipeline, {len(small):,} events": {"seconds": round(ref_s, 3), **ref},
            f"pipeline, {len(small):,} events": {
                "seconds": round(new_small_s, 3),
                **{k: v for k, v in new_small.items() if not k.startswith("_")}},
            f"pipeline, {len(big):,} events": {"seconds": round(big_s, 3), **strip},
        },
        "ratio_1m_to_former_100k": round(big_s / ref_s, 2),
        "ratio_1m_pipeline_to_esda_G_Local_alone": (None if check is None
                                                    else round(big_s / check["seconds"], 2)),
        "esda_G_Local_on_the_1m_grid": check,
    }
    target = Path(__file__).resolve().parent / "results" / "hotspots.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(out["events"])
    for name, row in out["results"].items():
        print(f"{name:<35} {row['seconds']:>7.2f} s  bin {row['bin_size_m']:.0f} m, {row['cells']:,} cells, "
              f"{row['hot']:,} hot, {row['emerging_hot']:,} emerging hot")
    print(f"ratio (1,000,000 events / former on 100,000): {out['ratio_1m_to_former_100k']}")
    if check:
        print(f"esda G_Local on the same grid: {check['seconds']:.2f} s, "
              f"max |Δz| {check['max_abs_z_difference']:.1e}")


if __name__ == "__main__":
    main()
