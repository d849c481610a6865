"""Who may read the confidential sections of a report: the roles of each confidential layer.

The notice standing for a withheld section and the mark of a kept one name these roles
(:func:`geo.stats.report.for_reader`). In a request they follow the app's ``LAYER_ROLES``
(:func:`webmap.access.layer_roles`); outside one (command line, job worker) the defaults of
:mod:`webmap.access` apply, unless the job recorded the roles when it was asked for.
"""

from __future__ import annotations

import logging

from flask import has_app_context

from layers.schema import LAYERS
from webmap.access import CONFIDENTIAL_ROLES, layer_roles
from webmap.users import ANONYMOUS

logger = logging.getLogger(__name__)

__all__ = ["restricted_readers"]


def restricted_readers() -> dict[str, list[str]]:
    """Return confidential layer → roles that may see it (JSON-ready, for a job's parameters)."""
    out: dict[str, list[str]] = {}
    for name, schema in LAYERS.items():
        if not schema.confidential:
            continue
        roles = layer_roles(name) if has_app_context() else CONFIDENTIAL_ROLES
        out[name] = [str(r) for r in roles if r != ANONYMOUS]
    return out
