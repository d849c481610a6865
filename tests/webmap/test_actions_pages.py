"""The plan d'actions page ``/actions``, the walk → plan section of the walk page, the compte-rendu.

A copy of the demo store (real Montpellier streets) holds a walk in Mosson with four
constats recorded through the API, the Montbéliard convention, and actions created through
the services of :mod:`layers.actions` (late, without délai, simulated, another quartier).
The expected rows are computed from the store with pandas, not written by hand.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask

from layers.actions import create_action
from layers.store import open_store
from layers.walk_actions import walk_action_plan
from layers.walks import walk_report_data
from tests.walkdemo import demo_store_copy
from tests.webmap._actions_fixture import CONSTATS, WalkWithConstats, prepare
from tests.webmap.security._fixtures import build_app, client_as
from webmap.documents import render_walk_report_html

TODAY = date.today()


@dataclass(frozen=True)
class Site:
    app: Flask
    walk: WalkWithConstats
    late: str  # uid of the late action
    undated: str  # uid of the action without délai
    simulated: str
    elsewhere: str  # an action of another quartier


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = demo_store_copy(tmp_path_factory, "actions-pages")
    app = build_app(path, path.parent / "instance")
    walk = prepare(path, app)
    store = open_store(path, create=False)
    try:
        late = create_action(store, {
            "title": "Enlèvement des encombrants <i>rue</i> & « cour »", "quartier": walk.quartier,
            "deadline": (TODAY - timedelta(days=20)).isoformat(), "etat": "engagée",
            "pilote": "Bailleur ACM Habitat", "partenaires": "Ville, Métropole",
            "convention": "pays-de-montbeliard-2025-2030", "orientation": "1",
        }, organisation="ville", actor="tiago", constats=[walk.constats[0]])
        undated = create_action(store, {"title": "Réparer l'éclairage", "quartier": walk.quartier,
                                        "pilote": "Métropole", "etat": "à engager"},
                                organisation="ville", actor="tiago")
        simulated = create_action(store, {"title": "Action de démonstration", "quartier": walk.quartier,
                                          "deadline": (TODAY + timedelta(days=30)).isoformat(),
                                          "etat": "réalisée", "simulated": True, "pilote": "Ville"},
                                  organisation="ville", actor="tiago")
        elsewhere = create_action(store, {"title": "Action à Figuerolles", "quartier": "QP034010",
                                          "pilote": "Ville"}, organisation="ville", actor="tiago")
    finally:
        store.close()
    yield Site(app, walk, late["uid"], undated["uid"], simulated["uid"], elsewhere["uid"])


def _page(site: Site, role: str) -> str:
    return client_as(site.app, role).get(f"/actions?quartier={site.walk.quartier}").get_data(as_text=True)


def _config(page: str) -> dict:
    match = re.search(r'<script id="ac-config" type="application/json">(.*?)</script>', page, re.S)
    assert match, "données de la page absentes"
    return json.loads(match.group(1))


def _row(page: str, uid: str) -> str:
    match = re.search(rf'<tr class="ac-ligne[^"]*" id="ac-ligne-{uid}".*?</tr>', page, re.S)
    assert match, f"ligne {uid} absente"
    return match.group(0)


def test_roles(site: Site) -> None:
    q = site.walk.quartier
    anon = site.app.test_client().get(f"/actions?quartier={q}")
    assert anon.status_code == 302 and "/connexion" in anon.headers["Location"]
    reader = client_as(site.app, "lecteur").get(f"/actions?quartier={q}").get_data(as_text=True)
    tech = client_as(site.app, "technicien").get(f"/actions?quartier={q}").get_data(as_text=True)
    assert "Consultation seule" in reader and 'class="ac-modifier"' not in reader
    assert 'id="ac-nouvelle"' not in reader and _config(reader)["canEdit"] is False
    assert 'class="ac-modifier"' in tech and 'id="ac-nouvelle"' in tech and _config(tech)["canEdit"] is True
    assert 'href="/actions"' in tech  # the header entry « Plan d'actions »
    assert ">Plan d&#39;actions</a>" in tech or ">Plan d'actions</a>" in tech


def test_rows_follow_the_store(site: Site) -> None:
    q = site.walk.quartier
    store = open_store(site.app.config["STORE"], create=False)
    try:
        expected = set(store.read("actions", where={"quartier": q})["uid"])
    finally:
        store.close()
    page = client_as(site.app, "lecteur").get(f"/actions?quartier={q}").get_data(as_text=True)
    shown = set(re.findall(r'id="ac-ligne-([^"]+)"', page))
    assert shown == expected and site.elsewhere not in shown
    assert {r["uid"] for r in _config(page)["actions"]} == expected
    everything = client_as(site.app, "lecteur").get("/actions").get_data(as_text=True)
    assert site.elsewhere in set(re.findall(r'id="ac-ligne-([^"]+)"', everything))


def test_late_undated_and_simulated_rows(site: Site) -> None:
    page = _page(site, "lecteur")
    deadline = (TODAY - timedelta(days=20)).strftime("%d/%m/%Y")
    late = _row(page, site.late)
    assert f"en retard depuis le {deadline}" in late and "ac-en-retard" in late
    undated = _row(page, site.undated)
    assert "sans délai" in undated and "en retard" not in undated
    assert "simulé" in _row(page, site.simulated) and "simulé" not in late
    # the late action answers one constat: it is on the map with its action
    config = _config(page)
    constat = next(c for c in config["constats"] if c["uid"] == site.walk.constats[0])
    assert constat["actions"] == [site.late] and len(constat["lonlat"]) == 2
    assert "Sans localisation" in page  # none of these actions was placed


def test_filters(site: Site) -> None:
    reader = client_as(site.app, "lecteur")
    q = site.walk.quartier
    mine = {site.late, site.undated, site.simulated, site.elsewhere}

    def shown(query: str) -> set[str]:
        r = reader.get(f"/actions?quartier={q}&{query}")
        assert r.status_code == 200, r.get_data(as_text=True)
        # the demo store has its own (simulated) plan in Mosson: only this test's actions count
        return set(re.findall(r'id="ac-ligne-([^"]+)"', r.get_data(as_text=True))) & mine

    assert shown("etat=engagée") == {site.late}
    assert shown("etat=réalisée&etat=à+engager") == {site.simulated, site.undated}
    assert shown("en_retard=1") == {site.late}
    assert shown("pilote=acm+HABITAT") == {site.late}  # folded: case
    assert shown("pilote=metropole") == {site.undated}  # folded: accents
    assert shown("partenaire=métropole") == {site.late}
    assert shown("orientation=1") == {site.late}
    assert shown(f"debut={TODAY.isoformat()}&fin={TODAY.isoformat()}") >= {site.late, site.undated}
    assert shown(f"debut={(TODAY + timedelta(days=1)).isoformat()}") == set()


@pytest.mark.parametrize(("query", "field"), [("etat=fini", "etat"), ("debut=12/05/2026", "debut"),
                                              ("debut=2026-05-12&fin=2026-01-01", "fin")])
def test_bad_filters_answer_400_in_french(site: Site, query: str, field: str) -> None:
    r = client_as(site.app, "lecteur").get(f"/actions?{query}")
    text = r.get_data(as_text=True)
    assert r.status_code == 400 and f"Paramètre « {field} »" in html.unescape(text)
    assert 'id="ac-erreur"' in text and 'id="ac-ligne-' not in text


def test_user_text_is_escaped(site: Site) -> None:
    page = _page(site, "technicien")
    assert "<i>rue</i>" not in page and "&lt;i&gt;rue&lt;/i&gt;" in page
    assert "<script>alert" not in page
    raw = re.search(r'<script id="ac-config" type="application/json">(.*?)</script>', page, re.S).group(1)
    assert "<" not in raw and "\\u003ci\\u003erue" in raw
    walk = client_as(site.app, "lecteur").get(f"/diagnostic/{site.walk.walk_uid}").get_data(as_text=True)
    section = walk[walk.index('id="dg-plan"'):walk.index('id="dg-config"')]
    assert "<b>abandonné</b>" not in section and "&lt;b&gt;abandonné&lt;/b&gt;" in section
    assert "<script>alert" not in section


def test_walk_page_builds_the_plan(site: Site) -> None:
    uid, constats = site.walk.walk_uid, site.walk.constats
    reader = client_as(site.app, "lecteur").get(f"/diagnostic/{uid}").get_data(as_text=True)
    assert "Constats et plan d&#39;actions" in reader or "Constats et plan d'actions" in reader
    assert "Construire le plan d" not in reader  # read-only for a lecteur
    tech = client_as(site.app, "technicien")
    page = tech.get(f"/diagnostic/{uid}").get_data(as_text=True)
    assert "Construire le plan d" in page and page.count('name="constat"') == len(CONSTATS)
    options = set(re.findall(r'<option value="([^"|]+)">', page[page.index('id="dg-pa-action"'):]))
    assert site.late in options and site.elsewhere not in options  # the quartier's actions only
    assert site.undated in options and site.simulated not in options  # open ones (this one is réalisée)
    body = {"propositions": [
        {"constats": [constats[2]], "title": "Remplacer le lampadaire", "pilote": "Métropole",
         "origine": "défaut d'entretien", "response_type": "gestion"},
        {"action": site.late, "constats": [constats[1]]}]}
    r = tech.post(f"/api/diagnostics/{uid}/actions", json=body)
    assert r.status_code == 201, r.get_data(as_text=True)
    store = open_store(site.app.config["STORE"], create=False)
    try:
        late_ref = store.get("actions", site.late).iloc[0]["reference"]
        created = store.read("actions", where={"walk_id": uid})
    finally:
        store.close()
    assert len(created) == 1 and created.iloc[0]["quartier"] == site.walk.quartier
    page = tech.get(f"/diagnostic/{uid}").get_data(as_text=True)
    items = dict(re.findall(r'<li data-uid="([^"]+)">(.*?)</li>', page, re.S))
    assert f"Action : {late_ref}" in items[constats[0]] and f"Action : {late_ref}" in items[constats[1]]
    assert f"Action : {created.iloc[0]['reference']}" in items[constats[2]]
    assert "Aucune action" in items[constats[3]]


def test_compte_rendu_has_the_plan(site: Site) -> None:
    uid = site.walk.walk_uid
    store = open_store(site.app.config["STORE"], create=False)
    try:
        record, observations, _ = walk_report_data(store, uid)
        plan = walk_action_plan(store, uid, constats=observations)
        actions = store.read("actions")
    finally:
        store.close()
    # the plan: actions created from the walk or answering one of its constats
    assert {a["uid"] for a in plan} >= {site.late}
    assert site.undated not in {a["uid"] for a in plan} and site.elsewhere not in {a["uid"] for a in plan}
    page = html.unescape(render_walk_report_html(record, observations, plan=plan))
    assert "Plan d'actions" in page and "Aucune action :" not in page
    for a in plan:
        ref = actions.loc[actions["uid"] == a["uid"], "reference"].iloc[0]
        assert ref in page
    late = next(a for a in plan if a["uid"] == site.late)
    assert any("Canapé" in c for c in late["constats"])
    empty = html.unescape(render_walk_report_html(record, observations, plan=[]))
    assert "Aucune action" in empty
    r = client_as(site.app, "lecteur").get(f"/diagnostic/{uid}/compte-rendu.pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")



def test_export_links_keep_the_filters(site: Site) -> None:
    """The exports (blueprint ``action_exports``) are linked with the page's filters."""
    page = client_as(site.app, "lecteur").get(
        f"/actions?quartier={site.walk.quartier}&etat=engagée&etat=reportée&pilote=ACM").get_data(as_text=True)
    links = html.unescape(page[page.index('id="ac-telechargements"'):])
    for name in ("annexe1.xlsx", "annexe1.ods", "annexe1.pdf", "suivi.xlsx", "suivi.ods", "suivi.pdf"):
        pattern = rf'href="/actions/{re.escape(name)}\?quartier={site.walk.quartier}&[^"]*pilote=ACM'
        assert re.search(pattern, links), name
    assert "etat=engag%C3%A9e%2Creport%C3%A9e" in links
    r = client_as(site.app, "lecteur").get(re.search(r'href="(/actions/suivi\.xlsx[^"]*)"', links).group(1))
    assert r.status_code == 200


