"""Report maps fit to print: legend, scale bar, north arrow, context, captions, small multiples.

The legend and the scale bar are checked as data (what the builders return and what
Matplotlib drew), on constructed events; the demo store's reports (real Paris Dans Ma Rue
with the BAN addresses, simulated Montpellier events with the city's streets) are written
to PDF, their text searched for every map's legend and their pages rendered to PNG
artifacts (``tests/artifacts/rapport-*.png``).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from datetime import date
from pathlib import Path

import geopandas as gpd
import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.stats.emerging import EmergingHotspots
from geo.stats.hotspots import GridOptions, hotspots
from geo.stats.report import EmergingMap, HotspotMap, MapLayers, QuartierPanels
from layers.analyses import quartier_report_from_store, territory_report_from_store
from layers.settings import REPO_ROOT
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from webmap.documents import write_report
from webmap.documents._map_furniture import GI_CLASSES, add_scale_bar, frame_map
from webmap.documents._report_maps import DPI, PAGE_WIDTH_IN, draw_figure, to_png

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
#: the A4 printable width of the report (15 mm margins), inches
A4_PRINTABLE_IN = (210 - 30) / 25.4
GI_LABELS = ["Point chaud 99 %", "Point chaud 95 %", "Point chaud 90 %", "Non significatif",
             "Point froid 90 %", "Point froid 95 %", "Point froid 99 %"]


@pytest.fixture(scope="module")
def clustered() -> tuple[gpd.GeoDataFrame, shapely.Polygon]:
    """A 1.2 km square quartier near Montpellier with a dense cluster and sparse events around."""
    rng = np.random.default_rng(16)
    x0, y0 = 766_000.0, 6_280_000.0
    quartier = shapely.box(x0, y0, x0 + 1200, y0 + 1200)
    cluster = rng.normal((x0 + 300, y0 + 900), 40, size=(150, 2))
    spread = rng.uniform((x0 - 150, y0 - 150), (x0 + 1350, y0 + 1350), size=(120, 2))
    xy = np.vstack([cluster, spread])
    events = gpd.GeoDataFrame({"observed_at": [pd.Timestamp("2024-03-01")] * len(xy)},
                              geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=2154)
    return events, quartier


def _hex(colour: object) -> str:
    return str(mcolors.to_hex(colour)).lower()  # type: ignore[arg-type]


def test_gi_map_has_a_legend_naming_every_class_with_the_colours_drawn(
    clustered: tuple[gpd.GeoDataFrame, shapely.Polygon],
) -> None:
    events, quartier = clustered
    bins = hotspots(events, area=quartier, grid=GridOptions(size=150, margin=200))
    assert (bins["gi_bin"] > 0).any()  # the cluster is a hot spot: a class to colour
    per = gpd.GeoDataFrame({"code": ["QPTEST"], "name": ["Quartier construit"]}, geometry=[quartier],
                           crs=2154)
    layers = MapLayers(window=quartier.buffer(200), perimeters=per)
    xy = shapely.get_coordinates(events.geometry.to_numpy())
    drawn = draw_figure(HotspotMap("hotspots", "Points chauds", bins=bins, points=xy, layers=layers))
    entries = drawn.legend.entries  # type: ignore[union-attr]
    assert [e.label for e in entries[:7]] == GI_LABELS
    assert [e.colour for e in entries[:7]] == [colour for _, _, colour in GI_CLASSES]
    assert {"Événements", "Contour du quartier"} <= {e.label for e in entries}
    legend = drawn.legend.artist  # type: ignore[union-attr]
    assert [t.get_text() for t in legend.get_texts()] == [e.label for e in entries]
    handles = legend.legend_handles
    for entry, handle in zip(entries[:7], handles[:7], strict=True):
        assert _hex(handle.get_facecolor()) == entry.colour
    # every class present in the data is drawn in the legend's colour
    ax = drawn.figure.axes[0]
    filled = {_hex(c.get_facecolor()[0]) for c in ax.collections if len(c.get_facecolor())}
    for level in set(bins["gi_bin"]):
        colour = dict((lv, col) for lv, _, col in GI_CLASSES)[level]
        assert colour in filled, f"classe {level} non dessinée en {colour}"
    assert any(t.get_text() == "N" for t in ax.texts)  # north arrow
    assert drawn.context == "aucun" and "Fond vide" in drawn.caption  # nothing to situate: said so
    assert drawn.caption.startswith("Comment lire cette carte : chaque hexagone de 150 m")
    assert "Points chauds" not in drawn.caption
    png = to_png(drawn)
    width_px = int.from_bytes(png[16:20], "big")
    assert width_px <= A4_PRINTABLE_IN * DPI


@pytest.mark.parametrize("extent", [730.0, 2600.0, 12_000.0, 480_000.0])
def test_scale_bar_is_right_within_five_percent(extent: float) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    bounds = (700_000.0, 6_600_000.0, 700_000.0 + extent, 6_600_000.0 + extent * 0.8)
    frame_map(ax, bounds)
    bar = add_scale_bar(ax, bounds)
    fig.canvas.draw()
    first, second, text = bar.artists
    bar_px = second.get_window_extent().x1 - first.get_window_extent().x0
    x_min, x_max = ax.get_xlim()
    metres_per_px = (x_max - x_min) / ax.get_window_extent().width
    measured = bar_px * metres_per_px
    assert abs(measured - bar.length_m) / bar.length_m < 0.05
    expected = f"{bar.length_m:.0f} m" if bar.length_m < 1000 else f"{bar.length_m / 1000:.0f} km"
    assert text.get_text() == bar.label == expected
    assert extent * 0.1 <= bar.length_m <= extent * 0.3  # readable, and inside the map
    plt.close(fig)


def test_emerging_legend_reads_its_categories_from_the_data() -> None:
    cells = [shapely.box(760_000 + 200 * i, 6_280_000, 760_200 + 200 * i, 6_280_200) for i in range(5)]
    patterns = ["new hot spot", "persistent cold spot", "no pattern", "formerly cold hot spot",
                "new hot spot"]
    labels = ["nouveau point chaud", "point froid persistant", "aucune tendance",
              "ancien point froid devenu chaud", "nouveau point chaud"]
    bins = gpd.GeoDataFrame({"pattern": patterns, "pattern_fr": labels, "total": [3, 0, 1, 4, 2]},
                            geometry=cells, crs=2154)
    bins.attrs["bin_size"] = 200.0
    ehsa = EmergingHotspots(bins=bins, z=np.zeros((5, 6)), q=np.ones((5, 6)),
                            periods=pd.period_range("2024-01", periods=6, freq="M"))
    layers = MapLayers(window=shapely.box(759_800, 6_279_800, 761_200, 6_280_400))
    drawn = draw_figure(EmergingMap("emergents", "Points chauds émergents", emerging=ehsa, layers=layers))
    shown = [e.label for e in drawn.legend.entries]  # type: ignore[union-attr]
    assert shown[:3] == ["ancien point froid devenu chaud", "nouveau point chaud", "point froid persistant"]
    assert shown[3] == "Aucune tendance" and "sur 6 mois" in drawn.caption
    to_png(drawn)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_store_copy(tmp_path_factory, "cartes-demo")


def _pages(pdf: Path, name: str) -> list[Path]:
    """Render the PDF pages at 60 dpi as test artifacts."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm absent (poppler-utils)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(ARTIFACTS / name)], check=True)
    return sorted(ARTIFACTS.glob(f"{name}-*.png"))


