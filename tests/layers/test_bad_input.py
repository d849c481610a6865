"""Each class of bad input gives a clear error or a reject row, and a failed import changes nothing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from geo.errors import CRSError
from layers.errors import MappingError, RecordError, SourceFileError
from layers.importer import ImportOptions, import_file
from layers.mapping import load_mapping, parse_mapping
from layers.store import LayerStore
from tests.layers.conftest import snapshot

DMR = ("paris", "dansmarue-2023-2024-echantillon.csv")
CCTV = ("paris", "videoprotection-paris-2019.csv")


def _lines(shared: Path, parts: tuple[str, str], n: int | None = None) -> list[str]:
    text = (shared / parts[0] / parts[1]).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    return lines if n is None else lines[: n + 1]


def test_wrong_encoding_is_detected(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    cp = tmp_path / "dmr-cp1252.csv"
    cp.write_bytes("".join(_lines(shared_data, DMR, 300)).encode("cp1252", errors="replace"))
    r = import_file(paris_store, cp, options=ImportOptions(mapping="dansmarue"))
    assert r.encoding == "cp1252"
    assert r.n_inserted == 300
    obs = paris_store.read("observations")
    assert obs["description"].str.contains("Propreté").any()  # accents decoded right


def test_declared_encoding_that_does_not_fit(paris_store: LayerStore, shared_data: Path,
                                             tmp_path: Path) -> None:
    cp = tmp_path / "dmr-cp1252.csv"
    cp.write_bytes("".join(_lines(shared_data, DMR, 50)).encode("cp1252", errors="replace"))
    data = json.loads(json.dumps({"layer": "observations", "dataset": "dmr-utf8",
                                  "read": {"encoding": "utf-8"},
                                  "geometry": {"point_dict": "geo_point_2d"},
                                  "id": "id_dmr", "fields": {"observed_at": "datedecl",
                                                             "theme": {"value": "propreté"}}}))
    before = snapshot(paris_store)
    with pytest.raises(SourceFileError, match=r"n'est pas encodé en utf-8 \(octet invalide ligne \d+\)"):
        import_file(paris_store, cp, options=ImportOptions(mapping=parse_mapping(data)))
    assert snapshot(paris_store) == before


def test_binary_file(store: LayerStore, tmp_path: Path) -> None:
    f = tmp_path / "photo.csv"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    with pytest.raises(SourceFileError, match="binaire"):
        import_file(store, f, options=ImportOptions(mapping="dansmarue"))


def test_wrong_separator(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    f = tmp_path / "cctv.csv"
    f.write_text("".join(_lines(shared_data, CCTV, 20)), encoding="utf-8")
    m = load_mapping("paris-videoprotection")
    wrong = parse_mapping({"layer": m.layer, "dataset": m.dataset, "read": {"separator": ","},
                           "geometry": dict(m.geometry), "id": "Numéro",
                           "fields": {"name": {"template": "Site {Numéro}"}}})
    before = snapshot(paris_store)
    with pytest.raises(SourceFileError, match=r"séparateur déclaré « , ».*semble utiliser « ; »"):
        import_file(paris_store, f, options=ImportOptions(mapping=wrong))
    assert snapshot(paris_store) == before


def test_swapped_coordinates_whole_file(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / CCTV[1], sep=";", dtype=str)
    df = df.rename(columns={"lon": "lat", "lat": "lon"})
    f = tmp_path / "cctv-swapped.csv"
    df.to_csv(f, sep=";", index=False)
    before = snapshot(paris_store)
    with pytest.raises(CRSError, match="inversées"):
        import_file(paris_store, f, options=ImportOptions(mapping="paris-videoprotection"))
    assert snapshot(paris_store) == before


def test_swapped_coordinates_some_rows(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / CCTV[1], sep=";", dtype=str)
    df.loc[[3, 10], ["lon", "lat"]] = df.loc[[3, 10], ["lat", "lon"]].to_numpy()
    f = tmp_path / "cctv-two-swapped.csv"
    df.to_csv(f, sep=";", index=False)
    r = import_file(paris_store, f, options=ImportOptions(mapping="paris-videoprotection"))
    assert r.n_inserted == 705
    swapped = r.rejects[r.rejects["reason"].str.contains("inversées")]
    assert sorted(swapped["row"]) == [5, 12]  # header is line 1


def test_lambert93_declared_as_wgs84(store: LayerStore, shared_data: Path) -> None:
    m = load_mapping("montpellier-cameras")
    no_crs = parse_mapping({"layer": m.layer, "dataset": m.dataset, "id": "Nom",
                            "fields": {"name": "Nom"}})
    before = snapshot(store)
    with pytest.raises(CRSError, match="Lambert 93"):
        import_file(store, shared_data / "montpellier" / "VilleMTP_MTP_CameraSurv.geojson",
                    options=ImportOptions(mapping=no_crs))
    assert snapshot(store) == before


def test_lambert93_csv_declared_as_wgs84(store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    ban = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", dtype=str, nrows=200)
    f = tmp_path / "ban.csv"
    ban.to_csv(f, sep=";", index=False)
    m = parse_mapping({"layer": "adresses", "dataset": "ban", "geometry": {"x": "x", "y": "y"},
                       "id": "id", "fields": {"street": "nom_voie"}})
    with pytest.raises(CRSError, match="ne sont pas des degrés"):
        import_file(store, f, options=ImportOptions(mapping=m, territory_margin_m=None))


def test_missing_required_field(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / DMR[1], dtype=str, nrows=100)
    df.loc[[0, 7], "datedecl"] = ""
    f = tmp_path / "dmr.csv"
    df.to_csv(f, index=False)
    r = import_file(paris_store, f, options=ImportOptions(mapping="dansmarue"))
    assert r.n_inserted == 98
    assert list(r.rejects["row"]) == [2, 9]
    assert set(r.rejects["field"]) == {"observed_at"}
    assert r.rejects["reason"].str.contains("champ obligatoire manquant").all()


def test_missing_required_column(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / DMR[1], dtype=str, nrows=20).drop(columns=["datedecl"])
    f = tmp_path / "dmr.csv"
    df.to_csv(f, index=False)
    with pytest.raises(MappingError, match="Colonnes absentes du fichier : datedecl"):
        import_file(paris_store, f, options=ImportOptions(mapping="dansmarue"))


def test_duplicate_id(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    lines = _lines(shared_data, DMR, 30)
    f = tmp_path / "dmr-dup.csv"
    f.write_text("".join([*lines, lines[5]]), encoding="utf-8")
    r = import_file(paris_store, f, options=ImportOptions(mapping="dansmarue"))
    assert r.n_read == 31
    assert r.n_inserted == 30
    assert r.rejects.iloc[0]["reason"] == "identifiant en double (déjà vu ligne 6)"
    assert r.rejects.iloc[0]["row"] == 32


def test_empty_file(store: LayerStore, tmp_path: Path) -> None:
    f = tmp_path / "vide.csv"
    f.write_bytes(b"")
    with pytest.raises(SourceFileError, match="vide"):
        import_file(store, f, options=ImportOptions(mapping="dansmarue"))
    g = tmp_path / "entete.csv"
    g.write_text("numero,type,datedecl,id_dmr,geo_point_2d\n", encoding="utf-8")
    with pytest.raises(SourceFileError, match="aucune ligne de données"):
        import_file(store, g, options=ImportOptions(mapping="dansmarue"))


def test_truncated_csv(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    text = "".join(_lines(shared_data, DMR, 40))
    f = tmp_path / "dmr-cut.csv"
    f.write_text(text[: len(text) - 150], encoding="utf-8")  # cut inside the last record
    r = import_file(paris_store, f, options=ImportOptions(mapping="dansmarue"))
    assert r.n_read == r.n_inserted + r.n_rejected
    assert r.n_rejected >= 1
    last = r.rejects.iloc[-1]
    assert "tronquée" in last["reason"] or "illisible" in last["reason"]


def test_truncated_gzip_and_geojson(store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    raw = (shared_data / "paris" / "adresses-75.csv.gz").read_bytes()
    gz = tmp_path / "ban-cut.csv.gz"
    gz.write_bytes(raw[:20_000])
    before = snapshot(store)
    with pytest.raises(SourceFileError, match="tronqué"):
        import_file(store, gz, options=ImportOptions(mapping="ban"))
    gj = tmp_path / "qpv-cut.geojson"
    gj.write_bytes((shared_data / "paris" / "qpv-paris-idf-2015.geojson").read_bytes()[:5_000])
    with pytest.raises(SourceFileError, match="tronqué"):
        import_file(store, gj, options=ImportOptions(mapping="qpv-paris"))
    zp = tmp_path / "voies.zip"
    zp.write_bytes((shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip").read_bytes()[:50_000])
    with pytest.raises(SourceFileError, match="tronquée"):
        import_file(store, zp, options=ImportOptions(mapping="montpellier-voies"))
    assert snapshot(store) == before


def test_non_geometry_in_geometry_column(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / DMR[1], dtype=str, nrows=50)
    df.loc[4, "geo_point_2d"] = "n/a"
    df.loc[9, "geo_point_2d"] = "{'lon': 'abc', 'lat': None}"
    f = tmp_path / "dmr.csv"
    df.to_csv(f, index=False)
    r = import_file(paris_store, f, options=ImportOptions(mapping="dansmarue"))
    assert r.n_inserted == 48
    assert sorted(r.rejects["row"]) == [6, 11]
    assert r.rejects["reason"].str.contains("point illisible").all()


def test_garbage_wkt(store: LayerStore, tmp_path: Path) -> None:
    f = tmp_path / "ops.csv"
    f.write_text(
        "name;kind;wkt\n"
        "Démolition tour A;démolition;POINT (765500 6280500)\n"
        "Résidentialisation B;résidentialisation;pas une géométrie\n"
        "Espace public C;aménagement d'espace public;"
        "POLYGON ((765000 6280000, 765100 6280000, 765100 6280100, 765000 6280100, 765000 6280000))\n",
        encoding="utf-8",
    )
    m = parse_mapping({"layer": "travaux_npnru", "dataset": "ops", "read": {"separator": ";"},
                       "geometry": {"wkt": "wkt", "crs": "EPSG:2154"},
                       "fields": {"name": "name", "kind": "kind"}})
    r = import_file(store, f, options=ImportOptions(mapping=m, territory_margin_m=None))
    assert r.n_inserted == 2
    assert r.rejects.iloc[0]["row"] == 3
    assert "WKT illisible" in r.rejects.iloc[0]["reason"]
    assert set(store.read("travaux_npnru").geom_type) == {"Point", "MultiPolygon"}


def test_bad_values_are_rejected_with_field(store: LayerStore, tmp_path: Path) -> None:
    f = tmp_path / "bacs.csv"
    f.write_text(
        "id;flux;capacite;lon;lat\n1;verre;4000;3.87;43.61\n2;plutonium;4000;3.87;43.61\n"
        "3;OM;beaucoup;3.87;43.61\n4;tri;-5;3.87;43.61\n",
        encoding="utf-8",
    )
    m = parse_mapping({"layer": "bacs", "dataset": "bacs-test", "geometry": {"x": "lon", "y": "lat"},
                       "id": "id", "fields": {"flux": "flux", "capacity_l": "capacite"}})
    r = import_file(store, f, options=ImportOptions(mapping=m, territory_margin_m=None))
    assert r.n_inserted == 1
    assert list(r.rejects["field"]) == ["flux", "capacity_l", "capacity_l"]
    assert list(r.rejects["value"]) == ["plutonium", "beaucoup", "-5"]


def test_far_outside_territory(paris_store: LayerStore, shared_data: Path) -> None:
    r = import_file(paris_store, shared_data / "montpellier" / "VilleMTP_MTP_CameraSurv.geojson",
                    options=ImportOptions(mapping="montpellier-cameras"))
    assert r.n_inserted == 0 and r.n_rejected == 141
    assert r.rejects["reason"].str.contains("km de tout périmètre").all()


def test_strict_mode_and_all_or_nothing(paris_store: LayerStore, shared_data: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.read_csv(shared_data / "paris" / DMR[1], dtype=str, nrows=100)
    df.loc[3, "datedecl"] = "bientôt"
    f = tmp_path / "dmr.csv"
    df.to_csv(f, index=False)
    before = snapshot(paris_store)
    with pytest.raises(SourceFileError, match="mode strict"):
        import_file(paris_store, f, options=ImportOptions(mapping="dansmarue", strict=True))
    assert snapshot(paris_store) == before
    # a failure half-way through the write leaves the store as it was
    backend = type(paris_store)
    original = backend.record_import

    def boom(self: LayerStore, entry: object) -> None:
        raise RecordError("panne simulée pendant l'enregistrement")

    monkeypatch.setattr(backend, "record_import", boom)
    with pytest.raises(RecordError):
        import_file(paris_store, f, options=ImportOptions(mapping="dansmarue"))
    monkeypatch.setattr(backend, "record_import", original)
    assert snapshot(paris_store) == before
    r = import_file(paris_store, f, options=ImportOptions(mapping="dansmarue"))  # the next run succeeds
    assert r.n_inserted == 99


def test_reject_report_files(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / DMR[1], dtype=str, nrows=10)
    df.loc[2, "datedecl"] = "31/02/2024"
    f = tmp_path / "dmr.csv"
    df.to_csv(f, index=False)
    r = import_file(paris_store, f,
                    options=ImportOptions(mapping="dansmarue", report_dir=tmp_path / "rapports"))
    assert r.report_path is not None and r.report_path.exists()
    rejects = pd.read_csv(r.report_path, sep=";")
    assert list(rejects.columns) == ["row", "field", "value", "reason"]
    assert rejects.iloc[0].to_dict()["row"] == 4
    summary = json.loads((r.summary_path or r.report_path)
                         .read_text(encoding="utf-8"))
    assert summary["lues"] == 10 and summary["rejetees"] == 1 and summary["ajoutees"] == 9


def test_gzip_csv_is_read(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    f = tmp_path / "dmr.csv.gz"
    with gzip.open(f, "wt", encoding="utf-8") as fh:
        fh.write("".join(_lines(shared_data, DMR, 25)))
    assert import_file(paris_store, f, options=ImportOptions(mapping="dansmarue")).n_inserted == 25


def test_mapping_filter_rows_are_rejects(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    """Rows a mapping's ``filter`` leaves out are listed as rejects: read = added + present + rejected."""
    src = tmp_path / "dmr-200.csv"
    src.write_text("".join(_lines(shared_data, DMR, 200)), encoding="utf-8")
    frame = pd.read_csv(src, sep=",", dtype=str)
    kept_type = frame["type"].value_counts().index[0]
    data = {"layer": "observations", "dataset": "dmr-filtre", "geometry": {"point_dict": "geo_point_2d"},
            "id": "id_dmr", "filter": {"type": kept_type},
            "fields": {"observed_at": "datedecl", "theme": {"value": "propreté"}}}
    r = import_file(paris_store, src, options=ImportOptions(mapping=parse_mapping(data)))
    n_kept = int((frame["type"] == kept_type).sum())
    assert r.n_read == 200
    assert r.n_inserted == n_kept
    assert r.n_rejected == 200 - n_kept
    assert r.n_read == r.n_inserted + r.n_existing + r.n_rejected
