"""HTTP load test of ``/ogc/collections/observations/items?bbox=`` with 1,000,000 observations.

Fills a PostGIS store (``--pg`` URL, schema ``bench_load``) with ``--n`` observations: the
real Dans Ma Rue sample of the demo (10,000 points in Paris) replicated with a seeded spatial
jitter (≤ ``--jitter`` m) and resampled in time — every copy is flagged ``simulated = true``
with ``source_dataset = dansmarue-paris-replique-bench``. Serves the app with gunicorn
(``--workers`` processes × ``--threads`` threads) on loopback and drives it with ``wrk``
(``--connections`` levels, 4 then 16 connections, ``--duration`` s each, 10 s per-request
timeout) over random Paris viewports (zoom ~14 to ~17), after a warm-up run. Bounded in
time and in requests.

After filling, the stores are optimised as ``qpv entrepot optimiser`` does (PostGIS: table
clustered on its GiST index, ANALYZE). The reference measured in the same run is the same
load against the same app and the same records in the embedded GeoPackage store (skip with
``--no-reference``). Answers are
checked against ``LayerStore.count`` for a sample of viewports before the load.

Writes ``bench/results/load.json``.

Usage::

    python bench/bench_load.py [--pg postgresql://…] [--n 1000000] [--duration 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.store import LayerStore, open_store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import random_views

DEMO = REPO_ROOT / "data" / "demo"
RESULTS = REPO_ROOT / "bench" / "results" / "load.json"
CACHE = REPO_ROOT / "bench" / "results" / "cache"
LUA = Path(__file__).resolve().parent / "wrk_paths.lua"
DATASET = "dansmarue-paris-replique-bench"
CHUNK = 100_000


def postgis_url(arg: str | None) -> str:
    """The database URL: ``--pg``, QPV_TEST_POSTGIS, or the loopback server of .ci/postgres.sh."""
    if arg:
        return arg
    if os.environ.get("QPV_TEST_POSTGIS"):
        return os.environ["QPV_TEST_POSTGIS"]
    out = subprocess.run(["bash", str(REPO_ROOT / ".ci" / "postgres.sh")], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def fill(store: LayerStore, n: int, *, seed: int, jitter_m: float, report_dir: Path) -> int:
    """Import the real sample and add jittered, time-resampled copies up to ``n`` observations."""
    have = store.count("observations")
    if have >= n:
        return have
    import_file(store, DEMO / "paris" / "qpv-paris-idf-2015.geojson",
                options=ImportOptions(mapping="qpv-paris", report_dir=report_dir))
    import_file(store, DEMO / "paris" / "dansmarue-2023-2024-echantillon.csv.gz",
                options=ImportOptions(mapping="dansmarue", report_dir=report_dir))
    real = store.read("observations", where={"source_dataset": "dansmarue-paris"})
    if real.empty:
        real = store.read("observations")
    real = real.sort_values("uid").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    t0 = real["observed_at"].min()
    span_days = max(1, int((real["observed_at"].max() - t0).days))
    x = real.geometry.x.to_numpy()
    y = real.geometry.y.to_numpy()
    need = n - store.count("observations")
    k = 0
    while need > 0:
        take = min(need, CHUNK)
        pick = rng.integers(0, len(real), size=take)
        part = real.iloc[pick].copy()
        angle = rng.uniform(0, 2 * np.pi, size=take)
        radius = jitter_m * np.sqrt(rng.uniform(0, 1, size=take))
        part = part.set_geometry(gpd.points_from_xy(x[pick] + radius * np.cos(angle),
                                                    y[pick] + radius * np.sin(angle)), crs=real.crs)
        part["uid"] = [f"bench-{k}-{i}" for i in range(take)]
        part["observed_at"] = t0 + pd.to_timedelta(rng.integers(0, span_days, size=take), unit="D")
        part["simulated"] = True
        part["source_dataset"] = DATASET
        part["source_id"] = None
        part["created_at"] = None
        part["updated_at"] = None
        store.write("observations", part.reset_index(drop=True), actor="bench")
        need -= take
        k += 1
        print(f"  {store.count('observations'):>9,} observations", flush=True)
    return store.count("observations")


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, *, workers: int, threads: int, instance: Path, log: Path
                 ) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn serving the app factory on ``url``; wait until it answers."""
    port = free_port()
    env = {**os.environ, "QPV_STORE": url, "QPV_SECRET_KEY": "bench", "QPV_INSTANCE_PATH": str(instance)}
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
           "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
           "--timeout", "60", "webmap.app:create_app()"]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/ogc/")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"gunicorn did not start: see {log}")


def check_answers(port: int, store: LayerStore, views: list[str]) -> int:
    """Compare ``numberMatched`` with the store's count for some viewports; return the checks."""
    from layers.projection import bbox_to_store

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for text in views:
        conn.request("GET", f"/ogc/collections/observations/items?bbox={text}&limit=10")
        res = conn.getresponse()
        body = json.loads(res.read())
        if res.status != 200:
            raise RuntimeError(f"{text}: HTTP {res.status}")
        b = bbox_to_store(tuple(float(v) for v in text.split(",")), store.crs)  # type: ignore[arg-type]
        expected = store.count("observations", bbox=b)
        if body["numberMatched"] != expected or len(body["features"]) != min(10, expected):
            raise RuntimeError(f"{text}: {body['numberMatched']} matched, store counts {expected}")
    conn.close()
    return len(views)


