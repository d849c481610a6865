"""The printable walk sheet and the walk page say the same thing about each stop.

Real demo walk (Mosson): the sheet lists each stop's address, where it comes from and
the facts to check, as :func:`layers.walk_stops.walk_stop_details` gives them to the
walk page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from markupsafe import escape

from layers.store import open_store
from layers.walk_stops import walk_stop_details
from layers.walks import load_walk, walk_sheet_data
from tests.walkdemo import demo_store_copy, plan_mosson_walk
from webmap.documents import render_walk_sheet_html


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = demo_store_copy(tmp_path_factory, "walksheetstops")
    plan = plan_mosson_walk(path, "2026-05-12T09:00", cache_dir=path.parent / "cache")
    return path, plan.uid


def test_sheet_lists_each_stop_address_and_what_to_check(walk: tuple[Path, str]) -> None:
    path, uid = walk
    store = open_store(path)
    try:
        # a constat loses its address after the planning: the sheet must follow the store
        plan = load_walk(store, uid, cache_dir=path.parent / "cache")
        constat = str(plan.route.stops.loc[plan.route.stops["kind"] == "constat", "source_uid"].iloc[0])
        store.update("observations", constat, {"address": None}, actor="test")
        details = walk_stop_details(store, plan.route)
        sheet = walk_sheet_data(store, uid, cache_dir=path.parent / "cache")
    finally:
        store.close()
    html = render_walk_sheet_html(sheet, map_format="svg")
    table = html[html.index("<h2>Parcours</h2>"):html.index("Plan d'actions par arrêt")]
    assert len(details) >= 3
    for _, stop in details.iterrows():
        row = table[table.index(f"<tr><td>{int(stop['order'])}</td>"):]
        row = row[:row.index("</tr>")]
        if stop["address"] and stop["address"] != stop["label"]:
            assert str(escape(stop["address"])) in row
        assert f"({escape(stop['address_source'])})" in row
        for fact in stop["checks"]:
            assert str(escape(fact)) in row
    lost = details.set_index("source_uid").loc[constat]
    assert lost["address_source"] != "adresse du constat"
    assert str(escape(lost["address_source"])) in table
