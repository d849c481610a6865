"""The embedded demo territory builds through the real importers, with simulated data flagged."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from layers.conventions import stored_conventions
from layers.demo import build_demo
from layers.demo_actions import BAILLEUR, DATASET
from layers.settings import REPO_ROOT
from layers.store import LayerStore, open_store

DEMO = REPO_ROOT / "data" / "demo"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> LayerStore:
    path = tmp_path_factory.mktemp("demo") / "demo.gpkg"
    store = open_store(path)
    build_demo(store, DEMO)
    return store


def test_demo_is_small() -> None:
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size < 8e6


def test_demo_content(demo_store: LayerStore) -> None:
    info = {i.name: i for i in demo_store.layers()}
    assert info["perimetres"].count == 15  # 3 Paris-region QPV + 12 Montpellier QPV
    assert info["videoprotection"].count == 707 + 141
    assert info["observations"].count > 10_000
    # real data is not simulated; Montpellier GUSP records are, and say so
    obs = demo_store.read("observations")
    real = obs[obs["source_dataset"] == "dansmarue-paris"]
    assert len(real) == 10_000 and not real["simulated"].any()
    sim = obs[obs["simulated"]]
    assert len(sim) == 1500 and (sim["source_dataset"] == "simulation-montpellier").all()
    assert sim["description"].str.startswith("Constat simulé").all()
    for layer in ("points_noirs", "travaux_npnru"):
        assert info[layer].count > 0 and info[layer].simulated == info[layer].count
    readings = demo_store.read_children("bacs", "releves")
    assert len(readings) > 10_000 and readings["simulated"].all()
    assert readings["fill_pct"].between(0, 100).all()


def test_simulated_history_is_ordered(demo_store: LayerStore) -> None:
    obs = demo_store.read("observations", where={"simulated": True, "status": "traité"}, limit=20)
    for uid in obs["uid"]:
        hist = demo_store.history("observations", uid)
        assert hist["status"].iloc[0] == "nouveau" and hist["status"].iloc[-1] == "traité"
        assert hist["changed_at"].is_monotonic_increasing


def test_demo_plans_d_actions(demo_store: LayerStore) -> None:
    actions = demo_store.read("actions")
    assert len(actions) and actions["simulated"].all()
    assert set(actions["source_dataset"]) == {DATASET}
    plans = actions[~actions["tfpb"]]
    per_quartier = plans["quartier"].value_counts()
    assert len(per_quartier) == 2 and per_quartier.between(15, 25).all()
    # the two quartiers holding the most simulated constats, counted here without the demo's code
    obs = demo_store.read("observations", where={"simulated": True})
    per = demo_store.read("perimetres")
    inside = gpd.sjoin(obs[["uid", "geometry"]], per[["code", "geometry"]], predicate="within")
    busiest = inside["code"].value_counts()
    assert set(per_quartier.index) == set(busiest.index[:2])
    assert set(plans["convention"]) == {"pays-de-montbeliard-2025-2030"}
    conv = {c.code: c for c in stored_conventions(demo_store)}
    assert set(conv) == {"pays-de-montbeliard-2025-2030", "lillers-2023"}
    objectifs = {o.code for o in conv["pays-de-montbeliard-2025-2030"].operational_objectives()}
    assert set(plans["objectif"]) <= objectifs
    assert set(plans["etat"]) >= {"réalisée", "engagée", "reportée"}
    late = plans[(pd.to_datetime(plans["deadline"]) < pd.Timestamp.today())
                 & plans["etat"].isin(["à engager", "engagée", "reportée"])]
    assert len(late) and late["delay_causes"].notna().any() and plans["deadline"].isna().any()
    # answers the constats of its quartier; the réalisées' open constats became « traité »
    links = demo_store.read_children("actions", "constats")
    assert set(links["parent_uid"]) >= set(plans["uid"])
    linked = inside.set_index("uid")["code"].reindex(links["constat_uid"]).to_numpy()
    quartier_of = dict(zip(actions["uid"], actions["quartier"], strict=True))
    plan_links = links["parent_uid"].isin(plans["uid"]).to_numpy()
    assert (linked[plan_links] == links.loc[plan_links, "parent_uid"].map(quartier_of).to_numpy()).all()
    treated = demo_store.read("observations", where={"action_reference": list(plans["reference"])})
    assert len(treated) and (treated["status"] == "traité").all()
    done = set(plans.loc[plans["etat"] == "réalisée", "reference"])
    assert set(treated["action_reference"]) <= done
    hist = demo_store.history("actions", plans.loc[plans["etat"] == "réalisée", "uid"].iloc[0])
    assert hist["status"].iloc[0] == "à engager" and hist["status"].iloc[-1] == "réalisée"
    # one bailleur, simulated, with a programme over the 8 axes of the year of the constats
    tfpb = actions[actions["tfpb"]]
    in_plans = obs["uid"].isin(inside.loc[inside["code"].isin(per_quartier.index), "uid"])
    constats_year = min(int(pd.to_datetime(obs.loc[in_plans, "observed_at"]).dt.year.max()),
                        date.today().year)
    assert set(tfpb["bailleur"]) == {BAILLEUR} and set(tfpb["tfpb_year"]) == {constats_year}
    assert set(tfpb["tfpb_axe"]) == {str(i) for i in range(1, 9)} and 12 <= len(tfpb) <= 20
    sous = {a.code: set(a.sous_actions) for a in conv["lillers-2023"].tfpb_axes}
    assert all(s in sous[a] for a, s in zip(tfpb["tfpb_axe"], tfpb["tfpb_sous_action"], strict=True))
    assert (tfpb["amount_planned"] > 0).all()
    # near constats on bailleur land for some, far for others
    land = obs[obs["domanialite"] == "bailleur"]
    near = gpd.sjoin_nearest(tfpb[["uid", "geometry"]], land[["geometry"]], distance_col="d")
    share = float((near.groupby("uid")["d"].min() <= 100).mean())
    assert 0 < share < 1


def test_demo_rebuild_adds_nothing(demo_store: LayerStore) -> None:
    before = [(i.name, i.count) for i in demo_store.layers()]
    links = len(demo_store.read_children("actions", "constats"))
    history = len(demo_store.read_children("actions", "historique"))
    result = build_demo(demo_store, DEMO)
    assert all(r.n_inserted == 0 for r in result.reports)
    assert result.simulation is not None and result.simulation.observations == 0
    assert result.actions is not None and (result.actions.actions, result.actions.links) == (0, 0)
    assert result.actions.treated == 0
    assert [(i.name, i.count) for i in demo_store.layers()] == before
    assert len(demo_store.read_children("actions", "constats")) == links
    assert len(demo_store.read_children("actions", "historique")) == history


def test_demo_files_are_listed_in_data_readme() -> None:
    readme = (REPO_ROOT / "data" / "README.md").read_text(encoding="utf-8")
    for path in DEMO.rglob("*"):
        if path.is_file() and path.name != "manifest.yaml":
            assert path.name in readme, path.name
    assert "Licence Ouverte" in readme and "ODbL" in readme


def test_build_script_exists() -> None:
    assert (REPO_ROOT / "data" / "build_demo.py").exists()
    assert Path(DEMO / "manifest.yaml").exists()
