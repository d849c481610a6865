"""Benchmark of the web map on 100,000 observations.

The observations are SIMULATED: real Dans Ma Rue reports of the demo territory (Paris
20e, 2023-2024, ODbL) drawn with replacement, their dates redrawn uniformly over 24
months with a seeded RNG; every one carries ``simulated = True``. The store also holds the
real Paris QPV perimeters.

Measured, with the real application served by werkzeug on 127.0.0.1 (``BASEMAP=aucun``,
no network):

- server: latency of ``/api/layers/observations/features?bbox=…&zoom=…`` over random
  views from zoom 12 (whole 20e, server clusters) to zoom 18 (a few streets), p50/p95;
- browser (Debian headless chromium): first paint of the map (``performance.mark``
  ``qpv-premier-rendu``, set when the first layer is drawn), the time until every layer
  is drawn, and the time from the end of a pan (``moveend``) to the redrawn map and list
  (``qpv-deplacement`` → ``qpv-maj-fin``, which includes the page's 150 ms debounce).

Goals: first paint < 1 s, p95 of the features endpoint < 50 ms.

Run: ``/tmp/venv/bin/python bench/bench_map.py [--observations 100000] [--requests 300]``.
Writes bench/results/map.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.store import open_store

DEMO = REPO_ROOT / "data" / "demo"
RESULTS = REPO_ROOT / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--window-size=1400,900")
SEED = 20241121
# The 20e arrondissement, where the Dans Ma Rue sample lies (WGS84).
AREA = (2.377, 48.846, 2.417, 48.878)
# Size of the map area of the page in a 1400×900 window (between the two side panels).
MAP_PX = (750, 850)


def build_store(path: Path, n: int, work: Path) -> dict[str, Any]:
    """Store with the Paris QPV and ``n`` simulated observations resampled from Dans Ma Rue."""
    scratch = open_store(work / "reelles.gpkg")
    try:
        import_file(scratch, DEMO / "paris" / "dansmarue-2023-2024-echantillon.csv.gz",
                    options=ImportOptions(mapping="dansmarue", actor="bench", report_dir=work / "rapports"))
        real = scratch.read("observations")
    finally:
        scratch.close()
    rng = np.random.default_rng(SEED)
    pick = rng.integers(0, len(real), size=n)
    sim = real.iloc[pick].reset_index(drop=True)
    days = rng.integers(0, 731, size=n)
    seconds = rng.integers(7 * 3600, 20 * 3600, size=n)
    sim["observed_at"] = (pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D")
                          + pd.to_timedelta(seconds, unit="s"))
    sim["uid"] = [f"bench-{i:07d}" for i in range(n)]
    sim["source_dataset"] = "dansmarue-reechantillonne-simule"
    sim["source_id"] = None
    sim["simulated"] = True
    sim["resolved_at"] = None
    store = open_store(path)
    try:
        import_file(store, DEMO / "paris" / "qpv-paris-idf-2015.geojson",
                    options=ImportOptions(mapping="qpv-paris", actor="bench", report_dir=work / "rapports"))
        t = time.perf_counter()
        with store.transaction():
            store.write("observations", sim, actor="bench", validated=True)
        write_s = time.perf_counter() - t
        count = store.count("observations")
    finally:
        store.close()
    return {"observations": count, "real_points_resampled": len(real), "write_s": round(write_s, 2)}


def serve(app: Any) -> tuple[Any, threading.Thread, str]:
    """Serve ``app`` on a free port of 127.0.0.1 in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_port}"


def random_views(n: int) -> list[tuple[int, tuple[float, float, float, float]]]:
    """``n`` seeded map views (zoom, bbox) over the 20e, the size of the page's map area."""
    rng = np.random.default_rng(SEED + 1)
    views = []
    for _ in range(n):
        zoom = int(rng.integers(12, 19))
        lon = rng.uniform(AREA[0], AREA[2])
        lat = rng.uniform(AREA[1], AREA[3])
        deg_per_px = 360 / (256 * 2 ** zoom)
        w = MAP_PX[0] * deg_per_px
        h = MAP_PX[1] * deg_per_px * np.cos(np.radians(lat))
        views.append((zoom, (lon - w / 2, lat - h / 2, lon + w / 2, lat + h / 2)))
    return views


def server_latency(base: str, n: int) -> dict[str, Any]:
    """Latency of the features endpoint over ``n`` random views (after 10 warm-up calls)."""
    views = random_views(n + 10)
    times: list[float] = []
    by_zoom: dict[int, list[float]] = {}
    clustered = 0
    sizes: list[int] = []
    for i, (zoom, bbox) in enumerate(views):
        url = (f"{base}/api/layers/observations/features?bbox={','.join(f'{v:.6f}' for v in bbox)}"
               f"&zoom={zoom}")
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as resp:
            body = resp.read()
        dt = (time.perf_counter() - t) * 1000
        if i < 10:
            continue
        data = json.loads(body)
        clustered += bool(data.get("clustered"))
        sizes.append(len(body))
        times.append(dt)
        by_zoom.setdefault(zoom, []).append(dt)
    return {
        "requests": len(times),
        "p50_ms": round(float(np.percentile(times, 50)), 1),
        "p95_ms": round(float(np.percentile(times, 95)), 1),
        "max_ms": round(max(times), 1),
        "clustered_share": round(clustered / len(times), 2),
        "median_body_kb": round(statistics.median(sizes) / 1024, 1),
        "p95_ms_by_zoom": {z: round(float(np.percentile(v, 95)), 1) for z, v in sorted(by_zoom.items())},
    }


