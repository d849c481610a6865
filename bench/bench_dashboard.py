"""Benchmark of the quartier dashboard ``/quartiers/QP075019`` on the demo store.

On the demo store (built by :func:`layers.demo.build_demo` in a temporary folder, or
``--store``: real Paris QPV, real Dans Ma Rue reports of 2023-2024, real Paris cameras,
simulated Montpellier records), the real application served by werkzeug on 127.0.0.1
(``BASEMAP=aucun``, no network), a lecteur logged in through the login form:

- *service*: :func:`layers.dashboard.quartier_dashboard` called in this process for the
  12-month periods measured below (what the view computes on a cache miss);
- *browser* (Debian headless chromium, 1280×900): first contentful paint of
  ``/quartiers/QP075019`` (``performance`` paint entry, navigation start → first paint),
  **cold** (a period never asked before: the dashboard is computed for this request) and
  **repeat** (the same URL again: a GeoPackage keeps no revision marker, so the page is
  computed again; on PostGIS it would come from the cache);
- *reference*: the first paint of a page of the same app that computes nothing (« Mon
  compte », ``/compte``), measured in the same run, so the ratio dashboard / reference
  says what the dashboard itself costs on this machine.

Goal: first paint < 1 s (cold). Writes ``bench/results/dashboard.json`` and prints a table.

Usage::

    python bench/bench_dashboard.py [--runs 5] [--store territoire.gpkg]
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
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from werkzeug.serving import make_server

from bench._common import build_demo_store
from layers.dashboard import DashboardOptions, quartier_dashboard
from layers.settings import REPO_ROOT
from layers.store import open_store

RESULTS = REPO_ROOT / "bench" / "results" / "dashboard.json"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900")
CODE = "QP075019"
LOGIN, PASSWORD = "analyste", "mot-de-passe-du-banc"
#: Last month of the 12-month periods measured: each one is new to the server (cold).
ENDS = ("2024-09", "2024-08", "2024-07", "2024-06", "2024-05", "2024-04", "2024-03", "2024-02")


def _period(end: str) -> tuple[str, str]:
    year, month = (int(v) for v in end.split("-"))
    index = year * 12 + month - 1 - 11
    return f"{index // 12:04d}-{index % 12 + 1:02d}", end


def _dates(end: str) -> tuple[date, date]:
    start, last = _period(end)
    y, m = (int(v) for v in last.split("-"))
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return date.fromisoformat(start + "-01"), date.fromordinal(nxt.toordinal() - 1)


def service_times(store_path: Path, runs: int) -> list[float]:
    """Seconds of :func:`quartier_dashboard` for ``runs`` periods (lecteur: no cameras)."""
    store = open_store(store_path, create=False)
    try:
        out = []
        for end in ENDS[:runs]:
            start, last = _dates(end)
            t = time.perf_counter()
            quartier_dashboard(store, CODE, start=start, end=last, options=DashboardOptions(cameras=False))
            out.append(time.perf_counter() - t)
        return out
    finally:
        store.close()


def _paint(drv: Any) -> float:
    """First contentful paint of the page (ms from navigation start), polled: chromium may report it late."""
    end = time.monotonic() + 10
    while True:
        value = float(drv.execute_script(
            "const p = performance.getEntriesByName('first-contentful-paint');"
            "return p.length ? p[0].startTime : -1;"))
        if value >= 0:
            return value
        if time.monotonic() > end:
            raise RuntimeError("aucun premier affichage mesuré (first-contentful-paint)")
        time.sleep(0.02)


def browser_timings(base: str, runs: int) -> dict[str, Any]:
    """First paints of the dashboard (new period, then the same URL again) and of the reference page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    cold, again, reference = [], [], []
    try:
        drv.get(f"{base}/connexion?suivant=/compte")
        drv.find_element(By.ID, "login").send_keys(LOGIN)
        drv.find_element(By.ID, "password").send_keys(PASSWORD)
        drv.find_element(By.CSS_SELECTOR, ".connexion form button[type=submit]").click()
        end = time.monotonic() + 60
        while "/compte" not in drv.current_url:
            if time.monotonic() > end:
                raise RuntimeError("connexion impossible")
            time.sleep(0.05)
        drv.get(f"{base}/compte")  # static files in the browser cache, as for a returning user
        for end_month in ENDS[:runs]:
            start, last = _period(end_month)
            url = f"{base}/quartiers/{CODE}?debut={start}&fin={last}"
            drv.get(url)
            cold.append(_paint(drv))
            drv.get(url)
            again.append(_paint(drv))
            drv.get(f"{base}/compte")
            reference.append(_paint(drv))
        drv.get(f"{base}/quartiers/{CODE}?debut={_period(ENDS[0])[0]}&fin={ENDS[0]}")
        bars = int(drv.execute_script("return document.querySelectorAll('#indicateur-depots rect').length"))
    finally:
        drv.quit()

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(values), 1), "max_ms": round(max(values), 1)}

    return {"loads": len(cold), "cold": summary(cold), "same_url_again": summary(again),
            "reference": summary(reference),
            "ratio_cold_reference": round(statistics.median(cold) / statistics.median(reference), 2),
            "bars_drawn": bars}


