"""The plan d'actions resulting from a diagnostic walk (what its page and compte-rendu show).

An action belongs to a walk's plan when it was created from the walk (``walk_id``) or when
one of the walk's constats is attached to it (an action created earlier, elsewhere). The
rows are the Annexe 1 of the GUSP conventions (orientation, lieu, constats, origine,
réponse / action, pilote, partenaires, délai, état); the link table of the actions
(child ``constats``) is read as stored, so a constat attached to two actions appears in both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from layers.conventions import stored_conventions
from layers.errors import ConventionError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = ["constat_actions", "walk_action_plan"]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    return str(value).strip()


def _day(value: Any) -> str:
    stamp = pd.to_datetime(value, errors="coerce") if _text(value) else pd.NaT
    return "" if pd.isna(stamp) else stamp.strftime("%d/%m/%Y")


def constat_actions(store: LayerStore, constat_uids: Sequence[str]) -> dict[str, list[str]]:
    """Return, for each constat uid given, the references of the actions it is attached to.

    Parameters
    ----------
    store : LayerStore
    constat_uids : sequence of str
        Uids of records of layer ``observations``.

    Returns
    -------
    dict
        ``{constat_uid: [reference, ...]}`` (sorted; an action without reference is named by
        the first eight characters of its uid); constats attached to no action are absent.
    """
    wanted = {str(u) for u in constat_uids}
    if not wanted:
        return {}
    links = store.read_children("actions", "constats")
    links = links[links["constat_uid"].astype(str).isin(wanted)] if len(links) else links
    if not len(links):
        return {}
    actions = store.read("actions", uids=sorted(set(links["parent_uid"].astype(str))))
    names = {str(a["uid"]): _text(a.get("reference")) or str(a["uid"])[:8] for _, a in actions.iterrows()}
    out: dict[str, list[str]] = {}
    for _, link in links.iterrows():
        name = names.get(str(link["parent_uid"]))
        if name is not None:
            out.setdefault(str(link["constat_uid"]), []).append(name)
    return {uid: sorted(set(refs)) for uid, refs in out.items()}


def _titles(store: LayerStore) -> dict[tuple[str, str], str]:
    """Titles of the orientations and objectifs of the stored conventions, by (convention, code)."""
    try:
        conventions = stored_conventions(store)
    except ConventionError:
        logger.exception("Stored conventions unreadable: the plan shows the codes only")
        return {}
    titles: dict[tuple[str, str], str] = {}
    for conv in conventions:
        for o in conv.orientations:
            titles[(conv.code, o.code)] = o.titre
        for g in conv.general_objectives():
            titles[(conv.code, g.code)] = g.titre
        for op in conv.operational_objectives():
            titles[(conv.code, op.code)] = op.titre
    return titles


def _flag(value: Any) -> bool:
    return _text(value).lower() in ("true", "1")


def _constat_text(row: Any) -> str:
    theme, description = _text(row.get("theme")), _text(row.get("description"))
    return f"{theme} : {description}" if theme and description else theme or description


def walk_action_plan(store: LayerStore, walk_uid: str, *, constats: pd.DataFrame | None = None
                     ) -> list[dict[str, Any]]:
    """Return the plan d'actions of a walk as Annexe 1 rows, by orientation then reference.

    Parameters
    ----------
    store : LayerStore
    walk_uid : str
        Uid of a record of layer ``diagnostics``.
    constats : DataFrame, optional
        The walk's constats (``uid``, ``theme``, ``description``); read from the store
        (``observations`` whose ``walk_id`` is the walk) when not given.

    Returns
    -------
    list of dict
        One dict per action: ``uid``, ``reference``, ``title``, ``orientation``,
        ``objectif`` (codes) and their titles in the action's convention
        (``orientation_titre``, ``objectif_titre``, empty when unknown), ``lieu`` (lieu
        and adresse), ``constats`` (« thème : description » of the walk's constats it
        answers, then the number of its other constats), ``origine``, ``response_type``,
        ``description``, ``indicateurs``, ``pilote``, ``partenaires``, ``deadline``
        (« jj/mm/aaaa », empty when none), ``etat``, ``simulated`` (bool). Empty when the
        walk led to no action.
    """
    if constats is None:
        constats = store.read("observations", where={"walk_id": walk_uid}, order_by="observed_at")
    walk_constats = {str(r["uid"]): _constat_text(r) for _, r in constats.iterrows()}
    links = store.read_children("actions", "constats")
    linked = links[links["constat_uid"].astype(str).isin(walk_constats)] if len(links) else links
    by_walk = store.read("actions", where={"walk_id": walk_uid})
    uids = set(by_walk["uid"].astype(str)) | set(linked["parent_uid"].astype(str) if len(linked) else ())
    if not uids:
        return []
    actions = store.read("actions", uids=sorted(uids))
    titles = _titles(store)
    rows = []
    for _, a in actions.iterrows():
        own = links[links["parent_uid"].astype(str) == str(a["uid"])] if len(links) else links
        own_uids = list(own["constat_uid"].astype(str)) if len(own) else []
        mine = [walk_constats[c] for c in own_uids if c in walk_constats]
        others = len(own) - len(mine)
        texts = [t or "constat sans description" for t in mine]
        if others:
            texts.append(f"et {others} autre(s) constat(s)")
        lieu = ", ".join(t for t in (_text(a.get("lieu")), _text(a.get("address"))) if t)
        rows.append({
            "uid": str(a["uid"]), "reference": _text(a.get("reference")), "title": _text(a.get("title")),
            "orientation": _text(a.get("orientation")), "objectif": _text(a.get("objectif")),
            "orientation_titre": titles.get((_text(a.get("convention")), _text(a.get("orientation"))), ""),
            "objectif_titre": titles.get((_text(a.get("convention")), _text(a.get("objectif"))), ""),
            "lieu": lieu, "constats": texts, "origine": _text(a.get("origine")),
            "response_type": _text(a.get("response_type")), "description": _text(a.get("description")),
            "indicateurs": _text(a.get("indicateurs")), "pilote": _text(a.get("pilote")),
            "partenaires": _text(a.get("partenaires")), "deadline": _day(a.get("deadline")),
            "etat": _text(a.get("etat")), "simulated": _flag(a.get("simulated")),
        })
    return sorted(rows, key=lambda r: (r["orientation"] == "", r["orientation"], r["reference"], r["title"]))
