"""The bulk-loaded GeoPackage R-tree of an import against a tree filled row by row.

The first import of a layer builds its R-tree by Sort-Tile-Recursive packing written into
the shadow tables (``layers.store._gpkg_rtree``). Checked on the real Paris BAN (158,048
points) and the Montpellier building footprints (polygons): SQLite's own ``rtreecheck``,
the exact boxes and the answers of random bbox queries against a tree filled row by row
by SQLite from GDAL's reading of the geometries, GDAL's bbox reads of the file against
the same file with its tree rebuilt row by row, then a second import into the now
non-empty tree, and messy writes (empty geometries, reads inside the import). Reads do not
depend on the tree's shape: a bbox query answers in insertion order, so the same records under
a packed and a row-by-row tree give the same frames and the same seeded simulation.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.geometry import repair_polygons
from layers.importer import ImportOptions, import_file
from layers.simulate import simulate_territory
from layers.store import LayerStore, open_store
from layers.store import _gpkg_rtree as rt

_BOXES_SQL = 'SELECT id FROM "{t}" WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ? ORDER BY id'


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Path]:
    """A GeoPackage holding the whole Paris BAN and the Montpellier buildings, each imported once."""
    path = tmp_path_factory.mktemp("rtree") / "store.gpkg"
    store = open_store(path)
    loads: list[tuple[str, int]] = []
    real = rt._bulk_load

    def spy(con: sqlite3.Connection, table: str, ids: np.ndarray, *args: object) -> None:
        loads.append((table, len(ids)))
        real(con, table, ids, *args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rt, "_bulk_load", spy)
        ban = import_file(store, shared_data / "paris" / "adresses-75.csv.gz",
                          options=ImportOptions(mapping="ban", territory_margin_m=None))
        blds = import_file(store, shared_data / "montpellier" / "VilleMTP_MTP_Batiments.zip",
                           options=ImportOptions(mapping="montpellier-batiments", territory_margin_m=None))
    assert (ban.n_inserted, blds.n_inserted) == (158_048, 3_356)
    # one bulk load per layer, of every row (the BAN is written in 16 blocks)
    assert loads == [("adresses", 158_048), ("batiments", 3_356)]
    store.close()
    yield path


def _check(con: sqlite3.Connection, table: str) -> str:
    return str(con.execute(f"SELECT rtreecheck('rtree_{table}_geom')").fetchone()[0])


def _reference(path: Path, table: str) -> sqlite3.Connection:
    """An in-memory R-tree filled row by row by SQLite, from GDAL's reading of the layer."""
    frame = pyogrio.read_dataframe(path, layer=table, columns=[], fid_as_index=True)
    b = shapely.bounds(frame.geometry.to_numpy())
    keep = ~np.isnan(b).any(axis=1)
    con = sqlite3.connect(":memory:")
    con.execute(f'CREATE VIRTUAL TABLE "{table}" USING rtree(id, minx, maxx, miny, maxy)')
    con.executemany(f'INSERT INTO "{table}" VALUES (?, ?, ?, ?, ?)',
                    zip(frame.index[keep].tolist(), b[keep, 0].tolist(), b[keep, 2].tolist(),
                        b[keep, 1].tolist(), b[keep, 3].tolist(), strict=True))
    return con


def _random_boxes(con: sqlite3.Connection, table: str, n: int, seed: int) -> list[tuple[float, ...]]:
    x0, x1, y0, y1 = con.execute(
        f'SELECT MIN(minx), MAX(maxx), MIN(miny), MAX(maxy) FROM "{table}"').fetchone()
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(x0 - 100, x1 + 100, n), rng.uniform(y0 - 100, y1 + 100, n)
    half = rng.exponential((x1 - x0) / 30, n)
    return [(float(a - h), float(a + h), float(c - h), float(c + h))
            for a, c, h in zip(cx, cy, half, strict=True)]


def _same_as_row_by_row(path: Path, table: str, *, seed: int) -> None:
    ref = _reference(path, table)
    with sqlite3.connect(path) as con:
        assert _check(con, table) == "ok"
        ours = con.execute(f'SELECT * FROM "rtree_{table}_geom" ORDER BY id').fetchall()
        assert ours == ref.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()  # same float32 boxes
        root = con.execute(f'SELECT data FROM "rtree_{table}_geom_node" WHERE nodeno = 1').fetchone()[0]
        depth = int.from_bytes(root[:2], "big")
        assert depth >= 1  # a real tree, not one leaf
        for box in _random_boxes(ref, table, 300, seed):
            got = con.execute(_BOXES_SQL.format(t=f"rtree_{table}_geom"), box).fetchall()
            assert got == ref.execute(_BOXES_SQL.format(t=table), box).fetchall()


