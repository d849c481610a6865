"""``qpv entrepot copier``: GeoPackage → PostGIS → GeoPackage from the command line."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from layers.store import open_store
from tests.conftest import drop_schema, scratch_schema_url
from tests.layers.test_store_copy import assert_same, fill
from webmap.cli import main


@pytest.fixture
def pg_url(postgis_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield scratch_schema_url(postgis_url, name)
    drop_schema(postgis_url, name)


def test_copier_both_ways(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "source.gpkg"
    with open_store(source) as s:
        fill(s)
    runner = CliRunner()
    result = runner.invoke(main, ["entrepot", "copier", str(source), pg_url])
    assert result.exit_code == 0, result.output
    assert "terminée" in result.output
    assert "observations            5 ajoutés sur        5 (tables liées : historique 7)" in result.output
    assert "journal des imports : 1 entrée(s) ajoutée(s)" in result.output
    again = runner.invoke(main, ["entrepot", "copier", str(source), pg_url])
    assert again.exit_code == 0 and "Rien à ajouter" in again.output
    back = tmp_path / "retour.gpkg"
    result = runner.invoke(main, ["entrepot", "copier", pg_url, str(back), "--couche", "observations"])
    assert result.exit_code == 0, result.output
    with open_store(back) as b:
        assert b.count("observations") == 5 and b.count("bacs") == 0
    result = runner.invoke(main, ["entrepot", "copier", pg_url, str(tmp_path / "tout.gpkg")])
    assert result.exit_code == 0, result.output
    with open_store(source) as a, open_store(tmp_path / "tout.gpkg") as b:
        assert_same(a, b)


def test_copier_errors_in_french(tmp_path: Path, pg_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["entrepot", "copier", str(tmp_path / "absent.gpkg"), pg_url])
    assert result.exit_code == 1 and "Erreur : Entrepôt introuvable" in result.output
    result = runner.invoke(main, ["entrepot", "copier", str(tmp_path / "a.gpkg"), pg_url,
                                  "--couche", "cameras"])
    assert result.exit_code == 1 and "Couche inconnue" in result.output


def test_init_on_postgis_hides_the_password(pg_url: str) -> None:
    result = CliRunner().invoke(main, ["--entrepot", pg_url, "initialiser"])
    assert result.exit_code == 0, result.output
    assert "Entrepôt prêt : postgresql://qpv@" in result.output and "qpv:qpv" not in result.output
    with open_store(pg_url, create=False) as s:
        assert s.count("observations") == 0


@pytest.mark.parametrize("backend_kind", ["gpkg", "postgis"])
def test_optimiser(tmp_path: Path, pg_url: str, backend_kind: str) -> None:
    """After optimising, the same viewport answers the same records; PostGIS clusters the
    geometry tables holding records, and the table order follows the GiST index."""
    url = str(tmp_path / "s.gpkg") if backend_kind == "gpkg" else pg_url
    with open_store(url) as s:
        fill(s)
        bbox = tuple(s.read("observations").total_bounds)
        before = s.read("observations", bbox=bbox).sort_values("uid").reset_index(drop=True)
    runner = CliRunner()
    result = runner.invoke(main, ["--entrepot", url, "entrepot", "optimiser"])
    assert result.exit_code == 0, result.output
    assert "optimisé" in result.output
    if backend_kind == "postgis":
        assert "tables réordonnées : " in result.output and "observations" in result.output
        import psycopg

        schema = pg_url.rsplit("schema=", 1)[1]
        with psycopg.connect(pg_url.split("?")[0]) as con:
            clustered = con.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indisclustered AND n.nspname = %s",
                (schema,)).fetchall()
            assert ("observations_geom",) in clustered
    else:
        assert "réordonnées" not in result.output
    with open_store(url) as s:
        after = s.read("observations", bbox=bbox).sort_values("uid").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    bad = runner.invoke(main, ["--entrepot", url, "entrepot", "optimiser", "--couche", "cameras"])
    assert bad.exit_code == 1 and "Couche inconnue" in bad.output
