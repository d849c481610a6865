"""Organisation scope of the technicians' writes: constats, walks, dumping events, fill readings.

On a copy of the demo-like store (Dans Ma Rue Paris, whose pilotes are city directions or
contractors, and simulated Montpellier records piloted by « Ville — … », « Bailleur social »,
« Métropole — collecte », « Police municipale »), with technicians of the city, of the
bailleur and of the EPCI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from layers.scope import SCOPE_TERRITORY, ScopeRules, may_change, record_organisations
from layers.store import open_store
from tests.webmap.security._orgs import add_walk, client, copy_store, make_app

MOSSON = {"lon": 3.82, "lat": 43.632}


@pytest.fixture(scope="module")
def copy_path(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("orgs")
    return copy_store(store_path, folder / "territoire.gpkg")


@pytest.fixture(scope="module")
def org_app(copy_path: Path) -> Flask:
    return make_app(copy_path, copy_path.parent)


@pytest.fixture(scope="module")
def territory_app(copy_path: Path) -> Flask:
    """Same store, the EPCI configured with the ``territoire`` scope."""
    return make_app(copy_path, copy_path.parent / "epci", ORGANISATION_SCOPE={"EPCI": SCOPE_TERRITORY})


@pytest.fixture
def store(copy_path: Path) -> Iterator[Any]:
    s = open_store(copy_path, create=False)
    try:
        yield s
    finally:
        s.close()


def _uid(store: Any, pilote: str, offset: int = 0) -> str:
    rows = store.read("observations", where={"pilote": pilote, "status": "transmis"}, limit=1, offset=offset)
    if rows.empty:
        rows = store.read("observations", where={"pilote": pilote}, limit=1, offset=offset)
    assert not rows.empty, pilote
    return str(rows["uid"].iloc[0])


def _patch(app: Flask, login: str, uid: str, body: dict[str, Any]) -> int:
    return int(client(app, login).patch(f"/api/observations/{uid}", json=body).status_code)


def _status(store: Any, uid: str) -> str:
    return str(store.get("observations", uid)["status"].iloc[0])


def test_bailleur_technician_cannot_change_a_city_constat(org_app: Flask, store: Any) -> None:
    uid = _uid(store, "DPE-STPP-DT")
    before, n_history = _status(store, uid), len(store.history("observations", uid))
    for status in ("traité", "en cours"):
        res = client(org_app, "bruno").patch(f"/api/observations/{uid}", json={"status": status})
        assert res.status_code == 403
        assert res.json["erreur"] == ("Ce constat relève de l'organisation « ville » : modification "
                                      "réservée à ses techniciens et aux administrateurs.")
    assert _status(store, uid) == before
    assert len(store.history("observations", uid)) == n_history
    # the city's technician and the administrator may
    assert _patch(org_app, "theo", uid, {"status": "en cours"}) == 200
    res = client(org_app, "ada").patch(f"/api/observations/{uid}", json={"status": "traité"})
    assert res.status_code == 200 and _status(store, uid) == "traité"
    hist = store.history("observations", uid)
    assert hist["changed_by"].tolist()[-2:] == ["theo (ville)", "ada (ville)"]


def test_own_pilote_and_assignment_grant_the_change(org_app: Flask, store: Any) -> None:
    own = _uid(store, "Bailleur social")
    res = client(org_app, "bruno").patch(f"/api/observations/{own}", json={"status": "en cours"})
    assert res.status_code == 200 and res.json["properties"]["status"] == "en cours"
    # a city constat assigned to the bailleur by the city
    city = _uid(store, "DVD")
    assert _patch(org_app, "bruno", city, {"status": "en cours"}) == 403
    res = client(org_app, "theo").patch(f"/api/observations/{city}", json={"assigned_to": "bailleur"})
    assert res.status_code == 200 and res.json["properties"]["assigned_to"] == "bailleur"
    res = client(org_app, "bruno").patch(f"/api/observations/{city}",
                                         json={"status": "traité", "comment": "Encombrants enlevés"})
    assert res.status_code == 200 and _status(store, city) == "traité"
    bad = client(org_app, "theo").patch(f"/api/observations/{city}", json={"assigned_to": "martiens"})
    assert bad.status_code == 400 and bad.json["champ"] == "assigned_to"


def test_author_organisation_is_set_by_the_server(org_app: Flask, store: Any) -> None:
    body = {**MOSSON, "theme": "encombrants", "description": "Matelas devant le hall B"}
    forged = client(org_app, "bruno").post("/api/observations", json={**body, "organisation": "ville"})
    assert forged.status_code == 400 and forged.json["champ"] == "organisation"
    res = client(org_app, "bruno").post("/api/observations", json=body)
    assert res.status_code == 201
    uid = res.json["uid"]
    row = store.get("observations", uid).iloc[0]
    assert row["organisation"] == "bailleur" and row["status"] == "nouveau"
    assert _patch(org_app, "bruno", uid, {"status": "transmis"}) == 200
    res = client(org_app, "theo").patch(f"/api/observations/{uid}", json={"status": "traité"})
    assert res.status_code == 403 and "« bailleur »" in res.json["erreur"]


def test_unmapped_pilote_grants_nobody_but_administrators(org_app: Flask, store: Any) -> None:
    uid = _uid(store, "graffitis")  # a Paris contractor's queue: no organisation
    for login in ("theo", "bruno", "emma"):
        res = client(org_app, login).patch(f"/api/observations/{uid}", json={"status": "en cours"})
        assert res.status_code == 403 and "aucune organisation" in res.json["erreur"], login
    assert _patch(org_app, "ada", uid, {"status": "en cours"}) == 200


def test_epci_scope_is_configurable(org_app: Flask, territory_app: Flask, store: Any) -> None:
    uid = _uid(store, "DPE-STPP-DT", offset=3)
    assert _patch(org_app, "emma", uid, {"status": "en cours"}) == 403
    assert _patch(territory_app, "emma", uid, {"status": "en cours"}) == 200
    # the territoire scope is the EPCI's only: the bailleur stays within its own records
    assert _patch(territory_app, "bruno", uid, {"status": "traité"}) == 403
    metropole = _uid(store, "Métropole — collecte")
    assert _patch(org_app, "emma", metropole, {"status": "en cours"}) == 200


def test_walk_done_by_another_organisation_is_refused(org_app: Flask, copy_path: Path, store: Any) -> None:
    uid = add_walk(copy_path, organisation="ville")
    form = {"participants": "Bailleur social, Ville", "habitants": "4"}
    res = client(org_app, "bruno").post(f"/diagnostic/{uid}/realise", data=form)
    assert res.status_code == 403 and "Ce parcours relève de l'organisation « ville »" in res.json["erreur"]
    assert store.get("diagnostics", uid)["status"].iloc[0] == "prévu"
    assert client(org_app, "theo").post(f"/diagnostic/{uid}/realise", data=form).status_code == 302
    assert store.get("diagnostics", uid)["status"].iloc[0] == "réalisé"
    # a walk whose participants name the bailleur: its technician may record it
    shared = add_walk(copy_path, organisation=None, organisations="Ville — propreté, Bailleur social")
    assert client(org_app, "bruno").post(f"/diagnostic/{shared}/realise", data=form).status_code == 302
    nobody = add_walk(copy_path, organisation=None)
    assert client(org_app, "theo").post(f"/diagnostic/{nobody}/realise", data=form).status_code == 403


def test_dumping_event_and_reading_on_another_organisation_point(org_app: Flask, store: Any) -> None:
    points = store.read("points_noirs", limit=2)
    city_point = str(points["uid"].iloc[0])
    store.update("points_noirs", city_point, {"manager": "Ville — propreté"})
    event = {"observed_at": "2024-05-02T08:30", "waste_type": "gravats", "volume_m3": 1.5}
    url = f"/api/points_noirs/{city_point}/evenements"
    before = len(store.read_children("points_noirs", "evenements", parent_uids=[city_point]))
    res = client(org_app, "bruno").post(url, json=event)
    assert res.status_code == 403 and "Ce point noir relève de l'organisation « ville »" in res.json["erreur"]
    assert len(store.read_children("points_noirs", "evenements", parent_uids=[city_point])) == before
    assert client(org_app, "theo").post(url, json=event).status_code == 201
    # the simulated bins are managed by « Métropole (simulé) »: the EPCI's
    bac = store.read("bacs", limit=1).iloc[0]
    assert bac["manager"].startswith("Métropole")
    rurl = f"/api/bacs/{bac['uid']}/releves"
    reading = {"measured_at": "2024-06-01T07:00", "fill_pct": 72}
    assert client(org_app, "theo").post(rurl, json=reading).status_code == 403
    assert client(org_app, "bruno").post(rurl, json=reading).status_code == 403
    assert client(org_app, "emma").post(rurl, json=reading).status_code == 201
    assert client(org_app, "ada").post(rurl, json={**reading, "fill_pct": 80}).status_code == 201
    assert client(org_app, "bruno").post("/api/bacs/inconnu/releves", json=reading).status_code == 404


@pytest.mark.parametrize(("pilote", "organisation"), [
    ("Ville — propreté", "ville"), ("Bailleur social", "bailleur"), ("Métropole — collecte", "EPCI"),
    ("Police municipale", "police"), ("DPE-STPP-DT", "ville"), ("DVD", "ville"),
    ("DPMP-Divisions", "police"), ("  agglo de Montpellier", "EPCI"), ("graffitis", None), ("Ramen", None),
    ("", None), (None, None), (float("nan"), None),
])
def test_pilote_table(pilote: Any, organisation: str | None) -> None:
    assert ScopeRules().organisation_of(pilote) == organisation


def test_policy_is_a_pure_function_of_record_user_and_rules() -> None:
    record = {"pilote": "Bailleur social", "organisation": None, "assigned_to": "police"}
    rules = ScopeRules()
    assert record_organisations("observations", record, rules) == ["police", "bailleur"]
    assert may_change("observations", record, role="technicien", organisation="police", rules=rules).allowed
    refused = may_change("observations", record, role="technicien", organisation="ville", rules=rules)
    assert not refused.allowed and "des organisations « police », « bailleur »" in refused.reason
    assert "leurs techniciens" in refused.reason
    custom = ScopeRules(pilote_organisations={"SMEP": "prestataire"})
    assert custom.organisation_of("SMEP") == "prestataire" and custom.organisation_of("Ville — x") is None
    with pytest.raises(ValueError, match="Portée « partout »"):
        ScopeRules(organisation_scope={"EPCI": "partout"})


def test_walk_page_offers_the_done_form_only_within_scope(org_app: Flask, copy_path: Path) -> None:
    uid = add_walk(copy_path, organisation="ville")
    page = client(org_app, "bruno").get(f"/diagnostic/{uid}").get_data(as_text=True)
    assert "Marquer comme réalisé" not in page
    assert "Ce parcours relève de l&#39;organisation « ville »" in page
    page = client(org_app, "theo").get(f"/diagnostic/{uid}").get_data(as_text=True)
    assert "Marquer comme réalisé" in page and "Ce parcours relève" not in page
