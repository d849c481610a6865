"""The analyst's journey in a real browser (Debian chromium, headless, no network).

A lecteur logs in, opens the dashboard of QP075019 (real Dans Ma Rue reports of the web
tests' store), changes the period, sees the charts change, starts a report, waits for the
job (its state, not a delay) and downloads the PDF, whose text names the quartier.
Screenshots at desktop (1280×900) and phone (390×844, emulated) sizes land in
``tests/artifacts/``; the page never scrolls horizontally.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from tests.webmap._browser import chrome, log_in, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.conftest import PASSWORD
from webmap import users
from webmap.app import create_app
from webmap.jobs.views import job_queue

pytestmark = [pytest.mark.browser, requires_chromium]

SIZES = {"bureau": (1280, 900), "telephone": (390, 844)}
LOGIN = "analyste"


@pytest.fixture(scope="module")
def dash_app(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The real app on a copy of the web tests' store, a lecteur account and one worker thread."""
    folder = tmp_path_factory.mktemp("quartiers-navigateur")
    path = folder / "territoire.gpkg"
    shutil.copy(store_path, path)
    app = create_app(
        {
            "STORE": str(path),
            "instance_path": str(folder / "instance"),
            "SECRET_KEY": "clef-quartiers",
            "BASEMAP": "aucun",
        }
    )
    users.add_user(app.config["USERS_DB"], LOGIN, PASSWORD, role="lecteur", organisation="ville")
    workers = job_queue(app).start_workers(1, poll=0.05)
    yield app
    workers.stop()


@pytest.fixture(scope="module")
def base_url(dash_app: Flask) -> Iterator[str]:
    with serve_in_thread(dash_app) as base:
        yield base


def _log_in(drv: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    log_in(drv, base, LOGIN, PASSWORD, then="/quartiers")
    wait_for(lambda: drv.find_elements(By.ID, "tableau-comparaison"), "comparaison des quartiers ouverte")


def _bars(drv: Any, key: str) -> list[str]:
    """Titles of the bars of indicator ``key`` (month, period and value of each)."""
    return list(
        drv.execute_script(
            "return Array.from(document.querySelectorAll('#indicateur-' + arguments[0] + ' rect title'))"
            ".map((t) => t.textContent);",
            key,
        )
    )


def _no_horizontal_scroll(drv: Any) -> bool:
    return bool(drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _pdf_text(data: bytes, folder: Path) -> str:
    pdf = folder / "rapport.pdf"
    pdf.write_bytes(data)
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("size", list(SIZES))
def test_analyst_changes_period_and_downloads_report(base_url: str, size: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    width, height = SIZES[size]
    drv = chrome(window=f"{max(width, 500)},{height}")
    try:
        drv.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500},
        )
        _log_in(drv, base_url)
        assert drv.execute_script("return window.innerWidth") == width
        # the territory page: every quartier compared, each row links to its dashboard
        assert _no_horizontal_scroll(drv)
        shot(drv, f"quartiers-comparaison-{size}")
        link = drv.find_element(By.CSS_SELECTOR, "#tableau-comparaison a[href^='/quartiers/QP075019']")
        drv.execute_script("arguments[0].scrollIntoView(); arguments[0].click();", link)
        wait_for(lambda: drv.find_elements(By.ID, "titre-quartier"), "tableau de bord du quartier ouvert")
        title = text_of(drv.find_element(By.ID, "titre-quartier"))
        assert "Les Portes Du Vingtième" in title and "QP075019" in title
        before = _bars(drv, "depots")
        assert before, "graphique des dépôts dessiné"
        total_before = drv.find_element(By.ID, "indicateur-depots").get_attribute("data-total")
        assert _no_horizontal_scroll(drv)
        shot(drv, f"quartier-tableau-{size}")
        for anchor in ("points-chauds", "recurrence", "couverture"):
            drv.execute_script("document.getElementById(arguments[0]).scrollIntoView();", anchor)
            shot(drv, f"quartier-{anchor}-{size}")
        # the lecteur may not see the confidential CCTV layer: no CCTV figures
        assert not drv.find_elements(By.ID, "chiffres-videoprotection")

        # a person picks another period and asks for it
        drv.execute_script(
            "document.getElementById('periode-debut').value = '2024-01';"
            "document.getElementById('periode-fin').value = '2024-06';"
        )
        drv.find_element(By.ID, "periode-afficher").click()
        wait_for(
            lambda: "debut=2024-01" in drv.current_url and drv.find_elements(By.ID, "titre-quartier"),
            "tableau de la nouvelle période",
        )
        after = _bars(drv, "depots")
        assert after and after != before
        assert all(t.startswith("2024-0") for t in after if "(période)" in t), after
        assert len([t for t in after if "(période)" in t]) == 6
        assert drv.find_element(By.ID, "indicateur-depots").get_attribute("data-total") != total_before
        assert "du 01/01/2024 au 30/06/2024" in text_of(drv.find_element(By.CLASS_NAME, "qd-sous-titre"))

        # the report of this quartier and period, as a background job
        drv.execute_script("document.getElementById('rapport').scrollIntoView();")
        drv.find_element(By.ID, "bouton-rapport").click()
        wait_for(
            lambda: (
                drv.find_element(By.ID, "rapport-suivi").get_attribute("data-etat")
                in ("en attente", "en cours", "terminé")
            ),
            "travail du rapport accepté",
        )
        wait_for(
            lambda: (
                drv.find_element(By.ID, "rapport-suivi").get_attribute("data-etat") in ("terminé", "échec")
            ),
            "travail du rapport fini",
        )
        step = text_of(drv.find_element(By.ID, "rapport-etape"))
        assert drv.find_element(By.ID, "rapport-suivi").get_attribute("data-etat") == "terminé", step
        assert step.startswith("100 %"), step
        link = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "a.lien-rapport-pdf"), "lien du PDF")[0]
        assert "202401-202406" in link.get_attribute("href") or "202401" in text_of(link)
        assert drv.find_elements(By.CSS_SELECTOR, "#rapport-liens a[href*='.html']")
        shot(drv, f"quartier-rapport-{size}")
        assert _no_horizontal_scroll(drv)

        http = requests.Session()
        for c in drv.get_cookies():
            http.cookies.set(c["name"], c["value"])
        res = http.get(link.get_attribute("href"), timeout=60)
        assert res.status_code == 200
        assert res.content.startswith(b"%PDF")
        if shutil.which("pdftotext"):
            text = _pdf_text(res.content, tmp_path)
            assert "QP075019" in text and "Vingtième" in text
        # a Montpellier quartier with (simulated) points noirs: the recurrence table by point noir
        drv.get(f"{base_url}/quartiers/QP034005?debut=2024-01&fin=2024-06")
        wait_for(lambda: drv.find_elements(By.ID, "tableau-recurrence"), "récurrence par point noir")
        assert "simulée" in text_of(drv.find_element(By.ID, "tableau-recurrence"))
        assert _no_horizontal_scroll(drv)
        shot(drv, f"quartier-mosson-{size}")
        for anchor in ("indicateurs", "recurrence", "couverture"):
            drv.execute_script("document.getElementById(arguments[0]).scrollIntoView();", anchor)
            shot(drv, f"quartier-mosson-{anchor}-{size}")
        errors = [
            e["message"]
            for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
        ]
        assert not errors, errors
    finally:
        drv.quit()
