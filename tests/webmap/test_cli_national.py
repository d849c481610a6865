"""``qpv national lookup`` and ``qpv national bins`` on real 20e BAN addresses (synchronous scheduler)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("dask_geopandas")

from geo.perimeters.lookup import build_index, lookup_many
from geo.stats.binning import count_in_bins, make_bins
from layers.settings import REPO_ROOT
from webmap.cli import main

PERIMETERS = REPO_ROOT / "data" / "demo" / "paris" / "qpv-paris-idf-2015.geojson"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("QPV_STORE", str(tmp_path / "t.gpkg"))
    monkeypatch.setenv("QPV_REPORTS_DIR", str(tmp_path / "rapports"))
    return CliRunner()


@pytest.fixture
def addresses(tmp_path: Path) -> tuple[Path, gpd.GeoDataFrame]:
    """600 real BAN addresses of the 20e (seeded sample) as a BAN-like CSV, and as points."""
    raw = pd.read_csv(REPO_ROOT / "data" / "demo" / "paris" / "adresses-75020.csv.gz", sep=";", dtype=str,
                      keep_default_na=False)
    sample = raw.sample(600, random_state=3).reset_index(drop=True)
    path = tmp_path / "adresses-75020.csv"
    sample[["id", "numero", "rep", "nom_voie", "nom_commune", "x", "y"]].to_csv(path, sep=";", index=False)
    pts = gpd.GeoDataFrame(sample, geometry=gpd.points_from_xy(sample["x"].astype(float),
                                                               sample["y"].astype(float)), crs=2154)
    return path, pts


def test_national_lookup_writes_parquet(runner: CliRunner, addresses: tuple[Path, gpd.GeoDataFrame],
                                        tmp_path: Path) -> None:
    path, pts = addresses
    out = tmp_path / "sortie.parquet"
    result = runner.invoke(main, ["national", "localiser", str(path), "--perimetres", str(PERIMETERS),
                                  "-o", str(out), "--ordonnanceur", "synchronous", "--partitions", "3"])
    assert result.exit_code == 0, result.output
    got = gpd.read_parquet(out).sort_index()
    expected = lookup_many(pts, build_index(gpd.read_file(PERIMETERS)))
    assert len(got) == len(pts)
    np.testing.assert_array_equal(got["qpv_code"].astype(str).to_numpy(),
                                  expected["qpv_code"].astype(str).to_numpy())
    inside = int((expected["qpv_code"] == "QP075019").sum())
    assert inside > 0
    assert f"QP075019 : {inside}" in result.output
    assert "600 adresses" in result.output and "Résultat" in result.output


def test_national_bins_with_gi(runner: CliRunner, addresses: tuple[Path, gpd.GeoDataFrame],
                              tmp_path: Path) -> None:
    path, pts = addresses
    out = tmp_path / "mailles.gpkg"
    result = runner.invoke(main, ["national", "mailles", str(path), "--maille", "250",
                                  "--forme", "hexagonale", "--gi", "-o", str(out),
                                  "--ordonnanceur", "synchronous"])
    assert result.exit_code == 0, result.output
    cells = gpd.read_file(out)
    expected = count_in_bins(make_bins(pts, size=250.0, shape="hex"), pts)
    np.testing.assert_array_equal(cells["count"].to_numpy(), expected["count"].to_numpy())
    assert "600 points" in result.output and "Mailles chaudes" in result.output


def test_national_errors_are_french(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["national", "mailles", str(tmp_path / "absent-*.csv"), "-o",
                                  str(tmp_path / "m.gpkg"), "--ordonnanceur", "synchronous"])
    assert result.exit_code == 1
    assert "Aucun fichier de points" in result.output
