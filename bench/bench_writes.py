"""Latency of a constat's status change (``PATCH``) and of ``/api/lookup`` right after a write.

Through the Flask test client, logged in as a technician (organisation « ville », scope
« territoire »): ``PATCH /api/observations/<uid>`` with a status change on random constats
of a store holding the real Dans Ma Rue sample of the demo (10,000 points in Paris, with
the real Paris QPV perimeters) completed up to ``--n`` constats by time-resampled copies
flagged ``simulated = true`` (``source_dataset = dansmarue-paris-reechantillonne``), bulk
inserted once; the stores are cached under ``var/bench/`` (never committed). Then
``GET /api/lookup?lon=&lat=`` at random Paris points, alternately right after a PATCH and
without any write in between (the reference measured in the same run, interleaved).

Targets (issue 18): PATCH p95 < 15 ms idle, < 20 ms with 1,000,000 constats; lookup right
after a write p95 < 100 ms. The load average is written next to the figures.

Usage::

    PYTHONPATH=. python bench/bench_writes.py [--sizes 100000 1000000] [--requests 300]
    PYTHONPATH=. python bench/bench_writes.py --profile 100000   # cProfile of the PATCH
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layers.importer import ImportOptions, import_file
from layers.schema import OBSERVATION_STATUSES
from layers.settings import REPO_ROOT
from layers.store import open_store

DEMO = REPO_ROOT / "data" / "demo"
CACHE = REPO_ROOT / "var" / "bench"
RESULTS = REPO_ROOT / "bench" / "results" / "writes.json"
PARIS = (2.255, 48.817, 2.415, 48.900)  # lon/lat extent of Paris intra-muros
LOGIN = "theo"
PASSWORD = "mot-de-passe-solide"
TARGETS_MS = {"patch_p95_idle": 15.0, "patch_p95_1m": 20.0, "lookup_after_write_p95": 100.0}
SIMULATED_SOURCE = "dansmarue-paris-reechantillonne"


def build_store(path: Path, n: int, *, seed: int = 2025) -> int:
    """Import the real sample and the Paris QPV, then bulk-insert simulated copies up to ``n``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = open_store(path)
    try:
        have = store.count("observations")
        if have >= n:
            return have
        if not have:
            report_dir = path.parent / "rapports"
            import_file(store, DEMO / "paris" / "qpv-paris-idf-2015.geojson",
                        options=ImportOptions(mapping="qpv-paris", report_dir=report_dir))
            import_file(store, DEMO / "paris" / "dansmarue-2023-2024-echantillon.csv.gz",
                        options=ImportOptions(mapping="dansmarue", report_dir=report_dir))
        real = store.read("observations", where={"simulated": False})
        rng = np.random.default_rng(seed)
        t0 = real["observed_at"].min()
        span_days = max(1, int((real["observed_at"].max() - t0).days))
        k = store.count("observations", where={"simulated": True})
        need = n - store.count("observations")
        while need > 0:
            take = min(need, 50_000)
            part = real.sample(n=take, replace=True, random_state=int(rng.integers(0, 2**31))).copy()
            part["uid"] = [f"bench-{k + i}" for i in range(take)]
            part["observed_at"] = t0 + pd.to_timedelta(rng.integers(0, span_days, size=take), unit="D")
            part["simulated"] = True
            part["source_dataset"] = SIMULATED_SOURCE
            part["source_id"] = None
            part["created_at"] = None
            part["updated_at"] = None
            store.write("observations", part.reset_index(drop=True), actor="bench")
            k += take
            need -= take
            print(f"  {path.name}: {store.count('observations')} constats", flush=True)
        return store.count("observations")
    finally:
        store.close()


def _client(store_path: Path, instance: Path) -> Any:
    from webmap import users
    from webmap.app import create_app
    from webmap.sessions import session_fields

    app = create_app({"STORE": str(store_path), "SECRET_KEY": "bench", "instance_path": str(instance),
                      "ORGANISATION_SCOPE": {"ville": "territoire"}})
    if LOGIN not in {u.login for u in users.list_users(app.config["USERS_DB"])}:
        users.add_user(app.config["USERS_DB"], LOGIN, PASSWORD, role="technicien", organisation="ville")
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields(LOGIN, app.config["USERS_DB"]))
        sess["csrf_token"] = "jeton"
    client.environ_base["HTTP_X_CSRFTOKEN"] = "jeton"
    return client


def _sample_uids(store_path: Path, count: int, seed: int) -> list[str]:
    store = open_store(store_path, create=False)
    try:
        total = store.count("observations")
        rng = np.random.default_rng(seed)
        offsets = sorted(int(v) for v in rng.choice(total, size=min(count, total), replace=False))
        uids = [str(store.read("observations", limit=1, offset=o)["uid"].iloc[0]) for o in offsets]
    finally:
        store.close()
    rng.shuffle(uids)
    return uids


