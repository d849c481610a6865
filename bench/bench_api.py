"""Latency of ``/ogc/collections/observations/items?bbox=`` with 100,000 observations.

Fills a store with the real Dans Ma Rue sample of the demo (10,000 points in Paris),
resampled in time with a seeded RNG up to ``--n`` records (the copies are flagged
``simulated = true``, ``source_dataset = dansmarue-paris-reechantillonne``), then times
random Paris viewports through the Flask test client and through a real loopback HTTP
server (werkzeug ``make_server``, threaded, in a child process), and writes
``bench/results/api.json``.

Usage::

    python bench/bench_api.py [--n 100000] [--requests 300] [--seed 2025] [--store PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.store import open_store

DEMO = REPO_ROOT / "data" / "demo"
RESULTS = REPO_ROOT / "bench" / "results" / "api.json"
PARIS = (2.255, 48.817, 2.415, 48.900)  # lon/lat extent of Paris intra-muros
GOAL_P95_MS = 50.0
SERVER = """
import json, sys
from werkzeug.serving import make_server
from webmap.app import create_app
server = make_server("127.0.0.1", 0, create_app(json.loads(sys.argv[1])), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


def build_store(path: Path, n: int, seed: int) -> int:
    """Import the real sample and add time-resampled copies up to ``n`` observations."""
    store = open_store(path)
    try:
        if store.count("observations") >= n:
            return store.count("observations")
        report_dir = path.parent / "rapports"
        import_file(store, DEMO / "paris" / "qpv-paris-idf-2015.geojson",
                    options=ImportOptions(mapping="qpv-paris", report_dir=report_dir))
        import_file(store, DEMO / "paris" / "dansmarue-2023-2024-echantillon.csv.gz",
                    options=ImportOptions(mapping="dansmarue", report_dir=report_dir))
        real = store.read("observations")
        rng = np.random.default_rng(seed)
        t0 = real["observed_at"].min()
        span_days = max(1, int((real["observed_at"].max() - t0).days))
        copies = []
        need = n - len(real)
        k = 0
        while need > 0:
            take = min(need, len(real))
            part = real.sample(n=take, random_state=int(rng.integers(0, 2**31))).copy()
            part["uid"] = [f"bench-{k}-{i}" for i in range(take)]
            days = rng.integers(0, span_days, size=take)
            part["observed_at"] = t0 + pd.to_timedelta(days, unit="D")
            part["simulated"] = True
            part["source_dataset"] = "dansmarue-paris-reechantillonne"
            part["source_id"] = None
            part["created_at"] = None
            part["updated_at"] = None
            copies.append(part)
            need -= take
            k += 1
        for part in copies:
            store.write("observations", part, actor="bench")
        return store.count("observations")
    finally:
        store.close()


def random_views(count: int, seed: int) -> list[str]:
    """Viewport bboxes (CRS84) over Paris, zoom ~14 to ~17 (0.004° to 0.04° wide)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        width = float(np.exp(rng.uniform(np.log(0.004), np.log(0.04))))
        height = width * 0.6
        x = float(rng.uniform(PARIS[0], PARIS[2] - width))
        y = float(rng.uniform(PARIS[1], PARIS[3] - height))
        out.append(f"{x:.5f},{y:.5f},{x + width:.5f},{y + height:.5f}")
    return out


def summary(times_ms: list[float], matched: list[int]) -> dict[str, Any]:
    """p50 / p95 / mean / max of the timings."""
    arr = np.asarray(times_ms)
    return {"requests": len(arr), "p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p95_ms": round(float(np.percentile(arr, 95)), 2), "mean_ms": round(float(arr.mean()), 2),
            "max_ms": round(float(arr.max()), 2), "median_matched": int(statistics.median(matched)),
            "goal_p95_ms": GOAL_P95_MS, "goal_met": bool(np.percentile(arr, 95) < GOAL_P95_MS)}


def bench_store_only(store_path: Path, views: list[str]) -> dict[str, Any]:
    """The floor: ``LayerStore.read(bbox, limit=100)`` alone for the same views (no HTTP, no JSON)."""
    from layers.projection import bbox_to_store

    store = open_store(store_path, create=False)
    try:
        boxes = []
        for text in views:
            x0, y0, x1, y1 = (float(v) for v in text.split(","))
            boxes.append(bbox_to_store((x0, y0, x1, y1), store.crs))
        for b in boxes[:5]:
            store.read("observations", bbox=b, limit=100)
        times, matched = [], []
        for b in boxes:
            t = time.perf_counter()
            frame = store.read("observations", bbox=b, limit=100)
            times.append((time.perf_counter() - t) * 1000)
            matched.append(len(frame))
    finally:
        store.close()
    return summary(times, matched)


def bench_test_client(config: dict[str, Any], urls: list[str]) -> dict[str, Any]:
    """Time the URLs through the Flask test client (after a few warm-up requests)."""
    from webmap.app import create_app

    client = create_app(config).test_client()
    for url in urls[:5]:
        client.get(url)
    times, matched = [], []
    for url in urls:
        t = time.perf_counter()
        res = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        if res.status_code != 200:
            raise RuntimeError(f"{url}: {res.status_code} {res.get_data(as_text=True)[:200]}")
        matched.append(int(json.loads(res.data)["numberMatched"]))
    return summary(times, matched)


def bench_http(config: dict[str, Any], urls: list[str], log: Path) -> dict[str, Any]:
    """Time the URLs over HTTP against a threaded werkzeug server in a child process."""
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", SERVER, json.dumps(config)], stdout=subprocess.PIPE,
                                stderr=err, text=True)
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for url in urls[:5]:
                conn.request("GET", url)
                conn.getresponse().read()
            times, matched = [], []
            for url in urls:
                t = time.perf_counter()
                conn.request("GET", url, headers={"Accept": "application/geo+json"})
                res = conn.getresponse()
                body = res.read()
                times.append((time.perf_counter() - t) * 1000)
                if res.status != 200:
                    raise RuntimeError(f"{url}: {res.status} {body[:200]!r}")
                matched.append(int(json.loads(body)["numberMatched"]))
            conn.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
    return summary(times, matched)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="observations in the store")
    parser.add_argument("--requests", type=int, default=300, help="random viewports")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--store", type=Path, default=None, help="reuse or keep this store")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp:
        store_path = args.store or Path(tmp) / "bench.gpkg"
        t = time.perf_counter()
        total = build_store(store_path, args.n, args.seed)
        build_s = time.perf_counter() - t
        print(f"store: {total} observations ({build_s:.1f} s)", flush=True)
        config = {"STORE": str(store_path), "SECRET_KEY": "bench",
                  "instance_path": str(Path(tmp) / "instance")}
        views = random_views(args.requests, args.seed)
        ogc = [f"/ogc/collections/observations/items?bbox={b}" for b in views]
        api = [f"/api/layers/observations/features?bbox={b}" for b in views]
        results: dict[str, Any] = {
            "store_observations": total, "store_build_s": round(build_s, 1), "seed": args.seed,
            "viewports": "random over Paris, 0.004° to 0.04° wide (zoom ~17 to ~14), default limit",
            "load_average_before": [round(v, 2) for v in os.getloadavg()],
            "store_read_limit100_only": bench_store_only(store_path, views),
            "ogc_items_test_client": bench_test_client(config, ogc),
            "ogc_items_http": bench_http(config, ogc, Path(tmp) / "server.log"),
            "api_features_test_client": bench_test_client(config, api),
            "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for key in ("store_read_limit100_only", "ogc_items_test_client", "ogc_items_http",
                "api_features_test_client"):
        r = results[key]
        print(f"{key:<26} p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  "
              f"(median {r['median_matched']} matched; goal p95 < {GOAL_P95_MS:g} ms: "
              f"{'atteint' if r['goal_met'] else 'non atteint'})")
    print(f"written {args.output}")
    return results


if __name__ == "__main__":
    main()
