"""Oversized files, zip bombs, gzip bombs and monstrous CSV lines: refused early with a
French message naming the file and the limit, without exhausting memory, store unchanged."""

from __future__ import annotations

import gzip
import io
import stat
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from layers.errors import SourceFileError
from layers.importer import ImportOptions, import_file
from layers.settings import get_settings
from layers.sources import MAX_COLUMNS, MAX_ZIP_MEMBERS, read_source
from layers.store import LayerStore
from tests.layers.conftest import snapshot

HEADER = b"lon;lat;theme;observed_at;status;source\n"
ROW = b"2.38;48.88;propret\xc3\xa9;2024-01-01;nouveau;import\n"


@pytest.fixture
def store(gpkg_store: LayerStore) -> LayerStore:
    """A GeoPackage store: these files are refused while being read, before any backend."""
    return gpkg_store


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """Import limit lowered to 1 MB; returns it in bytes."""
    monkeypatch.setenv("QPV_MAX_IMPORT_MB", "1")
    return 1024 * 1024


def _refused(store: LayerStore, path: Path, match: str, **kwargs: object) -> SourceFileError:
    before = snapshot(store)
    with pytest.raises(SourceFileError, match=match) as info:
        import_file(store, path, layer="observations",
                    options=ImportOptions(territory_margin_m=None, **kwargs))  # type: ignore[arg-type]
    assert path.name in str(info.value) or "archive" in str(info.value).lower()
    assert snapshot(store) == before
    return info.value


def test_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().max_import_mb == 500
    monkeypatch.setenv("QPV_MAX_IMPORT_MB", "12.5")
    assert get_settings().max_import_mb == 12.5
    for bad in ("0", "-3", "beaucoup", "inf", "nan"):
        monkeypatch.setenv("QPV_MAX_IMPORT_MB", bad)
        assert get_settings().max_import_mb == 500


