"""Batch QPV lookup benchmark: all 158,048 Paris BAN addresses against the demo perimeters.

Run: ``PYTHONPATH=. python bench/bench_lookup.py`` (``--repeat N`` for more runs of the sjoin
table, ``--engine-repeat N`` for the engines table, ``--scale K`` for the larger point set).
Writes ``bench/results/lookup.json`` and prints two tables. The DuckDB reference needs the
``bench`` extra: ``pip install -e '.[bench]'`` (``duckdb`` and the ``duckdb-extension-spatial``
wheel, loaded from the wheel's files: no network); without it the DuckDB rows are skipped.

**Engines table** (issue 18): at 158,048 points and at 1,580,480 (the BAN × 10, exact
copies), interleaved, median of ``--engine-repeat`` (5) runs each, garbage collector off:

* ``ours_rules``: :func:`geo.perimeters.lookup.lookup_many` on the BAN frame (``x``/``y``
  Lambert-93 columns, street, number and commune columns as read by pandas), index with the
  488 rules built beforehand; every answer column (polygon, rules, disagreement, reason,
  distance to the boundary, status, detail).
* ``ours_no_rules``: the same with an index without rules.
* ``duckdb_1t``: DuckDB spatial, ``SET threads=1``: ``points LEFT JOIN perimeters ON
  ST_Contains(geom, ST_Point(x, y))`` (its spatial join operator), points already in a DuckDB
  table of ``x``/``y`` doubles, result fetched as numpy arrays.
* ``strtree``: ``shapely.STRtree(perimeters).query(points, predicate="within")``, tree built in
  the timing, points (shapely) built before.

Targets: ``ours_rules`` ≤ 1.2 × ``duckdb_1t`` at 1.58 M points; ``ours_no_rules`` ≤ 1.5 ×
``strtree``. The polygon answers of the three are checked equal.

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
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
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


def _duckdb(perimeters: gpd.GeoDataFrame) -> Any:
    """DuckDB with the spatial extension loaded from its wheel, 1 thread (None: not installed)."""
    try:
        import duckdb
        import duckdb_extension_spatial
    except ImportError:
        print("DuckDB absent : pip install -e '.[bench]' (duckdb, duckdb-extension-spatial) ; lignes "
              "DuckDB ignorées.")
        return None
    ext = (Path(duckdb_extension_spatial.__file__).parent / "extensions" / f"v{duckdb.__version__}"
           / "spatial.duckdb_extension")
    con = duckdb.connect()
    con.execute(f"LOAD '{ext}'")
    con.execute("SET threads=1")
    geoms = perimeters.geometry.to_numpy()
    con.register("poly_arrow", pa.table({"j": np.arange(len(geoms)), "wkb": shapely.to_wkb(geoms)}))
    con.execute("CREATE TABLE polys AS SELECT j, ST_GeomFromWKB(wkb) AS geom FROM poly_arrow")
    return con


def _duck_points(con: Any, name: str, x: np.ndarray, y: np.ndarray) -> Callable[[], dict[str, np.ndarray]]:
    con.register(f"{name}_arrow", pa.table({"i": np.arange(len(x)), "x": x, "y": y}))
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    query = (f"SELECT p.i, q.j FROM {name} p LEFT JOIN polys q "
             "ON ST_Contains(q.geom, ST_Point(p.x, p.y))")
    return lambda: con.execute(query).fetchnumpy()


def _first_polygon(n: int, point_idx: np.ndarray, poly_idx: np.ndarray) -> np.ndarray:
    """Per point, the smallest perimeter number containing it (-1: none)."""
    out = np.full(n, np.iinfo(np.int64).max)
    ok = poly_idx >= 0
    np.minimum.at(out, point_idx[ok], poly_idx[ok])
    return np.where(out == np.iinfo(np.int64).max, -1, out)


def _engines(raw: pd.DataFrame, repaired: gpd.GeoDataFrame, rules: list[Rule], *, repeat: int,
             scale: int) -> dict[str, Any]:
    """The engines table: ours (with and without rules) vs DuckDB 1 thread and the bulk STRtree query."""
    with_rules, no_rules = build_index(repaired, rules=rules), build_index(repaired)
    geoms = repaired.geometry.to_numpy()
    codes = repaired["code"].astype(str).to_numpy()
    con = _duckdb(repaired)
    report: dict[str, Any] = {}
    for label, frame in (("158k", raw), (f"{scale}x", pd.concat([raw] * scale, ignore_index=True))):
        x, y = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
        points = shapely.points(x, y)
        runs: dict[str, Callable[[], Any]] = {
            "ours_rules": partial(lookup_many, frame, with_rules),
            "ours_no_rules": partial(lookup_many, frame, no_rules),
            "strtree": lambda points=points: shapely.STRtree(geoms).query(points, predicate="within"),
        }
        if con is not None:
            runs["duckdb_1t"] = _duck_points(con, f"pts_{label}", x, y)
        times: dict[str, list[float]] = {k: [] for k in runs}
        results: dict[str, Any] = {}
        for k, f in runs.items():  # warm-up (grids, caches), not timed
            results[k] = f()
        for _ in range(repeat):
            for k, f in runs.items():
                _, t = _timed(f)
                times[k].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        n = len(frame)
        ours = results["ours_rules"]["qpv_polygon"].astype(object).fillna("").astype(str).to_numpy()
        tree = results["strtree"]
        named = np.append(codes, "")
        checks = {"polygon_equal_strtree": int((ours == named[_first_polygon(n, tree[0], tree[1])]).sum())}
        if "duckdb_1t" in results:
            duck = results["duckdb_1t"]
            j = np.ma.filled(duck["j"], -1).astype(np.int64)
            first = _first_polygon(n, np.asarray(duck["i"], dtype=np.int64), j)
            checks["polygon_equal_duckdb"] = int((ours == named[first]).sum())
        ratios = {"ours_no_rules_vs_strtree": med["ours_no_rules"] / med["strtree"]}
        if "duckdb_1t" in med:
            ratios["ours_rules_vs_duckdb_1t"] = med["ours_rules"] / med["duckdb_1t"]
        report[label] = {
            "points": n, "repeat": repeat,
            "seconds_median": {k: round(v, 4) for k, v in med.items()},
            "seconds_all": {k: [round(t, 4) for t in v] for k, v in times.items()},
            "ratios_median": {k: round(v, 3) for k, v in ratios.items()},
            "answers": checks,
            "load_average_1min_after": round(os.getloadavg()[0], 2),
        }
        print(f"\n{n:,} points (médiane de {repeat} passes entrelacées, charge "
              f"{os.getloadavg()[0]:.2f})")
        for k, v in med.items():
            print(f"  {k:<16}{v:>9.4f} s{n / v:>14,.0f} pts/s")
        for k, v in ratios.items():
            print(f"  ratio {k:<28}{v:>7.2f}")
        print(f"  réponses polygone identiques : {checks}")
    return report


def main() -> None:
    """Run the benchmark, print the tables and write ``bench/results/lookup.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--engine-repeat", type=int, default=5)
    parser.add_argument("--scale", type=int, default=10)
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
    result["engines"] = _engines(raw, repaired, rules, repeat=args.engine_repeat, scale=args.scale)
    path = ROOT / "bench" / "results" / "lookup.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"→ {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
