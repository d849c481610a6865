# mypy: disable-error-code="index, union-attr"
"""Who may call what: the expected status of every route of the app, for every role.

One row per representative request: the rule of ``app.url_map`` it exercises, the URL
(``{obs}``, ``{cam}``… are real uids of the demo store), an optional body, and the status
expected for anonyme, lecteur, technicien and administrateur. A route of the app without
a row fails :func:`test_every_route_has_a_row`; every cell runs through the Flask test
client. Adding a route: add one ``Row(...)`` line.

Writes are sent with a body that passes the access checks and fails validation (400), so
the store is not changed by the table.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from layers.actions import create_action
from layers.store import open_store
from tests.walkdemo import demo_store_copy, plan_mosson_walk
from tests.webmap.security._fixtures import PASSWORD, ROLES, build_app, client_as, png
from webmap import users


@dataclass(frozen=True)
class Row:
    """A representative request of ``rule`` and its status for the four roles, in ROLES order."""

    method: str
    rule: str
    url: str
    status: tuple[int, int, int, int]
    json: Any = None
    data: Any = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.url}"


ALL_200 = (200, 200, 200, 200)
TECH_ONLY = (404, 404, 200, 200)  # confidential layer: unknown (404) below technicien
WRITE = (401, 403, 400, 400)  # technicien write: the body then fails validation
READER = (401, 200, 200, 200)
READER_PAGE = (302, 200, 200, 200)  # anonymous visitors are sent to the login page
ADMIN_ONLY_404 = (401, 403, 403, 404)  # administrateur: the account does not exist
DAY = "start=2024-03-01&end=2024-03-02"

TABLE: tuple[Row, ...] = (
    Row("GET", "/", "/", ALL_200),
    Row("GET", "/liste", "/liste", (302, 302, 302, 302)),
    Row("GET", "/connexion", "/connexion", ALL_200),
    Row("POST", "/connexion", "/connexion", (400, 401, 401, 401), data={"login": "x", "password": "y"}),
    Row("POST", "/deconnexion", "/deconnexion", (302, 302, 302, 302)),
    Row("GET", "/api/session", "/api/session", ALL_200),
    Row("GET", "/api/users", "/api/users", (401, 403, 403, 200)),
    Row("GET", "/api/layers", "/api/layers", ALL_200),
    Row("GET", "/api/layers/<layer>/features", "/api/layers/observations/features?limit=5", ALL_200),
    Row("GET", "/api/layers/<layer>/features", "/api/layers/videoprotection/features?limit=5", TECH_ONLY),
    Row("GET", "/api/layers/<layer>/features/<uid>", "/api/layers/observations/features/{obs}", ALL_200),
    Row("GET", "/api/layers/<layer>/features/<uid>", "/api/layers/videoprotection/features/{cam}", TECH_ONLY),
    Row("GET", "/api/layers/<layer>/stats", f"/api/layers/observations/stats?{DAY}", ALL_200),
    Row("GET", "/api/layers/<layer>/stats", "/api/layers/videoprotection/stats", TECH_ONLY),
    Row("GET", "/api/layers/<layer>/export.<fmt>", f"/api/layers/observations/export.csv?{DAY}", ALL_200),
    Row("GET", "/api/layers/<layer>/export.<fmt>", "/api/layers/videoprotection/export.geojson", TECH_ONLY),
    Row("POST", "/api/observations", "/api/observations", WRITE, json={}),
    Row("GET", "/api/observations/<uid>", "/api/observations/{obs}", ALL_200),
    Row("PATCH", "/api/observations/<uid>", "/api/observations/{obs}", WRITE, json={}),
    Row("GET", "/api/observations/<uid>/history", "/api/observations/{obs}/history", ALL_200),
    Row("POST", "/api/observations/<uid>/doublon", "/api/observations/{obs}/doublon", WRITE, json={}),
    Row("GET", "/api/adresses/proche", "/api/adresses/proche?lon=3.82&lat=43.632", ALL_200),
    Row("GET", "/api/constats/choix", "/api/constats/choix", (401, 403, 200, 200)),
    Row("POST", "/api/points_noirs/<uid>/evenements", "/api/points_noirs/{pn}/evenements", WRITE, json={}),
    Row("POST", "/api/bacs/<uid>/releves", "/api/bacs/{bac}/releves", WRITE, json={}),
    Row("GET", "/api/lookup", "/api/lookup?lon=2.3899&lat=48.8701", ALL_200),
    # the basemap is public; not built in this store: 404 for everybody (tests/webmap/test_basemap.py)
    Row("GET", "/fond/<int:z>/<int:x>/<int:y>.<ext>", "/fond/14/8301/5634.mvt", (404, 404, 404, 404)),
    Row("GET", "/api/adresses", "/api/adresses?q=rue+des+pyrenees", ALL_200),
    Row("GET", "/api/points_noirs/<uid>/evenements", "/api/points_noirs/{pn}/evenements", ALL_200),
    Row("GET", "/api/bacs/<uid>/releves", "/api/bacs/{bac}/releves", ALL_200),
    Row("GET", "/api/bacs/<uid>/levees", "/api/bacs/{bac}/levees", ALL_200),
    # follow-up filters: accounts only
    Row("GET", "/api/layers/<layer>/features", "/api/layers/observations/features?limit=5&suivi=en-retard",
        (403, 200, 200, 200)),
    Row("GET", "/photos/<name>", "/photos/{photo}", READER),
    Row("GET", "/diagnostic/", "/diagnostic/", READER_PAGE),
    Row("GET", "/diagnostic/<uid>", "/diagnostic/{walk}", READER_PAGE),
    Row("GET", "/diagnostic/<uid>/route.geojson", "/diagnostic/{walk}/route.geojson", READER),
    Row("GET", "/diagnostic/<uid>/route.gpx", "/diagnostic/{walk}/route.gpx", READER),
    Row("GET", "/diagnostic/<uid>/feuille.pdf", "/diagnostic/{walk}/feuille.pdf", READER),
    Row("GET", "/diagnostic/<uid>/compte-rendu.pdf", "/diagnostic/{walk}/compte-rendu.pdf", READER),
    Row("POST", "/diagnostic/<uid>/realise", "/diagnostic/{walk}/realise", WRITE, data={"participants": ""}),
    Row("GET", "/diagnostic/sw.js", "/diagnostic/sw.js", ALL_200),
    Row("GET", "/diagnostic/ping", "/diagnostic/ping", (204, 204, 204, 204)),
    Row("GET", "/quartiers", "/quartiers", READER_PAGE),
    Row("GET", "/actions", "/actions?quartier=QP034005", READER_PAGE),
    Row("GET", "/quartiers/comparaison.<fmt>", "/quartiers/comparaison.csv", READER),
    Row("GET", "/quartiers/<code>", "/quartiers/QP075019", READER_PAGE),
    Row("GET", "/quartiers/<code>/<table>.<fmt>", "/quartiers/QP075019/indicateurs.xlsx", READER),
    Row("GET", "/tfpb", "/tfpb", READER_PAGE),
    Row("GET", "/api/diagnostics/candidats", "/api/diagnostics/candidats?quartier=QP034005",
        (401, 403, 200, 200)),
    Row("POST", "/api/diagnostics/apercu", "/api/diagnostics/apercu", WRITE,
        json={"quartier": "QP034005", "start": "3.82,43.6321", "duration_min": 5}),
    Row("POST", "/api/diagnostics", "/api/diagnostics", WRITE,
        json={"quartier": "QP034005", "start": "3.82,43.6321", "groups": 9}),
    Row("GET", "/diagnostics/nouveau", "/diagnostics/nouveau", (302, 403, 200, 200)),
    Row("GET", "/ogc", "/ogc", ALL_200),
    Row("GET", "/ogc/", "/ogc/", ALL_200),
    Row("GET", "/ogc/conformance", "/ogc/conformance", ALL_200),
    Row("GET", "/ogc/collections", "/ogc/collections", ALL_200),
    Row("GET", "/ogc/collections/<cid>", "/ogc/collections/observations", ALL_200),
    Row("GET", "/ogc/collections/<cid>", "/ogc/collections/videoprotection", TECH_ONLY),
    Row("GET", "/ogc/collections/<cid>/items", "/ogc/collections/observations/items?limit=2", ALL_200),
    Row("GET", "/ogc/collections/<cid>/items", "/ogc/collections/videoprotection/items?limit=2", TECH_ONLY),
    Row("GET", "/ogc/collections/<cid>/items/<fid>", "/ogc/collections/observations/items/{obs}", ALL_200),
    Row("GET", "/ogc/collections/<cid>/items/<fid>", "/ogc/collections/videoprotection/items/{cam}",
        TECH_ONLY),
    Row("GET", "/open311/v2/services.json", "/open311/v2/services.json", ALL_200),
    Row("GET", "/open311/v2/requests.json", "/open311/v2/requests.json?limit=2", ALL_200),
    # Open311 intake: the user is the owner of the body's api_key, whatever the session
    Row("POST", "/open311/v2/requests.json", "/open311/v2/requests.json", (401, 401, 401, 401),
        data={"service_code": "voirie"}),
    Row("POST", "/open311/v2/requests.json", "/open311/v2/requests.json", (403, 403, 403, 403),
        data={"api_key": "{reader_key}", "service_code": "voirie"}),
    Row("POST", "/open311/v2/requests.json", "/open311/v2/requests.json", (400, 400, 400, 400),
        data={"api_key": "{tech_key}", "service_code": "licornes"}),
    Row("GET", "/open311/v2/requests/<rid>.json", "/open311/v2/requests/{obs}.json", ALL_200),
    Row("GET", "/openapi.json", "/openapi.json", ALL_200),
    Row("GET", "/compte", "/compte", READER_PAGE),
    Row("POST", "/compte/mot-de-passe", "/compte/mot-de-passe", (401, 400, 400, 400),
        data={"old_password": "faux", "password": "x", "confirmation": "y"}),
    Row("GET", "/admin/comptes", "/admin/comptes", (302, 403, 403, 200)),
    Row("GET", "/administration/comptes", "/administration/comptes", (301, 301, 301, 301)),
    Row("POST", "/admin/comptes", "/admin/comptes", (401, 403, 403, 400),
        data={"login": "inconnu-x", "role": "chef", "organisation": "ville", "password": "x",
              "confirmation": "x"}),
    Row("POST", "/admin/comptes/<login>/role", "/admin/comptes/inconnu-x/role", ADMIN_ONLY_404,
        data={"role": "lecteur", "organisation": "ville"}),
    Row("POST", "/admin/comptes/<login>/desactiver", "/admin/comptes/inconnu-x/desactiver",
        ADMIN_ONLY_404),
    Row("POST", "/admin/comptes/<login>/reactiver", "/admin/comptes/inconnu-x/reactiver",
        ADMIN_ONLY_404),
    Row("POST", "/admin/comptes/<login>/mot-de-passe",
        "/admin/comptes/inconnu-x/mot-de-passe", (401, 403, 403, 400), data={"password": "x"}),
    Row("POST", "/admin/comptes/<login>/cle-api", "/admin/comptes/inconnu-x/cle-api",
        ADMIN_ONLY_404),
    Row("POST", "/api/jobs", "/api/jobs", (401, 400, 400, 400), json={"kind": "rapport", "params": {}}),
    Row("GET", "/api/jobs", "/api/jobs", READER),
    Row("GET", "/api/jobs/<job_id>", "/api/jobs/0123abcd", (401, 404, 404, 404)),
    Row("GET", "/api/jobs/<job_id>/resultat", "/api/jobs/0123abcd/resultat", (401, 404, 404, 404)),
    Row("GET", "/rapports", "/rapports", READER_PAGE),
    Row("GET", "/rapports/<rapport_id>/<fmt>", "/rapports/20240101-000000-rapport-x-abcdef/pdf",
        (401, 404, 404, 404)),
    Row("POST", "/rapports/<rapport_id>/supprimer", "/rapports/20240101-000000-rapport-x-abcdef/supprimer",
        ADMIN_ONLY_404),
    Row("GET", "/admin/imports", "/admin/imports", (302, 403, 403, 200)),
    Row("POST", "/admin/imports/fichiers", "/admin/imports/fichiers", (401, 403, 403, 400), data={}),
    Row("GET", "/admin/imports/correspondance", "/admin/imports/correspondance", (401, 403, 403, 400)),
    Row("POST", "/admin/imports/apercu", "/admin/imports/apercu", (401, 403, 403, 400), json={}),
    Row("GET", "/admin/imports/journal", "/admin/imports/journal", (401, 403, 403, 200)),
    Row("GET", "/api/actions", "/api/actions?etat=engagée", READER),
    Row("POST", "/api/actions", "/api/actions", WRITE, json={}),
    Row("GET", "/api/actions/<uid>", "/api/actions/{act}", READER),
    Row("PATCH", "/api/actions/<uid>", "/api/actions/{act}", WRITE, json={}),
    Row("POST", "/api/actions/<uid>/constats", "/api/actions/{act}/constats", WRITE, json={}),
    Row("DELETE", "/api/actions/<uid>/constats/<constat_uid>", "/api/actions/{act}/constats/{obs}",
        (401, 403, 404, 404)),  # not linked
    Row("POST", "/api/diagnostics/<walk_uid>/actions", "/api/diagnostics/{walk}/actions", WRITE, json={}),
    Row("GET", "/api/conventions", "/api/conventions", READER),
    Row("GET", "/api/conventions/<code>", "/api/conventions/inconnue", (401, 404, 404, 404)),
    Row("GET", "/actions/annexe1.<fmt>", "/actions/annexe1.xlsx", READER),
    Row("GET", "/actions/suivi.<fmt>", "/actions/suivi.ods?etat=engagée", READER),
    Row("GET", "/tfpb/bilan.xlsx", "/tfpb/bilan.xlsx?bailleur=ACM%20Habitat&annee=2024", READER),
    Row("GET", "/tfpb/bilan.<fmt>", "/tfpb/bilan.ods?bailleur=ACM%20Habitat&annee=2024", READER),
    Row("GET", "/quartiers/<code>/copil.pdf", "/quartiers/QP000000/copil.pdf", (401, 404, 404, 404)),
)


@pytest.fixture(scope="module")
def table_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Flask, dict[str, str]]:
    """An app on a copy of the demo store with a planned walk, a photo and two API keys."""
    path = demo_store_copy(tmp_path_factory, "access-table")
    walk = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=path.parent / "instance" / "cache").uid
    store = open_store(path)
    try:
        ids = {
            "obs": store.read("observations", limit=1)["uid"].iloc[0],
            "pn": store.read("points_noirs", limit=1)["uid"].iloc[0],
            "bac": store.read("bacs", limit=1)["uid"].iloc[0],
            "cam": store.read("videoprotection", limit=1)["uid"].iloc[0],
            "walk": walk,
            "act": create_action(store, {"title": "Nettoyage de la dalle"}, organisation="ville",
                                 actor="tests")["uid"],
        }
    finally:
        store.close()
    app = build_app(path, path.parent / "instance")
    db = app.config["USERS_DB"]
    ids["reader_key"] = users.add_user(db, "cle-lecteur", PASSWORD, role="lecteur",
                                       organisation="association")[1]
    ids["tech_key"] = users.add_user(db, "cle-ville", PASSWORD, role="technicien", organisation="ville")[1]
    tech = client_as(app, "technicien")
    created = tech.post("/api/observations", data={
        "lon": "2.4099", "lat": "48.8601", "theme": "voirie", "photos": (io.BytesIO(png()), "trou.png")})
    assert created.status_code == 201, created.json
    ids["photo"] = tech.get(f"/api/observations/{created.json['uid']}").json["properties"]["photos"][0]
    return app, {k: str(v) for k, v in ids.items()}


def _rules(app: Flask) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}


def test_every_route_has_a_row(table_app: tuple[Flask, dict[str, str]]) -> None:
    app, _ = table_app
    covered = {(row.method, row.rule) for row in TABLE}
    missing = sorted(_rules(app) - covered)
    assert not missing, f"routes without a row in TABLE: {missing}"
    assert not covered - _rules(app), f"rows of routes that do not exist: {sorted(covered - _rules(app))}"


def test_every_route_declares_its_rule(table_app: tuple[Flask, dict[str, str]]) -> None:
    """The level is declared at the decorator (webmap.access.allow), not checked in the view."""
    app, _ = table_app
    unguarded = sorted(ep for ep, view in app.view_functions.items()
                       if ep != "static" and not hasattr(view, "_qpv_rule"))
    assert unguarded == []


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.key)
def test_access_table(table_app: tuple[Flask, dict[str, str]], row: Row) -> None:
    app, ids = table_app
    url = row.url.format(**ids)
    data = {k: v.format(**ids) for k, v in row.data.items()} if row.data is not None else None
    got = {}
    for role in ROLES:
        res = client_as(app, role).open(url, method=row.method, json=row.json, data=data)
        got[role] = res.status_code
        if res.status_code >= 400 and res.mimetype == "application/json":
            assert res.json.get("erreur"), (role, res.json)  # a French message, never a bare code
        res.close()
    assert got == dict(zip(ROLES, row.status, strict=True)), url

