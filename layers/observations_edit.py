"""Changing a constat after its creation: editing its fields, merging a duplicate, its choices.

Every change goes through :meth:`LayerStore.update`, which keeps it in the constat's
« Historique » (``changes`` = ``{field: [before, after]}``). The caller (the web app)
checks the organisation scope before calling; this module checks the values and names
the bad field in French (:class:`~layers.errors.RecordError`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from shapely.geometry import Point

from layers import integrity
from layers.errors import NotFoundError, RecordError
from layers.integrity import WriteRules
from layers.observations import territory_point
from layers.projection import CRS84, project
from layers.schema import DOMANIALITES, LAYERS, OBSERVATION_STATUSES, ORGANISATIONS
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

LAYER = "observations"
#: Fields a technician may change after the creation (``lon``/``lat`` move the constat).
EDITABLE = frozenset({
    "theme", "subtheme", "description", "address", "pilote", "partenaires", "domanialite",
    "deadline", "assigned_to", "status", "lon", "lat",
})
#: Text fields (``None`` or ``""`` clears them).
_TEXTS = ("subtheme", "description", "address", "pilote", "partenaires")
#: Fields with a list of values: name, values, whether it may be emptied.
_CHOICES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("theme", LAYERS["observations"].field("theme").choices or (), False),
    ("status", OBSERVATION_STATUSES, False),
    ("domanialite", DOMANIALITES, True),
    ("assigned_to", ORGANISATIONS, True),
)
#: Status a merged duplicate is closed with.
DUPLICATE_STATUS = "clos non traité"
#: Longest chain of duplicates followed to the kept constat.
_MAX_CHAIN = 50
#: Recent constats whose pilotes are offered in the form.
_RECENT_PILOTES = 2000


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data[name]
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"« {name} » doit être un texte.", field=name)
    return value.strip() or None


def _partners(value: Any) -> str | None:
    """Return the partners as one text « ville, bailleur » (a list or a text is accepted)."""
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = list(dict.fromkeys(v.strip() for v in value if v.strip()))
        return ", ".join(names) or None
    raise RecordError("« partenaires » doit être un texte ou une liste de textes.", field="partenaires")


def _choice(data: Mapping[str, Any], name: str, choices: Sequence[str], *, empty: bool) -> str | None:
    value = data[name]
    if value in (None, "") and empty:
        return None
    if not isinstance(value, str) or value not in choices:
        raise RecordError(f"« {name} » : valeur inconnue ({', '.join(choices)}).", field=name)
    return value


def _deadline(value: Any, observed_at: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError("« deadline » doit être une date AAAA-MM-JJ.", field="deadline")
    try:
        day = pd.Timestamp(value)
    except ValueError:
        raise RecordError(f"« deadline » : date invalide « {value[:20]} » (AAAA-MM-JJ).",
                          field="deadline") from None
    if pd.isna(day):
        raise RecordError("« deadline » : date invalide (AAAA-MM-JJ).", field="deadline")
    observed = pd.Timestamp(observed_at) if observed_at is not None and not pd.isna(observed_at) else None
    if observed is not None and day.normalize() < observed.tz_localize(None).normalize():
        raise RecordError(f"Le délai ({day:%d/%m/%Y}) précède la date du constat ({observed:%d/%m/%Y}).",
                          field="deadline")
    return day.date().isoformat()


def _check_pilote(store: LayerStore, pilote: str | None, rules: WriteRules) -> None:
    if pilote is None or pilote in rules.pilotes or pilote in ORGANISATIONS:
        return
    if not store.count(LAYER, where={"pilote": pilote}, at_most=1):
        raise RecordError(f"Pilote « {pilote[:60]} » inconnu : une organisation de la liste, ou un "
                          "pilote déjà présent dans l'entrepôt.", field="pilote")


def check_edit_fields(data: Mapping[str, Any]) -> None:
    """Refuse an edit naming an unknown or read-only field, or no field at all (RecordError)."""
    unknown = sorted(str(k) for k in set(data) - EDITABLE - {"comment", "csrf_token"})
    if unknown:
        raise RecordError(f"Champ inconnu ou non modifiable : « {unknown[0][:40]} ».", field=unknown[0][:40])
    if not set(data) & EDITABLE:
        raise RecordError("Aucun champ à modifier.", field="corps")


def observation_changes(store: LayerStore, current: Mapping[str, Any], data: Mapping[str, Any], *,
                        rules: WriteRules | None = None) -> dict[str, Any]:
    """Check an edit of a constat and return the store changes it makes.

    Parameters
    ----------
    store : LayerStore
        The store (territory of a move, known pilotes).
    current : mapping
        The constat as stored (``observed_at`` bounds the deadline).
    data : mapping
        Fields of :data:`EDITABLE` (``lon`` and ``lat`` together), and ``comment``
        (kept in the history, not a change).
    rules : WriteRules, optional
        Integrity bounds.

    Returns
    -------
    dict
        Field → new value (``geometry`` for a move), ready for :meth:`LayerStore.update`.

    Raises
    ------
    RecordError
        Naming the first bad field (unknown, wrong type, too long, unknown choice...).
    """
    rules = rules or WriteRules()
    check_edit_fields(data)
    integrity.check_lengths(data, rules)
    changes: dict[str, Any] = {}
    for name in _TEXTS:
        if name in data:
            changes[name] = _partners(data[name]) if name == "partenaires" else _text(data, name)
    integrity.check_lengths(changes, rules)
    for name, choices, empty in _CHOICES:
        if name in data:
            changes[name] = _choice(data, name, choices, empty=empty)
    if "deadline" in data:
        changes["deadline"] = _deadline(data["deadline"], current.get("observed_at"))
    if "pilote" in changes:
        _check_pilote(store, changes["pilote"], rules)
    if "lon" in data or "lat" in data:
        for name in ("lon", "lat"):
            value = data.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise RecordError(f"« {name} » doit être un nombre (degrés WGS84).", field=name)
        changes["geometry"] = territory_point(data, store, rules)
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise RecordError("« comment » doit être un texte.", field="comment")
    if not changes:
        raise RecordError("Aucun champ à modifier.", field="corps")
    return changes


# -- duplicates -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MergeResult:
    """What a merge did: the closed duplicate, the kept constat and what it received."""

    duplicate: str
    kept: str
    photos_added: int
    description_added: bool


def _one(store: LayerStore, uid: str) -> dict[str, Any]:
    gdf = store.read(LAYER, uids=[uid], limit=1)
    if gdf.empty:
        raise NotFoundError(f"Constat « {uid[:64]} » introuvable.")
    return dict(gdf.drop(columns="geometry").iloc[0])


def kept_of(store: LayerStore, uid: str) -> str:
    """Return the constat that ``uid`` finally stands for, following « doublon de » links.

    Raises
    ------
    NotFoundError
        When ``uid`` (or a link of the chain) is unknown.
    RecordError
        When the links loop.
    """
    seen = [uid]
    record = _one(store, uid)
    while _filled(record.get("duplicate_of")):
        nxt = str(record["duplicate_of"])
        if nxt in seen or len(seen) > _MAX_CHAIN:
            raise RecordError("Les liens « doublon de » forment une boucle.", field="de")
        seen.append(nxt)
        record = _one(store, nxt)
    return seen[-1]


def _filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""


def _photos(value: Any) -> list[str]:
    if not _filled(value):
        return []
    items = json.loads(value) if isinstance(value, str) else value
    return [str(p) for p in items] if isinstance(items, list) else []


def label(record: Mapping[str, Any]) -> str:
    """Return a constat in words: « « propreté » — 12 rue des Pyrénées » (never its uid)."""
    text = f"« {record.get('theme') or 'constat'} »"
    address = record.get("address")
    if _filled(address):
        text += f" — {address}"
    observed = record.get("observed_at")
    if _filled(observed) and not pd.isna(observed):
        text += f" du {pd.Timestamp(observed):%d/%m/%Y}"
    return text


def merge_plan(store: LayerStore, uid: str, into: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a merge of ``uid`` into ``into`` and return (duplicate, kept) records.

    ``into`` may itself be a duplicate: the merge goes to the constat it finally
    stands for.

    Raises
    ------
    RecordError
        On ``de``: not a text, the constat itself, ``uid`` already a duplicate.
    NotFoundError
        When either constat is unknown.
    """
    if not isinstance(into, str) or not into.strip():
        raise RecordError("« de » : identifiant du constat gardé attendu.", field="de")
    into = into.strip()
    if into == uid:
        raise RecordError("Un constat ne peut pas être le doublon de lui-même.", field="de")
    duplicate = _one(store, uid)
    if _filled(duplicate.get("duplicate_of")):
        other = label(_one(store, str(duplicate["duplicate_of"])))
        raise RecordError(f"Ce constat est déjà le doublon de {other}.", field="de")
    kept_uid = kept_of(store, into)
    if kept_uid == uid:
        raise RecordError("Le constat choisi est lui-même un doublon de celui-ci.", field="de")
    return {**duplicate, "uid": uid}, {**_one(store, kept_uid), "uid": kept_uid}


