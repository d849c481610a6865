"""Street lists, perimeters and QPV lookups through the store, on real data.

The store holds the real QPV perimeters of Paris and Montpellier and the real address
bases of the demo territory (BAN of the 20e, Montpellier address points). Expected
values come from independent computations (geopandas joins, shapely distances).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.geometry import repair_polygons
from geo.perimeters.lookup import lookup_point
from geo.perimeters.streetlist import parse_street_list, read_rules, write_rules
from layers.errors import PerimeterStoreError
from layers.importer import ImportOptions, import_file
from layers.perimeters import (
    PerimeterSpec,
    compile_to_store,
    lookup_from_store,
    lookup_index_from_store,
    result_dict,
    reverse_from_store,
    store_addresses,
    stored_rules,
)
from layers.settings import REPO_ROOT
from layers.store import LayerStore, open_store

DEMO = REPO_ROOT / "data" / "demo"
IMPORTS = [
    ("paris/qpv-paris-idf-2015.geojson", "qpv-paris"),
    ("montpellier/qp-montpellier-2015.geojson", "qpv-occitanie"),
    ("paris/adresses-75020.csv.gz", "ban"),
    ("montpellier/VilleMTP_MTP_PointAdresse.zip", "montpellier-adresses"),
]


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the real perimeters and address bases of the demo territory, built once."""
    folder = tmp_path_factory.mktemp("perimetres")
    path = folder / "base.gpkg"
    store = open_store(path)
    try:
        for name, mapping in IMPORTS:
            import_file(store, DEMO / name,
                        options=ImportOptions(mapping=mapping, actor="tests", report_dir=folder / "rejets"))
    finally:
        store.close()
    return path


@pytest.fixture
def store(base_path: Path, tmp_path: Path) -> Iterator[LayerStore]:
    """A private copy of the base store (tests may write to it)."""
    path = tmp_path / "copie.gpkg"
    shutil.copy(base_path, path)
    s = open_store(path, create=False)
    yield s
    s.close()


@pytest.fixture(scope="module")
def index(base_path: Path) -> object:
    s = open_store(base_path, create=False)
    try:
        return lookup_index_from_store(s)
    finally:
        s.close()


@pytest.fixture(scope="module")
def qp075019(base_path: Path) -> gpd.GeoDataFrame:
    s = open_store(base_path, create=False)
    try:
        per, _ = repair_polygons(s.read("perimetres", where={"code": "QP075019"}))
        return per
    finally:
        s.close()


