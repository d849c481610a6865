"""Reports from the demo store name their recurrent sites by the store's points noirs and addresses.

The demo store: real Dans Ma Rue reports in Paris (no clean-up date), simulated dumping at
Montpellier's points noirs (with clean-up dates), the real BAN and Montpellier addresses.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from geo.stats.recurrence import address_text
from layers.analyses import territory_report_from_store
from layers.dashboard import quartier_dashboard
from layers.store import open_store
from tests.walkdemo import demo_store_copy

PERIOD = {"start": date(2023, 10, 1), "end": date(2024, 9, 30)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store_copy(tmp_path_factory, "sites")


def test_territory_report_of_the_points_noirs_names_every_site(demo: Path) -> None:
    with open_store(demo, create=False) as store:
        report = territory_report_from_store(store, layer="points_noirs", **PERIOD)
        known = store.read("points_noirs")
    table = report.tables["Sites les plus récurrents des quartiers"]
    by_name = dict(zip(known["name"], known["address"], strict=True))
    assert len(table) and set(table["Site"]) <= set(by_name)
    assert [by_name[s] for s in table["Site"]] == list(table["Localisation"])
    assert set(table["Localisation d'après"]) == {"adresse du point noir"}
    sites = report.results["recurrence"].sites
    # the points noirs' events carry clean-up dates: « malgré les enlèvements » is earned there
    assert bool(sites["cleanups_known"].all())
    in_quartiers = sites[sites["quartier"].notna()]
    assert report.key_figures["Sites persistants malgré les enlèvements"] == int(
        (in_quartiers["status"] == "persistant malgré les enlèvements").sum())


def test_territory_report_of_dans_ma_rue_locates_unnamed_sites_by_address(demo: Path) -> None:
    with open_store(demo, create=False) as store:
        report = territory_report_from_store(store, **PERIOD)
        addresses = store.read("adresses")
    table = report.tables["Sites les plus récurrents des quartiers"]
    assert not table.astype(str).apply(lambda c: c.str.contains("site-")).any().any()
    sites = report.results["recurrence"].sites
    shown = sites[sites["quartier"].notna() & (sites["n_events"] >= 2)
                  & (sites["label"] == "regroupement sans point noir")]
    assert len(shown) >= 5
    d, i = cKDTree(np.column_stack([addresses.geometry.x, addresses.geometry.y])).query(
        np.column_stack([shown.geometry.x, shown.geometry.y]))
    text = address_text(addresses).to_numpy(dtype=object)
    assert list(shown["location"]) == [text[k] if dist <= 50 else None for dist, k in zip(d, i, strict=True)]
    # Dans Ma Rue records no clean-up: recurrent until the end, never « malgré les enlèvements »
    assert "Sites récurrents jusqu'à la fin de la période (aucune date d'enlèvement)" in report.key_figures
    assert not any("malgré" in k for k in report.key_figures)
    assert "persistant malgré les enlèvements" not in set(table["Statut"])


def test_dashboard_recurrent_sites_are_named_the_same_way(demo: Path) -> None:
    with open_store(demo, create=False) as store:
        paris = quartier_dashboard(store, "QP075019", **PERIOD)
        mosson = quartier_dashboard(store, "QP034005", **PERIOD)
    for data in (paris, mosson):
        rs = data["recurrent_sites"]
        assert rs["columns"][:3] == ["Site", "Localisation", "Localisation d'après"]
        assert rs["rows"] and not any(str(v).startswith("site-") for row in rs["rows"] for v in row)
    assert {r[0] for r in paris["recurrent_sites"]["rows"]} == {"regroupement sans point noir"}
    located_by = [r[2] for r in paris["recurrent_sites"]["rows"]]
    assert all(how.startswith(("adresse la plus proche (", "n.d.")) for how in located_by)
    names = {r[0] for r in mosson["recurrence"]["rows"]}
    assert {r[0] for r in mosson["recurrent_sites"]["rows"]} <= names
    assert mosson["recurrence"]["columns"][2] == "Statut du point noir"
