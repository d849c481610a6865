"""The common header with a keyboard, on a 320 px and a 390 px phone and on a desktop.

On a phone the header must fit the screen (nothing passes its edge), « Se connecter » must
stay visible with the menu closed, and the « Menu » button is a disclosure: ``aria-expanded``
follows it, opening it moves the focus to the first link, Escape closes it and gives the
focus back to the button. On every size the first Tab reaches the « Aller au contenu » skip
link, which moves the focus to the page's content, and the focused control is outlined.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.walkdemo import demo_store_copy
from tests.webmap._browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    chrome,
    emulate_screen,
    requires_chromium,
    shot,
    text_of,
    wait_for,
)
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import build_app
from tests.webmap.test_browser_every_page import _log_in

pytestmark = [pytest.mark.browser, requires_chromium]

SMALL_PHONE = (320, 640)
#: page opened by each role: the map for the public, the list of walks for a technician
PAGES = {"anonyme": "/", "technicien": "/diagnostic/"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = demo_store_copy(tmp_path_factory, "entete")
    app: Flask = build_app(path, path.parent / "instance")
    with serve_in_thread(app) as url:
        yield url


def _focused(drv: Any) -> dict[str, Any]:
    return dict(drv.execute_script("""
      const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();
      return {id: e.id, cls: e.className, text: (e.textContent || '').trim(), tag: e.tagName,
              outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
              inside: r.top >= 0 && r.left >= 0 && r.right <= window.innerWidth};"""))


def _in_screen(drv: Any, element: Any) -> bool:
    return bool(drv.execute_script("""
      const r = arguments[0].getBoundingClientRect();
      return r.width > 0 && r.left >= 0 && r.right <= document.documentElement.clientWidth && r.top >= 0;""",
                                   element))


def _axe_header(drv: Any) -> list[str]:
    """axe-core's serious and critical violations (WCAG 2.1 A, AA) inside the header only."""
    axe_violations(drv)  # injects axe-core (the page's own violations are checked elsewhere)
    return list(drv.execute_async_script("""
      const done = arguments[arguments.length - 1];
      axe.run('#entete', {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
        .then(r => done(r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
                         .map(v => v.id + ' ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
        .catch(e => done(['axe-error ' + e]));"""))


def _header_overflow(drv: Any) -> list[str]:
    """Visible elements of the header (and the skip link) passing the screen's edge."""
    return list(drv.execute_script("""
      const w = document.documentElement.clientWidth, out = [];
      for (const n of document.querySelectorAll('#entete, #entete *, .lien-evitement')) {
        const r = n.getBoundingClientRect();
        if (r.width && (r.right > w + 1 || r.left < -1) && getComputedStyle(n).visibility !== 'hidden')
          out.push(`${n.tagName}#${n.id}.${n.className} (${Math.round(r.left)}–${Math.round(r.right)})`);
      }
      return out;"""))


def _skip_link(drv: Any) -> None:
    """First Tab: the skip link, visible and outlined; Enter: the focus on the content."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    drv.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    ActionChains(drv).send_keys(Keys.TAB).perform()
    focused = _focused(drv)
    assert focused["text"] == "Aller au contenu" and focused["inside"] and focused["outline"], focused
    ActionChains(drv).send_keys(Keys.ENTER).perform()
    wait_for(lambda: _focused(drv)["id"] == "contenu", "focus sur le contenu")


def _menu(drv: Any, role: str, name: str) -> None:
    """The « Menu » disclosure with the keyboard."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    button = drv.find_element(By.ID, "entete-menu")
    links = drv.find_elements(By.CSS_SELECTOR, ".entete-liens a")
    assert button.is_displayed() and button.get_attribute("aria-expanded") == "false"
    assert button.get_attribute("aria-controls") == "entete-nav"
    assert not any(link.is_displayed() for link in links), "menu replié attendu"
    drv.execute_script("arguments[0].focus()", button)
    ActionChains(drv).send_keys(Keys.ENTER).perform()
    wait_for(lambda: button.get_attribute("aria-expanded") == "true", "menu ouvert")
    assert all(link.is_displayed() for link in links)
    focused = _focused(drv)
    assert focused["text"] == text_of(links[0]) and focused["outline"], focused
    assert _header_overflow(drv) == [], "le menu ouvert déborde"
    shot(drv, f"entete-{role}-{name}-menu")
    assert _axe_header(drv) == [], "menu ouvert"
    if role == "anonyme":
        assert drv.find_element(By.ID, "lien-connexion").is_displayed()
    else:
        assert drv.find_element(By.LINK_TEXT, "Mon compte").is_displayed()
        assert drv.find_element(By.CSS_SELECTOR, "#entete-deconnexion button").is_displayed()
    ActionChains(drv).send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: button.get_attribute("aria-expanded") == "false", "menu refermé par Échap")
    assert _focused(drv)["id"] == "entete-menu", "le focus revient au bouton « Menu »"
    assert not any(link.is_displayed() for link in links)


@pytest.mark.parametrize("role", sorted(PAGES))
def test_header_fits_and_works_with_a_keyboard(base: str, role: str) -> None:
    from selenium.webdriver.common.by import By

    drv = chrome(window=f"{DESKTOP[0]},{DESKTOP[1]}", offline=True)
    try:
        if role != "anonyme":
            _log_in(drv, base, role)
        for name, screen in (("320", SMALL_PHONE), ("390", PHONE), ("bureau", DESKTOP)):
            emulate_screen(drv, screen)
            drv.get(base + PAGES[role])
            wait_for(lambda: drv.execute_script("return document.readyState") == "complete", "page chargée")
            header = drv.find_element(By.ID, "entete")
            width = drv.execute_script("return arguments[0].getBoundingClientRect().width", header)
            assert width <= screen[0], f"{name} : en-tête de {width} px"
            assert _header_overflow(drv) == [], name
            title = drv.find_element(By.CSS_SELECTOR, ".entete-titre")
            assert _in_screen(drv, title)
            assert title.get_attribute("textContent") == "Observatoire GUSP"  # read whole, even if shortened
            if role == "anonyme":
                login = drv.find_element(By.ID, "lien-connexion")
                assert login.is_displayed() and _in_screen(drv, login), f"{name} : « Se connecter » caché"
            shot(drv, f"entete-{role}-{name}")
            _skip_link(drv)
            if screen[0] < 500:
                _menu(drv, role, name)
            else:
                assert not drv.find_element(By.ID, "entete-menu").is_displayed()
                assert all(a.is_displayed() for a in drv.find_elements(By.CSS_SELECTOR, ".entete-liens a"))
                assert text_of(title) == "Observatoire GUSP"
    finally:
        drv.quit()
