"""Services of the plan d'actions (layers.actions), on real Paris constats, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point

from layers.actions import (
    ActionQuery,
    action_links,
    actions_from_walk,
    create_action,
    link_constats,
    next_reference,
    read_actions,
    unlink_constat,
    update_action,
)
from layers.conventions import import_convention, load_convention
from layers.errors import NotFoundError, RecordError
from layers.importer import ImportOptions, import_file
from layers.schema import ACTION_ORIGINS
from layers.scope import ScopeRules, may_change, record_organisations
from layers.settings import REPO_ROOT, Settings
from layers.store import LayerStore

MONTBELIARD = REPO_ROOT / "data" / "conventions" / "pays-de-montbeliard-2025-2030.yaml"
N_CONSTATS = 200


@pytest.fixture
def constats_store(paris_store: LayerStore, shared_data: Path, tmp_path: Path) -> Iterator[LayerStore]:
    """The Paris store with the first real DansMaRue reports (constats « transmis »)."""
    lines = (shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv").read_text(
        encoding="utf-8").splitlines(keepends=True)
    sample = tmp_path / "dansmarue.csv"
    sample.write_text("".join(lines[:N_CONSTATS + 1]), encoding="utf-8")
    result = import_file(paris_store, sample, options=ImportOptions(mapping="dansmarue"))
    assert result.n_inserted == N_CONSTATS
    yield paris_store


def _constats(store: LayerStore, n: int) -> list[str]:
    return store.read("observations", limit=n, order_by="observed_at")["uid"].astype(str).tolist()


def test_action_without_geometry_gets_reference_and_history(constats_store: LayerStore) -> None:
    action = create_action(constats_store, {"title": "Renforcer le nettoiement", "quartier": "QP075019",
                                            "decided_at": "2026-03-02"},
                           organisation="ville", actor="marie")
    assert action["geometry"] is None
    assert action["reference"] == "QP075019-2026-001"
    assert action["organisation"] == "ville" and action["etat"] == "à engager"
    second = create_action(constats_store, {"title": "Autre", "quartier": "QP075019",
                                            "decided_at": "2026-05-02", "organisation": "bailleur"},
                           organisation="ville", actor="marie")
    assert second["reference"] == "QP075019-2026-002"
    assert second["organisation"] == "ville"  # never from the data
    assert next_reference(constats_store, quartier="QP075019", year=2026) == "QP075019-2026-003"
    assert next_reference(constats_store, quartier=None, year=2027) == "PLAN-2027-001"
    update_action(constats_store, action["uid"], {"etat": "engagée"}, actor="paul", comment="lancée")
    update_action(constats_store, action["uid"], {"etat": "reportée", "delay_causes": "marché"},
                  actor="paul")
    history = constats_store.history("actions", action["uid"])
    assert history["status"].tolist() == ["à engager", "engagée", "reportée"]
    assert history["comment"].tolist()[1] == "lancée"


def test_reference_unique_and_origine_checked(constats_store: LayerStore) -> None:
    create_action(constats_store, {"title": "A", "reference": "REF-1"}, organisation=None, actor=None)
    with pytest.raises(RecordError) as exc:
        create_action(constats_store, {"title": "B", "reference": "REF-1"}, organisation=None, actor=None)
    assert exc.value.field == "reference"
    other = create_action(constats_store, {"title": "C"}, organisation=None, actor=None)
    with pytest.raises(RecordError) as exc:
        update_action(constats_store, other["uid"], {"reference": "REF-1"}, actor=None)
    assert exc.value.field == "reference"
    with pytest.raises(RecordError) as exc:
        create_action(constats_store, {"title": "D", "origine": "météo"}, organisation=None, actor=None)
    assert exc.value.field == "origine" and "défaut d'entretien" in str(exc.value)
    settings = Settings(action_origins=("usage", "gestion"))
    with pytest.raises(RecordError, match="usage, gestion"):
        create_action(constats_store, {"title": "E", "origine": "conception"}, organisation=None,
                      actor=None, settings=settings)
    ok = create_action(constats_store, {"title": "F", "origine": "DÉFAUT D'ENTRETIEN"},
                       organisation=None, actor=None)
    assert ok["origine"] == "défaut d'entretien" and "défaut d'entretien" in ACTION_ORIGINS


def test_origines_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPV_ACTION_ORIGINES", "usage ; incivilité;; usage")
    assert Settings().action_origins == ("usage", "incivilité")
    monkeypatch.delenv("QPV_ACTION_ORIGINES")
    assert Settings().action_origins == ACTION_ORIGINS


def test_convention_codes_checked(constats_store: LayerStore) -> None:
    convention = load_convention(MONTBELIARD)
    with pytest.raises(RecordError) as exc:
        create_action(constats_store, {"title": "A", "convention": convention.code},
                      organisation=None, actor=None)
    assert exc.value.field == "convention"  # not imported yet
    import_convention(constats_store, convention)
    orientation = convention.orientations[0]
    general = orientation.objectifs_generaux[0]
    action = create_action(constats_store, {"title": "A", "convention": convention.code,
                                            "orientation": orientation.code,
                                            "objectif": general.code, "axe": convention.axes[0].code},
                           organisation=None, actor=None)
    assert action["orientation"] == orientation.code
    for name, value in (("orientation", "99"), ("objectif", f"{orientation.code}.99"), ("axe", "99")):
        with pytest.raises(RecordError) as exc:
            create_action(constats_store, {"title": "B", "convention": convention.code, name: value},
                          organisation=None, actor=None)
        assert exc.value.field == name
    with pytest.raises(RecordError) as exc:
        update_action(constats_store, action["uid"], {"orientation": "99"}, actor=None)
    assert exc.value.field == "orientation"
    assert not convention.tfpb_axes  # Montbéliard has no TFPB programme: any axe is refused
    with pytest.raises(RecordError) as exc:
        update_action(constats_store, action["uid"], {"tfpb_axe": "3"}, actor=None)
    assert exc.value.field == "tfpb_axe"
    lillers = load_convention(MONTBELIARD.with_name("lillers-2023.yaml"))
    import_convention(constats_store, lillers)
    tfpb = update_action(constats_store, action["uid"], {"convention": lillers.code, "orientation": None,
                                                         "objectif": None, "axe": "7", "tfpb_axe": "3"},
                         actor=None)
    assert tfpb["tfpb_axe"] == "3" and tfpb["convention"] == lillers.code


def test_realised_action_treats_its_open_constats(constats_store: LayerStore) -> None:
    uids = _constats(constats_store, 4)
    constats_store.update("observations", uids[3], {"status": "clos non traité"}, actor="x")
    point = constats_store.read("observations", uids=[uids[0]]).geometry.iloc[0]
    action = create_action(constats_store, {"title": "Enlèvement des dépôts", "geometry": point},
                           organisation="ville", actor="marie", constats=uids)
    assert sorted(action["constats"]) == sorted(uids)
    assert action["geometry"].distance(point) < 0.01
    assert (constats_store.read("observations", uids=uids)["status"] != "traité").all()
    update_action(constats_store, action["uid"], {"etat": "réalisée"}, actor="paul")
    obs = constats_store.read("observations", uids=uids).set_index("uid")
    for uid in uids[:3]:
        assert obs.loc[uid, "status"] == "traité"
        assert obs.loc[uid, "action_reference"] == action["reference"]
        assert constats_store.history("observations", uid)["comment"].iloc[-1] == \
            f"traité par l'action {action['reference']}"
    assert obs.loc[uids[3], "status"] == "clos non traité"
    assert obs.loc[uids[3], "action_reference"] is None or obs.loc[uids[3], "action_reference"] != \
        action["reference"]
    stored = read_actions(constats_store).set_index("uid").loc[action["uid"]]
    assert stored["resolved_at"] is not None and stored["etat"] == "réalisée"


def test_links(constats_store: LayerStore) -> None:
    uids = _constats(constats_store, 5)
    action = create_action(constats_store, {"title": "A"}, organisation=None, actor=None,
                           constats=uids[:2])
    assert link_constats(constats_store, action["uid"], uids[:2], actor="x") == 0  # re-link: nothing
    assert link_constats(constats_store, action["uid"], [uids[1], uids[2]], actor="x") == 1
    with pytest.raises(NotFoundError, match="Constat « inconnu-42 » introuvable"):
        link_constats(constats_store, action["uid"], [uids[3], "inconnu-42"], actor="x")
    assert uids[3] not in action_links(constats_store, [action["uid"]])["constat_uid"].tolist()
    with pytest.raises(RecordError) as exc:
        link_constats(constats_store, action["uid"], "abc", actor="x")  # type: ignore[arg-type]
    assert exc.value.field == "constats"
    with pytest.raises(NotFoundError):
        link_constats(constats_store, "pas-une-action", uids[:1], actor="x")
    assert link_constats(constats_store, action["uid"], [uids[4]], actor="x", treated=True) == 1
    obs = constats_store.read("observations", uids=uids).set_index("uid")
    assert obs.loc[uids[4], "status"] == "traité" and obs.loc[uids[0], "status"] == "transmis"
    assert unlink_constat(constats_store, action["uid"], uids[0], actor="x") is True
    assert unlink_constat(constats_store, action["uid"], uids[0], actor="x") is False
    linked = set(action_links(constats_store, [action["uid"]])["constat_uid"])
    assert linked == {uids[1], uids[2], uids[4]}
    with pytest.raises(NotFoundError):
        create_action(constats_store, {"title": "B"}, organisation=None, actor=None,
                      constats=["inconnu-43"])
    assert len(constats_store.read("actions")) == 1  # nothing half-written


def test_actions_from_walk(constats_store: LayerStore) -> None:
    uids = _constats(constats_store, 6)
    points = constats_store.read("observations", uids=uids).geometry
    walk = gpd.GeoDataFrame([{"name": "Diagnostic de mars", "quartier": "QP075019",
                              "walk_date": "2026-03-10T14:00:00"}],
                            geometry=[LineString([points.iloc[0], points.iloc[1]])],
                            crs=constats_store.crs)
    walk_uid = constats_store.write("diagnostics", walk).inserted[0]
    for uid in uids[:5]:
        constats_store.update("observations", uid, {"walk_id": walk_uid}, actor="x")
    existing = create_action(constats_store, {"title": "Existante"}, organisation="ville", actor=None)
    created = actions_from_walk(constats_store, walk_uid, [
        {"title": "Nettoyage de la dalle", "constats": uids[:3], "pilote": "DPE"},
        {"action": existing["uid"], "constats": [uids[3]]},
    ], organisation="bailleur", actor="marie")
    assert len(created) == 2
    new = created[0]
    assert sorted(new["constats"]) == sorted(uids[:3])
    assert new["walk_id"] == walk_uid and new["quartier"] == "QP075019"
    assert new["organisation"] == "bailleur" and new["reference"].startswith("QP075019-")
    assert created[1]["uid"] == existing["uid"] and created[1]["constats"] == [uids[3]]
    by_walk = read_actions(constats_store, ActionQuery(walk_id=walk_uid))
    assert by_walk["uid"].tolist() == [new["uid"]]
    before = len(constats_store.read("actions"))
    with pytest.raises(RecordError, match="Proposition 2") as exc:
        actions_from_walk(constats_store, walk_uid, [
            {"title": "Valable", "constats": [uids[4]]},
            {"title": "Hors parcours", "constats": [uids[5]]},  # not a constat of this walk
        ], organisation=None, actor=None)
    assert exc.value.field == "constats"
    assert len(constats_store.read("actions")) == before  # all or nothing
    with pytest.raises(NotFoundError):
        actions_from_walk(constats_store, "pas-un-parcours", [], organisation=None, actor=None)


def test_read_filters_and_late(constats_store: LayerStore) -> None:
    today = date(2026, 6, 15)
    common = {"quartier": "QP075019", "decided_at": "2026-02-01"}
    rows = [
        {"title": "en retard", "deadline": "2026-05-01", "etat": "engagée", "pilote": "Ville — DPE",
         "partenaires": "Paris Habitat, Régie"},
        {"title": "sans délai", "etat": "engagée", "pilote": "Bailleur"},
        {"title": "délai futur", "deadline": "2026-09-01", "pilote": "Ville"},
        {"title": "réalisée après délai", "deadline": "2026-05-01", "etat": "réalisée"},
        {"title": "échéance aujourd'hui", "deadline": "2026-06-15", "etat": "reportée"},
        {"title": "TFPB", "tfpb": True, "bailleur": "Paris Habitat", "tfpb_year": 2026,
         "tfpb_axe": "3", "amount_planned": 12000.0, "decided_at": "2025-11-30",
         "geometry": Point(652000, 6862000)},
    ]
    for row in rows:
        create_action(constats_store, {**common, **row}, organisation=None, actor=None)
    frame = read_actions(constats_store, today=today)
    assert frame.crs is not None and frame.crs.to_epsg() == 2154
    late = dict(zip(frame["title"], frame["late"], strict=True))
    assert late == {"en retard": True, "sans délai": False, "délai futur": False,
                    "réalisée après délai": False, "échéance aujourd'hui": False, "TFPB": False}
    titles = read_actions(constats_store, ActionQuery(late_only=True), today=today)["title"].tolist()
    assert titles == ["en retard"]
    assert set(read_actions(constats_store, ActionQuery(pilote="ville"))["title"]) == \
        {"en retard", "délai futur"}
    assert read_actions(constats_store, ActionQuery(partenaire="paris habitat"))["title"].tolist() == \
        ["en retard"]
    tfpb = read_actions(constats_store, ActionQuery(tfpb=True, bailleur="PARIS HABITAT", year=2026))
    assert tfpb["title"].tolist() == ["TFPB"] and tfpb.geometry.iloc[0] is not None
    assert len(read_actions(constats_store, ActionQuery(tfpb=False))) == 5
    window = read_actions(constats_store, ActionQuery(start=date(2025, 11, 30), end=date(2025, 11, 30)))
    assert window["title"].tolist() == ["TFPB"]
    assert len(read_actions(constats_store, ActionQuery(end=date(2026, 1, 31)))) == 1
    assert len(read_actions(constats_store, ActionQuery(etats=("engagée", "réalisée")))) == 3
    assert read_actions(constats_store, ActionQuery(quartier="QP093028")).empty
    # actions without geometry are stored as null and left out of spatial queries, not an error
    around = (651900, 6861900, 652100, 6862100)
    assert constats_store.read("actions", bbox=around)["title"].tolist() == ["TFPB"]
    assert constats_store.count("actions", bbox=around) == 1
    assert int(frame.geometry.isna().sum()) == 5


def test_orientation_filter(constats_store: LayerStore) -> None:
    convention = load_convention(MONTBELIARD)
    import_convention(constats_store, convention)
    first, second = convention.orientations[0], convention.orientations[1]
    objectif = first.objectifs_generaux[0].code
    create_action(constats_store, {"title": "par orientation", "convention": convention.code,
                                   "orientation": first.code}, organisation=None, actor=None)
    create_action(constats_store, {"title": "par objectif", "convention": convention.code,
                                   "objectif": objectif}, organisation=None, actor=None)
    create_action(constats_store, {"title": "autre", "convention": convention.code,
                                   "orientation": second.code}, organisation=None, actor=None)
    found = read_actions(constats_store, ActionQuery(orientation=first.code))
    assert set(found["title"]) == {"par orientation", "par objectif"}
    assert objectif.startswith(first.code + ".")


def test_scope_of_actions() -> None:
    rules = ScopeRules()
    record = {"organisation": "ville", "pilote": "Métropole — collecte", "bailleur": "Pas-de-Calais Habitat",
              "assigned_to": None}
    assert record_organisations("actions", record, rules) == ["ville", "EPCI", "bailleur"]
    refused = may_change("actions", {"organisation": "ville"}, role="technicien", organisation="police",
                         rules=rules)
    assert not refused.allowed
    assert refused.reason.startswith("Cette action relève de l'organisation « ville »")
    assert may_change("actions", record, role="technicien", organisation="bailleur", rules=rules).allowed
    assert not may_change("actions", {}, role="technicien", organisation="ville", rules=rules).allowed
