"""An import killed with SIGKILL in the middle of its write leaves the store as it was.

``qpv -v import`` runs in a subprocess on 60,000 real addresses of the Paris BAN; the
importer logs each block it writes inside its one transaction, and the test kills the
process once half of them are written. The store must then hold exactly what it held
before (counts, import log, and a content hash of every layer and child table), open and
accept writes at once, and a second run of the same import must succeed with exact
accounting. Both backends.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import shapely

from layers.importer import ImportOptions, import_file
from layers.schema import LAYERS
from layers.settings import REPO_ROOT
from layers.store import LayerStore, open_store
from tests.layers.conftest import snapshot

pytestmark = pytest.mark.timeout(240)
N_ROWS = 60_000  # addresses imported (six blocks of layers.importer.WRITE_BLOCK)
N_EARLIER = 2_000  # of which already imported before the crash
#: deadline for the import to log half of its write (seconds): generous, the machine may be busy
DEADLINE_S = 180.0


def ban_slice(shared_data: Path, folder: Path, n: int) -> Path:
    """The header and first ``n`` rows of the real Paris BAN, as a plain CSV."""
    out = folder / f"adresses-75-{n}.csv"
    with gzip.open(shared_data / "paris" / "adresses-75.csv.gz", "rt", encoding="utf-8") as src, \
            out.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > n:
                break
            dst.write(line)
    return out


def content_hash(store: LayerStore) -> dict[str, str]:
    """SHA-256 of every layer (attributes and geometry, by uid), child table and the import log."""
    digests = {}
    for name, schema in LAYERS.items():
        frame = store.read(name)
        h = hashlib.sha256()
        if len(frame):
            frame = frame.sort_values("uid").reset_index(drop=True)
            attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name)).astype("string")
            h.update(attrs.fillna("∅").to_csv(index=False).encode())
            h.update(b"".join(shapely.to_wkb(frame.geometry.to_numpy(), output_dimension=2)))
        digests[name] = h.hexdigest()
        for child in schema.children:
            rows = store.read_children(name, child.name)
            rows = rows.drop(columns=["created_at"], errors="ignore").astype("string").fillna("∅")
            digests[f"{name}.{child.name}"] = hashlib.sha256(
                rows.sort_values(list(rows.columns)).to_csv(index=False).encode()).hexdigest()
    digests["imports"] = hashlib.sha256(store.imports().astype("string").fillna("∅")
                                        .to_csv(index=False).encode()).hexdigest()
    return digests


def kill_import_halfway(store_url: str, source: Path, folder: Path) -> list[str]:
    """Run ``qpv -v import`` and SIGKILL it once half the records are written; return its log."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "webmap.cli", "-v", "--entrepot", store_url, "importer", "adresses",
         str(source), "-m", "ban", "--rapport", str(folder / "rapports")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    lines: list[str] = []
    # no progress line by the deadline: the import is stopped and the test fails saying so
    late = threading.Event()
    watchdog = threading.Timer(DEADLINE_S, lambda: (late.set(), proc.kill()))
    watchdog.start()
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            match = re.search(r"enregistrement .* : (\d+)/(\d+) lignes", line)
            if match and int(match[1]) >= int(match[2]) // 2:
                proc.send_signal(signal.SIGKILL)
                break
        else:
            if late.is_set():
                pytest.fail(f"the import had not written half of its records after {DEADLINE_S:.0f} s:\n"
                            + "".join(lines[-20:]))
            pytest.fail("the import ended before it could be killed:\n" + "".join(lines[-20:]))
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return lines


def leftovers(store_url: str) -> list[str]:
    """PostGIS: sessions still busy on the schema, temporary COPY tables still present.

    The server notices the dead client and rolls its transaction back; wait for that (other
    tests may create short-lived COPY tables of their own: both must be gone at one moment).
    """
    import psycopg

    base, _, query = store_url.partition("?")
    schema = dict(p.split("=", 1) for p in query.split("&"))["schema"]
    deadline = time.monotonic() + 60
    with psycopg.connect(base, autocommit=True) as con:
        while True:
            busy = con.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state <> 'idle' AND query ILIKE %s",
                (f"%{schema}%",)).fetchall()
            stray = con.execute(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname LIKE 'pg_temp%%' "
                "AND c.relname LIKE '\\_qpv\\_in\\_%%'").fetchall()
            if (not busy and not stray) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    return [f"session {pid} ({state})" for pid, state in busy] + [s for (s,) in stray]


def test_import_killed_halfway_leaves_store_unchanged(store_url: str, backend: str,
                                                     shared_data: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of the write: store unchanged, usable, and the import reruns."""
    source = ban_slice(shared_data, tmp_path, N_ROWS)
    earlier = ban_slice(shared_data, tmp_path, N_EARLIER)
    with open_store(store_url) as store:
        import_file(store, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                    options=ImportOptions(mapping="qpv-paris"))
        import_file(store, earlier, options=ImportOptions(mapping="ban"))
        before, before_hash = snapshot(store), content_hash(store)
    assert dict(before)["adresses"] == N_EARLIER

    log = kill_import_halfway(store_url, source, tmp_path)
    assert any(f"{N_ROWS // 2}/{N_ROWS} lignes" in line for line in log), log[-5:]
    if backend == "postgis":
        assert leftovers(store_url) == []

    t0 = time.monotonic()
    with open_store(store_url, create=False) as store:
        assert snapshot(store) == before
        assert content_hash(store) == before_hash
        store.set_meta("apres-arret", "oui")  # writable at once: no lock left behind
    assert time.monotonic() - t0 < 20

    with open_store(store_url, create=False) as store:
        report = import_file(store, source, options=ImportOptions(mapping="ban", actor="reprise"))
        assert (report.n_read, report.n_inserted, report.n_existing, report.n_rejected) == (
            N_ROWS, N_ROWS - N_EARLIER, N_EARLIER, 0)
        after = dict(snapshot(store))
        assert after["adresses"] == N_ROWS
        assert after["imports"] == dict(before)["imports"] + 1
        assert store.read("adresses", limit=5)["uid"].notna().all()
        last = store.imports().iloc[-1]
        assert (last["n_read"], last["n_inserted"], last["n_existing"]) == (
            N_ROWS, N_ROWS - N_EARLIER, N_EARLIER)
