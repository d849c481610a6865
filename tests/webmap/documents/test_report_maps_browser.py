"""The written HTML report in a real browser (Debian chromium, headless, no network).

Opened from its folder (``file://``), the page loads Leaflet from the ``rapport-cartes``
folder written next to it, replaces the static Gi* map by an interactive one with one
shape per cell, and a click on a cell opens a popup whose count, z-score and class are
those of one of the report's cells.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.stats.report import ReportOptions, build_quartier_report
from tests.webmap._browser import chrome, requires_chromium, shot, text_of, wait_for
from webmap.documents import write_report
from webmap.documents._map_furniture import GI_LABELS

pytestmark = [pytest.mark.browser, requires_chromium]


def _report_folder(tmp_path: Path) -> tuple[Path, gpd.GeoDataFrame]:
    """A quartier report of clustered constructed events near Montpellier, written to ``tmp_path``."""
    rng = np.random.default_rng(7)
    x0, y0 = 766_000.0, 6_280_000.0
    quartier = shapely.box(x0, y0, x0 + 1000, y0 + 1000)
    xy = np.vstack([rng.normal((x0 + 250, y0 + 750), 35, size=(120, 2)),
                    rng.uniform((x0 - 150, y0 - 150), (x0 + 1150, y0 + 1150), size=(100, 2))])
    days = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, len(xy)), unit="D")
    events = gpd.GeoDataFrame({"observed_at": days}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
                              crs=2154)
    per = gpd.GeoDataFrame({"code": ["QPTEST"], "name": ["Quartier construit"]}, geometry=[quartier],
                           crs=2154)
    options = ReportOptions(bin_size=150.0, cleaned_field=None, volume_field=None)
    report = build_quartier_report(events, per, code="QPTEST", options=options)
    write_report(report, tmp_path, "rapport", pdf=False)
    return tmp_path / "rapport.html", report.results["hotspots"]


def _fr(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def test_html_report_map_is_interactive_offline(tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    page, bins = _report_folder(tmp_path)
    drv = chrome(window="1280,900")
    try:
        drv.get(page.as_uri())
        box = wait_for(lambda: drv.execute_script(
            "return document.querySelector('#carte-hotspots[data-pret]');"), "carte Gi* interactive prête")
        cells = drv.execute_script(
            "return arguments[0].querySelectorAll('path.leaflet-interactive').length;", box)
        assert cells == len(bins)
        assert drv.execute_script("return document.getElementById('statique-hotspots').classList"
                                  ".contains('remplacee');")
        legend = text_of(box.find_element("css selector", ".legende-carte"))
        assert all(label in legend for label in GI_LABELS.values())
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        shapes = box.find_elements("css selector", "path.leaflet-interactive")
        # the largest shape on screen is a cell (every cell is a hexagon of the same size): click its middle
        target = max(shapes, key=lambda s: s.size["width"] * s.size["height"])
        ActionChains(drv).move_to_element(target).click().perform()
        popup = wait_for(lambda: text_of(drv.find_element("css selector", ".leaflet-popup-content")),
                         "bulle de la maille")
        found = re.search(r"Événements : (\S+?) ?z de Gi\* : (\S+?) ?Classe Gi\* : (.+)$", popup)
        assert found, popup
        shown = (found.group(1), found.group(2), found.group(3))
        rows = {(_fr(n, 0), _fr(z, 2), GI_LABELS[int(b)])
                for n, z, b in zip(bins["count"], bins["gi_z"], bins["gi_bin"], strict=True)}
        assert shown in rows
        shot(drv, "rapport-carte-interactive")
        errors = [entry for entry in drv.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
    finally:
        drv.quit()