@pytest.mark.parametrize("table", ["adresses", "batiments"])
def test_bulk_loaded_tree_answers_like_row_by_row(imported: Path, table: str) -> None:
    _same_as_row_by_row(imported, table, seed=len(table))


def _rebuilt(imported: Path, path: Path) -> Path:
    """A copy of ``imported`` with its trees refilled row by row by SQLite (another shape)."""
    shutil.copy(imported, path)
    for table in ("adresses", "batiments"):
        ref = _reference(imported, table)
        with sqlite3.connect(path) as con:
            con.execute(f'DELETE FROM "rtree_{table}_geom"')
            con.executemany(f'INSERT INTO "rtree_{table}_geom" VALUES (?, ?, ?, ?, ?)',
                            ref.execute(f'SELECT * FROM "{table}"').fetchall())
            assert _check(con, table) == "ok"
    return path


def test_gdal_reads_the_same_features(imported: Path, tmp_path: Path) -> None:
    rebuilt = _rebuilt(imported, tmp_path / "rebuilt.gpkg")
    for table in ("adresses", "batiments"):
        ref = _reference(imported, table)
        for x0, x1, y0, y1 in _random_boxes(ref, table, 12, seed=7):
            kw = {"layer": table, "bbox": (x0, y0, x1, y1), "fid_as_index": True, "columns": ["uid"]}
            ours, theirs = pyogrio.read_dataframe(imported, **kw), pyogrio.read_dataframe(rebuilt, **kw)
            assert sorted(ours.index) == sorted(theirs.index)
            assert sorted(ours["uid"]) == sorted(theirs["uid"])


def test_second_import_into_a_filled_tree(imported: Path, tmp_path: Path, shared_data: Path) -> None:
    path = tmp_path / "again.gpkg"
    shutil.copy(imported, path)
    store = open_store(path)
    r = import_file(store, shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip",
                    options=ImportOptions(mapping="montpellier-adresses", territory_margin_m=None))
    assert r.n_inserted == 36_395
    gone = store.read("adresses", limit=2_500)["uid"].tolist()
    assert store.delete("adresses", gone) == 2_500  # deletes shrink and merge bulk-loaded nodes
    assert store.count("adresses") == 158_048 + 36_395 - 2_500
    store.close()
    _same_as_row_by_row(path, "adresses", seed=3)


def _messy(frame: gpd.GeoDataFrame, seed: int) -> gpd.GeoDataFrame:
    """Real rows with new ids, some with empty points, jittered to share boxes."""
    out = frame.copy()
    rng = np.random.default_rng(seed)
    out["uid"] = [f"{u}-{seed}" for u in out["uid"]]
    geoms = out.geometry.to_numpy().copy()
    geoms[rng.random(len(out)) < 0.05] = shapely.Point()
    dup = rng.random(len(out)) < 0.1
    geoms[dup] = geoms[np.flatnonzero(dup)[::-1]]
    out["geometry"] = geoms
    return out


def test_messy_writes_in_one_import(imported: Path, tmp_path: Path) -> None:
    src = open_store(imported)
    rows = src.read("adresses", limit=9_000)
    src.close()
    parts = [_messy(rows.iloc[sl], k) for k, sl in enumerate(
        [slice(0, 4_000), slice(4_000, 7_000), slice(7_000, 7_100), slice(7_100, None)])]
    x0, y0, x1, y1 = rows.total_bounds
    store: LayerStore = open_store(tmp_path / "messy.gpkg")
    with store.bulk_transaction():
        store.write("adresses", parts[0], validated=True)  # held for a bulk load
        store.write("adresses", parts[1], validated=True)
        # a read inside the import sees the rows written so far (the held entries are loaded first)
        located = sum(int((~p.geometry.is_empty).sum()) for p in parts[:2])
        assert store.count("adresses", bbox=(x0 - 10, y0 - 10, x1 + 10, y1 + 10)) == located
        store.write("adresses", parts[2], validated=True)  # through the insert trigger
        store.write("adresses", parts[3], validated=True)  # the tree is not empty: row by row
    assert store.count("adresses") == 9_000
    store.close()
    _same_as_row_by_row(tmp_path / "messy.gpkg", "adresses", seed=5)


