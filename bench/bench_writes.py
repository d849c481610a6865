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
after a write p95 < 100 ms. The load average is written next to the figures; on a shared
machine the PATCH's CPU time (``time.process_time`` of the request, in-process) and the
bare commit floor tell what an idle machine would answer better than the wall time.

With ``--reference /work/main`` the same requests are also timed on another checkout (each
tree in its own process, rounds interleaved, the same store and load): the ratios
``ours / reference`` are in the results.

Usage::

    PYTHONPATH=. python bench/bench_writes.py [--sizes 100000 1000000] [--requests 300] \
        [--reference /work/main]
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
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from layers.importer import ImportOptions, import_file
from layers.schema import OBSERVATION_STATUSES
from layers.settings import REPO_ROOT
from layers.store import _gpkg, open_store

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


def _bare_commit(store_path: Path, uid: str) -> float:
    """The I/O floor of any write of a request: open, a one-row UPDATE committed, checkpoint, close.

    The row's ``updated_at`` is set to the current time, as the PATCH just did.

    Plain :mod:`sqlite3` on the same file with the store's settings (WAL, default
    ``synchronous``): what a PATCH costs without any Python work of ours.
    """
    t = time.perf_counter()
    con = sqlite3.connect(store_path, isolation_level=None, timeout=60)
    _gpkg.register_functions(con)  # the R-tree triggers call them
    con.execute("PRAGMA busy_timeout = 60000")
    con.execute("BEGIN IMMEDIATE")
    # a real change (SQLite writes nothing for a value set to itself): the stamp a PATCH sets
    con.execute('UPDATE "observations" SET updated_at = ? WHERE uid = ?',
                (time.strftime("%Y-%m-%dT%H:%M:%S"), uid))
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(PASSIVE)")
    con.close()
    return (time.perf_counter() - t) * 1000


def summary(times_ms: list[float]) -> dict[str, Any]:
    """p50 / p95 / mean / max of the timings, in ms."""
    arr = np.asarray(times_ms)
    return {"requests": len(arr), "p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p95_ms": round(float(np.percentile(arr, 95)), 2), "mean_ms": round(float(arr.mean()), 2),
            "max_ms": round(float(arr.max()), 2)}


def run_round(client: Any, store_path: Path, work: list[tuple[str, str, float, float, float, float]]
              ) -> dict[str, list[float]]:
    """Time one round: per constat a PATCH, the bare commit floor, a GET, lookups after and without write."""
    out: dict[str, list[float]] = {k: [] for k in ("patch", "patch_cpu", "floor", "get", "after_write",
                                                    "no_write")}
    for uid, status, lon, lat, lon2, lat2 in work:
        cpu = time.process_time()
        out["patch"].append(_patch(client, uid, status))
        out["patch_cpu"].append((time.process_time() - cpu) * 1000)
        out["floor"].append(_bare_commit(store_path, uid))
        t = time.perf_counter()
        client.get(f"/api/observations/{uid}")  # reference: a read of the same constat
        out["get"].append((time.perf_counter() - t) * 1000)
        out["after_write"].append(_lookup(client, lon, lat))  # right after the write
        out["no_write"].append(_lookup(client, lon2, lat2))  # nothing written since
    return out


def worker(store_path: Path, instance: Path) -> None:
    """Serve rounds read as JSON lines on stdin (see :func:`bench_store`); answer timings on stdout."""
    client = _client(store_path, instance)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        work = [tuple(w) for w in json.loads(line)]
        print(json.dumps(run_round(client, store_path, work)), flush=True)


def _start(tree: Path, store_path: Path, instance: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, __file__, "--worker", str(store_path), "--instance", str(instance)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tree)
    assert proc.stdout is not None
    json.loads(proc.stdout.readline())
    return proc


def _ask(proc: subprocess.Popen[str], work: list[Any]) -> dict[str, list[float]]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(work) + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def _report(t: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "patch_status": summary(t["patch"]),
        "patch_cpu_time": summary(t["patch_cpu"]),
        "get_same_constat": summary(t["get"]),
        "bare_sqlite_commit_floor": summary(t["floor"]),
        "patch_minus_floor_p50_ms": round(float(np.median(t["patch"]) - np.median(t["floor"])), 2),
        "lookup_after_write": summary(t["after_write"]),
        "lookup_without_write": summary(t["no_write"]),
        "ratio_lookup_after_vs_without_p50": round(
            float(np.median(t["after_write"]) / np.median(t["no_write"])), 3),
    }


