"""``qpv conventions``: list, check and import the conventions into a store."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from layers.conventions import CONVENTIONS_DIR, list_conventions, stored_conventions
from layers.store import open_store
from webmap.cli import main


def test_lister_shows_the_shipped_conventions() -> None:
    result = CliRunner().invoke(main, ["conventions", "lister"])
    assert result.exit_code == 0, result.output
    for convention in list_conventions():
        assert f"{convention.code} — {convention.titre}" in result.output
    assert "7 orientation(s), 15 objectif(s) général(aux), 44 objectif(s) opérationnel(s)" in result.output


def test_importer_then_lister_from_the_store(tmp_path: Path) -> None:
    store_path = tmp_path / "t.gpkg"
    runner = CliRunner()
    assert runner.invoke(main, ["--entrepot", str(store_path), "initialiser"]).exit_code == 0
    empty = runner.invoke(main, ["--entrepot", str(store_path), "conventions", "lister", "--importees"])
    assert "Aucune convention" in empty.output
    for _ in range(2):  # importing twice replaces
        result = runner.invoke(main, ["--entrepot", str(store_path), "conventions", "importer"])
        assert result.exit_code == 0, result.output
    with open_store(store_path) as store:
        assert stored_conventions(store) == list_conventions()


def test_verifier_names_the_bad_key(tmp_path: Path) -> None:
    doc = yaml.safe_load((CONVENTIONS_DIR / "lillers-2023.yaml").read_text(encoding="utf-8"))
    doc["axes"][2]["code"] = "1"
    bad = tmp_path / "lillers.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    good = runner.invoke(main, ["conventions", "verifier", str(CONVENTIONS_DIR / "lillers-2023.yaml")])
    assert good.exit_code == 0 and "correcte" in good.output
    result = runner.invoke(main, ["conventions", "verifier", str(bad)])
    assert result.exit_code == 1
    assert "clé « axes[2].code »" in result.output and "en double" in result.output
