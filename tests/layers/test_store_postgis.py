"""What only the PostGIS backend has: schemas, real types, indexes, pooled and concurrent use."""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from shapely.geometry import Point

from layers.errors import StoreError
from layers.observations_edit import status_changes
from layers.schema import OBSERVATION_STATUSES
from layers.settings import get_settings
from layers.store import LayerStore, describe_store, open_store
from layers.store import _postgis_conn as conn
from tests.conftest import drop_schema, scratch_schema_url


@pytest.fixture
def pg(postgis_url: str) -> Iterator[tuple[str, str]]:
    """(URL, schema name) of a scratch schema, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield scratch_schema_url(postgis_url, name), name
    drop_schema(postgis_url, name)


def _obs(uids: list[str]) -> gpd.GeoDataFrame:
    n = len(uids)
    return gpd.GeoDataFrame(
        {"uid": uids, "observed_at": pd.date_range("2024-01-01", periods=n, freq="h"),
         "theme": "propreté", "status": "nouveau"},
        geometry=[Point(652_000 + i, 6_862_000) for i in range(n)], crs="EPSG:2154")


def _sql(base: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(base) as con:
        return con.execute(query, params).fetchall()


def test_schema_created_then_reopened(pg: tuple[str, str], postgis_url: str) -> None:
    url, name = pg
    with pytest.raises(StoreError, match="introuvable"):
        open_store(url, create=False)
    with open_store(url) as s:
        s.write("observations", _obs(["a", "b"]))
        s.set_meta("nom", "Mosson")
    tables = {r[0] for r in _sql(postgis_url, "SELECT table_name FROM information_schema.tables "
                                              "WHERE table_schema = %s", name)}
    assert {"observations", "observations_historique", "bacs_releves", "qpv_meta", "qpv_imports"} <= tables
    assert not _sql(postgis_url, "SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' "
                                 "AND table_name = 'observations'")
    with open_store(url, create=False) as s:
        assert s.count("observations") == 2 and s.get_meta("nom") == "Mosson"
        assert s.crs == "EPSG:2154" and s.meta()["crs"] == "EPSG:2154"
    with pytest.raises(StoreError, match="schéma invalide"):
        open_store(scratch_schema_url(postgis_url, 'x"; DROP SCHEMA public; --'))
    assert "qpv:qpv@" not in describe_store(url) and name in describe_store(url)
    assert "secret" not in describe_store("postgresql://u@h/base?password=secret&sslmode=require")


def test_real_types_and_indexes(pg: tuple[str, str], postgis_url: str) -> None:
    url, name = pg
    open_store(url).close()
    types = dict(_sql(postgis_url, "SELECT column_name, data_type FROM information_schema.columns "
                                   "WHERE table_schema = %s AND table_name = 'observations'", name))
    assert types["observed_at"] == "timestamp without time zone"
    assert types["deadline"] == "date"
    assert types["simulated"] == "boolean"
    assert types["theme"] == "text" and types["fid"] == "bigint"
    assert types["geom"] == "USER-DEFINED"
    other = dict(_sql(postgis_url, "SELECT column_name, data_type FROM information_schema.columns "
                                   "WHERE table_schema = %s AND table_name = 'diagnostics'", name))
    assert other["n_habitants"] == "bigint" and other["length_m"] == "double precision"
    geoms = dict(_sql(postgis_url, "SELECT f_table_name, type || ':' || srid FROM geometry_columns "
                                   "WHERE f_table_schema = %s", name))
    assert geoms["observations"] == "POINT:2154" and geoms["travaux_npnru"] == "GEOMETRY:2154"
    indexes = dict(_sql(postgis_url, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
                        name))
    assert "USING gist (geom)" in indexes["observations_geom"]
    assert "(observed_at)" in indexes["observations_time"]
    assert "(uid)" in indexes["observations_pkey"] and "UNIQUE" in indexes["observations_fid"]
    assert "(parent_uid, changed_at, fid)" in indexes["observations_historique_parent"]


def test_changed_declaration_upgrades_tables(pg: tuple[str, str], postgis_url: str) -> None:
    url, name = pg
    with open_store(url) as s:
        s.write("observations", _obs(["a"]))
    with psycopg.connect(postgis_url) as con:
        con.execute(f'ALTER TABLE "{name}".observations DROP COLUMN walk_id')
        con.execute(f"UPDATE \"{name}\".qpv_meta SET value = 'ancienne' WHERE key = 'schema_fingerprint'")
    with open_store(url, create=False) as s:
        assert s.get("observations", "a")["walk_id"].isna().all()
        assert s.get_meta("schema_fingerprint") != "ancienne"


def test_concurrent_writers_of_the_same_uids(pg: tuple[str, str]) -> None:
    url, _ = pg
    open_store(url).close()
    uids = [f"u{i:04d}" for i in range(300)]
    start = threading.Barrier(4)

    def writer(k: int) -> int:
        batch = _obs(uids[k * 50:] + uids[: k * 50])  # same uids, other orders
        with open_store(url, create=False) as s:
            start.wait()
            return s.write("observations", batch).n_inserted

    with ThreadPoolExecutor(4) as pool:
        inserted = list(pool.map(writer, range(4)))
    assert sum(inserted) == 300
    with open_store(url) as s:
        assert s.count("observations") == 300
        assert len(s.read_children("observations", "historique")) == 300


def test_concurrent_updates_keep_histories_ordered(pg: tuple[str, str]) -> None:
    url, _ = pg
    with open_store(url) as s:
        s.write("observations", _obs(["x"]))
    statuses = list(OBSERVATION_STATUSES)

    def updater(k: int) -> None:
        with open_store(url, create=False) as s:
            for i in range(3):
                s.update("observations", "x", {"status": statuses[(k + i) % len(statuses)],
                                               "description": f"{k}-{i}"}, actor=f"agent{k}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(updater, range(16)))
    with open_store(url) as s:
        hist = s.history("observations", "x")
        record = s.get("observations", "x").iloc[0]
    assert len(hist) == 1 + 16 * 3  # every update changed the description: one entry each
    changes = [json.loads(c) if isinstance(c, str) else None for c in hist["changes"]]
    for (before, after), diff in zip(itertools.pairwise(hist["status"]), changes[1:], strict=True):
        # the status is in the changes exactly when it changed, from the previous entry's
        assert ("status" in diff) == (before != after)
        assert diff.get("status", [before, after]) == [before, after]
    chain = status_changes(hist)["status"].tolist()
    assert chain[0] == "nouveau" and len(chain) > 16
    assert all(a != b for a, b in itertools.pairwise(chain))  # only real changes, in order
    assert chain[-1] == record["status"]
    assert hist["changed_at"].is_monotonic_increasing


def _child_writes(url: str, queue: multiprocessing.Queue, inherited: LayerStore) -> None:  # type: ignore[type-arg]
    # what garbage collection would do to the parent's connection: harmless in the child
    inherited._con.close()  # type: ignore[attr-defined]
    inherited.close()
    with open_store(url, create=False) as s:
        queue.put((os.getpid(), s.write("observations", _obs(["enfant"])).n_inserted))


def test_pool_is_not_shared_with_a_forked_child(pg: tuple[str, str]) -> None:
    url, _ = pg
    parent = open_store(url)
    parent.write("observations", _obs(["parent"]))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_writes, args=(url, queue, parent))
    child.start()
    pid, n = queue.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0 and n == 1 and pid != os.getpid()
    assert parent.count("observations") == 2  # the parent's connection still works
    parent.close()
    with open_store(url) as again:
        assert again.count("observations") == 2


def test_revision_moves_and_opening_is_cheap(pg: tuple[str, str]) -> None:
    url, _ = pg
    with open_store(url) as s:
        before = s.revision()
        s.write("observations", _obs(["a"]))
        assert s.revision() != before
    pool = conn.get_pool(conn.parse_url(url).conninfo)
    # connections_num counts every connection the pool ever made in this process (idle ones
    # are closed after a while and replaced): compare before and after, not to the pool size
    made = pool.get_stats().get("connections_num", 0)
    stores: list[LayerStore] = [open_store(url, create=False) for _ in range(5)]
    for s in stores:
        s.close()
    assert conn.get_pool(conn.parse_url(url).conninfo) is pool
    assert pool.get_stats().get("connections_num", 0) - made <= 5
    assert pool.get_stats().get("pool_size", 0) <= get_settings().pg_pool_size


def test_concurrent_first_openings(postgis_url: str) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = scratch_schema_url(postgis_url, name)
    try:
        with ThreadPoolExecutor(4) as pool:
            counts = list(pool.map(lambda _: _open_count(url), range(4)))
        assert counts == [0, 0, 0, 0]
    finally:
        drop_schema(postgis_url, name)


def _open_count(url: str) -> int:
    with open_store(url) as s:
        return s.count("observations")


def test_bulk_write_gives_way_to_a_concurrent_writer(
    pg: tuple[str, str], postgis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="layers.store.postgis")
    url, name = pg
    uids = [f"c{i:04d}" for i in range(500)]
    with open_store(url) as second:
        results: list[int] = []
        # another client inserts the same uids and has not committed yet
        with psycopg.connect(postgis_url) as raw:
            raw.execute(
                f'INSERT INTO "{name}".observations (uid, observed_at, theme, status, geom) '
                "SELECT u, '2024-01-01', 'voirie', 'nouveau', "
                "ST_SetSRID(ST_MakePoint(652000, 6862000), 2154) FROM unnest(%s::text[]) AS u", (uids,))
            worker = threading.Thread(
                target=lambda: results.append(second.write("observations", _obs([*uids[250:], "neuf"]))
                                              .n_inserted))
            worker.start()
            worker.join(1.0)
            assert worker.is_alive()  # its COPY waits on the uncommitted uids
        worker.join(60)  # committed: the COPY met them, the write went through ON CONFLICT
        assert results == [1]
        assert second.count("observations") == 501
        assert len(second.read_children("observations", "historique")) == 1
    assert "COPY through a temporary table" in caplog.text  # the fast path gave way
