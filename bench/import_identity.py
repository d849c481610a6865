"""Check that this checkout's importer stores and rejects exactly what another checkout's does.

Run: ``PYTHONPATH=. python bench/import_identity.py --avant /work/main`` (from the checkout to
check). Each importer runs in a child process of its own on: the Paris BAN (158,048 rows),
the Montpellier address points (zipped Shapefile, content-based uids), the Dans Ma Rue
sample (mapping ``dansmarue``), and BAN extracts made messy on purpose (unreadable and
implausible coordinates, empty required fields, numbers out of range or written with
digit groups and commas, blank and repeated ids, a ``,``-separated CP1252 copy). For each
file, the stored table (every column but the write stamps ``created_at``/``updated_at``,
every row in ``fid`` order, uids and geometry blobs included; its child tables and its
R-tree too), the counts and the reject
report (row, field, value, reason) must be identical. Exit status 1 at the first difference.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import pickle
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QPV_SHARED_DATA", ROOT.parent / "shared" / "data"))
BAN = SHARED / "paris" / "adresses-75.csv.gz"
MONTPELLIER = SHARED / "montpellier" / "VilleMTP_MTP_PointAdresse.zip"
DANSMARUE = Path("data/demo/paris/dansmarue-2023-2024-echantillon.csv.gz")
#: Columns stamped with the time of the write: they differ from one run to the next.
STAMPS = ("created_at", "updated_at")

CHILD = r"""
import pickle, sqlite3, sys
from pathlib import Path
from layers.importer import ImportOptions, import_file
from layers.store.gpkg import GeoPackageStore

path, mapping, out = sys.argv[1], sys.argv[2], sys.argv[3]
gpkg = Path(out).with_suffix(".gpkg")
store = GeoPackageStore(gpkg)
try:
    report = import_file(store, path, options=ImportOptions(mapping=mapping, territory_margin_m=None))
    answer = {"summary": {k: v for k, v in report.summary().items() if k != "secondes"},
              "rejects": report.rejects, "repaired": report.repaired_rows, "layer": report.layer}
except Exception as exc:  # the refusal itself must be the same
    answer = {"error": f"{type(exc).__name__}: {exc}"}
store.close() if hasattr(store, "close") else None
if "layer" in answer:
    con = sqlite3.connect(gpkg)
    layer = answer["layer"]
    cur = con.execute(f'SELECT * FROM "{layer}" ORDER BY fid')
    answer["columns"] = [d[0] for d in cur.description]
    answer["rows"] = cur.fetchall()
    answer["others"] = {}  # the layer's child tables (status histories) and its R-tree
    rtree = "rtree_" + layer + "_geom"
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if name.startswith(layer + "_") or name == rtree:
            cur = con.execute(f'SELECT * FROM "{name}" ORDER BY 1')
            names = [d[0] for d in cur.description]
            answer["others"][name] = (names, cur.fetchall())
    con.close()
