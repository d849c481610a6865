"""Fixtures for the layer tests: scratch stores and damaged copies of real files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from layers.importer import ImportOptions, import_file
from layers.store import LayerStore, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[LayerStore]:
    """An empty store, on each backend in turn (GeoPackage, PostGIS)."""
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def gpkg_store(tmp_path: Path) -> Iterator[LayerStore]:
    """An empty GeoPackage store, for what only the file format has (R-tree, locking)."""
    s = open_store(tmp_path / "store.gpkg")
    yield s
    s.close()


@pytest.fixture
def paris_store(store_url: str, shared_data: Path) -> Iterator[LayerStore]:
    """A store (each backend in turn) holding the three real Paris-region QPV perimeters."""
    s = open_store(store_url)
    import_file(s, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                options=ImportOptions(mapping="qpv-paris"))
    yield s
    s.close()


def snapshot(store: LayerStore) -> tuple[tuple[str, int], ...]:
    """Counts of every layer and of the import log, to compare before/after a failure."""
    counts = tuple((i.name, i.count) for i in store.layers())
    return (*counts, ("imports", len(store.imports())))