def browser_timings(base: str, loads: int, pans: int) -> dict[str, Any]:
    """First paint, all layers drawn, and update after pans, in headless chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

    def wait_ready() -> None:
        time.sleep(0.05)
        end = time.monotonic() + 60
        while drv.execute_script("return document.body.dataset.etat") != "pret":
            if time.monotonic() > end:
                raise RuntimeError("la carte ne devient pas prête")
            time.sleep(0.02)

    def mark(name: str) -> float:
        return float(drv.execute_script(
            "const e = performance.getEntriesByName(arguments[0]);"
            "return e.length ? e[e.length - 1].startTime : -1", name))

    first, complete, obs_first = [], [], []
    pan_times: dict[str, list[float]] = {"zoom 13 (grappes serveur)": [], "zoom 16 (points)": []}
    try:
        drv.get(base + "/")  # warm the browser cache and the server
        wait_ready()
        for _ in range(loads):
            drv.get(base + "/")
            wait_ready()
            first.append(mark("qpv-premier-rendu"))
            obs_first.append(mark("qpv-couche-observations"))
            complete.append(mark("qpv-maj-fin"))
        rng = np.random.default_rng(SEED + 2)
        for label, zoom in (("zoom 13 (grappes serveur)", 13), ("zoom 16 (points)", 16)):
            drv.execute_script(
                "window.qpvCarte.map.setView([48.8635, 2.3990], arguments[0], {animate: false})", zoom)
            wait_ready()
            for _ in range(pans):
                dx, dy = (int(v) for v in rng.integers(-350, 350, size=2))
                drv.execute_script(
                    "window.qpvCarte.map.panBy([arguments[0], arguments[1]], {animate: false})", dx, dy)
                wait_ready()
                pan_times[label].append(mark("qpv-maj-fin") - mark("qpv-deplacement"))
        shown = drv.execute_script("return document.getElementById('liste-total').dataset.total")
    finally:
        drv.quit()
    return {
        "page_loads": loads,
        "first_paint_ms_median": round(statistics.median(first), 1),
        "first_paint_ms_max": round(max(first), 1),
        "observations_drawn_ms_median": round(statistics.median(obs_first), 1),
        "all_layers_drawn_ms_median": round(statistics.median(complete), 1),
        "pan_update_ms": {k: {"median": round(statistics.median(v), 1),
                              "p95": round(float(np.percentile(v, 95)), 1), "pans": len(v)}
                          for k, v in pan_times.items()},
        "debounce_ms_included": 150,
        "records_in_last_view": int(shown or 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--pans", type=int, default=10)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

    from webmap.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-carte-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        built = build_store(work / "carte.gpkg", args.observations, work)
        built["build_s"] = round(time.perf_counter() - t, 1)
        app = create_app({"STORE": str(work / "carte.gpkg"), "instance_path": str(work / "instance"),
                          "SECRET_KEY": "bench", "BASEMAP": "aucun"})
        server, thread, base = serve(app)
        try:
            latency = server_latency(base, args.requests)
            browser = browser_timings(base, args.loads, args.pans) if Path(CHROMIUM).exists() else None
        finally:
            server.shutdown()
            thread.join(timeout=10)

    result = {
        "data": "SIMULATED: real Dans Ma Rue locations (Paris 20e) resampled with replacement, dates "
                f"uniform over 2023-2024, seed {SEED}; every observation has simulated=True",
        "store": built,
        "server_features": latency,
        "browser": browser,
        "goals": {"first_paint_ms": 1000, "features_p95_ms": 50},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()]},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    (RESULTS / "map.json").write_text(text, encoding="utf-8")

    print(f"\n{built['observations']:,} observations (SIMULÉES : Dans Ma Rue rééchantillonné), "
          f"store built in {built['build_s']} s")
    rows = [("features p50 (ms)", latency["p50_ms"], ""),
            ("features p95 (ms)", latency["p95_ms"], "< 50"),
            ("features max (ms)", latency["max_ms"], "")]
    rows += [(f"  p95 at zoom {z} (ms)", v, "") for z, v in latency["p95_ms_by_zoom"].items()]
    if browser:
        rows += [("first paint, median (ms)", browser["first_paint_ms_median"], "< 1000"),
                 ("first paint, max (ms)", browser["first_paint_ms_max"], "< 1000"),
                 ("observations drawn, median (ms)", browser["observations_drawn_ms_median"], ""),
                 ("all layers drawn, median (ms)", browser["all_layers_drawn_ms_median"], "")]
        for label, v in browser["pan_update_ms"].items():
            rows.append((f"pan update {label}, median/p95 (ms)", f"{v['median']} / {v['p95']}",
                         "incl. 150 debounce"))
    width = max(len(r[0]) for r in rows)
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value!s:>14}  {goal}")
    print(f"\nwritten: {RESULTS / 'map.json'}")


if __name__ == "__main__":
    main()
