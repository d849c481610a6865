"""The report artifacts of the demo: QP075019 (Paris), QP034005 (Mosson) and the territory.

Built once per session from a copy of the demo store (:func:`tests.walkdemo.demo_store_copy`),
each rendered to PDF with its tables next to it, every page converted to PNG with pdftoppm into
``tests/artifacts/rapports/`` (git-ignored) for a person to look at, and its text read with
pdftotext page by page.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from geo.stats.report import Report, for_reader
from layers.analyses import quartier_report_from_store, territory_report_from_store
from layers.dashboard import default_period
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from tests.webmap._browser import ARTIFACTS
from webmap._report_readers import restricted_readers
from webmap.documents import write_report

#: The reports of the demo rendered as artifacts: name → quartier code (None: the territory).
DEMO_REPORTS = {"QP075019": "QP075019", "QP034005": "QP034005", "territoire": None}
#: Resolution of the PNG pages (dpi): enough to read them.
PNG_DPI = 60


@dataclass(frozen=True)
class RenderedReport:
    """A demo report, its files and the text of each PDF page."""

    name: str
    report: Report
    paths: list[Path]
    pages: list[str]
    pngs: list[Path]

    @property
    def pdf(self) -> Path:
        return self.paths[1]

    @property
    def flat(self) -> str:
        return " ".join(self.pages)


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    pages = text.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    return [" ".join(page.split()) for page in pages]


def _render(name: str, report: Report, folder: Path) -> RenderedReport:
    target = ARTIFACTS / "rapports"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob(f"rapport-{name}-page-*.png"):
        old.unlink()
    paths = write_report(report, folder, f"rapport-{name}")
    prefix = target / f"rapport-{name}-page"
    subprocess.run(["pdftoppm", "-r", str(PNG_DPI), "-png", str(paths[1]), str(prefix)], check=True,
                   capture_output=True)
    shutil.copyfile(paths[1], target / paths[1].name)
    return RenderedReport(name, report, paths, _pages(paths[1]),
                          sorted(target.glob(f"rapport-{name}-page-*.png")))


@pytest.fixture(scope="session")
def demo_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RenderedReport]:
    """The full versions (every layer read, confidential sections marked) of the demo reports."""
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed")
    path = demo_store_copy(tmp_path_factory, "rapports-demo")
    folder = tmp_path_factory.mktemp("rapports-demo-pdf")
    readers = restricted_readers()
    store = open_store(path, create=False)
    try:
        built: dict[str, Report] = {}
        periods = []
        for name, code in DEMO_REPORTS.items():
            if code is None:
                continue
            start, end = default_period(store, code)
            periods.append((start, end))
            built[name] = for_reader(quartier_report_from_store(store, code, start=start, end=end), None,
                                     readers=readers)
        start, end = min(p[0] for p in periods), max(p[1] for p in periods)
        built["territoire"] = territory_report_from_store(store, start=start, end=end)
    finally:
        store.close()
    return {name: _render(name, report, folder) for name, report in built.items()}