def serve(app: Any) -> tuple[Any, threading.Thread, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help=f"periods measured (at most {len(ENDS)})")
    parser.add_argument("--store", type=Path, help="an existing demo store (built otherwise)")
    args = parser.parse_args()
    runs = max(1, min(args.runs, len(ENDS)))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from webmap import users
    from webmap.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-quartier-") as tmp:
        work = Path(tmp)
        build_s = None
        store_path = args.store
        if store_path is None:
            store_path, seconds = build_demo_store(work, name="territoire.gpkg")
            build_s = round(seconds, 1)
        service = service_times(store_path, runs)
        app = create_app({"STORE": str(store_path), "instance_path": str(work / "instance"),
                          "SECRET_KEY": "bench", "BASEMAP": "aucun"})
        users.add_user(app.config["USERS_DB"], LOGIN, PASSWORD, role="lecteur", organisation="ville")
        server, thread, base = serve(app)
        try:
            browser = browser_timings(base, runs) if Path(CHROMIUM).exists() else None
        finally:
            server.shutdown()
            thread.join(timeout=10)

    result = {
        "quartier": CODE,
        "periods": [":".join(_period(e)) for e in ENDS[:runs]],
        "data": "demo store: real Paris QPV, Dans Ma Rue reports 2023-2024, cameras; simulated Montpellier",
        "demo_store_build_s": build_s,
        "service_s": {"median": round(statistics.median(service), 3), "max": round(max(service), 3)},
        "browser_first_paint": browser,
        "goal_first_paint_ms": 1000,
        "goal_met": bool(browser and browser["cold"]["max_ms"] < 1000),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()]},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    rows: list[tuple[str, Any, str]] = [
        ("dashboard data (service), median (s)", result["service_s"]["median"], ""),
        ("dashboard data (service), max (s)", result["service_s"]["max"], ""),
    ]
    if browser:
        rows += [
            ("first paint, cold, median (ms)", browser["cold"]["median_ms"], "< 1000"),
            ("first paint, cold, max (ms)", browser["cold"]["max_ms"], "< 1000"),
            ("first paint, same URL again, median (ms)", browser["same_url_again"]["median_ms"], ""),
            ("first paint, reference /compte, median (ms)", browser["reference"]["median_ms"], ""),
            ("ratio cold / reference", browser["ratio_cold_reference"], ""),
        ]
    width = max(len(r[0]) for r in rows)
    built = f", demo store built in {build_s} s" if build_s else ""
    print(f"\n/quartiers/{CODE}, {runs} periods of 12 months{built}")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value!s:>10}  {goal}")
    print(f"goal met: {result['goal_met']}\nwritten: {RESULTS}")


if __name__ == "__main__":
    main()
