"""Sixteen concurrent writers on one store, as threads and as processes, on both backends.

What must hold afterwards: every record written once (no loss, no duplicate uid even when
several writers send the same uid), status histories in commit order with no lost
transition, ``resolved_at`` consistent with the final status, and child rows idempotent.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from layers.store import LayerStore, open_store

WRITERS = 16
OWN = 12  # distinct observations per writer
SHARED = [f"commun-{i:04d}" for i in range(6)]  # sent by every writer: one record each
ROUNDS = 2  # status changes per writer and record
CYCLE = {"nouveau": "transmis", "transmis": "en cours", "en cours": "traité",
         "traité": "clos non traité", "clos non traité": "en cours"}
CLOSED = ("traité", "clos non traité")
STATUSES = tuple(CYCLE)

pytestmark = pytest.mark.timeout(240)


# -- work done by each writer (module level: picklable for the process pool) ------------------
def observations(uids: list[str], writer: int) -> gpd.GeoDataFrame:
    """Valid observations with these uids, around Paris 20e (EPSG:2154)."""
    n = len(uids)
    return gpd.GeoDataFrame({
        "uid": uids,
        "observed_at": [f"2024-03-{1 + i % 28:02d}T10:{writer:02d}:00" for i in range(n)],
        "theme": ["propreté"] * n,
        "status": ["nouveau"] * n,
        "source": ["diagnostic en marchant"] * n,
        "description": [f"écrit par {writer}"] * n,
    }, geometry=[Point(655_000 + 10 * writer, 6_862_000 + 3 * i) for i in range(n)], crs="EPSG:2154")


def batches_of(writer: int) -> list[list[str]]:
    """The three batches of a writer: its own uids and the shared ones, two of them twice."""
    own = [f"w{writer:02d}-{i:04d}" for i in range(OWN)]
    shared = SHARED[writer % len(SHARED):] + SHARED[:writer % len(SHARED)]  # varied order
    return [own[:4] + shared[:3], own[4:8] + shared[3:], own[8:] + shared[:2]]


def write_observations(url: str, writer: int, store: LayerStore | None = None
                       ) -> tuple[list[str], list[str]]:
    """Write :func:`batches_of` ``writer``; return (inserted, existing)."""
    batches = batches_of(writer)
    handle = store or open_store(url, create=False)
    inserted: list[str] = []
    existing: list[str] = []
    try:
        for batch in batches:
            result = handle.write("observations", observations(batch, writer), actor=f"w{writer}")
            inserted += result.inserted
            existing += result.existing
    finally:
        if store is None:
            handle.close()
    return inserted, existing


def cycle_status(url: str, writer: int, uids: list[str]) -> list[str]:
    """Read the status and move it one step along :data:`CYCLE`, in one transaction, ROUNDS times.

    Every call is a real transition, so each one must appear in the history; the comment
    names the status read, to check that transitions chain in commit order.
    """
    comments = []
    with open_store(url, create=False) as store:
        for i in range(ROUNDS):
            for uid in uids:
                with store.transaction():
                    current = str(store.get("observations", uid)["status"].iloc[0])
                    comment = f"{uid}-w{writer}-r{i}|{current}>{CYCLE[current]}"
                    store.update("observations", uid, {"status": CYCLE[current]},
                                 actor=f"w{writer}", comment=comment)
                comments.append(comment)
    return comments


def set_status(url: str, writer: int, uids: list[str]) -> list[str]:
    """Set statuses blindly (as the PATCH endpoint does); return the comments sent."""
    comments = []
    with open_store(url, create=False) as store:
        for i in range(ROUNDS):
            for uid in uids:
                status = STATUSES[(writer + i) % len(STATUSES)]
                comment = f"{uid}-w{writer}-r{i}|{status}"
                store.update("observations", uid, {"status": status}, actor=f"w{writer}",
                             comment=comment)
                comments.append(comment)
    return comments


def add_events(url: str, writer: int, parents: list[str]) -> list[str]:
    """Add the dumping events every writer knows of, plus one of its own; return inserted uids."""
    rows = [{"parent_uid": p, "observed_at": f"2024-05-{1 + d:02d}T08:00:00", "volume_m3": 1.5 + d}
            for p in parents for d in range(5)]
    rows.append({"parent_uid": parents[writer % len(parents)],
                 "observed_at": f"2024-06-01T{writer:02d}:00:00", "volume_m3": 2.0})
    with open_store(url, create=False) as store:
        return store.add_children("points_noirs", "evenements", pd.DataFrame(rows),
                                  actor=f"w{writer}").inserted


# -- helpers ---------------------------------------------------------------------------------
@pytest.fixture
def url(store_url: str) -> str:
    """The store URL, created once before the writers start (``qpv initialiser``)."""
    open_store(store_url).close()
    return store_url


def claims_thread_safety(store: LayerStore) -> bool:
    """Whether one handle may be shared between threads (``thread_safe``; by default yes:
    both backends serialise the calls on a handle with a lock)."""
    return bool(getattr(store, "thread_safe", True))


def executor(kind: str) -> Executor:
    """16 threads, or 16 processes from a forkserver (never fork() after threads)."""
    if kind == "threads":
        return ThreadPoolExecutor(max_workers=WRITERS)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(max_workers=WRITERS, mp_context=ctx)


def run_all(kind: str, fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``fn(*a)`` for every ``a`` at once; exceptions propagate."""
    with executor(kind) as pool:
        futures = [pool.submit(fn, *a) for a in args]
        return [f.result(timeout=180) for f in futures]


