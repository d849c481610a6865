"""Copies between stores: GeoPackage → PostGIS → GeoPackage gives the same frames."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from layers.errors import StoreError, UnknownLayerError
from layers.schema import LAYERS
from layers.store import LayerStore, open_store
from layers.store.copy import IMPORTS_KEY, copy_store
from tests.conftest import drop_schema, scratch_schema_url


@pytest.fixture
def pg_url(postgis_url: str) -> Iterator[str]:
    """A scratch schema of the PostGIS test database."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield scratch_schema_url(postgis_url, name)
    drop_schema(postgis_url, name)


def fill(store: LayerStore) -> None:
    """A small store with every kind of content: records, histories, children, log, settings."""
    obs = gpd.GeoDataFrame({
        "uid": [f"o{i}" for i in range(5)],
        "observed_at": pd.date_range("2024-01-01 08:30", periods=5, freq="D"),
        "theme": ["propreté", "voirie", "encombrants", "éclairage", "autre"],
        "status": "nouveau",
        "description": ["tag « hall »", None, "x' OR '1'='1", "ligne1\nligne2\ttab", ""],
        "deadline": pd.to_datetime(["2024-02-01", None, None, "2024-03-01", None]),
        "simulated": [True, False, False, True, False],
    }, geometry=[Point(652_000 + 10 * i, 6_862_000 + i) for i in range(5)], crs="EPSG:2154")
    store.write("observations", obs, actor="import")
    store.update("observations", "o1", {"status": "transmis"}, actor="tech1", comment="au bailleur")
    store.update("observations", "o1", {"status": "traité"}, actor="tech2")
    pn = gpd.GeoDataFrame({"uid": ["pn1"], "name": ["Pied de tour"], "first_seen": ["2023-05-02"]},
                          geometry=[Point(765_000, 6_280_000)], crs="EPSG:2154")
    store.write("points_noirs", pn)
    store.add_children("points_noirs", "evenements", pd.DataFrame(
        {"parent_uid": ["pn1", "pn1"], "observed_at": ["2024-03-01", "2024-03-09 10:15"],
         "volume_m3": [1.5, 2.5], "waste_type": ["encombrants", "gravats"]}))
    store.write("bacs", gpd.GeoDataFrame({"uid": ["b1"], "flux": ["OM"], "has_gauge": [True],
                                          "capacity_l": [5000.0]},
                                         geometry=[Point(765_010, 6_280_000)], crs="EPSG:2154"))
    store.add_children("bacs", "releves", pd.DataFrame(
        {"parent_uid": ["b1", "b1"], "measured_at": ["2024-03-01T06:00", "2024-03-02T06:00"],
         "fill_pct": [20, 85.5]}))
    store.write("diagnostics", gpd.GeoDataFrame(
        {"uid": ["d1"], "name": ["Parcours nord"], "walk_date": ["2024-04-04 14:00"], "n_habitants": [12]},
        geometry=[LineString([(652_000, 6_862_000), (652_300, 6_862_200)])], crs="EPSG:2154"))
    square = Polygon([(652_000, 6_862_000), (652_100, 6_862_000), (652_100, 6_862_100), (652_000, 6_862_100)])
    store.write("travaux_npnru", gpd.GeoDataFrame(
        {"uid": ["t1", "t2"], "name": ["Démolition tour B", "Square"],
         "kind": ["démolition", "aménagement d'espace public"], "dwellings": [120, None]},
        geometry=[MultiPolygon([square]),
                  Point(652_050, 6_862_050)], crs="EPSG:2154"))
    store.record_import({"layer": "observations", "file_name": "dmr.csv", "sha256": "ab" * 32,
                         "started_at": "2024-05-01T10:00:00", "n_read": 5, "n_inserted": 5,
                         "n_existing": 0, "n_rejected": 0, "n_repaired": 0, "report": "{}"})
    store.set_meta("nom", "Paris 20e")


def assert_same(a: LayerStore, b: LayerStore) -> None:
    """Same records, children, histories, import log and settings."""
    for name, schema in LAYERS.items():
        left, right = a.read(name), b.read(name)
        pd.testing.assert_frame_equal(pd.DataFrame(left.drop(columns="geometry")),
                                      pd.DataFrame(right.drop(columns="geometry")), obj=name)
        assert left.geometry.geom_equals_exact(right.geometry, tolerance=1e-9).all(), name
        for child in schema.children:
            pd.testing.assert_frame_equal(a.read_children(name, child.name),
                                          b.read_children(name, child.name), obj=f"{name}/{child.name}")
    pd.testing.assert_frame_equal(a.imports().drop(columns="id"), b.imports().drop(columns="id"))
    assert a.get_meta("nom") == b.get_meta("nom")


def test_round_trip_gpkg_postgis_gpkg(tmp_path: Path, pg_url: str) -> None:
    with open_store(tmp_path / "a.gpkg") as a:
        fill(a)
    counts = copy_store(tmp_path / "a.gpkg", pg_url)
    assert counts["observations"] == 5 and counts["observations/historique"] == 7
    assert counts["points_noirs/evenements"] == 2 and counts[IMPORTS_KEY] == 1
    back = copy_store(pg_url, tmp_path / "b.gpkg")
    assert back == counts
    with open_store(tmp_path / "a.gpkg") as a, open_store(pg_url) as pg, open_store(tmp_path / "b.gpkg") as b:
        assert_same(a, pg)
        assert_same(a, b)
        hist = pg.history("observations", "o1")
        assert hist["status"].tolist() == ["nouveau", "transmis", "traité"]
        # copying again adds nothing
        assert set(copy_store(a, pg).values()) == {0}
        assert set(copy_store(pg, b).values()) == {0}
        assert len(pg.imports()) == 1 and pg.count("observations") == 5


def test_copy_in_pages_and_by_layer(tmp_path: Path, pg_url: str) -> None:
    with open_store(tmp_path / "a.gpkg") as a:
        fill(a)
        seen: list[tuple[str, int]] = []
        counts = copy_store(a, pg_url, layers=["observations"], page_size=2,
                            progress=lambda layer, n: seen.append((layer, n)))
    assert counts == {"observations": 5, "observations/historique": 7}
    assert seen == [("observations", 2), ("observations", 2), ("observations", 1)]
    with open_store(pg_url) as pg:
        assert pg.count("points_noirs") == 0 and pg.imports().empty
    with pytest.raises(UnknownLayerError):
        copy_store(tmp_path / "a.gpkg", pg_url, layers=["cameras"])


def test_copy_is_all_or_nothing(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(tmp_path / "a.gpkg") as a:
        fill(a)
    from layers.store.postgis import PostGISStore

    original = PostGISStore.copy_rows

    def failing(self: PostGISStore, layer: str, rows: pd.DataFrame, *, child: str | None = None) -> int:
        if layer == "bacs":
            raise StoreError("coupure réseau simulée")
        return original(self, layer, rows, child=child)

    monkeypatch.setattr(PostGISStore, "copy_rows", failing)
    with pytest.raises(StoreError, match="coupure"):
        copy_store(tmp_path / "a.gpkg", pg_url)
    monkeypatch.undo()
    with open_store(pg_url) as pg:
        assert sum(i.count for i in pg.layers()) == 0
        assert pg.read_children("observations", "historique").empty
    with pytest.raises(StoreError, match="introuvable"):
        copy_store(tmp_path / "absent.gpkg", pg_url)
