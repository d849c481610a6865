"""``qpv localiser --csv`` streams its file: chunked output equals the whole-file run, memory is bounded.

Real data: the Paris QPV perimeters and the Paris BAN (points), repeated 10× into a temporary
file for the memory test; small files made messy on purpose (Windows-1252 byte far from the
head, BOM, quotes and separators inside values, mixed coordinate systems, header only).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geo.perimeters.lookup import build_index
from layers.sources import decode_text
from webmap.cli._lookup_csv import detect_columns, lookup_csv, read_header, sniff_csv
from webmap.errors import CliInputError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paris_index(shared_data: Path) -> object:
    return build_index(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))


@pytest.fixture(scope="module")
def ban(shared_data: Path) -> pd.DataFrame:
    cols = ["id", "numero", "rep", "nom_voie", "code_postal", "nom_commune", "lon", "lat"]
    return pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", dtype=str,
                       keep_default_na=False, usecols=cols)[cols]


def _run(index: object, path: Path, out: Path, rows: int) -> dict[str, int]:
    source = sniff_csv(path)
    columns = detect_columns(read_header(source), address=None, lon=None, lat=None, source=path.name)
    return lookup_csv(index, source, out, columns=columns, commune=None, chunk_rows=rows)


def test_chunks_equal_whole_file_on_a_messy_cp1252_file(paris_index: object, ban: pd.DataFrame,
                                                         tmp_path: Path) -> None:
    sample = ban.iloc[::40].copy()  # 3,952 rows, all of Paris
    sample["nom_voie"] = sample["nom_voie"].str.replace("Rue ", 'Rue "dite" ; ', n=1, regex=False)
    sample.loc[sample.index[::17], ["lon", "lat"]] = ""
    sample.iloc[-1, sample.columns.get_loc("nom_voie")] = "Allée des Œillets — fin"
    src = tmp_path / "adresses.csv"
    sample.to_csv(src, sep=";", index=False, encoding="cp1252", errors="replace")
    assert src.stat().st_size > 64 * 1024  # the only non-ASCII rows are far from the head
    # the encoding found by streaming is the one the whole-file decoder finds
    assert sniff_csv(src).encoding == decode_text(src.read_bytes())[1] == "cp1252"
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    counts = _run(paris_index, src, whole, 10**9)
    assert _run(paris_index, src, chunked, 333) == counts
    assert chunked.read_bytes() == whole.read_bytes()
    got = pd.read_csv(chunked, sep=";", dtype=str, keep_default_na=False, encoding="cp1252")
    assert got["id"].tolist() == sample["id"].tolist()
    assert counts.get("dans_qpv", 0) > 0 and counts.get("vide", 0) == len(sample.index[::17])
    assert not list(tmp_path.glob("*.partiel"))


def test_bom_header_only_and_mixed_coordinates(paris_index: object, ban: pd.DataFrame,
                                               tmp_path: Path) -> None:
    src = tmp_path / "bom.csv"
    ban.iloc[:50].to_csv(src, sep=",", index=False, encoding="utf-8-sig")
    assert sniff_csv(src).encoding == "utf-8-sig" and sniff_csv(src).sep == ","
    whole, chunked = tmp_path / "w.csv", tmp_path / "c.csv"
    _run(paris_index, src, whole, 10**9)
    _run(paris_index, src, chunked, 7)
    assert chunked.read_bytes() == whole.read_bytes() and whole.read_bytes().count(b"\xef\xbb\xbf") == 1
    empty = tmp_path / "vide.csv"
    empty.write_text("id;lon;lat\n", encoding="utf-8")
    out = tmp_path / "vide-sortie.csv"
    assert _run(paris_index, empty, out, 10) == {}
    assert out.read_text(encoding="utf-8").startswith("id;lon;lat;qpv_statut;")
    mixed = tmp_path / "mixte.csv"
    table = ban.iloc[:20].copy()
    table.loc[table.index[15:], ["lon", "lat"]] = ["652000.5", "6862000.5"]
    table.to_csv(mixed, sep=";", index=False)
    with pytest.raises(CliInputError, match="mélangé"):
        _run(paris_index, mixed, tmp_path / "m.csv", 10)
    assert not (tmp_path / "m.csv").exists()


_CHILD = """
import json, resource, sys
from pathlib import Path
import geopandas as gpd
from geo.perimeters.lookup import build_index
from webmap.cli._lookup_csv import detect_columns, lookup_csv, read_header, sniff_csv
src, out, rows, perimeters = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
index = build_index(gpd.read_file(perimeters))
source = sniff_csv(src)
columns = detect_columns(read_header(source), address=None, lon=None, lat=None, source=src.name)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
counts = lookup_csv(index, source, out, columns=columns, commune=None, chunk_rows=rows)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mb": (after - before) / 1024, "counts": counts}))
"""


def _child(src: Path, out: Path, rows: int, shared: Path) -> dict[str, object]:
    res = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(out), str(rows),
                          str(shared / "paris" / "qpv-paris-idf-2015.geojson")],
                         capture_output=True, text=True, cwd=REPO, check=True, timeout=900)
    result: dict[str, object] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_ten_times_the_paris_ban_in_bounded_memory(ban: pd.DataFrame, shared_data: Path,
                                                   tmp_path: Path) -> None:
    one, ten = tmp_path / "ban-x1.csv", tmp_path / "ban-x10.csv"
    ban.to_csv(one, sep=";", index=False)
    with ten.open("w", encoding="utf-8") as fh:
        for k in range(10):
            ban.to_csv(fh, sep=";", index=False, header=k == 0)
    small = _child(one, tmp_path / "x1.csv", 50_000, shared_data)  # 4 chunks
    large = _child(ten, tmp_path / "x10.csv", 50_000, shared_data)  # 32 chunks
    whole = _child(ten, tmp_path / "x10-whole.csv", 10**9, shared_data)
    assert (tmp_path / "x10.csv").read_bytes() == (tmp_path / "x10-whole.csv").read_bytes()
    counts_one, counts_ten = small["counts"], large["counts"]
    assert isinstance(counts_one, dict) and isinstance(counts_ten, dict)
    assert counts_ten == {k: 10 * v for k, v in counts_one.items()}
    assert sum(counts_ten.values()) == 10 * len(ban)
    growth = {"x1": small["growth_mb"], "x10": large["growth_mb"], "x10_whole": whole["growth_mb"]}
    assert isinstance(growth["x1"], float) and isinstance(growth["x10"], float)
    assert isinstance(growth["x10_whole"], float)
    # bounded by the chunk, not the file: 10× the rows, (nearly) the same peak (allocator slack)
    assert growth["x10"] <= growth["x1"] * 1.5 + 30, growth
    assert growth["x10"] * 5 < growth["x10_whole"], growth
