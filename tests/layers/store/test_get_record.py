"""``LayerStore.get_record``: one record read without a frame, against ``get(...).iloc[0]``.

Every value must have the type and the value of the frame row (numpy bools and numbers,
``pandas.Timestamp`` with its unit, ``NA`` / ``NaT`` / NaN), on each backend: on every
layer of the demo store, on the real Paris QPV and Dans Ma Rue files, on records made messy
on purpose (nulls, dates with fractions or offsets, impossible dates, JSON, no geometry),
and against the generic version of the interface itself.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from layers.errors import NotFoundError
from layers.importer import ImportOptions, import_file
from layers.store import LayerStore, _gpkg, open_store
from tests.walkdemo import demo_store_copy


def _outcome(read: Callable[[], Any]) -> Any:
    """The value read, or the class of the error raised (both paths must fail alike)."""
    try:
        return read()
    except Exception as exc:  # compared, not swallowed
        return type(exc)


def _same_value(a: Any, b: Any) -> bool:
    """Same type and same value, missing markers included (NaN equal to NaN, units compared)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, shapely.Geometry):
        return bool(shapely.equals_exact(a, b, 0)) and a.geom_type == b.geom_type
    if isinstance(a, pd.Timestamp):
        return a.unit == b.unit and a == b and a.tz == b.tz
    if isinstance(a, (float, np.floating)) and math.isnan(a):
        return math.isnan(b)
    if a is pd.NA or a is pd.NaT or a is None:
        return a is b
    return bool(a == b)


def _check(store: LayerStore, layer: str, uid: str) -> dict[str, Any]:
    """Assert ``get_record`` equals the frame row and the generic interface; return it."""
    row = store.get(layer, uid).iloc[0]
    expected = {str(k): v for k, v in row.items()}
    for got in (store.get_record(layer, uid), LayerStore.get_record(store, layer, uid)):
        assert list(got) == list(expected), layer
        bad = {k: (expected[k], got[k]) for k in expected if not _same_value(expected[k], got[k])}
        assert not bad, (layer, uid, bad)
    return store.get_record(layer, uid)


def test_every_layer_of_the_demo_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = demo_store_copy(tmp_path_factory, "get-record")
    rng = np.random.default_rng(18)
    checked: dict[str, int] = {}
    with open_store(path, create=False) as s:
        for info in s.layers():
            uids = s.read(info.name)["uid"].to_numpy()
            for uid in rng.choice(uids, size=min(len(uids), 40), replace=False).tolist():
                _check(s, info.name, uid)
            checked[info.name] = min(len(uids), 40)
    # the demo fills the layers of every field type (ints, floats, dates, JSON, lines, polygons)
    assert sum(1 for n in checked.values() if n) >= 10, checked


def test_real_paris_records(store: LayerStore, shared_data: Path) -> None:
    import_file(store, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                options=ImportOptions(mapping="qpv-paris"))
    import_file(store, shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv",
                options=ImportOptions(mapping="dansmarue"))
    for uid in store.read("perimetres")["uid"]:
        _check(store, "perimetres", uid)
    obs = store.read("observations", limit=300)
    for uid in obs["uid"].iloc[::10]:
        _check(store, "observations", uid)
    first = obs["uid"].iloc[0]
    store.update("observations", first, {"status": "traité", "deadline": "2031-02-03"}, actor="t")
    record = _check(store, "observations", first)
    assert record["status"] == "traité" and record["deadline"] == pd.Timestamp("2031-02-03")


def _messy_actions() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "uid": ["a-full", "a-empty", "a-nan"],
        "title": ["Réfection de l'éclairage", "Sans rien", "Montants absents"],
        "decided_at": [pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-02"), pd.Timestamp("1999-12-31")],
        "deadline": [pd.Timestamp("2025-01-31"), None, None], "etat": ["engagée", "à engager", "reportée"],
        "resolved_at": [pd.Timestamp("2024-06-01 10:20:30"), None, None],
        "tfpb": [True, None, False],
        "tfpb_year": [2024, None, 2100],
        "amount_planned": [12_500.5, None, float("nan")],
        "amount_committed": [0.0, 3.25, None],
    }, geometry=[shapely.box(652_000, 6_862_000, 652_100, 6_862_050), None,
                 shapely.Point(652_010, 6_862_010)], crs="EPSG:2154")