def _patch(client: Any, uid: str, status: str) -> float:
    t = time.perf_counter()
    res = client.patch(f"/api/observations/{uid}", json={"status": status})
    ms = (time.perf_counter() - t) * 1000
    if res.status_code != 200:
        raise RuntimeError(f"PATCH {uid}: {res.status_code} {res.get_data(as_text=True)[:200]}")
    return ms


def _lookup(client: Any, lon: float, lat: float) -> float:
    t = time.perf_counter()
    res = client.get(f"/api/lookup?lon={lon:.6f}&lat={lat:.6f}")
    ms = (time.perf_counter() - t) * 1000
    if res.status_code != 200:
        raise RuntimeError(f"lookup: {res.status_code} {res.get_data(as_text=True)[:200]}")
    return ms


def summary(times_ms: list[float]) -> dict[str, Any]:
    """p50 / p95 / mean / max of the timings, in ms."""
    arr = np.asarray(times_ms)
    return {"requests": len(arr), "p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p95_ms": round(float(np.percentile(arr, 95)), 2), "mean_ms": round(float(arr.mean()), 2),
            "max_ms": round(float(arr.max()), 2)}


def bench_store(store_path: Path, requests: int, seed: int, instance: Path) -> dict[str, Any]:
    """PATCH latency, and lookup latency right after a PATCH vs with no write between."""
    client = _client(store_path, instance)
    uids = _sample_uids(store_path, requests, seed)
    rng = np.random.default_rng(seed)
    statuses = [str(s) for s in rng.choice(OBSERVATION_STATUSES, size=len(uids))]
    points = list(zip(rng.uniform(PARIS[0], PARIS[2], len(uids)), rng.uniform(PARIS[1], PARIS[3], len(uids)),
                      strict=True))
    for uid, status in zip(uids[:5], statuses[:5], strict=True):  # warm-up (index, caches)
        _patch(client, uid, status)
        _lookup(client, *points[0])
    load_before = [round(v, 2) for v in os.getloadavg()]
    patch_ms, get_ms, after_write, no_write = [], [], [], []
    for i, (uid, status) in enumerate(zip(uids, statuses, strict=True)):
        patch_ms.append(_patch(client, uid, status))
        t = time.perf_counter()
        client.get(f"/api/observations/{uid}")  # reference: a read of the same constat
        get_ms.append((time.perf_counter() - t) * 1000)
        after_write.append(_lookup(client, *points[i]))  # right after the write
        no_write.append(_lookup(client, *points[(i + 1) % len(points)]))  # nothing written since
    return {
        "patch_status": summary(patch_ms),
        "get_same_constat_reference": summary(get_ms),
        "ratio_patch_vs_get_p50": round(float(np.median(patch_ms) / np.median(get_ms)), 3),
        "lookup_after_write": summary(after_write),
        "lookup_without_write": summary(no_write),
        "ratio_lookup_after_vs_without_p50": round(float(np.median(after_write) / np.median(no_write)), 3),
        "load_average_before": load_before,
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }


def profile_patch(store_path: Path, requests: int, seed: int, instance: Path) -> str:
    """cProfile of ``requests`` PATCH through the test client: the top entries by cumulative time."""
    client = _client(store_path, instance)
    uids = _sample_uids(store_path, requests + 5, seed)
    for uid in uids[:5]:
        _patch(client, uid, "transmis")
    prof = cProfile.Profile()
    prof.enable()
    for i, uid in enumerate(uids[5:]):
        _patch(client, uid, OBSERVATION_STATUSES[i % len(OBSERVATION_STATUSES)])
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(45)
    return out.getvalue()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--profile", type=int, default=None, metavar="N",
                        help="only profile the PATCH on the store of N constats")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_writes_") as tmp:
        if args.profile:
            path = CACHE / f"writes-{args.profile}.gpkg"
            build_store(path, args.profile)
            print(profile_patch(path, min(args.requests, 100), args.seed, Path(tmp)))
            return {}
        results: dict[str, Any] = {"seed": args.seed, "targets_ms": TARGETS_MS, "stores": {}}
        for n in args.sizes:
            path = CACHE / f"writes-{n}.gpkg"
            t = time.perf_counter()
            total = build_store(path, n)
            print(f"store: {total} constats ({time.perf_counter() - t:.1f} s)", flush=True)
            res = bench_store(path, args.requests, args.seed, Path(tmp) / str(n))
            res["constats"] = total
            results["stores"][str(n)] = res
            print(f"{n:>9} constats: PATCH p50 {res['patch_status']['p50_ms']:.1f} ms "
                  f"p95 {res['patch_status']['p95_ms']:.1f} ms; lookup after write p95 "
                  f"{res['lookup_after_write']['p95_ms']:.1f} ms, without write p95 "
                  f"{res['lookup_without_write']['p95_ms']:.1f} ms (load {res['load_average_before']})",
                  flush=True)
        results.update({"python": platform.python_version(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {args.output}")
    return results


if __name__ == "__main__":
    main()
