"""Import benchmark on the real files: the Paris BAN (158,048 rows) against GDAL and pandas.

Run: ``PYTHONPATH=. python bench/bench_import.py [--runs 5]`` (needs ``ogr2ogr``: ``make bench``
installs ``gdal-bin`` through ``.ci/bench-deps.sh``). Each measure runs in a child process of
its own, interleaved, ``--runs`` times; medians are reported:

- ours: :func:`layers.importer.import_file` of the BAN into a new GeoPackage (columnar reader,
  mapping, coordinate checks, validation, ids, reject accounting, one transaction, R-tree),
  CPU time of the call (``time.process_time``) and of the whole child process, peak RSS of
  the child (``ru_maxrss``), then the re-import of the unchanged file (recognised by its hash);
- ``ogr2ogr`` of the same CSV to a GeoPackage (points from ``x``/``y``, EPSG:2154), CPU and
  peak RSS of the child;
- pandas ``read_csv`` + ``pyogrio.write_dataframe`` (no validation, no ids, no rejects);
- with ``--avant /work/main``: the importer of another checkout, in the same runs.

Ratios are ours / reference of the same run. Also one import of the Montpellier address
points (zipped Shapefile, read whole by pyogrio). Writes ``bench/results/import.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QPV_SHARED_DATA", ROOT.parent / "shared" / "data"))
BAN = SHARED / "paris" / "adresses-75.csv.gz"
MONTPELLIER = SHARED / "montpellier" / "VilleMTP_MTP_PointAdresse.zip"


def _child_ours(path: Path, out: Path, mapping: str) -> dict[str, Any]:
    sys.path.insert(0, os.environ.get("QPV_BENCH_CODE", str(ROOT)))
    from layers.importer import ImportOptions, import_file
    from layers.store import open_store

    store = open_store(out)
    opts = ImportOptions(mapping=mapping, territory_margin_m=None)
    c0, w0 = time.process_time(), time.perf_counter()
    report = import_file(store, path, options=opts)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    c1, w1 = time.process_time(), time.perf_counter()
    again = import_file(store, path, options=opts)
    re_cpu, re_wall = time.process_time() - c1, time.perf_counter() - w1
    store.close()
    return {"code": str(sys.modules["layers"].__file__), "cpu_s": cpu, "wall_s": wall,
            "n_read": report.n_read, "n_inserted": report.n_inserted,
            "n_rejected": report.n_rejected, "reimport_wall_s": re_wall, "reimport_cpu_s": re_cpu,
            "reimport_inserted": again.n_inserted, "reimport_existing": again.n_existing,
            "reimport_message": getattr(again, "message", None)}


def _child_pandas(path: Path, out: Path) -> dict[str, Any]:
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    c0 = time.process_time()
    df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["x"].astype(float), df["y"].astype(float)),
                           crs="EPSG:2154")
    pyogrio.write_dataframe(gdf, out, layer="ref", driver="GPKG")
    return {"cpu_s": time.process_time() - c0}


def _run_child(kind: str, path: Path, out: Path, mapping: str = "ban", *,
               code: Path = ROOT) -> dict[str, Any]:
    """Run one measure in a fresh Python process (the project's code from ``code``); return its
    figures with its CPU and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(path), str(out), mapping],
                          capture_output=True, text=True, check=True, cwd=code,
                          env={**os.environ, "PYTHONPATH": str(code), "QPV_BENCH_CODE": str(code)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["process_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    figures["process_wall_s"] = wall
    figures["peak_mb"] = figures.pop("maxrss_kb") / 1024
    return figures


def _run_ogr2ogr(path: Path, out: Path) -> dict[str, Any]:
    """``ogr2ogr`` of the CSV into a GeoPackage, in a child that reports its own child's usage."""
    cmd = ["ogr2ogr", "-f", "GPKG", str(out), f"/vsigzip/{path}", "-oo", "SEPARATOR=SEMICOLON",
           "-oo", "X_POSSIBLE_NAMES=x", "-oo", "Y_POSSIBLE_NAMES=y", "-oo", "KEEP_GEOM_COLUMNS=NO",
           "-a_srs", "EPSG:2154", "-nln", "ref"]
    proc = subprocess.run([sys.executable, __file__, "--wrap", *cmd], capture_output=True, text=True,
                          check=True)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["peak_mb"] = figures.pop("maxrss_kb") / 1024
    return figures


def _wrap(cmd: list[str]) -> None:
    """Run ``cmd`` and print its CPU time and peak RSS (this process's only child)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": time.perf_counter() - t0,
                      "maxrss_kb": usage.ru_maxrss}))


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def main() -> None:
    """Run the benchmark, print a table and write the JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--avant", type=Path, default=None,
                        help="another checkout (e.g. main) whose importer is measured in the same runs")
    args = parser.parse_args()
    if shutil.which("ogr2ogr") is None:
        sys.exit("ogr2ogr introuvable : installez gdal-bin (bash .ci/bench-deps.sh).")
    load_before = os.getloadavg()
    ours, ogr, pandas_ref, before = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):  # interleaved: all see the same load
            ours.append(_run_child("ours", BAN, Path(tmp) / f"ours-{i}.gpkg"))
            if args.avant is not None:
                before.append(_run_child("ours", BAN, Path(tmp) / f"avant-{i}.gpkg", code=args.avant))
            ogr.append(_run_ogr2ogr(BAN, Path(tmp) / f"ogr-{i}.gpkg"))
            pandas_ref.append(_run_child("pandas", BAN, Path(tmp) / f"pandas-{i}.gpkg"))
        montpellier = _run_child("ours", MONTPELLIER, Path(tmp) / "mtp.gpkg", "montpellier-adresses")
    load_after = os.getloadavg()
    cpu, ogr_cpu, pd_cpu = _median(ours, "cpu_s"), _median(ogr, "cpu_s"), _median(pandas_ref, "cpu_s")
    result = {
        "jeu": "BAN Paris", "fichier": BAN.name, "lignes": ours[0]["n_read"],
        "ajoutees": ours[0]["n_inserted"], "rejetees": ours[0]["n_rejected"], "runs": args.runs,
        "charge_avant": [round(v, 2) for v in load_before], "charge_apres": [round(v, 2) for v in load_after],
        "ours_import_cpu_s": round(cpu, 2), "ours_process_cpu_s": round(_median(ours, "process_cpu_s"), 2),
        "ours_wall_s": round(_median(ours, "wall_s"), 2), "ours_peak_mb": round(_median(ours, "peak_mb")),
        "ogr2ogr_cpu_s": round(ogr_cpu, 2), "ogr2ogr_peak_mb": round(_median(ogr, "peak_mb")),
        "pandas_pyogrio_cpu_s": round(pd_cpu, 2),
        "pandas_pyogrio_peak_mb": round(_median(pandas_ref, "peak_mb")),
        "ratio_cpu_vs_ogr2ogr": round(cpu / ogr_cpu, 2),
        "ratio_process_cpu_vs_ogr2ogr": round(_median(ours, "process_cpu_s") / ogr_cpu, 2),
        "ratio_cpu_vs_pandas_pyogrio": round(cpu / pd_cpu, 2),
        "reimport_wall_s": round(_median(ours, "reimport_wall_s"), 3),
        "reimport_ajoutees": ours[0]["reimport_inserted"],
        "reimport_deja_presentes": ours[0]["reimport_existing"],
        "reimport_message": ours[0]["reimport_message"],
        "runs_detail": {"ours": ours, "ogr2ogr": ogr, "pandas_pyogrio": pandas_ref, "avant": before},
        "montpellier_points_adresse": {k: montpellier[k] for k in ("n_read", "n_inserted", "cpu_s", "peak_mb",
                                                                   "reimport_wall_s")},
    }
    if before:
        result |= {"avant_code": str(args.avant), "avant_import_cpu_s": round(_median(before, "cpu_s"), 2),
                   "avant_peak_mb": round(_median(before, "peak_mb")),
                   "avant_reimport_wall_s": round(_median(before, "reimport_wall_s"), 2),
                   "ratio_avant_cpu_vs_ogr2ogr": round(_median(before, "cpu_s") / ogr_cpu, 2)}
        print(f"  avant ({args.avant}) CPU {result['avant_import_cpu_s']} s  "
              f"pic {result['avant_peak_mb']} Mo  réimport {result['avant_reimport_wall_s']} s")
    print(f"BAN Paris, {result['lignes']} lignes, médianes de {args.runs} (charge {load_before[0]:.1f} → "
          f"{load_after[0]:.1f})")
    print(f"  nous        CPU {cpu:6.2f} s (processus {result['ours_process_cpu_s']:.2f} s)  "
          f"pic {result['ours_peak_mb']} Mo  réimport {result['reimport_wall_s']} s")
    print(f"  ogr2ogr     CPU {ogr_cpu:6.2f} s  pic {result['ogr2ogr_peak_mb']} Mo  → ratio "
          f"{result['ratio_cpu_vs_ogr2ogr']}")
    print(f"  pandas+pyogrio CPU {pd_cpu:6.2f} s  pic {result['pandas_pyogrio_peak_mb']} Mo  → ratio "
          f"{result['ratio_cpu_vs_pandas_pyogrio']}")
    out = ROOT / "bench" / "results" / "import.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")


def _child_main(argv: list[str]) -> None:
    kind, path, out, mapping = argv[0], Path(argv[1]), Path(argv[2]), argv[3]
    figures = _child_ours(path, out, mapping) if kind == "ours" else _child_pandas(path, out)
    figures["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--wrap":
        _wrap(sys.argv[2:])
    else:
        main()