def _raw_update(store: LayerStore, url: str, layer: str, uid: str, values: dict[str, Any]) -> None:
    """Write values as stored, behind the store's back (what another tool could leave)."""
    sets = ", ".join(f'"{k}" = {"?" if url.endswith(".gpkg") else "%s"}' for k in values)
    if url.endswith(".gpkg"):
        with sqlite3.connect(url) as con:
            _gpkg.register_functions(con)  # the R-tree triggers call them
            con.execute(f'UPDATE "{layer}" SET {sets} WHERE uid = ?', [*values.values(), uid])
        return
    import psycopg

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema")
    base = urlunsplit(parts._replace(query=urlencode(query)))
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'UPDATE "{schema}"."{layer}" SET {sets} WHERE uid = %s', [*values.values(), uid])


def test_messy_records(store: LayerStore, store_url: str) -> None:
    store.write("actions", _messy_actions())
    store.write("observations", gpd.GeoDataFrame({
        "uid": ["o-json", "o-bare"], "theme": ["propreté", "voirie"], "status": ["nouveau", "transmis"],
        "source": ["import", "habitant"],
        "observed_at": [pd.Timestamp("2024-05-01 08:30:15"), pd.Timestamp("2024-05-02")],
        "photos": ['["a.jpg", "b.jpg"]', None], "address": ["", None],
    }, geometry=[shapely.Point(652_000, 6_862_000), shapely.Point(652_001, 6_862_001)], crs="EPSG:2154"))
    for uid in ("a-full", "a-empty", "a-nan"):
        _check(store, "actions", uid)
    for uid in ("o-json", "o-bare"):
        _check(store, "observations", uid)
    assert store.get_record("actions", "a-empty")["geometry"] is None
    gpkg = store_url.endswith(".gpkg")
    # values another tool could leave: fractions of a second, odd dates, infinities
    _raw_update(store, store_url, "observations", "o-bare", {
        "observed_at": "2024-05-02T10:11:12.345678" if gpkg else pd.Timestamp("2024-05-02 10:11:12.345678"),
        "deadline": "0900-01-01" if gpkg else pd.Timestamp("0900-01-01").date(),
        "resolved_at": "2024-05-03 07:00:00.5" if gpkg else None})
    _raw_update(store, store_url, "actions", "a-nan", {"amount_planned": float("inf"),
                                                        "amount_deferred": float("-inf")})
    _check(store, "observations", "o-bare")
    _check(store, "actions", "a-nan")
    if gpkg:  # SQLite keeps whatever it is given: impossible dates, offsets, stray types
        cases = [{"deadline": "2023-13-01"}, {"observed_at": "2024-05-02T10:00:00+02:00"},
                 {"observed_at": "16/11/2023"}, {"observed_at": ""}, {"simulated": 2},
                 {"simulated": "oui"}, {"photos": "{pas du json"}, {"observed_at": 20240502},
                 {"observed_at": "2024-05-02T10:00:00.1234567"}, {"geom": None}]
        for case in cases:
            _raw_update(store, store_url, "observations", "o-json", case)
            _check_or_fail_alike(store, "observations", "o-json")
        for case in [{"tfpb_year": "12"}, {"tfpb_year": 1.5}, {"amount_planned": "abc"}, {"tfpb": 1.0}]:
            _raw_update(store, store_url, "actions", "a-full", case)
            _check_or_fail_alike(store, "actions", "a-full")


def _check_or_fail_alike(store: LayerStore, layer: str, uid: str) -> None:
    """:func:`_check`, or when the frame path fails on the record, the same error on both paths."""
    expected = _outcome(lambda: store.get(layer, uid))
    if isinstance(expected, type):
        assert _outcome(lambda: store.get_record(layer, uid)) is expected, layer
    else:
        _check(store, layer, uid)


def test_unknown_record_and_layer(store: LayerStore) -> None:
    store.write("actions", _messy_actions())
    for uid in ("pas-là", "a-full\x00", ""):
        with pytest.raises(NotFoundError, match="Aucun enregistrement"):
            store.get_record("actions", uid)
        assert _outcome(lambda u=uid: store.get("actions", u)) is NotFoundError  # type: ignore[misc]
    assert _outcome(lambda: store.get_record("pas_une_couche", "a-full")) is \
        _outcome(lambda: store.get("pas_une_couche", "a-full"))
