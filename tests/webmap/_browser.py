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


def chrome(*, window: str) -> Any:
    """A headless chromium driven by Debian's chromedriver, window ``"W,H"``, console logs kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROME_FLAGS, f"--window-size={window}"):
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
