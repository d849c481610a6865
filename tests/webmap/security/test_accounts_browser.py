"""The account pages in a real browser (chromium headless), phone and desktop widths:
no horizontal scrolling, no console error, the forms work; screenshots in tests/artifacts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.webmap._browser import chrome, log_in, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.security.conftest import PASSWORD

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture
def base_url(make_app: Callable[..., Flask]) -> Iterator[str]:
    with serve_in_thread(make_app()) as base:
        yield base


def _login(drv: Any, base_url: str, name: str) -> None:
    log_in(drv, base_url, name, PASSWORD, then="/compte")


def _no_horizontal_scroll(drv: Any) -> bool:
    return bool(drv.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _errors(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]


@pytest.mark.parametrize("window", ["390,844", "1280,900"])
def test_account_pages_on_phone_and_desktop(base_url: str, window: str) -> None:
    from selenium.webdriver.common.by import By

    drv = chrome(window=window)
    suffix = "telephone" if window.startswith("390") else "bureau"
    try:
        _login(drv, base_url, "adele")
        assert "Mon compte" in text_of(drv.find_element(By.TAG_NAME, "h1"))
        assert _no_horizontal_scroll(drv)
        shot(drv, f"compte-{suffix}")
        drv.get(f"{base_url}/admin/comptes")
        body = text_of(drv.find_element(By.TAG_NAME, "body"))
        assert "camille" in body and "bailleur" in body and "police" in body
        assert _no_horizontal_scroll(drv), "la table des comptes déborde"
        shot(drv, f"comptes-{suffix}")
        row = drv.find_element(By.XPATH, "//tr[.//strong[text()='victor']]")
        row.find_element(By.XPATH, ".//button[text()='Désactiver']").click()
        wait_for(lambda: "désactivé" in text_of(drv.find_element(By.CSS_SELECTOR, ".comptes-message")),
                 "message de désactivation")
        shot(drv, f"comptes-desactive-{suffix}")
        row = drv.find_element(By.XPATH, "//tr[.//strong[text()='victor']]")
        assert "désactivé" in text_of(row)
        row.find_element(By.XPATH, ".//button[starts-with(text(), 'Nouvelle clé')]").click()
        key = wait_for(lambda: text_of(drv.find_element(By.CSS_SELECTOR, ".comptes-cle .cle")),
                       "nouvelle clé affichée")
        assert len(key) > 30 and _no_horizontal_scroll(drv)
        shot(drv, f"comptes-cle-{suffix}")
        assert _errors(drv) == []
    finally:
        drv.quit()


def test_changing_my_password_in_the_browser(base_url: str) -> None:
    from selenium.webdriver.common.by import By

    drv = chrome(window="390,844")
    try:
        _login(drv, base_url, "camille")
        drv.find_element(By.ID, "old_password").send_keys(PASSWORD)
        drv.find_element(By.ID, "password").send_keys("azerty123456")
        drv.find_element(By.ID, "confirmation").send_keys("azerty123456")
        drv.find_element(By.CSS_SELECTOR, ".compte-form button[type=submit]").click()
        error = wait_for(lambda: text_of(drv.find_element(By.CSS_SELECTOR, ".comptes-erreur")),
                         "refus du mot de passe courant")
        assert "trop courant" in error
        assert drv.find_element(By.ID, "password").get_attribute("aria-invalid") == "true"
        shot(drv, "compte-refus-telephone")
        drv.find_element(By.ID, "old_password").send_keys(PASSWORD)
        drv.find_element(By.ID, "password").send_keys("les mouettes du canal")
        drv.find_element(By.ID, "confirmation").send_keys("les mouettes du canal")
        drv.find_element(By.CSS_SELECTOR, ".compte-form button[type=submit]").click()
        wait_for(lambda: "Mot de passe modifié" in text_of(drv.find_element(By.CSS_SELECTOR,
                                                                          ".comptes-message")),
                 "confirmation du changement")
        drv.get(f"{base_url}/compte")
        assert "Mon compte" in text_of(drv.find_element(By.TAG_NAME, "h1"))  # still logged in
        # the only console error is the refused form's own 400 answer
        assert [e for e in _errors(drv) if "/compte/mot-de-passe" not in e or "400" not in e] == []
    finally:
        drv.quit()
