"""The plan d'actions: reading, creating and updating actions, linking them to constats.

An action (layer ``actions``) answers one or several constats (layer ``observations``)
through the child table ``constats`` of the action. The services here are what the web
app, the CLI, the exports and the indicators call; they return data and never render.

Rules
-----
* References are unique in the store; an action created without one gets
  :func:`next_reference` (« QP034001-2026-007 »).
* The origine (cause) must be one of :attr:`layers.settings.Settings.action_origins`.
* When the action names a ``convention``, its orientation / objectif / axe / TFPB axe
  codes must exist in that stored convention (:func:`layers.conventions.stored_conventions`).
* Rule « traité »: when an action's état becomes « réalisée », its linked constats still
  open (« nouveau », « transmis », « en cours ») become « traité » with
  ``action_reference`` = the action's reference (history comment « traité par l'action
  <ref> »); ``link_constats(..., treated=True)`` does it at once for the constats linked.
  Closed constats are left untouched.
* An action is late when its ``deadline`` is before today and its état is still open
  (« à engager », « engagée », « reportée »); an action without deadline is never late.

Geometries are in the store CRS (EPSG:2154); the web boundary converts from WGS84.
Bad input raises :class:`~layers.errors.RecordError` naming the field, unknown records
:class:`~layers.errors.NotFoundError`, both with French messages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd

from layers.conventions import Convention, stored_conventions
from layers.errors import NotFoundError, RecordError
from layers.schema import LAYERS, OPEN_STATUSES
from layers.settings import Settings, get_settings
from layers.store.base import LayerStore
from layers.validate import fold, validate_record

logger = logging.getLogger(__name__)

LAYER = "actions"
LINKS = "constats"
#: États in which an action past its deadline is late.
LATE_STATES = ("à engager", "engagée", "reportée")
#: The état that marks the linked open constats « traité ».
DONE_STATE = "réalisée"
#: Reference prefix of an action without quartier.
NO_QUARTIER_PREFIX = "PLAN"
_REFERENCE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
_CODE_FIELDS = ("orientation", "objectif", "axe", "tfpb_axe")


@dataclass(frozen=True)
class ActionQuery:
    """Filters of :func:`read_actions` (every one optional).

    Attributes
    ----------
    quartier : str, optional
        Perimeter code.
    start, end : date, optional
        Bounds on ``decided_at``, both inclusive.
    etats : tuple of str
        Keep these états only (all when empty).
    pilote, partenaire : str, optional
        Substring of ``pilote`` / ``partenaires`` (accents and case ignored).
    orientation : str, optional
        Orientation code: actions of that orientation, or whose objectif starts with
        ``code + "."``.
    late_only : bool
        Only the late actions.
    tfpb : bool, optional
        Only the TFPB actions (True) or only the others (False).
    bailleur : str, optional
        Bailleur (accents and case ignored).
    year : int, optional
        TFPB year (``tfpb_year``).
    walk_id : str, optional
        Actions decided after this diagnostic en marchant.
    """

    quartier: str | None = None
    start: date | None = None
    end: date | None = None
    etats: tuple[str, ...] = ()
    pilote: str | None = None
    partenaire: str | None = None
    orientation: str | None = None
    late_only: bool = False
    tfpb: bool | None = None
    bailleur: str | None = None
    year: int | None = None
    walk_id: str | None = None


# -- reading ------------------------------------------------------------------------------


def late_mask(frame: pd.DataFrame, today: date) -> pd.Series:
    """Tell which actions of ``frame`` are late on ``today`` (past deadline, état still open)."""
    deadlines = pd.to_datetime(frame["deadline"], errors="coerce")
    if isinstance(deadlines.dtype, pd.DatetimeTZDtype):
        deadlines = deadlines.dt.tz_localize(None)
    before = (deadlines < pd.Timestamp(today)).fillna(False).astype(bool)
    return before & frame["etat"].isin(LATE_STATES)


def _folded_contains(series: pd.Series, needle: str) -> pd.Series:
    key = fold(needle)
    return series.map(lambda v: isinstance(v, str) and key in fold(v)).astype(bool)


def _where(query: ActionQuery) -> dict[str, Any]:
    where: dict[str, Any] = {}
    if query.quartier:
        where["quartier"] = query.quartier
    if query.etats:
        where["etat"] = list(query.etats)
    if query.year is not None:
        where["tfpb_year"] = int(query.year)
    if query.walk_id:
        where["walk_id"] = query.walk_id
    return where


def _filter(frame: gpd.GeoDataFrame, query: ActionQuery) -> gpd.GeoDataFrame:
    keep = pd.Series(True, index=frame.index)
    if query.pilote:
        keep &= _folded_contains(frame["pilote"], query.pilote)
    if query.partenaire:
        keep &= _folded_contains(frame["partenaires"], query.partenaire)
    if query.bailleur:
        key = fold(query.bailleur)
        keep &= frame["bailleur"].map(lambda v: isinstance(v, str) and fold(v) == key).astype(bool)
    if query.orientation:
        code = query.orientation
        keep &= (frame["orientation"] == code).fillna(False).astype(bool) | frame["objectif"].map(
            lambda v: isinstance(v, str) and v.startswith(code + ".")).astype(bool)
    if query.tfpb is not None:
        keep &= frame["tfpb"].map(lambda v: bool(v) if pd.notna(v) else False) == query.tfpb
    if query.late_only:
        keep &= frame["late"]
    return frame[keep]


def read_actions(store: LayerStore, query: ActionQuery | None = None, *,
                 today: date | None = None) -> gpd.GeoDataFrame:
    """Return the actions matching ``query``, in the store CRS.

    Parameters
    ----------
    store : LayerStore
    query : ActionQuery, optional
        Filters (none: every action).
    today : date, optional
        The day against which deadlines are compared (today by default).

    Returns
    -------
    geopandas.GeoDataFrame
        Every field of the layer (geometry may be null), plus ``constats`` (list of the
        linked constat uids) and ``late`` (bool), ordered by ``decided_at`` then reference.
    """
    query = query or ActionQuery()
    today = today or date.today()
    start = query.start
    end = query.end + timedelta(days=1) if query.end is not None else None
    frame = store.read(LAYER, where=_where(query), start=start, end=end, order_by="decided_at")
    frame = frame.copy()
    frame["late"] = late_mask(frame, today) if len(frame) else pd.Series(dtype=bool)
    frame = _filter(frame, query)
    links = action_links(store, frame["uid"].tolist()) if len(frame) else None
    grouped: dict[str, list[str]] = {}
    if links is not None:
        for parent, constat in zip(links["parent_uid"], links["constat_uid"], strict=True):
            grouped.setdefault(str(parent), []).append(str(constat))
    frame["constats"] = [grouped.get(str(u), []) for u in frame["uid"]]
    frame["late"] = frame["late"].astype(bool)
    return frame.reset_index(drop=True)


def action_links(store: LayerStore, action_uids: Sequence[str] | None = None) -> pd.DataFrame:
    """Return the links action → constat (``parent_uid``, ``constat_uid``, ``linked_at``).

    ``action_uids`` restricts them to these actions (all links by default); oldest first.
    """
    rows = store.read_children(LAYER, LINKS, parent_uids=list(action_uids)
                               if action_uids is not None else None)
    columns = ["parent_uid", "constat_uid", "linked_at"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    return rows.sort_values("linked_at", kind="stable")[columns].reset_index(drop=True)


def action_record(store: LayerStore, uid: str) -> dict[str, Any]:
    """Return action ``uid`` as a dict (fields, ``geometry``, ``constats`` uids).

    Raises
    ------
    NotFoundError
        When there is no such action.
    """
    found = store.read(LAYER, uids=[uid])
    if found.empty:
        raise NotFoundError(f"Action « {uid} » introuvable.")
    row = found.iloc[0]
    record = {k: (None if _missing(v) else v) for k, v in row.items() if k != found.geometry.name}
    geom = row[found.geometry.name]
    record["geometry"] = None if geom is None or geom.is_empty else geom
    record["constats"] = action_links(store, [uid])["constat_uid"].astype(str).tolist()
    return record


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# -- checks -----------------------------------------------------------------------------


def _check_origine(value: Any, settings: Settings) -> str | None:
    """Return the allowed spelling of origine ``value`` (None when empty)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    allowed = settings.action_origins
    by_key = {fold(o): o for o in allowed}
    found = by_key.get(fold(str(value))) if isinstance(value, str) else None
    if found is None:
        raise RecordError(f"Origine « {value} » non prévue ; valeurs permises : "
                          f"{', '.join(allowed)}.", field="origine")
    return found


