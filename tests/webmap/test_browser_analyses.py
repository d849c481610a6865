"""The analyses layer on the map, in a real browser (Debian chromium, headless, no network).

A hot spot analysis is run on the real Dans Ma Rue reports of QP075019 (demo-like store
of the web tests); the layer is off by default, a person turns it on, sees the classes
in distinct colours with their legend, and reads a French popup without internal ids
or raw JSON. Screenshots at desktop and phone sizes land in ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from layers.analyses import HotspotRequest, store_hotspots
from layers.store import open_store
from tests.webmap._browser import chrome, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from webmap.analysis_style import GI_CLASSES, analysis_class, analysis_style
from webmap.app import create_app

pytestmark = [pytest.mark.browser, requires_chromium]

SIZES = {"bureau": (1400, 900), "telephone": (390, 844)}


@pytest.fixture(scope="module")
def analyses_app(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The real app on a copy of the demo-like store, after a 12-month hot spot analysis of QP075019."""
    folder = tmp_path_factory.mktemp("carte-analyses")
    path = folder / "analyses.gpkg"
    shutil.copy(store_path, path)
    store = open_store(path, create=False)
    try:
        # a fixed size: the automatic one (issue 16) finds no significant cell in this sample
        request = HotspotRequest(date(2023, 9, 1), date(2024, 8, 31), theme="dépôts sauvages",
                                 quartier="QP075019", bin_size=100.0)
        run = store_hotspots(store, request)
        assert run.n_hot > 0
        # a graduated analysis beside it: the counts of the same bins stored as a density run
        gi = store.read("analyses", where={"run_id": run.run_id, "analysis": "points chauds"})
        dens = gi.drop(columns=["created_at", "updated_at"], errors="ignore").copy()
        dens["uid"] = [f"densite-{i}" for i in range(len(dens))]
        dens["source_id"] = dens["uid"]
        dens["run_id"] = "densite-QP075019"
        dens["analysis"] = "densité"
        dens["category"] = None
        dens["z_score"] = None
        dens["p_value"] = None
        dens["params"] = '{"analyse": "densité"}'
        store.write("analyses", dens, actor="tests")
    finally:
        store.close()
    return create_app({"STORE": str(path), "instance_path": str(folder / "instance"),
                       "SECRET_KEY": "clef-analyses", "BASEMAP": "aucun"})


@pytest.fixture(scope="module")
def base_url(analyses_app: Flask) -> Iterator[str]:
    with serve_in_thread(analyses_app) as base:
        yield base


def _ready(drv: Any, since: int) -> None:
    wait_for(lambda: drv.execute_script(
        "const c = window.qpvCarte;"
        "return Boolean(c) && c.state.started && c.state.generation > arguments[0]"
        " && document.body.dataset.etat === 'pret';", since), "carte prête")


def _generation(drv: Any) -> int:
    return int(drv.execute_script("return window.qpvCarte ? window.qpvCarte.state.generation : -1"))


def _show_legend(drv: Any) -> None:
    """On a phone the legend waits in its drawer: open it (a person taps « Légende »)."""
    from selenium.webdriver.common.by import By

    if drv.execute_script("return window.qpvCarte.drawers.narrow()"):
        button = drv.find_element(By.CSS_SELECTOR, '[data-tiroir="tiroir-legende"]')
        if button.get_attribute("aria-expanded") != "true":
            button.click()
        wait_for(drv.find_element(By.ID, "tiroir-legende").is_displayed, "tiroir de la légende ouvert")


def _hide_drawers(drv: Any) -> None:
    """Close the open drawer (phone), as « Fermer » does, so that the map shows whole."""
    drv.execute_script("window.qpvCarte.drawers.close()")


def _fill_colors(drv: Any) -> list[str]:
    return list(drv.execute_script(
        "const h = window.qpvCarte.state.holders.analyses;"
        "return h.shapes.getLayers().map((l) => l.options.fillColor);"))