@pytest.fixture
def handle(url: str) -> Iterator[LayerStore]:
    """A handle on the store for the checks."""
    with open_store(url, create=False) as store:
        yield store


def check_observations(store: LayerStore, results: list[tuple[list[str], list[str]]]) -> None:
    """Exact counts, unique uids, one creation entry per record, each uid inserted once."""
    expected = {f"w{w:02d}-{i:04d}" for w in range(WRITERS) for i in range(OWN)} | set(SHARED)
    stored = store.read("observations")
    assert len(stored) == len(expected) == WRITERS * OWN + len(SHARED)
    assert not stored["uid"].duplicated().any()
    assert set(stored["uid"]) == expected
    inserted = Counter(u for ins, _ in results for u in ins)
    assert set(inserted) == expected and max(inserted.values()) == 1
    sent = Counter(u for w in range(WRITERS) for batch in batches_of(w) for u in batch)
    existing = Counter(u for _, ex in results for u in ex)
    assert existing == {u: n - 1 for u, n in sent.items() if n > 1}
    history = store.read_children("observations", "historique")
    assert Counter(history["parent_uid"]) == dict.fromkeys(expected, 1)
    assert info_count(store, "observations") == len(expected)


def info_count(store: LayerStore, layer: str) -> int:
    """The count of ``layer`` in :meth:`LayerStore.layers`."""
    return next(i.count for i in store.layers() if i.name == layer)


# -- tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_sixteen_writers_own_handles(url: str, handle: LayerStore, kind: str) -> None:
    """16 writers, each with its own handle: no record lost, shared uids stored exactly once."""
    results = run_all(kind, write_observations, [(url, w) for w in range(WRITERS)])
    check_observations(handle, results)


def test_sixteen_threads_one_handle(url: str, handle: LayerStore) -> None:
    """16 threads sharing one handle, where the backend says it is thread-safe."""
    if not claims_thread_safety(handle):
        pytest.skip("this backend does not share a handle between threads")
    with open_store(url, create=False) as shared, ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(write_observations, url, w, shared) for w in range(WRITERS)]
        results = [f.result(timeout=180) for f in futures]
    check_observations(handle, results)


def _seed(url: str, n: int) -> list[str]:
    uids = [f"statut-{i:04d}" for i in range(n)]
    with open_store(url, create=False) as store:
        store.write("observations", observations(uids, 0), actor="seed")
    return uids


def check_history_order(store: LayerStore, uid: str) -> pd.DataFrame:
    """History of ``uid``: dated in order, a real change at every step, ending on the record's status."""
    history = store.history("observations", uid)
    record = store.get("observations", uid).iloc[0]
    stamps = pd.to_datetime(history["changed_at"])
    assert stamps.is_monotonic_increasing, history
    statuses = history["status"].tolist()
    assert all(a != b for a, b in itertools.pairwise(statuses)), statuses
    assert statuses[-1] == record["status"]
    closed = history["status"].isin(CLOSED).to_numpy()
    if record["status"] in CLOSED:
        # dated by the first closing since the record was last (re)opened
        reopened = [i for i, c in enumerate(closed) if not c]
        since = reopened[-1] + 1 if reopened else 0
        assert pd.Timestamp(record["resolved_at"]) == stamps.iloc[since], (record, history)
    else:
        assert pd.isna(record["resolved_at"]), record
    return history


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_sixteen_status_writers_no_lost_transition(url: str, handle: LayerStore, kind: str) -> None:
    """16 writers each move the same records one step along the workflow, ROUNDS times.

    A read-then-update inside :meth:`~LayerStore.transaction` must be serialised: every
    call is a transition, the history holds all of them, each starting from the status
    the previous one ended on.
    """
    uids = _seed(url, 2)
    sent = run_all(kind, cycle_status, [(url, w, uids) for w in range(WRITERS)])
    assert len({c for batch in sent for c in batch}) == WRITERS * ROUNDS * len(uids)
    seen: list[str] = []
    for uid in uids:
        history = check_history_order(handle, uid)
        assert len(history) == 1 + WRITERS * ROUNDS, len(history)
        assert history["comment"].iloc[0] == "création"
        previous = history["status"].iloc[0]
        for comment, status in zip(history["comment"].iloc[1:], history["status"].iloc[1:],
                                   strict=True):
            before, after = comment.split("|")[1].split(">")
            assert (before, after) == (previous, status), (comment, previous, status)
            previous = status
        seen += history["comment"].iloc[1:].tolist()
    assert sorted(seen) == sorted(c for batch in sent for c in batch)


