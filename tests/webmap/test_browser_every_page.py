"""Every page of the web app, for every role: reachable from the header, in French, phone-sized.

The pages are found in the app itself, not listed by hand: every ``GET`` rule whose view is
declared ``allow(..., login_page=True)`` (an HTML page behind the login), plus the map and
the login page. A page with an argument takes a real value of the demo store
(:data:`SAMPLES`); a new argument without one fails :func:`test_every_page_has_a_sample`.

For each role, the pages it may open (status 200) must all be reached by following links
from the map's header (breadth first, through the Flask test client, at most
:data:`DEPTH` clicks): a page only reachable by typing its URL fails. Then a real chromium,
its screen emulated at 390 × 844, opens each of them: the document must be ``lang="fr"``,
must not scroll sideways, and its visible text must not contain English interface words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask

from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap._browser import chrome, log_in, requires_chromium, shot, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import LOGINS, PASSWORD, ROLES, build_app, client_as

#: a real value for each argument of a page's URL (``{walk}``: the walk planned below)
SAMPLES = {"uid": "{walk}", "code": "QP075019"}
#: clicks from the map allowed to reach a page
DEPTH = 3
PHONE = (390, 844)
#: interface words that betray an untranslated page (whole words, case-sensitive)
ENGLISH = re.compile(r"\b(Loading|Submit|Cancel|Save|Delete|Download|Search|Error|Warning|Close|"
                     r"Previous|Next|Settings|Log ?out|Log ?in|Sign ?in|No data|Not found|Forbidden|"
                     r"Select|Upload|Refresh|Back|Home)\b")


class _Links(HTMLParser):
    """Collect the ``href`` of every ``<a>`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _page_rules(app: Flask) -> list[Any]:
    rules = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        access = getattr(view, "_qpv_rule", None)
        page = bool(access is not None and access.login_page) or rule.rule in ("/", "/connexion")
        if "GET" in (rule.methods or ()) and page:
            rules.append(rule)
    return sorted(rules, key=lambda r: r.rule)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, list[str]]]:
    path = demo_store_copy(tmp_path_factory, "every-page")
    plan = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=path.parent / "instance" / "cache")
    app = build_app(path, path.parent / "instance")
    values = {name: value.replace("{walk}", plan.uid) for name, value in SAMPLES.items()}
    urls = []
    for rule in _page_rules(app):
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[a-z]+:)?{name}>", values.get(name, f"<{name}>"), url)
        urls.append(url)
    yield app, urls


def test_every_page_has_a_sample(site: tuple[Flask, list[str]]) -> None:
    _app, urls = site
    missing = [url for url in urls if "<" in url]
    assert not missing, f"pages sans valeur d'exemple dans SAMPLES : {missing}"
    assert "/" in urls and "/connexion" in urls and len(urls) >= 6


def _allowed(app: Flask, role: str, urls: list[str]) -> list[str]:
    client = client_as(app, role)
    return [url for url in urls if client.get(url).status_code == 200]


def _reached(app: Flask, role: str, targets: set[str]) -> set[str]:
    """Pages of ``targets`` reached from ``/`` by following links, ``DEPTH`` clicks at most."""
    client = client_as(app, role)
    seen: set[str] = {"/"}
    frontier = ["/"]
    for _ in range(DEPTH):
        following: list[str] = []
        for url in frontier:
            response = client.get(url)
            if response.status_code != 200 or "html" not in (response.content_type or ""):
                continue
            parser = _Links()
            parser.feed(response.get_data(as_text=True))
            for href in parser.hrefs:
                parts = urlsplit(urljoin("http://localhost" + url, href))
                if parts.netloc == "localhost" and parts.path in targets and parts.path not in seen:
                    seen.add(parts.path)
                    following.append(parts.path)
        frontier = following
    return seen & targets


@pytest.mark.parametrize("role", ROLES)
def test_every_page_is_reachable_from_the_header(site: tuple[Flask, list[str]], role: str) -> None:
    app, urls = site
    allowed = set(_allowed(app, role, urls))
    assert "/" in allowed
    if role != "anonyme":
        allowed.discard("/connexion")  # a logged-in user has no reason to come back to it
    unreached = allowed - _reached(app, role, allowed)
    assert not unreached, f"{role} : pages permises mais introuvables depuis l'en-tête : {sorted(unreached)}"


def _log_in(drv: Any, base: str, role: str) -> None:
    log_in(drv, base, LOGINS[role], PASSWORD)


def _problems(drv: Any, url: str) -> list[str]:
    problems = []
    lang = drv.execute_script("return document.documentElement.lang")
    if not str(lang).startswith("fr"):
        problems.append(f"{url} : lang={lang!r}")
    if not drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"):
        width = drv.execute_script("return document.documentElement.scrollWidth")
        problems.append(f"{url} : défilement horizontal ({width} px pour {PHONE[0]})")
    text = drv.execute_script("return document.body.innerText") or ""
    english = sorted(set(ENGLISH.findall(text)))
    if english:
        problems.append(f"{url} : mots anglais {english}")
    return problems


@pytest.mark.browser
@requires_chromium
@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_a_phone_in_french(site: tuple[Flask, list[str]], role: str) -> None:
    app, urls = site
    allowed = _allowed(app, role, urls)
    problems: list[str] = []
    with serve_in_thread(app) as base:
        drv = chrome(window=f"500,{PHONE[1]}")
        try:
            drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1,
                                 "mobile": True})
            if role != "anonyme":
                _log_in(drv, base, role)
            for url in allowed:
                drv.get(base + url)
                wait_for(lambda: drv.execute_script("return document.readyState") == "complete",
                         f"chargement de {url}")
                assert drv.execute_script("return window.innerWidth") == PHONE[0]
                problems += _problems(drv, url)
            shot(drv, f"toutes-pages-{role}-telephone")
        finally:
            drv.quit()
    assert not problems, "\n".join(problems)
