"""Streamed imports: the columnar CSV reader, block-by-block checks, the hash of a re-import.

References are independent of the new path: the row-by-row reader (:func:`read_csv`) and
the import of the whole file as one block (the columnar reader switched off), on real
Paris BAN rows made messy on purpose.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import layers.importer as importer
from geo.errors import CRSError
from layers._csv_stream import iter_csv_chunks, scan_csv
from layers.importer import ImportOptions, import_file
from layers.schema import Field
from layers.sources import read_csv
from layers.store import LayerStore, open_store
from layers.store._convert import sql_column


def ban_lines(shared_data: Path, n: int) -> list[str]:
    """The header and the first ``n`` rows of the real Paris BAN (without line ends)."""
    with gzip.open(shared_data / "paris" / "adresses-75.csv.gz", "rt", encoding="utf-8") as src:
        return [next(src).rstrip("\n") for _ in range(n + 1)]


def messy_ban(shared_data: Path, n: int = 60) -> list[str]:
    """Real BAN rows with, on purpose: a repeated id far from its first, a short row, a long
    row, white-space and separator-only lines, a row without street, swapped coordinates."""
    lines = ban_lines(shared_data, n)
    width = lines[0].count(";")
    lines[25] = lines[3]  # the id of row 4 again, 22 rows later (another block)
    lines[9] = ";".join(lines[9].split(";")[:5])  # truncated
    lines[14] = lines[14] + ";extra"  # one field too many
    lines[17] = "   "
    lines[30] = ";" * width
    fields = lines[33].split(";")
    fields[4] = ""  # nom_voie: street required
    lines[33] = ";".join(fields)
    fields = lines[40].split(";")
    fields[10], fields[11] = fields[11], fields[10]  # x and y swapped
    lines[40] = ";".join(fields)
    return lines


def write(path: Path, lines: list[str], *, end: str = "\n", encoding: str = "utf-8",
          last: bool = True) -> Path:
    text = end.join(lines) + (end if last else "")
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def chunked(path: Path, rows: int, **read: str | None) -> tuple[pd.DataFrame, list[int], pd.DataFrame, str]:
    scan = scan_csv(path, **read)
    assert scan is not None, "the columnar reader should read this file"
    tables = list(iter_csv_chunks(scan, rows=rows))
    frame = pd.concat([t.frame for t in tables]).astype(object)
    rejects = pd.concat([t.rejects for t in tables], ignore_index=True)
    return frame, [r for t in tables for r in t.rows.tolist()], rejects, scan.encoding


@pytest.mark.parametrize(("suffix", "end", "encoding", "last"), [
    (".csv", "\n", "utf-8", True), (".csv.gz", "\r\n", "utf-8", False),
    (".csv", "\n", "utf-8-sig", True), (".csv", "\r\n", "cp1252", True), (".csv", "\n", "latin-1", True),
])
def test_columnar_reader_reads_as_the_row_by_row_reader(shared_data: Path, tmp_path: Path, suffix: str,
                                                        end: str, encoding: str, last: bool) -> None:
    lines = messy_ban(shared_data)
    if encoding == "latin-1":  # a byte CP1252 leaves undefined: the file is Latin-1
        lines[5] = lines[5].replace("Avenue", "Av\x81enue")
    path = write(tmp_path / f"ban{suffix}", lines, end=end, encoding=encoding, last=last)
    reference = read_csv(path)
    for rows in (7, 1000):  # several blocks, and one
        frame, numbers, rejects, used = chunked(path, rows)
        assert used == reference.encoding
        assert frame.values.tolist() == reference.frame.values.tolist()
        assert list(frame.columns) == list(reference.frame.columns)
        assert numbers == reference.rows.tolist()
        assert rejects.to_dict("records") == reference.rejects.to_dict("records")
        assert len(rejects) == 4  # short, long, blank, separators only


@pytest.mark.parametrize("damage", ['"quoted;field"', "", "\rbare"])
def test_files_the_columnar_reader_cannot_promise_go_row_by_row(shared_data: Path, tmp_path: Path,
                                                              damage: str) -> None:
    lines = ban_lines(shared_data, 10)
    lines.insert(5, damage)
    path = write(tmp_path / "ban.csv", lines)
    assert scan_csv(path) is None


def reference_import(store: LayerStore, path: Path, monkeypatch: pytest.MonkeyPatch,
                     **options: object) -> importer.ImportReport:
    """The import of the whole file as one block, read row by row (the columnar reader off)."""
    with monkeypatch.context() as m:
        m.setattr(importer, "scan_csv", lambda *a, **k: None)
        return import_file(store, path, options=ImportOptions(mapping="ban", territory_margin_m=None,
                                                             force=True, **options))  # type: ignore[arg-type]


def records(store: LayerStore) -> pd.DataFrame:
    frame = store.read("adresses").drop(columns=["created_at", "updated_at"])
    frame["wkb"] = frame.geometry.to_wkb()
    return pd.DataFrame(frame.drop(columns="geometry")).sort_values("uid").reset_index(drop=True)


def test_streamed_import_stores_and_rejects_as_the_whole_file_import(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "ban.csv.gz", messy_ban(shared_data))
    with open_store(tmp_path / "ref.gpkg") as ref_store:
        expected = reference_import(ref_store, path, monkeypatch)
        expected_records = records(ref_store)
    monkeypatch.setattr(importer, "READ_BLOCK", 7)
    monkeypatch.setattr(importer, "WRITE_BLOCK", 3)
    with open_store(tmp_path / "new.gpkg") as store:
        touched: list[str] = []
        touch = store._touch  # type: ignore[attr-defined]
        monkeypatch.setattr(store, "_touch", lambda t, *a, **k: (touched.append(t), touch(t, *a, **k)))
        report = import_file(store, path, options=ImportOptions(mapping="ban", territory_margin_m=None))
        assert touched == ["adresses"], "the layer extent is refreshed once per import"
        bbox = next(i.bbox for i in store.layers() if i.name == "adresses")
        got = records(store)
    assert (report.n_read, report.n_inserted, report.n_existing, report.n_rejected) == (
        expected.n_read, expected.n_inserted, expected.n_existing, expected.n_rejected)
    assert report.n_rejected == 7 and report.n_read == 60
    pd.testing.assert_frame_equal(report.rejects.astype(str), expected.rejects.astype(str))
    assert "identifiant en double (déjà vu ligne 4)" in set(report.rejects["reason"])
    pd.testing.assert_frame_equal(got, expected_records)
    xy = np.array([[g.x, g.y] for g in store_geoms(tmp_path / "new.gpkg")])
    assert bbox == pytest.approx((*xy.min(axis=0), *xy.max(axis=0)), abs=1.0)


def store_geoms(path: Path) -> list:
    with open_store(path) as store:
        return list(store.read("adresses").geometry)


def test_implausible_coordinates_are_decided_on_the_whole_file(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most rows of the first block in Lambert 93 under a WGS84 mapping, the file mostly in
    degrees: rows rejected, no error, as for the whole file in one block; and the other way."""
    lines = ban_lines(shared_data, 40)
    header = lines[0].split(";")
    x, y, lon, lat = (header.index(c) for c in ("x", "y", "lon", "lat"))
    mapping = tmp_path / "ban-wgs84.yaml"
    mapping.write_text((Path(importer.__file__).parents[1] / "data" / "mappings" / "ban.yaml").read_text(
        encoding="utf-8").replace('geometry: {x: x, y: y, crs: "EPSG:2154"}',
                                  'geometry: {x: lon, y: lat, crs: "EPSG:4326"}'), encoding="utf-8")
    for n_lambert, fails in ((8, False), (30, True)):
        rows = [line.split(";") for line in lines[1:]]
        for f in rows[:n_lambert]:
            f[lon], f[lat] = f[x], f[y]
        path = write(tmp_path / f"mixed-{n_lambert}.csv", [lines[0], *(";".join(f) for f in rows)])
        outcomes = []
        for block in (10, 10_000):
            monkeypatch.setattr(importer, "READ_BLOCK", block)
            with open_store(tmp_path / f"s-{n_lambert}-{block}.gpkg") as store:
                try:
                    report = import_file(store, path, options=ImportOptions(mapping=mapping,
                                                                            territory_margin_m=None))
                    outcomes.append(("ok", report.n_inserted, report.n_rejected))
                except CRSError as exc:
                    outcomes.append(("refused", store.count("adresses"), str(exc)))
        assert outcomes[0] == outcomes[1]
        assert outcomes[0][0] == ("refused" if fails else "ok")
        if fails:
            assert outcomes[0][1] == 0 and "Lambert 93" in outcomes[0][2]
        else:
            assert outcomes[0][1:] == (40 - n_lambert, n_lambert)


