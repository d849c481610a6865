"""Rules of the web writes: the organisation scope and the integrity bounds, from the settings.

Every write route (constats, status changes, dumping events, fill readings, walks done,
Open311) goes through here: :func:`require_scope` answers 403 with the French reason of
:func:`layers.scope.may_change` when the logged-in technician's organisation has no
right on the record; :func:`write_rules` gives the bounds of :mod:`layers.integrity`.
The settings (``webmap/app.py`` ``DEFAULTS``): ``PILOTE_ORGANISATIONS``,
``ORGANISATION_SCOPE``, ``TERRITORY_START``, ``FUTURE_TOLERANCE_MIN``,
``TERRITORY_MARGIN_M``, ``PILOTES``, ``WRITE_SOURCES``, ``INITIAL_STATUSES``,
``MAX_TEXT_LENGTHS``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app

from layers.integrity import WriteRules
from layers.scope import Decision, ScopeRules, may_change
from webmap.access import current_role, current_user, fail
from webmap.store import get_store

logger = logging.getLogger(__name__)


def scope_rules() -> ScopeRules:
    """Return the scope rules of the app's settings."""
    cfg = current_app.config
    return ScopeRules(pilote_organisations=dict(cfg["PILOTE_ORGANISATIONS"]),
                      organisation_scope=dict(cfg["ORGANISATION_SCOPE"]))


def write_rules() -> WriteRules:
    """Return the integrity bounds of the app's settings."""
    cfg = current_app.config
    return WriteRules(territory_start=str(cfg["TERRITORY_START"]),
                      future_tolerance_min=float(cfg["FUTURE_TOLERANCE_MIN"]),
                      territory_margin_m=float(cfg["TERRITORY_MARGIN_M"]),
                      max_lengths=dict(cfg["MAX_TEXT_LENGTHS"]), sources=tuple(cfg["WRITE_SOURCES"]),
                      pilotes=tuple(cfg["PILOTES"]), initial_statuses=dict(cfg["INITIAL_STATUSES"]))


def decide(layer: str, record: Mapping[str, Any]) -> Decision:
    """Tell whether the current user may change ``record`` of ``layer``, and why."""
    user = current_user()
    return may_change(layer, record, role=current_role(), organisation=user.organisation if user else None,
                      rules=scope_rules())


def require_scope(layer: str, uid: str) -> dict[str, Any]:
    """Return record ``uid`` of ``layer`` if the current user may change it; else 403 (404 if unknown)."""
    record = {k: v for k, v in get_store().get_record(layer, uid).items() if k != "geometry"}
    user = current_user()
    decision = decide(layer, record)
    if not decision.allowed:
        logger.info("write on %s %s refused to %s: %s", layer, uid, user.login if user else None,
                    decision.reason)
        fail(403, decision.reason)
    return record
