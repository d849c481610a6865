"""Source coverage of a data set: declared (Dans Ma Rue = Paris in the demo), or its events' extent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely

from geo.stats.report import HotspotSettings
from layers.analyses import quartier_report_from_store
from layers.errors import RecordError
from layers.source_coverage import declare_coverage, declared_coverage, source_coverage
from layers.store import open_store
from tests.walkdemo import demo_store_copy


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store_copy(tmp_path_factory, "coverage")


def test_demo_declares_dans_ma_rue_covers_paris(demo: Path) -> None:
    with open_store(demo, create=False) as store:
        paris = declared_coverage(store, "dansmarue-paris")
        per = store.read("perimetres")
        assert declared_coverage(store, "simulation-montpellier") is None
    assert paris is not None and 100e6 < paris.area < 112e6  # Paris: 105 km² with both woods
    qp = per.set_index("code").geometry
    assert paris.contains(qp["QP075019"].buffer(-1))
    assert not paris.intersects(qp["QP094025"])  # Champigny-sur-Marne
    assert not paris.intersects(per.loc[per["code"].str.startswith("QP034")].geometry.union_all())


def test_qp075019_report_grid_stops_at_the_paris_boundary(demo: Path) -> None:
    """Issue 16: the Gi* margin of QP075019 crossed the boundary into cells that cannot hold a report."""
    with open_store(demo, create=False) as store:
        paris = declared_coverage(store, "dansmarue-paris")
        report = quartier_report_from_store(store, "QP075019", start=date(2023, 8, 14), end=date(2024, 9, 12),
                                            layer="observations", theme=None)
    assert paris is not None
    hot = report.results["hotspots"]
    assert hot.attrs["masked_cells"] > 0
    inside = shapely.contains_xy(paris, hot["x"].to_numpy(), hot["y"].to_numpy())
    assert inside.all() or (hot.loc[~inside, "count"] > 0).all()
    assert "zone de couverture déclarée" in report.method["Zone d'étude des points chauds"]
    assert "30 mailles non vides" in report.method["Conditions de l'analyse Gi*"]
    assert "Benjamini–Hochberg" in report.method["Classes de confiance"]


def test_mosson_points_noirs_report_refuses_gi_and_says_why(demo: Path) -> None:
    with open_store(demo, create=False) as store:
        report = quartier_report_from_store(store, "QP034005", start=date(2023, 1, 1), end=date(2024, 12, 31))
    assert report.method["Couche analysée"] == "points_noirs"
    assert "hotspots" not in report.results
    assert report.key_figures["Mailles en point chaud (dans le quartier)"] is None
    note = next(n for n in report.notes if n.startswith("Points chauds (Gi*) non calculés"))
    assert "au moins 30 requises" in note and "lieux distincts" in note
    assert report.method["Points chauds"].startswith("non calculés : au moins 30 événements")
    assert any(f.name == "densite" for f in report.figures)
    # the fallback coverage of the simulated data set: its events' extent, said so
    assert "étendue de ses événements" in report.method["Zone d'étude des points chauds"]


def test_permutation_inference_and_local_moran_from_the_store(demo: Path) -> None:
    settings = HotspotSettings(margin=200.0, inference="permutations", permutations=199, local_moran=True)
    with open_store(demo, create=False) as store:
        report = quartier_report_from_store(store, "QP075019", start=date(2023, 8, 14), end=date(2024, 9, 12),
                                            layer="observations", theme=None, grid=settings)
    hot = report.results["hotspots"]
    assert {"gi_p", "gi_p_perm"} <= set(hot.columns)
    assert hot["gi_p_perm"].min() >= 2 / 200 - 1e-6  # esda keeps p_sim in float32
    assert "199 permutations" in report.method["Inférence Gi*"]
    assert "I de Moran local" in report.method
    table = report.tables["I de Moran local (mailles du quartier par classe)"]
    assert table["Mailles"].sum() == int(np.sum(shapely.contains_xy(
        store_geom(demo, "QP075019"), hot["x"].to_numpy(), hot["y"].to_numpy())))


def store_geom(path: Path, code: str) -> shapely.Geometry:
    with open_store(path, create=False) as store:
        per = store.read("perimetres")
    return per.loc[per["code"] == code].geometry.union_all()


def test_declare_coverage_checks_the_polygon(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.gpkg") as store:
        with pytest.raises(RecordError, match="couverture"):
            declare_coverage(store, "x", "POLYGON ((2.3 48.8, 2.4 48.8, 2.4 48.9, 2.3 48.8))")  # degrees
        with pytest.raises(RecordError, match="couverture"):
            declare_coverage(store, "x", "POINT (650000 6860000)")
        with pytest.raises(RecordError, match="couverture"):
            declare_coverage(store, "x", "pas du WKT")
        geom = declare_coverage(store, "x", "POLYGON ((650000 6860000, 651000 6860000, 651000 6861000, "
                                            "650000 6860000))")
        assert declared_coverage(store, "x") == geom


def test_no_dataset_no_mask(tmp_path: Path) -> None:
    import geopandas as gpd

    with open_store(tmp_path / "s.gpkg") as store:
        cov = source_coverage(store, "observations", gpd.GeoDataFrame(geometry=[], crs=2154),
                              shapely.box(0, 0, 1, 1))
    assert cov.geometry is None and "inconnu" in cov.note
