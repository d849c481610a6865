"""Benchmark of the walk planner's preview: 200 candidate stops in Mosson (QP034005), target < 5 s.

On a copy of the demo store (built in a temporary folder unless ``--store`` is given), the
candidate stops of Mosson (196 from the demo's simulated constats, points noirs, NPNRU
sites and unobserved real streets) are topped up to 200 with open constats written through
the web's own path (:func:`layers.observations.create_observation_record`) at real address
points of the quartier, drawn with a fixed seed. Then, in the same run:

* ``walk_preview`` of a 90-minute walk (what ``POST /api/diagnostics/apercu`` computes),
  street graph cached as on a running server (first call warms it, not counted);
* ``plan_walk`` of the same request (the ``qpv parcours`` path, which also saves), and
  ``solve_walk`` alone (no saving) for the ratio.

Usage::

    python bench/bench_planner.py [--store demo.gpkg] [--repeat 5] [--out bench/results/planner.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.walks.model import WalkOptions  # noqa: E402
from layers.demo import build_demo  # noqa: E402
from layers.observations import create_observation_record  # noqa: E402
from layers.store import LayerStore, open_store  # noqa: E402
from layers.walk_preview import walk_candidates, walk_preview  # noqa: E402
from layers.walks import WalkRequest, plan_walk, quartier_perimeter, solve_walk  # noqa: E402

MOSSON = "QP034005"
START = "3.82,43.6321"
N_CANDIDATES = 200
TARGET_S = 5.0


def _top_up(store: LayerStore, n: int, *, seed: int = 0) -> int:
    """Add open constats at real address points of Mosson until it has ``n`` candidates; return how many.

    A new constat also marks its street as observed (one « rue non observée » stop fewer), so
    constats are added in rounds until the count is reached.
    """
    zone = quartier_perimeter(store, MOSSON).geometry.iloc[0]
    addr = store.read("adresses", bbox=zone.bounds)
    addr = addr[addr.geometry.within(zone).to_numpy()].to_crs("EPSG:4326")
    order = np.random.default_rng(seed).permutation(len(addr))
    added = 0
    for _ in range(20):
        missing = n - len(walk_candidates(store, MOSSON)["candidats"])
        if missing <= 0:
            break
        for i in order[added:added + missing]:
            p = addr.geometry.iloc[int(i)]
            create_observation_record(store, {"lon": p.x, "lat": p.y, "theme": "propreté",
                                              "description": "Constat ajouté par le banc d'essai"},
                                      default_source="diagnostic en marchant", actor="bench")
        added += missing
    return added


def _times(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run(store_path: Path, *, repeat: int, cache: Path) -> dict[str, Any]:
    """Time preview, solve and plan on the store at ``store_path``; return the figures."""
    store = open_store(store_path)
    try:
        added = _top_up(store, N_CANDIDATES)
        request = WalkRequest(quartier=MOSSON, start=START, walk_date="2026-03-10T14:00",
                              options=WalkOptions(budget_min=90, time_limit_s=4.0))
        first = walk_preview(store, request, cache_dir=cache)  # warms the street graph cache
        preview_s = _times(lambda: walk_preview(store, request, cache_dir=cache), repeat)
        solve_s = _times(lambda: solve_walk(store, request, cache_dir=cache), repeat)
        plan_s = _times(lambda: plan_walk(store, request, cache_dir=cache), repeat)
        (plan,) = plan_walk(store, request, cache_dir=cache)
        same = [str(k) for k in plan.route.stops.index] == [t["id"] for t in first["groups"][0]["timetable"]]
    finally:
        store.close()
    med = statistics.median
    return {
        "quartier": MOSSON, "candidates": first["n_candidates"], "constats_added": added,
        "stops": len(first["groups"][0]["timetable"]), "duration_min": first["groups"][0]["duration_min"],
        "preview_s": {"median": round(med(preview_s), 3), "max": round(max(preview_s), 3)},
        "solve_s": {"median": round(med(solve_s), 3)}, "plan_walk_s": {"median": round(med(plan_s), 3)},
        "preview_over_plan_walk": round(med(preview_s) / med(plan_s), 2),
        "preview_over_solve": round(med(preview_s) / med(solve_s), 2),
        "saved_equals_preview": same, "target_s": TARGET_S, "ok": max(preview_s) < TARGET_S,
        "repeat": repeat, "machine": platform.platform(), "python": platform.python_version(),
    }


def main() -> None:
    """Run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="demo store to copy (built when omitted)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "planner.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "demo.gpkg"
        if args.store:
            shutil.copyfile(args.store, work)
        else:
            demo = open_store(work)
            try:
                build_demo(demo, REPO / "data" / "demo", report_dir=Path(tmp) / "rapports")
            finally:
                demo.close()
        result = run(work, repeat=args.repeat, cache=Path(tmp) / "cache")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"{result['candidates']} candidates in {MOSSON}: preview {result['preview_s']['median']} s "
          f"(max {result['preview_s']['max']} s, target < {TARGET_S} s), "
          f"solve {result['solve_s']['median']} s, "
          f"plan_walk {result['plan_walk_s']['median']} s, ratio preview/plan_walk "
          f"{result['preview_over_plan_walk']}; saved = preview: {result['saved_equals_preview']}")


if __name__ == "__main__":
    main()