def _pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext absent (poppler-utils)")
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


# Mosson's points noirs events sit on 8 sites: too few places for Gi* (the report says so);
# its dumping constats are spread enough for the hot spot map
@pytest.mark.parametrize(("code", "context", "layer"),
                         [("QP075019", "voies", "auto"), ("QP034005", "voies", "observations")])
def test_demo_quartier_report_maps(demo: Path, tmp_path: Path, code: str, context: str, layer: str) -> None:
    store = open_store(demo, create=False)
    try:
        report = quartier_report_from_store(store, code, start=date(2023, 9, 1), end=date(2024, 8, 31),
                                            layer=layer)
    finally:
        store.close()
    maps = [f for f in report.figures if hasattr(f, "layers")]
    assert {f.name for f in maps} >= {"hotspots", "densite"}
    drawn = [draw_figure(f) for f in maps]
    # both have streets in the demo store (Paris: the 2014 Paris street graph, issue 17)
    assert {d.context for d in drawn} == {context}
    for d in drawn:
        d.figure.savefig(tmp_path / "check.png", dpi=DPI)
        assert d.figure.get_size_inches()[0] <= A4_PRINTABLE_IN
    html, pdf = write_report(report, tmp_path, code)[:2]
    text = _pdf_text(pdf)
    for words in ("Classes Gi* (confiance)", *GI_LABELS, "Contour du quartier", "événements par km²"):
        assert words in text, words
    if any(f.name == "emergents" for f in report.figures):
        assert "Tendance des mailles" in text
    assert text.count("Comment lire ce") == len(report.figures)
    assert ("Adresses (BAN)" in text) == (context == "adresses")
    page = html.read_text(encoding="utf-8")
    assert page.count("class='carte-interactive'") == sum(f.name in ("hotspots", "emergents") for f in maps)
    assert (tmp_path / "rapport-cartes" / "leaflet" / "leaflet.js").is_file()
    assert "https://" not in page.split("<body>")[0]  # no CDN: the assets are next to the page
    assert len(_pages(pdf, f"rapport-{code}")) >= 3