@pytest.mark.parametrize("size", list(SIZES))
def test_analyses_layer_colours_legend_and_french_popup(base_url: str, size: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    width, height = SIZES[size]
    # headless chromium keeps windows at least 500 px wide: the phone screen is emulated
    drv = chrome(window=f"{max(width, 500)},{height}")
    try:
        drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
        drv.get(base_url + "/")
        assert drv.execute_script("return window.innerWidth") == width
        _ready(drv, 0)
        # off by default: listed in the layer control, not drawn, no legend block
        box = drv.find_element(By.XPATH, "//div[contains(@class,'leaflet-control-layers-overlays')]"
                                         "//label[contains(., \"Résultats d'analyse\")]//input")
        assert not box.is_selected()
        assert not drv.execute_script(
            "return window.qpvCarte.map.hasLayer(window.qpvCarte.state.holders.analyses)")
        assert not drv.find_elements(By.ID, "legende-analyses")

        # the slider opens on the last 12 months of the events; these analyses cover 2023-2024:
        # the whole period is chosen first (as a person does in the filters)
        if not drv.execute_script("return document.getElementById('f-toute-periode').checked"):
            since = _generation(drv)
            drv.execute_script("document.getElementById('f-toute-periode').click()")
            _ready(drv, since)
        since = _generation(drv)
        drv.execute_script("arguments[0].scrollIntoView(); arguments[0].click();", box)
        _ready(drv, since)
        wait_for(lambda: _fill_colors(drv), "mailles des points chauds dessinées")
        colors = _fill_colors(drv)
        palette = {c.color: c.key for c in GI_CLASSES}
        assert set(colors) <= set(palette), set(colors) - set(palette)
        assert len(set(colors)) >= 2, colors  # hot spots and non-significant bins, distinct
        assert palette[max(set(colors), key=colors.count)] == "non-significatif"
        assert any(palette[c].startswith("chaud-") for c in colors)
        # the script classes each bin as webmap.analysis_style does
        drawn = drv.execute_script(
            "return window.qpvCarte.state.holders.analyses.shapes.getLayers().map((l) =>"
            " [l.feature.properties.category, l.feature.properties.p_value, l.options.fillColor]);")
        by_key = {c.key: c.color for c in GI_CLASSES}
        expected = [by_key[str(analysis_class("points chauds", cat, p))] for cat, p, _ in drawn]
        assert expected == [c for *_, c in drawn]

        since = _generation(drv)
        drv.execute_script("const q = window.qpvCarte;"
                           "q.map.fitBounds(q.state.holders.analyses.shapes.getBounds(), {animate: false});")
        _ready(drv, since)
        _show_legend(drv)
        shot(drv, f"carte-analyses-quartier-{size}")
        legend = drv.find_element(By.ID, "legende-analyses")
        assert legend.is_displayed()
        legend_text = text_of(legend)
        for c in GI_CLASSES:
            assert c.label in legend_text
        assert "Comment lire : Point chaud à 99 %" in legend_text
        assert "significativement plus forte que dans le reste du quartier" in legend_text
        # the 12-month period adds the emerging analysis: a choice, Gi* shown first
        choice = drv.find_element(By.ID, "analyse-choix")
        assert choice.get_attribute("value") == "points chauds"
        options = [o.get_attribute("value") for o in choice.find_elements(By.TAG_NAME, "option")]
        assert options == ["points chauds", "points chauds émergents", "densité"]
        # the density: a graduated ramp, then back to Gi*
        Select(choice).select_by_value("densité")
        ramp = analysis_style()["ramps"]["densité"]
        wait_for(lambda: set(_fill_colors(drv)) <= set(ramp), "mailles de densité dessinées")
        assert len(set(_fill_colors(drv))) >= 2
        assert "densité : valeur faible → forte" in text_of(drv.find_element(By.ID, "legende-analyses"))
        Select(drv.find_element(By.ID, "analyse-choix")).select_by_value("points chauds")
        wait_for(lambda: set(_fill_colors(drv)) == set(colors), "retour aux points chauds")

        # zoom on a hot bin and click it, as a person would
        _hide_drawers(drv)
        centre = drv.execute_script(
            "const h = window.qpvCarte.state.holders.analyses;"
            "const l = h.shapes.getLayers().find((x) => x.feature.properties.category === 'point chaud');"
            "const c = l.getBounds().getCenter(); window.qpvCarte.map.setView(c, 18, {animate: false});"
            "return [c.lat, c.lng];")
        _ready(drv, _generation(drv) - 1)
        # bring it to the lower right quarter, clear of the legend and of the layer control
        since = _generation(drv)
        drv.execute_script("const m = window.qpvCarte.map, s = m.getSize();"
                           "m.panBy([-s.x * 0.3, -s.y * 0.3], {animate: false});")
        _ready(drv, since)
        point = drv.execute_script(
            "const p = window.qpvCarte.map.latLngToContainerPoint(arguments[0]); return [p.x, p.y];", centre)
        mapel = drv.find_element(By.ID, "carte")
        shot(drv, f"carte-analyses-zoom-{size}")
        target = drv.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "const o = {bubbles: true, cancelable: true,"
            " clientX: r.left + arguments[1], clientY: r.top + arguments[2]};"
            "const t = document.elementFromPoint(o.clientX, o.clientY);"
            "['pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click'].forEach((k) =>"
            " t.dispatchEvent(new (k.startsWith('pointer') ? PointerEvent : MouseEvent)(k, o)));"
            "return t.className + ' ' + t.tagName;",
            mapel, point[0], point[1])
        popup = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, ".leaflet-popup .fiche-analyse"),
                         f"fiche du résultat ouverte (clic sur {target})")[0]
        # the popup ends up inside the map (Leaflet pans it into view), on a phone too
        wait_for(lambda: drv.execute_script(
            "const p = arguments[0].getBoundingClientRect(), m = arguments[1].getBoundingClientRect();"
            "return p.left >= m.left && p.right <= m.right && p.width > 0;", popup, mapel),
            "fiche entièrement dans la carte " + str(drv.execute_script(
                "const p = arguments[0].getBoundingClientRect(), m = arguments[1].getBoundingClientRect();"
                "const w = arguments[0].closest('.leaflet-popup').getBoundingClientRect();"
                "return [p.left, p.right, w.left, w.right, m.left, m.right];", popup, mapel)), timeout=10)
        text = text_of(popup)
        assert "Points chauds (Gi*)" in text
        assert "Quartier" in text and "(QP075019)" in text and "Les Portes Du Vingtième" in text, text
        assert "du 01/09/2023 au 31/08/2024" in text
        assert "Point chaud à 9" in text  # 99 or 95 %
        assert "signalement" in text and "Score z" in text and "p (corrigée FDR)" in text
        assert "données réelles" in text and "simulée" not in text  # real Paris reports
        assert "mailles hexagonales de" in text
        for internal in ("run_id", "{\"", "pc-", "Identifiant"):
            assert internal not in text, internal
        assert "significativement plus forte" in text
        # fits the screen: no horizontal scrolling of the page
        assert drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        wait_for(lambda: drv.execute_script(
            "return getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'"),
            "fiche affichée (fin du fondu)")
        shot(drv, f"carte-analyses-fiche-{size}")
        drv.execute_script("window.qpvCarte.map.closePopup()")
        _show_legend(drv)
        wait_for(lambda: not drv.find_elements(By.CSS_SELECTOR, ".leaflet-popup")
                 and drv.find_element(By.ID, "legende-analyses").is_displayed(), "légende de retour")
        shot(drv, f"carte-analyses-legende-{size}")
        errors = [e["message"] for e in drv.get_log("browser")
                  if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
        assert not errors, errors
    finally:
        drv.quit()
