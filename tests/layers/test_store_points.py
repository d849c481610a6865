"""``LayerStore.points``: the narrow read of the map's compact points, against ``read`` itself.

On each backend (GeoPackage, PostGIS), on the real Dans Ma Rue sample of Paris and on records
made messy on purpose (equal positions, a missing optional field, an odd envelope).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from layers.importer import ImportOptions, import_file
from layers.store import LayerStore, open_store

FIELDS = ("uid", "theme", "status", "simulated", "observed_at", "address", "duplicate_of")
BOX_20E = (652_000.0, 6_859_000.0, 657_000.0, 6_865_000.0)


def _same_as_read(store: LayerStore, layer: str, fields: tuple[str, ...], **kw: object) -> int:
    """Check ``points`` against ``read`` for one query; return the number of records."""
    limit = kw.pop("limit", None)
    full = store.read(layer, limit=limit, **kw)  # type: ignore[arg-type]
    narrow = store.points(layer, fields=fields, limit=limit, **kw)  # type: ignore[arg-type]
    assert list(narrow.columns) == [*fields, "x", "y"]
    assert len(narrow) == len(full)
    for name in fields:  # same records, same order, same typed values
        pd.testing.assert_series_equal(narrow[name].reset_index(drop=True), full[name].reset_index(drop=True),
                                       check_names=False, check_dtype=False)
    bounds = shapely.bounds(full.geometry.to_numpy())
    np.testing.assert_array_equal(narrow["x"].to_numpy(), (bounds[:, 0] + bounds[:, 2]) / 2)
    np.testing.assert_array_equal(narrow["y"].to_numpy(), (bounds[:, 1] + bounds[:, 3]) / 2)
    return len(full)


def test_points_equal_read_on_real_data(store_url: str, shared_data: Path) -> None:
    with open_store(store_url) as s:
        import_file(s, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                    options=ImportOptions(mapping="qpv-paris"))
        import_file(s, shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv",
                    options=ImportOptions(mapping="dansmarue"))
        assert _same_as_read(s, "observations", FIELDS) == 10_000
        assert _same_as_read(s, "observations", FIELDS, bbox=BOX_20E) > 1000
        assert _same_as_read(s, "observations", FIELDS, bbox=BOX_20E, limit=700) == 700
        n = _same_as_read(s, "observations", ("uid", "observed_at"), bbox=BOX_20E, start="2024-01-01",
                          where={"theme": ["dépôts sauvages", "propreté"]})
        assert n == s.count("observations", bbox=BOX_20E, start="2024-01-01",
                            where={"theme": ["dépôts sauvages", "propreté"]}) > 0
        assert _same_as_read(s, "observations", FIELDS, bbox=(0.0, 0.0, 10.0, 10.0)) == 0
        # another geometry: the centre of each envelope, as the generic path gives it
        assert _same_as_read(s, "perimetres", ("uid", "code")) > 0
        with pytest.raises(TypeError):
            s.points("observations", fields=("uid", "pas_un_champ"))


def test_points_of_messy_records(store: LayerStore) -> None:
    xy = [(652_000.0, 6_862_000.0), (652_000.0, 6_862_000.0), (652_000.25, 6_862_000.5),
          (1_242_000.0, 6_049_000.0), (99_999.125, 7_110_000.75)]  # Corsica, the far north-west corner
    frame = gpd.GeoDataFrame({
        "uid": [f"m{i}" for i in range(len(xy))],
        "theme": ["propreté", "propreté", "voirie", "éclairage", "propreté"],
        "observed_at": pd.Timestamp("2024-05-01 08:30"), "address": [None, "", "1 rue X", None, "2 rue Y"],
        "simulated": [True, False, True, False, True],
    }, geometry=[shapely.Point(p) for p in xy], crs="EPSG:2154")
    store.write("observations", frame)
    assert _same_as_read(store, "observations", FIELDS) == len(xy)
    assert _same_as_read(store, "observations", ("uid", "address"), where={"address": None}) >= 2
    got = store.points("observations", fields=("uid",))
    assert sorted(zip(got["x"], got["y"], strict=True)) == sorted(xy)
