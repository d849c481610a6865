"""Walk sheet and compte-rendu on a real Mosson walk: HTML content, map, PDF rendered to PNG."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from shapely.geometry import Point

from geo.crs import to_territory_crs
from geo.errors import MissingDependencyError
from geo.walks.model import WalkOptions, WalkRecord, WalkSheet
from geo.walks.routing import WalkRoute, walk_route
from webmap.documents import (
    ACTION_PLAN_COLUMNS,
    html_to_pdf,
    render_walk_map,
    render_walk_report_html,
    render_walk_report_pdf,
    render_walk_sheet_html,
    render_walk_sheet_pdf,
)
from webmap.errors import DocumentError


@pytest.fixture(scope="module")
def graph(mosson_graph: nx.MultiGraph) -> nx.MultiGraph:
    return mosson_graph


@pytest.fixture(scope="module")
def route(shared_data: Path, mosson: gpd.GeoDataFrame, graph: nx.MultiGraph) -> WalkRoute:
    """90-minute loop over 40 real Mosson addresses with SIMULATED priorities."""
    zone = mosson.geometry.iloc[0]
    pts = to_territory_crs(gpd.read_file(shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip",
                                         bbox=tuple(zone.bounds)))
    pts = pts[pts.within(zone)]
    rng = np.random.default_rng(5)
    sample = pts.iloc[np.sort(rng.choice(len(pts), 40, replace=False))]
    stops = gpd.GeoDataFrame({
        "address": sample["ADR"].to_numpy(),
        "reason": "Propreté des abords et état du mobilier (priorité simulée)",
        "priority": rng.integers(1, 11, 40).astype(float),
        "simulated": True,
    }, geometry=sample.geometry.to_numpy(), crs="EPSG:2154")
    return walk_route(graph, stops, start=zone.representative_point(),
                      options=WalkOptions(budget_min=90, time_limit_s=1.0))


@pytest.fixture(scope="module")
def observations(route: WalkRoute) -> gpd.GeoDataFrame:
    """Constats of a (simulated) walk placed near the first stops."""
    first, second = route.stops.geometry.iloc[0], route.stops.geometry.iloc[1]
    return gpd.GeoDataFrame({
        "theme": ["dépôts sauvages", "éclairage", "propreté", "voirie"],
        "description": ["Sacs au pied du bâtiment B", "Lampadaire éteint", "Tags sur le muret",
                        "Nid-de-poule"],
        "status": ["nouveau", "clos non traité", "en cours", "transmis"],
        "observed_at": ["2026-03-02", "2026-03-02", "2026-01-15", "2026-03-02"],
        "pilote": ["Ville", "Métropole", "ACM Habitat", None],
        "partenaires": ["ACM Habitat, Métropole", "", "Ville", "Métropole"],
        "domanialite": ["bailleur", "publique", "bailleur", None],
        "deadline": ["2026-04-01", "2026-06-30", "2026-02-01", None],
        "address": ["1 rue A", "2 rue B", "3 rue C", "4 rue D"],
    }, geometry=[Point(first.x + 5, first.y), Point(first.x, first.y + 8), Point(second.x, second.y - 10),
                 Point(second.x + 3000, second.y)], crs="EPSG:2154")


def _png_ink(pdf: bytes, tmp_path: Path) -> float:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    src = tmp_path / "doc.pdf"
    src.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(src), str(tmp_path / "page")],
                   check=True, capture_output=True)
    png = next(tmp_path.glob("page*.png"))
    with Image.open(png) as img:
        pixels = np.asarray(img.convert("L"), dtype=float)
    return float((pixels < 200).mean())


def test_walk_sheet_html_content(route: WalkRoute, graph: nx.MultiGraph, observations: gpd.GeoDataFrame,
                                 mosson: gpd.GeoDataFrame) -> None:
    html = render_walk_sheet_html(WalkSheet(route, graph, quartier="Mosson (QP034005)", start_time="14:00",
                                            walk_date=date(2026, 4, 9), open_observations=observations,
                                            area=mosson))
    assert '<html lang="fr">' in html and "Mosson (QP034005)" in html and "09/04/2026" in html
    assert html.count('src="data:image/png;base64,') == 1
    for col in ACTION_PLAN_COLUMNS:
        assert html.count(f"<th>{col}</th>") == len(route.stops)
    addresses = [str(escape(a)) for a in route.stops["address"]]  # « Rue d'Uppsala » is escaped
    positions = [html.index(f"Arrêt {i} — {addr}") for i, addr in enumerate(addresses, start=1)]
    assert positions == sorted(positions)
    assert "14h" in html and "simulées" in html
    # the open constats near stops 1 and 2 are listed, the closed one and the far one are not
    assert "Sacs au pied du bâtiment B" in html and "Tags sur le muret" in html
    assert "Lampadaire éteint" not in html and "Nid-de-poule" not in html
    assert html.index("Sacs au pied") < html.index("Arrêt 2 —") < html.index("Tags sur le muret")
    with pytest.raises(DocumentError, match="HH:MM"):
        render_walk_sheet_html(WalkSheet(route, graph, quartier="Mosson", start_time="25h"))


def test_walk_map_formats(route: WalkRoute, graph: nx.MultiGraph) -> None:
    png = render_walk_map(route, graph, fmt="png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = render_walk_map(route, graph, fmt="svg")
    assert b"<svg" in svg[:600]
    with pytest.raises(DocumentError, match="Format"):
        render_walk_map(route, graph, fmt="gif")


def test_walk_sheet_pdf_renders_non_blank(route: WalkRoute, graph: nx.MultiGraph, tmp_path: Path,
                                          mosson: gpd.GeoDataFrame) -> None:
    pdf = render_walk_sheet_pdf(WalkSheet(route, graph, quartier="Mosson", area=mosson))
    assert pdf[:5] == b"%PDF-"
    ink = _png_ink(pdf, tmp_path)
    assert 0.01 < ink < 0.6  # map, streets, table: neither blank nor black


def test_compte_rendu_groups_and_deadlines(route: WalkRoute, graph: nx.MultiGraph,
                                           observations: gpd.GeoDataFrame, tmp_path: Path) -> None:
    record = WalkRecord(walk_date=date(2026, 3, 2), quartier="Mosson", habitants=9,
                        organisations=("Ville de Montpellier", "ACM Habitat", "Régie de quartier"),
                        route=route)
    html = render_walk_report_html(record, observations, today=date(2026, 5, 1))
    assert "9 habitant(s)" in html and "Régie de quartier" in html and "02/03/2026" in html
    for section in ("Par pilote", "Par partenaire", "Par domanialité"):
        assert section in html
    partenaires = html[html.index("Par partenaire"):html.index("Par domanialité")]
    assert "<h3>ACM Habitat (1)</h3>" in partenaires and "<h3>Métropole (2)</h3>" in partenaires
    pilotes = html[html.index("Par pilote"):html.index("Par partenaire")]
    assert "<h3>non renseigné (1)</h3>" in pilotes
    # 2 open constats past their deadline on 1 May 2026: 01/04 and 01/02
    assert "2 en retard" in html
    domanialite = html[html.index("Par domanialité"):]
    assert domanialite.index("01/02/2026") < domanialite.index("01/04/2026")  # sorted by deadline
    pdf = render_walk_report_pdf(record, observations, G=graph, today=date(2026, 5, 1))
    assert _png_ink(pdf, tmp_path) > 0.01
    with pytest.raises(DocumentError, match="tableau"):
        render_walk_report_html(record, [1, 2])


def test_missing_weasyprint_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(MissingDependencyError, match=r"qpv-observatoire\[reports\]"):
        html_to_pdf("<html><body>x</body></html>")


def test_report_accepts_plain_dataframe() -> None:
    obs = pd.DataFrame({"theme": ["propreté"], "pilote": ["Ville"], "deadline": [pd.NaT],
                        "status": ["nouveau"]})
    html = render_walk_report_html(WalkRecord(walk_date=date(2026, 1, 5), quartier="Q"), obs)
    assert "à fixer" in html and "<h3>Ville (1)</h3>" in html


def test_css_is_not_escaped(route: WalkRoute, graph: nx.MultiGraph) -> None:
    """WeasyPrint needs the quotes of the page-number and font rules as they are."""
    html = render_walk_sheet_html(WalkSheet(route, graph, quartier="Mosson (QP034005)"))
    css = html[html.index("<style>"):html.index("</style>")]
    assert "&#34;" not in css and "&quot;" not in css
    assert '"' in css or "'" in css