def test_oversized_csv(store: LayerStore, tmp_path: Path, small_limit: int) -> None:
    f = tmp_path / "enorme.csv"
    f.write_bytes(HEADER + ROW * (small_limit // len(ROW) + 10))
    err = _refused(store, f, r"enorme\.csv trop volumineux : plus de 1 Mo \(limite QPV_MAX_IMPORT_MB\)")
    assert "1 Mo" in str(err)


def test_oversized_vector_files(store: LayerStore, tmp_path: Path, small_limit: int) -> None:
    for name in ("enorme.geojson", "enorme.gpkg", "enorme.zip"):
        f = tmp_path / name
        f.write_bytes(b"\x00" * (small_limit + 1))
        _refused(store, f, "trop volumineux")


def test_gzip_bomb_stops_at_the_limit(store: LayerStore, tmp_path: Path, small_limit: int) -> None:
    """64 MB of zeros packed in ~64 kB: refused after reading just past 1 MB, in bounded memory."""
    f = tmp_path / "bombe.csv.gz"
    with gzip.open(f, "wb", compresslevel=9) as gz:
        gz.write(HEADER)
        block = b"0" * (1 << 20)
        for _ in range(64):
            gz.write(block)
    assert f.stat().st_size < 200_000
    tracemalloc.start()
    try:
        _refused(store, f, r"bombe\.csv\.gz trop volumineux une fois décompressé")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * small_limit


def test_gzip_bomb_geojson(store: LayerStore, tmp_path: Path, small_limit: int) -> None:
    f = tmp_path / "bombe.geojson.gz"
    with gzip.open(f, "wb") as gz:
        gz.write(b'{"type": "FeatureCollection", "features": [' + b" " * (4 * small_limit) + b"]}")
    _refused(store, f, "une fois décompressé")


def test_default_limit_refuses_a_huge_gzip_without_reading_it_all(store: LayerStore, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPV_MAX_IMPORT_MB", "8")
    f = tmp_path / "grosse-bombe.csv.gz"
    with gzip.open(f, "wb", compresslevel=1) as gz:
        block = b"a" * (1 << 20)
        for _ in range(40):
            gz.write(block)
    _refused(store, f, "trop volumineux une fois décompressé : plus de 8 Mo")


def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]],
         compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def test_zip_bomb_ratio(store: LayerStore, tmp_path: Path) -> None:
    f = _zip(tmp_path / "bombe.zip", [("a.shp", b"\x00" * (20 << 20)), ("a.dbf", b"x")])
    _refused(store, f, "taux de compression anormal")


def test_zip_bomb_total_size(store: LayerStore, tmp_path: Path, small_limit: int) -> None:
    f = _zip(tmp_path / "lourde.zip", [("a.shp", b"x" * (small_limit + 10))], zipfile.ZIP_STORED)
    _refused(store, f, "trop volumineux")


def test_zip_nested_archive(store: LayerStore, tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("a.shp", b"x" * 100)
    f = _zip(tmp_path / "gigogne.zip", [("a.shp", b"x" * 100), ("dedans.zip", inner.getvalue())],
             zipfile.ZIP_STORED)
    _refused(store, f, r"contient une autre archive \(dedans\.zip\)")


def test_zip_too_many_members(store: LayerStore, tmp_path: Path) -> None:
    f = _zip(tmp_path / "foule.zip", [(f"f{i}.shp", b"") for i in range(MAX_ZIP_MEMBERS + 1)],
             zipfile.ZIP_STORED)
    _refused(store, f, rf"{MAX_ZIP_MEMBERS + 1} fichiers \(au plus {MAX_ZIP_MEMBERS}\)")


@pytest.mark.parametrize("name", ["../../x.shp", "a/../../x.shp", "/etc/x.shp", "..\\..\\x.shp",
                                  "C:/Windows/x.shp"])
def test_zip_member_path_traversal(store: LayerStore, tmp_path: Path, name: str) -> None:
    f = _zip(tmp_path / "evasion.zip", [(name, b"x" * 100), ("a.dbf", b"x")], zipfile.ZIP_STORED)
    _refused(store, f, "sort de l'archive")
    assert not (tmp_path.parent / "x.shp").exists()


def test_zip_symlink_member(store: LayerStore, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("a.shp")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    f = _zip(tmp_path / "lien.zip", [(link, b"/etc/passwd"), ("a.dbf", b"x")], zipfile.ZIP_STORED)
    _refused(store, f, "lien symbolique")


@pytest.mark.parametrize("data", [b"PK\x03\x04" + b"\x00" * 50, b"PK\x05\x06" + b"\xff" * 18, b"\xff" * 300])
def test_corrupt_zip(store: LayerStore, tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "casse.zip"
    f.write_bytes(data)
    _refused(store, f, "illisible|tronquée|corrompu")


def test_csv_single_huge_line(store: LayerStore, tmp_path: Path) -> None:
    """One 100 MB line without a newline: refused, naming the line, not split in memory twice."""
    f = tmp_path / "une-ligne.csv"
    with f.open("wb") as fh:
        fh.write(HEADER)
        fh.write(b"2.38;48.88;")
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
        fh.write(b";2024-01-01;nouveau;import\n")
    _refused(store, f, r"une-ligne\.csv, ligne 2 : champ de plus de \d+ caractères")


def test_csv_unclosed_quote_swallowing_the_file(store: LayerStore, tmp_path: Path) -> None:
    f = tmp_path / "guillemet.csv"
    f.write_bytes(HEADER + b'2.38;48.88;"propret' + ROW * 20_000)
    _refused(store, f, r"guillemet\.csv, ligne 2 : champ de plus de")


def test_csv_millions_of_columns(store: LayerStore, tmp_path: Path) -> None:
    f = tmp_path / "colonnes.csv"
    f.write_bytes(b";".join(b"c%d" % i for i in range(1_000_000)) + b"\n" + b"1;" * 999_999 + b"1\n")
    _refused(store, f, rf"colonnes\.csv a 1000000 colonnes \(au plus {MAX_COLUMNS}\)")


def test_csv_rows_with_millions_of_columns_are_rejects(store: LayerStore, tmp_path: Path) -> None:
    f = tmp_path / "lignes-larges.csv"
    f.write_bytes(HEADER + ROW + b"x;" * 2_000_000 + b"\n" + ROW.replace(b"48.88", b"48.89"))
    table = read_source(f)
    assert len(table.frame) == 2 and list(table.rejects["row"]) == [3]
    assert "nombre de colonnes incorrect (2000001 au lieu de 6)" in table.rejects["reason"].iloc[0]
    assert len(table.rejects["value"].iloc[0]) <= 80
    r = import_file(store, f, layer="observations", options=ImportOptions(territory_margin_m=None))
    assert (r.n_read, r.n_inserted, r.n_rejected) == (3, 2, 1)


def test_cli_import_refuses_hostile_files_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``qpv import`` turns each refusal into one French line and exit status 1, no traceback."""
    from click.testing import CliRunner

    from webmap.cli import main

    monkeypatch.setenv("QPV_STORE", str(tmp_path / "t.gpkg"))
    monkeypatch.setenv("QPV_REPORTS_DIR", str(tmp_path / "rapports"))
    monkeypatch.setenv("QPV_MAX_IMPORT_MB", "1")
    bomb = _zip(tmp_path / "bombe.zip", [("a.shp", b"\x00" * (20 << 20)), ("a.dbf", b"x")])
    evasion = _zip(tmp_path / "evasion.zip", [("../../x.shp", b"x" * 100)], zipfile.ZIP_STORED)
    gz = tmp_path / "bombe.csv.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(HEADER + b"0" * (4 << 20))
    runner = CliRunner()
    for f, message in ((bomb, "trop volumineux"), (evasion, "sort de l'archive"), (gz, "trop volumineux")):
        res = runner.invoke(main, ["importer", "observations", str(f)])
        assert res.exit_code == 1, res.output
        assert message in res.output and "Traceback" not in res.output
