"""SQL-injection strings in every filter of the store: a filtered (often empty) answer or
one of our errors naming the field, and the table intact afterwards.

Runs on every backend of the ``store`` fixture (GeoPackage, and PostGIS when configured).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pytest
import shapely

from geo.errors import QPVError
from layers.store import LayerStore

INJECTIONS = [
    "' OR 1=1 --",
    "'; DROP TABLE observations; --",
    '"; DROP TABLE observations; --',
    "1) UNION SELECT uid, uid FROM observations --",
    "x' UNION SELECT sqlite_version() --",
    "%",
    "_",
    "%' --",
    "\\",
    "\\'; --",
    "a\x00b",
    "observations; DELETE FROM observations",
    "' OR ''='",
    "1; SELECT pg_sleep(5) --",
]
THEMES = ["propreté", "dépôts sauvages", "encombrants"]


@pytest.fixture
def filled(store: LayerStore) -> LayerStore:
    """Six observations around the Paris 19e QPV, two per theme."""
    n = 6
    gdf = gpd.GeoDataFrame(
        {
            "observed_at": [f"2024-01-0{i + 1}T10:00:00" for i in range(n)],
            "theme": [THEMES[i % 3] for i in range(n)],
            "status": ["nouveau"] * n,
            "source": ["patrouille"] * n,
            "description": [f"obs {i}" for i in range(n)],
        },
        geometry=shapely.points([[652_000 + 10 * i, 6_864_000 + 10 * i] for i in range(n)]),
        crs="EPSG:2154",
    )
    store.write("observations", gdf, actor="tests")
    return store


def _intact(store: LayerStore) -> None:
    assert store.count("observations") == 6
    assert len(store.read("observations")) == 6


def _either_empty_or_our_error(call: Any, field: str | None = None) -> None:
    try:
        result = call()
    except QPVError as exc:
        assert str(exc), "an error without a message"
        if field is not None and getattr(exc, "field", None) is not None:
            assert getattr(exc, "field", None) == field, str(exc)
        return
    size = result if isinstance(result, int) else len(result)
    assert size == 0, f"an injection string matched {size} record(s)"


def test_where_values(filled: LayerStore) -> None:
    for value in INJECTIONS:
        for field in ("theme", "description", "status", "uid"):
            _either_empty_or_our_error(
                lambda f=field, v=value: filled.read("observations", where={f: v}), field)
            _either_empty_or_our_error(
                lambda f=field, v=value: filled.count("observations", where={f: v}), field)
            _either_empty_or_our_error(
                lambda f=field, v=value: filled.read("observations", where={f: [v, "zzz"]}), field)
            _either_empty_or_our_error(
                lambda f=field, v=value: filled.cluster("observations", cell_m=100, where={f: v}), field)
    _intact(filled)


def test_field_names_and_order_by(filled: LayerStore) -> None:
    for value in INJECTIONS:
        with pytest.raises(QPVError):
            filled.read("observations", where={value: "x"})
        with pytest.raises(QPVError):
            filled.count("observations", where={value: "x"})
        with pytest.raises(QPVError):
            filled.read("observations", order_by=value)
        with pytest.raises(QPVError):
            filled.read("observations", order_by=f"-{value}")
    _intact(filled)


def test_layer_names(filled: LayerStore) -> None:
    for value in INJECTIONS:
        for call in (lambda v=value: filled.read(v), lambda v=value: filled.count(v),
                     lambda v=value: filled.cluster(v, cell_m=100), lambda v=value: filled.get(v, "x")):
            with pytest.raises(QPVError):
                call()
    _intact(filled)


def test_uids_and_get(filled: LayerStore) -> None:
    for value in INJECTIONS:
        _either_empty_or_our_error(lambda v=value: filled.read("observations", uids=[v]), "uid")
        _either_empty_or_our_error(
            lambda v=value: filled.read("observations", uids=[v, "' OR '1'='1"]), "uid")
        with pytest.raises(QPVError):
            filled.get("observations", value)
        _either_empty_or_our_error(lambda v=value: filled.history("observations", v), "uid")
    _intact(filled)


def test_time_bounds(filled: LayerStore) -> None:
    for value in INJECTIONS:
        for kwargs in ({"start": value}, {"end": value}, {"start": "2024-01-01", "end": value}):
            for call in (lambda k=kwargs: filled.read("observations", **k),
                         lambda k=kwargs: filled.count("observations", **k),
                         lambda k=kwargs: filled.cluster("observations", cell_m=100, **k)):
                _either_empty_or_our_error(call)
    _intact(filled)


def test_time_bounds_never_reach_the_sql(filled: LayerStore) -> None:
    """No injection string given as a date matches records or changes the table."""
    for value in INJECTIONS:
        for kwargs in ({"start": value}, {"end": value}):
            try:
                got = filled.read("observations", **kwargs)  # type: ignore[arg-type]
            except QPVError:
                continue
            assert got.empty
    _intact(filled)


BBOXES = [(float("nan"),) * 4, (float("inf"), 0.0, float("-inf"), 1.0), (1e308, 1e308, -1e308, -1e308)]


def _bbox_calls(filled: LayerStore, bbox: Any) -> None:
    for call in (lambda: filled.read("observations", bbox=bbox),
                 lambda: filled.count("observations", bbox=bbox),
                 lambda: filled.cluster("observations", cell_m=100, bbox=bbox)):
        _either_empty_or_our_error(call, "bbox")


def test_bbox(filled: LayerStore) -> None:
    for bbox in BBOXES:
        _bbox_calls(filled, bbox)
    _intact(filled)


@pytest.mark.parametrize("bbox", [("' OR 1=1 --", 0, 1, 1), (0, 0, 1)])
def test_malformed_bbox(filled: LayerStore, bbox: Any) -> None:
    _bbox_calls(filled, bbox)
    _intact(filled)


def test_injection_values_are_stored_verbatim(filled: LayerStore) -> None:
    """Hostile text written as data comes back unchanged and is found by equality only."""
    gdf = gpd.GeoDataFrame(
        {"observed_at": ["2024-02-01T10:00:00"] * len(INJECTIONS), "theme": ["propreté"] * len(INJECTIONS),
         "status": ["nouveau"] * len(INJECTIONS), "source": ["patrouille"] * len(INJECTIONS),
         "description": [v.replace("\x00", "") for v in INJECTIONS]},
        geometry=shapely.points([[652_500 + i, 6_864_500] for i in range(len(INJECTIONS))]),
        crs="EPSG:2154",
    )
    filled.write("observations", gdf, actor="tests")
    assert filled.count("observations") == 6 + len(INJECTIONS)
    for value in INJECTIONS:
        value = value.replace("\x00", "")
        got = filled.read("observations", where={"description": value})
        assert list(got["description"]) == [value]
