"""``qpv parcours`` and ``qpv diagnostic …`` on a copy of the demo store (Mosson, QP034005)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from geo.walks.export import read_gpx
from layers.store import open_store
from tests.walkdemo import MOSSON, demo_store_copy
from webmap.cli import main


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store_copy(tmp_path_factory, "walkcli")


def run(store_path: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--entrepot", str(store_path), *args],
                                env={"QPV_CACHE_DIR": str(store_path.parent / "cache")})
    assert result.exit_code == 0, result.output
    return result.output


def test_route_then_diagnostic_commands(store_path: Path, tmp_path: Path) -> None:
    out = run(store_path, "parcours", "--quartier", MOSSON, "--depart", "291 avenue du Puech de Massane",
              "--minutes", "45", "--groupes", "2", "--arret", "4", "--date", "2026-09-15T09:30",
              "--sortie", str(tmp_path), "--sans-pdf")
    assert "départ : 291 Avenue du Puech de Massane" in out
    assert out.count("Diagnostic Mosson du 15/09/2026 — groupe") == 2
    durations = [int(m) for m in re.findall(r"durée (\d+) min arrêts compris \(disponible : 45 min\)", out)]
    assert len(durations) == 2 and all(0 < d <= 45 for d in durations)
    assert re.search(r"^\s+1\. \+\s*\d+\.\d min  \S", out, flags=re.M)
    gpx = sorted(tmp_path.glob("diagnostic-*-groupe-*.gpx"))
    assert len(gpx) == 2 and len(list(tmp_path.glob("*.html"))) == 2 and not list(tmp_path.glob("*.pdf"))
    track, waypoints = read_gpx(gpx[0].read_text(encoding="utf-8"))
    assert track[0] == pytest.approx(track[-1]) and waypoints

    listing = json.loads(run(store_path, "diagnostic", "liste", "--json"))
    assert len(listing) == 2 and {w["statut"] for w in listing} == {"prévu"}
    uid = listing[0]["uid"]
    shown = run(store_path, "diagnostic", "voir", uid)
    assert "statut « prévu »" in shown and "0 constat(s) relevé(s)" in shown
    # each stop's address (and where it comes from) under it, as on the walk page and the sheet
    lines = shown.splitlines()
    firsts = [i for i, line in enumerate(lines) if re.match(r"^\s+1\. ", line)]
    assert firsts and re.search(r"\((adresse du |voie parcourue|adresse la plus proche|adresse inconnue)",
                                lines[firsts[0] + 1])

    done = run(store_path, "diagnostic", "realise", uid, "--participants", "Ville, Bailleur",
               "--habitants", "12")
    assert "réalisé" in done
    store = open_store(store_path)
    try:
        row = store.get("diagnostics", uid).iloc[0]
    finally:
        store.close()
    assert row["status"] == "réalisé" and row["organisations"] == "Ville, Bailleur"
    assert row["n_habitants"] == 12
    report = run(store_path, "diagnostic", "compte-rendu", uid, "--sortie", str(tmp_path / "cr"),
                 "--sans-pdf")
    html = (tmp_path / "cr" / f"compte-rendu-{uid[:8]}.html").read_text(encoding="utf-8")
    assert "compte-rendu-" in report and "Ville, Bailleur ; 12 habitant(s)" in html


def test_route_errors_in_french(store_path: Path) -> None:
    result = CliRunner().invoke(main, ["--entrepot", str(store_path), "parcours", "--quartier", "QP000000",
                                       "--depart", "3.82,43.63"])
    assert result.exit_code == 1 and "Erreur : Quartier inconnu « QP000000 »" in result.output
    result = CliRunner().invoke(main, ["--entrepot", str(store_path), "diagnostic", "voir", "inexistant"])
    assert result.exit_code == 1 and "Erreur : " in result.output


def test_every_street_walk_reports_its_pedestrian_links(store_path: Path, tmp_path: Path) -> None:
    """Mosson's Cour del Riu is 10 m from any other street in the real file: reached by a link, said so."""
    out = run(store_path, "parcours", "--quartier", MOSSON, "--depart", "291 avenue du Puech de Massane",
              "--toutes-les-rues", "--minutes", "600", "--date", "2026-09-16T09:30",
              "--sortie", str(tmp_path), "--sans-pdf")
    found = re.search(r"(\d+) liaisons? hors voie cartographiée \((\d+) m au total\) : à vérifier sur place",
                      out)
    assert found, out
    count, metres = int(found.group(1)), int(found.group(2))
    assert count >= 1 and 0 < metres <= 15 * count
    share = int(re.search(r"couvre (\d+) % des", out).group(1))  # type: ignore[union-attr]
    assert share >= 98
    html = next(tmp_path.glob("*.html")).read_text(encoding="utf-8")
    assert found.group(0) in html
    geojson = json.loads(next(tmp_path.glob("*.geojson")).read_text(encoding="utf-8"))
    links = [f for f in geojson["features"] if f["properties"].get("kind") == "liaison"]
    assert len(links) == count == geojson["features"][0]["properties"]["liaisons_hors_voie"]
    assert all(f["properties"]["connector"] is True for f in links)
    from layers.walks import load_walk

    store = open_store(store_path)
    try:
        walks = store.read("diagnostics", where={"walk_date": "2026-09-16T09:30:00"})
        stored = load_walk(store, str(walks["uid"].iloc[0]))
    finally:
        store.close()
    assert len(stored.route.connectors) == count  # the stored walk keeps its links


def test_every_street_walk_longer_than_the_time_available_says_so(store_path: Path, tmp_path: Path) -> None:
    out = run(store_path, "parcours", "--quartier", MOSSON, "--depart", "291 avenue du Puech de Massane",
              "--toutes-les-rues", "--minutes", "60", "--date", "2026-09-17T09:30",
              "--sortie", str(tmp_path))
    duration = int(re.search(r"durée (\d+) min arrêts compris \(disponible : 60 min\)", out).group(1))  # type: ignore[union-attr]
    assert duration > 60
    assert f"dépasse de {duration - 60} min le temps disponible" in out
    html = next(tmp_path.glob("*.html")).read_text(encoding="utf-8")
    assert "pour 60 min disponibles" in html and "dépasse le temps disponible" in html