@pytest.fixture(scope="module")
def inside_addresses(base_path: Path, qp075019: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The 20e addresses inside QP075019 by a plain geopandas join."""
    s = open_store(base_path, create=False)
    try:
        addr = s.read("adresses", where={"postcode": "75020"})
    finally:
        s.close()
    return gpd.sjoin(addr, qp075019[["geometry"]], predicate="within").drop(columns="index_right")


# --------------------------------------------------------------------------- Lillers list


def test_lillers_list_parses_and_round_trips_through_yaml(shared_data: Path, tmp_path: Path) -> None:
    text = (shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt").read_text(encoding="utf-8")
    parsed = parse_street_list(text, commune="Lillers", qpv="QP062057")
    # the README of the file: 43 entries, 6 partial streets with their cut-off and parcel
    assert len(parsed.streets) == 43
    assert len(parsed.partial_streets) == 6
    cut = [r for r in parsed.rules if r.to_number is not None]
    assert len(cut) == 6 and all(r.parcel for r in cut)
    verdun = next(r for r in parsed.rules if r.street == "RUE DE VERDUN")
    assert (verdun.to_number, verdun.parcel) == (38, "AH 547")
    assert {r.qpv for r in parsed.rules} == {"QP062057"}
    path = write_rules(parsed.rules, tmp_path / "regles.yaml")
    assert read_rules(path) == parsed.rules


# --------------------------------------------------------------------------- compile / reverse


def test_reverse_then_compile_through_the_store(
    store: LayerStore, qp075019: gpd.GeoDataFrame
) -> None:
    rules, text = reverse_from_store(store, "QP075019", commune="Paris 20e")
    assert rules and {r.qpv for r in rules} == {"QP075019"}
    assert text.startswith("QP075019 ")
    addr = store_addresses(store, commune="Paris 20e")
    known = set(addr["street_key"])
    assert all(r.key in known for r in rules)
    for r in rules[:5]:
        assert r.street in text

    uid = compile_to_store(store, rules,
                           perimeter=PerimeterSpec(code="QP075019L", name="Portes du 20e (liste)",
                                                   commune="Paris 20e"))
    stored = store.get("perimetres", uid)
    assert stored["source"].iat[0].startswith(f"compilé depuis une liste de rues ({len(rules)} règles")
    assert "Voronoï" in stored["source"].iat[0]
    assert stored["geography"].iat[0] == "2015" and stored["communes"].iat[0] == "Paris 20e"

    # the compiled polygon and the official one classify the 20e addresses alike
    original = qp075019.geometry.iat[0]
    compiled = stored.geometry.iat[0]
    xy = shapely.get_coordinates(addr.geometry.to_numpy())
    near = shapely.contains_xy(original.buffer(300), xy[:, 0], xy[:, 1])
    a = shapely.contains_xy(original, xy[near, 0], xy[near, 1])
    b = shapely.contains_xy(compiled, xy[near, 0], xy[near, 1])
    assert a.sum() > 800
    assert (a == b).mean() > 0.97
    assert 0.8 < compiled.area / original.area < 1.3

    # the rules are kept for later lookups, the same code is refused unless replaced
    assert {r.qpv for r in stored_rules(store)} == {"QP075019L"}
    with pytest.raises(PerimeterStoreError, match="--remplacer"):
        compile_to_store(store, rules,
                         perimeter=PerimeterSpec(code="QP075019L", name="x", commune="Paris 20e"))
    again = compile_to_store(store, rules, perimeter=PerimeterSpec(code="QP075019L", name="Nouveau nom",
                                                                   commune="Paris 20e"),
                             replace_existing=True)
    assert again == uid
    found = store.read("perimetres", where={"code": "QP075019L"})
    assert len(found) == 1 and found["name"].iat[0] == "Nouveau nom"
    with pytest.raises(PerimeterStoreError, match="existe déjà"):
        compile_to_store(store, rules,
                         perimeter=PerimeterSpec(code="QP075019", name="doublon", commune="Paris 20e"))


def test_compile_and_reverse_errors(store: LayerStore, shared_data: Path) -> None:
    with pytest.raises(PerimeterStoreError, match="absent"):
        reverse_from_store(store, "QP999999")
    lillers = parse_street_list(
        (shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt").read_text(encoding="utf-8")
    )
    with pytest.raises(PerimeterStoreError, match="Lillers"):
        compile_to_store(store, lillers.rules,
                         perimeter=PerimeterSpec(code="QP062057", name="Ville Centre", commune="Lillers"))
    # without --commune, the commune named by the rules is used
    with pytest.raises(PerimeterStoreError, match="commune « LILLERS »"):
        compile_to_store(store, lillers.rules,
                         perimeter=PerimeterSpec(code="QP062057", name="Ville Centre", commune=None))
    with pytest.raises(PerimeterStoreError, match="Aucune règle"):
        compile_to_store(store, [],
                         perimeter=PerimeterSpec(code="QP000001", name="vide", commune="Paris 20e"))


# --------------------------------------------------------------------------- lookup


def test_lookup_of_real_addresses_inside_qp075019(
    index: object, inside_addresses: gpd.GeoDataFrame, qp075019: gpd.GeoDataFrame
) -> None:
    sample = inside_addresses.sample(25, random_state=3)
    boundary = qp075019.geometry.iat[0].boundary
    for _, row in sample.iterrows():
        suffix = f" {row['suffix']}" if row["suffix"] else ""
        text = f"{int(row['number'])}{suffix} {row['street']}, 75020 Paris"
        result = lookup_from_store(index, address=text)  # type: ignore[arg-type]
        assert result.status == "inside", text
        assert result.code == "QP075019" and result.geography == "2015"
        assert result.reason == "polygon"
        assert not result.disagree
        assert 0 < result.distance_m < 500
        # the distance, on the exact address point, is the shapely one
        expected = row.geometry.distance(boundary)
        exact = lookup_point(row.geometry, index)  # type: ignore[arg-type]
        assert exact.code == "QP075019"
        if expected < 500:
            assert exact.distance_m == pytest.approx(expected, abs=0.5)
        out = result_dict(result)
        assert out["motif_libelle"] == "polygone" and out["statut_libelle"] == "dans un QPV"


def test_lookup_of_a_point_and_outside(index: object, inside_addresses: gpd.GeoDataFrame) -> None:
    pt = inside_addresses.to_crs(4326).geometry.iat[0]
    inside = lookup_from_store(index, lon=pt.x, lat=pt.y)  # type: ignore[arg-type]
    assert (inside.code, inside.status, inside.reason) == ("QP075019", "inside", "polygon")
    # Montpellier's Comédie square is in no QPV
    outside = lookup_from_store(index, lon=3.8799, lat=43.6085)  # type: ignore[arg-type]
    assert outside.status == "outside" and outside.code == ""


def test_lookup_not_found_and_ambiguous(index: object, base_path: Path) -> None:
    missing = lookup_from_store(index, address="12 rue des Sapins Imaginaires, 75020 Paris")  # type: ignore[arg-type]
    assert missing.status == "not_found" and missing.code == ""
    assert result_dict(missing)["statut_libelle"] == "introuvable"
    # a street name present in both communes of the store, written without commune
    s = open_store(base_path, create=False)
    try:
        addr = store_addresses(s)
    finally:
        s.close()
    numbered = addr[addr["number"].notna()]
    both = numbered.groupby("street_key")["commune_key"].nunique()
    key = str(both[both > 1].index[0])
    row = numbered[numbered["street_key"] == key].iloc[0]
    result = lookup_from_store(index, address=f"{int(row['number'])} {row['street']}")  # type: ignore[arg-type]
    assert result.status == "ambiguous", (key, result)
    # with the commune the same address is placed
    placed = lookup_from_store(index, address=f"{int(row['number'])} {row['street']}",  # type: ignore[arg-type]
                               commune=str(row["commune"]))
    assert placed.status in ("inside", "outside")


def test_lookup_index_uses_stored_rules_and_geography(store: LayerStore) -> None:
    rules, _ = reverse_from_store(store, "QP034005")
    compile_to_store(store, rules, perimeter=PerimeterSpec(code="QN034005", name="Mosson (liste)",
                                                           commune="Montpellier", geography="2024"))
    idx = lookup_index_from_store(store, geography="2024")
    assert set(idx.perimeters["code"]) == {"QN034005"}
    assert set(idx.perimeters["geography"]) == {"2024"}
    assert "QN034005" in idx.ruled_codes
    inside = store.read("adresses", where={"commune": "Montpellier"})
    geom = store.read("perimetres", where={"code": "QN034005"}).geometry.iat[0]
    xy = shapely.get_coordinates(inside.geometry.to_numpy())
    hits = inside[shapely.contains_xy(geom, xy[:, 0], xy[:, 1]) & inside["number"].notna().to_numpy()]
    row = hits.iloc[int(np.argmax(hits["number"].to_numpy()))]
    result = lookup_from_store(idx, address=f"{int(row['number'])} {row['street']} 34000 Montpellier")
    assert (result.code, result.reason, result.geography) == ("QN034005", "both", "2024")


def test_store_without_addresses_is_reported(tmp_path: Path) -> None:
    s = open_store(tmp_path / "vide.gpkg")
    try:
        with pytest.raises(PerimeterStoreError, match="aucune adresse"):
            store_addresses(s)
        with pytest.raises(PerimeterStoreError, match="Aucun périmètre"):
            lookup_index_from_store(s)
    finally:
        s.close()
