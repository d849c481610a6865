"""Every file of ../shared/data that holds a layer imports, with every row accounted for."""

from __future__ import annotations

from pathlib import Path

import pytest

from layers.importer import ImportOptions, import_file
from layers.store import LayerStore


def _accounted(report) -> None:  # type: ignore[no-untyped-def]
    assert report.n_read == report.n_inserted + report.n_existing + report.n_rejected
    assert report.rejects["row"].nunique() == report.n_rejected  # one line per error of a row
    assert report.rejects["row"].notna().all()
    assert report.rejects["reason"].str.len().gt(0).all()


def test_dansmarue_10000_rows_accounted(paris_store: LayerStore, shared_data: Path) -> None:
    r = import_file(paris_store, shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv",
                    options=ImportOptions(mapping="dansmarue"))
    _accounted(r)
    assert r.n_read == 10_000
    assert r.n_inserted + r.n_rejected == 10_000
    assert paris_store.count("observations") == r.n_inserted
    # the 70 reports inside QP075019 quoted by the data README
    from geo.stats.zones import count_by_zone

    counts = count_by_zone(paris_store.read("observations"), paris_store.read("perimetres"))
    assert dict(zip(counts["code"], counts["count"], strict=True))["QP075019"] == 70
    themes = paris_store.read("observations", where={"theme": "dépôts sauvages"})
    assert len(themes) == 2846  # « Objets abandonnés » rows


def test_reimport_adds_nothing(paris_store: LayerStore, shared_data: Path) -> None:
    path = shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv"
    first = import_file(paris_store, path, options=ImportOptions(mapping="dansmarue"))
    again = import_file(paris_store, path, options=ImportOptions(mapping="dansmarue"))
    assert again.n_inserted == 0
    assert again.n_existing == first.n_inserted
    assert paris_store.count("observations") == first.n_inserted
    assert len(paris_store.imports()) == 3


def test_paris_cctv_707(paris_store: LayerStore, shared_data: Path) -> None:
    r = import_file(paris_store, shared_data / "paris" / "videoprotection-paris-2019.csv",
                    options=ImportOptions(mapping="paris-videoprotection"))
    _accounted(r)
    assert r.n_read == 707
    assert r.n_inserted == 707  # Excel serial dates and « inconnue » handled, nothing lost
    cams = paris_store.read("videoprotection")
    assert cams["installed_at"].notna().sum() == 697
    assert cams["installed_at"].min().year == 2011


def test_paris_ban_158048(store: LayerStore, shared_data: Path) -> None:
    r = import_file(store, shared_data / "paris" / "adresses-75.csv.gz",
                    options=ImportOptions(mapping="ban", territory_margin_m=None))
    _accounted(r)
    assert (r.n_read, r.n_inserted) == (158_048, 158_048)
    bis = store.read("adresses", where={"suffix": "b"}, limit=5)  # BAN writes « b » for bis
    assert len(bis) == 5


def test_occitanie_qpv_105_with_32_repaired(store: LayerStore, shared_data: Path) -> None:
    r = import_file(store, shared_data / "montpellier" / "qp-occitanie-2015.geojson",
                    options=ImportOptions(mapping="qpv-occitanie"))
    _accounted(r)
    assert (r.n_read, r.n_inserted, r.n_repaired) == (105, 105, 32)
    perims = store.read("perimetres")
    assert perims.is_valid.all()
    assert perims["repaired"].sum() == 32
    assert set(perims.geom_type) == {"MultiPolygon"}


def test_paris_invalid_qpv_repaired_not_dropped(store: LayerStore, shared_data: Path) -> None:
    r = import_file(store, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                    options=ImportOptions(mapping="qpv-paris"))
    assert (r.n_inserted, r.n_repaired) == (3, 1)
    qp = store.read("perimetres", where={"code": "QP075019"})
    assert qp.is_valid.all() and bool(qp["repaired"].iloc[0])
    assert 0.5e6 < qp.area.iloc[0] < 1.5e6  # ~0.9 km² in Lambert-93


@pytest.mark.parametrize(
    ("mapping", "name", "expected"),
    [
        ("montpellier-adresses", "VilleMTP_MTP_PointAdresse.zip", 36_395),
        ("montpellier-eclairage", "VilleMTP_MTP_EclairagePublic.zip", 29_969),
        ("montpellier-cameras", "VilleMTP_MTP_CameraSurv.geojson", 141),
        ("montpellier-voies", "VilleMTP_MTP_FilaireVoies.zip", 8_011),
        ("montpellier-batiments", "VilleMTP_MTP_Batiments.zip", 3_356),
    ],
)
def test_montpellier_layers(store: LayerStore, shared_data: Path, mapping: str, name: str,
                            expected: int) -> None:
    r = import_file(store, shared_data / "montpellier" / name,
                    options=ImportOptions(mapping=mapping, territory_margin_m=None))
    _accounted(r)
    assert r.n_read == expected
    assert r.n_inserted == expected
    info = {i.name: i for i in store.layers()}
    layer = r.layer
    assert info[layer].count == expected
    # IGNF « RGF93 Lambert 93 » WKT (or the undeclared camera GeoJSON) lands in EPSG:2154
    xmin, ymin, xmax, ymax = info[layer].bbox  # type: ignore[misc]
    assert 740_000 < xmin < xmax < 790_000 and 6_260_000 < ymin < ymax < 6_300_000


def test_montpellier_containers_accounted(store: LayerStore, shared_data: Path) -> None:
    import_file(store, shared_data / "montpellier" / "qp-occitanie-2015.geojson",
                options=ImportOptions(mapping="qpv-occitanie"))
    r = import_file(store, shared_data / "montpellier" / "conteneurs-languedoc-roussillon-osm-2014.csv",
                    options=ImportOptions(mapping="conteneurs-osm"))
    _accounted(r)
    assert r.n_read == 1_162
    reasons = r.rejects["reason"]
    assert reasons.eq("ligne vide").sum() == 1  # the trailing « ,,,, » line
    assert reasons.str.contains("valeur non autorisée").any()  # déchèteries are not bins
    bacs = store.read("bacs")
    assert set(bacs["flux"]) <= {"verre", "tri", "textile", "biodéchets", "multiflux"}
    assert (bacs["flux"] == "verre").sum() > 300


def test_montpellier_camera_csv_dbf_headers(store: LayerStore, shared_data: Path) -> None:
    from layers.sources import read_source

    table = read_source(shared_data / "montpellier" / "VilleMTP_MTP_CameraSurv.csv")
    assert table.encoding == "cp1252"
    assert list(table.frame.columns)[:3] == ["FID_1", "Id", "Nom"]
    assert "Hopitaux-Facultés" in set(table.frame["LIBSQUART"])
    assert len(table.frame) == 141