def test_sixteen_blind_status_writers(url: str, handle: LayerStore) -> None:
    """16 threads set statuses on the same records without reading first (the PATCH path).

    Updates to the status a record already has add nothing; every other one is in the
    history once, in order, and the record ends on the last status of its history.
    """
    uids = _seed(url, 2)
    sent = run_all("threads", set_status, [(url, w, uids) for w in range(WRITERS)])
    submitted = Counter(c for batch in sent for c in batch)
    for uid in uids:
        history = check_history_order(handle, uid)
        logged = history["comment"].iloc[1:]
        assert not logged.duplicated().any()
        assert set(logged) <= set(submitted)
        assert all(c.split("|")[1] == s for c, s in zip(logged, history["status"].iloc[1:],
                                                        strict=True))
        assert 1 <= len(logged) <= WRITERS * ROUNDS


def test_sixteen_child_writers_idempotent(url: str, handle: LayerStore) -> None:
    """16 threads add the same dumping events (and one each): every event stored once."""
    parents = [f"pn-{i}" for i in range(3)]
    handle.write("points_noirs", gpd.GeoDataFrame(
        {"uid": parents, "name": [f"Point noir {i}" for i in range(3)]},
        geometry=[Point(655_000 + 50 * i, 6_862_000) for i in range(3)], crs="EPSG:2154"))
    results = run_all("threads", add_events, [(url, w, parents) for w in range(WRITERS)])
    expected = len(parents) * 5 + WRITERS
    events = handle.read_children("points_noirs", "evenements")
    assert len(events) == expected
    inserted = Counter(u for batch in results for u in batch)
    assert len(inserted) == expected and max(inserted.values()) == 1
    assert Counter(events["parent_uid"]) == {
        p: 5 + sum(1 for w in range(WRITERS) if w % len(parents) == i) for i, p in enumerate(parents)}


class DeadlockDetected(Exception):
    """Stands for psycopg's error of the same name (the importer looks at the class name)."""


class Deadlocking:
    """A store whose first ``failures`` writes are aborted as a database deadlock victim."""

    def __init__(self, store: LayerStore, failures: int) -> None:
        self._store, self.failures = store, failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def write(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            from layers.errors import StoreError

            raise StoreError("Erreur de la base de données : deadlock detected") from DeadlockDetected()
        return self._store.write(*args, **kwargs)


def test_import_runs_again_after_a_deadlock(handle: LayerStore, shared_data: Path,
                                            tmp_path: Path) -> None:
    """An import chosen as deadlock victim runs again (exact counts); after five, a French error
    and nothing stored."""
    from layers.errors import StoreError
    from layers.importer import WRITE_ATTEMPTS, ImportOptions, import_file

    frame = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv", dtype=str,
                        keep_default_na=False, nrows=200)
    source = tmp_path / "dansmarue-200.csv"
    frame.to_csv(source, index=False)
    before = (handle.count("observations"), len(handle.imports()))
    with pytest.raises(StoreError, match=r"annulé.*relancez"):
        import_file(Deadlocking(handle, WRITE_ATTEMPTS), source,  # type: ignore[arg-type]
                    options=ImportOptions(mapping="dansmarue"))
    assert (handle.count("observations"), len(handle.imports())) == before
    report = import_file(Deadlocking(handle, 2), source,  # type: ignore[arg-type]
                         options=ImportOptions(mapping="dansmarue"))
    assert (report.n_read, report.n_inserted, report.n_existing) == (200, 200, 0)
    assert handle.count("observations") == 200 and len(handle.imports()) == before[1] + 1