def _convention_codes(convention: Convention) -> dict[str, set[str]]:
    objectifs: set[str] = set()
    for orientation in convention.orientations:
        for general in orientation.objectifs_generaux:
            objectifs.add(general.code)
            objectifs.update(o.code for o in general.objectifs_operationnels)
    return {
        "orientation": {o.code for o in convention.orientations},
        "objectif": objectifs,
        "axe": {a.code for a in convention.axes},
        "tfpb_axe": {a.code for a in convention.tfpb_axes},
    }


def _check_convention(store: LayerStore, record: Mapping[str, Any]) -> None:
    """Check the codes of ``record`` against its stored convention (RecordError naming the field)."""
    code = record.get("convention")
    if code is None or _missing(code) or code == "":
        return
    conventions = {c.code: c for c in stored_conventions(store)}
    convention = conventions.get(str(code))
    if convention is None:
        known = ", ".join(sorted(conventions)) or "aucune convention importée"
        raise RecordError(f"Convention « {code} » inconnue de l'entrepôt ({known}).",
                          field="convention")
    codes = _convention_codes(convention)
    labels = {"orientation": "Orientation", "objectif": "Objectif", "axe": "Axe d'intervention",
              "tfpb_axe": "Axe TFPB"}
    for name in _CODE_FIELDS:
        value = record.get(name)
        if value is None or _missing(value) or value == "":
            continue
        if str(value) not in codes[name]:
            raise RecordError(f"{labels[name]} « {value} » absent(e) de la convention « {code} ».",
                              field=name)


