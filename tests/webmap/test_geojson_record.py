"""``encode_record`` and ``visible_record``: one feature without a frame, against the frame path.

On the web tests' store (real Paris QPV, Dans Ma Rue, cameras, Montpellier addresses,
simulated records) and on records made messy on purpose, the feature of
``encode_record(visible_record(get_record(...)))`` must be the very JSON of
``encode_features(visible_frame(get(...)))``, for every role, every layer, every option.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from flask import Flask

from layers.schema import LAYERS
from layers.store import LayerStore, _gpkg, open_store
from webmap.geojson import encode_features, encode_record
from webmap.users import ROLES
from webmap.visibility import visible_frame, visible_record

ALL_ROLES = ("anonyme", *ROLES)


def _same_feature(store: LayerStore, layer: str, uid: str, **options: Any) -> dict[str, Any]:
    """Assert both paths give one JSON text for every role; return the administrator's feature."""
    schema = LAYERS[layer]
    frame, record = store.get(layer, uid), store.get_record(layer, uid)
    out: dict[str, Any] = {}
    for role in ALL_ROLES:
        old = encode_features(visible_frame(frame, schema, role), schema, store.crs, **options)[0]
        new = encode_record(visible_record(record, schema, role), schema, store.crs, **options)
        assert json.dumps(new, sort_keys=False) == json.dumps(old, sort_keys=False), (layer, uid, role)
        out = new
    return out


def test_every_layer_of_the_web_store(app: Flask, store_path: Path) -> None:
    rng = np.random.default_rng(18)
    seen = 0
    with app.app_context(), open_store(store_path, create=False) as s:
        for info in s.layers():
            uids = s.read(info.name)["uid"].to_numpy()
            for uid in rng.choice(uids, size=min(len(uids), 15), replace=False).tolist():
                _same_feature(s, info.name, uid)
                _same_feature(s, info.name, uid, fields={"status", "theme", "observed_at", "code"},
                              decimals=6)
                seen += 1
    assert seen > 60


def test_messy_records(app: Flask, store_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "copie.gpkg"
    shutil.copyfile(store_path, path)
    with app.app_context(), open_store(path, create=False) as s:
        s.write("actions", gpd.GeoDataFrame({
            "uid": ["a-full", "a-empty"], "title": ["Éclairage", "Rien"], "etat": ["engagée", "à engager"],
            "decided_at": [pd.Timestamp("2024-03-01"), pd.Timestamp("1999-12-31")],
            "resolved_at": [pd.Timestamp("2024-06-01 10:20:30"), None], "tfpb": [True, None],
            "tfpb_year": [2024, None], "amount_planned": [12_500.5, None],
        }, geometry=[shapely.box(652_000, 6_862_000, 652_100, 6_862_050), None], crs="EPSG:2154"))
        s.write("observations", gpd.GeoDataFrame({
            "uid": ["o-json"], "theme": ["propreté"], "status": ["nouveau"], "source": ["import"],
            "observed_at": [pd.Timestamp("2024-05-01 08:30:15")], "photos": ['["a.jpg", {"n": 2}]'],
            "address": [""],
        }, geometry=[shapely.Point(652_000, 6_862_000)], crs="EPSG:2154"))
        for uid in ("a-full", "a-empty"):
            _same_feature(s, "actions", uid)
        assert _same_feature(s, "actions", "a-empty")["geometry"] is None
        feature = _same_feature(s, "observations", "o-json")
        assert feature["properties"]["photos"] == ["a.jpg", {"n": 2}]
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("observations", "o-json",
             {"observed_at": "2024-05-02T10:11:12.345678", "photos": "{pas du json"}),
            ("observations", "o-json", {"observed_at": "2024-05-02 10:00:00.5", "deadline": "2023-13-01"}),
            ("observations", "o-json", {"resolved_at": "0900-01-01", "geom": None, "photos": None}),
            ("actions", "a-full", {"amount_planned": float("inf"), "tfpb_year": "12", "amount_committed": 0}),
        ]
        for layer, uid, values in cases:
            with sqlite3.connect(path) as con:
                _gpkg.register_functions(con)
                sets = ", ".join(f'"{k}" = ?' for k in values)
                con.execute(f'UPDATE "{layer}" SET {sets} WHERE uid = ?', [*values.values(), uid])
            _same_feature(s, layer, uid)


def test_the_api_answers_one_feature_as_before(app: Flask, store_path: Path) -> None:
    """The route's feature (now from one record) is the frame path's, for the role asking."""
    from tests.webmap.conftest import logged_client

    with open_store(store_path, create=False) as s:
        uid = str(s.read("observations", limit=1, where={"simulated": False})["uid"].iloc[0])
        frame = s.get("observations", uid)
        crs = s.crs
    schema = LAYERS["observations"]
    for role in ("lecteur", "technicien"):
        answer = logged_client(app, role).get(f"/api/observations/{uid}")
        assert answer.status_code == 200
        with app.test_request_context():
            expected = encode_features(visible_frame(frame, schema, role), schema, crs)[0]
        assert answer.get_json() == json.loads(json.dumps(expected))


@pytest.mark.parametrize("value", [pd.NaT, pd.NA, None, np.float64("nan"), np.float64(1.25), np.int64(-3),
                                   np.bool_(True), pd.Timestamp("2024-01-02 03:04:05.6"), "texte", 7, 2.5])
def test_one_cell_follows_its_column_rule(value: Any) -> None:
    """Each cell kind gives what :func:`encode_features` gives its one-row column."""
    from webmap.geojson import _column_values, _record_value

    column = pd.Series([value]) if not isinstance(value, str) else pd.Series([value], dtype=object)
    assert json.dumps(_record_value(value)) == json.dumps(_column_values(column)[0])