def run_wrk(port: int, paths: Path, *, duration: int, connections: int, threads: int) -> dict[str, Any]:
    """One bounded wrk run; the JSON line printed by the Lua script's ``done``."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
           "-s", str(LUA), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, env={**os.environ, "WRK_PATHS": str(paths)}, capture_output=True,
                         text=True, timeout=duration + 60, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    result["errors"] = sum(v for k, v in result.items() if k.startswith("errors_"))
    return result


def load(url: str, views: list[str], args: argparse.Namespace, tmp: Path, label: str) -> dict[str, Any]:
    """Serve ``url``, check a sample of answers, warm up, then one measured wrk run per
    concurrency level of ``--connections`` (the last one is the headline figure)."""
    paths = tmp / "paths.txt"
    paths.write_text("".join(f"/ogc/collections/observations/items?bbox={v}\n" for v in views))
    store = open_store(url, create=False)
    levels: dict[str, Any] = {}
    try:
        count = store.count("observations")
        proc, port = start_server(url, workers=args.workers, threads=args.threads,
                                  instance=tmp / f"instance-{label}", log=tmp / f"gunicorn-{label}.log")
        try:
            checked = check_answers(port, store, views[:20])
            run_wrk(port, paths, duration=5, connections=args.connections[-1], threads=2)  # warm-up
            for connections in args.connections:
                r = run_wrk(port, paths, duration=args.duration, connections=connections,
                            threads=min(2, connections))
                levels[f"{connections}_connections"] = r
                print(f"{label:<8} {count:>9,} obs  {connections:>3} conn.  {r['rps']:6.1f} req/s  "
                      f"p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
                      f"{r['requests']} requests, {r['errors']} errors", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        store.close()
    result: dict[str, Any] = dict(levels[f"{args.connections[-1]}_connections"])
    result.update(observations=count, answers_checked=checked, levels=levels)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Fill the stores, run the load, write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=None, help="PostgreSQL URL (default: QPV_TEST_POSTGIS or loopback)")
    parser.add_argument("--schema", default="bench_load")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--jitter", type=float, default=50.0, help="metres")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--views", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=30, help="seconds of measured load")
    parser.add_argument("--connections", type=lambda t: [int(v) for v in t.split(",")], default=[4, 16],
                        help="concurrency levels, comma-separated (default 4,16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process")
    parser.add_argument("--gpkg", type=Path, default=CACHE / "load.gpkg", help="reference store (kept)")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (or bash .ci/postgres.sh as root)")
    base = postgis_url(args.pg)
    url = f"{base}{'&' if '?' in base else '?'}schema={args.schema}"
    views = random_views(args.views, args.seed)
    results: dict[str, Any] = {
        "endpoint": "/ogc/collections/observations/items?bbox= (default limit, GeoJSON)",
        "data": f"{args.n:,} observations: the real Dans Ma Rue sample (10,000 Paris points) replicated "
                f"with ≤ {args.jitter:g} m jitter, simulated = true, source_dataset = {DATASET}",
        "viewports": f"{args.views} random Paris viewports, 0.004° to 0.04° wide (zoom ~17 to ~14)",
        "load": f"wrk, {'/'.join(map(str, args.connections))} connections, {args.duration} s each "
                "after a 5 s warm-up, 10 s timeout; headline figures at the last level",
        "server": f"gunicorn {args.workers} processes × {args.threads} threads (gthread), loopback",
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmpdir:
        tmp = Path(tmpdir)
        t = time.perf_counter()
        with open_store(url) as store:
            fill(store, args.n, seed=args.seed, jitter_m=args.jitter, report_dir=tmp / "rapports")
            results["postgis_fill_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            store.optimize(["observations"])  # what « qpv entrepot optimiser » does after an import
            results["postgis_optimize_s"] = round(time.perf_counter() - t, 1)
        results["postgis"] = load(url, views, args, tmp, "postgis")
        if not args.no_reference:
            args.gpkg.parent.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            with open_store(args.gpkg) as store:
                fill(store, args.n, seed=args.seed, jitter_m=args.jitter, report_dir=tmp / "rapports")
                store.optimize(["observations"])
            results["gpkg_fill_s"] = round(time.perf_counter() - t, 1)
            results["geopackage_reference"] = load(str(args.gpkg), views, args, tmp, "gpkg")
            ref = results["geopackage_reference"]
            pg = results["postgis"]
            results["ratio_rps_postgis_vs_gpkg"] = round(pg["rps"] / ref["rps"], 2)
            results["ratio_p95_postgis_vs_gpkg"] = round(pg["p95_ms"] / ref["p95_ms"], 2)
    results.update(python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count(),
                   load_average_after=[round(v, 2) for v in os.getloadavg()],
                   date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {args.output}")
    return results


if __name__ == "__main__":
    main()
