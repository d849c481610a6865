"""What each role sees of the records: the public profile and the internal fields.

Fields are declared internal once, in :mod:`layers.schema` (``Field(internal=True)``:
logins, comments, assignment, participants, photo file names). Anonymous visitors see
the layers and fields of the **public profile** (app setting ``PUBLIC_PROFILE``)::

    PUBLIC_PROFILE = {
        "layers": ["perimetres", "observations"],            # layers open to anonymous visitors
        "fields": {"observations": ["theme", "status", ...]},  # their fields (uid always)
    }

Without ``layers``, anonymous visitors see the layers their role may see
(``LAYER_ROLES``, else every public, non-confidential layer); a layer without an entry in
``fields`` shows its non-internal fields. A confidential layer is opened only when listed
explicitly (a warning is logged at start-up). Accounts (lecteur and above) see every field
of the layers they may see, except the photos outside ``PHOTO_ROLES``.

Every serializer of the web app (map API, exports, OGC API, Open311, history) goes
through :func:`visible_frame` / :func:`visible_fields`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from flask import current_app

from layers.schema import LAYERS, ChildSchema, LayerSchema
from webmap.users import ANONYMOUS

logger = logging.getLogger(__name__)

#: Fields always shown (identity of a record, and what the map draws).
ALWAYS = frozenset({"uid", "parent_uid", "geometry"})
PHOTO_FIELD = "photos"


def check_public_profile(profile: Mapping[str, Any] | None) -> None:
    """Check the ``PUBLIC_PROFILE`` setting (French ``ValueError`` naming the bad entry).

    Logs a warning for every confidential layer it opens to anonymous visitors.
    """
    if profile is None:
        return
    if not isinstance(profile, Mapping) or set(profile) - {"layers", "fields"}:
        raise ValueError("PUBLIC_PROFILE : dictionnaire attendu avec les clés « layers » et « fields ».")
    for name in profile.get("layers") or ():
        if name not in LAYERS:
            raise ValueError(f"PUBLIC_PROFILE : couche inconnue « {name} ».")
        if LAYERS[name].confidential:
            logger.warning("public profile opens the confidential layer %r to anonymous visitors", name)
    for key, names in (profile.get("fields") or {}).items():
        schema = _schema(key)
        if schema is None:
            raise ValueError(f"PUBLIC_PROFILE : couche inconnue « {key} » dans « fields ».")
        known = {f.name for f in (schema.all_fields if isinstance(schema, LayerSchema) else schema.fields)}
        for name in names:
            if name not in known:
                raise ValueError(f"PUBLIC_PROFILE : champ inconnu « {name} » de la couche « {key} ».")


def _schema(key: str) -> LayerSchema | ChildSchema | None:
    """Return the schema of ``observations`` or of a child table ``observations.historique``."""
    layer, _, child = key.partition(".")
    if layer not in LAYERS:
        return None
    if not child:
        return LAYERS[layer]
    return next((c for c in LAYERS[layer].children if c.name == child), None)


def _profile() -> Mapping[str, Any]:
    return current_app.config.get("PUBLIC_PROFILE") or {}


def public_layers(default: Iterable[str]) -> frozenset[str]:
    """Return the layers open to anonymous visitors: the profile's ``layers``, else ``default``."""
    layers = _profile().get("layers")
    return frozenset(default if layers is None else layers)


def visible_fields(schema: LayerSchema | ChildSchema, role: str, *,
                   key: str | None = None) -> frozenset[str]:
    """Return the names of the fields of ``schema`` that ``role`` may see.

    Parameters
    ----------
    schema : LayerSchema or ChildSchema
    role : str
        ``anonyme``, ``lecteur``, ``technicien`` or ``administrateur``.
    key : str, optional
        Entry of the profile's ``fields`` (``observations.historique`` for a child table);
        the schema's name by default.
    """
    fields = schema.all_fields if isinstance(schema, LayerSchema) else schema.fields
    names = {f.name for f in fields}
    if role == ANONYMOUS:
        opened = (_profile().get("fields") or {}).get(key or schema.name)
        names = set(opened) & names if opened is not None else {f.name for f in fields if not f.internal}
    if role not in current_app.config["PHOTO_ROLES"]:
        names.discard(PHOTO_FIELD)
    return frozenset(names | (ALWAYS & {f.name for f in fields}))


def visible_frame(frame: pd.DataFrame, schema: LayerSchema | ChildSchema, role: str, *,
                  key: str | None = None) -> pd.DataFrame:
    """Return ``frame`` without the columns of fields ``role`` may not see (a new frame)."""
    hidden = _hidden(frame.columns, schema, role, key=key)
    return frame.drop(columns=hidden) if hidden else frame


def visible_record(record: Mapping[str, Any], schema: LayerSchema | ChildSchema, role: str, *,
                   key: str | None = None) -> dict[str, Any]:
    """Return ``record`` without the fields ``role`` may not see (a new dict), as :func:`visible_frame`."""
    hidden = set(_hidden(record.keys(), schema, role, key=key))
    return {k: v for k, v in record.items() if k not in hidden}


def _hidden(names: Iterable[str], schema: LayerSchema | ChildSchema, role: str, *,
            key: str | None) -> list[str]:
    """Return the declared fields among ``names`` that ``role`` may not see."""
    shown = visible_fields(schema, role, key=key)
    declared = {f.name for f in (schema.all_fields if isinstance(schema, LayerSchema) else schema.fields)}
    return [c for c in names if c in declared and c not in shown]


def check_filters(schema: LayerSchema, role: str, names: Iterable[str],
                  reserved: Iterable[str]) -> str | None:
    """Return the first query parameter filtering on a field ``role`` may not see, or None.

    A filter on a hidden field would reveal its values through the counts.
    """
    shown = visible_fields(schema, role)
    skip = set(reserved)
    declared = {f.name for f in schema.all_fields}
    return next((n for n in names if n not in skip and n in declared and n not in shown), None)
