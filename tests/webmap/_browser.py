"""Helpers shared by the real-browser tests: Debian chromium through Selenium, waits, PNGs.

The tests wait for states, never for time: :func:`wait_for` polls a predicate with a
generous deadline (:data:`WAIT_S`, the machine may be busy) and fails naming the state it
awaited. Texts are read with :func:`text_of` (the DOM ``textContent``): Selenium's ``.text``
is empty for an element scrolled out of its container or hidden after a delay.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from layers.settings import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
#: deadline of every wait for a state of the page (seconds): generous, for a loaded machine
WAIT_S = 60.0
# no network, no background services, no download of anything
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--lang=fr-FR")

requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
    reason="Debian chromium/chromium-driver absent (apt-get install chromium chromium-driver)",
)


#: no internet: every host name but the loopback fails to resolve, and any other address goes
#: through a proxy that does not exist (the app under test is served on 127.0.0.1)
OFFLINE_FLAGS = ("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
                 "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1;localhost")
#: the two screens of the field tests (issue 17): a phone and a desktop
PHONE = (390, 844)
DESKTOP = (1400, 900)
AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def chrome(*, window: str, offline: bool = False) -> Any:
    """A headless chromium driven by Debian's chromedriver, window ``"W,H"``, console logs kept.

    ``offline=True`` cuts the network (:data:`OFFLINE_FLAGS`): only the app on the loopback
    answers, as on an intranet without internet.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROME_FLAGS, f"--window-size={window}", *(OFFLINE_FLAGS if offline else ())):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    drv.set_page_load_timeout(WAIT_S)
    return drv


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``.

    An element missing or replaced while the page updates counts as "not yet".
    """
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    end = time.monotonic() + timeout
    last = ""
    while True:
        try:
            value = predicate()
        except (NoSuchElementException, StaleElementReferenceException) as exc:
            value, last = None, f" (dernière erreur : {type(exc).__name__})"
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"délai dépassé ({timeout:.0f} s) en attendant : {what}{last}")
        time.sleep(0.1)  # polling interval


def submit_login(drv: Any, login: str, password: str, *, then: str = "/") -> None:
    """Fill and send the login form the page shows; wait until ``then``'s page is loaded.

    The state awaited is the path of ``then`` with the document complete: the login page's
    own address (``/connexion?suivant=…``) may end with the same text, its path never does.
    """
    from selenium.webdriver.common.by import By

    wait_for(lambda: drv.find_elements(By.ID, "login"), "formulaire de connexion")
    field = drv.find_element(By.ID, "login")
    field.send_keys(login)
    drv.find_element(By.ID, "password").send_keys(password)
    form = field.find_element(By.XPATH, "./ancestor::form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    expected = f"{urlsplit(then).path}|complete"
    wait_for(lambda: drv.execute_script("return location.pathname + '|' + document.readyState")
             == expected, f"page {then} après la connexion de {login}")


def log_in(drv: Any, base: str, login: str, password: str, *, then: str = "/") -> None:
    """Log ``login`` in through the real login form, which sends the browser on to ``then``."""
    drv.get(f"{base}/connexion?suivant={quote(then, safe='/')}")
    submit_login(drv, login, password, then=then)


def text_of(element: Any) -> str:
    """Text of ``element`` from the DOM (``textContent``, blanks collapsed), visible or not."""
    return " ".join((element.get_attribute("textContent") or "").split())


def shot(drv: Any, name: str) -> None:
    """Save a screenshot as a test artifact (``tests/artifacts/NAME.png``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def png_bytes(width: int = 24, height: int = 16) -> bytes:
    """A small real PNG (RGB gradient) built with zlib."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 10 % 256, y * 15 % 256, 120))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def emulate_screen(drv: Any, size: tuple[int, int]) -> None:
    """Give the page a viewport of exactly ``size`` CSS pixels (a phone when narrower than 500)."""
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": size[0], "height": size[1], "deviceScaleFactor": 1,
                         "mobile": size[0] < 500})


def wider_than_screen(drv: Any) -> list[str]:
    """Visible elements whose right edge passes the viewport (tag#id.class and width), if any."""
    return list(drv.execute_script("""
      const w = document.documentElement.clientWidth, out = [];
      for (const n of document.querySelectorAll('body *')) {
        const r = n.getBoundingClientRect(), s = getComputedStyle(n);
        if (!r.width || s.visibility === 'hidden' || s.display === 'none') continue;
        if (n.closest('.leaflet-pane, .leaflet-tile-container')) continue;  // map panes scroll by design
        if (r.right > w + 1 || r.left < -1) {
          out.push(`${n.tagName.toLowerCase()}${n.id ? '#' + n.id : ''}`
            + `${typeof n.className === 'string' && n.className ? '.' + n.className.split(' ')[0] : ''}`
            + ` (${Math.round(r.left)}–${Math.round(r.right)} px)`);
        }
      }
      return out.slice(0, 20);"""))


def axe_violations(drv: Any, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run axe-core (``node_modules/axe-core``, installed by ``npm ci``) on the page.

    Returns the violations of the given impacts as ``{"id", "impact", "help", "nodes"}``
    (``nodes``: the first CSS targets). WCAG 2.1 A and AA rules, as the RGAA requires.
    """
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core absent ({AXE_JS}) : lancer « npm ci ».")
    drv.execute_script(AXE_JS.read_text(encoding="utf-8"))
    result = drv.execute_async_script("""
      const done = arguments[arguments.length - 1];
      axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
        .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))
        .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));""")
    return [v for v in result if v.get("impact") in impacts]
