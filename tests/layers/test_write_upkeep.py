"""What a write keeps up to date: the layer extent (grown, never scanned), the layer revisions,
and the one-row child path (the same rows and uids as the batch path)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point

from layers.importer import ImportOptions, import_file
from layers.perimeters import lookup_revision
from layers.schema import LAYERS
from layers.settings import REPO_ROOT
from layers.store import LayerStore, open_store
from layers.store._records import prepare_children
from tests.conftest import drop_schema, scratch_schema_url

DEMO = REPO_ROOT / "data" / "demo" / "paris"


def _true_extent(store: LayerStore, layer: str) -> tuple[float, ...] | None:
    """The reference: every geometry read back, bounds computed by shapely."""
    gdf = store.read(layer)
    if gdf.empty:
        return None
    return tuple(float(v) for v in shapely.total_bounds(gdf.geometry.to_numpy()))


def _listed_extent(store: LayerStore, layer: str) -> tuple[float, ...] | None:
    info = next(i for i in store.layers() if i.name == layer)
    return None if info.bbox is None else tuple(float(v) for v in info.bbox)


def _gpkg_contents(store: LayerStore, layer: str) -> tuple[float, ...] | None:
    row = store._con.execute(  # type: ignore[attr-defined]
        "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?", (layer,)).fetchone()
    return None if row[0] is None else tuple(float(v) for v in row)


@pytest.fixture
def constats(tmp_path: Path) -> LayerStore:
    """A GeoPackage store with the real Dans Ma Rue sample of the demo (10,000 constats in Paris)."""
    store = open_store(tmp_path / "store.gpkg")
    import_file(store, DEMO / "dansmarue-2023-2024-echantillon.csv.gz",
                options=ImportOptions(mapping="dansmarue", report_dir=tmp_path / "rapports"))
    return store


def _close(a: tuple[float, ...] | None, b: tuple[float, ...] | None, tol: float = 1.0) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.allclose(a, b, atol=tol))


def test_extent_follows_inserts_updates_deletes_without_scans(constats: LayerStore) -> None:
    store = constats
    scans: list[str] = []
    store._con.set_trace_callback(  # type: ignore[attr-defined]
        lambda sql: scans.append(sql) if "MIN(minx)" in sql else None)
    real = store.read("observations", limit=50)
    assert len(real) == 50
    assert _close(_listed_extent(store, "observations"), _true_extent(store, "observations"))
    scans.clear()
    # an insert far outside grows the extent, without a scan of the R-tree
    far = real.head(3).copy()
    far["uid"] = ["far-1", "far-2", "far-3"]
    xmin, ymin, xmax, ymax = _true_extent(store, "observations") or (0, 0, 0, 0)
    far = far.set_geometry(
        [Point(xmax + 5000, ymax + 3000), Point(xmin - 2000, ymin), Point(xmin, ymin - 700)], crs=store.crs)
    store.write("observations", far, actor="tests")
    assert scans == []
    assert _close(_gpkg_contents(store, "observations"), _true_extent(store, "observations"))
    # status changes and a move outwards: grown, still no scan
    store.update("observations", str(real["uid"].iloc[0]), {"status": "traité"})
    store.update("observations", str(real["uid"].iloc[1]), {"geometry": Point(xmax + 9000, ymin + 10)})
    assert scans == []
    assert _close(_gpkg_contents(store, "observations"), _true_extent(store, "observations"))
    # a move inwards of an edge point, then deletes of edge points: stale, exact again when listed
    store.update("observations", "far-1", {"geometry": Point((xmin + xmax) / 2, (ymin + ymax) / 2)})
    store.delete("observations", ["far-2", str(real["uid"].iloc[1])])
    assert scans == []
    assert _close(_listed_extent(store, "observations"), _true_extent(store, "observations"))
    assert _close(_gpkg_contents(store, "observations"), _true_extent(store, "observations"))
    scans.clear()
    store.layers()  # recomputed once: no scan the second time
    assert scans == []
    # delete stale again, optimize recomputes
    store.delete("observations", ["far-3"])
    store.optimize(["observations"])
    assert _close(_gpkg_contents(store, "observations"), _true_extent(store, "observations"))
    store.delete("observations", store.read("observations")["uid"].tolist())
    assert _listed_extent(store, "observations") is None
    store.close()


def test_old_files_extents_recomputed_once(constats: LayerStore) -> None:
    """A file written before incremental extents (a delete never shrank them) is exact once listed."""
    store = constats
    store._con.execute("UPDATE gpkg_contents SET min_x = 0, min_y = 0, max_x = 1e7, max_y = 1e7 "  # type: ignore[attr-defined]
                       "WHERE table_name = 'observations'")
    store._con.execute("DELETE FROM qpv_meta WHERE key = 'extents_incremental'")  # type: ignore[attr-defined]
    assert _close(_listed_extent(store, "observations"), _true_extent(store, "observations"))
    store.close()


def test_layer_revision_moves_only_with_its_layers(store: LayerStore) -> None:
    import_file(store, DEMO / "qpv-paris-idf-2015.geojson", options=ImportOptions(mapping="qpv-paris"))
    obs = pd.DataFrame({"theme": ["propreté"], "status": ["nouveau"], "observed_at": ["2024-05-01"],
                        "source": ["habitant"]})
    gdf = gpd.GeoDataFrame(obs, geometry=[Point(652_000, 6_862_000)], crs=store.crs)
    before = lookup_revision(store)
    uid = store.write("observations", gdf).inserted[0]
    store.update("observations", uid, {"status": "traité"})
    after_constats = lookup_revision(store)
    code = str(store.read("perimetres")["uid"].iloc[0])
    store.update("perimetres", code, {"name": "Autre nom"})
    after_perimeter = lookup_revision(store)
    assert after_perimeter != after_constats
    assert after_constats == before  # the layers the lookup reads did not change


@pytest.mark.parametrize("child", [(layer, c.name) for layer, s in LAYERS.items() for c in s.children])
def test_one_child_row_same_as_batch(child: tuple[str, str]) -> None:
    """A single child row (scalar validation) gives the row and uid the batch path gives."""
    cschema = LAYERS[child[0]].child(child[1])
    rng = np.random.default_rng(3)
    rows = []
    for i in range(6):
        row: dict[str, object] = {"parent_uid": f"p{i % 2}"}
        for f in cschema.fields:
            if f.choices:
                row[f.name] = f.choices[i % len(f.choices)] if i % 3 else None
            elif f.type in ("date", "datetime"):
                row[f.name] = f"2024-0{1 + i}-1{i} 10:0{i}:00" if i != 4 else None
            elif f.type in ("int", "float"):
                row[f.name] = None if i == 2 else int(rng.integers(0, 5)) if f.type == "int" else 1.5 * i
            elif f.type == "bool":
                row[f.name] = [True, False, None][i % 3]
            elif f.type == "json":
                row[f.name] = None if i % 2 else '{"status": ["nouveau", "traité"]}'
            else:
                row[f.name] = None if i == 3 else f"texte {i}"
        rows.append(row)
    frame = pd.DataFrame(rows)
    try:
        batch = prepare_children(cschema, frame, source_dataset=None, simulated=None, unique=True)
    except Exception as exc:  # rows refused in batch must be refused alone too
        with pytest.raises(type(exc)):
            for i in range(len(frame)):
                prepare_children(cschema, frame.iloc[[i]], source_dataset=None, simulated=None, unique=True)
        return
    for i in range(len(frame)):
        one = prepare_children(cschema, frame.iloc[[i]], source_dataset=None, simulated=None, unique=True)
        ref = batch.loc[[i]]
        assert one["uid"].tolist() == ref["uid"].tolist()
        for f in cschema.fields:
            a, b = one[f.name].iloc[0], ref[f.name].iloc[0]
            assert (pd.isna(a) and pd.isna(b)) if not isinstance(a, str) and pd.isna(a) else a == b, f.name


@pytest.fixture
def postgis_store(postgis_url: str) -> Iterator[LayerStore]:
    """A new PostGIS store in a scratch schema of the test database (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    store = open_store(scratch_schema_url(postgis_url, name))
    try:
        yield store
    finally:
        store.close()
        drop_schema(postgis_url, name)


def test_postgis_without_layer_counters_falls_back_to_the_store_revision(postgis_store: LayerStore) -> None:
    """A PostGIS schema created before per-layer counters: any write moves the marker (never stale)."""
    store = postgis_store
    with store._con.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(f"DROP SEQUENCE {store._layer_sequence('adresses')}")  # type: ignore[attr-defined]
    gdf = gpd.GeoDataFrame(pd.DataFrame({"theme": ["propreté"], "status": ["nouveau"],
                                         "observed_at": ["2024-05-01"], "source": ["habitant"]}),
                           geometry=[Point(652_000, 6_862_000)], crs=store.crs)
    before = store.layer_revision(["perimetres", "adresses"])
    store.write("observations", gdf)
    assert store.layer_revision(["perimetres", "adresses"]) != before
