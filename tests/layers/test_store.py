"""The LayerStore on both backends (GeoPackage, PostGIS): filters, writes, history, children."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import Point

from layers.errors import NotFoundError, RecordError, StoreError, UnknownLayerError
from layers.importer import ImportOptions, import_file
from layers.store import LayerStore, RecordFilter, open_store
from layers.store.filters import FilterKeywords, filter_names


def _obs(n: int = 3, **extra: object) -> gpd.GeoDataFrame:
    data = {
        "uid": [f"o{i}" for i in range(n)],
        "observed_at": pd.date_range("2024-01-01", periods=n, freq="MS"),
        "theme": ["propreté", "voirie", "encombrants"][:n],
        "status": "nouveau",
        **extra,
    }
    return gpd.GeoDataFrame(data, geometry=[Point(652_000 + 100 * i, 6_862_000) for i in range(n)],
                            crs="EPSG:2154")


def test_write_read_roundtrip_and_idempotence(store: LayerStore) -> None:
    first = store.write("observations", _obs())
    assert first.inserted == ["o0", "o1", "o2"]
    again = store.write("observations", _obs())
    assert again.n_inserted == 0 and sorted(again.existing) == ["o0", "o1", "o2"]
    got = store.read("observations")
    assert list(got["uid"]) == ["o0", "o1", "o2"]
    assert str(got.crs) == "EPSG:2154"
    assert got["observed_at"].dt.month.tolist() == [1, 2, 3]
    assert got["source"].eq("import").all()  # schema default
    assert not got["simulated"].any()


def test_filters(store: LayerStore) -> None:
    store.write("observations", _obs())
    assert store.count("observations", bbox=(651_950, 6_861_950, 652_150, 6_862_050)) == 2
    assert store.count("observations", start="2024-02-01") == 2
    assert store.count("observations", start="2024-01-01", end="2024-02-01") == 1
    assert store.count("observations", where={"theme": ["voirie", "propreté"]}) == 2
    assert store.count("observations", where={"resolved_at": None}) == 3
    page = store.read("observations", limit=1, offset=1, order_by="-observed_at")
    assert page["uid"].tolist() == ["o1"]
    wgs = store.read("observations", crs="EPSG:4326")
    assert 2.3 < wgs.geometry.x.iloc[0] < 2.5
    # a WGS84 bbox is reprojected
    xmin, ymin, xmax, ymax = wgs.total_bounds
    margin = 1e-5
    assert store.count("observations", bbox=(xmin - margin, ymin - margin, xmax + margin, ymax + margin),
                       bbox_crs="EPSG:4326") == 3


def test_bad_filters_name_the_field(store: LayerStore) -> None:
    with pytest.raises(RecordError) as err:
        store.read("observations", where={"couleur; DROP TABLE observations": "x"})
    assert err.value.field == "couleur; DROP TABLE observations"
    with pytest.raises(RecordError):
        store.read("observations", order_by="1; DROP TABLE x")
    with pytest.raises(RecordError) as err2:
        store.read("observations", bbox=(3, 2, 1, 0))
    assert err2.value.field == "bbox"
    with pytest.raises(UnknownLayerError, match="Couche inconnue"):
        store.read("cameras")
    # SQL in a value is just a value
    assert store.count("observations", where={"theme": "x' OR '1'='1"}) == 0


@pytest.mark.parametrize("filters", [
    {},
    {"bbox": (651_950, 6_861_950, 652_150, 6_862_050)},
    {"start": "2024-02-01"},
    {"start": "2024-01-01", "end": "2024-03-01", "where": {"theme": ["voirie", "propreté"]}},
    {"where": {"resolved_at": None}, "uids": ["o2", "o0", "absent"]},
    {"bbox": (2.3, 48.8, 2.5, 48.9), "bbox_crs": "EPSG:4326", "where": {"status": "nouveau"}},
])
def test_record_filter_selects_what_the_keywords_select(store: LayerStore, filters: dict) -> None:
    store.write("observations", _obs())
    flt = RecordFilter(**filters)
    by_keywords = store.read("observations", order_by="-observed_at", **filters)
    by_object = store.read("observations", flt, order_by="-observed_at")
    assert by_object["uid"].tolist() == by_keywords["uid"].tolist()
    assert by_object.equals(by_keywords)
    assert store.count("observations", flt) == store.count("observations", **filters) == len(by_keywords)
    assert store.count("observations", flt, at_most=1) == min(1, len(by_keywords))
    cells = store.cluster("observations", flt, cell_m=150)
    assert cells.equals(store.cluster("observations", cell_m=150, **filters))
    assert int(cells["count"].sum()) == len(by_keywords)
    # keywords given with a filter replace its fields
    narrowed = store.read("observations", flt, uids=["o1"])
    assert narrowed.equals(store.read("observations", **{**filters, "uids": ["o1"]}))
    assert set(narrowed["uid"]) <= {"o1"}
    assert flt == RecordFilter(**filters)  # the caller's filter is left as it was


def test_unknown_filter_keyword_is_refused(store: LayerStore) -> None:
    store.write("observations", _obs())
    with pytest.raises(TypeError, match=r"Filtre inconnu : « couleur » .*bbox, bbox_crs, start, end"):
        store.read("observations", couleur="rouge")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Filtre inconnu : « at_most »"):
        store.read("observations", at_most=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Filtre inconnu : « limit »"):
        store.count("observations", limit=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Filtre inconnu : « theme »"):
        store.cluster("observations", cell_m=100, theme="voirie")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="RecordFilter attendu"):
        store.read("observations", {"bbox": (0, 0, 1, 1)})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RecordFilter(couleur="rouge")  # type: ignore[call-arg]
    # the layer is not even looked up
    with pytest.raises(TypeError, match="Filtre inconnu"):
        store.read("cameras", couleur="rouge")  # type: ignore[call-arg]


def test_filter_keywords_are_the_record_filter_fields() -> None:
    assert tuple(FilterKeywords.__annotations__) == filter_names()
    assert filter_names() == ("bbox", "bbox_crs", "start", "end", "where", "before", "uids")


@pytest.mark.parametrize(("layer", "flt", "field"), [
    ("observations", RecordFilter(bbox=(3, 2, 1, 0)), "bbox"),
    ("observations", RecordFilter(bbox=(1, 2, 3)), "bbox"),  # type: ignore[arg-type]
    ("bacs", RecordFilter(start="2024-01-01"), "datetime"),  # not dated
    ("observations", RecordFilter(end="hier"), "datetime"),
    ("observations", RecordFilter(where={"couleur": "x"}), "couleur"),
])
def test_record_filter_is_checked_against_the_layer(
    store: LayerStore, layer: str, flt: RecordFilter, field: str
) -> None:
    for call in (lambda: store.read(layer, flt), lambda: store.count(layer, flt),
                 lambda: store.cluster(layer, flt, cell_m=100)):
        with pytest.raises(RecordError) as err:
            call()
        assert err.value.field == field


def test_write_rejects_invalid_records(store: LayerStore) -> None:
    bad = _obs(1, theme="licorne")
    with pytest.raises(RecordError) as err:
        store.write("observations", bad)
    assert err.value.field == "theme"
    assert store.count("observations") == 0


def test_update_keeps_ordered_history(store: LayerStore) -> None:
    store.write("observations", _obs(1))
    store.update("observations", "o0", {"status": "transmis"}, actor="tech1", comment="au bailleur")
    store.update("observations", "o0", {"description": "tag sur le hall"}, actor="tech1")
    store.update("observations", "o0", {"status": "traité"}, actor="tech2")
    hist = store.history("observations", "o0")
    # every change has its entry; the status is repeated when only the description changed
    assert hist["status"].tolist() == ["nouveau", "transmis", "transmis", "traité"]
    assert hist["changed_by"].tolist()[1:] == ["tech1", "tech1", "tech2"]
    rec = store.get("observations", "o0").iloc[0]
    assert rec["description"] == "tag sur le hall"
    assert pd.notna(rec["resolved_at"])  # closing sets the resolution date
    with pytest.raises(RecordError) as err:
        store.update("observations", "o0", {"status": "perdu"})
    assert err.value.field == "status"
    with pytest.raises(NotFoundError):
        store.update("observations", "absent", {"status": "traité"})
    with pytest.raises(RecordError):
        store.update("observations", "o0", {"uid": "autre"})


def test_reopening_clears_the_resolution_date(store: LayerStore) -> None:
    store.write("observations", _obs(1))
    store.update("observations", "o0", {"status": "traité"})
    first = store.get("observations", "o0").iloc[0]["resolved_at"]
    assert pd.notna(first)
    store.update("observations", "o0", {"status": "en cours"}, comment="dépôt revenu")
    assert pd.isna(store.get("observations", "o0").iloc[0]["resolved_at"])
    assert store.count("observations", where={"resolved_at": None}) == 1
    store.update("observations", "o0", {"status": "clos non traité"})
    assert pd.notna(store.get("observations", "o0").iloc[0]["resolved_at"])
    store.update("observations", "o0", {"status": "traité"})  # closed to closed: date kept
    assert store.history("observations", "o0")["status"].tolist() == [
        "nouveau", "traité", "en cours", "clos non traité", "traité"]


def test_geometry_update_moves_rtree(store: LayerStore) -> None:
    store.write("observations", _obs(1))
    store.update("observations", "o0", {"geometry": Point(700_000, 6_700_000)})
    assert store.count("observations", bbox=(699_999, 6_699_999, 700_001, 6_700_001)) == 1
    assert store.count("observations", bbox=(651_000, 6_861_000, 653_000, 6_863_000)) == 0


def test_delete_removes_children(store: LayerStore) -> None:
    store.write("observations", _obs())
    assert store.delete("observations", ["o1", "absent"]) == 1
    assert store.count("observations") == 2
    assert store.read_children("observations", "historique", parent_uids=["o1"]).empty


def test_children_events_and_readings(store: LayerStore) -> None:
    pn = gpd.GeoDataFrame({"uid": ["pn1"], "name": ["Pied de tour"]},
                          geometry=[Point(765_000, 6_280_000)], crs="EPSG:2154")
    store.write("points_noirs", pn)
    ev = pd.DataFrame({"parent_uid": ["pn1", "pn1"], "observed_at": ["2024-03-01", "2024-03-09"],
                       "volume_m3": [1.5, "2,5"], "waste_type": ["encombrants", "gravats"]})
    r = store.add_children("points_noirs", "evenements", ev)
    assert r.n_inserted == 2
    assert store.add_children("points_noirs", "evenements", ev).n_inserted == 0  # same events
    got = store.read_children("points_noirs", "evenements", start="2024-03-05")
    assert got["volume_m3"].tolist() == [2.5]
    with pytest.raises(NotFoundError):
        store.add_children("points_noirs", "evenements", ev.assign(parent_uid="inconnu"))
    bac = gpd.GeoDataFrame({"uid": ["b1"], "flux": ["OM"], "has_gauge": [True]},
                           geometry=[Point(765_010, 6_280_000)], crs="EPSG:2154")
    store.write("bacs", bac)
    with pytest.raises(RecordError) as err:
        store.add_children("bacs", "releves", pd.DataFrame(
            {"parent_uid": ["b1"], "measured_at": ["2024-03-01T06:00"], "fill_pct": [120]}))
    assert err.value.field == "fill_pct"
    with pytest.raises(NotFoundError):
        store.add_children("bacs", "releves", pd.DataFrame(
            {"parent_uid": ["x"], "measured_at": ["2024-03-01T06:00"], "fill_pct": [20]}))
    with pytest.raises(UnknownLayerError):
        store.add_children("points_noirs", "releves", ev)


def test_transaction_rolls_back_everything(store: LayerStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.write("observations", _obs())
        store.update("observations", "o0", {"status": "traité"})
        raise RuntimeError("coupure")
    assert store.count("observations") == 0
    assert store.read_children("observations", "historique").empty


def test_file_is_a_real_geopackage(tmp_path: Path, shared_data: Path) -> None:
    path = tmp_path / "t.gpkg"
    with open_store(path) as s:
        import_file(s, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                    options=ImportOptions(mapping="qpv-paris"))
        s.write("observations", _obs())
    layers = dict(pyogrio.list_layers(path))
    assert layers["observations"] == "Point"
    assert layers["perimetres"] == "MultiPolygon"
    info = pyogrio.read_info(path, layer="observations")
    assert info["features"] == 3 and info["crs"] == "EPSG:2154"
    via_gdal = pyogrio.read_dataframe(path, layer="observations",
                                      bbox=(651_950, 6_861_950, 652_150, 6_862_050))
    assert sorted(via_gdal["uid"]) == ["o0", "o1"]
    qpv = pyogrio.read_dataframe(path, layer="perimetres")
    assert shapely.is_valid(qpv.geometry.to_numpy()).all()


def test_reopen_and_refuse_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "t.gpkg"
    with open_store(path) as s:
        s.write("observations", _obs())
        s.set_meta("nom", "Montpellier")
    with open_store(path, create=False) as s:
        assert s.count("observations") == 3 and s.get_meta("nom") == "Montpellier"
    with pytest.raises(StoreError, match="introuvable"):
        open_store(tmp_path / "absent.gpkg", create=False)
    other = tmp_path / "autre.gpkg"
    other.write_bytes(b"")
    import sqlite3

    sqlite3.connect(other).execute("CREATE TABLE t (a)").connection.commit()
    with pytest.raises(StoreError, match="n'est pas un GeoPackage"):
        open_store(other)


def test_layers_summary(store: LayerStore) -> None:
    store.write("observations", _obs(2, simulated=True))
    info = {i.name: i for i in store.layers()}
    assert info["observations"].count == 2 and info["observations"].simulated == 2
    assert info["observations"].time_min.startswith("2024-01-01")  # type: ignore[union-attr]
    assert info["videoprotection"].confidential and not info["observations"].confidential
    assert info["adresses"].reference


def test_sql_clusters_equal_generic_clusters(store_url: str, shared_data: Path) -> None:
    from layers.store.base import LayerStore as Base

    with open_store(store_url) as s:
        import_file(s, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                    options=ImportOptions(mapping="qpv-paris"))
        import_file(s, shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv",
                    options=ImportOptions(mapping="dansmarue"))
        box_20e = (652_000.0, 6_859_000.0, 657_000.0, 6_865_000.0)
        kw = {"bbox": box_20e, "start": "2024-01-01", "where": {"theme": ["dépôts sauvages", "propreté"]}}
        sql = s.cluster("observations", cell_m=400, **kw)
        generic = Base._cluster(s, RecordFilter(**kw).bind(s.schema("observations"), s.crs), cell_m=400)
        assert int(sql["count"].sum()) == int(generic["count"].sum()) == s.count("observations", **kw)
        key = ["count", "xmin", "ymin"]
        a = sql.sort_values(key).reset_index(drop=True)
        b = generic.sort_values(key).reset_index(drop=True)
        assert len(a) == len(b)
        assert (a["count"].to_numpy() == b["count"].to_numpy()).all()
        assert abs(a["x"] - b["x"]).max() < 1.0  # R-tree floats vs exact coordinates
        assert s.count("observations", at_most=10) == 10
        assert s.count("observations", where={"theme": "éclairage"}, at_most=10_000) == 94


def test_unfiltered_clusters_on_the_rtree_match_filtered_path(store_url: str, shared_data: Path) -> None:
    with open_store(store_url) as s:
        import_file(s, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                    options=ImportOptions(mapping="qpv-paris"))
        import_file(s, shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv",
                    options=ImportOptions(mapping="dansmarue"))
        box_20e = (652_000.0, 6_859_000.0, 657_000.0, 6_865_000.0)
        fast = s.cluster("observations", cell_m=300, bbox=box_20e)  # R-tree only
        joined = s.cluster("observations", cell_m=300, bbox=box_20e, where={"simulated": [True, False]})
        assert int(fast["count"].sum()) == int(joined["count"].sum()) == s.count("observations", bbox=box_20e)
        cols = ["count", "x", "y"]
        assert fast.sort_values(cols).reset_index(drop=True)[cols].equals(
            joined.sort_values(cols).reset_index(drop=True)[cols])
        everything = s.cluster("observations", cell_m=5_000)
        assert int(everything["count"].sum()) == 10_000


def test_repeated_uid_in_one_batch_counts_as_existing(store: LayerStore) -> None:
    batch = pd.concat([_obs(2), _obs(1)], ignore_index=True)
    result = store.write("observations", batch)
    assert result.inserted == ["o0", "o1"] and result.existing == ["o0"]
    assert store.count("observations") == 2
    assert len(store.read_children("observations", "historique")) == 2


def test_rtree_follows_bulk_writes_and_deletes(gpkg_store: LayerStore) -> None:
    n = 3000  # above the bulk threshold: the R-tree is filled without its trigger
    uids = [f"r{i}" for i in range(n)]
    frame = gpd.GeoDataFrame({"uid": uids, "observed_at": pd.Timestamp("2024-01-01"), "theme": "voirie"},
                             geometry=[Point(652_000 + i, 6_862_000) for i in range(n)], crs="EPSG:2154")
    gpkg_store.write("observations", frame)
    con = gpkg_store._con  # type: ignore[attr-defined]
    assert con.execute('SELECT COUNT(*) FROM "rtree_observations_geom"').fetchone()[0] == n
    gpkg_store.delete("observations", uids[:10])
    assert con.execute('SELECT COUNT(*) FROM "rtree_observations_geom"').fetchone()[0] == n - 10
    assert gpkg_store.count("observations", bbox=(652_000, 6_861_999, 652_009.5, 6_862_001)) == 0


def test_bbox_edges_are_exact(store: LayerStore) -> None:
    """Points a few centimetres inside or outside a wide box (the spatial indexes keep float32
    boxes, ~0.5 m at Lambert-93 northings): read and count agree with the exact test."""
    x0, y0, x1, y1 = 652_000.0, 6_862_000.0, 653_000.0, 6_863_000.0
    offsets = [-0.6, -0.3, -0.05, -0.01, 0.0, 0.01, 0.05, 0.3, 0.6, 1.9, 2.1]
    pts = []
    for d in offsets:  # on each side, inside (d >= 0) or outside (d < 0)
        pts += [(x0 + d, 6_862_500.0), (x1 - d, 6_862_500.0), (652_500.0, y0 + d), (652_500.0, y1 - d)]
    pts.append((652_500.0, 6_862_500.0))
    gdf = gpd.GeoDataFrame({"uid": [f"e{i}" for i in range(len(pts))], "observed_at": "2024-01-01",
                            "theme": "propreté", "status": "nouveau"},
                           geometry=[Point(p) for p in pts], crs="EPSG:2154")
    store.write("observations", gdf)
    box = shapely.box(x0, y0, x1, y1)
    expected = {u for u, p in zip(gdf["uid"], pts, strict=True) if shapely.intersects(box, Point(p))}
    assert len(expected) == 4 * sum(d >= 0 for d in offsets) + 1
    assert set(store.read("observations", bbox=(x0, y0, x1, y1))["uid"]) == expected
    assert store.count("observations", bbox=(x0, y0, x1, y1)) == len(expected)
    cells = store.cluster("observations", cell_m=10_000, bbox=(x0, y0, x1, y1))
    assert int(cells["count"].sum()) == len(expected)
