"""Issue 16 « Done when », on the PDFs of the demo (fixture ``demo_reports``, conftest): a
legend for every map (part A: maps fit to print), « n.d. » where Dans Ma Rue has no resolution
and no « 0,0 % » of treated dysfunctions for Paris (part C: honest indicators).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from geo.stats.report import EmergingMap, HotspotMap, QuartierPanels
from tests.webmap.documents.conftest import RenderedReport
from webmap.documents._map_furniture import emerging_entries

pytestmark = pytest.mark.slow


def _page_of(rendered: RenderedReport, title: str) -> str:
    """Text of the page holding the figure titled ``title``, from its heading on (figure, legend)."""
    pages = [page for page in rendered.pages if title in page]
    assert pages, (rendered.name, title)
    return pages[0].split(title, 1)[1]


def test_every_map_has_its_legend_on_its_page(demo_reports: dict[str, RenderedReport]) -> None:
    # Gi* maps (quartier and territory panels): the classes; emerging maps: the legend title
    # and every trend present in the data (read from the bins, as the map draws them)
    missing = []
    for name, rendered in demo_reports.items():
        for figure in rendered.report.figures:
            if isinstance(figure, HotspotMap | QuartierPanels):
                words = ["point chaud", "non significatif"]
            elif isinstance(figure, EmergingMap):
                trends = [e.label.lower() for e in emerging_entries(figure.emerging.bins)]
                words = ["tendance des mailles", *(trends or ["aucune tendance"])]
            else:
                continue
            page = " ".join(_page_of(rendered, figure.title).lower().split())
            missing += [f"{name} « {figure.title} » : pas de « {w} »" for w in words
                        if " ".join(w.split()) not in page]
    assert not missing, missing


def _key_figure_value(pdf: Path, label: str) -> str:
    """Value printed under a key figure's label on page 1 (``pdftotext -layout`` keeps the boxes' columns)."""
    text = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    row = next(i for i, line in enumerate(text) if label in line)
    col = text[row].index(label)
    for line in text[row + 1:row + 4]:
        cell = line[col:col + 30].split("  ")[0].strip()
        if cell and not cell[0].isalpha():  # the value, below the label's last line
            return cell
        if cell.startswith("n.d."):
            return cell
    raise AssertionError(f"no value under « {label} »")


def test_paris_treatment_is_unknown_not_zero(demo_reports: dict[str, RenderedReport]) -> None:
    paris = demo_reports["QP075019"]
    # Dans Ma Rue carries no resolution: the treated share is n.d., never 0,0 %
    assert paris.report.key_figures["Part des dysfonctionnements traités"] is None
    assert _key_figure_value(paris.pdf, "Part des dysfonctionnements") == "n.d."
    zero = re.findall(r"trait\w*[^.]{0,120}?\b0,0\s?%", paris.flat)
    assert not zero, zero
