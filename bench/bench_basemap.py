"""Offline basemap benchmark on the real demo territory (Paris 20e and Montpellier).

Run: ``python bench/bench_basemap.py [--entrepot demo.gpkg] [--sans-navigateur]``. Measures, each
with a reference taken in the same run:

1. building the demo basemap (``qpv fond construire``, zooms 10 to 18): seconds, size, tiles —
   reference: GDAL's own vector-tile writer (pyogrio, driver ``PMTiles``, same zooms) writing the
   same four layers, one file each, without our per-zoom generalisation;
2. tile requests through the Flask app (``/fond/z/x/y.mvt``, test client, every layer of the
   request stack): p50 / p95 ms over tiles sampled in both cities — reference: the raw bytes of
   the same tiles read from the file directly (our reader) and through the ``pmtiles`` package's
   reader (which parses the directory on every read);
3. first paint of the map page in headless chromium with the network cut: the
   ``qpv-fond-premier-rendu`` mark (first basemap tile drawn) and ``qpv-premier-rendu`` (data
   layers), against ``domContentLoaded`` of the same page load.

Writes ``bench/results/basemap.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyogrio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import build_demo_store  # noqa: E402
from geo.tiles import lonlat_to_tile  # noqa: E402
from layers.basemap import BasemapOptions, build_basemap, open_tile_file  # noqa: E402
from layers.settings import BASEMAP_META_PATH  # noqa: E402
from layers.store import open_store  # noqa: E402

PLACES = {"paris": (2.4102, 48.8615), "montpellier": (3.8200, 43.6321)}


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def build_figures(store_path: Path, work: Path) -> dict[str, Any]:
    """Our build against GDAL's PMTiles writer on the same features."""
    store = open_store(store_path, create=False)
    try:
        target = work / "territoire.pmtiles"
        result = build_basemap(store, target, options=BasemapOptions(min_zoom=10, max_zoom=18))
        store.set_meta(BASEMAP_META_PATH, str(target))
        frames = {name: store.read(name) for name in ("perimetres", "voies", "batiments", "adresses")}
    finally:
        store.close()
    t0 = time.perf_counter()
    ref_size = 0
    for name, frame in frames.items():
        out = work / f"ref-{name}.pmtiles"
        keep = [c for c in ("name", "code", "street", "number") if c in frame.columns]
        pyogrio.write_dataframe(frame[[*keep, "geometry"]].to_crs("EPSG:3857"), out, driver="PMTiles",
                                dataset_options={"MINZOOM": "10", "MAXZOOM": "18"})
        ref_size += out.stat().st_size
    ref_s = time.perf_counter() - t0
    return {"seconds": round(result.seconds, 2), "size_mb": round(result.size_bytes / 1e6, 2),
            "tiles": result.tiles, "features": result.features,
            "reference_gdal_pmtiles_s": round(ref_s, 2), "reference_size_mb": round(ref_size / 1e6, 2),
            "ratio": round(result.seconds / ref_s, 2), "path": str(target)}


