"""The common header in a real browser (chromium headless), at phone and desktop sizes.

An administrator logs in through the styled login page, goes from the map to the walk list
and a walk page through the header (the « Menu » button on a phone), then creates an
account and changes its role on ``/admin/comptes``. No page scrolls sideways; screenshots
in tests/artifacts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap._browser import chrome, requires_chromium, shot, submit_login, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import PASSWORD, build_app
from webmap import users

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def nav_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Flask]]:
    path = demo_store_copy(tmp_path_factory, "navigation-browser")
    plan = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=path.parent / "instance" / "cache")
    app = build_app(path, path.parent / "instance")
    app.config["WALK_UID"] = plan.uid
    with serve_in_thread(app) as base:
        yield base, app


def _fits(drv: Any) -> bool:
    return bool(drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"))


def _errors(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]


def _go(drv: Any, label: str, phone: bool) -> None:
    """Follow the header entry ``label`` (opening the menu first on a phone)."""
    from selenium.webdriver.common.by import By

    nav = drv.find_element(By.ID, "entete-nav")
    button = drv.find_element(By.ID, "entete-menu")
    if phone:
        assert button.is_displayed() and not nav.is_displayed(), "menu replié attendu sur téléphone"
        button.click()
        wait_for(nav.is_displayed, "menu ouvert")
        assert button.get_attribute("aria-expanded") == "true"
        assert _fits(drv), "le menu ouvert déborde"
    else:
        assert not button.is_displayed() and nav.is_displayed()
    nav.find_element(By.LINK_TEXT, label).click()


@pytest.mark.parametrize("window", ["390,844", "1280,900"])
def test_header_login_and_pages_on_phone_and_desktop(nav_server: tuple[str, Flask], window: str) -> None:
    from selenium.webdriver.common.by import By

    base, app = nav_server
    phone = window.startswith("390")
    size = "telephone" if phone else "bureau"
    drv = chrome(window=window)
    try:
        drv.get(f"{base}/connexion?suivant=/")
        assert text_of(drv.find_element(By.TAG_NAME, "h1")) == "Connexion"
        assert drv.find_element(By.ID, "lien-retour-carte").get_attribute("href") == f"{base}/"
        assert drv.find_element(By.ID, "lien-consultation").get_attribute("href").endswith("/ogc/?f=html")
        assert _fits(drv)
        shot(drv, f"navigation-connexion-{size}")
        submit_login(drv, "aurore", PASSWORD)
        wait_for(lambda: drv.execute_script("return document.body.dataset.etat") == "pret", "carte prête")
        assert _fits(drv), "la carte déborde"
        if phone:  # the opened menu, on top of the map
            drv.find_element(By.ID, "entete-menu").click()
            wait_for(drv.find_element(By.ID, "entete-nav").is_displayed, "menu ouvert")
            labels = [text_of(a) for a in drv.find_elements(By.CSS_SELECTOR, ".entete-liens a")]
            assert labels[:3] == ["Carte", "Liste", "Diagnostics"] and labels[-1] == "Administration"
            assert "aurore (administrateur, ville)" in text_of(drv.find_element(By.ID, "session-info"))
            shot(drv, f"navigation-carte-menu-{size}")
            drv.find_element(By.ID, "entete-menu").click()
            wait_for(lambda: not drv.find_element(By.ID, "entete-nav").is_displayed(), "menu refermé")
        shot(drv, f"navigation-carte-{size}")
        current = drv.find_element(By.CSS_SELECTOR, '.entete-liens a[aria-current="page"]')
        assert text_of(current) == "Carte"

        _go(drv, "Diagnostics", phone)
        wait_for(lambda: drv.current_url.endswith("/diagnostic/"), "liste des diagnostics")
        assert "Nouveau diagnostic" in text_of(drv.find_element(By.ID, "lien-nouveau-diagnostic"))
        assert _fits(drv), "la liste des diagnostics déborde"
        shot(drv, f"navigation-diagnostics-{size}")
        drv.find_element(By.CSS_SELECTOR, ".dg-liste a").click()
        walk_url = f"/diagnostic/{app.config['WALK_UID']}"
        wait_for(lambda: drv.current_url.endswith(walk_url), "page du parcours")
        wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "#dg-carte .leaflet-pane, #dg-carte svg"),
                 "carte du parcours")
        current = drv.find_element(By.CSS_SELECTOR, '.entete-liens a[aria-current="page"]')
        assert text_of(current) == "Diagnostics"
        assert _fits(drv), "la page du parcours déborde"
        shot(drv, f"navigation-parcours-{size}")

        _go(drv, "Administration", phone)
        wait_for(lambda: drv.current_url.endswith("/admin/comptes"), "page des comptes")
        assert _fits(drv)
        login = f"nav-{size}"
        drv.find_element(By.CSS_SELECTOR, ".comptes-creation summary").click()
        drv.find_element(By.ID, "c-login").send_keys(login)
        drv.find_element(By.CSS_SELECTOR, "#c-role option[value=lecteur]").click()
        drv.find_element(By.CSS_SELECTOR, "#c-organisation option[value=association]").click()
        drv.find_element(By.ID, "c-password").send_keys("les platanes du cours")
        drv.find_element(By.ID, "c-confirmation").send_keys("les platanes du cours")
        shot(drv, f"navigation-creation-{size}")
        drv.find_element(By.CSS_SELECTOR, "#form-creation button[type=submit]").click()
        message = wait_for(lambda: text_of(drv.find_element(By.CSS_SELECTOR, ".comptes-message")),
                           "compte créé")
        assert f"Compte « {login} » créé (lecteur, association)" in message
        assert len(text_of(drv.find_element(By.CSS_SELECTOR, ".comptes-cle .cle"))) > 30
        assert _fits(drv)
        row = drv.find_element(By.CSS_SELECTOR, f'tr[data-login="{login}"]')
        row.find_element(By.CSS_SELECTOR, "select[name=role] option[value=technicien]").click()
        row.find_element(By.CSS_SELECTOR, "select[name=organisation] option[value=ville]").click()
        row.find_element(By.CSS_SELECTOR, ".form-role button[type=submit]").click()
        # the page of the creation (and its message) stays until the answer replaces it: wait
        # for the new message, not for any message
        wait_for(lambda: "rôle technicien, organisation ville"
                 in text_of(drv.find_element(By.CSS_SELECTOR, ".comptes-message")), "rôle changé")
        assert users.get_user(app.config["USERS_DB"], login) == users.User(login, "technicien", "ville")
        assert _fits(drv), "la table des comptes déborde"
        shot(drv, f"navigation-comptes-{size}")
        assert _errors(drv) == []
    finally:
        drv.quit()
