"""Sixteen concurrent writers through the web API and the ``qpv import`` command, on both backends.

A real threaded werkzeug server serves the app on a store from ``store_url``; 16 HTTP
clients (threads), then a pool of client processes, each logged in as a technician, post
observations (some uids sent by every client, some retried) and change statuses at the
same time. Then 16 ``qpv import`` processes import overlapping slices of the real Dans Ma
Rue file. Nothing may be lost or duplicated, histories stay ordered, and no writer fails
on a locked database.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from layers.settings import REPO_ROOT
from layers.store import open_store
from tests.webmap._server import add_technicien, app_config, login, serve_in_thread
from webmap.app import create_app

pytestmark = pytest.mark.timeout(300)
CLIENTS = 16
OWN = 3  # observations per client
RETRIED = 1  # of which sent twice
SHARED = [f"partage-{i:03d}" for i in range(2)]  # sent by every client
ROUNDS = 1  # status changes per client and shared record (more rounds: tests/layers)
STATUSES = ("transmis", "en cours", "traité", "clos non traité")
PROCESSES = 4
IMPORTERS = 16
SLICE, STEP = 60, 30  # rows per imported file, offset between two files (overlap: half)


def observation(uid: str, i: int) -> dict[str, Any]:
    """A JSON observation near the Paris 20e QPV."""
    return {"uid": uid, "lon": 2.41 + 0.0001 * (i % 50), "lat": 48.86 + 0.0001 * (i // 50),
            "theme": "propreté", "description": f"constat {uid}"}


def post(http: requests.Session, base: str, uid: str, i: int) -> int:
    """POST one observation; return the HTTP status (201 created, 200 already there)."""
    res = http.post(f"{base}/api/observations", json=observation(uid, i), timeout=120)
    if res.status_code not in (200, 201):
        raise AssertionError(f"{uid}: {res.status_code} {res.text[:300]}")
    if res.status_code == 200 and res.json()["record"]["properties"]["uid"] != uid:
        raise AssertionError(f"{uid}: another record sent back")
    return res.status_code


def client_session(base: str, client: int) -> dict[str, list[Any]]:
    """One technician: own observations (some retried), the shared ones, then status changes."""
    out: dict[str, list[Any]] = {"created": [], "again": [], "comments": []}
    with requests.Session() as http:
        login(http, base)
        own = [f"c{client:02d}-obs-{i:03d}" for i in range(OWN)]
        for i, uid in enumerate([*own, *SHARED, *own[:RETRIED]]):
            (out["created"] if post(http, base, uid, client * 10 + i) == 201 else out["again"]).append(uid)
        for r in range(ROUNDS):
            for uid in SHARED:
                status = STATUSES[(client + r) % len(STATUSES)]
                comment = f"{uid}|c{client}-r{r}|{status}"
                res = http.patch(f"{base}/api/observations/{uid}",
                                 json={"status": status, "comment": comment}, timeout=120)
                if res.status_code != 200:
                    raise AssertionError(f"PATCH {uid}: {res.status_code} {res.text[:300]}")
                out["comments"].append(comment)
    return out


def process_client(base: str, worker: int) -> list[int]:
    """A client in its own process: its observations, one retried, and the first shared uid."""
    with requests.Session() as http:
        login(http, base)
        uids = [f"p{worker:02d}-obs-{i:03d}" for i in range(OWN)]
        return [post(http, base, uid, 500 + i) for i, uid in enumerate([*uids, uids[0], SHARED[0]])]


@pytest.fixture
def site(store_url: str, tmp_path: Path) -> Any:
    """A threaded server on an empty store, with a technician account; yields its base URL."""
    open_store(store_url).close()
    app = create_app(app_config(store_url, tmp_path))
    add_technicien(app)
    with serve_in_thread(app) as base:
        yield base


def test_sixteen_http_clients(site: str, store_url: str) -> None:
    """16 threads then a process pool: exact counts, one record per uid, ordered histories."""
    base = site
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda c: client_session(base, c), range(CLIENTS), timeout=240))
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(PROCESSES, mp_context=ctx) as procs:
        codes = list(procs.map(process_client, [base] * PROCESSES, range(PROCESSES), timeout=240))

    created = Counter(u for r in results for u in r["created"])
    assert max(created.values()) == 1
    assert {u for u in created if u.startswith("partage")} == set(SHARED)
    again = Counter(u for r in results for u in r["again"])
    assert sum(again.values()) == CLIENTS * RETRIED + (CLIENTS - 1) * len(SHARED)
    assert all(c.count(201) == OWN and c.count(200) == 2 for c in codes)
    expected = CLIENTS * OWN + PROCESSES * OWN + len(SHARED)
    with open_store(store_url, create=False) as store:
        obs = store.read("observations")
        assert len(obs) == expected and obs["uid"].is_unique
        assert next(i.count for i in store.layers() if i.name == "observations") == expected
        history = store.read_children("observations", "historique")
        records = obs.set_index("uid")["status"]
    per_uid = history.groupby("parent_uid").size()
    assert (per_uid.drop(SHARED) == 1).all() and len(per_uid) == expected

    sent = {c for r in results for c in r["comments"]}
    with requests.Session() as http:
        login(http, base)
        for uid in SHARED:
            rows = http.get(f"{base}/api/observations/{uid}/history", timeout=60).json()
            stamps = pd.to_datetime([row["changed_at"] for row in rows])
            assert stamps.is_monotonic_increasing
            statuses = [row["status"] for row in rows]
            assert all(a != b for a, b in itertools.pairwise(statuses)), statuses
            assert statuses[-1] == records[uid]
            comments = [row["comment"] for row in rows[1:]]
            assert len(set(comments)) == len(comments) and set(comments) <= sent
            assert all(c.rsplit("|", 1)[1] == s for c, s in zip(comments, statuses[1:], strict=True))
            assert all(row["changed_by"] for row in rows[1:])


# -- 16 concurrent ``qpv import`` ------------------------------------------------------------
def dmr_slices(shared_data: Path, folder: Path) -> tuple[list[Path], set[str]]:
    """Overlapping slices of the real Dans Ma Rue file, every other one in reverse order (the
    same uids locked in opposite orders); return their paths and the union of ids."""
    frame = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv", dtype=str,
                        keep_default_na=False)
    paths, ids = [], set()
    for i in range(IMPORTERS):
        part = frame.iloc[i * STEP: i * STEP + SLICE]
        part = part.iloc[::-1] if i % 2 else part
        path = folder / f"dansmarue-{i:02d}.csv"
        part.to_csv(path, index=False)
        paths.append(path)
        ids |= set(part["id_dmr"])
    return paths, ids


def test_sixteen_concurrent_cli_imports(store_url: str, shared_data: Path, tmp_path: Path) -> None:
    """16 ``qpv import`` processes on overlapping slices: the store holds exactly their union,
    the import log one consistent entry per run, and no run failed on a locked database."""
    paths, ids = dmr_slices(shared_data, tmp_path)
    open_store(store_url).close()  # qpv initialiser
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "webmap.cli", "--entrepot", store_url, "importer", "observations",
         str(path), "-m", "dansmarue", "--rapport", str(tmp_path / f"rapports-{i}")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env,
    ) for i, path in enumerate(paths)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            outputs.append((proc.returncode, out, err))
    finally:  # a run past its deadline fails the test: none is left running
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    failed = [(code, err[-500:]) for code, _out, err in outputs if code != 0]
    assert failed == []
    assert not any("locked" in err.lower() for _code, _out, err in outputs)
    with open_store(store_url, create=False) as store:
        obs = store.read("observations")
        log = store.imports()
    assert len(obs) == len(ids) and obs["uid"].is_unique
    assert len(log) == IMPORTERS
    assert (log["n_read"] == SLICE).all()
    assert (log["n_inserted"] + log["n_existing"] + log["n_rejected"] == log["n_read"]).all()
    assert log["n_rejected"].sum() == 0
    assert log["n_inserted"].sum() == len(ids)
    assert log["n_existing"].sum() == IMPORTERS * SLICE - len(ids)


# -- a writer held up by the GeoPackage lock ---------------------------------------------------
def test_cli_import_waits_for_the_geopackage_lock(tmp_path: Path, shared_data: Path) -> None:
    """An import started while another connection holds the write lock waits, then succeeds."""
    import sqlite3
    import threading
    import time

    from click.testing import CliRunner

    from webmap.cli import main

    url = str(tmp_path / "verrou.gpkg")
    open_store(url).close()
    paths, _ids = dmr_slices(shared_data, tmp_path)
    holder = sqlite3.connect(url, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer, for three seconds
    release = threading.Timer(3.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        t0 = time.monotonic()
        result = CliRunner().invoke(main, ["--entrepot", url, "importer", "observations", str(paths[0]),
                                           "-m", "dansmarue", "--rapport", str(tmp_path / "r")])
        waited = time.monotonic() - t0
    finally:
        release.join()
        holder.close()
    assert result.exit_code == 0, result.output
    assert f"{SLICE} ajoutées" in result.output and waited >= 2.5


def test_lock_timeout_is_a_french_error(store_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """When the minute of waiting is over: a 503 with Retry-After from the API, a French
    message and status 1 from the command line (never a traceback)."""
    import sqlite3

    from click.testing import CliRunner

    from tests.webmap.conftest import logged_client
    from webmap.cli import main

    def locked(*_args: Any, **_kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    open_store(store_url).close()
    app = create_app({**app_config(store_url, tmp_path), "TESTING": True})
    add_technicien(app)
    from webmap import store as store_module

    real_get = store_module.get_store

    class Locked:
        def __getattr__(self, name: str) -> Any:
            return locked if name == "write" else getattr(real_get(), name)

    monkeypatch.setattr("webmap.api._store", Locked)
    res = logged_client(app, "technicien").post("/api/observations", json=observation("verrou-01", 0))
    assert res.status_code == 503 and res.headers["Retry-After"] == "5"
    assert "Entrepôt occupé" in res.json["erreur"]
    monkeypatch.setattr("layers.importer.import_file", locked)
    out = CliRunner().invoke(main, ["--entrepot", store_url, "importer", "observations", "x.csv"])
    assert out.exit_code == 1 and "verrouillé" in out.output and "Traceback" not in out.output
