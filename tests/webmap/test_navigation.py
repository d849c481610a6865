"""The header of every HTML page: entries by role, current page, who is logged in, logout.

An app on a copy of the demo store with one planned Mosson walk and one account per role.
The rule checked is the user's: an entry is in the header exactly when its page opens
(200) for that role; pages other issues add later (Quartiers, Rapports) appear on their own.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask import Blueprint, Flask

from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap.security._fixtures import LOGINS, ROLES, build_app, client_as
from webmap import navigation
from webmap.access import allow
from webmap.navigation import ENTRIES, NavEntry


class _Header(HTMLParser):
    """Entries of ``ul.entete-liens`` (label, href, aria-current) and the session block."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[tuple[str, str, bool]] = []
        self._in_list = False
        self._link: tuple[str, bool] | None = None
        self._text = ""
        self.headers = 0
        self.logout_forms: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "header":
            self.headers += 1
        if tag == "ul" and "entete-liens" in (a.get("class") or ""):
            self._in_list = True
        elif tag == "a" and self._in_list:
            self._link = (a.get("href") or "", a.get("aria-current") == "page")
            self._text = ""
        elif tag == "form" and a.get("id") == "entete-deconnexion":
            self.logout_forms.append(a)

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            self.entries.append((self._text.strip(), *self._link))
            self._link = None
        elif tag == "ul" and self._in_list:
            self._in_list = False


@pytest.fixture(scope="module")
def nav_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path = demo_store_copy(tmp_path_factory, "navigation")
    plan = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=path.parent / "instance" / "cache")
    app = build_app(path, path.parent / "instance")
    app.config["WALK_UID"] = plan.uid
    return app


def _pages(app: Flask) -> list[str]:
    uid = app.config["WALK_UID"]
    return ["/", "/diagnostic/", f"/diagnostic/{uid}", "/diagnostics/nouveau", "/connexion", "/compte",
            "/admin/comptes",
            "/ogc/?f=html", "/ogc/collections?f=html", "/ogc/collections/observations?f=html",
            "/ogc/conformance?f=html"]


def _header(html: str) -> _Header:
    parser = _Header()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("role", ROLES)
def test_header_lists_exactly_the_pages_the_role_may_open(nav_app: Flask, role: str) -> None:
    client = client_as(nav_app, role)
    # what the role may open, asked to the app itself (a page that opens answers 200)
    opens = {e.label: client.get(e.path).status_code == 200 for e in ENTRIES}
    expected = [e.label for e in ENTRIES if opens[e.label]]
    assert expected[:2] == ["Carte", "Liste"]
    checked = 0
    for page in _pages(nav_app):
        res = client.get(page)
        if res.status_code != 200:
            assert (res.status_code, role) in ((302, "anonyme"), (403, "lecteur"), (403, "technicien")), page
            continue
        html = res.get_data(as_text=True)
        header = _header(html)
        assert header.headers == 1, page
        assert [label for label, _, _ in header.entries] == expected, (role, page)
        current = [label for label, _, is_current in header.entries if is_current]
        assert len(current) <= 1, (page, current)
        if role == "anonyme":
            assert "Consultation publique" in html and header.logout_forms == []
            if page != "/connexion":
                assert 'id="lien-connexion"' in html and ">Se connecter<" in html, page
        else:
            login = LOGINS[role]
            assert f"{login} ({role}, " in html and ">Mon compte<" in html, page
            assert len(header.logout_forms) == 1 and header.logout_forms[0]["method"] == "post"
            token = re.search(r'id="entete-deconnexion"[^>]*>\s*<input type="hidden" name="csrf_token" '
                              r'value="([^"]+)"', html)
            assert token and token.group(1) == f"jeton-{role}", page
        checked += 1
    assert checked >= {"anonyme": 5, "lecteur": 8, "technicien": 9, "administrateur": 10}[role]


