"""A walk with constats in the demo store, shared by the plan d'actions tests.

The walk is planned in Mosson (real streets and addresses of the demo store); its
constats are recorded as a technicien records them (``POST /api/observations`` with the
walk's uid), at the walk's own stops, with messy user text (markup, quotes, accents).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from layers.conventions import import_convention, load_convention
from layers.settings import REPO_ROOT
from layers.store import open_store
from tests.walkdemo import plan_mosson_walk
from tests.webmap.security._fixtures import client_as

#: Theme and description of the constats recorded on the walk (user text, on purpose messy).
CONSTATS = (
    ("encombrants", "Canapé <b>abandonné</b> devant l'entrée & « matelas »"),
    ("propreté", "Sacs d'ordures au pied du bâtiment <script>alert(1)</script>"),
    ("éclairage", "Lampadaire éteint depuis 3 semaines"),
    ("voirie", "Nid-de-poule \"profond\" sur la chaussée"),
)
CONVENTION = REPO_ROOT / "data" / "conventions" / "pays-de-montbeliard-2025-2030.yaml"


@dataclass(frozen=True)
class WalkWithConstats:
    walk_uid: str
    quartier: str
    constats: tuple[str, ...]  # uids, in CONSTATS order


def prepare(path: Path, app: Flask) -> WalkWithConstats:
    """Plan a walk in the store at ``path``, import a convention, record :data:`CONSTATS` on it."""
    plan = plan_mosson_walk(path, "2026-05-12T14:00", cache_dir=Path(app.config["WALK_CACHE_DIR"]),
                            organisation="ville")
    store = open_store(path, create=False)
    try:
        import_convention(store, load_convention(CONVENTION))
        # the demo has its own simulated plan in Mosson: these tests start from a quartier
        # with no plan yet, so that every action and link they count is one they made
        demo = store.read("actions")
        store.delete("actions", demo.loc[demo["quartier"] == plan.quartier, "uid"].tolist())
    finally:
        store.close()
    tech = client_as(app, "technicien")
    route = tech.get(f"/diagnostic/{plan.uid}/route.geojson").get_json(force=True)
    stops = [f["geometry"]["coordinates"] for f in route["features"] if f["geometry"]["type"] == "Point"]
    assert len(stops) >= len(CONSTATS), "trop peu d'arrêts sur le parcours"
    uids = []
    for rank, ((theme, text), (lon, lat)) in enumerate(zip(CONSTATS, stops[1:], strict=False)):
        uid = f"constat-essai-{rank}"
        r = tech.post("/api/observations", data={"lon": str(lon), "lat": str(lat), "theme": theme,
                                                 "description": text, "walk_id": plan.uid, "uid": uid})
        assert r.status_code == 201, r.get_data(as_text=True)
        uids.append(r.get_json()["uid"] if r.is_json and "uid" in r.get_json() else uid)
    return WalkWithConstats(plan.uid, plan.quartier, tuple(uids))