def test_float32_rounding_like_sqlite() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 2_000), rng.uniform(-7e6, 7e6, 2_000),
                             [0.0, -0.0, 1e-40, -1e-40]])
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE t USING rtree(id, minx, maxx, miny, maxy)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, 0, 0)",
                    zip(range(len(values)), values.tolist(), values.tolist(), strict=True))
    lo, hi = np.array(con.execute("SELECT minx, maxx FROM t ORDER BY id").fetchall()).T
    assert np.array_equal(rt.round_down(values).astype(np.float64), lo)
    assert np.array_equal(rt.round_up(values).astype(np.float64), hi)
    normal = np.abs(values) > 1e-30  # subnormals: SQLite's nudge is too small, and so is ours
    assert (lo[normal] <= values[normal]).all() and (hi[normal] >= values[normal]).all()


def _tree_order(path: Path, table: str, box: tuple[float, ...]) -> list[int]:
    with sqlite3.connect(path) as con:
        return [r[0] for r in con.execute(
            f'SELECT id FROM "rtree_{table}_geom" WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?',
            box)]


def test_bbox_reads_do_not_depend_on_the_tree_shape(imported: Path, tmp_path: Path) -> None:
    """Issue 18: the packed tree lists rows in another order; reads answer in insertion order."""
    rebuilt = _rebuilt(imported, tmp_path / "rebuilt.gpkg")
    ref = _reference(imported, "adresses")
    packed, rowwise = open_store(imported, create=False), open_store(rebuilt, create=False)
    try:
        everything = packed.read("adresses", crs=None)
        shuffled = 0
        for x0, x1, y0, y1 in _random_boxes(ref, "adresses", 8, seed=11):
            bbox = (x0, y0, x1, y1)
            if _tree_order(imported, "adresses", (x0, x1, y0, y1)) != _tree_order(rebuilt, "adresses",
                                                                                 (x0, x1, y0, y1)):
                shuffled += 1  # the two trees do list these rows in different orders
            ours, theirs = packed.read("adresses", bbox=bbox), rowwise.read("adresses", bbox=bbox)
            pd.testing.assert_frame_equal(ours, theirs)
            inside = everything[everything.intersects(shapely.box(*bbox))]  # independent: no R-tree
            assert ours["uid"].tolist() == inside["uid"].tolist()
            pages = pd.concat(list(rowwise.read_pages("adresses", size=997, bbox=bbox)), ignore_index=True)
            pd.testing.assert_frame_equal(pages, ours)
            pts = packed.points("adresses", fields=["uid", "number"], bbox=bbox)
            pd.testing.assert_frame_equal(pts, rowwise.points("adresses", fields=["uid", "number"],
                                                              bbox=bbox))
            assert pts["uid"].tolist() == ours["uid"].tolist()
            # a bounded page without an order may follow the tree, but holds records of the box
            page = packed.read("adresses", bbox=bbox, limit=50)
            assert set(page["uid"]) <= set(ours["uid"]) and len(page) == min(50, len(ours))
        assert shuffled >= 4
    finally:
        packed.close()
        rowwise.close()


def test_seeded_simulation_does_not_depend_on_the_tree_shape(
    imported: Path, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's simulation anchors records on addresses read by bbox: same seed, same records."""
    monkeypatch.setattr("layers.simulate.NPNRU_QUARTIERS", ("QP075019",))  # NPNRU operations there too
    per, _ = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))
    per = per.to_crs(2154)  # QP075019 in Paris; the two others widen the bbox read beyond the BAN
    layers, stamps = ("observations", "points_noirs", "bacs", "travaux_npnru"), ["created_at", "updated_at"]
    frames = []
    for path in (shutil.copy(imported, tmp_path / "packed.gpkg"), _rebuilt(imported, tmp_path / "rows.gpkg")):
        store = open_store(path, create=False)
        try:
            simulate_territory(store, per, seed=18, n_observations=400, n_points_noirs=6, n_bacs=5)
            frames.append({layer: store.read(layer).drop(columns=stamps) for layer in layers})
        finally:
            store.close()
    for layer, frame in frames[0].items():
        assert len(frame) > 0
        pd.testing.assert_frame_equal(frame, frames[1][layer])
