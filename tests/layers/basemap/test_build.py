"""The territory's basemap built from the real demo store (Paris 20e, Montpellier) and from messy copies."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType

from geo.tiles import ground_pixel_m, lonlat_to_tile, tile_bounds
from layers.basemap import BasemapOptions, build_basemap, open_tile_file
from layers.basemap.build import street_class
from layers.errors import BasemapError
from layers.schema import LAYERS
from layers.store import open_store
from tests.layers.basemap.conftest import MOSSON_POINT, PARIS_POINT, DemoBasemap


def _tile(path: Path, z: int, lonlat: tuple[float, float]) -> dict[str, Any]:
    x, y = lonlat_to_tile(*lonlat, z)
    data = open_tile_file(path).get(z, x, y)
    assert data is not None, (z, x, y)
    return mapbox_vector_tile.decode(gzip.decompress(data))


def _vertices(tile: dict[str, Any], layer: str) -> int:
    return sum(len(np.asarray(shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))))
               for f in tile.get(layer, {}).get("features", []))


def test_round_trip_through_the_pmtiles_reader(demo_basemap: DemoBasemap) -> None:
    with demo_basemap.path.open("rb") as fh:
        source = MmapSource(fh)
        header = Reader(source).header()
        theirs = {zxy: bytes(data) for zxy, data in all_tiles(source)}
    assert header["tile_type"] == TileType.MVT and header["tile_compression"] == Compression.GZIP
    assert (header["min_zoom"], header["max_zoom"]) == (10, 16)
    ours = open_tile_file(demo_basemap.path)
    assert len(theirs) == len(ours) == demo_basemap.result.tiles > 500
    for (z, x, y), data in theirs.items():
        assert ours.get(z, x, y) == data
        assert data[:2] == b"\x1f\x8b"  # gzip
    assert ours.get(16, 0, 0) is None and ours.get(40, 0, 0) is None


@pytest.mark.parametrize("point", [PARIS_POINT, MOSSON_POINT], ids=["paris", "montpellier"])
def test_streets_at_every_zoom_named_close_up(demo_basemap: DemoBasemap, point: tuple[float, float]) -> None:
    for z in (12, 14, 16):
        tile = _tile(demo_basemap.path, z, point)
        streets = tile["voies"]["features"]
        assert streets, z
        names = {f["properties"].get("nom") for f in streets} - {None}
        assert (len(names) > 3) is (z >= 14), (z, names)
        assert {f["properties"]["classe"] for f in streets} <= {"principale", "rue", "chemin"}
        assert "perimetres" in tile
    assert "adresses" not in _tile(demo_basemap.path, 12, point)


def test_generalised_per_zoom(demo_basemap: DemoBasemap) -> None:
    """A zoom-12 tile: fewer street vertices than the zoom-16 tiles of its ground, and no small building."""
    z12 = _tile(demo_basemap.path, 12, MOSSON_POINT)
    x, y = lonlat_to_tile(*MOSSON_POINT, 12)
    tiles = open_tile_file(demo_basemap.path)
    fine = [mapbox_vector_tile.decode(gzip.decompress(d)) for dx in range(16) for dy in range(16)
            if (d := tiles.get(16, x * 16 + dx, y * 16 + dy)) is not None]
    assert _vertices(z12, "voies") * 2 < sum(_vertices(t, "voies") for t in fine)
    # buildings appear at zoom 13, those under 2 × 2 screen pixels dropped
    assert "batiments" not in z12
    store = open_store(demo_basemap.store, create=False)
    try:
        buildings = store.read("batiments")
    finally:
        store.close()
    side = 2 * ground_pixel_m(13, MOSSON_POINT[1])
    small = int((buildings.geometry.area < side * side).sum())
    assert 0 < small < len(buildings)  # the rule really drops some, not all
    x13, y13 = lonlat_to_tile(*MOSSON_POINT, 13)
    box = shapely.box(*tile_bounds(13, x13, y13))
    local = buildings.to_crs("EPSG:3857")
    local = local[local.intersects(box)]
    kept = _tile(demo_basemap.path, 13, MOSSON_POINT)["batiments"]["features"]
    big = int((local.to_crs(buildings.crs).geometry.area >= side * side).sum())
    assert len(kept) == big < len(local)


def test_attribution_of_the_sources_drawn(demo_basemap: DemoBasemap) -> None:
    text = demo_basemap.result.attribution
    assert "© contributeurs OpenStreetMap" in text and "Ville de Montpellier" in text
    assert "Base Adresse Nationale" in text and "IGN" not in text
    # publishers grouped by licence, short enough for a phone's attribution line
    assert text == ("Base Adresse Nationale, Ville de Montpellier, ANCT (Licence Ouverte) · "
                    "© contributeurs OpenStreetMap (ODbL)")
    meta = open_tile_file(demo_basemap.path).metadata
    assert meta["attribution"] == text
    assert meta["qpv:absent"] == ["eau", "espaces verts"]  # the store has no such layer


def test_no_confidential_layer_in_the_basemap(demo_basemap: DemoBasemap, tmp_path: Path) -> None:
    meta = open_tile_file(demo_basemap.path).metadata
    drawn = {v["id"] for v in meta["vector_layers"]}
    assert drawn == {"perimetres", "voies", "batiments", "adresses"}
    assert not any(LAYERS[name].confidential for name in drawn)
    store = open_store(demo_basemap.store, create=False)
    try:
        with pytest.raises(BasemapError, match="confidentielle"):
            build_basemap(store, tmp_path / "x.pmtiles",
                          options=BasemapOptions(layers=("voies", "videoprotection")))
    finally:
        store.close()
    assert not (tmp_path / "x.pmtiles").exists()


def test_addresses_draw_the_streets_of_a_territory_without_streets(demo_basemap: DemoBasemap,
                                                                   tmp_path: Path) -> None:
    """Messy copy: Paris without its street layer, a tenth of the street names blanked, duplicated points."""
    source = open_store(demo_basemap.store, create=False)
    try:
        perimeters = source.read("perimetres")
        addresses = source.read("adresses", where={"postcode": "75020"})
    finally:
        source.close()
    assert len(addresses) > 10_000
    messy = addresses.copy()
    messy.loc[messy.index[::10], "street"] = "?"
    messy = messy.iloc[: len(messy) // 2]
    store = open_store(tmp_path / "sans-voies.gpkg")
    try:
        store.write("perimetres", perimeters[perimeters["code"] == "QP075019"], validated=True)
        store.write("adresses", messy, validated=True)
        options = BasemapOptions(min_zoom=12, max_zoom=16)
        result = build_basemap(store, tmp_path / "f.pmtiles", options=options)
    finally:
        store.close()
    assert "voies" not in result.features and result.features["adresses"] == len(messy)
    close = _tile(tmp_path / "f.pmtiles", 16, PARIS_POINT)
    assert "voies" not in close and len(close["adresses"]["features"]) > 20
    assert all(f["properties"]["voie"] for f in close["adresses"]["features"])
    assert "adresses" not in _tile(tmp_path / "f.pmtiles", 12, PARIS_POINT)
    assert "Base Adresse Nationale" in result.attribution and "Montpellier" not in result.attribution


def test_nothing_to_draw_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "vide.gpkg")
    try:
        with pytest.raises(BasemapError, match="aucun fond de plan"):
            build_basemap(store, tmp_path / "f.pmtiles")
    finally:
        store.close()
    with pytest.raises(BasemapError, match="Zooms"):
        BasemapOptions(min_zoom=15, max_zoom=12)


@pytest.mark.parametrize(("street_type", "name", "expected"), [
    ("AV", "Avenue de l'Europe", "principale"), (None, "Boulevard de Belleville", "principale"),
    ("IMP", "Impasse des Lilas", "chemin"), (None, "Villa Riberolle", "chemin"),
    ("RUE", "Rue Harpignies", "rue"), (None, None, "rue"), (float("nan"), "Rue des Pyrénées", "rue"),
])
def test_street_class(street_type: Any, name: Any, expected: str) -> None:
    assert street_class(street_type, name) == expected


def test_an_osm_extract_nobody_prepared_is_credited_and_named(shared_data: Path, tmp_path: Path) -> None:
    """Montpellier's real streets made messy as OpenStreetMap publishes them: one line per street
    (8,011 segments merged by name), OSM column names (name, highway), imported without a
    mapping (recognised by its columns): the basemap credits OpenStreetMap (ODbL, as its licence
    requires), never the raw data set name, and names every street."""
    import geopandas as gpd

    from layers.importer import ImportOptions, import_file

    src = gpd.read_file(f"zip://{shared_data / 'montpellier' / 'VilleMTP_MTP_FilaireVoies.zip'}")
    ways = src.dissolve(by="LIB_OFF").reset_index()[["LIB_OFF", "geometry"]]
    ways = ways.rename(columns={"LIB_OFF": "name"}).assign(highway="residential").to_crs(4326)
    path = tmp_path / "voies-osm.geojson"
    ways.to_file(path, driver="GeoJSON")
    store = open_store(tmp_path / "osm.gpkg", create=True)
    try:
        report = import_file(store, path, layer="voies", options=ImportOptions(report_dir=tmp_path))
        assert report.dataset == "osm-voies" and report.summary()["ajoutees"] == len(ways)
        result = build_basemap(store, tmp_path / "osm.pmtiles")
    finally:
        store.close()
    assert result.attribution == "© contributeurs OpenStreetMap (ODbL)"
    assert open_tile_file(tmp_path / "osm.pmtiles").metadata["attribution"] == result.attribution
    feats = _tile(tmp_path / "osm.pmtiles", 15, (3.8767, 43.6108))["voies"]["features"]
    assert len(feats) > 100 and all(f["properties"].get("nom") for f in feats)
