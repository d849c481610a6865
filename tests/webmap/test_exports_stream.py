"""Streamed exports: ``/api/layers/<layer>/export.<fmt>`` and ``qpv exporter`` in CSV.

The reference is the whole-frame export these replaced (:func:`reference_body`, the code of
the route before streaming): the streamed body must be the same bytes, for every layer,
role and filter, with pages small enough that every export spans many of them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient

from layers import export as export_mod
from layers.export import export_layer, to_export_frame
from layers.importer import ImportOptions, import_file
from layers.projection import bbox_to_store
from layers.schema import LAYERS
from layers.store import LayerStore, open_store
from layers.store.gpkg import GeoPackageStore
from tests.webmap.conftest import DEMO, logged_client
from webmap.app import create_app
from webmap.visibility import visible_frame

ROLES = (None, "lecteur", "administrateur")
PARIS_VIEW = "2.37,48.85,2.41,48.88"


def reference_body(app: Flask, store: LayerStore, layer: str, fmt: str, role: str, *,
                   polygon: Any = None, **filters: Any) -> bytes:
    """The body of the export route before streaming (commit 515a5f6), for ``role``."""
    gdf = store.read(layer, **filters)
    if polygon is not None:
        gdf = gdf[gdf.intersects(polygon)].reset_index(drop=True)
    with app.app_context():
        out = to_export_frame(visible_frame(gdf, LAYERS[layer], role), fmt)
    if fmt == "csv":
        buf = io.StringIO()
        out.to_csv(buf, index=False, sep=";")
        return buf.getvalue().encode("utf-8-sig")
    if not len(out):
        return json.dumps({"type": "FeatureCollection", "features": []}).encode()
    return out.to_json(na="null", ensure_ascii=False).encode("utf-8")


@pytest.fixture
def small_pages(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app exporting 997 records per page (every big layer spans several)."""
    monkeypatch.setitem(app.config, "EXPORT_PAGE_SIZE", 997)
    yield app


@pytest.mark.parametrize("fmt", ["csv", "geojson"])
def test_every_layer_and_role_streams_the_same_bytes(small_pages: Flask, store: LayerStore, fmt: str) -> None:
    checked = 0
    for role in ROLES:
        client = logged_client(small_pages, role)
        for layer in LAYERS:
            res = client.get(f"/api/layers/{layer}/export.{fmt}")
            if res.status_code == 404:  # a layer the role may not see (test_api checks which)
                continue
            assert res.status_code == 200, (role, layer)
            assert res.headers["Content-Disposition"].startswith(f'attachment; filename="{layer}-')
            expected = reference_body(small_pages, store, layer, fmt, role or "anonyme")
            assert res.data == expected, (role, layer, fmt)
            checked += 1 if store.count(layer) > 997 else 0
    assert checked >= 4  # the observations and the Montpellier addresses, by two roles at least


def test_filtered_selections_in_pages_of_eleven(app: Flask, store: LayerStore,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "EXPORT_PAGE_SIZE", 11)
    client = logged_client(app, "technicien")
    view = bbox_to_store(tuple(float(v) for v in PARIS_VIEW.split(",")), store.crs)
    quartier = shapely.union_all(store.read("perimetres", where={"code": "QP075019"}).geometry.to_numpy())
    cases = [
        (f"bbox={PARIS_VIEW}&status=transmis", {"bbox": view, "where": {"status": "transmis"}}, None),
        ("quartier=QP075019", {"bbox": quartier.bounds}, quartier),
        ("start=2024-01-01&end=2024-01-15", {"start": "2024-01-01", "end": "2024-01-15"}, None),
        ("start=1990-01-01&end=1990-02-01", {"start": "1990-01-01", "end": "1990-02-01"}, None),
    ]
    for query, filters, polygon in cases:
        n = len(store.read("observations", **filters))
        assert query.startswith("start=1990") or n > 22, query  # several pages, or none
        for fmt in ("csv", "geojson"):
            res = client.get(f"/api/layers/observations/export.{fmt}?{query}")
            assert res.status_code == 200, (query, res.data[:200])
            expected = reference_body(app, store, "observations", fmt, "technicien", polygon=polygon,
                                      **filters)
            assert res.data == expected, (query, fmt)
    # view and quartier disjoint: nothing, with the header
    far = client.get("/api/layers/observations/export.csv?quartier=QP075019&bbox=3.8,43.6,3.9,43.65")
    assert far.status_code == 200 and far.data.decode("utf-8-sig").count("\n") == 1


def test_bad_input_is_an_error_before_any_byte(anon: FlaskClient) -> None:
    res = anon.get("/api/layers/observations/export.csv?pas_un_champ=1")
    assert res.status_code == 400 and res.json["champ"] == "pas_un_champ"
    assert anon.get("/api/layers/observations/export.csv?start=2024-02-01&end=2024-01-01").status_code == 400


