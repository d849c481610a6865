"""The uid index of a layer an import fills from empty: dropped, checked by hashes, built at the end.

``layers.store._gpkg_uid_index`` keeps SQLite from maintaining the unique ``uid`` index row by
row while a first import writes a layer; these tests check that the guarantee of the index
is kept: on real Montpellier address points, repeated uids across blocks are answered as
existing (also when every hash collides), reads inside the import see the rows, the index
is back, identical, at the end, and a repeated uid that would slip through makes the whole
import fail and roll back instead of being stored twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from layers.errors import StoreError
from layers.importer import ImportOptions, import_file
from layers.store import _gpkg_uid_index as uidx
from layers.store import open_store


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[gpd.GeoDataFrame]:
    """6,000 real address records (Montpellier), as the store gives them back."""
    path = tmp_path_factory.mktemp("uidx") / "source.gpkg"
    store = open_store(path)
    try:
        report = import_file(store, shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip",
                             options=ImportOptions(mapping="montpellier-adresses", territory_margin_m=None))
        assert report.n_inserted == 36_395
        frame = store.read("adresses", limit=6_000)
    finally:
        store.close()
    yield frame


def _index_sql(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                           "AND tbl_name = 'adresses' ORDER BY name").fetchall()


def test_first_import_defers_the_index_and_builds_it_back(rows: gpd.GeoDataFrame, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = tmp_path / "fresh.gpkg"
    open_store(fresh).close()
    dropped: list[str] = []
    real = uidx.DeferredUidIndexes.defer

    def spy(self: uidx.DeferredUidIndexes, con: sqlite3.Connection, table: str) -> None:
        real(self, con, table)
        dropped.extend(t for t in self._held if t not in dropped)

    monkeypatch.setattr(uidx.DeferredUidIndexes, "defer", spy)
    path = tmp_path / "store.gpkg"
    store = open_store(path)
    first, again = rows.iloc[:3_000], rows.iloc[2_990:5_990]  # 10 uids written twice
    with store.bulk_transaction():
        a = store.write("adresses", first, validated=True)
        b = store.write("adresses", again, validated=True)  # repeats found by their hashes
        # inside the import: a read by uid sees the rows (the index is built first)
        assert store.get("adresses", str(again["uid"].iloc[-1]))["uid"].tolist() == [again["uid"].iloc[-1]]
    assert dropped == ["adresses"]
    assert len(a.inserted) == 3_000
    assert sorted(b.existing) == sorted(rows["uid"].iloc[2_990:3_000])
    assert len(b.inserted) == 3_000 - 10
    assert store.count("adresses") == 5_990
    store.close()
    assert _index_sql(path) == _index_sql(fresh)  # the unique index is back, as created


def test_repeats_are_found_when_every_hash_collides(rows: gpd.GeoDataFrame, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uidx, "_hashes", lambda uids: np.zeros(len(uids), dtype=np.int64))
    store = open_store(tmp_path / "store.gpkg")
    with store.bulk_transaction():
        store.write("adresses", rows.iloc[:2_500], validated=True)
        b = store.write("adresses", rows.iloc[2_000:5_000], validated=True)  # 500 repeated
    assert len(b.existing) == 500 and len(b.inserted) == 2_500
    assert store.count("adresses") == 5_000
    store.close()


def test_a_repeat_slipping_through_rolls_the_import_back(rows: gpd.GeoDataFrame, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uidx.DeferredUidIndexes, "existing", lambda self, con, table, uids: set())
    path = tmp_path / "store.gpkg"
    fresh = tmp_path / "fresh.gpkg"
    open_store(fresh).close()
    store = open_store(path)
    with pytest.raises(StoreError, match="uid"), store.bulk_transaction():
        store.write("adresses", rows.iloc[:3_000], validated=True)
        store.write("adresses", rows.iloc[2_999:5_000], validated=True)  # one uid stored twice
    assert store.count("adresses") == 0
    store.close()
    assert _index_sql(path) == _index_sql(fresh)


def test_a_layer_with_rows_keeps_its_index(rows: gpd.GeoDataFrame, tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.gpkg")
    store.write("adresses", rows.iloc[:10], validated=True)
    with store.bulk_transaction():
        store.write("adresses", rows.iloc[:3_000], validated=True)
        # the layer was not empty: its index stays, nothing is held
        assert not store._uid_indexes._held  # type: ignore[attr-defined]
    assert store.count("adresses") == 3_000
    store.close()
