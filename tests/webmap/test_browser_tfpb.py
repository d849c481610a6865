"""The TFPB page in a real browser (Debian chromium, headless, no network).

A lecteur logs in, opens « TFPB » from the header, picks the bailleur and the year, and
sees the share figure, the map (actions, their 100 m zones and the constats drawn by
Leaflet) and the programme; at 390 × 844 the page never scrolls sideways. Screenshots at
desktop and phone sizes land in ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from layers.store import open_store
from tests.layers._tfpb_data import BAILLEUR, YEAR, build_tfpb_store
from tests.webmap._browser import chrome, log_in, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import LOGINS, PASSWORD, build_app

pytestmark = [pytest.mark.browser, requires_chromium]

SIZES = {"bureau": (1280, 900), "telephone": (390, 844)}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("tfpb-navigateur")
    store = open_store(folder / "tfpb.gpkg")
    try:
        build_tfpb_store(store, folder)
    finally:
        store.close()
    app: Flask = build_app(folder / "tfpb.gpkg", folder / "instance")
    with serve_in_thread(app) as base:
        yield base


def _no_horizontal_scroll(drv: Any) -> bool:
    return bool(drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


@pytest.mark.parametrize("size", list(SIZES))
def test_tfpb_page_in_browser(base_url: str, size: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    width, height = SIZES[size]
    drv = chrome(window=f"{max(width, 500)},{height}")
    try:
        drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
        log_in(drv, base_url, LOGINS["lecteur"], PASSWORD)
        link = drv.find_element(By.CSS_SELECTOR, "#entete-nav a[href='/tfpb']")
        drv.execute_script("arguments[0].click();", link)
        wait_for(lambda: drv.find_elements(By.ID, "tfpb-choix"), "page TFPB ouverte")
        Select(drv.find_element(By.ID, "tfpb-bailleur")).select_by_visible_text(BAILLEUR)
        Select(drv.find_element(By.ID, "tfpb-annee")).select_by_visible_text(str(YEAR))
        drv.execute_script("document.getElementById('tfpb-choix').submit();")
        wait_for(lambda: BAILLEUR in text_of(drv.find_element(By.TAG_NAME, "h1")), "programme du bailleur")
        wait_for(lambda: drv.execute_script("return document.body.dataset.carte === 'prete'"),
                 "carte dessinée")
        state = drv.execute_script("return window.qpvTfpb && {a: window.qpvTfpb.actions, "
                                   "c: window.qpvTfpb.constats, z: window.qpvTfpb.zones}")
        assert state["a"] == 7 and state["z"] == 7 and state["c"] > 20
        drawn = drv.execute_script("return document.querySelectorAll('#tfpb-carte path.tf-constat').length")
        assert drawn == state["c"]
        figure = drv.find_element(By.ID, "tfpb-part")
        assert figure.is_displayed()
        text = text_of(figure)
        assert "% des constats des quartiers" in text and "à moins de 100 m" in text and "simulé" in text
        assert figure.get_attribute("data-proches") and int(figure.get_attribute("data-n")) == state["c"]
        assert _no_horizontal_scroll(drv)
        shot(drv, f"tfpb-haut-{size}")
        for anchor in ("tfpb-carte", "tfpb-programme", "tfpb-sans-action"):
            drv.execute_script("document.getElementById(arguments[0]).scrollIntoView();", anchor)
            assert _no_horizontal_scroll(drv), anchor
            shot(drv, f"tfpb-{anchor}-{size}")
        errors = [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        drv.quit()
