"""Batch QPV lookup benchmark: all 158,048 Paris BAN addresses against the demo perimeters.

Run: ``python bench/bench_lookup.py`` (``--repeat N`` for more runs). Writes
``bench/results/lookup.json`` and prints a table.

Perimeters: the 12 Montpellier QPV (2015) and the 3 Paris / Île-de-France QPV of the
shared data (QP075019 repaired). Street rules: derived with
:func:`geo.perimeters.rules.reverse_perimeter` from the official polygons, QP075019 from
the Paris BAN and the Montpellier QPV from the city's address points (488 rules).

Measured in the same run, on the same points (a GeoDataFrame in EPSG:2154 built from the
BAN ``x``/``y`` before timing):

* ``sjoin``: ``geopandas.sjoin(points, perimeters, how="left", predicate="within")`` on
  a fresh points frame each time. For ``within`` geopandas builds its STRtree on the
  *points* (158,048 entries) and queries it with the 15 polygons: building that tree is
  most of the cost of a plain sjoin on new data, and it is counted here. The same sjoin
  with the points' tree already cached (``sjoin_cached``) is reported for reference.
* ``lookup``: :func:`geo.perimeters.lookup.lookup_many` with the rules, the index
  (:func:`geo.perimeters.lookup.build_index`: validity check, prepared polygons, boundary segment
  trees, rule table) built inside the timing from the same projected, repaired perimeters
  the sjoin gets; it also gives the reason, the rule verdict, the
  disagreement flag and the distance to the nearest boundary (within 200 m, the default
  ``max_distance_m``).
* ``lookup_territory_ready``: the same with the index also carrying the territory
  (:func:`geo.perimeters.territory.build_territory` from the perimeters and the BAN points of
  each arrondissement, built before timing): points outside every QPV are also tested
  against the known area, as ``qpv localiser`` on a store does.

Timings are medians and minima (the best run, robust to other processes on a shared
machine: the load average is recorded) over the repetitions, interleaved so that machine load hits both, each
call with the garbage collector off after a collection (as :mod:`timeit` does: otherwise a
collection of the 3 × 158,048 live geometries lands in whichever call happens to trigger it).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.crs import to_territory_crs  # noqa: E402
from geo.geometry import repair_polygons  # noqa: E402
from geo.perimeters.addressmatch import read_addresses  # noqa: E402
from geo.perimeters.lookup import build_index, lookup_many  # noqa: E402
from geo.perimeters.rules import reverse_perimeter  # noqa: E402
from geo.perimeters.streetlist import Rule  # noqa: E402
from geo.perimeters.territory import build_territory  # noqa: E402

T = TypeVar("T")
SHARED = Path(os.environ.get("QPV_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _perimeters() -> gpd.GeoDataFrame:
    paris = gpd.read_file(SHARED / "paris" / "qpv-paris-idf-2015.geojson")[["code", "name", "geometry"]]
    occ = gpd.read_file(SHARED / "montpellier" / "qp-occitanie-2015.geojson")
    mtp = occ[occ["commune_qp"] == "Montpellier"].rename(columns={"code_qp": "code", "nom_qp": "name"})
    both = pd.concat([mtp[["code", "name", "geometry"]], paris], ignore_index=True)
    return gpd.GeoDataFrame(both, geometry="geometry", crs=paris.crs)


def _rules(perimeters: gpd.GeoDataFrame) -> list[Rule]:
    ban = read_addresses(SHARED / "paris" / "adresses-75.csv.gz")
    mtp = read_addresses(SHARED / "montpellier" / "VilleMTP_MTP_PointAdresse.zip", commune="Montpellier")
    rules = reverse_perimeter(perimeters, ban, code="QP075019")
    for code in perimeters["code"]:
        if code.startswith("QP034"):
            rules += reverse_perimeter(perimeters, mtp, code=code)
    return rules


def _fresh(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """A points frame with a brand-new geometry array (no cached spatial index)."""
    pts = shapely.points(frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float))
    return gpd.GeoDataFrame(frame, geometry=pts, crs="EPSG:2154")


def _timed(func: Callable[[], T]) -> tuple[T, float]:
    """Run ``func`` once with the garbage collector off (as :mod:`timeit` does)."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        value = func()
        return value, time.perf_counter() - t0
    finally:
        gc.enable()


def _lookup_fresh_index(
    points: gpd.GeoDataFrame, perimeters: gpd.GeoDataFrame, rules: list[Rule]
) -> pd.DataFrame:
    return lookup_many(points, build_index(perimeters, rules=rules))


