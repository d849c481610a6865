"""A plan d'actions built on real constats, for the tests of the exports and the import.

The constats are the real Paris Dans Ma Rue reports (../shared/data); the actions answering
them are written through :func:`layers.actions.create_action` as a technician would, with
messy values on purpose: texts with line breaks, quotes and accents, actions without
délai or response type, simulated rows, a TFPB programme with amounts partly unknown.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from layers.actions import create_action, update_action
from layers.conventions import import_convention, list_conventions
from layers.importer import ImportOptions, import_file
from layers.schema import ACTION_STATES
from layers.store import open_store
from layers.store.base import LayerStore

QUARTIER = "QP075020"
DMR = ("paris", "dansmarue-2023-2024-echantillon.csv")
#: Montbéliard objectifs (orientation, objectif) and Lillers axes used by the actions.
OBJECTIVES = (("1", "1.1"), ("1", "1.2.4"), ("2", "2.4.10"), ("6", "6.13.36"), (None, None))


def build_store(path: Path, shared_data: Path) -> Path:
    """Create a GeoPackage at ``path`` with the real Dans Ma Rue constats and the conventions."""
    store = open_store(path)
    try:
        import_file(store, shared_data.joinpath(*DMR),
                    options=ImportOptions(mapping="dansmarue", actor="tests"))
        for convention in list_conventions():
            import_convention(store, convention)
    finally:
        store.close()
    return path


def add_plan(store: LayerStore, *, n: int = 14, quartier: str = QUARTIER, start: date = date(2024, 2, 1),
             ) -> list[dict[str, Any]]:
    """Create ``n`` actions answering real constats (1 to 4 each) and return them as stored."""
    obs = store.read("observations", where={"theme": ["dépôts sauvages", "propreté", "voirie", "éclairage"]},
                     order_by="observed_at", limit=4 * n)
    uids = [str(u) for u in obs["uid"]]
    created = []
    for i in range(n):
        orientation, objectif = OBJECTIVES[i % len(OBJECTIVES)]
        data: dict[str, Any] = {
            "title": f"Action n°{i + 1} : « enlèvement » et suivi\ndes dépôts, rue {obs['address'].iloc[i]}",
            "decided_at": (start + timedelta(days=7 * i)).isoformat(),
            "quartier": quartier,
            "orientation": orientation, "objectif": objectif,
            "axe": str(1 + i % 7),
            "probleme": "Dépôts sauvages récurrents" if i % 3 else None,
            "lieu": f"Pied d'immeuble {i}" if i % 2 else None,
            "address": obs["address"].iloc[i],
            "origine": ("usage", "gestion", "défaut d'entretien", None)[i % 4],
            "response_type": ("gestion", "usage", "conception", None)[i % 4],
            "indicateurs": "Nombre de signalements ; délai d'enlèvement" if i % 2 == 0 else None,
            "pilote": ("Ville", "Bailleur social", "Métropole")[i % 3],
            "partenaires": "Ville, bailleur ; association de locataires",
            "deadline": (start + timedelta(days=7 * i + 60)).isoformat() if i % 5 else None,
            "etat": ACTION_STATES[i % 3],
            "conflit": "Désaccord sur la domanialité" if i == 3 else None,
            "evaluation": None,
            "comment": "Point à revoir en COPIL" if i % 4 == 1 else None,
            "simulated": i % 6 == 5,
        }
        if i < 6:
            data.update({"tfpb": True, "bailleur": "Paris Habitat", "tfpb_year": 2024,
                         "tfpb_axe": ("3", "3", "4", "5", "9", "3")[i] if i != 4 else "4",
                         "tfpb_sous_action": ("Renforcement nettoyage", "Renforcement nettoyage",
                                              "Gestion des encombrants", "Vidéosurveillance", None,
                                              "Sous-action inventée")[i],
                         "amount_planned": (1200.0, 800.5, None, 3000.0, 450.0, None)[i],
                         "amount_committed": (1000.0, None, None, 2500.0, 450.0, None)[i]})
        links = uids[i * 3: i * 3 + 1 + i % 4]
        record = create_action(store, data, organisation="ville", actor="tests", constats=links)
        created.append(record)
    # one état change after creation: the history then holds two entries for that action
    update_action(store, created[0]["uid"], {"etat": "engagée"}, actor="tests", comment="lancement")
    return [dict(store.read("actions", uids=[c["uid"]]).iloc[0]) for c in created]
