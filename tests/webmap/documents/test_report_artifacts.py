"""The demo's reports as a comité de pilotage sees them: every page of QP075019 (Paris), QP034005
(Mosson) and the territory rendered to PNG in ``tests/artifacts/rapports/`` (fixture
``demo_reports``, conftest), their text, their confidentiality marks and their tables.

What depends on the maps' legends (issue 16 part A) and on the honest indicators (part C) is
checked in ``test_report_artifacts_issue16.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from geo.stats.report import RESTRICTED_MARK, restricted_layers
from tests.webmap.documents.conftest import RenderedReport
from tests.webmap.documents.test_report_tables import _same
from webmap.documents.report_tables import CSV_OPTIONS, report_tables, sheet_names

pytestmark = pytest.mark.slow


def _ink(png: Path) -> float:
    """Share of the page's pixels that are not white."""
    with Image.open(png) as img:
        gray = img.convert("L")
        histogram = gray.histogram()
    return 1 - sum(histogram[240:]) / sum(histogram)


def test_every_page_is_rendered_to_png(demo_reports: dict[str, RenderedReport]) -> None:
    for name, rendered in demo_reports.items():
        assert len(rendered.pngs) == len(rendered.pages) >= 2, name
        inks = [_ink(png) for png in rendered.pngs]
        assert all(ink > 0.005 for ink in inks), (name, inks)  # no blank page
        assert rendered.report.title in rendered.pages[0], name


def test_figures_and_tables_are_in_the_pdf(demo_reports: dict[str, RenderedReport]) -> None:
    for name, rendered in demo_reports.items():
        for figure in rendered.report.figures:
            assert figure.title in rendered.flat, (name, figure.title)
        for caption in report_tables(rendered.report):
            assert caption.split(" — ")[-1] in rendered.flat, (name, caption)


def test_confidential_sections_are_marked_on_every_page(demo_reports: dict[str, RenderedReport]) -> None:
    paris = demo_reports["QP075019"]
    assert restricted_layers(paris.report) == ("videoprotection",)  # the Paris cameras of the demo
    for name, rendered in demo_reports.items():
        if restricted_layers(rendered.report):
            assert all(page.count(RESTRICTED_MARK) >= 2 for page in rendered.pages), name
            assert "Diffusion restreinte : réservée aux rôles technicien et administrateur" in rendered.flat
        else:
            assert RESTRICTED_MARK not in rendered.flat, name


def test_tables_next_to_the_pdf_read_back_equal(demo_reports: dict[str, RenderedReport]) -> None:
    for name, rendered in demo_reports.items():
        tables = report_tables(rendered.report)
        csvs, workbook = rendered.paths[2:-1], rendered.paths[-1]
        assert len(csvs) == len(tables) and workbook.suffix == ".xlsx", name
        for (df, _), path in zip(tables.values(), csvs, strict=True):
            _same(df, pd.read_csv(path, **CSV_OPTIONS), f"{name}: {path.name}")
        sheets = pd.read_excel(workbook, sheet_name=None)
        assert list(sheets) == sheet_names(list(tables)), name
        for (caption, (df, _)), sheet in zip(tables.items(), sheets.values(), strict=True):
            _same(df, sheet, f"{name}: {caption} (XLSX)")
