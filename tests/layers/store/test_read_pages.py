"""``LayerStore.read_pages``: the records of ``read``, in its order, a page at a time.

On both backends, on the real Dans Ma Rue sample and the real Paris QPV perimeters; the
reference is :meth:`LayerStore.read` of the same filters in one call.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import shapely

from layers.errors import RecordError
from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.store import LayerStore, open_store

DEMO = REPO_ROOT / "data" / "demo"
# Paris 20e and around (Lambert-93): cuts through the QP075019 perimeter
EAST_PARIS = (654_000.0, 6_860_000.0, 657_000.0, 6_864_000.0)


@pytest.fixture
def filled(store: LayerStore, shared_data: Path) -> LayerStore:
    """The store with the real Paris perimeters and the 10,000 Dans Ma Rue reports."""
    import_file(store, shared_data / "paris" / "qpv-paris-idf-2015.geojson",
                options=ImportOptions(mapping="qpv-paris"))
    import_file(store, DEMO / "paris" / "dansmarue-2023-2024-echantillon.csv.gz",
                options=ImportOptions(mapping="dansmarue"))
    return store


def _joined(pages: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(pages, ignore_index=True)


@pytest.mark.parametrize("filters", [
    {},
    {"bbox": EAST_PARIS},
    {"start": "2024-01-01", "end": "2024-03-01"},
    {"where": {"theme": ["propreté", "tags et graffitis"]}, "bbox": EAST_PARIS},
    {"bbox": (2.38, 48.85, 2.42, 48.87), "bbox_crs": "EPSG:4326", "where": {"status": "transmis"}},
])
def test_pages_join_into_the_read(filled: LayerStore, filters: dict) -> None:
    expected = filled.read("observations", **filters)
    assert len(expected) > 50
    for size in (7, 1000, len(expected), 100_000):
        pages = list(filled.read_pages("observations", size=size, **filters))
        assert all(0 < len(p) <= size for p in pages)
        assert [len(p) for p in pages[:-1]] == [size] * (len(pages) - 1)
        pd.testing.assert_frame_equal(_joined(pages), expected)


def test_polygons_cut_by_the_bbox_and_output_crs(filled: LayerStore) -> None:
    expected = filled.read("perimetres", bbox=EAST_PARIS, crs="EPSG:4326")
    assert 0 < len(expected) < filled.count("perimetres")
    pages = list(filled.read_pages("perimetres", size=1, bbox=EAST_PARIS, crs="EPSG:4326"))
    assert [len(p) for p in pages] == [1] * len(expected)
    joined = _joined(pages)
    assert joined.crs == expected.crs
    pd.testing.assert_frame_equal(joined, expected)


def test_nothing_matched_is_one_empty_page_with_every_column(filled: LayerStore) -> None:
    pages = list(filled.read_pages("observations", size=10, start="1990-01-01", end="1990-02-01"))
    assert len(pages) == 1 and pages[0].empty
    assert list(pages[0].columns) == list(filled.read("observations", limit=0).columns)
    assert [len(p) for p in filled.read_pages("bacs", size=3)] == [0]


def test_bad_filters_raise_on_the_call_not_on_reading(filled: LayerStore) -> None:
    with pytest.raises(RecordError) as err:
        filled.read_pages("observations", where={"pas_un_champ": 1})
    assert err.value.field == "pas_un_champ"
    with pytest.raises(ValueError, match="size"):
        filled.read_pages("observations", size=0)


def test_a_write_during_the_pages_skips_or_repeats_no_record(filled: LayerStore, store_url: str) -> None:
    before = filled.read("observations")
    pages = filled.read_pages("observations", size=4000)
    seen = [next(pages)]
    other = open_store(store_url)
    try:  # another connection adds records and deletes one already read (offsets would shift)
        extra = before.head(3).assign(uid=["ajout-1", "ajout-2", "ajout-3"])
        other.write("observations", extra)
        other.delete("observations", [before["uid"].iloc[0]])
    finally:
        other.close()
    seen += list(pages)
    uids = _joined(seen)["uid"]
    assert uids.is_unique
    # the GeoPackage reads one snapshot; PostGIS pages by fid and sees the later writes
    assert set(uids) >= set(before["uid"])  # none skipped
    assert set(uids) - set(before["uid"]) <= {"ajout-1", "ajout-2", "ajout-3"}
    assert list(uids[: len(seen[0])]) == list(before["uid"].head(len(seen[0])))


@pytest.mark.parametrize("bbox", [EAST_PARIS, (651_000.0, 6_858_000.0, 656_000.0, 6_866_000.0)])
def test_a_bbox_read_comes_in_insertion_order(filled: LayerStore, bbox: tuple[float, ...]) -> None:
    """Issue 18: on both backends, whatever the shape of the spatial index (packed by the import)."""
    everything = filled.read("observations")  # insertion order, no spatial index involved
    inside = everything[everything.intersects(shapely.box(*bbox))]
    got = filled.read("observations", bbox=bbox)
    assert 50 < len(got) < len(everything)
    assert got["uid"].tolist() == inside["uid"].tolist()
    points = filled.points("observations", fields=["uid"], bbox=bbox)
    assert points["uid"].tolist() == inside["uid"].tolist()
