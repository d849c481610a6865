"""Samples declared as such: every figure built on them says its counts are partial.

The demo store declares its Dans Ma Rue file (10,000 real reports drawn from the Paris
export) a sample through ``data/demo/manifest.yaml``; the Montpellier records are simulated,
not a sample. ``qpv importer --echantillon`` declares one from the command line.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from layers.analyses import quartier_report_from_store, territory_report_from_store
from layers.dashboard import quartier_dashboard, territory_dashboard
from layers.errors import RecordError
from layers.samples import clean_sample_note, declare_sample, sample_note, sampled_datasets
from layers.store import open_store
from tests.walkdemo import demo_store_copy

PERIOD = {"start": date(2023, 10, 1), "end": date(2024, 9, 30)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store_copy(tmp_path_factory, "samples")


def test_demo_declares_its_dans_ma_rue_file_a_sample(demo: Path) -> None:
    with open_store(demo, create=False) as store:
        samples = sampled_datasets(store)
        assert list(samples) == ["dansmarue-paris"]
        assert samples["dansmarue-paris"].startswith("10 000 signalements tirés de l'export Dans Ma Rue")
        obs = store.read("observations", limit=50)
    paris = obs[obs["source_dataset"] == "dansmarue-paris"]
    note = sample_note(paris, samples)
    assert note is not None and note.startswith("Échantillon : 10 000 signalements") and "partiels" in note
    assert sample_note(obs[obs["source_dataset"] != "dansmarue-paris"], samples) is None
    assert sample_note(paris, {}) is None and sample_note(pd.DataFrame(), samples) is None


def test_figures_on_the_sample_say_so_and_the_others_do_not(demo: Path) -> None:
    with open_store(demo, create=False) as store:
        paris = quartier_dashboard(store, "QP075019", **PERIOD)
        mosson = quartier_dashboard(store, "QP034005", **PERIOD)
        report = quartier_report_from_store(store, "QP075019", **PERIOD)
        territory = territory_dashboard(store, **PERIOD)
        whole = territory_report_from_store(store, **PERIOD)
    observed = [i for i in paris["indicators"] if i["sample"]]
    assert observed, "les indicateurs calculés sur l'échantillon doivent le dire"
    assert all("comptes sont partiels" in i["sample"] for i in observed)
    assert any(n.startswith("Échantillon : ") for n in paris["notes"])
    assert not any(i["sample"] for i in mosson["indicators"])
    assert not any(n.startswith("Échantillon") for n in mosson["notes"])
    assert report.notes[0].startswith("Échantillon : 10 000 signalements")
    assert whole.notes[0].startswith("Échantillon : ")
    labels = dict(zip((r[0] for r in territory["rows"]), (r[-1] for r in territory["rows"]), strict=True))
    assert labels["QP075019"].endswith(", échantillon")
    assert not any(v.endswith("échantillon") for k, v in labels.items() if k.startswith("QP034"))


def test_a_sample_needs_a_description(tmp_path: Path) -> None:
    assert clean_sample_note("  10 000   signalements ") == "10 000 signalements"
    with pytest.raises(RecordError, match="« echantillon »"):
        clean_sample_note(" ")
    with pytest.raises(RecordError, match="300"):
        clean_sample_note("x" * 301)
    with open_store(tmp_path / "s.gpkg") as store:
        declare_sample(store, "jeu", "un tiers des signalements")
        assert sampled_datasets(store) == {"jeu": "un tiers des signalements"}


def test_cli_declares_a_sample_at_import(tmp_path: Path, shared_data: Path) -> None:
    from webmap.cli import main

    store = tmp_path / "cli.gpkg"
    runner = CliRunner()
    base = ["--entrepot", str(store)]
    perimeters = shared_data / "paris" / "qpv-paris-idf-2015.geojson"
    reports = shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv"
    res = runner.invoke(main, [*base, "importer", "perimetres", str(perimeters), "-m", "qpv-paris"])
    assert res.exit_code == 0, res.output
    bad = runner.invoke(main, [*base, "importer", "observations", str(reports), "-m", "dansmarue",
                               "--echantillon", " "])
    assert bad.exit_code == 2 and "echantillon" in bad.output
    with open_store(store, create=False) as s:
        assert s.count("observations") == 0  # refused before anything was imported
    res = runner.invoke(main, [*base, "importer", "observations", str(reports), "-m", "dansmarue",
                               "--echantillon", "10 000 signalements tirés de l'export"])
    assert res.exit_code == 0, res.output
    assert "déclaré échantillon" in res.output
    with open_store(store, create=False) as s:
        assert sampled_datasets(s) == {"dansmarue-paris": "10 000 signalements tirés de l'export"}