def merge_duplicate(store: LayerStore, duplicate: Mapping[str, Any], kept: Mapping[str, Any], *,
                    actor: str | None = None) -> MergeResult:
    """Merge the constat ``duplicate`` into ``kept`` (records of :func:`merge_plan`).

    The duplicate is closed (« clos non traité ») with ``duplicate_of`` = the kept uid;
    the kept constat receives its photos and, when different, its description; both
    histories name the other constat. One transaction.
    """
    dup_uid, kept_uid = str(duplicate["uid"]), str(kept["uid"])
    kept_photos = _photos(kept.get("photos"))
    new_photos = [p for p in _photos(duplicate.get("photos")) if p not in kept_photos]
    kept_changes: dict[str, Any] = {}
    if new_photos:
        kept_changes["photos"] = json.dumps([*kept_photos, *new_photos], ensure_ascii=False)
    text, own = duplicate.get("description"), kept.get("description")
    added = _filled(text) and str(text).strip() not in str(own or "")
    if added:
        kept_changes["description"] = f"{own}\n— doublon : {text}" if _filled(own) else str(text)
    with store.transaction():
        store.update(LAYER, dup_uid, {"status": DUPLICATE_STATUS, "duplicate_of": kept_uid},
                     actor=actor, comment=f"doublon de {label(kept)}")
        if kept_changes:
            store.update(LAYER, kept_uid, kept_changes, actor=actor,
                         comment=f"doublon fusionné : {label(duplicate)}")
        else:  # nothing to receive: the history still names the duplicate
            _note(store, kept, actor=actor, comment=f"doublon fusionné : {label(duplicate)}",
                  changes={"doublons": [None, dup_uid]})
    logger.info("observation %s merged into %s (%d photos)", dup_uid, kept_uid, len(new_photos))
    return MergeResult(dup_uid, kept_uid, len(new_photos), bool(added))


