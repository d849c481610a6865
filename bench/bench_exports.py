"""Streamed layer exports (``/api/layers/<layer>/export.<fmt>``) against the whole-frame export.

On the demo store (built by :func:`layers.demo.build_demo` in a temporary folder, or
``--store``), through the Flask test client:

1. **identity**: every layer, both formats (CSV, GeoJSON), as an anonymous visitor and as
   an administrator: the streamed body against the body of the previous implementation
   (kept below as :func:`reference_view`, the route of commit 515a5f6 mounted on
   ``/reference/...``), byte for byte;
2. **time**: the addresses CSV (the issue's « 1.2 s ») and the observations GeoJSON: time to
   first byte and total, streamed and reference interleaved, median of ``--runs``;
3. **memory**: peak of Python allocations (``tracemalloc``, numpy included) while a body
   is produced, each path measured alone;
4. with ``--ban``, the same for the addresses CSV once the real Paris BAN (158,048 rows of
   ../shared/data) is imported beside the demo's: the streamed peak stays that of a page.

Writes ``bench/results/exports.json``. Run from the repository root::

    PYTHONPATH=. python bench/bench_exports.py [--store demo.gpkg] [--runs 5] [--ban]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response
from flask.testing import FlaskClient

from bench._common import build_demo_store
from layers.export import to_export_frame
from layers.importer import ImportOptions, import_file
from layers.schema import LAYERS
from layers.settings import REPO_ROOT
from layers.store import open_store
from webmap import users
from webmap.api import _read_selected, _selection, _visible
from webmap.app import create_app

RESULTS = REPO_ROOT / "bench" / "results" / "exports.json"
BAN = REPO_ROOT.parent / "shared" / "data" / "paris" / "adresses-75.csv.gz"
TIMED = (("adresses", "csv"), ("observations", "geojson"))


def reference_view(layer: str, fmt: str) -> Response:
    """The export route before streaming (commit 515a5f6), access checks aside."""
    schema = LAYERS[layer]
    filters, polygon, _ = _selection(schema)
    gdf, _matched = _read_selected(layer, filters, polygon)
    out = to_export_frame(_visible(gdf, schema), fmt)
    stamp = datetime.now().strftime("%Y%m%d")
    if fmt == "csv":
        buf = io.StringIO()
        out.to_csv(buf, index=False, sep=";")
        data, mime = buf.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8"
    else:
        data = out.to_json(na="null", ensure_ascii=False).encode(  # type: ignore[call-overload]
            "utf-8") if len(out) else json.dumps({"type": "FeatureCollection", "features": []}).encode()
        mime = "application/geo+json"
    resp = Response(data, content_type=mime)
    resp.headers["Content-Disposition"] = f'attachment; filename="{layer}-{stamp}.{fmt}"'
    return resp


def make_app(store: Path, instance: Path) -> tuple[Flask, str]:
    """The app on ``store`` with the reference route, and an administrator's API key."""
    app = create_app({"STORE": str(store), "instance_path": str(instance), "SECRET_KEY": "bench",
                      "TESTING": True})
    app.add_url_rule("/reference/<layer>/export.<fmt>", "reference_export", reference_view)
    _, key = users.add_user(app.config["USERS_DB"], "ada", "mot-de-passe-solide",
                            role="administrateur", organisation="ville")
    return app, key


def fetch(client: FlaskClient, url: str, headers: dict[str, str]) -> tuple[bytes, float, float]:
    """Body, time to first byte and total time (s) of a GET, reading the body as it comes."""
    t0 = time.perf_counter()
    res = client.get(url, headers=headers, buffered=False)
    chunks, first = [], None
    for chunk in res.response:
        if first is None:
            first = time.perf_counter() - t0
        chunks.append(chunk)
    total = time.perf_counter() - t0
    res.close()
    assert res.status_code == 200, (url, res.status_code)
    return b"".join(chunks), first if first is not None else total, total