Path(out).write_bytes(pickle.dumps(answer))
"""


def _messy_ban(folder: Path, *, n: int = 6000, seed: int = 18) -> list[tuple[Path, str]]:
    """Write BAN extracts made messy on purpose; return (file, mapping) pairs."""
    rng = random.Random(seed)
    with gzip.open(BAN, "rt", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=";")
        header = next(reader)
        rows = [r for _, r in zip(range(n), reader, strict=False)]
    col = {name: i for i, name in enumerate(header)}
    for r in rows:
        k = rng.random()
        if k < 0.02:
            r[col["x"]] = rng.choice(["", "abc", "NaN", "1e400"])
        elif k < 0.04:
            r[col["x"]], r[col["y"]] = r[col["y"]], r[col["x"]]  # swapped
        elif k < 0.05:
            r[col["x"]] = "9999999"  # far off the map
        elif k < 0.07:
            r[col["nom_voie"]] = rng.choice(["", "   "])
        elif k < 0.10:
            r[col["numero"]] = rng.choice(["-5", "200000", "12.5", "1 234", "12,0", "7\u202f5", "x", " 8 ",
                                           "+3", "007", ""])
        elif k < 0.12:
            r[col["id"]] = rng.choice(["", " "])
        elif k < 0.15:
            r[col["id"]] = rows[rng.randrange(0, len(rows))][col["id"]]  # repeated id
        elif k < 0.17:
            r[col["rep"]] = rng.choice([" bis ", "TER", "\u00a0b", ""])
            r[col["nom_voie"]] = " " + r[col["nom_voie"]] + " "
        elif k < 0.18:
            r[col["code_postal"]] = ""
    semi = folder / "ban-messy.csv.gz"
    with gzip.open(semi, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    comma = folder / "ban-messy-cp1252.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=",", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    comma.write_bytes(buffer.getvalue().replace("\u202f", " ").encode("cp1252", errors="replace"))
    mapping = Path("data/mappings/ban.yaml").read_text(encoding="utf-8").replace(
        'read: {encoding: auto, separator: ";"}', "read: {encoding: auto}")
    auto = folder / "ban-auto.yaml"
    auto.write_text(mapping, encoding="utf-8")
    return [(semi, "ban"), (comma, str(auto))]


def _run(checkout: Path, path: Path, mapping: str, out: Path) -> dict:
    subprocess.run([sys.executable, "-c", CHILD, str(path.resolve()), mapping, str(out)],
                   cwd=checkout, env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"}, check=True)
    return pickle.loads(out.read_bytes())


def _compare(name: str, ours: dict, theirs: dict) -> list[str]:
    if "error" in ours or "error" in theirs:
        return [] if ours.get("error") == theirs.get("error") else [
            f"{name}: refusals differ: {ours.get('error')!r} / {theirs.get('error')!r}"]
    diffs = []
    for key in ("summary", "repaired", "columns"):
        if ours[key] != theirs[key]:
            diffs.append(f"{name}: {key} differs: {ours[key]!r} / {theirs[key]!r}")
    a, b = ours["rejects"].reset_index(drop=True), theirs["rejects"].reset_index(drop=True)
    if not (a.astype(str).equals(b.astype(str)) and list(a.columns) == list(b.columns)):
        diffs.append(f"{name}: reject reports differ ({len(a)} / {len(b)} lines)")
    keep = [i for i, c in enumerate(ours["columns"]) if c not in STAMPS]
    rows_a = [tuple(r[i] for i in keep) for r in ours["rows"]]
    rows_b = [tuple(r[i] for i in keep) for r in theirs["rows"]]
    if rows_a != rows_b:
        first = next((i for i, (x, y) in enumerate(zip(rows_a, rows_b, strict=False)) if x != y), None)
        diffs.append(f"{name}: stored rows differ ({len(rows_a)} / {len(rows_b)}; first at {first})")
    for table in sorted(set(ours["others"]) | set(theirs["others"])):
        (names_a, a_rows), (names_b, b_rows) = (ours["others"].get(table, ([], [])),
                                                theirs["others"].get(table, ([], [])))
        keep_t = [i for i, c in enumerate(names_a) if c not in STAMPS]
        if names_a != names_b or [tuple(r[i] for i in keep_t) for r in a_rows] != \
                [tuple(r[i] for i in keep_t) for r in b_rows]:
            diffs.append(f"{name}: table {table} differs ({len(a_rows)} / {len(b_rows)} rows)")
    stamps = [i for i, c in enumerate(ours["columns"]) if c in STAMPS]
    if any(r[i] is None for r in ours["rows"] for i in stamps):
        diffs.append(f"{name}: a write stamp is missing")
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avant", type=Path, required=True, help="the reference checkout")
    parser.add_argument("--skip-ban", action="store_true", help="leave the whole Paris BAN out")
    args = parser.parse_args()
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = [] if args.skip_ban else [(BAN, "ban")]
        cases += [(MONTPELLIER, "montpellier-adresses"), (DANSMARUE.resolve(), "dansmarue")]
        cases += _messy_ban(folder)
        failures: list[str] = []
        for k, (path, mapping) in enumerate(cases):
            ours = _run(here, path, mapping, folder / f"ours-{k}.pkl")
            theirs = _run(args.avant, path, mapping, folder / f"theirs-{k}.pkl")
            diffs = _compare(path.name, ours, theirs)
            failures += diffs
            counts = ours.get("summary") or ours.get("error")
            others = {t: len(r) for t, (_, r) in ours.get("others", {}).items() if r}
            print(f"{path.name} ({mapping}): {'IDENTICAL' if not diffs else 'DIFFERENT'} — "
                  f"{len(ours.get('rows', []))} rows stored (and {others}), "
                  f"{len(ours.get('rejects', pd.DataFrame()))} reject lines; {counts}")
            if len(ours.get("rejects", [])):
                print("   reasons:", ours["rejects"]["reason"].value_counts().to_dict())
    for line in failures:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
