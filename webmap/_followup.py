"""Follow-up filters of the map API (``suivi=``), resolved from the logged-in account.

``suivi`` is a comma-separated list of:

- ``mon-organisation``: records whose author organisation is the user's;
- ``assignes``: records assigned to the user's organisation (``assigned_to``);
- ``en-retard``: records whose délai (``deadline``) has passed (before today, Paris time)
  and whose status is not a closed one (observations: not « traité » / « clos non
  traité »; actions: not « réalisée » / « abandonnée »).

They are store filters, so the map, the list, the counts and the exports agree. They are
reserved to accounts: an anonymous request gets a 403; a layer without the field a filter
needs gets a 400 naming ``suivi`` (the map only sends each filter to the layers that have
its field).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from layers.schema import ACTION_CLOSED_STATES, OPEN_STATUSES, LayerSchema
from webmap.access import fail
from webmap.users import ANONYMOUS

PARAM = "suivi"
MINE = "mon-organisation"
ASSIGNED = "assignes"
LATE = "en-retard"
FOLLOWUPS = (MINE, ASSIGNED, LATE)
#: Layers whose records can be late, and the states that close them.
CLOSED_STATES: dict[str, tuple[str, ...]] = {
    "observations": ("traité", "clos non traité"),
    "actions": ACTION_CLOSED_STATES,
}
#: The field each filter needs, in words for the error message.
_NEEDS = {MINE: ("organisation", "d'organisation auteure"), ASSIGNED: ("assigned_to", "d'attribution"),
          LATE: ("deadline", "de délai")}
_LABELS = {MINE: "mon organisation", ASSIGNED: "assignés à mon organisation", LATE: "en retard"}


def today_paris() -> date:
    """Return today's date in Paris (the store's local time)."""
    return pd.Timestamp.now(tz="Europe/Paris").date()


def _names(args: Mapping[str, str]) -> list[str]:
    names = [n.strip() for n in (args.get(PARAM) or "").split(",") if n.strip()]
    for name in names:
        if name not in FOLLOWUPS:
            fail(400, f"Filtre de suivi inconnu « {name[:40]} » ({', '.join(FOLLOWUPS)}).", PARAM)
    return names


def _restrict(where: dict[str, Any], name: str, allowed: list[Any]) -> None:
    """Keep in ``where[name]`` only the ``allowed`` values (an empty list matches nothing)."""
    if name in where:
        current = where[name]
        values = list(current) if isinstance(current, (list, tuple, set)) else [current]
        allowed = [v for v in allowed if v in values]
    where[name] = allowed


def followup_filters(
    schema: LayerSchema, args: Mapping[str, str], where: Mapping[str, Any], *,
    role: str, organisation: str | None, today: date,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the store filters ``where`` and ``before`` with the follow-up filters of ``args``.

    Raises
    ------
    ApiError
        403 for an anonymous request; 400 naming ``suivi`` for an unknown filter, an account
        without organisation, or a layer without the field a filter needs.
    """
    names = _names(args)
    out = dict(where)
    if not names:
        return out, {}
    if role == ANONYMOUS:
        fail(403, "Les filtres de suivi (mon organisation, assignés, en retard) sont réservés aux "
                  "comptes connectés.", PARAM)
    before: dict[str, Any] = {}
    fields = set(schema.field_names)
    for name in names:
        needed, words = _NEEDS[name]
        if needed not in fields or (name == LATE and schema.name not in CLOSED_STATES):
            fail(400, f"La couche « {schema.label} » n'a pas {words} : filtre « {_LABELS[name]} » "
                      "impossible.", PARAM)
        if name in (MINE, ASSIGNED):
            if not organisation:
                fail(400, "Votre compte n'est rattaché à aucune organisation : filtre "
                          f"« {_LABELS[name]} » impossible.", PARAM)
            _restrict(out, needed, [organisation])
        else:
            status = schema.status_field or "status"
            choices = schema.field(status).choices or OPEN_STATUSES
            _restrict(out, status, [c for c in choices if c not in CLOSED_STATES[schema.name]])
            before["deadline"] = today.isoformat()
    return out, before
