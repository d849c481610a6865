"""RGAA rules checked on the HTML of every page, for every role, hidden parts included.

axe-core (``test_browser_accessibilite.py``) sees what the browser shows; these checks read
the HTML the server sends, so the forms behind a button, the closed ``<details>`` and the
rows shown on demand are checked too:

- one ``<title>`` per page, distinct between pages, naming the site; ``lang="fr"``;
- one ``<h1>``; heading levels never skip one going down (h2 → h4);
- every form control has a label (``<label for>``, an enclosing ``<label>``, ``aria-label``,
  ``aria-labelledby`` or ``title``);
- every data table has a title (``<caption>``, ``aria-label`` or ``aria-labelledby``) and
  header cells (``<th>``) that say what they head (``scope``);
- every ``aria-labelledby`` / ``aria-describedby`` / ``aria-controls`` / ``<label for>``
  names an element of the page;
- every ``<svg role="img">`` has a text alternative, and a chart (``svg.qd-graphe``) is
  followed by a table of its values;
- the skip link « Aller au contenu » leads to ``<main id="contenu">``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from flask import Flask

from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap.security._fixtures import ROLES, build_app, client_as
from tests.webmap.test_browser_every_page import SAMPLES, _page_rules

#: the HTML pages of the OGC API, outside the header's navigation
OGC_PAGES = ("/ogc/?f=html", "/ogc/collections?f=html", "/ogc/conformance?f=html",
             "/ogc/collections/perimetres?f=html", "/ogc/collections/perimetres/items?f=html&limit=5")
CONTROLS = ("input", "select", "textarea")
#: input types that need no label (not shown, or labelled by their own value)
UNLABELLED_INPUTS = ("hidden", "submit", "button", "reset", "image")
IDREF_ATTRS = ("aria-labelledby", "aria-describedby", "aria-controls")
#: (page, start of the problem) pairs that fail only because of parts of issue 17 not merged
#: yet: the map page ``/`` belongs to part B. The lead empties this after merging it.
PENDING_OTHER_PARTS: frozenset[tuple[str, str]] = frozenset({
    ("/", "0 titres h1"),  # part B: the map page has no <h1>
})


class _Page(HTMLParser):
    """What the checks need from a page, collected in one pass."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.lang = ""
        self.title = ""
        self.headings: list[int] = []
        self.controls: list[dict[str, str]] = []
        self.label_for: set[str] = set()
        self.refs: list[tuple[str, str, str]] = []  # (attribute, id, element)
        self.tables: list[dict[str, object]] = []
        self.svgs: list[dict[str, str]] = []
        self.charts_without_table: list[str] = []
        self.skip_href = ""
        self.main_id = ""
        self._stack: list[str] = []
        self._in_title = False
        self._in_label = 0
        self._in_skip = False
        self._chart_open = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.ids.add(a["id"])
        for attr in IDREF_ATTRS:
            for ref in a.get(attr, "").split():
                self.refs.append((attr, ref, f"<{tag} id={a.get('id', '')!r}>"))
        self._open(tag, a)

    def _open(self, tag: str, a: dict[str, str]) -> None:  # noqa: C901 - one branch per tag
        if tag == "html":
            self.lang = a.get("lang", "")
        elif tag == "title" and not self._stack.count("svg"):
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "label":
            self._in_label += 1
            if a.get("for"):
                self.label_for.add(a["for"])
                self.refs.append(("for", a["for"], "<label>"))
        elif tag in CONTROLS and not (tag == "input" and a.get("type", "text") in UNLABELLED_INPUTS):
            self.controls.append({**a, "_tag": tag, "_in_label": "1" if self._in_label else ""})
        elif tag == "table":
            self.tables.append({"attrs": a, "caption": False, "th": 0, "th_scoped": 0})
            if self._chart_open:
                self._chart_open = ""
        elif tag == "caption" and self.tables:
            self.tables[-1]["caption"] = True
        elif tag == "th" and self.tables:
            table = self.tables[-1]
            table["th"] = int(str(table["th"])) + 1
            if a.get("scope") in ("col", "row", "colgroup", "rowgroup") or a.get("id"):
                table["th_scoped"] = int(str(table["th_scoped"])) + 1
        elif tag == "svg":
            self.svgs.append(a)
            if "qd-graphe" in a.get("class", "").split():
                if self._chart_open:
                    self.charts_without_table.append(self._chart_open)
                self._chart_open = a.get("aria-label", "graphique")
        elif tag == "a" and "lien-evitement" in a.get("class", "").split():
            self.skip_href = a.get("href", "")
            self._in_skip = True
        elif tag == "main":
            self.main_id = a.get("id", "")
        if tag not in ("input", "br", "img", "meta", "link", "hr", "source", "wbr", "area", "col", "path",
                       "rect", "line", "circle", "polyline", "polygon", "stop"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "label":
            self._in_label = max(0, self._in_label - 1)
        elif tag == "a":
            self._in_skip = False
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def close(self) -> None:
        super().close()
        if self._chart_open:
            self.charts_without_table.append(self._chart_open)


def _labelled(control: dict[str, str], page: _Page) -> bool:
    return bool(control["_in_label"] or control.get("aria-label") or control.get("aria-labelledby")
                or control.get("title") or control.get("id", "\0") in page.label_for)


def _problems(url: str, page: _Page) -> list[str]:
    out = []
    if not page.lang.startswith("fr"):
        out.append(f"lang={page.lang!r}")
    if "Observatoire GUSP" not in page.title:
        out.append(f"titre {page.title!r}")
    if page.headings.count(1) != 1:
        out.append(f"{page.headings.count(1)} titres h1")
    pairs = zip(page.headings, page.headings[1:], strict=False)
    out += [f"titre h{b} après h{a}" for a, b in pairs if b > a + 1]
    out += [f"champ sans étiquette : <{c['_tag']} id={c.get('id', '')!r} name={c.get('name', '')!r}>"
            for c in page.controls if not _labelled(c, page)]
    for table in page.tables:
        attrs = table["attrs"]
        assert isinstance(attrs, dict)
        if not (table["caption"] or attrs.get("aria-label") or attrs.get("aria-labelledby")):
            out.append(f"tableau sans titre : id={attrs.get('id', '')!r}")
        if table["th"] != table["th_scoped"]:
            out.append(f"tableau id={attrs.get('id', '')!r} : {table['th']} en-têtes, "
                       f"{table['th_scoped']} avec scope")
    out += [f"{attr}={ref!r} de {where} : aucun élément de cet id" for attr, ref, where in page.refs
            if ref not in page.ids]
    out += [f"image SVG sans alternative : {svg.get('class', '')}" for svg in page.svgs
            if svg.get("role") == "img" and not (svg.get("aria-label") or svg.get("aria-labelledby"))]
    out += [f"graphique sans tableau de ses valeurs : {name}" for name in page.charts_without_table]
    if page.skip_href != f"#{page.main_id}" or not page.main_id:
        out.append(f"lien d'évitement {page.skip_href!r} pour <main id={page.main_id!r}>")
    return [f"{url} : {p}" for p in out
            if not any(url == page_url and p.startswith(start) for page_url, start in PENDING_OTHER_PARTS)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, list[str]]]:
    path = demo_store_copy(tmp_path_factory, "accessibilite-html")
    plan = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=path.parent / "instance" / "cache")
    app = build_app(path, path.parent / "instance")
    values = {name: value.replace("{walk}", plan.uid) for name, value in SAMPLES.items()}
    urls = []
    for rule in _page_rules(app):
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[a-z]+:)?{name}>", values.get(name, f"<{name}>"), url)
        urls.append(url)
    yield app, [*urls, *OGC_PAGES]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_follows_the_rgaa_rules_read_in_its_html(site: tuple[Flask, list[str]], role: str) -> None:
    app, urls = site
    client = client_as(app, role)
    problems: list[str] = []
    titles: dict[str, str] = {}
    checked = 0
    for url in urls:
        response = client.get(url, headers={"Accept": "text/html"})
        if response.status_code != 200:
            continue
        page = _Page()
        page.feed(response.get_data(as_text=True))
        page.close()
        problems += _problems(url, page)
        if page.title in titles.values():
            problems.append(f"{url} : même titre que {[u for u, t in titles.items() if t == page.title]}")
        titles[url] = page.title
        checked += 1
    assert checked >= {"anonyme": 7, "lecteur": 14, "technicien": 15, "administrateur": 17}[role]
    assert not problems, "\n".join(problems)