def test_cli_compte_rendu_has_the_plan(site: Site, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from webmap.cli import main

    uid = site.walk.walk_uid
    args = ["--entrepot", site.app.config["STORE"], "diagnostic", "compte-rendu", uid,
            "--sortie", str(tmp_path), "--sans-pdf"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    page = html.unescape((tmp_path / f"compte-rendu-{uid[:8]}.html").read_text(encoding="utf-8"))
    store = open_store(site.app.config["STORE"], create=False)
    try:
        late = store.get("actions", site.late).iloc[0]
    finally:
        store.close()
    plan = page[page.index("<h2>Plan d'actions</h2>"):page.index("<h2>Par pilote</h2>")]
    assert late["reference"] in plan and "Enlèvement des encombrants <i>rue</i>" in plan
    # the orientation is named from the stored convention, not only by its code
    assert f"{late['orientation']}. " in plan


def test_long_plan_says_what_it_leaves_out(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond ``MAX_ROWS`` the page shows the late actions first and says how many it leaves out."""
    from webmap import actions_pages

    store = open_store(site.app.config["STORE"], create=False)
    try:  # the module's other tests may have added actions: count them in the store
        total = int((store.read("actions")["quartier"] == site.walk.quartier).sum())
    finally:
        store.close()
    assert total >= 3
    monkeypatch.setattr(actions_pages, "MAX_ROWS", 1)
    reader, url = client_as(site.app, "lecteur"), f"/actions?quartier={site.walk.quartier}"
    page = reader.get(url).get_data(as_text=True)
    shown = re.findall(r'id="ac-ligne-([^"]+)"', page)
    assert len(shown) == 1 and "en retard depuis le" in _row(page, shown[0])  # late first
    assert f"Seules les 1 premières actions sur {total} sont affichées" in page
    assert f"{total} action(s), dont" in page and "(parmi les actions affichées)" in page
    monkeypatch.setattr(actions_pages, "MAX_ROWS", 300)
    full = reader.get(url).get_data(as_text=True)
    assert 'id="ac-tronque"' not in full and len(re.findall(r'id="ac-ligne-', full)) == total
