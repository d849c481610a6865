"""What the action forms of the pages offer: états, origines, types of response, the conventions.

Shared by the plan d'actions page (:mod:`webmap.actions_pages`) and the walk page
(:mod:`webmap.walks`, « Construire le plan d'actions »). The orientations and objectifs
come from the conventions imported into the store (``qpv conventions importer``); the
origines from the configurable list ``Settings.action_origins`` (the schema's default
list when the setting is absent).
"""

from __future__ import annotations

import logging
from typing import Any

from layers.conventions import stored_conventions
from layers.errors import ConventionError
from layers.schema import ACTION_ORIGINS, ACTION_RESPONSE_TYPES, ACTION_STATES
from layers.settings import get_settings
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

#: Labels of :data:`layers.schema.ACTION_RESPONSE_TYPES` (Annexe 2 « Réponses » columns).
RESPONSE_LABELS = {"gestion": "Réponse gestion", "usage": "Réponse usage (prévention, sanction)",
                   "conception": "Réponse conception-aménagement"}


def origins() -> list[str]:
    """Return the configurable list of origines (causes) of a constat."""
    values = getattr(get_settings(), "action_origins", None) or ACTION_ORIGINS
    return [str(v) for v in values]


def conventions(store: LayerStore) -> list[dict[str, Any]]:
    """Return the stored conventions as the pickers need them (code, titre, orientations → objectifs).

    A stored convention that no longer passes its checks is left out (logged), the pages
    still open.
    """
    try:
        stored = stored_conventions(store)
    except ConventionError:
        logger.exception("Stored conventions unreadable; the action forms offer no orientation")
        return []
    out = []
    for conv in stored:
        orientations = []
        for o in conv.orientations:
            objectifs = []
            for g in o.objectifs_generaux:
                objectifs.append({"code": g.code, "titre": g.titre})
                objectifs.extend({"code": op.code, "titre": op.titre} for op in g.objectifs_operationnels)
            orientations.append({"code": o.code, "titre": o.titre, "objectifs": objectifs})
        out.append({"code": conv.code, "titre": conv.titre, "territoire": conv.territoire,
                    "orientations": orientations,
                    "partenaires": [p.nom for p in conv.partenaires]})
    return out


def form_config(store: LayerStore) -> dict[str, Any]:
    """Return the choices of the action forms: ``etats``, ``origines``, ``reponses``, ``conventions``."""
    return {"etats": list(ACTION_STATES), "origines": origins(),
            "reponses": [{"code": c, "libelle": RESPONSE_LABELS.get(c, c)} for c in ACTION_RESPONSE_TYPES],
            "conventions": conventions(store)}
