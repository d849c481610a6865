"""Simulated plans d'actions on both back-ends: the same records, the same section, re-runs add nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import shapely

from layers._action_section import action_section
from layers.demo_actions import ActionsSummary, simulate_action_plans
from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.simulate import simulate_territory
from layers.store import LayerStore, open_store
from tests.conftest import drop_schema, scratch_schema_url

DEMO = REPO_ROOT / "data" / "demo"
TODAY = date(2026, 12, 6)


def _fill(store: LayerStore) -> None:
    for name, mapping in (
        ("montpellier/qp-montpellier-2015.geojson", "qpv-occitanie"),
        ("montpellier/VilleMTP_MTP_PointAdresse.zip", "montpellier-adresses"),
    ):
        import_file(store, DEMO / name, options=ImportOptions(mapping=mapping, actor="tests"))
    simulate_territory(
        store,
        store.read("perimetres"),
        seed=5,
        start="2024-01-01",
        months=6,
        n_observations=400,
        n_points_noirs=2,
        n_bacs=2,
    )


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LayerStore]:
    store = open_store(Path(tmp_path_factory.mktemp("plans")) / "plans.gpkg")
    _fill(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def postgis(postgis_url: str, gpkg: LayerStore) -> Iterator[LayerStore]:
    """The same perimeters and constats (the simulation reads addresses in a backend's order)."""
    drop_schema(postgis_url, "test_demo_actions")
    store = open_store(scratch_schema_url(postgis_url, "test_demo_actions"))
    for layer in ("perimetres", "observations"):
        store.write(layer, gpkg.read(layer), actor="tests")
    yield store
    store.close()
    drop_schema(postgis_url, "test_demo_actions")


def _run(store: LayerStore) -> tuple[ActionsSummary, pd.DataFrame, list[tuple[str, object, str | None]]]:
    per = store.read("perimetres")
    first = simulate_action_plans(store, per, seed=3, year=2026, today=TODAY)
    again = simulate_action_plans(store, per, seed=3, year=2026, today=TODAY)
    assert (again.actions, again.links, again.treated, again.tfpb) == (0, 0, 0, 0)
    code = first.quartiers[0]
    zone = shapely.union_all(store.read("perimetres", where={"code": code}).geometry.to_numpy())
    section = action_section(store, code, zone, start=date(2024, 1, 1), end=date(2024, 12, 31), today=TODAY)
    actions = store.read("actions").sort_values("uid").reset_index(drop=True)
    return first, actions, section.figures


def test_same_plans_and_section_on_both_backends(gpkg: LayerStore, postgis: LayerStore) -> None:
    summary_g, actions_g, figures_g = _run(gpkg)
    summary_p, actions_p, figures_p = _run(postgis)
    assert summary_g == summary_p
    assert summary_g.tfpb == 16 and summary_g.treated > 0
    columns = ["uid", "reference", "quartier", "etat", "objectif", "pilote", "partenaires", "tfpb_axe"]
    pd.testing.assert_frame_equal(actions_g[columns], actions_p[columns])
    assert pd.to_datetime(actions_g["deadline"]).equals(pd.to_datetime(actions_p["deadline"]))
    assert figures_g == figures_p
    total = {label: value for label, value, _ in figures_g}["Actions enregistrées"]
    assert isinstance(total, int) and total > 0
    # the constats a réalisée action answered carry its reference, on both back-ends
    for store in (gpkg, postgis):
        done = store.read("actions", where={"etat": "réalisée", "tfpb": False})
        treated = store.read("observations", where={"action_reference": list(done["reference"])})
        assert len(treated) == summary_g.treated and (treated["status"] == "traité").all()