def test_reimport_of_the_same_file_is_recognised_by_its_hash(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: LayerStore) -> None:
    lines = messy_ban(shared_data, 300)
    path = write(tmp_path / "ban.csv", lines)
    opts = ImportOptions(mapping="ban", territory_margin_m=None)
    first = import_file(store, path, options=opts)
    assert first.already_imported is None and first.n_inserted == 293

    def no_parsing(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the file was parsed again")

    with monkeypatch.context() as m:
        m.setattr(importer, "scan_csv", no_parsing)
        m.setattr(importer, "read_source", no_parsing)
        t0 = time.perf_counter()
        again = import_file(store, path, options=opts)
        assert time.perf_counter() - t0 < 1.0
    assert (again.n_read, again.n_inserted, again.n_existing, again.n_rejected) == (300, 0, 293, 7)
    assert again.rejects.to_dict("records") == first.rejects.to_dict("records")
    assert again.already_imported is not None and again.message is not None
    assert "ban.csv déjà importé le " + again.already_imported[:10] in again.message
    assert "293 ligne(s) déjà présente(s), 0 ajoutée" in again.message
    assert store.count("adresses") == 293
    # --force: parsed again, the same accounting found by reading
    forced = import_file(store, path, options=ImportOptions(mapping="ban", territory_margin_m=None,
                                                           force=True))
    assert forced.already_imported is None
    assert (forced.n_inserted, forced.n_existing, forced.n_rejected) == (0, 293, 7)
    # one more row: another file, imported normally
    extra = ban_lines(shared_data, 301)[-1]
    changed = write(tmp_path / "ban.csv", [*lines, extra])
    grown = import_file(store, changed, options=opts)
    assert grown.already_imported is None and (grown.n_inserted, grown.n_existing) == (1, 293)
    # rows deleted since: the same file is read again and puts them back
    store.delete("adresses", store.read("adresses", limit=10)["uid"].tolist())
    back = import_file(store, changed, options=opts)
    assert back.already_imported is None and back.n_inserted == 10


@pytest.mark.parametrize(("values", "f"), [
    (pd.Series([1, None, 3], dtype="Int64"), Field("n", "int")),
    (pd.Series([True, None, False], dtype="boolean"), Field("b", "bool")),
    (pd.Series([1.5, np.nan, -2.0]), Field("x", "float")),
    (pd.Series(pd.to_datetime(["2024-01-02 03:04:05", None])), Field("d", "datetime")),
    (pd.Series(pd.to_datetime(["2024-01-02 03:04:05.25", None])), Field("d", "datetime")),
    (pd.Series(pd.to_datetime(["2024-01-02", None])), Field("d", "date")),
    (pd.Series(["a", None, "é"], dtype="object"), Field("s")),
    (pd.Series(["a", None, "b"], dtype="string"), Field("s")),
    (pd.Series(["a", 3, None, [1]], dtype="object"), Field("s")),
])
def test_bulk_sql_values_are_those_of_the_value_by_value_conversion(values: pd.Series, f: Field) -> None:
    def one_by_one(v: object) -> object:
        if v is None or (not isinstance(v, (str, list, dict)) and pd.isna(v)):  # type: ignore[arg-type]
            return None
        if f.type == "bool":
            return int(bool(v))
        if f.type == "int":
            return int(v)  # type: ignore[call-overload]
        if f.type == "float":
            return float(v)  # type: ignore[arg-type]
        if f.type in ("date", "datetime") and not isinstance(v, str):
            ts = pd.Timestamp(v)  # type: ignore[arg-type]
            return ts.strftime("%Y-%m-%d") if f.type == "date" else ts.isoformat()
        return str(v)

    got = sql_column(values, f)
    assert got == [one_by_one(v) for v in values]
    assert [type(v) for v in got] == [type(one_by_one(v)) for v in values]


def test_cli_says_already_imported_and_reads_again_with_forcer(shared_data: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from webmap.cli import main

    monkeypatch.setenv("QPV_STORE", str(tmp_path / "t.gpkg"))
    monkeypatch.setenv("QPV_REPORTS_DIR", str(tmp_path / "rapports"))
    path = write(tmp_path / "adresses.csv", ban_lines(shared_data, 50))
    runner = CliRunner()
    args = ["importer", "adresses", str(path), "-m", "ban"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "50 lignes lues : 50 ajoutées" in first.output and "déjà importé" not in first.output
    again = runner.invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "adresses.csv déjà importé le " in again.output
    assert "50 lignes lues : 0 ajoutées, 50 déjà présentes, 0 rejetées" in again.output
    forced = runner.invoke(main, [*args, "--forcer"])
    assert forced.exit_code == 0, forced.output
    assert "déjà importé" not in forced.output
    assert "50 lignes lues : 0 ajoutées, 50 déjà présentes, 0 rejetées" in forced.output


@pytest.mark.parametrize("collide", [False, True])
def test_seen_ids_answer_as_a_dictionary_even_when_every_hash_collides(
        shared_data: Path, monkeypatch: pytest.MonkeyPatch, collide: bool) -> None:
    from layers import _import_stages

    if collide:
        monkeypatch.setattr(_import_stages.pd.util, "hash_array",
                            lambda values: np.zeros(len(values), dtype=np.uint64))
    ids = [line.split(";")[0] for line in ban_lines(shared_data, 400)[1:]]
    seen, reference = _import_stages.SeenIds(), {}
    for start in range(0, 400, 90):
        block = ids[start:start + 90] + ids[start // 2:start // 2 + 5] + ["inconnu"]
        assert seen.first_rows(block).tolist() == [reference.get(v, -1) for v in block]
        new = [(v, start + i) for i, v in enumerate(ids[start:start + 90]) if v not in reference]
        seen.add([v for v, _ in new], [r for _, r in new])
        reference.update(new)