def _check_reference_free(store: LayerStore, reference: str, *, uid: str | None = None) -> None:
    same = store.read(LAYER, where={"reference": reference})
    if uid is not None:
        same = same[same["uid"] != uid]
    if not same.empty:
        raise RecordError(f"La référence « {reference} » est déjà celle d'une autre action.",
                          field="reference")


def _uid_list(values: Any, name: str = "constats") -> list[str]:
    """Return ``values`` as a list of distinct uids (RecordError naming ``name`` otherwise)."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise RecordError(f"« {name} » doit être une liste d'identifiants.", field=name)
    uids: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value or len(value) > 64 or "\x00" in value:
            raise RecordError(f"« {name} » contient un identifiant invalide.", field=name)
        if value not in uids:
            uids.append(value)
    return uids


def _year(value: Any) -> int:
    if isinstance(value, (date, datetime)):
        return value.year
    parsed = pd.to_datetime(str(value), errors="coerce")
    return int(parsed.year) if not pd.isna(parsed) else date.today().year


# -- references ---------------------------------------------------------------------------


def next_reference(store: LayerStore, *, quartier: str | None, year: int) -> str:
    """Return the next free reference of the quartier and year (« QP034001-2026-007 »).

    The number follows the highest one already used with the same prefix; an action
    without quartier gets « PLAN-<year>-<n> ».
    """
    prefix = _REFERENCE_CHARS.sub("", quartier or "")[:24] or NO_QUARTIER_PREFIX
    prefix = f"{prefix}-{int(year)}-"
    references = store.read(LAYER)["reference"].dropna().astype(str)
    numbers = [int(r[len(prefix):]) for r in references
               if r.startswith(prefix) and r[len(prefix):].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"


# -- writing ------------------------------------------------------------------------------


def create_action(store: LayerStore, data: Mapping[str, Any], *, organisation: str | None,
                  actor: str | None, constats: Sequence[str] = (),
                  settings: Settings | None = None) -> dict[str, Any]:
    """Validate and store one action; link it to ``constats``.

    Parameters
    ----------
    store : LayerStore
    data : mapping
        Fields of layer ``actions`` and an optional ``geometry`` (shapely, store CRS;
        none: an action without place). ``organisation`` in ``data`` is ignored.
    organisation : str or None
        The author's organisation, stored as ``organisation``.
    actor : str or None
        Who writes (history, links).
    constats : sequence of str
        Uids of the constats the action answers.
    settings : Settings, optional
        Source of the allowed origines (the environment's by default).

    Returns
    -------
    dict
        The stored action (see :func:`action_record`).

    Raises
    ------
    RecordError
        Naming the bad field (``origine``, ``reference``, ``orientation``...).
    NotFoundError
        When a constat does not exist.
    """
    settings = settings or get_settings()
    record = {k: v for k, v in data.items() if k not in ("organisation", "uid")}
    geometry = record.pop("geometry", None)
    if organisation is not None:
        record["organisation"] = organisation
    if not record.get("decided_at"):
        record["decided_at"] = date.today().isoformat()
    if not record.get("etat"):
        record["etat"] = "à engager"
    record["origine"] = _check_origine(record.get("origine"), settings)
    links = _uid_list(constats)
    with store.transaction():
        checked = validate_record({**record, "geometry": geometry}, LAYERS[LAYER])
        _check_convention(store, checked)
        if record.get("reference"):
            _check_reference_free(store, str(record["reference"]))
        else:
            record["reference"] = next_reference(store, quartier=checked.get("quartier"),
                                                 year=_year(checked["decided_at"]))
        _existing_constats(store, links)
        frame = gpd.GeoDataFrame([record], geometry=[geometry], crs=store.crs)
        uid = store.write(LAYER, frame, actor=actor).inserted[0]
        if links:
            link_constats(store, uid, links, actor=actor, treated=record["etat"] == DONE_STATE)
    logger.info("action %s (%s) created by %s", uid, record["reference"], actor)
    return action_record(store, uid)


def update_action(store: LayerStore, uid: str, changes: Mapping[str, Any], *, actor: str | None,
                  comment: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Change fields of action ``uid``; an état change goes to its history.

    When the état becomes « réalisée », the linked open constats become « traité »
    (see the module docstring). ``geometry`` (shapely, store CRS, or None) moves it.

    Raises
    ------
    NotFoundError
        When there is no such action.
    RecordError
        Naming the bad field.
    """
    settings = settings or get_settings()
    changes = dict(changes)
    if "origine" in changes:
        changes["origine"] = _check_origine(changes["origine"], settings)
    with store.transaction():
        current = action_record(store, uid)
        if "reference" in changes:
            reference = changes["reference"]
            if reference is None or str(reference).strip() == "":
                raise RecordError("La référence d'une action ne peut pas être vidée.",
                                  field="reference")
            _check_reference_free(store, str(reference), uid=uid)
        merged = {**current, **changes}
        merged.pop("constats", None)
        if any(name in changes for name in ("convention", *_CODE_FIELDS)):
            _check_convention(store, merged)
        store.update(LAYER, uid, changes, actor=actor, comment=comment)
        updated = action_record(store, uid)
        if updated["etat"] == DONE_STATE and current["etat"] != DONE_STATE:
            _treat(store, updated, updated["constats"], actor=actor)
    return action_record(store, uid)


def _existing_constats(store: LayerStore, uids: Sequence[str]) -> gpd.GeoDataFrame:
    if not uids:
        return store.read("observations", uids=[])
    found = store.read("observations", uids=list(uids))
    known = set(found["uid"].astype(str))
    for uid in uids:
        if uid not in known:
            raise NotFoundError(f"Constat « {uid} » introuvable.")
    return found


def _treat(store: LayerStore, action: Mapping[str, Any], constat_uids: Sequence[str], *,
           actor: str | None) -> int:
    """Mark the open constats among ``constat_uids`` « traité » by ``action``; return how many."""
    if not constat_uids:
        return 0
    reference = action.get("reference") or action["uid"]
    found = store.read("observations", uids=list(constat_uids))
    still_open = found[found["status"].isin(OPEN_STATUSES)]
    for uid in still_open["uid"]:
        store.update("observations", str(uid), {"status": "traité", "action_reference": reference},
                     actor=actor, comment=f"traité par l'action {reference}")
    return len(still_open)


def link_constats(store: LayerStore, uid: str, constat_uids: Sequence[str], *, actor: str | None,
                  treated: bool = False) -> int:
    """Link constats to action ``uid``; return how many links are new.

    Links already there are kept as they are. With ``treated`` (or when the action is
    already « réalisée »), the open constats given become « traité » at once.

    Raises
    ------
    NotFoundError
        Naming the action or a constat that does not exist.
    RecordError
        When ``constat_uids`` is not a list of uids.
    """
    uids = _uid_list(constat_uids)
    with store.transaction():
        action = action_record(store, uid)
        _existing_constats(store, uids)
        new = [c for c in uids if c not in set(action["constats"])]
        if new:
            now = datetime.now().replace(microsecond=0).isoformat()
            rows = pd.DataFrame({"parent_uid": [uid] * len(new), "constat_uid": new,
                                 "linked_at": [now] * len(new), "linked_by": [actor] * len(new)})
            store.add_children(LAYER, LINKS, rows, actor=actor)
        if treated or action["etat"] == DONE_STATE:
            _treat(store, action, uids, actor=actor)
    return len(new)


def unlink_constat(store: LayerStore, uid: str, constat_uid: str, *, actor: str | None) -> bool:
    """Remove the link between action ``uid`` and a constat; False when there was none.

    The constat's status is left as it is.

    Raises
    ------
    NotFoundError
        When there is no such action.
    """
    with store.transaction():
        action_record(store, uid)
        rows = store.read_children(LAYER, LINKS, parent_uids=[uid])
        match = rows[rows["constat_uid"].astype(str) == str(constat_uid)]
        if match.empty:
            return False
        store.delete_children(LAYER, LINKS, match["uid"].astype(str).tolist())
    logger.info("constat %s unlinked from action %s by %s", constat_uid, uid, actor)
    return True


def actions_from_walk(store: LayerStore, walk_uid: str, proposals: Sequence[Mapping[str, Any]], *,
                      organisation: str | None, actor: str | None,
                      settings: Settings | None = None) -> list[dict[str, Any]]:
    """Turn the constats of a diagnostic en marchant into actions, all or nothing.

    Parameters
    ----------
    store : LayerStore
    walk_uid : str
        The walk (layer ``diagnostics``).
    proposals : sequence of mapping
        Each either ``{"constats": [uids], **action fields}`` (a new action answering
        these constats, with ``walk_id`` = the walk and by default its quartier) or
        ``{"action": uid of an existing action, "constats": [uids]}`` (attach them).
        The constats must be the walk's.
    organisation, actor : str or None
        The author (organisation of new actions) and who writes.
    settings : Settings, optional

    Returns
    -------
    list of dict
        The actions created or completed, in the order of ``proposals``.

    Raises
    ------
    NotFoundError
        Unknown walk, action or constat.
    RecordError
        A bad proposal (the message names its rank, the field is the bad one).
    """
    found = store.read("diagnostics", uids=[walk_uid])
    if found.empty:
        raise NotFoundError(f"Diagnostic en marchant « {walk_uid} » introuvable.")
    walk = found.iloc[0]
    if isinstance(proposals, (str, bytes, Mapping)) or not isinstance(proposals, Sequence):
        raise RecordError("« propositions » doit être une liste.", field="propositions")
    own = set(store.read("observations", where={"walk_id": walk_uid})["uid"].astype(str))
    results: list[dict[str, Any]] = []
    with store.transaction():
        for rank, proposal in enumerate(proposals, start=1):
            try:
                results.append(_apply_proposal(store, walk_uid, walk, proposal, own,
                                               organisation=organisation, actor=actor,
                                               settings=settings))
            except RecordError as exc:
                raise RecordError(f"Proposition {rank} : {exc}", field=exc.field) from exc
    return results


def _apply_proposal(store: LayerStore, walk_uid: str, walk: pd.Series, proposal: Any,
                    own: set[str], *, organisation: str | None, actor: str | None,
                    settings: Settings | None) -> dict[str, Any]:
    if not isinstance(proposal, Mapping):
        raise RecordError("une proposition doit être un objet.", field="propositions")
    constats = _uid_list(proposal.get("constats"))
    outside = [c for c in constats if c not in own]
    if outside:
        raise RecordError(f"le constat « {outside[0]} » n'a pas été relevé lors de ce diagnostic.",
                          field="constats")
    if proposal.get("action") is not None:
        extra = sorted(set(proposal) - {"action", "constats"})
        if extra:
            raise RecordError(f"champ « {extra[0]} » inattendu pour un rattachement.",
                              field=extra[0])
        target = str(proposal["action"])
        link_constats(store, target, constats, actor=actor)
        return action_record(store, target)
    data = {k: v for k, v in proposal.items() if k not in ("constats", "action")}
    data["walk_id"] = walk_uid
    quartier = walk.get("quartier")
    if not data.get("quartier") and quartier is not None and not _missing(quartier):
        data["quartier"] = quartier
    return create_action(store, data, organisation=organisation, actor=actor, constats=constats,
                         settings=settings)
