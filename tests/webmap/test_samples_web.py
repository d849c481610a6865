"""Samples on the web: the dashboard labels each figure, the list summary warns, Montpellier does not.

The demo store declares its Dans Ma Rue file a sample (``data/demo/manifest.yaml``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.walkdemo import demo_store_copy
from tests.webmap.security._fixtures import build_app, client_as


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store_copy(tmp_path_factory, "samples-web")


def test_dashboard_page_labels_each_figure_on_the_sample(demo: Path) -> None:
    app = build_app(demo, demo.parent / "instance-echantillon")
    reader = client_as(app, "lecteur")
    html = reader.get("/quartiers/QP075019?debut=2023-10&fin=2024-09").get_data(as_text=True)
    assert html.count("échantillon : comptes partiels") >= 2  # figure by figure
    assert "Mosson" not in html
    mosson = reader.get("/quartiers/QP034005?debut=2023-10&fin=2024-09").get_data(as_text=True)
    assert "échantillon" not in mosson
    table = reader.get("/quartiers/QP075019/indicateurs.csv?debut=2023-10&fin=2024-09")
    assert table.status_code == 200 and "réelle, échantillon" in table.get_data(as_text=True)


def test_list_summary_of_a_sample_says_its_counts_are_partial(demo: Path) -> None:
    app = build_app(demo, demo.parent / "instance-echantillon-api")
    anon = client_as(app, "anonyme")
    paris = anon.get("/api/layers/observations/stats?bbox=2.39,48.85,2.42,48.88").json
    assert paris["total"] > 0 and paris["echantillon"].startswith("Échantillon : 10 000 signalements")
    montpellier = anon.get("/api/layers/observations/stats?bbox=3.80,43.58,3.85,43.63").json
    assert montpellier["total"] > 0 and "echantillon" not in montpellier
