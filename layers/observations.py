"""Creating one observation from a form, a JSON body or an Open311 request.

The service checks the input (client uid, WGS84 coordinates inside the territory,
known fields), fills the defaults, validates the record against its schema and the
integrity rules of :mod:`layers.integrity` (initial status, plausible date, bounded
texts, allowed source and pilote, existing walk) and writes it, idempotently by ``uid``.
The author organisation is set from the caller's ``organisation``, never from ``data``.
Photo files are not its business: the caller hands a
:class:`PhotoStaging` that stages them before the write and settles them after it.
Bad input raises :class:`~layers.errors.RecordError` naming the field.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import geopandas as gpd
from shapely.geometry import Point

from geo.crs import area_of_use_bounds
from layers import integrity
from layers.errors import RecordError
from layers.integrity import WriteRules
from layers.projection import CRS84, project
from layers.schema import LAYERS
from layers.store.base import LayerStore
from layers.validate import validate_record

logger = logging.getLogger(__name__)

#: Fields a client may give when creating an observation (besides ``uid``, ``lon``, ``lat``).
OBSERVATION_INPUT = frozenset({
    "theme", "description", "subtheme", "address", "status", "source", "pilote", "partenaires",
    "domanialite", "deadline", "observed_at", "walk_id", "assigned_to",
})
#: A client-chosen uid: a retried sync with the same uid adds nothing.
UID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class PhotoStaging(Protocol):
    """The photo files of one observation, staged before its write and settled after it."""

    def stage(self, uid: str) -> list[str]:
        """Stage the photos of observation ``uid``; return their final names."""
        ...

    def settle(self, store: LayerStore, uid: str, names: Sequence[str]) -> object:
        """Promote ``names`` if ``uid`` was committed with them, else discard them."""
        ...


def _client_uid(value: Any) -> str | None:
    if value is None:
        return None
    if not UID_PATTERN.match(str(value)):
        raise RecordError("Identifiant « uid » invalide (8 à 64 caractères A-Z a-z 0-9 _ -).", field="uid")
    return str(value)


def _coordinate(data: Mapping[str, Any], name: str) -> float:
    value = data.get(name)
    if value is None or value == "":
        raise RecordError(f"« {name} » obligatoire.", field=name)
    try:
        number = float(str(value).replace(",", "."))
    except ValueError:
        raise RecordError(f"« {name} » doit être un nombre (degrés WGS84).", field=name) from None
    if not math.isfinite(number):
        raise RecordError(f"« {name} » invalide.", field=name)
    return number


def territory_point(data: Mapping[str, Any], store: LayerStore, rules: WriteRules) -> Point:
    """Return the point of ``lon``/``lat`` (WGS84, inside the territory) in the store CRS."""
    lon, lat = _coordinate(data, "lon"), _coordinate(data, "lat")
    west, south, east, north = area_of_use_bounds(store.crs)
    if not (west <= lon <= east):
        raise RecordError("Longitude hors du territoire couvert.", field="lon")
    if not (south <= lat <= north):
        raise RecordError("Latitude hors du territoire couvert.", field="lat")
    integrity.check_in_territory(store, lon, lat, rules)
    x, y = project(CRS84, store.crs, lon, lat)
    return Point(x, y)


def _settle_after_error(store: LayerStore, photos: PhotoStaging, uid: str, names: list[str]) -> None:
    """After a failed write: promote the photos if the record was committed anyway, else drop them.

    When even that fails (store unreachable), the staged photos stay for the recovery
    step of the photo store.
    """
    if not names:
        return
    try:
        photos.settle(store, uid, names)
    except Exception:
        logger.exception("photos of observation %s left in the staging area for recovery", uid)


def create_observation_record(store: LayerStore, data: Mapping[str, Any], *, default_source: str,
                              photos: PhotoStaging | None = None, media: Sequence[str] | None = None,
                              actor: str | None = None, organisation: str | None = None,
                              rules: WriteRules | None = None) -> tuple[str, bool]:
    """Validate and store one observation; idempotent by the client-given ``uid``.

    Parameters
    ----------
    store : LayerStore
        Where the observation is written.
    data : mapping
        ``lon``, ``lat`` (WGS84 degrees), optional ``uid`` and fields of
        :data:`OBSERVATION_INPUT`; a ``csrf_token`` is ignored.
    default_source : str
        The ``source`` when ``data`` gives none.
    photos : PhotoStaging, optional
        The photo files, staged once the record is valid and settled after the write.
    media : sequence of str, optional
        Photo names or URLs stored before the staged photos' names.
    actor : str, optional
        Who writes (kept in the history).
    organisation : str, optional
        The author's organisation (one of :data:`layers.schema.ORGANISATIONS`), stored
        as ``organisation``.
    rules : WriteRules, optional
        Integrity bounds (defaults of :class:`~layers.integrity.WriteRules`).

    Returns
    -------
    uid : str
    created : bool
        False when a record with the client-given ``uid`` already existed.

    Raises
    ------
    RecordError
        Naming the first bad field (``uid``, ``lon``, ``lat``, ``status``, ``observed_at``,
        ``walk_id``, a too long text, an unknown field...).
    """
    rules = rules or WriteRules()
    data = {k: v for k, v in data.items() if k != "csrf_token"}
    uid = _client_uid(data.pop("uid", None) or None)
    if uid is not None and not store.read("observations", uids=[uid]).empty:
        return uid, False
    unknown = sorted(set(data) - OBSERVATION_INPUT - {"lon", "lat"})
    if unknown:
        raise RecordError(f"Champ inconnu ou non modifiable : « {unknown[0]} ».", field=unknown[0])
    integrity.check_lengths(data, rules)
    point = territory_point(data, store, rules)
    data.pop("lon")
    data.pop("lat")
    data.setdefault("observed_at", datetime.now().replace(microsecond=0).isoformat())
    if not data.get("source"):
        data["source"] = default_source
    if organisation is not None:
        data["organisation"] = organisation
    checked = validate_record({**data, "geometry": point}, LAYERS["observations"])
    integrity.check_new_observation(store, checked, rules)
    if not data.get("status"):
        data["status"] = integrity.initial_status(checked, rules)
    uid = uid if uid is not None else uuid.uuid4().hex
    names = photos.stage(uid) if photos is not None else []
    try:
        # validated once: the checked record, with the fields set since checked again alone
        later = {"status": data["status"], "uid": uid}
        if names or media:
            later["photos"] = json.dumps([*(media or []), *names])
        record = {**checked, **validate_record(later, LAYERS["observations"], partial=True)}
        geometry = record.pop("geometry")
        gdf = gpd.GeoDataFrame([record], geometry=[geometry], crs=store.crs)
        result = store.write("observations", gdf, actor=actor, validated=True)
    except BaseException:
        if photos is not None:
            _settle_after_error(store, photos, uid, names)
        raise
    if names and photos is not None:
        # promoted only when this request's photos are those of the stored record: a
        # concurrent retry with the same uid that won the race keeps its own photos
        photos.settle(store, uid, names)
    if result.inserted:
        return result.inserted[0], True
    return result.existing[0], False