def test_current_page_is_marked(nav_app: Flask) -> None:
    admin = client_as(nav_app, "administrateur")
    uid = nav_app.config["WALK_UID"]
    for page, label in (("/", "Carte"), ("/diagnostic/", "Diagnostics"),
                        (f"/diagnostic/{uid}", "Diagnostics"), ("/diagnostics/nouveau", "Diagnostics"),
                        ("/admin/comptes", "Administration")):
        entries = _header(admin.get(page).get_data(as_text=True)).entries
        assert [e[0] for e in entries if e[2]] == [label], page
    for page in ("/compte", "/ogc/?f=html", "/connexion"):
        assert not any(e[2] for e in _header(admin.get(page).get_data(as_text=True)).entries), page
    assert 'aria-current="page">Mon compte<' in admin.get("/compte").get_data(as_text=True)


def test_lecteur_has_no_administration_and_is_refused(nav_app: Flask) -> None:
    lecteur = client_as(nav_app, "lecteur")
    for page in ("/", "/diagnostic/", "/compte"):
        html = lecteur.get(page).get_data(as_text=True)
        assert "Administration" not in html and "/admin/comptes" not in html, page
    assert lecteur.get("/admin/comptes").status_code == 403
    assert lecteur.post("/admin/comptes", data={"login": "x"}).status_code == 403
    assert lecteur.post("/admin/comptes/lina/role", data={"role": "administrateur"}).status_code == 403


def test_header_logout_closes_the_session(nav_app: Flask) -> None:
    tech = client_as(nav_app, "technicien")
    html = tech.get("/diagnostic/").get_data(as_text=True)
    action = re.search(r'<form[^>]*id="entete-deconnexion"[^>]*action="([^"]+)"', html)
    assert action is not None
    tech.environ_base.pop("HTTP_X_CSRFTOKEN")  # a plain form post, as the browser sends it
    assert tech.post(action.group(1), data={"csrf_token": "autre-jeton"}).status_code == 400
    res = tech.post(action.group(1), data={"csrf_token": "jeton-technicien"})
    assert res.status_code == 302 and res.headers["Location"].endswith("/connexion")
    assert tech.get("/api/session").json["user"] is None
    assert tech.get("/diagnostic/").status_code == 302


def test_walk_list_links_the_planner_for_those_who_may_plan(nav_app: Flask) -> None:
    html = client_as(nav_app, "lecteur").get("/diagnostic/").get_data(as_text=True)
    assert "Nouveau diagnostic" not in html and "/diagnostics/nouveau" not in html
    assert "qpv parcours" not in html
    assert f'href="/diagnostic/{nav_app.config["WALK_UID"]}"' in html
    for role in ("technicien", "administrateur"):
        html = client_as(nav_app, role).get("/diagnostic/").get_data(as_text=True)
        assert 'href="/diagnostics/nouveau" id="lien-nouveau-diagnostic"' in html, role


def test_map_config_links_walk_pages(nav_app: Flask) -> None:
    html = client_as(nav_app, "lecteur").get("/").get_data(as_text=True)
    assert '"diagnostic": "/diagnostic/"' in html


def test_new_pages_appear_in_the_header_by_their_own_rule(tmp_path_factory: pytest.TempPathFactory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A page registered later shows up for the roles its view allows only; the others are there."""
    path = demo_store_copy(tmp_path_factory, "navigation-rapports")
    app = build_app(path, path.parent / "instance")
    monkeypatch.setattr(navigation, "ENTRIES", (*navigation.ENTRIES, NavEntry("Essai", "/essai", "lecteur")))
    bp = Blueprint("essai", __name__)

    @bp.get("/essai")
    @allow("technicien", login_page=True)
    def later() -> str:
        return "<p>essai</p>"

    app.register_blueprint(bp)
    labels = {}
    for role in ROLES[1:]:
        html = client_as(app, role).get("/compte").get_data(as_text=True)
        labels[role] = [e[0] for e in _header(html).entries]
    assert "Essai" not in labels["lecteur"]
    assert labels["technicien"][-1] == "Essai"
    assert labels["administrateur"][-2:] == ["Administration", "Essai"]
    for role in ROLES[1:]:  # the quartier dashboards and the reports page are for readers and above
        assert labels[role][:5] == ["Carte", "Liste", "Diagnostics", "Quartiers", "Rapports"]