def test_demo_territory_report_one_panel_per_quartier(demo: Path, tmp_path: Path) -> None:
    store = open_store(demo, create=False)
    try:
        report = territory_report_from_store(store, start=date(2023, 9, 1), end=date(2024, 8, 31))
        paris = quartier_report_from_store(store, "QP075019", start=date(2023, 9, 1), end=date(2024, 8, 31),
                                           layer="observations")
        per = store.read("perimetres").to_crs(2154)
        events = store.read("observations", start="2023-09-01", end="2024-09-01").to_crs(2154)
    finally:
        store.close()
    events = events[events["theme"] == "dépôts sauvages"]
    panels = next(f for f in report.figures if isinstance(f, QuartierPanels))
    # independent count: the quartiers with an event within their 200 m margin
    zones = gpd.GeoDataFrame({"code": per["code"]}, geometry=per.buffer(200.0), crs=2154)
    hit = gpd.sjoin(events[["geometry"]], zones, predicate="within")["code"].value_counts()
    expected = {str(c) for c, n in hit.items() if n > 0} - set(panels.omitted)
    assert {p.code for p in panels.panels} == expected
    assert {"QP075019", "QP034005"} <= expected  # Paris and Montpellier side by side, each at its scale
    for p in panels.panels:
        assert len(p.points) == int(hit.get(p.code, 0))
        if p.bins is not None:  # each quartier's own grid: no cell far from it
            assert p.bins.intersects(p.outline.buffer(200.0 + 1.0)).all()
            reach = 200.0 + 2 * p.bins.attrs["bin_size"]
            frame = shapely.box(*p.outline.bounds).buffer(reach, join_style="mitre")
            assert shapely.box(*p.bins.total_bounds).within(frame)
    # a quartier's panel is its quartier report's Gi*: same cells, counts and z
    mine = next(p for p in panels.panels if p.code == "QP075019").bins
    theirs = paris.results["hotspots"]
    assert mine is not None and len(mine) == len(theirs)
    np.testing.assert_array_equal(mine["count"].to_numpy(), theirs["count"].to_numpy())
    np.testing.assert_allclose(mine["gi_z"].to_numpy(), theirs["gi_z"].to_numpy(), atol=1e-12)
    drawn = draw_figure(panels)
    assert len(drawn.scales) == len(panels.panels)
    assert [e.label for e in drawn.legend.entries[:7]] == GI_LABELS  # type: ignore[union-attr]
    assert drawn.figure.get_size_inches()[0] == PAGE_WIDTH_IN <= A4_PRINTABLE_IN
    to_png(drawn)
    bars = draw_figure(next(f for f in report.figures if f.name == "comparaison"))
    ax = bars.figure.axes[0]
    bars.figure.canvas.draw()
    ticks = [t for t in ax.get_yticklabels() if t.get_text()]
    assert any(t.get_text() == "Mosson (QP034005) — simulées" for t in ticks)  # each bar flags its data
    assert any(t.get_text() == "Les Portes Du Vingtième (QP075019) — échantillon" for t in ticks)
    boxes = sorted((t.get_window_extent() for t in ticks), key=lambda b: b.y0)
    assert all(a.y1 <= b.y0 + 0.5 for a, b in itertools.pairwise(boxes))  # no overlap
    to_png(bars)
    _, pdf = write_report(report, tmp_path, "territoire")[:2]
    text = _pdf_text(pdf)
    assert "Point chaud 99 %" in text and "Point froid 99 %" in text and "Mosson (QP034005)" in text
    _pages(pdf, "rapport-territoire")