def _note(store: LayerStore, record: Mapping[str, Any], *, actor: str | None, comment: str,
          changes: Mapping[str, Any]) -> None:
    """Append a history entry that changes no field (status repeated)."""
    row = pd.DataFrame([{
        "parent_uid": str(record["uid"]), "status": record.get("status"),
        "changed_at": datetime.now().replace(microsecond=0).isoformat(), "changed_by": actor,
        "comment": comment, "changes": json.dumps(dict(changes), ensure_ascii=False),
    }])
    store.add_children(LAYER, "historique", row, actor=actor)


def status_changes(history: pd.DataFrame) -> pd.DataFrame:
    """Return the entries of a history that changed the status (and the creation).

    Entries of other changes repeat the status: they are left out, so that counts of
    transitions and delays read only the real status changes.
    """
    if history.empty:
        return history
    status = history["status"].astype("object")
    keep = status.ne(status.shift())
    return history[keep].reset_index(drop=True)


def pilote_choices(store: LayerStore, *, rules: WriteRules | None = None,
                   organisations: Iterable[str] = ()) -> list[str]:
    """Return the pilotes offered in the form.

    The organisation kinds, the accounts' organisations (``organisations``), the pilotes
    of the settings and those of the latest constats.
    """
    rules = rules or WriteRules()
    recent = store.read(LAYER, limit=_RECENT_PILOTES, order_by="-updated_at")
    stored = [str(v) for v in recent["pilote"].dropna().unique() if str(v).strip()] if len(recent) else []
    names = [*ORGANISATIONS, *organisations, *rules.pilotes, *sorted(stored)]
    return list(dict.fromkeys(n for n in names if n))


# -- the nearest address -----------------------------------------------------------------------------
#: Farthest address point proposed for a constat, in metres.
ADDRESS_RADIUS_M = 50.0


@dataclass(frozen=True)
class NearbyAddress:
    """The address point nearest to a position, and its distance in metres."""

    address: str
    distance_m: float
    street: str
    number: int | None


def _address_text(row: Mapping[str, Any]) -> str:
    number = f"{int(row['number'])}" if _filled(row.get("number")) else ""
    suffix = f" {row['suffix']}" if number and _filled(row.get("suffix")) else ""
    town = " ".join(str(row[k]) for k in ("postcode", "commune") if _filled(row.get(k)))
    text = f"{number}{suffix} {row['street']}".strip()
    return f"{text}, {town}" if town else text


def nearest_address(store: LayerStore, lon: float, lat: float, *,
                    radius_m: float = ADDRESS_RADIUS_M) -> NearbyAddress | None:
    """Return the address point of the store nearest to (``lon``, ``lat``) within ``radius_m``.

    Distances in the store CRS (Lambert-93): ``None`` when no address point lies within
    the radius (or the store has none) — never a farther one.
    """
    x, y = project(CRS84, store.crs, lon, lat)
    bbox = (x - radius_m, y - radius_m, x + radius_m, y + radius_m)
    near = store.read("adresses", bbox=bbox)
    if near.empty:
        return None
    dist = near.geometry.distance(Point(x, y))
    best = int(dist.to_numpy().argmin())
    if float(dist.iloc[best]) > radius_m:
        return None
    row = dict(near.drop(columns="geometry").iloc[best])
    number = int(row["number"]) if _filled(row.get("number")) else None
    return NearbyAddress(_address_text(row), round(float(dist.iloc[best]), 1), str(row["street"]), number)