def peak_mb(client: FlaskClient, url: str, headers: dict[str, str]) -> float:
    """Peak of traced allocations while producing the body of ``url``, in MB."""
    tracemalloc.start()
    try:
        res = client.get(url, headers=headers, buffered=False)
        for _ in res.response:
            pass
        res.close()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def identity(client: FlaskClient, key: str) -> list[dict[str, Any]]:
    """Streamed body against the reference, every layer, both formats, two roles."""
    out = []
    for role, headers in (("anonyme", {}), ("administrateur", {"X-API-Key": key})):
        for layer in LAYERS:
            for fmt in ("csv", "geojson"):
                new = client.get(f"/api/layers/{layer}/export.{fmt}", headers=headers)
                if new.status_code != 200:  # a layer the role may not see: both refuse
                    ref = client.get(f"/api/layers/{layer}/export.{fmt}", headers=headers)
                    out.append({"role": role, "layer": layer, "format": fmt, "status": new.status_code})
                    assert ref.status_code == new.status_code
                    continue
                ref = client.get(f"/reference/{layer}/export.{fmt}", headers=headers)
                out.append({"role": role, "layer": layer, "format": fmt, "bytes": len(new.data),
                            "identical": new.data == ref.data})
    return out


def timings(client: FlaskClient, key: str, runs: int, cases: tuple[tuple[str, str], ...] = TIMED
            ) -> list[dict[str, Any]]:
    """TTFB, total and peak memory of the timed exports, streamed against reference."""
    headers = {"X-API-Key": key}
    rows = []
    for layer, fmt in cases:
        urls = {"streamed": f"/api/layers/{layer}/export.{fmt}",
                "reference": f"/reference/{layer}/export.{fmt}"}
        got: dict[str, dict[str, list[float]]] = {k: {"ttfb": [], "total": []} for k in urls}
        for _ in range(runs):  # interleaved
            for name, url in urls.items():
                _, first, total = fetch(client, url, headers)
                got[name]["ttfb"].append(first)
                got[name]["total"].append(total)
        row: dict[str, Any] = {"layer": layer, "format": fmt, "records": open_count(client, layer)}
        for name, url in urls.items():
            row[name] = {"ttfb_s": round(statistics.median(got[name]["ttfb"]), 4),
                         "total_s": round(statistics.median(got[name]["total"]), 4),
                         "peak_mb": round(peak_mb(client, url, headers), 1)}
        for what in ("total_s", "ttfb_s", "peak_mb"):
            row[f"ratio_{what}"] = round(row["streamed"][what] / row["reference"][what], 3)
        rows.append(row)
    return rows


def open_count(client: FlaskClient, layer: str) -> int:
    """Records of ``layer`` in the app's store."""
    store = open_store(client.application.config["STORE"], create=False)
    try:
        return store.count(layer)
    finally:
        store.close()


def main() -> None:
    """Run the benchmark and write its results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="an existing demo store (built otherwise)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--ban", action="store_true",
                        help="also with the Paris BAN imported (into --store when given)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = args.store
        if path is None:
            path, _ = build_demo_store(work)
        app, key = make_app(path, work / "instance")
        client = app.test_client()
        load_before = os.getloadavg()
        same = identity(client, key)
        timed = timings(client, key, args.runs)
        if args.ban:
            store = open_store(path)
            try:
                import_file(store, BAN, options=ImportOptions(mapping="ban", report_dir=work / "rapports"))
            finally:
                store.close()
            timed += [{**row, "data": "demo + Paris BAN"}
                      for row in timings(client, key, args.runs, (("adresses", "csv"),))]
        load_after = os.getloadavg()
    result = {
        "command": "PYTHONPATH=. python bench/bench_exports.py " + " ".join(sys.argv[1:]),
        "data": "demo store (real Paris and Montpellier files, simulated Montpellier records)",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in load_after]},
        "runs": args.runs,
        "identity": {"checked": sum(1 for r in same if "identical" in r),
                     "identical": sum(1 for r in same if r.get("identical")),
                     "refused_by_both": sum(1 for r in same if "status" in r), "cases": same},
        "timings": timed,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"identity: {result['identity']['identical']}/{result['identity']['checked']} bodies byte-identical"
          f" ({result['identity']['refused_by_both']} refused by both)")
    for row in timed:
        s, r = row["streamed"], row["reference"]
        print(f"{row['layer']} {row['format']} ({row['records']} records): total {s['total_s']} s vs "
              f"{r['total_s']} s (x{row['ratio_total_s']}), first byte {s['ttfb_s']} s vs {r['ttfb_s']} s, "
              f"peak {s['peak_mb']} MB vs {r['peak_mb']} MB (x{row['ratio_peak_mb']})")
    print(f"load average {load_before} -> {load_after}")


if __name__ == "__main__":
    main()