def _sample(path: Path, n: int) -> list[tuple[int, int, int]]:
    rng = random.Random(17)
    tiles = []
    for lon, lat in PLACES.values():
        for z in range(12, 19):
            x, y = lonlat_to_tile(lon, lat, z)
            tiles += [(z, x + dx, y + dy) for dx in range(-2, 3) for dy in range(-3, 4)]
    rng.shuffle(tiles)
    reader = open_tile_file(path)
    full = [t for t in tiles if reader.get(*t)]
    return (full * (n // max(len(full), 1) + 1))[:n]


def serving_figures(store_path: Path, tiles_path: Path, instance: Path, n: int = 2000) -> dict[str, Any]:
    """Per-request time through the app against raw reads of the same tiles."""
    from pmtiles.reader import MmapSource, Reader

    from webmap.app import create_app

    app = create_app({"STORE": str(store_path), "instance_path": str(instance), "SECRET_KEY": "bench",
                      "BASEMAP": ""})
    client = app.test_client()
    sample = _sample(tiles_path, n)
    for z, x, y in sample[:50]:  # warm-up (imports, the store's meta, the file opened once)
        client.get(f"/fond/{z}/{x}/{y}.mvt")
    app_ms = []
    for z, x, y in sample:
        t0 = time.perf_counter()
        resp = client.get(f"/fond/{z}/{x}/{y}.mvt")
        app_ms.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200 and resp.headers["Content-Encoding"] == "gzip"
    reader = open_tile_file(tiles_path)
    raw_ms = []
    for z, x, y in sample:
        t0 = time.perf_counter()
        reader.get(z, x, y)
        raw_ms.append((time.perf_counter() - t0) * 1000)
    pm_ms = []
    with tiles_path.open("rb") as fh:
        theirs = Reader(MmapSource(fh))
        for z, x, y in sample:
            t0 = time.perf_counter()
            theirs.get(z, x, y)
            pm_ms.append((time.perf_counter() - t0) * 1000)
    return {"requests": len(sample), "app_p50_ms": round(_p(app_ms, 50), 2),
            "app_p95_ms": round(_p(app_ms, 95), 2),
            "raw_p95_ms": round(_p(raw_ms, 95), 4), "pmtiles_reader_p95_ms": round(_p(pm_ms, 95), 3)}


def paint_figures(store_path: Path, instance: Path, runs: int = 5) -> dict[str, Any]:
    """First paint of the map page, network cut, in headless chromium (median of ``runs`` loads)."""
    from tests.webmap._browser import chrome, wait_for
    from tests.webmap._server import serve_in_thread
    from webmap.app import create_app

    app = create_app({"STORE": str(store_path), "instance_path": str(instance), "SECRET_KEY": "bench",
                      "BASEMAP": ""})
    fond, data, dcl, paris, link = [], [], [], [], []
    with serve_in_thread(app) as base:
        drv = chrome(window="1400,900", offline=True)
        try:
            for _ in range(runs):
                drv.get(f"{base}/")
                marks = wait_for(lambda: drv.execute_script(
                    "const f = performance.getEntriesByName('qpv-fond-premier-rendu')[0],"
                    " d = performance.getEntriesByName('qpv-premier-rendu')[0],"
                    " n = performance.getEntriesByType('navigation')[0];"
                    "return f && d && n ? [f.startTime, d.startTime, n.domContentLoadedEventEnd] : null;"),
                    "premier rendu")
                paris.append(drv.execute_async_script("""
                  const done = arguments[arguments.length - 1];
                  const layer = window.QPVFond.layers[window.QPVFond.layers.length - 1];
                  const t0 = performance.now();
                  layer.once('load', () => done(performance.now() - t0));
                  window.qpvCarte.map.setView([48.8615, 2.4102], 15, {animate: false});"""))
                fond.append(marks[0])
                data.append(marks[1])
                dcl.append(marks[2])
                # a permalink opened at zoom 15 in Paris: the first tile drawn has streets in it
                drv.get(f"{base}/?centre=48.86150,2.41020&zoom=15")
                link.append(wait_for(lambda: drv.execute_script(
                    "const f = performance.getEntriesByName('qpv-fond-premier-rendu')[0];"
                    "return f ? f.startTime : null;"), "premier rendu du lien zoom 15"))
        finally:
            drv.quit()
    return {"runs": runs, "basemap_first_tile_ms": round(statistics.median(fond)),
            "data_first_paint_ms": round(statistics.median(data)),
            "paris_zoom15_all_tiles_ms": round(statistics.median(paris)),
            "paris_zoom15_permalink_first_tile_ms": round(statistics.median(link)),
            "reference_dom_content_loaded_ms": round(statistics.median(dcl))}


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entrepot", type=Path, default=None, help="demo store (built when absent)")
    parser.add_argument("--sans-navigateur", action="store_true", help="skip the chromium first paint")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store_path = args.entrepot
        if store_path is None:
            store_path, _ = build_demo_store(work)
        figures: dict[str, Any] = {"build": build_figures(store_path, work)}
        b = figures["build"]
        print(f"build: {b['seconds']} s, {b['size_mb']} MB, {b['tiles']} tiles (GDAL PMTiles writer, same "
              f"layers: {b['reference_gdal_pmtiles_s']} s, {b['reference_size_mb']} MB; ratio {b['ratio']})")
        figures["serving"] = serving_figures(store_path, Path(b["path"]), work / "instance")
        s = figures["serving"]
        print(f"tiles via Flask: p50 {s['app_p50_ms']} ms, p95 {s['app_p95_ms']} ms over {s['requests']} "
              f"requests (raw read p95 {s['raw_p95_ms']} ms, pmtiles package reader p95 "
              f"{s['pmtiles_reader_p95_ms']} ms)")
        if not args.sans_navigateur:
            figures["paint"] = paint_figures(store_path, work / "instance-paint")
            p = figures["paint"]
            print(f"first paint (chromium, offline, median of {p['runs']}): basemap "
                  f"{p['basemap_first_tile_ms']} ms, data layers {p['data_first_paint_ms']} ms "
                  f"(domContentLoaded {p['reference_dom_content_loaded_ms']} ms); every basemap tile of a "
                  f"zoom-15 view of Paris drawn {p['paris_zoom15_all_tiles_ms']} ms after the move; a "
                  f"permalink opened at zoom 15 in Paris: first basemap tile at "
                  f"{p['paris_zoom15_permalink_first_tile_ms']} ms")
        out = ROOT / "bench" / "results" / "basemap.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
