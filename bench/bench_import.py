"""Import benchmark on the real files: Paris BAN (158,048 rows) and Montpellier address points.

Run: ``python bench/bench_import.py``. Prints rows/s for our importer (read → map →
validate → store in a GeoPackage, R-tree included) and, measured in the same run as a
reference, for a plain ``pyogrio.write_dataframe`` of the same rows read with pandas /
pyogrio (no validation, no reject report, no ids). Writes ``bench/results/import.json``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from layers.importer import ImportOptions, import_file  # noqa: E402
from layers.store import open_store  # noqa: E402

SHARED = Path(os.environ.get("QPV_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _reference_ban(path: Path, out: Path) -> float:
    t0 = time.perf_counter()
    df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["x"].astype(float), df["y"].astype(float)),
                           crs="EPSG:2154")
    pyogrio.write_dataframe(gdf, out, layer="ref", driver="GPKG")
    return time.perf_counter() - t0


def _reference_vector(path: Path, out: Path) -> float:
    t0 = time.perf_counter()
    gdf = pyogrio.read_dataframe(path).set_crs("EPSG:2154", allow_override=True)
    pyogrio.write_dataframe(gdf, out, layer="ref", driver="GPKG")
    return time.perf_counter() - t0


def main() -> None:
    """Run the benchmark and print a table."""
    cases = [
        ("BAN Paris", SHARED / "paris" / "adresses-75.csv.gz", "ban", _reference_ban),
        ("Points adresse Montpellier", SHARED / "montpellier" / "VilleMTP_MTP_PointAdresse.zip",
         "montpellier-adresses", _reference_vector),
    ]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, path, mapping, reference in cases:
            store = open_store(Path(tmp) / f"{mapping}.gpkg")
            t0 = time.perf_counter()
            report = import_file(store, path, options=ImportOptions(mapping=mapping, territory_margin_m=None))
            ours = time.perf_counter() - t0
            t1 = time.perf_counter()
            again = import_file(store, path, options=ImportOptions(mapping=mapping, territory_margin_m=None))
            reimport = time.perf_counter() - t1
            store.close()
            ref = reference(path, Path(tmp) / f"ref-{mapping}.gpkg")
            results.append({
                "jeu": label, "lignes": report.n_read, "ajoutees": report.n_inserted,
                "rejetees": report.n_rejected, "secondes": round(ours, 2),
                "lignes_par_s": round(report.n_read / ours),
                "reimport_s": round(reimport, 2), "reimport_ajoutees": again.n_inserted,
                "reference_pyogrio_s": round(ref, 2), "ratio_vs_reference": round(ours / ref, 2),
            })
    print(f"{'jeu':<28}{'lignes':>9}{'s':>8}{'lignes/s':>10}{'réimport s':>12}{'réf. s':>8}{'ratio':>7}")
    for r in results:
        print(f"{r['jeu']:<28}{r['lignes']:>9}{r['secondes']:>8}{r['lignes_par_s']:>10}"
              f"{r['reimport_s']:>12}{r['reference_pyogrio_s']:>8}{r['ratio_vs_reference']:>7}")
    out = ROOT / "bench" / "results" / "import.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