def bench_store(store_path: Path, requests: int, seed: int, instance: Path, *, reference: Path | None,
                rounds: int = 10) -> dict[str, Any]:
    """PATCH and lookup latencies of this tree and of the ``reference`` tree, interleaved by rounds.

    Each tree runs in its own process (its own Flask app and lookup cache) on the same store;
    rounds alternate between them, so both see the same load.
    """
    uids = _sample_uids(store_path, 2 * requests + 10, seed)
    rng = np.random.default_rng(seed)
    statuses = [str(s) for s in rng.choice(OBSERVATION_STATUSES, size=len(uids))]
    lons, lats = rng.uniform(PARIS[0], PARIS[2], len(uids)), rng.uniform(PARIS[1], PARIS[3], len(uids))
    work = [(u, st, float(lons[i]), float(lats[i]), float(lons[-i - 1]), float(lats[-i - 1]))
            for i, (u, st) in enumerate(zip(uids, statuses, strict=True))]
    trees = {"ours": REPO_ROOT, **({"reference": reference} if reference is not None else {})}
    procs = {name: _start(tree, store_path, instance / name) for name, tree in trees.items()}
    times: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    load_before = [round(v, 2) for v in os.getloadavg()]
    try:
        for name, proc in procs.items():  # warm-up: index built, caches filled
            _ask(proc, work[:3] if name == "ours" else work[3:6])
        per = max(1, requests // rounds)
        for r in range(rounds):
            for k, (name, proc) in enumerate(procs.items()):
                start = 10 + (2 * r + k) * per
                for key, values in _ask(proc, work[start:start + per]).items():
                    times[name].setdefault(key, []).extend(values)
    finally:
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)
    out: dict[str, Any] = {name: _report(t) for name, t in times.items()}
    if reference is not None:
        out["reference_tree"] = str(reference)
        out["ratio_patch_ours_vs_reference_p50"] = round(
            float(np.median(times["ours"]["patch"]) / np.median(times["reference"]["patch"])), 3)
        out["ratio_patch_ours_vs_reference_p95"] = round(
            float(np.percentile(times["ours"]["patch"], 95)
                  / np.percentile(times["reference"]["patch"], 95)), 3)
        out["ratio_lookup_after_write_ours_vs_reference_p95"] = round(
            float(np.percentile(times["ours"]["after_write"], 95)
                  / np.percentile(times["reference"]["after_write"], 95)), 3)
    out["load_average_before"] = load_before
    out["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return out


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
    pstats.Stats(prof, stream=out).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(45)
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
    parser.add_argument("--reference", type=Path, default=None,
                        help="another checkout (e.g. the main branch) timed in the same run, interleaved")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--instance", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker, args.instance)
        return {}
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
            res = bench_store(path, args.requests, args.seed, Path(tmp) / str(n), reference=args.reference)
            res["constats"] = total
            results["stores"][str(n)] = res
            for name in ("ours", "reference"):
                if name in res:
                    r = res[name]
                    print(f"{n:>9} constats, {name:>9}: PATCH p50 {r['patch_status']['p50_ms']:.1f} ms "
                          f"p95 {r['patch_status']['p95_ms']:.1f} ms (CPU p50 "
                          f"{r['patch_cpu_time']['p50_ms']:.1f} p95 {r['patch_cpu_time']['p95_ms']:.1f} ms; "
                          f"bare SQLite commit p50 "
                          f"{r['bare_sqlite_commit_floor']['p50_ms']:.1f} ms); lookup after write p95 "
                          f"{r['lookup_after_write']['p95_ms']:.1f} ms, without write p95 "
                          f"{r['lookup_without_write']['p95_ms']:.1f} ms", flush=True)
            print(f"  load {res['load_average_before']} -> {res['load_average_after']}", flush=True)
        results.update({"python": platform.python_version(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {args.output}")
    return results


if __name__ == "__main__":
    main()
