"""The demo store's basemap, built once for the basemap tests (zooms 10 to 16)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from layers.basemap import BasemapOptions, BasemapResult, build_basemap
from layers.store import open_store
from tests.walkdemo import demo_store_copy

#: A point inside QP075019 (Paris 20e) and one inside La Mosson (Montpellier), WGS84.
PARIS_POINT = (2.4102, 48.8615)
MOSSON_POINT = (3.8200, 43.6321)


@dataclass(frozen=True)
class DemoBasemap:
    store: Path
    path: Path
    result: BasemapResult


@pytest.fixture(scope="session")
def demo_basemap(tmp_path_factory: pytest.TempPathFactory) -> DemoBasemap:
    store_path = demo_store_copy(tmp_path_factory, "fond-demo")
    target = tmp_path_factory.mktemp("fond") / "territoire.pmtiles"
    store = open_store(store_path, create=False)
    try:
        result = build_basemap(store, target, options=BasemapOptions(min_zoom=10, max_zoom=16))
    finally:
        store.close()
    return DemoBasemap(store_path, target, result)
