"""The qpv command line: init, import, layers, export, mappings, demo; French errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from webmap.cli import main


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("QPV_STORE", str(tmp_path / "t.gpkg"))
    monkeypatch.setenv("QPV_REPORTS_DIR", str(tmp_path / "rapports"))
    return CliRunner()


def test_init_import_layers_export(runner: CliRunner, shared_data: Path, tmp_path: Path) -> None:
    assert runner.invoke(main, ["initialiser"]).exit_code == 0
    qpv = shared_data / "paris" / "qpv-paris-idf-2015.geojson"
    res = runner.invoke(main, ["importer", "perimetres", str(qpv), "--correspondance", "qpv-paris"])
    assert res.exit_code == 0, res.output
    assert "3 lignes lues : 3 ajoutées" in res.output and "1 géométries réparées" in res.output
    res = runner.invoke(main, ["importer", "observations",
                               str(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv"),
                               "-m", "dansmarue"])
    assert res.exit_code == 0, res.output
    assert "10000 lignes lues : 10000 ajoutées" in res.output
    assert (tmp_path / "rapports").is_dir()
    res = runner.invoke(main, ["couches", "--json"])
    rows = {r["couche"]: r for r in json.loads(res.output)}
    assert rows["observations"]["par_quartier"]["QP075019"] == 70
    out = tmp_path / "obs.csv"
    res = runner.invoke(main, ["exporter", "observations", "--format", "csv", "-o", str(out),
                               "--debut", "2024-01-01", "--fin", "2024-02-01"])
    assert res.exit_code == 0, res.output
    csv = pd.read_csv(out, sep=";")
    assert len(csv) > 0 and csv["observed_at"].str.startswith("2024-01").all()
    assert {"lon", "lat", "wkt_lambert93"} <= set(csv.columns)
    gj = tmp_path / "obs.geojson"
    runner.invoke(main, ["exporter", "observations", "--format", "geojson", "-o", str(gj)])
    back = gpd.read_file(gj)
    assert len(back) == 10_000 and back.crs.to_epsg() == 4326


def test_errors_are_french_and_exit_non_zero(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(main, ["importer", "cameras", str(tmp_path / "x.csv")])
    assert res.exit_code == 1 and "Erreur" in res.output
    empty = tmp_path / "vide.csv"
    empty.write_text("", encoding="utf-8")
    res = runner.invoke(main, ["importer", "observations", str(empty), "-m", "dansmarue"])
    assert res.exit_code == 1 and "vide" in res.output
    res = runner.invoke(main, ["importer", "observations", str(empty), "-m", "inexistant"])
    assert res.exit_code == 1 and "Correspondance introuvable" in res.output
    res = runner.invoke(main, ["couches"])
    assert res.exit_code == 0  # store created by earlier import attempt or empty


def test_mappings_listed(runner: CliRunner) -> None:
    res = runner.invoke(main, ["correspondances"])
    assert res.exit_code == 0
    assert "dansmarue" in res.output and "observations" in res.output


def test_demo_command(runner: CliRunner) -> None:
    res = runner.invoke(main, ["demo"])
    assert res.exit_code == 0, res.output
    assert "données simulées" in res.output
    assert "observations" in res.output and "Et maintenant" in res.output


def test_cli_speaks_french_throughout() -> None:
    """Commands, options and click's own words (help, usage, errors) are French."""
    runner = CliRunner()
    res = runner.invoke(main, ["--aide"])
    assert res.exit_code == 0
    assert "Affiche cette aide et quitte." in res.output
    assert "Usage :" in res.output and "Commandes" in res.output
    for word in ("importer", "exporter", "couches", "correspondances", "parcours", "rapport", "localiser",
                 "utilisateurs", "servir", "initialiser"):
        assert f"  {word} " in res.output
    res = runner.invoke(main, ["parcours", "--aide"])
    assert "--depart TEXTE" in res.output and "[obligatoire]" in res.output
    res = runner.invoke(main, ["parcours"])
    assert res.exit_code == 2
    assert "Erreur : Option manquante '--quartier'." in res.output
    res = runner.invoke(main, ["inexistante"])
    assert "Commande inconnue" in res.output
    # click's messages are French only while qpv runs
    @click.command()
    @click.option("--x", required=True)
    def other(x: str) -> None:
        """Another click program."""

    assert "Missing option" in runner.invoke(other, []).output