def main() -> None:
    """Run the benchmark, print a table and write ``bench/results/lookup.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    raw = pd.read_csv(SHARED / "paris" / "adresses-75.csv.gz", sep=";", low_memory=False,
                      dtype={"numero": "Int64"})
    perimeters = _perimeters()
    rules = _rules(perimeters)
    repaired, _ = repair_polygons(to_territory_crs(perimeters))
    n = len(raw)

    times: dict[str, list[float]] = {"sjoin": [], "sjoin_cached": [], "lookup": [], "lookup_index_ready": [],
                                     "lookup_territory_ready": []}
    warm = _fresh(raw)
    gpd.sjoin(warm, repaired, how="left", predicate="within")  # builds and caches warm's tree
    ready = build_index(repaired, rules=rules)
    ban_points = _fresh(raw).assign(commune=raw["nom_commune"], commune_key=raw["nom_commune"].str.upper(),
                                    postcode=raw["code_postal"].astype(str))
    territory = build_territory(perimeters=repaired, addresses=ban_points)
    known = build_index(repaired, rules=rules, territory=territory)
    out = joined = with_territory = None
    for _ in range(args.repeat):
        pts_a, pts_b, pts_c = _fresh(raw), _fresh(raw), _fresh(raw)
        joined, t = _timed(partial(gpd.sjoin, pts_a, repaired, how="left", predicate="within"))
        times["sjoin"].append(t)
        out, t = _timed(partial(_lookup_fresh_index, pts_b, repaired, rules))
        times["lookup"].append(t)
        _, t = _timed(partial(gpd.sjoin, warm, repaired, how="left", predicate="within"))
        times["sjoin_cached"].append(t)
        _, t = _timed(partial(lookup_many, pts_c, ready))
        times["lookup_index_ready"].append(t)
        with_territory, t = _timed(partial(lookup_many, _fresh(raw), known))
        times["lookup_territory_ready"].append(t)
    assert out is not None and joined is not None and with_territory is not None
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    # same answers as the sjoin for the polygon part?
    first = joined[~joined.index.duplicated()]["code"].fillna("").astype(str).to_numpy()
    ours = out["qpv_polygon"].astype(object).fillna("").astype(str).to_numpy()
    result = {
        "points": n,
        "perimeters": len(perimeters),
        "rules": len(rules),
        "repeat": args.repeat,
        "seconds_median": {k: round(v, 4) for k, v in med.items()},
        "seconds_best": {k: round(v, 4) for k, v in best.items()},
        "addresses_per_s_median": {k: round(n / v) for k, v in med.items()},
        "addresses_per_s_best": {k: round(n / v) for k, v in best.items()},
        "ratio_lookup_vs_sjoin_median": round(med["lookup"] / med["sjoin"], 3),
        "ratio_lookup_vs_sjoin_best": round(best["lookup"] / best["sjoin"], 3),
        "ratio_lookup_index_ready_vs_sjoin_median": round(med["lookup_index_ready"] / med["sjoin"], 3),
        "ratio_lookup_index_ready_vs_sjoin_best": round(best["lookup_index_ready"] / best["sjoin"], 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "polygon_answers_equal_to_sjoin": int((first == ours).sum()),
        "inside": int((out["qpv_status"] == "inside").sum()),
        "reasons": {str(k): int(v) for k, v in out["qpv_reason"].value_counts().items() if k},
        "disagreements": int(out["qpv_disagree"].sum()),
        "with_distance": int(np.isfinite(out["qpv_distance_m"].to_numpy()).sum()),
        "out_of_territory_with_territory": int((with_territory["qpv_status"] == "out_of_territory").sum()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "geopandas": gpd.__version__, "shapely": shapely.__version__, "pandas": pd.__version__},
    }
    print(f"{n:,} adresses BAN Paris × {len(perimeters)} périmètres, {len(rules)} règles de rues "
          f"(médiane de {args.repeat} passes)")
    print(f"{'méthode':<46}{'médiane s':>10}{'adr./s':>11}{'ratio':>7}{'meilleur s':>11}{'adr./s':>11}"
          f"{'ratio':>7}")
    labels = {
        "sjoin": "geopandas.sjoin (index des points construit)",
        "sjoin_cached": "geopandas.sjoin (index des points en cache)",
        "lookup": "lookup_many + règles (index construit)",
        "lookup_index_ready": "lookup_many + règles (index prêt)",
        "lookup_territory_ready": "lookup_many + règles + territoire (index prêt)",
    }
    for key, label in labels.items():
        print(f"{label:<46}{med[key]:>10.3f}{n / med[key]:>11,.0f}{med[key] / med['sjoin']:>7.2f}"
              f"{best[key]:>11.3f}{n / best[key]:>11,.0f}{best[key] / best['sjoin']:>7.2f}")
    print(f"réponses polygone identiques au sjoin : {result['polygon_answers_equal_to_sjoin']:,} / {n:,}; "
          f"dans un QPV : {result['inside']}; désaccords polygone/règles : {result['disagreements']}")
    path = ROOT / "bench" / "results" / "lookup.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"→ {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
