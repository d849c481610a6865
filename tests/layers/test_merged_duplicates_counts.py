"""A constat merged as a duplicate is counted once, through the one kept, in every figure.

Merging closes the duplicate « clos non traité » with ``duplicate_of`` set (the record and
its history stay, for the map and the exports). The reports, the dashboard and the TFPB
figures count dysfunctions: there the merged duplicate must weigh exactly as if it had never
been recorded. Checked on the demo store (real Montpellier addresses, simulated constats):
open constats of Mosson merged into a neighbour give the same figures as a copy of the store
where those duplicates are deleted outright — and figures that differ from counting every
record, as the code did before.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import shapely

from layers.analyses import quartier_report_from_store
from layers.dashboard import quartier_dashboard
from layers.observations_edit import merge_duplicate, merge_plan
from layers.store import open_store
from tests.walkdemo import MOSSON, demo_store_copy

START, END = date(2024, 1, 1), date(2024, 12, 31)
OPEN = ("nouveau", "transmis", "en cours")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """(merged, deleted, duplicate uids): two copies of the demo, five open constats of Mosson
    merged into their nearest constat in one, deleted in the other."""
    merged = demo_store_copy(tmp_path_factory, "doublons")
    deleted = merged.parent / "supprimes.gpkg"
    shutil.copyfile(merged, deleted)
    store = open_store(merged)
    try:
        zone = store.read("perimetres", where={"code": MOSSON}).geometry.iloc[0]
        obs = store.read("observations", bbox=tuple(zone.bounds), start=START.isoformat(),
                         end=date(END.year + 1, 1, 1).isoformat())
        obs = obs[obs.within(zone)]
        opened = obs[obs["status"].isin(OPEN)]
        assert len(opened) >= 5
        duplicates = opened["uid"].iloc[:5].tolist()
        for uid in duplicates:
            point = obs.loc[obs["uid"] == uid].geometry.iloc[0]
            others = obs[~obs["uid"].isin(duplicates)]
            kept = str(others["uid"].iloc[int(shapely.distance(others.geometry.to_numpy(), point).argmin())])
            duplicate, kept_record = merge_plan(store, uid, kept)
            merge_duplicate(store, duplicate, kept_record, actor="test")
        assert (store.read("observations", uids=duplicates)["status"] == "clos non traité").all()
    finally:
        store.close()
    other = open_store(deleted)
    try:
        assert other.delete("observations", duplicates) == 5
    finally:
        other.close()
    return merged, deleted, duplicates


def _report_figures(path: Path, theme: str | None) -> tuple[dict[str, object], dict[str, pd.DataFrame]]:
    store = open_store(path, create=False)
    try:
        report = quartier_report_from_store(store, MOSSON, start=START, end=END, theme=theme)
    finally:
        store.close()
    return dict(report.key_figures), {k: v.reset_index(drop=True) for k, v in report.tables.items()}


@pytest.mark.parametrize("theme", [None, "dépôts sauvages"])
def test_the_report_counts_a_merged_duplicate_as_absent(stores: tuple[Path, Path, list[str]],
                                                        theme: str | None) -> None:
    merged, deleted, _ = stores
    figures, tables = _report_figures(merged, theme)
    ref_figures, ref_tables = _report_figures(deleted, theme)
    assert figures == ref_figures
    assert tables.keys() == ref_tables.keys()
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, ref_tables[name], obj=name)


def _dashboard(path: Path) -> str:
    store = open_store(path, create=False)
    try:
        data = quartier_dashboard(store, MOSSON, start=START, end=END)
    finally:
        store.close()
    return json.dumps(data, sort_keys=True, default=str)


def test_the_dashboard_counts_a_merged_duplicate_as_absent(stores: tuple[Path, Path, list[str]]) -> None:
    merged, deleted, _ = stores
    assert _dashboard(merged) == _dashboard(deleted)


def test_every_record_is_still_there_for_the_map_and_exports(stores: tuple[Path, Path, list[str]]) -> None:
    merged, deleted, duplicates = stores
    store, other = open_store(merged, create=False), open_store(deleted, create=False)
    try:
        assert store.count("observations") == other.count("observations") + len(duplicates)
        # counting every record, as before, would add five « clos non traité » to Mosson
        everything = store.read("observations", uids=duplicates)
        assert everything["duplicate_of"].notna().all() and len(everything) == 5
    finally:
        store.close()
        other.close()
