"""The embedded demo territory builds through the real importers, with simulated data flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from layers.demo import build_demo
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


def test_demo_rebuild_adds_nothing(demo_store: LayerStore) -> None:
    before = [(i.name, i.count) for i in demo_store.layers()]
    result = build_demo(demo_store, DEMO)
    assert all(r.n_inserted == 0 for r in result.reports)
    assert result.simulation is not None and result.simulation.observations == 0
    assert [(i.name, i.count) for i in demo_store.layers()] == before


def test_demo_files_are_listed_in_data_readme() -> None:
    readme = (REPO_ROOT / "data" / "README.md").read_text(encoding="utf-8")
    for path in DEMO.rglob("*"):
        if path.is_file() and path.name != "manifest.yaml":
            assert path.name in readme, path.name
    assert "Licence Ouverte" in readme and "ODbL" in readme


def test_build_script_exists() -> None:
    assert (REPO_ROOT / "data" / "build_demo.py").exists()
    assert Path(DEMO / "manifest.yaml").exists()
