"""Benchmark of street noding + graph building on real street files.

Two real networks:

* Montpellier's « Filaire des voies » (8,011 segments split at every junction) and the
  same streets merged into one line per street name (``line_merge`` of the union per
  name, about 3,600 lines crossing and T-joining in mid-line, as OpenStreetMap ways do);
* the Paris street graph of the 2014 contest (11,348 crossings), its edges as 2-point lines.

For each, the time of :func:`geo.walks.build.graph_from_streets` with noding (the
default) is compared, in the same run, with the reference: building the graph from the
already-split lines joined at their end points only (``NodingOptions(split=False,
snap_m=0)``; both keep the default pedestrian links between pieces under 15 m). Target: the
noded build of the merged file stays under 2× the reference. The « before » figures are the
merged file joined as the old builder did (no noding, no gap closing, no link).

Usage::

    python bench/bench_network.py [--repeat 5] [--out bench/results/network.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import shapely

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.walks.build import graph_from_hashcode, graph_from_streets  # noqa: E402
from geo.walks.noding import NodingOptions  # noqa: E402
from geo.walks.quality import network_quality  # noqa: E402
from geo.walks.streets import read_street_layer  # noqa: E402

ENDPOINTS_ONLY = NodingOptions(split=False, snap_m=0)
#: The raw input, as the old builder joined it (no noding, no gap closing, no pedestrian link).
RAW = NodingOptions(split=False, snap_m=0, link_m=0)


def data_dir() -> Path:
    """Return the shared real-data folder."""
    env = os.environ.get("QPV_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def best_of(fn: Callable[[], nx.MultiGraph], repeat: int) -> tuple[float, nx.MultiGraph]:
    """Best wall time of ``repeat`` runs, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    assert out is not None
    return best, out


def merge_per_name(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One line per street name (several where the segments do not chain), as OSM ways."""
    rows = []
    for name, grp in streets.groupby(streets["name"].fillna("(sans nom)")):
        for part in shapely.get_parts(shapely.line_merge(shapely.union_all(grp.geometry.to_numpy()))):
            rows.append({"name": name, "geometry": part})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=streets.crs)


def figures(G: nx.MultiGraph) -> dict[str, Any]:
    """Size and connectivity of a graph."""
    q = network_quality(G)
    return {"nodes": q.nodes, "edges": q.edges, "components": q.components,
            "largest_share": round(q.largest_share, 4)}


def run(repeat: int) -> dict[str, Any]:
    """Time every case and return the results."""
    data = data_dir()
    split = read_street_layer(data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip")
    merged = merge_per_name(split)
    paris_graph = graph_from_hashcode(data / "paris" / "reseau-paris-hashcode-2014.txt")
    paris = gpd.GeoDataFrame(geometry=[d["geometry"] for *_, d in paris_graph.edges(data=True)],
                             crs="EPSG:2154")
    cases: dict[str, Any] = {}
    for label, lines, ref_lines in (("montpellier", merged, split), ("paris", paris, paris)):
        ref_s, ref_g = best_of(lambda r=ref_lines: graph_from_streets(r, options=ENDPOINTS_ONLY), repeat)
        split_s, split_g = best_of(lambda r=ref_lines: graph_from_streets(r), repeat)
        raw_s, raw_g = best_of(lambda m=lines: graph_from_streets(m, options=RAW), repeat)
        noded_s, noded_g = best_of(lambda m=lines: graph_from_streets(m), repeat)
        cases[label] = {
            "lines_split": len(ref_lines), "lines_input": len(lines),
            "reference_endpoints_only_s": round(ref_s, 4), "split_noded_s": round(split_s, 4),
            "input_noded_s": round(noded_s, 4),
            "ratio_noded_vs_reference": round(noded_s / ref_s, 2),
            "ratio_noded_vs_split_noded": round(noded_s / split_s, 2),
            "reference_graph": figures(ref_g), "split_noded_graph": figures(split_g),
            "input_unnoded_graph": figures(raw_g), "input_noded_graph": figures(noded_g),
            "input_unnoded_s": round(raw_s, 4),
        }
    return {"repeat": repeat, "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "cases": cases}


def main() -> None:
    """Run the benchmark, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "network.json")
    args = parser.parse_args()
    results = run(args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{'case':<12} {'lines':>6} {'ref s':>7} {'noded s':>8} {'ratio':>6} {'vs split noded':>15} "
          f"{'comp. before':>13} {'comp. after':>12} {'largest':>8}")
    for label, c in results["cases"].items():
        print(f"{label:<12} {c['lines_input']:>6} {c['reference_endpoints_only_s']:>7.3f} "
              f"{c['input_noded_s']:>8.3f} {c['ratio_noded_vs_reference']:>5.2f}x "
              f"{c['ratio_noded_vs_split_noded']:>14.2f}x {c['input_unnoded_graph']['components']:>13} "
              f"{c['input_noded_graph']['components']:>12} {c['input_noded_graph']['largest_share']:>8.1%}")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