def test_the_first_bytes_leave_before_the_layer_is_read(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "EXPORT_PAGE_SIZE", 500)
    pages_read = []
    frame = GeoPackageStore._read_frame

    def counting(self: GeoPackageStore, *args: Any) -> Any:
        out = frame(self, *args)
        pages_read.append(len(out))
        return out

    monkeypatch.setattr(GeoPackageStore, "_read_frame", counting)
    res = logged_client(app, None).get("/api/layers/observations/export.geojson", buffered=False)
    body = iter(res.response)
    head = next(body) + next(body)  # the opening and the first page's features
    assert head.startswith(b'{"type": "FeatureCollection", "features": [{"id": "0"')
    assert len(pages_read) == 1
    rest = b"".join(body)
    res.close()
    assert len(pages_read) > 10 and json.loads(head + rest)["features"][-1]["id"] == str(sum(pages_read) - 1)


# -- messy records ----------------------------------------------------------------------------
MESSY = [
    "point-virgule ; et « guillemets » \"doubles\"",
    "retour\nà la ligne\r\net tabulation\t",
    "émoji 🗑️ et caractères ‹ › œ Æ",
    "",
    "=SOMME(A1:A2)",
    "barre / oblique \\ inverse",
]
#: Real reports at midnight and the awkward records (10:15:30 and midnight) in one selection.
SELECTION = "source_dataset=dansmarue-paris&start=2024-03-01&end=2024-03-03"


@pytest.fixture(scope="module")
def messy_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """An app on a store of the real Dans Ma Rue sample plus records with awkward text and times."""
    tmp_path = tmp_path_factory.mktemp("messy")
    path = tmp_path / "messy.gpkg"
    store = open_store(path)
    try:
        import_file(store, DEMO / "paris" / "dansmarue-2023-2024-echantillon.csv.gz",
                    options=ImportOptions(mapping="dansmarue", report_dir=tmp_path / "rapports"))
        real = store.read("observations", limit=len(MESSY) * 4)
        messy = real.assign(
            uid=[f"desordre-{i}" for i in range(len(real))],
            description=[MESSY[i % len(MESSY)] if i % 5 else None for i in range(len(real))],
            address=[None if i % 2 else MESSY[-1 - i % len(MESSY)] for i in range(len(real))],
            observed_at=pd.to_datetime(["2024-03-01 10:15:30.250", "2024-03-02 00:00:00"] * (len(real) // 2),
                                       format="ISO8601"),
        )
        store.write("observations", messy)
    finally:
        store.close()
    return create_app({"STORE": str(path), "instance_path": str(tmp_path / "instance"),
                       "SECRET_KEY": "clef-de-test", "TESTING": True})


@pytest.mark.parametrize("size", [1, 2, 7, 5000])
def test_messy_records_stream_the_same_bytes(messy_app: Flask, size: int) -> None:
    messy_app.config["EXPORT_PAGE_SIZE"] = size
    store = open_store(messy_app.config["STORE"], create=False)
    try:
        client = messy_app.test_client()
        for fmt in ("csv", "geojson"):
            for query, filters in (("", {}), (SELECTION, {"where": {"source_dataset": "dansmarue-paris"},
                                                           "start": "2024-03-01", "end": "2024-03-03"})):
                if size < 5000 and not query:
                    continue  # thousands of pages: the filtered selection suffices
                res = client.get(f"/api/layers/observations/export.{fmt}?{query}")
                assert res.status_code == 200
                assert res.data == reference_body(messy_app, store, "observations", fmt, "anonyme", **filters)
        text = client.get(f"/api/layers/observations/export.csv?{SELECTION}").data.decode("utf-8-sig")
        frame = pd.read_csv(io.StringIO(text), sep=";", keep_default_na=False, dtype=str)
        stored = store.read("observations", where={"uid": [f"desordre-{i}" for i in range(len(MESSY) * 4)]})
        assert len(stored) == len(MESSY) * 4
        messy = frame[frame["uid"].str.startswith("desordre-")].set_index("uid")
        for row in stored.itertuples():  # every awkward text comes back as stored
            assert messy.loc[row.uid, "description"] == (row.description or ""), row.uid
        texts = "".join(t for t in stored["description"] if t)
        assert all(c in texts for c in ";\"\n🗑=")
        assert "2024-03-01 10:15:30" in text and "2024-03-02 00:00:00" in text  # one block: times kept
    finally:
        store.close()


# -- command line ---------------------------------------------------------------------------------
def test_cli_csv_export_in_pages_is_the_whole_frame_export(messy_app: Flask, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_mod, "PAGE_SIZE", 333)
    store = open_store(messy_app.config["STORE"], create=False)
    try:
        out = tmp_path / "sortie" / "constats.csv"
        n = export_layer(store, "observations", out, start="2023-01-01")
        expected = tmp_path / "attendu.csv"
        to_export_frame(store.read("observations", start="2023-01-01"), "csv").to_csv(
            expected, index=False, sep=";", encoding="utf-8")
        assert n == store.count("observations", start="2023-01-01") > 333
        assert out.read_bytes() == expected.read_bytes()

        def broken(pages: Any) -> Iterator[str]:
            yield "uid;début\n"
            raise RuntimeError("disque plein")

        monkeypatch.setattr(export_mod, "csv_chunks", broken)
        with pytest.raises(RuntimeError):
            export_layer(store, "observations", out)
        # the complete file of the first export is kept, no partial one lies beside it
        assert out.read_bytes() == expected.read_bytes()
        assert sorted(p.name for p in out.parent.iterdir()) == ["constats.csv"]
    finally:
        store.close()
